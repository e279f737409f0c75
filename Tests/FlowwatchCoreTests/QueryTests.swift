import Foundation
import Testing
@testable import FlowwatchCore

/// Hubble's selectors over the flow ring (`RingQuery`) and over a replay (`EventPipeline` with a
/// selection): on the recorded samples, each selector returns the same lines as the matching
/// slice of the full output, with and without filters, and both paths agree.
@Suite struct QueryTests {
    static let samples = SampleTests.samples

    /// A recording's records in time order, its pipeline settings, and the compact lines of all.
    struct Loaded {
        var samples: [RawSample] = []
        var reader: RecordingReader
        var config: NodeConfig
    }

    func load(_ name: String) throws -> Loaded {
        let reader = try RecordingReader(path: Self.samples.appendingPathComponent("\(name).fwrec").path)
        let config = try reader.header.config() ?? NodeConfig(nodeName: reader.header.nodeName)
        var loaded = Loaded(reader: reader, config: config)
        // Through a pipeline with a ring: the ring gets the records in time order.
        var records: [RawSample] = []
        while let s = try reader.next() { records.append(s) }
        var reorder = ReorderBuffer()
        reorder.push(contentsOf: records) { loaded.samples.append($0) }
        reorder.flush { loaded.samples.append($0) }
        return loaded
    }

    func ring(_ loaded: Loaded, capacity: Int = 4095) throws -> EventRing {
        let ring = try EventRing(capacity: capacity)
        var pipeline = EventPipeline(output: .none, config: loaded.config, wallClockOffset: loaded.reader.header.wallClockOffset,
                                     ring: ring)
        var discard: [UInt8] = []
        for s in loaded.samples { pipeline.consume(s, into: &discard) }
        pipeline.finish(into: &discard)
        #expect(discard.isEmpty)
        return ring
    }

    func matcher(_ loaded: Loaded, _ filter: FlowFilterSet = FlowFilterSet(), debug: Bool = false) -> EventMatcher {
        let names = loaded.reader.interfaceNames
        return EventMatcher(builder: FlowBuilder(config: loaded.config, wallClockOffset: loaded.reader.header.wallClockOffset,
                                                 interfaceName: { names[$0] }),
                            filter: filter, includeDebug: debug)
    }

    /// Compact lines of what a query returns (debug events left out, as compact does).
    func run(_ query: inout RingQuery, _ loaded: Loaded) -> [String] {
        var printer = EventPrinter(output: .hubble(.compact))
        var buffer: [UInt8] = []
        loop: while true {
            switch query.next() {
            case .event(let m): printer.write(m, builder: query.matcher.builder, into: &buffer)
            case .lost(let l): printer.write(l, into: &buffer)
            case .idle, .end: break loop
            }
        }
        return lines(buffer)
    }

    func replay(_ name: String, _ selection: EventSelection, _ filter: FlowFilterSet = FlowFilterSet()) throws -> [String] {
        let reader = try RecordingReader(path: Self.samples.appendingPathComponent("\(name).fwrec").path)
        var pipeline = try EventPipeline(replaying: reader, output: .hubble(.compact), filter: filter, selection: selection)
        var buffer: [UInt8] = []
        while !pipeline.isComplete, let s = try reader.next() { pipeline.consume(s, into: &buffer) }
        pipeline.finish(into: &buffer)
        return lines(buffer)
    }

