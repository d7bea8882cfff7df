#!/bin/sh
# Builds podwall's libFuzzer targets with clang (ASan, UBSan, LeakSanitizer)
# and runs each for a while from the seeds in tests/fuzz/corpus; any crash,
# leak, timeout or broken invariant fails. Under `make check` each target
# runs 10 seconds; by hand, for the long runs:
#
#   tests/fuzz/run-fuzz.sh --seconds 600 [--target manifest]... [--workdir DIR]
#                          [--builddir DIR (a configured tree)]
#
# The build and the corpus it grows go to a temporary directory (or DIR),
# never into the source or build tree; it is removed unless something
# failed or --workdir was given. Without clang and its libFuzzer: SKIP.
set -u

srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${top_builddir:-}
seconds=10
targets=""
workdir=""
CC=${FUZZ_CC:-clang}

usage() {
	sed -n '2,13s/^# \{0,1\}//p' "$0"
	exit 2
}

while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) seconds=${2:?}; shift 2 ;;
	--seconds=*) seconds=${1#*=}; shift ;;
	--target) targets="$targets ${2:?}"; shift 2 ;;
	--target=*) targets="$targets ${1#*=}"; shift ;;
	--workdir) workdir=${2:?}; shift 2 ;;
	--workdir=*) workdir=${1#*=}; shift ;;
	--builddir) builddir=${2:?}; shift 2 ;;
	--builddir=*) builddir=${1#*=}; shift ;;
	-h|--help) usage ;;
	*) echo "run-fuzz.sh: unknown argument $1" >&2; usage ;;
	esac
done
[ -n "$targets" ] || targets="manifest watch framer selector"
case "$seconds" in
''|*[!0-9]*) echo "run-fuzz.sh: --seconds wants a whole number" >&2; exit 2 ;;
esac

if ! command -v "$CC" >/dev/null 2>&1; then
	echo "SKIP: fuzzing needs clang ($CC not found; scripts/install-deps installs it)"
	exit 77
fi

keep=false
if [ -n "$workdir" ]; then
	keep=true
	mkdir -p "$workdir" || exit 1
	workdir=$(cd "$workdir" && pwd)
else
	workdir=$(mktemp -d "${TMPDIR:-/tmp}/podwall-fuzz.XXXXXX") || exit 1
fi
failures=0
cleanup() {
	if ! $keep && [ "$failures" -eq 0 ]; then
		rm -rf "$workdir"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# libFuzzer ships apart from clang on Debian 12 (libclang-rt-dev).
cat >"$workdir/probe.c" <<'EOF'
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { (void)data; (void)size; return 0; }
EOF
if ! "$CC" -fsanitize=fuzzer,address,undefined "$workdir/probe.c" -o "$workdir/probe" \
	>"$workdir/probe.log" 2>&1; then
	echo "SKIP: $CC cannot link a libFuzzer target (libclang-rt-dev missing?):"
	sed 's/^/  /' "$workdir/probe.log" | head -5
	exit 77
fi

# A configured tree gives config.h and the libraries' flags: the build
# tree's, else one configure run with clang.
configured() {
	[ -n "$1" ] && [ -f "$1/config.h" ] && [ -f "$1/Makefile" ]
}
if configured "$builddir"; then
	config_dir=$builddir
elif configured "$srcdir"; then
	config_dir=$srcdir
elif configured "$(pwd)"; then
	config_dir=$(pwd)
else
	[ -x "$srcdir/configure" ] || {
		echo "run-fuzz.sh: no configured tree and no configure: run autoreconf -fi" >&2
		exit 1
	}
	mkdir -p "$workdir/configure"
	(cd "$workdir/configure" && CC="$CC" "$srcdir/configure" -q) || exit 1
	config_dir=$workdir/configure
fi

# YAML_CFLAGS, YAML_LIBS... as configure found them.
lib_cflags=""
lib_libs=""
for var in $(sed -n 's/^\([A-Z0-9]*\)_LIBS = .*/\1/p' "$config_dir/Makefile"); do
	case "$var" in CHECK|PW|TEST) continue ;; esac
	lib_cflags="$lib_cflags $(sed -n "s/^${var}_CFLAGS = //p" "$config_dir/Makefile")"
	lib_libs="$lib_libs $(sed -n "s/^${var}_LIBS = //p" "$config_dir/Makefile")"
