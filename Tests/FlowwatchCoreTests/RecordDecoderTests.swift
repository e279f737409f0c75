import Testing
@testable import FlowwatchCore

/// The decoder against every way a recording can arrive: in any split, cut at any byte, with any
/// single bit flipped.
@Suite struct RecordDecoderTests {
    static let header = RecordFormatTests.header

    /// A few hundred records of every kind and many sizes, deterministic.
    static let samples: [RawSample] = {
        var rng = RobustnessTests.Generator(state: 42)
        return (0..<300).map { i in
            let cpu = UInt32(rng.next() % 8), time = 1_000_000 + UInt64(i) * 997
            if rng.next() % 10 == 0 { return RawSample(cpu: cpu, timestamp: time, kind: .lost(rng.next() % 1000)) }
            let size = rng.next() % 20 == 0 ? Int(rng.next() % 70_000) : Int(rng.next() % 300)
            return RawSample(cpu: cpu, timestamp: time, kind: .event((0..<size).map { _ in UInt8(truncatingIfNeeded: rng.next()) }))
        }
    }()

    static func randomChunks(_ total: Int, seed: UInt64, max: UInt64) -> [Int] {
        var rng = RobustnessTests.Generator(state: seed)
        var chunks: [Int] = [], sum = 0
        while sum < total {
            let n = Int(rng.next() % max)  // zero-length feeds included
            chunks.append(n)
            sum += n
        }
        return chunks
    }

    /// Inputs whose outcome must not depend on the split: valid, cut, corrupt, not a recording.
    static let inputs: [(String, [UInt8])] = {
        let valid = recordingBytes(header, samples)
        var corrupt = valid
        corrupt[valid.count / 2] ^= 0x10
        let small = recordingBytes(header, Array(samples.prefix(5)))
        return [
            ("valid", valid),
            ("cut inside a record", Array(valid.dropLast(7))),
            ("cut inside a record header", Array(small.dropLast(small.count - 142 - 10))),
            ("cut inside the header", Array(valid.prefix(100))),
            ("corrupt in the middle", corrupt),
            ("not a recording", Array("endpoints: []\n".utf8) + valid),
        ]
    }()

    @Test("whole, byte by byte and random batches give identical results", arguments: inputs.indices)
    func splitsAgree(index: Int) {
        let (name, bytes) = Self.inputs[index]
        let whole = decodeRecording(bytes)
        // Byte by byte costs O(n) per byte for the large input's 64 KiB records; a prefix of it
        // covers every boundary kind.
        let small = bytes.count > 200_000 ? Array(bytes.prefix(60_000)) : bytes
        #expect(decodeRecording(small, chunks: Array(repeating: 1, count: small.count)) == decodeRecording(small), "\(name)")
        for seed: UInt64 in 1...5 {
            for max: UInt64 in [3, 100, 5000, 200_000] {
                let chunks = Self.randomChunks(bytes.count, seed: seed &* max, max: max)
                #expect(decodeRecording(bytes, chunks: chunks) == whole, "\(name), seed \(seed), batches below \(max)")
                #expect(decodeRecording(bytes, chunks: chunks, inPlace: true) == whole,
                        "\(name) in place, seed \(seed), batches below \(max)")
            }
        }
        if name == "valid" { #expect(whole == RecordingOutcome(header: Self.header, samples: Self.samples)) }
        if name == "corrupt in the middle" { #expect(whole.error != nil && !whole.samples.isEmpty) }
    }

    static let small = [
        RawSample(cpu: 1, timestamp: 10, kind: .event([1, 2, 3, 4, 5])),
        RawSample(cpu: 2, timestamp: 20, kind: .event([])),
        RawSample(cpu: 3, timestamp: 30, kind: .lost(7)),
    ]

    @Test("every cut of a small file replays the whole records before it and measures the rest")
    func everyTruncationPoint() {
        let file = recordingBytes(Self.header, Self.small)
        let offsets = recordOffsets(Self.header, Self.small)
        let headerEnd = offsets[0]
        for length in 0...file.count {
            let prefix = Array(file.prefix(length))
            let outcome = decodeRecording(prefix)
            if length < headerEnd {
                let needed = length < RecordingFormat.preambleSize ? RecordingFormat.preambleSize : headerEnd
                #expect(outcome == RecordingOutcome(error: .truncatedHeader(have: length, needed: needed)), "cut at \(length)")
                continue
            }
            let whole = offsets.lastIndex { $0 <= length } ?? 0
            let boundary = offsets[whole]
            let truncation = boundary == length ? nil : RecordingTruncation(offset: boundary, bytes: length - boundary)
            let expected = RecordingOutcome(header: Self.header, samples: Array(Self.small.prefix(whole)), truncation: truncation)
            #expect(outcome == expected, "cut at \(length)")
            #expect(decodeRecording(prefix, chunks: Array(repeating: 1, count: length)) == expected, "cut at \(length), bytewise")
        }
    }

    /// The part of the small file a byte belongs to, and the error a flip in it must give.
    static func expectedError(forFlipAt index: Int, in file: [UInt8], offsets: [Int]) -> (RecordingError) -> Bool {
        switch index {
        case 0..<8:
            return { $0 == .notARecording }
        case 8..<10:
            return { if case .unsupportedVersion(_, 0) = $0 { true } else { false } }
        case 10..<20:
            return { if case .checksumMismatch(0, .preamble, _, _) = $0 { true } else { false } }
        case 20..<offsets[0]:
            return { if case .checksumMismatch(20, .headerFields, _, _) = $0 { true } else { false } }
        default:
            let record = offsets.lastIndex { $0 <= index } ?? 0
            let start = offsets[record]
            let part: RecordingError.ChecksummedPart = index < start + 24 ? .recordHeader : .recordPayload
            return { if case .checksumMismatch(start, part, _, _) = $0 { true } else { false } }
        }
    }

    @Test("a single flipped bit anywhere is found, with the offset of the part it is in")
    func everyBitFlip() {
        let file = recordingBytes(Self.header, Self.small)
        let offsets = recordOffsets(Self.header, Self.small)
        for index in file.indices {
            let matches = Self.expectedError(forFlipAt: index, in: file, offsets: offsets)
            let intact = offsets.filter { $0 <= index }.count - 1  // records wholly before the byte
            for bit in 0..<8 {
                var flipped = file
                flipped[index] ^= 1 << bit
                let outcome = decodeRecording(flipped)
                guard let error = outcome.error else {
                    Issue.record("flip of bit \(bit) at \(index) not detected: \(outcome)")
                    continue
                }
                #expect(matches(error), "flip of bit \(bit) at \(index): \(error)")
                // Nothing after the damage is returned, and nothing before it is wrong.
                #expect(outcome.samples == Array(Self.small.prefix(max(intact, 0))), "flip of bit \(bit) at \(index)")
            }
        }
    }

    @Test("random damage never traps and never yields a sample that was not recorded")
    func randomDamage() {
        let file = recordingBytes(Self.header, Self.small)
        var rng = RobustnessTests.Generator(state: 2024)
        for round in 0..<3000 {
            var bytes = file
            for _ in 0...(rng.next() % 3) {
                let at = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 4 {
                case 0: bytes[at] = UInt8(truncatingIfNeeded: rng.next())
                case 1: bytes.remove(at: at)
                case 2: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: at)
                default: bytes = Array(bytes.prefix(at))
                }
                if bytes.isEmpty { break }
            }
            let outcome = decodeRecording(bytes)
            // Whatever comes out before the damage is what was recorded, in order.
            #expect(outcome.samples == Array(Self.small.prefix(outcome.samples.count)), "round \(round)")
            // Damage is found, unless all of it is in a cut tail, which is ignored and reported.
            guard let damage = bytes.indices.first(where: { $0 >= file.count || bytes[$0] != file[$0] }), outcome.error == nil else { continue }
            #expect(outcome.truncation.map { damage >= $0.offset } == true, "round \(round): damage at \(damage), \(outcome)")
        }
    }

