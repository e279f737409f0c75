import Foundation
import Testing
@testable import FlowwatchCore

/// Golden `cilium monitor` lines per event type and verbosity.
@Suite struct FormatterTests {
    static let names: [UInt32: String] = [10: "lxc89c8c94364d6", 12: "lxc1ddf0c103b7b", 1: "lxc_health"]

    func formatter(_ verbosity: MonitorFormatter.Verbosity, numeric: Bool = false) -> MonitorFormatter {
        MonitorFormatter(verbosity: verbosity, numericIdentities: numeric, interfaceName: { Self.names[$0] })
    }

    func text(_ message: [UInt8], _ verbosity: MonitorFormatter.Verbosity, numeric: Bool = false, cpu: UInt32 = 1) throws -> String {
        formatter(verbosity, numeric: numeric).format(try decodeEvent(message, cpu: cpu))
    }

    static let arp: [UInt8] = bytes {
        mac(0x8E, 0x3C, 0xA3, 0x67, 0xCC, 0x1E); mac(0x16, 0xF9, 0xCD, 0xDC, 0x87, 0xE5); be16(0x0806)
        be16(1); be16(0x0800); u8(6); u8(4); be16(2)
        mac(0x16, 0xF9, 0xCD, 0xDC, 0x87, 0xE5); ip4(10, 0, 0, 1); mac(0x8E, 0x3C, 0xA3, 0x67, 0xCC, 0x1E); ip4(10, 0, 0, 2)
    }

    /// IPv6 + UDP [fd00::1]:53 -> [fd00::2]:5353, from an L3 device (no Ethernet header).
    static let udp6: [UInt8] = bytes {
        u8(0x60); u8(0); be16(0); be16(8); u8(17); u8(64)
        ip6(0xFD00, 0, 0, 0, 0, 0, 0, 1); ip6(0xFD00, 0, 0, 0, 0, 0, 0, 2)
        be16(53); be16(5353); be16(8); be16(0)
    }

    // MARK: - Trace

    @Test func traceInfoFromEndpoint() throws {
        let m = Message.traceV2(point: 5, source: 2073, hash: 0xBBE3_D555, srcIdentity: 22099, dstIdentity: 2,
                                dstID: 0, reason: 0, ifindex: 10, origIP: ip4(10, 0, 0, 1), packet: Packets.tcpSYN)
        #expect(try text(m, .info) == "<- endpoint 2073 flow 0xbbe3d555 identity 22099->world state new ifindex lxc89c8c94364d6 orig-ip 10.0.0.1: 10.0.0.1:1234 -> 10.0.0.2:80 tcp SYN\n")
        #expect(try text(m, .debug) == text(m, .info))
        #expect(try text(m, .info, numeric: true).contains(" identity 22099->2 "))
    }

