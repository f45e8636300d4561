/* dumpview's interactive explorer: the terminal, the one event
 * loop (poll on the terminal, the scan's and the jobs' notify pipes and a
 * signal pipe), global actions, and the scripted mode used by the tests. */
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "actions.h"
#include "app.h"
#include "draw.h"
#include "jobs.h"
#include "keymap.h"
#include "keys.h"
#include "script.h"
#include "state.h"
#include "views.h"
#include "dumpview/commands.h"
#include "dumpview/escape.h"


/* ------------------------------------------------------------------ */
/* drawing the whole screen */

static void draw_title(tui_app *app)
{
	attr_t a = tui_draw_attr(app, CP_TITLE, A_REVERSE | A_BOLD);
	tui_draw_fill(stdscr, 0, 0, app->cols, a);
	char thr[32], scan[96], fd[512], buf[1200];
	snprintf(thr, sizeof(thr), "%g", dv_comparison_threshold(app->cmp));
	size_t total, cancelled, done = tui_state_matched_done(app, &total, &cancelled);
	char ncan[48] = "";
	if (cancelled)
		snprintf(ncan, sizeof(ncan), " (%zu cancelled)", cancelled);
	if (done == total)
		snprintf(scan, sizeof(scan), "scan %zu/%zu", done, total);
	else if (!app->scan)
		snprintf(scan, sizeof(scan), "scan off %zu/%zu%s", done, total, ncan);
	else
		snprintf(scan, sizeof(scan), "scan %zu/%zu%s%s", done, total, ncan, app->scan_paused ? " paused" : "");
	if (app->first_div >= 0) {
		char path[400];
		tui_state_pair_path(app, (size_t)app->first_div, path, sizeof(path));
		snprintf(fd, sizeof(fd), "first divergence: %s%s", path, app->first_div_known ? "" : " (so far)");
	} else if (app->first_div_known) {
		/* the same warnings that make `compare` fail: never "no divergence" then */
		char **w = NULL;
		size_t nw = dv_comparison_warnings(app->cmp, &w);
		if (nw)
			snprintf(fd, sizeof(fd), "warning: %s%s", w[0], nw > 1 ? " (+more)" : "");
		else
			snprintf(fd, sizeof(fd), "no divergence");
		dv_warnings_free(w, nw);
	} else {
		snprintf(fd, sizeof(fd), "first divergence: not found yet");
	}
	/* Widest form that fits; the first divergence is dropped last. */
	const char *bar = app->g.vbar;
	snprintf(buf, sizeof(buf), "dumpview  %s vs %s  %s threshold %s  %s  %s %s", app->cmp->base->spec,
		 app->cmp->targ->spec, bar, thr, scan, bar, fd);
	if (tui_draw_width(buf) > app->cols - 2)
		snprintf(buf, sizeof(buf), "%s vs %s %s thr %s %s %s %s %s", app->cmp->base->spec, app->cmp->targ->spec,
			 bar, thr, bar, scan, bar, fd);
	if (tui_draw_width(buf) > app->cols - 2)
		snprintf(buf, sizeof(buf), "thr %s %s %s %s %s", thr, bar, scan, bar, fd);
	if (tui_draw_width(buf) > app->cols - 2)
		snprintf(buf, sizeof(buf), "%s %s %s", scan, bar, fd);
	if (tui_draw_width(buf) > app->cols - 2)
		snprintf(buf, sizeof(buf), "%s", fd);
	tui_draw_str(stdscr, 0, 1, app->cols - 1, buf, a);
}

