import CPcap

/// What pcapng keeps of a packet, for the one write that encodes it: its bytes and comment
/// (UTF-8) borrowed, its interface's name and description the caller's strings, which the
/// encoder compares with the interfaces it has seen (the same strings again compare by their
/// storage, without reading them). No reference is counted per packet. `PcapngWriter` makes one
/// from a `CapturedPacket` or from the parts a caller has.
struct PcapngPacket: TimestampedPacket {
    var timestampNanos: UInt64
    var bytes: UnsafeRawBufferPointer
    var originalLength: UInt32
    var interfaceIndex: UInt32
    var interfaceName: String
    var interfaceDescription: String
    var direction: PacketDirection
    var packetID: UInt64?
    var tcVerdict: Int32?
    /// Empty writes no comment.
    var comment: UnsafeRawBufferPointer

    /// The interface as the file's table of them keeps it.
    var interface: CaptureInterface {
        CaptureInterface(index: interfaceIndex, name: interfaceName, description: interfaceDescription)
    }
}

/// pcapng (draft-ietf-opsawg-pcapng), written block by block because libpcap only reads it.
///
/// Every file is one section in host byte order: a Section Header Block, then an Interface
/// Description Block the first time a packet names an interface (again in every rotated file, since
/// interface ids are per section), then one Enhanced Packet Block per packet carrying
/// `opt_comment`, `epb_flags` (direction), `epb_packetid` and `epb_verdict` (Linux eBPF TC)
/// when the packet has them. Timestamps are nanoseconds since the epoch (`if_tsresol` = 9).
struct PcapngEncoder: CaptureEncoder {
    let snapshotLength: UInt32
    /// Interface ids of the current file, in the order their blocks were written.
    private var interfaces: [CaptureInterface: UInt32] = [:]
    /// The interfaces seen last, newest first, searched before `interfaces`: comparing strings
    /// (mostly by their storage) is cheaper than hashing them per packet.
    private var recent: ContiguousArray<RecentInterface> = []
    private static let recentCount = 8
    /// What `size(of:)` found for the packet `encode` will write.
    private var pending = Pending()

    private struct RecentInterface {
        var index: UInt32
        var name: String
        var description: String
        var id: UInt32

        /// Strings compare their storage first: a device's strings, passed again, are the same.
        func matches(_ packet: borrowing PcapngPacket) -> Bool {
            index == packet.interfaceIndex && name == packet.interfaceName && description == packet.interfaceDescription
        }
    }

    private struct Pending {
        var interfaceID: UInt32 = 0
        /// An interface this file has no block for yet, and its block.
        var newInterface: (interface: CaptureInterface, block: [UInt8])?
        /// The interface is not among the recent ones.
        var isNew = false
        var commentLength = 0
    }

    init(snapshotLength: UInt32) {
        self.snapshotLength = snapshotLength
    }

    enum BlockType {
        static let sectionHeader: UInt32 = 0x0A0D_0D0A
        static let interfaceDescription: UInt32 = 1
        static let enhancedPacket: UInt32 = 6
    }

    /// Option codes; the same number means different things in different blocks.
    enum Option {
        static let endOfOptions: UInt16 = 0
        static let comment: UInt16 = 1
        static let userApplication: UInt16 = 4  // SHB shb_userappl
        static let interfaceName: UInt16 = 2  // IDB if_name
        static let interfaceDescription: UInt16 = 3  // IDB if_description
        static let timestampResolution: UInt16 = 9  // IDB if_tsresol
        static let flags: UInt16 = 2  // EPB epb_flags
        static let packetID: UInt16 = 5  // EPB epb_packetid
        static let verdict: UInt16 = 7  // EPB epb_verdict
    }

    static let byteOrderMagic: UInt32 = 0x1A2B_3C4D
    /// `epb_verdict` type octet for a Linux eBPF TC verdict (`TC_ACT_*` as 64 bits).
    static let verdictTypeTC: UInt8 = 1
    /// Option lengths are 16 bits.
    static let maximumOptionLength = 65_535

    /// EPB fixed part: type, length, interface id, timestamp (2 words), captured and original length.
    private static let packetHeaderSize = 28

