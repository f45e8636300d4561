# Sourced by the layering tests: reads the call graph of one folder's
# objects from their symbol tables (an edge A -> B when A's object uses a
# symbol B's object defines) and sets up TAP checks.
# Before sourcing: dir (the build folder of the objects), prefix (the
# automake object-name prefix, e.g. libdumpview_a-). Afterwards: $tmp (a
# scratch folder removed on exit) holds defs, uses and edges ("A.c B.c"
# lines); check DESCRIPTION STATUS [DETAIL FILE] prints one TAP line.
# Exits with a TAP skip when the objects or nm are missing.
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
	b=${b#"$prefix"}.c
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
