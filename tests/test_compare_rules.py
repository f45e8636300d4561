#!/usr/bin/env python3
"""`dumpview compare` with pass rules, the exit status and the sglang-jsonl
report, end to end on examples/ (TAP).

- Exit status: fail-closed on a name no rule matches, on nothing passed;
  --allow-failed-pattern and --allow-skipped-pattern (full matches).
- --rule / --rules / --diff-threshold: the first matching rule decides, the
  catch-all comes last; the three real-world rules judged pair by pair
  against the reported metrics; a bad rule is exit 2 naming the column.
- jsonl: the `rule` field of pair records.
- --format sglang-jsonl: every record checked field by field against a
  schema written from SGLang's comparator report (record types, field names,
  types, the summary's totals).
Standard library only.
"""
import os
import sys
import tempfile

import dvtest
from dvtest import jsonl, ok, run, records

EXAMPLES = os.environ["EXAMPLES"]
FIXTURES = os.environ["FIXTURES"]
BASE = os.path.join(EXAMPLES, "baseline")
TARG = os.path.join(EXAMPLES, "target")
PASS = os.path.join(FIXTURES, "compare", "pass")


def pairs_of(recs):
    return [r for r in recs if r.get("type") == "pair"]


def summary_of(recs):
    return recs[-1] if recs and recs[-1].get("type") == "summary" else {}


