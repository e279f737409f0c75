import CFlowwatchABI
import CLibbpf
import FlowwatchCore
@testable import FlowwatchDatapath
import Testing

/// The address prefilter in the real program, through BPF_PROG_TEST_RUN: traces only for
/// packets whose source or destination the filters could keep, the rest counted; conntrack
/// sees every packet either way; packets pass untouched.
@Suite(.enabled(if: Privileged.enabled, Privileged.reason))
struct PrefilterTests {
    typealias P = Packets
    static let client = "10.244.0.102", server = "10.244.0.25", other = "10.244.0.99", world = "198.51.100.7"

    func udp(_ src: String, _ dst: String, sport: UInt16 = 5300, dport: UInt16 = 53) -> [UInt8] {
        P.ethernet(0x0800, P.ipv4(src, dst, proto: 17, P.udp(sport, dport)))
    }

    func udp6(_ src: [UInt8], _ dst: [UInt8]) -> [UInt8] {
        P.ethernet(0x86DD, P.ipv6(src, dst, next: 17, P.udp(5300, 53)))
    }

    static let arp = P.ethernet(0x0806, [0, 1, 8, 0, 6, 4, 0, 1] + [UInt8](repeating: 0, count: 20))
    /// An IPv4 frame behind an 802.1Q tag: the program reads no address, user space does.
    static let vlan = P.ethernet(0x8100, P.be16(7) + P.be16(0x0800)
        + P.ipv4(other, world, proto: 17, P.udp(1, 2)))

    /// The prefilter of a filter command line, resolved with the harness's config.
    func entries(_ arguments: [String]) throws -> [AddressPrefilter.Entry] {
        let filter = try FilterArguments.parse(arguments)
        return try #require(KernelPrefilter(filter: filter, config: Harness.seedConfig).addresses).entries
    }

    /// Runs the packet; it must pass untouched. Returns whether it was traced.
    func traced(_ h: Harness, _ packet: [UInt8], egress: Bool, _ what: String) throws -> Bool {
        let r = try h.run(packet, egress: egress)
        #expect(r.retval == ProgramTests.pass && r.output == packet, "\(what) must pass untouched")
        return r.events.contains(where: \.isTrace)
    }

    @Test("--ip: traces packets from or to the address, counts the rest; packets without a readable address are traced")
    func eitherSide() throws {
        let h = try Harness(debug: false, addressFilter: try entries(["--ip", Self.server]))
        try h.role(.lxc, endpointID: 2073, identity: 22099)
        #expect(try traced(h, udp(Self.client, Self.server), egress: false, "to the server"))
        #expect(try traced(h, udp(Self.server, Self.client, sport: 53, dport: 5300), egress: true, "from the server"))
        #expect(try !traced(h, udp(Self.client, Self.other), egress: false, "to another"))
        #expect(try !traced(h, udp(Self.client, Self.world), egress: false, "to the world"))
        #expect(try !traced(h, udp6(P.ip6Client, P.ip6Server), egress: false, "IPv6, not in the set"))
        #expect(try traced(h, Self.arp, egress: false, "ARP"))
        #expect(try traced(h, Self.vlan, egress: false, "802.1Q"))
        let c = h.program.counters()
        #expect(c.packets == 7 && c.events == 4 && c.filtered == 3, "\(c)")
    }

