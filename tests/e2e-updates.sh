#!/bin/sh
# Updates over the previous state, on a node made of network namespaces: a
# policy changed, namespace labels changed, pod labels changed (peer side
# and subject side), a pod deleted and recreated with a new address (its old
# address taken by another pod), a Succeeded pod whose address is reused, a
# pod without an address yet, policies deleted. After every step the
# verdicts are probed, the kernel's filter table equals --dry-run and the
# kernel's sets hold what --dry-run=ipset says; with --once, a second run
# on the same input changes nothing, counters included.
#
# With PW_FAMILY=dual every pod has an IPv6 address too (tests/netns.sh),
# the verdicts are probed over both families, and the kernel's IPv6 filter
# table must equal --dry-run=ip6tables as well.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$srcdir/tests/netns.sh"
e2e_requirements "e2e-updates.sh"

begin=$(date +%s)
M="$PW_TMP/manifests"
mkdir "$M"
MODEL="$PW_TMP/model"
: >"$MODEL"
SPECS="tcp:80 udp:80"

# The cluster as lines of a model file:
#   ns NAME LABELS...            (LABELS: YAML flow entries "k: v, k: v")
#   pod NS NAME IP|- PHASE LABELS...
model_set() {
	case $1 in
	ns) key="ns $2" ;;
	*) key="pod $2 $3" ;;
	esac
	awk -v k="$key " 'index($0, k) != 1' "$MODEL" >"$MODEL.new"
	echo "$*" >>"$MODEL.new"
	mv "$MODEL.new" "$MODEL"
}

model_del_pod() {
	awk -v k="pod $1 $2 " 'index($0, k) != 1' "$MODEL" >"$MODEL.new"
	mv "$MODEL.new" "$MODEL"
}

write_cluster() {
	while read -r kind ns name ip phase labels; do
		case $kind in
		ns)
			# "ns NAME LABELS...": here $name starts the labels.
			printf "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: '%s'\n" "$ns"
			printf "  labels: {%s}\n---\n" "$name${ip:+ $ip}${phase:+ $phase}${labels:+ $labels}"
			;;
		pod)
			printf "apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: '%s'\n" "$name" "$ns"
			printf "  labels: {%s}\nspec:\n  nodeName: edge-1\n  containers:\n" "$labels"
			printf "  - name: cont-80-tcp\n    image: registry.example/agnhost:1\n"
			printf "    ports: [{name: serve-80-tcp, containerPort: 80, protocol: TCP}]\n"
			printf "  - name: cont-80-udp\n    image: registry.example/agnhost:1\n"
			printf "    ports: [{name: serve-80-udp, containerPort: 80, protocol: UDP}]\n"
			if [ "$ip" = - ]; then
				printf "status: {phase: %s}\n---\n" "$phase"
			elif [ "$PW_FAMILY" = dual ]; then
				printf "status: {phase: %s, podIP: %s, podIPs: [{ip: %s}, {ip: '%s'}]}\n---\n" \
					"$phase" "$ip" "$ip" "$(ip6_of "$ip")"
			else
				printf "status: {phase: %s, podIP: %s}\n---\n" "$phase" "$ip"
			fi
			;;
		esac
	done <"$MODEL" >"$M/00-cluster.yaml"
}

# np NS NAME: a NetworkPolicy whose spec (indented by two) is on stdin.
np() {
	{
		printf 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n'
		printf "metadata:\n  name: %s\n  namespace: '%s'\nspec:\n" "$2" "$1"
		cat
	} >"$M/p-$1-$2.yaml"
}

# What the kernel holds, against what --dry-run prints; with flannel, on
# both nodes.
check_truth() {
	node_truth "$1" "$PW_NODE" edge-1 "" || return 1
	[ -z "$PW_NODE2" ] || node_truth "$1" "$PW_NODE2" "$PW_NODE2_NAME" " on $PW_NODE2_NAME"
}