    func lines(_ buffer: [UInt8]) -> [String] {
        String(decoding: buffer, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    func filter(_ args: String...) throws -> FlowFilterSet { try FilterArguments.parse(args) }

    static let names = ["ping", "tcp", "udp-dns", "ipv6"]

    @Test("--last, --first and --all on the ring are slices of the whole output", arguments: names)
    func slices(name: String) throws {
        let loaded = try load(name)
        let ring = try ring(loaded)
        let whole = try replay(name, EventSelection(number: .all))
        #expect(whole.count > 4)
        for n in [1, 3, UInt64(whole.count), UInt64(whole.count) + 5] {
            var last = RingQuery(ring: ring, selection: EventSelection(number: .last(n)), matcher: matcher(loaded))
            #expect(run(&last, loaded) == Array(whole.suffix(Int(n))), "--last \(n)")
            var first = RingQuery(ring: ring, selection: EventSelection(number: .first(n)), matcher: matcher(loaded))
            #expect(run(&first, loaded) == Array(whole.prefix(Int(n))), "--first \(n)")
            #expect(try replay(name, EventSelection(number: .last(n))) == Array(whole.suffix(Int(n))), "replay --last \(n)")
            #expect(try replay(name, EventSelection(number: .first(n))) == Array(whole.prefix(Int(n))), "replay --first \(n)")
        }
        var all = RingQuery(ring: ring, selection: EventSelection(number: .all), matcher: matcher(loaded))
        #expect(run(&all, loaded) == whole)
    }

    @Test("filters and --not apply before the count: --last 2 is the last two matching events")
    func filteredCount() throws {
        let loaded = try load("tcp")
        let ring = try ring(loaded)
        for args in [["--to-port", "8080"], ["--not", "--to-port", "8080"], ["--type", "trace:to-endpoint"],
                     ["--protocol", "tcp", "--not", "--tcp-flags", "SYN"]] {
            let f = try FilterArguments.parse(args)
            let whole = try replay("tcp", EventSelection(number: .all), f)
            #expect(!whole.isEmpty, "\(args)")
            var q = RingQuery(ring: ring, selection: EventSelection(number: .last(2)), matcher: matcher(loaded, f))
            #expect(run(&q, loaded) == Array(whole.suffix(2)), "\(args)")
            #expect(try replay("tcp", EventSelection(number: .last(2)), f) == Array(whole.suffix(2)), "\(args)")
        }
    }

    @Test("--since and --until cut by wall-clock time, on the ring and on a replay")
    func timeRange() throws {
        let loaded = try load("ping")
        let ring = try ring(loaded)
        let offset = loaded.reader.header.wallClockOffset
        let times = loaded.samples.map { Int64($0.timestamp) + offset }
        let mid = times[times.count / 2]
        let whole = try replay("ping", EventSelection(number: .all))
        let since = EventSelection(number: .all, since: mid)
        let until = EventSelection(number: .all, until: mid - 1)
        var q1 = RingQuery(ring: ring, selection: since, matcher: matcher(loaded))
        var q2 = RingQuery(ring: ring, selection: until, matcher: matcher(loaded))
        let after = run(&q1, loaded), before = run(&q2, loaded)
        #expect(!after.isEmpty && !before.isEmpty)
        #expect(before + after == whole)
        #expect(try replay("ping", since) == after)
        #expect(try replay("ping", until) == before)
        // --last N --since T: the last N, none before T.
        var q3 = RingQuery(ring: ring, selection: EventSelection(number: .last(2), since: mid), matcher: matcher(loaded))
        #expect(run(&q3, loaded) == Array(after.suffix(2)))
        var q4 = RingQuery(ring: ring, selection: EventSelection(number: .last(1000), since: mid), matcher: matcher(loaded))
        #expect(run(&q4, loaded) == after)
        // --first N --since T.
        var q5 = RingQuery(ring: ring, selection: EventSelection(number: .first(1), since: mid), matcher: matcher(loaded))
        #expect(run(&q5, loaded) == Array(after.prefix(1)))
    }

    @Test("a ring smaller than the recording keeps the newest entries; --first starts at the oldest kept")
    func smallRing() throws {
        let loaded = try load("tcp")
        let ring = try ring(loaded, capacity: 7)
        #expect(ring.count == 7)
        let whole = try replay("tcp", EventSelection(number: .all))
        var all = RingQuery(ring: ring, selection: EventSelection(number: .all), matcher: matcher(loaded))
        let kept = run(&all, loaded)
        #expect(!kept.isEmpty && kept.count <= 7)
        #expect(Array(whole.suffix(kept.count)) == kept)
    }

    @Test("a follower lapped by the writer gets HUBBLE_RING_BUFFER lost events with the exact count")
    func lappedFollower() throws {
        let loaded = try load("tcp")
        let ring = try EventRing(capacity: 3)
        var q = RingQuery(ring: ring, selection: EventSelection(number: .all, follow: true), matcher: matcher(loaded, debug: true))
        for s in loaded.samples { ring.write(s) }
        var events = 0
        var lost: UInt64 = 0
        loop: while true {
            switch q.next(timeout: .milliseconds(1)) {
            case .event: events += 1
            case .lost(let l):
                #expect(l.source == .hubbleRingBuffer)
                lost += l.numEventsLost
            case .idle: break loop
            case .end: Issue.record("a follower never ends"); break loop
            }
        }
        #expect(lost == UInt64(loaded.samples.count - 3))
        #expect(q.missed == lost)
        #expect(events == 3)
        var printer = EventPrinter(output: .hubble(.compact))
        var buffer: [UInt8] = []
        printer.write(LostEvent(time: FlowTime(seconds: 0, nanos: 0), source: .hubbleRingBuffer, numEventsLost: 9), into: &buffer)
        #expect(String(decoding: buffer, as: UTF8.self).contains("EVENTS LOST: HUBBLE_RING_BUFFER"))
        var monitor = EventPrinter(output: .monitor(.info))
        buffer = []
        monitor.write(LostEvent(time: FlowTime(seconds: 0, nanos: 0), source: .hubbleRingBuffer, numEventsLost: 9), into: &buffer)
        #expect(String(decoding: buffer, as: UTF8.self) == "RING: Lost 9 events\n")
    }

    @Test("a follower sees what is written after it started, in order")
    func follow() throws {
        let loaded = try load("ping")
        let ring = try EventRing()
        let half = loaded.samples.count / 2
        for s in loaded.samples[..<half] { ring.write(s) }
        var q = RingQuery(ring: ring, selection: EventSelection(number: .all, follow: true), matcher: matcher(loaded, debug: true))
        guard case .idle = q.next(timeout: .milliseconds(1)) else { Issue.record("history was returned"); return }
        for s in loaded.samples[half...] { ring.write(s) }
        var got = 0
        while case .event = q.next(timeout: .milliseconds(1)) { got += 1 }
        #expect(got == loaded.samples.count - half)
    }

    // MARK: - Selector rules

    @Test("selector combinations are refused as hubble observe refuses them")
    func refusals() {
        func error(_ body: () throws -> EventSelection) -> String? {
            do { _ = try body(); return nil } catch { return "\(error)" }
        }
        #expect(error { try EventSelection(last: 3, first: 2, all: false, since: nil, until: nil, follow: false) } == "cannot set both --first and --last")
        #expect(error { try EventSelection(last: nil, first: 2, all: true, since: nil, until: nil, follow: false) } == "cannot set both --first and --all")
        #expect(error { try EventSelection(last: nil, first: 2, all: false, since: nil, until: nil, follow: true) } == "cannot set both --first and --follow")
        #expect(error { try EventSelection(last: 3, first: nil, all: true, since: nil, until: nil, follow: false) } == "cannot set both --last and --all")
        #expect(error { try EventSelection(last: nil, first: nil, all: false, since: 10, until: 5, follow: false) } != nil)
        #expect(error { try EventSelection(requestNumber: 5, first: true, follow: true, since: nil, until: nil) } != nil)
    }

    @Test("defaults: --last 20 with nothing selected; everything when following, with --since, or on a recording")
    func defaults() throws {
        #expect(try EventSelection(last: nil, first: nil, all: false, since: nil, until: nil, follow: false).number == .last(20))
        #expect(try EventSelection(last: nil, first: nil, all: false, since: nil, until: nil, follow: true).number == .all)
        #expect(try EventSelection(last: nil, first: nil, all: false, since: 5, until: nil, follow: false).number == .all)
        #expect(try EventSelection(last: nil, first: nil, all: false, since: nil, until: nil, follow: false, defaultLast: nil).number == .all)
        #expect(try EventSelection(last: nil, first: nil, all: true, since: nil, until: nil, follow: false).number == .all)
        // --until means nothing while following (Hubble drops it).
        #expect(try EventSelection(last: nil, first: nil, all: false, since: nil, until: 9, follow: true).until == nil)
    }

    @Test("times: durations back from now and the absolute layouts Hubble accepts")
    func times() throws {
        let now: Int64 = 1_763_719_473_000_000_000 // 2025-11-21T10:04:33Z
        #expect(try SelectionTime.parse("30s", now: now) == now - 30_000_000_000)
        #expect(try SelectionTime.parse("1h30m", now: now) == now - 5_400_000_000_000)
        #expect(try SelectionTime.parse("1.5h", now: now) == now - 5_400_000_000_000)
        #expect(try SelectionTime.parse("250ms", now: now) == now - 250_000_000)
        #expect(try SelectionTime.parse("2025-11-21T10:04:33Z", now: now) == now)
        #expect(try SelectionTime.parse("2025-11-21T10:04:33.5Z", now: now) == now + 500_000_000)
        #expect(try SelectionTime.parse("2025-11-21T11:04:33+01:00", now: now) == now)
        #expect(try SelectionTime.parse("2025-11-21T10:04Z", now: now) == now - 33_000_000_000)
        #expect(try SelectionTime.parse("2025-11-21", now: now) == 1_763_683_200_000_000_000)
        #expect(try SelectionTime.parse("Nov 21 10:04:33.250", now: now) == now + 250_000_000)
        #expect(try SelectionTime.parse("Nov  1 00:00:00.000", now: now) == 1_761_955_200_000_000_000)
        for bad in ["", "yesterday", "10", "2025-13-01", "Nov 21", "5x", "2025-11-21T25:00Z"] {
            #expect(throws: SelectionError.self, "\(bad)") { try SelectionTime.parse(bad, now: now) }
        }
    }
}
