/// Puts records from the per-CPU perf rings back in kernel-timestamp order.
///
/// Each CPU has its own perf ring and the reader drains them in turn, so a reply handled on
/// CPU 1 can arrive before the request handled on CPU 0. The buffer holds records for a short
/// window of kernel time and releases them oldest first, so that what is printed, stored in the
/// ring and written to pcap is in time order.
///
/// The rule, in kernel time (nanoseconds of the records' own clock):
/// - A record is held until a record (or an `advance(to:)` clock reading) at least `window`
///   newer has been seen, then released; records are released in timestamp order, equal
///   timestamps in arrival order. Default window: 50 ms — far more than the skew between CPUs
///   when the reader keeps up (microseconds), and more than a reader needs to drain a quarter
///   of one CPU's default ring (its wake-up mark: about 5,000 traces of 4 MiB) before the
///   next; it is also the delay a record waits before it is printed.
/// - At most `maxHeld` records are held (default 16,384, Hubble's largest events queue); when
///   one more arrives, the oldest is released before its window is up (counted in
///   `statistics.releasedEarly`). Memory is bounded by that count, storage is reserved at init
///   and the buffer does not allocate afterwards. A reader kept away until a CPU's 4 MiB ring
///   is full (about 20,000 traces) drains more than that in one go: another CPU's older
///   records may then come late, which is counted and shown, never dropped.
/// - A record older than one already released is late: it is released at once — never dropped
///   — right after what was already released, and counted in `statistics.late`. So the output
///   is in order except for late records, and every record comes out exactly once.
/// - Lost records (PERF_RECORD_LOST) carry the time the reader saw them, not a kernel event
///   time; they are ordered by that time like any record, advance the clock like any record,
///   and are never counted late.
/// - `flush()` releases everything held, in order (end of a capture or replay). In follow mode,
///   call `advance(to:)` with the current kernel time when the perf poll times out, so that a
///   quiet node does not hold its last records until the next one arrives.
///
/// How: most records arrive in time order already (a recording replayed, a reader that keeps
/// up with a quiet CPU), so a record no older than the last one that did joins the run, a FIFO
/// taken from its head: no heap work at all. The others come from CPUs drained in turn; each
/// CPU's records arrive in order (one perf ring per CPU, drained in order), so each CPU gets a
/// FIFO lane and the lanes are merged by a small heap of their heads — O(log CPUs) per record
/// instead of O(log held): a single heap over 5,000 held records measured ~100 ns per record
/// (one dependent L2 load per level), the merge a fraction of that. A record that would break
/// its lane's order (a CPU whose records are not in order, a late record, a CPU number beyond
/// `maximumLanes`) goes to a straggler heap instead, so order never depends on either
/// assumption. The run's head and both heaps order by (key, arrival), so the output is exactly
/// that of one heap over all held records. Records wait in a preallocated slab; the run and the
/// lanes link slab slots; heaps move 24-byte entries without touching reference counts. The slab,
/// its nodes and the free slots are one copy-on-write allocation, checked for sharing once per
/// call rather than on every access (arrays measured about 60 instructions a record for that).
public struct ReorderBuffer: Sendable {
    /// Counts since the buffer was created.
    public struct Statistics: Sendable, Hashable {
        /// Records handed to `release`.
        public var released: UInt64 = 0
        /// Sample records that arrived older than a record already released (delivered anyway).
        public var late: UInt64 = 0
        /// Records released before their window was up because `maxHeld` records were held.
        public var releasedEarly: UInt64 = 0
    }

    public static let defaultWindow: Duration = .milliseconds(50)
    public static let defaultMaxHeld = 16_384
    /// CPUs that get a lane (Linux's largest `NR_CPUS`); records from higher numbers, which only
    /// a damaged recording would hold, are still ordered, through the straggler heap.
    public static let maximumLanes = 8192

    /// How long a record is held, in kernel time.
    public let window: Duration
    /// Most records held at once.
    public let maxHeld: Int
    public private(set) var statistics = Statistics()
    /// Records held now.
    public private(set) var count = 0

