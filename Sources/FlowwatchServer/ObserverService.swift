import FlowwatchAPI
import FlowwatchCore
import GRPCCore
import SwiftProtobuf
import Synchronization

/// The kind of events a query returns.
public enum EventKind: Sendable {
    /// Flows and lost events (GetFlows).
    case flows
    /// Debug events (GetDebugEvents).
    case debugEvents
}

/// The ring's numbers for ServerStatus and GetNodes.
public struct ObserverStatus: Sendable, Equatable {
    public var nodeName: String
    public var version: String
    /// Events in the ring now, and its capacity.
    public var numFlows: UInt64
    public var maxFlows: UInt64
    /// Flows observed since the start.
    public var seenFlows: UInt64
    public var uptimeNanoseconds: UInt64
    /// Flows per second over the last minute.
    public var flowsRate: Double
    /// The observer program's runs while the kernel timed them, and their total time.
    public var programTimedRuns: UInt64
    public var programRunTimeNanoseconds: UInt64

    public init(nodeName: String, version: String, numFlows: UInt64, maxFlows: UInt64, seenFlows: UInt64,
                uptimeNanoseconds: UInt64, flowsRate: Double, programTimedRuns: UInt64 = 0, programRunTimeNanoseconds: UInt64 = 0) {
        self.nodeName = nodeName
        self.version = version
        self.numFlows = numFlows
        self.maxFlows = maxFlows
        self.seenFlows = seenFlows
        self.uptimeNanoseconds = uptimeNanoseconds
        self.flowsRate = flowsRate
        self.programTimedRuns = programTimedRuns
        self.programRunTimeNanoseconds = programRunTimeNanoseconds
    }
}

/// What the Observer service serves from: the node's ring.
public protocol ObserverBackend: Sendable {
    /// Runs one query on the calling thread, which is the query's own: hands the selected
    /// events, in time order, to `emit` until the selection is exhausted (without `follow`),
    /// `emit` returns false, or `stopped()` is true (checked at least every 100 ms while
    /// following an idle ring). Flows are filtered by `filter`; lost events always pass,
    /// including the ring's own when this reader was lapped.
    func query(_ kind: EventKind, _ selection: EventSelection, filter: FlowFilterSet,
               emit: (FlowEvent) -> Bool, stopped: () -> Bool)

    func status() -> ObserverStatus
}

/// Hubble's `observer.Observer` service over an `ObserverBackend`.
///
/// Each GetFlows and GetDebugEvents stream walks the ring on a thread of its own and hands its
/// responses to the stream through a bounded queue (`EventHandoff`): many clients at once, each
/// with its own filters, and a slow client only ever holds back its own reader, which the ring
/// then laps, so it gets lost events (HUBBLE_RING_BUFFER) while capture and other clients go on.
public struct ObserverService: Observer_Observer.SimpleServiceProtocol {
    public struct Options: Sendable {
        /// Responses queued per stream before its ring reader waits for the client.
        public var streamBuffer = 256
        /// The address clients reach this server at, for GetNodes.
        public var address = ""
        public var tls = false
        public var tlsServerName = ""

        public init() {}
    }

    let backend: any ObserverBackend
    let metrics: FlowMetrics?
    let options: Options
    /// Set when the server stops: following streams end (normally) within 100 ms.
    let shutdown = ShutdownFlag()

    public init(backend: any ObserverBackend, metrics: FlowMetrics? = nil, options: Options = Options()) {
        self.backend = backend
        self.metrics = metrics
        self.options = options
    }

    public func getFlows(request: Observer_GetFlowsRequest, response: RPCWriter<Observer_GetFlowsResponse>,
                         context: ServerContext) async throws {
        let selection = try EventSelection(request)
        let filter: FlowFilterSet
        do {
            filter = try FlowFilterSet(whitelist: request.whitelist, blacklist: request.blacklist)
        } catch {
            throw RPCError(code: .invalidArgument, message: error.description)
        }
        let mask = try FlowFieldMask(request)
        let metrics = metrics
        try await stream(.flows, selection, filter: filter, into: response, context: context) { event in
            if case .lost(let l) = event, l.source == .hubbleRingBuffer { metrics?.lost(.hubbleRingBuffer, l.numEventsLost) }
            guard var r = Observer_GetFlowsResponse(event) else { return nil }
            if let mask, case .flow? = r.responseTypes { r.flow = mask.apply(r.flow) }
            return r
        }
    }

    public func getDebugEvents(request: Observer_GetDebugEventsRequest, response: RPCWriter<Observer_GetDebugEventsResponse>,
                               context: ServerContext) async throws {
        let selection = try EventSelection(request)
        try await stream(.debugEvents, selection, filter: FlowFilterSet(), into: response, context: context) { event in
            guard case .debug(let d) = event else { return nil }
            return Observer_GetDebugEventsResponse(d)
        }
    }

