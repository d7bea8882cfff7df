# Helpers for podwall's packet tests: a node made of network namespaces.
# Source it after tests/lib.sh. Everything it changes lives in namespaces it
# creates (named pw<pid><letter><n>) and deletes on exit, also on failure or
# interruption; the machine's own namespace is never touched.
#
#   node_up                         the node namespace "edge-1" (PW_NODE), and
#                                   with flannel "edge-2" (PW_NODE2) too
#   node_down                       every namespace gone, for a fresh node_up
#   pod_up NS POD IP [PORTS]        a pod on the node, wired as the CNI does
#   remote_pod_up NS POD IP [PORTS] a pod on another node (edge-2)
#   pod_get NS/POD FIELD            netns ip ports iface vip kind pid ip6 vip6
#   pod_down NS/POD                 delete a pod (its namespace and route)
#   pod_iface NS POD                the host end of the pod's veth
#   pod_chain NS POD                what podwall names the pod's chains after
#   apply_manifests DIR             run podwall on the node(s) (PW_APPLY=once|restore)
#   node_filter_save [NETNS]        the node's filter table without the CNI's rules
#   probe_matrix [SPEC]...          every source to every other pod, a table
#   expect_* / verify NAME [SPEC]...  compare the table with expected verdicts
#
# PORTS is a comma list of tcp:PORT and udp:PORT; SPEC is tcp:PORT, udp:PORT,
# icmp, or own (the destination pod's PORTS). Pod addresses come from
# 198.18.0.0/15 and nothing else is used: local pods (edge-1) from
# 198.18.0.0/16, remote pods (edge-2) from 198.19.0.0/17, whatever the
# topology, so that one plan of addresses serves all three.
#
# PW_TOPOLOGY picks how pods are wired (the suites call the same helpers):
#
#   calico (default)  a pod's veth is cali+11 hex of sha1("ns.pod") on the
#       node, with a /32 route and proxy ARP for the gateway 169.254.1.1;
#       the remote pods are addresses in one namespace behind the plain
#       veth pwremote.
#   ptp  the containernetworking ptp plugin: the node end is veth+8 random
#       hex, holds the gateway 198.19.253.1/32 (the same on every pod's
#       veth) and a route podIP/32 dev vethXXXXXXXX; the pod has podIP/32,
#       a scope link route to the gateway and its default route through it.
#       Remote pods as with calico.
#   flannel  flannel's vxlan backend and the bridge plugin, on two nodes:
#       edge-1 (pods 198.18.0.0/16, cni0 198.18.255.254/16, flannel.1
#       198.18.0.0/32) and edge-2 (PW_NODE2: pods 198.19.0.0/17, cni0
#       198.19.127.254/17, flannel.1 198.19.0.0/32), joined by the underlay
#       veth pwunder (198.19.254.1/24 and .2/24). Each pod is a namespace
#       on a port (veth+8 random hex, hairpin on) of its node's cni0, with
#       its address in the node's subnet and its default route through the
#       bridge's address; br_netfilter is on in both nodes
#       (bridge-nf-call-iptables and -ip6tables 1), flanneld's FLANNEL-FWD
#       rules are appended to FORWARD, and flannel.1 (VNI 1, port 8472,
#       nolearning) reaches the other node by a route via its lease's
#       network address onlink, a permanent neighbour and an fdb entry, as
#       flanneld writes them. remote_pod_up puts a real pod on edge-2, and
#       apply_manifests runs podwall on both nodes.
#
# Node probes (source "node") come from PW_NODE_IP, 198.19.254.1: in calico
# and ptp on an interface of the node's own (pwnode0), in flannel the
# node's underlay address. With flannel, "node2" is edge-2 from its
# underlay address 198.19.254.2, and PW_REMOTE_PAIRS=1 probes between the
# pods of edge-2 too.
#
# PW_FAMILY picks the address families: ipv4 (the default: IPv4 alone, as
# the suites always ran) or dual. With dual every pod also has an IPv6
# address from fd00::/8, the same topologies carry IPv6 as each CNI wires
# it, and probe_matrix probes each SPEC over both families:
#
#   a pod's IPv6 address  198.A.B.C -> fd00:A::B:C (ip6_of): the decimal
#       octets written as they read, so 198.18.1.10 -> fd00:18::1:10 and
#       198.19.3.1 -> fd00:19::3:1. Local pods are in fd00:18::/64 (edge-1's
#       subnet with flannel), remote pods in fd00:19::/64 (edge-2's); the
#       cluster is fd00:18::/63. The node's own addresses are no pod's:
#       PW_NODE_IP6 fd00:254::1 (pwnode0, or flannel's underlay beside
#       198.19.254.1/24 as fd00:254::1/64), edge-2's PW_NODE2_IP6
#       fd00:254::2, ptp's gateway PW_PTP_GW6 fd00:253::1.
#   calico  the pod has IP6/128 and its default route via the link-local
#       address of the cali interface (fe80::ecee:eeff:feee:eeee, from its
#       MAC ee:ee:ee:ee:ee:ee, as Calico's CNI takes the host veth's
#       link-local as the next hop); the node has IP6/128 dev caliX and
#       proxy_ndp, accept_ra 0 on it, as Calico's CNI sets them. Neighbour
#       discovery is real on both sides (no static entry), so that it must
#       cross podwall. Remote pods: IP6/128 on the remote namespace's lo,
#       routed and neighboured statically as the IPv4 ones.
#   ptp  the gateway PW_PTP_GW6/128 on every pod's host veth, IP6/128 dev
#       vethX on the node; the pod has IP6/128, a route to the gateway and
#       its default route through it (the plugin does the same per family).
#   flannel  flannel's dual-stack vxlan backend: a second VXLAN device
#       flannel-v6.1 (VNI 1, port 8472, over the underlay's IPv6 addresses,
#       as flanneld names and builds it) with the lease's network address
#       fd00:18::/128 (edge-2: fd00:19::/128), a route to the other node's
#       /64 via its network address onlink, a permanent neighbour and an
#       fdb entry; cni0 has the gateway fd00:18::255:254/64 (edge-2:
#       fd00:19::127:254/64), the pods IP6/64 and their default route via
#       it; flanneld's FLANNEL-FWD in ip6tables too, for fd00:18::/63;
#       bridge-nf-call-ip6tables 1; the CNI result has both addresses; a
#       new pod sends an unsolicited neighbour advertisement (pwprobe na)
#       as it sends its gratuitous ARP.
#   In every namespace: IPv6 forwarding on the nodes, accept_dad 0 (no DAD
#       delay) and disable_ipv6 0; probe_matrix first waits for the
#       interfaces made since its last run to be ready for IPv6.
#
# A pod's addresses: IP is its IPv4 address, and with dual its IPv6 one is
# ip6_of IP; "IPV4,IPV6" names both, an IPv6 address alone makes an
# IPv6-only pod, and PW_POD_FAMILY=ipv4 (or ipv6) before one pod_up makes
# that pod IPv4-only (or IPv6-only). A family a pod lacks is "-" in the
# registry and never probed. Node probes over IPv6 come from PW_NODE_IP6
# (edge-2's from PW_NODE2_IP6).

PWPROBE="$builddir/tests/pwprobe"
PW_RUN="pw$$"
PW_NODE=""
PW_REMOTE=""
PW_NPODS=0
PW_BGPIDS=""
PW_TIMEOUT_MS=${PW_TIMEOUT_MS:-300}
PW_APPLY=${PW_APPLY:-once}
PW_NODE_NAME=edge-1
# The node's own address, on an interface of its own: the source of node probes.
PW_NODE_IP=198.19.254.1
PW_EXPECT=""
# The manifests the nodes were last programmed from (apply_manifests, and
# the daemon helpers of tests/apiserver.sh): what verify asks podwall
# matrix about. Empty: no manifests, no matrix check.
PW_MANIFESTS=""
PW_TOPOLOGY=${PW_TOPOLOGY:-calico}
# flannel's second node and the addresses of the flannel topology.
PW_NODE2=""
PW_NODE2_NAME=edge-2
PW_NODE2_IP=198.19.254.2
PW_CLUSTER_CIDR=198.18.0.0/15
PW_FL_SUBNET1=198.18.0.0/16 PW_FL_GW1=198.18.255.254 PW_FL_VTEP1=198.18.0.0 PW_FL_MAC1=02:50:fe:00:00:01
PW_FL_SUBNET2=198.19.0.0/17 PW_FL_GW2=198.19.127.254 PW_FL_VTEP2=198.19.0.0 PW_FL_MAC2=02:50:fe:00:00:02
# ptp's gateway, on the node end of every pod's veth.
PW_PTP_GW=198.19.253.1
# Dual-stack (PW_FAMILY=dual): the IPv6 side of the same plan.
PW_FAMILY=${PW_FAMILY:-ipv4}
PW_NODE_IP6=fd00:254::1
PW_NODE2_IP6=fd00:254::2
PW_CLUSTER_CIDR6=fd00:18::/63
PW_FL_SUBNET1_6=fd00:18::/64 PW_FL_GW1_6=fd00:18::255:254 PW_FL_VTEP1_6=fd00:18:: PW_FL_MAC1_6=02:50:fe:00:01:01
PW_FL_SUBNET2_6=fd00:19::/64 PW_FL_GW2_6=fd00:19::127:254 PW_FL_VTEP2_6=fd00:19:: PW_FL_MAC2_6=02:50:fe:00:01:02
PW_PTP_GW6=fd00:253::1
# The link-local address of a cali interface (MAC ee:ee:ee:ee:ee:ee).
PW_CALICO_GW6=fe80::ecee:eeff:feee:eeee

case $PW_TOPOLOGY in
calico | ptp | flannel) ;;
*)
	echo "netns.sh: PW_TOPOLOGY=$PW_TOPOLOGY is not calico, ptp or flannel" >&2
	exit 99
	;;
esac
case $PW_FAMILY in
ipv4 | dual) ;;
*)
	echo "netns.sh: PW_FAMILY=$PW_FAMILY is not ipv4 or dual" >&2
	exit 99
	;;
esac

