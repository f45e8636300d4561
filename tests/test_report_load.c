/* The JSON parser and the report loader (report_load.h): a report of
 * examples/ written and read back gives the live comparison's verdicts,
 * first divergence, counts and warnings; hostile lines are refused with
 * FILE:LINE and a reason. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dumpview/logical.h"
#include "dumpview/report_load.h"
#include "dumpview/token_align.h"

static const char *examples(void)
{
	const char *e = getenv("EXAMPLES");

	return e && *e ? e : "examples";
}

/* ---- JSON ---- */

static int parse(const char *s, dv_json *v, dv_error *e)
{
	return dv_json_parse(s, strlen(s), v, e);
}

static void test_json_values(void **state)
{
	dv_json v;
	dv_error e;

	(void)state;
	assert_int_equal(parse(" {\"a\":[1,-2.5e3,true,false,null],\"b\":\"x\\u00e9\\ud83d\\ude00\\udcff\\n\"} ", &v, &e),
			 0);
	assert_int_equal(v.type, DV_JSON_OBJECT);
	const dv_json *a = dv_json_get(&v, "a"), *b = dv_json_get(&v, "b");
	assert_non_null(a);
	assert_int_equal(a->n, 5);
	assert_true(a->items[0].num == 1 && a->items[1].num == -2500);
	assert_true(a->items[2].b && !a->items[3].b && a->items[4].type == DV_JSON_NULL);
	/* é, U+1F600, the byte 0xff again, newline */
	assert_int_equal(b->len, 9);
	assert_memory_equal(b->str, "x\xc3\xa9\xf0\x9f\x98\x80\xff\n", 9);
	dv_json_free(&v);
	assert_int_equal(parse("\"\"", &v, &e), 0);
	assert_int_equal(v.len, 0);
	dv_json_free(&v);
}

/* Every value says where its text lies (merge writes values again as read). */
static void test_json_raw(void **state)
{
	const char *s = " {\"a\" : [ 1.50 , \"x\\n\" ] ,\"b\":{ }, \"c\":-0e+1} ";
	dv_json v;
	dv_error e;
	const dv_json *a, *b, *c;

	(void)state;
	assert_int_equal(parse(s, &v, &e), 0);
	assert_int_equal(v.off, 1);
	assert_int_equal(v.nraw, strlen(s) - 2);
	a = dv_json_get(&v, "a");
	b = dv_json_get(&v, "b");
	c = dv_json_get(&v, "c");
	assert_memory_equal(s + a->off, "[ 1.50 , \"x\\n\" ]", a->nraw);
	assert_int_equal(a->items[0].nraw, 4);
	assert_memory_equal(s + a->items[0].off, "1.50", 4);
	assert_memory_equal(s + a->items[1].off, "\"x\\n\"", a->items[1].nraw);
	assert_int_equal(a->items[1].nraw, 5);
	assert_memory_equal(s + b->off, "{ }", b->nraw);
	assert_int_equal(b->nraw, 3);
	assert_memory_equal(s + c->off, "-0e+1", c->nraw);
	assert_int_equal(c->nraw, 5);
	dv_json_free(&v);
}

/* dv_read_all: a file bigger than the first buffer, and an empty one. */
static void test_read_all(void **state)
{
	FILE *f = tmpfile();
	char *text;
	size_t len, n = 3u << 20;

	(void)state;
	assert_non_null(f);
	for (size_t i = 0; i < n; i++)
		fputc((int)(i * 7 % 251), f);
	rewind(f);
	assert_int_equal(dv_read_all(f, &text, &len), 0);
	assert_int_equal(len, n);
	for (size_t i = 0; i < n; i += 4099)
		assert_int_equal((unsigned char)text[i], i * 7 % 251);
	free(text);
	fclose(f);
	assert_non_null(f = tmpfile());
	assert_int_equal(dv_read_all(f, &text, &len), 0);
	assert_int_equal(len, 0);
	free(text);
	fclose(f);
}

