/* Drill-down detail of one pair for the TUI: a log10 histogram of |t-b|, both
 * sides' value histograms on shared bins, and a heat map of mean |t-b| over
 * the last two dims. Two streaming passes: ranges first, then counts. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Powers of ten covering every float32 magnitude (1e-46 .. 1e39). */
#define P10_LO (-46)
#define P10_HI 39
#define P10_N (P10_HI - P10_LO + 1)

static void p10_init(double *p10)
{
	for (int e = P10_LO; e <= P10_HI; e++)
		p10[e - P10_LO] = pow(10.0, e);
}

/* floor(log10(d)) for finite d > 0, exact at powers of ten. */
static int decade(const double *p10, double d)
{
	int e2, e;

	frexp(d, &e2);                   /* d in [2^(e2-1), 2^e2) */
	e = (int)floor((e2 - 1) * 0.30102999566398120);
	if (e < P10_LO)
		e = P10_LO;
	while (e + 1 <= P10_HI && d >= p10[e + 1 - P10_LO])
		e++;
	while (e > P10_LO && d < p10[e - P10_LO])
		e--;
	return e;
}

/* The state of both passes. */
typedef struct detail_pass {
	const dv_reader *br, *tr;
	dv_pair_detail *d;
	const double *p10;
	/* pass 1 */
	float lo, hi, maxabs;
	/* pass 2 */
	double lo2, scale;
	const int *dec_lo;
	const double *dec_thr;
	double *sums;
	int64_t *counts;
	const int32_t *colcell;
	int64_t R, C, row, col, rowcell;
	int hr, hc;
} detail_pass;

/* pass 1: value range of both sides, largest finite |t-b| */
static inline int range_chunk(void *ctx, int64_t start, int64_t cnt)
{
	detail_pass *p = ctx;
	float lo = p->lo, hi = p->hi, maxabs = p->maxabs;

	(void)start;
	for (int64_t i = 0; i < cnt; i++) {
		float b = p->br->f32[i], t = p->tr->f32[i], a = fabsf(t - b);

		if (isfinite(b)) {
			lo = b < lo ? b : lo;
			hi = b > hi ? b : hi;
		}
		if (isfinite(t)) {
			lo = t < lo ? t : lo;
			hi = t > hi ? t : hi;
		}
		if (isfinite(a) && a > maxabs)
			maxabs = a;
	}
	p->lo = lo;
	p->hi = hi;
	p->maxabs = maxabs;
	return 0;
}

/* pass 2: counts */
static inline int count_chunk(void *ctx, int64_t start, int64_t cnt)
{
	detail_pass *p = ctx;
	dv_pair_detail *d = p->d;
	const int *dec_lo = p->dec_lo;
	const double *dec_thr = p->dec_thr, *p10 = p->p10;
	double lo = p->lo2, scale = p->scale;
	double *sums = p->sums;
	int64_t *counts = p->counts;
	const int32_t *colcell = p->colcell;
	int64_t R = p->R, C = p->C, row = p->row, col = p->col, rowcell = p->rowcell;
	int hr = p->hr, hc = p->hc;

	(void)start;
	for (int64_t i = 0; i < cnt; i++) {
		float b = p->br->f32[i], t = p->tr->f32[i], a = fabsf(t - b);

		if (a == 0) {
			d->absdiff_zero++;
		} else if (!isfinite(a)) {
			d->absdiff_nonfinite++;
		} else {
			uint32_t u;

			memcpy(&u, &a, sizeof(u));
			uint32_t E = u >> 23;
			int k = (E ? dec_lo[E] + (a >= dec_thr[E]) : decade(p10, a)) - d->absdiff_lo_exp;

			k = k < 0 ? 0 : k >= DV_ABSDIFF_BUCKETS ? DV_ABSDIFF_BUCKETS - 1 : k;
			d->absdiff_buckets[k]++;
		}
		if (isfinite(b)) {
			int k = (int)(((double)b - lo) * scale);

			d->base_bins[k >= DV_VALUE_BINS ? DV_VALUE_BINS - 1 : k]++;
		}
		if (isfinite(t)) {
			int k = (int)(((double)t - lo) * scale);

			d->targ_bins[k >= DV_VALUE_BINS ? DV_VALUE_BINS - 1 : k]++;
		}
		if (sums) {
			if (isfinite(a)) {
				sums[rowcell + colcell[col]] += a;
				counts[rowcell + colcell[col]]++;
			}
			/* running coordinates: no division per element */
			if (++col == C) {
				col = 0;
				row++;
				rowcell = row < R ? (row * hr / R) * hc : 0;
			}
		}
	}
	p->row = row;
	p->col = col;
	p->rowcell = rowcell;
	return 0;
}

static int detail_walk_end(int st, dv_error *err)
{
	if (st == DV_WALK_CANCELLED)
		dv_error_set(err, "cancelled");
	return st == DV_WALK_DONE ? 0 : -1;
}