PW_TMP=$(mktemp -d "${TMPDIR:-/tmp}/pwe2e.XXXXXX") || exit 99
: >"$PW_TMP/pods"
: >"$PW_TMP/v6.pending"
echo 20000 >"$PW_TMP/sport"

e2e_cleanup() {
	for pid in $PW_BGPIDS; do
		kill "$pid" 2>/dev/null
	done
	PW_BGPIDS=""
	netns_cleanup
	rm -rf "$PW_TMP"
}
trap 'e2e_cleanup' EXIT
trap 'trap - EXIT; e2e_cleanup; exit 130' INT
trap 'trap - EXIT; e2e_cleanup; exit 143' TERM HUP

# Background jobs to kill on exit (a loop outside the namespaces, say).
bg_track() {
	PW_BGPIDS="$PW_BGPIDS $1"
}

e2e_requirements() {
	skip_unless_root "$1"
	for tool in ip ipset iptables-legacy iptables-legacy-save iptables-legacy-restore \
		    sha1sum timeout; do
		command -v $tool >/dev/null 2>&1 || { echo "SKIP: $1: $tool not installed"; exit 77; }
	done
	[ -x "$PWPROBE" ] || { echo "SKIP: $1: $PWPROBE not built (make check builds it)"; exit 77; }
	[ -x "$PODWALL" ] || { echo "SKIP: $1: $PODWALL not built"; exit 77; }
	ip netns add "${PW_RUN}t" 2>/dev/null || { echo "SKIP: $1: cannot create network namespaces"; exit 77; }
	ip netns del "${PW_RUN}t"
	_er_why=$(topology_requirements)
	[ -z "$_er_why" ] || { echo "SKIP: $1: PW_TOPOLOGY=$PW_TOPOLOGY: $_er_why"; exit 77; }
	[ "$PW_FAMILY" = dual ] || return 0
	_er_why=$(dual_requirements)
	[ -z "$_er_why" ] || { echo "SKIP: $1: PW_FAMILY=dual: $_er_why"; exit 77; }
}

# notify_listen: a notify socket as systemd's, at $PW_NOTIFY_SOCKET; a
# daemon started with NOTIFY_SOCKET set to it (apiserver.sh's start_daemon
# does so on edge-1) leaves its last STATUS= in $PW_TMP/status. The
# listener goes when the test goes.
notify_listen() {
	python3 -c '
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(5)
start = time.time()
while os.getppid() != 1 and time.time() - start < 3600:
    try:
        m = s.recv(65536).decode("utf-8", "replace")
    except socket.timeout:
        continue
    for line in m.split("\n"):
        if line.startswith("STATUS="):
            with open(sys.argv[2] + ".new", "w") as f:
                f.write(line[7:] + "\n")
            os.rename(sys.argv[2] + ".new", sys.argv[2])
' "$PW_TMP/notify.sock" "$PW_TMP/status" &
	bg_track $!
	PW_NOTIFY_SOCKET="$PW_TMP/notify.sock"
	_nl_i=0
	while [ ! -S "$PW_NOTIFY_SOCKET" ] && [ $_nl_i -lt 50 ]; do sleep 0.1; _nl_i=$((_nl_i + 1)); done
	: >"$PW_TMP/status"
}

# wait_for TENTHS COMMAND...: true once COMMAND is, within TENTHS of a second.
wait_for() {
	_wf_n=$1
	shift
	_wf_i=0
	while ! "$@" && [ $_wf_i -lt "$_wf_n" ]; do sleep 0.1; _wf_i=$((_wf_i + 1)); done
	"$@"
}
status_has() { grep -q "$1" "$PW_TMP/status"; }
log_has() { grep -q "$1" "$LOG"; }

# dual_requirements: prints why IPv6 cannot be tested here, and nothing
# when it can.
dual_requirements() {
	[ -d /proc/sys/net/ipv6 ] || { echo "this kernel has no IPv6 (/proc/sys/net/ipv6)"; return; }
	for tool in ip6tables-legacy ip6tables-legacy-save ip6tables-legacy-restore; do
		command -v $tool >/dev/null 2>&1 || { echo "$tool not installed"; return; }
	done
	ip netns add "${PW_RUN}t" 2>/dev/null || { echo "cannot create network namespaces"; return; }
	if ! ip netns exec "${PW_RUN}t" ip6tables-legacy -w -S >/dev/null 2>&1; then
		echo "no ip6tables filter table in a new network namespace"
	elif ! ip -n "${PW_RUN}t" -6 addr add fd00:254::1/128 dev lo 2>/dev/null; then
		echo "no IPv6 addresses in a new network namespace"
	fi
	ip netns del "${PW_RUN}t"
}

# topology_requirements: prints why PW_TOPOLOGY cannot be built here, and
# nothing when it can.
topology_requirements() {
	case $PW_TOPOLOGY in
	ptp)
		command -v od >/dev/null 2>&1 || echo "od not installed"
		;;
	flannel)
		for tool in bridge od; do
			command -v $tool >/dev/null 2>&1 || { echo "$tool not installed"; return; }
		done
		ip netns add "${PW_RUN}t" 2>/dev/null || { echo "cannot create network namespaces"; return; }
		if ! ip netns exec "${PW_RUN}t" test -e /proc/sys/net/bridge/bridge-nf-call-iptables; then
			echo "no br_netfilter in a new network namespace (/proc/sys/net/bridge)"
		elif ! ip -n "${PW_RUN}t" link add pwbridge type bridge 2>/dev/null; then
			echo "no bridge devices"
		elif ! ip -n "${PW_RUN}t" link add pwvxlan type vxlan id 1 dstport 8472 nolearning 2>/dev/null; then
			echo "no vxlan devices"
		fi
		ip netns del "${PW_RUN}t"
		;;
	esac
}

# ns_sysctl NS net/ipv4/ip_forward 1
ns_sysctl() {
	ip netns exec "$1" sh -c 'echo "$2" >"/proc/sys/$1"' sh "$2" "$3"
}

# ---- IPv6 (PW_FAMILY=dual) ----

# ip6_of IPV4: the pod's IPv6 address in the plan, 198.A.B.C -> fd00:A::B:C
# (in the form the kernel and ipset print).
ip6_of() {
	echo "$1" | awk -F. '
		NF != 4 || $1 != 198 { print "ip6_of: " $0 " is not 198.A.B.C" > "/dev/stderr"; exit 1 }
		$3 == 0 && $4 == 0 { printf "fd00:%d::\n", $2; next }
		$3 == 0 { printf "fd00:%d::%d\n", $2, $4; next }
		{ printf "fd00:%d::%d:%d\n", $2, $3, $4 }'
}

# pod_addrs IP: sets PA4 and PA6, the pod's IPv4 and IPv6 addresses ("" for
# a family it lacks), from pod_up's IP argument ("IPV4", "IPV4,IPV6" or
# "IPV6"), PW_FAMILY and PW_POD_FAMILY.
pod_addrs() {
	case $1 in
	*,*) PA4=${1%%,*} PA6=${1#*,} ;;
	*:*) PA4="" PA6=$1 ;;
	*)
		PA4=$1 PA6=""
		[ "$PW_FAMILY" != dual ] || PA6=$(ip6_of "$1") || return 1
		;;
	esac
	case ${PW_POD_FAMILY:-dual} in
	ipv4) PA6="" ;;
	ipv6) [ -n "$PA6" ] && PA4="" ;;
	dual) ;;
	*) echo "PW_POD_FAMILY=$PW_POD_FAMILY is not ipv4, ipv6 or dual" >&2; return 1 ;;
	esac
	if [ -n "$PA6" ] && [ "$PW_FAMILY" != dual ]; then
		echo "pod address $1: IPv6 needs PW_FAMILY=dual" >&2
		return 1
	fi
	[ -n "$PA4$PA6" ] || { echo "pod address $1: no address left" >&2; return 1; }
}

# v6_ns NETNS [forward]: IPv6 on in a namespace, without duplicate address
# detection (an address is usable at once); "forward" for a node.
v6_ns() {
	[ "$PW_FAMILY" = dual ] || return 0
	for _v6_c in all default; do
		ns_sysctl "$1" "net/ipv6/conf/$_v6_c/disable_ipv6" 0 &&
		ns_sysctl "$1" "net/ipv6/conf/$_v6_c/accept_dad" 0 || return 1
	done
	[ "${2:-}" != forward ] || ns_sysctl "$1" net/ipv6/conf/all/forwarding 1
}

# v6_pending NETNS IFACE [ADDR]: an interface v6_settle waits for; with
# ADDR, the pod's unsolicited neighbour advertisement to send once it is up.
v6_pending() {
	[ "$PW_FAMILY" = dual ] || return 0
	echo "$*" >>"$PW_TMP/v6.pending"
}

# v6_settle: waits (at most 3 s) until each pending interface is ready for
# IPv6 (its link-local address there and nothing tentative: until the
# kernel sees the link up, a neighbour solicitation is lost and the next
# one comes a second later), then sends the pending advertisements.
v6_settle() {
	[ -s "$PW_TMP/v6.pending" ] || return 0
	sort -u "$PW_TMP/v6.pending" >"$PW_TMP/v6.settle"
	: >"$PW_TMP/v6.pending"
	_vs_end=$(($(date +%s) + 3))
	while read -r _vs_ns _vs_if _vs_addr; do
		while { [ -z "$(ip -n "$_vs_ns" -6 -o addr show dev "$_vs_if" scope link 2>/dev/null)" ] ||
			[ -n "$(ip -n "$_vs_ns" -6 -o addr show dev "$_vs_if" tentative 2>/dev/null)" ]; } &&
		      [ "$(date +%s)" -le $_vs_end ]; do
			sleep 0.05
		done
	done <"$PW_TMP/v6.settle"
	while read -r _vs_ns _vs_if _vs_addr; do
		[ -z "$_vs_addr" ] || ip netns exec "$_vs_ns" "$PWPROBE" na "$_vs_if" "$_vs_addr" || :
	done <"$PW_TMP/v6.settle"
}

# The CNI result cache of a node, as the container runtime keeps it in
# /var/lib/cni/results: podwall on that node reads only this one, never the
# machine's own. With flannel, pod_up writes each pod's result there (unless
# PW_CNI_CACHE=0: then podwall must learn the ports from the bridge).
PW_CNI_CACHE=${PW_CNI_CACHE:-1}
cni_dir() {
	echo "$PW_TMP/cni/$1/results"
}

