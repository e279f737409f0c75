import Foundation
import Testing

/// The flowwatch binary on a demo node built in namespaces: real devices, real packets.
@Suite(.serialized, .enabled(if: Privileged.enabled, Privileged.reason))
struct EndToEndTests {
    /// The lines of `output` that contain each needle, in order; nil where one is missing.
    func inOrder(_ output: String, _ needles: [String]) -> String? {
        var lines = output.split(separator: "\n")[...]
        for needle in needles {
            guard let i = lines.firstIndex(where: { $0.contains(needle) }) else { return needle }
            lines = lines[(i + 1)...]
        }
        return nil
    }

    @Test("seed 003: ping between two pods gives Cilium's event sequence, and TCP becomes established")
    func pingAndTCP() throws {
        let node = try DemoNode("e")
        defer { node.down() }
        let fw = try DemoNode.Observer(node: node, ["-v"])
        defer { fw.stop() }
        try node.exec("client", "ping", "-c1", "-W2", "10.244.0.25")
        try node.exec("client", "socat", "-T2", "-", "TCP:10.244.0.25:8080")
        usleep(300_000)
        #expect(fw.stop() == 0)
        let out = fw.output
        let lxcServer = try node.lxc("server"), lxcClient = try node.lxc("client")

        let request = [
            "FROM 2073 DEBUG: Conntrack lookup 1/2: src=10.244.0.102:",
            "FROM 2073 DEBUG: Conntrack lookup 2/2: nexthdr=1 flags=1",
            "FROM 2073 DEBUG: CT verdict: New, revnat=0",
            "FROM 2073 DEBUG: Successfully mapped addr=10.244.0.25 to identity=11575",
            "FROM 2073 DEBUG: Conntrack create: proxy-port=0 revnat=0 src-identity=22099",
            "FROM 2073 DEBUG: Attempting local delivery for container id 149 from seclabel 22099",
            "FROM 149 DEBUG: Conntrack lookup 1/2: src=10.244.0.102:",
            "FROM 149 DEBUG: Conntrack lookup 2/2: nexthdr=1 flags=0",
            "FROM 149 DEBUG: CT verdict: New, revnat=0",
            "FROM 149 DEBUG: Conntrack create: proxy-port=0 revnat=0 src-identity=22099",
            "-> endpoint 149 flow 0x",
        ]
        #expect(inOrder(out, request) == nil, "request sequence\n\(out)")
        #expect(out.contains("identity 22099->11575 state new ifindex \(lxcServer) orig-ip 10.244.0.102: 10.244.0.102 -> 10.244.0.25 icmp EchoRequest"), "\(out)")
        let reply = [
            "FROM 149 DEBUG: CT entry found lifetime=",
            "FROM 149 DEBUG: CT verdict: Reply, revnat=0",
            "FROM 149 DEBUG: Successfully mapped addr=10.244.0.102 to identity=22099",
            "FROM 149 DEBUG: Attempting local delivery for container id 2073 from seclabel 11575",
            "FROM 2073 DEBUG: CT verdict: Reply, revnat=0",
            "-> endpoint 2073 flow 0x",
        ]
        #expect(inOrder(out, reply) == nil, "reply sequence\n\(out)")
        #expect(out.contains("identity 11575->22099 state reply ifindex \(lxcClient)"), "\(out)")
        #expect(out.contains("state established ifindex \(lxcServer)") && out.contains(":8080 tcp ACK"), "\(out)")
        #expect(fw.errors.contains("lost: perf ring 0"), "\(fw.errors)")
    }

