/// A Kubernetes label selector over Cilium labels, as Hubble's `--label` reads it
/// (`pkg/hubble/filters/labels.go`, `labelparser.go`): comma-separated requirements, all of which
/// must hold —
///
/// | requirement                    | holds when the endpoint has a label with that key…     |
/// |--------------------------------|--------------------------------------------------------|
/// | `key`                          | at all                                                 |
/// | `!key`                         | not at all                                             |
/// | `key=v`, `key==v`, `key in (v,w)` | whose value is one of these                         |
/// | `key!=v`, `key notin (v,w)`    | whose value is none of these, or no such label at all  |
/// | `key>n`, `key<n`               | whose value is an integer above / below n              |
///
/// A key may carry a Cilium source, `k8s:app`; without one it means any source, so `app=x`
/// selects the label `k8s:app=x` (Hubble rewrites bare keys to `any.key`). When several labels
/// have the key (several sources), the first one's value counts, as in Cilium's
/// `LabelArray.Get`. Endpoint labels are read as Cilium's `ParseLabel` does: the source up to
/// the first `:` (`$` is short for `reserved:`), then `key=value`.
///
/// Values are not checked against Kubernetes' label value syntax: Cilium labels hold values
/// Kubernetes would refuse (`cidr:` keys, colons), and a selector for them should still work.
/// Cilium's prefix-aware matching of `cidr:` keys is not reproduced: they compare as text.
public struct LabelSelector: Sendable, Hashable, CustomStringConvertible {
    /// The selector as given.
    public let text: String
    /// The sources, keys and values, one after another.
    let bytes: [UInt8]
    let requirements: [LabelRequirement]
    /// The values of `in` and `notin` requirements (`=` and `!=` have one).
    let values: [ByteSpan]

    /// Parses `text`; the error says what was expected where.
    public init(_ text: String) throws(LabelSelectorError) {
        self.text = text
        var parser = Parser(text)
        var bytes: [UInt8] = []
        var values: [ByteSpan] = []
        requirements = try parser.selector().map { r in
            let first = Int32(values.count)
            for v in r.values { values.append(ByteSpan(appending: v, to: &bytes)) }
            return LabelRequirement(source: r.source.map { ByteSpan(appending: $0, to: &bytes) },
                                    key: ByteSpan(appending: r.key, to: &bytes), operation: r.operation,
                                    values: first..<Int32(values.count))
        }
        self.bytes = bytes
        self.values = values
    }

    public var description: String { text }

    /// Whether the endpoint with these labels (`source:key=value`) is selected.
    public func matches(_ labels: [String]) -> Bool {
        requirements.withUnsafeBufferPointer { r in
            values.withUnsafeBufferPointer { v in
                bytes.withUnsafeBufferPointer { selectorMatches(r, values: v, bytes: $0, labels: labels) }
            }
        }
    }
}

/// Why a label selector did not parse.
public struct LabelSelectorError: Error, Sendable, Hashable, CustomStringConvertible {
    public let description: String
}

/// One requirement of a selector, its strings as spans of the selector's bytes.
struct LabelRequirement: Sendable, Hashable {
    /// nil: any source.
    var source: ByteSpan?
    var key: ByteSpan
    var operation: Operation
    /// Indices of its values in the selector's value spans.
    var values: Range<Int32>

    enum Operation: Sendable, Hashable {
        case exists, doesNotExist, `in`, notIn
        case greaterThan(Int64), lessThan(Int64)
    }

    /// The same requirement after its selector's bytes and values were appended to others at
    /// these positions.
    func moved(bytes: Int, values valueBase: Int) -> LabelRequirement {
        var r = self
        r.source = source?.moved(by: bytes)
        r.key = key.moved(by: bytes)
        r.values = values.lowerBound + Int32(valueBase)..<values.upperBound + Int32(valueBase)
        return r
    }
}

/// Whether every requirement holds for `labels`; shared by `LabelSelector` and the compiled
/// filters, which keep the requirements of all their selectors in one place.
func selectorMatches(_ requirements: UnsafeBufferPointer<LabelRequirement>, values: UnsafeBufferPointer<ByteSpan>,
                     bytes: UnsafeBufferPointer<UInt8>, labels: [String]) -> Bool {
    for r in requirements where !r.matches(labels, values: values, bytes: bytes) { return false }
    return true
}

extension LabelRequirement {
    func matches(_ labels: [String], values: UnsafeBufferPointer<ByteSpan>, bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        func isValue(_ v: UnsafeBufferPointer<UInt8>) -> Bool {
            for i in Int(self.values.lowerBound)..<Int(self.values.upperBound) where bytesEqual(v, bytes[values[i]]) {
                return true
            }
            return false
        }
        switch operation {
        case .exists:
            return withValue(in: labels, bytes) { _ in true } ?? false
        case .doesNotExist:
            return withValue(in: labels, bytes) { _ in true } == nil
        case .in:
            return withValue(in: labels, bytes) { isValue($0) } ?? false
        case .notIn:
            return withValue(in: labels, bytes) { !isValue($0) } ?? true
        case .greaterThan(let bound):
            return withValue(in: labels, bytes) { v in integer(v).map { $0 > bound } ?? false } ?? false
        case .lessThan(let bound):
            return withValue(in: labels, bytes) { v in integer(v).map { $0 < bound } ?? false } ?? false
        }
    }

