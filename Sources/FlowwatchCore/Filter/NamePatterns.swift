/// A `--pod` value, `[namespace/]pod-name-prefix`: Hubble's `ParseNamespaceName` (a missing
/// namespace is `default`, only the first two `/`-separated parts count) and its match rule
/// (the namespace equal, the pod name starting with the prefix; an empty prefix selects the
/// whole namespace, which is how `--namespace` is expressed).
public struct PodPattern: Sendable, Hashable {
    /// The value as given, before a namespace was applied: `--namespace` prefixes only values
    /// without a `/`.
    public let text: String
    /// The namespace's bytes, then the prefix's.
    let bytes: [UInt8]
    let namespaceSpan: ByteSpan
    let prefixSpan: ByteSpan

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
        var bytes: [UInt8] = []
        namespaceSpan = ByteSpan(appending: namespace.utf8, to: &bytes)
        prefixSpan = ByteSpan(appending: prefix.utf8, to: &bytes)
        self.bytes = bytes
    }

    public var namespace: String { bytes.withUnsafeBufferPointer { String(decoding: $0[namespaceSpan], as: UTF8.self) } }
    public var prefix: String { bytes.withUnsafeBufferPointer { String(decoding: $0[prefixSpan], as: UTF8.self) } }

    /// Whether the value named a namespace (Hubble's `namespaceFromName`): `ns/pod` does, `pod`
    /// and `/pod` do not.
    var explicitNamespace: String? {
        guard let slash = text.firstIndex(of: "/"), slash != text.startIndex else { return nil }
        return String(text[..<slash])
    }

    public func matches(namespace: String, podName: String) -> Bool {
        bytes.withUnsafeBufferPointer {
            podMatches(namespace: $0[namespaceSpan], prefix: $0[prefixSpan], endpointNamespace: namespace, podName: podName)
        }
    }
}

/// Hubble's pod rule; endpoints without namespace and pod name (world, host) never match.
@inline(__always)
func podMatches(namespace: UnsafeBufferPointer<UInt8>, prefix: UnsafeBufferPointer<UInt8>,
                endpointNamespace: String, podName: String) -> Bool {
    if endpointNamespace.isEmpty && podName.isEmpty { return false }
    guard endpointNamespace.withUTF8Bytes({ bytesEqual($0, namespace) }) else { return false }
    if prefix.isEmpty { return true }
    return podName.withUTF8Bytes { $0.count >= prefix.count && bytesEqual(UnsafeBufferPointer(rebasing: $0[..<prefix.count]), prefix) }
}

/// A `--node-name` pattern as Hubble compiles it (`pkg/hubble/filters/patterns.go`):
/// `[cluster/]node`, each part lowercase letters, digits, `-`, `_`, `.` and `*` (any run of
/// `[-.0-9a-z]`); a missing or empty cluster part matches any cluster, an empty node part any
/// node name. A flow's node name without a cluster is in cluster `default`. Matching walks the
/// bytes; Hubble builds a regular expression.
public struct NodeNamePattern: Sendable, Hashable {
    public let text: String
    /// The parts' bytes, `*` included.
    let bytes: [UInt8]
    /// nil: any name (the part was empty or missing).
    let cluster: ByteSpan?
    let node: ByteSpan?

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
        var bytes: [UInt8] = []
        cluster = parts.count == 2 ? try Self.part(parts[0], into: &bytes) : nil
        node = try Self.part(parts[parts.count - 1], into: &bytes)
        self.bytes = bytes
    }

    /// An empty part matches any name; otherwise Hubble's `canonicalizeFQDNPattern` (trim
    /// spaces, one trailing dot, lowercase) and its checks.
    private static func part(_ raw: Substring, into bytes: inout [UInt8]) throws(Problem) -> ByteSpan? {
        guard !raw.isEmpty else { return nil }
        var s = raw.trimmingSpaces
        if s.hasSuffix(".") { s.removeLast() }
        guard !s.isEmpty else { throw .empty }
        if s.hasSuffix(".") { throw .multipleTrailingDots }
        var part: [UInt8] = []
        for c in s.lowercased() {
            guard let a = c.asciiValue, a == UInt8(ascii: "*") || isNameByte(a) else { throw .invalidCharacter(c) }
            part.append(a)
        }
        return ByteSpan(appending: part, to: &bytes)
    }

    public func matches(nodeName: String) -> Bool {
        bytes.withUnsafeBufferPointer { b in
            nodeNameMatches(cluster: cluster.map { b[$0] }, node: node.map { b[$0] }, nodeName: nodeName)
        }
    }
}

/// Hubble's node name rule: parts given as patterns (nil: any name); an empty node name never
/// matches.
func nodeNameMatches(cluster: UnsafeBufferPointer<UInt8>?, node: UnsafeBufferPointer<UInt8>?, nodeName: String) -> Bool {
    if nodeName.isEmpty { return false }
    return nodeName.withUTF8Bytes { name in
        guard let slash = name.firstIndex(of: UInt8(ascii: "/")) else {
            return defaultCluster.withUnsafeBufferPointer { partMatches(cluster, $0) } && partMatches(node, name)
        }
        return partMatches(cluster, UnsafeBufferPointer(rebasing: name[..<slash]))
            && partMatches(node, UnsafeBufferPointer(rebasing: name[(slash + 1)...]))
    }
}

/// Cilium's default cluster name, which Hubble puts before node names that lack one.
private let defaultCluster = Array("default".utf8)

private func partMatches(_ pattern: UnsafeBufferPointer<UInt8>?, _ name: UnsafeBufferPointer<UInt8>) -> Bool {
    if let pattern { return globMatch(pattern, name) }
    // Any name: dot-separated non-empty labels of [-0-9_a-z].
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
