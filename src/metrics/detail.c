/* Drill-down detail of one pair for the TUI: a log10 histogram of |t-b|, both
 * sides' value histograms on shared bins, and a heat map of mean |t-b| over
 * the last two dims. Two streaming passes: ranges first, then counts. */
#include <math.h>
#include <pthread.h>
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
static inline int decade(const double *p10, double d)
{
	uint64_t bits;
	int e2, e;

	/* d in [2^(e2-1), 2^e2) (normal: d comes from a float32); the first
	 * guess floor((e2-1) log10 2) in integers, so that the AVX2 instance
	 * calls no SSE code */
	memcpy(&bits, &d, sizeof(bits));
	e2 = (int)((bits >> 52) & 0x7ff) - 1022;
	e = ((e2 - 1) * 78913) >> 18;
	if (e < P10_LO)
		e = P10_LO;
	while (e + 1 <= P10_HI && d >= p10[e + 1 - P10_LO])
		e++;
	while (e > P10_LO && d < p10[e - P10_LO])
		e--;
	return e;
}

typedef struct detail_counts detail_counts;

/* The state of both passes. */
typedef struct detail_pass {
	const dv_reader *br, *tr;
	dv_pair_detail *d;
	const double *p10;
	/* pass 1 */
	float lo, hi, maxabs;
	/* pass 2 */
	double lo2, scale;
	const struct bucket_of *btab;
	bool bins_known;               /* both bfloat16, value bins from the comparison (known->value_bins) */
	float pow[DV_ABSDIFF_BUCKETS];  /* the float32 ceiling of 10^(lo_exp + j): 0 below, Inf above float32 */
	double *sums;
	int64_t *counts;
	const int32_t *colcell;
	const int64_t *cellend;        /* per heat column: one past its last tensor column */
	int64_t R, C, row, col, rowcell;
	int hr, hc;
	detail_counts *cnt;            /* the serial pass's counts */
} detail_pass;

/* pass 1: value range of both sides, largest finite |t-b|, of one chunk;
 * merged in chunk order (ties keep the earlier value, as one scan would:
 * -0 and 0 compare equal) */
typedef struct range_part {
	float lo, hi, maxabs;
} range_part;

