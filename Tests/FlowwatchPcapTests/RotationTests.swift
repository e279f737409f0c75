import FlowwatchPcap
import Foundation
import Testing

/// Rotation by size, by count (a ring of files) and by clock-aligned time, with synthetic
/// timestamps so the expected files are exact.
@Suite struct RotationTests {
    static func writer(_ path: String, _ rotation: CaptureRotation) throws -> any CaptureWriter {
        let options = CaptureFileOptions(rotation: rotation)
        return path.contains(".pcapng")
            ? try PcapngWriter(path: path, snapshotLength: 128, options: options)
            : try PcapWriter(path: path, snapshotLength: 128, options: options)
    }

    /// The numbered files of `path` that exist, in number order.
    static func files(_ path: String, upTo last: Int = 10_000) -> [String] {
        (1...last).map { CaptureRotation.fileName(for: path, number: $0) }.filter(exists)
    }

    /// Every packet of the files through libpcap (gunzipped first when compressed).
    static func packets(_ files: [String], _ directory: TemporaryDirectory) throws -> [ReadPacket] {
        try files.flatMap { file in
            try LibpcapReader.read(file.hasSuffix(".gz") ? Tools.gunzip(file, into: directory) : file).packets
        }
    }

    @Test func fileNames() {
        let cases = [
            ("out.pcap", 1, "out.0001.pcap"),
            ("/var/tmp/out.pcapng", 12, "/var/tmp/out.0012.pcapng"),
            ("out.pcap.gz", 3, "out.0003.pcap.gz"),
            ("out.pcapng.gz", 10_000, "out.10000.pcapng.gz"),
            ("capture", 2, "capture.0002"),
            ("capture.gz", 2, "capture.0002.gz"),
            ("dir.d/capture", 2, "dir.d/capture.0002"),
            (".hidden", 5, ".hidden.0005"),
        ]
        for (path, number, expected) in cases {
            #expect(CaptureRotation.fileName(for: path, number: number) == expected)
        }
    }

