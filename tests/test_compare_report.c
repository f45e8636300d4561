/* The report writers on a hand-built comparison (no files read): number
 * formatting, JSON/CSV escaping, and golden text / JSON lines / CSV. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dumpview/intern.h"
#include "dumpview/report.h"

static void test_fmt_double(void **state)
{
	static const struct { double v; const char *s; } cases[] = {
		{ 0.1, "0.1" }, { 3.0, "3.0" }, { 0.0, "0.0" }, { -0.0, "-0.0" },
		{ 1e-5, "1e-05" }, { 0.0001, "0.0001" }, { 1.5e-7, "1.5e-07" },
		{ 123456.0, "123456.0" }, { 1e16, "1e+16" }, { 1e15, "1000000000000000.0" },
		{ 0.03162228104648879, "0.03162228104648879" }, { 5e-324, "5e-324" },
		{ 1.0 / 3.0, "0.3333333333333333" }, { 0.015625, "0.015625" },
		{ -2.5, "-2.5" }, { 1.7976931348623157e308, "1.7976931348623157e+308" },
	};
	char buf[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(dv_fmt_double(buf, sizeof(buf), cases[i].v), cases[i].s);
	assert_string_equal(dv_fmt_double(buf, sizeof(buf), NAN), "nan");
	assert_string_equal(dv_fmt_double(buf, sizeof(buf), -NAN), "nan");
	assert_string_equal(dv_fmt_double(buf, sizeof(buf), INFINITY), "inf");
	assert_string_equal(dv_fmt_double(buf, sizeof(buf), -INFINITY), "-inf");
	assert_string_equal(dv_fmt_fixed(buf, sizeof(buf), 0.00125, 4), "0.0013");
	assert_string_equal(dv_fmt_fixed(buf, sizeof(buf), -NAN, 4), "nan");
	assert_string_equal(dv_fmt_fixed(buf, sizeof(buf), -INFINITY, 4), "-inf");
	assert_string_equal(dv_fmt_fixed(buf, sizeof(buf), -0.00001, 4), "-0.0000");
}

static void test_fmt_shape(void **state)
{
	int64_t shape[3] = { 48, 128, 1 };
	char buf[64];

	(void)state;
	assert_string_equal(dv_fmt_shape(buf, sizeof(buf), 2, shape), "[48, 128]");
	assert_string_equal(dv_fmt_shape(buf, sizeof(buf), 3, shape), "[48, 128, 1]");
	assert_string_equal(dv_fmt_shape(buf, sizeof(buf), 0, shape), "[]");
}

/* Captures what fn writes to a FILE. */
static char *capture_begin(FILE **f, size_t *len, char **buf)
{
	*f = open_memstream(buf, len);
	assert_non_null(*f);
	return *buf;
}

static char *capture_end(FILE *f, char **buf)
{
	fclose(f);
	return *buf;
}

static void test_json_string(void **state)
{
	FILE *f;
	char *buf = NULL;
	size_t len;

	(void)state;
	capture_begin(&f, &len, &buf);
	dv_json_write_string(f, "a\"b\\c\n\t\x01 \xc3\xa9 \xff end\x1b\x7f \xed\xa0\x80\xc3");
	fputc(' ', f);
	dv_json_write_double(f, NAN);
	fputc(' ', f);
	dv_json_write_double(f, -INFINITY);
	fputc(' ', f);
	dv_json_write_double(f, 0.25);
	capture_end(f, &buf);
	assert_string_equal(buf, "\"a\\\"b\\\\c\\n\\t\\u0001 \xc3\xa9 \\udcff end\\u001b\\u007f \\udced\\udca0\\udc80\\udcc3\" \"nan\" \"-inf\" 0.25");
	free(buf);
}

static void test_csv_field(void **state)
{
	FILE *f;
	char *buf = NULL;
	size_t len;

	(void)state;
	capture_begin(&f, &len, &buf);
	dv_csv_write_field(f, "plain");
	fputc('|', f);
	dv_csv_write_field(f, "a,b");
	fputc('|', f);
	dv_csv_write_field(f, "say \"hi\"");
	fputc('|', f);
	dv_csv_write_field(f, "two\nlines");
	capture_end(f, &buf);
	assert_string_equal(buf, "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"two\nlines\"");
	free(buf);
}

/* Text that a spreadsheet would evaluate gets a leading quote; inside the
 * RFC 4180 quotes when the cell needs them. Text starting elsewhere is kept. */