static void draw_status(tui_app *app)
{
	int y = app->rows - 1;
	attr_t a = tui_draw_attr(app, CP_STATUS, A_REVERSE);
	tui_draw_fill(stdscr, y, 0, app->cols, a);
	if (app->prompting) {
		/* Label, then the end of the input (what is being typed); each
		 * part measured once, so a long paste costs linear time. */
		int x, lmax = app->cols - 12;
		if (tui_draw_width(app->prompt_label) > lmax) {
			/* A question's end ("overwrite? (y/N)") must show. */
			tui_draw_field_mid(app, y, 0, lmax, app->prompt_label, a);
			x = lmax;
		} else {
			x = tui_draw_str(stdscr, y, 0, app->cols, app->prompt_label, a);
		}
		if (app->prompt_overflow) {
			char msg[128];
			snprintf(msg, sizeof(msg), " input longer than %zu bytes: Enter or Esc cancels",
				 sizeof(app->prompt_buf) - 1);
			tui_draw_str(stdscr, y, x, app->cols - x, msg, tui_draw_attr(app, CP_STATUS, A_REVERSE) | A_BOLD);
			return;
		}
		int w;
		const char *tail = tui_draw_tail(app->prompt_buf, app->cols - 2 - x, &w);
		x += tui_draw_str(stdscr, y, x, app->cols - x, tail, a);
		tui_draw_str(stdscr, y, x, 1, "_", a | A_BLINK);
		return;
	}
	char left[1200] = "";
	job_kind kind;
	int64_t done, total;
	if (tui_jobs_heavy_busy(&app->jobs, &kind, &done, &total) && (kind == JOB_EXPORT || kind == JOB_TABLE)) {
		snprintf(left, sizeof(left), "exporting: %lld%% (Esc cancels)",
			 total > 0 ? (long long)(done * 100 / total) : 0LL);
	} else if (app->message[0]) {
		snprintf(left, sizeof(left), "%s", app->message);
	} else {
		const trow *row = tui_state_selected_row(app);
		if (row && row->kind == TN_TENSOR) {
			tui_state_pair_path(app, row->pair, left, sizeof(left));
		} else if (row && row->kind == TN_GROUP) {
			char g[128];
			tui_tree_group_label(&app->tree, row->group, g, sizeof(g));
			snprintf(left, sizeof(left), "%s / %s", app->cmp->phases[row->phase].name, g);
		} else if (row) {
			snprintf(left, sizeof(left), "%s", app->cmp->phases[row->phase].name);
		}
		if (app->filter) {
			size_t n = strlen(left);
			snprintf(left + n, sizeof(left) - n, "  [filter: %s]", app->filter);
		}
	}
	static const char *const sort_names[SORT_COUNT] = { "exec order", "rel_diff", "name" };
	char right[200];
	if (app->cols >= 150)
		snprintf(right, sizeof(right), " sort: %s  Enter:open /:search f:filter ]:next fail D:first div ?:help q:quit ",
			 sort_names[app->tree.sort]);
	else
		snprintf(right, sizeof(right), " sort: %s  ?:help q:quit ", sort_names[app->tree.sort]);
	int rw = tui_draw_width(right);
	attr_t la = app->message[0] && app->message_error ? tui_draw_attr(app, CP_FAIL, A_BOLD) | A_REVERSE : a;
	if (app->message[0] && app->message_error && app->color)
		la = COLOR_PAIR(CP_STATUS) | A_BOLD;
	if (app->message[0] && app->message_error && tui_draw_width(left) > app->cols - rw - 2) {
		/* An error takes the whole row, elided in the middle: its
		 * reason comes last and must stay readable. */
		tui_draw_field_mid(app, y, 1, app->cols - 2, left, la);
	} else if (app->cols - rw > 20) {
		tui_draw_field(app, y, 1, app->cols - rw - 2, left, la, false);
		tui_draw_str(stdscr, y, app->cols - rw, rw, right, a);
	} else {
		tui_draw_field(app, y, 1, app->cols - 2, left, la, false);
	}
}

