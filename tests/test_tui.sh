#!/bin/sh
# Golden screens of the explorer in its scripted mode (DUMPVIEW_SCRIPT):
# each tests/tui/NAME.keys feeds keys and commands to `dumpview baseline
# target` on the bundled examples, drawing off-screen; every
# `:save-display X` must equal tests/tui/X.golden. The CSV exports are
# checked against torch's values in examples/expected.json.
# DUMPVIEW_UPDATE_GOLDEN=1 rewrites the goldens instead of comparing.
: "${DUMPVIEW:?}" "${EXAMPLES:?}" "${TESTS_SRCDIR:?}" "${FIXTURES:?}"
dir=$TESTS_SRCDIR/tui
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dv-tui.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
ln -s "$EXAMPLES/baseline" "$tmp/baseline"
ln -s "$EXAMPLES/target" "$tmp/target"
# "#runs: fixtures" in a key file: the edge cases of tests/fixtures/tui instead.
mkdir "$tmp/fixtures"
ln -s "$FIXTURES/tui/baseline" "$tmp/fixtures/baseline"
ln -s "$FIXTURES/tui/target" "$tmp/fixtures/target"
# "#runs: big": two pairs of a 512x1024 bf16 tensor (8 chunks each), for
# the cancel tests; and a file that a cancelled export must leave as it was.
for side in baseline target; do
	mkdir -p "$tmp/big/$side/inference"
	for t in 1:attn_output 2:mlp_output; do
		ln -s "$FIXTURES/pt-corpus/shape_large.pt" \
			"$tmp/big/$side/inference/step=0___rank=0___dump_index=${t%%:*}___name=${t#*:}___layer_id=0.pt"
	done
done
echo "kept by a cancelled export" >"$tmp/big/attn_output.diff.csv"
# "#runs: bigswap": big's two pairs in inference and one more in fwd_bwd, for
# a swap of the progressive listing while a scan worker is held mid-pair.
for side in baseline target; do
	mkdir -p "$tmp/bigswap/$side/inference" "$tmp/bigswap/$side/fwd_bwd"
	for t in 1:attn_output 2:mlp_output; do
		ln -s "$FIXTURES/pt-corpus/shape_large.pt" \
			"$tmp/bigswap/$side/inference/step=0___rank=0___dump_index=${t%%:*}___name=${t#*:}___layer_id=0.pt"
	done
	ln -s "$FIXTURES/pt-corpus/shape_large.pt" \
		"$tmp/bigswap/$side/fwd_bwd/step=0___rank=0___dump_index=3___name=attn_output___layer_id=0.pt"
done
# "#runs: huge": one pair of a 4000000x5 float32 tensor expanded from one
# row (stride 0): 20M elements in a tiny file, whose element-wise export
# would be about 1.5 GB.
mkdir -p "$tmp/huge/baseline/inference" "$tmp/huge/target/inference"
python3 - "$FIXTURES/pt-corpus/view_expanded.pt" "$tmp/huge/baseline/inference/step=0___rank=0___dump_index=1___name=wide___layer_id=0.pt" <<'PY' || exit 1
import struct, sys, zipfile
src = zipfile.ZipFile(sys.argv[1])
with zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_STORED) as out:
    for info in src.infolist():
        data = src.read(info.filename)
        if info.filename.endswith("data.pkl"):
            data = data.replace(b"K\x04K\x05\x86", b"J" + struct.pack("<i", 4000000) + b"K\x05\x86")
        out.writestr(info.filename, data)
PY
cp "$tmp/huge/baseline/inference/"*.pt "$tmp/huge/target/inference/"
# export-safe.keys: `E` over a dangling symlink replaces the link.
ln -s "$tmp/dangling-target.csv" "$tmp/dangling.csv"
# "#runs: escapes": names holding ESC sequences, a C1 control, a bidi
# override and an invalid UTF-8 byte, which must be drawn as visible escapes.
esc=$(printf '\033')
for side in baseline target; do
	mkdir -p "$tmp/escapes/$side/inference"
	i=0
	for t in "red${esc}[31mtext" "$(printf 'c1\302\233x')" "$(printf 'bidi\342\200\256txt')" "$(printf 'bad\377byte')" "tab$(printf '\t')x"; do
		i=$((i + 1))
		ln -s "$FIXTURES/pt-corpus/dtype_float32.pt" \
			"$tmp/escapes/$side/inference/step=0___rank=0___dump_index=${i}___name=${t}___layer_id=0.pt"
	done
