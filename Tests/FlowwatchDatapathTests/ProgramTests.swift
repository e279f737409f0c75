import CFlowwatchABI
import FlowwatchCore
@testable import FlowwatchDatapath
import Testing

/// The real program on crafted packets through BPF_PROG_TEST_RUN: each event kind, each
/// conntrack transition, identity hits and misses, local delivery, malformed input.
@Suite(.enabled(if: Privileged.enabled, Privileged.reason))
struct ProgramTests {
    typealias P = Packets
    static let pass: Int32 = -1 // TC_ACT_UNSPEC, which is TCX_NEXT: the packet goes on untouched

    let dbgLookup1 = UInt8(FW_DBG_CT_LOOKUP4_1.rawValue), dbgLookup2 = UInt8(FW_DBG_CT_LOOKUP4_2.rawValue)
    let dbgMatch = UInt8(FW_DBG_CT_MATCH.rawValue), dbgVerdict = UInt8(FW_DBG_CT_VERDICT.rawValue)
    let dbgMapped = UInt8(FW_DBG_IP_ID_MAP_SUCCEED4.rawValue), dbgMapFailed = UInt8(FW_DBG_IP_ID_MAP_FAILED4.rawValue)
    let dbgCreated = UInt8(FW_DBG_CT_CREATED4.rawValue), dbgDelivery = UInt8(FW_DBG_LOCAL_DELIVERY.rawValue)

    func echo(request: Bool, from src: String, to dst: String, id: UInt16 = 12544) -> [UInt8] {
        P.ethernet(0x0800, P.ipv4(src, dst, proto: 1, P.icmpEcho(request: request, id: id, seq: 0)))
    }

    func verdict(_ events: [Emitted]) -> UInt32? {
        for case .debug(let t, _, let a1, _, _) in events where t == dbgVerdict { return a1 }
        return nil
    }

    func trace(_ events: [Emitted]) -> Emitted? { events.last { $0.isTrace } }

    @Test("every message comes with the boot-clock time the program wrote it, in writing order")
    func sampleTime() throws {
        let h = try Harness() // debug on: a packet writes several messages
        try h.role(.lxc, endpointID: 149, identity: 11575)
        let before = KernelClock.boottimeNow()
        _ = try h.runUnread(echo(request: true, from: "10.244.0.102", to: "10.244.0.25"), egress: true)
        let after = KernelClock.boottimeNow()
        let samples = try h.read()
        #expect(samples.count >= 4)
        var previous: UInt64 = 0
        for s in samples {
            guard case .event(let bytes) = s.kind else { Issue.record("lost samples: \(s)"); continue }
            // The reader took the time off the front: what is left starts with the message.
            #expect(Emitted.parse(bytes) != nil, "\(bytes.prefix(16))")
            // A millisecond of slack: the program reads the kernel's lock-free copy of the clock.
            #expect(s.timestamp + 1_000_000 >= before && s.timestamp <= after + 1_000_000, "\(before) \(s.timestamp) \(after)")
            #expect(s.timestamp >= previous)
            previous = s.timestamp
        }
    }

