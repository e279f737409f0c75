/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * conntrack.h: connection tracking of observed packets (after Cilium's bpf/lib/conntrack.h).
 *
 * Entries are scoped to one device (zone = ifindex) and one direction, like Cilium's
 * per-endpoint tables: a pod-to-pod flow has an entry at the sender's lxc device (created
 * at its ingress, CT_EGRESS) and one at the receiver's (created at its egress, CT_INGRESS).
 * flowwatch only observes, so the table never decides anything; it gives each packet the verdict
 * Cilium would print and keeps what monitor aggregation needs (flags seen, last report).
 *
 * API
 *   __u32 fw_mono_now(void)
 *       Seconds of the monotonic clock, the unit of fw_ct_entry.lifetime and last_*_report.
 *   struct fw_ct_result
 *       verdict  enum fw_ct_status
 *       now      fw_mono_now() of this packet, for fw_ct_create
 *       report   worth a trace under monitor aggregation at medium and up (Cilium's
 *                `monitor` from ct_lookup): a new connection, TCP flags not seen before in
 *                this direction (all eight: Helm's monitorFlags "all"), any FIN or RST (Cilium's
 *                ACTION_CLOSE), an ICMP error (RELATED), or more than aggregation_interval
 *                seconds since this direction's last report (CT_REPORT_INTERVAL)
 *   void fw_ct_process(struct __sk_buff *skb, __u16 source, const struct fw_packet *pkt,
 *                      __u8 dir, struct fw_ct_result *res)
 *       Looks pkt->tuple (pkt->tracked must be set) up for device skb->ifindex in direction dir
 *       (enum fw_ct_dir) and updates the entry, first match wins:
 *         ICMP error whose quoted tuple has an entry      -> RELATED (entry left alone)
 *         entry for the tuple in dir                      -> ESTABLISHED
 *         entry for the reversed tuple in the other dir   -> REPLY
 *         otherwise                                       -> NEW: the caller creates the entry
 *                                                            with fw_ct_create
 *       An expired entry counts as missing. A TCP SYN (no ACK) on a fully closed entry starts a
 *       new connection: NEW, the entry is reset (or, if it was the reverse one, deleted).
 *       Lifetimes: TCP FW_CT_SYN_TIMEOUT until a packet without SYN is seen, then
 *       FW_CT_LIFETIME_TCP, FW_CT_CLOSE_TIMEOUT once both sides sent FIN (or anyone RST);
 *       other protocols FW_CT_LIFETIME_NONTCP; refreshed by every packet that matches.
 *       Emits DBG_CT_LOOKUP*_1, _2, DBG_CT_MATCH (when an entry matched; its lifetime before
 *       this packet refreshed it) and DBG_CT_VERDICT.
 *   int fw_ct_create(struct __sk_buff *skb, const struct fw_packet *pkt, __u32 dir,
 *                    __u32 src_identity, __u32 now)
 *       Writes the entry of a NEW packet (fw_ct_process said so) with src_identity; 0 if the
 *       table could not take it (the packet is still NEW). Separate so the caller looks the
 *       source's identity up only for packets that create an entry or are traced.
 *   void fw_ct_dbg_created(struct __sk_buff *skb, __u16 source, __u8 family, __u32 src_identity)
 *       Emits DBG_CT_CREATED4/6. Separate because Cilium prints it after the destination's
 *       identity lookup, which happens after the CT verdict.
 *
 * Concurrency: entries are read and written without locks from every CPU. Counters use atomic
 * adds; flags, lifetimes and report times are plain stores, so two CPUs updating one entry at
 * once may lose a flag bit or a refresh, and two CPUs may both create the same entry (the last
 * write wins). For an observer that is acceptable: the worst case is one packet reported with
 * a slightly different verdict or a report that aggregation would have suppressed. LRU eviction
 * under pressure likewise turns a long-lived connection into NEW again.
 *
 * Cost: what every established packet runs is inline (a BPF-to-BPF call and its return cost
 * more on a VM with return thunks than most of what the call would do); the rare paths
 * (RELATED, creating an entry) are BPF global functions, checked once by the verifier instead of
 * on every path that reaches them.
 *
 * Needs fw_ct, fw_settings, dbg.h and parse.h.
 */
#ifndef FLOWWATCH_CONNTRACK_H
#define FLOWWATCH_CONNTRACK_H

#define FW_NSEC_PER_SEC 1000000000ULL

struct fw_ct_result {
	__u8 verdict;
	__u8 report;
	__u8 pad[2];
	__u32 now;
};

/* The second fw_mono_now last computed (upper 32 bits) and the low 32 bits of the jiffies it
 * was computed at: one word, so a reader never sees one half without the other. Shared by every
 * CPU and private to the program; written once a tick at most. */
static __u64 fw_clock_cache;

