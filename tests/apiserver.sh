# The daemon against the fake API server, for the packet tests that drive
# it. Source it after tests/lib.sh and tests/netns.sh, once node_up has run.
#
#   apiserver_up [FAKE-ARG]...  the fake server in the node namespace, a
#                               kubeconfig for it, an empty podwall.yaml
#   fault JSON                  a fault for the fake to inject
#   namespace / pod / policy    an object to the server and to the -f mirror
#   del KIND NS NAME            an object deleted from both
#   want_state                  what --dry-run says of the mirror, once
#   converge NAME [TENTHS]      waits until the kernel holds want_state
#   start_daemon [ARG]...       podwall following the server (DAEMON, LOG)
#   stop_daemon / kill_daemon   SIGTERM and wait, or SIGKILL
#
# The xtables lock is a file of the test's own, so that the machine's
# iptables never waits on it.
#
# With PW_TOPOLOGY=flannel there is a daemon on edge-2 as well (DAEMON2,
# LOG2, a lock file of its own), started, stopped and killed with the one
# on edge-1, reaching the same server through relays (apiserver_relay);
# converge waits for both nodes, each against --dry-run under its name.
#
# With PW_FAMILY=dual a pod's podIPs hold both its addresses (IP as pod_up
# takes it: "IPV4", "IPV4,IPV6", an IPv6 address, PW_POD_FAMILY), and the
# kernel is compared with --dry-run=ip6tables for the IPv6 table too.

M="$PW_TMP/objects"		# the server's objects, as podwall -f reads them
LOG="$PW_TMP/podwall.log"
LOG2="$PW_TMP/podwall-$PW_NODE2_NAME.log"
DAEMON2=""
XTABLES_LOCKFILE="$PW_TMP/xtables.lock"
export XTABLES_LOCKFILE

apiserver_requirements() {
	for tool in python3 openssl curl; do
		command -v $tool >/dev/null 2>&1 || { echo "SKIP: $1: $tool not installed"; exit 77; }
	done
}

apiserver_up() {
	mkdir -p "$M" "$PW_TMP/certs" || return 1
	python3 "$srcdir/tests/fake-apiserver.py" make-certs "$PW_TMP/certs" >/dev/null 2>&1 || {
		echo "fake-apiserver.py make-certs failed" >&2
		return 1
	}
	echo secret-1 >"$PW_TMP/token"
	nx python3 "$srcdir/tests/fake-apiserver.py" --port 0 --control-port 0 \
		--tls-dir "$PW_TMP/certs" --token secret-1 --seed 7 \
		--bookmark-interval 2 --max-lifetime 600 "$@" \
		>"$PW_TMP/fake.out" 2>"$PW_TMP/fake.err" &
	bg_track $!
	_au_i=0
	while ! grep -q '^READY' "$PW_TMP/fake.out" 2>/dev/null && [ $_au_i -lt 100 ]; do
		sleep 0.1; _au_i=$((_au_i + 1))
	done
	read -r _ API CTL <"$PW_TMP/fake.out" || {
		echo "the fake API server did not start: $(cat "$PW_TMP/fake.err")" >&2
		return 1
	}
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
	[ -z "$PW_NODE2" ] || apiserver_relay
}

