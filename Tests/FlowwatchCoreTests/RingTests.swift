import Testing
@testable import FlowwatchCore

/// The ring's geometry and single-threaded behaviour: every capacity edge, what readers see from
/// either end, exact missed counts, truncation, validation.
@Suite struct RingTests {
    /// The bytes written at position `p`: a length that walks over the slot's edge (so some
    /// entries are truncated in a 64-byte slot, which holds 32) and bytes derived from `p`.
    static func payload(_ position: UInt64) -> [UInt8] {
        let length = Int(position % 41)
        return (0..<length).map { UInt8(truncatingIfNeeded: position &* 31 &+ UInt64($0) &* 7) }
    }

    static func sample(_ position: UInt64) -> RawSample {
        RawSample(cpu: UInt32(position % 5), timestamp: 1_000 + position, kind: .event(payload(position)))
    }

    /// What the ring must give back for position `p` in a slot holding `kept` sample bytes.
    static func expected(_ position: UInt64, kept: Int) -> RingEntry {
        var sample = sample(position)
        let bytes = payload(position)
        sample.kind = .event(Array(bytes.prefix(kept)))
        return RingEntry(position: position, sample: sample, originalLength: bytes.count)
    }

    @Test(arguments: [1, 3, 7, 15, 31, 63])
    func wrapAroundAtEveryCount(capacity: Int) throws {
        for written in 0...(3 * capacity) {
            let ring = try EventRing(capacity: capacity, slotBytes: 64)
            // readers[j] started at .newest after j writes.
            var readers: [RingReader] = []
            for position in 0..<UInt64(written) {
                readers.append(ring.reader(at: .newest))
                ring.write(Self.sample(position))
            }
            readers.append(ring.reader(at: .newest))

            #expect(ring.count == min(written, capacity))
            #expect(ring.writtenTotal == UInt64(written))
            let oldest = written > capacity ? written - capacity : 0

            for (start, var reader) in readers.enumerated() {
                var reads: [RingRead<RingEntry>] = []
                while let read = reader.next() { reads.append(read) }
                var expected: [RingRead<RingEntry>] = []
                if start < oldest { expected.append(.missed(UInt64(oldest - start))) }
                for position in max(start, oldest)..<written {
                    expected.append(.entry(Self.expected(UInt64(position), kept: 32)))
                }
                #expect(reads == expected, "capacity \(capacity), written \(written), start \(start)")
                #expect(reader.position == UInt64(written))
            }

            var fromOldest = ring.reader(at: .oldest)
            #expect(fromOldest.position == UInt64(oldest))
            var forward: [UInt64] = []
            while case .entry(let entry) = fromOldest.next() { forward.append(entry.position) }
            #expect(forward == Array(UInt64(oldest)..<UInt64(written)))

            var fromNewest = ring.reader(at: .newest)
            #expect(fromNewest.next() == nil)
            var backward: [UInt64] = []
            while let entry = fromNewest.previous() { backward.append(entry.position) }
            #expect(backward == Array((UInt64(oldest)..<UInt64(written)).reversed()))
            #expect(fromNewest.position == UInt64(oldest))
        }
    }

    /// A reader that falls behind gets one `.missed` with the exact gap, then the oldest entry.
    @Test func missedCountIsExact() throws {
        let ring = try EventRing(capacity: 7, slotBytes: 64)
        var reader = ring.reader(at: .oldest)
        for position in 0..<3 { ring.write(Self.sample(UInt64(position))) }
        #expect(reader.next() == .entry(Self.expected(0, kept: 32)))
        for position in 3..<20 { ring.write(Self.sample(UInt64(position))) }
        // Positions 1...12 were overwritten (20 written, 7 readable: 13...19).
        #expect(reader.next() == .missed(12))
        #expect(reader.next() == .entry(Self.expected(13, kept: 32)))
    }

    /// `--last N`: walk back on a copy, then follow from the original.
    @Test func lastNThenFollow() throws {
        let ring = try EventRing(capacity: 63, slotBytes: 128)
        for position in 0..<100 { ring.write(Self.sample(UInt64(position))) }
        let follower = ring.reader(at: .newest)
        var back = follower
        var last: [UInt64] = []
        while last.count < 10, let entry = back.previous() { last.append(entry.position) }
        #expect(last == Array((90..<100).reversed()))
        // previous() then next() returns the same entry: the cursor sits between entries.
        #expect(back.next() == .entry(Self.expected(90, kept: 96)))

        var rest = follower
        var count = 0
        while rest.previous() != nil { count += 1 }
        #expect(count == 63)
        #expect(rest.position == 37)

        var following = follower
        ring.write(Self.sample(100))
        #expect(following.next() == .entry(Self.expected(100, kept: 96)))
        #expect(following.next() == nil)
    }

    /// A walk backwards ends where the writer has overwritten: everything older is gone.
    @Test func previousStopsAtOverwrittenEntry() throws {
        let ring = try EventRing(capacity: 3, slotBytes: 64)
        for position in 0..<3 { ring.write(Self.sample(UInt64(position))) }
        var reader = ring.reader(at: .newest)
        #expect(reader.previous()?.position == 2)
        for position in 3..<5 { ring.write(Self.sample(UInt64(position))) }
        // Readable now: 2, 3, 4. Position 1 is gone.
        #expect(reader.previous() == nil)
        #expect(reader.position == 2)
    }

