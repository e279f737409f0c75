/// Turns the bytes of a recording into its header and its samples, in pieces as they come.
///
/// Push-style so that one implementation serves the file reader (which feeds chunks), tests
/// (which feed whole files, single bytes and random batches and must see identical results) and
/// anything that receives a recording over a pipe. Every check depends only on bytes already
/// fed and runs as soon as those bytes are there, which is what makes the result independent of
/// how the input was split.
///
///     var decoder = RecordingDecoder()
///     decoder.feed(chunk)                      // as often as input arrives
///     while let sample = try decoder.next() { … }
///     decoder.finish()                         // end of input
///     while let sample = try decoder.next() { … }
///     if let cut = decoder.truncation { print(cut) }
///
/// Errors are final: once `next()` has thrown, it throws the same error again.
public struct RecordingDecoder: Sendable {
    /// Bytes fed and not yet consumed start at `start`; `buffer[0]` is at file offset `base`.
    private var buffer: [UInt8] = []
    private var start = 0
    private var base = 0
    private var ended = false
    private var phase = Phase.header

    /// Checked once per record: a small enum rather than the optional header.
    private enum Phase {
        case header, records
        case failed(RecordingError)
    }

    /// The header, once its bytes have been fed and checked.
    public private(set) var header: RecordingHeader?
    /// The format version of the input, once the header has been read.
    public private(set) var version: RecordingVersion?
    /// Tags of header fields this version does not know and skipped (written by a newer minor
    /// version), for a diagnostic.
    public private(set) var ignoredHeaderFields: [UInt16] = []
    /// Records returned by `next()`.
    public private(set) var recordsDecoded: UInt64 = 0
    /// Device names from the interface records read so far: the name an ifindex had at the
    /// point of the last sample returned.
    public private(set) var interfaceNames: [UInt32: String] = [:]
    /// After `finish()` and the last record: the incomplete tail, or nil if the input ended at a
    /// record boundary.
    public private(set) var truncation: RecordingTruncation?

    public init() {}

    /// File offset of the first byte not yet consumed: the end of the last whole record returned.
    public var offset: Int { base + start }

