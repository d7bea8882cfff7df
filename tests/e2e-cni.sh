#!/bin/sh
# What enforcing on any CNI needs beyond the policy cases, on the topology
# PW_TOPOLOGY names (calico, ptp, flannel), with real packets:
#   - a pod sending with another pod's address, or one no pod has, does not
#     get through a policy that denies it as itself (forged UDP and TCP,
#     counted where they would arrive);
#   - with flannel: what happens while a bridge port is not known yet (no
#     CNI result, nothing learned), and that it closes once it is learned;
#     bridge-nf switched off at start: --keep-sysctls refuses to call the
#     node enforced, without it podwall turns the bridge's switch on; the
#     daemon reports NOT ENFORCING in its STATUS, and turns a switch
#     someone flipped off back on within its drift interval;
#   - a pod whose interface or port appears after its policy: the daemon
#     binds it at once, and the policy holds;
#   - the node reaches an isolated pod, also from cni0's own address.
#
# With PW_FAMILY=dual the pods are dual-stack: every forgery is made over
# IPv6 too (a sending with b's IPv6 address, or one no pod has, counted in
# ip6tables where it would arrive), the verdicts are probed over both
# families, and the node reaches c over IPv6 as well.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$srcdir/tests/netns.sh"
e2e_requirements "e2e-cni.sh"
. "$srcdir/tests/apiserver.sh"
apiserver_requirements "e2e-cni.sh"

T=$PW_TOPOLOGY
MF="$PW_TMP/manifests"
mkdir "$MF" || exit 99

A=198.18.70.1 B=198.18.70.2 C=198.18.70.3 D=198.18.70.4 NOBODY=198.18.77.77
# The IPv6 addresses of the same (PW_FAMILY=dual): the forgeries' sources
# are B6 and NOBODY6, and SRCS every source a forgery may take.
B6=$(ip6_of $B) C6=$(ip6_of $C) NOBODY6=$(ip6_of $NOBODY)
SRCS_B=$B SRCS_N=$NOBODY
if [ "$PW_FAMILY" = dual ]; then
	SRCS_B="$B $B6" SRCS_N="$NOBODY $NOBODY6"
fi

write_manifests() {	# write_manifests POD...: namespace x, those pods, c's policy
	{
		printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n'
		for p in "$@"; do
			eval "ip=\$$(echo "$p" | tr a-z A-Z)"
			printf -- '---\napiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: x, labels: {pod: %s}}\n' "$p" "$p"
			if [ "$PW_FAMILY" = dual ]; then
				printf "spec: {nodeName: edge-1}\nstatus: {phase: Running, podIP: %s, podIPs: [{ip: %s}, {ip: '%s'}]}\n" \
					"$ip" "$ip" "$(ip6_of "$ip")"
			else
				printf 'spec: {nodeName: edge-1}\nstatus: {phase: Running, podIP: %s}\n' "$ip"
			fi
		done
		# c and d take ingress from b alone.
		cat <<'EOF'
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-b, namespace: x}
spec:
  podSelector: {matchExpressions: [{key: pod, operator: In, values: [c, d]}]}
  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]
EOF
	} >"$MF/cluster.yaml"
}

once() {	# once [ARG]...: podwall --once on edge-1; its stderr in once.err
	timeout 60 ip netns exec "$PW_NODE" "$PODWALL" --cni-cache-dir "$(cni_dir "$PW_NODE")" \
		--once --node-name edge-1 "$@" -f "$MF" 2>"$PW_TMP/once.err"
}

# arrived NETNS SRC PROTO: how many packets from SRC the pod in NETNS took
# on port 80 (a counting rule in the pod's own namespace; ip6tables' for
# an IPv6 SRC).
count_in() {
	case $2 in
	*:*) ip netns exec "$1" ip6tables-legacy -w -A INPUT -s "$2" -p "$3" --dport 80 -j ACCEPT ;;
	*) ip netns exec "$1" iptables-legacy -w -A INPUT -s "$2" -p "$3" --dport 80 -j ACCEPT ;;
	esac
}
arrived() {
	case $2 in
	*:*) ip netns exec "$1" ip6tables-legacy-save -c -t filter | grep -- "-A INPUT -s $2/128 -p $3 " ;;
	*) ip netns exec "$1" iptables-legacy-save -c -t filter | grep -- "-A INPUT -s $2/32 -p $3 " ;;
	esac | sed 's/^\[\([0-9]*\):.*/\1/' | awk '{ n += $1 } END { print n + 0 }'
}

