/* Chunk kernels of the comparator: conversion to float32, per-side statistics
 * and per-pair metrics. The hot loops use explicit vector types with several
 * independent accumulators: vectorised without -ffast-math, reductions in a
 * fixed order (results do not depend on the compiler or the clone chosen). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"


static inline uint32_t f32_bits(float v)
{
	uint32_t u;

	memcpy(&u, &v, sizeof(u));
	return u;
}

static inline float f32_from_bits(uint32_t u)
{
	float v;

	memcpy(&v, &u, sizeof(v));
	return v;
}

static void bf16_to_f32(const uint16_t *src, float *dst, size_t n)
{
	uint32_t *out = (uint32_t *)(void *)dst;

	for (size_t i = 0; i < n; i++)
		out[i] = (uint32_t)src[i] << 16;
}

int dv_metrics_to_f32(dv_dtype dt, const void *src, float *dst, size_t n)
{
	size_t i;

	switch (dt) {
	case DV_FLOAT32:
		memcpy(dst, src, n * sizeof(float));
		return 0;
	case DV_BFLOAT16: {
		uint16_t tmp[1024];

		/* src may be unaligned for uint16_t in theory: copy through a small buffer */
		if (((uintptr_t)src & 1) == 0) {
			bf16_to_f32(src, dst, n);
			return 0;
		}
		for (i = 0; i < n; i += 1024) {
			size_t m = n - i < 1024 ? n - i : 1024;

			memcpy(tmp, (const char *)src + 2 * i, 2 * m);
			bf16_to_f32(tmp, dst + i, m);
		}
		return 0;
	}
#define CONV(T) do { \
		for (i = 0; i < n; i++) { \
			T v; \
			memcpy(&v, (const char *)src + i * sizeof(T), sizeof(T)); \
			dst[i] = (float)v; \
		} \
	} while (0)
	case DV_FLOAT64: CONV(double); return 0;
	case DV_INT8:    CONV(int8_t); return 0;
	case DV_INT16:   CONV(int16_t); return 0;
	case DV_INT32:   CONV(int32_t); return 0;
	case DV_INT64:   CONV(int64_t); return 0; /* C rounds int64 -> float to nearest, as torch */
	case DV_UINT8:   CONV(uint8_t); return 0;
	case DV_UINT16:  CONV(uint16_t); return 0;
	case DV_UINT32:  CONV(uint32_t); return 0;
	case DV_UINT64:  CONV(uint64_t); return 0;
#undef CONV
	case DV_BOOL:
		for (i = 0; i < n; i++)
			dst[i] = ((const uint8_t *)src)[i] ? 1.0f : 0.0f;
		return 0;
	default:
		return dv_convert_to_f32(dt, src, dst, n);
	}
}

void dv_round_bf16(const float *x, float *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t u = f32_bits(x[i]);
		uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
		bool nan = (u & 0x7fffffffu) > 0x7f800000u;

		out[i] = f32_from_bits(nan ? ((u & 0xffff0000u) | 0x00400000u) : r);
	}
}

/* ---- sources ---------------------------------------------------------- */

static int mem_read(void *vctx, int64_t start, int64_t count, void *out, dv_error *err)
{
	dv_mem_src_ctx *ctx = vctx;

	(void)err;
	memcpy(out, (const char *)ctx->data + (size_t)start * ctx->itemsize, (size_t)count * ctx->itemsize);
	return 0;
}

void dv_src_mem(dv_src *s, dv_mem_src_ctx *ctx, dv_dtype dt, int64_t numel, const void *data, const char *name)
{
	ctx->data = data;
	ctx->itemsize = dv_dtype_size(dt);
	memset(s, 0, sizeof(*s));
	s->dtype = dt;
	s->numel = numel;
	s->read_raw = mem_read;
	s->ctx = ctx;
	s->name = name;
	s->concurrent = true;
}

int dv_reader_init(dv_reader *r, const dv_src *src, dv_error *err)
{
	size_t isz = dv_dtype_size(src->dtype);

	r->src = src;
	r->raw = NULL;
	r->f32 = NULL;
	if (!dv_dtype_is_real(src->dtype) || isz == 0)
		return dv_error_set(err, "%s: cannot compare %s tensors", src->name, dv_dtype_name(src->dtype));
	/* small tensors get small buffers: no mmap/munmap per pair */
	size_t cap = src->numel < DV_CHUNK ? (size_t)(src->numel > 0 ? src->numel : 1) : DV_CHUNK;

	/* float32 is read as stored straight into f32: no copy a chunk (it
	 * was a tenth of a large float32 pair's CPU) */
	r->f32 = malloc(cap * sizeof(float));
	r->raw = src->dtype == DV_FLOAT32 ? r->f32 : malloc(cap * isz);
	if (!r->raw || !r->f32) {
		dv_reader_free(r);
		return dv_error_set(err, "%s: out of memory", src->name);
	}
	return 0;
}

