#!/usr/bin/env bash
# The live half of `make bench` (called by scripts/bench.sh, prints a markdown section): what
# observing costs the node and how fast it can go without losing anything, on a demo node in
# network namespaces of its own, with iperf3 between two pods; and the program's cost per packet
# without traffic (fwbench kernel: BPF_PROG_TEST_RUN on an established TCP connection).
#   scripts/bench-live.sh path/to/flowwatch [path/to/fwbench]
# Env: RUNS (iperf3 runs per setting, default 5), SECONDS_PER_RUN (default 5), RATES (UDP packet
# rates tried for the zero-loss figure, default "25000 50000 100000 200000 400000"), DRIVE_RATES
# (test-run rates tried for it, default "250000 500000 1000000 1500000 2000000").
set -euo pipefail

flowwatch=$(realpath "${1:?usage: bench-live.sh path/to/flowwatch [path/to/fwbench]}")
fwbench=${2:-$(dirname "$flowwatch")/fwbench}
here=$(dirname "$(realpath "$0")")
runs=${RUNS:-5}
secs=${SECONDS_PER_RUN:-5}
rates=${RATES:-25000 50000 100000 200000 400000}
drive_rates=${DRIVE_RATES:-250000 500000 1000000 1500000 2000000}
node=fwlive$$
work=$(mktemp -d /tmp/flowwatch-bench-live.XXXXXX)
fw_pid=

