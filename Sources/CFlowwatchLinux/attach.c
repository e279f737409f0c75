#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "flowwatch_linux.h"

/* From linux/bpf.h of kernel 6.6+, newer than the UAPI headers Debian 12 ships. */
#define FW_BPF_TCX_INGRESS 46
#define FW_BPF_TCX_EGRESS 47
#define FW_BPF_F_BEFORE (1U << 3)

int fw_tcx_attach(int prog_fd, int ifindex, int egress)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = FW_BPF_F_BEFORE);
	int fd = bpf_link_create(prog_fd, ifindex, egress ? FW_BPF_TCX_EGRESS : FW_BPF_TCX_INGRESS, &opts);
	return fd < 0 ? -errno : fd;
}

int fw_tcx_query(int ifindex, int egress, uint32_t *prog_ids, uint32_t capacity)
{
	LIBBPF_OPTS(bpf_prog_query_opts, opts, .prog_ids = prog_ids, .prog_cnt = capacity);
	int err = bpf_prog_query_opts(ifindex, egress ? FW_BPF_TCX_EGRESS : FW_BPF_TCX_INGRESS, &opts);
	return err < 0 ? -errno : (int)opts.prog_cnt;
}

int fw_tcx_supported(void)
{
	/* Querying the loopback's tcx hook fails with EINVAL where the attach type is unknown. */
	uint32_t ids[1];
	int n = fw_tcx_query(1, 0, ids, 1);
	return n >= 0 || n == -ENOSPC;
}

static void hook(struct bpf_tc_hook *h, int ifindex, int egress)
{
	memset(h, 0, sizeof(*h));
	h->sz = sizeof(*h);
	h->ifindex = ifindex;
	h->attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS;
}

int fw_tc_attach(int prog_fd, int ifindex, int egress)
{
	struct bpf_tc_hook h;
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = FW_TC_HANDLE, .priority = FW_TC_PRIORITY,
		    .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE);
	int err;

	hook(&h, ifindex, egress);
	/* clsact may already be there (Cilium's, or ours from before): that is fine, and we never
	 * remove a qdisc we did not create. */
	err = bpf_tc_hook_create(&h);
	if (err && err != -EEXIST)
		return err;
	err = bpf_tc_attach(&h, &opts);
	return err < 0 ? err : 0;
}

int fw_tc_detach(int ifindex, int egress)
{
	struct bpf_tc_hook h;
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = FW_TC_HANDLE, .priority = FW_TC_PRIORITY);
	int err;

	hook(&h, ifindex, egress);
	err = bpf_tc_detach(&h, &opts);
	return err < 0 ? err : 0;
}

int fw_tc_query(int ifindex, int egress, uint32_t *prog_id)
{
	struct bpf_tc_hook h;
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = FW_TC_HANDLE, .priority = FW_TC_PRIORITY);
	int err;

	hook(&h, ifindex, egress);
	err = bpf_tc_query(&h, &opts);
	if (err == -ENOENT || err == -EINVAL)
		return 0;
	if (err < 0)
		return err;
	if (prog_id)
		*prog_id = opts.prog_id;
	return 1;
}
