/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * parse.h: bounds-checked packet parsing into a conntrack tuple.
 *
 * API
 *   struct fw_tuple    addresses (IPv4 in the first 4 bytes, rest zero), ports (network order),
 *                      L4 protocol, family (FW_FAMILY_*), TCP flags byte (0 if not TCP).
 *   struct fw_packet   what fw_parse learnt about one packet.
 *   int fw_parse(struct __sk_buff *skb, __u32 l3_dev, struct fw_packet *pkt)
 *       Parses skb into *pkt, which the caller zeroes first, and returns pkt->tracked. l3_dev
 *       nonzero: the packet starts at the IP header and skb->protocol says which
 *       (FW_DEVICE_F_L3). Inline for the common case (TCP or UDP over IPv4 without options or
 *       IPv6 without extension headers, headers in the linear part); anything else goes to
 *       fw_parse_any, a BPF global function. On return:
 *         pkt->family     FW_FAMILY_IPV4/6 if the L3 protocol is IP, even if nothing more could be
 *                         read; 0 for ARP, VLAN-tagged frames, unknown ethertypes.
 *         pkt->has_saddr  pkt->tuple.saddr holds the IP source address (for orig_ip).
 *         pkt->tracked    the whole of pkt->tuple is valid. ICMP/ICMPv6 echo carry the identifier
 *                         in sport for requests and in dport for replies (Cilium's convention:
 *                         the reversed reply tuple equals the request tuple); other ICMP and
 *                         other L4 protocols have ports 0. Not set for non-first fragments,
 *                         truncated headers, more than FW_IPV6_MAX_EXT IPv6 extension headers.
 *         pkt->has_inner  the packet is an ICMP/ICMPv6 error and pkt->inner is the tuple of the
 *                         packet it quotes, as that packet was sent (same conventions).
 *       An untracked packet's tuple must not be looked up anywhere: it may be partial.
 *
 * The packet is never written. The common case reads the fields it needs in place; fw_parse_any
 * copies headers into stack buffers, the packet's own headers straight from the linear part when
 * they lie there (no helper call), anything else through bpf_skb_load_bytes, which works on
 * non-linear skbs and checks the bounds at run time. A failed read means the packet is shorter
 * than its headers claim.
 */
#ifndef FLOWWATCH_PARSE_H
#define FLOWWATCH_PARSE_H

/* <linux/icmp.h> includes <linux/if.h>, which pulls in glibc's <sys/socket.h>; that does not
 * build for -target bpf, so the few ICMPv4 numbers (RFC 792) are spelled out here. */
#define FW_ICMP_ECHOREPLY 0
#define FW_ICMP_DEST_UNREACH 3
#define FW_ICMP_SOURCE_QUENCH 4
#define FW_ICMP_REDIRECT 5
#define FW_ICMP_ECHO 8
#define FW_ICMP_TIME_EXCEEDED 11
#define FW_ICMP_PARAMETERPROB 12

#define FW_IP_OFFSET 0x1fff     /* IPv4 fragment offset bits */
#define FW_IP6_OFFSET 0xfff8    /* IPv6 fragment header offset bits */
#define FW_IPV6_MAX_EXT 4       /* extension headers walked before giving up */
#define FW_ICMP_HDR_LEN 8       /* an ICMP error quotes the packet right after this */
#define FW_DIRECT_MAX_OFF 1024  /* headers further in are read by bpf_skb_load_bytes */

#define FW_TCP_FLAG_FIN 0x01
#define FW_TCP_FLAG_SYN 0x02
#define FW_TCP_FLAG_RST 0x04
#define FW_TCP_FLAG_ACK 0x10
#define FW_TCP_FLAGS_OFF 13     /* byte of struct tcphdr holding CWR..FIN */

struct fw_tuple {
	__u8 saddr[16];
	__u8 daddr[16];
	__be16 sport;
	__be16 dport;
	__u8 nexthdr;
	__u8 family;
	__u8 tcp_flags;
	__u8 pad;
};

/* Aligned so zeroing it takes 8-byte stores, not 2-byte ones. */
struct fw_packet {
	struct fw_tuple tuple;
	struct fw_tuple inner;
	__u8 family;
	__u8 has_saddr;
	__u8 tracked;
	__u8 has_inner;
} __attribute__((aligned(8)));

/* The first 8 bytes of an ICMP or ICMPv6 header; also all an ICMP error promises to quote. */
struct fw_icmp_hdr {
	__u8 type;
	__u8 code;
	__be16 checksum;
	__be16 id;
	__be16 seq;
};

