// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * flowwatch datapath: observes packets at tc/tcx on lxc*, cilium_host and network devices and
 * reports them the way Cilium's datapath would (trace notifications, debug messages), without
 * ever changing a packet or a verdict.
 *
 * Programs: fw_ingress and fw_egress (SEC("tc")), attached at the two hooks of every observed
 * device. Both always return TC_ACT_UNSPEC, which is TCX_NEXT under tcx and "continue with the
 * next filter" under cls_bpf direct-action, so whatever else is attached decides.
 *
 * Per packet, on a device listed in fw_devices(_far) (see fw_observe for the table of observation
 * points): parse (parse.h), conntrack (conntrack.h), source identity (for a new entry or a
 * trace), destination identity and local delivery (ipcache.h), then one trace notification
 * (trace.h) unless monitor aggregation (fw_settings.aggregation, trace.h fw_trace_wanted) or the
 * address prefilter (fw_settings.addr_filter, prefilter.h) leaves it out. With fw_settings.debug
 * the debug messages (dbg.h) come in Cilium's order:
 *   CT_LOOKUP*_1, CT_LOOKUP*_2, [CT_MATCH], CT_VERDICT, [IP_ID_MAP_* at from-* points],
 *   [CT_CREATED* for NEW], [LOCAL_DELIVERY at from-* points], trace.
 * Untracked packets (non-IP, VLAN-tagged, later fragments, truncated) get only the trace, with
 * reason unknown and the identities the device itself vouches for.
 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/icmpv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "events.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* ---- Maps (names and layouts: events.h) ---- */

/* max_entries left 0: libbpf sizes it to the number of possible CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} fw_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FW_DEVICE_SLOTS);
	__type(key, __u32);
	__type(value, struct fw_device);
} fw_devices SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FW_DEVICES_FAR_MAX);
	__type(key, __u32);
	__type(value, struct fw_device);
} fw_devices_far SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct fw_endpoint_key);
	__type(value, struct fw_endpoint);
} fw_endpoints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fw_ipcache_key);
	__type(value, struct fw_ipcache_value);
} fw_ipcache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct fw_ct_key);
	__type(value, struct fw_ct_entry);
} fw_ct SEC(".maps");

/* output.h's sample buffer, per CPU; private to the program. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fw_sample);
} fw_samples SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, FW_ADDR_FILTER_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fw_ipcache_key);
	__type(value, struct fw_addr_filter_value);
} fw_addr_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FW_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} fw_stats SEC(".maps");

/* Lets a test build start with debug on without rewriting .rodata; user space normally sets it. */
#ifndef FW_DEBUG_DEFAULT
#define FW_DEBUG_DEFAULT 0
#endif

/* In .rodata: user space rewrites it before load, then the verifier sees constants and drops
 * the branches of disabled features. */
const volatile struct fw_settings fw_settings = {
	.capture_len = FW_DEFAULT_CAPTURE_LEN,
	.debug = FW_DEBUG_DEFAULT,
	.aggregation = FW_AGGREGATION_NONE,
	.aggregation_interval = FW_DEFAULT_AGGREGATION_INTERVAL,
	.addr_filter = 0,
};

#include "output.h"
#include "dbg.h"
#include "parse.h"
#include "conntrack.h"
#include "ipcache.h"
#include "trace.h"
#include "prefilter.h"