static void test_json_hostile(void **state)
{
	static const char *const bad[] = {
		"", "{", "{\"a\":1", "[1,]", "{\"a\" 1}", "01", "1.", "-", "1e", "+1", "tru", "nul", "\"abc",
		"\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"\\u0000\"",
		"\"\x01\"", "\"\xff\"", "\"\xc0\xaf\"", "1e999", "-1e999", "[1] 2", "{\"a\":1}}", "NaN", "[\"a\"\"b\"]",
		"{1:2}",
	};
	dv_json v;
	dv_error e;
	char deep[200];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], &v, &e) == 0)
			fail_msg("accepted: %s", bad[i]);
		assert_true(strstr(e.msg, "at byte") != NULL);
	}
	/* nesting: at the limit fine, one more refused */
	memset(deep, '[', DV_JSON_MAX_DEPTH);
	memset(deep + DV_JSON_MAX_DEPTH, ']', DV_JSON_MAX_DEPTH);
	assert_int_equal(dv_json_parse(deep, 2 * DV_JSON_MAX_DEPTH, &v, &e), 0);
	dv_json_free(&v);
	memset(deep, '[', DV_JSON_MAX_DEPTH + 1);
	memset(deep + DV_JSON_MAX_DEPTH + 1, ']', DV_JSON_MAX_DEPTH + 1);
	assert_int_equal(dv_json_parse(deep, 2 * DV_JSON_MAX_DEPTH + 2, &v, &e), -1);
	assert_non_null(strstr(e.msg, "nested too deep"));
	/* a huge number in range is fine, tiny ones underflow quietly */
	assert_int_equal(parse("[1e308,1e-400]", &v, &e), 0);
	dv_json_free(&v);
}

/* ---- the round trip ---- */

static const char *fixtures(void)
{
	const char *e = getenv("FIXTURES");

	return e && *e ? e : "tests/fixtures";
}

/* The live comparison of the runs DIR/baseline and DIR/target and its jsonl
 * report in memory. */
static dv_comparison *live_of(const char *dir, const dv_grouping *g, char **text, size_t *len, char **diagnosis)
{
	char b[4096], t[4096];
	dv_comparison_opts co = {.baseline = b, .target = t, .threshold = DV_DEFAULT_THRESHOLD, .grouping = g};
	dv_error err;
	dv_comparison *cmp;
	dv_metrics_opts mo = dv_metrics_opts_default();
	dv_report_opts ro = {.format = DV_REPORT_JSONL, .threshold = DV_DEFAULT_THRESHOLD};
	FILE *out = open_memstream(text, len);
	dv_report *r;

	snprintf(b, sizeof(b), "%s/baseline", dir);
	snprintf(t, sizeof(t), "%s/target", dir);
	cmp = dv_comparison_open(&co, NULL, &err);
	assert_non_null(cmp);
	assert_non_null(dv_comparison_scan_start(cmp, &mo, 2, -1));
	dv_comparison_scan_wait(cmp);
	r = dv_report_new(out, cmp, &ro);
	for (size_t i = 0; i < cmp->npairs; i++)
		dv_report_pair(r, i);
	*diagnosis = dv_diagnose(cmp);
	dv_report_finish(r, *diagnosis);
	dv_report_free(r);
	fclose(out);
	return cmp;
}

static dv_comparison *live(char **text, size_t *len, char **diagnosis)
{
	return live_of(examples(), NULL, text, len, diagnosis);
}

