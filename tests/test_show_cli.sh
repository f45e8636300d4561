#!/bin/sh
# dumpview show: golden tree text, options, usage errors (exit 2, one line).
: "${DUMPVIEW:?}" "${FIXTURES:?}"
corpus="$FIXTURES/pt-corpus"
golden="$FIXTURES/pt/golden"
tmp="${TMPDIR:-/tmp}/dv_show_cli.$$"
mkdir -p "$tmp" || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
fails=0
result() { # ok? description
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails + 1)); fi
}
echo "1..19"

for g in "$golden"/*.txt; do
	name=$(basename "$g" .txt)
	"$DUMPVIEW" show --values 3 "$corpus/$name.pt" > "$tmp/out" 2> "$tmp/err"
	rc=$?
	cmp -s "$tmp/out" "$g" && [ "$rc" = 0 ] && [ ! -s "$tmp/err" ]
	result $? "show --values 3 $name.pt matches the golden text"
done

"$DUMPVIEW" show --help > "$tmp/out" 2> "$tmp/err"
[ $? = 0 ] && grep -q '^usage: dumpview show \[--values N\] \[--raw PATH \[--force\]\] \[--verify-crc\] FILE$' "$tmp/out" && [ ! -s "$tmp/err" ]
result $? "show --help: usage on stdout, exit 0"

one_line_exit2() { # description args...
	what=$1
	shift
	"$DUMPVIEW" show "$@" > "$tmp/out" 2> "$tmp/err"
	rc=$?
	[ "$rc" = 2 ] && [ ! -s "$tmp/out" ] && [ "$(wc -l < "$tmp/err")" = 1 ]
	result $? "$what: exit 2, one line on stderr ($(cat "$tmp/err"))"
}
one_line_exit2 "no FILE"
one_line_exit2 "two FILEs" "$corpus/dtype_int8.pt" "$corpus/dtype_int8.pt"
one_line_exit2 "--values x" --values x "$corpus/dtype_int8.pt"
one_line_exit2 "unknown option" --bogus "$corpus/dtype_int8.pt"
one_line_exit2 "missing file" "$tmp/nope.pt"
one_line_exit2 "--raw of a str" --raw "\$['value']" "$corpus/sglang_nontensor_str.pt"

# --values N prints N values; 0 prints none
"$DUMPVIEW" show --values 2 "$corpus/dtype_int8.pt" > "$tmp/out"
grep -q '^\$: tensor int8 \[4, 3\] stride \[3, 1\] offset 0 cpu values \[-13, 93\] \.\.\. min -86 max 93 mean -3.0$' "$tmp/out"
result $? "--values 2"
"$DUMPVIEW" show --values=0 "$corpus/dtype_int8.pt" > "$tmp/out"
grep -q 'values \[\] \.\.\. min' "$tmp/out"
result $? "--values=0"

# --raw of a 0-dim tensor: one float32, 3.5, little-endian
"$DUMPVIEW" show --raw '$' "$corpus/shape_0d.pt" | od -An -tx1 | tr -d ' \n' > "$tmp/out"
[ "$(cat "$tmp/out")" = "00006040" ]
result $? "--raw of a 0-dim tensor is its 4 little-endian bytes"
# --raw of an empty tensor writes nothing and succeeds
"$DUMPVIEW" show --raw '$' "$corpus/shape_empty2d.pt" > "$tmp/out"
[ $? = 0 ] && [ ! -s "$tmp/out" ]
result $? "--raw of an empty tensor writes nothing"
exit 0
