import ArgumentParser
import FlowwatchCore

/// `hubble observe`'s filter flags, for live observation, replay and capture files.
///
/// ArgumentParser gathers the values of each option into its own array and so loses the order
/// of the command line, which `--not` depends on (it negates only the next filter flag). The
/// properties here therefore only declare the flags, so that they are accepted and listed in
/// `--help`; `filter(arguments:valueOptions:)` reads the flags again, in order, from the raw
/// command line.
struct FilterOptions: ParsableArguments {
    @Option(name: .customLong("ip"), help: ArgumentHelp("Flows from or to this IP address or CIDR.", valueName: "ip"))
    var ip: [String] = []

    @Option(name: .customLong("from-ip"), help: ArgumentHelp("Flows from this IP address or CIDR.", valueName: "ip"))
    var fromIP: [String] = []

    @Option(name: .customLong("to-ip"), help: ArgumentHelp("Flows to this IP address or CIDR.", valueName: "ip"))
    var toIP: [String] = []

    @Option(name: .customLong("pod"), help: ArgumentHelp("Flows from or to pods whose name starts with this ([namespace/]prefix; the namespace defaults to default, or to --namespace).", valueName: "pod"))
    var pod: [String] = []

    @Option(name: .customLong("from-pod"), help: ArgumentHelp("Flows from pods whose name starts with this ([namespace/]prefix).", valueName: "pod"))
    var fromPod: [String] = []

    @Option(name: .customLong("to-pod"), help: ArgumentHelp("Flows to pods whose name starts with this ([namespace/]prefix).", valueName: "pod"))
    var toPod: [String] = []

    @Option(name: .customLong("namespace"), help: ArgumentHelp("Flows from or to pods in this namespace (with --pod: where to look for the pods).", valueName: "namespace"))
    var namespace: [String] = []

    @Option(name: .customLong("from-namespace"), help: ArgumentHelp("Flows from pods in this namespace.", valueName: "namespace"))
    var fromNamespace: [String] = []

    @Option(name: .customLong("to-namespace"), help: ArgumentHelp("Flows to pods in this namespace.", valueName: "namespace"))
    var toNamespace: [String] = []

    @Option(name: [.customShort("l"), .customLong("label")], help: ArgumentHelp("Flows from or to endpoints these labels select (a Kubernetes label selector, e.g. 'k8s:app=web', 'app in (a,b)', '!canary').", valueName: "selector"))
    var label: [String] = []

    @Option(name: .customLong("from-label"), help: ArgumentHelp("Flows from endpoints these labels select.", valueName: "selector"))
    var fromLabel: [String] = []

    @Option(name: .customLong("to-label"), help: ArgumentHelp("Flows to endpoints these labels select.", valueName: "selector"))
    var toLabel: [String] = []

    @Option(name: .customLong("identity"), help: ArgumentHelp("Flows from or to this security identity (a number, or host, world, health, …).", valueName: "identity"))
    var identity: [String] = []

    @Option(name: .customLong("from-identity"), help: ArgumentHelp("Flows from this security identity.", valueName: "identity"))
    var fromIdentity: [String] = []

    @Option(name: .customLong("to-identity"), help: ArgumentHelp("Flows to this security identity.", valueName: "identity"))
    var toIdentity: [String] = []

    @Option(name: .customLong("port"), help: ArgumentHelp("Flows from or to this TCP or UDP port.", valueName: "port"))
    var port: [String] = []

    @Option(name: .customLong("from-port"), help: ArgumentHelp("Flows from this TCP or UDP port.", valueName: "port"))
    var fromPort: [String] = []

    @Option(name: .customLong("to-port"), help: ArgumentHelp("Flows to this TCP or UDP port.", valueName: "port"))
    var toPort: [String] = []

    @Option(name: .customLong("protocol"), help: ArgumentHelp("Flows of this L4 protocol: tcp, udp, icmp (both versions), icmpv4, icmpv6, sctp.", valueName: "protocol"))
    var `protocol`: [String] = []

    @Option(name: .customLong("tcp-flags"), help: ArgumentHelp("TCP flows with all these flags set (e.g. SYN or SYN,ACK).", valueName: "flags"))
    var tcpFlags: [String] = []

    @Option(name: .customLong("verdict"), help: ArgumentHelp("Flows with this verdict: \(Flow.Verdict.allCases.dropFirst().map(\.name).joined(separator: ", ")).", valueName: "verdict"))
    var verdict: [String] = []

    @Option(name: [.customShort("t"), .customLong("type")], help: ArgumentHelp("Events of this type: trace[:observation-point] (e.g. trace:to-endpoint), drop, capture, debug, or TYPE:SUBTYPE numbers.", valueName: "type"))
    var type: [String] = []

    @Option(name: .customLong("traffic-direction"), help: ArgumentHelp("Flows in this direction: ingress or egress.", valueName: "direction"))
    var trafficDirection: [String] = []

    @Option(name: .customLong("interface"), help: ArgumentHelp("Flows seen on this network interface.", valueName: "name"))
    var interface: [String] = []

    @Option(name: .customLong("node-name"), help: ArgumentHelp("Flows observed by nodes matching this pattern ([cluster/]node, * as wildcard, e.g. 'k8s-*').", valueName: "pattern"))
    var nodeName: [String] = []

    @Flag(name: [.customShort("4"), .customLong("ipv4")], help: "IPv4 flows.")
    var ipv4: Int

    @Flag(name: [.customShort("6"), .customLong("ipv6")], help: "IPv6 flows.")
    var ipv6: Int

    @Flag(name: .customLong("not"), help: "Hide what the next filter flag selects. Values of one filter flag are alternatives, different flags must all hold; --not flags together say what to hide.")
    var not: Int

    /// The filters of `arguments` (the raw `CommandLine.arguments`), read in order. Flags of one
    /// kind are OR-ed, different kinds AND-ed, `--not` flags make the blacklist.
    /// `valueOptions` names the command's other options that take a value (`--output`, `-o`,
    /// …), so their values are skipped rather than read as flags.
    func filter(arguments: [String], valueOptions: [String]) throws -> FlowFilterSet {
        do throws(FilterError) {
            return try FilterArguments.parse(arguments, valueOptions: valueOptions)
        } catch {
            throw ValidationError(error.description)
        }
    }
}
