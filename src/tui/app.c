/* dumpview's interactive explorer, its top: dv_tui_run (setup and
 * teardown), the one event loop (poll on the terminal, the scan's and the
 * jobs' notify pipes and a signal pipe), the frame (title, panes as the
 * layout places them, status) and the dispatch of a key. Every other
 * module is below this one and reaches the loop only through app->loop. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dumpview/threadprio.h"

#include "actions.h"
#include "app.h"
#include "bars.h"
#include "draw.h"
#include "jobs.h"
#include "keymap.h"
#include "keys.h"
#include "listing.h"
#include "script.h"
#include "state.h"
#include "term.h"
#include "views.h"


static void render(tui_app *app)
{
	/* the listing failed: what the comparison points into may be freed */
	if (app->listing_failed)
		return;
	app->rows = LINES;
	app->cols = COLS;
	if (app->pending_clear) {
		clearok(curscr, TRUE);
		app->pending_clear = false;
	}
	werase(stdscr);
	app->layout = tui_layout_compute(app->rows, app->cols, app->help_open || app->rules_open, app->detail_open,
					 app->focus);
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
	app->tree.agg_stale = false;
	/* phase totals may lag a running scan by a moment (scripted screens: never) */
	app->tree.throttle = !app->script_mode && app->scan && dv_scan_running(app->scan) && !dv_scan_finished(app->scan);
	tui_state_update_first_div(app);
	/* Sorted by rel_diff, rows move as results arrive. */
	size_t total, done = tui_state_matched_done(app, &total, NULL);
	if (done != app->last_done) {
		app->last_done = done;
		if (app->tree.sort == SORT_REL)
			tui_state_rebuild(app);
	}
	tui_bars_title(app);
	const tui_layout *l = &app->layout;
	/* The rules screen takes the help screen's place. */
	if (l->help_shown && app->rules_open)
		tui_view_rules.draw(app, l->help, true);
	else if (l->help_shown)
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
		if (p->kind == DV_PAIR_MATCHED && tui_state_can_read(app) && !tui_state_detail_for(app, sel->pair) &&
		    (ptrdiff_t)sel->pair != app->detail_cancelled && atomic_load(&p->state) != DV_PAIR_CANCELLED &&
		    (atomic_load(&p->state) != DV_PAIR_DONE || p->result->status == DV_RESULT_COMPARED))
			tui_jobs_submit_detail(&app->jobs, sel->pair);
	}
	tui_bars_status(app);
	wnoutrefresh(stdscr);
	doupdate();
	app->dirty = false;
}

/* ------------------------------------------------------------------ */
/* events */

