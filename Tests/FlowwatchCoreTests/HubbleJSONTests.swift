import Foundation
import Testing
@testable import FlowwatchCore

/// `hubble observe -o json` lines: exact goldens, and every line parsed back with Foundation.
@Suite struct HubbleJSONTests {
    typealias F = FlowFixtures

    func json(_ event: FlowEvent) -> String {
        hubbleText([event], .json)
    }

    /// One line, parsed.
    func object(_ event: FlowEvent) throws -> [String: Any] {
        let text = json(event)
        #expect(text.hasSuffix("}\n"))
        #expect(text.filter { $0 == "\n" }.count == 1)
        let parsed = try JSONSerialization.jsonObject(with: Data(text.utf8))
        return try #require(parsed as? [String: Any])
    }

    @Test func traceGolden() throws {
        #expect(json(try F.event(F.toEndpointSYN)) == """
            {"flow":{"time":"2026-11-21T09:28:33.123456789Z","verdict":"FORWARDED",\
            "ethernet":{"source":"c6:dc:81:06:fc:cb","destination":"1e:ea:b6:69:74:23"},\
            "IP":{"source":"10.244.0.102","destination":"10.244.0.25","ipVersion":"IPv4"},\
            "l4":{"TCP":{"source_port":12544,"destination_port":80,"flags":{"SYN":true}}},\
            "source":{"ID":2073,"identity":22099,"namespace":"default","labels":["k8s:app=client","k8s:io.kubernetes.pod.namespace=default"],"pod_name":"client"},\
            "destination":{"ID":149,"identity":11575,"namespace":"default","labels":["k8s:app=server"],"pod_name":"server"},\
            "Type":"L3_L4","node_name":"k8s1","event_type":{"type":4},"traffic_direction":"INGRESS",\
            "trace_observation_point":"TO_ENDPOINT","trace_reason":"NEW","is_reply":false,\
            "interface":{"index":12,"name":"lxc1ddf0c103b7b"},"Summary":"TCP Flags: SYN"},\
            "node_name":"k8s1","time":"2026-11-21T09:28:33.123456789Z"}

            """)
    }

    /// Hubble's `jsonpb` golden for its sample flow, with the two fields a Hubble-built flow
    /// always has (`flags`, and the response's `node_name` and `time`).
    @Test func hubbleSampleFlow() {
        var flow = HubbleSamples.flow
        flow.ip?.ipVersion = .notUsed
        flow.l4 = .tcp(sourcePort: 31793, destinationPort: 8080, flags: [])
        #expect(json(.flow(flow)) == """
            {"flow":{"time":"1970-01-01T00:20:34.567800Z","verdict":"DROPPED",\
            "IP":{"source":"1.1.1.1","destination":"2.2.2.2"},\
            "l4":{"TCP":{"source_port":31793,"destination_port":8080,"flags":{}}},\
            "source":{"identity":4},"destination":{"identity":12345},\
            "Type":"L3_L4","node_name":"k8s1",\
            "event_type":{"type":1,"sub_type":133},\
            "is_reply":false,"Summary":"TCP Flags: SYN"},"node_name":"k8s1","time":"1970-01-01T00:20:34.567800Z"}

            """)
    }

    /// Hubble's `debug-events -o jsonpb` and lost-event goldens, exactly.
    @Test func hubbleDebugAndLostGoldens() {
        #expect(json(.debug(HubbleSamples.debug)) == """
            {"debug_event":{"type":"DBG_CT_VERDICT","source":{"ID":690,"identity":1332,"namespace":"cilium-test","labels":\
            ["k8s:io.cilium.k8s.policy.cluster=default","k8s:io.cilium.k8s.policy.serviceaccount=default",\
            "k8s:io.kubernetes.pod.namespace=cilium-test","k8s:name=pod-to-a-denied-cnp"],\
            "pod_name":"pod-to-a-denied-cnp-75cb89dfd-vqhd9"},\
            "hash":180354257,"arg1":0,"arg2":0,"arg3":0,"message":"CT verdict: New, revnat=0","cpu":1},\
            "node_name":"k8s1","time":"1970-01-01T00:20:34.567800Z"}

            """)
        #expect(json(.lost(HubbleSamples.lost))
            == #"{"lost_events":{"source":"HUBBLE_RING_BUFFER","num_events_lost":"1","cpu":5},"time":"1970-01-01T00:20:34.567800Z"}"# + "\n")
        var withNode = HubbleSamples.lost
        withNode.nodeName = "node-name"
        #expect(json(.lost(withNode))
            == #"{"lost_events":{"source":"HUBBLE_RING_BUFFER","num_events_lost":"1","cpu":5},"node_name":"node-name","time":"1970-01-01T00:20:34.567800Z"}"# + "\n")
        #expect(json(.lost(HubbleSamples.lostWithTimes))
            == #"{"lost_events":{"source":"HUBBLE_RING_BUFFER","num_events_lost":"1","cpu":5,"first":"1970-01-01T00:20:30.567800Z","last":"1970-01-01T00:20:38.567800Z"},"time":"1970-01-01T00:20:34.567800Z"}"# + "\n")
    }

    @Test func perfLostEvent() throws {
        let event = F.builder().build(MonitorEvent(cpu: 3, timestamp: 1000, payload: .lost(count: 12)))
        #expect(json(event)
            == #"{"lost_events":{"source":"PERF_EVENT_RING_BUFFER","num_events_lost":"12","cpu":3},"node_name":"k8s1","time":"2026-11-21T09:28:33.123456789Z"}"# + "\n")
    }

    @Test func dropFields() throws {
        let event = try F.event(Message.dropV3(reason: 133, source: 149, srcIdentity: 22099, dstIdentity: 11575, dstID: 149,
                                               line: 1998, file: 2, ifindex: 12, ipTraceID: 9,
                                               packet: F.tcp4(F.client, 12544, F.server, 80, flags: F.syn)))
        let response = try object(event)
        let flow = try #require(response["flow"] as? [String: Any])
        #expect(flow["verdict"] as? String == "DROPPED")
        #expect(flow["drop_reason"] as? Int == 133)
        #expect(flow["drop_reason_desc"] as? String == "POLICY_DENIED")
        let file = try #require(flow["file"] as? [String: Any])
        #expect(file["name"] as? String == "bpf_lxc.c")
        #expect(file["line"] as? Int == 1998)
        #expect(flow["event_type"] as? [String: Int] == ["type": 1, "sub_type": 133])
        #expect(flow["ip_trace_id"] as? [String: String] == ["trace_id": "9"])
        #expect(flow["traffic_direction"] as? String == "INGRESS")
        #expect(flow["is_reply"] == nil)
        #expect(flow["interface"] == nil)
        #expect(flow["trace_observation_point"] == nil)
        #expect(response["node_name"] as? String == "k8s1")
        // An unnamed drop reason is written as its number.
        let unnamed = try object(try F.event(Message.dropV3(reason: 3, source: 0, srcIdentity: 0, dstIdentity: 0, dstID: 0,
                                                            line: 1, file: 1, ifindex: 0, packet: [])))
        let unnamedFlow = try #require(unnamed["flow"] as? [String: Any])
        #expect(unnamedFlow["drop_reason_desc"] as? Int == 3)
        #expect(unnamedFlow["source"] as? [String: Any] != nil)   // always present, here empty
        #expect(unnamedFlow["Summary"] == nil)
    }

    @Test func replyIPv6AndXlated() throws {
        let reply = try object(try F.event(Message.traceV2(
            point: 0, source: 2073, srcIdentity: 11575, dstIdentity: 22099, dstID: 2073, reason: 0x82, flags: 0x03,
            ifindex: 10, origIP: ip6(0xFD00, 0, 0, 0, 0, 0, 0, 0x99), packet: F.echoReply6(F.server6, F.client6))))
        let flow = try #require(reply["flow"] as? [String: Any])
        #expect(flow["reply"] as? Bool == true)
        #expect(flow["is_reply"] as? Bool == true)
        #expect(flow["trace_reason"] as? String == "REPLY")
        #expect(flow["traffic_direction"] as? String == "EGRESS")
        let ip = try #require(flow["IP"] as? [String: Any])
        #expect(ip["source"] as? String == "fd00::99")
        #expect(ip["source_xlated"] as? String == "fd00::25")
        #expect(ip["destination"] as? String == "fd00::102")
        #expect(ip["ipVersion"] as? String == "IPv6")
        #expect(ip["encrypted"] as? Bool == true)
        #expect(ip.count == 5)
        // Echo reply: type 129, code 0 is left out.
        #expect(flow["l4"] as? [String: [String: Int]] == ["ICMPv6": ["type": 129]])
        #expect(flow["Summary"] as? String == "ICMPv6 EchoReply")
        #expect(flow["ethernet"] == nil)
    }

    @Test func captureFields() throws {
        let capture = try object(try F.event(Message.capture(point: 9, source: 149, arg1: 0x901F, packet: FormatterTests.arp)))
        let flow = try #require(capture["flow"] as? [String: Any])
        #expect(flow["debug_capture_point"] as? String == "DBG_CAPTURE_PROXY_POST")
        #expect(flow["proxy_port"] as? Int == 8080)
        #expect(flow["verdict"] == nil)
        #expect(flow["IP"] == nil)
        #expect(flow["Summary"] as? String == "Ethernet")
    }

    @Test func everyEventOfASessionParses() throws {
        let builder = F.builder()
        var output = HubbleJSONWriter()
        var buffer: [UInt8] = []
        for message in Seed003Tests.messages {
            output.write(builder.build(try decodeEvent(message, cpu: 3)), into: &buffer)
        }
        let lines = String(decoding: buffer, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == Seed003Tests.messages.count)
        var flows = 0
        for line in lines {
            let parsed = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(parsed["time"] as? String == "2026-11-21T09:28:33.123456789Z")
            if let debug = parsed["debug_event"] as? [String: Any] {
                #expect(debug["cpu"] as? Int == 3)
                #expect((debug["message"] as? String)?.isEmpty == false)
            } else {
                let flow = try #require(parsed["flow"] as? [String: Any])
                #expect(flow["Summary"] as? String != nil)
                flows += 1
            }
        }
        #expect(flows == 2)
    }

    /// protojson's escapes plus `encoding/json`'s HTML ones.
    @Test func stringEscaping() throws {
        var event = HubbleSamples.debug
        event.message = "a\"b\\c<d>&e\n\t\r\u{8}\u{C}\u{1}\u{1F}\u{2028}\u{2029}é€"
        let text = json(.debug(event))
        #expect(text.contains(#""message":"a\"b\\c\u003cd\u003e\u0026e\n\t\r\b\f\u0001\u001f\u2028\u2029é€""#))
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect((parsed["debug_event"] as? [String: Any])?["message"] as? String == event.message)
    }

    /// Strings are checked sixteen bytes at a time, the last few padded: an escape at every
    /// position of strings of every length up to three blocks still comes out escaped.
    @Test func escapesAtEveryPosition() throws {
        for length in 1...48 {
            for position in 0..<length {
                for special in ["\"", "\\", "<", "\n", "\u{2028}"] {
                    var characters = Array(repeating: "x", count: length)
                    characters[position] = special
                    var event = HubbleSamples.debug
                    event.message = characters.joined()
                    let parsed = try #require(try JSONSerialization.jsonObject(with: Data(json(.debug(event)).utf8)) as? [String: Any])
                    #expect((parsed["debug_event"] as? [String: Any])?["message"] as? String == event.message)
                }
            }
        }
    }

    /// A line longer than the room a line starts with is written whole, and so are the short
    /// lines after it.
    @Test func longLines() throws {
        var event = HubbleSamples.debug
        event.source?.labels = (0..<400).map { "k8s:label-\($0)=\(String(repeating: "v", count: $0 % 40))" }
        let short = json(.debug(HubbleSamples.debug))
        var output = HubbleJSONWriter()
        var buffer: [UInt8] = []
        for e in [HubbleSamples.debug, event, HubbleSamples.debug] {
            output.write(.debug(e), into: &buffer)
        }
        let lines = String(decoding: buffer, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines[1].utf8.count > 8192)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
        let source = try #require((parsed["debug_event"] as? [String: Any])?["source"] as? [String: Any])
        #expect(source["labels"] as? [String] == event.source?.labels)
        #expect(lines[0] + "\n" == short && lines[2] + "\n" == short)
    }

    /// The date and time of day are kept from one line to the next only while the second is the
    /// same.
    @Test func timestampsAcrossSeconds() throws {
        var output = HubbleJSONWriter()
        var buffer: [UInt8] = []
        for (seconds, nanos) in [(1_763_717_313, 5), (1_763_717_314, 0), (1_763_717_313, 120_000_000), (253_402_300_800, 1)] as [(Int64, Int32)] {
            var event = HubbleSamples.debug
            event.time = FlowTime(seconds: seconds, nanos: nanos)
            output.write(.debug(event), into: &buffer)
        }
        let times = try String(decoding: buffer, as: UTF8.self).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])["time"] as? String
        }
        #expect(times == ["2025-11-21T09:28:33.000000005Z", "2025-11-21T09:28:34Z", "2025-11-21T09:28:33.120Z",
                          "10000-01-01T00:00:00.000000001Z"])
    }

    /// A line as a writer that has seen nothing before writes it.
    func freshLine(_ event: FlowEvent) -> [UInt8] {
        var output = HubbleJSONWriter()
        var line: [UInt8] = []
        output.write(event, into: &line)
        return line
    }

    /// The writer keeps the text of recent endpoints, interfaces, MAC addresses, node names and
    /// timestamps: every line of a long run, with values coming back, equal to another, replaced,
    /// and more of them than are kept (long labels past the kept text's limit too), is the line a
    /// fresh writer makes.
    @Test func keptTextsAreTheTextsMadeAgain() throws {
        var events: [FlowEvent] = []
        for i in 0..<400 {
            let n = (i * 7) % 23  // revisits values in a varying order
            // Labels made anew each time: equal values in other storage.
            let labels = ["k8s:app=app-\(n % 11)", "k8s:tier=\(n % 3 == 0 ? "<front>&\"x\"" : "back")"]
                + (n % 5 == 0 ? [String(repeating: "k8s:long=\(n)", count: 300)] : [])
            let endpoint = Flow.Endpoint(id: UInt32(n % 13), identity: UInt32(n % 4), namespace: n % 2 == 0 ? "ns-\(n)" : "",
                                         labels: labels, podName: "pod-\(n % 9)\u{2028}")
            var flow = HubbleSamples.flow
            flow.time = FlowTime(seconds: 1_763_717_313 + Int64(i / 10), nanos: Int32(n % 4) * 250_000_000 + Int32(i % 2))
            flow.ethernet = Flow.Ethernet(source: MACAddress((0x02, 0, 0, 0, 0, UInt8(n % 17))),
                                          destination: MACAddress((0x02, 0, 0, 0, 1, UInt8(n % 10))))
            flow.source = endpoint
            flow.destination = i % 3 == 0 ? endpoint : HubbleSamples.debug.source!
            flow.nodeName = ["k8s1", "node<2>", "a-much-longer-node-name-\(n % 3)"][i % 3]
            flow.interface = Flow.NetworkInterface(index: UInt32(n % 12), name: n % 6 == 0 ? "" : "lxc\(n % 5)")
            events.append(.flow(flow))
            if i % 50 == 0 {
                var debug = HubbleSamples.debug
                debug.source = endpoint
                events.append(.debug(debug))
                events.append(.lost(HubbleSamples.lostWithTimes))
            }
        }
        var output = HubbleJSONWriter()
        for event in events {
            var line: [UInt8] = []
            output.write(event, into: &line)
            #expect(line == freshLine(event))
            _ = try JSONSerialization.jsonObject(with: Data(line))
        }
    }

    /// A flow written as it is, without an event around it, is the same line, and the lines
    /// around it, which share what the writer keeps, are unchanged.
    @Test func flowWithoutAnEvent() throws {
        let events: [FlowEvent] = [try F.event(F.toEndpointSYN), .flow(HubbleSamples.flow), .debug(HubbleSamples.debug),
                                   .lost(HubbleSamples.lostWithTimes), try F.event(F.toEndpointSYN)]
        var asEvents = HubbleJSONWriter()
        var asFlows = HubbleJSONWriter()
        for event in events {
            var expected: [UInt8] = []
            asEvents.write(event, into: &expected)
            var line: [UInt8] = []
            if case .flow(let flow) = event {
                asFlows.write(flow: flow, into: &line)
            } else {
                asFlows.write(event, into: &line)
            }
            #expect(line == expected)
        }
    }

    /// Text is kept by bytes: strings Swift holds equal (canonically equivalent) but spelled
    /// with other bytes are written each with its own bytes.
    @Test func canonicallyEquivalentStringsKeepTheirBytes() throws {
        let composed = "caf\u{E9}"
        let decomposed = "cafe\u{301}"
        #expect(composed == decomposed && Array(composed.utf8) != Array(decomposed.utf8))
        var output = HubbleJSONWriter()
        for name in [composed, decomposed, composed, decomposed] {
            var flow = HubbleSamples.flow
            flow.nodeName = name
            flow.source = Flow.Endpoint(identity: 4, namespace: name, labels: ["k8s:app=" + name], podName: name)
            flow.interface = Flow.NetworkInterface(index: 3, name: name)
            var line: [UInt8] = []
            output.write(.flow(flow), into: &line)
            #expect(line == freshLine(.flow(flow)))
        }
    }

    /// A time out of protobuf's range still has its fraction written, on a writer's first line
    /// too (whose kept fraction belongs to no time yet).
    @Test func outOfRangeNanosOnTheFirstLine() throws {
        var flow = HubbleSamples.flow
        flow.time = FlowTime(seconds: 5, nanos: -1)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(freshLine(.flow(flow)))) as? [String: Any])
        let time = try #require(parsed["time"] as? String)
        #expect(time.hasPrefix("1970-01-01T00:00:05.") && time.hasSuffix("Z"))
        #expect((parsed["flow"] as? [String: Any])?["time"] as? String == time)
    }

    /// Enum names come from tables made from the enums' names; numbers without a name, and
    /// numbers past the tables, are written as numbers.
    @Test func enumNamesAndNumbers() throws {
        for raw: Int32 in [-1, 0, 1, 5, 13, 14, 100, 101, 255, 256, 1000] {
            var flow = HubbleSamples.flow
            flow.traceObservationPoint = Flow.ObservationPoint(rawValue: raw)
            flow.traceReason = Flow.Reason(rawValue: raw)
            let parsed = try #require(try JSONSerialization.jsonObject(with: Data(freshLine(.flow(flow)))) as? [String: Any])
            let written = try #require(parsed["flow"] as? [String: Any])
            for (key, name) in [("trace_observation_point", flow.traceObservationPoint.name), ("trace_reason", flow.traceReason.name)] {
                if raw == 0 {
                    #expect(written[key] == nil)
                } else if let name {
                    #expect(written[key] as? String == name)
                } else {
                    #expect(written[key] as? Int == Int(raw))
                }
            }
        }
        for raw in UInt8.min...UInt8.max {
            var flow = HubbleSamples.flow
            flow.dropReasonDesc = DropReason(rawValue: raw)
            flow.debugCapturePoint = DebugCapturePoint(rawValue: raw)
            let parsed = try #require(try JSONSerialization.jsonObject(with: Data(freshLine(.flow(flow)))) as? [String: Any])
            let written = try #require(parsed["flow"] as? [String: Any])
            for (key, name) in [("drop_reason_desc", flow.dropReasonDesc.protoName),
                                ("debug_capture_point", flow.debugCapturePoint.protoName)] {
                if raw == 0 {
                    #expect(written[key] == nil)
                } else {
                    #expect((written[key] as? String ?? (written[key] as? Int).map(String.init)) == name ?? String(raw))
                }
            }
        }
    }
}
