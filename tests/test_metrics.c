/* Metrics on synthetic tensors in memory: the comparator's definitions,
 * edge cases, and exact quantiles against a sort-based reference. */
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

static dv_tensor_desc desc2(dv_dtype dt, int64_t r, int64_t c)
{
	dv_tensor_desc d = { .dtype = dt, .ndim = 2, .shape = { r, c } };
	return d;
}

static dv_tensor_desc desc1(dv_dtype dt, int64_t n)
{
	dv_tensor_desc d = { .dtype = dt, .ndim = 1, .shape = { n } };
	return d;
}

static uint16_t bf16(float v)
{
	return dv_f32_to_bf16(v);
}

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static double urand(void)
{
	return (double)(rng() >> 11) / 9007199254740992.0;
}

static float nrand(void)
{
	/* sum of uniforms: roughly normal, enough for tests */
	double s = 0;
	for (int i = 0; i < 4; i++)
		s += urand();
	return (float)(s - 2.0);
}

static void assert_close(double got, double want, double rel)
{
	if (isnan(want)) {
		assert_true(isnan(got));
		return;
	}
	if (isinf(want)) {
		assert_true(got == want);
		return;
	}
	double tol = fabs(want) * rel + 1e-300;
	if (!(fabs(got - want) <= tol))
		fail_msg("got %.17g want %.17g (rel tol %g)", got, want, rel);
}

/* Reference: the comparator's definitions computed the obvious way. */
typedef struct ref_metrics {
	double rel, rel_torch, maxabs, meanabs, mean, std;
	int64_t maxidx, identical;
} ref_metrics;

static ref_metrics reference(const float *b, const float *t, int64_t n)
{
	ref_metrics r = { 0 };
	double dot = 0, norm = 0, abss = 0, s = 0, sq = 0;
	float mx = -1;

	for (int64_t i = 0; i < n; i++) {
		float d = fabsf(t[i] - b[i]);

		dot += (double)b[i] * t[i];
		sq += ((double)b[i] - t[i]) * ((double)b[i] - t[i]);
		norm += (double)b[i] * b[i] + (double)t[i] * t[i];
		abss += d;
		if (d > mx) {
			mx = d;
			r.maxidx = i;
		}
		r.identical += memcmp(&b[i], &t[i], 4) == 0;
		s += b[i];
	}
	r.rel = norm == 0 ? 0 : sq / norm;
	r.rel_torch = norm == 0 ? 0 : 1 - 2 * dot / norm;
	r.maxabs = mx;
	r.meanabs = abss / n;
	r.mean = s / n;
	double m2 = 0;
	for (int64_t i = 0; i < n; i++)
		m2 += (b[i] - r.mean) * (b[i] - r.mean);
	r.std = sqrt(m2 / (n - 1));
	return r;
}

static void test_identical_bf16(void **state)
{
	(void)state;
	enum { R = 48, C = 128 };
	uint16_t *b = malloc(R * C * 2);
	dv_tensor_desc d = desc2(DV_BFLOAT16, R, C);
	dv_pair_result r;
	dv_metrics_opts o = dv_metrics_opts_default();

	for (int i = 0; i < R * C; i++)
		b[i] = bf16(nrand());
	assert_int_equal(dv_compare_buffers(&d, b, &d, b, &o, &r, NULL), 0);
	assert_int_equal(r.status, DV_RESULT_COMPARED);
	assert_true(r.passed);
	assert_true(r.rel_diff == 0.0 || fabs(r.rel_diff) < 1e-15);
	assert_true(r.max_abs_diff == 0.0);
	assert_true(r.mean_abs_diff == 0.0);
	assert_int_equal(r.identical, R * C);
	assert_int_equal(r.max_abs_diff_index, 0);
	assert_int_equal(r.max_abs_diff_ndim, 2);
	assert_int_equal(dv_result_coord(&r)[0], 0);
	assert_int_equal(dv_result_coord(&r)[1], 0);
	assert_true(r.base_stats.has_percentiles);
	assert_int_equal(r.numel, R * C);
	free(b);
}

static void test_random_vs_reference(void **state)
{
	(void)state;
	static const int64_t sizes[] = { 1, 7, 8, 9, 1000, 65536, 65537, 200003 };

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		int64_t n = sizes[k];
		float *b = malloc(n * 4), *t = malloc(n * 4);
		dv_tensor_desc d = desc1(DV_FLOAT32, n);
		dv_pair_result r;
		dv_metrics_opts o = dv_metrics_opts_default();

		for (int64_t i = 0; i < n; i++) {
			b[i] = nrand() * 3 + 10; /* mean far from 0: std must stay accurate */
			t[i] = (i % 3) ? b[i] : b[i] + nrand() * 1e-3f;
		}
		assert_int_equal(dv_compare_buffers(&d, b, &d, t, &o, &r, NULL), 0);
		ref_metrics ref = reference(b, t, n);
		assert_close(r.rel_diff, ref.rel, 1e-9);
		/* torch's form, within the contract's tolerance (where this naive
		 * sequential reference is itself accurate enough) */
		if (n <= 1000)
			assert_true(fabs(r.rel_diff - ref.rel_torch) <= fmax(1e-15, 1e-9 * fabs(ref.rel_torch)));
		assert_true(r.max_abs_diff == ref.maxabs);
		assert_int_equal(r.max_abs_diff_index, ref.maxidx);
		assert_int_equal(dv_result_coord(&r)[0], ref.maxidx);
		assert_true(r.max_abs_diff_base == b[ref.maxidx]);
		assert_true(r.max_abs_diff_targ == t[ref.maxidx]);
		assert_close(r.mean_abs_diff, ref.meanabs, 1e-9);
		assert_close(r.base_stats.mean, ref.mean, 1e-12);
		if (n > 1)
			assert_close(r.base_stats.std, ref.std, 1e-9);
		else
			assert_true(isnan(r.base_stats.std));
		assert_int_equal(r.identical, ref.identical);
		free(b);
		free(t);
	}
}

