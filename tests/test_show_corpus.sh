#!/bin/sh
# dumpview show against the pt corpus manifest: every tensor's dtype, shape,
# stride, offset, device, requires_grad, head values and sha256 of --raw;
# every bad file ends in exit 2 with one line on stderr and nothing on stdout
# (a wrong CRC of tensor data: with --verify-crc; without, it is read).
: "${DUMPVIEW:?}" "${FIXTURES:?}"
exec python3 - "$DUMPVIEW" "$FIXTURES" <<'PYEOF'
import hashlib, json, os, re, struct, subprocess, sys, tempfile

dumpview, fixtures = sys.argv[1], sys.argv[2]
corpus = os.path.join(fixtures, "pt-corpus")
manifest = json.load(open(os.path.join(corpus, "manifest.json")))
results = []

# The manifest says requires_grad False for these, but the files pickle True
# (_rebuild_parameter(..., True, ...), and torch.load gives requires_grad=True):
# the manifest was written from detached copies. The files are the truth.
REQUIRES_GRAD_TRUE = {("param.pt", "$"), ("requires_grad.pt", "$"), ("sglang_param.pt", "$['value']")}

def check(ok, what):
    results.append((bool(ok), what))

def run(*args):
    p = subprocess.run([dumpview, *args], capture_output=True)
    return p.returncode, p.stdout, p.stderr

LINE = re.compile(r"^(?P<path>\$.*?): tensor (?P<dtype>\S+) \[(?P<shape>[^\]]*)\] stride \[(?P<stride>[^\]]*)\] "
                  r"offset (?P<offset>\d+) (?P<device>\S+)(?P<flags>( requires_grad| conj| neg)*)"
                  r" values \[(?P<values>[^\]]*)\]")

def dims(s):
    return [int(x) for x in s.split(", ")] if s else []

def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]

def same_value(text, want, dtype):
    if want == "nan":
        return text == "nan"
    if isinstance(want, str):
        return text == want
    if dtype.startswith(("int", "uint", "bool")):
        return int(text) == want
    got = float(text)
    if dtype != "float64":
        got, want = f32(got), f32(want)
    return got == want and (str(got).startswith("-") == str(want).startswith("-"))

for entry in manifest:
    path = os.path.join(corpus, entry["file"])
    rc, out, err = run("show", path)
    check(rc == 0 and not err, f"{entry['file']}: show exits 0 quietly (rc={rc} {err[:200]!r})")
    lines = {}
    for line in out.decode().splitlines():
        m = LINE.match(line)
        if m:
            lines[m["path"]] = m
    for t in entry["tensors"]:
        what = f"{entry['file']} {t['path']}"
        m = lines.get(t["path"])
        check(m is not None, f"{what}: tensor line present")
        if m is None:
            continue
        check(m["dtype"] == t["dtype"], f"{what}: dtype {m['dtype']} == {t['dtype']}")
        check(dims(m["shape"]) == t["shape"], f"{what}: shape {m['shape']} == {t['shape']}")
        check(dims(m["stride"]) == t["stride"], f"{what}: stride {m['stride']} == {t['stride']}")
        check(int(m["offset"]) == t["storage_offset"], f"{what}: offset {m['offset']} == {t['storage_offset']}")
        check(m["device"] == t["device"], f"{what}: device {m['device']} == {t['device']}")
        want_rg = t["requires_grad"] or (entry["file"], t["path"]) in REQUIRES_GRAD_TRUE
        check(("requires_grad" in m["flags"]) == want_rg, f"{what}: requires_grad == {want_rg}")
        if "head" in t:
            vals = m["values"].split(", ") if m["values"] else []
            ok = len(vals) == len(t["head"]) and all(same_value(v, w, t["dtype"]) for v, w in zip(vals, t["head"]))
            check(ok, f"{what}: head values {vals} == {t['head']}")
        # mean = sum / numel where every value is finite (the manifest's sum skips the others)
        full = next(l for l in out.decode().splitlines() if l.startswith(t["path"] + ": tensor "))
        mm = re.search(r" mean (\S+)$", full)
        numel = 1
        for d in t["shape"]:
            numel *= d
        if "sum" in t and numel and mm and mm[1] not in ("nan", "inf", "-inf"):
            want = t["sum"] / numel
            check(abs(float(mm[1]) - want) <= 1e-9 * max(1.0, abs(want)), f"{what}: mean {mm[1]} == sum/numel {want}")
        rc, raw, err = run("show", "--raw", t["path"], path)
        check(rc == 0 and not err, f"{what}: --raw exits 0 quietly (rc={rc} {err[:200]!r})")
        check(len(raw) == t["nbytes"], f"{what}: --raw writes {len(raw)} bytes == {t['nbytes']}")
        check(hashlib.sha256(raw).hexdigest() == t["sha256"], f"{what}: --raw sha256 matches the manifest")

