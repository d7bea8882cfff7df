#!/bin/sh
# podwall doctor in a node namespace (tests/netns.sh; PW_TOPOLOGY calico by
# default, flannel from flannel-doctor.sh): each check first passes, then
# is made to warn or fail inside the namespace, and its line and the exit
# status are compared. On calico: ip_forward, rp_filter, a fake kube-proxy
# ruleset (iptables-legacy-restore) with and without --masquerade-all, both
# iptables backends holding rules, the xtables lock held with flock, pods
# on the node's address, in --service-cidr and on a cluster IP, the fake
# API server answering and then 403 for networkpolicies, an unreachable
# API, a daemon's /healthz, usage errors. On flannel: br_netfilter on cni0
# turned off.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$srcdir/tests/netns.sh"
e2e_requirements "e2e-doctor.sh"
. "$srcdir/tests/apiserver.sh"
apiserver_requirements "e2e-doctor.sh"

OUT="$PW_TMP/doctor.out"
: >"$PW_TMP/empty.yaml"

# doctor ARG...: podwall doctor in the node, its output in OUT, its status in RC.
doctor() {
	(cd "$PW_TMP" && exec ip netns exec "$PW_NODE" "$PODWALL" doctor \
		--config "$PW_TMP/empty.yaml" --node-name edge-1 --lock-wait 0.5 \
		--cni-cache-dir "$(cni_dir "$PW_NODE")" "$@") \
		>"$OUT" 2>"$OUT.err"
	RC=$?
}

# expect NAME RC PATTERN: the last doctor's status was RC and a line matches PATTERN.
expect() {
	if [ "$RC" != "$2" ]; then
		fail "$1: exit status $RC, expected $2: $(cat "$OUT" "$OUT.err")"
	elif ! grep -q -- "$3" "$OUT" "$OUT.err"; then
		fail "$1: no line matching \"$3\" in: $(cat "$OUT" "$OUT.err")"
	else
		pass "$1"
	fi
}

# pods_yaml FILE NAME IP...: pods of namespace x on edge-1, one per IP.
pods_yaml() {
	_py_file=$1
	shift
	printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n' >"$_py_file"
	_py_n=0
	for _py_ip; do
		_py_n=$((_py_n + 1))
		cat >>"$_py_file" <<EOT
---
apiVersion: v1
kind: Pod
metadata: {name: p$_py_n, namespace: x}
spec:
  nodeName: edge-1
  containers: [{name: c, image: registry.example/agnhost:1}]
status: {phase: Running, podIP: $_py_ip}
EOT
	done
}

node_up || { fail "node_up"; finish; }

