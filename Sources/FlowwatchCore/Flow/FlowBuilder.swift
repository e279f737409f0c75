/// Turns decoded monitor events into Hubble events, as Cilium's Hubble parsers do
/// (`pkg/hubble/parser/threefour`, `…/debug`, `pkg/hubble/monitor/consumer.go`):
///
/// | monitor event  | becomes                                                              |
/// |----------------|----------------------------------------------------------------------|
/// | trace          | flow, FORWARDED, reply flag and direction from the conntrack reason   |
/// | drop           | flow, DROPPED, drop reason, file and line                            |
/// | debug capture  | flow, VERDICT_UNKNOWN, capture point                                 |
/// | debug message  | debug event with the monitor's text                                  |
/// | lost records   | lost event, PERF_EVENT_RING_BUFFER with the CPU                      |
///
/// Differences from Hubble, on purpose: a packet whose capture ends in an undecodable layer
/// still becomes a flow with the layers before it (Hubble drops the event with a parse error);
/// 802.1Q tags and IPv6 routing/destination-options headers are looked through, so the
/// transport behind them is reported (gopacket stops there); a trace counts as SNATed for
/// `traffic_direction` only when its original source differs from the header's (Hubble: when
/// any original source is set, which flowwatch's datapath always does); a proxy capture's port
/// is the 16-bit network-order port (Hubble byte-swaps all 32 bits); flows carry no uuid; time
/// is the kernel's timestamp moved to wall-clock time (Hubble: when the agent read the event).
///
/// Building allocates only what the flow must own: the dissection's layer list, and for debug
/// events the message text. Endpoints come from an index built once from the config.
public struct FlowBuilder: Sendable {
    /// Nanoseconds to add to a CLOCK_BOOTTIME timestamp to get Unix time (wall minus boot). A
    /// live reader updates it when the wall clock steps.
    public var wallClockOffset: Int64
    /// Name of an interface by ifindex, nil if unknown.
    public var interfaceName: @Sendable (UInt32) -> String?
    public let nodeName: String
    private let endpoints: EndpointIndex

    public init(config: NodeConfig, wallClockOffset: Int64,
                interfaceName: @escaping @Sendable (UInt32) -> String? = { _ in nil }) {
        self.wallClockOffset = wallClockOffset
        self.interfaceName = interfaceName
        self.nodeName = config.nodeName
        self.endpoints = EndpointIndex(config)
    }

    /// The Hubble event for one monitor event; every monitor event has one.
    public func build(_ event: MonitorEvent) -> FlowEvent {
        let time = FlowTime(bootNanoseconds: event.timestamp, offset: wallClockOffset)
        switch event.payload {
        case .lost(let count):
            return .lost(LostEvent(time: time, nodeName: nodeName, source: .perfEventRingBuffer,
                                   numEventsLost: count, cpu: Int32(truncatingIfNeeded: event.cpu)))
        case .message(.debug(let d), _):
            return .debug(debugEvent(d, cpu: event.cpu, time))
        case .message(let message, let packet):
            var flow = Flow(time: time, eventType: Flow.CiliumEventType(type: 0, subType: 0))
            fill(&flow, message, packet, time)
            return .flow(flow)
        }
    }

    /// Overwrites every field of `flow` with the flow of a packet event (trace, drop, debug
    /// capture) and returns true; false, leaving `flow` alone, for debug messages and lost
    /// records. For an output that writes one flow at a time: refilling the same flow costs no
    /// copy of it, where returning one costs two.
    public func build(_ event: MonitorEvent, into flow: inout Flow) -> Bool {
        guard case .message(let message, let packet) = event.payload else { return false }
        if case .debug = message { return false }
        fill(&flow, message, packet, FlowTime(bootNanoseconds: event.timestamp, offset: wallClockOffset))
        return true
    }

    // MARK: - Flows

    /// The flow of a packet message (not a debug message, which has none).
    @inline(__always)
    private func fill(_ f: inout Flow, _ message: MonitorMessage, _ packet: [UInt8], _ time: FlowTime) {
        switch message {
        case .trace(let t): fill(&f, t, packet, time)
        case .drop(let d): fill(&f, d, packet, time)
        case .capture(let c): fill(&f, c, packet, time)
        case .debug: break
        }
    }

