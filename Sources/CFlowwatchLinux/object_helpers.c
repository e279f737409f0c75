#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "flowwatch_linux.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_buf[64 * 1024];
static size_t log_len;

static int capture(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	pthread_mutex_lock(&log_lock);
	if (log_len < sizeof(log_buf) - 1) {
		int n = vsnprintf(log_buf + log_len, sizeof(log_buf) - log_len, fmt, args);
		if (n > 0)
			log_len += (size_t)n < sizeof(log_buf) - log_len ? (size_t)n : sizeof(log_buf) - log_len - 1;
	}
	pthread_mutex_unlock(&log_lock);
	return 0;
}

void fw_libbpf_log_capture(void)
{
	libbpf_set_print(capture);
}

size_t fw_libbpf_log_take(char *buf, size_t size)
{
	size_t n;

	if (!size)
		return 0;
	pthread_mutex_lock(&log_lock);
	n = log_len < size - 1 ? log_len : size - 1;
	memcpy(buf, log_buf, n);
	buf[n] = '\0';
	log_len = 0;
	pthread_mutex_unlock(&log_lock);
	return n;
}

int fw_object_set_rodata(struct bpf_object *obj, const char *name, const void *value, size_t size)
{
	struct btf *btf = bpf_object__btf(obj);
	struct bpf_map *map;

	if (!btf)
		return -ENOENT;
	bpf_object__for_each_map(map, obj) {
		const char *map_name = bpf_map__name(map);
		size_t len = strlen(map_name);
		if (len < 7 || strcmp(map_name + len - 7, ".rodata") != 0)
			continue;

		int sec_id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
		if (sec_id < 0)
			return -ENOENT;
		const struct btf_type *sec = btf__type_by_id(btf, sec_id);
		const struct btf_var_secinfo *vs = btf_var_secinfos(sec);
		for (int i = 0; i < btf_vlen(sec); i++, vs++) {
			const struct btf_type *var = btf__type_by_id(btf, vs->type);
			if (strcmp(btf__name_by_offset(btf, var->name_off), name) != 0)
				continue;
			if (vs->size != size)
				return -EINVAL;
			size_t total;
			/* libbpf 1.1 returns it const, but before load it is the writable image that
			 * skeletons write their .rodata through too. */
			char *data = (char *)bpf_map__initial_value(map, &total);
			if (!data || vs->offset + size > total)
				return -EINVAL;
			memcpy(data + vs->offset, value, size);
			return 0;
		}
	}
	return -ENOENT;
}
