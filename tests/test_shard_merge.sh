#!/bin/sh
# compare --shard K/N and merge: for N = 1, 2, 3, 7 the merged parts are
# byte-identical to the unsharded jsonl report, with the same exit status,
# on examples/ and the fixtures; the slices are disjoint and cover every
# pair; merge refuses missing, duplicated and foreign parts (exit 2).
: "${DUMPVIEW:?}" "${FIXTURES:?}" "${EXAMPLES:?}"
set -u
T=$(mktemp -d) || exit 99
trap 'rm -rf "$T"' EXIT
fail=0
n_ok=0

# case NAME [OPTIONS...] BASELINE TARGET
check() {
	name=$1
	shift
	"$DUMPVIEW" compare --format jsonl "$@" >"$T/full.jsonl" 2>/dev/null
	frc=$?
	if [ "$frc" -gt 1 ]; then
		echo "# FAIL $name: compare exited $frc"
		fail=1
		return
	fi
	for n in 1 2 3 7; do
		parts=
		k=1
		while [ "$k" -le "$n" ]; do
			"$DUMPVIEW" compare --format jsonl --shard "$k/$n" "$@" >"$T/part$k.jsonl" 2>/dev/null
			if [ $? -gt 1 ]; then
				echo "# FAIL $name: compare --shard $k/$n failed"
				fail=1
			fi
			parts="$parts $T/part$k.jsonl"
			k=$((k + 1))
		done
		# the parts in any order
		# shellcheck disable=SC2086
		"$DUMPVIEW" merge $(printf '%s\n' $parts | sort -r) >"$T/merged.jsonl"
		mrc=$?
		if ! cmp -s "$T/full.jsonl" "$T/merged.jsonl"; then
			echo "# FAIL $name N=$n: merged report differs from the unsharded one"
			diff "$T/full.jsonl" "$T/merged.jsonl" | head -5 | sed "s/^/# /"
			fail=1
		elif [ "$mrc" != "$frc" ]; then
			echo "# FAIL $name N=$n: merge exited $mrc, compare $frc"
			fail=1
		else
			n_ok=$((n_ok + 1))
		fi
	done
}

check examples "$EXAMPLES/baseline" "$EXAMPLES/target"
check edge --preset raw "$FIXTURES/compare/edge/baseline" "$FIXTURES/compare/edge/target"
check pass "$FIXTURES/compare/pass/baseline" "$FIXTURES/compare/pass/target"
check xtopo-mixed "$FIXTURES/xtopo/mixed/baseline" "$FIXTURES/xtopo/mixed/target"
check xtopo-replicated "$FIXTURES/xtopo/replicated_fail/baseline" "$FIXTURES/xtopo/replicated_fail/target"
check tokalign-thd --token-aligner smart "$FIXTURES/tokalign/thd/baseline" "$FIXTURES/tokalign/thd/target"
check rules --rule 'mlp.*=rel <= 0.1' --allow-failed-pattern 'attn.*|grad__.*' \
	"$EXAMPLES/baseline" "$EXAMPLES/target"

B="$EXAMPLES/baseline"
G="$EXAMPLES/target"
for k in 1 2 3; do
	"$DUMPVIEW" compare --format jsonl --shard "$k/3" "$B" "$G" >"$T/s$k.jsonl" 2>/dev/null
done
"$DUMPVIEW" compare --format jsonl --shard 1/2 "$B" "$G" >"$T/other.jsonl" 2>/dev/null
"$DUMPVIEW" compare --format jsonl --shard 2/3 --diff-threshold 0.5 "$B" "$G" >"$T/opt.jsonl" 2>/dev/null

# refused: exit 2 and one line on stderr
refuse() {
	what=$1
	shift
	"$DUMPVIEW" merge "$@" >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" != 2 ] || [ "$(wc -l <"$T/err")" != 1 ] || [ -s "$T/out" ]; then
		echo "# FAIL merge $what: exit $rc, stderr:"
		sed "s/^/# /" "$T/err"
		fail=1
	fi
}
refuse "a missing shard" "$T/s1.jsonl" "$T/s3.jsonl"
refuse "a shard twice" "$T/s1.jsonl" "$T/s2.jsonl" "$T/s2.jsonl" "$T/s3.jsonl"
refuse "another N" "$T/s1.jsonl" "$T/s2.jsonl" "$T/other.jsonl"
refuse "other options" "$T/s1.jsonl" "$T/opt.jsonl" "$T/s3.jsonl"
refuse "an unsharded report" "$T/full.jsonl"
head -n 3 "$T/s2.jsonl" >"$T/cut.jsonl"
refuse "a part cut short" "$T/s1.jsonl" "$T/cut.jsonl" "$T/s3.jsonl"
"$DUMPVIEW" merge >/dev/null 2>&1
[ $? = 2 ] || { echo "# FAIL merge with no parts: not a usage error"; fail=1; }

# the slices are disjoint and cover every pair: the indices of records
python3 - "$T" <<'PY' || fail=1
import json, sys
t = sys.argv[1]
seen = []
for k in (1, 2, 3):
    for line in open(f"{t}/s{k}.jsonl"):
        r = json.loads(line)
        if r["type"] == "summary":
            n = r["shard"]["pairs"]
            assert r["diagnosis"] is None
        elif r["type"] != "error":
            seen.append(r["index"])
assert sorted(seen) == list(range(n)), "slices overlap or miss pairs"
PY

# bad --shard values and formats
for bad in 0/3 4/3 3 1/0 a/b 1/2x; do
	"$DUMPVIEW" compare --shard "$bad" "$B" "$G" >/dev/null 2>&1
	if [ $? != 2 ]; then
		echo "# FAIL compare --shard $bad: not a usage error"
		fail=1
	fi
done
"$DUMPVIEW" compare --shard 1/2 --format sglang-jsonl "$B" "$G" >/dev/null 2>&1
[ $? = 2 ] || { echo "# FAIL --shard with sglang-jsonl accepted"; fail=1; }
# text prints the slice: fewer pairs than the whole
whole=$("$DUMPVIEW" compare --format csv "$B" "$G" 2>/dev/null | wc -l)
half=$("$DUMPVIEW" compare --format csv --shard 1/2 "$B" "$G" 2>/dev/null | wc -l)
[ "$half" -lt "$whole" ] && [ "$half" -gt 1 ] || { echo "# FAIL csv --shard 1/2: $half of $whole lines"; fail=1; }

# TAP: one test, the failures above as diagnostics
echo "1..1"
if [ "$fail" = 0 ] && [ "$n_ok" = 28 ]; then
	echo "ok 1 - shard/merge: $n_ok merged reports identical, refusals and slices as expected"
else
	echo "not ok 1 - shard/merge ($n_ok of 28 merged reports identical)"
fi
exit 0
