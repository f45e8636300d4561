/* The scan: a pool of workers computing matched pairs in execution order,
 * with a priority stack so the pair the user looks at jumps the queue. A
 * pair is claimed by moving its state PENDING -> RUNNING atomically, so the
 * workers and dv_pair_compute() from another thread never compute it twice. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dumpview/intern.h"
#include "dumpview/dump.h"
#include "dumpview/logical.h"
#include "dumpview/pt.h"
#include "dumpview/threadprio.h"
#include "internal.h"

#define MAX_THREADS 64

static dv_compare_fn compare_fn = dv_compare_files;

void dv_set_compare_fn(dv_compare_fn fn)
{
	compare_fn = fn ? fn : dv_compare_files;
}

/* One worker: its own cancel flag, so one pair's computation can be stopped
 * (the user's Esc) without stopping the others. */
typedef struct scan_worker {
	struct dv_scan *scan;
	pthread_t thread;
	atomic_int cancel;          /* stops its current computation */
	atomic_int user_cancel;     /* ...and it was the user: the pair ends CANCELLED */
	size_t pair;                /* under mu: the pair it computes, SIZE_MAX when none */
	atomic_llong done, total;   /* its progress through that pair, in elements */
} scan_worker;

struct dv_scan {
	dv_comparison *cmp;
	dv_metrics_opts opts;       /* the caller's; each worker points cancel at its own */
	atomic_int cancel;
	int notify_fd;
	scan_worker *workers;
	int nthreads;
	pthread_mutex_t mu;
	pthread_cond_t work_cv;     /* workers wait here while paused */
	pthread_cond_t idle_cv;     /* dv_scan_wait waits here for workers to finish */
	size_t cursor;              /* next pair in execution order to try */
	size_t *prio;               /* stack: the last prioritized first */
	size_t nprio, capprio;
	int active;                 /* workers still running */
	int njoined;                /* workers joined already (dv_scan_reap) */
	bool paused, stopping;
	/* Pairs [0, done_prefix) are DONE. A pair never leaves DONE, so the
	 * prefix only grows: asking whether the scan finished costs O(1)
	 * amortized instead of a walk over every pair. */
	atomic_size_t done_prefix;
};

/* Every kept result, one pool for the process (results move between
 * comparisons when the explorer adopts a new one) */
static dv_pool result_pool = DV_POOL_INIT(dv_pair_result);

dv_pair_result *dv_pair_result_slot(dv_pair *p)
{
	dv_pair_result *r;

	if (p->result && p->result != &dv_pair_result_none) {
		dv_pair_result_free(p->result);
		return p->result;
	}
	if (!(r = dv_pool_alloc(&result_pool)))
		return NULL;
	dv_result_reset(r);
	p->result = r;
	return r;
}

void dv_pair_result_release(dv_pair *p)
{
	if (p->result && p->result != &dv_pair_result_none) {
		dv_pair_result_free(p->result);
		dv_pool_free(&result_pool, p->result);
	}
	p->result = (dv_pair_result *)&dv_pair_result_none;
}

static bool claim(dv_pair *p)
{
	int expected = DV_PAIR_PENDING;

	return atomic_compare_exchange_strong(&p->state, &expected, DV_PAIR_RUNNING);
}

/* Computes a claimed pair. A cancelled result leaves it PENDING again, or
 * CANCELLED when the user stopped it (*user_cancel). */
static void compute_claimed(dv_pair *p, const dv_metrics_opts *opts, const atomic_int *user_cancel)
{
	int state = DV_PAIR_DONE;

	/* a logical tensor (several files, or dims to align) is read by the
	 * logical layer; a swapped compare function (tests, benchmarks) still
	 * gets every pair of one file a side */
	if (compare_fn == dv_compare_files || p->nbase > 1 || p->ntarg > 1)
		dv_logical_compute(p, opts);
	else if (dv_pair_result_slot(p)) {
		dv_path_buf bp, tp;

		compare_fn(dv_dumpfile_path(p->base, &bp), dv_dumpfile_path(p->targ, &tp), opts, p->result);
	}
	if (p->result->status == DV_RESULT_CANCELLED)
		state = user_cancel && atomic_load(user_cancel) ? DV_PAIR_CANCELLED : DV_PAIR_PENDING;
	/* the phase's counts first: a reader that sees DONE sees it counted */
	if (p->lctx) {
		dv_logical_ctx *c = (dv_logical_ctx *)p->lctx;

		if (state == DV_PAIR_DONE)
			atomic_fetch_add(&c->done, 1);
		else if (state == DV_PAIR_CANCELLED)
			atomic_fetch_add(&c->cancelled, 1);
		if (state == DV_PAIR_DONE && p->logical && p->logical->replica_mismatch)
			atomic_fetch_add(&c->replica_mismatches, 1);
	}
	atomic_store(&p->state, state);
	dv_pair_changed(p);
}

