#if canImport(Glibc)
import Glibc
#endif

/// One open capture file: a buffer of whole records in front of a file descriptor, gzip-compressed
/// when the name ends in `.gz`.
///
/// Records enter the buffer whole (`reserve`, then `commit`) and leave it only as a whole buffer
/// (`BufferAppender`), so the file grows in steps that end at record boundaries, and there is no
/// syscall per packet. A write that fails part-way (a full disk) leaves the file cut back to the
/// end of the buffer before; the failed buffer's records are lost.
///
/// Once its header is written, a file writes behind (`startWritingBehind`): full buffers go to a
/// thread that compresses and writes them while the next fills (`WriteBehind`), and `flush` and
/// `close` wait for it. A compressed file with a size limit writes in the caller's thread: the
/// limit must know each member's compressed size before the next record goes in.
///
/// Owned by one `CaptureOutput`, one call at a time: the buffer's state goes without run-time
/// exclusivity checks.
final class CaptureFile {
    let path: String
    private var descriptor: Int32
    private let gzip: GzipMembers?
    /// Writes whole buffers to the file: from here, and then from the thread that writes behind.
    private let appender: BufferAppender
    @exclusivity(unchecked) private var buffer: UnsafeMutableRawPointer
    @exclusivity(unchecked) private var capacity: Int
    @exclusivity(unchecked) private var count = 0
    /// The file's length once what was flushed is written: always the end of a whole flush.
    /// (A compressed file that writes behind counts what it handed over uncompressed: it has no
    /// size limit to check.)
    private(set) var bytesOnDisk = 0
    /// Packets in the buffer, which reach the file with the next flush.
    @exclusivity(unchecked) private var bufferedPackets = 0
    /// Packets written from this thread (before writing behind).
    private var packetsWrittenHere = 0
    /// Set once the file writes behind; `buffer` is then its buffer.
    private var behind: WriteBehind?

    /// Packets whose bytes are in the file.
    var packetsOnDisk: Int { packetsWrittenHere + (behind?.packetsWritten ?? 0) }

    /// Big enough that the write syscall is a small cost next to the packets it carries (about
    /// 1,800 pcap or 850 pcapng records of 128-byte captures), small enough that a failed write
    /// loses little (with the buffers handed over behind it, at most four).
    static let bufferSize = 256 * 1024

    /// Creates the file with mode 0600 (captures hold payloads). Without `overwrite` an existing
    /// file is an error (O_EXCL, which also refuses to follow a planted symlink); with it the file
    /// is truncated and, if it is a regular file, its mode tightened to 0600 too.
    init(path: String, overwrite: Bool) throws(CaptureError) {
        self.path = path
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL)
        let fd = Glibc.open(path, flags, 0o600)
        guard fd >= 0 else {
            let error = SystemError.current
            throw error.code == EEXIST ? .exists(path: path) : .open(path: path, error)
        }
        var status = stat()
        if fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFREG, status.st_mode & 0o7777 != 0o600,
            fchmod(fd, 0o600) != 0
        {
            let error = SystemError.current
            Glibc.close(fd)
            throw .open(path: path, error)
        }
        do {
            gzip = path.hasSuffix(".gz") ? try GzipMembers(path: path) : nil
        } catch {
            Glibc.close(fd)
            throw error
        }
        descriptor = fd
        appender = BufferAppender(descriptor: fd, path: path, gzip: gzip)
        capacity = Self.bufferSize
        buffer = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit {
        behind?.stop(discarding: true)
        if descriptor >= 0 { Glibc.close(descriptor) }
        if behind == nil { buffer.deallocate() }
    }

    /// From now on full buffers are written by a thread of their own (see above), unless the file
    /// is compressed and `sizeLimited`. To be called with the buffer flushed.
    func startWritingBehind(sizeLimited: Bool) {
        guard behind == nil, descriptor >= 0, count == 0, gzip == nil || !sizeLimited else { return }
        let writer = WriteBehind(appender: appender, capacity: capacity)
        buffer.deallocate()
        behind = writer
        buffer = writer.buffer
        capacity = writer.capacity
    }