if [ "$PW_TOPOLOGY" = flannel ]; then
	pod_up x a 198.18.1.10 tcp:80 || { fail "pod_up"; finish; }
	pods_yaml "$PW_TMP/pods.yaml" 198.18.1.10
	doctor -f "$PW_TMP/pods.yaml"
	expect "flannel: bridge-nf on" 0 "^OK   br-netfilter: cni0: bridged IPv4 traffic reaches iptables"
	ns_sysctl "$PW_NODE" net/bridge/bridge-nf-call-iptables 0
	doctor -f "$PW_TMP/pods.yaml"
	expect "flannel: bridge-nf off" 1 \
		"^FAIL br-netfilter: cni0: .*not enforced; fix: modprobe br_netfilter; sysctl -w net.bridge.bridge-nf-call-iptables=1"
	ns_sysctl "$PW_NODE" net/bridge/bridge-nf-call-iptables 1
	doctor -f "$PW_TMP/pods.yaml"
	expect "flannel: bridge-nf on again" 0 "^OK   br-netfilter: cni0"
	# A bridge without pods yet is one of theirs when a CNI result names it.
	nx ip link add pwbr0 type bridge && nx ip link set pwbr0 up || fail "pwbr0"
	doctor -f "$PW_TMP/pods.yaml"
	grep -q "pwbr0" "$OUT" && fail "flannel: a bridge of no pod's judged: $(cat "$OUT")"
	cni_result "$PW_NODE" x z 198.18.1.99 16 "$PW_FL_GW1" pwbr0 &&
	doctor -f "$PW_TMP/pods.yaml"
	expect "flannel: a bridge named by a CNI result" 0 "^OK   br-netfilter: pwbr0: bridged IPv4 traffic reaches iptables"
	nx ip link del pwbr0
	cni_forget "$PW_NODE" x z
	# The IPv6 switch counts once a pod of the node has IPv6.
	if [ -e "/proc/sys/net/ipv6" ]; then
		ns_sysctl "$PW_NODE" net/bridge/bridge-nf-call-ip6tables 0
		doctor -f "$PW_TMP/pods.yaml"
		expect "flannel: IPv4 pods, ip6tables switch off" 0 "^OK   br-netfilter: cni0"
		grep -q "IPv6" "$OUT" && fail "flannel: the IPv6 switch judged without IPv6 pods: $(cat "$OUT")"
		pods_yaml "$PW_TMP/pods6.yaml" 198.18.1.10 fd00:18::1:11
		ns_sysctl "$PW_NODE" net/ipv6/conf/all/forwarding 1
		doctor -f "$PW_TMP/pods6.yaml"
		expect "flannel: IPv6 pod, ip6tables switch off" 1 \
			"^FAIL br-netfilter: cni0: .*; fix: modprobe br_netfilter; sysctl -w net.bridge.bridge-nf-call-ip6tables=1"
		ns_sysctl "$PW_NODE" net/bridge/bridge-nf-call-ip6tables 1
		doctor -f "$PW_TMP/pods6.yaml"
		expect "flannel: IPv6 pod, ip6tables switch on" 0 "^OK   br-netfilter: cni0: bridged IPv6 traffic reaches ip6tables"
	fi
	finish
fi

pod_up x a 198.18.50.1 tcp:80 || { fail "pod_up"; finish; }
pods_yaml "$PW_TMP/pods.yaml" 198.18.50.1

# ---- the node alone
doctor -f "$PW_TMP/pods.yaml"
expect "baseline" 0 "^OK   ip-forward: net.ipv4.ip_forward = 1"
expect "baseline: no kube-proxy" 0 "^WARN kube-proxy: no KUBE-SERVICES chain"
expect "baseline: routed pods" 0 "^OK   br-netfilter: no bridge holds pods"
expect "baseline: kernel" 0 "^OK   kernel-features: "
expect "baseline: lock" 0 "^OK   xtables-lock: $XTABLES_LOCKFILE taken and released"
expect "baseline: addresses" 0 "^OK   pod-addresses: 1 pods"
expect "baseline: rp_filter" 0 "^OK   rp-filter: all=0"

ns_sysctl "$PW_NODE" net/ipv4/ip_forward 0
doctor -f "$PW_TMP/pods.yaml"
expect "ip_forward 0" 1 "^FAIL ip-forward: net.ipv4.ip_forward = 0.*; fix: sysctl -w net.ipv4.ip_forward=1"
ns_sysctl "$PW_NODE" net/ipv4/ip_forward 1

# IPv6 forwarding matters once a pod of the node has an IPv6 address.
if [ -e /proc/sys/net/ipv6 ]; then
	pods_yaml "$PW_TMP/pods6.yaml" 198.18.50.1 fd00:18::50:2
	ns_sysctl "$PW_NODE" net/ipv6/conf/all/forwarding 1
	doctor -f "$PW_TMP/pods6.yaml"
	expect "IPv6 forwarding on" 0 "^OK   ip-forward: net.ipv6.conf.all.forwarding = 1 (this node's pods have IPv6)"
	expect "IPv6 kernel features" 0 "^OK   kernel-features: [0-9]* matches, targets and set types podwall uses are there (IPv4 and IPv6)"
	ns_sysctl "$PW_NODE" net/ipv6/conf/all/forwarding 0
	doctor -f "$PW_TMP/pods6.yaml"
	expect "IPv6 forwarding off" 1 "^FAIL ip-forward: net.ipv6.conf.all.forwarding = 0 and this node's pods have IPv6 addresses; fix: sysctl -w net.ipv6.conf.all.forwarding=1"
	doctor -f "$PW_TMP/pods.yaml"
	expect "IPv6 forwarding without IPv6 pods" 0 "^OK   ip-forward: net.ipv4.ip_forward = 1"
	grep -q "ipv6" "$OUT" && fail "IPv6 forwarding judged without IPv6 pods: $(cat "$OUT")"
