/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * trace.h: trace notifications (Cilium's send_trace_notify, bpf/lib/trace.h).
 *
 * API
 *   struct fw_trace_args
 *       obs_point  enum fw_trace_point (message subtype)
 *       source     endpoint id of the observing device, 0 for network devices
 *       src_label, dst_label   security identities, 0 where unknown
 *       dst_id     destination endpoint id, 0 if not a local endpoint
 *       reason     enum fw_trace_reason (the CT verdict, or FW_TRACE_REASON_UNKNOWN)
 *       flags      FW_CLS_FLAG_*
 *   bool fw_trace_wanted(const struct fw_trace_args *a, bool ct_report)
 *       The monitor aggregation hook: whether this packet's trace is emitted. ct_report is
 *       fw_ct_result.report (always true for untracked packets).
 *   __u32 fw_capture_len(struct __sk_buff *skb)
 *       Packet bytes appended to a trace: fw_settings.capture_len (0: FW_MAX_CAPTURE), at
 *       most skb->len.
 *   void fw_send_trace_notify(struct __sk_buff *skb, const struct fw_trace_args *a,
 *                             const __u8 *orig_ip)
 *       Emits a struct fw_trace_notify (version FW_NOTIFY_TRACE_VER) followed by
 *       fw_capture_len(skb) bytes of the packet; hash = skb->hash, ifindex = skb->ifindex,
 *       len_orig = skb->len, ip_trace_id = 0. orig_ip: the source address as seen, 16 bytes
 *       (IPv4 in the first 4), or NULL if the packet has none. It is a pointer, not a field of
 *       fw_trace_args, so the caller's copy stays in memory instead of in four spilled registers
 *       (the stack is 512 bytes for everything).
 *
 * Needs fw_settings and output.h.
 */
#ifndef FLOWWATCH_TRACE_H
#define FLOWWATCH_TRACE_H

struct fw_trace_args {
	__u8 obs_point;
	__u8 reason;
	__u8 flags;
	__u8 pad;
	__u16 source;
	__u16 dst_id;
	__u32 src_label;
	__u32 dst_label;
};

/*
 * MONITOR AGGREGATION HOOK. Levels are not implemented yet; every packet is traced whatever
 * fw_settings.aggregation says, so a consumer asking for aggregation gets more events, never
 * fewer. Cilium's emit_trace_notify() is the model for adding them:
 *   aggregation >= 1 (lowest, low): drop the from-* points, one trace per packet;
 *   aggregation >= 3 (medium, max): also drop traces with !ct_report.
 * Conntrack already maintains what the second rule needs (tx/rx_flags_seen, last_*_report with
 * fw_settings.aggregation_interval), see fw_ct_refresh().
 */
static __always_inline bool fw_trace_wanted(const struct fw_trace_args *a, bool ct_report)
{
	(void)a;
	(void)ct_report;
	if (fw_settings.aggregation == 0)
		return true;
	/* Levels go here. Until then report rather than lose. */
	return true;
}

static __always_inline __u32 fw_capture_len(struct __sk_buff *skb)
{
	__u32 cap = fw_settings.capture_len;
	__u32 len = skb->len;

	/* The perf record size is a u16; FW_MAX_CAPTURE keeps header + message + packet below it. */
	if (cap == 0 || cap > FW_MAX_CAPTURE)
		cap = FW_MAX_CAPTURE;
	return cap < len ? cap : len;
}

static __always_inline void fw_send_trace_notify(struct __sk_buff *skb,
						 const struct fw_trace_args *a, const __u8 *orig_ip)
{
	__u32 cap = fw_capture_len(skb);
	struct fw_trace_notify msg = {
		.hdr = {
			.common = {
				.type = FW_NOTIFY_TRACE,
				.subtype = a->obs_point,
				.source = a->source,
				.hash = skb->hash,
			},
			.len_orig = skb->len,
			.len_cap = (__u16)cap,
			.version = FW_NOTIFY_TRACE_VER,
			.ext_version = 0,
		},
		.src_label = a->src_label,
		.dst_label = a->dst_label,
		.dst_id = a->dst_id,
		.reason = a->reason,
		.flags = a->flags,
		.ifindex = skb->ifindex,
		.ip_trace_id = 0,
	};

	if (orig_ip)
		__builtin_memcpy(msg.orig_ip, orig_ip, sizeof(msg.orig_ip));
	fw_output(skb, cap, &msg, sizeof(msg));
}

#endif /* FLOWWATCH_TRACE_H */
