#!/bin/sh
# The packet tests' node topologies themselves (PW_TOPOLOGY in
# tests/netns.sh), with no podwall rule: for calico, ptp and flannel in turn
# a node with local pods and pods of another node, the interfaces named and
# wired as each CNI does, every pod reaching every other pod and the node
# reaching them all on TCP, UDP and ICMP (with flannel across flannel.1 and
# through iptables on the bridge), a pod deleted and made again, and no
# namespace left behind. PW_TOPOLOGIES picks some of them (default: all
# three); one the machine cannot build is skipped with a note.
#
# With PW_FAMILY=dual every check covers IPv6 too (addresses, routes,
# flannel-v6.1, flanneld's ip6tables rules, every cell over both
# families), and the node gets an IPv4-only pod (y/b) and an IPv6-only one
# (y/c) beside the dual-stack ones.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$srcdir/tests/netns.sh"
PW_TOPOLOGY=calico
e2e_requirements "topology.sh"

begin=$(date +%s)
SPECS="tcp:80 udp:80 icmp"
LOCAL="x/a x/b y/a"
REMOTE="z/r z/s"
[ "$PW_FAMILY" != dual ] || LOCAL="$LOCAL y/b y/c"

# check NAME COMMAND...: one line, pass or fail, for the topology at hand.
check() {
	_c_name=$1
	shift
	if "$@"; then
		pass "$PW_TOPOLOGY: $_c_name"
	else
		fail "$PW_TOPOLOGY: $_c_name"
	fi
}

# The machine's own namespace: its links, addresses and routes.
host_state() {
	ip -o link show | awk -F': ' '{ print $2 }' | sed 's/@.*//' | sort
	ip -o addr show | awk '{ print $2, $3, $4 }' | sort
	ip -4 route show table all | sort
	[ "$PW_FAMILY" != dual ] || ip -6 route show table all | sort
}

# on_node KEY COMMAND...: COMMAND in the namespace of the node KEY is on.
on_node() {
	_on_key=$1
	shift
	if [ "$(pod_get "$_on_key" kind)" = remote ] && [ "$PW_TOPOLOGY" = flannel ]; then
		ip netns exec "$PW_NODE2" "$@"
	else
		nx "$@"
	fi
}

# Every pod's host interface is named as the CNI names it, distinct, and
# on its node.
names_ok() {
	_n_bad=0
	for key in "$@"; do
		ns=${key%/*} pod=${key#*/}
		iface=$(pod_iface "$ns" "$pod")
		case $PW_TOPOLOGY in
		calico)
			want="cali$(printf '%s.%s' "$ns" "$pod" | sha1sum | cut -c1-11)"
			[ "$iface" = "$want" ] || { echo "    $key: $iface, not $want" >&2; _n_bad=1; }
			;;
		*)
			echo "$iface" | grep -Eq '^veth[0-9a-f]{8}$' ||
				{ echo "    $key: $iface is not veth + 8 hex" >&2; _n_bad=1; }
			[ "$iface" = "$(pod_get "$key" iface)" ] ||
				{ echo "    $key: pod_iface $iface differs from the registry" >&2; _n_bad=1; }
			;;
		esac
		on_node "$key" ip link show dev "$iface" >/dev/null 2>&1 ||
			{ echo "    $key: no $iface on its node" >&2; _n_bad=1; }
		echo "$iface"
	done >"$PW_TMP/names"
	[ "$(sort -u "$PW_TMP/names" | wc -l)" = "$(wc -l <"$PW_TMP/names")" ] ||
		{ echo "    two pods share an interface name: $(tr '\n' ' ' <"$PW_TMP/names")" >&2; _n_bad=1; }
	return $_n_bad
}

