/// Small writers that append text to a byte buffer.
///
/// The formatters run once per event on the hot path, so they append ASCII straight into a
/// reusable `[UInt8]` instead of going through `String(format:)` or interpolation: no Foundation,
/// no intermediate strings for numbers and addresses.
extension Array where Element == UInt8 {
    @inline(__always)
    mutating func appendASCII(_ text: StaticString) {
        text.withUTF8Buffer { append(contentsOf: $0) }
    }

    @inline(__always)
    mutating func append(_ text: String) {
        // Native strings are contiguous UTF-8: one copy instead of a walk through the view.
        let copied: Void? = text.utf8.withContiguousStorageIfAvailable { append(contentsOf: $0) }
        if copied == nil { append(contentsOf: text.utf8) }
    }

    /// `%d`.
    mutating func appendDecimal<T: BinaryInteger>(_ value: T) {
        if value < 0 {
            append(UInt8(ascii: "-"))
            appendUnsigned(UInt64(value.magnitude), minimumDigits: 1)
        } else {
            appendUnsigned(UInt64(value), minimumDigits: 1)
        }
    }

    /// `%02d` and friends: zero-padded to `width` digits.
    mutating func appendDecimal<T: BinaryInteger>(_ value: T, width: Int) {
        appendUnsigned(UInt64(value.magnitude), minimumDigits: width)
    }

    /// Digits are written right to left into stack storage, then appended in one go.
    private mutating func appendUnsigned(_ value: UInt64, minimumDigits: Int) {
        var storage: (UInt64, UInt64, UInt64) = (0, 0, 0)  // room for 20 digits, no allocation
        Swift.withUnsafeMutableBytes(of: &storage) { digits in
            var start = digits.count
            var v = value
            repeat {
                start -= 1
                digits[start] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: v % 10)
                v /= 10
            } while v != 0
            while digits.count - start < minimumDigits && start > 0 {
                start -= 1
                digits[start] = UInt8(ascii: "0")
            }
            append(contentsOf: UnsafeRawBufferPointer(rebasing: digits[start...]).assumingMemoryBound(to: UInt8.self))
        }
    }

    /// `%x`: lowercase hex without a prefix.
    mutating func appendHex<T: BinaryInteger>(_ value: T) {
        let v = UInt64(truncatingIfNeeded: value)
        var shift = 60
        while shift > 0 && (v >> UInt64(shift)) & 0xF == 0 { shift -= 4 }
        while shift >= 0 {
            append(hexDigit(UInt8((v >> UInt64(shift)) & 0xF)))
            shift -= 4
        }
    }

    /// `%#x`: Go prints `0x0` for zero.
    mutating func appendHexPrefixed<T: BinaryInteger>(_ value: T) {
        appendASCII("0x")
        appendHex(value)
    }

    @inline(__always)
    mutating func appendHexByte(_ byte: UInt8) {
        append(hexDigit(byte >> 4))
        append(hexDigit(byte & 0xF))
    }

    mutating func appendMAC(_ mac: MACAddress) {
        var shift: UInt64 = 40
        while true {
            appendHexByte(UInt8(truncatingIfNeeded: mac.value >> shift))
            if shift == 0 { break }
            append(UInt8(ascii: ":"))
            shift -= 8
        }
    }

    mutating func appendIPv4(_ address: IPv4Address) {
        let o = address.octets
        appendDecimal(o.0)
        append(UInt8(ascii: "."))
        appendDecimal(o.1)
        append(UInt8(ascii: "."))
        appendDecimal(o.2)
        append(UInt8(ascii: "."))
        appendDecimal(o.3)
    }

    /// Go's `net.IP.String()`: RFC 5952 form (the first longest run of two or more zero groups
    /// becomes `::`), and IPv4-mapped addresses in dotted form.
    mutating func appendIPv6(_ address: IPv6Address) {
        if let v4 = address.mappedIPv4 {
            appendIPv4(v4)
            return
        }
        var runStart = -1
        var runEnd = -1
        var i = 0
        while i < 8 {
            var j = i
            while j < 8 && address.group(j) == 0 { j += 1 }
            if j > i && j - i > runEnd - runStart {
                runStart = i
                runEnd = j
                i = j
            } else {
                i += 1
            }
        }
        if runEnd - runStart <= 1 {
            runStart = -1
            runEnd = -1
        }
        i = 0
        while i < 8 {
            if i == runStart {
                appendASCII("::")
                i = runEnd
                continue
            }
            if i > 0 && i != runEnd { append(UInt8(ascii: ":")) }
            appendHex(address.group(i))
            i += 1
        }
    }

    mutating func appendIP(_ address: IPAddress) {
        switch address {
        case .v4(let a): appendIPv4(a)
        case .v6(let a): appendIPv6(a)
        }
    }

    /// Go's `net.JoinHostPort`: IPv6 hosts are bracketed.
    mutating func appendHostPort(_ address: IPAddress, _ port: UInt16) {
        switch address {
        case .v4(let a):
            appendIPv4(a)
        case .v6(let a):
            append(UInt8(ascii: "["))
            appendIPv6(a)
            append(UInt8(ascii: "]"))
        }
        append(UInt8(ascii: ":"))
        appendDecimal(port)
    }
}

@inline(__always)
private func hexDigit(_ nibble: UInt8) -> UInt8 {
    nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
}
