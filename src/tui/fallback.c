/* Stand-ins for dv_pair_detail_compute() and dv_export_diff_csv() (declared
 * in metrics.h) while the metrics layer has not implemented them: the same
 * contract, streamed through the pt reader in chunks. The TUI calls them via
 * the TUI_DETAIL_COMPUTE / TUI_EXPORT_DIFF_CSV names in app.h so switching to
 * the metrics layer's versions is one line. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

#define CHUNK 65536

typedef struct side {
	pt_file *f;
	const pt_tensor *t;
} side;

static int side_open(side *s, const char *path, dv_error *err)
{
	s->f = pt_open(path, err);
	if (!s->f)
		return -1;
	const pt_obj *v = pt_dump_value(s->f);
	if (!v || v->kind != PT_TENSOR) {
		pt_close(s->f);
		s->f = NULL;
		return dv_error_set(err, "%s: the dumped value is not a tensor", path);
	}
	s->t = &v->u.tensor;
	if (!dv_dtype_is_real(s->t->dtype)) {
		pt_close(s->f);
		s->f = NULL;
		return dv_error_set(err, "%s: dtype %s has no real values", path, dv_dtype_name(s->t->dtype));
	}
	return 0;
}

/* Opens both sides and unifies shapes as the comparator does (drop leading
 * size-1 dims of the baseline when the rest equals the target's shape). */
static int open_pair(side *b, side *t, const char *bp, const char *tp, dv_error *err)
{
	memset(b, 0, sizeof(*b));
	memset(t, 0, sizeof(*t));
	if (side_open(b, bp, err) != 0)
		return -1;
	if (side_open(t, tp, err) != 0) {
		pt_close(b->f);
		return -1;
	}
	int lead = 0;
	while (b->t->ndim - lead > t->t->ndim && b->t->shape[lead] == 1)
		lead++;
	bool same = b->t->ndim - lead == t->t->ndim;
	for (int i = 0; same && i < t->t->ndim; i++)
		same = b->t->shape[lead + i] == t->t->shape[i];
	if (!same) {
		pt_close(b->f);
		pt_close(t->f);
		return dv_error_set(err, "%s: shape differs from the baseline's", tp);
	}
	return 0;
}

static void close_pair(side *b, side *t)
{
	pt_close(b->f);
	pt_close(t->f);
}

static bool cancelled(const dv_metrics_opts *o)
{
	return o && o->cancel && atomic_load(o->cancel);
}

static void progress(const dv_metrics_opts *o, int64_t done, int64_t total)
{
	if (o && o->progress)
		o->progress(o->progress_ctx, done, total);
}

/* Streams both sides chunk by chunk: fn(ctx, start, b, t, n). */
static int stream(side *b, side *t, const dv_metrics_opts *o, int64_t total_work, int64_t work0,
		  void (*fn)(void *, int64_t, const float *, const float *, int64_t), void *ctx, dv_error *err)
{
	float *bb = malloc(CHUNK * sizeof(float)), *tb = malloc(CHUNK * sizeof(float));
	if (!bb || !tb) {
		free(bb);
		free(tb);
		return dv_error_set(err, "out of memory");
	}
	int64_t n = t->t->numel;
	for (int64_t s = 0; s < n; s += CHUNK) {
		if (cancelled(o)) {
			free(bb);
			free(tb);
			return dv_error_set(err, "cancelled");
		}
		int64_t c = n - s < CHUNK ? n - s : CHUNK;
		if (pt_tensor_read_f32(b->f, b->t, s, c, bb, err) != 0 || pt_tensor_read_f32(t->f, t->t, s, c, tb, err) != 0) {
			free(bb);
			free(tb);
			return -1;
		}
		fn(ctx, s, bb, tb, c);
		progress(o, work0 + s + c, total_work);
	}
	free(bb);
	free(tb);
	return 0;
}

typedef struct detail_ctx {
	dv_pair_detail *d;
	float lo, hi;
	int64_t cols;      /* last dim */
	int64_t *cnt;
} detail_ctx;

static void pass_range(void *vctx, int64_t start, const float *b, const float *t, int64_t n)
{
	(void)start;
	detail_ctx *c = vctx;
	for (int64_t i = 0; i < n; i++) {
		if (isfinite(b[i])) {
			if (b[i] < c->lo)
				c->lo = b[i];
			if (b[i] > c->hi)
				c->hi = b[i];
		}
		if (isfinite(t[i])) {
			if (t[i] < c->lo)
				c->lo = t[i];
			if (t[i] > c->hi)
				c->hi = t[i];
		}
	}
}

static int value_bin(const detail_ctx *c, float v)
{
	if (!(c->hi > c->lo))
		return 0;
	int k = (int)((v - c->lo) / (c->hi - c->lo) * DV_VALUE_BINS);
	return k < 0 ? 0 : k >= DV_VALUE_BINS ? DV_VALUE_BINS - 1 : k;
}