    @Test func truncationKeepsLengthAndPrefix() throws {
        let ring = try EventRing(capacity: 255, slotBytes: 64)
        #expect(ring.sampleBytesPerSlot == 32)
        for length in 0...100 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &+ length) }
            ring.write(RawSample(cpu: 3, timestamp: UInt64(length), kind: .event(bytes)))
        }
        var reader = ring.reader(at: .oldest)
        for length in 0...100 {
            guard case .entry(let entry) = reader.next() else {
                Issue.record("entry \(length) missing")
                return
            }
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &+ length) }
            #expect(entry.sample == RawSample(cpu: 3, timestamp: UInt64(length), kind: .event(Array(bytes.prefix(32)))))
            #expect(entry.originalLength == length)
            #expect(entry.truncatedInRing == (length > 32))
        }
    }

    @Test func lostRecordsRoundTrip() throws {
        let ring = try EventRing(capacity: 3, slotBytes: 64)
        ring.write(RawSample(cpu: 7, timestamp: 42, kind: .lost(123_456_789_012)))
        ring.writeLost(cpu: 0, timestamp: 43, count: 1)
        var reader = ring.reader(at: .oldest)
        #expect(reader.next() == .entry(RingEntry(
            position: 0, sample: RawSample(cpu: 7, timestamp: 42, kind: .lost(123_456_789_012)), originalLength: 0)))
        let view = reader.next { view in (view.lostCount, view.bytes.count, view.truncatedInRing) }
        guard case .entry(let (count, bytes, truncated)) = view else {
            Issue.record("lost record missing")
            return
        }
        #expect(count == 1)
        #expect(bytes == 0)
        #expect(!truncated)
    }

    /// Borrowed bytes and the copying reader see the same entries, and a borrowed write equals
    /// writing the sample.
    @Test func borrowedAndCopiedAgree() throws {
        let ring = try EventRing(capacity: 15, slotBytes: 128)
        for position in 0..<12 {
            let sample = Self.sample(UInt64(position))
            guard case .event(let bytes) = sample.kind else { continue }
            if position.isMultiple(of: 2) {
                ring.write(sample)
            } else {
                bytes.withUnsafeBytes { ring.write(cpu: sample.cpu, timestamp: sample.timestamp, bytes: $0) }
            }
        }
        var copying = ring.reader(at: .oldest)
        var borrowing = ring.reader(at: .oldest)
        while let copied = copying.next() {
            let borrowed = borrowing.next { $0.makeEntry() }
            #expect(borrowed == copied)
        }
        #expect(borrowing.next { $0.position } == nil)
    }

    @Test func thrownErrorsPassThroughAndKeepThePosition() throws {
        struct Stop: Error {}
        let ring = try EventRing(capacity: 3, slotBytes: 64)
        ring.write(Self.sample(0))
        var reader = ring.reader(at: .oldest)
        #expect(throws: Stop.self) { _ = try reader.next { (_) throws(Stop) -> Int in throw Stop() } }
        // The entry was read (and handed to the closure): the reader moved past it.
        #expect(reader.position == 1)
    }

    @Test(arguments: [1, 3, 4095, 65_535, 1_048_575])
    func validCapacities(capacity: Int) throws {
        let ring = try EventRing(capacity: capacity, slotBytes: 64)
        #expect(ring.capacity == capacity)
        #expect(ring.count == 0)
        #expect(ring.memoryBytes == (capacity + 1) * 64)
    }

    @Test func invalidConfigurations() {
        #expect(throws: EventRingError.capacityOutOfRange(0)) { _ = try EventRing(capacity: 0) }
        #expect(throws: EventRingError.capacityOutOfRange(-1)) { _ = try EventRing(capacity: -1) }
        #expect(throws: EventRingError.capacityNotPowerOfTwoMinusOne(4096)) { _ = try EventRing(capacity: 4096) }
        #expect(throws: EventRingError.capacityNotPowerOfTwoMinusOne(2)) { _ = try EventRing(capacity: 2) }
        #expect(throws: EventRingError.capacityOutOfRange(1 << 24)) { _ = try EventRing(capacity: 1 << 24) }
        #expect(throws: EventRingError.invalidSlotBytes(32)) { _ = try EventRing(capacity: 3, slotBytes: 32) }
        #expect(throws: EventRingError.invalidSlotBytes(100)) { _ = try EventRing(capacity: 3, slotBytes: 100) }
        #expect(throws: EventRingError.invalidSlotBytes(1 << 17)) { _ = try EventRing(capacity: 3, slotBytes: 1 << 17) }
        #expect(throws: EventRingError.tooLarge(capacity: 16_777_215, slotBytes: 512)) {
            _ = try EventRing(capacity: 16_777_215, slotBytes: 512)
        }
        #expect(EventRingError.capacityNotPowerOfTwoMinusOne(4096).description
            == "ring capacity 4096 must be one less than a power of two (e.g. 4095, 65535, 1048575)")
    }

    @Test func slotSizeForCaptureLength() {
        // 32 slot header + 56 trace v2 header + packet + 7 padding.
        #expect(EventRing.slotBytes(forCaptureLength: 128) == 256)
        #expect(EventRing.slotBytes(forCaptureLength: 161) == 256)
        #expect(EventRing.slotBytes(forCaptureLength: 162) == 512)
        #expect(EventRing.slotBytes(forCaptureLength: 1) == 128)
        #expect(EventRing.slotBytes(forCaptureLength: 0) == 2048)
        #expect(EventRing.slotBytes(forCaptureLength: 9000) == 2048)
        // The default ring: 4095 flows with the default 128-byte capture in 1 MiB.
        #expect((EventRing.defaultCapacity + 1) * EventRing.slotBytes(forCaptureLength: 128) == 1 << 20)
    }
}
