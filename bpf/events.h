/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The ABI between bpf/flowwatch.bpf.c and the Swift consumer.
 *
 * Everything that crosses the kernel/user boundary is declared here and only here: the notify
 * messages written to the perf event array (Cilium's layouts, bpf/lib/notify.h, trace.h, dbg.h,
 * drop.h), the maps user space fills (devices, endpoints, ipcache), the conntrack map it may
 * read, the counters and the load-time settings. Swift imports this file through the
 * CFlowwatchABI target; Tests/FlowwatchDatapathTests checks the imported sizes and offsets, and
 * the _Static_asserts at the end check them here.
 *
 * Integers are host byte order unless typed __be16/__be32 or named addr (network order bytes).
 * The kernel timestamp of an event is not in the message: each perf sample starts with it
 * (struct fw_sample_hdr) and the message follows, byte-compatible with Cilium's.
 */
#ifndef FLOWWATCH_EVENTS_H
#define FLOWWATCH_EVENTS_H

#include <linux/types.h>

/* ---- Message types (byte 0 of every message; Cilium pkg/monitor/api/types.go) ---- */
enum fw_notify_type {
	FW_NOTIFY_UNSPEC = 0,
	FW_NOTIFY_DROP = 1,
	FW_NOTIFY_DBG_MSG = 2,
	FW_NOTIFY_DBG_CAPTURE = 3,
	FW_NOTIFY_TRACE = 4,
};

/*
 * Every perf sample the program writes: this header, then one message (and after a message
 * with a capture header, len_cap packet bytes). The time is CLOCK_BOOTTIME as the program
 * wrote the sample (bpf_ktime_get_boot_ns). It is here rather than in the perf record
 * (PERF_SAMPLE_TIME) because that costs about twice as much per sample: the kernel then runs
 * its general sample-preparation path and calls the clock through a function pointer
 * (`fwbench output-floor` measures both). User space strips it, so recordings hold the
 * messages alone and the time beside them, as before.
 */
struct fw_sample_hdr {
	__u64 time;
};

#define FW_NOTIFY_TRACE_VER 2   /* 56-byte trace_notify with orig IP and ip_trace_id */
#define FW_NOTIFY_DROP_VER 3    /* 48-byte drop_notify */
#define FW_NOTIFY_CAPTURE_VER 1

/* NOTIFY_COMMON_HDR */
struct fw_notify_hdr {
	__u8 type;
	__u8 subtype;   /* observation point, DBG_*, DBG_CAPTURE_* or drop reason */
	__u16 source;   /* endpoint id of the device that emitted it, 0 if none */
	__u32 hash;     /* skb->hash as the packet carried it ("MARK" in cilium monitor) */
};

/* NOTIFY_COMMON_HDR + NOTIFY_CAPTURE_HDR */
struct fw_capture_hdr {
	struct fw_notify_hdr common;
	__u32 len_orig; /* packet length on the wire */
	__u16 len_cap;  /* packet bytes appended after the message */
	__u8 version;
	__u8 ext_version;
};

/* struct trace_notify, version 2 */
struct fw_trace_notify {
	struct fw_capture_hdr hdr;
	__u32 src_label;   /* source security identity */
	__u32 dst_label;   /* destination security identity */
	__u16 dst_id;      /* destination endpoint id, 0 if not a local endpoint */
	__u8 reason;       /* enum fw_trace_reason */
	__u8 flags;        /* FW_CLS_FLAG_* */
	__u32 ifindex;
	__u8 orig_ip[16];  /* source address as seen (IPv4 in the first 4 bytes) */
	__u64 ip_trace_id;
};

/* struct debug_msg */
struct fw_debug_msg {
	struct fw_notify_hdr common;
	__u32 arg1;
	__u32 arg2;
	__u32 arg3;
};

/* struct debug_capture_msg */
struct fw_debug_capture_msg {
	struct fw_capture_hdr hdr;
	__u32 arg1;
	__u32 arg2;
};

/* fw_samples (per-CPU array of one, private to the program): where output.h builds each
 * sample before handing it to the kernel, so the 512-byte stack holds no copy of it. */
struct fw_sample {
	struct fw_sample_hdr hdr;
	union {
		struct fw_trace_notify trace;
		struct fw_debug_msg debug;
	};
};

