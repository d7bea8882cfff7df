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
