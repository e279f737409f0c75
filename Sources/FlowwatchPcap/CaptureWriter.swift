/// Something that writes captured packets to files: `PcapWriter` or `PcapngWriter`.
///
/// Writers buffer whole records and write a buffer at a time, on a thread of the file's own; call
/// `handOver()` (or `flush()`, which also waits for the writes) now and then (say, once a second)
/// when packets are rare, so the file on disk keeps up with what was seen.
///
/// Failure: the first error (a full disk, an I/O error, a rotated file that cannot be created)
/// fails the writer. The open file is closed at once, ending at the last buffer written whole, and
/// every later `write`, `flush` and `close` throws that same error without touching the disk, so
/// the caller can keep printing flows and report the failure once. Files written earlier stay as
/// they are.
///
/// Not thread-safe: one task or thread owns a writer.
public protocol CaptureWriter: AnyObject {
    /// Appends a packet, rotating first if the rotation settings ask for it.
    func write(_ packet: CapturedPacket) throws(CaptureError)
    /// Writes what is buffered to the file, and waits until everything handed over is written.
    func flush() throws(CaptureError)
    /// Hands what is buffered over to be written, without waiting for the write: a thread that
    /// must not stall (a perf ring's reader) calls this. A failure shows at a later call.
    func handOver() throws(CaptureError)
    /// Flushes and closes the file (ending the gzip stream properly). Throws the writer's failure
    /// if it ever failed, so an exit status computed from `close()` alone is right. Calling it
    /// again does nothing more.
    func close() throws(CaptureError)
    /// The error that failed the writer, if any.
    var failure: CaptureError? { get }
    /// Packets whose bytes have reached the files (buffered ones count once flushed).
    var packetsWritten: Int { get }
    /// The file being written (with rotation, the newest one).
    var currentPath: String { get }
}

/// How a writer creates its files.
public struct CaptureFileOptions: Sendable, Hashable {
    /// Truncate an existing file instead of refusing it (`--force`).
    public var overwrite: Bool
    /// Split the capture into several files; nil writes one file, named exactly as given.
    public var rotation: CaptureRotation?

    public init(overwrite: Bool = false, rotation: CaptureRotation? = nil) {
        self.overwrite = overwrite
        self.rotation = rotation
    }
}

/// Rotation like tcpdump's `-C`/`-W`, plus rotation on clock boundaries.
///
/// With rotation every file gets a number before its extension, starting at 1: `out.pcap` becomes
/// `out.0001.pcap`, `out.0002.pcap`, …; `out.pcapng.gz` becomes `out.0001.pcapng.gz` (see
/// `fileName(for:number:)`). Numbers only grow, so names sort in time order and a ring never
/// reuses a name.
public struct CaptureRotation: Sendable, Hashable {
    /// Start a new file before a packet would take the file past this many bytes on disk
    /// (compressed bytes for `.gz`). A file always takes at least one packet, however big.
    /// tcpdump's `-C` counts in millions of bytes.
    public var maxFileBytes: Int?
    /// Keep at most this many files: creating one more removes the oldest this writer created.
    public var maxFiles: Int?
    /// Start a new file when a packet's timestamp crosses a multiple of this interval since the
    /// Unix epoch (UTC): with an hour, files cover 10:00-11:00, 11:00-12:00, … whatever the start
    /// time, unlike tcpdump's `-G`, which counts from the first packet and drifts. Packet time,
    /// not the clock at write time, decides, so replaying a recording rotates exactly as the live
    /// run did. An interval with no packets gets no file; a packet older than the current file's
    /// interval (out of order) stays in the current file.
    public var interval: Duration?

    public init(maxFileBytes: Int? = nil, maxFiles: Int? = nil, interval: Duration? = nil) {
        self.maxFileBytes = maxFileBytes
        self.maxFiles = maxFiles
        self.interval = interval
    }

