#!/bin/sh
# The real binary on a real terminal: dumpview inside tmux (send-keys,
# capture-pane). The first screen marks the first divergence, / searches,
# Enter shows the detail with histogram and heat map, resizing relayouts, and
# the terminal is restored on q, SIGTERM and SIGHUP, within a second even
# while workers are stuck in a read. Skipped without tmux.
: "${DUMPVIEW:?}" "${EXAMPLES:?}" "${FIXTURES:?}"
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

echo "1..48"
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

# Always quittable: with every compute stuck for good (DUMPVIEW_TEST_STUCK
# blocks them as a read from a hung file system would), q, Ctrl-C, SIGTERM,
# SIGHUP and a vanished terminal still end dumpview within about a second,
# with the terminal restored.
start_stuck() { # start_stuck SESSION [OPTIONS]
	tmx new-session -d -s "$1" -x 100 -y 30 \
		"cd '$tmp' && DUMPVIEW_TEST_STUCK=1 LC_ALL=C.UTF-8 TERM=xterm-256color '$DUMPVIEW' $2 baseline target 2>'$tmp/$1.err'; echo \$? >'$tmp/$1.rc'; stty -a >'$tmp/$1.stty'; sleep 60"
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# gone_within MS FILE: FILE (written once dumpview has exited) shows up in time.
gone_within() {
	deadline=$(($(now_ms) + $1))
	while [ "$(now_ms)" -lt "$deadline" ]; do
		[ -s "$2" ] && return 0
		sleep 0.02
	done
	return 1
}
# The exit must not wait for stuck workers: 1 s for dumpview, plus slack
# for the pane's shell to record it on a loaded machine.
LIMIT=1500
for how in q C-c TERM HUP; do
	s=stuck-$how
	start_stuck "$s"
	wait_for "scan 0/180" "$s" >/dev/null
	sleep 0.3 # the scan workers and the job thread are blocked by now
	check "stuck workers ($how): nothing computed" wait_for "scan 0/180" "$s"
	case $how in
	q | C-c) tmx send-keys -t "$s" "$how" ;;
	*) pid=$(dv_pid "$s"); [ -n "$pid" ] && kill -"$how" "$pid" ;;
	esac
	check "stuck workers: $how ends dumpview within a second" gone_within $LIMIT "$tmp/$s.rc"
	wait_file "$tmp/$s.stty"
	check "stuck workers: terminal restored after $how" tty_sane "$tmp/$s.stty"
done
check "stuck workers: q exits 0" [ "$(cat "$tmp/stuck-q.rc" 2>/dev/null)" = 0 ]
check "stuck workers: Ctrl-C exits 128+2" [ "$(cat "$tmp/stuck-C-c.rc" 2>/dev/null)" = 130 ]
check "stuck workers: SIGTERM exits 128+15" [ "$(cat "$tmp/stuck-TERM.rc" 2>/dev/null)" = 143 ]
check "stuck workers: SIGHUP exits 128+1" [ "$(cat "$tmp/stuck-HUP.rc" 2>/dev/null)" = 129 ]

start_stuck stuck-gone
wait_for "scan 0/180" stuck-gone >/dev/null
pid=$(dv_pid stuck-gone)
tmx kill-session -t stuck-gone
# tmux itself takes up to about 1.5 s to hang up the pane's terminal.
deadline=$(($(now_ms) + LIMIT + 2000))
while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(now_ms)" -lt "$deadline" ]; do
	sleep 0.02
done
check "stuck workers: terminal gone, dumpview exits (within a second of the hangup)" sh -c "[ -n '$pid' ] && ! kill -0 '$pid' 2>/dev/null"

# A file replaced by a FIFO after the listing: its compute blocks opening
# it (or fails, where opens do not block); q still quits at once.
mkdir -p "$tmp/fifo/baseline/inference" "$tmp/fifo/target/inference"
f=inference/step=0___rank=0___dump_index=1___name=x___layer_id=0.pt
cp "$FIXTURES/pt-corpus/dtype_float32.pt" "$tmp/fifo/baseline/$f"
cp "$FIXTURES/pt-corpus/dtype_float32.pt" "$tmp/fifo/target/$f"
tmx new-session -d -s fifo -x 100 -y 30 \
	"cd '$tmp/fifo' && LC_ALL=C.UTF-8 TERM=xterm-256color '$DUMPVIEW' --no-scan baseline target 2>'$tmp/fifo.err'; echo \$? >'$tmp/fifo.rc'; stty -a >'$tmp/fifo.stty'; sleep 60"
