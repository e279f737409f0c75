import Synchronization

/// What a reader gets for one step forward: an entry, or how many entries the writer
/// overwrote before the reader got to them.
public enum RingRead<Entry> {
    case entry(Entry)
    /// Entries overwritten before this reader read them: report them as a lost event with
    /// source "ring" (Hubble's `HUBBLE_RING_BUFFER`). Exact: over a reader's life, entries
    /// returned plus missed counts equal the positions it advanced over.
    case missed(UInt64)
}

extension RingRead: Sendable where Entry: Sendable {}
extension RingRead: Equatable where Entry: Equatable {}

/// One entry copied out of the ring.
public struct RingEntry: Sendable, Equatable {
    /// The entry's position: 0 for the first write ever, increasing by one per write.
    public var position: UInt64
    /// The record; for a sample longer than a slot, its first `sampleBytesPerSlot` bytes.
    public var sample: RawSample
    /// The sample's length when it was written (0 for lost records).
    public var originalLength: Int
    /// The ring kept only the first bytes of a longer sample: the lengths inside the message
    /// describe more bytes than `sample` holds.
    public var truncatedInRing: Bool {
        if case .event(let bytes) = sample.kind { originalLength > bytes.count } else { false }
    }
}

/// One entry as borrowed bytes, valid only inside the closure it is passed to: decode it there
/// (`MonitorDecoder.decodeMessage(view.bytes)`) without allocating.
public struct RingEntryView {
    public var position: UInt64
    public var cpu: UInt32
    public var timestamp: UInt64
    /// The sample's bytes as the ring holds them (empty for a lost record).
    public var bytes: UnsafeRawBufferPointer
    /// The sample's length when it was written (0 for lost records).
    public var originalLength: Int
    /// For a lost record, the samples the kernel dropped; nil for a sample.
    public var lostCount: UInt64?

    /// The ring kept only the first bytes of a longer sample.
    public var truncatedInRing: Bool { originalLength > bytes.count }

    /// Copies the view out of the ring's scratch memory.
    public func makeEntry() -> RingEntry {
        let kind: RawSample.Kind = if let lostCount { .lost(lostCount) } else { .event(Array(bytes)) }
        return RingEntry(position: position, sample: RawSample(cpu: cpu, timestamp: timestamp, kind: kind),
                         originalLength: originalLength)
    }
}

/// A cursor into an `EventRing`, between two positions: `next()` reads the entry after it,
/// `previous()` the one before it. A value: copy it to keep a place (e.g. walk back for
/// `--last N` on a copy, then follow from the original). Readers never block the writer and
/// never see a torn or repeated entry; one that falls behind learns exactly how many entries it
/// missed. A reader is not shared between threads while it reads; make one per thread.
///
/// Why missed counts are exact: the cursor only moves forward in `next()`, and each step either
/// returns the entry at the cursor (after the seqlock proved it whole) and moves one past it,
/// or counts the contiguous positions from the cursor to the oldest entry still in the ring and
/// moves there. So every position a reader passes is either returned once or counted once.
///
/// The closure-taking variants are `@inlinable` shells around non-generic steps, so that a
/// caller in another module gets them specialized (no generic dispatch, the scratch copy on its
/// stack) while the seqlock itself stays internal.
public struct RingReader: Sendable {
    public let ring: EventRing
    /// The position `next()` reads.
    public private(set) var position: UInt64
    /// The write position as last loaded. Reloaded only when the reader catches up with it, so
    /// that a reader that is behind does not pull the cache line the writer keeps writing on
    /// every entry; a stale value is safe, since the slot's sequence (not this) decides whether
    /// an entry is still there.
    private var knownWritten: UInt64
    /// The ring's immutable geometry, copied so that reading it does not touch the cache line
    /// the writer keeps writing.
    private let geometry: Geometry
    private let capacity: UInt64
    /// Bytes of stack a read copies the slot's sample into.
    @usableFromInline let scratchBytes: Int
    /// The ring's interruptions (`EventRing.wakeFollowers`) this reader has answered: one made
    /// since ends its next follow at once, even one made before the follow began.
    private var interruptionsSeen: UInt64