done

# "#runs: xtopo CASE": the cross-topology fixture tests/fixtures/xtopo/CASE
# (logical tensors of several rank files).
for case in "$FIXTURES"/xtopo/*/; do
	case=$(basename "$case")
	mkdir -p "$tmp/xtopo/$case"
	ln -s "$FIXTURES/xtopo/$case/baseline" "$tmp/xtopo/$case/baseline"
	ln -s "$FIXTURES/xtopo/$case/target" "$tmp/xtopo/$case/target"
done

# "#runs: tokalign CASE": the token-alignment fixture tests/fixtures/tokalign/
# CASE (an inference run against a training run; nomatch: the thd baseline
# against a target whose token ids match nothing).
for case in thd bshd nomatch; do
	mkdir -p "$tmp/tokalign/$case"
	base=$case
	[ "$case" = nomatch ] && base=thd
	ln -s "$FIXTURES/tokalign/$base/baseline" "$tmp/tokalign/$case/baseline"
	ln -s "$FIXTURES/tokalign/$case/target" "$tmp/tokalign/$case/target"
done

# "#runs: namemap": tests/fixtures/namemap (Megatron-named target, SGLang-
# named baseline) with its rules.map beside them.
mkdir -p "$tmp/namemap"
for x in baseline target rules.map; do
	ln -s "$FIXTURES/namemap/$x" "$tmp/namemap/$x"
done

# "#runs: skipped": a tensor whose target has two rank files without dims
# (no one tensor can be formed from them: skipped), beside a plain pair.
for side in baseline target; do
	mkdir -p "$tmp/skipped/$side/inference"
	ln -s "$FIXTURES/pt-corpus/dtype_float32.pt" \
		"$tmp/skipped/$side/inference/step=0___rank=0___dump_index=1___name=plain___layer_id=0.pt"
	ln -s "$FIXTURES/pt-corpus/dtype_float32.pt" \
		"$tmp/skipped/$side/inference/step=0___rank=0___dump_index=2___name=sharded___layer_id=0.pt"
done
ln -s "$FIXTURES/pt-corpus/dtype_float32.pt" \
	"$tmp/skipped/target/inference/step=0___rank=1___dump_index=2___name=sharded___layer_id=0.pt"

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; }

count=0
for keys in "$dir"/*.keys; do
	count=$((count + 1 + $(grep -c '^:save-display' "$keys")))
done
echo "1..$((count + 14))"

for keys in "$dir"/*.keys; do
	name=$(basename "$keys" .keys)
	args=$(sed -n 's/^#args: *//p' "$keys")
	# "#env: VAR=VALUE ...": set for the run (DUMPVIEW_TEST_HOLD_LISTING)
	envs=$(sed -n 's/^#env: *//p' "$keys")
	where=$tmp
	grep -q '^#runs: fixtures' "$keys" && where=$tmp/fixtures
	grep -q '^#runs: big' "$keys" && where=$tmp/big
	grep -q '^#runs: bigswap' "$keys" && where=$tmp/bigswap
	grep -q '^#runs: escapes' "$keys" && where=$tmp/escapes
	grep -q '^#runs: huge' "$keys" && where=$tmp/huge
	grep -q '^#runs: skipped' "$keys" && where=$tmp/skipped
	grep -q '^#runs: namemap' "$keys" && where=$tmp/namemap
	xtopo=$(sed -n 's/^#runs: xtopo *//p' "$keys")
	[ -n "$xtopo" ] && where=$tmp/xtopo/$xtopo
	tokalign=$(sed -n 's/^#runs: tokalign *//p' "$keys")
	[ -n "$tokalign" ] && where=$tmp/tokalign/$tokalign
	# "#report: runs" / "#report: no-runs": a saved `compare --format jsonl`
	# report of the runs, opened with --report, with the runs or without.
	report=$(sed -n 's/^#report: *//p' "$keys")
	runs="baseline target"
	if [ -n "$report" ]; then
		if [ "$report" = missing ]; then
			# the runs copied, then the first divergence's target file lost
			where=$tmp/missing
			rm -rf "$where"
			mkdir -p "$where"
			cp -R -L "$EXAMPLES/baseline" "$EXAMPLES/target" "$where/"
		fi
		(cd "$where" && "$DUMPVIEW" compare --format jsonl baseline target >report.jsonl 2>/dev/null)
		args="$args --report report.jsonl"
		[ "$report" = no-runs ] && runs=
		[ "$report" = missing ] && rm "$where"/target/inference/*/*dump_index=24___name=mlp_output___*layer_id=2.pt
	fi
	# shellcheck disable=SC2086
	if (cd "$where" && env $envs NO_COLOR= DUMPVIEW_SCRIPT="$keys" "$DUMPVIEW" $args $runs >"$tmp/$name.out" 2>&1); then
		ok "$name: script ran"
	else
		not_ok "$name: script ran (exit $?): $(head -c 300 "$tmp/$name.out")"
	fi
	for screen in $(sed -n 's/^:save-display *//p' "$keys"); do
		golden=$dir/$screen.golden
		if [ -n "${DUMPVIEW_UPDATE_GOLDEN:-}" ] && [ -f "$where/$screen" ]; then
			cp "$where/$screen" "$golden"
		fi
		if [ ! -f "$where/$screen" ]; then
			not_ok "$name: screen $screen saved"
		elif diff -u "$golden" "$where/$screen" >"$tmp/diff" 2>&1; then
			ok "$name: screen $screen"
		else
			not_ok "$name: screen $screen differs from $screen.golden"
			sed 's/^/# /' "$tmp/diff" | head -60
		fi
	done
