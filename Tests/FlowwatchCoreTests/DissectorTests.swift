import Testing
@testable import FlowwatchCore

/// Packet tables per protocol, checked against the decoded fields and against the gopacket
/// `LayerString` lines `cilium monitor -vv` prints for them.
@Suite struct DissectorTests {
    /// The -vv dissection lines of a packet.
    func layerLines(_ packet: [UInt8], from first: PacketDissector.FirstLayer = .ethernet) -> [String] {
        var out: [UInt8] = []
        packet.withUnsafeBytes { raw in
            out.appendDissection(PacketDissector.dissect(raw, from: first), raw)
        }
        return String(decoding: out, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    @Test func tcpWithOptions() throws {
        let d = PacketDissector.dissect(Packets.tcpSYN)
        #expect(d.layers.count == 3)
        #expect(!d.truncated && d.failure == nil)
        guard case .tcp(let tcp) = d.layers[2] else { Issue.record("no TCP layer"); return }
        #expect(tcp.sourcePort == 1234 && tcp.destinationPort == 80)
        #expect(tcp.flags == .syn)
        #expect(tcp.dataOffset == 10)
        #expect(tcp.options.map(\.kind) == [2, 4, 8, 1, 3])
        #expect(tcp.span.contents == 34..<74)
        #expect(tcp.span.payload == 74..<74)
        #expect(layerLines(Packets.tcpSYN) == [
            "Ethernet\t{Contents=[..14..] Payload=[..60..] SrcMAC=02:00:00:00:00:01 DstMAC=02:00:00:00:00:02 EthernetType=IPv4 Length=0}",
            "IPv4\t{Contents=[..20..] Payload=[..40..] Version=4 IHL=5 TOS=0 Length=60 Id=4660 Flags=DF FragOffset=0 TTL=64 Protocol=TCP Checksum=43981 SrcIP=10.0.0.1 DstIP=10.0.0.2 Options=[] Padding=[]}",
            "TCP\t{Contents=[..40..] Payload=[] SrcPort=1234 DstPort=80 Seq=1000 Ack=0 DataOffset=10 FIN=false SYN=true RST=false PSH=false ACK=false URG=false ECE=false CWR=false NS=false Window=64240 Checksum=4369 Urgent=0 Options=[..5..] Padding=[]}",
        ])
    }

