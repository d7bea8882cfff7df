#!/bin/sh
# kube-proxy (iptables mode) beside podwall in the node namespace: a ClusterIP
# per pod and protocol, DNAT'ed to the pod in nat PREROUTING/OUTPUT, and
# kube-proxy's KUBE-FORWARD in filter. Checks: verdicts are the same through
# ClusterIPs as to pod addresses; podwall leaves every KUBE-* chain and jump
# as kube-proxy wrote it; podwall's jumps come first again after kube-proxy
# re-inserted its own at the top; and, with --once, kube-proxy's restores
# and podwall's runs racing each other all commit and lose nothing.
#
# With PW_FAMILY=dual kube-proxy has its rules in each family's tables, as
# its two proxiers write them: an IPv6 ClusterIP per pod and protocol
# (fd00:96::/112) DNAT'ed in ip6tables' nat table, its KUBE-FORWARD in
# ip6tables' filter table; every check covers both, and the verdicts are
# probed over both families to pod addresses and to ClusterIPs.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$srcdir/tests/netns.sh"
e2e_requirements "e2e-kube-proxy.sh"

begin=$(date +%s)
M="$PW_TMP/manifests"
mkdir "$M"
SPECS="tcp:80 udp:80"
PODS="x/a x/b y/a"

pod_ip() {
	case $1 in x/a) echo 198.18.1.1 ;; x/b) echo 198.18.1.2 ;; y/a) echo 198.18.2.1 ;; esac
}

pod_vip() {
	case $1 in x/a) echo 198.19.255.1 ;; x/b) echo 198.19.255.2 ;; y/a) echo 198.19.255.3 ;; esac
}

pod_ip6() {
	ip6_of "$(pod_ip "$1")"
}

pod_vip6() {
	case $1 in x/a) echo fd00:96::1 ;; x/b) echo fd00:96::2 ;; y/a) echo fd00:96::3 ;; esac
}

pod_status() {
	if [ "$PW_FAMILY" = dual ]; then
		echo "{phase: Running, podIP: $(pod_ip "$1"), podIPs: [{ip: $(pod_ip "$1")}, {ip: '$(pod_ip6 "$1")'}]}"
	else
		echo "{phase: Running, podIP: $(pod_ip "$1")}"
	fi
}

cluster_yaml() {
	for ns in x y; do
		printf "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: '%s'\n---\n" "$ns"
	done
	for key in $PODS; do
		printf "apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: '%s'\n" \
			"${key#*/}" "${key%/*}"
		printf "  labels: {pod: %s}\nspec:\n  nodeName: edge-1\n  containers:\n" "${key#*/}"
		printf "  - name: cont-80-tcp\n    image: registry.example/agnhost:1\n"
		printf "    ports: [{name: serve-80-tcp, containerPort: 80, protocol: TCP}]\n"
		printf "  - name: cont-80-udp\n    image: registry.example/agnhost:1\n"
		printf "    ports: [{name: serve-80-udp, containerPort: 80, protocol: UDP}]\n"
		printf "status: %s\n---\n" "$(pod_status "$key")"
	done
}

hash16() {
	printf '%s' "$1" | sha1sum | cut -c1-16 | tr 'a-f' 'A-F'
}

