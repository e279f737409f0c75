import CFlowwatchABI
import Testing

/// bpf/events.h is imported, not restated; these pin the layouts Swift sees to Cilium's.
@Suite struct ABITests {
    @Test func notifyLayouts() {
        // A perf sample: the time, then the message (the per-CPU buffer holds the largest).
        #expect(MemoryLayout<fw_sample_hdr>.size == 8)
        #expect(MemoryLayout<fw_sample>.size == 8 + 56)
        #expect(MemoryLayout<fw_notify_hdr>.size == 8)
        #expect(MemoryLayout<fw_capture_hdr>.size == 16)
        #expect(MemoryLayout<fw_capture_hdr>.offset(of: \.len_cap) == 12)
        #expect(MemoryLayout<fw_capture_hdr>.offset(of: \.version) == 14)
        #expect(MemoryLayout<fw_trace_notify>.size == 56)
        #expect(MemoryLayout<fw_trace_notify>.offset(of: \.src_label) == 16)
        #expect(MemoryLayout<fw_trace_notify>.offset(of: \.dst_id) == 24)
        #expect(MemoryLayout<fw_trace_notify>.offset(of: \.reason) == 26)
        #expect(MemoryLayout<fw_trace_notify>.offset(of: \.ifindex) == 28)
        #expect(MemoryLayout<fw_trace_notify>.offset(of: \.orig_ip) == 32)
        #expect(MemoryLayout<fw_trace_notify>.offset(of: \.ip_trace_id) == 48)
        #expect(MemoryLayout<fw_debug_msg>.size == 20)
        #expect(MemoryLayout<fw_debug_msg>.offset(of: \.arg3) == 16)
        #expect(MemoryLayout<fw_debug_capture_msg>.size == 24)
        #expect(MemoryLayout<fw_drop_notify>.size == 48)
        #expect(MemoryLayout<fw_drop_notify>.offset(of: \.ifindex) == 32)
        #expect(MemoryLayout<fw_drop_notify>.offset(of: \.ip_trace_id) == 40)
    }

    @Test func mapLayouts() {
        #expect(MemoryLayout<fw_ct_key>.size == 44)
        #expect(MemoryLayout<fw_ct_key>.offset(of: \.dport) == 32)
        #expect(MemoryLayout<fw_ct_key>.offset(of: \.zone) == 40)
        #expect(MemoryLayout<fw_ipcache_key>.size == 24)
        #expect(MemoryLayout<fw_endpoint_key>.size == 20)
        #expect(MemoryLayout<fw_device>.size == 16)
        #expect(MemoryLayout<fw_addr_filter_value>.size == 8)
        #expect(MemoryLayout<fw_settings>.size == 20)
        #expect(MemoryLayout<fw_settings>.offset(of: \.addr_filter) == 16)
    }
}
