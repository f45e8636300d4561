#!/bin/sh
# bench/run.sh: times `dumpview compare --format jsonl` on the benchmark sets
# next to `cat` of the same files (the read floor) and the torch reference
# script, and prints wall time, CPU time, peak RSS and the ratios the
# performance targets of bench/README.md are stated in.
#
# usage: bench/run.sh [-B BUILDDIR] [-d DATADIR] [-n RUNS] [-T] [-P] [-O DUMPVIEW] [SET...]
#   -B BUILDDIR  build tree holding src/dumpview and bench/gen_dumps
#                (default: ./build-bench, else .); `make bench` builds both
#   -d DATADIR   where the sets live / are generated (default /tmp/dv-bench)
#   -n RUNS      runs of cat and dumpview, best kept (default 3)
#   -T           skip the torch script (minutes on "wide")
#   -P           skip the TUI first-paint measure
#   -O DUMPVIEW  scale only: time this other dumpview too (main's, say),
#                each row before the build's own, for a before/after table
#   SET          wide, wide-tp8, many, scale, sizes, cold, logits-float32,
#                logits-bfloat16 (default: wide many); tui is
#                measured with -P unset. wide-tp8 (wide's target as TP=8
#                shards) is timed against wide (measured too if not named
#                before it): ratio of wall time and peak RSS, targets <= 1.5x
#                and 128 MB. scale is the growth table: `compare` on
#                1 k .. 300 k pairs of tiny tensors (sets sNk, SCALE_SIZES
#                overrides the pair counts), wall, CPU, peak RSS and RSS per
#                pair; target <= 1 KB of RSS per pair at 200 k pairs.
#                Without -P it adds the explorer's first paint and the time
#                until the title shows the first divergence (tui_paint.py).
#                sizes: the tensor-size sweep, one pair of [ROWS, 4096]
#                bf16 a size (SIZE_ROWS, default 1 MiB .. 4 GB a file):
#                compare against cat, GB/s, peak RSS. cold: COLD_SET
#                (default wide) with the page cache dropped (root only)
#                against warm, for cat and compare.
#                logits-float32, logits-bfloat16: one 2.1 GB pair of
#                [N, 152064] (gen_logits.py, needs torch): compare <= 1.5x cat,
#                --verify-crc, the detail pane (engine_bench detail) <= 2x
#                compare, and the element-wise export of logits-small-* (29 MB
#                files, written to /dev/shm) >= 400 MB/s. logits-dense-float32,
#                logits-dense-bfloat16: the same shapes with every element of
#                the target moved (no |t-b| of zero: the detail's worst case),
#                the same figures.
# With torch, cross_check.py also compares every pair's numbers with torch's
# (not on wide-tp8: the torch script pairs files by name and does not unshard).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
builddir=
datadir=/tmp/dv-bench
runs=3
torch=yes
paint=yes
other=
while getopts B:d:n:TPO: opt; do
	case $opt in
	B) builddir=$OPTARG ;;
	d) datadir=$OPTARG ;;
	n) runs=$OPTARG ;;
	T) torch=no ;;
	P) paint=no ;;
	O) other=$OPTARG ;;
	*) sed -n '7,42p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
sets=${*:-wide many}

if [ -z "$builddir" ]; then
	if [ -x "$top/build-bench/src/dumpview" ]; then builddir=$top/build-bench; else builddir=.; fi
