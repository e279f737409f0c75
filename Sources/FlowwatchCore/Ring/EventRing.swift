import Synchronization

/// A bounded in-memory ring of raw perf records (flows, debug messages and lost records before
/// decoding) with one writer and any number of concurrent readers; the oldest entry is
/// overwritten.
///
/// Geometry follows Hubble's ring (`pkg/hubble/container/ring.go`): `capacity` is 2^n − 1 and
/// the ring holds `capacity + 1` slots, one of which is reserved for the writer and never
/// readable, so a reader that starts at the oldest entry has a whole write of margin before that
/// entry is overwritten. Entries are addressed by a monotonically increasing 64-bit position
/// (`writtenTotal` is the position of the next write); position `p` lives in slot
/// `p & capacity`.
///
/// Why slots of bytes and not Swift values: a reader racing the writer must never observe a torn
/// entry, and a torn `String` or `Array` reference would crash rather than merely be wrong. So
/// every slot is plain old data — a 32-byte header (sequence, kernel timestamp, CPU and kind,
/// original length or lost count) followed by the first `slotBytes − 32` bytes of the sample —
/// inside one allocation made at init. Writes never allocate, memory is exactly
/// `(capacity + 1) × slotBytes` no matter the traffic, and readers decode the copied bytes
/// outside the ring. A sample longer than a slot keeps its first bytes and its original length
/// and is marked `truncatedInRing`; `slotBytes(forCaptureLength:)` picks a slot size that
/// avoids this for a given capture length.
///
/// Why readers cannot tear: each slot is a seqlock. Its sequence word is `2p + 1` while the
/// writer fills it with position `p` and `2p + 2` once done; a reader that wants position `p`
/// loads the sequence (acquire), copies the header and bytes, fences (acquire) and loads the
/// sequence again. Only if both loads are `2p + 2` is the copy returned; otherwise the writer
/// has lapped the reader and the position counts as missed. Every word of a slot — data
/// included — is an `Atomic<UInt64>` accessed with relaxed ordering, so the race between a
/// reader's copy and the writer's overwrite is well defined under the Swift (C++) memory model
/// rather than a benign-looking data race; on x86-64 and arm64 relaxed loads and stores are
/// plain moves and the release/acquire fences cost nothing or one barrier, so this is as cheap
/// as `memcpy`. This is the fence-based seqlock of Boehm, "Can Seqlocks Get Along With
/// Programming Language Memory Models?" (MSPC 2012); ThreadSanitizer finds no race in the
/// concurrent tests.
///
/// Sendability: the class is `@unchecked Sendable` because the slot memory is reached through
/// an unsafe pointer. The pointer itself never changes after init, every access to the memory
/// behind it is atomic, and the write position and waiter count are `Atomic`s. Writes must come
/// from one thread at a time (the perf reader loop); concurrent writers are a programming error
/// that debug builds catch with an assertion.
public final class EventRing: @unchecked Sendable {
    /// Readable entries at most: 2^n − 1 (Hubble's `Cap()`).
    public let capacity: Int
    /// Bytes per slot, header included: a power of two.
    public let slotBytes: Int
    /// Sample bytes a slot holds; longer samples are truncated in the ring.
    public var sampleBytesPerSlot: Int { slotBytes - Slot.headerBytes }

    /// Position of the next write, i.e. entries ever written (Hubble's `SeenFlows`).
    public var writtenTotal: UInt64 { writePosition.load(ordering: .acquiring) }

    /// Entries currently readable (Hubble's `Len()`): what was written, up to `capacity`.
    public var count: Int { Int(min(writtenTotal, UInt64(capacity))) }

    /// Bytes the ring holds in slots: fixed at init, `(capacity + 1) × slotBytes`.
    public var memoryBytes: Int { (capacity + 1) * slotBytes }

    let geometry: Geometry
    let writePosition = Atomic<UInt64>(0)
    let doorbell = RingDoorbell()
    /// Set while a write is in progress; only debug builds look at it, to catch a second writer.
    private let writing = Atomic<Bool>(false)

    /// Hubble's default capacity (`container.Capacity4095`).
    public static let defaultCapacity = 4095
    /// Largest capacity accepted: 2^24 − 1 entries.
    public static let maximumCapacity = (1 << 24) - 1
    /// Smallest slot: the 32-byte header plus 32 bytes of sample, enough for a debug message.
    public static let minimumSlotBytes = 64
    /// Largest slot, 64 KiB: room for any sample the datapath emits (`FW_MAX_CAPTURE`, 65,000
    /// packet bytes, plus headers and padding).
    public static let maximumSlotBytes = 1 << 16
    /// Upper bound on the slot memory, 4 GiB: a guard against a mistyped capacity taking the
    /// node's memory, well above 1,048,575 × 2 KiB.
    public static let maximumMemoryBytes = 1 << 32

