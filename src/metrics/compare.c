/* Comparing one pair: shape unify, one fused streaming pass over both
 * tensors (side statistics, pair metrics, quantile histograms), an optional
 * second pass for quantiles of non-bf16 data, and non-tensor values by their
 * printed form. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/intern.h"
#include "internal.h"

dv_metrics_opts dv_metrics_opts_default(void)
{
	dv_metrics_opts o = {
		.threshold = DV_DEFAULT_THRESHOLD,
		.percentiles = true,
		.percentile_limit = DV_PERCENTILE_LIMIT,
	};
	return o;
}

bool dv_rel_diff_passes(double rel_diff, double threshold)
{
	return !isnan(rel_diff) && rel_diff <= threshold;
}

bool dv_result_passes(const dv_pair_result *r, double threshold)
{
	switch (r->status) {
	case DV_RESULT_COMPARED:
		return dv_rel_diff_passes(r->rel_diff, threshold) && !isnan(r->max_abs_diff) &&
		       !isnan(r->mean_abs_diff);
	case DV_RESULT_NON_TENSOR:
		return r->equal;
	default:
		return false;
	}
}

int dv_unify_shape(const dv_tensor_desc *base, const dv_tensor_desc *targ)
{
	int drop = base->ndim - targ->ndim;

	if (drop < 0)
		return -1;
	for (int i = 0; i < drop; i++)
		if (base->shape[i] != 1)
			return -1;
	for (int i = 0; i < targ->ndim; i++)
		if (base->shape[drop + i] != targ->shape[i])
			return -1;
	return 0;
}

void dv_index_to_coord(int64_t index, int ndim, const int64_t *shape, int64_t *coord)
{
	for (int i = ndim - 1; i >= 0; i--) {
		if (shape[i] > 0) {
			coord[i] = index % shape[i];
			index /= shape[i];
		} else {
			coord[i] = 0;
		}
	}
}

static int64_t desc_numel(const dv_tensor_desc *d)
{
	int64_t n = 1;

	for (int i = 0; i < d->ndim; i++)
		n *= d->shape[i];
	return n;
}

static bool bf16_mix(dv_dtype a, dv_dtype b)
{
	return (a == DV_FLOAT32 && b == DV_BFLOAT16) || (a == DV_BFLOAT16 && b == DV_FLOAT32);
}

typedef struct side_run {
	dv_reader rd;
	dv_side_acc acc;
	dv_qsel q;
	bool want_q;
	bool use_hist;                 /* 1- or 2-byte dtype: stats from dv_hist16 */
	dv_hist16 hist;
} side_run;

/* Below this, a 65536-bucket histogram costs more than it saves. */
#define HIST16_MIN_NUMEL 16384

static int side_init(side_run *s, const dv_src *src, const dv_metrics_opts *o, dv_error *err)
{
	memset(s, 0, sizeof(*s));
	dv_side_acc_init(&s->acc);
	if (dv_reader_init(&s->rd, src, err) < 0)
		return -1;
	s->want_q = o->percentiles && src->numel > 0 && src->numel < o->percentile_limit;
	size_t isz = dv_dtype_size(src->dtype);
	/* (counts are 32-bit) */
	if ((isz == 1 || (isz == 2 && src->numel >= HIST16_MIN_NUMEL)) && src->numel < ((int64_t)1 << 32)) {
		if (dv_hist16_init(&s->hist, src->dtype) < 0) {
			dv_reader_free(&s->rd);
			return dv_error_set(err, "%s: out of memory", src->name);
		}
		s->use_hist = true;
		return 0;
	}
	/* small bf16 tensors: quantiles counted from the raw bits */
	if (s->want_q && src->dtype == DV_BFLOAT16 && src->numel < DV_QSEL_BF16_MAX &&
	    dv_qsel_init_bf16(&s->q, src->numel) == 0)
		return 0;
	if (s->want_q && dv_qsel_init(&s->q, src->numel) < 0) {
		dv_reader_free(&s->rd);
		return dv_error_set(err, "%s: out of memory", src->name);
	}
	return 0;
}

static void side_free(side_run *s)
{
	dv_reader_free(&s->rd);
	if (s->use_hist)
		dv_hist16_free(&s->hist);
	else if (s->want_q)
		dv_qsel_free(&s->q);
}

