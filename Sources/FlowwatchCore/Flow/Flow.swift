/// One observed packet, as Hubble's `flow.Flow` (`api/v1/flow/flow.proto`) describes it: the
/// unit the ring stores and the Hubble outputs print.
///
/// Only the fields an L3/L4 datapath event can fill are modelled. Values keep their binary form
/// (addresses, MACs, enum numbers, the summary as a tag) and are turned into text by the
/// outputs, so building a flow costs no string formatting; the strings it holds (node name,
/// pod names, labels) are shared with the builder's prebuilt endpoint index. Enum-like fields
/// keep Hubble's numbers, so a value Hubble has no name for still round-trips (protojson
/// writes it as a number).
public struct Flow: Sendable, Hashable {
    public var time: FlowTime
    public var verdict: Verdict
    /// The deprecated `drop_reason`: the drop message's subtype, 0 for other events.
    public var dropReason: UInt32
    public var ethernet: Ethernet?
    public var ip: IP?
    public var l4: Layer4?
    /// Always present for L3/L4 flows (Hubble fills at least the identity), possibly empty.
    public var source: Endpoint
    public var destination: Endpoint
    public var type: FlowType
    public var nodeName: String
    public var eventType: CiliumEventType
    public var trafficDirection: TrafficDirection
    public var traceObservationPoint: ObservationPoint
    public var traceReason: Reason
    /// Source file and line of a drop in the BPF program; nil for other events.
    public var file: FileInfo?
    /// The IP option trace id, 0 if none.
    public var ipTraceID: UInt64
    /// Why the packet was dropped (Hubble's `DropReason` enum shares the datapath numbers);
    /// rawValue 0 (`DROP_REASON_UNKNOWN`) for other events.
    public var dropReasonDesc: DropReason
    /// Whether the packet is a reply of a tracked connection; nil when the datapath did not
    /// say (drops, captures, unknown trace reasons). Hubble's compact output prints `<>` then.
    public var isReply: Bool?
    /// Where a debug capture was taken; rawValue 0 for other events.
    public var debugCapturePoint: DebugCapturePoint
    public var interface: NetworkInterface?
    /// The proxy port of a `to-proxy` trace or proxy capture, 0 otherwise.
    public var proxyPort: UInt32
    public var summary: Summary

    public init(time: FlowTime, verdict: Verdict = .unknown, dropReason: UInt32 = 0, ethernet: Ethernet? = nil,
                ip: IP? = nil, l4: Layer4? = nil, source: Endpoint = Endpoint(),
                destination: Endpoint = Endpoint(), type: FlowType = .l3L4, nodeName: String = "",
                eventType: CiliumEventType, trafficDirection: TrafficDirection = .unknown,
                traceObservationPoint: ObservationPoint = .unknown, traceReason: Reason = .unknown,
                file: FileInfo? = nil, ipTraceID: UInt64 = 0, dropReasonDesc: DropReason = DropReason(rawValue: 0),
                isReply: Bool? = nil, debugCapturePoint: DebugCapturePoint = DebugCapturePoint(rawValue: 0),
                interface: NetworkInterface? = nil, proxyPort: UInt32 = 0, summary: Summary = .none) {
        self.time = time
        self.verdict = verdict
        self.dropReason = dropReason
        self.ethernet = ethernet
        self.ip = ip
        self.l4 = l4
        self.source = source
        self.destination = destination
        self.type = type
        self.nodeName = nodeName
        self.eventType = eventType
        self.trafficDirection = trafficDirection
        self.traceObservationPoint = traceObservationPoint
        self.traceReason = traceReason
        self.file = file
        self.ipTraceID = ipTraceID
        self.dropReasonDesc = dropReasonDesc
        self.isReply = isReply
        self.debugCapturePoint = debugCapturePoint
        self.interface = interface
        self.proxyPort = proxyPort
        self.summary = summary
    }
}

extension Flow {
    /// `flow.Verdict`.
    public enum Verdict: Int32, Sendable, Hashable, CaseIterable {
        case unknown = 0
        case forwarded = 1
        case dropped = 2
        case error = 3
        case audit = 4
        case redirected = 5
        case traced = 6
        case translated = 7

