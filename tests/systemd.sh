#!/bin/sh
# The systemd unit: "systemd-analyze verify" passes on it, and "systemd-
# analyze security" rates it at most MEDIUM. systemd's table (src/analyze/
# analyze-security.c) names an overall exposure from 5.0 to 7.4 MEDIUM,
# 7.5 EXPOSED, 9.0 UNSAFE and 10 DANGEROUS, so at most MEDIUM is below 7.5.
# Rating a unit file that is not loaded takes --offline (systemd 250);
# with an older systemd that half is skipped. The capabilities the unit
# keeps must be the ones the README explains.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

command -v systemd-analyze >/dev/null 2>&1 || {
	echo "SKIP: systemd.sh: systemd-analyze not installed (Debian: systemd)"
	exit 77
}
[ -x "$PODWALL" ] || { echo "SKIP: systemd.sh: $PODWALL not built"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pwsystemd.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'rm -rf "$tmp"; exit 1' INT TERM HUP

# The unit as make builds it, run from the build tree: verify checks that
# ExecStart is an executable.
unit="$tmp/podwall.service"
sed -e "s|@bindir@|$builddir|g" -e "s|@sysconfdir@|/etc|g" \
	"$srcdir/systemd/podwall.service.in" >"$unit"
version=$(systemd-analyze --version 2>/dev/null | sed -n '1s/^systemd \([0-9]*\).*/\1/p')

# ------------------------------------------------------------ verify
if systemd-analyze verify "$unit" >"$tmp/verify.out" 2>&1; then
	if grep -q 'podwall\.service' "$tmp/verify.out"; then
		fail "systemd-analyze verify warns about the unit:"
		sed 's/^/    /' "$tmp/verify.out" >&2
	else
		pass "systemd-analyze verify (systemd ${version:-?}) passes on the unit"
	fi
else
	fail "systemd-analyze verify failed:"
	sed 's/^/    /' "$tmp/verify.out" >&2
fi

# ------------------------------------------------------ capabilities
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit")
if [ "$caps" = "CAP_NET_ADMIN CAP_NET_RAW" ] && ! grep -q '^AmbientCapabilities=' "$unit"; then
	pass "the unit keeps CAP_NET_ADMIN and CAP_NET_RAW only"
else
	fail "the unit keeps \"$caps\" (and $(grep -c '^AmbientCapabilities=' "$unit") ambient lines)"
fi
for cap in $caps; do
	grep -q "^- \`$cap\`" "$srcdir/README.md" ||
		fail "README.md does not explain why the unit keeps $cap"
done

# ---------------------------------------------------------- security
if ! systemd-analyze --help 2>/dev/null | grep -q -- '--offline'; then
	echo "SKIP: systemd.sh: systemd ${version:-?} has no security --offline (250+):" \
		"the exposure is not rated"
	finish
fi
systemd-analyze security --offline=true --no-pager "$unit" >"$tmp/security.out" 2>&1
line=$(grep 'Overall exposure level for podwall.service:' "$tmp/security.out")
exposure=$(echo "$line" | sed -n 's/.*podwall\.service: \([0-9][0-9]*\.[0-9]\).*/\1/p')
if [ -z "$exposure" ]; then
	fail "no exposure in systemd-analyze security's output:"
	tail -n 5 "$tmp/security.out" >&2
elif awk -v e="$exposure" 'BEGIN { exit !(e < 7.5) }'; then
	level=$(echo "$line" | sed -n 's/.*podwall\.service: [0-9.]* \([A-Z]*\).*/\1/p')
	pass "systemd-analyze security (systemd ${version:-?}): exposure $exposure $level (at most MEDIUM: below 7.5)"
else
	fail "systemd-analyze security rates the unit $exposure (more than MEDIUM):"
	grep '✗' "$tmp/security.out" >&2
fi
# The same through systemd's own switch: exit non-zero above 74 (of 100).
if systemd-analyze security --help 2>/dev/null | grep -q -- '--threshold'; then
	if systemd-analyze security --offline=true --threshold=74 --no-pager "$unit" \
	       >/dev/null 2>&1; then
		pass "systemd-analyze security --threshold=74 (MEDIUM's top) passes"
	else
		fail "systemd-analyze security --threshold=74 fails"
	fi
fi
finish