def exit_codes():
    # The examples fail (bf16 drift): exit 1, and every failure is counted.
    rc, recs, err = jsonl(BASE, TARG)
    s = summary_of(recs)
    ok(rc == 1 and s.get("failed", 0) > 0 and s.get("errored") == 0, "examples: failures -> exit 1", (rc, s, err))
    nfailed = s.get("failed")

    # Fail-closed: a rule list without a catch-all leaves names unjudged.
    rc, recs, err = jsonl("--rule", "input_ids=rel <= 0", BASE, TARG)
    s = summary_of(recs)
    unjudged = [p for p in pairs_of(recs) if p["name"] != "input_ids"]
    ok(rc == 1 and s.get("passed") == 1 and s.get("errored") == len(unjudged) and s.get("failed") == 0,
       "a name no rule matches is errored: exit 1", (rc, s, err))
    ok(all(p.get("rule") is None and p.get("error") == "no rule matches" and p["passed"] is False
           for p in unjudged), "unjudged pairs: rule null, error 'no rule matches'", unjudged[:2])
    judged = [p for p in pairs_of(recs) if p["name"] == "input_ids"]
    ok(len(judged) == 1 and judged[0].get("rule") == {"regex": "input_ids", "predicate": "rel <= 0",
                                                      "origin": "--rule 1"},
       "the judging rule is named on its pair", judged)
    rc, out, err = run("--rule", "input_ids=rel <= 0", BASE, TARG)
    ok(rc == 1 and "Error: no rule matches for name 'positions'" in out, "text: the error says no rule matches",
       out[:2000])
    # ... and its catch-all closes the gap again.
    rc, recs, err = jsonl("--rule", "input_ids=rel <= 0", "--diff-threshold", "0.001", BASE, TARG)
    s = summary_of(recs)
    ok(s.get("errored") == 0 and s.get("failed") == nfailed and recs and
       pairs_of(recs)[-1].get("rule", {}).get("origin") == "catch-all",
       "--diff-threshold adds the catch-all after the rules", s)

    # Nothing passed: every pair skipped (non-tensor values only) fails closed.
    rc, recs, err = jsonl("--filter", "name=(rids|qkv_format)___", BASE, TARG)
    s = summary_of(recs)
    ok(rc == 1 and s.get("passed") == 0 and s.get("skipped") == 2 and "no tensor pair passed" in err,
       "nothing passed (non-tensor values only): exit 1", (rc, s, err))
    # Nothing passed because every tensor failed.
    rc, recs, err = jsonl("--filter", "name=mlp_output___", "--rule", ".*=rel < 0", BASE, TARG)
    s = summary_of(recs)
    ok(rc == 1 and s.get("passed") == 0 and s.get("failed") > 0, "nothing passed, all failed: exit 1", (rc, s))

    # Allowed failures. The examples also have skips: two non-tensor values
    # and two files only in the target (attn_q, debug_extra).
    rc, recs, err = jsonl("--allow-failed-pattern", ".*", BASE, TARG)
    ok(rc == 0, "--allow-failed-pattern .* forgives every failure: exit 0", (rc, summary_of(recs), err))
    failed_names = sorted({p["name"] for p in pairs_of(recs) if not p["passed"]})
    rc, _, err = jsonl("--allow-failed-pattern", "|".join(failed_names), BASE, TARG)
    ok(rc == 0, "--allow-failed-pattern naming every failed tensor: exit 0", err)
    rc, _, err = jsonl("--allow-failed-pattern", "|".join(failed_names[1:]), BASE, TARG)
    ok(rc == 1 and failed_names[0] in err, "one failed name not allowed: exit 1, named", (rc, err))
    # Full match: a prefix of a name does not allow it.
    rc, _, err = jsonl("--allow-failed-pattern", "|".join(n[:-1] for n in failed_names), BASE, TARG)
    ok(rc == 1, "--allow-failed-pattern is a full match", (rc, err))

    # Allowed skips: the default .* allows every skip.
    base_args = ["--allow-failed-pattern", ".*"]
    rc, _, err = jsonl(*base_args, "--allow-skipped-pattern", "rids|qkv_format|attn_q|debug_extra", BASE, TARG)
    ok(rc == 0, "--allow-skipped-pattern naming every skipped name: exit 0", err)
    rc, _, err = jsonl(*base_args, "--allow-skipped-pattern", "rids|qkv_format|attn_q", BASE, TARG)
    ok(rc == 1 and "debug_extra" in err, "a skipped name not allowed: exit 1, named", (rc, err))
    rc, _, err = jsonl(*base_args, "--allow-skipped-pattern", "rids|qkv_format|attn_q|debug", BASE, TARG)
    ok(rc == 1, "--allow-skipped-pattern is a full match", (rc, err))
    # The gate's messages, exactly as they have always been: standard error
    # holds these lines and nothing else.
    rc, recs, err = jsonl("--allow-failed-pattern", "|".join(failed_names[1:]),
                          "--allow-skipped-pattern", "rids|qkv_format|attn_q", BASE, TARG)
    nfirst = sum(1 for p in pairs_of(recs) if not p["passed"] and p["name"] == failed_names[0])
    want = ("dumpview compare: %d failed tensor(s) not allowed by --allow-failed-pattern, the first '%s'\n"
            "dumpview compare: 1 skipped name(s) not allowed by --allow-skipped-pattern, the first 'debug_extra'\n"
            % (nfirst, failed_names[0]))
    ok(rc == 1 and err == want, "both allow patterns refusing: standard error exactly as before", (rc, err, want))
    rc, _, err = jsonl("--filter", "name=(rids|qkv_format)___", BASE, TARG)
    ok(rc == 1 and err == "dumpview compare: no tensor pair passed\n",
       "nothing passed: standard error exactly as before", (rc, err))
    rc, _, err = jsonl(*base_args, "--allow-skipped-pattern", "(", BASE, TARG)
    ok(rc == 2 and "--allow-skipped-pattern" in err, "bad --allow-skipped-pattern: exit 2", err)
    rc, _, err = jsonl("--allow-failed-pattern", "[", BASE, TARG)
    ok(rc == 2 and "--allow-failed-pattern" in err, "bad --allow-failed-pattern: exit 2", err)

    # Everything passes: exit 0 still.
    rc, _, err = run(os.path.join(PASS, "baseline"), os.path.join(PASS, "target"))
    ok(rc == 0, "all pass: exit 0", err)


