/// What to print: `cilium monitor`'s text at a verbosity, or one of Hubble's formats.
public enum OutputChoice: Sendable, Equatable {
    case monitor(MonitorFormatter.Verbosity)
    case hubble(HubbleOutputFormat)
    /// No text at all (`--pcap-only`): events only feed capture files.
    case none
}

/// Everything an event goes through after the perf ring, the same for live capture and replay:
/// put back in kernel-time order across CPUs (`ReorderBuffer`: a 50 ms window, late records
/// still delivered and counted), stored in the flow ring when there is one (live readers and the
/// server take their events from there), then decoded (bad samples are counted, never fatal),
/// filtered, selected (`--first`, `--last`, `--since`, `--until` on a replay), formatted into the
/// caller's buffer and handed to capture files.
public struct EventPipeline: Sendable {
    private var reorder: ReorderBuffer
    private var stages: Stages
    /// Arrays for the records taken in place and kept (`consume(_: RawSampleView, …)`).
    private var arrays = SampleArrays()

    /// Records handed in, lost records included.
    public private(set) var samples: UInt64 = 0
    /// Events the ring lost, as PERF_RECORD_LOST records reported them, per CPU.
    public private(set) var lostPerCPU: [UInt32: UInt64] = [:]

    /// - Parameters:
    ///   - ring: where every record goes once in time order (live capture); nil for a replay.
    ///   - selection: which of the matching events are printed and captured; `.all` for live
    ///     capture, where readers of the ring select.
    public init(output: OutputChoice, config: NodeConfig, wallClockOffset: Int64, numericIdentities: Bool = false,
                hubbleOptions: HubbleOptions = HubbleOptions(), showDebugEvents: Bool = false,
                capturePackets: Bool = false, captureMeaning: Bool = true, filter: FlowFilterSet = FlowFilterSet(),
                selection: EventSelection = EventSelection(number: .all), ring: EventRing? = nil,
                reorderWindow: Duration = ReorderBuffer.defaultWindow,
                interfaceName: @escaping @Sendable (UInt32) -> String? = { _ in nil }) {
        reorder = ReorderBuffer(window: reorderWindow)
        let builder = FlowBuilder(config: config, wallClockOffset: wallClockOffset, interfaceName: interfaceName)
        stages = Stages(
            matcher: EventMatcher(builder: builder, filter: filter,
                                  includeDebug: EventPrinter.showsDebug(output, showDebugEvents: showDebugEvents)),
            printer: EventPrinter(output: output, numericIdentities: numericIdentities, hubbleOptions: hubbleOptions,
                                  showDebugEvents: showDebugEvents, interfaceName: interfaceName),
            packets: capturePackets
                ? PacketRecordBuilder(config: config, wallClockOffset: wallClockOffset, withMeaning: captureMeaning,
                                      interfaceName: interfaceName)
                : nil,
            selection: selection, ring: ring)
    }

    /// Decode errors by kind, and the last one for a diagnostic line.
    public var decodeErrors: DecodeErrorCounts { stages.matcher.decodeErrors }
    public var lastDecodeError: DecodeError? { stages.matcher.lastDecodeError }
    /// Records that decoded into events.
    public var decoded: UInt64 { stages.matcher.decoded }
    public var lost: UInt64 { lostPerCPU.values.reduce(0, +) }
    /// Events the filters left out (neither printed nor written to capture files).
    public var filteredOut: UInt64 { stages.matcher.filteredOut }
    /// Matching events outside the selection (before `--since`, after `--until`, beyond
    /// `--first N` or older than the `--last N`).
    public var unselected: UInt64 { stages.unselected }
    /// Records that came later than the reorder window allows: delivered, out of order.
    public var late: UInt64 { reorder.statistics.late }
    /// The selection can take no more events (`--first N` reached, or past `--until`): a
    /// replay may stop reading.
    public var isComplete: Bool { stages.complete }

    /// Takes one record; appends the text of every record now due to `buffer` and hands each
    /// due packet's record to `capture` (when capture files are written).
    public mutating func consume(_ sample: RawSample, into buffer: inout [UInt8],
                                 capture: (PacketRecord) -> Void = { _ in }) {
        samples += 1
        if case .lost(let n) = sample.kind { lostPerCPU[sample.cpu, default: 0] += n }
        if stages.passesOverDebug, sample.isDebugMessage {
            // Nothing after the reorder buffer reads it (no ring, no output that shows debug
            // messages): it is checked and counted here, and only moves the clock, as pushing
            // it would. Most records of a -v capture are debug messages.
            if !stages.complete { stages.matcher.passOver(sample) }
            reorder.advance(to: sample.timestamp) { stages.process($0, into: &buffer, capture: capture) }
            return
        }
        reorder.push(sample) { stages.process($0, into: &buffer, capture: capture) }
    }

