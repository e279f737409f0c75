// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * output_floor.bpf.c: what writing one trace to a perf event array costs by itself, for
 * `fwbench output-floor` (Sources/CFlowwatchBench). Not part of flowwatch.
 *
 * Programs (SEC("tc"), both return TC_ACT_UNSPEC):
 *   floor_empty    nothing: what the measurement itself (BPF_ENABLE_STATS) adds to any program
 *                  (BPF_PROG_TEST_RUN), and, attached at a device's tcx hooks (`fwbench hooks`),
 *                  what those hooks cost traffic before any program does any work.
 *   floor_output   (BPF_PROG_TEST_RUN) one sample the size of fw_send_trace_notify's (bpf/trace.h): a struct
 *                  fw_trace_notify, preceded by the time (struct fw_sample_hdr, as flowwatch
 *                  writes it) when floor_settings.stamp is set, and floor_settings.cap packet
 *                  bytes the kernel appends (BPF_F_CTXLEN_MASK), at most skb->len.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "events.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} floor_events SEC(".maps");

struct floor_settings {
	__u32 cap;
	__u32 stamp;
};

const volatile struct floor_settings floor_settings = {};

SEC("tc")
int floor_empty(struct __sk_buff *skb)
{
	return TC_ACT_UNSPEC;
}

SEC("tc")
int floor_output(struct __sk_buff *skb)
{
	struct fw_sample s = {};
	__u32 cap = floor_settings.cap < skb->len ? floor_settings.cap : skb->len;
	__u64 flags = ((__u64)cap << 32) | BPF_F_CURRENT_CPU;

	s.trace.hdr.common.type = FW_NOTIFY_TRACE;
	s.trace.hdr.common.hash = skb->hash;
	s.trace.hdr.len_orig = skb->len;
	s.trace.hdr.len_cap = (__u16)cap;
	s.trace.hdr.version = FW_NOTIFY_TRACE_VER;
	s.trace.ifindex = skb->ifindex;
	if (floor_settings.stamp) {
		s.hdr.time = bpf_ktime_get_boot_ns();
		bpf_perf_event_output(skb, &floor_events, flags, &s, sizeof(s.hdr) + sizeof(s.trace));
	} else {
		bpf_perf_event_output(skb, &floor_events, flags, &s.trace, sizeof(s.trace));
	}
	return TC_ACT_UNSPEC;
}