void dv_pair_compute_cancellable(dv_pair *pair, const dv_metrics_opts *opts, const atomic_int *user_cancel)
{
	for (;;) {
		int state = atomic_load(&pair->state);

		if (state == DV_PAIR_DONE || state == DV_PAIR_CANCELLED)
			return;
		if (state == DV_PAIR_PENDING && claim(pair)) {
			compute_claimed(pair, opts, user_cancel);
			return;
		}
		if (state == DV_PAIR_RUNNING) {
			/* Another thread has it: wait for its result, or a cancel. */
			struct timespec ts = {0, 1000000};

			if (opts && opts->cancel && atomic_load(opts->cancel))
				return;
			nanosleep(&ts, NULL);
		}
	}
}

void dv_pair_compute(dv_pair *pair, const dv_metrics_opts *opts)
{
	dv_pair_compute_cancellable(pair, opts, NULL);
}

void dv_pair_uncancel(dv_pair *pair)
{
	int expected = DV_PAIR_CANCELLED;

	if (atomic_compare_exchange_strong(&pair->state, &expected, DV_PAIR_PENDING) && pair->lctx) {
		atomic_fetch_sub(&((dv_logical_ctx *)pair->lctx)->cancelled, 1);
		dv_pair_changed(pair);
	}
}

/* Under mu: the next pair to compute, claimed; SIZE_MAX when none is left. */
static size_t next_pair(dv_scan *s)
{
	while (s->nprio) {
		size_t i = s->prio[--s->nprio];

		if (claim(&s->cmp->pairs[i]))
			return i;
	}
	while (s->cursor < s->cmp->npairs) {
		size_t i = s->cursor++;

		if (claim(&s->cmp->pairs[i]))
			return i;
	}
	/* Behind the cursor, a pair may be PENDING again (its computation
	 * elsewhere was cancelled): one last sweep before giving up. */
	for (size_t i = 0; i < s->cmp->npairs; i++)
		if (claim(&s->cmp->pairs[i]))
			return i;
	return SIZE_MAX;
}

static void notify(int fd)
{
	char byte = 1;
	ssize_t n;

	if (fd < 0)
		return;
	do
		n = write(fd, &byte, 1);
	while (n < 0 && errno == EINTR);
	/* A full non-blocking pipe already holds a wake-up: nothing is lost. */
}

static void worker_progress(void *ctx, int64_t done, int64_t total)
{
	scan_worker *w = ctx;

	atomic_store(&w->done, done);
	atomic_store(&w->total, total);
	if (w->scan->opts.progress)
		w->scan->opts.progress(w->scan->opts.progress_ctx, done, total);
}

static void *worker(void *arg)
{
	scan_worker *w = arg;
	dv_scan *s = w->scan;
	dv_metrics_opts opts = s->opts;

	opts.cancel = &w->cancel;
	opts.progress = worker_progress;
	opts.progress_ctx = w;
	dv_thread_background();
	pt_dircache_begin();
	pthread_mutex_lock(&s->mu);
	for (;;) {
		size_t i;

		while (s->paused && !s->stopping)
			pthread_cond_wait(&s->work_cv, &s->mu);
		if (s->stopping || (i = next_pair(s)) == SIZE_MAX)
			break;
		w->pair = i;
		atomic_store(&w->done, 0);
		atomic_store(&w->total, 0);
		pthread_mutex_unlock(&s->mu);
		compute_claimed(&s->cmp->pairs[i], &opts, &w->user_cancel);
		pthread_mutex_lock(&s->mu);
		w->pair = SIZE_MAX;
		/* A cancel for this pair only; stopping keeps cancel set. */
		if (!s->stopping)
			atomic_store(&w->cancel, 0);
		atomic_store(&w->user_cancel, 0);
		/* DONE, or CANCELLED by the user: either way the row changed. */
		if (atomic_load(&s->cmp->pairs[i].state) != DV_PAIR_PENDING)
			notify(s->notify_fd);
	}
	s->active--;
	pthread_cond_broadcast(&s->idle_cv);
	pthread_mutex_unlock(&s->mu);
	pt_dircache_end();
	return NULL;
}