static void pass_detail(void *vctx, int64_t start, const float *b, const float *t, int64_t n)
{
	detail_ctx *c = vctx;
	dv_pair_detail *d = c->d;
	for (int64_t i = 0; i < n; i++) {
		float diff = fabsf(t[i] - b[i]);
		if (diff == 0) {
			d->absdiff_zero++;
		} else if (!isfinite(diff)) {
			d->absdiff_nonfinite++;
		} else {
			int k = (int)floor(log10((double)diff)) - d->absdiff_lo_exp;
			k = k < 0 ? 0 : k >= DV_ABSDIFF_BUCKETS ? DV_ABSDIFF_BUCKETS - 1 : k;
			d->absdiff_buckets[k]++;
		}
		if (isfinite(b[i]))
			d->base_bins[value_bin(c, b[i])]++;
		if (isfinite(t[i]))
			d->targ_bins[value_bin(c, t[i])]++;
		if (d->heat) {
			int64_t idx = start + i, r = idx / c->cols, col = idx % c->cols;
			int hr = (int)(r * d->heat_rows / d->heat_src_rows);
			int hc = (int)(col * d->heat_cols / d->heat_src_cols);
			size_t cell = (size_t)hr * (size_t)d->heat_cols + (size_t)hc;
			d->heat[cell] += (double)diff;
			c->cnt[cell]++;
		}
	}
}

int tui_fallback_detail_compute(const char *base_path, const char *targ_path, int max_rows, int max_cols,
				const dv_metrics_opts *opts, dv_pair_detail *d, dv_error *err)
{
	memset(d, 0, sizeof(*d));
	side b, t;
	if (open_pair(&b, &t, base_path, targ_path, err) != 0)
		return -1;
	int64_t n = t.t->numel;
	d->numel = n;
	d->absdiff_lo_exp = -16;
	detail_ctx c = { d, INFINITY, -INFINITY, 1, NULL };
	int rc = stream(&b, &t, opts, 2 * n, 0, pass_range, &c, err);
	if (rc == 0) {
		if (!(c.hi >= c.lo))
			c.lo = c.hi = 0;
		d->value_lo = c.lo;
		d->value_hi = c.hi;
		if (t.t->ndim >= 2 && n > 0 && max_rows > 0 && max_cols > 0) {
			c.cols = t.t->shape[t.t->ndim - 1];
			d->heat_src_cols = c.cols;
			d->heat_src_rows = n / c.cols;
			d->heat_rows = (int)(d->heat_src_rows < max_rows ? d->heat_src_rows : max_rows);
			d->heat_cols = (int)(d->heat_src_cols < max_cols ? d->heat_src_cols : max_cols);
			size_t cells = (size_t)d->heat_rows * (size_t)d->heat_cols;
			d->heat = calloc(cells, sizeof(double));
			c.cnt = calloc(cells, sizeof(int64_t));
			if (!d->heat || !c.cnt) {
				free(d->heat);
				d->heat = NULL;
				rc = dv_error_set(err, "out of memory");
			}
		}
	}
	if (rc == 0)
		rc = stream(&b, &t, opts, 2 * n, n, pass_detail, &c, err);
	if (rc == 0 && d->heat) {
		for (size_t i = 0; i < (size_t)d->heat_rows * (size_t)d->heat_cols; i++) {
			if (c.cnt[i])
				d->heat[i] /= (double)c.cnt[i];
			if (d->heat[i] > d->heat_max || isnan(d->heat[i]))
				d->heat_max = isnan(d->heat[i]) ? d->heat_max : d->heat[i];
		}
	}
	free(c.cnt);
	close_pair(&b, &t);
	if (rc != 0)
		tui_fallback_detail_free(d);
	return rc;
}

void tui_fallback_detail_free(dv_pair_detail *d)
{
	free(d->heat);
	d->heat = NULL;
}

/* ---- CSV export ---- */

typedef struct hit {
	float diff;
	int64_t index;
} hit;

typedef struct export_ctx {
	FILE *out;
	const pt_tensor *shape_of;
	double min_abs;
	int64_t top_k;
	hit *heap;          /* min-heap on (diff, -index) of the K largest */
	int64_t nheap;
	int64_t *keep;      /* second pass: sorted indices to write */
	int64_t nkeep, kpos;
	int64_t rows;
} export_ctx;

static bool hit_less(const hit *a, const hit *b)
{
	/* NaN counts as the largest; ties keep the earlier index. */
	bool an = isnan(a->diff), bn = isnan(b->diff);
	if (an != bn)
		return bn;
	if (!an && a->diff != b->diff)
		return a->diff < b->diff;
	return a->index > b->index;
}

