/// What to print: `cilium monitor`'s text at a verbosity, or one of Hubble's formats.
public enum OutputChoice: Sendable, Equatable {
    case monitor(MonitorFormatter.Verbosity)
    case hubble(HubbleOutputFormat)
    /// No text at all (`--pcap-only`): events only feed capture files.
    case none
}

/// Everything an event goes through after the perf ring, the same for live capture and replay:
/// put back in kernel-time order across CPUs (`ReorderBuffer`: a 50 ms window, late records
/// still delivered and counted), decoded (bad samples are counted, never fatal), turned into the
/// Hubble event when a Hubble format is printed or packets are captured, and formatted into the
/// caller's buffer.
public struct EventPipeline: Sendable {
    private var reorder: ReorderBuffer
    private var stages: Stages

    /// Records handed in, lost records included.
    public private(set) var samples: UInt64 = 0
    /// Events the ring lost, as PERF_RECORD_LOST records reported them, per CPU.
    public private(set) var lostPerCPU: [UInt32: UInt64] = [:]

    public init(output: OutputChoice, config: NodeConfig, wallClockOffset: Int64, numericIdentities: Bool = false,
                hubbleOptions: HubbleOptions = HubbleOptions(), showDebugEvents: Bool = false,
                capturePackets: Bool = false, captureMeaning: Bool = true, filter: FlowFilterSet = FlowFilterSet(),
                reorderWindow: Duration = ReorderBuffer.defaultWindow,
                interfaceName: @escaping @Sendable (UInt32) -> String? = { _ in nil }) {
        reorder = ReorderBuffer(window: reorderWindow)
        stages = Stages(output: output, config: config, wallClockOffset: wallClockOffset,
                        numericIdentities: numericIdentities, hubbleOptions: hubbleOptions,
                        showDebugEvents: showDebugEvents, capturePackets: capturePackets,
                        captureMeaning: captureMeaning, filter: filter, interfaceName: interfaceName)
    }

    /// Decode errors by kind, and the last one for a diagnostic line.
    public var decodeErrors: DecodeErrorCounts { stages.stream.errors }
    public var lastDecodeError: DecodeError? { stages.stream.lastError }
    /// Records that decoded into events.
    public var decoded: UInt64 { stages.stream.decoded }
    public var lost: UInt64 { lostPerCPU.values.reduce(0, +) }
    /// Events the filters left out (neither printed nor written to capture files).
    public var filteredOut: UInt64 { stages.filteredOut }
    /// Records that came later than the reorder window allows: delivered, out of order.
    public var late: UInt64 { reorder.statistics.late }

    /// Takes one record; appends the text of every record now due to `buffer` and hands each
    /// due packet's record to `capture` (when capture files are written).
    public mutating func consume(_ sample: RawSample, into buffer: inout [UInt8],
                                 capture: (PacketRecord) -> Void = { _ in }) {
        samples += 1
        if case .lost(let n) = sample.kind { lostPerCPU[sample.cpu, default: 0] += n }
        reorder.push(sample) { stages.process($0, into: &buffer, capture: capture) }
    }

    /// Live capture with nothing arriving: releases what is due by the kernel clock `now`.
    public mutating func advance(to now: UInt64, into buffer: inout [UInt8], capture: (PacketRecord) -> Void = { _ in }) {
        reorder.advance(to: now) { stages.process($0, into: &buffer, capture: capture) }
        stages.flush(into: &buffer)
    }

    /// The end of a capture or replay: releases everything held and what outputs held back.
    public mutating func finish(into buffer: inout [UInt8], capture: (PacketRecord) -> Void = { _ in }) {
        reorder.flush { stages.process($0, into: &buffer, capture: capture) }
        stages.flush(into: &buffer)
    }

    /// What happens to a record once it is due.
    private struct Stages: Sendable {
        var stream = MonitorEventStream()
        let monitor: MonitorFormatter?
        var hubble: (any FlowOutput)?
        var builder: FlowBuilder
        /// Hubble formats show debug events only when asked (`-v`), as `cilium monitor` does.
        let showDebugEvents: Bool
        /// Set when capture files are written.
        var packets: PacketRecordBuilder?
        /// Hubble's filters: what they leave out is neither printed nor written to capture files.
        let filter: FlowFilterSet
        var filteredOut: UInt64 = 0
        /// Nothing prints, filters or captures debug messages: they are only checked and counted.
        let skipsDebugMessages: Bool

