import FlowwatchAPI
import FlowwatchCore
import SwiftProtobuf

// flowwatch's events to Hubble's messages and back. The fields and their presence follow what
// `HubbleJSONWriter` writes (which is protojson of these same messages): a message that Hubble
// always sets is set even when empty (source and destination endpoints, TCP flags, event type),
// wrapper values (`is_reply`, `cpu`, `hash`, `arg1`…) are set exactly when flowwatch has them.
// The way back (`Flow(_:)`) is what a client needs to print a server's flows with flowwatch's
// own formatters, so that `flowwatch --server` prints what `flowwatch` prints in-process.

// MARK: - To the wire

extension Google_Protobuf_Timestamp {
    public init(_ time: FlowTime) {
        self.init(seconds: time.seconds, nanos: time.nanos)
    }
}

extension FlowTime {
    public init(_ timestamp: Google_Protobuf_Timestamp) {
        self.init(seconds: timestamp.seconds, nanos: timestamp.nanos)
    }
}

extension Flow_Endpoint {
    public init(_ e: Flow.Endpoint) {
        self.init()
        id = e.id
        identity = e.identity
        namespace = e.namespace
        labels = e.labels
        podName = e.podName
    }
}

extension Flow_TCPFlags {
    public init(_ flags: TCPFlags) {
        self.init()
        fin = flags.contains(.fin)
        syn = flags.contains(.syn)
        rst = flags.contains(.rst)
        psh = flags.contains(.psh)
        ack = flags.contains(.ack)
        urg = flags.contains(.urg)
        ece = flags.contains(.ece)
        cwr = flags.contains(.cwr)
        ns = flags.contains(.ns)
    }

    public var flags: TCPFlags {
        var f = TCPFlags()
        if fin { f.insert(.fin) }
        if syn { f.insert(.syn) }
        if rst { f.insert(.rst) }
        if psh { f.insert(.psh) }
        if ack { f.insert(.ack) }
        if urg { f.insert(.urg) }
        if ece { f.insert(.ece) }
        if cwr { f.insert(.cwr) }
        if ns { f.insert(.ns) }
        return f
    }
}

extension Flow_Flow {
    public init(_ f: Flow) {
        self.init()
        time = Google_Protobuf_Timestamp(f.time)
        verdict = Flow_Verdict(rawValue: Int(f.verdict.rawValue)) ?? .unknown
        dropReason = f.dropReason
        if let e = f.ethernet {
            var ethernet = Flow_Ethernet()
            ethernet.source = e.source.description
            ethernet.destination = e.destination.description
            self.ethernet = ethernet
        }
        if let i = f.ip {
            var ip = Flow_IP()
            ip.source = i.source.description
            if let x = i.sourceXlated { ip.sourceXlated = x.description }
            ip.destination = i.destination.description
            ip.ipVersion = Flow_IPVersion(rawValue: Int(i.ipVersion.rawValue)) ?? .ipNotUsed
            ip.encrypted = i.encrypted
            self.ip = ip
        }
        if let l4 = f.l4 {
            var layer = Flow_Layer4()
            switch l4 {
            case .tcp(let s, let d, let flags):
                var tcp = Flow_TCP()
                tcp.sourcePort = UInt32(s)
                tcp.destinationPort = UInt32(d)
                tcp.flags = Flow_TCPFlags(flags)
                layer.tcp = tcp
            case .udp(let s, let d):
                var udp = Flow_UDP()
                udp.sourcePort = UInt32(s)
                udp.destinationPort = UInt32(d)
                layer.udp = udp
            case .icmpv4(let t, let c):
                var icmp = Flow_ICMPv4()
                icmp.type = UInt32(t)
                icmp.code = UInt32(c)
                layer.icmpv4 = icmp
            case .icmpv6(let t, let c):
                var icmp = Flow_ICMPv6()
                icmp.type = UInt32(t)
                icmp.code = UInt32(c)
                layer.icmpv6 = icmp
            }
            self.l4 = layer
        }
        source = Flow_Endpoint(f.source)
        destination = Flow_Endpoint(f.destination)
        type = Flow_FlowType(rawValue: Int(f.type.rawValue)) ?? .unknownType
        nodeName = f.nodeName
        reply = f.isReply == true
        var eventType = Flow_CiliumEventType()
        eventType.type = f.eventType.type
        eventType.subType = f.eventType.subType
        self.eventType = eventType
        trafficDirection = Flow_TrafficDirection(rawValue: Int(f.trafficDirection.rawValue)) ?? .unknown
        traceObservationPoint = Flow_TraceObservationPoint(rawValue: Int(f.traceObservationPoint.rawValue)) ?? .unknownPoint
        traceReason = Flow_TraceReason(rawValue: Int(f.traceReason.rawValue)) ?? .unknown
        if let file = f.file {
            var info = Flow_FileInfo()
            info.name = file.name
            info.line = file.line
            self.file = info
        }
        if f.ipTraceID != 0 {
            var trace = Flow_IPTraceID()
            trace.traceID = f.ipTraceID
            ipTraceID = trace
        }
        dropReasonDesc = Flow_DropReason(rawValue: Int(f.dropReasonDesc.rawValue)) ?? .unknown
        if let r = f.isReply { isReply = Google_Protobuf_BoolValue(r) }
        debugCapturePoint = Flow_DebugCapturePoint(rawValue: Int(f.debugCapturePoint.rawValue)) ?? .dbgCapturePointUnknown
        if let i = f.interface {
            var interface = Flow_NetworkInterface()
            interface.index = i.index
            interface.name = i.name
            self.interface = interface
        }
        proxyPort = f.proxyPort
        summary = f.summary.text
    }
}

