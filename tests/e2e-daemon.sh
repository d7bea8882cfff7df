#!/bin/sh
# The daemon against the fake API server, on a node made of network
# namespaces: pods and policies changed through the API, real packets
# probed, and after each injected fault (ERROR 410, compaction, a dropped
# or stalled stream, 429/500, an expired continue token, a rotated token)
# the kernel converges to what --dry-run says of the server's objects.
# Then SIGHUP, SIGTERM (the rules stay) and a restart that adopts them.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$srcdir/tests/netns.sh"
e2e_requirements "e2e-daemon.sh"
. "$srcdir/tests/apiserver.sh"
apiserver_requirements "e2e-daemon.sh"

node_up || { fail "node_up"; finish; }
pod_up x a 198.18.40.1 tcp:80,udp:80
pod_up x b 198.18.40.2 tcp:80,udp:80
pod_up y a 198.18.41.1 tcp:80,udp:80

# A pod's label change adds one member per address: with PW_FAMILY=dual
# its IPv4 and its IPv6 one.
NFAM=1
[ "$PW_FAMILY" != dual ] || NFAM=2

# The fake server lives in the node namespace, on its loopback; it cuts
# its chunks anywhere, also inside an event.
apiserver_up --split-chunks || { fail "apiserver_up"; finish; }

remote_pod() {	# remote_pod NS NAME IP LABELS-JSON: a pod on node edge-2
	cat >"$PW_TMP/Pod-$1-$2.json" <<EOT
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"$2","namespace":"$1","labels":$4},
 "spec":{"nodeName":"edge-2","containers":[{"name":"c","image":"registry.example/agnhost:1",
  "ports":[{"name":"serve-80-tcp","containerPort":80,"protocol":"TCP"}]}]},
 "status":{"phase":"Running",$(pod_ips_json "$3")}}
EOT
	put "$PW_TMP/Pod-$1-$2.json"
}

# ------------------------------------------------------------- the steps
namespace x '{"team":"red"}'
namespace y '{"team":"blue"}'
pod x a 198.18.40.1 '{"pod":"a"}'
pod x b 198.18.40.2 '{"pod":"b"}'
pod y a 198.18.41.1 '{"pod":"a"}'
# The daemon's log from line $1 on: resyncs and watch restarts come between
# the applies, the more the longer a verify takes.
since() {
	sed -n "$(($1 + 1)),\$p" "$LOG"
}

start_daemon --watch-stall-timeout 2 --resync-interval 5
converge "initial list" && { expect_reset; expect_all true; verify "no policy: all open" tcp:80 udp:80; }

policy x deny '{"podSelector":{}}'
converge "default-deny in x" &&
	{ expect_reset; expect_all true; expect_ingress x/a false; expect_ingress x/b false
	  verify "default-deny in x" tcp:80; }

policy x from-friends '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"role":"friend"}}}]}]}'
converge "x/a admits role=friend (nobody yet)"
commits_before=$(grep -c '; committed$' "$LOG") lines_before=$(grep -c '' "$LOG")
pod x b 198.18.40.2 '{"pod":"b","role":"friend"}'
converge "x/b labelled role=friend" &&
	{ expect_reset; expect_all true; expect_ingress x/a false; expect_ingress x/b false
	  expect_peer x/b x/a true; verify "x/b reaches x/a after its label changed" tcp:80; }
sleep 0.2
if [ "$(grep -c '; committed$' "$LOG")" = "$commits_before" ] &&
   since "$lines_before" | grep -q "$NFAM members added"; then
	pass "a label change became one ipset addition (per address) and no iptables commit"
else
	fail "a label change cost an iptables commit: $(since "$lines_before")"
fi

# A pod of another node changes only set members: its label change must go
# out as one ipset addition, without a compile of the chains or a commit.
remote_pod_up z r 198.19.43.1 tcp:80 || fail "remote_pod_up z/r"
namespace z '{}'
policy x from-friends-anywhere '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{},"podSelector":{"matchLabels":{"role":"friend"}}}]}]}'
remote_pod z r 198.19.43.1 '{"pod":"r"}'
converge "z/r on another node, not a friend" &&
	{ expect_reset; expect_all true; expect_ingress x/a false; expect_ingress x/b false
	  expect_peer x/b x/a true; verify "z/r (another node) is kept out of x/a" tcp:80; }
commits_before=$(grep -c '; committed$' "$LOG") lines_before=$(grep -c '' "$LOG")
remote_pod z r 198.19.43.1 '{"pod":"r","role":"friend"}'
converge "z/r labelled role=friend" &&
	{ expect_reset; expect_all true; expect_ingress x/a false; expect_ingress x/b false
	  expect_peer x/b x/a true; expect_peer z/r x/a true
	  verify "z/r reaches x/a after its label changed" tcp:80; }
