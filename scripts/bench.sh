#!/usr/bin/env bash
# `make bench`: measures flowwatch beside a baseline run on the same input in the same run, and
# writes the table to docs/benchmarks.md with the machine it ran on. Each figure is the median of
# ROUNDS replays (default 11) or RUNS live runs (default 5) with the min-max spread; ratios
# compare medians of one run.
#   scripts/bench.sh path/to/flowwatch                     full run
#   BENCH_PINGS=2000 ROUNDS=1 RUNS=1 scripts/bench.sh ...  quick smoke run (part of make test)
# The input is a real recording made on a demo node (scripts/demo-node.sh): a flood ping
# between two pods observed with debug messages, so decode, flows and capture see real events.
# Capture files are also measured on a second recording of the same flood ping without debug
# messages (what someone recording for pcap would have), each beside tcpdump on its own packets.
set -euo pipefail

flowwatch=$(realpath "${1:?usage: bench.sh path/to/flowwatch [path/to/fwbench]}")
here=$(dirname "$(realpath "$0")")
fwbench=${2:-$(dirname "$flowwatch")/fwbench}
out=${BENCH_OUT:-$here/../docs/benchmarks.md}
pings=${BENCH_PINGS:-50000}
runs=${RUNS:-5}
# A replay takes tens of milliseconds, so more of them cost little: on a shared host, medians of
# 5 moved a ratio by up to 0.12 from one run of the bench to the next (pcap, -v recording).
rounds=${ROUNDS:-11}
node=fwbench$$
work=$(mktemp -d /tmp/flowwatch-bench.XXXXXX)
fw_pid=

cleanup() {
	trap - EXIT INT TERM
	if [ -n "$fw_pid" ] && kill -0 "$fw_pid" 2>/dev/null; then kill -INT "$fw_pid"; wait "$fw_pid" || true; fi
	"$here/demo-node.sh" down "$node"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# record NAME [flags]: NAME.fwrec of $pings flood pings, its log in NAME.log.
record() {
	local name=$1; shift
	rm -f "$work/ready"
	ip netns exec "$node-node" "$flowwatch" record -w "$work/$name.fwrec" "$@" --config "$work/config.yaml" \
		--perf-pages 256 --ready-file "$work/ready" 2>"$work/$name.log" &
	fw_pid=$!
	for _ in $(seq 100); do [ -e "$work/ready" ] && break; sleep 0.1; done
	ip netns exec "$node-client" ping -f -q -c "$pings" 10.244.0.25 >/dev/null
	sleep 0.5
	kill -INT "$fw_pid"; wait "$fw_pid"; fw_pid=
}
echo "== recording $pings flood pings on a demo node, with and without debug messages" >&2
"$here/demo-node.sh" up "$node" "$work/config.yaml"
record in -v
record plain
"$here/demo-node.sh" down "$node"

# The same packets for the baselines: flowwatch's pcap of each recording.
"$flowwatch" replay "$work/in.fwrec" --pcap-only --pcap "$work/ref.pcap" 2>/dev/null
"$flowwatch" replay "$work/plain.fwrec" --pcap-only --pcap "$work/plain-ref.pcap" 2>/dev/null
records=$(grep -o '[0-9]* records written' "$work/in.log" | cut -d' ' -f1)
lost=$(grep -o 'lost: perf ring [0-9]*' "$work/in.log" | awk '{print $4}')
packets=$(tcpdump -r "$work/ref.pcap" -nn 2>/dev/null | wc -l)
plain_records=$(grep -o '[0-9]* records written' "$work/plain.log" | cut -d' ' -f1)
plain_lost=$(grep -o 'lost: perf ring [0-9]*' "$work/plain.log" | awk '{print $4}')
plain_packets=$(tcpdump -r "$work/plain-ref.pcap" -nn 2>/dev/null | wc -l)
lines=$("$flowwatch" replay "$work/in.fwrec" -o compact 2>/dev/null | wc -l)
vlines=$("$flowwatch" replay "$work/in.fwrec" -v 2>/dev/null | wc -l)
plain_lines=$("$flowwatch" replay "$work/plain.fwrec" -o compact 2>/dev/null | wc -l)

rate() { awk -v n="$1" -v s="$2" 'BEGIN {printf "%.0f", n / s}'; }
# versus N SECONDS BASE_N BASE_SECONDS: flowwatch's rate over the baseline's, as "1.23x".
versus() { awk -v n="$1" -v s="$2" -v bn="$3" -v bs="$4" 'BEGIN {printf "%.2fx", (n / s) / (bn / bs)}'; }

echo "== measuring ($rounds rounds)" >&2
# Each replay and its baseline, as one command each. They run in rounds, each round every
# command once in this order, so that a shared host's drift falls on a figure and its baseline
# alike (blocks of runs one command after the other measured the same binaries 10% apart).
run_fw_pcap() { "$flowwatch" replay "$work/in.fwrec" --pcap-only --force --pcap "$work/a.pcap"; }
run_td_pcap() { tcpdump -r "$work/ref.pcap" -w "$work/b.pcap"; }
run_fw_ng() { "$flowwatch" replay "$work/in.fwrec" --pcap-only --force --pcapng "$work/a.pcapng"; }
run_fw_plain() { "$flowwatch" replay "$work/plain.fwrec" --pcap-only --force --pcap "$work/a.pcap"; }
run_td_plain() { tcpdump -r "$work/plain-ref.pcap" -w "$work/b.pcap"; }
run_fw_plain_ng() { "$flowwatch" replay "$work/plain.fwrec" --pcap-only --force --pcapng "$work/a.pcapng"; }
run_fw_compact() { "$flowwatch" replay "$work/in.fwrec" -o compact; }
run_fw_monitor() { "$flowwatch" replay "$work/in.fwrec" -v; }
run_fw_json() { "$flowwatch" replay "$work/in.fwrec" -o json; }
run_td_text() { tcpdump -r "$work/ref.pcap" -nn; }
run_fw_decode() { "$flowwatch" replay "$work/in.fwrec" -o compact --protocol sctp; }
run_fw_plain_compact() { "$flowwatch" replay "$work/plain.fwrec" -o compact; }
run_fw_plain_json() { "$flowwatch" replay "$work/plain.fwrec" -o json; }
run_td_plain_text() { tcpdump -r "$work/plain-ref.pcap" -nn; }
figures=(fw_pcap td_pcap fw_ng fw_plain td_plain fw_plain_ng fw_compact fw_monitor fw_json td_text fw_decode
	fw_plain_compact fw_plain_json td_plain_text)
for ((round = 0; round < rounds; round++)); do
	for f in "${figures[@]}"; do
		# A new file for every run: overwriting the one a run before wrote made the next wait
		# while the kernel still wrote the old one out (10-20 ms, for either tool).
		rm -f "$work/a.pcap" "$work/a.pcapng" "$work/b.pcap"
		s=$(date +%s%N)
		"run_$f" >/dev/null 2>&1 || { echo "bench: ${f#*_} (run_$f) failed" >&2; exit 1; }
		e=$(date +%s%N)
		echo "$(( e - s ))" >>"$work/times.$f"
		# Bytes a packet in each file (both of the plain recording's packets).
		case $f in
		fw_plain_ng) ng_bytes=$(awk -v b="$(stat -c %s "$work/a.pcapng")" -v n="$plain_packets" 'BEGIN {printf "%.0f", b / n}') ;;
		td_plain) pcap_bytes=$(awk -v b="$(stat -c %s "$work/b.pcap")" -v n="$plain_packets" 'BEGIN {printf "%.0f", b / n}') ;;
		esac
	done
