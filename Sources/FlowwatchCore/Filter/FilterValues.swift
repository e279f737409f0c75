// The value sets one `FlowFilter` field holds, parsed and laid out when the filter is built so
// that matching a flow is integer and byte compares: no allocation, no string building, no
// hashing. Every set means "any of these" (Hubble ORs the values of one field); an empty set
// constrains nothing.

/// Addresses and CIDRs, kept per family as (network, mask) pairs. An address is a full-length
/// prefix. Families never match each other: an IPv4-mapped IPv6 address is an IPv6 address, as
/// Go's `IPNet.Contains` treats it in Hubble's CIDR case.
public struct IPPrefixSet: Sendable, Hashable {
    /// What was inserted, in order (for printing the filter).
    public private(set) var prefixes: [IPPrefix] = []
    private var v4: [V4] = []
    private var v6: [V6] = []

    private struct V4: Sendable, Hashable {
        var network: UInt32
        var mask: UInt32
    }

    private struct V6: Sendable, Hashable {
        var high: UInt64
        var low: UInt64
        var maskHigh: UInt64
        var maskLow: UInt64
    }

    public init() {}

    public init(_ prefixes: [IPPrefix]) {
        for p in prefixes { insert(p) }
    }

    public var isEmpty: Bool { prefixes.isEmpty }

    public mutating func insert(_ prefix: IPPrefix) {
        guard !prefixes.contains(prefix) else { return }
        prefixes.append(prefix)
        switch prefix.address {
        case .v4(let a):
            v4.append(V4(network: a.value, mask: Self.mask(UInt32.self, prefix.length)))
        case .v6(let a):
            v6.append(V6(high: a.high, low: a.low, maskHigh: Self.mask(UInt64.self, prefix.length),
                         maskLow: Self.mask(UInt64.self, prefix.length - 64)))
        }
    }

    /// The top `bits` bits set (none for 0 or less, all for the full width or more).
    private static func mask<T: FixedWidthInteger & UnsignedInteger>(_: T.Type, _ bits: Int) -> T {
        bits <= 0 ? 0 : bits >= T.bitWidth ? T.max : ~(T.max >> T(bits))
    }

    public func contains(_ address: IPAddress) -> Bool {
        switch address {
        case .v4(let a):
            for p in v4 where a.value & p.mask == p.network { return true }
        case .v6(let a):
            for p in v6 where a.high & p.maskHigh == p.high && a.low & p.maskLow == p.low { return true }
        }
        return false
    }
}

/// L4 port numbers. Filters name a handful, so a linear scan of a short array beats a bitmap
/// (8 KiB, a cache miss per flow) and a hash set (hashing per flow).
public struct PortSet: Sendable, Hashable {
    public private(set) var ports: [UInt16] = []

    public init() {}

    public init(_ ports: [UInt16]) {
        for p in ports { insert(p) }
    }

    public var isEmpty: Bool { ports.isEmpty }

    public mutating func insert(_ port: UInt16) {
        if !ports.contains(port) { ports.append(port) }
    }

    public func contains(_ port: UInt16) -> Bool { ports.contains(port) }
}

/// A set of the proto enums whose numbers are small (verdict, traffic direction, IP version) as
/// one bit per number, so membership is a shift and a mask.
public struct EnumSet<Element: RawRepresentable>: Sendable, Hashable where Element.RawValue == Int32 {
    public private(set) var bits: UInt64 = 0

    public init() {}

    public init(_ elements: [Element]) {
        for e in elements { insert(e) }
    }

    public var isEmpty: Bool { bits == 0 }

    /// Only numbers 0..<64 fit; every enum this is used for stays below 8.
    public mutating func insert(_ element: Element) {
        precondition((0..<64).contains(element.rawValue), "EnumSet holds numbers 0..<64")
        bits |= 1 << UInt64(element.rawValue)
    }

