#!/bin/sh
# How runs are walked and when compare must not pass: stray .pt files beside
# phase folders, empty and extra sglang_dump folders, phases on one side only,
# phases with no pair, mostly unmatched runs, unreadable folders (as a
# non-root user), symlinked folders leading outside a run, the depth limit;
# the warnings in text, JSONL, CSV, info and the explorer's title. The runs
# are made at test time from symlinks to the bundled examples.
: "${DUMPVIEW:?}" "${EXAMPLES:?}"
exec python3 - <<'PY'
import json, os, shutil, subprocess, tempfile

dv = os.environ["DUMPVIEW"]
ex = os.environ["EXAMPLES"]
n = failed = 0

def ok(cond, what, detail=""):
    global n, failed
    n += 1
    failed += not cond
    print(("ok" if cond else "not ok") + " %d - %s" % (n, what))
    if not cond and detail:
        for line in str(detail).splitlines()[-15:]:
            print("# " + line)

def run(*args, user=None, env=None):
    cmd = [dv] + list(args)
    if user:
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + cmd
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run(cmd, capture_output=True, text=True, env=e)
    return p.returncode, p.stdout, p.stderr

def mirror(src, dst, rename=None, skip=()):
    """dst gets src's folders, each .pt file a symlink to the original."""
    for dirpath, dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        if any(rel == s or rel.startswith(s + "/") for s in skip):
            continue
        os.makedirs(os.path.join(dst, rel), exist_ok=True)
        for f in filenames:
            name = rename(rel, f) if rename else f
            os.symlink(os.path.join(dirpath, f), os.path.join(dst, rel, name))

def summary(out):
    try:
        return json.loads(out.splitlines()[-1])
    except (IndexError, ValueError):
        return {}

tmp = tempfile.mkdtemp()
os.chmod(tmp, 0o755)
B, T = os.path.join(ex, "baseline"), os.path.join(ex, "target")
one = os.path.join(B, "inference", "sglang_dump_1764130000.51",
                   "step=0___rank=0___dump_index=7___name=attn_q___recompute_status=disabled___layer_id=0.pt")
def fwd_only_dir(run):
    d = os.path.join(run, "fwd_only")
    return os.path.join(d, os.listdir(d)[0])

