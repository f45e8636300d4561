#!/bin/sh
# Pairing of the example dumps against torch's answers in expected.json:
# every phase's pairs in execution order, non-tensor pairs, unmatched files,
# phase folders; plus filters, bare folders and one-sided phases.
: "${DUMPVIEW:?}" "${EXAMPLES:?}"
# TOP_BUILDDIR, not $DUMPVIEW's folder: check-valgrind points DUMPVIEW at a wrapper.
PAIRS=${DUMP_PAIRS:-${TOP_BUILDDIR:-$(dirname "$DUMPVIEW")/..}/tests/dump_pairs}
export PAIRS
exec python3 - "$@" <<'PY'
import json, os, subprocess, sys, tempfile, shutil

pairs_bin = os.environ["PAIRS"]
ex = os.environ["EXAMPLES"]
n = 0
failed = 0

def ok(cond, what):
    global n, failed
    n += 1
    if not cond:
        failed += 1
    print(("ok" if cond else "not ok") + " %d - %s" % (n, what))

def run(*args):
    p = subprocess.run([pairs_bin] + list(args), capture_output=True, text=True)
    phases, pairs = [], []
    for line in p.stdout.splitlines():
        f = line.split("\t")
        if f[0] == "phase":
            phases.append(dict(name=f[1], in_base=f[2] == "1", in_targ=f[3] == "1", count=int(f[4]),
                               base_dir=f[5], targ_dir=f[6]))
        else:
            pairs.append(dict(phase=f[1], kind=f[2], base=f[3], targ=f[4], name=f[5], layer=int(f[6]),
                              step=int(f[7]), rank=int(f[8]), bdup=int(f[9]), tdup=int(f[10])))
    return p.returncode, p.stderr, phases, pairs

exp = json.load(open(os.path.join(ex, "expected.json")))
rc, err, phases, pairs = run(os.path.join(ex, "baseline"), os.path.join(ex, "target"))
ok(rc == 0, "dump_pairs runs on the examples (%s)" % err.strip())
ok([p["name"] for p in phases] == [p["phase"] for p in exp["phases"]], "phases in execution order")
base = lambda s: s.rsplit("/", 1)[-1] if s != "-" else None
for ep in exp["phases"]:
    name = ep["phase"]
    ph = [p for p in phases if p["name"] == name]
    mine = [p for p in pairs if p["phase"] == name]
    ok(ph and "baseline/" + ph[0]["base_dir"] == ep["baseline_dir"] and "target/" + ph[0]["targ_dir"] == ep["target_dir"],
       "%s: phase folders" % name)
    matched = [(base(p["base"]), base(p["targ"])) for p in mine if p["kind"] == "matched"]
    expected = sorted([(q["baseline"], q["target"], q["dump_index"]) for q in ep["pairs"] + ep["non_tensor"]],
                      key=lambda q: q[2])
    ok(matched == [(q[0], q[1]) for q in expected], "%s: matched pairs in execution order (%d)" % (name, len(expected)))
    tensor = [m for m in matched if m not in [(q["baseline"], q["target"]) for q in ep["non_tensor"]]]
    ok(tensor == [(q["baseline"], q["target"]) for q in ep["pairs"]], "%s: tensor pairs as torch lists them" % name)
    lay = {(base(p["base"]), base(p["targ"])): p["layer"] for p in mine}
    ok(all(lay.get((q["baseline"], q["target"])) == (q["layer"] if q["layer"] is not None else -1) for q in ep["pairs"]),
       "%s: layers" % name)
    ok(sorted(base(p["targ"]) for p in mine if p["kind"] == "target_only") == sorted(ep["unmatched_target"]),
       "%s: unmatched target files" % name)
    ok(sorted(base(p["base"]) for p in mine if p["kind"] == "baseline_only") == sorted(ep["unmatched_baseline"]),
       "%s: unmatched baseline files" % name)
