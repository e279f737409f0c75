import ArgumentParser
import FlowwatchCore
import FlowwatchDatapath

extension AttachMode: ExpressibleByArgument {}

/// A length of time written like `10s`, `500ms`, `2m`, `1h` or `1h30m` (Go's durations, as
/// `--since` reads them).
struct TimeSpan: ExpressibleByArgument, Sendable {
    var nanoseconds: UInt64

    init(seconds: UInt64) { nanoseconds = seconds * 1_000_000_000 }

    init?(argument: String) {
        guard let ns = SelectionTime.parseDuration(argument) else { return nil }
        nanoseconds = UInt64(ns)
    }

    var defaultValueDescription: String {
        nanoseconds % 1_000_000_000 == 0 ? "\(nanoseconds / 1_000_000_000)s" : "\(nanoseconds)ns"
    }

    static var defaultCompletionKind: CompletionKind { .default }
}
