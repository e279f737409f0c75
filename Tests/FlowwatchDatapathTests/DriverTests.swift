import CLibbpf
import FlowwatchCore
@testable import FlowwatchDatapath
import Synchronization
import Testing

/// The zero-loss bench's event source: the real program driven by BPF_PROG_TEST_RUN at a set
/// rate, its events read by the perf reader into the flow ring as a live observer does.
@Suite(.enabled(if: Privileged.enabled, Privileged.reason))
struct DriverTests {
    /// What the reader thread fills; read by the test after the thread is joined.
    final class Live: @unchecked Sendable {
        var pipeline: EventPipeline
        let ring: EventRing
        var discard: [UInt8] = []
        init(ring: EventRing) {
            self.ring = ring
            pipeline = EventPipeline(output: .none, config: Harness.seedConfig, wallClockOffset: 0, ring: ring)
        }
    }

    @Test("every driven packet's trace reaches the flow ring once, in time order, nothing lost, at a rate the reader keeps up with")
    func drivenEventsAllArrive() throws {
        let program = try ObserverProgram(settings: ProgramSettings(aggregation: .none))
        try program.load(config: Harness.seedConfig)
        try program.setDevice(ifindex: 1, role: .lxc, endpointID: 2073, identity: 22099, layer3: false)
        let live = Live(ring: try EventRing(capacity: 16_383))
        // Big perf rings: a debug-build reader on a shared machine must not be what loses.
        let reader = try PerfReader(mapFD: program.eventsFD, pages: 256, wakeupBytes: 4096,
                                    cpus: Int(libbpf_num_possible_cpus()),
                                    handler: { live.pipeline.consume($0, into: &live.discard) },
                                    batchEnd: { live.pipeline.advance(to: KernelClock.boottimeNow(), into: &live.discard) })
        let failure = Mutex<DatapathError?>(nil)
        let thread = Worker(name: "test-perf") {
            do throws(DatapathError) { try reader.run() } catch { failure.withLock { $0 = error } }
        }
        let driver = ProgramDriver(programFD: program.ingressFD, ifindex: 1)
        let packet = ProgramDriver.udpFrame(from: IPAddress("10.244.0.102")!, to: IPAddress("10.244.0.25")!,
                                            ports: (40000, 5201), payload: 64)
        let result = try driver.drive(packet, rate: 20_000, packets: 10_000)
        reader.stop()
        thread.join()
        live.pipeline.finish(into: &live.discard)
        #expect(failure.withLock { $0 } == nil)

        #expect(result.packets == 10_000 && result.seconds > 0)
        #expect(program.counters().events == 10_000 && program.counters().outputErrors == 0)
        #expect(live.pipeline.lost == 0 && reader.lostPerCPU.allSatisfy { $0 == 0 })
        #expect(live.ring.writtenTotal == 10_000)
        var ring = live.ring.reader(at: .oldest)
        var traces = 0
        var last: UInt64 = 0
        var ordered = true
        while let read = ring.next({ view -> (UInt64, Bool)? in
            guard case .trace(let trace)? = try? MonitorDecoder.decodeMessage(view.bytes).message else { return nil }
            return (view.timestamp, trace.source == 2073)
        }) {
            guard case .entry(let entry?) = read, entry.1 else { continue }
            traces += 1
            ordered = ordered && entry.0 >= last
            last = entry.0
        }
        #expect(traces == 10_000 && ordered)
    }

    @Test("a device without flowwatch's program is refused with its name and hook")
    func noProgram() {
        #expect(throws: DatapathError.self) { try ProgramDriver(device: "fw-no-such-dev", egress: false) }
        do {
            _ = try ProgramDriver(device: "lo", egress: false)
            Issue.record("the loopback device has no flowwatch program, yet a driver was made")
        } catch {
            #expect("\(error)".contains("lo ingress"))
        }
    }
}