    @Test("--from-ip and --to-ip select one side; a /32 inside a /16 of the other side answers for both; IPv6 prefixes")
    func sides() throws {
        var source = FlowFilter(), destination = FlowFilter()
        source.sourceIP = IPPrefixSet([try #require(IPPrefix("10.244.0.0/16")), try #require(IPPrefix("fd00:10:244::/48"))])
        destination.destinationIP = IPPrefixSet([try #require(IPPrefix("198.51.100.7"))])
        let set = FlowFilterSet(whitelist: [source, destination])
        let entries = try #require(KernelPrefilter(filter: set, config: Harness.seedConfig).addresses).entries
        let h = try Harness(debug: false, addressFilter: entries)
        try h.role(.network)
        #expect(try traced(h, udp(Self.client, Self.other), egress: true, "from 10.244/16"))
        #expect(try traced(h, udp(Self.world, Self.other), egress: true, "to nowhere selected, but not from 10.244/16") == false)
        #expect(try traced(h, udp("203.0.113.1", Self.world), egress: true, "to the /32"))
        #expect(try traced(h, udp(Self.world, "203.0.113.1"), egress: true, "from the /32 (destinations only)") == false)
        #expect(try traced(h, udp6(P.ip6Client, [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]), egress: true, "IPv6 from fd00:10:244::/48"))
        #expect(try traced(h, udp6([0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1], P.ip6Client), egress: true, "IPv6 to it") == false)
        #expect(h.program.counters().filtered == 3)
    }

    @Test("conntrack sees every packet: the same entries and verdicts with and without the prefilter")
    func conntrackUnaffected() throws {
        let steps: [([UInt8], Bool)] = [
            (udp(Self.client, Self.other), false), (udp(Self.other, Self.client, sport: 53, dport: 5300), true),
            (udp(Self.client, Self.server), false), (udp(Self.client, Self.other), false),
            (P.ethernet(0x0800, P.ipv4(Self.client, Self.world, proto: 6, P.tcp(40000, 443, flags: P.tcpSYN))), false),
        ]
        func run(_ h: Harness) throws -> [(fw_ct_key, UInt64)] {
            try h.role(.lxc, endpointID: 2073, identity: 22099)
            for (packet, egress) in steps { _ = try h.run(packet, egress: egress) }
            func bytes(_ k: fw_ct_key) -> [UInt8] { withUnsafeBytes(of: k) { Array($0) } }
            return h.program.conntrackEntries().map { ($0.key, $0.entry.packets) }
                .sorted { x, y in bytes(x.0).lexicographicallyPrecedes(bytes(y.0)) }
        }
        let plain = try run(try Harness(debug: false))
        let filtered = try Harness(debug: false, addressFilter: try entries(["--ip", Self.server]))
        let withFilter = try run(filtered)
        #expect(plain.count == 3)
        #expect(plain.map { withUnsafeBytes(of: $0.0) { Array($0) } } == withFilter.map { withUnsafeBytes(of: $0.0) { Array($0) } })
        #expect(plain.map(\.1) == withFilter.map(\.1))
        #expect(filtered.program.counters().filtered == 4)
    }

    @Test("with aggregation the count is of traces that would have been sent")
    func afterAggregation() throws {
        let h = try Harness(debug: false, aggregation: .medium, addressFilter: try entries(["--to-ip", Self.server]))
        try h.role(.lxc, endpointID: 2073, identity: 22099)
        for _ in 0..<5 { _ = try traced(h, udp(Self.client, Self.other), egress: false, "from-endpoint, aggregated") }
        try h.role(.lxc, endpointID: 149, identity: 11575)
        for _ in 0..<5 { _ = try traced(h, udp(Self.client, Self.other), egress: true, "to-endpoint, new once") }
        #expect(h.program.counters().filtered == 1)
        #expect(h.program.counters().events == 0)
    }

    @Test("the prefilter keeps the verifier's work small", arguments: MonitorAggregation.allCases)
    func verifierCost(level: MonitorAggregation) throws {
        let plain = try ObserverProgram(settings: ProgramSettings(debug: false, aggregation: level)).runStatistics()
        let filtered = try ObserverProgram(settings: ProgramSettings(debug: false, aggregation: level, addressFilter: true)).runStatistics()
        print("verifier \(level): ingress \(plain.ingress.verifiedInstructions) -> \(filtered.ingress.verifiedInstructions), egress \(plain.egress.verifiedInstructions) -> \(filtered.egress.verifiedInstructions)")
        // The budget of AggregationTests.verifierCost: the prefilter may not need more.
        #expect(filtered.ingress.verifiedInstructions < 18_000 && filtered.egress.verifiedInstructions < 18_000)
    }
}
