import CFlowwatchCRC
import Testing
@testable import FlowwatchCore

/// What decoding a recording gives, compared as a whole so that different ways of feeding the
/// same bytes can be checked for identical results.
struct RecordingOutcome: Equatable, CustomStringConvertible {
    var header: RecordingHeader?
    var samples: [RawSample] = []
    var truncation: RecordingTruncation?
    var error: RecordingError?

    var description: String {
        "header: \(header != nil), \(samples.count) samples, truncation: \(truncation.map(\.description) ?? "none"), "
            + "error: \(error.map(\.description) ?? "none")"
    }
}

/// Decodes `bytes` fed in pieces of the given sizes (the rest in one piece), draining after each;
/// `inPlace` takes each record through `forEach(inPlace:)`, stopping it after every third
/// record, and copies it here.
func decodeRecording(_ bytes: [UInt8], chunks: [Int] = [], inPlace: Bool = false) -> RecordingOutcome {
    var decoder = RecordingDecoder()
    var outcome = RecordingOutcome()
    func drain() -> Bool {
        do throws(RecordingError) {
            if inPlace {
                while try !decoder.forEach(inPlace: { view in
                    outcome.samples.append(RawSample(cpu: view.cpu, timestamp: view.timestamp,
                                                     kind: view.lostCount.map { .lost($0) } ?? .event(Array(view.bytes))))
                    return outcome.samples.count % 3 != 0
                }) {}
            } else {
                while let sample = try decoder.next() { outcome.samples.append(sample) }
            }
            return true
        } catch {
            outcome.error = error
            return false
        }
    }
    var at = 0
    var sizes = chunks.makeIterator()
    while at < bytes.count {
        let n = min(sizes.next() ?? bytes.count, bytes.count - at)
        decoder.feed(bytes[at..<at + n])
        at += n
        guard drain() else {
            outcome.header = decoder.header
            return outcome
        }
    }
    decoder.finish()
    _ = drain()
    outcome.header = decoder.header
    outcome.truncation = decoder.truncation
    return outcome
}

/// A recording's bytes as the writer lays them out.
func recordingBytes(_ header: RecordingHeader, _ samples: [RawSample]) -> [UInt8] {
    var out = RecordingFormat.encodeHeader(fields: RecordingFormat.encodeFields(header))
    for sample in samples { RecordingFormat.appendRecord(sample, to: &out) }
    return out
}

/// Where each record starts in `recordingBytes(header, samples)`, and where the last one ends.
func recordOffsets(_ header: RecordingHeader, _ samples: [RawSample]) -> [Int] {
    var offsets = [RecordingFormat.encodeHeader(fields: RecordingFormat.encodeFields(header)).count]
    for sample in samples {
        var record: [UInt8] = []
        RecordingFormat.appendRecord(sample, to: &record)
        offsets.append(offsets[offsets.count - 1] + record.count)
    }
    return offsets
}

/// A record with any kind, reserved bytes and length, with correct checksums, to reach the
/// checks behind them.
func craftedRecord(length: UInt32, kind: UInt8, reserved: [UInt8] = [0, 0, 0], cpu: UInt32 = 0, timestamp: UInt64 = 0,
                   payload: [UInt8] = []) -> [UInt8] {
    let head = bytes {
        le32(length)
        u8(kind)
        reserved
        le32(cpu)
        le64(timestamp)
    }
    return head + le32(CRC32.checksum(head)) + payload + le32(CRC32.checksum(payload))
}

/// One header field as the format encodes it.
func headerField(_ tag: UInt16, _ value: [UInt8]) -> [UInt8] {
    le16(tag) + le32(UInt32(value.count)) + value
}

@Suite struct RecordFormatTests {
    static let header = RecordingHeader(
        nodeName: "n1", wallClockOffset: 1_700_000_000_000_000_000, startBoottime: 5_000_000_000,
        startWallClock: 1_700_000_005_000_000_000, cpuCount: 2, flowwatchVersion: "0.1.0", captureLength: 128,
        debugMessages: true, configText: "node: n1\n", configPath: "node.yaml")

    static let samples = [
        RawSample(cpu: 1, timestamp: 5_000_001_000, kind: .event([0xDE, 0xAD, 0xBE, 0xEF])),
        RawSample(cpu: 0, timestamp: 5_000_002_000, kind: .lost(3)),
    ]

