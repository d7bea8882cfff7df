# Helpers for podwall's shell tests. Source it; it sets srcdir and builddir.
# Exit codes follow automake: 0 pass, 1 fail, 77 skip.

srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
builddir=${top_builddir:-$srcdir}
PODWALL="$builddir/podwall"
failures=0

fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

pass() {
	echo "ok: $*"
}

skip_unless_root() {
	if [ "$(id -u)" != 0 ]; then
		echo "SKIP: $1 needs root (network namespaces)"
		exit 77
	fi
}

finish() {
	[ "$failures" -eq 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
	exit 0
}

# Network namespaces this test made; deleted on any exit.
PW_NETNS=""
netns_cleanup() {
	for ns in $PW_NETNS; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	PW_NETNS=""
}

# Recorded before it is made, so that a half-made one is removed too.
netns_add() {
	PW_NETNS="$PW_NETNS $1"
	ip netns add "$1" && ip -n "$1" link set lo up
}

trap 'netns_cleanup' EXIT
trap 'netns_cleanup; exit 1' INT TERM HUP

# iptables-save output without comments and with counters zeroed.
normalise_save() {
	grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]/[0:0]/'
}