    /// `consume(_:into:capture:)` on a record read in place (a replay's reader buffer): a debug
    /// message that is passed over is checked there, inline (a few instructions of the loop in
    /// `replay(_:into:drainAt:capture:drain:)`), and only the records that go on are copied into
    /// arrays of their own, in a call. Most records of a -v recording are debug messages.
    @inline(__always)
    public mutating func consume(_ record: RawSampleView, into buffer: inout [UInt8],
                                 capture: (PacketRecord) -> Void = { _ in }) {
        samples += 1
        if stages.passesOverDebug, record.lostCount == nil, record.isDebugMessage {
            if !stages.complete { stages.matcher.passOver(debug: record.bytes) }
            reorder.advance(to: record.timestamp) { stages.process($0, into: &buffer, capture: capture) }
            return
        }
        keep(record, into: &buffer, capture: capture)
    }

    /// `consume` of a record that goes on: a sample is copied into an array of its own.
    @inline(never)
    private mutating func keep(_ record: RawSampleView, into buffer: inout [UInt8], capture: (PacketRecord) -> Void) {
        if let n = record.lostCount { lostPerCPU[record.cpu, default: 0] += n }
        reorder.push(record.sample(arrays: &arrays)) { stages.process($0, into: &buffer, capture: capture) }
    }

    /// Live capture with nothing arriving: releases what is due by the kernel clock `now`.
    public mutating func advance(to now: UInt64, into buffer: inout [UInt8], capture: (PacketRecord) -> Void = { _ in }) {
        reorder.advance(to: now) { stages.process($0, into: &buffer, capture: capture) }
        stages.flush(into: &buffer)
    }

    /// The end of a capture or replay: releases everything held, the events `--last N` kept
    /// and what outputs held back.
    public mutating func finish(into buffer: inout [UInt8], capture: (PacketRecord) -> Void = { _ in }) {
        reorder.flush { stages.process($0, into: &buffer, capture: capture) }
        stages.finish(into: &buffer, capture: capture)
    }

    /// What happens to a record once it is due.
    private struct Stages: Sendable {
        var matcher: EventMatcher
        var printer: EventPrinter
        /// Set when capture files are written.
        var packets: PacketRecordBuilder?
        let selection: EventSelection
        let ring: EventRing?
        /// `--first N`: matching events still wanted.
        var remaining: UInt64
        /// `--last N`: the newest N matching records so far, oldest first once `finish` sorts
        /// them out; printed at the end.
        var kept: KeptRecords?
        var complete = false
        var unselected: UInt64 = 0
        /// Nothing reads the records after the ring: a live observer whose text comes from the
        /// ring and that writes no capture file.
        let onlyStores: Bool
        /// Debug messages are neither stored nor shown, so they need not be put in order.
        let passesOverDebug: Bool
        /// Read once: testing the optional builder's field would copy the builder per record.
        let captures: Bool
        let capturesMeaning: Bool
        /// Only capture files read the records, without filters or `--last N`. Each record's
        /// message is then read in place and its packet written from the record's own bytes,
        /// without building an event (pcapng's comments build a flow only for what they have
        /// not said before).
        let capturesInPlace: Bool

        init(matcher: EventMatcher, printer: EventPrinter, packets: PacketRecordBuilder?,
             selection: EventSelection, ring: EventRing?) {
            self.matcher = matcher
            self.printer = printer
            self.packets = packets
            self.selection = selection
            self.ring = ring
            onlyStores = printer.isSilent && packets == nil
            passesOverDebug = ring == nil && !matcher.includeDebug
            captures = packets != nil
            capturesMeaning = packets?.withMeaning ?? false
            switch selection.number {
            case .first(let n): remaining = n
            case .last(let n): remaining = .max; kept = KeptRecords(limit: n)
            case .all: remaining = .max
            }
            capturesInPlace = captures && printer.isSilent && matcher.filter.isEmpty && kept == nil
        }


        mutating func process(_ sample: RawSample, into buffer: inout [UInt8], capture: (PacketRecord) -> Void) {
            ring?.write(sample)
            guard !complete, !onlyStores else { return }
            if capturesInPlace {
                guard let record = matcher.matchInPlace(sample), selects(matcher.wallTime(sample.timestamp)) else { return }
                // Lost records have no message, debug messages no packet: neither makes a record.
                if let fields = record.fields, case .event(let bytes) = sample.kind {
                    // Classic pcap calls the inlined maker directly: through the one that reads
                    // what a comment takes, its replay took 331.3M instructions instead of 297.5M.
                    let packet = capturesMeaning
                        ? packets!.record(fields, packetAt: record.packet, of: bytes, timestamp: sample.timestamp,
                                          cpu: sample.cpu)
                        : packets!.record(fields, packet: bytes[record.packet], timestamp: sample.timestamp)
                    if let packet { capture(packet) }
                }
                counted()
                return
            }
            guard var match = matcher.match(sample), selects(match.wallTime) else { return }
            if kept != nil {
                if kept!.append(sample) { unselected += 1 }
                return
            }
            emit(&match, into: &buffer, capture: capture)
            counted()
        }

