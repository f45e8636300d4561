/* The small-bf16 paths: quantiles (dv_qsel_init_bf16: 16-bit keys counted
 * from the raw bits into a per-thread table) against the general path
 * (dv_quantiles_f32 over the same values widened to float32) and a full
 * sort, on random bit patterns, NaN, +-Inf, +-0, subnormals and all-equal
 * tensors; and end to end: a bf16 pair compared as bf16 and as float32
 * gives the same statistics, bit for bit. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dumpview/metrics.h"
#include "../src/metrics/internal.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static float bf16f(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float v;

	memcpy(&v, &u, sizeof(v));
	return v;
}

static bool same_double(double a, double b)
{
	return memcmp(&a, &b, sizeof(a)) == 0;
}

/* torch.quantile by a full sort (no NaN in x): torch's float32 rank, FMA lerp. */
static int cmpf(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return x < y ? -1 : x > y;
}

static void ref_quantiles(const float *x, int64_t n, double out[DV_NQUANTILES])
{
	float *s = malloc((size_t)n * sizeof(float));

	assert_non_null(s);
	memcpy(s, x, (size_t)n * sizeof(float));
	qsort(s, (size_t)n, sizeof(float), cmpf);
	for (int i = 0; i < DV_NQUANTILES; i++) {
		float r = (float)dv_quantile_q[i] * (float)(n - 1);
		int64_t lo = (int64_t)r, hi = (int64_t)ceilf(r);
		float w = r - (float)lo, a = s[lo], b = s[hi], d = b - a;
		float v = fabsf(w) < 0.5f ? fmaf(w, d, a) : fmaf(-d, 1.0f - w, b);

		out[i] = v + 0.0f;
	}
	free(s);
}

/* The bf16 path over raw, added in chunks of `chunk` values. */
static void bf16_path(const uint16_t *raw, int64_t n, size_t chunk, double out[DV_NQUANTILES])
{
	dv_qsel q;

	assert_int_equal(dv_qsel_init_bf16(&q, n), 0);
	assert_non_null(q.k16);
	for (int64_t i = 0; i < n; i += (int64_t)chunk)
		dv_qsel_add_bf16(&q, raw + i, (size_t)(n - i < (int64_t)chunk ? n - i : (int64_t)chunk));
	assert_int_equal(dv_qsel_plan(&q), 0); /* never a second pass */
	dv_qsel_result(&q, out);
	dv_qsel_free(&q);
}

enum fill {
	FILL_NORMAL,      /* activations: ~N(0, 0.5) */
	FILL_ANYBITS,     /* any bit pattern but NaN: +-Inf, subnormals, +-0 */
	FILL_SUBNORMAL,   /* subnormals and zeros of both signs only */
	FILL_TIES,        /* a few values, heavy ties, +-0 */
	FILL_EQUAL,       /* all one value */
	FILL_NAN,         /* normal values and one NaN somewhere */
	FILL_INF,         /* normal values and +-Inf */
	FILL_WIDE,        /* finite, magnitudes 2^-60 .. 2^60: sums round, order matters */
	FILL_COUNT
};

static uint16_t normal_bf16(void)
{
	/* sum of uniforms: roughly normal, then the top half (truncation) */
	float v = 0;

	for (int k = 0; k < 4; k++)
		v += (float)(rng() % 2001) / 1000.0f - 1.0f;
	v *= 0.5f;
	uint32_t u;

	memcpy(&u, &v, sizeof(u));
	return (uint16_t)(u >> 16);
}

