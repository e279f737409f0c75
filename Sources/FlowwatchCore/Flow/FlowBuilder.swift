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
        case .message(.trace(let t), let packet):
            return .flow(flow(t, packet, time))
        case .message(.drop(let d), let packet):
            return .flow(flow(d, packet, time))
        case .message(.capture(let c), let packet):
            return .flow(flow(c, packet, time))
        case .message(.debug(let d), _):
            return .debug(debugEvent(d, cpu: event.cpu, time))
        }
    }

    // MARK: - Flows

    private func flow(_ t: TraceNotify, _ packet: [UInt8], _ time: FlowTime) -> Flow {
        var p = DecodedPacket(packet, from: t.firstLayer)
        var snat = false
        if var ip = p.ip {
            if let original = t.originalIP, !original.isUnspecified {
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
        let source = endpoints.resolve(p.sourceIP, datapathIdentity: t.sourceIdentity.rawValue)
        let destination = endpoints.resolve(p.destinationIP, datapathIdentity: t.destinationIdentity.rawValue)

        let state = t.reason.state
        let reasonKnown = state != TraceReason.unknown.rawValue
        let isReply = state == TraceReason.reply.rawValue
        var direction = Flow.TrafficDirection.unknown
        if t.source != 0 && reasonKnown {
            // The emitting endpoint is the source on egress, unless the packet is a reply.
            let fromSourceEndpoint = UInt32(t.source) == source.id
            direction = fromSourceEndpoint != isReply || snat ? .egress : .ingress
        }
        // SRv6 encapsulation and decapsulation say nothing about the connection's direction.
        let replyKnown = reasonKnown && state != 6 && state != 7

        return Flow(
            time: time, verdict: .forwarded, ethernet: p.ethernet, ip: p.ip, l4: p.l4,
            source: source, destination: destination, nodeName: nodeName,
            eventType: Flow.CiliumEventType(type: Int32(MonitorMessageType.trace.rawValue),
                                            subType: Int32(t.observationPoint.rawValue)),
            trafficDirection: direction,
            traceObservationPoint: Flow.ObservationPoint(t.observationPoint),
            traceReason: Flow.Reason(t.reason),
            ipTraceID: t.ipTraceID,
            isReply: replyKnown ? isReply : nil,
            interface: networkInterface(t.ifindex),
            proxyPort: t.observationPoint == .toProxy ? UInt32(t.destinationID) : 0,
            summary: p.summary)
    }

    private func flow(_ d: DropNotify, _ packet: [UInt8], _ time: FlowTime) -> Flow {
        let p = DecodedPacket(packet, from: d.firstLayer)
        let source = endpoints.resolve(p.sourceIP, datapathIdentity: d.sourceIdentity.rawValue)
        let destination = endpoints.resolve(p.destinationIP, datapathIdentity: d.destinationIdentity.rawValue)
        var direction = Flow.TrafficDirection.unknown
        if d.source != 0 {
            // Dropped where the source lives: egress (a dropped reply would be mislabelled, as
            // in Hubble, which assumes drops are not replies).
            direction = UInt32(d.source) == source.id ? .egress : .ingress
        }
        return Flow(
            time: time, verdict: .dropped, dropReason: UInt32(d.reason.rawValue),
            ethernet: p.ethernet, ip: p.ip, l4: p.l4, source: source, destination: destination,
            nodeName: nodeName,
            eventType: Flow.CiliumEventType(type: Int32(MonitorMessageType.drop.rawValue),
                                            subType: Int32(d.reason.rawValue)),
            trafficDirection: direction,
            file: Flow.FileInfo(name: d.file.name, line: UInt32(d.line)),
            ipTraceID: d.ipTraceID,
            dropReasonDesc: d.reason,
            summary: p.summary)
    }

    private func flow(_ c: DebugCapture, _ packet: [UInt8], _ time: FlowTime) -> Flow {
        // Captures carry no flags: the bytes start with Ethernet, as for the monitor output.
        let p = DecodedPacket(packet, from: .ethernet)
        var ifindex: UInt32 = 0
        var proxyPort: UInt32 = 0
        switch c.point {
        case .delivery, .fromLoadBalancer, .afterNAT46, .afterNAT64, .snatPre, .snatPost:
            ifindex = c.arg1
        case .proxyPre, .proxyPost:
            proxyPort = UInt32(UInt16(truncatingIfNeeded: c.arg1).byteSwapped)
        default:
            break
        }
        return Flow(
            time: time, ethernet: p.ethernet, ip: p.ip, l4: p.l4,
            source: endpoints.resolve(p.sourceIP, datapathIdentity: 0),
            destination: endpoints.resolve(p.destinationIP, datapathIdentity: 0),
            nodeName: nodeName,
            eventType: Flow.CiliumEventType(type: Int32(MonitorMessageType.capture.rawValue),
                                            subType: Int32(c.point.rawValue)),
            debugCapturePoint: c.point,
            interface: networkInterface(ifindex),
            proxyPort: proxyPort,
            summary: p.summary)
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
private struct DecodedPacket {
    var ethernet: Flow.Ethernet?
    var ip: Flow.IP?
    var l4: Flow.Layer4?
    var sourceIP: IPAddress?
    var destinationIP: IPAddress?
    var summary = Flow.Summary.none

    init(_ packet: [UInt8], from first: PacketDissector.FirstLayer) {
        packet.withUnsafeBytes { bytes in
            _ = PacketDissector.forEachLayer(bytes, from: first) { take($0) }
        }
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

extension IPAddress {
    /// 0.0.0.0 or `::`: what a trace carries when it has no original source.
    var isUnspecified: Bool {
        switch self {
        case .v4(let a): a.value == 0
        case .v6(let a): a.high == 0 && a.low == 0
        }
    }
}
