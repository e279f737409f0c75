#ifndef FLOWWATCH_ABI_H
#define FLOWWATCH_ABI_H
/* The one definition lives beside the BPF program. */
#include "../../../bpf/events.h"
#endif
