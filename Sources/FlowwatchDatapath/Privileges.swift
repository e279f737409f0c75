#if canImport(Glibc)
import Glibc
#endif

/// The capabilities observing needs, read from /proc/self/status before touching the kernel so
/// that a missing one is named instead of surfacing as a bare EPERM.
public enum Privileges {
    private static let capNetAdmin = 12, capSysAdmin = 21, capPerfmon = 38, capBPF = 39

    /// Names of the capabilities that are missing; empty when flowwatch can observe.
    public static func missing() -> [String] {
        guard let eff = effectiveCapabilities() else { return [] }
        func has(_ bit: Int) -> Bool { eff & (1 << UInt64(bit)) != 0 }
        var out: [String] = []
        if !has(capBPF) && !has(capSysAdmin) { out.append("CAP_BPF") }
        if !has(capPerfmon) && !has(capSysAdmin) { out.append("CAP_PERFMON") }
        if !has(capNetAdmin) { out.append("CAP_NET_ADMIN") }
        return out
    }

    /// Whether every capability is there: what privileged tests check before they run.
    public static var canObserve: Bool { missing().isEmpty }

    /// Whether the kernel will time BPF programs for us (BPF_ENABLE_STATS needs CAP_SYS_ADMIN).
    public static var canMeasureRunTime: Bool {
        guard let eff = effectiveCapabilities() else { return false }
        return eff & (1 << UInt64(capSysAdmin)) != 0
    }

    private static func effectiveCapabilities() -> UInt64? {
        guard let f = fopen("/proc/self/status", "r") else { return nil }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, Int32(line.count), f) != nil {
            let s = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if s.hasPrefix("CapEff:") {
                return UInt64(s.dropFirst(7).trimmingCharacters(), radix: 16)
            }
        }
        return nil
    }
}

extension Substring {
    func trimmingCharacters() -> String {
        String(self.drop { $0 == " " || $0 == "\t" }.prefix { $0 != "\n" && $0 != " " })
    }
}