# forge FROM-POD AS-ADDRESS: UDP and a TCP SYN to c:80 from FROM-POD's
# namespace with a source address not its own (to c's IPv6 address for an
# IPv6 one).
forge() {
	_fg_net=$(pod_get "$1" netns)
	_fg_c=$C
	case $2 in *:*) _fg_c="[$C6]" ;; esac
	ip netns exec "$_fg_net" "$PWPROBE" probe --timeout-ms 200 --source "$2" \
		--sport-base "$(next_sport 2)" "udp:$_fg_c:80" "tcp:$_fg_c:80" >/dev/null 2>&1
}

# forge_all FROM-POD: FROM-POD forging b's and nobody's addresses, of each
# family the pods have.
forge_all() {
	for _fa_src in $SRCS_B $SRCS_N; do
		forge "$1" "$_fa_src"
	done
}

# which SRC: " (SRC)" with PW_FAMILY=dual, where a check is made per family.
which() {
	[ "$PW_FAMILY" != dual ] || echo " ($1)"
}

# counts: "SRC/PROTO=N ..." of every forged source at c, to compare.
counts() {
	for _co_src in $SRCS_B $SRCS_N; do
		for _co_p in udp tcp; do
			printf '%s/%s=%s ' "$_co_src" "$_co_p" "$(arrived "$CNET" "$_co_src" "$_co_p")"
		done
	done
}

node_up || { fail "node_up"; finish; }
pod_up x a $A tcp:80,udp:80 && pod_up x b $B tcp:80,udp:80 && pod_up x c $C tcp:80,udp:80 ||
	{ fail "pod_up"; finish; }
for p in x/a x/b; do
	ns_sysctl "$(pod_get $p netns)" net/ipv4/ip_nonlocal_bind 1
	[ "$PW_FAMILY" != dual ] || ns_sysctl "$(pod_get $p netns)" net/ipv6/ip_nonlocal_bind 1
done
CNET=$(pod_get x/c netns)
for src in $SRCS_B $SRCS_N; do
	count_in "$CNET" $src udp && count_in "$CNET" $src tcp || { fail "counting rules"; finish; }
done
write_manifests a b c

# ---------------------------------------------------------------- spoofing
# Before podwall: a forged packet does leave a and reach c, so that its
# absence later means podwall stopped it.
for src in $SRCS_B $SRCS_N; do
	eval "before_$(echo "$src" | tr -c '0-9a-z\n' _)=$(arrived "$CNET" "$src" udp)"
done
forge_all x/a
reached=0 sources=0
for src in $SRCS_B $SRCS_N; do
	eval "was=\$before_$(echo "$src" | tr -c '0-9a-z\n' _)"
	sources=$((sources + 1))
	[ "$(arrived "$CNET" "$src" udp)" -gt "$was" ] && reached=$((reached + 1))
done
if [ "$reached" = "$sources" ]; then
	pass "$T: without podwall, a's packets forged as b and as $NOBODY$([ "$PW_FAMILY" != dual ] || echo " (and as $B6, $NOBODY6)") reach c"
else
	fail "$T: forged packets do not reach c even without podwall ($reached of $sources sources): the checks below prove nothing"
fi
if once; then
	pass "$T: --once"
else
	fail "$T: --once: $(cat "$PW_TMP/once.err")"
fi
expect_reset
expect_ingress x/c false
expect_peer x/b x/c true
expect_peer node x/c true
PW_SOURCES="x/a x/b node" PW_DESTS="x/c" verify "$T: c takes ingress from b alone (the node always)" tcp:80 udp:80

