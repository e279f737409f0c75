import Foundation
import Testing

/// --aggregation on a demo node: the binary, real devices, real packets.
@Suite(.serialized, .enabled(if: Privileged.enabled, Privileged.reason))
struct AggregationEndToEndTests {
    func lines(_ text: String, containing needles: String...) -> Int {
        text.split(separator: "\n").filter { line in needles.allSatisfy { line.contains($0) } }.count
    }

    /// Observes five pings from client to server with `extra` options.
    func pings(_ node: DemoNode, _ extra: [String], tag: String) throws -> DemoNode.Observer {
        let fw = try DemoNode.Observer(node: node, extra, tag: tag)
        defer { fw.stop() }
        try node.exec("client", "ping", "-c5", "-i0.2", "-W2", "10.244.0.25")
        usleep(300_000)
        #expect(fw.stop() == 0, "\(fw.errors)")
        return fw
    }

    @Test("five pings: medium (the default) traces one request and one reply, none every packet at every point, a recording every packet; debug messages are never aggregated; the summary has the kernel's time per packet")
    func pingSeries() throws {
        let node = try DemoNode("g")
        defer { node.down() }

        let medium = try pings(node, [], tag: "medium")
        #expect(lines(medium.output, containing: "to-endpoint FORWARDED (ICMPv4 EchoRequest)") == 1, "\(medium.output)")
        #expect(lines(medium.output, containing: "to-endpoint FORWARDED (ICMPv4 EchoReply)") == 1, "\(medium.output)")
        #expect(lines(medium.output, containing: "from-endpoint") == 0, "\(medium.output)")

        let none = try pings(node, ["--aggregation", "none"], tag: "none")
        for point in ["from-endpoint", "to-endpoint"] {
            #expect(lines(none.output, containing: point, "ICMPv4 EchoRequest") == 5, "\(none.output)")
            #expect(lines(none.output, containing: point, "ICMPv4 EchoReply") == 5, "\(none.output)")
        }

        // Writing every packet somewhere makes none the default.
        let recording = node.work.appendingPathComponent("pings.fwrec").path
        let recorded = try pings(node, ["--record", recording], tag: "record")
        #expect(lines(recorded.output, containing: "ICMPv4 Echo") == 20, "\(recorded.output)")
        let replay = try DemoNode.run([DemoNode.binary, "replay", recording])
        #expect(replay.stdout == recorded.output, "\(replay.stderr)")

        // -v at medium: few traces, but every packet's conntrack lookup at both points.
        let debug = try pings(node, ["-v", "--aggregation", "medium"], tag: "debug")
        #expect(lines(debug.output, containing: "Conntrack lookup 1/2", "10.244.0.102", "10.244.0.25") == 20, "\(debug.output)")
        #expect(lines(debug.output, containing: "icmp Echo") == 2, "\(debug.output)")

        for fw in [medium, none, recorded, debug] {
            let summary = fw.errors.split(separator: "\n").first { $0.contains("packets observed") }.map(String.init) ?? fw.errors
            let figure = summary.firstMatch(of: /\((\d+) ns per packet in the kernel\)/).flatMap { Int($0.1) }
            #expect((figure ?? 0) > 0, "\(summary)")
        }
    }

    @Test("without CAP_SYS_ADMIN it observes as before and the summary says why there is no kernel run time")
    func runTimeWithoutSysAdmin() throws {
        let node = try DemoNode("h")
        defer { node.down() }
        let fw = try DemoNode.Observer(node: node, wrapper: ["setpriv", "--bounding-set", "-sys_admin", "--"])
        defer { fw.stop() }
        try node.exec("client", "ping", "-c1", "-W2", "10.244.0.25")
        usleep(300_000)
        #expect(fw.stop() == 0, "\(fw.errors)")
        #expect(fw.output.contains("to-endpoint FORWARDED (ICMPv4 EchoRequest)"), "\(fw.output)")
        let summary = fw.errors.split(separator: "\n").first { $0.contains("packets observed") }.map(String.init) ?? fw.errors
        // The statistics are global: while another process (a test running beside this one)
        // has them on, the kernel counts for this program too, and the figure is real.
        if !summary.contains("ns per packet in the kernel") {
            #expect(summary.contains("(no kernel run time: BPF_ENABLE_STATS: Operation not permitted (EPERM); it needs CAP_SYS_ADMIN)"), "\(summary)")
        }
    }
}

/// Bad aggregation options are refused before anything is loaded (no privileges needed).
@Suite struct AggregationOptionTests {
    @Test("bad --aggregation and --aggregation-interval values name what is wrong", arguments: [
        (["--aggregation", "sometimes"], "--aggregation: 'sometimes' is not one of none, lowest, low, medium, maximum"),
        (["--aggregation-interval", "1500ms"], "--aggregation-interval counts whole seconds, at least 1s"),
        (["--aggregation-interval", "0s"], "--aggregation-interval counts whole seconds, at least 1s"),
    ])
    func badValues(args: [String], message: String) throws {
        let r = try DemoNode.run([DemoNode.binary, "--follow"] + args)
        #expect(r.status == 64 && r.stderr.contains(message), "\(r.status): \(r.stderr)")
    }

    @Test("Cilium's other names for the levels are accepted", arguments: ["disabled", "max", "LOW"])
    func aliases(name: String) throws {
        // The interval is checked after the level: its error means the level passed, and nothing is loaded.
        let r = try DemoNode.run([DemoNode.binary, "--follow", "--aggregation", name, "--aggregation-interval", "1500ms"])
        #expect(r.status == 64 && r.stderr.contains("--aggregation-interval counts whole seconds") && !r.stderr.contains("is not one of"), "\(r.stderr)")
    }
}
