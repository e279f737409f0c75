#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/perf_event.h>
#include <bpf/libbpf.h>

#include "flowwatch_linux.h"

struct fw_perf {
	struct perf_buffer *pb;
	fw_sample_fn on_sample;
	fw_lost_fn on_lost;
	void *ctx;
	uint64_t unknown;
};

/* PERF_SAMPLE_TIME | PERF_SAMPLE_RAW: the fields follow the header in this order. */
struct sample_time_raw {
	struct perf_event_header header;
	uint64_t time;
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
		struct sample_time_raw *s = (struct sample_time_raw *)event;
		/* A sample shorter than its own fields would be a kernel bug; count it, never read past it.
		 * (offsetof, not sizeof: the struct is padded to 24 bytes but data starts at 20.) */
		size_t head = offsetof(struct sample_time_raw, data);
		if (event->size < head || head + s->size > event->size) {
			perf->unknown++;
			break;
		}
		perf->on_sample(perf->ctx, cpu, s->time, s->data, s->size);
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

	if (!perf)
		return NULL;
	perf->on_sample = on_sample;
	perf->on_lost = on_lost;
	perf->ctx = ctx;

	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_BPF_OUTPUT;
	attr.sample_type = PERF_SAMPLE_RAW | PERF_SAMPLE_TIME;
	attr.sample_period = 1;
	/* Boot time keeps counting across suspend and is what bpf_ktime_get_boot_ns() reads. */
	attr.use_clockid = 1;
	attr.clockid = CLOCK_BOOTTIME;
	if (wakeup_bytes) {
		attr.watermark = 1;
		attr.wakeup_watermark = wakeup_bytes;
	} else {
		attr.wakeup_events = 1;
	}

	perf->pb = perf_buffer__new_raw(map_fd, pages, &attr, on_event, perf, NULL);
	if (!perf->pb) {
		int err = errno;
		free(perf);
		errno = err;
		return NULL;
	}
	return perf;
}

int fw_perf_poll(struct fw_perf *perf, int timeout_ms)
{
	int n = perf_buffer__poll(perf->pb, timeout_ms);
	return n < 0 ? -errno : n;
}

int fw_perf_consume(struct fw_perf *perf)
{
	int err = perf_buffer__consume(perf->pb);
	return err < 0 ? -errno : 0;
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
	free(perf);
}