static void same(const dv_comparison *a, const dv_comparison *b)
{
	char **wa, **wb;
	size_t na, nb;
	dv_gate ga, gb;

	assert_int_equal(a->npairs, b->npairs);
	assert_int_equal(a->nphases, b->nphases);
	for (size_t i = 0; i < a->npairs; i++) {
		assert_int_equal(dv_comparison_verdict(a, i, NULL), dv_comparison_verdict(b, i, NULL));
		assert_string_equal(a->pairs[i].name, b->pairs[i].name);
		assert_int_equal(a->pairs[i].kind, b->pairs[i].kind);
		assert_int_equal(a->pairs[i].layer, b->pairs[i].layer);
		if (a->pairs[i].targ)
			assert_string_equal(dv_dumpfile_relpath(a->pairs[i].targ), dv_dumpfile_relpath(b->pairs[i].targ));
		assert_int_equal(a->pairs[i].result->status, b->pairs[i].result->status);
		assert_string_equal(a->pairs[i].result->error, b->pairs[i].result->error);
		assert_int_equal(dv_pair_replica_mismatch(&a->pairs[i]), dv_pair_replica_mismatch(&b->pairs[i]));
		assert_int_equal(a->pairs[i].logical != NULL, b->pairs[i].logical != NULL);
		if (a->pairs[i].logical) {
			dv_logical_result xs, ys;
			const dv_logical_result *x = dv_pair_logical(&a->pairs[i], &xs),
						*y = dv_pair_logical(&b->pairs[i], &ys);

			assert_int_equal(x->nchecks, y->nchecks);
			assert_int_equal(x->nseqs, y->nseqs);
			assert_int_equal(x->has_shard, y->has_shard);
			if (x->plan)
				assert_string_equal(x->plan, y->plan);
			for (size_t k = 0; k < x->nseqs; k++) {
				assert_string_equal(x->seqs[k].id, y->seqs[k].id);
				assert_int_equal(x->seqs[k].passed, y->seqs[k].passed);
			}
			if (x->has_shard) {
				assert_string_equal(dv_dumpfile_relpath(x->shard_file), dv_dumpfile_relpath(y->shard_file));
				assert_int_equal(x->shard_rank, y->shard_rank);
				assert_int_equal(x->shard_ndim, y->shard_ndim);
				assert_memory_equal(x->shard_coord, y->shard_coord, (size_t)x->shard_ndim * sizeof(int64_t));
			}
			/* a plain pair's shared record reads whole as the report kept it */
			assert_int_equal(x->aligned_ndim, y->aligned_ndim);
			assert_memory_equal(x->aligned_shape, y->aligned_shape, (size_t)x->aligned_ndim * sizeof(int64_t));
			for (int k = 0; k < 2; k++)
				assert_true(x->dims[k] == y->dims[k] || (x->dims[k] && y->dims[k] && !strcmp(x->dims[k], y->dims[k])));
		}
		if (a->pairs[i].result->status == DV_RESULT_COMPARED) {
			assert_true(a->pairs[i].result->rel_diff == b->pairs[i].result->rel_diff ||
				    (isnan(a->pairs[i].result->rel_diff) && isnan(b->pairs[i].result->rel_diff)));
			assert_int_equal(a->pairs[i].result->max_abs_diff_index, b->pairs[i].result->max_abs_diff_index);
		}
	}
	assert_int_equal(dv_first_divergence(a, NULL), dv_first_divergence(b, NULL));
	na = dv_comparison_warnings(a, &wa);
	nb = dv_comparison_warnings(b, &wb);
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++)
		assert_string_equal(wa[i], wb[i]);
	dv_warnings_free(wa, na);
	dv_warnings_free(wb, nb);
	assert_int_equal(dv_comparison_gate(a, NULL, NULL, &ga), dv_comparison_gate(b, NULL, NULL, &gb));
	assert_int_equal(ga.passed, gb.passed);
	assert_int_equal(ga.failed, gb.failed);
	assert_int_equal(ga.errored, gb.errored);
	assert_int_equal(ga.skipped, gb.skipped);
}