done

# cancel.keys answered yes to replacing attn_output.diff.csv, then pressed
# Esc mid-export: the old file stays, and no partial file is left.
if [ "$(cat "$tmp/big/attn_output.diff.csv")" = "kept by a cancelled export" ] &&
	[ -z "$(find "$tmp/big" -name '*.part-*')" ]; then
	ok "cancel: a cancelled export leaves the existing file and no partial file"
else
	not_ok "cancel: a cancelled export leaves the existing file and no partial file"
fi

# export-safe.keys: the link was replaced by the table, its target never
# created; the 250-byte name was written; no temporary file is left.
if [ -f "$tmp/dangling.csv" ] && [ ! -L "$tmp/dangling.csv" ] && [ ! -e "$tmp/dangling-target.csv" ] &&
	head -1 "$tmp/dangling.csv" | grep -q '^phase,'; then
	ok "export-safe: E replaces a dangling symlink instead of following it"
else
	not_ok "export-safe: E replaces a dangling symlink instead of following it"
fi
long=$(printf '%0250d' 0 | tr 0 L).csv
if [ "$(wc -l <"$tmp/$long" 2>/dev/null)" = 4 ] && [ -z "$(find "$tmp" -name '*.part-*')" ]; then
	ok "export-safe: a 254-byte file name exports (temporary name shortened)"
else
	not_ok "export-safe: a 254-byte file name exports (temporary name shortened)"
fi

# Listed phase by phase, the explorer ends on the tree a whole listing
# gives (progressive.keys and progressive-plain.keys press the same keys).
if [ -s "$tmp/progressive-whole" ] && cmp -s "$tmp/progressive-whole" "$tmp/progressive-plain"; then
	ok "progressive: the tree once listed is the one a whole listing shows"
else
	not_ok "progressive: the tree once listed is the one a whole listing shows"
	diff -u "$tmp/progressive-plain" "$tmp/progressive-whole" 2>&1 | sed 's/^/# /' | head -40
fi

# A listing that fails after its first phase was shown (a name map rule
# whose result is too long on a name of fwd_bwd only) ends the explorer
# with the error a whole listing gives, exit 2.
long=$(printf '$0%.0s' $(seq 500))
printf ':save-display held\n:release-listing\n:save-display never\n' >"$tmp/fail-late.keys"
out=$(cd "$tmp" && DUMPVIEW_TEST_HOLD_LISTING=1 DUMPVIEW_SCRIPT="$tmp/fail-late.keys" "$DUMPVIEW" \
	--name-map "^grad__logits\$=$long" baseline target 2>&1)
