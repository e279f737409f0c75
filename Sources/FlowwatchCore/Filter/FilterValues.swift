/// The value sets one `FlowFilter` field holds, compiled when the filter is built so matching a
/// flow is integer compares and byte compares: no allocation, no string building, no hashing.
/// Every set is "any of these" (Hubble ORs the values of one field); an empty set constrains
/// nothing.

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

/// A `--pod` value, `[namespace/]pod-name-prefix`: Hubble's `ParseNamespaceName` (a missing
/// namespace is `default`, only the first two `/`-separated parts count) and its match rule
/// (the namespace equal, the pod name starting with the prefix; an empty prefix selects the
/// whole namespace, which is how `--namespace` is expressed).
public struct PodPattern: Sendable, Hashable {
    /// The value as given, before a namespace was applied: `--namespace` prefixes only values
    /// without a `/`.
    public let text: String
    public let namespace: String
    public let prefix: String
    private let namespaceBytes: [UInt8]
    private let prefixBytes: [UInt8]

    /// nil when the value names neither a namespace nor a pod ("" or "/").
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        let namespace: Substring
        let prefix: Substring
        if parts.count > 1 {
            (namespace, prefix) = (parts[0], parts[1])
        } else {
            (namespace, prefix) = (parts[0].isEmpty ? "" : "default", parts[0])
        }
        guard !namespace.isEmpty || !prefix.isEmpty else { return nil }
        self.text = text
        self.namespace = String(namespace)
        self.prefix = String(prefix)
        namespaceBytes = Array(namespace.utf8)
        prefixBytes = Array(prefix.utf8)
    }

    /// Whether the value named a namespace (Hubble's `namespaceFromName`): `ns/pod` does, `pod`
    /// and `/pod` do not.
    var explicitNamespace: String? {
        guard let slash = text.firstIndex(of: "/"), slash != text.startIndex else { return nil }
        return String(text[..<slash])
    }

    /// Endpoints without namespace and pod name (world, host) never match, as in Hubble.
    public func matches(namespace ns: String, podName: String) -> Bool {
        if ns.isEmpty && podName.isEmpty { return false }
        let nsMatches = ns.withUTF8Bytes { b in namespaceBytes.withUnsafeBufferPointer { bytesEqual(b, $0) } }
        guard nsMatches else { return false }
        if prefixBytes.isEmpty { return true }
        return podName.withUTF8Bytes { b in
            b.count >= prefixBytes.count
                && prefixBytes.withUnsafeBufferPointer { bytesEqual(UnsafeBufferPointer(rebasing: b[..<$0.count]), $0) }
        }
    }
}

/// A `--node-name` pattern as Hubble compiles it (`pkg/hubble/filters/patterns.go`):
/// `[cluster/]node`, each part lowercase letters, digits, `-`, `_`, `.` and `*` (any run of
/// `[-.0-9a-z]`); a missing or empty cluster part matches any cluster, an empty node part any
/// node name. A flow's node name without a cluster is in cluster `default`. Matching walks the
/// bytes; Hubble builds a regular expression.
public struct NodeNamePattern: Sendable, Hashable {
    public let text: String
    private let cluster: Part
    private let node: Part

    fileprivate enum Part: Sendable, Hashable {
        /// An empty part: any name of FQDN characters (`[-0-9_a-z]+(\.[-0-9_a-z]+)*`).
        case anyName
        /// Literal bytes with `*` wildcards.
        case glob([UInt8])
    }

    /// Why a pattern is invalid, in Hubble's words.
    public enum Problem: Error, Sendable, Hashable, CustomStringConvertible {
        case empty
        case tooManySlashes
        case multipleTrailingDots
        case invalidCharacter(Character)

        public var description: String {
            switch self {
            case .empty: "empty pattern"
            case .tooManySlashes: "too many slashes in pattern"
            case .multipleTrailingDots: "multiple trailing dots in pattern"
            case .invalidCharacter(let c): "'\(c)' is not allowed (letters, digits, '-', '_', '.' and '*')"
            }
        }
    }

    public init(_ text: String) throws(Problem) {
        guard !text.isEmpty else { throw .empty }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { throw .tooManySlashes }
        self.text = text
        cluster = parts.count == 2 ? try Self.part(parts[0]) : .anyName
        node = try Self.part(parts[parts.count - 1])
    }

