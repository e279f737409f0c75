#ifndef FLOWWATCH_CLIBBPF_SHIM_H
#define FLOWWATCH_CLIBBPF_SHIM_H
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <linux/perf_event.h>
#include <linux/if_link.h>
#endif
