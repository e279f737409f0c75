#!/usr/bin/env bash
# Remakes samples/: real recordings made on the demo node, and what replaying each prints in
# every output format (the golden files Tests/FlowwatchCoreTests/SampleTests.swift checks).
#   scripts/make-samples.sh path/to/flowwatch [NAME...]          record again, then render
#   scripts/make-samples.sh --render path/to/flowwatch [NAME...] render the existing recordings
# Recordings are made with debug messages on (-v), so every format and verbosity can be replayed.
set -euo pipefail

render_only=
if [ "${1:-}" = --render ]; then render_only=1; shift; fi
flowwatch=$(realpath "${1:?usage: make-samples.sh path/to/flowwatch [sample...]}"); shift
here=$(dirname "$(realpath "$0")")
out=$(realpath "$here/../samples")
node=fwsample
work=$(mktemp -d /tmp/flowwatch-samples.XXXXXX)
fw_pid=

cleanup() {
	trap - EXIT INT TERM
	[ -n "$render_only" ] && return
	if [ -n "$fw_pid" ] && kill -0 "$fw_pid" 2>/dev/null; then kill -INT "$fw_pid"; wait "$fw_pid" || true; fi
	"$here/demo-node.sh" down "$node"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_pod() { local pod=$1; shift; ip netns exec "$node-$pod" "$@"; }

# What each sample sends, after the recorder is attached.
traffic_ping() { in_pod client ping -c2 -i0.2 -W1 10.244.0.25 >/dev/null; }
traffic_tcp() { in_pod client socat -T2 - TCP:10.244.0.25:8080 </dev/null >/dev/null; }
traffic_udp_dns() { echo query | in_pod client socat -T1 - UDP:10.244.0.53:53 >/dev/null; }
traffic_pod_to_world() { in_pod client ping -c1 -W1 198.51.100.10 >/dev/null; echo query | in_pod client socat -T1 - UDP:198.51.100.10:53 >/dev/null; }
traffic_ipv6() { in_pod client ping -6 -c2 -i0.2 -W1 fd00:10:244::19 >/dev/null; }
# A reader that cannot keep up: a 1-page ring per CPU and a burst of pings with -vv dissection.
traffic_lost_events() { in_pod client ping -f -c 400 10.244.0.25 >/dev/null; }

declare -A extra=([lost-events]="--perf-pages 1")
samples=("$@")
[ ${#samples[@]} -gt 0 ] || samples=(ping tcp udp-dns pod-to-world ipv6 lost-events)

# What replaying a recording prints, in every format: the expected outputs.
render() {
	local s=$1
	mkdir -p "$out/$s"
	"$flowwatch" replay "$out/$s.fwrec" -o monitor >"$out/$s/monitor.txt" 2>/dev/null
	"$flowwatch" replay "$out/$s.fwrec" -v >"$out/$s/monitor-v.txt" 2>/dev/null
	"$flowwatch" replay "$out/$s.fwrec" -vv >"$out/$s/monitor-vv.txt" 2>/dev/null
	for f in compact json dict table; do
		"$flowwatch" replay "$out/$s.fwrec" -o "$f" >"$out/$s/$f.txt" 2>/dev/null
	done
	"$flowwatch" replay "$out/$s.fwrec" -v -o compact >"$out/$s/compact-v.txt" 2>/dev/null
	"$flowwatch" replay "$out/$s.fwrec" --pcap-only --force --pcap "$out/$s/capture.pcap" --pcapng "$out/$s/capture.pcapng" 2>/dev/null
}

for s in "${samples[@]}"; do
	if [ -n "$render_only" ]; then render "$s"; continue; fi
	echo "== $s"
	"$here/demo-node.sh" up "$node" "$work/config.yaml"
	rm -f "$work/ready" "$out/$s.fwrec"
	# shellcheck disable=SC2086
	ip netns exec "$node-node" "$flowwatch" record -w "$out/$s.fwrec" -v --config "$work/config.yaml" \
		--device 'lxc*' --device cilium_host --device eth0 ${extra[$s]:-} --ready-file "$work/ready" &
	fw_pid=$!
	for _ in $(seq 100); do [ -e "$work/ready" ] && break; sleep 0.1; done
	sleep 1 # let the namespaces' own IPv6 chatter (MLD, router solicitations) pass
	"traffic_${s//-/_}"
	sleep 0.3
	kill -INT "$fw_pid"; wait "$fw_pid"; fw_pid=
	"$here/demo-node.sh" down "$node"

	render "$s"
	{
		echo "# $s: made by scripts/make-samples.sh on the demo node '$node'"
		echo "flowwatch record -w samples/$s.fwrec -v --config CONFIG --device 'lxc*' --device cilium_host --device eth0 ${extra[$s]:-}"
		echo "# then, in the pods:"
		declare -f "traffic_${s//-/_}" | sed -n '3,$p' | sed '$d' | sed 's/^ *//'
		echo "# expected outputs: scripts/make-samples.sh --render BIN $s"
	} >"$out/$s/COMMAND"
done
