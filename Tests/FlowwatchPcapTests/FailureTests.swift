import FlowwatchPcap
import Foundation
import Testing

/// Files hold payloads and must never be half-written: creation rules, full disks, write
/// errors, and a process stopped mid-capture.
@Suite struct FailureTests {
    static func writer(_ path: String, overwrite: Bool = false) throws(CaptureError) -> any CaptureWriter {
        path.contains(".pcapng")
            ? try PcapngWriter(path: path, snapshotLength: 128, options: .init(overwrite: overwrite))
            : try PcapWriter(path: path, snapshotLength: 128, options: .init(overwrite: overwrite))
    }

    @Test(arguments: ReaderTests.formats)
    func newFilesAreMode0600(name: String) throws {
        let directory = try TemporaryDirectory()
        let path = directory.file(name)
        let writer = try Self.writer(path)
        try writer.close()
        #expect(fileMode(path) == 0o600)
    }

    @Test func existingFileIsNotOverwritten() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("keep.pcap")
        #expect(FileManager.default.createFile(atPath: path, contents: Data("keep me".utf8)))
        #expect(throws: CaptureError.exists(path: path)) { try Self.writer(path) }
        #expect(try fileBytes(path) == Array("keep me".utf8))
        #expect(CaptureError.exists(path: path).description == "\(path) exists; refusing to overwrite it")
    }

    /// With overwrite the file is truncated and, since it will hold payloads, made private.
    @Test func overwriteTruncatesAndTightensTheMode() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("old.pcapng")
        #expect(FileManager.default.createFile(atPath: path, contents: Data(repeating: 0x55, count: 10_000)))
        #expect(chmod(path, 0o644) == 0)
        let writer = try Self.writer(path, overwrite: true)
        try writer.write(Packets.flow(4))
        try writer.close()
        #expect(fileMode(path) == 0o600)
        #expect(try LibpcapReader.read(path).packets.count == 4)
    }

    @Test func missingDirectoryIsAnOpenError() throws {
        let path = "/nonexistent-flowwatch-dir/out.pcap"
        let error = SystemError(ENOENT)
        #expect(throws: CaptureError.open(path: path, error)) { try Self.writer(path) }
        #expect(
            CaptureError.open(path: path, error).description
                == "cannot create \(path): No such file or directory (ENOENT)")
    }

    /// /dev/full fails every write with ENOSPC: the writer fails at creation (the header is
    /// written at once), and the device is left alone (no chmod on non-regular files).
    @Test func devFullFailsAtCreation() throws {
        let modeBefore = fileMode("/dev/full")
        #expect(throws: CaptureError.exists(path: "/dev/full")) { try Self.writer("/dev/full") }
        let full = CaptureError.write(path: "/dev/full", SystemError(ENOSPC))
        let force = CaptureFileOptions(overwrite: true)
        #expect(throws: full) { try PcapWriter(path: "/dev/full", snapshotLength: 128, options: force) }
        #expect(throws: full) { try PcapngWriter(path: "/dev/full", snapshotLength: 128, options: force) }
        #expect(fileMode("/dev/full") == modeBefore)
        #expect(
            CaptureError.write(path: "/dev/full", SystemError(ENOSPC)).description
                == "cannot write /dev/full: No space left on device (ENOSPC)")
    }

    /// A small tmpfs fills up mid-capture. The writer fails with ENOSPC, stays failed (later
    /// calls throw the same error), and the file holds exactly the packets of the buffers
    /// written whole: tcpdump, tshark and gzip read it to the end without a warning.
    @Test(.enabled(if: Tools.privilegedEnabled, Tools.privilegedReason), arguments: ReaderTests.formats)
    func fullFilesystem(name: String) throws {
        let disk = try SmallTmpfs(bytes: 64 * 1024)
        let path = disk.path + "/" + name
        let writer = try Self.writer(path)
        // Flushing every 20 packets stands in for flowwatch's periodic flush.
        let (failure, _) = Self.writeUntilFailure(writer, flushEvery: 20)
        let expectedFailure = CaptureError.write(path: path, SystemError(ENOSPC))
        #expect(failure == expectedFailure)
        #expect(failure?.description == "cannot write \(path): No space left on device (ENOSPC)")
        #expect(writer.failure == expectedFailure)
        #expect(throws: expectedFailure) { try writer.write(Packets.flowPacket(0)) }
        #expect(throws: expectedFailure) { try writer.flush() }
        #expect(throws: expectedFailure) { try writer.close() }

        let written = writer.packetsWritten
        #expect(written > 0 && written % 20 == 0, "\(written) packets written")
        try Self.expectReadable(path, packets: written, in: TemporaryDirectory())
    }

    /// What a killed process leaves: the file as it is between flushes, before close. Every
    /// flushed packet is there and the file is complete (gzip members included); closing later
    /// adds the rest.
    @Test(arguments: ReaderTests.formats)
    func stoppedMidCapture(name: String) throws {
        let directory = try TemporaryDirectory()
        let path = directory.file(name)
        let writer = try Self.writer(path)
        try writer.write(Packets.flow(30))
        try writer.flush()
        try writer.write(Array(Packets.flow(40).dropFirst(30)))  // buffered only
        #expect(writer.packetsWritten == 30)
        try Self.expectReadable(path, packets: 30, in: directory)

        try writer.close()
        #expect(writer.packetsWritten == 40)
        try Self.expectReadable(path, packets: 40, in: directory)
        try writer.close()  // again: nothing more
        #expect(throws: CaptureError.closed(path: path)) { try writer.write(Packets.flowPacket(0)) }
    }

    /// A capture that saw no packet is a valid, empty file. A classic pcap file is one from the
    /// start; pcapng needs its closing interface block for libpcap.
    @Test(arguments: ReaderTests.formats)
    func emptyCaptureIsValid(name: String) throws {
        let directory = try TemporaryDirectory()
        let path = directory.file(name)
        let writer = try Self.writer(path)
        if !name.contains(".pcapng") { try Self.expectReadable(path, packets: 0, in: directory) }
        try writer.close()
        try Self.expectReadable(path, packets: 0, in: directory)
    }

    /// Writes flow packets until a write (or a flush every `flushEvery` packets) fails, or
    /// 2,000,000 were written: the error, if any, and how many went in.
    static func writeUntilFailure(_ writer: any CaptureWriter, flushEvery: Int?) -> (CaptureError?, sent: Int) {
        var sent = 0
        while sent < 2_000_000 {
            do throws(CaptureError) {
                try writer.write(Packets.flowPacket(sent))
                sent += 1
                if let flushEvery, sent % flushEvery == 0 { try writer.flush() }
            } catch {
                return (error, sent)
            }
        }
        return (nil, sent)
    }

    /// libpcap, tcpdump, tshark (and gzip for .gz) read exactly the first `count` flow packets.
    static func expectReadable(_ path: String, packets count: Int, in directory: TemporaryDirectory) throws {
        let expected = Packets.flow(count).map { ReadPacket(expected: $0, snapshotLength: 128) }
        var readable = path
        if path.hasSuffix(".gz") {
            let check = try Tools.run("/bin/gzip", ["-t", path])
            #expect(check.status == 0 && check.stderr.isEmpty, "gzip -t \(path): \(check.stderr)")
            readable = try Tools.gunzip(path, into: directory)
        }
        #expect(try LibpcapReader.read(readable).packets == expected)
        let tcpdump = try TcpdumpReader.read(readable)
        #expect(tcpdump.warnings == [])
        #expect(tcpdump.bytes.count == count)
        if Tools.tsharkEnabled {
            let tshark = try TsharkReader.fields(path, ["frame.number"])
            #expect(tshark.warnings == [])
            #expect(tshark.rows.count == count)
        }
    }
}

/// A tmpfs of a few pages mounted on a fresh directory, unmounted when the value goes away,
/// whatever the test's outcome.
final class SmallTmpfs {
    let directory: TemporaryDirectory
    var path: String { directory.path }

    init(bytes: Int) throws {
        directory = try TemporaryDirectory()
        guard mount("tmpfs", directory.path, "tmpfs", 0, "size=\(bytes),mode=0700") == 0 else {
            throw POSIXError(.init(rawValue: errno) ?? .EPERM)
        }
    }

    deinit { umount2(directory.path, Int32(MNT_DETACH)) }
}