# Valid oddities of tests/fixtures/pt (see make_fixtures.py): a big byteorder,
# deflated re-zips, CRC 0, another root name: the same bytes as their source.
by_file = {e["file"]: e for e in manifest}
extra_dir = os.path.join(fixtures, "pt")
for name in sorted(os.listdir(extra_dir)):
    m = re.match(r"(big|deflated|crc0|root_model\.v1)_?(.*\.pt)$", name)
    if not m:
        continue
    src = by_file[m[2] if m[1] != "root_model.v1" else "dtype_float32.pt"]
    for t in src["tensors"]:
        rc, raw, err = run("show", "--raw", t["path"], os.path.join(extra_dir, name))
        check(rc == 0 and hashlib.sha256(raw).hexdigest() == t["sha256"],
              f"pt/{name} {t['path']}: --raw equals {src['file']} ({err!r})")

# A path that is not a tensor, and one that does not exist: exit 2, one line.
for args in (["--raw", "$['meta']", "sglang_value_meta.pt"], ["--raw", "$['nope']", "sglang_value_meta.pt"],
             ["--raw", "$[0]", "dtype_float32.pt"]):
    rc, out, err = run("show", *args[:-1], os.path.join(corpus, args[-1]))
    check(rc == 2 and out == b"" and err.count(b"\n") == 1, f"show {' '.join(args)}: exit 2, one line ({err!r})")

marker = "/tmp/dumpview_pwn"
if os.path.exists(marker):
    os.unlink(marker)
bad = os.path.join(corpus, "bad")
extra = os.path.join(fixtures, "pt", "bad")
bad_files = sorted(os.path.join(bad, f) for f in os.listdir(bad))
if os.path.isdir(extra):
    bad_files += sorted(os.path.join(extra, f) for f in os.listdir(extra))
# A wrong CRC of tensor data is seen only with --verify-crc (torch does not
# check it); every other bad file fails without it.
crc_only = {"crc_mismatch.pt"}
for path in bad_files:
    flags = ["--verify-crc"] if os.path.basename(path) in crc_only else []
    if flags:
        p = subprocess.run([dumpview, "show", path], capture_output=True)
        check(p.returncode == 0, f"{os.path.relpath(path, fixtures)}: read without --verify-crc (rc={p.returncode})")
    with tempfile.TemporaryDirectory() as cwd:
        p = subprocess.run([dumpview, "show"] + flags + [path], capture_output=True, cwd=cwd)
        left = os.listdir(cwd)
    name = os.path.relpath(path, fixtures)
    ok = (p.returncode == 2 and p.stdout == b"" and p.stderr.count(b"\n") == 1 and
          os.path.basename(path).encode() in p.stderr and not left)
    check(ok, f"{name}: exit 2, one line naming the file, nothing written (rc={p.returncode} {p.stderr!r})")
check(not os.path.exists(marker), "evil_global.pt ran nothing")

print(f"1..{len(results)}")
for i, (ok, what) in enumerate(results, 1):
    print(f"{'ok' if ok else 'not ok'} {i} - {what}")
PYEOF
