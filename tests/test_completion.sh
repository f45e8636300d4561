#!/bin/sh
# Shell completion (completion/): the bash script sourced into `bash --norc`
# and its function driven as readline would (COMP_WORDS, COMP_CWORD), the
# replies in COMPREPLY checked: commands, options, option values, folders
# for runs, .pt files for show; its option lists against each command's
# --help; `zsh -n` on the zsh script; `make install DESTDIR=...` puts both
# where configure said, and `make uninstall` takes them away.
: "${DUMPVIEW:?}" "${TESTS_SRCDIR:?}" "${TOP_BUILDDIR:?}"
if [ -z "${BASH_VERSION:-}" ]; then
	if ! command -v bash >/dev/null 2>&1; then
		echo "1..0 # SKIP bash not found"
		exit 0
	fi
	exec bash --norc "$0" "$@"
fi
set -u
src=$TESTS_SRCDIR/..
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dv-completion.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

n=0 fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

# A tree to complete in: runs (folders), .pt files, other files.
mkdir -p "$tmp/t/runA/x" "$tmp/t/runB" "$tmp/t/sub" "$tmp/base/tagrun"
touch "$tmp/t/a.pt" "$tmp/t/notes.txt" "$tmp/t/runA/y.pt" "$tmp/t/rules.txt" "$tmp/t/runA/z.txt"
export DUMPER_BASE_DIR=$tmp/nonexistent
cd "$tmp/t" || exit 1

if . "$src/completion/dumpview.bash" 2>"$tmp/err" && complete -p dumpview 2>/dev/null | grep -q -- '-F _dumpview'; then
	ok "completion/dumpview.bash sources in bash --norc and registers _dumpview"
else
	notok "completion/dumpview.bash sources in bash --norc and registers _dumpview" "$(cat "$tmp/err")"
	echo "1..$n"
	exit 0
fi

# complete WORD...: the last word is the one being completed; the replies,
# sorted, one line, in $got.
complete_words() {
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_dumpview
	got=$(printf '%s\n' "${COMPREPLY[@]}" | LC_ALL=C sort | tr '\n' ' ')
	got=${got% }
}
# expect "EXPECTED (sorted, space separated)" WORD...
expect() {
	local want=$1
	shift
	complete_words "$@"
	if [ "$got" = "$want" ]; then
		ok "dumpview ${*:2}<TAB>: $want"
	else
		notok "dumpview ${*:2}<TAB>: $want" "got: $got"
	fi
}
# has "WORD..." WORDS...: each of the first argument's words is offered
has() {
	local want=$1 w missing=
	shift
	complete_words "$@"
	for w in $want; do
		case " $got " in *" $w "*) ;; *) missing="$missing $w" ;; esac
	done
	if [ -z "$missing" ]; then
		ok "dumpview ${*:2}<TAB> offers $want"
	else
		notok "dumpview ${*:2}<TAB> offers $want" "missing:$missing" "got: $got"
	fi
}

# Commands (and folders: the explorer's BASELINE).
has "compare info show" dumpview ""
expect "compare" dumpview co
expect "info" dumpview i
expect "runA runB" dumpview r

# Options, per command.
expect "--preset" dumpview compare --pre
expect "--preset" dumpview --pre
expect "--format" dumpview info --form
expect "--values" dumpview show --va
expect "--no-color --no-scan" dumpview --no
expect "--token-aligner" dumpview compare --tok
has "--phase --format --output --quiet --rules --name-map-file --help" dumpview compare --

# Option values.
expect "raw sglang_dev sglang_megatron" dumpview compare --preset ""
expect "sglang_dev sglang_megatron" dumpview --preset sg
expect "raw" dumpview compare runA --preset r
expect "csv jsonl sglang-jsonl text" dumpview compare --format ""
expect "jsonl text" dumpview info --format ""
expect "jsonl" dumpview info --format j
expect "concat_steps none smart" dumpview compare --token-aligner ""
expect "smart" dumpview --token-aligner s
expect "--format=csv" dumpview compare --format=c
expect "jsonl" dumpview compare --format = j
expect "--preset=raw" dumpview --preset=r
# values of free-form options: nothing to offer (not the runs)
expect "" dumpview compare --diff-threshold ""
expect "" dumpview show --values ""

