import CFlowwatchLinux
import FlowwatchCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Reads the per-CPU perf rings of the events map and hands each record on as a RawSample.
///
/// The kernel wakes the reader only when `wakeupBytes` are pending, so at high rates one wake-up
/// carries many events; the poll timeout sweeps every ring anyway, so at low rates an event waits
/// at most `sweepMilliseconds`.
final class PerfReader: @unchecked Sendable {
    typealias Handler = (RawSample) -> Void

    private var perf: OpaquePointer?
    private let handler: Handler
    private let batchEnd: () -> Void
    let sweepMilliseconds: Int32
    /// PERF_RECORD_LOST counts per CPU, written by the reader thread only.
    private(set) var lostPerCPU: [UInt64]
    /// The samples' byte arrays, filled again once the consumer has dropped a sample (after the
    /// reorder window, once it is in the flow ring): no allocation per record. Reader thread
    /// only, so not checked for exclusive access at run time (that check was a tenth of the
    /// reader's work per record).
    @exclusivity(unchecked) private var arrays = SampleArrays()
    let stopped = Atomic<Bool>(false)

    init(mapFD: Int32, pages: Int, wakeupBytes: UInt32, sweepMilliseconds: Int32 = 50, cpus: Int,
         handler: @escaping Handler, batchEnd: @escaping () -> Void) throws(DatapathError) {
        self.handler = handler
        self.batchEnd = batchEnd
        self.sweepMilliseconds = sweepMilliseconds
        self.lostPerCPU = [UInt64](repeating: 0, count: max(cpus, 1))
        let sample: fw_sample_fn = { ctx, cpu, time, data, size in
            let reader = Unmanaged<PerfReader>.fromOpaque(ctx!).takeUnretainedValue()
            let bytes = reader.arrays.take(copying: UnsafeRawBufferPointer(start: data, count: Int(size)))
            reader.handler(RawSample(cpu: UInt32(cpu), timestamp: time, kind: .event(bytes)))
        }
        let lost: fw_lost_fn = { ctx, cpu, count in
            let reader = Unmanaged<PerfReader>.fromOpaque(ctx!).takeUnretainedValue()
            if Int(cpu) < reader.lostPerCPU.count { reader.lostPerCPU[Int(cpu)] &+= count }
            reader.handler(RawSample(cpu: UInt32(cpu), timestamp: KernelClock.boottimeNow(), kind: .lost(count)))
        }
        // The reader is retained by whoever runs it; the C side borrows it.
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        guard let p = fw_perf_open(mapFD, pages, wakeupBytes, sample, lost, ctx) else {
            throw .perf(errno: errno)
        }
        perf = p
    }

    /// Records the kernel handed over that were neither samples nor lost records.
    var unknownRecords: UInt64 { perf.map { fw_perf_unknown_records($0) } ?? 0 }

    /// Reads until `stop()`; call from the thread that owns reading.
    func run() throws(DatapathError) {
        guard let perf else { return }
        while !stopped.load(ordering: .relaxed) {
            // Every wake-up and every timeout reads all rings, noting how full each had become.
            let n = fw_perf_poll(perf, sweepMilliseconds)
            if n < 0 && n != -EINTR { throw .perf(errno: -n) }
            batchEnd()
        }
        // Drain what is still in the rings so nothing read by the kernel is left unshown.
        _ = fw_perf_consume(perf)
        batchEnd()
    }

    func stop() { stopped.store(true, ordering: .relaxed) }

    /// Reads whatever the rings hold now, on the calling thread.
    func drain() throws(DatapathError) {
        guard let perf else { return }
        let rc = fw_perf_consume(perf)
        if rc < 0 { throw .perf(errno: -rc) }
    }

    /// Each CPU ring's fill now and its high-water mark since the previous call, which starts a
    /// new interval. Any thread; the reader's hot path pays two loads per ring per sweep for it.
    func usage() -> [PerfRingUsage] {
        guard let perf else { return [] }
        var rings = [fw_perf_ring_usage](repeating: fw_perf_ring_usage(), count: lostPerCPU.count)
        let n = Int(fw_perf_usage(perf, &rings, Int32(rings.count)))
        return rings.prefix(n).map {
            PerfRingUsage(cpu: Int($0.cpu), sizeBytes: $0.size, usedBytes: $0.used, peakBytes: $0.peak)
        }
    }

    deinit { fw_perf_close(perf) }
}

/// How full one CPU's perf ring is. The kernel drops a CPU's events (PERF_RECORD_LOST) when its
/// ring has no room for the next record, so a peak close to `sizeBytes` is loss about to happen.
public struct PerfRingUsage: Sendable, Equatable {
    public var cpu: Int
    /// The ring's data area.
    public var sizeBytes: UInt64
    /// Written and not yet read when asked (usually little: the reader drains every wake-up).
    public var usedBytes: UInt64
    /// The most that was waiting when the reader came to drain the ring, since the previous ask.
    public var peakBytes: UInt64

    public var peakRatio: Double { sizeBytes == 0 ? 0 : Double(peakBytes) / Double(sizeBytes) }
}