        /// The proto enum name, which Hubble prints and protojson writes.
        public var name: String {
            switch self {
            case .unknown: "VERDICT_UNKNOWN"
            case .forwarded: "FORWARDED"
            case .dropped: "DROPPED"
            case .error: "ERROR"
            case .audit: "AUDIT"
            case .redirected: "REDIRECTED"
            case .traced: "TRACED"
            case .translated: "TRANSLATED"
            }
        }
    }

    /// `flow.FlowType`; datapath events are all `L3_L4`.
    public enum FlowType: Int32, Sendable, Hashable {
        case unknown = 0
        case l3L4 = 1
        case l7 = 2
        case sock = 3

        public var name: String {
            switch self {
            case .unknown: "UNKNOWN_TYPE"
            case .l3L4: "L3_L4"
            case .l7: "L7"
            case .sock: "SOCK"
            }
        }
    }

    /// `flow.TrafficDirection`.
    public enum TrafficDirection: Int32, Sendable, Hashable {
        case unknown = 0
        case ingress = 1
        case egress = 2

        public var name: String {
            switch self {
            case .unknown: "TRAFFIC_DIRECTION_UNKNOWN"
            case .ingress: "INGRESS"
            case .egress: "EGRESS"
            }
        }
    }

    /// `flow.IPVersion`.
    public enum IPVersion: Int32, Sendable, Hashable {
        case notUsed = 0
        case ipv4 = 1
        case ipv6 = 2

        public var name: String {
            switch self {
            case .notUsed: "IP_NOT_USED"
            case .ipv4: "IPv4"
            case .ipv6: "IPv6"
            }
        }
    }

    /// `flow.TraceObservationPoint`: the datapath's observation points with `TO_LXC` (0) moved
    /// to `TO_ENDPOINT` = 101, so 0 can mean "not a trace".
    public struct ObservationPoint: RawRepresentable, Sendable, Hashable {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }

        public static let unknown = Self(rawValue: 0)
        public static let toEndpoint = Self(rawValue: 101)

        /// Hubble's mapping from the trace's subtype byte.
        public init(_ point: TraceObservationPoint) {
            rawValue = point.rawValue == 0 ? 101 : Int32(point.rawValue)
        }

