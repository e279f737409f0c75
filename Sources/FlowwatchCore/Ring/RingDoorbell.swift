#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Where followers sleep when they have read everything, and how the writer wakes them.
///
/// The writer's fast path costs nothing but a relaxed load of `waiters` after it published the
/// write position: no lock, no syscall, and no store-load fence while nobody sleeps. A follower
/// takes the mutex, registers (`waiters += 1`), re-checks the write position and only then sleeps
/// on the condition variable, which releases the mutex atomically. A writer that sees a waiter
/// takes the mutex, clears the count and broadcasts; because registration and sleep happen
/// under the mutex, the broadcast cannot fall between them.
///
/// Why a follower lingers before it registers: a wakeup costs the writer a futex syscall (and
/// in a VM an IPI). With a follower woken for every entry, writes measured 1.8 µs each at a
/// steady 100k entries/s and 8 µs at 10k/s, instead of a few ns. A caught-up follower therefore
/// first sleeps `pause` (1 ms) unregistered and looks again; only if nothing came does it
/// register. Under steady traffic it never registers and the writer never pays; under sparse
/// traffic the writer pays at most one wakeup per `pause` per follower. The price is up to 1 ms
/// of added latency, invisible to a person reading flows.
///
/// Why no fence, and what it costs: a wakeup can be missed only if the writer's load of
/// `waiters` and the follower's re-check of the position both read stale values, each side's
/// store still sitting in its CPU's store buffer (Dekker's race). Closing that race formally
/// needs a sequentially consistent store on every write, which measured 14 ns per write instead
/// of 5 on this project's machine (the `xchg` drains the store buffer holding the slot just
/// written). Instead a follower's first sleep after registering also lasts at most `pause`, and
/// it re-checks the position before sleeping on: by then both stores have long been visible
/// (store buffers drain in nanoseconds; the memory model asks that stores become visible
/// "within a reasonable amount of time"), so the writer of any later entry sees the
/// registration, and an entry written in the race is found by the re-check. A follower thus
/// oversleeps a write by at most `pause`, and only in that race.
///
/// Followers that time out leave their registration behind, which costs the next write one
/// uncontended lock and a broadcast to nobody, not a wrong result.
final class RingDoorbell: @unchecked Sendable {
    /// How long a caught-up follower lingers unregistered, and the longest first sleep after it
    /// registers: the bound on both added latency and oversleeping a racing write.
    static let pause: Duration = .milliseconds(1)

    /// Followers registered since the last wakeup.
    private let waiters = Atomic<Int>(0)
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        #if canImport(Darwin)
        pthread_cond_init(condition, nil)
        #else
        // Deadlines are on the monotonic clock so that a wall-clock step cannot stretch a
        // follower's timeout.
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
        #endif
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Whether a follower may be asleep: the writer's per-write check.
    @inline(__always)
    var hasWaiters: Bool { waiters.load(ordering: .relaxed) != 0 }

    /// Wakes every sleeping follower.
    func ring() {
        pthread_mutex_lock(mutex)
        waiters.store(0, ordering: .relaxed)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Sleeps `pause` (or until `deadline`) without registering: a follower's first sleep once
    /// caught up. Other followers' wakeups may end it early, which only means an early look.
    func linger(until deadline: Deadline) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        _ = min(Deadline(after: Self.pause), deadline).wait(condition, mutex)
    }

    /// Registers and sleeps while `isCaughtUp()` holds, until woken (possibly spuriously) or
    /// `deadline`.
    func wait(until deadline: Deadline, while isCaughtUp: () -> Bool) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        waiters.add(1, ordering: .relaxed)
        guard isCaughtUp() else { return }
        if min(Deadline(after: Self.pause), deadline).wait(condition, mutex) { return }
        guard isCaughtUp() else { return }
        _ = deadline.wait(condition, mutex)
    }

    /// Calls to `interrupt()` so far: a follower that sees it changed returns before its
    /// timeout (`RingReader.stepFollow`). A writer's wakeup does not count: one meant for an
    /// entry a follower had already read can wake it, and it sleeps on. Counted before the
    /// broadcast, so a follower that re-checks it under the mutex either sees it or is woken.
    var interruptions: UInt64 { interrupts.load(ordering: .acquiring) }
    private let interrupts = Atomic<UInt64>(0)

    /// Wakes every follower and has it return, caught up or not (`EventRing.wakeFollowers`).
    func interrupt() {
        interrupts.add(1, ordering: .releasing)
        ring()
    }

    /// A point in time on the monotonic clock, which the condition variable waits on.
    struct Deadline: Comparable {
        private let nanoseconds: UInt64

        init(after timeout: Duration) {
            let (seconds, attoseconds) = max(timeout, .zero).components
            let (whole, overflow) = UInt64(clamping: seconds).multipliedReportingOverflow(by: 1_000_000_000)
            let span = overflow ? UInt64.max : whole.addingReportingOverflow(
                UInt64(attoseconds / 1_000_000_000)).partialValue
            let (end, late) = Self.now().addingReportingOverflow(span)
            nanoseconds = late ? .max : end
        }

        static func < (lhs: Deadline, rhs: Deadline) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

        var hasPassed: Bool { Self.now() >= nanoseconds }

        private static func now() -> UInt64 {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
        }

        private static func makeTimespec(nanoseconds: UInt64) -> timespec {
            let seconds = nanoseconds / 1_000_000_000
            return .init(tv_sec: .init(clamping: seconds), tv_nsec: .init(nanoseconds % 1_000_000_000))
        }

        /// Waits on `condition` until signalled or this deadline; false if the deadline passed.
        func wait(_ condition: UnsafeMutablePointer<pthread_cond_t>,
                  _ mutex: UnsafeMutablePointer<pthread_mutex_t>) -> Bool {
            #if canImport(Darwin)
            let now = Self.now()
            guard nanoseconds > now else { return false }
            var relative = Self.makeTimespec(nanoseconds: nanoseconds - now)
            return pthread_cond_timedwait_relative_np(condition, mutex, &relative) != ETIMEDOUT
            #else
            var end = Self.makeTimespec(nanoseconds: nanoseconds)
            return pthread_cond_timedwait(condition, mutex, &end) != ETIMEDOUT
            #endif
        }
    }
}
