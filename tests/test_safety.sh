#!/bin/sh
# Hostile names and special files against the command-line tools: FIFOs never
# block, --output never lands on the dumps, foreign bytes never reach the
# terminal raw, CSV cells never start a formula, JSON keeps every name byte.
# Fixtures are made at test time in a temporary folder. TAP output.
: "${DUMPVIEW:?}" "${FIXTURES:?}" "${EXAMPLES:?}" "${TESTS_SRCDIR:?}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dv_safety.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
pass="$FIXTURES/compare/pass"
f1='step=0___rank=0___dump_index=1___name=embed_output___layer_id=0.pt'
f2='step=0___rank=0___dump_index=2___name=attn_q___layer_id=0.pt'
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

python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$tmp/sock.pt"
timeout "$T" "$DUMPVIEW" show "$tmp/sock.pt" > "$tmp/out" 2> "$tmp/err"
rc=$?
[ "$rc" = 2 ] && grep -q 'sock\.pt: not a regular file (socket)$' "$tmp/err"
result $? "show a socket: exit 2, named as such ($(cat "$tmp/err"))"

mkdir "$tmp/fb" "$tmp/ft"
cp "$pass/baseline/"*.pt "$tmp/fb/"
cp "$pass/target/"*.pt "$tmp/ft/"
rm "$tmp/fb/$f2"
mkfifo "$tmp/fb/$f2"
timeout "$T" "$DUMPVIEW" compare --format jsonl "$tmp/fb" "$tmp/ft" > "$tmp/out" 2> "$tmp/err"
rc=$?
[ "$rc" = 1 ] &&
	grep -q '"type":"summary","passed":2,"failed":0,"skipped":0,"errored":1,' "$tmp/out" &&
	grep -q "^{\"type\":\"error\",\"phase\":\"[^\"]*\",\"index\":[0-9]*,\"file\":\"$f2\",\"message\":\"[^\"]*: not a regular file (fifo)\"}\$" "$tmp/out"
result $? "compare with a FIFO in a run: that pair errored, the others compared (rc $rc)"

timeout "$T" "$DUMPVIEW" info "$tmp/fb" > "$tmp/out" 2> "$tmp/err"
rc=$?
[ "$rc" = 0 ] && grep -q "^      unreadable: .*/fb/$f2: not a regular file (fifo)\$" "$tmp/out" &&
	grep -q 'dtypes: .*, unreadable 1$' "$tmp/out"
result $? "info with a FIFO in a run: listed as unreadable, at once (rc $rc)"

# ---- a run pair whose file names are hostile (symlinks to one fixture) ----
src="$pass/baseline/$f1"
mkdir "$tmp/hb" "$tmp/ht"
for d in hb ht; do
	for nm in '-x.pt' '@SUM(1).pt' 'name==cmd()|x.pt' "$(printf 'e\033]0;pwned\007.pt')" \
		"$(printf 'bad\377\376.pt')" "$(printf 'nl\nx.pt')" "$(printf 'tab\tx.pt')"; do
		ln -s "$src" "$tmp/$d/$nm"
	done
done

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

# the explorer's exports: E (the table) prefixes text cells like compare; e
# (element-wise) has number cells only, and -2.25 stays a number
mkdir "$tmp/tui"
printf ':wait-scan\nE<Enter>\n:wait\n<Down><Right><Down>\ne<Enter><Enter>\n:wait\n' > "$tmp/tui/keys"
(cd "$tmp/tui" && DUMPVIEW_SCRIPT=keys timeout 60 "$DUMPVIEW" "$tmp/hb" "$tmp/ht" < /dev/null > out 2> err)
grep -q "^[^,]*,,'-x,,,'-x\.pt,'-x\.pt,float32," "$tmp/tui/dumpview-table.csv" &&
	grep -q "^[^,]*,,'@SUM(1),,,'@SUM(1)\.pt,'@SUM(1)\.pt," "$tmp/tui/dumpview-table.csv"
result $? "explorer E: text cells starting a formula are prefixed"
[ "$(sed -n 2p "$tmp/tui/-x.diff.csv")" = '0,"[0, 0]",-2.25,-2.25,0,0' ] && ! grep -q "'" "$tmp/tui/-x.diff.csv"
result $? "explorer e: numbers (-2.25) are not prefixed"

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