static __always_inline __u32 fw_mono_now(void)
{
	/* The coarse clock is the time of the last tick, read without touching the clock source
	 * (reading the TSC costs more than the rest of conntrack on a VM with retpolines), and
	 * seconds need no better. It is monotonic, so it stops in suspend, as Cilium's
	 * bpf_mono_now (jiffies) does. Even the coarse read is a helper call of ~20 ns, so the
	 * answer is kept until the tick changes: jiffies (which the verifier inlines) and the cache
	 * are two plain loads. Inline: a BPF-to-BPF call and its return cost more than that. */
	__u64 cached = fw_clock_cache;
	__u32 tick = (__u32)bpf_jiffies64();

	/* 0 is the cache before its first write, whatever the tick. */
	if ((__u32)cached != tick || !cached) {
		cached = ((bpf_ktime_get_coarse_ns() / FW_NSEC_PER_SEC) << 32) | tick;
		fw_clock_cache = cached;
	}
	return cached >> 32;
}

/* reverse is 0 or 1: saddr and daddr, and sport and dport, lie next to each other in struct
 * fw_tuple, so reversing picks the other of each pair by offset instead of by branch (each
 * branch on it would have the verifier follow both orders through the rest of conntrack). */
static __always_inline void fw_ct_key_init(struct fw_ct_key *key, const struct fw_tuple *t,
					   __u32 reverse, __u8 dir, __u32 zone)
{
	const __u8 *addrs = (const __u8 *)t + __builtin_offsetof(struct fw_tuple, saddr);
	const __be16 *ports = (const __be16 *)((const __u8 *)t + __builtin_offsetof(struct fw_tuple, sport));

	__builtin_memset(key, 0, sizeof(*key));
	__builtin_memcpy(key->saddr, addrs + 16 * reverse, 16);
	__builtin_memcpy(key->daddr, addrs + 16 * (reverse ^ 1), 16);
	key->sport = ports[reverse];
	key->dport = ports[reverse ^ 1];
	key->nexthdr = t->nexthdr;
	key->family = t->family;
	key->dir = dir;
	/* Cilium flags lookups made on the way out of an endpoint TUPLE_F_IN and the rest
	 * TUPLE_F_OUT; kept so the debug output matches (`flags=1` from a pod, `flags=0` to it).
	 * By arithmetic (the values are asserted below): dir may be computed from reverse. */
	key->flags = dir ^ FW_TUPLE_F_IN;
	key->zone = zone;
}

_Static_assert(FW_CT_EGRESS == 0 && FW_CT_INGRESS == 1 && FW_TUPLE_F_IN == 1 && FW_TUPLE_F_OUT == 0,
	       "fw_ct_key_init's flags and fw_ct_process's dir ^ reverse");
_Static_assert(__builtin_offsetof(struct fw_tuple, daddr) == __builtin_offsetof(struct fw_tuple, saddr) + 16 &&
	       __builtin_offsetof(struct fw_tuple, dport) == __builtin_offsetof(struct fw_tuple, sport) + 2,
	       "fw_ct_key_init picks addresses and ports by offset");
_Static_assert(__builtin_offsetof(struct fw_ct_entry, rx_flags_seen) ==
		       __builtin_offsetof(struct fw_ct_entry, tx_flags_seen) + 1 &&
	       __builtin_offsetof(struct fw_ct_entry, last_rx_report) ==
		       __builtin_offsetof(struct fw_ct_entry, last_tx_report) + 4 &&
	       (FW_CT_F_TX_CLOSING >> 1) == FW_CT_F_RX_CLOSING,
	       "fw_ct_refresh picks the reply direction's fields by offset");

static __always_inline __u8 fw_ct_other_dir(__u8 dir)
{
	return dir == FW_CT_EGRESS ? FW_CT_INGRESS : FW_CT_EGRESS;
}

static __always_inline bool fw_ct_alive(const struct fw_ct_entry *e, __u32 now)
{
	return e->lifetime >= now;
}

static __always_inline bool fw_ct_closed(const struct fw_ct_entry *e)
{
	return (e->flags & (FW_CT_F_RX_CLOSING | FW_CT_F_TX_CLOSING)) ==
	       (FW_CT_F_RX_CLOSING | FW_CT_F_TX_CLOSING);
}

/*
 * Refreshes the lifetime and flags of e for a packet in the forward (!reply) or reply
 * direction; returns whether the packet is worth a report under monitor aggregation, and if
 * so restarts that direction's interval (Cilium's __ct_update_timeout and ACTION_CLOSE).
 */