fi
dumpview=$builddir/src/dumpview
gen=$builddir/bench/gen_dumps
[ -x "$dumpview" ] || { echo "run.sh: no $dumpview (run make in the build tree)" >&2; exit 2; }
[ -x "$gen" ] || { echo "run.sh: no $gen (run 'make bench' in the build tree)" >&2; exit 2; }
gnutime=/usr/bin/time
[ -x "$gnutime" ] || { echo "run.sh: GNU time is needed at /usr/bin/time (apt-get install time)" >&2; exit 2; }
python=/usr/bin/python3
if [ "$torch" = yes ] && ! "$python" -c 'import torch' 2>/dev/null; then
	echo "run.sh: $python has no torch: skipping the torch script" >&2
	torch=no
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# measure NAME CMD...: runs CMD with stdout to /dev/null; sets $wall (s, ms
# precision), $cpu (user+sys s) and $rss (peak KiB of the largest process).
measure() {
	start=$(date +%s%N)
	"$gnutime" -f '%U %S %M' -o "$tmp/time" "$@" >/dev/null 2>"$tmp/stderr" || true
	end=$(date +%s%N)
	wall=$(echo "$start $end" | awk '{ printf "%.3f", ($2 - $1) / 1e9 }')
	cpu=$(awk 'END { printf "%.2f", $1 + $2 }' "$tmp/time")
	rss=$(awk 'END { print $3 }' "$tmp/time")
}

# best NAME CMD...: the fastest of $runs runs (RSS of that run).
best() {
	bwall= bcpu= brss=
	i=0
	while [ $i -lt "$runs" ]; do
		measure "$@"
		if [ -z "$bwall" ] || awk "BEGIN { exit !($wall < $bwall) }"; then
			bwall=$wall bcpu=$cpu brss=$rss
		fi
		i=$((i + 1))
	done
	wall=$bwall cpu=$bcpu rss=$brss
}

row() { # tool wall cpu rss
	printf '  %-22s %9s s %9s s %9.1f MiB\n' "$1" "$2" "$3" "$(echo "$4" | awk '{ print $1 / 1024 }')"
}

ratio() { awk "BEGIN { printf \"%.1f\", $1 / $2 }"; }

verdict() { # description condition
	if awk "BEGIN { exit !($2) }"; then echo "  target: $1: met"; else echo "  target: $1: MISSED"; fi
}

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/^Mem:/ { print $2 }') GiB RAM; $(uname -sr)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine inflates wall times; CPU is steadier)"
echo "dumpview: $dumpview, built $(date -u -r "$dumpview" '+%H:%M:%S UTC'); source HEAD $(git -C "$top" log -1 --format='%h %s (%cd)' --date=format:'%H:%M:%S' 2>/dev/null || echo '?')"
# ensure_set SET: generates $datadir/SET on first use.
ensure_set() {
	case $1 in
	logits-*)
		if [ ! -d "$datadir/$1/target" ] || [ ! -d "$datadir/logits-small-${1##*-}/target" ]; then
			echo "generating the logits pairs in $datadir (torch.save) ..."
			case $1 in
			logits-dense-*) "$python" "$here/gen_logits.py" --dense "$datadir" >/dev/null ;;
			*) "$python" "$here/gen_logits.py" "$datadir" >/dev/null ;;
			esac
			"$python" "$here/gen_logits.py" --small "$datadir" >/dev/null
		fi
		return
		;;
	esac
	if [ ! -d "$datadir/$1/target" ]; then
		echo "generating $1 in $datadir/$1 ..."
		"$gen" "$1" "$datadir/$1" >/dev/null
	fi
}