# ---- foreign bytes never reach the terminal raw ----
no_raw() { # file: no ESC, BEL, CR, DEL and no byte that is not UTF-8
	python3 - "$1" <<'PY'
import sys
b = open(sys.argv[1], "rb").read()
b.decode("utf-8")
assert not any(c in b for c in (b"\x1b", b"\x07", b"\r", b"\x7f", b"\xe2\x80\xae")), b
PY
}
"$DUMPVIEW" compare "$tmp/hb" "$tmp/ht" > "$tmp/out" 2> "$tmp/err"
rc=$?
[ "$rc" = 0 ] && no_raw "$tmp/out" &&
	grep -qx 'baseline=e\\x1b]0;pwned\\x07\.pt' "$tmp/out" &&
	grep -qx 'target=bad\\xff\\xfe\.pt' "$tmp/out" &&
	grep -qx 'baseline=nl\\x0ax\.pt' "$tmp/out" &&
	grep -qx 'baseline=tab\\x09x\.pt' "$tmp/out"
result $? "compare text: names with ESC/BEL/newline/tab/invalid UTF-8 shown as \\xNN escapes"
grep -qx 'baseline=-x\.pt' "$tmp/out" && grep -qx 'target=name==cmd()|x\.pt' "$tmp/out"
result $? "compare text: clean names unchanged"

"$DUMPVIEW" info "$tmp/hb" > "$tmp/out" 2> "$tmp/err"
no_raw "$tmp/out" && grep -qx '    e\\x1b]0;pwned\\x07\.pt' "$tmp/out" && grep -qx '    bad\\xff\\xfe\.pt' "$tmp/out"
result $? "info text: file names escaped"

# a tag value with ESC, a folder name with ESC, an unreadable file quoting them
mkdir "$tmp/tb" "$(printf '%s/tt\033[2J' "$tmp")"
ln -s "$src" "$(printf '%s/tb/step=0___rank=0___name=red\033[31m___layer_id=0.pt' "$tmp")"
printf 'junk' > "$(printf '%s/tb/step=0___rank=0___name=x\033]2;t\007.pt' "$tmp")"
"$DUMPVIEW" info "$tmp/tb" > "$tmp/out" 2> "$tmp/err"
no_raw "$tmp/out" && grep -q '^      step=0  rank=0  name=red\\x1b\[31m  layer_id=0$' "$tmp/out" &&
	grep -q 'unreadable: .*name=x\\x1b\]2;t\\x07\.pt: ' "$tmp/out"
result $? "info text: tag values and error messages escaped"
"$DUMPVIEW" compare "$tmp/tb" "$(printf '%s/tt\033[2J' "$tmp")" > "$tmp/out" 2> "$tmp/err"
rc=$?
[ "$rc" != 0 ] && no_raw "$tmp/err" && grep -q 'tt\\x1b\[2J' "$tmp/err"
result $? "compare stderr: a folder name with ESC is escaped ($(cat "$tmp/err"))"
"$DUMPVIEW" compare --filter "$(printf '(\033')" "$tmp/hb" "$tmp/ht" > "$tmp/out" 2> "$tmp/err"
[ $? = 2 ] && no_raw "$tmp/err" && grep -q "regex '(\\\\x1b'" "$tmp/err"
result $? "compare stderr: a bad regex is quoted escaped"
"$DUMPVIEW" show "$(printf '%s/tb/step=0___rank=0___name=x\033]2;t\007.pt' "$tmp")" > "$tmp/out" 2> "$tmp/err"
[ $? = 2 ] && no_raw "$tmp/err" && [ "$(wc -l < "$tmp/err")" = 1 ] && grep -q 'name=x\\x1b\]2;t\\x07\.pt: ' "$tmp/err"
result $? "show stderr: the file name in the error is escaped"
"$DUMPVIEW" "$tmp/hb" "$(printf '%s/no\033[2Jpe' "$tmp")" > "$tmp/out" 2> "$tmp/err" < /dev/null
[ $? != 0 ] && no_raw "$tmp/err" && grep -q 'no\\x1b\[2Jpe' "$tmp/err"
result $? "explorer stderr: a missing folder's name is escaped"

# show: a string with a bidi override, a dict key with ESC, a class name with
# ESC and an invalid byte (a zip pickle made here)
python3 - "$tmp/evil.pt" <<'PY'
import struct, sys, zipfile
def s(b): return b'X' + struct.pack('<I', len(b)) + b
pk = (b'\x80\x02}(' + s(b'value') + s('bidi \u202e txt'.encode()) +
      s(b'k\x1b]0;t\x07') + b'K\x01' +
      s(b'obj') + b'cevil\x1b[31m\nCls\xff\n)R' + b'u.')
with zipfile.ZipFile(sys.argv[1], 'w') as z:
    z.writestr('x/data.pkl', pk)
    z.writestr('x/version', '3\n')
