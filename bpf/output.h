/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * output.h: writing messages to the perf event array, and the counters.
 *
 * API
 *   void fw_stat_inc(__u32 stat)
 *       Adds 1 to counter `stat` (enum fw_stat) of this CPU in fw_stats.
 *   struct fw_sample *fw_sample_begin(void)
 *       This CPU's sample buffer (fw_samples) to build the next message in, or NULL (counted as
 *       an output error; a per-CPU array of one always has it). The caller must write every
 *       byte of the message it sends: the buffer holds the previous sample.
 *   void fw_output(struct __sk_buff *skb, __u32 cap, struct fw_sample *s, __u32 msg_size)
 *       Stamps s->hdr with the time and writes it, the first `msg_size` bytes of the message
 *       after it and the first `cap` bytes of the packet (0: none) to fw_events on the current
 *       CPU; counts FW_STAT_EVENTS or, if the kernel could not write it (ring full, nobody
 *       listening on this CPU), FW_STAT_OUTPUT_ERRORS. `cap` must not exceed skb->len. Every
 *       message flowwatch emits goes through here, so the counters see them all.
 *
 * Needs the maps fw_events, fw_samples and fw_stats, declared by the includer (flowwatch.bpf.c).
 */
#ifndef FLOWWATCH_OUTPUT_H
#define FLOWWATCH_OUTPUT_H

static __always_inline void fw_stat_inc(__u32 stat)
{
	__u64 *count = bpf_map_lookup_elem(&fw_stats, &stat);

	/* Per-CPU slot and tc programs do not nest on a CPU: a plain add cannot race. */
	if (count)
		*count += 1;
}

static __always_inline struct fw_sample *fw_sample_begin(void)
{
	__u32 zero = 0;
	struct fw_sample *s = bpf_map_lookup_elem(&fw_samples, &zero);

	if (!s)
		fw_stat_inc(FW_STAT_OUTPUT_ERRORS);
	return s;
}

static __always_inline void fw_output(struct __sk_buff *skb, __u32 cap, struct fw_sample *s, __u32 msg_size)
{
	/* The upper 32 bits ask the kernel to append packet bytes itself (BPF_F_CTXLEN_MASK):
	 * no copy through the 512-byte stack, and it works on non-linear skbs. */
	__u64 flags = ((__u64)cap << 32) | BPF_F_CURRENT_CPU;

	s->hdr.time = bpf_ktime_get_boot_ns();
	if (bpf_perf_event_output(skb, &fw_events, flags, s, sizeof(s->hdr) + msg_size) < 0)
		fw_stat_inc(FW_STAT_OUTPUT_ERRORS);
	else
		fw_stat_inc(FW_STAT_EVENTS);
}

#endif /* FLOWWATCH_OUTPUT_H */
