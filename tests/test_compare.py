#!/usr/bin/env python3
"""`dumpview compare` end to end, against torch's answers (TAP).

- examples/ (expected.json): every pair's metrics and stats within
  tolerances (rel_diff 1e-9 relative; max_abs_diff, min and max exact;
  mean_abs_diff, mean, std and percentiles 1e-6 relative), non-tensor
  values, unmatched files, first divergence, summary counts, exit code 1.
- tests/fixtures/compare/edge: the synthetic edge cases of gen.py (all-zero,
  NaN, Inf, empty, shape unify/mismatch, duplicate tags, fp32 vs bf16,
  integer tensors, one-sided phases, odd file names...), same checks.
- tests/fixtures/compare/torch113: real dumps written by torch 1.13 (older
  naming, engines/ layout, bare values), same checks.
- tests/fixtures/compare/pass: all pass (exit 0); golden text (UTF-8 and
  ASCII), CSV, --quiet, --output, --phase, --filter, --layer-regex, exit 2
  cases, bad regex message.
Standard library only.
"""
import csv
import io
import json
import math
import os
import re
import shutil
import sys
import tempfile

import dvtest
from dvtest import jsonl, ok, run

EXAMPLES = os.environ["EXAMPLES"]
FIXTURES = os.environ["FIXTURES"]
EDGE = os.path.join(FIXTURES, "compare", "edge")
PASS = os.path.join(FIXTURES, "compare", "pass")


def num(v):
    """A JSON number or one of the strings "nan", "inf", "-inf"."""
    if isinstance(v, str):
        return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}[v]
    return v


def close(got, want, rel, abs_=0.0):
    if got is None or want is None:
        return got is None and want is None
    g, w = num(got), num(want)
    if math.isnan(w) or math.isnan(g):
        return math.isnan(w) and math.isnan(g)
    if math.isinf(w) or math.isinf(g):
        return g == w
    return abs(g - w) <= max(rel * abs(w), abs_)


def relpath(side_dir, fname):
    """expected.json names dirs "baseline/inference/x"; reports print paths relative to the run."""
    d = (side_dir or "").split("/", 1)
    d = d[1] if len(d) > 1 else ""
    return d + "/" + fname if d else fname


