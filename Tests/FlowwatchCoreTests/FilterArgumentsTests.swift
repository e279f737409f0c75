import Testing
@testable import FlowwatchCore

/// Reading filter flags from a command line: the forms, what Hubble would send for them, and
/// the errors.
@Suite struct FilterArgumentsTests {
    typealias X = FilterFixtures

    func parse(_ arguments: [String], valueOptions: [String] = []) throws(FilterError) -> FlowFilterSet {
        try FilterArguments.parse(arguments, valueOptions: valueOptions)
    }

    func prefix(_ text: String) throws -> IPPrefix { try #require(IPPrefix(text)) }
    func pods(_ texts: String...) throws -> [PodPattern] { try texts.map { try #require(PodPattern($0)) } }

    // MARK: - What Hubble would send

    @Test("a directionless flag makes a source filter and a destination filter")
    func eitherSide() throws {
        let set = try parse(["--ip", "10.0.0.1", "--ip", "10.1.0.0/16"])
        var source = FlowFilter()
        source.sourceIP = IPPrefixSet([try prefix("10.0.0.1"), try prefix("10.1.0.0/16")])
        var destination = FlowFilter()
        destination.destinationIP = source.sourceIP
        #expect(set.whitelist == [source, destination])
        #expect(set.blacklist.isEmpty)
    }

    @Test("flags with a direction, and flags without sides, make one filter")
    func oneFilter() throws {
        let set = try parse(["--from-ip", "10.0.0.1", "--to-port", "80", "--to-port", "8080", "--protocol", "tcp",
                             "--verdict", "forwarded", "-t", "trace:to-endpoint", "--tcp-flags", "syn,ack", "-4"])
        var expected = FlowFilter()
        expected.sourceIP = IPPrefixSet([try prefix("10.0.0.1/32")])
        expected.destinationPort = PortSet([80, 8080])
        expected.protocols = .tcp
        expected.verdict = EnumSet([.forwarded])
        expected.eventType = [EventTypeFilter(type: 4, subType: 0)]
        expected.tcpFlags = [[.syn, .ack]]
        expected.ipVersion = EnumSet([.ipv4])
        #expect(set.whitelist == [expected])
    }

    @Test("a directionless flag puts the others on both sides")
    func sideBySide() throws {
        let set = try parse(["--port", "53", "--protocol", "udp"])
        #expect(set.whitelist.count == 2)
        #expect(set.whitelist[0].sourcePort == PortSet([53]) && set.whitelist[0].destinationPort.isEmpty)
        #expect(set.whitelist[1].destinationPort == PortSet([53]) && set.whitelist[1].sourcePort.isEmpty)
        #expect(set.whitelist.allSatisfy { $0.protocols == .udp })
    }

    @Test("--namespace: every pod of the namespace on either side, or where to look for --pod")
    func namespaces() throws {
        let alone = try parse(["--namespace", "kube-system"])
        #expect(alone.whitelist.map(\.sourcePod) == [try pods("kube-system/"), []])
        #expect(alone.whitelist.map(\.destinationPod) == [[], try pods("kube-system/")])

        let withPod = try parse(["--pod", "coredns", "--namespace", "kube-system", "--namespace", "dns"])
        #expect(withPod.whitelist.map(\.sourcePod) == [try pods("kube-system/coredns", "dns/coredns"), []])
        #expect(withPod.whitelist.map(\.destinationPod) == [[], try pods("kube-system/coredns", "dns/coredns")])

        let bare = try parse(["--pod", "coredns"])
        #expect(bare.whitelist[0].sourcePod[0].namespace == "default")
        #expect(bare.whitelist[0].sourcePod[0].prefix == "coredns")

        let sides = try parse(["--from-namespace", "a", "--to-namespace", "b"])
        var expected = FlowFilter()
        expected.sourcePod = try pods("a/")
        expected.destinationPod = try pods("b/")
        #expect(sides.whitelist == [expected])
    }

    @Test("--not sends only the next flag to the blacklist")
    func notIsForOneFlag() throws {
        let set = try parse(["--not", "--verdict", "DROPPED", "--protocol", "tcp", "--not", "-6"])
        var white = FlowFilter()
        white.protocols = .tcp
        var black = FlowFilter()
        black.verdict = EnumSet([.dropped])
        black.ipVersion = EnumSet([.ipv6])
        #expect(set.whitelist == [white])
        #expect(set.blacklist == [black])
    }

    // MARK: - Reading the command line

    @Test("--flag value and --flag=value are the same")
    func forms() throws {
        #expect(try parse(["--to-ip=10.0.0.1"]) == parse(["--to-ip", "10.0.0.1"]))
        #expect(try parse(["--label=app in (a,b)"]) == parse(["-l", "app in (a,b)"]))
        #expect(try parse(["--type=trace:to-stack"]) == parse(["-t", "trace:to-stack"]))
        #expect(try parse(["--node-name=k8s-*"]) == parse(["--node-name", "k8s-*"]))
        #expect(try parse(["-t=drop"]) == parse(["--type", "drop"]))
        #expect(try parse(["-l=app=web"]) == parse(["--label", "app=web"]))
    }

    @Test("short flags inside groups")
    func shortGroups() throws {
        #expect(try parse(["-f4"]) == parse(["-4"]))
        #expect(try parse(["-4f6"]) == parse(["-4", "-6"]))
        #expect(try parse(["-vt", "drop"]) == parse(["--type", "drop"]))
        #expect(try parse(["--not", "-4f"]) == parse(["--not", "--ipv4"]))
    }

    @Test("other options, their values and words are skipped")
    func skipping() throws {
        let argv = ["/usr/bin/flowwatch", "replay", "-o", "json", "--time-format=RFC3339", "-vv", "x.fwrec",
                    "--to-port", "80", "--print-node-name", "--config", "-6"]
        let set = try parse(argv, valueOptions: ["-o", "--output", "--config"])
        #expect(set == (try parse(["--to-port", "80"])))
        // Without knowing --config takes a value, its value reads as a flag.
        #expect(try parse(argv) == parse(["--to-port", "80", "-6"]))
        #expect(try parse(["-c", "-4", "-6"], valueOptions: ["-c"]) == parse(["-6"]))
        #expect(try parse(["-c=x", "-4"], valueOptions: ["-c"]) == parse(["-4"]))
    }

    @Test("reading stops at --")
    func doubleDash() throws {
        #expect(try parse(["--port", "80", "--", "--ip", "10.0.0.1"]) == parse(["--port", "80"]))
    }

    @Test("a lone - is a word")
    func dash() throws {
        #expect(try parse(["-", "--port", "80"]) == parse(["--port", "80"]))
    }

    // MARK: - Errors

    static let errors: [([String], String)] = [
        (["--ip", "10.0.0.300"], "--ip: '10.0.0.300' is not an IP address or CIDR"),
        (["--from-ip", "10.0.0.0/33"], "--from-ip: '10.0.0.0/33' is not an IP address or CIDR"),
        (["--to-ip=fd00::/129"], "--to-ip: 'fd00::/129' is not an IP address or CIDR"),
        (["--ip"], "--ip: needs a value"),
        (["--ip", "--not"], "--ip: needs a value"),
        (["-l"], "--label: needs a value"),
        (["--pod", ""], "--pod: the value is empty"),
        (["--pod", "/"], "--pod: '/' is not [namespace/]pod-name-prefix"),
        (["--namespace="], "--namespace: the value is empty"),
        (["--label", "app in (a"], "--label: 'app in (a' is not a label selector: expected a value, ',' or ')' in the value set, found the end"),
        (["--label", "app=a b"], "--label: 'app=a b' is not a label selector: expected ',' or the end after a requirement, found 'b'"),
        (["--identity", "nobody"], "--identity: 'nobody' is not a number or one of host, world, unmanaged, health, init, remote-node, kube-apiserver, ingress, world-ipv4, world-ipv6, overlay-to-encrypt"),
        (["--port", "70000"], "--port: '70000' is not a port number (0-65535)"),
        (["--to-port", "http"], "--to-port: 'http' is not a port number (0-65535)"),
        (["--protocol", "gre"], "--protocol: 'gre' is not one of tcp, udp, icmp, icmpv4, icmpv6, sctp"),
        (["--protocol", "http"], "--protocol: 'http' is not one of tcp, udp, icmp, icmpv4, icmpv6, sctp (flowwatch sees no L7 flows)"),
        (["--tcp-flags", "SYN,FOO"], "--tcp-flags: 'FOO' in 'SYN,FOO' is not one of SYN, ACK, RST, FIN, PSH, URG, ECE, CWR, NS"),
        (["--tcp-flags", "SYN,"], "--tcp-flags: '' in 'SYN,' is not one of SYN, ACK, RST, FIN, PSH, URG, ECE, CWR, NS"),
        (["--verdict", "ALLOWED"], "--verdict: 'ALLOWED' is not one of VERDICT_UNKNOWN, FORWARDED, DROPPED, ERROR, AUDIT, REDIRECTED, TRACED, TRANSLATED"),
        (["--type", "l7"], "--type: 'l7' is not one of drop, debug, capture, trace or a type number"),
        (["-t", "trace:to-nowhere"], "--type: 'to-nowhere' in 'trace:to-nowhere' is not one of to-endpoint, to-proxy, to-host, to-stack, to-overlay, from-endpoint, from-proxy, from-host, from-stack, from-overlay, from-network, to-network, from-crypto, to-crypto or a subtype number"),
        (["--type", "drop:x"], "--type: 'x' in 'drop:x' is not a subtype number"),
        (["--type", "trace:"], "--type: '' in 'trace:' is not one of to-endpoint, to-proxy, to-host, to-stack, to-overlay, from-endpoint, from-proxy, from-host, from-stack, from-overlay, from-network, to-network, from-crypto, to-crypto or a subtype number"),
        (["--traffic-direction", "sideways"], "--traffic-direction: 'sideways' is not ingress or egress"),
        (["--node-name", "a/b/c"], "--node-name: 'a/b/c': too many slashes in pattern"),
        (["--node-name", "node|1"], "--node-name: 'node|1': '|' is not allowed (letters, digits, '-', '_', '.' and '*')"),
        (["--node-name", "k8s1.."], "--node-name: 'k8s1..': multiple trailing dots in pattern"),
        (["--node-name", " /k8s1"], "--node-name: ' /k8s1': empty pattern"),
        (["--ipv4=yes"], "--ipv4: takes no value"),
        (["-6=yes"], "--ipv6: takes no value"),
        (["-t="], "--type: the value is empty"),
        (["--not"], "--not must be followed by a filter flag"),
        (["--ip", "10.0.0.1", "--not"], "--not must be followed by a filter flag"),
        (["--not", "--not", "--ip", "10.0.0.1"], "--not must be followed by a filter flag, not another --not"),
        (["--not", "-o", "json", "--ip", "10.0.0.1"], "--not must be followed by a filter flag, not '-o'"),
        (["--not", "--follow"], "--not must be followed by a filter flag, not '--follow'"),
        (["--not", "x.fwrec", "--ip", "10.0.0.1"], "--not must be followed by a filter flag, not 'x.fwrec'"),
        (["--not=1"], "--not takes no value"),
        (["--ip", "10.0.0.1", "--from-ip", "10.0.0.2"], "filters --ip and --from-ip cannot be combined"),
        (["--to-pod", "a", "--pod", "b"], "filters --to-pod and --pod cannot be combined"),
        (["--ip", "10.0.0.1", "--pod", "b"], "filters --ip and --pod cannot be combined"),
        (["--ip", "10.0.0.1", "--namespace", "b"], "filters --ip and --namespace cannot be combined"),
        (["--from-pod", "a", "--namespace", "b"], "filters --from-pod and --namespace cannot be combined"),
        (["--label", "a", "--to-label", "b"], "filters --label and --to-label cannot be combined"),
        (["--port", "1", "--from-port", "2"], "filters --port and --from-port cannot be combined"),
        (["--to-identity", "1", "--identity", "2"], "filters --to-identity and --identity cannot be combined"),
        (["--not", "--port", "1", "--not", "--to-port", "2"], "filters --not --port and --not --to-port cannot be combined"),
        (["--namespace", "a", "--pod", "b/c"], "namespace conflict: 'a' does not contain 'b/c'"),
        (["--pod", "b/c", "--namespace", "a"], "namespace conflict: 'a' does not contain 'b/c'"),
        (["--to-namespace", "a", "--to-pod", "b/c"], "namespace conflict: 'a' does not contain 'b/c'"),
    ]

    @Test("errors name the flag and the value", arguments: errors)
    func error(_ arguments: [String], _ message: String) {
        #expect(throws: FilterError(message)) { try parse(arguments) }
    }

    @Test("flags that conflict in one list may be used in the other")
    func conflictsArePerList() throws {
        _ = try parse(["--port", "80", "--not", "--to-port", "8080"])
        _ = try parse(["--ip", "10.0.0.1", "--not", "--pod", "default/x"])
        _ = try parse(["--namespace", "a", "--not", "--pod", "b/c"])
    }

    @Test("every flag has its long name, and the short ones Hubble gives it but -n")
    func flagNames() {
        #expect(FilterFlag.allCases.count == 27)
        #expect(FilterFlag.allCases.compactMap(\.shortName) == ["l", "t", "4", "6"])
        #expect(FilterFlag.allCases.filter { !$0.takesValue } == [.ipv4, .ipv6])
        #expect(FilterFlag.tcpFlags.spelling == "--tcp-flags")
    }
}
