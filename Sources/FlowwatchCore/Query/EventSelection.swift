/// Which events a query returns: Hubble's selectors (`--last N`, `--first N`, `--all`,
/// `--since`, `--until`, `--follow`), checked and combined the way `hubble observe` and the
/// Observer server combine them.
///
/// | flags                      | start                                   | end                     |
/// |----------------------------|-----------------------------------------|-------------------------|
/// | `--last N`                 | N matching events back from the newest  | caught up               |
/// | `--first N`                | the oldest event                        | after N matching events |
/// | `--all`                    | the oldest event                        | caught up               |
/// | `--since T`                | the first event at or after T           | caught up               |
/// | `--last N --since T`       | N back, but not before T                | caught up               |
/// | `--first N --since T`      | the first event at or after T           | after N matching events |
/// | `--until T`                | as above                                | the first event after T |
/// | `--follow`                 | the newest (or as above with `--last`)  | never: waits for more   |
///
/// `--until` is ignored with `--follow`, as the Hubble CLI ignores it. Events outside
/// [since, until] are skipped whatever the start. Times are wall-clock nanoseconds since the
/// Unix epoch, compared with the event's kernel timestamp moved to wall-clock time.
public struct EventSelection: Sendable, Hashable {
    public enum Number: Sendable, Hashable {
        /// Every event in range (`--all`, or `--since`/`--until` without a count).
        case all
        /// The newest N matching events (`--last N`; Hubble's `number` without `first`).
        case last(UInt64)
        /// The oldest N matching events (`--first N`; Hubble's `number` with `first`).
        case first(UInt64)
    }

    public var number: Number
    /// Wall-clock nanoseconds: events before are skipped.
    public var since: Int64?
    /// Wall-clock nanoseconds: events after end the query (or are skipped when following).
    public var until: Int64?
    /// Keep waiting for new events once caught up.
    public var follow: Bool

    /// Hubble's `FlowPrintCount`: what `hubble observe` shows with no selector at all.
    public static let defaultLast: UInt64 = 20

    public init(number: Number, since: Int64? = nil, until: Int64? = nil, follow: Bool = false) {
        self.number = number
        self.since = since
        self.until = follow ? nil : until
        self.follow = follow
    }

    /// The CLI's flags, refused and defaulted as `hubble observe` does (`getFlowsRequest`).
    /// `defaultLast` applies when nothing at all is selected and not following: 20 for a live
    /// ring, nil (everything) for a recording, as Hubble reads `--input-file` whole.
    public init(last: UInt64?, first: UInt64?, all: Bool, since: Int64?, until: Int64?, follow: Bool,
                defaultLast: UInt64? = EventSelection.defaultLast) throws(SelectionError) {
        let first = first.flatMap { $0 > 0 ? $0 : nil }
        let last = last.flatMap { $0 > 0 ? $0 : nil }
        if first != nil && last != nil { throw SelectionError("cannot set both --first and --last") }
        if first != nil && all { throw SelectionError("cannot set both --first and --all") }
        if first != nil && follow { throw SelectionError("cannot set both --first and --follow") }
        if last != nil && all { throw SelectionError("cannot set both --last and --all") }
        if let since, let until, !follow, until < since {
            throw SelectionError("--until is before --since: nothing can match")
        }
        let number: Number
        if let first {
            number = .first(first)
        } else if let last {
            number = .last(last)
        } else if !all && since == nil && until == nil && !follow, let defaultLast {
            number = .last(defaultLast)
        } else {
            number = .all
        }
        self.init(number: number, since: since, until: until, follow: follow)
    }

    /// A `GetFlowsRequest`'s fields (number 0 = no count), with the server's checks.
    public init(requestNumber: UInt64, first: Bool, follow: Bool, since: Int64?, until: Int64?) throws(SelectionError) {
        if first && follow { throw SelectionError("first cannot be combined with follow") }
        if let since, let until, !follow, until < since {
            throw SelectionError("until (\(until)) is before since (\(since))")
        }
        let number: Number = requestNumber == 0 ? .all : first ? .first(requestNumber) : .last(requestNumber)
        self.init(number: number, since: since, until: until, follow: follow)
    }

    /// Whether an event at wall-clock `time` lies before the range.
    @inline(__always) func isBeforeRange(_ time: Int64) -> Bool {
        if let since { time < since } else { false }
    }

    /// Whether an event at wall-clock `time` lies after the range.
    @inline(__always) func isAfterRange(_ time: Int64) -> Bool {
        if let until { time > until } else { false }
    }
}

/// A selector combination that Hubble refuses, or a time it cannot read.
public struct SelectionError: Error, Sendable, Hashable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

// MARK: - Times

/// Reads `--since` and `--until` values as `hubble observe` does (`hubble/pkg/time`): a
/// duration back from now (`30s`, `5m`, `1h30m`, `1.5h`; Go's units ns, us, µs, ms, s, m, h),
/// or an absolute time: RFC 3339 with or without fraction (`2026-11-21T10:04:05.123Z`,
/// `…+01:00`), `2026-11-21T10:04Z07:00`, `2026-11-21T10Z07:00`, `2026-11-21`, and the
/// default output's own `Nov 21 10:04:05.123` (read as UTC in the current year, as flowwatch
/// prints it), so a time copied from a flow line can be pasted back.
public enum SelectionTime {
    /// Wall-clock nanoseconds since the Unix epoch; `now` is the same, for relative values.
    public static func parse(_ text: String, now: Int64) throws(SelectionError) -> Int64 {
        let trimmed = text.trimmingSpaces
        if let span = parseDuration(trimmed) { return now - span }
        var iso = TimeScanner(Array(trimmed.utf8))
        if let value = iso.rfc3339() { return value }
        var stamp = TimeScanner(Array(trimmed.utf8))
        if let value = stamp.stamp(now: now) { return value }
        throw SelectionError("'\(text)' is not a time: use a duration back from now (30s, 5m, 1h30m) or a time such as 2026-11-21T10:04:05Z, 2026-11-21 or 'Nov 21 10:04:05.000'")
    }

