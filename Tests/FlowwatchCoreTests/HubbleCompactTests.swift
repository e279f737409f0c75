import Testing
@testable import FlowwatchCore

/// Events written through one printer, flushed, as text.
func hubbleText(_ events: [FlowEvent], _ format: HubbleOutputFormat, _ options: HubbleOptions = HubbleOptions()) -> String {
    var output = format.makeOutput(options: options)
    var buffer: [UInt8] = []
    for event in events { output.write(event, into: &buffer) }
    output.flush(into: &buffer)
    return String(decoding: buffer, as: UTF8.self)
}

/// The events of Hubble's own printer tests (`hubble/pkg/printer/printer_test.go`), so the
/// goldens below are Hubble's expected strings.
enum HubbleSamples {
    static let time = FlowTime(seconds: 1234, nanos: 567_800_000)

    /// Hubble's `f`: a dropped SYN from 1.1.1.1 (health) to 2.2.2.2 (12345).
    static let flow = Flow(
        time: time, verdict: .dropped,
        ip: Flow.IP(source: .v4(IPv4Address(1, 1, 1, 1)), destination: .v4(IPv4Address(2, 2, 2, 2)), ipVersion: .ipv4),
        l4: .tcp(sourcePort: 31793, destinationPort: 8080, flags: .syn),
        source: Flow.Endpoint(identity: 4), destination: Flow.Endpoint(identity: 12345),
        nodeName: "k8s1", eventType: Flow.CiliumEventType(type: 1, subType: 133),
        isReply: false, summary: .tcp(.syn))

    static let debug = DebugEvent(
        time: time, nodeName: "k8s1", type: .conntrackVerdict,
        source: Flow.Endpoint(id: 690, identity: 1332, namespace: "cilium-test",
                              labels: ["k8s:io.cilium.k8s.policy.cluster=default",
                                       "k8s:io.cilium.k8s.policy.serviceaccount=default",
                                       "k8s:io.kubernetes.pod.namespace=cilium-test",
                                       "k8s:name=pod-to-a-denied-cnp"],
                              podName: "pod-to-a-denied-cnp-75cb89dfd-vqhd9"),
        hash: 180_354_257, arg1: 0, arg2: 0, arg3: 0, message: "CT verdict: New, revnat=0", cpu: 1)

    static let lost = LostEvent(time: time, source: .hubbleRingBuffer, numEventsLost: 1, cpu: 5)
    static let lostWithTimes = LostEvent(time: time, source: .hubbleRingBuffer, numEventsLost: 1, cpu: 5,
                                         first: FlowTime(seconds: 1230, nanos: 567_800_000),
                                         last: FlowTime(seconds: 1238, nanos: 567_800_000))
}

/// `hubble observe -o compact` lines.
@Suite struct HubbleCompactTests {
    typealias F = FlowFixtures

    func compact(_ event: FlowEvent, _ options: HubbleOptions = HubbleOptions()) -> String {
        hubbleText([event], .compact, options)
    }

