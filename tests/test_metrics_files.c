/* Metrics through the pt reader: dv_compare_files on corpus and example
 * files (errors, non-tensors, views, the histogram path), pair detail and
 * CSV export on a real example pair. Expected numbers were computed with
 * torch's definitions from the files' values (float32 arithmetic emulated
 * where torch uses it). */
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

static char *path(const char *env, const char *rel)
{
	const char *dir = getenv(env);
	static char buf[8][4096];
	static int k;
	char *p = buf[k++ % 8];

	assert_non_null(dir);
	snprintf(p, 4096, "%s/%s", dir, rel);
	return p;
}

#define CORPUS(f) path("FIXTURES", "pt-corpus/" f)
#define INF_B(f) path("EXAMPLES", "baseline/inference/sglang_dump_1764130000.51/" f)
#define INF_T(f) path("EXAMPLES", "target/inference/sglang_dump_1764130000.51/" f)
#define MLP2 "step=0___rank=0___dump_index=24___name=mlp_output___recompute_status=disabled___layer_id=2.pt"
#define ROUTER3 "step=0___rank=0___dump_index=30___name=moe_router_logits___recompute_status=disabled___layer_id=3.pt"
#define RIDS "step=0___rank=0___dump_index=3___name=rids___recompute_status=disabled.pt"

static void assert_rel(double got, double want, double rel)
{
	if (!(fabs(got - want) <= fabs(want) * rel))
		fail_msg("got %.17g want %.17g", got, want);
}

static void test_fp32_vs_bf16_files(void **state)
{
	(void)state;
	dv_pair_result r;

	assert_int_equal(dv_compare_files(CORPUS("dtype_float32.pt"), CORPUS("dtype_bfloat16.pt"), NULL, &r), 0);
	assert_int_equal(r.status, DV_RESULT_COMPARED);
	assert_int_equal(r.base.dtype, DV_FLOAT32);
	assert_int_equal(r.targ.dtype, DV_BFLOAT16);
	assert_int_equal(r.numel, 15);
	assert_rel(r.rel_diff, 1.3043084565520591, 1e-9);
	assert_true(r.max_abs_diff == 2.6124942302703857);
	assert_rel(r.mean_abs_diff, 1.0948069666822751, 1e-6);
	assert_int_equal(dv_result_coord(&r)[0], 2);
	assert_int_equal(dv_result_coord(&r)[1], 1);
	assert_true(r.has_bf16);
	assert_rel(r.bf16_rel_diff, 1.3041337568958944, 1e-9);
	assert_true(r.bf16_max_abs_diff == 2.61328125);
	assert_rel(r.bf16_mean_abs_diff, 1.0947550455729167, 1e-6);
	assert_false(r.passed);
	assert_rel(r.base_stats.mean, 0.0022501652439435322, 1e-9);
	assert_rel(r.base_stats.std, 0.7101070329515764, 1e-9);
	assert_true(r.base_stats.min == -1.4473403692245483);
	assert_true(r.base_stats.p[0] == (float)-1.36546195);
	assert_true(r.base_stats.p[2] == (float)0.0918222293);
	assert_true(r.base_stats.p[4] == (float)0.883287668);
}