static void test_csv_formula(void **state)
{
	static const char *const in[] = { "=cmd()|x", "+1", "-x", "@SUM(1)", "\tx", "\rx", "=a,b",
					   "a=b", "[1, 2]", "", "'q" };
	static const char *const want[] = { "'=cmd()|x", "'+1", "'-x", "'@SUM(1)", "'\tx", "\"'\rx\"",
					     "\"'=a,b\"", "a=b", "\"[1, 2]\"", "", "'q" };
	FILE *f;
	char *buf = NULL;
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		capture_begin(&f, &len, &buf);
		dv_csv_write_field(f, in[i]);
		capture_end(f, &buf);
		assert_string_equal(buf, want[i]);
		free(buf);
		buf = NULL;
	}
	assert_false(dv_csv_formula_start(NULL));
}

/* A comparison of every kind of pair, built by hand. */
/* a file with no tags: its block is its relpath then its path (kept apart:
 * DV_PREFIX_APART), aligned as tags */
#define BLOCK(str) ((dv_file_tag *)(union { dv_file_tag align; char s[sizeof(str)]; }){ .s = str }.s)
#define FILE_AT(dir, name, reldir, relname) \
	{ .tags = BLOCK(reldir relname "\0" dir name), .filename_at = sizeof(reldir) - 1, .prefix = DV_PREFIX_APART }
static dv_dumpfile files[] = {
	FILE_AT("/b/inference/", "f1.pt", "inference/", "f1.pt"),  /* 0 */
	FILE_AT("/t/inference/", "f1.pt", "inference/", "f1.pt"),
	FILE_AT("/b/inference/", "f2.pt", "inference/", "f2.pt"),  /* 2 */
	FILE_AT("/t/inference/", "f2.pt", "inference/", "f2.pt"),
	FILE_AT("/b/inference/", "rids.pt", "inference/", "rids.pt"), /* 4 */
	FILE_AT("/t/inference/", "rids.pt", "inference/", "rids.pt"),
	FILE_AT("/b/inference/", "sm.pt", "inference/", "sm.pt"),  /* 6 */
	FILE_AT("/t/inference/", "sm.pt", "inference/", "sm.pt"),
	FILE_AT("/b/inference/", "bad.pt", "inference/", "bad.pt"), /* 8 */
	FILE_AT("/t/inference/", "bad.pt", "inference/", "bad, \"x\".pt"),
	FILE_AT("/t/inference/", "extra.pt", "inference/", "extra.pt"), /* 10 */
	FILE_AT("/b/fwd_bwd/", "g.pt", "fwd_bwd/", "g.pt"),        /* 11 */
};

static dv_phase base_phases[] = {
	{ .name = "inference", .dir = "inference/sglang_dump_1" },
	{ .name = "fwd_bwd", .dir = "fwd_bwd/sglang_dump_2" },
};
static dv_phase targ_phases[] = {
	{ .name = "inference", .dir = "inference/sglang_dump_3" },
};
static dv_run base_run = { .spec = "b", .root = "/b", .phases = base_phases, .nphases = 2 };
static dv_run targ_run = { .spec = "t", .root = "/t", .phases = targ_phases, .nphases = 1 };
static dv_phase_pairs phases[] = {
	{ .name = "inference", .in_base = true, .in_targ = true, .first = 0, .count = 6 },
	{ .name = "fwd_bwd", .in_base = true, .in_targ = false, .first = 6, .count = 1 },
};
static dv_pair pairs[7];
static dv_pair_result results[7];
static dv_comparison cmp = { .base = &base_run, .targ = &targ_run, .phases = phases, .nphases = 2,
			     .pairs = pairs, .npairs = 7 };

static void set_stats(dv_stats *s, double mean, double std, double min, double max, bool pct)
{
	int i;

	dv_stats_set_count(s, DV_STATS_NUMEL, 6);
	s->mean = mean;
	s->std = std;
	s->min = min;
	s->max = max;
	s->has_percentiles = pct;
	for (i = 0; i < DV_NQUANTILES; i++)
		s->p[i] = min + (max - min) * (i + 1) / 6.0;
}

static void set_desc(dv_result_desc *d, dv_dtype dt, int ndim, int64_t a, int64_t b)
{
	d->dtype = dt;
	d->ndim = ndim;
	d->shape = dv_intern_dims((const int64_t[]){a, b}, 2);
}

