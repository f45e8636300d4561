#!/usr/bin/python3
"""The comparator's work in Python/torch, as the reference to time dumpview against.

usage: torch_compare.py [--jsonl] BASELINE TARGET

For every target .pt under TARGET (recursively) it loads the partner with the same relative path under BASELINE
(the benchmark sets pair by path), converts both to float32 and computes what `dumpview compare` computes per pair:
mean, std, min, max, the five percentiles in one torch.quantile call per side (below 10 M elements, as SGLang's
comparator), rel_diff (float64 sums), max_abs_diff and mean_abs_diff. Prints one line per pair (--jsonl: one JSON
object) and a summary. Uses one thread per core, like torch does by default.
"""
import json
import os
import sys

import torch

QUANTILES = torch.tensor([0.01, 0.05, 0.5, 0.95, 0.99])
PERCENTILE_LIMIT = 10_000_000


def side_stats(x):
    st = {"mean": x.mean().item(), "std": x.std().item(), "min": x.min().item(), "max": x.max().item()}
    if x.numel() < PERCENTILE_LIMIT:
        q = torch.quantile(x.flatten(), QUANTILES)
        for k, v in zip(("p1", "p5", "p50", "p95", "p99"), q.tolist()):
            st[k] = v
    return st


def load_value(path):
    obj = torch.load(path, map_location="cpu")
    return obj["value"] if isinstance(obj, dict) and "value" in obj else obj


def compare(bpath, tpath):
    b = load_value(bpath).float()
    t = load_value(tpath).float()
    bd, td = b.double(), t.double()
    denom = (bd * bd + td * td).sum().item()
    rel = 0.0 if denom == 0 else 1.0 - 2.0 * (bd * td).sum().item() / denom
    diff = (t - b).abs()
    return {
        "rel_diff": rel,
        "max_abs_diff": diff.max().item(),
        "mean_abs_diff": diff.mean().item(),
        "baseline_stats": side_stats(b),
        "target_stats": side_stats(t),
    }


def main(argv):
    jsonl = "--jsonl" in argv
    args = [a for a in argv if a != "--jsonl"]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    base, targ = args
    rels = []
    for dirpath, _, files in os.walk(targ):
        for f in files:
            if f.endswith(".pt"):
                rels.append(os.path.relpath(os.path.join(dirpath, f), targ))
    rels.sort()
    passed = failed = 0
    for rel in rels:
        r = compare(os.path.join(base, rel), os.path.join(targ, rel))
        ok = r["rel_diff"] <= 1e-3
        passed += ok
        failed += not ok
        if jsonl:
            r["target"] = rel
            r["passed"] = ok
            print(json.dumps(r))
        else:
            print("%s rel_diff=%.6g\tmax_abs_diff=%.6g\tmean_abs_diff=%.6g\t%s"
                  % ("ok  " if ok else "FAIL", r["rel_diff"], r["max_abs_diff"], r["mean_abs_diff"], rel))
    print("Summary: %d passed, %d failed (total %d)" % (passed, failed, passed + failed),
          file=sys.stdout if not jsonl else sys.stderr)
    return 0 if failed == 0 and passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