# One list from the server gives podwall matrix what -f of the server's
# objects gives it, the other node's pod z/r included.
if (cd "$PW_TMP" && nx "$PODWALL" matrix --kubeconfig kubeconfig --node-name edge-1 \
	--format csv --port 80/TCP >"$PW_TMP/api.csv" 2>"$PW_TMP/api.err") &&
   "$PODWALL" matrix -f "$M" --node-name edge-1 --format csv --port 80/TCP >"$PW_TMP/files.csv" &&
   cmp -s "$PW_TMP/api.csv" "$PW_TMP/files.csv" && grep -q '^z/r,x/a,80/TCP,allowed$' "$PW_TMP/api.csv"; then
	pass "podwall matrix --kubeconfig: the server's list gives the matrix -f of its objects gives"
else
	fail "podwall matrix --kubeconfig: $(cat "$PW_TMP/api.err"; diff "$PW_TMP/files.csv" "$PW_TMP/api.csv")"
fi
sleep 0.2
if [ "$(grep -c '; committed$' "$LOG")" = "$commits_before" ] &&
   since "$lines_before" | grep -q "(set members only, .* $NFAM members added"; then
	pass "another node's pod relabelled: one ipset addition (per address), no chain compiled, no commit"
else
	fail "another node's pod relabelled: $(since "$lines_before")"
fi
pod_down z/r
del Pod z r
del NetworkPolicy x from-friends-anywhere
del Namespace - z
converge "z/r, its namespace and the policy on it gone"

namespace y '{"team":"blue","trusted":"yes"}'
policy x from-trusted '{"podSelector":{},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"trusted":"yes"}}}]}]}'
converge "namespace label change and a policy on it" &&
	{ expect_reset; expect_all true; expect_ingress x/a false; expect_ingress x/b false
	  expect_peer x/b x/a true; expect_peer y/a x/a true; expect_peer y/a x/b true
	  verify "y (trusted) reaches x" tcp:80; }

fault '{"type":"watch-error-410"}'
del NetworkPolicy x from-friends
converge "after an ERROR 410 event"

# A deletion the watch never sees: stalled, compacted, then relisted.
fault '{"type":"stall"}'
fault '{"type":"close-watches"}'
sleep 0.5
del NetworkPolicy x from-trusted
fault '{"type":"compact"}'
converge "a deletion missed while the watch stalled (relist and diff)"

fault '{"type":"drop-mid-event"}'
pod y a 198.18.41.1 '{"pod":"a","v":"2"}'
converge "after a connection dropped mid-event"

fault '{"type":"status","code":500,"count":2}'
fault '{"type":"status","code":429,"retry_after":1,"count":1}'
fault '{"type":"close-watches"}'
policy y deny '{"podSelector":{},"policyTypes":["Ingress"]}'
converge "after 500s and a 429 with Retry-After"

fault '{"type":"short-pages","count":20}'
fault '{"type":"expire-continue"}'
fault '{"type":"watch-error-410"}'
del NetworkPolicy y deny
converge "after an expired continue token in a paged relist"

echo secret-2 >"$PW_TMP/token"
fault '{"type":"rotate-token","token":"secret-2"}'
fault '{"type":"close-watches"}'
pod x c 198.18.40.3 '{"pod":"c"}'
converge "after the token rotated"

# Drift: the resync (every 5 s here) puts back what someone else broke,
# and leaves the foreign rule inserted above podwall's jump where it is.
nx iptables-legacy -F pw-allow
nx ipset flush "$(nx ipset list -n | grep '^pw-s-' | head -n 1)"
nx iptables-legacy -I FORWARD -j ACCEPT
i=0
while [ "$(nx iptables-legacy -S FORWARD | sed -n 2p)" != "-A FORWARD -j pw-FORWARD" ] &&
      [ $i -lt 150 ]; do
	sleep 0.1; i=$((i + 1))
done
if [ "$(nx iptables-legacy -S FORWARD | sed -n 3p)" = "-A FORWARD -j ACCEPT" ]; then
	pass "drift: podwall's jump is first again, above the rule inserted over it"
else
	fail "drift: FORWARD is $(nx iptables-legacy -S FORWARD | tr '\n' ';')"
fi
nx iptables-legacy -D FORWARD -j ACCEPT
converge "drift repaired: a flushed chain and a flushed set"

printf 'logLevel: debug\n' >"$PW_TMP/podwall.yaml"
kill -HUP "$DAEMON"
sleep 0.5
if grep -q 'configuration reloaded' "$LOG" && kill -0 "$DAEMON"; then
	pass "SIGHUP reloads the configuration"
