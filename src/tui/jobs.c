/* Background work of the TUI, in one thread so the event loop never blocks:
 * on-demand pair computes (rows shown while no scan runs), the detail of the
 * selected pair, and CSV exports. Heavy jobs report progress and can be
 * cancelled; a new detail request cancels the running one. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs.h"
#include "dumpview/report.h"
#include "dumpview/tmpfile.h"

static void notify(tui_jobs *j)
{
	if (j->notify_w >= 0) {
		ssize_t n = write(j->notify_w, "j", 1);
		(void)n; /* a full pipe already holds a wake-up */
	}
}

static void progress_cb(void *ctx, int64_t done, int64_t total)
{
	tui_jobs *j = ctx;
	atomic_store(&j->done, done);
	atomic_store(&j->total, total);
	if (j->hold)
		j->hold(j->hold_ctx, done, total);
}

static void want_progress_cb(void *ctx, int64_t done, int64_t total)
{
	tui_jobs *j = ctx;
	atomic_store(&j->want_done, done);
	atomic_store(&j->want_total, total);
	if (j->hold)
		j->hold(j->hold_ctx, done, total);
}

/* The visible table: the report layer's CSV rows, one per tensor pair, with
 * `passed` under the threshold the user sees now (set with `t`), not the one
 * the pair was computed under. */