dv_scan *dv_scan_start(dv_comparison *cmp, const dv_metrics_opts *opts, int nthreads, int notify_fd)
{
	dv_scan *s = calloc(1, sizeof(*s));
	size_t pending = 0;

	if (!s)
		return NULL;
	s->cmp = cmp;
	s->opts = opts ? *opts : dv_metrics_opts_default();
	atomic_init(&s->cancel, 0);
	atomic_init(&s->done_prefix, 0);
	s->opts.cancel = &s->cancel;
	s->notify_fd = notify_fd;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->work_cv, NULL);
	pthread_cond_init(&s->idle_cv, NULL);
	if (nthreads <= 0)
		nthreads = dv_usable_cpus(); /* taskset, cpusets: not all online */
	if (nthreads > MAX_THREADS)
		nthreads = MAX_THREADS;
	/* no more workers than pending pairs: counted only that far (a scan
	 * started again on 300 k pairs between two frames) */
	for (size_t i = 0; i < cmp->npairs && pending < (size_t)nthreads; i++)
		if (atomic_load(&cmp->pairs[i].state) == DV_PAIR_PENDING)
			pending++;
	if ((size_t)nthreads > pending)
		nthreads = (int)pending;
	s->workers = calloc(nthreads ? (size_t)nthreads : 1, sizeof(*s->workers));
	if (!s->workers) {
		nthreads = 0;
	}
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < nthreads; i++) {
		scan_worker *w = &s->workers[s->nthreads];

		w->scan = s;
		w->pair = SIZE_MAX;
		atomic_init(&w->cancel, 0);
		atomic_init(&w->user_cancel, 0);
		if (pthread_create(&w->thread, NULL, worker, w))
			break; /* fewer workers; dv_scan_wait computes what they leave */
		s->nthreads++;
		s->active++;
	}
	pthread_mutex_unlock(&s->mu);
	return s;
}

bool dv_scan_prioritize(dv_scan *s, size_t pair_index)
{
	bool queued = false;

	if (!s || pair_index >= s->cmp->npairs)
		return false;
	if (atomic_load(&s->cmp->pairs[pair_index].state) != DV_PAIR_PENDING)
		return true; /* nothing to do: computed, being computed or cancelled */
	pthread_mutex_lock(&s->mu);
	if (s->active == 0 || s->stopping)
		goto out; /* no worker left to take it */
	if (s->nprio == s->capprio) {
		size_t cap = s->capprio ? s->capprio * 2 : 64;
		size_t *grown = realloc(s->prio, cap * sizeof(*grown));

		if (!grown)
			goto out;
		s->prio = grown;
		s->capprio = cap;
	}
	s->prio[s->nprio++] = pair_index;
	queued = true;
out:
	pthread_mutex_unlock(&s->mu);
	return queued;
}