else
	fail "SIGHUP: $(tail -n 3 "$LOG")"
fi

# SIGTERM leaves every rule in place; a restart adopts them without a flush.
# Counters are compared on podwall's own chains: the API traffic on the
# node's loopback moves those of INPUT and OUTPUT meanwhile.
own_rules() {
	nx iptables-legacy-save -c -t filter | grep -e '^-A pw-' -e '\] -A pw-' -e '^:pw-'
}

# kept BEFORE AFTER: the same rules, none of them rewritten: a rule's
# counters only grow (pw-INPUT's first rules count the node's own traffic
# meanwhile, on the underlay with flannel), a rewritten one starts again.
kept() {
	awk '
		function split_rule(line, parts) {
			if (match(line, /^\[[0-9]+:[0-9]+\] /)) {
				parts["c"] = substr(line, 2, RLENGTH - 3)
				parts["r"] = substr(line, RLENGTH + 1)
			} else {
				parts["c"] = ""
				parts["r"] = line
			}
		}
		NR == FNR { split_rule($0, p); rule[FNR] = p["r"]; count[FNR] = p["c"]; n = FNR; next }
		{
			split_rule($0, p)
			if (FNR > n || p["r"] != rule[FNR]) { bad = 1; exit }
			split(count[FNR], b, ":"); split(p["c"], a, ":")
			if (a[1] + 0 < b[1] + 0 || a[2] + 0 < b[2] + 0) { bad = 1; exit }
			m = FNR
		}
		END { exit bad || m != n }' "$1" "$2"
}
own_rules >"$PW_TMP/before.rules"
nx ipset save | grep ' pw-' | sort >"$PW_TMP/before.sets"
stop_daemon
own_rules >"$PW_TMP/after.rules"
nx ipset save | grep ' pw-' | sort >"$PW_TMP/after.sets"
if kept "$PW_TMP/before.rules" "$PW_TMP/after.rules" &&
   cmp -s "$PW_TMP/before.sets" "$PW_TMP/after.sets"; then
	pass "SIGTERM leaves the rules and sets in place"
else
	fail "SIGTERM changed the kernel's state"
fi
start_daemon --watch-stall-timeout 2 --resync-interval 5
converge "restart"
sleep 0.3
own_rules >"$PW_TMP/restarted.rules"
if kept "$PW_TMP/before.rules" "$PW_TMP/restarted.rules"; then
	pass "the restarted daemon adopted the rules without rewriting them (counters kept)"
else
	fail "the restart rewrote rules:"
	diff -u "$PW_TMP/before.rules" "$PW_TMP/restarted.rules" | head -n 20 >&2
fi
expect_reset; expect_all true; expect_ingress x/a false; expect_ingress x/b false
verify "verdicts after the restart" tcp:80

stop_daemon
grep -q 'rules stay in place' "$LOG" || fail "no stop message in the log"

# --dry-run as a daemon prints each new state and programs nothing. Its
# output file exists before the daemon starts: the waits below must not
# take a file not opened yet for one with every state in it.
nx iptables-legacy-save -t filter | normalise_save >"$PW_TMP/kernel.before"
: >"$PW_TMP/dry.out"
(cd "$PW_TMP" && exec ip netns exec "$PW_NODE" "$PODWALL" --config "$PW_TMP/podwall.yaml" \
	--cni-cache-dir "$(cni_dir "$PW_NODE")" \
	--kubeconfig "$PW_TMP/kubeconfig" --node-name edge-1 --dry-run \
	>"$PW_TMP/dry.out" 2>>"$LOG") &
DAEMON=$!
bg_track $DAEMON
i=0
# Each state is the sets, the IPv4 table and (with IPv6) the IPv6 table.
tables=1
[ -d /proc/sys/net/ipv6 ] && tables=2
while [ "$(grep -c '^COMMIT' "$PW_TMP/dry.out")" -lt $tables ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
policy x allow-all '{"podSelector":{},"ingress":[{}]}'
i=0
while [ "$(grep -c '^COMMIT' "$PW_TMP/dry.out")" -lt $((2 * tables)) ] && [ $i -lt 100 ]; do
	sleep 0.1; i=$((i + 1))
done
stop_daemon
nx iptables-legacy-save -t filter | normalise_save >"$PW_TMP/kernel.after"
if [ "$(grep -c '^COMMIT' "$PW_TMP/dry.out")" = $((2 * tables)) ] &&
   cmp -s "$PW_TMP/kernel.before" "$PW_TMP/kernel.after"; then
	pass "daemon --dry-run printed the first state and the changed one, and programmed nothing"
else
	fail "daemon --dry-run: $(grep -c '^COMMIT' "$PW_TMP/dry.out") states printed"
fi
finish
