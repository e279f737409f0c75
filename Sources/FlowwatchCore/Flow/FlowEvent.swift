/// What the observer stores and prints: a flow, a datapath debug message, or a count of events
/// that were lost on the way. Hubble keeps the same three in its ring (`v1.Event`) and answers
/// with `GetFlowsResponse` (flow, lost_events) or `GetDebugEventsResponse` (debug_event).
public enum FlowEvent: Sendable, Hashable {
    case flow(Flow)
    case debug(DebugEvent)
    case lost(LostEvent)

    /// When the event happened (flows, debug events) or was noticed (lost events).
    public var time: FlowTime {
        switch self {
        case .flow(let f): f.time
        case .debug(let d): d.time
        case .lost(let l): l.time
        }
    }

    /// The node that observed the event (the response's `node_name`).
    public var nodeName: String {
        switch self {
        case .flow(let f): f.nodeName
        case .debug(let d): d.nodeName
        case .lost(let l): l.nodeName
        }
    }
}

/// Hubble's `flow.DebugEvent`: one `cilium_dbg` message with the endpoint that emitted it and
/// the text `cilium monitor -v` prints for it.
public struct DebugEvent: Sendable, Hashable {
    public var time: FlowTime
    public var nodeName: String
    /// The `DBG_*` subtype (`DebugEventType` uses the same numbers).
    public var type: DebugMessageType
    /// The emitting endpoint; nil when the message came from a program without one (source 0).
    public var source: Flow.Endpoint?
    public var hash: UInt32
    public var arg1: UInt32
    public var arg2: UInt32
    public var arg3: UInt32
    /// The same text as the monitor formatter's `DEBUG:` line.
    public var message: String
    public var cpu: Int32?

    public init(time: FlowTime, nodeName: String = "", type: DebugMessageType, source: Flow.Endpoint? = nil,
                hash: UInt32, arg1: UInt32, arg2: UInt32, arg3: UInt32, message: String, cpu: Int32?) {
        self.time = time
        self.nodeName = nodeName
        self.type = type
        self.source = source
        self.hash = hash
        self.arg1 = arg1
        self.arg2 = arg2
        self.arg3 = arg3
        self.message = message
        self.cpu = cpu
    }
}

/// Hubble's `flow.LostEvent`: events that never became flows, and where they were lost.
public struct LostEvent: Sendable, Hashable {
    /// `flow.LostEventSource`.
    public enum Source: Int32, Sendable, Hashable, CaseIterable {
        case unknown = 0
        /// The kernel's perf ring was full (`PERF_RECORD_LOST`).
        case perfEventRingBuffer = 1
        /// The queue between the reader and the decoder was full.
        case observerEventsQueue = 2
        /// A reader of the flow ring fell behind and events were overwritten.
        case hubbleRingBuffer = 3

        public var name: String {
            switch self {
            case .unknown: "UNKNOWN_LOST_EVENT_SOURCE"
            case .perfEventRingBuffer: "PERF_EVENT_RING_BUFFER"
            case .observerEventsQueue: "OBSERVER_EVENTS_QUEUE"
            case .hubbleRingBuffer: "HUBBLE_RING_BUFFER"
            }
        }
    }

    /// When the loss was noticed (the response's `time`).
    public var time: FlowTime
    public var nodeName: String
    public var source: Source
    public var numEventsLost: UInt64
    /// The CPU whose perf ring lost them; nil for losses that belong to no CPU.
    public var cpu: Int32?
    /// First and last loss of an aggregated count, when known.
    public var first: FlowTime?
    public var last: FlowTime?

    public init(time: FlowTime, nodeName: String = "", source: Source, numEventsLost: UInt64, cpu: Int32? = nil,
                first: FlowTime? = nil, last: FlowTime? = nil) {
        self.time = time
        self.nodeName = nodeName
        self.source = source
        self.numEventsLost = numEventsLost
        self.cpu = cpu
        self.first = first
        self.last = last
    }
}
