/* The scan's worker pool with a stand-in comparator (dv_set_compare_fn):
 * every matched pair computed exactly once, in execution order, a pair that
 * jumps the queue, pause, stop while computing (cancel), dv_pair_compute
 * from another thread, one notify byte per finished pair. No timing: the
 * stand-in blocks on a gate the test opens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "dumpview/comparison.h"
#include "dumpview/dump.h"
#include "dumpview/threadprio.h"

static char tmproot[256];

/* ---- the stand-in comparator ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bool gate_closed;      /* calls block while closed */
static int gate_limit;        /* ...but only the first gate_limit calls */
static const char *gate_name; /* ...and calls for a file name holding this */
static const char *track_name; /* the thread that computed this file */
static pthread_t track_thread;
static bool until_cancel;     /* calls spin until opts->cancel, then report CANCELLED */
static const char *spin_name; /* ...or only calls for a file name holding this,
				 after reporting progress 1 of 2 */
static int entered;           /* calls started */
static int calls_done;
static char order[64][512];   /* targ paths in the order computed */
static int stub_nice;         /* the nice value of the thread of the last call */

static void reset_stub(void)
{
	pthread_mutex_lock(&mu);
	gate_closed = false;
	gate_limit = 0;
	gate_name = track_name = NULL;
	until_cancel = false;
	spin_name = NULL;
	entered = calls_done = 0;
	pthread_mutex_unlock(&mu);
}

static int stub_compare(const char *base_path, const char *targ_path, const dv_metrics_opts *opts,
			dv_pair_result *result)
{
	int me;

	(void)base_path;
	pthread_mutex_lock(&mu);
	me = entered++;
	pthread_cond_broadcast(&cv);
	while (gate_closed && (me < gate_limit || (gate_name && strstr(targ_path, gate_name))))
		pthread_cond_wait(&cv, &mu);
	if (track_name && strstr(targ_path, track_name))
		track_thread = pthread_self();
	pthread_mutex_unlock(&mu);
	if (until_cancel || (spin_name && strstr(targ_path, spin_name))) {
		if (opts->progress)
			opts->progress(opts->progress_ctx, 1, 2);
		while (!atomic_load(opts->cancel))
			sched_yield();
		result->status = DV_RESULT_CANCELLED;
		return 0;
	}
	stub_nice = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
	result->status = DV_RESULT_COMPARED;
	result->passed = !strstr(targ_path, "bad");
	result->rel_diff = result->passed ? 0 : 0.5;
	pthread_mutex_lock(&mu);
	snprintf(order[calls_done++ % 64], sizeof(order[0]), "%s", strrchr(targ_path, '/') + 1);
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	return 0;
}

static void wait_entered(int n)
{
	pthread_mutex_lock(&mu);
	while (entered < n)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
}