    /// `body` applied to the value of the first label with this requirement's source and key;
    /// nil if there is none. The labels are read where they lie (see `ByteSpan`).
    private func withValue(in labels: [String], _ bytes: UnsafeBufferPointer<UInt8>,
                           _ body: (UnsafeBufferPointer<UInt8>) -> Bool) -> Bool? {
        labels.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return nil }
            for i in 0..<buffer.count {
                let result: Bool? = base[i].withUTF8Bytes { label in
                    let parsed = CiliumLabel(label)
                    if let source, !bytesEqual(parsed.source, bytes[source]) { return nil }
                    guard bytesEqual(parsed.key, bytes[key]) else { return nil }
                    return body(parsed.value)
                }
                if let result { return result }
            }
            return nil
        }
    }

    /// The value as a decimal integer with an optional sign (Go's `strconv.ParseInt(v, 10, 64)`,
    /// which Kubernetes uses for `>` and `<`), nil if it is not one or overflows.
    private func integer(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        var digits = bytes[...]
        let negative = digits.first == UInt8(ascii: "-")
        if negative || digits.first == UInt8(ascii: "+") { digits = digits.dropFirst() }
        guard !digits.isEmpty else { return nil }
        var magnitude: UInt64 = 0
        for b in digits {
            guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") else { return nil }
            let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(b - UInt8(ascii: "0")))
            guard !o1, !o2 else { return nil }
            magnitude = sum
        }
        if negative {
            return magnitude <= UInt64(Int64.max) + 1 ? Int64(truncatingIfNeeded: 0 &- magnitude) : nil
        }
        return magnitude <= UInt64(Int64.max) ? Int64(magnitude) : nil
    }
}

/// The parts of one `source:key=value` label, as slices of its bytes.
private struct CiliumLabel {
    var source: UnsafeBufferPointer<UInt8>
    var key: UnsafeBufferPointer<UInt8>
    var value: UnsafeBufferPointer<UInt8>

    private static let reserved: StaticString = "reserved"

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        var rest = bytes[...]
        var sourceIsReserved = false
        if bytes.first == UInt8(ascii: "$") {
            source = UnsafeBufferPointer(start: Self.reserved.utf8Start, count: Self.reserved.utf8CodeUnitCount)
            sourceIsReserved = true
            rest = bytes[1...]
        } else if let colon = bytes.firstIndex(of: UInt8(ascii: ":")) {
            source = UnsafeBufferPointer(rebasing: bytes[..<colon])
            sourceIsReserved = bytesEqual(source, UnsafeBufferPointer(start: Self.reserved.utf8Start,
                                                                      count: Self.reserved.utf8CodeUnitCount))
            rest = bytes[(colon + 1)...]
        } else {
            source = UnsafeBufferPointer(rebasing: bytes[0..<0])
        }
        if let equals = rest.firstIndex(of: UInt8(ascii: "=")) {
            if equals == rest.startIndex && sourceIsReserved {
                // `reserved:=host` is the key `host` (Cilium's parseLabel).
                key = UnsafeBufferPointer(rebasing: bytes[(equals + 1)...])
                value = UnsafeBufferPointer(rebasing: bytes[bytes.endIndex...])
            } else {
                key = UnsafeBufferPointer(rebasing: bytes[rest.startIndex..<equals])
                value = UnsafeBufferPointer(rebasing: bytes[(equals + 1)...])
            }
        } else {
            key = UnsafeBufferPointer(rebasing: rest)
            value = UnsafeBufferPointer(rebasing: bytes[bytes.endIndex...])
        }
    }
}

// MARK: - Parsing

/// The Kubernetes selector grammar (`k8s.io/apimachinery/pkg/labels.Parse`):
///
///     selector    := requirement ("," requirement)*
///     requirement := "!" KEY | KEY [ ("=" | "==" | "!=") VALUE | ("in" | "notin") "(" VALUE ("," VALUE)* ")"
///                                 | (">" | "<") INTEGER ]
///
/// Identifiers run until whitespace or one of `=!(),<>`; an empty value is allowed (`key=`,
/// `key in ()`, `(a,,b)`), as there. An empty selector selects everything.
private struct Parser {
    private enum Token: Equatable {
        case identifier(Substring)
        case not, equals, doubleEquals, notEquals, open, close, comma, greater, less, end

