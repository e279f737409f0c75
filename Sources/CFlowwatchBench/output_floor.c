/* `fwbench output-floor`: the cost of bpf_perf_event_output alone (flowwatch_bench.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/perf_event.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "flowwatch_abi.h"
#include "flowwatch_linux.h"
#include "flowwatch_bench.h"

/* bpf/bench/output_floor.bpf.c's settings, which its skeleton names. */
struct floor_settings {
	uint32_t cap;
	uint32_t stamp;
};

#include "output_floor.skel.h"

struct ring {
	int fd;
	struct perf_event_mmap_page *page;
	size_t mapped;
};

static int open_ring(const struct fw_floor_case *c, int cpu, size_t pages, struct ring *r)
{
	struct perf_event_attr attr;
	long page_size = sysconf(_SC_PAGESIZE);

	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_BPF_OUTPUT;
	attr.sample_period = 1;
	attr.sample_type = PERF_SAMPLE_RAW | (c->sample_time ? PERF_SAMPLE_TIME : 0);
	if (c->clockid >= 0) {
		attr.use_clockid = 1;
		attr.clockid = c->clockid;
	}
	if (c->wakeup_bytes) {
		attr.watermark = 1;
		attr.wakeup_watermark = c->wakeup_bytes;
	} else {
		attr.wakeup_events = 1;
	}
	r->fd = (int)syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
	if (r->fd < 0)
		return -errno;
	r->mapped = (pages + 1) * (size_t)page_size;
	r->page = mmap(NULL, r->mapped, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (r->page == MAP_FAILED) {
		int err = -errno;
		close(r->fd);
		r->fd = -1;
		return err;
	}
	return 0;
}

static int run_stats(int prog_fd, uint64_t *run_ns, uint64_t *runs)
{
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return -errno;
	*run_ns = info.run_time_ns;
	*runs = info.run_cnt;
	return 0;
}

int fw_floor_run(const struct fw_floor_case *c, const void *packet, uint32_t len, uint32_t repeat, int rounds,
		 double *ns)
{
	struct floor_settings settings = { .cap = c->cap, .stamp = c->stamp ? 1 : 0 };
	int cpus = libbpf_num_possible_cpus(), stats_fd = -1, prog_fd, map_fd, err;
	long page_size = sysconf(_SC_PAGESIZE);
	/* A record: perf header, time, raw size, sample header, trace, packet bytes, padding. */
	size_t record = 8 + 8 + 4 + sizeof(struct fw_sample_hdr) + sizeof(struct fw_trace_notify) + c->cap + 8;
	size_t pages = 1;
	struct ring *rings = NULL;
	struct bpf_object *obj;
	size_t size;
	const void *bytes = output_floor_bpf__elf_bytes(&size);
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "output_floor");

	if (cpus < 0)
		return cpus;
	while (pages * (size_t)page_size < (size_t)repeat * record)
		pages *= 2;
	fw_libbpf_log_capture();
	obj = bpf_object__open_mem(bytes, size, &opts);
	if (!obj)
		return -errno;
	err = fw_object_set_rodata(obj, "floor_settings", &settings, sizeof(settings));
	if (!err)
		err = bpf_object__load(obj);
	if (err)
		goto out;
	prog_fd = bpf_program__fd(bpf_object__find_program_by_name(obj, c->empty ? "floor_empty" : "floor_output"));
	map_fd = bpf_object__find_map_fd_by_name(obj, "floor_events");
	rings = calloc(cpus, sizeof(*rings));
	if (!rings) {
		err = -ENOMEM;
		goto out;
	}
	for (int cpu = 0; cpu < cpus; cpu++)
		rings[cpu].fd = -1;
	for (int cpu = 0; cpu < cpus; cpu++) {
		/* A possible CPU that is offline has no event; the program never runs there. */
		err = open_ring(c, cpu, pages, &rings[cpu]);
		if (err == -ENODEV)
			continue;
		if (err)
			goto out;
		if (bpf_map_update_elem(map_fd, &cpu, &rings[cpu].fd, BPF_ANY)) {
			err = -errno;
			goto out;
		}
	}
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats_fd < 0) {
		err = -errno;
		goto out;
	}
	for (int i = 0; i < rounds; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = packet, .data_size_in = len, .repeat = repeat);
		uint64_t ns0, runs0, ns1, runs1;

		if ((err = run_stats(prog_fd, &ns0, &runs0)))
			goto out;
		if (bpf_prog_test_run_opts(prog_fd, &run)) {
			err = -errno;
			goto out;
		}
		if ((err = run_stats(prog_fd, &ns1, &runs1)))
			goto out;
		if (runs1 == runs0) {
			err = -ENODATA;
			goto out;
		}
		ns[i] = (double)(ns1 - ns0) / (double)(runs1 - runs0);
		/* Empty the rings unread: only the writing is measured. */
		for (int cpu = 0; cpu < cpus; cpu++)
			if (rings[cpu].fd >= 0)
				__atomic_store_n(&rings[cpu].page->data_tail,
						 __atomic_load_n(&rings[cpu].page->data_head, __ATOMIC_ACQUIRE),
						 __ATOMIC_RELEASE);
	}
	err = 0;
out:
	if (stats_fd >= 0)
		close(stats_fd);
	for (int cpu = 0; rings && cpu < cpus; cpu++) {
		if (rings[cpu].fd < 0)
			continue;
		munmap(rings[cpu].page, rings[cpu].mapped);
		close(rings[cpu].fd);
	}
	free(rings);
	bpf_object__close(obj);
	return err;
}

int fw_floor_hooks(const int *ifindexes, int count)
{
	size_t size;
	const void *bytes = output_floor_bpf__elf_bytes(&size);
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "output_floor");
	int *links = calloc((size_t)count * 2, sizeof(*links));
	struct bpf_object *obj;
	int prog_fd, err = 0;

	if (!links)
		return -ENOMEM;
	for (int i = 0; i < count * 2; i++)
		links[i] = -1;
	fw_libbpf_log_capture();
	obj = bpf_object__open_mem(bytes, size, &opts);
	if (!obj) {
		free(links);
		return -errno;
	}
	if ((err = bpf_object__load(obj)))
		goto out;
	prog_fd = bpf_program__fd(bpf_object__find_program_by_name(obj, "floor_empty"));
	for (int i = 0; i < count * 2; i++) {
		links[i] = fw_tcx_attach(prog_fd, ifindexes[i / 2], i % 2);
		if (links[i] < 0) {
			err = links[i];
			goto out;
		}
	}
	/* The links hold the program: the object (and its fd) can go. */
	err = 0;
out:
	for (int i = 0; err && i < count * 2; i++)
		if (links[i] >= 0)
			close(links[i]);
	free(links);
	bpf_object__close(obj);
	return err;
}
