import Testing
@testable import FlowwatchCore

/// `--time-format` layouts and protojson timestamps, formatted by hand in UTC.
@Suite struct HubbleTimeFormatTests {
    static let nanos = FlowTime(seconds: 1_795_253_313, nanos: 123_456_789)
    static let wholeSecond = FlowTime(seconds: 1_795_253_313, nanos: 0)
    static let millis = FlowTime(seconds: 1_795_253_313, nanos: 120_000_000)

    func text(_ time: FlowTime, _ format: HubbleTimeFormat) -> String {
        var out: [UInt8] = []
        out.appendHubbleTime(time, format)
        return String(decoding: out, as: UTF8.self)
    }

    @Test(arguments: [
        (HubbleTimeFormat.stampMilli, "Nov 21 09:28:33.123", "Nov 21 09:28:33.000", "Nov 21 09:28:33.120"),
        (.stampMicro, "Nov 21 09:28:33.123456", "Nov 21 09:28:33.000000", "Nov 21 09:28:33.120000"),
        (.stampNano, "Nov 21 09:28:33.123456789", "Nov 21 09:28:33.000000000", "Nov 21 09:28:33.120000000"),
        (.rfc3339, "2026-11-21T09:28:33Z", "2026-11-21T09:28:33Z", "2026-11-21T09:28:33Z"),
        (.rfc3339Milli, "2026-11-21T09:28:33.123Z", "2026-11-21T09:28:33Z", "2026-11-21T09:28:33.12Z"),
        (.rfc3339Micro, "2026-11-21T09:28:33.123456Z", "2026-11-21T09:28:33Z", "2026-11-21T09:28:33.12Z"),
        (.rfc3339Nano, "2026-11-21T09:28:33.123456789Z", "2026-11-21T09:28:33Z", "2026-11-21T09:28:33.12Z"),
        (.rfc1123Z, "Sat, 21 Nov 2026 09:28:33 +0000", "Sat, 21 Nov 2026 09:28:33 +0000", "Sat, 21 Nov 2026 09:28:33 +0000"),
        (.yearMonthDay, "2026-11-21", "2026-11-21", "2026-11-21"),
        (.yearMonthDayHour, "2026-11-21T09Z", "2026-11-21T09Z", "2026-11-21T09Z"),
        (.yearMonthDayHourMinute, "2026-11-21T09:28Z", "2026-11-21T09:28Z", "2026-11-21T09:28Z"),
    ])
    func layouts(_ format: HubbleTimeFormat, _ withNanos: String, _ whole: String, _ trailingZeros: String) {
        #expect(text(Self.nanos, format) == withNanos)
        #expect(text(Self.wholeSecond, format) == whole)
        #expect(text(Self.millis, format) == trailingZeros)
    }

    /// Hubble's `Test_fmtTimestamp` cases, and calendar corners.
    @Test func dates() {
        #expect(text(FlowTime(seconds: 0, nanos: 0), .stampMilli) == "Jan  1 00:00:00.000")
        #expect(text(FlowTime(seconds: 1_530_984_600, nanos: 123_000_000), .stampMilli) == "Jul  7 17:30:00.123")
        #expect(text(FlowTime(seconds: -1, nanos: -1), .stampMilli) == "N/A")
        #expect(text(FlowTime(seconds: 951_868_799, nanos: 0), .rfc1123Z) == "Tue, 29 Feb 2000 23:59:59 +0000")
        #expect(text(FlowTime(seconds: -1, nanos: 0), .rfc3339) == "1969-12-31T23:59:59Z")
        #expect(text(FlowTime(seconds: 253_402_300_799, nanos: 999_999_999), .rfc3339Nano) == "9999-12-31T23:59:59.999999999Z")
        #expect(text(FlowTime(seconds: -62_135_596_800, nanos: 0), .rfc1123Z) == "Mon, 01 Jan 0001 00:00:00 +0000")
    }

    @Test(arguments: [(Int32(0), "2026-11-21T09:28:33Z"), (567_800_000, "2026-11-21T09:28:33.567800Z"),
                      (120_000_000, "2026-11-21T09:28:33.120Z"), (1, "2026-11-21T09:28:33.000000001Z"),
                      (5_000, "2026-11-21T09:28:33.000005Z")])
    func protoTimestamps(_ nanos: Int32, _ expected: String) {
        var out: [UInt8] = []
        out.appendProtoTimestamp(FlowTime(seconds: 1_795_253_313, nanos: nanos))
        #expect(String(decoding: out, as: UTF8.self) == expected)
    }

    @Test func namesIgnoreCase() {
        #expect(HubbleTimeFormat(name: "rfc3339milli") == .rfc3339Milli)
        #expect(HubbleTimeFormat(name: "StampMilli") == .stampMilli)
        #expect(HubbleTimeFormat(name: "Kitchen") == nil)
        for format in HubbleTimeFormat.allCases {
            #expect(HubbleTimeFormat(name: format.rawValue.uppercased()) == format)
        }
    }

    @Test func optionsApplyToEveryTextOutput() {
        let options = HubbleOptions(timeFormat: .rfc3339Nano)
        #expect(hubbleText([.lost(HubbleSamples.lost)], .compact, options).hasPrefix("1970-01-01T00:20:34.5678Z EVENTS LOST"))
        #expect(hubbleText([.lost(HubbleSamples.lost)], .dict, options).hasPrefix("  TIMESTAMP: 1970-01-01T00:20:34.5678Z\n"))
        #expect(hubbleText([.lost(HubbleSamples.lost)], .table, options).contains("\n1970-01-01T00:20:34.5678Z   HUBBLE"))
        // JSON always uses protojson's form.
        #expect(hubbleText([.lost(HubbleSamples.lost)], .json, options).hasSuffix(#""time":"1970-01-01T00:20:34.567800Z"}"# + "\n"))
    }
}