def rules():
    # --rule changes the verdict and the first divergence.
    rc, recs, _ = jsonl(BASE, TARG)
    fd = summary_of(recs).get("first_divergence") or {}
    ok(fd.get("name") == "mlp_output", "default: the first divergence is mlp_output", fd)
    rc, recs, err = jsonl("--rule", "mlp_output=rel <= 0.1", "--diff-threshold", "0.001", BASE, TARG)
    fd = summary_of(recs).get("first_divergence") or {}
    ok(fd.get("name") == "layer_output" and fd.get("layer") == 2,
       "--rule 'mlp_output=rel <= 0.1' moves the first divergence to layer_output", (fd, err))
    mlp = [p for p in pairs_of(recs) if p["name"] == "mlp_output"]
    ok(mlp and all(p["passed"] == (p["rel_diff"] <= 0.1) and p["rule"]["origin"] == "--rule 1" for p in mlp),
       "mlp_output pairs are judged by the rule", mlp[:1])

    # First match wins: an earlier, stricter rule shadows a later one.
    rc, recs, _ = jsonl("--rule", "mlp_.*=rel <= 0", "--rule", "mlp_output=rel <= 1", BASE, TARG)
    mlp = [p for p in pairs_of(recs) if p["name"] == "mlp_output"]
    ok(mlp and all(p["rule"]["origin"] == "--rule 1" and p["passed"] == (p["rel_diff"] == 0) for p in mlp),
       "the first matching rule wins", mlp[:1])
    # Full match: 'mlp' alone matches no name.
    rc, recs, _ = jsonl("--rule", "mlp=rel <= 1", BASE, TARG)
    ok(summary_of(recs).get("passed") == 0 and rc == 1, "a rule's regex must match the whole name",
       summary_of(recs))

    # The three real-world rules, pair by pair against the reported metrics.
    cases = [
        ("rel <= 0", lambda p: p["rel_diff"] <= 0),
        ("rel <= 0.0085", lambda p: p["rel_diff"] <= 0.0085),
        ("rel <= 0.0085 or max_abs <= 1e-3", lambda p: p["rel_diff"] <= 0.0085 or p["max_abs_diff"] <= 1e-3),
    ]
    for pred, fn in cases:
        rc, recs, err = jsonl("--rule", ".*=" + pred, BASE, TARG)
        ps = [p for p in pairs_of(recs) if p.get("rel_diff") is not None]
        wrong = [(p["name"], p["rel_diff"], p["max_abs_diff"], p["passed"]) for p in ps if p["passed"] != fn(p)]
        s = summary_of(recs)
        ok(ps and not wrong and s.get("passed") == sum(1 for p in ps if fn(p)) and rc == 1,
           "real-world rule '%s': every pair judged by it" % pred, (wrong[:5], s, err))
    # The absolute escape passes near-zero gradients the relative bound fails.
    rc, a, _ = jsonl("--rule", ".*=rel <= 0.0085", BASE, TARG)
    rc, b, _ = jsonl("--rule", ".*=rel <= 0.0085 or max_abs <= 1e-3", BASE, TARG)
    ok(summary_of(b).get("passed", 0) > summary_of(a).get("passed", 0), "'or max_abs <= 1e-3' passes more pairs",
       (summary_of(a).get("passed"), summary_of(b).get("passed")))

    # --rules FILE: comments, blank lines, the same verdicts as --rule.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "rules.txt")
        with open(path, "w") as f:
            f.write("# per-tensor rules\n\nmlp_output  rel <= 0.1   # looser\n.*  rel <= 0.001\n")
        rc, recs, err = jsonl("--rules", path, BASE, TARG)
        fd = summary_of(recs).get("first_divergence") or {}
        mlp = [p for p in pairs_of(recs) if p["name"] == "mlp_output"]
        ok(fd.get("name") == "layer_output" and mlp and mlp[0]["rule"]["origin"] == path + ":3",
           "--rules FILE: rules with their origin PATH:LINE", (fd, mlp[:1], err))
        with open(path, "w") as f:
            f.write(".* rel <= 0.001\nx rel <== 1\n")
        rc, _, err = jsonl("--rules", path, BASE, TARG)
        ok(rc == 2 and path + ":2: column" in err and err.startswith("dumpview compare: "),
           "--rules: a bad line is exit 2 naming line and column", err)
        rc, _, err = jsonl("--rules", os.path.join(tmp, "missing"), BASE, TARG)
        ok(rc == 2 and "missing" in err, "--rules of a missing file: exit 2", err)

    # A bad rule: usage error naming the column.
    rc, out, err = run("--rule", "x=rel <= ", BASE, TARG)
    ok(rc == 2 and "rule 1: column" in err and err.startswith("dumpview compare: --rule: ") and not out,
       "a bad --rule: exit 2 with the column", err)
    rc, _, err = run("--rule", ".*=rel <= 1e-3", "--rule", "y=rell <= 1", BASE, TARG)
    ok(rc == 2 and "rule 2: column 3" in err and "rell" in err, "an unknown name: exit 2, rule 2 column 3", err)
    rc, _, err = run("--rule", "no separator", BASE, TARG)
    ok(rc == 2 and "rule 1" in err, "a rule without '=': exit 2", err)
    # Control characters in a rule are escaped on the terminal.
    rc, _, err = run("--rule", "x\x1b[31m=rel <= ", BASE, TARG)
    ok(rc == 2 and "\x1b" not in err, "a bad rule's message is escaped", repr(err))