    /// The example of docs/recording-format.md, one field per line. The checksums were computed
    /// with Python's zlib.crc32, an implementation independent of ours.
    static let example: [UInt8] = bytes {
        raw(0x89, 0x46, 0x57, 0x52, 0x0D, 0x0A, 0x1A, 0x0A)  // magic
        le16(1)                                              // major version
        le16(0)                                              // minor version
        le32(118)                                            // fields length
        le32(0xF570_D99C)                                    // CRC-32 of bytes 0..<16
        le16(1); le32(2); Array("n1".utf8)                   // node name
        le16(2); le32(8); le64(1_700_000_000_000_000_000)    // wall-clock offset
        le16(3); le32(8); le64(5_000_000_000)                // start boot time
        le16(4); le32(8); le64(1_700_000_005_000_000_000)    // start wall clock
        le16(5); le32(4); le32(2)                            // CPU count
        le16(6); le32(5); Array("0.1.0".utf8)                // flowwatch version
        le16(7); le32(4); le32(128)                          // capture length
        le16(8); le32(1); u8(1)                              // debug messages
        le16(9); le32(9); Array("node: n1\n".utf8)           // config text
        le16(10); le32(9); Array("node.yaml".utf8)           // config path
        le32(0xC97C_9ACD)                                    // CRC-32 of the fields
        // record at offset 142
        le32(4)                                              // payload length
        u8(1); zeros(3)                                      // kind: sample, reserved
        le32(1)                                              // CPU
        le64(5_000_001_000)                                  // timestamp
        le32(0x7186_47F3)                                    // CRC-32 of the 20 bytes before
        raw(0xDE, 0xAD, 0xBE, 0xEF)                          // payload
        le32(0x7C9C_A35A)                                    // CRC-32 of the payload
        // record at offset 174
        le32(8)                                              // payload length
        u8(2); zeros(3)                                      // kind: lost, reserved
        le32(0)                                              // CPU
        le64(5_000_002_000)                                  // timestamp
        le32(0x8155_A039)                                    // CRC-32 of the 20 bytes before
        le64(3)                                              // lost samples
        le32(0xEBAD_D88A)                                    // CRC-32 of the payload
    }

