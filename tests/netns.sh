# Helpers for podwall's packet tests: a node made of network namespaces.
# Source it after tests/lib.sh. Everything it changes lives in namespaces it
# creates (named pw<pid><letter><n>) and deletes on exit, also on failure or
# interruption; the machine's own namespace is never touched.
#
#   node_up                         the node namespace "edge-1" (PW_NODE)
#   pod_up NS POD IP [PORTS]        a pod on the node, wired as Calico's CNI does
#   remote_pod_up NS POD IP [PORTS] a pod on another node, behind a plain veth
#   pod_down NS/POD                 delete a pod (its namespace and route)
#   apply_manifests DIR             run podwall on the node (PW_APPLY=once|restore)
#   probe_matrix [SPEC]...          every source to every other pod, a table
#   expect_* / verify NAME [SPEC]...  compare the table with expected verdicts
#
# PORTS is a comma list of tcp:PORT and udp:PORT; SPEC is tcp:PORT, udp:PORT,
# icmp, or own (the destination pod's PORTS). Pod addresses come from
# 198.18.0.0/15 and nothing else is used.

PWPROBE="$builddir/tests/pwprobe"
PW_RUN="pw$$"
PW_NODE=""
PW_REMOTE=""
PW_NPODS=0
PW_BGPIDS=""
PW_TIMEOUT_MS=${PW_TIMEOUT_MS:-300}
PW_APPLY=${PW_APPLY:-once}
PW_NODE_NAME=edge-1
# The node's own address, on an interface of its own: the source of node probes.
PW_NODE_IP=198.19.254.1
PW_EXPECT=""

PW_TMP=$(mktemp -d "${TMPDIR:-/tmp}/pwe2e.XXXXXX") || exit 99
: >"$PW_TMP/pods"
echo 20000 >"$PW_TMP/sport"

e2e_cleanup() {
	for pid in $PW_BGPIDS; do
		kill "$pid" 2>/dev/null
	done
	PW_BGPIDS=""
	netns_cleanup
	rm -rf "$PW_TMP"
}
trap 'e2e_cleanup' EXIT
trap 'trap - EXIT; e2e_cleanup; exit 130' INT
trap 'trap - EXIT; e2e_cleanup; exit 143' TERM HUP

# Background jobs to kill on exit (a loop outside the namespaces, say).
bg_track() {
	PW_BGPIDS="$PW_BGPIDS $1"
}

e2e_requirements() {
	skip_unless_root "$1"
	for tool in ip ipset iptables-legacy iptables-legacy-save iptables-legacy-restore \
		    sha1sum timeout; do
		command -v $tool >/dev/null 2>&1 || { echo "SKIP: $1: $tool not installed"; exit 77; }
	done
	[ -x "$PWPROBE" ] || { echo "SKIP: $1: $PWPROBE not built (make check builds it)"; exit 77; }
	[ -x "$PODWALL" ] || { echo "SKIP: $1: $PODWALL not built"; exit 77; }
	ip netns add "${PW_RUN}t" 2>/dev/null || { echo "SKIP: $1: cannot create network namespaces"; exit 77; }
	ip netns del "${PW_RUN}t"
}

# ns_sysctl NS net/ipv4/ip_forward 1
ns_sysctl() {
	ip netns exec "$1" sh -c 'echo "$2" >"/proc/sys/$1"' sh "$2" "$3"
}

nx() {
	ip netns exec "$PW_NODE" "$@"
}

# The node end of a pod's veth, named as Calico's CNI names it.
pod_iface() {
	echo "cali$(printf '%s.%s' "$1" "$2" | sha1sum | cut -c1-11)"
}

