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

    public var selection: EventSelection { state.selection }
    private var reader: RingReader
    /// What deciding on an entry updates, apart from the reader, so that both can be updated
    /// in one step without copying the reader.
    private var state: State
    public var matcher: EventMatcher { state.matcher }
    /// The matcher's decode errors, read without copying it.
    public var decodeErrors: DecodeErrorCounts { state.matcher.decodeErrors }
    public var lastDecodeError: DecodeError? { state.matcher.lastDecodeError }
    /// Entries this query missed because the writer overwrote them first.
    public private(set) var missed: UInt64 = 0
    /// Matching events returned.
    public var returned: UInt64 { state.returned }

    private struct State {
        let selection: EventSelection
        var matcher: EventMatcher
        var remaining: UInt64
        var done = false
        var returned: UInt64 = 0

        /// One entry: its event if selected and matching; nil otherwise (`done` once past
        /// `--until`).
        mutating func consider(_ entry: RingEntryView) -> EventMatcher.Match? {
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

    public init(ring: EventRing, selection: EventSelection, matcher: EventMatcher) {
        var remaining = UInt64.max
        switch selection.number {
        case .first(let n):
            remaining = n
            reader = ring.reader(at: .oldest)
        case .all where selection.since == nil:
            reader = ring.reader(at: selection.follow ? .newest : .oldest)
        case .all:
            reader = Self.walkBack(ring, selection: selection, wanted: .max, matcher: matcher)
        case .last(let n):
            reader = Self.walkBack(ring, selection: selection, wanted: n, matcher: matcher)
        }
        state = State(selection: selection, matcher: matcher, remaining: remaining)
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
        let follow = state.selection.follow
        while !state.done {
            guard let read = Self.step(&reader, &state, follow: follow, timeout: timeout) else {
                if follow { return .idle }
                state.done = true
                break
            }
            switch read {
            case .missed(let count):
                missed += count
                let builder = state.matcher.builder
                let now = FlowTime(bootNanoseconds: KernelClock.boottimeNow(), offset: builder.wallClockOffset)
                return .lost(LostEvent(time: now, nodeName: builder.nodeName, source: .hubbleRingBuffer,
                                       numEventsLost: count, cpu: nil))
            case .entry(let match?):
                return .event(match)
            case .entry(nil):
                continue
            }
        }
        return .end
    }

    /// One read of the reader, each entry decided on by `state`.
    private static func step(_ reader: inout RingReader, _ state: inout State, follow: Bool,
                             timeout: Duration) -> RingRead<EventMatcher.Match?>? {
        follow ? reader.nextFollow(timeout: timeout) { state.consider($0) } : reader.next { state.consider($0) }
    }
}
