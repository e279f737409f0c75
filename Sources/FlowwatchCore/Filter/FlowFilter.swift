/// One Hubble `flow.FlowFilter` (`api/v1/flow/flow.proto`) over the fields an L3/L4 flow has: a
/// set of values per field. A flow matches when, for every field that has values, it has one of
/// them (values of a field are OR-ed, fields AND-ed); a filter without values matches every
/// flow. The matching rules are those of Hubble's filter functions (`pkg/hubble/filters`):
///
/// - IPs: the address is one of the addresses or inside one of the CIDRs; a flow without an IP
///   layer matches no IP value. Addresses compare as numbers, not as text, so `fd00:0::1`
///   matches `fd00::1` (Hubble compares strings and would not).
/// - Pods: see `PodPattern`. Labels: see `LabelSelector`. Node names: see `NodeNamePattern`.
/// - Identities: the endpoint's numeric identity. Ports: TCP or UDP ports (ICMP has none).
/// - TCP flags: a value matches when the flow is TCP and has all of that value's flags.
/// - Event types: type and optional subtype of the monitor message the flow came from.
/// - Interface: the name of the interface the flow was seen on; flows without one never match.
/// - IP version: IPv4 or IPv6; a flow without an IP layer has neither.
///
/// The values are in `fields` and read through it (`filter.sourceIP`); every change recompiles
/// the matcher, so matching never pays for building.
@dynamicMemberLookup
public struct FlowFilter: Sendable, Hashable {
    /// The values per field; empty means any.
    public struct Fields: Sendable, Hashable {
        public var sourceIP = IPPrefixSet()
        public var destinationIP = IPPrefixSet()
        public var sourcePod: [PodPattern] = []
        public var destinationPod: [PodPattern] = []
        public var sourceLabel: [LabelSelector] = []
        public var destinationLabel: [LabelSelector] = []
        public var sourceIdentity: [UInt32] = []
        public var destinationIdentity: [UInt32] = []
        public var sourcePort = PortSet()
        public var destinationPort = PortSet()
        public var protocols = L4ProtocolSet()
        public var tcpFlags: [TCPFlags] = []
        public var verdict = EnumSet<Flow.Verdict>()
        public var eventType: [EventTypeFilter] = []
        public var trafficDirection = EnumSet<Flow.TrafficDirection>()
        public var interface: [String] = []
        public var nodeName: [NodeNamePattern] = []
        public var ipVersion = EnumSet<Flow.IPVersion>()

        public init() {}
    }

    public var fields: Fields {
        didSet { matcher = FlowMatcher(fields) }
    }

    /// The fields compiled; a class so that `FlowFilterSet` reaches it without copying.
    private(set) var matcher: FlowMatcher

    public init(_ fields: Fields = Fields()) {
        self.fields = fields
        matcher = FlowMatcher(fields)
    }

    public subscript<Value>(dynamicMember field: WritableKeyPath<Fields, Value>) -> Value {
        get { fields[keyPath: field] }
        set { fields[keyPath: field] = newValue }
    }

    public static func == (a: Self, b: Self) -> Bool { a.fields == b.fields }

    public func hash(into hasher: inout Hasher) { hasher.combine(fields) }

    /// Whether the flow has a value of every field that has values.
    public func matches(_ flow: Flow) -> Bool { matcher.matches(flow) }

    /// Whether a debug message passes. Hubble serves debug events apart from flows
    /// (`GetDebugEvents`, which takes no filters), but its filter functions do accept them: the
    /// event type filter knows type 2 (`debug`, the subtype being the `DBG_*` number), and every
    /// other field reads the event's flow, which a debug event lacks, and so does not match.
    /// flowwatch prints debug events among the flows, so it keeps exactly that: a filter with
    /// only `--type` values may match a debug event, any other field never does. Hence
    /// `--type debug` shows only debug events, `--ip X` hides them, `--not --ip X` keeps them.
    public func matches(_ debug: DebugEvent) -> Bool { matcher.matches(debug) }
}

