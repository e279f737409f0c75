/// What to print: `cilium monitor`'s text at a verbosity, or one of Hubble's formats.
public enum OutputChoice: Sendable, Equatable {
    case monitor(MonitorFormatter.Verbosity)
    case hubble(HubbleOutputFormat)
}

/// Everything an event goes through after the perf ring, the same for live capture and replay:
/// decode (bad samples are counted, never fatal), build the Hubble event when a Hubble format is
/// printed, and format into the caller's buffer.
public struct EventPipeline: Sendable {
    private var stream = MonitorEventStream()
    private let monitor: MonitorFormatter?
    private var hubble: (any FlowOutput)?
    private var builder: FlowBuilder
    /// Hubble formats show debug events only when asked (`-v`), as `cilium monitor` does.
    private let showDebugEvents: Bool
    /// Set when capture files are written: `consume` then returns each packet's record.
    private var packets: PacketRecordBuilder?

    /// Records handed in, lost records included.
    public private(set) var samples: UInt64 = 0
    /// Events the ring lost, as PERF_RECORD_LOST records reported them, per CPU.
    public private(set) var lostPerCPU: [UInt32: UInt64] = [:]

    public init(output: OutputChoice, config: NodeConfig, wallClockOffset: Int64, numericIdentities: Bool = false,
                hubbleOptions: HubbleOptions = HubbleOptions(), showDebugEvents: Bool = false,
                capturePackets: Bool = false,
                interfaceName: @escaping @Sendable (UInt32) -> String? = { _ in nil }) {
        builder = FlowBuilder(config: config, wallClockOffset: wallClockOffset, interfaceName: interfaceName)
        self.showDebugEvents = showDebugEvents
        packets = capturePackets ? PacketRecordBuilder(config: config, interfaceName: interfaceName) : nil
        switch output {
        case .monitor(let verbosity):
            monitor = MonitorFormatter(verbosity: verbosity, numericIdentities: numericIdentities, interfaceName: interfaceName)
            hubble = nil
        case .hubble(let format):
            monitor = nil
            var options = hubbleOptions
            options.numericIdentities = numericIdentities || options.numericIdentities
            hubble = format.makeOutput(options: options)
        }
    }

    /// Decode errors by kind, and the last one for a diagnostic line.
    public var decodeErrors: DecodeErrorCounts { stream.errors }
    public var lastDecodeError: DecodeError? { stream.lastError }
    /// Records that decoded into events.
    public var decoded: UInt64 { stream.decoded }
    public var lost: UInt64 { lostPerCPU.values.reduce(0, +) }

    /// Decodes one record and appends its text (if this output shows it) to `buffer`; returns
    /// the packet's record for capture files when they are written and the event has a packet.
    @discardableResult
    public mutating func consume(_ sample: RawSample, into buffer: inout [UInt8]) -> PacketRecord? {
        samples += 1
        if case .lost(let n) = sample.kind { lostPerCPU[sample.cpu, default: 0] += n }
        guard let event = stream.decode(sample) else { return nil }
        var built: FlowEvent?
        if let monitor {
            monitor.write(event, into: &buffer)
        } else if hubble != nil, showDebugEvents || !event.isDebug {
            built = builder.build(event)
            hubble!.write(built!, into: &buffer)
        }
        guard packets != nil, !event.isDebug, case .flow(let flow) = built ?? builder.build(event) else { return nil }
        return packets!.record(event, flow: flow)
    }

    /// Appends what an output held back (the table's rows); call at the end of a batch.
    public mutating func flush(into buffer: inout [UInt8]) {
        if hubble != nil { hubble!.flush(into: &buffer) }
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
                capturePackets: Bool = false) throws(ConfigError) {
        let header = reader.header
        let config = try header.config() ?? NodeConfig(nodeName: header.nodeName)
        let names = InterfaceNames(reader)
        self.init(output: output, config: config, wallClockOffset: header.wallClockOffset,
                  numericIdentities: numericIdentities, hubbleOptions: hubbleOptions,
                  showDebugEvents: showDebugEvents, capturePackets: capturePackets,
                  interfaceName: { names.reader.interfaceNames[$0] })
    }
}

/// The reader's device names as of the sample being printed. The reader is read on the thread
/// that replays, which is the only one formatting.
private final class InterfaceNames: @unchecked Sendable {
    let reader: RecordingReader
    init(_ reader: RecordingReader) { self.reader = reader }
}