static void test_round_trip(void **state)
{
	char *text = NULL, *diag = NULL, b[4096], t[4096];
	size_t len = 0;
	dv_comparison *cmp = live(&text, &len, &diag);
	dv_error err;
	dv_report_data *d;
	dv_report_load_opts o = {.baseline = b, .target = t};

	(void)state;
	/* without the runs */
	d = dv_report_load_buffer("r.jsonl", text, len, NULL, &err);
	if (!d)
		fail_msg("%s", err.msg);
	same(cmp, d->cmp);
	assert_false(d->has_runs);
	assert_true(d->threshold_found);
	assert_true(d->threshold == DV_DEFAULT_THRESHOLD);
	assert_int_equal(d->first_divergence, dv_first_divergence(cmp, NULL));
	assert_string_equal(d->diagnosis, diag);
	dv_report_data_free(d);
	/* with them: the files are the runs' own */
	snprintf(b, sizeof(b), "%s/baseline", examples());
	snprintf(t, sizeof(t), "%s/target", examples());
	d = dv_report_load_buffer("r.jsonl", text, len, &o, &err);
	if (!d)
		fail_msg("%s", err.msg);
	same(cmp, d->cmp);
	assert_true(d->has_runs);
	assert_int_equal(d->missing_files, 0);
	for (size_t i = 0; i < cmp->npairs; i++)
		if (cmp->pairs[i].targ) {
			dv_path_buf x, y;

			assert_string_equal(dv_dumpfile_path(cmp->pairs[i].targ, &x), dv_dumpfile_path(d->cmp->pairs[i].targ, &y));
		}
	dv_report_data_free(d);
	/* runs swapped for others: refused */
	o.baseline = "/";
	assert_null(dv_report_load_buffer("r.jsonl", text, len, &o, &err));
	assert_non_null(strstr(err.msg, "not the report's baseline run"));
	/* a threshold change re-judges from the metrics, as live */
	d = dv_report_load_buffer("r.jsonl", text, len, NULL, &err);
	assert_non_null(d);
	dv_comparison_set_threshold(d->cmp, 0.5);
	dv_comparison_set_threshold(cmp, 0.5);
	same(cmp, d->cmp);
	dv_report_data_free(d);
	dv_comparison_free(cmp);
	free(text);
	free(diag);
}

/* The round trip on the fixtures: unreadable files, shape mismatches,
 * one-sided files (tui), logical tensors with replicated checks and shards
 * (xtopo), per-sequence metrics (tokalign, smart aligner), plain pairs
 * with dims (plain). */
static void round_trip_dir(const char *dir, const dv_grouping *g)
{
	char *text = NULL, *diag = NULL;
	size_t len = 0;
	dv_comparison *cmp = live_of(dir, g, &text, &len, &diag);
	dv_error err;
	dv_report_data *d = dv_report_load_buffer("r.jsonl", text, len, NULL, &err);

	if (!d)
		fail_msg("%s: %s", dir, err.msg);
	same(cmp, d->cmp);
	assert_string_equal(d->diagnosis, diag);
	dv_report_data_free(d);
	dv_comparison_free(cmp);
	free(text);
	free(diag);
}

static void test_round_trip_fixtures(void **state)
{
	static const char *const xtopo[] = {"tp2_concat", "tp2_partial", "replicated_fail", "cp2_zigzag_thd", "mixed"};
	dv_grouping smart = {.preset = -1, .token_aligner = DV_TOKEN_ALIGNER_SMART};
	char dir[4096];

	(void)state;
	snprintf(dir, sizeof(dir), "%s/tui", fixtures());
	round_trip_dir(dir, NULL);
	for (size_t i = 0; i < sizeof(xtopo) / sizeof(xtopo[0]); i++) {
		snprintf(dir, sizeof(dir), "%s/xtopo/%s", fixtures(), xtopo[i]);
		round_trip_dir(dir, NULL);
	}
	snprintf(dir, sizeof(dir), "%s/tokalign/thd", fixtures());
	round_trip_dir(dir, &smart);
	/* plain pairs with dims: a shared logical record each */
	snprintf(dir, sizeof(dir), "%s/plain", fixtures());
	round_trip_dir(dir, NULL);
}

