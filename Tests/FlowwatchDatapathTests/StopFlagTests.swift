import FlowwatchCore
@testable import FlowwatchDatapath
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Threads that sleep without a timeout (the device watcher) or for long ones (sampled timing)
/// end as soon as they are told to stop: `StopFlag` wakes them.
@Suite struct StopFlagTests {
    /// Runs `body` on a thread of its own, calls `stop` after 50 ms and waits up to 10 s for
    /// `body` to return; whether it did.
    static func endsWhenStopped(_ name: String, _ body: @escaping @Sendable () -> Void, stop: () -> Void) -> Bool {
        let done = Atomic<Bool>(false)
        let worker = Worker(name: name) {
            body()
            done.store(true, ordering: .releasing)
        }
        usleep(50_000)
        stop()
        for _ in 0..<1000 where !done.load(ordering: .acquiring) { usleep(10_000) }
        guard done.load(ordering: .acquiring) else {
            // Left running: joining would hang the suite.
            worker.detach()
            return false
        }
        worker.join()
        return true
    }

    @Test func aFlagSetBeforeTheWaitEndsIt() throws {
        let flag = try StopFlag()
        flag.set()
        #expect(flag.isSet)
        let clock = ContinuousClock()
        var ready: Int32 = -1
        let elapsed = clock.measure { ready = flag.wait(milliseconds: 10_000) }
        #expect(ready == 0)
        #expect(elapsed < .seconds(5))
    }

    @Test func theDeviceWatcherStopsAtOnce() throws {
        let watcher = try DeviceWatcher { _ in }
        let ended = Self.endsWhenStopped("test-watcher", { try? watcher.run() }, stop: watcher.stop)
        #expect(ended)
    }

    @Test("sampled timing stops in the middle of a long window",
          .enabled(if: Privileges.canMeasureRunTime || Privileged.inCI, "BPF_ENABLE_STATS needs CAP_SYS_ADMIN"))
    func timingStopsMidWindow() throws {
        let timer = try RunTimer()
        defer { timer.close() }
        let ended = Self.endsWhenStopped("test-timing", { _ = timer.sample(window: .seconds(60), period: .seconds(120)) },
                                         stop: timer.stop)
        #expect(ended)
    }
}