    init(ring: EventRing, position: UInt64, written: UInt64) {
        self.ring = ring
        self.position = position
        interruptionsSeen = ring.doorbell.interruptions
        knownWritten = written
        geometry = ring.geometry
        capacity = UInt64(ring.capacity)
        scratchBytes = ring.geometry.dataBytes
    }

    /// The outcome of one step, before the caller's closure sees the entry.
    @usableFromInline
    enum Step {
        case caughtUp
        case missed(UInt64)
        case entry(RingEntryView)
    }

    // MARK: - Forward

    /// The next entry, `.missed(n)` if the writer overwrote the next `n`, or nil when the reader
    /// has caught up with the writer.
    public mutating func next() -> RingRead<RingEntry>? {
        next { $0.makeEntry() }
    }

    /// Like `next()`, but hands the entry to `body` as borrowed bytes: no allocation.
    @inlinable
    public mutating func next<Result, Failure: Error>(
        _ body: (RingEntryView) throws(Failure) -> Result
    ) throws(Failure) -> RingRead<Result>? {
        try withUnsafeTemporaryAllocation(byteCount: scratchBytes, alignment: 8) {
            (scratch) throws(Failure) -> RingRead<Result>? in
            switch step(into: scratch) {
            case .caughtUp: return nil
            case .missed(let count): return .missed(count)
            case .entry(let view): return .entry(try body(view))
            }
        }
    }

    /// Like `next()`, but when caught up waits up to `timeout` for the writer; nil if nothing
    /// was written in time. Blocks the calling thread: call it from a thread of its own, not
    /// from a Swift concurrency task.
    public mutating func nextFollow(timeout: Duration) -> RingRead<RingEntry>? {
        nextFollow(timeout: timeout) { $0.makeEntry() }
    }

    /// `nextFollow(timeout:)` with the entry as borrowed bytes.
    @inlinable
    public mutating func nextFollow<Result, Failure: Error>(
        timeout: Duration, _ body: (RingEntryView) throws(Failure) -> Result
    ) throws(Failure) -> RingRead<Result>? {
        try withUnsafeTemporaryAllocation(byteCount: scratchBytes, alignment: 8) {
            (scratch) throws(Failure) -> RingRead<Result>? in
            switch stepFollow(into: scratch, timeout: timeout) {
            case .caughtUp: return nil
            case .missed(let count): return .missed(count)
            case .entry(let view): return .entry(try body(view))
            }
        }
    }

    /// One step forward, the entry copied into `scratch`.
    @usableFromInline
    mutating func step(into scratch: UnsafeMutableRawBufferPointer) -> Step {
        if position >= knownWritten {
            knownWritten = ring.writePosition.load(ordering: .acquiring)
            guard position < knownWritten else { return .caughtUp }
        }
        let oldest = oldestPosition(written: knownWritten)
        if position < oldest {
            defer { position = oldest }
            return .missed(oldest - position)
        }
        if let view = read(position, into: scratch) {
            position += 1
            return .entry(view)
        }
        // Overwritten: resume at the oldest entry still in the ring (at least one past, so the
        // reader always makes progress) and count the gap.
        knownWritten = ring.writePosition.load(ordering: .acquiring)
        let resume = max(oldestPosition(written: knownWritten), position + 1)
        defer { position = resume }
        return .missed(resume - position)
    }

