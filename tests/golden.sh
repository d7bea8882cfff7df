#!/bin/sh
# The dry-run of each bundled example against its golden output (checked by
# hand once), byte for byte and twice over; every bad manifest refused with a
# clear message; the public reference manifests load. The goldens are the
# Calico layout (--endpoint-discovery=calico), whatever this host's routes
# and bridges hold.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
PODWALL_DRY="$PODWALL --endpoint-discovery=calico"

out=$(mktemp -d)
trap 'rm -rf "$out"; netns_cleanup' EXIT

for dir in "$srcdir"/examples/*/; do
	name=$(basename "$dir")
	for what in iptables ip6tables ipset; do
		golden="$srcdir/tests/golden/$name.$what"
		$PODWALL_DRY --dry-run=$what --node-name edge-1 -f "$dir" >"$out/$name.$what" 2>"$out/err" ||
			{ fail "$name: dry-run=$what exited $?: $(cat "$out/err")"; continue; }
		$PODWALL_DRY --dry-run=$what --node-name edge-1 -f "$dir" >"$out/$name.$what.2" 2>/dev/null
		cmp -s "$out/$name.$what" "$out/$name.$what.2" ||
			fail "$name: two dry-runs of the same input differ"
		if [ -n "${PW_UPDATE_GOLDEN:-}" ]; then
			cp "$out/$name.$what" "$golden"
		elif diff -u "$golden" "$out/$name.$what"; then
			pass "$name: dry-run=$what matches $golden"
		else
			fail "$name: dry-run=$what differs from $golden"
		fi
	done
done

# Deny logging: the annotated namespace's pods get the NFLOG rule before
# their final drop (golden), --deny-log=all every isolated pod, =off none;
# the drop itself is the same line whichever the mode.
deny="$srcdir/tests/deny-log"
for what in iptables ip6tables; do
	$PODWALL_DRY --dry-run=$what --node-name edge-1 -f "$deny" >"$out/deny.$what" 2>"$out/err" ||
		fail "deny-log: dry-run=$what exited $?: $(cat "$out/err")"
	if [ -n "${PW_UPDATE_GOLDEN:-}" ]; then
		cp "$out/deny.$what" "$srcdir/tests/golden/deny-log.$what"
	elif diff -u "$srcdir/tests/golden/deny-log.$what" "$out/deny.$what"; then
		pass "deny-log: dry-run=$what matches tests/golden/deny-log.$what"
	else
		fail "deny-log: dry-run=$what differs from tests/golden/deny-log.$what"
	fi
done
$PODWALL_DRY --dry-run --node-name edge-1 --deny-log=all -f "$deny" >"$out/deny.all" 2>"$out/err" &&
$PODWALL_DRY --dry-run --node-name edge-1 --deny-log=off -f "$deny" >"$out/deny.off" 2>>"$out/err" ||
	fail "deny-log: all/off: $(cat "$out/err")"
logs_all=$(grep -c -- '-j NFLOG --nflog-prefix "pw-deny ' "$out/deny.all")
if [ "$logs_all" = 8 ] && ! grep -q NFLOG "$out/deny.off" &&
   grep -v NFLOG "$out/deny.iptables" | cmp -s - "$out/deny.off" &&
   grep -v NFLOG "$out/deny.all" | cmp -s - "$out/deny.off"; then
	pass "deny-log: all logs 4 pods both ways, off none, and nothing else differs"
else
	fail "deny-log: all gave $logs_all NFLOG rules (want 8), or off/all differ beyond them"
fi
for dir in "$srcdir"/examples/*/; do
	name=$(basename "$dir")
	$PODWALL_DRY --dry-run --node-name edge-1 --deny-log=off -f "$dir" 2>/dev/null |
		cmp -s - "$srcdir/tests/golden/$name.iptables" ||
		fail "$name: --deny-log=off differs from the golden file"
done

