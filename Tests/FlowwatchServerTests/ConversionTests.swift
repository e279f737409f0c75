import Foundation
import FlowwatchAPI
import FlowwatchCore
import FlowwatchServer
import SwiftProtobuf
import Testing

/// The wire messages say what flowwatch's Hubble JSON says (that output follows protojson of
/// the same messages), and a client turns them back into the same events.
@Suite struct ConversionTests {
    /// JSON text as a comparable value.
    func parse(_ text: String) throws -> NSDictionary {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as! NSDictionary
    }

    @Test("every sample event as a proto message prints as flowwatch's Hubble JSON", arguments: Samples.names)
    func protoMatchesHubbleJSON(name: String) throws {
        let events = try Samples.events(name)
        #expect(!events.isEmpty)
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        var compared = 0
        for event in events {
            var ours: [UInt8] = []
            var writer = HubbleJSONWriter()
            writer.write(event, into: &ours)
            let proto: String
            switch event {
            case .flow, .lost: proto = try Observer_GetFlowsResponse(event)!.jsonString(options: options)
            case .debug(let d): proto = try Observer_GetDebugEventsResponse(d).jsonString(options: options)
            }
            let a = try parse(String(decoding: ours, as: UTF8.self)), b = try parse(proto)
            #expect(a == b, "\(name): \(String(decoding: ours, as: UTF8.self))\nproto: \(proto)")
            compared += 1
        }
        #expect(compared == events.count)
    }

    @Test("flows, lost and debug events survive the wire: binary round trip gives the same events", arguments: Samples.names)
    func roundTrip(name: String) throws {
        for event in try Samples.events(name) {
            switch event {
            case .flow, .lost:
                let bytes: [UInt8] = try Observer_GetFlowsResponse(event)!.serializedBytes()
                let back = try FlowEvent(Observer_GetFlowsResponse(serializedBytes: bytes))
                #expect(back == event)
            case .debug(let d):
                let bytes: [UInt8] = try Observer_GetDebugEventsResponse(d).serializedBytes()
                let r = try Observer_GetDebugEventsResponse(serializedBytes: bytes)
                #expect(DebugEvent(r.debugEvent, nodeName: r.nodeName, time: FlowTime(r.time)) == d)
            }
        }
    }

    @Test("a client printing a server's events prints the sample's expected compact and json output", arguments: Samples.names)
    func clientPrintsTheSame(name: String) throws {
        let events = try Samples.events(name).filter { if case .debug = $0 { false } else { true } }
        for (format, file) in [(HubbleOutputFormat.compact, "compact.txt"), (.json, "json.txt"), (.dict, "dict.txt"), (.table, "table.txt")] {
            var output = format.makeOutput()
            var text: [UInt8] = []
            for event in events {
                let wire: [UInt8] = try Observer_GetFlowsResponse(event)!.serializedBytes()
                let event = try #require(try FlowEvent(Observer_GetFlowsResponse(serializedBytes: wire)))
                output.write(event, into: &text)
            }
            output.flush(into: &text)
            #expect(String(decoding: text, as: UTF8.self) == (try Samples.expected(name, file)), "\(name) \(file)")
        }
    }
}

/// Hubble's FlowFilter on the wire: what the CLI sends selects what the CLI selects in-process.
@Suite struct FilterConversionTests {
    static let filterLines: [[String]] = [
        ["--pod", "cni-client"], ["--from-pod", "default/cni-"], ["--namespace", "default"],
        ["--ip", "10.244.0.25"], ["--to-ip", "10.244.0.0/24"], ["--port", "8080"], ["--to-port", "53"],
        ["--protocol", "icmp"], ["--protocol", "tcp", "--tcp-flags", "SYN"], ["--verdict", "FORWARDED"],
        ["--type", "trace:to-endpoint"], ["--type", "drop"], ["--traffic-direction", "ingress"],
        ["--identity", "world"], ["--label", "k8s:app=cni-server"], ["--node-name", "*"], ["-6"],
        ["--interface", "lo"], ["--not", "--protocol", "udp"], ["--ip", "10.244.0.102", "--not", "--port", "8080"],
    ]

    @Test("FlowFilterSet -> wire -> FlowFilterSet selects the same events of every sample", arguments: filterLines)
    func sameSelection(arguments: [String]) throws {
        let local = try FilterArguments.parse(arguments)
        var request = Observer_GetFlowsRequest(EventSelection(number: .all), filter: local)
        request = try Observer_GetFlowsRequest(serializedBytes: request.serializedBytes() as [UInt8])
        let remote = try FlowFilterSet(whitelist: request.whitelist, blacklist: request.blacklist)
        var selected = 0
        for name in Samples.names {
            for event in try Samples.events(name) {
                #expect(local.matches(event) == remote.matches(event), "\(arguments) on \(event)")
                if local.matches(event) { selected += 1 }
            }
        }
        #expect(selected > 0 || arguments.contains("--interface"), "\(arguments) selects nothing in the samples")
    }

    @Test("filters flowwatch cannot apply are refused with their name, not ignored")
    func refusals() throws {
        // source_fqdn (7) = "x": a field Hubble has and flowwatch does not.
        let unknown = try Flow_FlowFilter(serializedBytes: [0x3a, 0x01, 0x78] as [UInt8])
        #expect(throws: FilterConversionError("FlowFilter field 7 (source_fqdn) is not supported by flowwatch")) {
            try FlowFilter(unknown)
        }
        var bad = Flow_FlowFilter()
        bad.sourceIp = ["10.0.0.300"]
        #expect(throws: FilterConversionError("source_ip: '10.0.0.300' is not an IP address or CIDR")) { try FlowFilter(bad) }
        bad = Flow_FlowFilter()
        bad.destinationPort = ["http"]
        #expect(throws: FilterConversionError("destination_port: 'http' is not a port number (0-65535)")) { try FlowFilter(bad) }
        bad = Flow_FlowFilter()
        bad.sourceLabel = ["app in (a"]
        #expect(throws: FilterConversionError.self) { try FlowFilter(bad) }
    }
}