void dv_reader_free(dv_reader *r)
{
	if (r->raw != r->f32)
		free(r->raw);
	free(r->f32);
	r->raw = NULL;
	r->f32 = NULL;
}

int dv_reader_read_raw(dv_reader *r, int64_t start, int64_t count, dv_error *err)
{
	return r->src->read_raw(r->src->ctx, start, count, r->raw, err);
}

int dv_reader_read(dv_reader *r, int64_t start, int64_t count, dv_error *err)
{
	if (r->src->read_raw(r->src->ctx, start, count, r->raw, err) < 0)
		return -1;
	if (r->raw == r->f32) /* float32: read in place */
		return 0;
	if (dv_metrics_to_f32(r->src->dtype, r->raw, r->f32, (size_t)count) < 0)
		return dv_error_set(err, "%s: cannot convert %s to float32", r->src->name,
				    dv_dtype_name(r->src->dtype));
	return 0;
}

int dv_src_map_win(const dv_src *src, pt_map_win *w, int64_t start, int64_t count, const void **out,
		   dv_error *err)
{
	int rc = src->map_win ? src->map_win(src->ctx, w, start, count, out, err) : 0;

	if (rc == 1 && (uintptr_t)*out % dv_dtype_size(src->dtype))
		rc = 0;
	return rc;
}

int dv_reader_chunk(dv_reader *r, const void *mapped, int64_t mstart, int64_t start, int64_t count, bool raw_only,
		    const void **raw, const float **f32, dv_error *err)
{
	if (mapped) {
		*raw = (const char *)mapped + (size_t)(start - mstart) * dv_dtype_size(r->src->dtype);
		*f32 = r->src->dtype == DV_FLOAT32 ? *raw : NULL;
		return 0;
	}
	if ((raw_only ? dv_reader_read_raw(r, start, count, err) : dv_reader_read(r, start, count, err)) < 0)
		return -1;
	*raw = r->raw;
	*f32 = raw_only ? NULL : r->f32;
	return 0;
}

const float *dv_chunk_f32(dv_dtype dt, const void *raw, const float *f32, float *buf, size_t n)
{
	if (f32)
		return f32;
	dv_metrics_to_f32(dt, raw, buf, n);
	return buf;
}

/* ---- per-side statistics --------------------------------------------- */

void dv_side_acc_init(dv_side_acc *a)
{
	memset(a, 0, sizeof(*a));
	a->min = INFINITY;
	a->max = -INFINITY;
}

/* Vector types (GCC/clang extensions): 4 floats and 4 doubles per operation;
 * the AVX2 clone maps a v4d to one ymm register, the default one to two xmm. */
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));
typedef double v4d __attribute__((vector_size(32)));

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(DV_NO_CLONES)
#define KERNEL __attribute__((target_clones("avx2", "default")))
#else
#define KERNEL
#endif

/* GCC 12 can leave out the vzeroupper before a call from an AVX2 clone
 * (dv_pair_chunk_bf16's merges): the SSE code run next with the upper
 * halves dirty then pays at every switch between SSE and VEX code (~200 ns
 * each on the bench VM, several a pair). Every xmm register is clobbered:
 * nothing is kept in one across the asm. */