# summarize JSONL [WIDE_JSONL]: counts of dumpview's jsonl; with WIDE_JSONL,
# how many of its pair records wide-tp8 reproduces (unsharded, the target is
# wide's bit for bit, so every pair's verdict and numbers should be the same).
summarize() {
	python3 - "$@" <<'EOF'
import json, sys
summary = None
n = unmatched = 0
pairs = {}
for line in open(sys.argv[1]):
    o = json.loads(line)
    n += o.get("type") == "pair"
    unmatched += o.get("type") == "unmatched"
    if o.get("type") == "pair":
        pairs[(o.get("layer"), o.get("name"))] = o
    if o.get("type") == "summary":
        summary = o
if summary is None:
    print("  dumpview: %d pair lines, no summary line" % n)
else:
    fd = summary.get("first_divergence") or {}
    print("  dumpview: %d pairs: %s passed, %s failed, %s errored, %d files unmatched; first divergence: %s layer %s %s step %s"
          % (n, summary.get("passed"), summary.get("failed"), summary.get("errored"), unmatched,
             fd.get("phase"), fd.get("layer"), fd.get("name"), fd.get("step")))
if len(sys.argv) > 2:
    def close(a, b):  # numbers within 1e-9 relative (summation order may differ), the rest equal
        if isinstance(a, float) and isinstance(b, float):
            return abs(a - b) <= 1e-9 * max(abs(a), abs(b))
        return a == b
    keys = ("passed", "rel_diff", "max_abs_diff", "mean_abs_diff", "error")
    wide = [json.loads(l) for l in open(sys.argv[2])]
    wide = [o for o in wide if o.get("type") == "pair"]
    same = sum(1 for o in wide if (o.get("layer"), o.get("name")) in pairs
               and all(close(pairs[(o.get("layer"), o.get("name"))].get(k), o.get(k)) for k in keys))
    ok = same == len(wide) and n == len(wide) and not unmatched
    print("  same as wide (passed, error; rel/max/mean diff to 1e-9): %d of %d logical tensors%s"
          % (same, len(wide), "" if ok else
             " -- NOT unsharded like wide: the wide-tp8 figures below time a different workload"))
    sys.exit(0 if ok else 3)
EOF
}

# dv_on SET: best-of-$runs dumpview on SET (page cache warmed by one cat);
# sets $dv_wall, $dv_cpu, $dv_rss; its jsonl and stderr go to $tmp/SET.*.
dv_on() {
	find "$datadir/$1/baseline" "$datadir/$1/target" -name '*.pt' -print0 | xargs -0 cat >/dev/null
	best "$dumpview" compare --format jsonl "$datadir/$1/baseline" "$datadir/$1/target"
	dv_wall=$wall dv_cpu=$cpu dv_rss=$rss
	"$dumpview" compare --format jsonl "$datadir/$1/baseline" "$datadir/$1/target" >"$tmp/$1.jsonl" \
		2>"$tmp/$1.err" || true
}

# scale_table: the growth table over SCALE_SIZES pairs a side (sets sNk,
# generated on first use), each set's files read once first (page cache warm).
scale_table() {
	echo
	echo "== scale: compare --format jsonl on N pairs of [4, 8] bf16 (best of $runs; RSS per pair = peak RSS / N)"
	[ "$paint" = yes ] && echo "   explorer (best of $runs, tui_paint.py): first paint, and the first divergence in the title"
	printf '  %-9s %-10s %9s %9s %11s %13s' pairs build wall cpu 'peak RSS' 'RSS per pair'
	[ "$paint" = yes ] && printf ' %12s %12s' 'first paint' 'first div.'
	echo
	for n in ${SCALE_SIZES:-1000 10000 50000 100000 200000 300000}; do
		sdir=$datadir/s$((n / 1000))k
		if [ ! -d "$sdir/target" ]; then
			echo "  generating $sdir ..."
			"$gen" -n "$n" scale "$sdir" >/dev/null
		fi
		find "$sdir/baseline" "$sdir/target" -name '*.pt' -print0 | xargs -0 cat >/dev/null
		for bin in $other "$dumpview"; do
			best "$bin" compare --format jsonl "$sdir/baseline" "$sdir/target"
			label=this
			[ "$bin" = "$dumpview" ] || label=other
			printf '  %-9s %-10s %7s s %7s s %7.1f MiB %9.2f KiB' "$n" "$label" "$wall" "$cpu" \
				"$(echo "$rss" | awk '{ print $1 / 1024 }')" "$(echo "$rss $n" | awk '{ print $1 / $2 }')"
			if [ "$paint" = yes ]; then
				# the scale sets diverge from fwd_bwd's layer 40 (step 0):
				# the title names it, "fwd_bwd / layer 40 (step 0) / ..."
				# (the tree's header is "phase / layer / tensor")
				python3 "$here/tui_paint.py" --runs "$runs" --scan-only --stages 'inference,/ layer 40 ' \
					"$bin" "$sdir/baseline" "$sdir/target" >"$tmp/paint" 2>&1 || true
				fp=$(sed -n "s/.*'inference' best \([0-9.]*\) s.*/\1/p" "$tmp/paint")
				fd=$(sed -n "s/.*'\/ layer 40 ' best \([0-9.]*\) s.*/\1/p" "$tmp/paint")
				printf ' %10s s %10s s' "${fp:--}" "${fd:--}"
				[ "$n" = 200000 ] && [ "$bin" = "$dumpview" ] && paint200=$fp
			fi
			echo
			[ "$n" = 200000 ] && [ "$bin" = "$dumpview" ] && rss200=$rss && wall200=$wall
		done
	done
	[ -n "${rss200:-}" ] && verdict "peak RSS <= 1 KiB per pair at 200 k pairs" "$rss200 <= 200000"
	[ -n "${wall200:-}" ] && verdict "compare at 200 k pairs <= 4 s (warm cache)" "$wall200 <= 4"
	[ -n "${paint200:-}" ] && verdict "explorer first paint at 200 k pairs <= 0.5 s" "$paint200 <= 0.5"
	[ -n "$other" ] && echo "  (other: $other)"
	return 0
}

