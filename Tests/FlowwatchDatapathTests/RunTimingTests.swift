import FlowwatchCore
@testable import FlowwatchDatapath
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Sampled timing: the kernel times the program while the timer holds its BPF_ENABLE_STATS
/// descriptor, which it lets go after the window and takes again at the next period.
@Suite struct RunTimingTests {
    @Test("sampled timing is on for its window, then off until the next period; runs are counted while it is on",
          .enabled(if: Privileges.canMeasureRunTime || Privileged.inCI, "BPF_ENABLE_STATS needs CAP_SYS_ADMIN"))
    func sampled() throws {
        let h = try Harness(debug: false)
        try h.role(.lxc, endpointID: 2073, identity: 22099)
        let timer = try RunTimer()
        defer { timer.close() }
        #expect(Self.isStatsHandle(timer.descriptor))
        let before = h.program.runStatistics().runs
        let packet = Packets.ethernet(0x0800, Packets.ipv4(AggregationTests.client, AggregationTests.server, proto: 17, Packets.udp(5300, 53)))
        for _ in 0..<20 { _ = try h.run(packet, egress: false) }
        #expect(h.program.runStatistics().runs - before >= 20, "timed while the timer holds the descriptor")

        let worker = Worker(name: "test-timing") { _ = timer.sample(window: .milliseconds(100), period: .milliseconds(400)) }
        #expect(Self.waitUntil { timer.descriptor < 0 }, "off after the window")
        #expect(Self.waitUntil { timer.descriptor >= 0 }, "on again at the next period")
        #expect(Self.isStatsHandle(timer.descriptor))
        timer.stop()
        worker.join()
        timer.close()
        #expect(timer.descriptor < 0)
    }

    /// Polls for up to 3 s (the period is 400 ms; the machine may be loaded).
    static func waitUntil(_ condition: () -> Bool) -> Bool {
        for _ in 0..<300 {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    /// The descriptor is the kernel's run-time statistics handle ("anon_inode:bpf-stats").
    static func isStatsHandle(_ fd: Int32) -> Bool {
        guard fd >= 0 else { return false }
        var buffer = [CChar](repeating: 0, count: 64)
        let n = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
        return n > 0 && String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self) == "anon_inode:bpf-stats"
    }
}
