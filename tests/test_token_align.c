/* Token alignment core (include/dumpview/token_align.h): cu_seqlens parsing,
 * framework and THD/BSHD detection, per-sequence token lists across prefill
 * and decode steps, position and length problems confined to their sequence
 * or step, exact / prefix / rid matching, padding, zero matches, the plan and
 * its per-sequence ranges, and the concat_steps helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dumpview/dims.h"
#include "dumpview/dump.h"
#include "dumpview/token_align.h"

/* ---- building sides ---------------------------------------------------------- */

static void set_ints(dv_ta_ints *x, const int64_t *v, size_t n, int rows)
{
	free(x->v);
	x->present = true;
	x->n = n;
	x->v = malloc((n ? n : 1) * sizeof(*x->v));
	assert_non_null(x->v);
	if (n)
		memcpy(x->v, v, n * sizeof(*v));
	if (rows) {
		x->ndim = 2;
		x->shape[0] = rows;
		x->shape[1] = (int64_t)n / rows;
	} else {
		x->ndim = 1;
		x->shape[0] = (int64_t)n;
	}
}

#define N(...) (sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t))
#define INTS(dst, ...) set_ints(&(dst), (int64_t[]){__VA_ARGS__}, N(__VA_ARGS__), 0)
#define INTS2(dst, rows, ...) set_ints(&(dst), (int64_t[]){__VA_ARGS__}, N(__VA_ARGS__), rows)

static dv_ta_step *step(dv_ta_side *s, int64_t n)
{
	dv_ta_step *st = dv_ta_side_step(s, n);

	assert_non_null(st);
	return st;
}

static void set_rids(dv_ta_step *st, size_t n, ...)
{
	va_list ap;

	st->has_rids = true;
	st->nrids = n;
	st->rids = calloc(n ? n : 1, sizeof(*st->rids));
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		st->rids[i] = strdup(va_arg(ap, const char *));
	va_end(ap);
}

/* SGLang: prefill of a [10 11 12], b [20 21] with rids, then two decode
 * steps (one token each); positions restart per request. */
static void sglang_run(dv_ta_side *s, bool rids)
{
	dv_ta_step *st;

	memset(s, 0, sizeof(*s));
	st = step(s, 0);
	INTS(st->input_ids, 10, 11, 12, 20, 21);
	INTS(st->positions, 0, 1, 2, 0, 1);
	INTS(st->seq_lens, 3, 2);
	if (rids)
		set_rids(st, 2, "a", "b");
	st = step(s, 1);
	INTS(st->input_ids, 13, 22);
	INTS(st->positions, 3, 2);
	INTS(st->seq_lens, 1, 1);
	if (rids)
		set_rids(st, 2, "a", "b");
	st = step(s, 2);
	INTS(st->input_ids, 14, 23);
	INTS(st->positions, 4, 3);
	INTS(st->seq_lens, 1, 1);
	if (rids)
		set_rids(st, 2, "a", "b");
}

/* Megatron THD: b [20..23], a [10..14], c [30 31], padding [0 0 0]. */
static void megatron_thd(dv_ta_side *s)
{
	dv_ta_step *st;

	memset(s, 0, sizeof(*s));
	st = step(s, 7);
	INTS2(st->input_ids, 1, 20, 21, 22, 23, 10, 11, 12, 13, 14, 30, 31, 0, 0, 0);
	INTS(st->cu_seqlens_q, 0, 4, 9, 11, 14);
	st->qkv_format = strdup("thd");
}

static void build_ok(const dv_ta_side *side, dv_ta_seqs *q)
{
	const char *why = NULL;
	dv_error err = {""};
	int rc = dv_ta_build_seqs(side, q, &why, &err);

	if (rc != 0)
		fail_msg("build: rc %d why %s err %s", rc, why ? why : "-", err.msg);
}

static void assert_ids(const dv_ta_seq *s, size_t n, const int64_t *want)
{
	assert_int_equal(s->ntokens, n);
	for (size_t i = 0; i < n; i++)
		if (s->ids[i] != want[i])
			fail_msg("token %zu: id %lld, want %lld", i, (long long)s->ids[i], (long long)want[i]);
}
#define IDS(s, ...) assert_ids((s), N(__VA_ARGS__), (int64_t[]){__VA_ARGS__})

static void align_ok(const dv_ta_side *b, const dv_ta_side *t, dv_ta_result *r, dv_ta_seqs *qb, dv_ta_seqs *qt)
{
	const char *why = NULL;
	int which = -1;
	dv_error err = {""};
	int rc = dv_ta_align(b, t, r, qb, qt, &why, &which, &err);

	if (rc != 0)
		fail_msg("align: rc %d side %d why %s err %s", rc, which, why ? why : "-", err.msg);
}

/* ---- tests ----------------------------------------------------------------------- */

