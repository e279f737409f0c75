import Foundation
import FlowwatchAPI
import FlowwatchCore
import FlowwatchServer
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import GRPCProtobuf
import Testing

/// A server on a unix socket (and optionally loopback TCP) in a temporary directory, serving
/// an `ArrayBackend`; stopped and removed on every path by `close()`.
final class TestServer: @unchecked Sendable {
    let directory: URL
    let backend: ArrayBackend
    let server: ObserverServer
    let metrics = FlowMetrics()
    var socket: String { directory.appendingPathComponent("fw.sock").path }

    init(events: [FlowEvent], tcp: Bool = false, tls: TLSFiles? = nil, nodeName: String = "test-node",
         streamBuffer: Int = 256) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fw-server-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        backend = ArrayBackend(nodeName: nodeName, events: events)
        var options = ObserverService.Options()
        options.streamBuffer = streamBuffer
        let service = ObserverService(backend: backend, metrics: metrics, options: options)
        let configuration = ServerConfiguration(unixSocket: directory.appendingPathComponent("fw.sock").path,
                                                tcpAddress: tcp ? "127.0.0.1:0" : nil, tls: tls)
        server = ObserverServer(configuration: configuration, service: service)
        do {
            try await server.start()
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }

    var tcpTarget: ServerTarget {
        let address = server.boundAddresses.withLock { $0 }.first { !$0.hasPrefix("unix:") }!
        return try! ServerTarget(address)
    }