    @Test func theBriefsExampleLine() throws {
        let event = try F.event(F.toEndpointSYN)
        #expect(compact(event, HubbleOptions(translateIPs: false))
            == "Nov 21 09:28:33.123: 10.244.0.102:12544 (ID:22099) -> 10.244.0.25:80 (ID:11575) to-endpoint FORWARDED (TCP Flags: SYN)\n")
        #expect(compact(event)
            == "Nov 21 09:28:33.123: default/client:12544 (ID:22099) -> default/server:80 (ID:11575) to-endpoint FORWARDED (TCP Flags: SYN)\n")
    }

    /// Hubble's own compact goldens: `->`, `<-` with the sides swapped, `<>`, node name, trace id.
    @Test func hubbleGoldens() {
        var reply = HubbleSamples.flow
        reply.isReply = true
        var unknown = HubbleSamples.flow
        unknown.isReply = nil
        var traced = HubbleSamples.flow
        traced.ipTraceID = 1234
        let node = HubbleOptions(printNodeName: true)
        #expect(compact(.flow(HubbleSamples.flow))
            == "Jan  1 00:20:34.567: 1.1.1.1:31793 (health) -> 2.2.2.2:8080 (ID:12345) Policy denied DROPPED (TCP Flags: SYN)\n")
        #expect(compact(.flow(HubbleSamples.flow), node)
            == "Jan  1 00:20:34.567 [k8s1]: 1.1.1.1:31793 (health) -> 2.2.2.2:8080 (ID:12345) Policy denied DROPPED (TCP Flags: SYN)\n")
        #expect(compact(.flow(reply), node)
            == "Jan  1 00:20:34.567 [k8s1]: 2.2.2.2:8080 (ID:12345) <- 1.1.1.1:31793 (health) Policy denied DROPPED (TCP Flags: SYN)\n")
        #expect(compact(.flow(unknown), node)
            == "Jan  1 00:20:34.567 [k8s1]: 1.1.1.1:31793 (health) <> 2.2.2.2:8080 (ID:12345) Policy denied DROPPED (TCP Flags: SYN)\n")
        #expect(compact(.flow(traced), node)
            == "Jan  1 00:20:34.567 [k8s1]: 1.1.1.1:31793 (health) -> 2.2.2.2:8080 (ID:12345) Policy denied DROPPED (IP Trace ID: 1234; TCP Flags: SYN)\n")
    }

    @Test func numericIdentities() {
        #expect(compact(.flow(HubbleSamples.flow), HubbleOptions(numericIdentities: true))
            == "Jan  1 00:20:34.567: 1.1.1.1:31793 (ID:4) -> 2.2.2.2:8080 (ID:12345) Policy denied DROPPED (TCP Flags: SYN)\n")
    }

    @Test(arguments: [(UInt32(0), "(unknown)"), (1, "(host)"), (2, "(world)"), (6, "(remote-node)"),
                      (11, "(overlay-to-encrypt)"), (12, "(ID:12)"), (16_777_217, "(ID:16777217)")])
    func identities(_ identity: UInt32, _ text: String) {
        var out: [UInt8] = []
        out.appendHubbleIdentity(identity, numeric: false)
        #expect(String(decoding: out, as: UTF8.self) == text)
    }

    @Test func debugAndLostEvents() {
        #expect(compact(.debug(HubbleSamples.debug))
            == "Jan  1 00:20:34.567: cilium-test/pod-to-a-denied-cnp-75cb89dfd-vqhd9 (ID: 690) DBG_CT_VERDICT MARK: 0xabffcd1 CPU: 01 (CT verdict: New, revnat=0)\n")
        #expect(compact(.debug(HubbleSamples.debug), HubbleOptions(printNodeName: true))
            == "Jan  1 00:20:34.567 [k8s1]: cilium-test/pod-to-a-denied-cnp-75cb89dfd-vqhd9 (ID: 690) DBG_CT_VERDICT MARK: 0xabffcd1 CPU: 01 (CT verdict: New, revnat=0)\n")
        #expect(compact(.lost(HubbleSamples.lost), HubbleOptions(printNodeName: true))
            == "Jan  1 00:20:34.567 EVENTS LOST: HUBBLE_RING_BUFFER CPU(5) 1\n")
        #expect(compact(.lost(HubbleSamples.lostWithTimes))
            == "Jan  1 00:20:34.567 EVENTS LOST: HUBBLE_RING_BUFFER CPU(5) 1 (first: Jan  1 00:20:30.567, last: Jan  1 00:20:38.567)\n")
        var unknownSource = HubbleSamples.debug
        unknownSource.source = nil
        unknownSource.type = DebugMessageType(rawValue: 99)
        unknownSource.cpu = nil
        #expect(compact(.debug(unknownSource))
            == "Jan  1 00:20:34.567: N/A 99 MARK: 0xabffcd1 CPU: N/A (CT verdict: New, revnat=0)\n")
    }

    @Test func endpointShortForms() {
        func short(_ e: Flow.Endpoint?) -> String {
            var out: [UInt8] = []
            out.appendHubbleEndpointShort(e)
            return String(decoding: out, as: UTF8.self)
        }
        #expect(short(Flow.Endpoint(id: 3, identity: 1, labels: ["reserved:host"])) == "reserved:host (ID: 3)")
        #expect(short(Flow.Endpoint(id: 77)) == "ID: 77")
        #expect(short(Flow.Endpoint(id: 5, namespace: "ns")) == "ID: 5")
        #expect(short(nil) == "N/A")
    }

    /// Hosts: MACs for L2-only packets, bracketed IPv6 with ports, pods without a namespace.
    @Test func hosts() throws {
        let arp = try F.event(Message.traceV2(point: 3, source: 0, srcIdentity: 1, dstIdentity: 2, dstID: 0, reason: 5,
                                              ifindex: 0, origIP: [], packet: FormatterTests.arp))
        #expect(compact(arp) == "Nov 21 09:28:33.123: 16:f9:cd:dc:87:e5 (host) <> 8e:3c:a3:67:cc:1e (world) to-stack FORWARDED (Ethernet)\n")
        let v6 = try F.event(Message.traceV2(point: 5, source: 2073, srcIdentity: 22099, dstIdentity: 2, dstID: 0, reason: 0,
                                             flags: 0x03, ifindex: 10, origIP: ip6(0xFD00, 0, 0, 0, 0, 0, 0, 0x102),
                                             packet: F.tcp6(F.client6, 50000, IPv6Address(0x2001, 0xDB8, 0, 0, 0, 0, 0, 1), 443, flags: 0x02)))
        #expect(compact(v6) == "Nov 21 09:28:33.123: default/client:50000 (ID:22099) -> [2001:db8::1]:443 (world) from-endpoint FORWARDED (TCP Flags: SYN)\n")
        var config = F.config
        config.endpoints[0].namespace = nil
        let noNamespace = try F.event(F.toEndpointSYN, config: config)
        #expect(compact(noNamespace).contains(": client:12544 (ID:22099) -> default/server:80 "))
        let icmp = try F.event(Seed003Tests.messages[10])
        #expect(compact(icmp) == "Nov 21 09:28:33.123: default/client (ID:22099) -> default/server (ID:11575) to-endpoint FORWARDED (ICMPv4 EchoRequest)\n")
    }

    @Test func dropsAndCaptures() throws {
        let drop = try F.event(Message.dropV3(reason: 133, source: 149, srcIdentity: 22099, dstIdentity: 11575, dstID: 149,
                                              line: 1998, file: 2, ifindex: 12,
                                              packet: F.tcp4(F.client, 12544, F.server, 80, flags: F.syn)))
        #expect(compact(drop) == "Nov 21 09:28:33.123: default/client:12544 (ID:22099) <> default/server:80 (ID:11575) Policy denied DROPPED (TCP Flags: SYN)\n")
        let unknownReason = try F.event(Message.dropV3(reason: 250, source: 0, srcIdentity: 2, dstIdentity: 0, dstID: 0,
                                                       line: 1, file: 1, ifindex: 0, packet: []))
        #expect(compact(unknownReason) == "Nov 21 09:28:33.123:  (world) <>  (unknown) 250 DROPPED ()\n")
        let capture = try F.event(Message.capture(point: 4, source: 149, arg1: 12, packet: F.tcp4(F.client, 1, F.server, 80, flags: F.syn)))
        #expect(compact(capture).hasSuffix(" DBG_CAPTURE_DELIVERY VERDICT_UNKNOWN (TCP Flags: SYN)\n"))
        let reserved = try F.event(Message.capture(point: 2, source: 149, arg1: 12, packet: []))
        #expect(compact(reserved).hasSuffix(" 2 VERDICT_UNKNOWN ()\n"))
    }

    /// Seed 003's same-node ping, as `hubble observe --print-node-name` would show it with
    /// debug events: flows and debug messages in order.
    @Test func seed003Session() throws {
        let builder = F.builder()
        var output = HubbleCompactWriter(options: HubbleOptions(printNodeName: true))
        var buffer: [UInt8] = []
        for message in Seed003Tests.messages {
            output.write(builder.build(try decodeEvent(message, cpu: 3)), into: &buffer)
        }
        let lines = String(decoding: buffer, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 22)
        #expect(lines[0] == "Nov 21 09:28:33.123 [k8s1]: default/client (ID: 2073) DBG_CT_LOOKUP4_1 MARK: 0x0 CPU: 03 (Conntrack lookup 1/2: src=10.244.0.102:12544 dst=10.244.0.25:0)")
        #expect(lines[10] == "Nov 21 09:28:33.123 [k8s1]: default/client (ID:22099) -> default/server (ID:11575) to-endpoint FORWARDED (ICMPv4 EchoRequest)")
        #expect(lines[14] == "Nov 21 09:28:33.123 [k8s1]: default/server (ID: 149) DBG_CT_VERDICT MARK: 0x0 CPU: 03 (CT verdict: Reply, revnat=0)")
        #expect(lines[21] == "Nov 21 09:28:33.123 [k8s1]: default/client (ID:22099) <- default/server (ID:11575) to-endpoint FORWARDED (ICMPv4 EchoReply)")
    }

    @Test func outputNames() {
        #expect(HubbleOutputFormat(name: "JSON") == .json)
        #expect(HubbleOutputFormat(name: "jsonpb") == .jsonpb)
        #expect(HubbleOutputFormat(name: "monitor") == nil)
        #expect(hubbleText([.flow(HubbleSamples.flow)], .json) == hubbleText([.flow(HubbleSamples.flow)], .jsonpb))
    }

    /// The writer appends; one buffer serves a stream.
    @Test func writeAppends() {
        var buffer: [UInt8] = Array("> ".utf8)
        var output = HubbleCompactWriter()
        output.write(.lost(HubbleSamples.lost), into: &buffer)
        output.write(.lost(HubbleSamples.lost), into: &buffer)
        #expect(String(decoding: buffer, as: UTF8.self)
            == "> Jan  1 00:20:34.567 EVENTS LOST: HUBBLE_RING_BUFFER CPU(5) 1\nJan  1 00:20:34.567 EVENTS LOST: HUBBLE_RING_BUFFER CPU(5) 1\n")
    }

    /// The kept identity texts read as the identities made afresh: more identities than it
    /// keeps, in and out of numeric mode, and reserved names too long to keep.
    @Test func identityTextsAreTheIdentities() {
        var texts = IdentityTexts()
        let identities: [UInt32] = [22099, 11575, 0, 2, 11, 22099, 1, 4_294_967_295, 16_777_217, 11575, 22099, 6, 11, 7, 99, 22099]
        for numeric in [false, true, false] {
            for identity in identities + identities.reversed() {
                var kept: [UInt8] = [], made: [UInt8] = []
                texts.append(identity, numeric: numeric, to: &kept)
                made.appendHubbleIdentity(identity, numeric: numeric)
                #expect(kept == made, "\(identity) numeric \(numeric): \(String(decoding: kept, as: UTF8.self))")
            }
        }
    }
}
