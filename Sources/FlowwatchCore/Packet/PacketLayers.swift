/// Where a layer lies in the dissected bytes: its own header (`contents`) and what it carries
/// (`payload`), as gopacket's `Contents` / `Payload`. Ranges index the buffer given to the
/// dissector, so a layer never copies packet bytes; the payload ends where the captured bytes
/// end or where the layer's own length says, whichever is first.
public struct LayerSpan: Sendable, Hashable {
    public var contents: Range<Int>
    public var payload: Range<Int>
}

/// An Ethernet II or 802.3 header.
public struct EthernetHeader: Sendable, Hashable {
    public var span: LayerSpan
    public var source: MACAddress
    public var destination: MACAddress
    /// `.llc` for 802.3 frames, whose type field is a length.
    public var etherType: EtherType
    /// The 802.3 length field; 0 for Ethernet II frames.
    public var length: UInt16
}

/// An 802.1Q (or 802.1ad) tag; gopacket calls both `Dot1Q`.
public struct VLANTag: Sendable, Hashable {
    public var span: LayerSpan
    public var priority: UInt8
    public var dropEligible: Bool
    public var vlanID: UInt16
    public var etherType: EtherType
}

/// An ARP message; the addresses are ranges because their sizes are in the message.
public struct ARPPacket: Sendable, Hashable {
    public var span: LayerSpan
    public var hardwareType: UInt16
    public var protocolType: EtherType
    public var hardwareSize: UInt8
    public var protocolSize: UInt8
    public var operation: UInt16
    public var senderHardwareAddress: Range<Int>
    public var senderProtocolAddress: Range<Int>
    public var targetHardwareAddress: Range<Int>
    public var targetProtocolAddress: Range<Int>
}

/// An IPv4 option; end-of-list and no-op have length 1 and no data.
public struct IPv4Option: Sendable, Hashable {
    public var type: UInt8
    public var length: UInt8
    public var data: Range<Int>
}

/// An IPv4 header with its options.
public struct IPv4Header: Sendable, Hashable {
    /// Flag bits as gopacket numbers them (the top 3 bits of the fragment field).
    public struct Flags: OptionSet, Sendable, Hashable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let moreFragments = Flags(rawValue: 1)
        public static let dontFragment = Flags(rawValue: 2)
        public static let evil = Flags(rawValue: 4)
    }

    public var span: LayerSpan
    public var version: UInt8
    public var ihl: UInt8
    public var tos: UInt8
    /// Total length; a 0 on the wire (TSO) reads as the captured length, as gopacket does.
    public var length: UInt16
    public var identification: UInt16
    public var flags: Flags
    public var fragmentOffset: UInt16
    public var ttl: UInt8
    public var `protocol`: IPProtocol
    public var checksum: UInt16
    public var source: IPv4Address
    public var destination: IPv4Address
    public var options: [IPv4Option]
    /// Bytes after an end-of-options option.
    public var padding: Range<Int>

    /// A fragment carries no transport header the dissector could trust (later fragments) or
    /// only part of the datagram (the first): dissection stops after it, as gopacket's does.
    public var isFragment: Bool { flags.contains(.moreFragments) || fragmentOffset != 0 }
}

/// A type-length-value option of a hop-by-hop or destination options header.
public struct IPv6Option: Sendable, Hashable {
    public var type: UInt8
    /// The length byte (0 for Pad1, which has none).
    public var length: UInt8
    /// Bytes the option takes, type and length included.
    public var actualLength: Int
    public var data: Range<Int>
}

/// A hop-by-hop or destination options header.
public struct IPv6OptionsHeader: Sendable, Hashable {
    public var span: LayerSpan
    public var nextHeader: IPProtocol
    /// The length field: 8-byte units after the first 8.
    public var headerLength: UInt8
    public var actualLength: Int
    public var options: [IPv6Option]
}

/// The fixed IPv6 header, with the hop-by-hop options that may follow it.
public struct IPv6Header: Sendable, Hashable {
    public var span: LayerSpan
    public var version: UInt8
    public var trafficClass: UInt8
    public var flowLabel: UInt32
    public var length: UInt16
    public var nextHeader: IPProtocol
    public var hopLimit: UInt8
    public var source: IPv6Address
    public var destination: IPv6Address
    /// Decoded as part of the IPv6 layer (as gopacket does) because its options matter to
    /// every router; the IPv6 payload starts after it.
    public var hopByHop: IPv6OptionsHeader?
}