extension Flow_LostEvent {
    public init(_ l: LostEvent) {
        self.init()
        source = Flow_LostEventSource(rawValue: Int(l.source.rawValue)) ?? .unknownLostEventSource
        numEventsLost = l.numEventsLost
        if let c = l.cpu { cpu = Google_Protobuf_Int32Value(c) }
        if let t = l.first { first = Google_Protobuf_Timestamp(t) }
        if let t = l.last { last = Google_Protobuf_Timestamp(t) }
    }
}

extension Flow_DebugEvent {
    public init(_ d: DebugEvent) {
        self.init()
        type = Flow_DebugEventType(rawValue: Int(d.type.rawValue)) ?? .dbgEventUnknown
        if let s = d.source { source = Flow_Endpoint(s) }
        hash = Google_Protobuf_UInt32Value(d.hash)
        arg1 = Google_Protobuf_UInt32Value(d.arg1)
        arg2 = Google_Protobuf_UInt32Value(d.arg2)
        arg3 = Google_Protobuf_UInt32Value(d.arg3)
        message = d.message
        if let c = d.cpu { cpu = Google_Protobuf_Int32Value(c) }
    }
}

extension Observer_GetFlowsResponse {
    /// A flow or lost event as GetFlows sends it; nil for debug events (GetDebugEvents'
    /// business).
    public init?(_ event: FlowEvent) {
        self.init()
        switch event {
        case .flow(let f): flow = Flow_Flow(f)
        case .lost(let l): lostEvents = Flow_LostEvent(l)
        case .debug: return nil
        }
        nodeName = event.nodeName
        time = Google_Protobuf_Timestamp(event.time)
    }
}

extension Observer_GetDebugEventsResponse {
    public init(_ d: DebugEvent) {
        self.init()
        debugEvent = Flow_DebugEvent(d)
        nodeName = d.nodeName
        time = Google_Protobuf_Timestamp(d.time)
    }
}

// MARK: - From the wire (clients)

/// A message from a server that flowwatch cannot turn back into its own event.
public struct ConversionError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Flow.Endpoint {
    public init(_ e: Flow_Endpoint) {
        self.init(id: e.id, identity: e.identity, namespace: e.namespace, labels: e.labels, podName: e.podName)
    }
}

