#!/bin/sh
# man/dumpview.1's KEYS section is what `dumpview --print-keys` prints from
# the explorer's action table (src/tui/actions.def), byte for byte: a key or
# a text changed on one side only fails here, with the difference.
# DUMPVIEW_UPDATE_MAN=1 rewrites the section from the table instead.
: "${DUMPVIEW:?}" "${TESTS_SRCDIR:?}"
man=$TESTS_SRCDIR/../man/dumpview.1
begin='.\" BEGIN GENERATED KEYS'
end='.\" END GENERATED KEYS'
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dv-man-keys.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

echo "1..4"
if "$DUMPVIEW" --print-keys >"$tmp/table" 2>"$tmp/err"; then
	echo "ok 1 - dumpview --print-keys"
else
	echo "not ok 1 - dumpview --print-keys: $(cat "$tmp/err")"
fi
if grep -q '^\.SH KEYS$' "$tmp/table" && grep -q '^\.TP$' "$tmp/table"; then
	echo "ok 2 - it prints a KEYS section with entries"
else
	echo "not ok 2 - it prints a KEYS section with entries"
fi

# The lines strictly between the markers; each marker exactly once.
nb=$(grep -cxF "$begin" "$man")
ne=$(grep -cxF "$end" "$man")
if [ "$nb" = 1 ] && [ "$ne" = 1 ]; then
	echo "ok 3 - man/dumpview.1 marks the generated section once"
else
	echo "not ok 3 - man/dumpview.1 needs one '$begin' and one '$end' line (has $nb and $ne)"
	echo "not ok 4 - man/dumpview.1's KEYS section is the table's # SKIP no markers"
	exit 0
fi
# (The markers reach awk through the environment: -v would take \" as ".)
export begin end
awk '$0 == ENVIRON["end"] { on = 0 } on { print } $0 == ENVIRON["begin"] { on = 1 }' "$man" >"$tmp/man"

if [ -n "${DUMPVIEW_UPDATE_MAN:-}" ]; then
	awk -v t="$tmp/table" '
		$0 == ENVIRON["end"] { on = 0 }
		!on { print }
		$0 == ENVIRON["begin"] { on = 1; while ((getline l < t) > 0) print l }' "$man" >"$tmp/new" &&
		cat "$tmp/new" >"$man"
	echo "ok 4 - man/dumpview.1's KEYS section rewritten from the table"
elif cmp -s "$tmp/table" "$tmp/man"; then
	echo "ok 4 - man/dumpview.1's KEYS section is the table's"
else
	echo "not ok 4 - man/dumpview.1's KEYS section differs from dumpview --print-keys (src/tui/actions.def);"
	echo "# edit the table, then DUMPVIEW_UPDATE_MAN=1 make check TESTS=tests/test_man_keys.sh"
	diff -u "$tmp/man" "$tmp/table" | sed 's/^/# /'
fi
