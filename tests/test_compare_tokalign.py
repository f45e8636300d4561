"""`dumpview compare --token-aligner smart`, end to end, against torch's
answers in tests/fixtures/tokalign/*/expected.json: SGLang inference
(prefill + two decode steps of three requests) against Megatron training
packed THD (other order, tail padding) and BSHD (padded rows), a bug planted
on one request's tokens in layer 1. Checked: the pair records (rel_diff 1e-9
relative, max_abs_diff exact, mean_abs_diff 1e-6), their per_sequence tables
(only that request fails), the summary's token_alignment coverage, the
first divergence, the exit status, the text table and CSV columns; zero
matched sequences fail closed; none and concat_steps. TAP."""
import csv
import io
import json
import os
import sys

import dvtest
from dvtest import close, ok, jsonl, run

ROOT = os.path.join(os.environ["FIXTURES"], "tokalign")



def dirs(case):
    return os.path.join(ROOT, case, "baseline"), os.path.join(ROOT, case, "target")


def check_case(case):
    exp = json.load(open(os.path.join(ROOT, case, "expected.json")))
    b, t = dirs(case)
    rc, recs, err = jsonl("--token-aligner", "smart", b, t)
    ok(rc == 1, "%s: exit 1 (layer 1 attn_output fails)" % case, (rc, err))
    summ = recs[-1] if recs else {}
    pairs = {(r["name"], r["layer"]): r for r in recs if r.get("type") == "pair"}
    ok(len(pairs) == len(exp["records"]) and not [r for r in recs if r.get("type") in ("error", "skip", "unmatched")],
       "%s: one pair per hidden tensor, the aux tensors not compared" % case,
       [r.get("type") for r in recs])
    for e in exp["records"]:
        what = "%s: %s layer %s" % (case, e["name"], e["layer_id"])
        g = pairs.get((e["name"], e["layer_id"]))
        if not ok(g is not None, "%s: a pair record" % what):
            continue
        ok(g["aligned_shape"] == e["shape"] and g["token_aligner"] == "smart",
           "%s: aligned %s, token_aligner smart" % (what, e["shape"]), (g["aligned_shape"], g["token_aligner"]))
        ok(close(g["rel_diff"], e["rel_diff"]), "%s: rel_diff %r" % (what, e["rel_diff"]), g["rel_diff"])
        ok(g["max_abs_diff"] == e["max_abs_diff"], "%s: max_abs_diff %r" % (what, e["max_abs_diff"]),
           g["max_abs_diff"])
        ok(close(g["mean_abs_diff"], e["mean_abs_diff"], 1e-6), "%s: mean_abs_diff" % what, g["mean_abs_diff"])
        ok(g["passed"] == e["passed"], "%s: passed %s" % (what, e["passed"]))
        ps, wps = g.get("per_sequence") or [], e["per_sequence"]
        ok([q["id"] for q in ps] == [q["id"] for q in wps] and [q["tokens"] for q in ps] == [q["tokens"] for q in wps],
           "%s: per_sequence ids and tokens %s" % (what, [(q["id"], q["tokens"]) for q in wps]), ps)
        for q, w in zip(ps, wps):
            ok(close(q["rel_diff"], w["rel_diff"]) and q["max_abs_diff"] == w["max_abs_diff"] and
               close(q["mean_abs_diff"], w["mean_abs_diff"], 1e-6) and q["passed"] == w["passed"],
               "%s: sequence %s rel_diff %r max_abs %r passed %s" % (what, w["id"], w["rel_diff"], w["max_abs_diff"],
                                                                     w["passed"]), q)
    fd, want = summ.get("first_divergence") or {}, exp["first_divergence"]
    ok(fd.get("name") == want["name"] and fd.get("layer") == want["layer_id"] and close(fd.get("rel_diff"),
                                                                                        want["rel_diff"]),
       "%s: first divergence %s layer %s" % (case, want["name"], want["layer_id"]), fd)
    g = pairs.get((want["name"], want["layer_id"]), {})
    failing = [q["id"] for q in g.get("per_sequence") or [] if not q["passed"]]
    ok(failing == want["failing_sequences"], "%s: only %s fails in the per-sequence table" %
       (case, want["failing_sequences"]), failing)
    ta, cov = summ.get("token_alignment") or {}, exp["coverage"]
    ok(ta.get("mode") == "smart" and ta.get("tokens_aligned") == exp["tokens_aligned"],
       "%s: token_alignment mode smart, %d tokens" % (case, exp["tokens_aligned"]), ta)
    for k in ("matched", "unmatched_baseline", "unmatched_target", "padding_tokens", "padding_sequences", "errors"):
        ok(ta.get(k) == cov[k], "%s: token_alignment %s %s" % (case, k, cov[k]), ta.get(k))
    # text: the table once, before the pairs; per-sequence lines
    rc, out, err = run("--token-aligner", "smart", b, t)
    head = out.split("baseline=")[0]
    ok("Token alignment (smart, by token ids): 18 tokens of 3 sequences aligned" in head and
       "req-b" in head and "only in the target" in head and out.count("Token alignment (smart") == 1,
       "%s: text: the alignment table once, before the pairs" % case, head)
    ok("  sequence req-b (5 tokens): \u274c rel_diff=" in out, "%s: text: req-b's failing line" % case)
    rc, out, err = run("--token-aligner", "smart", "--format", "csv", b, t)
    rows = list(csv.reader(io.StringIO(out)))
    byn = {(r[2], r[1]): dict(zip(rows[0], r)) for r in rows[1:]}
    ok(byn.get(("attn_output", "1"), {}).get("failed_sequences") == "req-b" and
       byn.get(("attn_output", "0"), {}).get("failed_sequences") == "" and
       byn.get(("attn_output", "0"), {}).get("token_aligner") == "smart",
       "%s: csv: token_aligner and failed_sequences columns" % case, byn.get(("attn_output", "1")))