node_up() {
	PW_NODE="${PW_RUN}n"
	netns_add "$PW_NODE" || return 1
	ns_sysctl "$PW_NODE" net/ipv4/ip_forward 1 &&
	ns_sysctl "$PW_NODE" net/ipv4/conf/all/rp_filter 0 &&
	ns_sysctl "$PW_NODE" net/ipv4/conf/default/rp_filter 0 &&
	# An address of the node's own and a route to the pods' gateway
	# address 169.254.1.1 through another interface, so that proxy ARP on
	# the cali interfaces answers for it (as on a Calico node). The
	# interface is one end of a veth pair whose both ends stay in the node
	# (the dummy driver may be missing).
	nx ip link add pwnode0 type veth peer name pwnode1 &&
	nx ip addr add "$PW_NODE_IP/32" dev pwnode0 &&
	nx ip link set pwnode1 up &&
	nx ip link set pwnode0 up &&
	nx ip route add 169.254.1.1/32 dev pwnode0
}

# ports "tcp:80,udp:53" -> "--tcp 80 --udp 53"
serve_args() {
	echo "$1" | tr ',' '\n' | awk -F: '$1 == "tcp" || $1 == "udp" { printf "--%s %s ", $1, $2 }'
}

# pod_register KEY NETNS IP PORTS IFACE KIND SERVERPID
pod_register() {
	awk -v k="$1" '$1 != k' "$PW_TMP/pods" >"$PW_TMP/pods.new"
	echo "$1 $2 $3 ${4:--} $5 - $6 $7" >>"$PW_TMP/pods.new"
	mv "$PW_TMP/pods.new" "$PW_TMP/pods"
}

# pod_get KEY FIELD: netns ip ports iface vip kind pid
pod_get() {
	awk -v k="$1" -v f="$2" '
		BEGIN { split("key netns ip ports iface vip kind pid", n, " "); for (i in n) c[n[i]] = i }
		$1 == k { print $(c[f]); found = 1 }
		END { exit !found }' "$PW_TMP/pods"
}

pod_keys() {
	awk '{ print $1 }' "$PW_TMP/pods"
}

pod_set_vip() {
	awk -v k="$1" -v v="$2" '$1 == k { $6 = v } { print }' "$PW_TMP/pods" >"$PW_TMP/pods.new" &&
		mv "$PW_TMP/pods.new" "$PW_TMP/pods"
}

start_server() {
	_ss_net=$1 _ss_ports=$2 _ss_bind=$3
	_ss_args=$(serve_args "$_ss_ports")
	[ -n "$_ss_args" ] || { echo 0; return 0; }
	# shellcheck disable=SC2086
	ip netns exec "$_ss_net" "$PWPROBE" serve --background ${_ss_bind:+--bind $_ss_bind} $_ss_args
}

# pod_up NS POD IP [PORTS]
pod_up() {
	_pu_ns=$1 _pu_pod=$2 _pu_ip=$3 _pu_ports=${4:-}
	PW_NPODS=$((PW_NPODS + 1))
	_pu_net="${PW_RUN}p$PW_NPODS"
	_pu_if=$(pod_iface "$_pu_ns" "$_pu_pod")
	_pu_tmp="pwtmp$PW_NPODS"
	_pu_mac=$(printf '02:50:00:00:%02x:%02x' $((PW_NPODS / 256)) $((PW_NPODS % 256)))
	netns_add "$_pu_net" || return 1
	nx ip link add "$_pu_if" type veth peer name "$_pu_tmp" &&
	nx ip link set "$_pu_tmp" netns "$_pu_net" &&
	ip -n "$_pu_net" link set "$_pu_tmp" name eth0 &&
	ip -n "$_pu_net" link set eth0 address "$_pu_mac" &&
	ip -n "$_pu_net" link set eth0 up &&
	ip -n "$_pu_net" addr add "$_pu_ip/32" dev eth0 &&
	ip -n "$_pu_net" route add 169.254.1.1 dev eth0 scope link &&
	ip -n "$_pu_net" route add default via 169.254.1.1 dev eth0 &&
	ip -n "$_pu_net" neigh replace 169.254.1.1 lladdr ee:ee:ee:ee:ee:ee dev eth0 nud permanent &&
	nx ip link set "$_pu_if" address ee:ee:ee:ee:ee:ee &&
	ns_sysctl "$PW_NODE" "net/ipv4/conf/$_pu_if/proxy_arp" 1 &&
	ns_sysctl "$PW_NODE" "net/ipv4/conf/$_pu_if/rp_filter" 0 &&
	ns_sysctl "$PW_NODE" "net/ipv4/neigh/$_pu_if/proxy_delay" 0 &&
	nx ip link set "$_pu_if" up &&
	nx ip route add "$_pu_ip/32" dev "$_pu_if" &&
	nx ip neigh replace "$_pu_ip" lladdr "$_pu_mac" dev "$_pu_if" nud permanent || {
		echo "pod_up $_pu_ns/$_pu_pod: could not wire the pod" >&2
		return 1
	}
	_pu_pid=$(start_server "$_pu_net" "$_pu_ports" "") || {
		echo "pod_up $_pu_ns/$_pu_pod: the server did not start" >&2
		return 1
	}
	pod_register "$_pu_ns/$_pu_pod" "$_pu_net" "$_pu_ip" "$_pu_ports" "$_pu_if" local "$_pu_pid"
}

