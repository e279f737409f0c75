/// One record as a per-CPU perf ring delivered it: the unit that live capture, recordings and
/// replay all hand to the decoder.
public struct RawSample: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A PERF_RECORD_SAMPLE: the raw bytes the program wrote (may carry up to 7 bytes of
        /// trailing perf padding; trust the lengths inside the message).
        case event([UInt8])
        /// A PERF_RECORD_LOST: the ring was full and this many samples were dropped.
        case lost(UInt64)
    }

    /// CPU whose ring delivered the record.
    public var cpu: UInt32
    /// Kernel timestamp in nanoseconds of CLOCK_BOOTTIME (the time the program wrote at the
    /// start of the perf sample, bpf/events.h `fw_sample_hdr`); for lost records, the time the
    /// reader saw them.
    public var timestamp: UInt64
    public var kind: Kind

    public init(cpu: UInt32, timestamp: UInt64, kind: Kind) {
        self.cpu = cpu
        self.timestamp = timestamp
        self.kind = kind
    }
}

/// A record as `RawSample` holds it, with its bytes borrowed where they lie (a recording's
/// record in the reader's buffer): valid only during the call it is handed to.
public struct RawSampleView {
    public var cpu: UInt32
    public var timestamp: UInt64
    /// The sample's bytes; empty for a lost record.
    public var bytes: UnsafeRawBufferPointer
    /// For a lost record, the samples the ring dropped; nil for a sample.
    public var lostCount: UInt64?

    public init(cpu: UInt32, timestamp: UInt64, bytes: UnsafeRawBufferPointer, lostCount: UInt64?) {
        self.cpu = cpu
        self.timestamp = timestamp
        self.bytes = bytes
        self.lostCount = lostCount
    }

    /// The record as a sample of its own, its bytes copied into an array from `arrays`.
    @inline(__always)
    public func sample(arrays: inout SampleArrays) -> RawSample {
        if let lostCount { return RawSample(cpu: cpu, timestamp: timestamp, kind: .lost(lostCount)) }
        return RawSample(cpu: cpu, timestamp: timestamp, kind: .event(arrays.take(copying: bytes)))
    }
}
