#!/bin/sh
# The xtables lock under contention, in one node namespace for
# PW_LOCK_SECONDS (default 60): the daemon under policy churn (policies of
# x/a changed, added and deleted PW_LOCK_RATE times a second, default 10,
# each one a commit), beside a kube-proxy-like loop of iptables-restore
# --noflush -w (a few hundred rules in nat and filter, different every
# round, stale chains deleted) that checks its jumps are all there as
# kube-proxy does, and a loop inserting and deleting a rule of a chain of
# its own with iptables -w. All three take the same (private) lock file.
# Then: no failed commit of podwall's, every iteration of each loop
# succeeded, kube-proxy's chains are exactly as last written and its jumps
# as it put them, the insert loop's rule is there as its last step left it,
# podwall's chains and sets are what --dry-run says of the final objects
# with its jumps first, and packets obey the final policies (probed during
# the churn too).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$srcdir/tests/netns.sh"
e2e_requirements "e2e-lock.sh"
for tool in python3 openssl; do
	command -v $tool >/dev/null 2>&1 || { echo "SKIP: e2e-lock.sh: $tool not installed"; exit 77; }
done

SECONDS_RUN=${PW_LOCK_SECONDS:-60}
RATE=${PW_LOCK_RATE:-10}
begin=$(date +%s)
CERTS="$PW_TMP/certs"
LOG="$PW_TMP/podwall.log"
mkdir "$CERTS"
# Every iptables of this test and the daemon wait on this one file, never
# on the machine's /run/xtables.lock.
XTABLES_LOCKFILE="$PW_TMP/xtables.lock"
export XTABLES_LOCKFILE
python3 "$srcdir/tests/fake-apiserver.py" make-certs "$CERTS" >/dev/null 2>&1 ||
	{ fail "fake-apiserver.py make-certs"; finish; }

node_up || { fail "node_up"; finish; }
pod_up x a 198.18.50.1 tcp:80 &&
pod_up x b 198.18.50.2 tcp:80 &&
pod_up y a 198.18.51.1 tcp:80 || { fail "pod_up"; finish; }

nx python3 "$srcdir/tests/fake-apiserver.py" --port 0 --control-port 0 \
	--tls-dir "$CERTS" --token secret-1 --seed 5 --history 100000 \
	--bookmark-interval 2 --max-lifetime 1200 >"$PW_TMP/fake.out" 2>"$PW_TMP/fake.err" &
bg_track $!
i=0
while ! grep -q '^READY' "$PW_TMP/fake.out" 2>/dev/null && [ $i -lt 100 ]; do
	sleep 0.1; i=$((i + 1))
done
read -r _ API CTL <"$PW_TMP/fake.out" || { fail "fake API server did not start: $(cat "$PW_TMP/fake.err")"; finish; }
echo secret-1 >"$PW_TMP/token"
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
: >"$PW_TMP/podwall.yaml"

churn() {
	nx python3 "$srcdir/tests/churn.py" --control "$CTL" "$@"
}

# post JSON...: objects to the server, one batch.
post() {
	printf '[%s]' "$(IFS=,; echo "$*")" >"$PW_TMP/post.json"
	churn post "$PW_TMP/post.json" || fail "POST $*"
}

ns_json() {
	printf '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"%s"}}' "$1"
}

pod_json() {	# NS NAME IP
	printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"%s","namespace":"%s","labels":{"pod":"%s"}},' "$2" "$1" "$2"
	printf '"spec":{"nodeName":"edge-1","containers":[{"name":"c","image":"registry.example/agnhost:1",'
	printf '"ports":[{"name":"serve-80","containerPort":80}]}]},'
	printf '"status":{"phase":"Running","podIP":"%s","podIPs":[{"ip":"%s"}]}}' "$3" "$3"
}

np_json() {	# NS NAME SPEC
	printf '{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"%s","namespace":"%s"},"spec":%s}' "$2" "$1" "$3"
}

