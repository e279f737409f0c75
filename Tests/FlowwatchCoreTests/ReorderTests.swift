import Testing
@testable import FlowwatchCore

/// The reorder window: records from several CPUs come out in kernel-timestamp order, late ones
/// are delivered and counted, and both bounds (time and count) hold.
@Suite struct ReorderTests {
    static let millisecond: UInt64 = 1_000_000

    /// Deterministic, so a failure reproduces.
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func event(_ timestamp: UInt64, cpu: UInt32 = 0, tag: UInt8 = 0) -> RawSample {
        RawSample(cpu: cpu, timestamp: timestamp, kind: .event([tag]))
    }

    /// Pushes everything, then flushes; what came out and when.
    static func run(_ buffer: inout ReorderBuffer, _ samples: [RawSample]) -> [RawSample] {
        var out: [RawSample] = []
        buffer.push(contentsOf: samples) { out.append($0) }
        buffer.flush { out.append($0) }
        return out
    }

    /// Each CPU's records are in order, but the reader drained CPU 1 before CPU 0, 2 and 3:
    /// a reply can arrive before its request.
    static var interleaved: [RawSample] {
        var samples: [RawSample] = []
        for cpu in [1, 0, 3, 2] as [UInt32] {
            for index in 0..<25 as Range<UInt64> {
                samples.append(event(index * 4 * millisecond / 10 + UInt64(cpu) * 37, cpu: cpu))
            }
        }
        return samples
    }

    @Test func interleavedCPUsComeOutSorted() {
        var buffer = ReorderBuffer()
        let out = Self.run(&buffer, Self.interleaved)
        #expect(out == Self.interleaved.sorted { $0.timestamp < $1.timestamp })
        #expect(buffer.statistics == .init(released: 100, late: 0, releasedEarly: 0))
        #expect(buffer.count == 0)
    }

    @Test func oneByOneEqualsWhole() {
        var whole = ReorderBuffer(window: .milliseconds(5), maxHeld: 16)
        var single = whole
        var wholeOut: [RawSample] = []
        whole.push(contentsOf: Self.interleaved) { wholeOut.append($0) }
        var singleOut: [RawSample] = []
        for sample in Self.interleaved { single.push(sample) { singleOut.append($0) } }
        #expect(wholeOut == singleOut)
        #expect(whole.statistics == single.statistics)
        #expect(whole.count == single.count)
    }

    /// A record is held until one a full window newer has been seen.
    @Test func releasedWhenTheWindowHasPassed() {
        var buffer = ReorderBuffer(window: .milliseconds(50))
        var out: [UInt64] = []
        let release = { (sample: RawSample) in out.append(sample.timestamp) }
        buffer.push(Self.event(100 * Self.millisecond), release: release)
        buffer.push(Self.event(120 * Self.millisecond), release: release)
        buffer.push(Self.event(149 * Self.millisecond), release: release)
        #expect(out.isEmpty)
        buffer.push(Self.event(150 * Self.millisecond), release: release)
        #expect(out == [100 * Self.millisecond])
        buffer.push(Self.event(200 * Self.millisecond), release: release)
        #expect(out == [100, 120, 149, 150].map { $0 * Self.millisecond })
        #expect(buffer.count == 1)
    }

    /// `advance(to:)` releases without a new record: a quiet node still prints.
    @Test func advanceReleasesOnAQuietNode() {
        var buffer = ReorderBuffer(window: .milliseconds(50))
        var out: [UInt64] = []
        buffer.push(Self.event(10 * Self.millisecond)) { out.append($0.timestamp) }
        buffer.advance(to: 59 * Self.millisecond) { out.append($0.timestamp) }
        #expect(out.isEmpty)
        buffer.advance(to: 60 * Self.millisecond) { out.append($0.timestamp) }
        #expect(out == [10 * Self.millisecond])
    }

