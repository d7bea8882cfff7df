#!/bin/sh
# kill -9 under traffic, with the daemon following the fake API server on a
# node made of network namespaces. Throughout, without pause:
#   - an established TCP connection that policy allows exchanges data;
#   - new connections that policy allows are opened;
#   - a pod that policy denies probes over TCP, UDP and ICMP.
# Then:
#   1. killed and restarted with nothing changed meanwhile: the kernel is
#      left as it was, and the new daemon adopts it (its first comparison
#      creates, rewrites, deletes and commits nothing; counters keep going);
#   2. killed, a policy added on the API server while it is dead, restarted:
#      it converges, rewriting only the chains the change touches;
#   3. killed again and again at random moments while changes are applied:
#      each restart converges.
# No denied probe may pass, no allowed one fail, and the connection must
# never stall. The downtime, the time to converge after a restart and the
# connection's longest round trip are printed.
#
# With PW_FAMILY=dual the pods are dual-stack and all of it runs over both
# families at once: a second established connection over IPv6, the probes
# to both addresses of each pod, and the IPv6 table kept, adopted and
# compared with --dry-run=ip6tables as the IPv4 one is.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$srcdir/tests/netns.sh"
e2e_requirements "e2e-restart.sh"
. "$srcdir/tests/apiserver.sh"
apiserver_requirements "e2e-restart.sh"

A=198.18.60.1
B=198.18.60.2
C=198.18.61.1
ECHO_PORT=7
DENIED_T="tcp:$A:80 udp:$A:80 icmp:$A tcp:$A:$ECHO_PORT tcp:$B:80"
ALLOWED_T="tcp:$A:80 udp:$A:80 tcp:$C:80"
SRC_C="--source $C" SRC_B="--source $B"
if [ "$PW_FAMILY" = dual ]; then
	A6=$(ip6_of "$A") B6=$(ip6_of "$B") C6=$(ip6_of "$C")
	DENIED_T="$DENIED_T tcp:[$A6]:80 udp:[$A6]:80 icmp:$A6 tcp:[$A6]:$ECHO_PORT tcp:[$B6]:80"
	ALLOWED_T="$ALLOWED_T tcp:[$A6]:80 udp:[$A6]:80 tcp:[$C6]:80"
	SRC_C="$SRC_C --source $C6" SRC_B="$SRC_B --source $B6"
fi
node_up || { fail "node_up"; finish; }
pod_up x a "$A" tcp:80,udp:80,tcp:81 && pod_up x b "$B" tcp:80 && pod_up y c "$C" tcp:80 ||
	{ fail "pod_up"; finish; }
ip netns exec "$(pod_get x/a netns)" "$PWPROBE" serve --background --tcp-echo $ECHO_PORT >/dev/null ||
	{ fail "echo server"; finish; }
apiserver_up || { fail "apiserver_up"; finish; }

namespace x '{"team":"red"}'
namespace y '{"team":"blue"}'
pod x a "$A" '{"pod":"a"}'
pod x b "$B" '{"pod":"b"}'
pod y c "$C" '{"pod":"c"}'
policy x deny '{"podSelector":{}}'
policy x from-b '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"pod":"b"}}}],"ports":[{"port":80,"protocol":"TCP"},{"port":80,"protocol":"UDP"},{"port":'$ECHO_PORT',"protocol":"TCP"}]}]}'

# Added while the daemon is dead, then toggled under its kills: y/c to x/a:81.
FROM_C_81='{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":'\
'{"matchLabels":{"team":"blue"}}}],"ports":[{"port":81,"protocol":"TCP"}]}]}'
DAEMON_ARGS="--resync-interval 3"
# shellcheck disable=SC2086
start_daemon $DAEMON_ARGS
converge "initial list" || finish
expect_reset
expect_all true
expect_ingress 'x/*' false
expect_peer x/b x/a true
expect_peer x/b x/a false tcp:81
verify "the policies hold" own || finish

# ------------------------------------------------------------- traffic