static void fill(uint16_t *raw, int64_t n, enum fill f)
{
	uint16_t one = (uint16_t)(rng() & 0xffff);

	while ((one & 0x7fff) > 0x7f80)
		one = (uint16_t)(rng() & 0xffff);
	for (int64_t i = 0; i < n; i++) {
		uint16_t h;

		switch (f) {
		case FILL_NORMAL:
			h = normal_bf16();
			break;
		case FILL_ANYBITS:
			do
				h = (uint16_t)(rng() & 0xffff);
			while ((h & 0x7fff) > 0x7f80);
			break;
		case FILL_SUBNORMAL:
			h = (uint16_t)((rng() & 0x8000) | (rng() % 0x80));
			break;
		case FILL_TIES: {
			static const uint16_t vals[] = { 0x0000, 0x8000, 0x3f80, 0xbf80, 0x4000, 0x0001, 0x8001 };

			h = vals[rng() % 7];
			break;
		}
		case FILL_EQUAL:
			h = one;
			break;
		case FILL_INF:
			h = rng() % 5 == 0 ? (rng() & 1 ? 0x7f80 : 0xff80) : normal_bf16();
			break;
		case FILL_WIDE:
			h = (uint16_t)((rng() & 0x8000) | ((67 + rng() % 121) << 7) | (rng() & 0x7f));
			break;
		default:
			h = normal_bf16();
			break;
		}
		raw[i] = h;
	}
	if (f == FILL_NAN) {
		static const uint16_t nans[] = { 0x7fc0, 0xffc0, 0x7f81, 0xff81, 0x7fff, 0xffff };

		raw[rng() % (uint64_t)n] = nans[rng() % 6];
	}
}

static void check_one(const uint16_t *raw, int64_t n, enum fill f)
{
	float *x = malloc((size_t)n * sizeof(float));
	double got[DV_NQUANTILES], got2[DV_NQUANTILES], general[DV_NQUANTILES], want[DV_NQUANTILES];

	assert_non_null(x);
	for (int64_t i = 0; i < n; i++)
		x[i] = bf16f(raw[i]);
	bf16_path(raw, n, 65536, got);
	bf16_path(raw, n, 1 + rng() % 700, got2); /* odd chunk sizes: tails of the lane loop */
	assert_int_equal(dv_quantiles_f32(x, n, general), 0);
	if (f == FILL_NAN)
		for (int q = 0; q < DV_NQUANTILES; q++)
			want[q] = NAN;
	else
		ref_quantiles(x, n, want);
	for (int q = 0; q < DV_NQUANTILES; q++) {
		if (f == FILL_NAN) {
			if (!isnan(got[q]) || !isnan(got2[q]) || !isnan(general[q]))
				fail_msg("fill %d n %lld q%d: NaN expected", f, (long long)n, q);
			continue;
		}
		if (!same_double(got[q], want[q]) || !same_double(got2[q], want[q]) ||
		    !same_double(general[q], want[q]))
			fail_msg("fill %d n %lld q%d: bf16 path %.9g / %.9g, general %.9g, sort %.9g", f, (long long)n,
				 q, got[q], got2[q], general[q], want[q]);
	}
	free(x);
}

static void test_random(void **state)
{
	static const int64_t sizes[] = { 63, 64, 65, 100, 255, 256, 257, 1000, 4096, 8192, 16383, 16384, 65535 };
	uint16_t *raw = malloc(65535 * sizeof(uint16_t));

	(void)state;
	assert_non_null(raw);
	for (int f = 0; f < FILL_COUNT; f++) {
		/* every size up to 40 (rank quirks of tiny tensors), then larger
		 * (64 and below: the tiny mode, its keys sorted) */
		for (size_t k = 0; k < 40 + sizeof(sizes) / sizeof(sizes[0]); k++) {
			int64_t n = k < 40 ? (int64_t)k + 1 : sizes[k - 40];

			fill(raw, n, (enum fill)f);
			check_one(raw, n, (enum fill)f);
		}
	}
	free(raw);
}

