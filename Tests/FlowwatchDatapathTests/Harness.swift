import CFlowwatchABI
import CLibbpf
import FlowwatchCore
@testable import FlowwatchDatapath
import Foundation
import Testing

/// Privileged tests load the real program. They run where flowwatch can observe; under CI=true
/// they always run, so missing privileges there fail instead of skipping.
enum Privileged {
    static let inCI = ProcessInfo.processInfo.environment["CI"] == "true"
    static var enabled: Bool { Privileges.canObserve || inCI }
    static var reason: Comment {
        "needs root or \(Privileges.missing().joined(separator: ", ")) to load BPF programs; skipped outside CI"
    }
}

/// One message the program wrote, read back through the ABI structs (independent of the
/// Swift decoder, which has its own tests).
enum Emitted: Equatable, CustomStringConvertible {
    case debug(type: UInt8, source: UInt16, arg1: UInt32, arg2: UInt32, arg3: UInt32)
    case trace(point: UInt8, source: UInt16, srcLabel: UInt32, dstLabel: UInt32, dstID: UInt16, reason: UInt8,
               flags: UInt8, ifindex: UInt32, lenOrig: UInt32, lenCap: UInt16, packet: [UInt8])

    static func parse(_ bytes: [UInt8]) -> Emitted? {
        bytes.withUnsafeBytes { raw -> Emitted? in
            guard raw.count >= MemoryLayout<fw_debug_msg>.size else { return nil }
            switch raw[0] {
            case UInt8(FW_NOTIFY_DBG_MSG.rawValue):
                let m = raw.loadUnaligned(as: fw_debug_msg.self)
                return .debug(type: m.common.subtype, source: m.common.source, arg1: m.arg1, arg2: m.arg2, arg3: m.arg3)
            case UInt8(FW_NOTIFY_TRACE.rawValue):
                let size = MemoryLayout<fw_trace_notify>.size
                guard raw.count >= size else { return nil }
                let t = raw.loadUnaligned(as: fw_trace_notify.self)
                let cap = Int(t.hdr.len_cap)
                guard raw.count >= size + cap else { return nil }
                return .trace(point: t.hdr.common.subtype, source: t.hdr.common.source, srcLabel: t.src_label,
                              dstLabel: t.dst_label, dstID: t.dst_id, reason: t.reason, flags: t.flags,
                              ifindex: t.ifindex, lenOrig: t.hdr.len_orig, lenCap: t.hdr.len_cap,
                              packet: Array(raw[size..<size + cap]))
            default:
                return nil
            }
        }
    }

    var debugType: UInt8? { if case .debug(let t, _, _, _, _) = self { return t } else { return nil } }
    var isTrace: Bool { if case .trace = self { return true } else { return false } }

    var description: String {
        switch self {
        case .debug(let t, let s, let a1, let a2, let a3): return "debug(\(t)) from \(s): \(a1) \(a2) \(a3)"
        case .trace(let p, let s, let sl, let dl, let di, let r, _, _, let lo, let lc, _):
            return "trace(\(p)) from \(s): \(sl)->\(dl) to \(di) reason \(r) \(lo)/\(lc)"
        }
    }
}

/// A loaded program with its perf rings open, fed packets through BPF_PROG_TEST_RUN.
final class Harness: @unchecked Sendable {
    let program: ObserverProgram
    private var reader: PerfReader!
    private var collected: [RawSample] = []
    /// Tests run on the loopback device's index: BPF_PROG_TEST_RUN accepts only existing devices.
    let ifindex: UInt32 = 1

    init(debug: Bool = true, captureLength: UInt32 = 128, aggregation: MonitorAggregation = .none,
         aggregationInterval: UInt32 = ProgramSettings.defaultAggregationInterval, config: NodeConfig = Harness.seedConfig,
         addressFilter: [AddressPrefilter.Entry]? = nil) throws {
        program = try ObserverProgram(settings: ProgramSettings(captureLength: captureLength, debug: debug, aggregation: aggregation,
                                                                aggregationInterval: aggregationInterval,
                                                                addressFilter: addressFilter != nil))
        try program.load(config: config)
        if let addressFilter { try program.setAddressFilter(addressFilter) }
        reader = try PerfReader(mapFD: program.eventsFD, pages: 8, wakeupBytes: 0, cpus: Int(libbpf_num_possible_cpus()),
                                handler: { [unowned self] in self.collected.append($0) }, batchEnd: {})
    }

    /// Seed 003's endpoints: client 2073 (22099) and server 149 (11575).
    static let seedConfig = NodeConfig(
        nodeName: "test", hostEndpointID: 3000,
        endpoints: [
            .init(id: 2073, interface: "lxcclient", identity: 22099, ips: [IPAddress("10.244.0.102")!, IPAddress("fd00:10:244::66")!]),
            .init(id: 149, interface: "lxcserver", identity: 11575, ips: [IPAddress("10.244.0.25")!, IPAddress("fd00:10:244::19")!]),
        ],
        prefixes: [.init(prefix: IPPrefix("10.244.0.1/32")!, identity: 1), .init(prefix: IPPrefix("10.244.2.0/24")!, identity: 17840)])

    /// The conntrack clock now: seconds of CLOCK_MONOTONIC (bpf/conntrack.h fw_mono_now).
    static func conntrackNow() -> UInt32 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt32(ts.tv_sec)
    }

    func role(_ role: DeviceRole, endpointID: UInt16 = 0, identity: UInt32 = 0) throws {
        try program.setDevice(ifindex: ifindex, role: role, endpointID: endpointID, identity: identity, layer3: false)
    }

    struct Result {
        var retval: Int32
        var output: [UInt8]
        var events: [Emitted]
        var lost: UInt64
    }

    /// Runs one packet through the ingress or egress program and returns what it wrote.
    func run(_ packet: [UInt8], egress: Bool) throws -> Result {
        let (retval, output) = try runUnread(packet, egress: egress)
        var events: [Emitted] = []
        var lost: UInt64 = 0
        for s in try read() {
            switch s.kind {
            case .event(let bytes):
                guard let e = Emitted.parse(bytes) else { Issue.record("undecodable message \(bytes.prefix(16))"); continue }
                events.append(e)
            case .lost(let n):
                lost += n
            }
        }
        return Result(retval: retval, output: output, events: events, lost: lost)
    }

    /// Everything the perf rings hold now.
    func read() throws -> [RawSample] {
        collected.removeAll()
        try reader.drain()
        return collected
    }

    /// The perf rings' fill and high-water marks (and a new interval).
    func perfUsage() -> [PerfRingUsage] { reader.usage() }

    /// Runs one packet and leaves what it wrote in the perf ring of the CPU it ran on.
    func runUnread(_ packet: [UInt8], egress: Bool) throws -> (retval: Int32, output: [UInt8]) {
        let run = try program.testRun(packet, egress: egress, ifindex: ifindex)
        return (run.retval, run.output)
    }
}