    /// Sets the fields every packet event sets, and the rest to their defaults.
    @inline(__always)
    private func start(_ f: inout Flow, _ time: FlowTime, _ p: DecodedPacket, _ type: MonitorMessageType, _ subType: UInt8) {
        f.time = time
        f.verdict = .unknown
        f.dropReason = 0
        f.ethernet = p.ethernet
        f.ip = p.ip
        f.l4 = p.l4
        f.type = .l3L4
        // The same string again (compared by its storage first) is not stored again: storing
        // releases the old one and retains the new, for every line.
        if f.nodeName != nodeName { f.nodeName = nodeName }
        f.eventType = Flow.CiliumEventType(type: Int32(type.rawValue), subType: Int32(subType))
        f.trafficDirection = .unknown
        f.traceObservationPoint = .unknown
        f.traceReason = .unknown
        if f.file != nil { f.file = nil }
        f.ipTraceID = 0
        f.dropReasonDesc = DropReason(rawValue: 0)
        f.isReply = nil
        f.debugCapturePoint = DebugCapturePoint(rawValue: 0)
        f.interface = nil
        f.proxyPort = 0
        f.summary = p.summary
    }

    private func fill(_ f: inout Flow, _ t: TraceNotify, _ packet: [UInt8], _ time: FlowTime) {
        var p = DecodedPacket(packet, from: t.firstLayer)
        var snat = false
        if var ip = p.ip {
            if let original = t.originalSource {
                p.sourceIP = original
                if ip.source != original {
                    ip.sourceXlated = ip.source
                    ip.source = original
                    snat = true
                }
            }
            ip.encrypted = t.reason.isEncrypted
            p.ip = ip
        }
        start(&f, time, p, .trace, t.observationPoint.rawValue)
        endpoints.resolve(p.sourceIP, datapathIdentity: t.sourceIdentity.rawValue, into: &f.source)
        endpoints.resolve(p.destinationIP, datapathIdentity: t.destinationIdentity.rawValue, into: &f.destination)

        let state = t.reason.state
        let reasonKnown = state != TraceReason.unknown.rawValue
        let isReply = state == TraceReason.reply.rawValue
        if t.source != 0 && reasonKnown {
            // The emitting endpoint is the source on egress, unless the packet is a reply.
            let fromSourceEndpoint = UInt32(t.source) == f.source.id
            f.trafficDirection = fromSourceEndpoint != isReply || snat ? .egress : .ingress
        }
        // SRv6 encapsulation and decapsulation say nothing about the connection's direction.
        if reasonKnown && state != 6 && state != 7 { f.isReply = isReply }
        f.verdict = .forwarded
        f.traceObservationPoint = Flow.ObservationPoint(t.observationPoint)
        f.traceReason = Flow.Reason(t.reason)
        f.ipTraceID = t.ipTraceID
        f.interface = networkInterface(t.ifindex)
        if t.observationPoint == .toProxy { f.proxyPort = UInt32(t.destinationID) }
    }

    private func fill(_ f: inout Flow, _ d: DropNotify, _ packet: [UInt8], _ time: FlowTime) {
        let p = DecodedPacket(packet, from: d.firstLayer)
        start(&f, time, p, .drop, d.reason.rawValue)
        endpoints.resolve(p.sourceIP, datapathIdentity: d.sourceIdentity.rawValue, into: &f.source)
        endpoints.resolve(p.destinationIP, datapathIdentity: d.destinationIdentity.rawValue, into: &f.destination)
        if d.source != 0 {
            // Dropped where the source lives: egress (a dropped reply would be mislabelled, as
            // in Hubble, which assumes drops are not replies).
            f.trafficDirection = UInt32(d.source) == f.source.id ? .egress : .ingress
        }
        f.verdict = .dropped
        f.dropReason = UInt32(d.reason.rawValue)
        f.file = Flow.FileInfo(name: d.file.name, line: UInt32(d.line))
        f.ipTraceID = d.ipTraceID
        f.dropReasonDesc = d.reason
    }

