"""Helpers shared by the `dumpview compare` end-to-end tests (TAP):
running dumpview compare, reading its JSON-lines output, counting results.
Imported from the test's own folder, which python puts on sys.path.
Standard library only.
"""
import json
import os
import subprocess

DUMPVIEW = os.environ.get("DUMPVIEW", "dumpview")

# Results so far; the caller prints the plan "1..n" at the end.
n = 0
failures = 0


def ok(cond, what, detail=None):
    global n, failures
    n += 1
    if not cond:
        failures += 1
    print(("ok" if cond else "not ok") + " %d - %s" % (n, what))
    if not cond and detail is not None:
        for line in str(detail).splitlines()[:40]:
            print("#   " + line)
    return cond


def close(a, b, tol=1e-9):
    """a equals b within tol relative (exactly when b is 0); a must be a number."""
    if not isinstance(a, (int, float)):
        return False
    return a == b if b == 0 else abs(a - b) <= tol * abs(b)


def plan_and_exit():
    """The TAP plan, then the exit status of a script that counts its own failures."""
    print("1..%d" % n)
    raise SystemExit(1 if failures else 0)


def run(*args, env=None, locale="C.UTF-8"):
    e = dict(os.environ)
    e["LC_ALL"] = locale
    if env:
        e.update(env)
    p = subprocess.run([DUMPVIEW, "compare"] + list(args), capture_output=True, env=e)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def records(fmt, *args, **kw):
    """Exit code, one dict per output line (a bad line as type bad-json), stderr."""
    rc, out, err = run("--format", fmt, *args, **kw)
    recs = []
    for line in out.splitlines():
        try:
            recs.append(json.loads(line))
        except ValueError as ex:
            recs.append({"type": "bad-json", "line": line, "error": str(ex)})
    return rc, recs, err


def jsonl(*args, **kw):
    return records("jsonl", *args, **kw)