fi

ns_sysctl "$PW_NODE" net/ipv4/conf/all/rp_filter 1
doctor -f "$PW_TMP/pods.yaml"
expect "strict rp_filter" 0 "^WARN rp-filter: strict rp_filter (1) on $(pod_iface x a)"
ns_sysctl "$PW_NODE" net/ipv4/conf/all/rp_filter 0

# ---- kube-proxy in nftables mode: its table "kube-proxy", made by raw
# netlink (nft itself may be missing), in a namespace of its own.
if netns_add "${PW_RUN}k" && ip netns exec "${PW_RUN}k" python3 -c '
import socket, struct, sys
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)	# NETLINK_NETFILTER
def msg(typ, flags, seq, family, payload, resid=0):
    body = struct.pack("BBH", family, 0, socket.htons(resid)) + payload
    return struct.pack("=IHHII", 16 + len(body), typ, flags, seq, 0) + body
name = b"kube-proxy\0"
attr = struct.pack("=HH", 4 + len(name), 1) + name + b"\0" * ((4 - len(name) % 4) % 4)
batch = msg(0x10, 1, 1, 0, b"", 10)				# NFNL_MSG_BATCH_BEGIN
batch += msg((10 << 8) | 0, 1 | 4 | 0x400, 2, 2, attr)		# NFT_MSG_NEWTABLE ip
batch += msg(0x11, 1, 3, 0, b"", 10)				# NFNL_MSG_BATCH_END
s.sendto(batch, (0, 0))
sys.exit(struct.unpack("=i", s.recv(4096)[16:20])[0] != 0)
' 2>/dev/null; then
	_node=$PW_NODE
	PW_NODE="${PW_RUN}k"
	doctor -f "$PW_TMP/pods.yaml"
	PW_NODE=$_node
	expect "kube-proxy nftables mode (ip_forward is off there)" 1 "^WARN kube-proxy: nftables mode (an nf_tables table \"kube-proxy\", no legacy KUBE-SERVICES)"
else
	echo "skipped: kube-proxy's nftables mode (no nf_tables here)"
fi

# ---- kube-proxy: its chains as kube-proxy 1.28 writes them (abridged)
kube_proxy_rules() {	# kube_proxy_rules SOURCE-MATCH
	cat <<EOT
*nat
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SVC-NPX46M4PTMTKRN6Y - [0:0]
:KUBE-SEP-A - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE
-A KUBE-SERVICES -d 198.18.60.1/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP" -m tcp --dport 443 -j KUBE-SVC-NPX46M4PTMTKRN6Y
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-SVC-NPX46M4PTMTKRN6Y $1 -d 198.18.60.1/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP" -m tcp --dport 443 -j KUBE-MARK-MASQ
-A KUBE-SVC-NPX46M4PTMTKRN6Y -j KUBE-SEP-A
-A KUBE-SEP-A -p tcp -m tcp -j DNAT --to-destination 198.19.254.1:6443
COMMIT
*filter
:KUBE-SERVICES - [0:0]
:KUBE-FORWARD - [0:0]
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
COMMIT
EOT
}
kube_proxy_rules "! -s 198.18.0.0/15" | nx iptables-legacy-restore -w || fail "iptables-legacy-restore"
doctor -f "$PW_TMP/pods.yaml"
expect "kube-proxy iptables mode" 0 \
	"^OK   kube-proxy: iptables mode (KUBE-SERVICES and KUBE-NODEPORTS in nat, KUBE-SERVICES in filter), 2 cluster IP rules, no --masquerade-all"
