#if canImport(Glibc)
import Glibc
#endif

/// Writes raw perf samples to a recording file as they arrive (`--record`, `record -w`).
///
/// Records are collected in memory and written with one `write(2)` per `bufferSize` bytes: at
/// capture rates a syscall per event would cost more than the capture. The file on disk is always
/// the header followed by whole records plus, at worst, one partly written record that the reader
/// reports as a cut tail, so a killed recorder leaves a recording that replays.
///
/// A write error is never swallowed: the call that hit it throws (naming the file, the errno and
/// how many records the file keeps), the writer cuts the file back to its last whole record where
/// the file allows it, and every later `append` throws too, so the caller cannot lose records
/// without being told. The owner is one thread; call `close()` to learn of the last errors
/// (deinit only flushes on a best-effort basis).
public final class RecordingWriter {
    /// The file, as given: every error names it.
    public let path: String
    public let header: RecordingHeader
    /// Records that are in the file.
    public private(set) var recordsWritten: UInt64 = 0
    /// Records appended that will never be in the file: lost to a write error, refused after one,
    /// or too large to record. Each of them was reported by a thrown error.
    public private(set) var recordsNotWritten: UInt64 = 0

    private enum State: Equatable {
        case open
        case failed(errno: Int32)
        case closed
    }

    private let fd: Int32
    private var state = State.open
    private var buffer: [UInt8] = []
    private var recordsBuffered: UInt64 = 0
    /// Bytes in the file, where a failed write cuts back to.
    private var fileLength = 0
    private let bufferSize: Int

    /// Creates the file (mode 0600: recordings hold packet bytes and the node's config) and
    /// writes the header right away, so even a recorder killed at once leaves a readable file.
    ///
    /// An existing file is an error unless `overwrite` is true; an overwritten regular file is
    /// emptied and restricted to mode 0600 first. Devices and FIFOs are written as they are.
    public init(path: String, header: RecordingHeader, overwrite: Bool = false,
                bufferSize: Int = 64 << 10) throws(RecordingFileError) {
        self.path = path
        self.header = header
        self.bufferSize = max(bufferSize, 1)
        let fields = RecordingFormat.encodeFields(header)
        guard fields.count <= RecordingFormat.maxFieldsLength else {
            throw RecordingFileError(path: path, problem: .headerTooLarge(bytes: fields.count))
        }
        fd = try Self.open(path, overwrite: overwrite)
        buffer.reserveCapacity(self.bufferSize + RecordingFormat.recordHeaderSize + RecordingFormat.recordTrailerSize)
        buffer += RecordingFormat.encodeHeader(fields: fields)
        do throws(RecordingFileError) {
            try writeBuffer()
        } catch {
            // failWrite has cut a partial header back to an empty file where it could.
            _ = Glibc.close(fd)
            state = .closed
            throw error
        }
    }

    deinit {
        guard state != .closed else { return }
        if state == .open { try? writeBuffer() }
        _ = Glibc.close(fd)
    }

    /// Adds one sample to the recording; it reaches the file with the next full buffer, `flush()`
    /// or `close()`.
    public func append(_ sample: RawSample) throws(RecordingFileError) {
        guard state == .open else {
            recordsNotWritten += 1
            throw stateError()
        }
        if case .event(let bytes) = sample.kind, bytes.count > RecordingFormat.maxPayloadLength {
            recordsNotWritten += 1
            throw RecordingFileError(path: path, problem: .sampleTooLarge(bytes: bytes.count))
        }
        RecordingFormat.appendRecord(sample, to: &buffer)
        recordsBuffered += 1
        if buffer.count >= bufferSize { try writeBuffer() }
    }

    /// Records the name of a device (at most 15 bytes of it, as the kernel allows) from
    /// `timestamp` on; replay names the ifindex in events that follow.
    public func appendInterface(ifindex: UInt32, name: String, timestamp: UInt64) throws(RecordingFileError) {
        guard state == .open else { throw stateError() }
        guard !name.isEmpty else { return }
        RecordingFormat.appendInterface(ifindex: ifindex, name: name, timestamp: timestamp, to: &buffer)
        if buffer.count >= bufferSize { try writeBuffer() }
    }