    /// Stops without waiting (a `defer` cannot await); the listeners close in the background.
    func close() {
        server.beginStop()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// Collects a GetFlows stream (ends when the server ends it or after `limit` responses).
func getFlows(_ target: ServerTarget, tls: ClientTLS? = nil, _ request: Observer_GetFlowsRequest,
              limit: Int = .max) async throws -> [Observer_GetFlowsResponse] {
    try await withObserverClient(target, tls: tls) { client in
        try await client.getFlows(request) { response in
            var out: [Observer_GetFlowsResponse] = []
            // A test that waits for events that never come fails instead of hanging.
            let deadline = ContinuousClock.now + .seconds(30)
            for try await r in response.messages {
                out.append(r)
                if out.count >= limit || ContinuousClock.now > deadline { break }
            }
            return out
        }
    }
}

@Suite(.serialized) struct ServiceTests {
    static let events: [FlowEvent] = (try? Samples.events("tcp")) ?? []
    static var flowsAndLost: [FlowEvent] { events.filter { if case .debug = $0 { false } else { true } } }

    @Test("GetFlows over the unix socket: last N, first N, all; the socket is mode 0660")
    func lastFirstAll() async throws {
        let s = try await TestServer(events: Self.events)
        defer { s.close() }
        var st = stat()
        #expect(stat(s.socket, &st) == 0 && st.st_mode & 0o777 == 0o660 && st.st_mode & S_IFMT == S_IFSOCK)
        let target = ServerTarget.unix(path: s.socket)
        var request = Observer_GetFlowsRequest()
        request.number = 5
        let last = try await getFlows(target, request).map { try FlowEvent($0)! }
        #expect(last == Array(Self.flowsAndLost.suffix(5)))
        request.first = true
        let first = try await getFlows(target, request).map { try FlowEvent($0)! }
        #expect(first == Array(Self.flowsAndLost.prefix(5)))
        let all = try await getFlows(target, Observer_GetFlowsRequest()).map { try FlowEvent($0)! }
        #expect(all == Self.flowsAndLost)
        let r = try await getFlows(target, request).first!
        #expect(r.nodeName == Self.events[0].nodeName && r.hasTime)
    }

    @Test("since/until, whitelist and blacklist select what the same filters select in-process")
    func sinceUntilAndFilters() async throws {
        let s = try await TestServer(events: Self.events)
        defer { s.close() }
        let target = ServerTarget.unix(path: s.socket)
        let flows = Self.flowsAndLost
        let since = flows[2].time, until = flows[flows.count - 3].time
        func nanos(_ t: FlowTime) -> Int64 { t.seconds * 1_000_000_000 + Int64(t.nanos) }
        let filter = try FilterArguments.parse(["--to-port", "8080", "--not", "--tcp-flags", "SYN"])
        let request = Observer_GetFlowsRequest(EventSelection(number: .all, since: nanos(since), until: nanos(until)), filter: filter)
        let got = try await getFlows(target, request).map { try FlowEvent($0)! }
        let expected = flows.filter { $0.time >= since && $0.time <= until && filter.matches($0) }
        #expect(!expected.isEmpty && got == expected)
    }

    @Test("follow: new events arrive as they are stored; each client has its own filters; a stalled client holds back nobody")
    func followManyClients() async throws {
        let s = try await TestServer(events: [], streamBuffer: 4)
        defer { s.close() }
        let target = ServerTarget.unix(path: s.socket)
        let flows = Self.flowsAndLost.filter { if case .flow = $0 { true } else { false } }
        let toServer = try FilterArguments.parse(["--to-port", "8080"])
        let expectedFiltered = flows.filter { toServer.matches($0) }

        // A client that opens a follow stream and never reads it.
        let stalled = Task {
            try await withObserverClient(target) { client in
                var r = Observer_GetFlowsRequest()
                r.follow = true
                return try await client.getFlows(r) { _ in try await Task.sleep(for: .seconds(30)) }
            }
        }
        defer { stalled.cancel() }
        // `since` the epoch: a stream that starts after the events are stored (a busy machine can
        // take longer than the pause below) still reads them from the ring, where following `--all`
        // alone would start at the newest and wait forever. A minute at most, in any case.
        let follow = EventSelection(number: .all, since: 0, follow: true)
        async let all = withTimeout(.seconds(60)) {
            try await getFlows(target, Observer_GetFlowsRequest(follow, filter: FlowFilterSet()), limit: flows.count)
        }
        async let filtered = withTimeout(.seconds(60)) {
            try await getFlows(target, Observer_GetFlowsRequest(follow, filter: toServer), limit: expectedFiltered.count)
        }
        try await Task.sleep(for: .milliseconds(300))
        for e in flows { s.backend.append(e) }
        let (a, f) = try await (all, filtered)
        #expect(try a.map { try FlowEvent($0)! } == flows)
        #expect(try f.map { try FlowEvent($0)! } == expectedFiltered)
    }

    @Test("ServerStatus and GetNodes report the backend's numbers")
    func status() async throws {
        let s = try await TestServer(events: Self.events, nodeName: "node-a")
        defer { s.close() }
        let (status, nodes) = try await withObserverClient(.unix(path: s.socket)) { client in
            (try await client.serverStatus(Observer_ServerStatusRequest()), try await client.getNodes(Observer_GetNodesRequest()))
        }
        #expect(status.numFlows == UInt64(Self.events.count) && status.maxFlows == 4095 && status.seenFlows == UInt64(Self.events.count))
        #expect(status.uptimeNs == 1_000_000_000 && status.flowsRate == 1.5 && status.version == "flowwatch test")
        #expect(status.numConnectedNodes.value == 1 && status.numUnavailableNodes.value == 0)
        #expect(nodes.nodes.count == 1 && nodes.nodes[0].name == "node-a" && nodes.nodes[0].state == .nodeConnected)
    }

    @Test("GetDebugEvents streams the debug events only")
    func debugEvents() async throws {
        let events = try Samples.events("ping")
        let s = try await TestServer(events: events)
        defer { s.close() }
        let debug = try await withObserverClient(.unix(path: s.socket)) { client in
            try await client.getDebugEvents(Observer_GetDebugEventsRequest()) { r in
                var out: [Observer_GetDebugEventsResponse] = []
                for try await m in r.messages { out.append(m) }
                return out
            }
        }
        let expected = events.compactMap { if case .debug(let d) = $0 { d } else { nil } }
        #expect(!expected.isEmpty)
        #expect(debug.map { DebugEvent($0.debugEvent, nodeName: $0.nodeName, time: FlowTime($0.time)) } == expected)
    }

    @Test("bad requests get INVALID_ARGUMENT with the reason; undecodable bytes a clear status; the server keeps serving")
    func badRequests() async throws {
        let s = try await TestServer(events: Self.events)
        defer { s.close() }
        let target = ServerTarget.unix(path: s.socket)
        var request = Observer_GetFlowsRequest()
        request.first = true
        request.follow = true
        await #expect { _ = try await getFlows(target, request) } throws: { error in
            (error as? RPCError)?.code == .invalidArgument && (error as? RPCError)?.message == "first cannot be combined with follow"
        }
        var filter = Flow_FlowFilter()
        filter.sourcePod = ["/"]
        request = Observer_GetFlowsRequest()
        request.whitelist = [filter]
        await #expect { _ = try await getFlows(target, request) } throws: { error in
            (error as? RPCError)?.code == .invalidArgument && (error as? RPCError)?.message.contains("whitelist[0]: source_pod") == true
        }
        // Bytes that are no GetFlowsRequest (a field 1 varint cut short).
        let code: RPCError.Code? = try await withGRPCClient(
            transport: HTTP2ClientTransport.Posix(target: .unixDomainSocket(path: s.socket), transportSecurity: .plaintext)
        ) { client in
            do {
                try await client.serverStreaming(request: ClientRequest(message: [0x08, 0xff]), descriptor: Observer_Observer.Method.GetFlows.descriptor,
                                                 serializer: RawBytes(), deserializer: ProtobufDeserializer<Observer_GetFlowsResponse>(),
                                                 options: .defaults) { r in for try await _ in r.messages {} }
                return nil
            } catch let error as RPCError {
                return error.code
            }
        }
        #expect(code == .invalidArgument || code == .internalError, "\(String(describing: code))")
        let after = try await getFlows(target, Observer_GetFlowsRequest())
        #expect(after.count == Self.flowsAndLost.count)
    }