int dv_detail_readers(dv_reader *br, dv_reader *tr, const dv_tensor_desc *td, int64_t numel, int max_rows,
		      int max_cols, const dv_metrics_opts *opts, dv_pair_detail *d, dv_error *err)
{
	float lo, hi, maxabs;
	double *sums = NULL;
	int64_t *counts = NULL;
	int32_t *colcell = NULL;
	int64_t R = 0, C = 0;
	int hr = 0, hc = 0;

	double p10[P10_N];

	p10_init(p10);
	memset(d, 0, sizeof(*d));
	d->numel = numel;

	detail_pass p = { .br = br, .tr = tr, .d = d, .p10 = p10, .lo = INFINITY, .hi = -INFINITY, .maxabs = 0 };
	dv_walk w = { .b = br, .t = tr, .numel = numel, .opts = opts, .progress = true, .total = 2 * numel };

	if (detail_walk_end(dv_chunk_walk(&w, range_chunk, &p, err), err) < 0)
		return -1;
	lo = p.lo;
	hi = p.hi;
	maxabs = p.maxabs;
	if (lo > hi)
		lo = hi = 0;
	d->value_lo = lo;
	d->value_hi = hi;
	d->absdiff_lo_exp = maxabs > 0 ? decade(p10, maxabs) - (DV_ABSDIFF_BUCKETS - 1) : -16;

	if (td->ndim >= 2 && numel > 0 && max_rows > 0 && max_cols > 0) {
		C = td->shape[td->ndim - 1];
		R = numel / C;
		hr = R < max_rows ? (int)R : max_rows;
		hc = C < max_cols ? (int)C : max_cols;
		sums = calloc((size_t)hr * hc, sizeof(double));
		counts = calloc((size_t)hr * hc, sizeof(int64_t));
		colcell = malloc((size_t)C * sizeof(int32_t));
		if (!sums || !counts || !colcell) {
			free(sums);
			free(counts);
			free(colcell);
			return dv_error_set(err, "out of memory for a %dx%d heat map", hr, hc);
		}
		for (int64_t c = 0; c < C; c++)
			colcell[c] = (int32_t)(c * hc / C);
	}

	/* pass 2: counts */
	double width = (double)hi - (double)lo, scale = width > 0 ? DV_VALUE_BINS / width : 0;
	int64_t row = 0, col = 0, rowcell = 0;
	/* decade of a normal float32 by its exponent field: the decade of the
	 * binade's bottom, plus one past the power of ten inside the binade */
	int dec_lo[256];
	double dec_thr[256];
	for (int E = 1; E < 256; E++) {
		double bottom = ldexp(1.0, E - 127), top = ldexp(1.0, E - 126);

		dec_lo[E] = decade(p10, bottom);
		dec_thr[E] = dec_lo[E] + 1 <= P10_HI && p10[dec_lo[E] + 1 - P10_LO] < top ? p10[dec_lo[E] + 1 - P10_LO]
											    : INFINITY;
	}
	p.lo2 = lo;
	p.scale = scale;
	p.dec_lo = dec_lo;
	p.dec_thr = dec_thr;
	p.sums = sums;
	p.counts = counts;
	p.colcell = colcell;
	p.R = R;
	p.C = C;
	p.row = row;
	p.col = col;
	p.rowcell = rowcell;
	p.hr = hr;
	p.hc = hc;
	w.done = numel;
	if (detail_walk_end(dv_chunk_walk(&w, count_chunk, &p, err), err) < 0) {
		free(sums);
		free(counts);
		free(colcell);
		return -1;
	}
	if (sums) {
		for (int64_t k = 0; k < (int64_t)hr * hc; k++) {
			sums[k] = counts[k] ? sums[k] / (double)counts[k] : 0.0;
			if (sums[k] > d->heat_max)
				d->heat_max = sums[k];
		}
		d->heat = sums;
		d->heat_rows = hr;
		d->heat_cols = hc;
		d->heat_src_rows = R;
		d->heat_src_cols = C;
	}
	free(counts);
	free(colcell);
	return 0;
}

int dv_pair_detail_compute(const char *base_path, const char *targ_path, int max_rows, int max_cols,
			   const dv_metrics_opts *opts, dv_pair_detail *detail, dv_error *err)
{
	dv_pair_stream s;
	int rc;

	memset(detail, 0, sizeof(*detail));
	if (dv_pair_stream_open(&s, base_path, targ_path, err) < 0)
		return -1;
	rc = dv_detail_readers(&s.br, &s.tr, &s.td, s.numel, max_rows, max_cols, opts, detail, err);
	dv_pair_stream_close(&s);
	return rc;
}

void dv_pair_detail_free(dv_pair_detail *detail)
{
	free(detail->heat);
	detail->heat = NULL;
}
