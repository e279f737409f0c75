#if canImport(Glibc)
import Glibc
#endif

/// A joinable thread for blocking loops: the perf reader, the device watcher, a ring reader
/// that follows (`RingQuery.next(timeout:)` sleeps), so they never sit on Swift concurrency's
/// cooperative threads.
public final class Worker: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: () -> Void

    public init(name: String, body: @escaping () -> Void) {
        self.body = body
        let ctx = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { ctx in
            let worker = Unmanaged<Worker>.fromOpaque(ctx!).takeRetainedValue()
            worker.body()
            return nil
        }, ctx)
        precondition(rc == 0, "pthread_create for \(name): \(rc)")
    }

    public func join() { pthread_join(thread, nil) }
}
