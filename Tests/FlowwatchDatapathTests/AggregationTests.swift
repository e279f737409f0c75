import CFlowwatchABI
import CLibbpf
import FlowwatchCore
@testable import FlowwatchDatapath
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Monitor aggregation in the real program, through BPF_PROG_TEST_RUN: which packets are
/// traced at each level (Cilium's emit_trace_notify and CT_REPORT_* rules), that debug
/// messages are never left out, and that every packet still passes untouched.
@Suite(.enabled(if: Privileged.enabled, Privileged.reason))
struct AggregationTests {
    typealias P = Packets
    static let client = "10.244.0.102", server = "10.244.0.25"

    /// One segment of a connection from the client's port `port` to the server's 8080.
    func tcp(_ flags: UInt8, fromServer: Bool = false, port: UInt16 = 40000) -> [UInt8] {
        fromServer ? P.ethernet(0x0800, P.ipv4(Self.server, Self.client, proto: 6, P.tcp(8080, port, flags: flags)))
            : P.ethernet(0x0800, P.ipv4(Self.client, Self.server, proto: 6, P.tcp(port, 8080, flags: flags)))
    }

    func udp(fromServer: Bool = false, port: UInt16 = 5300) -> [UInt8] {
        fromServer ? P.ethernet(0x0800, P.ipv4(Self.server, Self.client, proto: 17, P.udp(53, port)))
            : P.ethernet(0x0800, P.ipv4(Self.client, Self.server, proto: 17, P.udp(port, 53)))
    }

    static let arp = P.ethernet(0x0806, [0, 1, 8, 0, 6, 4, 0, 1] + [UInt8](repeating: 0, count: 20))

    /// Runs one packet; checks it passed unchanged; returns its traces.
    func traces(_ h: Harness, _ packet: [UInt8], egress: Bool, _ what: String = "") throws -> [Emitted] {
        let r = try h.run(packet, egress: egress)
        #expect(r.retval == ProgramTests.pass && r.output == packet, "\(what) must pass untouched")
        return r.events.filter(\.isTrace)
    }

    func reason(_ e: Emitted?) -> UInt8? {
        if case .trace(_, _, _, _, _, let reason, _, _, _, _, _) = e { return reason }
        return nil
    }

    struct Step {
        var name: String
        var packet: [UInt8]
        var egress: Bool
        var traced: Bool
    }

    /// Feeds the steps in order; every step's packet must be traced exactly as it says.
    func play(_ h: Harness, _ steps: [Step]) throws -> [Emitted] {
        var all: [Emitted] = []
        for (i, s) in steps.enumerated() {
            let t = try traces(h, s.packet, egress: s.egress, s.name)
            #expect(t.count == (s.traced ? 1 : 0), "step \(i) \(s.name): \(t)")
            all += t
        }
        return all
    }