static int write_table(tui_jobs *j, const char *path, const size_t *pairs, size_t n, double threshold,
		       int64_t *rows, char *msg, size_t msgsize)
{
	/* Written beside the target and renamed over it, as the diff export
	 * is: a failed write leaves an existing file as it was, and a symlink
	 * at the path is replaced, never followed. */
	dv_error err;
	dv_error_clear(&err);
	char *tmp = NULL;
	int fd = dv_tmp_create(path, &tmp, &err);
	if (fd < 0) {
		snprintf(msg, msgsize, "%s", err.msg);
		return -1;
	}
	FILE *f = fdopen(fd, "w");
	if (!f) {
		snprintf(msg, msgsize, "%s: %s", path, strerror(errno));
		close(fd);
		unlink(tmp);
		free(tmp);
		return -1;
	}
	dv_csv_write_header(f);
	for (size_t k = 0; k < n; k++)
		dv_csv_write_pair(f, j->cmp, &j->cmp->pairs[pairs[k]], threshold);
	bool failed = ferror(f) != 0;
	int saved = errno;
	if (fclose(f) != 0 || failed || rename(tmp, path) != 0) {
		snprintf(msg, msgsize, "%s: %s", path, strerror(failed ? (saved ? saved : EIO) : errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	*rows = (int64_t)n;
	return 0;
}

bool tui_jobs_pair_logical(const dv_pair *p)
{
	/* p->logical is written by the compute: read once the pair is done */
	return p->nbase > 1 || p->ntarg > 1 || (atomic_load(&p->state) == DV_PAIR_DONE && p->logical);
}

void tui_jobs_detail_free(tui_detail *d)
{
	dv_pair_detail_free(&d->d);
	free(d->shards);
	d->shards = NULL;
	d->nshards = 0;
}

/* The histograms and heat map of a computed pair, from its two files or,
 * for a logical tensor, from the streams its metrics were computed on; for
 * one of several files, then each target shard's own metrics. */
static int detail_compute(const dv_pair *p, const dv_metrics_opts *mo, tui_detail *det, dv_error *err)
{
	/* the finished comparison spares the detail a pass over the tensors */
	dv_metrics_opts known = *mo;
	const dv_metrics_opts *o = &known;

	if (atomic_load(&p->state) == DV_PAIR_DONE)
		known.known = p->result;
	if (!tui_jobs_pair_logical(p)) {
		dv_path_buf bp, tp;

		return dv_pair_detail_compute(dv_dumpfile_path(p->base, &bp), dv_dumpfile_path(p->targ, &tp),
					      DETAIL_HEAT_ROWS, DETAIL_HEAT_COLS, o, &det->d, err);
	}
	dv_logical_view *lv = dv_logical_open(p, err);
	if (!lv)
		return -1;
	int rc = dv_pair_detail_streams(dv_logical_stream(lv, 0), dv_logical_stream(lv, 1), DETAIL_HEAT_ROWS,
					DETAIL_HEAT_COLS, o, &det->d, err);
	dv_logical_close(lv);
	if (rc != 0 || (p->nbase <= 1 && p->ntarg <= 1) || (o->cancel && atomic_load(o->cancel)))
		return rc;
	/* A shard that cannot be compared is the table's to say, not an error
	 * of the histograms above it. */
	dv_error serr;
	dv_error_clear(&serr);
	det->has_shards = true;
	det->shards_rc = dv_logical_shard_table(p, o->threshold, o, &det->shards, &det->nshards, &serr);
	if (det->shards_rc != 0) {
		snprintf(det->shards_error, sizeof(det->shards_error), "%s", serr.msg);
		free(det->shards);
		det->shards = NULL;
		det->nshards = 0;
	}
	return 0;
}

static void run_heavy(tui_jobs *j, job_kind kind, size_t pair, char *path, double min_abs, int64_t top_k,
		      size_t *table, size_t ntable, double max_bytes)
{
	dv_metrics_opts o = j->mopts;
	o.cancel = &j->cancel;
	o.progress = progress_cb;
	o.progress_ctx = j;
	int rc = 0;
	int64_t rows = 0;
	char msg[sizeof(j->fin_msg)] = "";
	tui_detail det;
	memset(&det, 0, sizeof(det));
	det.pair = pair;
	dv_pair *p = kind == JOB_TABLE ? NULL : &j->cmp->pairs[pair];

	/* The pair's own metrics first; Esc during them leaves it CANCELLED. */
	if ((kind == JOB_DETAIL || kind == JOB_EXPORT) && p->kind == DV_PAIR_MATCHED) {
		atomic_store(&j->heavy_pair, (long long)pair);
		dv_pair_compute_cancellable(p, &o, &j->user_cancel);
		atomic_store(&j->heavy_pair, -1LL);
		atomic_store(&j->done, 0);
		atomic_store(&j->total, 0);
	}
	if (kind == JOB_DETAIL) {
		dv_error err;
		dv_error_clear(&err);
		if (p->kind != DV_PAIR_MATCHED) {
			rc = -1;
			snprintf(det.error, sizeof(det.error), "%s only: nothing to compare",
				 p->kind == DV_PAIR_BASELINE_ONLY ? "baseline" : "target");
		} else if (atomic_load(&j->cancel) || atomic_load(&p->state) != DV_PAIR_DONE) {
			rc = -1; /* cancelled before the histograms began */
		} else {
			rc = detail_compute(p, &o, &det, &err);
			if (rc != 0)
				snprintf(det.error, sizeof(det.error), "%s", err.msg);
		}
		det.rc = rc;
		det.valid = true;
	} else if (kind == JOB_EXPORT) {
		dv_error err;
		dv_error_clear(&err);
		int64_t nrows = 0;
		double proj = tui_jobs_export_bytes(p, top_k, &nrows);
		if (atomic_load(&j->cancel)) {
			rc = -1;
		} else if (max_bytes > 0 && proj > max_bytes) {
			/* Its size was unknown when asked: the user confirms now
			 * that it is (the metrics are computed). */
			char sz[32];
			tui_jobs_fmt_bytes(sz, sizeof(sz), proj);
			rc = -1;
			snprintf(err.msg, sizeof(err.msg), "not exported: it would write about %s (%lld rows); press e again to confirm",
				 sz, (long long)nrows);
		} else if (tui_jobs_pair_logical(p)) {
			dv_logical_view *lv = dv_logical_open(p, &err);
			rc = lv ? dv_export_streams(dv_logical_stream(lv, 0), dv_logical_stream(lv, 1), path, min_abs, top_k,
						    &o, &rows, &err)
				: -1;
			dv_logical_close(lv);
		} else {
			dv_path_buf bp, tp;

			rc = dv_export_diff_csv(dv_dumpfile_path(p->base, &bp), dv_dumpfile_path(p->targ, &tp), path, min_abs,
						top_k, &o, &rows, &err);
		}
		if (rc != 0)
			snprintf(msg, sizeof(msg), "%s", err.msg);
	} else if (kind == JOB_TABLE) {
		/* Every visible pair, those cancelled before included: the user
		 * asked for the table's values (Esc stops it again). */
		dv_metrics_opts po = j->mopts;
		po.cancel = &j->cancel;
		for (size_t k = 0; k < ntable && !atomic_load(&j->cancel); k++) {
			progress_cb(j, (int64_t)k, (int64_t)ntable);
			dv_pair *tp = &j->cmp->pairs[table[k]];
			if (tp->kind == DV_PAIR_MATCHED) {
				dv_pair_uncancel(tp);
				atomic_store(&j->heavy_pair, (long long)table[k]);
				dv_pair_compute_cancellable(tp, &po, &j->user_cancel);
				atomic_store(&j->heavy_pair, -1LL);
			}
		}
		if (atomic_load(&j->cancel)) {
			rc = -1;
			snprintf(msg, sizeof(msg), "export cancelled");
		} else {
			rc = write_table(j, path, table, ntable, min_abs, &rows, msg, sizeof(msg));
		}
	}
	if (atomic_load(&j->cancel) && kind != JOB_TABLE) {
		rc = -1;
		if (kind == JOB_EXPORT)
			snprintf(msg, sizeof(msg), "export cancelled");
	}
	if (rc == 0 && (kind == JOB_EXPORT || kind == JOB_TABLE))
		snprintf(msg, sizeof(msg), "%s", path); /* the success message names the file */

	pthread_mutex_lock(&j->mu);
	while (j->finished && !j->quit)
		pthread_cond_wait(&j->cv, &j->mu);
	j->finished = true;
	j->fin_kind = kind;
	j->fin_rc = rc;
	j->fin_rows = rows;
	snprintf(j->fin_msg, sizeof(j->fin_msg), "%s", msg);
	if (kind == JOB_DETAIL && (rc == 0 || !atomic_load(&j->cancel)))
		j->fin_detail = det;
	else if (kind == JOB_DETAIL)
		tui_jobs_detail_free(&det);
	pthread_mutex_unlock(&j->mu);
	free(path);
	free(table);
	notify(j);
}

static void *job_main(void *arg)
{
	tui_jobs *j = arg;
	pthread_mutex_lock(&j->mu);
	while (!j->quit) {
		if (j->kind != JOB_NONE && !j->running) {
			job_kind kind = j->kind;
			size_t pair = j->pair;
			char *path = j->path;
			size_t *table = j->table;
			size_t ntable = j->ntable;
			double min_abs = j->min_abs;
			int64_t top_k = j->top_k;
			double max_bytes = j->max_bytes;
			j->path = NULL;
			j->table = NULL;
			j->running = true;
			atomic_store(&j->cancel, 0);
			atomic_store(&j->user_cancel, 0);
			atomic_store(&j->done, 0);
			atomic_store(&j->total, 0);
			pthread_mutex_unlock(&j->mu);
			run_heavy(j, kind, pair, path, min_abs, top_k, table, ntable, max_bytes);
			pthread_mutex_lock(&j->mu);
			j->running = false;
			/* A request made while it ran replaced kind; else it is done. */
			if (j->kind == kind && !j->path && !j->table && j->pair == pair)
				j->kind = JOB_NONE;
			continue;
		}
		if (j->nwant) {
			size_t pair = j->want[--j->nwant];
			j->computing_pair = true;
			atomic_store(&j->want_pair, (long long)pair);
			atomic_store(&j->want_done, 0);
			atomic_store(&j->want_total, 0);
			atomic_store(&j->want_user_cancel, 0);
			if (!atomic_load(&j->stop))
				atomic_store(&j->want_cancel, 0);
			pthread_mutex_unlock(&j->mu);
			dv_metrics_opts o = j->mopts;
			o.cancel = &j->want_cancel;
			o.progress = want_progress_cb;
			o.progress_ctx = j;
			dv_pair_compute_cancellable(&j->cmp->pairs[pair], &o, &j->want_user_cancel);
			pthread_mutex_lock(&j->mu);
			atomic_store(&j->want_pair, -1LL);
			j->computing_pair = false;
			notify(j);
			continue;
		}
		if (j->ngarbage) {
			dv_comparison *old = j->garbage[--j->ngarbage];
			pthread_mutex_unlock(&j->mu);
			dv_comparison_free(old);
			pthread_mutex_lock(&j->mu);
			continue;
		}
		pthread_cond_broadcast(&j->cv); /* for waiters on idleness */
		pthread_cond_wait(&j->cv, &j->mu);
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

void tui_jobs_free_later(tui_jobs *j, dv_comparison *cmp)
{
	bool queued = false;
	if (j->started) {
		pthread_mutex_lock(&j->mu);
		if (j->ngarbage == j->garbage_cap) {
			size_t cap = j->garbage_cap ? j->garbage_cap * 2 : 4;
			dv_comparison **v = realloc(j->garbage, cap * sizeof(*v));
			if (v) {
				j->garbage = v;
				j->garbage_cap = cap;
			}
		}
		if (j->ngarbage < j->garbage_cap) {
			j->garbage[j->ngarbage++] = cmp;
			queued = true;
			pthread_cond_broadcast(&j->cv);
		}
		pthread_mutex_unlock(&j->mu);
	}
	if (!queued)
		dv_comparison_free(cmp);
}

int tui_jobs_start(tui_jobs *j, dv_comparison *cmp, const dv_metrics_opts *mopts, int notify_w,
		   void (*hold)(void *ctx, int64_t done, int64_t total), void *hold_ctx)
{
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->cv, NULL);
	j->cmp = cmp;
	j->hold = hold;
	j->hold_ctx = hold_ctx;
	j->notify_w = notify_w;
	j->mopts = *mopts;
	atomic_store(&j->stop, 0);
	atomic_store(&j->want_cancel, 0);
	atomic_store(&j->want_user_cancel, 0);
	atomic_store(&j->user_cancel, 0);
	atomic_store(&j->want_pair, -1LL);
	atomic_store(&j->heavy_pair, -1LL);
	j->mopts.cancel = &j->stop; /* set only at exit, so quitting never waits on a big tensor */
	j->mopts.progress = NULL;
	if (pthread_create(&j->thread, NULL, job_main, j) != 0)
		return -1;
	j->started = true;
	return 0;
}

void tui_deadline_in_ms(struct timespec *deadline, long ms)
{
	clock_gettime(CLOCK_REALTIME, deadline);
	deadline->tv_sec += ms / 1000;
	deadline->tv_nsec += (ms % 1000) * 1000000L;
	if (deadline->tv_nsec >= 1000000000L) {
		deadline->tv_sec++;
		deadline->tv_nsec -= 1000000000L;
	}
}

bool tui_jobs_stop_until(tui_jobs *j, const struct timespec *deadline)
{
	if (!j->started)
		return true;
	pthread_mutex_lock(&j->mu);
	j->quit = true;
	atomic_store(&j->cancel, 1);
	atomic_store(&j->stop, 1);
	atomic_store(&j->want_cancel, 1);
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
	if (deadline) {
		/* A job stuck in a read is left behind, never waited for. */
		if (pthread_timedjoin_np(j->thread, NULL, deadline) != 0) {
			pthread_detach(j->thread);
			return false;
		}
	} else {
		pthread_join(j->thread, NULL);
	}
	if (j->finished && j->fin_kind == JOB_DETAIL)
		tui_jobs_detail_free(&j->fin_detail);
	while (j->ngarbage)
		dv_comparison_free(j->garbage[--j->ngarbage]);
	free(j->garbage);
	j->garbage = NULL;
	j->garbage_cap = 0;
	free(j->want);
	free(j->path);
	free(j->table);
	pthread_mutex_destroy(&j->mu);
	pthread_cond_destroy(&j->cv);
	j->started = false;
	return true;
}

bool tui_jobs_swap_cmp(tui_jobs *j, dv_comparison *cmp)
{
	if (!j->started) {
		j->cmp = cmp;
		return true;
	}
	pthread_mutex_lock(&j->mu);
	bool idle = !j->running && !j->computing_pair && j->kind == JOB_NONE;
	if (idle)
		j->cmp = cmp;
	pthread_mutex_unlock(&j->mu);
	return idle;
}

void tui_jobs_stop(tui_jobs *j)
{
	tui_jobs_stop_until(j, NULL);
}

void tui_jobs_clear_wants(tui_jobs *j)
{
	pthread_mutex_lock(&j->mu);
	j->nwant = 0;
	pthread_mutex_unlock(&j->mu);
}

void tui_jobs_set_wants(tui_jobs *j, const size_t *pairs, size_t n)
{
	pthread_mutex_lock(&j->mu);
	if (n > j->want_cap) {
		size_t *w = realloc(j->want, n * sizeof(*w));
		if (!w) {
			pthread_mutex_unlock(&j->mu);
			return;
		}
		j->want = w;
		j->want_cap = n;
	}
	if (n)
		memcpy(j->want, pairs, n * sizeof(*pairs));
	j->nwant = n;
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
}

void tui_jobs_want_pair(tui_jobs *j, size_t pair)
{
	pthread_mutex_lock(&j->mu);
	for (size_t i = 0; i < j->nwant; i++)
		if (j->want[i] == pair) {
			memmove(&j->want[i], &j->want[i + 1], (j->nwant - i - 1) * sizeof(size_t));
			j->nwant--;
			break;
		}
	if (j->nwant == j->want_cap) {
		size_t cap = j->want_cap ? j->want_cap * 2 : 64;
		size_t *w = realloc(j->want, cap * sizeof(*w));
		if (!w) {
			pthread_mutex_unlock(&j->mu);
			return;
		}
		j->want = w;
		j->want_cap = cap;
	}
	j->want[j->nwant++] = pair;
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
}

static void submit_limited(tui_jobs *j, job_kind kind, size_t pair, char *path, double min_abs, int64_t top_k,
			   size_t *table, size_t ntable, double max_bytes)
{
	pthread_mutex_lock(&j->mu);
	j->max_bytes = max_bytes;
	if (j->running)
		atomic_store(&j->cancel, 1);
	free(j->path);
	free(j->table);
	j->kind = kind;
	j->pair = pair;
	j->path = path;
	j->min_abs = min_abs;
	j->top_k = top_k;
	j->table = table;
	j->ntable = ntable;
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
}

static void submit(tui_jobs *j, job_kind kind, size_t pair, char *path, double min_abs, int64_t top_k, size_t *table,
		   size_t ntable)
{
	submit_limited(j, kind, pair, path, min_abs, top_k, table, ntable, 0);
}

void tui_jobs_submit_detail(tui_jobs *j, size_t pair)
{
	pthread_mutex_lock(&j->mu);
	bool same = j->kind == JOB_DETAIL && j->pair == pair;
	bool busy_other = j->kind == JOB_EXPORT || j->kind == JOB_TABLE;
	pthread_mutex_unlock(&j->mu);
	if (same || busy_other)
		return;
	submit(j, JOB_DETAIL, pair, NULL, 0, 0, NULL, 0);
}

void tui_jobs_submit_export(tui_jobs *j, size_t pair, const char *path, double min_abs, int64_t top_k, double max_bytes)
{
	submit_limited(j, JOB_EXPORT, pair, strdup(path), min_abs, top_k, NULL, 0, max_bytes);
}

double tui_jobs_export_bytes(const dv_pair *p, int64_t top_k, int64_t *rows)
{
	const dv_pair_result *r = p->result;
	if (atomic_load(&p->state) != DV_PAIR_DONE || r->status != DV_RESULT_COMPARED)
		return -1;
	int64_t n = r->numel;
	if (top_k > 0 && top_k < n)
		n = top_k;
	*rows = n;
	/* index, "[i, j, ...]" and four numbers of about 11 characters. */
	char buf[32];
	double row = snprintf(buf, sizeof(buf), "%lld", (long long)r->numel) + 3.0 + 4 * 12 + 1;
	for (int d = 0; d < r->targ.ndim; d++)
		row += snprintf(buf, sizeof(buf), "%lld", (long long)dv_result_shape(&r->targ)[d]) + 2;
	return row * (double)n;
}

void tui_jobs_fmt_bytes(char *buf, size_t size, double bytes)
{
	if (bytes >= 1e9)
		snprintf(buf, size, "%.1f GB", bytes / 1e9);
	else if (bytes >= 1e6)
		snprintf(buf, size, "%.1f MB", bytes / 1e6);
	else
		snprintf(buf, size, "%.0f kB", bytes / 1e3);
}

void tui_jobs_submit_table(tui_jobs *j, const char *path, size_t *pairs, size_t n, double threshold)
{
	/* The table job has no row filter: min_abs carries the threshold. */
	submit(j, JOB_TABLE, 0, strdup(path), threshold, 0, pairs, n);
}

bool tui_jobs_pair_progress(tui_jobs *j, size_t pair, int64_t *done, int64_t *total)
{
	if (atomic_load(&j->want_pair) == (long long)pair) {
		*done = atomic_load(&j->want_done);
		*total = atomic_load(&j->want_total);
		return *total > 0;
	}
	if (atomic_load(&j->heavy_pair) == (long long)pair) {
		job_kind kind;
		pthread_mutex_lock(&j->mu);
		kind = j->kind;
		pthread_mutex_unlock(&j->mu);
		/* The table export's progress counts pairs, not elements. */
		if (kind == JOB_TABLE)
			return false;
		*done = atomic_load(&j->done);
		*total = atomic_load(&j->total);
		return *total > 0;
	}
	return false;
}

bool tui_jobs_cancel_pair(tui_jobs *j, size_t pair)
{
	pthread_mutex_lock(&j->mu);
	bool running = atomic_load(&j->want_pair) == (long long)pair;
	if (running) {
		atomic_store(&j->want_user_cancel, 1);
		atomic_store(&j->want_cancel, 1);
	}
	pthread_mutex_unlock(&j->mu);
	return running;
}

void tui_jobs_cancel(tui_jobs *j)
{
	pthread_mutex_lock(&j->mu);
	if (j->running) {
		atomic_store(&j->user_cancel, 1);
		atomic_store(&j->cancel, 1);
	}
	else if (j->kind != JOB_NONE) {
		free(j->path);
		free(j->table);
		j->path = NULL;
		j->table = NULL;
		j->kind = JOB_NONE;
	}
	pthread_mutex_unlock(&j->mu);
}

bool tui_jobs_idle(tui_jobs *j)
{
	pthread_mutex_lock(&j->mu);
	bool idle = j->kind == JOB_NONE && !j->running && !j->nwant && !j->computing_pair && !j->finished;
	pthread_mutex_unlock(&j->mu);
	return idle;
}

bool tui_jobs_heavy_busy(tui_jobs *j, job_kind *kind, int64_t *done, int64_t *total)
{
	pthread_mutex_lock(&j->mu);
	bool busy = j->kind != JOB_NONE || j->running;
	*kind = j->kind;
	pthread_mutex_unlock(&j->mu);
	*done = atomic_load(&j->done);
	*total = atomic_load(&j->total);
	return busy;
}

bool tui_jobs_take_finished(tui_jobs *j, tui_jobs_finished *out)
{
	pthread_mutex_lock(&j->mu);
	if (!j->finished) {
		pthread_mutex_unlock(&j->mu);
		return false;
	}
	out->kind = j->fin_kind;
	out->rc = j->fin_rc;
	out->rows = j->fin_rows;
	snprintf(out->msg, sizeof(out->msg), "%s", j->fin_msg);
	out->detail = j->fin_detail;
	memset(&j->fin_detail, 0, sizeof(j->fin_detail));
	j->finished = false;
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
	return true;
}
