#!/bin/sh
# Drift and tampering, with the daemon following the fake API server on a
# node made of network namespaces. Each tamper is made while pwprobe probes
# without pause, from a pod the policies deny (toward pods, over TCP, UDP
# and ICMP, and toward the node itself) and from one they allow; then:
#   - what the kernel refuses (deleting a chain or destroying a set still
#     referenced) is refused and changes nothing;
#   - what podwall's layout makes fail closed (a chain flushed, a dispatch
#     chain emptied, a chain removed with its references by a restore of an
#     edited table, a set flushed, or destroyed with the rules naming it)
#     lets no denied probe through, and is repaired;
#   - what no layout can prevent (a rule inserted above podwall's jump, the
#     jump replaced in place, a restore without podwall's rules, the top
#     chain flushed) is repaired within the drift-check interval, and the
#     wrongly allowed probes stop then.
# It prints a table of the measured windows (tamper to repair, and the span
# of wrongly allowed probes) and checks each against its bound. The daemon
# runs with --resync-interval 3 and the default --drift-check-interval (1 s);
# one insertion is measured again with drift checks off, when only the resync
# timer repairs it.
#
# With PW_FAMILY=dual the pods are dual-stack, the probers probe over both
# families (a tamper with one family's table must let nothing of the other
# through either), the repair condition holds the IPv6 table to
# --dry-run=ip6tables too, and the IPv6 table is tampered with as well: an
# ingress chain flushed, pw-allow flushed, the FORWARD jump deleted, an
# ACCEPT inserted above it.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$srcdir/tests/netns.sh"
e2e_requirements "e2e-drift.sh"
. "$srcdir/tests/apiserver.sh"
apiserver_requirements "e2e-drift.sh"

# PW_RESYNC_S=60 measures with the daemon's default resync interval.
RESYNC_S=${PW_RESYNC_S:-3}
DRIFT_MS=1000
# Scheduling and the kernel comparison itself, on a busy two-core machine.
SLACK_MS=1500

A=198.18.50.1
B=198.18.50.2
C=198.18.51.1
node_up || { fail "node_up"; finish; }
pod_up x a "$A" tcp:80,udp:80 && pod_up x b "$B" tcp:80,udp:80 && pod_up y c "$C" tcp:80,udp:80 ||
	{ fail "pod_up"; finish; }
# The node serves too, so that the pod-to-node (INPUT) path is probed.
if [ "$PW_FAMILY" = dual ]; then
	nx "$PWPROBE" serve --background --bind "$PW_NODE_IP" --bind "$PW_NODE_IP6" --tcp 80 >/dev/null ||
		{ fail "node server"; finish; }
else
	nx "$PWPROBE" serve --background --bind "$PW_NODE_IP" --tcp 80 >/dev/null ||
		{ fail "node server"; finish; }
fi
apiserver_up || { fail "apiserver_up"; finish; }

TW_A="pw-tw-$(pod_chain x a)"
FW_C="pw-fw-$(pod_chain y c)"

namespace x '{"team":"red"}'
namespace y '{"team":"blue"}'
pod x a "$A" '{"pod":"a"}'
pod x b "$B" '{"pod":"b"}'
pod y c "$C" '{"pod":"c"}'
# x: ingress isolated, x/a admits x/b alone; y: egress only to team=red pods.
policy x deny '{"podSelector":{}}'
policy x from-b '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"pod":"b"}}}],"ports":[{"port":80,"protocol":"TCP"},{"port":80,"protocol":"UDP"}]}]}'
policy y to-red '{"podSelector":{},"policyTypes":["Egress"],"egress":[{"to":[{"namespaceSelector":{"matchLabels":{"team":"red"}}}]}]}'

start_daemon --resync-interval "$RESYNC_S"
converge "initial list" || finish
expect_reset
expect_all true
expect_ingress 'x/*' false
expect_peer x/b x/a true
expect_egress y/c false
expect_peer y/c x/a false
expect_peer y/c x/b false
verify "the policies hold before any tamper" tcp:80 udp:80 || finish