    /// Creates a ring and allocates (and touches) all of its memory now, so that the resident
    /// size is known from the start and does not grow with traffic. The default slot fits the
    /// datapath's default 128-byte capture (`FW_DEFAULT_CAPTURE_LEN`): 256 bytes, 1 MiB for the
    /// default 4095 entries, 16 MiB for 65,535.
    public init(capacity: Int = EventRing.defaultCapacity,
                slotBytes: Int = EventRing.slotBytes(forCaptureLength: 128)) throws(EventRingError) {
        try Self.validate(capacity: capacity)
        guard slotBytes >= Self.minimumSlotBytes, slotBytes <= Self.maximumSlotBytes,
              slotBytes & (slotBytes - 1) == 0 else {
            throw .invalidSlotBytes(slotBytes)
        }
        let (bytes, overflow) = (capacity + 1).multipliedReportingOverflow(by: slotBytes)
        guard !overflow, bytes <= Self.maximumMemoryBytes else {
            throw .tooLarge(capacity: capacity, slotBytes: slotBytes)
        }
        self.capacity = capacity
        self.slotBytes = slotBytes
        geometry = Geometry(slots: capacity + 1, slotBytes: slotBytes)
    }

    deinit {
        geometry.deallocate()
    }

    /// Checks a capacity the way Hubble's `NewCapacity` does, for a CLI's `validate()` before
    /// anything is allocated.
    public static func validate(capacity: Int) throws(EventRingError) {
        guard capacity >= 1, capacity <= maximumCapacity else {
            throw .capacityOutOfRange(capacity)
        }
        guard capacity & (capacity + 1) == 0 else {
            throw .capacityNotPowerOfTwoMinusOne(capacity)
        }
    }

    /// The smallest slot that holds a whole sample for a capture length (`--capture-len`; 0 =
    /// whole packet): the slot header, the longest notify header (56 bytes, trace v2), the
    /// packet bytes and perf's up to 7 bytes of padding, rounded up to a power of two.
    ///
    /// Whole packets are sized for a standard 1514-byte Ethernet frame (a 2 KiB slot) rather
    /// than the 64 KiB a GSO packet may reach: a ring of such slots would cost 256 MiB at the
    /// default capacity. Larger packets are truncated in the ring and marked so.
    public static func slotBytes(forCaptureLength captureLength: Int) -> Int {
        let packet = captureLength <= 0 || captureLength > 1514 ? 1514 : captureLength
        let needed = Slot.headerBytes + maximumNotifyHeaderBytes + packet + 7
        var size = minimumSlotBytes
        while size < needed { size <<= 1 }
        return size
    }

    private static let maximumNotifyHeaderBytes =
        (NotifyLayout.traceLengths + NotifyLayout.dropLengths + NotifyLayout.captureLengths).max() ?? 0

    // MARK: - Writing (one writer)

    /// Appends one record, overwriting the oldest when full. Allocation-free.
    public func write(_ sample: RawSample) {
        switch sample.kind {
        case .event(let bytes):
            bytes.withUnsafeBytes { write(cpu: sample.cpu, timestamp: sample.timestamp, bytes: $0) }
        case .lost(let count):
            writeLost(cpu: sample.cpu, timestamp: sample.timestamp, count: count)
        }
    }

    /// Appends a sample from borrowed bytes (e.g. straight from the perf ring's mmap), so the
    /// perf reader need not build an array first.
    public func write(cpu: UInt32, timestamp: UInt64, bytes: UnsafeRawBufferPointer) {
        let position = beginWrite()
        let slot = geometry.slot(position)
        slot.store(Slot.timestampWord, timestamp)
        slot.store(Slot.sourceWord, UInt64(cpu))
        slot.store(Slot.lengthWord, UInt64(bytes.count))
        slot.storeData(from: bytes, limit: geometry.dataBytes)
        endWrite(position, slot)
    }

