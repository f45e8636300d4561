#!/bin/sh
# The files of src/pt call each other one way only. The call graph is read
# from the built objects' symbol tables (an edge A -> B when A's object uses
# a symbol B's object defines) and checked: no cycle; records.c, the bottom
# layer, uses nothing else in src/pt; the unpickler uses only the object
# arena and dtypes. TAP output; skipped when the objects or nm are missing.
: "${TOP_BUILDDIR:?TOP_BUILDDIR must name the build tree}"
dir=$TOP_BUILDDIR/src/pt
prefix=libdumpview_a-
. "${TESTS_SRCDIR:?}/callgraph.sh"

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