    @Test func tcpOptionStrings() {
        let packet: [UInt8] = bytes {
            u8(0x45); u8(0); be16(53); be16(0); be16(0); u8(64); u8(6); be16(0)  // IPv4, 20 + 33 bytes
            ip4(1, 1, 1, 1); ip4(2, 2, 2, 2)
            be16(80); be16(40000)                  // ports
            be32(1); be32(2)                       // seq, ack
            u8(0x81)                               // data offset 8, NS
            u8(0x18)                               // PSH, ACK
            be16(502); be16(0); be16(0)            // window, checksum, urgent
            raw(1, 1)                              // NOP, NOP
            raw(8, 10) + be32(3423153553) + be32(1286791)  // timestamps
            u8(0xAA)                               // payload
        }
        #expect(layerLines(packet, from: .ipv4)[1]
            == "TCP\t{Contents=[..32..] Payload=[170] SrcPort=80 DstPort=40000 Seq=1 Ack=2 DataOffset=8 FIN=false SYN=false RST=false PSH=true ACK=true URG=false ECE=false CWR=false NS=true Window=502 Checksum=0 Urgent=0 Options=[TCPOption(NOP:), TCPOption(NOP:), TCPOption(Timestamps:3423153553/1286791 0xcc092d910013a287)] Padding=[]}")
        let options: [UInt8] = bytes {
            u8(0x45); u8(0); be16(52); be16(0); be16(0); u8(64); u8(6); be16(0)
            ip4(1, 1, 1, 1); ip4(2, 2, 2, 2)
            be16(1); be16(2); be32(0); be32(0); u8(0x80); u8(0x12); be16(0); be16(0); be16(0)
            raw(2, 4, 0x05, 0xB4)                  // MSS 1460
            raw(3, 3, 7)                           // window scale
            raw(4, 2)                              // SACK permitted
            raw(0)                                 // end of list
            raw(0, 0)                              // padding
        }
        #expect(layerLines(options, from: .ipv4)[1].hasSuffix(
            "Options=[TCPOption(MSS:1460 0x05b4), TCPOption(WindowScale: 0x07), TCPOption(SACKPermitted:), TCPOption(EndList:)] Padding=[0, 0]}"))
    }

    @Test func udpWithShortPayload() {
        #expect(layerLines(Packets.udp) == [
            "Ethernet\t{Contents=[..14..] Payload=[..32..] SrcMAC=02:00:00:00:00:01 DstMAC=02:00:00:00:00:02 EthernetType=IPv4 Length=0}",
            "IPv4\t{Contents=[..20..] Payload=[..12..] Version=4 IHL=5 TOS=0 Length=32 Id=7 Flags= FragOffset=0 TTL=64 Protocol=UDP Checksum=0 SrcIP=10.0.0.1 DstIP=10.0.0.2 Options=[] Padding=[]}",
            "UDP\t{Contents=[..8..] Payload=[1, 2, 3, 4] SrcPort=5353 DstPort=53 Length=12 Checksum=0}",
        ])
    }

    @Test func vlanAndQinQ() {
        let packet: [UInt8] = bytes {
            mac(0x33, 0x33, 0, 0, 0, 1)            // dst
            mac(0x02, 0, 0, 0, 0, 1)               // src
            be16(0x88A8)                           // 802.1ad
            be16(0x2000 | 100)                     // priority 1, VLAN 100
            be16(0x8100)                           // inner 802.1Q
            be16(0xF000 | 200)                     // priority 7, DEI, VLAN 200
            be16(0x86DD)                           // IPv6
            u8(0x60); u8(0); be16(0)               // version 6, class 0, flow 0
            be16(8)                                // payload length
            u8(58)                                 // next header ICMPv6
            u8(64)                                 // hop limit
            ip6(0xFD00, 0, 0, 0, 0, 0, 0, 1)       // src
            ip6(0xFD00, 0, 0, 0, 0, 0, 0, 2)       // dst
            u8(128); u8(0); be16(0x1234)           // echo request, checksum
            be16(7); be16(9)                       // id, seq
        }
        let d = PacketDissector.dissect(packet)
        #expect(d.layers.count == 5)
        if case .dot1Q(let outer) = d.layers[1], case .dot1Q(let inner) = d.layers[2] {
            #expect(outer.vlanID == 100 && outer.priority == 1 && !outer.dropEligible)
            #expect(inner.vlanID == 200 && inner.priority == 7 && inner.dropEligible)
        } else {
            Issue.record("no VLAN tags")
        }
        if case .icmpv6(let icmp) = d.layers[4] {
            #expect(icmp.echo == ICMPv6Header.Echo(identifier: 7, sequence: 9))
        } else {
            Issue.record("no ICMPv6")
        }
        #expect(layerLines(packet) == [
            "Ethernet\t{Contents=[..14..] Payload=[..56..] SrcMAC=02:00:00:00:00:01 DstMAC=33:33:00:00:00:01 EthernetType=Dot1Q Length=0}",
            "Dot1Q\t{Contents=[32, 100, 129, 0] Payload=[..52..] Priority=1 DropEligible=false VLANIdentifier=100 Type=Dot1Q}",
            "Dot1Q\t{Contents=[240, 200, 134, 221] Payload=[..48..] Priority=7 DropEligible=true VLANIdentifier=200 Type=IPv6}",
            "IPv6\t{Contents=[..40..] Payload=[..8..] Version=6 TrafficClass=0 FlowLabel=0 Length=8 NextHeader=ICMPv6 HopLimit=64 SrcIP=fd00::1 DstIP=fd00::2 HopByHop=nil}",
            "ICMPv6\t{Contents=[128, 0, 18, 52] Payload=[0, 7, 0, 9] TypeCode=EchoRequest Checksum=4660 TypeBytes=[]}",
        ])
    }

    @Test func arpWithEthernetPadding() {
        let packet: [UInt8] = bytes {
            mac(0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)  // broadcast
            mac(0x16, 0xF9, 0xCD, 0xDC, 0x87, 0xE5)  // src
            be16(0x0806)                             // ARP
            be16(1); be16(0x0800); u8(6); u8(4)      // Ethernet, IPv4, sizes
            be16(1)                                  // request
            mac(0x16, 0xF9, 0xCD, 0xDC, 0x87, 0xE5)  // sender MAC
            ip4(10, 0, 0, 1)                         // sender IP
            zeros(6)                                 // target MAC
            ip4(10, 0, 0, 2)                         // target IP
            zeros(18)                                // Ethernet padding to 60 bytes
        }
        #expect(layerLines(packet) == [
            "Ethernet\t{Contents=[..14..] Payload=[..46..] SrcMAC=16:f9:cd:dc:87:e5 DstMAC=ff:ff:ff:ff:ff:ff EthernetType=ARP Length=0}",
            "ARP\t{Contents=[..28..] Payload=[..18..] AddrType=Ethernet Protocol=IPv4 HwAddressSize=6 ProtAddressSize=4 Operation=1 SourceHwAddress=[..6..] SourceProtAddress=[10, 0, 0, 1] DstHwAddress=[..6..] DstProtAddress=[10, 0, 0, 2]}",
        ])
    }

    @Test func ipv4OptionsAndEthernetPadding() {
        let packet: [UInt8] = bytes {
            mac(1, 0, 0x5E, 0, 0, 0x16); mac(2, 0, 0, 0, 0, 1); be16(0x0800)
            u8(0x47)                    // IHL 7
            u8(0xC0)                    // TOS
            be16(36)                    // total length
            be16(1); be16(0); u8(1); u8(17); be16(0)
            ip4(10, 0, 0, 1); ip4(224, 0, 0, 22)
            raw(148, 4, 0, 0)           // router alert
            raw(1)                      // NOP
            raw(0)                      // end of options
            raw(0, 0)                   // padding
            be16(1); be16(2); be16(8); be16(0)  // UDP, no payload
            zeros(10)                   // Ethernet padding to 60 bytes
        }
        let d = PacketDissector.dissect(packet)
        guard case .ipv4(let ip) = d.layers[1] else { Issue.record("no IPv4"); return }
        #expect(ip.options.map(\.type) == [148, 1, 0])
        #expect(ip.span.payload == 42..<50)  // Ethernet padding is not IP payload
        #expect(layerLines(packet)[1]
            == "IPv4\t{Contents=[..28..] Payload=[..8..] Version=4 IHL=7 TOS=192 Length=36 Id=1 Flags= FragOffset=0 TTL=1 Protocol=UDP Checksum=0 SrcIP=10.0.0.1 DstIP=224.0.0.22 Options=[IPv4Option(148:[0 0]), IPv4Option(1:[]), IPv4Option(0:[])] Padding=[0, 0]}")
        #expect(layerLines(packet)[2] == "UDP\t{Contents=[..8..] Payload=[] SrcPort=1 DstPort=2 Length=8 Checksum=0}")
    }

    @Test(arguments: [(UInt16(0x2000), "Flags=MF FragOffset=0"), (0x0010, "Flags= FragOffset=16"), (0x6001, "Flags=DF|MF FragOffset=1")])
    func ipv4FragmentsStopDissection(_ flagsAndOffset: UInt16, _ text: String) {
        var packet = Packets.udp
        packet[20] = UInt8(flagsAndOffset >> 8)
        packet[21] = UInt8(flagsAndOffset & 0xFF)
        let d = PacketDissector.dissect(packet)
        #expect(d.layers.count == 2)
        #expect(layerLines(packet)[1].contains(text))
    }

    @Test func ipv6HopByHopRoutingDestination() {
        let packet: [UInt8] = bytes {
            u8(0x60); u8(0x0A); be16(0xBCDE)       // version 6, traffic class 0, flow 0xABCDE
            be16(8 + 24 + 8 + 8)                   // payload length
            u8(0)                                  // next header: hop-by-hop
            u8(1)                                  // hop limit
            ip6(0xFE80, 0, 0, 0, 0, 0, 0, 1)
            ip6(0xFF02, 0, 0, 0, 0, 0, 0, 0x16)
            u8(43); u8(0)                          // HBH: next routing, length 0 (8 bytes)
            raw(5, 2, 0, 0)                        // router alert
            raw(1, 0)                              // PadN
            u8(60); u8(2)                          // routing: next destination, length 2 (24 bytes)
            u8(0); u8(1)                           // type 0, segments left 1
            zeros(4)                               // reserved
            ip6(0x2001, 0xDB8, 0, 0, 0, 0, 0, 1)   // address
            u8(17); u8(0)                          // destination options: next UDP, 8 bytes
            raw(0)                                 // Pad1
            raw(1, 3, 0, 0, 0)                     // PadN
            be16(546); be16(547); be16(8); be16(0) // UDP
        }
        let d = PacketDissector.dissect(packet, from: .ipv6)
        #expect(d.failure == nil && !d.truncated)
        #expect(d.layers.count == 4)
        #expect(layerLines(packet, from: .ipv6) == [
            "IPv6\t{Contents=[..40..] Payload=[..40..] Version=6 TrafficClass=0 FlowLabel=703710 Length=48 NextHeader=IPv6HopByHop HopLimit=1 SrcIP=fe80::1 DstIP=ff02::16 HopByHop={Contents=[..8..] Payload=[..40..] NextHeader=IPv6Routing HeaderLength=0 ActualLength=8 Options=[{OptionType=5 OptionLength=2 ActualLength=4 OptionData=[0, 0] OptionAlignment=[0 0]}, {OptionType=1 OptionLength=0 ActualLength=2 OptionData=[] OptionAlignment=[0 0]}]}}",
            "IPv6Routing\t{Contents=[..24..] Payload=[..16..] NextHeader=IPv6Destination HeaderLength=2 ActualLength=24 RoutingType=0 SegmentsLeft=1 Reserved=[0, 0, 0, 0] SourceRoutingIPs=[2001:db8::1]}",
            "IPv6Destination\t{Contents=[..8..] Payload=[..8..] NextHeader=UDP HeaderLength=0 ActualLength=8 Options=[{OptionType=0 OptionLength=0 ActualLength=1 OptionData=[] OptionAlignment=[0 0]}, {OptionType=1 OptionLength=3 ActualLength=5 OptionData=[0, 0, 0] OptionAlignment=[0 0]}]}",
            "UDP\t{Contents=[..8..] Payload=[] SrcPort=546 DstPort=547 Length=8 Checksum=0}",
        ])
    }

    @Test func ipv6FragmentStopsDissection() {
        let packet: [UInt8] = bytes {
            u8(0x60); u8(0); be16(0)
            be16(16)                               // payload length
            u8(44)                                 // next header: fragment
            u8(64)
            ip6(0xFD00, 0, 0, 0, 0, 0, 0, 1)
            ip6(0xFD00, 0, 0, 0, 0, 0, 0, 2)
            u8(17); u8(0)                          // next UDP, reserved
            be16(185 << 3 | 1)                     // offset 185, more fragments
            be32(0x1234_5678)                      // identification
            zeros(8)                               // fragment data
        }
        let d = PacketDissector.dissect(packet, from: .ipv6)
        #expect(d.layers.count == 2)
        #expect(layerLines(packet, from: .ipv6)[1]
            == "IPv6Fragment\t{Contents=[..8..] Payload=[..8..] NextHeader=UDP Reserved1=0 FragmentOffset=185 Reserved2=0 MoreFragments=true Identification=305419896}")
    }

    @Test func l3DeviceStartsAtIP() {
        let ipv4Only = Array(Packets.udp.dropFirst(14))
        let d = PacketDissector.dissect(ipv4Only, from: PacketDissector.FirstLayer(flags: .l3Device))
        #expect(d.layers.count == 2)
        if case .ipv4 = d.layers.first {} else { Issue.record("does not start at IPv4") }
        #expect(PacketDissector.FirstLayer(flags: [.l3Device, .ipv6]) == .ipv6)
        #expect(PacketDissector.FirstLayer(flags: .ipv6) == .ethernet)
    }

    /// A 128-byte capture of a 1500-byte segment: all headers are there, the payload is not.
    @Test func partialCaptureIsTruncatedNotFailed() {
        var packet = Packets.tcpSYN
        packet[16] = 0x05; packet[17] = 0xDC  // IPv4 total length 1500
        packet += zeros(128 - packet.count)
        let d = PacketDissector.dissect(packet)
        #expect(d.layers.count == 3)
        #expect(d.truncated)
        #expect(d.failure == nil)
        #expect(layerLines(packet).last == "  Packet has been truncated")
    }

    @Test(arguments: [
        (44, ["Ethernet", "IPv4"], "Invalid TCP header. Length 10 less than 20"),
        (10, [], "Ethernet packet too small"),
        (0, [], nil),
        (14, ["Ethernet"], nil),
        (30, ["Ethernet"], "Invalid ip4 header. Length 16 less than 20"),
        (60, ["Ethernet", "IPv4"], "TCP data offset greater than packet length"),
    ] as [(Int, [String], String?)])
    func cutCaptures(_ length: Int, _ layers: [String], _ failure: String?) {
        let packet = Array(Packets.tcpSYN.prefix(length))
        let lines = layerLines(packet)
        #expect(lines.filter { !$0.hasPrefix(" ") }.map { String($0.prefix { $0 != "\t" }) } == layers)
        let d = PacketDissector.dissect(packet)
        #expect(d.failure?.message == failure)
        if let failure {
            #expect(lines.last == "  Failed to decode layer: \(failure)")
        }
    }

    /// Byte patches (offset, value) to Packets.tcpSYN and the failure they cause.
    @Test(arguments: [
        ([(14, 0x44)], "Invalid (too small) IP header length (4 < 5)"),
        ([(16, 0), (17, 10)], "Invalid (too small) IP length (10 < 20)"),
        ([(14, 0x4F), (16, 0), (17, 40)], "Invalid IP header length > IP length (15 > 40)"),
        ([(46, 0x40)], "Invalid TCP data offset 4 < 5"),
        ([(55, 1)], "Invalid TCP option length 1 < 2"),
        ([(61, 20)], "Invalid TCP option length 20 exceeds remaining 14 bytes"),
    ] as [([(Int, UInt8)], String)])
    func malformedHeaders(_ patches: [(Int, UInt8)], _ message: String) {
        var packet = Packets.tcpSYN
        for (offset, value) in patches { packet[offset] = value }
        #expect(PacketDissector.dissect(packet).failure?.message == message)
    }

    @Test(arguments: [
        (UInt8(8), UInt8(0), "EchoRequest"), (0, 0, "EchoReply"), (3, 3, "DestinationUnreachable(Port)"),
        (3, 99, "DestinationUnreachable(Code: 99)"), (11, 0, "TimeExceeded(TTLExceeded)"),
        (8, 1, "EchoRequest(Code: 1)"), (42, 7, "42(7)"), (5, 2, "Redirect(TOS+Net)"),
    ])
    func icmpv4TypeCodes(_ type: UInt8, _ code: UInt8, _ text: String) {
        var out: [UInt8] = []
        out.appendICMPTypeCode(icmpv4Names(type: type, code: code), type: type, code: code)
        #expect(String(decoding: out, as: UTF8.self) == text)
    }

    @Test(arguments: [
        (UInt8(128), UInt8(0), "EchoRequest"), (129, 0, "EchoReply"), (135, 0, "NeighborSolicitation"),
        (1, 4, "DestinationUnreachable(PortUnreachable)"), (4, 9, "ParameterProblem(Code: 9)"),
        (143, 0, "143(0)"),
    ])
    func icmpv6TypeCodes(_ type: UInt8, _ code: UInt8, _ text: String) {
        var out: [UInt8] = []
        out.appendICMPTypeCode(icmpv6Names(type: type, code: code), type: type, code: code)
        #expect(String(decoding: out, as: UTF8.self) == text)
    }

    @Test(arguments: [
        (IPv6Address(0, 0, 0, 0, 0, 0, 0, 0), "::"),
        (IPv6Address(0, 0, 0, 0, 0, 0, 0, 1), "::1"),
        (IPv6Address(0xFD00, 0, 0, 0, 0, 0, 0, 0), "fd00::"),
        (IPv6Address(0x2001, 0xDB8, 0, 1, 0, 0, 0, 1), "2001:db8:0:1::1"),
        (IPv6Address(0x2001, 0xDB8, 0, 0, 1, 0, 0, 1), "2001:db8::1:0:0:1"),
        (IPv6Address(0x2001, 0xDB8, 1, 1, 1, 1, 0, 1), "2001:db8:1:1:1:1:0:1"),
        (IPv6Address(0, 0, 0, 0, 0, 0xFFFF, 0x0A00, 0x0001), "10.0.0.1"),
        (IPv6Address(0xFE80, 0, 0, 0, 0xABCD, 0xEF, 0x1, 0x2), "fe80::abcd:ef:1:2"),
    ])
    func ipv6Text(_ address: IPv6Address, _ text: String) {
        #expect(address.description == text)
    }

    @Test func addressText() {
        #expect(IPv4Address(10, 244, 0, 102).description == "10.244.0.102")
        #expect(MACAddress((0xC6, 0xDC, 0x81, 0x06, 0xFC, 0xCB)).description == "c6:dc:81:06:fc:cb")
        #expect(IPAddress.v6(IPv6Address(0xFD00, 0, 0, 0, 0, 0, 0, 1)).description == "fd00::1")
    }
}
