#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
@testable import FlowwatchCore

@Suite struct WorkerTests {
    /// The nice value is the thread's own: set on the worker, not on the thread that made it.
    @Test func niceIsTheWorkersOwn() {
        let seen = Atomic<Int32>(-100)
        let before = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        // Raising the nice value needs no privilege.
        let worker = Worker(name: "fw-test", nice: 5) {
            seen.store(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0), ordering: .relaxed)
        }
        worker.join()
        #expect(seen.load(ordering: .relaxed) == min(before + 5, 19))
        #expect(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0) == before)
    }
}