        var text: String {
            switch self {
            case .identifier(let s): "'\(s)'"
            case .not: "'!'"
            case .equals: "'='"
            case .doubleEquals: "'=='"
            case .notEquals: "'!='"
            case .open: "'('"
            case .close: "')'"
            case .comma: "','"
            case .greater: "'>'"
            case .less: "'<'"
            case .end: "the end"
            }
        }
    }

    private let text: String
    private var index: String.Index

    init(_ text: String) {
        self.text = text
        index = text.startIndex
    }

    /// A requirement as read, before its strings go into the selector's bytes.
    struct Requirement {
        var source: [UInt8]?
        var key: [UInt8]
        var operation: LabelRequirement.Operation
        var values: [[UInt8]]
    }

    mutating func selector() throws(LabelSelectorError) -> [Requirement] {
        var requirements: [Requirement] = []
        if peek() == .end { return requirements }
        while true {
            requirements.append(try requirement())
            switch next() {
            case .comma: continue
            case .end: return requirements
            case let t: throw error("expected ',' or the end after a requirement, found \(t.text)")
            }
        }
    }

    private mutating func requirement() throws(LabelSelectorError) -> Requirement {
        if peek() == .not {
            _ = next()
            let (source, key) = try self.key()
            return .init(source: source, key: key, operation: .doesNotExist, values: [])
        }
        let (source, key) = try self.key()
        let operation: LabelRequirement.Operation
        var values: [[UInt8]] = []
        switch peek() {
        case .comma, .end:
            operation = .exists
        case .equals, .doubleEquals, .notEquals:
            operation = next() == .notEquals ? .notIn : .in
            values = [try exactValue()]
        case .identifier("in"), .identifier("notin"):
            operation = next() == .identifier("in") ? .in : .notIn
            values = try valueSet()
        case .greater, .less:
            let greater = next() == .greater
            guard case .identifier(let number) = next(), let bound = Int64(number) else {
                throw error("expected an integer after '\(greater ? ">" : "<")'")
            }
            operation = greater ? .greaterThan(bound) : .lessThan(bound)
        case let t:
            throw error("expected '=', '==', '!=', 'in', 'notin', '>', '<', ',' or the end after a key, found \(t.text)")
        }
        return .init(source: source, key: key, operation: operation, values: values)
    }

    /// A key, split into its Cilium source (before the first `:`) and name.
    private mutating func key() throws(LabelSelectorError) -> ([UInt8]?, [UInt8]) {
        guard case .identifier(let key) = next() else { throw error("expected a label key") }
        guard let colon = key.firstIndex(of: ":") else { return (nil, Array(key.utf8)) }
        let name = key[key.index(after: colon)...]
        guard !name.isEmpty else { throw error("expected a key after the source in '\(key)'") }
        // An empty source is no source, as Cilium's parseSelectLabel has it.
        return (colon == key.startIndex ? nil : Array(key[..<colon].utf8), Array(name.utf8))
    }

    private mutating func exactValue() throws(LabelSelectorError) -> [UInt8] {
        switch peek() {
        case .comma, .end: return []
        case .identifier(let v):
            _ = next()
            return Array(v.utf8)
        case let t: throw error("expected a value, found \(t.text)")
        }
    }

    private mutating func valueSet() throws(LabelSelectorError) -> [[UInt8]] {
        guard next() == .open else { throw error("expected '(' after 'in' or 'notin'") }
        var values: [[UInt8]] = []
        var current: [UInt8]?
        while true {
            switch next() {
            case .identifier(let v) where current == nil:
                current = Array(v.utf8)
            case .comma:
                values.append(current ?? [])
                current = nil
            case .close:
                values.append(current ?? [])
                return values
            case let t: throw error("expected a value, ',' or ')' in the value set, found \(t.text)")
            }
        }
    }

    private func error(_ message: String) -> LabelSelectorError {
        LabelSelectorError(description: message)
    }

    private func peek() -> Token {
        var copy = self
        return copy.next()
    }

    private mutating func next() -> Token {
        while index < text.endIndex, text[index].isWhitespace { index = text.index(after: index) }
        guard index < text.endIndex else { return .end }
        let c = text[index]
        let after = text.index(after: index)
        let followedByEquals = after < text.endIndex && text[after] == "="
        switch c {
        case "!":
            index = followedByEquals ? text.index(after: after) : after
            return followedByEquals ? .notEquals : .not
        case "=":
            index = followedByEquals ? text.index(after: after) : after
            return followedByEquals ? .doubleEquals : .equals
        case "(", ")", ",", ">", "<":
            index = after
            return switch c { case "(": .open; case ")": .close; case ",": .comma; case ">": .greater; default: .less }
        default:
            let start = index
            while index < text.endIndex, !text[index].isWhitespace, !"=!(),<>".contains(text[index]) {
                index = text.index(after: index)
            }
            return .identifier(text[start..<index])
        }
    }
}
