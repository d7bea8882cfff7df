#!/bin/sh
# The daemon over a long run of watch events, twice: rounds of 500 changes on
# the fake API server (namespaces, pods and policies added, changed and
# deleted; cali* links coming and going), each applied before a fault (an
# ERROR 410, a compaction, dropped, stalled and closed streams, a 500 and a
# 429, an expired continue token, a rotated token, a SIGHUP) and the next
# round, until the server has sent PW_SOAK_EVENTS (default 10000) ADDED,
# MODIFIED and DELETED events.
#   1. natively: the daemon's RSS after 2000 events and after all of them
#      differ by no more than PW_SOAK_RSS_SLACK_KB (default 1024);
#   2. under valgrind (memcheck), from a restart that adopts the kernel's
#      state: no memory error, nothing definitely or indirectly lost, no
#      descriptor of its own left open at exit.
# After every round the kernel holds what --dry-run says of the server's
# objects, /metrics is scraped, and a packet goes to the daemon's NFLOG
# group through a rule of the test's own in the mangle table (with a
# prefix of podwall's form), so that the metrics and the denied-packet
# reader run all along.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$srcdir/tests/netns.sh"
e2e_requirements "valgrind-daemon.sh"
for tool in python3 openssl valgrind; do
	command -v $tool >/dev/null 2>&1 || { echo "SKIP: valgrind-daemon.sh: $tool not installed"; exit 77; }
done
# Built with --enable-sanitizers, podwall cannot run under valgrind, and
# ASan's quarantine makes its RSS grow: only phase 1 runs, and its exit
# status carries LeakSanitizer's verdict instead.
if grep -qa __asan_init "$PODWALL"; then
	SANITIZED=yes
else
	SANITIZED=""
fi

EVENTS=${PW_SOAK_EVENTS:-10000}
[ "$EVENTS" -ge 2500 ] ||
	{ echo "valgrind-daemon.sh: PW_SOAK_EVENTS must be at least 2500" >&2; exit 99; }
RSS_SLACK_KB=${PW_SOAK_RSS_SLACK_KB:-1024}
begin=$(date +%s)

CERTS="$PW_TMP/certs"
LOG="$PW_TMP/podwall.log"
VGLOG="$PW_TMP/valgrind.log"
mkdir "$CERTS"
# A lock file of our own: the machine's iptables never waits on this test.
XTABLES_LOCKFILE="$PW_TMP/xtables.lock"
export XTABLES_LOCKFILE
python3 "$srcdir/tests/fake-apiserver.py" make-certs "$CERTS" >/dev/null 2>&1 ||
	{ fail "fake-apiserver.py make-certs"; finish; }
node_up || { fail "node_up"; finish; }

echo secret-1 >"$PW_TMP/token"
nx python3 "$srcdir/tests/fake-apiserver.py" --port 0 --control-port 0 \
	--tls-dir "$CERTS" --token secret-1 --split-chunks --seed 11 --history 100000 \
	--bookmark-interval 1 --max-lifetime 1200 >"$PW_TMP/fake.out" 2>"$PW_TMP/fake.err" &
bg_track $!
i=0
while ! grep -q '^READY' "$PW_TMP/fake.out" 2>/dev/null && [ $i -lt 100 ]; do
	sleep 0.1; i=$((i + 1))
done
read -r _ API CTL <"$PW_TMP/fake.out" || { fail "fake API server did not start: $(cat "$PW_TMP/fake.err")"; finish; }

cat >"$PW_TMP/kubeconfig" <<EOT
apiVersion: v1
kind: Config
current-context: test
clusters:
- name: fake
  cluster:
    server: https://127.0.0.1:$API
    certificate-authority: certs/ca.crt
contexts:
- name: test
  context: {cluster: fake, user: node}
users:
- name: node
  user:
    tokenFile: token
EOT
# Every pod logs its denials: the rules podwall programs then carry NFLOG.
echo "denyLog: all" >"$PW_TMP/podwall.yaml"

# The daemon's STATUS= lines (its object counts after each apply), through
# a notify socket of our own. The listener goes when this test goes.
notify_listen

churn() {
	nx python3 "$srcdir/tests/churn.py" --control "$CTL" "$@"
}

fault() {
	churn fault "$1" || fail "fault $1"
}