    /// Steps forward, sleeping on the ring's doorbell while caught up (lingering first, see
    /// `RingDoorbell`); `.caughtUp` once `timeout` has passed, or at once when the ring was
    /// interrupted since the last follow (`EventRing.wakeFollowers`: the caller has something
    /// else to look at). The count is part of what the sleep re-checks under the doorbell's
    /// mutex, so an interruption cannot fall between the check and the sleep.
    @usableFromInline
    mutating func stepFollow(into scratch: UnsafeMutableRawBufferPointer, timeout: Duration) -> Step {
        // The clock is read only once caught up: a reader that keeps up under load finds an
        // entry on every call.
        let first = step(into: scratch)
        guard case .caughtUp = first else { return first }
        let deadline = RingDoorbell.Deadline(after: timeout)
        var lingered = false
        while !deadline.hasPassed {
            let seen = interruptionsSeen
            let now = ring.doorbell.interruptions
            if now != seen {
                interruptionsSeen = now
                return .caughtUp
            }
            if !lingered {
                lingered = true
                ring.doorbell.linger(until: deadline)
            } else {
                let position = self.position
                let ring = self.ring
                ring.doorbell.wait(until: deadline) {
                    ring.writePosition.load(ordering: .acquiring) <= position && ring.doorbell.interruptions == seen
                }
            }
            let step = step(into: scratch)
            guard case .caughtUp = step else { return step }
        }
        return .caughtUp
    }

    // MARK: - Backward

    /// The entry before the cursor, moving the cursor back over it; nil at the oldest entry
    /// still in the ring. Starting from `.newest`, the first call returns the newest entry. If
    /// the writer overwrites the entry before it is read, the walk ends there: everything older
    /// is gone too.
    public mutating func previous() -> RingEntry? {
        previous { $0.makeEntry() }
    }

    /// `previous()` with the entry as borrowed bytes.
    @inlinable
    public mutating func previous<Result, Failure: Error>(
        _ body: (RingEntryView) throws(Failure) -> Result
    ) throws(Failure) -> Result? {
        try withUnsafeTemporaryAllocation(byteCount: scratchBytes, alignment: 8) {
            (scratch) throws(Failure) -> Result? in
            guard let view = stepBack(into: scratch) else { return nil }
            return try body(view)
        }
    }

    /// One step backward, the entry copied into `scratch`.
    @usableFromInline
    mutating func stepBack(into scratch: UnsafeMutableRawBufferPointer) -> RingEntryView? {
        let written = ring.writePosition.load(ordering: .acquiring)
        guard position > oldestPosition(written: written),
              let view = read(position - 1, into: scratch) else { return nil }
        position -= 1
        return view
    }

    /// The oldest readable position when `written` entries have been written.
    @inline(__always)
    private func oldestPosition(written: UInt64) -> UInt64 {
        written > capacity ? written - capacity : 0
    }

    // MARK: - One slot

    /// Copies the entry at `target` into `scratch` and returns it, or nil if the writer has
    /// started overwriting the slot. `target` must have been written (below a write position
    /// the caller loaded with acquire ordering).
    ///
    /// The seqlock reader: the sequence (acquire) must be `2·target + 2`; header and data words
    /// are loaded relaxed; an acquire fence orders those loads before the sequence is loaded
    /// again, and only an unchanged sequence proves that no word came from a later write. The
    /// length read from the header is clamped to the slot before it sizes the copy, since it
    /// may be torn until the re-check; callers only ever see validated bytes.
    @inline(__always)
    private func read(_ target: UInt64, into scratch: UnsafeMutableRawBufferPointer) -> RingEntryView? {
        let slot = geometry.slot(target)
        let sequence = slot.loadSequenceAcquiring()
        guard sequence == Slot.sequence(completed: target) else { return nil }
        let timestamp = slot.load(Slot.timestampWord)
        let source = slot.load(Slot.sourceWord)
        let length = slot.load(Slot.lengthWord)
        let isLost = source & Slot.lostFlag != 0
        let stored = isLost ? 0 : Int(min(length, UInt64(geometry.dataBytes)))
        if let base = scratch.baseAddress { slot.loadData(byteCount: stored, into: base) }
        atomicMemoryFence(ordering: .acquiring)
        guard slot.load(Slot.sequenceWord) == sequence else { return nil }
        return RingEntryView(
            position: target, cpu: UInt32(truncatingIfNeeded: source), timestamp: timestamp,
            bytes: UnsafeRawBufferPointer(rebasing: scratch[..<stored]),
            originalLength: isLost ? 0 : Int(truncatingIfNeeded: length), lostCount: isLost ? length : nil)
    }
}