# node_truth NAME NETNS NODE-NAME WHERE
node_truth() {
	podwall_in "$2" --dry-run --node-name "$3" -f "$M" 2>"$PW_TMP/dry.err" |
		normalise_save >"$PW_TMP/dry.rules"
	node_filter_save "$2" | normalise_save >"$PW_TMP/kernel.rules"
	if ! diff -u "$PW_TMP/dry.rules" "$PW_TMP/kernel.rules" >"$PW_TMP/truth.diff"; then
		fail "$1: iptables-legacy-save -t filter$4 differs from --dry-run:"
		head -n 40 "$PW_TMP/truth.diff" >&2
		return 1
	fi
	if [ "$PW_FAMILY" = dual ]; then
		podwall_in "$2" --dry-run=ip6tables --node-name "$3" -f "$M" 2>"$PW_TMP/dry.err" |
			normalise_save >"$PW_TMP/dry.rules6"
		node_filter_save6 "$2" | normalise_save >"$PW_TMP/kernel.rules6"
		if ! diff -u "$PW_TMP/dry.rules6" "$PW_TMP/kernel.rules6" >"$PW_TMP/truth.diff"; then
			fail "$1: ip6tables-legacy-save -t filter$4 differs from --dry-run=ip6tables:"
			head -n 40 "$PW_TMP/truth.diff" >&2
			return 1
		fi
	fi
	podwall_in "$2" --dry-run=ipset --node-name "$3" -f "$M" 2>"$PW_TMP/dry.err" |
		awk '$1 == "create" { print "set", $2 } $1 == "add" { print $2, $3 }' | sort >"$PW_TMP/dry.sets"
	ip netns exec "$2" ipset save |
		awk '$1 == "create" { print "set", $2 } $1 == "add" { print $2, $3 }' | sort >"$PW_TMP/kernel.sets"
	if ! diff -u "$PW_TMP/dry.sets" "$PW_TMP/kernel.sets" >"$PW_TMP/truth.diff"; then
		fail "$1: the kernel's sets$4 differ from --dry-run=ipset:"
		head -n 40 "$PW_TMP/truth.diff" >&2
		return 1
	fi
	pass "$1: the kernel's filter table$([ "$PW_FAMILY" != dual ] || echo "s of both families") and sets$4 are what --dry-run prints"
}

# node_saves PREFIX: the rules with their counters and the sets, of both
# nodes with flannel, in PREFIX.rules and PREFIX.sets.
# With PW_FAMILY=dual, the IPv6 tables in PREFIX.rules6.
node_saves() {
	nx iptables-legacy-save -c | grep -v '^#' >"$1.rules"
	[ "$PW_FAMILY" != dual ] || nx ip6tables-legacy-save -c | grep -v '^#' >"$1.rules6"
	nx ipset save >"$1.sets"
	[ -n "$PW_NODE2" ] || return 0
	ip netns exec "$PW_NODE2" iptables-legacy-save -c | grep -v '^#' >>"$1.rules"
	[ "$PW_FAMILY" != dual ] ||
		ip netns exec "$PW_NODE2" ip6tables-legacy-save -c | grep -v '^#' >>"$1.rules6"
	ip netns exec "$PW_NODE2" ipset save >>"$1.sets"
}

# counters_grew BEFORE AFTER: the same rules in the same order, no counter
# gone back (a rewritten rule starts again at 0). The tables count what
# still flows meanwhile: neighbour discovery, a probe's late answer.
counters_grew() {
	awk '
		function parse(line, r) {
			r["c"] = ""; r["t"] = line
			if (match(line, /^\[[0-9]+:[0-9]+\]/)) {
				r["c"] = substr(line, 2, RLENGTH - 2); r["t"] = substr(line, RLENGTH + 1)
			} else if (match(line, / \[[0-9]+:[0-9]+\]$/)) {
				r["c"] = substr(line, RSTART + 2, RLENGTH - 3); r["t"] = substr(line, 1, RSTART - 1)
			}
		}
		NR == FNR { parse($0, p); t[FNR] = p["t"]; c[FNR] = p["c"]; n = FNR; next }
		{
			parse($0, p)
			if (FNR > n || p["t"] != t[FNR]) { bad = 1; exit }
			split(c[FNR], b, ":"); split(p["c"], a, ":")
			if (a[1] + 0 < b[1] + 0 || a[2] + 0 < b[2] + 0) { bad = 1; exit }
			m = FNR
		}
		END { exit bad || m != n }' "$1" "$2"
}

# With --once: the same input again changes nothing, and no counter goes
# back (iptables-save's dated comment lines aside): a rewritten rule would
# start again at 0, while a late answer to a probe may still count.
check_idempotent() {
	[ "$PW_APPLY" = once ] || return 0
	node_saves "$PW_TMP/before"
	if ! apply_manifests "$M" >"$PW_TMP/apply.out" 2>&1; then
		fail "$1: the second podwall --once failed: $(tail -n 5 "$PW_TMP/apply.out")"
		return 1
	fi
	node_saves "$PW_TMP/after"
	if ! counters_grew "$PW_TMP/before.rules" "$PW_TMP/after.rules"; then
		fail "$1: a second --once with the same input changed the rules (or a counter went back):"
		diff -u "$PW_TMP/before.rules" "$PW_TMP/after.rules" | head -n 40 >&2
	elif ! cmp -s "$PW_TMP/before.sets" "$PW_TMP/after.sets"; then
		fail "$1: a second --once with the same input changed the sets:"
		diff -u "$PW_TMP/before.sets" "$PW_TMP/after.sets" | head -n 40 >&2
	elif [ "$PW_FAMILY" = dual ] && ! counters_grew "$PW_TMP/before.rules6" "$PW_TMP/after.rules6"; then
		fail "$1: a second --once with the same input rewrote IPv6 rules (or a counter went back):"
		diff -u "$PW_TMP/before.rules6" "$PW_TMP/after.rules6" | head -n 40 >&2
	else
		pass "$1: a second --once leaves iptables-legacy-save -c$([ "$PW_FAMILY" != dual ] || echo ", ip6tables-legacy-save -c") (counters only grow) and ipset save unchanged"
	fi
}