    @Test func invalidSettingsAreRefusedBeforeAnyFileExists() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("out.pcap")
        let invalid = [
            CaptureRotation(maxFiles: 3),
            CaptureRotation(maxFileBytes: 0),
            CaptureRotation(maxFileBytes: 1000, maxFiles: 0),
            CaptureRotation(interval: .zero),
        ]
        for rotation in invalid {
            #expect {
                try PcapWriter(path: path, snapshotLength: 128, options: .init(rotation: rotation))
            } throws: {
                if case .invalidRotation = $0 as? CaptureError { return true } else { return false }
            }
        }
        #expect(Self.files(path, upTo: 3) == [])
    }

    /// Plain files rotate exactly when the next record would pass the limit: each file is at
    /// most the limit and one more record would not have fitted.
    @Test(arguments: ["size.pcap", "size.pcapng"])
    func bySize(name: String) throws {
        let directory = try TemporaryDirectory()
        let path = directory.file(name)
        let limit = 4_000
        let packets = Packets.flow(100)
        let writer = try Self.writer(path, CaptureRotation(maxFileBytes: limit))
        try writer.write(packets)
        try writer.close()

        let files = Self.files(path)
        #expect(files.count > 3)
        #expect(writer.currentPath == files.last)
        #expect(writer.packetsWritten == 100)
        for file in files {
            #expect(fileSize(file) <= limit, "\(file)")
            #expect(fileMode(file) == 0o600)
        }
        // The largest record is a from-endpoint EPB (or a pcap record); fuller files are impossible.
        let largestRecord = name.hasSuffix("ng") ? 8 + 28 + 128 + 4 + 100 + 8 + 12 + 16 + 4 : 16 + 128
        for file in files.dropLast() { #expect(fileSize(file) + largestRecord > limit, "\(file) rotated early") }
        #expect(try Self.packets(files, directory) == packets.map { ReadPacket(expected: $0, snapshotLength: 128) })
    }

    /// Compressed files stay within the limit on disk too: the writer compresses what it
    /// holds before deciding, so files come out well filled.
    @Test(arguments: ["size.pcap.gz", "size.pcapng.gz"])
    func bySizeCompressed(name: String) throws {
        let directory = try TemporaryDirectory()
        let path = directory.file(name)
        let limit = 8_000
        let packets = Packets.flow(1_000)
        let writer = try Self.writer(path, CaptureRotation(maxFileBytes: limit))
        try writer.write(packets)
        try writer.close()

        let files = Self.files(path)
        #expect(files.count > 1)
        for file in files {
            #expect(fileSize(file) <= limit, "\(file)")
            let check = try Tools.run("/bin/gzip", ["-t", file])
            #expect(check.status == 0, "gzip -t \(file): \(check.stderr)")
        }
        for file in files.dropLast() { #expect(fileSize(file) > limit * 3 / 4, "\(file) is \(fileSize(file)) bytes") }
        #expect(try Self.packets(files, directory) == packets.map { ReadPacket(expected: $0, snapshotLength: 128) })
    }

    /// A ring of three files: each new file removes the oldest, so the newest three remain and
    /// hold the end of the capture.
    @Test(arguments: ["ring.pcap", "ring.pcapng.gz"])
    func byCount(name: String) throws {
        let directory = try TemporaryDirectory()
        let path = directory.file(name)
        let packets = Packets.flow(400)
        let writer = try Self.writer(path, CaptureRotation(maxFileBytes: 3_000, maxFiles: 3))
        try writer.write(packets)
        try writer.close()

        let all = (1...1_000).map { CaptureRotation.fileName(for: path, number: $0) }
        let kept = all.filter(exists)
        #expect(kept.count == 3)
        let newest = try #require(all.firstIndex(of: writer.currentPath))
        #expect(newest > 3, "the ring turned")
        #expect(kept == Array(all[newest - 2...newest]))
        let read = try Self.packets(kept, directory)
        let expected = packets.map { ReadPacket(expected: $0, snapshotLength: 128) }
        #expect(Array(expected.suffix(read.count)) == read)
        #expect(writer.packetsWritten == 400)
    }

    /// Files cover whole intervals of the clock (multiples since the epoch), not intervals
    /// counted from the first packet; an interval without packets has no file, and a late
    /// packet stays in the open file.
    @Test(arguments: ["time.pcap", "time.pcapng"])
    func byTime(name: String) throws {
        let directory = try TemporaryDirectory()
        let path = directory.file(name)
        let hour: UInt64 = 3_600_000_000_000
        let tenOClock: UInt64 = 1_700_000_000_000_000_000 / hour * hour + 10 * hour
        let times: [UInt64] = [
            tenOClock - 1,  // 09:59:59.999999999: first file
            tenOClock, tenOClock + hour - 1,  // 10:00 .. 10:59:59.999999999: second file
            tenOClock + 2 * hour + 5,  // 12:00 (no packet in 11:00-12:00): third file
            tenOClock + 2 * hour - 10,  // late, from the 11:00 interval: stays in the third file
            tenOClock + 3 * hour,  // 13:00: fourth
        ]
        let packets = times.enumerated().map { i, time in
            var packet = Packets.flowPacket(i)
            packet.timestampNanos = time
            return packet
        }
        let writer = try Self.writer(path, CaptureRotation(interval: .seconds(3600)))
        try writer.write(packets)
        try writer.close()

        let files = Self.files(path, upTo: 10)
        let perFile = try files.map { try LibpcapReader.read($0).packets.count }
        #expect(perFile == [1, 2, 2, 1])
        #expect(try Self.packets(files, directory) == packets.map { ReadPacket(expected: $0, snapshotLength: 128) })
    }

    /// Interface ids are per section: every rotated pcapng file describes the interfaces its
    /// packets use, and starts with its own section header.
    @Test func pcapngFilesAreSelfContained() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("self.pcapng")
        let writer = try Self.writer(path, CaptureRotation(maxFileBytes: 2_000))
        try writer.write(Packets.flow(20))
        try writer.close()
        let files = Self.files(path)
        #expect(files.count > 2)
        for file in files {
            let blocks = PcapngBlocks(try fileBytes(file))
            #expect(blocks.blocks.first?.type == 0x0A0D_0D0A)
            #expect(blocks.interfaceNames.sorted() == ["lxc1a2b3c4d", "lxc5e6f7a8b"], "\(file)")
            #expect(blocks.blocks.prefix(3).map(\.type) == [0x0A0D_0D0A, 1, 6], "IDB only when first needed")
        }
    }

    /// Combined size and time rotation, through tshark: each file is readable on its own.
    @Test(.enabled(if: Tools.tsharkEnabled, Tools.tsharkReason))
    func tsharkReadsEveryRotatedFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("both.pcapng.gz")
        let packets = Packets.flow(300, spacing: 10_000_000)  // 10 ms apart: 3 s in all
        let writer = try Self.writer(path, CaptureRotation(maxFileBytes: 6_000, interval: .seconds(1)))
        try writer.write(packets)
        try writer.close()
        var total = 0
        for file in Self.files(path) {
            let read = try TsharkReader.fields(file, ["frame.interface_name", "frame.comment"])
            #expect(read.warnings == [], "\(file)")
            #expect(read.rows.allSatisfy { $0[0].hasPrefix("lxc") && $0[1].contains("endpoint") })
            total += read.rows.count
        }
        #expect(total == 300)
    }

    /// A rotated name that already exists is refused like the first one: the writer fails with
    /// the name, and the files before it are complete.
    @Test func rotationDoesNotOverwrite() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("taken.pcap")
        let taken = CaptureRotation.fileName(for: path, number: 2)
        #expect(FileManager.default.createFile(atPath: taken, contents: Data("someone else's".utf8)))
        let writer = try Self.writer(path, CaptureRotation(maxFileBytes: 1_000))
        #expect(throws: CaptureError.exists(path: taken)) { try writer.write(Packets.flow(20)) }
        #expect(try fileBytes(taken) == Array("someone else's".utf8))
        #expect(throws: CaptureError.exists(path: taken)) { try writer.close() }
        let first = try LibpcapReader.read(CaptureRotation.fileName(for: path, number: 1))
        #expect(first.packets.count == writer.packetsWritten)
        #expect(writer.packetsWritten == (1_000 - 24) / 144)
    }
}