        /// Whether a matching event at `time` is inside `--since`/`--until`; counts it if not.
        private mutating func selects(_ time: Int64) -> Bool {
            if selection.isBeforeRange(time) {
                unselected += 1
                return false
            }
            if selection.isAfterRange(time) {
                unselected += 1
                complete = true
                return false
            }
            return true
        }

        /// One more event printed or captured, for `--first N`.
        private mutating func counted() {
            remaining -= 1
            if remaining == 0 { complete = true }
        }

        mutating func emit(_ match: inout EventMatcher.Match, into buffer: inout [UInt8], capture: (PacketRecord) -> Void) {
            if !printer.isSilent { printer.write(match, builder: matcher.builder, into: &buffer) }
            guard captures, !match.isDebug else { return }
            if let record = packets!.record(match.event) { capture(record) }
        }

        /// Appends what an output held back (the table's rows).
        mutating func flush(into buffer: inout [UInt8]) {
            printer.flush(into: &buffer)
        }

        mutating func finish(into buffer: inout [UInt8], capture: (PacketRecord) -> Void) {
            if let records = kept?.inOrder() {
                kept = nil
                // The kept records passed once; they decode and match the same way again.
                var again = EventMatcher(builder: matcher.builder, filter: matcher.filter, includeDebug: matcher.includeDebug)
                for sample in records {
                    if var match = again.match(sample) { emit(&match, into: &buffer, capture: capture) }
                }
            }
            flush(into: &buffer)
        }
    }
}

/// `--last N` on a replay: the newest N records in a circular buffer of at most N entries.
struct KeptRecords: Sendable {
    let limit: Int
    private var records: [RawSample] = []
    private var next = 0

    init(limit: UInt64) { self.limit = Int(min(limit, UInt64(Int.max))) }

    /// Keeps `sample`; true if an older one was pushed out.
    mutating func append(_ sample: RawSample) -> Bool {
        if records.count < limit {
            records.append(sample)
            return false
        }
        records[next] = sample
        next = (next + 1) % limit
        return true
    }

    func inOrder() -> [RawSample] { Array(records[next...] + records[..<next]) }
}

extension EventPipeline {
    /// A pipeline for a recording: the config, wall-clock offset and device names it carries,
    /// so a replay anywhere prints what the live capture printed.
    public init(replaying reader: RecordingReader, output: OutputChoice, numericIdentities: Bool = false,
                hubbleOptions: HubbleOptions = HubbleOptions(), showDebugEvents: Bool = false,
                capturePackets: Bool = false, captureMeaning: Bool = true,
                filter: FlowFilterSet = FlowFilterSet(),
                selection: EventSelection = EventSelection(number: .all)) throws(ConfigError) {
        let header = reader.header
        let config = try header.config() ?? NodeConfig(nodeName: header.nodeName)
        let names = InterfaceNames(reader)
        self.init(output: output, config: config, wallClockOffset: header.wallClockOffset,
                  numericIdentities: numericIdentities, hubbleOptions: hubbleOptions,
                  showDebugEvents: showDebugEvents, capturePackets: capturePackets,
                  captureMeaning: captureMeaning, filter: filter, selection: selection,
                  interfaceName: { names.reader.interfaceName($0) })
    }

    /// Replays what `reader` has left, each record read where it lies (`consume(_: RawSampleView, …)`),
    /// until the file ends, the selection is complete or `drain` says to stop. Text goes to
    /// `buffer`; `drain` is called once it holds `drainAt` bytes or more, and returns false when
    /// nothing more is wanted (the output is gone). The loop is here, beside `consume`, so that
    /// the compiler makes one loop of the reader's walk and `consume`'s passing over: called
    /// through a closure from another module, each record cost two calls and their spills, most
    /// of what a debug message costs on its own (a -v recording to pcap: 460M instructions, 363M
    /// here; to compact text 918M, 817M).
    public mutating func replay(_ reader: RecordingReader, into buffer: inout [UInt8], drainAt: Int,
                                capture: (PacketRecord) -> Void,
                                drain: (inout [UInt8]) -> Bool) throws(RecordingFileError) {
        guard !isComplete else { return }
        try reader.forEach { record in
            consume(record, into: &buffer, capture: capture)
            if buffer.count >= drainAt, !drain(&buffer) { return false }
            return !isComplete
        }
    }
}

/// The reader's device names as of the sample being printed. The reader is read on the thread
/// that replays, which is the only one formatting.
private final class InterfaceNames: @unchecked Sendable {
    let reader: RecordingReader
    init(_ reader: RecordingReader) { self.reader = reader }
}