# The set of x/from-b's peers (x/b), and the policy chain that matches on it.
nx iptables-legacy-save -t filter >"$PW_TMP/table.save"
PI_B=$(sed -n "s/^-A $TW_A .*--comment \"\{0,1\}x\/from-b\"\{0,1\} .*-j \(pw-pi-[^ ]*\).*/\1/p" "$PW_TMP/table.save")
SET_B=$(sed -n "s/^-A $PI_B .*--match-set \(pw-s-[^ ]*\) src.*/\1/p" "$PW_TMP/table.save" | head -n 1)
[ -n "$SET_B" ] && [ -n "$PI_B" ] || { fail "no set or policy chain for x/from-b's peers"; finish; }

DENIED="tcp:$A:80 udp:$A:80 icmp:$A tcp:$B:80 tcp:$PW_NODE_IP:80"
ALLOWED="tcp:$A:80 udp:$A:80 tcp:$C:80"
SRC_C="--source $C" SRC_B="--source $B"
if [ "$PW_FAMILY" = dual ]; then
	A6=$(ip6_of "$A") B6=$(ip6_of "$B") C6=$(ip6_of "$C")
	DENIED="$DENIED tcp:[$A6]:80 udp:[$A6]:80 icmp:$A6 tcp:[$B6]:80 tcp:[$PW_NODE_IP6]:80"
	ALLOWED="$ALLOWED tcp:[$A6]:80 udp:[$A6]:80 tcp:[$C6]:80"
	SRC_C="$SRC_C --source $C6" SRC_B="$SRC_B --source $B6"
fi
WINDOWS="$PW_TMP/windows"
printf '%-44s %-13s %8s %9s %9s %8s\n' "tamper" "repaired by" "repair" "wrongly" "over" "allowed" >"$WINDOWS"
printf '%-44s %-13s %8s %9s %9s %8s\n' "" "" "ms" "allowed" "ms" "blocked" >>"$WINDOWS"

# ------------------------------------------------------------- probing

# Probers from y/c (everything it tries is denied) and from x/b (allowed),
# until the stop file appears. Returns once both have a round on record.
# Each run takes source ports (and echo ids) after the last run's: a UDP
# flow a tamper let through must not pass later as ESTABLISHED.
DENIED_SPORT=21000
ALLOWED_SPORT=10000
probers_start() {
	rm -f "$PW_TMP/stop"
	: >"$PW_TMP/denied.out"
	: >"$PW_TMP/allowed.out"
	# shellcheck disable=SC2086
	ip netns exec "$(pod_get y/c netns)" "$PWPROBE" probe-loop --timeout-ms 100 \
		--interval-ms 20 $SRC_C --sport-base $DENIED_SPORT \
		--stop-file "$PW_TMP/stop" $DENIED >"$PW_TMP/denied.out" 2>"$PW_TMP/denied.err" &
	PROBE_DENIED=$!
	bg_track $PROBE_DENIED
	# shellcheck disable=SC2086
	# Allowed probes wait longer: on a loaded machine (a sanitizer build
	# beside other suites) an answer can take more than 100 ms, and a
	# slow answer is no block.
	ip netns exec "$(pod_get x/b netns)" "$PWPROBE" probe-loop --timeout-ms 400 \
		--interval-ms 50 $SRC_B --sport-base $ALLOWED_SPORT \
		--stop-file "$PW_TMP/stop" $ALLOWED >"$PW_TMP/allowed.out" 2>"$PW_TMP/allowed.err" &
	PROBE_ALLOWED=$!
	bg_track $PROBE_ALLOWED
	_ps_i=0
	while { [ "$(wc -l <"$PW_TMP/denied.out")" -lt 5 ] ||
		[ "$(wc -l <"$PW_TMP/allowed.out")" -lt 3 ]; } && [ $_ps_i -lt 50 ]; do
		sleep 0.1; _ps_i=$((_ps_i + 1))
	done
}