    mutating func startFile() -> [UInt8] {
        interfaces = [:]
        recent = []
        var body = BlockBody()
        body.append(Self.byteOrderMagic)
        body.append(UInt16(1))  // major version
        body.append(UInt16(0))  // minor version
        body.append(UInt64.max)  // section length -1: not known while writing
        body.appendOption(Self.Option.userApplication, Array("flowwatch".utf8))
        body.appendEndOfOptions()
        return body.block(type: BlockType.sectionHeader)
    }

    /// A file without packets gets one interface block, described as such: libpcap (tcpdump)
    /// refuses a pcapng file with no interface at all, while Wireshark shows the empty capture.
    /// (A process killed before its first packet leaves only the section header, which Wireshark
    /// reads and tcpdump does not.)
    func finishFile() -> [UInt8] {
        guard interfaces.isEmpty else { return [] }
        return interfaceBlock(CaptureInterface(index: 0, name: "", description: "no packets captured"))
    }

    mutating func size(of packet: borrowing PcapngPacket) -> Int {
        pending.newInterface = nil
        pending.isNew = false
        if let id = recentID(of: packet) {
            pending.interfaceID = id
        } else {
            let interface = packet.interface
            if let id = interfaces[interface] {
                pending.interfaceID = id
            } else {
                pending.interfaceID = UInt32(interfaces.count)
                pending.newInterface = (interface, interfaceBlock(interface))
            }
            pending.isNew = true
        }

        var size = Self.packetHeaderSize + padded(capturedLength(packet)) + 4
        var options = 0
        pending.commentLength = 0
        if !packet.comment.isEmpty {
            pending.commentLength = Self.optionLength(packet.comment)
            options += 4 + padded(pending.commentLength)
        }
        if packet.direction.flagsWord != nil { options += 4 + 4 }
        if packet.packetID != nil { options += 4 + 8 }
        if packet.tcVerdict != nil { options += 4 + padded(9) }
        if options > 0 { size += options + 4 }  // + opt_endofopt
        return size + (pending.newInterface?.block.count ?? 0)
    }

    mutating func encode(_ packet: borrowing PcapngPacket, to target: UnsafeMutableRawPointer) {
        var out = RawWriter(target)
        if let (interface, block) = pending.newInterface {
            out.append(block)
            interfaces[interface] = pending.interfaceID
        }
        if pending.isNew {
            recent.insert(RecentInterface(index: packet.interfaceIndex, name: packet.interfaceName,
                                          description: packet.interfaceDescription, id: pending.interfaceID), at: 0)
            if recent.count > Self.recentCount { recent.removeLast() }
        }

        let start = out.offset
        let captured = capturedLength(packet)
        out.append(BlockType.enhancedPacket)
        out.append(UInt32(0))  // total length, filled in below
        out.append(pending.interfaceID)
        out.append(UInt32(truncatingIfNeeded: packet.timestampNanos >> 32))
        out.append(UInt32(truncatingIfNeeded: packet.timestampNanos))
        out.append(UInt32(captured))
        out.append(max(packet.originalLength, UInt32(captured)))
        if captured > 0 { out.pointer.copyMemory(from: packet.bytes.baseAddress!, byteCount: captured) }
        out.skip(captured)
        out.pad()

        var hasOptions = false
        if pending.commentLength > 0 {
            out.appendOptionHeader(Option.comment, pending.commentLength)
            out.append(UnsafeRawBufferPointer(rebasing: packet.comment[..<pending.commentLength]))
            out.pad()
            hasOptions = true
        }
        if let flags = packet.direction.flagsWord {
            out.appendOptionHeader(Option.flags, 4)
            out.append(flags)
            hasOptions = true
        }
        if let id = packet.packetID {
            out.appendOptionHeader(Option.packetID, 8)
            out.append(id)
            hasOptions = true
        }
        if let verdict = packet.tcVerdict {
            out.appendOptionHeader(Option.verdict, 9)
            out.append(Self.verdictTypeTC)
            out.append(UInt64(bitPattern: Int64(verdict)))
            out.pad()
            hasOptions = true
        }
        if hasOptions { out.appendOptionHeader(Option.endOfOptions, 0) }
        let total = UInt32(out.offset - start + 4)
        out.append(total)
        (target + start + 4).storeBytes(of: total, as: UInt32.self)
    }

    /// The id of the packet's interface if it is one of the recent ones; compared where they lie.
    private func recentID(of packet: borrowing PcapngPacket) -> UInt32? {
        var i = 0
        while i < recent.count {
            if recent[i].matches(packet) { return recent[i].id }
            i += 1
        }
        return nil
    }