wait_for "layer 0" fifo >/dev/null
rm "$tmp/fifo/baseline/$f" && mkfifo "$tmp/fifo/baseline/$f"
tmx send-keys -t fifo Down Right # the tensor row shows: its compute starts
sleep 0.5
tmx send-keys -t fifo q
check "FIFO in place of a .pt: q ends dumpview within a second" gone_within $LIMIT "$tmp/fifo.rc"
wait_file "$tmp/fifo.stty"
check "FIFO in place of a .pt: terminal restored" tty_sane "$tmp/fifo.stty"

# A listing that hangs (DUMPVIEW_TEST_SLOW_LISTING stops it for good after
# the baseline, as a hung file system would): the first screen shows the
# files found so far, and q or SIGTERM ends dumpview at once.
start_slow() { # start_slow SESSION
	tmx new-session -d -s "$1" -x 100 -y 30 \
		"cd '$tmp' && DUMPVIEW_TEST_SLOW_LISTING=1 LC_ALL=C.UTF-8 TERM=xterm-256color '$DUMPVIEW' baseline target 2>'$tmp/$1.err'; echo \$? >'$tmp/$1.rc'; stty -a >'$tmp/$1.stty'; sleep 60"
}
start_slow slow-q
check "slow listing: the title counts the files listed so far" wait_for "listing 180 files" slow-q
tmx send-keys -t slow-q q
check "slow listing: q ends dumpview within a second" gone_within $LIMIT "$tmp/slow-q.rc"
wait_file "$tmp/slow-q.stty"
check "slow listing: q exits 0 with the terminal restored" sh -c "[ \"\$(cat '$tmp/slow-q.rc')\" = 0 ] && grep -q ' icanon' '$tmp/slow-q.stty'"
start_slow slow-term
check "slow listing: progress shown before the listing ends" wait_for "listing 180 files" slow-term
pid=$(dv_pid slow-term)
[ -n "$pid" ] && kill -TERM "$pid"
check "slow listing: SIGTERM ends dumpview within a second" gone_within $LIMIT "$tmp/slow-term.rc"
check "slow listing: SIGTERM exits 128+15" [ "$(cat "$tmp/slow-term.rc" 2>/dev/null)" = 143 ]

# A listing that hangs after the first phase of both runs
# (DUMPVIEW_TEST_SLOW_LISTING=phase): the tree shows that phase, the title
# counts the files listed, keys work, and q ends dumpview at once.
tmx new-session -d -s slow-phase -x 100 -y 30 \
	"cd '$tmp' && DUMPVIEW_TEST_SLOW_LISTING=phase LC_ALL=C.UTF-8 TERM=xterm-256color '$DUMPVIEW' baseline target 2>'$tmp/slow-phase.err'; echo \$? >'$tmp/slow-phase.rc'; stty -a >'$tmp/slow-phase.stty'; sleep 60"
check "listing hung after a phase: the tree shows it, the title counts the files listed" wait_for "listing 98 files" slow-phase
check "listing hung after a phase: the scan computes it" wait_for "scan 49/49" slow-phase
tmx send-keys -t slow-phase /
tmx send-keys -t slow-phase -l attn_q
tmx send-keys -t slow-phase Enter
check "listing hung after a phase: keys work (search)" wait_for "/attn_q/ 4 of 6: inference / layer 3 / attn_q" slow-phase
tmx send-keys -t slow-phase q
check "listing hung after a phase: q ends dumpview within a second" gone_within $LIMIT "$tmp/slow-phase.rc"
wait_file "$tmp/slow-phase.stty"
check "listing hung after a phase: q exits 0 with the terminal restored" sh -c "[ \"\$(cat '$tmp/slow-phase.rc')\" = 0 ] && grep -q ' icanon' '$tmp/slow-phase.stty'"

# A 5000-character paste into / answers at once (one frame per key, each
# measuring the whole input, took seconds) and is refused whole.
start paste 120 30
wait_for "first divergence:" paste >/dev/null
tmx send-keys -t paste /
tmx send-keys -t paste -l "$(printf '%05000d' 0 | tr 0 a)"
tmx send-keys -t paste Enter
# quick_for MS PATTERN SESSION: the pane shows PATTERN within MS.
quick_for() {
	deadline=$(($(now_ms) + $1))
	while [ "$(now_ms)" -lt "$deadline" ]; do
		tmx capture-pane -p -t "$3" >"$tmp/pane" 2>/dev/null
		grep -qF -- "$2" "$tmp/pane" && return 0
		sleep 0.05
	done
	sed 's/^/# /' "$tmp/pane"
	return 1
}
check "5000-character paste: answered within 3 s" quick_for 3000 "input longer than 1023 bytes: refused" paste
tmx send-keys -t paste q
wait_file "$tmp/paste.stty"
check "5000-character paste: nothing of it was taken as keys (q still quits with 0)" [ "$(cat "$tmp/paste.rc" 2>/dev/null)" = 0 ]