        /// The proto enum name; nil for numbers the enum lacks.
        public var name: String? {
            switch rawValue {
            case 0: "UNKNOWN_POINT"
            case 1: "TO_PROXY"
            case 2: "TO_HOST"
            case 3: "TO_STACK"
            case 4: "TO_OVERLAY"
            case 101: "TO_ENDPOINT"
            case 5: "FROM_ENDPOINT"
            case 6: "FROM_PROXY"
            case 7: "FROM_HOST"
            case 8: "FROM_STACK"
            case 9: "FROM_OVERLAY"
            case 10: "FROM_NETWORK"
            case 11: "TO_NETWORK"
            case 12: "FROM_CRYPTO"
            case 13: "TO_CRYPTO"
            default: nil
            }
        }
    }

    /// `flow.TraceReason`: the datapath's trace reason shifted so that 0 means unknown.
    public struct Reason: RawRepresentable, Sendable, Hashable {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }

        public static let unknown = Self(rawValue: 0)
        public static let new = Self(rawValue: 1)
        public static let established = Self(rawValue: 2)
        public static let reply = Self(rawValue: 3)
        public static let related = Self(rawValue: 4)

        /// Hubble's `decodeTraceReason`: datapath 5 (unknown) becomes 0, values below it move
        /// up by one, values above it keep their number. The encryption bit is not a reason.
        public init(_ reason: TraceReason) {
            let state = reason.state
            switch state {
            case 5: rawValue = 0
            case ..<5: rawValue = Int32(state) + 1
            default: rawValue = Int32(state)
            }
        }

        public var name: String? {
            switch rawValue {
            case 0: "TRACE_REASON_UNKNOWN"
            case 1: "NEW"
            case 2: "ESTABLISHED"
            case 3: "REPLY"
            case 4: "RELATED"
            case 5: "REOPENED"
            case 6: "SRV6_ENCAP"
            case 7: "SRV6_DECAP"
            case 8: "ENCRYPT_OVERLAY"
            default: nil
            }
        }
    }

    /// `flow.Ethernet`.
    public struct Ethernet: Sendable, Hashable {
        public var source: MACAddress
        public var destination: MACAddress

        public init(source: MACAddress, destination: MACAddress) {
            self.source = source
            self.destination = destination
        }
    }

    /// `flow.IP`. When the datapath reported a pre-NAT source different from the header's,
    /// `source` is that original address and `sourceXlated` the header's (Hubble's rule).
    public struct IP: Sendable, Hashable {
        public var source: IPAddress
        public var sourceXlated: IPAddress?
        public var destination: IPAddress
        public var ipVersion: IPVersion
        /// The trace reason had the encryption bit set.
        public var encrypted: Bool

        public init(source: IPAddress, sourceXlated: IPAddress? = nil, destination: IPAddress,
                    ipVersion: IPVersion, encrypted: Bool = false) {
            self.source = source
            self.sourceXlated = sourceXlated
            self.destination = destination
            self.ipVersion = ipVersion
            self.encrypted = encrypted
        }
    }

    /// `flow.Layer4`: the one transport (or ICMP) header the packet had.
    public enum Layer4: Sendable, Hashable {
        case tcp(sourcePort: UInt16, destinationPort: UInt16, flags: TCPFlags)
        case udp(sourcePort: UInt16, destinationPort: UInt16)
        case icmpv4(type: UInt8, code: UInt8)
        case icmpv6(type: UInt8, code: UInt8)

        /// Source and destination port, for the protocols that have them.
        public var ports: (source: UInt16, destination: UInt16)? {
            switch self {
            case .tcp(let s, let d, _), .udp(let s, let d): (s, d)
            case .icmpv4, .icmpv6: nil
            }
        }
    }

    /// `flow.Endpoint`: a local endpoint from the config, or a remote address described by its
    /// identity. Empty strings and 0 mean "unknown", as in the proto.
    public struct Endpoint: Sendable, Hashable {
        public var id: UInt32
        public var identity: UInt32
        /// The namespace, labels and pod name, in one object that the endpoints built from the
        /// same config entry share: every flow takes two endpoints, and copying one retains a
        /// single reference rather than three (retain and release were a fifth of replay's time).
        private var names: Names

        public var namespace: String {
            get { names.namespace }
            set { names = Names(namespace: newValue, labels: names.labels, podName: names.podName) }
        }
        /// `source:key=value` labels, sorted (as Hubble sorts them).
        public var labels: [String] {
            get { names.labels }
            set { names = Names(namespace: names.namespace, labels: newValue, podName: names.podName) }
        }
        public var podName: String {
            get { names.podName }
            set { names = Names(namespace: names.namespace, labels: names.labels, podName: newValue) }
        }

        public init(id: UInt32 = 0, identity: UInt32 = 0, namespace: String = "", labels: [String] = [],
                    podName: String = "") {
            self.id = id
            self.identity = identity
            if namespace.isEmpty && labels.isEmpty && podName.isEmpty {
                names = Names.none
            } else {
                names = Names(namespace: namespace, labels: labels, podName: podName)
            }
        }

        /// `namespace/podName`, or the pod name alone without a namespace.
        var podPath: String { names.podPath }

        /// Whether `other` holds the very names this one holds: then they read the same.
        @inline(__always)
        func sharesNames(with other: borrowing Endpoint) -> Bool {
            names === other.names
        }

        /// Becomes `other`; the names are stored only when they are not the ones already held,
        /// so a flow refilled with the endpoints of the previous one costs no reference counting.
        @inline(__always)
        mutating func assign(_ other: borrowing Endpoint) {
            id = other.id
            identity = other.identity
            if names !== other.names { names = other.names }
        }

        public static func == (a: Endpoint, b: Endpoint) -> Bool {
            a.id == b.id && a.identity == b.identity
                && (a.names === b.names
                    || (a.names.namespace == b.names.namespace && a.names.podName == b.names.podName && a.names.labels == b.names.labels))
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(id)
            hasher.combine(identity)
            hasher.combine(names.namespace)
            hasher.combine(names.labels)
            hasher.combine(names.podName)
        }

        private final class Names: Sendable {
            let namespace: String
            let labels: [String]
            let podName: String
            /// `namespace/podName` (path.Join: no slash without a namespace), as text formats
            /// write it: made once for the endpoints that share these names.
            let podPath: String

            init(namespace: String, labels: [String], podName: String) {
                self.namespace = namespace
                self.labels = labels
                self.podName = podName
                podPath = namespace.isEmpty ? podName : namespace + "/" + podName
            }

            /// Shared by every endpoint without names, so building one allocates nothing.
            static let none = Names(namespace: "", labels: [], podName: "")
        }
    }

    /// `flow.CiliumEventType`: the monitor message type and subtype the flow came from.
    public struct CiliumEventType: Sendable, Hashable {
        public var type: Int32
        public var subType: Int32

        public init(type: Int32, subType: Int32) {
            self.type = type
            self.subType = subType
        }
    }

    /// `flow.FileInfo`.
    public struct FileInfo: Sendable, Hashable {
        public var name: String
        public var line: UInt32

        public init(name: String, line: UInt32) {
            self.name = name
            self.line = line
        }
    }

    /// `flow.NetworkInterface`; `name` is empty when the ifindex could not be resolved.
    public struct NetworkInterface: Sendable, Hashable {
        public var index: UInt32
        public var name: String

        public init(index: UInt32, name: String = "") {
            self.index = index
            self.name = name
        }
    }

    /// Hubble's `Summary` string, kept as what it is made of so building a flow formats
    /// nothing: the last decoded layer's name, or the TCP flags / ICMP type for those layers.
    public enum Summary: Sendable, Hashable {
        /// No layer was decoded (empty capture): the empty string.
        case none
        /// A layer without a more specific summary: `Ethernet`, `IPv4`, `IPv6`, `UDP`.
        case layer(LayerName)
        /// `TCP Flags: SYN, ACK` (order SYN, ACK, RST, FIN, PSH, URG, ECE, CWR, NS).
        case tcp(TCPFlags)
        /// `ICMPv4 EchoRequest`, gopacket's type-code text.
        case icmpv4(type: UInt8, code: UInt8)
        /// `ICMPv6 EchoReply`.
        case icmpv6(type: UInt8, code: UInt8)

        /// The layers whose gopacket name is the whole summary.
        public enum LayerName: Sendable, Hashable {
            case ethernet, ipv4, ipv6, udp

            public var name: String {
                switch self {
                case .ethernet: "Ethernet"
                case .ipv4: "IPv4"
                case .ipv6: "IPv6"
                case .udp: "UDP"
                }
            }
        }

        /// The text Hubble stores in `Summary`.
        public var text: String {
            var out: [UInt8] = []
            out.appendFlowSummary(self)
            return String(decoding: out, as: UTF8.self)
        }
    }
}