# unmatched files sit at their own place in execution order
fo = [p for p in pairs if p["phase"] == "fwd_only"]
idx = [i for i, p in enumerate(fo) if p["kind"] == "target_only"]
ok(len(idx) == 2 and "dump_index=30___" in fo[idx[0] - 1]["targ"] and "dump_index=32___" in fo[idx[0] + 1]["targ"]
   and idx[1] == len(fo) - 1, "unmatched target files at their dump_index place")

# filter on the target's file name
rc, err, phases, pairs = run(os.path.join(ex, "baseline"), os.path.join(ex, "target"), "name=grad__")
ok(rc == 0 and [p["name"] for p in phases] == ["fwd_bwd"] and len(pairs) == 42
   and all(p["name"].startswith("grad__") for p in pairs), "filter keeps matching pairs, drops empty phases")
rc, err, phases, pairs = run(os.path.join(ex, "baseline"), os.path.join(ex, "target"), "name=GRAD__")
ok(rc == 0 and phases == [] and pairs == [], "smart case: an upper-case filter is case-sensitive")
rc, err, phases, pairs = run(os.path.join(ex, "baseline"), os.path.join(ex, "target"), "NAME=grad__")
ok(rc == 0 and phases == [] and pairs == [], "smart case: upper case anywhere makes it case-sensitive")
rc, err, phases, pairs = run(os.path.join(ex, "baseline"), os.path.join(ex, "target"), "\\Dump_index=46___")
ok(rc == 0 and len(pairs) == 3, "smart case: an escape like \\D is not upper case")
rc, err, phases, pairs = run(os.path.join(ex, "baseline"), os.path.join(ex, "target"), "layer_id=2\\.pt$")
ok(rc == 0 and len(pairs) == 6 + 6 + 6 + 6 and all(p["layer"] == 2 for p in pairs), "filter on layer_id=2")

# a single phase folder on each side: bare runs pair whatever the folders are called
tmp = tempfile.mkdtemp()
try:
    b = os.path.join(ex, "baseline", "fwd_only", "sglang_dump_1764130042.07")
    t = os.path.join(tmp, "copy")
    shutil.copytree(os.path.join(ex, "target", "fwd_only", "sglang_dump_1764130042.07"), t)
    rc, err, phases, pairs = run(b, t)
    ok(rc == 0 and len(phases) == 1 and phases[0]["name"] == "fwd_only" and sum(p["kind"] == "matched" for p in pairs) == 44,
       "two bare folders pair as one phase (named by the side whose folder is a phase)")
    rc, err, phases, pairs = run(t, b)
    ok(rc == 0 and len(phases) == 1 and phases[0]["name"] == "fwd_only" and sum(p["kind"] == "matched" for p in pairs) == 44,
       "two bare folders, the other way round")
    t3 = os.path.join(tmp, "other")
    shutil.copytree(t, t3)
    rc, err, phases, pairs = run(t3, t)
    ok(rc == 0 and len(phases) == 1 and phases[0]["name"] == "copy" and phases[0]["in_base"] and phases[0]["in_targ"],
       "two bare folders with unrelated names: the target folder's name")
    # one-sided phase: the target lacks fwd_bwd
    t2 = os.path.join(tmp, "t2")
    os.makedirs(t2)
    for ph in ("inference", "fwd_only"):
        shutil.copytree(os.path.join(ex, "target", ph), os.path.join(t2, ph))
    rc, err, phases, pairs = run(os.path.join(ex, "baseline"), t2)
    fb = [p for p in phases if p["name"] == "fwd_bwd"]
    ok(rc == 0 and fb and fb[0]["in_base"] and not fb[0]["in_targ"] and fb[0]["count"] == 87
       and all(p["kind"] == "baseline_only" for p in pairs if p["phase"] == "fwd_bwd"),
       "phase on one side only: all its files baseline_only")
finally:
    shutil.rmtree(tmp)

print("1..%d" % n)
sys.exit(0)
PY