static inline void clean_upper(void)
{
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(DV_NO_CLONES)
	if (__builtin_cpu_supports("avx"))
		__asm__ volatile("vzeroupper" ::: "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
				 "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
#endif
}

static inline v4f load4(const float *p)
{
	v4f v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* float32 lanes to double lanes, exactly. Written element-wise: GCC makes
 * this one vcvtps2pd ymm in the AVX2 clone, while __builtin_convertvector
 * gave two half conversions, a shuffle and an insert. (A macro: a function
 * returning a 32-byte vector draws -Wpsabi.) */
#define widen(v) __extension__({ v4f widen_v_ = (v); (v4d){ widen_v_[0], widen_v_[1], widen_v_[2], widen_v_[3] }; })

static inline v4f vabs(v4f v)
{
	return (v4f)((v4i)v & 0x7fffffff);
}

static inline v4f vselect(v4i m, v4f a, v4f b)
{
	return (v4f)(((v4i)a & m) | ((v4i)b & ~m));
}

/* a < b ? a : b and a > b ? a : b per lane (NaN and equal zeros: b), which
 * is exactly what x86's minps/maxps compute: one instruction, not three. */
static inline v4f vmin_keep(v4f a, v4f b)
{
#if defined(__SSE__) && defined(__GNUC__) && !defined(__clang__)
	return __builtin_ia32_minps(a, b);
#else
	return vselect(a < b, a, b);
#endif
}

static inline v4f vmax_keep(v4f a, v4f b)
{
#if defined(__SSE__) && defined(__GNUC__) && !defined(__clang__)
	return __builtin_ia32_maxps(a, b);
#else
	return vselect(a > b, a, b);
#endif
}

/* Elements of a chunk as float32: float32 itself, or bf16 widened in
 * registers (a bf16 is the high half of its float32). The kernels below are
 * written once over these, so the float32 and the bf16 forms do the same
 * operations in the same order: bit for bit the same results. */
typedef uint16_t v4hu __attribute__((vector_size(8)));
typedef uint32_t v4u __attribute__((vector_size(16)));

static inline v4f load_bf16x4(const uint16_t *p)
{
	v4hu h;

	memcpy(&h, p, sizeof(h));
	return (v4f)(__builtin_convertvector(h, v4u) << 16);
}

static inline float bf16f(uint16_t h)
{
	return f32_from_bits((uint32_t)h << 16);
}

/* Eight bf16 as two float32 vectors: each interleaved with a zero below
 * (one unpack instruction each on x86; a widening convert and a shift
 * compile to element-by-element code there). */
typedef uint16_t v8hu __attribute__((vector_size(16)));

static inline void load_bf16x8(const uint16_t *p, v4f *lo, v4f *hi)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && \
	(defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 5))
	v8hu h, z = { 0 };

	memcpy(&h, p, sizeof(h));
#if defined(__clang__)
	*lo = (v4f)__builtin_shufflevector(z, h, 0, 8, 1, 9, 2, 10, 3, 11);
	*hi = (v4f)__builtin_shufflevector(z, h, 4, 12, 5, 13, 6, 14, 7, 15);
#else
	*lo = (v4f)__builtin_shuffle(z, h, (v8hu){ 0, 8, 1, 9, 2, 10, 3, 11 });
	*hi = (v4f)__builtin_shuffle(z, h, (v8hu){ 4, 12, 5, 13, 6, 14, 7, 15 });
#endif
#else
	*lo = load_bf16x4(p);
	*hi = load_bf16x4(p + 4);
#endif
}

/* Elements [i, i+8) as two float32 vectors. */
static inline __attribute__((always_inline)) void load8_of(const void *x, size_t i, bool bf16, v4f *v0, v4f *v1)
{
	if (bf16) {
		load_bf16x8((const uint16_t *)x + i, v0, v1);
	} else {
		*v0 = load4((const float *)x + i);
		*v1 = load4((const float *)x + i + 4);
	}
}

static inline __attribute__((always_inline)) float load1_of(const void *x, size_t i, bool bf16)
{
	return bf16 ? bf16f(((const uint16_t *)x)[i]) : ((const float *)x)[i];
}

/* Sum, min, max, NaN and Inf counts of one chunk, then its M2 about its own
 * mean (a second pass over data in cache), merged with Chan's formula:
 * stable where a running sum of squares is not. Chunks holding NaN/Inf skip
 * the M2: std is NaN then anyway. Eight elements a step, in two lanes of four. */
typedef struct side_lanes {
	v4d sum0, sum1, abs0, abs1;
	v4f mn, mx;
	v4i nanc, infc;
} side_lanes;

typedef struct diff_lanes {
	v4d sq0, sq1, nm0, nm1, ab0, ab1;
	v4f mx;
	v4i nanc, ident;
} diff_lanes;

static inline __attribute__((always_inline)) void side_lanes_init(side_lanes *l)
{
	const v4f inf = { INFINITY, INFINITY, INFINITY, INFINITY };

	/* field by field, not memset: the lanes then live in registers */
	l->sum0 = l->sum1 = l->abs0 = l->abs1 = (v4d){ 0 };
	l->mn = inf;
	l->mx = -inf;
	l->nanc = l->infc = (v4i){ 0 };
}

static inline __attribute__((always_inline)) void diff_lanes_init(diff_lanes *l)
{
	l->sq0 = l->sq1 = l->nm0 = l->nm1 = l->ab0 = l->ab1 = (v4d){ 0 };
	l->mx = (v4f){ 0 };
	l->nanc = l->ident = (v4i){ 0 };
}