# kube_proxy_rules 4|6 first|resync: one proxier's rules for
# ip(6)tables-legacy-restore --noflush. The first sync inserts kube-proxy's
# jumps; a re-sync deletes them and inserts them again at the top, in the
# same commit, as a fresh kube-proxy would put them. IPv6 has no
# route_localnet, so its proxier has no localnet firewall.
kube_proxy_rules() {
	if [ "$1" = 4 ]; then
		_kp_tag="" _kp_len=32 _kp_cluster=198.18.0.0/16 _kp_suffix=""
		_kp_gone=198.19.255.200/32 _kp_reject=icmp-port-unreachable
	else
		_kp_tag=6 _kp_len=128 _kp_cluster=fd00:18::/64 _kp_suffix=-v6
		_kp_gone=fd00:96::c8/128 _kp_reject=icmp6-port-unreachable
	fi
	echo '*nat'
	echo ':KUBE-SERVICES - [0:0]'
	echo ':KUBE-POSTROUTING - [0:0]'
	echo ':KUBE-MARK-MASQ - [0:0]'
	for key in $PODS; do
		for proto in tcp udp; do
			echo ":KUBE-SVC-$(hash16 "svc$_kp_tag $key $proto") - [0:0]"
			echo ":KUBE-SEP-$(hash16 "sep$_kp_tag $key $proto") - [0:0]"
		done
	done
	if [ "$2" = resync ]; then
		echo '-D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES'
		echo '-D OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES'
		echo '-D POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING'
	fi
	echo '-I PREROUTING 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES'
	echo '-I OUTPUT 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES'
	echo '-I POSTROUTING 1 -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING'
	echo '-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000'
	echo '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN'
	echo '-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0'
	echo '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE'
	for key in $PODS; do
		for proto in tcp udp; do
			svc="KUBE-SVC-$(hash16 "svc$_kp_tag $key $proto")"
			sep="KUBE-SEP-$(hash16 "sep$_kp_tag $key $proto")"
			if [ "$1" = 4 ]; then
				vip=$(pod_vip "$key") ip=$(pod_ip "$key")
				to="$ip:80"
			else
				vip=$(pod_vip6 "$key") ip=$(pod_ip6 "$key")
				to="[$ip]:80"
			fi
			name="${key%/*}/s-${key%/*}-${key#*/}$_kp_suffix:$proto-80"
			echo "-A KUBE-SERVICES -d $vip/$_kp_len -p $proto -m comment --comment \"$name cluster IP\" -m $proto --dport 80 -j $svc"
			echo "-A $svc ! -s $_kp_cluster -d $vip/$_kp_len -p $proto -m comment --comment \"$name cluster IP\" -m $proto --dport 80 -j KUBE-MARK-MASQ"
			echo "-A $svc -m comment --comment \"$name -> $to\" -j $sep"
			echo "-A $sep -s $ip/$_kp_len -m comment --comment \"$name\" -j KUBE-MARK-MASQ"
			echo "-A $sep -p $proto -m comment --comment \"$name\" -m $proto -j DNAT --to-destination $to"
		done
	done
	echo 'COMMIT'
	echo '*filter'
	echo ':KUBE-FORWARD - [0:0]'
	echo ':KUBE-SERVICES - [0:0]'
	[ "$1" = 6 ] || echo ':KUBE-FIREWALL - [0:0]'
	if [ "$2" = resync ]; then
		[ "$1" = 6 ] || echo '-D INPUT -j KUBE-FIREWALL'
		echo '-D FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD'
		echo '-D FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES'
		echo '-D OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES'
		[ "$1" = 6 ] || echo '-D OUTPUT -j KUBE-FIREWALL'
	fi
	[ "$1" = 6 ] || echo '-I INPUT 1 -j KUBE-FIREWALL'
	echo '-I FORWARD 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES'
	echo '-I FORWARD 1 -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD'
	echo '-I OUTPUT 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES'
	[ "$1" = 6 ] || echo '-I OUTPUT 1 -j KUBE-FIREWALL'
	[ "$1" = 6 ] || echo '-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP'
	echo '-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP'
	echo '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT'
	echo '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT'
	echo "-A KUBE-SERVICES -d $_kp_gone -p tcp -m comment --comment \"x/s-gone$_kp_suffix:tcp-80 has no endpoints\" -m tcp --dport 80 -j REJECT --reject-with $_kp_reject"
	echo 'COMMIT'
}