static void build(void)
{
	dv_pair *p;

	memset(pairs, 0, sizeof(pairs));
	for (size_t i = 0; i < 7; i++) {
		dv_pair_result_free(&results[i]);
		results[i] = dv_pair_result_none;
		pairs[i].result = &results[i];
	}
	/* 0: passed bf16 pair, layer 0 */
	p = &pairs[0];
	p->kind = DV_PAIR_MATCHED;
	p->base = &files[0];
	p->targ = &files[1];
	p->name = "attn_q";
	p->layer = 0;
	p->rank = 0;
	p->step = 0;
	atomic_store(&p->state, DV_PAIR_DONE);
	p->result->status = DV_RESULT_COMPARED;
	p->result->passed = true;
	set_desc(&p->result->base, DV_BFLOAT16, 2, 2, 3);
	set_desc(&p->result->targ, DV_BFLOAT16, 2, 2, 3);
	p->result->numel = 6;
	p->result->rel_diff = 0.0;
	p->result->max_abs_diff = 0.0;
	p->result->mean_abs_diff = 0.0;
	set_stats(&p->result->base_stats, 0.5, 0.25, -1.0, 2.0, true);
	set_stats(&p->result->targ_stats, 0.5, 0.25, -1.0, 2.0, true);
	p->result->max_abs_diff_ndim = 2;
	p->result->identical = 6;
	/* 1: failed fp32 vs bf16, unified from [1, 6] */
	p = &pairs[1];
	p->kind = DV_PAIR_MATCHED;
	p->base = &files[2];
	p->targ = &files[3];
	p->name = "mlp_output";
	p->layer = 1;
	p->rank = 0;
	p->step = 0;
	atomic_store(&p->state, DV_PAIR_DONE);
	p->result->status = DV_RESULT_COMPARED;
	p->result->passed = false;
	set_desc(&p->result->base, DV_FLOAT32, 2, 1, 6);
	set_desc(&p->result->targ, DV_BFLOAT16, 1, 6, 0);
	p->result->numel = 6;
	p->result->rel_diff = 0.03162228104648879;
	p->result->max_abs_diff = 0.015625;
	p->result->mean_abs_diff = 0.0011;
	p->result->has_bf16 = true;
	p->result->bf16_rel_diff = 1e-5;
	p->result->bf16_max_abs_diff = 0.0078125;
	p->result->bf16_mean_abs_diff = 0.0001;
	set_stats(&p->result->base_stats, 0.0012, 1.0, -3.0, 3.0, false);
	set_stats(&p->result->targ_stats, 0.0013, 1.0, -3.0, NAN, false);
	dv_stats_set_count(&p->result->targ_stats, DV_STATS_NAN, 1);
	p->result->max_abs_diff_ndim = 1;
	p->result->max_abs_diff_coord = dv_intern_dims((const int64_t[]){4}, 1);
	p->result->max_abs_diff_base = 0.5;
	p->result->max_abs_diff_targ = 0.515625;
	p->result->identical = 3;
	/* 2: non-tensor, different */
	p = &pairs[2];
	p->kind = DV_PAIR_MATCHED;
	p->base = &files[4];
	p->targ = &files[5];
	p->name = "rids";
	p->layer = -1;
	p->rank = 0;
	p->step = -1;
	atomic_store(&p->state, DV_PAIR_DONE);
	p->result->status = DV_RESULT_NON_TENSOR;
	/* 3: shape mismatch */
	p = &pairs[3];
	p->kind = DV_PAIR_MATCHED;
	p->base = &files[6];
	p->targ = &files[7];
	p->name = "sm";
	p->layer = 2;
	p->rank = 1;
	p->step = 0;
	atomic_store(&p->state, DV_PAIR_DONE);
	p->result->status = DV_RESULT_SHAPE_MISMATCH;
	set_desc(&p->result->base, DV_FLOAT32, 2, 2, 3);
	set_desc(&p->result->targ, DV_FLOAT32, 2, 3, 2);
	set_stats(&p->result->base_stats, 1, 0, 1, 1, false);
	set_stats(&p->result->targ_stats, 1, 0, 1, 1, false);
	dv_result_set_error(p->result, "shape mismatch: [2, 3] vs [3, 2]");
	/* 4: error */
	p = &pairs[4];
	p->kind = DV_PAIR_MATCHED;
	p->base = &files[8];
	p->targ = &files[9];
	p->name = "bad";
	p->layer = -1;
	p->rank = 0;
	p->step = 0;
	atomic_store(&p->state, DV_PAIR_DONE);
	p->result->status = DV_RESULT_ERROR;
	dv_result_set_error(p->result, "/b/inference/bad.pt: truncated zip");
	/* 5: target only */
	p = &pairs[5];
	p->kind = DV_PAIR_TARGET_ONLY;
	p->targ = &files[10];
	p->name = "extra";
	p->layer = -1;
	p->rank = 0;
	p->step = 0;
	/* 6: baseline only, one-sided phase */
	p = &pairs[6];
	p->kind = DV_PAIR_BASELINE_ONLY;
	p->phase = 1;
	p->base = &files[11];
	p->name = "grad__x";
	p->layer = 3;
	p->rank = 0;
	p->step = 0;
}