    /// Appends a perf lost record (PERF_RECORD_LOST): `count` samples the kernel dropped.
    public func writeLost(cpu: UInt32, timestamp: UInt64, count: UInt64) {
        let position = beginWrite()
        let slot = geometry.slot(position)
        slot.store(Slot.timestampWord, timestamp)
        slot.store(Slot.sourceWord, UInt64(cpu) | Slot.lostFlag)
        slot.store(Slot.lengthWord, count)
        endWrite(position, slot)
    }

    /// Marks the slot odd (being written) before any of its other words change. The release
    /// fence orders that store before the data stores: a reader whose copy saw any new word
    /// then sees the odd sequence on its re-check (fence-to-fence synchronization).
    @inline(__always)
    private func beginWrite() -> UInt64 {
        assert(!writing.exchange(true, ordering: .acquiring), "EventRing has more than one writer")
        let position = writePosition.load(ordering: .relaxed)
        geometry.slot(position).store(Slot.sequenceWord, Slot.sequence(writing: position))
        atomicMemoryFence(ordering: .releasing)
        return position
    }

    /// Publishes the slot (even sequence, release), then the position (release), then wakes
    /// sleeping followers if there are any: without them a write takes no lock and makes no
    /// syscall (see `RingDoorbell` for why the position store needs no stronger ordering).
    @inline(__always)
    private func endWrite(_ position: UInt64, _ slot: Slot) {
        slot.publish(Slot.sequence(completed: position))
        writePosition.store(position &+ 1, ordering: .releasing)
        if doorbell.hasWaiters { doorbell.ring() }
        assert(writing.exchange(false, ordering: .releasing))
    }

    /// Has every follower of the ring return at once, caught up (`nextFollow` nil), from the
    /// follow it is in or its next one: one told to stop sees it without waiting out its
    /// timeout.
    public func wakeFollowers() { doorbell.interrupt() }

    // MARK: - Reading (any thread)

    /// Where a new reader starts.
    public enum Start: Sendable {
        /// At the oldest readable entry (Hubble's `OldestWrite()`; `--first`).
        case oldest
        /// After the newest entry: `next()` sees only what is written from now on (follow), and
        /// `previous()` walks back from the newest (`--last N`).
        case newest
    }

    /// A reader positioned at `start`.
    public func reader(at start: Start) -> RingReader {
        let written = writtenTotal
        switch start {
        case .oldest: return RingReader(ring: self, position: oldestPosition(written: written), written: written)
        case .newest: return RingReader(ring: self, position: written, written: written)
        }
    }

    /// The oldest readable position when `written` entries have been written.
    private func oldestPosition(written: UInt64) -> UInt64 {
        written > UInt64(capacity) ? written - UInt64(capacity) : 0
    }
}

/// Why a ring could not be created; the text names the option's rule.
public enum EventRingError: Error, Equatable, CustomStringConvertible {
    case capacityOutOfRange(Int)
    case capacityNotPowerOfTwoMinusOne(Int)
    case invalidSlotBytes(Int)
    case tooLarge(capacity: Int, slotBytes: Int)

    public var description: String {
        switch self {
        case .capacityOutOfRange(let capacity):
            "ring capacity \(capacity) is out of range: it must be between 1 and \(EventRing.maximumCapacity)"
        case .capacityNotPowerOfTwoMinusOne(let capacity):
            "ring capacity \(capacity) must be one less than a power of two (e.g. 4095, 65535, 1048575)"
        case .invalidSlotBytes(let bytes):
            "ring slot size \(bytes) must be a power of two between \(EventRing.minimumSlotBytes) and \(EventRing.maximumSlotBytes)"
        case .tooLarge(let capacity, let slotBytes):
            "a ring of \(capacity) entries of \(slotBytes) bytes exceeds \(EventRing.maximumMemoryBytes >> 30) GiB"
        }
    }
}

// MARK: - Slot memory

/// The slot array: `slots × slotBytes` bytes as 64-bit atomic words, allocated and initialized
/// once. A value type holding immutable geometry so that readers can keep their own copy and
/// not share a cache line with the write position.
struct Geometry: @unchecked Sendable {
    let words: UnsafeMutablePointer<Atomic<UInt64>>
    let mask: UInt64
    /// log2 of the words per slot: slot addressing is a shift, not a multiply.
    let wordShift: Int
    let dataBytes: Int
    private let totalWords: Int

    init(slots: Int, slotBytes: Int) {
        let wordsPerSlot = slotBytes / 8
        wordShift = wordsPerSlot.trailingZeroBitCount
        dataBytes = slotBytes - Slot.headerBytes
        mask = UInt64(slots - 1)
        totalWords = slots * wordsPerSlot
        words = .allocate(capacity: totalWords)
        for index in 0..<totalWords { (words + index).initialize(to: Atomic(0)) }
    }