/* Every bf16 bit pattern but NaN once (+-Inf, +-0, subnormals, the extremes). */
static void test_every_pattern(void **state)
{
	uint16_t *raw = malloc(65535 * sizeof(uint16_t));
	int64_t n = 0;

	(void)state;
	assert_non_null(raw);
	for (uint32_t h = 0; h < 0x10000; h++)
		if ((h & 0x7fff) <= 0x7f80)
			raw[n++] = (uint16_t)h;
	/* shuffled */
	for (int64_t i = n - 1; i > 0; i--) {
		int64_t j = (int64_t)(rng() % (uint64_t)(i + 1));
		uint16_t t = raw[i];

		raw[i] = raw[j];
		raw[j] = t;
	}
	check_one(raw, n, FILL_ANYBITS);
	free(raw);
}

/* The per-thread tables stay clean: after a selection, after a NaN, after
 * a free without a plan, and two at once (a pair's two sides). */
static void test_tables_reused(void **state)
{
	uint16_t a[3000], b[3000];
	dv_qsel q1, q2, q3;
	double p1[DV_NQUANTILES], p2[DV_NQUANTILES];

	(void)state;
	fill(a, 3000, FILL_ANYBITS);
	fill(b, 3000, FILL_NORMAL);
	/* two held at once; a third is refused */
	assert_int_equal(dv_qsel_init_bf16(&q1, 3000), 0);
	assert_int_equal(dv_qsel_init_bf16(&q2, 3000), 0);
	assert_int_equal(dv_qsel_init_bf16(&q3, 10), -1);
	assert_int_equal(dv_qsel_init_bf16(&q3, DV_QSEL_BF16_MAX), -1);
	dv_qsel_add_bf16(&q1, a, 3000);
	dv_qsel_add_bf16(&q2, b, 3000);
	/* more values than announced are ignored */
	dv_qsel_add_bf16(&q2, a, 100);
	assert_int_equal(dv_qsel_plan(&q1), 0);
	assert_int_equal(dv_qsel_plan(&q2), 0);
	dv_qsel_result(&q1, p1);
	dv_qsel_result(&q2, p2);
	dv_qsel_free(&q1);
	dv_qsel_free(&q2);
	for (int round = 0; round < 3; round++) {
		double r1[DV_NQUANTILES], r2[DV_NQUANTILES];
		uint16_t nan = 0x7fc0;

		/* a free without a plan, and a NaN tensor, leave nothing behind */
		assert_int_equal(dv_qsel_init_bf16(&q3, 3000), 0);
		dv_qsel_add_bf16(&q3, b, 3000);
		dv_qsel_free(&q3);
		assert_int_equal(dv_qsel_init_bf16(&q3, 1), 0);
		dv_qsel_add_bf16(&q3, &nan, 1);
		assert_int_equal(dv_qsel_plan(&q3), 0);
		dv_qsel_result(&q3, r1);
		assert_true(isnan(r1[0]) && isnan(r1[4]));
		dv_qsel_free(&q3);
		bf16_path(a, 3000, 512, r1);
		bf16_path(b, 3000, 3000, r2);
		for (int q = 0; q < DV_NQUANTILES; q++) {
			assert_true(same_double(r1[q], p1[q]));
			assert_true(same_double(r2[q], p2[q]));
		}
	}
	/* empty */
	assert_int_equal(dv_qsel_init_bf16(&q3, 0), 0);
	assert_int_equal(dv_qsel_plan(&q3), 0);
	dv_qsel_free(&q3);
	assert_int_equal(dv_qsel_init_bf16(&q1, 3000), 0);
	assert_int_equal(dv_qsel_init_bf16(&q2, 3000), 0);
	dv_qsel_free(&q1);
	dv_qsel_free(&q2);
}

static void same_stats(const dv_stats *a, const dv_stats *b)
{
	assert_int_equal(dv_stats_numel(a), dv_stats_numel(b));
	assert_int_equal(dv_stats_nan(a), dv_stats_nan(b));
	assert_int_equal(dv_stats_inf(a), dv_stats_inf(b));
	assert_true(same_double(a->mean, b->mean) || (isnan(a->mean) && isnan(b->mean)));
	assert_true(same_double(a->std, b->std) || (isnan(a->std) && isnan(b->std)));
	assert_true(same_double(a->min, b->min) || (isnan(a->min) && isnan(b->min)));
	assert_true(same_double(a->max, b->max) || (isnan(a->max) && isnan(b->max)));
	assert_int_equal(a->has_percentiles, b->has_percentiles);
	for (int q = 0; q < DV_NQUANTILES; q++)
		assert_true(same_double(a->p[q], b->p[q]) || (isnan(a->p[q]) && isnan(b->p[q])));
}

