#!/bin/sh
# The man pages against the program: every option that podwall --help and
# each command's --help print is in podwall(8) under that command, and
# every option podwall(8) names there is in that --help; every key
# engine/config_file.c accepts is in podwall.yaml(5) and the other way
# round. The pages are lint-clean (mandoc -T lint, groff -ww), and the
# version is configure.ac's everywhere it is written.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

[ -x "$PODWALL" ] || { echo "SKIP: man-options.sh: $PODWALL not built"; exit 77; }
command -v python3 >/dev/null 2>&1 || { echo "SKIP: man-options.sh: no python3"; exit 77; }
man8="$builddir/doc/podwall.8" man5="$builddir/doc/podwall.yaml.5"
for page in "$man8" "$man5"; do
	[ -f "$page" ] || { echo "SKIP: man-options.sh: $page not built (make)"; exit 77; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pwman.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'rm -rf "$tmp"; exit 1' INT TERM HUP

# ------------------------------------------------- options and keys
"$PODWALL" --help >"$tmp/main.help" 2>&1 || fail "podwall --help exited $?"
for cmd in explain matrix doctor; do
	"$PODWALL" $cmd --help >"$tmp/$cmd.help" 2>&1 || fail "podwall $cmd --help exited $?"
done
# It prints this test's ok:/FAIL: lines itself, and exits 1 after a FAIL.
python3 - "$tmp" "$srcdir/doc/podwall.8.in" "$srcdir/doc/podwall.yaml.5.in" \
	"$srcdir/engine/config_file.c" <<'PY'
import re, sys

tmp, man8, man5, config_c = sys.argv[1:5]
LONG = re.compile(r'(?<![\w-])--[a-z][a-z0-9-]*')
SHORT = re.compile(r'(?<![\w-])-[a-zA-Z](?![\w-])')

def help_options(path):
    # Every option the help text names, in its usage lines too.
    text = open(path).read()
    return set(LONG.findall(text)) | set(SHORT.findall(text))

def plain(line):
    # A roff line as text: \- is a hyphen, font changes and \~ vanish.
    line = re.sub(r'\\f(\[[^]]*\]|.)', '', line)
    return line.replace('\\-', '-').replace('\\~', ' ').replace('\\c', '')

def tags(lines):
    # The tag lines of .TP paragraphs: the options a section describes.
    out = []
    for i, l in enumerate(lines):
        if l.startswith('.TP') and i + 1 < len(lines):
            out.append(plain(lines[i + 1]))
    return out

def sections(path):
    # OPTIONS is the main command's, ".SS podwall CMD" under COMMANDS each
    # command's.
    lines = open(path).read().splitlines()
    found, name = {}, None
    for l in lines:
        if l.startswith('.SH '):
            name = 'podwall' if l[4:].strip('"') == 'OPTIONS' else None
        elif l.startswith('.SS ') and l[4:].strip('"').startswith('podwall '):
            name = l[4:].strip('"')
        if name:
            found.setdefault(name, []).append(l)
    return found

man = sections(man8)
failed = False
for cmd, helpfile in (('podwall', 'main'), ('podwall explain', 'explain'),
                      ('podwall matrix', 'matrix'), ('podwall doctor', 'doctor')):
    in_help = help_options('%s/%s.help' % (tmp, helpfile))
    in_man = set()
    for t in tags(man.get(cmd, [])):
        in_man |= set(LONG.findall(t)) | set(SHORT.findall(t))
    where = 'OPTIONS' if cmd == 'podwall' else 'COMMANDS, "%s"' % cmd
    bad = False
    for o in sorted(in_help - in_man):
        print('FAIL: %s: option %s is in "%s --help" but not in doc/podwall.8.in '
              '(section %s, as a .TP tag)' % (cmd, o, cmd, where))
        bad = True
    for o in sorted(in_man - in_help):
        print('FAIL: %s: option %s is in doc/podwall.8.in (section %s) but not in '
              '"%s --help"' % (cmd, o, where, cmd))
        bad = True
    failed = failed or bad
    if not bad:
        print('ok: %s: the %d options of --help are the ones podwall(8) describes'
              % (cmd, len(in_help)))

src = open(config_c).read()
table = re.search(r'static const struct key keys\[\] = \{(.*?)\n\};', src, re.S)
accepted = set(re.findall(r'\{ "([A-Za-z]+)", VALUE_', table.group(1))) if table else set()
lines = open(man5).read().splitlines()
at = [i for i, l in enumerate(lines) if l.startswith('.SH')]
keys_at = [i for i in at if lines[i].strip() == '.SH KEYS']
documented = set()
if keys_at:
    end = min([i for i in at if i > keys_at[0]] + [len(lines)])
    for t in tags(lines[keys_at[0]:end]):
        m = re.match(r'\.BR\s+([A-Za-z]+)\s*:', t)
        if m:
            documented.add(m.group(1))
bad = not accepted
if not accepted:
    print('FAIL: no keys[] table found in engine/config_file.c')
for k in sorted(accepted - documented):
    print('FAIL: configuration key %s is accepted by engine/config_file.c but not in '
          'doc/podwall.yaml.5.in (section KEYS, as a .TP tag ".BR %s :")' % (k, k))
    bad = True
for k in sorted(documented - accepted):
    print('FAIL: configuration key %s is in doc/podwall.yaml.5.in but engine/config_file.c '
          'does not accept it' % k)
    bad = True
failed = failed or bad
if not bad:
    print('ok: the %d keys engine/config_file.c accepts are the ones podwall.yaml(5) '
          'describes' % len(accepted))
sys.exit(1 if failed else 0)
PY
case $? in
0) ;;
1) failures=$((failures + 1)) ;;
*) fail "the comparison of options and keys did not run" ;;
esac