# The host side of each local pod: its /32 route (and for calico proxy ARP,
# for ptp the gateway on the veth); the pod side for ptp. With dual, the
# same of IPv6 (routes_ok6).
routes_ok() {
	_r_bad=0
	for key in $LOCAL; do
		iface=$(pod_get "$key" iface) ip=$(pod_get "$key" ip) net=$(pod_get "$key" netns)
		[ "$ip" != - ] || continue
		case $PW_TOPOLOGY in
		calico | ptp)
			nx ip -4 route show "$ip/32" | grep -q "dev $iface" ||
				{ echo "    $key: no route $ip/32 dev $iface" >&2; _r_bad=1; }
			;;
		esac
		case $PW_TOPOLOGY in
		calico)
			[ "$(nx cat "/proc/sys/net/ipv4/conf/$iface/proxy_arp")" = 1 ] ||
				{ echo "    $key: no proxy ARP on $iface" >&2; _r_bad=1; }
			;;
		ptp)
			nx ip -4 -o addr show dev "$iface" | grep -q " $PW_PTP_GW/32 " ||
				{ echo "    $key: $iface has not $PW_PTP_GW/32" >&2; _r_bad=1; }
			ip -n "$net" -4 -o addr show dev eth0 | grep -q " $ip/32 " ||
				{ echo "    $key: eth0 has not $ip/32" >&2; _r_bad=1; }
			ip -n "$net" route show "$PW_PTP_GW" | grep -q "dev eth0 scope link" ||
				{ echo "    $key: no scope link route to $PW_PTP_GW" >&2; _r_bad=1; }
			ip -n "$net" route show default | grep -q "via $PW_PTP_GW dev eth0" ||
				{ echo "    $key: the default route is not via $PW_PTP_GW" >&2; _r_bad=1; }
			;;
		esac
	done
	return $_r_bad
}

# The IPv6 side of each local pod: IP6/128 on eth0 and a /128 route on the
# node; calico: the pod's default route via the cali interface's link-local
# address, proxy_ndp on it; ptp: the gateway on the veth and in the pod;
# flannel: IP6/64 and the default route via cni0's IPv6 gateway.
routes_ok6() {
	_r_bad=0
	for key in $LOCAL; do
		iface=$(pod_get "$key" iface) ip6=$(pod_get "$key" ip6) net=$(pod_get "$key" netns)
		[ "$ip6" != - ] || continue
		case $PW_TOPOLOGY in
		calico | ptp)
			nx ip -6 route show "$ip6/128" | grep -q "dev $iface" ||
				{ echo "    $key: no route $ip6/128 dev $iface" >&2; _r_bad=1; }
			ip -n "$net" -6 -o addr show dev eth0 | grep -q " $ip6/128 " ||
				{ echo "    $key: eth0 has not $ip6/128" >&2; _r_bad=1; }
			;;
		flannel)
			ip -n "$net" -6 -o addr show dev eth0 | grep -q " $ip6/64 " ||
				{ echo "    $key: eth0 has not $ip6/64" >&2; _r_bad=1; }
			ip -n "$net" -6 route show default | grep -q "via $PW_FL_GW1_6 dev eth0" ||
				{ echo "    $key: the IPv6 default route is not via $PW_FL_GW1_6" >&2; _r_bad=1; }
			;;
		esac
		case $PW_TOPOLOGY in
		calico)
			[ "$(nx cat "/proc/sys/net/ipv6/conf/$iface/proxy_ndp")" = 1 ] ||
				{ echo "    $key: no proxy_ndp on $iface" >&2; _r_bad=1; }
			nx ip -6 -o addr show dev "$iface" scope link | grep -q " $PW_CALICO_GW6/64 " ||
				{ echo "    $key: $iface has not the link-local $PW_CALICO_GW6" >&2; _r_bad=1; }
			ip -n "$net" -6 route show default | grep -q "via $PW_CALICO_GW6 dev eth0" ||
				{ echo "    $key: the IPv6 default route is not via $PW_CALICO_GW6" >&2; _r_bad=1; }
			;;
		ptp)
			nx ip -6 -o addr show dev "$iface" | grep -q " $PW_PTP_GW6/128 " ||
				{ echo "    $key: $iface has not $PW_PTP_GW6/128" >&2; _r_bad=1; }
			ip -n "$net" -6 route show "$PW_PTP_GW6" | grep -q "dev eth0" ||
				{ echo "    $key: no route to $PW_PTP_GW6" >&2; _r_bad=1; }
			ip -n "$net" -6 route show default | grep -q "via $PW_PTP_GW6 dev eth0" ||
				{ echo "    $key: the IPv6 default route is not via $PW_PTP_GW6" >&2; _r_bad=1; }
			;;
		esac
		# No static neighbour: the pod finds its gateway by neighbour discovery.
		[ -z "$(ip -n "$net" -6 neigh show nud permanent)" ] ||
			{ echo "    $key: a permanent IPv6 neighbour in the pod" >&2; _r_bad=1; }
	done
	return $_r_bad
}

