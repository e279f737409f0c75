// fwbench: the micro-benchmarks of `make bench` that Hubble publishes figures for (ring write
// and read, flow filters), on flows from a real recording; the served stream's rate; and the
// program's own cost per packet, measured by the kernel.
//
//   fwbench RECORDING [iterations]
//   fwbench serve RECORDING [runs]     (ServeBench.swift)
//   fwbench kernel [repeat]            (root)
//   fwbench output-floor [repeat]      (root; OutputFloor.swift)
//   fwbench drive DEVICE RATE PACKETS  (root, in the node's network namespace)
//   fwbench hooks DEVICE...            (root, in the node's network namespace; OutputFloor.swift)
//
// Method: each figure is the best of 5 timed loops of `iterations` operations (default 5M),
// CLOCK_MONOTONIC around the loop, divided by the count; results feed a checksum that is
// printed, so the optimizer cannot drop the work. One line per figure: `name ns_per_op`.
// `kernel`: FlowwatchDatapath ProgramBenchmark at --aggregation medium and none (BPF_PROG_TEST_RUN
// on an established TCP connection, kernel run time / run count over 7 rounds of `repeat` runs
// of each of two packets, default 20000); one line per level:
// `kernel_LEVEL median_ns min_ns max_ns events_per_packet verified_insns_ingress verified_insns_egress`.
// `drive`: FlowwatchDatapath ProgramDriver: PACKETS test runs at RATE packets/s of a 64-byte UDP
// datagram from the client pod to the server pod (as the bench's iperf3 flood) through the
// ingress program a flowwatch process attached to DEVICE (the client pod's lxc); one line:
// `drive packets seconds packets_per_second`.
// `hooks`: a program that does nothing, attached at the tcx ingress and egress hooks of each
// DEVICE until SIGINT or SIGTERM: the baseline of what observing those devices costs traffic
// before flowwatch's program does any work. Prints `hooks N` once attached to N devices.
import FlowwatchCore
import FlowwatchDatapath
#if canImport(Glibc)
import Glibc
#endif

func complain(_ text: String) {
    var bytes = Array(text.utf8)
    _ = write(STDERR_FILENO, &bytes, bytes.count)
}

func now() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Best of 5 runs of `body(iterations)`, in ns per operation.
func best(_ iterations: Int, _ body: (Int) -> Int) -> (Double, Int) {
    var fastest = Double.infinity
    var sum = 0
    for _ in 0..<5 {
        let start = now()
        sum &+= body(iterations)
        fastest = min(fastest, Double(now() - start) / Double(iterations))
    }
    return (fastest, sum)
}

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    complain("usage: fwbench RECORDING [iterations] | fwbench serve RECORDING [runs] | fwbench kernel [repeat] | fwbench output-floor [repeat] | fwbench drive DEVICE RATE PACKETS | fwbench hooks DEVICE...\n")
    exit(2)
}
if arguments[1] == "serve", arguments.count >= 3 {
    do {
        try await benchServe(path: arguments[2], runs: arguments.count > 3 ? max(1, Int(arguments[3]) ?? 5) : 5)
    } catch {
        complain("fwbench: \(error)\n")
        exit(1)
    }
    exit(0)
}
if arguments[1] == "kernel" {
    let count = arguments.count > 2 ? Int32(arguments[2]) ?? 20_000 : 20_000
    for level in [MonitorAggregation.medium, .none] {
        do {
            let r = try ProgramBenchmark.run(aggregation: level, repeat: count)
            let f = { (v: Double) in String(Int(v.rounded())) }
            print("kernel_\(level) \(f(r.median)) \(f(r.spread.min)) \(f(r.spread.max)) \(r.eventsPerPacket) "
                + "\(r.verifiedInstructions.ingress) \(r.verifiedInstructions.egress)")
        } catch {
            complain("fwbench: kernel, --aggregation \(level): \(error)\n")
            exit(1)
        }
    }
    exit(0)
}
if arguments[1] == "output-floor" {
    exit(benchOutputFloor(repeat: arguments.count > 2 ? UInt32(arguments[2]) ?? 20_000 : 20_000) ? 0 : 1)
}
if arguments[1] == "hooks" {
    exit(holdEmptyHooks(devices: Array(arguments.dropFirst(2))) ? 0 : 1)
}
if arguments[1] == "drive" {
    guard arguments.count == 5, let rate = Int(arguments[3]), rate > 0, let packets = UInt64(arguments[4]) else {
        complain("usage: fwbench drive DEVICE RATE PACKETS (RATE packets/s > 0)\n")
        exit(2)
    }
    do {
        let driver = try ProgramDriver(device: arguments[2], egress: false)
        defer { driver.close() }
        let packet = ProgramDriver.udpFrame(from: IPAddress("10.244.0.102")!, to: IPAddress("10.244.0.25")!,
                                            ports: (40000, 5201), payload: 64)
        let r = try driver.drive(packet, rate: rate, packets: packets)
        print("drive \(r.packets) \(r.seconds) \(Int(r.rate.rounded()))")
    } catch {
        complain("fwbench: drive \(arguments[2]): \(error)\n")
        exit(1)
    }
    exit(0)
}
let iterations = arguments.count > 2 ? Int(arguments[2]) ?? 5_000_000 : 5_000_000

