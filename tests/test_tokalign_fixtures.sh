#!/bin/sh
# Token alignment of the tokalign fixtures (SGLang prefill + decode steps
# against Megatron THD and BSHD) against torch's answers in each case's
# expected.json: frameworks and layouts, the coverage (matched, unmatched,
# padding, errors), each matched sequence's range, the plan token by token,
# and per hidden tensor the metrics on the aligned tokens, whole and per
# sequence (rel_diff 1e-9 relative, max_abs_diff exact, mean_abs_diff 1e-9
# relative), and the first divergence with the only failing sequence.
: "${FIXTURES:?}" "${TESTS_SRCDIR:?}"
TA=${TOKALIGN_FIXTURE:-${TOP_BUILDDIR:-.}/tests/tokalign_fixture}
export TA
exec python3 -B - "$@" <<'PY'
import json, os, subprocess, sys

ta_bin = os.environ["TA"]
root = os.path.join(os.environ["FIXTURES"], "tokalign")
sys.path.insert(0, os.environ["TESTS_SRCDIR"])  # dvtest.py
from dvtest import ok, close, plan_and_exit  # noqa: E402

def metrics_agree(g, e):
    return (close(g["rel_diff"], e["rel_diff"]) and g["max_abs_diff"] == e["max_abs_diff"]
            and close(g["mean_abs_diff"], e["mean_abs_diff"]) and g["passed"] == e["passed"])

for case in sorted(os.listdir(root)):
    exp_path = os.path.join(root, case, "expected.json")
    if not os.path.exists(exp_path):
        continue
    exp = json.load(open(exp_path))
    p = subprocess.run([ta_bin, os.path.join(root, case, "baseline"), os.path.join(root, case, "target")],
                       capture_output=True, text=True)
    ok(p.returncode == 0, "%s: the driver runs (%s)" % (case, p.stderr.strip()))
    if p.returncode != 0:
        continue
    g = json.loads(p.stdout)
    for side in ("baseline", "target"):
        ok(g[side] == exp[side], "%s: %s is %s" % (case, side, g[side]))
    gc, ec = g["coverage"], exp["coverage"]
    for k in ("by_rid", "matched", "unmatched_baseline", "unmatched_target", "padding_tokens",
              "padding_sequences", "errors"):
        ok(gc[k] == ec[k], "%s: coverage %s %s" % (case, k, ec[k] if gc[k] == ec[k] else
                                                    "got %s, want %s" % (gc[k], ec[k])))
    ok(g["ranges"] == exp["ranges"], "%s: sequence ranges %s" % (case, [(r["id"], r["start"], r["end"])
                                                                         for r in g["ranges"]]))
    ok(g["tokens_aligned"] == exp["tokens_aligned"], "%s: %d tokens aligned" % (case, g["tokens_aligned"]))
    for side in ("baseline", "target"):
        ok(g["plan"][side] == exp["plan"][side], "%s: %s plan (step, index) token by token" % (case, side))
    got = {(r["name"], r["layer_id"]): r for r in g["records"]}
    ok(len(got) == len(exp["records"]), "%s: %d hidden tensors" % (case, len(got)))
    first = None
    for r in g["records"]:
        if not r["passed"] and first is None:
            first = r
    for e in exp["records"]:
        what = "%s: %s layer %d" % (case, e["name"], e["layer_id"])
        r = got.get((e["name"], e["layer_id"]))
        ok(r is not None and metrics_agree(r, e), "%s metrics %s" % (what, r and (r["rel_diff"], r["max_abs_diff"])))
        if r is None:
            continue
        ok(len(r["per_sequence"]) == len(e["per_sequence"]) and
           all(a["id"] == b["id"] and a["tokens"] == b["tokens"] and metrics_agree(a, b)
               for a, b in zip(r["per_sequence"], e["per_sequence"])),
           "%s per-sequence metrics, failing: %s" % (what, [a["id"] for a in r["per_sequence"] if not a["passed"]]))
    fd = exp["first_divergence"]
    ok(first is not None and (first["name"], first["layer_id"]) == (fd["name"], fd["layer_id"]) and
       [a["id"] for a in first["per_sequence"] if not a["passed"]] == fd["failing_sequences"],
       "%s: first divergence %s layer %s, only %s fails" % (case, fd["name"], fd["layer_id"], fd["failing_sequences"]))
plan_and_exit()
PY