def check_run(label, expected, base, targ, want_rc, extra=()):
    rc, recs, err = jsonl(*extra, base, targ)
    ok(rc == want_rc, "%s: exit code %d" % (label, want_rc), "got %d, stderr: %s" % (rc, err))
    bad = [r for r in recs if r.get("type") == "bad-json"]
    ok(not bad and recs, "%s: every line is a JSON object" % label, bad[:3])
    ok(recs and recs[-1].get("type") == "summary", "%s: the last line is the summary" % label)
    summary = recs[-1] if recs else {}
    pairs = {}
    for r in recs:
        if r.get("type") == "pair":
            pairs.setdefault((r["phase"], r["target"]), []).append(r)
    fields = ("type", "phase", "layer", "name", "rank", "step", "baseline", "target", "baseline_dtype",
              "target_dtype", "baseline_shape", "target_shape", "rel_diff", "max_abs_diff", "mean_abs_diff",
              "passed", "baseline_stats", "target_stats", "max_abs_diff_coord")
    missing = [(r.get("name"), f) for r in recs if r.get("type") == "pair" for f in fields if f not in r]
    ok(not missing, "%s: pair lines carry every contract field" % label, missing[:5])
    stat_fields = ("mean", "std", "min", "max", "p1", "p5", "p50", "p95", "p99", "nan", "inf")
    missing = [(r.get("name"), f) for r in recs if r.get("type") == "pair" and r.get("baseline_stats")
               for f in stat_fields if f not in r["baseline_stats"] or f not in r["target_stats"]]
    ok(not missing, "%s: stats objects carry mean..p99, nan, inf" % label, missing[:5])

    npairs = sum(len(p["pairs"]) for p in expected["phases"])
    ok(sum(len(v) for v in pairs.values()) == npairs, "%s: %d pair lines" % (label, npairs),
       "got %d" % sum(len(v) for v in pairs.values()))
    problems = {k: [] for k in ("id", "rel", "max", "mean", "passed", "stats", "coord", "pct", "shape", "bf16")}
    for ph in expected["phases"]:
        for e in ph["pairs"]:
            tpath = relpath(ph["target_dir"], e["target"])
            phase = ph["phase"]
            got = pairs.get((phase, tpath))
            if not got and ph["target_dir"] == "target/":     # bare runs: any phase name
                got = [r for k, v in pairs.items() if k[1] == tpath for r in v]
            if not got:
                problems["id"].append("no pair line for %s %s" % (phase, tpath))
                continue
            g = got[0]
            who = "%s %s" % (phase, e["target"])
            if g["baseline"] != relpath(ph["baseline_dir"], e["baseline"]) or g["name"] != e["name"] or \
               g["layer"] != e["layer"] or g["rank"] != e["rank"] or \
               ("step" in e and g["step"] != e["step"]) or \
               g["baseline_dtype"] != e["baseline_dtype"] or g["target_dtype"] != e["target_dtype"] or \
               g["baseline_shape"] != e["baseline_shape"] or g["target_shape"] != e["target_shape"]:
                problems["id"].append("%s: %s" % (who, {k: g.get(k) for k in (
                    "baseline", "name", "layer", "rank", "step", "baseline_dtype", "target_dtype",
                    "baseline_shape", "target_shape")}))
            if g["passed"] != e["passed"]:
                problems["passed"].append("%s: passed %s, torch %s" % (who, g["passed"], e["passed"]))
            if e.get("shape_mismatch"):
                if "shape" not in (g.get("error") or "") or g["rel_diff"] is not None:
                    problems["shape"].append("%s: %s" % (who, g.get("error")))
                continue
            if not close(g["rel_diff"], e["rel_diff"], 1e-9, 1e-15):
                problems["rel"].append("%s: %r vs torch %r" % (who, g["rel_diff"], e["rel_diff"]))
            if "max_abs_diff" in e:
                if num(g["max_abs_diff"]) != num(e["max_abs_diff"]) and not (
                        math.isnan(num(e["max_abs_diff"])) and g["max_abs_diff"] == "nan"):
                    problems["max"].append("%s: %r vs torch %r" % (who, g["max_abs_diff"], e["max_abs_diff"]))
                if not close(g["mean_abs_diff"], e["mean_abs_diff"], 1e-6):
                    problems["mean"].append("%s: %r vs torch %r" % (who, g["mean_abs_diff"], e["mean_abs_diff"]))
                if e.get("max_abs_diff_coord") is not None and g["max_abs_diff_coord"] != e["max_abs_diff_coord"]:
                    problems["coord"].append("%s: %r vs torch %r" % (who, g["max_abs_diff_coord"],
                                                                    e["max_abs_diff_coord"]))
            for side in ("baseline", "target"):
                s = g["%s_stats" % side] or {}
                for k in ("mean", "std", "min", "max"):
                    want = e.get("%s_%s" % (side, k))
                    if want is None:
                        continue
                    tol = 0.0 if k in ("min", "max") else 1e-6
                    if not close(s.get(k), want, tol, 1e-9 if tol else 0.0):
                        problems["stats"].append("%s %s %s: %r vs torch %r" % (who, side, k, s.get(k), want))
                for k in ("p1", "p5", "p50", "p95", "p99", "nan", "inf"):
                    want = e.get("%s_%s" % (side, k))
                    if want is not None and not close(s.get(k), want, 1e-6, 1e-9):
                        problems["pct"].append("%s %s %s: %r vs torch %r" % (who, side, k, s.get(k), want))
            if "bf16_rel_diff" in e and not close(g.get("bf16_rel_diff"), e["bf16_rel_diff"], 1e-9, 1e-15):
                problems["bf16"].append("%s: %r vs torch %r" % (who, g.get("bf16_rel_diff"), e["bf16_rel_diff"]))
    ok(not problems["id"], "%s: every pair found, names/layers/ranks/dtypes/shapes as torch" % label,
       "\n".join(problems["id"]))
    ok(not problems["rel"], "%s: rel_diff within 1e-9 relative" % label, "\n".join(problems["rel"]))
    ok(not problems["max"], "%s: max_abs_diff exact" % label, "\n".join(problems["max"]))
    ok(not problems["mean"], "%s: mean_abs_diff within 1e-6 relative" % label, "\n".join(problems["mean"]))
    ok(not problems["passed"], "%s: passed as torch" % label, "\n".join(problems["passed"]))
    ok(not problems["stats"], "%s: side stats mean/std/min/max as torch" % label, "\n".join(problems["stats"]))
    ok(not problems["coord"], "%s: max_abs_diff_coord as torch" % label, "\n".join(problems["coord"]))
    if any("baseline_p50" in e for p in expected["phases"] for e in p["pairs"]):
        ok(not problems["pct"], "%s: percentiles and NaN/Inf counts as torch" % label, "\n".join(problems["pct"]))
        ok(not problems["shape"], "%s: shape mismatch fails with an error naming it" % label,
           "\n".join(problems["shape"]))
        ok(not problems["bf16"], "%s: fp32 vs bf16 also compared after casting to bf16" % label,
           "\n".join(problems["bf16"]))

    # Non-tensor values.
    nt = {(r["phase"], r["name"]): r for r in recs if r.get("type") == "non_tensor"}
    want_nt = {(p["phase"], e["name"]): e for p in expected["phases"] for e in p["non_tensor"]}
    bad = [k for k in want_nt if k not in nt or ("equal" in want_nt[k] and nt[k]["equal"] != want_nt[k]["equal"])]
    ok(set(nt) == set(want_nt) and not bad, "%s: non-tensor values (%d)" % (label, len(want_nt)),
       "got %s, want %s" % (sorted(nt), sorted(want_nt)))

    # Unmatched files, per phase and side.
    got_un = sorted((r["phase"], r["side"], os.path.basename(r["file"])) for r in recs if r.get("type") == "unmatched")
    want_un = sorted([(p["phase"], "baseline", f) for p in expected["phases"] for f in p["unmatched_baseline"]] +
                     [(p["phase"], "target", f) for p in expected["phases"] for f in p["unmatched_target"]])
    ok(got_un == want_un, "%s: unmatched files (%d)" % (label, len(want_un)), "got %s\nwant %s" % (got_un, want_un))

    # Execution order: phases in order, then step, dump_index, rank.
    order = [p["phase"] for p in expected["phases"]]
    keyed = {}
    for p in expected["phases"]:
        for e in p["pairs"]:
            keyed[relpath(p["target_dir"], e["target"])] = (e.get("step", 0), e["dump_index"], e["rank"])
    seq = [(order.index(r["phase"]) if r["phase"] in order else 0, keyed.get(r["target"]))
           for r in recs if r.get("type") == "pair"]
    seq = [(i, k) for i, k in seq if k is not None and None not in k]
    ok(seq == sorted(seq), "%s: pairs print in execution order" % label, seq)

    # Summary and first divergence.
    fd, want_fd = summary.get("first_divergence"), expected.get("first_divergence")
    if want_fd is None:
        ok(fd is None, "%s: no first divergence" % label, fd)
    else:
        good = fd is not None and fd.get("phase") == want_fd["phase"] and fd.get("name") == want_fd["name"] and \
            fd.get("layer") == want_fd["layer"] and fd.get("rank") == want_fd["rank"] and \
            os.path.basename(fd.get("target", "")) == want_fd["target"] and \
            ("step" not in want_fd or fd.get("step") == want_fd["step"])
        ok(good, "%s: first divergence %s layer %s %s" % (label, want_fd["phase"], want_fd["layer"],
                                                          want_fd["name"]), "got %s\nwant %s" % (fd, want_fd))
        ok(fd is not None and all(k in fd for k in ("phase", "layer", "name", "rank", "step", "target")),
           "%s: first_divergence has phase, layer, name, rank, step, target" % label, fd)
    if "counts" in expected:
        c = expected["counts"]
    else:
        c = dict(passed=sum(p["passed"] for p in expected["phases"]),
                 failed=sum(p["failed"] for p in expected["phases"]))
    got_c = {k: summary.get(k) for k in c}
    ok(got_c == c, "%s: summary counts %s" % (label, c), "got %s" % got_c)
    ok(isinstance(summary.get("diagnosis"), str) and summary.get("diagnosis"),
       "%s: summary has a diagnosis" % label, summary.get("diagnosis"))
    return recs