static __always_inline bool fw_ct_refresh(struct fw_ct_entry *e, const struct fw_tuple *t,
					  __u32 reply, __u32 now)
{
	/* reply (0 or 1) picks the direction's field by offset, as fw_ct_key_init does. */
	__u8 *seen = &e->tx_flags_seen + reply;
	__u32 *last = &e->last_tx_report + reply;
	__u32 lifetime = now + FW_CT_LIFETIME_NONTCP;
	bool report = false;

	if (t->nexthdr == IPPROTO_TCP) {
		__u8 flags = e->flags;

		if (!(t->tcp_flags & FW_TCP_FLAG_SYN))
			flags |= FW_CT_F_SEEN_NON_SYN;
		if (t->tcp_flags & FW_TCP_FLAG_RST)
			flags |= FW_CT_F_RX_CLOSING | FW_CT_F_TX_CLOSING;
		else if (t->tcp_flags & FW_TCP_FLAG_FIN)
			flags |= FW_CT_F_TX_CLOSING >> reply; /* FW_CT_F_RX_CLOSING for a reply */
		/* Only store on change: the line is shared by every CPU that sees the flow. */
		if (flags != e->flags)
			e->flags = flags;

		if ((flags & (FW_CT_F_RX_CLOSING | FW_CT_F_TX_CLOSING)) ==
		    (FW_CT_F_RX_CLOSING | FW_CT_F_TX_CLOSING))
			lifetime = now + FW_CT_CLOSE_TIMEOUT;
		else if (flags & FW_CT_F_SEEN_NON_SYN)
			lifetime = now + FW_CT_LIFETIME_TCP;
		else
			lifetime = now + FW_CT_SYN_TIMEOUT;

		if ((*seen | t->tcp_flags) != *seen) {
			*seen |= t->tcp_flags;
			report = true;
		}
		if (t->tcp_flags & (FW_TCP_FLAG_FIN | FW_TCP_FLAG_RST))
			report = true;
	}
	/* As the flags: the lifetime counts seconds, so it changes about once a second. */
	if (lifetime != e->lifetime)
		e->lifetime = lifetime;

	/* Strictly more, as Cilium's `last_report + CT_REPORT_INTERVAL < now`: the clock counts
	 * whole seconds, so this keeps reports at least an interval apart. */
	if (now - *last > fw_settings.aggregation_interval)
		report = true;
	if (report)
		*last = now;
	return report;
}

static __always_inline void fw_ct_account(struct fw_ct_entry *e, __u32 len)
{
	__sync_fetch_and_add(&e->packets, 1);
	__sync_fetch_and_add(&e->bytes, len);
}

static __always_inline void fw_ct_dbg_match(struct __sk_buff *skb, __u16 source,
					    const struct fw_ct_entry *e)
{
	if (fw_dbg_enabled())
		fw_dbg(skb, source, FW_DBG_CT_MATCH, e->lifetime, e->rev_nat_index);
}

/*
 * RELATED: whether an entry of this device matches the tuple an ICMP error quotes (and if so,
 * emits its DBG_CT_MATCH). A quoted tuple is a packet sent the other way: as quoted it belongs
 * to an entry of the opposite direction; reversed, to one of this direction (when the quoted
 * packet was itself a reply). A global function: errors are rare, and checked once on its own
 * its lookups do not multiply the paths the verifier walks for every other packet.
 */
__noinline int fw_ct_related(struct __sk_buff *skb, __u32 source, const struct fw_tuple *inner,
			     __u32 dir, __u32 now)
{
	__u32 zone = skb->ifindex;
	struct fw_ct_entry *e;
	struct fw_ct_key key;

	/* Checked independently of its callers, so it may not assume a non-NULL tuple. */
	if (!inner)
		return 0;
	fw_ct_key_init(&key, inner, false, fw_ct_other_dir(dir), zone);
	e = bpf_map_lookup_elem(&fw_ct, &key);
	if (!e || !fw_ct_alive(e, now)) {
		fw_ct_key_init(&key, inner, true, dir, zone);
		e = bpf_map_lookup_elem(&fw_ct, &key);
		if (!e || !fw_ct_alive(e, now))
			return 0;
	}
	fw_ct_dbg_match(skb, source, e);
	return 1;
}