/* struct drop_notify, version 3 */
struct fw_drop_notify {
	struct fw_capture_hdr hdr;
	__u32 src_label;
	__u32 dst_label;
	__u32 dst_id;
	__u16 line;
	__u8 file;
	__s8 ext_error;
	__u32 ifindex;
	__u8 flags;
	__u8 pad[3];
	__u64 ip_trace_id;
};

/* Observation points (enum trace_point). Twin: FlowwatchCore TraceObservationPoint. */
enum fw_trace_point {
	FW_TRACE_TO_LXC = 0,
	FW_TRACE_TO_PROXY = 1,
	FW_TRACE_TO_HOST = 2,
	FW_TRACE_TO_STACK = 3,
	FW_TRACE_TO_OVERLAY = 4,
	FW_TRACE_FROM_LXC = 5,
	FW_TRACE_FROM_PROXY = 6,
	FW_TRACE_FROM_HOST = 7,
	FW_TRACE_FROM_STACK = 8,
	FW_TRACE_FROM_OVERLAY = 9,
	FW_TRACE_FROM_NETWORK = 10,
	FW_TRACE_TO_NETWORK = 11,
	FW_TRACE_FROM_CRYPTO = 12,
	FW_TRACE_TO_CRYPTO = 13,
};

/* Trace reasons (enum trace_reason): the conntrack verdict of the packet. */
enum fw_trace_reason {
	FW_TRACE_REASON_NEW = 0,
	FW_TRACE_REASON_ESTABLISHED = 1,
	FW_TRACE_REASON_REPLY = 2,
	FW_TRACE_REASON_RELATED = 3,
	FW_TRACE_REASON_UNKNOWN = 5, /* not tracked: non-IP, later fragment, unparsable */
};

/* Conntrack verdicts (enum ct_status), printed by DBG_CT_VERDICT. */
enum fw_ct_status {
	FW_CT_NEW = 0,
	FW_CT_ESTABLISHED = 1,
	FW_CT_REPLY = 2,
	FW_CT_RELATED = 3,
};

/* Conntrack directions (enum ct_dir) and tuple flags (TUPLE_F_*). */
enum fw_ct_dir { FW_CT_EGRESS = 0, FW_CT_INGRESS = 1 };
#define FW_TUPLE_F_OUT 0
#define FW_TUPLE_F_IN 1
#define FW_TUPLE_F_RELATED 2

/* Trace flags (CLS_FLAG_*). */
#define FW_CLS_FLAG_IPV6 0x01
#define FW_CLS_FLAG_L3_DEV 0x02

/* Debug message subtypes (DBG_*) that flowwatch emits; the Swift decoder knows all of Cilium's. */
enum fw_dbg_type {
	FW_DBG_LOCAL_DELIVERY = 2,      /* arg1 = endpoint id, arg2 = source identity */
	FW_DBG_CT_MATCH = 8,            /* arg1 = lifetime (s, monotonic clock), arg2 = revnat (be16) */
	FW_DBG_CT_VERDICT = 15,         /* arg1 = enum fw_ct_status, arg2 = revnat (be16) */
	FW_DBG_CT_LOOKUP4_1 = 48,       /* arg1 = saddr (be32), arg2 = daddr (be32), arg3 = dport << 16 | sport */
	FW_DBG_CT_LOOKUP4_2 = 49,       /* arg1 = nexthdr << 8 | flags, arg2 = dir, arg3 = scope */
	FW_DBG_CT_CREATED4 = 50,        /* arg1 = revnat (be16), arg2 = source identity, arg3 = 0 */
	FW_DBG_CT_LOOKUP6_1 = 51,       /* as 48 with the last 4 bytes of each address */
	FW_DBG_CT_LOOKUP6_2 = 52,
	FW_DBG_CT_CREATED6 = 53,
	FW_DBG_IP_ID_MAP_FAILED4 = 56,  /* arg1 = addr (be32) */
	FW_DBG_IP_ID_MAP_FAILED6 = 57,  /* arg1 = last 4 bytes of addr */
	FW_DBG_IP_ID_MAP_SUCCEED4 = 58, /* arg1 = addr (be32), arg2 = identity */
	FW_DBG_IP_ID_MAP_SUCCEED6 = 59, /* arg1 = last 4 bytes of addr, arg2 = identity */
};

/* Reserved identities (Cilium pkg/identity/numericidentity.go). */
#define FW_IDENTITY_UNKNOWN 0
#define FW_IDENTITY_HOST 1
#define FW_IDENTITY_WORLD 2

/* ---- Maps user space fills ---- */

