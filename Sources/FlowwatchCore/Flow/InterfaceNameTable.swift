/// Device names by ifindex, for output that names a flow's device per event.
public typealias InterfaceNameTable = IfindexTable<String>

/// Values by ifindex, looked up per event: the small ifindexes devices usually get are an array
/// index (no hashing), the rest a dictionary.
public struct IfindexTable<Value: Sendable>: Sendable {
    private var small: [Value?] = []
    private var large: [UInt32: Value] = [:]
    /// Below this, an ifindex is an array index.
    static var smallLimit: UInt32 { 4096 }

    public init() {}

    public subscript(ifindex: UInt32) -> Value? {
        get {
            if ifindex < Self.smallLimit {
                return Int(ifindex) < small.count ? small[Int(ifindex)] : nil
            }
            return large[ifindex]
        }
        set {
            guard ifindex < Self.smallLimit else {
                large[ifindex] = newValue
                return
            }
            let i = Int(ifindex)
            if i >= small.count {
                guard newValue != nil else { return }
                small.append(contentsOf: repeatElement(nil, count: i + 1 - small.count))
            }
            small[i] = newValue
        }
    }

    /// Every value, by ifindex.
    public var all: [UInt32: Value] {
        var out = large
        for (i, value) in small.enumerated() { if let value { out[UInt32(i)] = value } }
        return out
    }
}
