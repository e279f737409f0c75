#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
import Testing
@testable import FlowwatchCore

/// One writer and several followers on real threads: no torn or repeated entry, strictly
/// increasing positions, and entries seen plus missed equal to entries written, exactly.
@Suite struct RingConcurrencyTests {
    /// Entry `i`: its position in the first 8 bytes, then bytes derived from it, of a length
    /// that varies with `i`; every 97th is a lost record whose count is `i`. CPU and timestamp
    /// are derived from `i` too, so a header mixed from two writes is caught.
    static func write(_ index: UInt64, to ring: EventRing) {
        let cpu = UInt32(index % 5)
        let timestamp = index &* 3
        if index % 97 == 96 {
            ring.writeLost(cpu: cpu, timestamp: timestamp, count: index)
            return
        }
        var bytes = withUnsafeBytes(of: index.littleEndian, Array.init)
        let length = 8 + Int(index % 89)
        for offset in 8..<length { bytes.append(filler(index, offset)) }
        bytes.withUnsafeBytes { ring.write(cpu: cpu, timestamp: timestamp, bytes: $0) }
    }

    static func filler(_ index: UInt64, _ offset: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: index &* 0x9E37_79B9 &+ UInt64(offset) &* 131)
    }

    /// Checks one entry against what `write` wrote at its position; the description of the
    /// first inconsistency, or nil.
    static func check(_ view: RingEntryView) -> String? {
        let index = view.position
        guard view.cpu == UInt32(index % 5), view.timestamp == index &* 3 else {
            return "header of \(index): cpu \(view.cpu), timestamp \(view.timestamp)"
        }
        if index % 97 == 96 {
            return view.lostCount == index && view.bytes.isEmpty ? nil : "lost record \(index)"
        }
        let length = 8 + Int(index % 89)
        guard view.lostCount == nil, view.bytes.count == length, view.originalLength == length,
              view.bytes.loadUnaligned(as: UInt64.self) == index.littleEndian else {
            return "sample \(index): \(view.bytes.count) bytes"
        }
        for offset in 8..<length where view.bytes[offset] != filler(index, offset) {
            return "sample \(index): byte \(offset) torn"
        }
        return nil
    }

    /// The same check on an entry copied out of the ring.
    static func check(_ entry: RingEntry) -> String? {
        let bytes: [UInt8]
        let lostCount: UInt64?
        switch entry.sample.kind {
        case .event(let sample): (bytes, lostCount) = (sample, nil)
        case .lost(let count): (bytes, lostCount) = ([], count)
        }
        return bytes.withUnsafeBytes { bytes in
            check(RingEntryView(position: entry.position, cpu: entry.sample.cpu, timestamp: entry.sample.timestamp,
                                bytes: bytes, originalLength: entry.originalLength, lostCount: lostCount))
        }
    }

    struct Tally: Sendable, Equatable {
        var seen: UInt64 = 0
        var missed: UInt64 = 0
        var problems: [String] = []
    }

    /// Follows from position 0 until `total` positions are accounted for, checking order,
    /// contents and the exactness of missed counts on every step.
    static func follow(_ reader: RingReader, total: UInt64, borrowed: Bool) -> Tally {
        var reader = reader
        var tally = Tally()
        var expected: UInt64 = 0
        while expected < total {
            let read: RingRead<(UInt64, String?)>?
            if borrowed {
                read = reader.nextFollow(timeout: .seconds(10)) { ($0.position, check($0)) }
            } else {
                read = reader.nextFollow(timeout: .seconds(10)).map { read in
                    switch read {
                    case .missed(let count): return .missed(count)
                    case .entry(let entry): return .entry((entry.position, check(entry)))
                    }
                }
            }
            switch read {
            case nil:
                tally.problems.append("timed out at \(expected)")
                return tally
            case .missed(let count):
                guard count > 0 else {
                    tally.problems.append("empty gap at \(expected)")
                    return tally
                }
                tally.missed += count
                expected += count
            case .entry(let (position, problem)):
                if position != expected { tally.problems.append("position \(position), expected \(expected)") }
                if let problem { tally.problems.append(problem) }
                tally.seen += 1
                expected = position + 1
            }
            if tally.problems.count > 10 { return tally }
        }
        if reader.position != total { tally.problems.append("reader ended at \(reader.position)") }
        return tally
    }

    @Test(arguments: [63, 4095])
    func writerAndThreeFollowers(capacity: Int) throws {
        let ring = try EventRing(capacity: capacity, slotBytes: 128)
        let total: UInt64 = 300_000
        let tallies = Mutex<[Tally]>([])
        // Made before any thread starts, so that all three start at position 0.
        let readers: [@Sendable () -> Void] = (0..<3).map { index in
            let reader = ring.reader(at: .oldest)
            return {
                let tally = Self.follow(reader, total: total, borrowed: index != 1)
                tallies.withLock { $0.append(tally) }
            }
        }
        let writer: @Sendable () -> Void = {
            for index in 0..<total {
                Self.write(index, to: ring)
                // Let followers run (2 cores, 4 threads) so that they both keep up and fall behind.
                if index % 512 == 0 { sched_yield() }
            }
        }
        runOnThreads(readers + [writer])

        let results = tallies.withLock { $0 }
        #expect(results.count == 3)
        for tally in results {
            #expect(tally.problems.isEmpty, "\(tally.problems)")
            #expect(tally.seen + tally.missed == total)
            #expect(tally.seen > 0)
        }
        #expect(ring.writtenTotal == total)
    }

    /// A follower asleep in `nextFollow` wakes for a write from another thread.
    @Test func followerWakesOnWrite() throws {
        let ring = try EventRing(capacity: 3, slotBytes: 64)
        let result = Mutex<RingRead<RingEntry>?>(nil)
        let start = ring.reader(at: .newest)
        let follower: @Sendable () -> Void = {
            var reader = start
            let read = reader.nextFollow(timeout: .seconds(30))
            result.withLock { $0 = read }
        }
        let writer: @Sendable () -> Void = {
            usleep(50_000)
            ring.write(RawSample(cpu: 1, timestamp: 9, kind: .event([1, 2, 3])))
        }
        let clock = ContinuousClock()
        let elapsed = clock.measure { runOnThreads([follower, writer]) }
        #expect(result.withLock { $0 } == .entry(RingEntry(
            position: 0, sample: RawSample(cpu: 1, timestamp: 9, kind: .event([1, 2, 3])), originalLength: 3)))
        #expect(elapsed < .seconds(10))
    }

    /// A follower asleep with nothing to read comes back when woken (`wakeFollowers`, what a
    /// printer told to stop gets), long before its timeout.
    @Test func wokenFollowerReturnsEarly() throws {
        let ring = try EventRing(capacity: 3, slotBytes: 64)
        let start = ring.reader(at: .newest)
        let result = Mutex<RingRead<RingEntry>??>(nil)
        let follower: @Sendable () -> Void = {
            var reader = start
            let read = reader.nextFollow(timeout: .seconds(30))
            result.withLock { $0 = .some(read) }
        }
        // Once, at any moment of the follow: before it sleeps or while it does.
        let waker: @Sendable () -> Void = {
            usleep(UInt32.random(in: 0..<50_000))
            ring.wakeFollowers()
        }
        let clock = ContinuousClock()
        let elapsed = clock.measure { runOnThreads([follower, waker]) }
        #expect(result.withLock { $0 } == .some(nil), "caught up: nothing read")
        #expect(elapsed < .seconds(10))
    }

    @Test func followTimesOut() throws {
        let ring = try EventRing(capacity: 3, slotBytes: 64)
        var reader = ring.reader(at: .newest)
        let clock = ContinuousClock()
        let start = clock.now
        #expect(reader.nextFollow(timeout: .milliseconds(30)) == nil)
        #expect(clock.now - start >= .milliseconds(30))
        ring.write(RawSample(cpu: 0, timestamp: 1, kind: .lost(2)))
        #expect(reader.nextFollow(timeout: .zero) == .entry(RingEntry(
            position: 0, sample: RawSample(cpu: 0, timestamp: 1, kind: .lost(2)), originalLength: 0)))
    }
}

/// Runs each body on its own thread and waits for all of them: followers block in
/// `nextFollow`, which must not happen on the cooperative pool.
func runOnThreads(_ bodies: [@Sendable () -> Void]) {
    final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var threads: [pthread_t] = []
    for body in bodies {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { argument in
            if let argument { Unmanaged<Box>.fromOpaque(argument).takeRetainedValue().body() }
            return nil
        }, box)
        precondition(created == 0, "pthread_create: \(created)")
        threads.append(thread)
    }
    for thread in threads { pthread_join(thread, nil) }
}