static __always_inline int fw_observe(struct __sk_buff *skb, bool egress)
{
	__u32 ifindex = skb->ifindex;
	const struct fw_device *dev;
	struct fw_trace_args trace = {};
	struct fw_packet pkt = {}; /* fw_parse wants it zeroed */
	__u32 dev_identity;
	bool src_is_dev, dst_is_dev, from, l3_dev, quiet, report = true;
	__u8 dir;

	if (ifindex < FW_DEVICE_SLOTS) {
		dev = bpf_map_lookup_elem(&fw_devices, &ifindex);
		/* Keeps clang from merging the two lookups into one call on a chosen map: the
		 * verifier inlines an array lookup only where the call sees a single map. */
		asm volatile("" : "+r"(dev));
	} else {
		dev = bpf_map_lookup_elem(&fw_devices_far, &ifindex);
	}
	if (!dev)
		return TC_ACT_UNSPEC;

	/*
	 * role     hook     observation point  CT dir   device vouches for
	 * LXC      ingress  from-endpoint      EGRESS   source (the pod sends)
	 * LXC      egress   to-endpoint        INGRESS  destination (the pod receives)
	 * HOST     ingress  to-host            INGRESS  -
	 * HOST     egress   from-host          EGRESS   source (the host sends)
	 * NETWORK  ingress  from-network       INGRESS  -
	 * NETWORK  egress   to-network         EGRESS   -
	 * A veth's ingress hook sees what the pod sent, hence LXC's inverted directions.
	 */
	switch (dev->role) {
	case FW_ROLE_LXC:
		trace.obs_point = egress ? FW_TRACE_TO_LXC : FW_TRACE_FROM_LXC;
		dir = egress ? FW_CT_INGRESS : FW_CT_EGRESS;
		break;
	case FW_ROLE_HOST:
		trace.obs_point = egress ? FW_TRACE_FROM_HOST : FW_TRACE_TO_HOST;
		dir = egress ? FW_CT_EGRESS : FW_CT_INGRESS;
		break;
	case FW_ROLE_NETWORK:
		trace.obs_point = egress ? FW_TRACE_TO_NETWORK : FW_TRACE_FROM_NETWORK;
		dir = egress ? FW_CT_EGRESS : FW_CT_INGRESS;
		break;
	default:
		/* FW_ROLE_NONE (a zeroed entry) or a role this object does not know. */
		return TC_ACT_UNSPEC;
	}
	fw_stat_inc(FW_STAT_PACKETS);

	from = trace.obs_point == FW_TRACE_FROM_LXC || trace.obs_point == FW_TRACE_FROM_HOST ||
	       trace.obs_point == FW_TRACE_FROM_NETWORK;
	src_is_dev = trace.obs_point == FW_TRACE_FROM_LXC || trace.obs_point == FW_TRACE_FROM_HOST;
	dst_is_dev = trace.obs_point == FW_TRACE_TO_LXC;
	l3_dev = dev->flags & FW_DEVICE_F_L3;
	dev_identity = dev->identity;
	trace.source = dev->endpoint_id;
	trace.src_label = src_is_dev ? dev_identity : FW_IDENTITY_UNKNOWN;
	trace.dst_label = dst_is_dev ? dev_identity : FW_IDENTITY_UNKNOWN;
	trace.dst_id = dst_is_dev ? trace.source : 0;
	trace.reason = FW_TRACE_REASON_UNKNOWN;

	fw_parse(skb, l3_dev, &pkt);
	/* Decided now, acted on only at the trace: conntrack must see the packet either way. */
	quiet = !fw_addr_selected(&pkt);

	trace.flags = (pkt.family == FW_FAMILY_IPV6 ? FW_CLS_FLAG_IPV6 : 0) |
		      (l3_dev ? FW_CLS_FLAG_L3_DEV : 0);

	if (pkt.tracked) {
		const struct fw_tuple *t = &pkt.tuple;
		const struct fw_endpoint *ep;
		struct fw_ct_result ct;
		bool created = false, shown;

		fw_ct_process(skb, trace.source, &pkt, dir, &ct);
		trace.reason = ct.verdict; /* enum fw_ct_status == enum fw_trace_reason 0..3 */
		report = ct.report;
		/* Aggregated away or filtered out, and no debug message to come: the identities and
		 * the endpoint would only fill a trace that is not sent. The source's (an LPM
		 * lookup) is still needed by a new entry. */
		shown = fw_dbg_enabled() || (!quiet && fw_trace_wanted(&trace, report));
		if (!src_is_dev && (shown || ct.verdict == FW_CT_NEW))
			trace.src_label = fw_resolve_identity(skb, trace.source, t->family,
							      t->saddr, false);
		if (ct.verdict == FW_CT_NEW)
			created = fw_ct_create(skb, &pkt, dir, trace.src_label, ct.now);
		if (!shown)
			goto out;

		ep = from ? fw_endpoint_lookup(t->family, t->daddr) : NULL;
		/* A local endpoint's identity is its own: the ipcache is asked for anyone else,
		 * and for the IP_ID_MAP debug message Cilium prints before local delivery. */
		if (!dst_is_dev && (!ep || fw_dbg_enabled()))
			trace.dst_label = fw_resolve_identity(skb, trace.source, t->family,
							      t->daddr, from);
		if (created)
			fw_ct_dbg_created(skb, trace.source, t->family, trace.src_label);

		if (ep) {
			fw_dbg(skb, trace.source, FW_DBG_LOCAL_DELIVERY, ep->id, trace.src_label);
			trace.dst_id = ep->id;
			trace.dst_label = ep->identity;
		}
	}

out:
	/* Counted after aggregation: what the prefilter saved is what would have been sent. */
	if (fw_trace_wanted(&trace, report)) {
		if (quiet)
			fw_stat_inc(FW_STAT_FILTERED);
		else
			fw_send_trace_notify(skb, &trace, pkt.has_saddr ? pkt.tuple.saddr : NULL);
	}
	return TC_ACT_UNSPEC;
}

SEC("tc")
int fw_ingress(struct __sk_buff *skb)
{
	return fw_observe(skb, false);
}

SEC("tc")
int fw_egress(struct __sk_buff *skb)
{
	return fw_observe(skb, true);
}