        init(output: OutputChoice, config: NodeConfig, wallClockOffset: Int64, numericIdentities: Bool,
             hubbleOptions: HubbleOptions, showDebugEvents: Bool, capturePackets: Bool, captureMeaning: Bool,
             filter: FlowFilterSet,
             interfaceName: @escaping @Sendable (UInt32) -> String?) {
            self.filter = filter
            builder = FlowBuilder(config: config, wallClockOffset: wallClockOffset, interfaceName: interfaceName)
            self.showDebugEvents = showDebugEvents
            packets = capturePackets
                ? PacketRecordBuilder(config: config, wallClockOffset: wallClockOffset, withMeaning: captureMeaning,
                                      interfaceName: interfaceName)
                : nil
            switch output {
            case .monitor(let verbosity):
                monitor = MonitorFormatter(verbosity: verbosity, numericIdentities: numericIdentities, interfaceName: interfaceName)
                hubble = nil
            case .hubble(let format):
                monitor = nil
                var options = hubbleOptions
                options.numericIdentities = numericIdentities || options.numericIdentities
                hubble = format.makeOutput(options: options)
            case .none:
                monitor = nil
                hubble = nil
            }
            skipsDebugMessages = monitor == nil && (hubble == nil || !showDebugEvents) && filter.isEmpty
        }

        mutating func process(_ sample: RawSample, into buffer: inout [UInt8], capture: (PacketRecord) -> Void) {
            if skipsDebugMessages, sample.isDebugMessage { stream.check(sample); return }
            guard let event = stream.decode(sample) else { return }
            guard filter.isEmpty else { return processFiltered(event, into: &buffer, capture: capture) }
            // Without filters a flow is built only for what prints or captures it, and no
            // optional flow is carried along: most records are debug messages that need neither.
            let isDebug = event.isDebug
            if let monitor {
                monitor.write(event, into: &buffer)
            } else if hubble != nil, showDebugEvents || !isDebug {
                let flow = builder.build(event)
                hubble!.write(flow, into: &buffer)
                guard packets != nil, !isDebug else { return }
                if packets!.withMeaning, case .flow(let f) = flow {
                    if let record = packets!.record(event, flow: f) { capture(record) }
                } else if let record = packets!.record(event, flow: nil) {
                    capture(record)
                }
                return
            }
            guard packets != nil, !isDebug else { return }
            if packets!.withMeaning, case .flow(let f) = builder.build(event) {
                if let record = packets!.record(event, flow: f) { capture(record) }
            } else if let record = packets!.record(event, flow: nil) {
                capture(record)
            }
        }

        private mutating func processFiltered(_ event: MonitorEvent, into buffer: inout [UInt8],
                                              capture: (PacketRecord) -> Void) {
            let built = builder.build(event)
            guard filter.matches(built) else { filteredOut += 1; return }
            if let monitor {
                monitor.write(event, into: &buffer)
            } else if hubble != nil, showDebugEvents || !event.isDebug {
                hubble!.write(built, into: &buffer)
            }
            guard packets != nil, !event.isDebug else { return }
            // The flow is given to a packet's record only when its meaning is written.
            var flow: Flow?
            if packets!.withMeaning, case .flow(let f) = built { flow = f }
            if let record = packets!.record(event, flow: flow) { capture(record) }
        }

        /// Appends what an output held back (the table's rows).
        mutating func flush(into buffer: inout [UInt8]) {
            if hubble != nil { hubble!.flush(into: &buffer) }
        }
    }
}

extension MonitorEvent {
    var isDebug: Bool { if case .message(.debug, _) = payload { true } else { false } }
}

extension EventPipeline {
    /// A pipeline for a recording: the config, wall-clock offset and device names it carries,
    /// so a replay anywhere prints what the live capture printed.
    public init(replaying reader: RecordingReader, output: OutputChoice, numericIdentities: Bool = false,
                hubbleOptions: HubbleOptions = HubbleOptions(), showDebugEvents: Bool = false,
                capturePackets: Bool = false, captureMeaning: Bool = true,
                filter: FlowFilterSet = FlowFilterSet()) throws(ConfigError) {
        let header = reader.header
        let config = try header.config() ?? NodeConfig(nodeName: header.nodeName)
        let names = InterfaceNames(reader)
        self.init(output: output, config: config, wallClockOffset: header.wallClockOffset,
                  numericIdentities: numericIdentities, hubbleOptions: hubbleOptions,
                  showDebugEvents: showDebugEvents, capturePackets: capturePackets,
                  captureMeaning: captureMeaning, filter: filter,
                  interfaceName: { names.reader.interfaceNames[$0] })
    }
}

/// The reader's device names as of the sample being printed. The reader is read on the thread
/// that replays, which is the only one formatting.
private final class InterfaceNames: @unchecked Sendable {
    let reader: RecordingReader
    init(_ reader: RecordingReader) { self.reader = reader }
}
