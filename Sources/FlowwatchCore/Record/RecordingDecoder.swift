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
    /// Bytes fed and not yet consumed are `buffer[start..<end]`; `buffer[0]` is at file offset
    /// `base`. Bytes past `end`, up to the buffer's capacity, are free space that
    /// `fill(upTo:_:)` reads into directly, so the reader copies nothing.
    private var buffer = InputBuffer(capacity: 0)
    private var start = 0
    private var end = 0
    private var base = 0
    private var ended = false
    /// File offset up to which the records have passed every check of `scan` on a reader's
    /// read-ahead thread (`adopt`): the ones wholly before it are not checksummed again.
    private var checkedThrough = 0
    private var phase = Phase.header
    /// The byte arrays handed out with samples, reused once their samples are gone.
    private var arrays = SampleArrays()

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
    public var interfaceNames: [UInt32: String] { names.all }
    private var names = InterfaceNameTable()
    /// `interfaceNames[ifindex]`, looked up per event.
    public func interfaceName(_ ifindex: UInt32) -> String? { names[ifindex] }

    /// After `finish()` and the last record: the incomplete tail, or nil if the input ended at a
    /// record boundary.
    public private(set) var truncation: RecordingTruncation?

    public init() {}

    /// File offset of the first byte not yet consumed: the end of the last whole record returned.
    public var offset: Int { base + start }

    /// Appends input. Consumed bytes are dropped before the buffer grows, so it holds about one
    /// chunk and one record.
    public mutating func feed<Bytes: Sequence<UInt8>>(_ bytes: Bytes) {
        Array(bytes).withUnsafeBytes { feed($0) }
    }

    /// Appends input from contiguous bytes with one copy.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        reserveFree(bytes.count)
        (buffer.base + end).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        end += bytes.count
    }

    public mutating func feed(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { feed($0) }
    }

    public mutating func feed(_ bytes: ArraySlice<UInt8>) {
        bytes.withUnsafeBytes { feed($0) }
    }

    /// Lets `read` write up to `count` bytes of input straight into the buffer (a `read(2)`) and
    /// returns what it returned; bytes are appended only when that is positive.
    public mutating func fill(upTo count: Int, _ read: (UnsafeMutableRawBufferPointer) -> Int) -> Int {
        reserveFree(count)
        let n = read(UnsafeMutableRawBufferPointer(start: buffer.base + end, count: count))
        if n > 0 { end += min(n, count) }
        return n
    }

    /// Takes `count` bytes of `chunk` as the input that follows, without copying them: the
    /// reader's read-ahead hands over each chunk this way once the decoder has consumed the one
    /// before. The first `checked` bytes are whole records, in the sequence this decoder walks,
    /// that have passed every check of `scan` on the read-ahead thread (see `ReadAhead`); their
    /// checksums are not computed again. Input not yet consumed (never the case with the
    /// read-ahead, which hands over whole records) is kept, the chunk copied after it, unchecked.
    mutating func adopt(_ chunk: InputBuffer, count: Int, checked: Int) {
        guard start == end else {
            feed(chunk.bytes(0..<count))
            return
        }
        base += end
        buffer = chunk
        start = 0
        end = count
        checkedThrough = base + checked
    }

    /// The input fed and not yet consumed (a record cut by the end of a chunk), taken out of
    /// this decoder: the read-ahead goes on from it, so the next chunk adopted starts with it.
    mutating func takeUnconsumed() -> [UInt8] {
        let rest = Array(buffer.bytes(start..<end))
        base += start
        start = 0
        end = 0
        return rest
    }

    /// Makes room for `count` more bytes after `end` (and makes the buffer this decoder's own):
    /// consumed bytes go first, then the buffer grows (to twice what it holds, so feeding byte
    /// by byte stays linear).
    private mutating func reserveFree(_ count: Int) {
        if !isKnownUniquelyReferenced(&buffer) { buffer = buffer.copy(count: end) }
        if buffer.capacity - end >= count { return }
        if start > 0 {
            let live = end - start
            if live > 0 { buffer.base.copyMemory(from: buffer.base + start, byteCount: live) }
            base += start
            start = 0
            end = live
            if buffer.capacity - end >= count { return }
        }
        buffer.grow(to: max(end + count, 2 * buffer.capacity), keeping: end)
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
        try next { view, arrays in view.sample(arrays: &arrays) }
    }

    /// `next()` without the copies, one call for a whole buffer of records: hands each whole
    /// record fed so far to `body` in place, in the buffer (the view is valid only during the
    /// call), while `body` returns true. False once `body` has returned false (the next call
    /// goes on with the record after), true when the records fed so far are used up (where
    /// `next()` returns nil). For a reader that sets most records aside (debug messages nothing
    /// shows) and copies the others itself.
    public mutating func forEach(inPlace body: (RawSampleView) -> Bool) throws(RecordingError) -> Bool {
        while true {
            if case .records = phase, base + start < checkedThrough, !forEachChecked(body) { return false }
            guard let goOn = try next({ view, _ in body(view) }) else { return true }
            if !goOn { return false }
        }
    }

    /// `forEach(inPlace:)` over the records the read-ahead has checked (`adopt`): each has passed
    /// every check of `scan` already, so only its fields are read, with none of the per-record
    /// state `next` keeps for records it checks. False once `body` has returned false.
    private mutating func forEachChecked(_ body: (RawSampleView) -> Bool) -> Bool {
        let bytes = buffer.base
        let checkedEnd = checkedThrough - base
        while start < checkedEnd {
            let record = bytes + start
            let length = Int(UInt32(littleEndian: record.loadUnaligned(as: UInt32.self)))
            let size = RecordingFormat.recordHeaderSize + length + RecordingFormat.recordTrailerSize
            // A record beyond the checked bytes (never, with the read-ahead) is left to `next`.
            guard size <= checkedEnd - start, let kind = RecordingFormat.Kind(rawValue: record.load(fromByteOffset: 4, as: UInt8.self))
            else { return true }
            let cpu = UInt32(littleEndian: record.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
            let timestamp = UInt64(littleEndian: record.loadUnaligned(fromByteOffset: 12, as: UInt64.self))
            let payload = record + RecordingFormat.recordHeaderSize
            // Consumed before `body` runs, so the record counts as read whatever it does.
            start += size
            switch kind {
            case .sample:
                recordsDecoded += 1
                let view = RawSampleView(cpu: cpu, timestamp: timestamp,
                                         bytes: UnsafeRawBufferPointer(start: payload, count: length), lostCount: nil)
                if !body(view) { return false }
            case .lost:
                recordsDecoded += 1
                let count = UInt64(littleEndian: payload.loadUnaligned(as: UInt64.self))
                let view = RawSampleView(cpu: cpu, timestamp: timestamp, bytes: UnsafeRawBufferPointer(start: nil, count: 0),
                                         lostCount: count)
                if !body(view) { return false }
            case .interface:
                let ifindex = UInt32(littleEndian: payload.loadUnaligned(as: UInt32.self))
                names[ifindex] = String(decoding: UnsafeRawBufferPointer(start: payload + 4, count: length - 4), as: UTF8.self)
            }
        }
        return true
    }

    @inline(__always)
    private mutating func next<Result>(
        _ body: (RawSampleView, inout SampleArrays) -> Result
    ) throws(RecordingError) -> Result? {
        do throws(RecordingError) {
            switch phase {
            case .records: break
            case .failed(let error): throw error
            case .header: if try parseHeader() == nil { return nil }
            }
            return try parseRecord(body)
        } catch {
            phase = .failed(error)
            throw error
        }
    }

    // MARK: Header

    private mutating func parseHeader() throws(RecordingError) -> RecordingHeader? {
        // Nothing is consumed before the header, so offsets in the buffer are file offsets.
        let parsed = try Self.header(in: buffer.bytes(start..<end), ended: ended)
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

    @inline(__always)
    private mutating func parseRecord<Result>(
        _ body: (RawSampleView, inout SampleArrays) -> Result
    ) throws(RecordingError) -> Result? {
        // Interface records are taken in passing; a loop, not recursion, so a file of nothing
        // but them cannot exhaust the stack.
        while true {
            let recordOffset = base + start
            let scan = Self.scan(buffer.bytes(start..<end), checked: checkedThrough - recordOffset)
            switch scan {
            case .incomplete:
                let rest = end - start
                if ended && rest > 0 && truncation == nil {
                    truncation = RecordingTruncation(offset: recordOffset, bytes: rest)
                }
                return nil
            case .failed(let failure):
                throw failure.error(at: recordOffset)
            case .sample(let cpu, let timestamp, let length):
                let payloadStart = start + RecordingFormat.recordHeaderSize
                // Consumed before `body` runs, so the record counts as read whatever it does.
                start = payloadStart + length + RecordingFormat.recordTrailerSize
                recordsDecoded += 1
                let bytes = buffer.bytes(payloadStart..<payloadStart + length)
                return body(RawSampleView(cpu: cpu, timestamp: timestamp, bytes: bytes, lostCount: nil), &arrays)
            case .lost(let cpu, let timestamp, let count):
                start += RecordingFormat.recordHeaderSize + RecordingFormat.lostPayloadLength + RecordingFormat.recordTrailerSize
                recordsDecoded += 1
                let view = RawSampleView(cpu: cpu, timestamp: timestamp, bytes: UnsafeRawBufferPointer(start: nil, count: 0),
                                         lostCount: count)
                return body(view, &arrays)
            case .interface(let ifindex, let length):
                let nameStart = start + RecordingFormat.recordHeaderSize + 4
                let nameEnd = start + RecordingFormat.recordHeaderSize + length
                names[ifindex] = String(decoding: buffer.bytes(nameStart..<nameEnd), as: UTF8.self)
                start = nameEnd + RecordingFormat.recordTrailerSize
            }
        }
    }

    /// What the bytes at the start of the unconsumed input hold. Only plain values, so that
    /// returning it copies no references and destroying it is nothing.
    private enum Scan {
        case incomplete
        case failed(Failure)
        /// A sample whose payload is the `length` bytes after the record header.
        case sample(cpu: UInt32, timestamp: UInt64, length: Int)
        case lost(cpu: UInt32, timestamp: UInt64, count: UInt64)
        /// An interface record of `length` payload bytes (ifindex, then the name).
        case interface(ifindex: UInt32, length: Int)
    }

    /// Why a record is bad, in plain values: the error, which may hold text, is made from it
    /// only when it is thrown.
    private enum Failure {
        case checksum(RecordingError.ChecksummedPart, stored: UInt32, computed: UInt32)
        case reservedBits
        case unknownKind(UInt8)
        case impossibleLength(kind: UInt8, length: UInt32)

        func error(at offset: Int) -> RecordingError {
            switch self {
            case let .checksum(part, stored, computed):
                .checksumMismatch(offset: offset, part: part, stored: stored, computed: computed)
            case .reservedBits: .reservedBitsSet(offset: offset)
            case .unknownKind(let kind): .unknownRecordKind(offset: offset, kind: kind)
            case let .impossibleLength(kind, length): .impossibleRecordLength(offset: offset, kind: kind, length: length)
            }
        }
    }

    /// How many bytes at the start of `raw`, a run of records that starts where the decoder's
    /// next record does, are whole records that pass every check of `scan`; `failed` when the
    /// walk stopped at a bad record rather than at the end of `raw` or inside a record.
    static func wholeRecords(in raw: UnsafeRawBufferPointer) -> (count: Int, failed: Bool) {
        var at = 0
        while true {
            let step: Int
            switch scan(UnsafeRawBufferPointer(rebasing: raw[at...]), checked: 0) {
            case .incomplete: return (at, false)
            case .failed: return (at, true)
            case .sample(_, _, let length), .interface(_, let length): step = length
            case .lost: step = RecordingFormat.lostPayloadLength
            }
            at += RecordingFormat.recordHeaderSize + step + RecordingFormat.recordTrailerSize
        }
    }

    /// Checks the record at the start of `raw`: `.incomplete` if `raw` ends inside it. A record
    /// within the first `checked` bytes has passed these checks before (`adopt`): its checksums
    /// are taken as they are stored.
    @inline(__always)
    private static func scan(_ raw: UnsafeRawBufferPointer, checked: Int) -> Scan {
        guard raw.count >= RecordingFormat.recordHeaderSize else { return .incomplete }
        let stored = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 20, as: UInt32.self))
        let length = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        let header = UnsafeRawBufferPointer(rebasing: raw[0..<20])
        // When the whole record is there by the length it states, both checksums are computed in
        // one call; the payload's is used only once the header's has shown that length to be
        // the writer's.
        let computed: UInt32, payloadComputed: UInt32?
        if Int(length) <= checked - RecordingFormat.recordHeaderSize - RecordingFormat.recordTrailerSize {
            (computed, payloadComputed) = (stored, UInt32(littleEndian: raw.loadUnaligned(
                fromByteOffset: RecordingFormat.recordHeaderSize + Int(length), as: UInt32.self)))
        } else if Int(length) <= raw.count - RecordingFormat.recordHeaderSize - RecordingFormat.recordTrailerSize {
            let payload = UnsafeRawBufferPointer(rebasing: raw[RecordingFormat.recordHeaderSize..<RecordingFormat.recordHeaderSize + Int(length)])
            (computed, payloadComputed) = CRC32.checksums(header, payload)
        } else {
            (computed, payloadComputed) = (CRC32.checksum(header), nil)
        }
        guard stored == computed else {
            return .failed(.checksum(.recordHeader, stored: stored, computed: computed))
        }
        // The header is intact, so its length is the writer's. Checked before waiting for the
        // payload, so a bad length is an error and never mistaken for a cut tail.
        let kindByte = raw[4]
        guard raw[5] == 0 && raw[6] == 0 && raw[7] == 0 else { return .failed(.reservedBits) }
        guard let kind = RecordingFormat.Kind(rawValue: kindByte) else {
            return .failed(.unknownKind(kindByte))
        }
        let possible = switch kind {
        case .sample: length <= RecordingFormat.maxPayloadLength
        case .lost: length == RecordingFormat.lostPayloadLength
        case .interface: RecordingFormat.interfacePayloadRange.contains(Int(length))
        }
        guard possible else { return .failed(.impossibleLength(kind: kindByte, length: length)) }
        let payloadEnd = RecordingFormat.recordHeaderSize + Int(length)
        guard let payloadComputed else { return .incomplete }
        let payload = UnsafeRawBufferPointer(rebasing: raw[RecordingFormat.recordHeaderSize..<payloadEnd])
        let payloadStored = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: payloadEnd, as: UInt32.self))
        guard payloadStored == payloadComputed else {
            return .failed(.checksum(.recordPayload, stored: payloadStored, computed: payloadComputed))
        }
        let cpu = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        let timestamp = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 12, as: UInt64.self))
        switch kind {
        case .sample:
            return .sample(cpu: cpu, timestamp: timestamp, length: Int(length))
        case .lost:
            return .lost(cpu: cpu, timestamp: timestamp, count: UInt64(littleEndian: payload.loadUnaligned(as: UInt64.self)))
        case .interface:
            return .interface(ifindex: UInt32(littleEndian: payload.loadUnaligned(as: UInt32.self)), length: Int(length))
        }
    }
}