    private func interfaceBlock(_ interface: CaptureInterface) -> [UInt8] {
        var body = BlockBody()
        body.append(UInt16(DLT_EN10MB))  // LINKTYPE_ETHERNET has the same value
        body.append(UInt16(0))  // reserved
        body.append(snapshotLength)
        if !interface.name.isEmpty {
            body.appendOption(Option.interfaceName, Self.truncated(interface.name))
        }
        if !interface.description.isEmpty {
            body.appendOption(Option.interfaceDescription, Self.truncated(interface.description))
        }
        body.appendOption(Option.timestampResolution, [9])  // 10^-9 s
        body.appendEndOfOptions()
        return body.block(type: BlockType.interfaceDescription)
    }

    private func capturedLength(_ packet: borrowing PcapngPacket) -> Int {
        min(packet.bytes.count, Int(snapshotLength))
    }

    /// Interface strings are cut like comments (names are short; descriptions may carry labels).
    private static func truncated(_ text: String) -> [UInt8] {
        let utf8 = Array(text.utf8)
        return Array(utf8.prefix(optionLength(utf8)))
    }

    /// How much of a text fits in an option: up to 65,535 bytes of UTF-8, cut before a
    /// character rather than through it.
    private static func optionLength(_ utf8: some BidirectionalCollection<UInt8>) -> Int {
        guard utf8.count > maximumOptionLength else { return utf8.count }
        var end = utf8.index(utf8.startIndex, offsetBy: maximumOptionLength)
        // UTF-8 continuation bytes are 10xxxxxx: back up to the first byte of a character.
        while end > utf8.startIndex && utf8[end] & 0xC0 == 0x80 { end = utf8.index(before: end) }
        return utf8.distance(from: utf8.startIndex, to: end)
    }
}

extension PacketDirection {
    /// `epb_flags` bits 0-1 (01 inbound, 10 outbound); nil when there is nothing to say.
    fileprivate var flagsWord: UInt32? {
        switch self {
        case .unknown: nil
        case .inbound: 0b01
        case .outbound: 0b10
        }
    }
}

/// Rounds up to the 32-bit boundary every pcapng field ends on.
private func padded(_ length: Int) -> Int { (length + 3) & ~3 }

/// Builds a block that is written once in a while (section and interface headers).
private struct BlockBody {
    private var bytes: [UInt8] = []

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }

    mutating func appendOption(_ code: UInt16, _ value: [UInt8]) {
        append(code)
        append(UInt16(value.count))
        bytes.append(contentsOf: value)
        bytes.append(contentsOf: repeatElement(0, count: padded(value.count) - value.count))
    }

    mutating func appendEndOfOptions() {
        append(PcapngEncoder.Option.endOfOptions)
        append(UInt16(0))
    }

    /// Type, total length, body, total length again.
    func block(type: UInt32) -> [UInt8] {
        let total = UInt32(bytes.count + 12)
        var block = BlockBody()
        block.append(type)
        block.append(total)
        block.bytes += bytes
        block.append(total)
        return block.bytes
    }
}

/// Stores host-order fields into a reserved record with no bounds checks: `size(of:)` computed
/// the exact length beforehand.
private struct RawWriter {
    private let base: UnsafeMutableRawPointer
    private(set) var offset = 0

    init(_ base: UnsafeMutableRawPointer) { self.base = base }

    var pointer: UnsafeMutableRawPointer { base + offset }

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        base.storeBytes(of: value, toByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress else { return }
        pointer.copyMemory(from: source, byteCount: bytes.count)
        offset += bytes.count
    }

    mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    mutating func appendOptionHeader(_ code: UInt16, _ length: Int) {
        append(code)
        append(UInt16(length))
    }

    mutating func skip(_ count: Int) { offset += count }

    /// Zero bytes up to the next 32-bit boundary, stored as one word: a block has at least 4
    /// bytes after any padding (an option or its end, then the closing length), which write
    /// over the rest. (Byte by byte, the compiler called `memset` for each pad.)
    mutating func pad() {
        let count = -offset & 3
        guard count > 0 else { return }
        base.storeBytes(of: UInt32(0), toByteOffset: offset, as: UInt32.self)
        offset += count
    }
}