# ------------------------------------------------- kube-proxy's side
# kube_proxy_rules ROUND: what a kube-proxy sync writes with
# iptables-restore --noflush: 40 to 75 services (chains for the others
# declared and deleted, as kube-proxy removes stale ones), their DNAT
# targets and node ports different every round.
kube_proxy_rules() {
	awk -v round="$1" 'BEGIN {
		n = 40 + (round % 8) * 5; max = 75
		print "*nat"
		print ":KUBE-SERVICES - [0:0]"
		print ":KUBE-NODEPORTS - [0:0]"
		print ":KUBE-POSTROUTING - [0:0]"
		print ":KUBE-MARK-MASQ - [0:0]"
		for (s = 0; s < max; s++) { print ":KUBE-SVC-LOCK" s " - [0:0]"; print ":KUBE-SEP-LOCK" s " - [0:0]" }
		print "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN"
		print "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0"
		print "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE"
		print "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000"
		for (s = 0; s < n; s++) {
			vip = "198.19.200." (s + 1); ep = "198.18.60." (s + 1)
			name = "lock/svc-" s ":http"
			printf "-A KUBE-SERVICES -d %s/32 -p tcp -m comment --comment \"%s cluster IP\" -m tcp --dport 80 -j KUBE-SVC-LOCK%d\n", vip, name, s
			printf "-A KUBE-SVC-LOCK%d ! -s 198.18.0.0/16 -d %s/32 -p tcp -m comment --comment \"%s cluster IP\" -m tcp --dport 80 -j KUBE-MARK-MASQ\n", s, vip, name
			printf "-A KUBE-SVC-LOCK%d -m comment --comment \"%s -> %s:%d\" -j KUBE-SEP-LOCK%d\n", s, name, ep, 8000 + round % 1000, s
			printf "-A KUBE-SEP-LOCK%d -s %s/32 -m comment --comment \"%s\" -j KUBE-MARK-MASQ\n", s, ep, name
			printf "-A KUBE-SEP-LOCK%d -p tcp -m comment --comment \"%s\" -m tcp -j DNAT --to-destination %s:%d\n", s, name, ep, 8000 + round % 1000
		}
		print "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS"
		for (s = n; s < max; s++) { print "-X KUBE-SVC-LOCK" s; print "-X KUBE-SEP-LOCK" s }
		print "COMMIT"
		print "*filter"
		print ":KUBE-SERVICES - [0:0]"
		print ":KUBE-EXTERNAL-SERVICES - [0:0]"
		print ":KUBE-FORWARD - [0:0]"
		print ":KUBE-NODEPORTS - [0:0]"
		print ":KUBE-PROXY-FIREWALL - [0:0]"
		print "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP"
		print "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark 0x4000/0x4000 -j ACCEPT"
		print "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
		for (s = 0; s < n; s++) {
			vip = "198.19.200." (s + 1); name = "lock/svc-" s ":http"
			if ((s + round) % 3 == 0)
				printf "-A KUBE-SERVICES -d %s/32 -p tcp -m comment --comment \"%s has no endpoints\" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable\n", vip, name
			printf "-A KUBE-NODEPORTS -p tcp -m comment --comment \"%s health check node port\" -m tcp --dport %d -j ACCEPT\n", name, 30000 + (s * 7 + round) % 2000
			if ((s + round) % 5 == 0)
				printf "-A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment \"%s has no local endpoints\" -m addrtype --dst-type LOCAL -m tcp --dport %d -j DROP\n", name, 31000 + s
		}
		print "COMMIT"
	}'
}

# kube-proxy's jumps, put in once before anything else as its EnsureRule
# does (prepended); every round of its loop checks them with -C.
KP_JUMPS="filter INPUT -m conntrack --ctstate NEW -m comment --comment kube-ext -j KUBE-EXTERNAL-SERVICES
filter INPUT -m comment --comment kube-np -j KUBE-NODEPORTS
filter FORWARD -m conntrack --ctstate NEW -m comment --comment kube-fw -j KUBE-PROXY-FIREWALL
filter FORWARD -m comment --comment kube-fwd -j KUBE-FORWARD
filter FORWARD -m conntrack --ctstate NEW -m comment --comment kube-svc -j KUBE-SERVICES
filter OUTPUT -m conntrack --ctstate NEW -m comment --comment kube-svc -j KUBE-SERVICES
nat PREROUTING -m comment --comment kube-svc -j KUBE-SERVICES
nat OUTPUT -m comment --comment kube-svc -j KUBE-SERVICES
nat POSTROUTING -m comment --comment kube-post -j KUBE-POSTROUTING"

kube_proxy_rules 0 >"$PW_TMP/kp.0"
nx iptables-legacy-restore --noflush -w 5 <"$PW_TMP/kp.0" 2>"$PW_TMP/err" ||
	{ echo "SKIP: e2e-lock.sh: kube-proxy's rules do not load here: $(cat "$PW_TMP/err")"; exit 77; }
