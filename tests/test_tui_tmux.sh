#!/bin/sh
# The real binary on a real terminal: dumpview inside tmux (send-keys,
# capture-pane). The first screen marks the first divergence, / searches,
# Enter shows the detail with histogram and heat map, resizing relayouts, and
# the terminal is restored on q, SIGTERM and SIGHUP. Skipped without tmux.
: "${DUMPVIEW:?}" "${EXAMPLES:?}"
if ! command -v tmux >/dev/null 2>&1; then
	echo "1..0 # SKIP tmux is not installed"
	exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dv-tmux.XXXXXX") || exit 1
sock=dv-test-$$
tmx() { tmux -L "$sock" -f /dev/null "$@"; }
trap 'tmx kill-server >/dev/null 2>&1; rm -rf "$tmp"' EXIT
ln -s "$EXAMPLES/baseline" "$tmp/baseline"
ln -s "$EXAMPLES/target" "$tmp/target"

n=0
check() { # check DESCRIPTION COMMAND...
	what=$1
	shift
	n=$((n + 1))
	if "$@"; then echo "ok $n - $what"; else echo "not ok $n - $what"; fi
}
# wait_for PATTERN [SESSION]: polls the pane (up to 20 s) for a fixed string.
wait_for() {
	i=0
	while [ $i -lt 200 ]; do
		tmx capture-pane -p -t "${2:-dv}" >"$tmp/pane" 2>/dev/null
		grep -qF -- "$1" "$tmp/pane" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	sed 's/^/# /' "$tmp/pane"
	return 1
}
# wait_file FILE: the pane's shell writes it after dumpview exits.
wait_file() {
	i=0
	while [ $i -lt 200 ]; do
		[ -s "$1" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
# The pane runs dumpview, then records its exit status and the tty modes.
start() { # start SESSION COLS ROWS
	tmx new-session -d -s "$1" -x "$2" -y "$3" \
		"cd '$tmp' && LC_ALL=C.UTF-8 TERM=xterm-256color '$DUMPVIEW' baseline target 2>'$tmp/$1.err'; echo \$? >'$tmp/$1.rc'; stty -a >'$tmp/$1.stty'; sleep 60"
}
dv_pid() { # the dumpview process of a session
	shell=$(tmx list-panes -t "$1" -F '#{pane_pid}')
	ps -o pid= --ppid "$shell" 2>/dev/null | tr -d ' ' | head -1
}
tty_sane() { # canonical mode and echo are back on
	grep -q -- ' icanon' "$1" && grep -q -- ' echo ' "$1" && ! grep -q -- '-icanon' "$1" && ! grep -q -- '-echo ' "$1"
}

echo "1..16"
start dv 160 48
check "first screen marks the first divergence" wait_for "» first divergence"
check "first divergence named in the title" wait_for "first divergence: inference / layer 2 / mlp_output"
tmx send-keys -t dv / attn_q Enter
check "/ searches by regex" wait_for "/attn_q/"
check "search selected a match" wait_for "inference / layer 3 / attn_q"
tmx send-keys -t dv Enter
check "Enter shows the |t-b| histogram" wait_for "log10 buckets"
check "Enter shows the heat map" wait_for "heat map"
check "heat map has a legend" wait_for "legend:"
tmx resize-window -t dv -x 70 -y 14 2>/dev/null || tmx resize-pane -t dv -x 70 -y 14
check "below 60x15: terminal too small" wait_for "terminal too small"
tmx resize-window -t dv -x 100 -y 30 2>/dev/null || tmx resize-pane -t dv -x 100 -y 30
check "resize back: relayout" wait_for "detail: inference / layer 3 / attn_q"
tmx send-keys -t dv q
wait_file "$tmp/dv.stty"
check "q quits with status 0" [ "$(cat "$tmp/dv.rc" 2>/dev/null)" = 0 ]
check "terminal restored after q" tty_sane "$tmp/dv.stty"

start term 100 30
wait_for "first divergence:" term >/dev/null
pid=$(dv_pid term)
[ -n "$pid" ] && kill -TERM "$pid"
wait_file "$tmp/term.stty"
check "SIGTERM: exits with 128+15" [ "$(cat "$tmp/term.rc" 2>/dev/null)" = 143 ]
check "SIGTERM: terminal restored" tty_sane "$tmp/term.stty"

start hup 100 30
wait_for "first divergence:" hup >/dev/null
pid=$(dv_pid hup)
[ -n "$pid" ] && kill -HUP "$pid"
wait_file "$tmp/hup.stty"
check "SIGHUP: exits with 128+1" [ "$(cat "$tmp/hup.rc" 2>/dev/null)" = 129 ]

# The terminal goes away: killing the tmux session closes the pty.
start gone 100 30
wait_for "first divergence:" gone >/dev/null
pid=$(dv_pid gone)
tmx kill-session -t gone
i=0
while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
check "terminal gone: dumpview exits" sh -c "[ -n '$pid' ] && ! kill -0 '$pid' 2>/dev/null"

start sigint 100 30
wait_for "first divergence:" sigint >/dev/null
pid=$(dv_pid sigint)
[ -n "$pid" ] && kill -INT "$pid"
wait_file "$tmp/sigint.stty"
check "SIGINT: exits with 128+2" [ "$(cat "$tmp/sigint.rc" 2>/dev/null)" = 130 ]