# flannel_ok NETNS UNDERLAY-IP GATEWAY/LEN VTEP MAC PEER-SUBNET PEER-VTEP
# PEER-MAC PEER-UNDERLAY-IP: one node as flanneld and the bridge plugin
# leave it.
flannel_ok() {
	_f_ns=$1 _f_bad=0
	for sysctl in net/bridge/bridge-nf-call-iptables net/bridge/bridge-nf-call-ip6tables \
		      net/ipv4/ip_forward; do
		[ "$(ip netns exec "$_f_ns" cat "/proc/sys/$sysctl")" = 1 ] ||
			{ echo "    $_f_ns: $sysctl is not 1" >&2; _f_bad=1; }
	done
	ip -n "$_f_ns" -4 -o addr show dev pwunder | grep -q " $2/24 " ||
		{ echo "    $_f_ns: pwunder has not $2/24" >&2; _f_bad=1; }
	ip -n "$_f_ns" -4 -o addr show dev cni0 | grep -q " $3 " ||
		{ echo "    $_f_ns: cni0 has not $3" >&2; _f_bad=1; }
	ip -n "$_f_ns" -d link show dev cni0 | grep -q '^ *bridge ' ||
		{ echo "    $_f_ns: cni0 is not a bridge" >&2; _f_bad=1; }
	ip -n "$_f_ns" -d link show dev flannel.1 >"$PW_TMP/vxlan"
	for want in "link/ether $5 " "vxlan id 1 " "local $2 " "dev pwunder " "dstport 8472 " "nolearning "; do
		grep -q "$want" "$PW_TMP/vxlan" ||
			{ echo "    $_f_ns: flannel.1 lacks '$want': $(tr -s ' \n' ' ' <"$PW_TMP/vxlan")" >&2; _f_bad=1; }
	done
	ip -n "$_f_ns" -4 -o addr show dev flannel.1 | grep -q " $4/32 " ||
		{ echo "    $_f_ns: flannel.1 has not $4/32" >&2; _f_bad=1; }
	ip -n "$_f_ns" route show "$6" | grep -q "via $7 dev flannel.1 onlink" ||
		{ echo "    $_f_ns: no route $6 via $7 dev flannel.1 onlink" >&2; _f_bad=1; }
	ip -n "$_f_ns" neigh show "$7" dev flannel.1 | grep -q "lladdr $8 PERMANENT" ||
		{ echo "    $_f_ns: no permanent neighbour $7 -> $8 on flannel.1" >&2; _f_bad=1; }
	ip netns exec "$_f_ns" bridge fdb show dev flannel.1 | grep -q "^$8 dst $9 self permanent" ||
		{ echo "    $_f_ns: no fdb entry $8 dst $9 on flannel.1" >&2; _f_bad=1; }
	ip netns exec "$_f_ns" iptables-legacy-save -t filter >"$PW_TMP/flannel.save"
	for want in ':FLANNEL-FWD - ' \
		'-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD' \
		"-A FLANNEL-FWD -s $PW_CLUSTER_CIDR -m comment --comment \"flanneld forward\" -j ACCEPT" \
		"-A FLANNEL-FWD -d $PW_CLUSTER_CIDR -m comment --comment \"flanneld forward\" -j ACCEPT"; do
		grep -qF -- "$want" "$PW_TMP/flannel.save" ||
			{ echo "    $_f_ns: no '$want' in the filter table" >&2; _f_bad=1; }
	done
	node_filter_save "$_f_ns" | grep -q FLANNEL &&
		{ echo "    $_f_ns: node_filter_save keeps flanneld's rules" >&2; _f_bad=1; }
	return $_f_bad
}

