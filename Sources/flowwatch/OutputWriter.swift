#if canImport(Glibc)
import Glibc
#endif

/// Buffered writes to a file descriptor with no per-line syscall. A reader that went away
/// (`| head`) closes the writer quietly instead of killing the process with SIGPIPE.
final class OutputWriter: @unchecked Sendable {
    private let fd: Int32
    /// One thread writes (the printer's, or the reader's): not checked for exclusive access at
    /// run time, a check per event otherwise.
    @exclusivity(unchecked) private(set) var buffer: [UInt8] = []
    private let limit: Int
    /// The other end is gone (EPIPE); nothing more will be written.
    private(set) var closed = false
    /// A write error other than EPIPE, for the exit message.
    private(set) var error: Int32?

    init(fd: Int32, bufferSize: Int = 64 * 1024) {
        self.fd = fd
        self.limit = bufferSize
        buffer.reserveCapacity(bufferSize + 4096)
    }

    /// Appends through the closure and flushes once the buffer is full.
    func write(_ body: (inout [UInt8]) -> Void) {
        guard !closed else { return }
        body(&buffer)
        if buffer.count >= limit { flush() }
    }

    func write(_ text: String) { write { $0.append(contentsOf: text.utf8) } }

    func flush() {
        guard !closed, !buffer.isEmpty else { buffer.removeAll(keepingCapacity: true); return }
        var offset = 0
        buffer.withUnsafeBytes { raw in
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n > 0 { offset += n; continue }
                if n < 0 && errno == EINTR { continue }
                if errno != EPIPE { error = errno }
                closed = true
                return
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }
}

/// A line to stderr at once: diagnostics never wait behind buffered output.
func diagnostic(_ text: String) {
    var line = Array(("flowwatch: " + text + "\n").utf8)
    line.withUnsafeMutableBytes { raw in
        var offset = 0
        while offset < raw.count {
            let n = Glibc.write(STDERR_FILENO, raw.baseAddress! + offset, raw.count - offset)
            if n > 0 { offset += n } else if errno != EINTR { return }
        }
    }
}
