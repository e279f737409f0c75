import CPcap

/// zlib's deflate with a gzip wrapper, producing one complete gzip member per buffer.
///
/// A gzip file may be a sequence of members (RFC 1952 section 2.2); gunzip, zlib's gzread and
/// Wireshark read them as one stream. Ending a member at every buffer flush means each `write(2)`
/// adds a whole, checksummed member that holds only whole capture records, so a file cut short
/// by a full disk or a killed process is still a valid gzip file of whole records. The cost is 18
/// bytes of header and trailer per flush and a dictionary that restarts every buffer (256 KiB),
/// which is much longer than deflate's 32 KiB window anyway.
final class GzipMembers {
    /// Heap-allocated because zlib keeps a pointer back to the stream and rejects a moved one.
    private let stream: UnsafeMutablePointer<z_stream>

    /// Z_BEST_SPEED: capture must keep up with the datapath; a later `gzip -9` can do better.
    private static let level: Int32 = 1
    /// 15 bits of window plus 16 asks deflate for the gzip wrapper instead of zlib's.
    private static let gzipWindowBits: Int32 = 15 + 16
    private static let memoryLevel: Int32 = 8

    init(path: String) throws(CaptureError) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = ZLIB_VERSION.withCString { version in
            deflateInit2_(
                stream, Self.level, Z_DEFLATED, Self.gzipWindowBits, Self.memoryLevel, Z_DEFAULT_STRATEGY,
                version, Int32(MemoryLayout<z_stream>.size))
        }
        guard status == Z_OK else {
            let message = Self.message(stream, status)
            stream.deinitialize(count: 1)
            stream.deallocate()
            throw .compression(path: path, message: message)
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// The most bytes a member holding `count` input bytes can take, gzip header and trailer included.
    func bound(_ count: Int) -> Int {
        Int(deflateBound(stream, uLong(count)))
    }

    /// Compresses `count` bytes into one complete member at `output`, which holds at least
    /// `bound(count)` bytes, and returns the member's length, or zlib's complaint.
    func member(
        of input: UnsafeRawPointer, count: Int, into output: UnsafeMutableRawPointer, capacity: Int
    ) -> Result<Int, ZlibFailure> {
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(count)
        stream.pointee.next_out = output.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = uInt(capacity)
        // With room for the bound, one Z_FINISH call compresses everything and ends the member.
        let status = deflate(stream, Z_FINISH)
        let produced = capacity - Int(stream.pointee.avail_out)
        guard status == Z_STREAM_END else {
            let failure = ZlibFailure(message: Self.message(stream, status))
            deflateReset(stream)
            return .failure(failure)
        }
        deflateReset(stream)
        return .success(produced)
    }

    struct ZlibFailure: Error {
        let message: String
    }

    private static func message(_ stream: UnsafeMutablePointer<z_stream>, _ status: Int32) -> String {
        if let text = stream.pointee.msg { return String(cString: text) }
        return "status \(status)"
    }
}
