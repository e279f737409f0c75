#!/usr/bin/env bash
# Builds (and tears down) a Cilium-style node entirely inside network namespaces of its own:
#
#   <name>-world (198.51.100.10, 2001:db8::10)     "the internet"
#        | eth0
#        | eth0 (198.51.100.1)
#   <name>-node: cilium_host (10.244.0.1) <-> cilium_net, one lxc* per pod, native routing:
#                a /32 (/128) route per pod to its lxc, forwarding on
#        | lxc...          | lxc...          | lxc...
#   <name>-client      <name>-server     <name>-dns       pods: eth0 with a /32, default via 10.244.0.1
#
# Usage: demo-node.sh up NAME CONFIG_OUT   build it and write flowwatch's config to CONFIG_OUT
#        demo-node.sh down NAME            remove everything NAME built (safe to repeat)
#        demo-node.sh traffic NAME         one round of ping, TCP, UDP/DNS, IPv6 and pod-to-world
# Nothing outside these namespaces is touched; traffic only flows between them.
set -euo pipefail

cmd=${1:-}; name=${2:-fwdemo}
node=$name-node world=$name-world
pods=(client server dns)
declare -A ip4=([client]=10.244.0.102 [server]=10.244.0.25 [dns]=10.244.0.53)
declare -A ip6=([client]=fd00:10:244::66 [server]=fd00:10:244::19 [dns]=fd00:10:244::35)
declare -A epid=([client]=2073 [server]=149 [dns]=312)
declare -A ident=([client]=22099 [server]=11575 [dns]=104)
declare -A app=([client]=cni-client [server]=cni-server [dns]=coredns)
declare -A podns=([client]=default [server]=default [dns]=kube-system)

# lxc + 12 hex digits, like Cilium's names, stable for a given demo name and pod.
lxc_name() { printf 'lxc%s' "$(printf '%s' "$name/$1" | md5sum | cut -c1-12)"; }
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

down() {
	for p in "${pods[@]}"; do ip netns pids "$name-$p" 2>/dev/null | xargs -r kill 2>/dev/null || true; done
	for ns in "$node" "$world" "${pods[@]/#/$name-}"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
		ip netns del "$ns" 2>/dev/null || true
	done
}