    /// A Go duration in nanoseconds, nil if `text` is not one.
    public static func parseDuration(_ text: String) -> Int64? {
        let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9),
                                         ("m", 60e9), ("h", 3600e9)]
        var rest = Substring(text)
        guard !rest.isEmpty else { return nil }
        var total = 0.0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            // Longest unit first: "ms" before "m", "ns"/"us" before "s".
            guard let (unit, scale) = units.filter({ rest.hasPrefix($0.0) }).max(by: { $0.0.count < $1.0.count })
            else { return nil }
            rest = rest.dropFirst(unit.count)
            total += value * scale
        }
        guard total < 9.2e18 else { return nil }
        return Int64(total)
    }
}

private extension String {
    var trimmingSpaces: String {
        String(self.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}

/// A hand-written reader for the few time layouts accepted above (no Foundation, no locale).
private struct TimeScanner {
    let bytes: [UInt8]
    var i = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { i == bytes.count }

    mutating func eat(_ c: Character) -> Bool {
        guard i < bytes.count, bytes[i] == c.asciiValue! else { return false }
        i += 1
        return true
    }

    mutating func digits(_ n: Int) -> Int? {
        guard i + n <= bytes.count else { return nil }
        var v = 0
        for k in 0..<n {
            let b = bytes[i + k]
            guard b >= 48, b <= 57 else { return nil }
            v = v * 10 + Int(b - 48)
        }
        i += n
        return v
    }

    /// `.123456789`: nanoseconds, 0 when absent.
    mutating func fraction() -> Int64? {
        guard eat(".") else { return 0 }
        var nanos: Int64 = 0
        var scale: Int64 = 100_000_000
        var count = 0
        while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 {
            nanos += Int64(bytes[i] - 48) * scale
            scale /= 10
            i += 1
            count += 1
        }
        return count > 0 && count <= 9 ? nanos : nil
    }

    /// `Z`, `±hh:mm` or (lenient) nothing, meaning UTC: seconds east of UTC.
    mutating func zone() -> Int64? {
        if atEnd || eat("Z") || eat("z") { return 0 }
        let sign: Int64
        if eat("+") { sign = 1 } else if eat("-") { sign = -1 } else { return nil }
        guard let h = digits(2), eat(":") || true, let m = digits(2) else { return nil }
        return sign * Int64(h * 3600 + m * 60)
    }

    /// RFC 3339 and Hubble's shorter `YearMonthDay…` layouts.
    mutating func rfc3339() -> Int64? {
        guard let year = digits(4), eat("-"), let month = digits(2), eat("-"), let day = digits(2),
              (1...12).contains(month), (1...31).contains(day) else { return nil }
        var hour = 0, minute = 0, second = 0
        var nanos: Int64 = 0
        if eat("T") || eat("t") || eat(" ") {
            guard let h = digits(2), h < 24 else { return nil }
            hour = h
            if eat(":") {
                guard let m = digits(2), m < 60 else { return nil }
                minute = m
                if eat(":") {
                    guard let s = digits(2), s < 61, let f = fraction() else { return nil }
                    second = s
                    nanos = f
                }
            }
        }
        guard let offset = zone(), atEnd else { return nil }
        let seconds = daysFromCivil(year, month, day) * 86_400 + Int64(hour * 3600 + minute * 60 + second) - offset
        return seconds * 1_000_000_000 + nanos
    }

    /// `Nov 21 10:04:05.123` (Go's Stamp layouts), UTC, in the year of `now`.
    mutating func stamp(now: Int64) -> Int64? {
        let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        guard i + 3 <= bytes.count,
              let month = months.firstIndex(of: String(decoding: bytes[i..<i + 3], as: UTF8.self).lowercased())
        else { return nil }
        i += 3
        guard eat(" ") else { return nil }
        _ = eat(" ")
        let day: Int
        if let d = digits(2) { day = d } else if let d = digits(1) { day = d } else { return nil }
        guard eat(" "), let h = digits(2), eat(":"), let m = digits(2), eat(":"), let s = digits(2),
              let nanos = fraction(), atEnd, (1...31).contains(day), h < 24, m < 60, s < 61 else { return nil }
        let year = civilYear(ofUnixSeconds: now / 1_000_000_000)
        let seconds = daysFromCivil(year, month + 1, day) * 86_400 + Int64(h * 3600 + m * 60 + s)
        return seconds * 1_000_000_000 + nanos
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
private func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int64 {
    let y = Int64(month <= 2 ? year - 1 : year)
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let m = Int64(month)
    let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + Int64(day) - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146_097 + doe - 719_468
}

private func civilYear(ofUnixSeconds seconds: Int64) -> Int {
    Int(CivilTime(FlowTime(seconds: seconds, nanos: 0)).year)
}
