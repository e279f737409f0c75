#if canImport(Glibc)
import Glibc
#endif

/// Why a capture file could not be written. Every case names the file, so the message stands on
/// its own next to flow output.
public enum CaptureError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file exists and overwriting was not asked for. It is left untouched.
    case exists(path: String)
    /// Creating or opening the file failed.
    case open(path: String, SystemError)
    /// Writing (or closing, which reports delayed write errors) failed. The file ends at the last
    /// whole buffer written before the failure; see `CaptureWriter` for what that guarantees.
    case write(path: String, SystemError)
    /// Removing the oldest file of a ring (`maxFiles`) failed.
    case remove(path: String, SystemError)
    /// zlib refused to start or to compress; `message` is zlib's own.
    case compression(path: String, message: String)
    /// A rotation setting that cannot work (zero size, zero files, a ring without a rotation).
    case invalidRotation(String)
    /// The writer was closed before this call.
    case closed(path: String)

    public var description: String {
        switch self {
        case .exists(let path): "\(path) exists; refusing to overwrite it"
        case .open(let path, let error): "cannot create \(path): \(error)"
        case .write(let path, let error): "cannot write \(path): \(error)"
        case .remove(let path, let error): "cannot remove the oldest capture file \(path): \(error)"
        case .compression(let path, let message): "cannot compress \(path): zlib: \(message)"
        case .invalidRotation(let reason): "invalid capture file rotation: \(reason)"
        case .closed(let path): "\(path) is already closed"
        }
    }
}

/// An errno value, printed the way an operator can search for it: "No space left on device
/// (ENOSPC)".
public struct SystemError: Error, Sendable, Hashable, CustomStringConvertible {
    public let code: Int32

    public init(_ code: Int32) { self.code = code }

    /// The calling thread's current errno.
    static var current: SystemError { SystemError(errno) }

    public var description: String {
        // glibc's strerror returns static text for every errno it knows.
        let text = String(cString: strerror(code))
        guard let name = SystemError.names[code] else { return text }
        return "\(text) (\(name))"
    }

    /// The errors file creation and writing can meet; others print their text alone.
    private static let names: [Int32: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", EINTR: "EINTR", EIO: "EIO", EBADF: "EBADF",
        EAGAIN: "EAGAIN", ENOMEM: "ENOMEM", EACCES: "EACCES", EEXIST: "EEXIST", ENOTDIR: "ENOTDIR",
        EISDIR: "EISDIR", EINVAL: "EINVAL", ENFILE: "ENFILE", EMFILE: "EMFILE", ETXTBSY: "ETXTBSY",
        EFBIG: "EFBIG", ENOSPC: "ENOSPC", ESPIPE: "ESPIPE", EROFS: "EROFS", EPIPE: "EPIPE",
        ENAMETOOLONG: "ENAMETOOLONG", ELOOP: "ELOOP", EDQUOT: "EDQUOT", ESTALE: "ESTALE",
    ]
}