# sizes_table: one pair of [ROWS, 4096] bf16 a size (sets sizeROWS,
# generated on first use), compare against cat of the two files.
sizes_table() {
	echo
	echo "== sizes: one pair of [ROWS, 4096] bf16 a size, compare --format jsonl against cat (best of $runs, warm)"
	printf '  %-10s %9s %9s %9s %11s %9s %9s %8s\n' 'a file' cat compare cpu 'peak RSS' 'GB/s' 'cat GB/s' '/ cat'
	for rows in ${SIZE_ROWS:-128 2048 32768 131072 488281}; do
		sdir=$datadir/size$rows
		if [ ! -d "$sdir/target" ]; then
			echo "  generating $sdir ..."
			"$gen" -r "$rows" size "$sdir" >/dev/null
		fi
		find "$sdir/baseline" "$sdir/target" -name '*.pt' -print0 | sort -z >"$tmp/files"
		bytes=$(xargs -0 cat <"$tmp/files" | wc -c)
		best sh -c 'xargs -0 cat <"$1"' sh "$tmp/files"
		cwall=$wall
		best "$dumpview" compare --format jsonl "$sdir/baseline" "$sdir/target"
		printf '  %7.1f MB %7s s %7s s %7s s %7.1f MiB %9.2f %9.2f %7.1fx\n' "$(echo "$bytes" | awk '{ print $1 / 2e6 }')" \
			"$cwall" "$wall" "$cpu" "$(echo "$rss" | awk '{ print $1 / 1024 }')" \
			"$(echo "$bytes $wall" | awk '{ print $1 / $2 / 1e9 }')" \
			"$(echo "$bytes $cwall" | awk '{ print $1 / $2 / 1e9 }')" "$(ratio "$wall" "$cwall")"
	done
	return 0
}