# settle NAME SECONDS: waits until the daemon has seen every object the
# server holds (its counts, which every round ends by lowering) and the
# kernel holds what --dry-run says of them.
settle() {
	_st_name=$1 _st_limit=$(($2 * 10)) _st_i=0
	_st_counts=$(churn dump "$PW_TMP/objects.json") || { fail "$_st_name: dump"; return 1; }
	podwall_in "$PW_NODE" --config "$PW_TMP/podwall.yaml" --dry-run --node-name edge-1 \
		-f "$PW_TMP/objects.json" | normalise_save >"$PW_TMP/want.rules"
	podwall_in "$PW_NODE" --config "$PW_TMP/podwall.yaml" --dry-run=ipset --node-name edge-1 \
		-f "$PW_TMP/objects.json" | grep '^add ' | sort >"$PW_TMP/want.sets"
	# The counts first: reading the kernel costs CPU that valgrind needs.
	while [ $_st_i -lt $_st_limit ]; do
		case $(cat "$PW_TMP/status") in
		*"; $_st_counts;"*)
			nx iptables-legacy-save -t filter | normalise_save >"$PW_TMP/have.rules"
			nx ipset save | grep '^add pw-' | sort >"$PW_TMP/have.sets"
			if cmp -s "$PW_TMP/want.rules" "$PW_TMP/have.rules" &&
			   cmp -s "$PW_TMP/want.sets" "$PW_TMP/have.sets"; then
				return 0
			fi
			;;
		esac
		sleep 0.2
		_st_i=$((_st_i + 2))
	done
	fail "$_st_name: the daemon did not converge to --dry-run in $2 s (status: $(cat "$PW_TMP/status"), want $_st_counts)"
	diff -u "$PW_TMP/want.rules" "$PW_TMP/have.rules" | head -n 30 >&2
	diff -u "$PW_TMP/want.sets" "$PW_TMP/have.sets" | head -n 10 >&2
	tail -n 20 "$LOG" >&2
	return 1
}

# fault_after K: the fault after the K-th round of a phase (the daemon has
# applied the round by then). A watch failing for a transport error, a 5xx,
# a 429 or a 401 is reopened after a backoff that doubles with each failure
# (up to 30 s plus jitter) until two healthy minutes reset it, as client-go
# does: so each watch meets few of those in a phase, and the rest are
# faults after which it lists or watches again at once.
fault_after() {
	case $1 in
	0) fault '{"type":"watch-error-410"}' ;;
	1) fault '{"type":"drop-mid-event","path":"pods"}' ;;
	2) fault '{"type":"compact"}'
	   fault '{"type":"close-watches"}' ;;
	3) fault '{"type":"close-watches","clean":false,"path":"namespaces"}' ;;
	4) fault '{"type":"short-pages","count":10}'
	   fault '{"type":"expire-continue"}'
	   fault '{"type":"watch-error-410","path":"namespaces"}' ;;
	5) fault '{"type":"status","code":500,"count":1,"path":"networkpolicies"}'
	   fault '{"type":"close-watches","path":"networkpolicies"}' ;;
	6) kill -HUP "$DAEMON" ;;
	7) fault '{"type":"stall","path":"pods"}'
	   fault '{"type":"close-watches","path":"pods"}' ;;
	8) echo "secret-$1" >"$PW_TMP/token"
	   fault "{\"type\":\"rotate-token\",\"token\":\"secret-$1\"}"
	   fault '{"type":"close-watches"}' ;;
	9) fault '{"type":"status","code":429,"retry_after":1,"count":1,"path":"pods"}'
	   fault '{"type":"close-watches","path":"pods"}' ;;
	*) case $(($1 % 4)) in
	   0) fault '{"type":"watch-error-410"}' ;;
	   1) fault '{"type":"close-watches"}' ;;
	   2) fault '{"type":"compact"}'
	      fault '{"type":"close-watches"}' ;;
	   3) fault '{"type":"bookmark"}' ;;
	   esac ;;
	esac
}

