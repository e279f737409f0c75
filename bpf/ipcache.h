/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ipcache.h: security identities of addresses (fw_ipcache) and local endpoints (fw_endpoints),
 * both filled by user space from the agent's state.
 *
 * API
 *   void fw_ipcache_host_key(struct fw_ipcache_key *key, __u8 family, const __u8 *addr)
 *       Fills a zeroed key with addr as a host prefix (family included), the form both
 *       fw_ipcache and fw_addr_filter (prefilter.h) are looked up with. Here and below, addr is
 *       16 bytes: IPv4 in the first 4 and the rest zero (as struct fw_tuple holds it).
 *   __u32 fw_ipcache_identity(__u8 family, const __u8 *addr, bool *found)
 *       Longest-prefix match of addr in fw_ipcache. A miss is
 *       FW_IDENTITY_WORLD, as in Cilium: an address nobody claimed is outside the cluster.
 *       *found tells a miss from a prefix that maps to world.
 *   __u32 fw_resolve_identity(struct __sk_buff *skb, __u16 source, __u8 family,
 *                             const __u8 *addr, bool dbg)
 *       fw_ipcache_identity, and with dbg emits DBG_IP_ID_MAP_SUCCEED4/6 (addr, identity) or
 *       DBG_IP_ID_MAP_FAILED4/6 (addr) for it.
 *   const struct fw_endpoint *fw_endpoint_lookup(__u8 family, const __u8 *addr)
 *       The local endpoint that owns addr, or NULL.
 *
 * Needs fw_ipcache, fw_endpoints and dbg.h.
 */
#ifndef FLOWWATCH_IPCACHE_H
#define FLOWWATCH_IPCACHE_H

static __always_inline void fw_ipcache_host_key(struct fw_ipcache_key *key, __u8 family, const __u8 *addr)
{
	/* The family byte is part of the matched prefix so a v4 prefix never covers v6. The
	 * full length for both families: an IPv4 address comes zero-padded and no IPv4 prefix is
	 * longer than 32 bits, so the longest match is the one /32 would find, and no branch on
	 * the family doubles the paths the verifier walks after every lookup. */
	key->prefixlen = FW_IPCACHE_PREFIX_BASE + 128;
	key->family = family;
	__builtin_memcpy(key->addr, addr, 16);
}

static __always_inline __u32 fw_ipcache_identity(__u8 family, const __u8 *addr, bool *found)
{
	struct fw_ipcache_key key = {};
	struct fw_ipcache_value *v;

	fw_ipcache_host_key(&key, family, addr);
	v = bpf_map_lookup_elem(&fw_ipcache, &key);
	*found = v != NULL;
	return v ? v->identity : FW_IDENTITY_WORLD;
}

static __always_inline __u32 fw_resolve_identity(struct __sk_buff *skb, __u16 source, __u8 family,
						 const __u8 *addr, bool dbg)
{
	bool found;
	__u32 identity = fw_ipcache_identity(family, addr, &found);

	if (dbg && fw_dbg_enabled()) {
		__u32 tail = fw_addr_tail(addr, family);

		if (found)
			fw_dbg(skb, source,
			       family == FW_FAMILY_IPV4 ? FW_DBG_IP_ID_MAP_SUCCEED4
							: FW_DBG_IP_ID_MAP_SUCCEED6,
			       tail, identity);
		else
			fw_dbg(skb, source,
			       family == FW_FAMILY_IPV4 ? FW_DBG_IP_ID_MAP_FAILED4
							: FW_DBG_IP_ID_MAP_FAILED6,
			       tail, 0);
	}
	return identity;
}

static __always_inline const struct fw_endpoint *fw_endpoint_lookup(__u8 family, const __u8 *addr)
{
	struct fw_endpoint_key key = {};

	/* Zero-padded as the keys user space writes: all 16 bytes, whatever the family. */
	key.family = family;
	__builtin_memcpy(key.addr, addr, 16);
	return bpf_map_lookup_elem(&fw_endpoints, &key);
}

#endif /* FLOWWATCH_IPCACHE_H */
