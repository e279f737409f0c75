#if canImport(Glibc)
import Glibc
#endif

/// "No space left on device (ENOSPC)": the text and the name an operator searches for. Every
/// module's errors use it, so a failed call reads the same wherever it happened.
public func errnoText(_ code: Int32) -> String {
    let c = abs(code)
    return String(cString: strerror(c)) + (errnoNames[c].map { " (\($0))" } ?? " (errno \(c))")
}

private let errnoNames: [Int32: String] = [
    EPERM: "EPERM", ENOENT: "ENOENT", EINTR: "EINTR", EIO: "EIO", E2BIG: "E2BIG", EBADF: "EBADF",
    EAGAIN: "EAGAIN", ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT", EBUSY: "EBUSY",
    EEXIST: "EEXIST", ENODEV: "ENODEV", ENOTDIR: "ENOTDIR", EISDIR: "EISDIR", EINVAL: "EINVAL",
    ENFILE: "ENFILE", EMFILE: "EMFILE", EFBIG: "EFBIG", ENOSPC: "ENOSPC", EROFS: "EROFS", EPIPE: "EPIPE",
    ERANGE: "ERANGE", ENAMETOOLONG: "ENAMETOOLONG", ENOSYS: "ENOSYS", ELOOP: "ELOOP", ENXIO: "ENXIO",
    EOPNOTSUPP: "EOPNOTSUPP", ENOBUFS: "ENOBUFS", ETIMEDOUT: "ETIMEDOUT", EDQUOT: "EDQUOT",
]
