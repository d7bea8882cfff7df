#!/bin/sh
# The dry-run output is accepted as it is by ipset restore and
# iptables-legacy-restore, and iptables-legacy-save gives it back unchanged.
# Everything happens in a network namespace made for the test.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
skip_unless_root "restore.sh"
for tool in ipset iptables-legacy-restore iptables-legacy-save; do
	command -v $tool >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done

out=$(mktemp -d)
trap 'rm -rf "$out"; netns_cleanup' EXIT

for dir in "$srcdir"/examples/*/; do
	name=$(basename "$dir")
	ns="pwtest-restore-$$"
	netns_add "$ns" || { fail "cannot create netns $ns"; continue; }
	"$PODWALL" --dry-run=ipset --node-name edge-1 -f "$dir" >"$out/sets"
	"$PODWALL" --dry-run --node-name edge-1 -f "$dir" >"$out/rules"
	if ! ip netns exec "$ns" ipset restore <"$out/sets" 2>"$out/err"; then
		fail "$name: ipset restore refused the sets: $(cat "$out/err")"
	elif ! ip netns exec "$ns" iptables-legacy-restore <"$out/rules" 2>"$out/err"; then
		fail "$name: iptables-legacy-restore refused the rules: $(cat "$out/err")"
	else
		ip netns exec "$ns" iptables-legacy-save -t filter | normalise_save >"$out/saved"
		normalise_save <"$out/rules" >"$out/expected"
		if diff -u "$out/expected" "$out/saved"; then
			pass "$name: restored and saved back unchanged"
		else
			fail "$name: iptables-legacy-save differs from the dry-run"
		fi
	fi
	netns_cleanup
done
finish