static void test_all_zero(void **state)
{
	(void)state;
	float z[16] = { 0 };
	dv_tensor_desc d = desc2(DV_FLOAT32, 4, 4);
	dv_pair_result r;

	/* rel = 0 when max_abs = 0: two all-zero tensors compare equal (0/0
	 * would be NaN, which fails every rule). */
	assert_int_equal(dv_compare_buffers(&d, z, &d, z, NULL, &r, NULL), 0);
	assert_true(r.max_abs_diff == 0.0);
	assert_true(r.rel_diff == 0.0);
	assert_true(r.passed);
	assert_true(r.base_stats.std == 0.0);
	assert_true(r.base_stats.p[2] == 0.0);
}

static void test_nan(void **state)
{
	(void)state;
	float b[6] = { 1, 2, 3, 4, 5, 6 }, t[6] = { 1, 2, 9, NAN, 5, NAN };
	dv_tensor_desc d = desc2(DV_FLOAT32, 2, 3);
	dv_pair_result r;

	assert_int_equal(dv_compare_buffers(&d, b, &d, t, NULL, &r, NULL), 0);
	assert_int_equal(r.status, DV_RESULT_COMPARED);
	assert_false(r.passed);
	assert_true(isnan(r.rel_diff));
	assert_true(isnan(r.max_abs_diff));
	/* torch.argmax: the first NaN */
	assert_int_equal(r.max_abs_diff_index, 3);
	assert_int_equal(dv_result_coord(&r)[0], 1);
	assert_int_equal(dv_result_coord(&r)[1], 0);
	assert_int_equal(dv_stats_nan(&r.targ_stats), 2);
	assert_true(isnan(r.targ_stats.mean));
	assert_true(isnan(r.targ_stats.max));
	assert_true(isnan(r.targ_stats.p[2]));
	assert_int_equal(dv_stats_nan(&r.base_stats), 0);
	assert_close(r.base_stats.mean, 3.5, 0);
	assert_int_equal(r.identical, 3);
}

static void test_inf(void **state)
{
	(void)state;
	float b[4] = { 1, 2, 3, 4 }, t[4] = { 1, INFINITY, 3, -INFINITY };
	dv_tensor_desc d = desc1(DV_FLOAT32, 4);
	dv_pair_result r;

	assert_int_equal(dv_compare_buffers(&d, b, &d, t, NULL, &r, NULL), 0);
	assert_false(r.passed);
	assert_int_equal(dv_stats_inf(&r.targ_stats), 2);
	assert_true(isinf(r.max_abs_diff));
	assert_int_equal(r.max_abs_diff_index, 1);
	assert_true(isnan(r.targ_stats.std));
	assert_true(r.targ_stats.max == INFINITY);
	assert_true(r.targ_stats.min == -INFINITY);
	assert_true(r.targ_stats.has_percentiles);
	/* torch's lerp between -inf and 1 is NaN; between 1 and 3 plain */
	assert_true(isnan(r.targ_stats.p[0]));
	assert_true(r.targ_stats.p[2] == 2.0);
}

static void test_empty(void **state)
{
	(void)state;
	float x[1] = { 0 };
	dv_tensor_desc d = desc2(DV_FLOAT32, 0, 5);
	dv_pair_result r;

	assert_int_equal(dv_compare_buffers(&d, x, &d, x, NULL, &r, NULL), 0);
	assert_int_equal(r.status, DV_RESULT_COMPARED);
	assert_int_equal(r.numel, 0);
	assert_true(r.passed);
	assert_true(r.rel_diff == 0.0);
	assert_false(r.base_stats.has_percentiles);
	assert_true(isnan(r.base_stats.mean));
	assert_int_equal(r.max_abs_diff_index, -1);
}

static void test_shape_unify(void **state)
{
	(void)state;
	float b[12], t[12];
	dv_tensor_desc bd = { .dtype = DV_FLOAT32, .ndim = 4, .shape = { 1, 1, 4, 3 } };
	dv_tensor_desc td = desc2(DV_FLOAT32, 4, 3);
	dv_pair_result r;

	for (int i = 0; i < 12; i++) {
		b[i] = (float)i;
		t[i] = (float)i;
	}
	t[7] = 100;
	assert_int_equal(dv_compare_buffers(&bd, b, &td, t, NULL, &r, NULL), 0);
	assert_int_equal(r.status, DV_RESULT_COMPARED);
	assert_int_equal(r.base.ndim, 4); /* as stored */
	assert_int_equal(r.max_abs_diff_ndim, 2);
	assert_int_equal(dv_result_coord(&r)[0], 2);
	assert_int_equal(dv_result_coord(&r)[1], 1);
	assert_true(r.max_abs_diff == 93.0);

	/* [4, 3] vs [3, 4]: mismatch, stats still given */
	dv_tensor_desc t2 = desc2(DV_FLOAT32, 3, 4);
	assert_int_equal(dv_compare_buffers(&td, b, &t2, t, NULL, &r, NULL), 0);
	assert_int_equal(r.status, DV_RESULT_SHAPE_MISMATCH);
	assert_false(r.passed);
	assert_string_equal(r.error, "shape mismatch: baseline [4, 3] vs target [3, 4]");
	assert_close(r.base_stats.mean, 5.5, 0);
	assert_close(r.targ_stats.max, 100, 0);
	dv_pair_result_free(&r);

	/* only the baseline's leading 1s are dropped */
	dv_tensor_desc t3 = { .dtype = DV_FLOAT32, .ndim = 3, .shape = { 1, 4, 3 } };
	assert_int_equal(dv_compare_buffers(&td, b, &t3, t, NULL, &r, NULL), 0);
	assert_int_equal(r.status, DV_RESULT_SHAPE_MISMATCH);
	dv_pair_result_free(&r);
	/* leading non-1 dims are not dropped */
	dv_tensor_desc b4 = { .dtype = DV_FLOAT32, .ndim = 3, .shape = { 2, 2, 3 } };
	dv_tensor_desc t4 = desc2(DV_FLOAT32, 2, 3);
	assert_int_equal(dv_compare_buffers(&b4, b, &t4, t, NULL, &r, NULL), 0);
	assert_int_equal(r.status, DV_RESULT_SHAPE_MISMATCH);
	dv_pair_result_free(&r);
}