/* Result of parsing an IP header. */
enum fw_l3_result {
	FW_L3_OK = 0,       /* addresses, protocol and L4 offset known */
	FW_L3_NO_L4 = 1,    /* addresses known; no L4 header to read (later fragment, long chain) */
	FW_L3_INVALID = 2,  /* truncated or not the IP version announced */
};

/* skb->data or skb->data_end, read with an explicit load: clang would otherwise keep
 * &skb->data in a register across calls, and the verifier refuses a modified context pointer. */
#define FW_SKB_PTR(skb, field)                                                                   \
	({                                                                                       \
		void *p_;                                                                        \
		asm volatile("%0 = *(u32 *)(%1 + %2)"                                            \
			     : "=r"(p_)                                                          \
			     : "r"(skb), "i"(__builtin_offsetof(struct __sk_buff, field)));      \
		p_;                                                                              \
	})

/*
 * Copies len bytes at off to `to`. direct: try the linear part in place first, without a helper
 * call (the packet's own headers nearly always lie there). Only the headers every packet has
 * ask for it: each direct read doubles the paths the verifier walks, so the rare ones (IPv6
 * extensions, the packet an ICMP error quotes) go through the helper alone.
 */
static __always_inline bool fw_load(struct __sk_buff *skb, __u32 off, void *to, __u32 len,
				    bool direct)
{
	void *data = FW_SKB_PTR(skb, data);
	void *end = FW_SKB_PTR(skb, data_end);

	/* The bound on off is for the verifier. */
	if (direct && off <= FW_DIRECT_MAX_OFF && data + off + len <= end) {
		__builtin_memcpy(to, __builtin_assume_aligned(data + off, 4), len);
		return true;
	}
	return bpf_skb_load_bytes(skb, off, to, len) == 0;
}

static __always_inline enum fw_l3_result fw_parse_ipv4(struct __sk_buff *skb, __u32 off,
						       struct fw_tuple *t, __u32 *l4_off, bool quoted)
{
	struct iphdr ip;
	__u8 vihl;

	if (!fw_load(skb, off, &ip, sizeof(ip), !quoted))
		return FW_L3_INVALID;
	/* Byte 0 by hand: the bitfield order of struct iphdr depends on the host's endianness. */
	vihl = *(__u8 *)&ip;
	if ((vihl >> 4) != 4 || (vihl & 0xf) < 5)
		return FW_L3_INVALID;

	t->family = FW_FAMILY_IPV4;
	__builtin_memcpy(t->saddr, &ip.saddr, 4);
	__builtin_memcpy(t->daddr, &ip.daddr, 4);
	t->nexthdr = ip.protocol;
	if (ip.frag_off & bpf_htons(FW_IP_OFFSET))
		return FW_L3_NO_L4;
	*l4_off = off + (vihl & 0xf) * 4;
	return FW_L3_OK;
}

static __always_inline bool fw_ipv6_is_ext(__u8 nexthdr)
{
	return nexthdr == IPPROTO_HOPOPTS || nexthdr == IPPROTO_ROUTING ||
	       nexthdr == IPPROTO_DSTOPTS || nexthdr == IPPROTO_FRAGMENT;
}

static __always_inline enum fw_l3_result fw_parse_ipv6(struct __sk_buff *skb, __u32 off,
						       struct fw_tuple *t, __u32 *l4_off, bool quoted)
{
	struct ipv6hdr ip6;
	__u8 nexthdr;
	int i;

	if (!fw_load(skb, off, &ip6, sizeof(ip6), !quoted))
		return FW_L3_INVALID;
	if ((*(__u8 *)&ip6 >> 4) != 6)
		return FW_L3_INVALID;

	t->family = FW_FAMILY_IPV6;
	__builtin_memcpy(t->saddr, &ip6.saddr, 16);
	__builtin_memcpy(t->daddr, &ip6.daddr, 16);
	nexthdr = ip6.nexthdr;
	off += sizeof(ip6);

#pragma unroll
	for (i = 0; i < FW_IPV6_MAX_EXT; i++) {
		/* Hop-by-hop, routing and destination options share the layout
		 * {next header, length in 8-octet units not counting the first}; the fragment
		 * header is {next header, reserved, offset|flags, id} and always 8 bytes. */
		__u8 ext[4];

		if (!fw_ipv6_is_ext(nexthdr))
			break;
		if (!fw_load(skb, off, ext, sizeof(ext), false))
			return FW_L3_NO_L4;
		if (nexthdr == IPPROTO_FRAGMENT) {
			__be16 frag_off;

			__builtin_memcpy(&frag_off, &ext[2], sizeof(frag_off));
			if (frag_off & bpf_htons(FW_IP6_OFFSET)) {
				t->nexthdr = ext[0];
				return FW_L3_NO_L4;
			}
			off += 8;
		} else {
			off += ((__u32)ext[1] + 1) * 8;
		}
		nexthdr = ext[0];
	}
	t->nexthdr = nexthdr;
	if (fw_ipv6_is_ext(nexthdr))
		return FW_L3_NO_L4;
	*l4_off = off;
	return FW_L3_OK;
}