cleanup() {
	trap - EXIT INT TERM
	stop_flowwatch
	ip netns pids "$node-server" 2>/dev/null | xargs -r kill 2>/dev/null || true
	"$here/demo-node.sh" down "$node"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The program alone, before any traffic: one line per level (fwbench's header says the fields).
kernel=$("$fwbench" kernel "${KERNEL_REPEAT:-20000}")
kfield() { awk -v k="kernel_$1" -v f="$2" '$1 == k {print $f}' <<<"$kernel"; }
# Writing one trace to a perf event array by itself, varied one thing at a time (fwbench output-floor).
floor=$("$fwbench" output-floor "${KERNEL_REPEAT:-20000}")

server=10.244.0.25
"$here/demo-node.sh" up "$node" "$work/config.yaml" >/dev/null
ip netns exec "$node-server" iperf3 -s -D --pidfile "$work/iperf3.pid" >/dev/null
sleep 0.5

# flowwatch on the node, text to /dev/null; extra arguments are flowwatch's.
start_flowwatch() {
	rm -f "$work/ready"
	ip netns exec "$node-node" "$flowwatch" --follow --config "$work/config.yaml" --ready-file "$work/ready" \
		"$@" >/dev/null 2>"$work/fw.log" &
	fw_pid=$!
	for _ in $(seq 100); do [ -e "$work/ready" ] && return; sleep 0.1; done
	echo "flowwatch did not start: $(cat "$work/fw.log")" >&2
	exit 1
}
# The baseline of observing: a program that does nothing (fwbench hooks) at both hooks of the
# devices flowwatch observes by default (lxc* and cilium_host), held until stop_flowwatch.
start_hooks() {
	local devices
	devices=$(ip netns exec "$node-node" ls /sys/class/net | grep -E '^lxc|^cilium_host$')
	# shellcheck disable=SC2086 # one device per word
	ip netns exec "$node-node" "$fwbench" hooks $devices >"$work/hooks.txt" 2>"$work/fw.log" &
	fw_pid=$!
	for _ in $(seq 100); do grep -q '^hooks' "$work/hooks.txt" && return; sleep 0.1; done
	echo "fwbench hooks did not attach: $(cat "$work/fw.log")" >&2
	exit 1
}
stop_flowwatch() {
	if [ -n "$fw_pid" ] && kill -0 "$fw_pid" 2>/dev/null; then kill -INT "$fw_pid"; wait "$fw_pid" || true; fi
	fw_pid=
}

# iperf3 from the client pod; prints one number: TCP Mbit/s, or UDP packets/s received.
iperf() {
	ip netns exec "$node-client" iperf3 -c "$server" -t "$secs" -J "$@" >"$work/iperf.json"
	python3 - "$work/iperf.json" <<-'EOF'
		import json, sys
		r = json.load(open(sys.argv[1]))
		s = r["end"].get("sum_received") or r["end"]["sum"]
		if "packets" in r["end"].get("sum", {}):
		    u = r["end"]["sum"]
		    print("%.0f" % ((u["packets"] - u["lost_packets"]) / u["seconds"]))
		else:
		    print("%.0f" % (s["bits_per_second"] / 1e6))
	EOF
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
spread() { sort -n | awk 'NR==1{min=$1} {max=$1} END {printf "%s-%s", min, max}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
kernel_ns() { grep -o '([0-9]* ns per packet in the kernel)' "$work/fw.log" | grep -o '[0-9]*' | head -1; }

# One setting: base = no flowwatch; hooks = no flowwatch, an empty program at the hooks flowwatch
# uses (start_hooks); an --aggregation level with flowwatch's defaults (the kernel times the
# program 1 s in every 10); or timed-LEVEL: the UDP flood alone with every run timed
# (--program-timing always), which gives the program's cost over all of the flood's packets.
# Interleaved runs, so drift on a shared machine spreads over all settings alike.
declare -A tcp udp cost
for ((i = 0; i < runs; i++)); do
	for setting in base hooks medium none timed-medium timed-none; do
		case $setting in
		base) ;;
		hooks) start_hooks ;;
		timed-*) start_flowwatch --aggregation "${setting#timed-}" --program-timing always ;;
		*) start_flowwatch --aggregation "$setting" ;;
		esac
		[[ $setting == timed-* ]] || tcp[$setting]+="$(iperf) "
		udp[$setting]+="$(iperf -u -l 64 -b 0) "
		if [ "$setting" != base ]; then
			stop_flowwatch
			[[ $setting != timed-* ]] || cost[${setting#timed-}]+="$(kernel_ns) "
		fi
	done
done
m() { tr ' ' '\n' <<<"$1" | grep . | median; }
s() { tr ' ' '\n' <<<"$1" | grep . | spread; }

# Zero-loss rate: flowwatch with default buffers (--aggregation none -o compact, to /dev/null)
# while a source of events runs at rising rates, until the first rate at which anything is lost
# anywhere: perf ring, flow ring (the printer fell behind), kernel output errors. Events/s are the
# records flowwatch read per second of traffic. Sources (each a function taking a rate):
#   udp_flood: iperf3 UDP 64-byte datagrams from the client pod to the server pod, RATE packets/s,
#     every packet traced at two observation points (with -v also its debug messages);
#   driven: fwbench drive, RATE test runs/s of the same datagram through the ingress program this
#     flowwatch attached to the client pod's lxc (BPF_PROG_TEST_RUN): real events from the real
#     program into the real perf rings, one per run, at rates real packets cannot reach here.
udp_flood() { ip netns exec "$node-client" iperf3 -c "$server" -t "$secs" -u -l 64 -b "$(($1 * 64 * 8))" >/dev/null; }
driven() {
	ip netns exec "$node-node" "$fwbench" drive "$client_lxc" "$1" "$(($1 * secs))" >"$work/drive.txt"
	drive_seconds=$(awk '{print $3}' "$work/drive.txt")
}
client_lxc=$("$here/demo-node.sh" lxc "$node" client)
declare -A best first
zero_loss() { # name, source, rates, flowwatch arguments...
	local name=$1 source=$2 rate records perf ringlost outerr seconds
	shift 2
	local rates=$1
	shift
	best[$name]="0 events/s" first[$name]="none up to the highest rate tried"
	for rate in $rates; do
		drive_seconds=
		start_flowwatch --aggregation none -o compact "$@"
		"$source" "$rate"
		stop_flowwatch
		seconds=${drive_seconds:-$secs}
		records=$(grep -o '^flowwatch: [0-9]* records read' "$work/fw.log" | grep -o '[0-9]*' | head -1)
		perf=$(grep -o 'lost: perf ring [0-9]*' "$work/fw.log" | grep -o '[0-9]*$')
		ringlost=$(grep -o 'ring [0-9]* (output too slow)' "$work/fw.log" | grep -o '[0-9]*' | head -1)
		outerr=$(grep -o 'kernel output errors [0-9]*' "$work/fw.log" | grep -o '[0-9]*$')
		if [ "$((perf + ${ringlost:-0} + outerr))" -ne 0 ]; then
			first[$name]="at $rate/s: lost $perf (perf ring) + ${ringlost:-0} (flow ring) + $outerr (kernel output)"
			break
		fi
		best[$name]="$(awk -v r="$records" -v s="$seconds" 'BEGIN {printf "%.0f", r / s}') events/s (at $rate/s)"
	done
}
zero_loss udp udp_flood "$rates"
zero_loss udpv udp_flood "$rates" -v
zero_loss driven driven "$drive_rates"
# The same without text: a filter no event matches, so the printer decodes, builds and filters
# every event and formats none (what the pipeline sustains apart from the formatter).
zero_loss drivenq driven "$drive_rates" --no-kernel-filter --protocol sctp

# Memory: RSS of an observer whose 65,535-entry ring (the default) is full.
start_flowwatch --aggregation none --ring-capacity 65535
ip netns exec "$node-client" ping -f -q -c 40000 "$server" >/dev/null
sleep 0.3
rss=$(awk '/VmRSS/ {print $2}' "/proc/$fw_pid/status")
stop_flowwatch
ringfill=$(grep -o 'Current/Max Flows: [0-9]*/[0-9]*' "$work/fw.log" | head -1)

mbps() { echo "$1 Mbit/s"; }
echo "## Live, on a demo node"
echo
echo "iperf3 from the client pod to the server pod (veths through the node namespace), $runs runs of"
echo "${secs}s per setting, interleaved: without flowwatch; with only an empty program at the hooks"
echo "flowwatch uses (what tc itself costs, whatever the program); with flowwatch at --aggregation medium"
echo "and none (the kernel timing the program 1 s in every 10, the default); and the UDP flood again with"
echo "every run timed (--program-timing always), which gives the program's cost per packet."
echo "Medians with min-max; ratios are medians against the run without flowwatch."
echo
echo "| what | how | result | spread | baseline (no flowwatch) | ratio | goal |"
echo "|---|---|---|---|---|---|---|"
echo "| TCP throughput, empty program | iperf3 TCP, a program that does nothing at both hooks of lxc* and cilium_host (fwbench hooks): the floor of any tc observer | $(mbps "$(m "${tcp[hooks]}")") | $(s "${tcp[hooks]}") | $(mbps "$(m "${tcp[base]}")") | $(ratio "$(m "${tcp[hooks]}")" "$(m "${tcp[base]}")") | - |"
echo "| TCP throughput, medium | iperf3 TCP | $(mbps "$(m "${tcp[medium]}")") | $(s "${tcp[medium]}") | $(mbps "$(m "${tcp[base]}")") | $(ratio "$(m "${tcp[medium]}")" "$(m "${tcp[base]}")") | >= 0.97 |"
echo "| TCP throughput, none | iperf3 TCP | $(mbps "$(m "${tcp[none]}")") | $(s "${tcp[none]}") | $(mbps "$(m "${tcp[base]}")") | $(ratio "$(m "${tcp[none]}")" "$(m "${tcp[base]}")") | >= 0.85 |"
echo "| small packets, empty program | iperf3 UDP, 64-byte payloads, unlimited rate; packets/s received; the empty program as above | $(m "${udp[hooks]}") | $(s "${udp[hooks]}") | $(m "${udp[base]}") | $(ratio "$(m "${udp[hooks]}")" "$(m "${udp[base]}")") | - |"
echo "| small packets, medium | iperf3 UDP, 64-byte payloads, unlimited rate; packets/s received | $(m "${udp[medium]}") | $(s "${udp[medium]}") | $(m "${udp[base]}") | $(ratio "$(m "${udp[medium]}")" "$(m "${udp[base]}")") | >= 0.95 |"
echo "| small packets, none | same | $(m "${udp[none]}") | $(s "${udp[none]}") | $(m "${udp[base]}") | $(ratio "$(m "${udp[none]}")" "$(m "${udp[base]}")") | - |"
echo "| small packets, medium, timed | same, --program-timing always | $(m "${udp[timed-medium]}") | $(s "${udp[timed-medium]}") | $(m "${udp[base]}") | $(ratio "$(m "${udp[timed-medium]}")" "$(m "${udp[base]}")") | - |"
echo "| program cost, medium | kernel run time / run count (BPF_ENABLE_STATS) over the timed UDP flood runs | $(m "${cost[medium]}") ns/packet | $(s "${cost[medium]}") | - | - | <= 150 ns |"
echo "| program cost, none | same | $(m "${cost[none]}") ns/packet | $(s "${cost[none]}") | - | - | <= 300 ns |"
echo "| program cost, medium, no traffic | BPF_PROG_TEST_RUN, 7 rounds of ${KERNEL_REPEAT:-20000} runs each of a data segment (to-endpoint, established) and an ACK (from-endpoint, reply); kernel run time / run count; $(kfield medium 5) traces per packet | $(kfield medium 2) ns/packet | $(kfield medium 3)-$(kfield medium 4) | - | - | <= 150 ns |"
echo "| program cost, none, no traffic | same; $(kfield none 5) traces per packet | $(kfield none 2) ns/packet | $(kfield none 3)-$(kfield none 4) | - | - | <= 300 ns |"
echo "| zero-loss rate, UDP flood | iperf3 UDP 64-byte pod to pod at rising rates ($rates packets/s), --aggregation none -o compact, default buffers; each packet traced at two points | ${best[udp]} | - | - | - | >= 1,000,000 events/s |"
echo "| zero-loss rate, UDP flood, -v | the same with -v: each packet's debug messages too | ${best[udpv]} | - | - | - | >= 1,000,000 events/s |"
echo "| zero-loss rate, driven | \`fwbench drive\`: BPF_PROG_TEST_RUN of the flood's datagram through the ingress program flowwatch attached to the client pod's lxc, at rising rates ($drive_rates runs/s), one trace per run into the real perf rings; flowwatch as above | ${best[driven]} | - | - | - | >= 1,000,000 events/s |"
echo "| zero-loss rate, driven, no text | the same with a filter no event matches (--no-kernel-filter --protocol sctp): decoded, built and filtered, not formatted | ${best[drivenq]} | - | - | - | - |"
echo "| memory | VmRSS of \`--follow --ring-capacity 65535\` after 40,000 flood pings ($ringfill) | $((rss / 1024)) MiB | - | - | - | <= 64 MiB |"
echo
echo "First loss (the rates are packets/s for the flood, test runs/s when driven): UDP flood ${first[udp]}; with -v ${first[udpv]}; driven ${first[driven]}; driven, no text ${first[drivenq]}."
echo
echo "Verifier, instructions processed at load (debug off; ingress/egress): medium $(kfield medium 6)/$(kfield medium 7), none $(kfield none 6)/$(kfield none 7)."
echo
echo "Writing one trace to a perf event array by itself (fwbench output-floor, bpf/bench/output_floor.bpf.c):"
echo "a program that only calls bpf_perf_event_output with a 56-byte trace_notify, run as above (the"
echo "data segment, 7 rounds of ${KERNEL_REPEAT:-20000} runs, kernel run time / run count; rings emptied unread"
echo "between rounds), one thing varied at a time. Median ns per run, min-max."
echo
echo "| how | ns per run | spread |"
echo "|---|---|---|"
while read -r name what; do
	awk -v k="floor_$name" -v w="$what" '$1 == k {printf "| %s | %s | %s-%s |\n", w, $2, $3, $4}' <<<"$floor"
done <<-'EOF'
	empty nothing at all: what the run-time accounting (BPF_ENABLE_STATS) adds to any program
	stamp_nocap the time (bpf_ktime_get_boot_ns) and the trace, no packet bytes, no wake-ups
	stamp_cap128 the same and 128 packet bytes (BPF_F_CTXLEN_MASK): flowwatch's trace, without wake-ups
	notime_cap128 the same without any time
	sampletime_boottime_cap128 the trace and 128 bytes, the time from perf (PERF_SAMPLE_TIME, CLOCK_BOOTTIME): flowwatch's trace before
	sampletime_monotonic_cap128 the same on CLOCK_MONOTONIC
	sampletime_perfclock_cap128 the same on perf's own clock (no use_clockid)
	stamp_cap128_wakeup_default flowwatch's trace and its default wake-ups (every quarter of a default ring)
	stamp_cap128_wakeup_16k the same with a wake-up every 16 KiB (the default before)
	stamp_cap128_wakeup_each the same with a wake-up per sample
EOF
