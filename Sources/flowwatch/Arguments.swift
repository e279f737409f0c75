import ArgumentParser
import FlowwatchDatapath

extension AttachMode: ExpressibleByArgument {}

/// A length of time written like `10s`, `500ms`, `2m` or `1h`.
struct TimeSpan: ExpressibleByArgument, Sendable {
    var nanoseconds: UInt64

    init(seconds: UInt64) { nanoseconds = seconds * 1_000_000_000 }

    init?(argument: String) {
        let units: [(String, UInt64)] = [("ms", 1_000_000), ("us", 1_000), ("ns", 1), ("s", 1_000_000_000),
                                         ("m", 60_000_000_000), ("h", 3_600_000_000_000)]
        for (suffix, scale) in units where argument.hasSuffix(suffix) {
            guard let value = Double(argument.dropLast(suffix.count)), value >= 0 else { return nil }
            nanoseconds = UInt64(value * Double(scale))
            return
        }
        return nil
    }

    var defaultValueDescription: String {
        nanoseconds % 1_000_000_000 == 0 ? "\(nanoseconds / 1_000_000_000)s" : "\(nanoseconds)ns"
    }

    static var defaultCompletionKind: CompletionKind { .default }
}