check_forgery() {	# check_forgery WHAT: a forging b and nobody must not reach c
	_cf_before=$(counts)
	forge_all x/a
	_cf_after=$(counts)
	if [ "$_cf_before" = "$_cf_after" ]; then
		pass "$T: $1: a sending as b, or as an address no pod has, reaches nothing$([ "$PW_FAMILY" != dual ] || echo " (either family)")"
	else
		fail "$T: $1: forged packets reached c: before $_cf_before; after $_cf_after"
	fi
}
check_forgery "ports bound"
# The counting rules count: b itself gets through as b.
before=$(arrived "$CNET" $B udp)
ip netns exec "$(pod_get x/b netns)" "$PWPROBE" probe --sport-base "$(next_sport 1)" "udp:$C:80" >/dev/null
if [ "$(arrived "$CNET" $B udp)" -gt "$before" ]; then
	pass "$T: the counting rule sees b's own packets"
else
	fail "$T: the counting rule never counts: the forgery checks prove nothing"
fi
if [ "$PW_FAMILY" = dual ]; then
	before=$(arrived "$CNET" "$B6" udp)
	ip netns exec "$(pod_get x/b netns)" "$PWPROBE" probe --sport-base "$(next_sport 1)" "udp:[$C6]:80" >/dev/null
	if [ "$(arrived "$CNET" "$B6" udp)" -gt "$before" ]; then
		pass "$T: the IPv6 counting rule sees b's own packets"
	else
		fail "$T: the IPv6 counting rule never counts: the IPv6 forgery checks prove nothing"
	fi
fi

# ------------------------------------------- flannel: a port not known yet
if [ "$T" = flannel ]; then
	# No CNI result and nothing learned: the ports are not known.
	for p in a b c; do cni_forget "$PW_NODE" x $p; done
	nx ip neigh flush dev cni0
	once
	if ! nx iptables-legacy-save -t filter | grep -q -- '--physdev-in'; then
		pass "$T: without CNI results or learned entries, no port is bound"
	else
		fail "$T: ports bound without anything to bind them by: $(nx iptables-legacy-save -t filter | grep physdev-in)"
	fi
	# The window README describes: a pod whose port is not known may be
	# taken for another such pod; an address no pod has stays dropped.
	for src in $SRCS_B $SRCS_N; do
		eval "before_$(echo "$src" | tr -c '0-9a-z\n' _)=$(arrived "$CNET" "$src" udp)"
	done
	forge_all x/a
	for src in $SRCS_N; do
		eval "was=\$before_$(echo "$src" | tr -c '0-9a-z\n' _)"
		if [ "$(arrived "$CNET" "$src" udp)" = "$was" ]; then
			pass "$T: unbound: an address no pod has$(which "$src") is still dropped"
		else
			fail "$T: unbound: a packet from an address no pod has$(which "$src") reached c"
		fi
	done
	for src in $SRCS_B; do
		eval "was=\$before_$(echo "$src" | tr -c '0-9a-z\n' _)"
		if [ "$(arrived "$CNET" "$src" udp)" -gt "$was" ]; then
			pass "$T: unbound (the window README describes): a pod whose port is not known yet is taken for another such pod$(which "$src")"
		else
			fail "$T: unbound: a forging b$(which "$src") did not reach c, unlike what README says of the window"
		fi
	done
	# Each pod talks to its gateway, as its first DNS query would: the node
	# learns its address, the bridge its port.
	for p in a b c; do
		ip netns exec "$(pod_get x/$p netns)" "$PWPROBE" probe --timeout-ms 300 "icmp:$PW_FL_GW1" >/dev/null
	done
	once
	if [ "$(nx iptables-legacy-save -t filter | grep -c -- '--physdev-in')" -ge 3 ]; then
		pass "$T: learned: each pod's port bound from the bridge's entries"
	else
		fail "$T: learned: ports not bound: $(cat "$PW_TMP/once.err")"
	fi
	check_forgery "ports learned from the bridge"

	# ------------------------------------------------ bridge-nf switched off
	# (with PW_FAMILY=dual, bridge-nf-call-ip6tables and cni0's
	# nf_call_ip6tables as well)
	ns_sysctl "$PW_NODE" net/bridge/bridge-nf-call-iptables 0
	nx sh -c 'echo 0 >/sys/class/net/cni0/bridge/nf_call_iptables'
	if [ "$PW_FAMILY" = dual ]; then
		ns_sysctl "$PW_NODE" net/bridge/bridge-nf-call-ip6tables 0
		nx sh -c 'echo 0 >/sys/class/net/cni0/bridge/nf_call_ip6tables'
	fi
	if once --keep-sysctls; then
		fail "$T: --keep-sysctls with bridge-nf off: exit 0, as if enforced"
	elif grep -q 'not enforced' "$PW_TMP/once.err" && grep -q 'bypass iptables' "$PW_TMP/once.err"; then
		pass "$T: --keep-sysctls with bridge-nf off: exit 1, $(grep -m1 bypass "$PW_TMP/once.err")"
	else
		fail "$T: --keep-sysctls with bridge-nf off: $(cat "$PW_TMP/once.err")"
	fi
	# The trap itself: frames between ports go around iptables.
	expect_reset
	PW_SOURCES="x/a" PW_DESTS="x/c" verify "$T: with bridge-nf off, a reaches c: policy between two ports is not enforced" tcp:80
	if once && grep -q 'turned .*nf_call_iptables on' "$PW_TMP/once.err" &&
	   [ "$(nx cat /sys/class/net/cni0/bridge/nf_call_iptables)" = 1 ] &&
	   [ "$(nx cat /proc/sys/net/bridge/bridge-nf-call-iptables)" = 0 ] &&
	   { [ "$PW_FAMILY" != dual ] ||
	     { [ "$(nx cat /sys/class/net/cni0/bridge/nf_call_ip6tables)" = 1 ] &&
	       [ "$(nx cat /proc/sys/net/bridge/bridge-nf-call-ip6tables)" = 0 ]; }; }; then
		pass "$T: --once turned on cni0's own switch, and said so: $(grep -m1 turned "$PW_TMP/once.err")"
	else
		fail "$T: --once with bridge-nf off: $(cat "$PW_TMP/once.err")"
	fi
	expect_reset
	expect_ingress x/c false
	expect_peer x/b x/c true
	PW_SOURCES="x/a x/b" PW_DESTS="x/c" verify "$T: switch on: c takes ingress from b alone again" tcp:80