for bad in "$srcdir"/tests/bad/*.yaml; do
	[ -e "$bad" ] || continue
	if "$PODWALL" --dry-run --node-name edge-1 -f "$bad" >"$out/stdout" 2>"$out/stderr"; then
		fail "$(basename "$bad"): accepted"
	elif [ -s "$out/stdout" ]; then
		fail "$(basename "$bad"): printed rules despite the error"
	elif ! grep -q "$(basename "$bad")" "$out/stderr"; then
		fail "$(basename "$bad"): the error does not name the file: $(cat "$out/stderr")"
	else
		pass "$(basename "$bad"): refused: $(grep -m1 'document\|line' "$out/stderr")"
	fi
done

# A cluster with no pod and no policy: hooks and empty dispatch, no set.
printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: lonely}\n' >"$out/lonely.yaml"
if $PODWALL_DRY --dry-run=ipset --node-name edge-1 -f "$out/lonely.yaml" >"$out/sets" &&
   [ ! -s "$out/sets" ] &&
   $PODWALL_DRY --dry-run --node-name edge-1 -f "$out/lonely.yaml" >"$out/rules" &&
   grep -q '^-A pw-to-wl-dispatch -o cali+ -m comment --comment "unknown interface" -j DROP$' "$out/rules"; then
	pass "no pods: no sets, and unknown interfaces still dropped"
else
	fail "no pods: unexpected output"
fi

# podwall matrix of each example against its golden grid (checked by hand
# against the policies, as README "What may reach what" walks through for
# stars), and the same as CSV and JSON; explain's exit status says the
# verdict.
for dir in "$srcdir"/examples/*/; do
	name=$(basename "$dir")
	golden="$srcdir/tests/golden/$name.matrix"
	"$PODWALL" matrix -f "$dir" >"$out/$name.matrix" 2>"$out/err" ||
		{ fail "$name: matrix exited $?: $(cat "$out/err")"; continue; }
	if [ -n "${PW_UPDATE_GOLDEN:-}" ]; then
		cp "$out/$name.matrix" "$golden"
	elif diff -u "$golden" "$out/$name.matrix"; then
		pass "$name: matrix matches $golden"
	else
		fail "$name: matrix differs from $golden"
	fi
	# Every cell of the grid is one line of the CSV, the pod itself aside.
	"$PODWALL" matrix -f "$dir" --format csv >"$out/$name.csv" &&
	"$PODWALL" matrix -f "$dir" --format json >"$out/$name.json" &&
	python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$out/$name.json" ||
		fail "$name: matrix --format csv or json failed"
	grid=$(awk 'NF && !/^ / && !/^([0-9]+\/[A-Z]+|ICMP)$/ { for (i = 2; i <= NF; i++) if ($i != "#") n++ } END { print n + 0 }' \
		"$out/$name.matrix")
	csv=$(($(wc -l <"$out/$name.csv") - 1))
	json=$(grep -c '"verdict"' "$out/$name.json")
	if [ "$grid" = "$csv" ] && [ "$csv" = "$json" ]; then
		pass "$name: matrix grid, CSV and JSON hold the same $csv cells"
	else
		fail "$name: $grid grid cells, $csv CSV lines, $json JSON cells"
	fi
done
stars="$srcdir/examples/stars"
"$PODWALL" explain -f "$stars" --from stars/frontend --to stars/backend --port 6379/TCP \
	>"$out/explain" 2>&1
rc=$?
if [ "$rc" = 0 ] && grep -q 'ALLOWED$' "$out/explain" &&
   grep -q 'allowed by stars/backend-policy ingress\[0\]: from\[0\] podSelector {role in (frontend)}, ports 6379/TCP' "$out/explain"; then
	pass "explain: frontend reaches backend on 6379, by backend-policy's ingress[0]"
else
	fail "explain frontend -> backend: exit $rc: $(cat "$out/explain")"
fi
"$PODWALL" explain -f "$stars" client/client stars/backend 6379/TCP >"$out/explain" 2>&1
rc=$?
if [ "$rc" = 1 ] && grep -q 'DENIED$' "$out/explain" &&
   grep -q 'denied: no policy allowed the packet' "$out/explain"; then
	pass "explain: client does not reach backend (exit 1)"
else
	fail "explain client -> backend: exit $rc: $(cat "$out/explain")"