static __always_inline void fw_ct_process(struct __sk_buff *skb, __u16 source,
					  const struct fw_packet *pkt, __u8 dir, struct fw_ct_result *res)
{
	const struct fw_tuple *t = &pkt->tuple;
	__u32 zone = skb->ifindex;
	__u32 now = fw_mono_now();
	bool syn_open = t->nexthdr == IPPROTO_TCP &&
			(t->tcp_flags & (FW_TCP_FLAG_SYN | FW_TCP_FLAG_ACK)) == FW_TCP_FLAG_SYN;
	/* Which of the two entries is looked up first (see below): 1 if sport < dport. */
	__u64 sport = bpf_ntohs(t->sport), dport = bpf_ntohs(t->dport);
	__u32 reverse;
	struct fw_ct_entry *e;
	struct fw_ct_key key;

	res->verdict = FW_CT_NEW;
	res->report = 1;
	res->now = now;

	if (fw_dbg_enabled()) {
		__u32 ports;

		fw_ct_key_init(&key, t, false, dir, zone);
		ports = ((__u32)bpf_ntohs(key.dport) << 16) | bpf_ntohs(key.sport);
		fw_dbg3(skb, source,
			t->family == FW_FAMILY_IPV4 ? FW_DBG_CT_LOOKUP4_1 : FW_DBG_CT_LOOKUP6_1,
			fw_addr_tail(key.saddr, t->family), fw_addr_tail(key.daddr, t->family), ports);
		fw_dbg3(skb, source,
			t->family == FW_FAMILY_IPV4 ? FW_DBG_CT_LOOKUP4_2 : FW_DBG_CT_LOOKUP6_2,
			((__u32)key.nexthdr << 8) | key.flags, key.dir, 0);
	}

	/* RELATED goes first: an ICMP error about a tracked flow is related to that flow even
	 * if an earlier, unrelated error between the same hosts left a plain ICMP entry. */
	if (pkt->has_inner && fw_ct_related(skb, source, &pkt->inner, dir, now)) {
		/* The entry is left alone, so there is no interval to keep: errors are rare and
		 * each one says something, report them all. */
		res->verdict = FW_CT_RELATED;
		goto out;
	}

	/*
	 * The entry for the tuple in dir (ESTABLISHED) or for the reversed tuple in the other
	 * direction (REPLY). Never both are alive: fw_ct_create writes one only when the other
	 * is not (missing, expired, or deleted below), and entries do not come back to life.
	 * So the first alive one found is the one, whichever is asked first, and the order only
	 * decides how many lookups a packet costs: replies usually come from the lower port (the
	 * server's; an echo reply has its identifier in dport), so those look the reverse up first.
	 * (Two CPUs creating both at once break the rule; the race is the one described above.)
	 * Arithmetic, not a comparison: a branch on reverse would have the verifier follow both
	 * orders separately through everything after. The barrier keeps clang from turning it
	 * back into one.
	 */
	asm volatile("" : "+r"(sport));
	reverse = (sport - dport) >> 63;
	fw_ct_key_init(&key, t, reverse, dir ^ reverse, zone); /* the other direction if reversed */
	e = bpf_map_lookup_elem(&fw_ct, &key);
	if (!e || !fw_ct_alive(e, now)) {
		reverse ^= 1;
		fw_ct_key_init(&key, t, reverse, dir ^ reverse, zone);
		e = bpf_map_lookup_elem(&fw_ct, &key);
		if (!e || !fw_ct_alive(e, now))
			goto out;
	}
	if (syn_open && fw_ct_closed(e)) {
		/* A new connection on a closed one: NEW, and fw_ct_create overwrites a forward
		 * entry. A reverse one (the peer reopens the other way round) would make the new
		 * connection's replies look established: it goes. */
		if (reverse)
			bpf_map_delete_elem(&fw_ct, &key);
		goto out;
	}
	fw_ct_dbg_match(skb, source, e);
	fw_ct_account(e, skb->len);
	res->report = fw_ct_refresh(e, t, reverse, now);
	res->verdict = FW_CT_ESTABLISHED + reverse; /* FW_CT_REPLY for the reverse */

out:
	fw_dbg(skb, source, FW_DBG_CT_VERDICT, res->verdict, 0);
}

/* A global function, as fw_ct_related: one new connection is worth a call, and the refresh it
 * seeds the entry with is then checked once instead of on every path that can create. */
__noinline int fw_ct_create(struct __sk_buff *skb, const struct fw_packet *pkt, __u32 dir,
			    __u32 src_identity, __u32 now)
{
	struct fw_ct_entry ne = {};
	struct fw_ct_key key;

	if (!pkt)
		return 0;
	ne.src_identity = src_identity;
	ne.packets = 1;
	ne.bytes = skb->len;
	/* Seeds tx_flags_seen, lifetime and last_tx_report as for any forward packet. */
	fw_ct_refresh(&ne, &pkt->tuple, false, now);
	fw_ct_key_init(&key, &pkt->tuple, false, dir, skb->ifindex);
	/* Overwrites an expired entry or one a new SYN reopened. If the table cannot take it,
	 * the packet is still NEW; only the "created" message is not sent. */
	return bpf_map_update_elem(&fw_ct, &key, &ne, BPF_ANY) == 0;
}

static __always_inline void fw_ct_dbg_created(struct __sk_buff *skb, __u16 source, __u8 family,
					      __u32 src_identity)
{
	fw_dbg3(skb, source, family == FW_FAMILY_IPV4 ? FW_DBG_CT_CREATED4 : FW_DBG_CT_CREATED6, 0,
		src_identity, 0);
}

#endif /* FLOWWATCH_CONNTRACK_H */