/* ifindex -> what the device is, in two maps: fw_devices, an array indexed by ifindex below
 * FW_DEVICE_SLOTS (a lookup the verifier inlines, for the common case), and fw_devices_far, a
 * hash for any larger ifindex (a node whose pods came and went many times). Devices in neither,
 * or with role FW_ROLE_NONE (an array slot never set, or cleared), are not observed. */
#define FW_DEVICE_SLOTS 16384
#define FW_DEVICES_FAR_MAX 1024
enum fw_device_role {
	FW_ROLE_NONE = 0,
	FW_ROLE_LXC = 1,     /* ingress: from-endpoint, egress: to-endpoint */
	FW_ROLE_HOST = 2,    /* cilium_host; ingress: to-host, egress: from-host */
	FW_ROLE_NETWORK = 3, /* any other device; ingress: from-network, egress: to-network */
};
#define FW_DEVICE_F_L3 0x1 /* no Ethernet header: packets start at the IP header */

struct fw_device {
	__u32 role;        /* enum fw_device_role */
	__u32 identity;    /* identity of the endpoint behind the device (lxc, host) */
	__u16 endpoint_id; /* endpoint id of the device (lxc: the pod's, cilium_host: the host's) */
	__u16 flags;       /* FW_DEVICE_F_* */
	__u32 pad;
};

/* fw_endpoints: local endpoint address -> endpoint, drives local delivery. */
struct fw_endpoint_key {
	__u8 addr[16];     /* IPv4 in the first 4 bytes, rest zero */
	__u8 family;       /* FW_FAMILY_* */
	__u8 pad[3];
};
struct fw_endpoint {
	__u32 ifindex;     /* the endpoint's lxc device */
	__u32 identity;
	__u16 id;
	__u16 pad;
	__u32 pad2;
};

#define FW_FAMILY_IPV4 4
#define FW_FAMILY_IPV6 6

/* fw_ipcache (LPM trie): prefix -> identity. prefixlen counts the 32 bits of family+pad first,
 * so an IPv4 /24 is prefixlen 56 and an IPv6 /64 is prefixlen 96. */
struct fw_ipcache_key {
	__u32 prefixlen;
	__u8 family;
	__u8 pad[3];
	__u8 addr[16];
};
#define FW_IPCACHE_PREFIX_BASE 32
struct fw_ipcache_value {
	__u32 identity;
	__u32 pad;
};

/* fw_addr_filter (LPM trie): the kernel side of the user's filters, a superset of what they
 * keep (prefilter.h). Keys are fw_ipcache_key (same prefixlen convention); the value says which
 * side of a packet the prefix selects. An entry's sides include those of every shorter prefix
 * that contains it, so the longest match alone answers. */
#define FW_ADDR_F_SOURCE 0x1
#define FW_ADDR_F_DESTINATION 0x2
struct fw_addr_filter_value {
	__u32 sides;       /* FW_ADDR_F_* */
	__u32 pad;
};
#define FW_ADDR_FILTER_MAX 16384

/* ---- Conntrack (LRU hash), owned by the program; user space only reads it ---- */

/* A tuple as the packet carries it, scoped to one device and one direction (like Cilium's
 * per-endpoint tables): a flow seen at two observation points has an entry at each. */
struct fw_ct_key {
	__u8 daddr[16];
	__u8 saddr[16];
	__be16 dport;      /* ICMP echo: 0 for requests, echo id for replies */
	__be16 sport;      /* ICMP echo: echo id for requests, 0 for replies */
	__u8 nexthdr;
	__u8 flags;        /* FW_TUPLE_F_IN for egress lookups, FW_TUPLE_F_OUT for ingress */
	__u8 family;
	__u8 dir;          /* enum fw_ct_dir */
	__u32 zone;        /* ifindex of the device */
};

#define FW_CT_F_RX_CLOSING 0x01
#define FW_CT_F_TX_CLOSING 0x02
#define FW_CT_F_SEEN_NON_SYN 0x04

struct fw_ct_entry {
	__u64 packets;
	__u64 bytes;
	__u32 lifetime;        /* expiry, seconds of the monotonic clock (CLOCK_MONOTONIC) */
	__u32 src_identity;
	__u16 rev_nat_index;   /* network order; always 0: flowwatch does no load balancing */
	__u8 tx_flags_seen;    /* TCP flags seen in the direction that created the entry */
	__u8 rx_flags_seen;    /* TCP flags seen in the reply direction */
	__u8 flags;            /* FW_CT_F_* */
	__u8 pad[3];
	__u32 last_tx_report;  /* seconds of the monotonic clock, for monitor aggregation */
	__u32 last_rx_report;
};