# podwall_in NETNS ARG...: podwall run in a node's namespace, as it runs there.
podwall_in() {
	_pi_ns=$1
	shift
	ip netns exec "$_pi_ns" "$PODWALL" --cni-cache-dir "$(cni_dir "$_pi_ns")" "$@"
}

# cni_result NODE-NETNS NS POD IP PREFIXLEN GATEWAY HOST-VETH [IP6
# PREFIXLEN6 GATEWAY6]: what libcni >= 0.8 caches of the bridge plugin's
# ADD for a pod; IP "" for an IPv6-only pod.
cni_result() {
	_cr_dir=$(cni_dir "$1")
	_cr_id=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
	mkdir -p "$_cr_dir" || return 1
	_cr_ips=""
	[ -z "$4" ] || _cr_ips="{\"version\":\"4\",\"address\":\"$4/$5\",\"gateway\":\"$6\",\"interface\":2}"
	[ -z "${8:-}" ] ||
		_cr_ips="$_cr_ips${_cr_ips:+,}{\"version\":\"6\",\"address\":\"$8/$9\",\"gateway\":\"${10}\",\"interface\":2}"
	printf '%s' "{\"kind\":\"cniCacheV1\",\"containerId\":\"$_cr_id\",\"config\":\"\",\"ifName\":\"eth0\",\"networkName\":\"cbr0\",\"cniArgs\":[[\"IgnoreUnknown\",\"1\"],[\"K8S_POD_NAMESPACE\",\"$2\"],[\"K8S_POD_NAME\",\"$3\"],[\"K8S_POD_INFRA_CONTAINER_ID\",\"$_cr_id\"]],\"result\":{\"cniVersion\":\"0.3.1\",\"interfaces\":[{\"name\":\"cni0\",\"mac\":\"02:50:fd:00:00:01\"},{\"name\":\"$7\",\"mac\":\"02:00:00:00:00:01\"},{\"name\":\"eth0\",\"mac\":\"02:00:00:00:00:02\",\"sandbox\":\"/var/run/netns/cni-$_cr_id\"}],\"ips\":[$_cr_ips],\"dns\":{}}}" \
		>"$_cr_dir/cbr0-$_cr_id-eth0"
}

# cni_forget NODE-NETNS NS POD: the runtime's DEL removes the pod's result.
cni_forget() {
	grep -l "\"K8S_POD_NAMESPACE\",\"$2\"\],\[\"K8S_POD_NAME\",\"$3\"\]" \
		"$(cni_dir "$1")"/* 2>/dev/null | xargs -r rm -f
}

# pw_jump CHAIN: podwall's jump in built-in CHAIN as iptables -S prints
# it (INPUT's leaves out what the node sends itself).
pw_jump() {
	case $1 in
	INPUT) echo "-A INPUT ! -i lo -j pw-INPUT" ;;
	*) echo "-A $1 -j pw-$1" ;;
	esac
}

nx() {
	ip netns exec "$PW_NODE" "$@"
}

# pod_chain NS POD: what the pod's endpoint chains (pw-tw-*, pw-fw-*) are
# named after: its interface when routed, the digest Calico names
# interfaces with when it sits behind a bridge.
pod_chain() {
	if [ "$PW_TOPOLOGY" = flannel ]; then
		printf '%s.%s' "$1" "$2" | sha1sum | cut -c1-11
	else
		pod_iface "$1" "$2"
	fi
}

# pod_iface NS POD: the node end of a pod's veth. Calico's CNI names it
# from the pod's name; the ptp and bridge plugins name it at random, and the
# name is the one pod_up recorded.
pod_iface() {
	case $PW_TOPOLOGY in
	calico) echo "cali$(printf '%s.%s' "$1" "$2" | sha1sum | cut -c1-11)" ;;
	*) pod_get "$1/$2" iface ;;
	esac
}

# A host veth name as the ptp and bridge plugins make one: veth + 8 hex.
veth_name() {
	echo "veth$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
}

# in_cidr IP CIDR: true when IP is inside CIDR (IPv4).
in_cidr() {
	awk -v ip="$1" -v cidr="$2" '
		function num(a,   o) { split(a, o, "."); return ((o[1] * 256 + o[2]) * 256 + o[3]) * 256 + o[4] }
		BEGIN {
			split(cidr, c, "/"); size = 2 ^ (32 - c[2])
			exit !(int(num(ip) / size) == int(num(c[1]) / size))
		}'
}

node_up() {
	PW_NODE="${PW_RUN}n"
	PW_NODE2=""
	netns_add "$PW_NODE" || return 1
	: >"$PW_TMP/v6.pending"
	ns_sysctl "$PW_NODE" net/ipv4/ip_forward 1 &&
	ns_sysctl "$PW_NODE" net/ipv4/conf/all/rp_filter 0 &&
	ns_sysctl "$PW_NODE" net/ipv4/conf/default/rp_filter 0 &&
	v6_ns "$PW_NODE" forward || return 1
	case $PW_TOPOLOGY in
	flannel)
		flannel_up
		return
		;;
	esac
	# An address of the node's own and a route to the pods' gateway
	# address 169.254.1.1 through another interface, so that proxy ARP on
	# the cali interfaces answers for it (as on a Calico node). The
	# interface is one end of a veth pair whose both ends stay in the node
	# (the dummy driver may be missing). A ptp node needs no such route:
	# its pods' gateway is an address of their own veths.
	nx ip link add pwnode0 type veth peer name pwnode1 &&
	nx ip addr add "$PW_NODE_IP/32" dev pwnode0 &&
	nx ip link set pwnode1 up &&
	nx ip link set pwnode0 up || return 1
	if [ "$PW_FAMILY" = dual ]; then
		nx ip -6 addr add "$PW_NODE_IP6/128" dev pwnode0 nodad || return 1
		v6_pending "$PW_NODE" pwnode0
	fi
	[ "$PW_TOPOLOGY" = ptp ] && return 0
	nx ip route add 169.254.1.1/32 dev pwnode0
}

# node_down: every namespace of this run deleted and the pods forgotten, so
# that node_up builds a fresh node (and may do it in another PW_TOPOLOGY).
node_down() {
	netns_cleanup
	PW_NODE="" PW_NODE2="" PW_REMOTE=""
	: >"$PW_TMP/pods"
}

# ---- the flannel topology ----

# flannel_node NETNS UNDERLAY-IP GATEWAY/LEN VTEP MAC BRIDGE-MAC: one node
# as flanneld (vxlan backend) and the bridge plugin leave it: br_netfilter
# on, the underlay address, flannel.1 with the lease's network address, cni0
# with the subnet's gateway, and flanneld's forward rules. The bridge gets
# a MAC of its own, as systemd's MACAddressPolicy=persistent gives it on a
# real node; otherwise it takes its ports' lowest and changes when that pod
# goes, and the other pods' neighbour entry for their gateway goes stale.
flannel_node() {
	_fn_ns=$1 _fn_ul=$2 _fn_gw=$3 _fn_vtep=$4 _fn_mac=$5 _fn_brmac=$6
	ns_sysctl "$_fn_ns" net/bridge/bridge-nf-call-iptables 1 &&
	ns_sysctl "$_fn_ns" net/bridge/bridge-nf-call-ip6tables 1 &&
	ip -n "$_fn_ns" addr add "$_fn_ul/24" dev pwunder &&
	ip -n "$_fn_ns" link set pwunder up &&
	ip -n "$_fn_ns" link add flannel.1 address "$_fn_mac" type vxlan id 1 \
		local "$_fn_ul" dev pwunder dstport 8472 nolearning &&
	ip -n "$_fn_ns" addr add "$_fn_vtep/32" dev flannel.1 &&
	ip -n "$_fn_ns" link set flannel.1 up &&
	ip -n "$_fn_ns" link add cni0 address "$_fn_brmac" type bridge &&
	ip -n "$_fn_ns" addr add "$_fn_gw" dev cni0 &&
	ip -n "$_fn_ns" link set cni0 up &&
	# Appended, as flanneld does (and re-asserts) with iptables-restore.
	ip netns exec "$_fn_ns" iptables-legacy-restore --noflush -w 10 <<EOF
*filter
:FLANNEL-FWD - [0:0]
-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
-A FLANNEL-FWD -s $PW_CLUSTER_CIDR -m comment --comment "flanneld forward" -j ACCEPT
-A FLANNEL-FWD -d $PW_CLUSTER_CIDR -m comment --comment "flanneld forward" -j ACCEPT
COMMIT
EOF
}

# flannel_node6 NETNS UNDERLAY-IP6 GATEWAY6/LEN VTEP6 MAC6: the IPv6 side
# of a node with flannel's dual-stack vxlan backend: the underlay's IPv6
# address, flannel-v6.1 with the lease's network address, cni0's IPv6
# gateway, flanneld's forward rules in ip6tables.
flannel_node6() {
	_fn_ns=$1
	ip -n "$_fn_ns" -6 addr add "$2/64" dev pwunder nodad &&
	ip -n "$_fn_ns" link add flannel-v6.1 address "$5" type vxlan id 1 \
		local "$2" dev pwunder dstport 8472 nolearning &&
	ip -n "$_fn_ns" -6 addr add "$4/128" dev flannel-v6.1 nodad &&
	ip -n "$_fn_ns" link set flannel-v6.1 up &&
	ip -n "$_fn_ns" -6 addr add "$3" dev cni0 nodad &&
	ip netns exec "$_fn_ns" ip6tables-legacy-restore --noflush -w 10 <<EOF || return 1
*filter
:FLANNEL-FWD - [0:0]
-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
-A FLANNEL-FWD -s $PW_CLUSTER_CIDR6 -m comment --comment "flanneld forward" -j ACCEPT
-A FLANNEL-FWD -d $PW_CLUSTER_CIDR6 -m comment --comment "flanneld forward" -j ACCEPT
COMMIT
EOF
	v6_pending "$_fn_ns" pwunder
	v6_pending "$_fn_ns" flannel-v6.1
}

# flannel_peer NETNS SUBNET VTEP MAC UNDERLAY-IP [DEVICE]: what flanneld's
# vxlan backend adds on a node for another node's lease (on flannel.1, or
# with the IPv6 lease on flannel-v6.1).
flannel_peer() {
	_fpe_dev=${6:-flannel.1}
	ip -n "$1" neigh replace "$3" lladdr "$4" dev "$_fpe_dev" nud permanent &&
	ip netns exec "$1" bridge fdb replace "$4" dev "$_fpe_dev" dst "$5" self permanent &&
	ip -n "$1" route add "$2" via "$3" dev "$_fpe_dev" onlink
}

# Both nodes (PW_NODE is made and registered already) and the underlay.
flannel_up() {
	PW_NODE2="${PW_RUN}n2"
	netns_add "$PW_NODE2" || return 1
	ns_sysctl "$PW_NODE2" net/ipv4/ip_forward 1 &&
	ns_sysctl "$PW_NODE2" net/ipv4/conf/all/rp_filter 0 &&
	ns_sysctl "$PW_NODE2" net/ipv4/conf/default/rp_filter 0 &&
	v6_ns "$PW_NODE2" forward &&
	nx ip link add pwunder type veth peer name pwunder2 &&
	nx ip link set pwunder2 netns "$PW_NODE2" &&
	ip -n "$PW_NODE2" link set pwunder2 name pwunder &&
	flannel_node "$PW_NODE" "$PW_NODE_IP" "$PW_FL_GW1/${PW_FL_SUBNET1#*/}" "$PW_FL_VTEP1" "$PW_FL_MAC1" \
		02:50:fd:00:00:01 &&
	flannel_node "$PW_NODE2" "$PW_NODE2_IP" "$PW_FL_GW2/${PW_FL_SUBNET2#*/}" "$PW_FL_VTEP2" "$PW_FL_MAC2" \
		02:50:fd:00:00:02 &&
	flannel_peer "$PW_NODE" "$PW_FL_SUBNET2" "$PW_FL_VTEP2" "$PW_FL_MAC2" "$PW_NODE2_IP" &&
	flannel_peer "$PW_NODE2" "$PW_FL_SUBNET1" "$PW_FL_VTEP1" "$PW_FL_MAC1" "$PW_NODE_IP" || {
		echo "node_up: could not build the flannel nodes" >&2
		return 1
	}
	[ "$PW_FAMILY" = dual ] || return 0
	flannel_node6 "$PW_NODE" "$PW_NODE_IP6" "$PW_FL_GW1_6/${PW_FL_SUBNET1_6#*/}" "$PW_FL_VTEP1_6" \
		"$PW_FL_MAC1_6" &&
	flannel_node6 "$PW_NODE2" "$PW_NODE2_IP6" "$PW_FL_GW2_6/${PW_FL_SUBNET2_6#*/}" "$PW_FL_VTEP2_6" \
		"$PW_FL_MAC2_6" &&
	flannel_peer "$PW_NODE" "$PW_FL_SUBNET2_6" "$PW_FL_VTEP2_6" "$PW_FL_MAC2_6" "$PW_NODE2_IP6" \
		flannel-v6.1 &&
	flannel_peer "$PW_NODE2" "$PW_FL_SUBNET1_6" "$PW_FL_VTEP1_6" "$PW_FL_MAC1_6" "$PW_NODE_IP6" \
		flannel-v6.1 || {
		echo "node_up: could not build the flannel nodes' IPv6 side" >&2
		return 1
	}
}