static char *report(dv_report_format fmt, bool quiet, bool utf8, dv_report_counts *counts)
{
	dv_report_opts opts = { .format = fmt, .quiet = quiet, .utf8 = utf8, .threshold = 1e-3 };
	dv_report *r;
	char *buf = NULL;
	size_t len, i;
	FILE *f;

	build();
	capture_begin(&f, &len, &buf);
	r = dv_report_new(f, &cmp, &opts);
	assert_non_null(r);
	for (i = 0; i < cmp.npairs; i++)
		dv_report_pair(r, i);
	dv_report_finish(r, "Inference diverges first.");
	*counts = *dv_report_get_counts(r);
	assert_int_equal(dv_report_first_divergence(r), 1);
	dv_report_free(r);
	return capture_end(f, &buf);
}

static const char golden_text[] =
	"==== Phase inference: baseline inference/sglang_dump_1, target inference/sglang_dump_3 ====\n"
	"\n"
	"baseline=inference/f1.pt\n"
	"target=inference/f1.pt\n"
	"Raw [shape] [2, 3] vs [2, 3]\t[dtype] bfloat16 vs bfloat16\n"
	"[mean] 0.5000 vs 0.5000 (diff: 0.0000)\n"
	"[std] 0.2500 vs 0.2500 (diff: 0.0000)\n"
	"[min] -1.0000 vs -1.0000 (diff: 0.0000)\n"
	"[max] 2.0000 vs 2.0000 (diff: 0.0000)\n"
	"[p1] -0.5000 vs -0.5000 (diff: 0.0000)\n"
	"[p5] 0.0000 vs 0.0000 (diff: 0.0000)\n"
	"[p50] 0.5000 vs 0.5000 (diff: 0.0000)\n"
	"[p95] 1.0000 vs 1.0000 (diff: 0.0000)\n"
	"[p99] 1.5000 vs 1.5000 (diff: 0.0000)\n"
	"\u2705 rel_diff=0.0\tmax_abs_diff=0.0\tmean_abs_diff=0.0\n"
	"max_abs_diff happens at coord=[0, 0] with baseline=0.0 target=0.0\n"
	"\n"
	"baseline=inference/f2.pt\n"
	"target=inference/f2.pt\n"
	"Raw [shape] [1, 6] vs [6]\t[\U0001f7e0dtype] float32 vs bfloat16\n"
	"Unify shape: [1, 6] -> [6] (to match [6])\n"
	"[mean] 0.0012 vs 0.0013 (diff: 0.0001)\n"
	"[std] 1.0000 vs 1.0000 (diff: 0.0000)\n"
	"[min] -3.0000 vs -3.0000 (diff: 0.0000)\n"
	"[max] 3.0000 vs nan (diff: nan)\n"
	"[nan] 0 vs 1\t[inf] 0 vs 0\n"
	"\u274c rel_diff=0.03162228104648879\tmax_abs_diff=0.015625\tmean_abs_diff=0.0011\n"
	"When downcast to bfloat16: \u2705 rel_diff=1e-05\tmax_abs_diff=0.0078125\tmean_abs_diff=0.0001\n"
	"max_abs_diff happens at coord=[4] with baseline=0.5 target=0.515625\n"
	"\n"
	"baseline=inference/rids.pt\n"
	"target=inference/rids.pt\n"
	"Non-tensor values: differ\n"
	"\n"
	"baseline=inference/sm.pt\n"
	"target=inference/sm.pt\n"
	"Raw [shape] [2, 3] vs [3, 2]\t[dtype] float32 vs float32\n"
	"[mean] 1.0000 vs 1.0000 (diff: 0.0000)\n"
	"[std] 0.0000 vs 0.0000 (diff: 0.0000)\n"
	"[min] 1.0000 vs 1.0000 (diff: 0.0000)\n"
	"[max] 1.0000 vs 1.0000 (diff: 0.0000)\n"
	"\u274c shape mismatch: [2, 3] vs [3, 2]\n"
	"\n"
	"baseline=inference/bad.pt\n"
	"target=inference/bad, \"x\".pt\n"
	"\u274c error: /b/inference/bad.pt: truncated zip\n"
	"\n"
	"Skip: target=inference/extra.pt (no baseline)\n"
	"\n"
	"==== Phase fwd_bwd: only in baseline (fwd_bwd/sglang_dump_2) ====\n"
	"\n"
	"Skip: baseline=fwd_bwd/g.pt (no target)\n"
	"\n"
	"Summary: 1 passed, 2 failed, 3 skipped, 1 errored (total 7)\n"
	"Warning: phase fwd_bwd: only in the baseline (1 file)\n"
	"First divergence: phase inference, layer 1, mlp_output, rank 0, step 0: rel_diff=0.03162228104648879\n"
	"  target=inference/f2.pt\n"
	"Diagnosis: Inference diverges first.\n";

