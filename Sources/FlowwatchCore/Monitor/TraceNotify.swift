/// Where in the datapath a trace was emitted (`enum trace_point`, the trace's subtype byte).
/// Twin of `enum fw_trace_point` in bpf/events.h.
public struct TraceObservationPoint: RawRepresentable, Sendable, Hashable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let toEndpoint = Self(rawValue: 0)
    public static let toProxy = Self(rawValue: 1)
    public static let toHost = Self(rawValue: 2)
    public static let toStack = Self(rawValue: 3)
    public static let toOverlay = Self(rawValue: 4)
    public static let fromEndpoint = Self(rawValue: 5)
    public static let fromProxy = Self(rawValue: 6)
    public static let fromHost = Self(rawValue: 7)
    public static let fromStack = Self(rawValue: 8)
    public static let fromOverlay = Self(rawValue: 9)
    public static let fromNetwork = Self(rawValue: 10)
    public static let toNetwork = Self(rawValue: 11)
    public static let fromCrypto = Self(rawValue: 12)
    public static let toCrypto = Self(rawValue: 13)

    /// The name `cilium monitor -vv` and `--type trace:<name>` use, e.g. `to-endpoint`;
    /// nil for values Cilium does not know (monitor prints the number).
    public var name: String? {
        switch rawValue {
        case 0: "to-endpoint"
        case 1: "to-proxy"
        case 2: "to-host"
        case 3: "to-stack"
        case 4: "to-overlay"
        case 5: "from-endpoint"
        case 6: "from-proxy"
        case 7: "from-host"
        case 8: "from-stack"
        case 9: "from-overlay"
        case 10: "from-network"
        case 11: "to-network"
        case 12: "from-crypto"
        case 13: "to-crypto"
        default: nil
        }
    }
}

/// Why a packet was forwarded: the conntrack state it matched (`enum trace_reason`), with bit
/// 0x80 set when the packet was encrypted.
public struct TraceReason: RawRepresentable, Sendable, Hashable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let new = Self(rawValue: 0)
    public static let established = Self(rawValue: 1)
    public static let reply = Self(rawValue: 2)
    public static let related = Self(rawValue: 3)
    public static let unknown = Self(rawValue: 5)
    public static let encryptedMask: UInt8 = 0x80

    /// The packet was encrypted (IPsec or WireGuard) when it was traced.
    public var isEncrypted: Bool { rawValue & Self.encryptedMask != 0 }

    /// The reason without the encryption bit.
    public var state: UInt8 { rawValue & ~Self.encryptedMask }

    /// Cilium's `connState` text (`new`, `established`, …); nil for values it does not know,
    /// which monitor prints as the raw number.
    public var text: String? {
        switch state {
        case 0: "new"
        case 1: "established"
        case 2: "reply"
        case 3: "related"
        case 4: "reopened"
        case 5: "unknown"
        case 6: "srv6-encap"
        case 7: "srv6-decap"
        case 8: "encrypt-overlay"
        default: nil
        }
    }
}

/// `CLS_FLAG_*` bits of trace (and drop v2+) messages: what the captured bytes start with.
public struct TraceFlags: OptionSet, Sendable, Hashable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The packet is IPv6; also selects which half of `orig_ip` is meaningful.
    public static let ipv6 = Self(rawValue: 0x01)
    /// The device has no Ethernet header: the captured bytes start at the IP header.
    public static let l3Device = Self(rawValue: 0x02)
    public static let vxlan = Self(rawValue: 0x04)
    public static let geneve = Self(rawValue: 0x08)
}

/// `struct trace_notify` (Cilium `bpf/lib/trace.h`): a packet passed an observation point.
/// Version 0 is 32 bytes, version 1 adds the original (pre-NAT) source address (48 bytes),
/// version 2 adds the IP trace id (56 bytes, what flowwatch's datapath emits).
public struct TraceNotify: Sendable, Hashable {
    public var observationPoint: TraceObservationPoint
    /// Endpoint id of the emitting program (`EVENT_SOURCE`), 0 if none.
    public var source: UInt16
    /// The skb hash, printed as "MARK" and "flow".
    public var hash: UInt32
    /// Length of the packet on the wire.
    public var originalLength: UInt32
    /// Packet bytes appended after the message.
    public var capturedLength: UInt16
    public var version: UInt8
    public var extVersion: UInt8
    public var sourceIdentity: SecurityIdentity
    public var destinationIdentity: SecurityIdentity
    /// Destination endpoint id, or the proxy port for `to-proxy`.
    public var destinationID: UInt16
    public var reason: TraceReason
    public var flags: TraceFlags
    public var ifindex: UInt32
    /// The source address before reverse NAT (version 1 and later; nil in version 0). The
    /// family follows `flags.ipv6`.
    public var originalIP: IPAddress?
    /// The IP trace id (version 2; 0 before).
    public var ipTraceID: UInt64

    public init(observationPoint: TraceObservationPoint, source: UInt16, hash: UInt32,
                originalLength: UInt32, capturedLength: UInt16, version: UInt8, extVersion: UInt8 = 0,
                sourceIdentity: SecurityIdentity, destinationIdentity: SecurityIdentity,
                destinationID: UInt16, reason: TraceReason, flags: TraceFlags, ifindex: UInt32,
                originalIP: IPAddress?, ipTraceID: UInt64) {
        self.observationPoint = observationPoint
        self.source = source
        self.hash = hash
        self.originalLength = originalLength
        self.capturedLength = capturedLength
        self.version = version
        self.extVersion = extVersion
        self.sourceIdentity = sourceIdentity
        self.destinationIdentity = destinationIdentity
        self.destinationID = destinationID
        self.reason = reason
        self.flags = flags
        self.ifindex = ifindex
        self.originalIP = originalIP
        self.ipTraceID = ipTraceID
    }

    /// Where the captured bytes start: Ethernet, or IPv4/IPv6 on L3 devices.
    public var firstLayer: PacketDissector.FirstLayer {
        PacketDissector.FirstLayer(flags: flags)
    }
}
