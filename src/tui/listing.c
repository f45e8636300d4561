/* Listing the runs on a thread: a quick listing looks as before, a slow
 * one shows its count on screen while q and signals still end the program,
 * until the first phase of both runs is listed; from then on the explorer
 * shows the phases listed so far, and each later one as it is listed. */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dumpview/threadprio.h"

#include "draw.h"
#include "jobs.h"
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

static void wake(tui_listing *ls)
{
	ssize_t n = write(ls->done_pipe[1], "d", 1);
	(void)n;
}

/* On the listing thread: what a swap would otherwise build on the UI
 * thread, O(pairs) (a tree over 300 k pairs: tens of ms). */
static void listed_build(tui_listed *l)
{
	dv_error e;

	dv_error_clear(&e);
	if (!l->cmp || tui_tree_init(&l->tree, l->cmp, &e) != 0)
		memset(&l->tree, 0, sizeof(l->tree));   /* the swap builds it */
	l->multi_rank = false;
	for (size_t i = 0; l->cmp && i < l->cmp->npairs && !l->multi_rank; i++)
		l->multi_rank = l->cmp->pairs[i].rank > 0;
	/* the first divergence walks its new pairs here once (all pending:
	 * kept whatever pass rule the swap sets); the UI thread then reads
	 * what the walk kept of them */
	if (l->cmp)
		dv_first_divergence(l->cmp, NULL);
}

/* On the listing thread: the explorer's filter over the pairs l adds to
 * those it shows, as the swap would match them (tui_state_pair_matches,
 * with l's multi_rank, which the swap checks). */
static void listed_filter(tui_listing *ls, tui_listed *l)
{
	pthread_mutex_lock(&ls->mu);
	char *pat = ls->filter_pattern ? strdup(ls->filter_pattern) : NULL;
	unsigned gen = ls->filter_gen;
	size_t from = ls->shown_npairs;
	pthread_mutex_unlock(&ls->mu);
	if (!pat || !l->cmp || from >= l->cmp->npairs) {
		free(pat);
		return;
	}
	dv_error e;
	dv_error_clear(&e);
	pcre2_code *re = dv_regex_compile(pat, true, &e);
	free(pat);
	bool *h = re ? malloc(l->cmp->npairs - from) : NULL;
	for (size_t i = from; h && i < l->cmp->npairs; i++)
		h[i - from] = tui_state_label_matches(re, l->multi_rank, &l->cmp->pairs[i]) != DV_REGEX_MATCH;
	pcre2_code_free(re);
	l->filter_hidden = h;
	l->filter_from = from;
	l->filter_gen = gen;
}

void tui_listing_sync_filter(tui_app *app)
{
	tui_listing *ls = app->listing;
	const char *pattern = app->filter_re ? app->filter : NULL;
	/* only this thread writes filter_pattern: read without the lock */
	if (!ls || (!pattern && !ls->filter_pattern) ||
	    (pattern && ls->filter_pattern && !strcmp(pattern, ls->filter_pattern)))
		return;
	char *copy = pattern ? strdup(pattern) : NULL;
	if (pattern && !copy)
		return;   /* out of memory: the swap matches the filter itself */
	pthread_mutex_lock(&ls->mu);
	free(ls->filter_pattern);
	ls->filter_pattern = copy;
	ls->filter_gen++;
	pthread_mutex_unlock(&ls->mu);
}

static void listed_free(tui_listed *l)
{
	free(l->filter_hidden);
	if (l->tree.cmp)
		tui_tree_free(&l->tree);
	if (l->cmp)
		dv_comparison_free(l->cmp);
	memset(l, 0, sizeof(*l));
}

/* Frees the comparisons swapped out since the last call. */
static void free_stale(tui_listing *ls)
{
	pthread_mutex_lock(&ls->mu);
	dv_comparison **v = ls->stale;
	size_t n = ls->nstale;
	ls->stale = NULL;
	ls->nstale = 0;
	pthread_mutex_unlock(&ls->mu);
	for (size_t i = 0; i < n; i++)
		dv_comparison_free(v[i]);
	free(v);
}