static void render(tui_app *app)
{
	app->rows = LINES;
	app->cols = COLS;
	if (app->pending_clear) {
		clearok(curscr, TRUE);
		app->pending_clear = false;
	}
	werase(stdscr);
	app->layout = tui_layout_compute(app->rows, app->cols, app->help_open, app->detail_open, app->focus);
	if (app->layout.too_small) {
		char buf[128];
		int y = app->rows / 2 - 1;
		snprintf(buf, sizeof(buf), "terminal too small: %dx%d", app->cols, app->rows);
		tui_draw_str(stdscr, y < 0 ? 0 : y, 1, app->cols - 1, buf, A_BOLD);
		tui_draw_str(stdscr, y + 1, 1, app->cols - 1, "dumpview needs at least 60x15", A_NORMAL);
		tui_draw_str(stdscr, y + 2, 1, app->cols - 1, "resize, or press q to quit", A_NORMAL);
		wnoutrefresh(stdscr);
		doupdate();
		app->dirty = false;
		return;
	}
	tui_state_update_first_div(app);
	/* Sorted by rel_diff, rows move as results arrive. */
	size_t total, done = tui_state_matched_done(app, &total, NULL);
	if (done != app->last_done) {
		app->last_done = done;
		if (app->tree.sort == SORT_REL)
			tui_state_rebuild(app);
	}
	draw_title(app);
	const tui_layout *l = &app->layout;
	if (l->help_shown)
		tui_view_help.draw(app, l->help, true);
	if (l->tree_shown)
		tui_view_tree.draw(app, l->tree, !l->detail_shown || app->focus == PANE_TREE);
	if (l->detail_shown)
		tui_view_detail.draw(app, l->detail, !l->tree_shown || app->focus == PANE_DETAIL);
	if (l->tree_shown)
		tui_state_request_visible(app, l->tree.h);
	/* The detail of the selected tensor, when its pane shows. */
	const trow *sel = tui_state_selected_row(app);
	if (app->detail_open && sel && sel->kind == TN_TENSOR) {
		const dv_pair *p = &app->cmp->pairs[sel->pair];
		if (p->kind == DV_PAIR_MATCHED && !tui_state_detail_for(app, sel->pair) &&
		    (ptrdiff_t)sel->pair != app->detail_cancelled && atomic_load(&p->state) != DV_PAIR_CANCELLED &&
		    (atomic_load(&p->state) != DV_PAIR_DONE || p->result.status == DV_RESULT_COMPARED))
			tui_jobs_submit_detail(&app->jobs, sel->pair);
	}
	draw_status(app);
	wnoutrefresh(stdscr);
	doupdate();
	app->dirty = false;
}

/* ------------------------------------------------------------------ */
/* events */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static volatile sig_atomic_t sig_write_fd = -1;

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;
	if (sig_write_fd >= 0) {
		ssize_t n = write(sig_write_fd, &b, 1);
		(void)n;
	}
	errno = saved;
}

static void poll_events(tui_app *app, int timeout_ms)
{
	struct pollfd fds[3] = {
		{ app->scan_pipe[0], POLLIN, 0 },
		{ app->job_pipe[0], POLLIN, 0 },
		{ app->sig_pipe[0], POLLIN, 0 },
	};
	if (poll(fds, 3, timeout_ms) <= 0)
		return;
	if (fds[0].revents) {
		tui_state_drain(app->scan_pipe[0]);
		tui_state_update_first_div(app);
		app->dirty = true;
	}
	if (fds[1].revents) {
		tui_state_drain(app->job_pipe[0]);
		tui_state_collect_jobs(app);
		app->dirty = true;
	}
	if (fds[2].revents) {
		unsigned char b;
		if (read(app->sig_pipe[0], &b, 1) == 1) {
			app->exit_signal = b;
			app->quit = true;
		}
	}
}

static int read_terminal_key(tui_app *app, bool *got)
{
	wint_t wc;
	int rc = wget_wch(stdscr, &wc);
	*got = rc != ERR;
	if (rc == KEY_CODE_YES)
		return TK_FN((int)wc);
	if (rc == OK)
		return (int)wc;
	(void)app;
	return -1;
}

