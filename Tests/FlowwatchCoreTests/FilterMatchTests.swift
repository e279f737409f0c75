import Testing
@testable import FlowwatchCore

/// Flows the filter tests look at: the client's SYN to the server's port 80 as endpoint 149
/// receives it (decoded from a real trace message), and variants of it with one field changed.
enum FilterFixtures {
    typealias F = FlowFixtures

    /// default/client (22099, k8s:app=client) 10.244.0.102:12544 → default/server (11575,
    /// k8s:app=server) 10.244.0.25:80, TCP SYN, FORWARDED, trace to-endpoint, ingress, IPv4,
    /// interface 12 lxc1ddf0c103b7b, node k8s1.
    static let syn: Flow = {
        guard case .flow(let f)? = try? F.event(F.toEndpointSYN) else { fatalError("the fixture trace does not decode") }
        return f
    }()

    static func flow(_ change: (inout Flow) -> Void) -> Flow {
        var f = syn
        change(&f)
        return f
    }

    static let synAck = flow { $0.l4 = .tcp(sourcePort: 12544, destinationPort: 80, flags: [.syn, .ack]) }
    static let udp = flow { $0.l4 = .udp(sourcePort: 5353, destinationPort: 53) }
    static let icmp6 = flow {
        $0.ip = Flow.IP(source: .v6(F.client6), destination: .v6(F.server6), ipVersion: .ipv6)
        $0.l4 = .icmpv6(type: 128, code: 0)
    }
    static let tcp6 = flow { $0.ip = Flow.IP(source: .v6(F.client6), destination: .v6(F.server6), ipVersion: .ipv6) }
    static let noIP = flow {
        $0.ip = nil
        $0.l4 = nil
    }
    static let dropped = flow {
        $0.verdict = .dropped
        $0.eventType = Flow.CiliumEventType(type: 1, subType: 133)
        $0.trafficDirection = .egress
    }
    static let fromEndpoint = flow { $0.eventType = Flow.CiliumEventType(type: 4, subType: 5) }
    static let noInterface = flow { $0.interface = nil }
    static let toWorld = flow {
        $0.ip = Flow.IP(source: .v4(F.client), destination: .v4(IPv4Address(1, 1, 1, 1)), ipVersion: .ipv4)
        $0.destination = Flow.Endpoint(identity: 2, labels: ["reserved:world"])
    }
    static let otherCluster = flow { $0.nodeName = "east/k8s1" }

    static let named: [String: Flow] = [
        "syn": syn, "synAck": synAck, "udp": udp, "icmp6": icmp6, "tcp6": tcp6, "noIP": noIP, "dropped": dropped,
        "fromEndpoint": fromEndpoint, "noInterface": noInterface, "toWorld": toWorld, "otherCluster": otherCluster,
    ]

    static func filter(_ arguments: [String]) throws -> FlowFilterSet {
        try FilterArguments.parse(["flowwatch", "replay", "x.fwrec"] + arguments)
    }
}

/// Each filter flag on flows made for it, and the same flag after `--not`, which must show
/// exactly the flows the flag hides (one flag makes one list, so negating it flips the answer).
@Suite struct FilterMatchTests {
    typealias X = FilterFixtures

    struct Case: Sendable, CustomTestStringConvertible {
        var arguments: [String]
        var flow: String
        var shown: Bool
        var testDescription: String { "\(arguments.joined(separator: " ")) on \(flow): \(shown ? "shown" : "hidden")" }
    }

    static func cases(_ arguments: [String], _ expectations: [(String, Bool)]) -> [Case] {
        expectations.map { Case(arguments: arguments, flow: $0.0, shown: $0.1) }
    }