/// A `FlowFilter`'s fields laid out for matching. Swift copies a struct read out of an array
/// (or through a pointer) whenever a call it cannot see into follows, and copying a value that
/// holds strings or arrays means a reference count operation for each of them: for a filter of
/// eighteen sets, or a list of pod patterns, that costs more than all the comparisons. So the
/// matcher is a class, whose constant fields are read in place through its `self`, and its
/// sets hold only plain values: the strings of pod patterns, node name patterns, label
/// selectors and interface names are spans of one byte buffer. Matching does no reference
/// counting and no allocation.
final class FlowMatcher: Sendable {
    private let sourceIP: IPPrefixSet
    private let destinationIP: IPPrefixSet
    private let sourceIdentity: [UInt32]
    private let destinationIdentity: [UInt32]
    private let sourcePort: PortSet
    private let destinationPort: PortSet
    private let protocols: L4ProtocolSet
    private let tcpFlags: [TCPFlags]
    private let verdict: EnumSet<Flow.Verdict>
    private let eventType: [EventTypeFilter]
    private let trafficDirection: EnumSet<Flow.TrafficDirection>
    private let ipVersion: EnumSet<Flow.IPVersion>
    /// No field but the event type has values: the filter can match debug events.
    private let onlyEventTypes: Bool

    /// Every string below, one after another.
    private let bytes: [UInt8]
    private let interface: [ByteSpan]
    private let sourcePod: [PodSpans]
    private let destinationPod: [PodSpans]
    private let nodeName: [NodeNameSpans]
    /// Ranges of `requirements`, one per selector.
    private let sourceLabel: [Range<Int32>]
    private let destinationLabel: [Range<Int32>]
    private let requirements: [LabelRequirement]
    private let values: [ByteSpan]

    private struct PodSpans {
        var namespace: ByteSpan
        var prefix: ByteSpan
    }

    private struct NodeNameSpans {
        var cluster: ByteSpan?
        var node: ByteSpan?
    }

    init(_ f: FlowFilter.Fields) {
        sourceIP = f.sourceIP
        destinationIP = f.destinationIP
        sourceIdentity = f.sourceIdentity
        destinationIdentity = f.destinationIdentity
        sourcePort = f.sourcePort
        destinationPort = f.destinationPort
        protocols = f.protocols
        tcpFlags = f.tcpFlags
        verdict = f.verdict
        eventType = f.eventType
        trafficDirection = f.trafficDirection
        ipVersion = f.ipVersion
        var onlyTypes = f
        onlyTypes.eventType = []
        onlyEventTypes = onlyTypes == FlowFilter.Fields()

        var bytes: [UInt8] = []
        var requirements: [LabelRequirement] = []
        var values: [ByteSpan] = []
        func pods(_ patterns: [PodPattern]) -> [PodSpans] {
            patterns.map { p in
                let base = bytes.count
                bytes += p.bytes
                return PodSpans(namespace: p.namespaceSpan.moved(by: base), prefix: p.prefixSpan.moved(by: base))
            }
        }
        func selectors(_ selectors: [LabelSelector]) -> [Range<Int32>] {
            selectors.map { s in
                let (byteBase, valueBase, first) = (bytes.count, values.count, Int32(requirements.count))
                bytes += s.bytes
                values += s.values.map { $0.moved(by: byteBase) }
                requirements += s.requirements.map { $0.moved(bytes: byteBase, values: valueBase) }
                return first..<Int32(requirements.count)
            }
        }
        interface = f.interface.map { ByteSpan(appending: $0.utf8, to: &bytes) }
        sourcePod = pods(f.sourcePod)
        destinationPod = pods(f.destinationPod)
        nodeName = f.nodeName.map { p in
            let base = bytes.count
            bytes += p.bytes
            return NodeNameSpans(cluster: p.cluster?.moved(by: base), node: p.node?.moved(by: base))
        }
        sourceLabel = selectors(f.sourceLabel)
        destinationLabel = selectors(f.destinationLabel)
        self.bytes = bytes
        self.requirements = requirements
        self.values = values
    }