    @Test("medium, the server's lxc: the client's packets are traced when new, on new TCP flags and on every FIN; the server's (from-endpoint) never")
    func mediumForward() throws {
        let h = try Harness(debug: false, aggregation: .medium)
        try h.role(.lxc, endpointID: 149, identity: 11575)
        let ack = P.tcpACK, psh: UInt8 = 0x08
        // The server's lxc: its egress is to-endpoint (the client's packets, forward), its
        // ingress from-endpoint (the server's answers).
        var steps = [Step(name: "SYN", packet: tcp(P.tcpSYN), egress: true, traced: true),
                     Step(name: "SYN-ACK", packet: tcp(P.tcpSYN | ack, fromServer: true), egress: false, traced: false),
                     Step(name: "first ACK", packet: tcp(ack), egress: true, traced: true)]
        steps += (0..<20).map { _ in Step(name: "ACK", packet: tcp(ack), egress: true, traced: false) }
        steps += [Step(name: "first PSH-ACK", packet: tcp(psh | ack), egress: true, traced: true)]
        steps += (0..<20).map { _ in Step(name: "PSH-ACK", packet: tcp(psh | ack), egress: true, traced: false) }
        steps += (0..<5).map { _ in Step(name: "server's ACK", packet: tcp(ack, fromServer: true), egress: false, traced: false) }
        steps += [Step(name: "FIN", packet: tcp(P.tcpFIN | ack), egress: true, traced: true),
                  Step(name: "FIN again", packet: tcp(P.tcpFIN | ack), egress: true, traced: true),
                  Step(name: "server's FIN", packet: tcp(P.tcpFIN | ack, fromServer: true), egress: false, traced: false),
                  Step(name: "last ACK", packet: tcp(ack), egress: true, traced: false)]
        let traced = try play(h, steps)
        #expect(traced.map { reason($0) } == [UInt8(FW_TRACE_REASON_NEW.rawValue)] + [UInt8](repeating: UInt8(FW_TRACE_REASON_ESTABLISHED.rawValue), count: 4))
        // Conntrack saw every packet, traced or not: the entry closed with both FINs.
        let entry = try #require(h.program.conntrackEntries().first?.entry)
        #expect(entry.packets == UInt64(steps.count))
        #expect(entry.flags & UInt8(FW_CT_F_TX_CLOSING | FW_CT_F_RX_CLOSING) == UInt8(FW_CT_F_TX_CLOSING | FW_CT_F_RX_CLOSING))
        #expect(h.program.counters().packets == UInt64(steps.count))
    }

    @Test("medium, the client's lxc: the server's replies are traced on new flags in their own direction and on every RST")
    func mediumReply() throws {
        let h = try Harness(debug: false, aggregation: .medium)
        try h.role(.lxc, endpointID: 2073, identity: 22099)
        let ack = P.tcpACK, psh: UInt8 = 0x08
        // The client's lxc: ingress is from-endpoint (the client sends), egress to-endpoint.
        var steps = [Step(name: "SYN", packet: tcp(P.tcpSYN), egress: false, traced: false),
                     Step(name: "SYN-ACK", packet: tcp(P.tcpSYN | ack, fromServer: true), egress: true, traced: true),
                     Step(name: "ACK", packet: tcp(ack), egress: false, traced: false),
                     Step(name: "server's first data", packet: tcp(psh | ack, fromServer: true), egress: true, traced: true)]
        steps += (0..<20).map { _ in Step(name: "server's data", packet: tcp(psh | ack, fromServer: true), egress: true, traced: false) }
        steps += [Step(name: "server's ACK", packet: tcp(ack, fromServer: true), egress: true, traced: false),
                  Step(name: "RST", packet: tcp(P.tcpRST | ack, fromServer: true), egress: true, traced: true),
                  Step(name: "RST again", packet: tcp(P.tcpRST | ack, fromServer: true), egress: true, traced: true)]
        let traced = try play(h, steps)
        #expect(traced.allSatisfy { reason($0) == UInt8(FW_TRACE_REASON_REPLY.rawValue) }, "\(traced)")
        // A new SYN on the closed connection is a new connection, and reported as one.
        try h.role(.lxc, endpointID: 149, identity: 11575) // its to-endpoint sees the client's SYN
        let reopened = try traces(h, tcp(P.tcpSYN), egress: true)
        #expect(reopened.count == 1 && reason(reopened.first) == UInt8(FW_TRACE_REASON_NEW.rawValue))
    }

    @Test("medium: an active connection is traced again once more than the interval has passed (real clock, 1 s)")
    func intervalExpiry() throws {
        let h = try Harness(debug: false, aggregation: .medium, aggregationInterval: 1)
        try h.role(.lxc, endpointID: 149, identity: 11575)
        #expect(try traces(h, udp(), egress: true).count == 1, "new")
        #expect(try traces(h, udp(), egress: true).isEmpty, "within the interval")
        // The clock counts whole seconds and the interval must be exceeded: 1 s later the
        // difference is at most 1, 2.1 s later at least 2.
        usleep(2_100_000)
        #expect(try traces(h, udp(), egress: true).count == 1, "after the interval")
        #expect(try traces(h, udp(), egress: true).isEmpty, "the interval restarted")
    }

