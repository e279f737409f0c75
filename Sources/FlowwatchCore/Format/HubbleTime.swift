/// The `--time-format` layouts of `hubble observe` (`hubble/pkg/time: FormatNameToLayout`).
///
/// Times are always printed in UTC, as Hubble prints them (its timestamps convert to UTC
/// times), so output does not depend on the machine's time zone. The formatting is done by hand
/// from the seconds and nanoseconds: no `DateFormatter` per event. Fractions are truncated, not
/// rounded, as Go's `time.Format` does; the RFC 3339 Milli/Micro/Nano layouts drop trailing
/// zeros (Go's `.999`), the Stamp layouts keep them (`.000`). `StampMicro` and `StampNano` are
/// flowwatch additions (Go layouts that Hubble does not offer).
public enum HubbleTimeFormat: String, Sendable, Hashable, CaseIterable {
    /// `Jan _2 15:04:05.000`, the default.
    case stampMilli = "StampMilli"
    /// `Jan _2 15:04:05.000000`.
    case stampMicro = "StampMicro"
    /// `Jan _2 15:04:05.000000000`.
    case stampNano = "StampNano"
    /// `2006-01-02T15:04:05Z07:00`.
    case rfc3339 = "RFC3339"
    /// `2006-01-02T15:04:05.999Z07:00`.
    case rfc3339Milli = "RFC3339Milli"
    /// `2006-01-02T15:04:05.999999Z07:00`.
    case rfc3339Micro = "RFC3339Micro"
    /// `2006-01-02T15:04:05.999999999Z07:00`.
    case rfc3339Nano = "RFC3339Nano"
    /// `Mon, 02 Jan 2006 15:04:05 -0700`.
    case rfc1123Z = "RFC1123Z"
    /// `2006-01-02`.
    case yearMonthDay = "YearMonthDay"
    /// `2006-01-02T15Z07:00`.
    case yearMonthDayHour = "YearMonthDayHour"
    /// `2006-01-02T15:04Z07:00`.
    case yearMonthDayHourMinute = "YearMonthDayHourMinute"

    /// A layout by name, ignoring case as Hubble does; nil for names it does not know (Hubble
    /// silently falls back to StampMilli; a CLI should rather say so).
    public init?(name: String) {
        let lower = name.lowercased()
        guard let format = Self.allCases.first(where: { $0.rawValue.lowercased() == lower }) else { return nil }
        self = format
    }
}

extension ByteSink {
    /// A Hubble text timestamp, `N/A` for a time protobuf would reject (as Hubble's
    /// `fmtTimestamp`).
    mutating func appendHubbleTime(_ time: FlowTime, _ format: HubbleTimeFormat) {
        guard time.isValid else {
            appendASCII("N/A")
            return
        }
        appendHubbleSeconds(time, format)
        appendHubbleFraction(time, format)
    }

    /// The same, with what changes once a second kept in `seconds` from one call to the next.
    mutating func appendHubbleTime(_ time: FlowTime, _ format: HubbleTimeFormat, _ seconds: inout SecondsText) {
        guard time.isValid else {
            appendASCII("N/A")
            return
        }
        seconds.append(time, layout: format.layoutKey, to: &self) { $0.appendHubbleSeconds(time, format) }
        appendHubbleFraction(time, format)
    }

    /// A valid time's text up to the fraction of a second.
    private mutating func appendHubbleSeconds(_ time: FlowTime, _ format: HubbleTimeFormat) {
        let c = CivilTime(time)
        switch format {
        case .stampMilli, .stampMicro, .stampNano:
            appendASCII(monthNames[c.month - 1])
            append(UInt8(ascii: " "))
            if c.day < 10 { append(UInt8(ascii: " ")) }
            appendDecimal(c.day)
            append(UInt8(ascii: " "))
            appendClock(c)
        case .rfc3339, .rfc3339Milli, .rfc3339Micro, .rfc3339Nano:
            appendDate(c)
            append(UInt8(ascii: "T"))
            appendClock(c)
        case .rfc1123Z:
            appendASCII(weekdayNames[c.weekday])
            appendASCII(", ")
            appendDecimal(c.day, width: 2)
            append(UInt8(ascii: " "))
            appendASCII(monthNames[c.month - 1])
            append(UInt8(ascii: " "))
            appendDecimal(c.year, width: 4)
            append(UInt8(ascii: " "))
            appendClock(c)
            appendASCII(" +0000")
        case .yearMonthDay:
            appendDate(c)
        case .yearMonthDayHour:
            appendDate(c)
            append(UInt8(ascii: "T"))
            appendDecimal(c.hour, width: 2)
            append(UInt8(ascii: "Z"))
        case .yearMonthDayHourMinute:
            appendDate(c)
            append(UInt8(ascii: "T"))
            appendDecimal(c.hour, width: 2)
            append(UInt8(ascii: ":"))
            appendDecimal(c.minute, width: 2)
            append(UInt8(ascii: "Z"))
        }
    }

