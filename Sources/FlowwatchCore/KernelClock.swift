#if canImport(Glibc)
import Glibc
#endif

/// CLOCK_BOOTTIME, the clock of every event timestamp, and its offset to wall-clock time.
public enum KernelClock {
    public static func boottimeNow() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Nanoseconds to add to a boot-clock time to get Unix time, measured now.
    public static func wallClockOffset() -> Int64 {
        var real = timespec(), boot = timespec()
        clock_gettime(CLOCK_REALTIME, &real)
        clock_gettime(CLOCK_BOOTTIME, &boot)
        return (Int64(real.tv_sec) - Int64(boot.tv_sec)) * 1_000_000_000 + (Int64(real.tv_nsec) - Int64(boot.tv_nsec))
    }
}