echo "$KP_JUMPS" | while read -r table chain rule; do
	# shellcheck disable=SC2086
	nx iptables-legacy -w -t "$table" -I "$chain" 1 $rule || echo "$table $chain $rule" >>"$PW_TMP/jumps.err"
done
[ -s "$PW_TMP/jumps.err" ] && { fail "kube-proxy's jumps: $(cat "$PW_TMP/jumps.err")"; finish; }

# kube-proxy's jumps in the built-in chains, in order.
kube_jumps() {
	for table in filter nat; do
		nx iptables-legacy-save -t $table | grep -E '^-A [A-Z]+ .*-j KUBE-' | sed "s/^/$table /"
	done
}
kube_jumps >"$PW_TMP/jumps.pristine"

# kube_proxy_loop END: a sync a round until END (seconds since the epoch).
kube_proxy_loop() {
	_kp_i=0 _kp_fail=0 _kp_lost=0
	while [ "$(date +%s)" -lt "$1" ]; do
		_kp_i=$((_kp_i + 1))
		kube_proxy_rules $_kp_i >"$PW_TMP/kp.next"
		if nx iptables-legacy-restore --noflush -w 5 <"$PW_TMP/kp.next" 2>"$PW_TMP/kp.err"; then
			mv "$PW_TMP/kp.next" "$PW_TMP/kp.last"
		else
			_kp_fail=$((_kp_fail + 1))
			echo "round $_kp_i: $(head -c 300 "$PW_TMP/kp.err")" >>"$PW_TMP/kp.failures"
		fi
		# Two of its jumps checked as kube-proxy's EnsureRule does.
		for _kp_j in 4 7; do
			echo "$KP_JUMPS" | sed -n "${_kp_j}p" >"$PW_TMP/kp.jump"
			read -r _kp_t _kp_c _kp_r <"$PW_TMP/kp.jump"
			# shellcheck disable=SC2086
			nx iptables-legacy -w -t "$_kp_t" -C "$_kp_c" $_kp_r 2>>"$PW_TMP/kp.failures" || {
				_kp_lost=$((_kp_lost + 1))
				echo "round $_kp_i: lost $_kp_t $_kp_c $_kp_r" >>"$PW_TMP/kp.failures"
			}
		done
	done
	echo "$_kp_i $_kp_fail $_kp_lost" >"$PW_TMP/kp.count"
}

# insert_loop END: insert then delete a rule of a chain of its own; the last
# step done is in ins.last.
INS_RULE="-s 198.18.77.1/32 -p tcp -m tcp --dport 9 -j RETURN"
insert_loop() {
	_in_i=0 _in_fail=0
	while [ "$(date +%s)" -lt "$1" ]; do
		_in_i=$((_in_i + 1))
		if [ $((_in_i % 2)) = 1 ]; then _in_op="-I PWLOCK-INS 1"; else _in_op="-D PWLOCK-INS"; fi
		# shellcheck disable=SC2086
		if nx iptables-legacy -w $_in_op $INS_RULE 2>>"$PW_TMP/ins.failures"; then
			echo "$_in_op" >"$PW_TMP/ins.last"
		else
			_in_fail=$((_in_fail + 1))
			echo "step $_in_i ($_in_op) failed" >>"$PW_TMP/ins.failures"
		fi
	done
	echo "$_in_i $_in_fail" >"$PW_TMP/ins.count"
}
nx iptables-legacy -w -N PWLOCK-INS
nx iptables-legacy -w -A PWLOCK-INS -s 198.18.77.2/32 -j RETURN

# ------------------------------------------------- podwall's side
post "$(ns_json x)" "$(ns_json y)" "$(pod_json x a 198.18.50.1)" \
	"$(pod_json x b 198.18.50.2)" "$(pod_json y a 198.18.51.1)" \
	"$(np_json x deny '{"podSelector":{}}')" \
	"$(np_json x from-y '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"y"}}}],"ports":[{"port":80,"protocol":"TCP"}]}]}')"
expect_reset
expect_ingress x/a false
expect_ingress x/b false
expect_peer y/a x/a true tcp:80

