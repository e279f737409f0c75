import FlowwatchCore
@testable import FlowwatchDatapath
import Testing

/// The perf rings' high-water marks, read from the kernel's own ring pages: events written by the
/// real program through BPF_PROG_TEST_RUN wait unread, then the reader drains them.
@Suite(.enabled(if: Privileged.enabled, Privileged.reason))
struct PerfUsageTests {
    let ping = Packets.ethernet(0x0800, Packets.ipv4("10.244.0.102", "10.244.0.25", proto: 1,
                                                     Packets.icmpEcho(request: true, id: 1, seq: 0)))

    /// A PERF_RECORD_SAMPLE with RAW alone: header (8), raw size (4), the time the program wrote
    /// (8, bpf/events.h fw_sample_hdr), then the message bytes, which the kernel pads so the
    /// record stays 8-byte aligned.
    static func recordBytes(_ sample: RawSample) -> UInt64 {
        if case .event(let bytes) = sample.kind { return 20 + UInt64(bytes.count) }
        return 0
    }

    @Test("a ring's fill is the bytes waiting unread; its peak is what the reader found when it drained, then a new interval starts")
    func highWaterMark() throws {
        let h = try Harness(debug: false)
        try h.role(.lxc, endpointID: 2073, identity: 22099)
        #expect(h.perfUsage().allSatisfy { $0.usedBytes == 0 && $0.peakBytes == 0 && $0.sizeBytes == 8 * 4096 })
        for _ in 0..<40 { _ = try h.runUnread(ping, egress: false) }
        // Asking before the reader ran: what waits is both the fill and the peak so far.
        let waiting = h.perfUsage()
        let samples = try h.read()
        #expect(samples.count == 40)
        var written: [Int: UInt64] = [:]
        for s in samples { written[Int(s.cpu), default: 0] += Self.recordBytes(s) }
        #expect(waiting.map(\.cpu) == waiting.map(\.cpu).sorted() && !waiting.isEmpty)
        for ring in waiting {
            #expect(ring.usedBytes == written[ring.cpu, default: 0] && ring.peakBytes == ring.usedBytes, "\(ring) \(written)")
        }
        // The drain noted each ring's fill before reading it, and left it empty.
        let drained = h.perfUsage()
        for ring in drained {
            #expect(ring.usedBytes == 0 && ring.peakBytes == written[ring.cpu, default: 0], "\(ring) \(written)")
        }
        #expect(drained.reduce(0) { $0 + $1.peakBytes } == written.values.reduce(0, +))
        #expect(h.perfUsage().allSatisfy { $0.peakBytes == 0 })
    }

    @Test("a ring written until the kernel drops events peaks within one record of full, and the loss follows")
    func fullRing() throws {
        let h = try Harness(debug: false)
        try h.role(.lxc, endpointID: 2073, identity: 22099)
        var runs = 0
        while h.program.counters().outputErrors == 0 && runs < 100_000 {
            _ = try h.runUnread(ping, egress: false)
            runs += 1
        }
        #expect(h.program.counters().outputErrors > 0, "no perf output failed after \(runs) packets")
        let samples = try h.read()
        let largest = samples.map(Self.recordBytes).max() ?? 0
        let lost = samples.reduce(UInt64(0)) { if case .lost(let n) = $1.kind { $0 + n } else { $0 } }
        let usage = h.perfUsage()
        let full = usage.filter { $0.peakBytes + largest > $0.sizeBytes }
        #expect(!full.isEmpty && usage.allSatisfy { $0.peakBytes <= $0.sizeBytes }, "\(usage), records up to \(largest) bytes")
        #expect(full.allSatisfy { $0.peakRatio > 0.9 }, "\(full)")
        // The kernel reports the loss in the ring once there is room again, ahead of that CPU's next
        // event: every failed output comes back as a lost count.
        var reported = lost
        for _ in 0..<10_000 where reported < h.program.counters().outputErrors {
            _ = try h.runUnread(ping, egress: false)
            reported += try h.read().reduce(UInt64(0)) { if case .lost(let n) = $1.kind { $0 + n } else { $0 } }
        }
        #expect(reported == h.program.counters().outputErrors, "\(reported) \(h.program.counters())")
    }
}
