import FlowwatchCore
#if canImport(Glibc)
import Glibc
#endif

/// Why the datapath could not do what was asked, with what and where.
public enum DatapathError: Error, CustomStringConvertible, Equatable {
    /// The process lacks capabilities it needs; names them.
    case missingPrivileges([String])
    /// The embedded BPF object could not be opened or loaded; carries libbpf's log.
    case load(stage: String, errno: Int32, log: String)
    /// A map operation failed.
    case map(name: String, operation: String, errno: Int32)
    /// Attaching to or detaching from a device's hook failed.
    case attach(device: String, hook: String, errno: Int32)
    /// tcx was asked for but this kernel has none.
    case tcxUnsupported
    case perf(errno: Int32)
    case netlink(errno: Int32)
    /// The kernel's run-time statistics could not be turned on (BPF_ENABLE_STATS).
    case runTimeStatistics(errno: Int32)

    public var description: String {
        switch self {
        case .missingPrivileges(let caps):
            return "missing \(caps.joined(separator: ", ")): observing needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN (run as root, or grant them with setcap)"
        case .load(let stage, let errno, let log):
            let tail = log.isEmpty ? "" : "\n" + log.trimmingSuffix()
            return "cannot \(stage) the BPF program: \(errnoText(errno))\(tail)"
        case .map(let name, let op, let errno):
            return "map \(name): \(op) failed: \(errnoText(errno))"
        case .attach(let device, let hook, let errno):
            return "\(device) \(hook): \(errnoText(errno))"
        case .tcxUnsupported:
            return "this kernel has no tcx (needs Linux 6.6 or later); use --attach tc"
        case .perf(let errno):
            return "perf event buffer: \(errnoText(errno))"
        case .netlink(let errno):
            return "netlink link notifications: \(errnoText(errno))"
        case .runTimeStatistics(let errno):
            return "BPF_ENABLE_STATS: \(errnoText(errno))\(errno == EPERM ? "; it needs CAP_SYS_ADMIN" : "")"
        }
    }
}

extension String {
    func trimmingSuffix() -> String {
        var s = Substring(self)
        while let last = s.last, last == "\n" || last == " " { s = s.dropLast() }
        return String(s)
    }
}