    private func fill(_ f: inout Flow, _ c: DebugCapture, _ packet: [UInt8], _ time: FlowTime) {
        // Captures carry no flags: the bytes start with Ethernet, as for the monitor output.
        let p = DecodedPacket(packet, from: .ethernet)
        start(&f, time, p, .capture, c.point.rawValue)
        endpoints.resolve(p.sourceIP, datapathIdentity: 0, into: &f.source)
        endpoints.resolve(p.destinationIP, datapathIdentity: 0, into: &f.destination)
        f.debugCapturePoint = c.point
        switch c.point {
        case .delivery, .fromLoadBalancer, .afterNAT46, .afterNAT64, .snatPre, .snatPost:
            f.interface = networkInterface(c.arg1)
        case .proxyPre, .proxyPost:
            f.proxyPort = UInt32(UInt16(truncatingIfNeeded: c.arg1).byteSwapped)
        default:
            break
        }
    }

    private func networkInterface(_ ifindex: UInt32) -> Flow.NetworkInterface? {
        guard ifindex != 0 else { return nil }
        return Flow.NetworkInterface(index: ifindex, name: interfaceName(ifindex) ?? "")
    }

    // MARK: - Debug messages

    private func debugEvent(_ d: DebugMessage, cpu: UInt32, _ time: FlowTime) -> DebugEvent {
        var text: [UInt8] = []
        text.reserveCapacity(96)
        text.appendDebugText(d, interfaceName: interfaceName)
        return DebugEvent(
            time: time, nodeName: nodeName, type: d.subtype,
            source: d.source == 0 ? nil : endpoints.endpoint(id: d.source),
            hash: d.hash, arg1: d.arg1, arg2: d.arg2, arg3: d.arg3,
            message: String(decoding: text, as: UTF8.self),
            cpu: Int32(truncatingIfNeeded: cpu))
    }
}

/// The flow fields of a captured packet, following Hubble's `decodeLayers`: each decoded layer
/// overrides what earlier ones set (an inner IP header wins over an outer one), and the
/// summary is the last layer's.
struct DecodedPacket: Equatable {
    var ethernet: Flow.Ethernet?
    var ip: Flow.IP?
    var l4: Flow.Layer4?
    var sourceIP: IPAddress?
    var destinationIP: IPAddress?
    var summary = Flow.Summary.none

    init(_ packet: [UInt8], from first: PacketDissector.FirstLayer) {
        // Filled in place: an optional packet returned and copied costs two copies of it.
        let common = packet.withUnsafeBytes { readCommon($0, from: first) }
        if !common { self = packet.withUnsafeBytes { DecodedPacket(dissecting: $0, from: first) } }
    }

    /// The usual packet read in place, or nil: see `readCommon`.
    init?(common b: UnsafeRawBufferPointer, from first: PacketDissector.FirstLayer) {
        guard readCommon(b, from: first) else { return nil }
    }

    /// Every layer through the dissector.
    init(dissecting bytes: UnsafeRawBufferPointer, from first: PacketDissector.FirstLayer) {
        _ = PacketDissector.forEachLayer(bytes, from: first) { take($0) }
    }

