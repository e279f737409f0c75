import Testing
@testable import FlowwatchCore

/// What the kernel may decide of a filter set (`KernelPrefilter`): which sets push down, which
/// must not, and that the prefilter never drops a flow the filters keep.
@Suite struct KernelPrefilterTests {
    typealias X = FilterFixtures
    typealias F = FlowFixtures

    func prefilter(_ arguments: [String], config: NodeConfig = F.config) throws -> KernelPrefilter {
        KernelPrefilter(filter: try X.filter(arguments), config: config)
    }

    func entry(_ prefix: String, source: Bool, destination: Bool) throws -> AddressPrefilter.Entry {
        AddressPrefilter.Entry(prefix: try #require(IPPrefix(prefix)), source: source, destination: destination)
    }

    @Test("--ip selects both sides of its prefixes; --from-ip sources, --to-ip destinations; the deny list does not narrow it")
    func ips() throws {
        #expect(try prefilter(["--ip", "10.244.0.25", "--ip", "fd00::/64"]).addresses?.entries == [
            try entry("10.244.0.25/32", source: true, destination: true),
            try entry("fd00::/64", source: true, destination: true),
        ])
        #expect(try prefilter(["--from-ip", "10.0.0.0/8"]).addresses?.entries == [try entry("10.0.0.0/8", source: true, destination: false)])
        #expect(try prefilter(["--to-ip", "10.0.0.1"]).addresses?.entries == [try entry("10.0.0.1/32", source: false, destination: true)])
        // Both sides constrained: one is enough, a flow the filter keeps has it.
        #expect(try prefilter(["--from-ip", "10.0.0.1", "--to-ip", "10.0.0.2"]).addresses?.entries
                == [try entry("10.0.0.1/32", source: true, destination: false)])
        let denied = try prefilter(["--ip", "10.244.0.0/16", "--not", "--ip", "10.244.0.25"])
        #expect(denied.addresses?.entries == [try entry("10.244.0.0/16", source: true, destination: true)])
        // Other kinds in the same filters narrow user space further, never the kernel's set.
        #expect(try prefilter(["--ip", "10.244.0.25", "--protocol", "tcp", "--to-port", "80", "-t", "trace:to-endpoint"])
            .addresses?.entries == [try entry("10.244.0.25/32", source: true, destination: true)])
    }

    @Test("a longer prefix carries the sides of the shorter ones around it: the kernel reads only the longest match")
    func nesting() throws {
        var set = FlowFilterSet()
        var a = FlowFilter(), b = FlowFilter()
        a.sourceIP = IPPrefixSet([try #require(IPPrefix("10.0.0.0/8"))])
        b.destinationIP = IPPrefixSet([try #require(IPPrefix("10.1.2.3"))])
        set = FlowFilterSet(whitelist: [a, b])
        let p = try #require(KernelPrefilter(filter: set, config: F.config).addresses)
        #expect(p.entries == [try entry("10.0.0.0/8", source: true, destination: false),
                              try entry("10.1.2.3/32", source: true, destination: true)])
        #expect(p.selects(source: .v4(IPv4Address(10, 1, 2, 3)), destination: .v4(IPv4Address(1, 1, 1, 1))))
        #expect(p.selects(source: .v4(IPv4Address(1, 1, 1, 1)), destination: .v4(IPv4Address(10, 1, 2, 3))))
        #expect(!p.selects(source: .v4(IPv4Address(1, 1, 1, 1)), destination: .v4(IPv4Address(10, 9, 9, 9))))
        #expect(p.selects(source: .v4(IPv4Address(10, 9, 9, 9)), destination: .v4(IPv4Address(1, 1, 1, 1))))
        // Families never cover each other.
        #expect(!p.selects(source: .v6(F.client6), destination: .v6(F.server6)))
    }

    @Test("pods resolve to the addresses of the config's endpoints they match; a pattern matching none selects nothing")
    func pods() throws {
        #expect(try prefilter(["--pod", "client"]).addresses?.entries == [
            try entry("10.244.0.102/32", source: true, destination: true),
            try entry("fd00::102/128", source: true, destination: true),
        ])
        #expect(try prefilter(["--to-pod", "default/serv"]).addresses?.entries == [
            try entry("10.244.0.25/32", source: false, destination: true),
            try entry("fd00::25/128", source: false, destination: true),
        ])
        #expect(try prefilter(["--namespace", "default"]).addresses?.entries.count == 4)
        #expect(try prefilter(["--pod", "kube-system/coredns"]).addresses?.entries == [])
        #expect(try prefilter(["--pod", "client"], config: NodeConfig()).addresses?.entries == [])
    }

    @Test("no address pushdown when an allow filter leaves the address open", arguments: [
        [String](), ["--not", "--ip", "10.0.0.1"], ["--protocol", "tcp"], ["--label", "k8s:app=client"],
        ["--identity", "22099"], ["-t", "debug"], ["--interface", "lxca"],
    ])
    func noAddresses(arguments: [String]) throws {
        #expect(try prefilter(arguments).addresses == nil)
    }

    @Test("--ip X in one allow filter and --protocol tcp in another: no pushdown (the second keeps any address)")
    func mixedAllowList() throws {
        var byIP = FlowFilter(), byProtocol = FlowFilter()
        byIP.sourceIP = IPPrefixSet([try #require(IPPrefix("10.0.0.1"))])
        byProtocol.protocols = .tcp
        let p = KernelPrefilter(filter: FlowFilterSet(whitelist: [byIP, byProtocol]), config: F.config)
        #expect(p.addresses == nil)
        #expect(p.keepsDebug == false)
        var byInterface = byProtocol
        byInterface.interface = ["lxc1"]
        #expect(KernelPrefilter(filter: FlowFilterSet(whitelist: [byIP, byInterface]), config: F.config).interfaces == nil)
    }

    @Test("--interface: only devices of those names; not when another allow filter has none")
    func interfaces() throws {
        #expect(try prefilter(["--interface", "lxcb", "--interface", "lxca"]).interfaces == ["lxca", "lxcb"])
        #expect(try prefilter(["--interface", "lxca", "--ip", "10.0.0.1"]).interfaces == ["lxca"])
        #expect(try prefilter(["--not", "--interface", "lxca"]).interfaces == nil)
        #expect(try prefilter(["--ip", "10.0.0.1"]).interfaces == nil)
    }

    @Test("debug messages: emitted only when an allow filter could keep one", arguments: [
        ([String](), true), (["--not", "--ip", "10.0.0.1"], true), (["-t", "debug"], true), (["-t", "2:15"], true),
        (["-t", "trace"], false), (["--ip", "10.0.0.1"], false), (["--protocol", "tcp"], false),
        (["-t", "debug", "--interface", "lxca"], false),
    ])
    func debug(arguments: [String], keeps: Bool) throws {
        let p = try prefilter(arguments)
        #expect(p.keepsDebug == keeps)
        let verdict = DebugEvent(time: FlowTime(seconds: 1, nanos: 0), type: .conntrackVerdict, hash: 0, arg1: 0, arg2: 0, arg3: 0,
                                 message: "", cpu: 0)
        if try X.filter(arguments).matches(verdict) { #expect(p.keepsDebug, "a debug message the filter keeps must be emitted") }
    }

    /// The kernel's decision for a flow: its address test (a flow without an IP layer always
    /// passes: the program cannot read the addresses the dissector might find) and its device.
    func kernelKeeps(_ p: KernelPrefilter, _ flow: Flow) -> Bool {
        if let names = p.interfaces, !names.contains(flow.interface?.name ?? "") { return false }
        guard let a = p.addresses, let ip = flow.ip else { return true }
        return a.selects(source: ip.source, destination: ip.destination)
    }

    @Test("every flow the filters keep passes the prefilter", arguments: [
        ["--ip", "10.244.0.25"], ["--ip", "10.244.0.0/24"], ["--from-ip", "10.244.0.102"], ["--to-ip", "10.244.0.102"],
        ["--ip", "fd00::/16"], ["--pod", "client"], ["--pod", "server"], ["--from-pod", "client", "--to-pod", "server"],
        ["--to-pod", "client"], ["--namespace", "default"], ["--from-namespace", "default"], ["--pod", "client", "--protocol", "udp"],
        ["--ip", "1.1.1.1"], ["--interface", "lxc1ddf0c103b7b"], ["--interface", "lxc1ddf0c103b7b", "--to-ip", "10.244.0.25"],
        ["--ip", "10.244.0.25", "--not", "--protocol", "tcp"], ["--from-ip", "10.244.0.102", "-6"], ["--to-ip", "1.1.1.1", "--verdict", "forwarded"],
    ])
    func superset(arguments: [String]) throws {
        let filter = try X.filter(arguments)
        let p = KernelPrefilter(filter: filter, config: F.config)
        #expect(!p.isNone)
        for (name, flow) in X.named where filter.matches(flow) {
            #expect(kernelKeeps(p, flow), "\(name) is kept by \(arguments) but the kernel would leave it out")
        }
    }
}
