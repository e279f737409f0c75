/// One packet as an observation point saw it, in the terms capture files use: independent of
/// flowwatch's flow model, which the caller maps onto it.
///
/// A packet seen at several observation points (from-endpoint on one `lxc`, to-endpoint on
/// another) is one `CapturedPacket` per point, each with its own interface and direction and the
/// same `packetID`, so pcapng readers can correlate them.
public struct CapturedPacket: Sendable, Equatable {
    /// Wall-clock time in nanoseconds since the Unix epoch. Kernel (CLOCK_BOOTTIME) times are
    /// converted by the caller: files carry wall-clock time, and time-based rotation uses it.
    public var timestampNanos: UInt64
    /// The bytes captured, starting at the Ethernet header: a slice, so a packet is written
    /// straight from the record it came in. Bytes beyond the writer's snapshot length are not
    /// written.
    public var bytes: ArraySlice<UInt8>
    /// The packet's length on the wire. Written as given, but never below the captured length,
    /// which readers would reject.
    public var originalLength: UInt32
    /// The device the packet was seen on; pcapng gives every distinct interface its own block.
    public var interface: CaptureInterface
    /// Whether the device received or sent the packet (pcapng `epb_flags`).
    public var direction: PacketDirection
    /// The same value for the same packet seen on several devices (pcapng `epb_packetid`).
    public var packetID: UInt64?
    /// The tc verdict, a `TC_ACT_*` value (pcapng `epb_verdict` type Linux eBPF TC). flowwatch
    /// only observes, so it passes `TC_ACT_UNSPEC` (-1): "continue with the next program".
    public var tcVerdict: Int32?
    /// What the flow means (observation point, identities, endpoints, pods, conntrack state,
    /// verdict), shown by Wireshark as the packet comment (pcapng `opt_comment`). UTF-8 beyond
    /// the option's limit of 65,535 bytes is cut at a character boundary.
    public var comment: String?

    public init(
        timestampNanos: UInt64, bytes: ArraySlice<UInt8>, originalLength: UInt32,
        interface: CaptureInterface = CaptureInterface(index: 0, name: ""),
        direction: PacketDirection = .unknown, packetID: UInt64? = nil, tcVerdict: Int32? = nil,
        comment: String? = nil
    ) {
        self.timestampNanos = timestampNanos
        self.bytes = bytes
        self.originalLength = originalLength
        self.interface = interface
        self.direction = direction
        self.packetID = packetID
        self.tcVerdict = tcVerdict
        self.comment = comment
    }
}

/// A capture device as pcapng describes it. Two values that differ in any field are different
/// interfaces: an ifindex reused by a new pod's veth gets its own interface block.
public struct CaptureInterface: Sendable, Hashable {
    /// The kernel's ifindex, which keeps two devices of the same name (in different moments) apart.
    public var index: UInt32
    /// The device name (`lxc1a2b3c`, `cilium_host`), pcapng `if_name`.
    public var name: String
    /// What the device belongs to, e.g. "endpoint 2073 pod default/client", pcapng `if_description`.
    /// Empty writes no description.
    public var description: String

    public init(index: UInt32, name: String, description: String = "") {
        self.index = index
        self.name = name
        self.description = description
    }
}

/// Direction relative to the device, as pcapng's `epb_flags` bits 0-1 record it. A tc ingress hook
/// on a pod's `lxc` sees packets the pod sends (inbound on the host side), egress what it receives.
public enum PacketDirection: Sendable, Hashable {
    case unknown
    case inbound
    case outbound
}