    /// The addresses the flow of the usual packet takes (before a trace's original source
    /// replaces its source), read without decoding the rest: Ethernet (or none), then an IPv4
    /// header without options or an IPv6 header without a hop-by-hop header, whole enough that
    /// the dissector decodes it, carrying TCP, UDP or ICMP, which hold no other IP header (an
    /// inner one would win). Nil for anything else: only the dissector can tell. The checks are
    /// the dissector's (DecodedPacketTests compares the two).
    static func addresses(_ b: UnsafeRawBufferPointer, from first: PacketDissector.FirstLayer)
        -> (source: IPAddress, destination: IPAddress)?
    {
        func be16(_ i: Int) -> Int { Int(b[i]) << 8 | Int(b[i + 1]) }
        var start = 0
        var isIPv6 = first == .ipv6
        if first == .ethernet {
            guard b.count >= 14 else { return nil }
            let type = be16(12)
            guard type == 0x0800 || type == 0x86DD else { return nil }
            isIPv6 = type == 0x86DD
            start = 14
        }
        let count = b.count - start
        if !isIPv6 {
            guard count >= 20, b[start] & 0x0F == 5, be16(start + 2) >= 20 || be16(start + 2) == 0 else { return nil }
            let proto = b[start + 9]
            guard proto == IPProtocol.tcp.rawValue || proto == IPProtocol.udp.rawValue
                || proto == IPProtocol.icmpv4.rawValue
            else { return nil }
            return (.v4(IPv4Address(value: UInt32(bigEndian: b.loadUnaligned(fromByteOffset: start + 12, as: UInt32.self)))),
                    .v4(IPv4Address(value: UInt32(bigEndian: b.loadUnaligned(fromByteOffset: start + 16, as: UInt32.self)))))
        }
        guard count >= 40, be16(start + 4) != 0 else { return nil }
        let next = b[start + 6]
        guard next == IPProtocol.tcp.rawValue || next == IPProtocol.udp.rawValue || next == IPProtocol.icmpv6.rawValue
        else { return nil }
        return (.v6(IPv6Address(loading: b, at: start + 8)), .v6(IPv6Address(loading: b, at: start + 24)))
    }