(cd "$PW_TMP" && exec ip netns exec "$PW_NODE" "$PODWALL" --config "$PW_TMP/podwall.yaml" \
	--cni-cache-dir "$(cni_dir "$PW_NODE")" \
	--kubeconfig "$PW_TMP/kubeconfig" --node-name edge-1 --log-level info \
	--resync-interval 5 >>"$LOG" 2>&1) &
DAEMON=$!
bg_track $DAEMON

# podwall's part of the filter table and its sets.
pw_state() {
	grep -E '^:pw-|^-A pw-' | normalise_save
}

# converged NAME: podwall's chains and sets are what --dry-run says of the
# server's objects, within 15 s.
converged() {
	churn dump "$PW_TMP/objects.json" >/dev/null || { fail "$1: dump"; return 1; }
	podwall_in "$PW_NODE" --config "$PW_TMP/podwall.yaml" --dry-run --node-name edge-1 \
		-f "$PW_TMP/objects.json" | pw_state >"$PW_TMP/want.rules"
	podwall_in "$PW_NODE" --config "$PW_TMP/podwall.yaml" --dry-run=ipset --node-name edge-1 \
		-f "$PW_TMP/objects.json" | grep '^add ' | sort >"$PW_TMP/want.sets"
	_cv_i=0
	while [ $_cv_i -lt 75 ]; do
		nx iptables-legacy-save -t filter | pw_state >"$PW_TMP/have.rules"
		nx ipset save | grep '^add pw-' | sort >"$PW_TMP/have.sets"
		if cmp -s "$PW_TMP/want.rules" "$PW_TMP/have.rules" &&
		   cmp -s "$PW_TMP/want.sets" "$PW_TMP/have.sets"; then
			pass "$1: podwall's chains and sets are what --dry-run says of the server's objects"
			return 0
		fi
		sleep 0.2
		_cv_i=$((_cv_i + 1))
	done
	fail "$1: podwall's chains or sets differ from --dry-run:"
	diff -u "$PW_TMP/want.rules" "$PW_TMP/have.rules" | head -n 30 >&2
	diff -u "$PW_TMP/want.sets" "$PW_TMP/have.sets" | head -n 10 >&2
	return 1
}

check_jumps_first() {
	for chain in INPUT FORWARD OUTPUT; do
		first=$(nx iptables-legacy -w -S $chain | sed -n 2p)
		n=$(nx iptables-legacy -w -S $chain | grep -c -- "-j pw-$chain\$")
		if [ "$first" = "$(pw_jump $chain)" ] && [ "$n" = 1 ]; then
			pass "$1: pw-$chain is first in $chain, once"
		else
			fail "$1: $chain begins with '$first' ($n jumps to pw-$chain)"
		fi
	done
}

converged "before the contention" || { tail -n 20 "$LOG" >&2; finish; }
check_jumps_first "before the contention"
verify "before the contention: the base policies hold" tcp:80

# ------------------------------------------------- the contention
commits_before=$(grep -c '; committed$' "$LOG")
end=$(($(date +%s) + SECONDS_RUN))
kube_proxy_loop "$end" &
bg_track $!
kp_pid=$!
insert_loop "$end" &
bg_track $!
ins_pid=$!
churn policies "$SECONDS_RUN" "$RATE" >"$PW_TMP/churn.out" 2>"$PW_TMP/churn.err" &
bg_track $!
churn_pid=$!
# Halfway, the verdicts (the churned policies allow nothing more).
sleep $((SECONDS_RUN / 2))
verify "during the contention: the base policies hold" tcp:80
wait $kp_pid $ins_pid
wait $churn_pid || fail "the policy churn failed: $(cat "$PW_TMP/churn.err")"

# ------------------------------------------------- the checks
read -r kp_rounds kp_fail kp_lost <"$PW_TMP/kp.count"
read -r ins_steps ins_fail <"$PW_TMP/ins.count"
changes=$(awk '$1 == "changes" { print $2 }' "$PW_TMP/churn.out")
converged "after the contention"
commits=$(($(grep -c '; committed$' "$LOG") - commits_before))
awk '/ apply in | resync in / { sub(/.* in /, ""); print $1 + 0 }' "$LOG" | sort -n >"$PW_TMP/apply.ms"
napply=$(wc -l <"$PW_TMP/apply.ms")
echo "note: $SECONDS_RUN s: $kp_rounds kube-proxy restores, $ins_steps inserts and deletes," \
	"$changes policy changes, $commits podwall commits ($(grep -c ' resync in ' "$LOG") resyncs);" \
	"podwall's apply times (the lock wait included): median $(sed -n "$(((napply + 1) / 2))p" "$PW_TMP/apply.ms") ms," \
	"p99 $(sed -n "$(((napply * 99 + 99) / 100))p" "$PW_TMP/apply.ms") ms, max $(tail -n 1 "$PW_TMP/apply.ms") ms"

