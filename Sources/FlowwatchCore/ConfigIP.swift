#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address held by value (no allocation), as config, maps and flows use it.
public enum IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The address as a big-endian number: 10.0.0.1 is 0x0A00_0001.
    case v4(UInt32)
    /// The address as two big-endian halves.
    case v6(hi: UInt64, lo: UInt64)

    /// Parses dotted-quad IPv4 or any textual IPv6 form; nil if it is neither.
    public init?(_ text: some StringProtocol) {
        var v4 = in_addr()
        var v6 = in6_addr()
        let s = String(text)
        if inet_pton(AF_INET, s, &v4) == 1 {
            self = .v4(UInt32(bigEndian: v4.s_addr))
        } else if inet_pton(AF_INET6, s, &v6) == 1 {
            self = withUnsafeBytes(of: &v6) { IPAddress(ipv6Bytes: $0) }
        } else {
            return nil
        }
    }

    /// Reads 16 network-order bytes.
    public init(ipv6Bytes b: UnsafeRawBufferPointer) {
        precondition(b.count >= 16)
        self = .v6(hi: UInt64(bigEndian: b.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                   lo: UInt64(bigEndian: b.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
    }

    public var isIPv4: Bool { if case .v4 = self { return true } else { return false } }

    /// Address bits: 32 or 128.
    public var bitWidth: Int { isIPv4 ? 32 : 128 }

    /// The address in network byte order, IPv4 in the first 4 of 16 bytes as the BPF maps hold it.
    public var paddedBytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        switch self {
        case .v4(let a):
            withUnsafeBytes(of: a.bigEndian) { for i in 0..<4 { out[i] = $0[i] } }
        case .v6(let hi, let lo):
            withUnsafeBytes(of: hi.bigEndian) { for i in 0..<8 { out[i] = $0[i] } }
            withUnsafeBytes(of: lo.bigEndian) { for i in 0..<8 { out[8 + i] = $0[i] } }
        }
        return out
    }

    public var description: String {
        switch self {
        case .v4(let a):
            return "\(a >> 24).\(a >> 16 & 0xff).\(a >> 8 & 0xff).\(a & 0xff)"
        case .v6(let hi, let lo):
            var addr = in6_addr()
            withUnsafeMutableBytes(of: &addr) { raw in
                withUnsafeBytes(of: hi.bigEndian) { raw.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: 8) }
                withUnsafeBytes(of: lo.bigEndian) { (raw.baseAddress! + 8).copyMemory(from: $0.baseAddress!, byteCount: 8) }
            }
            var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            inet_ntop(AF_INET6, &addr, &buf, socklen_t(buf.count))
            return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// The address with every bit past `length` cleared.
    public func masked(to length: Int) -> IPAddress {
        switch self {
        case .v4(let a):
            return .v4(length <= 0 ? 0 : length >= 32 ? a : a & ~(UInt32.max >> UInt32(length)))
        case .v6(let hi, let lo):
            func mask(_ v: UInt64, _ bits: Int) -> UInt64 {
                bits <= 0 ? 0 : bits >= 64 ? v : v & ~(UInt64.max >> UInt64(bits))
            }
            return .v6(hi: mask(hi, length), lo: mask(lo, length - 64))
        }
    }

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        switch (a, b) {
        case (.v4(let x), .v4(let y)): return x < y
        case (.v4, .v6): return true
        case (.v6, .v4): return false
        case (.v6(let h1, let l1), .v6(let h2, let l2)): return (h1, l1) < (h2, l2)
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
