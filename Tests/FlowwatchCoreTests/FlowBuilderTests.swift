import Testing
@testable import FlowwatchCore

/// The node the flow tests observe: the two pods of seed 003 (client 2073 and server 149, with
/// IPv6 addresses added), a host endpoint, an ipcache with a world default route and a remote
/// node range, and labels for one CIDR identity.
enum FlowFixtures {
    static let client = IPv4Address(10, 244, 0, 102)
    static let server = IPv4Address(10, 244, 0, 25)
    static let client6 = IPv6Address(0xFD00, 0, 0, 0, 0, 0, 0, 0x102)
    static let server6 = IPv6Address(0xFD00, 0, 0, 0, 0, 0, 0, 0x25)

    static let config = NodeConfig(
        nodeName: "k8s1",
        hostEndpointID: 3,
        endpoints: [
            NodeConfig.Endpoint(id: 2073, interface: "lxc89c8c94364d6", identity: 22099, pod: "client",
                                namespace: "default", labels: ["k8s:io.kubernetes.pod.namespace=default", "k8s:app=client"],
                                ips: [.v4(client), .v6(client6)]),
            NodeConfig.Endpoint(id: 149, interface: "lxc1ddf0c103b7b", identity: 11575, pod: "server",
                                namespace: "default", labels: ["k8s:app=server"], ips: [.v4(server), .v6(server6)]),
        ],
        prefixes: [
            NodeConfig.PrefixIdentity(prefix: IPPrefix(address: .v4(IPv4Address(0, 0, 0, 0)), length: 0), identity: 2),
            NodeConfig.PrefixIdentity(prefix: IPPrefix(address: .v4(IPv4Address(10, 244, 1, 0)), length: 24), identity: 6),
        ],
        identityLabels: [16_777_217: ["reserved:world", "cidr:1.1.1.1/32"]])

    static let interfaces: [UInt32: String] = [10: "lxc89c8c94364d6", 12: "lxc1ddf0c103b7b"]

    /// `decodeEvent` stamps every sample at boot time 1000 ns; this offset puts it at
    /// 2026-11-21T09:28:33.123456789Z.
    static let offset: Int64 = 1_795_253_313_123_456_789 - 1000

    static func builder(_ config: NodeConfig = config) -> FlowBuilder {
        FlowBuilder(config: config, wallClockOffset: offset, interfaceName: { interfaces[$0] })
    }

    static func event(_ message: [UInt8], cpu: UInt32 = 1, config: NodeConfig = config) throws -> FlowEvent {
        builder(config).build(try decodeEvent(message, cpu: cpu))
    }

    static func flow(_ message: [UInt8], config: NodeConfig = config) throws -> Flow {
        try #require(try event(message, config: config).flow)
    }

    /// Ethernet + IPv4 + TCP (20-byte header, no options).
    static func tcp4(_ source: IPv4Address, _ sourcePort: UInt16, _ destination: IPv4Address, _ destinationPort: UInt16,
                     flags: UInt8) -> [UInt8] {
        let (s, d) = (source.octets, destination.octets)
        return bytes {
            mac(0x1E, 0xEA, 0xB6, 0x69, 0x74, 0x23)   // Ethernet dst
            mac(0xC6, 0xDC, 0x81, 0x06, 0xFC, 0xCB)   // Ethernet src
            be16(0x0800)                              // IPv4
            u8(0x45); u8(0); be16(40); be16(1); be16(0x4000); u8(64); u8(6); be16(0)
            ip4(s.0, s.1, s.2, s.3)
            ip4(d.0, d.1, d.2, d.3)
            be16(sourcePort); be16(destinationPort)
            be32(1); be32(0)
            u8(0x50); u8(flags); be16(64240); be16(0); be16(0)
        }
    }

    /// The 16 bytes of an IPv6 address in wire order.
    static func octets(_ address: IPv6Address) -> [UInt8] {
        withUnsafeBytes(of: address.high.bigEndian, Array.init) + withUnsafeBytes(of: address.low.bigEndian, Array.init)
    }

