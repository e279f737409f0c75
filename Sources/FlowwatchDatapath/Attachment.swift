import CFlowwatchLinux
#if canImport(Glibc)
import Glibc
#endif

/// How programs are attached to a device's hooks.
public enum AttachMode: String, Sendable, CaseIterable, CustomStringConvertible {
    /// tcx where the kernel has it (6.6+), else tc.
    case auto
    /// tcx links, ahead of every program already on the hook. They are owned by this process:
    /// if it dies, the kernel detaches them.
    case tcx
    /// A clsact qdisc with a cls_bpf filter of our own handle and priority (kernels before 6.6).
    case tc

    public var description: String { rawValue }

    /// What `auto` means on this kernel.
    public func resolved() throws(DatapathError) -> AttachMode {
        switch self {
        case .auto: return fw_tcx_supported() == 1 ? .tcx : .tc
        case .tcx: guard fw_tcx_supported() == 1 else { throw .tcxUnsupported }; return .tcx
        case .tc: return .tc
        }
    }
}

/// The ingress and egress programs on one device. Detaching is explicit (and idempotent) so
/// that the owner decides the order; deinit detaches what is left.
final class DeviceAttachment {
    let ifindex: Int32
    let name: String
    let mode: AttachMode
    private var linkFDs: [Int32] = []
    private var attachedTC = false

    init(ifindex: Int32, name: String, mode: AttachMode, program: ObserverProgram) throws(DatapathError) {
        self.ifindex = ifindex
        self.name = name
        self.mode = mode
        for egress in [false, true] {
            let fd = egress ? program.egressFD : program.ingressFD
            let hook = egress ? "egress" : "ingress"
            switch mode {
            case .tcx, .auto:
                let link = fw_tcx_attach(fd, ifindex, egress ? 1 : 0)
                guard link >= 0 else { detach(); throw .attach(device: name, hook: "tcx \(hook)", errno: -link) }
                linkFDs.append(link)
            case .tc:
                let rc = fw_tc_attach(fd, ifindex, egress ? 1 : 0)
                guard rc == 0 else { detach(); throw .attach(device: name, hook: "tc \(hook)", errno: -rc) }
                attachedTC = true
            }
        }
    }

    /// Detaches both hooks, egress first (reverse of attach). A device that is already gone
    /// took its hooks with it; that is not an error.
    func detach() {
        for fd in linkFDs.reversed() { close(fd) }
        linkFDs.removeAll()
        if attachedTC {
            _ = fw_tc_detach(ifindex, 1)
            _ = fw_tc_detach(ifindex, 0)
            attachedTC = false
        }
    }

    deinit { detach() }

    /// Removes filters of ours that a killed run left on a device (tc mode only: tcx links die
    /// with their process). Returns the hooks it cleaned.
    static func removeStale(ifindex: Int32) -> [String] {
        var cleaned: [String] = []
        for egress: Int32 in [0, 1] {
            var id: UInt32 = 0
            if fw_tc_query(ifindex, egress, &id) == 1, fw_tc_detach(ifindex, egress) == 0 {
                cleaned.append(egress == 1 ? "egress" : "ingress")
            }
        }
        return cleaned
    }
}
