import CFlowwatchLinux
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A link as netlink reports it.
public struct LinkInfo: Sendable, Equatable {
    public var ifindex: Int32
    public var name: String
    /// No Ethernet header (ARPHRD other than ether/loopback): packets start at IP.
    public var layer3: Bool
    public var deleted: Bool
}

/// Follows the node's links through netlink (RTM_NEWLINK / RTM_DELLINK): first a dump of every
/// link, then each change as it happens.
final class DeviceWatcher: @unchecked Sendable {
    private let fd: Int32
    private let onLink: (LinkInfo) -> Void
    private let stopped: StopFlag

    init(onLink: @escaping (LinkInfo) -> Void) throws(DatapathError) {
        do { stopped = try StopFlag() } catch { throw .netlink(errno: error.errno) }
        let fd = fw_netlink_open()
        guard fd >= 0 else { throw .netlink(errno: -fd) }
        self.fd = fd
        self.onLink = onLink
    }

    deinit { close(fd) }

    /// Asks for every link and handles them all before returning, so that whoever starts the
    /// watcher knows the devices present now are dealt with.
    func initialDump() throws(DatapathError) {
        let rc = fw_netlink_request_links(fd)
        guard rc == 0 else { throw .netlink(errno: -rc) }
        var done: Int32 = 0
        while done == 0 {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, 1000)
            if ready < 0 && errno != EINTR { throw .netlink(errno: errno) }
            if ready == 0 { throw .netlink(errno: ETIMEDOUT) }
            try readPending(&done)
        }
    }

    /// Reads link notifications until `stop()`; call from the thread that owns watching.
    func run() throws(DatapathError) {
        var done: Int32 = 0
        // No timeout: `stop()` wakes the wait.
        while !stopped.isSet {
            let ready = stopped.wait(for: fd, milliseconds: -1)
            if ready < 0 { throw .netlink(errno: -ready) }
            if ready > 0 { try readPending(&done) }
        }
    }

    private func readPending(_ done: inout Int32) throws(DatapathError) {
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        let callback: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<fw_link>?) -> Void = { ctx, link in
            guard let ctx, let link else { return }
            let watcher = Unmanaged<DeviceWatcher>.fromOpaque(ctx).takeUnretainedValue()
            let l = link.pointee
            let name = withUnsafeBytes(of: l.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            // ARPHRD_ETHER = 1, ARPHRD_LOOPBACK = 772; everything else (tun, wireguard, ...) is L3.
            watcher.onLink(LinkInfo(ifindex: l.ifindex, name: name, layer3: l.type != 1 && l.type != 772, deleted: l.deleted != 0))
        }
        while true {
            let rc = fw_netlink_read(fd, callback, ctx, &done)
            if rc == -EAGAIN || rc == -EINTR { return }
            if rc == -ENOBUFS {
                // The kernel dropped notifications: start over from a full dump.
                let again = fw_netlink_request_links(fd)
                if again != 0 && again != -EBUSY { throw .netlink(errno: -again) }
                return
            }
            if rc < 0 { throw .netlink(errno: -rc) }
        }
    }

    func stop() { stopped.set() }
}
