/// `hubble observe -o compact` (Hubble's default for a terminal): one line per event.
///
///     Nov 21 09:28:33.123: default/client:12544 (ID:22099) -> default/server:80 (ID:11575) to-endpoint FORWARDED (TCP Flags: SYN)
///     Nov 21 09:28:33.124: default/client:12544 (ID:22099) <- default/server:80 (ID:11575) to-endpoint FORWARDED (TCP Flags: SYN, ACK)
///     Nov 21 09:28:33.125: 10.0.0.1:1234 (world) <> default/server:80 (ID:11575) Policy denied DROPPED (TCP Flags: SYN)
///     Nov 21 09:28:33.126: default/server (ID: 149) DBG_CT_VERDICT MARK: 0x0 CPU: 01 (CT verdict: New, revnat=0)
///     Nov 21 09:28:33.127 EVENTS LOST: PERF_EVENT_RING_BUFFER CPU(3) 12
///
/// Replies swap the two sides and point `<-`; `<>` marks flows whose direction is unknown
/// (drops, captures). Hubble colours these lines on a terminal; flowwatch writes plain text.
public struct HubbleCompactWriter: FlowOutput {
    public var options: HubbleOptions
    private var line = LineBuffer(capacity: 512)
    private var clock = SecondsText()
    private var identities = IdentityTexts()

    public init(options: HubbleOptions = HubbleOptions()) {
        self.options = options
    }

    public mutating func write(flow: Flow, into b: inout [UInt8]) {
        let options = options
        var clock = self.clock, identities = self.identities
        line.append(to: &b) { Self.writeFlow(flow, options, &clock, &identities, into: &$0) }
        self.clock = clock
        self.identities = identities
    }

    public mutating func write(_ event: FlowEvent, into b: inout [UInt8]) {
        let options = options
        // Copies, as the closure cannot reach self while `line` is in use.
        var clock = self.clock, identities = self.identities
        line.append(to: &b) {
            switch event {
            case .flow(let f): Self.writeFlow(f, options, &clock, &identities, into: &$0)
            case .debug(let d): Self.writeDebug(d, options, &clock, into: &$0)
            case .lost(let l): Self.writeLost(l, options, &clock, into: &$0)
            }
        }
        self.clock = clock
        self.identities = identities
    }

    /// `%s%s: %s %s %s %s %s %s %s (%s)\n`: time, node, source, its identity, arrow,
    /// destination, its identity, type, verdict, summary.
    private static func writeFlow<B: ByteSink>(_ f: Flow, _ options: HubbleOptions, _ clock: inout SecondsText,
                                               _ identities: inout IdentityTexts, into b: inout B) {
        writePrefix(f.time, f.nodeName, options, &clock, into: &b)
        let swap = f.isReply == true
        b.appendHubbleHost(f, source: !swap, translate: options.translateIPs)
        b.append(UInt8(ascii: " "))
        identities.append(swap ? f.destination.identity : f.source.identity, numeric: options.numericIdentities, to: &b)
        switch f.isReply {
        case nil: b.appendASCII(" <> ")
        case true?: b.appendASCII(" <- ")
        case false?: b.appendASCII(" -> ")
        }
        b.appendHubbleHost(f, source: swap, translate: options.translateIPs)
        b.append(UInt8(ascii: " "))
        identities.append(swap ? f.source.identity : f.destination.identity, numeric: options.numericIdentities, to: &b)
        b.append(UInt8(ascii: " "))
        b.appendHubbleFlowType(f)
        b.append(UInt8(ascii: " "))
        b.append(f.verdict.name)
        b.appendASCII(" (")
        b.appendHubbleSummary(f)
        b.appendASCII(")\n")
    }

    /// `%s%s: %s %s MARK: %s CPU: %s (%s)\n`: time, node, endpoint, type, hash, CPU, message.
    private static func writeDebug<B: ByteSink>(_ d: DebugEvent, _ options: HubbleOptions, _ clock: inout SecondsText, into b: inout B) {
        writePrefix(d.time, d.nodeName, options, &clock, into: &b)
        b.appendHubbleEndpointShort(d.source)
        b.append(UInt8(ascii: " "))
        b.appendHubbleDebugType(d)
        b.appendASCII(" MARK: ")
        b.appendHexPrefixed(d.hash)
        b.appendASCII(" CPU: ")
        b.appendHubbleCPU(d.cpu)
        b.appendASCII(" (")
        b.append(d.message)
        b.appendASCII(")\n")
    }

    /// `%s EVENTS LOST: %s CPU(%d) %d\n` (never with the node name, as in Hubble).
    private static func writeLost<B: ByteSink>(_ l: LostEvent, _ options: HubbleOptions, _ clock: inout SecondsText, into b: inout B) {
        b.appendHubbleTime(l.time, options.timeFormat, &clock)
        b.appendASCII(" EVENTS LOST: ")
        b.append(l.source.name)
        b.append(UInt8(ascii: " "))
        b.appendHubbleLostCount(l, separator: " ", options.timeFormat)
        b.append(UInt8(ascii: "\n"))
    }

    /// `time[ [node]]: `.
    private static func writePrefix<B: ByteSink>(_ time: FlowTime, _ nodeName: String, _ options: HubbleOptions,
                                                  _ clock: inout SecondsText,
                                                  into b: inout B) {
        b.appendHubbleTime(time, options.timeFormat, &clock)
        if options.printNodeName {
            b.appendASCII(" [")
            b.append(nodeName)
            b.append(UInt8(ascii: "]"))
        }
        b.appendASCII(": ")
    }
}