probers_stop() {
	touch "$PW_TMP/stop"
	wait "$PROBE_DENIED" "$PROBE_ALLOWED" 2>/dev/null
	DENIED_SPORT=$((DENIED_SPORT + $(wc -l <"$PW_TMP/denied.out") + 64))
	ALLOWED_SPORT=$((ALLOWED_SPORT + $(wc -l <"$PW_TMP/allowed.out") + 64))
	[ $DENIED_SPORT -lt 31000 ] || fail "the denied prober ran out of source ports"
	[ $ALLOWED_SPORT -lt 20000 ] || fail "the allowed prober ran out of source ports"
}

# ok lines of a prober's output: "COUNT FIRST-STAMP LAST-STAMP"
oks() {
	awk '$3 == "ok" { n++; if (!f) f = $1; l = $1 } END { printf "%d %.0f %.0f\n", n, f, l }' "$1"
}

# Not-ok lines of the allowed prober whose round started at or after $1.
allowed_failures_after() {
	awk -v t="$1" '$1 >= t && $3 != "ok"' "$PW_TMP/allowed.out" | wc -l
}

# ------------------------------------------------------------- tampering

# The repair conditions: the kernel as --dry-run says, or podwall's jump
# first again in a chain where a foreign rule stays below it.
repaired_state() {
	kernel_is_wanted
}

jump_first() {
	[ "$(nx iptables-legacy -S "$1" | sed -n 2p)" = "$(pw_jump "$1")" ]
}

jump_first6() {
	[ "$(nx ip6tables-legacy -S "$1" | sed -n 2p)" = "$(pw_jump "$1")" ]
}

# measure NAME CLASS CONDITION COMMAND...: probes, runs COMMAND in the node,
# waits (at most BOUND_MS and 5 s) for CONDITION and records the windows. CLASS
# "closed": no denied probe may pass; "open": they may, until the repair,
# which must come within BOUND_MS (the drift interval, or the resync).
measure() {
	_m_name=$1 _m_class=$2 _m_cond=$3
	shift 3
	want_state
	kernel_is_wanted || { fail "$_m_name: the kernel was not in the wanted state before"; return 1; }
	_m_lines=$(grep -c . "$LOG")
	probers_start
	if [ "$(oks "$PW_TMP/denied.out" | cut -d' ' -f1)" != 0 ] ||
	   [ "$(allowed_failures_after 0)" != 0 ]; then
		probers_stop
		fail "$_m_name: the probes did not see the policies hold before the tamper"
		return 1
	fi
	_m_t0=$(now_ms)
	nx "$@" || { probers_stop; fail "$_m_name: the tamper itself failed: $*"; return 1; }
	_m_t1=""
	while [ $(($(now_ms) - _m_t0)) -lt $((BOUND_MS + 5000)) ]; do
		if $_m_cond; then
			_m_t1=$(now_ms)
			break
		fi
		sleep 0.05
	done
	# Rounds in flight at the repair finish; then a second of after-probes.
	sleep 1
	probers_stop
	if [ -z "$_m_t1" ]; then
		fail "$_m_name: not repaired within $((BOUND_MS + 5000)) ms"
		tail -n 5 "$LOG" >&2
		return 1
	fi
	_m_repair=$((_m_t1 - _m_t0))
	if sed -n "$((_m_lines + 1)),\$p" "$LOG" | grep -q 'filter table changed'; then
		_m_by="drift check"
	else
		_m_by="resync timer"
	fi
	# shellcheck disable=SC2046
	set -- $(oks "$PW_TMP/denied.out")
	_m_wrong=$1
	_m_span=0
	[ "$1" -gt 0 ] && _m_span=$(($3 - _m_t0))
	_m_blocked=$(awk -v t="$_m_t0" '$1 >= t - 150 && $3 != "ok"' "$PW_TMP/allowed.out" | wc -l)
	printf '%-44s %-13s %8s %9s %9s %8s\n' "$_m_name" "$_m_by" "$_m_repair" "$_m_wrong" \
		"$_m_span" "$_m_blocked" >>"$WINDOWS"
	_m_bound=$BOUND_MS
	if [ "$_m_repair" -gt $((_m_bound + SLACK_MS)) ]; then
		fail "$_m_name: repaired after $_m_repair ms, more than $_m_bound ms (+$SLACK_MS)"
	elif [ "$_m_class" = closed ] && [ "$_m_wrong" != 0 ]; then
		fail "$_m_name: $_m_wrong denied probe(s) got through although it fails closed:"
		grep ' ok$' "$PW_TMP/denied.out" | head -n 5 >&2
	elif [ "$_m_class" = open ] && [ "$_m_wrong" -gt 0 ] &&
	     [ "$_m_span" -gt $((_m_repair + 300)) ]; then
		fail "$_m_name: denied probes got through $_m_span ms after the tamper, past the repair ($_m_repair ms)"
	elif [ "$(allowed_failures_after $((_m_t1 + 300)))" != 0 ]; then
		fail "$_m_name: allowed traffic still failing after the repair:"
		awk -v t="$((_m_t1 + 300))" '$1 >= t && $3 != "ok"' "$PW_TMP/allowed.out" | head -n 5 >&2
	else
		pass "$_m_name: repaired by the $_m_by in $_m_repair ms; $_m_wrong denied probe(s) passed"
	fi
}