    @Test("field_mask: flows carry only the listed fields; lost events, node name and time stay whole; a path that is no Flow field is INVALID_ARGUMENT")
    func fieldMask() async throws {
        let s = try await TestServer(events: Self.events)
        defer { s.close() }
        let target = ServerTarget.unix(path: s.socket)
        var request = Observer_GetFlowsRequest()
        // Duplicates and a path under another path are Hubble's normalisation's business; `l7` is a
        // Hubble field flowwatch never fills, so it selects nothing.
        request.fieldMask.paths = ["verdict", "source.pod_name", "l4", "l4.TCP.flags", "verdict", "l7"]
        let masked = try await getFlows(target, request)
        let whole = try await getFlows(target, Observer_GetFlowsRequest())
        #expect(masked.count == whole.count && !masked.isEmpty)
        var flows = 0
        for (m, w) in zip(masked, whole) {
            #expect(m.nodeName == w.nodeName && m.time == w.time)
            guard case .flow(let full)? = w.responseTypes else {
                #expect(m == w, "lost events are not masked")
                continue
            }
            flows += 1
            var expected = Flow_Flow()
            expected.verdict = full.verdict
            expected.l4 = full.l4
            if !full.source.podName.isEmpty { expected.source.podName = full.source.podName }
            #expect(m.flow.verdict == expected.verdict && m.flow.l4 == expected.l4 && m.flow.source.podName == expected.source.podName)
            // Nothing else: the same flow once the kept fields are cleared is empty.
            var rest = m.flow
            rest.verdict = .unknown
            rest.clearL4()
            rest.source.podName = ""
            if rest.source == Flow_Endpoint() { rest.clearSource() }
            #expect(rest == Flow_Flow(), "\(rest)")
        }
        #expect(flows > 0 && masked.contains { !$0.flow.source.podName.isEmpty && $0.flow.l4.tcp.hasFlags })

        // Only fields flowwatch never fills: empty flows, as Hubble sends when those are empty.
        request.fieldMask.paths = ["uuid"]
        #expect(try await getFlows(target, request).allSatisfy { $0.lostEvents.numEventsLost > 0 || $0.flow == Flow_Flow() })
        // An empty mask sends flows whole.
        request.fieldMask.paths = []
        #expect(try await getFlows(target, request) == whole)

        for bad in ["source.pod", "nosuchfield", "source.labels.x", "IP..source", "time.seconds.x"] {
            request.fieldMask.paths = ["verdict", bad]
            await #expect { _ = try await getFlows(target, request) } throws: { error in
                (error as? RPCError)?.code == .invalidArgument && (error as? RPCError)?.message == "field_mask: '\(bad)' is not a field of flow.Flow"
            }
        }
        #expect(try await getFlows(target, Observer_GetFlowsRequest()).count == whole.count)
    }

    @Test("a following stream on an idle ring lets its reader go as soon as the client goes away or its deadline passes")
    func idleFollowReleased() async throws {
        let s = try await TestServer(events: Self.events)
        defer { s.close() }
        let target = ServerTarget.unix(path: s.socket)
        let request = Observer_GetFlowsRequest.with {
            $0.follow = true
            $0.number = 1
        }
        // The client reads the one event there is, then waits on an idle ring until cancelled.
        let client = Task {
            try await withObserverClient(target) { observer in
                try await observer.getFlows(request) { response in
                    for try await _ in response.messages {}
                }
            }
        }
        try await waitFor { s.backend.activeQueries == 1 }
        client.cancel()
        _ = await client.result
        let released = ContinuousClock.now
        try await waitFor { s.backend.activeQueries == 0 }
        #expect(ContinuousClock.now - released < .seconds(2))

        // A deadline ends the stream the same way, from the server's side. On a busy machine a
        // deadline can pass before the query reaches the server, which then has nothing to
        // release: the call is made again until one reaches it.
        var options = CallOptions.defaults
        options.timeout = .seconds(1)
        var reached = false
        for _ in 0..<10 where !reached {
            let before = s.backend.queries
            let outcome: RPCError.Code? = try await withObserverClient(target) { observer in
                do {
                    try await observer.getFlows(request, options: options) { response in for try await _ in response.messages {} }
                    return nil
                } catch let error as RPCError {
                    return error.code
                }
            }
            let ended = ContinuousClock.now
            #expect(outcome == .deadlineExceeded || outcome == .cancelled, "\(String(describing: outcome))")
            try await waitFor { s.backend.activeQueries == 0 }
            reached = s.backend.queries > before
            if reached { #expect(ContinuousClock.now - ended < .seconds(2)) }
        }
        #expect(reached, "no query reached the server before its deadline in 10 calls")
    }

    @Test("metrics: Hubble's names and labels in the Prometheus text format")
    func metricsText() throws {
        let metrics = FlowMetrics()
        for name in Samples.names { for e in try Samples.events(name) { metrics.record(e) } }
        metrics.lost(.hubbleRingBuffer, 3)
        let text = metrics.render(extra: [FlowMetrics.Sample(name: "flowwatch_attached_devices", help: "Devices observed", value: 3)])
        #expect(text.contains("hubble_flows_processed_total{protocol=\"TCP\",subtype=\"to-endpoint\",type=\"Trace\",verdict=\"FORWARDED\"} "))
        #expect(text.contains("hubble_flows_processed_total{protocol=\"ICMPv4\",subtype=\"from-endpoint\",type=\"Trace\",verdict=\"FORWARDED\"} "))
        #expect(text.contains("hubble_tcp_flags_total{family=\"IPv4\",flag=\"SYN\"} "))
        #expect(text.contains("hubble_tcp_flags_total{family=\"IPv4\",flag=\"SYN-ACK\"} "))
        #expect(text.contains("hubble_lost_events_total{source=\"hubble_ring_buffer\"} 3\n"))
        #expect(text.contains("hubble_lost_events_total{source=\"perf_event_ring_buffer\"} "))
        #expect(!text.contains("hubble_lost_events_total{source=\"perf_event_ring_buffer\"} 0\n"))
        #expect(text.contains("# TYPE flowwatch_attached_devices gauge\nflowwatch_attached_devices 3\n"))
    }
}

/// Sends the given bytes as the request message, whatever they are.
struct RawBytes: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
}

/// Waits until `condition` holds, failing after 10 s.
func waitFor(_ condition: () -> Bool, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let deadline = ContinuousClock.now + .seconds(10)
    while !condition() {
        if ContinuousClock.now > deadline {
            Issue.record("condition not met within 10 s", sourceLocation: sourceLocation)
            return
        }
        try await Task.sleep(for: .milliseconds(10))
    }
}