# flannel_pod_up NODE-NETNS KIND NS POD IP [PORTS]: a pod on a port of the
# node's cni0, as the bridge plugin (hairpinMode, isDefaultGateway) wires it.
flannel_pod_up() {
	_fp_node=$1 _fp_kind=$2 _fp_ns=$3 _fp_pod=$4 _fp_ports=${6:-}
	pod_addrs "$5" || return 1
	_fp_ip=$PA4 _fp_ip6=$PA6
	if [ "$_fp_node" = "$PW_NODE" ]; then
		_fp_subnet=$PW_FL_SUBNET1 _fp_gw=$PW_FL_GW1 _fp_name=$PW_NODE_NAME
		_fp_subnet6=$PW_FL_SUBNET1_6 _fp_gw6=$PW_FL_GW1_6
	else
		_fp_subnet=$PW_FL_SUBNET2 _fp_gw=$PW_FL_GW2 _fp_name=$PW_NODE2_NAME
		_fp_subnet6=$PW_FL_SUBNET2_6 _fp_gw6=$PW_FL_GW2_6
	fi
	[ -z "$_fp_ip" ] || in_cidr "$_fp_ip" "$_fp_subnet" || {
		echo "pod_up $_fp_ns/$_fp_pod: $_fp_ip is not in $_fp_name's subnet $_fp_subnet" >&2
		return 1
	}
	# The /64s of the plan: the address starts with the prefix's 4 groups.
	[ -z "$_fp_ip6" ] || case $_fp_ip6 in "${_fp_subnet6%::/64}":*) ;; *)
		echo "pod_up $_fp_ns/$_fp_pod: $_fp_ip6 is not in $_fp_name's subnet $_fp_subnet6" >&2
		return 1
		;;
	esac
	PW_NPODS=$((PW_NPODS + 1))
	_fp_net="${PW_RUN}p$PW_NPODS"
	_fp_if=$(veth_name)
	_fp_tmp="pwtmp$PW_NPODS"
	netns_add "$_fp_net" || return 1
	v6_ns "$_fp_net" || return 1
	ip -n "$_fp_node" link add "$_fp_if" mtu 1450 type veth peer name "$_fp_tmp" mtu 1450 &&
	ip -n "$_fp_node" link set "$_fp_tmp" netns "$_fp_net" &&
	ip -n "$_fp_net" link set "$_fp_tmp" name eth0 &&
	ip -n "$_fp_net" link set eth0 up || {
		echo "pod_up $_fp_ns/$_fp_pod: could not wire the pod" >&2
		return 1
	}
	if [ -n "$_fp_ip" ]; then
		ip -n "$_fp_net" addr add "$_fp_ip/${_fp_subnet#*/}" dev eth0 &&
		ip -n "$_fp_net" route add default via "$_fp_gw" dev eth0 || {
			echo "pod_up $_fp_ns/$_fp_pod: could not wire the pod" >&2
			return 1
		}
	fi
	if [ -n "$_fp_ip6" ]; then
		ip -n "$_fp_net" -6 addr add "$_fp_ip6/${_fp_subnet6#*/}" dev eth0 nodad &&
		ip -n "$_fp_net" -6 route add default via "$_fp_gw6" dev eth0 || {
			echo "pod_up $_fp_ns/$_fp_pod: could not wire the pod's IPv6" >&2
			return 1
		}
	fi
	ip -n "$_fp_node" link set "$_fp_if" master cni0 &&
	ip -n "$_fp_node" link set "$_fp_if" type bridge_slave hairpin on &&
	ip -n "$_fp_node" link set "$_fp_if" up || {
		echo "pod_up $_fp_ns/$_fp_pod: could not wire the pod" >&2
		return 1
	}
	# The plugin's gratuitous ARP (its failure ignored, as there): the
	# node and the pods that knew the address at a deleted pod's MAC learn
	# the new one. Its IPv6 counterpart, an unsolicited neighbour
	# advertisement, goes out once the link is ready (v6_settle).
	[ -z "$_fp_ip" ] || ip netns exec "$_fp_net" "$PWPROBE" garp eth0 "$_fp_ip" || :
	if [ -n "$_fp_ip6" ]; then
		v6_pending "$_fp_node" cni0
		v6_pending "$_fp_net" eth0 "$_fp_ip6"
	fi
	if [ "$PW_CNI_CACHE" != 0 ]; then
		if [ -n "$_fp_ip6" ]; then
			cni_result "$_fp_node" "$_fp_ns" "$_fp_pod" "$_fp_ip" "${_fp_subnet#*/}" "$_fp_gw" \
				"$_fp_if" "$_fp_ip6" "${_fp_subnet6#*/}" "$_fp_gw6" || return 1
		else
			cni_result "$_fp_node" "$_fp_ns" "$_fp_pod" "$_fp_ip" "${_fp_subnet#*/}" "$_fp_gw" \
				"$_fp_if" || return 1
		fi
	fi
	_fp_pid=$(start_server "$_fp_net" "$_fp_ports" "") || {
		echo "pod_up $_fp_ns/$_fp_pod: the server did not start" >&2
		return 1
	}
	pod_register "$_fp_ns/$_fp_pod" "$_fp_net" "${_fp_ip:--}" "$_fp_ports" "$_fp_if" "$_fp_kind" \
		"$_fp_pid" "${_fp_ip6:--}"
}

# ports "tcp:80,udp:53" -> "--tcp 80 --udp 53"
serve_args() {
	echo "$1" | tr ',' '\n' | awk -F: '$1 == "tcp" || $1 == "udp" { printf "--%s %s ", $1, $2 }'
}

# pod_register KEY NETNS IP PORTS IFACE KIND SERVERPID [IP6]: IP and IP6
# "-" for a family the pod lacks.
pod_register() {
	awk -v k="$1" '$1 != k' "$PW_TMP/pods" >"$PW_TMP/pods.new"
	echo "$1 $2 $3 ${4:--} $5 - $6 $7 ${8:--} -" >>"$PW_TMP/pods.new"
	mv "$PW_TMP/pods.new" "$PW_TMP/pods"
}

# pod_get KEY FIELD: netns ip ports iface vip kind pid ip6 vip6 ("-" for an
# address the pod lacks)
pod_get() {
	awk -v k="$1" -v f="$2" '
		BEGIN { split("key netns ip ports iface vip kind pid ip6 vip6", n, " "); for (i in n) c[n[i]] = i }
		$1 == k { print $(c[f]); found = 1 }
		END { exit !found }' "$PW_TMP/pods"
}

pod_keys() {
	awk '{ print $1 }' "$PW_TMP/pods"
}

pod_set_vip() {
	awk -v k="$1" -v v="$2" '$1 == k { $6 = v } { print }' "$PW_TMP/pods" >"$PW_TMP/pods.new" &&
		mv "$PW_TMP/pods.new" "$PW_TMP/pods"
}