static void test_cu_seqlens(void **state)
{
	int64_t *c = NULL;
	size_t n = 99;
	dv_error err = {""};

	(void)state;
	assert_int_equal(dv_ta_cu_seqlens_counts((int64_t[]){0, 8, 12}, 3, &c, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(c[0], 8);
	assert_int_equal(c[1], 4);
	free(c);
	assert_int_equal(dv_ta_cu_seqlens_counts((int64_t[]){0, 5, 5, 9}, 4, &c, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(c[1], 0);
	free(c);
	assert_int_equal(dv_ta_cu_seqlens_counts((int64_t[]){0}, 1, &c, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_null(c);
	assert_int_equal(dv_ta_cu_seqlens_counts(NULL, 0, &c, &n, &err), -1);
	assert_non_null(strstr(err.msg, "empty"));
	assert_int_equal(dv_ta_cu_seqlens_counts((int64_t[]){2, 8}, 2, &c, &n, &err), -1);
	assert_non_null(strstr(err.msg, "starts at 2"));
	assert_int_equal(dv_ta_cu_seqlens_counts((int64_t[]){0, 8, 6}, 3, &c, &n, &err), -1);
	assert_non_null(strstr(err.msg, "decreases at 2"));
}

static void test_framework(void **state)
{
	dv_ta_side s = {0};

	(void)state;
	INTS(step(&s, 0)->input_ids, 1, 2);
	assert_int_equal(dv_ta_detect_framework(&s), DV_TA_FW_UNKNOWN);
	s.meta_megatron = true;
	assert_int_equal(dv_ta_detect_framework(&s), DV_TA_FW_MEGATRON);
	s.meta_sglang = true; /* sglang's key wins the last resort */
	assert_int_equal(dv_ta_detect_framework(&s), DV_TA_FW_SGLANG);
	s.meta_sglang = false;
	step(&s, 1)->qkv_format = strdup("thd");
	s.meta_sglang = true; /* an aux name decides before any meta key */
	assert_int_equal(dv_ta_detect_framework(&s), DV_TA_FW_MEGATRON);
	INTS(step(&s, 3)->positions, 0, 1);
	assert_int_equal(dv_ta_detect_framework(&s), DV_TA_FW_SGLANG); /* sglang names first */
	dv_ta_side_free(&s);
	INTS(step(&s, 0)->cu_seqlens_kv, 0, 2);
	assert_int_equal(dv_ta_detect_framework(&s), DV_TA_FW_MEGATRON);
	dv_ta_side_free(&s);
	set_rids(step(&s, 0), 1, "r");
	assert_int_equal(dv_ta_detect_framework(&s), DV_TA_FW_SGLANG);
	dv_ta_side_free(&s);
}

static void test_layout(void **state)
{
	dv_ta_side s = {0};
	bool fb = false;

	(void)state;
	/* SGLang is always flat, even with a 2-d input_ids */
	INTS2(step(&s, 0)->input_ids, 2, 1, 2, 3, 4);
	assert_int_equal(dv_ta_detect_layout(&s, DV_TA_FW_SGLANG, &fb), DV_TA_THD);
	assert_false(fb);
	/* Megatron, 2-d input_ids and no qkv_format: BSHD */
	assert_int_equal(dv_ta_detect_layout(&s, DV_TA_FW_MEGATRON, &fb), DV_TA_BSHD);
	assert_false(fb);
	/* qkv_format is checked first: miles' THD input_ids is [1, T] */
	step(&s, 0)->qkv_format = strdup("thd");
	assert_int_equal(dv_ta_detect_layout(&s, DV_TA_FW_MEGATRON, &fb), DV_TA_THD);
	dv_ta_side_free(&s);
	/* any case of "bshd" inside the string */
	step(&s, 0)->qkv_format = strdup("xBsHd");
	assert_int_equal(dv_ta_detect_layout(&s, DV_TA_FW_MEGATRON, &fb), DV_TA_BSHD);
	dv_ta_side_free(&s);
	/* the lowest step that has either decides, whatever the array order */
	step(&s, 9)->qkv_format = strdup("bshd");
	INTS(step(&s, 5)->input_ids, 1, 2);                 /* 1-d: decides nothing */
	step(&s, 4)->qkv_format = strdup("sbhd_thd");       /* no "bshd": THD */
	assert_int_equal(dv_ta_detect_layout(&s, DV_TA_FW_MEGATRON, &fb), DV_TA_THD);
	assert_false(fb);
	free(s.steps[2].qkv_format);
	s.steps[2].qkv_format = NULL;
	assert_int_equal(dv_ta_detect_layout(&s, DV_TA_FW_MEGATRON, &fb), DV_TA_BSHD);
	dv_ta_side_free(&s);
	/* nothing decides: THD, fallback */
	INTS(step(&s, 0)->input_ids, 1, 2);
	assert_int_equal(dv_ta_detect_layout(&s, DV_TA_FW_MEGATRON, &fb), DV_TA_THD);
	assert_true(fb);
	dv_ta_side_free(&s);
}

static void test_build_sglang_steps(void **state)
{
	dv_ta_side s;
	dv_ta_seqs q;

	(void)state;
	sglang_run(&s, true);
	build_ok(&s, &q);
	assert_int_equal(q.framework, DV_TA_FW_SGLANG);
	assert_int_equal(q.layout, DV_TA_THD);
	assert_int_equal(q.nerrors, 0);
	assert_int_equal(q.nseqs, 2);
	assert_string_equal(q.seqs[0].rid, "a");
	IDS(&q.seqs[0], 10, 11, 12, 13, 14);
	IDS(&q.seqs[1], 20, 21, 22, 23);
	/* locators: (step, index in step) */
	assert_int_equal(q.seqs[0].locs[2].step, 0);
	assert_int_equal(q.seqs[0].locs[2].index, 2);
	assert_int_equal(q.seqs[0].locs[3].step, 1);
	assert_int_equal(q.seqs[0].locs[3].index, 0);
	assert_int_equal(q.seqs[1].locs[0].index, 3);
	assert_int_equal(q.seqs[1].locs[3].step, 2);
	assert_int_equal(q.seqs[1].locs[3].index, 1);
	for (size_t i = 0; i < q.seqs[1].ntokens; i++)
		assert_int_equal(q.seqs[1].positions[i], (int64_t)i);
	dv_ta_seqs_free(&q);
	dv_ta_side_free(&s);
}

static void test_build_sglang_without_rids(void **state)
{
	dv_ta_side s;
	dv_ta_seqs q;

	(void)state;
	/* keyed by (step, index): decode slices are sequences of their own whose
	 * positions do not start at 0, each an error; the prefill ones stay */
	sglang_run(&s, false);
	build_ok(&s, &q);
	assert_int_equal(q.nseqs, 2);
	assert_null(q.seqs[0].rid);
	IDS(&q.seqs[0], 10, 11, 12);
	IDS(&q.seqs[1], 20, 21);
	assert_int_equal(q.nerrors, 4);
	assert_non_null(strstr(q.errors[0], "sequence (step 1, index 0): token 0 (step 1, index 0) has position 3, expected 0"));
	dv_ta_seqs_free(&q);
	dv_ta_side_free(&s);
}

static void test_build_megatron_thd(void **state)
{
	dv_ta_side s;
	dv_ta_seqs q;

	(void)state;
	megatron_thd(&s);
	build_ok(&s, &q);
	assert_int_equal(q.framework, DV_TA_FW_MEGATRON);
	assert_int_equal(q.layout, DV_TA_THD);
	assert_int_equal(q.nseqs, 4);
	IDS(&q.seqs[0], 20, 21, 22, 23);
	IDS(&q.seqs[1], 10, 11, 12, 13, 14);
	IDS(&q.seqs[3], 0, 0, 0);
	assert_int_equal(q.seqs[1].locs[0].step, 7);
	assert_int_equal(q.seqs[1].locs[0].index, 4);
	assert_int_equal(q.seqs[1].first_index, 1);
	assert_false(q.seqs[2].last_in_step);
	assert_true(q.seqs[3].last_in_step);
	/* no position_ids: 0.. per sequence */
	assert_int_equal(q.seqs[2].positions[1], 1);
	dv_ta_seqs_free(&q);
	dv_ta_side_free(&s);
}

static void test_build_megatron_bshd(void **state)
{
	dv_ta_side s = {0};
	dv_ta_seqs q;
	dv_ta_step *st = step(&s, 0);

	(void)state;
	INTS2(st->input_ids, 2, 10, 11, 12, 0, 20, 21, 0, 0);
	st->qkv_format = strdup("bshd");
	build_ok(&s, &q);
	assert_int_equal(q.layout, DV_TA_BSHD);
	assert_int_equal(q.nseqs, 2);
	IDS(&q.seqs[0], 10, 11, 12, 0);
	IDS(&q.seqs[1], 20, 21, 0, 0);
	assert_true(q.seqs[1].bshd_row);
	assert_int_equal(q.seqs[1].locs[1].index, 5); /* row 1, column 1 of [2, 4] */
	assert_int_equal(q.seqs[1].positions[3], 3);
	dv_ta_seqs_free(&q);
	/* a position_ids tensor is used as given: a row not starting at 0 errs */
	INTS2(st->position_ids, 2, 0, 1, 2, 3, 1, 2, 3, 4);
	build_ok(&s, &q);
	assert_int_equal(q.nseqs, 1);
	assert_int_equal(q.nerrors, 1);
	assert_non_null(strstr(q.errors[0], "sequence (step 0, index 1): token 0"));
	dv_ta_seqs_free(&q);
	dv_ta_side_free(&s);
}

static void test_build_unusable(void **state)
{
	dv_ta_side s = {0};
	dv_ta_seqs q;
	const char *why = NULL;
	dv_error err = {""};

	(void)state;
	INTS(step(&s, 0)->cu_seqlens_q, 0, 2);
	assert_int_equal(dv_ta_build_seqs(&s, &q, &why, &err), 1);
	assert_string_equal(why, "aux_tensors_missing");
	dv_ta_side_free(&s);
	/* SGLang needs seq_lens too */
	INTS(step(&s, 0)->input_ids, 1, 2);
	INTS(step(&s, 0)->positions, 0, 1);
	assert_int_equal(dv_ta_build_seqs(&s, &q, &why, &err), 1);
	assert_string_equal(why, "aux_tensors_missing");
	dv_ta_side_free(&s);
	INTS(step(&s, 0)->input_ids, 1, 2);
	assert_int_equal(dv_ta_build_seqs(&s, &q, &why, &err), 1);
	assert_string_equal(why, "framework_detection_failed");
	s.meta_megatron = true;
	build_ok(&s, &q);
	assert_true(q.layout_fallback);
	assert_int_equal(q.nseqs, 1);
	IDS(&q.seqs[0], 1, 2);
	dv_ta_seqs_free(&q);
	dv_ta_side_free(&s);
}

static void test_build_step_problems(void **state)
{
	dv_ta_side s;
	dv_ta_seqs q;
	dv_ta_step *st;

	(void)state;
	/* step 1's seq_lens do not sum to its tokens: the step is left out, so
	 * both requests then skip position 3 and are left out too; step 2 of a
	 * third request still builds */
	sglang_run(&s, true);
	st = dv_ta_side_step(&s, 1);
	INTS(st->seq_lens, 1, 2);
	st = step(&s, 3);
	INTS(st->input_ids, 40, 41);
	INTS(st->positions, 0, 1);
	INTS(st->seq_lens, 2);
	set_rids(st, 1, "c");
	build_ok(&s, &q);
	assert_int_equal(q.nerrors, 3);
	assert_string_equal(q.errors[0], "step 1: seq_lens sum to 3 tokens but input_ids holds 2; its tokens are left out");
	assert_non_null(strstr(q.errors[1], "sequence rid a: token 3 (step 2, index 0) has position 4, expected 3"));
	assert_non_null(strstr(q.errors[2], "sequence rid b:"));
	assert_int_equal(q.nseqs, 1);
	assert_string_equal(q.seqs[0].rid, "c");
	dv_ta_seqs_free(&q);
	dv_ta_side_free(&s);

	/* positions count and rid count mismatches, a missing positions */
	sglang_run(&s, true);
	INTS(dv_ta_side_step(&s, 2)->positions, 4);
	build_ok(&s, &q);
	assert_string_equal(q.errors[0], "step 2: 1 positions for 2 input_ids; its tokens are left out");
	dv_ta_seqs_free(&q);
	dv_ta_side_free(&s);
	sglang_run(&s, true);
	st = dv_ta_side_step(&s, 2);
	free(st->rids[1]);
	st->nrids = 1;
	build_ok(&s, &q);
	assert_string_equal(q.errors[0], "step 2: 1 rids for 2 sequences; its tokens are left out");
	assert_int_equal(q.nseqs, 2); /* both end after step 1, positions fine */
	IDS(&q.seqs[0], 10, 11, 12, 13);
	dv_ta_seqs_free(&q);
	dv_ta_side_free(&s);
	sglang_run(&s, true);
	st = dv_ta_side_step(&s, 2);
	free(st->positions.v);
	memset(&st->positions, 0, sizeof(st->positions));
	build_ok(&s, &q);
	assert_string_equal(q.errors[0], "step 2: no positions; its tokens are left out");
	dv_ta_seqs_free(&q);
	dv_ta_side_free(&s);
	/* lengths that would overflow when summed */
	sglang_run(&s, true);
	INTS(dv_ta_side_step(&s, 0)->seq_lens, INT64_MAX, 2);
	build_ok(&s, &q);
	assert_non_null(strstr(q.errors[0], "step 0: seq_lens sum to more than "));
	dv_ta_seqs_free(&q);
	dv_ta_side_free(&s);
	/* a BSHD input_ids whose shape does not hold its ids */
	memset(&s, 0, sizeof(s));
	st = step(&s, 0);
	INTS2(st->input_ids, 2, 1, 2, 3, 4);
	st->input_ids.shape[1] = 3;
	st->qkv_format = strdup("bshd");
	build_ok(&s, &q);
	assert_int_equal(q.nseqs, 0);
	assert_string_equal(q.errors[0], "step 0: input_ids shape [2, 3] does not hold its 4 ids; its tokens are left out");
	dv_ta_seqs_free(&q);
	dv_ta_side_free(&s);
	/* a bad cu_seqlens_q */
	megatron_thd(&s);
	INTS(s.steps[0].cu_seqlens_q, 0, 4, 3, 14);
	build_ok(&s, &q);
	assert_int_equal(q.nseqs, 0);
	assert_string_equal(q.errors[0], "step 7: cu_seqlens_q: cu_seqlens decreases at 2 (3 after 4); its tokens are left out");
	dv_ta_seqs_free(&q);
	dv_ta_side_free(&s);
}

static void test_match_exact_prefix_padding(void **state)
{
	dv_ta_side b, t;
	dv_ta_seqs qb, qt;
	dv_ta_result r;

	(void)state;
	/* baseline SGLang a [10..14], b [20..23]; target Megatron b, a, c, pad */
	sglang_run(&b, true);
	megatron_thd(&t);
	align_ok(&b, &t, &r, &qb, &qt);
	assert_false(r.by_rid);
	assert_int_equal(r.nmatched, 2);
	/* target order: (7,0) b then (7,1) a; ids are the baseline's rids */
	assert_string_equal(r.matched[0].id, "b");
	assert_int_equal(r.matched[0].tokens, 4);
	assert_int_equal(r.matched[0].start, 0);
	assert_int_equal(r.matched[0].end, 4);
	assert_string_equal(r.matched[1].id, "a");
	assert_int_equal(r.matched[1].start, 4);
	assert_int_equal(r.matched[1].end, 9);
	assert_int_equal(r.ntokens, 9);
	/* plan: baseline b is (0,3) (0,4) (1,1) (2,1); target (7,0..3) */
	assert_int_equal(r.plan[0][0].step, 0);
	assert_int_equal(r.plan[0][0].index, 3);
	assert_int_equal(r.plan[0][2].step, 1);
	assert_int_equal(r.plan[0][2].index, 1);
	assert_int_equal(r.plan[0][3].step, 2);
	assert_int_equal(r.plan[0][4].index, 0); /* a starts at (0, 0) */
	assert_int_equal(r.plan[1][4].step, 7);
	assert_int_equal(r.plan[1][4].index, 4);
	assert_int_equal(r.plan[1][8].index, 8);
	/* c is unmatched (index 2 on the target), the zero tail is padding */
	assert_int_equal(r.nunmatched_target, 1);
	assert_string_equal(r.unmatched_target[0].id, "2");
	assert_int_equal(r.unmatched_target[0].tokens, 2);
	assert_int_equal(r.nunmatched_baseline, 0);
	assert_int_equal(r.padding_tokens, 3);
	assert_int_equal(r.padding_sequences, 1);
	assert_int_equal(r.nerrors, 0);
	dv_ta_result_free(&r);
	dv_ta_seqs_free(&qb);
	dv_ta_seqs_free(&qt);

	/* a non-uniform tail segment is an unmatched sequence, not padding */
	t.steps[0].input_ids.v[13] = 5;
	align_ok(&b, &t, &r, NULL, NULL);
	assert_int_equal(r.padding_tokens, 0);
	assert_int_equal(r.nunmatched_target, 2);
	assert_string_equal(r.unmatched_target[1].id, "3");
	assert_int_equal(r.unmatched_target[1].tokens, 3);
	dv_ta_result_free(&r);

	/* a shorter target: prefix match, the rest is baseline-only */
	INTS2(t.steps[0].input_ids, 1, 20, 21, 10, 11, 12, 13, 14, 30, 31, 0, 0, 0);
	INTS(t.steps[0].cu_seqlens_q, 0, 2, 7, 9, 12);
	align_ok(&b, &t, &r, NULL, NULL);
	assert_string_equal(r.matched[0].id, "b");
	assert_int_equal(r.matched[0].tokens, 2);
	assert_int_equal(r.matched[0].baseline_only_tokens, 2);
	assert_int_equal(r.matched[0].target_only_tokens, 0);
	assert_int_equal(r.ntokens, 7);
	dv_ta_result_free(&r);
	dv_ta_side_free(&b);
	dv_ta_side_free(&t);
}

static void test_match_order(void **state)
{
	dv_ta_side b = {0}, t = {0};
	dv_ta_result r;
	dv_ta_step *st;

	(void)state;
	/* baseline (Megatron, insertion order): [1 2 3], [1 2], [1 2 3 4], [1 2 9] */
	st = step(&b, 0);
	INTS(st->input_ids, 1, 2, 3, 1, 2, 1, 2, 3, 4, 1, 2, 9);
	INTS(st->cu_seqlens_q, 0, 3, 5, 9, 12);
	/* target: [1 2] (exact: the 2nd baseline, not the longer prefixes),
	 * [1 2 3 4 5] (no exact: longest agreeing prefix, the 3rd: 4 tokens),
	 * [1 2 3] (exact: the 1st), [1 2 7] (the 4th disagrees at 9: unmatched) */
	st = step(&t, 0);
	INTS(st->input_ids, 1, 2, 1, 2, 3, 4, 5, 1, 2, 3, 1, 2, 7);
	INTS(st->cu_seqlens_q, 0, 2, 7, 10, 13);
	align_ok(&b, &t, &r, NULL, NULL);
	assert_int_equal(r.nmatched, 3);
	assert_int_equal(r.matched[0].base_seq, 1);
	assert_int_equal(r.matched[1].base_seq, 2);
	assert_int_equal(r.matched[1].tokens, 4);
	assert_int_equal(r.matched[1].target_only_tokens, 1);
	assert_int_equal(r.matched[2].base_seq, 0);
	assert_string_equal(r.matched[2].id, "2");
	assert_int_equal(r.nunmatched_target, 1);
	assert_string_equal(r.unmatched_target[0].id, "3");
	assert_int_equal(r.nunmatched_baseline, 1);
	assert_string_equal(r.unmatched_baseline[0].id, "3");
	assert_int_equal(r.unmatched_baseline[0].tokens, 3);
	assert_int_equal(r.ntokens, 2 + 4 + 3);
	assert_int_equal(r.padding_tokens, 0); /* [1 2 7] is not all one id */
	dv_ta_result_free(&r);
	/* ties: two baselines agreeing on the same prefix length: the first */
	INTS(b.steps[0].input_ids, 5, 6, 7, 5, 6, 8);
	INTS(b.steps[0].cu_seqlens_q, 0, 3, 6);
	INTS(t.steps[0].input_ids, 5, 6);
	INTS(t.steps[0].cu_seqlens_q, 0, 2);
	align_ok(&b, &t, &r, NULL, NULL);
	assert_int_equal(r.nmatched, 1);
	assert_int_equal(r.matched[0].base_seq, 0);
	dv_ta_result_free(&r);
	dv_ta_side_free(&b);
	dv_ta_side_free(&t);
}

static void test_match_rids(void **state)
{
	dv_ta_side b, t;
	dv_ta_result r;
	dv_ta_step *st;

	(void)state;
	/* both sides keyed by rid: the target's steps batch them differently,
	 * rid "b" carries other token ids (an error for b alone), "c" is
	 * target-only, baseline "a" pairs by rid */
	sglang_run(&b, true);
	memset(&t, 0, sizeof(t));
	st = step(&t, 0);
	INTS(st->input_ids, 20, 21, 99, 10, 11, 12, 13, 14, 30);
	INTS(st->positions, 0, 1, 2, 0, 1, 2, 3, 4, 0);
	INTS(st->seq_lens, 3, 5, 1);
	set_rids(st, 3, "b", "a", "c");
	align_ok(&b, &t, &r, NULL, NULL);
	assert_true(r.by_rid);
	assert_int_equal(r.nmatched, 2);
	/* target key order: rid strings */
	assert_string_equal(r.matched[0].id, "a");
	assert_int_equal(r.matched[0].tokens, 5);
	assert_int_equal(r.matched[0].start, 0);
	assert_int_equal(r.matched[0].end, 5);
	assert_string_equal(r.matched[1].id, "b");
	assert_true(r.matched[1].ids_disagree);
	assert_int_equal(r.matched[1].tokens, 0);
	assert_int_equal(r.matched[1].baseline_only_tokens, 4);
	assert_int_equal(r.matched[1].target_only_tokens, 3);
	assert_int_equal(r.matched[1].start, 5);
	assert_int_equal(r.matched[1].end, 5);
	assert_int_equal(r.ntokens, 5);
	assert_int_equal(r.nerrors, 1);
	assert_string_equal(r.errors[0], "sequence b: token ids differ at token 2 (baseline 22, target 99); not compared");
	assert_int_equal(r.nunmatched_target, 1);
	assert_string_equal(r.unmatched_target[0].id, "c");
	assert_int_equal(r.nunmatched_baseline, 0);
	assert_int_equal(r.plan[1][0].index, 3);
	dv_ta_result_free(&r);
	dv_ta_side_free(&t);

	/* build errors are carried, prefixed by side */
	megatron_thd(&t);
	INTS(t.steps[0].cu_seqlens_q, 0, 4);
	align_ok(&b, &t, &r, NULL, NULL);
	assert_false(r.by_rid);
	assert_int_equal(r.nmatched, 0);
	assert_int_equal(r.nerrors, 1);
	assert_non_null(strstr(r.errors[0], "target: step 7: cu_seqlens_q lengths sum to 4 tokens but input_ids holds 14"));
	dv_ta_result_free(&r);
	dv_ta_side_free(&b);
	dv_ta_side_free(&t);
}

static void test_zero_matches(void **state)
{
	dv_ta_side b, t = {0};
	dv_ta_result r;
	dv_ta_step *st;

	(void)state;
	sglang_run(&b, true);
	st = step(&t, 0);
	INTS2(st->input_ids, 1, 50, 51, 52, 60);
	INTS(st->cu_seqlens_q, 0, 3, 4);
	st->qkv_format = strdup("thd");
	align_ok(&b, &t, &r, NULL, NULL);
	assert_int_equal(r.nmatched, 0);
	assert_int_equal(r.ntokens, 0);
	assert_int_equal(r.nunmatched_baseline, 2);
	assert_string_equal(r.unmatched_baseline[0].id, "a");
	assert_int_equal(r.unmatched_baseline[0].tokens, 5);
	assert_string_equal(r.unmatched_baseline[1].id, "b");
	/* the one-token tail [60] is all one id: padding */
	assert_int_equal(r.nunmatched_target, 1);
	assert_int_equal(r.unmatched_target[0].tokens, 3);
	assert_int_equal(r.padding_tokens, 1);
	assert_int_equal(r.padding_sequences, 1);
	dv_ta_result_free(&r);
	dv_ta_side_free(&b);
	dv_ta_side_free(&t);
}

static void test_bshd_row_padding(void **state)
{
	dv_ta_side b, t = {0};
	dv_ta_result r;
	dv_ta_step *st;

	(void)state;
	sglang_run(&b, true);
	st = step(&t, 0);
	/* rows: a + one extra token + pad, b + pad; [2, 7] */
	INTS2(st->input_ids, 2, 10, 11, 12, 13, 14, 15, 0, 20, 21, 22, 23, 0, 0, 0);
	st->qkv_format = strdup("bshd");
	align_ok(&b, &t, &r, NULL, NULL);
	assert_int_equal(r.nmatched, 2);
	assert_string_equal(r.matched[0].id, "a");
	assert_int_equal(r.matched[0].tokens, 5);
	assert_int_equal(r.matched[0].target_only_tokens, 2);
	assert_int_equal(r.matched[1].target_only_tokens, 3);
	assert_int_equal(r.plan[1][5].index, 7); /* b's first token: row 1, column 0 */
	assert_int_equal(r.padding_tokens, 1 + 3);
	assert_int_equal(r.padding_sequences, 0);
	dv_ta_result_free(&r);
	dv_ta_side_free(&b);
	dv_ta_side_free(&t);
}

static void test_which_side_unusable(void **state)
{
	dv_ta_side b, t = {0};
	dv_ta_result r;
	const char *why = NULL;
	int which = -1;
	dv_error err = {""};

	(void)state;
	sglang_run(&b, true);
	INTS(step(&t, 0)->positions, 0);
	assert_int_equal(dv_ta_align(&b, &t, &r, NULL, NULL, &why, &which, &err), 1);
	assert_int_equal(which, 1);
	assert_string_equal(why, "aux_tensors_missing");
	assert_int_equal(dv_ta_align(&t, &b, &r, NULL, NULL, &why, &which, &err), 1);
	assert_int_equal(which, 0);
	dv_ta_side_free(&b);
	dv_ta_side_free(&t);
}

static void test_concat_steps(void **state)
{
	dv_error err = {""};
	int64_t xk[3], yk[2];
	const char *cases[][2] = {{"t h", "0"}, {"b s h", "1"}, {"h t", "1"}, {"1 t h", "1"},
				  {"s t", "1"}, {"b h", "0"}};

	(void)state;
	assert_int_equal(dv_ta_concat_token_dim(NULL), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		dv_dims *d = dv_dims_parse(cases[i][0], NULL, &err);

		assert_non_null(d);
		if (dv_ta_concat_token_dim(d) != atoi(cases[i][1]))
			fail_msg("'%s': token dim %d, want %s", cases[i][0], dv_ta_concat_token_dim(d), cases[i][1]);
		dv_dims_free(d);
	}
	/* x steps 5 + 1 + 1 = 7, y 4 + 2 = 6: both cut to 6 */
	assert_int_equal(dv_ta_concat_lengths((int64_t[]){5, 1, 1}, 3, (int64_t[]){4, 2}, 2, xk, yk), 6);
	assert_int_equal(xk[0], 5);
	assert_int_equal(xk[1], 1);
	assert_int_equal(xk[2], 0);
	assert_int_equal(yk[0], 4);
	assert_int_equal(yk[1], 2);
	assert_int_equal(dv_ta_concat_lengths((int64_t[]){2, 2, 2}, 3, (int64_t[]){3, 9}, 2, xk, yk), 6);
	assert_int_equal(yk[0], 3);
	assert_int_equal(yk[1], 3);
}

static void test_aux_names(void **state)
{
	(void)state;
	assert_true(dv_ta_is_aux_name("input_ids"));
	assert_true(dv_ta_is_aux_name("rids"));
	assert_true(dv_ta_is_aux_name("qkv_format"));
	assert_true(dv_ta_is_aux_name("cu_seqlens_kv"));
	assert_false(dv_ta_is_aux_name("attn_output"));
	assert_false(dv_ta_is_aux_name("input_id"));
}

/* ---- the loader, on the torch-made fixture files ---------------------------------- */

static char *fixture(const char *rel)
{
	const char *root = getenv("FIXTURES");
	char *p = NULL;

	if (!root)
		root = "tests/fixtures";
	assert_true(asprintf(&p, "%s/tokalign/thd/%s", root, rel) > 0);
	return p;
}

#define SG(step, idx, name) "baseline/step=" #step "___rank=0___dump_index=" #idx "___name=" name "___recompute_status=disabled.pt"

static dv_dumpfile row(char *path, const char *name, int64_t step, int64_t rank)
{
	dv_dumpfile f = {0};

	f.tags = (dv_file_tag *)path; /* no tags: the block is the path, its own relpath (DV_PREFIX_NONE) */
	f.name = name;
	f.step = step;
	f.rank = rank;
	f.layer = -1;
	return f;
}

static void test_loader(void **state)
{
	char *p[8] = {
		fixture(SG(0, 1, "input_ids")), fixture(SG(0, 5, "rids")), fixture(SG(0, 3, "seq_lens")),
		fixture(SG(0, 2, "positions")),
		fixture("target/step=0___rank=0___dump_index=5___name=qkv_format___recompute_status=disabled.pt"),
		fixture("target/step=0___rank=0___dump_index=3___name=cu_seqlens_q___recompute_status=disabled.pt"),
		fixture("baseline/step=0___rank=0___dump_index=6___name=attn_output___recompute_status=disabled___layer_id=0.pt"),
		fixture(SG(1, 10, "input_ids")),
	};
	dv_dumpfile rows[6];
	dv_ta_side s;
	dv_error err = {""};

	(void)state;
	/* a hidden tensor first (its meta decides meta_sglang), aux names of
	 * step 0, rank 1 before rank 0 (rank 0 wins), a non-aux name ignored */
	rows[0] = row(p[6], "attn_output", 0, 0);
	rows[1] = row(p[7], "input_ids", 0, 1);   /* rank 1: another step's ids, not read */
	rows[2] = row(p[0], "input_ids", 0, 0);
	rows[3] = row(p[1], "rids", 0, 0);
	rows[4] = row(p[2], "seq_lens", 0, 0);
	rows[5] = row(p[3], "positions", 0, 0);
	if (dv_ta_side_load(rows, 6, &s, &err) < 0)
		fail_msg("load: %s", err.msg);
	assert_true(s.meta_sglang);
	assert_false(s.meta_megatron);
	assert_int_equal(s.nsteps, 1);
	assert_int_equal(s.steps[0].input_ids.n, 12);
	assert_int_equal(s.steps[0].input_ids.v[0], 101);
	assert_int_equal(s.steps[0].input_ids.v[5], 201);
	assert_int_equal(s.steps[0].input_ids.ndim, 1);
	assert_int_equal(s.steps[0].seq_lens.n, 3);
	assert_int_equal(s.steps[0].seq_lens.v[2], 4);
	assert_true(s.steps[0].has_rids);
	assert_int_equal(s.steps[0].nrids, 3);
	assert_string_equal(s.steps[0].rids[1], "req-b");
	assert_int_equal(s.steps[0].positions.v[4], 4);
	assert_false(s.steps[0].cu_seqlens_q.present);
	dv_ta_side_free(&s);

	/* a string and an int32 tensor from the Megatron side */
	rows[0] = row(p[4], "qkv_format", 3, 0);
	rows[1] = row(p[5], "cu_seqlens_q", 3, 0);
	if (dv_ta_side_load(rows, 2, &s, &err) < 0)
		fail_msg("load: %s", err.msg);
	assert_true(s.meta_megatron);
	assert_int_equal(s.steps[0].step, 3);
	assert_string_equal(s.steps[0].qkv_format, "thd");
	assert_int_equal(s.steps[0].cu_seqlens_q.n, 6);
	assert_int_equal(s.steps[0].cu_seqlens_q.v[5], 24);
	dv_ta_side_free(&s);

	/* wrong kinds: each error names the file */
	{
		struct { int file; const char *name; const char *want; } bad[] = {
			{1, "input_ids", "input_ids is a list, not a tensor"},
			{0, "rids", "rids is a tensor, not a list of strings"},
			{0, "qkv_format", "qkv_format is a tensor, not a string"},
			{6, "positions", "positions element 0 is"},
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			rows[0] = row(p[bad[i].file], bad[i].name, 0, 0);
			assert_int_equal(dv_ta_side_load(rows, 1, &s, &err), -1);
			if (!strstr(err.msg, bad[i].want) || strncmp(err.msg, p[bad[i].file], strlen(p[bad[i].file])))
				fail_msg("%s: got '%s'", bad[i].want, err.msg);
			assert_int_equal(s.nsteps, 0);
		}
	}
	{
		char *missing = fixture("baseline/no-such-file.pt");

		rows[0] = row(p[0], "input_ids", 0, 0);
		rows[1] = row(missing, "seq_lens", 0, 0);
		assert_int_equal(dv_ta_side_load(rows, 2, &s, &err), -1);
		assert_non_null(strstr(err.msg, "no-such-file.pt"));
		free(missing);
	}
	for (size_t i = 0; i < 8; i++)
		free(p[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cu_seqlens),
		cmocka_unit_test(test_framework),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_build_sglang_steps),
		cmocka_unit_test(test_build_sglang_without_rids),
		cmocka_unit_test(test_build_megatron_thd),
		cmocka_unit_test(test_build_megatron_bshd),
		cmocka_unit_test(test_build_unusable),
		cmocka_unit_test(test_build_step_problems),
		cmocka_unit_test(test_match_exact_prefix_padding),
		cmocka_unit_test(test_match_order),
		cmocka_unit_test(test_match_rids),
		cmocka_unit_test(test_zero_matches),
		cmocka_unit_test(test_bshd_row_padding),
		cmocka_unit_test(test_which_side_unusable),
		cmocka_unit_test(test_concat_steps),
		cmocka_unit_test(test_aux_names),
		cmocka_unit_test(test_loader),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
