/* One pass over a large pair on several threads. Each chunk's arithmetic
 * writes only its own partial result (indexed by chunk) or per-thread
 * integer counts; the caller merges the partials in chunk order afterwards,
 * so the result does not depend on which thread took which chunk, nor on
 * how many there were.
 *
 * Threads come from opts->threads (2 or more: that many, started for the
 * pass) or, by default, from one process-wide pool of helpers, one per
 * usable CPU but one. A helper joins an open pass only while fewer threads
 * compute than there are CPUs (every caller of the metrics counts itself
 * with dv_par_enter/dv_par_leave), and leaves it between two chunks when
 * that no longer holds: a scan keeping every core busy with pairs gets no
 * helpers, a big pair left alone at its end gets all of them. */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dumpview/threadprio.h"
#include "internal.h"

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cv = PTHREAD_COND_INITIALIZER;  /* helpers: a pass opened, a thread left */
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;  /* owners: a helper left their pass */
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static dv_par_job *pool_jobs;                              /* open passes (pool_mu) */
static atomic_int pool_njobs;
static atomic_int pool_running;                            /* threads computing metrics */
static atomic_int pool_helpers;                            /* helpers started */
static atomic_int pool_ncpu = 1;                           /* cores the pool fills */


int dv_par_cpus(void)
{
	static atomic_int cpus;
	int n = atomic_load(&cpus);

	if (!n) {
		n = dv_usable_cpus();
		atomic_store(&cpus, n);
	}
	return n;
}

void dv_par_enter(void)
{
	atomic_fetch_add(&pool_running, 1);
}

void dv_par_leave(void)
{
	atomic_fetch_sub(&pool_running, 1);
	/* a core came free: an open pass may take a helper now */
	if (atomic_load(&pool_njobs) > 0) {
		pthread_mutex_lock(&pool_mu);
		pthread_cond_broadcast(&pool_cv);
		pthread_mutex_unlock(&pool_mu);
	}
}

static void job_fail(dv_par_job *j, int64_t k, int why, const dv_error *e)
{
	pthread_mutex_lock(&j->mu);
	/* the lowest failing chunk's reason, as a serial pass would give */
	if (k < j->fail_k) {
		j->fail_k = k;
		j->fail_why = why;
		if (e)
			j->err = *e;
	}
	atomic_store(&j->stop_at, j->fail_k);
	pthread_mutex_unlock(&j->mu);
}

/* One thread's share: chunks claimed in increasing order until none is left. */
static void lane_run(dv_par_job *j, bool owner, bool helper)
{
	void *lane = j->lane_new(j->ctx);

	if (!lane) {
		dv_error e;

		dv_error_set(&e, "%s: out of memory", j->name ? j->name : "metrics");
		job_fail(j, -1, -1, &e);
		return;
	}
	for (;;) {
		int64_t k = atomic_fetch_add(&j->next, 1);

		if (k >= j->nchunks || k > atomic_load(&j->stop_at))
			break;
		if (dv_metrics_cancelled(j->opts)) {
			job_fail(j, k, DV_WALK_CANCELLED, NULL);
			break;
		}
		dv_error e;

		if (j->chunk(j->ctx, lane, k, &e) < 0) {
			job_fail(j, k, -1, &e);
			break;
		}
		int64_t cnt = j->unit_len                        ? j->unit_len(j->ctx, k)
			      : j->numel - k * DV_CHUNK < DV_CHUNK ? j->numel - k * DV_CHUNK
								   : DV_CHUNK;
		int64_t done = atomic_fetch_add(&j->done, cnt) + cnt;

		if (owner && j->opts && j->opts->progress)
			j->opts->progress(j->opts->progress_ctx, j->done_base + done, j->total);
		if (helper && atomic_load(&pool_running) > pool_ncpu)
			break; /* more threads than cores now: leave the rest to the owner */
	}
	pthread_mutex_lock(&j->mu);
	j->lane_done(j->ctx, lane);
	pthread_mutex_unlock(&j->mu);
}