fi

# ------------------------------------------------- the node reaches its pods
if [ "$T" = flannel ]; then
	gw=$PW_FL_GW1
else
	gw=$PW_NODE_IP
fi
if nx "$PWPROBE" probe --source "$gw" --sport-base "$(next_sport 1)" "tcp:$C:80" | grep -q ' ok$'; then
	pass "$T: the node reaches isolated c from $gw"
else
	fail "$T: the node cannot reach isolated c from $gw"
fi
if [ "$PW_FAMILY" = dual ]; then
	if [ "$T" = flannel ]; then gw6=$PW_FL_GW1_6; else gw6=$PW_NODE_IP6; fi
	if nx "$PWPROBE" probe --source "$gw6" --sport-base "$(next_sport 1)" "tcp:[$C6]:80" | grep -q ' ok$'; then
		pass "$T: the node reaches isolated c from $gw6"
	else
		fail "$T: the node cannot reach isolated c from $gw6"
	fi
fi

# ------------------------------------------------------------ the daemon
apiserver_up || { fail "apiserver_up"; finish; }
namespace x '{}'
pod x a $A '{"pod":"a"}'
pod x b $B '{"pod":"b"}'
pod x c $C '{"pod":"c"}'
# d's pod and policy exist before its interface does.
pod x d $D '{"pod":"d"}'
policy x only-b '{"podSelector":{"matchExpressions":[{"key":"pod","operator":"In","values":["c","d"]}]},"ingress":[{"from":[{"podSelector":{"matchLabels":{"pod":"b"}}}]}]}'

# STATUS as systemd would see it.
notify_listen
# cni0's own switch (with PW_FAMILY=dual, both families' switches).
switch_on() {
	[ "$(nx cat /sys/class/net/cni0/bridge/nf_call_iptables)" = 1 ] &&
	{ [ "$PW_FAMILY" != dual ] || [ "$(nx cat /sys/class/net/cni0/bridge/nf_call_ip6tables)" = 1 ]; }
}
switch_off() {
	nx sh -c 'echo 0 >/sys/class/net/cni0/bridge/nf_call_iptables'
	[ "$PW_FAMILY" != dual ] || nx sh -c 'echo 0 >/sys/class/net/cni0/bridge/nf_call_ip6tables'
}