try:
    # 1. a stray .pt beside the phase folders hides nothing: the phases still
    #    diverge (exit 1), and the stray file is a phase of its own
    sb, st = os.path.join(tmp, "stray", "baseline"), os.path.join(tmp, "stray", "target")
    mirror(B, sb)
    mirror(T, st)
    for d in (sb, st):
        os.symlink(one, os.path.join(d, "config.pt"))
    rc, out, err = run("compare", sb, st)
    ok(rc == 1 and "==== Phase fwd_bwd:" in out and "==== Phase (root): baseline ., target . ====" in out
       and "Summary: 67 passed, 112 failed, 4 skipped, 0 errored (total 183)" in out,
       "stray root .pt: phases read, the stray file compared as phase (root), exit 1", out[-600:] + err)
    rc, out, err = run("info", sb)
    ok(rc == 0 and "\nphase (root): .\n  files: 1\n" in out and "\nphase fwd_bwd: " in out,
       "stray root .pt: info shows phase (root) beside the phases", out[:400])
    rc, out, err = run("info", "--format", "jsonl", sb)
    lines = [json.loads(l) for l in out.splitlines()]
    ok([l["phase"] for l in lines if l["type"] == "phase"] == ["inference", "fwd_only", "fwd_bwd", "(root)"]
       and lines[0]["phases"] == 4 and lines[0].get("warnings") == [],
       "stray root .pt: info jsonl lists phase (root), run warnings empty", out[:400])

    # 1b. .pt files beside sglang_dump folders inside a phase: all read, grouped by folder
    bs = os.path.join(tmp, "beside")
    mirror(B, bs)
    os.symlink(one, os.path.join(bs, "inference", "step=0___rank=0___dump_index=99___name=loose.pt"))
    rc, out, err = run("info", bs)
    ok(rc == 0 and "phase inference: inference\n  files: 50\n  folders: folder=. (1 file), sglang_dump=0 (49 files)\n" in out,
       "files beside a sglang_dump folder: info text shows the folder groups", out[:500])
    rc, out, err = run("info", "--format", "jsonl", bs)
    ph = [json.loads(l) for l in out.splitlines() if '"type":"phase"' in l]
    ok(ph[0].get("folders") == {"folder=.": 1, "sglang_dump=0": 49} and ph[1].get("folders") == {},
       "files beside a sglang_dump folder: info jsonl folder groups", out[:300])

    # 2. one empty sglang_dump on one side (an aborted re-run) unpairs nothing
    em = os.path.join(tmp, "empty")
    mirror(B, em)
    os.makedirs(os.path.join(em, "fwd_only", "sglang_dump_9999999999.0", "sub"))
    rc, out, err = run("compare", B, em)
    ok(rc == 0 and "Summary: 178 passed, 0 failed, 2 skipped, 0 errored (total 180)" in out,
       "empty sglang_dump folder on one side: everything pairs, exit 0", out[-500:])

    # 2b. an extra re-run with files on one side: pairs by name, and says so
    xt = os.path.join(tmp, "extra")
    mirror(B, xt)
    extra = os.path.join(xt, "fwd_only", "sglang_dump_9999999999.0")
    os.makedirs(extra)
    src = fwd_only_dir(B)
    for f in sorted(os.listdir(src))[:5]:
        os.symlink(os.path.join(src, f), os.path.join(extra, f))
    rc, out, err = run("compare", B, xt)
    ok(rc == 0 and "Summary: 178 passed, 0 failed, 7 skipped, 0 errored (total 185)" in out
       and "Phase fwd_only: the two sides' folders differ, so its files were paired by their names, not their folders." in out
       and "Unmatched files: 0 in the baseline only, 5 in the target only." in out,
       "extra sglang_dump with files on one side: the phase still pairs, the diagnosis says why", out[-900:])

    # 3. fail closed: a phase on one side only
    nb = os.path.join(tmp, "nobwd")
    mirror(B, nb, skip=("fwd_bwd",))
    rc, out, err = run("compare", B, nb)
    ok(rc == 1 and "\nWarning: phase fwd_bwd: only in the baseline (87 files)\nFirst divergence: none\n" in out,
       "phase on one side only: exit 1, Warning line after the summary", out[-600:])
    rc, out, err = run("compare", "--format", "jsonl", B, nb)
    ok(rc == 1 and summary(out).get("warnings") == ["phase fwd_bwd: only in the baseline (87 files)"],
       "phase on one side only: JSONL summary warnings", out[-400:])
    rc, out, err = run("compare", "--format", "csv", B, nb)
    ok(rc == 1 and err == "dumpview compare: warning: phase fwd_bwd: only in the baseline (87 files)\n"
       and "warning" not in out.lower(), "phase on one side only: CSV keeps rows clean, warning on stderr", err)
    rc, out, err = run("compare", "--format", "jsonl", B, B)
    ok(rc == 0 and summary(out).get("warnings") == [], "clean compare: JSONL warnings present and empty", out[-300:])

    # 3b. a phase with files on both sides and no pair at all
    rn = os.path.join(tmp, "renamed")
    mirror(B, rn, rename=lambda rel, f: f.replace("name=", "name=other_") if rel.startswith("fwd_only") else f)
    rc, out, err = run("compare", "--format", "jsonl", B, rn)
    ok(rc == 1 and summary(out).get("warnings") == [
        "phase fwd_only: nothing compared: no file has a partner (44 in the baseline, 44 in the target)"],
       "phase with no pair: exit 1 and its warning", out[-400:])

    # 3c. more than half of one side's files without a partner
    hb = os.path.join(tmp, "half")
    mirror(B, hb, skip=("fwd_only", "fwd_bwd"))
    mirror(os.path.join(B, "inference"), os.path.join(hb, "inference"),
           rename=lambda rel, f: f.replace("name=", "name=copy_"))
    mirror(os.path.join(B, "inference"), os.path.join(hb, "inference"),
           rename=lambda rel, f: f.replace("name=", "name=again_"))
    hbase = os.path.join(tmp, "halfbase")
    mirror(B, hbase, skip=("fwd_only", "fwd_bwd"))
    rc, out, err = run("compare", hbase, hb)
    ok(rc == 1 and "\nWarning: target: 98 of 147 files have no partner in the baseline\n" in out,
       "more than half unmatched: exit 1 and its warning", out[-500:])

    # diagnosis and summary agree on a run compared with itself
    rc, out, err = run("compare", B, B)
    ok(rc == 0 and "Summary: 178 passed, 0 failed, 2 skipped, 0 errored (total 180)\n" in out
       and "Diagnosis: No divergence: 178 passed, 2 skipped.\n" in out,
       "a run against itself: the diagnosis says 178 passed, 2 skipped", out[-300:])

    # 8. a symlinked folder leading outside the run is not followed unless asked
    outside = os.path.join(tmp, "elsewhere")
    mirror(os.path.join(B, "fwd_bwd"), outside)
    sl = os.path.join(tmp, "linked")
    mirror(B, sl, skip=("fwd_bwd",))
    os.symlink(outside, os.path.join(sl, "fwd_bwd"))
    rc, out, err = run("compare", B, sl)
    ok(rc == 1 and "Warning: target: fwd_bwd: not followed: a symlink to a folder outside the run "
       "(--follow-symlinks follows it)\n" in out and "Summary: 91 passed, 0 failed, 89 skipped, 1 errored (total 181)" in out,
       "symlinked folder outside the run: not followed, named, errored, exit 1", out[-700:])
    rc, out, err = run("compare", "--follow-symlinks", B, sl)
    ok(rc == 0 and "Summary: 178 passed, 0 failed, 2 skipped, 0 errored (total 180)" in out,
       "--follow-symlinks follows it", out[-300:] + err)
    rc, out, err = run("info", sl)
    ok(rc == 0 and "\nwarning: fwd_bwd: not followed: a symlink to a folder outside the run" in out,
       "info names the folder not followed", out[:400])
    rc, out, err = run("info", "--format", "jsonl", sl)
    ok(json.loads(out.splitlines()[0]).get("warnings") == [
        "fwd_bwd: not followed: a symlink to a folder outside the run (--follow-symlinks follows it)"],
       "info jsonl: the run's warnings", out[:300])
    # a link that stays inside the run is followed; its folder is read once
    il = os.path.join(tmp, "inlink")
    mirror(B, il)
    os.symlink(os.path.basename(fwd_only_dir(il)), os.path.join(il, "fwd_only", "again"))
    rc, out, err = run("compare", B, il)
    ok(rc == 0 and "Summary: 178 passed, 0 failed, 2 skipped, 0 errored (total 180)" in out,
       "a link inside the run to a folder already read: read once", out[-300:])

    # depth limit: named, not silent
    dp = os.path.join(tmp, "deep")
    mirror(B, dp)
    deep = os.path.join(dp, "fwd_only", *(["d"] * 17))
    os.makedirs(deep)
    os.symlink(one, os.path.join(deep, "x.pt"))
    rc, out, err = run("compare", B, dp)
    ok(rc == 1 and "Warning: target: fwd_only/" + "/".join(["d"] * 17) +
       ": not read: more than 16 folders below its phase folder\n" in out,
       "files past the depth limit: a warning names the folder, exit 1", out[-500:])

    # unreadable folders (as a non-root user: root reads any folder)
    can = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "true"]).returncode == 0
    ur = os.path.join(tmp, "unreadable")
    mirror(B, ur)
    sub = fwd_only_dir(ur)
    os.chmod(sub, 0)
    if can:
        rc, out, err = run("compare", B, ur, user=True)
        rel = os.path.relpath(sub, ur)
        ok(rc == 1 and "Warning: target: %s: cannot read folder: Permission denied\n" % rel in out
           and "Warning: phase fwd_only: only in the baseline (44 files)" in out
           and "Summary: 134 passed, 0 failed, 46 skipped, 1 errored (total 181)" in out,
           "unreadable subfolder: the rest compared, the folder named and errored, exit 1", out[-700:] + err)
        os.chmod(sub, 0o755)
        os.chmod(os.path.join(ur, "fwd_bwd"), 0)
        rc, out, err = run("compare", "--format", "jsonl", B, ur, user=True)
        s = summary(out) if out else {}
        ok(rc == 1 and s.get("errored") == 1 and s.get("passed") == 91 and
           "target: fwd_bwd: cannot read folder: Permission denied" in s.get("warnings", []),
           "unreadable phase folder: errored, named in JSONL warnings, exit 1", out[-500:] + err)
        os.chmod(os.path.join(ur, "fwd_bwd"), 0o755)
    else:
        ok(True, "unreadable subfolder # SKIP cannot run as another user here")
        ok(True, "unreadable phase folder # SKIP cannot run as another user here")

    # the explorer's title shows the warning instead of "no divergence"
    keys = os.path.join(tmp, "title.keys")
    with open(keys, "w") as f:
        f.write(":resize 200 20\n:wait-scan\n:save-display screen\nD\n:save-display after-n\nq\n")
    p = subprocess.run([dv, B, nb], cwd=tmp, capture_output=True, text=True,
                       env=dict(os.environ, DUMPVIEW_SCRIPT=keys, NO_COLOR=""))
    screen = open(os.path.join(tmp, "screen")).read() if os.path.exists(os.path.join(tmp, "screen")) else ""
    first = screen.splitlines()[0] if screen else ""
    ok(p.returncode == 0 and first.rstrip().endswith("| warning: phase fwd_bwd: only in the baseline (87 files)")
       and "no divergence" not in first, "explorer title: the warning, not 'no divergence'", first + p.stderr)
    after = os.path.join(tmp, "after-n")
    lines = open(after).read().splitlines() if os.path.exists(after) else []
    status = [l for l in lines[:20] if "no failing tensor" in l or "every compared tensor passes" in l]
    ok(len(status) == 1 and "no failing tensor, but: phase fwd_bwd: only in the baseline (87 files)" in status[0],
       "explorer D (first divergence): names the warning, never 'every compared tensor passes'", "\n".join(lines[:20]))

    # --follow-symlinks is documented
    helps = [run("compare", "--help")[1], run("info", "--help")[1], run("--help")[1]]
    ok(all("--follow-symlinks" in h for h in helps), "--help of compare, info and the explorer name --follow-symlinks")
finally:
    for dirpath, dirnames, filenames in os.walk(tmp):
        for d in dirnames:
            try:
                os.chmod(os.path.join(dirpath, d), 0o755)
            except OSError:
                pass
    shutil.rmtree(tmp, ignore_errors=True)

print("1..%d" % n)
raise SystemExit(1 if failed else 0)
PY