rc=$?
if [ "$rc" = 2 ] && [ -s "$tmp/held" ] && [ ! -e "$tmp/never" ] &&
	printf '%s' "$out" | grep -q "^dumpview: fwd_bwd/.*grad__logits.*: name map rule"; then
	ok "progressive: a listing failing after its first phase ends the explorer with its error, exit 2"
else
	not_ok "progressive: a listing failing after its first phase ends the explorer with its error (exit $rc): $(printf '%s' "$out" | head -c 300)"
fi

# The explorer's rule options are checked before the terminal starts: a bad
# rule or allow pattern is a usage error (exit 2) naming where, as in compare.
out=$(cd "$tmp" && DUMPVIEW_SCRIPT=/dev/null "$DUMPVIEW" --rule 'a=rel <= 1' --rule 'b=rell < 1' baseline target 2>&1)
rc=$?
if [ "$rc" = 2 ] && printf '%s' "$out" | grep -q "^dumpview: --rule: rule 2: column 3: unknown name 'rell'"; then
	ok "explorer: a bad --rule is exit 2 naming rule and column"
else
	not_ok "explorer: a bad --rule is exit 2 naming rule and column (exit $rc): $out"
fi
printf 'x rel <=\n' >"$tmp/bad.rules"
out=$(cd "$tmp" && DUMPVIEW_SCRIPT=/dev/null "$DUMPVIEW" --rules bad.rules baseline target 2>&1)
rc=$?
if [ "$rc" = 2 ] && printf '%s' "$out" | grep -q "^dumpview: --rules: bad.rules:1: column"; then
	ok "explorer: a bad --rules line is exit 2 naming line and column"
else
	not_ok "explorer: a bad --rules line is exit 2 naming line and column (exit $rc): $out"
fi
out=$(cd "$tmp" && DUMPVIEW_SCRIPT=/dev/null "$DUMPVIEW" --allow-failed-pattern '(' baseline target 2>&1)
rc=$?
if [ "$rc" = 2 ] && printf '%s' "$out" | grep -q "^dumpview: bad --allow-failed-pattern regex '(' at offset 1"; then
	ok "explorer: a bad --allow-failed-pattern is exit 2"
else
	not_ok "explorer: a bad --allow-failed-pattern is exit 2 (exit $rc): $out"
fi

# The exports of export.keys, against torch (expected.json).
python3 - "$tmp" "$EXAMPLES/expected.json" "$n" <<'PY'
import csv, json, math, os, re, sys

tmp, expected, n = sys.argv[1], json.load(open(sys.argv[2])), int(sys.argv[3])

def report(ok, what, detail=""):
    global n
    n += 1
    print("%s %d - %s%s" % ("ok" if ok else "not ok", n, what, (": " + detail) if detail and not ok else ""))

def close(a, b, rel=1e-6, abs_=1e-12):
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)

ref = next(p for ph in expected["phases"] if ph["phase"] == "inference" for p in ph["pairs"]
           if p["name"] == "mlp_output" and p["layer"] == 2)

def rows_of(name):
    with open(os.path.join(tmp, name), newline="") as f:
        return list(csv.DictReader(f))

# Full export, then the top 5 written over it (after a "no" kept it).
try:
    top = rows_of("mlp_output.diff.csv")
    above = rows_of("above.csv")
    problems = []
    if len(top) != 5:
        problems.append("top 5 export has %d rows" % len(top))
    diffs = [float(r["abs_diff"]) for r in above]
    if not all(d > 0.15 for d in diffs):
        problems.append("abs_diff above 0.15 export has smaller rows")
    m = max(top, key=lambda r: float(r["abs_diff"]))
    if not close(float(m["abs_diff"]), ref["max_abs_diff"]):
        problems.append("max abs_diff %s != torch %r" % (m["abs_diff"], ref["max_abs_diff"]))
    if [int(x) for x in re.findall(r"-?\d+", m["coord"])] != ref["max_abs_diff_coord"]:
        problems.append("max coord %s != torch %r" % (m["coord"], ref["max_abs_diff_coord"]))
    idx = [int(r["index"]) for r in top]
    if idx != sorted(idx):
        problems.append("top K rows not in row-major order")
    for r in top + above:
        b, t = float(r["baseline"]), float(r["target"])
        if not close(float(r["abs_diff"]), abs(t - b), rel=1e-6):
            problems.append("row %s: abs_diff != |t-b|" % r["index"])
            break
        if not close(float(r["rel_err"]), abs(t - b) / max(abs(b), 1e-12), rel=1e-5):
            problems.append("row %s: rel_err != |t-b|/max(|b|,1e-12)" % r["index"])
            break
    report(not problems, "e: top-K and abs_diff-limited exports agree with torch", "; ".join(problems))