    @Test("medium: each direction has its own interval (the entry's last report times moved back)")
    func intervalPerDirection() throws {
        let h = try Harness(debug: false, aggregation: .medium, aggregationInterval: 5)
        // The client's lxc: the request (from-endpoint) is never traced at medium, the replies are.
        try h.role(.lxc, endpointID: 2073, identity: 22099)
        #expect(try traces(h, udp(), egress: false).isEmpty)
        #expect(try traces(h, udp(fromServer: true), egress: true).count == 1, "the first reply: its direction never reported")
        #expect(try traces(h, udp(fromServer: true), egress: true).isEmpty)
        #expect(try traces(h, udp(), egress: false).isEmpty)

        func age(_ body: (inout fw_ct_entry, UInt32) -> Void) throws {
            var (key, entry) = try #require(h.program.conntrackEntries().first)
            body(&entry, Harness.conntrackNow())
            #expect(bpf_map_update_elem(h.program.conntrackFD, &key, &entry, UInt64(BPF_EXIST)) == 0)
        }
        // (A second may tick between reading the clock here and the program reading it.)
        try age { e, now in e.last_rx_report = now - 4 }
        #expect(try traces(h, udp(fromServer: true), egress: true).isEmpty, "interval not exceeded")
        try age { e, now in e.last_rx_report = now - 6; e.last_tx_report = now }
        #expect(try traces(h, udp(fromServer: true), egress: true).count == 1, "interval exceeded")
        #expect(try traces(h, udp(fromServer: true), egress: true).isEmpty)
        let entry = try #require(h.program.conntrackEntries().first?.entry)
        let now = Harness.conntrackNow()
        #expect(entry.last_rx_report + 1 >= now, "the reply direction restarted its interval")
    }

    /// Traces for three identical packets of one flow, and for one ARP frame (untracked), at
    /// each observation point and level.
    static let points: [(DeviceRole, Bool, String)] = [
        (.lxc, false, "from-endpoint"), (.lxc, true, "to-endpoint"), (.host, false, "to-host"),
        (.host, true, "from-host"), (.network, false, "from-network"), (.network, true, "to-network"),
    ]

    @Test("levels by observation point: none traces all; lowest and low no from-*; medium and maximum one per new flow",
          arguments: MonitorAggregation.allCases)
    func levels(level: MonitorAggregation) throws {
        let h = try Harness(debug: false, aggregation: level)
        for (i, (role, egress, name)) in Self.points.enumerated() {
            try h.role(role, endpointID: role == .network ? 0 : 7, identity: role == .host ? 1 : 22099)
            let from = name.hasPrefix("from-")
            let packet = udp(port: 6000 + UInt16(i))
            var traced = 0
            for _ in 0..<3 { traced += try traces(h, packet, egress: egress, name).count }
            let arp = try traces(h, Self.arp, egress: egress, name).count
            switch level {
            case .none:
                #expect(traced == 3 && arp == 1, "\(name)")
            case .lowest, .low:
                #expect(traced == (from ? 0 : 3) && arp == (from ? 0 : 1), "\(name)")
            case .medium, .maximum:
                // Untracked frames have no connection to aggregate by: each one is reported.
                #expect(traced == (from ? 0 : 1) && arp == (from ? 0 : 1), "\(name)")
            }
        }
        // Every packet was observed and tracked, whatever was traced.
        #expect(h.program.counters().packets == UInt64(Self.points.count * 4))
        #expect(h.program.conntrackEntries().count == Self.points.count)
    }