    @Test("compact is the default; a --record replays to the same lines; | head ends quietly")
    func compactRecordReplay() throws {
        let node = try DemoNode("r")
        defer { node.down() }
        let recording = node.work.appendingPathComponent("live.fwrec").path
        let fw = try DemoNode.Observer(node: node, ["--record", recording])
        defer { fw.stop() }
        try node.exec("client", "ping", "-c1", "-W2", "10.244.0.25")
        try node.exec("client", "socat", "-T2", "-", "TCP:10.244.0.25:8080")
        usleep(300_000)
        #expect(fw.stop() == 0)
        let live = fw.output
        #expect(live.contains(": default/cni-client (ID:22099) -> default/cni-server (ID:11575) to-endpoint FORWARDED (ICMPv4 EchoRequest)"), "\(live)")
        #expect(live.contains(": default/cni-client (ID:22099) <- default/cni-server (ID:11575) to-endpoint FORWARDED (ICMPv4 EchoReply)"), "\(live)")
        #expect(live.contains(":8080 (ID:11575) to-endpoint FORWARDED (TCP Flags: SYN)"), "\(live)")

        let replay = try DemoNode.run([DemoNode.binary, "replay", recording])
        #expect(replay.status == 0 && replay.stdout == live, "\(replay.stderr)")
        #expect(replay.stderr.contains("records replayed") && !replay.stderr.contains("cut"), "\(replay.stderr)")
        // The recording names devices as the live capture did.
        let monitor = try DemoNode.run([DemoNode.binary, "replay", recording, "-o", "monitor"])
        #expect(monitor.stdout.contains("ifindex \(try node.lxc("server")) orig-ip 10.244.0.102"), "\(monitor.stdout)")
        for format in ["json", "dict", "table"] {
            let r = try DemoNode.run([DemoNode.binary, "replay", recording, "-o", format])
            #expect(r.status == 0 && !r.stdout.isEmpty, "\(format): \(r.stderr)")
        }
        let head = try DemoNode.run(["bash", "-c", "set -o pipefail; '\(DemoNode.binary)' replay '\(recording)' -o json | head -1"])
        #expect(head.status == 0 && head.stdout.split(separator: "\n").count == 1, "\(head.stderr)")
    }