# step NAME: apply the model and the policies, probe, check the kernel.
step() {
	write_cluster
	if ! apply_manifests "$M" >"$PW_TMP/apply.out" 2>&1; then
		fail "$1: podwall failed: $(tail -n 5 "$PW_TMP/apply.out")"
		return 1
	fi
	verify "$1" $SPECS
	check_truth "$1"
	check_idempotent "$1"
}

node_up || { fail "cannot build the node"; finish; }
model_set ns x "ns: 'x'"
model_set ns y "ns: 'y', team: red"
model_set pod x a 198.18.1.1 Running "pod: a"
model_set pod x b 198.18.1.2 Running "pod: b"
model_set pod y a 198.18.2.1 Running "pod: a"
pod_up x a 198.18.1.1 tcp:80,udp:80 &&
pod_up x b 198.18.1.2 tcp:80,udp:80 &&
pod_up y a 198.18.2.1 tcp:80,udp:80 || { fail "cannot build the pods"; finish; }

expect_reset
step "no policy"

np x guard <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector: {matchLabels: {pod: b}}
    ports:
    - {port: 80, protocol: TCP}
EOF
expect_ingress x/a false
expect_peer x/b x/a true tcp:80
step "policy created: x/a only from x/b on TCP 80"

np x guard <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: blue}}
EOF
expect_reset
expect_ingress x/a false
step "policy changed: x/a only from namespaces team=blue (none yet)"

model_set ns y "ns: 'y', team: blue"
expect_peer 'y/*' x/a true
step "namespace labels changed: y is team=blue, y reaches x/a"

model_set ns y "ns: 'y', team: red"
expect_reset
expect_ingress x/a false
step "namespace labels changed back: y is team=red again, nothing reaches x/a"

np x guard <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector: {matchLabels: {role: client}}
    ports:
    - {port: 80, protocol: TCP}
    - {port: 80, protocol: UDP}
EOF
step "policy changed again: x/a only from role=client (none yet)"

model_set pod x b 198.18.1.2 Running "pod: b, role: client"
expect_peer x/b x/a true
step "peer pod labels changed: x/b is role=client and reaches x/a"

np x db-no-egress <<'EOF'
  podSelector: {matchLabels: {role: db}}
  policyTypes: [Egress]
EOF
step "a policy for role=db pods, which no pod carries yet"

model_set pod x a 198.18.1.1 Running "pod: a, role: db"
expect_egress x/a false
step "subject pod labels changed: x/a is role=db, its egress is cut"

model_set pod x a 198.18.1.1 Running "pod: a"
expect_reset
expect_ingress x/a false
expect_peer x/b x/a true
step "subject pod labels changed back: x/a egress open again"

# x/b goes away; a new pod y/c gets x/b's old address: it must not inherit
# x/b's place in the allowed set.
model_del_pod x b
pod_down x/b
step "pod deleted: x/b is gone"

model_set pod y c 198.18.1.2 Running "pod: c"
pod_up y c 198.18.1.2 tcp:80,udp:80 || fail "cannot build pod y/c"
step "pod created with the deleted pod's address: y/c (198.18.1.2) does not reach x/a"

model_set pod x b 198.18.1.12 Running "pod: b, role: client"
pod_up x b 198.18.1.12 tcp:80,udp:80 || fail "cannot recreate pod x/b"
step "pod recreated with a new address: x/b (198.18.1.12) reaches x/a again"

# A Succeeded pod labelled role=client keeps its address, which a running
# pod y/d now has; a Pending pod has no address yet. Neither may open x/a.
model_set pod x finished 198.18.1.40 Succeeded "pod: finished, role: client"
model_set pod x pending - Pending "pod: pending, role: client"
model_set pod y d 198.18.1.40 Running "pod: d"
pod_up y d 198.18.1.40 tcp:80,udp:80 || fail "cannot build pod y/d"
step "a Succeeded pod's address reused by y/d, and a pod without an address: y/d does not reach x/a"

rm -f "$M"/p-*.yaml
expect_reset
step "policies deleted: everything reachable"

echo "note: e2e-updates.sh took $(($(date +%s) - begin)) s (PW_APPLY=$PW_APPLY)"
[ "$PW_APPLY" = once ] ||
	echo "note: PW_APPLY=$PW_APPLY: the second-run checks need --once and were not made"
e2e_cleanup
check_no_leftovers
finish
