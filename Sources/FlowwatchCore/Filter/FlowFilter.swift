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
/// Fields are checked cheapest first, so a flow is rejected after a compare or two.
public struct FlowFilter: Sendable, Hashable {
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

    /// Whether the flow has a value of every field that has values.
    public func matches(_ flow: Flow) -> Bool { check(flow) }

    /// The body of `matches`, inlined into `FlowFilterSet` so that a flow held in a `FlowEvent`
    /// is read where it lies: passing the payload to a function that is not inlined makes Swift
    /// copy the whole flow, with a reference count operation for each of its strings and arrays,
    /// which would cost more than all the comparisons. Likewise, sets of values are read in
    /// place (`containsInPlace`) rather than copied out element by element.
    @inline(__always)
    func check(_ flow: borrowing Flow) -> Bool {
        if !eventType.isEmpty {
            let t = flow.eventType
            guard eventType.containsInPlace(where: { $0.matches(type: t.type, subType: t.subType) }) else { return false }
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
            guard case .tcp(_, _, let flags)? = flow.l4,
                  tcpFlags.containsInPlace(where: { flags.isSuperset(of: $0) }) else { return false }
        }
        if !sourceIdentity.isEmpty && !sourceIdentity.containsInPlace(where: { $0 == flow.source.identity }) { return false }
        if !destinationIdentity.isEmpty && !destinationIdentity.containsInPlace(where: { $0 == flow.destination.identity }) {
            return false
        }
        if !sourceIP.isEmpty || !destinationIP.isEmpty {
            guard let ip = flow.ip else { return false }
            if !sourceIP.isEmpty && !sourceIP.contains(ip.source) { return false }
            if !destinationIP.isEmpty && !destinationIP.contains(ip.destination) { return false }
        }
        if !interface.isEmpty {
            guard flow.interface != nil, interface.containsInPlace(where: { $0 == flow.interface?.name }) else { return false }
        }
        if !sourcePod.isEmpty
            && !sourcePod.containsInPlace(where: { $0.matches(namespace: flow.source.namespace, podName: flow.source.podName) }) {
            return false
        }
        if !destinationPod.isEmpty
            && !destinationPod.containsInPlace(where: {
                $0.matches(namespace: flow.destination.namespace, podName: flow.destination.podName)
            }) {
            return false
        }
        if !nodeName.isEmpty && !nodeName.containsInPlace(where: { $0.matches(nodeName: flow.nodeName) }) { return false }
        if !sourceLabel.isEmpty && !sourceLabel.containsInPlace(where: { $0.matches(flow.source.labels) }) { return false }
        if !destinationLabel.isEmpty && !destinationLabel.containsInPlace(where: { $0.matches(flow.destination.labels) }) {
            return false
        }
        return true
    }

    /// Whether a debug message passes. Hubble serves debug events apart from flows
    /// (`GetDebugEvents`, which takes no filters), but its filter functions do accept them: the
    /// event type filter knows type 2 (`debug`, the subtype being the `DBG_*` number), and every
    /// other field reads the event's flow, which a debug event lacks, and so does not match.
    /// flowwatch prints debug events among the flows, so it keeps exactly that: a filter with
    /// only `--type` values may match a debug event, any other field never does. Hence
    /// `--type debug` shows only debug events, `--ip X` hides them, `--not --ip X` keeps them.
    public func matches(_ debug: DebugEvent) -> Bool {
        guard onlyEventTypes else { return false }
        let subType = Int32(debug.type.rawValue)
        return eventType.isEmpty || eventType.containsInPlace { $0.matches(type: debugMessageType, subType: subType) }
    }

    /// No field but the event type has values.
    private var onlyEventTypes: Bool {
        sourceIP.isEmpty && destinationIP.isEmpty && sourcePod.isEmpty && destinationPod.isEmpty
            && sourceLabel.isEmpty && destinationLabel.isEmpty && sourceIdentity.isEmpty && destinationIdentity.isEmpty
            && sourcePort.isEmpty && destinationPort.isEmpty && protocols.isEmpty && tcpFlags.isEmpty
            && verdict.isEmpty && trafficDirection.isEmpty && interface.isEmpty && nodeName.isEmpty && ipVersion.isEmpty
    }
}

private let debugMessageType = Int32(MonitorMessageType.debug.rawValue)

extension Array {
    /// Whether an element satisfies `predicate`, the elements read where they lie. `for … in`
    /// and `contains(where:)` hand out copies, which for elements holding strings or arrays
    /// means reference counting for every element on every flow.
    @inline(__always)
    func containsInPlace(where predicate: (borrowing Element) -> Bool) -> Bool {
        withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return false }
            for i in 0..<buffer.count where predicate(base[i]) { return true }
            return false
        }
    }
}