    /// An empty part matches any name; otherwise Hubble's `canonicalizeFQDNPattern` (trim
    /// spaces, one trailing dot, lowercase) and its checks.
    private static func part(_ raw: Substring) throws(Problem) -> Part {
        guard !raw.isEmpty else { return .anyName }
        var s = raw.trimmingSpaces
        if s.hasSuffix(".") { s.removeLast() }
        guard !s.isEmpty else { throw .empty }
        if s.hasSuffix(".") { throw .multipleTrailingDots }
        var bytes: [UInt8] = []
        for c in s.lowercased() {
            guard let a = c.asciiValue, a == UInt8(ascii: "*") || isNameByte(a) else { throw .invalidCharacter(c) }
            bytes.append(a)
        }
        return .glob(bytes)
    }

    public func matches(nodeName: String) -> Bool {
        if nodeName.isEmpty { return false }
        return nodeName.withUTF8Bytes { name in
            guard let slash = name.firstIndex(of: UInt8(ascii: "/")) else {
                return Self.defaultCluster.withUnsafeBufferPointer { cluster.matches($0) } && node.matches(name)
            }
            return cluster.matches(UnsafeBufferPointer(rebasing: name[..<slash]))
                && node.matches(UnsafeBufferPointer(rebasing: name[(slash + 1)...]))
        }
    }

    /// Cilium's default cluster name, which Hubble puts before node names that lack one.
    private static let defaultCluster = Array("default".utf8)
}

extension NodeNamePattern.Part {
    func matches(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        switch self {
        case .anyName:
            // Dot-separated non-empty labels of [-0-9_a-z].
            guard !name.isEmpty, name.first != UInt8(ascii: "."), name.last != UInt8(ascii: ".") else { return false }
            var previousDot = false
            for b in name {
                if b == UInt8(ascii: ".") {
                    if previousDot { return false }
                    previousDot = true
                } else {
                    guard isNameByte(b) else { return false }
                    previousDot = false
                }
            }
            return true
        case .glob(let pattern):
            return pattern.withUnsafeBufferPointer { globMatch($0, name) }
        }
    }
}

/// `[-.0-9_a-z]`: the bytes a node name pattern may hold besides `*`.
private func isNameByte(_ b: UInt8) -> Bool {
    switch b {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
         UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."): true
    default: false
    }
}

/// Matches `name` against a pattern whose `*` stands for any run of `[-.0-9a-z]`, the whole
/// name. A star cannot cross `_` (nor any byte outside the pattern alphabet), so every `_` of
/// the name must meet a `_` of the pattern in order: the two are cut at their underscores and
/// the pieces matched pairwise with an ordinary star, which the classic greedy walk with one
/// backtrack point decides in linear time.
private func globMatch(_ pattern: UnsafeBufferPointer<UInt8>, _ name: UnsafeBufferPointer<UInt8>) -> Bool {
    let underscore = UInt8(ascii: "_")
    var p = 0
    var n = 0
    while true {
        let pEnd = pattern[p...].firstIndex(of: underscore) ?? pattern.count
        let nEnd = name[n...].firstIndex(of: underscore) ?? name.count
        let piece = UnsafeBufferPointer(rebasing: name[n..<nEnd])
        for b in piece where !isNameByte(b) { return false }
        guard starMatch(UnsafeBufferPointer(rebasing: pattern[p..<pEnd]), piece) else { return false }
        let patternDone = pEnd == pattern.count
        let nameDone = nEnd == name.count
        if patternDone || nameDone { return patternDone && nameDone }
        p = pEnd + 1
        n = nEnd + 1
    }
}

/// Whole-string match where `*` matches any bytes.
private func starMatch(_ pattern: UnsafeBufferPointer<UInt8>, _ name: UnsafeBufferPointer<UInt8>) -> Bool {
    let star = UInt8(ascii: "*")
    var p = 0
    var n = 0
    var starAt = -1
    var resumeAt = 0
    while n < name.count {
        if p < pattern.count && pattern[p] == star {
            starAt = p
            resumeAt = n
            p += 1
        } else if p < pattern.count && pattern[p] == name[n] {
            p += 1
            n += 1
        } else if starAt >= 0 {
            resumeAt += 1
            n = resumeAt
            p = starAt + 1
        } else {
            return false
        }
    }
    while p < pattern.count && pattern[p] == star { p += 1 }
    return p == pattern.count
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
    /// Runs `body` on the string's UTF-8 bytes. Native strings (everything flowwatch builds) are
    /// contiguous, so this neither copies nor allocates; Hubble compares bytes too, so two
    /// spellings of the same Unicode text are different names here as there.
    @inline(__always)
    func withUTF8Bytes<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        if let result = utf8.withContiguousStorageIfAvailable(body) { return result }
        return Array(utf8).withUnsafeBufferPointer(body)
    }
}

@inline(__always)
func bytesEqual(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
    guard a.count == b.count else { return false }
    for i in 0..<a.count where a[i] != b[i] { return false }
    return true
}