/* Lifetimes in seconds, Cilium's defaults (pkg/defaults/defaults.go). */
#define FW_CT_LIFETIME_TCP 21600
#define FW_CT_LIFETIME_NONTCP 60
#define FW_CT_SYN_TIMEOUT 60
#define FW_CT_CLOSE_TIMEOUT 10

/* ---- Counters (per-CPU array, index = enum fw_stat) ---- */
enum fw_stat {
	FW_STAT_PACKETS = 0,        /* packets the program ran on, on a known device */
	FW_STAT_EVENTS = 1,         /* messages written to the perf event array */
	FW_STAT_OUTPUT_ERRORS = 2,  /* messages bpf_perf_event_output could not write */
	FW_STAT_FILTERED = 3,       /* traces the address prefilter left out (fw_addr_filter) */
	FW_STAT_MAX = 4,
};

/* ---- Load-time settings (.rodata, set before the object is loaded) ---- */
struct fw_settings {
	__u32 capture_len;   /* packet bytes appended to traces; 0 = whole packet (up to FW_MAX_CAPTURE) */
	__u32 debug;         /* 1: emit debug messages (-v) */
	__u32 aggregation;   /* enum fw_aggregation */
	__u32 aggregation_interval; /* seconds between reports of an active connection (medium and up) */
	__u32 addr_filter;   /* 1: trace only packets fw_addr_filter selects (prefilter.h) */
};
#define FW_DEFAULT_CAPTURE_LEN 128
#define FW_DEFAULT_AGGREGATION_INTERVAL 5

/* fw_settings.aggregation: Cilium's monitor aggregation levels (pkg/option/monitor.go,
 * MONITOR_AGGREGATION); trace.h fw_trace_wanted says what each drops. Swift twin:
 * MonitorAggregation in Sources/FlowwatchDatapath/ObserverProgram.swift. */
enum fw_aggregation {
	FW_AGGREGATION_NONE = 0,
	FW_AGGREGATION_LOWEST = 1,  /* Cilium's TRACE_AGGREGATE_RX: no from-* traces */
	FW_AGGREGATION_LOW = 2,
	FW_AGGREGATION_MEDIUM = 3,  /* TRACE_AGGREGATE_ACTIVE_CT: only traces conntrack reports */
	FW_AGGREGATION_MAXIMUM = 4, /* as medium, as in Cilium's datapath */
};
/* A perf record's size is a u16: keep header + message + packet well under 64 KiB. */
#define FW_MAX_CAPTURE 65000

/* Names of the maps and programs in the object. */
#define FW_MAP_EVENTS "fw_events"
#define FW_MAP_DEVICES "fw_devices"
#define FW_MAP_DEVICES_FAR "fw_devices_far"
#define FW_MAP_ENDPOINTS "fw_endpoints"
#define FW_MAP_IPCACHE "fw_ipcache"
#define FW_MAP_CT "fw_ct"
#define FW_MAP_STATS "fw_stats"
#define FW_MAP_ADDR_FILTER "fw_addr_filter"
#define FW_PROG_INGRESS "fw_ingress"
#define FW_PROG_EGRESS "fw_egress"

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(struct fw_sample_hdr) == 8, "sample header");
_Static_assert(sizeof(struct fw_sample) == 64, "sample buffer");
_Static_assert(sizeof(struct fw_notify_hdr) == 8, "NOTIFY_COMMON_HDR");
_Static_assert(sizeof(struct fw_capture_hdr) == 16, "NOTIFY_CAPTURE_HDR");
_Static_assert(sizeof(struct fw_trace_notify) == 56, "trace_notify v2");
_Static_assert(sizeof(struct fw_debug_msg) == 20, "debug_msg");
_Static_assert(sizeof(struct fw_debug_capture_msg) == 24, "debug_capture_msg");
_Static_assert(sizeof(struct fw_drop_notify) == 48, "drop_notify v3");
_Static_assert(sizeof(struct fw_ct_key) == 44, "ct key");
_Static_assert(sizeof(struct fw_ipcache_key) == 24, "ipcache key");
_Static_assert(sizeof(struct fw_addr_filter_value) == 8, "address prefilter value");
_Static_assert(sizeof(struct fw_settings) == 20, "settings");
#endif

#endif /* FLOWWATCH_EVENTS_H */
