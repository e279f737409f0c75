/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * dbg.h: debug messages (Cilium's cilium_dbg / cilium_dbg3, bpf/lib/dbg.h).
 *
 * API
 *   bool fw_dbg_enabled(void)
 *       True if the object was loaded with fw_settings.debug set (`-v`).
 *   void fw_dbg3(struct __sk_buff *skb, __u16 source, __u8 type, __u32 arg1, __u32 arg2, __u32 arg3)
 *       Emits a struct fw_debug_msg: subtype `type` (enum fw_dbg_type; events.h says what each
 *       argument holds), `source` = endpoint id of the observing device (0 for network devices),
 *       hash = skb->hash. No packet bytes follow the message.
 *   void fw_dbg(struct __sk_buff *skb, __u16 source, __u8 type, __u32 arg1, __u32 arg2)
 *       fw_dbg3 with arg3 = 0.
 *   __u32 fw_addr_tail(const __u8 *addr, __u8 family)
 *       An address as debug messages carry it: IPv4 whole, IPv6 its last 4 bytes; network
 *       byte order in memory (FW_FAMILY_IPV4: addr[0..3], else addr[12..15]).
 *
 * With debug off every call is a no-op that costs nothing at run time: fw_settings lives in
 * frozen .rodata, so the verifier knows the value and removes the branch. Callers that compute
 * arguments only for a message should test fw_dbg_enabled() themselves.
 *
 * Needs fw_settings and output.h.
 */
#ifndef FLOWWATCH_DBG_H
#define FLOWWATCH_DBG_H

static __always_inline bool fw_dbg_enabled(void)
{
	return fw_settings.debug != 0;
}

static __always_inline void fw_dbg3(struct __sk_buff *skb, __u16 source, __u8 type, __u32 arg1,
				    __u32 arg2, __u32 arg3)
{
	struct fw_sample *s;

	if (!fw_dbg_enabled())
		return;
	s = fw_sample_begin();
	if (!s)
		return;
	s->debug.common.type = FW_NOTIFY_DBG_MSG;
	s->debug.common.subtype = type;
	s->debug.common.source = source;
	s->debug.common.hash = skb->hash;
	s->debug.arg1 = arg1;
	s->debug.arg2 = arg2;
	s->debug.arg3 = arg3;
	fw_output(skb, 0, s, sizeof(s->debug));
}

static __always_inline void fw_dbg(struct __sk_buff *skb, __u16 source, __u8 type, __u32 arg1,
				   __u32 arg2)
{
	fw_dbg3(skb, source, type, arg1, arg2, 0);
}

static __always_inline __u32 fw_addr_tail(const __u8 *addr, __u8 family)
{
	/* Left in network order: Cilium's decoder prints the u32's bytes as they lie. */
	__u32 v;

	if (family == FW_FAMILY_IPV4)
		__builtin_memcpy(&v, addr, 4);
	else
		__builtin_memcpy(&v, addr + 12, 4);
	return v;
}

#endif /* FLOWWATCH_DBG_H */