    @Test func traceVerbose() throws {
        let m = Message.traceV2(point: 5, source: 2073, hash: 0xBBE3_D555, srcIdentity: 22099, dstIdentity: 2,
                                dstID: 0, reason: 0, ifindex: 10, origIP: ip4(10, 0, 0, 1), packet: Packets.tcpSYN)
        #expect(try text(m, .verbose) == """
            ------------------------------------------------------------------------------
            CPU 01: MARK 0xbbe3d555 FROM 2073 from-endpoint: 74 bytes (74 captured), state new, interface lxc89c8c94364d6, identity 22099->world, orig-ip 10.0.0.1
            Ethernet\t{Contents=[..14..] Payload=[..60..] SrcMAC=02:00:00:00:00:01 DstMAC=02:00:00:00:00:02 EthernetType=IPv4 Length=0}
            IPv4\t{Contents=[..20..] Payload=[..40..] Version=4 IHL=5 TOS=0 Length=60 Id=4660 Flags=DF FragOffset=0 TTL=64 Protocol=TCP Checksum=43981 SrcIP=10.0.0.1 DstIP=10.0.0.2 Options=[] Padding=[]}
            TCP\t{Contents=[..40..] Payload=[] SrcPort=1234 DstPort=80 Seq=1000 Ack=0 DataOffset=10 FIN=false SYN=true RST=false PSH=false ACK=false URG=false ECE=false CWR=false NS=false Window=64240 Checksum=4369 Urgent=0 Options=[..5..] Padding=[]}

            """)
    }

    @Test func traceVerboseWithoutInterfaceIdentityOrPacket() throws {
        let m = Message.traceV2(point: 3, source: 0, srcIdentity: 0, dstIdentity: 0, dstID: 0, reason: 5,
                                ifindex: 0, origIP: [], packet: [])
        #expect(try text(m, .verbose, cpu: 123) == """
            ------------------------------------------------------------------------------
            CPU 123: MARK 0x0 FROM 0 to-stack: 0 bytes (0 captured), state unknown, orig-ip 0.0.0.0

            """)
        #expect(try text(m, .info) == "-> stack flow 0x0 identity 0->0 state unknown ifindex 0 orig-ip 0.0.0.0: [unknown]\n")
    }

    @Test func traceToProxy() throws {
        let m = Message.traceV2(point: 1, source: 745, srcIdentity: 8, dstIdentity: 61131, dstID: 15001, reason: 1,
                                ifindex: 1, origIP: ip4(10, 0, 0, 1), packet: Packets.tcpSYN)
        #expect(try text(m, .info).hasPrefix("-> proxy port 15001 flow 0x0 identity ingress->61131 state established ifindex lxc_health "))
        #expect(try text(m, .verbose).contains(", orig-ip 10.0.0.1, to proxy-port 15001\n"))
    }

    @Test func traceEncryptedWithIPTraceIDOnL3Device() throws {
        let m = Message.traceV2(point: 3, source: 0, hash: 1, srcIdentity: 1, dstIdentity: 16_777_217, dstID: 0,
                                reason: 0x82, flags: 0x03, ifindex: 99, origIP: ip6(0xFD00, 0, 0, 0, 0, 0, 0, 1),
                                ipTraceID: 7, packet: Self.udp6)
        #expect(try text(m, .info) == "-> stack encrypted flow 0x1 identity host->16777217 [ ip-trace-id = 7 ] state reply ifindex 99 orig-ip fd00::1: [fd00::1]:53 -> [fd00::2]:5353 udp\n")
        #expect(try text(m, .verbose).split(separator: "\n")[1]
            == "CPU 01: MARK 0x1 [ IP-TRACE-ID = 7 ] FROM 0 to-stack: 48 bytes (48 captured), state reply, interface 99, identity host->16777217, orig-ip fd00::1")
    }

    @Test func traceUnknownPointAndReason() throws {
        let m = Message.traceV2(point: 42, source: 3, srcIdentity: 4, dstIdentity: 5, dstID: 0, reason: 9,
                                ifindex: 0, origIP: ip4(0, 0, 0, 0), packet: Self.arp)
        #expect(try text(m, .info) == "unknown trace flow 0x0 identity health->init state 9 ifindex 0 orig-ip 0.0.0.0: 16:f9:cd:dc:87:e5 -> 8e:3c:a3:67:cc:1e ARP\n")
        #expect(try text(m, .verbose).contains("FROM 3 42: 42 bytes (42 captured), state 9, identity health->init,"))
    }

    @Test func traceVersion0PrintsZeroOrigIP() throws {
        let m: [UInt8] = bytes {
            u8(4); u8(7); le16(0); le32(0); le32(60); le16(0); u8(0); u8(0)   // from-host, no packet
            le32(1); le32(0); le16(0); u8(0); u8(1); le32(0)                  // flags: IPv6
        }
        #expect(try text(m, .info) == "<- host flow 0x0 identity host->0 state new ifindex 0 orig-ip ::: [unknown]\n")
    }

    @Test(arguments: [
        (UInt8(0x18), "10.0.0.1:1234 -> 10.0.0.2:80 tcp ACK"),
        (0x12, "10.0.0.1:1234 -> 10.0.0.2:80 tcp SYN, ACK"),
        (0x15, "10.0.0.1:1234 -> 10.0.0.2:80 tcp ACK, RST, FIN"),
        (0x08, "10.0.0.1:1234 -> 10.0.0.2:80 tcp"),
    ])
    func tcpFlagSummaries(_ flags: UInt8, _ summary: String) throws {
        var packet = Packets.tcpSYN
        packet[47] = flags
        let m = Message.traceV2(point: 0, source: 1, srcIdentity: 1, dstIdentity: 1, dstID: 1, reason: 1,
                                ifindex: 0, origIP: ip4(10, 0, 0, 1), packet: packet)
        #expect(try text(m, .info).hasSuffix(": \(summary)\n"))
    }

    @Test func summaryOfUndecodableBytesIsError() throws {
        let m = Message.traceV2(point: 0, source: 1, srcIdentity: 1, dstIdentity: 1, dstID: 1, reason: 1,
                                ifindex: 0, origIP: ip4(10, 0, 0, 1), packet: [1, 2, 3])
        #expect(try text(m, .info).hasSuffix(": [error]\n"))
        #expect(try text(m, .verbose).hasSuffix("\n  Failed to decode layer: Ethernet packet too small\n"))
    }

    @Test func summaryOfIPWithoutTransport() throws {
        var packet = Packets.udp
        packet[23] = 47  // GRE: no decoder
        let m = Message.traceV2(point: 0, source: 1, srcIdentity: 1, dstIdentity: 1, dstID: 1, reason: 1,
                                ifindex: 0, origIP: ip4(10, 0, 0, 1), packet: packet)
        #expect(try text(m, .info).hasSuffix(": 10.0.0.1 -> 10.0.0.2\n"))
    }

    // MARK: - Debug

    @Test func debugOnlyFromVerbosityDebug() throws {
        let m = Message.debug(61, source: 0, hash: 0xBBE3_D555, 1)
        #expect(try text(m, .info) == "")
        #expect(try text(m, .debug, cpu: 0) == "CPU 00: MARK 0xbbe3d555 FROM 0 DEBUG: Inheriting identity=1 from stack\n")
        #expect(try text(m, .verbose, cpu: 0) == text(m, .debug, cpu: 0))
    }

    static let addr1 = dbgAddr(10, 0, 0, 1)
    static let addr2 = dbgAddr(10, 0, 0, 2)
    /// The last 4 bytes of fd00::a:b and fd00::c:d as the datapath passes them.
    static let tail1: UInt32 = 0x0B00_0A00
    static let tail2: UInt32 = 0x0D00_0C00

    /// Every `DBG_*` text (subtype, arg1, arg2, arg3, text).
    static let debugTexts: [(UInt8, UInt32, UInt32, UInt32, String)] = [
        (1, 10, 255, 0, "No message, arg1=10 (0xa) arg2=255 (0xff)"),
        (2, 149, 22099, 0, "Attempting local delivery for container id 149 from seclabel 22099"),
        (3, 178_866_304, 49798, 0, "Encapsulating to node 178866304 (0xaa94880) from seclabel 49798"),
        (4, 12, 0x5356, 0, "Local container found ifindex lxc1ddf0c103b7b seclabel 22099"),
        (4, 77, 0x5356, 0, "Local container found ifindex 77 seclabel 22099"),
        (5, 1, 2, 0, "Policy evaluation would deny packet from 1 to 2"),
        (6, 1234 << 16 | 80, 6 << 8 | 1, 0, "CT lookup: sport=1234 dport=80 nexthdr=6 flags=OUT"),
        (7, 1234 << 16 | 80, 6 << 8 | 3, 0, "CT reverse lookup: sport=1234 dport=80 nexthdr=6 flags=OUT, RELATED"),
        (8, 21925, 0x0100, 0, "CT entry found lifetime=21925, revnat=1"),
        (9, 1234 << 16 | 80, 17 << 8, 0x0200, "CT created 1/2: sport=1234 dport=80 nexthdr=17 flags= revnat=2"),
        (10, addr1, 0x0300, 0, "CT created 2/2: 10.0.0.1 revnat=3"),
        (11, 135, 0, 0, "Handling ICMPv6 type=135"),
        (12, 4, 0, 0, "ICMPv6 echo request for router offset=4"),
        (13, 0xFE80, 1, 0, "ICMPv6 neighbour soliciation for address fe80:1"),
        (14, 0, 0, 0, "Sending ICMPv6 time exceeded"),
        (15, 0, 0, 0, "CT verdict: New, revnat=0"),
        (15, 1, 0x0500, 0, "CT verdict: Established, revnat=5"),
        (15, 2, 0, 0, "CT verdict: Reply, revnat=0"),
        (15, 3, 0, 0, "CT verdict: Related, revnat=0"),
        (15, 133, 0, 0, "CT verdict: Policy denied, revnat=0"),
        (15, 12, 0, 0, "CT verdict: 12, 0, revnat=0"),
        (16, 7, 0xABC, 0, "Tunnel decap: id=7 flowlabel=abc"),
        (17, 80, 8080, 0, "Mapping port from=80 to=8080"),
        (18, 3, 4_294_967_294, 0, "BPF function 3 returned error 4294967294"),
        (19, 1, 0, 0, "Going to host, policy-skip=1"),
        (20, 0, 0, 0, "Going to the stack, policy-skip=0"),
        (21, 255, 3, 0, "Packet hash=255 (0xff), selected_service=3"),
        (22, 0xA, 0x5000, 0, "Frontend service lookup, addr.p4=a key.dport=80"),
        (23, 1, 2, 0, "Frontend service lookup failed, addr.p2=1 addr.p3=2"),
        (24, 3, 0x5000, 0, "Service backend slot lookup: slot=3, dport=80"),
        (25, 0xA, 0x5000, 0, "Service backend slot lookup result: target.p4=a port=80"),
        (26, 3, 0x5000, 0, "Service backend slot lookup failed: slot=3, dport=80"),
        (27, 9, 0, 0, "Backend service lookup failed: backend_id=9"),
        (28, 0x0700, 0, 0, "Reverse NAT lookup, index=7"),
        (29, 0xA, 0x5000, 0, "Performing reverse NAT, address.p4=a port=80"),
        (30, dbgAddr(10, 96, 0, 1), 0x5000, 0, "Frontend service lookup, addr=10.96.0.1 key.dport=80"),
        (31, 0, 0, 0, "Frontend service lookup failed"),
        (32, 3, 0x5000, 0, "Service backend slot lookup: slot=3, dport=80"),
        (33, addr1, 0x5000, 0, "Service backend slot lookup result: target=10.0.0.1 port=80"),
        (34, 3, 0x5000, 0, "Service backend slot lookup failed: slot=3, dport=80"),
        (35, 9, 0, 0, "Backend service lookup failed: backend_id=9"),
        (36, 0x0700, 0, 0, "Reverse NAT lookup, index=7"),
        (37, addr1, 0x5000, 0, "Performing reverse NAT, address=10.0.0.1 port=80"),
        (38, addr1, addr2, 0, "Loopback SNAT from=10.0.0.1 to=10.0.0.2"),
        (39, addr1, addr2, 0, "Loopback reverse SNAT from=10.0.0.1 to=10.0.0.2"),
        (40, addr1, 0, 0, "CT lookup address: 10.0.0.1"),
        (41, 255, 3, 0, "RR backend slot selection hash=255 (0xff), selected_service=3"),
        (42, 0x901F_5000, addr1, 6, "Reverse proxy lookup sport=8080 dport=80 saddr=10.0.0.1 nexthdr=6"),
        (43, addr1, 80, 0, "Reverse proxy entry found, orig-daddr=10.0.0.1 orig-dport=80"),
        (44, 0x901F_5000, addr1, 6, "Reverse proxy updated sport=8080 dport=80 saddr=10.0.0.1 nexthdr=6"),
        (45, 0x5000, 1, 0, "Resolved L4 policy to: 80 / ingress"),
        (45, 0x5000, 0, 0, "Resolved L4 policy to: 80 / egress"),
        (45, 0x5000, 7, 0, "Resolved L4 policy to: 80 / "),
        (46, 22099, 0, 0, "Destination is inside cluster prefix, source identity: 22099"),
        (47, dbgAddr(192, 168, 2, 33), 6, 0, "Attempting encapsulation, lookup key: 192.168.2.33, identity: 6"),
        (48, dbgAddr(10, 0, 1, 218), dbgAddr(10, 0, 0, 90), 5632, "Conntrack lookup 1/2: src=10.0.1.218:5632 dst=10.0.0.90:0"),
        (49, 6 << 8 | 0, 1, 2, "Conntrack lookup 2/2: nexthdr=6 flags=0 dir=1 scope=2"),
        (50, 8080 << 16 | 0x0100, 49798, dbgAddr(10, 96, 0, 10), "Conntrack create: proxy-port=8080 revnat=1 src-identity=49798 lb=10.96.0.10"),
        (51, tail1, tail2, 1000 << 16 | 53, "Conntrack lookup 1/2: src=[::a:b]:53 dst=[::c:d]:1000"),
        (52, 17 << 8 | 1, 0, 0, "Conntrack lookup 2/2: nexthdr=17 flags=1 dir=0 scope=0"),
        (53, 0x0200, 7, 0, "Conntrack create: proxy-port=0 revnat=2 src-identity=7"),
        (54, 0xFF, 0, 0, "Skipping proxy, tc_index is set=ff"),
        (55, 1, 2, 0x5000 << 16 | 6, "Matched L4 policy; creating conntrack src=1 dst=2 dport=80 proto=6"),
        (56, addr1, 0, 0, "Failed to map addr=10.0.0.1 to identity"),
        (57, tail1, 0, 0, "Failed to map addr.p4=[::a:b] to identity"),
        (58, dbgAddr(10, 11, 251, 76), 1, 0, "Successfully mapped addr=10.11.251.76 to identity=1"),
        (59, tail1, 5, 0, "Successfully mapped addr.p4=[::a:b] to identity=5"),
        (60, 1, 2, 0, "Stale CT entry found stale_ct.rev_nat_id=2, svc.rev_nat_id=1"),
        (61, 1, 0, 0, "Inheriting identity=1 from stack"),
        (62, addr1, addr2, 443 << 16 | 80, "Socket lookup: src=10.0.0.1:80 dst=10.0.0.2:443"),
        (63, tail1, tail2, 1000 << 16 | 53, "Socket lookup: src=[::a:b]:53 dst=[::c:d]:1000"),
        (64, 0, 0, 0, "Socket assign: Success"),
        (64, 2, 0, 0, "Socket assign: errno 2"),
        (65, addr1, addr2, 15000, "L7 LB from 10.0.0.1 to 10.0.0.2: proxy port 15000"),
        (66, 1, 2, 3, "Unknown message type=66 arg1=1 arg2=2"),
        (0, 0, 0, 0, "Unknown message type=0 arg1=0 arg2=0"),
        (255, 4_294_967_295, 0, 0, "Unknown message type=255 arg1=4294967295 arg2=0"),
    ]

    @Test(arguments: debugTexts)
    func debugText(_ subtype: UInt8, _ a1: UInt32, _ a2: UInt32, _ a3: UInt32, _ expected: String) throws {
        let m = Message.debug(subtype, source: 2073, a1, a2, a3)
        #expect(try text(m, .debug, cpu: 3) == "CPU 03: MARK 0x0 FROM 2073 DEBUG: \(expected)\n")
    }

    // MARK: - Drop

    static let drop = Message.dropV3(reason: 133, source: 164, hash: 0x8A1F_2C3D, srcIdentity: 52901,
                                     dstIdentity: 46212, dstID: 164, line: 1998, file: 2, ifindex: 42,
                                     packet: Packets.tcpSYN)

    @Test func dropInfo() throws {
        #expect(try text(Self.drop, .info) == "xx drop (Policy denied) flow 0x8a1f2c3d to endpoint 164, ifindex 42, file bpf_lxc.c:1998, identity 52901->46212: 10.0.0.1:1234 -> 10.0.0.2:80 tcp SYN\n")
        #expect(try text(Self.drop, .debug) == text(Self.drop, .info))
    }

    @Test func dropInfoVariants() throws {
        let m = Message.dropV3(reason: 250, source: 0, srcIdentity: 2, dstIdentity: 0, dstID: 0, line: 7, file: 99,
                               extError: -3, ifindex: 0, ipTraceID: 77, packet: Self.arp)
        #expect(try text(m, .info) == "xx drop (250, -3) flow 0x0 to endpoint 0, ifindex 0, file unknown(99):7, [ ip-trace-id = 77 ], identity world->0: 16:f9:cd:dc:87:e5 -> 8e:3c:a3:67:cc:1e ARP\n")
        let ext = Message.dropV3(reason: 133, source: 0, srcIdentity: 2, dstIdentity: 0, dstID: 0, line: 7, file: 101,
                                 extError: 5, ifindex: 0, packet: [])
        #expect(try text(ext, .info) == "xx drop (Policy denied, 5) flow 0x0 to endpoint 0, ifindex 0, file drop.h:7, identity world->0: [unknown]\n")
    }

    @Test func dropVerbose() throws {
        let lines = try text(Self.drop, .verbose).split(separator: "\n")
        #expect(lines.count == 5)
        #expect(lines[0] == Substring(String(repeating: "-", count: 78)))
        #expect(lines[1] == "CPU 01: MARK 0x8a1f2c3d FROM 164 DROP: 74 bytes, reason Policy denied, identity 52901->46212, to endpoint 164")
        #expect(lines[2].hasPrefix("Ethernet\t{"))
        #expect(lines[4].hasPrefix("TCP\t{"))
    }

    @Test func dropVerboseOnL3Device() throws {
        let m = Message.dropV3(reason: 134, source: 9, srcIdentity: 0, dstIdentity: 0, dstID: 0, line: 1, file: 1,
                               ifindex: 3, flags: 0x03, packet: Self.udp6)
        #expect(try text(m, .verbose).split(separator: "\n").dropFirst().map(String.init) == [
            "CPU 01: MARK 0x0 FROM 9 DROP: 48 bytes, reason Invalid packet",
            "IPv6\t{Contents=[..40..] Payload=[..8..] Version=6 TrafficClass=0 FlowLabel=0 Length=8 NextHeader=UDP HopLimit=64 SrcIP=fd00::1 DstIP=fd00::2 HopByHop=nil}",
            "UDP\t{Contents=[..8..] Payload=[] SrcPort=53 DstPort=5353 Length=8 Checksum=0}",
        ])
    }

    // MARK: - Debug capture

    @Test(arguments: [
        (UInt8(4), UInt32(1), "-> lxc_health: 16:f9:cd:dc:87:e5 -> 8e:3c:a3:67:cc:1e ARP\n"),
        (5, 12, "<- load-balancer lxc1ddf0c103b7b: 16:f9:cd:dc:87:e5 -> 8e:3c:a3:67:cc:1e ARP\n"),
        (6, 3, "== v4->v6 3: 16:f9:cd:dc:87:e5 -> 8e:3c:a3:67:cc:1e ARP\n"),
        (7, 3, "== v6->v4 3: 16:f9:cd:dc:87:e5 -> 8e:3c:a3:67:cc:1e ARP\n"),
        (9, 0x901F, "-> proxy port 8080: 16:f9:cd:dc:87:e5 -> 8e:3c:a3:67:cc:1e ARP\n"),
        (8, 0x901F, ""),
        (10, 3, ""),
        (0, 3, ""),
    ])
    func captureInfo(_ point: UInt8, _ arg1: UInt32, _ expected: String) throws {
        let m = Message.capture(point: point, source: 745, arg1: arg1, packet: Self.arp)
        #expect(try text(m, .info) == expected)
        #expect(try text(m, .debug) == expected)
    }

    @Test(arguments: [
        (UInt8(4), UInt32(12), "Delivery to ifindex 12"),
        (5, 12, "Incoming packet to load balancer on ifindex 12"),
        (6, 3, "Packet after nat46 ifindex 3"),
        (7, 3, "Packet after nat64 ifindex 3"),
        (8, 0x901F, "Packet to proxy port 8080 (Pre)"),
        (9, 0x901F, "Packet to proxy port 8080 (Post)"),
        (10, 3, "Packet going into snat engine on ifindex 3"),
        (11, 3, "Packet coming from snat engine on ifindex 3"),
        (2, 5, "Unknown message type=2 arg1=5"),
    ])
    func captureVerbose(_ point: UInt8, _ arg1: UInt32, _ expected: String) throws {
        let m = Message.capture(point: point, source: 745, arg1: arg1, packet: Self.arp)
        let lines = try text(m, .verbose, cpu: 0).split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        #expect(lines[1] == "CPU 00: MARK 0x0 FROM 745 DEBUG: 42 bytes, \(expected)")
        #expect(lines[2].hasPrefix("Ethernet\t{"))
        #expect(lines[3].hasPrefix("ARP\t{"))
    }

    // MARK: - Lost

    @Test(arguments: [MonitorFormatter.Verbosity.info, .debug, .verbose])
    func lost(_ verbosity: MonitorFormatter.Verbosity) {
        let event = MonitorEvent(cpu: 7, timestamp: 0, payload: .lost(count: 12))
        #expect(formatter(verbosity).format(event) == "CPU 07: Lost 12 events\n")
    }

    /// The buffer is appended to, never cleared, so one buffer serves a whole stream.
    @Test func writeAppends() throws {
        var buffer: [UInt8] = Array("> ".utf8)
        let f = formatter(.debug)
        f.write(MonitorEvent(cpu: 1, timestamp: 0, payload: .lost(count: 1)), into: &buffer)
        f.write(try decodeEvent(Message.debug(61, source: 0, 1), cpu: 1), into: &buffer)
        #expect(String(decoding: buffer, as: UTF8.self) == "> CPU 01: Lost 1 events\nCPU 01: MARK 0x0 FROM 0 DEBUG: Inheriting identity=1 from stack\n")
    }

    @Test(arguments: [(UInt32(0), "0"), (1, "host"), (2, "world"), (3, "unmanaged"), (4, "health"), (5, "init"),
                      (6, "remote-node"), (7, "kube-apiserver"), (8, "ingress"), (9, "world-ipv4"),
                      (10, "world-ipv6"), (11, "overlay-to-encrypt"), (12, "12"), (16_777_217, "16777217")])
    func identityNames(_ identity: UInt32, _ name: String) {
        #expect(SecurityIdentity(identity).description == name)
    }

    @Test func decimalAndHexWriters() {
        var out: [UInt8] = []
        out.appendDecimal(UInt64.max)
        out.appendASCII(" ")
        out.appendDecimal(Int8.min)
        out.appendASCII(" ")
        out.appendDecimal(5, width: 2)
        out.appendASCII(" ")
        out.appendHexPrefixed(UInt32(0))
        out.appendASCII(" ")
        out.appendHexPrefixed(UInt64.max)
        #expect(String(decoding: out, as: UTF8.self) == "18446744073709551615 -128 05 0x0 0xffffffffffffffff")
    }

    /// Numbers take one of five paths by size (two digits, up to five in one word, up to eight in
    /// one word, two words, stack): every boundary, at every width, as `%0*llu` prints it, into
    /// an array and through a cursor (whose 8 bytes of room make the words' stores fall back too).
    @Test func decimalsAtEveryBoundary() {
        var values: [UInt64] = [UInt64.max, UInt64.max - 1]
        var power: UInt64 = 1
        for _ in 0...19 {
            values += [power - 1, power, power + 1, power &* 9 &+ 8]
            if power > UInt64.max / 10 { break }
            power *= 10
        }
        for value in values {
            for width in 1...20 {
                var out: [UInt8] = []
                out.appendDecimal(value, width: width)
                var line = LineBuffer(capacity: 8)
                var viaCursor: [UInt8] = []
                line.append(to: &viaCursor) { $0.appendDecimal(value, width: width) }
                let expected = String(format: "%0*llu", width, value)
                #expect(String(decoding: out, as: UTF8.self) == expected)
                #expect(String(decoding: viaCursor, as: UTF8.self) == expected)
            }
        }
    }
}