static void poll_events(tui_app *app, int timeout_ms)
{
	struct pollfd fds[3] = {
		{ app->scan_pipe[0], POLLIN, 0 },
		{ app->job_pipe[0], POLLIN, 0 },
		{ app->sig_pipe[0], POLLIN, 0 },
	};
	/* a swapped-out scan stopped meanwhile: its comparison freed */
	if (app->nreaping)
		tui_listing_reap(app);
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
		int64_t now = tui_term_now_ms();
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
		/* a comparison waits for the job thread to be idle: tried again soon */
		if (app->listing && app->listing->next.cmp && timeout > 100)
			timeout = 100;
		/* a swapped-out scan stopping: looked at again soon, and freed
		 * (a worker not done after a second is stuck in a read: then
		 * seldom) */
		if (app->nreaping && now - app->reaping_since_ms < 1000 && timeout > 20)
			timeout = 20;
		else if (app->nreaping && timeout > 250)
			timeout = 250;
		/* a filter set since: the listing matches it over the pairs it adds */
		if (app->listing)
			tui_listing_sync_filter(app);
		/* a phase total drawn from its last count: drawn again once it may be recounted */
		if (app->tree.agg_stale && timeout > TUI_AGG_STALE_MS)
			timeout = TUI_AGG_STALE_MS;
		struct pollfd fds[5] = {
			{ 0, POLLIN, 0 },
			{ app->scan_pipe[0], POLLIN, 0 },
			{ app->job_pipe[0], POLLIN, 0 },
			{ app->sig_pipe[0], POLLIN, 0 },
			{ app->listing ? app->listing->done_pipe[0] : -1, POLLIN, 0 },
		};
		/* A key may have come while drawing. */
		key = read_terminal_key(app, &got);
		if (got)
			return key;
		int rc = poll(fds, 5, timeout);
		if (rc < 0) {
			if (errno == EINTR)
				continue; /* SIGWINCH: the next read gives KEY_RESIZE */
			return -1;
		}
		if (busy || (rc == 0 && app->tree.agg_stale))
			app->dirty = true; /* progress, or a phase total to count again */
		if (fds[1].revents) {
			tui_state_drain(app->scan_pipe[0]);
			app->scan_dirty = true; /* the render updates the first divergence */
		}
		if (fds[2].revents) {
			tui_state_drain(app->job_pipe[0]);
			tui_state_collect_jobs(app);
			app->dirty = true;
		}
		/* more phases listed: the larger comparison is swapped in between frames */
		if (app->listing && (fds[4].revents || app->listing->next.cmp))
			tui_listing_service(app);
		/* and the one swapped out freed once its scan has stopped */
		if (app->nreaping)
			tui_listing_reap(app);
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

/* Lets a held listing go on and waits until its whole comparison is in. */
static void finish_listing(tui_app *app)
{
	if (!app->listing)
		return;
	tui_listing_release(app->listing);
	while (app->listing && !app->quit) {
		tui_listing_service(app);
		if (app->listing)
			poll_events(app, 20);
	}
	app->dirty = true;
}

static const tui_loop loop = { render, app_next_key, poll_events, finish_listing };

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
	/* q closes the rules screen (a popup) rather than quitting from it. */
	if (app->rules_open && act == ACT_QUIT) {
		app->rules_open = false;
		return TF_HANDLED | TF_REDRAW;
	}
	if (!(a->flags & AF_ALWAYS)) {
		if (app->rows < 15 || app->cols < 60)
			return TF_REDRAW; /* the too-small screen takes only AF_ALWAYS actions */
		if (app->rules_open) {
			int f = tui_view_rules.handle(app, act, key);
			if (f)
				return f;
		}
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
	/* The listing, the scan and the metrics helpers run below this thread:
	 * a key is answered at once even while they keep every core busy. */
	dv_background_threads_set(5);
	app->opts = *opts;
	app->scan_pipe[0] = app->scan_pipe[1] = app->job_pipe[0] = app->job_pipe[1] = -1;
	app->sig_pipe[0] = app->sig_pipe[1] = -1;
	app->first_div = -1;
	app->detail_cancelled = -1;
	app->loop = &loop;
	app->ascii = opts->ascii || !tui_term_utf8_locale();
	app->g = *tui_draw_glyphs(app->ascii);

	pcre2_code *filter = NULL;
	tui_listing *ls = calloc(1, sizeof(*ls));
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
	if (tui_term_open_pipe(app->sig_pipe)) {
		snprintf(err, errsize, "pipe: %s", strerror(errno));
		free(ls);
		goto out;
	}
	/* The runs are listed on a thread: a huge or slow listing shows its
	 * progress on screen (after a moment, so a quick one looks as before)
	 * and q or a signal still ends the program. */
	int listed_rc = 0;
	if (opts->report) {
		/* a report: nothing to list, the comparison is made */
		app->cmp = opts->report->cmp;
		opts->report->cmp = NULL;
		tui_term_catch_signals(app);
	} else {
		listed_rc = tui_listing_run(app, ls, filter, err, errsize);
	}
	/* a listing going on behind the explorer is the app's now */
	if (app->listing != ls)
		free(ls);
	if (listed_rc != 0)
		goto out;
	/* From here the terminal may be up (a slow listing showed progress). */
	dv_error e;
	dv_error_clear(&e);
	for (size_t i = 0; i < app->cmp->npairs; i++)
		if (app->cmp->pairs[i].rank > 0)
			app->multi_rank = true;
	/* built on the listing thread, when it listed phase by phase */
	if (app->tree.cmp != app->cmp && tui_tree_init(&app->tree, app->cmp, &e) != 0) {
		snprintf(err, errsize, "%s", e.msg);
		goto out_signals;
	}
	tui_state_rebuild(app);
	/* Rules judge from here on: each pair's rule is matched once now. */
	if (opts->rules && dv_comparison_set_rules(app->cmp, opts->rules, &e) != 0) {
		snprintf(err, errsize, "%s", e.msg);
		goto out_signals;
	}
	app->mopts = dv_metrics_opts_default();
	app->mopts.threshold = opts->threshold;
	app->nthreads = (size_t)dv_usable_cpus();
	if (tui_term_open_pipe(app->scan_pipe) || tui_term_open_pipe(app->job_pipe)) {
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
		/* One thread a pair in scripted runs: a compute held after its
		 * first chunk then shows the same progress every time (helpers
		 * would go on meanwhile); the results are the same either way. */
		app->mopts.threads = 1;
		app->script = fopen(opts->script, "r");
		if (!app->script) {
			snprintf(err, errsize, "%s: %s", opts->script, strerror(errno));
			goto out_signals;
		}
		app->script_mode = true;
		app->mopts.progress = tui_script_scan_progress;
		app->mopts.progress_ctx = app;
	}
	if (!app->screen && tui_term_start(app, err, errsize) != 0)
		goto out_signals;

	if (tui_jobs_start(&app->jobs, app->cmp, &app->mopts, app->job_pipe[1], hold_jobs, app) != 0) {
		snprintf(err, errsize, "cannot start the job thread");
		tui_term_stop(app);
		goto out_signals;
	}
	if (!opts->no_scan && !opts->report)
		app->scan = dv_comparison_scan_start(app->cmp, &app->mopts, tui_listing_scan_threads(app), app->scan_pipe[1]);
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
	tui_term_stop(app);
	atomic_store(&app->script_hold, 0);
	{
		/* Workers get half a second to see the cancel; one stuck in a
		 * read (a FIFO, a hung NFS mount) would never end, so past that
		 * the process exits without waiting or freeing what they use. */
		struct timespec deadline;
		tui_deadline_in_ms(&deadline, 500);
		bool scan_ended = dv_comparison_scan_stop_until(app->cmp, &deadline);
		bool jobs_ended = tui_jobs_stop_until(&app->jobs, &deadline);
		/* the swapped-out comparisons still stopping: the same wait */
		scan_ended = tui_listing_reap_until(app, &deadline) && scan_ended;
		if (app->listing_failed) {
			snprintf(err, errsize, "%s", app->listing_err);
			rc = 2;
		}
		/* the listing may be stuck in the file system: never waited for */
		if (!scan_ended || !jobs_ended || app->listing) {
			if (app->listing_failed)
				fprintf(stderr, "dumpview: %s\n", err);
			fflush(NULL);
			_exit(rc);
		}
		app->scan = NULL;
	}
out_signals:
	tui_term_stop(app);
	tui_term_restore_signals();
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