static inline __attribute__((always_inline)) void side_step(side_lanes *l, v4f v0, v4f v1)
{
	const v4f inf = { INFINITY, INFINITY, INFINITY, INFINITY };

	l->sum0 += widen(v0);
	l->sum1 += widen(v1);
	l->abs0 += widen(vabs(v0));
	l->abs1 += widen(vabs(v1));
	l->mn = vmin_keep(v0, l->mn);
	l->mn = vmin_keep(v1, l->mn);
	l->mx = vmax_keep(v0, l->mx);
	l->mx = vmax_keep(v1, l->mx);
	l->nanc -= (v0 != v0) + (v1 != v1);
	l->infc -= (vabs(v0) == inf) + (vabs(v1) == inf);
}

/* The tail [i, n), the lanes reduced, the M2 pass, the merge into a. */
static inline __attribute__((always_inline)) void side_finish_chunk(dv_side_part *part, const side_lanes *l,
								    const void *x, size_t i, size_t n, bool bf16)
{
	/* whole fields into locals first: lanes indexed in a struct would be
	 * kept in memory, in the hot loop too */
	v4d sum0 = l->sum0, sum1 = l->sum1, abs0 = l->abs0, abs1 = l->abs1;
	v4f mn = l->mn, mx = l->mx;
	v4i nanc = l->nanc, infc = l->infc;
	double s = 0, tail = 0, as = 0;
	float cmin = INFINITY, cmax = -INFINITY;
	int64_t nn = 0, ni = 0;
	size_t j;

	for (; i < n; i++) {
		float v = load1_of(x, i, bf16);

		tail += (double)v;
		as += fabs((double)v);
		cmin = v < cmin ? v : cmin;
		cmax = v > cmax ? v : cmax;
		nn += v != v;
		ni += fabsf(v) == INFINITY;
	}
	for (j = 0; j < 4; j++) {
		s += sum0[j] + sum1[j];
		as += abs0[j] + abs1[j];
		cmin = mn[j] < cmin ? mn[j] : cmin;
		cmax = mx[j] > cmax ? mx[j] : cmax;
		nn += nanc[j];
		ni += infc[j];
	}
	s += tail;
	part->n = (int64_t)n;
	part->sum = s;
	part->abs_sum = as;
	part->min = cmin;
	part->max = cmax;
	part->nan = nn;
	part->inf = ni;
	part->mean = part->m2 = 0;
	if (nn == 0 && ni == 0) {
		double cm = s / (double)n, m2 = 0;
		v4d vcm = { cm, cm, cm, cm }, q0 = { 0 }, q1 = { 0 };

		for (i = 0; i + 8 <= n; i += 8) {
			v4f v0, v1;

			load8_of(x, i, bf16, &v0, &v1);
			v4d d0 = widen(v0) - vcm, d1 = widen(v1) - vcm;

			q0 += d0 * d0;
			q1 += d1 * d1;
		}
		for (; i < n; i++) {
			double d = (double)load1_of(x, i, bf16) - cm;

			m2 += d * d;
		}
		for (j = 0; j < 4; j++)
			m2 += q0[j] + q1[j];
		part->mean = cm;
		part->m2 = m2;
	}
}

void dv_side_merge(dv_side_acc *a, const dv_side_part *part)
{
	if (part->n == 0)
		return;
	if (part->min < a->min)
		a->min = part->min;
	if (part->max > a->max)
		a->max = part->max;
	a->sum += part->sum;
	a->abs_sum += part->abs_sum;
	a->nan += part->nan;
	a->inf += part->inf;
	if (part->nan == 0 && part->inf == 0) {
		double cm = part->mean, m2 = part->m2;
		double nb = (double)part->n, na = (double)a->n, tot = na + nb, delta = cm - a->mean;

		a->mean += delta * nb / tot;
		a->m2 += m2 + delta * delta * na * nb / tot;
	}
	a->n += part->n;
}

KERNEL void dv_side_chunk_part(dv_side_part *part, const float *x, size_t n)
{
	side_lanes l;
	size_t i = 0;

	if (n == 0) {
		memset(part, 0, sizeof(*part));
		return;
	}
	side_lanes_init(&l);
	/* x may come cold from a mapping, a page at a time (the hardware's
	 * prefetch stops at page ends): fetched 2 KiB ahead (a prefetch never
	 * faults, past the end neither) */
	for (; i + 8 <= n; i += 8) {
		__builtin_prefetch(x + i + 512);
		side_step(&l, load4(x + i), load4(x + i + 4));
	}
	side_finish_chunk(part, &l, x, i, n, false);
}

void dv_side_chunk(dv_side_acc *a, const float *x, size_t n)
{
	dv_side_part part;

	dv_side_chunk_part(&part, x, n);
	dv_side_merge(a, &part);
}

