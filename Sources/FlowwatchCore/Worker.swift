#if canImport(Glibc)
import Glibc
#endif

/// A joinable thread for blocking loops: the perf reader, the device watcher, a ring reader
/// that follows (`RingQuery.next(timeout:)` sleeps), so they never sit on Swift concurrency's
/// cooperative threads. The thread carries `name` (its first 15 bytes), so `top -H` and
/// /proc/PID/task/*/comm tell the reader from the printer.
public final class Worker: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: () -> Void
    private let name: String
    private let nice: Int32

    /// `nice` other than 0 adds to the thread's own nice value (Linux schedules threads one by
    /// one): a thread whose delays cost nothing but latency (the printer) gives way to the one
    /// that must drain a kernel buffer in time and to the node's own work. Raising it needs no
    /// privilege; lowering it needs CAP_SYS_NICE, and without it the thread keeps the value.
    public init(name: String, nice: Int32 = 0, body: @escaping () -> Void) {
        self.body = body
        self.name = name
        self.nice = nice
        let ctx = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { ctx in
            let worker = Unmanaged<Worker>.fromOpaque(ctx!).takeRetainedValue()
            worker.nameThread()
            // PRIO_PROCESS with 0 is the calling thread on Linux (NPTL: nice is per thread).
            if worker.nice != 0 {
                let which = __priority_which_t(PRIO_PROCESS.rawValue)
                _ = setpriority(which, 0, min(max(getpriority(which, 0) + worker.nice, -20), 19))
            }
            worker.body()
            return nil
        }, ctx)
        precondition(rc == 0, "pthread_create for \(name): \(rc)")
    }

    public func join() { pthread_join(thread, nil) }

    /// Lets the thread go: it is never joined, and its resources go when it ends.
    public func detach() { pthread_detach(thread) }

    /// Names the calling thread (Glibc's module has no pthread_setname_np); a kernel without
    /// /proc leaves it unnamed, which only costs the name.
    private func nameThread() {
        let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        var bytes = Array(name.utf8.prefix(15))
        _ = write(fd, &bytes, bytes.count)
        close(fd)
    }
}