    @Test("seed 003: a ping from pod to pod gives Cilium's event sequence at each observation point")
    func seedPing() throws {
        let h = try Harness()
        let request = echo(request: true, from: "10.244.0.102", to: "10.244.0.25")
        let reply = echo(request: false, from: "10.244.0.25", to: "10.244.0.102")
        let client = IPAddress("10.244.0.102")!, server = IPAddress("10.244.0.25")!
        func be(_ ip: IPAddress) -> UInt32 {
            guard case .v4(let a) = ip else { return 0 }
            return a.value.bigEndian
        }

        // Leaving the client: lxc ingress = from-endpoint, conntrack egress.
        try h.role(.lxc, endpointID: 2073, identity: 22099)
        var r = try h.run(request, egress: false)
        #expect(r.retval == Self.pass)
        #expect(r.output == request)
        try #require(r.events.map(\.debugType) == [dbgLookup1, dbgLookup2, dbgVerdict, dbgMapped, dbgCreated, dbgDelivery, nil])
        #expect(r.events[0] == .debug(type: dbgLookup1, source: 2073, arg1: be(client), arg2: be(server), arg3: 12544))
        #expect(r.events[1] == .debug(type: dbgLookup2, source: 2073, arg1: 1 << 8 | 1, arg2: 0, arg3: 0))
        #expect(r.events[2] == .debug(type: dbgVerdict, source: 2073, arg1: UInt32(FW_CT_NEW.rawValue), arg2: 0, arg3: 0))
        #expect(r.events[3] == .debug(type: dbgMapped, source: 2073, arg1: be(server), arg2: 11575, arg3: 0))
        #expect(r.events[4] == .debug(type: dbgCreated, source: 2073, arg1: 0, arg2: 22099, arg3: 0))
        #expect(r.events[5] == .debug(type: dbgDelivery, source: 2073, arg1: 149, arg2: 22099, arg3: 0))
        guard case .trace(let point, let source, let src, let dst, let dstID, let reason, let flags, let ifindex, let len, let cap, let bytes) = r.events[6] else {
            Issue.record("no trace"); return
        }
        #expect(point == UInt8(FW_TRACE_FROM_LXC.rawValue))
        #expect((source, src, dst, dstID) == (2073, 22099, 11575, 149))
        #expect(reason == UInt8(FW_TRACE_REASON_NEW.rawValue) && flags == 0 && ifindex == h.ifindex)
        #expect(len == UInt32(request.count) && cap == UInt16(request.count) && bytes == request)

        // Arriving at the server: its lxc egress = to-endpoint, conntrack ingress (flags=0).
        try h.role(.lxc, endpointID: 149, identity: 11575)
        r = try h.run(request, egress: true)
        #expect(r.retval == Self.pass && r.output == request)
        try #require(r.events.map(\.debugType) == [dbgLookup1, dbgLookup2, dbgVerdict, dbgCreated, nil])
        #expect(r.events[1] == .debug(type: dbgLookup2, source: 149, arg1: 1 << 8 | 0, arg2: 1, arg3: 0))
        if case .trace(let point, let source, let src, let dst, let dstID, let reason, _, _, _, _, _) = r.events[4] {
            #expect(point == UInt8(FW_TRACE_TO_LXC.rawValue))
            #expect((source, src, dst, dstID, reason) == (149, 22099, 11575, 149, UInt8(FW_TRACE_REASON_NEW.rawValue)))
        }

        // The reply leaving the server: from-endpoint, found as the reverse of its ingress entry.
        r = try h.run(reply, egress: false)
        try #require(r.events.map(\.debugType) == [dbgLookup1, dbgLookup2, dbgMatch, dbgVerdict, dbgMapped, dbgDelivery, nil])
        #expect(verdict(r.events) == UInt32(FW_CT_REPLY.rawValue))
        #expect(r.events[0] == .debug(type: dbgLookup1, source: 149, arg1: be(server), arg2: be(client), arg3: 12544 << 16))
        #expect(r.events[5] == .debug(type: dbgDelivery, source: 149, arg1: 2073, arg2: 11575, arg3: 0))

        // The reply arriving at the client: to-endpoint, Reply.
        try h.role(.lxc, endpointID: 2073, identity: 22099)
        r = try h.run(reply, egress: true)
        #expect(verdict(r.events) == UInt32(FW_CT_REPLY.rawValue))
        if case .trace(_, _, let src, let dst, let dstID, let reason, _, _, _, _, _) = trace(r.events) {
            #expect((src, dst, dstID, reason) == (11575, 22099, 2073, UInt8(FW_TRACE_REASON_REPLY.rawValue)))
        }

        // The next request from the client is established.
        r = try h.run(request, egress: false)
        #expect(verdict(r.events) == UInt32(FW_CT_ESTABLISHED.rawValue))
        #expect(r.events.contains { $0.debugType == dbgMatch })
        #expect(!r.events.contains { $0.debugType == dbgCreated })
    }

    @Test("an address outside every prefix maps to world, with a failed-mapping message")
    func identityMiss() throws {
        let h = try Harness()
        try h.role(.lxc, endpointID: 2073, identity: 22099)
        let r = try h.run(echo(request: true, from: "10.244.0.102", to: "198.51.100.10"), egress: false)
        #expect(r.events.contains { $0.debugType == dbgMapFailed })
        #expect(!r.events.contains { $0.debugType == dbgDelivery })
        if case .trace(_, _, let src, let dst, let dstID, _, _, _, _, _, _) = trace(r.events) {
            #expect((src, dst, dstID) == (22099, UInt32(FW_IDENTITY_WORLD), 0))
        }
    }