    @Test("CRC-32 gives the IEEE check values, and folding and tables agree with the bytewise definition")
    func crc() {
        #expect(CRC32.checksum([]) == 0)
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum(Array("The quick brown fox jumps over the lazy dog".utf8)) == 0x414F_A339)
        var rng = RobustnessTests.Generator(state: 7)
        let data = (0..<300).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        for start in 0..<9 {
            // Every length up to 100 (the 16-byte folding threshold, the 64-byte four-lane one and
            // the tails between), then longer ones.
            for end in Array(start...start + 100) + Array(stride(from: start + 101, through: data.count, by: 13)) {
                var reference: UInt32 = 0xFFFF_FFFF
                for byte in data[start..<end] {
                    reference ^= UInt32(byte)
                    for _ in 0..<8 { reference = reference & 1 == 1 ? 0xEDB8_8320 ^ (reference >> 1) : reference >> 1 }
                }
                let fast = data.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
                #expect(fast == ~reference, "bytes \(start)..<\(end)")
                let portable = data.withUnsafeBytes { fw_crc32_portable(0, $0.baseAddress! + start, end - start) }
                #expect(portable == ~reference, "bytes \(start)..<\(end), tables only")
                // Continuing over a split gives the same as one pass.
                let split = data.withUnsafeBytes {
                    let mid = (start + end) / 2
                    let first = CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[start..<mid]))
                    return CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[mid..<end]), continuing: first)
                }
                #expect(split == fast)
                // A pair in one call: this range and the 20 bytes a record header checks.
                let pair = data.withUnsafeBytes {
                    CRC32.checksums(UnsafeRawBufferPointer(rebasing: $0[start + 1..<start + 21]),
                                    UnsafeRawBufferPointer(rebasing: $0[start..<end]))
                }
                let header = data.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[start + 1..<start + 21])) }
                #expect(pair.0 == header && pair.1 == fast, "pair with bytes \(start)..<\(end)")
            }
        }
    }

    @Test("the documented example is what the encoder writes and decodes back")
    func documentedExample() {
        #expect(recordingBytes(Self.header, Self.samples) == Self.example)
        #expect(recordOffsets(Self.header, Self.samples) == [142, 174, 210])
        let outcome = decodeRecording(Self.example)
        #expect(outcome == RecordingOutcome(header: Self.header, samples: Self.samples))
    }

    @Test("every record kind round-trips: empty, small, 64 KiB and largest payloads, extreme values")
    func recordsRoundTrip() {
        var rng = RobustnessTests.Generator(state: 1)
        let big = (0..<65536).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let samples = [
            RawSample(cpu: 0, timestamp: 0, kind: .event([])),
            RawSample(cpu: 7, timestamp: 123, kind: .event([1])),
            RawSample(cpu: 3, timestamp: 1 << 40, kind: .event(big)),
            RawSample(cpu: 2, timestamp: 9, kind: .lost(0)),
            RawSample(cpu: .max, timestamp: .max, kind: .lost(.max)),
            RawSample(cpu: 1, timestamp: 10, kind: .event([UInt8](repeating: 0xA5, count: RecordingFormat.maxPayloadLength))),
            RawSample(cpu: 1, timestamp: 11, kind: .event(Array(big[0..<65535]))),
        ]
        let outcome = decodeRecording(recordingBytes(Self.header, samples))
        #expect(outcome.error == nil && outcome.truncation == nil)
        #expect(outcome.samples == samples)
    }

    @Test("the header round-trips, with unicode text, and its config parses as the original does")
    func headerRoundTrip() throws {
        let config = """
            node: "nœud-1 🚀"
            hostEndpoint: 3000
            endpoints:
              - {id: 2073, interface: lxc1, identity: 22099, pod: "café-☕", namespace: "日本", labels: ["k8s:app=ünïcode"], ips: [10.244.0.102]}
            identities:
              - {id: 17840, labels: ["k8s:app=サーバー"]}

            """
        let headers = [
            RecordingHeader(nodeName: "nœud-1 🚀", wallClockOffset: -5, startBoottime: .max, startWallClock: .min,
                            cpuCount: .max, flowwatchVersion: "0.1.0-dev+ü", captureLength: 0, debugMessages: false,
                            configText: config, configPath: "/etc/flowwatch/nœud.yaml"),
            RecordingHeader(nodeName: "", wallClockOffset: 0, startBoottime: 0, startWallClock: 0, cpuCount: 0,
                            flowwatchVersion: "", captureLength: 65000, debugMessages: true),
        ]
        for header in headers {
            let outcome = decodeRecording(recordingBytes(header, []))
            #expect(outcome == RecordingOutcome(header: header))
        }
        #expect(try headers[0].config() == NodeConfig.parse(config))
        #expect(try headers[0].config()?.endpoints.first?.pod == "café-☕")
        #expect(try headers[1].config() == nil)
        #expect(headers[0].wallClock(boottime: 10) == 5)
    }

    @Test("a config snapshot that no longer parses names itself in the error")
    func badConfigSnapshot() {
        let header = RecordingHeader(nodeName: "n", wallClockOffset: 0, startBoottime: 0, startWallClock: 0, cpuCount: 1,
                                     flowwatchVersion: "x", captureLength: 0, debugMessages: false,
                                     configText: "nodes: x\n", configPath: "/etc/fw.yaml")
        #expect(throws: ConfigError.self) { try header.config() }
        do { _ = try header.config() } catch { #expect(error.description.hasPrefix("recorded config (/etc/fw.yaml):1:1")) }
    }

    @Test("unknown major versions are refused; newer minor versions and unknown header fields are read")
    func versions() throws {
        let fields = RecordingFormat.encodeFields(Self.header)
        for major: UInt16 in [0, 2, 0xFFFF] {
            let file = RecordingFormat.encodeHeader(fields: fields, version: RecordingVersion(major: major, minor: 3))
            let outcome = decodeRecording(file)
            #expect(outcome.error == .unsupportedVersion(major: major, minor: 3))
            #expect(outcome.error?.description.contains("version \(major).3 at offset 8") == true)
        }
        // A 1.5 writer added fields 200 and 11; a 1.0 reader skips them, wherever they are.
        let newer = headerField(200, [1, 2, 3]) + fields + headerField(11, [])
        var file = RecordingFormat.encodeHeader(fields: newer, version: RecordingVersion(major: 1, minor: 5))
        RecordingFormat.appendRecord(Self.samples[0], to: &file)
        var decoder = RecordingDecoder()
        decoder.feed(file)
        decoder.finish()
        #expect(try decoder.next() == Self.samples[0])
        #expect(decoder.header == Self.header)
        #expect(decoder.version == RecordingVersion(major: 1, minor: 5))
        #expect(decoder.ignoredHeaderFields == [200, 11])
    }

    static let malformedHeaders: [(fields: [UInt8], error: RecordingError)] = {
        let f = RecordingFormat.encodeFields(header)
        // Offsets into `f` of each field, from the encoder's order.
        let name = headerField(1, Array("n1".utf8))
        let withoutName = Array(f[name.count...])
        return [
            (withoutName, .malformedHeader(offset: 20, reason: "required field 1 (node name) is missing")),
            (f + name, .malformedHeader(offset: 20 + f.count, reason: "field 1 (node name) appears twice")),
            (headerField(5, [2, 0]) + f, .malformedHeader(offset: 20, reason: "field 5 (CPU count) has 2 bytes, expected 4")),
            (headerField(8, [2]) + f, .malformedHeader(offset: 20, reason: "field 8 (debug messages) is 2, expected 0 or 1")),
            (headerField(1, [0x6E, 0xFF]) + withoutName,
             .malformedHeader(offset: 20, reason: "field 1 (node name) is not valid UTF-8")),
            (f + le16(99) + le32(10) + [1, 2], .malformedHeader(offset: 20 + f.count, reason: "field 99 declares 10 bytes, 2 are left in the header")),
            (f + [9, 0, 1], .malformedHeader(offset: 20 + f.count, reason: "a field header needs 6 bytes, 3 are left")),
        ]
    }()

    @Test("a header with intact checksums but wrong fields is refused with the field's offset",
          arguments: malformedHeaders.indices)
    func malformedHeader(index: Int) {
        let (fields, error) = Self.malformedHeaders[index]
        #expect(decodeRecording(RecordingFormat.encodeHeader(fields: fields)).error == error)
    }

    @Test("an absurd fields length is refused from the preamble alone")
    func hugeFieldsLength() {
        let preamble = RecordingFormat.magic + le16(1) + le16(0) + le32(UInt32(RecordingFormat.maxFieldsLength + 1))
        let outcome = decodeRecording(preamble + le32(CRC32.checksum(preamble)))
        #expect(outcome.error == .malformedHeader(offset: 12, reason: "header fields length 16777217 is over the 16777216-byte limit"))
    }

    static let invalidRecords: [(record: [UInt8], error: RecordingError)] = [
        (craftedRecord(length: 0, kind: 0), .unknownRecordKind(offset: 142, kind: 0)),
        (craftedRecord(length: 4, kind: 4, payload: [1, 2, 3, 4]), .unknownRecordKind(offset: 142, kind: 4)),
        (craftedRecord(length: 20, kind: 3, payload: [UInt8](repeating: 0x41, count: 20)), .impossibleRecordLength(offset: 142, kind: 3, length: 20)),
        (craftedRecord(length: 7, kind: 2, payload: [1, 2, 3, 4, 5, 6, 7]), .impossibleRecordLength(offset: 142, kind: 2, length: 7)),
        (craftedRecord(length: 0, kind: 2), .impossibleRecordLength(offset: 142, kind: 2, length: 0)),
        // The header alone is enough: a length that cannot be is not mistaken for a cut tail.
        (Array(craftedRecord(length: UInt32(RecordingFormat.maxPayloadLength + 1), kind: 1).prefix(24)),
         .impossibleRecordLength(offset: 142, kind: 1, length: 16_777_217)),
        (craftedRecord(length: 0, kind: 1, reserved: [0, 0, 1]), .reservedBitsSet(offset: 142)),
    ]

    @Test("a record with intact checksums but an impossible kind, length or reserved bits is refused",
          arguments: invalidRecords.indices)
    func invalidRecord(index: Int) {
        let (record, error) = Self.invalidRecords[index]
        let file = recordingBytes(Self.header, []) + record + recordingBytes(Self.header, Self.samples)[142...]
        let outcome = decodeRecording(file)
        #expect(outcome.error == error)
        #expect(outcome.samples.isEmpty)
    }

    @Test("what is not a recording says so; an empty or short file is a truncated header")
    func notARecording() {
        #expect(decodeRecording(Array("node: n1\n".utf8)).error == .notARecording)
        #expect(decodeRecording([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]).error == .notARecording)  // PNG
        #expect(decodeRecording([0x0A]).error == .notARecording)
        #expect(decodeRecording([]).error == .truncatedHeader(have: 0, needed: 20))
        #expect(decodeRecording([0x89, 0x46]).error == .truncatedHeader(have: 2, needed: 20))
        #expect(RecordingError.notARecording.description.hasPrefix("not a flowwatch recording"))
    }

    @Test("descriptions name the offset and what is wrong")
    func descriptions() {
        #expect(RecordingError.checksumMismatch(offset: 142, part: .recordPayload, stored: 0xAB, computed: 0x1234_5678).description
                == "corrupt record payload at offset 142: stored CRC-32 0x000000ab, the bytes give 0x12345678")
        #expect(RecordingError.truncatedHeader(have: 10, needed: 20).description
                == "truncated header: the recording ends after 10 bytes, its header needs 20")
        #expect(RecordingTruncation(offset: 174, bytes: 30).description
                == "recording was cut: 30 bytes after the last whole record, from offset 174, were ignored")
        #expect(RecordingFileError(path: "/r", problem: .writeFailed(errno: 28, recordsInFile: 5, recordsNotWritten: 2)).description
                == "/r: write failed: No space left on device (ENOSPC); the file keeps the first 5 records, 2 more were not written")
        #expect(RecordingFileError(path: "/r", problem: .format(.reservedBitsSet(offset: 9))).description
                == "/r: invalid record at offset 9: reserved bytes 5 to 7 are not zero")
    }
}
