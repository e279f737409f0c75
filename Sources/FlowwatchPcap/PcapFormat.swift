import CPcap

/// A capture file format: what starts every file and how a packet becomes a record. Writers call
/// `size(of:)` and then `encode(_:to:)` for the same packet, with `startFile()` in between only
/// when they rotate (and then `size(of:)` again).
protocol CaptureEncoder {
    /// What the format keeps of a packet: its own type, so a format that keeps little is not
    /// handed (and does not copy) what it has no place for.
    associatedtype Packet: TimestampedPacket
    /// The bytes every file starts with. Also forgets what the previous file held.
    mutating func startFile() -> [UInt8]
    /// The bytes a file ends with, written when it is closed whole (not after a failure).
    func finishFile() -> [UInt8]
    /// The bytes `encode` writes for `packet` in the current file.
    mutating func size(of packet: borrowing Packet) -> Int
    /// Writes exactly `size(of: packet)` bytes at `target`.
    mutating func encode(_ packet: borrowing Packet, to target: UnsafeMutableRawPointer)
}

/// A packet with its wall-clock time, which time-based rotation reads.
protocol TimestampedPacket {
    var timestampNanos: UInt64 { get }
}

/// What classic pcap keeps of a packet: its time, bytes and length on the wire. The bytes are
/// borrowed for the one write that encodes them: no reference is counted per packet.
struct PcapPacket: TimestampedPacket {
    var timestampNanos: UInt64
    var bytes: UnsafeRawBufferPointer
    var originalLength: UInt32
}

/// The classic libpcap format with nanosecond timestamps: a 24-byte file header, then a 16-byte
/// header per packet, all in host byte order (the magic number tells readers which).
///
/// This writes the bytes `pcap_open_dead_with_tstamp_precision(DLT_EN10MB, snaplen,
/// PCAP_TSTAMP_PRECISION_NANO)` + `pcap_dump` write (the tests compare them byte for byte),
/// without going through libpcap's `FILE*`: stdio flushes at arbitrary byte offsets, so a full disk
/// would leave half a record, and gzip would need a `fopencookie` shim under libpcap. Writing the
/// 40 bytes of headers here keeps one buffered path, cut at record boundaries, for plain and gzip.
struct PcapEncoder: CaptureEncoder {
    let snapshotLength: UInt32

    /// libpcap's magic for nanosecond files (`NSEC_TCPDUMP_MAGIC`, private to libpcap's sf-pcap.c).
    static let nanosecondMagic: UInt32 = 0xa1b2_3c4d
    static let fileHeaderSize = 24
    static let recordHeaderSize = 16

    func startFile() -> [UInt8] {
        var header = [UInt8](repeating: 0, count: Self.fileHeaderSize)
        header.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: Self.nanosecondMagic, toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: UInt16(PCAP_VERSION_MAJOR), toByteOffset: 4, as: UInt16.self)
            raw.storeBytes(of: UInt16(PCAP_VERSION_MINOR), toByteOffset: 6, as: UInt16.self)
            // thiszone (8) and sigfigs (12) stay 0, as libpcap writes them.
            raw.storeBytes(of: snapshotLength, toByteOffset: 16, as: UInt32.self)
            raw.storeBytes(of: UInt32(DLT_EN10MB), toByteOffset: 20, as: UInt32.self)
        }
        return header
    }

    /// A pcap file is complete after any record.
    func finishFile() -> [UInt8] { [] }

    func size(of packet: PcapPacket) -> Int {
        Self.recordHeaderSize + capturedLength(packet)
    }

    @inline(__always)
    func encode(_ packet: PcapPacket, to target: UnsafeMutableRawPointer) {
        let captured = capturedLength(packet)
        let seconds = packet.timestampNanos / 1_000_000_000
        target.storeBytes(of: UInt32(truncatingIfNeeded: seconds), toByteOffset: 0, as: UInt32.self)
        target.storeBytes(
            of: UInt32(packet.timestampNanos - seconds * 1_000_000_000), toByteOffset: 4, as: UInt32.self)
        target.storeBytes(of: UInt32(captured), toByteOffset: 8, as: UInt32.self)
        target.storeBytes(of: max(packet.originalLength, UInt32(captured)), toByteOffset: 12, as: UInt32.self)
        if captured > 0 { (target + Self.recordHeaderSize).copyMemory(from: packet.bytes.baseAddress!, byteCount: captured) }
    }

    private func capturedLength(_ packet: PcapPacket) -> Int {
        min(packet.bytes.count, Int(snapshotLength))
    }
}

/// Snapshot lengths as tcpdump takes them: 0 means the whole packet, which libpcap caps at
/// 262,144 bytes (`MAXIMUM_SNAPLEN`); readers reject larger records.
enum SnapshotLength {
    static let maximum: UInt32 = 262_144

    static func effective(_ requested: UInt32) -> UInt32 {
        requested == 0 || requested > maximum ? maximum : requested
    }
}
