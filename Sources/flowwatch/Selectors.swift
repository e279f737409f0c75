import ArgumentParser
import FlowwatchCore

/// Hubble's selectors: which of the matching events are shown.
struct SelectorOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The last N matching events (live: of the flow ring; default 20 when not following).", valueName: "N"))
    var last: UInt64?

    @Option(help: ArgumentHelp("The first N matching events.", valueName: "N"))
    var first: UInt64?

    @Flag(help: "Every matching event.")
    var all = false

    @Option(help: ArgumentHelp("Events from this time on: a duration back from now (30s, 5m, 1h30m) or a time (2026-11-21T10:04:05Z, 2026-11-21, 'Nov 21 10:04:05.000', UTC).", valueName: "time"))
    var since: String?

    @Option(help: ArgumentHelp("Events up to this time (same forms as --since; ignored with --follow).", valueName: "time"))
    var until: String?

    static let valueOptions = ["--last", "--first", "--since", "--until"]

    /// The selection; `defaultLast` is what no selector at all means (20 on a live ring, nil =
    /// everything on a recording).
    func selection(follow: Bool, defaultLast: UInt64?) throws -> EventSelection {
        let now = Int64(KernelClock.boottimeNow()) + KernelClock.wallClockOffset()
        do {
            let since = try since.map { t throws(SelectionError) in try SelectionTime.parse(t, now: now) }
            let until = try until.map { t throws(SelectionError) in try SelectionTime.parse(t, now: now) }
            return try EventSelection(last: last, first: first, all: all, since: since, until: until, follow: follow,
                                      defaultLast: defaultLast)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    /// Whether any selector was given.
    var isSet: Bool { last != nil || first != nil || all || since != nil || until != nil }
}

/// The flow ring of a live observer.
struct RingOptions: ParsableArguments {
    @Option(name: .customLong("ring-capacity"),
            help: ArgumentHelp("Events the flow ring keeps (2^n - 1, up to \(EventRing.maximumCapacity); default \(RingOptions.observerCapacity) for an observer printing here, \(EventRing.defaultCapacity) as Hubble's for serve); a reader that falls further behind is told how many it lost.", valueName: "N"))
    var ringCapacity: Int?

    static let valueOptions = ["--ring-capacity"]

    /// An observer's ring is the printer's handoff: 65,535 entries (16 MiB at the default
    /// capture length) carry the printer over being descheduled for 65 ms at 1M events/s, where
    /// Hubble's 4095 lost events to a terminal that was merely late.
    static let observerCapacity = 65_535

    func validate() throws {
        guard let ringCapacity else { return }
        do {
            try EventRing.validate(capacity: ringCapacity)
        } catch {
            throw ValidationError("--ring-capacity: \(error)")
        }
    }

    /// The ring, `defaultCapacity` entries unless `--ring-capacity` says otherwise.
    func makeRing(captureLength: UInt32, defaultCapacity: Int) throws -> EventRing {
        do {
            return try EventRing(capacity: ringCapacity ?? defaultCapacity,
                                 slotBytes: EventRing.slotBytes(forCaptureLength: Int(captureLength)))
        } catch {
            throw ValidationError("--ring-capacity: \(error)")
        }
    }
}