# kube_proxy_sync first|resync: both proxiers' restores with
# PW_FAMILY=dual, the IPv4 one alone otherwise.
kube_proxy_sync() {
	kube_proxy_rules 4 "$1" >"$PW_TMP/kube-proxy.$1"
	nx iptables-legacy-restore --noflush -w 30 <"$PW_TMP/kube-proxy.$1" || return 1
	[ "$PW_FAMILY" = dual ] || return 0
	kube_proxy_rules 6 "$1" >"$PW_TMP/kube-proxy6.$1"
	nx ip6tables-legacy-restore --noflush -w 30 <"$PW_TMP/kube-proxy6.$1"
}

# kube-proxy's part of the tables: its chains, its rules and its jumps, in
# order, counters zeroed (with PW_FAMILY=dual, the IPv6 tables after).
kube_state() {
	for table in nat filter; do
		echo "*$table"
		nx iptables-legacy-save -t $table | normalise_save |
			grep -E '^:KUBE-|^-A KUBE-|^-A [A-Z]+ .*-j KUBE-'
	done
	[ "$PW_FAMILY" = dual ] || return 0
	for table in nat filter; do
		echo "*$table (IPv6)"
		nx ip6tables-legacy-save -t $table | normalise_save |
			grep -E '^:KUBE-|^-A KUBE-|^-A [A-Z]+ .*-j KUBE-'
	done
}

# podwall's part: its chains and rules, without the jumps in the built-in
# chains (their place is checked on its own).
podwall_state() {
	grep -E '^:pw-|^-A pw-' | normalise_save
}

check_kube_state() {
	kube_state >"$PW_TMP/kube.now"
	if diff -u "$PW_TMP/kube.pristine" "$PW_TMP/kube.now" >"$PW_TMP/kube.diff"; then
		pass "$1: kube-proxy's chains, rules and jumps are as kube-proxy wrote them"
	else
		fail "$1: kube-proxy's part of the tables changed:"
		head -n 40 "$PW_TMP/kube.diff" >&2
	fi
}

# check_first NAME CHAIN TARGET: the first rule of CHAIN jumps to TARGET
# (with PW_FAMILY=dual, in ip6tables as well).
check_first() {
	first=$(nx iptables-legacy -w -t filter -S "$2" | sed -n 2p)
	case $first in
	*"-j $3") pass "$1: $3 is first in $2" ;;
	*) fail "$1: the first rule of $2 is '$first', not the jump to $3" ;;
	esac
	[ "$PW_FAMILY" = dual ] || return 0
	first=$(nx ip6tables-legacy -w -t filter -S "$2" | sed -n 2p)
	case $first in
	*"-j $3") pass "$1: $3 is first in ip6tables' $2" ;;
	*) fail "$1: the first rule of ip6tables' $2 is '$first', not the jump to $3" ;;
	esac
}

# np NS NAME: a NetworkPolicy whose spec (indented by two) is on stdin.
np() {
	{
		printf 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n'
		printf "metadata:\n  name: %s\n  namespace: '%s'\nspec:\n" "$2" "$1"
		cat
	} >"$M/p-$1-$2.yaml"
}

# Two policy sets and their truth tables.
policies_a() {
	rm -f "$M"/p-*.yaml
	np x a-from-b <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector: {matchLabels: {pod: b}}
    ports:
    - {port: 80, protocol: TCP}
EOF
	expect_reset
	expect_ingress x/a false
	expect_peer x/b x/a true tcp:80
}

policies_b() {
	rm -f "$M"/p-*.yaml
	np x b-no-egress <<'EOF'
  podSelector: {matchLabels: {pod: b}}
  policyTypes: [Egress]
EOF
	np y a-from-x <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: 'x'}}
EOF
	expect_reset
	expect_egress x/b false
	expect_ingress y/a false
	expect_peer x/a y/a true
}

apply_or_fail() {
	if apply_manifests "$M" >"$PW_TMP/apply.out" 2>&1; then
		return 0
	fi
	fail "$1: podwall failed: $(tail -n 5 "$PW_TMP/apply.out")"
	return 1
}

