#!/bin/sh
# The man page's KEYS section lists every key of every action in
# src/tui/actions.def (the table that also drives the key map and `?` help).
# Keys are matched as bold words of .B / .BR / .BI lines ("Ctrl-L" for C-L).
: "${TESTS_SRCDIR:?}"
exec python3 - "$TESTS_SRCDIR/../src/tui/actions.def" "$TESTS_SRCDIR/../man/dumpview.1" <<'PY'
import re, shlex, sys

actions = []
for line in open(sys.argv[1], encoding="utf-8"):
    m = re.match(r'\s*ACTION\((\w+),\s*"([^"]*)",\s*"([^"]*)"\)', line)
    if m:
        actions.append((m.group(1), m.group(2).split(), m.group(3)))

try:
    man = open(sys.argv[2], encoding="utf-8").read()
except OSError as e:
    print("1..1\nnot ok 1 - man page readable: %s" % e)
    sys.exit(0)

keys_section = re.search(r'^\.SH KEYS\n(.*?)(?=^\.SH )', man, re.S | re.M)
bold = set()
if keys_section:
    for line in keys_section.group(1).splitlines():
        m = re.match(r'\.(B|BR|BI|IB|RB)\s+(.*)', line)
        if not m:
            continue
        macro, rest = m.groups()
        rest = rest.replace('\\-', '-').replace('\\(aq', "'").replace('\\e', '\\')
        lex = shlex.shlex(rest, posix=True)
        lex.escape = ''
        lex.whitespace_split = True
        try:
            args = list(lex)
        except ValueError:
            args = rest.split()
        if macro == 'B':
            picked = args
        else:
            start = 0 if macro[0] == 'B' else 1
            picked = args[start::2]
        for a in picked:
            for w in re.split(r'[\s,]+', a):
                if w:
                    bold.add(w)

def man_name(k):
    m = re.match(r'C-(.)$', k)
    if m:
        return 'Ctrl-' + m.group(1).upper()
    return k

print("1..%d" % (len(actions) + 1))
print("%s 1 - man/dumpview.1 has a KEYS section" % ("ok" if keys_section else "not ok"))
n = 1
for name, keys, help_text in actions:
    n += 1
    missing = [k for k in keys if man_name(k) not in bold]
    if missing:
        print("not ok %d - %s: man page lists no key %s" % (n, name, " ".join(man_name(k) for k in missing)))
    else:
        print("ok %d - %s: %s" % (n, name, ", ".join(man_name(k) for k in keys)))
PY
