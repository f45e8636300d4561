#!/bin/sh
# dumpview info: the example runs (text and jsonl), a golden text for a small
# run with odd file names and an unreadable file, tags under
# $DUMPER_BASE_DIR, missing runs and bad options.
: "${DUMPVIEW:?}" "${EXAMPLES:?}"
exec python3 - <<'PY'
import json, os, shutil, subprocess, tempfile

dv = os.environ["DUMPVIEW"]
ex = os.environ["EXAMPLES"]
n = failed = 0

def ok(cond, what):
    global n, failed
    n += 1
    failed += not cond
    print(("ok" if cond else "not ok") + " %d - %s" % (n, what))

def info(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([dv, "info"] + list(args), capture_output=True, text=True, env=e)
    return p.returncode, p.stdout, p.stderr

# the examples, jsonl
rc, out, err = info("--format", "jsonl", os.path.join(ex, "baseline"))
lines = [json.loads(l) for l in out.splitlines()]
ok(rc == 0 and lines[0]["type"] == "run" and lines[0]["phases"] == 3, "jsonl: run line, 3 phases")
phases = [l for l in lines if l["type"] == "phase"]
exp = json.load(open(os.path.join(ex, "expected.json")))
ok([p["phase"] for p in phases] == ["inference", "fwd_only", "fwd_bwd"], "jsonl: phases in order")
ok([p["dir"] for p in phases] == [q["baseline_dir"][len("baseline/"):] for q in exp["phases"]], "jsonl: phase folders")
ok([p["files"] for p in phases] == [49, 44, 87], "jsonl: file counts")
ok(all(sum(p["dtypes"].values()) == p["files"] and p["unreadable"] == 0 for p in phases), "jsonl: dtypes cover every file")
ok(phases[0]["dtypes"] == {"bfloat16": 42, "int32": 3, "int64": 2, "non_tensor": 2}, "jsonl: inference tensors by dtype")
ok(phases[0]["layers"] == [0, 1, 2, 3, 4, 5] and phases[0]["steps"] == [0] and phases[0]["ranks"] == [0],
   "jsonl: layers, steps, ranks")
ok(phases[0]["tag_keys"] == ["step", "rank", "dump_index", "name", "recompute_status", "layer_id"], "jsonl: tag keys")
files = [l for l in lines if l["type"] == "file"]
ok(len(files) == 49 + 44 + 87, "jsonl: one line per file")
f = [l for l in files if l["file"].endswith("dump_index=7___name=attn_q___recompute_status=disabled___layer_id=0.pt")][0]
ok(f["phase"] == "inference" and f["tags"]["layer_id"] == "0" and f["layer"] == 0 and f["dtype"] == "bfloat16"
   and f["shape"] == [48, 4, 32] and f["dump_index"] == 7, "jsonl: a file's tags, layer, dtype and shape")
r = [l for l in files if l["name"] == "rids" and l["phase"] == "inference"][0]
ok(r["dtype"] is None and r["value"] == "list", "jsonl: a non-tensor value")

# text, the examples
rc, out, err = info(os.path.join(ex, "target"))
ok(rc == 0 and out.startswith(os.path.join(ex, "target") + ": ")
   and "phase fwd_only: fwd_only/sglang_dump_1764130042.07\n  files: 46\n" in out
   and "\n  dtypes: bfloat16 42, int32 3, int64 2, non-tensor 2\n" in out, "text: run line, phase header, count, dtypes")

# golden text: odd names, an unreadable file, a layer from the name
tmp = tempfile.mkdtemp()
try:
    src = os.path.join(ex, "baseline", "inference", "sglang_dump_1764130000.51")
    run = os.path.join(tmp, "base", "odd", "fwd_only")
    os.makedirs(run)
    shutil.copy(os.path.join(src, "step=0___rank=0___dump_index=1___name=input_ids___recompute_status=disabled.pt"),
                os.path.join(run, "dump_index=1___name=a=b___note=has space___junk.pt"))
    shutil.copy(os.path.join(src, "step=0___rank=0___dump_index=3___name=rids___recompute_status=disabled.pt"),
                os.path.join(run, "dump_index=2___name=model.layers.3.mlp.pt"))
    open(os.path.join(run, "dump_index=3___name=broken.pt"), "w").write("not a checkpoint\n")
    os.chdir(tmp)
    rc, out, err = info("odd", env={"DUMPER_BASE_DIR": os.path.join(tmp, "base")})
    golden = """odd: BASE/odd
phase fwd_only: fwd_only
  files: 3
  tag keys: dump_index, name, note
  steps: none
  ranks: none
  layers: 3
  dtypes: int64 1, non-tensor 1, unreadable 1
  files:
    dump_index=1___name=a=b___note=has space___junk.pt
      dump_index=1  name=a=b  note=has space
      int64 [48]
    dump_index=2___name=model.layers.3.mlp.pt
      dump_index=2  name=model.layers.3.mlp  layer=3 (from the name)
      non-tensor (list)
    dump_index=3___name=broken.pt
      dump_index=3  name=broken
      unreadable: BASE/odd/fwd_only/dump_index=3___name=broken.pt: not a torch checkpoint (a text file)
  unreadable files:
    BASE/odd/fwd_only/dump_index=3___name=broken.pt: not a torch checkpoint (a text file)
"""
    got = out.replace(os.path.join(tmp, "base"), "BASE")
    ok(rc == 0 and got == golden, "text golden: odd names, layer from the name, unreadable file (tag under $DUMPER_BASE_DIR)")
    if got != golden:
        print("# got:\n" + "".join("# " + l + "\n" for l in got.splitlines()))
    rc, out, err = info("--format", "jsonl", "odd", env={"DUMPER_BASE_DIR": os.path.join(tmp, "base")})
    ls = [json.loads(l) for l in out.splitlines()]
    e = [l for l in ls if l["type"] == "error"]
    ok(rc == 0 and len(e) == 1 and e[0]["file"] == "fwd_only/dump_index=3___name=broken.pt"
       and "not a torch checkpoint" in e[0]["message"], "jsonl: unreadable file as an error line")
    ok([l["tags"] for l in ls if l["type"] == "file"][0] == {"dump_index": "1", "name": "a=b", "note": "has space"},
       "jsonl: tags of an odd file name")

    # missing: exit 2, both places named; the other runs are still described
    rc, out, err = info("nosuch", "odd", env={"DUMPER_BASE_DIR": os.path.join(tmp, "base")})
    ok(rc == 2 and "nosuch" in err and os.path.join(tmp, "base", "nosuch") in err and "phase fwd_only" in out,
       "missing run: exit 2 naming both places, others described")
finally:
    os.chdir("/")
    shutil.rmtree(tmp)

rc, out, err = info("--format", "xml", ex)
ok(rc == 2 and "--format" in err, "bad --format: exit 2")
rc, out, err = info()
ok(rc == 2 and "usage" in err, "no run: usage, exit 2")
rc, out, err = info("--layer-regex", "(", os.path.join(ex, "baseline"))
ok(rc == 2 and "offset" in err, "bad --layer-regex: exit 2 with the offset")
print("1..%d" % n)
PY
