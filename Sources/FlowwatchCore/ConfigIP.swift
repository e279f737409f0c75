#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Parsing and prefix arithmetic for addresses in the config and in filters.
extension IPAddress {
    /// Parses dotted-quad IPv4 or any textual IPv6 form; nil if it is neither.
    public init?(_ text: some StringProtocol) {
        var v4 = in_addr()
        var v6 = in6_addr()
        let s = String(text)
        if inet_pton(AF_INET, s, &v4) == 1 {
            self = .v4(IPv4Address(value: UInt32(bigEndian: v4.s_addr)))
        } else if inet_pton(AF_INET6, s, &v6) == 1 {
            self = withUnsafeBytes(of: &v6) { .v6(IPv6Address(loading: $0, at: 0)) }
        } else {
            return nil
        }
    }

    public var isIPv4: Bool { if case .v4 = self { return true } else { return false } }

    /// Address bits: 32 or 128.
    public var bitWidth: Int { isIPv4 ? 32 : 128 }

    /// The address in network byte order, IPv4 in the first 4 of 16 bytes as the BPF maps hold it.
    public var paddedBytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        switch self {
        case .v4(let a):
            withUnsafeBytes(of: a.value.bigEndian) { for i in 0..<4 { out[i] = $0[i] } }
        case .v6(let a):
            withUnsafeBytes(of: a.high.bigEndian) { for i in 0..<8 { out[i] = $0[i] } }
            withUnsafeBytes(of: a.low.bigEndian) { for i in 0..<8 { out[8 + i] = $0[i] } }
        }
        return out
    }

    /// The address with every bit past `length` cleared.
    public func masked(to length: Int) -> IPAddress {
        func mask<T: FixedWidthInteger & UnsignedInteger>(_ v: T, _ bits: Int) -> T {
            bits <= 0 ? 0 : bits >= T.bitWidth ? v : v & ~(T.max >> T(bits))
        }
        switch self {
        case .v4(let a):
            return .v4(IPv4Address(value: mask(a.value, length)))
        case .v6(let a):
            return .v6(IPv6Address(high: mask(a.high, length), low: mask(a.low, length - 64)))
        }
    }
}

/// An address prefix such as 10.244.0.0/16 or fd00::/64.
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let length: Int

    /// Parses "addr/len", or a bare address as a host prefix; nil if malformed or the length is
    /// out of range.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let addr = IPAddress(parts[0]) else { return nil }
        if parts.count == 2 {
            guard let len = Int(parts[1]), len >= 0, len <= addr.bitWidth else { return nil }
            self.init(address: addr, length: len)
        } else {
            self.init(address: addr, length: addr.bitWidth)
        }
    }

    public init(address: IPAddress, length: Int) {
        self.address = address.masked(to: length)
        self.length = length
    }

    public func contains(_ ip: IPAddress) -> Bool {
        ip.isIPv4 == address.isIPv4 && ip.masked(to: length) == address
    }

    public var description: String { "\(address)/\(length)" }
}