/// A decoder's input bytes: one allocation, read through its address. An array read around
/// the closure a record is handed to was retained and released for every record; this is held
/// by the decoder, which nothing changes during that call. Copies of a decoder share it until
/// one of them writes (`RecordingDecoder.reserveFree`); so does the read-ahead that filled it.
final class InputBuffer: @unchecked Sendable {
    private(set) var base: UnsafeMutableRawPointer
    private(set) var capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        base = .allocate(byteCount: max(capacity, 1), alignment: 16)
    }

    deinit { base.deallocate() }

    /// The bytes at `range` (offsets from `base`).
    @inline(__always)
    func bytes(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }

    /// A buffer of its own with the same capacity and the first `count` bytes.
    func copy(count: Int) -> InputBuffer {
        let copy = InputBuffer(capacity: capacity)
        copy.base.copyMemory(from: base, byteCount: count)
        return copy
    }

    /// Grows to `newCapacity` bytes, keeping the first `count`.
    func grow(to newCapacity: Int, keeping count: Int) {
        let grown = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        grown.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = grown
        capacity = newCapacity
    }
}

/// The byte arrays of the samples a decoder or the perf reader hands out, kept so that each can
/// be filled again once its sample has been dropped: replay and live capture then allocate
/// nothing per record.
///
/// The arrays are used in turn. Refilling one whose sample is still held somewhere (a reorder
/// window, a test collecting samples) would copy it on write, so that array is left to its
/// holder, a new one takes its place and the set grows by one: it settles at a little more
/// than the number of samples held downstream at once.
///
/// Small samples (debug messages, most records of a `-v` capture) and the rest take arrays of
/// two sets, sized for each: thousands of samples wait in a reorder window, and arrays sized
/// for a trace would make a debug message take four times the memory it needs there, which
/// took the held samples out of the CPU's cache (replay of a `-v` flood recording: 2x slower).
/// A large array is made the size of its sample and replaced only by a larger one, so each
/// keeps the largest sample its turn has brought: with samples of one size (a flood, a
/// replay's 16,384 held traces) no byte is spare, whose pages each cost a fault when first
/// written (a fixed 256 bytes, 100 more than a ping's trace: replay to pcap 4% slower).
public struct SampleArrays: Sendable {
    private var small: Ring
    private var large: Ring
    /// Samples up to this size take a small array, made this large so that any of them fits.
    static let smallCapacity = 64