    static let ipCases: [Case] = [
        cases(["--ip", "10.244.0.102"], [("syn", true), ("tcp6", false), ("noIP", false)]),
        cases(["--ip", "10.244.0.25"], [("syn", true)]),
        cases(["--ip", "10.244.0.1"], [("syn", false)]),
        cases(["--ip", "10.244.0.0/24"], [("syn", true), ("tcp6", false)]),
        cases(["--ip", "10.244.0.64/26"], [("syn", true)]),   // only the client is in .64-.127
        cases(["--ip", "10.245.0.0/16"], [("syn", false)]),
        cases(["--ip", "0.0.0.0/0"], [("syn", true), ("tcp6", false), ("noIP", false)]),
        cases(["--ip", "::ffff:10.244.0.102"], [("syn", false)]),
        cases(["--from-ip", "10.244.0.102"], [("syn", true)]),
        cases(["--from-ip", "10.244.0.25"], [("syn", false)]),
        cases(["--to-ip", "10.244.0.25"], [("syn", true)]),
        cases(["--to-ip", "10.244.0.102/32"], [("syn", false)]),
        cases(["--ip", "fd00::102"], [("tcp6", true), ("syn", false)]),
        cases(["--ip", "fd00:0:0::0102"], [("tcp6", true)]),
        cases(["--ip", "fd00::/8"], [("tcp6", true), ("icmp6", true), ("syn", false)]),
        cases(["--ip", "fd00::100/120"], [("tcp6", true)]),
        cases(["--ip", "fd00::200/120"], [("tcp6", false)]),
        cases(["--to-ip", "fd00::25/128"], [("tcp6", true)]),
        cases(["--from-ip", "::/0"], [("tcp6", true), ("syn", false)]),
    ].flatMap { $0 }

    static let podCases: [Case] = [
        cases(["--pod", "client"], [("syn", true), ("noIP", true)]),
        cases(["--pod", "serv"], [("syn", true)]),
        cases(["--pod", "default/cli"], [("syn", true)]),
        cases(["--pod", "default/"], [("syn", true)]),
        cases(["--pod", "kube-system/client"], [("syn", false)]),
        cases(["--pod", "lient"], [("syn", false)]),
        cases(["--from-pod", "client"], [("syn", true)]),
        cases(["--from-pod", "server"], [("syn", false)]),
        cases(["--to-pod", "server"], [("syn", true)]),
        cases(["--to-pod", "default/"], [("syn", true), ("toWorld", false)]),
        cases(["--namespace", "default"], [("syn", true), ("toWorld", true)]),
        cases(["--namespace", "kube-system"], [("syn", false)]),
        cases(["--to-namespace", "default"], [("syn", true), ("toWorld", false)]),
        cases(["--from-namespace", "default"], [("toWorld", true)]),
    ].flatMap { $0 }

    static let labelCases: [Case] = [
        cases(["--label", "app=client"], [("syn", true)]),
        cases(["-l", "k8s:app=server"], [("syn", true)]),
        cases(["--label", "app=other"], [("syn", false)]),
        cases(["--label", "container:app=client"], [("syn", false)]),
        cases(["--label", "app in (client, web)"], [("syn", true)]),
        cases(["--label", "io.kubernetes.pod.namespace"], [("syn", true)]),
        cases(["--label", "reserved:world"], [("toWorld", true), ("syn", false)]),
        cases(["--from-label", "app=server"], [("syn", false)]),
        cases(["--to-label", "app=server"], [("syn", true)]),
        cases(["--to-label", "!app"], [("syn", false), ("toWorld", true)]),
        cases(["--to-label", "app notin (server)"], [("syn", false), ("toWorld", true)]),
    ].flatMap { $0 }

    static let identityCases: [Case] = [
        cases(["--identity", "22099"], [("syn", true)]),
        cases(["--identity", "11575"], [("syn", true)]),
        cases(["--identity", "1"], [("syn", false)]),
        cases(["--identity", "world"], [("toWorld", true), ("syn", false)]),
        cases(["--from-identity", "11575"], [("syn", false)]),
        cases(["--to-identity", "11575"], [("syn", true)]),
        cases(["--to-identity", "world"], [("toWorld", true)]),
    ].flatMap { $0 }

    static let portCases: [Case] = [
        cases(["--port", "80"], [("syn", true), ("udp", false), ("icmp6", false), ("noIP", false)]),
        cases(["--port", "12544"], [("syn", true)]),
        cases(["--port", "443"], [("syn", false)]),
        cases(["--port", "53"], [("udp", true)]),
        cases(["--from-port", "80"], [("syn", false)]),
        cases(["--from-port", "12544"], [("syn", true)]),
        cases(["--to-port", "80"], [("syn", true)]),
        cases(["--to-port", "12544"], [("syn", false)]),
    ].flatMap { $0 }