# ---------------------------------------------- refused by the kernel

if nx iptables-legacy -w -X "$TW_A" 2>"$PW_TMP/err"; then
	fail "the kernel deleted $TW_A, which the dispatch chain still names"
elif kernel_is_wanted; then
	pass "deleting a referenced chain ($TW_A) is refused: $(head -n 1 "$PW_TMP/err")"
else
	fail "a refused chain deletion changed the kernel"
fi
nx iptables-legacy -w -F "$TW_A"
if nx iptables-legacy -w -X "$TW_A" 2>"$PW_TMP/err"; then
	fail "the kernel deleted the flushed $TW_A, which the dispatch chain still names"
else
	pass "deleting it even once flushed is refused: $(head -n 1 "$PW_TMP/err")"
fi
converge "the flushed chain put back" 60
if nx ipset destroy "$SET_B" 2>"$PW_TMP/err"; then
	fail "the kernel destroyed $SET_B, which a rule still names"
elif kernel_is_wanted; then
	pass "destroying a referenced set ($SET_B) is refused: $(head -n 1 "$PW_TMP/err")"
else
	fail "a refused set destruction changed the kernel"
fi

# ---------------------------------------------- fail closed, repaired

BOUND_MS=$DRIFT_MS
measure "x/a's ingress chain flushed" closed repaired_state \
	iptables-legacy -w -F "$TW_A"
measure "y/c's egress chain flushed (pod to node)" closed repaired_state \
	iptables-legacy -w -F "$FW_C"
measure "pw-to-wl-dispatch flushed" closed repaired_state \
	iptables-legacy -w -F pw-to-wl-dispatch
measure "pw-from-wl-dispatch flushed" closed repaired_state \
	iptables-legacy -w -F pw-from-wl-dispatch
measure "pw-allow flushed" closed repaired_state \
	iptables-legacy -w -F pw-allow
measure "the policy chain of x/from-b flushed" closed repaired_state \
	iptables-legacy -w -F "$PI_B"

# A restore of an edited table: x/a's chain gone with the rule naming it.
nx iptables-legacy-save -t filter >"$PW_TMP/table.save"
grep -v -e "^:$TW_A " -e " $TW_A\$" -e "^-A $TW_A " "$PW_TMP/table.save" >"$PW_TMP/no-tw-a.save"
measure "x/a's chain removed by an edited restore" closed repaired_state \
	sh -c 'iptables-legacy-restore -w 10 <"$1"' sh "$PW_TMP/no-tw-a.save"
nx iptables-legacy-save -t filter >"$PW_TMP/table.save"
grep -v -e "^:$PI_B " -e " $PI_B\$" -e "^-A $PI_B " "$PW_TMP/table.save" >"$PW_TMP/no-pi-b.save"
measure "a policy chain removed by an edited restore" closed repaired_state \
	sh -c 'iptables-legacy-restore -w 10 <"$1"' sh "$PW_TMP/no-pi-b.save"