def golden_text(got, want_path, label):
    """Line by line; numbers printed in round-trip form may differ from
    torch's in the last digits (sums in another order), all else is exact."""
    with open(want_path, encoding="utf-8") as f:
        want = f.read().split("\n")
    got = got.split("\n")
    ok(len(got) >= 2 and got[-2].startswith("Diagnosis: "), "%s: ends with the diagnosis" % label, got[-3:])
    got = got[:-2] + [""]
    numre = re.compile(r"-?\d+\.\d+(?:e[-+]\d+)?")
    diffs = []
    for i in range(max(len(got), len(want))):
        g = got[i] if i < len(got) else "<missing>"
        w = want[i] if i < len(want) else "<missing>"
        if g == w:
            continue
        gn, wn = numre.findall(g), numre.findall(w)
        if numre.sub("#", g) == numre.sub("#", w) and len(gn) == len(wn) and all(
                a == b or (len(b.split(".")[1]) > 4 and close(float(a), float(b), 1e-9)) for a, b in zip(gn, wn)):
            continue
        diffs.append("line %d:\n  got  %r\n  want %r" % (i + 1, g, w))
    ok(not diffs, "%s: text report as golden %s" % (label, os.path.basename(want_path)), "\n".join(diffs[:5]))


def main():
    with open(os.path.join(EXAMPLES, "expected.json")) as f:
        ex = json.load(f)
    check_run("examples", ex, os.path.join(EXAMPLES, "baseline"), os.path.join(EXAMPLES, "target"), 1)
    with open(os.path.join(EDGE, "expected.json")) as f:
        edge = json.load(f)
    # the edge fixture pairs file by file (its expected.json is per rank file)
    recs = check_run("edge", edge, os.path.join(EDGE, "baseline"), os.path.join(EDGE, "target"), 1,
                     ("--preset", "raw"))
    by_name = {r["name"]: r for r in recs if r.get("type") == "pair"}
    ok(by_name.get("nan_out", {}).get("rel_diff") == "nan" and by_name["nan_out"]["passed"] is False,
       "edge: NaN gives rel_diff \"nan\" and fails", by_name.get("nan_out"))
    ok(by_name.get("inf_out", {}).get("max_abs_diff") == "inf" and
       by_name["inf_out"]["target_stats"]["inf"] == 1 and by_name["inf_out"]["target_stats"]["max"] == "inf",
       "edge: Inf gives max_abs_diff \"inf\", counted in the stats", by_name.get("inf_out"))
    ok(by_name.get("empty", {}).get("passed") is True and by_name["empty"]["rel_diff"] == 0 and
       by_name["empty"]["target_shape"] == [0, 4], "edge: empty tensors compare equal", by_name.get("empty"))
    ok(by_name.get("zeros", {}).get("rel_diff") == 0 and by_name["zeros"]["passed"] is True,
       "edge: two all-zero tensors have rel_diff 0", by_name.get("zeros"))
    ok(by_name.get("weird tensor", {}).get("layer") is None and by_name["weird tensor"]["rank"] is None and
       by_name["weird tensor"]["step"] is None, "edge: a file name with no '=' pairs by its stem, no tags",
       by_name.get("weird tensor"))
    ok("a=b" in by_name and "attn out" in by_name, "edge: '=' in a value and spaces in a name survive")
    ok(by_name.get("non_intrusive__model.layers.4.mlp.output", {}).get("layer") == 4,
       "edge: the layer of a hook-made name comes from the layer regex")
    dups = [r for r in recs if r.get("type") == "pair" and r["name"] == "dup"]
    ok(len(dups) == 2 and all(r["passed"] for r in dups) and
       [os.path.basename(r["baseline"]).split("___")[2] for r in dups] == ["dump_index=12", "dump_index=14"],
       "edge: duplicate tags pair in dump order", dups)
    ok(by_name.get("mixed", {}).get("bf16_rel_diff") is not None, "edge: fp32 vs bf16 reports bf16 metrics")

    with open(os.path.join(PASS, "expected.json")) as f:
        ps = json.load(f)
    check_run("pass", ps, os.path.join(PASS, "baseline"), os.path.join(PASS, "target"), 0)
    # Real dumps written by torch 1.13 (another writer than the corpus's 2.11).
    t113 = os.path.join(FIXTURES, "compare", "torch113")
    with open(os.path.join(t113, "expected.json")) as f:
        t113_expected = json.load(f)
    check_run("torch113", t113_expected, os.path.join(t113, "baseline"), os.path.join(t113, "target"), 1)
    cli()


