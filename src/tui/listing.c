/* Listing the runs on a thread before the explorer opens: a quick listing
 * looks as before, a slow one shows its count on screen while q and
 * signals still end the program. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "draw.h"
#include "keymap.h"
#include "keys.h"
#include "listing.h"
#include "state.h"
#include "term.h"

/* tests: a listing that hangs after the baseline (a hung NFS readdir) */
static void listing_hang_for_tests(void *ctx)
{
	const char *slow = getenv("DUMPVIEW_TEST_SLOW_LISTING");

	(void)ctx;
	while (slow && *slow)
		pause();
}

static void *listing_main(void *arg)
{
	tui_listing *ls = arg;
	const dv_tui_opts *opts = &ls->app->opts;
	dv_comparison_opts co = {.baseline = opts->baseline,
				 .target = opts->target,
				 .filter = ls->filter,
				 .layer_regex = opts->layer_regex,
				 .follow_symlinks = opts->follow_symlinks,
				 .threshold = opts->threshold,
				 .grouping = opts->grouping,
				 .name_map = opts->name_map,
				 .listed = &ls->listed,
				 .baseline_listed = listing_hang_for_tests};
	ls->cmp = dv_comparison_open(&co, NULL, &ls->err);
	atomic_store(&ls->done, true);
	ssize_t n = write(ls->done_pipe[1], "d", 1);
	(void)n;
	return NULL;
}

/* The screen while the runs are listed: the title with the count so far. */
static void draw_listing(tui_app *app, tui_listing *ls)
{
	app->rows = LINES;
	app->cols = COLS;
	werase(stdscr);
	attr_t a = tui_draw_attr(app, CP_TITLE, A_REVERSE | A_BOLD);
	tui_draw_fill(stdscr, 0, 0, app->cols, a);
	char n[32], buf[1200];
	size_t v = atomic_load(&ls->listed);
	/* Thousands apart, as "12 345": easier to read as it climbs. */
	char digits[32];
	int len = snprintf(digits, sizeof(digits), "%zu", v), k = 0;
	for (int i = 0; i < len; i++) {
		if (i && (len - i) % 3 == 0)
			n[k++] = ' ';
		n[k++] = digits[i];
	}
	n[k] = '\0';
	snprintf(buf, sizeof(buf), "dumpview  %s vs %s  %s listing %s file%s%s", app->opts.baseline, app->opts.target,
		 app->g.vbar, n, v == 1 ? "" : "s", app->g.ellipsis);
	if (tui_draw_width(buf) > app->cols - 2)
		snprintf(buf, sizeof(buf), "listing %s file%s%s", n, v == 1 ? "" : "s", app->g.ellipsis);
	tui_draw_str(stdscr, 0, 1, app->cols - 1, buf, a);
	tui_draw_str(stdscr, 2, 1, app->cols - 1, "listing the runs (q quits)", A_NORMAL);
	wnoutrefresh(stdscr);
	doupdate();
}

/* Lists the runs on a thread. Waits quietly for a moment; a longer listing
 * starts the terminal and shows its progress while q and signals work. On
 * quit with the listing still running, exits at once (the thread may be
 * stuck in the file system). Returns 0 with app->cmp set. */
int tui_listing_run(tui_app *app, tui_listing *ls, const pcre2_code *filter, char *err, size_t errsize)
{
	ls->app = app;
	ls->filter = filter;
	if (tui_term_open_pipe(ls->done_pipe)) {
		snprintf(err, errsize, "pipe: %s", strerror(errno));
		ls->joined = true;
		return -1;
	}
	tui_term_catch_signals(app);
	if (pthread_create(&ls->thread, NULL, listing_main, ls) != 0) {
		snprintf(err, errsize, "cannot start the listing thread");
		close(ls->done_pipe[0]);
		close(ls->done_pipe[1]);
		ls->joined = true;
		return -1;
	}
	struct pollfd pf = { ls->done_pipe[0], POLLIN, 0 };
	if (!app->opts.script) {
		int64_t until = tui_term_now_ms() + 300;
		while (!atomic_load(&ls->done) && tui_term_now_ms() < until)
			poll(&pf, 1, 50);
	}
	if (!atomic_load(&ls->done) && !app->opts.script) {
		if (tui_term_start(app, err, errsize) != 0)
			goto abandon;
		int64_t last = 0;
		while (!atomic_load(&ls->done)) {
			if (tui_term_now_ms() - last >= 100) {
				draw_listing(app, ls);
				last = tui_term_now_ms();
			}
			struct pollfd fds[3] = {
				{ 0, POLLIN, 0 },
				{ ls->done_pipe[0], POLLIN, 0 },
				{ app->sig_pipe[0], POLLIN, 0 },
			};
			if (poll(fds, 3, 100) < 0 && errno != EINTR)
				break;
			unsigned char b;
			if (fds[2].revents && read(app->sig_pipe[0], &b, 1) == 1) {
				app->exit_signal = b;
				goto quit;
			}
			if (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL))
				goto quit;
			wint_t wc;
			int rc;
			while ((rc = wget_wch(stdscr, &wc)) != ERR)
				if (rc == OK && (tui_action_for_key((int)wc) == ACT_QUIT || wc == TK_CTRL('c')))
					goto quit;
		}
	}
	pthread_join(ls->thread, NULL);
	ls->joined = true;
	close(ls->done_pipe[0]);
	close(ls->done_pipe[1]);
	if (!ls->cmp) {
		tui_term_stop(app);
		tui_term_restore_signals();
		snprintf(err, errsize, "%s", ls->err.msg);
		return -1;
	}
	app->cmp = ls->cmp;
	return 0;
quit:
	/* The listing may never end (a hung file system): the terminal is
	 * restored and the process exits without waiting for it. */
	tui_term_stop(app);
	tui_term_restore_signals();
	fflush(NULL);
	_exit(app->exit_signal ? 128 + app->exit_signal : 0);
abandon:
	tui_term_restore_signals();
	fflush(NULL);
	fprintf(stderr, "dumpview: %s\n", err);
	_exit(2);
}