daemon1() {	# daemon1 [ARG]...: one daemon on edge-1, with a notify socket
	(cd "$PW_TMP" && NOTIFY_SOCKET="$PW_NOTIFY_SOCKET" exec ip netns exec "$PW_NODE" \
		"$PODWALL" --config "$PW_TMP/podwall.yaml" --cni-cache-dir "$(cni_dir "$PW_NODE")" \
		--kubeconfig "$PW_TMP/kubeconfig" --node-name edge-1 --log-level info \
		--watch-stall-timeout 5 "$@" >>"$LOG" 2>&1) &
	DAEMON=$!
	bg_track $DAEMON
}

if [ "$T" = flannel ]; then
	switch_off
	daemon1 --keep-sysctls
	if wait_for 100 status_has 'NOT ENFORCING' && log_has 'NOT ENFORCING on node edge-1' &&
	   ! log_has 'notice: enforcing'; then
		pass "$T: daemon, --keep-sysctls, bridge-nf off: STATUS=$(cat "$PW_TMP/status")"
	else
		fail "$T: daemon with bridge-nf off did not say NOT ENFORCING: STATUS=$(cat "$PW_TMP/status"); $(tail -n 5 "$LOG")"
	fi
	stop_daemon
	: >"$PW_TMP/status"
fi

daemon1 --drift-check-interval 0.2
if wait_for 100 status_has '^enforcing' && log_has 'notice: enforcing'; then
	pass "$T: daemon: STATUS=$(cat "$PW_TMP/status")"
else
	fail "$T: daemon does not report enforcing: STATUS=$(cat "$PW_TMP/status"); $(tail -n 5 "$LOG")"
fi
if [ "$T" = flannel ]; then
	if switch_on && log_has 'turned .*nf_call_iptables on'; then
		pass "$T: daemon turned cni0's switch on at start"
	else
		fail "$T: daemon left cni0's switch off"
	fi
	switch_off
	t0=$(date +%s%N)
	if wait_for 30 switch_on; then
		pass "$T: a switch turned off under the daemon is back on in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
	else
		fail "$T: the daemon did not turn cni0's switch back on: $(tail -n 5 "$LOG")"
	fi
fi

# d's interface (and, with flannel, its CNI result) appears only now.
bound() {
	case $T in
	flannel) nx iptables-legacy-save -t filter | grep -q -- "--physdev-in $(pod_iface x d) " ;;
	*) nx iptables-legacy-save -t filter | grep -q -- "-i $(pod_iface x d) " ;;
	esac
}
t0=$(date +%s%N)
pod_up x d $D tcp:80,udp:80 || fail "pod_up x/d"
if wait_for 50 bound; then
	pass "$T: d's interface appeared after its policy: bound $(( ($(date +%s%N) - t0) / 1000000 )) ms after pod_up began"
else
	fail "$T: d's interface is not bound 5 s after it appeared: $(tail -n 5 "$LOG")"
fi
expect_reset
expect_ingress x/d false
expect_peer x/b x/d true
expect_peer node x/d true
PW_SOURCES="x/a x/b x/c node" PW_DESTS="x/d" verify "$T: d takes ingress from b alone" tcp:80 udp:80
ns_sysctl "$(pod_get x/d netns)" net/ipv4/ip_nonlocal_bind 1
[ "$PW_FAMILY" != dual ] || ns_sysctl "$(pod_get x/d netns)" net/ipv6/ip_nonlocal_bind 1
for src in $SRCS_B; do
	b0=$(arrived "$CNET" "$src" udp)
	forge x/d "$src"
	if [ "$(arrived "$CNET" "$src" udp)" = "$b0" ]; then
		pass "$T: d, bound as it appeared, cannot send as b$(which "$src")"
	else
		fail "$T: d sending as b$(which "$src") reached c"
	fi
done
stop_daemon

e2e_cleanup
check_no_leftovers
finish
