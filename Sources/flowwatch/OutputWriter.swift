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

    /// How much text is kept before it is written.
    static let defaultBufferSize = 64 * 1024

    init(fd: Int32, bufferSize: Int = OutputWriter.defaultBufferSize) {
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

    /// Writes what is buffered, then `text` (appended by the caller in a buffer of its own), and
    /// empties it; false once the other end is gone.
    func write(draining text: inout [UInt8]) -> Bool {
        flush()
        if !closed { write(all: text) }
        text.removeAll(keepingCapacity: true)
        return !closed
    }

    func flush() {
        if !closed { write(all: buffer) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func write(all bytes: [UInt8]) {
        var offset = 0
        bytes.withUnsafeBytes { raw in
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n > 0 { offset += n; continue }
                if n < 0 && errno == EINTR { continue }
                if errno != EPIPE { error = errno }
                closed = true
                return
            }
        }
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
