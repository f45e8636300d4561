#!/bin/sh
# The modules of src/tui call each other one way only. The call graph is
# read from the built objects' symbol tables (an edge A -> B when A's object
# uses a symbol B's object defines) and checked: no cycle; app.c, the event
# loop at the top, may call anything, and nothing calls up into it; tree.c,
# the model, calls no other module and no curses function. TAP output;
# skipped when the objects or nm are missing.
: "${TOP_BUILDDIR:?TOP_BUILDDIR must name the build tree}"
dir=$TOP_BUILDDIR/src/tui
NM=${NM:-nm}

objs=$(ls "$dir"/*.o 2>/dev/null)
if [ -z "$objs" ]; then
	echo "1..0 # SKIP no objects in $dir"
	exit 0
fi
if ! command -v "$NM" >/dev/null 2>&1; then
	echo "1..0 # SKIP no $NM"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/defs"
: >"$tmp/uses"
for o in $objs; do
	b=$(basename "$o" .o)
	b=${b#libdumpview_tui_a-}.c
	"$NM" -g --defined-only "$o" | awk -v f="$b" 'NF == 3 { print $3, f }' >>"$tmp/defs"
	"$NM" -u "$o" | awk -v f="$b" 'NF { print $NF, f }' >>"$tmp/uses"
done
awk 'NR == FNR { def[$1] = $2; next } ($1 in def) && def[$1] != $2 { print $2, def[$1] }' \
	"$tmp/defs" "$tmp/uses" | sort -u >"$tmp/edges"

n=0 failed=0
check() { # check DESCRIPTION STATUS [DETAIL FILE]
	n=$((n + 1))
	if [ "$2" = 0 ]; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1"
		failed=1
		[ -n "${3:-}" ] && sed 's/^/# /' "$3"
	fi
}

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
