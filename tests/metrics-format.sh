#!/bin/sh
# The metrics text podwall renders (every kind of family it registers, from
# check_metrics --render) against tests/promcheck.py, a strict reading of
# the exposition format 0.0.4, and against Prometheus's own promtool when
# there is one (on PATH, or where scripts/install-deps puts it). Then
# promcheck.py is shown known-bad inputs, to prove it rejects them.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
PROMCHECK="python3 $srcdir/tests/promcheck.py"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

if [ ! -x "$builddir/tests/check_metrics" ]; then
	echo "SKIP: tests/check_metrics not built (no Check)"
	exit 77
fi
"$builddir/tests/check_metrics" --render >"$out/metrics.prom" ||
	fail "check_metrics --render exited $?"

if $PROMCHECK "$out/metrics.prom" >"$out/err" 2>&1; then
	pass "rendered registry: $(cat "$out/err")"
else
	fail "rendered registry refused: $(cat "$out/err")"
fi
# Every family the daemon registers is in it, HELP and TYPE each once.
for family in podwall_build_info podwall_enforcing podwall_last_apply_success_timestamp_seconds \
	podwall_apply_duration_seconds podwall_compile_duration_seconds \
	podwall_iptables_commits_total podwall_ipset_member_changes_total podwall_drift_repairs_total \
	podwall_watch_restarts_total podwall_relists_total podwall_refused_objects_total \
	podwall_objects podwall_local_endpoints podwall_chains podwall_rules podwall_set_members \
	podwall_denied_packets_total podwall_denied_bytes_total podwall_deny_log_lines_total \
	podwall_deny_log_suppressed_total podwall_nflog_overruns_total; do
	[ "$(grep -c "^# TYPE $family " "$out/metrics.prom")" = 1 ] || fail "no TYPE line for $family"
done
pass "every family registered"

promtool=$(command -v promtool 2>/dev/null || :)
[ -n "$promtool" ] || [ ! -x /usr/local/lib/podwall-test/promtool ] ||
	promtool=/usr/local/lib/podwall-test/promtool
if [ -z "$promtool" ]; then
	echo "SKIP: no promtool (scripts/install-deps fetches it): promcheck.py alone checked the text"
elif "$promtool" check metrics <"$out/metrics.prom" >"$out/err" 2>&1; then
	pass "promtool check metrics ($promtool): no problems"
else
	fail "promtool check metrics: $(cat "$out/err")"
fi

# Known-bad inputs, each with what promcheck.py must say about it.
bad() {
	why=$1
	printf '%b' "$2" >"$out/bad.prom"
	if $PROMCHECK "$out/bad.prom" >"$out/err" 2>&1; then
		fail "promcheck.py accepted: $why"
	elif ! grep -q "line [0-9]*: .*$3" "$out/err"; then
		fail "promcheck.py refused $why, but said: $(cat "$out/err")"
	else
		pass "refused: $why ($(sed 's/.*: line/line/' "$out/err"))"
	fi
}
ok_text='# HELP a_total A.\n# TYPE a_total counter\na_total 1\n'
bad "no final newline" '# TYPE a gauge\na 1' "final newline"
bad "a blank line" '# TYPE a gauge\n\na 1\n' "blank line"
bad "a bad metric name" '# TYPE 1a gauge\n1a 1\n' "valid metric name"
bad "a bad sample name" 'a-b 1\n' "invalid metric name"
bad "a bad label name" 'a{1x="v"} 1\n' "invalid label name"
bad "a reserved label name" 'a{__x="v"} 1\n' "reserved"
bad "a duplicate label" 'a{x="1",x="2"} 1\n' "given twice"
bad "a bad escape in a label" 'a{x="\\\\\\t"} 1\n' "bad escape"
bad "an unterminated label value" 'a{x="v} 1\n' "unterminated"
bad "a bad value" 'a 1,5\n' "not a valid float"
bad "Inf without a sign" 'a Inf\n' "not a valid float"
bad "a bad timestamp" 'a 1 1.5\n' "timestamp"
bad "a bad HELP escape" '# HELP a a \\\\\\t tab\n' "bad escape in HELP"
bad "two HELP lines" '# HELP a x\n# HELP a y\na 1\n' "second HELP"
bad "two TYPE lines" '# TYPE a gauge\n# TYPE a gauge\na 1\n' "second TYPE"
bad "TYPE after samples" 'a 1\n# TYPE a gauge\n' "after its samples"
bad "an unknown type" '# TYPE a meter\na 1\n' "bad type"
bad "a counter without _total" '# TYPE a counter\na 1\n' "_total"
bad "a negative counter" '# TYPE a_total counter\na_total -1\n' "negative"
bad "a family split in two" "${ok_text}"'# TYPE b gauge\nb 1\na_total{x="y"} 2\n' "not together"
bad "a duplicate series" 'a{x="1"} 1\na{x="1"} 2\n' "duplicate series"
bad "a foreign sample in a family" '# TYPE h histogram\nh 1\n' "does not belong"
bad "a carriage return" '# TYPE a gauge\r\na 1\n' "carriage return"
bad "bytes that are not UTF-8" 'a{x="\0377"} 1\n' "not UTF-8"
h='# TYPE h histogram\n'
bad "a histogram without +Inf" "$h"'h_bucket{le="1"} 1\nh_sum 1\nh_count 1\n' "+Inf"
bad "a histogram without _count" "$h"'h_bucket{le="+Inf"} 1\nh_sum 1\n' "_count"
bad "a histogram without _sum" "$h"'h_bucket{le="+Inf"} 1\nh_count 1\n' "_sum"
bad "a bucket without le" "$h"'h_bucket 1\n' "without an le"
bad "buckets out of order" "$h"'h_bucket{le="2"} 1\nh_bucket{le="1"} 1\n' "not above"
bad "buckets not cumulative" "$h"'h_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\n' "not cumulative"
bad "+Inf bucket unequal to _count" "$h"'h_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n' "!= _count"
bad "a bad le" "$h"'h_bucket{le="one"} 1\n' "not a valid float"

# And the good forms it must take.
printf '%b' "$ok_text"'# a comment\n# TYPE g gauge\ng{a="x\\\\y\\"z\\n"} -1.5e-3 1700000000000\ng{a="w"} NaN\n'"$h"'h_bucket{le="0.5"} 0\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n' \
	>"$out/good.prom"
if $PROMCHECK "$out/good.prom" >"$out/err" 2>&1; then
	pass "accepted: escapes, timestamps, NaN, comments, a whole histogram"
else
	fail "promcheck.py refused good text: $(cat "$out/err")"
fi

finish