kube_proxy_rules "" | nx iptables-legacy-restore -w || fail "iptables-legacy-restore"
doctor -f "$PW_TMP/pods.yaml"
expect "kube-proxy --masquerade-all" 1 \
	"^FAIL kube-proxy: iptables mode, --masquerade-all: .*; fix: run kube-proxy without --masquerade-all"
kube_proxy_rules "! -s 198.18.0.0/15" | nx iptables-legacy-restore -w

# ipvs mode: kube-proxy's dummy link kube-ipvs0 (a veth of that name where
# the dummy driver is missing).
if nx ip link add kube-ipvs0 type dummy 2>/dev/null ||
   nx ip link add kube-ipvs0 type veth peer name pwipvs1; then
	doctor -f "$PW_TMP/pods.yaml"
	expect "kube-proxy ipvs mode" 0 "^WARN kube-proxy: ipvs mode (the link kube-ipvs0 exists); fix: "
	nx ip link del kube-ipvs0
fi

# ---- both backends
if command -v iptables-nft >/dev/null 2>&1 && nx iptables-nft -A INPUT -p tcp --dport 9 -j ACCEPT 2>/dev/null; then
	doctor -f "$PW_TMP/pods.yaml"
	expect "legacy and nft" 0 "^WARN iptables-backend: [0-9]* rules in the legacy filter and nat tables and 1 in nf_tables: the kernel evaluates both"
	nx iptables-nft -D INPUT -p tcp --dport 9 -j ACCEPT
	doctor -f "$PW_TMP/pods.yaml"
	expect "legacy alone" 0 "^OK   iptables-backend: [0-9]* rules in the legacy filter and nat tables, none in nf_tables"
else
	echo "skipped: the nft backend (iptables-nft cannot add a rule here)"
fi

# ---- the xtables lock, held by flock(1)
# (-o: the lock stays flock's own, and goes when flock is killed.)
flock -o "$XTABLES_LOCKFILE" sh -c 'echo $$ >"$1"; exec sleep 30' sh "$PW_TMP/sleeper" &
holder=$!
bg_track $holder
sleep 0.3
bg_track "$(cat "$PW_TMP/sleeper")"
doctor -f "$PW_TMP/pods.yaml"
expect "lock held" 1 "^FAIL xtables-lock: $XTABLES_LOCKFILE not free within 0.5 s: held by pid $holder (flock)"
kill $holder "$(cat "$PW_TMP/sleeper")"
wait $holder 2>/dev/null
doctor -f "$PW_TMP/pods.yaml"
expect "lock free again" 0 "^OK   xtables-lock: "

# ---- pod addresses
pods_yaml "$PW_TMP/bad-pods.yaml" 198.18.50.1 "$PW_NODE_IP"
doctor -f "$PW_TMP/bad-pods.yaml"
expect "pod on the node's address" 1 "^FAIL pod-addresses: x/p2 $PW_NODE_IP is an address of the node's"
doctor -f "$PW_TMP/pods.yaml" --service-cidr 198.18.50.0/24
expect "pod in the service range" 1 "^FAIL pod-addresses: x/p1 198.18.50.1 is in the service range 198.18.50.0/24"
pods_yaml "$PW_TMP/bad-pods.yaml" 198.18.60.1
doctor -f "$PW_TMP/bad-pods.yaml"
expect "pod on a cluster IP" 1 "^FAIL pod-addresses: x/p1 198.18.60.1 is a Service's cluster IP"