void dv_side_finish(const dv_side_acc *a, dv_stats *st)
{
	dv_stats_set_count(st, DV_STATS_NUMEL, a->n);
	dv_stats_set_count(st, DV_STATS_NAN, a->nan);
	dv_stats_set_count(st, DV_STATS_INF, a->inf);
	if (a->n == 0) {
		st->mean = st->abs_mean = st->std = st->min = st->max = NAN;
		return;
	}
	st->mean = a->sum / (double)a->n;
	st->abs_mean = a->abs_sum / (double)a->n;
	if (a->nan > 0) {
		st->mean = st->abs_mean = st->std = st->min = st->max = NAN;
		return;
	}
	st->min = a->min;
	st->max = a->max;
	if (a->inf > 0 || a->n < 2)
		st->std = NAN;
	else
		st->std = sqrt(a->m2 / (double)(a->n - 1));
}

/* ---- per-pair metrics ------------------------------------------------- */

void dv_diff_acc_init(dv_diff_acc *a)
{
	memset(a, 0, sizeof(*a));
	a->max_abs = -1.0f;
	a->max_index = -1;
}

/* The running max |t-b| of a pair and where it is (torch.argmax: NaN counts
 * as the largest and, once seen, stays; the first occurrence wins). */
static void diff_record_max(dv_diff_acc *a, float abs_diff, int64_t index, float bv, float tv)
{
	a->max_is_nan = isnan(abs_diff);
	a->max_abs = abs_diff;
	a->max_index = index;
	a->max_b = bv;
	a->max_t = tv;
}

/* After a chunk's sums: where its max |t-b| is, found by a rescan of the
 * chunk only when it holds a NaN or its maximum exceeds hint, a value known
 * not to exceed the running maximum of every chunk before it (rare after the
 * first chunk). torch.argmax: NaN counts as the largest, first one wins. */
static inline __attribute__((always_inline)) void diff_locate_max(dv_diff_part *p, const void *b, const void *t,
								  size_t n, bool bf16, float hint)
{
	size_t i;

	p->loc = -1;
	if (p->cnan > 0) {
		for (i = 0; i < n; i++) {
			float d = fabsf(load1_of(t, i, bf16) - load1_of(b, i, bf16));

			if (d != d)
				break;
		}
	} else if (p->cmax > hint) {
		for (i = 0; i < n; i++)
			if (fabsf(load1_of(t, i, bf16) - load1_of(b, i, bf16)) == p->cmax)
				break;
	} else {
		return;
	}
	p->loc = (int64_t)i;
	p->loc_b = load1_of(b, i, bf16);
	p->loc_t = load1_of(t, i, bf16);
}

void dv_diff_merge(dv_diff_acc *a, const dv_diff_part *p)
{
	a->sqdiff += p->sq;
	a->norm += p->nm;
	a->abs_sum += p->ab;
	a->identical += p->cid;
	a->n += p->n;
	if (a->max_is_nan || p->n == 0)
		return;
	if (p->cnan > 0)
		diff_record_max(a, NAN, p->start + p->loc, p->loc_b, p->loc_t);
	else if (p->cmax > a->max_abs)
		diff_record_max(a, p->cmax, p->start + p->loc, p->loc_b, p->loc_t);
}

/* The hint for dv_diff_chunk_part when merging straight after. */
static inline float diff_hint(const dv_diff_acc *a)
{
	return a->max_is_nan ? INFINITY : a->max_abs;
}

/* Pair sums of one chunk; the position of max |t-b| is found by a rescan of
 * the chunk only when the chunk raises the maximum (rare after the first). */
static inline __attribute__((always_inline)) void diff_step(diff_lanes *l, v4f b0, v4f b1, v4f t0, v4f t1)
{
	v4f d0 = vabs(t0 - b0), d1 = vabs(t1 - b1);
	v4d bd0 = widen(b0), bd1 = widen(b1), td0 = widen(t0), td1 = widen(t1);
	v4d e0 = bd0 - td0, e1 = bd1 - td1;

	l->sq0 += e0 * e0;
	l->sq1 += e1 * e1;
	l->nm0 += bd0 * bd0 + td0 * td0;
	l->nm1 += bd1 * bd1 + td1 * td1;
	l->ab0 += widen(d0);
	l->ab1 += widen(d1);
	l->mx = vmax_keep(d0, l->mx);
	l->mx = vmax_keep(d1, l->mx);
	l->nanc -= (d0 != d0) + (d1 != d1);
	l->ident -= ((v4i)b0 == (v4i)t0) + ((v4i)b1 == (v4i)t1);
}