traffic_start() {
	rm -f "$PW_TMP/stop"
	: >"$PW_TMP/stream.out"
	ip netns exec "$(pod_get x/b netns)" "$PWPROBE" stream --interval-ms 50 --stall-ms 3000 \
		--source "$B" --stop-file "$PW_TMP/stop" "tcp:$A:$ECHO_PORT" \
		>"$PW_TMP/stream.out" 2>"$PW_TMP/stream.err" &
	STREAM=$!
	bg_track $STREAM
	STREAM6=""
	if [ "$PW_FAMILY" = dual ]; then
		: >"$PW_TMP/stream6.out"
		ip netns exec "$(pod_get x/b netns)" "$PWPROBE" stream --interval-ms 50 --stall-ms 3000 \
			--source "$B6" --stop-file "$PW_TMP/stop" "tcp:[$A6]:$ECHO_PORT" \
			>"$PW_TMP/stream6.out" 2>"$PW_TMP/stream6.err" &
		STREAM6=$!
		bg_track $STREAM6
	fi
	: >"$PW_TMP/denied.out"
	# shellcheck disable=SC2086
	ip netns exec "$(pod_get y/c netns)" "$PWPROBE" probe-loop --timeout-ms 100 \
		--interval-ms 20 $SRC_C --sport-base 21000 --stop-file "$PW_TMP/stop" \
		$DENIED_T >"$PW_TMP/denied.out" 2>"$PW_TMP/denied.err" &
	PROBE_DENIED=$!
	bg_track $PROBE_DENIED
	: >"$PW_TMP/allowed.out"
	# shellcheck disable=SC2086
	ip netns exec "$(pod_get x/b netns)" "$PWPROBE" probe-loop --timeout-ms 200 \
		--interval-ms 50 $SRC_B --sport-base 10000 --stop-file "$PW_TMP/stop" \
		$ALLOWED_T >"$PW_TMP/allowed.out" 2>"$PW_TMP/allowed.err" &
	PROBE_ALLOWED=$!
	bg_track $PROBE_ALLOWED
	_ts_i=0
	while { ! grep -q '^connected' "$PW_TMP/stream.out" ||
		{ [ -n "$STREAM6" ] && ! grep -q '^connected' "$PW_TMP/stream6.out"; } ||
		[ "$(wc -l <"$PW_TMP/denied.out")" -lt 5 ] ||
		[ "$(wc -l <"$PW_TMP/allowed.out")" -lt 3 ]; } && [ $_ts_i -lt 50 ]; do
		sleep 0.1; _ts_i=$((_ts_i + 1))
	done
	grep -q '^connected' "$PW_TMP/stream.out" ||
		fail "the allowed connection did not open: $(cat "$PW_TMP/stream.err")"
	[ -z "$STREAM6" ] || grep -q '^connected' "$PW_TMP/stream6.out" ||
		fail "the allowed IPv6 connection did not open: $(cat "$PW_TMP/stream6.err")"
}

# traffic_check NAME: stops the traffic and judges what it saw.
traffic_check() {
	touch "$PW_TMP/stop"
	wait "$STREAM"
	_tc_stream=$?
	if [ -n "$STREAM6" ]; then
		wait "$STREAM6"
		_tc_stream6=$?
		_tc_rtt6=$(sed -n 's/^exchanges [0-9]* max-rtt-ms \([0-9]*\).*/\1/p' "$PW_TMP/stream6.out")
		_tc_n6=$(sed -n 's/^exchanges \([0-9]*\).*/\1/p' "$PW_TMP/stream6.out")
		if [ "$_tc_stream6" != 0 ] || [ -z "$_tc_rtt6" ]; then
			fail "$1: the established IPv6 connection broke: $(cat "$PW_TMP/stream6.out" "$PW_TMP/stream6.err")"
		elif [ "$_tc_rtt6" -gt 1000 ]; then
			fail "$1: the established IPv6 connection stalled for $_tc_rtt6 ms"
		else
			pass "$1: the established IPv6 connection went on ($_tc_n6 exchanges, longest round trip $_tc_rtt6 ms)"
		fi
	fi
	wait "$PROBE_DENIED" "$PROBE_ALLOWED" 2>/dev/null
	_tc_wrong=$(grep -c ' ok$' "$PW_TMP/denied.out")
	_tc_failed=$(grep -vc ' ok$' "$PW_TMP/allowed.out")
	_tc_rtt=$(sed -n 's/^exchanges [0-9]* max-rtt-ms \([0-9]*\).*/\1/p' "$PW_TMP/stream.out")
	_tc_n=$(sed -n 's/^exchanges \([0-9]*\).*/\1/p' "$PW_TMP/stream.out")
	if [ "$_tc_stream" != 0 ] || [ -z "$_tc_rtt" ]; then
		fail "$1: the established connection broke: $(cat "$PW_TMP/stream.out" "$PW_TMP/stream.err")"
	elif [ "$_tc_rtt" -gt 1000 ]; then
		fail "$1: the established connection stalled for $_tc_rtt ms"
	else
		pass "$1: the established connection went on ($_tc_n exchanges, longest round trip $_tc_rtt ms)"
	fi
	if [ "$_tc_wrong" != 0 ]; then
		fail "$1: $_tc_wrong denied probe(s) got through:"
		grep ' ok$' "$PW_TMP/denied.out" | head -n 5 >&2
	else
		pass "$1: $(wc -l <"$PW_TMP/denied.out") denied probes, none got through"
	fi
	if [ "$_tc_failed" != 0 ]; then
		fail "$1: $_tc_failed allowed probe(s) failed:"
		grep -v ' ok$' "$PW_TMP/allowed.out" | head -n 5 >&2
	else
		pass "$1: $(wc -l <"$PW_TMP/allowed.out") allowed new connections and datagrams, none failed"
	fi
}