# Runs: folders only, never files; tags under $DUMPER_BASE_DIR as well.
expect "runA runB sub" dumpview compare ""
expect "runA runB sub" dumpview compare runA ""
expect "runA runB sub" dumpview info --format jsonl ""
expect "runA/x" dumpview compare runA/
expect "runA runB sub" dumpview --no-scan ""
expect "runA runB sub" dumpview runA ""
DUMPER_BASE_DIR=$tmp/base expect "runA runB sub tagrun" dumpview compare ""
DUMPER_BASE_DIR=$tmp/base expect "tagrun" dumpview compare runA t

# show: .pt files (and folders to reach them).
expect "a.pt runA runB sub" dumpview show ""
expect "runA/x runA/y.pt" dumpview show runA/
# Files for --rules, --output, --name-map-file.
expect "rules.txt runA runB" dumpview compare --rules r
expect "notes.txt" dumpview compare --output n
expect "rules.txt runA runB" dumpview --name-map-file r
expect "--name-map-file=rules.txt --name-map-file=runA --name-map-file=runB" dumpview compare --name-map-file=r
# after --, options are operands
expect "" dumpview compare -- --

# The lists against the getopt tables (src/cmd_*.c, with the shared
# entries of include/dumpview/grouping_args.h) and each command's --help:
# every option either names is offered (an option added without its
# completion fails here), and every option offered is one of them
# (--name-map and --name-map-file may not have landed yet).
opts_of() {  # options offered for: dumpview $1 --
	if [ -n "$1" ]; then complete_words dumpview "$1" --; else complete_words dumpview --; fi
	echo "$got"
}
help_opts() {
	grep -o -- '--[a-z][a-z-]*' | sort -u | tr '\n' ' '
}
entries() {  # the long option names of getopt_long entries on stdin
	sed -n 's/.*{ *"\([a-z][a-z-]*\)", *\(required\|no\|optional\)_argument.*/--\1/p'
}
macro_opts() {  # the options of grouping_args.h's macro $1, nested macros too
	local body n
	body=$(awk -v m="$1" '$1 == "#define" && $2 == m { on = 1 } on { print } on && !/\\$/ { on = 0 }' \
		"$src/include/dumpview/grouping_args.h")
	printf '%s\n' "$body" | entries
	for n in $(printf '%s\n' "$body" | sed 1d | grep -o 'DV_[A-Z_]*_LONGOPTS' | sort -u); do
		[ "$n" != "$1" ] && macro_opts "$n"
	done
}
table_opts() {  # the long options of src/$1's getopt table, with those of
	# the DV_*_LONGOPTS macros (grouping_args.h) it uses
	local m
	{
		entries <"$src/src/$1"
		for m in $(grep -o 'DV_[A-Z_]*_LONGOPTS' "$src/src/$1" | sort -u); do
			macro_opts "$m"
		done
	} | sort -u | tr '\n' ' '
}
check_opts() {  # check_opts NAME OFFERED KNOWN...
	local name=$1 offered=$2 known o missing= extra=
	shift 2
	known=" $(printf '%s\n' $* | sort -u | tr '\n' ' ')"
	for o in $known; do
		case " $offered " in *" $o "*) ;; *) missing="$missing $o" ;; esac
	done
	for o in $offered; do
		case $o in --name-map | --name-map-file) continue ;; esac
		case $known in *" $o "*) ;; *) extra="$extra $o" ;; esac
	done
	if [ -z "$missing$extra" ]; then
		ok "$name: the options offered are those of its getopt table and --help"
	else
		notok "$name: the options offered are those of its getopt table and --help" \
			"in the table or --help, not offered:${missing:- none}" \
			"offered, in neither:${extra:- none}"
	fi
}
for c in compare info show; do
	"$DUMPVIEW" $c --help >"$tmp/help" 2>&1
	check_opts "dumpview $c" "$(opts_of $c)" "$(help_opts <"$tmp/help")" "$(table_opts cmd_$c.c)"