# ---- sglang-jsonl: a schema written from SGLang's comparator report ----
NUM = "num"          # a JSON number, or null for NaN/inf (pydantic writes them so)
INT = "int"
STR = "str"
BOOL = "bool"


def opt(t):
    return ("opt", t)


def lst(t):
    return ("list", t)


LOG = {"kind": STR, "category": STR, "message": STR}
LOGS = {"errors": lst(LOG), "infos": lst(LOG)}
LOCATION = {"step": opt(INT)}
STATS = {"mean": NUM, "abs_mean": NUM, "std": NUM, "min": NUM, "max": NUM, "percentiles": ("pct",)}
TENSOR_INFO = {"shape": lst(INT), "dtype": ("dtype",), "stats": STATS, "sample": opt(STR)}
DIFF = {"rel_diff": NUM, "max_abs_diff": NUM, "mean_abs_diff": NUM, "abs_diff_percentiles": ("pct",),
        "max_diff_coord": lst(INT), "baseline_at_max": NUM, "target_at_max": NUM, "diff_threshold": NUM,
        "passed": BOOL, "per_token_rel_diff": opt(lst(NUM))}
SCHEMA = {
    "config": dict(LOGS, type=STR, config=("dict",)),
    "comparison_tensor": dict(LOGS, type=STR, location=LOCATION, name=STR, baseline=TENSOR_INFO,
                              target=TENSOR_INFO, unified_shape=opt(lst(INT)), shape_mismatch=BOOL,
                              diff=opt(DIFF), diff_downcast=opt(DIFF), downcast_dtype=opt(("dtype",)),
                              traced_plan=opt(("dict",)), replicated_checks=lst(("dict",)),
                              raw_bundle_info=opt(("dict",))),
    "comparison_skip": dict(LOGS, type=STR, location=LOCATION, name=STR, reason=STR,
                            available_side=opt(("enum", "baseline", "target")),
                            available_tensor_info=opt(TENSOR_INFO), available_bundle_info=opt(("dict",))),
    "comparison_non_tensor": dict(LOGS, type=STR, location=LOCATION, name=STR, baseline_value=STR,
                                  target_value=STR, baseline_type=STR, target_type=STR, values_equal=BOOL),
    "comparison_error": dict(LOGS, type=STR, location=LOCATION, name=STR, exception_type=STR,
                             exception_message=STR, traceback_str=STR),
    "summary": dict(LOGS, type=STR, total=INT, passed=INT, failed=INT, skipped=INT, errored=INT),
}


