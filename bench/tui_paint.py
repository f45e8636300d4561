#!/usr/bin/env python3
"""Times the TUI in a real pseudo-terminal: first paint, then key answers during the background scan.

usage: tui_paint.py [--runs N] [--paint-marker S] [--key-marker S] [--stages A,B,...] [--keys-for SECONDS]
                   [--first-keys KEYS] [--scan-only] DUMPVIEW BASELINE TARGET

First paint: from exec to the moment the terminal output holds PAINT_MARKER (default "inference", a phase row of the
tree) -- the tree built from file names. Best of N runs (default 3), with the scan on (the default) and with
--no-scan. Keys: right after the first paint (scan running), sends '?' and times until KEY_MARKER (default
"background", a word of the help screen) arrives, closes the help with '?', waits, five times; prints each.
--stages listing,inference,fwd_bwd: the time from exec until each marker first shows (the listing screen, the
first phase's row, the last phase's row: with the progressive listing, the tree grows phase by phase), best of N,
with the scan on and with --no-scan. --keys-for S: instead of the five keys, '?' is pressed again and again for S
seconds from the first paint (with the progressive listing: through the swaps of the larger comparisons), each
answer timed (the first paint's timings left out); prints the count, median, 90th percentile, max and every answer over 20 ms, N runs.
--scan-only: the first paint and the stages with the scan on only (a stage the scan makes, such as the first
divergence in the title, " / layer ", never shows with --no-scan). --first-keys KEYS: with --keys-for, KEYS are typed once right after the first paint, before the timed keys ('s' to
sort by rel_diff, 'ssj' and so on), and the timing starts 0.2 s later.
Python stdlib only (pty).
"""
import os
import pty
import select
import signal
import struct
import sys
import time

try:
    import fcntl
    import termios
except ImportError:  # pragma: no cover
    fcntl = termios = None


def spawn(argv, rows=40, cols=140):
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm-256color"
        os.environ.setdefault("LC_ALL", "C.UTF-8")
        os.execv(argv[0], argv)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    return pid, fd


def read_until(fd, marker, timeout, buf):
    """Reads into buf until marker is in the part read since the call; returns elapsed seconds or None."""
    start = time.monotonic()
    seen = len(buf)
    while True:
        left = timeout - (time.monotonic() - start)
        if left <= 0:
            return None
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:
            return None
        if not data:
            return None
        buf.extend(data)
        if marker in buf[max(0, seen - len(marker)):]:
            return time.monotonic() - start


def drain(fd, quiet, buf):
    while select.select([fd], [], [], quiet)[0]:
        try:
            data = os.read(fd, 65536)
        except OSError:
            return
        if not data:
            return
        buf.extend(data)


def finish(pid, fd):
    try:
        os.write(fd, b"q")
    except OSError:
        pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        drain(fd, 0.05, bytearray())
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    os.close(fd)


def timeline(argv, markers, timeout=60):
    """Seconds from exec until each marker first shows in the output (None: not seen); the process is ended."""
    start = time.monotonic()
    pid, fd = spawn(argv)
    buf = bytearray()
    seen = {}
    while len(seen) < len(markers) and time.monotonic() - start < timeout:
        r, _, _ = select.select([fd], [], [], 0.5)
        if not r:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        old = len(buf)
        buf.extend(data)
        now = time.monotonic() - start
        for m in markers:
            if m not in seen and m in buf[max(0, old - len(m)):]:
                seen[m] = now
    finish(pid, fd)
    return [seen.get(m) for m in markers]


def first_paint(argv, marker):
    start = time.monotonic()
    pid, fd = spawn(argv)
    buf = bytearray()
    t = read_until(fd, marker, 30, buf)
    elapsed = None if t is None else time.monotonic() - start
    return pid, fd, buf, elapsed


def main(args):
    runs = 3
    paint_marker = b"inference"
    key_marker = b"background"
    stages = []
    keys_for = None
    first_keys = b""
    scan_only = False
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--runs":
            runs = int(args.pop(0))
        elif opt == "--paint-marker":
            paint_marker = args.pop(0).encode()
        elif opt == "--key-marker":
            key_marker = args.pop(0).encode()
        elif opt == "--keys-for":
            keys_for = float(args.pop(0))
        elif opt == "--first-keys":
            first_keys = args.pop(0).encode()
        elif opt == "--scan-only":
            scan_only = True
        elif opt == "--stages":
            stages = [m.encode() for m in args.pop(0).split(",") if m]
        else:
            print(__doc__, file=sys.stderr)
            return 2
    if len(args) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    dv, base, targ = args
    ok = True
    variants = (("scan on", []),) if scan_only else (("scan on", []), ("--no-scan", ["--no-scan"]))
    for label, extra in variants if keys_for is None else ():
        times = []
        for _ in range(runs):
            pid, fd, _, t = first_paint([dv] + extra + [base, targ], paint_marker)
            finish(pid, fd)
            times.append(t)
        if any(t is None for t in times):
            print("  first paint (%s): marker %r not seen (exited, or 30 s passed)" % (label, paint_marker.decode()))
            ok = False
        else:
            print("  first paint (%s): best %.3f s (runs: %s)" % (label, min(times),
                                                                   ", ".join("%.3f" % t for t in times)))
    # Progressive listing: the listing screen, the first phase's row, the
    # last phase's row (all of them listed), best of N each.
    if stages:
        names = [m.decode() for m in stages]
        for label, extra in variants:
            rows = [timeline([dv] + extra + [base, targ], stages) for _ in range(runs)]
            parts = []
            for k, name in enumerate(names):
                ts = [r[k] for r in rows if r[k] is not None]
                parts.append("%r %s" % (name, "best %.3f s" % min(ts) if ts else "not seen"))
            print("  stages (%s): %s" % (label, "; ".join(parts)))
    if keys_for is not None:
        for run in range(runs):
            pid, fd, buf, t = first_paint([dv, base, targ], paint_marker)
            if t is None:
                print("  keys: first paint not seen")
                finish(pid, fd)
                return 1
            if first_keys:
                os.write(fd, first_keys)
                drain(fd, 0.2, buf)
            lat = []
            end = time.monotonic() + keys_for
            while time.monotonic() < end:
                os.write(fd, b"?")
                d = read_until(fd, key_marker, 5, buf)
                lat.append(5.0 if d is None else d)
                os.write(fd, b"?")
                drain(fd, 0.05, buf)
            finish(pid, fd)
            ms = sorted(d * 1000 for d in lat)
            print("  keys for %.0f s (run %d): %d answered, median %.0f ms, p90 %.0f ms, max %.0f ms; over 20 ms: %s" %
                  (keys_for, run + 1, len(ms), ms[len(ms) // 2], ms[int(len(ms) * 0.9)], ms[-1],
                   ", ".join("%.0f" % (d * 1000) for d in lat if d * 1000 > 20) or "none"))
        return 0 if ok else 1
    pid, fd, buf, t = first_paint([dv, base, targ], paint_marker)
    if t is not None:
        lat = []
        for _ in range(5):
            os.write(fd, b"?")
            d = read_until(fd, key_marker, 5, buf)
            lat.append(d)
            os.write(fd, b"?")
            drain(fd, 0.15, buf)
        shown = ", ".join("-" if d is None else "%.0f ms" % (d * 1000) for d in lat)
        print("  key '?' answered during the scan: %s" % shown)
        if any(d is None for d in lat):
            ok = False
    finish(pid, fd)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