done
# The explorer: its section of dumpview --help, its table, and --version
# (src/main.c).
"$DUMPVIEW" --help 2>&1 | sed -n '/^Explorer options:/,$p' >"$tmp/help"
check_opts "dumpview (explorer)" "$(opts_of "")" "$(help_opts <"$tmp/help")" "$(table_opts cmd_tui.c)" --version
# The commands the usage names.
cmds=$("$DUMPVIEW" --help 2>&1 | sed -n 's/^ *\(usage: \)\{0,1\}dumpview \([a-z][a-z]*\).*/\2/p' | sort -u | tr '\n' ' ')
complete_words dumpview ""
missing=
for c in $cmds; do
	case " $got " in *" $c "*) ;; *) missing="$missing $c" ;; esac
done
if [ -n "$cmds" ] && [ -z "$missing" ]; then
	ok "every command in dumpview --help is offered ($cmds)"
else
	notok "every command in dumpview --help is offered ($cmds)" "missing:$missing"
fi

# zsh: the script parses.
if command -v zsh >/dev/null 2>&1; then
	if zsh -n "$src/completion/_dumpview" 2>"$tmp/err"; then
		ok "zsh -n completion/_dumpview"
	else
		notok "zsh -n completion/_dumpview" "$(cat "$tmp/err")"
	fi
	if zsh -n "$src/completion/dumpview.bash" 2>/dev/null || bash -n "$src/completion/dumpview.bash"; then
		ok "bash -n completion/dumpview.bash"
	else
		notok "bash -n completion/dumpview.bash"
	fi
else
	skip "zsh -n completion/_dumpview" "zsh not installed"
	if bash -n "$src/completion/dumpview.bash"; then ok "bash -n completion/dumpview.bash"; else notok "bash -n completion/dumpview.bash"; fi
fi

# make install DESTDIR=...: both files where configure said. The folders
# come from the build tree's Makefile, expanded by make itself.
cd "$TOP_BUILDDIR" || exit 1
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s "$@"; }
var() { printf 'print-var:\n\t@echo $(%s)\n' "$1" | mk -f Makefile -f - print-var 2>/dev/null; }
bcdir=$(var bashcompletiondir) zcdir=$(var zshcompletiondir)
dest=$tmp/dest
if mk install DESTDIR="$dest" >"$tmp/out" 2>&1; then
	ok "make install DESTDIR=..."
else
	notok "make install DESTDIR=..." "$(tail -5 "$tmp/out")"
fi
installed() {  # installed NAME DIR FILE SOURCE
	if [ -z "$2" ]; then
		skip "make install puts the $1 completion in place" "configured with --with-$1-completion-dir=no"
	elif [ -f "$dest$2/$3" ] && cmp -s "$dest$2/$3" "$4"; then
		ok "make install puts the $1 completion in $2/$3"
	else
		notok "make install puts the $1 completion in $2/$3" "$(cd "$dest" && find . -type f)"
	fi
}
installed bash "$bcdir" dumpview "$src/completion/dumpview.bash"
installed zsh "$zcdir" _dumpview "$src/completion/_dumpview"
mk uninstall DESTDIR="$dest" >"$tmp/out" 2>&1
left=$(cd "$dest" 2>/dev/null && find . -type f)
if [ -z "$left" ]; then
	ok "make uninstall DESTDIR=... removes them"
else
	notok "make uninstall DESTDIR=... removes them" "left: $left"
fi

echo "1..$n"
[ "$fails" -eq 0 ] || exit 1
exit 0