def check(v, t, path, errs):
    """Appends to errs every place where v does not have type t. Objects are
    exact: no field missing, none extra (SGLang's models forbid extras)."""
    if isinstance(t, dict):
        if not isinstance(v, dict):
            errs.append("%s: not an object" % path)
            return
        for k in t:
            if k not in v:
                errs.append("%s.%s: missing" % (path, k))
            else:
                check(v[k], t[k], path + "." + k, errs)
        for k in v:
            if k not in t:
                errs.append("%s.%s: not in SGLang's record" % (path, k))
    elif t == NUM:
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            errs.append("%s: not a number: %r" % (path, v))
    elif t == INT:
        if isinstance(v, bool) or not isinstance(v, int):
            errs.append("%s: not an integer: %r" % (path, v))
    elif t == STR:
        if not isinstance(v, str):
            errs.append("%s: not a string: %r" % (path, v))
    elif t == BOOL:
        if not isinstance(v, bool):
            errs.append("%s: not a boolean: %r" % (path, v))
    elif t[0] == "opt":
        if v is not None:
            check(v, t[1], path, errs)
    elif t[0] == "list":
        if not isinstance(v, list):
            errs.append("%s: not a list" % path)
        else:
            for i, x in enumerate(v):
                check(x, t[1], "%s[%d]" % (path, i), errs)
    elif t[0] == "dict":
        if not isinstance(v, dict):
            errs.append("%s: not an object" % path)
    elif t[0] == "pct":
        # dict[int, float] in JSON: keys "1", "5", "50", "95", "99" (or none)
        if not isinstance(v, dict) or (v and sorted(v, key=int) != ["1", "5", "50", "95", "99"]):
            errs.append("%s: percentiles keyed 1,5,50,95,99: %r" % (path, v))
        else:
            for k, x in v.items():
                check(x, NUM, path + "." + k, errs)
    elif t[0] == "dtype":
        if not isinstance(v, str) or not v.startswith("torch."):
            errs.append("%s: not a torch dtype string: %r" % (path, v))
    elif t[0] == "enum":
        if v not in t[1:]:
            errs.append("%s: %r not one of %r" % (path, v, t[1:]))


