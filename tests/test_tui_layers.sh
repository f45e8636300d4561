#!/bin/sh
# The modules of src/tui call each other one way only. The call graph is
# read from the built objects' symbol tables (an edge A -> B when A's object
# uses a symbol B's object defines) and checked: no cycle; app.c, the event
# loop at the top, may call anything, and nothing calls up into it; tree.c,
# the model, calls no other module and no curses function. TAP output;
# skipped when the objects or nm are missing.
: "${TOP_BUILDDIR:?TOP_BUILDDIR must name the build tree}"
dir=$TOP_BUILDDIR/src/tui
prefix=libdumpview_tui_a-
. "${TESTS_SRCDIR:?}/callgraph.sh"

# The curses libraries the program links, for their symbols.
: >"$tmp/curses"
if command -v ldd >/dev/null 2>&1 && [ -x "$TOP_BUILDDIR/src/dumpview" ]; then
	for lib in $(ldd "$TOP_BUILDDIR/src/dumpview" 2>/dev/null | awk '/curses|tinfo/ { print $3 }'); do
		"$NM" -D --defined-only "$lib" 2>/dev/null | awk 'NF == 3 { sub(/@.*/, "", $3); print $3 }' >>"$tmp/curses"
	done
fi

echo "1..5"
[ -s "$tmp/edges" ]
check "the call graph of src/tui has edges ($(wc -l <"$tmp/edges") module pairs)" $?
tsort "$tmp/edges" >/dev/null 2>"$tmp/loop"
st=$?
cat "$tmp/edges" >>"$tmp/loop"
check "no call cycle among the modules of src/tui" $st "$tmp/loop"
grep ' app\.c$' "$tmp/edges" >"$tmp/up"
[ ! -s "$tmp/up" ]
check "nothing calls up into app.c" $? "$tmp/up"
grep '^tree\.c ' "$tmp/edges" >"$tmp/up"
[ ! -s "$tmp/up" ]
check "tree.c calls no other module of src/tui" $? "$tmp/up"
if [ -s "$tmp/curses" ]; then
	"$NM" -u "$dir"/libdumpview_tui_a-tree.o | awk 'NF { sub(/@.*/, "", $NF); print $NF }' | sort -u >"$tmp/tree_uses"
	sort -u "$tmp/curses" | comm -12 - "$tmp/tree_uses" >"$tmp/up"
	[ ! -s "$tmp/up" ]
	check "tree.c uses no curses symbol" $? "$tmp/up"
else
	echo "ok $n - tree.c uses no curses symbol # SKIP no curses library found through ldd"
	n=$((n + 1))
fi
exit $failed