# ---- the API
apiserver_up || { fail "apiserver_up"; finish; }
namespace x '{}'
pod x a 198.18.50.1 '{"app":"a"}'
doctor --kubeconfig "$PW_TMP/kubeconfig"
expect "API allowed" 0 "^OK   api-rbac: https://127.0.0.1:$API: list and watch allowed on pods, namespaces, networkpolicies"
expect "API pods" 0 "^OK   pod-addresses: 1 pods"
# Services: the cover of their cluster IPs lies inside the service range.
for svc in a:198.18.61.10 b:198.18.61.20; do
	printf '{"apiVersion":"v1","kind":"Service","metadata":{"name":"%s","namespace":"x"},"spec":{"clusterIP":"%s","clusterIPs":["%s"],"ports":[{"port":80}]}}\n' \
		"${svc%%:*}" "${svc#*:}" "${svc#*:}" >"$PW_TMP/svc.json"
	ctl POST /objects --data-binary @"$PW_TMP/svc.json" || fail "POST Service ${svc%%:*}"
done
pod x b 198.18.61.5 '{"app":"b"}'
doctor --kubeconfig "$PW_TMP/kubeconfig"
expect "pod in the Services' range" 1 "^FAIL pod-addresses: x/b 198.18.61.5 is in the service range 198.18.61.0/27; fix: give pods a range"
del Pod x b
doctor --kubeconfig "$PW_TMP/kubeconfig"
expect "Services' range" 0 "^OK   pod-addresses: 1 pods, none .* in the service range 198.18.61.0/27 (from the Services' cluster IPs)"
fault '{"type":"status","code":403,"path":"networkpolicies","count":2}'
doctor --kubeconfig "$PW_TMP/kubeconfig"
expect "API 403" 1 "^FAIL api-rbac: list networkpolicies: 403 networkpolicies is forbidden: User \"system:serviceaccount:kube-system:podwall\" cannot list resource \"networkpolicies\" .*; watch networkpolicies: 403 .*; fix: grant the node's identity list and watch"
sed "s|https://127.0.0.1:$API|https://127.0.0.1:1|" "$PW_TMP/kubeconfig" >"$PW_TMP/kubeconfig.down"
doctor --kubeconfig "$PW_TMP/kubeconfig.down" --api-timeout 2
expect "API unreachable" 1 "^FAIL api: https://127.0.0.1:1: .*; fix: check the server address"

# ---- the daemon
doctor -f "$PW_TMP/pods.yaml" --metrics-address 127.0.0.1:9
expect "no daemon at the address" 1 "^FAIL daemon: http://127.0.0.1:9/healthz: "
start_daemon --metrics-address 127.0.0.1:9464
i=0
until nx curl -s -f http://127.0.0.1:9464/healthz >/dev/null 2>&1 || [ $i -ge 100 ]; do
	sleep 0.1; i=$((i + 1))
done
doctor -f "$PW_TMP/pods.yaml" --metrics-address 127.0.0.1:9464
expect "daemon enforcing" 0 "^OK   daemon: http://127.0.0.1:9464/healthz: enforcing"
stop_daemon

# ---- usage
doctor --bogus
expect "unknown option" 2 "unrecognized option"
doctor -f "$PW_TMP/pods.yaml" --kubeconfig "$PW_TMP/kubeconfig"
expect "-f and --kubeconfig" 2 "^podwall doctor: -f and --kubeconfig: "
doctor extra
expect "an argument" 2 "^podwall doctor: unexpected argument \"extra\""
doctor --lock-wait soon
expect "bad seconds" 2 "^podwall doctor: --lock-wait=soon: not a number of seconds"
doctor --format xml
expect "bad format" 2 "^podwall doctor: --format=xml: expected text or json"
doctor -f "$PW_TMP/pods.yaml" --format json
python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
assert d["status"] in ("OK", "WARN") and len(d["checks"]) >= 10
assert all(set(c) <= {"check", "status", "saw", "fix"} and ("fix" in c) == (c["status"] != "OK") for c in d["checks"])
' "$OUT" || fail "json: not what --format json promises: $(cat "$OUT")"
expect "json" 0 '^ "status":"\(OK\|WARN\)"}'

finish
