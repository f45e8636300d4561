#!/bin/sh
# `dumpview compare --verify-crc` goes on past unreadable files: copies of the
# example runs get some dump files replaced by hostile .pt files (same names),
# plus a pair whose file names hold spaces, UTF-8, '=' in a value and a
# newline. compare must exit 1, count each hostile file as errored (an error
# record naming it), compare every other pair as before, print valid JSON
# lines, write nothing into the dump folders and run nothing. `info` lists
# each hostile file with its reason. Without --verify-crc, only the wrong
# CRC of tensor data goes unseen. TAP output.
: "${DUMPVIEW:?DUMPVIEW must name the dumpview binary}"
: "${FIXTURES:?FIXTURES must name tests/fixtures}"
: "${EXAMPLES:?EXAMPLES must name examples/}"
exec python3 - "$DUMPVIEW" "$FIXTURES" "$EXAMPLES" <<'PYEOF'
import json, os, shutil, subprocess, sys, tempfile, time

dumpview, fixtures, examples = sys.argv[1:4]
hostile = os.path.join(fixtures, "hostile")
PWNED = "/tmp/dumpview-pwned-a7c3e91f"
tests = []

def check(ok, desc, diag=""):
    tests.append((bool(ok), desc, diag))

def snapshot(d):
    out = {}
    for root, dirs, files in os.walk(d):
        for n in dirs + files:
            st = os.lstat(os.path.join(root, n))
            out[os.path.join(root, n)] = (st.st_size, st.st_mtime_ns)
    return out