    private let windowNanoseconds: UInt64
    /// Newest timestamp seen (records or clock readings).
    private var newest: UInt64 = 0
    /// Key of the last record released: the output is in order up to here.
    private var frontier: UInt64 = 0
    /// Until `newest` reaches this, nothing held is due: the oldest record's key plus the
    /// window, set when `popDue` found it not due yet; 0 (look again) once a record comes in or
    /// goes out. A clock that moves without records (most records of a -v replay are debug
    /// messages that only move it) then costs a comparison, not a look at the oldest record.
    private var quietUntil: UInt64 = 0
    private var arrivals: UInt64 = 0

    /// The slab, its nodes and the free slots.
    private var storage: Storage
    /// Records that arrived in time order, oldest first (see above).
    private var run = Lane(head: ReorderBuffer.none, tail: ReorderBuffer.none)
    private var lanes: ContiguousArray<Lane> = []
    /// Lane of each CPU number seen, -1 for none yet; grows to the highest CPU seen.
    private var laneOfCPU: ContiguousArray<Int> = []
    /// Heap of non-empty lanes, keyed by their head record.
    private var merge: ContiguousArray<Entry> = []
    /// Heap of records that could not join their lane in order.
    private var stragglers: ContiguousArray<Entry> = []

    private static let placeholder = RawSample(cpu: 0, timestamp: 0, kind: .lost(0))
    private static let none = -1

    private struct Node {
        /// Where the record sorts: its timestamp, or the frontier if it arrived behind it.
        var key: UInt64
        var arrival: UInt64
        var next: Int
    }

    /// Where held records wait (`slab`; free slots hold a trivial placeholder), their nodes and
    /// the stack of free slots: `capacity` of each, allocated once. Slots are first taken in
    /// order and only then from the stack, so memory is written as records come: a replay of a
    /// few records does not write the 1 MiB a full buffer takes (256 page faults, about 0.5 ms
    /// here). Shared only between copies of a buffer, and copied before one of them changes it
    /// (`makeUnique`).
    private final class Storage: @unchecked Sendable {
        let capacity: Int
        let slab: UnsafeMutablePointer<RawSample>
        let nodes: UnsafeMutablePointer<Node>
        let freeSlots: UnsafeMutablePointer<Int>
        var freeCount = 0
        /// Slots taken at least once: these are initialized, the rest are not.
        var used = 0

        init(capacity: Int) {
            self.capacity = capacity
            slab = .allocate(capacity: capacity)
            nodes = .allocate(capacity: capacity)
            freeSlots = .allocate(capacity: capacity)
        }

        init(copying other: Storage) {
            capacity = other.capacity
            slab = .allocate(capacity: capacity)
            slab.initialize(from: other.slab, count: other.used)
            nodes = .allocate(capacity: capacity)
            nodes.initialize(from: other.nodes, count: other.used)
            freeSlots = .allocate(capacity: capacity)
            freeSlots.initialize(from: other.freeSlots, count: other.freeCount)
            freeCount = other.freeCount
            used = other.used
        }

        deinit {
            slab.deinitialize(count: used)
            slab.deallocate()
            nodes.deallocate()
            freeSlots.deallocate()
        }

        /// A slot for `sample`: the last one freed, else the first never taken.
        @inline(__always)
        func take(_ sample: consuming RawSample) -> Int {
            let slot: Int
            if freeCount > 0 {
                freeCount -= 1
                slot = freeSlots[freeCount]
                // It holds the placeholder, which has nothing to release: no need to destroy it.
            } else {
                slot = used
                used += 1
            }
            (slab + slot).initialize(to: sample)
            return slot
        }

        /// The record in `slot`, leaving the placeholder there and the slot free.
        @inline(__always)
        func free(_ slot: Int) -> RawSample {
            let sample = (slab + slot).move()
            (slab + slot).initialize(to: ReorderBuffer.placeholder)
            (freeSlots + freeCount).initialize(to: slot)
            freeCount += 1
            return sample
        }
    }