static void test_text(void **state)
{
	dv_report_counts c;
	char *out = report(DV_REPORT_TEXT, false, true, &c);

	(void)state;
	assert_string_equal(out, golden_text);
	assert_int_equal(c.passed, 1);
	assert_int_equal(c.failed, 2);
	assert_int_equal(c.skipped, 3);
	assert_int_equal(c.errored, 1);
	free(out);
}

static const char golden_quiet_ascii[] =
	"==== Phase inference: baseline inference/sglang_dump_1, target inference/sglang_dump_3 ====\n"
	"\n"
	"baseline=inference/f2.pt\n"
	"target=inference/f2.pt\n"
	"Raw [shape] [1, 6] vs [6]\t[!dtype] float32 vs bfloat16\n"
	"Unify shape: [1, 6] -> [6] (to match [6])\n"
	"[mean] 0.0012 vs 0.0013 (diff: 0.0001)\n"
	"[std] 1.0000 vs 1.0000 (diff: 0.0000)\n"
	"[min] -3.0000 vs -3.0000 (diff: 0.0000)\n"
	"[max] 3.0000 vs nan (diff: nan)\n"
	"[nan] 0 vs 1\t[inf] 0 vs 0\n"
	"FAIL rel_diff=0.03162228104648879\tmax_abs_diff=0.015625\tmean_abs_diff=0.0011\n"
	"When downcast to bfloat16: ok rel_diff=1e-05\tmax_abs_diff=0.0078125\tmean_abs_diff=0.0001\n"
	"max_abs_diff happens at coord=[4] with baseline=0.5 target=0.515625\n"
	"\n"
	"baseline=inference/sm.pt\n"
	"target=inference/sm.pt\n"
	"Raw [shape] [2, 3] vs [3, 2]\t[dtype] float32 vs float32\n"
	"[mean] 1.0000 vs 1.0000 (diff: 0.0000)\n"
	"[std] 0.0000 vs 0.0000 (diff: 0.0000)\n"
	"[min] 1.0000 vs 1.0000 (diff: 0.0000)\n"
	"[max] 1.0000 vs 1.0000 (diff: 0.0000)\n"
	"FAIL shape mismatch: [2, 3] vs [3, 2]\n"
	"\n"
	"baseline=inference/bad.pt\n"
	"target=inference/bad, \"x\".pt\n"
	"FAIL error: /b/inference/bad.pt: truncated zip\n"
	"\n"
	"Summary: 1 passed, 2 failed, 3 skipped, 1 errored (total 7)\n"
	"Warning: phase fwd_bwd: only in the baseline (1 file)\n"
	"First divergence: phase inference, layer 1, mlp_output, rank 0, step 0: rel_diff=0.03162228104648879\n"
	"  target=inference/f2.pt\n"
	"Diagnosis: Inference diverges first.\n";

static void test_text_quiet_ascii(void **state)
{
	dv_report_counts c;
	char *out = report(DV_REPORT_TEXT, true, false, &c);

	(void)state;
	assert_string_equal(out, golden_quiet_ascii);
	free(out);
}

