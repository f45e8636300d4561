"""Checks tests/metrics_dump on tests/fixtures/metrics/pairs/ (files written by
torch.save, expected values computed by torch: gen_pairs.py). Prints TAP."""
import json
import math
import os
import subprocess
import sys

helper, fixtures = sys.argv[1], sys.argv[2]
root = os.path.join(fixtures, "metrics", "pairs")
exp = json.load(open(os.path.join(root, "expected.json")))
names = sorted(exp["pairs"])
inp = "".join("%s\t%s\n" % (os.path.join(root, "baseline", n + ".pt"), os.path.join(root, "target", n + ".pt"))
              for n in names)
out = subprocess.run([helper], input=inp, capture_output=True, text=True, check=True).stdout.splitlines()
QN = ["p1", "p5", "p50", "p95", "p99"]


def num(v):
    return float(v) if isinstance(v, str) else v


def close(got, want, rel, absol=0.0):
    got = num(got)
    if isinstance(want, float) and math.isnan(want):
        return got is not None and math.isnan(got)
    if isinstance(want, float) and math.isinf(want):
        return got == want
    return got is not None and abs(got - want) <= max(rel * abs(want), absol)


print("1..%d" % len(names))
for i, (name, line) in enumerate(zip(names, out), start=1):
    w, g, errs = exp["pairs"][name], json.loads(line), []
    if w.get("shape_mismatch"):
        if g["status"] != 2:  # DV_RESULT_SHAPE_MISMATCH
            errs.append("status %r, not SHAPE_MISMATCH" % g["status"])
    else:
        if g["status"] != 1:
            errs.append("status %r (%s)" % (g["status"], g.get("error")))
        for k, rel, absol in (("rel_diff", 1e-9, 1e-15), ("mean_abs_diff", 1e-6, 0)):
            if not close(g.get(k), w[k], rel, absol):
                errs.append("%s %r != torch %r" % (k, g.get(k), w[k]))
        for k in ("max_abs_diff", "max_abs_diff_base", "max_abs_diff_targ"):
            if not close(g.get(k), w[k], 0):
                errs.append("%s %r != torch %r" % (k, g.get(k), w[k]))
        if g.get("max_abs_diff_coord") != w["max_abs_diff_coord"]:
            errs.append("coord %r != torch %r" % (g.get("max_abs_diff_coord"), w["max_abs_diff_coord"]))
        if g.get("identical") != w["identical"]:
            errs.append("identical %r != torch %r" % (g.get("identical"), w["identical"]))
        for k in ("bf16_rel_diff", "bf16_max_abs_diff", "bf16_mean_abs_diff"):
            if (k in w) != (k in g):
                errs.append("%s present %r, torch %r" % (k, k in g, k in w))
            elif k in w and not close(g[k], w[k], 1e-9 if k != "bf16_max_abs_diff" else 0, 1e-15):
                errs.append("%s %r != torch %r" % (k, g[k], w[k]))
    for side in ("baseline", "target"):
        ws = w[side + "_stats"]
        for k, rel in (("mean", 1e-12), ("std", 1e-12), ("min", 0), ("max", 0)):
            if not close(g.get("%s_%s" % (side, k)), ws[k], rel, 1e-300):
                errs.append("%s_%s %r != torch %r" % (side, k, g.get("%s_%s" % (side, k)), ws[k]))
        for k in ("nan", "inf"):
            if g.get("%s_%s" % (side, k)) != ws[k]:
                errs.append("%s_%s %r != torch %r" % (side, k, g.get("%s_%s" % (side, k)), ws[k]))
        for j, q in enumerate(QN):
            if "p" in ws and not close(g.get("%s_%s" % (side, q)), ws["p"][j], 0):
                errs.append("%s_%s %r != torch %r" % (side, q, g.get("%s_%s" % (side, q)), ws["p"][j]))
    print(("ok" if not errs else "not ok") + " %d - %s" % (i, name))
    for e in errs:
        print("# " + e)