static void *helper_main(void *arg)
{
	(void)arg;
	dv_thread_background();
	pthread_mutex_lock(&pool_mu);
	for (;;) {
		dv_par_job *j = NULL;

		if (atomic_load(&pool_running) < pool_ncpu)
			for (j = pool_jobs; j; j = j->next_job)
				if (atomic_load(&j->next) < j->nchunks && atomic_load(&j->stop_at) == INT64_MAX)
					break;
		if (!j) {
			pthread_cond_wait(&pool_cv, &pool_mu);
			continue;
		}
		j->participants++;
		atomic_fetch_add(&pool_running, 1);
		pthread_mutex_unlock(&pool_mu);
		lane_run(j, false, true);
		pthread_mutex_lock(&pool_mu);
		atomic_fetch_sub(&pool_running, 1);
		if (--j->participants == 0)
			pthread_cond_broadcast(&done_cv);
	}
	return NULL;
}

static void pool_init(void)
{
	pthread_attr_t attr;
	int n = dv_par_cpus();

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* the default stack: a smaller one fails to start (EINVAL) when the
	 * thread-local tables (quantile keys) do not fit beside it */
	/* set before any helper reads it; a helper that cannot be started
	 * leaves its core to the callers */
	atomic_store(&pool_ncpu, n);
	for (int i = 1; i < n; i++) {
		pthread_t t;

		if (pthread_create(&t, &attr, helper_main, NULL))
			break;
		atomic_fetch_add(&pool_helpers, 1);
	}
	pthread_attr_destroy(&attr);
}

static void *explicit_main(void *arg)
{
	lane_run(arg, false, false);
	return NULL;
}

int dv_par_pool_helpers(void)
{
	return atomic_load(&pool_helpers);
}

int dv_par_threads(const dv_metrics_opts *o, int64_t numel)
{
	int64_t nchunks = (numel + DV_CHUNK - 1) / DV_CHUNK;
	int want = o ? o->threads : 0;

	if (want == 1 || nchunks < 2)
		return 1;
	if (want >= 2)
		return want;
	if (nchunks < DV_PAR_MIN_CHUNKS || dv_par_cpus() < 2)
		return 1;
	return 0; /* the pool */
}

int dv_par_run(dv_par_job *j, int threads, dv_error *err)
{
	j->nchunks = j->unit_len ? j->nunits : (j->numel + DV_CHUNK - 1) / DV_CHUNK;
	atomic_init(&j->next, 0);
	atomic_init(&j->done, 0);
	atomic_init(&j->stop_at, INT64_MAX);
	j->fail_k = INT64_MAX;
	j->fail_why = 0;
	j->participants = 0;
	j->next_job = NULL;
	pthread_mutex_init(&j->mu, NULL);

	if (threads >= 2) {
		pthread_t *t = calloc((size_t)threads - 1, sizeof(*t));
		int started = 0;

		for (int i = 0; t && i < threads - 1; i++, started++)
			if (pthread_create(&t[i], NULL, explicit_main, j))
				break;
		lane_run(j, true, false);
		for (int i = 0; i < started; i++)
			pthread_join(t[i], NULL);
		free(t);
	} else {
		pthread_once(&pool_once, pool_init);
		pthread_mutex_lock(&pool_mu);
		j->participants = 1;
		j->next_job = pool_jobs;
		pool_jobs = j;
		atomic_fetch_add(&pool_njobs, 1);
		pthread_cond_broadcast(&pool_cv);
		pthread_mutex_unlock(&pool_mu);

		lane_run(j, true, false);

		pthread_mutex_lock(&pool_mu);
		for (dv_par_job **p = &pool_jobs; *p; p = &(*p)->next_job)
			if (*p == j) {
				*p = j->next_job;
				break;
			}
		atomic_fetch_sub(&pool_njobs, 1);
		j->participants--;
		while (j->participants > 0)
			pthread_cond_wait(&done_cv, &pool_mu);
		pthread_mutex_unlock(&pool_mu);
	}
	pthread_mutex_destroy(&j->mu);
	if (j->fail_k == INT64_MAX)
		return DV_WALK_DONE;
	if (j->fail_why == DV_WALK_CANCELLED)
		return DV_WALK_CANCELLED;
	if (err)
		*err = j->err;
	return -1;
}