    /// Keeps at most `keep` arrays of each size.
    public init(keep limit: Int = 1 << 16) {
        small = Ring(limit: limit, capacity: Self.smallCapacity)
        large = Ring(limit: limit, capacity: 0)
    }

    /// An array holding `bytes`.
    @inline(__always)
    public mutating func take(copying bytes: UnsafeRawBufferPointer) -> [UInt8] {
        bytes.count <= Self.smallCapacity ? small.take(copying: bytes) : large.take(copying: bytes)
    }

    private struct Ring: Sendable {
        var arrays: [[UInt8]] = []
        var next = 0
        /// Beyond this many (a holder that keeps every sample) new arrays are not kept.
        let limit: Int
        /// Least capacity of a new array; a larger sample gets its own size.
        let capacity: Int

        init(limit: Int, capacity: Int) {
            self.limit = limit
            self.capacity = capacity
        }

        @inline(__always)
        mutating func take(copying bytes: UnsafeRawBufferPointer) -> [UInt8] {
            if next < arrays.count {
                if arrays[next].isUniquelyReferenced {
                    if arrays[next].capacity >= bytes.count {
                        arrays[next].refill(bytes)
                        return advance()
                    }
                } else if arrays[next].capacity > 0, arrays.count < limit {
                    // Still held downstream: keep it there and make room, as many slots again at
                    // once so that growing costs one move of the set, not one per record.
                    arrays.insert(contentsOf: repeatElement([], count: min(arrays.count, limit - arrays.count)), at: next)
                }
            } else if arrays.count < limit {
                arrays.append([])
            } else {
                return make(bytes)
            }
            arrays[next] = make(bytes)
            return advance()
        }

