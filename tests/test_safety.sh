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