/* A result keeps shapes and the coordinate of max |t-b| interned, long
 * ones (tensors may have up to PT_MAX_DIMS dims) whole all the same. */
static void test_result_many_dims(void **state)
{
	(void)state;
	dv_tensor_desc d = { .dtype = DV_FLOAT32, .ndim = 10, .shape = { 1, 2, 1, 2, 1, 2, 1, 2, 1, 3 } };
	dv_tensor_desc d2 = d;
	float b[48], t[48];
	dv_pair_result r, copy;
	dv_tensor_desc full;

	for (int i = 0; i < 48; i++)
		b[i] = t[i] = (float)i;
	t[47] = 100; /* the last element: [0, 1, 0, 1, 0, 1, 0, 1, 0, 2] */
	assert_int_equal(dv_compare_buffers(&d, b, &d, t, NULL, &r, NULL), 0);
	assert_int_equal(r.status, DV_RESULT_COMPARED);
	assert_int_equal(r.base.ndim, 10);
	assert_int_equal(r.targ.ndim, 10);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(dv_result_shape(&r.base)[i], d.shape[i]);
		assert_int_equal(dv_result_shape(&r.targ)[i], d.shape[i]);
	}
	assert_int_equal(r.max_abs_diff_index, 47);
	assert_int_equal(r.max_abs_diff_ndim, 10);
	for (int i = 0; i < 10; i++)
		assert_int_equal(dv_result_coord(&r)[i], i == 9 ? 2 : i % 2);
	dv_result_desc_get(&r.targ, &full);
	assert_int_equal(full.ndim, 10);
	assert_memory_equal(full.shape, d.shape, 10 * sizeof(d.shape[0]));
	dv_pair_result_free(&r);
	assert_int_equal(r.status, DV_RESULT_NONE);
	assert_string_equal(r.error, "");

	/* a mismatch between long shapes names both whole */
	d2.shape[9] = 1;
	d2.shape[0] = 3;
	assert_int_equal(dv_compare_buffers(&d, b, &d2, t, NULL, &r, NULL), 0);
	assert_int_equal(r.status, DV_RESULT_SHAPE_MISMATCH);
	assert_string_equal(r.error, "shape mismatch: baseline [1, 2, 1, 2, 1, 2, 1, 2, 1, 3] vs target "
				     "[3, 2, 1, 2, 1, 2, 1, 2, 1, 1]");
	assert_int_equal(dv_result_shape(&r.targ)[0], 3);
	assert_int_equal(dv_result_shape(&r.targ)[9], 1);
	/* a result is written whole: filling another one leaves this one as it was */
	assert_int_equal(dv_compare_buffers(&d, b, &d, b, NULL, &copy, NULL), 0);
	assert_int_equal(copy.status, DV_RESULT_COMPARED);
	assert_int_equal(dv_result_shape(&r.base)[9], 3);
	dv_pair_result_free(&copy);
	dv_pair_result_free(&r);
}

/* The error text is kept whole, however long (a path near PATH_MAX and the
 * reason), and a new one replaces the old. */