static inline __attribute__((always_inline)) void diff_finish_chunk(dv_diff_part *p, const diff_lanes *l,
								    const void *b, const void *t, size_t i, size_t n,
								    int64_t start, bool bf16, float hint)
{
	v4d sq0 = l->sq0, sq1 = l->sq1, nm0 = l->nm0, nm1 = l->nm1, ab0 = l->ab0, ab1 = l->ab1;
	v4f mx = l->mx;
	v4i nanc = l->nanc, ident = l->ident;
	double sq = 0, nm = 0, ab = 0;
	float cmax = 0.0f;
	int64_t cnan = 0, cid = 0;
	size_t j;

	for (; i < n; i++) {
		float bv = load1_of(b, i, bf16), tv = load1_of(t, i, bf16), d = fabsf(tv - bv);
		double e = (double)bv - (double)tv;

		sq += e * e;
		nm += (double)bv * bv + (double)tv * tv;
		ab += (double)d;
		cmax = d > cmax ? d : cmax;
		cnan += d != d;
		cid += f32_bits(bv) == f32_bits(tv);
	}
	for (j = 0; j < 4; j++) {
		sq += sq0[j] + sq1[j];
		nm += nm0[j] + nm1[j];
		ab += ab0[j] + ab1[j];
		cmax = mx[j] > cmax ? mx[j] : cmax;
		cnan += nanc[j];
		cid += ident[j];
	}
	p->n = (int64_t)n;
	p->start = start;
	p->sq = sq;
	p->nm = nm;
	p->ab = ab;
	p->cid = cid;
	p->cnan = cnan;
	p->cmax = cmax;
	diff_locate_max(p, b, t, n, bf16, hint);
}

KERNEL void dv_diff_chunk_part(dv_diff_part *p, const float *b, const float *t, size_t n, int64_t start,
				float hint)
{
	diff_lanes l;
	size_t i = 0;

	if (n == 0) {
		memset(p, 0, sizeof(*p));
		return;
	}
	diff_lanes_init(&l);
	for (; i + 8 <= n; i += 8)
		diff_step(&l, load4(b + i), load4(b + i + 4), load4(t + i), load4(t + i + 4));
	diff_finish_chunk(p, &l, b, t, i, n, start, false, hint);
}

void dv_diff_chunk(dv_diff_acc *a, const float *b, const float *t, size_t n, int64_t start)
{
	dv_diff_part p;

	dv_diff_chunk_part(&p, b, t, n, start, diff_hint(a));
	dv_diff_merge(a, &p);
}

/* Both sides' statistics and the pair metrics of a bf16 chunk from the raw
 * bits, in one pass (and the sides' M2 passes): what dv_side_chunk on each
 * side and dv_diff_chunk on the pair do over the values widened to float32,
 * the same operations in the same order, without the float32 buffers. */
KERNEL void dv_pair_chunk_bf16(dv_side_acc *sb, dv_side_acc *st, dv_diff_acc *a, const uint16_t *b,
				const uint16_t *t, size_t n, int64_t start)
{
	side_lanes lb, lt;
	diff_lanes ld;
	dv_side_part pb, pt;
	dv_diff_part pd;
	v4f b0, b1, t0, t1;
	size_t i = 0;

	if (n == 0)
		return;
	/* three loops, each finished before the next: the lanes of one then
	 * fit the registers */
	side_lanes_init(&lb);
	for (i = 0; i + 8 <= n; i += 8) {
		load_bf16x8(b + i, &b0, &b1);
		side_step(&lb, b0, b1);
	}
	side_finish_chunk(&pb, &lb, b, i, n, true);
	clean_upper();
	dv_side_merge(sb, &pb);
	side_lanes_init(&lt);
	for (i = 0; i + 8 <= n; i += 8) {
		load_bf16x8(t + i, &t0, &t1);
		side_step(&lt, t0, t1);
	}
	side_finish_chunk(&pt, &lt, t, i, n, true);
	clean_upper();
	dv_side_merge(st, &pt);
	diff_lanes_init(&ld);
	for (i = 0; i + 8 <= n; i += 8) {
		load_bf16x8(b + i, &b0, &b1);
		load_bf16x8(t + i, &t0, &t1);
		diff_step(&ld, b0, b1, t0, t1);
	}
	diff_finish_chunk(&pd, &ld, b, t, i, n, start, true, diff_hint(a));
	clean_upper();
	dv_diff_merge(a, &pd);
}

