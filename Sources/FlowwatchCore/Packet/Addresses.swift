/// A 48-bit Ethernet address. Printed as gopacket and Go's `net.HardwareAddr` do:
/// lowercase hex pairs joined by colons.
public struct MACAddress: Sendable, Hashable, CustomStringConvertible {
    /// The six octets in wire order, packed into the low 48 bits (first octet highest).
    public var value: UInt64

    public init(_ octets: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)) {
        value = UInt64(octets.0) << 40 | UInt64(octets.1) << 32 | UInt64(octets.2) << 24
            | UInt64(octets.3) << 16 | UInt64(octets.4) << 8 | UInt64(octets.5)
    }

    init(loading bytes: UnsafeRawBufferPointer, at offset: Int) {
        var v: UInt64 = 0
        for i in 0..<6 { v = v << 8 | UInt64(bytes[offset + i]) }
        value = v
    }

    public var description: String {
        var out: [UInt8] = []
        out.appendMAC(self)
        return String(decoding: out, as: UTF8.self)
    }
}

/// An IPv4 address, kept in network order so comparisons and prefixes work on the value.
public struct IPv4Address: Sendable, Hashable, CustomStringConvertible {
    /// The address as a big-endian number: 10.0.0.1 is 0x0A00_0001.
    public var value: UInt32

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    public init(value: UInt32) { self.value = value }

    /// The four bytes in wire order.
    public var octets: (UInt8, UInt8, UInt8, UInt8) {
        (UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16),
         UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value))
    }

    public var description: String {
        var out: [UInt8] = []
        out.appendIPv4(self)
        return String(decoding: out, as: UTF8.self)
    }
}

/// An IPv6 address as two big-endian 64-bit halves.
public struct IPv6Address: Sendable, Hashable, CustomStringConvertible {
    /// Bytes 0–7 as a big-endian number.
    public var high: UInt64
    /// Bytes 8–15 as a big-endian number.
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Eight 16-bit groups, as written in text: `IPv6Address(0xfd00, 0, 0, 0, 0, 0, 0, 1)`.
    public init(_ g0: UInt16, _ g1: UInt16, _ g2: UInt16, _ g3: UInt16,
                _ g4: UInt16, _ g5: UInt16, _ g6: UInt16, _ g7: UInt16) {
        high = UInt64(g0) << 48 | UInt64(g1) << 32 | UInt64(g2) << 16 | UInt64(g3)
        low = UInt64(g4) << 48 | UInt64(g5) << 32 | UInt64(g6) << 16 | UInt64(g7)
    }

    init(loading bytes: UnsafeRawBufferPointer, at offset: Int) {
        high = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        low = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
    }

    /// Group `i` (0...7) of the address.
    public func group(_ i: Int) -> UInt16 {
        let half = i < 4 ? high : low
        return UInt16(truncatingIfNeeded: half >> (48 - 16 * UInt64(i & 3)))
    }

    /// The embedded IPv4 address of an IPv4-mapped address (`::ffff:a.b.c.d`), which Go prints
    /// in dotted form.
    public var mappedIPv4: IPv4Address? {
        guard high == 0, low >> 32 == 0xFFFF else { return nil }
        return IPv4Address(value: UInt32(truncatingIfNeeded: low))
    }

    public var description: String {
        var out: [UInt8] = []
        out.appendIPv6(self)
        return String(decoding: out, as: UTF8.self)
    }
}

/// An address of either family, as packets and trace messages carry them.
public enum IPAddress: Sendable, Hashable, CustomStringConvertible {
    case v4(IPv4Address)
    case v6(IPv6Address)

    public var description: String {
        switch self {
        case .v4(let a): a.description
        case .v6(let a): a.description
        }
    }
}