    /// IPv6 + TCP from an L3 device (no Ethernet header).
    static func tcp6(_ source: IPv6Address, _ sourcePort: UInt16, _ destination: IPv6Address, _ destinationPort: UInt16,
                     flags: UInt8) -> [UInt8] {
        bytes {
            u8(0x60); u8(0); be16(0); be16(20); u8(6); u8(64)
            octets(source)
            octets(destination)
            be16(sourcePort); be16(destinationPort)
            be32(1); be32(0)
            u8(0x50); u8(flags); be16(64240); be16(0); be16(0)
        }
    }

    /// IPv6 + ICMPv6 echo reply from an L3 device.
    static func echoReply6(_ source: IPv6Address, _ destination: IPv6Address) -> [UInt8] {
        bytes {
            u8(0x60); u8(0); be16(0); be16(8); u8(58); u8(64)
            octets(source)
            octets(destination)
            u8(129); u8(0); be16(0); be16(7); be16(1)
        }
    }

    static let syn: UInt8 = 0x02
    static let synAck: UInt8 = 0x12

    /// The client's SYN to the server's port 80 as endpoint 149 receives it.
    static let toEndpointSYN = Message.traceV2(
        point: 0, source: 149, srcIdentity: 22099, dstIdentity: 11575, dstID: 149, reason: 0,
        ifindex: 12, origIP: ip4(10, 244, 0, 102), packet: tcp4(client, 12544, server, 80, flags: syn))
}

extension FlowEvent {
    var flow: Flow? { if case .flow(let f) = self { f } else { nil } }
    var debug: DebugEvent? { if case .debug(let d) = self { d } else { nil } }
    var lost: LostEvent? { if case .lost(let l) = self { l } else { nil } }
}

/// Monitor events to Hubble events: the trace → flow rules of Hubble's threefour parser, the
/// endpoint lookups, drops, captures, debug messages and lost records.
@Suite struct FlowBuilderTests {
    typealias F = FlowFixtures

    static let clientEndpoint = Flow.Endpoint(id: 2073, identity: 22099, namespace: "default",
                                              labels: ["k8s:app=client", "k8s:io.kubernetes.pod.namespace=default"],
                                              podName: "client")
    static let serverEndpoint = Flow.Endpoint(id: 149, identity: 11575, namespace: "default",
                                              labels: ["k8s:app=server"], podName: "server")