/* A comparison swapped out: to the listing thread while it runs, else
 * (or out of memory) to the job thread. */
static void retire(tui_listing *ls, dv_comparison *old)
{
	bool queued = false;

	pthread_mutex_lock(&ls->mu);
	if (!atomic_load(&ls->done)) {
		dv_comparison **v = realloc(ls->stale, (ls->nstale + 1) * sizeof(*v));
		if (v) {
			ls->stale = v;
			ls->stale[ls->nstale++] = old;
			queued = true;
		}
	}
	pthread_mutex_unlock(&ls->mu);
	if (!queued)
		tui_jobs_free_later(&ls->app->jobs, old);
}

/* A comparison of the phases listed so far: the newest waits for the loop. */
static void listing_partial(void *ctx, dv_comparison *cmp)
{
	tui_listing *ls = ctx;
	tui_listed l = { .cmp = cmp };

	free_stale(ls);

	if (!cmp) {
		/* failed after the first phases: the runs are freed once the
		 * event loop no longer draws, scans or computes what they hold */
		pthread_mutex_lock(&ls->mu);
		ls->failing = true;
		pthread_mutex_unlock(&ls->mu);
		wake(ls);
		pthread_mutex_lock(&ls->mu);
		while (!ls->released)
			pthread_cond_wait(&ls->cv, &ls->mu);
		pthread_mutex_unlock(&ls->mu);
		free_stale(ls);   /* swapped out meanwhile: before the runs go */
		return;
	}

	listed_build(&l);
	listed_filter(ls, &l);
	pthread_mutex_lock(&ls->mu);
	tui_listed stale = ls->partial;
	ls->partial = l;
	pthread_mutex_unlock(&ls->mu);
	listed_free(&stale);
	wake(ls);
}

/* Tests: DUMPVIEW_TEST_HOLD_LISTING holds each run after its first phase
 * until the script releases it; DUMPVIEW_TEST_SLOW_LISTING=phase stops
 * them there for good, as a hung file system would. */
static void listing_phase_listed(void *ctx, int side, size_t n)
{
	tui_listing *ls = ctx;
	const char *slow = getenv("DUMPVIEW_TEST_SLOW_LISTING");

	(void)side;
	(void)n;
	while (slow && !strcmp(slow, "phase"))
		pause();
	pthread_mutex_lock(&ls->mu);
	while (ls->hold)
		pthread_cond_wait(&ls->cv, &ls->mu);
	pthread_mutex_unlock(&ls->mu);
}

void tui_listing_release(tui_listing *ls)
{
	tui_listing_sync_filter(ls->app);
	pthread_mutex_lock(&ls->mu);
	ls->hold = false;
	pthread_cond_broadcast(&ls->cv);
	pthread_mutex_unlock(&ls->mu);
}

static void *listing_main(void *arg)
{
	tui_listing *ls = arg;
	const dv_tui_opts *opts = &ls->app->opts;
	const char *slow = getenv("DUMPVIEW_TEST_SLOW_LISTING");
	/* the hang after the baseline needs the runs listed one at a time */
	bool whole = slow && *slow && strcmp(slow, "phase");
	dv_comparison_opts co = {.baseline = opts->baseline,
				 .target = opts->target,
				 .filter = ls->filter,
				 .layer_regex = opts->layer_regex,
				 .follow_symlinks = opts->follow_symlinks,
				 .threshold = opts->threshold,
				 .grouping = opts->grouping,
				 .name_map = opts->name_map,
				 .listed = &ls->listed,
				 .baseline_listed = listing_hang_for_tests,
				 .partial = whole ? NULL : listing_partial,
				 .phase_listed = listing_phase_listed,
				 .ctx = ls};
	dv_thread_background();
	ls->whole.cmp = dv_comparison_open(&co, NULL, &ls->err);
	free_stale(ls);
	listed_build(&ls->whole);
	listed_filter(ls, &ls->whole);
	/* done under mu: retire() queues nothing for this thread from here */
	pthread_mutex_lock(&ls->mu);
	atomic_store(&ls->done, true);
	pthread_mutex_unlock(&ls->mu);
	wake(ls);
	return NULL;
}

