#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>

#include "flowwatch_linux.h"

int fw_netlink_open(void)
{
	struct sockaddr_nl addr = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int fw_netlink_request_links(int fd)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.ifi));
	req.nh.nlmsg_type = RTM_GETLINK;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nh.nlmsg_seq = 1;
	req.ifi.ifi_family = AF_UNSPEC;
	if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	return 0;
}

int fw_netlink_read(int fd, void (*on_link)(void *ctx, const struct fw_link *link), void *ctx, int *dump_done)
{
	char buf[32768] __attribute__((aligned(NLMSG_ALIGNTO)));
	ssize_t len = recv(fd, buf, sizeof(buf), 0);
	int count = 0;

	if (len < 0)
		return -errno;
	for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)len);
	     nh = NLMSG_NEXT(nh, len)) {
		if (nh->nlmsg_type == NLMSG_DONE) {
			if (dump_done)
				*dump_done = 1;
			break;
		}
		if (nh->nlmsg_type == NLMSG_ERROR) {
			struct nlmsgerr *e = NLMSG_DATA(nh);
			if (nh->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error)
				return e->error;
			continue;
		}
		if (nh->nlmsg_type != RTM_NEWLINK && nh->nlmsg_type != RTM_DELLINK)
			continue;
		if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg)))
			continue;

		struct ifinfomsg *ifi = NLMSG_DATA(nh);
		struct fw_link link;
		memset(&link, 0, sizeof(link));
		link.ifindex = ifi->ifi_index;
		link.deleted = nh->nlmsg_type == RTM_DELLINK;
		link.type = ifi->ifi_type;
		link.flags = ifi->ifi_flags;

		int attrlen = IFLA_PAYLOAD(nh);
		for (struct rtattr *rta = IFLA_RTA(ifi); RTA_OK(rta, attrlen); rta = RTA_NEXT(rta, attrlen)) {
			if (rta->rta_type != IFLA_IFNAME)
				continue;
			size_t n = RTA_PAYLOAD(rta);
			if (n > sizeof(link.name) - 1)
				n = sizeof(link.name) - 1;
			memcpy(link.name, RTA_DATA(rta), n);
			link.name[n] = '\0';
		}
		on_link(ctx, &link);
		count++;
	}
	return count;
}

int fw_enter_netns(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -errno;
	rc = setns(fd, CLONE_NEWNET);
	rc = rc < 0 ? -errno : 0;
	close(fd);
	return rc;
}

int fw_wakeup_fd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	return fd < 0 ? -errno : fd;
}
