#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang straight from the sources (the
# main build may use gcc) and runs each for SECONDS.
#
#   fuzz/run.sh SRCDIR OUTDIR SECONDS [HARNESS...]
#
# FUZZ_CC (default clang) compiles; FUZZ_SOURCES lists the core library's .c
# files relative to SRCDIR (make passes its list; otherwise they are read from
# the src_libdumpview_a_SOURCES lines of Makefile.am and src/*/local.mk).
# OUTDIR gets the binaries, objects, one log per harness, the inputs each run
# found (OUTDIR/corpus/<harness>, kept between runs) and crash-* artifacts.
# The seed corpora under fuzz/corpus are only read. Exits 1 when a harness
# crashes (or fails to build), printing the crash and the file that makes it.
set -u
srcdir=$(cd "$1" && pwd) out=$2 secs=$3
shift 3
harnesses=${*:-fuzz_pt fuzz_legacy fuzz_pickle fuzz_tags fuzz_regex fuzz_rules fuzz_dims fuzz_token_align fuzz_unshard fuzz_name_map fuzz_report}
cc=${FUZZ_CC:-clang}
jobs=$(nproc 2>/dev/null || echo 2)
mkdir -p "$out/obj" "$out/inc" && out=$(cd "$out" && pwd)

core_sources() {
	# Joins continuation lines, then prints the .c words of every
	# src_libdumpview_a_SOURCES assignment.
	cat "$srcdir/Makefile.am" "$srcdir"/src/*/local.mk 2>/dev/null |
		sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' |
		awk '$1 == "src_libdumpview_a_SOURCES" && ($2 == "=" || $2 == "+=") {
			for (i = 3; i <= NF; i++) if ($i ~ /\.c$/) print $i }'
}
sources=${FUZZ_SOURCES:-$(core_sources)}
[ -n "$sources" ] || { echo "fuzz: no core sources found"; exit 1; }

# config.h: the configured build's if there is one (FUZZ_CONFIG_DIR or an
# in-tree configure), else a stand-in with the package macros.
incs="-I$srcdir/include -I$srcdir/fuzz"
if [ -n "${FUZZ_CONFIG_DIR:-}" ] && [ -f "$FUZZ_CONFIG_DIR/config.h" ]; then
	incs="$incs -I$FUZZ_CONFIG_DIR"
elif [ -f "$srcdir/config.h" ]; then
	incs="$incs -I$srcdir"
else
	version=$(sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' "$srcdir/configure.ac")
	cat >"$out/inc/config.h" <<EOC
#define PACKAGE "dumpview"
#define PACKAGE_NAME "dumpview"
#define PACKAGE_TARNAME "dumpview"
#define PACKAGE_VERSION "${version:-0}"
#define PACKAGE_STRING "dumpview ${version:-0}"
#define VERSION "${version:-0}"
EOC
	incs="$incs -I$out/inc"
fi
deps_cflags=$(pkg-config --cflags libzip libpcre2-8) || { echo "fuzz: pkg-config cannot find libzip / libpcre2-8"; exit 1; }
deps_libs=$(pkg-config --libs libzip libpcre2-8)
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
export FUZZ_COMPILE="$cc -g -O1 -std=c11 -D_GNU_SOURCE -DPCRE2_CODE_UNIT_WIDTH=8 -pthread $san -fsanitize=fuzzer-no-link $incs $deps_cflags"

echo "fuzz: compiling $(echo "$sources" | wc -w) core sources with $cc"
export srcdir out
# shellcheck disable=SC2016
if ! printf '%s\n' $sources | xargs -P "$jobs" -I{} sh -c \
	'o="$out/obj/$(echo "{}" | tr / _).o"; $FUZZ_COMPILE -c "$srcdir/{}" -o "$o" || exit 255'; then
	echo "fuzz: compiling the core sources failed"
	exit 1
fi
objs=$(for s in $sources; do echo "$out/obj/$(echo "$s" | tr / _).o"; done)
# An archive, so each harness pulls in only the objects it needs.
rm -f "$out/libcore.a"
# shellcheck disable=SC2086
ar rcs "$out/libcore.a" $objs || exit 1
$FUZZ_COMPILE -c "$srcdir/fuzz/walk.c" -o "$out/obj/walk.o" || exit 1

status=0 total=0
for h in $harnesses; do
	# shellcheck disable=SC2086
	if ! $FUZZ_COMPILE -fsanitize=fuzzer "$srcdir/fuzz/$h.c" "$out/obj/walk.o" "$out/libcore.a" \
		$deps_libs -lm -o "$out/$h"; then
		echo "fuzz: $h: build failed"; status=1; continue
	fi
	mkdir -p "$out/corpus/$h"
	dict=""
	case $h in
	fuzz_pt|fuzz_legacy|fuzz_pickle) dict="-dict=$srcdir/fuzz/pickle.dict" ;;
	esac
	maxlen=65536
	case $h in fuzz_tags|fuzz_regex) maxlen=512 ;; fuzz_rules|fuzz_name_map) maxlen=1024 ;; fuzz_dims) maxlen=4201 ;; fuzz_token_align|fuzz_unshard) maxlen=2048 ;; fuzz_report) maxlen=8192 ;; esac
	seeds="$srcdir/fuzz/corpus/$h"
	[ -d "$seeds" ] || seeds=""
	# -malloc_limit_mb: no input of a few KB has any business asking for
	# more than this at once (dumpview's budget for a hostile file is 256 MB).
	"$out/$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
		-max_len=$maxlen -print_final_stats=1 -artifact_prefix="$out/crash-$h-" $dict \
		"$out/corpus/$h" $seeds >"$out/$h.log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$h.log" | tail -1)
	total=$((total + ${runs:-0}))
	if [ "$rc" -ne 0 ]; then
		status=1
		echo "fuzz: $h: FAILED (exit $rc) after ${runs:-?} runs; log $out/$h.log"
		grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|artifact_prefix|Test unit written|Base64|.*Assertion)' \
			"$out/$h.log" | head -20
		ls "$out"/crash-"$h"-* 2>/dev/null | head -5
	else
		echo "fuzz: $h: ${runs:-?} runs in ${secs}s, no crash ($(ls "$out/corpus/$h" | wc -l) new inputs kept)"
	fi
done
echo "fuzz: $total runs in total"
exit $status