def cli():
    pb, pt = os.path.join(PASS, "baseline"), os.path.join(PASS, "target")
    eb, et = os.path.join(EDGE, "baseline"), os.path.join(EDGE, "target")

    # Text: golden, in a UTF-8 and in the C locale.
    rc, out, err = run(pb, pt)
    ok(rc == 0, "text: all pass -> exit 0", err)
    golden_text(out, os.path.join(PASS, "expected.txt"), "text UTF-8")
    rc, out, err = run(pb, pt, locale="C")
    golden_text(out, os.path.join(PASS, "expected-ascii.txt"), "text C locale")
    ok("\u2705" not in out and "\u274c" not in out, "text C locale: no emoji")

    rc, out, err = run("--preset", "raw", eb, et)
    ok(rc == 1, "text edge: exit 1", err)
    ok(re.search(r"^Summary: 21 passed, 7 failed, 7 skipped, 0 errored \(total 35\)$", out, re.M) is not None,
       "text edge: summary line", out[-800:])
    ok(re.search(r"^First divergence: phase inference, layer 1, mlp_output, rank 0, step 0: rel_diff=0\.11297", out,
                 re.M) is not None, "text edge: first divergence line", out[-800:])
    ok("==== Phase fwd_bwd: only in baseline (fwd_bwd) ====" in out and
       "==== Phase zz_extra: only in target (zz_extra) ====" in out, "text edge: one-sided phase headers")
    ok(re.search(r"^\u274c rel_diff=0\.11297\d*\tmax_abs_diff=1\.20382821559906\tmean_abs_diff=0\.40574", out, re.M)
       is not None, "text edge: failed verdict line", out[:400])
    ok("Raw [shape] [1, 4, 8] vs [4, 8]\t[dtype] float32 vs float32\nUnify shape: [1, 4, 8] -> [4, 8]" in out,
       "text edge: shape unify shown")
    ok("Raw [shape] [8, 8] vs [8, 8]\t[\U0001f7e0dtype] float32 vs bfloat16" in out and
       "When downcast to bfloat16: \u2705 rel_diff=" in out, "text edge: fp32 vs bf16 lines")
    ok("Non-tensor values: differ" in out and "Non-tensor values: equal" in out, "text edge: non-tensor lines")
    ok("Skip: baseline=fwd_bwd/step=0___rank=0___dump_index=1___name=grad__logits.pt (no target)" in out,
       "text edge: unmatched file lines")

    rc, out, err = run("--quiet", "--preset", "raw", eb, et)
    blocks = [b for b in out.split("\n\n") if b.startswith("baseline=")]
    ok(rc == 1 and len(blocks) == 7 and all(("\u274c" in b) for b in blocks),
       "--quiet prints the 7 failed pairs only", out[:1500])
    ok("Skip:" not in out and "embed_output" not in out and "Summary: 21 passed, 7 failed" in out,
       "--quiet leaves out passed/skipped, keeps the summary")

    # CSV.
    rc, out, err = run("--format", "csv", "--preset", "raw", eb, et)
    rows = list(csv.reader(io.StringIO(out)))
    header = ["phase", "layer", "name", "rank", "step", "baseline", "target", "baseline_dtype", "target_dtype",
              "baseline_shape", "target_shape", "rel_diff", "max_abs_diff", "mean_abs_diff", "passed", "error"]
    ok(rc == 1 and rows and rows[0][:16] == header and "baseline_mean" in rows[0] and "target_p99" in rows[0],
       "csv: header row", rows[:1])
    ok(all(len(r) == len(rows[0]) for r in rows), "csv: every row has the header's width")
    byname = {r[2]: dict(zip(rows[0], r)) for r in rows[1:]}
    m = byname.get("mlp_output", {})
    ok(m.get("passed") == "false" and m.get("layer") == "1" and abs(float(m.get("rel_diff", "0")) - 0.11297315300427857)
       < 1e-12 and m.get("max_abs_diff") == "1.20382821559906", "csv: a failed pair's row", m)
    ok(byname.get("shape_bad", {}).get("baseline_shape") == "[4, 8]" and "shape" in byname["shape_bad"]["error"],
       "csv: shapes quoted, shape mismatch error", byname.get("shape_bad"))
    ok(byname.get("attn out", {}).get("layer") == "5" and byname.get("nan_out", {}).get("rel_diff") == "nan",
       "csv: odd names and nan")
    ok(len(rows) == 1 + 28 + 2 + 5, "csv: one row per pair, non-tensor and unmatched file", len(rows))

    # --output, --phase, --filter, --layer-regex, --diff-threshold.
    tmp = tempfile.mkdtemp(prefix="dv-compare-")
    try:
        dest = os.path.join(tmp, "out.jsonl")
        rc, out, err = run("--format", "jsonl", "--output", dest, pb, pt)
        with open(dest) as f:
            lines = f.read().splitlines()
        ok(rc == 0 and out == "" and len(lines) == 4 and json.loads(lines[-1])["type"] == "summary",
           "--output writes the report to the file", (rc, out, lines[-1:]))
        rc, out, err = run("--output", os.path.join(tmp, "no", "such", "dir"), pb, pt)
        ok(rc == 2 and "no/such/dir" in err, "--output to an unwritable path: exit 2", err)

        # A run given as a tag under $DUMPER_BASE_DIR.
        os.symlink(pb, os.path.join(tmp, "base-tag"))
        os.symlink(pt, os.path.join(tmp, "targ-tag"))
        rc, out, err = run("base-tag", "targ-tag", env={"DUMPER_BASE_DIR": tmp})
        ok(rc == 0 and "Summary: 3 passed" in out, "tags under $DUMPER_BASE_DIR", err)

        rc, out, err = run("missing-tag", pt, env={"DUMPER_BASE_DIR": tmp})
        ok(rc == 2 and "missing-tag" in err and tmp in err, "missing BASELINE: exit 2 naming the places tried", err)

        empty_b, empty_t = os.path.join(tmp, "eb"), os.path.join(tmp, "et")
        os.makedirs(os.path.join(empty_b, "inference"))
        os.makedirs(os.path.join(empty_t, "inference"))
        shutil.copy(os.path.join(eb, "fwd_bwd", "step=0___rank=0___dump_index=1___name=grad__logits.pt"),
                    os.path.join(empty_b, "inference"))
        shutil.copy(os.path.join(et, "zz_extra", "step=0___rank=0___dump_index=1___name=extra.pt"),
                    os.path.join(empty_t, "inference"))
        rc, out, err = run(empty_b, empty_t)
        ok(rc == 2 and "no pairs" in err, "no pairs at all: exit 2", (rc, err))

        # An unreadable file: errored, not failed; the run still exits 1.
        bad_b, bad_t = os.path.join(tmp, "bb"), os.path.join(tmp, "bt")
        shutil.copytree(pb, bad_b)
        shutil.copytree(pt, bad_t)
        victim = "step=0___rank=0___dump_index=2___name=attn_q___layer_id=0.pt"
        with open(os.path.join(bad_t, victim), "r+b") as f:
            f.truncate(100)
        rc, recs, err = jsonl(bad_b, bad_t)
        errs = [r for r in recs if r.get("type") == "error"]
        pair = [r for r in recs if r.get("type") == "pair" and r["name"] == "attn_q"]
        s = recs[-1] if recs else {}
        ok(rc == 1 and s.get("errored") == 1 and s.get("passed") == 2 and s.get("failed") == 0,
           "unreadable file: errored 1, exit 1", (rc, s, err))
        ok(len(errs) == 1 and errs[0]["file"] == victim and victim in errs[0]["message"] and
           errs[0]["phase"] == pair[0]["phase"], "unreadable file: an error line naming the file", errs)
        ok(pair and pair[0]["passed"] is False and victim in pair[0].get("error", "") and
           pair[0]["rel_diff"] is None, "unreadable file: its pair line carries the error", pair)
        ok(s.get("first_divergence") and s["first_divergence"]["name"] == "attn_q",
           "unreadable file: counts as the first divergence", s.get("first_divergence"))
        rc, out, err = run(bad_b, bad_t)
        ok(rc == 1 and re.search("^\u274c error: .*%s" % re.escape(victim), out, re.M) is not None and
           "Summary: 2 passed, 0 failed, 0 skipped, 1 errored (total 3)" in out,
           "unreadable file: text error line and summary", out[-600:])
    finally:
        shutil.rmtree(tmp)

    rc, recs, err = jsonl("--phase", "fwd_only", "--preset", "raw", eb, et)
    phases = {r.get("phase") for r in recs if r.get("type") != "summary"}
    ok(rc == 1 and phases == {"fwd_only"} and recs[-1]["failed"] == 1 and recs[-1]["passed"] == 7,
       "--phase fwd_only keeps that phase only", (phases, recs[-1:]))
    ok(recs[-1]["first_divergence"] and recs[-1]["first_divergence"]["step"] == 2 and
       recs[-1]["first_divergence"]["rank"] == 1, "--phase fwd_only: first divergence at step 2, rank 1",
       recs[-1:])
    rc, recs, err = jsonl("--phase", "fwd_only", "--phase", "fwd_bwd", "--preset", "raw", eb, et)
    phases = sorted({r.get("phase") for r in recs if r.get("type") != "summary"})
    ok(phases == ["fwd_bwd", "fwd_only"], "--phase twice keeps both", phases)
    rc, out, err = run("--phase", "nope", "--preset", "raw", eb, et)
    ok(rc == 2 and "nope" in err, "--phase of a phase neither run has: exit 2", err)

    rc, recs, err = jsonl("--filter", "name=(dup|zeros)___", "--preset", "raw", eb, et)
    names = sorted(r["name"] for r in recs if r.get("type") == "pair")
    ok(rc == 0 and names == ["dup", "dup", "zeros"], "--filter keeps matching target files", (rc, names, err))
    rc, out, err = run("--filter", "name=(dup", "--preset", "raw", eb, et)
    ok(rc == 2 and "offset 9" in err and "missing closing parenthesis" in err and out == "",
       "--filter bad regex: exit 2 with PCRE2's message and offset", err)
    rc, out, err = run("--layer-regex", "blk(", "--preset", "raw", eb, et)
    ok(rc == 2 and "offset 4" in err, "--layer-regex bad regex: exit 2", err)
    # Catastrophic backtracking hits the limits: an error, never "no match"
    # (which would silently compare nothing and pass).
    rc, out, err = run("--filter", "(.|.)*==", "--preset", "raw", eb, et)
    ok(rc == 2 and "regex too expensive" in err, "--filter too expensive: exit 2, said so", (rc, err))
    # UTF mode: "." takes a whole character of a name.
    rc, recs, err = jsonl("--filter", "name=d.p___", "--preset", "raw", eb, et)
    ok(rc == 0 and len([r for r in recs if r.get("type") == "pair"]) == 2, "--filter in UTF mode still matches ASCII",
       (rc, err))
    rc, recs, err = jsonl("--layer-regex", r"blk(\d+)", "--filter", "blk7", eb, et)
    got = [r.get("layer") for r in recs if r.get("type") == "pair"]
    ok(got == [7], "--layer-regex takes the layer from group 1", (got, err))

    rc, recs, err = jsonl("--diff-threshold", "0.5", "--phase", "inference", "--preset", "raw", eb, et)
    s = recs[-1] if recs else {}
    mlp = [r for r in recs if r.get("type") == "pair" and r["name"] == "mlp_output"]
    ok(mlp and mlp[0]["passed"] is True and s.get("first_divergence", {}).get("name") == "nan_out",
       "--diff-threshold 0.5 lets rel_diff 0.113 pass", (mlp[:1], s.get("first_divergence")))
    rc, out, err = run("--diff-threshold", "abc", pb, pt)
    ok(rc == 2 and "abc" in err, "--diff-threshold must be a number: exit 2", err)

    # Usage.
    rc, out, err = run("--help")
    ok(rc == 0 and "usage: dumpview compare" in out and "--diff-threshold" in out, "compare --help exits 0", err)
    rc, out, err = run(pb)
    ok(rc == 2 and "usage" in err, "one run only: exit 2 with usage")
    rc, out, err = run("--format", "xml", pb, pt)
    ok(rc == 2 and "xml" in err, "unknown --format: exit 2")
    rc, out, err = run("--bogus", pb, pt)
    ok(rc == 2, "unknown option: exit 2")


if __name__ == "__main__":
    try:
        main()
    except Exception as ex:   # a crash is a failure, not a silent pass
        import traceback
        ok(False, "test script crashed: %s" % ex, traceback.format_exc())
    print("1..%d" % dvtest.n)
    sys.exit(0)
