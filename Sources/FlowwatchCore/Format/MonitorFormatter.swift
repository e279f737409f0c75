/// Formats events as `cilium monitor` prints them (`pkg/monitor/format/format.go` and the
/// `Dump*` methods of `pkg/monitor`), at its three text verbosities.
///
/// | event   | `.info` (no flag)               | `.debug` (`-v`)     | `.verbose` (`-vv`)                 |
/// |---------|---------------------------------|---------------------|------------------------------------|
/// | trace   | one-line summary                | same                | separator, header, one line/layer  |
/// | debug   | nothing                         | `CPU 03: MARK …`    | same                               |
/// | capture | summary if the point has one    | same                | separator, header, layers          |
/// | drop    | `xx drop (…) …`                 | same                | separator, header, layers          |
/// | lost    | `CPU 03: Lost 5 events`         | same                | same                               |
///
/// flowwatch prints Cilium's lines in their clean form where Cilium's have stray punctuation:
/// the trace summary reads `flow 0x0 identity 1->2` (Cilium: `flow 0x0 , identity`), the -vv
/// trace header `, interface lxc…, identity 1->2` (Cilium: `, , identity` or
/// `lxc…identity`), the drop summary `file bpf_lxc.c:1998, identity` (Cilium: `, , identity`),
/// an encrypted trace `encrypted flow` (Cilium: two spaces). -vv drops are dissected (current
/// Cilium prints a hex dump there because of an inverted flag) and show a non-zero IP trace id
/// as -vv traces do. Packets are dissected from exactly the `len_cap` captured bytes, so the
/// payload counts exclude the perf padding Cilium passes on.
///
/// Writing appends to a caller-owned `[UInt8]` so a live reader can reuse one buffer for every
/// event; numbers and addresses are written digit by digit, without `String(format:)`.
public struct MonitorFormatter: Sendable {
    /// How much `cilium monitor` prints: no flag, `-v` or `-vv`.
    public enum Verbosity: Int, Sendable, Hashable, Comparable {
        /// No flag: one line per trace or drop; debug messages are not shown.
        case info
        /// `-v`: adds debug messages.
        case debug
        /// `-vv`: adds headers and the dissected packet to traces, drops and captures.
        case verbose

        public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    }

    /// Which of Cilium's three text outputs to produce.
    public var verbosity: Verbosity
    /// `-n`: print reserved identities as numbers instead of `host`, `world`, ….
    public var numericIdentities: Bool
    /// The name of an interface by ifindex, nil if unknown (then the number is printed).
    public var interfaceName: @Sendable (UInt32) -> String?

    public init(verbosity: Verbosity = .info, numericIdentities: Bool = false,
                interfaceName: @escaping @Sendable (UInt32) -> String? = { _ in nil }) {
        self.verbosity = verbosity
        self.numericIdentities = numericIdentities
        self.interfaceName = interfaceName
    }

    /// Appends the lines for `event`, each ending in a newline; nothing if this verbosity does
    /// not show the event.
    public func write(_ event: MonitorEvent, into buffer: inout [UInt8]) {
        write(event, to: &buffer)
    }

    /// The same, into any sink (the printer writes through a `LineBuffer`).
    func write<B: ByteSink>(_ event: MonitorEvent, to buffer: inout B) {
        switch event.payload {
        case .lost(let count):
            buffer.appendCPU(event.cpu)
            buffer.appendASCII(" Lost ")
            buffer.appendDecimal(count)
            buffer.appendASCII(" events\n")
        case .message(let message, let packet):
            packet.withUnsafeBytes { raw in
                switch message {
                case .trace(let t): writeTrace(t, cpu: event.cpu, packet: raw, into: &buffer)
                case .debug(let d): writeDebug(d, cpu: event.cpu, into: &buffer)
                case .capture(let c): writeCapture(c, cpu: event.cpu, packet: raw, into: &buffer)
                case .drop(let d): writeDrop(d, cpu: event.cpu, packet: raw, into: &buffer)
                }
            }
        }
    }