    @Test("flowwatch's pcap holds the packets tcpdump -i captures on the same lxc, byte for byte")
    func pcapMatchesTcpdump() throws {
        let node = try DemoNode("p")
        defer { node.down() }
        let lxc = try node.lxc("server")
        let ours = node.work.appendingPathComponent("fw.pcapng").path
        let theirs = node.work.appendingPathComponent("tcpdump.pcap").path
        let log = node.work.appendingPathComponent("tcpdump.log").path
        let logFD = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { close(logFD) }
        // --immediate-mode: otherwise libpcap hands packets over a block at a time, after up to a
        // second, and a SIGTERM before that loses the last ones (-U only flushes the file).
        let tcpdump = try DemoNode.spawn(["ip", "netns", "exec", node.node, "tcpdump", "-i", lxc, "-s", "128", "-U", "--immediate-mode",
                                          "-w", theirs, "ip"],
                                         stdout: logFD, stderr: logFD)
        defer { kill(tcpdump, SIGTERM); _ = DemoNode.wait(tcpdump) }
        let fw = try DemoNode.Observer(node: node, ["--pcapng", ours, "--pcap-only", "--device", lxc])
        defer { fw.stop() }
        for _ in 0..<50 where !((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("listening on") { usleep(50_000) }
        try node.exec("client", "ping", "-c3", "-i0.2", "-W1", "10.244.0.25")
        try node.exec("client", "socat", "-T2", "-", "TCP:10.244.0.25:8080")
        usleep(500_000)
        #expect(fw.stop() == 0, "\(fw.errors)")
        kill(tcpdump, SIGTERM)
        _ = DemoNode.wait(tcpdump)
        // Both as hex, packet by packet, in the order each file holds them.
        func packets(_ file: String) throws -> [String] {
            let r = try DemoNode.run(["tcpdump", "-nn", "-r", file, "-x", "ip"])
            return r.stdout.components(separatedBy: "\n").reduce(into: [String]()) { acc, line in
                if !line.hasPrefix("\t") && !line.isEmpty { acc.append("") } else if !line.isEmpty, !acc.isEmpty {
                    acc[acc.count - 1] += line.split(separator: ":", maxSplits: 1).last.map(String.init) ?? ""
                }
            }.map { $0.replacingOccurrences(of: " ", with: "") }
        }
        let a = try packets(ours), b = try packets(theirs)
        #expect(a.count >= 10, "pings and a TCP connection, both directions")
        #expect(Set(a) == Set(b), "only in flowwatch's: \(Set(a).subtracting(b).count), only in tcpdump's: \(Set(b).subtracting(a).count)")
        #expect(a.count == b.count)
    }

    @Test("filters apply live: --to-port 8080 --not --type trace:from-endpoint")
    func liveFilters() throws {
        let node = try DemoNode("l")
        defer { node.down() }
        let fw = try DemoNode.Observer(node: node, ["--to-port", "8080", "--not", "--type", "trace:from-endpoint"])
        defer { fw.stop() }
        try node.exec("client", "ping", "-c1", "-W2", "10.244.0.25")
        try node.exec("client", "socat", "-T2", "-", "TCP:10.244.0.25:8080")
        usleep(300_000)
        #expect(fw.stop() == 0)
        let lines = fw.output.split(separator: "\n")
        #expect(!lines.isEmpty && lines.allSatisfy { $0.contains(":8080 (ID:11575) to-endpoint") }, "\(fw.output)")
        #expect(fw.errors.contains("records read"), "\(fw.errors)")
    }

    @Test("a terminal that reads too slowly loses events from the ring, counted and shown, never the reader's")
    func slowOutput() throws {
        let node = try DemoNode("s")
        defer { node.down() }
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        // 256 perf pages per CPU: the debug-build reader, sharing two CPUs with the other suites,
        // rides out being descheduled during the flood, so what the perf ring loses says
        // whether the printer held it back, not how busy the machine was.
        let fw = try DemoNode.Observer(node: node, ["-o", "json", "--ring-capacity", "3", "--aggregation", "none",
                                                    "--perf-pages", "256"], stdoutFD: fds[1])
        close(fds[1])
        defer { fw.stop() }
        // Nobody reads the pipe: 64 KiB in the pipe and 64 KiB buffered, then the printer blocks
        // while the reader keeps writing the 3-entry ring.
        try node.exec("client", "ping", "-f", "-q", "-c", "2000", "10.244.0.25")
        usleep(200_000)
        let drained = Drain(fd: fds[0])
        #expect(fw.stop() == 0)
        let text = drained.finish()
        #expect(text.contains("\"lost_events\":{\"source\":\"HUBBLE_RING_BUFFER\""), "\(text.suffix(500))")
        #expect(fw.errors.contains("ring "), "\(fw.errors)")
        let missed = fw.errors.firstMatch(of: /ring (\d+) \(output too slow\)/).map { UInt64($0.1)! } ?? 0
        #expect(missed > 0, "\(fw.errors)")
        // Everything the ring lost is in the lost events printed: exact counts.
        let printed = text.matches(of: /"num_events_lost":"(\d+)"/).reduce(UInt64(0)) { $0 + UInt64($1.1)! }
        #expect(printed == missed, "\(fw.errors)")
        // The reader kept up while the printer was stuck: the perf ring lost nothing, or (on a
        // machine busy with other work) far less than the printer did.
        let perfLost = fw.errors.firstMatch(of: /lost: perf ring (\d+)/).map { UInt64($0.1)! } ?? .max
        #expect(perfLost < missed / 10, "\(fw.errors)")
    }

    @Test("devices added while following are attached, removed ones forgotten; nothing stays after Ctrl-C")
    func deviceLifecycle() throws {
        let node = try DemoNode("d")
        defer { node.down() }
        let fw = try DemoNode.Observer(node: node)
        defer { fw.stop() }
        let lxc = try node.lxc("client")
        #expect(try node.tcxPrograms(lxc, egress: false).count == 1)
        #expect(try node.tcxPrograms(lxc, egress: true).count == 1)
        #expect(try node.tcxPrograms("eth0", egress: false).isEmpty, "eth0 does not match the default patterns")

        try node.exec("node", "ip", "link", "add", "lxcnew0", "type", "veth", "peer", "name", "lxcnew1")
        #expect(fw.waitForError("attached to lxcnew0"), "\(fw.errors)")
        #expect(fw.waitForError("attached to lxcnew1"), "\(fw.errors)")
        #expect(try node.tcxPrograms("lxcnew0", egress: true).count == 1)
        try node.exec("node", "ip", "link", "del", "lxcnew0")
        #expect(fw.waitForError("detached from lxcnew0 (device removed)"), "\(fw.errors)")
        #expect(fw.waitForError("detached from lxcnew1 (device removed)"), "\(fw.errors)")

        #expect(fw.stop() == 0)
        #expect(try node.tcxPrograms(lxc, egress: false).isEmpty)
        #expect(try node.tcxPrograms("cilium_host", egress: true).isEmpty)
    }

    @Test("SIGKILL leaves no tcx attachment; with tc, the next run removes the stale filters")
    func killedRuns() throws {
        let node = try DemoNode("k")
        defer { node.down() }
        let lxc = try node.lxc("server")
        var fw = try DemoNode.Observer(node: node, tag: "tcx")
        #expect(try node.tcxPrograms(lxc, egress: true).count == 1)
        fw.stop(signal: SIGKILL)
        #expect(try node.tcxPrograms(lxc, egress: true).isEmpty, "the kernel detaches tcx links of a dead process")

        fw = try DemoNode.Observer(node: node, ["--attach", "tc"], tag: "tc1")
        let filters = try node.exec("node", "tc", "filter", "show", "dev", lxc, "ingress")
        #expect(filters.contains("fw_ingress"), "\(filters)")
        fw.stop(signal: SIGKILL)
        #expect(try node.exec("node", "tc", "filter", "show", "dev", lxc, "ingress").contains("fw_ingress"))

        fw = try DemoNode.Observer(node: node, ["--attach", "tc"], tag: "tc2")
        #expect(fw.errors.contains("removed stale flowwatch filters from \(lxc)"), "\(fw.errors)")
        #expect(fw.stop() == 0)
        #expect(!(try node.exec("node", "tc", "filter", "show", "dev", lxc, "ingress")).contains("fw_"))
        #expect(!(try node.exec("node", "tc", "filter", "show", "dev", lxc, "egress")).contains("fw_"))
    }

    @Test("a foreign tc program on the device keeps doing what it did")
    func foreignProgram() throws {
        let node = try DemoNode("f")
        defer { node.down() }
        let lxc = try node.lxc("server")
        // Drop ICMP towards the server pod, as a policy program would; TCP passes.
        let foreign = DemoNode.root.appendingPathComponent("bpf/.output/foreign_drop_icmp.bpf.o").path
        try node.exec("node", "tc", "qdisc", "add", "dev", lxc, "clsact")
        try node.exec("node", "tc", "filter", "add", "dev", lxc, "egress", "pref", "1", "bpf", "da", "obj", foreign, "sec", "tc")
        func pingWorks() -> Bool { (try? node.exec("client", "ping", "-c1", "-W1", "10.244.0.25")) != nil }
        func tcpWorks() -> Bool { (try? node.exec("client", "socat", "-T2", "-", "TCP:10.244.0.25:8080")) != nil }
        #expect(!pingWorks() && tcpWorks(), "before flowwatch")

        let fw = try DemoNode.Observer(node: node, ["-o", "monitor"])
        defer { fw.stop() }
        #expect(!pingWorks() && tcpWorks(), "with flowwatch attached in front")
        usleep(200_000)
        #expect(fw.stop() == 0)
        // flowwatch saw the echo requests before the foreign filter dropped them.
        #expect(fw.output.contains("-> endpoint 149") && fw.output.contains("icmp EchoRequest"), "\(fw.output)")
        #expect(!pingWorks() && tcpWorks(), "after flowwatch")
    }

    @Test("without a capability it names the one that is missing")
    func missingCapability() throws {
        for (dropped, named) in [("-net_admin", "missing CAP_NET_ADMIN:"), ("-bpf,-sys_admin", "missing CAP_BPF:"),
                                 ("-bpf,-perfmon,-sys_admin,-net_admin", "missing CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN:")] {
            do {
                try DemoNode.sh("setpriv", "--bounding-set", dropped, "--", DemoNode.binary, "--follow")
                Issue.record("ran without \(dropped)")
            } catch let e as DemoNode.CommandFailed {
                #expect(e.status == 1 && e.output.contains(named), "\(e.output)")
            }
        }
    }

    @Test("without --follow, or with a bad config, it says what is wrong")
    func badInvocations() throws {
        let node = try DemoNode("b")
        defer { node.down() }
        let bad = node.work.appendingPathComponent("bad.yaml")
        try "endpoints:\n  - id: 7\n    identity: 5\n    ips: [10.0.0.300]\n".write(to: bad, atomically: true, encoding: .utf8)
        do {
            try DemoNode.sh(DemoNode.binary, "--follow", "--config", bad.path)
            Issue.record("a bad config was accepted")
        } catch let e as DemoNode.CommandFailed {
            #expect(e.output.contains("bad.yaml:4:") && e.output.contains("endpoints[0].ips[0]") && e.output.contains("10.0.0.300"), "\(e.output)")
        }
        do {
            try DemoNode.sh(DemoNode.binary)
            Issue.record("ran without --follow")
        } catch let e as DemoNode.CommandFailed {
            #expect(e.output.contains("--follow"), "\(e.output)")
        }
    }
}

/// Reads a pipe to its end on a thread of its own.
final class Drain: @unchecked Sendable {
    private let fd: Int32
    private var bytes: [UInt8] = []
    private let done = DispatchSemaphore(value: 0)

    init(fd: Int32) {
        self.fd = fd
        Thread.detachNewThread { [self] in
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = read(fd, &chunk, chunk.count)
                if n <= 0 { break }
                bytes.append(contentsOf: chunk[..<n])
            }
            done.signal()
        }
    }

    func finish() -> String {
        done.wait()
        close(fd)
        return String(decoding: bytes, as: UTF8.self)
    }
}