    public func getNodes(request: Observer_GetNodesRequest, context: ServerContext) async throws -> Observer_GetNodesResponse {
        let s = backend.status()
        var node = Observer_Node()
        node.name = s.nodeName
        node.version = s.version
        node.address = options.address
        node.state = .nodeConnected
        var tls = Observer_TLS()
        tls.enabled = options.tls
        tls.serverName = options.tlsServerName
        node.tls = tls
        node.uptimeNs = s.uptimeNanoseconds
        node.numFlows = s.numFlows
        node.maxFlows = s.maxFlows
        node.seenFlows = s.seenFlows
        var out = Observer_GetNodesResponse()
        out.nodes = [node]
        return out
    }

    public func serverStatus(request: Observer_ServerStatusRequest, context: ServerContext) async throws -> Observer_ServerStatusResponse {
        let s = backend.status()
        var out = Observer_ServerStatusResponse()
        out.numFlows = s.numFlows
        out.maxFlows = s.maxFlows
        out.seenFlows = s.seenFlows
        out.uptimeNs = s.uptimeNanoseconds
        out.version = s.version
        out.flowsRate = s.flowsRate
        out.programTimedRuns = s.programTimedRuns
        out.programRunTimeNs = s.programRunTimeNanoseconds
        // A single node, always connected to itself (what Hubble's local server reports too).
        out.numConnectedNodes = Google_Protobuf_UInt32Value(1)
        out.numUnavailableNodes = Google_Protobuf_UInt32Value(0)
        return out
    }

    /// Runs the query on its own thread and writes what `convert` makes of each event.
    /// Conversion happens on that thread too, so many clients use many cores.
    private func stream<Response: Sendable>(
        _ kind: EventKind, _ selection: EventSelection, filter: FlowFilterSet, into writer: RPCWriter<Response>,
        context: ServerContext, convert: @escaping @Sendable (FlowEvent) -> Response?
    ) async throws {
        let handoff = EventHandoff<Response>(capacity: options.streamBuffer)
        let backend = backend
        let shutdown = shutdown
        let started = startThread {
            backend.query(kind, selection, filter: filter, emit: { event in
                guard let response = convert(event) else { return true }
                return handoff.push(response)
            }, stopped: { handoff.isCancelled || shutdown.isSet })
            handoff.finish()
        }
        guard started else { throw RPCError(code: .resourceExhausted, message: "no thread for another stream") }
        defer { handoff.cancel() }
        // gRPC tells a handler that its client went away (or its deadline passed) through the RPC's
        // cancellation handle, not by cancelling the task: without this, a follow stream on an
        // idle ring would keep its reader until the next event failed to write.
        try await withRPCCancellationHandler {
            while let batch = await handoff.next() {
                try await writer.write(contentsOf: batch)
            }
        } onCancelRPC: {
            handoff.cancel()
        }
        if context.cancellation.isCancelled { throw RPCError(code: .cancelled, message: "the client cancelled or its deadline passed") }
        try Task.checkCancellation()
    }
}

/// A flag set once, read from any thread.
final class ShutdownFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .releasing) }
    var isSet: Bool { flag.load(ordering: .acquiring) }
}

extension EventSelection {
    /// A request's selectors with Hubble's checks; a refusal is INVALID_ARGUMENT.
    init(_ r: Observer_GetFlowsRequest) throws(RPCError) {
        try self.init(number: r.number, first: r.first, follow: r.follow,
                      since: r.hasSince ? r.since.unixNanoseconds : nil, until: r.hasUntil ? r.until.unixNanoseconds : nil)
    }

    init(_ r: Observer_GetDebugEventsRequest) throws(RPCError) {
        try self.init(number: r.number, first: r.first, follow: r.follow,
                      since: r.hasSince ? r.since.unixNanoseconds : nil, until: r.hasUntil ? r.until.unixNanoseconds : nil)
    }

    private init(number: UInt64, first: Bool, follow: Bool, since: Int64?, until: Int64?) throws(RPCError) {
        do throws(SelectionError) {
            try self.init(requestNumber: number, first: first, follow: follow, since: since, until: until)
        } catch {
            throw RPCError(code: .invalidArgument, message: error.description)
        }
    }
}

extension Google_Protobuf_Timestamp {
    /// Nanoseconds since the Unix epoch (saturating far outside Int64's range).
    var unixNanoseconds: Int64 {
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return product.addingReportingOverflow(Int64(nanos)).overflow ? .max : product + Int64(nanos)
    }

    init(unixNanoseconds: Int64) {
        self.init(FlowTime(unixNanoseconds: unixNanoseconds))
    }
}