    /// A record older than one already released comes out at once, counted, never dropped.
    @Test func lateRecordsAreDeliveredAndCounted() {
        var buffer = ReorderBuffer(window: .milliseconds(10))
        var out: [RawSample] = []
        let release = { (sample: RawSample) in out.append(sample) }
        buffer.push(Self.event(100 * Self.millisecond, tag: 1), release: release)
        buffer.push(Self.event(105 * Self.millisecond, tag: 2), release: release)
        buffer.push(Self.event(110 * Self.millisecond, tag: 3), release: release)
        #expect(out.map(\.timestamp) == [100 * Self.millisecond])
        // Older than what was released (100 ms): late.
        buffer.push(Self.event(90 * Self.millisecond, tag: 4), release: release)
        #expect(out.map(\.timestamp) == [100, 90].map { $0 * Self.millisecond })
        // As old as what was released: in order, not late.
        buffer.push(Self.event(100 * Self.millisecond, tag: 5), release: release)
        #expect(out.count == 3)
        #expect(buffer.statistics.late == 1)
        buffer.flush(release: release)
        #expect(out.map(\.kind) == [1, 4, 5, 2, 3].map { RawSample.Kind.event([$0]) })
        #expect(buffer.statistics == .init(released: 5, late: 1, releasedEarly: 0))
    }

    /// Lost records carry the reader's time: ordered by it, never late.
    @Test func lostRecordsAreOrderedByTheirTimeAndNeverLate() {
        var buffer = ReorderBuffer(window: .milliseconds(10))
        var out: [RawSample] = []
        let release = { (sample: RawSample) in out.append(sample) }
        buffer.push(Self.event(100 * Self.millisecond), release: release)
        buffer.push(RawSample(cpu: 2, timestamp: 105 * Self.millisecond, kind: .lost(7)), release: release)
        buffer.push(Self.event(103 * Self.millisecond), release: release)
        buffer.push(Self.event(120 * Self.millisecond), release: release)
        #expect(out.map(\.timestamp) == [100, 103, 105].map { $0 * Self.millisecond })
        #expect(out[2].kind == .lost(7))
        buffer.push(RawSample(cpu: 2, timestamp: 1, kind: .lost(1)), release: release)
        #expect(out.last?.kind == .lost(1))
        #expect(buffer.statistics.late == 0)
    }

    /// At most `maxHeld` records wait; the oldest leaves early, counted.
    @Test func countBoundHolds() {
        var buffer = ReorderBuffer(window: .seconds(10), maxHeld: 4)
        var out: [UInt64] = []
        for timestamp in 1...10 as ClosedRange<UInt64> {
            buffer.push(Self.event(timestamp)) { out.append($0.timestamp) }
            #expect(buffer.count <= 4)
        }
        #expect(out == Array(1...6))
        #expect(buffer.statistics.releasedEarly == 6)
        buffer.flush { out.append($0.timestamp) }
        #expect(out == Array(1...10))
    }

    /// Equal timestamps keep their arrival order (per-CPU order is preserved).
    @Test func equalTimestampsKeepArrivalOrder() {
        var buffer = ReorderBuffer()
        let samples = (0..<20).map { Self.event(UInt64(5 - $0 % 3), tag: UInt8($0)) }
        let out = Self.run(&buffer, samples)
        let expected = samples.enumerated().sorted {
            ($0.element.timestamp, $0.offset) < ($1.element.timestamp, $1.offset)
        }.map(\.element)
        #expect(out == expected)
    }

    /// Random skew below the window: sorted output, nothing late, nothing lost; skew above it:
    /// every record still comes out exactly once and only late ones are out of order.
    @Test(arguments: [(UInt64(4), UInt64(5)), (UInt64(20), UInt64(5))])
    func randomSkew(skew: UInt64, windowMilliseconds: UInt64) {
        var generator = SplitMix64(state: skew)
        var samples: [RawSample] = []
        for index in 0..<5_000 as Range<UInt64> {
            let jitter = generator.next() % (skew * Self.millisecond)
            samples.append(Self.event(index * Self.millisecond / 10 + jitter, cpu: UInt32(index % 4),
                                      tag: UInt8(truncatingIfNeeded: index)))
        }
        var buffer = ReorderBuffer(window: .milliseconds(windowMilliseconds), maxHeld: 1_000)
        let out = Self.run(&buffer, samples)
        #expect(out.count == samples.count)
        #expect(buffer.statistics.released == UInt64(samples.count))
        var descents: UInt64 = 0
        for (previous, next) in zip(out, out.dropFirst()) where next.timestamp < previous.timestamp { descents += 1 }
        #expect(descents <= buffer.statistics.late)
        if skew < windowMilliseconds {
            #expect(buffer.statistics.late == 0)
            #expect(out == samples.sorted { $0.timestamp < $1.timestamp })
        } else {
            #expect(buffer.statistics.late > 0)
        }
    }

