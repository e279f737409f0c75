import Foundation
import FlowwatchAPI
import FlowwatchCore
import FlowwatchDatapath
import FlowwatchServer
import Testing

/// `flowwatch serve` on demo nodes, read by a test client built from our proto (and by the
/// CLI): selectors, filters, status, lost events for a stalled client, two nodes at once.
@Suite(.serialized, .enabled(if: Privileged.enabled, Privileged.reason))
struct ServeTests {
    /// `flowwatch serve` in the node's namespace, serving on a unix socket in the node's work
    /// directory (reachable from the test's own namespace) and on loopback TCP inside it.
    final class Server: @unchecked Sendable {
        let pid: pid_t
        let socket: String
        let stderr: URL
        private var status: Int32?

        init(node: DemoNode, _ extra: [String] = []) throws {
            socket = node.work.appendingPathComponent("fw.sock").path
            stderr = node.work.appendingPathComponent("serve.err")
            let ready = node.work.appendingPathComponent("serve.ready")
            let out = open(node.work.appendingPathComponent("serve.out").path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            let err = open(stderr.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            defer { close(out); close(err) }
            pid = try DemoNode.spawn(["ip", "netns", "exec", node.node, DemoNode.binary, "serve", "--config", node.config,
                                      "--unix-socket", socket, "--listen-address", "127.0.0.1:4244",
                                      "--metrics-address", "127.0.0.1:9965", "--ready-file", ready.path] + extra,
                                     stdout: out, stderr: err)
            let started = DemoNode.waitReady(ready, pid: pid)
            if started.ready { return }
            status = started.exitStatus
            stop()
            throw DemoNode.CommandFailed(command: "flowwatch serve", status: status ?? -1, output: errors)
        }

        var errors: String { (try? String(contentsOf: stderr, encoding: .utf8)) ?? "" }
        var target: ServerTarget { .unix(path: socket) }

        @discardableResult
        func stop() -> Int32 {
            if let status { return status }
            kill(pid, SIGTERM)
            let st = DemoNode.wait(pid)
            status = st
            return st
        }
    }

    static func flows(_ target: ServerTarget, _ request: Observer_GetFlowsRequest, limit: Int = .max,
                      windowSize: Int? = nil) async throws -> [FlowEvent] {
        try await withObserverClient(target, windowSize: windowSize) { client in
            try await client.getFlows(request) { r in
                var out: [FlowEvent] = []
                // A test that waits for events that never come fails instead of hanging.
                let deadline = ContinuousClock.now + .seconds(30)
                for try await m in r.messages {
                    if let e = try FlowEvent(m) { out.append(e) }
                    if out.count >= limit || ContinuousClock.now > deadline { break }
                }
                return out
            }
        }
    }

    static func request(_ selection: EventSelection, _ filter: [String] = []) throws -> Observer_GetFlowsRequest {
        Observer_GetFlowsRequest(selection, filter: try FilterArguments.parse(filter))
    }

    /// The text after the time: two observers measure the clock offset separately.
    static func withoutTimes(_ text: String) -> [String] {
        text.split(separator: "\n").map { line in
            guard let r = line.range(of: ": ") else { return String(line) }
            return String(line[r.upperBound...])
        }
    }

    @Test("serve on a demo node: last N, follow, since/until, allow and deny filters, status; the socket is 0660; --server prints what in-process observation prints")
    func serveOneNode() async throws {
        let node = try DemoNode("s")
        defer { node.down() }
        // Timed all along, so status has the program's cost whenever the traffic came.
        let server = try Server(node: node, ["--aggregation", "none", "--program-timing", "always"])
        defer { server.stop() }
        var st = stat()
        #expect(stat(server.socket, &st) == 0 && st.st_mode & 0o777 == 0o660)
        // An in-process observer beside it, recording the same packets.
        let recording = node.work.appendingPathComponent("beside.fwrec").path
        let beside = try DemoNode.Observer(node: node, ["--record", recording, "-o", "json"], tag: "beside")
        defer { beside.stop() }

        // A follower from before the traffic (since then, so that a busy machine starting its
        // query late still gets the first ones).
        let before = Int64(Date().timeIntervalSince1970 * 1e9)
        async let followed = Self.flows(server.target, try Self.request(EventSelection(number: .all, since: before, follow: true),
                                                                         ["--to-port", "8080"]),
                                        limit: 3)
        try await Task.sleep(for: .milliseconds(300))
        try node.exec("client", "ping", "-c2", "-i0.2", "-W1", "10.244.0.25")
        let middle = Int64(Date().timeIntervalSince1970 * 1e9)
        try node.exec("client", "socat", "-T2", "-", "TCP:10.244.0.25:8080")
        try await Task.sleep(for: .milliseconds(500))
        #expect(beside.stop() == 0)

        let follow = try await followed
        #expect(follow.count == 3 && follow.allSatisfy {
            if case .flow(let f) = $0, case .tcp(_, 8080, _)? = f.l4 { f.nodeName == node.name } else { false }
        }, "\(follow)")