    /// Copies the storage if another copy of this buffer shares it.
    @inline(__always)
    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = Storage(copying: storage) }
    }

    private struct Lane {
        var head: Int
        var tail: Int
    }

    /// Where the oldest held record waits.
    private enum Place {
        case run, lane, straggler
    }

    /// A heap entry: a record's sort key and, for the merge heap, its lane; for the straggler
    /// heap, its slot.
    private struct Entry {
        var key: UInt64
        var arrival: UInt64
        var index: Int

        @inline(__always)
        func precedes(_ other: Entry) -> Bool {
            key < other.key || (key == other.key && arrival < other.arrival)
        }
    }

    /// `window` must not be negative and `maxHeld` must be at least 1.
    public init(window: Duration = ReorderBuffer.defaultWindow, maxHeld: Int = ReorderBuffer.defaultMaxHeld) {
        precondition(window >= .zero, "reorder window must not be negative")
        precondition(maxHeld >= 1, "reorder buffer must hold at least one record")
        self.window = window
        self.maxHeld = maxHeld
        let (seconds, attoseconds) = window.components
        let (nanoseconds, overflow) = UInt64(clamping: seconds)
            .multipliedReportingOverflow(by: 1_000_000_000)
        windowNanoseconds = overflow ? .max : nanoseconds.addingReportingOverflow(
            UInt64(attoseconds / 1_000_000_000)).partialValue
        // One more than maxHeld: a record is taken in before the oldest is released early.
        storage = Storage(capacity: maxHeld + 1)
        stragglers.reserveCapacity(maxHeld + 1)
    }

    // The public entry points are inlinable shells, so that the `release` closure of a caller
    // in another module is called from specialized code; the ordering work is not generic.

    /// Takes one record and releases, in order, every record that is now due. If `release`
    /// throws, the record it was given counts as released and the rest stay held.
    @inlinable
    public mutating func push<Failure: Error>(
        _ sample: consuming RawSample, release: (RawSample) throws(Failure) -> Void
    ) throws(Failure) {
        insert(sample)
        while let due = popDue() { try release(due) }
    }

    /// Takes records in arrival order; the same as pushing them one at a time.
    @inlinable
    public mutating func push<Samples: Sequence<RawSample>, Failure: Error>(
        contentsOf samples: Samples, release: (RawSample) throws(Failure) -> Void
    ) throws(Failure) {
        for sample in samples { try push(sample, release: release) }
    }

    /// Moves the clock to `now` (kernel time, same clock as the records) without a record and
    /// releases what is due.
    @inlinable
    public mutating func advance<Failure: Error>(
        to now: UInt64, release: (RawSample) throws(Failure) -> Void
    ) throws(Failure) {
        guard advanceClock(to: now) else { return }
        while let due = popDue() { try release(due) }
    }

    /// Releases every record held, in order.
    @inlinable
    public mutating func flush<Failure: Error>(release: (RawSample) throws(Failure) -> Void) throws(Failure) {
        while let held = popAny() { try release(held) }
    }

    // MARK: - Taking records in

    @usableFromInline
    mutating func insert(_ sample: consuming RawSample) {
        quietUntil = 0
        let isLate = sample.timestamp < frontier
        if isLate, case .event = sample.kind { statistics.late += 1 }
        newest = max(newest, sample.timestamp)
        let node = Node(key: isLate ? frontier : sample.timestamp, arrival: arrivals, next: Self.none)
        arrivals += 1
        count += 1
        makeUnique()
        let nodes = storage.nodes
        let cpu = Int(sample.cpu)
        let slot = storage.take(sample)
        (nodes + slot).initialize(to: node)
        // Ties are in arrival order, so a key equal to the tail's keeps the run sorted too.
        if run.tail == Self.none {
            run = Lane(head: slot, tail: slot)
            return
        }
        if node.key >= nodes[run.tail].key {
            nodes[run.tail].next = slot
            run.tail = slot
            return
        }
        if let lane = lane(of: cpu) {
            let tail = lanes[lane].tail
            if tail == Self.none {
                lanes[lane] = Lane(head: slot, tail: slot)
                Self.insert(Entry(key: node.key, arrival: node.arrival, index: lane), into: &merge)
                return
            }
            // Ties are in arrival order, so a key equal to the tail's still keeps the lane sorted.
            if node.key >= nodes[tail].key {
                nodes[tail].next = slot
                lanes[lane].tail = slot
                return
            }
        }
        Self.insert(Entry(key: node.key, arrival: node.arrival, index: slot), into: &stragglers)
    }

    /// The lane of a CPU, made on first sight (the only allocation after init, once per CPU).
    private mutating func lane(of cpu: Int) -> Int? {
        guard cpu < Self.maximumLanes else { return nil }
        if cpu >= laneOfCPU.count {
            laneOfCPU.append(contentsOf: repeatElement(Self.none, count: cpu + 1 - laneOfCPU.count))
        }
        if laneOfCPU[cpu] == Self.none {
            laneOfCPU[cpu] = lanes.count
            lanes.append(Lane(head: Self.none, tail: Self.none))
            merge.reserveCapacity(lanes.count)
        }
        return laneOfCPU[cpu]
    }

    /// Whether a record may now be due.
    @usableFromInline
    mutating func advanceClock(to now: UInt64) -> Bool {
        newest = max(newest, now)
        return newest >= quietUntil
    }

    // MARK: - Letting records out

    /// The oldest record if it is due: at or behind the frontier (late records), a window
    /// older than the newest time seen, or one too many held.
    @usableFromInline
    mutating func popDue() -> RawSample? {
        guard let (key, place) = oldest() else {
            quietUntil = .max
            return nil
        }
        if key > frontier, newest - key < windowNanoseconds {
            guard count > maxHeld else {
                let (due, overflow) = key.addingReportingOverflow(windowNanoseconds)
                quietUntil = overflow ? .max : due
                return nil
            }
            statistics.releasedEarly += 1
        }
        return removeOldest(from: place)
    }

    @usableFromInline
    mutating func popAny() -> RawSample? {
        guard let (_, place) = oldest() else { return nil }
        return removeOldest(from: place)
    }

    /// The key of the oldest record and where it waits: the run's head, the first lane head or
    /// the first straggler, whichever comes first by (key, arrival).
    @inline(__always)
    private func oldest() -> (key: UInt64, place: Place)? {
        let nodes = storage.nodes
        var best: Entry?
        var place = Place.run
        if run.head != Self.none {
            best = Entry(key: nodes[run.head].key, arrival: nodes[run.head].arrival, index: run.head)
            // Only the run holds records when they all arrive in order: nothing to compare.
            if merge.isEmpty && stragglers.isEmpty { return (best!.key, .run) }
        }
        if let lane = merge.first, best.map({ lane.precedes($0) }) ?? true {
            best = lane
            place = .lane
        }
        if let straggler = stragglers.first, best.map({ straggler.precedes($0) }) ?? true {
            best = straggler
            place = .straggler
        }
        return best.map { ($0.key, place) }
    }

    /// Removes and returns the oldest record, which waits at `place`.
    private mutating func removeOldest(from place: Place) -> RawSample {
        quietUntil = 0
        makeUnique()
        let nodes = storage.nodes
        let slot: Int
        switch place {
        case .run:
            slot = run.head
            let next = nodes[slot].next
            run = next == Self.none ? Lane(head: Self.none, tail: Self.none) : Lane(head: next, tail: run.tail)
        case .straggler:
            slot = stragglers[0].index
            Self.removeFirst(from: &stragglers)
        case .lane:
            let lane = merge[0].index
            slot = lanes[lane].head
            let next = nodes[slot].next
            if next == Self.none {
                lanes[lane] = Lane(head: Self.none, tail: Self.none)
                Self.removeFirst(from: &merge)
            } else {
                lanes[lane].head = next
                merge[0].key = nodes[next].key
                merge[0].arrival = nodes[next].arrival
                Self.siftDownFirst(&merge)
            }
        }
        frontier = nodes[slot].key
        statistics.released += 1
        count -= 1
        return storage.free(slot)
    }

    // MARK: - Binary heap

    private static func insert(_ entry: Entry, into heap: inout ContiguousArray<Entry>) {
        heap.append(entry)
        heap.withUnsafeMutableBufferPointer { heap in
            var hole = heap.count - 1
            while hole > 0 {
                let parent = (hole - 1) / 2
                guard entry.precedes(heap[parent]) else { break }
                heap[hole] = heap[parent]
                hole = parent
            }
            heap[hole] = entry
        }
    }

    private static func removeFirst(from heap: inout ContiguousArray<Entry>) {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        siftDownFirst(&heap)
    }

    /// Restores the heap after the first entry grew.
    private static func siftDownFirst(_ heap: inout ContiguousArray<Entry>) {
        heap.withUnsafeMutableBufferPointer { heap in
            let entry = heap[0]
            var hole = 0
            while true {
                let left = 2 * hole + 1
                guard left < heap.count else { break }
                let right = left + 1
                let child = right < heap.count && heap[right].precedes(heap[left]) ? right : left
                guard heap[child].precedes(entry) else { break }
                heap[hole] = heap[child]
                hole = child
            }
            heap[hole] = entry
        }
    }
}
