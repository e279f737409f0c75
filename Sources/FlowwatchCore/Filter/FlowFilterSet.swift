/// What `hubble observe` sends as `GetFlowsRequest.whitelist` and `.blacklist`, applied as
/// Hubble's `filters.Apply` does: an event is shown when the whitelist is empty or one of its
/// filters matches, and no blacklist filter matches. Lost events are always shown: they report
/// that events are missing, whatever those were (Hubble's event type filter lets them through
/// for the same reason). Debug events: see `FlowFilter.matches(_: DebugEvent)`.
public struct FlowFilterSet: Sendable, Hashable {
    public let whitelist: [FlowFilter]
    public let blacklist: [FlowFilter]
    /// No filter at all: every event is shown, and callers may skip work that only a filter
    /// needs (building a flow for monitor output).
    public let isEmpty: Bool

    public init(whitelist: [FlowFilter] = [], blacklist: [FlowFilter] = []) {
        self.whitelist = whitelist
        self.blacklist = blacklist
        isEmpty = whitelist.isEmpty && blacklist.isEmpty
    }

    /// Whether the event is shown (printed, stored, written to capture files).
    public func matches(_ event: FlowEvent) -> Bool {
        if isEmpty { return true }
        switch event {
        case .flow(let flow): return check(flow)
        case .debug(let debug): return matches(debug)
        case .lost: return true
        }
    }

    public func matches(_ flow: Flow) -> Bool {
        isEmpty || check(flow)
    }

    /// Inlined, so that a flow inside an event is not copied (see `FlowFilter.check`).
    @inline(__always)
    private func check(_ flow: borrowing Flow) -> Bool {
        if !whitelist.isEmpty && !whitelist.containsInPlace(where: { $0.check(flow) }) { return false }
        return !blacklist.containsInPlace { $0.check(flow) }
    }

    public func matches(_ debug: DebugEvent) -> Bool {
        if isEmpty { return true }
        if !whitelist.isEmpty && !whitelist.containsInPlace(where: { $0.matches(debug) }) { return false }
        return !blacklist.containsInPlace { $0.matches(debug) }
    }
}