/* Replaces the first occurrence of from by to in a copy of s. */
static char *edit(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	char *o;

	assert_non_null(at);
	o = malloc(strlen(s) - strlen(from) + strlen(to) + 1);
	memcpy(o, s, (size_t)(at - s));
	strcpy(o + (at - s), to);
	strcat(o, at + strlen(from));
	return o;
}

static void expect_bad(const char *text, size_t len, const char *what)
{
	dv_error err;
	dv_report_data *d = dv_report_load_buffer("r.jsonl", text, len, NULL, &err);

	if (d)
		fail_msg("accepted (%s)", what);
	if (!strstr(err.msg, what))
		fail_msg("'%s' does not say '%s'", err.msg, what);
	assert_int_equal(strncmp(err.msg, "r.jsonl:", 8), 0);
}

static void test_hostile_reports(void **state)
{
	char *text = NULL, *diag = NULL, *t;
	size_t len = 0;
	dv_comparison *cmp = live(&text, &len, &diag);
	const char *nl = strchr(text, '\n');

	(void)state;
	/* truncated: a line cut short, the summary missing */
	expect_bad(text, (size_t)(nl - text) / 2, "r.jsonl:1: not JSON");
	expect_bad(text, (size_t)(nl - text) + 1, "no summary record");
	/* wrong types, unknown records, huge numbers, deep nesting */
	t = edit(text, "\"rel_diff\":", "\"rel_diff\":true,\"x\":");
	expect_bad(t, strlen(t), "r.jsonl:1: 'rel_diff' is not a number");
	free(t);
	t = edit(text, "\"type\":\"pair\"", "\"type\":\"pear\"");
	expect_bad(t, strlen(t), "unknown record type 'pear'");
	free(t);
	t = edit(text, "\"rank\":", "\"rank\":1e999,\"y\":");
	expect_bad(t, strlen(t), "number out of range");
	free(t);
	t = edit(text, "\"step\":", "\"step\":12345678901234567890,\"y\":");
	expect_bad(t, strlen(t), "'step' is not an integer");
	free(t);
	t = edit(text, "\"baseline_shape\":", "\"z\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],"
				       "\"baseline_shape\":");
	expect_bad(t, strlen(t), "nested too deep");
	free(t);
	t = edit(text, "\"baseline_dtype\":\"", "\"baseline_dtype\":\"complex_float");
	expect_bad(t, strlen(t), "unknown dtype");
	free(t);
	t = edit(text, "{\"type\":\"summary\"", "\n{\"type\":\"summary\"");
	expect_bad(t, strlen(t), "an empty line");
	free(t);
	/* a count a result cannot keep (48 bits, metrics.h) */
	t = edit(text, "\"nan\":", "\"nan\":140737488355328,\"v\":");
	expect_bad(t, strlen(t), "nan or inf count out of range");
	free(t);
	/* a summary that disagrees with its records */
	t = edit(text, "\"failed\":", "\"failed\":1000,\"q\":");
	expect_bad(t, strlen(t), "the summary counts");
	free(t);
	t = edit(text, "{\"type\":\"summary\"", "{\"type\":\"summary\",\"first_divergence\":null,\"w\":0");
	/* the last key of a name counts: the original first_divergence stays */
	dv_error err;
	dv_report_data *d = dv_report_load_buffer("r.jsonl", t, strlen(t), NULL, &err);
	assert_non_null(d);
	dv_report_data_free(d);
	free(t);
	/* a relative path leaving the run */
	t = edit(text, "\"baseline_files\":[\"", "\"baseline_files\":[\"../");
	expect_bad(t, strlen(t), "not a relative path inside the run");
	free(t);
	dv_comparison_free(cmp);
	free(text);
	free(diag);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_values),
		cmocka_unit_test(test_json_raw),
		cmocka_unit_test(test_read_all),
		cmocka_unit_test(test_json_hostile),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_round_trip_fixtures),
		cmocka_unit_test(test_hostile_reports),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
