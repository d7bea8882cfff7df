#!/bin/sh
# What podwall tells about the traffic it stops, on a node made of network
# namespaces, the daemon following the fake API server:
#   - packets a policy denies (TCP, UDP, ICMP; both families with
#     PW_FAMILY=dual) reach the daemon's own NFLOG reader, which logs one
#     line per packet naming the pods and the isolating policies, for the
#     annotated namespace alone, then, after a reload with denyLog: all,
#     for every pod;
#   - the kernel's per-pod rate limit, and the reader's own, which says how
#     many lines it left out;
#   - the drop counters in /metrics, and that they survive podwall
#     rewriting the pod's chain;
#   - /metrics and the node_exporter textfile pass tests/promcheck.py (and
#     promtool where there is one); /healthz says 503 while an apply cannot
#     take the xtables lock, 200 again after;
#   - unknown paths, other methods, huge headers, garbage and a stalled
#     client are answered without harm.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$srcdir/tests/netns.sh"
e2e_requirements "e2e-observe.sh"
. "$srcdir/tests/apiserver.sh"
apiserver_requirements "e2e-observe.sh"

node_up || { fail "node_up"; finish; }
pod_up x a 198.18.60.1 tcp:80,udp:80
pod_up x b 198.18.60.2 tcp:80,udp:80
pod_up y a 198.18.61.1 tcp:80,udp:80
apiserver_up || { fail "apiserver_up"; finish; }

PORT=9474
URL="http://127.0.0.1:$PORT"
TEXTFILE_DIR="$PW_TMP/textfile"
mkdir "$TEXTFILE_DIR"
PROMTOOL=$(command -v promtool || ls /usr/local/lib/podwall-test/promtool 2>/dev/null)

annotated_namespace() {	# annotated_namespace NAME: x, with podwall.io/deny-log "true"
	printf '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"%s","annotations":{"podwall.io/deny-log":"true"}}}\n' \
		"$1" >"$PW_TMP/Namespace--$1.json"
	put "$PW_TMP/Namespace--$1.json"
}

http() {	# http PATH [CURL-ARG]...: the status code, the body in $PW_TMP/body
	_h_path=$1
	shift
	nx curl -s -o "$PW_TMP/body" -w '%{http_code}' --max-time 5 "$@" "$URL$_h_path"
}

metric() {	# metric NAME-AND-LABELS: its value in the last /metrics fetched
	awk -v k="$1" '$1 == k { print $2; found = 1 } END { exit !found }' "$PW_TMP/metrics"
}

fetch_metrics() {
	[ "$(http /metrics)" = 200 ] && cp "$PW_TMP/body" "$PW_TMP/metrics"
}

# probe FROM TARGET...: one probe round from pod FROM, with fresh source ports.
probe() {
	_p_from=$1
	shift
	ip netns exec "$(pod_get "$_p_from" netns)" "$PWPROBE" probe --timeout-ms 300 \
		--sport-base "$(next_sport 8)" "$@" >"$PW_TMP/probe.out"
}

# The log from line $1 on.
since() {
	sed -n "$(($1 + 1)),\$p" "$LOG"
}
log_lines() {
	grep -c '' "$LOG"
}

XA=$(pod_get x/a ip) XB=$(pod_get x/b ip) YA=$(pod_get y/a ip)
XA6=$(pod_get x/a ip6) YA6=$(pod_get y/a ip6)

annotated_namespace x
namespace y '{}'
pod x a "$XA" '{"pod":"a"}'
pod x b "$XB" '{"pod":"b"}'
pod y a "$YA" '{"pod":"a"}'
policy x deny '{"podSelector":{},"policyTypes":["Ingress"]}'
policy y deny '{"podSelector":{},"policyTypes":["Ingress"]}'

start_daemon --deny-log-reader --metrics-address "127.0.0.1:$PORT" \
	--metrics-textfile "$TEXTFILE_DIR/podwall.prom" --lock-wait 1
converge "x and y isolated for ingress" || finish
wait_for 50 sh -c "[ \"\$(ip netns exec $PW_NODE curl -s -o /dev/null -w '%{http_code}' $URL/healthz)\" = 200 ]" &&
	pass "/healthz: 200 once enforcing" || fail "/healthz did not answer 200: $(http /healthz)"
if nx cat /proc/net/netfilter/nfnetlink_log | awk '$1 == 42 { found = 1 } END { exit !found }'; then
	pass "the daemon holds NFLOG group 42"
else
	fail "NFLOG group 42 is not bound: $(nx cat /proc/net/netfilter/nfnetlink_log)"
fi

# ------------------------------------------ denied packets, in the log
start=$(log_lines)
probe y/a "tcp:$XA:80" "udp:$XA:80" "icmp:$XA"
grep -q blocked "$PW_TMP/probe.out" || fail "y/a reached x/a: $(cat "$PW_TMP/probe.out")"
for what in "tcp [0-9.]*:[0-9]* -> $XA:80" "udp [0-9.]*:[0-9]* -> $XA:80" "icmp $YA -> $XA type 8 code 0"; do
	if wait_for 30 sh -c "sed -n '$((start + 1)),\$p' '$LOG' | grep -q 'denied ingress $what to x/a from y/a (isolated by x/deny)'"; then
		pass "a denied $(echo "$what" | cut -d' ' -f1) packet is logged in Kubernetes terms"
	else
		fail "no line for the denied '$what' from y/a to x/a: $(since "$start" | grep denied | head -n 5)"
	fi