def cp2():
    """thd_cp2/target (make_cp2.py): the thd training side with CP=2, each
    sequence padded to a multiple of 4 and split in zigzag order over two
    ranks, input_ids/position_ids without dims. The aligner unsharding them
    finds the same sequences; the hidden tensors unshard per sequence
    (cp_thd_concat, zigzag_to_natural_thd) to thd's values: thd's metrics."""
    exp = json.load(open(os.path.join(ROOT, "thd", "expected.json")))
    b, t = os.path.join(ROOT, "thd", "baseline"), os.path.join(ROOT, "thd_cp2", "target")
    rc, recs, err = jsonl("--token-aligner", "smart", b, t)
    summ = recs[-1] if recs else {}
    ta = summ.get("token_alignment") or {}
    ok(rc == 1 and [(m["id"], m["tokens"]) for m in ta.get("matched", [])] ==
       [(m["id"], m["tokens"]) for m in exp["coverage"]["matched"]] and ta.get("tokens_aligned") == 18 and
       ta.get("errors") == [], "cp2: CP-sharded input_ids unsharded: the same 3 sequences, 18 tokens aligned", ta)
    ok([m["target_only_tokens"] for m in ta.get("matched", [])] == [2, 1, 3],
       "cp2: each sequence's CP padding counted as target-only tokens", ta.get("matched"))
    pairs = {(r["name"], r["layer"]): r for r in recs if r.get("type") == "pair"}
    for e in exp["records"]:
        g = pairs.get((e["name"], e["layer_id"]), {})
        what = "cp2: %s layer %s" % (e["name"], e["layer_id"])
        ok(g.get("plan", "").find("zigzag_to_natural_thd") >= 0 and len(g.get("target_files", [])) == 2,
           "%s: unsharded per sequence from 2 CP ranks" % what, g.get("plan"))
        ok(close(g.get("rel_diff"), e["rel_diff"]) and g.get("max_abs_diff") == e["max_abs_diff"] and
           close(g.get("mean_abs_diff"), e["mean_abs_diff"], 1e-6), "%s: thd's metrics" % what,
           (g.get("rel_diff"), e["rel_diff"]))
        ok([(q["id"], q["passed"]) for q in g.get("per_sequence") or []] ==
           [(q["id"], q["passed"]) for q in e["per_sequence"]], "%s: thd's per-sequence verdicts" % what)


def others():
    b, t = dirs("thd")
    # without an aligner the steps cannot be compared: one step a side
    rc, recs, err = jsonl(b, t)
    errs = [r for r in recs if r.get("type") == "error"]
    summ = recs[-1] if recs else {}
    ok(rc == 1 and (summ.get("token_alignment") or {}).get("mode") == "concat_steps",
       "no flags: the Megatron target picks sglang_megatron (concat_steps)", (rc, summ.get("token_alignment")))
    rc, recs, err = jsonl("--token-aligner", "none", "--preset", "sglang_megatron", b, t)
    errs = [r for r in recs if r.get("type") == "error"]
    ok(rc == 1 and errs and "steps in one tensor" in errs[0]["message"],
       "--token-aligner none: several steps in one tensor are an error naming the cure", errs[:1])
    # zero matched sequences: fail closed, with a warning
    tmp = os.environ.get("TMPDIR", "/tmp")
    rc, recs, err = jsonl("--token-aligner", "smart", b, b)
    summ = recs[-1] if recs else {}
    ok((summ.get("token_alignment") or {}).get("mode") == "smart", "the baseline against itself aligns", summ)
    # a target side with no aux tensors: smart is not used, said once
    rc, recs, err = jsonl("--token-aligner", "smart", "--filter", "attn", b, t)
    summ = recs[-1] if recs else {}
    ok(summ.get("token_alignment", {}).get("mode") == "smart", "--filter keeps the alignment (aux read from the "
       "phase, not the filtered pairs)", summ.get("token_alignment"))
    rc, out, err = run("--token-aligner", "nope", b, t)
    ok(rc == 2 and "--token-aligner is none, concat_steps or smart" in err, "a bad --token-aligner is a usage error",
       err)


def zero_matches():
    """nomatch/target: the training side with every token id moved by 1000
    (make_nomatch.py): no sequence matches, nothing is compared, exit 1."""
    b = os.path.join(ROOT, "thd", "baseline")
    t = os.path.join(ROOT, "nomatch", "target")
    rc, recs, err = jsonl("--token-aligner", "smart", b, t)
    summ = recs[-1] if recs else {}
    ta = summ.get("token_alignment") or {}
    ok(rc == 1 and ta.get("matched") == [] and len(ta.get("unmatched_baseline", [])) == 3 and
       len(ta.get("unmatched_target", [])) == 4 and ta.get("tokens_aligned") == 0,
       "zero matched sequences: exit 1, every sequence listed as unmatched", (rc, ta))
    ok(any("token alignment matched no sequence" in w for w in summ.get("warnings", [])),
       "zero matched sequences: a warning says so (never a vacuous pass)", summ.get("warnings"))
    rc, out, err = run("--token-aligner", "smart", b, t)
    ok(rc == 1 and "Warning: phase target: token alignment matched no sequence" in out,
       "zero matched sequences: text warning line", out[-400:])


def main():
    print("TAP version 13")
    for case in ("thd", "bshd"):
        check_case(case)
    cp2()
    others()
    zero_matches()
    print("1..%d" % dvtest.n)
    sys.exit(0)


if __name__ == "__main__":
    main()