    @Test func toEndpointRequest() throws {
        let f = try F.flow(F.toEndpointSYN)
        #expect(f.time == FlowTime(seconds: 1_795_253_313, nanos: 123_456_789))
        #expect(f.verdict == .forwarded)
        #expect(f.type == .l3L4)
        #expect(f.nodeName == "k8s1")
        #expect(f.eventType == Flow.CiliumEventType(type: 4, subType: 0))
        #expect(f.traceObservationPoint == .toEndpoint)
        #expect(f.traceReason == .new)
        #expect(f.isReply == false)
        // Endpoint 149 emitted it and is not the source: the packet comes in.
        #expect(f.trafficDirection == .ingress)
        #expect(f.source == Self.clientEndpoint)
        #expect(f.destination == Self.serverEndpoint)
        #expect(f.ethernet == Flow.Ethernet(source: MACAddress((0xC6, 0xDC, 0x81, 0x06, 0xFC, 0xCB)),
                                            destination: MACAddress((0x1E, 0xEA, 0xB6, 0x69, 0x74, 0x23))))
        #expect(f.ip == Flow.IP(source: .v4(F.client), destination: .v4(F.server), ipVersion: .ipv4))
        #expect(f.l4 == .tcp(sourcePort: 12544, destinationPort: 80, flags: .syn))
        #expect(f.summary == .tcp(.syn))
        #expect(f.summary.text == "TCP Flags: SYN")
        #expect(f.interface == Flow.NetworkInterface(index: 12, name: "lxc1ddf0c103b7b"))
        #expect(f.dropReasonDesc.rawValue == 0 && f.file == nil && f.proxyPort == 0)
    }

    /// Direction and reply flag per observation point and conntrack reason: the emitting
    /// endpoint is the source on egress, and replies flip that.
    @Test(arguments: [
        // point, emitting endpoint, reason, packet from client?, isReply, direction
        (UInt8(5), UInt16(2073), UInt8(0), true, Optional(false), Flow.TrafficDirection.egress),   // request leaves client
        (0, 149, 0, true, false, .ingress),                                                       // request reaches server
        (5, 149, 2, false, true, .ingress),                                                       // reply leaves server
        (0, 2073, 2, false, true, .egress),                                                       // reply reaches client
        (5, 2073, 1, true, false, .egress),                                                       // established
        (5, 2073, 5, true, nil, .unknown),                                                        // reason unknown
        (5, 2073, 6, true, nil, .egress),                                                         // SRv6 encap: no reply flag
        (3, 0, 0, true, false, .unknown),                                                         // no emitting endpoint
    ])
    func replyAndDirection(_ point: UInt8, _ emitter: UInt16, _ reason: UInt8, _ fromClient: Bool,
                           _ isReply: Bool?, _ direction: Flow.TrafficDirection) throws {
        let packet = fromClient ? F.tcp4(F.client, 12544, F.server, 80, flags: F.syn)
                                : F.tcp4(F.server, 80, F.client, 12544, flags: F.synAck)
        let origIP = fromClient ? ip4(10, 244, 0, 102) : ip4(10, 244, 0, 25)
        let f = try F.flow(Message.traceV2(point: point, source: emitter, srcIdentity: 0, dstIdentity: 0, dstID: 0,
                                           reason: reason, ifindex: 0, origIP: origIP, packet: packet))
        #expect(f.isReply == isReply)
        #expect(f.trafficDirection == direction)
        #expect(f.traceObservationPoint.rawValue == (point == 0 ? 101 : Int32(point)))
    }

    static let reasons: [(UInt8, Flow.Reason)] = [
        (0, .new), (1, .established), (2, .reply), (3, .related), (4, Flow.Reason(rawValue: 5)),
        (5, .unknown), (6, Flow.Reason(rawValue: 6)), (7, Flow.Reason(rawValue: 7)), (0x81, .established),
    ]

    @Test(arguments: reasons)
    func traceReasonMapping(_ datapath: UInt8, _ reason: Flow.Reason) {
        #expect(Flow.Reason(TraceReason(rawValue: datapath)) == reason)
    }

    /// A datapath identity of 0 (from-endpoint traces leave the destination's unset) is filled
    /// from the config: the endpoint's own, or the longest ipcache prefix.
    @Test func zeroIdentitiesComeFromTheConfig() throws {
        let m = Message.traceV2(point: 5, source: 2073, srcIdentity: 0, dstIdentity: 0, dstID: 0, reason: 0,
                                ifindex: 10, origIP: ip4(10, 244, 0, 102),
                                packet: F.tcp4(F.client, 40000, IPv4Address(10, 244, 1, 7), 443, flags: F.syn))
        let f = try F.flow(m)
        #expect(f.source == Self.clientEndpoint)
        #expect(f.destination == Flow.Endpoint(identity: 6, labels: ["reserved:remote-node"]))
        let world = try F.flow(Message.traceV2(point: 5, source: 2073, srcIdentity: 22099, dstIdentity: 0, dstID: 0,
                                               reason: 0, ifindex: 10, origIP: ip4(10, 244, 0, 102),
                                               packet: F.tcp4(F.client, 40000, IPv4Address(1, 1, 1, 1), 443, flags: F.syn)))
        #expect(world.destination == Flow.Endpoint(identity: 2, labels: ["reserved:world"]))
    }

    /// The datapath's identity wins over the config's (it is what policy saw), and remote
    /// identities get their labels from the config or their reserved name.
    @Test func datapathIdentitiesWin() throws {
        let m = Message.traceV2(point: 0, source: 149, srcIdentity: 16_777_217, dstIdentity: 4242, dstID: 149,
                                reason: 0, ifindex: 12, origIP: ip4(1, 1, 1, 1),
                                packet: F.tcp4(IPv4Address(1, 1, 1, 1), 5000, F.server, 80, flags: F.syn))
        let f = try F.flow(m)
        #expect(f.source == Flow.Endpoint(identity: 16_777_217, labels: ["cidr:1.1.1.1/32", "reserved:world"]))
        var server = Self.serverEndpoint
        server.identity = 4242
        #expect(f.destination == server)
    }

    static let remoteIdentities: [(UInt32, [String])] = [
        (1, ["reserved:host"]), (2, ["reserved:world"]), (4, ["reserved:health"]),
        (7, ["reserved:kube-apiserver", "reserved:remote-node"]), (9, ["reserved:world-ipv4"]),
        (22099, ["k8s:app=client", "k8s:io.kubernetes.pod.namespace=default"]), (999, []),
    ]

    @Test(arguments: remoteIdentities)
    func remoteLabels(_ identity: UInt32, _ labels: [String]) throws {
        let m = Message.traceV2(point: 3, source: 0, srcIdentity: identity, dstIdentity: 2, dstID: 0, reason: 0,
                                ifindex: 0, origIP: ip4(192, 168, 0, 9),
                                packet: F.tcp4(IPv4Address(192, 168, 0, 9), 1, IPv4Address(8, 8, 8, 8), 53, flags: F.syn))
        #expect(try F.flow(m).source == Flow.Endpoint(identity: identity, labels: labels))
    }

    /// A source rewritten by SNAT: `source` is the original, `source_xlated` the header's, and
    /// the flow counts as egress.
    @Test func snat() throws {
        let m = Message.traceV2(point: 3, source: 149, srcIdentity: 11575, dstIdentity: 2, dstID: 0, reason: 0,
                                ifindex: 0, origIP: ip4(10, 244, 0, 25),
                                packet: F.tcp4(IPv4Address(192, 168, 1, 10), 30000, IPv4Address(1, 1, 1, 1), 443, flags: F.syn))
        let f = try F.flow(m)
        #expect(f.ip?.source == .v4(F.server))
        #expect(f.ip?.sourceXlated == .v4(IPv4Address(192, 168, 1, 10)))
        #expect(f.source == Self.serverEndpoint)
        #expect(f.trafficDirection == .egress)
    }

    @Test func encryptedAndTraceID() throws {
        let m = Message.traceV2(point: 3, source: 2073, srcIdentity: 22099, dstIdentity: 2, dstID: 0, reason: 0x81,
                                ifindex: 10, origIP: ip4(10, 244, 0, 102), ipTraceID: 77,
                                packet: F.tcp4(F.client, 1, IPv4Address(1, 1, 1, 1), 2, flags: 0x18))
        let f = try F.flow(m)
        #expect(f.ip?.encrypted == true)
        #expect(f.traceReason == .established)
        #expect(f.ipTraceID == 77)
        #expect(f.summary.text == "TCP Flags: ACK, PSH")
    }

    @Test func toProxyCarriesThePort() throws {
        let m = Message.traceV2(point: 1, source: 2073, srcIdentity: 22099, dstIdentity: 2, dstID: 15001, reason: 0,
                                ifindex: 10, origIP: ip4(10, 244, 0, 102),
                                packet: F.tcp4(F.client, 1, IPv4Address(1, 1, 1, 1), 80, flags: F.syn))
        let f = try F.flow(m)
        #expect(f.proxyPort == 15001)
        #expect(f.traceObservationPoint.name == "TO_PROXY")
    }

    @Test func ipv6OnAnL3Device() throws {
        let m = Message.traceV2(point: 5, source: 2073, srcIdentity: 22099, dstIdentity: 0, dstID: 0, reason: 0,
                                flags: 0x03, ifindex: 10, origIP: ip6(0xFD00, 0, 0, 0, 0, 0, 0, 0x102),
                                packet: F.tcp6(F.client6, 50000, F.server6, 8080, flags: F.syn))
        let f = try F.flow(m)
        #expect(f.ethernet == nil)
        #expect(f.ip == Flow.IP(source: .v6(F.client6), destination: .v6(F.server6), ipVersion: .ipv6))
        #expect(f.source == Self.clientEndpoint)
        #expect(f.destination == Self.serverEndpoint)
        #expect(f.l4 == .tcp(sourcePort: 50000, destinationPort: 8080, flags: .syn))

        let reply = try F.flow(Message.traceV2(point: 0, source: 2073, srcIdentity: 11575, dstIdentity: 22099, dstID: 2073,
                                               reason: 2, flags: 0x03, ifindex: 10, origIP: ip6(0xFD00, 0, 0, 0, 0, 0, 0, 0x25),
                                               packet: F.echoReply6(F.server6, F.client6)))
        #expect(reply.l4 == .icmpv6(type: 129, code: 0))
        #expect(reply.summary.text == "ICMPv6 EchoReply")
        #expect(reply.isReply == true)
    }

    @Test func summaries() throws {
        func summary(_ packet: [UInt8]) throws -> String {
            try F.flow(Message.traceV2(point: 0, source: 149, srcIdentity: 1, dstIdentity: 1, dstID: 149, reason: 0,
                                       ifindex: 0, origIP: [], packet: packet)).summary.text
        }
        #expect(try summary(Seed003Tests.request) == "ICMPv4 EchoRequest")
        #expect(try summary(Seed003Tests.reply) == "ICMPv4 EchoReply")
        #expect(try summary(Packets.udp) == "UDP")
        #expect(try summary(FormatterTests.arp) == "Ethernet")   // Hubble decodes no ARP
        #expect(try summary([]) == "")
        var gre = Packets.udp
        gre[23] = 47
        #expect(try summary(gre) == "IPv4")
        #expect(try summary(F.tcp4(F.client, 1, F.server, 2, flags: 0xFF)) == "TCP Flags: SYN, ACK, RST, FIN, PSH, URG, ECE, CWR")
        #expect(try summary(F.tcp4(F.client, 1, F.server, 2, flags: 0)) == "TCP Flags: ")
        // A truncated TCP header: the layers before it still make a flow.
        let truncated = Array(F.tcp4(F.client, 1, F.server, 2, flags: F.syn).prefix(40))
        let f = try F.flow(Message.traceV2(point: 0, source: 149, srcIdentity: 1, dstIdentity: 1, dstID: 149, reason: 0,
                                           ifindex: 0, origIP: [], packet: truncated))
        #expect(f.summary == .layer(.ipv4))
        #expect(f.l4 == nil)
        #expect(f.ip?.destination == .v4(F.server))
    }

    /// 802.1Q tags are looked through to the IP packet behind them.
    @Test func vlanTaggedPacket() throws {
        let plain = F.tcp4(F.client, 1, F.server, 80, flags: F.syn)
        let tagged = Array(plain[0..<12]) + be16(0x8100) + be16(7) + Array(plain[12...])
        let f = try F.flow(Message.traceV2(point: 0, source: 149, srcIdentity: 1, dstIdentity: 1, dstID: 149, reason: 0,
                                           ifindex: 0, origIP: [], packet: tagged))
        #expect(f.l4 == .tcp(sourcePort: 1, destinationPort: 80, flags: .syn))
    }

    @Test(arguments: [(UInt16(149), Flow.TrafficDirection.ingress), (2073, .egress), (0, .unknown)])
    func drop(_ emitter: UInt16, _ direction: Flow.TrafficDirection) throws {
        let m = Message.dropV3(reason: 133, source: emitter, srcIdentity: 22099, dstIdentity: 11575, dstID: 149,
                               line: 1998, file: 2, ifindex: 12, ipTraceID: 5,
                               packet: F.tcp4(F.client, 12544, F.server, 80, flags: F.syn))
        let f = try F.flow(m)
        #expect(f.verdict == .dropped)
        #expect(f.dropReason == 133)
        #expect(f.dropReasonDesc == .policyDenied)
        #expect(f.dropReasonDesc.protoName == "POLICY_DENIED")
        #expect(f.eventType == Flow.CiliumEventType(type: 1, subType: 133))
        #expect(f.file == Flow.FileInfo(name: "bpf_lxc.c", line: 1998))
        #expect(f.isReply == nil)
        #expect(f.trafficDirection == direction)
        #expect(f.traceObservationPoint == .unknown && f.traceReason == .unknown)
        #expect(f.interface == nil)   // Hubble reports interfaces for traces and captures only
        #expect(f.ipTraceID == 5)
        #expect(f.source == Self.clientEndpoint && f.destination == Self.serverEndpoint)
    }

    @Test func debugCapture() throws {
        let f = try F.flow(Message.capture(point: 4, source: 149, arg1: 12, packet: F.tcp4(F.client, 1, F.server, 80, flags: F.syn)))
        #expect(f.verdict == .unknown)
        #expect(f.debugCapturePoint == .delivery)
        #expect(f.eventType == Flow.CiliumEventType(type: 3, subType: 4))
        #expect(f.interface == Flow.NetworkInterface(index: 12, name: "lxc1ddf0c103b7b"))
        #expect(f.isReply == nil && f.trafficDirection == .unknown)
        #expect(f.source == Self.clientEndpoint)
        let proxy = try F.flow(Message.capture(point: 9, source: 149, arg1: 0x901F, packet: FormatterTests.arp))
        #expect(proxy.proxyPort == 8080)
        #expect(proxy.interface == nil)
        #expect(proxy.ip == nil && proxy.ethernet != nil)
    }

    @Test func debugMessageKeepsTheMonitorText() throws {
        let m = Message.debug(15, source: 149, hash: 0xABFFCD1, 0, 0)
        let d = try #require(try F.event(m, cpu: 1).debug)
        #expect(d.type == .conntrackVerdict)
        #expect(d.message == "CT verdict: New, revnat=0")
        #expect(d.source == Self.serverEndpoint)
        #expect(d.hash == 0xABFFCD1)
        #expect(d.cpu == 1)
        #expect(d.nodeName == "k8s1")
        #expect(d.time == FlowTime(seconds: 1_795_253_313, nanos: 123_456_789))
        // Every subtype's text is the monitor formatter's.
        for (subtype, a1, a2, a3, text) in FormatterTests.debugTexts {
            let event = try F.event(Message.debug(subtype, source: 2073, a1, a2, a3))
            #expect(event.debug?.message == text)
        }
    }

    @Test func debugSources() throws {
        #expect(try F.event(Message.debug(61, source: 0, 1)).debug?.source == nil)
        #expect(try F.event(Message.debug(61, source: 3, 1)).debug?.source
            == Flow.Endpoint(id: 3, identity: 1, labels: ["reserved:host"]))
        #expect(try F.event(Message.debug(61, source: 77, 1)).debug?.source == Flow.Endpoint(id: 77))
    }

    @Test func lostRecords() {
        let event = F.builder().build(MonitorEvent(cpu: 3, timestamp: 2_000, payload: .lost(count: 12)))
        #expect(event == .lost(LostEvent(time: FlowTime(seconds: 1_795_253_313, nanos: 123_457_789), nodeName: "k8s1",
                                          source: .perfEventRingBuffer, numEventsLost: 12, cpu: 3)))
    }

    @Test func timeFromBootClock() {
        #expect(FlowTime(bootNanoseconds: 5, offset: 1_000_000_000) == FlowTime(seconds: 1, nanos: 5))
        #expect(FlowTime(unixNanoseconds: -1) == FlowTime(seconds: -1, nanos: 999_999_999))
        #expect(FlowTime(seconds: 0, nanos: 0).isValid)
        #expect(!FlowTime(seconds: -1, nanos: -1).isValid)
        #expect(FlowTime(seconds: 1, nanos: 0) < FlowTime(seconds: 1, nanos: 1))
    }

    /// The printer refills one flow for every event (`build(_:into:)`): whatever the flow held
    /// before (a drop's file and reason, a trace's interface, reply flag and proxy port, a
    /// capture's point), the refill is the flow `build(_:)` makes.
    @Test func refillingAFlowGivesTheBuiltFlow() throws {
        let builder = F.builder()
        let packet = F.tcp4(F.client, 12544, F.server, 80, flags: F.synAck)
        var events = try [
            Message.dropV3(reason: 133, source: 2073, srcIdentity: 22099, dstIdentity: 11575, dstID: 149, line: 7,
                           file: 1, ifindex: 10, ipTraceID: 9, packet: packet),
            Message.traceV2(point: 1, source: 149, srcIdentity: 11575, dstIdentity: 22099, dstID: 8080, reason: 2,
                            ifindex: 12, origIP: ip4(10, 244, 0, 25), ipTraceID: 5, packet: packet),
            Message.capture(point: 4, source: 149, arg1: 12, packet: packet),
            Message.capture(point: 9, source: 149, arg1: 0x901F, packet: FormatterTests.arp),
            F.toEndpointSYN,
        ].map { try decodeEvent($0) }
        // And every packet event of the samples, in order.
        for name in SampleTests.names {
            let reader = try RecordingReader(path: SampleTests.samples.appendingPathComponent("\(name).fwrec").path)
            var stream = MonitorEventStream()
            while let sample = try reader.next() {
                if let event = stream.decode(sample) { events.append(event) }
            }
        }
        var refilled = 0
        for before in events.prefix(5) + events.suffix(20) {
            for event in events {
                var flow = Flow(time: FlowTime(seconds: 1, nanos: 1), eventType: Flow.CiliumEventType(type: 9, subType: 9))
                _ = builder.build(before, into: &flow)
                let held = flow
                if builder.build(event, into: &flow) {
                    #expect(FlowEvent.flow(flow) == builder.build(event))
                    refilled += 1
                } else {
                    #expect(flow == held, "a debug message or lost record leaves the flow alone")
                }
            }
        }
        #expect(refilled > 1000)
    }

    /// Endpoints built from one config entry share their names; each is still a value: equal
    /// by contents and hashed alike, and changing one leaves its copies alone.
    @Test func endpointsAreValues() {
        let pod = "client-6f7d9c8b5-x2k4q"
        let a = Flow.Endpoint(id: 1, identity: 2, namespace: "default", labels: ["k8s:app=client"], podName: pod)
        let same = Flow.Endpoint(id: 1, identity: 2, namespace: "default", labels: ["k8s:app=client"], podName: pod)
        #expect(a == same && a.hashValue == same.hashValue)
        var b = a
        b.podName = "server"
        #expect(a.podName == pod && b.podName == "server" && b.namespace == "default" && b.labels == a.labels && a != b)
        b.podName = pod
        #expect(a == b && a.hashValue == b.hashValue)
        b.labels = []
        #expect(a != b && a.labels == ["k8s:app=client"])
        b = a
        b.namespace = "kube-system"
        #expect(a != b && a.namespace == "default")
        #expect(Flow.Endpoint() == Flow.Endpoint(namespace: "", labels: [], podName: ""))
        #expect(Flow.Endpoint(identity: 2) != Flow.Endpoint(identity: 2, podName: "x"))
        #expect(Flow.Endpoint(identity: 2) != Flow.Endpoint(identity: 3))
    }

    /// A config without pods still names reserved identities and leaves endpoints bare.
    @Test func emptyConfig() throws {
        let f = try F.flow(F.toEndpointSYN, config: NodeConfig())
        #expect(f.nodeName == "")
        #expect(f.source == Flow.Endpoint(identity: 22099))
        #expect(f.destination == Flow.Endpoint(identity: 11575))
    }
}