static void test_hist_path_files(void **state)
{
	(void)state;
	dv_pair_result r;

	/* 512x1024 bf16: statistics from the raw-bits histogram */
	assert_int_equal(dv_compare_files(CORPUS("shape_large.pt"), CORPUS("shape_large.pt"), NULL, &r), 0);
	assert_int_equal(r.status, DV_RESULT_COMPARED);
	assert_true(r.passed);
	assert_int_equal(r.identical, 524288);
	assert_rel(r.targ_stats.mean, -0.0014339781590848588, 1e-12);
	assert_rel(r.targ_stats.std, 1.0003471107782544, 1e-12);
	assert_true(r.targ_stats.min == -4.6875);
	assert_true(r.targ_stats.max == 4.5625);
	assert_true(r.targ_stats.has_percentiles);
	assert_true(r.targ_stats.p[0] == -2.328125);
	assert_true(r.targ_stats.p[1] == -1.6484375);
	assert_true(r.targ_stats.p[2] == (float)-0.00352478027);
	assert_true(r.targ_stats.p[3] == 1.6484375);
	assert_true(r.targ_stats.p[4] == 2.328125);

	/* 70000 int8 */
	assert_int_equal(dv_compare_files(CORPUS("shape_long1d.pt"), CORPUS("shape_long1d.pt"), NULL, &r), 0);
	assert_rel(r.base_stats.mean, 62.70475714285714, 1e-12);
	assert_rel(r.base_stats.std, 36.711557727455769, 1e-12);
	assert_true(r.base_stats.p[0] == 1 && r.base_stats.p[1] == 6 && r.base_stats.p[2] == 62);
	assert_true(r.base_stats.p[3] == 120 && r.base_stats.p[4] == 125);
}

static void test_views_and_specials(void **state)
{
	(void)state;
	dv_pair_result r;

	assert_int_equal(dv_compare_files(CORPUS("view_transposed.pt"), CORPUS("view_transposed.pt"), NULL, &r), 0);
	assert_int_equal(r.status, DV_RESULT_COMPARED);
	assert_int_equal(r.identical, 24);
	assert_true(r.passed);

	assert_int_equal(dv_compare_files(CORPUS("values_special_f32.pt"), CORPUS("values_special_f32.pt"), NULL, &r),
			 0);
	assert_int_equal(r.status, DV_RESULT_COMPARED);
	assert_false(r.passed); /* NaN */
	assert_true(isnan(r.rel_diff));
	assert_int_equal(dv_stats_nan(&r.base_stats), 1);
	assert_int_equal(dv_stats_inf(&r.base_stats), 2);

	/* 0-dim and empty */
	assert_int_equal(dv_compare_files(CORPUS("shape_0d.pt"), CORPUS("shape_0d.pt"), NULL, &r), 0);
	assert_int_equal(r.status, DV_RESULT_COMPARED);
	assert_int_equal(r.numel, 1);
	assert_int_equal(r.max_abs_diff_ndim, 0);
	assert_int_equal(dv_compare_files(CORPUS("shape_empty2d.pt"), CORPUS("shape_empty2d.pt"), NULL, &r), 0);
	assert_int_equal(r.status, DV_RESULT_COMPARED);
	assert_int_equal(r.numel, 0);
	assert_true(r.passed);
}

static void test_errors(void **state)
{
	(void)state;
	dv_pair_result r;
	const char *missing = CORPUS("no-such-file.pt");

	assert_int_equal(dv_compare_files(missing, CORPUS("dtype_float32.pt"), NULL, &r), -1);
	assert_int_equal(r.status, DV_RESULT_ERROR);
	assert_false(r.passed);
	assert_non_null(strstr(r.error, "no-such-file.pt"));
	dv_pair_result_free(&r);

	assert_int_equal(dv_compare_files(CORPUS("dtype_complex64.pt"), CORPUS("dtype_complex64.pt"), NULL, &r), -1);
	assert_int_equal(r.status, DV_RESULT_ERROR);
	assert_non_null(strstr(r.error, "dtype_complex64.pt"));
	assert_non_null(strstr(r.error, "complex64"));
	dv_pair_result_free(&r);

	assert_int_equal(dv_compare_files(CORPUS("sglang_nontensor_str.pt"), CORPUS("dtype_float32.pt"), NULL, &r), -1);
	assert_int_equal(r.status, DV_RESULT_ERROR);
	assert_non_null(strstr(r.error, "sglang_nontensor_str.pt holds a str"));
	assert_non_null(strstr(r.error, "dtype_float32.pt holds a tensor"));
	dv_pair_result_free(&r);

	/* shape mismatch through files */
	assert_int_equal(dv_compare_files(INF_B(MLP2), INF_T(ROUTER3), NULL, &r), 0);
	assert_int_equal(r.status, DV_RESULT_SHAPE_MISMATCH);
	assert_string_equal(r.error, "shape mismatch: baseline [48, 128] vs target [48, 4]");
	assert_false(r.passed);
	dv_pair_result_free(&r);
}

