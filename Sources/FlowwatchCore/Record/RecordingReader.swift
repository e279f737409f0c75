#if canImport(Glibc)
import Glibc
#endif

/// Reads a recording file for `replay`: the header at once, then one sample per `next()`.
///
/// The file is read in chunks of `chunkSize` bytes, so a recording of any size replays in
/// constant memory. Bytes go through `RecordingDecoder`, the same checks a test feeds byte by
/// byte. A cut tail ends the samples without an error and is described by `truncation`; a
/// corrupt file throws with the offset.
///
/// The first chunk (with the header) is read here; the rest by a `ReadAhead` thread, which
/// also checks the records' checksums while the decoder works on the chunk before.
public final class RecordingReader {
    /// The file, as given: every error names it.
    public let path: String
    public let header: RecordingHeader
    /// Used by this object's methods only, one call at a time: no run-time exclusivity checks.
    @exclusivity(unchecked) private var decoder: RecordingDecoder
    private let fd: Int32
    private let chunkSize: Int
    @exclusivity(unchecked) private var atEnd = false
    /// Reads the file after the first chunk; from then on it owns `fd`.
    @exclusivity(unchecked) private var readAhead: ReadAhead?
    /// A read that failed: thrown again by every later call.
    @exclusivity(unchecked) private var readError: Int32?

    /// Opens the file and reads its header.
    public init(path: String, chunkSize: Int = 256 << 10) throws(RecordingFileError) {
        var fd: Int32
        repeat { fd = open(path, O_RDONLY | O_CLOEXEC) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw RecordingFileError(path: path, problem: .system(operation: "open", errno: errno)) }
        var decoder = RecordingDecoder()
        let chunkSize = max(chunkSize, 1)
        var atEnd = false
        do throws(RecordingFileError) {
            while true {
                let header: RecordingHeader?
                do throws(RecordingError) { header = try decoder.readHeader() } catch {
                    throw RecordingFileError(path: path, problem: .format(error))
                }
                if let header {
                    self.header = header
                    break
                }
                atEnd = try Self.read(fd, path: path, chunkSize: chunkSize, decoder: &decoder)
            }
        } catch {
            _ = close(fd)
            throw error
        }
        self.path = path
        self.fd = fd
        self.decoder = decoder
        self.chunkSize = chunkSize
        self.atEnd = atEnd
    }

    deinit {
        if let readAhead { readAhead.cancel() } else { _ = close(fd) }
    }

    /// Format version of the file.
    public var version: RecordingVersion? { decoder.version }
    /// Header fields a newer minor version added, skipped.
    public var ignoredHeaderFields: [UInt16] { decoder.ignoredHeaderFields }
    /// Device names by ifindex, as of the last sample returned.
    public var interfaceNames: [UInt32: String] { decoder.interfaceNames }
    /// The name of one device as of the last sample returned, looked up without copying the table.
    public func interfaceName(_ ifindex: UInt32) -> String? { decoder.interfaceName(ifindex) }
    /// Samples returned so far.
    public var recordsRead: UInt64 { decoder.recordsDecoded }
    /// Once `next()` has returned nil: the cut tail, or nil if the file ended after a whole record.
    public var truncation: RecordingTruncation? { decoder.truncation }

    /// The next sample, or nil at the end of the file.
    public func next() throws(RecordingFileError) -> RawSample? {
        while true {
            do throws(RecordingError) {
                if let sample = try decoder.next() { return sample }
            } catch {
                throw RecordingFileError(path: path, problem: .format(error))
            }
            if atEnd { return nil }
            try nextChunk()
        }
    }

    /// Hands each following record to `body` where it lies in the read buffer (see
    /// `RecordingDecoder.forEach(inPlace:)`), without copying it, until `body` returns false or the
    /// file ends.
    public func forEach(inPlace body: (RawSampleView) -> Bool) throws(RecordingFileError) {
        while true {
            do throws(RecordingError) {
                if try !decoder.forEach(inPlace: body) { return }
            } catch {
                throw RecordingFileError(path: path, problem: .format(error))
            }
            if atEnd { return }
            try nextChunk()
        }
    }

    /// Hands the decoder the next chunk of the file, from the read-ahead (started on first use).
    private func nextChunk() throws(RecordingFileError) {
        if let readError { throw RecordingFileError(path: path, problem: .system(operation: "read", errno: readError)) }
        let readAhead = self.readAhead ?? ReadAhead(fd: fd, carry: decoder.takeUnconsumed(), chunkSize: chunkSize)
        self.readAhead = readAhead
        let chunk = readAhead.take()
        decoder.adopt(chunk.buffer, count: chunk.count, checked: chunk.checked)
        readAhead.giveBack()
        if let error = chunk.readError {
            readError = error
        } else if chunk.end {
            decoder.finish()
            atEnd = true
        }
    }

    /// Reads one chunk straight into the decoder's buffer; true (and the decoder finished) at the
    /// end of the file.
    private static func read(_ fd: Int32, path: String, chunkSize: Int,
                             decoder: inout RecordingDecoder) throws(RecordingFileError) -> Bool {
        var n: Int
        repeat {
            n = decoder.fill(upTo: chunkSize) { Glibc.read(fd, $0.baseAddress, $0.count) }
        } while n < 0 && errno == EINTR
        guard n >= 0 else { throw RecordingFileError(path: path, problem: .system(operation: "read", errno: errno)) }
        guard n > 0 else {
            decoder.finish()
            return true
        }
        return false
    }
}
