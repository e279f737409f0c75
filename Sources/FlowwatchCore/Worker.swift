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

    public init(name: String, body: @escaping () -> Void) {
        self.body = body
        self.name = name
        let ctx = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { ctx in
            let worker = Unmanaged<Worker>.fromOpaque(ctx!).takeRetainedValue()
            worker.nameThread()
            worker.body()
            return nil
        }, ctx)
        precondition(rc == 0, "pthread_create for \(name): \(rc)")
    }

    public func join() { pthread_join(thread, nil) }

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