# pod_set_vip6 KEY VIP6: the pod's IPv6 ClusterIP, probed with PW_VIA=vip.
pod_set_vip6() {
	awk -v k="$1" -v v="$2" '$1 == k { $10 = v } { print }' "$PW_TMP/pods" >"$PW_TMP/pods.new" &&
		mv "$PW_TMP/pods.new" "$PW_TMP/pods"
}

# start_server NETNS PORTS [ADDRESS...]: the pod's pwprobe server, on every
# address of the namespace or on those given.
start_server() {
	_ss_net=$1 _ss_ports=$2
	shift 2
	_ss_args=$(serve_args "$_ss_ports")
	[ -n "$_ss_args" ] || { echo 0; return 0; }
	_ss_bind=""
	for _ss_a in "$@"; do
		[ -z "$_ss_a" ] || _ss_bind="$_ss_bind --bind $_ss_a"
	done
	# shellcheck disable=SC2086
	ip netns exec "$_ss_net" "$PWPROBE" serve --background $_ss_bind $_ss_args
}

# pod_up NS POD IP [PORTS]
pod_up() {
	case $PW_TOPOLOGY in
	ptp)
		ptp_pod_up "$@"
		return
		;;
	flannel)
		flannel_pod_up "$PW_NODE" local "$@"
		return
		;;
	esac
	_pu_ns=$1 _pu_pod=$2 _pu_ports=${4:-}
	pod_addrs "$3" || return 1
	_pu_ip=$PA4 _pu_ip6=$PA6
	PW_NPODS=$((PW_NPODS + 1))
	_pu_net="${PW_RUN}p$PW_NPODS"
	_pu_if=$(pod_iface "$_pu_ns" "$_pu_pod")
	_pu_tmp="pwtmp$PW_NPODS"
	_pu_mac=$(printf '02:50:00:00:%02x:%02x' $((PW_NPODS / 256)) $((PW_NPODS % 256)))
	netns_add "$_pu_net" || return 1
	v6_ns "$_pu_net" || return 1
	nx ip link add "$_pu_if" type veth peer name "$_pu_tmp" &&
	nx ip link set "$_pu_tmp" netns "$_pu_net" &&
	ip -n "$_pu_net" link set "$_pu_tmp" name eth0 &&
	ip -n "$_pu_net" link set eth0 address "$_pu_mac" &&
	ip -n "$_pu_net" link set eth0 up || {
		echo "pod_up $_pu_ns/$_pu_pod: could not wire the pod" >&2
		return 1
	}
	if [ -n "$_pu_ip" ]; then
		ip -n "$_pu_net" addr add "$_pu_ip/32" dev eth0 &&
		ip -n "$_pu_net" route add 169.254.1.1 dev eth0 scope link &&
		ip -n "$_pu_net" route add default via 169.254.1.1 dev eth0 &&
		ip -n "$_pu_net" neigh replace 169.254.1.1 lladdr ee:ee:ee:ee:ee:ee dev eth0 nud permanent || {
			echo "pod_up $_pu_ns/$_pu_pod: could not wire the pod" >&2
			return 1
		}
	fi
	# Calico's CNI: the pod's IPv6 gateway is the cali interface's own
	# link-local address; no neighbour entry is made on either side.
	if [ -n "$_pu_ip6" ]; then
		ip -n "$_pu_net" -6 addr add "$_pu_ip6/128" dev eth0 nodad &&
		ip -n "$_pu_net" -6 route add default via "$PW_CALICO_GW6" dev eth0 || {
			echo "pod_up $_pu_ns/$_pu_pod: could not wire the pod's IPv6" >&2
			return 1
		}
	fi
	nx ip link set "$_pu_if" address ee:ee:ee:ee:ee:ee &&
	ns_sysctl "$PW_NODE" "net/ipv4/conf/$_pu_if/proxy_arp" 1 &&
	ns_sysctl "$PW_NODE" "net/ipv4/conf/$_pu_if/rp_filter" 0 &&
	ns_sysctl "$PW_NODE" "net/ipv4/neigh/$_pu_if/proxy_delay" 0 || {
		echo "pod_up $_pu_ns/$_pu_pod: could not wire the pod" >&2
		return 1
	}
	if [ "$PW_FAMILY" = dual ]; then
		ns_sysctl "$PW_NODE" "net/ipv6/conf/$_pu_if/proxy_ndp" 1 &&
		ns_sysctl "$PW_NODE" "net/ipv6/conf/$_pu_if/accept_ra" 0 || return 1
	fi
	nx ip link set "$_pu_if" up || {
		echo "pod_up $_pu_ns/$_pu_pod: could not wire the pod" >&2
		return 1
	}
	if [ -n "$_pu_ip" ]; then
		nx ip route add "$_pu_ip/32" dev "$_pu_if" &&
		nx ip neigh replace "$_pu_ip" lladdr "$_pu_mac" dev "$_pu_if" nud permanent || {
			echo "pod_up $_pu_ns/$_pu_pod: could not wire the pod" >&2
			return 1
		}
	fi
	if [ -n "$_pu_ip6" ]; then
		nx ip -6 route add "$_pu_ip6/128" dev "$_pu_if" || {
			echo "pod_up $_pu_ns/$_pu_pod: could not route the pod's IPv6" >&2
			return 1
		}
		v6_pending "$PW_NODE" "$_pu_if"
		v6_pending "$_pu_net" eth0
	fi
	_pu_pid=$(start_server "$_pu_net" "$_pu_ports") || {
		echo "pod_up $_pu_ns/$_pu_pod: the server did not start" >&2
		return 1
	}
	pod_register "$_pu_ns/$_pu_pod" "$_pu_net" "${_pu_ip:--}" "$_pu_ports" "$_pu_if" local "$_pu_pid" \
		"${_pu_ip6:--}"
}

# ptp_pod_up NS POD IP [PORTS]: a pod as the ptp plugin wires it.
ptp_pod_up() {
	_pu_ns=$1 _pu_pod=$2 _pu_ports=${4:-}
	pod_addrs "$3" || return 1
	_pu_ip=$PA4 _pu_ip6=$PA6
	PW_NPODS=$((PW_NPODS + 1))
	_pu_net="${PW_RUN}p$PW_NPODS"
	_pu_if=$(veth_name)
	_pu_tmp="pwtmp$PW_NPODS"
	netns_add "$_pu_net" || return 1
	v6_ns "$_pu_net" || return 1
	nx ip link add "$_pu_if" type veth peer name "$_pu_tmp" &&
	nx ip link set "$_pu_tmp" netns "$_pu_net" &&
	ip -n "$_pu_net" link set "$_pu_tmp" name eth0 &&
	ip -n "$_pu_net" link set eth0 up || {
		echo "pod_up $_pu_ns/$_pu_pod: could not wire the pod" >&2
		return 1
	}
	if [ -n "$_pu_ip" ]; then
		ip -n "$_pu_net" addr add "$_pu_ip/32" dev eth0 &&
		ip -n "$_pu_net" route add "$PW_PTP_GW" dev eth0 scope link &&
		ip -n "$_pu_net" route add default via "$PW_PTP_GW" dev eth0 &&
		nx ip addr add "$PW_PTP_GW/32" dev "$_pu_if" || {
			echo "pod_up $_pu_ns/$_pu_pod: could not wire the pod" >&2
			return 1
		}
	fi
	if [ -n "$_pu_ip6" ]; then
		ip -n "$_pu_net" -6 addr add "$_pu_ip6/128" dev eth0 nodad &&
		ip -n "$_pu_net" -6 route add "$PW_PTP_GW6" dev eth0 &&
		ip -n "$_pu_net" -6 route add default via "$PW_PTP_GW6" dev eth0 &&
		nx ip -6 addr add "$PW_PTP_GW6/128" dev "$_pu_if" nodad || {
			echo "pod_up $_pu_ns/$_pu_pod: could not wire the pod's IPv6" >&2
			return 1
		}
	fi
	nx ip link set "$_pu_if" up || {
		echo "pod_up $_pu_ns/$_pu_pod: could not wire the pod" >&2
		return 1
	}
	if [ -n "$_pu_ip" ]; then
		nx ip route add "$_pu_ip/32" dev "$_pu_if" || {
			echo "pod_up $_pu_ns/$_pu_pod: could not wire the pod" >&2
			return 1
		}
	fi
	if [ -n "$_pu_ip6" ]; then
		nx ip -6 route add "$_pu_ip6/128" dev "$_pu_if" || {
			echo "pod_up $_pu_ns/$_pu_pod: could not route the pod's IPv6" >&2
			return 1
		}
		v6_pending "$PW_NODE" "$_pu_if"
		v6_pending "$_pu_net" eth0
	fi
	_pu_pid=$(start_server "$_pu_net" "$_pu_ports") || {
		echo "pod_up $_pu_ns/$_pu_pod: the server did not start" >&2
		return 1
	}
	pod_register "$_pu_ns/$_pu_pod" "$_pu_net" "${_pu_ip:--}" "$_pu_ports" "$_pu_if" local "$_pu_pid" \
		"${_pu_ip6:--}"
}

# Another node: one namespace behind a veth whose node end is not cali*,
# holding the addresses of every remote pod.
remote_up() {
	[ -n "$PW_REMOTE" ] && return 0
	PW_REMOTE="${PW_RUN}r"
	netns_add "$PW_REMOTE" || return 1
	ns_sysctl "$PW_REMOTE" net/ipv4/conf/all/rp_filter 0 &&
	v6_ns "$PW_REMOTE" &&
	nx ip link add pwremote type veth peer name pwtmpr &&
	nx ip link set pwtmpr netns "$PW_REMOTE" &&
	ip -n "$PW_REMOTE" link set pwtmpr name eth0 &&
	ip -n "$PW_REMOTE" link set eth0 address 02:50:ff:00:00:01 &&
	ip -n "$PW_REMOTE" link set eth0 up &&
	ip -n "$PW_REMOTE" route add 169.254.1.1 dev eth0 scope link &&
	ip -n "$PW_REMOTE" route add default via 169.254.1.1 dev eth0 &&
	ip -n "$PW_REMOTE" neigh replace 169.254.1.1 lladdr ee:ee:ee:ee:ee:ee dev eth0 nud permanent &&
	nx ip link set pwremote address ee:ee:ee:ee:ee:ee &&
	ns_sysctl "$PW_NODE" net/ipv4/conf/pwremote/rp_filter 0 &&
	nx ip link set pwremote up || return 1
	[ "$PW_FAMILY" = dual ] || return 0
	# The other node's IPv6 is routed and neighboured statically too.
	ip -n "$PW_REMOTE" -6 route add default via "$PW_CALICO_GW6" dev eth0 &&
	ip -n "$PW_REMOTE" -6 neigh replace "$PW_CALICO_GW6" lladdr ee:ee:ee:ee:ee:ee dev eth0 nud permanent &&
	ns_sysctl "$PW_NODE" net/ipv6/conf/pwremote/accept_ra 0 || return 1
	v6_pending "$PW_NODE" pwremote
	v6_pending "$PW_REMOTE" eth0
}