if grep -q 'programming the kernel' "$LOG"; then
	fail "podwall failed to commit under contention:"
	grep 'programming the kernel' "$LOG" | head -n 10 >&2
else
	pass "podwall: no failed commit among $commits commits beside the loops"
fi
# Each policy change rewrites a chain: as many commits, but for batching.
[ "$commits" -ge $((changes / 2)) ] ||
	fail "podwall committed only $commits times for $changes policy changes"
kill -0 "$DAEMON" 2>/dev/null || fail "the daemon is no longer running"
if [ "$kp_fail" = 0 ] && [ "$kp_lost" = 0 ] && [ "$kp_rounds" -gt 0 ]; then
	pass "kube-proxy: all $kp_rounds restores committed and its jumps were there every round"
else
	fail "kube-proxy: $kp_fail of $kp_rounds restores failed, $kp_lost jump checks missed:"
	head -n 10 "$PW_TMP/kp.failures" >&2
fi
if [ "$ins_fail" = 0 ] && [ "$ins_steps" -gt 0 ]; then
	pass "insert loop: all $ins_steps inserts and deletes committed"
else
	fail "insert loop: $ins_fail of $ins_steps steps failed:"
	head -n 10 "$PW_TMP/ins.failures" >&2
fi

# kube-proxy's chains are exactly what its last restore wrote: the same
# restore alone in a fresh namespace is the reference.
kube_chains() {
	for table in nat filter; do
		echo "*$table"
		ip netns exec "$1" iptables-legacy-save -t $table | normalise_save | grep -E '^:KUBE-|^-A KUBE-'
	done
}
netns_add "${PW_RUN}ref" || fail "reference namespace"
ip netns exec "${PW_RUN}ref" iptables-legacy-restore --noflush -w 5 <"$PW_TMP/kp.last" ||
	fail "the last kube-proxy restore does not load on its own"
kube_chains "${PW_RUN}ref" >"$PW_TMP/kube.want"
kube_chains "$PW_NODE" >"$PW_TMP/kube.have"
if cmp -s "$PW_TMP/kube.want" "$PW_TMP/kube.have"; then
	pass "kube-proxy's chains are exactly as its last restore wrote them ($(grep -c '^-A' "$PW_TMP/kube.want") rules)"
else
	fail "kube-proxy's chains differ from its last restore:"
	diff -u "$PW_TMP/kube.want" "$PW_TMP/kube.have" | head -n 30 >&2
fi
kube_jumps >"$PW_TMP/jumps.now"
if cmp -s "$PW_TMP/jumps.pristine" "$PW_TMP/jumps.now"; then
	pass "kube-proxy's $(wc -l <"$PW_TMP/jumps.now") jumps are as it put them, in order"
else
	fail "kube-proxy's jumps changed:"
	diff -u "$PW_TMP/jumps.pristine" "$PW_TMP/jumps.now" >&2
fi

# The insert loop's rule: present after an insert, absent after a delete;
# the chain's first rule is kept either way.
ins_rules=$(nx iptables-legacy -w -S PWLOCK-INS | grep -c -- "-s 198.18.77.1/32")
case $(cat "$PW_TMP/ins.last") in
"-I"*) want=1 ;;
*) want=0 ;;
esac
if [ "$ins_rules" = "$want" ] && nx iptables-legacy -w -C PWLOCK-INS -s 198.18.77.2/32 -j RETURN; then
	pass "insert loop: its rule is there $want time(s), as its last step ($(cat "$PW_TMP/ins.last")) left it"
else
	fail "insert loop: its rule is there $ins_rules time(s) after '$(cat "$PW_TMP/ins.last")'"
fi

check_jumps_first "after the contention"
verify "after the contention: the base policies hold" tcp:80

echo "note: e2e-lock.sh took $(($(date +%s) - begin)) s"
kill -TERM "$DAEMON"
wait "$DAEMON"
e2e_cleanup
check_no_leftovers
finish