static void side_chunk(side_run *s, size_t n)
{
	if (s->use_hist) {
		dv_hist16_add(&s->hist, s->rd.raw, n);
		return;
	}
	dv_side_chunk(&s->acc, s->rd.f32, n);
	if (s->want_q && s->q.k16)
		dv_qsel_add_bf16(&s->q, s->rd.raw, n);
	else if (s->want_q)
		dv_qsel_add(&s->q, s->rd.f32, n);
}

static int side_pass_chunk(void *ctx, int64_t start, int64_t cnt)
{
	(void)start;
	side_chunk(ctx, (size_t)cnt);
	return 0;
}

static int qsel2_chunk(void *ctx, int64_t start, int64_t cnt)
{
	side_run *s = ctx;

	(void)start;
	dv_qsel_add2(&s->q, s->rd.f32, (size_t)cnt);
	return 0;
}

/* Side statistics at the end; a second quantile pass where the first could not resolve the ranks. */
static int side_quantiles(side_run *s, const dv_metrics_opts *o, dv_stats *st, bool *cancelled, dv_error *err)
{
	int need;

	if (s->use_hist) {
		if (dv_hist16_stats(&s->hist, s->want_q, st) < 0)
			return dv_error_set(err, "%s: out of memory", s->rd.src->name);
		return 0;
	}
	dv_side_finish(&s->acc, st);
	st->has_percentiles = false;
	if (!s->want_q)
		return 0;
	need = dv_qsel_plan(&s->q);
	if (need < 0)
		return dv_error_set(err, "%s: out of memory", s->rd.src->name);
	if (need) {
		dv_walk w = { .b = &s->rd, .numel = s->rd.src->numel, .opts = o };
		int st = dv_chunk_walk(&w, qsel2_chunk, s, err);

		if (st < 0)
			return -1;
		if (st == DV_WALK_CANCELLED) {
			*cancelled = true;
			return 0;
		}
	}
	{
		double p[DV_NQUANTILES];

		dv_qsel_result(&s->q, p);
		for (int i = 0; i < DV_NQUANTILES; i++)
			st->p[i] = (float)p[i];
	}
	st->has_percentiles = true;
	return 0;
}

/* The pair pass over same-shaped tensors, in three forms by dtype. */
typedef struct pair_pass {
	side_run *b, *t;
	dv_diff_acc *diff, *diff16;
	float *b16, *t16;
	bool mix;                      /* float32 vs bf16: diff16 over both rounded to bf16 */
} pair_pass;

/* both bf16 with histograms: no float32 buffers at all, the histograms of
 * both sides fused into the pair pass */
static inline int pair_chunk_raw_bf16(void *ctx, int64_t start, int64_t cnt)
{
	pair_pass *p = ctx;

	dv_diff_chunk_bf16(p->diff, p->b->rd.raw, p->t->rd.raw, (size_t)cnt, start, p->b->hist.h, p->t->hist.h);
	p->b->hist.n += cnt;
	p->t->hist.n += cnt;
	return 0;
}

/* The bf16 pass where a side's elements are in place (mapped): the kernel
 * reads the mapped pages themselves, no copy into the reader's buffer; a
 * side in several pieces (a concat's shards) is read as runs of them. */
#define MAP_RUNS 256

typedef struct mapped_chunk {
	pair_pass *p;
	dv_raw_run br[MAP_RUNS], tr[MAP_RUNS];
	size_t nb, nt;
	int64_t start, cnt;
} mapped_chunk;

static void mapped_chunk_fn(void *arg)
{
	mapped_chunk *m = arg;
	pair_pass *p = m->p;

	/* the runs kernel for one run a side too: it prefetches what comes
	 * cold from the mapping (the same results as the contiguous one) */
	dv_diff_chunk_bf16_runs(p->diff, m->br, m->tr, (size_t)m->cnt, m->start, p->b->hist.h, p->t->hist.h);
	p->b->hist.n += m->cnt;
	p->t->hist.n += m->cnt;
}

/* A side's chunk in place (1), else read into its buffer as one run (0);
 * -1 err. Runs must end at multiples of 8 elements but the last (the
 * kernel's steps): otherwise read. */