    @Test("debug messages are never aggregated: the same ones, with the same arguments, at every level")
    func debugUnaffected() throws {
        func debugOnly(_ level: MonitorAggregation) throws -> (debug: [Emitted], traces: Int) {
            let h = try Harness(debug: true, aggregation: level)
            var debug: [Emitted] = [], traces = 0
            // The client's lxc, then the server's: from-endpoint and to-endpoint, new and established.
            for (endpoint, identity, egress) in [(UInt16(2073), UInt32(22099), false), (149, 11575, true)] {
                try h.role(.lxc, endpointID: endpoint, identity: identity)
                for _ in 0..<3 {
                    let r = try h.run(udp(), egress: egress)
                    // CT_MATCH carries the entry's expiry time, which differs between runs a second apart.
                    debug += r.events.compactMap { e -> Emitted? in
                        guard case .debug(let type, let source, _, let a2, let a3) = e else { return nil }
                        return type == UInt8(FW_DBG_CT_MATCH.rawValue) ? .debug(type: type, source: source, arg1: 0, arg2: a2, arg3: a3) : e
                    }
                    traces += r.events.filter(\.isTrace).count
                }
            }
            return (debug, traces)
        }
        let none = try debugOnly(.none)
        #expect(none.traces == 6)
        #expect(none.debug.count > 20)
        for level in [MonitorAggregation.lowest, .medium] {
            let other = try debugOnly(level)
            #expect(other.debug == none.debug, "\(level)")
            #expect(other.traces == (level == .medium ? 1 : 3), "\(level)")
        }
    }

    @Test("medium: ICMP errors about a connection are traced, every one")
    func relatedTraced() throws {
        let h = try Harness(debug: false, aggregation: .medium)
        try h.role(.lxc, endpointID: 2073, identity: 22099)
        let datagram = P.ipv4(Self.client, "198.51.100.10", proto: 17, P.udp(40000, 53))
        #expect(try traces(h, P.ethernet(0x0800, datagram), egress: false).isEmpty, "from-endpoint")
        let icmp: [UInt8] = [3, 3, 0, 0, 0, 0, 0, 0] + Array(datagram.prefix(28))
        let error = P.ethernet(0x0800, P.ipv4("198.51.100.10", Self.client, proto: 1, icmp))
        for _ in 0..<2 {
            let t = try traces(h, error, egress: true)
            #expect(t.count == 1 && reason(t.first) == UInt8(FW_TRACE_REASON_RELATED.rawValue))
        }
    }

    @Test("the kernel counts the program's runs and their time while run-time statistics are on",
          .enabled(if: Privileges.canMeasureRunTime || Privileged.inCI, "BPF_ENABLE_STATS needs CAP_SYS_ADMIN"))
    func runStatistics() throws {
        let h = try Harness(debug: false)
        try h.role(.lxc, endpointID: 2073, identity: 22099)
        let before = h.program.runStatistics()
        let fd = try ObserverProgram.enableRunTimeStatistics()
        defer { close(fd) }
        for _ in 0..<50 {
            _ = try h.run(udp(), egress: false)
            _ = try h.run(udp(fromServer: true), egress: true)
        }
        let after = h.program.runStatistics()
        #expect(after.ingress.runs - before.ingress.runs >= 50 && after.egress.runs - before.egress.runs >= 50)
        #expect(after.ingress.runTimeNanoseconds > before.ingress.runTimeNanoseconds)
        #expect(after.egress.runTimeNanoseconds > before.egress.runTimeNanoseconds)
        #expect((after.nanosecondsPerPacket ?? 0) > 0)
        #expect(after.ingress.verifiedInstructions > 0 && after.egress.verifiedInstructions > 0)
    }

    @Test("aggregation keeps the verifier's work small (debug off)", arguments: MonitorAggregation.allCases)
    func verifierCost(level: MonitorAggregation) throws {
        let program = try ObserverProgram(settings: ProgramSettings(debug: false, aggregation: level))
        let stats = program.runStatistics()
        // 10.6k before aggregation existed; 12-15k (17k with the prefilter) once headers were
        // read in place when linear (bpf/parse.h fw_load: each such read is two paths to verify,
        // and 50 ns less per packet); 16-17.7k (12-13k with the prefilter, a function of its
        // own) since common headers are parsed inline and the rare paths are global functions.
        // The budget leaves room, not a license.
        #expect(stats.ingress.verifiedInstructions < 18_000 && stats.egress.verifiedInstructions < 18_000,
                "\(level): ingress \(stats.ingress.verifiedInstructions), egress \(stats.egress.verifiedInstructions)")
    }
}