static int next_key(tui_app *app);

/* The one place keys are made canonical (tui_key_canonical): whoever reads
 * keys sees Enter as TK_ENTER. */
static int app_next_key(tui_app *app)
{
	int key = next_key(app);
	return key < 0 ? key : tui_key_canonical(key);
}

static int next_key(tui_app *app)
{
	if (app->script_mode) {
		poll_events(app, 0);
		/* A prompt's text shows at :save-display; a frame per typed
		 * character would make a long paste quadratic. */
		if (app->dirty && !app->prompting)
			render(app);
		return tui_script_next_key(app);
	}
	int idle_errs = 0;
	while (!app->quit) {
		/* Typed-ahead keys (a paste) are taken before drawing: one frame
		 * per key would make a long paste slow. */
		bool got;
		int key = read_terminal_key(app, &got);
		if (got)
			return key;
		/* Scan progress redraws at most every 50 ms; keys redraw at once. */
		int64_t now = now_ms();
		if (app->scan_dirty && now - app->last_render_ms >= 50)
			app->dirty = true;
		if (app->dirty) {
			render(app);
			app->scan_dirty = false;
			app->last_render_ms = now;
		}
		job_kind kind;
		int64_t done, total;
		bool busy = tui_jobs_heavy_busy(&app->jobs, &kind, &done, &total) || atomic_load(&app->jobs.want_pair) >= 0;
		int timeout = busy ? 100 : 1000;
		if (app->scan_dirty)
			timeout = 50;
		struct pollfd fds[4] = {
			{ 0, POLLIN, 0 },
			{ app->scan_pipe[0], POLLIN, 0 },
			{ app->job_pipe[0], POLLIN, 0 },
			{ app->sig_pipe[0], POLLIN, 0 },
		};
		/* A key may have come while drawing. */
		key = read_terminal_key(app, &got);
		if (got)
			return key;
		int rc = poll(fds, 4, timeout);
		if (rc < 0) {
			if (errno == EINTR)
				continue; /* SIGWINCH: the next read gives KEY_RESIZE */
			return -1;
		}
		if (busy)
			app->dirty = true; /* progress */
		if (fds[1].revents) {
			tui_state_drain(app->scan_pipe[0]);
			app->scan_dirty = true; /* the render updates the first divergence */
		}
		if (fds[2].revents) {
			tui_state_drain(app->job_pipe[0]);
			tui_state_collect_jobs(app);
			app->dirty = true;
		}
		if (fds[3].revents) {
			unsigned char b;
			if (read(app->sig_pipe[0], &b, 1) == 1) {
				app->exit_signal = b;
				app->quit = true;
			}
			break;
		}
		if (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL)) {
			app->quit = true; /* the terminal went away */
			break;
		}
		if (fds[0].revents & POLLIN) {
			key = read_terminal_key(app, &got);
			if (got)
				return key;
			if (++idle_errs > 16) {
				app->quit = true; /* readable but no key: EOF or EIO */
				break;
			}
		} else {
			idle_errs = 0;
		}
	}
	return -1;
}

/* ------------------------------------------------------------------ */
/* setup and teardown */

static bool utf8_locale(void)
{
	const char *cs = nl_langinfo(CODESET);
	return cs && (!strcasecmp(cs, "UTF-8") || !strcasecmp(cs, "utf8"));
}

static int open_pipe(int p[2])
{
	if (pipe(p) != 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		fcntl(p[i], F_SETFL, fcntl(p[i], F_GETFL) | O_NONBLOCK);
		fcntl(p[i], F_SETFD, FD_CLOEXEC);
	}
	return 0;
}