    /// Checks the settings before any file is created (writers check too).
    public func validate() throws(CaptureError) {
        if let maxFileBytes, maxFileBytes <= 0 { throw .invalidRotation("the maximum file size must be positive") }
        if let maxFiles, maxFiles <= 0 { throw .invalidRotation("the number of files must be positive") }
        if let interval, interval <= .zero { throw .invalidRotation("the rotation interval must be positive") }
        if maxFileBytes == nil && interval == nil {
            throw .invalidRotation("rotation needs a maximum file size or an interval")
        }
    }

    /// The name of rotated file `number` for `path`: the number, zero-padded to four digits, goes
    /// before the extension (`.pcap`, `.pcapng`, and `.gz` with the one before it) so tools that
    /// go by extension still recognise the file.
    public static func fileName(for path: String, number: Int) -> String {
        let nameStart = path.lastIndex(of: "/").map { path.index(after: $0) } ?? path.startIndex
        var stemEnd = path.endIndex
        if path[nameStart...].hasSuffix(".gz") { stemEnd = path.index(stemEnd, offsetBy: -3) }
        // A leading dot names a hidden file; it is not an extension.
        if let dot = path[nameStart..<stemEnd].lastIndex(of: "."), dot > nameStart { stemEnd = dot }
        let digits = String(number)
        let padding = String(repeating: "0", count: max(0, 4 - digits.count))
        return path[..<stemEnd] + "." + padding + digits + path[stemEnd...]
    }

    var intervalNanos: UInt64? {
        guard let interval else { return nil }
        let (seconds, attoseconds) = interval.components
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }
}

/// Classic pcap (`--pcap`): Ethernet link type, nanosecond timestamps, the snapshot length given.
/// Interface, direction, packet id, verdict and comment have no place in this format and are not
/// written. A name ending in `.gz` writes gzip.
public final class PcapWriter: CaptureWriter {
    private let output: CaptureOutput<PcapEncoder>
    /// `output`, borrowed per packet (see `Unmanaged.borrowing`).
    private let packetOutput: Unmanaged<CaptureOutput<PcapEncoder>>

    /// Creates the (first) file at once, so a bad path fails before capture starts.
    /// `snapshotLength` is the capture length; 0 means whole packets.
    public init(path: String, snapshotLength: UInt32, options: CaptureFileOptions = .init()) throws(CaptureError) {
        output = try CaptureOutput(
            path: path, options: options,
            encoder: PcapEncoder(snapshotLength: SnapshotLength.effective(snapshotLength)))
        packetOutput = Unmanaged.passUnretained(output)
    }

    public func write(_ packet: CapturedPacket) throws(CaptureError) {
        try write(timestampNanos: packet.timestampNanos, bytes: packet.bytes, originalLength: packet.originalLength)
    }
    public func flush() throws(CaptureError) { try output.flush() }
    public func handOver() throws(CaptureError) { try output.flush(waiting: false) }
    public func close() throws(CaptureError) { try output.close() }
    public var failure: CaptureError? { output.failure }
    public var packetsWritten: Int { output.packetsWritten }
    public var currentPath: String { output.currentPath }