# The server listens on edge-1's loopback and its certificate names
# 127.0.0.1: edge-2's daemon connects to 127.0.0.1:API in edge-2, where a
# relay takes it over the underlay to a relay on edge-1's underlay address,
# which connects to the server. Both relays end with their namespaces.
apiserver_relay() {
	cat >"$PW_TMP/relay.py" <<'EOT'
import socket, sys, threading
lhost, lport, thost, tport = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((lhost, lport))
ls.listen(64)
print("READY", flush=True)

def pump(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    # One side gone: both connections end (HTTP clients do not half-close).
    for x in (a, b):
        try:
            x.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

def serve(c):
    try:
        u = socket.create_connection((thost, tport))
    except OSError:
        c.close()
        return
    t = threading.Thread(target=pump, args=(u, c), daemon=True)
    t.start()
    pump(c, u)
    t.join()
    c.close()
    u.close()

while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOT
	nx python3 "$PW_TMP/relay.py" "$PW_NODE_IP" "$API" 127.0.0.1 "$API" \
		>"$PW_TMP/relay1.out" 2>"$PW_TMP/relay1.err" &
	bg_track $!
	ip netns exec "$PW_NODE2" python3 "$PW_TMP/relay.py" 127.0.0.1 "$API" "$PW_NODE_IP" "$API" \
		>"$PW_TMP/relay2.out" 2>"$PW_TMP/relay2.err" &
	bg_track $!
	_ar_i=0
	while ! { grep -q '^READY' "$PW_TMP/relay1.out" && grep -q '^READY' "$PW_TMP/relay2.out"; } 2>/dev/null &&
	      [ $_ar_i -lt 100 ]; do
		sleep 0.1; _ar_i=$((_ar_i + 1))
	done
	grep -q '^READY' "$PW_TMP/relay1.out" && grep -q '^READY' "$PW_TMP/relay2.out" || {
		echo "the relays to the fake API server did not start: $(cat "$PW_TMP/relay1.err" "$PW_TMP/relay2.err")" >&2
		return 1
	}
}

ctl() {
	_c_method=$1 _c_path=$2
	shift 2
	nx curl -s -f -X "$_c_method" "$@" "http://127.0.0.1:$CTL$_c_path" >/dev/null
}

# put FILE.json: the object goes to the server and to the -f mirror.
put() {
	cp "$1" "$M/" && ctl POST /objects --data-binary @"$1" || fail "POST $(basename "$1")"
}

fault() {
	ctl POST /faults --data-binary "$1" || fail "fault $1"
}

# del KIND NS NAME (NS "-" for a Namespace)
del() {
	rm -f "$M/$1-$2-$3.json"
	ctl DELETE "/objects/$1/$2/$3" || fail "DELETE $1/$2/$3"
}

namespace() {	# namespace NAME LABELS-JSON
	printf '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"%s","labels":%s}}\n' \
		"$1" "$2" >"$PW_TMP/Namespace--$1.json"
	put "$PW_TMP/Namespace--$1.json"
}

# pod_ips_json IP: '"podIP":"...","podIPs":[...]' for pod_up's IP argument.
pod_ips_json() {
	pod_addrs "$1" || return 1
	_pj_first=${PA4:-$PA6}
	_pj_ips="{\"ip\":\"$_pj_first\"}"
	[ -z "$PA4" ] || [ -z "$PA6" ] || _pj_ips="$_pj_ips,{\"ip\":\"$PA6\"}"
	printf '"podIP":"%s","podIPs":[%s]' "$_pj_first" "$_pj_ips"
}

pod() {		# pod NS NAME IP LABELS-JSON: a running pod on edge-1
	_po_ips=$(pod_ips_json "$3") || { fail "pod $1/$2: address $3"; return 1; }
	cat >"$PW_TMP/Pod-$1-$2.json" <<EOT
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"$2","namespace":"$1","labels":$4},
 "spec":{"nodeName":"edge-1","containers":[{"name":"c","image":"registry.example/agnhost:1",
  "ports":[{"name":"serve-80-tcp","containerPort":80,"protocol":"TCP"},
           {"name":"serve-80-udp","containerPort":80,"protocol":"UDP"}]}]},
 "status":{"phase":"Running",$_po_ips}}
EOT
	put "$PW_TMP/Pod-$1-$2.json"
}

policy() {	# policy NS NAME SPEC-JSON
	printf '{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"%s","namespace":"%s"},"spec":%s}\n' \
		"$2" "$1" "$3" >"$PW_TMP/NetworkPolicy-$1-$2.json"
	put "$PW_TMP/NetworkPolicy-$1-$2.json"
}