# The set goes with the rules that name it: the drift check sees the table.
measure "x/from-b's set destroyed with its rules" closed repaired_state \
	sh -c 'iptables-legacy -w -F "$1" && ipset destroy "$2"' sh "$PI_B" "$SET_B"
# A set's members are not in the table: only the resync timer sees them.
BOUND_MS=$((RESYNC_S * 1000))
measure "x/from-b's set flushed" closed repaired_state \
	ipset flush "$SET_B"

# ---------------------------------------- cannot be prevented, repaired

BOUND_MS=$DRIFT_MS
measure "ACCEPT inserted above the FORWARD jump" open "jump_first FORWARD" \
	iptables-legacy -w -I FORWARD 1 -j ACCEPT
nx iptables-legacy -w -D FORWARD -j ACCEPT
converge "the foreign ACCEPT deleted again" 60
measure "ACCEPT inserted above the INPUT jump" open "jump_first INPUT" \
	iptables-legacy -w -I INPUT 1 -j ACCEPT
nx iptables-legacy -w -D INPUT -j ACCEPT
converge "the foreign ACCEPT in INPUT deleted again" 60
measure "the FORWARD jump replaced by ACCEPT (same size)" open "jump_first FORWARD" \
	iptables-legacy -w -R FORWARD 1 -j ACCEPT
nx iptables-legacy -w -D FORWARD -j ACCEPT
converge "the replacing ACCEPT deleted again" 60
measure "the FORWARD jump deleted" open repaired_state \
	iptables-legacy -w -D FORWARD -j pw-FORWARD
measure "pw-FORWARD flushed" open repaired_state \
	iptables-legacy -w -F pw-FORWARD
nx iptables-legacy-save -t filter | grep -v -e '^:pw-' -e ' pw-' -e '^-A pw-' >"$PW_TMP/no-pw.save"
measure "a restore without podwall's rules" open repaired_state \
	sh -c 'iptables-legacy-restore -w 10 <"$1"' sh "$PW_TMP/no-pw.save"

# ------------------------------------------- the IPv6 table (PW_FAMILY=dual)
if [ "$PW_FAMILY" = dual ]; then
	BOUND_MS=$DRIFT_MS
	measure "IPv6: x/a's ingress chain flushed" closed repaired_state \
		ip6tables-legacy -w -F "$TW_A"
	measure "IPv6: pw-allow flushed" closed repaired_state \
		ip6tables-legacy -w -F pw-allow
	measure "IPv6: ACCEPT inserted above the FORWARD jump" open "jump_first6 FORWARD" \
		ip6tables-legacy -w -I FORWARD 1 -j ACCEPT
	nx ip6tables-legacy -w -D FORWARD -j ACCEPT
	converge "IPv6: the foreign ACCEPT deleted again" 60
	measure "IPv6: the FORWARD jump deleted" open repaired_state \
		ip6tables-legacy -w -D FORWARD -j pw-FORWARD
fi

# The same insertion with drift checks off: the resync timer alone.
stop_daemon
start_daemon --resync-interval "$RESYNC_S" --drift-check-interval 0
converge "restarted with drift checks off" 60
sleep 0.5
BOUND_MS=$((RESYNC_S * 1000))
measure "ACCEPT above the FORWARD jump, no drift check" open "jump_first FORWARD" \
	iptables-legacy -w -I FORWARD 1 -j ACCEPT
nx iptables-legacy -w -D FORWARD -j ACCEPT
stop_daemon

echo "measured windows (resync ${RESYNC_S} s, drift check ${DRIFT_MS} ms; probes every ~100 ms):"
cat "$WINDOWS"
grep -E 'err:|warning:' "$LOG" | grep -v 'watch' | head -n 5 | sed 's/^/    log: /'
[ -n "${PW_KEEP_LOG:-}" ] && cp "$LOG" "$PW_KEEP_LOG"
e2e_cleanup
check_no_leftovers
finish