# flannel_ok6 NETNS UNDERLAY-IP6 GATEWAY6/LEN VTEP6 MAC6 PEER-SUBNET6
# PEER-VTEP6 PEER-MAC6 PEER-UNDERLAY-IP6: the IPv6 side of one node, as
# flanneld's dual-stack vxlan backend leaves it.
flannel_ok6() {
	_f_ns=$1 _f_bad=0
	[ "$(ip netns exec "$_f_ns" cat /proc/sys/net/ipv6/conf/all/forwarding)" = 1 ] ||
		{ echo "    $_f_ns: net/ipv6/conf/all/forwarding is not 1" >&2; _f_bad=1; }
	ip -n "$_f_ns" -6 -o addr show dev pwunder | grep -q " $2/64 " ||
		{ echo "    $_f_ns: pwunder has not $2/64" >&2; _f_bad=1; }
	ip -n "$_f_ns" -6 -o addr show dev cni0 | grep -q " $3 " ||
		{ echo "    $_f_ns: cni0 has not $3" >&2; _f_bad=1; }
	ip -n "$_f_ns" -d link show dev flannel-v6.1 >"$PW_TMP/vxlan"
	for want in "link/ether $5 " "vxlan id 1 " "local $2 " "dev pwunder " "dstport 8472 " "nolearning "; do
		grep -q "$want" "$PW_TMP/vxlan" ||
			{ echo "    $_f_ns: flannel-v6.1 lacks '$want': $(tr -s ' \n' ' ' <"$PW_TMP/vxlan")" >&2; _f_bad=1; }
	done
	ip -n "$_f_ns" -6 -o addr show dev flannel-v6.1 | grep -q " $4/128 " ||
		{ echo "    $_f_ns: flannel-v6.1 has not $4/128" >&2; _f_bad=1; }
	ip -n "$_f_ns" -6 route show "$6" | grep -q "via $7 dev flannel-v6.1 .*onlink" ||
		{ echo "    $_f_ns: no route $6 via $7 dev flannel-v6.1 onlink" >&2; _f_bad=1; }
	ip -n "$_f_ns" -6 neigh show "$7" dev flannel-v6.1 | grep -q "lladdr $8 PERMANENT" ||
		{ echo "    $_f_ns: no permanent neighbour $7 -> $8 on flannel-v6.1" >&2; _f_bad=1; }
	ip netns exec "$_f_ns" bridge fdb show dev flannel-v6.1 | grep -q "^$8 dst $9 self permanent" ||
		{ echo "    $_f_ns: no fdb entry $8 dst $9 on flannel-v6.1" >&2; _f_bad=1; }
	ip netns exec "$_f_ns" ip6tables-legacy-save -t filter >"$PW_TMP/flannel6.save"
	for want in ':FLANNEL-FWD - ' \
		'-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD' \
		"-A FLANNEL-FWD -s $PW_CLUSTER_CIDR6 -m comment --comment \"flanneld forward\" -j ACCEPT" \
		"-A FLANNEL-FWD -d $PW_CLUSTER_CIDR6 -m comment --comment \"flanneld forward\" -j ACCEPT"; do
		grep -qF -- "$want" "$PW_TMP/flannel6.save" ||
			{ echo "    $_f_ns: no '$want' in the IPv6 filter table" >&2; _f_bad=1; }
	done
	node_filter_save6 "$_f_ns" | grep -q FLANNEL &&
		{ echo "    $_f_ns: node_filter_save6 keeps flanneld's rules" >&2; _f_bad=1; }
	return $_f_bad
}

