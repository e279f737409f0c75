#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <linux/perf_event.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "flowwatch_abi.h"
#include "flowwatch_linux.h"

struct fw_perf {
	struct perf_buffer *pb;
	fw_sample_fn on_sample;
	fw_lost_fn on_lost;
	void *ctx;
	uint64_t unknown;
	/* Ring i belongs to cpus[i]: we name the CPUs to libbpf, so its buffer index is ours too. */
	int ring_cnt;
	int *cpus;
	/* The most bytes ring i held when the reader came to drain it, since the last fw_perf_usage. */
	_Atomic uint64_t *peak;
};

/* The online CPUs below `limit`, as /sys/devices/system/cpu/online lists them ("0-3,5"). */
static int online_cpus(int limit, int **out)
{
	char buf[4096];
	FILE *f = fopen("/sys/devices/system/cpu/online", "re");
	size_t len;
	int *cpus, n = 0;

	if (!f)
		return -errno;
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = 0;
	cpus = calloc(limit > 0 ? limit : 1, sizeof(*cpus));
	if (!cpus)
		return -ENOMEM;
	for (char *p = buf; *p;) {
		char *end;
		long lo = strtol(p, &end, 10), hi = lo;
		if (end == p)
			break;
		if (*end == '-')
			hi = strtol(end + 1, &end, 10);
		for (long c = lo; c <= hi && c < limit; c++)
			cpus[n++] = (int)c;
		if (*end != ',')
			break;
		p = end + 1;
	}
	if (n == 0) {
		free(cpus);
		return -ENOENT;
	}
	*out = cpus;
	return n;
}

/* PERF_SAMPLE_RAW alone: the raw data's size follows the header. The time is not in the record:
 * the program writes it at the start of the raw data (events.h struct fw_sample_hdr), which
 * costs it less than PERF_SAMPLE_TIME would. */
struct sample_raw {
	struct perf_event_header header;
	uint32_t size;
	uint8_t data[];
};

struct lost_record {
	struct perf_event_header header;
	uint64_t id;
	uint64_t lost;
};

static enum bpf_perf_event_ret on_event(void *ctx, int cpu, struct perf_event_header *event)
{
	struct fw_perf *perf = ctx;

	switch (event->type) {
	case PERF_RECORD_SAMPLE: {
		struct sample_raw *s = (struct sample_raw *)event;
		struct fw_sample_hdr hdr;
		/* A sample shorter than its own fields would be a kernel bug, and one too short for the
		 * program's header is not flowwatch's: count both, never read past them. (offsetof, not
		 * sizeof: the struct is padded to 16 bytes but data starts at 12.) */
		size_t head = offsetof(struct sample_raw, data);
		if (event->size < head || head + s->size > event->size || s->size < sizeof(hdr)) {
			perf->unknown++;
			break;
		}
		/* Raw data starts 4-byte aligned: copy the header out rather than cast. */
		memcpy(&hdr, s->data, sizeof(hdr));
		perf->on_sample(perf->ctx, cpu, hdr.time, s->data + sizeof(hdr), s->size - sizeof(hdr));
		break;
	}
	case PERF_RECORD_LOST: {
		struct lost_record *l = (struct lost_record *)event;
		if (event->size < sizeof(*l)) {
			perf->unknown++;
			break;
		}
		perf->on_lost(perf->ctx, cpu, l->lost);
		break;
	}
	default:
		perf->unknown++;
	}
	return LIBBPF_PERF_EVENT_CONT;
}