        @inline(__always)
        private mutating func advance() -> [UInt8] {
            let array = arrays[next]
            next += 1
            if next == arrays.count { next = 0 }
            return array
        }

        private func make(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
            var array = [UInt8]()
            array.reserveCapacity(max(bytes.count, capacity))
            array.append(contentsOf: bytes.assumingMemoryBound(to: UInt8.self))
            return array
        }
    }
}

extension Array where Element == UInt8 {
    /// Replaces the contents with `bytes`, in place (without allocating) when the storage is
    /// referenced only from here and large enough. Most records have the length of the one the
    /// array held before, which is a plain copy.
    @inline(__always)
    fileprivate mutating func refill(_ bytes: UnsafeRawBufferPointer) {
        if count != bytes.count {
            removeAll(keepingCapacity: true)
            append(contentsOf: bytes.assumingMemoryBound(to: UInt8.self))
        } else if !bytes.isEmpty {
            withUnsafeMutableBytes { $0.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
        }
    }

    /// Whether the storage is referenced by this variable only, checked without copying (any
    /// mutating call would copy shared storage to find out). On Linux an array is exactly one
    /// strong reference to its native storage object; the empty array's static storage is
    /// immortal and never unique.
    @inline(__always)
    fileprivate var isUniquelyReferenced: Bool {
        mutating get {
            #if os(Linux)
            withUnsafeMutablePointer(to: &self) { array in
                array.withMemoryRebound(to: AnyObject.self, capacity: 1) { isKnownUniquelyReferenced(&$0.pointee) }
            }
            #else
            false
            #endif
        }
    }
}