done

# The layers the targets reach, as one archive: the linker takes what it needs.
sources=$(cd "$srcdir" && ls lib/*.c selectors/*.c k8s/*.c)
sanitize="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
cflags="-std=gnu99 -g -O1 -fno-omit-frame-pointer $sanitize -Wall -Wno-unused-parameter
	-I$config_dir -I$srcdir $lib_cflags"

build() {
	rm -rf "$workdir/obj" "$workdir/libfuzzed.a"
	mkdir -p "$workdir/obj"
	for src in $sources tests/fuzz/fuzz_common.c; do
		obj=$workdir/obj/$(echo "$src" | tr / _ | sed 's/\.c$/.o/')
		# shellcheck disable=SC2086
		nice -n 10 "$CC" $cflags -fsanitize=fuzzer-no-link -c "$srcdir/$src" -o "$obj" ||
			return 1
	done
	ar cr "$workdir/libfuzzed.a" "$workdir"/obj/[!t]*.o || return 1
	for target in $targets; do
		# shellcheck disable=SC2086
		nice -n 10 "$CC" $cflags -fsanitize=fuzzer "$srcdir/tests/fuzz/fuzz_$target.c" \
			"$workdir/obj/tests_fuzz_fuzz_common.o" "$workdir/libfuzzed.a" \
			$lib_libs -ldl -o "$workdir/fuzz_$target" || return 1
	done
}

if ! build >"$workdir/build.log" 2>&1; then
	echo "FAIL: building the fuzz targets with $CC:"
	tail -20 "$workdir/build.log"
	failures=1
	echo "run-fuzz.sh: kept $workdir"
	exit 1
fi

# Inputs past this are rarely more interesting, and always slower.
max_len() {
	case "$1" in
	manifest|watch) echo 4096 ;;
	framer) echo 2048 ;;
	*) echo 1024 ;;
	esac
}

# A libFuzzer stat from the log, e.g. stat number_of_executed_units.
stat() {
	sed -n "s/^stat::$1: *//p" "$2" | tail -1
}

run_target() {
	target=$1
	log=$workdir/$target.log
	corpus=$workdir/corpus/$target
	seeds=$srcdir/tests/fuzz/corpus/$target
	mkdir -p "$corpus" "$workdir/artifacts"
	[ -d "$seeds" ] || { echo "FAIL: $target: no seeds in $seeds"; return 1; }
	# New inputs go to the first directory; the seeds stay untouched.
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	nice -n 10 "$workdir/fuzz_$target" \
		-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -detect_leaks=1 \
		-max_len="$(max_len "$target")" -dict="$srcdir/tests/fuzz/$target.dict" \
		-artifact_prefix="$workdir/artifacts/$target-" -print_final_stats=1 \
		-error_exitcode=1 -timeout_exitcode=1 \
		"$corpus" "$seeds" >"$log" 2>&1
	rc=$?
	execs=$(stat number_of_executed_units "$log")
	rate=$(stat average_exec_per_sec "$log")
	rss=$(stat peak_rss_mb "$log")
	cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*' "$log" | tail -1)
	if [ "$rc" -ne 0 ] || grep -q '^==[0-9]*==ERROR\|^SUMMARY: \|invariant broken' "$log"; then
		echo "FAIL: $target: libFuzzer exit $rc after ${execs:-?} runs"
		grep -m 3 'ERROR\|SUMMARY\|invariant broken\|Test unit written' "$log" | sed 's/^/  /'
		ls "$workdir/artifacts/$target-"* 2>/dev/null | sed 's/^/  input: /'
		return 1
	fi
	echo "ok: $target: ${seconds}s, ${execs:-?} runs (${rate:-?}/s), ${cov:-no coverage line}, peak RSS ${rss:-?} MB"
}

for target in $targets; do
	if [ ! -f "$srcdir/tests/fuzz/fuzz_$target.c" ]; then
		echo "FAIL: no fuzz target $target"
		failures=$((failures + 1))
		continue
	fi
	run_target "$target" || failures=$((failures + 1))
done

if [ "$failures" -ne 0 ]; then
	echo "run-fuzz.sh: $failures target(s) failed; logs, inputs and corpora in $workdir" >&2
	exit 1
fi
if $keep; then
	echo "run-fuzz.sh: corpora and logs in $workdir"
fi
exit 0
