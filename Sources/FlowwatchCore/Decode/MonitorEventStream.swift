/// How many samples failed to decode, per kind of error, so a caller can report
/// "N decode errors" while the pipeline goes on with the next sample.
public struct DecodeErrorCounts: Sendable, Hashable {
    public var truncated: UInt64 = 0
    public var unknownType: UInt64 = 0
    public var unknownVersion: UInt64 = 0
    public var unknownExtVersion: UInt64 = 0
    public var lengthMismatch: UInt64 = 0

    public init() {}

    /// All failed samples: the "N decode errors" a caller reports.
    public var total: UInt64 {
        truncated + unknownType + unknownVersion + unknownExtVersion + lengthMismatch
    }

    /// The count for one kind, for per-kind metrics.
    public subscript(kind: DecodeError.Kind) -> UInt64 {
        switch kind {
        case .truncated: truncated
        case .unknownType: unknownType
        case .unknownVersion: unknownVersion
        case .unknownExtVersion: unknownExtVersion
        case .lengthMismatch: lengthMismatch
        }
    }

    mutating func record(_ kind: DecodeError.Kind) {
        switch kind {
        case .truncated: truncated += 1
        case .unknownType: unknownType += 1
        case .unknownVersion: unknownVersion += 1
        case .unknownExtVersion: unknownExtVersion += 1
        case .lengthMismatch: lengthMismatch += 1
        }
    }
}

/// Decodes a stream of perf records, skipping the ones that fail and counting why.
///
/// A bad sample must not stop a live observer, but it must not vanish either: the counts (and
/// the last error, for a log line) are what the CLI reports. Feeding the same records one at a
/// time or in batches gives the same events and counts.
public struct MonitorEventStream: Sendable {
    /// Samples that failed, per kind of error.
    public private(set) var errors = DecodeErrorCounts()
    /// The most recent failure, for a diagnostic line.
    public private(set) var lastError: DecodeError?
    /// Records decoded into events, lost records included.
    public private(set) var decoded: UInt64 = 0
    /// Packet arrays, reused once the events that carried them are dropped.
    private var packetArrays = SampleArrays(keep: 16)

    public init() {}

    /// The event for one record, or nil (counted) if it could not be decoded.
    public mutating func decode(_ sample: RawSample) -> MonitorEvent? {
        counted(Result { () throws(DecodeError) in try MonitorDecoder.decode(sample, packetArrays: &packetArrays) })
    }

    /// The event for a ring entry, decoded from the ring's borrowed bytes, or nil (counted).
    public mutating func decode(_ entry: RingEntryView) -> MonitorEvent? {
        if let count = entry.lostCount {
            decoded += 1
            return MonitorEvent(cpu: entry.cpu, timestamp: entry.timestamp, payload: .lost(count: count))
        }
        return counted(Result { () throws(DecodeError) in
            try MonitorDecoder.decode(cpu: entry.cpu, timestamp: entry.timestamp, bytes: entry.bytes,
                                      packetArrays: &packetArrays)
        })
    }

    /// Checks a record as `decode(_:)` does and counts it, without making the event: for
    /// records nothing will show (debug messages in a Hubble format without `-v`, in capture
    /// files). Returns whether it decoded.
    @discardableResult
    mutating func check(_ sample: RawSample) -> Bool {
        decodeInPlace(sample) != nil
    }

    /// `check(_:)` on a sample's borrowed bytes.
    @discardableResult
    mutating func check(bytes: UnsafeRawBufferPointer) -> Bool {
        counted(Result { () throws(DecodeError) in try MonitorDecoder.decodeMessage(bytes) }) != nil
    }

    /// `check(_:)` on the borrowed bytes of a debug message (type byte 2), which makes no
    /// event and has no packet: its length is all there is to check.
    @inline(__always)
    mutating func checkDebug(bytes: UnsafeRawBufferPointer) {
        do throws(DecodeError) {
            try MonitorDecoder.checkDebug(bytes)
            decoded += 1
        } catch {
            errors.record(error.kind)
            lastError = error
        }
    }

    /// Decodes a record as `decode(_:)` does and counts it alike, without making the event or
    /// copying its packet: what a packet's record takes of the message, and where in the
    /// sample's own bytes the packet lies. For capture files, which need no flow.
    @inline(__always)
    mutating func decodeInPlace(_ sample: RawSample) -> InPlaceRecord? {
        guard case .event(let bytes) = sample.kind else {
            decoded += 1
            return InPlaceRecord(fields: nil, packet: 0..<0)
        }
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(DecodeError) in try MonitorDecoder.decodePacketFields(raw) }
        }
        guard let decoded = counted(result) else { return nil }
        guard let (fields, packet) = decoded else { return InPlaceRecord(fields: nil, packet: 0..<0) }
        return InPlaceRecord(fields: fields, packet: packet)
    }

    /// What was decoded, counted; nil for a failure, counted by kind and kept as the last.
    @inline(__always)
    private mutating func counted<T>(_ result: Result<T, DecodeError>) -> T? {
        switch result {
        case .success(let value):
            decoded += 1
            return value
        case .failure(let error):
            errors.record(error.kind)
            lastError = error
            return nil
        }
    }

    /// The events for a batch of records, in order, leaving out the ones that failed.
    public mutating func decode<S: Sequence<RawSample>>(contentsOf samples: S) -> [MonitorEvent] {
        var events: [MonitorEvent] = []
        events.reserveCapacity(samples.underestimatedCount)
        for sample in samples {
            if let event = decode(sample) { events.append(event) }
        }
        return events
    }
}

/// A record decoded in place (`MonitorEventStream.decodeInPlace`). Plain values only: a
/// reference here made destroying each one a generic runtime call (about 130 instructions).
struct InPlaceRecord {
    /// What the packet's record takes of the message; nil for a lost record or a debug message.
    var fields: PacketFields?
    /// Where in the sample's bytes the packet appended to the message lies (empty for debug
    /// messages and lost records).
    var packet: Range<Int>
}

extension RawSample {
    /// Whether the record holds a datapath debug message (type byte 2), read without decoding.
    @inline(__always)
    var isDebugMessage: Bool {
        if case .event(let bytes) = kind { bytes.first == MonitorMessageType.debug.rawValue } else { false }
    }
}

extension RawSampleView {
    /// Whether the record holds a datapath debug message (type byte 2), read without decoding.
    @inline(__always)
    var isDebugMessage: Bool { lostCount == nil && bytes.first == MonitorMessageType.debug.rawValue }
}

extension RingEntryView {
    /// Whether the entry holds a datapath debug message (type byte 2), read without decoding.
    @inline(__always)
    var isDebugMessage: Bool { lostCount == nil && bytes.first == MonitorMessageType.debug.rawValue }
}
