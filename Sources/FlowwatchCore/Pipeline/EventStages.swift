/// Decode, build the Hubble event when someone needs it, filter: what one record means and
/// whether the filters keep it. Shared by the pipeline (live capture and replay) and ring
/// queries (the live printer and the server's clients), so all of them count and decide alike.
public struct EventMatcher: Sendable {
    /// A record the filters kept.
    public struct Match: Sendable {
        public var event: MonitorEvent
        /// The Hubble event, when the filters built it to decide.
        public var flow: FlowEvent? { built?.event }
        /// Boxed: a flow is large, and a match is moved several times on its way to an output.
        fileprivate var built: BuiltFlow?
        /// Kernel time moved to wall-clock time, in nanoseconds.
        public var wallTime: Int64 { Int64(truncatingIfNeeded: event.timestamp) &+ wallClockOffset }
        let wallClockOffset: Int64

        public var isDebug: Bool { event.isDebug }
    }

    fileprivate final class BuiltFlow: Sendable {
        let event: FlowEvent
        init(_ event: FlowEvent) { self.event = event }
    }

    private(set) var stream = MonitorEventStream()
    public let builder: FlowBuilder
    public let filter: FlowFilterSet
    /// Debug messages are events too; when nothing shows them (Hubble formats without `-v`,
    /// `cilium monitor` at info, the server's flow stream) they are passed over, and neither
    /// `--last N` nor `--first N` counts them.
    public let includeDebug: Bool
    /// Records the filters left out.
    public private(set) var filteredOut: UInt64 = 0

    public init(builder: FlowBuilder, filter: FlowFilterSet = FlowFilterSet(), includeDebug: Bool = true) {
        self.builder = builder
        self.filter = filter
        self.includeDebug = includeDebug
    }

    /// A record's kernel timestamp as wall-clock nanoseconds, what selections compare.
    @inline(__always) public func wallTime(_ timestamp: UInt64) -> Int64 {
        Int64(truncatingIfNeeded: timestamp) &+ builder.wallClockOffset
    }

    /// Decode errors by kind, and the last one for a diagnostic line.
    public var decodeErrors: DecodeErrorCounts { stream.errors }
    public var lastDecodeError: DecodeError? { stream.lastError }
    /// Records that decoded into events.
    public var decoded: UInt64 { stream.decoded }

    /// The record's event if it decodes and the filters keep it; nil otherwise (counted).
    public mutating func match(_ sample: RawSample) -> Match? {
        // Debug messages nothing shows are only checked and counted: most records of a -v
        // capture are debug messages, and building their text is most of the decode cost.
        if !includeDebug, sample.isDebugMessage {
            passOver(sample)
            return nil
        }
        guard let event = stream.decode(sample) else { return nil }
        return matched(event)
    }

    /// `match(_:)` on a ring entry, decoded from the ring's borrowed bytes: what a ring reader
    /// (the live printer, a server client) calls per entry, with no copy of the sample.
    public mutating func match(_ entry: RingEntryView) -> Match? {
        if !includeDebug, entry.isDebugMessage {
            stream.check(bytes: entry.bytes)
            return nil
        }
        guard let event = stream.decode(entry) else { return nil }
        return matched(event)
    }

    /// A decoded event, if the filters keep it.
    @inline(__always)
    private mutating func matched(_ event: MonitorEvent) -> Match? {
        guard includeDebug || !event.isDebug else { return nil }
        var built: BuiltFlow?
        if !filter.isEmpty {
            let flow = builder.build(event)
            guard filter.matches(flow) else {
                filteredOut += 1
                return nil
            }
            built = BuiltFlow(flow)
        }
        return Match(event: event, built: built, wallClockOffset: builder.wallClockOffset)
    }

    /// `match` for a caller that needs neither the event nor its flow (capture files) and has
    /// no filters: the same decisions and counts, with the fields a packet's record takes read
    /// in place and its packet left in the sample.
    mutating func matchInPlace(_ sample: RawSample) -> InPlaceRecord? {
        if !includeDebug, sample.isDebugMessage {
            passOver(sample)
            return nil
        }
        return stream.decodeInPlace(sample)
    }

    /// A debug message nothing shows (`includeDebug` is false): checked and counted as `match`
    /// would, without making its event.
    mutating func passOver(_ sample: RawSample) {
        _ = stream.check(sample)
    }