struct fw_perf *fw_perf_open(int map_fd, size_t pages, uint32_t wakeup_bytes, fw_sample_fn on_sample,
			     fw_lost_fn on_lost, void *ctx)
{
	struct perf_event_attr attr;
	struct fw_perf *perf = calloc(1, sizeof(*perf));

	struct bpf_map_info info;
	__u32 info_len = sizeof(info);
	int limit = libbpf_num_possible_cpus(), err;
	LIBBPF_OPTS(perf_buffer_raw_opts, opts);

	if (!perf)
		return NULL;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(map_fd, &info, &info_len) == 0 && info.max_entries && (int)info.max_entries < limit)
		limit = (int)info.max_entries;
	err = online_cpus(limit, &perf->cpus);
	if (err < 0) {
		free(perf);
		errno = -err;
		return NULL;
	}
	perf->ring_cnt = err;
	perf->peak = calloc(perf->ring_cnt, sizeof(*perf->peak));
	if (!perf->peak) {
		free(perf->cpus);
		free(perf);
		errno = ENOMEM;
		return NULL;
	}
	opts.cpu_cnt = perf->ring_cnt;
	opts.cpus = perf->cpus;
	opts.map_keys = perf->cpus;
	perf->on_sample = on_sample;
	perf->on_lost = on_lost;
	perf->ctx = ctx;

	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_BPF_OUTPUT;
	attr.sample_type = PERF_SAMPLE_RAW;
	attr.sample_period = 1;
	if (wakeup_bytes) {
		attr.watermark = 1;
		attr.wakeup_watermark = wakeup_bytes;
	} else {
		attr.wakeup_events = 1;
	}

	perf->pb = perf_buffer__new_raw(map_fd, pages, &attr, on_event, perf, &opts);
	if (!perf->pb) {
		err = errno;
		free(perf->peak);
		free(perf->cpus);
		free(perf);
		errno = err;
		return NULL;
	}
	return perf;
}

/* Bytes written to ring i and not yet read. Only the kernel moves data_head (read it with acquire,
 * as perf_event_mmap_page says); only this reader moves data_tail. */
static uint64_t pending(struct fw_perf *perf, int i, uint64_t *size)
{
	void *base;
	size_t mmap_size;
	struct perf_event_mmap_page *header;

	if (perf_buffer__buffer(perf->pb, i, &base, &mmap_size) < 0)
		return 0;
	header = base;
	*size = mmap_size;
	return __atomic_load_n(&header->data_head, __ATOMIC_ACQUIRE) - header->data_tail;
}

/* Drains every ring that holds something, noting first how full it had become: between two
 * drains a ring only fills, so the fill seen here is the peak of that interval. Two loads per
 * ring per sweep, next to reading a wake-up's worth of records. */
static int sweep(struct fw_perf *perf)
{
	int handled = 0;

	for (int i = 0; i < perf->ring_cnt; i++) {
		uint64_t size = 0, used = pending(perf, i, &size), peak;
		if (!used)
			continue;
		peak = atomic_load_explicit(&perf->peak[i], memory_order_relaxed);
		while (used > peak &&
		       !atomic_compare_exchange_weak_explicit(&perf->peak[i], &peak, used, memory_order_relaxed,
							      memory_order_relaxed))
			;
		if (perf_buffer__consume_buffer(perf->pb, i) < 0)
			return -errno;
		handled++;
	}
	return handled;
}

int fw_perf_poll(struct fw_perf *perf, int timeout_ms)
{
	struct epoll_event events[16];
	int n = epoll_wait(perf_buffer__epoll_fd(perf->pb), events, 16, timeout_ms);

	if (n < 0)
		return -errno;
	return sweep(perf);
}

int fw_perf_consume(struct fw_perf *perf)
{
	int n = sweep(perf);
	return n < 0 ? n : 0;
}

int fw_perf_usage(struct fw_perf *perf, struct fw_perf_ring_usage *out, int capacity)
{
	int n = perf->ring_cnt < capacity ? perf->ring_cnt : capacity;

	for (int i = 0; i < n; i++) {
		uint64_t size = 0;
		out[i].cpu = perf->cpus[i];
		out[i].used = pending(perf, i, &size);
		out[i].size = size;
		out[i].peak = atomic_exchange_explicit(&perf->peak[i], 0, memory_order_relaxed);
		if (out[i].used > out[i].peak)
			out[i].peak = out[i].used;
	}
	return perf->ring_cnt;
}

uint64_t fw_perf_unknown_records(const struct fw_perf *perf)
{
	return perf->unknown;
}

void fw_perf_close(struct fw_perf *perf)
{
	if (!perf)
		return;
	perf_buffer__free(perf->pb);
	free(perf->peak);
	free(perf->cpus);
	free(perf);
}