    static let protocolsCases: [Case] = [
        cases(["--protocol", "tcp"], [("syn", true), ("udp", false), ("icmp6", false), ("noIP", false)]),
        cases(["--protocol", "TCP"], [("tcp6", true)]),
        cases(["--protocol", "udp"], [("udp", true), ("syn", false)]),
        cases(["--protocol", "icmp"], [("icmp6", true), ("syn", false)]),
        cases(["--protocol", "icmpv6"], [("icmp6", true)]),
        cases(["--protocol", "icmpv4"], [("icmp6", false)]),
        cases(["--protocol", "sctp"], [("syn", false)]),
    ].flatMap { $0 }

    static let tcpFlagsCases: [Case] = [
        cases(["--tcp-flags", "SYN"], [("syn", true), ("synAck", true), ("udp", false)]),
        cases(["--tcp-flags", "syn,ack"], [("syn", false), ("synAck", true)]),
        cases(["--tcp-flags", "ACK"], [("syn", false), ("synAck", true)]),
        cases(["--tcp-flags", "FIN"], [("synAck", false)]),
    ].flatMap { $0 }

    static let verdictCases: [Case] = [
        cases(["--verdict", "FORWARDED"], [("syn", true), ("dropped", false)]),
        cases(["--verdict", "dropped"], [("dropped", true), ("syn", false)]),
        cases(["--verdict", "AUDIT"], [("syn", false)]),
    ].flatMap { $0 }

    static let typeCases: [Case] = [
        cases(["--type", "trace"], [("syn", true), ("fromEndpoint", true), ("dropped", false)]),
        cases(["--type", "trace:to-endpoint"], [("syn", true), ("fromEndpoint", false)]),
        cases(["-t", "trace:from-endpoint"], [("fromEndpoint", true), ("syn", false)]),
        cases(["--type", "trace:5"], [("fromEndpoint", true)]),
        cases(["--type", "4"], [("syn", true)]),
        cases(["--type", "drop"], [("dropped", true), ("syn", false)]),
        cases(["--type", "drop:133"], [("dropped", true)]),
        cases(["--type", "drop:130"], [("dropped", false)]),
        cases(["--type", "capture"], [("syn", false)]),
        cases(["--type", "debug"], [("syn", false)]),
        cases(["--type", "0"], [("syn", true), ("dropped", true)]),
    ].flatMap { $0 }

    static let restCases: [Case] = [
        cases(["--traffic-direction", "ingress"], [("syn", true), ("dropped", false)]),
        cases(["--traffic-direction", "EGRESS"], [("dropped", true), ("syn", false)]),
        cases(["--interface", "lxc1ddf0c103b7b"], [("syn", true), ("noInterface", false)]),
        cases(["--interface", "eth0"], [("syn", false)]),
        cases(["--node-name", "k8s1"], [("syn", true), ("otherCluster", true)]),
        cases(["--node-name", "k8s*"], [("syn", true)]),
        cases(["--node-name", "*"], [("syn", true)]),
        cases(["--node-name", "node-*"], [("syn", false)]),
        cases(["--node-name", "default/k8s1"], [("syn", true), ("otherCluster", false)]),
        cases(["--node-name", "east/"], [("otherCluster", true), ("syn", false)]),
        cases(["--node-name", "/"], [("syn", true), ("otherCluster", true)]),
        cases(["-4"], [("syn", true), ("tcp6", false), ("noIP", false)]),
        cases(["--ipv4"], [("syn", true)]),
        cases(["-6"], [("tcp6", true), ("icmp6", true), ("syn", false)]),
        cases(["--ipv6"], [("tcp6", true)]),
    ].flatMap { $0 }

    func check(_ c: Case) throws {
        let flow = try #require(X.named[c.flow])
        let shown = try X.filter(c.arguments)
        #expect(shown.matches(.flow(flow)) == c.shown)
        let hidden = try X.filter(["--not"] + c.arguments)
        #expect(hidden.matches(.flow(flow)) == !c.shown, "--not \(c.arguments.joined(separator: " "))")
    }

