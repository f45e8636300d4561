#!/bin/sh
# Hostile names and special files against the command-line tools: FIFOs never
# block, --output never lands on the dumps, foreign bytes never reach the
# terminal raw, CSV cells never start a formula, JSON keeps every name byte.
# Fixtures are made at test time in a temporary folder. TAP output.
: "${DUMPVIEW:?}" "${FIXTURES:?}" "${EXAMPLES:?}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dv_safety.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
pass="$FIXTURES/compare/pass"
f1='step=0___rank=0___dump_index=1___name=embed_output___layer_id=0.pt'
f2='step=0___rank=0___dump_index=2___name=attn_q___layer_id=0.pt'
f3='step=0___rank=0___dump_index=3___name=mlp_output___layer_id=0.pt'
n=0
result() { # status description
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}
# Under sanitizers a start takes longer; the bound only has to tell a hang.
T=${DV_SAFETY_TIMEOUT:-20}

# ---- special files never block ----
mkfifo "$tmp/fifo.pt"
timeout "$T" "$DUMPVIEW" show "$tmp/fifo.pt" > "$tmp/out" 2> "$tmp/err"
rc=$?
[ "$rc" = 2 ] && [ ! -s "$tmp/out" ] && [ "$(wc -l < "$tmp/err")" = 1 ] &&
	grep -q 'fifo\.pt: not a regular file (fifo)$' "$tmp/err"
result $? "show FIFO: exit 2 at once, one line ($(cat "$tmp/err"), rc $rc)"

timeout "$T" "$DUMPVIEW" show /dev/null > "$tmp/out" 2> "$tmp/err"
rc=$?
[ "$rc" = 2 ] && grep -q '^dumpview: /dev/null: not a regular file (character device)$' "$tmp/err"
result $? "show a character device: exit 2, named as such"

mkdir "$tmp/fb" "$tmp/ft"
cp "$pass/baseline/"*.pt "$tmp/fb/"
cp "$pass/target/"*.pt "$tmp/ft/"
rm "$tmp/fb/$f2"
mkfifo "$tmp/fb/$f2"
timeout "$T" "$DUMPVIEW" compare --format jsonl "$tmp/fb" "$tmp/ft" > "$tmp/out" 2> "$tmp/err"
rc=$?
[ "$rc" = 1 ] &&
	grep -q '"type":"summary","passed":2,"failed":0,"skipped":0,"errored":1,' "$tmp/out" &&
	grep -q "^{\"type\":\"error\",\"phase\":\"[^\"]*\",\"file\":\"$f2\",\"message\":\"[^\"]*: not a regular file (fifo)\"}\$" "$tmp/out"
result $? "compare with a FIFO in a run: that pair errored, the others compared (rc $rc)"

# ---- a run pair whose file names are hostile (symlinks to one fixture) ----
src="$pass/baseline/$f1"
mkdir "$tmp/hb" "$tmp/ht"
for d in hb ht; do
	for nm in '-x.pt' '@SUM(1).pt' 'name==cmd()|x.pt' "$(printf 'e\033]0;pwned\007.pt')" \
		"$(printf 'bad\377\376.pt')" "$(printf 'nl\nx.pt')" "$(printf 'tab\tx.pt')"; do
		ln -s "$src" "$tmp/$d/$nm"
	done
done
esc_name=$(printf 'e\033]0;pwned\007')

# CSV: text cells that would start a formula get a leading '; numbers do not
"$DUMPVIEW" compare --format csv "$tmp/hb" "$tmp/ht" > "$tmp/csv" 2> "$tmp/err"
rc=$?
[ "$rc" = 0 ] && grep -q "^[^,]*,,'-x,,,'-x\.pt,'-x\.pt,float32," "$tmp/csv"
result $? "csv: name and paths '-x' are prefixed with a quote"
grep -q "^[^,]*,,'@SUM(1),,,'@SUM(1)\.pt,'@SUM(1)\.pt," "$tmp/csv" &&
	grep -q "^[^,]*,,'=cmd()|x,,,name==cmd()|x\.pt,name==cmd()|x\.pt," "$tmp/csv"
result $? "csv: '@SUM(1)' and '=cmd()|x' prefixed, 'name==cmd()|x.pt' (no formula start) kept"
grep -q "^[^,]*,,'-x,.*,0\.0,0\.0,0\.0,true,,0\.5261194029850746,1\.6627167123931972,-2\.25,3\.25," "$tmp/csv" &&
	! sed "s/'-x//g" "$tmp/csv" | grep -q ",'[0-9.-]"
result $? "csv: negative numbers stay numbers (-2.25 has no quote)"

# JSONL: valid JSON; names with invalid UTF-8 round-trip through surrogateescape
"$DUMPVIEW" compare --format jsonl "$tmp/hb" "$tmp/ht" > "$tmp/jsonl" 2> "$tmp/err"
python3 - "$tmp/jsonl" "$tmp/hb" > "$tmp/py" 2>&1 <<'PY'
import json, os, sys
want = set(os.listdir(os.fsencode(sys.argv[2])))
got = set()
for line in open(sys.argv[1], "rb"):
    rec = json.loads(line.decode("ascii"))   # every byte outside ASCII is escaped or valid UTF-8
    if rec.get("type") == "pair":
        for side in ("baseline", "target"):
            got.add(os.fsencode(rec[side]))
assert got == want, (sorted(got), sorted(want))
assert b"bad\xff\xfe.pt" in got
print("ok")
PY
[ "$(cat "$tmp/py")" = ok ]
result $? "jsonl: every line is JSON; os.fsencode(baseline/target) gives the exact name bytes ($(tail -1 "$tmp/py"))"
grep -q '"baseline":"bad\\udcff\\udcfe\.pt"' "$tmp/jsonl" && grep -q '"target":"e\\u001b\]0;pwned\\u0007\.pt"' "$tmp/jsonl"
result $? "jsonl: invalid bytes as \\udcXX, controls as \\u00XX"

"$DUMPVIEW" info --format jsonl "$tmp/hb" > "$tmp/jsonl" 2> "$tmp/err"
python3 - "$tmp/jsonl" > "$tmp/py" 2>&1 <<'PY'
import json, os, sys
files = [json.loads(l) for l in open(sys.argv[1], "rb")]
names = {os.fsencode(r["file"]) for r in files if r["type"] == "file"}
assert b"bad\xff\xfe.pt" in names and b"nl\nx.pt" in names, names
print("ok")
PY
[ "$(cat "$tmp/py")" = ok ]
result $? "info jsonl: valid JSON, names round-trip ($(tail -1 "$tmp/py"))"