def sglang():
    rc, recs, err = records("sglang-jsonl", BASE, TARG)
    ok(rc == 1 and recs, "sglang-jsonl: examples exit 1 as the other formats", (rc, err))
    bad = [r for r in recs if r.get("type") == "bad-json"]
    ok(not bad, "sglang-jsonl: every line is a JSON object", bad[:3])
    types = [r.get("type") for r in recs]
    ok(types[0] == "config" and types[-1] == "summary" and types.count("config") == 1 and
       types.count("summary") == 1, "sglang-jsonl: config first, summary last", types[:3] + types[-2:])
    unknown = sorted({t for t in types if t not in SCHEMA})
    ok(not unknown, "sglang-jsonl: only SGLang's record types", unknown)
    errs = []
    for i, r in enumerate(recs):
        if r.get("type") in SCHEMA:
            check(r, SCHEMA[r["type"]], "line %d (%s %s)" % (i + 1, r["type"], r.get("name", "")), errs)
    ok(not errs, "sglang-jsonl: every record has exactly SGLang's fields and types", "\n".join(errs[:20]))

    # The same verdicts and counts as dumpview's own jsonl.
    _, own, _ = jsonl(BASE, TARG)
    s, o = recs[-1], summary_of(own)
    ok(all(s.get(k) == o.get(k) for k in ("total", "passed", "failed", "skipped", "errored")) and
       s["total"] == s["passed"] + s["failed"] + s["skipped"] + s["errored"],
       "sglang-jsonl: the summary's counts are the report's, total their sum", (s, o))
    t = [r for r in recs if r.get("type") == "comparison_tensor"]
    p = pairs_of(own)
    ok(len(t) == len(p) and all(a["name"] == b["name"] and a["diff"]["passed"] == b["passed"] and
                                a["diff"]["rel_diff"] == b["rel_diff"] for a, b in zip(t, p)),
       "sglang-jsonl: one comparison_tensor a pair, same name, rel_diff and verdict", (len(t), len(p)))
    ok(all(r["location"]["step"] == 0 and r["diff"]["diff_threshold"] == 0.001 for r in t),
       "sglang-jsonl: location.step and diff_threshold", t[0] if t else None)
    ok(t and t[0]["baseline"]["dtype"] == "torch.int64" and
       any(r["baseline"]["dtype"] == "torch.bfloat16" for r in t), "sglang-jsonl: dtypes as torch.*")
    ok(sum(1 for r in t if r["diff"]["passed"]) == s["passed"], "sglang-jsonl: passed diffs = summary passed")
    skips = [r for r in recs if r.get("type") == "comparison_skip"]
    ok(len(skips) == 2 and all(r["reason"] == "baseline_load_failed" and r["available_side"] == "target"
                               for r in skips) and {r["name"] for r in skips} == {"attn_q", "debug_extra"},
       "sglang-jsonl: files only in the target are skips, baseline_load_failed", skips)
    nt = [r for r in recs if r.get("type") == "comparison_non_tensor"]
    ok(len(nt) == 2 and all(r["values_equal"] for r in nt) and
       {(r["name"], r["baseline_value"], r["baseline_type"]) for r in nt} ==
       {("rids", "['req-0']", "list"), ("qkv_format", "'thd'", "str")} and
       all(r["target_value"] == r["baseline_value"] for r in nt),
       "sglang-jsonl: non-tensor values with their repr and type", nt)
    cfg = recs[0].get("config", {})
    ok(cfg.get("baseline_path") == BASE and cfg.get("target_path") == TARG and
       cfg.get("rules") == [{"regex": ".*", "predicate": "rel <= 0.001", "origin": "catch-all"}],
       "sglang-jsonl: the config record lists the arguments and the rules", cfg)
    for r in t:
        bs = r["baseline"]["stats"]
        if bs["mean"] is not None and bs["abs_mean"] is not None and bs["abs_mean"] + 1e-9 < abs(bs["mean"]):
            ok(False, "sglang-jsonl: abs_mean >= |mean|", r["name"])
            break
    else:
        ok(True, "sglang-jsonl: abs_mean >= |mean|")

    # A name no rule matches is a comparison_error, counted errored.
    rc, recs, err = records("sglang-jsonl", "--rule", "input_ids=rel <= 0", BASE, TARG)
    e = [r for r in recs if r.get("type") == "comparison_error"]
    errs = []
    for r in e:
        check(r, SCHEMA["comparison_error"], "comparison_error " + r.get("name", ""), errs)
    ok(rc == 1 and e and not errs and recs[-1].get("errored") == len(e) and
       all("matched no rule" in r["exception_message"] for r in e),
       "sglang-jsonl: a name no rule matches is a comparison_error", (rc, errs[:5], e[:1]))
    ok(recs[0]["config"]["rules"] == [{"regex": "input_ids", "predicate": "rel <= 0", "origin": "--rule 1"}],
       "sglang-jsonl: a rule list without a catch-all has none", recs[0]["config"])

    # fp32 vs bf16 pairs carry diff_downcast + downcast_dtype.
    edge = os.path.join(FIXTURES, "compare", "edge")
    rc, recs, err = records("sglang-jsonl", os.path.join(edge, "baseline"), os.path.join(edge, "target"))
    errs = []
    for i, r in enumerate(recs):
        if r.get("type") in SCHEMA:
            check(r, SCHEMA[r["type"]], "edge line %d (%s %s)" % (i + 1, r["type"], r.get("name", "")), errs)
    ok(recs and not errs and not [r for r in recs if r.get("type") not in SCHEMA],
       "sglang-jsonl: the edge cases (NaN, shape mismatch, unreadable...) fit the schema", "\n".join(errs[:20]))
    diff = [r for r in recs if r.get("type") == "comparison_non_tensor" and not r["values_equal"]]
    ok(diff and diff[0]["baseline_value"] != diff[0]["target_value"],
       "sglang-jsonl: unequal non-tensor values quote both", diff)
    down = [r for r in recs if r.get("type") == "comparison_tensor" and r.get("diff_downcast")]
    ok(down and all(r["downcast_dtype"] == "torch.bfloat16" for r in down),
       "sglang-jsonl: fp32 vs bf16 pairs have diff_downcast", len(down))
    mism = [r for r in recs if r.get("type") == "comparison_tensor" and r.get("shape_mismatch")]
    ok(mism and all(r["diff"] is None and r["errors"] for r in mism),
       "sglang-jsonl: a shape mismatch has no diff and an error log", mism[:1])


def main():
    print("TAP version 13")
    exit_codes()
    rules()
    sglang()
    print("1..%d" % dvtest.n)
    sys.exit(0)


if __name__ == "__main__":
    main()