static const char golden_jsonl[] =
	"{\"type\":\"pair\",\"phase\":\"inference\",\"index\":0,\"layer\":0,\"name\":\"attn_q\",\"rank\":0,"
	"\"step\":0,\"baseline\":\"inference/f1.pt\",\"target\":\"inference/f1.pt\",\"baseline_files\":[\"i"
	"nference/f1.pt\"],\"target_files\":[\"inference/f1.pt\"],\"baseline_dtype\":\"bfloat16\",\"target_"
	"dtype\":\"bfloat16\",\"baseline_shape\":[2,3],\"target_shape\":[2,3],\"rel_diff\":0.0,\"max_abs_di"
	"ff\":0.0,\"mean_abs_diff\":0.0,\"passed\":true,\"verdict\":\"passed\",\"status\":\"compared\",\"ba"
	"seline_stats\":{\"mean\":0.5,\"std\":0.25,\"min\":-1.0,\"max\":2.0,\"p1\":-0.5,\"p5\":0.0,\"p50\":"
	"0.5,\"p95\":1.0,\"p99\":1.5,\"nan\":0,\"inf\":0},\"target_stats\":{\"mean\":0.5,\"std\":0.25,\"min"
	"\":-1.0,\"max\":2.0,\"p1\":-0.5,\"p5\":0.0,\"p50\":0.5,\"p95\":1.0,\"p99\":1.5,\"nan\":0,\"inf\":0"
	"},\"max_abs_diff_coord\":[0,0],\"max_abs_diff_baseline\":0.0,\"max_abs_diff_target\":0.0,\"numel\""
	":6,\"identical\":6,\"baseline_dims\":null,\"target_dims\":null,\"plan\":null,\"aligned_shape\":[2,"
	"3],\"replicated_checks\":[],\"max_abs_diff_shard\":null,\"replica_mismatch\":false,\"token_aligner"
	"\":\"none\",\"per_sequence\":null}\n"
	"{\"type\":\"pair\",\"phase\":\"inference\",\"index\":1,\"layer\":1,\"name\":\"mlp_output\",\"rank"
	"\":0,\"step\":0,\"baseline\":\"inference/f2.pt\",\"target\":\"inference/f2.pt\",\"baseline_files\""
	":[\"inference/f2.pt\"],\"target_files\":[\"inference/f2.pt\"],\"baseline_dtype\":\"float32\",\"tar"
	"get_dtype\":\"bfloat16\",\"baseline_shape\":[1,6],\"target_shape\":[6],\"rel_diff\":0.031622281046"
	"48879,\"max_abs_diff\":0.015625,\"mean_abs_diff\":0.0011,\"passed\":false,\"verdict\":\"failed\","
	"\"status\":\"compared\",\"baseline_stats\":{\"mean\":0.0012,\"std\":1.0,\"min\":-3.0,\"max\":3.0,"
	"\"p1\":null,\"p5\":null,\"p50\":null,\"p95\":null,\"p99\":null,\"nan\":0,\"inf\":0},\"target_stats"
	"\":{\"mean\":0.0013,\"std\":1.0,\"min\":-3.0,\"max\":\"nan\",\"p1\":null,\"p5\":null,\"p50\":null,"
	"\"p95\":null,\"p99\":null,\"nan\":1,\"inf\":0},\"max_abs_diff_coord\":[4],\"max_abs_diff_baseline"
	"\":0.5,\"max_abs_diff_target\":0.515625,\"numel\":6,\"identical\":3,\"bf16_rel_diff\":1e-05,\"bf16"
	"_max_abs_diff\":0.0078125,\"bf16_mean_abs_diff\":0.0001,\"baseline_dims\":null,\"target_dims\":nul"
	"l,\"plan\":null,\"aligned_shape\":[6],\"replicated_checks\":[],\"max_abs_diff_shard\":null,\"repli"
	"ca_mismatch\":false,\"token_aligner\":\"none\",\"per_sequence\":null}\n"
	"{\"type\":\"non_tensor\",\"phase\":\"inference\",\"index\":2,\"name\":\"rids\",\"equal\":false,\"l"
	"ayer\":null,\"rank\":0,\"step\":null,\"baseline\":\"inference/rids.pt\",\"target\":\"inference/rid"
	"s.pt\",\"baseline_files\":[\"inference/rids.pt\"],\"target_files\":[\"inference/rids.pt\"]}\n"
	"{\"type\":\"pair\",\"phase\":\"inference\",\"index\":3,\"layer\":2,\"name\":\"sm\",\"rank\":1,\"st"
	"ep\":0,\"baseline\":\"inference/sm.pt\",\"target\":\"inference/sm.pt\",\"baseline_files\":[\"infer"
	"ence/sm.pt\"],\"target_files\":[\"inference/sm.pt\"],\"baseline_dtype\":\"float32\",\"target_dtype"
	"\":\"float32\",\"baseline_shape\":[2,3],\"target_shape\":[3,2],\"rel_diff\":null,\"max_abs_diff\":"
	"null,\"mean_abs_diff\":null,\"passed\":false,\"verdict\":\"failed\",\"status\":\"shape_mismatch\","
	"\"error\":\"shape mismatch: [2, 3] vs [3, 2]\",\"baseline_stats\":{\"mean\":1.0,\"std\":0.0,\"min"
	"\":1.0,\"max\":1.0,\"p1\":null,\"p5\":null,\"p50\":null,\"p95\":null,\"p99\":null,\"nan\":0,\"inf"
	"\":0},\"target_stats\":{\"mean\":1.0,\"std\":0.0,\"min\":1.0,\"max\":1.0,\"p1\":null,\"p5\":null,"
	"\"p50\":null,\"p95\":null,\"p99\":null,\"nan\":0,\"inf\":0},\"max_abs_diff_coord\":null,\"baseline"
	"_dims\":null,\"target_dims\":null,\"plan\":null,\"aligned_shape\":null,\"replicated_checks\":[],\""
	"max_abs_diff_shard\":null,\"replica_mismatch\":false,\"token_aligner\":\"none\",\"per_sequence\":n"
	"ull}\n"
	"{\"type\":\"pair\",\"phase\":\"inference\",\"index\":4,\"layer\":null,\"name\":\"bad\",\"rank\":0,"
	"\"step\":0,\"baseline\":\"inference/bad.pt\",\"target\":\"inference/bad, \\\"x\\\".pt\",\"baseline"
	"_files\":[\"inference/bad.pt\"],\"target_files\":[\"inference/bad, \\\"x\\\".pt\"],\"baseline_dtyp"
	"e\":null,\"target_dtype\":null,\"baseline_shape\":null,\"target_shape\":null,\"rel_diff\":null,\"m"
	"ax_abs_diff\":null,\"mean_abs_diff\":null,\"passed\":false,\"verdict\":\"errored\",\"status\":\"er"
	"ror\",\"error\":\"/b/inference/bad.pt: truncated zip\",\"baseline_stats\":null,\"target_stats\":nu"
	"ll,\"max_abs_diff_coord\":null,\"baseline_dims\":null,\"target_dims\":null,\"plan\":null,\"aligned"
	"_shape\":null,\"replicated_checks\":[],\"max_abs_diff_shard\":null,\"replica_mismatch\":false,\"to"
	"ken_aligner\":\"none\",\"per_sequence\":null}\n"
	"{\"type\":\"error\",\"phase\":\"inference\",\"index\":4,\"file\":\"inference/bad.pt\",\"message\":"
	"\"/b/inference/bad.pt: truncated zip\"}\n"
	"{\"type\":\"unmatched\",\"phase\":\"inference\",\"index\":5,\"side\":\"target\",\"file\":\"inferen"
	"ce/extra.pt\",\"name\":\"extra\",\"files\":[\"inference/extra.pt\"],\"layer\":null}\n"
	"{\"type\":\"unmatched\",\"phase\":\"fwd_bwd\",\"index\":6,\"side\":\"baseline\",\"file\":\"fwd_bwd"
	"/g.pt\",\"name\":\"grad__x\",\"files\":[\"fwd_bwd/g.pt\"],\"layer\":3}\n"
	"{\"type\":\"summary\",\"passed\":1,\"failed\":2,\"skipped\":3,\"errored\":1,\"total\":7,\"first_di"
	"vergence\":{\"phase\":\"inference\",\"layer\":1,\"name\":\"mlp_output\",\"rank\":0,\"step\":0,\"ta"
	"rget\":\"inference/f2.pt\",\"rel_diff\":0.03162228104648879},\"replica_mismatches\":0,\"first_repl"
	"ica_mismatch\":null,\"token_alignment\":null,\"diagnosis\":\"Inference diverges first.\",\"warning"
	"s\":[\"phase fwd_bwd: only in the baseline (1 file)\"]}\n";