# What --dry-run says of the mirror in each node's namespace, where it sees
# the node's pods as the daemon does: want.rules and want.sets (and, with
# flannel, want2.* for edge-2); with PW_FAMILY=dual the IPv6 table too,
# want6.rules (want26.rules), and the sets of both families.
want_state() {
	podwall_in "$PW_NODE" --config "$PW_TMP/podwall.yaml" --dry-run --node-name edge-1 \
		-f "$M" | normalise_save >"$PW_TMP/want.rules"
	podwall_in "$PW_NODE" --config "$PW_TMP/podwall.yaml" --dry-run=ipset --node-name edge-1 \
		-f "$M" | grep '^add ' | sort >"$PW_TMP/want.sets"
	[ "$PW_FAMILY" != dual ] ||
		podwall_in "$PW_NODE" --config "$PW_TMP/podwall.yaml" --dry-run=ip6tables \
			--node-name edge-1 -f "$M" | normalise_save >"$PW_TMP/want6.rules"
	[ -n "$PW_NODE2" ] || return 0
	podwall_in "$PW_NODE2" --config "$PW_TMP/podwall.yaml" --dry-run \
		--node-name "$PW_NODE2_NAME" -f "$M" | normalise_save >"$PW_TMP/want2.rules"
	podwall_in "$PW_NODE2" --config "$PW_TMP/podwall.yaml" --dry-run=ipset \
		--node-name "$PW_NODE2_NAME" -f "$M" | grep '^add ' | sort >"$PW_TMP/want2.sets"
	[ "$PW_FAMILY" != dual ] ||
		podwall_in "$PW_NODE2" --config "$PW_TMP/podwall.yaml" --dry-run=ip6tables \
			--node-name "$PW_NODE2_NAME" -f "$M" | normalise_save >"$PW_TMP/want26.rules"
}

# True when the kernel holds want.rules and want.sets (and edge-2 want2.*;
# with PW_FAMILY=dual the IPv6 tables want6.rules and want26.rules).
kernel_is_wanted() {
	node_filter_save | normalise_save >"$PW_TMP/have.rules"
	nx ipset save | grep '^add pw-' | sort >"$PW_TMP/have.sets"
	cmp -s "$PW_TMP/want.rules" "$PW_TMP/have.rules" &&
		cmp -s "$PW_TMP/want.sets" "$PW_TMP/have.sets" || return 1
	if [ "$PW_FAMILY" = dual ]; then
		node_filter_save6 | normalise_save >"$PW_TMP/have6.rules"
		cmp -s "$PW_TMP/want6.rules" "$PW_TMP/have6.rules" || return 1
	fi
	[ -n "$PW_NODE2" ] || return 0
	node_filter_save "$PW_NODE2" | normalise_save >"$PW_TMP/have2.rules"
	ip netns exec "$PW_NODE2" ipset save | grep '^add pw-' | sort >"$PW_TMP/have2.sets"
	cmp -s "$PW_TMP/want2.rules" "$PW_TMP/have2.rules" &&
		cmp -s "$PW_TMP/want2.sets" "$PW_TMP/have2.sets" || return 1
	[ "$PW_FAMILY" = dual ] || return 0
	node_filter_save6 "$PW_NODE2" | normalise_save >"$PW_TMP/have26.rules"
	cmp -s "$PW_TMP/want26.rules" "$PW_TMP/have26.rules"
}

