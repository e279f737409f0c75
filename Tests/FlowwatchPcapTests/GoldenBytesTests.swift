import CPcap
import FlowwatchPcap
import Foundation
import Testing

/// Byte-exact files, checked field by field against the pcap header layout and the pcapng draft
/// (draft-ietf-opsawg-pcapng: SHB, IDB, EPB and their option codes). Files are in host byte
/// order, so the expected bytes are little-endian.
@Suite struct GoldenBytesTests {
    /// 2023-11-14 22:13:20.123456789 UTC.
    static let packet = CapturedPacket(
        timestampNanos: 1_700_000_000_123_456_789, bytes: ArraySlice(0..<18), originalLength: 60,
        interface: CaptureInterface(index: 5, name: "lxc0", description: "ep 1"),
        direction: .outbound, packetID: 7, tcVerdict: -1, comment: "hi")

    @Test func classicPcapHeaderAndRecord() throws {
        #expect(1.littleEndian == 1, "golden bytes are little-endian")
        let directory = try TemporaryDirectory()
        let path = directory.file("golden.pcap")
        let writer = try PcapWriter(path: path, snapshotLength: 64)
        try writer.write(Self.packet)
        try writer.close()

        let expected: [UInt8] =
            [0x4d, 0x3c, 0xb2, 0xa1]  // magic 0xa1b23c4d: nanosecond timestamps
            + [0x02, 0x00, 0x04, 0x00]  // version 2.4
            + [0x00, 0x00, 0x00, 0x00]  // thiszone
            + [0x00, 0x00, 0x00, 0x00]  // sigfigs
            + [0x40, 0x00, 0x00, 0x00]  // snaplen 64
            + [0x01, 0x00, 0x00, 0x00]  // LINKTYPE_ETHERNET
            + [0x00, 0xf1, 0x53, 0x65]  // ts_sec 1700000000
            + [0x15, 0xcd, 0x5b, 0x07]  // ts_nsec 123456789
            + [0x12, 0x00, 0x00, 0x00]  // caplen 18
            + [0x3c, 0x00, 0x00, 0x00]  // len 60
            + Array(0..<18)
        #expect(try fileBytes(path) == expected)
    }

    @Test func pcapngSectionInterfaceAndPacketBlocks() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("golden.pcapng")
        let writer = try PcapngWriter(path: path, snapshotLength: 64)
        try writer.write(Self.packet)
        try writer.close()