# cold_table: COLD_SET with the page cache dropped before each cold run
# (root only), then warm.
cold_table() {
	cset=${COLD_SET:-wide}
	ensure_set "$cset"
	dir=$datadir/$cset
	echo
	echo "== cold: $cset, page cache dropped before each cold run, then warm (best of $runs)"
	if ! { sync && echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then
		echo "  (cannot drop the page cache: run as root)"
		return 0
	fi
	find "$dir/baseline" "$dir/target" -name '*.pt' -print0 | sort -z >"$tmp/files"
	printf '  %-22s %11s %11s %13s\n' tool wall cpu 'peak RSS'
	sync && echo 3 >/proc/sys/vm/drop_caches
	measure sh -c 'xargs -0 cat <"$1"' sh "$tmp/files"
	row "cat, cold" "$wall" "$cpu" "$rss"
	sync && echo 3 >/proc/sys/vm/drop_caches
	measure "$dumpview" compare --format jsonl "$dir/baseline" "$dir/target"
	cold_wall=$wall
	row "dumpview compare, cold" "$wall" "$cpu" "$rss"
	best sh -c 'xargs -0 cat <"$1"' sh "$tmp/files"
	row "cat, warm" "$wall" "$cpu" "$rss"
	best "$dumpview" compare --format jsonl "$dir/baseline" "$dir/target"
	row "dumpview compare, warm" "$wall" "$cpu" "$rss"
	echo "  cold / warm:           $(ratio "$cold_wall" "$wall")x"
	return 0
}

wide_wall= wide_rss=
for set in $sets; do
	if [ "$set" = scale ]; then
		scale_table
		continue
	fi
	if [ "$set" = sizes ]; then
		sizes_table
		continue
	fi
	if [ "$set" = cold ]; then
		cold_table
		continue
	fi
	dir=$datadir/$set
	ensure_set "$set"
	find "$dir/baseline" "$dir/target" -name '*.pt' -print0 | sort -z >"$tmp/files"
	nfiles=$(tr -cd '\0' <"$tmp/files" | wc -c)
	bytes=$(xargs -0 cat <"$tmp/files" | wc -c)   # also warms the page cache
	echo
	echo "== $set: $nfiles files, $(awk "BEGIN { printf \"%.1f\", $bytes / 1048576 }") MiB (page cache warm)"
	printf '  %-22s %11s %11s %13s\n' tool wall cpu 'peak RSS'

	best sh -c 'xargs -0 cat <"$1"' sh "$tmp/files"
	cat_wall=$wall
	row cat "$wall" "$cpu" "$rss"

	best "$dumpview" compare --format jsonl "$dir/baseline" "$dir/target"
	dv_wall=$wall dv_rss=$rss
	row "dumpview compare" "$wall" "$cpu" "$rss"
	"$dumpview" compare --format jsonl "$dir/baseline" "$dir/target" >"$tmp/dv.jsonl" 2>"$tmp/dv.err" || true
	cp "$tmp/dv.jsonl" "$tmp/$set.jsonl"
	[ "$set" = wide ] && wide_wall=$dv_wall wide_rss=$dv_rss
	if [ "$set" = wide-tp8 ]; then
		if [ -z "$wide_wall" ]; then # the same-layout reference, measured now
			tp8_wall=$dv_wall tp8_rss=$dv_rss
			ensure_set wide
			dv_on wide
			row "dumpview on wide" "$dv_wall" "$dv_cpu" "$dv_rss"
			wide_wall=$dv_wall wide_rss=$dv_rss
			dv_wall=$tp8_wall dv_rss=$tp8_rss
		fi
		tp8_note=
		summarize "$tmp/dv.jsonl" "$tmp/wide.jsonl" ||
			tp8_note=" (not meaningful yet: dumpview did not unshard)"
	else
		summarize "$tmp/dv.jsonl"
	fi
	[ -s "$tmp/dv.err" ] && echo "  dumpview stderr: $(head -c 300 "$tmp/dv.err")"

	echo "  dumpview / cat:        $(ratio "$dv_wall" "$cat_wall")x"
	if [ "$torch" = yes ] && [ "$set" = wide-tp8 ]; then
		echo "  (torch script skipped on wide-tp8: it pairs files by name and does not unshard)"
	elif [ "$torch" = yes ]; then
		measure sh -c '"$1" "$2" --jsonl "$3" "$4" >"$5"' sh "$python" "$here/torch_compare.py" \
			"$dir/baseline" "$dir/target" "$tmp/torch.jsonl"
		torch_wall=$wall
		row "torch script" "$wall" "$cpu" "$rss"
		echo "  dumpview vs torch, pair by pair: $(python3 "$here/cross_check.py" "$tmp/dv.jsonl" "$tmp/torch.jsonl" |
			awk '/^ok/ { ok++ } /^not ok/ { bad++; if (!first) first = $0 } END {
				printf "%d checks agree, %d differ %s", ok, bad, first }')"
		measure "$python" -c 'import torch'
		echo "  (of which 'import torch': $wall s)"
		echo "  torch / dumpview:      $(ratio "$torch_wall" "$dv_wall")x"
	fi
	case $set in
	wide)
		verdict "compare <= 6x cat" "$dv_wall <= 6 * $cat_wall"
		verdict "peak RSS <= 128 MB" "$dv_rss <= 128000"
		[ "$torch" = yes ] && verdict ">= 30x faster than torch" "$torch_wall >= 30 * $dv_wall"
		;;
	wide-tp8)
		echo "  wide-tp8 / wide:       time $(ratio "$dv_wall" "$wide_wall")x ($dv_wall s / $wide_wall s)," \
			"peak RSS $(ratio "$dv_rss" "$wide_rss")x ($(ratio "$dv_rss" 1024) / $(ratio "$wide_rss" 1024) MiB)"
		verdict "wide-tp8 compare <= 1.5x wide (same layout)" "$dv_wall <= 1.5 * $wide_wall"
		verdict "peak RSS <= 128 MB" "$dv_rss <= 128000"
		[ -z "$tp8_note" ] || echo "  these two targets$tp8_note"
		;;
	many)
		[ "$torch" = yes ] && verdict ">= 30x faster than torch" "$torch_wall >= 30 * $dv_wall"
		[ "$torch" = yes ] && verdict ">= 50x faster than torch (best of 7: -n 7)" "$torch_wall >= 50 * $dv_wall"
		;;
	logits-*)
		verdict "one 2 GB pair: compare <= 1.5x cat" "$dv_wall <= 1.5 * $cat_wall"
		best "$dumpview" compare --verify-crc --format jsonl "$dir/baseline" "$dir/target"
		row "compare --verify-crc" "$wall" "$cpu" "$rss"
		eb=$builddir/bench/engine_bench
		if [ -x "$eb" ]; then
			# the detail alone, after the pair's comparison (as the explorer asks)
			bdet=
			i=0
			while [ $i -lt "$runs" ]; do
				det=$("$eb" -j 1 detail "$dir/baseline" "$dir/target" | sed -n 's/.*detail only \([0-9.]*\) s.*/\1/p')
				if [ -n "$det" ] && { [ -z "$bdet" ] || awk "BEGIN { exit !($det < $bdet) }"; }; then bdet=$det; fi
				i=$((i + 1))
			done
			echo "  detail pane (after the compare): $bdet s"
			echo "  detail / compare:      $(ratio "$bdet" "$dv_wall")x"
			verdict "detail pane <= 2x compare" "$bdet <= 2 * $dv_wall"
			small=$datadir/logits-small-${set##*-}
			bmb=0
			i=0
			while [ $i -lt "$runs" ]; do
				mb=$(EXPORT_FILE=/dev/shm/dv-bench-export.csv "$eb" -j 1 export "$small/baseline" \
					"$small/target" | sed -n 's/.*, \([0-9]*\) MB\/s$/\1/p')
				[ -n "$mb" ] && [ "$mb" -gt "$bmb" ] && bmb=$mb
				i=$((i + 1))
			done
			echo "  export (every element of logits-small-${set##*-}, to /dev/shm): $bmb MB/s"
			verdict "export >= 400 MB/s" "$bmb >= 400"
		else
			echo "  (no $eb: 'make bench' builds it; detail and export not measured)"
		fi
		;;
	esac
done

echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$paint" = yes ]; then
	dir=$datadir/tui
	if [ ! -d "$dir/target" ]; then
		echo "generating tui in $dir ..."
		"$gen" tui "$dir" >/dev/null
	fi
	echo
	echo "== tui: first paint on $(find "$dir/baseline" -name '*.pt' | wc -l) + $(find "$dir/target" -name '*.pt' | wc -l) files"
	python3 "$here/tui_paint.py" "$dumpview" "$dir/baseline" "$dir/target" || echo "  (TUI measure failed)"
	if [ -d "$datadir/wide/target" ]; then
		echo "== tui on wide (8 MiB pairs: each scan job is long)"
		python3 "$here/tui_paint.py" --paint-marker "layer 1" "$dumpview" "$datadir/wide/baseline" \
			"$datadir/wide/target" || echo "  (TUI measure failed)"
	fi
fi
