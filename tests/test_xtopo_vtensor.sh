#!/bin/sh
# Streamed unsharding of the xtopo fixtures against torch's answers in each
# case's expected.json: per record the aligned shapes, rel_diff (1e-9
# relative), max_abs_diff and its coordinate (exact), mean_abs_diff (1e-6
# relative: torch averages in float32, the reader in float64), reads of 7
# elements equal to one whole read, and the replicated checks (side, axis,
# indices, ranks, outcome, max_abs_diff exact); skipped bundles fail to
# open on their side.
: "${FIXTURES:?}" "${TESTS_SRCDIR:?}"
VT=${XTOPO_VTENSOR:-${TOP_BUILDDIR:-.}/tests/xtopo_vtensor}
export VT
exec python3 -B - "$@" <<'PY'
import json, os, subprocess, sys

vt_bin = os.environ["VT"]
root = os.path.join(os.environ["FIXTURES"], "xtopo")
sys.path.insert(0, os.environ["TESTS_SRCDIR"])  # dvtest.py
from dvtest import ok, close, plan_and_exit  # noqa: E402

for case in sorted(os.listdir(root)):
    exp_path = os.path.join(root, case, "expected.json")
    if not os.path.exists(exp_path):
        continue
    exp = json.load(open(exp_path))
    p = subprocess.run([vt_bin, os.path.join(root, case, "baseline"), os.path.join(root, case, "target"),
                        exp["preset"]], capture_output=True, text=True)
    ok(p.returncode == 0, "%s: the driver runs (%s)" % (case, p.stderr.strip()))
    got = {}
    for line in p.stdout.splitlines():
        j = json.loads(line)
        got[(j["name"], None if j["layer"] == -1 else j["layer"])] = j
    for s in exp.get("skips", []):
        g = got.get((s["name"], s["layer_id"]))
        ok(g is not None and "error" in g, "%s: %s is not opened (%s)" % (case, s["name"], g and g.get("error")))
    for r in exp["records"]:
        what = "%s: %s layer %s" % (case, r["name"], r["layer_id"])
        g = got.get((r["name"], r["layer_id"]))
        ok(g is not None and "error" not in g, "%s opens (%s)" % (what, g and g.get("error")))
        if g is None or "error" in g:
            continue
        ok(g["shape"] == [r["baseline"]["shape"], r["target"]["shape"]], "%s aligned shapes %s" % (what, g["shape"]))
        d, e = g["diff"], r["diff"]
        ok(close(d["rel_diff"], e["rel_diff"]), "%s rel_diff %r == %r" % (what, d["rel_diff"], e["rel_diff"]))
        ok(d["max_abs_diff"] == e["max_abs_diff"], "%s max_abs_diff %r == %r" % (what, d["max_abs_diff"], e["max_abs_diff"]))
        ok(close(d["mean_abs_diff"], e["mean_abs_diff"], 1e-6),
           "%s mean_abs_diff %r == %r" % (what, d["mean_abs_diff"], e["mean_abs_diff"]))
        ok(d["max_abs_diff_coord"] == e["max_abs_diff_coord"],
           "%s max_abs_diff_coord %s == %s" % (what, d["max_abs_diff_coord"], e["max_abs_diff_coord"]))
        ok(g["chunks_agree"], "%s reads of 7 elements agree with one whole read" % what)
        want = r["replicated_checks"]
        ok(len(g["checks"]) == len(want), "%s %d replicated checks" % (what, len(g["checks"])))
        for c, w in zip(g["checks"], want):
            same = all(c[k] == w[k] for k in ("side", "axis", "group_index", "compared_index", "baseline_index",
                                              "ranks", "passed"))
            same = same and c["max_abs_diff"] == w["diff"]["max_abs_diff"]
            same = same and close(c["rel_diff"], w["diff"]["rel_diff"])
            same = same and close(c["mean_abs_diff"], w["diff"]["mean_abs_diff"], 1e-6)
            ok(same, "%s check %s %s group %d member %d passed=%s" % (what, c["side"], c["axis"], c["group_index"],
                                                                      c["compared_index"], c["passed"]))
plan_and_exit()
PY
