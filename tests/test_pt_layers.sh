#!/bin/sh
# The files of src/pt call each other one way only. The call graph is read
# from the built objects' symbol tables (an edge A -> B when A's object uses
# a symbol B's object defines) and checked: no cycle; records.c, the bottom
# layer, uses nothing else in src/pt; the unpickler uses only the object
# arena and dtypes. TAP output; skipped when the objects or nm are missing.
: "${TOP_BUILDDIR:?TOP_BUILDDIR must name the build tree}"
dir=$TOP_BUILDDIR/src/pt
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
	b=${b#libdumpview_a-}.c
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

echo "1..4"
[ -s "$tmp/edges" ]
check "the call graph of src/pt has edges ($(wc -l <"$tmp/edges") file pairs)" $?
tsort "$tmp/edges" >/dev/null 2>"$tmp/loop"
st=$?
cat "$tmp/edges" >>"$tmp/loop"
check "no call cycle among the files of src/pt" $st "$tmp/loop"
grep '^records\.c ' "$tmp/edges" >"$tmp/up"
[ ! -s "$tmp/up" ]
check "records.c calls nothing else in src/pt" $? "$tmp/up"
grep '^pickle\.c ' "$tmp/edges" | grep -v ' \(object\|dtype\)\.c$' >"$tmp/up"
[ ! -s "$tmp/up" ]
check "pickle.c calls only object.c and dtype.c" $? "$tmp/up"
exit $failed