    /// `write(_:)` with only what this format keeps of a packet, so a caller that has no
    /// `CapturedPacket` builds none.
    public func write(timestampNanos: UInt64, bytes: ArraySlice<UInt8>, originalLength: UInt32) throws(CaptureError) {
        // `withUnsafeBytes` rethrows untyped errors as well.
        let failure = bytes.withUnsafeBytes { raw -> CaptureError? in
            do throws(CaptureError) {
                try write(timestampNanos: timestampNanos, bytes: raw, originalLength: originalLength)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }

    /// `write(timestampNanos:bytes:originalLength:)` with the bytes borrowed, read only during
    /// the call.
    @inline(__always)
    public func write(timestampNanos: UInt64, bytes: UnsafeRawBufferPointer, originalLength: UInt32) throws(CaptureError) {
        let packet = PcapPacket(timestampNanos: timestampNanos, bytes: bytes, originalLength: originalLength)
        try packetOutput.borrowing { (output) throws(CaptureError) in try output.write(packet) }
    }
}

/// Runs `body` on the UTF-8 bytes of `text` where they lie (a small string's, copied to the
/// stack), borrowed: no reference is counted. Every string has them in one piece on Linux: only
/// strings bridged from Objective-C can lack it. (A fallback copy here, never taken, made the
/// compiler keep the closures: 50M more instructions on a 200k-packet replay.)
@inline(__always)
private func withUTF8Bytes<Result>(of text: borrowing String, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
    text.utf8.withContiguousStorageIfAvailable { body(UnsafeRawBufferPointer($0)) }!
}

/// The same for text that may be missing: no bytes.
@inline(__always)
private func withUTF8Bytes<Result>(of text: String?, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
    if let text { withUTF8Bytes(of: text, body) } else { body(UnsafeRawBufferPointer(start: nil, count: 0)) }
}

/// pcapng (`--pcapng`): an interface block per device (name, description, nanosecond
/// resolution) and per packet its direction, packet id, tc verdict and comment. A name ending in
/// `.gz` writes gzip.
public final class PcapngWriter: CaptureWriter {
    private let output: CaptureOutput<PcapngEncoder>
    /// `output`, borrowed per packet (see `Unmanaged.borrowing`).
    private let packetOutput: Unmanaged<CaptureOutput<PcapngEncoder>>

    /// Creates the (first) file at once, so a bad path fails before capture starts.
    /// `snapshotLength` is the capture length; 0 means whole packets.
    public init(path: String, snapshotLength: UInt32, options: CaptureFileOptions = .init()) throws(CaptureError) {
        output = try CaptureOutput(
            path: path, options: options,
            encoder: PcapngEncoder(snapshotLength: SnapshotLength.effective(snapshotLength)))
        packetOutput = Unmanaged.passUnretained(output)
    }

    public func write(_ packet: CapturedPacket) throws(CaptureError) {
        try write(timestampNanos: packet.timestampNanos, bytes: packet.bytes, originalLength: packet.originalLength,
                  interface: packet.interface.index, name: packet.interface.name, description: packet.interface.description,
                  direction: packet.direction, packetID: packet.packetID, tcVerdict: packet.tcVerdict,
                  comment: packet.comment)
    }

    /// `write(_:)` from the parts of a packet, so a caller that has no `CapturedPacket` builds
    /// none (and counts no reference to its bytes and strings): they are read where they lie,
    /// during the call. An empty comment writes none.
    public func write(timestampNanos: UInt64, bytes: ArraySlice<UInt8>, originalLength: UInt32,
                      interface index: UInt32, name: String, description: String, direction: PacketDirection,
                      packetID: UInt64?, tcVerdict: Int32?, comment: String?) throws(CaptureError) {
        // The closures return the error: `withUnsafeBytes` rethrows untyped errors as well.
        let failure = bytes.withUnsafeBytes { bytes in
            withUTF8Bytes(of: comment) { comment -> CaptureError? in
                let packet = PcapngPacket(
                    timestampNanos: timestampNanos, bytes: bytes, originalLength: originalLength,
                    interfaceIndex: index, interfaceName: name, interfaceDescription: description,
                    direction: direction, packetID: packetID, tcVerdict: tcVerdict, comment: comment)
                do throws(CaptureError) {
                    try packetOutput.borrowing { (output) throws(CaptureError) in try output.write(packet) }
                    return nil
                } catch {
                    return error
                }
            }
        }
        if let failure { throw failure }
    }
    public func flush() throws(CaptureError) { try output.flush() }
    public func handOver() throws(CaptureError) { try output.flush(waiting: false) }
    public func close() throws(CaptureError) { try output.close() }
    public var failure: CaptureError? { output.failure }
    public var packetsWritten: Int { output.packetsWritten }
    public var currentPath: String { output.currentPath }
}
