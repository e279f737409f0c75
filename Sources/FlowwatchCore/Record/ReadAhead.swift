#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Reads a recording ahead of its decoder, on a thread of its own, and checks its records there.
///
/// Replaying a recording to a pcap file spent about a sixth of its time reading the file (the
/// copy out of the page cache) and computing each record's two checksums. This thread does
/// both on another CPU while the decoder works on the chunk before. Chunks go through a ring
/// of `slots` buffers (`SlotRing`): the thread fills one while the decoder holds another, so it
/// is at most `slots - 1` chunks ahead and memory stays at `slots` chunks whatever the file's
/// size.
///
/// A chunk ends where a record does: the thread walks the records with the decoder's own
/// checks (`RecordingDecoder.wholeRecords`) and carries a record the read cut to the front of
/// the next chunk. So the decoder takes each buffer as it is (`RecordingDecoder.adopt`), walks
/// the same records from the same boundary, and computes no checksum the thread has already
/// matched. What the thread does not vouch for is checked by the decoder as before: a bad
/// record ends the read-ahead, and the decoder, reaching it, throws the error it always did,
/// after every record before it. The end of the file and a failed read are handed over after
/// the bytes read before them, so the decoder sees a cut tail, or the reader throws, in the
/// same place as when it read the file itself.
///
/// The thread owns the file descriptor from then on and closes it when it is done and the
/// reader has let go. It is detached: a reader dropped early (a selection that is complete)
/// wakes it and does not wait for it, which matters for a pipe whose writer is still open.
final class ReadAhead: @unchecked Sendable {
    /// What one read gave.
    struct Chunk {
        let buffer: InputBuffer
        /// Bytes to decode: whole records; at the end, at a bad record or at a read error,
        /// everything read.
        let count: Int
        /// Bytes at the start that are whole records which passed every check.
        let checked: Int
        /// No chunk follows: the file ended (or a bad record ended the read-ahead).
        let end: Bool
        /// The errno of a read that failed after these bytes.
        let readError: Int32?
    }

    static let defaultSlots = 4

    private let fd: Int32
    private let chunkSize: Int
    /// One buffer per slot, filled only by the thread, between claiming and publishing its slot.
    private let buffers: [InputBuffer]
    /// The thread fills the slots, the reader empties them.
    private let ring: SlotRing<Chunk>
    private let cancelled = Atomic<Bool>(false)
    /// Reader side: whether the slot before the last one taken is still held.
    private var holding = false

    /// Starts reading `fd` where it stands; `carry`, the bytes read before that which the
    /// decoder has not consumed (the start of a record), come first.
    init(fd: Int32, carry: [UInt8], chunkSize: Int, slots: Int = ReadAhead.defaultSlots) {
        precondition(slots >= 2, "the read-ahead needs a slot to fill and one to decode")
        self.fd = fd
        self.chunkSize = max(chunkSize, 1)
        buffers = (0..<slots).map { _ in InputBuffer(capacity: max(chunkSize, 1) + carry.count) }
        ring = SlotRing(count: slots)
        Worker(name: "fw-readahead") { [self] in run(carry: carry) }.detach()
    }

    deinit {
        _ = close(fd)
    }

    // MARK: Reader side (one thread)

    /// The next chunk, waiting for the thread to read it. After a chunk with `end` or a
    /// `readError`, there is none: not to be called again.
    func take() -> Chunk {
        ring.take().item
    }

    /// Gives the slot of the chunk before the last one taken back to the thread: to be called
    /// once the decoder has let go of its buffer (after `adopt` of the next one).
    func giveBack() {
        if holding { ring.free() }
        holding = true
    }

    /// Stops the thread at its next chunk; it does not wait for it.
    func cancel() {
        cancelled.store(true, ordering: .relaxed)
        ring.free()
    }

    // MARK: The thread

    private func run(carry initial: [UInt8]) {
        var carry: (buffer: InputBuffer, range: Range<Int>)?
        while true {
            let slot = ring.claim()
            if cancelled.load(ordering: .relaxed) { return }
            let buffer = buffers[slot]
            var filled: Int
            if let (previous, range) = carry {
                filled = range.count
                if buffer.capacity < filled + chunkSize { buffer.grow(to: filled + chunkSize, keeping: 0) }
                // The reader decodes `previous` up to `range.lowerBound` only: these bytes are the thread's.
                buffer.base.copyMemory(from: previous.base + range.lowerBound, byteCount: filled)
            } else {
                filled = initial.count
                initial.withUnsafeBytes { buffer.base.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            }
            while true {
                let n = Glibc.read(fd, buffer.base + filled, buffer.capacity - filled)
                let readError: Int32? = n < 0 ? errno : nil
                if readError == EINTR { continue }
                if n > 0 { filled += n }
                let (whole, failed) = RecordingDecoder.wholeRecords(in: buffer.bytes(0..<filled))
                if n <= 0 || failed {
                    ring.publish(Chunk(buffer: buffer, count: filled, checked: whole, end: readError == nil,
                                       readError: readError), in: slot)
                    return
                }
                if whole > 0 {
                    ring.publish(Chunk(buffer: buffer, count: whole, checked: whole, end: false, readError: nil), in: slot)
                    carry = (buffer, whole..<filled)
                    break
                }
                // Not one whole record yet: a record larger than what was read.
                if filled == buffer.capacity { buffer.grow(to: 2 * buffer.capacity, keeping: filled) }
            }
        }
    }
}