    /// Cheapest fields first, so most flows are rejected after a compare or two.
    func matches(_ flow: Flow) -> Bool {
        if !eventType.isEmpty {
            let t = flow.eventType
            guard eventType.contains(where: { $0.matches(type: t.type, subType: t.subType) }) else { return false }
        }
        if !verdict.isEmpty && !verdict.contains(flow.verdict) { return false }
        if !trafficDirection.isEmpty && !trafficDirection.contains(flow.trafficDirection) { return false }
        if !ipVersion.isEmpty && !ipVersion.contains(flow.ip?.ipVersion ?? .notUsed) { return false }
        if !protocols.isEmpty && !protocols.matches(flow.l4) { return false }
        if !sourcePort.isEmpty || !destinationPort.isEmpty {
            guard let ports = flow.l4?.ports else { return false }
            if !sourcePort.isEmpty && !sourcePort.contains(ports.source) { return false }
            if !destinationPort.isEmpty && !destinationPort.contains(ports.destination) { return false }
        }
        if !tcpFlags.isEmpty {
            guard case .tcp(_, _, let flags)? = flow.l4, tcpFlags.contains(where: { flags.isSuperset(of: $0) }) else {
                return false
            }
        }
        if !sourceIdentity.isEmpty && !sourceIdentity.contains(flow.source.identity) { return false }
        if !destinationIdentity.isEmpty && !destinationIdentity.contains(flow.destination.identity) { return false }
        if !sourceIP.isEmpty || !destinationIP.isEmpty {
            guard let ip = flow.ip else { return false }
            if !sourceIP.isEmpty && !sourceIP.contains(ip.source) { return false }
            if !destinationIP.isEmpty && !destinationIP.contains(ip.destination) { return false }
        }
        if interface.isEmpty && sourcePod.isEmpty && destinationPod.isEmpty && nodeName.isEmpty
            && sourceLabel.isEmpty && destinationLabel.isEmpty {
            return true
        }
        return bytes.withUnsafeBufferPointer { matchesText(flow, $0) }
    }

    /// The fields whose values are strings.
    private func matchesText(_ flow: Flow, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        if !interface.isEmpty {
            guard let iface = flow.interface,
                  iface.name.withUTF8Bytes({ name in interface.contains { bytesEqual(name, bytes[$0]) } }) else {
                return false
            }
        }
        if !sourcePod.isEmpty && !Self.matches(sourcePod, flow.source, bytes) { return false }
        if !destinationPod.isEmpty && !Self.matches(destinationPod, flow.destination, bytes) { return false }
        if !nodeName.isEmpty && !nodeName.contains(where: {
            nodeNameMatches(cluster: $0.cluster.map { bytes[$0] }, node: $0.node.map { bytes[$0] }, nodeName: flow.nodeName)
        }) {
            return false
        }
        if sourceLabel.isEmpty && destinationLabel.isEmpty { return true }
        return requirements.withUnsafeBufferPointer { r in
            values.withUnsafeBufferPointer { v in
                func selected(_ selectors: [Range<Int32>], _ labels: [String]) -> Bool {
                    selectors.contains {
                        selectorMatches(UnsafeBufferPointer(rebasing: r[Int($0.lowerBound)..<Int($0.upperBound)]),
                                        values: v, bytes: bytes, labels: labels)
                    }
                }
                return (sourceLabel.isEmpty || selected(sourceLabel, flow.source.labels))
                    && (destinationLabel.isEmpty || selected(destinationLabel, flow.destination.labels))
            }
        }
    }

    private static func matches(_ pods: [PodSpans], _ endpoint: Flow.Endpoint, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        pods.contains {
            podMatches(namespace: bytes[$0.namespace], prefix: bytes[$0.prefix],
                       endpointNamespace: endpoint.namespace, podName: endpoint.podName)
        }
    }

    func matches(_ debug: DebugEvent) -> Bool {
        guard onlyEventTypes else { return false }
        let subType = Int32(debug.type.rawValue)
        return eventType.isEmpty || eventType.contains { $0.matches(type: debugMessageType, subType: subType) }
    }
}

private let debugMessageType = Int32(MonitorMessageType.debug.rawValue)