static void test_jsonl(void **state)
{
	dv_report_counts c;
	char *out = report(DV_REPORT_JSONL, false, true, &c);

	(void)state;
	assert_string_equal(out, golden_jsonl);
	free(out);
}

static const char golden_csv[] =
	"phase,layer,name,rank,step,baseline,target,baseline_dtype,target_dtype,baseline_shape,target_shape,r"
	"el_diff,max_abs_diff,mean_abs_diff,passed,error,baseline_mean,baseline_std,baseline_min,baseline_max"
	",baseline_p1,baseline_p5,baseline_p50,baseline_p95,baseline_p99,baseline_nan,baseline_inf,target_mea"
	"n,target_std,target_min,target_max,target_p1,target_p5,target_p50,target_p95,target_p99,target_nan,t"
	"arget_inf,baseline_files,target_files,plan,replica_mismatch,token_aligner,failed_sequences\n"
	"inference,0,attn_q,0,0,inference/f1.pt,inference/f1.pt,bfloat16,bfloat16,\"[2, 3]\",\"[2, 3]\",0.0,0"
	".0,0.0,true,,0.5,0.25,-1.0,2.0,-0.5,0.0,0.5,1.0,1.5,0,0,0.5,0.25,-1.0,2.0,-0.5,0.0,0.5,1.0,1.5,0,0,1"
	",1,,false,none,\n"
	"inference,1,mlp_output,0,0,inference/f2.pt,inference/f2.pt,float32,bfloat16,\"[1, 6]\",[6],0.0316222"
	"8104648879,0.015625,0.0011,false,,0.0012,1.0,-3.0,3.0,,,,,,0,0,0.0013,1.0,-3.0,nan,,,,,,1,0,1,1,,fal"
	"se,none,\n"
	"inference,,rids,0,,inference/rids.pt,inference/rids.pt,,,,,,,,false,non-tensor values differ,,,,,,,,"
	",,,,,,,,,,,,,,,1,1,,,none,\n"
	"inference,2,sm,1,0,inference/sm.pt,inference/sm.pt,float32,float32,\"[2, 3]\",\"[3, 2]\",,,,false,\""
	"shape mismatch: [2, 3] vs [3, 2]\",1.0,0.0,1.0,1.0,,,,,,0,0,1.0,0.0,1.0,1.0,,,,,,0,0,1,1,,,none,\n"
	"inference,,bad,0,0,inference/bad.pt,\"inference/bad, \"\"x\"\".pt\",,,,,,,,false,/b/inference/bad.pt"
	": truncated zip,,,,,,,,,,,,,,,,,,,,,,,1,1,,,none,\n"
	"inference,,extra,0,0,,inference/extra.pt,,,,,,,,,no partner in baseline,,,,,,,,,,,,,,,,,,,,,,,0,1,,,"
	"none,\n"
	"fwd_bwd,3,grad__x,0,0,fwd_bwd/g.pt,,,,,,,,,,no partner in target,,,,,,,,,,,,,,,,,,,,,,,1,0,,,none,\n";

static void test_csv(void **state)
{
	dv_report_counts c;
	char *out = report(DV_REPORT_CSV, false, true, &c);

	(void)state;
	assert_string_equal(out, golden_csv);
	free(out);
}

static void test_format_parse(void **state)
{
	dv_report_format f = DV_REPORT_TEXT;

	(void)state;
	assert_int_equal(dv_report_format_parse("jsonl", &f), 0);
	assert_int_equal(f, DV_REPORT_JSONL);
	assert_int_equal(dv_report_format_parse("csv", &f), 0);
	assert_int_equal(f, DV_REPORT_CSV);
	assert_int_equal(dv_report_format_parse("text", &f), 0);
	assert_int_equal(f, DV_REPORT_TEXT);
	assert_int_equal(dv_report_format_parse("json", &f), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fmt_double),
		cmocka_unit_test(test_fmt_shape),
		cmocka_unit_test(test_json_string),
		cmocka_unit_test(test_csv_field),
		cmocka_unit_test(test_csv_formula),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_text_quiet_ascii),
		cmocka_unit_test(test_jsonl),
		cmocka_unit_test(test_csv),
		cmocka_unit_test(test_format_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
