// `fwbench output-floor [repeat]`: what writing one trace to a perf event array costs by itself,
// without the rest of the program (bpf/bench/output_floor.bpf.c), one thing varied at a time:
// the packet bytes the kernel appends, where the time comes from, how often the reader is woken.
//
// Method: as `fwbench kernel` (BPF_PROG_TEST_RUN of ProgramBenchmark's 1448-byte data segment,
// kernel run time / run count, 7 rounds of `repeat` runs, median with min and max), with rings
// emptied unread between rounds. One line per case: `floor_NAME median_ns min_ns max_ns`.
import CFlowwatchABI
import CFlowwatchBench
import CFlowwatchLinux
import FlowwatchCore
import FlowwatchDatapath
#if canImport(Glibc)
import Glibc
#endif

struct FloorCase {
    var name: String
    var setup: fw_floor_case
}

/// No wake-up while a round runs: the rings hold a round, and the watermark is the whole ring.
let noWakeups = UInt32.max
let traceCapture = UInt32(FW_DEFAULT_CAPTURE_LEN)

func floorCase(_ name: String, empty: Bool = false, cap: UInt32 = traceCapture, stamp: Bool = true,
               sampleTime: Bool = false, clock: clockid_t = -1, wakeupBytes: UInt32 = noWakeups) -> FloorCase {
    FloorCase(name: name, setup: fw_floor_case(empty: empty ? 1 : 0, cap: cap, stamp: stamp ? 1 : 0,
                                               sample_time: sampleTime ? 1 : 0, clockid: clock, wakeup_bytes: wakeupBytes))
}

func benchOutputFloor(repeat count: UInt32) -> Bool {
    let ringBytes = UInt32(DatapathOptions().perfPages) * UInt32(sysconf(Int32(_SC_PAGESIZE)))
    let cases = [
        floorCase("empty", empty: true),
        floorCase("stamp_nocap", cap: 0),
        floorCase("stamp_cap128"),
        floorCase("notime_cap128", stamp: false),
        floorCase("sampletime_boottime_cap128", stamp: false, sampleTime: true, clock: CLOCK_BOOTTIME),
        floorCase("sampletime_monotonic_cap128", stamp: false, sampleTime: true, clock: CLOCK_MONOTONIC),
        floorCase("sampletime_perfclock_cap128", stamp: false, sampleTime: true),
        floorCase("stamp_cap128_wakeup_default", wakeupBytes: DatapathOptions.defaultWakeupBytes(ringBytes: ringBytes)),
        floorCase("stamp_cap128_wakeup_16k", wakeupBytes: 16384),
        floorCase("stamp_cap128_wakeup_each", wakeupBytes: 0),
    ]
    let packet = ProgramBenchmark.dataSegment
    let rounds = 7
    for c in cases {
        var setup = c.setup
        var ns = [Double](repeating: 0, count: rounds)
        let rc = fw_floor_run(&setup, packet, UInt32(packet.count), count, Int32(rounds), &ns)
        if rc < 0 {
            var log = [CChar](repeating: 0, count: 8192)
            let n = fw_libbpf_log_take(&log, log.count)
            complain("fwbench: output-floor \(c.name): \(errnoText(rc))\n"
                + String(decoding: log.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self))
            return false
        }
        let sorted = ns.sorted()
        let f = { (v: Double) in String(Int(v.rounded())) }
        print("floor_\(c.name) \(f(sorted[rounds / 2])) \(f(sorted[0])) \(f(sorted[rounds - 1]))")
    }
    return true
}

/// `fwbench hooks DEVICE...`: floor_empty at both hooks of every device until SIGINT or SIGTERM.
func holdEmptyHooks(devices: [String]) -> Bool {
    guard !devices.isEmpty else {
        complain("usage: fwbench hooks DEVICE...\n")
        return false
    }
    var indexes: [Int32] = []
    for device in devices {
        let index = if_nametoindex(device)
        guard index != 0 else {
            complain("fwbench: hooks: no device \(device): \(errnoText(-errno))\n")
            return false
        }
        indexes.append(Int32(index))
    }
    // Blocked before attaching, so a signal that comes early is waited for, not fatal.
    var signals = sigset_t()
    sigemptyset(&signals)
    sigaddset(&signals, SIGINT)
    sigaddset(&signals, SIGTERM)
    pthread_sigmask(SIG_BLOCK, &signals, nil)
    let rc = fw_floor_hooks(indexes, Int32(indexes.count))
    guard rc == 0 else {
        var log = [CChar](repeating: 0, count: 8192)
        let n = fw_libbpf_log_take(&log, log.count)
        complain("fwbench: hooks: \(errnoText(rc))\n"
            + String(decoding: log.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        return false
    }
    var line = Array("hooks \(indexes.count)\n".utf8)
    _ = write(STDOUT_FILENO, &line, line.count)
    var received: Int32 = 0
    sigwait(&signals, &received)
    return true
}