let reader: RecordingReader
do { reader = try RecordingReader(path: arguments[1]) } catch {
    complain("fwbench: \(error)\n")
    exit(2)
}
var samples: [RawSample] = []
while let s = try reader.next() { samples.append(s) }
let config = try reader.header.config() ?? NodeConfig(nodeName: reader.header.nodeName)
let builder = FlowBuilder(config: config, wallClockOffset: reader.header.wallClockOffset)
var stream = MonitorEventStream()
// A TCP trace: Hubble's L34 benchmark input is one too.
var sample: RawSample?
var flow: Flow?
for s in samples {
    guard let e = stream.decode(s), case .flow(let f) = builder.build(e), case .tcp = f.l4 else { continue }
    sample = s
    flow = f
    break
}
guard let sample, let flow, case .event(let sampleBytes) = sample.kind else {
    complain("fwbench: \(arguments[1]) holds no TCP flow\n")
    exit(2)
}
var checksum = 0

// Ring write: Hubble's BenchmarkRingWrite (one writer, no reader).
let ring = try EventRing(capacity: 65_535)
let (writeNs, w) = best(iterations) { n in
    sampleBytes.withUnsafeBytes { bytes in
        for i in 0..<n { ring.write(cpu: 0, timestamp: UInt64(i), bytes: bytes) }
    }
    return Int(ring.writtenTotal)
}
checksum &+= w
print("ring_write \(writeNs)")

// Ring read: Hubble's BenchmarkRingRead (a full ring read back), through the borrowed view
// (the sample's bytes are copied out of the slot, as every read must).
let (readNs, r) = best(iterations) { n in
    var left = n
    var sum = 0
    while left > 0 {
        var reader = ring.reader(at: .oldest)
        while left > 0, let e = reader.next({ $0.bytes.count }) {
            if case .entry(let c) = e { sum &+= c }
            left -= 1
        }
    }
    return sum
}
checksum &+= r
print("ring_read \(readNs)")

// Filters on one flow: Hubble's EmptyFlowFilter and BasicL4ProtocolPortFlowFilterMatching.
let empty = FlowFilterSet()
let port = flow.l4?.ports?.destination ?? 0
let l4 = try FilterArguments.parse(["--protocol", "tcp", "--port", "\(port)"])
let (emptyFilter, e) = best(iterations) { n in
    var hits = 0
    for _ in 0..<n where empty.matches(flow) { hits += 1 }
    return hits
}
let (l4Filter, l) = best(iterations) { n in
    var hits = 0
    for _ in 0..<n where l4.matches(flow) { hits += 1 }
    return hits
}
checksum &+= e &+ l
guard l4.matches(flow) else {
    complain("fwbench: the L4 filter does not match its own flow\n")
    exit(1)
}
print("filter_empty \(emptyFilter)")
print("filter_l4 \(l4Filter)")
print("checksum \(checksum)")