# ----------------------------------------------------------- lint
for page in "$man8" "$man5"; do
	name=$(basename "$page")
	if command -v mandoc >/dev/null 2>&1; then
		if mandoc -T lint "$page" >"$tmp/lint" 2>&1 && [ ! -s "$tmp/lint" ]; then
			pass "$name: mandoc -T lint is clean"
		else
			fail "$name: mandoc -T lint: $(cat "$tmp/lint")"
		fi
	else
		echo "SKIP: man-options.sh: no mandoc (Debian: mandoc): $name not linted by it"
	fi
	if command -v groff >/dev/null 2>&1; then
		if groff -ww -z -man "$page" >"$tmp/lint" 2>&1 && [ ! -s "$tmp/lint" ]; then
			pass "$name: groff -ww -z -man is clean"
		else
			fail "$name: groff -ww: $(cat "$tmp/lint")"
		fi
	fi
	if command -v man >/dev/null 2>&1; then
		if MANWIDTH=80 man -l "$page" >"$tmp/rendered" 2>"$tmp/lint" &&
			[ ! -s "$tmp/lint" ] && [ -s "$tmp/rendered" ]; then
			pass "$name: man -l renders it without a warning"
		else
			fail "$name: man -l: $(cat "$tmp/lint")"
		fi
	fi
done

# ------------------------------------------------------- versions
version=$(sed -n 's/^AC_INIT(\[podwall\], \[\([^]]*\)\].*/\1/p' "$srcdir/configure.ac")
date=$(sed -n 's/^AC_SUBST(\[PW_RELEASE_DATE\], \[\([^]]*\)\])/\1/p' "$srcdir/configure.ac")
check_version() {	# what, the version found
	if [ "$2" = "$version" ]; then
		pass "$1 says $version, as configure.ac"
	else
		fail "$1 says \"$2\", configure.ac's AC_INIT $version"
	fi
}
check_version "podwall --version" "$("$PODWALL" --version | sed -n 's/^podwall //p')"
check_version "podwall(8)" "$(sed -n 's/^\.TH PODWALL 8 "[^"]*" "podwall \([^"]*\)".*/\1/p' "$man8")"
check_version "podwall.yaml(5)" "$(sed -n 's/^\.TH PODWALL.YAML 5 "[^"]*" "podwall \([^"]*\)".*/\1/p' "$man5")"
check_version "NEWS (its first entry)" "$(sed -n 's/^podwall \([0-9][^ ]*\) (.*/\1/p' "$srcdir/NEWS" | head -n 1)"
grep -q "^podwall $version ($date)" "$srcdir/NEWS" ||
	fail "NEWS has no entry \"podwall $version ($date)\" (configure.ac's version and date)"
if [ -f "$srcdir/debian/changelog" ]; then
	check_version "debian/changelog" "$(sed -n '1s/^podwall (\([^)-]*\)[^)]*).*/\1/p' "$srcdir/debian/changelog")"
fi
if [ -f "$builddir/podwall.spec" ]; then
	check_version "podwall.spec" "$(sed -n 's/^Version:[[:space:]]*//p' "$builddir/podwall.spec")"
fi
finish
