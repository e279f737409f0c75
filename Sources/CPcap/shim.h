#ifndef FLOWWATCH_CPCAP_SHIM_H
#define FLOWWATCH_CPCAP_SHIM_H
#include <pcap/pcap.h>
#include <zlib.h>
#endif