static void test_result_long_error(void **state)
{
	(void)state;
	char longtext[5000];
	dv_pair_result r;

	memset(longtext, 'x', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	dv_result_reset(&r);
	assert_string_equal(r.error, "");
	dv_result_set_error(&r, "%s: truncated zip", longtext);
	assert_int_equal(strlen(r.error), sizeof(longtext) - 1 + strlen(": truncated zip"));
	assert_true(strlen(r.error) > DV_ERROR_MAX);
	assert_memory_equal(r.error, longtext, sizeof(longtext) - 1);
	assert_string_equal(r.error + sizeof(longtext) - 1, ": truncated zip");
	dv_result_set_error(&r, "short %d", 7);
	assert_string_equal(r.error, "short 7");
	dv_pair_result_free(&r);
	assert_string_equal(r.error, "");
	assert_string_equal(dv_pair_result_none.error, "");
	assert_int_equal(dv_pair_result_none.status, DV_RESULT_NONE);
}

static void test_fp32_vs_bf16(void **state)
{
	(void)state;
	enum { N = 1000 };
	float b[N];
	uint16_t t[N];
	float b16[N], t16[N];
	dv_tensor_desc bd = desc1(DV_FLOAT32, N), td = desc1(DV_BFLOAT16, N);
	dv_pair_result r;

	for (int i = 0; i < N; i++) {
		b[i] = nrand();
		t[i] = bf16(b[i] * 1.001f);
		t16[i] = dv_bf16_to_f32(t[i]);
		b16[i] = dv_bf16_to_f32(bf16(b[i]));
	}
	assert_int_equal(dv_compare_buffers(&bd, b, &td, t, NULL, &r, NULL), 0);
	assert_true(r.has_bf16);
	float tf[N];
	for (int i = 0; i < N; i++)
		tf[i] = dv_bf16_to_f32(t[i]);
	ref_metrics full = reference(b, tf, N), cast = reference(b16, t16, N);
	assert_close(r.rel_diff, full.rel, 1e-9);
	assert_true(r.max_abs_diff == full.maxabs);
	assert_close(r.bf16_rel_diff, cast.rel, 1e-9);
	assert_true(r.bf16_max_abs_diff == cast.maxabs);
	assert_close(r.bf16_mean_abs_diff, cast.meanabs, 1e-9);
	assert_true(r.bf16_max_abs_diff != r.max_abs_diff);

	/* same dtype: no bf16 metrics */
	assert_int_equal(dv_compare_buffers(&bd, b, &bd, b, NULL, &r, NULL), 0);
	assert_false(r.has_bf16);
}

static void test_integers(void **state)
{
	(void)state;
	int64_t b[4] = { 16777217, 0, -3, 5 }, t[4] = { 16777216, 0, -3, 7 };
	dv_tensor_desc d = desc1(DV_INT64, 4);
	dv_pair_result r;

	assert_int_equal(dv_compare_buffers(&d, b, &d, t, NULL, &r, NULL), 0);
	/* 16777217 -> float32 16777216: bit-identical after .float() */
	assert_int_equal(r.identical, 3);
	assert_true(r.max_abs_diff == 2.0);
	assert_int_equal(r.max_abs_diff_index, 3);
	assert_close(r.base_stats.max, 16777216.0, 0);

	/* top-k ids as int32 */
	int32_t bi[6] = { 1, 3, 2, 0, 1, 2 }, ti[6] = { 1, 2, 3, 0, 1, 2 };
	float bf[6], tf[6];
	for (int i = 0; i < 6; i++) {
		bf[i] = (float)bi[i];
		tf[i] = (float)ti[i];
	}
	dv_tensor_desc d32 = desc2(DV_INT32, 3, 2);
	assert_int_equal(dv_compare_buffers(&d32, bi, &d32, ti, NULL, &r, NULL), 0);
	ref_metrics ref = reference(bf, tf, 6);
	assert_close(r.rel_diff, ref.rel, 1e-12);
	assert_close(r.rel_diff, 1.0 - 2.0 * 18.0 / 38.0, 1e-12);
	assert_int_equal(dv_result_coord(&r)[0], 0);
	assert_int_equal(dv_result_coord(&r)[1], 1);
	assert_false(r.passed);

	/* bool */
	uint8_t bb[3] = { 1, 0, 1 }, tb[3] = { 1, 1, 1 };
	dv_tensor_desc db = desc1(DV_BOOL, 3);
	assert_int_equal(dv_compare_buffers(&db, bb, &db, tb, NULL, &r, NULL), 0);
	assert_true(r.max_abs_diff == 1.0);
	assert_close(r.base_stats.mean, 2.0 / 3.0, 1e-15);
}

/* torch.quantile reference: full sort, then torch's float32 rank and (FMA) lerp. */
static int cmpf(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return x < y ? -1 : x > y;
}

static void ref_quantiles(const float *x, int64_t n, double out[DV_NQUANTILES])
{
	float *s = malloc(n * 4);
	memcpy(s, x, n * 4);
	qsort(s, n, 4, cmpf);
	for (int i = 0; i < DV_NQUANTILES; i++) {
		float r = (float)dv_quantile_q[i] * (float)(n - 1);
		int64_t lo = (int64_t)r, hi = (int64_t)ceilf(r);
		float w = r - (float)lo, a = s[lo], b = s[hi];
		out[i] = fabsf(w) < 0.5f ? fmaf(w, b - a, a) : fmaf(-(b - a), 1.0f - w, b);
	}
	free(s);
}

static void test_quantiles_known(void **state)
{
	(void)state;
	float x[5] = { 5, 1, 4, 2, 3 };
	double p[DV_NQUANTILES];

	assert_int_equal(dv_quantiles_f32(x, 5, p), 0);
	assert_close(p[2], 3.0, 0);
	assert_close(p[0], 1.04, 1e-6);
	assert_close(p[4], 4.96, 1e-6);
	float y[4] = { 4, 3, 2, 1 };
	assert_int_equal(dv_quantiles_f32(y, 4, p), 0);
	assert_close(p[2], 2.5, 0);
	float z[3] = { 1, NAN, 2 };
	assert_int_equal(dv_quantiles_f32(z, 3, p), 0);
	assert_true(isnan(p[0]) && isnan(p[4]));
	assert_int_equal(dv_quantiles_f32(z, 0, p), -1);
}

static void test_quantiles_random(void **state)
{
	(void)state;
	static const int64_t sizes[] = { 101, 4096, 65536, 65537, 100000, 300001 };
	const size_t nsizes = sizeof(sizes) / sizeof(sizes[0]);

	for (int kind = 0; kind < 4; kind++) {
		/* every size up to 40 (rank order quirks of tiny tensors), then larger */
		for (size_t k = 0; k < 40 + nsizes; k++) {
			int64_t n = k < 40 ? (int64_t)k + 1 : sizes[k - 40];
			float *x = malloc(n * 4);
			double got[DV_NQUANTILES], want[DV_NQUANTILES];

			for (int64_t i = 0; i < n; i++) {
				switch (kind) {
				case 0: x[i] = nrand(); break;                                  /* float32 */
				case 1: x[i] = dv_bf16_to_f32(bf16(nrand() * 4)); break;        /* bf16 values */
				case 2: x[i] = (float)(rng() % 7) - 3.0f; break;                /* heavy ties, +-0 */
				default: x[i] = (float)(urand() * 1e-3 + 1.0); break;           /* one narrow bucket */
				}
				if (kind == 2 && x[i] == 0 && (rng() & 1))
					x[i] = -0.0f;
			}
			assert_int_equal(dv_quantiles_f32(x, n, got), 0);
			ref_quantiles(x, n, want);
			for (int q = 0; q < DV_NQUANTILES; q++)
				if (got[q] != want[q])
					fail_msg("kind %d n %lld q%d: got %.9g want %.9g", kind, (long long)n, q,
						 got[q], want[q]);
			free(x);
		}
	}
}

/* 1- and 2-byte dtypes take the histogram path: the same statistics as the
 * streaming path over the same values as float32. */
static void check_same_stats(const dv_stats *a, const dv_stats *b)
{
	assert_int_equal(dv_stats_numel(a), dv_stats_numel(b));
	assert_int_equal(dv_stats_nan(a), dv_stats_nan(b));
	assert_int_equal(dv_stats_inf(a), dv_stats_inf(b));
	assert_close(a->mean, b->mean, 1e-12);
	assert_close(a->std, b->std, 1e-9);
	assert_close(a->min, b->min, 0);
	assert_close(a->max, b->max, 0);
	assert_int_equal(a->has_percentiles, b->has_percentiles);
	for (int q = 0; q < DV_NQUANTILES; q++)
		if (a->has_percentiles)
			assert_close(a->p[q], b->p[q], 0);
}

static void test_hist_path(void **state)
{
	(void)state;
	enum { N = 100000 };
	uint16_t *h = malloc(N * 2);
	int8_t *i8 = malloc(N);
	float *f = malloc(N * 4), *f8 = malloc(N * 4);
	dv_pair_result r1, r2;
	dv_tensor_desc d16 = desc1(DV_BFLOAT16, N), d32 = desc1(DV_FLOAT32, N), di8 = desc1(DV_INT8, N);

	for (int variant = 0; variant < 3; variant++) {
		for (int i = 0; i < N; i++) {
			h[i] = bf16(nrand() * 5 + 1);
			if (i % 97 == 0)
				h[i] = (i & 1) ? 0x8000 : 0; /* -0 and +0 */
			i8[i] = (int8_t)(rng() % 200 - 100);
		}
		if (variant == 1)
			h[N / 2] = 0x7f80; /* +inf */
		if (variant == 2)
			h[N / 3] = 0x7fc0; /* NaN */
		for (int i = 0; i < N; i++) {
			f[i] = dv_bf16_to_f32(h[i]);
			f8[i] = (float)i8[i];
		}
		assert_int_equal(dv_compare_buffers(&d16, h, &d16, h, NULL, &r1, NULL), 0);
		assert_int_equal(dv_compare_buffers(&d32, f, &d32, f, NULL, &r2, NULL), 0);
		check_same_stats(&r1.base_stats, &r2.base_stats);
		if (variant == 0) {
			double want[DV_NQUANTILES];
			ref_quantiles(f, N, want);
			for (int q = 0; q < DV_NQUANTILES; q++)
				assert_close(r1.base_stats.p[q], want[q], 0);
		}
	}
	assert_int_equal(dv_compare_buffers(&di8, i8, &di8, i8, NULL, &r1, NULL), 0);
	assert_int_equal(dv_compare_buffers(&d32, f8, &d32, f8, NULL, &r2, NULL), 0);
	check_same_stats(&r1.base_stats, &r2.base_stats);
	free(h);
	free(i8);
	free(f);
	free(f8);
}

/* bf16 against bf16 (large: straight from the raw bits) agrees with the
 * float32 path over the same values. */
static void test_bf16_raw_path(void **state)
{
	(void)state;
	enum { N = 70001 };
	uint16_t *hb = malloc(N * 2), *ht = malloc(N * 2);
	float *fb = malloc(N * 4), *ft = malloc(N * 4);
	dv_tensor_desc d16 = desc1(DV_BFLOAT16, N), d32 = desc1(DV_FLOAT32, N);
	dv_pair_result r1, r2;

	for (int variant = 0; variant < 2; variant++) {
		for (int i = 0; i < N; i++) {
			hb[i] = bf16(nrand() * 2);
			ht[i] = (i % 5) ? hb[i] : bf16(dv_bf16_to_f32(hb[i]) + nrand() * 0.01f);
		}
		ht[N - 3] = bf16(1000.0f); /* the max, late */
		if (variant == 1)
			ht[40000] = 0x7fc0; /* NaN */
		for (int i = 0; i < N; i++) {
			fb[i] = dv_bf16_to_f32(hb[i]);
			ft[i] = dv_bf16_to_f32(ht[i]);
		}
		assert_int_equal(dv_compare_buffers(&d16, hb, &d16, ht, NULL, &r1, NULL), 0);
		assert_int_equal(dv_compare_buffers(&d32, fb, &d32, ft, NULL, &r2, NULL), 0);
		assert_close(r1.rel_diff, r2.rel_diff, 1e-12);
		assert_true(r1.max_abs_diff == r2.max_abs_diff || (isnan(r1.max_abs_diff) && isnan(r2.max_abs_diff)));
		assert_close(r1.mean_abs_diff, r2.mean_abs_diff, 1e-12);
		assert_int_equal(r1.max_abs_diff_index, r2.max_abs_diff_index);
		assert_int_equal(r1.max_abs_diff_index, variant ? 40000 : N - 3);
		assert_true(r1.max_abs_diff_base == r2.max_abs_diff_base);
		assert_int_equal(r1.identical, r2.identical);
		assert_int_equal(r1.passed, r2.passed);
		check_same_stats(&r1.targ_stats, &r2.targ_stats);
	}
	free(hb);
	free(ht);
	free(fb);
	free(ft);
}

static void test_percentile_limit(void **state)
{
	(void)state;
	float x[100];
	dv_tensor_desc d = desc1(DV_FLOAT32, 100);
	dv_pair_result r;
	dv_metrics_opts o = dv_metrics_opts_default();

	for (int i = 0; i < 100; i++)
		x[i] = (float)i;
	o.percentile_limit = 100; /* skipped at >= limit elements */
	assert_int_equal(dv_compare_buffers(&d, x, &d, x, &o, &r, NULL), 0);
	assert_false(r.base_stats.has_percentiles);
	o.percentile_limit = 101;
	assert_int_equal(dv_compare_buffers(&d, x, &d, x, &o, &r, NULL), 0);
	assert_true(r.base_stats.has_percentiles);
	assert_close(r.base_stats.p[1], 4.95, 1e-6);
	o.percentiles = false;
	assert_int_equal(dv_compare_buffers(&d, x, &d, x, &o, &r, NULL), 0);
	assert_false(r.base_stats.has_percentiles);
}

static void count_progress(void *ctx, int64_t done, int64_t total)
{
	int64_t *calls = ctx;
	calls[0]++;
	calls[1] = done;
	calls[2] = total;
}

static void test_cancel_and_progress(void **state)
{
	(void)state;
	int64_t n = 3 * 65536 + 5;
	float *x = calloc(n, 4);
	dv_tensor_desc d = desc1(DV_FLOAT32, n);
	dv_pair_result r;
	dv_metrics_opts o = dv_metrics_opts_default();
	int64_t calls[3] = { 0 };
	atomic_int cancel = 0;

	o.progress = count_progress;
	o.progress_ctx = calls;
	o.cancel = &cancel;
	assert_int_equal(dv_compare_buffers(&d, x, &d, x, &o, &r, NULL), 0);
	assert_int_equal(r.status, DV_RESULT_COMPARED);
	assert_int_equal(calls[0], 4);
	assert_int_equal(calls[1], n);
	assert_int_equal(calls[2], n);
	atomic_store(&cancel, 1);
	assert_int_equal(dv_compare_buffers(&d, x, &d, x, &o, &r, NULL), 0);
	assert_int_equal(r.status, DV_RESULT_CANCELLED);
	assert_false(r.passed);
	free(x);
}

/* Readers over memory, as dv_pair_detail_compute/dv_export_diff_csv use over files. */
typedef struct mem_pair {
	dv_src bs, ts;
	dv_mem_src_ctx bc, tc;
	dv_reader br, tr;
} mem_pair;

static void mem_pair_open(mem_pair *m, dv_dtype dt, int64_t n, const void *b, const void *t)
{
	dv_src_mem(&m->bs, &m->bc, dt, n, b, "b");
	dv_src_mem(&m->ts, &m->tc, dt, n, t, "t");
	assert_int_equal(dv_reader_init(&m->br, &m->bs, NULL), 0);
	assert_int_equal(dv_reader_init(&m->tr, &m->ts, NULL), 0);
}

static void mem_pair_close(mem_pair *m)
{
	dv_reader_free(&m->br);
	dv_reader_free(&m->tr);
}

static void test_detail(void **state)
{
	(void)state;
	/* 2 x 3 x 4: rows fold to 6 x 4 */
	float b[24], t[24];
	dv_tensor_desc td = { .dtype = DV_FLOAT32, .ndim = 3, .shape = { 2, 3, 4 } };
	mem_pair m;
	dv_pair_detail d;
	dv_error err;

	for (int i = 0; i < 24; i++) {
		b[i] = (float)i;
		t[i] = (float)i;
	}
	t[0] = 0.5f;       /* |d| 0.5 in row 0 col 0 */
	t[5] = 5.001f;     /* ~1e-3 in row 1 col 1 */
	t[23] = 123.0f;    /* 100 in row 5 col 3 */
	t[10] = NAN;
	mem_pair_open(&m, DV_FLOAT32, 24, b, t);
	assert_int_equal(dv_detail_readers(&m.br, &m.tr, &td, 24, 3, 2, NULL, &d, &err), 0);
	assert_int_equal(d.numel, 24);
	assert_int_equal(d.absdiff_zero, 20);
	assert_int_equal(d.absdiff_nonfinite, 1);
	/* max finite |d| = 100: last bucket is [1e2, 1e3) */
	assert_int_equal(d.absdiff_lo_exp, 2 - (DV_ABSDIFF_BUCKETS - 1));
	assert_int_equal(d.absdiff_buckets[DV_ABSDIFF_BUCKETS - 1], 1);
	assert_int_equal(d.absdiff_buckets[DV_ABSDIFF_BUCKETS - 1 - 3], 1); /* 0.5 in [1e-1, 1) */
	assert_int_equal(d.absdiff_buckets[DV_ABSDIFF_BUCKETS - 1 - 6], 1); /* ~1e-3 in [1e-3, 1e-2) */
	assert_close(d.value_lo, 0, 0);
	assert_close(d.value_hi, 123, 0);
	int64_t nb = 0, nt = 0;
	for (int k = 0; k < DV_VALUE_BINS; k++) {
		nb += d.base_bins[k];
		nt += d.targ_bins[k];
	}
	assert_int_equal(nb, 24);
	assert_int_equal(nt, 23);
	assert_int_equal(d.targ_bins[DV_VALUE_BINS - 1], 1);
	assert_int_equal(d.heat_src_rows, 6);
	assert_int_equal(d.heat_src_cols, 4);
	assert_int_equal(d.heat_rows, 3);
	assert_int_equal(d.heat_cols, 2);
	assert_non_null(d.heat);
	/* cell (0,0) = rows 0-1, cols 0-1: |d| 0.5, 0, 0, ~0.001 over 4 */
	assert_close(d.heat[0], (0.5 + fabsf(5.001f - 5.0f)) / 4, 1e-12);
	/* cell (2,1) = rows 4-5, cols 2-3: 100 over 4 */
	assert_close(d.heat[2 * 2 + 1], 25.0, 1e-12);
	/* cell (1,0) = rows 2-3, cols 0-1: elements 8,9,12,13 -> 0 (NaN at 10 is col 2) */
	assert_close(d.heat[1 * 2 + 0], 0.0, 0);
	assert_close(d.heat_max, 25.0, 1e-12);
	dv_pair_detail_free(&d);
	assert_null(d.heat);

	/* decades at their edges: |d| = 10 is in [1e1, 1e2), 9.999999 in [1e0, 1e1),
	 * 1 in [1e0, 1e1), 0.1f (just above 1/10) in [1e-1, 1), a denormal far below */
	{
		float z[6] = { 0 }, e[6] = { 100.0f, 10.0f, 9.999999f, 1.0f, 0.1f, 1e-40f };
		dv_tensor_desc d1 = { .dtype = DV_FLOAT32, .ndim = 1, .shape = { 6 } };
		mem_pair m2;

		mem_pair_open(&m2, DV_FLOAT32, 6, z, e);
		assert_int_equal(dv_detail_readers(&m2.br, &m2.tr, &d1, 6, 4, 4, NULL, &d, &err), 0);
		int top = DV_ABSDIFF_BUCKETS - 1; /* [1e2, 1e3) */
		assert_int_equal(d.absdiff_lo_exp, 2 - top);
		assert_int_equal(d.absdiff_buckets[top], 1);
		assert_int_equal(d.absdiff_buckets[top - 1], 1);
		assert_int_equal(d.absdiff_buckets[top - 2], 2);
		assert_int_equal(d.absdiff_buckets[top - 3], 1);
		assert_int_equal(d.absdiff_buckets[0], 1); /* below the range: first bucket */
		assert_null(d.heat);
		mem_pair_close(&m2);
	}

	/* 1-dim: no heat map */
	dv_tensor_desc t1 = { .dtype = DV_FLOAT32, .ndim = 1, .shape = { 24 } };
	assert_int_equal(dv_detail_readers(&m.br, &m.tr, &t1, 24, 10, 10, NULL, &d, &err), 0);
	assert_null(d.heat);
	mem_pair_close(&m);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *buf = calloc(1, 1 << 16);
	size_t n = fread(buf, 1, (1 << 16) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_export(void **state)
{
	(void)state;
	float b[6] = { 1.0f, 0.1f, -2.5f, 0.0f, 3.0f, 7.0f }, t[6] = { 1.0f, 0.2f, -2.0f, 1e-6f, NAN, 7.5f };
	dv_tensor_desc td = { .dtype = DV_FLOAT32, .ndim = 2, .shape = { 2, 3 } };
	const char *out = "test_metrics_export.csv";
	mem_pair m;
	dv_error err;
	int64_t rows = -1;
	char *csv;

	mem_pair_open(&m, DV_FLOAT32, 6, b, t);
	assert_int_equal(dv_export_readers(&m.br, &m.tr, &td, 6, out, -1, 0, NULL, &rows, &err), 0);
	assert_int_equal(rows, 6);
	csv = slurp(out);
	assert_string_equal(csv,
		"index,coord,baseline,target,abs_diff,rel_err\n"
		"0,\"[0, 0]\",1,1,0,0\n"
		"1,\"[0, 1]\",0.1,0.2,0.1,1\n"
		"2,\"[0, 2]\",-2.5,-2,0.5,0.2\n"
		"3,\"[1, 0]\",0,1e-06,1e-06,1e+06\n"
		"4,\"[1, 1]\",3,nan,nan,nan\n"
		"5,\"[1, 2]\",7,7.5,0.5,0.071428575\n");
	free(csv);

	/* filter: abs_diff above 0.3 (NaN kept) */
	assert_int_equal(dv_export_readers(&m.br, &m.tr, &td, 6, out, 0.3, 0, NULL, &rows, &err), 0);
	assert_int_equal(rows, 3);
	csv = slurp(out);
	assert_non_null(strstr(csv, "\n2,"));
	assert_non_null(strstr(csv, "\n4,"));
	assert_non_null(strstr(csv, "\n5,"));
	free(csv);

	/* top 2: NaN first, then the earlier of the two 0.5s; row-major order */
	assert_int_equal(dv_export_readers(&m.br, &m.tr, &td, 6, out, -1, 2, NULL, &rows, &err), 0);
	assert_int_equal(rows, 2);
	csv = slurp(out);
	assert_string_equal(csv,
		"index,coord,baseline,target,abs_diff,rel_err\n"
		"2,\"[0, 2]\",-2.5,-2,0.5,0.2\n"
		"4,\"[1, 1]\",3,nan,nan,nan\n");
	free(csv);

	/* top_k larger than the tensor */
	assert_int_equal(dv_export_readers(&m.br, &m.tr, &td, 6, out, -1, 100, NULL, &rows, &err), 0);
	assert_int_equal(rows, 6);

	/* an unwritable path: an error naming it */
	assert_int_equal(dv_export_readers(&m.br, &m.tr, &td, 6, "no-such-dir/x.csv", -1, 0, NULL, &rows, &err), -1);
	assert_non_null(strstr(err.msg, "no-such-dir/x.csv"));
	remove(out);
	mem_pair_close(&m);
}

static void test_threshold(void **state)
{
	(void)state;
	assert_true(dv_rel_diff_passes(1e-3, 1e-3));
	assert_false(dv_rel_diff_passes(1.0001e-3, 1e-3));
	assert_false(dv_rel_diff_passes(NAN, 1e-3));
	dv_metrics_opts o = dv_metrics_opts_default();
	assert_true(o.threshold == 1e-3);
	assert_int_equal(o.percentile_limit, 10000000);
}

/* The bf16 kernel over runs of pieces (a concat's shards read in place)
 * gives the contiguous kernel's part and histograms, bit for bit: random
 * splits into runs of multiples of 8 (the last one of any length), NaN,
 * Inf and signed zeros, a new maximum in a later run, any hint. */
static void test_bf16_runs_kernel(void **state)
{
	enum { N = 4099 };
	static uint16_t b[N], t[N];
	static uint32_t hb[2][65536], ht[2][65536];
	dv_raw_run br[N / 8 + 2], tr[N / 8 + 2];

	(void)state;
	for (int round = 0; round < 200; round++) {
		size_t n = round < 100 ? N : (size_t)(rng() % N) + 1, nb = 0, nt = 0;
		float hint = round % 3 == 0 ? -1.0f : round % 3 == 1 ? 0.01f : INFINITY;
		dv_diff_part p[2];

		for (size_t i = 0; i < n; i++) {
			b[i] = (uint16_t)(0x3f80 + rng() % 0x200 - 0x100) ^ (uint16_t)(rng() & 0x8000);
			t[i] = rng() % 5 ? b[i] : (uint16_t)(b[i] ^ (rng() & 0x7));
		}
		if (round % 4 == 1)
			t[rng() % n] = 0x7fc0; /* NaN */
		if (round % 4 == 2)
			b[rng() % n] = 0xff80; /* -Inf */
		if (round % 4 == 3) {
			b[n - 1] = 0x0000;
			t[n - 1] = 0x8000; /* +0 against -0 */
		}
		/* runs: multiples of 8, the last whatever is left */
		for (size_t side = 0; side < 2; side++) {
			dv_raw_run *r = side ? tr : br;
			const uint16_t *x = side ? t : b;
			size_t *k = side ? &nt : &nb, at = 0;

			while (at < n) {
				size_t len = 8 * (1 + rng() % 40);

				if (len >= n - at || rng() % 50 == 0)
					len = n - at;
				r[*k].p = x + at;
				r[(*k)++].n = (int64_t)len;
				at += len;
			}
		}
		memset(hb, 0, sizeof(hb));
		memset(ht, 0, sizeof(ht));
		dv_diff_chunk_bf16_part(&p[0], b, t, n, 1000, hint, hb[0], ht[0]);
		dv_diff_chunk_bf16_runs_part(&p[1], br, tr, n, 1000, hint, hb[1], ht[1]);
		assert_int_equal(p[0].n, p[1].n);
		assert_int_equal(p[0].start, p[1].start);
		assert_int_equal(p[0].cnan, p[1].cnan);
		assert_int_equal(p[0].cid, p[1].cid);
		assert_int_equal(p[0].loc, p[1].loc);
		assert_memory_equal(&p[0].sq, &p[1].sq, sizeof(double));
		assert_memory_equal(&p[0].ab, &p[1].ab, sizeof(double));
		assert_memory_equal(&p[0].cmax, &p[1].cmax, sizeof(float));
		if (p[0].loc >= 0) {
			assert_memory_equal(&p[0].loc_b, &p[1].loc_b, sizeof(float));
			assert_memory_equal(&p[0].loc_t, &p[1].loc_t, sizeof(float));
		}
		assert_memory_equal(hb[0], hb[1], sizeof(hb[0]));
		assert_memory_equal(ht[0], ht[1], sizeof(ht[0]));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identical_bf16),
		cmocka_unit_test(test_result_many_dims),
		cmocka_unit_test(test_result_long_error),
		cmocka_unit_test(test_random_vs_reference),
		cmocka_unit_test(test_all_zero),
		cmocka_unit_test(test_nan),
		cmocka_unit_test(test_inf),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_shape_unify),
		cmocka_unit_test(test_fp32_vs_bf16),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_quantiles_known),
		cmocka_unit_test(test_quantiles_random),
		cmocka_unit_test(test_hist_path),
		cmocka_unit_test(test_bf16_raw_path),
		cmocka_unit_test(test_bf16_runs_kernel),
		cmocka_unit_test(test_percentile_limit),
		cmocka_unit_test(test_cancel_and_progress),
		cmocka_unit_test(test_detail),
		cmocka_unit_test(test_export),
		cmocka_unit_test(test_threshold),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