/* Whether a partial comparison waits (or the listing ended). */
static bool listing_ready(tui_listing *ls)
{
	pthread_mutex_lock(&ls->mu);
	bool ready = ls->partial.cmp != NULL;
	pthread_mutex_unlock(&ls->mu);
	return ready || atomic_load(&ls->done);
}

/* The newest comparison not taken: the whole one once done, else the
 * newest partial one; cmp NULL when none is new. *final says which. */
static tui_listed listing_take(tui_listing *ls, bool *final)
{
	tui_listed c = { 0 }, stale = { 0 };

	*final = false;
	pthread_mutex_lock(&ls->mu);
	if (atomic_load(&ls->done) && !ls->final_taken) {
		stale = ls->partial;
		memset(&ls->partial, 0, sizeof(ls->partial));
		ls->final_taken = true;
		*final = true;
		c = ls->whole;
		memset(&ls->whole, 0, sizeof(ls->whole));
	} else if (ls->partial.cmp) {
		c = ls->partial;
		memset(&ls->partial, 0, sizeof(ls->partial));
	}
	pthread_mutex_unlock(&ls->mu);
	listed_free(&stale);
	return c;
}

static void listing_end(tui_listing *ls)
{
	pthread_join(ls->thread, NULL);
	ls->joined = true;
	free_stale(ls);   /* queued after the thread's last look */
	close(ls->done_pipe[0]);
	close(ls->done_pipe[1]);
	free(ls->filter_pattern);
	ls->filter_pattern = NULL;
	pthread_mutex_destroy(&ls->mu);
	pthread_cond_destroy(&ls->cv);
}