except Exception as e:
    report(False, "e: top-K and abs_diff-limited exports", repr(e))

# The full export was overwritten by the top 5; export.keys saved no copy, so
# recompute the whole-tensor checks from a second full export if present.
try:
    full = rows_of("full.diff.csv") if os.path.exists(os.path.join(tmp, "full.diff.csv")) else None
    if full is None:
        raise FileNotFoundError("full.diff.csv")
    problems = []
    if len(full) != ref["numel"]:
        problems.append("%d rows, numel %d" % (len(full), ref["numel"]))
    b = [float(r["baseline"]) for r in full]
    t = [float(r["target"]) for r in full]
    d = [float(r["abs_diff"]) for r in full]
    sbt = sum(x * y for x, y in zip(b, t))
    sq = sum(x * x + y * y for x, y in zip(b, t))
    rel = 1 - 2 * sbt / sq if sq else 0.0
    if not close(rel, ref["rel_diff"], rel=1e-6):
        problems.append("rel_diff from the CSV %r != torch %r" % (rel, ref["rel_diff"]))
    if not close(max(d), ref["max_abs_diff"]):
        problems.append("max abs_diff %r != torch %r" % (max(d), ref["max_abs_diff"]))
    if not close(sum(d) / len(d), ref["mean_abs_diff"], rel=1e-5):
        problems.append("mean abs_diff %r != torch %r" % (sum(d) / len(d), ref["mean_abs_diff"]))
    if not close(sum(b) / len(b), ref["baseline_mean"], rel=1e-5) or not close(sum(t) / len(t), ref["target_mean"], rel=1e-5):
        problems.append("side means differ from torch")
    if [int(r["index"]) for r in full] != list(range(len(full))):
        problems.append("rows not in row-major order")
    report(not problems, "e: the full diff export agrees with torch (rows, rel_diff, max/mean abs_diff, means)",
           "; ".join(problems))
except Exception as e:
    report(False, "e: the full diff export agrees with torch", repr(e))

# The detail pane of the first divergent tensor (screen "detail") shows
# torch's statistics and metrics, to the digits printed.
try:
    screen = open(os.path.join(tmp, "detail"), encoding="utf-8").read().splitlines()
    problems = []
    stats = {}
    for line in screen:
        f = line.split()
        if len(f) >= 3 and f[0] in ("mean", "std", "min", "max") and f[0] not in stats:
            try:
                stats[f[0]] = (float(f[1]), float(f[2]))
            except ValueError:
                pass
    for k in ("mean", "std", "min", "max"):
        if k not in stats:
            problems.append("no %s row" % k)
            continue
        for side, v in zip(("baseline", "target"), stats[k]):
            if not close(v, ref["%s_%s" % (side, k)], rel=1e-5, abs_=1e-9):
                problems.append("%s %s %r != torch %r" % (side, k, v, ref["%s_%s" % (side, k)]))
    m = next((x for x in (re.search(r"rel_diff (\S+)\s+max_abs (\S+)\s+mean_abs (\S+)", l) for l in screen) if x), None)
    if not m:
        problems.append("no metrics line")
    else:
        for v, k in zip(m.groups(), ("rel_diff", "max_abs_diff", "mean_abs_diff")):
            if not close(float(v), ref[k], rel=1e-3):
                problems.append("%s %s != torch %r" % (k, v, ref[k]))
    coord = next((l for l in screen if "max |t-b| at" in l), "")
    c = re.search(r"at \[([^\]]*)\]", coord)
    if not c or [int(x) for x in c.group(1).split(",")] != ref["max_abs_diff_coord"]:
        problems.append("max |t-b| coordinate %r != torch %r" % (coord.strip(), ref["max_abs_diff_coord"]))
    report(not problems, "detail pane: statistics, metrics and max coordinate agree with torch", "; ".join(problems))