    public func contains(_ element: Element) -> Bool {
        let n = element.rawValue
        return n >= 0 && n < 64 && bits & (1 << UInt64(n)) != 0
    }
}

/// `--protocol` values: the L4 layers a flow can have. `icmp` is both ICMP versions, as in
/// Hubble. SCTP is accepted for Hubble's sake but never matches: flowwatch does not decode it.
public struct L4ProtocolSet: OptionSet, Sendable, Hashable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let tcp = Self(rawValue: 1)
    public static let udp = Self(rawValue: 2)
    public static let icmpv4 = Self(rawValue: 4)
    public static let icmpv6 = Self(rawValue: 8)
    public static let sctp = Self(rawValue: 16)
    public static let icmp: Self = [.icmpv4, .icmpv6]

    /// The names `--protocol` accepts (lowercase), in the order errors list them.
    public static let names: [(String, Self)] = [
        ("tcp", .tcp), ("udp", .udp), ("icmp", .icmp), ("icmpv4", .icmpv4), ("icmpv6", .icmpv6), ("sctp", .sctp),
    ]

    /// Whether the flow's L4 layer is one of these; flows without one never are.
    public func matches(_ l4: Flow.Layer4?) -> Bool {
        switch l4 {
        case .tcp: contains(.tcp)
        case .udp: contains(.udp)
        case .icmpv4: contains(.icmpv4)
        case .icmpv6: contains(.icmpv6)
        case nil: false
        }
    }
}

/// One `--type` value: a monitor message type and, optionally, its subtype (`trace:to-endpoint`
/// is type 4, subtype 0). Type 0 matches every type, as in Hubble's `EventTypeFilter`.
public struct EventTypeFilter: Sendable, Hashable {
    public var type: Int32
    /// nil: any subtype (Hubble's `match_sub_type` false).
    public var subType: Int32?

    public init(type: Int32, subType: Int32? = nil) {
        self.type = type
        self.subType = subType
    }

    public func matches(type t: Int32, subType s: Int32) -> Bool {
        (type == 0 || type == t) && (subType == nil || subType == s)
    }
}

extension Substring {
    /// Without leading and trailing spaces (Go's `strings.TrimSpace`, for ASCII whitespace).
    var trimmingSpaces: Substring {
        var s = self
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return s
    }
}

extension String {
    /// Runs `body` on the string's UTF-8 bytes, which Swift's own strings hold contiguously (or,
    /// up to 15 bytes, inline), so this neither copies to the heap nor allocates. Hubble compares
    /// bytes too, so two spellings of the same Unicode text are different names here as there.
    @inline(__always)
    func withUTF8Bytes<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        if let result = utf8.withContiguousStorageIfAvailable(body) { return result }
        var contiguous = self
        return contiguous.withUTF8(body)
    }
}

@inline(__always)
func bytesEqual(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
    guard a.count == b.count else { return false }
    for i in 0..<a.count where a[i] != b[i] { return false }
    return true
}

/// Where one of a filter's strings lies in a byte buffer. Filters keep their strings as spans of
/// one buffer rather than as strings or arrays of their own: reading those out of an array for
/// each flow would retain and release each of them.
struct ByteSpan: Sendable, Hashable {
    var start: Int32
    var count: Int32

    /// The span of `bytes` appended to `buffer`.
    init(appending bytes: some Collection<UInt8>, to buffer: inout [UInt8]) {
        start = Int32(buffer.count)
        count = Int32(bytes.count)
        buffer.append(contentsOf: bytes)
    }

    /// The same bytes after the buffer they are in was appended to another at `base`.
    func moved(by base: Int) -> ByteSpan {
        var s = self
        s.start += Int32(base)
        return s
    }
}

extension UnsafeBufferPointer<UInt8> {
    @inline(__always)
    subscript(span: ByteSpan) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: self[Int(span.start)..<Int(span.start) + Int(span.count)])
    }
}