def compare(base, targ, cwd, flags=()):
    t0 = time.monotonic()
    p = subprocess.run([dumpview, "compare", "--format", "jsonl"] + list(flags) + [base, targ], cwd=cwd,
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    return p, time.monotonic() - t0

def records(stdout):
    recs, bad = [], []
    for line in stdout.decode("utf-8", "replace").split("\n"):
        if not line:
            continue
        try:
            recs.append(json.loads(line))
        except ValueError:
            bad.append(line)
    return recs, bad

work = tempfile.mkdtemp(prefix="dv-hostile-compare-")
base, targ, cwd = (os.path.join(work, d) for d in ("baseline", "target", "cwd"))
shutil.copytree(os.path.join(examples, "baseline"), base)
shutil.copytree(os.path.join(examples, "target"), targ)
os.mkdir(cwd)

# The clean comparison first: its pairs, in execution order.
p, _ = compare(base, targ, cwd)
clean, _ = records(p.stdout)
pairs = [r for r in clean if r.get("type") == "pair" and r.get("baseline") and r.get("target")]
clean_summary = [r for r in clean if r.get("type") == "summary"][0]

# Hostile files in place of target files spread over the execution order, and one baseline file.
hostiles = ["deep_lists", "billion_laughs", "crc_mismatch_data", "truncated_pickle_60",
            "shape_overflow", "zipbomb_pkl_bzip2", "record_short", "persid_numel_huge",
            "stride_overflow", "missing_data_record", "evil_as_storage", "zip_truncated_half"]
step = max(1, len(pairs) // (len(hostiles) + 2))
replaced = {}
for k, h in enumerate(hostiles):
    rel = pairs[1 + k * step]["target"]
    shutil.copyfile(os.path.join(hostile, h + ".pt"), os.path.join(targ, rel))
    replaced[("target", rel)] = h
rel = pairs[-1]["baseline"]
shutil.copyfile(os.path.join(hostile, "millions_of_marks.pt"), os.path.join(base, rel))
replaced[("baseline", rel)] = "millions_of_marks"

# A pair whose names hold a space, UTF-8, '=' inside a value and a newline (copies of one file).
src = pairs[0]["target"]
folder = os.path.dirname(src)
odd = "step=0___rank=0___dump_index=900___name=odd name é=x\ny___recompute_status=disabled.pt"
for side in (base, targ):
    shutil.copyfile(os.path.join(side, pairs[0]["baseline" if side == base else "target"]),
                    os.path.join(side, folder, odd))

if os.path.exists(PWNED):
    os.unlink(PWNED)
before = snapshot(work)
p, secs = compare(base, targ, cwd, ["--verify-crc"])
after = snapshot(work)
recs, bad = records(p.stdout)

check(p.returncode == 1, "compare exits 1 with unreadable files", "exit %d; stderr %r" % (p.returncode, p.stderr[:300]))
check(not bad, "every output line is valid JSON", "%r" % bad[:2])
summ = [r for r in recs if r.get("type") == "summary"]
check(len(summ) == 1, "one summary line")
summ = summ[0] if summ else {}
check(summ.get("errored") == len(replaced), "errored counts the %d hostile files" % len(replaced),
      "errored %r" % summ.get("errored"))
check(summ.get("total") == clean_summary["total"] + 1, "every pair is still there (+1 odd-name pair)",
      "total %r, clean %r" % (summ.get("total"), clean_summary["total"]))
errors = [r for r in recs if r.get("type") == "error"]
for (side, rel), h in sorted(replaced.items()):
    named = [e for e in errors if e.get("file") == rel and side in e.get("message", "")]
    msgs = [e.get("message", "") for e in errors if e.get("file") == rel]
    check(named and "\n" not in named[0]["message"],
          "%s %s (%s) is an error record naming it" % (side, os.path.basename(rel), h), "%r" % msgs)
# Pairs not touched compare exactly as before.
clean_by = {(r["baseline"], r["target"]): r for r in pairs}
now_by = {(r.get("baseline"), r.get("target")): r for r in recs if r.get("type") == "pair"}
touched = {rel for (_, rel) in replaced}
same = [k for k in clean_by if k[0] not in touched and k[1] not in touched
        and now_by.get(k, {}).get("rel_diff") == clean_by[k]["rel_diff"]
        and now_by.get(k, {}).get("passed") == clean_by[k]["passed"]]
untouched = [k for k in clean_by if k[0] not in touched and k[1] not in touched]
check(len(same) == len(untouched), "the %d other pairs compare as before" % len(untouched),
      "%d of %d" % (len(same), len(untouched)))
oddrel = os.path.join(folder, odd)
oddpair = [r for r in recs if r.get("type") == "pair" and r.get("target") == oddrel]
check(oddpair and oddpair[0].get("passed") is True and oddpair[0].get("baseline") == oddrel,
      "the pair with a space, UTF-8, '=' and a newline in its name compares (identical: passed)",
      "%r" % [r for r in recs if "odd name" in json.dumps(r, ensure_ascii=False)][:1])
# Without --verify-crc the wrong CRC of tensor data is not looked at: that
# pair compares; every other hostile file is an error as before.
p2, _ = compare(base, targ, cwd)
recs2, _ = records(p2.stdout)
summ2 = [r for r in recs2 if r.get("type") == "summary"]
check(summ2 and summ2[0].get("errored") == len(replaced) - 1,
      "without --verify-crc: errored counts the %d hostile files but crc_mismatch_data" % (len(replaced) - 1),
      "errored %r" % (summ2[0].get("errored") if summ2 else None))
crcrel = [rel for (side, rel), h in replaced.items() if h == "crc_mismatch_data"][0]
check(not [e for e in recs2 if e.get("type") == "error" and e.get("file") == crcrel] and
      [r for r in recs2 if r.get("type") == "pair" and r.get("target") == crcrel],
      "without --verify-crc: the crc_mismatch_data pair compares")
# info lists the unreadable files with the reason, and goes on.
before_info = snapshot(work)
pi = subprocess.run([dumpview, "info", "--format", "jsonl", base, targ], cwd=cwd,
                    stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
irecs, ibad = records(pi.stdout)
check(pi.returncode == 0 and not ibad, "info exits 0 with valid JSON lines",
      "exit %d, %r, stderr %r" % (pi.returncode, ibad[:2], pi.stderr[:300]))
ierr = {(e.get("run"), e.get("file")) for e in irecs if e.get("type") == "error"}
# (info reads no tensor bytes, so a CRC mismatch inside data/0 is not its to see)
want = {(base if side == "baseline" else targ, rel) for (side, rel), h in replaced.items()
        if h != "crc_mismatch_data"}
check(ierr == want, "info has an error record for each of the %d hostile files it can see" % len(want),
      "missing %r, extra %r" % (sorted(want - ierr)[:3], sorted(ierr - want)[:3]))
unread = sum(r.get("unreadable", 0) for r in irecs if r.get("type") == "phase")
check(unread == len(want), "info's phases count %d unreadable files" % len(want), "%r" % unread)
after = snapshot(work)
check(before == after, "nothing written into the dump folders",
      "%r" % sorted(set(before.items()) ^ set(after.items()))[:3])
check(not os.path.exists(PWNED), "nothing executed")
check(secs < 30, "within 30 s", "%.1f s" % secs)

shutil.rmtree(work, ignore_errors=True)
print("1..%d" % len(tests))
for k, (ok, desc, diag) in enumerate(tests, 1):
    print("%s %d - %s" % ("ok" if ok else "not ok", k, desc))
    if not ok and diag:
        print("#   " + diag.replace("\n", "\\n")[:2000])
PYEOF