/* bf16 against bf16, straight from the raw bits (a bf16 is the high half of
 * its float32): no float32 buffers. sum(b^2+t^2) is left to the caller, who
 * has it exactly from the sides' histograms (a->norm is not touched).
 * Written as macros over the running lanes, so that the contiguous kernel
 * and the one over runs of mapped pieces do the same operations. */
#define BF16_DIFF_LANES                                                                                         \
	v4d sq0 = { 0 }, sq1 = { 0 }, ab0 = { 0 }, ab1 = { 0 };                                                \
	v4f mx = { 0 };                                                                                         \
	v4i nanc = { 0 }, ident = { 0 };                                                                        \
	double sq = 0, ab = 0;                                                                                  \
	float cmax = 0.0f;                                                                                      \
	int64_t cnan = 0, cid = 0

/* elements [0, 8) of bp and tp */
#define BF16_DIFF_STEP(bp, tp)                                                                                  \
	do {                                                                                                    \
		v4f b0, b1, t0, t1;                                                                             \
                                                                                                                \
		load_bf16x8(bp, &b0, &b1);                                                                      \
		load_bf16x8(tp, &t0, &t1);                                                                      \
                                                                                                                \
		dv_hist16_count4(hb, ht, bp, tp);                                                               \
		dv_hist16_count4(hb, ht, (bp) + 4, (tp) + 4);                                                   \
		v4f d0 = vabs(t0 - b0), d1 = vabs(t1 - b1);                                                     \
		v4d e0 = widen(b0) - widen(t0), e1 = widen(b1) - widen(t1);                                     \
                                                                                                                \
		sq0 += e0 * e0;                                                                                 \
		sq1 += e1 * e1;                                                                                 \
		ab0 += widen(d0);                                                                               \
		ab1 += widen(d1);                                                                               \
		mx = vmax_keep(d0, mx);                                                                         \
		mx = vmax_keep(d1, mx);                                                                         \
		nanc -= (d0 != d0) + (d1 != d1);                                                                \
		ident -= ((v4i)b0 == (v4i)t0) + ((v4i)b1 == (v4i)t1);                                           \
	} while (0)

/* one element of the last n % 8, b and t its raw bits */
#define BF16_DIFF_TAIL(bh, th)                                                                                  \
	do {                                                                                                    \
		uint16_t bh_ = (bh), th_ = (th);                                                                \
		float bv = bf16f(bh_), tv = bf16f(th_), d = fabsf(tv - bv);                                     \
		double e = (double)bv - (double)tv;                                                             \
                                                                                                                \
		hb[bh_]++;                                                                                      \
		ht[th_]++;                                                                                      \
		sq += e * e;                                                                                    \
		ab += (double)d;                                                                                \
		cmax = d > cmax ? d : cmax;                                                                     \
		cnan += d != d;                                                                                 \
		cid += bh_ == th_;                                                                              \
	} while (0)

#define BF16_DIFF_FINISH(p, n, start)                                                                           \
	do {                                                                                                    \
		for (size_t j = 0; j < 4; j++) {                                                                \
			sq += sq0[j] + sq1[j];                                                                  \
			ab += ab0[j] + ab1[j];                                                                  \
			cmax = mx[j] > cmax ? mx[j] : cmax;                                                     \
			cnan += nanc[j];                                                                        \
			cid += ident[j];                                                                        \
		}                                                                                               \
		(p)->n = (int64_t)(n);                                                                          \
		(p)->start = (start);                                                                           \
		(p)->sq = sq;                                                                                   \
		(p)->nm = 0;                                                                                    \
		(p)->ab = ab;                                                                                   \
		(p)->cid = cid;                                                                                 \
		(p)->cnan = cnan;                                                                               \
		(p)->cmax = cmax;                                                                               \
	} while (0)

KERNEL void dv_diff_chunk_bf16_part(dv_diff_part *p, const uint16_t *b, const uint16_t *t, size_t n,
				     int64_t start, float hint, uint32_t *hb, uint32_t *ht)
{
	BF16_DIFF_LANES;
	size_t i = 0;

	if (n == 0) {
		memset(p, 0, sizeof(*p));
		return;
	}
	for (; i + 8 <= n; i += 8)
		BF16_DIFF_STEP(b + i, t + i);
	for (; i < n; i++)
		BF16_DIFF_TAIL(b[i], t[i]);
	BF16_DIFF_FINISH(p, n, start);
	diff_locate_max(p, b, t, n, true, hint);
}

/* A walk over the runs of one side: the current run's pointer at the walk's
 * element and the element where that run ends. */
typedef struct run_walk {
	const dv_raw_run *r;
	const uint16_t *at;
	size_t end;
} run_walk;