    @Test("a prefix entry gives its identity; the longest prefix wins")
    func identityPrefix() throws {
        let h = try Harness()
        try h.role(.lxc, endpointID: 2073, identity: 22099)
        var r = try h.run(echo(request: true, from: "10.244.0.102", to: "10.244.2.145"), egress: false)
        if case .trace(_, _, _, let dst, _, _, _, _, _, _, _) = trace(r.events) { #expect(dst == 17840) }
        r = try h.run(echo(request: true, from: "10.244.0.102", to: "10.244.0.1"), egress: false)
        if case .trace(_, _, _, let dst, _, _, _, _, _, _, _) = trace(r.events) { #expect(dst == 1) }
    }

    @Test("TCP: SYN is new, SYN-ACK a reply, then established; FIN both ways and RST close")
    func tcpStates() throws {
        let h = try Harness()
        try h.role(.lxc, endpointID: 2073, identity: 22099)
        func seg(_ flags: UInt8, reply: Bool = false) -> [UInt8] {
            reply ? P.ethernet(0x0800, P.ipv4("10.244.0.25", "10.244.0.102", proto: 6, P.tcp(80, 40000, flags: flags)))
                : P.ethernet(0x0800, P.ipv4("10.244.0.102", "10.244.0.25", proto: 6, P.tcp(40000, 80, flags: flags)))
        }
        #expect(verdict(try h.run(seg(P.tcpSYN), egress: false).events) == UInt32(FW_CT_NEW.rawValue))
        var entry = try #require(h.program.conntrackEntries().first)
        let now = Harness.conntrackNow()
        #expect(entry.entry.lifetime <= now + UInt32(FW_CT_SYN_TIMEOUT) && entry.entry.lifetime > now + UInt32(FW_CT_SYN_TIMEOUT) - 5)
        #expect(verdict(try h.run(seg(P.tcpSYN | P.tcpACK, reply: true), egress: true).events) == UInt32(FW_CT_REPLY.rawValue))
        #expect(verdict(try h.run(seg(P.tcpACK), egress: false).events) == UInt32(FW_CT_ESTABLISHED.rawValue))
        entry = try #require(h.program.conntrackEntries().first)
        #expect(entry.entry.lifetime > now + UInt32(FW_CT_LIFETIME_TCP) - 5)
        #expect(entry.entry.flags & UInt8(FW_CT_F_SEEN_NON_SYN) != 0)

        _ = try h.run(seg(P.tcpFIN | P.tcpACK), egress: false)
        _ = try h.run(seg(P.tcpFIN | P.tcpACK, reply: true), egress: true)
        entry = try #require(h.program.conntrackEntries().first)
        #expect(entry.entry.flags & UInt8(FW_CT_F_TX_CLOSING | FW_CT_F_RX_CLOSING) == UInt8(FW_CT_F_TX_CLOSING | FW_CT_F_RX_CLOSING))
        #expect(entry.entry.lifetime <= now + UInt32(FW_CT_CLOSE_TIMEOUT) + 1)

        // A new connection on other ports, reset at once.
        let syn2 = P.ethernet(0x0800, P.ipv4("10.244.0.102", "10.244.0.25", proto: 6, P.tcp(40001, 80, flags: P.tcpSYN)))
        let rst2 = P.ethernet(0x0800, P.ipv4("10.244.0.25", "10.244.0.102", proto: 6, P.tcp(80, 40001, flags: P.tcpRST | P.tcpACK)))
        _ = try h.run(syn2, egress: false)
        #expect(verdict(try h.run(rst2, egress: true).events) == UInt32(FW_CT_REPLY.rawValue))
        let reset = h.program.conntrackEntries().first { $0.key.sport == UInt16(40001).bigEndian }
        #expect(reset.map { $0.entry.flags & UInt8(FW_CT_F_TX_CLOSING | FW_CT_F_RX_CLOSING) } == UInt8(FW_CT_F_TX_CLOSING | FW_CT_F_RX_CLOSING))
    }

    @Test("UDP over IPv6: lookups carry the last 4 bytes of each address and the v6 flag")
    func udp6() throws {
        let h = try Harness()
        try h.role(.lxc, endpointID: 2073, identity: 22099)
        let pkt = P.ethernet(0x86dd, P.ipv6(P.ip6Client, P.ip6Server, next: 17, P.udp(5353, 53)))
        let r = try h.run(pkt, egress: false)
        #expect(r.retval == Self.pass && r.output == pkt)
        #expect(r.events.first == .debug(type: UInt8(FW_DBG_CT_LOOKUP6_1.rawValue), source: 2073,
                                         arg1: UInt32(0x66).bigEndian, arg2: UInt32(0x19).bigEndian, arg3: 53 << 16 | 5353))
        #expect(r.events.contains { $0.debugType == UInt8(FW_DBG_IP_ID_MAP_SUCCEED6.rawValue) })
        #expect(r.events.contains { $0.debugType == UInt8(FW_DBG_CT_CREATED6.rawValue) })
        if case .trace(_, _, let src, let dst, let dstID, _, let flags, _, _, _, _) = trace(r.events) {
            #expect((src, dst, dstID) == (22099, 11575, 149))
            #expect(flags & UInt8(FW_CLS_FLAG_IPV6) != 0)
        }
    }