static int side_chunk_raw(dv_reader *rd, int64_t start, int64_t cnt, dv_raw_run *runs, size_t *nruns,
			  dv_error *err)
{
	const dv_src *s = rd->src;
	int rc = s->map_raw ? s->map_raw(s->ctx, start, cnt, runs, MAP_RUNS, nruns, err) : 0;

	for (size_t k = 0; rc == 1 && k < *nruns; k++)
		if (runs[k].n <= 0 || (k + 1 < *nruns && runs[k].n % 8))
			rc = 0;
	if (rc == 0) {
		if (dv_reader_read_raw(rd, start, cnt, err) < 0)
			return -1;
		runs[0].p = rd->raw;
		runs[0].n = cnt;
		*nruns = 1;
	}
	return rc;
}

/* dv_chunk_walk of pair_chunk_raw_bf16 for sources that may map. */
static int walk_raw_bf16_mapped(const dv_walk *w, pair_pass *pp, dv_error *err)
{
	mapped_chunk m;

	m.p = pp;
	for (int64_t start = 0; start < w->numel; start += DV_CHUNK) {
		int64_t cnt = w->numel - start < DV_CHUNK ? w->numel - start : DV_CHUNK;
		int bm, tm;

		if (dv_metrics_cancelled(w->opts))
			return DV_WALK_CANCELLED;
		m.start = start;
		m.cnt = cnt;
		if ((bm = side_chunk_raw(w->b, start, cnt, m.br, &m.nb, err)) < 0 ||
		    (tm = side_chunk_raw(w->t, start, cnt, m.tr, &m.nt, err)) < 0)
			return -1;
		if (!bm && !tm) {
			mapped_chunk_fn(&m);
		} else if (pt_map_guarded(mapped_chunk_fn, &m) < 0) {
			const dv_src *bs = w->b->src, *ts = w->t->src;

			if (!(bs->map_fault && bs->map_fault(bs->ctx, err)) &&
			    !(ts->map_fault && ts->map_fault(ts->ctx, err)))
				dv_error_set(err, "%s: file changed while being read (truncated?)", ts->name);
			return -1;
		}
		if (w->progress && w->opts && w->opts->progress)
			w->opts->progress(w->opts->progress_ctx, w->done + start + cnt, w->total);
	}
	return DV_WALK_DONE;
}

/* small bf16 pairs: statistics and quantile keys from the raw bits too */
static inline int pair_chunk_small_bf16(void *ctx, int64_t start, int64_t cnt)
{
	pair_pass *p = ctx;

	dv_pair_chunk_bf16(&p->b->acc, &p->t->acc, p->diff, p->b->rd.raw, p->t->rd.raw, (size_t)cnt, start);
	if (p->b->want_q)
		dv_qsel_add_bf16(&p->b->q, p->b->rd.raw, (size_t)cnt);
	if (p->t->want_q)
		dv_qsel_add_bf16(&p->t->q, p->t->rd.raw, (size_t)cnt);
	return 0;
}

static inline int pair_chunk_f32(void *ctx, int64_t start, int64_t cnt)
{
	pair_pass *p = ctx;

	side_chunk(p->b, (size_t)cnt);
	side_chunk(p->t, (size_t)cnt);
	dv_diff_chunk(p->diff, p->b->rd.f32, p->t->rd.f32, (size_t)cnt, start);
	if (p->mix) {
		dv_round_bf16(p->b->rd.f32, p->b16, (size_t)cnt);
		dv_round_bf16(p->t->rd.f32, p->t16, (size_t)cnt);
		dv_diff_chunk(p->diff16, p->b16, p->t16, (size_t)cnt, start);
	}
	return 0;
}

static const char no_error[] = "";
static const char oom_error[] = "out of memory";

const dv_pair_result dv_pair_result_none = { .error = no_error };

static bool error_owned(const char *e)
{
	return e && e != no_error && e != oom_error;
}

