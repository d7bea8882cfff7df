#!/bin/sh
# podwall.spec, as configure made it: rpmspec -P parses it (macros, the
# systemd scriptlets), and rpmlint finds no error in it. The spec is for
# EL7 and later; nothing here builds it (no EL build root).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

spec="$builddir/podwall.spec"
[ -f "$spec" ] || { echo "SKIP: rpmspec.sh: $spec not made (configure)"; exit 77; }
command -v rpmspec >/dev/null 2>&1 || {
	echo "SKIP: rpmspec.sh: rpmspec not installed (Debian: rpm)"
	exit 77
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pwrpm.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'rm -rf "$tmp"; exit 1' INT TERM HUP

if rpmspec -P "$spec" >"$tmp/parsed" 2>"$tmp/err" && ! grep -qi 'error' "$tmp/err"; then
	pass "rpmspec -P parses podwall.spec"
else
	fail "rpmspec -P podwall.spec: $(cat "$tmp/err")"
fi
# The scriptlets come from the systemd macros: expanded, they run systemctl
# (EL's macros), or stay as they are where this rpm lacks them (Debian's).
for scriptlet in post preun postun; do
	grep -q "^%$scriptlet" "$tmp/parsed" ||
		fail "podwall.spec has no %$scriptlet scriptlet"
done
grep -q '%config(noreplace) .*/sysconfig/podwall' "$tmp/parsed" &&
	grep -q '%config(noreplace) .*/podwall/podwall.yaml' "$tmp/parsed" &&
	pass "the configuration and /etc/sysconfig/podwall are %config(noreplace)" ||
	fail "podwall.yaml or /etc/sysconfig/podwall is not %config(noreplace)"
version=$(sed -n 's/^Version:[[:space:]]*//p' "$tmp/parsed")
[ "$version" = "$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"/\1/p' "$builddir/config.h")" ] &&
	pass "podwall.spec's Version is configure's ($version)" ||
	fail "podwall.spec's Version \"$version\" is not configure's"

if command -v rpmlint >/dev/null 2>&1; then
	rpmlint "$spec" >"$tmp/lint" 2>&1
	errors=$(sed -n 's/.* \([0-9][0-9]*\) errors, .*/\1/p' "$tmp/lint")
	if [ "$errors" = 0 ]; then
		pass "rpmlint finds no error in podwall.spec ($(grep -c ': W: ' "$tmp/lint") warnings)"
	else
		fail "rpmlint: $(grep ': E: ' "$tmp/lint")"
	fi
else
	echo "SKIP: rpmspec.sh: no rpmlint (Debian: rpmlint): the spec is not linted"
fi
finish