fi
# An address no pod has is outside the cluster; frontend admits only the client namespace.
"$PODWALL" explain -f "$stars" 192.0.2.1 stars/frontend 80 >"$out/explain" 2>&1
rc=$?
if [ "$rc" = 1 ] && grep -q 'outside the cluster' "$out/explain"; then
	pass "explain: an address outside the cluster is refused by frontend"
else
	fail "explain 192.0.2.1 -> frontend: exit $rc: $(cat "$out/explain")"
fi

# Bad input: exit 2 and a message that names what was wrong.
bad_query() {
	_bq_want=$1
	shift
	"$PODWALL" "$@" >"$out/stdout" 2>"$out/stderr"
	_bq_rc=$?
	if [ "$_bq_rc" = 2 ] && grep -q -- "$_bq_want" "$out/stderr" && [ ! -s "$out/stdout" ]; then
		pass "podwall $1: bad input refused: $(head -n 1 "$out/stderr")"
	else
		fail "podwall $*: exit $_bq_rc (want 2, \"$_bq_want\"): $(cat "$out/stderr")"
	fi
}
bad_query "no namespace nowhere" explain -f "$stars" nowhere/pod stars/backend 80/TCP
bad_query "no pod ghost in namespace stars" explain -f "$stars" client/client stars/ghost 80
bad_query "expected PORT" explain -f "$stars" client/client stars/backend 80/ICMPX
bad_query "expected PORT" explain -f "$stars" client/client stars/backend 0
bad_query "expected PORT" matrix -f "$stars" --port 70000/TCP
bad_query "expected NAMESPACE/POD" explain -f "$stars" client stars/backend 80
bad_query "needs --from" explain -f "$stars" --from client/client --port 80
bad_query "either as -f PATH or as --kubeconfig" matrix
bad_query "expected text, json or csv" matrix -f "$stars" --format yaml
bad_query "error" matrix -f "$srcdir/tests/bad"
printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: lonely}\n' >"$out/lonely.yaml"
bad_query "no pod declares a container port" matrix -f "$out/lonely.yaml"
printf 'apiVersion: v1\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]\n%s\n%s\n%s\n' \
	'contexts: [{name: c, context: {cluster: c, user: u}}]' 'current-context: c' \
	'users: [{name: u, user: {token: t}}]' >"$out/kubeconfig"
bad_query "API server" matrix --kubeconfig "$out/kubeconfig"
for cmd in explain matrix; do
	if "$PODWALL" $cmd --help | grep -q "^Usage: podwall $cmd"; then
		pass "podwall $cmd --help"
	else
		fail "podwall $cmd --help"
	fi
done

# Binary garbage must be refused, not crash or hang.
head -c 65536 /dev/urandom >"$out/garbage.yaml"
timeout 10 "$PODWALL" --dry-run --node-name edge-1 -f "$out/garbage.yaml" >/dev/null 2>"$out/stderr"
rc=$?
if [ "$rc" = 1 ] && grep -q garbage.yaml "$out/stderr"; then
	pass "binary garbage refused"
else
	fail "binary garbage: exit $rc: $(head -c 300 "$out/stderr")"
fi

# Public manifests from shared/reference, when it stands beside the tree.
# Whole manifests load; the recipes' fragments (no kind) must be refused.
reference="$srcdir/../shared/reference"
if [ -d "$reference" ]; then
	before=$failures
	for file in "$reference"/calico-demos/*/*.yaml "$reference"/calico-demos/stars/*/*.yaml \
		    "$reference"/np-recipes/*.yaml; do
		[ -e "$file" ] || continue
		"$PODWALL" --dry-run --node-name edge-1 -f "$file" >/dev/null 2>"$out/stderr"
		rc=$?
		if grep -q '^kind:' "$file"; then
			[ "$rc" = 0 ] || fail "reference $file: $(cat "$out/stderr")"
		elif [ "$rc" = 0 ] || ! grep -q 'kind: required' "$out/stderr"; then
			fail "reference fragment $file: exit $rc: $(cat "$out/stderr")"
		fi
	done
	[ "$failures" = "$before" ] &&
		pass "reference manifests: whole ones load, fragments are refused"
else
	echo "note: no shared/reference beside the tree; reference manifests not loaded"
fi

finish