/* quoted: the header is inside an ICMP error (read through the helper only, see fw_load). */
static __always_inline enum fw_l3_result fw_parse_ip(struct __sk_buff *skb, __u8 family, __u32 off,
						     struct fw_tuple *t, __u32 *l4_off, bool quoted)
{
	if (family == FW_FAMILY_IPV4)
		return fw_parse_ipv4(skb, off, t, l4_off, quoted);
	return fw_parse_ipv6(skb, off, t, l4_off, quoted);
}

static __always_inline bool fw_icmp_is_error(__u8 family, __u8 type)
{
	if (family == FW_FAMILY_IPV4)
		return type == FW_ICMP_DEST_UNREACH || type == FW_ICMP_SOURCE_QUENCH ||
		       type == FW_ICMP_REDIRECT || type == FW_ICMP_TIME_EXCEEDED ||
		       type == FW_ICMP_PARAMETERPROB;
	return type == ICMPV6_DEST_UNREACH || type == ICMPV6_PKT_TOOBIG ||
	       type == ICMPV6_TIME_EXCEED || type == ICMPV6_PARAMPROB;
}

/*
 * Fills the ports (and TCP flags) of t from the L4 header at off. quoted: the header is inside
 * an ICMP error, and RFC 792 promises only its first 8 bytes, so TCP is read no further than
 * its ports.
 * *icmp_type is set for ICMP/ICMPv6, else left alone. False if the header is truncated.
 */
static __always_inline bool fw_parse_l4(struct __sk_buff *skb, __u32 off, struct fw_tuple *t,
					bool quoted, int *icmp_type)
{
	bool icmp = (t->family == FW_FAMILY_IPV4 && t->nexthdr == IPPROTO_ICMP) ||
		    (t->family == FW_FAMILY_IPV6 && t->nexthdr == IPPROTO_ICMPV6);

	if (icmp) {
		struct fw_icmp_hdr icmph;

		if (!fw_load(skb, off, &icmph, sizeof(icmph), !quoted))
			return false;
		*icmp_type = icmph.type;
		if ((t->family == FW_FAMILY_IPV4 && icmph.type == FW_ICMP_ECHO) ||
		    (t->family == FW_FAMILY_IPV6 && icmph.type == ICMPV6_ECHO_REQUEST))
			t->sport = icmph.id;
		else if ((t->family == FW_FAMILY_IPV4 && icmph.type == FW_ICMP_ECHOREPLY) ||
			 (t->family == FW_FAMILY_IPV6 && icmph.type == ICMPV6_ECHO_REPLY))
			t->dport = icmph.id;
		return true;
	}

	if (t->nexthdr == IPPROTO_TCP && !quoted) {
		struct tcphdr th;

		if (!fw_load(skb, off, &th, sizeof(th), true))
			return false;
		t->sport = th.source;
		t->dport = th.dest;
		t->tcp_flags = ((__u8 *)&th)[FW_TCP_FLAGS_OFF];
		return true;
	}

	if (t->nexthdr == IPPROTO_TCP || t->nexthdr == IPPROTO_UDP) {
		__be16 ports[2];

		if (!fw_load(skb, off, ports, sizeof(ports), !quoted))
			return false;
		t->sport = ports[0];
		t->dport = ports[1];
		return true;
	}

	/* Other protocols (SCTP, GRE, ESP, ...) are tracked by addresses and protocol alone:
	 * a verdict without ports beats none. (Cilium's own conntrack refuses them.) */
	return true;
}

/*
 * Every packet: zeroes *pkt, then parses what fw_parse promises. A global (non-static, not
 * inlined) function: the verifier checks it once, on its own, instead of once per parse outcome
 * in every caller path; that cuts the instructions it processes about fivefold. Callers see *pkt
 * as unknown data afterwards, which is what it is, and must pass initialised memory (the verifier
 * insists). (l3_dev is a __u32, not a bool: with a bool the verifier does half again as much
 * work.)
 */
