/// Small writers that append text to a byte buffer.
///
/// The formatters run once per event on the hot path, so they append ASCII straight into a
/// reusable `[UInt8]` instead of going through `String(format:)` or interpolation: no Foundation,
/// no intermediate strings for numbers and addresses. The writers are generic over `ByteSink`,
/// so a formatter can also write a whole line through a `ByteCursor` into a `LineBuffer`,
/// without the array's uniqueness and capacity checks on every append.
protocol ByteSink {
    mutating func append(_ byte: UInt8)
    mutating func append(contentsOf bytes: UnsafeBufferPointer<UInt8>)
    /// The first `count` (at most 8) bytes of `word` in memory order (little-endian: the low
    /// byte first), for text built in a register.
    mutating func append(word: UInt64, count: Int)
}

/// Every two-digit decimal, in order: `digitPairs[2n..<2n+2]` is `n` with its leading zero.
private let digitPairs: StaticString = """
    00010203040506070809101112131415161718192021222324252627282930313233343536373839\
    40414243444546474849505152535455565758596061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899
    """

extension ByteSink {
    mutating func append(word: UInt64, count: Int) { appendBytes(of: word, count: count) }

    /// `append(word:count:)` through `append(contentsOf:)`.
    @inline(__always)
    fileprivate mutating func appendBytes(of word: UInt64, count: Int) {
        withUnsafeBytes(of: word.littleEndian) { append(contentsOf: UnsafeBufferPointer(rebasing: $0.bindMemory(to: UInt8.self)[..<count])) }
    }
}

extension Array: ByteSink where Element == UInt8 {}

/// Writes into raw memory of a fixed size, noting (instead of writing) anything that does not
/// fit. `LineBuffer` hands one out per line.
struct ByteCursor: ByteSink {
    private var next: UnsafeMutablePointer<UInt8>
    private let end: UnsafeMutablePointer<UInt8>
    private(set) var overflowed = false

    init(_ room: UnsafeMutableBufferPointer<UInt8>) {
        next = room.baseAddress!
        end = next + room.count
    }

    func written(in room: UnsafeMutableBufferPointer<UInt8>) -> Int { next - room.baseAddress! }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        guard next < end else {
            overflowed = true
            return
        }
        next.pointee = byte
        next += 1
    }

    @inline(__always)
    mutating func append(word: UInt64, count: Int) {
        if end - next >= 8 {
            // All eight stored, `count` kept: the rest is overwritten by what comes next.
            UnsafeMutableRawPointer(next).storeBytes(of: word.littleEndian, as: UInt64.self)
            next += count
        } else {
            appendBytes(of: word, count: count)
        }
    }

    @inline(__always)
    mutating func append(contentsOf bytes: UnsafeBufferPointer<UInt8>) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        let count = bytes.count
        guard count <= end - next else {
            overflowed = true
            return
        }
        // Keys, names and numbers are a few bytes: two overlapping loads and stores beat a call
        // to memcpy (which a byte loop would be turned back into).
        let from = UnsafeRawPointer(base)
        let to = UnsafeMutableRawPointer(next)
        if count >= 8 && count <= 16 {
            to.storeBytes(of: from.loadUnaligned(as: UInt64.self), as: UInt64.self)
            to.storeBytes(of: from.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self),
                          toByteOffset: count - 8, as: UInt64.self)
        } else if count >= 4 && count < 8 {
            to.storeBytes(of: from.loadUnaligned(as: UInt32.self), as: UInt32.self)
            to.storeBytes(of: from.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self),
                          toByteOffset: count - 4, as: UInt32.self)
        } else if count < 4 {
            next[0] = base[0]
            if count > 1 { next[count - 1] = base[count - 1] }
            if count > 2 { next[1] = base[1] }
        } else {
            next.update(from: base, count: count)
        }
        next += count
    }
}

/// Room for one line of output, written through a `ByteCursor` (no uniqueness or capacity check
/// per append) and then appended to the output in one copy. A line that does not fit is written
/// again into twice the room, which the buffer keeps.
struct LineBuffer {
    private var room: [UInt8]

    init(capacity: Int = 2048) {
        room = [UInt8](repeating: 0, count: capacity)
    }

    mutating func append(to output: inout [UInt8], _ body: (inout ByteCursor) -> Void) {
        while true {
            let written: Int? = room.withUnsafeMutableBufferPointer { room in
                var cursor = ByteCursor(room)
                body(&cursor)
                return cursor.overflowed ? nil : cursor.written(in: room)
            }
            if let written {
                room.withUnsafeBufferPointer { output.append(contentsOf: UnsafeBufferPointer(rebasing: $0[..<written])) }
                return
            }
            room = [UInt8](repeating: 0, count: room.count * 2)
        }
    }
}

extension ByteSink {
    @inline(__always)
    mutating func appendASCII(_ text: StaticString) {
        text.withUTF8Buffer { append(contentsOf: $0) }
    }

