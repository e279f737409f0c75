/// An EtherType (Ethernet, 802.1Q and ARP protocol fields).
public struct EtherType: RawRepresentable, Sendable, Hashable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// gopacket's placeholder for 802.3 frames, whose type field is a length.
    public static let llc = Self(rawValue: 0)
    public static let ipv4 = Self(rawValue: 0x0800)
    public static let arp = Self(rawValue: 0x0806)
    public static let dot1Q = Self(rawValue: 0x8100)
    public static let ipv6 = Self(rawValue: 0x86DD)
    public static let qinQ = Self(rawValue: 0x88A8)

    /// gopacket's `EthernetType.String()`, which `cilium monitor` prints.
    public var name: String {
        switch rawValue {
        case 0x0000: "LLC"
        case 0x0800: "IPv4"
        case 0x0806: "ARP"
        case 0x86DD: "IPv6"
        case 0x2000: "CiscoDiscovery"
        case 0x01A2: "NortelDiscovery"
        case 0x6558: "TransparentEthernetBridging"
        case 0x8100, 0x88A8: "Dot1Q"
        case 0x880B: "PPP"
        case 0x8863: "PPPoEDiscovery"
        case 0x8864: "PPPoESession"
        case 0x8847: "MPLSUnicast"
        case 0x8848: "MPLSMulticast"
        case 0x888E: "EAPOL"
        case 0x88BE: "ERSPAN Type II"
        case 0x88CC: "LinkLayerDiscovery"
        case 0x9000: "EthernetCTP"
        default: "UnknownEthernetType"
        }
    }
}

/// An IP protocol / IPv6 next-header number.
public struct IPProtocol: RawRepresentable, Sendable, Hashable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let hopByHop = Self(rawValue: 0)
    public static let icmpv4 = Self(rawValue: 1)
    public static let ipv4 = Self(rawValue: 4)
    public static let tcp = Self(rawValue: 6)
    public static let udp = Self(rawValue: 17)
    public static let ipv6 = Self(rawValue: 41)
    public static let ipv6Routing = Self(rawValue: 43)
    public static let ipv6Fragment = Self(rawValue: 44)
    public static let icmpv6 = Self(rawValue: 58)
    public static let ipv6Destination = Self(rawValue: 60)
    public static let ipip = Self(rawValue: 94)

    /// gopacket's `IPProtocol.String()`.
    public var name: String {
        switch rawValue {
        case 0: "IPv6HopByHop"
        case 1: "ICMPv4"
        case 2: "IGMP"
        case 4, 94: "IPv4"
        case 6: "TCP"
        case 17: "UDP"
        case 27: "RUDP"
        case 41: "IPv6"
        case 43: "IPv6Routing"
        case 44: "IPv6Fragment"
        case 47: "GRE"
        case 50: "IPSecESP"
        case 51: "IPSecAH"
        case 58: "ICMPv6"
        case 59: "NoNextHeader"
        case 60: "IPv6Destination"
        case 89: "OSPF"
        case 97: "EtherIP"
        case 112: "VRRP"
        case 132: "SCTP"
        case 136: "UDPLite"
        case 137: "MPLS"
        default: "UnknownIPProtocol"
        }
    }
}

/// gopacket's `LinkType.String()` for the (8-bit) link types it names; ARP's hardware type is
/// printed through it.
func linkTypeName(_ value: UInt8) -> String {
    switch value {
    case 0: "Null"
    case 1: "Ethernet"
    case 9: "PPP"
    case 10: "FDDI"
    case 12, 101: "Raw"
    case 105: "802.11"
    case 108: "Loop"
    case 113: "Linux SLL"
    case 117: "PFLog"
    case 119: "Prism"
    case 127: "RadioTap"
    case 220: "USB"
    default: "UnknownLinkType"
    }
}

/// The names gopacket's `ICMPv4TypeCode.String()` prints: the type's name (nil if unknown),
/// whether the type has a table of code names, and the code's name in it.
func icmpv4Names(type: UInt8, code: UInt8) -> (type: StaticString?, hasCodes: Bool, code: StaticString?) {
    switch type {
    case 0: return ("EchoReply", false, nil)
    case 3:
        let names: [StaticString] = [
            "Net", "Host", "Protocol", "Port", "FragmentationNeeded", "SourceRoutingFailed",
            "NetUnknown", "HostUnknown", "SourceIsolated", "NetAdminProhibited",
            "HostAdminProhibited", "NetTOS", "HostTOS", "CommAdminProhibited", "HostPrecedence",
            "PrecedenceCutoff",
        ]
        return ("DestinationUnreachable", true, code < names.count ? names[Int(code)] : nil)
    case 4: return ("SourceQuench", false, nil)
    case 5:
        let names: [StaticString] = ["Net", "Host", "TOS+Net", "TOS+Host"]
        return ("Redirect", true, code < names.count ? names[Int(code)] : nil)
    case 8: return ("EchoRequest", false, nil)
    case 9: return ("RouterAdvertisement", false, nil)
    case 10: return ("RouterSolicitation", false, nil)
    case 11:
        let names: [StaticString] = ["TTLExceeded", "FragmentReassemblyTimeExceeded"]
        return ("TimeExceeded", true, code < names.count ? names[Int(code)] : nil)
    case 12:
        let names: [StaticString] = ["PointerIndicatesError", "MissingOption", "BadLength"]
        return ("ParameterProblem", true, code < names.count ? names[Int(code)] : nil)
    case 13: return ("TimestampRequest", false, nil)
    case 14: return ("TimestampReply", false, nil)
    case 15: return ("InfoRequest", false, nil)
    case 16: return ("InfoReply", false, nil)
    case 17: return ("AddressMaskRequest", false, nil)
    case 18: return ("AddressMaskReply", false, nil)
    default: return (nil, false, nil)
    }
}

/// The names gopacket's `ICMPv6TypeCode.String()` prints, as `icmpv4Names`.
func icmpv6Names(type: UInt8, code: UInt8) -> (type: StaticString?, hasCodes: Bool, code: StaticString?) {
    switch type {
    case 1:
        let names: [StaticString] = [
            "NoRouteToDst", "AdminProhibited", "BeyondScopeOfSrc", "AddressUnreachable",
            "PortUnreachable", "SrcAddressFailedPolicy", "RejectRouteToDst",
        ]
        return ("DestinationUnreachable", true, code < names.count ? names[Int(code)] : nil)
    case 2: return ("PacketTooBig", false, nil)
    case 3:
        let names: [StaticString] = ["HopLimitExceeded", "FragmentReassemblyTimeExceeded"]
        return ("TimeExceeded", true, code < names.count ? names[Int(code)] : nil)
    case 4:
        let names: [StaticString] = ["ErroneousHeaderField", "UnrecognizedNextHeader", "UnrecognizedIPv6Option"]
        return ("ParameterProblem", true, code < names.count ? names[Int(code)] : nil)
    case 128: return ("EchoRequest", false, nil)
    case 129: return ("EchoReply", false, nil)
    case 133: return ("RouterSolicitation", false, nil)
    case 134: return ("RouterAdvertisement", false, nil)
    case 135: return ("NeighborSolicitation", false, nil)
    case 136: return ("NeighborAdvertisement", false, nil)
    case 137: return ("Redirect", false, nil)
    default: return (nil, false, nil)
    }
}