bool dv_scan_cancel_pair(dv_scan *s, size_t pair_index)
{
	bool found = false;

	if (!s)
		return false;
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < s->nthreads; i++) {
		scan_worker *w = &s->workers[i];

		if (w->pair == pair_index) {
			atomic_store(&w->user_cancel, 1);
			atomic_store(&w->cancel, 1);
			found = true;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return found;
}

bool dv_scan_pair_progress(dv_scan *s, size_t pair_index, int64_t *done, int64_t *total)
{
	bool found = false;

	if (!s)
		return false;
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < s->nthreads && !found; i++) {
		scan_worker *w = &s->workers[i];

		if (w->pair == pair_index && atomic_load(&w->total) > 0) {
			*done = atomic_load(&w->done);
			*total = atomic_load(&w->total);
			found = true;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return found;
}

bool dv_scan_running(dv_scan *s)
{
	bool running;

	if (!s)
		return false;
	pthread_mutex_lock(&s->mu);
	running = s->active > 0 && !s->paused && !s->stopping;
	pthread_mutex_unlock(&s->mu);
	return running;
}

void dv_scan_pause(dv_scan *s, bool paused)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->paused = paused;
	pthread_cond_broadcast(&s->work_cv);
	pthread_mutex_unlock(&s->mu);
}

/* Moves the done prefix over the pairs finished since; returns it. */
static size_t advance_done_prefix(const dv_scan *s)
{
	/* the hint is a cache, not state the caller sees: const is kept */
	atomic_size_t *hint = (atomic_size_t *)&s->done_prefix;
	size_t i = atomic_load(hint);

	while (i < s->cmp->npairs && atomic_load(&s->cmp->pairs[i].state) == DV_PAIR_DONE)
		i++;
	atomic_store(hint, i);
	return i;
}

size_t dv_scan_done(const dv_scan *s)
{
	size_t done;

	if (!s)
		return 0;
	done = advance_done_prefix(s);
	for (size_t i = done; i < s->cmp->npairs; i++)
		if (atomic_load(&s->cmp->pairs[i].state) == DV_PAIR_DONE)
			done++;
	return done;
}

bool dv_scan_finished(const dv_scan *s)
{
	if (!s)
		return false;
	for (size_t i = advance_done_prefix(s); i < s->cmp->npairs; i++) {
		int state = atomic_load(&s->cmp->pairs[i].state);

		if (state != DV_PAIR_DONE && state != DV_PAIR_CANCELLED)
			return false;
	}
	return true;
}

void dv_scan_wait(dv_scan *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->paused = false;
	pthread_cond_broadcast(&s->work_cv);
	while (s->active > 0)
		pthread_cond_wait(&s->idle_cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	/* What the workers could not take (being computed elsewhere, or given
	 * back by a cancelled computation): finish it here. */
	for (size_t i = 0; i < s->cmp->npairs && !atomic_load(&s->cancel); i++)
		dv_pair_compute(&s->cmp->pairs[i], &s->opts);
}

/* Tells every worker to stop (idempotent): none claims another pair, and
 * the one each computes is cancelled at its next chunk. */
static void request_stop(dv_scan *s)
{
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_broadcast(&s->work_cv);
	atomic_store(&s->cancel, 1);
	for (int i = 0; i < s->nthreads; i++)
		atomic_store(&s->workers[i].cancel, 1);
	pthread_mutex_unlock(&s->mu);
}

static void scan_free(dv_scan *s)
{
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->work_cv);
	pthread_cond_destroy(&s->idle_cv);
	free(s->workers);
	free(s->prio);
	free(s);
}

void dv_scan_stop_request(dv_scan *s)
{
	if (s)
		request_stop(s);
}

bool dv_scan_reap(dv_scan *s)
{
	if (!s)
		return true;
	request_stop(s);
	for (; s->njoined < s->nthreads; s->njoined++)
		if (pthread_tryjoin_np(s->workers[s->njoined].thread, NULL) != 0)
			return false;
	scan_free(s);
	return true;
}

bool dv_scan_stop_until(dv_scan *s, const struct timespec *deadline)
{
	if (!s)
		return true;
	request_stop(s);
	for (int i = s->njoined; i < s->nthreads; i++) {
		/* A worker stuck in a read (a hung network file system) never
		 * sees the cancel: past the deadline the scan is left running
		 * and not freed, for a caller that is about to exit. */
		if (deadline && pthread_timedjoin_np(s->workers[i].thread, NULL, deadline) != 0) {
			for (int k = i; k < s->nthreads; k++)
				pthread_detach(s->workers[k].thread);
			return false;
		}
		if (!deadline)
			pthread_join(s->workers[i].thread, NULL);
	}
	scan_free(s);
	return true;
}

void dv_scan_stop(dv_scan *s)
{
	dv_scan_stop_until(s, NULL);
}