done
# Median and spread of a command's timings, in seconds.
measured() {
	sort -n "$work/times.$1" | awk '{a[NR]=$1} END {printf "%.6f %.6f %.6f\n", a[int((NR+1)/2)]/1e9, a[1]/1e9, a[NR]/1e9}'
}
for f in "${figures[@]}"; do
	read -r "$f" "${f}_min" "${f}_max" < <(measured "$f")
done
# What observing costs a node, live (iperf3 on another demo node).
echo "== live: iperf3 with and without flowwatch" >&2
live=$("$here/bench-live.sh" "$flowwatch" "$fwbench")
# Micro-benchmarks on a TCP flow of samples/tcp.fwrec (fwbench: best of 5 loops each).
micro=$("$fwbench" "$here/../samples/tcp.fwrec" "${BENCH_ITERATIONS:-5000000}")
ns() { awk -v k="$1" '$1 == k {printf "%.1f", $2}' <<<"$micro"; }
# The served stream: one GetFlows client reading the recording's first 65,535 events from a ring,
# beside the same ring query and proto conversion in-process (fwbench serve).
serve=$("$fwbench" serve "$work/in.fwrec" "$runs")
served() { awk -v k="$1" -v f="$2" '$1 == k {print $f}' <<<"$serve"; }

row() { # what, how, figure, spread, baseline, ratio
	printf '| %s | %s | %s | %s | %s | %s |\n' "$@"
}
{
	echo "# Benchmarks"
	echo
	echo "Made by \`make bench\` (scripts/bench.sh) on $(date -u +%Y-%m-%d): $(nproc) CPUs,"
	echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), kernel $(uname -r)."
	echo "Input: a recording of $pings flood pings between two pods on a demo node, with debug"
	echo "messages: $records records ($lost lost by the perf ring while recording), $packets packets"
	echo "at their observation points. Each figure is the median of $rounds runs (min-max after it);"
	echo "baselines ran in the same run on the same packets, interleaved with them (rounds of one run"
	echo "of each command). Replay times include reading the"
	echo "recording (every record's CRC checked), reordering and decoding every event."
	echo
	echo "Capture files are measured on two recordings of the same flood ping, each beside"
	echo "\`tcpdump -r ref.pcap -w\` on its own packets (ref.pcap: flowwatch's pcap of that recording;"
	echo "tcpdump reads a pcap, which has no checksums and only packets). The -v recording above holds"
	echo "about five debug messages per packet that a capture file leaves out (each still read,"
	echo "checked and counted); the plain one, recorded without -v, is what someone recording for"
	echo "pcap would have: $plain_records records ($plain_lost lost), $plain_packets packets. pcapng"
	echo "writes $ng_bytes bytes a packet (its comment, interface, id and verdict beside the bytes)"
	echo "where tcpdump's pcap writes $pcap_bytes. Every run writes a new file: the last run's is removed"
	echo "before it, outside the timing."
	echo
	echo "| what | how | flowwatch | spread (s) | baseline | ratio |"
	echo "|---|---|---|---|---|---|"
	row "pcap writing, -v recording" "replay --pcap-only --pcap vs \`tcpdump -r ref.pcap -w\` (its read included)" \
		"$(rate "$packets" "$fw_pcap") packets/s" "$fw_pcap_min-$fw_pcap_max" "$(rate "$packets" "$td_pcap") packets/s" \
		"$(versus "$packets" "$fw_pcap" "$packets" "$td_pcap")"
	row "pcapng writing, -v recording" "replay --pcap-only --pcapng (interfaces, ids, comments)" \
		"$(rate "$packets" "$fw_ng") packets/s" "$fw_ng_min-$fw_ng_max" "$(rate "$packets" "$td_pcap") packets/s" \
		"$(versus "$packets" "$fw_ng" "$packets" "$td_pcap")"
	row "pcap writing, plain recording" "the same, on the recording without debug messages" \
		"$(rate "$plain_packets" "$fw_plain") packets/s" "$fw_plain_min-$fw_plain_max" "$(rate "$plain_packets" "$td_plain") packets/s" \
		"$(versus "$plain_packets" "$fw_plain" "$plain_packets" "$td_plain")"
	row "pcapng writing, plain recording" "the same, pcapng" \
		"$(rate "$plain_packets" "$fw_plain_ng") packets/s" "$fw_plain_ng_min-$fw_plain_ng_max" "$(rate "$plain_packets" "$td_plain") packets/s" \
		"$(versus "$plain_packets" "$fw_plain_ng" "$plain_packets" "$td_plain")"
	row "text out, compact" "replay -o compact > /dev/null vs \`tcpdump -r -nn\`" \
		"$(rate "$lines" "$fw_compact") lines/s" "$fw_compact_min-$fw_compact_max" "$(rate "$packets" "$td_text") lines/s" \
		"$(versus "$lines" "$fw_compact" "$packets" "$td_text")"
	row "text out, monitor -v" "replay -v > /dev/null" \
		"$(rate "$vlines" "$fw_monitor") lines/s" "$fw_monitor_min-$fw_monitor_max" "$(rate "$packets" "$td_text") lines/s" \
		"$(versus "$vlines" "$fw_monitor" "$packets" "$td_text")"
	row "JSON out" "replay -o json > /dev/null" \
		"$(rate "$lines" "$fw_json") lines/s" "$fw_json_min-$fw_json_max" "-" "-"
	row "decode + filter" "replay with a filter no flow matches (decode, flow, filter; nothing printed)" \
		"$(rate "$records" "$fw_decode") events/s" "$fw_decode_min-$fw_decode_max" "-" "-"
	row "text out, compact, plain recording" "replay -o compact > /dev/null vs \`tcpdump -r -nn\` on its packets: one line per packet for both" \
		"$(rate "$plain_lines" "$fw_plain_compact") lines/s" "$fw_plain_compact_min-$fw_plain_compact_max" "$(rate "$plain_packets" "$td_plain_text") lines/s" \
		"$(versus "$plain_lines" "$fw_plain_compact" "$plain_packets" "$td_plain_text")"
	row "JSON out, plain recording" "replay -o json > /dev/null" \
		"$(rate "$plain_lines" "$fw_plain_json") lines/s" "$fw_plain_json_min-$fw_plain_json_max" "-" "-"
	row "served stream" "one GetFlows client over the unix socket, all $(served flows 2) flows of a ring (fwbench serve) vs the same ring query and proto conversion in-process" \
		"$(served served 2) flows/s" "$(served served 3)-$(served served 4) flows/s" "$(served in_process 2) flows/s" \
		"$(versus "$(served served 2)" 1 "$(served in_process 2)" 1)"
	echo
	echo "Ring and filters (fwbench, Sources/fwbench): the best of 5 loops of ${BENCH_ITERATIONS:-5000000} operations on"
	echo "a TCP flow of samples/tcp.fwrec, beside the figures Hubble publishes for its Go ring and filters"
	echo "(no Go toolchain here to run them side by side; see shared reference, section 5)."
	echo
	echo "| what | how | flowwatch | Hubble (published) |"
	echo "|---|---|---|---|"
	echo "| ring write | one writer, 65,535-entry ring, the TCP trace sample | $(ns ring_write) ns/op | 6.5-20 ns/op |"
	echo "| ring read | a full ring read back through the borrowed view (bytes copied out of the slot) | $(ns ring_read) ns/op | 2-12.8 ns/op |"
	echo "| empty filter | no filter, one flow | $(ns filter_empty) ns/flow | 5.79 ns |"
	echo "| L4 filter | --protocol tcp --port N, one flow | $(ns filter_l4) ns/flow | 17.1 ns |"
	echo
	echo "$live"
} >"$out"
cat "$out"