    @Test("an ICMP error about a tracked flow is related and creates nothing")
    func related() throws {
        let h = try Harness()
        try h.role(.lxc, endpointID: 2073, identity: 22099)
        let datagram = P.ipv4("10.244.0.102", "198.51.100.10", proto: 17, P.udp(40000, 53))
        _ = try h.run(P.ethernet(0x0800, datagram), egress: false)
        let before = h.program.conntrackEntries().count
        // Port unreachable from the destination, quoting the datagram's header and first 8 bytes.
        let icmp: [UInt8] = [3, 3, 0, 0, 0, 0, 0, 0] + Array(datagram.prefix(28))
        let r = try h.run(P.ethernet(0x0800, P.ipv4("198.51.100.10", "10.244.0.102", proto: 1, icmp)), egress: true)
        #expect(verdict(r.events) == UInt32(FW_CT_RELATED.rawValue))
        if case .trace(_, _, _, _, _, let reason, _, _, _, _, _) = trace(r.events) {
            #expect(reason == UInt8(FW_TRACE_REASON_RELATED.rawValue))
        }
        #expect(h.program.conntrackEntries().count == before)
    }

    static let malformed: [(String, [UInt8])] = [
        ("ARP", P.ethernet(0x0806, [0, 1, 8, 0, 6, 4, 0, 1] + [UInt8](repeating: 0, count: 20))),
        ("VLAN-tagged IPv4", P.ethernet(0x8100, [0, 5, 0x08, 0x00] + P.ipv4("10.244.0.102", "10.244.0.25", proto: 1, P.icmpEcho(request: true, id: 1, seq: 1)))),
        ("Ethernet header only", P.ethernet(0x88cc, [])),
        // BPF_PROG_TEST_RUN itself refuses frames shorter than a base IP header, so truncation
        // is tested past it: options, extension headers and L4 headers that are not there.
        ("IPv4 options cut short", P.ethernet(0x0800, [0x4f] + Array(P.ipv4("10.244.0.102", "10.244.0.25", proto: 6, []).dropFirst()))),
        ("IPv4 IHL below 5", P.ethernet(0x0800, [0x44] + Array(P.ipv4("10.244.0.102", "10.244.0.25", proto: 6, P.tcp(1, 2, flags: 2)).dropFirst()))),
        ("IPv4 later fragment", P.ethernet(0x0800, P.ipv4("10.244.0.102", "10.244.0.25", proto: 17, [UInt8](repeating: 7, count: 24), fragment: 0x0010))),
        ("TCP header cut short", P.ethernet(0x0800, Array(P.ipv4("10.244.0.102", "10.244.0.25", proto: 6, P.tcp(1, 2, flags: 2)).prefix(30)))),
        ("IPv6 later fragment", P.ethernet(0x86dd, P.ipv6(P.ip6Client, P.ip6Server, next: 44, [17, 0, 0, 0x18, 0, 0, 0, 1] + P.udp(1, 2)))),
        ("IPv6 extension header cut short", P.ethernet(0x86dd, P.ipv6(P.ip6Client, P.ip6Server, next: 0, [6, 0]))),
        ("unknown ethertype", P.ethernet(0x88b5, [UInt8](repeating: 0x55, count: 46))),
    ]

