#if canImport(Glibc)
import Glibc
#endif

/// Why the bytes of a recording cannot be replayed. Every case that concerns a place in the file
/// names its byte offset (from the start of the file), so a bad recording can be inspected with
/// `xxd -s OFFSET` instead of guessed at.
///
/// A cut-off tail is not an error (see `RecordingTruncation`): a recorder that was killed leaves
/// one, and everything before it replays.
public enum RecordingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The first bytes are not the recording magic.
    case notARecording
    /// The major version at offset 8 is not one this flowwatch reads (or the file is corrupt there).
    case unsupportedVersion(major: UInt16, minor: UInt16)
    /// The input ended after `have` bytes, before the header's `needed` bytes were complete.
    case truncatedHeader(have: Int, needed: Int)
    /// The header's checksums are right but its fields are not what this version writes: a
    /// missing, repeated or wrongly sized field at `offset`, or a field that is not UTF-8.
    case malformedHeader(offset: Int, reason: String)
    /// A CRC-32 stored in the file does not match the bytes it covers. `offset` is where the
    /// covered part starts (the record's first byte, for either of a record's checksums).
    case checksumMismatch(offset: Int, part: ChecksummedPart, stored: UInt32, computed: UInt32)
    /// A record whose header checksum is right has a kind this version does not know.
    case unknownRecordKind(offset: Int, kind: UInt8)
    /// A record whose header checksum is right declares a payload length its kind cannot have.
    case impossibleRecordLength(offset: Int, kind: UInt8, length: UInt32)
    /// A record whose header checksum is right has bits set in its reserved bytes (5–7).
    case reservedBitsSet(offset: Int)

    /// The parts of a recording with their own checksum.
    public enum ChecksummedPart: String, Sendable, Hashable {
        case preamble = "header preamble"
        case headerFields = "header fields"
        case recordHeader = "record header"
        case recordPayload = "record payload"
    }

    public var description: String {
        switch self {
        case .notARecording:
            "not a flowwatch recording: the file does not start with the recording magic 89 46 57 52 0d 0a 1a 0a"
        case let .unsupportedVersion(major, minor):
            "unsupported recording format version \(major).\(minor) at offset 8: this flowwatch reads version "
                + "\(RecordingVersion.current.major).x (a newer flowwatch wrote it, or the file is corrupt)"
        case let .truncatedHeader(have, needed):
            "truncated header: the recording ends after \(have) bytes, its header needs \(needed)"
        case let .malformedHeader(offset, reason):
            "malformed header at offset \(offset): \(reason)"
        case let .checksumMismatch(offset, part, stored, computed):
            "corrupt \(part.rawValue) at offset \(offset): stored CRC-32 \(hex(stored)), the bytes give \(hex(computed))"
        case let .unknownRecordKind(offset, kind):
            "unknown record kind \(kind) at offset \(offset) (this flowwatch knows 1 = sample, 2 = lost, 3 = interface)"
        case let .impossibleRecordLength(offset, kind, length):
            if kind == RecordingFormat.Kind.lost.rawValue {
                "impossible record length \(length) at offset \(offset): a lost record has 8 payload bytes"
            } else if kind == RecordingFormat.Kind.interface.rawValue {
                "impossible record length \(length) at offset \(offset): an interface record has 5 to 19 payload bytes"
            } else {
                "impossible record length \(length) at offset \(offset): a sample has at most "
                    + "\(RecordingFormat.maxPayloadLength) payload bytes"
            }
        case let .reservedBitsSet(offset):
            "invalid record at offset \(offset): reserved bytes 5 to 7 are not zero"
        }
    }
}

/// The tail of a recording that ended inside a record, as it does when the recorder was killed:
/// replay shows every whole record and then says how much it ignored.
public struct RecordingTruncation: Sendable, Hashable, CustomStringConvertible {
    /// Where the incomplete record starts: the end of the last whole record (or of the header).
    public var offset: Int
    /// Bytes from `offset` to the end of the input, all ignored.
    public var bytes: Int

    public init(offset: Int, bytes: Int) {
        self.offset = offset
        self.bytes = bytes
    }

    public var description: String {
        "recording was cut: \(bytes) bytes after the last whole record, from offset \(offset), were ignored"
    }
}

/// A recording file that cannot be written or read, naming the file.
public struct RecordingFileError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Problem: Sendable, Hashable {
        /// The file exists and the writer was not asked to overwrite it.
        case exists
        /// A system call failed: `operation` is its name (open, read, fsync, close…).
        case system(operation: String, errno: Int32)
        /// Writing failed. The file keeps `recordsInFile` whole records (the writer cut it back to
        /// the last whole record where it could); `recordsNotWritten` were accepted but are lost.
        case writeFailed(errno: Int32, recordsInFile: UInt64, recordsNotWritten: UInt64)
        /// Not written: an earlier write failed with `errno` and the writer stopped.
        case stopped(errno: Int32)
        /// Not written: the writer was closed.
        case closed
        /// Not written: the sample is over the record size limit.
        case sampleTooLarge(bytes: Int)
        /// The header (mostly the config text) is over the header size limit.
        case headerTooLarge(bytes: Int)
        /// The file's bytes are not a replayable recording.
        case format(RecordingError)
    }

    public var path: String
    public var problem: Problem

    public init(path: String, problem: Problem) {
        self.path = path
        self.problem = problem
    }

    public var description: String {
        let what: String
        switch problem {
        case .exists:
            what = "already exists; a recording never replaces a file unless told to overwrite it"
        case let .system(operation, errno):
            what = "\(operation) failed: \(errnoText(errno))"
        case let .writeFailed(errno, kept, lost):
            what = "write failed: \(errnoText(errno)); the file keeps the first \(kept) records, "
                + "\(lost) more were not written"
        case let .stopped(errno):
            what = "not recorded: recording stopped after a write error (\(errnoText(errno)))"
        case .closed:
            what = "not recorded: the recording is closed"
        case let .sampleTooLarge(bytes):
            what = "not recorded: a \(bytes)-byte sample is over the \(RecordingFormat.maxPayloadLength)-byte record limit"
        case let .headerTooLarge(bytes):
            what = "the recording header would have \(bytes) bytes of fields, over the "
                + "\(RecordingFormat.maxFieldsLength)-byte limit (is the config file that large?)"
        case let .format(error):
            what = error.description
        }
        return "\(path): \(what)"
    }
}

private func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
}
