/* The scan: a pool of workers computing matched pairs in execution order,
 * with a priority stack so the pair the user looks at jumps the queue. A
 * pair is claimed by moving its state PENDING -> RUNNING atomically, so the
 * workers and dv_pair_compute() from another thread never compute it twice. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dumpview/dump.h"

#define MAX_THREADS 64

static dv_compare_fn compare_fn = dv_compare_files;

void dv_set_compare_fn(dv_compare_fn fn)
{
	compare_fn = fn ? fn : dv_compare_files;
}

struct dv_scan {
	dv_comparison *cmp;
	dv_metrics_opts opts;       /* the caller's, with cancel pointing at ours */
	atomic_int cancel;
	int notify_fd;
	pthread_t *threads;
	int nthreads;
	pthread_mutex_t mu;
	pthread_cond_t work_cv;     /* workers wait here while paused */
	pthread_cond_t idle_cv;     /* dv_scan_wait waits here for workers to finish */
	size_t cursor;              /* next pair in execution order to try */
	size_t *prio;               /* stack: the last prioritized first */
	size_t nprio, capprio;
	int active;                 /* workers still running */
	bool paused, stopping;
	/* Pairs [0, done_prefix) are DONE. A pair never leaves DONE, so the
	 * prefix only grows: asking whether the scan finished costs O(1)
	 * amortized instead of a walk over every pair. */
	atomic_size_t done_prefix;
};

static bool claim(dv_pair *p)
{
	int expected = DV_PAIR_PENDING;

	return atomic_compare_exchange_strong(&p->state, &expected, DV_PAIR_RUNNING);
}

/* Computes a claimed pair; a cancelled result leaves it PENDING again. */
static void compute_claimed(dv_pair *p, const dv_metrics_opts *opts)
{
	memset(&p->result, 0, sizeof(p->result));
	compare_fn(p->base->path, p->targ->path, opts, &p->result);
	atomic_store(&p->state, p->result.status == DV_RESULT_CANCELLED ? DV_PAIR_PENDING : DV_PAIR_DONE);
}

void dv_pair_compute(dv_pair *pair, const dv_metrics_opts *opts)
{
	for (;;) {
		int state = atomic_load(&pair->state);

		if (state == DV_PAIR_DONE)
			return;
		if (state == DV_PAIR_PENDING && claim(pair)) {
			compute_claimed(pair, opts);
			return;
		}
		if (state == DV_PAIR_RUNNING) {
			/* Another thread has it: wait for its result. */
			struct timespec ts = {0, 1000000};

			nanosleep(&ts, NULL);
		}
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

static void *worker(void *arg)
{
	dv_scan *s = arg;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		size_t i;

		while (s->paused && !s->stopping)
			pthread_cond_wait(&s->work_cv, &s->mu);
		if (s->stopping || (i = next_pair(s)) == SIZE_MAX)
			break;
		pthread_mutex_unlock(&s->mu);
		compute_claimed(&s->cmp->pairs[i], &s->opts);
		if (atomic_load(&s->cmp->pairs[i].state) == DV_PAIR_DONE)
			notify(s->notify_fd);
		pthread_mutex_lock(&s->mu);
	}
	s->active--;
	pthread_cond_broadcast(&s->idle_cv);
	pthread_mutex_unlock(&s->mu);
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
	for (size_t i = 0; i < cmp->npairs; i++)
		if (atomic_load(&cmp->pairs[i].state) == DV_PAIR_PENDING)
			pending++;
	if (nthreads <= 0) {
		/* the CPUs this process may run on (taskset, cpusets), not all online */
		cpu_set_t set;
		long cores = sched_getaffinity(0, sizeof(set), &set) ? sysconf(_SC_NPROCESSORS_ONLN) : CPU_COUNT(&set);

		nthreads = cores > 0 ? (int)cores : 1;
	}
	if (nthreads > MAX_THREADS)
		nthreads = MAX_THREADS;
	if ((size_t)nthreads > pending)
		nthreads = (int)pending;
	s->threads = calloc(nthreads ? (size_t)nthreads : 1, sizeof(*s->threads));
	if (!s->threads) {
		nthreads = 0;
	}
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < nthreads; i++) {
		if (pthread_create(&s->threads[s->nthreads], NULL, worker, s))
			break; /* fewer workers; dv_scan_wait computes what they leave */
		s->nthreads++;
		s->active++;
	}
	pthread_mutex_unlock(&s->mu);
	return s;
}

void dv_scan_prioritize(dv_scan *s, size_t pair_index)
{
	if (!s || pair_index >= s->cmp->npairs ||
	    atomic_load(&s->cmp->pairs[pair_index].state) != DV_PAIR_PENDING)
		return;
	pthread_mutex_lock(&s->mu);
	if (s->nprio == s->capprio) {
		size_t cap = s->capprio ? s->capprio * 2 : 64;
		size_t *grown = realloc(s->prio, cap * sizeof(*grown));

		if (!grown) {
			pthread_mutex_unlock(&s->mu);
			return;
		}
		s->prio = grown;
		s->capprio = cap;
	}
	s->prio[s->nprio++] = pair_index;
	pthread_mutex_unlock(&s->mu);
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
	return s && advance_done_prefix(s) == s->cmp->npairs;
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

void dv_scan_stop(dv_scan *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_broadcast(&s->work_cv);
	pthread_mutex_unlock(&s->mu);
	atomic_store(&s->cancel, 1);
	for (int i = 0; i < s->nthreads; i++)
		pthread_join(s->threads[i], NULL);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->work_cv);
	pthread_cond_destroy(&s->idle_cv);
	free(s->threads);
	free(s->prio);
	free(s);
}