# Each pod's veth is a port of its node's cni0 with hairpin on.
ports_ok() {
	_p_bad=0
	for key in "$@"; do
		iface=$(pod_get "$key" iface)
		on_node "$key" ip -d link show dev "$iface" >"$PW_TMP/port"
		grep -q "master cni0 " "$PW_TMP/port" ||
			{ echo "    $key: $iface is not a port of cni0" >&2; _p_bad=1; }
		grep -q "hairpin on " "$PW_TMP/port" ||
			{ echo "    $key: $iface has no hairpin" >&2; _p_bad=1; }
	done
	return $_p_bad
}

# if_stat NETNS IFACE COUNTER
if_stat() {
	ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3"
}

# FLANNEL-FWD's "-s cluster" rule's packet counter on edge-1 (with 6, in
# ip6tables).
fwd_packets() {
	nx ip${1:+6}tables-legacy-save -c -t filter |
		sed -n "s/^\[\([0-9]*\):[0-9]*\] -A FLANNEL-FWD -s .*/\1/p"
}

# the full matrix, no policy: every cell ok.
matrix_ok() {
	expect_reset
	PW_SOURCES="$(pod_keys) node${PW_NODE2:+ node2}" PW_REMOTE_PAIRS=1
	verify "$PW_TOPOLOGY: $1" $SPECS
	_m_rc=$?
	PW_SOURCES="" PW_REMOTE_PAIRS=""
	return $_m_rc
}

