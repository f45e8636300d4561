#!/usr/bin/env python3
"""Checks dumpview's numbers on a benchmark set against the torch script's, pair by pair.

usage: cross_check.py DUMPVIEW_JSONL TORCH_JSONL
  DUMPVIEW_JSONL: `dumpview compare --format jsonl BASE TARGET` output
  TORCH_JSONL:    `torch_compare.py --jsonl BASE TARGET` output

Tolerances: rel_diff within 1e-9 relative (or 1e-15 absolute), max_abs_diff exact, mean_abs_diff
within 1e-6 relative; side stats: std within 1e-6 relative, mean within 1e-6 relative or 1e-6 * std absolute (torch
accumulates a float32 mean in float32), min/max exact, percentiles within 1e-6 relative (torch versions differ in the
lerp's rounding). Prints TAP, one test per metric kind, with the worst offenders.
Python stdlib only.
"""
import json
import math
import sys


def close(a, b, rel, abs_=0.0):
    if a is None or b is None:
        return a is b
    if isinstance(a, str) or isinstance(b, str):
        return str(a) == str(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= max(rel * max(abs(a), abs(b)), abs_)


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    dv = {}
    for line in open(argv[0]):
        o = json.loads(line)
        if o.get("type") == "pair":
            dv[o["target"]] = o
    th = {}
    for line in open(argv[1]):
        o = json.loads(line)
        th[o["target"]] = o
    checks = {
        "rel_diff": lambda d, t: close(d["rel_diff"], t["rel_diff"], 1e-9, 1e-15),
        "max_abs_diff": lambda d, t: close(d["max_abs_diff"], t["max_abs_diff"], 0.0),
        "mean_abs_diff": lambda d, t: close(d["mean_abs_diff"], t["mean_abs_diff"], 1e-6),
        "passed": lambda d, t: d["passed"] == t["passed"],
    }
    for side in ("baseline_stats", "target_stats"):
        for k, rel in (("mean", 1e-6), ("std", 1e-6), ("min", 0.0), ("max", 0.0),
                       ("p1", 1e-6), ("p5", 1e-6), ("p50", 1e-6), ("p95", 1e-6), ("p99", 1e-6)):
            # torch sums float32 means in float32: near zero only an absolute bound on the scale of std is fair
            checks["%s.%s" % (side, k)] = (lambda s, k, rel: lambda d, t: close(
                (d.get(s) or {}).get(k), t[s].get(k), rel,
                1e-6 * abs(t[s].get("std") or 0.0) if k == "mean" else 1e-12))(side, k, rel)
    results = []
    missing = sorted(set(th) ^ set(dv))
    results.append((not missing and len(th) > 0,
                    "the same %d pairs on both sides%s" % (len(th), "; unmatched: %s" % missing[:3] if missing else "")))
    for name, fn in checks.items():
        bad = [k for k in th if k in dv and not fn(dv[k], th[k])]
        what = "%s agrees on %d pairs" % (name, len(th))
        if bad:
            k = bad[0]
            key = name.split(".")
            dval = dv[k] if len(key) == 1 else (dv[k].get(key[0]) or {})
            tval = th[k] if len(key) == 1 else th[k][key[0]]
            what += " (%d differ; e.g. %s: dumpview %r, torch %r)" % (len(bad), k, dval.get(key[-1]),
                                                                       tval.get(key[-1]))
        results.append((not bad, what))
    print("1..%d" % len(results))
    for n, (ok, what) in enumerate(results, 1):
        print("%s %d - %s" % ("ok" if ok else "not ok", n, what))
    return 0 if all(ok for ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
