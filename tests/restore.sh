#!/bin/sh
# The dry-run output is accepted as it is by ipset restore,
# iptables-legacy-restore and ip6tables-legacy-restore, and their save
# commands give it back unchanged (the Calico layout, whatever this host
# holds: --endpoint-discovery=calico).
# Everything happens in a network namespace made for the test.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
skip_unless_root "restore.sh"
for tool in ipset iptables-legacy-restore iptables-legacy-save ip6tables-legacy-restore \
	    ip6tables-legacy-save; do
	command -v $tool >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done

out=$(mktemp -d)
trap 'rm -rf "$out"; netns_cleanup' EXIT

# Each example as it is, then with every isolated pod's denied packets
# logged (--deny-log=all: the limit match and the NFLOG target), and the
# deny-log test cluster with its long, cut prefix.
for run in $(cd "$srcdir" && ls -d examples/*/ tests/deny-log/ | sed 's|/$||'); do
	for mode in namespaces all; do
		dir="$srcdir/$run"
		name="$(basename "$run") (--deny-log=$mode)"
		[ "$mode" = namespaces ] && name=$(basename "$run")
		ns="pwtest-restore-$$"
		netns_add "$ns" || { fail "cannot create netns $ns"; continue; }
		for what in ipset iptables ip6tables; do
			"$PODWALL" --endpoint-discovery=calico --dry-run=$what --node-name edge-1 \
				--deny-log=$mode -f "$dir" >"$out/$what" 2>/dev/null
		done
		if ! ip netns exec "$ns" ipset restore <"$out/ipset" 2>"$out/err"; then
			fail "$name: ipset restore refused the sets: $(cat "$out/err")"
		else
			for t in iptables ip6tables; do
				if ! ip netns exec "$ns" $t-legacy-restore <"$out/$t" 2>"$out/err"; then
					fail "$name: $t-legacy-restore refused the rules: $(cat "$out/err")"
					continue
				fi
				ip netns exec "$ns" $t-legacy-save -t filter | normalise_save >"$out/saved"
				normalise_save <"$out/$t" >"$out/expected"
				if diff -u "$out/expected" "$out/saved"; then
					pass "$name: $t: restored and saved back unchanged"
				else
					fail "$name: $t-legacy-save differs from the dry-run"
				fi
			done
		fi
		netns_cleanup
	done
done
finish