topology() {
	node_up || { fail "$PW_TOPOLOGY: cannot build the node"; return 1; }
	pod_up x a 198.18.1.1 tcp:80,udp:80 &&
	pod_up x b 198.18.1.2 tcp:80,udp:80 &&
	pod_up y a 198.18.2.1 tcp:80,udp:80 &&
	remote_pod_up z r 198.19.3.1 tcp:80,udp:80 &&
	remote_pod_up z s 198.19.3.2 tcp:80,udp:80 || { fail "$PW_TOPOLOGY: cannot build the pods"; return 1; }
	if [ "$PW_FAMILY" = dual ]; then
		PW_POD_FAMILY=ipv4 pod_up y b 198.18.2.2 tcp:80,udp:80 &&
		pod_up y c fd00:18::2:3 tcp:80,udp:80 || { fail "$PW_TOPOLOGY: cannot build y/b and y/c"; return 1; }
		[ "$(pod_get y/b ip6)" = - ] && [ "$(pod_get y/c ip)" = - ] &&
		[ "$(pod_get x/a ip6)" = "$(ip6_of 198.18.1.1)" ] && [ "$(pod_get z/r ip6)" = fd00:19::3:1 ] ||
			fail "$PW_TOPOLOGY: the registry's addresses of y/b, y/c, x/a, z/r"
	fi

	case $PW_TOPOLOGY in
	flannel) check "every pod's host veth named veth + 8 hex, distinct, on its node" names_ok $LOCAL $REMOTE ;;
	ptp) check "every local pod's host veth named veth + 8 hex, distinct, on the node" names_ok $LOCAL ;;
	calico) check "every local pod's interface named cali + sha1(ns.pod)" names_ok $LOCAL ;;
	esac
	if [ "$PW_FAMILY" = dual ]; then
		case $PW_TOPOLOGY in
		calico) check "IPv6: a /128 route, proxy_ndp and the link-local gateway $PW_CALICO_GW6 on each cali interface" routes_ok6 ;;
		ptp) check "IPv6: the gateway $PW_PTP_GW6/128 and a /128 route on each veth, the pod's /128 and its gateway" routes_ok6 ;;
		flannel) check "IPv6: each pod's /64 in edge-1's subnet and its default route via $PW_FL_GW1_6" routes_ok6 ;;
		esac
	fi
	case $PW_TOPOLOGY in
	calico) check "a /32 route and proxy ARP on each cali interface" routes_ok ;;
	ptp) check "the gateway $PW_PTP_GW/32 and a /32 route on each veth, podIP/32 and the gateway in each pod" routes_ok ;;
	flannel)
		check "edge-1: br_netfilter, cni0, flannel.1 with the route, neighbour and fdb entry to edge-2, flanneld's rules" \
			flannel_ok "$PW_NODE" "$PW_NODE_IP" "$PW_FL_GW1/16" "$PW_FL_VTEP1" "$PW_FL_MAC1" \
			"$PW_FL_SUBNET2" "$PW_FL_VTEP2" "$PW_FL_MAC2" "$PW_NODE2_IP"
		check "edge-2: br_netfilter, cni0, flannel.1 with the route, neighbour and fdb entry to edge-1, flanneld's rules" \
			flannel_ok "$PW_NODE2" "$PW_NODE2_IP" "$PW_FL_GW2/17" "$PW_FL_VTEP2" "$PW_FL_MAC2" \
			"$PW_FL_SUBNET1" "$PW_FL_VTEP1" "$PW_FL_MAC1" "$PW_NODE_IP"
		check "every pod's veth a port of its node's cni0 with hairpin on" ports_ok $LOCAL $REMOTE
		if [ "$PW_FAMILY" = dual ]; then
			check "edge-1 IPv6: forwarding, cni0's gateway, flannel-v6.1 with the route, neighbour and fdb entry to edge-2, flanneld's ip6tables rules" \
				flannel_ok6 "$PW_NODE" "$PW_NODE_IP6" "$PW_FL_GW1_6/64" "$PW_FL_VTEP1_6" "$PW_FL_MAC1_6" \
				"$PW_FL_SUBNET2_6" "$PW_FL_VTEP2_6" "$PW_FL_MAC2_6" "$PW_NODE2_IP6"
			check "edge-2 IPv6: forwarding, cni0's gateway, flannel-v6.1 with the route, neighbour and fdb entry to edge-1, flanneld's ip6tables rules" \
				flannel_ok6 "$PW_NODE2" "$PW_NODE2_IP6" "$PW_FL_GW2_6/64" "$PW_FL_VTEP2_6" "$PW_FL_MAC2_6" \
				"$PW_FL_SUBNET1_6" "$PW_FL_VTEP1_6" "$PW_FL_MAC1_6" "$PW_NODE_IP6"
		fi
		;;
	esac

	if [ "$PW_TOPOLOGY" = flannel ]; then
		tx=$(if_stat "$PW_NODE" flannel.1 tx_packets) rx=$(if_stat "$PW_NODE2" flannel.1 rx_packets)
		if [ "$PW_FAMILY" = dual ]; then
			tx6=$(if_stat "$PW_NODE" flannel-v6.1 tx_packets) rx6=$(if_stat "$PW_NODE2" flannel-v6.1 rx_packets)
		fi
	fi
	matrix_ok "no policy: every pod and the node reach every pod"
	if [ "$PW_TOPOLOGY" = flannel ]; then
		tx2=$(if_stat "$PW_NODE" flannel.1 tx_packets) rx2=$(if_stat "$PW_NODE2" flannel.1 rx_packets)
		# 2 local to 2 remote pods, and the node to them: 3 x 2 x 3 probes at least.
		if [ $((tx2 - tx)) -ge 18 ] && [ $((rx2 - rx)) -ge 18 ]; then
			pass "$PW_TOPOLOGY: edge-1 to edge-2 went over flannel.1 ($((tx2 - tx)) packets out, $((rx2 - rx)) in)"
		else
			fail "$PW_TOPOLOGY: flannel.1 carried $((tx2 - tx)) packets out of edge-1, $((rx2 - rx)) into edge-2"
		fi
		if [ "$PW_FAMILY" = dual ]; then
			tx2=$(if_stat "$PW_NODE" flannel-v6.1 tx_packets) rx2=$(if_stat "$PW_NODE2" flannel-v6.1 rx_packets)
			# IPv6: x/a, x/b, y/c and the node to 2 remote pods, 3 probes each.
			if [ $((tx2 - tx6)) -ge 24 ] && [ $((rx2 - rx6)) -ge 24 ]; then
				pass "$PW_TOPOLOGY: IPv6 from edge-1 to edge-2 went over flannel-v6.1 ($((tx2 - tx6)) packets out, $((rx2 - rx6)) in)"
			else
				fail "$PW_TOPOLOGY: flannel-v6.1 carried $((tx2 - tx6)) packets out of edge-1, $((rx2 - rx6)) into edge-2"
			fi
		fi
		# Bridged frames between two pods of edge-1 go through iptables.
		nx iptables-legacy -w -Z FLANNEL-FWD
		[ "$PW_FAMILY" != dual ] || nx ip6tables-legacy -w -Z FLANNEL-FWD
		expect_reset
		PW_SOURCES=x/a PW_DESTS=x/b
		verify "$PW_TOPOLOGY: x/a -> x/b on the same bridge" $SPECS
		PW_SOURCES="" PW_DESTS=""
		n=$(fwd_packets)
		if [ "${n:-0}" -ge 3 ]; then
			pass "$PW_TOPOLOGY: bridged x/a -> x/b traffic went through FORWARD ($n packets in FLANNEL-FWD)"
		else
			fail "$PW_TOPOLOGY: bridged x/a -> x/b traffic did not go through iptables (FLANNEL-FWD: ${n:-none})"
		fi
		if [ "$PW_FAMILY" = dual ]; then
			n=$(fwd_packets 6)
			if [ "${n:-0}" -ge 3 ]; then
				pass "$PW_TOPOLOGY: bridged IPv6 x/a -> x/b traffic went through ip6tables FORWARD ($n packets in FLANNEL-FWD)"
			else
				fail "$PW_TOPOLOGY: bridged IPv6 x/a -> x/b traffic did not go through ip6tables (FLANNEL-FWD: ${n:-none})"
			fi
		fi
	fi

	# A pod deleted and made again at once, with the same address: the
	# new interface is the one pod_iface names, and everything is reached.
	old=$(pod_iface x b) oldr=$(pod_iface z s)
	pod_down x/b && pod_down z/s &&
	pod_up x b 198.18.1.2 tcp:80,udp:80 &&
	remote_pod_up z s 198.19.3.2 tcp:80,udp:80 || fail "$PW_TOPOLOGY: cannot make x/b and z/s again"
	if [ "$PW_TOPOLOGY" != calico ]; then
		if [ "$(pod_iface x b)" != "$old" ] && ! nx ip link show dev "$old" >/dev/null 2>&1; then
			pass "$PW_TOPOLOGY: x/b made again has a new veth ($(pod_iface x b)), the old one ($old) is gone"
		else
			fail "$PW_TOPOLOGY: x/b made again: veth $(pod_iface x b), the old one $old"
		fi
		[ "$PW_TOPOLOGY" != flannel ] || [ "$(pod_iface z s)" != "$oldr" ] ||
			fail "$PW_TOPOLOGY: z/s made again kept its veth $oldr"
	fi
	matrix_ok "x/b and z/s deleted and made again: every pod and the node reach every pod"
}

