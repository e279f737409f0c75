import CFlowwatchABI
import CFlowwatchLinux
import CLibbpf
import FlowwatchCore
#if canImport(Glibc)
import Glibc
#endif

/// Drives an observer program with BPF_PROG_TEST_RUN at a steady packet rate: a source of real
/// kernel events at rates two CPUs cannot reach with real packets (`make bench`'s zero-loss
/// rate, `fwbench drive`).
///
/// Each test run executes the loaded program on a packet as if it arrived on a device, so what
/// the program writes goes through `bpf_perf_event_output` into the perf ring of the CPU the
/// driver runs on, exactly as a packet's trace would: the reader on the other end (a flowwatch
/// process observing the device) cannot tell the difference, and loses or keeps them the same
/// way. The driver finds that process's program on the device (tcx, else tc), so it measures
/// the real binary with its real buffers.
///
/// Pacing: a test run of `batch` repeats every `batch / rate` seconds on CLOCK_MONOTONIC,
/// sleeping (not spinning) to each run's due time so the driver leaves the CPU to the reader;
/// about 10,000 runs a second, so a burst is about a tenth of a millisecond of events (a sleep
/// that ends late, by up to the timer slack of 50 µs, is made up by the next runs following at
/// once). A driver that cannot keep up runs back to back and `Result.rate` shows the rate reached.
public struct ProgramDriver: Sendable {
    /// The device whose program is driven, as the program sees it.
    public let ifindex: UInt32
    /// The program's fd: one this driver opened by id (closed by `close()`), or the caller's.
    public let programFD: Int32
    private let ownsFD: Bool

    /// Test runs per second the pacing aims at.
    static let runsPerSecond = 10_000

    /// The program flowwatch attached to `device`'s ingress (from the pod: from-endpoint on an
    /// lxc) or egress hook, in this network namespace. Needs CAP_BPF and CAP_NET_ADMIN.
    public init(device: String, egress: Bool) throws(DatapathError) {
        let hook = egress ? "egress" : "ingress"
        let index = if_nametoindex(device)
        guard index != 0 else { throw .attach(device: device, hook: hook, errno: errno) }
        var ids = [UInt32](repeating: 0, count: 8)
        var count = Int(fw_tcx_query(Int32(index), egress ? 1 : 0, &ids, UInt32(ids.count)))
        if count <= 0 {
            // libbpf's complaint about a device without clsact goes to its captured log, not stderr.
            fw_libbpf_log_capture()
            count = Int(fw_tc_query(Int32(index), egress ? 1 : 0, &ids))
        }
        let wanted = egress ? FW_PROG_EGRESS : FW_PROG_INGRESS
        for id in ids.prefix(max(count, 0)) {
            let fd = bpf_prog_get_fd_by_id(id)
            guard fd >= 0 else { continue }
            if Self.name(fd) == wanted {
                self.init(programFD: fd, ifindex: index, ownsFD: true)
                return
            }
            Glibc.close(fd)
        }
        throw .attach(device: device, hook: "\(hook): no flowwatch program attached", errno: ENOENT)
    }

    /// A program this process loaded (`ObserverProgram.ingressFD`), as if on device `ifindex`.
    public init(programFD: Int32, ifindex: UInt32) {
        self.init(programFD: programFD, ifindex: ifindex, ownsFD: false)
    }

    private init(programFD: Int32, ifindex: UInt32, ownsFD: Bool) {
        self.programFD = programFD
        self.ifindex = ifindex
        self.ownsFD = ownsFD
    }

    /// Closes the program fd if this driver opened it.
    public func close() {
        if ownsFD { Glibc.close(programFD) }
    }

    private static func name(_ fd: Int32) -> String {
        var info = bpf_prog_info()
        var length = UInt32(MemoryLayout<bpf_prog_info>.size)
        guard bpf_obj_get_info_by_fd(fd, &info, &length) == 0 else { return "" }
        return withUnsafeBytes(of: info.name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// What a drive did.
    public struct Result: Sendable {
        /// Packets run through the program.
        public var packets: UInt64
        /// From the first test run to the end of the last.
        public var seconds: Double
        public var rate: Double { seconds > 0 ? Double(packets) / seconds : 0 }
    }

    /// Runs `packet` (an Ethernet frame) through the program `rate` times a second until
    /// `packets` have run.
    public func drive(_ packet: [UInt8], rate: Int, packets total: UInt64) throws(DatapathError) -> Result {
        precondition(rate > 0, "a drive needs a positive rate")
        let batch = UInt64(max(1, rate / Self.runsPerSecond))
        let start = Self.now()
        var done: UInt64 = 0
        while done < total {
            let due = start &+ done &* 1_000_000_000 / UInt64(rate)
            if Self.now() < due {
                var time = timespec(tv_sec: Int(due / 1_000_000_000), tv_nsec: Int(due % 1_000_000_000))
                while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &time, nil) == EINTR {}
            }
            let n = min(batch, total - done)
            try ObserverProgram.testRun(programFD: programFD, packet, ifindex: ifindex, repeat: Int32(n))
            done += n
        }
        return Result(packets: done, seconds: Double(Self.now() &- start) / 1e9)
    }

    private static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
    }

    /// A UDP datagram with `payload` bytes in an Ethernet frame, checksums left zero (the
    /// program does not check them): what iperf3's small-packet flood sends.
    public static func udpFrame(from: IPAddress, to: IPAddress, ports: (UInt16, UInt16), payload: Int) -> [UInt8] {
        let be16 = ProgramBenchmark.be16
        let udp: [UInt8] = be16(ports.0) + be16(ports.1) + be16(UInt16(8 + payload)) + [0, 0]
        return ProgramBenchmark.ethernet
            + ProgramBenchmark.ipv4Header(from: from, to: to, protocol: 17, length: 20 + udp.count + payload)
            + udp + [UInt8](repeating: 0xab, count: payload)
    }
}
