/// Why a perf sample could not be decoded. Every case names the byte offset in the sample
/// where decoding stopped and what was expected there, so a bad recording or an ABI mismatch
/// can be found without a hex dump.
public enum DecodeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The sample ends inside a header: the part starting at `offset` needs `needed` bytes and
    /// the sample has `have` bytes from there on.
    case truncated(offset: Int, needed: Int, have: Int)
    /// Byte 0 is not a datapath message type flowwatch decodes.
    case unknownType(UInt8)
    /// The version byte at `offset` is not one this message type has.
    case unknownVersion(type: UInt8, version: UInt8, offset: Int)
    /// The downstream extension version at `offset` is not 0 and not one flowwatch knows, so
    /// the header length (and where the packet starts) is unknown.
    case unknownExtVersion(type: UInt8, extVersion: UInt8, offset: Int)
    /// The message declares `declared` packet bytes after its header at `offset`, but the
    /// sample holds `available` bytes there: fewer, or more than the 0–7 bytes of perf padding.
    case lengthMismatch(offset: Int, declared: Int, available: Int)

    /// The case without its values, for counting errors per kind.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case truncated, unknownType, unknownVersion, unknownExtVersion, lengthMismatch
    }

    /// Which kind of error this is.
    public var kind: Kind {
        switch self {
        case .truncated: .truncated
        case .unknownType: .unknownType
        case .unknownVersion: .unknownVersion
        case .unknownExtVersion: .unknownExtVersion
        case .lengthMismatch: .lengthMismatch
        }
    }

    public var description: String {
        switch self {
        case let .truncated(offset, needed, have):
            "truncated header: at offset \(offset) expected \(needed) bytes, have \(have)"
        case let .unknownType(type):
            "unknown message type \(type) at offset 0"
        case let .unknownVersion(type, version, offset):
            "unknown version \(version) of message type \(type) at offset \(offset)"
        case let .unknownExtVersion(type, extVersion, offset):
            "unknown ext_version \(extVersion) of message type \(type) at offset \(offset)"
        case let .lengthMismatch(offset, declared, available):
            "length mismatch: \(declared) packet bytes declared at offset \(offset), \(available) in the sample"
        }
    }
}