host_state >"$PW_TMP/host.before"
for PW_TOPOLOGY in ${PW_TOPOLOGIES:-calico ptp flannel}; do
	why=$(topology_requirements)
	if [ -n "$why" ]; then
		echo "note: PW_TOPOLOGY=$PW_TOPOLOGY not tested: $why"
		continue
	fi
	t0=$(date +%s)
	topology
	node_down
	left=$(ip netns list | awk -v p="$PW_RUN" 'index($1, p) == 1 { print $1 }')
	if [ -z "$left" ]; then
		pass "$PW_TOPOLOGY: node_down left no namespace"
	else
		fail "$PW_TOPOLOGY: node_down left $left"
	fi
	echo "note: $PW_TOPOLOGY took $(($(date +%s) - t0)) s"
done
PW_TOPOLOGY=calico

host_state >"$PW_TMP/host.after"
if cmp -s "$PW_TMP/host.before" "$PW_TMP/host.after"; then
	pass "the machine's own links, addresses and routes are as they were"
else
	fail "the machine's own namespace changed:"
	diff -u "$PW_TMP/host.before" "$PW_TMP/host.after" | head -n 20 >&2
fi

echo "note: topology.sh took $(($(date +%s) - begin)) s"
e2e_cleanup
check_no_leftovers
finish