    /// The rest of a valid time's text: the fraction of a second and the zone, where the layout
    /// has them.
    private mutating func appendHubbleFraction(_ time: FlowTime, _ format: HubbleTimeFormat) {
        switch format {
        case .stampMilli: appendFraction(time.nanos, digits: 3, trimZeros: false)
        case .stampMicro: appendFraction(time.nanos, digits: 6, trimZeros: false)
        case .stampNano: appendFraction(time.nanos, digits: 9, trimZeros: false)
        case .rfc3339: append(UInt8(ascii: "Z"))
        case .rfc3339Milli:
            appendFraction(time.nanos, digits: 3, trimZeros: true)
            append(UInt8(ascii: "Z"))
        case .rfc3339Micro:
            appendFraction(time.nanos, digits: 6, trimZeros: true)
            append(UInt8(ascii: "Z"))
        case .rfc3339Nano:
            appendFraction(time.nanos, digits: 9, trimZeros: true)
            append(UInt8(ascii: "Z"))
        case .rfc1123Z, .yearMonthDay, .yearMonthDayHour, .yearMonthDayHourMinute:
            break
        }
    }

    /// protojson's `Timestamp`: RFC 3339 in UTC with 0, 3, 6 or 9 fraction digits, whichever
    /// is the shortest that is exact.
    mutating func appendProtoTimestamp(_ time: FlowTime) {
        appendProtoSeconds(time)
        appendProtoFraction(time)
    }

    /// A protojson timestamp's date and time of day, `2006-01-02T15:04:05`.
    mutating func appendProtoSeconds(_ time: FlowTime) {
        let c = CivilTime(time)
        appendDate(c)
        append(UInt8(ascii: "T"))
        appendClock(c)
    }

    /// A protojson timestamp's fraction of a second and zone, `.123Z`.
    mutating func appendProtoFraction(_ time: FlowTime) {
        let nanos = time.nanos
        if nanos != 0 {
            let digits = nanos % 1_000_000 == 0 ? 3 : nanos % 1000 == 0 ? 6 : 9
            appendFraction(nanos, digits: digits, trimZeros: false)
        }
        append(UInt8(ascii: "Z"))
    }

    /// `2006-01-02`.
    private mutating func appendDate(_ c: CivilTime) {
        appendDecimal(c.year, width: 4)
        append(UInt8(ascii: "-"))
        appendDecimal(c.month, width: 2)
        append(UInt8(ascii: "-"))
        appendDecimal(c.day, width: 2)
    }

    /// `15:04:05`.
    private mutating func appendClock(_ c: CivilTime) {
        appendDecimal(c.hour, width: 2)
        append(UInt8(ascii: ":"))
        appendDecimal(c.minute, width: 2)
        append(UInt8(ascii: ":"))
        appendDecimal(c.second, width: 2)
    }

    /// `.` and the first `digits` (3, 6 or 9) digits of the nanoseconds; with `trimZeros`,
    /// trailing zeros go, and the dot too when nothing is left.
    private mutating func appendFraction(_ nanos: Int32, digits: Int, trimZeros: Bool) {
        var value = Int(nanos)
        switch digits {  // constant divisors, which compile to multiplications
        case 3: value /= 1_000_000
        case 6: value /= 1_000
        default: break
        }
        var width = digits
        if trimZeros {
            while width > 0 && value % 10 == 0 {
                value /= 10
                width -= 1
            }
            if width == 0 { return }
        }
        append(UInt8(ascii: "."))
        appendDecimal(value, width: width)
    }
}

private let monthNames: [StaticString] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
private let weekdayNames: [StaticString] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]

extension HubbleTimeFormat {
    /// Tells layouts apart in a `SecondsText`; protojson's layout is 0. A switch: finding the
    /// case in `allCases` built that array for every line.
    fileprivate var layoutKey: Int {
        switch self {
        case .stampMilli: 1
        case .stampMicro: 2
        case .stampNano: 3
        case .rfc3339: 4
        case .rfc3339Milli: 5
        case .rfc3339Micro: 6
        case .rfc3339Nano: 7
        case .rfc1123Z: 8
        case .yearMonthDay: 9
        case .yearMonthDayHour: 10
        case .yearMonthDayHourMinute: 11
        }
    }
}

/// What a timestamp's text holds up to the fraction of a second, made once a second and kept:
/// events come many to a second, and a JSON line has two timestamps.
struct SecondsText {
    private var seconds = Int64.min
    private var layout = -1
    private var count = 0
    /// Room for the longest: protojson's date and time of day for any Int64 second (a twelve-digit
    /// year and its sign, 28 bytes), or `Mon, 02 Jan 2006 15:04:05 +0000` (31).
    private var text: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    /// Appends the text `make` writes for `time` in `layout` (a key naming the layout), made
    /// again only when the second or the layout changed.
    mutating func append<B: ByteSink>(_ time: FlowTime, layout: Int, to b: inout B, _ make: (inout ByteCursor) -> Void) {
        if time.seconds != seconds || layout != self.layout {
            seconds = time.seconds
            self.layout = layout
            count = withUnsafeMutableBytes(of: &text) { raw in
                let room = raw.bindMemory(to: UInt8.self)
                var cursor = ByteCursor(room)
                make(&cursor)
                return cursor.written(in: room)
            }
        }
        withUnsafeBytes(of: &text) { b.append(contentsOf: UnsafeBufferPointer(rebasing: $0.bindMemory(to: UInt8.self)[..<count])) }
    }
}