done
if [ "$PW_FAMILY" = dual ]; then
	probe y/a "tcp:[$XA6]:80" "icmp:$XA6"
	for what in "tcp \[$YA6\]:[0-9]* -> \[$XA6\]:80" "icmpv6 $YA6 -> $XA6 type 128 code 0"; do
		if wait_for 30 sh -c "sed -n '$((start + 1)),\$p' '$LOG' | grep -q 'denied ingress $what to x/a from y/a'"; then
			pass "IPv6: a denied $(echo "$what" | cut -d' ' -f1) packet is logged"
		else
			fail "IPv6: no line for '$what': $(since "$start" | grep denied | head -n 5)"
		fi
	done
fi
# y is not annotated: its drops are counted, not logged.
start=$(log_lines)
probe x/b "tcp:$YA:80"
sleep 1.5
if since "$start" | grep -q 'denied.* to y/a'; then
	fail "a drop in y, not annotated, was logged: $(since "$start" | grep denied)"
else
	pass "no line for a namespace without the annotation"
fi

# ------------------------------------------------------ drop counters
fetch_metrics || fail "GET /metrics"
xa_before=$(metric 'podwall_denied_packets_total{namespace="x",pod="a",direction="ingress"}')
ya_before=$(metric 'podwall_denied_packets_total{namespace="y",pod="a",direction="ingress"}')
if [ "${xa_before:-0}" -ge 3 ] && [ "${ya_before:-0}" -ge 1 ]; then
	pass "drop counters: x/a $xa_before, y/a $ya_before (counted whether logged or not)"
else
	fail "drop counters: x/a '$xa_before' (want >= 3), y/a '$ya_before' (want >= 1)"
fi
# A second policy for x/a rewrites its ingress chain; the count goes on.
start=$(log_lines)
policy x from-b '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"pod":"b"}}}]}]}'
converge "x/a admits x/b"
# Without a rewrite the counter's surviving would show nothing.
if since "$start" | grep -q 'chains: [0-9]* created, [1-9][0-9]* rewritten'; then
	pass "the policy rewrote a chain in place"
else
	fail "no chain was rewritten: $(since "$start" | grep 'chains:' | tail -n 2)"
fi
fetch_metrics
xa_after=$(metric 'podwall_denied_packets_total{namespace="x",pod="a",direction="ingress"}')
if [ "${xa_after:-0}" -ge "${xa_before:-1}" ] && [ "${xa_before:-0}" -gt 0 ]; then
	pass "x/a's drop counter survived the rewrite of its chain ($xa_before, then $xa_after)"
else
	fail "x/a's drop counter went from '$xa_before' to '$xa_after' across a rewrite"
fi

# --------------------------------------------- the kernel's rate limit
# 1/sec with a burst of 5 per pod and direction: 40 packets at once give
# about 5 lines, and the counter takes them all.
start=$(log_lines)
targets=""
i=0
while [ $i -lt 40 ]; do targets="$targets udp:$XA:80"; i=$((i + 1)); done
probe y/a $targets
sleep 1.5
lines=$(since "$start" | grep -c "denied ingress udp .* to x/a")
fetch_metrics
xa_now=$(metric 'podwall_denied_packets_total{namespace="x",pod="a",direction="ingress"}')
if [ "$lines" -ge 1 ] && [ "$lines" -le 8 ] && [ "$((xa_now - xa_after))" -ge 40 ]; then
	pass "kernel rate limit: 40 drops, $lines lines, counter +$((xa_now - xa_after))"
else
	fail "kernel rate limit: 40 drops gave $lines lines (want 1..8), counter +$((xa_now - xa_after))"
fi

# ------------------------------ every namespace, and the reader's limit
printf 'denyLog: all\ndenyLogRate: 10000/sec\ndenyLogBurst: 10000\n' >"$PW_TMP/podwall.yaml"
kill -HUP "$DAEMON"
wait_for 50 log_has "configuration reloaded" || fail "no reload"
want_state
converge "denyLog: all"
start=$(log_lines)
probe x/b "tcp:$YA:80"
if wait_for 30 sh -c "sed -n '$((start + 1)),\$p' '$LOG' | grep -q 'denied ingress tcp .* to y/a from x/b (isolated by y/deny)'"; then
	pass "denyLog: all logs y's drops too"
else
	fail "denyLog: all: no line for x/b -> y/a: $(since "$start" | grep denied | head -n 3)"
fi
start=$(log_lines)
ip netns exec "$(pod_get y/a netns)" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(600):
    s.sendto(b"x", (sys.argv[1], 80))
