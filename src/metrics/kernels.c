/* Chunk kernels of the comparator: conversion to float32, per-side statistics
 * and per-pair metrics. Loops keep LANES independent accumulators so that gcc
 * vectorises them without -ffast-math (the reductions are reassociated by
 * hand, in a fixed order, so results do not depend on the compiler). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define LANES 8

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
	s->dtype = dt;
	s->numel = numel;
	s->read_raw = mem_read;
	s->ctx = ctx;
	s->name = name;
}

int dv_reader_init(dv_reader *r, const dv_src *src, dv_error *err)
{
	size_t isz = dv_dtype_size(src->dtype);

	r->src = src;
	r->raw = NULL;
	r->f32 = NULL;
	if (!dv_dtype_is_real(src->dtype) || isz == 0)
		return dv_error_set(err, "%s: cannot compare %s tensors", src->name, dv_dtype_name(src->dtype));
	r->raw = malloc(DV_CHUNK * isz);
	r->f32 = malloc(DV_CHUNK * sizeof(float));
	if (!r->raw || !r->f32) {
		dv_reader_free(r);
		return dv_error_set(err, "%s: out of memory", src->name);
	}
	return 0;
}

void dv_reader_free(dv_reader *r)
{
	free(r->raw);
	free(r->f32);
	r->raw = NULL;
	r->f32 = NULL;
}

int dv_reader_read(dv_reader *r, int64_t start, int64_t count, dv_error *err)
{
	if (r->src->read_raw(r->src->ctx, start, count, r->raw, err) < 0)
		return -1;
	if (dv_metrics_to_f32(r->src->dtype, r->raw, r->f32, (size_t)count) < 0)
		return dv_error_set(err, "%s: cannot convert %s to float32", r->src->name,
				    dv_dtype_name(r->src->dtype));
	return 0;
}

/* ---- per-side statistics --------------------------------------------- */

void dv_side_acc_init(dv_side_acc *a)
{
	memset(a, 0, sizeof(*a));
	a->min = INFINITY;
	a->max = -INFINITY;
}

void dv_side_chunk(dv_side_acc *a, const float *x, size_t n)
{
	double sum[LANES] = { 0 };
	float mn[LANES], mx[LANES];
	int32_t nanc[LANES] = { 0 }, infc[LANES] = { 0 };
	size_t i, j;

	if (n == 0)
		return;
	for (j = 0; j < LANES; j++) {
		mn[j] = INFINITY;
		mx[j] = -INFINITY;
	}
	for (i = 0; i + LANES <= n; i += LANES) {
		for (j = 0; j < LANES; j++) {
			float v = x[i + j];

			sum[j] += (double)v;
			mn[j] = v < mn[j] ? v : mn[j];
			mx[j] = v > mx[j] ? v : mx[j];
			nanc[j] += v != v;
			infc[j] += fabsf(v) == INFINITY;
		}
	}
	for (j = 0; i < n; i++, j++) {
		float v = x[i];

		sum[j] += (double)v;
		mn[j] = v < mn[j] ? v : mn[j];
		mx[j] = v > mx[j] ? v : mx[j];
		nanc[j] += v != v;
		infc[j] += fabsf(v) == INFINITY;
	}
	double s = 0;
	int64_t nn = 0, ni = 0;
	for (j = 0; j < LANES; j++) {
		s += sum[j];
		if (mn[j] < a->min)
			a->min = mn[j];
		if (mx[j] > a->max)
			a->max = mx[j];
		nn += nanc[j];
		ni += infc[j];
	}
	a->sum += s;
	a->nan += nn;
	a->inf += ni;

	/* Second pass over the chunk (in cache) for its M2 about its own mean,
	 * merged with Chan's formula: stable where a sum of squares is not.
	 * Chunks holding NaN/Inf are skipped: std is NaN then anyway. */
	if (nn == 0 && ni == 0) {
		double cm = s / (double)n;
		double m2 = 0;
		double m2l[LANES] = { 0 };

		for (i = 0; i + LANES <= n; i += LANES)
			for (j = 0; j < LANES; j++) {
				double d = (double)x[i + j] - cm;

				m2l[j] += d * d;
			}
		for (j = 0; i < n; i++, j++) {
			double d = (double)x[i] - cm;

			m2l[j] += d * d;
		}
		for (j = 0; j < LANES; j++)
			m2 += m2l[j];
		double nb = (double)n, na = (double)(a->n - 0);
		/* a->n here counts elements of earlier chunks, all finite if
		 * a->nan + a->inf == nn + ni == 0; otherwise std is NaN anyway */
		double tot = na + nb, delta = cm - a->mean;

		a->mean += delta * nb / tot;
		a->m2 += m2 + delta * delta * na * nb / tot;
	}
	a->n += (int64_t)n;
}

