/*
 * Thin C shims for what Swift cannot say directly: libbpf option macros, perf_event_attr
 * bitfields, tcx attach types newer than the installed UAPI headers, netlink message macros.
 * Each returns 0 or a file descriptor on success and a negative errno on failure.
 */
#ifndef FLOWWATCH_LINUX_H
#define FLOWWATCH_LINUX_H

#include <stddef.h>
#include <stdint.h>

struct fw_perf;

/* The BPF object built from bpf/flowwatch.bpf.c, embedded at build time. */
const void *fw_bpf_object(size_t *size);

/* ---- perf buffer ---- */

/* A PERF_RECORD_SAMPLE: kernel time (ns, CLOCK_BOOTTIME) and the message the program wrote after it
 * (events.h struct fw_sample_hdr), with its packet bytes. */
typedef void (*fw_sample_fn)(void *ctx, int cpu, uint64_t time_ns, const void *data, uint32_t size);
/* A PERF_RECORD_LOST: the kernel dropped `lost` samples on this CPU because its ring was full. */
typedef void (*fw_lost_fn)(void *ctx, int cpu, uint64_t lost);

/* Opens one ring of `pages` pages (a power of two) per CPU on the perf event array `map_fd`.
 * The kernel wakes the reader each time another `wakeup_bytes` have been written to a ring (0: on
 * every sample), so a reader must also sweep the rings on a timer (fw_perf_consume) to bound
 * latency at low rates.
 * Returns NULL and sets errno on failure. */
struct fw_perf *fw_perf_open(int map_fd, size_t pages, uint32_t wakeup_bytes, fw_sample_fn on_sample,
                             fw_lost_fn on_lost, void *ctx);
/* Waits up to timeout_ms for a wake-up, then reads every ring to its end: rings read or -errno. */
int fw_perf_poll(struct fw_perf *perf, int timeout_ms);
/* Reads every ring to its end without waiting: 0 or -errno. */
int fw_perf_consume(struct fw_perf *perf);

/* How full one CPU's ring is, in bytes of its data area (`size`). */
struct fw_perf_ring_usage {
	int cpu;
	uint64_t size;
	/* Written by the kernel and not yet read, now. */
	uint64_t used;
	/* The most that was waiting when the reader came to read, since the previous call (or `used`
	 * if more): the ring's high-water mark, which `size` minus one record away means loss. */
	uint64_t peak;
};
/* Fills up to `capacity` entries, one per ring, and starts a new peak interval; returns the
 * number of rings. Safe from any thread while another reads. */
int fw_perf_usage(struct fw_perf *perf, struct fw_perf_ring_usage *out, int capacity);
/* Records of types other than sample and lost (counted, never silently dropped). */
uint64_t fw_perf_unknown_records(const struct fw_perf *perf);
void fw_perf_close(struct fw_perf *perf);

/* ---- tcx (kernel 6.6+) ---- */

/* Attaches `prog_fd` to `ifindex` ahead of every program already there; returns the link fd.
 * Closing the link fd detaches it, so a killed process leaves nothing behind. */
int fw_tcx_attach(int prog_fd, int ifindex, int egress);
/* Program ids attached by tcx on the hook, in run order; returns their count or -errno. */
int fw_tcx_query(int ifindex, int egress, uint32_t *prog_ids, uint32_t capacity);
/* Whether this kernel has tcx: 1 yes, 0 no. */
int fw_tcx_supported(void);

/* ---- tc clsact + cls_bpf (fallback for kernels before 6.6) ---- */

/* Our filters use this handle and priority on every device so that a later run can find and
 * remove the ones a killed run left. */
#define FW_TC_HANDLE 0xf10u
#define FW_TC_PRIORITY 1u

int fw_tc_attach(int prog_fd, int ifindex, int egress);
int fw_tc_detach(int ifindex, int egress);
/* 1 if our filter is on the hook, 0 if not, or -errno. Fills *prog_id when present. */
int fw_tc_query(int ifindex, int egress, uint32_t *prog_id);

/* ---- netlink link notifications ---- */

/* A link as RTM_NEWLINK / RTM_DELLINK describe it. */
struct fw_link {
	int ifindex;
	int deleted;        /* RTM_DELLINK */
	unsigned int type;  /* ARPHRD_* */
	unsigned int flags; /* IFF_* */
	char name[16];
};

/* A NETLINK_ROUTE socket subscribed to link changes. */
int fw_netlink_open(void);
/* Asks for a dump of every link; the answers arrive through fw_netlink_read. */
int fw_netlink_request_links(int fd);
/* Reads one datagram and calls on_link for every link message in it; returns how many, or
 * -errno (-EAGAIN when nothing is pending on the non-blocking socket, -ENOBUFS when the kernel
 * dropped notifications and a new dump is needed). Sets *dump_done at the end of a dump. */
int fw_netlink_read(int fd, void (*on_link)(void *ctx, const struct fw_link *link), void *ctx, int *dump_done);



/* An eventfd (close-on-exec, non-blocking) that a thread polls beside its own descriptors:
 * writing to it wakes the thread. Returns the descriptor or -errno. */
int fw_wakeup_fd(void);

/* Moves the calling thread into the network namespace at `path` (/var/run/netns/NAME); 0 or -errno.
 * Tests use it on a thread of their own to look at a namespace without leaving theirs. */
int fw_enter_netns(const char *path);

/* ---- libbpf object helpers ---- */

struct bpf_object;

/* Routes libbpf's messages (verifier log included) into a buffer instead of stderr. */
void fw_libbpf_log_capture(void);
/* Copies what was logged since the last call into buf (NUL-terminated) and clears it. */
size_t fw_libbpf_log_take(char *buf, size_t size);

/* Writes `size` bytes over the global variable `name` in the object's .rodata before load;
 * 0, -ENOENT if there is no such variable, -EINVAL if the size differs. */
int fw_object_set_rodata(struct bpf_object *obj, const char *name, const void *value, size_t size);
#endif