# verify_both NAME: the verdicts to pod addresses and to ClusterIPs.
verify_both() {
	verify "$1: to pod addresses" $SPECS
	PW_VIA=vip
	verify "$1: to ClusterIPs" $SPECS
	PW_VIA=""
}

node_up || { fail "cannot build the node"; finish; }
for key in $PODS; do
	pod_up "${key%/*}" "${key#*/}" "$(pod_ip "$key")" tcp:80,udp:80 &&
		pod_set_vip "$key" "$(pod_vip "$key")" || { fail "cannot build pod $key"; finish; }
	[ "$PW_FAMILY" != dual ] || pod_set_vip6 "$key" "$(pod_vip6 "$key")"
done
cluster_yaml >"$M/00-cluster.yaml"

if ! kube_proxy_sync first 2>"$PW_TMP/err"; then
	echo "SKIP: e2e-kube-proxy.sh: kube-proxy's rules do not load here: $(cat "$PW_TMP/err")"
	exit 77
fi
kube_state >"$PW_TMP/kube.pristine"

expect_reset
verify_both "kube-proxy alone, no podwall"

policies_a
apply_or_fail "policy set A" &&
verify_both "policy set A"
check_kube_state "after podwall (set A)"
check_first "after podwall (set A)" FORWARD pw-FORWARD
check_first "after podwall (set A)" INPUT pw-INPUT
check_first "after podwall (set A)" OUTPUT pw-OUTPUT

if kube_proxy_sync resync 2>"$PW_TMP/err"; then
	pass "kube-proxy re-sync after podwall: its jumps were all there and moved to the top"
else
	fail "kube-proxy re-sync after podwall failed (a jump of kube-proxy's missing?): $(cat "$PW_TMP/err")"
fi
check_first "after the kube-proxy re-sync" FORWARD KUBE-FORWARD
check_kube_state "after the kube-proxy re-sync"
verify_both "policy set A, kube-proxy's jumps above podwall's"

policies_b
apply_or_fail "policy set B" &&
verify_both "policy set B"
check_kube_state "after podwall again (set B)"
check_first "after podwall again (set B)" FORWARD pw-FORWARD
check_first "after podwall again (set B)" INPUT pw-INPUT
check_first "after podwall again (set B)" OUTPUT pw-OUTPUT

# ---- racing: kube-proxy restores against podwall --once runs ----
if [ "$PW_APPLY" != once ]; then
	echo "note: PW_APPLY=$PW_APPLY: the race between kube-proxy and podwall --once is not run"
