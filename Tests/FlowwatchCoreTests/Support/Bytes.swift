@testable import FlowwatchCore

/// Builds byte strings one annotated field per line:
///
///     bytes {
///         u8(4)        // type: trace
///         le16(149)    // source
///     }
@resultBuilder
enum ByteBuilder {
    static func buildExpression(_ part: [UInt8]) -> [UInt8] { part }
    static func buildBlock(_ parts: [UInt8]...) -> [UInt8] { parts.flatMap { $0 } }
    static func buildArray(_ parts: [[UInt8]]) -> [UInt8] { parts.flatMap { $0 } }
    static func buildOptional(_ part: [UInt8]?) -> [UInt8] { part ?? [] }
    static func buildEither(first part: [UInt8]) -> [UInt8] { part }
    static func buildEither(second part: [UInt8]) -> [UInt8] { part }
}

func bytes(@ByteBuilder _ build: () -> [UInt8]) -> [UInt8] { build() }

func u8(_ v: UInt8) -> [UInt8] { [v] }
func le16(_ v: UInt16) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
func le32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
func le64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
func be16(_ v: UInt16) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }
func be32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }
func zeros(_ n: Int) -> [UInt8] { [UInt8](repeating: 0, count: n) }
func raw(_ v: UInt8...) -> [UInt8] { v }
func ip4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> [UInt8] { [a, b, c, d] }
func mac(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, _ e: UInt8, _ f: UInt8) -> [UInt8] { [a, b, c, d, e, f] }
func ip6(_ groups: UInt16...) -> [UInt8] { groups.flatMap { be16($0) } }

/// A debug argument holding an IPv4 address the way the datapath stores a `__be32` in a
/// host-order u32 (its little-endian bytes are the address).
func dbgAddr(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> UInt32 {
    UInt32(a) | UInt32(b) << 8 | UInt32(c) << 16 | UInt32(d) << 24
}

func sample(_ bytes: [UInt8], cpu: UInt32 = 3, timestamp: UInt64 = 1_000) -> RawSample {
    RawSample(cpu: cpu, timestamp: timestamp, kind: .event(bytes))
}

/// Decodes through the public entry point, failing the test on error.
func decodeEvent(_ bytes: [UInt8], cpu: UInt32 = 3) throws -> MonitorEvent {
    try MonitorDecoder.decode(sample(bytes, cpu: cpu))
}

/// The decode error for bytes, or nil if they decode.
func decodeError(_ bytes: [UInt8]) -> DecodeError? {
    do throws(DecodeError) {
        _ = try MonitorDecoder.decode(sample(bytes))
        return nil
    } catch {
        return error
    }
}

/// The bytes as a perf sample carries them: the 4-byte size and the data are padded to a
/// multiple of 8, so 0–7 bytes of garbage follow the message.
func perfPadded(_ message: [UInt8], fill: UInt8 = 0xEE) -> [UInt8] {
    let padding = (8 - (4 + message.count) % 8) % 8
    return message + [UInt8](repeating: fill, count: padding)
}