    /// The lines for `event` as a string (empty if not shown); convenient for tests and logs.
    public func format(_ event: MonitorEvent) -> String {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(256)
        write(event, into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    // MARK: - Trace

    private func writeTrace<B: ByteSink>(_ t: TraceNotify, cpu: UInt32, packet: UnsafeRawBufferPointer, into b: inout B) {
        let dissection = PacketDissector.dissect(packet, from: t.firstLayer)
        if verbosity < .verbose {
            b.appendTraceSummary(t)
            if t.reason.isEncrypted { b.appendASCII(" encrypted") }
            b.appendASCII(" flow ")
            b.appendHexPrefixed(t.hash)
            b.appendASCII(" identity ")
            appendIdentities(t.sourceIdentity, t.destinationIdentity, into: &b)
            if t.ipTraceID != 0 {
                b.appendASCII(" [ ip-trace-id = ")
                b.appendDecimal(t.ipTraceID)
                b.appendASCII(" ]")
            }
            b.appendASCII(" state ")
            b.appendTraceReason(t.reason)
            b.appendASCII(" ifindex ")
            b.appendInterface(t.ifindex, interfaceName)
            b.appendASCII(" orig-ip ")
            b.appendOriginalIP(t)
            b.appendASCII(": ")
            b.appendConnectionSummary(dissection, packetLength: packet.count)
            b.appendASCII("\n")
            return
        }
        b.appendVerboseHeader(cpu: cpu, hash: t.hash, ipTraceID: t.ipTraceID, source: t.source)
        b.appendASCII(" ")
        if let name = t.observationPoint.name { b.append(name) } else { b.appendDecimal(t.observationPoint.rawValue) }
        b.appendASCII(": ")
        b.appendDecimal(t.originalLength)
        b.appendASCII(" bytes (")
        b.appendDecimal(t.capturedLength)
        b.appendASCII(" captured), state ")
        b.appendTraceReason(t.reason)
        if t.ifindex != 0 {
            b.appendASCII(", interface ")
            b.appendInterface(t.ifindex, interfaceName)
        }
        if t.sourceIdentity.rawValue != 0 || t.destinationIdentity.rawValue != 0 {
            b.appendASCII(", identity ")
            appendIdentities(t.sourceIdentity, t.destinationIdentity, into: &b)
        }
        b.appendASCII(", orig-ip ")
        b.appendOriginalIP(t)
        if t.destinationID != 0 {
            b.appendASCII(t.observationPoint == .toProxy ? ", to proxy-port " : ", to endpoint ")
            b.appendDecimal(t.destinationID)
        }
        b.appendASCII("\n")
        b.appendDissection(dissection, packet)
    }

    // MARK: - Debug

    private func writeDebug<B: ByteSink>(_ d: DebugMessage, cpu: UInt32, into b: inout B) {
        guard verbosity >= .debug else { return }
        b.appendCPU(cpu)
        b.appendASCII(" MARK ")
        b.appendHexPrefixed(d.hash)
        b.appendASCII(" FROM ")
        b.appendDecimal(d.source)
        b.appendASCII(" DEBUG: ")
        b.appendDebugText(d, interfaceName: interfaceName)
        b.appendASCII("\n")
    }

    // MARK: - Debug capture

    private func writeCapture<B: ByteSink>(_ c: DebugCapture, cpu: UInt32, packet: UnsafeRawBufferPointer, into b: inout B) {
        if verbosity < .verbose {
            // Only points with a summary prefix are shown, as in Cilium's `DumpInfo`.
            switch c.point {
            case .delivery:
                b.appendASCII("-> ")
                b.appendInterface(c.arg1, interfaceName)
            case .fromLoadBalancer:
                b.appendASCII("<- load-balancer ")
                b.appendInterface(c.arg1, interfaceName)
            case .afterNAT46:
                b.appendASCII("== v4->v6 ")
                b.appendDecimal(c.arg1)
            case .afterNAT64:
                b.appendASCII("== v6->v4 ")
                b.appendDecimal(c.arg1)
            case .proxyPost:
                b.appendASCII("-> proxy port ")
                b.appendDecimal(UInt16(truncatingIfNeeded: c.arg1).byteSwapped)
            default:
                return
            }
            b.appendASCII(": ")
            b.appendConnectionSummary(PacketDissector.dissect(packet), packetLength: packet.count)
            b.appendASCII("\n")
            return
        }
        b.appendVerboseHeader(cpu: cpu, hash: c.hash, ipTraceID: 0, source: c.source)
        b.appendASCII(" DEBUG: ")
        b.appendDecimal(c.originalLength)
        b.appendASCII(" bytes, ")
        switch c.point {
        case .delivery: b.appendASCII("Delivery to ifindex ")
        case .fromLoadBalancer: b.appendASCII("Incoming packet to load balancer on ifindex ")
        case .afterNAT46: b.appendASCII("Packet after nat46 ifindex ")
        case .afterNAT64: b.appendASCII("Packet after nat64 ifindex ")
        case .proxyPre, .proxyPost: b.appendASCII("Packet to proxy port ")
        case .snatPre: b.appendASCII("Packet going into snat engine on ifindex ")
        case .snatPost: b.appendASCII("Packet coming from snat engine on ifindex ")
        default:
            b.appendASCII("Unknown message type=")
            b.appendDecimal(c.point.rawValue)
            b.appendASCII(" arg1=")
        }
        switch c.point {
        case .proxyPre:
            b.appendDecimal(UInt16(truncatingIfNeeded: c.arg1).byteSwapped)
            b.appendASCII(" (Pre)")
        case .proxyPost:
            b.appendDecimal(UInt16(truncatingIfNeeded: c.arg1).byteSwapped)
            b.appendASCII(" (Post)")
        default:
            b.appendDecimal(c.arg1)
        }
        b.appendASCII("\n")
        if c.originalLength > 0 {
            b.appendDissection(PacketDissector.dissect(packet), packet)
        }
    }

    // MARK: - Drop

    private func writeDrop<B: ByteSink>(_ d: DropNotify, cpu: UInt32, packet: UnsafeRawBufferPointer, into b: inout B) {
        let dissection = PacketDissector.dissect(packet, from: d.firstLayer)
        if verbosity < .verbose {
            b.appendASCII("xx drop (")
            b.appendDropReason(d.reason, extError: d.extError)
            b.appendASCII(") flow ")
            b.appendHexPrefixed(d.hash)
            b.appendASCII(" to endpoint ")
            b.appendDecimal(d.destinationID)
            b.appendASCII(", ifindex ")
            b.appendDecimal(d.ifindex)
            b.appendASCII(", file ")
            b.append(d.file.name)
            b.appendASCII(":")
            b.appendDecimal(d.line)
            if d.ipTraceID != 0 {
                b.appendASCII(", [ ip-trace-id = ")
                b.appendDecimal(d.ipTraceID)
                b.appendASCII(" ]")
            }
            b.appendASCII(", identity ")
            appendIdentities(d.sourceIdentity, d.destinationIdentity, into: &b)
            b.appendASCII(": ")
            b.appendConnectionSummary(dissection, packetLength: packet.count)
            b.appendASCII("\n")
            return
        }
        b.appendVerboseHeader(cpu: cpu, hash: d.hash, ipTraceID: d.ipTraceID, source: d.source)
        b.appendASCII(" DROP: ")
        b.appendDecimal(d.originalLength)
        b.appendASCII(" bytes, reason ")
        b.appendDropReason(d.reason, extError: d.extError)
        if d.sourceIdentity.rawValue != 0 || d.destinationIdentity.rawValue != 0 {
            b.appendASCII(", identity ")
            appendIdentities(d.sourceIdentity, d.destinationIdentity, into: &b)
        }
        if d.destinationID != 0 {
            b.appendASCII(", to endpoint ")
            b.appendDecimal(d.destinationID)
        }
        b.appendASCII("\n")
        b.appendDissection(dissection, packet)
    }

    // MARK: - Shared pieces

    /// `src->dst`, reserved identities by name unless numeric output was asked for.
    private func appendIdentities<B: ByteSink>(_ source: SecurityIdentity, _ destination: SecurityIdentity, into b: inout B) {
        appendIdentity(source, into: &b)
        b.appendASCII("->")
        appendIdentity(destination, into: &b)
    }

    private func appendIdentity<B: ByteSink>(_ identity: SecurityIdentity, into b: inout B) {
        if !numericIdentities, let name = identity.reservedName {
            b.append(name)
        } else {
            b.appendDecimal(identity.rawValue)
        }
    }
}

extension ByteSink {
    /// `CPU %02d:`.
    mutating func appendCPU(_ cpu: UInt32) {
        appendASCII("CPU ")
        appendDecimal(cpu, width: 2)
        appendASCII(":")
    }

    mutating func appendSeparator() {
        appendASCII("------------------------------------------------------------------------------\n")
    }

    /// The start of every -vv header (trace, drop, capture): the separator line, then
    /// `CPU 01: MARK 0x… [ IP-TRACE-ID = n ] FROM <source>`; the trace id only when non-zero
    /// (debug captures carry none and pass 0).
    fileprivate mutating func appendVerboseHeader(cpu: UInt32, hash: UInt32, ipTraceID: UInt64, source: UInt16) {
        appendSeparator()
        appendCPU(cpu)
        appendASCII(" MARK ")
        appendHexPrefixed(hash)
        if ipTraceID != 0 {
            appendASCII(" [ IP-TRACE-ID = ")
            appendDecimal(ipTraceID)
            appendASCII(" ]")
        }
        appendASCII(" FROM ")
        appendDecimal(source)
    }

    /// An interface by name; `0` for no interface, the number if the name is unknown.
    mutating func appendInterface(_ ifindex: UInt32, _ name: (UInt32) -> String?) {
        if ifindex != 0, let name = name(ifindex) {
            append(name)
        } else {
            appendDecimal(ifindex)
        }
    }

    /// Cilium's `traceSummary`: where the packet is going or coming from.
    mutating func appendTraceSummary(_ t: TraceNotify) {
        switch t.observationPoint {
        case .toEndpoint:
            appendASCII("-> endpoint ")
            appendDecimal(t.destinationID)
        case .toProxy:
            appendASCII("-> proxy")
            if t.destinationID != 0 {
                appendASCII(" port ")
                appendDecimal(t.destinationID)
            }
        case .toHost: appendASCII("-> host from")
        case .toStack: appendASCII("-> stack")
        case .toOverlay: appendASCII("-> overlay")
        case .toNetwork: appendASCII("-> network")
        case .toCrypto: appendASCII("-> crypto")
        case .fromEndpoint:
            appendASCII("<- endpoint ")
            appendDecimal(t.source)
        case .fromProxy: appendASCII("<- proxy")
        case .fromHost: appendASCII("<- host")
        case .fromStack: appendASCII("<- stack")
        case .fromOverlay: appendASCII("<- overlay")
        case .fromNetwork: appendASCII("<- network")
        case .fromCrypto: appendASCII("<- crypto")
        default: appendASCII("unknown trace")
        }
    }

    /// Cilium's `connState`: the reason's text, or the raw byte if unknown.
    mutating func appendTraceReason(_ reason: TraceReason) {
        if let text = reason.text { append(text) } else { appendDecimal(reason.rawValue) }
    }

    /// The original source address; version 0 messages carry none and print the zero address
    /// of the family, as Cilium's zeroed field does.
    mutating func appendOriginalIP(_ t: TraceNotify) {
        if let ip = t.originalIP {
            appendIP(ip)
        } else if t.flags.contains(.ipv6) {
            appendASCII("::")
        } else {
            appendASCII("0.0.0.0")
        }
    }

    /// One line per layer, then Cilium's truncation and failure notes.
    mutating func appendDissection(_ dissection: PacketDissection, _ packet: UnsafeRawBufferPointer) {
        guard packet.count > 0 else { return }
        for layer in dissection.layers {
            appendLayerString(layer, packet)
            appendASCII("\n")
        }
        if dissection.truncated {
            appendASCII("  Packet has been truncated\n")
        }
        if let failure = dissection.failure {
            appendASCII("  Failed to decode layer: ")
            append(failure.message)
            appendASCII("\n")
        }
    }
}
