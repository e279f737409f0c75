import FlowwatchPcap
import Foundation
import Testing

/// The tools people open these files with read every output without a warning and see the packets
/// that were written.
@Suite struct ReaderTests {
    static let formats = ["flow.pcap", "flow.pcapng", "flow.pcap.gz", "flow.pcapng.gz"]

    /// Writes a two-point flow, flushing halfway so gzip outputs hold more than one member.
    static func write(_ path: String, count: Int = 60) throws -> [CapturedPacket] {
        let packets = Packets.flow(count)
        let writer: any CaptureWriter =
            path.contains(".pcapng")
            ? try PcapngWriter(path: path, snapshotLength: 128) : try PcapWriter(path: path, snapshotLength: 128)
        try writer.write(Array(packets.prefix(count / 2)))
        try writer.flush()
        try writer.write(Array(packets.dropFirst(count / 2)))
        try writer.close()
        #expect(writer.packetsWritten == count)
        return packets
    }

    static func epoch(_ packet: CapturedPacket) -> String {
        let nanos = String(packet.timestampNanos % 1_000_000_000)
        return "\(packet.timestampNanos / 1_000_000_000).\(String(repeating: "0", count: 9 - nanos.count))\(nanos)"
    }

    @Test(arguments: formats)
    func tcpdumpShowsTheSamePackets(name: String) throws {
        let directory = try TemporaryDirectory()
        let path = directory.file(name)
        let packets = try Self.write(path)
        // libpcap cannot read gzip; tcpdump gets the stream gunzip makes of it.
        let readable = name.hasSuffix(".gz") ? try Tools.gunzip(path, into: directory) : path
        let read = try TcpdumpReader.read(readable)
        #expect(read.warnings == [])
        #expect(read.times == packets.map(Self.epoch))
        #expect(read.bytes == packets.map { Array($0.bytes.prefix(128)) })
    }

    @Test(.enabled(if: Tools.tsharkEnabled, Tools.tsharkReason), arguments: formats)
    func tsharkShowsTheSamePackets(name: String) throws {
        let directory = try TemporaryDirectory()
        let path = directory.file(name)
        let packets = try Self.write(path)
        let read = try TsharkReader.fields(
            path, ["frame.time_epoch", "frame.len", "frame.cap_len", "ip.src", "udp.dstport", "udp.length"])
        #expect(read.warnings == [])
        #expect(read.rows.count == packets.count)
        for (row, packet) in zip(read.rows, packets) {
            #expect(row == [Self.epoch(packet), "200", "128", "10.244.0.102", "40002", "166"])
        }
    }

    /// Interface blocks and per-packet options come out in tshark's fields: the two lxc devices
    /// with their descriptions, direction flags, packet ids shared across devices, the tc
    /// verdict, and the comment.
    @Test(.enabled(if: Tools.tsharkEnabled, Tools.tsharkReason), arguments: ["meta.pcapng", "meta.pcapng.gz"])
    func tsharkShowsPcapngMetadata(name: String) throws {
        let directory = try TemporaryDirectory()
        let path = directory.file(name)
        let packets = try Self.write(path, count: 8)
        let read = try TsharkReader.fields(
            path,
            [
                "frame.interface_id", "frame.interface_name", "frame.interface_description",
                "frame.packet_flags_direction", "frame.packet_id", "frame.verdict.ebpf_tc", "frame.comment",
            ])
        #expect(read.warnings == [])
        try #require(read.rows.count == packets.count)
        for (row, packet) in zip(read.rows, packets) {
            let inbound = packet.direction == .inbound
            #expect(row[0] == (inbound ? "0" : "1"))
            #expect(row[1] == packet.interface.name)
            #expect(row[2] == packet.interface.description)
            #expect(Self.number(row[3]) == (inbound ? 1 : 2), "direction \(row[3])")
            #expect(row[4] == String(packet.packetID!))
            #expect(row[5] == "-1")
            #expect(row[6] == packet.comment)
        }
        // The same packet at from-endpoint and to-endpoint shares its id.
        #expect(read.rows[0][4] == read.rows[1][4])
        #expect(read.rows[1][4] != read.rows[2][4])
    }

    /// The direction field prints as hex in some tshark versions and decimal in others.
    static func number(_ text: String) -> Int? {
        text.hasPrefix("0x") ? Int(text.dropFirst(2), radix: 16) : Int(text)
    }

    /// gzip itself checks every member's CRC and length.
    @Test(arguments: ["flow.pcap.gz", "flow.pcapng.gz"])
    func gzipOutputsPassGzipTest(name: String) throws {
        let directory = try TemporaryDirectory()
        let path = directory.file(name)
        _ = try Self.write(path, count: 200)
        let check = try Tools.run("/bin/gzip", ["-t", path])
        #expect(check.status == 0 && check.stderr.isEmpty, "gzip -t: \(check.stderr)")
    }
}