PY
"$DUMPVIEW" show "$tmp/evil.pt" > "$tmp/out" 2> "$tmp/err"
[ $? = 0 ] && no_raw "$tmp/out" &&
	grep -qx "\\\$\['value'\]: 'bidi \\\\u202e txt'" "$tmp/out" &&
	grep -qx "\\\$\['k\\\\x1b\]0;t\\\\x07'\]: 1" "$tmp/out" &&
	grep -qx "\\\$\['obj'\]: object evil\\\\x1b\[31m\.Cls\\\\xff args ()" "$tmp/out"
result $? "show: strings, keys and class names escaped"

# ---- show --raw refuses a terminal without --force ----
python3 - "$DUMPVIEW" "$FIXTURES/pt-corpus/shape_0d.pt" > "$tmp/py" 2>&1 <<'PY'
import os, pty, subprocess, sys
def run(*extra):
    m, s = pty.openpty()
    p = subprocess.run([sys.argv[1], "show", "--raw", "$", *extra, sys.argv[2]], stdout=s,
                       stderr=subprocess.PIPE, timeout=60)
    os.close(s)
    out = b""
    try:
        while True:
            os.set_blocking(m, False)
            chunk = os.read(m, 4096)
            if not chunk:
                break
            out += chunk
    except OSError:
        pass
    os.close(m)
    return p.returncode, out, p.stderr
rc, out, err = run()
assert rc == 2 and out == b"" and err.count(b"\n") == 1 and b"terminal" in err and b"--force" in err, (rc, out, err)
rc, out, err = run("--force")
assert rc == 0 and err == b"" and len(out) >= 4, (rc, out, err)
print("ok")
PY
[ "$(tail -1 "$tmp/py")" = ok ]
result $? "show --raw to a terminal: exit 2, one line; --force writes ($(tail -1 "$tmp/py"))"
"$DUMPVIEW" show --raw '$' "$FIXTURES/pt-corpus/shape_0d.pt" | od -An -tx1 | tr -d ' \n' > "$tmp/out"
[ "$(cat "$tmp/out")" = "00006040" ]
result $? "show --raw to a pipe needs no --force"

# ---- compare --output never lands on the dumps; temp file + rename ----
mkdir "$tmp/ob" "$tmp/ot" "$tmp/rep"
cp "$pass/baseline/"*.pt "$tmp/ob/"
cp "$pass/target/"*.pt "$tmp/ot/"
cp "$tmp/ob/$f1" "$tmp/keep.pt"
refused() { # description output
	"$DUMPVIEW" compare --output "$2" "$tmp/ob" "$tmp/ot" > "$tmp/out" 2> "$tmp/err"
	rc=$?
	[ "$rc" = 2 ] && [ "$(wc -l < "$tmp/err")" = 1 ] && grep -q 'refusing' "$tmp/err" &&
		cmp -s "$tmp/ob/$f1" "$tmp/keep.pt" && [ "$(ls -A "$tmp/ob" | wc -l)" = 3 ] &&
		[ "$(ls -A "$tmp/ot" | wc -l)" = 3 ]
	result $? "--output $1: exit 2, one line, nothing written ($(cat "$tmp/err"))"
}
refused "an input file" "$tmp/ob/$f1"
refused "a new file inside the target run" "$tmp/ot/report.txt"
refused "spelled through .." "$tmp/rep/../ob/./r.txt"
ln -s ob "$tmp/oblink"
refused "through a symlinked folder" "$tmp/oblink/r.txt"
ln -s "ob/$f1" "$tmp/flink.pt"
refused "a symlink to an input" "$tmp/flink.pt"

"$DUMPVIEW" compare --output '' "$tmp/ob" "$tmp/ot" > "$tmp/out" 2> "$tmp/err"
[ $? = 2 ] && [ "$(wc -l < "$tmp/err")" = 1 ] && [ ! -s "$tmp/out" ]
result $? "--output '': exit 2, one line ($(cat "$tmp/err"))"

"$DUMPVIEW" compare "$tmp/ob" "$tmp/ot" > "$tmp/want" 2> /dev/null
"$DUMPVIEW" compare --output "$tmp/rep/r.txt" "$tmp/ob" "$tmp/ot" > "$tmp/out" 2> "$tmp/err"
[ $? = 0 ] && [ ! -s "$tmp/out" ] && cmp -s "$tmp/rep/r.txt" "$tmp/want" && [ "$(ls -A "$tmp/rep")" = r.txt ]
result $? "--output elsewhere: the report, and no temporary left"
long=$(printf '%0255d' 0)
"$DUMPVIEW" compare --output "$tmp/rep/$long" "$tmp/ob" "$tmp/ot" > "$tmp/out" 2> "$tmp/err"
[ $? = 0 ] && cmp -s "$tmp/rep/$long" "$tmp/want" && [ "$(ls -A "$tmp/rep" | wc -l)" = 2 ]
result $? "--output with a 255-byte name: the temporary name is shortened ($(cat "$tmp/err"))"