# Another node: one namespace behind a veth whose node end is not cali*,
# holding the addresses of every remote pod.
remote_up() {
	[ -n "$PW_REMOTE" ] && return 0
	PW_REMOTE="${PW_RUN}r"
	netns_add "$PW_REMOTE" || return 1
	ns_sysctl "$PW_REMOTE" net/ipv4/conf/all/rp_filter 0 &&
	nx ip link add pwremote type veth peer name pwtmpr &&
	nx ip link set pwtmpr netns "$PW_REMOTE" &&
	ip -n "$PW_REMOTE" link set pwtmpr name eth0 &&
	ip -n "$PW_REMOTE" link set eth0 address 02:50:ff:00:00:01 &&
	ip -n "$PW_REMOTE" link set eth0 up &&
	ip -n "$PW_REMOTE" route add 169.254.1.1 dev eth0 scope link &&
	ip -n "$PW_REMOTE" route add default via 169.254.1.1 dev eth0 &&
	ip -n "$PW_REMOTE" neigh replace 169.254.1.1 lladdr ee:ee:ee:ee:ee:ee dev eth0 nud permanent &&
	nx ip link set pwremote address ee:ee:ee:ee:ee:ee &&
	ns_sysctl "$PW_NODE" net/ipv4/conf/pwremote/rp_filter 0 &&
	nx ip link set pwremote up
}

# remote_pod_up NS POD IP [PORTS]
remote_pod_up() {
	_rp_ns=$1 _rp_pod=$2 _rp_ip=$3 _rp_ports=${4:-}
	remote_up || return 1
	ip -n "$PW_REMOTE" addr add "$_rp_ip/32" dev lo &&
	nx ip route add "$_rp_ip/32" dev pwremote &&
	nx ip neigh replace "$_rp_ip" lladdr 02:50:ff:00:00:01 dev pwremote nud permanent || {
		echo "remote_pod_up $_rp_ns/$_rp_pod: could not wire the pod" >&2
		return 1
	}
	_rp_pid=$(start_server "$PW_REMOTE" "$_rp_ports" "$_rp_ip") || {
		echo "remote_pod_up $_rp_ns/$_rp_pod: the server did not start" >&2
		return 1
	}
	pod_register "$_rp_ns/$_rp_pod" "$PW_REMOTE" "$_rp_ip" "$_rp_ports" - remote "$_rp_pid"
}

# pod_down NS/POD: the pod is gone (its namespace, veth, route and server).
pod_down() {
	_pd_net=$(pod_get "$1" netns) || return 1
	_pd_ip=$(pod_get "$1" ip)
	_pd_pid=$(pod_get "$1" pid)
	if [ "$(pod_get "$1" kind)" = remote ]; then
		[ "$_pd_pid" != 0 ] && kill "$_pd_pid" 2>/dev/null
		nx ip route del "$_pd_ip/32" 2>/dev/null
		ip -n "$PW_REMOTE" addr del "$_pd_ip/32" dev lo 2>/dev/null
	else
		ip netns pids "$_pd_net" 2>/dev/null | xargs -r kill -9 2>/dev/null
		# The node end first: the kernel tears a deleted namespace down
		# later, and a pod wired again at once would find the old veth
		# and its route still there ("File exists").
		nx ip link del "$(pod_get "$1" iface)" 2>/dev/null
		ip netns del "$_pd_net"
	fi
	awk -v k="$1" '$1 != k' "$PW_TMP/pods" >"$PW_TMP/pods.new"
	mv "$PW_TMP/pods.new" "$PW_TMP/pods"
}

