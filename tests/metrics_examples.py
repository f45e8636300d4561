"""Checks tests/metrics_dump (the metrics layer) on examples/ against
expected.json. Prints TAP: one test per pair and per non-tensor."""
import json
import math
import os
import subprocess
import sys

examples, helper = sys.argv[1], sys.argv[2]
exp = json.load(open(os.path.join(examples, "expected.json")))

jobs = []  # (description, baseline path, target path, expected pair or None)
for ph in exp["phases"]:
    bdir = os.path.join(examples, ph["baseline_dir"])
    tdir = os.path.join(examples, ph["target_dir"])
    for p in ph["pairs"]:
        jobs.append(("%s %s" % (ph["phase"], p["target"]), os.path.join(bdir, p["baseline"]),
                     os.path.join(tdir, p["target"]), p))
    for p in ph["non_tensor"]:
        jobs.append(("%s non-tensor %s" % (ph["phase"], p["target"]), os.path.join(bdir, p["baseline"]),
                     os.path.join(tdir, p["target"]), None))

inp = "".join("%s\t%s\n" % (b, t) for _, b, t, _ in jobs)
out = subprocess.run([helper], input=inp, capture_output=True, text=True, check=True).stdout.splitlines()

print("1..%d" % (len(jobs) + 1))
print(("ok" if len(out) == len(jobs) else "not ok") + " 1 - one result per pair (%d)" % len(out))


def close(got, want, rel, absol=0.0):
    if isinstance(got, str):
        got = float(got)
    return abs(got - want) <= max(rel * abs(want), absol)


for n, ((desc, _, _, want), line) in enumerate(zip(jobs, out), start=2):
    got = json.loads(line)
    errs = []
    if want is None:
        if got["status"] != 3:  # DV_RESULT_NON_TENSOR
            errs.append("status %s, not NON_TENSOR" % got["status"])
    else:
        if got["status"] != 1:
            errs.append("status %s (%s)" % (got["status"], got.get("error")))
        else:
            if not close(got["rel_diff"], want["rel_diff"], 1e-9, 1e-15):
                errs.append("rel_diff %r != %r" % (got["rel_diff"], want["rel_diff"]))
            if got["max_abs_diff"] != want["max_abs_diff"]:
                errs.append("max_abs_diff %r != %r" % (got["max_abs_diff"], want["max_abs_diff"]))
            if not close(got["mean_abs_diff"], want["mean_abs_diff"], 1e-6):
                errs.append("mean_abs_diff %r != %r" % (got["mean_abs_diff"], want["mean_abs_diff"]))
            if got["passed"] != want["passed"]:
                errs.append("passed %r != %r" % (got["passed"], want["passed"]))
            if got["numel"] != want["numel"]:
                errs.append("numel %r != %r" % (got["numel"], want["numel"]))
            if got["max_abs_diff_coord"] != want["max_abs_diff_coord"]:
                errs.append("coord %r != %r" % (got["max_abs_diff_coord"], want["max_abs_diff_coord"]))
            for side in ("baseline", "target"):
                for k in ("mean", "std"):
                    key = "%s_%s" % (side, k)
                    if not close(got[key], want[key], 1e-9, 1e-15):
                        errs.append("%s %r != %r" % (key, got[key], want[key]))
                for k in ("min", "max"):
                    key = "%s_%s" % (side, k)
                    if got[key] != want[key]:
                        errs.append("%s %r != %r" % (key, got[key], want[key]))
    print(("ok" if not errs else "not ok") + " %d - %s" % (n, desc))
    for e in errs:
        print("# " + e)