    @inline(__always)
    mutating func append(_ text: String) {
        // Native strings, small ones included, are contiguous UTF-8: one copy instead of a
        // walk through the view, and no copy of the string itself (which `withUTF8` needs).
        if text.utf8.withContiguousStorageIfAvailable({ append(contentsOf: $0) }) == nil {
            var text = text
            text.withUTF8 { append(contentsOf: $0) }
        }
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

    /// One and two digits (most fields, and every part of a timestamp) are appended directly; up
    /// to 16 as one or two words of digits built in registers (up to five, the most common, with
    /// fewer divisions); longer ones right to left, two at a time, into stack storage, then
    /// appended in one go.
    private mutating func appendUnsigned(_ value: UInt64, minimumDigits: Int) {
        if value < 100 && minimumDigits <= 2 {
            let tens = UInt8(truncatingIfNeeded: value / 10)
            if tens != 0 || minimumDigits == 2 { append(UInt8(ascii: "0") + tens) }
            append(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: value % 10))
            return
        }
        if value < 100_000 && minimumDigits <= 5 {
            // Ports, identities, milliseconds: three to five digits built in a register, two at
            // a time from a table of pairs, and appended in one store.
            let v = UInt32(truncatingIfNeeded: value)
            let width = max(minimumDigits, v >= 10_000 ? 5 : v >= 1_000 ? 4 : 3)
            let low = UInt64(Self.digitPair(Int(v % 100)))
            let word: UInt64
            switch width {
            case 3: word = UInt64(48 + v / 100) | low << 8
            case 4: word = UInt64(Self.digitPair(Int(v / 100))) | low << 16
            default: word = UInt64(48 + v / 10_000) | UInt64(Self.digitPair(Int(v / 100 % 100))) << 8 | low << 24
            }
            append(word: word, count: width)
            return
        }
        if value < 100_000_000 && minimumDigits <= 8 {
            // Up to eight digits the same way, all four pairs.
            let v = UInt32(truncatingIfNeeded: value)
            let width = max(minimumDigits, Self.digitCount(v))
            append(word: Self.digitsWord(v, width: width), count: width)
            return
        }
        if value < 10_000_000_000_000_000 && minimumDigits <= 16 {
            // Nanoseconds and the like: the high digits, then the low eight.
            let high = UInt32(truncatingIfNeeded: value / 100_000_000)
            let width = max(minimumDigits - 8, Self.digitCount(high))
            append(word: Self.digitsWord(high, width: width), count: width)
            append(word: Self.digitsWord(UInt32(truncatingIfNeeded: value % 100_000_000), width: 8), count: 8)
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in  // 20 digits fit any UInt64
            let base = digits.baseAddress!
            var start = 20
            var v = value
            while v >= 100 {
                let pair = v % 100
                v /= 100
                start -= 2
                base[start] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: pair / 10)
                base[start + 1] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: pair % 10)
            }
            if v >= 10 {
                start -= 2
                base[start] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: v / 10)
                base[start + 1] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: v % 10)
            } else {
                start -= 1
                base[start] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: v)
            }
            while 20 - start < minimumDigits && start > 0 {
                start -= 1
                base[start] = UInt8(ascii: "0")
            }
            append(contentsOf: UnsafeBufferPointer(start: base + start, count: 20 - start))
        }
    }

    /// How many digits `v` (below 10^8) has; 1 for 0.
    @inline(__always)
    private static func digitCount(_ v: UInt32) -> Int {
        v < 10_000 ? (v < 100 ? (v < 10 ? 1 : 2) : (v < 1_000 ? 3 : 4))
                   : (v < 1_000_000 ? (v < 100_000 ? 5 : 6) : (v < 10_000_000 ? 7 : 8))
    }

    /// The last `width` (1 to 8) decimal digits of `v` (below 10^8), zero-padded, as ASCII in
    /// memory order: the eight digits, the leading ones shifted out.
    @inline(__always)
    private static func digitsWord(_ v: UInt32, width: Int) -> UInt64 {
        let all = UInt64(digitPair(Int(v / 1_000_000))) | UInt64(digitPair(Int(v / 10_000 % 100))) << 16
            | UInt64(digitPair(Int(v / 100 % 100))) << 32 | UInt64(digitPair(Int(v % 100))) << 48
        return all >> UInt64(8 * (8 - width))
    }

    /// `00` to `99` as two ASCII digits, the tens in the low byte.
    @inline(__always)
    private static func digitPair(_ n: Int) -> UInt16 {
        UnsafeRawPointer(digitPairs.utf8Start).loadUnaligned(fromByteOffset: 2 * n, as: UInt16.self).littleEndian
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
        appendOctet(o.0)
        append(UInt8(ascii: "."))
        appendOctet(o.1)
        append(UInt8(ascii: "."))
        appendOctet(o.2)
        append(UInt8(ascii: "."))
        appendOctet(o.3)
    }

    @inline(__always)
    private mutating func appendOctet(_ value: UInt8) {
        if value >= 100 { append(UInt8(ascii: "0") + value / 100) }
        if value >= 10 { append(UInt8(ascii: "0") + value / 10 % 10) }
        append(UInt8(ascii: "0") + value % 10)
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