# Podwall's rules with their counters (with PW_FAMILY=dual, the IPv6
# table's after the IPv4 one's, each line marked "6 "), and its sets.
own_rules() {
	nx iptables-legacy-save -c -t filter | grep -e '^:pw-' -e '\] -A pw-' -e '\] -A [A-Z]* -j pw-'
	[ "$PW_FAMILY" = dual ] || return 0
	nx ip6tables-legacy-save -c -t filter | grep -e '^:pw-' -e '\] -A pw-' -e '\] -A [A-Z]* -j pw-' |
		sed 's/\] -A /] -A 6 /; s/^:/:6 /'
}

own_sets() {
	nx ipset save | grep ' pw-' | sort
}

# The log from line $1 on: its first comparison with the kernel.
first_resync_after() {
	sed -n "$(($1 + 1)),\$p" "$LOG" | grep -m 1 ': resync in '
}

# Counters of every rule of a chain that did not change must not go back.
counters_kept() {
	awk '
		FILENAME == ARGV[1] { if (match($0, /^\[[0-9]+:/)) { k = substr($0, index($0, "]") + 2); p = substr($0, 2, RLENGTH - 2); before[k] = p }; next }
		match($0, /^\[[0-9]+:/) {
			k = substr($0, index($0, "]") + 2); p = substr($0, 2, RLENGTH - 2)
			if ((k in before) && p + 0 < before[k] + 0) { print "    " k ": " before[k] " -> " p; bad++ }
		}
		END { exit bad > 0 }' "$1" "$2"
}

# ------------------------------------- 1. killed, restarted, nothing changed

traffic_start
sleep 1
own_rules >"$PW_TMP/before.rules"
own_sets >"$PW_TMP/before.sets"
t_kill=$(now_ms)
kill_daemon
sleep 2
if [ "$(own_rules | sed 's/^\[[0-9:]*\] //')" = "$(sed 's/^\[[0-9:]*\] //' "$PW_TMP/before.rules")" ] &&
   [ "$(own_sets)" = "$(cat "$PW_TMP/before.sets")" ]; then
	pass "kill -9 leaves every rule and set in place"
else
	fail "the kernel changed while the daemon was dead"
fi
lines=$(grep -c . "$LOG")
t_start=$(now_ms)
# shellcheck disable=SC2086
start_daemon $DAEMON_ARGS
i=0
while [ -z "$(first_resync_after "$lines")" ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
t_adopted=$(now_ms)
first=$(first_resync_after "$lines")
case $first in
*"sets: 0 created, 0 swapped, 0 destroyed, 0 members added, 0 deleted; chains: 0 created, 0 rewritten, 0 deleted, 0 hooks fixed; no commit needed")
	pass "the restarted daemon adopted the kernel's state: ${first#*: }" ;;
*)
	fail "the restarted daemon's first comparison changed the kernel: ${first:-none within 15 s}" ;;
esac
converge "restart with nothing changed"
sleep 1
own_rules >"$PW_TMP/after.rules"
if counters_kept "$PW_TMP/before.rules" "$PW_TMP/after.rules" >"$PW_TMP/counters"; then
	pass "no rule's counters went back: nothing was flushed"
else
	fail "counters went back (rules rewritten):"
	cat "$PW_TMP/counters" >&2
fi
traffic_check "kill -9, nothing changed"
echo "    down $((t_start - t_kill)) ms; first comparison $((t_adopted - t_start)) ms after the start (polled every 100 ms)"

# ------------------------------ 2. killed, a policy added while it is dead

want_state
cp "$PW_TMP/want.rules" "$PW_TMP/want-before.rules"
traffic_start
sleep 1
own_rules >"$PW_TMP/before.rules"
t_kill=$(now_ms)
kill_daemon
policy x from-c-81 "$FROM_C_81"
sleep 2
lines=$(grep -c . "$LOG")
t_start=$(now_ms)
# shellcheck disable=SC2086
start_daemon $DAEMON_ARGS
converge "restart after a policy was added while the daemon was dead"
t_conv=$(now_ms)
sleep 1
own_rules >"$PW_TMP/after.rules"
traffic_check "kill -9, a policy added meanwhile"
echo "    down $((t_start - t_kill)) ms; converged $((t_conv - t_start)) ms after the start (polled every 100 ms)"
# The new policy's chain is created; x/a's ingress chain, which now calls
# it, is the only one rewritten.
sed -n 's/^:\(pw-[^ ]*\) .*/\1/p' "$PW_TMP/want-before.rules" | sort >"$PW_TMP/chains.before"
sed -n 's/^:\(pw-[^ ]*\) .*/\1/p' "$PW_TMP/want.rules" | sort >"$PW_TMP/chains.after"
created=$(comm -13 "$PW_TMP/chains.before" "$PW_TMP/chains.after" | wc -l)
# As many again in the IPv6 table when the pods are dual-stack: an
# IPv4-only pod's IPv6 chain is a lone DROP that no policy changes.
tables=1
[ "$PW_FAMILY" = dual ] && tables=2
first=$(first_resync_after "$lines")
case $first in
*"chains: $((created * tables)) created, $tables rewritten, 0 deleted, 0 hooks fixed; committed")
	pass "the restart rewrote x/a's ingress chain and created the new policy's: ${first#*: }" ;;