# phase LIMIT: rounds from ROUND on until the server has sent EVENTS watch
# events (ADDED, MODIFIED, DELETED) since the phase began, each with a cali*
# link up during it, applied within LIMIT seconds, then a fault. The RSS is
# read at the first round end past 2000 events and at the last one.
phase() {
	PHASE=$ROUND RSS_2K="" RSS_END=""
	_ph_base=$(churn events) _ph_sent=0
	while [ "$_ph_sent" -lt "$EVENTS" ]; do
		_t0=$(date +%s%N)
		nx ip link add "calisoak$ROUND" type veth peer name "pwsoak$ROUND" 2>/dev/null
		churn rounds "$ROUND" $((ROUND + 1)) || { fail "round $ROUND: the churn failed"; return 1; }
		nx ip link del "calisoak$ROUND" 2>/dev/null
		settle "round $ROUND" "$1" || return 1
		nx curl -s -o /dev/null --max-time 10 http://127.0.0.1:9474/metrics ||
			fail "round $ROUND: GET /metrics"
		nx "$PWPROBE" probe --timeout-ms 10 udp:127.0.0.1:9 >/dev/null
		echo $((($(date +%s%N) - _t0) / 1000000)) >>"$PW_TMP/rounds.$PHASE"
		_ph_sent=$(($(churn events) - _ph_base))
		[ -z "$RSS_2K" ] && [ "$_ph_sent" -ge 2000 ] && RSS_2K=$(rss_kb) && RSS_2K_AT=$_ph_sent
		fault_after $((ROUND - PHASE))
		ROUND=$((ROUND + 1))
		[ $((ROUND - PHASE)) -le $((EVENTS / 250)) ] || { fail "round $ROUND: too few watch events"; return 1; }
	done
	RSS_END=$(rss_kb)
	PHASE_SENT=$_ph_sent
	PHASE_CHANGES=$(((ROUND - PHASE) * 500))
}

start_daemon() {	# start_daemon [WRAPPER...]
	(cd "$PW_TMP" && NOTIFY_SOCKET="$PW_NOTIFY_SOCKET" exec ip netns exec "$PW_NODE" "$@" \
		"$PODWALL" --config "$PW_TMP/podwall.yaml" --kubeconfig "$PW_TMP/kubeconfig" \
		--cni-cache-dir "$(cni_dir "$PW_NODE")" \
		--node-name edge-1 --log-level info --watch-stall-timeout 3 --resync-interval 5 \
		--deny-log-reader --metrics-address 127.0.0.1:9474 \
		--metrics-textfile "$PW_TMP/podwall.prom" >>"$LOG" 2>&1) &
	DAEMON=$!
	bg_track $DAEMON
}

# stop_daemon SECONDS: SIGTERM; the exit status in STOPPED.
stop_daemon() {
	kill -TERM "$DAEMON" 2>/dev/null
	_sd_i=0
	while kill -0 "$DAEMON" 2>/dev/null && [ $_sd_i -lt $(($1 * 10)) ]; do
		sleep 0.1; _sd_i=$((_sd_i + 1))
	done
	if kill -0 "$DAEMON" 2>/dev/null; then
		fail "the daemon did not stop within $1 s of SIGTERM"
		kill -9 "$DAEMON"
	fi
	wait "$DAEMON"
	STOPPED=$?
}

rss_kb() {
	awk '$1 == "VmRSS:" { print $2 }' "/proc/$DAEMON/status"
}

# round_times PHASE: how long its rounds took, sent to applied.
round_times() {
	sort -n "$PW_TMP/rounds.$1" | awk '{ t[NR] = $1; s += $1 }
		END { printf "rounds of 500 took %.1f s on average, %.1f s at most", s / NR / 1000, t[NR] / 1000 }'
}

# ------------------------------------------------- 1. natively: the RSS
churn setup || { fail "setup of the cluster"; finish; }
nx iptables-legacy -t mangle -A OUTPUT -o lo -p udp --dport 9 -j NFLOG --nflog-group 42 \
	--nflog-prefix "pw-deny egress soak/gone" || fail "the test's NFLOG rule"
ROUND=0
start_daemon
settle "native: initial list" 30 || finish
phase 60 || finish
echo "note: native: $PHASE_SENT watch events from $PHASE_CHANGES changes;" \
	"$(round_times "$PHASE");" \
	"RSS $RSS_2K kB after $RSS_2K_AT events, $RSS_END kB after $PHASE_SENT"
if [ -n "$SANITIZED" ]; then
	echo "note: podwall is built with sanitizers: its RSS is not compared"
elif [ $((RSS_END - RSS_2K)) -le "$RSS_SLACK_KB" ]; then
	pass "native: RSS after $PHASE_SENT events ($RSS_END kB) is within $RSS_SLACK_KB kB of after $RSS_2K_AT ($RSS_2K kB)"
