#if canImport(Glibc)
import Glibc
#endif
import class FlowwatchCore.SlotRing
import class FlowwatchCore.Worker
import Synchronization

/// Writes a capture file's full buffers on a thread of its own, while the caller fills the next.
///
/// Replaying a recording to pcapng spent over a third of its time in write(2), copying some
/// 60 MB into the page cache, and a gzip file most of its time compressing: a thread on another
/// CPU does both now. Buffers go through a ring of `slots` (`SlotRing`): the caller fills one
/// while the thread writes the ones before it (each as one gzip member when compressed), in
/// order, so the file still grows in steps of whole buffers (whole records), and memory stays at
/// `slots` buffers.
///
/// The thread runs at nice 10: a file's writes can wait while the threads that read (a perf
/// ring that must be drained in time, a recording's read-ahead) need the CPUs, and catch up when
/// they do not; four buffers behind, the caller waits for it. Replaying a debug recording, whose
/// read-ahead keeps a CPU busy checking records, pcap took 6% longer with the thread at nice 0
/// than written in the caller's thread. At nice 10, once a replay wrote fewer new pages, every
/// case gained: pcap 14% (debug recording) and 9% (plain), pcapng 15% and 13%.
///
/// A write that fails is handled as `CaptureFile` handles it: the file is cut back to the end of
/// the last buffer written whole, and nothing more is written. The caller learns of it at its
/// next `submit` or `sync` (the buffers handed over meanwhile are lost with the failed one);
/// `sync` waits until every buffer handed over is written, which is what an explicit flush
/// promises. The caller owns the descriptor; the thread only writes to it, and is joined by
/// `stop`.
final class WriteBehind: @unchecked Sendable {
    /// What the thread does with a slot.
    private enum Job {
        case write(count: Int, packets: Int)
        case stop
    }

    /// The file, the thread's from now on.
    private let appender: BufferAppender
    private let ring: SlotRing<Job>
    /// One buffer per slot: the caller's between claiming and publishing its slot, the
    /// thread's until it frees it.
    private var buffers: [UnsafeMutableRawPointer]
    private var capacities: [Int]
    private var worker: Worker?
    /// The caller's slot, whose buffer it fills.
    private var filling: Int
    /// Set once a write (or a compression) has failed, after `failureValue`.
    private let failed = Atomic<Bool>(false)
    private var failureValue: CaptureError?
    /// Set by `stop(discarding:)`: buffers still queued are not written.
    private let discarding = Atomic<Bool>(false)
    /// Packets in the file, counted as their buffers are written.
    private let packets = Atomic<Int>(0)

    /// Starts the thread for the file `appender` writes, with `slots` buffers of `capacity` bytes.
    init(appender: BufferAppender, capacity: Int, slots: Int = 4) {
        precondition(slots >= 2, "writing behind needs a buffer to fill and one to write")
        self.appender = appender
        buffers = (0..<slots).map { _ in .allocate(byteCount: capacity, alignment: 16) }
        capacities = Array(repeating: capacity, count: slots)
        ring = SlotRing(count: slots)
        filling = ring.claim()
        worker = Worker(name: "fw-writebehind", nice: 10) { [self] in run() }
    }

    deinit {
        for buffer in buffers { buffer.deallocate() }
    }

    // MARK: The caller's side (one thread)

    /// The buffer to fill next.
    var buffer: UnsafeMutableRawPointer { buffers[filling] }
    var capacity: Int { capacities[filling] }

    /// Packets in buffers written whole so far.
    var packetsWritten: Int { packets.load(ordering: .relaxed) }

    /// Why writing stopped, once a write or a compression has failed.
    var failure: CaptureError? {
        failed.load(ordering: .acquiring) ? failureValue : nil
    }

    /// Hands the first `count` bytes of `buffer` (holding `packets` packets) to the thread and
    /// waits for the next buffer to be free.
    func submit(count: Int, packets: Int) {
        ring.publish(.write(count: count, packets: packets), in: filling)
        filling = ring.claim()
    }

    /// Makes `buffer`, empty, at least `size` bytes: for a record larger than a buffer.
    func grow(to size: Int) {
        buffers[filling].deallocate()
        buffers[filling] = .allocate(byteCount: size, alignment: 16)
        capacities[filling] = size
    }

    /// Waits until every buffer handed over is written (or dropped after a failure).
    func sync() {
        ring.drain(holding: 1)
    }

    /// Ends the thread once it has written what was handed over, or without writing it when
    /// `discarding`; waits for it.
    func stop(discarding: Bool = false) {
        guard let worker else { return }
        self.worker = nil
        if discarding { self.discarding.store(true, ordering: .relaxed) }
        ring.publish(.stop, in: filling)
        worker.join()
    }

    // MARK: The thread

    private func run() {
        while true {
            let (slot, job) = ring.take()
            guard case .write(let count, let packets) = job else { return }
            if !failed.load(ordering: .relaxed) && !discarding.load(ordering: .relaxed) {
                write(buffers[slot], count: count, packets: packets)
            }
            ring.free()
        }
    }

    private func fail(_ error: CaptureError) {
        failureValue = error
        failed.store(true, ordering: .releasing)
    }

    /// One buffer, whole (one gzip member when compressed), or none: see `BufferAppender`.
    private func write(_ buffer: UnsafeMutableRawPointer, count: Int, packets: Int) {
        do throws(CaptureError) {
            try appender.append(buffer, count: count)
            self.packets.add(packets, ordering: .relaxed)
        } catch {
            fail(error)
        }
    }
}