# remote_pod_up NS POD IP [PORTS]: with flannel a pod on edge-2's cni0,
# otherwise an address of the remote namespace.
remote_pod_up() {
	if [ "$PW_TOPOLOGY" = flannel ]; then
		flannel_pod_up "$PW_NODE2" remote "$@"
		return
	fi
	_rp_ns=$1 _rp_pod=$2 _rp_ports=${4:-}
	pod_addrs "$3" || return 1
	_rp_ip=$PA4 _rp_ip6=$PA6
	remote_up || return 1
	if [ -n "$_rp_ip" ]; then
		ip -n "$PW_REMOTE" addr add "$_rp_ip/32" dev lo &&
		nx ip route add "$_rp_ip/32" dev pwremote &&
		nx ip neigh replace "$_rp_ip" lladdr 02:50:ff:00:00:01 dev pwremote nud permanent || {
			echo "remote_pod_up $_rp_ns/$_rp_pod: could not wire the pod" >&2
			return 1
		}
	fi
	if [ -n "$_rp_ip6" ]; then
		ip -n "$PW_REMOTE" -6 addr add "$_rp_ip6/128" dev lo nodad &&
		nx ip -6 route add "$_rp_ip6/128" dev pwremote &&
		nx ip -6 neigh replace "$_rp_ip6" lladdr 02:50:ff:00:00:01 dev pwremote nud permanent || {
			echo "remote_pod_up $_rp_ns/$_rp_pod: could not wire the pod's IPv6" >&2
			return 1
		}
	fi
	_rp_pid=$(start_server "$PW_REMOTE" "$_rp_ports" "$_rp_ip" "$_rp_ip6") || {
		echo "remote_pod_up $_rp_ns/$_rp_pod: the server did not start" >&2
		return 1
	}
	pod_register "$_rp_ns/$_rp_pod" "$PW_REMOTE" "${_rp_ip:--}" "$_rp_ports" - remote "$_rp_pid" \
		"${_rp_ip6:--}"
}

# pod_down NS/POD: the pod is gone (its namespace, veth, route and server).
pod_down() {
	_pd_net=$(pod_get "$1" netns) || return 1
	_pd_ip=$(pod_get "$1" ip)
	_pd_ip6=$(pod_get "$1" ip6)
	_pd_pid=$(pod_get "$1" pid)
	_pd_kind=$(pod_get "$1" kind)
	if [ "$_pd_kind" = remote ] && [ "$PW_TOPOLOGY" != flannel ]; then
		[ "$_pd_pid" != 0 ] && kill "$_pd_pid" 2>/dev/null
		if [ "$_pd_ip" != - ]; then
			nx ip route del "$_pd_ip/32" 2>/dev/null
			ip -n "$PW_REMOTE" addr del "$_pd_ip/32" dev lo 2>/dev/null
		fi
		if [ -n "$_pd_ip6" ] && [ "$_pd_ip6" != - ]; then
			nx ip -6 route del "$_pd_ip6/128" 2>/dev/null
			nx ip -6 neigh del "$_pd_ip6" dev pwremote 2>/dev/null
			ip -n "$PW_REMOTE" -6 addr del "$_pd_ip6/128" dev lo 2>/dev/null
		fi
	else
		_pd_node=$PW_NODE
		[ "$_pd_kind" = remote ] && _pd_node=$PW_NODE2
		ip netns pids "$_pd_net" 2>/dev/null | xargs -r kill -9 2>/dev/null
		# The node end first: the kernel tears a deleted namespace down
		# later, and a pod wired again at once would find the old veth
		# and its route still there ("File exists").
		ip netns exec "$_pd_node" ip link del "$(pod_get "$1" iface)" 2>/dev/null
		ip netns del "$_pd_net"
		cni_forget "$_pd_node" "${1%%/*}" "${1#*/}"
	fi
	awk -v k="$1" '$1 != k' "$PW_TMP/pods" >"$PW_TMP/pods.new"
	mv "$PW_TMP/pods.new" "$PW_TMP/pods"
}

# ---- applying podwall ----

# pw_restore_clear [NETNS]: removes what a restore-mode apply put in the
# node: podwall's jumps in the built-in chains, its chains, then its sets.
pw_restore_clear() {
	_rc_ns=${1:-$PW_NODE}
	ip netns exec "$_rc_ns" iptables-legacy-save -t filter >"$PW_TMP/clear.save" || return 1
	grep -E '^-A (INPUT|FORWARD|OUTPUT) .*-j pw-' "$PW_TMP/clear.save" |
		sed 's/^-A/-D/' >"$PW_TMP/clear.jumps"
	while read -r _rc_rule; do
		eval "ip netns exec \"\$_rc_ns\" iptables-legacy -w -t filter $_rc_rule" || return 1
	done <"$PW_TMP/clear.jumps"
	sed -n 's/^:\(pw-[^ ]*\) .*/\1/p' "$PW_TMP/clear.save" >"$PW_TMP/clear.chains"
	while read -r _rc_chain; do
		ip netns exec "$_rc_ns" iptables-legacy -w -t filter -F "$_rc_chain" || return 1
	done <"$PW_TMP/clear.chains"
	while read -r _rc_chain; do
		ip netns exec "$_rc_ns" iptables-legacy -w -t filter -X "$_rc_chain" || return 1
	done <"$PW_TMP/clear.chains"
	if [ "$PW_FAMILY" = dual ]; then
		# The IPv6 table's jumps and chains the same way, before the sets
		# its rules name.
		ip netns exec "$_rc_ns" ip6tables-legacy-save -t filter >"$PW_TMP/clear6.save" || return 1
		grep -E '^-A (INPUT|FORWARD|OUTPUT) .*-j pw-' "$PW_TMP/clear6.save" |
			sed 's/^-A/-D/' >"$PW_TMP/clear6.jumps"
		while read -r _rc_rule; do
			eval "ip netns exec \"\$_rc_ns\" ip6tables-legacy -w -t filter $_rc_rule" || return 1
		done <"$PW_TMP/clear6.jumps"
		sed -n 's/^:\(pw-[^ ]*\) .*/\1/p' "$PW_TMP/clear6.save" >"$PW_TMP/clear6.chains"
		while read -r _rc_chain; do
			ip netns exec "$_rc_ns" ip6tables-legacy -w -t filter -F "$_rc_chain" || return 1
		done <"$PW_TMP/clear6.chains"
		while read -r _rc_chain; do
			ip netns exec "$_rc_ns" ip6tables-legacy -w -t filter -X "$_rc_chain" || return 1
		done <"$PW_TMP/clear6.chains"
	fi
	ip netns exec "$_rc_ns" ipset list -n | grep '^pw-' >"$PW_TMP/clear.sets"
	while read -r _rc_set; do
		ip netns exec "$_rc_ns" ipset destroy "$_rc_set" || return 1
	done <"$PW_TMP/clear.sets"
}

# pw_restore_apply DIR [NETNS NODE-NAME]: the dry-run loaded with ipset
# restore and iptables-legacy-restore, while --once is not there. Podwall's
# jumps are inserted first in their chains as --once does. With
# PW_FAMILY=dual the IPv6 table too, from --dry-run=ip6tables with
# ip6tables-legacy-restore.
pw_restore_apply() {
	_ra_ns=${2:-$PW_NODE} _ra_name=${3:-$PW_NODE_NAME}
	# shellcheck disable=SC2086
	podwall_in "$_ra_ns" --dry-run=ipset --node-name "$_ra_name" \
		$PW_PODWALL_ARGS -f "$1" >"$PW_TMP/apply.sets" 2>"$PW_TMP/apply.err" &&
	# shellcheck disable=SC2086
	podwall_in "$_ra_ns" --dry-run --node-name "$_ra_name" \
		$PW_PODWALL_ARGS -f "$1" >"$PW_TMP/apply.rules" 2>>"$PW_TMP/apply.err" || {
		cat "$PW_TMP/apply.err" >&2
		return 1
	}
	pw_restore_clear "$_ra_ns" || { echo "apply_manifests: could not clear podwall's state" >&2; return 1; }
	ip netns exec "$_ra_ns" timeout 60 ipset restore -exist <"$PW_TMP/apply.sets" || return 1
	sed -E 's/^-A (INPUT|FORWARD|OUTPUT) (.*-j pw-)/-I \1 1 \2/' "$PW_TMP/apply.rules" |
		ip netns exec "$_ra_ns" timeout 60 iptables-legacy-restore --noflush -w 10 || return 1
	[ "$PW_FAMILY" = dual ] || return 0
	# shellcheck disable=SC2086
	podwall_in "$_ra_ns" --dry-run=ip6tables --node-name "$_ra_name" \
		$PW_PODWALL_ARGS -f "$1" >"$PW_TMP/apply.rules6" 2>"$PW_TMP/apply.err" || {
		cat "$PW_TMP/apply.err" >&2
		return 1
	}
	sed -E 's/^-A (INPUT|FORWARD|OUTPUT) (.*-j pw-)/-I \1 1 \2/' "$PW_TMP/apply.rules6" |
		ip netns exec "$_ra_ns" timeout 60 ip6tables-legacy-restore --noflush -w 10
}