static inline void range_span(range_part *r, const float *bv, const float *tv, int64_t cnt)
{
	float lo = INFINITY, hi = -INFINITY, maxabs = 0;

	for (int64_t i = 0; i < cnt; i++) {
		float b = bv[i], t = tv[i], a = fabsf(t - b);

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
	r->lo = lo;
	r->hi = hi;
	r->maxabs = maxabs;
}

static inline void range_merge(detail_pass *p, const range_part *r)
{
	p->lo = r->lo < p->lo ? r->lo : p->lo;
	p->hi = r->hi > p->hi ? r->hi : p->hi;
	if (r->maxabs > p->maxabs)
		p->maxabs = r->maxabs;
}

static inline int range_chunk(void *ctx, int64_t start, int64_t cnt)
{
	detail_pass *p = ctx;
	range_part r;

	(void)start;
	range_span(&r, p->br->f32, p->tr->f32, cnt);
	range_merge(p, &r);
	return 0;
}

/* pass 2: counts, into c; row/col/rowcell: the running coordinates */
struct detail_counts {
	int64_t zero, nonfinite;
	int64_t buckets[DV_ABSDIFF_BUCKETS];
	int64_t base_bins[DV_VALUE_BINS], targ_bins[DV_VALUE_BINS];
	/* both sides bfloat16: counts of their bit patterns, put into the
	 * value bins by value_bins16 (each value's bin is one function of it) */
	uint32_t *h16b, *h16t;         /* NULL when the bins are known (bins_known) */
	bool raw16;                    /* both sides bfloat16: counted from the raw bits */
	int64_t n16;                   /* counted since the last value_bins16 */
	float *ad;                     /* DV_CHUNK: |t-b| of the chunk */
};

/* The |t-b| bucket of a float32 by its bit pattern u (sign clear): below
 * thr of its exponent field the binade's low decade, from it the next one
 * (the power of ten inside the binade, as the first float32 not below it),
 * both clamped to the buckets; 24: zero, 25: not finite; -1: subnormal,
 * by decade(). */
typedef struct bucket_of {
	uint32_t thr;
	int8_t k[2];                   /* below thr, from it */
} bucket_of;

static inline int bucket_clamp(int k)
{
	return k < 0 ? 0 : k >= DV_ABSDIFF_BUCKETS ? DV_ABSDIFF_BUCKETS - 1 : k;
}

static void bucket_table(bucket_of *tab, const double *p10, int lo_exp)
{
	/* E 0: zero below 1, subnormal from it; E 255: Inf and NaN */
	tab[0] = (bucket_of){ 1, { DV_ABSDIFF_BUCKETS, -1 } };
	tab[255] = (bucket_of){ 0, { DV_ABSDIFF_BUCKETS + 1, DV_ABSDIFF_BUCKETS + 1 } };
	for (int E = 1; E < 255; E++) {
		double bottom = ldexp(1.0, E - 127), top = ldexp(1.0, E - 126);
		int dec = decade(p10, bottom);
		uint32_t thr = (uint32_t)(E + 1) << 23; /* none inside: the next binade */

		if (dec + 1 <= P10_HI && p10[dec + 1 - P10_LO] < top) {
			double t = p10[dec + 1 - P10_LO];
			float f = (float)t;

			if ((double)f < t)
				f = nextafterf(f, INFINITY);
			memcpy(&thr, &f, sizeof(thr));
		}
		tab[E] = (bucket_of){ thr, { (int8_t)bucket_clamp(dec - lo_exp), (int8_t)bucket_clamp(dec + 1 - lo_exp) } };
	}
}

static inline float bf16_value(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

/* |t-b| of n bfloat16 pairs in float32, ahead of the counting: eight at a
 * time, each bfloat16 widened by interleaving it with a zero below (as in
 * kernels.c), where the compiler allows. */
typedef float v4f_d __attribute__((vector_size(16)));
typedef uint16_t v8hu_d __attribute__((vector_size(16)));
typedef uint32_t v4u_d __attribute__((vector_size(16)));

static void absdiff_bf16(const uint16_t *b, const uint16_t *t, float *out, size_t n)
{
	size_t i = 0;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && defined(__GNUC__) && \
	!defined(__clang__) && __GNUC__ >= 5
	const v8hu_d z = { 0 };
	const v4u_d mask = { 0x7fffffffu, 0x7fffffffu, 0x7fffffffu, 0x7fffffffu };

	for (; i + 8 <= n; i += 8) {
		v8hu_d hb, ht;

		memcpy(&hb, b + i, sizeof(hb));
		memcpy(&ht, t + i, sizeof(ht));
		v4f_d b0 = (v4f_d)__builtin_shuffle(z, hb, (v8hu_d){ 0, 8, 1, 9, 2, 10, 3, 11 });
		v4f_d b1 = (v4f_d)__builtin_shuffle(z, hb, (v8hu_d){ 4, 12, 5, 13, 6, 14, 7, 15 });
		v4f_d t0 = (v4f_d)__builtin_shuffle(z, ht, (v8hu_d){ 0, 8, 1, 9, 2, 10, 3, 11 });
		v4f_d t1 = (v4f_d)__builtin_shuffle(z, ht, (v8hu_d){ 4, 12, 5, 13, 6, 14, 7, 15 });
		v4f_d d0 = (v4f_d)((v4u_d)(t0 - b0) & mask), d1 = (v4f_d)((v4u_d)(t1 - b1) & mask);

		memcpy(out + i, &d0, sizeof(d0));
		memcpy(out + i + 4, &d1, sizeof(d1));
	}
#endif
	for (; i < n; i++)
		out[i] = fabsf(bf16_value(t[i]) - bf16_value(b[i]));
}

/* Both sides' bfloat16 bit patterns counted, ahead of the other counts. */
static inline __attribute__((always_inline)) void count_bf16_patterns(uint32_t *hb, uint32_t *ht, const uint16_t *b,
									 const uint16_t *t, size_t n)
{
	size_t i = 0;

	for (; i + 4 <= n; i += 4)
		dv_hist16_count4(hb, ht, b + i, t + i);
	for (; i < n; i++) {
		hb[b[i]]++;
		ht[t[i]]++;
	}
}

/* One element j into sub-table sub of COUNT_SPAN: a not finite |t-b|
 * (bucket 25) is left out of the cell's sum and counted in nf; adding a
 * zero leaves the (never negative) sum as it was, as before. */
#define COUNT_ONE(j, sub, hs, nf)                                                      \
	do {                                                                           \
		float b_, t_;                                                          \
		float a_;                                                              \
		if (raw16) {                                                           \
			a_ = SPAN_AD16(j);                                             \
			b_ = t_ = 0;                                                   \
		} else {                                                               \
			b_ = bv[j];                                                    \
			t_ = tv[j];                                                    \
			a_ = fabsf(t_ - b_);                                           \
		}                                                                      \
		uint32_t u_;                                                           \
		memcpy(&u_, &a_, sizeof(u_));                                          \
		const bucket_of *bo_ = &btab[u_ >> 23];                                \
		int k_ = bo_->k[u_ >= bo_->thr];                                       \
		if (__builtin_expect((unsigned)k_ > DV_ABSDIFF_BUCKETS, 0)) {          \
			if (k_ < 0) { /* subnormal */                                  \
				k_ = bucket_clamp(decade(p10, a_) - lo_exp);           \
				hs += (double)a_;                                      \
			} else {                                                       \
				nf++;                                                  \
			}                                                              \
		} else {                                                               \
			hs += (double)a_;                                              \
		}                                                                      \
		hk[sub][k_]++;                                                         \
		if (!raw16) {                                                          \
			if (isfinite(b_)) {                                            \
				int kb_ = (int)(((double)b_ - lo) * scale);            \
				hb[sub][kb_ >= DV_VALUE_BINS ? DV_VALUE_BINS - 1 : kb_]++; \
			}                                                              \
			if (isfinite(t_)) {                                            \
				int kt_ = (int)(((double)t_ - lo) * scale);            \
				ht[sub][kt_ >= DV_VALUE_BINS ? DV_VALUE_BINS - 1 : kt_]++; \
			}                                                              \
		}                                                                      \
	} while (0)

/* Elements [j, end) one by one, four sub-tables in turn; j ends at end. */
#define COUNT_RANGE(j, end, hs, nf)                    \
	do {                                           \
		for (; (j) + 4 <= (end); (j) += 4) {   \
			COUNT_ONE((j), 0, hs, nf);     \
			COUNT_ONE((j) + 1, 1, hs, nf); \
			COUNT_ONE((j) + 2, 2, hs, nf); \
			COUNT_ONE((j) + 3, 3, hs, nf); \
		}                                      \
		for (; (j) < (end); (j)++)             \
			COUNT_ONE((j), 0, hs, nf);     \
	} while (0)

#define DETAIL_VEC 0
#define COUNT_SPAN count_span_scalar
#include "detail_span.h"
#undef DETAIL_VEC
#undef COUNT_SPAN

/* The AVX2 instance: only where the compiler can target it (the clones of
 * kernels.c likewise), chosen at run time by the CPU. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(DV_NO_CLONES)
#define DETAIL_HAVE_AVX2 1
#pragma GCC push_options
#pragma GCC target("avx2")
#include <immintrin.h>
/* per mask of eight lanes, its set lanes in order (then zeros) */
static uint8_t detail_pack_lut[256][8];
static pthread_once_t detail_pack_once = PTHREAD_ONCE_INIT;

static void detail_pack_init(void)
{
	for (unsigned m = 0; m < 256; m++) {
		int n = 0;

		for (int l = 0; l < 8; l++)
			if (m >> l & 1)
				detail_pack_lut[m][n++] = (uint8_t)l;
	}
}

#define DETAIL_VEC 1
#define COUNT_SPAN count_span_avx2_t
#include "detail_span.h"
#undef DETAIL_VEC
#undef COUNT_SPAN

static void count_span_avx2(const detail_pass *p, detail_counts *c, const void *bv, const void *tv, int64_t cnt,
			    int64_t *prow, int64_t *pcol, int64_t *prowcell, bool raw16)
{
	if (raw16)
		count_span_avx2_t(p, c, bv, tv, cnt, prow, pcol, prowcell, true);
	else
		count_span_avx2_t(p, c, bv, tv, cnt, prow, pcol, prowcell, false);
}
#pragma GCC pop_options
#endif

bool dv_detail_scalar_only;

/* One span's counts, by the AVX2 instance where the CPU has it. */
static void count_span(const detail_pass *p, detail_counts *c, const void *bv, const void *tv, int64_t cnt,
		       int64_t *prow, int64_t *pcol, int64_t *prowcell, bool raw16)
{
#ifdef DETAIL_HAVE_AVX2
	if (!dv_detail_scalar_only && __builtin_cpu_supports("avx2")) {
		pthread_once(&detail_pack_once, detail_pack_init);
		count_span_avx2(p, c, bv, tv, cnt, prow, pcol, prowcell, raw16);
		return;
	}
#endif
	if (raw16)
		count_span_scalar(p, c, bv, tv, cnt, prow, pcol, prowcell, true);
	else
		count_span_scalar(p, c, bv, tv, cnt, prow, pcol, prowcell, false);
}

/* The value bins of both sides from their bfloat16 pattern counts hb[h],
 * ht[h], added to bb and bt: the float32 path's arithmetic on each
 * distinct value. */
static void bins_of_patterns(double lo, double scale, const uint32_t *hb, const uint32_t *ht, int64_t *bb,
			     int64_t *bt)
{
	for (uint32_t h = 0; h < 65536; h++) {
		float v = bf16_value((uint16_t)h);

		if ((!hb[h] && !ht[h]) || !isfinite(v))
			continue;
		int kv = (int)(((double)v - lo) * scale);

		kv = kv >= DV_VALUE_BINS ? DV_VALUE_BINS - 1 : kv;
		bb[kv] += hb[h];
		bt[kv] += ht[h];
	}
}

/* The bfloat16 bit patterns counted so far into the value bins, by the
 * float32 path's arithmetic on each distinct value. */
static void value_bins16(const detail_pass *p, detail_counts *c)
{
	bins_of_patterns(p->lo2, p->scale, c->h16b, c->h16t, c->base_bins, c->targ_bins);
	memset(c->h16b, 0, 65536 * sizeof(uint32_t));
	memset(c->h16t, 0, 65536 * sizeof(uint32_t));
	c->n16 = 0;
}

/* The 32-bit pattern counters stay far from full: put into the bins
 * before 2^31 more. */
static inline void counts16_room(const detail_pass *p, detail_counts *c)
{
	if (c->h16b && c->n16 > ((int64_t)1 << 31))
		value_bins16(p, c);
}

/* Counts from raw bfloat16 bit patterns when both sides are bfloat16 (the
 * patterns themselves not counted when the bins are known). */
static int counts_init(detail_counts *c, const dv_src *bs, const dv_src *ts, bool bins_known)
{
	memset(c, 0, sizeof(*c));
	if (bs->dtype != DV_BFLOAT16 || ts->dtype != DV_BFLOAT16)
		return 0;
	c->raw16 = true;
	c->ad = malloc(DV_CHUNK * sizeof(float));
	if (bins_known)
		return c->ad ? 0 : -1;
	c->h16b = calloc(65536, sizeof(uint32_t));
	c->h16t = calloc(65536, sizeof(uint32_t));
	if (!c->h16b || !c->h16t || !c->ad) {
		free(c->h16b);
		free(c->h16t);
		free(c->ad);
		c->h16b = c->h16t = NULL;
		c->ad = NULL;
		return -1;
	}
	return 0;
}

/* The bit-pattern counts into the bins; the tables freed. */
static void counts_finish(const detail_pass *p, detail_counts *c)
{
	if (c->h16b)
		value_bins16(p, c);
	free(c->h16b);
	free(c->h16t);
	free(c->ad);
	c->h16b = c->h16t = NULL;
	c->ad = NULL;
}

static void counts_add(dv_pair_detail *d, const detail_counts *c)
{
	d->absdiff_zero += c->zero;
	d->absdiff_nonfinite += c->nonfinite;
	for (int k = 0; k < DV_ABSDIFF_BUCKETS; k++)
		d->absdiff_buckets[k] += c->buckets[k];
	for (int k = 0; k < DV_VALUE_BINS; k++) {
		d->base_bins[k] += c->base_bins[k];
		d->targ_bins[k] += c->targ_bins[k];
	}
}

static inline int count_chunk(void *ctx, int64_t start, int64_t cnt)
{
	detail_pass *p = ctx;

	(void)start;
	if (p->cnt->raw16) {
		counts16_room(p, p->cnt);
		count_span(p, p->cnt, p->br->raw, p->tr->raw, cnt, &p->row, &p->col, &p->rowcell, true);
	} else {
		count_span(p, p->cnt, p->br->f32, p->tr->f32, cnt, &p->row, &p->col, &p->rowcell, false);
	}
	return 0;
}

/* ---- both passes on several threads ----
 * Pass 1 by chunks, merged in chunk order. Pass 2 by units of whole heat-map
 * rows (tensor rows [ceil(i*R/hr), ceil((i+1)*R/hr))), each read in order by
 * one thread: every cell's sum takes its terms in the same order as one scan
 * does, whatever the thread count; counts are integers. */
typedef struct detail_par {
	detail_pass *p;
	const dv_src *bs, *ts;
	int64_t numel, unit_rows;     /* no heat map: units of unit_rows chunks */
	range_part *parts;
	bool pass2;
} detail_par;

typedef struct detail_lane {
	dv_reader br, tr;
	pt_map_win wb, wt;             /* this thread's windows (src->map_win) */
	detail_counts c;
} detail_lane;

static void *detail_lane_new(void *ctx)
{
	detail_par *dp = ctx;
	detail_lane *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	if (dv_reader_init(&l->br, dp->bs, NULL) < 0 || dv_reader_init(&l->tr, dp->ts, NULL) < 0 ||
	    (dp->pass2 && counts_init(&l->c, dp->bs, dp->ts, dp->p->bins_known) < 0)) {
		dv_reader_free(&l->br);
		dv_reader_free(&l->tr);
		free(l);
		return NULL;
	}
	return l;
}

static void detail_lane_done(void *ctx, void *vl)
{
	detail_par *dp = ctx;
	detail_lane *l = vl;

	counts_finish(dp->p, &l->c);
	counts_add(dp->p->d, &l->c);
	pt_map_win_drop(&l->wb);
	pt_map_win_drop(&l->wt);
	dv_reader_free(&l->br);
	dv_reader_free(&l->tr);
	free(l);
}

/* unit k of pass 2: elements [*u0, *u1) */
static void unit_span(const detail_par *dp, int64_t k, int64_t *u0, int64_t *u1)
{
	const detail_pass *p = dp->p;

	if (p->sums) {
		int64_t r0 = (k * p->R + p->hr - 1) / p->hr, r1 = ((k + 1) * p->R + p->hr - 1) / p->hr;

		*u0 = r0 * p->C;
		*u1 = r1 * p->C;
	} else {
		int64_t step = dp->unit_rows * DV_CHUNK;

		*u0 = k * step;
		*u1 = *u0 + step < dp->numel ? *u0 + step : dp->numel;
	}
}

static int64_t detail_unit_len(void *ctx, int64_t k)
{
	detail_par *dp = ctx;
	int64_t u0, u1;

	if (!dp->pass2)
		return dp->numel - k * DV_CHUNK < DV_CHUNK ? dp->numel - k * DV_CHUNK : DV_CHUNK;
	unit_span(dp, k, &u0, &u1);
	return u1 - u0;
}

/* A chunk's counts over elements in place (mapped) or in the lane's
 * buffers: as stored (braw, traw) and as float32 (bf32, tf32; NULL: converted
 * into bbuf, tbuf first). Touches mapped bytes: run guarded then. */
typedef struct count_work {
	const detail_pass *p;
	detail_counts *c;
	const void *braw, *traw;
	const float *bf32, *tf32;
	dv_dtype bdt, tdt;
	float *bbuf, *tbuf;
	int64_t cnt, *row, *col, *rowcell;
} count_work;

static void count_work_fn(void *arg)
{
	count_work *w = arg;

	if (w->c->raw16) {
		count_span(w->p, w->c, w->braw, w->traw, w->cnt, w->row, w->col, w->rowcell, true);
		return;
	}
	count_span(w->p, w->c, dv_chunk_f32(w->bdt, w->braw, w->bf32, w->bbuf, (size_t)w->cnt),
		     dv_chunk_f32(w->tdt, w->traw, w->tf32, w->tbuf, (size_t)w->cnt), w->cnt, w->row, w->col,
		     w->rowcell, false);
}

/* Elements a mapped window of pass 2 (about 2 MiB a side), whole chunks. */
#define DETAIL_MAP_BYTES ((size_t)2 << 20)

static int detail_par_chunk(void *ctx, void *vl, int64_t k, dv_error *err)
{
	detail_par *dp = ctx;
	detail_lane *l = vl;

	if (!dp->pass2) {
		int64_t start = k * DV_CHUNK, cnt = detail_unit_len(ctx, k);

		if (dv_reader_read(&l->br, start, cnt, err) < 0 || dv_reader_read(&l->tr, start, cnt, err) < 0)
			return -1;
		range_span(&dp->parts[k], l->br.f32, l->tr.f32, cnt);
		return 0;
	}
	int64_t u0, u1;
	const detail_pass *p = dp->p;
	size_t bsz = dv_dtype_size(dp->bs->dtype), tsz = dv_dtype_size(dp->ts->dtype);
	int64_t win = (int64_t)(DETAIL_MAP_BYTES / (bsz > tsz ? bsz : tsz)) / DV_CHUNK * DV_CHUNK;

	unit_span(dp, k, &u0, &u1);
	int64_t row = p->C ? u0 / p->C : 0, col = 0, rowcell = p->sums && row < p->R ? (row * p->hr / p->R) * p->hc : 0;

	for (int64_t w0 = u0; w0 < u1; w0 += win) {
		int64_t wcnt = u1 - w0 < win ? u1 - w0 : win;
		const void *mb = NULL, *mt = NULL;
		int bm = 0, tm = 0;
		bool raw16 = l->c.raw16;

		/* small units (a few chunks) are read: a mapping costs more */
		if (wcnt >= 4 * DV_CHUNK && ((bm = dv_src_map_win(dp->bs, &l->wb, w0, wcnt, &mb, err)) < 0 ||
					      (tm = dv_src_map_win(dp->ts, &l->wt, w0, wcnt, &mt, err)) < 0))
			return -1;
		for (int64_t start = w0; start < w0 + wcnt; start += DV_CHUNK) {
			int64_t cnt = w0 + wcnt - start < DV_CHUNK ? w0 + wcnt - start : DV_CHUNK;
			count_work cw = { .p = p, .c = &l->c, .bdt = dp->bs->dtype, .tdt = dp->ts->dtype,
					  .bbuf = l->br.f32, .tbuf = l->tr.f32, .cnt = cnt, .row = &row, .col = &col,
					  .rowcell = &rowcell };

			if (dv_reader_chunk(&l->br, bm ? mb : NULL, w0, start, cnt, raw16, &cw.braw, &cw.bf32, err) < 0 ||
			    dv_reader_chunk(&l->tr, tm ? mt : NULL, w0, start, cnt, raw16, &cw.traw, &cw.tf32, err) < 0)
				return -1;
			counts16_room(p, &l->c);
			if (!bm && !tm)
				count_work_fn(&cw);
			else if (pt_map_guarded(count_work_fn, &cw) < 0)
				return dv_error_set(err, "%s: file changed while being read (truncated?)",
						    bm && pt_map_win_faulted(&l->wb) ? dp->bs->name : dp->ts->name);
		}
	}
	return 0;
}

static int detail_par_pass(detail_par *dp, bool pass2, int threads, const dv_metrics_opts *opts, dv_error *err)
{
	detail_pass *p = dp->p;
	dv_par_job j = { .numel = dp->numel, .ctx = dp, .lane_new = detail_lane_new, .chunk = detail_par_chunk,
			 .lane_done = detail_lane_done, .opts = opts, .done_base = pass2 ? dp->numel : 0,
			 .total = 2 * dp->numel, .name = dp->ts->name, .unit_len = detail_unit_len };
	int64_t nchunks = (dp->numel + DV_CHUNK - 1) / DV_CHUNK;
	int st;

	dp->pass2 = pass2;
	if (!pass2) {
		j.nunits = nchunks;
		dp->parts = malloc((size_t)nchunks * sizeof(range_part));
		if (!dp->parts)
			return dv_error_set(err, "out of memory");
	} else {
		j.nunits = p->sums ? p->hr : (nchunks + dp->unit_rows - 1) / dp->unit_rows;
	}
	st = dv_par_run(&j, threads, err);
	if (!pass2) {
		if (st == DV_WALK_DONE)
			for (int64_t k = 0; k < nchunks; k++)
				range_merge(p, &dp->parts[k]);
		free(dp->parts);
		dp->parts = NULL;
	}
	return st;
}

static int detail_walk_end(int st, dv_error *err)
{
	if (st == DV_WALK_CANCELLED)
		dv_error_set(err, "cancelled");
	return st == DV_WALK_DONE ? 0 : -1;
}

/* Pass 1's results from a finished comparison of the same pair, where they
 * are exactly what the pass would find: no NaN or Inf on either side (the
 * statistics' min/max are then the finite ones, and |t-b| is computed the
 * same way in float32), and no extreme equal to zero (whose sign the pass
 * takes from the first zero met). */
static bool known_range(const dv_pair_result *r, int64_t numel, detail_pass *p)
{
	const dv_stats *b, *t;

	if (!r || r->status != DV_RESULT_COMPARED || r->numel != numel || numel == 0)
		return false;
	b = &r->base_stats;
	t = &r->targ_stats;
	if (dv_stats_nan(b) || dv_stats_inf(b) || dv_stats_nan(t) || dv_stats_inf(t) || dv_stats_numel(b) != numel ||
	    dv_stats_numel(t) != numel)
		return false;
	if (!isfinite(b->min) || !isfinite(b->max) || !isfinite(t->min) || !isfinite(t->max) ||
	    !isfinite(r->max_abs_diff))
		return false;
	float lo = (float)(b->min < t->min ? b->min : t->min), hi = (float)(b->max > t->max ? b->max : t->max);

	if (lo == 0 || hi == 0 || (double)lo != (b->min < t->min ? b->min : t->min) ||
	    (double)hi != (b->max > t->max ? b->max : t->max))
		return false;
	p->lo = lo;
	p->hi = hi;
	p->maxabs = (float)r->max_abs_diff;
	return true;
}

int64_t dv_value_bins_min_numel = (int64_t)1 << 24;

bool dv_detail_bins16(const dv_pair_result *r, const uint32_t *hb, const uint32_t *ht, int64_t *bins)
{
	detail_pass p = { .lo = INFINITY, .hi = -INFINITY };

	if (!known_range(r, r->numel, &p))
		return false;
	/* as dv_detail_readers takes them */
	double width = (double)p.hi - (double)p.lo, scale = width > 0 ? DV_VALUE_BINS / width : 0;

	memset(bins, 0, 2 * DV_VALUE_BINS * sizeof(*bins));
	bins_of_patterns(p.lo, scale, hb, ht, bins, bins + DV_VALUE_BINS);
	return true;
}

int dv_detail_readers(dv_reader *br, dv_reader *tr, const dv_tensor_desc *td, int64_t numel, int max_rows,
		      int max_cols, const dv_metrics_opts *opts, dv_pair_detail *d, dv_error *err)
{
	float lo, hi, maxabs;
	double *sums = NULL;
	int64_t *counts = NULL;
	int32_t *colcell = NULL;
	int64_t *cellend = NULL;
	int64_t R = 0, C = 0;
	int hr = 0, hc = 0;

	double p10[P10_N];

	p10_init(p10);
	memset(d, 0, sizeof(*d));
	d->numel = numel;

	detail_counts cnt = { 0 };
	detail_pass p = { .br = br, .tr = tr, .d = d, .p10 = p10, .lo = INFINITY, .hi = -INFINITY, .maxabs = 0,
			  .cnt = &cnt };
	dv_walk w = { .b = br, .t = tr, .numel = numel, .opts = opts, .progress = true, .total = 2 * numel };
	int threads = br->src->concurrent && tr->src->concurrent ? dv_par_threads(opts, numel) : 1;
	detail_par dp = { .p = &p, .bs = br->src, .ts = tr->src, .numel = numel, .unit_rows = 16 };
	int st;

	dv_par_enter();
	if (known_range(opts ? opts->known : NULL, numel, &p)) {
		st = DV_WALK_DONE;
		p.bins_known = opts->known->value_bins && br->src->dtype == DV_BFLOAT16 &&
			       tr->src->dtype == DV_BFLOAT16;
		if (opts->progress)
			opts->progress(opts->progress_ctx, numel, 2 * numel);
	} else {
		st = threads != 1 ? detail_par_pass(&dp, false, threads, opts, err)
				  : dv_chunk_walk(&w, range_chunk, &p, err);
	}
	if (detail_walk_end(st, err) < 0) {
		dv_par_leave();
		return -1;
	}
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
			dv_par_leave();
			return dv_error_set(err, "out of memory for a %dx%d heat map", hr, hc);
		}
		cellend = malloc((size_t)hc * sizeof(int64_t));
		if (!cellend) {
			free(sums);
			free(counts);
			free(colcell);
			dv_par_leave();
			return dv_error_set(err, "out of memory for a %dx%d heat map", hr, hc);
		}
		for (int64_t c = 0; c < C; c++) {
			colcell[c] = (int32_t)(c * hc / C);
			cellend[colcell[c]] = c + 1;
		}
	}

	/* pass 2: counts */
	double width = (double)hi - (double)lo, scale = width > 0 ? DV_VALUE_BINS / width : 0;
	int64_t row = 0, col = 0, rowcell = 0;
	bucket_of btab[256];

	bucket_table(btab, p10, d->absdiff_lo_exp);
	for (int j = 0; j < DV_ABSDIFF_BUCKETS; j++) {
		int e = d->absdiff_lo_exp + j;
		float f = e < P10_LO ? 0 : INFINITY;

		if (e >= P10_LO && e <= P10_HI) {
			f = (float)p10[e - P10_LO];
			if ((double)f < p10[e - P10_LO])
				f = nextafterf(f, INFINITY);
		}
		p.pow[j] = f;
	}
	p.lo2 = lo;
	p.scale = scale;
	p.btab = btab;
	p.sums = sums;
	p.counts = counts;
	p.colcell = colcell;
	p.cellend = cellend;
	p.R = R;
	p.C = C;
	p.row = row;
	p.col = col;
	p.rowcell = rowcell;
	p.hr = hr;
	p.hc = hc;
	w.done = numel;
	if (threads != 1) {
		st = detail_par_pass(&dp, true, threads, opts, err);
	} else if (counts_init(&cnt, br->src, tr->src, p.bins_known) < 0) {
		st = dv_error_set(err, "out of memory");
	} else {
		w.raw = cnt.raw16;
		st = dv_chunk_walk(&w, count_chunk, &p, err);
		counts_finish(&p, &cnt);
	}
	dv_par_leave();
	if (detail_walk_end(st, err) < 0) {
		free(sums);
		free(counts);
		free(colcell);
		free(cellend);
		return -1;
	}
	counts_add(d, &cnt);
	if (p.bins_known)
		for (int k = 0; k < DV_VALUE_BINS; k++) {
			d->base_bins[k] += opts->known->value_bins[k];
			d->targ_bins[k] += opts->known->value_bins[DV_VALUE_BINS + k];
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
	free(cellend);
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
