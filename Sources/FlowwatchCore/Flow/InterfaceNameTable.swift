/// Device names by ifindex, for output that names a flow's device per event: the small
/// ifindexes devices usually get are an array index (no hashing), the rest a dictionary.
public struct InterfaceNameTable: Sendable {
    private var small: [String?] = []
    private var large: [UInt32: String] = [:]
    /// Below this, an ifindex is an array index.
    static let smallLimit: UInt32 = 4096

    public init() {}

    public subscript(ifindex: UInt32) -> String? {
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

    /// Every name, by ifindex.
    public var all: [UInt32: String] {
        var out = large
        for (i, name) in small.enumerated() { if let name { out[UInt32(i)] = name } }
        return out
    }
}
