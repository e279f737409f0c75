/// A fixed map from addresses to small integers, for lookups on every flow: open addressing
/// with linear probing and a multiplicative hash of the address bits. A `Dictionary` hashes
/// each key with SipHash; naming both sides of a flow through one cost about 730 instructions
/// of the flow's 3,500 (callgrind, replay to `-o compact`), this about a tenth of that.
///
/// Built once; at most half full, so a probe for a missing address ends at an empty slot soon.
struct AddressSlots: Sendable {
    private var keys: [IPAddress?]
    private var values: [Int]
    private let mask: Int

    /// `entries` in order: a later value for the same address replaces an earlier one, as
    /// assigning into a dictionary would.
    init(_ entries: [(IPAddress, Int)]) {
        var capacity = 8
        while capacity < entries.count * 2 { capacity *= 2 }
        keys = Array(repeating: nil, count: capacity)
        values = Array(repeating: 0, count: capacity)
        mask = capacity - 1
        for (address, value) in entries {
            var i = slot(address)
            while let key = keys[i], key != address { i = (i + 1) & mask }
            keys[i] = address
            values[i] = value
        }
    }

    subscript(_ address: IPAddress) -> Int? {
        var i = slot(address)
        while let key = keys[i] {
            if key == address { return values[i] }
            i = (i + 1) & mask
        }
        return nil
    }

    /// The top bits of a Fibonacci hash: addresses of one subnet differ in their low bits,
    /// which the multiplication spreads to the top.
    private func slot(_ address: IPAddress) -> Int {
        let bits: UInt64
        switch address {
        case .v4(let a): bits = UInt64(a.value)
        case .v6(let a): bits = a.low ^ (a.high &* 0xC2B2_AE3D_27D4_EB4F)
        }
        let hash = bits &* 0x9E37_79B9_7F4A_7C15
        return Int(truncatingIfNeeded: hash >> 32) & mask
    }
}
