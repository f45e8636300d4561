/* The explorer's background thread (jobs.c): on-demand pair computes, the
 * detail of the selected pair, CSV exports; progress, cancel, results. */
#ifndef DUMPVIEW_TUI_JOBS_H
#define DUMPVIEW_TUI_JOBS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dumpview/comparison.h"
#include "dumpview/logical.h"
#include "dumpview/metrics.h"

typedef enum job_kind { JOB_NONE, JOB_DETAIL, JOB_EXPORT, JOB_TABLE } job_kind;

typedef struct tui_detail {
	size_t pair;
	bool valid;
	int rc;
	char error[DV_ERROR_MAX];
	dv_pair_detail d;
	/* a logical tensor of several files: each target shard's own metrics
	 * (dv_logical_shard_table), or why they are not known */
	bool has_shards;
	int shards_rc;
	dv_shard_row *shards;
	size_t nshards;
	char shards_error[DV_ERROR_MAX];
} tui_detail;

/* Frees what a detail holds (its histograms, heat map and shard rows). */
void tui_jobs_detail_free(tui_detail *d);
/* A pair read through the logical-tensor streams (several files a side, or
 * a computed pair whose dims rearrange it), not its two file paths. */
bool tui_jobs_pair_logical(const dv_pair *p);

#define DETAIL_CACHE 8
#define DETAIL_HEAT_ROWS 64
#define DETAIL_HEAT_COLS 256

typedef struct tui_jobs {
	dv_comparison *cmp;      /* not owned */
	/* called from every compute's progress report (the scripted mode
	 * holds computes there); NULL: none */
	void (*hold)(void *ctx, int64_t done, int64_t total);
	void *hold_ctx;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int notify_w;            /* written when a job finishes (the event loop polls it) */
	bool quit;
	/* on-demand pair computes, most recent request last */
	size_t *want;
	size_t nwant, want_cap;
	bool computing_pair;
	atomic_llong want_pair, want_done, want_total; /* the on-demand compute running, -1 none */
	atomic_llong heavy_pair; /* the pair whose metrics the heavy job computes now, -1 none */
	/* the one heavy job */
	job_kind kind;           /* requested or running */
	bool running;
	size_t pair;
	char *path;              /* export target */
	double min_abs;          /* JOB_EXPORT: row filter; JOB_TABLE: the threshold for `passed` */
	int64_t top_k;
	double max_bytes;        /* JOB_EXPORT: > 0, refuse a larger projected size */
	size_t *table;           /* JOB_TABLE: pairs to write */
	size_t ntable;
	atomic_int cancel;
	atomic_int user_cancel;  /* the cancel was Esc: a pair it stops ends CANCELLED */
	atomic_int stop;         /* exit */
	atomic_int want_cancel, want_user_cancel; /* the same for the on-demand compute */
	atomic_llong done, total;
	/* finished heavy job, collected by the main thread */
	bool finished;
	job_kind fin_kind;
	int fin_rc;
	int64_t fin_rows;
	char fin_msg[DV_ERROR_MAX + 64];
	tui_detail fin_detail;
	dv_metrics_opts mopts;
	/* comparisons to free when idle (tui_jobs_free_later) */
	dv_comparison **garbage;
	size_t ngarbage, garbage_cap;
} tui_jobs;

/* A finished heavy job, as the main thread takes it. */
typedef struct tui_jobs_finished {
	job_kind kind;
	int rc;
	int64_t rows;
	char msg[DV_ERROR_MAX + 64];
	tui_detail detail;       /* JOB_DETAIL: the caller owns it when valid */
} tui_jobs_finished;

/* Starts the thread over cmp; notify_w gets a byte whenever a job ends. */
int tui_jobs_start(tui_jobs *j, dv_comparison *cmp, const dv_metrics_opts *mopts, int notify_w,
		   void (*hold)(void *ctx, int64_t done, int64_t total), void *hold_ctx);
void tui_jobs_stop(tui_jobs *j);
/* Frees cmp on the thread when it has nothing else to do, or at the stop
 * (at once when the thread is not running or out of memory): a swapped-out
 * comparison of 300 k pairs costs the UI thread milliseconds to free.
 * Nothing may use cmp any more. */
void tui_jobs_free_later(tui_jobs *j, dv_comparison *cmp);
/* Puts cmp in the place of the comparison the thread works on, when it is
 * idle (no job, no compute): false otherwise (try again later). The pairs
 * asked for keep their indices. */
bool tui_jobs_swap_cmp(tui_jobs *j, dv_comparison *cmp);
/* The same, waiting only until deadline (CLOCK_REALTIME): false when the job
 * thread is still busy (it is then detached and its state left allocated). */
bool tui_jobs_stop_until(tui_jobs *j, const struct timespec *deadline);
/* *deadline = now + ms on CLOCK_REALTIME, the clock of the stop_until waits. */
void tui_deadline_in_ms(struct timespec *deadline, long ms);
void tui_jobs_want_pair(tui_jobs *j, size_t pair);
void tui_jobs_clear_wants(tui_jobs *j);
/* Replaces the wanted pairs at once; the last of pairs is computed first. */
void tui_jobs_set_wants(tui_jobs *j, const size_t *pairs, size_t n);
void tui_jobs_submit_detail(tui_jobs *j, size_t pair);
/* max_bytes > 0: refuse (with a message) an export projected to write more. */
void tui_jobs_submit_export(tui_jobs *j, size_t pair, const char *path, double min_abs, int64_t top_k,
			    double max_bytes);
/* What `e` would write: -1 until the pair's metrics are computed; *rows gets the rows. */
double tui_jobs_export_bytes(const dv_pair *p, int64_t top_k, int64_t *rows);
/* The element-wise export asks before writing more than this. */
#define EXPORT_CONFIRM_BYTES 1e9
void tui_jobs_fmt_bytes(char *buf, size_t size, double bytes);
/* The visible table: `passed` under threshold (the one the user sees now). */
void tui_jobs_submit_table(tui_jobs *j, const char *path, size_t *pairs, size_t n, double threshold);
/* Esc: cancels the heavy job (the pair it computes, if any, ends CANCELLED). */
void tui_jobs_cancel(tui_jobs *j);
/* Esc on a row: stops the on-demand compute of pair; false if not running. */
bool tui_jobs_cancel_pair(tui_jobs *j, size_t pair);
/* Progress of the on-demand compute of pair, if it is the one running. */
bool tui_jobs_pair_progress(tui_jobs *j, size_t pair, int64_t *done, int64_t *total);
bool tui_jobs_idle(tui_jobs *j);
bool tui_jobs_heavy_busy(tui_jobs *j, job_kind *kind, int64_t *done, int64_t *total);
/* The finished heavy job, if any, into *out (true); the thread may then take the next. */
bool tui_jobs_take_finished(tui_jobs *j, tui_jobs_finished *out);

#endif