void dv_side_finish(const dv_side_acc *a, dv_stats *st)
{
	st->numel = a->n;
	st->nan = a->nan;
	st->inf = a->inf;
	if (a->n == 0) {
		st->mean = st->std = st->min = st->max = NAN;
		return;
	}
	st->mean = a->sum / (double)a->n;
	if (a->nan > 0) {
		st->mean = st->std = st->min = st->max = NAN;
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

void dv_diff_chunk(dv_diff_acc *a, const float *b, const float *t, size_t n, int64_t start)
{
	double sq[LANES] = { 0 }, norm[LANES] = { 0 }, abss[LANES] = { 0 };
	float mx[LANES];
	int32_t nanc[LANES] = { 0 }, ident[LANES] = { 0 };
	size_t i, j;

	if (n == 0)
		return;
	for (j = 0; j < LANES; j++)
		mx[j] = 0.0f;
	for (i = 0; i + LANES <= n; i += LANES) {
		for (j = 0; j < LANES; j++) {
			float bv = b[i + j], tv = t[i + j];
			float d = fabsf(tv - bv);
			double bd = bv, td = tv;

			sq[j] += (bd - td) * (bd - td);
			norm[j] += bd * bd + td * td;
			abss[j] += (double)d;
			mx[j] = d > mx[j] ? d : mx[j];
			nanc[j] += d != d;
			ident[j] += f32_bits(bv) == f32_bits(tv);
		}
	}
	for (j = 0; i < n; i++, j++) {
		float bv = b[i], tv = t[i];
		float d = fabsf(tv - bv);
		double bd = bv, td = tv;

		sq[j] += (bd - td) * (bd - td);
		norm[j] += bd * bd + td * td;
		abss[j] += (double)d;
		mx[j] = d > mx[j] ? d : mx[j];
		nanc[j] += d != d;
		ident[j] += f32_bits(bv) == f32_bits(tv);
	}
	float cmax = 0.0f;
	int64_t cnan = 0;
	for (j = 0; j < LANES; j++) {
		a->sqdiff += sq[j];
		a->norm += norm[j];
		a->abs_sum += abss[j];
		a->identical += ident[j];
		cnan += nanc[j];
		if (mx[j] > cmax)
			cmax = mx[j];
	}
	a->n += (int64_t)n;
	if (a->max_is_nan)
		return;
	/* torch.argmax: NaN counts as the largest, first occurrence wins */
	if (cnan > 0) {
		for (i = 0; i < n; i++) {
			float d = fabsf(t[i] - b[i]);

			if (d != d)
				break;
		}
		a->max_is_nan = true;
		a->max_abs = NAN;
		a->max_index = start + (int64_t)i;
		a->max_b = b[i];
		a->max_t = t[i];
		return;
	}
	if (cmax > a->max_abs) {
		for (i = 0; i < n; i++)
			if (fabsf(t[i] - b[i]) == cmax)
				break;
		a->max_abs = cmax;
		a->max_index = start + (int64_t)i;
		a->max_b = b[i];
		a->max_t = t[i];
	}
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