        let sectionHeader: [UInt8] =
            [0x0a, 0x0d, 0x0d, 0x0a]  // SHB
            + [0x30, 0x00, 0x00, 0x00]  // total length 48
            + [0x4d, 0x3c, 0x2b, 0x1a]  // byte-order magic 0x1a2b3c4d
            + [0x01, 0x00, 0x00, 0x00]  // version 1.0
            + [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]  // section length: unknown
            + [0x04, 0x00, 0x09, 0x00] + Array("flowwatch".utf8) + [0, 0, 0]  // shb_userappl
            + [0x00, 0x00, 0x00, 0x00]  // opt_endofopt
            + [0x30, 0x00, 0x00, 0x00]
        let interfaceDescription: [UInt8] =
            [0x01, 0x00, 0x00, 0x00]  // IDB
            + [0x30, 0x00, 0x00, 0x00]  // total length 48
            + [0x01, 0x00, 0x00, 0x00]  // LINKTYPE_ETHERNET, reserved
            + [0x40, 0x00, 0x00, 0x00]  // snaplen 64
            + [0x02, 0x00, 0x04, 0x00] + Array("lxc0".utf8)  // if_name
            + [0x03, 0x00, 0x04, 0x00] + Array("ep 1".utf8)  // if_description
            + [0x09, 0x00, 0x01, 0x00, 0x09, 0, 0, 0]  // if_tsresol 10^-9
            + [0x00, 0x00, 0x00, 0x00]  // opt_endofopt
            + [0x30, 0x00, 0x00, 0x00]
        let enhancedPacket: [UInt8] =
            [0x06, 0x00, 0x00, 0x00]  // EPB
            + [0x64, 0x00, 0x00, 0x00]  // total length 100
            + [0x00, 0x00, 0x00, 0x00]  // interface 0
            + [0xfe, 0x9c, 0x97, 0x17]  // timestamp high: 1700000000123456789 = 0x17979cfe_3d85cd15
            + [0x15, 0xcd, 0x85, 0x3d]  // timestamp low
            + [0x12, 0x00, 0x00, 0x00]  // captured 18
            + [0x3c, 0x00, 0x00, 0x00]  // original 60
            + Array(0..<18) + [0, 0]  // data, padded to 32 bits
            + [0x01, 0x00, 0x02, 0x00] + Array("hi".utf8) + [0, 0]  // opt_comment
            + [0x02, 0x00, 0x04, 0x00, 0x02, 0x00, 0x00, 0x00]  // epb_flags: outbound
            + [0x05, 0x00, 0x08, 0x00, 0x07, 0, 0, 0, 0, 0, 0, 0]  // epb_packetid 7
            + [0x07, 0x00, 0x09, 0x00, 0x01]  // epb_verdict, type 1 = Linux eBPF TC
            + [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0]  // TC_ACT_UNSPEC (-1), padding
            + [0x00, 0x00, 0x00, 0x00]  // opt_endofopt
            + [0x64, 0x00, 0x00, 0x00]
        let bytes = try fileBytes(path)
        #expect(Array(bytes.prefix(48)) == sectionHeader)
        #expect(Array(bytes.dropFirst(48).prefix(48)) == interfaceDescription)
        #expect(Array(bytes.dropFirst(96)) == enhancedPacket)
    }

    /// A packet without metadata has no options at all (not even opt_endofopt), and one on an
    /// interface seen before gets no second interface block.
    @Test func pcapngPacketWithoutOptions() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("plain.pcapng")
        let writer = try PcapngWriter(path: path, snapshotLength: 64)
        var packet = Self.packet
        packet.direction = .unknown
        packet.packetID = nil
        packet.tcVerdict = nil
        packet.comment = nil
        try writer.write([packet, packet])
        try writer.close()
        let block: [UInt8] =
            [0x06, 0x00, 0x00, 0x00, 0x34, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]  // EPB, 52 bytes, interface 0
            + [0xfe, 0x9c, 0x97, 0x17, 0x15, 0xcd, 0x85, 0x3d, 0x12, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x00, 0x00]
            + Array(0..<18) + [0, 0] + [0x34, 0x00, 0x00, 0x00]
        let bytes = try fileBytes(path)
        #expect(bytes.count == 48 + 48 + 2 * 52)
        #expect(Array(bytes.dropFirst(96)) == block + block)
    }

    /// One interface block per distinct interface, however many come and go: a packet on an
    /// interface seen before (beyond the few the encoder keeps at hand) takes its old id, and an
    /// ifindex that comes back with another name is another interface.
    @Test func pcapngInterfaceIDsAcrossManyDevices() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("many.pcapng")
        let writer = try PcapngWriter(path: path, snapshotLength: 64)
        var packets: [CapturedPacket] = []
        let names = (1...12).map { "lxc\($0)" } + ["lxc3", "lxc1", "lxc3-new"]
        let indexes: [UInt32] = Array(1...12) + [3, 1, 3]
        for (name, index) in zip(names, indexes) {
            var packet = Self.packet
            packet.interface = CaptureInterface(index: index, name: name)
            packets.append(packet)
        }
        try writer.write(packets)
        try writer.close()

        // Walk the blocks: interface names in id order, and each packet's interface id.
        let bytes = try fileBytes(path)
        func word(_ at: Int) -> UInt32 { bytes[at..<at + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
        var interfaces: [String] = []
        var packetInterfaces: [UInt32] = []
        var offset = 0
        while offset < bytes.count {
            let type = word(offset), length = Int(word(offset + 4))
            if type == 1 {
                // if_name is the first option, after link type, reserved and snaplen.
                let nameLength = Int(UInt16(bytes[offset + 18]) | UInt16(bytes[offset + 19]) << 8)
                interfaces.append(String(decoding: bytes[offset + 20..<offset + 20 + nameLength], as: UTF8.self))
            } else if type == 6 {
                packetInterfaces.append(word(offset + 8))
            }
            offset += length
        }
        #expect(interfaces == (1...12).map { "lxc\($0)" } + ["lxc3-new"])
        #expect(packetInterfaces.map { interfaces[Int($0)] } == names)
    }

    /// Options hold at most 65,535 bytes: a longer comment (or interface description) is cut
    /// before the character that would not fit whole, so it stays valid UTF-8.
    @Test func longStringsAreCutAtCharacterBoundaries() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("long.pcapng")
        let writer = try PcapngWriter(path: path, snapshotLength: 64)
        var packet = Self.packet
        packet.comment = String(repeating: "é", count: 40_000)  // 80,000 bytes, 2 per character
        packet.interface.description = "x" + String(repeating: "€", count: 30_000)  // 1 + 90,000 bytes
        try writer.write(packet)
        try writer.close()

        let blocks = PcapngBlocks(try fileBytes(path))
        let comment = try #require(blocks.packetOptions.first?.first { $0.code == 1 }?.value)
        #expect(comment.count == 65_534)
        #expect(String(validating: comment, as: UTF8.self) == String(repeating: "é", count: 32_767))
        let interface = try #require(blocks.blocks.first { $0.type == 1 })
        let description = try #require(PcapngBlocks.options(interface.body, from: 8).first { $0.code == 3 }?.value)
        #expect(description.count == 1 + 21_844 * 3)
    }

    /// The pcap writer produces exactly what libpcap's own dumper writes for the same packets
    /// (`pcap_open_dead_with_tstamp_precision(DLT_EN10MB, snaplen, NANO)` + `pcap_dump`),
    /// truncation to the snapshot length included.
    @Test func classicPcapMatchesLibpcapDumper() throws {
        let directory = try TemporaryDirectory()
        let ours = directory.file("ours.pcap")
        let theirs = directory.file("libpcap.pcap")
        let packets = Packets.flow(6, capture: 200, length: 300)  // longer than the snapshot length

        let writer = try PcapWriter(path: ours, snapshotLength: 128)
        try writer.write(packets)
        try writer.close()

        let nano = UInt32(PCAP_TSTAMP_PRECISION_NANO)
        let dead = try #require(pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 128, nano))
        defer { pcap_close(dead) }
        let dumper = try #require(pcap_dump_open(dead, theirs))
        for packet in packets {
            var header = pcap_pkthdr()
            header.ts.tv_sec = Int(packet.timestampNanos / 1_000_000_000)
            header.ts.tv_usec = Int(packet.timestampNanos % 1_000_000_000)  // nanoseconds in a NANO handle
            header.caplen = UInt32(min(packet.bytes.count, 128))
            header.len = packet.originalLength
            packet.bytes.withUnsafeBufferPointer { data in
                UnsafeMutableRawPointer(dumper).withMemoryRebound(to: UInt8.self, capacity: 1) { user in
                    pcap_dump(user, &header, data.baseAddress)
                }
            }
        }
        pcap_dump_close(dumper)

        #expect(try fileBytes(ours) == fileBytes(theirs))
    }

    /// libpcap reads both formats back with the same times, lengths and bytes.
    @Test(arguments: ["flow.pcap", "flow.pcapng"])
    func libpcapReadsBack(name: String) throws {
        let directory = try TemporaryDirectory()
        let path = directory.file(name)
        let packets = Packets.flow(40)
        let writer: any CaptureWriter =
            name.hasSuffix("ng")
            ? try PcapngWriter(path: path, snapshotLength: 128) : try PcapWriter(path: path, snapshotLength: 128)
        try writer.write(packets)
        try writer.close()
        #expect(writer.packetsWritten == 40)

        let read = try LibpcapReader.read(path)
        #expect(read.linkType == DLT_EN10MB)
        #expect(read.snapshotLength == 128)
        #expect(read.packets == packets.map { ReadPacket(expected: $0, snapshotLength: 128) })
    }

    /// Snapshot length 0 means whole packets (libpcap's maximum, 262144); a record bigger than
    /// the write buffer (256 KiB) still goes out whole.
    @Test func wholePacketsLargerThanTheBuffer() throws {
        let directory = try TemporaryDirectory()
        for name in ["big.pcap", "big.pcapng", "big.pcapng.gz"] {
            let path = directory.file(name)
            let big = CapturedPacket(
                timestampNanos: Packets.baseTime, bytes: Packets.udp(1, length: 300_000)[...], originalLength: 300_000,
                comment: String(repeating: "é", count: 40_000))  // 80,000 bytes of UTF-8: cut at 65,534
            let small = CapturedPacket(timestampNanos: Packets.baseTime + 1, bytes: Packets.udp(2)[...], originalLength: 200)
            let writer: any CaptureWriter =
                name.contains("pcapng")
                ? try PcapngWriter(path: path, snapshotLength: 0) : try PcapWriter(path: path, snapshotLength: 0)
            try writer.write([small, big, small])
            try writer.close()
            let read = try LibpcapReader.read(name.hasSuffix(".gz") ? Tools.gunzip(path, into: directory) : path)
            #expect(read.snapshotLength == 262_144)
            #expect(read.packets.map(\.capturedLength) == [200, 262_144, 200], "\(name)")
            #expect(read.packets.map(\.originalLength) == [200, 300_000, 200], "\(name)")
            #expect(read.packets.dropFirst().first?.bytes == Array(big.bytes.prefix(262_144)), "\(name)")
        }
    }
}
