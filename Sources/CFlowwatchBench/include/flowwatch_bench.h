/* C side of fwbench: the perf output floor (bpf/bench/output_floor.bpf.c). Not part of flowwatch. */
#ifndef FLOWWATCH_BENCH_H
#define FLOWWATCH_BENCH_H

#include <stdint.h>

/* One way of writing a trace, as floor_output does it, and how the perf events are opened. */
struct fw_floor_case {
	int empty;             /* 1: run floor_empty instead (the measurement's own cost) */
	uint32_t cap;          /* packet bytes the kernel appends to each sample (BPF_F_CTXLEN_MASK) */
	int stamp;             /* 1: the program writes its time before the message (struct fw_sample_hdr) */
	int sample_time;       /* 1: PERF_SAMPLE_TIME in every record */
	int clockid;           /* its clock (use_clockid), or -1 for perf's own (local_clock) */
	uint32_t wakeup_bytes; /* a wake-up every this many bytes written (watermark); 0: every sample */
};

/* Loads the floor object, opens one perf event per possible CPU as `c` says with a ring that
 * holds a round, and runs `rounds` rounds of `repeat` BPF_PROG_TEST_RUNs of the program on
 * `packet` (`len` bytes, from its Ethernet header). ns[i] = round i's kernel run time / run
 * count (BPF_ENABLE_STATS), so the test-run loop is not in it. The rings are emptied between
 * rounds without reading them. Returns 0, or -errno (the verifier's log, if any, is in
 * libbpf's log: fw_libbpf_log_take). */
int fw_floor_run(const struct fw_floor_case *c, const void *packet, uint32_t len, uint32_t repeat, int rounds,
		 double *ns);

/* Loads the floor object and attaches floor_empty, which does nothing, at the tcx ingress and
 * egress hooks of each of the `count` devices in `ifindexes`: what observing those devices costs
 * before any program does any work. The attachments are links held by this process: they go
 * when it exits, however it exits. Returns 0, or -errno (nothing stays attached then). */
int fw_floor_hooks(const int *ifindexes, int count);

#endif