static void open_gate(void)
{
	pthread_mutex_lock(&mu);
	gate_closed = false;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

/* ---- fixtures ---- */

static void touch(const char *rel)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmproot, rel);
	for (char *p = path + strlen(tmproot) + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
		*p = '/';
	}
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* 12 matched pairs in fwd_only (the 6th and 9th fail), 1 baseline-only file. */
#define NMATCHED 12
static int setup(void **state)
{
	char rel[256];

	(void)state;
	snprintf(tmproot, sizeof(tmproot), "%s/dvscan.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmproot))
		return -1;
	for (int i = 1; i <= NMATCHED; i++) {
		const char *name = i == 6 || i == 9 ? "bad" : "ok";

		snprintf(rel, sizeof(rel), "b/fwd_only/dump_index=%d___name=%s%d.pt", i, name, i);
		touch(rel);
		snprintf(rel, sizeof(rel), "t/fwd_only/dump_index=%d___name=%s%d.pt", i, name, i);
		touch(rel);
	}
	touch("b/fwd_only/dump_index=99___name=extra.pt");
	dv_set_compare_fn(stub_compare);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	dv_set_compare_fn(NULL);
	return nftw(tmproot, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static dv_comparison *build(void)
{
	char b[300], t[300];
	dv_error err = {{0}};
	dv_run *rb, *rt;
	dv_comparison *cmp;

	snprintf(b, sizeof(b), "%s/b", tmproot);
	snprintf(t, sizeof(t), "%s/t", tmproot);
	rb = dv_run_open(b, NULL, &err);
	rt = dv_run_open(t, NULL, &err);
	assert_non_null(rb);
	assert_non_null(rt);
	cmp = dv_comparison_build(rb, rt, NULL, &err);
	assert_non_null(cmp);
	assert_int_equal(cmp->npairs, NMATCHED + 1);
	reset_stub();
	return cmp;
}

static dv_metrics_opts opts(void)
{
	dv_metrics_opts o;

	memset(&o, 0, sizeof(o));
	o.threshold = 1e-3;
	return o;
}

static int drain(int fd)
{
	char buf[256];
	int n = 0;
	ssize_t r;

	while ((r = read(fd, buf, sizeof(buf))) > 0)
		n += (int)r;
	return n;
}

static void test_scan_all(void **state)
{
	dv_comparison *cmp = build();
	dv_metrics_opts o = opts();
	int fds[2];
	dv_scan *scan;
	bool known;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
	/* before: only the unmatched file counts as done */
	assert_int_equal(dv_first_divergence(cmp, &known), -1);
	assert_false(known);
	scan = dv_scan_start(cmp, &o, 2, fds[1]);
	assert_non_null(scan);
	dv_scan_wait(scan);
	assert_true(dv_scan_finished(scan));
	assert_int_equal(dv_scan_done(scan), NMATCHED + 1);
	assert_int_equal(calls_done, NMATCHED); /* each once; the unmatched file never */
	assert_int_equal(drain(fds[0]), NMATCHED);
	assert_int_equal(dv_first_divergence(cmp, &known), 5);
	assert_true(known);
	assert_string_equal(cmp->pairs[5].name, "bad6");
	for (size_t i = 0; i < cmp->npairs; i++)
		assert_int_equal(atomic_load(&cmp->pairs[i].state), DV_PAIR_DONE);
	dv_scan_stop(scan);
	close(fds[0]);
	close(fds[1]);
	dv_comparison_free(cmp);
}

static void test_scan_priority(void **state)
{
	dv_comparison *cmp = build();
	dv_metrics_opts o = opts();
	dv_scan *scan;
	size_t last = NMATCHED - 1;

	(void)state;
	assert_int_equal(cmp->pairs[last].kind, DV_PAIR_MATCHED);
	gate_closed = true;
	gate_limit = 1;
	scan = dv_scan_start(cmp, &o, 1, -1);
	wait_entered(1); /* the one worker holds pair 0 */
	dv_scan_prioritize(scan, 7);
	dv_scan_prioritize(scan, last); /* the last asked goes first */
	dv_scan_prioritize(scan, NMATCHED); /* unmatched: ignored */
	open_gate();
	dv_scan_wait(scan);
	assert_int_equal(calls_done, NMATCHED);
	assert_string_equal(order[0], "dump_index=1___name=ok1.pt");
	assert_string_equal(order[1], "dump_index=12___name=ok12.pt");
	assert_string_equal(order[2], "dump_index=8___name=ok8.pt");
	assert_string_equal(order[3], "dump_index=2___name=ok2.pt");
	assert_string_equal(order[NMATCHED - 1], "dump_index=11___name=ok11.pt");
	dv_scan_stop(scan);
	dv_comparison_free(cmp);
}

static void test_scan_pause(void **state)
{
	dv_comparison *cmp = build();
	dv_metrics_opts o = opts();
	int fds[2];
	char byte;
	dv_scan *scan;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	gate_closed = true;
	gate_limit = 1;
	scan = dv_scan_start(cmp, &o, 1, fds[1]);
	wait_entered(1);
	dv_scan_pause(scan, true);
	open_gate();
	assert_int_equal(read(fds[0], &byte, 1), 1); /* pair 0 finished */
	/* paused: the worker takes nothing more */
	assert_int_equal(dv_scan_done(scan), 2);
	assert_false(dv_scan_finished(scan));
	assert_int_equal(entered, 1);
	dv_scan_pause(scan, false);
	dv_scan_wait(scan);
	assert_true(dv_scan_finished(scan));
	assert_int_equal(calls_done, NMATCHED);
	dv_scan_stop(scan);
	close(fds[0]);
	close(fds[1]);
	dv_comparison_free(cmp);
}

static void test_scan_stop_cancels(void **state)
{
	dv_comparison *cmp = build();
	dv_metrics_opts o = opts();
	dv_scan *scan;

	(void)state;
	until_cancel = true;
	scan = dv_scan_start(cmp, &o, 2, -1);
	wait_entered(2); /* both workers are inside a computation */
	dv_scan_stop(scan);
	/* cancelled pairs go back to PENDING; nothing is left RUNNING */
	for (size_t i = 0; i < NMATCHED; i++)
		assert_int_equal(atomic_load(&cmp->pairs[i].state), DV_PAIR_PENDING);
	assert_int_equal(calls_done, 0);
	/* a later scan computes them */
	until_cancel = false;
	scan = dv_scan_start(cmp, &o, 2, -1);
	dv_scan_wait(scan);
	assert_true(dv_scan_finished(scan));
	assert_int_equal(calls_done, NMATCHED);
	dv_scan_stop(scan);
	dv_comparison_free(cmp);
}

static void test_stop_at_once_and_compute_elsewhere(void **state)
{
	dv_comparison *cmp = build();
	dv_metrics_opts o = opts();
	dv_scan *scan;

	(void)state;
	/* stopped right away: whatever ran is DONE, the rest PENDING, none RUNNING */
	scan = dv_scan_start(cmp, &o, 2, -1);
	dv_scan_stop(scan);
	for (size_t i = 0; i < NMATCHED; i++)
		assert_int_not_equal(atomic_load(&cmp->pairs[i].state), DV_PAIR_RUNNING);
	for (size_t i = 0; i < NMATCHED; i++)
		dv_pair_compute(&cmp->pairs[i], &o);
	assert_int_equal(calls_done, NMATCHED);

	/* dv_pair_compute from this thread while the scan's worker is busy */
	dv_comparison_free(cmp);
	cmp = build();
	gate_closed = true;
	gate_limit = 1;
	scan = dv_scan_start(cmp, &o, 1, -1);
	wait_entered(1);
	dv_pair_compute(&cmp->pairs[4], &o);
	assert_int_equal(atomic_load(&cmp->pairs[4].state), DV_PAIR_DONE);
	assert_false(cmp->pairs[4].result->passed == false);
	dv_pair_compute(&cmp->pairs[5], &o);
	assert_false(cmp->pairs[5].result->passed);
	assert_int_equal(calls_done, 2);
	open_gate();
	dv_scan_wait(scan);
	assert_int_equal(calls_done, NMATCHED); /* pairs 4 and 5 not computed twice */
	dv_pair_compute(&cmp->pairs[0], &o);    /* DONE: nothing to do */
	assert_int_equal(calls_done, NMATCHED);
	dv_scan_stop(scan);
	dv_comparison_free(cmp);
}

/* A scan handed over (dv_comparison_scan_release) stops without waiting:
 * dv_scan_reap says false while a worker is busy (a read that ignores the
 * cancel, as a slow file system's), no pair is claimed after the request,
 * and true (the scan freed) once the workers have ended; dv_scan_stop_until
 * still finishes one a reap left. */
static void test_scan_release_and_reap(void **state)
{
	dv_comparison *cmp = build();
	dv_metrics_opts o = opts();
	dv_scan *scan;
	struct timespec pause = {0, 1000000};

	(void)state;
	gate_closed = true;
	gate_limit = 2;
	assert_non_null(dv_comparison_scan_start(cmp, &o, 2, -1));
	wait_entered(2); /* both workers inside a computation, deaf to the cancel */
	scan = dv_comparison_scan_release(cmp);
	assert_non_null(scan);
	assert_null(dv_comparison_scan(cmp));
	assert_false(dv_scan_reap(scan));
	assert_false(dv_scan_reap(scan));
	open_gate();
	while (!dv_scan_reap(scan))
		nanosleep(&pause, NULL);
	/* the two in flight ended (done: the stand-in ignores the cancel), no
	 * other was claimed, none is left running */
	assert_int_equal(calls_done, 2);
	for (size_t i = 0; i < NMATCHED; i++)
		assert_int_equal(atomic_load(&cmp->pairs[i].state), i < 2 ? DV_PAIR_DONE : DV_PAIR_PENDING);
	/* a new scan computes the rest */
	assert_non_null(dv_comparison_scan_start(cmp, &o, 2, -1));
	dv_comparison_scan_wait(cmp);
	assert_int_equal(calls_done, NMATCHED);
	dv_comparison_scan_stop(cmp);
	dv_comparison_free(cmp);

	/* a reap that found a worker busy, then a stop that waits for it */
	cmp = build();
	gate_closed = true;
	gate_limit = 1;
	gate_name = "ok1.pt";
	assert_non_null(dv_comparison_scan_start(cmp, &o, 1, -1));
	wait_entered(1);
	scan = dv_comparison_scan_release(cmp);
	assert_false(dv_scan_reap(scan));
	open_gate();
	assert_true(dv_scan_stop_until(scan, NULL));
	assert_int_equal(calls_done, 1);
	assert_null(dv_comparison_scan_release(cmp)); /* none left to hand over */
	dv_comparison_free(cmp);
}

static void test_scan_sweeps_behind_cursor(void **state)
{
	dv_comparison *cmp = build();
	dv_metrics_opts o = opts();
	dv_scan *scan;

	(void)state;
	/* pair 3 is being computed elsewhere when the worker passes it... */
	atomic_store(&cmp->pairs[3].state, DV_PAIR_RUNNING);
	gate_closed = true;
	gate_name = "ok12.pt";
	track_name = "ok4.pt";
	scan = dv_scan_start(cmp, &o, 1, -1);
	wait_entered(NMATCHED - 1); /* all but pair 3; the last one held at the gate */
	/* ...and that computation is cancelled: the pair is PENDING again */
	atomic_store(&cmp->pairs[3].state, DV_PAIR_PENDING);
	open_gate();
	dv_scan_wait(scan);
	assert_true(dv_scan_finished(scan));
	assert_int_equal(calls_done, NMATCHED);
	assert_false(pthread_equal(track_thread, pthread_self())); /* the worker took it */
	dv_scan_stop(scan);
	dv_comparison_free(cmp);
}

/* Esc in the TUI: one pair's computation stopped for the user ends
 * CANCELLED; nothing takes it again until dv_pair_uncancel. */
static void test_scan_cancel_pair(void **state)
{
	dv_comparison *cmp = build();
	dv_metrics_opts o = opts();
	dv_scan *scan;
	bool known;
	int64_t done = 0, total = 0;
	atomic_int stop, user;

	(void)state;
	spin_name = "ok3.pt"; /* pair 2 runs until cancelled */
	scan = dv_scan_start(cmp, &o, 1, -1);
	wait_entered(3);
	while (!dv_scan_pair_progress(scan, 2, &done, &total))
		sched_yield(); /* until the stand-in reports its progress */
	assert_int_equal(done, 1);
	assert_int_equal(total, 2);
	assert_false(dv_scan_pair_progress(scan, 7, &done, &total));
	assert_false(dv_scan_cancel_pair(scan, 7)); /* not being computed */
	assert_true(dv_scan_cancel_pair(scan, 2));
	dv_scan_wait(scan);
	assert_int_equal(atomic_load(&cmp->pairs[2].state), DV_PAIR_CANCELLED);
	assert_int_equal(calls_done, NMATCHED - 1); /* every other pair, once */
	assert_true(dv_scan_finished(scan));        /* nothing left for the scan */
	assert_false(dv_scan_running(scan));
	assert_int_equal(dv_scan_done(scan), NMATCHED); /* the cancelled one is not done */
	assert_int_equal(dv_first_divergence(cmp, &known), 5);
	assert_false(known); /* pair 2, before it, is unknown */
	/* left as it is by computes and by the prioritize of a finished scan */
	dv_pair_compute(&cmp->pairs[2], &o);
	assert_int_equal(atomic_load(&cmp->pairs[2].state), DV_PAIR_CANCELLED);
	assert_true(dv_scan_prioritize(scan, 2)); /* nothing to do for it */
	dv_pair_uncancel(&cmp->pairs[2]);
	assert_int_equal(atomic_load(&cmp->pairs[2].state), DV_PAIR_PENDING);
	assert_false(dv_scan_prioritize(scan, 2)); /* no worker left to take it */
	spin_name = NULL;
	dv_pair_compute(&cmp->pairs[2], &o);
	assert_int_equal(atomic_load(&cmp->pairs[2].state), DV_PAIR_DONE);
	assert_int_equal(dv_first_divergence(cmp, &known), 5);
	assert_true(known);
	dv_scan_stop(scan);

	/* dv_pair_compute_cancellable: a stop marked as the user's ends
	 * CANCELLED, any other stop PENDING */
	spin_name = "ok4.pt";
	atomic_init(&stop, 1);
	atomic_init(&user, 0);
	o.cancel = &stop;
	atomic_store(&cmp->pairs[3].state, DV_PAIR_PENDING); /* as if never computed */
	dv_pair_compute_cancellable(&cmp->pairs[3], &o, &user);
	assert_int_equal(atomic_load(&cmp->pairs[3].state), DV_PAIR_PENDING);
	atomic_store(&user, 1);
	dv_pair_compute_cancellable(&cmp->pairs[3], &o, &user);
	assert_int_equal(atomic_load(&cmp->pairs[3].state), DV_PAIR_CANCELLED);
	/* a running pair's waiter leaves on its own cancel */
	atomic_store(&cmp->pairs[4].state, DV_PAIR_RUNNING);
	dv_pair_compute_cancellable(&cmp->pairs[4], &o, &user);
	assert_int_equal(atomic_load(&cmp->pairs[4].state), DV_PAIR_RUNNING);
	atomic_store(&cmp->pairs[4].state, DV_PAIR_DONE);
	dv_comparison_free(cmp);
}

static int own_nice(void)
{
	return getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
}

static void *background_thread(void *arg)
{
	dv_thread_background();
	*(int *)arg = own_nice();
	return NULL;
}

static void *nested_thread(void *arg)
{
	pthread_t th;

	dv_thread_background();
	if (pthread_create(&th, NULL, background_thread, arg) == 0)
		pthread_join(th, NULL);
	return NULL;
}

/* The explorer asks its background threads to run below the thread that
 * answers keys: the scan workers and any thread calling
 * dv_thread_background() get the delta; the caller keeps its own; off by
 * default (compare). */
static void test_background_threads_nice(void **state)
{
	int base = own_nice(), seen = -100;
	int want = base + 3 > 19 ? 19 : base + 3;
	pthread_t th;

	(void)state;
	assert_int_equal(pthread_create(&th, NULL, background_thread, &seen), 0);
	pthread_join(th, NULL);
	assert_int_equal(seen, base); /* off */
	dv_background_threads_set(3);
	assert_int_equal(pthread_create(&th, NULL, background_thread, &seen), 0);
	pthread_join(th, NULL);
	assert_int_equal(seen, want);
	assert_int_equal(own_nice(), base);
	/* a background thread's own threads get the same value, not twice the delta */
	{
		pthread_t outer;
		int inner = -100;

		assert_int_equal(pthread_create(&outer, NULL, nested_thread, &inner), 0);
		pthread_join(outer, NULL);
		assert_int_equal(inner, want);
	}

	dv_comparison *cmp = build();
	dv_metrics_opts o = opts();
	dv_scan *scan;

	reset_stub();
	stub_nice = -100;
	scan = dv_scan_start(cmp, &o, 1, -1);
	assert_non_null(scan);
	dv_scan_wait(scan);
	assert_int_equal(stub_nice, want);
	dv_scan_stop(scan);
	dv_comparison_free(cmp);
	dv_background_threads_set(0);
	assert_int_equal(own_nice(), base);
}

/* Pools size themselves by the CPUs the process may run on (taskset, a
 * cpuset), not by those online: an explorer pinned to 2 of 16 cores ran 16
 * scan workers and answered keys in 60 ms. */
static void test_usable_cpus_follow_affinity(void **state)
{
	(void)state;
	cpu_set_t all, one;
	int first = -1;

	assert_int_equal(sched_getaffinity(0, sizeof(all), &all), 0);
	assert_int_equal(dv_usable_cpus(), CPU_COUNT(&all));
	for (int c = 0; c < CPU_SETSIZE && first < 0; c++)
		if (CPU_ISSET(c, &all))
			first = c;
	assert_true(first >= 0);
	CPU_ZERO(&one);
	CPU_SET(first, &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	assert_int_equal(dv_usable_cpus(), 1);
	assert_int_equal(sched_setaffinity(0, sizeof(all), &all), 0);
	assert_int_equal(dv_usable_cpus(), CPU_COUNT(&all));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_all),
		cmocka_unit_test(test_background_threads_nice),
		cmocka_unit_test(test_usable_cpus_follow_affinity),
		cmocka_unit_test(test_scan_priority),
		cmocka_unit_test(test_scan_pause),
		cmocka_unit_test(test_scan_stop_cancels),
		cmocka_unit_test(test_scan_release_and_reap),
		cmocka_unit_test(test_stop_at_once_and_compute_elsewhere),
		cmocka_unit_test(test_scan_sweeps_behind_cursor),
		cmocka_unit_test(test_scan_cancel_pair),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
