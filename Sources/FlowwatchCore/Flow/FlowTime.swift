/// A wall-clock instant as protobuf's `Timestamp` holds it: whole seconds since the Unix epoch
/// (UTC) and the nanoseconds within that second.
///
/// Datapath events carry CLOCK_BOOTTIME nanoseconds; the builder adds the boot-to-wall offset
/// once, so every output formats the same instant without Foundation on the hot path.
public struct FlowTime: Sendable, Hashable, Comparable {
    public var seconds: Int64
    /// 0..<1_000_000_000.
    public var nanos: Int32

    public init(seconds: Int64, nanos: Int32) {
        self.seconds = seconds
        self.nanos = nanos
    }

    /// Splits nanoseconds since the epoch; times before 1970 keep `nanos` non-negative, as
    /// protobuf requires.
    public init(unixNanoseconds: Int64) {
        let (q, r) = unixNanoseconds.quotientAndRemainder(dividingBy: 1_000_000_000)
        if r < 0 {
            self.init(seconds: q - 1, nanos: Int32(r + 1_000_000_000))
        } else {
            self.init(seconds: q, nanos: Int32(r))
        }
    }

    /// A kernel CLOCK_BOOTTIME timestamp moved to wall-clock time by `offset` (wall minus boot,
    /// in nanoseconds). Wraps instead of trapping on absurd input: the timestamp comes from the
    /// recorded or live sample.
    public init(bootNanoseconds: UInt64, offset: Int64) {
        self.init(unixNanoseconds: Int64(truncatingIfNeeded: bootNanoseconds) &+ offset)
    }

    /// What protobuf's `Timestamp.IsValid` accepts: years 0001 to 9999 and nanos in range.
    /// Hubble prints `N/A` for anything else.
    public var isValid: Bool {
        seconds >= -62_135_596_800 && seconds <= 253_402_300_799 && nanos >= 0 && nanos < 1_000_000_000
    }

    public static func < (a: FlowTime, b: FlowTime) -> Bool {
        (a.seconds, a.nanos) < (b.seconds, b.nanos)
    }
}

/// The UTC calendar fields of a `FlowTime`, computed without Foundation (Howard Hinnant's
/// `civil_from_days`), for the hand-written time formats.
struct CivilTime {
    var year: Int64
    var month: Int      // 1...12
    var day: Int        // 1...31
    var hour: Int
    var minute: Int
    var second: Int
    /// 0 = Sunday.
    var weekday: Int

    init(_ time: FlowTime) {
        var days = time.seconds / 86_400
        var secondOfDay = time.seconds % 86_400
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        hour = Int(secondOfDay / 3600)
        minute = Int(secondOfDay % 3600 / 60)
        second = Int(secondOfDay % 60)
        // 1970-01-01 was a Thursday.
        weekday = Int(((days % 7) + 11) % 7)
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        day = Int(dayOfYear - (153 * mp + 2) / 5 + 1)
        month = Int(mp < 10 ? mp + 3 : mp - 9)
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    }
}