static inline void run_walk_init(run_walk *w, const dv_raw_run *r)
{
	w->r = r;
	w->at = r->p;
	w->end = (size_t)r->n;
}

/* at element i (< n): onto the next run where the current one ends (runs
 * are never empty) */
static inline void run_walk_next(run_walk *w, size_t i)
{
	if (i == w->end) {
		w->r++;
		w->at = w->r->p;
		w->end += (size_t)w->r->n;
	}
}

/* diff_locate_max over runs (rare: a chunk whose maximum is new, or NaN) */
static void diff_locate_max_runs(dv_diff_part *p, const dv_raw_run *br, const dv_raw_run *tr, size_t n, float hint)
{
	run_walk b, t;
	size_t i;

	p->loc = -1;
	if (p->cnan <= 0 && !(p->cmax > hint))
		return;
	run_walk_init(&b, br);
	run_walk_init(&t, tr);
	for (i = 0; i < n; i++, b.at++, t.at++) {
		float d;

		run_walk_next(&b, i);
		run_walk_next(&t, i);
		d = fabsf(bf16f(*t.at) - bf16f(*b.at));
		if (p->cnan > 0 ? d != d : d == p->cmax)
			break;
	}
	p->loc = (int64_t)i;
	p->loc_b = bf16f(*b.at);
	p->loc_t = bf16f(*t.at);
}

KERNEL void dv_diff_chunk_bf16_runs_part(dv_diff_part *p, const dv_raw_run *br, const dv_raw_run *tr, size_t n,
					  int64_t start, float hint, uint32_t *hb, uint32_t *ht)
{
	BF16_DIFF_LANES;
	run_walk b, t;
	size_t i = 0;

	if (n == 0) {
		memset(p, 0, sizeof(*p));
		return;
	}
	run_walk_init(&b, br);
	run_walk_init(&t, tr);
	while (i + 8 <= n) {
		size_t stop = b.end < t.end ? b.end : t.end, len;

		if (stop > n)
			stop = n;
		len = (stop - i) & ~(size_t)7;
		if (!len)
			break; /* (not reached: the caller keeps run ends at multiples of 8) */
		/* mapped pieces come cold from memory, a page at a time (the
		 * hardware's prefetch stops at page ends): fetched 2 KiB ahead
		 * (a prefetch never faults, past the run's end neither) */
		for (size_t k = 0; k < len; k += 8) {
			__builtin_prefetch(b.at + k + 1024);
			__builtin_prefetch(t.at + k + 1024);
			BF16_DIFF_STEP(b.at + k, t.at + k);
		}
		i += len;
		b.at += len;
		t.at += len;
		if (i + 8 > n)
			break;
		run_walk_next(&b, i);
		run_walk_next(&t, i);
	}
	for (; i < n; i++, b.at++, t.at++) {
		run_walk_next(&b, i);
		run_walk_next(&t, i);
		BF16_DIFF_TAIL(*b.at, *t.at);
	}
	BF16_DIFF_FINISH(p, n, start);
	diff_locate_max_runs(p, br, tr, n, hint);
}

void dv_diff_chunk_bf16(dv_diff_acc *a, const uint16_t *b, const uint16_t *t, size_t n, int64_t start,
			uint32_t *hb, uint32_t *ht)
{
	dv_diff_part p;

	if (n == 0)
		return;
	dv_diff_chunk_bf16_part(&p, b, t, n, start, diff_hint(a), hb, ht);
	dv_diff_merge(a, &p);
}

void dv_diff_chunk_bf16_runs(dv_diff_acc *a, const dv_raw_run *br, const dv_raw_run *tr, size_t n, int64_t start,
			     uint32_t *hb, uint32_t *ht)
{
	dv_diff_part p;

	if (n == 0)
		return;
	dv_diff_chunk_bf16_runs_part(&p, br, tr, n, start, diff_hint(a), hb, ht);
	dv_diff_merge(a, &p);
}

/* 1 - 2*sum(b*t)/sum(b^2+t^2) == sum((b-t)^2)/sum(b^2+t^2): the second form
 * has no cancellation (b-t is exact in double for float32 inputs), so it is
 * accurate to a few ulps even when rel_diff is tiny, where the first form's
 * own rounding (torch's included) is ~1e-16 absolute. */
double dv_diff_rel(const dv_diff_acc *a)
{
	if (a->norm == 0.0 && a->sqdiff == 0.0)
		return 0.0; /* both all-zero (or empty) */
	return a->sqdiff / a->norm;
}

double dv_diff_mean_abs(const dv_diff_acc *a)
{
	return a->n ? a->abs_sum / (double)a->n : 0.0;
}