/* The screen while the runs are listed: the title with the count so far. */
static void draw_listing(tui_app *app, tui_listing *ls)
{
	app->rows = LINES;
	app->cols = COLS;
	werase(stdscr);
	attr_t a = tui_draw_attr(app, CP_TITLE, A_REVERSE | A_BOLD);
	tui_draw_fill(stdscr, 0, 0, app->cols, a);
	char n[48], buf[1200];
	size_t v = atomic_load(&ls->listed);
	tui_draw_count(v, n, sizeof(n));
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
 * starts the terminal and shows its progress while q and signals work,
 * until a comparison (a partial one: the first phases) is ready. On quit
 * with the listing still running, exits at once (the thread may be stuck
 * in the file system). Returns 0 with app->cmp set. */
int tui_listing_run(tui_app *app, tui_listing *ls, const pcre2_code *filter, char *err, size_t errsize)
{
	ls->app = app;
	ls->filter = filter;
	pthread_mutex_init(&ls->mu, NULL);
	pthread_cond_init(&ls->cv, NULL);
	if (app->opts.script) {
		/* scripted: the whole listing, unless a test holds it after the
		 * first phase (the screens are then the same every time) */
		const char *hold = getenv("DUMPVIEW_TEST_HOLD_LISTING");
		ls->hold = hold && *hold;
	}
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
	if (app->opts.script) {
		while (ls->hold ? !listing_ready(ls) : !atomic_load(&ls->done)) {
			poll(&pf, 1, 50);
			tui_state_drain(ls->done_pipe[0]);
		}
	} else {
		/* a listing done by then opens whole, as it always did */
		int64_t until = tui_term_now_ms() + 300;
		while (!atomic_load(&ls->done) && tui_term_now_ms() < until) {
			poll(&pf, 1, 50);
			tui_state_drain(ls->done_pipe[0]);   /* a partial comparison's byte: wait on */
		}
	}
	if (!listing_ready(ls)) {
		if (tui_term_start(app, err, errsize) != 0)
			goto abandon;
		int64_t last = 0;
		while (!listing_ready(ls)) {
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
	bool final;
	tui_listed l = listing_take(ls, &final);
	dv_comparison *c = l.cmp;
	tui_state_drain(ls->done_pipe[0]);
	/* the tree built on the listing thread is the explorer's */
	if (c) {
		app->tree = l.tree;
		app->multi_rank = l.multi_rank;
	}
	free(l.filter_hidden);   /* nothing was shown: no filter yet */
	if (!final) {
		/* the first phases: the listing goes on behind the explorer */
		app->cmp = c;
		app->listing = ls;
		pthread_mutex_lock(&ls->mu);
		ls->shown_npairs = c->npairs;
		pthread_mutex_unlock(&ls->mu);
		return 0;
	}
	listing_end(ls);
	if (!c) {
		tui_term_stop(app);
		tui_term_restore_signals();
		snprintf(err, errsize, "%s", ls->err.msg);
		return -1;
	}
	app->cmp = c;
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

int tui_listing_scan_threads(const tui_app *app)
{
	if (app->listing && app->nthreads > 2)
		return (int)app->nthreads - 2;
	return app->listing ? 1 : (int)app->nthreads;
}

/* The filter's message ("filter /x/: N tensors", or no tensor matches),
 * while it shows, counted again as phases come. */
static void filter_message_update(tui_app *app)
{
	char head[1100];
	size_t hl, ml;

	if (!app->filter_re || !app->filter)
		return;
	hl = (size_t)snprintf(head, sizeof(head), "filter /%s/: ", app->filter);
	ml = strlen(app->message);
	if (hl >= sizeof(head) || strncmp(app->message, head, hl) ||
	    (strcmp(app->message + hl, "no tensor matches") && (ml < hl + 8 || strcmp(app->message + ml - 8, " tensors"))))
		return;
	size_t shown = 0;
	for (size_t i = 0; i < app->cmp->npairs; i++)
		shown += !app->tree.hidden[i];
	if (!shown)
		tui_state_message(app, true, "filter /%s/: no tensor matches", app->filter);
	else
		tui_state_message(app, false, "filter /%s/: %zu tensors", app->filter, shown);
}

/* A comparison swapped out: freed by the listing thread or the job thread
 * (retire) once no worker of its scan runs. */
static void retire_after_scan(tui_app *app, dv_scan *scan, dv_comparison *old)
{
	if (!scan || dv_scan_reap(scan)) {
		if (app->listing)
			retire(app->listing, old);
		else
			tui_jobs_free_later(&app->jobs, old);
		return;
	}
	struct tui_reaping *v = realloc(app->reaping, (app->nreaping + 1) * sizeof(*v));
	if (v) {
		if (!app->nreaping)
			app->reaping_since_ms = tui_term_now_ms();
		app->reaping = v;
		app->reaping[app->nreaping++] = (struct tui_reaping){ scan, old };
		return;
	}
	/* out of memory: waited for a moment, as the workers see the cancel
	 * at their next chunk; one stuck in a read keeps old (never freed) */
	struct timespec deadline;
	tui_deadline_in_ms(&deadline, 250);
	if (dv_scan_stop_until(scan, &deadline))
		retire_after_scan(app, NULL, old);
}

void tui_listing_reap(tui_app *app)
{
	size_t k = 0;

	for (size_t i = 0; i < app->nreaping; i++) {
		struct tui_reaping r = app->reaping[i];

		if (dv_scan_reap(r.scan))
			retire_after_scan(app, NULL, r.cmp);
		else
			app->reaping[k++] = r;
	}
	app->nreaping = k;
	if (!k) {
		free(app->reaping);
		app->reaping = NULL;
	}
}

bool tui_listing_reap_until(tui_app *app, const struct timespec *deadline)
{
	bool all = true;

	for (size_t i = 0; i < app->nreaping; i++) {
		if (dv_scan_stop_until(app->reaping[i].scan, deadline))
			dv_comparison_free(app->reaping[i].cmp);
		else
			all = false; /* its workers are detached: it stays */
	}
	free(app->reaping);
	app->reaping = NULL;
	app->nreaping = 0;
	return all;
}

/* Swaps l's comparison in for app->cmp (see tui_listing_service); false
 * when the job thread is busy (nothing changed: try again later). What is
 * O(pairs) was built on the listing thread (the tree, multi_rank); here
 * the results move in one pass and the tree takes the old one's state. */
static bool swap_in(tui_app *app, tui_listed *l, bool final)
{
	dv_comparison *old = app->cmp, *c = l->cmp;
	size_t old_n = old->npairs, old_ng = app->tree.ngroups;
	dv_error e;

	dv_error_clear(&e);
	/* not built on the listing thread (out of memory there): here */
	if (!l->tree.cmp && tui_tree_init(&l->tree, c, &e) != 0) {
		/* out of memory: the explorer goes on with what it has */
		listed_free(l);
		tui_state_message(app, true, "%s", e.msg);
		return true;
	}
	if (!tui_jobs_swap_cmp(&app->jobs, c))
		return false;
	/* The scan's workers point into the old comparison: told to stop, not
	 * waited for (a worker sees it at its next chunk, one busy reading
	 * from a slow file system later): the old comparison is freed once
	 * they have ended (tui_listing_reap). Meanwhile they claim no pair,
	 * and the adoption below moves finished pairs only: one they still
	 * compute stays pending in the new comparison and is computed again. */
	bool scanning = app->scan != NULL;
	dv_scan *old_scan = NULL;
	if (scanning) {
		old_scan = dv_comparison_scan_release(old);
		app->scan = NULL;
	}
	/* the pass rule first: the results moved then keep their first
	 * divergence and phase totals */
	if (old->has_threshold)
		dv_comparison_set_threshold(c, old->threshold);
	if (dv_comparison_rules(old) && dv_comparison_set_rules(c, (dv_rules *)dv_comparison_rules(old), &e) != 0)
		tui_state_message(app, true, "%s", e.msg);
	/* the phase totals counted now carry over when every finished pair
	 * moves (they do, but for a smart alignment's) */
	dv_counts oc;
	dv_comparison_counts(old, &oc);
	tui_tree_mark_totals(&app->tree, true);
	bool alike = dv_comparison_rules(c) == dv_comparison_rules(old) &&
		     (dv_comparison_threshold(c) == dv_comparison_threshold(old) ||
		      (isnan(dv_comparison_threshold(c)) && isnan(dv_comparison_threshold(old))));
	if (dv_comparison_adopt(c, old) != oc.done + oc.cancelled || !alike)
		tui_tree_mark_totals(&app->tree, false);
	app->cmp = c;
	app->multi_rank |= l->multi_rank;
	pthread_mutex_lock(&app->listing->mu);
	app->listing->shown_npairs = c->npairs;
	pthread_mutex_unlock(&app->listing->mu);
	tui_tree *nt = &l->tree;
	/* the filter on the pairs new to the tree: matched on the listing
	 * thread when that was the filter shown now, under the same labels */
	if (app->filter_re) {
		pthread_mutex_lock(&app->listing->mu);
		bool matched = l->filter_hidden && l->filter_gen == app->listing->filter_gen &&
			       app->listing->filter_pattern && !strcmp(app->listing->filter_pattern, app->filter) &&
			       l->filter_from <= old_n && l->multi_rank == app->multi_rank;
		pthread_mutex_unlock(&app->listing->mu);
		for (size_t i = old_n; i < c->npairs; i++)
			nt->hidden[i] = matched ? l->filter_hidden[i - l->filter_from] :
				       tui_state_pair_matches(app, app->filter_re, i) != DV_REGEX_MATCH;
		/* as the filter does: the groups holding matches open */
		for (size_t g = old_ng; g < nt->ngroups; g++) {
			const tgroup *gr = &nt->groups[g];
			for (size_t i = gr->first; i < gr->first + gr->count; i++)
				if (!nt->hidden[i])
					nt->groups[g].open = true;
		}
	}
	app->tree.filtering = app->filter_re != NULL;
	tui_tree_adopt_built(&app->tree, nt);
	l->cmp = NULL;
	free(l->filter_hidden);
	l->filter_hidden = NULL;
	retire_after_scan(app, old_scan, old);
	if (scanning) {
		app->scan = dv_comparison_scan_start(c, &app->mopts, final ? (int)app->nthreads : tui_listing_scan_threads(app),
						      app->scan_pipe[1]);
		if (app->scan && app->scan_paused)
			dv_scan_pause(app->scan, true);
	}
	app->fd_valid = false;
	app->gate_valid = false;
	app->warn_cached = false;
	app->last_prio_hash = 0;
	app->dirty = true;
	filter_message_update(app);
	return true;
}

/* The open failed after the first phases: the scan and the job thread are
 * stopped and nothing is drawn again before the runs may be freed; the
 * explorer then quits with the error. Workers stuck in a read cannot be
 * stopped: the process exits at once (the terminal restored). */
static void listing_failing(tui_app *app, tui_listing *ls)
{
	struct timespec deadline;
	tui_deadline_in_ms(&deadline, 1000);
	bool scan_ended = dv_comparison_scan_stop_until(app->cmp, &deadline);
	bool jobs_ended = tui_jobs_stop_until(&app->jobs, &deadline);
	bool reaped = tui_listing_reap_until(app, &deadline);
	app->scan = NULL;
	if (!scan_ended || !jobs_ended || !reaped) {
		tui_term_stop(app);
		fflush(NULL);
		fprintf(stderr, "dumpview: the listing failed\n");
		_exit(2);
	}
	app->quit = true;
	app->listing_failed = true;   /* nothing is drawn from here */
	/* a partial comparison taken, not swapped in: never drawn */
	listed_free(&ls->next);
	pthread_mutex_lock(&ls->mu);
	ls->released = true;
	pthread_cond_broadcast(&ls->cv);
	pthread_mutex_unlock(&ls->mu);
	/* its error comes with the end of the open */
	while (!atomic_load(&ls->done))
		poll(NULL, 0, 10);
}

void tui_listing_service(tui_app *app)
{
	tui_listing *ls = app->listing;
	if (!ls)
		return;
	tui_listing_sync_filter(app);
	tui_state_drain(ls->done_pipe[0]);
	pthread_mutex_lock(&ls->mu);
	bool failing = ls->failing && !ls->released;
	pthread_mutex_unlock(&ls->mu);
	if (failing)
		listing_failing(app, ls);
	for (;;) {
		if (!ls->next.cmp) {
			ls->next = listing_take(ls, &ls->next_final);
			if (!ls->next.cmp && !ls->next_final)
				return;
		}
		if (ls->next_final && !ls->next.cmp) {
			/* the listing failed after its first phases */
			snprintf(app->listing_err, sizeof(app->listing_err), "%s", ls->err.msg);
			app->listing_failed = true;
			app->quit = true;
			break;
		}
		if (!swap_in(app, &ls->next, ls->next_final))
			return;   /* the job thread is busy: the loop tries again */
		memset(&ls->next, 0, sizeof(ls->next));
		app->dirty = true;
		if (ls->next_final)
			break;
	}
	listing_end(ls);
	free(ls);
	app->listing = NULL;
}