' "$XA"
sleep 2.5
lines=$(since "$start" | grep -c "denied ingress udp .* to x/a")
if [ "$lines" -lt 600 ] && since "$start" | grep -q 'denied packets not logged'; then
	pass "the reader's own limit: 600 drops, $lines lines, and a count of the rest: $(since "$start" | grep 'not logged' | head -n 1 | sed 's/.*] //')"
else
	fail "the reader's limit: 600 drops gave $lines lines and no count of those left out"
fi

# ------------------------------------------------ the metrics themselves
fetch_metrics
if python3 "$srcdir/tests/promcheck.py" "$PW_TMP/metrics" >"$PW_TMP/check.out" 2>&1; then
	pass "/metrics passes the strict text-format check"
else
	fail "/metrics: $(cat "$PW_TMP/check.out")"
fi
if [ -n "$PROMTOOL" ]; then
	if "$PROMTOOL" check metrics <"$PW_TMP/metrics" >"$PW_TMP/check.out" 2>&1; then
		pass "/metrics passes promtool check metrics"
	else
		fail "promtool check metrics: $(cat "$PW_TMP/check.out")"
	fi
else
	echo "SKIP: promtool not installed: /metrics checked by tests/promcheck.py alone"
fi
for m in 'podwall_enforcing{family="ipv4"} 1' 'podwall_local_endpoints 3' \
	 'podwall_objects{kind="pod"} 3' 'podwall_objects{kind="networkpolicy"} 3'; do
	grep -qxF "$m" "$PW_TMP/metrics" && pass "/metrics: $m" ||
		fail "/metrics has no '$m': $(grep "^$(echo "$m" | cut -d'{' -f1 | cut -d' ' -f1)" "$PW_TMP/metrics")"
done
for m in podwall_apply_duration_seconds_count podwall_compile_duration_seconds_count \
	 podwall_iptables_commits_total podwall_last_apply_success_timestamp_seconds \
	 podwall_chains podwall_rules podwall_set_members podwall_deny_log_lines_total; do
	grep -q "^$m[ {]" "$PW_TMP/metrics" && pass "/metrics has $m" || fail "/metrics has no $m"
done
if wait_for 30 test -s "$TEXTFILE_DIR/podwall.prom" &&
   python3 "$srcdir/tests/promcheck.py" "$TEXTFILE_DIR/podwall.prom" >"$PW_TMP/check.out" 2>&1 &&
   [ "$(ls "$TEXTFILE_DIR" | wc -l)" = 1 ]; then
	pass "the textfile is written, passes the check, and no temporary file is left"
else
	fail "textfile: $(ls "$TEXTFILE_DIR") $(cat "$PW_TMP/check.out")"
fi

# ---------------------------------------------------- hostile requests
[ "$(http /nothing)" = 404 ] && pass "unknown path: 404" || fail "unknown path: $(http /nothing)"
[ "$(http /metrics -X POST -d x)" = 405 ] && pass "POST: 405" || fail "POST: $(http /metrics -X POST -d x)"
huge=$(python3 -c 'print("a" * 65536)')
code=$(http /metrics -H "X-Huge: $huge")
case $code in
4*|000) pass "a 64 KiB header: $code" ;;
*) fail "a 64 KiB header: $code" ;;
esac
nx python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"\x00\xff garbage \r\n\r\n")
s.settimeout(5)
try:
    s.recv(100)
except Exception:
    pass
slow = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
slow.sendall(b"GET /metr")
time.sleep(30)
' "$PORT" &
slowpid=$!
bg_track $slowpid
sleep 0.5
[ "$(http /metrics)" = 200 ] && pass "/metrics answered beside a stalled client and after garbage" ||
	fail "/metrics with a stalled client: $(http /metrics)"
kill "$slowpid" 2>/dev/null
kill -0 "$DAEMON" 2>/dev/null && pass "the daemon is alive after the hostile requests" ||
	fail "the daemon died"

# ------------------------------------------------- /healthz on a lost apply
# The lock held by someone else for 8 s: the next apply fails (--lock-wait 1).
nx flock "$XTABLES_LOCKFILE" sleep 8 &
lockpid=$!
bg_track $lockpid
sleep 0.3
policy x from-y '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{}}]}]}'
if wait_for 50 sh -c "[ \"\$(ip netns exec $PW_NODE curl -s -o /dev/null -w '%{http_code}' $URL/healthz)\" = 503 ]"; then
	pass "/healthz: 503 while an apply cannot be made"
	fetch_metrics
	grep -qxF 'podwall_enforcing{family="ipv4"} 0' "$PW_TMP/metrics" &&
		pass "podwall_enforcing is 0 meanwhile" || fail "podwall_enforcing: $(grep '^podwall_enforcing' "$PW_TMP/metrics")"
else
	fail "/healthz stayed $(http /healthz) while the lock was held"
fi
wait "$lockpid" 2>/dev/null
if wait_for 100 sh -c "[ \"\$(ip netns exec $PW_NODE curl -s -o /dev/null -w '%{http_code}' $URL/healthz)\" = 200 ]"; then
	pass "/healthz: 200 again once the apply went through"
else
	fail "/healthz did not come back: $(http /healthz)"
fi
converge "x/a admits every namespace"

stop_daemon
finish