/* End to end: a small bf16 pair through dv_compare_buffers (statistics,
 * pair metrics and quantile keys from the raw bits: dv_pair_chunk_bf16 and
 * dv_qsel_add_bf16) and the same values as float32 (the general kernels):
 * identical results, NaN and Inf on both sides, odd sizes (tails) too. */
static void test_compare_bf16_vs_f32(void **state)
{
	static const int64_t sizes[] = { 1, 7, 8, 9, 33, 1000, 8191, 8192, 16383 };
	uint16_t *rb = malloc(16383 * 2), *rt = malloc(16383 * 2);
	float *fb = malloc(16383 * 4), *ft = malloc(16383 * 4);

	(void)state;
	assert_true(rb && rt && fb && ft);
	for (int f = 0; f < FILL_COUNT; f++) {
		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			int64_t n = sizes[k];
			dv_tensor_desc d16 = { .dtype = DV_BFLOAT16, .ndim = 1, .shape = { n } };
			dv_tensor_desc d32 = { .dtype = DV_FLOAT32, .ndim = 1, .shape = { n } };
			dv_pair_result r16, r32;

			fill(rb, n, (enum fill)f);
			if (f == FILL_EQUAL || f == FILL_TIES)
				memcpy(rt, rb, (size_t)n * 2); /* identical sides */
			else
				fill(rt, n, (enum fill)(f == FILL_NAN || f == FILL_INF ? f : FILL_NORMAL));
			for (int64_t i = 0; i < n; i++) {
				fb[i] = bf16f(rb[i]);
				ft[i] = bf16f(rt[i]);
			}
			assert_int_equal(dv_compare_buffers(&d16, rb, &d16, rt, NULL, &r16, NULL), 0);
			assert_int_equal(dv_compare_buffers(&d32, fb, &d32, ft, NULL, &r32, NULL), 0);
			same_stats(&r16.base_stats, &r32.base_stats);
			same_stats(&r16.targ_stats, &r32.targ_stats);
			assert_true(r16.base_stats.has_percentiles);
			assert_int_equal(r16.status, r32.status);
			assert_true(same_double(r16.rel_diff, r32.rel_diff) || (isnan(r16.rel_diff) && isnan(r32.rel_diff)));
			assert_true(same_double(r16.max_abs_diff, r32.max_abs_diff) ||
				    (isnan(r16.max_abs_diff) && isnan(r32.max_abs_diff)));
			assert_true(same_double(r16.mean_abs_diff, r32.mean_abs_diff) ||
				    (isnan(r16.mean_abs_diff) && isnan(r32.mean_abs_diff)));
			assert_int_equal(r16.max_abs_diff_index, r32.max_abs_diff_index);
			assert_true(same_double(r16.max_abs_diff_base, r32.max_abs_diff_base) ||
				    (isnan(r16.max_abs_diff_base) && isnan(r32.max_abs_diff_base)));
			assert_true(same_double(r16.max_abs_diff_targ, r32.max_abs_diff_targ) ||
				    (isnan(r16.max_abs_diff_targ) && isnan(r32.max_abs_diff_targ)));
			assert_int_equal(r16.identical, r32.identical);
			assert_int_equal(r16.passed, r32.passed);
		}
	}
	free(rb);
	free(rt);
	free(fb);
	free(ft);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_every_pattern),
		cmocka_unit_test(test_tables_reused),
		cmocka_unit_test(test_compare_bf16_vs_f32),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