# interrupted just before the rename, or the rename failing: the old report
# stays and no temporary is left (strace injects the signal or the error)
echo old > "$tmp/rep/r.txt"
if strace -f -qq -o /dev/null -e trace=none true 2> /dev/null; then
	# LeakSanitizer cannot run under ptrace: off for these two runs only
	asan=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
	ASAN_OPTIONS=$asan strace -f -qq -o /dev/null -e trace=rename,renameat,renameat2 \
		-e inject=rename,renameat,renameat2:error=EINTR:signal=SIGTERM \
		"$DUMPVIEW" compare --output "$tmp/rep/r.txt" "$tmp/ob" "$tmp/ot" > "$tmp/out" 2> "$tmp/err"
	rc=$?
	[ "$rc" != 0 ] && [ "$(cat "$tmp/rep/r.txt")" = old ] && [ "$(ls -A "$tmp/rep" | wc -l)" = 2 ]
	result $? "SIGTERM before the rename: old report kept, temporary removed (rc $rc)"
	ASAN_OPTIONS=$asan strace -f -qq -o /dev/null -e trace=rename,renameat,renameat2 \
		-e inject=rename,renameat,renameat2:error=EACCES \
		"$DUMPVIEW" compare --output "$tmp/rep/r.txt" "$tmp/ob" "$tmp/ot" > "$tmp/out" 2> "$tmp/err"
	rc=$?
	[ "$rc" = 2 ] && [ "$(cat "$tmp/rep/r.txt")" = old ] && [ "$(ls -A "$tmp/rep" | wc -l)" = 2 ] &&
		[ "$(wc -l < "$tmp/err")" = 1 ]
	result $? "rename fails: exit 2, old report kept, temporary removed ($(cat "$tmp/err"))"
else
	n=$((n + 1)); echo "ok $n # SKIP strace cannot trace here"
	n=$((n + 1)); echo "ok $n # SKIP strace cannot trace here"
fi
# a dump that used to hang (a FIFO) no longer leaves a truncated report
rm "$tmp/fb/$f2"
mkfifo "$tmp/fb/$f2"
timeout "$T" "$DUMPVIEW" compare --output "$tmp/rep/r.txt" "$tmp/fb" "$tmp/ft" > "$tmp/out" 2> "$tmp/err"
rc=$?
[ "$rc" = 1 ] && grep -q '^Summary: 2 passed, 0 failed, 0 skipped, 1 errored' "$tmp/rep/r.txt"
result $? "--output with a FIFO among the dumps: complete report (rc $rc)"

# workers follow the CPUs the process may run on (taskset, a Slurm cpuset),
# not every CPU online: one CPU allowed, one scan worker fewer than with two
threads_with() { # CPU list: threads compare starts on examples/
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 taskset -c "$1" strace -f -qq -o "$tmp/clones" \
		-e trace=clone,clone3 "$DUMPVIEW" compare "$EXAMPLES/baseline" "$EXAMPLES/target" > /dev/null 2>&1
	grep -c clone "$tmp/clones"
}
cpu2=$(taskset -pc $$ 2> /dev/null | sed 's/.*: //' | tr ',-' '\n\n' | head -2 | tr '\n' ',' | sed 's/,$//')
if strace -f -qq -o /dev/null -e trace=none true 2> /dev/null && taskset -c 0 true 2> /dev/null &&
	[ "$(nproc)" -ge 2 ] && [ "$(echo "$cpu2" | tr ',' '\n' | sort -u | wc -l)" = 2 ]; then
	one=$(threads_with "${cpu2%%,*}"); two=$(threads_with "$cpu2")
	[ "$one" -ge 1 ] && [ "$two" = $((one + 1)) ]
	result $? "compare pinned to one CPU starts one worker fewer than on two ($one and $two threads)"
else
	n=$((n + 1)); echo "ok $n # SKIP strace or taskset missing, or fewer than 2 CPUs"
fi

# ---- documented ----
man="$TESTS_SRCDIR/../man/dumpview.1"
"$DUMPVIEW" show --help | grep -q -- '--force' && "$DUMPVIEW" --help | grep -q -- '--raw PATH \[--force\]' &&
	grep -q '^\.SH SECURITY$' "$man" && grep -q '^\.B \\-\\-force$' "$man" && grep -q 'surrogateescape' "$man" &&
	grep -q 'never prefixed' "$man"
result $? "--force in show --help, --help and the man page; the man page has SECURITY"

# ---- end ----
echo "1..$n"