else
	fail "native: RSS grew from $RSS_2K kB after $RSS_2K_AT events to $RSS_END kB after $PHASE_SENT"
fi
stop_daemon 30
if [ "$STOPPED" = 0 ]; then
	pass "native: the daemon ran $PHASE_SENT watch events and exited 0 on SIGTERM${SANITIZED:+ (LeakSanitizer found no leak)}"
else
	fail "native: the daemon's exit status was $STOPPED"
	grep -A 12 'ERROR: LeakSanitizer\|ERROR: AddressSanitizer\|runtime error' "$LOG" | head -n 60 >&2
fi
if grep -q 'denied egress udp 127.0.0.1:[0-9]* -> 127.0.0.1:9 from soak/gone' "$LOG" &&
   [ -s "$PW_TMP/podwall.prom" ]; then
	pass "native: denied packets read from NFLOG all along, the textfile written"
else
	fail "native: no denied-packet line or no textfile: $(grep denied "$LOG" | tail -n 2)"
fi
if [ -n "$SANITIZED" ]; then
	echo "note: podwall is built with sanitizers: the valgrind phase is left out"
	echo "note: valgrind-daemon.sh took $(($(date +%s) - begin)) s"
	e2e_cleanup
	check_no_leftovers
	finish
fi

# ---------------------------------------------- 2. under valgrind: leaks
: >"$PW_TMP/status"
vg_start=$(date +%s)
start_daemon valgrind --log-file="$VGLOG" --error-exitcode=99 --track-fds=yes \
	--suppressions="$srcdir/tests/valgrind.supp" \
	--leak-check=full --show-leak-kinds=definite,indirect \
	--errors-for-leak-kinds=definite,indirect --num-callers=30
settle "valgrind: restart" 60 || { sed 's/^/    /' "$VGLOG" | tail -n 40 >&2; finish; }
PHASE_SENT=0 PHASE_CHANGES=0
phase 90
stop_daemon 60
echo "note: valgrind: $PHASE_SENT watch events from $PHASE_CHANGES changes, in $(($(date +%s) - vg_start)) s;" \
	"$(round_times "$PHASE");" \
	"valgrind's RSS ${RSS_2K:-?} kB after ${RSS_2K_AT:-?} events, ${RSS_END:-?} kB after $PHASE_SENT;" \
	"$(grep -c ' apply in ' "$LOG") applies and $(grep -c '; committed$' "$LOG") commits in both runs"
grep -E 'in use at exit|total heap usage|definitely lost|indirectly lost|ERROR SUMMARY|FILE DESCRIPTORS' \
	"$VGLOG" | sed 's/^==[0-9]*== */note: valgrind: /'
if [ "$STOPPED" = 0 ] && grep -q 'ERROR SUMMARY: 0 errors' "$VGLOG"; then
	pass "valgrind: no memory error and nothing definitely or indirectly lost over $PHASE_SENT watch events"
else
	fail "valgrind: exit status $STOPPED:"
	grep -v '^==[0-9]*== *$' "$VGLOG" | sed -n '/HEAP SUMMARY/,$p;/Invalid\|uninitialised\|lost in/,+12p' |
		head -n 80 >&2
fi
if grep -qE 'definitely lost: [1-9]|indirectly lost: [1-9]' "$VGLOG"; then
	fail "valgrind: memory was lost"
fi
# Descriptors the daemon opened itself and left open: valgrind prints where
# each was opened; those it inherited (the standard streams, the test
# harness's, valgrind's log) say "<inherited from parent>".
awk '/Open .*(descriptor|socket) [0-9]+:/ { fd = $0; next }
     fd != "" && /inherited from parent/ { fd = ""; next }
     fd != "" && /at 0x|by 0x/ { print fd; fd = "" }' "$VGLOG" |
	sed 's/^==[0-9]*== *//' >"$PW_TMP/fds"
if grep -q 'FILE DESCRIPTORS' "$VGLOG" && [ ! -s "$PW_TMP/fds" ]; then
	pass "valgrind: the daemon left no descriptor of its own open at exit"
else
	fail "valgrind: descriptors the daemon opened are still open at exit:"
	sed 's/^/    /' "$PW_TMP/fds" >&2
fi

echo "note: valgrind-daemon.sh took $(($(date +%s) - begin)) s"
e2e_cleanup
check_no_leftovers
finish