void dv_result_set_error(dv_pair_result *r, const char *fmt, ...)
{
	va_list ap;
	char *text = NULL;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n >= 0 && (text = malloc((size_t)n + 1))) {
		va_start(ap, fmt);
		vsnprintf(text, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	if (error_owned(r->error))
		free((char *)r->error);
	r->error = text ? text : oom_error;
}

int dv_result_set_desc(dv_pair_result *r, int side, const dv_tensor_desc *d)
{
	dv_result_desc *o = side ? &r->targ : &r->base;

	o->dtype = d->dtype;
	o->ndim = d->ndim;
	if (!(o->shape = dv_intern_dims(d->shape, d->ndim))) {
		o->ndim = 0;
		return -1;
	}
	return 0;
}

/* ---- the pair pass on several threads ----
 * Each chunk's partial statistics go to parts[k]; the 16-bit histograms and
 * quantile counts to the thread's own tables, added up at the end (integers:
 * any order). The partials are then merged in chunk order, exactly as the
 * serial pass merges each chunk after computing it. */
typedef struct chunk_part {
	dv_side_part sb, st;
	dv_diff_part d, d16;
} chunk_part;

typedef struct par_lane {
	dv_reader br, tr;
	pt_map_win wb, wt;             /* this thread's windows (src->map_win) */
	float *b16, *t16;
	dv_hist16 hb, ht;
	dv_qsel qb, qt;
	bool qb_on, qt_on;
	float hint, hint16;            /* max |t-b| of this thread's earlier chunks */
} par_lane;

typedef struct par_pair {
	side_run *b, *t;
	bool mix, raw_bf16;
	int64_t numel;
	chunk_part *parts;
	int64_t unit;                  /* chunks a work unit (mapped: a window's) */
} par_pair;

static void par_lane_free(par_pair *p, par_lane *l)
{
	pt_map_win_drop(&l->wb);
	pt_map_win_drop(&l->wt);
	dv_reader_free(&l->br);
	dv_reader_free(&l->tr);
	free(l->b16);
	free(l->t16);
	if (p->b->use_hist)
		dv_hist16_free(&l->hb);
	if (p->t->use_hist)
		dv_hist16_free(&l->ht);
	if (l->qb_on)
		dv_qsel_free(&l->qb);
	if (l->qt_on)
		dv_qsel_free(&l->qt);
	free(l);
}

static void *par_lane_new(void *ctx)
{
	par_pair *p = ctx;
	par_lane *l = calloc(1, sizeof(*l));
	bool ok;

	if (!l)
		return NULL;
	l->hint = l->hint16 = -1.0f;
	ok = dv_reader_init(&l->br, p->b->rd.src, NULL) == 0 && dv_reader_init(&l->tr, p->t->rd.src, NULL) == 0;
	if (ok && p->mix) {
		l->b16 = malloc(DV_CHUNK * sizeof(float));
		l->t16 = malloc(DV_CHUNK * sizeof(float));
		ok = l->b16 && l->t16;
	}
	if (ok && p->b->use_hist)
		ok = dv_hist16_init(&l->hb, p->b->hist.dtype) == 0;
	if (ok && p->t->use_hist)
		ok = dv_hist16_init(&l->ht, p->t->hist.dtype) == 0;
	if (ok && p->b->want_q && !p->b->use_hist)
		ok = (l->qb_on = dv_qsel_init(&l->qb, p->b->q.numel) == 0);
	if (ok && p->t->want_q && !p->t->use_hist)
		ok = (l->qt_on = dv_qsel_init(&l->qt, p->t->q.numel) == 0);
	if (!ok) {
		par_lane_free(p, l);
		return NULL;
	}
	return l;
}

static void par_lane_done(void *ctx, void *vl)
{
	par_pair *p = ctx;
	par_lane *l = vl;

	if (p->b->use_hist)
		dv_hist16_merge(&p->b->hist, &l->hb);
	if (p->t->use_hist)
		dv_hist16_merge(&p->t->hist, &l->ht);
	if (l->qb_on)
		dv_qsel_merge(&p->b->q, &l->qb);
	if (l->qt_on)
		dv_qsel_merge(&p->t->q, &l->qt);
	par_lane_free(p, l);
}

static inline void lane_hint(float *hint, const dv_diff_part *d)
{
	if (d->cnan == 0 && d->cmax > *hint)
		*hint = d->cmax;
}

/* One chunk's arithmetic over both sides' elements as stored (raw) and as
 * float32 (f32; NULL: converted into the lane's buffer first). Touches
 * mapped bytes: run inside pt_map_guarded when a side is mapped. */
typedef struct chunk_work {
	par_pair *p;
	par_lane *l;
	int64_t k;
	const void *braw, *traw;
	const float *bf32, *tf32;
	bool mapped;
} chunk_work;

static void chunk_compute(void *arg)
{
	chunk_work *w = arg;
	par_pair *p = w->p;
	par_lane *l = w->l;
	chunk_part *cp = &p->parts[w->k];
	int64_t start = w->k * DV_CHUNK, cnt = p->numel - start < DV_CHUNK ? p->numel - start : DV_CHUNK;
	size_t n = (size_t)cnt;
	const float *bf = w->bf32, *tf = w->tf32;

	if (p->raw_bf16) {
		if (w->mapped) {
			/* the runs kernel, one run a side: it prefetches what
			 * comes cold from the mapping (the same results) */
			dv_raw_run br = { w->braw, cnt }, tr = { w->traw, cnt };

			dv_diff_chunk_bf16_runs_part(&cp->d, &br, &tr, n, start, l->hint, l->hb.h, l->ht.h);
		} else {
			dv_diff_chunk_bf16_part(&cp->d, w->braw, w->traw, n, start, l->hint, l->hb.h, l->ht.h);
		}
		l->hb.n += cnt;
		l->ht.n += cnt;
		lane_hint(&l->hint, &cp->d);
		return;
	}
	bf = dv_chunk_f32(p->b->rd.src->dtype, w->braw, bf, l->br.f32, n);
	tf = dv_chunk_f32(p->t->rd.src->dtype, w->traw, tf, l->tr.f32, n);
	if (p->b->use_hist)
		dv_hist16_add(&l->hb, w->braw, n);
	else
		dv_side_chunk_part(&cp->sb, bf, n);
	if (p->t->use_hist)
		dv_hist16_add(&l->ht, w->traw, n);
	else
		dv_side_chunk_part(&cp->st, tf, n);
	if (l->qb_on)
		dv_qsel_add(&l->qb, bf, n);
	if (l->qt_on)
		dv_qsel_add(&l->qt, tf, n);
	dv_diff_chunk_part(&cp->d, bf, tf, n, start, l->hint);
	lane_hint(&l->hint, &cp->d);
	if (p->mix) {
		dv_round_bf16(bf, l->b16, n);
		dv_round_bf16(tf, l->t16, n);
		dv_diff_chunk_part(&cp->d16, l->b16, l->t16, n, start, l->hint16);
		lane_hint(&l->hint16, &cp->d16);
	}
}

/* Work unit u: p->unit chunks, each side mapped whole when it can be (one
 * window a unit and thread: no copy through a buffer), else read a chunk
 * at a time. Each chunk still writes its own partial. */
static int par_chunk(void *ctx, void *vl, int64_t u, dv_error *err)
{
	par_pair *p = ctx;
	par_lane *l = vl;
	int64_t k0 = u * p->unit, u0 = k0 * DV_CHUNK, ucnt = p->numel - u0 < p->unit * DV_CHUNK ? p->numel - u0
											   : p->unit * DV_CHUNK;
	const void *mb = NULL, *mt = NULL;
	int bm = 0, tm = 0;

	if (p->unit > 1 && ((bm = dv_src_map_win(p->b->rd.src, &l->wb, u0, ucnt, &mb, err)) < 0 ||
			    (tm = dv_src_map_win(p->t->rd.src, &l->wt, u0, ucnt, &mt, err)) < 0))
		return -1;
	for (int64_t k = k0; k * DV_CHUNK < u0 + ucnt; k++) {
		int64_t start = k * DV_CHUNK, cnt = p->numel - start < DV_CHUNK ? p->numel - start : DV_CHUNK;
		chunk_work w = { .p = p, .l = l, .k = k, .mapped = bm || tm };

		if (dv_reader_chunk(&l->br, bm ? mb : NULL, u0, start, cnt, p->raw_bf16, &w.braw, &w.bf32, err) < 0 ||
		    dv_reader_chunk(&l->tr, tm ? mt : NULL, u0, start, cnt, p->raw_bf16, &w.traw, &w.tf32, err) < 0)
			return -1;
		if (!w.mapped) {
			chunk_compute(&w);
		} else if (pt_map_guarded(chunk_compute, &w) < 0) {
			const dv_src *bs = p->b->rd.src, *ts = p->t->rd.src;

			return dv_error_set(err, "%s: file changed while being read (truncated?)",
					    bm && pt_map_win_faulted(&l->wb) ? bs->name : ts->name);
		}
	}
	return 0;
}

/* Chunks a unit when a side reads in place: a window of about 2 MiB a
 * side (fewer, larger mappings: each unmapping interrupts the other
 * threads of the process). */
#define PAR_MAP_BYTES ((size_t)2 << 20)

static int64_t par_unit_len(void *ctx, int64_t u)
{
	par_pair *p = ctx;
	int64_t u0 = u * p->unit * DV_CHUNK;

	return p->numel - u0 < p->unit * DV_CHUNK ? p->numel - u0 : p->unit * DV_CHUNK;
}

int dv_result_set_coord(dv_pair_result *r, int ndim, const int64_t *coord)
{
	r->max_abs_diff_ndim = (signed char)ndim;
	if (!(r->max_abs_diff_coord = dv_intern_dims(coord, ndim))) {
		r->max_abs_diff_ndim = 0;
		return -1;
	}
	return 0;
}

void dv_result_desc_get(const dv_result_desc *d, dv_tensor_desc *out)
{
	memset(out, 0, sizeof(*out));
	out->dtype = d->dtype;
	out->ndim = d->ndim;
	if (d->ndim > 0)
		memcpy(out->shape, dv_result_shape(d), (size_t)d->ndim * sizeof(out->shape[0]));
}

void dv_pair_result_free(dv_pair_result *r)
{
	if (error_owned(r->error))
		free((char *)r->error);
	dv_result_reset(r);
}

/* The pair pass on threads (0: the pool); DV_WALK_* or -1. */
static int par_pair_pass(side_run *b, side_run *t, dv_diff_acc *diff, dv_diff_acc *diff16, bool mix,
			 bool raw_bf16, int64_t n, const dv_metrics_opts *o, int threads, dv_error *err)
{
	int64_t nchunks = (n + DV_CHUNK - 1) / DV_CHUNK;
	par_pair p = { b, t, mix, raw_bf16, n, calloc((size_t)nchunks, sizeof(chunk_part)), 1 };
	dv_par_job j = { .numel = n, .ctx = &p, .lane_new = par_lane_new, .chunk = par_chunk,
			 .lane_done = par_lane_done, .opts = o, .total = n, .name = t->rd.src->name };
	int st;

	if (!p.parts)
		return dv_error_set(err, "%s: out of memory", t->rd.src->name);
	if (b->rd.src->map_win || t->rd.src->map_win) {
		size_t isz = dv_dtype_size(b->rd.src->dtype) > dv_dtype_size(t->rd.src->dtype)
				     ? dv_dtype_size(b->rd.src->dtype)
				     : dv_dtype_size(t->rd.src->dtype);
		int64_t unit = (int64_t)(PAR_MAP_BYTES / (DV_CHUNK * isz));

		if (unit > 1 && nchunks >= 2 * unit) {
			p.unit = unit;
			j.nunits = (nchunks + unit - 1) / unit;
			j.unit_len = par_unit_len;
		}
	}
	st = dv_par_run(&j, threads, err);
	if (st == DV_WALK_DONE) {
		for (int64_t k = 0; k < nchunks; k++) {
			if (!raw_bf16) {
				if (!b->use_hist)
					dv_side_merge(&b->acc, &p.parts[k].sb);
				if (!t->use_hist)
					dv_side_merge(&t->acc, &p.parts[k].st);
			}
			dv_diff_merge(diff, &p.parts[k].d);
			if (mix)
				dv_diff_merge(diff16, &p.parts[k].d16);
		}
	}
	free(p.parts);
	return st;
}

void dv_result_error(dv_pair_result *r, const dv_error *e)
{
	r->status = DV_RESULT_ERROR;
	r->passed = false;
	dv_result_set_error(r, "%s", e->msg);
}

/* The engine: bd and td (as stored) are kept in r. */
int dv_compare_sources(const dv_src *bs, const dv_src *ts, const dv_tensor_desc *bd, const dv_tensor_desc *td,
		       const dv_metrics_opts *opts, dv_pair_result *r, dv_error *err)
{
	dv_metrics_opts defo = dv_metrics_opts_default();
	side_run b, t;
	dv_diff_acc diff, diff16;
	float *b16 = NULL, *t16 = NULL;
	bool same, mix, hist_bf16, cancelled = false;
	int rc = -1;
	dv_error lerr;

	if (!opts)
		opts = &defo;
	if (!err)
		err = &lerr;
	if (dv_result_set_desc(r, 0, bd) < 0 || dv_result_set_desc(r, 1, td) < 0) {
		dv_error_set(err, "%s: out of memory", ts->name);
		dv_result_error(r, err);
		return -1;
	}
	same = dv_unify_shape(bd, td) == 0;
	dv_par_enter();
	mix = same && bf16_mix(bs->dtype, ts->dtype);
	if (side_init(&b, bs, opts, err) < 0) {
		dv_result_error(r, err);
		dv_par_leave();
		return -1;
	}
	if (side_init(&t, ts, opts, err) < 0) {
		side_free(&b);
		dv_result_error(r, err);
		dv_par_leave();
		return -1;
	}
	/* both sides bf16, counted into pattern histograms */
	hist_bf16 = same && bs->dtype == DV_BFLOAT16 && ts->dtype == DV_BFLOAT16 && b.use_hist && t.use_hist;
	dv_diff_acc_init(&diff);
	dv_diff_acc_init(&diff16);
	if (mix) {
		size_t cap = ts->numel < DV_CHUNK ? (size_t)(ts->numel > 0 ? ts->numel : 1) : DV_CHUNK;

		b16 = malloc(cap * sizeof(float));
		t16 = malloc(cap * sizeof(float));
		if (!b16 || !t16) {
			dv_error_set(err, "%s: out of memory", ts->name);
			goto out;
		}
	}

	if (same) {
		int64_t n = ts->numel;
		/* small bf16 pairs: statistics and quantile keys from the raw bits too */
		bool small_bf16 = bs->dtype == DV_BFLOAT16 && ts->dtype == DV_BFLOAT16 && !b.use_hist && !t.use_hist &&
				  (!b.want_q || b.q.k16) && (!t.want_q || t.q.k16);

		dv_walk w = { .b = &b.rd, .t = &t.rd, .numel = n, .raw = hist_bf16 || small_bf16, .opts = opts,
			      .progress = true, .total = n };
		pair_pass pp = { &b, &t, &diff, &diff16, b16, t16, mix };
		int threads = bs->concurrent && ts->concurrent && !small_bf16 ? dv_par_threads(opts, n) : 1;
		bool mapped = bs->map_raw || ts->map_raw;
		int st = threads != 1 ? par_pair_pass(&b, &t, &diff, &diff16, mix, hist_bf16, n, opts, threads, err)
			 : hist_bf16 && mapped ? walk_raw_bf16_mapped(&w, &pp, err)
			 : hist_bf16  ? dv_chunk_walk(&w, pair_chunk_raw_bf16, &pp, err)
			 : small_bf16 ? dv_chunk_walk(&w, pair_chunk_small_bf16, &pp, err)
				      : dv_chunk_walk(&w, pair_chunk_f32, &pp, err);

		if (st < 0)
			goto out;
		cancelled = st == DV_WALK_CANCELLED;
	} else {
		/* shape mismatch: the comparator still prints both sides' stats */
		side_run *sides[2] = { &b, &t };

		for (int k = 0; k < 2 && !cancelled; k++) {
			dv_walk w = { .b = &sides[k]->rd, .numel = sides[k]->rd.src->numel, .opts = opts,
				      .progress = true, .done = k ? bs->numel : 0, .total = bs->numel + ts->numel };
			int st = dv_chunk_walk(&w, side_pass_chunk, sides[k], err);

			if (st < 0)
				goto out;
			cancelled = st == DV_WALK_CANCELLED;
		}
	}
	if (!cancelled) {
		if (side_quantiles(&b, opts, &r->base_stats, &cancelled, err) < 0 ||
		    side_quantiles(&t, opts, &r->targ_stats, &cancelled, err) < 0)
			goto out;
	}
	if (cancelled) {
		r->status = DV_RESULT_CANCELLED;
		r->passed = false;
		rc = 0;
		goto out;
	}
	if (!same) {
		char bshape[200], tshape[200];

		dv_fmt_shape(bshape, sizeof(bshape), bd->ndim, bd->shape);
		dv_fmt_shape(tshape, sizeof(tshape), td->ndim, td->shape);
		r->status = DV_RESULT_SHAPE_MISMATCH;
		r->passed = false;
		r->numel = 0;
		r->rel_diff = r->max_abs_diff = r->mean_abs_diff = NAN;
		r->max_abs_diff_index = -1;
		dv_result_set_error(r, "shape mismatch: baseline %s vs target %s", bshape, tshape);
		rc = 0;
		goto out;
	}
	if (hist_bf16)
		diff.norm = dv_hist16_sumsq(&b.hist) + dv_hist16_sumsq(&t.hist);
	r->status = DV_RESULT_COMPARED;
	r->numel = ts->numel;
	r->rel_diff = dv_diff_rel(&diff);
	r->max_abs_diff = diff.max_index >= 0 ? (double)diff.max_abs : 0.0;
	r->mean_abs_diff = dv_diff_mean_abs(&diff);
	/* No difference anywhere is rel 0 whatever the sums did (all-zero
	 * tensors, squares that underflow): identical data always compares
	 * equal, as the comparator does. */
	if (r->max_abs_diff == 0.0)
		r->rel_diff = 0.0;
	r->identical = diff.identical;
	r->max_abs_diff_index = diff.max_index;
	r->max_abs_diff_ndim = (signed char)td->ndim;
	if (diff.max_index >= 0) {
		int64_t coord[PT_MAX_DIMS];

		dv_index_to_coord(diff.max_index, td->ndim, td->shape, coord);
		if (dv_result_set_coord(r, td->ndim, coord) < 0) {
			dv_error_set(err, "%s: out of memory", ts->name);
			goto out;
		}
		r->max_abs_diff_base = diff.max_b;
		r->max_abs_diff_targ = diff.max_t;
	}
	if (hist_bf16 && r->numel >= dv_value_bins_min_numel) {
		int64_t bins[2 * DV_VALUE_BINS];

		/* out of memory: the detail counts them itself */
		if (dv_detail_bins16(r, b.hist.h, t.hist.h, bins))
			r->value_bins = dv_intern_bytes(bins, sizeof(bins));
	}
	r->passed = dv_result_passes(r, opts->threshold);
	if (mix) {
		r->has_bf16 = true;
		r->bf16_rel_diff = dv_diff_rel(&diff16);
		r->bf16_max_abs_diff = diff16.max_index >= 0 ? (double)diff16.max_abs : 0.0;
		r->bf16_mean_abs_diff = dv_diff_mean_abs(&diff16);
		if (r->bf16_max_abs_diff == 0.0)
			r->bf16_rel_diff = 0.0;
	}
	rc = 0;
out:
	if (rc < 0)
		dv_result_error(r, err);
	free(b16);
	free(t16);
	side_free(&b);
	side_free(&t);
	dv_par_leave();
	return rc;
}

void dv_result_reset(dv_pair_result *r)
{
	memset(r, 0, sizeof(*r));
	r->error = no_error;
	r->max_abs_diff_index = -1;
	r->rel_diff = r->max_abs_diff = r->mean_abs_diff = NAN;
}

void dv_desc_from_tensor(dv_tensor_desc *d, const pt_tensor *t)
{
	memset(d, 0, sizeof(*d));
	d->dtype = t->dtype;
	d->ndim = t->ndim;
	for (int i = 0; i < t->ndim && i < PT_MAX_DIMS; i++)
		d->shape[i] = t->shape[i];
}

int dv_compare_buffers(const dv_tensor_desc *bd, const void *bdata, const dv_tensor_desc *td, const void *tdata,
		       const dv_metrics_opts *opts, dv_pair_result *result, dv_error *err)
{
	dv_src bs, ts;
	dv_mem_src_ctx bc, tc;

	dv_result_reset(result);
	dv_src_mem(&bs, &bc, bd->dtype, desc_numel(bd), bdata, "baseline");
	dv_src_mem(&ts, &tc, td->dtype, desc_numel(td), tdata, "target");
	return dv_compare_sources(&bs, &ts, bd, td, opts, result, err);
}

