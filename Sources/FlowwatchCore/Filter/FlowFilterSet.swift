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
    /// The filters' matchers, unretained: the filters above own them for as long as this set
    /// exists, and a strong reference read from an array is retained and released around every
    /// call, which would cost more than matching an L4 filter.
    private let white: [Unmanaged<FlowMatcher>]
    private let black: [Unmanaged<FlowMatcher>]

    public init(whitelist: [FlowFilter] = [], blacklist: [FlowFilter] = []) {
        self.whitelist = whitelist
        self.blacklist = blacklist
        isEmpty = whitelist.isEmpty && blacklist.isEmpty
        white = whitelist.map { Unmanaged.passUnretained($0.matcher) }
        black = blacklist.map { Unmanaged.passUnretained($0.matcher) }
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.whitelist == b.whitelist && a.blacklist == b.blacklist
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(whitelist)
        hasher.combine(blacklist)
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

    /// Inlined with the matchers' bodies, so that a flow inside an event is read where it lies:
    /// handing the event's payload to a function would first copy the whole flow (343 bytes).
    @inline(__always)
    private func check(_ flow: Flow) -> Bool {
        if !white.isEmpty && !white.contains(where: { $0._withUnsafeGuaranteedRef { $0.matches(flow) } }) {
            return false
        }
        return !black.contains { $0._withUnsafeGuaranteedRef { $0.matches(flow) } }
    }

    public func matches(_ debug: DebugEvent) -> Bool {
        if isEmpty { return true }
        if !white.isEmpty && !white.contains(where: { $0._withUnsafeGuaranteedRef { $0.matches(debug) } }) {
            return false
        }
        return !black.contains { $0._withUnsafeGuaranteedRef { $0.matches(debug) } }
    }
}