    @Test(arguments: ipCases) func ip(_ c: Case) throws { try check(c) }
    @Test(arguments: podCases) func pod(_ c: Case) throws { try check(c) }
    @Test(arguments: labelCases) func label(_ c: Case) throws { try check(c) }
    @Test(arguments: identityCases) func identity(_ c: Case) throws { try check(c) }
    @Test(arguments: portCases) func port(_ c: Case) throws { try check(c) }
    @Test(arguments: protocolsCases) func `protocol`(_ c: Case) throws { try check(c) }
    @Test(arguments: tcpFlagsCases) func tcpFlags(_ c: Case) throws { try check(c) }
    @Test(arguments: verdictCases) func verdict(_ c: Case) throws { try check(c) }
    @Test(arguments: typeCases) func type(_ c: Case) throws { try check(c) }
    @Test("traffic direction, interface, node name, IP version", arguments: restCases) func rest(_ c: Case) throws { try check(c) }

    // MARK: - Combinations

    static let combinationsCases: [Case] = [
        // Values of one flag are OR-ed.
        cases(["--port", "443", "--port", "80"], [("syn", true)]),
        cases(["--verdict", "DROPPED", "--verdict", "FORWARDED"], [("syn", true), ("dropped", true)]),
        cases(["--ip", "10.9.9.9", "--ip", "10.244.0.25"], [("syn", true)]),
        cases(["--tcp-flags", "FIN", "--tcp-flags", "SYN"], [("syn", true)]),
        cases(["--type", "drop", "--type", "trace:to-endpoint"], [("syn", true), ("dropped", true), ("fromEndpoint", false)]),
        cases(["-4", "-6"], [("syn", true), ("tcp6", true), ("noIP", false)]),
        // Different flags are AND-ed.
        cases(["--protocol", "tcp", "--to-port", "80"], [("syn", true), ("udp", false)]),
        cases(["--protocol", "udp", "--to-port", "80"], [("syn", false)]),
        cases(["--to-port", "443", "--protocol", "tcp"], [("syn", false)]),
        cases(["--from-pod", "client", "--to-pod", "server"], [("syn", true)]),
        cases(["--from-pod", "client", "--to-pod", "client"], [("syn", false)]),
        cases(["--verdict", "FORWARDED", "--traffic-direction", "egress"], [("syn", false)]),
        // Directionless flags pair up side by side, as in Hubble: the client with its port…
        cases(["--ip", "10.244.0.102", "--port", "12544"], [("syn", true)]),
        // …but not the client with the server's port.
        cases(["--ip", "10.244.0.102", "--port", "80"], [("syn", false)]),
        cases(["--label", "app=server", "--identity", "11575"], [("syn", true)]),
        cases(["--label", "app=server", "--identity", "22099"], [("syn", false)]),
        cases(["--ip", "10.244.0.102", "--to-port", "80"], [("syn", true)]),
        // --namespace with --pod: the pods are looked for in the namespace.
        cases(["--pod", "client", "--namespace", "default"], [("syn", true)]),
        cases(["--pod", "client", "--namespace", "kube-system"], [("syn", false)]),
        cases(["--pod", "default/client", "--namespace", "default"], [("syn", true)]),
        cases(["--namespace", "kube-system", "--namespace", "default"], [("syn", true)]),
        cases(["--from-namespace", "default", "--to-pod", "server"], [("syn", true)]),
    ].flatMap { $0 }

    @Test(arguments: combinationsCases) func combination(_ c: Case) throws {
        let flow = try #require(X.named[c.flow])
        #expect(try X.filter(c.arguments).matches(.flow(flow)) == c.shown)
    }