static int start_terminal(tui_app *app, char *err, size_t errsize)
{
	if (app->script_mode) {
		app->script_out = fopen("/dev/null", "w");
		app->script_in = fopen("/dev/null", "r");
		if (!app->script_out || !app->script_in) {
			snprintf(err, errsize, "/dev/null: %s", strerror(errno));
			return -1;
		}
		static const char *const terms[] = { "xterm-256color", "xterm", "vt100", "dumb" };
		for (size_t i = 0; i < sizeof(terms) / sizeof(terms[0]) && !app->screen; i++)
			app->screen = newterm(terms[i], app->script_out, app->script_in);
		if (!app->screen) {
			snprintf(err, errsize, "no terminal description found for the scripted mode");
			return -1;
		}
		resizeterm(30, 100);
	} else {
		if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
			snprintf(err, errsize, "the explorer needs a terminal (use 'dumpview compare' for text output)");
			return -1;
		}
		const char *term = getenv("TERM");
		app->screen = newterm(term && *term ? term : "vt100", stdout, stdin);
		if (!app->screen) {
			snprintf(err, errsize, "cannot use the terminal type '%s'", term ? term : "");
			return -1;
		}
	}
	set_term(app->screen);
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	const char *nc = getenv("NO_COLOR");
	app->color = !app->opts.no_color && !(nc && *nc) && has_colors();
	tui_draw_init_colors(app);
	app->rows = LINES;
	app->cols = COLS;
	return 0;
}

static void stop_terminal(tui_app *app)
{
	if (!app->screen)
		return;
	endwin();
	delscreen(app->screen);
	app->screen = NULL;
	if (app->script_out)
		fclose(app->script_out);
	if (app->script_in)
		fclose(app->script_in);
}

static struct sigaction old_int, old_term, old_hup;
static bool signals_set;

static void catch_signals(tui_app *app)
{
	sig_write_fd = app->sig_pipe[1];
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	signals_set = true;
}

static void restore_signals(void)
{
	if (!signals_set)
		return;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	sig_write_fd = -1;
	signals_set = false;
}

/* The listing thread's work: both runs and their pairing. */
typedef struct listing {
	tui_app *app;
	const pcre2_code *filter;
	_Atomic size_t listed;
	atomic_bool done;
	bool joined;
	int done_pipe[2];
	dv_comparison *cmp;
	dv_error err;
	pthread_t thread;
} listing;

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
	listing *ls = arg;
	const dv_tui_opts *opts = &ls->app->opts;
	dv_comparison_opts co = {.baseline = opts->baseline,
				 .target = opts->target,
				 .filter = ls->filter,
				 .layer_regex = opts->layer_regex,
				 .follow_symlinks = opts->follow_symlinks,
				 .threshold = opts->threshold,
				 .listed = &ls->listed,
				 .baseline_listed = listing_hang_for_tests};
	ls->cmp = dv_comparison_open(&co, NULL, &ls->err);
	atomic_store(&ls->done, true);
	ssize_t n = write(ls->done_pipe[1], "d", 1);
	(void)n;
	return NULL;
}

