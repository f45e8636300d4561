"""`dumpview compare` across parallel layouts, end to end, against torch's
answers in tests/fixtures/xtopo/*/expected.json (made by make_fixtures.py
with torch on the full tensors): one record per logical tensor, its files,
dims, plan, aligned shape, metrics (rel_diff 1e-9 relative, max_abs_diff and
its coordinate exact, mean_abs_diff 1e-6: torch averages in float32), the
replicated checks, the shard holding max |t-b|, the summary, the first
divergence and the exit code, all with no flags (the preset chosen from the
files). Then the flags: --preset, --grouping-skip-keys, --override-*dims,
and the text and CSV surfaces. TAP."""
import csv
import io
import json
import os
import sys

import dvtest
from dvtest import close, ok, jsonl, run

ROOT = os.path.join(os.environ["FIXTURES"], "xtopo")



def case_dirs(case):
    return os.path.join(ROOT, case, "baseline"), os.path.join(ROOT, case, "target")


def by_key(recs, kind):
    return {(r["name"], r["layer"]): r for r in recs if r.get("type") == kind}


def check_case(case):
    exp = json.load(open(os.path.join(ROOT, case, "expected.json")))
    b, t = case_dirs(case)
    rc, recs, err = jsonl(b, t)
    ok(rc == exp["exit_code"], "%s: exit %d with no flags" % (case, exp["exit_code"]), (rc, err))
    summ = recs[-1] if recs else {}
    got = {k: summ.get(k) for k in ("total", "passed", "failed", "skipped", "errored")}
    ok(got == exp["summary"], "%s: summary %s" % (case, exp["summary"]), got)
    pairs, skips = by_key(recs, "pair"), by_key(recs, "skip")
    for s in exp.get("skips", []):
        g = skips.get((s["name"], s["layer_id"]))
        ok(g is not None and g["reason"], "%s: %s skipped with a reason (%s)" % (case, s["name"], s["why"]), g)
    for r in exp["records"]:
        what = "%s: %s layer %s" % (case, r["name"], r["layer_id"])
        g = pairs.get((r["name"], r["layer_id"]))
        if not ok(g is not None, "%s has a pair record" % what, sorted(pairs)):
            continue
        d, e = r["diff"], g
        ok(len(g["target_files"]) == r["target"]["num_files"] and
           len(g["baseline_files"]) == r["baseline"]["num_files"],
           "%s: %d baseline and %d target files" % (what, r["baseline"]["num_files"], r["target"]["num_files"]),
           (g["baseline_files"], g["target_files"]))
        ok(g["baseline"] == g["baseline_files"][0] and g["target"] == g["target_files"][0],
           "%s: baseline/target are the first file of each side" % what)
        ok(g["baseline_dims"] == r["baseline"]["dims"] and g["target_dims"] == r["target"]["dims"],
           "%s: dims %r / %r" % (what, r["baseline"]["dims"], r["target"]["dims"]),
           (g["baseline_dims"], g["target_dims"]))
        ok(g["aligned_shape"] == r["target"]["shape"], "%s: aligned shape %s" % (what, r["target"]["shape"]),
           g["aligned_shape"])
        ok(close(g["rel_diff"], d["rel_diff"]), "%s: rel_diff %r" % (what, d["rel_diff"]), g["rel_diff"])
        ok(g["max_abs_diff"] == d["max_abs_diff"], "%s: max_abs_diff %r" % (what, d["max_abs_diff"]),
           g["max_abs_diff"])
        ok(close(g["mean_abs_diff"], d["mean_abs_diff"], 1e-6), "%s: mean_abs_diff %r" % (what, d["mean_abs_diff"]),
           g["mean_abs_diff"])
        ok(g["max_abs_diff_coord"] == d["max_abs_diff_coord"],
           "%s: max_abs_diff_coord %s" % (what, d["max_abs_diff_coord"]), g["max_abs_diff_coord"])
        ok(g["passed"] == d["passed"], "%s: passed %s (the metrics' verdict)" % (what, d["passed"]), g["passed"])
        if r["target"]["num_files"] > 1 or r["baseline"]["num_files"] > 1:
            ok(isinstance(g["plan"], str) and g["plan"], "%s: a plan" % what, g["plan"])
        want = r["replicated_checks"]
        gc = g["replicated_checks"]
        ok(len(gc) == len(want), "%s: %d replicated checks" % (what, len(want)), gc)
        for w, c in zip(want, gc):
            ok(c["side"] == w["side"] and c["axis"] == w["axis"] and c["passed"] == w["passed"] and
               c["max_abs_diff"] == w["diff"]["max_abs_diff"],
               "%s: replicated check %s %s passed=%s" % (what, w["side"], w["axis"], w["passed"]), (c, w))
        failed_check = any(not w["passed"] for w in want)
        ok(g["replica_mismatch"] == failed_check, "%s: replica_mismatch %s" % (what, failed_check))
        sh = g["max_abs_diff_shard"]
        ok(sh is not None and sh["file"] in g["target_files"] and isinstance(sh["coord"], list),
           "%s: the max |t-b| element's target file and coordinate" % what, sh)
    fd = exp["first_divergence"]
    if fd is None:
        ok(summ.get("first_divergence") is None and summ.get("first_replica_mismatch") is None,
           "%s: no first divergence, no replica mismatch" % case, summ)
    elif fd["reason"] == "replicated_check":
        frm = summ.get("first_replica_mismatch") or {}
        ok(summ.get("first_divergence") is None and frm.get("name") == fd["name"] and
           frm.get("layer") == fd["layer_id"] and summ.get("replica_mismatches") == 1,
           "%s: first replica mismatch %s layer %s (metrics pass: no first divergence)" %
           (case, fd["name"], fd["layer_id"]), summ)
    else:
        f = summ.get("first_divergence") or {}
        ok(f.get("name") == fd["name"] and f.get("layer") == fd["layer_id"] and close(f.get("rel_diff"), fd["rel_diff"]),
           "%s: first divergence %s layer %s" % (case, fd["name"], fd["layer_id"]), f)
    return pairs