    @Test("malformed and non-IP frames pass unchanged with only an untracked trace", arguments: malformed.map(\.0))
    func malformedPassesUnchanged(name: String) throws {
        let packet = try #require(Self.malformed.first { $0.0 == name }?.1)
        let h = try Harness()
        try h.role(.lxc, endpointID: 2073, identity: 22099)
        for egress in [false, true] {
            let r = try h.run(packet, egress: egress)
            #expect(r.retval == Self.pass)
            #expect(r.output == packet)
            #expect(r.events.count == 1, "\(r.events)")
            if case .trace(_, _, _, _, _, let reason, _, _, let len, _, _) = r.events.first {
                #expect(reason == UInt8(FW_TRACE_REASON_UNKNOWN.rawValue))
                #expect(len == UInt32(packet.count))
            }
        }
        #expect(h.program.conntrackEntries().isEmpty)
    }

    @Test("debug off: one trace per packet and nothing else")
    func debugOff() throws {
        let h = try Harness(debug: false)
        try h.role(.lxc, endpointID: 2073, identity: 22099)
        let r = try h.run(echo(request: true, from: "10.244.0.102", to: "10.244.0.25"), egress: false)
        #expect(r.events.count == 1 && r.events[0].isTrace)
    }

    @Test("a device that is not in the devices map is not observed")
    func unknownDevice() throws {
        let h = try Harness()
        let r = try h.run(echo(request: true, from: "10.244.0.102", to: "10.244.0.25"), egress: false)
        #expect(r.retval == Self.pass && r.events.isEmpty)
        #expect(h.program.counters().packets == 0)
    }

    @Test("capture length: the first N bytes, the whole packet for 0", arguments: [UInt32(0), 64, 128, 1500])
    func captureLength(length: UInt32) throws {
        let h = try Harness(debug: false, captureLength: length)
        try h.role(.lxc, endpointID: 2073, identity: 22099)
        let packet = P.ethernet(0x0800, P.ipv4("10.244.0.102", "10.244.0.25", proto: 17, P.udp(1, 2, [UInt8](repeating: 9, count: 400))))
        let r = try h.run(packet, egress: false)
        guard case .trace(_, _, _, _, _, _, _, _, let len, let cap, let bytes) = r.events.first else { Issue.record("no trace"); return }
        let expected = length == 0 ? packet.count : min(Int(length), packet.count)
        #expect(len == UInt32(packet.count) && Int(cap) == expected && bytes == Array(packet.prefix(expected)))
        #expect(h.program.counters() == ProgramCounters(packets: 1, events: 1, outputErrors: 0))
    }

    @Test("observation points by role and direction")
    func observationPoints() throws {
        let h = try Harness(debug: false)
        let cases: [(DeviceRole, Bool, fw_trace_point)] = [
            (.lxc, false, FW_TRACE_FROM_LXC), (.lxc, true, FW_TRACE_TO_LXC),
            (.host, false, FW_TRACE_TO_HOST), (.host, true, FW_TRACE_FROM_HOST),
            (.network, false, FW_TRACE_FROM_NETWORK), (.network, true, FW_TRACE_TO_NETWORK),
        ]
        for (role, egress, point) in cases {
            try h.role(role, endpointID: role == .network ? 0 : 7, identity: role == .host ? 1 : 22099)
            let r = try h.run(echo(request: true, from: "10.244.0.102", to: "10.244.0.25"), egress: egress)
            if case .trace(let p, let source, _, _, _, _, _, _, _, _, _) = r.events.first {
                #expect(p == UInt8(point.rawValue), "\(role) egress=\(egress)")
                #expect(source == (role == .network ? 0 : 7))
            } else {
                Issue.record("no trace for \(role) egress=\(egress)")
            }
        }
    }
}
