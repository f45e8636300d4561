"""Checks tests/metrics_dump (the metrics layer) on examples/ against
expected.json, and quantiles, mean and std against torch's own
(tests/fixtures/metrics/torch_quantiles.json: every example tensor, and
synthetic vectors the helper regenerates). Prints TAP."""
import json
import math
import os
import subprocess
import sys

examples, helper, fixtures = sys.argv[1], sys.argv[2], sys.argv[3]
exp = json.load(open(os.path.join(examples, "expected.json")))
tq = json.load(open(os.path.join(fixtures, "metrics", "torch_quantiles.json")))
QN = ["p1", "p5", "p50", "p95", "p99"]

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
inp += "".join("synthetic\t%d\t%d\t%d\n" % (s["kind"], s["n"], s["seed"]) for s in tq["synthetic"])
out = subprocess.run([helper], input=inp, capture_output=True, text=True, check=True).stdout.splitlines()
synth_out = out[len(jobs):]
out = out[:len(jobs)]

print("1..%d" % (len(jobs) + 3))
print(("ok" if len(out) == len(jobs) else "not ok") + " 1 - one result per pair (%d)" % len(out))


def close(got, want, rel, absol=0.0):
    if isinstance(got, str):
        got = float(got)
    return abs(got - want) <= max(rel * abs(want), absol)


for n, ((desc, b, t, want), line) in enumerate(zip(jobs, out), start=2):
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
            for side, path in (("baseline", b), ("target", t)):
                ref = tq["examples"].get(os.path.relpath(path, examples))
                if ref is None:
                    errs.append("%s: no torch quantiles for %s" % (side, path))
                else:
                    for i, q in enumerate(QN):
                        if got.get("%s_%s" % (side, q)) != ref["q_tensor"][i]:
                            errs.append("%s_%s %r != torch %r" % (side, q, got.get("%s_%s" % (side, q)),
                                                                ref["q_tensor"][i]))
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


def same(got, want, rel):
    if isinstance(want, float) and math.isnan(want):
        return got == "nan"
    return close(got, want, rel, 1e-300)


errs = []
for s, line in zip(tq["synthetic"], synth_out):
    got = json.loads(line)
    for i, q in enumerate(QN):
        if got.get("s_" + q) != s["q_tensor"][i]:
            errs.append("kind %d n %d %s: %r != torch %r" % (s["kind"], s["n"], q, got.get("s_" + q), s["q_tensor"][i]))
    if not same(got["s_mean"], s["mean64"], 1e-12) or not same(got["s_std"], s["std64"], 1e-12):
        errs.append("kind %d n %d mean/std %r %r != torch %r %r" % (s["kind"], s["n"], got["s_mean"], got["s_std"],
                                                                   s["mean64"], s["std64"]))
n = len(jobs) + 2
print(("ok" if len(synth_out) == len(tq["synthetic"]) else "not ok") + " %d - synthetic vectors: one result each" % n)
print(("ok" if not errs else "not ok") + " %d - synthetic vectors: quantiles exact, mean/std as torch's float64 (%s, %s)"
      % (n + 1, tq["torch"], tq["cpu_capability"]))
for e in errs[:20]:
    print("# " + e)