extension ByteSink {
    /// Hubble's summary text for a flow (`Summary` without the trace-id prefix).
    mutating func appendFlowSummary(_ summary: Flow.Summary) {
        switch summary {
        case .none:
            break
        case .layer(let layer):
            append(layer.name)
        case .tcp(let flags):
            appendASCII("TCP Flags: ")
            var first = true
            for (flag, name) in tcpSummaryFlags where flags.contains(flag) {
                if !first { appendASCII(", ") }
                appendASCII(name)
                first = false
            }
        case .icmpv4(let type, let code):
            appendASCII("ICMPv4 ")
            appendICMPTypeCode(icmpv4Names(type: type, code: code), type: type, code: code)
        case .icmpv6(let type, let code):
            appendASCII("ICMPv6 ")
            appendICMPTypeCode(icmpv6Names(type: type, code: code), type: type, code: code)
        }
    }
}

/// Hubble's order of TCP flags in the summary (`getTCPFlags`).
private let tcpSummaryFlags: [(TCPFlags, StaticString)] = [
    (.syn, "SYN"), (.ack, "ACK"), (.rst, "RST"), (.fin, "FIN"), (.psh, "PSH"),
    (.urg, "URG"), (.ece, "ECE"), (.cwr, "CWR"), (.ns, "NS"),
]
