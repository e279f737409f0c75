import CFlowwatchABI
import CLibbpf
import FlowwatchCore
#if canImport(Glibc)
import Glibc
#endif

/// The program's cost per packet on an established TCP connection, measured by the kernel
/// without live traffic (`make bench`, `fwbench kernel`): steadier than iperf3 on a shared
/// machine, and the same figure `flowwatch status` shows live.
///
/// Method: the program is loaded with the given aggregation level and debug off, the loopback
/// device (BPF_PROG_TEST_RUN needs a real one; nothing is attached to it) plays the server
/// pod's lxc, and a connection 10.244.0.102:40000 -> 10.244.0.25:8080 is opened with SYN,
/// SYN-ACK, ACK. Each round then runs BPF_PROG_TEST_RUN `repeat` times on a 1448-byte data
/// segment at the to-endpoint hook (established) and as often on the server's ACK at the
/// from-endpoint hook (reply): the two halves of a pod's traffic. The figure of a round is the
/// kernel's run time over its run count (BPF_ENABLE_STATS, as live), so the test-run loop is not
/// in it. Events go to perf rings large enough for a round and are read between rounds, so at
/// level none every trace is really written; the rings wake the reader as often as flowwatch's
/// do by default (`DatapathOptions.defaultWakeupBytes` of a default ring), so a trace's share
/// of wake-ups is in the figure too.
public enum ProgramBenchmark {
    public struct Result: Sendable {
        public var aggregation: MonitorAggregation
        /// ns per packet of each round.
        public var rounds: [Double]
        /// Traces the program wrote (or failed to write) per packet: 1 at none, about 0 at medium.
        public var eventsPerPacket: Double
        public var verifiedInstructions: (ingress: UInt32, egress: UInt32)

        public var median: Double { rounds.sorted()[rounds.count / 2] }
        public var spread: (min: Double, max: Double) { (rounds.min() ?? 0, rounds.max() ?? 0) }
    }

    static let loopback: UInt32 = 1

    /// Needs root (loading programs, BPF_ENABLE_STATS).
    public static func run(aggregation: MonitorAggregation, repeat count: Int32 = 20_000, rounds: Int = 7) throws(DatapathError) -> Result {
        let program = try ObserverProgram(settings: ProgramSettings(aggregation: aggregation))
        let statsFD = try ObserverProgram.enableRunTimeStatistics()
        defer { close(statsFD) }
        let client = IPAddress("10.244.0.102")!, server = IPAddress("10.244.0.25")!
        try program.load(config: NodeConfig(nodeName: "bench", endpoints: [
            .init(id: 2073, interface: nil, identity: 22099, ips: [client]),
            .init(id: 149, interface: nil, identity: 11575, ips: [server]),
        ]))
        try program.setDevice(ifindex: loopback, role: .lxc, endpointID: 149, identity: 11575, layer3: false)

        // Two records of 56 + 128 bytes (+ perf headers) per repeat must fit in a round's ring.
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        var pages = 1
        while pages * pageSize < Int(count) * 512 { pages *= 2 }
        let wakeup = DatapathOptions.defaultWakeupBytes(ringBytes: UInt32(DatapathOptions().perfPages * pageSize))
        let reader = try PerfReader(mapFD: program.eventsFD, pages: pages, wakeupBytes: wakeup,
                                    cpus: Int(libbpf_num_possible_cpus()), handler: { _ in }, batchEnd: {})

        let syn: UInt8 = 0x02, ack: UInt8 = 0x10
        func segment(fromServer: Bool, flags: UInt8, payload: Int) -> [UInt8] {
            frame(from: fromServer ? server : client, to: fromServer ? client : server,
                  ports: fromServer ? (8080, 40000) : (40000, 8080), flags: flags, payload: payload)
        }
        // The server's lxc: its egress hook is to-endpoint (the client's packets), its ingress
        // from-endpoint (the server's).
        for (packet, egress) in [(segment(fromServer: false, flags: syn, payload: 0), true),
                                 (segment(fromServer: true, flags: syn | ack, payload: 0), false),
                                 (segment(fromServer: false, flags: ack, payload: 0), true)] {
            _ = try program.testRun(packet, egress: egress, ifindex: loopback)
        }
        let data = dataSegment
        let reply = segment(fromServer: true, flags: ack, payload: 0)
        // The first of each is reported (new flags); the rounds measure what follows.
        _ = try program.testRun(data, egress: true, ifindex: loopback)
        _ = try program.testRun(reply, egress: false, ifindex: loopback)
        try reader.drain()
        let countersBefore = program.counters()

        var results: [Double] = []
        for _ in 0..<rounds {
            let before = program.runStatistics()
            _ = try program.testRun(data, egress: true, ifindex: loopback, repeat: count)
            _ = try program.testRun(reply, egress: false, ifindex: loopback, repeat: count)
            let after = program.runStatistics()
            try reader.drain()
            let runs = after.runs &- before.runs
            guard runs > 0 else { throw .runTimeStatistics(errno: ENODATA) }
            results.append(Double(after.runTimeNanoseconds &- before.runTimeNanoseconds) / Double(runs))
        }
        let counters = program.counters()
        let written = (counters.events &- countersBefore.events) &+ (counters.outputErrors &- countersBefore.outputErrors)
        let stats = program.runStatistics()
        return Result(aggregation: aggregation, rounds: results,
                      eventsPerPacket: Double(written) / Double(UInt64(rounds) * 2 * UInt64(count)),
                      verifiedInstructions: (stats.ingress.verifiedInstructions, stats.egress.verifiedInstructions))
    }

    /// The rounds' data segment, client to server: 1448 payload bytes with PSH and ACK.
    public static var dataSegment: [UInt8] {
        frame(from: IPAddress("10.244.0.102")!, to: IPAddress("10.244.0.25")!, ports: (40000, 8080), flags: 0x18, payload: 1448)
    }

    /// An Ethernet header for IPv4 between two arbitrary pod MAC addresses.
    static let ethernet: [UInt8] = [0x1e, 0xea, 0xb6, 0x69, 0x74, 0x23, 0xc6, 0xdc, 0x81, 0x06, 0xfc, 0xcb, 0x08, 0x00]

    /// Ethernet + IPv4 + TCP (20-byte header), `payload` bytes after it; checksums left zero
    /// (the program does not check them).
    static func frame(from: IPAddress, to: IPAddress, ports: (UInt16, UInt16), flags: UInt8, payload: Int) -> [UInt8] {
        let tcp: [UInt8] = be16(ports.0) + be16(ports.1) + [0, 0, 3, 232, 0, 0, 0, 1, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]
        return ethernet + ipv4Header(from: from, to: to, protocol: 6, length: 20 + tcp.count + payload) + tcp
            + [UInt8](repeating: 0xab, count: payload)
    }

    /// An IPv4 header without options (DF, TTL 64), checksum left zero; `length` is the total.
    static func ipv4Header(from: IPAddress, to: IPAddress, protocol proto: UInt8, length: Int) -> [UInt8] {
        [0x45, 0] + be16(UInt16(length)) + [0x12, 0x34, 0x40, 0, 64, proto, 0, 0]
            + Array(from.paddedBytes.prefix(4)) + Array(to.paddedBytes.prefix(4))
    }

    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }
}