def mixed_attribution(pairs):
    g = pairs.get(("attn_output", 1), {})
    sh = g.get("max_abs_diff_shard") or {}
    # rank = tp + 2 cp; the corrupted partial share is rank 3's (tp 1, cp 1): its
    # cp group's ranks 2 and 3 both hold a share of the element
    ok(sh.get("ranks") == [2, 3] and sh.get("rank") in (2, 3) and sh.get("coord") == [1, 0, 47],
       "mixed: layer 1 attn_output's max |t-b| lies in the cp=1 shards, a partial sum of ranks 2 and 3, "
       "at [1, 0, 47] (natural token 3 is cp rank 1's second token)", sh)


def flags():
    b, t = case_dirs("tp2_concat")
    rc, recs, err = jsonl("--preset", "raw", b, t)
    errs = [r for r in recs if r.get("type") == "error"]
    ok(rc == 1 and errs and "coverage is incomplete" in errs[0]["message"],
       "--preset raw: one target file per record, the TP=2 shard alone fails with a coverage error",
       (rc, errs, err))
    rc, recs, err = jsonl("--preset", "sglang_megatron", b, t)
    p = [r for r in recs if r.get("type") == "pair"]
    ok(rc == 0 and len(p) == 1 and len(p[0]["target_files"]) == 2, "--preset sglang_megatron: one logical tensor",
       (rc, err))
    rc, recs, err = jsonl("--grouping-skip-keys", "rank", b, t)
    p = [r for r in recs if r.get("type") == "pair"]
    ok(rc == 0 and len(p) == 1 and len(p[0]["target_files"]) == 2,
       "--grouping-skip-keys rank: raw plus rank: the same logical tensor", (rc, err))
    rc, recs, err = jsonl("--override-target-dims", "attn_q:t h", b, t)
    errs = [r for r in recs if r.get("type") == "error"]
    ok(rc == 1 and errs and "not declared" in errs[0]["message"],
       "--override-target-dims 'attn_q:t h' replaces the meta dims (tp then undeclared: an error record)",
       (rc, errs))
    rc, recs, err = jsonl("--override-dims", "nomatch:t q", "--override-target-dims", "attn:t h[tp]", b, t)
    p = [r for r in recs if r.get("type") == "pair"]
    ok(rc == 0 and p and p[0]["target_dims"] == "t h[tp]" and p[0]["baseline_dims"] == "t h",
       "--override-target-dims with the meta's own dims: same pair, the dims used are reported", (rc, p[:1]))
    rc, out, err = run("--override-dims", "x:t h[", b, t)
    ok(rc == 2 and "--override-dims" in err and "unclosed" in err and err.count("\n") == 1,
       "a bad --override-dims is a usage error in one line", err)
    rc, out, err = run("--preset", "nope", b, t)
    ok(rc == 2 and "--preset is sglang_dev, sglang_megatron or raw" in err, "a bad --preset is a usage error", err)

    # text: one block per logical tensor with its files, dims and plan
    rc, out, err = run(b, t)
    ok(rc == 0 and " (2 files, ranks 0,1)" in out and "Dims: baseline t h, target t h[tp]" in out and
       "Plan: target: tp: 2x[4, 64] -> [4, 128] (concat h)" in out,
       "text: the target's files, the dims and the plan line", out[:900])
    b2, t2 = case_dirs("replicated_fail")
    rc, out, err = run(b2, t2)
    ok(rc == 1 and "Replicated tp (target): \u274c rank 1 vs rank 0 max_abs_diff=0.00390625 (replica mismatch)" in out
       and "First divergence: none" in out and "First replica mismatch: phase" in out and
       "Replica mismatch:" in out, "text: the failed replicated check, the first replica mismatch, the diagnosis",
       out[-900:])
    # csv: file counts and the plan, appended columns
    rc, out, err = run("--format", "csv", b2, t2)
    rows = list(csv.reader(io.StringIO(out)))
    row = dict(zip(rows[0], rows[1])) if len(rows) > 1 else {}
    ok(rows[0][-6:-2] == ["baseline_files", "target_files", "plan", "replica_mismatch"] and
       row.get("target_files") == "2" and row.get("baseline_files") == "1" and
       row.get("plan", "").startswith("target: tp: 2x[4, 128]") and row.get("replica_mismatch") == "true" and
       row.get("passed") == "true", "csv: file counts, plan, replica_mismatch (passed stays the metrics')", row)
    # sglang-jsonl: the reference's replicated check and bundle info, its skip record
    rc, recs, err = dvtest.records("sglang-jsonl", b2, t2)
    tens = [r for r in recs if r.get("type") == "comparison_tensor"]
    c = tens[0]["replicated_checks"] if tens else []
    ok(len(c) == 1 and c[0]["axis"] == "tp" and c[0]["passed"] is False and c[0]["diff"]["max_abs_diff"] == 0.00390625
       and c[0]["atol"] == 1e-6 and tens[0]["raw_bundle_info"]["y"]["num_files"] == 2 and
       tens[0]["raw_bundle_info"]["y"]["dims"] == "t h # tp:replicated" and tens[0]["diff"]["passed"] is True,
       "sglang-jsonl: replicated_checks and raw_bundle_info as the reference writes them", tens[:1])
    b4, t4 = case_dirs("cp2_zigzag_thd")
    rc, recs, err = dvtest.records("sglang-jsonl", b4, t4)
    sk = [r for r in recs if r.get("type") == "comparison_skip"]
    ok(len(sk) == 1 and sk[0]["name"] == "cu_seqlens_q" and sk[0]["reason"] == "target_load_failed" and
       sk[0]["available_side"] == "baseline", "sglang-jsonl: two target files without dims: a target_load_failed skip",
       sk)
    # the mixed run: inference TP=4 against training TP=2 x CP=2, no flags
    b3, t3 = case_dirs("mixed")
    rc, out, err = run(b3, t3)
    ok(rc == 1 and "First divergence: phase target, layer 1, attn_output, step 0: rel_diff=0.1462229900" in out,
       "mixed: first divergence at layer 1 attn_output with no flags", out[-600:])


def main():
    print("TAP version 13")
    for case in sorted(os.listdir(ROOT)):
        if os.path.exists(os.path.join(ROOT, case, "expected.json")):
            pairs = check_case(case)
            if case == "mixed":
                mixed_attribution(pairs)
    flags()
    print("1..%d" % dvtest.n)
    sys.exit(0)


if __name__ == "__main__":
    main()