extension Flow {
    /// A server's flow as flowwatch's own: the formatters print it as they print a local one.
    /// The summary comes back as its parts, recomputed from the L4 layer (the same rule the
    /// builder applies), so a server's text and the client's agree.
    public init(_ p: Flow_Flow) throws(ConversionError) {
        func ip(_ text: String) throws(ConversionError) -> IPAddress {
            guard let a = IPAddress(text) else { throw ConversionError("flow: '\(text)' is not an IP address") }
            return a
        }
        var ipLayer: IP?
        if p.hasIp {
            ipLayer = IP(source: try ip(p.ip.source),
                         sourceXlated: p.ip.sourceXlated.isEmpty ? nil : try ip(p.ip.sourceXlated),
                         destination: try ip(p.ip.destination),
                         ipVersion: IPVersion(rawValue: Int32(p.ip.ipVersion.rawValue)) ?? .notUsed,
                         encrypted: p.ip.encrypted)
        }
        var ethernet: Ethernet?
        if p.hasEthernet {
            guard let s = MACAddress(text: p.ethernet.source), let d = MACAddress(text: p.ethernet.destination) else {
                throw ConversionError("flow: '\(p.ethernet.source)' or '\(p.ethernet.destination)' is not a MAC address")
            }
            ethernet = Ethernet(source: s, destination: d)
        }
        var l4: Layer4?
        switch p.l4.protocol {
        case .tcp(let t)?:
            l4 = .tcp(sourcePort: UInt16(truncatingIfNeeded: t.sourcePort), destinationPort: UInt16(truncatingIfNeeded: t.destinationPort),
                      flags: t.flags.flags)
        case .udp(let u)?:
            l4 = .udp(sourcePort: UInt16(truncatingIfNeeded: u.sourcePort), destinationPort: UInt16(truncatingIfNeeded: u.destinationPort))
        case .icmpv4(let i)?:
            l4 = .icmpv4(type: UInt8(truncatingIfNeeded: i.type), code: UInt8(truncatingIfNeeded: i.code))
        case .icmpv6(let i)?:
            l4 = .icmpv6(type: UInt8(truncatingIfNeeded: i.type), code: UInt8(truncatingIfNeeded: i.code))
        case nil:
            l4 = nil
        }
        self.init(
            time: FlowTime(p.time),
            verdict: Verdict(rawValue: Int32(p.verdict.rawValue)) ?? .unknown,
            dropReason: p.dropReason,
            ethernet: ethernet, ip: ipLayer, l4: l4,
            source: Endpoint(p.source), destination: Endpoint(p.destination),
            type: FlowType(rawValue: Int32(p.type.rawValue)) ?? .unknown,
            nodeName: p.nodeName,
            eventType: CiliumEventType(type: p.eventType.type, subType: p.eventType.subType),
            trafficDirection: TrafficDirection(rawValue: Int32(p.trafficDirection.rawValue)) ?? .unknown,
            traceObservationPoint: ObservationPoint(rawValue: Int32(p.traceObservationPoint.rawValue)),
            traceReason: Reason(rawValue: Int32(p.traceReason.rawValue)),
            file: p.hasFile ? FileInfo(name: p.file.name, line: p.file.line) : nil,
            ipTraceID: p.hasIpTraceID ? p.ipTraceID.traceID : 0,
            dropReasonDesc: DropReason(rawValue: UInt8(truncatingIfNeeded: p.dropReasonDesc.rawValue)),
            isReply: p.hasIsReply ? p.isReply.value : nil,
            debugCapturePoint: DebugCapturePoint(rawValue: UInt8(truncatingIfNeeded: p.debugCapturePoint.rawValue)),
            interface: p.hasInterface ? NetworkInterface(index: p.interface.index, name: p.interface.name) : nil,
            proxyPort: p.proxyPort,
            summary: Summary(wire: p.summary, l4: l4, ip: ipLayer, ethernet: ethernet))
    }
}

extension Flow.Summary {
    /// The summary a server sent, as flowwatch's parts when it is one of the forms flowwatch
    /// builds (checked by printing it again), else the layer the flow has.
    init(wire text: String, l4: Flow.Layer4?, ip: Flow.IP?, ethernet: Flow.Ethernet?) {
        let candidates: [Flow.Summary] = {
            switch l4 {
            case .tcp(_, _, let flags)?: return [.tcp(flags)]
            case .udp?: return [.layer(.udp)]
            case .icmpv4(let t, let c)?: return [.icmpv4(type: t, code: c)]
            case .icmpv6(let t, let c)?: return [.icmpv6(type: t, code: c)]
            case nil: return [.layer(.ipv4), .layer(.ipv6), .layer(.ethernet), .none]
            }
        }()
        self = candidates.first { $0.text == text } ?? (text.isEmpty ? .none : candidates[0])
    }
}

extension LostEvent {
    public init(_ p: Flow_LostEvent, nodeName: String, time: FlowTime) {
        self.init(time: time, nodeName: nodeName,
                  source: Source(rawValue: Int32(p.source.rawValue)) ?? .unknown,
                  numEventsLost: p.numEventsLost,
                  cpu: p.hasCpu ? p.cpu.value : nil,
                  first: p.hasFirst ? FlowTime(p.first) : nil,
                  last: p.hasLast ? FlowTime(p.last) : nil)
    }
}

extension DebugEvent {
    public init(_ p: Flow_DebugEvent, nodeName: String, time: FlowTime) {
        self.init(time: time, nodeName: nodeName, type: DebugMessageType(rawValue: UInt8(truncatingIfNeeded: p.type.rawValue)),
                  source: p.hasSource ? Flow.Endpoint(p.source) : nil,
                  hash: p.hash.value, arg1: p.arg1.value, arg2: p.arg2.value, arg3: p.arg3.value,
                  message: p.message, cpu: p.hasCpu ? p.cpu.value : nil)
    }
}

extension FlowEvent {
    /// A GetFlows answer as flowwatch's event; nil for what flowwatch does not print
    /// (a relay's node status).
    public init?(_ r: Observer_GetFlowsResponse) throws(ConversionError) {
        let time = FlowTime(r.time)
        switch r.responseTypes {
        case .flow(let f)?: self = .flow(try Flow(f))
        case .lostEvents(let l)?: self = .lost(LostEvent(l, nodeName: r.nodeName, time: time))
        case nil: return nil
        }
    }
}

extension MACAddress {
    /// `aa:bb:cc:dd:ee:ff`.
    init?(text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        var value: UInt64 = 0
        for p in parts {
            guard p.count == 2, let byte = UInt8(p, radix: 16) else { return nil }
            value = value << 8 | UInt64(byte)
        }
        self.init((UInt8(value >> 40 & 0xff), UInt8(value >> 32 & 0xff), UInt8(value >> 24 & 0xff),
                   UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)))
    }
}
