/// One reader's query over the flow ring: Hubble's selectors and filters applied to what the
/// ring holds, then (with `follow`) to what is written after. Each live printer and each server
/// client has its own; none of them slows the writer or another reader. A query that falls
/// behind the writer gets a lost event with source `HUBBLE_RING_BUFFER` and the exact count.
///
/// Where it starts (Hubble's `newRingReader`): `--first N` (and `--all`) at the oldest entry;
/// `--follow` alone at the newest; otherwise it walks back from the newest with `previous()`,
/// decoding and filtering, until it has N matching events or passed `--since`, and reads forward
/// from there. The walk decodes the entries it passes once more on the way forward: only a
/// query with `--last N` pays for it, and only for the entries it returns.
///
/// Blocking: `next(timeout:)` sleeps on the ring's doorbell while following; call it from a
/// thread of its own (the printer thread, or a server thread per client), not from a Swift
/// concurrency task's cooperative pool.
public struct RingQuery: Sendable {
    /// One step of the query.
    public enum Result: Sendable {
        /// A matching event, in time order.
        case event(EventMatcher.Match)
        /// Entries overwritten before this query read them (`HUBBLE_RING_BUFFER`).
        case lost(LostEvent)
        /// Following and nothing new within the timeout.
        case idle
        /// The selection is complete, or the query caught up and does not follow.
        case end
    }

    public let selection: EventSelection
    private var reader: RingReader
    public private(set) var matcher: EventMatcher
    private var remaining: UInt64
    private var done = false
    /// Entries this query missed because the writer overwrote them first.
    public private(set) var missed: UInt64 = 0
    /// Matching events returned.
    public private(set) var returned: UInt64 = 0

    public init(ring: EventRing, selection: EventSelection, matcher: EventMatcher) {
        self.selection = selection
        self.matcher = matcher
        switch selection.number {
        case .first(let n):
            remaining = n
            reader = ring.reader(at: .oldest)
        case .all where selection.since == nil:
            remaining = .max
            reader = ring.reader(at: selection.follow ? .newest : .oldest)
        case .all:
            remaining = .max
            reader = Self.walkBack(ring, selection: selection, wanted: .max, matcher: matcher)
        case .last(let n):
            remaining = .max
            reader = Self.walkBack(ring, selection: selection, wanted: n, matcher: matcher)
        }
    }

    /// A reader just before the oldest entry the query returns: `wanted` matching events back
    /// from the newest, not before `since`, counting none after `until`.
    private static func walkBack(_ ring: EventRing, selection: EventSelection, wanted: UInt64,
                                 matcher: EventMatcher) -> RingReader {
        var back = ring.reader(at: .newest)
        var start = back
        // A copy: decode errors and filtered-out records are counted once, on the way forward.
        var matcher = matcher
        var found: UInt64 = 0
        while found < wanted {
            guard let entry = back.previous() else { break }
            let time = matcher.wallTime(entry.sample.timestamp)
            if selection.isBeforeRange(time) { break }
            start = back
            if selection.isAfterRange(time) { continue }
            if matcher.match(entry.sample) != nil { found += 1 }
        }
        return start
    }

    /// The next result; with `follow`, waits up to `timeout` for the writer when caught up.
    /// Entries are decoded from the ring's borrowed bytes: nothing is copied or allocated per
    /// entry but the packet bytes of a matching event, in arrays the decoder reuses.
    public mutating func next(timeout: Duration = .milliseconds(100)) -> Result {
        // A local reader, so that the closure may update the rest of the query.
        var reader = self.reader
        defer { self.reader = reader }
        while !done {
            let read = selection.follow ? reader.nextFollow(timeout: timeout) { consider($0) }
                                        : reader.next { consider($0) }
            guard let read else {
                if selection.follow { return .idle }
                done = true
                break
            }
            switch read {
            case .missed(let count):
                missed += count
                let now = FlowTime(bootNanoseconds: KernelClock.boottimeNow(), offset: matcher.builder.wallClockOffset)
                return .lost(LostEvent(time: now, nodeName: matcher.builder.nodeName, source: .hubbleRingBuffer,
                                       numEventsLost: count, cpu: nil))
            case .entry(let match?):
                return .event(match)
            case .entry(nil):
                continue
            }
        }
        return .end
    }

    /// One entry: its event if selected and matching; nil otherwise (`done` once past `--until`).
    private mutating func consider(_ entry: RingEntryView) -> EventMatcher.Match? {
        let time = matcher.wallTime(entry.timestamp)
        if selection.isBeforeRange(time) { return nil }
        if selection.isAfterRange(time) {
            // --until: the ring is in time order, so nothing later matches either.
            done = true
            return nil
        }
        guard let match = matcher.match(entry) else { return nil }
        returned += 1
        remaining -= 1
        if remaining == 0 { done = true }
        return match
    }
}