static void heap_push(export_ctx *c, hit h)
{
	if (c->nheap < c->top_k) {
		int64_t i = c->nheap++;
		c->heap[i] = h;
		while (i > 0 && hit_less(&c->heap[i], &c->heap[(i - 1) / 2])) {
			hit tmp = c->heap[i];
			c->heap[i] = c->heap[(i - 1) / 2];
			c->heap[(i - 1) / 2] = tmp;
			i = (i - 1) / 2;
		}
		return;
	}
	if (!hit_less(&c->heap[0], &h))
		return;
	c->heap[0] = h;
	for (int64_t i = 0;;) {
		int64_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < c->nheap && hit_less(&c->heap[l], &c->heap[m]))
			m = l;
		if (r < c->nheap && hit_less(&c->heap[r], &c->heap[m]))
			m = r;
		if (m == i)
			break;
		hit tmp = c->heap[i];
		c->heap[i] = c->heap[m];
		c->heap[m] = tmp;
		i = m;
	}
}

static void pass_topk(void *vctx, int64_t start, const float *b, const float *t, int64_t n)
{
	export_ctx *c = vctx;
	for (int64_t i = 0; i < n; i++)
		heap_push(c, (hit){ fabsf(t[i] - b[i]), start + i });
}

static void write_row(export_ctx *c, int64_t index, float b, float t)
{
	const pt_tensor *s = c->shape_of;
	int64_t coord[PT_MAX_DIMS];
	int64_t rem = index;
	for (int d = s->ndim - 1; d >= 0; d--) {
		coord[d] = s->shape[d] ? rem % s->shape[d] : 0;
		rem = s->shape[d] ? rem / s->shape[d] : 0;
	}
	float diff = fabsf(t - b);
	double denom = fabs((double)b) > 1e-12 ? fabs((double)b) : 1e-12;
	fprintf(c->out, "%lld,\"[", (long long)index);
	for (int d = 0; d < s->ndim; d++)
		fprintf(c->out, "%s%lld", d ? ", " : "", (long long)coord[d]);
	fprintf(c->out, "]\",%.9g,%.9g,%.9g,%.17g\n", (double)b, (double)t, (double)diff, (double)diff / denom);
	c->rows++;
}

static void pass_write(void *vctx, int64_t start, const float *b, const float *t, int64_t n)
{
	export_ctx *c = vctx;
	for (int64_t i = 0; i < n; i++) {
		int64_t idx = start + i;
		if (c->keep) {
			if (c->kpos >= c->nkeep || c->keep[c->kpos] != idx)
				continue;
			c->kpos++;
		} else if (c->min_abs >= 0) {
			float diff = fabsf(t[i] - b[i]);
			if (!(diff > c->min_abs) && !isnan(diff))
				continue;
		}
		write_row(c, idx, b[i], t[i]);
	}
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

int tui_fallback_export_diff_csv(const char *base_path, const char *targ_path, const char *out_path,
				 double min_abs_diff, int64_t top_k, const dv_metrics_opts *opts,
				 int64_t *rows_written, dv_error *err)
{
	*rows_written = 0;
	side b, t;
	if (open_pair(&b, &t, base_path, targ_path, err) != 0)
		return -1;
	export_ctx c;
	memset(&c, 0, sizeof(c));
	c.shape_of = t.t;
	c.min_abs = min_abs_diff;
	c.top_k = top_k;
	int64_t n = t.t->numel;
	int rc = 0;
	if (top_k > 0) {
		c.heap = malloc((size_t)(top_k < n ? top_k : (n ? n : 1)) * sizeof(hit));
		if (top_k > n)
			c.top_k = n;
		if (!c.heap)
			rc = dv_error_set(err, "out of memory");
		if (rc == 0)
			rc = stream(&b, &t, opts, 2 * n, 0, pass_topk, &c, err);
		if (rc == 0) {
			c.keep = malloc((size_t)(c.nheap ? c.nheap : 1) * sizeof(int64_t));
			if (!c.keep)
				rc = dv_error_set(err, "out of memory");
			for (int64_t i = 0; rc == 0 && i < c.nheap; i++)
				c.keep[i] = c.heap[i].index;
			c.nkeep = c.nheap;
			if (c.keep)
				qsort(c.keep, (size_t)c.nkeep, sizeof(int64_t), cmp_i64);
		}
	}
	if (rc == 0) {
		c.out = fopen(out_path, "w");
		if (!c.out)
			rc = dv_error_set(err, "%s: cannot write: %s", out_path, strerror(errno));
	}
	if (rc == 0) {
		fprintf(c.out, "index,coord,baseline,target,abs_diff,rel_err\n");
		rc = stream(&b, &t, opts, top_k > 0 ? 2 * n : n, top_k > 0 ? n : 0, pass_write, &c, err);
		if (fclose(c.out) != 0 && rc == 0)
			rc = dv_error_set(err, "%s: write failed: %s", out_path, strerror(errno));
	}
	free(c.heap);
	free(c.keep);
	close_pair(&b, &t);
	*rows_written = c.rows;
	return rc;
}