# ---- applying podwall ----

# Removes what a restore-mode apply put in the node: podwall's jumps in the
# built-in chains, its chains, then its sets.
pw_restore_clear() {
	nx iptables-legacy-save -t filter >"$PW_TMP/clear.save" || return 1
	grep -E '^-A (INPUT|FORWARD|OUTPUT) .*-j pw-' "$PW_TMP/clear.save" |
		sed 's/^-A/-D/' >"$PW_TMP/clear.jumps"
	while read -r _rc_rule; do
		eval "nx iptables-legacy -w -t filter $_rc_rule" || return 1
	done <"$PW_TMP/clear.jumps"
	sed -n 's/^:\(pw-[^ ]*\) .*/\1/p' "$PW_TMP/clear.save" >"$PW_TMP/clear.chains"
	while read -r _rc_chain; do
		nx iptables-legacy -w -t filter -F "$_rc_chain" || return 1
	done <"$PW_TMP/clear.chains"
	while read -r _rc_chain; do
		nx iptables-legacy -w -t filter -X "$_rc_chain" || return 1
	done <"$PW_TMP/clear.chains"
	nx ipset list -n | grep '^pw-' >"$PW_TMP/clear.sets"
	while read -r _rc_set; do
		nx ipset destroy "$_rc_set" || return 1
	done <"$PW_TMP/clear.sets"
}

# The dry-run loaded with ipset restore and iptables-legacy-restore, while
# --once is not there. Podwall's jumps are inserted first in their chains as
# --once does.
pw_restore_apply() {
	# shellcheck disable=SC2086
	timeout 60 "$PODWALL" --dry-run=ipset --node-name "$PW_NODE_NAME" $PW_PODWALL_ARGS -f "$1" \
		>"$PW_TMP/apply.sets" 2>"$PW_TMP/apply.err" &&
	# shellcheck disable=SC2086
	timeout 60 "$PODWALL" --dry-run --node-name "$PW_NODE_NAME" $PW_PODWALL_ARGS -f "$1" \
		>"$PW_TMP/apply.rules" 2>>"$PW_TMP/apply.err" || {
		cat "$PW_TMP/apply.err" >&2
		return 1
	}
	pw_restore_clear || { echo "apply_manifests: could not clear podwall's state" >&2; return 1; }
	nx timeout 60 ipset restore -exist <"$PW_TMP/apply.sets" || return 1
	sed -E 's/^-A (INPUT|FORWARD|OUTPUT) (.*-j pw-)/-I \1 1 \2/' "$PW_TMP/apply.rules" |
		nx timeout 60 iptables-legacy-restore --noflush -w 10
}

# apply_manifests DIR: program the node from the manifests in DIR.
apply_manifests() {
	case $PW_APPLY in
	restore)
		pw_restore_apply "$1"
		;;
	*)
		# shellcheck disable=SC2086
		nx timeout 60 "$PODWALL" --once --node-name "$PW_NODE_NAME" $PW_PODWALL_ARGS -f "$1"
		;;
	esac
}

# ---- probing ----

next_sport() {
	_ns_base=$(cat "$PW_TMP/sport")
	_ns_next=$((_ns_base + $1 + 1))
	[ "$_ns_next" -gt 60000 ] && _ns_next=20000
	echo "$_ns_next" >"$PW_TMP/sport"
	echo "$_ns_base"
}