else
	kube_proxy_rules 4 resync >"$PW_TMP/kube-proxy.resync"
	[ "$PW_FAMILY" != dual ] || kube_proxy_rules 6 resync >"$PW_TMP/kube-proxy6.resync"
	: >"$PW_TMP/race.kp"
	echo 0 >"$PW_TMP/race.progress"
	(
		i=0
		while [ $i -lt 200 ]; do
			if ! nx timeout 30 iptables-legacy-restore --noflush -w 30 \
				<"$PW_TMP/kube-proxy.resync" 2>"$PW_TMP/race.kp.err"; then
				echo "restore $i failed: $(head -c 300 "$PW_TMP/race.kp.err")" >>"$PW_TMP/race.kp"
			fi
			if [ "$PW_FAMILY" = dual ] && ! nx timeout 30 ip6tables-legacy-restore --noflush -w 30 \
				<"$PW_TMP/kube-proxy6.resync" 2>"$PW_TMP/race.kp.err"; then
				echo "IPv6 restore $i failed: $(head -c 300 "$PW_TMP/race.kp.err")" >>"$PW_TMP/race.kp"
			fi
			i=$((i + 1))
			echo $i >"$PW_TMP/race.progress.new"
			mv "$PW_TMP/race.progress.new" "$PW_TMP/race.progress"
		done
		echo done >>"$PW_TMP/race.kp"
	) &
	loop=$!
	bg_track $loop
	runs=0 failed=0
	# Let the loop get going, so that the runs overlap its restores.
	t=0
	while [ "$(cat "$PW_TMP/race.progress")" -lt 5 ] && [ $t -lt 100 ]; do
		sleep 0.05
		t=$((t + 1))
	done
	from=$(cat "$PW_TMP/race.progress")
	while [ $runs -lt 20 ]; do
		if [ $((runs % 2)) = 0 ]; then policies_a; else policies_b; fi
		if ! apply_manifests "$M" >"$PW_TMP/apply.out" 2>&1; then
			failed=$((failed + 1))
			echo "    podwall run $runs: $(tail -n 3 "$PW_TMP/apply.out")" >>"$PW_TMP/race.pw"
		fi
		runs=$((runs + 1))
	done
	to=$(cat "$PW_TMP/race.progress")
	wait $loop
	echo "note: race: kube-proxy restores $from to $to of 200 ran during the 20 podwall runs"
	[ "$to" -lt 200 ] ||
		echo "note: race: the kube-proxy loop ended before the last podwall run: a weaker race"
	if [ $failed = 0 ]; then
		pass "race: 20 podwall --once runs beside 200 kube-proxy restores all exited 0"
	else
		fail "race: $failed of 20 podwall runs failed:"
		cat "$PW_TMP/race.pw" >&2
	fi
	if [ "$(cat "$PW_TMP/race.kp")" = done ]; then
		pass "race: the 200 kube-proxy restores all committed"
	else
		fail "race: kube-proxy restores failed or did not finish:"
		head -n 10 "$PW_TMP/race.kp" >&2
	fi
	# The last podwall run applied set B (run 19).
	check_kube_state "after the race"
	podwall_in "$PW_NODE" --dry-run --node-name edge-1 -f "$M" | podwall_state >"$PW_TMP/pw.want"
	nx iptables-legacy-save -t filter | podwall_state >"$PW_TMP/pw.now"
	if diff -u "$PW_TMP/pw.want" "$PW_TMP/pw.now" >"$PW_TMP/pw.diff"; then
		pass "after the race: podwall's chains are what --dry-run prints for its last input"
	else
		fail "after the race: podwall's chains differ from --dry-run:"
		head -n 40 "$PW_TMP/pw.diff" >&2
	fi
	for chain in INPUT FORWARD OUTPUT; do
		n=$(nx iptables-legacy -w -t filter -S $chain | grep -c -- "-j pw-$chain\$")
		[ "$n" = 1 ] || fail "after the race: $n jumps to pw-$chain in $chain"
	done
	if [ "$PW_FAMILY" = dual ]; then
		podwall_in "$PW_NODE" --dry-run=ip6tables --node-name edge-1 -f "$M" |
			podwall_state >"$PW_TMP/pw6.want"
		nx ip6tables-legacy-save -t filter | podwall_state >"$PW_TMP/pw6.now"
		if diff -u "$PW_TMP/pw6.want" "$PW_TMP/pw6.now" >"$PW_TMP/pw.diff"; then
			pass "after the race: podwall's IPv6 chains are what --dry-run=ip6tables prints for its last input"
		else
			fail "after the race: podwall's IPv6 chains differ from --dry-run=ip6tables:"
			head -n 40 "$PW_TMP/pw.diff" >&2
		fi
		for chain in INPUT FORWARD OUTPUT; do
			n=$(nx ip6tables-legacy -w -t filter -S $chain | grep -c -- "-j pw-$chain\$")
			[ "$n" = 1 ] || fail "after the race: $n jumps to pw-$chain in ip6tables' $chain"
		done
	fi
	verify_both "after the race (policy set B)"
fi

echo "note: e2e-kube-proxy.sh took $(($(date +%s) - begin)) s (PW_APPLY=$PW_APPLY)"
e2e_cleanup
check_no_leftovers
finish
