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
 *       Monitor aggregation (fw_settings.aggregation, enum fw_aggregation): whether this
 *       packet's trace is emitted. ct_report is fw_ct_result.report (true for untracked
 *       packets: without conntrack there is nothing to aggregate them by).
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

/* Cilium's from-* observation points (emit_trace_notify's list). flowwatch emits three of them;
 * the rest are listed so the rule reads as Cilium's. */
static __always_inline bool fw_trace_point_is_from(__u8 obs_point)
{
	switch (obs_point) {
	case FW_TRACE_FROM_LXC:
	case FW_TRACE_FROM_PROXY:
	case FW_TRACE_FROM_HOST:
	case FW_TRACE_FROM_STACK:
	case FW_TRACE_FROM_OVERLAY:
	case FW_TRACE_FROM_NETWORK:
	case FW_TRACE_FROM_CRYPTO:
		return true;
	default:
		return false;
	}
}

/*
 * Monitor aggregation, as Cilium's emit_trace_notify() (bpf/lib/trace.h):
 *   lowest, low (TRACE_AGGREGATE_RX): no trace at the from-* points, so a packet crossing the
 *       node is traced once, where it leaves for its destination;
 *   medium, maximum (TRACE_AGGREGATE_ACTIVE_CT): also none unless conntrack reports the packet
 *       (ct_report: a new connection, TCP flags not seen before in its direction, FIN or RST,
 *       an ICMP error, or more than aggregation_interval since the direction's last report).
 * Only traces pass through here: debug messages (and drops, which flowwatch does not emit)
 * are never aggregated. fw_settings is frozen .rodata, so at level none the verifier sees a
 * constant and the whole test disappears.
 */
static __always_inline bool fw_trace_wanted(const struct fw_trace_args *a, bool ct_report)
{
	if (fw_settings.aggregation >= FW_AGGREGATION_LOWEST && fw_trace_point_is_from(a->obs_point))
		return false;
	if (fw_settings.aggregation >= FW_AGGREGATION_MEDIUM && !ct_report)
		return false;
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
	struct fw_sample *s = fw_sample_begin();

	if (!s)
		return;
	/* Every field, orig_ip included: the buffer still holds the previous sample. */
	s->trace = (struct fw_trace_notify){
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
		__builtin_memcpy(s->trace.orig_ip, orig_ip, sizeof(s->trace.orig_ip));
	fw_output(skb, cap, s, sizeof(s->trace));
}

#endif /* FLOWWATCH_TRACE_H */