    @Test func zeroWindowPassesThrough() {
        var buffer = ReorderBuffer(window: .zero)
        var out: [RawSample] = []
        for sample in Self.interleaved {
            buffer.push(sample) { out.append($0) }
            #expect(buffer.count == 0)
        }
        #expect(out == Self.interleaved)
    }
    /// The rule stated plainly, one linear scan per step: the buffer must match it on any input.
    struct Model {
        let window: UInt64
        let maxHeld: Int
        var held: [(key: UInt64, arrival: Int, sample: RawSample)] = []
        var newest: UInt64 = 0
        var frontier: UInt64 = 0
        var arrivals = 0
        var out: [RawSample] = []

        mutating func push(_ sample: RawSample) {
            newest = max(newest, sample.timestamp)
            held.append((max(sample.timestamp, frontier), arrivals, sample))
            arrivals += 1
            release()
        }

        mutating func advance(to now: UInt64) {
            newest = max(newest, now)
            release()
        }

        mutating func release(all: Bool = false) {
            while let index = held.indices.min(by: { (held[$0].key, held[$0].arrival) < (held[$1].key, held[$1].arrival) }) {
                let oldest = held[index]
                guard all || oldest.key <= frontier || newest - oldest.key >= window || held.count > maxHeld else { return }
                held.remove(at: index)
                frontier = oldest.key
                out.append(oldest.sample)
            }
        }
    }

    /// A replayed recording: nearly every record newer than the one before (they take the run),
    /// a few from a second CPU a little behind (a lane) and one far behind (late), against the
    /// model, with the count bound reached.
    @Test func mostlyInOrderMatchesTheModel() {
        let window: UInt64 = 1_000
        var buffer = ReorderBuffer(window: .nanoseconds(Int64(window)), maxHeld: 50)
        var model = Model(window: window, maxHeld: 50)
        var out: [RawSample] = []
        var clock: UInt64 = 10_000
        for index in 0..<3_000 {
            clock += UInt64(index % 7) * 3
            let behind: UInt64 = index % 97 == 0 ? 40 : index == 1_500 ? 5_000 : 0
            let sample = Self.event(clock - behind, cpu: behind == 0 ? 0 : 1, tag: UInt8(truncatingIfNeeded: index))
            buffer.push(sample) { out.append($0) }
            model.push(sample)
        }
        buffer.flush { out.append($0) }
        model.release(all: true)
        #expect(out == model.out)
        #expect(buffer.statistics.late == 1)
    }

    /// A copy is a value: pushing to one and releasing from the other leaves each with its own
    /// records (the slab is shared until one of them changes).
    @Test func copiesAreIndependent() {
        var first = ReorderBuffer(window: .nanoseconds(100), maxHeld: 8)
        first.push(Self.event(10, tag: 1)) { _ in Issue.record("released early") }
        first.push(Self.event(20, tag: 2)) { _ in Issue.record("released early") }
        var second = first
        var fromFirst: [RawSample] = []
        var fromSecond: [RawSample] = []
        first.push(Self.event(500, tag: 3)) { fromFirst.append($0) }
        second.push(Self.event(15, cpu: 1, tag: 4)) { fromSecond.append($0) }
        second.flush { fromSecond.append($0) }
        first.flush { fromFirst.append($0) }
        #expect(fromFirst == [Self.event(10, tag: 1), Self.event(20, tag: 2), Self.event(500, tag: 3)])
        #expect(fromSecond == [Self.event(10, tag: 1), Self.event(15, cpu: 1, tag: 4), Self.event(20, tag: 2)])
    }