up() {
	local config=$1
	down
	ip netns add "$node"
	ip netns add "$world"
	# No duplicate address detection: addresses are usable at once, not a second later.
	in_ns "$node" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 net.ipv6.conf.default.accept_dad=0
	in_ns "$world" sysctl -qw net.ipv6.conf.default.accept_dad=0
	in_ns "$node" ip link set lo up
	in_ns "$world" ip link set lo up

	# cilium_host <-> cilium_net, the host's side of the pod network.
	in_ns "$node" ip link add cilium_host type veth peer name cilium_net
	in_ns "$node" ip addr add 10.244.0.1/32 dev cilium_host
	in_ns "$node" ip addr add fd00:10:244::1/128 dev cilium_host nodad
	in_ns "$node" ip link set cilium_net up
	in_ns "$node" ip link set cilium_host up

	# The uplink to "world".
	ip link add eth0 netns "$node" type veth peer name eth0 netns "$world"
	in_ns "$node" ip addr add 198.51.100.1/24 dev eth0
	in_ns "$node" ip addr add 2001:db8::1/64 dev eth0 nodad
	in_ns "$node" ip link set eth0 up
	in_ns "$world" ip addr add 198.51.100.10/24 dev eth0
	in_ns "$world" ip addr add 2001:db8::10/64 dev eth0 nodad
	in_ns "$world" ip link set eth0 up
	in_ns "$world" ip route add 10.244.0.0/24 via 198.51.100.1
	in_ns "$world" ip -6 route add fd00:10:244::/64 via 2001:db8::1

	local p lxc mac
	for p in "${pods[@]}"; do
		lxc=$(lxc_name "$p")
		ip netns add "$name-$p"
		in_ns "$name-$p" sysctl -qw net.ipv6.conf.default.accept_dad=0
		ip link add "$lxc" netns "$node" type veth peer name eth0 netns "$name-$p"
		in_ns "$node" ip link set "$lxc" up
		mac=$(in_ns "$node" cat "/sys/class/net/$lxc/address")
		in_ns "$node" ip route add "${ip4[$p]}/32" dev "$lxc"
		in_ns "$node" ip -6 route add "${ip6[$p]}/128" dev "$lxc"
		in_ns "$name-$p" ip link set lo up
		in_ns "$name-$p" ip addr add "${ip4[$p]}/32" dev eth0
		in_ns "$name-$p" ip addr add "${ip6[$p]}/128" dev eth0 nodad
		in_ns "$name-$p" ip link set eth0 up
		# Cilium-style: the gateway is cilium_host's address, reached through the lxc peer.
		in_ns "$name-$p" ip route add 10.244.0.1/32 dev eth0 scope link
		in_ns "$name-$p" ip route add default via 10.244.0.1 dev eth0
		in_ns "$name-$p" ip -6 neigh add fd00:10:244::1 lladdr "$mac" dev eth0 nud permanent
		in_ns "$name-$p" ip -6 route add fd00:10:244::1/128 dev eth0
		in_ns "$name-$p" ip -6 route add default via fd00:10:244::1 dev eth0
	done

	# Services: TCP on the server pod, DNS-like UDP on the dns pod and in world. Plain commands,
	# not functions, go to the background: a forked shell would keep our stdout open.
	ip netns exec "$name-server" socat -T2 TCP6-LISTEN:8080,fork,reuseaddr,ipv6only=0 SYSTEM:'echo hello from server' </dev/null >/dev/null 2>&1 &
	ip netns exec "$name-dns" socat -T1 UDP6-RECVFROM:53,fork,reuseaddr,ipv6only=0 SYSTEM:'echo answer' </dev/null >/dev/null 2>&1 &
	ip netns exec "$world" socat -T1 UDP6-RECVFROM:53,fork,reuseaddr,ipv6only=0 SYSTEM:'echo answer' </dev/null >/dev/null 2>&1 &

	{
		echo "# written by scripts/demo-node.sh for the demo node '$name'"
		echo "node: $name"
		echo "hostEndpoint: 3000"
		echo "endpoints:"
		for p in "${pods[@]}"; do
			echo "  - id: ${epid[$p]}"
			echo "    interface: $(lxc_name "$p")"
			echo "    identity: ${ident[$p]}"
			echo "    pod: ${app[$p]}"
			echo "    namespace: ${podns[$p]}"
			echo "    labels: [\"k8s:app=${app[$p]}\", \"k8s:io.kubernetes.pod.namespace=${podns[$p]}\"]"
			echo "    ips: [${ip4[$p]}, \"${ip6[$p]}\"]"
		done
		echo "prefixes:"
		for c in 10.244.0.1/32 fd00:10:244::1/128 198.51.100.1/32 2001:db8::1/128; do
			echo "  - {cidr: \"$c\", identity: 1}"
		done
	} >"$config"
}

traffic() {
	local c=$name-client
	in_ns "$c" ping -c1 -W1 "${ip4[server]}" >/dev/null || echo "ping client -> server failed" >&2
	in_ns "$c" socat -T2 - "TCP:${ip4[server]}:8080" </dev/null >/dev/null || echo "tcp client -> server failed" >&2
	echo query | in_ns "$c" socat -T1 - "UDP:${ip4[dns]}:53" >/dev/null || echo "udp client -> dns failed" >&2
	in_ns "$c" ping -6 -c1 -W1 "${ip6[server]}" >/dev/null || echo "ping6 client -> server failed" >&2
	in_ns "$c" ping -c1 -W1 198.51.100.10 >/dev/null || echo "ping client -> world failed" >&2
	echo query | in_ns "$c" socat -T1 - "UDP:198.51.100.10:53" >/dev/null || echo "udp client -> world failed" >&2
}

case $cmd in
up) up "${3:?config path}" ;;
down) down ;;
traffic) traffic ;;
lxc) lxc_name "${3:?pod}" ;;
*) echo "usage: $0 up NAME CONFIG_OUT | down NAME | traffic NAME | lxc NAME POD" >&2; exit 2 ;;
esac
