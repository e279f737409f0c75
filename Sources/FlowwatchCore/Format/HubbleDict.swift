/// `hubble observe -o dict`: one block of right-aligned keys per event, blocks separated by a
/// line of twelve dashes.
///
///       TIMESTAMP: Nov 21 09:28:33.123
///          SOURCE: default/client:12544
///     DESTINATION: default/server:80
///            TYPE: to-endpoint
///         VERDICT: FORWARDED
///         SUMMARY: TCP Flags: SYN
///     ------------
///
/// Debug events use Hubble's `debug-events` keys (TYPE, FROM, MARK, CPU, MESSAGE) and lost
/// events its lost-event block. Hubble forgets the newline after the separator before a debug
/// event; flowwatch writes it.
public struct HubbleDictWriter: FlowOutput {
    public var options: HubbleOptions
    /// Events written so far: every block but the first starts with the separator.
    private var written = 0

    public init(options: HubbleOptions = HubbleOptions()) {
        self.options = options
    }

    public mutating func write(_ event: FlowEvent, into b: inout [UInt8]) {
        if written > 0 { b.appendASCII("------------\n") }
        written += 1
        b.appendASCII("  TIMESTAMP: ")
        b.appendHubbleTime(event.time, options.timeFormat)
        if options.printNodeName {
            b.appendASCII("\n       NODE: ")
            b.append(event.nodeName)
        }
        switch event {
        case .flow(let f):
            b.appendASCII("\n     SOURCE: ")
            b.appendHubbleHost(f, source: true, translate: options.translateIPs)
            b.appendASCII("\nDESTINATION: ")
            b.appendHubbleHost(f, source: false, translate: options.translateIPs)
            b.appendASCII("\n       TYPE: ")
            b.appendHubbleFlowType(f)
            b.appendASCII("\n    VERDICT: ")
            b.append(f.verdict.name)
            b.appendASCII("\n    SUMMARY: ")
            b.appendHubbleSummary(f)
        case .debug(let d):
            b.appendASCII("\n       TYPE: ")
            b.appendHubbleDebugType(d)
            b.appendASCII("\n       FROM: ")
            b.appendHubbleEndpointShort(d.source)
            b.appendASCII("\n       MARK: ")
            b.appendHexPrefixed(d.hash)
            b.appendASCII("\n        CPU: ")
            b.appendHubbleCPU(d.cpu)
            b.appendASCII("\n    MESSAGE: ")
            b.append(d.message)
        case .lost(let l):
            b.appendASCII("\n     SOURCE: ")
            b.append(l.source.name)
            b.appendASCII("\n       TYPE: EVENTS LOST\n    VERDICT: -\n    SUMMARY: ")
            b.appendHubbleLostCount(l, separator: " - ", options.timeFormat)
        }
        b.append(UInt8(ascii: "\n"))
    }
}
