@testable import FlowwatchPcap
import Foundation
import Testing

/// Capture files write their full buffers on a thread of their own (`WriteBehind`), which also
/// compresses them into gzip members: the file still grows in whole buffers, an explicit flush
/// still means the bytes are in the file, and a failed write still leaves whole records and
/// reaches the caller.
@Suite struct WriteBehindTests {
    @Test("buffers reach the file in order, all of them once sync returns")
    func buffersInOrder() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("raw")
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        try #require(fd >= 0)
        defer { close(fd) }
        let writer = WriteBehind(appender: BufferAppender(descriptor: fd, path: path, gzip: nil), capacity: 64, slots: 2)
        var expected: [UInt8] = []
        for round in 0..<50 {
            let bytes = (0..<(round % 64 + 1)).map { UInt8(truncatingIfNeeded: round * 7 + $0) }
            writer.buffer.copyMemory(from: bytes, byteCount: bytes.count)
            writer.submit(count: bytes.count, packets: 1)
            expected += bytes
        }
        writer.sync()
        #expect(try fileBytes(path) == expected)
        #expect(writer.packetsWritten == 50 && writer.failure == nil)
        writer.stop()
    }

    /// The descriptor fails (`/dev/full`), then, under the same number, takes writes (a file):
    /// what is handed over after the failure must still not be written.
    @Test("a write that fails is reported, and nothing handed over after it is written")
    func failureStopsWriting() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("after")
        let file = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        let fd = open("/dev/full", O_WRONLY | O_CLOEXEC)
        try #require(file >= 0 && fd >= 0)
        defer { close(fd); close(file) }
        let writer = WriteBehind(appender: BufferAppender(descriptor: fd, path: "/dev/full", gzip: nil), capacity: 16, slots: 3)
        writer.buffer.initializeMemory(as: UInt8.self, repeating: 1, count: 16)
        writer.submit(count: 16, packets: 2)
        writer.sync()
        #expect(writer.failure == .write(path: "/dev/full", SystemError(ENOSPC)))
        try #require(dup2(file, fd) == fd)
        for _ in 0..<5 {
            writer.buffer.initializeMemory(as: UInt8.self, repeating: 1, count: 16)
            writer.submit(count: 16, packets: 2)
        }
        writer.sync()
        #expect(try fileBytes(path).isEmpty)
        #expect(writer.packetsWritten == 0)
        writer.stop()
    }

    /// The disk fills while buffers are written behind, with no flush to wait on: a later write
    /// (or the close) throws, and the file holds the packets of the buffers written whole.
    @Test(.enabled(if: Tools.privilegedEnabled, Tools.privilegedReason), arguments: ["flow.pcap", "flow.pcapng", "flow.pcap.gz"])
    func fullDiskBehind(name: String) throws {
        // A few buffers' worth: 4 whole buffers, or a few compressed members.
        let disk = try SmallTmpfs(bytes: name.hasSuffix(".gz") ? 64 * 1024 : 1024 * 1024)
        let path = disk.path + "/" + name
        let writer = try FailureTests.writer(path)
        let (failure, sent) = FailureTests.writeUntilFailure(writer, flushEvery: nil)
        let expectedFailure = CaptureError.write(path: path, SystemError(ENOSPC))
        #expect(failure == expectedFailure)
        #expect(throws: expectedFailure) { try writer.close() }
        let written = writer.packetsWritten
        #expect(written > 0 && written < sent, "\(written) of \(sent) packets written")
        try FailureTests.expectReadable(path, packets: written, in: TemporaryDirectory())
    }

    @Test("packets handed over reach the file without a flush", arguments: ReaderTests.formats)
    func handedOver(name: String) throws {
        let directory = try TemporaryDirectory()
        let path = directory.file(name)
        let writer = try FailureTests.writer(path)
        try writer.write(Packets.flow(30))
        try writer.handOver()
        let deadline = Date().addingTimeInterval(5)
        while writer.packetsWritten < 30 && Date() < deadline { usleep(1000) }
        #expect(writer.packetsWritten == 30)
        try FailureTests.expectReadable(path, packets: 30, in: directory)
        try writer.close()
    }

    @Test("a record larger than a buffer is written whole between the others", arguments: ["big.pcap", "big.pcapng"])
    func recordLargerThanABuffer(name: String) throws {
        let directory = try TemporaryDirectory()
        let path = directory.file(name)
        let writer: any CaptureWriter = name.hasSuffix(".pcapng")
            ? try PcapngWriter(path: path, snapshotLength: 0)
            : try PcapWriter(path: path, snapshotLength: 0)
        var packets = Packets.flow(3000)
        packets[1500] = Packets.flowPacket(1500, capture: 262_144, length: 262_144)
        for packet in packets { try writer.write(packet) }
        try writer.close()
        let read = try LibpcapReader.read(path).packets
        #expect(read.count == packets.count)
        #expect(read.map(\.bytes) == packets.map { Array($0.bytes) })
    }
}