    static let withBlacklistCases: [Case] = [
        cases(["--protocol", "tcp", "--not", "--to-port", "80"], [("syn", false), ("udp", false), ("tcp6", false)]),
        cases(["--protocol", "tcp", "--not", "--to-port", "443"], [("syn", true)]),
        cases(["--not", "--verdict", "DROPPED", "--protocol", "tcp"], [("syn", true), ("dropped", false), ("udp", false)]),
        cases(["--not", "--ip", "10.244.0.25"], [("syn", false), ("toWorld", true)]),
        // Negated flags go together too: only flows that match all of them are hidden.
        cases(["--not", "--to-ip", "10.244.0.25", "--not", "--to-port", "80"], [("syn", false), ("udp", true)]),
        cases(["--not", "--ip", "10.244.0.25", "--not", "--port", "80"], [("syn", false)]),
        cases(["--not", "--ip", "10.244.0.25", "--not", "--port", "12544"], [("syn", true)]),
        cases(["--not", "--type", "trace:to-endpoint", "--not", "--type", "drop"], [("syn", false), ("dropped", false), ("fromEndpoint", true)]),
        cases(["--type", "trace", "--not", "-6"], [("syn", true), ("tcp6", false), ("dropped", false)]),
        cases(["-6", "--not", "--protocol", "icmp"], [("tcp6", true), ("icmp6", false), ("syn", false)]),
        cases(["--label", "app=client", "--not", "--from-label", "app=client"], [("syn", false)]),
    ].flatMap { $0 }

    @Test("whitelist and blacklist", arguments: withBlacklistCases) func blacklist(_ c: Case) throws {
        let flow = try #require(X.named[c.flow])
        #expect(try X.filter(c.arguments).matches(.flow(flow)) == c.shown)
    }

    // MARK: - Events other than flows

    static let lost = FlowEvent.lost(LostEvent(time: FlowTime(seconds: 1, nanos: 0), source: .perfEventRingBuffer,
                                               numEventsLost: 3, cpu: 1))
    static let debug = FlowEvent.debug(DebugEvent(time: FlowTime(seconds: 1, nanos: 0), nodeName: "k8s1",
                                                  type: .conntrackVerdict, hash: 0, arg1: 0, arg2: 0, arg3: 0,
                                                  message: "CT verdict: New", cpu: 1))

    @Test("lost events are always shown", arguments: [
        [], ["--ip", "1.2.3.4"], ["--type", "debug"], ["--not", "--type", "trace"], ["--verdict", "DROPPED", "-6"],
        ["--not", "--protocol", "tcp", "--not", "--port", "80"], ["--node-name", "nowhere"],
    ])
    func lostEvents(_ arguments: [String]) throws {
        #expect(try X.filter(arguments).matches(Self.lost))
    }

    /// Debug events carry no flow: only type filters can select them.
    @Test("debug events", arguments: [
        ([], true),
        (["--type", "debug"], true),
        (["--type", "debug:15"], true),
        (["--type", "debug:2"], false),
        (["--type", "2"], true),
        (["--type", "trace"], false),
        (["--type", "trace", "--type", "debug"], true),
        (["--not", "--type", "debug"], false),
        (["--not", "--type", "trace"], true),
        (["--ip", "10.244.0.102"], false),
        (["--type", "debug", "--node-name", "k8s1"], false),
        (["--not", "--ip", "10.244.0.102"], true),
        (["--not", "--verdict", "DROPPED"], true),
    ] as [([String], Bool)])
    func debugEvents(_ arguments: [String], _ shown: Bool) throws {
        #expect(try X.filter(arguments).matches(Self.debug) == shown)
    }

    @Test func debugTypeFilterHidesFlows() throws {
        #expect(try !X.filter(["--type", "debug"]).matches(.flow(X.syn)))
    }

    @Test("no filter shows everything") func empty() throws {
        let none = try X.filter([])
        #expect(none.isEmpty)
        #expect(none.whitelist.isEmpty && none.blacklist.isEmpty)
        for flow in X.named.values { #expect(none.matches(.flow(flow))) }
        #expect(none.matches(Self.debug) && none.matches(Self.lost))
        #expect(FlowFilterSet().matches(.flow(X.syn)))
        // A FlowFilter without values matches every flow, as in Hubble.
        #expect(FlowFilterSet(whitelist: [FlowFilter()]).matches(.flow(X.noIP)))
        #expect(!FlowFilterSet(blacklist: [FlowFilter()]).matches(.flow(X.noIP)))
    }
}