static void test_non_tensors(void **state)
{
	(void)state;
	dv_pair_result r;

	assert_int_equal(dv_compare_files(INF_B(RIDS), INF_T(RIDS), NULL, &r), 0);
	assert_int_equal(r.status, DV_RESULT_NON_TENSOR);
	assert_true(r.equal);
	assert_true(r.passed);
	assert_int_equal(dv_compare_files(CORPUS("sglang_nontensor_list.pt"), CORPUS("sglang_nontensor_str.pt"), NULL,
					  &r),
			 0);
	assert_int_equal(r.status, DV_RESULT_NON_TENSOR);
	assert_false(r.equal);
	assert_false(r.passed);
}

static void test_detail_files(void **state)
{
	(void)state;
	dv_pair_detail d;
	dv_error err;
	int64_t sum;

	assert_int_equal(dv_pair_detail_compute(INF_B(MLP2), INF_T(MLP2), 10, 20, NULL, &d, &err), 0);
	assert_int_equal(d.numel, 6144);
	sum = d.absdiff_zero + d.absdiff_nonfinite;
	for (int i = 0; i < DV_ABSDIFF_BUCKETS; i++)
		sum += d.absdiff_buckets[i];
	assert_int_equal(sum, 6144);
	assert_int_equal(d.absdiff_zero, 15);
	/* max |t-b| = 0.1640625: last bucket [1e-1, 1) */
	assert_int_equal(d.absdiff_lo_exp, -1 - (DV_ABSDIFF_BUCKETS - 1));
	assert_true(d.absdiff_buckets[DV_ABSDIFF_BUCKETS - 1] > 0);
	assert_true(d.value_lo == -0.71484375);
	assert_true(d.value_hi == 0.60546875);
	assert_int_equal(d.heat_src_rows, 48);
	assert_int_equal(d.heat_src_cols, 128);
	assert_int_equal(d.heat_rows, 10);
	assert_int_equal(d.heat_cols, 20);
	assert_non_null(d.heat);
	double mean = 0;
	for (int i = 0; i < 200; i++)
		mean += d.heat[i];
	assert_true(mean > 0);
	dv_pair_detail_free(&d);

	assert_int_equal(dv_pair_detail_compute(INF_B(MLP2), INF_T(ROUTER3), 10, 20, NULL, &d, &err), -1);
	assert_non_null(strstr(err.msg, "shape mismatch"));
}

static void test_export_files(void **state)
{
	(void)state;
	const char *out = "test_metrics_files.csv";
	dv_error err;
	int64_t rows = 0;
	char buf[4096];
	FILE *f;

	assert_int_equal(dv_export_diff_csv(INF_B(MLP2), INF_T(MLP2), out, -1, 0, NULL, &rows, &err), 0);
	assert_int_equal(rows, 6144);
	assert_int_equal(dv_export_diff_csv(INF_B(MLP2), INF_T(MLP2), out, -1, 1, NULL, &rows, &err), 0);
	assert_int_equal(rows, 1);
	f = fopen(out, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	/* torch: max |t-b| 0.1640625 at [41, 111], baseline -0.55078125, target -0.71484375 */
	assert_string_equal(buf, "index,coord,baseline,target,abs_diff,rel_err\n"
				 "5359,\"[41, 111]\",-0.55078125,-0.71484375,0.1640625,0.29787233\n");
	remove(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fp32_vs_bf16_files),
		cmocka_unit_test(test_hist_path_files),
		cmocka_unit_test(test_views_and_specials),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_non_tensors),
		cmocka_unit_test(test_detail_files),
		cmocka_unit_test(test_export_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