/// An IPv6 routing extension header.
public struct IPv6RoutingHeader: Sendable, Hashable {
    public var span: LayerSpan
    public var nextHeader: IPProtocol
    public var headerLength: UInt8
    public var actualLength: Int
    public var routingType: UInt8
    public var segmentsLeft: UInt8
    public var reserved: Range<Int>
    /// The addresses of a type 0 (source route) header; empty for other types.
    public var addresses: [IPv6Address]
}

/// An IPv6 fragment extension header.
public struct IPv6FragmentHeader: Sendable, Hashable {
    public var span: LayerSpan
    public var nextHeader: IPProtocol
    public var reserved1: UInt8
    public var fragmentOffset: UInt16
    public var reserved2: UInt8
    public var moreFragments: Bool
    public var identification: UInt32
}

/// The nine TCP flag bits (NS is the low bit of byte 12).
public struct TCPFlags: OptionSet, Sendable, Hashable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let fin = TCPFlags(rawValue: 0x001)
    public static let syn = TCPFlags(rawValue: 0x002)
    public static let rst = TCPFlags(rawValue: 0x004)
    public static let psh = TCPFlags(rawValue: 0x008)
    public static let ack = TCPFlags(rawValue: 0x010)
    public static let urg = TCPFlags(rawValue: 0x020)
    public static let ece = TCPFlags(rawValue: 0x040)
    public static let cwr = TCPFlags(rawValue: 0x080)
    public static let ns = TCPFlags(rawValue: 0x100)
}

/// A TCP option; end-of-list and no-op have length 1 and no data.
public struct TCPOption: Sendable, Hashable {
    public var kind: UInt8
    /// The length byte (1 for end-of-list and no-op, which have none).
    public var length: UInt8
    public var data: Range<Int>
}

/// A TCP header with its options.
public struct TCPHeader: Sendable, Hashable {
    public var span: LayerSpan
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var sequence: UInt32
    public var acknowledgment: UInt32
    /// Header length in 32-bit words.
    public var dataOffset: UInt8
    public var flags: TCPFlags
    public var window: UInt16
    public var checksum: UInt16
    public var urgent: UInt16
    public var options: [TCPOption]
    /// Bytes after an end-of-list option.
    public var padding: Range<Int>
}

/// A UDP header.
public struct UDPHeader: Sendable, Hashable {
    public var span: LayerSpan
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var length: UInt16
    public var checksum: UInt16
}

/// The first 8 bytes of an ICMPv4 message.
public struct ICMPv4Header: Sendable, Hashable {
    public var span: LayerSpan
    public var type: UInt8
    public var code: UInt8
    public var checksum: UInt16
    /// Bytes 4–7, the echo identifier and sequence (read for every type, as gopacket does).
    public var identifier: UInt16
    public var sequence: UInt16
}

/// The first 4 bytes of an ICMPv6 message, and the echo fields when there are any.
public struct ICMPv6Header: Sendable, Hashable {
    /// Identifier and sequence of an echo request or reply.
    public struct Echo: Sendable, Hashable {
        public var identifier: UInt16
        public var sequence: UInt16
    }

    public var span: LayerSpan
    public var type: UInt8
    public var code: UInt8
    public var checksum: UInt16
    /// Identifier and sequence of an echo request or reply, when captured.
    public var echo: Echo?
}

/// One decoded protocol layer.
public enum PacketLayer: Sendable, Hashable {
    case ethernet(EthernetHeader)
    case dot1Q(VLANTag)
    case arp(ARPPacket)
    case ipv4(IPv4Header)
    case ipv6(IPv6Header)
    case ipv6Routing(IPv6RoutingHeader)
    case ipv6Fragment(IPv6FragmentHeader)
    case ipv6Destination(IPv6OptionsHeader)
    case tcp(TCPHeader)
    case udp(UDPHeader)
    case icmpv4(ICMPv4Header)
    case icmpv6(ICMPv6Header)
}

/// A layer the dissector could not decode, with gopacket's wording of why (what `cilium
/// monitor -vv` prints after "Failed to decode layer:").
public struct DissectionFailure: Sendable, Hashable, CustomStringConvertible {
    /// Offset of the layer in the dissected bytes.
    public var offset: Int
    public var message: String

    public var description: String { message }
}

/// The layers of one captured packet.
///
/// Captures are often partial (128 bytes by default), so a dissection that stops early is a
/// normal result, not an error of the event: `truncated` says the capture was shorter than a
/// header claimed, `failure` names a layer that could not be decoded at all.
public struct PacketDissection: Sendable, Hashable {
    public var layers: [PacketLayer]
    public var truncated: Bool
    public var failure: DissectionFailure?

    public init(layers: [PacketLayer] = [], truncated: Bool = false, failure: DissectionFailure? = nil) {
        self.layers = layers
        self.truncated = truncated
        self.failure = failure
    }
}