        let all = try await Self.flows(server.target, try Self.request(EventSelection(number: .all), ["--ip", "10.244.0.25"]))
        #expect(all.count >= 8, "\(all)")
        let last = try await Self.flows(server.target, try Self.request(EventSelection(number: .last(3)), ["--ip", "10.244.0.25"]))
        #expect(last == Array(all.suffix(3)))
        let pings = try await Self.flows(server.target, try Self.request(EventSelection(number: .all, since: before, until: middle),
                                                                          ["--ip", "10.244.0.25"]))
        #expect(!pings.isEmpty && pings.allSatisfy { if case .flow(let f) = $0, case .icmpv4? = f.l4 { true } else { false } }, "\(pings)")
        let denied = try await Self.flows(server.target, try Self.request(EventSelection(number: .all),
                                                                           ["--ip", "10.244.0.25", "--not", "--protocol", "icmp"]))
        #expect(!denied.isEmpty && denied.allSatisfy { if case .flow(let f) = $0, case .tcp? = f.l4 { true } else { false } }, "\(denied)")

        // The CLI from the server prints what the observer beside it printed of the same packets.
        let remote = try DemoNode.run([DemoNode.binary, "--server", "unix://\(server.socket)", "--all", "--ip", "10.244.0.25"])
        let local = try DemoNode.run([DemoNode.binary, "replay", recording, "--ip", "10.244.0.25"])
        #expect(remote.status == 0 && local.status == 0, "\(remote.stderr) \(local.stderr)")
        #expect(!remote.stdout.isEmpty && Self.withoutTimes(remote.stdout) == Self.withoutTimes(local.stdout),
                "remote:\n\(remote.stdout)\nlocal:\n\(local.stdout)")
        let status = try DemoNode.run([DemoNode.binary, "status", "--server", "unix://\(server.socket)"])
        #expect(status.status == 0 && status.stdout.contains("Healthcheck (via unix://\(server.socket)): Ok")
                && status.stdout.contains("Current/Max Flows: ") && status.stdout.contains("/4,095 (") && status.stdout.contains("Flows/s: ")
                && status.stdout.contains(" ns per packet in the kernel (over ") && status.stdout.contains(" timed runs)"),
                "\(status.stdout)\(status.stderr)")
        // Over TCP inside the node's namespace, as Hubble Relay would connect.
        let tcp = try DemoNode.run(["ip", "netns", "exec", node.node, DemoNode.binary, "--server", "127.0.0.1:4244", "--last", "2", "-o", "json"])
        #expect(tcp.status == 0 && tcp.stdout.split(separator: "\n").count == 2, "\(tcp.stdout)\(tcp.stderr)")
        let metrics = try DemoNode.run(["ip", "netns", "exec", node.node, "bash", "-c",
                                         "exec 3<>/dev/tcp/127.0.0.1/9965; printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3"])
        #expect(metrics.stdout.contains("hubble_flows_processed_total{protocol=\"TCP\",subtype=\"to-endpoint\",type=\"Trace\",verdict=\"FORWARDED\"}")
                && metrics.stdout.contains("hubble_tcp_flags_total{family=\"IPv4\",flag=\"SYN\"} ")
                && metrics.stdout.contains("flowwatch_attached_devices 4")
                && metrics.stdout.contains("flowwatch_perf_buffer_size_bytes \(DatapathOptions.defaultPerfPages * Int(sysconf(Int32(_SC_PAGESIZE))))")
                && metrics.stdout.contains("flowwatch_perf_buffer_peak_ratio{cpu=\"0\"} "), "\(metrics.stdout)")
        #expect(server.stop() == 0, "\(server.errors)")
        #expect(!FileManager.default.fileExists(atPath: server.socket))
    }

    @Test("a stalled client gets HUBBLE_RING_BUFFER lost events while a reading client and capture lose nothing; a malformed filter gets INVALID_ARGUMENT and the server goes on")
    func slowClient() async throws {
        let node = try DemoNode("l")
        defer { node.down() }
        let server = try Server(node: node, ["--aggregation", "none", "--ring-capacity", "1023"])
        defer { server.stop() }
        let follow = try Self.request(EventSelection(number: .all, follow: true), ["--ip", "10.244.0.25"])
        // ~2,000 events/s (four per ping) for four seconds: a reader that reads keeps up, even a
        // debug build on a busy machine; one stalled for longer than that is lapped.
        let count = 2000
        /// Reads a follow stream until the sentinel (the TCP connection made after the flood) or
        /// 30 s: pings received, lost events' counts.
        @Sendable func read(stallAfterFirst: Bool, windowSize: Int?) async throws -> (pings: Int, lost: UInt64, sentinel: Bool) {
            try await withObserverClient(server.target, windowSize: windowSize) { client in
                try await client.getFlows(follow) { r in
                    var pings = 0
                    var lost: UInt64 = 0
                    let deadline = ContinuousClock.now + .seconds(30)
                    for try await m in r.messages {
                        switch try FlowEvent(m) {
                        case .lost(let l)?:
                            #expect(l.source == .hubbleRingBuffer && l.nodeName == node.name)
                            lost += l.numEventsLost
                        case .flow(let f)?:
                            if case .tcp? = f.l4 { return (pings, lost, true) }
                            pings += 1
                            if pings == 1 && stallAfterFirst { try await Task.sleep(for: .seconds(6)) }
                        default: break
                        }
                        if ContinuousClock.now > deadline { break }
                    }
                    return (pings, lost, false)
                }
            }
        }
        async let fast = read(stallAfterFirst: false, windowSize: nil)
        async let slow = read(stallAfterFirst: true, windowSize: 65_535)
        try await Task.sleep(for: .milliseconds(300))
        try node.exec("client", "ping", "-q", "-i", "0.002", "-c", "\(count)", "-W1", "10.244.0.25")
        try node.exec("client", "socat", "-T2", "-", "TCP:10.244.0.25:8080")
        let f: (pings: Int, lost: UInt64, sentinel: Bool), s: (pings: Int, lost: UInt64, sentinel: Bool)
        do {
            (f, s) = try await (fast, slow)
        } catch {
            Issue.record("\(error); the server said:\n\(server.errors)")
            return
        }
        #expect(f.sentinel && f.lost == 0 && f.pings >= 2 * count, "fast: \(f)")
        #expect(s.sentinel && s.lost > 0 && s.pings < f.pings && UInt64(s.pings) + s.lost >= UInt64(f.pings), "slow: \(s), fast: \(f)")

        var bad = Observer_GetFlowsRequest()
        var filter = Flow_FlowFilter()
        filter.sourcePort = ["eighty"]
        bad.whitelist = [filter]
        await #expect(throws: (any Error).self) { _ = try await Self.flows(server.target, bad) }
        let after = try await Self.flows(server.target, try Self.request(EventSelection(number: .last(1))))
        #expect(after.count == 1)
        #expect(server.stop() == 0)
        #expect(server.errors.contains("lost: perf ring 0"), "\(server.errors)")
    }

    @Test("two nodes, two servers: a client reading both gets each node's flows under its own node name")
    func twoNodes() async throws {
        let a = try DemoNode("a")
        defer { a.down() }
        let b = try DemoNode("b")
        defer { b.down() }
        let serverA = try Server(node: a, ["--aggregation", "none"])
        defer { serverA.stop() }
        let serverB = try Server(node: b, ["--aggregation", "none"])
        defer { serverB.stop() }
        try a.exec("client", "ping", "-c1", "-W1", "10.244.0.25")
        try b.exec("client", "socat", "-T2", "-", "TCP:10.244.0.25:8080")
        try await Task.sleep(for: .milliseconds(500))
        let request = try Self.request(EventSelection(number: .all), ["--ip", "10.244.0.25"])
        async let fromA = Self.flows(serverA.target, request)
        async let fromB = Self.flows(serverB.target, request)
        let (ea, eb) = try await (fromA, fromB)
        #expect(!ea.isEmpty && ea.allSatisfy { $0.nodeName == a.name })
        #expect(!eb.isEmpty && eb.allSatisfy { $0.nodeName == b.name })
        #expect(ea.allSatisfy { if case .flow(let f) = $0, case .icmpv4? = f.l4 { true } else { false } })
        #expect(eb.allSatisfy { if case .flow(let f) = $0, case .tcp? = f.l4 { true } else { false } })
        // The CLI with --print-node-name shows each node's name on its lines.
        for (node, server) in [(a, serverA), (b, serverB)] {
            let r = try DemoNode.run([DemoNode.binary, "--server", "unix://\(server.socket)", "--all", "--ip", "10.244.0.25", "--print-node-name"])
            #expect(r.status == 0 && !r.stdout.isEmpty && r.stdout.split(separator: "\n").allSatisfy { $0.contains(" [\(node.name)]: ") }, "\(r.stdout)")
        }
    }
}