    /// Writes what is buffered, so a reader of the file sees every record appended so far.
    public func flush() throws(RecordingFileError) {
        guard state == .open else { throw stateError() }
        try writeBuffer()
    }

    /// Writes what is buffered, optionally `fsync`s, and closes the file. After a write error it
    /// only releases the file: that error has been thrown already. Closing twice does nothing.
    public func close(sync: Bool = false) throws(RecordingFileError) {
        guard state != .closed else { return }
        var firstError: RecordingFileError?
        if state == .open {
            do throws(RecordingFileError) { try writeBuffer() } catch { firstError = error }
            // EINVAL: a device or pipe has nothing to sync.
            if sync, firstError == nil, fsync(fd) != 0, errno != EINVAL {
                firstError = RecordingFileError(path: path, problem: .system(operation: "fsync", errno: errno))
            }
        }
        // Linux releases the descriptor even when close fails, so it is not retried.
        if Glibc.close(fd) != 0, firstError == nil, state == .open {
            firstError = RecordingFileError(path: path, problem: .system(operation: "close", errno: errno))
        }
        state = .closed
        if let firstError { throw firstError }
    }

    private func stateError() -> RecordingFileError {
        switch state {
        case .failed(let code): RecordingFileError(path: path, problem: .stopped(errno: code))
        case .open, .closed: RecordingFileError(path: path, problem: .closed)
        }
    }

    private func writeBuffer() throws(RecordingFileError) {
        var done = 0
        while done < buffer.count {
            let n = buffer.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return write(fd, base + done, raw.count - done)
            }
            if n > 0 {
                done += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                // A write of 0 bytes to a file means it cannot take more, as ENOSPC does.
                throw failWrite(errno: n < 0 ? errno : ENOSPC, written: done)
            }
        }
        fileLength += done
        recordsWritten += recordsBuffered
        recordsBuffered = 0
        buffer.removeAll(keepingCapacity: true)
    }

    /// Accounts for a failed write of the buffer, of which `written` bytes reached the file, and
    /// stops the writer.
    private func failWrite(errno code: Int32, written: Int) -> RecordingFileError {
        // Records are self-delimiting: walk the buffer to the last record that was fully written.
        var whole = 0
        var kept: UInt64 = 0
        let headerBuffered = fileLength == 0
        buffer.withUnsafeBytes { raw in
            if headerBuffered { return }
            while let length = raw.le(UInt32.self, at: whole) {
                let size = RecordingFormat.recordHeaderSize + Int(length) + RecordingFormat.recordTrailerSize
                guard whole + size <= written else { break }
                whole += size
                kept += 1
            }
        }
        // Best effort: a device or pipe cannot be cut back, and a reader treats a partial record
        // at the end as a cut tail anyway.
        if whole < written { _ = ftruncate(fd, off_t(fileLength + whole)) }
        fileLength += whole
        recordsWritten += kept
        recordsNotWritten += recordsBuffered - kept
        recordsBuffered = 0
        buffer = []
        state = .failed(errno: code)
        return RecordingFileError(path: path, problem: .writeFailed(errno: code, recordsInFile: recordsWritten,
                                                                    recordsNotWritten: recordsNotWritten))
    }

    private static func open(_ path: String, overwrite: Bool) throws(RecordingFileError) -> Int32 {
        func fail(_ operation: String, _ code: Int32) -> RecordingFileError {
            RecordingFileError(path: path, problem: code == EEXIST && !overwrite ? .exists : .system(operation: operation, errno: code))
        }
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? 0 : O_EXCL)
        var fd: Int32
        repeat { fd = Glibc.open(path, flags, 0o600) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw fail("open", errno) }
        guard overwrite else { return fd }
        // Restrict before emptying, so a file that cannot be restricted keeps its old contents.
        func closeAndFail(_ operation: String) -> RecordingFileError {
            let code = errno
            _ = Glibc.close(fd)
            return fail(operation, code)
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw closeAndFail("fstat") }
        guard st.st_mode & S_IFMT == S_IFREG else { return fd }
        if st.st_mode & 0o077 != 0, fchmod(fd, 0o600) != 0 { throw closeAndFail("fchmod") }
        guard ftruncate(fd, 0) == 0 else { throw closeAndFail("ftruncate") }
        return fd
    }
}
