import Foundation
import Glibc
import Testing
@testable import FlowwatchCore

/// The writer and reader on real files, including full disks.
@Suite struct RecordFileTests {
    static let header = RecordFormatTests.header

    /// A fresh directory, removed after `body` on every path.
    func withTemporaryDirectory(_ body: (String) throws -> Void) throws {
        var template = Array("/tmp/flowwatch-record-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw RecordingFileError(path: "/tmp", problem: .system(operation: "mkdtemp", errno: errno)) }
        let dir = String(cString: made)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try body(dir)
    }

    func contents(_ path: String) -> [UInt8] {
        FileManager.default.contents(atPath: path).map { [UInt8]($0) } ?? []
    }

    func fileMode(_ path: String) -> mode_t {
        var st = stat()
        return stat(path, &st) == 0 ? st.st_mode & 0o777 : 0
    }

    /// Everything a reader gives for a file.
    func readAll(_ path: String, chunkSize: Int = 256 << 10) throws(RecordingFileError) -> (RecordingReader, [RawSample]) {
        let reader = try RecordingReader(path: path, chunkSize: chunkSize)
        var samples: [RawSample] = []
        while let sample = try reader.next() { samples.append(sample) }
        return (reader, samples)
    }

    @Test("a file written in buffered chunks reads back identically, in any read chunk size")
    func roundTrip() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/capture.fwrec"
            let samples = RecordDecoderTests.samples
            let writer = try RecordingWriter(path: path, header: Self.header, bufferSize: 1000)
            for sample in samples { try writer.append(sample) }
            try writer.close(sync: true)
            #expect(writer.recordsWritten == UInt64(samples.count) && writer.recordsNotWritten == 0)
            #expect(contents(path) == recordingBytes(Self.header, samples))
            #expect(fileMode(path) == 0o600)
            for chunk in [1, 7, 4096, 256 << 10] where chunk > 1 || samples.count < 50 {
                let (reader, read) = try readAll(path, chunkSize: chunk)
                #expect(read == samples, "chunk size \(chunk)")
                #expect(reader.header == Self.header && reader.truncation == nil)
                #expect(reader.recordsRead == UInt64(samples.count) && reader.version == .current)
            }
            // Byte-sized reads on a smaller file.
            let small = dir + "/small.fwrec"
            let w = try RecordingWriter(path: small, header: Self.header)
            for sample in RecordDecoderTests.small { try w.append(sample) }
            try w.close()
            #expect(try readAll(small, chunkSize: 1).1 == RecordDecoderTests.small)
        }
    }

    @Test("records stay in memory until the buffer fills or flush, then go out in one piece")
    func buffering() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/buffered.fwrec"
            let headerSize = recordOffsets(Self.header, [])[0]
            let writer = try RecordingWriter(path: path, header: Self.header, bufferSize: 64 << 10)
            #expect(contents(path).count == headerSize)  // the header is written at once
            let sample = RawSample(cpu: 1, timestamp: 2, kind: .event([UInt8](repeating: 7, count: 100)))  // 128-byte records
            for _ in 0..<500 { try writer.append(sample) }
            #expect(contents(path).count == headerSize)
            for _ in 500..<512 { try writer.append(sample) }  // 512 * 128 = 64 KiB: one write
            #expect(contents(path).count == headerSize + 512 * 128)
            try writer.append(sample)
            try writer.flush()
            #expect(contents(path).count == headerSize + 513 * 128)
            try writer.close()
        }
    }

    @Test("an existing file is never replaced unless asked; an overwritten one becomes private")
    func overwrite() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/exists.fwrec"
            _ = FileManager.default.createFile(atPath: path, contents: Data("keep".utf8), attributes: [.posixPermissions: 0o644])
            #expect(throws: RecordingFileError(path: path, problem: .exists)) {
                try RecordingWriter(path: path, header: Self.header)
            }
            #expect(contents(path) == Array("keep".utf8))
            #expect(RecordingFileError(path: path, problem: .exists).description.contains("already exists"))
            let writer = try RecordingWriter(path: path, header: Self.header, overwrite: true)
            try writer.append(RecordDecoderTests.small[0])
            try writer.close()
            #expect(fileMode(path) == 0o600)
            #expect(try readAll(path).1 == [RecordDecoderTests.small[0]])
        }
    }

    @Test("/dev/full: the header write fails with ENOSPC, naming the file")
    func devFull() {
        #expect(throws: RecordingFileError(path: "/dev/full", problem: .exists)) {
            try RecordingWriter(path: "/dev/full", header: Self.header)
        }
        #expect(throws: RecordingFileError(path: "/dev/full", problem: .writeFailed(errno: ENOSPC, recordsInFile: 0, recordsNotWritten: 0))) {
            try RecordingWriter(path: "/dev/full", header: Self.header, overwrite: true)
        }
    }

    @Test("a full file system stops the writer with a clear error and leaves whole records behind",
          .enabled(if: geteuid() == 0, "mounting a small tmpfs needs root"))
    func fullFileSystem() throws {
        try withTemporaryDirectory { dir in
            guard mount("tmpfs", dir, "tmpfs", 0, "size=64k") == 0 else {
                Issue.record("cannot mount a tmpfs on \(dir): \(String(cString: strerror(errno)))")
                return
            }
            defer { _ = umount2(dir, Int32(MNT_DETACH)) }
            let path = dir + "/full.fwrec"
            let writer = try RecordingWriter(path: path, header: Self.header)
            var rng = RobustnessTests.Generator(state: 9)
            var appended: [RawSample] = []
            var failure: RecordingFileError?
            for i in 0..<10_000 where failure == nil {
                let sample = RawSample(cpu: UInt32(i % 4), timestamp: UInt64(i),
                                       kind: .event((0..<Int(rng.next() % 3000)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }))
                appended.append(sample)
                do throws(RecordingFileError) { try writer.append(sample) } catch { failure = error }
            }
            let kept = writer.recordsWritten
            #expect(failure == RecordingFileError(path: path, problem: .writeFailed(
                errno: ENOSPC, recordsInFile: kept, recordsNotWritten: UInt64(appended.count) - kept)))
            #expect(failure?.description.hasPrefix("\(path): write failed: No space left on device (ENOSPC)") == true)
            #expect(kept > 0 && writer.recordsNotWritten > 0)
            // Stopped: later calls say why, and count what they refuse.
            let stopped = RecordingFileError(path: path, problem: .stopped(errno: ENOSPC))
            #expect(throws: stopped) { try writer.append(appended[0]) }
            #expect(throws: stopped) { try writer.flush() }
            #expect(writer.recordsWritten + writer.recordsNotWritten == UInt64(appended.count) + 1)
            try writer.close()
            // The file was cut back to its last whole record: no tail, nothing wrong.
            let (reader, read) = try readAll(path)
            #expect(read == Array(appended.prefix(Int(kept))))
            #expect(reader.truncation == nil)
        }
    }

    @Test("a recorder killed mid-record leaves a file that replays up to the cut")
    func killedRecorder() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/killed.fwrec"
            let writer = try RecordingWriter(path: path, header: Self.header)
            for sample in RecordDecoderTests.small { try writer.append(sample) }
            try writer.flush()
            let offsets = recordOffsets(Self.header, RecordDecoderTests.small)
            #expect(truncate(path, off_t(offsets[3] - 5)) == 0)
            let (reader, read) = try readAll(path)
            #expect(read == Array(RecordDecoderTests.small.prefix(2)))
            #expect(reader.truncation == RecordingTruncation(offset: offsets[2], bytes: offsets[3] - 5 - offsets[2]))
            try writer.close()
        }
    }

    /// What a reader gives for a file, through `next()` or `forEach(inPlace:)`, and the error
    /// that stopped it.
    func readUntilError(_ path: String, chunkSize: Int, inPlace: Bool) throws
        -> (RecordingReader, [RawSample], RecordingFileError?)
    {
        let reader = try RecordingReader(path: path, chunkSize: chunkSize)
        var samples: [RawSample] = []
        do throws(RecordingFileError) {
            if inPlace {
                var arrays = SampleArrays()
                try reader.forEach { view in
                    samples.append(view.sample(arrays: &arrays))
                    return true
                }
            } else {
                while let sample = try reader.next() { samples.append(sample) }
            }
        } catch {
            return (reader, samples, error)
        }
        return (reader, samples, nil)
    }

    @Test("records read ahead are checked: damage anywhere is found where it lies, after every record before it",
          arguments: [4096, 64 << 10])
    func readAheadFindsDamage(chunkSize: Int) throws {
        try withTemporaryDirectory { dir in
            let samples = RecordDecoderTests.samples
            let clean = recordingBytes(Self.header, samples)
            let offsets = recordOffsets(Self.header, samples)
            #expect(clean.count > 8 * chunkSize, "most records must come through the read-ahead")
            for (k, byte) in [(40, 3), (150, 21), (150, 30), (299, 26)] where k < samples.count {
                var file = clean
                file[offsets[k] + byte] ^= 0x10
                let path = dir + "/damaged-\(k)-\(byte).fwrec"
                _ = FileManager.default.createFile(atPath: path, contents: Data(file))
                // What the decoder says of the same bytes, fed whole.
                var decoder = RecordingDecoder()
                decoder.feed(file)
                decoder.finish()
                var expected: RecordingError?
                do throws(RecordingError) { while try decoder.next() != nil {} } catch { expected = error }
                guard let expected else {
                    Issue.record("damage at \(offsets[k] + byte) not found by the decoder")
                    continue
                }
                guard case .checksumMismatch(offsets[k], _, _, _) = expected else {
                    Issue.record("\(expected)")
                    continue
                }
                for inPlace in [false, true] {
                    let (_, read, error) = try readUntilError(path, chunkSize: chunkSize, inPlace: inPlace)
                    let before = read == Array(samples.prefix(k))
                    #expect(before, "record \(k), byte \(byte), in place: \(inPlace): \(read.count) records read")
                    #expect(error == RecordingFileError(path: path, problem: .format(expected)))
                }
            }
            // A cut in the middle of a record read ahead: the records before it, and the cut tail.
            let path = dir + "/cut.fwrec"
            _ = FileManager.default.createFile(atPath: path, contents: Data(clean.prefix(offsets[200] + 30)))
            let (reader, read, error) = try readUntilError(path, chunkSize: chunkSize, inPlace: true)
            let before = read == Array(samples.prefix(200))
            #expect(error == nil && before, "\(read.count) records read")
            #expect(reader.truncation == RecordingTruncation(offset: offsets[200], bytes: 30))
        }
    }

    @Test("names from interface records read ahead apply to the samples after them, as when decoded whole",
          arguments: [64, 4096])
    func readAheadNames(chunkSize: Int) throws {
        try withTemporaryDirectory { dir in
            var bytes = RecordingFormat.encodeHeader(fields: RecordingFormat.encodeFields(Self.header))
            for i in 0..<3000 {
                if i % 7 == 0 {
                    RecordingFormat.appendInterface(ifindex: UInt32(i % 5), name: "lxc\(i)", timestamp: UInt64(i), to: &bytes)
                }
                let kind: RawSample.Kind = i % 11 == 0 ? .lost(UInt64(i)) : .event([UInt8](repeating: UInt8(i % 256), count: i % 90))
                RecordingFormat.appendRecord(RawSample(cpu: UInt32(i % 3), timestamp: UInt64(i), kind: kind), to: &bytes)
            }
            let path = dir + "/names.fwrec"
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
            // What the decoder gives, fed the whole file: each sample with the names as of it.
            var decoder = RecordingDecoder()
            decoder.feed(bytes)
            decoder.finish()
            var expected: [(RawSample, [String?])] = []
            while let sample = try decoder.next() { expected.append((sample, (0..<5).map { decoder.interfaceName($0) })) }
            #expect(expected.count == 3000)

            let reader = try RecordingReader(path: path, chunkSize: chunkSize)
            var arrays = SampleArrays()
            var read: [(RawSample, [String?])] = []
            try reader.forEach { view in
                read.append((view.sample(arrays: &arrays), (0..<5).map { reader.interfaceName($0) }))
                return true
            }
            #expect(read.count == expected.count && reader.recordsRead == 3000 && reader.truncation == nil)
            let same = zip(read, expected).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
            #expect(same)
            #expect(reader.interfaceNames == decoder.interfaceNames)
        }
    }

    /// Read-ahead threads of this process waiting in read(2) on a pipe (the kernel's wait
    /// channel); those of other tests read regular files.
    func threadsReadingAPipe() -> Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.filter { task in
            let read = { (file: String) in try? String(contentsOfFile: "/proc/self/task/\(task)/\(file)", encoding: .utf8) }
            return read("comm")?.hasPrefix("fw-readahead") == true && read("wchan")?.contains("pipe_read") == true
        }.count
    }

    /// Open descriptors of this process that name `path`.
    func descriptors(naming path: String) -> Int {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return entries.filter { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + $0)) == path }.count
    }

    @Test("a reader dropped while its read-ahead waits on a pipe returns at once; the pipe closes when the writer does")
    func readAheadOnAPipe() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/pipe.fwrec"
            #expect(mkfifo(path, 0o600) == 0)
            // Read and write on one descriptor: opening a FIFO so does not wait for a reader.
            let writer = open(path, O_RDWR | O_CLOEXEC)
            #expect(writer >= 0)
            func send(_ bytes: [UInt8]) { #expect(write(writer, bytes, bytes.count) == bytes.count) }
            let small = RecordDecoderTests.small
            let all = recordingBytes(Self.header, small + small)
            let half = recordOffsets(Self.header, small)[small.count]
            send(Array(all[..<half]))
            do {
                let reader = try RecordingReader(path: path, chunkSize: 4096)
                for sample in small { #expect(try reader.next() == sample) }
                send(Array(all[half...]))
                // Read by the read-ahead, which then waits in read(2) for more.
                for sample in small { #expect(try reader.next() == sample) }
                #expect(descriptors(naming: path) == 2)
                var waited = 0
                while threadsReadingAPipe() == 0 && waited < 500 {
                    usleep(10_000)
                    waited += 1
                }
                #expect(threadsReadingAPipe() > 0, "the read-ahead never waited in read(2)")
            }
            // Dropped without waiting for the read-ahead, which still holds the pipe.
            #expect(descriptors(naming: path) == 2)
            close(writer)
            var waited = 0
            while descriptors(naming: path) > 0 && waited < 500 {
                usleep(10_000)
                waited += 1
            }
            #expect(descriptors(naming: path) == 0)
        }
    }

    @Test("writing after close, or a sample over the limit, throws and is counted")
    func refusedAppends() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/refused.fwrec"
            let writer = try RecordingWriter(path: path, header: Self.header)
            let huge = RawSample(cpu: 0, timestamp: 0, kind: .event([UInt8](repeating: 0, count: RecordingFormat.maxPayloadLength + 1)))
            #expect(throws: RecordingFileError(path: path, problem: .sampleTooLarge(bytes: RecordingFormat.maxPayloadLength + 1))) {
                try writer.append(huge)
            }
            try writer.append(RecordDecoderTests.small[0])  // the writer goes on
            try writer.close()
            try writer.close()
            #expect(throws: RecordingFileError(path: path, problem: .closed)) { try writer.append(RecordDecoderTests.small[1]) }
            #expect(throws: RecordingFileError(path: path, problem: .closed)) { try writer.flush() }
            #expect(writer.recordsWritten == 1 && writer.recordsNotWritten == 2)
            #expect(try readAll(path).1 == [RecordDecoderTests.small[0]])
        }
    }

    @Test("a header over the size limit is refused before a file is created")
    func headerTooLarge() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/big-config.fwrec"
            var header = Self.header
            header.configText = String(repeating: "#", count: RecordingFormat.maxFieldsLength)
            #expect(throws: RecordingFileError.self) { try RecordingWriter(path: path, header: header) }
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }

    @Test("reading names the file: missing, a directory, corrupt")
    func readErrors() throws {
        try withTemporaryDirectory { dir in
            #expect(throws: RecordingFileError(path: dir + "/none", problem: .system(operation: "open", errno: ENOENT))) {
                try RecordingReader(path: dir + "/none")
            }
            #expect(throws: RecordingFileError(path: dir, problem: .system(operation: "read", errno: EISDIR))) {
                try RecordingReader(path: dir)
            }
            let path = dir + "/corrupt.fwrec"
            var file = recordingBytes(Self.header, RecordDecoderTests.small)
            let offsets = recordOffsets(Self.header, RecordDecoderTests.small)
            file[offsets[1] + 3] ^= 4
            _ = FileManager.default.createFile(atPath: path, contents: Data(file))
            let reader = try RecordingReader(path: path)
            #expect(try reader.next() == RecordDecoderTests.small[0])
            do throws(RecordingFileError) {
                _ = try reader.next()
                Issue.record("corruption not found")
            } catch {
                guard case .format(.checksumMismatch(offsets[1], .recordHeader, _, _)) = error.problem else {
                    Issue.record("\(error)")
                    return
                }
                #expect(error.description.hasPrefix("\(path): corrupt record header at offset \(offsets[1]): stored CRC-32 0x"))
            }
            let text = dir + "/config.yaml"
            _ = FileManager.default.createFile(atPath: text, contents: Data("node: n1\n".utf8))
            #expect(throws: RecordingFileError(path: text, problem: .format(.notARecording))) { try RecordingReader(path: text) }
            let empty = dir + "/empty.fwrec"
            _ = FileManager.default.createFile(atPath: empty, contents: Data())
            #expect(throws: RecordingFileError(path: empty, problem: .format(.truncatedHeader(have: 0, needed: 20)))) {
                try RecordingReader(path: empty)
            }
        }
    }
}
