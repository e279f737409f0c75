/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * prefilter.h: the part of the user's filters the kernel decides, so that traces nobody will
 * print are never written to the perf ring.
 *
 * User space derives it from its filters (FlowwatchCore KernelPrefilter) as a superset of what
 * they keep, and still applies the exact filters to everything that arrives: the prefilter can
 * only save work, never change the output. It decides traces only, after conntrack: every
 * packet still updates conntrack (and aggregation's report times), so state never depends on
 * the filter. Debug messages are not filtered here; user space loads the program with debug
 * off when its filters could never keep one (an address filter never does).
 *
 * API
 *   bool fw_addr_selected(const struct fw_packet *pkt)
 *       With fw_settings.addr_filter off: true (the verifier removes the test). Otherwise true
 *       when the packet's source address has a prefix in fw_addr_filter marked
 *       FW_ADDR_F_SOURCE or its destination one marked FW_ADDR_F_DESTINATION, and when the
 *       packet has no address the program could read (not IP, an 802.1Q tag in the frame,
 *       truncated): user space may still find one (it looks through VLAN tags), so the kernel
 *       cannot say no.
 *
 * Needs fw_addr_filter, fw_settings, parse.h and ipcache.h.
 */
#ifndef FLOWWATCH_PREFILTER_H
#define FLOWWATCH_PREFILTER_H

static __always_inline __u32 fw_addr_sides(__u8 family, const __u8 *addr)
{
	struct fw_ipcache_key key = {};
	struct fw_addr_filter_value *v;

	fw_ipcache_host_key(&key, family, addr);
	v = bpf_map_lookup_elem(&fw_addr_filter, &key);
	return v ? v->sides : 0;
}

/* A global function: checked once on its own, its lookups do not multiply the paths the
 * verifier walks after it. The call costs little next to the lookups, and only with the
 * prefilter on. */
__noinline int fw_addr_match(const struct fw_packet *pkt)
{
	const struct fw_tuple *t;

	/* Checked independently of its callers, so it may not assume a non-NULL packet. */
	if (!pkt || !pkt->has_saddr)
		return 1;
	t = &pkt->tuple;
	if (fw_addr_sides(t->family, t->saddr) & FW_ADDR_F_SOURCE)
		return 1;
	return (fw_addr_sides(t->family, t->daddr) & FW_ADDR_F_DESTINATION) != 0;
}

static __always_inline bool fw_addr_selected(const struct fw_packet *pkt)
{
	return !fw_settings.addr_filter || fw_addr_match(pkt);
}

#endif /* FLOWWATCH_PREFILTER_H */