# converge NAME [TENTHS]: waits (default 15 s) until the kernel holds what
# --dry-run says of the server's objects.
converge() {
	_cv_name=$1 _cv_max=${2:-150} _cv_i=0
	want_state
	while [ $_cv_i -lt "$_cv_max" ]; do
		if kernel_is_wanted; then
			pass "$_cv_name: converged in $((_cv_i / 10)).$((_cv_i % 10)) s"
			return 0
		fi
		sleep 0.1
		_cv_i=$((_cv_i + 1))
	done
	fail "$_cv_name: the kernel did not converge to --dry-run in $((_cv_max / 10)) s"
	diff -u "$PW_TMP/want.rules" "$PW_TMP/have.rules" | head -n 30 >&2
	diff -u "$PW_TMP/want.sets" "$PW_TMP/have.sets" | head -n 10 >&2
	[ ! -e "$PW_TMP/have6.rules" ] || diff -u "$PW_TMP/want6.rules" "$PW_TMP/have6.rules" | head -n 30 >&2
	tail -n 20 "$LOG" >&2
	if [ -n "$PW_NODE2" ] && [ -e "$PW_TMP/have2.rules" ]; then
		echo "    $PW_NODE2_NAME:" >&2
		diff -u "$PW_TMP/want2.rules" "$PW_TMP/have2.rules" | head -n 30 >&2
		diff -u "$PW_TMP/want2.sets" "$PW_TMP/have2.sets" | head -n 10 >&2
		[ ! -e "$PW_TMP/have26.rules" ] ||
			diff -u "$PW_TMP/want26.rules" "$PW_TMP/have26.rules" | head -n 30 >&2
		tail -n 20 "$LOG2" >&2
	fi
	return 1
}

# start_daemon [ARG]...: the daemon in the node namespace, logging at info
# (with flannel, edge-2's as well).
start_daemon() {
	PW_MANIFESTS=$M
	(cd "$PW_TMP" && NOTIFY_SOCKET=${PW_NOTIFY_SOCKET:-} &&
		export NOTIFY_SOCKET &&
		exec ip netns exec "$PW_NODE" "$PODWALL" --config "$PW_TMP/podwall.yaml" \
		--cni-cache-dir "$(cni_dir "$PW_NODE")" \
		--kubeconfig "$PW_TMP/kubeconfig" --node-name edge-1 --log-level info \
		--watch-stall-timeout 5 "$@" >>"$LOG" 2>&1) &
	DAEMON=$!
	bg_track $DAEMON
	[ -n "$PW_NODE2" ] || return 0
	(cd "$PW_TMP" && XTABLES_LOCKFILE="$PW_TMP/xtables-$PW_NODE2_NAME.lock" &&
		NOTIFY_SOCKET="" && export XTABLES_LOCKFILE NOTIFY_SOCKET &&
		exec ip netns exec "$PW_NODE2" "$PODWALL" --config "$PW_TMP/podwall.yaml" \
		--cni-cache-dir "$(cni_dir "$PW_NODE2")" \
		--kubeconfig "$PW_TMP/kubeconfig" --node-name "$PW_NODE2_NAME" --log-level info \
		--watch-stall-timeout 5 "$@" >>"$LOG2" 2>&1) &
	DAEMON2=$!
	bg_track $DAEMON2
}

stop_daemon() {
	kill -TERM "$DAEMON" $DAEMON2 2>/dev/null
	_sd_i=0
	while kill -0 "$DAEMON" 2>/dev/null && [ $_sd_i -lt 50 ]; do
		sleep 0.1; _sd_i=$((_sd_i + 1))
	done
	if kill -0 "$DAEMON" 2>/dev/null; then
		fail "the daemon did not stop within 5 s of SIGTERM"
		kill -9 "$DAEMON"
	fi
	wait "$DAEMON" 2>/dev/null
	[ -n "$DAEMON2" ] || return 0
	while kill -0 "$DAEMON2" 2>/dev/null && [ $_sd_i -lt 50 ]; do
		sleep 0.1; _sd_i=$((_sd_i + 1))
	done
	if kill -0 "$DAEMON2" 2>/dev/null; then
		fail "the daemon on $PW_NODE2_NAME did not stop within 5 s of SIGTERM"
		kill -9 "$DAEMON2"
	fi
	wait "$DAEMON2" 2>/dev/null
	DAEMON2=""
}

kill_daemon() {
	kill -9 "$DAEMON" $DAEMON2 2>/dev/null
	wait "$DAEMON" $DAEMON2 2>/dev/null
	DAEMON2=""
}

# Milliseconds since the epoch, as pwprobe probe-loop stamps its lines.
now_ms() {
	date +%s%3N
}