    func deallocate() {
        words.deinitialize(count: totalWords)
        words.deallocate()
    }

    @inline(__always)
    func slot(_ position: UInt64) -> Slot {
        Slot(words: words + (Int(truncatingIfNeeded: position & mask) &<< wordShift))
    }
}

/// One slot: word 0 the seqlock sequence, 1 the kernel timestamp, 2 the CPU (low 32 bits) and
/// the lost flag, 3 the sample's original length (or the lost count), then the sample bytes.
struct Slot {
    let words: UnsafeMutablePointer<Atomic<UInt64>>

    static let headerBytes = 32
    static let sequenceWord = 0
    static let timestampWord = 1
    static let sourceWord = 2
    static let lengthWord = 3
    static let dataWord = 4
    static let lostFlag: UInt64 = 1 << 32

    /// Odd while position `p` is being written into the slot.
    @inline(__always) static func sequence(writing position: UInt64) -> UInt64 { position &* 2 &+ 1 }
    /// Even once position `p` is complete; 0 means never written.
    @inline(__always) static func sequence(completed position: UInt64) -> UInt64 { position &* 2 &+ 2 }

    @inline(__always)
    func store(_ word: Int, _ value: UInt64) {
        words[word].store(value, ordering: .relaxed)
    }

    @inline(__always)
    func load(_ word: Int) -> UInt64 {
        words[word].load(ordering: .relaxed)
    }

    /// The sequence, ordered before the loads that follow it (pairs with `publish`).
    @inline(__always)
    func loadSequenceAcquiring() -> UInt64 {
        words[Self.sequenceWord].load(ordering: .acquiring)
    }

    /// Stores a completed sequence after every other word of the slot.
    @inline(__always)
    func publish(_ sequence: UInt64) {
        words[Self.sequenceWord].store(sequence, ordering: .releasing)
    }

    /// Copies up to `limit` bytes of `bytes` into the data words, 8 at a time. The last partial
    /// word is cut from the 8 bytes that end the sample (shifted, in little-endian byte order so
    /// that it reads back as bytes in order on any host) rather than assembled byte by byte.
    @inline(__always)
    func storeData(from bytes: UnsafeRawBufferPointer, limit: Int) {
        let stored = min(bytes.count, limit)
        guard stored > 0, let source = bytes.baseAddress else { return }
        let whole = stored / 8
        let data = words + Self.dataWord
        for index in 0..<whole {
            data[index].store(source.loadUnaligned(fromByteOffset: index &* 8, as: UInt64.self),
                              ordering: .relaxed)
        }
        let tail = stored & 7
        guard tail > 0 else { return }
        var last: UInt64 = 0
        if stored >= 8 {
            last = UInt64(littleEndian: source.loadUnaligned(fromByteOffset: stored &- 8, as: UInt64.self))
            last >>= UInt64(8 &- tail) &* 8
        } else {
            for index in 0..<tail {
                last |= UInt64(source.load(fromByteOffset: index, as: UInt8.self)) << (UInt64(index) &* 8)
            }
        }
        data[whole].store(last.littleEndian, ordering: .relaxed)
    }

    /// Copies the data words holding `byteCount` bytes to `target`, rounded up to whole
    /// 32-byte chunks: straight-line loads without a remainder loop. `target` must be 8-byte
    /// aligned with room for the slot's whole data area (a multiple of 32 bytes, so the rounding
    /// never leaves the slot).
    @inline(__always)
    func loadData(byteCount: Int, into target: UnsafeMutableRawPointer) {
        let data = words + Self.dataWord
        var index = 0
        let end = (byteCount &+ 31) / 32 &* 4
        while index < end {
            let a = data[index].load(ordering: .relaxed)
            let b = data[index &+ 1].load(ordering: .relaxed)
            let c = data[index &+ 2].load(ordering: .relaxed)
            let d = data[index &+ 3].load(ordering: .relaxed)
            target.storeBytes(of: a, toByteOffset: index &* 8, as: UInt64.self)
            target.storeBytes(of: b, toByteOffset: index &* 8 &+ 8, as: UInt64.self)
            target.storeBytes(of: c, toByteOffset: index &* 8 &+ 16, as: UInt64.self)
            target.storeBytes(of: d, toByteOffset: index &* 8 &+ 24, as: UInt64.self)
            index &+= 4
        }
    }
}