    /// Room for a record of `size` bytes, flushing the buffer first if the record would not fit.
    /// The caller writes exactly `size` bytes there and then calls `commit`.
    @inline(__always)
    func reserve(_ size: Int) throws(CaptureError) -> UnsafeMutableRawPointer {
        if count + size > capacity {
            try handOver()
            if size > capacity { grow(to: size) }
        }
        return buffer + count
    }

    /// Takes the record written after `reserve` into the buffer.
    @inline(__always)
    func commit(_ size: Int, packets: Int) {
        count += size
        bufferedPackets += packets
    }

    /// Appends bytes that are not a packet (file headers, interface blocks).
    func append(_ bytes: [UInt8]) throws(CaptureError) {
        let target = try reserve(bytes.count)
        bytes.withUnsafeBytes { target.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        commit(bytes.count, packets: 0)
    }

    /// Whether `size` more bytes keep the file within `limit` bytes on disk. With gzip the
    /// buffer's compressed size is unknown, so the check uses zlib's bound for it; when that bound
    /// is too big, the buffer is flushed (compressed) first and the real size decides.
    func fits(_ size: Int, within limit: Int) throws(CaptureError) -> Bool {
        guard let gzip else { return bytesOnDisk + count + size <= limit }
        if bytesOnDisk + gzip.bound(count + size) <= limit { return true }
        guard count > 0 else { return false }
        try flush()
        return bytesOnDisk + gzip.bound(size) <= limit
    }

    /// Writes the buffer to the file (as one gzip member when compressed); when writing behind,
    /// waits until it and every buffer before it are written.
    func flush() throws(CaptureError) {
        try handOver()
        guard let behind else { return }
        behind.sync()
        try checkBehind()
    }

    /// Hands the buffer over: to the thread that writes behind, without waiting for the write,
    /// or written here.
    func handOver() throws(CaptureError) {
        guard let behind else { return try write() }
        try checkBehind()
        guard count > 0 else { return }
        behind.submit(count: count, packets: bufferedPackets)
        bytesOnDisk += count
        buffer = behind.buffer
        capacity = behind.capacity
        dropBuffer()
    }

    /// Throws the failure of a write behind, once there was one; the buffer is dropped.
    private func checkBehind() throws(CaptureError) {
        guard let failure = behind?.failure else { return }
        dropBuffer()
        throw failure
    }

    /// Writes the buffer to the file in this thread.
    private func write() throws(CaptureError) {
        guard count > 0 else { return }
        defer { dropBuffer() }
        try appender.append(buffer, count: count)
        bytesOnDisk = appender.length
        packetsWrittenHere += bufferedPackets
    }

    /// Flushes and closes. close(2) errors count: NFS and some filesystems report a failed
    /// write only there.
    func close() throws(CaptureError) {
        defer { discard() }
        try flush()
        behind?.stop()
        let fd = descriptor
        descriptor = -1
        // Linux releases the descriptor even when close fails, so it is never retried.
        if Glibc.close(fd) != 0 && errno != EINTR {
            throw .write(path: path, .current)
        }
    }

    /// Closes without writing the buffer (nor those handed over and not yet written): after a
    /// failure, or when the file is abandoned.
    func discard() {
        behind?.stop(discarding: true)
        if descriptor >= 0 { Glibc.close(descriptor) }
        descriptor = -1
        dropBuffer()
    }

    private func dropBuffer() {
        count = 0
        bufferedPackets = 0
    }

    /// Makes the (empty) buffer big enough for one record larger than the usual buffer, such as
    /// a whole 64 KiB GSO packet with a long comment.
    private func grow(to size: Int) {
        if let behind {
            behind.grow(to: size)
            buffer = behind.buffer
            capacity = behind.capacity
            return
        }
        buffer.deallocate()
        capacity = size
        buffer = .allocate(byteCount: capacity, alignment: 16)
    }
}