/* The screen while the runs are listed: the title with the count so far. */
static void draw_listing(tui_app *app, listing *ls)
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
static int list_runs(tui_app *app, listing *ls, const pcre2_code *filter, char *err, size_t errsize)
{
	ls->app = app;
	ls->filter = filter;
	if (open_pipe(ls->done_pipe)) {
		snprintf(err, errsize, "pipe: %s", strerror(errno));
		ls->joined = true;
		return -1;
	}
	catch_signals(app);
	if (pthread_create(&ls->thread, NULL, listing_main, ls) != 0) {
		snprintf(err, errsize, "cannot start the listing thread");
		close(ls->done_pipe[0]);
		close(ls->done_pipe[1]);
		ls->joined = true;
		return -1;
	}
	struct pollfd pf = { ls->done_pipe[0], POLLIN, 0 };
	if (!app->opts.script) {
		int64_t until = now_ms() + 300;
		while (!atomic_load(&ls->done) && now_ms() < until)
			poll(&pf, 1, 50);
	}
	if (!atomic_load(&ls->done) && !app->opts.script) {
		if (start_terminal(app, err, errsize) != 0)
			goto abandon;
		int64_t last = 0;
		while (!atomic_load(&ls->done)) {
			if (now_ms() - last >= 100) {
				draw_listing(app, ls);
				last = now_ms();
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
		stop_terminal(app);
		restore_signals();
		snprintf(err, errsize, "%s", ls->err.msg);
		return -1;
	}
	app->cmp = ls->cmp;
	return 0;
quit:
	/* The listing may never end (a hung file system): the terminal is
	 * restored and the process exits without waiting for it. */
	stop_terminal(app);
	restore_signals();
	fflush(NULL);
	_exit(app->exit_signal ? 128 + app->exit_signal : 0);
abandon:
	restore_signals();
	fflush(NULL);
	fprintf(stderr, "dumpview: %s\n", err);
	_exit(2);
}

static const tui_loop loop = { render, app_next_key, poll_events };

/* The job thread's progress hook: the scripted mode's :hold-computes. */
static void hold_jobs(void *ctx, int64_t done, int64_t total)
{
	tui_script_hold_point(ctx, done, total);
}

int tui_dispatch(tui_app *app, int key)
{
	if (key == TK_FN(KEY_RESIZE)) {
		app->rows = LINES;
		app->cols = COLS;
		return TF_RESIZE | TF_REDRAW;
	}
	app->message[0] = '\0';
	tui_action act = tui_action_for_key(key);
	if (act == ACT_NONE)
		return 0;
	const tui_action_info *a = &tui_actions[act];
	if (!(a->flags & AF_ALWAYS)) {
		if (app->rows < 15 || app->cols < 60)
			return TF_REDRAW; /* the too-small screen takes only AF_ALWAYS actions */
		if (app->help_open) {
			/* The help screen is modal: it scrolls and closes, and
			 * closes before any other action acts on the tree. */
			int f = tui_view_help.handle(app, act, key);
			if (f)
				return f;
		}
	}
	return a->handler(app, act, key);
}

int dv_tui_run(const dv_tui_opts *opts, char *err, size_t errsize)
{
	/* The key map, once: every key read from here on is one lookup. */
	const char *bad = tui_keymap_init();
	if (bad) {
		snprintf(err, errsize, "the action table: %s", bad);
		return 2;
	}
	tui_app *app = calloc(1, sizeof(*app));
	if (!app) {
		snprintf(err, errsize, "out of memory");
		return 2;
	}
	int rc = 2;
	app->opts = *opts;
	app->scan_pipe[0] = app->scan_pipe[1] = app->job_pipe[0] = app->job_pipe[1] = -1;
	app->sig_pipe[0] = app->sig_pipe[1] = -1;
	app->first_div = -1;
	app->detail_cancelled = -1;
	app->loop = &loop;
	app->ascii = opts->ascii || !utf8_locale();
	app->g = *tui_draw_glyphs(app->ascii);

	pcre2_code *filter = NULL;
	listing *ls = calloc(1, sizeof(*ls));
	if (!ls) {
		snprintf(err, errsize, "out of memory");
		goto out;
	}
	dv_error_clear(&ls->err);
	if (opts->filter && !(filter = dv_regex_compile(opts->filter, false, &ls->err))) {
		snprintf(err, errsize, "--filter: %s", ls->err.msg);
		free(ls);
		goto out;
	}
	if (open_pipe(app->sig_pipe)) {
		snprintf(err, errsize, "pipe: %s", strerror(errno));
		free(ls);
		goto out;
	}
	/* The runs are listed on a thread: a huge or slow listing shows its
	 * progress on screen (after a moment, so a quick one looks as before)
	 * and q or a signal still ends the program. */
	int listed_rc = list_runs(app, ls, filter, err, errsize);
	free(ls);
	if (listed_rc != 0)
		goto out;
	/* From here the terminal may be up (a slow listing showed progress). */
	dv_error e;
	dv_error_clear(&e);
	for (size_t i = 0; i < app->cmp->npairs; i++)
		if (app->cmp->pairs[i].rank > 0)
			app->multi_rank = true;
	if (tui_tree_init(&app->tree, app->cmp, &e) != 0) {
		snprintf(err, errsize, "%s", e.msg);
		goto out_signals;
	}
	tui_state_rebuild(app);
	app->mopts = dv_metrics_opts_default();
	app->mopts.threshold = opts->threshold;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	app->nthreads = ncpu > 0 ? (size_t)ncpu : 1;
	if (open_pipe(app->scan_pipe) || open_pipe(app->job_pipe)) {
		snprintf(err, errsize, "pipe: %s", strerror(errno));
		goto out_signals;
	}
	const char *stuck = getenv("DUMPVIEW_TEST_STUCK");
	if (stuck && *stuck) {
		app->test_stuck = true;
		app->mopts.progress = tui_script_scan_progress;
		app->mopts.progress_ctx = app;
	}
	if (opts->script) {
		app->script = fopen(opts->script, "r");
		if (!app->script) {
			snprintf(err, errsize, "%s: %s", opts->script, strerror(errno));
			goto out_signals;
		}
		app->script_mode = true;
		app->mopts.progress = tui_script_scan_progress;
		app->mopts.progress_ctx = app;
	}
	if (!app->screen && start_terminal(app, err, errsize) != 0)
		goto out_signals;

	if (tui_jobs_start(&app->jobs, app->cmp, &app->mopts, app->job_pipe[1], hold_jobs, app) != 0) {
		snprintf(err, errsize, "cannot start the job thread");
		stop_terminal(app);
		goto out_signals;
	}
	if (!opts->no_scan)
		app->scan = dv_comparison_scan_start(app->cmp, &app->mopts, (int)app->nthreads, app->scan_pipe[1]);
	app->dirty = true;
	while (!app->quit) {
		int key = app_next_key(app);
		if (key < 0)
			break;
		int flags = tui_dispatch(app, key);
		if (flags & TF_QUIT)
			break;
		if (flags & (TF_REDRAW | TF_RESIZE))
			app->dirty = true;
	}
	/* A hangup may be seen on the terminal before its SIGHUP is read. */
	unsigned char sigb;
	if (!app->exit_signal && read(app->sig_pipe[0], &sigb, 1) == 1)
		app->exit_signal = sigb;
	rc = app->exit_signal ? 128 + app->exit_signal : 0;
	/* Restore the terminal first: stopping workers may take a moment. */
	stop_terminal(app);
	atomic_store(&app->script_hold, 0);
	{
		/* Workers get half a second to see the cancel; one stuck in a
		 * read (a FIFO, a hung NFS mount) would never end, so past that
		 * the process exits without waiting or freeing what they use. */
		struct timespec deadline;
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_nsec += 500 * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
		bool scan_ended = dv_comparison_scan_stop_until(app->cmp, &deadline);
		bool jobs_ended = tui_jobs_stop_until(&app->jobs, &deadline);
		if (!scan_ended || !jobs_ended) {
			fflush(NULL);
			_exit(rc);
		}
		app->scan = NULL;
	}
out_signals:
	stop_terminal(app);
	restore_signals();
out:
	tui_state_clear_details(app);
	if (app->script)
		fclose(app->script);
	for (int i = 0; i < 2; i++) {
		if (app->scan_pipe[i] >= 0)
			close(app->scan_pipe[i]);
		if (app->job_pipe[i] >= 0)
			close(app->job_pipe[i]);
		if (app->sig_pipe[i] >= 0)
			close(app->sig_pipe[i]);
	}
	pcre2_code_free(app->search_re);
	pcre2_code_free(app->filter_re);
	free(app->search);
	free(app->filter);
	pcre2_code_free(filter);
	tui_tree_free(&app->tree);
	if (app->cmp)
		dv_comparison_free(app->cmp);
	free(app);
	return rc;
}
