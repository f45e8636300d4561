#!/bin/sh
# Bundling and unsharding plans of the xtopo fixtures against torch's
# answers in each case's expected.json: bundles in order, per side the
# dims, file count, ranks, shard, unsharded and axis-aligned shapes, the
# traced plan and the axis aligner's patterns;
# skipped bundles fail on their missing side. Run under the case's preset
# and under the default rule (dv_preset_for_phase).
: "${FIXTURES:?}" "${TESTS_SRCDIR:?}"
PLAN=${XTOPO_PLAN:-${TOP_BUILDDIR:-.}/tests/xtopo_plan}
export PLAN
exec python3 -B - "$@" <<'PY'
import json, os, subprocess, sys

plan_bin = os.environ["PLAN"]
root = os.path.join(os.environ["FIXTURES"], "xtopo")
sys.path.insert(0, os.environ["TESTS_SRCDIR"])  # dvtest.py
from dvtest import ok, close, plan_and_exit  # noqa: E402

def shape(s):
    return None if s == "-" else json.loads(s)

def run(case, preset):
    p = subprocess.run([plan_bin, os.path.join(root, case, "baseline"), os.path.join(root, case, "target"),
                        preset], capture_output=True, text=True)
    bundles = []
    for line in p.stdout.splitlines():
        f = line.split("\t")
        if f[0] == "bundle":
            bundles.append(dict(name=f[1], layer=None if f[2] == "-1" else int(f[2])))
        elif f[0] == "side":
            bundles[-1][f[1]] = dict(num_files=int(f[2]), ranks=[int(r) for r in f[3].split(",") if r],
                                     dims=None if f[4] == "-" else f[4], shard_shape=shape(f[5]),
                                     unsharded_shape=shape(f[6]), plan=f[7])
        elif f[0] == "align":
            b = bundles[-1]
            if f[1].startswith("ERROR: "):
                b["align"] = f[1]
            else:
                b["align"] = None if f[1] == "-" else f[1]
                b["baseline"]["shape"], b["target"]["shape"] = shape(f[2]), shape(f[3])
    return p.returncode, p.stderr, bundles

for case in sorted(os.listdir(root)):
    exp_path = os.path.join(root, case, "expected.json")
    if not os.path.exists(exp_path):
        continue
    exp = json.load(open(exp_path))
    for preset in (exp["preset"], "auto"):
        rc, err, bundles = run(case, preset)
        tag = "%s (%s)" % (case, preset)
        ok(rc == 0, "%s: the driver runs (%s)" % (tag, err.strip()))
        skipped = {(s["name"], s["layer_id"]) for s in exp.get("skips", [])}
        planned = [b for b in bundles if (b["name"], b["layer"]) not in skipped]
        ok([(b["name"], b["layer"]) for b in planned] == [(r["name"], r["layer_id"]) for r in exp["records"]],
           "%s: bundles in the target's order" % tag)
        for s in exp.get("skips", []):
            b = [b for b in bundles if (b["name"], b["layer"]) == (s["name"], s["layer_id"])]
            side = "target" if s["reason"].startswith("target") else "baseline"
            ok(len(b) == 1 and b[0][side]["plan"].startswith("ERROR: "),
               "%s: %s is not unsharded on the %s side" % (tag, s["name"], side))
        for b, r in zip(planned, exp["records"]):
            for side in ("baseline", "target"):
                want, got = r[side], b[side]
                what = "%s: %s layer %s %s" % (tag, r["name"], r["layer_id"], side)
                for key in ("dims", "num_files", "ranks", "shard_shape", "unsharded_shape"):
                    ok(got[key] == want[key], "%s %s %s == %s" % (what, key, got[key], want[key]))
                ok(got["plan"] == r["plan"][side], "%s plan %s" % (what, got["plan"]))
                ok("  %s: %s" % (side, got["plan"]) in r["plan_text"].splitlines(), "%s plan_text line" % what)
                ok(got.get("shape") == want["shape"], "%s aligned shape %s" % (what, got.get("shape")))
            what = "%s: %s layer %s" % (tag, r["name"], r["layer_id"])
            ok(b.get("align", "missing") == r["plan"]["axis_aligner"], "%s axis_aligner %s" % (what, b.get("align")))
            ok(("  axis_aligner: %s" % b.get("align") in r["plan_text"].splitlines()) == (r["plan"]["axis_aligner"] is not None),
               "%s axis_aligner plan_text line" % what)
plan_and_exit()
PY