    /// The usual packet read in place: Ethernet (or none), IPv4 that is not a fragment or IPv6
    /// without a hop-by-hop header, then TCP, UDP or ICMP, each whole enough that the dissector
    /// would decode it. False for anything else, with fields partly set: the caller starts
    /// again with the dissector. The checks are the dissector's, so both give the same fields
    /// (DecodedPacketTests compares them on every sample's packets and on their mutations);
    /// this skips building header values the flow does not keep, which was 40% of building a
    /// flow.
    private mutating func readCommon(_ b: UnsafeRawBufferPointer, from first: PacketDissector.FirstLayer) -> Bool {
        func be16(_ i: Int) -> Int { Int(b[i]) << 8 | Int(b[i + 1]) }
        func be32(_ i: Int) -> UInt32 { UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3]) }
        var start = 0
        var end = b.count
        var isIPv6 = first == .ipv6
        if first == .ethernet {
            guard end >= 14 else { return false }
            let type = be16(12)
            guard type == 0x0800 || type == 0x86DD else { return false }
            ethernet = Flow.Ethernet(source: MACAddress(loading: b, at: 6), destination: MACAddress(loading: b, at: 0))
            summary = .layer(.ethernet)
            isIPv6 = type == 0x86DD
            start = 14
        }
        guard start < end else { return true }
        let proto: UInt8
        if !isIPv6 {
            guard end - start >= 20, b[start] & 0x0F == 5 else { return false }
            var length = be16(start + 2)
            if length == 0 { length = end - start }
            // Fragments end the dissection after the IP header; flags and offset must be clear.
            guard length >= 20, be16(start + 6) & 0x3FFF == 0 else { return false }
            end = min(end, start + length)
            setIP(.v4(IPv4Address(value: be32(start + 12))), .v4(IPv4Address(value: be32(start + 16))), .ipv4)
            summary = .layer(.ipv4)
            proto = b[start + 9]
            start += 20
        } else {
            guard end - start >= 40 else { return false }
            let length = be16(start + 4)
            proto = b[start + 6]
            guard length != 0, proto != IPProtocol.hopByHop.rawValue else { return false }
            end = min(end, start + 40 + length)
            setIP(.v6(IPv6Address(loading: b, at: start + 8)), .v6(IPv6Address(loading: b, at: start + 24)), .ipv6)
            summary = .layer(.ipv6)
            start += 40
        }
        guard start < end else { return true }
        let count = end - start
        switch proto {
        case IPProtocol.tcp.rawValue:
            guard count >= 20 else { return false }
            let headerEnd = Int(b[start + 12] >> 4) * 4
            guard headerEnd >= 20, headerEnd <= count, Self.tcpOptionsValid(b, start + 20, start + headerEnd) else { return false }
            let flags = TCPFlags(rawValue: UInt16(b[start + 13]) | UInt16(b[start + 12] & 0x01) << 8)
            l4 = .tcp(sourcePort: UInt16(be16(start)), destinationPort: UInt16(be16(start + 2)), flags: flags)
            summary = .tcp(flags)
        case IPProtocol.udp.rawValue:
            guard count >= 8 else { return false }
            let length = be16(start + 4)
            guard length >= 8 || length == 0 else { return false }
            l4 = .udp(sourcePort: UInt16(be16(start)), destinationPort: UInt16(be16(start + 2)))
            summary = .layer(.udp)
        case IPProtocol.icmpv4.rawValue:
            guard count >= 8 else { return false }
            l4 = .icmpv4(type: b[start], code: b[start + 1])
            summary = .icmpv4(type: b[start], code: b[start + 1])
        case IPProtocol.icmpv6.rawValue:
            guard count >= 4 else { return false }
            l4 = .icmpv6(type: b[start], code: b[start + 1])
            summary = .icmpv6(type: b[start], code: b[start + 1])
        default:
            return false
        }
        return true
    }

    /// The TCP option walk of the dissector, without keeping the options: whether it would
    /// accept the options in `b[from..<end]`.
    private static func tcpOptionsValid(_ b: UnsafeRawBufferPointer, _ from: Int, _ end: Int) -> Bool {
        var o = from
        while o < end {
            switch b[o] {
            case 0: return true
            case 1: o += 1
            default:
                guard end - o >= 2 else { return false }
                let length = Int(b[o + 1])
                guard length >= 2, length <= end - o else { return false }
                o += length
            }
        }
        return true
    }

    private mutating func take(_ layer: PacketLayer) {
            switch layer {
            case .ethernet(let h):
                ethernet = Flow.Ethernet(source: h.source, destination: h.destination)
                summary = .layer(.ethernet)
            case .ipv4(let h):
                setIP(.v4(h.source), .v4(h.destination), .ipv4)
                summary = .layer(.ipv4)
            case .ipv6(let h):
                setIP(.v6(h.source), .v6(h.destination), .ipv6)
                summary = .layer(.ipv6)
            case .tcp(let h):
                l4 = .tcp(sourcePort: h.sourcePort, destinationPort: h.destinationPort, flags: h.flags)
                summary = .tcp(h.flags)
            case .udp(let h):
                l4 = .udp(sourcePort: h.sourcePort, destinationPort: h.destinationPort)
                summary = .layer(.udp)
            case .icmpv4(let h):
                l4 = .icmpv4(type: h.type, code: h.code)
                summary = .icmpv4(type: h.type, code: h.code)
            case .icmpv6(let h):
                l4 = .icmpv6(type: h.type, code: h.code)
                summary = .icmpv6(type: h.type, code: h.code)
            case .dot1Q, .ipv6Routing, .ipv6Fragment, .ipv6Destination:
                // Looked through: they do not change who talks to whom.
                break
            case .arp:
                // Hubble decodes no ARP: its flow ends at the Ethernet layer.
                break
            }
    }

    private mutating func setIP(_ source: IPAddress, _ destination: IPAddress, _ version: Flow.IPVersion) {
        ip = Flow.IP(source: source, destination: destination, ipVersion: version)
        sourceIP = source
        destinationIP = destination
    }
}

extension TraceNotify {
    /// The source the packet had before translation, which its flow takes (Hubble's
    /// `OrigIP`): nil when the trace carries none (0.0.0.0 or `::`, or a version without it).
    var originalSource: IPAddress? { Self.originalSource(originalIP) }

    /// `originalSource` for a trace's original address however it was read.
    static func originalSource(_ originalIP: IPAddress?) -> IPAddress? {
        if let originalIP, !originalIP.isUnspecified { originalIP } else { nil }
    }
}

extension IPAddress {
    /// 0.0.0.0 or `::`: what a trace carries when it has no original source.
    var isUnspecified: Bool {
        switch self {
        case .v4(let a): a.value == 0
        case .v6(let a): a.high == 0 && a.low == 0
        }
    }
}