    /// `passOver(_:)` on the borrowed bytes of a debug message.
    mutating func passOver(debug bytes: UnsafeRawBufferPointer) {
        stream.checkDebug(bytes: bytes)
    }
}

/// Turns matched events into text: `cilium monitor`'s lines or one of Hubble's formats.
public struct EventPrinter: Sendable {
    private let monitor: MonitorFormatter?
    /// Where `cilium monitor` lines are written before they join the output (Hubble's writers
    /// keep their own).
    private var monitorLine = LineBuffer(capacity: 512)
    private var hubble: (any FlowOutput)?
    /// The flow a Hubble format writes, rebuilt for each packet event.
    private var scratch = Flow(time: FlowTime(seconds: 0, nanos: 0), eventType: Flow.CiliumEventType(type: 0, subType: 0))
    /// Hubble formats show debug events only when asked (`-v`), as `cilium monitor` does.
    private let showDebugEvents: Bool
    /// Nothing is printed (`--pcap-only`).
    public let isSilent: Bool
    /// `cilium monitor`'s format rather than one of Hubble's.
    private let isMonitor: Bool

    public init(output: OutputChoice, numericIdentities: Bool = false, hubbleOptions: HubbleOptions = HubbleOptions(),
                showDebugEvents: Bool = false, interfaceName: @escaping @Sendable (UInt32) -> String? = { _ in nil }) {
        self.showDebugEvents = showDebugEvents
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
        isSilent = monitor == nil && hubble == nil
        isMonitor = monitor != nil
    }

    /// Whether this output prints debug messages: `cilium monitor -v` and up, or a Hubble
    /// format with `-v`.
    public static func showsDebug(_ output: OutputChoice, showDebugEvents: Bool) -> Bool {
        switch output {
        case .monitor(let verbosity): verbosity >= .debug
        case .hubble: showDebugEvents
        case .none: false
        }
    }

    /// Appends the text of one event.
    public mutating func write(_ match: borrowing EventMatcher.Match, builder: borrowing FlowBuilder, into buffer: inout [UInt8]) {
        // Tested through `isMonitor` and `isSilent`: binding or comparing the optionals copies
        // them, the Hubble output's existential box included, on every event.
        if isMonitor {
            Self.writeMonitor(match.event, monitor!, &monitorLine, into: &buffer)
        } else if !isSilent, showDebugEvents || !match.isDebug {
            if let built = match.built {
                hubble!.write(built.event, into: &buffer)
            } else if builder.build(match.event, into: &scratch) {
                // Refilled in place and written from here, not kept.
                hubble!.write(flow: scratch, into: &buffer)
            } else {
                hubble!.write(builder.build(match.event), into: &buffer)
            }
        }
    }

    private static func writeMonitor(_ event: MonitorEvent, _ monitor: borrowing MonitorFormatter, _ line: inout LineBuffer,
                                     into buffer: inout [UInt8]) {
        line.append(to: &buffer) { monitor.write(event, to: &$0) }
    }

    /// Appends a lost-events line for loss that no record carries (a ring reader that fell
    /// behind): Hubble's `EVENTS LOST:` line, or `cilium monitor`'s `Lost N events` form.
    public mutating func write(_ lost: LostEvent, into buffer: inout [UInt8]) {
        if monitor != nil {
            buffer.appendASCII(lost.source.monitorPrefix)
            buffer.appendASCII(" Lost ")
            buffer.appendDecimal(lost.numEventsLost)
            buffer.appendASCII(" events\n")
        } else if hubble != nil {
            hubble!.write(.lost(lost), into: &buffer)
        }
    }

    /// Appends what an output held back (the table's rows).
    public mutating func flush(into buffer: inout [UInt8]) {
        if hubble != nil { hubble!.flush(into: &buffer) }
    }
}

extension LostEvent.Source {
    /// Where `cilium monitor`'s format says the loss happened: perf loss is printed per CPU by
    /// the record itself; the others name the queue.
    var monitorPrefix: StaticString {
        switch self {
        case .hubbleRingBuffer: "RING:"
        case .observerEventsQueue: "QUEUE:"
        case .perfEventRingBuffer: "PERF:"
        case .unknown: "UNKNOWN:"
        }
    }
}

extension MonitorEvent {
    var isDebug: Bool { if case .message(.debug, _) = payload { true } else { false } }
}