__noinline int fw_parse_any(struct __sk_buff *skb, __u32 l3_dev, struct fw_packet *pkt)
{
	__u32 off = 0, l4_off = 0, inner_l4_off = 0;
	enum fw_l3_result l3;
	int icmp_type = -1;
	__be16 proto;

	/* Checked independently of its callers, so it may not assume a non-NULL, zeroed *pkt. */
	if (!pkt)
		return 0;
	__builtin_memset(pkt, 0, sizeof(*pkt));

	if (l3_dev) {
		proto = (__be16)skb->protocol;
	} else {
		struct ethhdr eth;

		if (!fw_load(skb, 0, &eth, sizeof(eth), true))
			return 0;
		/* An 802.1Q/802.1ad tag still in the frame hides the real ethertype; such
		 * frames are reported but not tracked (an offloaded tag is not in the frame). */
		proto = eth.h_proto;
		off = sizeof(eth);
	}

	if (proto == bpf_htons(ETH_P_IP))
		pkt->family = FW_FAMILY_IPV4;
	else if (proto == bpf_htons(ETH_P_IPV6))
		pkt->family = FW_FAMILY_IPV6;
	else
		return 0;

	l3 = fw_parse_ip(skb, pkt->family, off, &pkt->tuple, &l4_off, false);
	if (l3 == FW_L3_INVALID)
		return 0;
	pkt->has_saddr = 1;
	if (l3 != FW_L3_OK)
		return 0;
	if (!fw_parse_l4(skb, l4_off, &pkt->tuple, false, &icmp_type))
		return 0;
	pkt->tracked = 1;

	if (icmp_type < 0 || !fw_icmp_is_error(pkt->family, icmp_type))
		return 1;
	/* The quoted packet travelled the other way; parse it with the same rules so its tuple
	 * can be compared with conntrack entries. A quote we cannot read leaves the error
	 * tracked as plain ICMP (ports 0), which is still a true tuple. */
	if (fw_parse_ip(skb, pkt->family, l4_off + FW_ICMP_HDR_LEN, &pkt->inner, &inner_l4_off,
			true) != FW_L3_OK)
		return 1;
	if (!fw_parse_l4(skb, inner_l4_off, &pkt->inner, true, &icmp_type))
		return 1;
	pkt->has_inner = 1;
	return 1;
}

/*
 * The common case of fw_parse, inline: a call to fw_parse_any and its return cost more than
 * parsing these headers in place. Its few outcomes add little to the verifier's work; the rest
 * (options, extension headers, fragments, ICMP, headers beyond the linear part, other
 * protocols) is left to fw_parse_any, which starts over. Fills *pkt as fw_parse_any would;
 * false if it did not finish.
 */
static __always_inline bool fw_parse_common(struct __sk_buff *skb, __u32 l3_dev,
					    struct fw_packet *pkt)
{
	void *data = FW_SKB_PTR(skb, data);
	void *end = FW_SKB_PTR(skb, data_end);
	struct fw_tuple *t = &pkt->tuple;
	void *l3 = data, *l4;
	__be16 proto, *ports;
	__u8 nexthdr;

	if (l3_dev) {
		proto = (__be16)skb->protocol;
	} else {
		struct ethhdr *eth = data;

		if ((void *)(eth + 1) > end)
			return false;
		proto = eth->h_proto;
		l3 = eth + 1;
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;

		/* Version 4, no options; a later fragment has no L4 header. */
		if ((void *)(ip + 1) > end || *(__u8 *)ip != 0x45 ||
		    (ip->frag_off & bpf_htons(FW_IP_OFFSET)))
			return false;
		t->family = FW_FAMILY_IPV4;
		__builtin_memcpy(t->saddr, &ip->saddr, 4);
		__builtin_memcpy(t->daddr, &ip->daddr, 4);
		nexthdr = ip->protocol;
		l4 = ip + 1;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > end || (*(__u8 *)ip6 >> 4) != 6)
			return false;
		t->family = FW_FAMILY_IPV6;
		__builtin_memcpy(t->saddr, &ip6->saddr, 16);
		__builtin_memcpy(t->daddr, &ip6->daddr, 16);
		nexthdr = ip6->nexthdr;
		l4 = ip6 + 1;
	} else {
		return false;
	}

	if (nexthdr == IPPROTO_TCP) {
		if (l4 + sizeof(struct tcphdr) > end)
			return false;
		t->tcp_flags = ((__u8 *)l4)[FW_TCP_FLAGS_OFF];
	} else if (nexthdr != IPPROTO_UDP || l4 + 2 * sizeof(__be16) > end) {
		return false;
	}
	ports = l4;
	t->sport = ports[0];
	t->dport = ports[1];
	t->nexthdr = nexthdr;
	pkt->family = t->family;
	pkt->has_saddr = 1;
	pkt->tracked = 1;
	return true;
}

static __always_inline int fw_parse(struct __sk_buff *skb, __u32 l3_dev, struct fw_packet *pkt)
{
	if (fw_parse_common(skb, l3_dev, pkt))
		return 1;
	return fw_parse_any(skb, l3_dev, pkt);
}

#endif /* FLOWWATCH_PARSE_H */
