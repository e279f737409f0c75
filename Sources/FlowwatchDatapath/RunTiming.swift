import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// When the kernel times the observer program (BPF_ENABLE_STATS), for
/// `Datapath.runStatistics()`: the run count and run time it keeps grow only while timing is on,
/// so their ratio is the mean over the timed runs whichever is chosen.
///
/// Timing is the kernel's switch for every BPF program on the machine, and each run then reads
/// the clock twice: about 50 ns per run on this VM (`fwbench output-floor`, "nothing at all").
/// A 64-byte UDP flood between two pods of the demo node ran at 0.95 of its rate with a tc
/// program that does nothing attached to their lxc devices, and at 0.91 with that program
/// timed; so by default the kernel times one second in every ten.
public enum RunTiming: String, Sendable, CaseIterable {
    /// On for `window` at the start of every `period`.
    case sampled
    /// On for as long as the datapath observes.
    case always
    /// Never: no run time to show.
    case off

    public static let window = Duration.seconds(1)
    public static let period = Duration.seconds(10)
}

/// Holds the kernel's timing on (`always`) or switches it on and off (`sampled`, on a thread of
/// its own running `sample`): timing is on while it holds a BPF_ENABLE_STATS descriptor.
/// `close` comes after the sampling thread was joined.
final class RunTimer: Sendable {
    private let fd: Atomic<Int32>
    private let stopped: StopFlag

    /// Timing is on from here.
    init() throws(DatapathError) {
        do { stopped = try StopFlag() } catch { throw .runTimeStatistics(errno: error.errno) }
        fd = Atomic(try ObserverProgram.enableRunTimeStatistics())
    }

    /// The descriptor that keeps timing on, -1 while off.
    var descriptor: Int32 { fd.load(ordering: .acquiring) }

    /// Off for the rest of each period after `window`, on again at the next, until `stop`.
    /// Returns the error if the kernel refused to turn it back on (it then stays off).
    func sample(window: Duration, period: Duration) -> DatapathError? {
        while true {
            guard wait(window) else { return nil }
            close()
            guard wait(period - window) else { return nil }
            do throws(DatapathError) {
                fd.store(try ObserverProgram.enableRunTimeStatistics(), ordering: .releasing)
            } catch {
                return error
            }
        }
    }

    func stop() { stopped.set() }

    func close() {
        let old = fd.exchange(-1, ordering: .acquiringAndReleasing)
        if old >= 0 { Glibc.close(old) }
    }

    /// Sleeps `duration`, or less if stopped meanwhile; false if stopped.
    private func wait(_ duration: Duration) -> Bool {
        let start = ContinuousClock.now
        while !stopped.isSet {
            let left = duration - (ContinuousClock.now - start)
            guard left > .zero else { return true }
            let (s, attos) = left.components
            // Rounded up: a sleep cut short by a millisecond would only loop once more.
            let ms = Int32(clamping: s * 1000 + (attos + 999_999_999_999_999) / 1_000_000_000_000_000)
            // poll fails only without memory for it: step as before rather than spin.
            if stopped.wait(milliseconds: ms) < 0 { usleep(100_000) }
        }
        return false
    }
}