# probe_matrix [SPEC]...: probes from every source (PW_SOURCES, default every
# pod; "node" is the node itself) to every other destination (PW_DESTS,
# default every pod) on each SPEC (default, or "own": the destination's own
# ports),
# all sources at once, and prints "SRC DST SPEC VERDICT" lines. Pairs of
# remote pods are left out (they do not cross this node). With
# PW_VIA=vip it probes each destination's ClusterIP instead of its address.
probe_matrix() {
	_pm_dir="$PW_TMP/probe"
	rm -rf "$_pm_dir"
	mkdir "$_pm_dir" || return 1
	_pm_srcs=${PW_SOURCES:-$(pod_keys)}
	_pm_dsts=${PW_DESTS:-$(pod_keys)}
	# One awk pass writes, for each source, its targets (N.t) and what
	# each target stands for (N.m), and prints "N NETNS SOURCE-IP".
	awk -v srcs="$_pm_srcs" -v dsts="$_pm_dsts" -v specs="$*" -v via="${PW_VIA:-ip}" \
	    -v dir="$_pm_dir" -v node="$PW_NODE" -v nodeip="$PW_NODE_IP" '
		{ net[$1] = $2; ip[$1] = $3; ports[$1] = $4; vip[$1] = $6; kind[$1] = $7 }
		END {
			ns = split(srcs, s, " "); nd = split(dsts, d, " "); nsp = split(specs, sp, " ")
			net["node"] = node; ip["node"] = nodeip
			for (i = 1; i <= ns; i++) {
				if (!(s[i] in net)) { print "unknown source " s[i] > "/dev/stderr"; exit 1 }
				n = 0
				for (j = 1; j <= nd; j++) {
					if (d[j] == s[i]) continue
					if (!(d[j] in ip)) { print "unknown destination " d[j] > "/dev/stderr"; exit 1 }
					# Two pods of the other node talk without this node.
					if (kind[s[i]] == "remote" && kind[d[j]] == "remote") continue
					addr = via == "vip" ? vip[d[j]] : ip[d[j]]
					# "own" (and no SPEC at all): the ports of the destination.
					m = 0
					for (k = 1; k <= (nsp ? nsp : 1); k++) {
						if (nsp && sp[k] != "own") { t[++m] = sp[k]; continue }
						if (ports[d[j]] == "-") continue
						no = split(ports[d[j]], own, ",")
						for (o = 1; o <= no; o++) t[++m] = own[o]
					}
					for (k = 1; k <= m; k++) {
						if (t[k] == "icmp") target = "icmp:" addr
						else { split(t[k], pp, ":"); target = pp[1] ":" addr ":" pp[2] }
						print target > (dir "/" i ".t")
						print s[i], d[j], t[k] > (dir "/" i ".m")
						n++
					}
				}
				if (n > max) max = n
				if (n) print i, net[s[i]], ip[s[i]]
			}
			print max + 0 > (dir "/max")
		}' "$PW_TMP/pods" >"$_pm_dir/sources" || return 1
	_pm_base=$(next_sport "$(cat "$_pm_dir/max")")
	_pm_pids=""
	while read -r _pm_i _pm_net _pm_ip; do
		timeout 20 ip netns exec "$_pm_net" "$PWPROBE" probe-file --timeout-ms "$PW_TIMEOUT_MS" \
			--source "$_pm_ip" --sport-base "$_pm_base" "$_pm_dir/$_pm_i.t" \
			>"$_pm_dir/$_pm_i.out" 2>"$_pm_dir/$_pm_i.err" &
		_pm_pids="$_pm_pids $!"
	done <"$_pm_dir/sources"
	# shellcheck disable=SC2086
	[ -z "$_pm_pids" ] || wait $_pm_pids
	while read -r _pm_i _pm_net _pm_ip; do
		# A source whose prober failed reports every cell as "error".
		if [ "$(wc -l <"$_pm_dir/$_pm_i.out")" != "$(wc -l <"$_pm_dir/$_pm_i.m")" ]; then
			sed 's/.*/x error/' "$_pm_dir/$_pm_i.m" >"$_pm_dir/$_pm_i.out"
			sed 's/^/pwprobe: /' "$_pm_dir/$_pm_i.err" >&2
		fi
		paste -d ' ' "$_pm_dir/$_pm_i.m" "$_pm_dir/$_pm_i.out" | awk '{ print $1, $2, $3, $5 }'
	done <"$_pm_dir/sources"
}