except Exception as e:
    report(False, "detail pane agrees with torch", repr(e))

# E: the visible table, one row per pair, metrics as torch's.
try:
    table = rows_of("dumpview-table.csv")
    problems = []
    by_key = {}
    for r in table:
        f = os.path.basename(r["target"] or r["baseline"])
        by_key[(r["phase"], f)] = r
    checked = 0
    for ph in expected["phases"]:
        for p in ph["pairs"]:
            r = by_key.get((ph["phase"], p["target"]))
            if r is None:
                problems.append("no row for %s/%s" % (ph["phase"], p["target"]))
                continue
            for k in ("rel_diff", "max_abs_diff", "mean_abs_diff"):
                if not close(float(r[k]), p[k], rel=1e-6):
                    problems.append("%s/%s %s %s != torch %r" % (ph["phase"], p["name"], k, r[k], p[k]))
            checked += 1
    report(not problems and checked > 0, "E: table export has every pair with torch's metrics (%d pairs)" % checked,
           "; ".join(problems[:5]))
except Exception as e:
    report(False, "E: table export", repr(e))

# xtopo-bundle.keys: `e` on a logical tensor (four rank files a side,
# concat, CP zigzag, fused heads) exports the unsharded, aligned tensor.
try:
    x = json.load(open(os.path.join(os.environ["FIXTURES"], "xtopo", "mixed", "expected.json")))
    ref = next(r["diff"] for r in x["records"] if r["name"] == "attn_q" and r["layer_id"] == 2)
    full = rows_of(os.path.join("xtopo", "mixed", "xtopo-attn_q.diff.csv"))
    problems = []
    if len(full) != 8 * 128:
        problems.append("%d rows, want %d" % (len(full), 8 * 128))
    b = [float(r["baseline"]) for r in full]
    t = [float(r["target"]) for r in full]
    d = [float(r["abs_diff"]) for r in full]
    sq = sum(u * u + v * v for u, v in zip(b, t))
    rel = sum((u - v) ** 2 for u, v in zip(b, t)) / sq if sq else 0.0
    if not close(rel, ref["rel_diff"], rel=1e-6):
        problems.append("rel_diff from the CSV %r != torch %r" % (rel, ref["rel_diff"]))
    if not close(max(d), ref["max_abs_diff"]) or not close(sum(d) / len(d), ref["mean_abs_diff"], rel=1e-5):
        problems.append("max/mean abs_diff %r/%r != torch %r/%r" % (max(d), sum(d) / len(d), ref["max_abs_diff"],
                                                                     ref["mean_abs_diff"]))
    m = max(full, key=lambda r: float(r["abs_diff"]))
    if [int(v) for v in re.findall(r"-?\d+", m["coord"])] != ref["max_abs_diff_coord"]:
        problems.append("max coord %s != torch %r" % (m["coord"], ref["max_abs_diff_coord"]))
    report(not problems, "e: a logical tensor's export is the unsharded tensor, as torch's", "; ".join(problems))
except Exception as e:
    report(False, "e: a logical tensor's export", repr(e))

# E after `t0.01` (sort.keys): `passed` follows the threshold the user set.
try:
    table = rows_of("table-t001.csv")
    by_key = {(r["phase"], os.path.basename(r["target"] or r["baseline"])): r for r in table}
    problems, checked = [], 0
    for ph in expected["phases"]:
        for p in ph["pairs"]:
            r = by_key.get((ph["phase"], p["target"]))
            want = "true" if p["rel_diff"] <= 0.01 else "false"
            if r is None or r["passed"] != want:
                problems.append("%s/%s passed %s, want %s (rel_diff %r)"
                                % (ph["phase"], p["name"], r and r["passed"], want, p["rel_diff"]))
            checked += 1
    report(not problems and checked > 0, "E after t: passed column follows the new threshold (%d pairs)" % checked,
           "; ".join(problems[:5]))
except Exception as e:
    report(False, "E after t: table export", repr(e))
PY