    /// Appends input. Consumed bytes are dropped once they outweigh the unconsumed ones, so the
    /// buffer holds about one chunk and one record, and moving the tail costs little.
    public mutating func feed<Bytes: Sequence<UInt8>>(_ bytes: Bytes) {
        if start > 0 && start >= buffer.count - start {
            buffer.removeSubrange(0..<start)
            base += start
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// Marks the end of input (nothing is fed after it): from now on an incomplete header is an
    /// error and an incomplete record is the truncated tail.
    public mutating func finish() {
        ended = true
    }

    /// The header if its bytes are all there (nil if more are needed). Throws for a header that
    /// is not valid, or, after `finish()`, for an incomplete one.
    public mutating func readHeader() throws(RecordingError) -> RecordingHeader? {
        switch phase {
        case .records: return header
        case .failed(let error): throw error
        case .header: break
        }
        do throws(RecordingError) {
            return try parseHeader()
        } catch {
            phase = .failed(error)
            throw error
        }
    }

    /// The next whole record, or nil when the bytes fed so far hold no further whole record. After
    /// `finish()`, nil means the input is done, and `truncation` describes a cut tail if any.
    public mutating func next() throws(RecordingError) -> RawSample? {
        do throws(RecordingError) {
            switch phase {
            case .records: break
            case .failed(let error): throw error
            case .header: if try parseHeader() == nil { return nil }
            }
            return try parseRecord()
        } catch {
            phase = .failed(error)
            throw error
        }
    }

    // MARK: Header

    private mutating func parseHeader() throws(RecordingError) -> RecordingHeader? {
        // Nothing is consumed before the header, so offsets in the buffer are file offsets.
        // `withUnsafeBytes` only rethrows untyped errors, hence the Result.
        let parsed = try buffer.withUnsafeBytes { raw in
            Result { () throws(RecordingError) in try Self.header(in: raw, ended: ended) }
        }.get()
        guard let parsed else { return nil }
        header = parsed.header
        version = parsed.version
        ignoredHeaderFields = parsed.ignored
        start += parsed.length
        phase = .records
        return parsed.header
    }

    private struct ParsedHeader {
        var header: RecordingHeader
        var version: RecordingVersion
        var ignored: [UInt16]
        var length: Int
    }

    /// The header at the start of `raw`, or nil if more bytes are needed (an error if the input
    /// has ended). Each check runs as soon as the bytes it looks at are there.
    private static func header(in raw: UnsafeRawBufferPointer, ended: Bool) throws(RecordingError) -> ParsedHeader? {
        func needMore(_ needed: Int) throws(RecordingError) -> ParsedHeader? {
            if ended { throw .truncatedHeader(have: raw.count, needed: needed) }
            return nil
        }
        let magic = RecordingFormat.magic
        for i in 0..<min(raw.count, magic.count) where raw[i] != magic[i] {
            throw .notARecording
        }
        guard let major = raw.le(UInt16.self, at: 8), let minor = raw.le(UInt16.self, at: 10) else {
            return try needMore(RecordingFormat.preambleSize)
        }
        // Before the checksum: the rest of the preamble belongs to the major version.
        guard major == RecordingVersion.current.major else {
            throw .unsupportedVersion(major: major, minor: minor)
        }
        guard let fieldsLength = raw.le(UInt32.self, at: 12), let preambleCRC = raw.le(UInt32.self, at: 16) else {
            return try needMore(RecordingFormat.preambleSize)
        }
        let computed = CRC32.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<16]))
        guard computed == preambleCRC else {
            throw .checksumMismatch(offset: 0, part: .preamble, stored: preambleCRC, computed: computed)
        }
        guard fieldsLength <= RecordingFormat.maxFieldsLength else {
            throw .malformedHeader(offset: 12, reason: "header fields length \(fieldsLength) is over the "
                                   + "\(RecordingFormat.maxFieldsLength)-byte limit")
        }
        let fieldsStart = RecordingFormat.preambleSize
        let fieldsEnd = fieldsStart + Int(fieldsLength)
        guard let fieldsCRC = raw.le(UInt32.self, at: fieldsEnd) else {
            return try needMore(fieldsEnd + 4)
        }
        let fields = UnsafeRawBufferPointer(rebasing: raw[fieldsStart..<fieldsEnd])
        let fieldsComputed = CRC32.checksum(fields)
        guard fieldsComputed == fieldsCRC else {
            throw .checksumMismatch(offset: fieldsStart, part: .headerFields, stored: fieldsCRC, computed: fieldsComputed)
        }
        let (header, ignored) = try decodeFields(fields, at: fieldsStart)
        return ParsedHeader(header: header, version: RecordingVersion(major: major, minor: minor),
                            ignored: ignored, length: fieldsEnd + 4)
    }

    /// The header from its fields area, which starts at file offset `origin`.
    private static func decodeFields(_ fields: UnsafeRawBufferPointer, at origin: Int)
        throws(RecordingError) -> (RecordingHeader, [UInt16])
    {
        var strings: [RecordingFormat.Field: String] = [:]
        var integers: [RecordingFormat.Field: UInt64] = [:]
        var ignored: [UInt16] = []
        var i = 0
        while i < fields.count {
            let at = origin + i
            guard let tag = fields.le(UInt16.self, at: i), let length32 = fields.le(UInt32.self, at: i + 2) else {
                throw .malformedHeader(offset: at, reason: "a field header needs 6 bytes, \(fields.count - i) are left")
            }
            let length = Int(length32)
            let valueStart = i + RecordingFormat.fieldHeaderSize
            guard fields.contains(valueStart, length: length) else {
                throw .malformedHeader(offset: at, reason: "field \(tag) declares \(length) bytes, "
                                       + "\(fields.count - valueStart) are left in the header")
            }
            let value = UnsafeRawBufferPointer(rebasing: fields[valueStart..<valueStart + length])
            i = valueStart + length
            guard let field = RecordingFormat.Field(rawValue: tag) else {
                ignored.append(tag)
                continue
            }
            guard strings[field] == nil, integers[field] == nil else {
                throw .malformedHeader(offset: at, reason: "field \(tag) (\(field.name)) appears twice")
            }
            if let size = field.fixedSize {
                guard length == size else {
                    throw .malformedHeader(offset: at, reason: "field \(tag) (\(field.name)) has \(length) bytes, expected \(size)")
                }
                var v: UInt64 = 0
                for (k, byte) in value.enumerated() { v |= UInt64(byte) << (8 * k) }
                if field == .debugMessages && v > 1 {
                    throw .malformedHeader(offset: at, reason: "field \(tag) (\(field.name)) is \(v), expected 0 or 1")
                }
                integers[field] = v
            } else {
                guard let text = String(validating: value, as: UTF8.self) else {
                    throw .malformedHeader(offset: at, reason: "field \(tag) (\(field.name)) is not valid UTF-8")
                }
                strings[field] = text
            }
        }
        for field in RecordingFormat.Field.allCases where strings[field] == nil && integers[field] == nil {
            throw .malformedHeader(offset: origin, reason: "required field \(field.rawValue) (\(field.name)) is missing")
        }
        let header = RecordingHeader(
            nodeName: strings[.nodeName, default: ""],
            wallClockOffset: Int64(bitPattern: integers[.wallClockOffset, default: 0]),
            startBoottime: integers[.startBoottime, default: 0],
            startWallClock: Int64(bitPattern: integers[.startWallClock, default: 0]),
            cpuCount: UInt32(truncatingIfNeeded: integers[.cpuCount, default: 0]),
            flowwatchVersion: strings[.flowwatchVersion, default: ""],
            captureLength: UInt32(truncatingIfNeeded: integers[.captureLength, default: 0]),
            debugMessages: integers[.debugMessages] == 1,
            configText: strings[.configText, default: ""],
            configPath: strings[.configPath, default: ""])
        return (header, ignored)
    }

    // MARK: Records

    private mutating func parseRecord() throws(RecordingError) -> RawSample? {
        // Interface records are taken in passing; a loop, not recursion, so a file of nothing
        // but them cannot exhaust the stack.
        while true {
            let recordOffset = base + start
            let parsed = try buffer.withUnsafeBytes { all in
                Result { () throws(RecordingError) in
                    try Self.record(in: UnsafeRawBufferPointer(rebasing: all[start..<all.count]), at: recordOffset)
                }
            }.get()
            guard let (record, length) = parsed else {
                let rest = buffer.count - start
                if ended && rest > 0 && truncation == nil {
                    truncation = RecordingTruncation(offset: recordOffset, bytes: rest)
                }
                return nil
            }
            start += length
            switch record {
            case .sample(let sample):
                recordsDecoded += 1
                return sample
            case .interface(let ifindex, let name):
                interfaceNames[ifindex] = name
            }
        }
    }

    private enum Record {
        case sample(RawSample)
        case interface(UInt32, String)
    }

    /// The record at the start of `raw` (file offset `offset`) and its length, or nil if `raw`
    /// ends inside it.
    @inline(__always)
    private static func record(in raw: UnsafeRawBufferPointer, at offset: Int) throws(RecordingError) -> (Record, Int)? {
        guard raw.count >= RecordingFormat.recordHeaderSize else { return nil }
        let stored = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 20, as: UInt32.self))
        let computed = CRC32.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<20]))
        guard stored == computed else {
            throw .checksumMismatch(offset: offset, part: .recordHeader, stored: stored, computed: computed)
        }
        // The header is intact, so its length is the writer's. Checked before waiting for the
        // payload, so a bad length is an error and never mistaken for a cut tail.
        let length = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        let kindByte = raw[4]
        guard raw[5] == 0 && raw[6] == 0 && raw[7] == 0 else { throw .reservedBitsSet(offset: offset) }
        guard let kind = RecordingFormat.Kind(rawValue: kindByte) else {
            throw .unknownRecordKind(offset: offset, kind: kindByte)
        }
        let possible = switch kind {
        case .sample: length <= RecordingFormat.maxPayloadLength
        case .lost: length == RecordingFormat.lostPayloadLength
        case .interface: RecordingFormat.interfacePayloadRange.contains(Int(length))
        }
        guard possible else { throw .impossibleRecordLength(offset: offset, kind: kindByte, length: length) }
        let payloadEnd = RecordingFormat.recordHeaderSize + Int(length)
        let total = payloadEnd + RecordingFormat.recordTrailerSize
        guard raw.count >= total else { return nil }
        let payload = UnsafeRawBufferPointer(rebasing: raw[RecordingFormat.recordHeaderSize..<payloadEnd])
        let payloadStored = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: payloadEnd, as: UInt32.self))
        let payloadComputed = CRC32.checksum(payload)
        guard payloadStored == payloadComputed else {
            throw .checksumMismatch(offset: offset, part: .recordPayload, stored: payloadStored, computed: payloadComputed)
        }
        let cpu = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        let timestamp = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 12, as: UInt64.self))
        switch kind {
        case .sample:
            return (.sample(RawSample(cpu: cpu, timestamp: timestamp, kind: .event([UInt8](payload)))), total)
        case .lost:
            let count = UInt64(littleEndian: payload.loadUnaligned(as: UInt64.self))
            return (.sample(RawSample(cpu: cpu, timestamp: timestamp, kind: .lost(count))), total)
        case .interface:
            let ifindex = UInt32(littleEndian: payload.loadUnaligned(as: UInt32.self))
            return (.interface(ifindex, String(decoding: payload[4...], as: UTF8.self)), total)
        }
    }
}