# ---- expectations ----
# Rules apply in order, the last one that matches a cell wins, and a cell
# no rule matches is expected "ok". Patterns: "*", "x/*", "*/a", "x/a",
# "node"; specs "*", "tcp:*", "udp:81", "icmp". Verdicts: ok (true),
# blocked (false), refused.

expect_reset() {
	PW_EXPECT=""
}

_expect_add() {
	case $4 in
	true) set -- "$1" "$2" "$3" ok ;;
	false) set -- "$1" "$2" "$3" blocked ;;
	esac
	PW_EXPECT="$PW_EXPECT$1 $2 $3 $4
"
}

# expect_all VERDICT
expect_all() { _expect_add '*' '*' '*' "$1"; }
# expect_ingress DST VERDICT [SPEC]: every source to DST
expect_ingress() { _expect_add '*' "$1" "${3:-*}" "$2"; }
# expect_egress SRC VERDICT [SPEC]: SRC to every destination
expect_egress() { _expect_add "$1" '*' "${3:-*}" "$2"; }
# expect_peer SRC DST VERDICT [SPEC]
expect_peer() { _expect_add "$1" "$2" "${4:-*}" "$3"; }

# compare_matrix FILE: prints the cells that differ from the expectation.
compare_matrix() {
	printf '%s' "$PW_EXPECT" >"$PW_TMP/expect.rules"
	awk '
		function m(p, v,   np, nv, pp, vv, i) {
			if (p == "*") return 1
			np = split(p, pp, /[\/:]/); nv = split(v, vv, /[\/:]/)
			if (np != nv) return 0
			for (i = 1; i <= np; i++) if (pp[i] != "*" && pp[i] != vv[i]) return 0
			return 1
		}
		FILENAME == ARGV[1] { if (NF == 4) { nr++; rs[nr] = $1; rd[nr] = $2; rp[nr] = $3; rv[nr] = $4 } next }
		{
			want = "ok"
			for (i = 1; i <= nr; i++)
				if (m(rs[i], $1) && m(rd[i], $2) && m(rp[i], $3)) want = rv[i]
			cells++
			if ($4 != want) {
				bad++
				if (bad <= 16) printf "    %s -> %s %s: expected %s, got %s\n", $1, $2, $3, want, $4
			}
		}
		END {
			if (bad > 16) printf "    ... and %d more\n", bad - 16
			if (!cells) print "    no cell was probed"
			exit (bad > 0 || !cells)
		}' "$PW_TMP/expect.rules" "$1"
}

# verify NAME [SPEC]...: probes and compares. As the upstream suite does, a
# matrix that differs is probed once more before the case fails; a pass on
# the second probe says so.
verify() {
	_v_name=$1
	shift
	probe_matrix "$@" >"$PW_TMP/matrix" 2>"$PW_TMP/matrix.err"
	if compare_matrix "$PW_TMP/matrix" >"$PW_TMP/diff"; then
		pass "$_v_name"
		return 0
	fi
	probe_matrix "$@" >"$PW_TMP/matrix" 2>>"$PW_TMP/matrix.err"
	if compare_matrix "$PW_TMP/matrix" >"$PW_TMP/diff2"; then
		pass "$_v_name (on the second probe; the first differed in $(wc -l <"$PW_TMP/diff") cell(s))"
		return 0
	fi
	fail "$_v_name: $(wc -l <"$PW_TMP/diff2" | tr -d ' ') line(s) of differing cells:"
	cat "$PW_TMP/diff2" >&2
	[ -s "$PW_TMP/matrix.err" ] && sed 's/^/    /' "$PW_TMP/matrix.err" >&2
	return 1
}

# No namespace of this run may be left, nor any process in one.
check_no_leftovers() {
	_cl_left=$(ip netns list | awk -v p="$PW_RUN" 'index($1, p) == 1 { print $1 }')
	[ -z "$_cl_left" ] || fail "namespaces left behind: $_cl_left"
}