*)
	fail "the restart's first comparison: ${first:-none}" ;;
esac
tw_a="pw-tw-$(pod_chain x a)"
grep -v -e "-A $tw_a " -e "-A 6 $tw_a " -e "^:$tw_a " -e "^:6 $tw_a " "$PW_TMP/before.rules" >"$PW_TMP/before.kept"
if counters_kept "$PW_TMP/before.kept" "$PW_TMP/after.rules" >"$PW_TMP/counters"; then
	pass "no counter went back outside the rewritten chain"
else
	fail "counters went back outside the rewritten chain:"
	cat "$PW_TMP/counters" >&2
fi
expect_peer y/c x/a true tcp:81
verify "the policy added while the daemon was dead is enforced" own

# ------------------------------- 3. killed at random moments while applying

traffic_start
round=0
while [ $round -lt 10 ]; do
	round=$((round + 1))
	# The change goes out in the background and the kill comes 0 to 40 ms
	# later: before the event arrives, while it is applied, or after.
	if [ $((round % 2)) = 1 ]; then
		del NetworkPolicy x from-c-81 &
	else
		policy x from-c-81 "$FROM_C_81" &
	fi
	change=$!
	sleep "0.0$(awk -v r="$round" 'BEGIN { srand(r * 7919); printf "%02d", int(rand() * 40) }')"
	kill_daemon
	wait $change
	# shellcheck disable=SC2086
	start_daemon $DAEMON_ARGS
	converge "kill -9 around a change, round $round"
done
traffic_check "kill -9 around changes"
stop_daemon

grep -E 'err:' "$LOG" | head -n 5 | sed 's/^/    log: /'
e2e_cleanup
check_no_leftovers
finish