# apply_node NETNS NODE-NAME DIR: program one node from the manifests.
apply_node() {
	case $PW_APPLY in
	restore)
		pw_restore_apply "$3" "$1" "$2"
		;;
	*)
		# shellcheck disable=SC2086
		timeout 60 ip netns exec "$1" "$PODWALL" --cni-cache-dir "$(cni_dir "$1")" --once \
			--node-name "$2" $PW_PODWALL_ARGS -f "$3"
		;;
	esac
}

# apply_manifests DIR: program the node from the manifests in DIR; with
# flannel both nodes, each under its own name.
apply_manifests() {
	PW_MANIFESTS=$1
	apply_node "$PW_NODE" "$PW_NODE_NAME" "$1" || return 1
	[ -z "$PW_NODE2" ] || apply_node "$PW_NODE2" "$PW_NODE2_NAME" "$1"
}

# node_filter_save [NETNS]: iptables-legacy-save -t filter of the node (by
# default PW_NODE) without the rules the CNI wrote (flanneld's FLANNEL-FWD
# chain and its jump), to compare with podwall's --dry-run.
node_filter_save() {
	if [ "$PW_TOPOLOGY" = flannel ]; then
		ip netns exec "${1:-$PW_NODE}" iptables-legacy-save -t filter |
			grep -v -e '^:FLANNEL-FWD ' -e '^-A FLANNEL-FWD ' -e '-j FLANNEL-FWD$'
	else
		ip netns exec "${1:-$PW_NODE}" iptables-legacy-save -t filter
	fi
}

# node_filter_save6 [NETNS]: the same of the IPv6 table
# (ip6tables-legacy-save), to compare with podwall's --dry-run=ip6tables.
node_filter_save6() {
	if [ "$PW_TOPOLOGY" = flannel ]; then
		ip netns exec "${1:-$PW_NODE}" ip6tables-legacy-save -t filter |
			grep -v -e '^:FLANNEL-FWD ' -e '^-A FLANNEL-FWD ' -e '-j FLANNEL-FWD$'
	else
		ip netns exec "${1:-$PW_NODE}" ip6tables-legacy-save -t filter
	fi
}

# ---- probing ----

next_sport() {
	_ns_base=$(cat "$PW_TMP/sport")
	_ns_next=$((_ns_base + $1 + 1))
	[ "$_ns_next" -gt 60000 ] && _ns_next=20000
	echo "$_ns_next" >"$PW_TMP/sport"
	echo "$_ns_base"
}

# probe_matrix [SPEC]...: probes from every source (PW_SOURCES, default every
# pod; "node" is the node itself, "node2" flannel's edge-2) to every other
# destination (PW_DESTS, default every pod) on each SPEC (default, or "own":
# the destination's own ports),
# all sources at once, and prints "SRC DST SPEC VERDICT" lines. Pairs of
# remote pods are left out (they do not cross this node) unless
# PW_REMOTE_PAIRS=1 with flannel, where they are pods of edge-2. With
# PW_VIA=vip it probes each destination's ClusterIP instead of its address.
# With PW_FAMILY=dual each SPEC is probed over both families, the IPv6 cell
# printed as tcp6:PORT, udp6:PORT or icmp6 beside the IPv4 one; tcp4:PORT
# (udp4, icmp4) or tcp6:PORT (udp6, icmp6) probes one family alone. A
# family the source or the destination lacks is not probed.
probe_matrix() {
	_pm_dir="$PW_TMP/probe"
	rm -rf "$_pm_dir"
	mkdir "$_pm_dir" || return 1
	v6_settle
	_pm_srcs=${PW_SOURCES:-$(pod_keys)}
	_pm_dsts=${PW_DESTS:-$(pod_keys)}
	_pm_node6="" _pm_node26=""
	if [ "$PW_FAMILY" = dual ]; then
		_pm_node6=$PW_NODE_IP6
		[ -z "$PW_NODE2" ] || _pm_node26=$PW_NODE2_IP6
	fi
	# One awk pass writes, for each source, its targets (N.t) and what
	# each target stands for (N.m), and prints "N NETNS SOURCE-IP
	# SOURCE-IP6".
	awk -v srcs="$_pm_srcs" -v dsts="$_pm_dsts" -v specs="$*" -v via="${PW_VIA:-ip}" \
	    -v dir="$_pm_dir" -v node="$PW_NODE" -v nodeip="$PW_NODE_IP" -v nodeip6="$_pm_node6" \
	    -v node2="$PW_NODE2" -v node2ip="$PW_NODE2_IP" -v node2ip6="$_pm_node26" \
	    -v dual="$([ "$PW_FAMILY" = dual ] && echo 1)" \
	    -v rr="$([ "$PW_TOPOLOGY" = flannel ] && echo "${PW_REMOTE_PAIRS:-}")" '
		function has(a) { return a != "" && a != "-" }
		# One cell: spec SP (tcp:80, icmp...) over family F (4 or 6).
		function cell(sp, f,   pp, proto, label, target, addr) {
			split(sp, pp, ":"); proto = pp[1]
			if (f == 4) {
				addr = via == "vip" ? vip[d[j]] : ip[d[j]]
				if (!has(addr) || !has(ip[s[i]])) return
				label = sp
				target = proto == "icmp" ? "icmp:" addr : proto ":" addr ":" pp[2]
			} else {
				addr = via == "vip" ? vip6[d[j]] : ip6[d[j]]
				if (!has(addr) || !has(ip6[s[i]])) return
				label = proto == "icmp" ? "icmp6" : proto "6:" pp[2]
				target = proto == "icmp" ? "icmp:" addr : proto ":[" addr "]:" pp[2]
			}
			print target > (dir "/" i ".t")
			print s[i], d[j], label > (dir "/" i ".m")
			n++
		}
		# A SPEC: tcp:80 both families (IPv4 alone unless dual), tcp4:80
		# and tcp6:80 one.
		function cells(sp,   pp, proto, f) {
			split(sp, pp, ":"); proto = pp[1]
			f = substr(proto, length(proto))
			if (f == "4" || f == "6") {
				proto = substr(proto, 1, length(proto) - 1)
				cell(proto (proto == "icmp" ? "" : ":" pp[2]), f + 0)
				return
			}
			cell(sp, 4)
			if (dual) cell(sp, 6)
		}
		{ net[$1] = $2; ip[$1] = $3; ports[$1] = $4; vip[$1] = $6; kind[$1] = $7; ip6[$1] = $9; vip6[$1] = $10 }
		END {
			ns = split(srcs, s, " "); nd = split(dsts, d, " "); nsp = split(specs, sp, " ")
			net["node"] = node; ip["node"] = nodeip; ip6["node"] = nodeip6
			if (node2 != "") { net["node2"] = node2; ip["node2"] = node2ip; ip6["node2"] = node2ip6 }
			for (i = 1; i <= ns; i++) {
				if (!(s[i] in net)) { print "unknown source " s[i] > "/dev/stderr"; exit 1 }
				n = 0
				for (j = 1; j <= nd; j++) {
					if (d[j] == s[i]) continue
					if (!(d[j] in ip)) { print "unknown destination " d[j] > "/dev/stderr"; exit 1 }
					# Two pods of the other node talk without this node.
					if (kind[s[i]] == "remote" && kind[d[j]] == "remote" && rr != 1) continue
					# "own" (and no SPEC at all): the ports of the destination.
					m = 0
					for (k = 1; k <= (nsp ? nsp : 1); k++) {
						if (nsp && sp[k] != "own") { t[++m] = sp[k]; continue }
						if (ports[d[j]] == "-") continue
						no = split(ports[d[j]], own, ",")
						for (o = 1; o <= no; o++) t[++m] = own[o]
					}
					for (k = 1; k <= m; k++) cells(t[k])
				}
				if (n > max) max = n
				if (n) print i, net[s[i]], (has(ip[s[i]]) ? ip[s[i]] : "-"), (has(ip6[s[i]]) ? ip6[s[i]] : "-")
			}
			print max + 0 > (dir "/max")
		}' "$PW_TMP/pods" >"$_pm_dir/sources" || return 1
	_pm_base=$(next_sport "$(cat "$_pm_dir/max")")
	_pm_pids=""
	while read -r _pm_i _pm_net _pm_ip _pm_ip6; do
		_pm_src=""
		[ "$_pm_ip" = - ] || _pm_src="--source $_pm_ip"
		[ "$_pm_ip6" = - ] || _pm_src="$_pm_src --source $_pm_ip6"
		# shellcheck disable=SC2086
		timeout 20 ip netns exec "$_pm_net" "$PWPROBE" probe-file --timeout-ms "$PW_TIMEOUT_MS" \
			$_pm_src --sport-base "$_pm_base" "$_pm_dir/$_pm_i.t" \
			>"$_pm_dir/$_pm_i.out" 2>"$_pm_dir/$_pm_i.err" &
		_pm_pids="$_pm_pids $!"
	done <"$_pm_dir/sources"
	# shellcheck disable=SC2086
	[ -z "$_pm_pids" ] || wait $_pm_pids
	while read -r _pm_i _pm_net _pm_ip _pm_ip6; do
		# A source whose prober failed reports every cell as "error".
		if [ "$(wc -l <"$_pm_dir/$_pm_i.out")" != "$(wc -l <"$_pm_dir/$_pm_i.m")" ]; then
			sed 's/.*/x error/' "$_pm_dir/$_pm_i.m" >"$_pm_dir/$_pm_i.out"
			sed 's/^/pwprobe: /' "$_pm_dir/$_pm_i.err" >&2
		fi
		paste -d ' ' "$_pm_dir/$_pm_i.m" "$_pm_dir/$_pm_i.out" | awk '{ print $1, $2, $3, $5 }'
	done <"$_pm_dir/sources"
}

# ---- expectations ----
# Rules apply in order, the last one that matches a cell wins, and a cell
# no rule matches is expected "ok". Patterns: "*", "x/*", "*/a", "x/a",
# "node"; specs "*", "tcp:*", "udp:81", "icmp". Verdicts: ok (true),
# blocked (false), refused. A spec without a family (tcp:80, icmp) holds
# for both families' cells; tcp4:80, icmp4 for the IPv4 cells alone,
# tcp6:80, udp6:*, icmp6 for the IPv6 ones (PW_FAMILY=dual).

