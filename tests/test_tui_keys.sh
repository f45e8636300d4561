#!/bin/sh
# The man page's KEYS section lists every key of every action in
# src/tui/actions.def (the table that also drives the key map and `?` help).
# Keys are matched as bold words of .B / .BR / .BI lines ("Ctrl-L" for C-L).
# The table itself: a key bound once, every action in a declared group, a
# group's actions together and in the groups' order.
: "${TESTS_SRCDIR:?}"
exec python3 - "$TESTS_SRCDIR/../src/tui/actions.def" "$TESTS_SRCDIR/../man/dumpview.1" <<'PY'
import re, shlex, sys

# ACTION(ID, GROUP, "KEYS", FLAGS, HANDLER, "HELP", MAN) entries, comments
# dropped; GROUP(ID, "TITLE") lines.
table = re.sub(r'/\*.*?\*/', '', open(sys.argv[1], encoding="utf-8").read(), flags=re.S)
groups = re.findall(r'^GROUP\((\w+),', table, re.M)
actions = []
for m in re.finditer(r'^ACTION\(\s*(\w+),\s*(\w+),\s*"([^"]*)",\s*\w+,\s*\w+,\s*"((?:[^"\\]|\\.)*)"',
                     table, re.M):
    actions.append((m.group(1), m.group(3).split(), m.group(4), m.group(2)))

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

print("1..%d" % (len(actions) + 4))
print("%s 1 - man/dumpview.1 has a KEYS section" % ("ok" if keys_section else "not ok"))
print("%s 2 - actions.def has actions (%d) and groups (%d)" %
      ("ok" if actions and groups else "not ok", len(actions), len(groups)))

# One action per key: the key map holds one.
seen, twice = {}, []
for name, keys, _, _ in actions:
    for k in keys:
        if k in seen:
            twice.append("%s (%s and %s)" % (k, seen[k], name))
        seen[k] = name
print("%s 3 - every key is bound once%s" % ("not ok" if twice else "ok", ": " + ", ".join(twice) if twice else ""))

# Each action names a declared group, and a group's actions stay together
# (the `?` screen and the man page show one heading per group).
order = [g for _, _, _, g in actions]
bad = [g for g in order if g not in groups]
runs = [g for i, g in enumerate(order) if i == 0 or order[i - 1] != g]
apart = sorted(set(g for g in runs if runs.count(g) > 1))
out_of_order = runs != sorted(runs, key=lambda g: groups.index(g) if g in groups else -1)
if bad or apart or out_of_order:
    print("not ok 4 - groups: unknown %s, apart %s, out of order %s" % (bad, apart, out_of_order))
else:
    print("ok 4 - every action is in a declared group, groups together and in order")
n = 4
for name, keys, help_text, _ in actions:
    n += 1
    missing = [k for k in keys if man_name(k) not in bold]
    if missing:
        print("not ok %d - %s: man page lists no key %s" % (n, name, " ".join(man_name(k) for k in missing)))
    else:
        print("ok %d - %s: %s" % (n, name, ", ".join(man_name(k) for k in keys)))
PY
