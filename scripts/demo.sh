#!/usr/bin/env bash
# `make demo`: builds a demo node in network namespaces (scripts/demo-node.sh), runs
# `flowwatch --follow -v` inside the node, sends pod-to-pod and pod-to-world traffic, and tears
# everything down on every exit (Ctrl-C included).
#   DEMO_ROUNDS=N   rounds of traffic (default 3); DEMO_ROUNDS=0 keeps going until Ctrl-C
#   DEMO_VERBOSE=-vv  any flowwatch verbosity (default -v)
set -euo pipefail

flowwatch=$(realpath "${1:?usage: demo.sh path/to/flowwatch}")
here=$(dirname "$(realpath "$0")")
name=fwdemo$$
work=$(mktemp -d /tmp/flowwatch-demo.XXXXXX)
fw_pid=

cleanup() {
	trap - EXIT INT TERM
	if [ -n "$fw_pid" ] && kill -0 "$fw_pid" 2>/dev/null; then
		kill -INT "$fw_pid" 2>/dev/null || true
		wait "$fw_pid" 2>/dev/null || true
	fi
	"$here/demo-node.sh" down "$name"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== building demo node '$name' (namespaces $name-node, -world, -client, -server, -dns)"
"$here/demo-node.sh" up "$name" "$work/config.yaml"
echo "== config: $work/config.yaml"
echo "== flowwatch --follow ${DEMO_VERBOSE:--v} inside $name-node"
ip netns exec "$name-node" "$flowwatch" --follow "${DEMO_VERBOSE:--v}" --config "$work/config.yaml" \
	--device 'lxc*' --device cilium_host --device eth0 --ready-file "$work/ready" &
fw_pid=$!
for _ in $(seq 100); do [ -e "$work/ready" ] && break; kill -0 "$fw_pid" || exit 1; sleep 0.1; done
[ -e "$work/ready" ] || { echo "flowwatch did not start" >&2; exit 1; }

rounds=${DEMO_ROUNDS:-3}
i=0
while [ "$rounds" = 0 ] || [ "$i" -lt "$rounds" ]; do
	i=$((i + 1))
	echo "== round $i: ping, TCP :8080, UDP :53, ping6 pod-to-pod; ping and UDP :53 pod-to-world" >&2
	"$here/demo-node.sh" traffic "$name"
	sleep 1
done