expect_reset() {
	PW_EXPECT=""
}

_expect_add() {
	case $4 in
	true) set -- "$1" "$2" "$3" ok ;;
	false) set -- "$1" "$2" "$3" blocked ;;
	esac
	PW_EXPECT="$PW_EXPECT$1 $2 $3 $4
"
}

# expect_all VERDICT
expect_all() { _expect_add '*' '*' '*' "$1"; }
# expect_ingress DST VERDICT [SPEC]: every source to DST
expect_ingress() { _expect_add '*' "$1" "${3:-*}" "$2"; }
# expect_egress SRC VERDICT [SPEC]: SRC to every destination
expect_egress() { _expect_add "$1" '*' "${3:-*}" "$2"; }
# expect_peer SRC DST VERDICT [SPEC]
expect_peer() { _expect_add "$1" "$2" "${4:-*}" "$3"; }

# compare_matrix FILE: prints the cells that differ from the expectation.
compare_matrix() {
	printf '%s' "$PW_EXPECT" >"$PW_TMP/expect.rules"
	awk '
		function m(p, v,   np, nv, pp, vv, i) {
			if (p == "*") return 1
			np = split(p, pp, /[\/:]/); nv = split(v, vv, /[\/:]/)
			if (np != nv) return 0
			for (i = 1; i <= np; i++) if (pp[i] != "*" && pp[i] != vv[i]) return 0
			return 1
		}
		# A spec pattern: "tcp" matches the cells tcp (IPv4) and tcp6,
		# "tcp4" and "tcp6" one family; "icmp" icmp and icmp6.
		function mspec(p, v,   pp, vv, fam) {
			if (p == "*") return 1
			split(p, pp, ":"); split(v, vv, ":")
			fam = "4"
			if (vv[1] ~ /6$/) { fam = "6"; vv[1] = substr(vv[1], 1, length(vv[1]) - 1) }
			if (pp[1] ~ /[46]$/) {
				if (substr(pp[1], length(pp[1])) != fam) return 0
				pp[1] = substr(pp[1], 1, length(pp[1]) - 1)
			}
			return m(pp[1] (2 in pp ? ":" pp[2] : ""), vv[1] (2 in vv ? ":" vv[2] : ""))
		}
		FILENAME == ARGV[1] { if (NF == 4) { nr++; rs[nr] = $1; rd[nr] = $2; rp[nr] = $3; rv[nr] = $4 } next }
		{
			want = "ok"
			for (i = 1; i <= nr; i++)
				if (m(rs[i], $1) && m(rd[i], $2) && mspec(rp[i], $3)) want = rv[i]
			cells++
			if ($4 != want) {
				bad++
				if (bad <= 16) printf "    %s -> %s %s: expected %s, got %s\n", $1, $2, $3, want, $4
			}
		}
		END {
			if (bad > 16) printf "    ... and %d more\n", bad - 16
			if (!cells) print "    no cell was probed"
			exit (bad > 0 || !cells)
		}' "$PW_TMP/expect.rules" "$1"
}

# podwall_matrix_check FILE: the cells of a probed matrix (FILE, lines
# "SRC DST SPEC VERDICT") against `podwall matrix --format csv` over the
# manifests the kernel was programmed from (PW_MANIFESTS), IPv4 cells
# (tcp:80, icmp) against the matrix of the pods' IPv4 addresses, IPv6
# cells (tcp6:80, icmp6) against --family 6: the matrix must say what the
# packets showed. With one podwall node (calico, ptp) the matrix is of that
# node's rules alone (--node-name), as the other node's pods are guarded by
# nothing here; with flannel both nodes run podwall. Left out, as no
# matrix cell stands for them: probes from the node itself ("node",
# "node2": no pod's flow), every probe of a ClusterIP (PW_VIA=vip:
# kube-proxy's DNAT comes before podwall's rules), cells whose prober
# failed ("error") and pods the matrix does not list (finished,
# host-network or without an address of the family: no flow of theirs is
# a pod's, and a finished pod's leftover interface is dropped whatever the
# policies). PW_MATRIX_CHECK=off leaves it out altogether, for suites whose
# kernel differs from the manifests on purpose. Prints the cells that
# differ; on success PW_MATRIX_CELLS holds how many were compared.
podwall_matrix_check() {
	PW_MATRIX_CELLS=0
	[ -n "$PW_MANIFESTS" ] && [ "${PW_MATRIX_CHECK:-on}" != off ] || return 0
	[ "${PW_VIA:-ip}" = ip ] || return 0
	_mc_node=""
	[ -n "$PW_NODE2" ] || _mc_node="--node-name $PW_NODE_NAME"
	for _mc_f in 4 6; do
		: >"$PW_TMP/podwall-matrix$_mc_f.csv"
		_mc_ports=$(awk -v fam="$_mc_f" '$1 != "node" && $1 != "node2" { print $3 }' "$1" | sort -u |
			awk -F: -v fam="$_mc_f" '{
				p = $1; f = "4"
				if (p ~ /6$/) { f = "6"; p = substr(p, 1, length(p) - 1) }
				if (f != fam) next
				if (p == "tcp" || p == "udp") printf "--port %s/%s ", $2, toupper(p)
				if (p == "icmp") printf "--port ICMP "
			}')
		[ -n "$_mc_ports" ] || continue
		# shellcheck disable=SC2086
		if ! "$PODWALL" matrix -f "$PW_MANIFESTS" --family "$_mc_f" $_mc_node $_mc_ports \
			--format csv >"$PW_TMP/podwall-matrix$_mc_f.csv" 2>"$PW_TMP/podwall-matrix.err"; then
			echo "    podwall matrix -f $PW_MANIFESTS --family $_mc_f failed: $(cat "$PW_TMP/podwall-matrix.err")"
			return 1
		fi
	done
	_mc_out=$(awk -F, '
		FILENAME != ARGV[3] {
			fam = FILENAME == ARGV[1] ? "4" : "6"
			if (FNR > 1) { cell[fam " " $1 " " $2 " " $3] = $4; listed[fam " " $1] = 1 }
			next
		}
		{
			split($0, f, " ")
			split(f[3], sp, ":"); p = sp[1]; fam = "4"
			if (p ~ /6$/) { fam = "6"; p = substr(p, 1, length(p) - 1) }
			if (!((fam " " f[1]) in listed) || !((fam " " f[2]) in listed)) next
			if (p == "icmp") port = "ICMP"
			else if ((p == "tcp" || p == "udp") && sp[2] ~ /^[0-9]+$/) port = sp[2] "/" toupper(p)
			else next
			if (f[4] == "ok" || f[4] == "refused") want = "allowed"
			else if (f[4] == "blocked") want = "denied"
			else next
			k = fam " " f[1] " " f[2] " " port
			n++
			if (!(k in cell)) got = "no cell"
			else got = cell[k]
			if (got != want && ++bad <= 16)
				printf "    podwall matrix: %s -> %s %s: the packets were %s, the matrix says %s\n", f[1], f[2], f[3], f[4], got
		}
		END { if (bad > 16) printf "    ... and %d more\n", bad - 16; printf "%d %d\n", n, bad }' \
		"$PW_TMP/podwall-matrix4.csv" "$PW_TMP/podwall-matrix6.csv" "$1")
	echo "$_mc_out" | sed '$d'
	_mc_last=$(echo "$_mc_out" | tail -n 1)
	PW_MATRIX_CELLS=${_mc_last% *}
	[ "${_mc_last#* }" = 0 ]
}

# verify NAME [SPEC]...: probes and compares, with the expectations and
# with podwall matrix (podwall_matrix_check). As the upstream suite does, a
# matrix that differs is probed once more before the case fails; a pass on
# the second probe says so.
verify() {
	_v_name=$1
	shift
	probe_matrix "$@" >"$PW_TMP/matrix" 2>"$PW_TMP/matrix.err"
	if compare_matrix "$PW_TMP/matrix" >"$PW_TMP/diff"; then
		verify_with_podwall_matrix "$_v_name$(matrix_families)"
		return
	fi
	probe_matrix "$@" >"$PW_TMP/matrix" 2>>"$PW_TMP/matrix.err"
	if compare_matrix "$PW_TMP/matrix" >"$PW_TMP/diff2"; then
		verify_with_podwall_matrix "$_v_name (on the second probe; the first differed in $(wc -l <"$PW_TMP/diff") cell(s))$(matrix_families)"
		return
	fi
	fail "$_v_name: $(wc -l <"$PW_TMP/diff2" | tr -d ' ') line(s) of differing cells:"
	cat "$PW_TMP/diff2" >&2
	[ -s "$PW_TMP/matrix.err" ] && sed 's/^/    /' "$PW_TMP/matrix.err" >&2
	return 1
}

# verify_with_podwall_matrix MESSAGE: the packets matched the expectations;
# pass if podwall matrix says the same of them, saying how many cells it
# was asked about.
verify_with_podwall_matrix() {
	if podwall_matrix_check "$PW_TMP/matrix" >"$PW_TMP/matrix-diff"; then
		if [ "$PW_MATRIX_CELLS" -gt 0 ]; then
			pass "$1 [podwall matrix agrees on $PW_MATRIX_CELLS cells]"
		else
			pass "$1"
		fi
		return 0
	fi
	fail "$1: the packets are as expected, but podwall matrix differs:"
	cat "$PW_TMP/matrix-diff" >&2
	return 1
}

# matrix_families: with PW_FAMILY=dual, " [N IPv4 and M IPv6 cells]" of the
# last matrix, so that a pass says what it covered; nothing otherwise.
matrix_families() {
	[ "$PW_FAMILY" = dual ] || return 0
	awk '$3 ~ /^(tcp6|udp6|icmp6)/ { six++; next } { four++ }
		END { printf " [%d IPv4 and %d IPv6 cells]", four, six }' "$PW_TMP/matrix"
}

# No namespace of this run may be left, nor any process in one.
check_no_leftovers() {
	_cl_left=$(ip netns list | awk -v p="$PW_RUN" 'index($1, p) == 1 { print $1 }')
	[ -z "$_cl_left" ] || fail "namespaces left behind: $_cl_left"
}