    @Test("errors are final and the decoder reports progress")
    func stickyErrorsAndOffsets() throws {
        var file = recordingBytes(Self.header, Self.small)
        file[file.count - 1] ^= 1
        var decoder = RecordingDecoder()
        decoder.feed(file)
        #expect(try decoder.next() == Self.small[0])
        #expect(try decoder.next() == Self.small[1])
        #expect(decoder.recordsDecoded == 2)
        #expect(decoder.offset == recordOffsets(Self.header, Self.small)[2])
        let error = RecordingError.checksumMismatch(offset: decoder.offset, part: .recordPayload,
                                                    stored: CRC32.checksum(le64(7)) ^ 0x0100_0000,
                                                    computed: CRC32.checksum(le64(7)))
        #expect(throws: error) { try decoder.next() }
        decoder.feed(recordingBytes(Self.header, Self.small))
        #expect(throws: error) { try decoder.next() }
        #expect(throws: error) { try decoder.readHeader() }
    }

    @Test("readHeader waits for the whole header, then next() continues with the records")
    func headerFirst() throws {
        let file = recordingBytes(Self.header, Self.small)
        var decoder = RecordingDecoder()
        decoder.feed(file[0..<141])
        #expect(try decoder.readHeader() == nil)
        decoder.feed(file[141..<150])
        #expect(try decoder.readHeader() == Self.header)
        #expect(try decoder.readHeader() == Self.header)
        #expect(try decoder.next() == nil)
        decoder.feed(file[150...])
        decoder.finish()
        var samples: [RawSample] = []
        while let sample = try decoder.next() { samples.append(sample) }
        #expect(samples == Self.small)
        #expect(decoder.truncation == nil)
    }

    @Test("a copy of a decoder goes on by itself: what one is fed or reads leaves the other as it was")
    func copiesAreIndependent() throws {
        let file = recordingBytes(Self.header, Self.samples)
        let half = file.count / 2
        var original = RecordingDecoder()
        original.feed(file[..<half])
        var copy = original
        // The copy reads what it has and is fed garbage; the original then gets the rest.
        var copied: [RawSample] = []
        while let sample = try copy.next() { copied.append(sample) }
        copy.feed([UInt8](repeating: 0xA5, count: 70_000))
        copy.finish()
        #expect(throws: RecordingError.self) { while try copy.next() != nil {} }
        original.feed(file[half...])
        original.finish()
        var samples: [RawSample] = []
        while let sample = try original.next() { samples.append(sample) }
        #expect(samples == Self.samples)
        #expect(copied == Array(Self.samples.prefix(copied.count)) && !copied.isEmpty)
    }
}