    /// A copy made once slots have been freed and taken again: each copy goes on with the free
    /// slots it had, and neither writes over the other's records.
    @Test func copiesAfterReleasesAreIndependent() {
        var first = ReorderBuffer(window: .nanoseconds(100), maxHeld: 8)
        var released: [RawSample] = []
        for (timestamp, tag) in [(10, 1), (20, 2), (30, 3)] as [(UInt64, UInt8)] {
            first.push(Self.event(timestamp, tag: tag)) { released.append($0) }
        }
        first.advance(to: 125) { released.append($0) }
        #expect(released == [Self.event(10, tag: 1), Self.event(20, tag: 2)])
        var second = first
        var fromFirst: [RawSample] = []
        var fromSecond: [RawSample] = []
        first.push(Self.event(40, tag: 4)) { fromFirst.append($0) }
        first.push(Self.event(50, tag: 5)) { fromFirst.append($0) }
        second.push(Self.event(35, cpu: 1, tag: 6)) { fromSecond.append($0) }
        first.flush { fromFirst.append($0) }
        second.flush { fromSecond.append($0) }
        #expect(fromFirst == [Self.event(30, tag: 3), Self.event(40, tag: 4), Self.event(50, tag: 5)])
        #expect(fromSecond == [Self.event(30, tag: 3), Self.event(35, cpu: 1, tag: 6)])
    }

    /// A buffer dropped with records in it, some slots freed before, releases every record's
    /// bytes: an array then held by nothing else is changed in place, not copied.
    @Test func droppedBufferReleasesWhatItHeld() {
        var kept: [[UInt8]] = (0..<4).map { [UInt8($0), 1, 2, 3] }
        let addresses = kept.map { $0.withUnsafeBufferPointer { Int(bitPattern: $0.baseAddress) } }
        do {
            var buffer = ReorderBuffer(window: .nanoseconds(100), maxHeld: 16)
            var released: [RawSample] = []
            for (i, bytes) in kept.enumerated() {
                buffer.push(RawSample(cpu: 0, timestamp: UInt64(i) * 10, kind: .event(bytes))) { released.append($0) }
            }
            buffer.advance(to: 115) { released.append($0) }
            #expect(released.count == 2)
            released = []
            buffer.push(RawSample(cpu: 0, timestamp: 40, kind: .event(kept[0]))) { released.append($0) }
            #expect(released.isEmpty)
        }
        for i in kept.indices {
            kept[i][0] = 9
            #expect(kept[i].withUnsafeBufferPointer { Int(bitPattern: $0.baseAddress) } == addresses[i])
        }
    }

    /// Random CPUs (some beyond the lane table), CPUs whose own records are out of order, late
    /// records, lost records, clock advances and both bounds, against the model.
    @Test(arguments: 1...20)
    func matchesTheModel(seed: UInt64) {
        var generator = SplitMix64(state: seed)
        let window = generator.next() % 3 == 0 ? 0 : generator.next() % 2_000
        let maxHeld = 1 + Int(generator.next() % 64)
        var buffer = ReorderBuffer(window: .nanoseconds(Int64(window)), maxHeld: maxHeld)
        var model = Model(window: window, maxHeld: maxHeld)
        var out: [RawSample] = []
        var clocks = [UInt64](repeating: 10_000, count: 4)
        for index in 0..<2_000 {
            let roll = generator.next() % 100
            let lane = Int(generator.next() % 4)
            // Mostly in order per CPU; sometimes a step back; sometimes far behind.
            if roll < 80 {
                clocks[lane] += generator.next() % 300
            } else if roll < 95 {
                clocks[lane] -= min(clocks[lane], generator.next() % 500)
            }
            let cpu: UInt32 = roll == 99 ? UInt32(ReorderBuffer.maximumLanes) + UInt32(lane) : UInt32(lane)
            let timestamp = roll == 98 ? clocks[lane] / 2 : clocks[lane]
            let sample = roll == 97
                ? RawSample(cpu: cpu, timestamp: timestamp, kind: .lost(UInt64(index)))
                : RawSample(cpu: cpu, timestamp: timestamp, kind: .event([UInt8(truncatingIfNeeded: index)]))
            if roll == 96 {
                let now = clocks.max() ?? 0
                buffer.advance(to: now) { out.append($0) }
                model.advance(to: now)
            }
            buffer.push(sample) { out.append($0) }
            model.push(sample)
            #expect(buffer.count == model.held.count)
            #expect(buffer.count <= maxHeld)
        }
        #expect(out == model.out)
        buffer.flush { out.append($0) }
        model.release(all: true)
        #expect(out == model.out)
        #expect(buffer.statistics.released == 2_000)
    }
}
