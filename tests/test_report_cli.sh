#!/bin/sh
# dumpview --report: usage errors and bad reports end before the terminal
# starts, with one message naming FILE:LINE and exit 2.
: "${DUMPVIEW:?}" "${EXAMPLES:?}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dv-report-cli.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
result() { # ok? description
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}
echo "1..9"
cd "$tmp" || exit 1
ln -s "$EXAMPLES/baseline" baseline
ln -s "$EXAMPLES/target" target
"$DUMPVIEW" compare --format jsonl --output r.jsonl baseline target >/dev/null 2>&1

exit2() { # description pattern args...
	what=$1 pattern=$2
	shift 2
	"$DUMPVIEW" "$@" </dev/null >out 2>err
	rc=$?
	[ "$rc" = 2 ] && grep -q -- "$pattern" err
	result $? "$what (exit $rc: $(head -c 200 err))"
}

head -c 100 r.jsonl >cut.jsonl
exit2 "a line cut short" '^dumpview: --report: cut.jsonl:1: not JSON: ' --report cut.jsonl
head -n 3 r.jsonl >nosummary.jsonl
exit2 "no summary" 'nosummary.jsonl:3: no summary record' --report nosummary.jsonl
sed '2s/"passed":[a-z]*/"passed":"yes"/' r.jsonl >types.jsonl
exit2 "a field of the wrong type" "types.jsonl:2: 'passed' is not true or false" --report types.jsonl
sed '$s/"failed":[0-9]*/"failed":0/' r.jsonl >counts.jsonl
exit2 "a summary that disagrees" 'counts.jsonl:[0-9]*: the summary counts' --report counts.jsonl
exit2 "a missing file" 'nothere.jsonl: No such file' --report nothere.jsonl
exit2 "runs that are not the report's" "not the report's baseline run" --report r.jsonl "$tmp" target
exit2 "one run only" 'expected no runs or BASELINE and TARGET' --report r.jsonl baseline
exit2 "--filter with --report" '--filter would pair again' --report r.jsonl --filter attn
"$DUMPVIEW" --help >out 2>&1
grep -q -- '--report FILE.jsonl' out
result $? "--help names --report"
