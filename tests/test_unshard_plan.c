/* Cross-topology planning (bundle.h, unshard_plan.h): bundling under each
 * preset, every unsharding operation, their order, the validation errors,
 * the traced plan text, the DP filter and axis alignment. The fixtures' plans are checked by
 * test_xtopo_plan.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dumpview/bundle.h"
#include "dumpview/dims.h"
#include "dumpview/unshard_plan.h"

/* ---- shards ---- */

#define MAX_SHARDS 32

typedef struct step {
	dv_shard s[MAX_SHARDS];
	dv_dims *dims[MAX_SHARDS];
	size_t n;
} step;

/* Adds a shard: dims text (NULL: none), shape, then axis=rank/size pairs
 * ending with -1. */
static void add(step *st, const char *dims, int ndim, const int64_t *shape, ...)
{
	dv_shard *s = &st->s[st->n];
	dv_error err = {""};
	va_list ap;
	int a;

	memset(s, 0, sizeof(*s));
	if (dims) {
		st->dims[st->n] = dv_dims_parse(dims, NULL, &err);
		if (!st->dims[st->n])
			fail_msg("'%s': %s", dims, err.msg);
	}
	s->dims = st->dims[st->n];
	s->ndim = ndim;
	memcpy(s->shape, shape, ndim * sizeof(int64_t));
	s->rank = (int64_t)st->n;
	for (a = 0; a < DV_AXIS_COUNT; a++)
		s->coords.axis[a] = (dv_axis_coord){false, 0, 1};
	va_start(ap, shape);
	while ((a = va_arg(ap, int)) >= 0) {
		int rank = va_arg(ap, int), size = va_arg(ap, int);

		s->coords.axis[a] = (dv_axis_coord){size > 1, rank, size};
	}
	va_end(ap);
	st->n++;
}

static void step_free(step *st)
{
	for (size_t i = 0; i < st->n; i++)
		dv_dims_free(st->dims[i]);
	st->n = 0;
}

static dv_unshard_plan *plan_ok(step *st, bool lens)
{
	dv_unshard_opts o = {.have_seq_lens = lens};
	dv_unshard_plan *p = NULL;
	dv_error err = {""};

	if (dv_unshard_plan_step(st->s, st->n, &o, &p, &err) < 0)
		fail_msg("plan failed: %s", err.msg);
	return p;
}

static void plan_err(step *st, bool lens, const char *want)
{
	dv_unshard_opts o = {.have_seq_lens = lens};
	dv_unshard_plan *p = NULL;
	dv_error err = {""};

	assert_int_equal(dv_unshard_plan_step(st->s, st->n, &o, &p, &err), -1);
	assert_null(p);
	if (!strstr(err.msg, want))
		fail_msg("error '%s' lacks '%s'", err.msg, want);
	step_free(st);
}

static void text_is(const dv_unshard_plan *p, const char *want)
{
	char *t = dv_unshard_plan_text(p, 0);

	assert_non_null(t);
	assert_string_equal(t, want);
	free(t);
}

/* The members of an op as "0 1|2 3". */
static void groups_are(const dv_unshard_op *op, const char *want)
{
	char buf[256];
	size_t len = 0;

	buf[0] = '\0';
	for (size_t g = 0; g < op->nout; g++)
		for (size_t i = op->group_start[g]; i < op->group_start[g + 1]; i++)
			len += snprintf(buf + len, sizeof(buf) - len, "%s%zu",
					i == op->group_start[g] ? (g ? "|" : "") : " ", op->members[i]);
	assert_string_equal(buf, want);
}

static const int64_t s4x64[] = {4, 64}, s4x128[] = {4, 128}, s6x32[] = {6, 32}, s1x4x32[] = {1, 4, 32};

static void test_passthrough(void **state)
{
	step st = {0};
	dv_unshard_plan *p;

	(void)state;
	add(&st, NULL, 2, s4x128, -1);
	p = plan_ok(&st, false);
	assert_int_equal(p->nops, 0);
	assert_int_equal(p->shape[1], 128);
	text_is(p, "step=0: passthrough");
	dv_unshard_plan_free(p);
	step_free(&st);
	/* One file with a modifier on an inactive axis, zigzag included: nothing to do. */
	add(&st, "b s[cp:zigzag] h[tp]", 3, s1x4x32, -1);
	p = plan_ok(&st, false);
	assert_int_equal(p->nops, 0);
	dv_unshard_plan_free(p);
	step_free(&st);
}

static void test_concat(void **state)
{
	step st = {0};
	dv_unshard_plan *p;

	(void)state;
	/* Shards come in any order: the group is in tp-rank order. */
	add(&st, "t h[tp]", 2, s4x64, DV_AXIS_TP, 1, 2, -1);
	add(&st, "t h[tp]", 2, s4x64, DV_AXIS_TP, 0, 2, -1);
	p = plan_ok(&st, false);
	assert_int_equal(p->nops, 1);
	assert_int_equal(p->ops[0].kind, DV_OP_CONCAT);
	assert_int_equal(p->ops[0].axis, DV_AXIS_TP);
	assert_int_equal(p->ops[0].dim, 1);
	assert_string_equal(p->ops[0].dim_name, "h");
	groups_are(&p->ops[0], "1 0");
	assert_int_equal(p->shape[1], 128);
	text_is(p, "step=0: unsharder(tp) 2x[4, 64] -> 1x[4, 128]");
	dv_unshard_plan_free(p);
	step_free(&st);
	/* Fused dim: concat on its internal name. */
	add(&st, "t (num_heads*head_dim)[tp]", 2, s4x64, DV_AXIS_TP, 0, 2, -1);
	add(&st, "t (num_heads*head_dim)[tp]", 2, s4x64, DV_AXIS_TP, 1, 2, -1);
	p = plan_ok(&st, false);
	assert_string_equal(p->ops[0].dim_name, "num_heads___head_dim");
	dv_unshard_plan_free(p);
	step_free(&st);
	/* Shapes that differ off the concat dim. */
	add(&st, "t h[tp]", 2, s4x64, DV_AXIS_TP, 0, 2, -1);
	add(&st, "t h[tp]", 2, s6x32, DV_AXIS_TP, 1, 2, -1);
	plan_err(&st, false, "shard shapes [4, 64] and [6, 32] do not fit");
}

static void test_reduce_sum(void **state)
{
	step st = {0};
	dv_unshard_plan *p;

	(void)state;
	add(&st, "t h[tp:partial]", 2, s4x128, DV_AXIS_TP, 0, 2, -1);
	add(&st, "t h[tp:partial]", 2, s4x128, DV_AXIS_TP, 1, 2, -1);
	p = plan_ok(&st, false);
	assert_int_equal(p->nops, 1);
	assert_int_equal(p->ops[0].kind, DV_OP_REDUCE_SUM);
	assert_string_equal(dv_unshard_op_name(p->ops[0].kind), "reduce_sum");
	text_is(p, "step=0: unsharder(tp) 2x[4, 128] -> 1x[4, 128]");
	dv_unshard_plan_free(p);
	step_free(&st);
	/* Summing needs equal shapes. */
	add(&st, "t h[tp:partial]", 2, s4x128, DV_AXIS_TP, 0, 2, -1);
	add(&st, "t h[tp:partial]", 2, s4x64, DV_AXIS_TP, 1, 2, -1);
	plan_err(&st, false, "reduce_sum on h over tp");
	/* Variable EP token counts: shares of 4 and 6 tokens are not one
	 * tensor's shares; refused, naming the dim and what would be defined. */
	{
		static const int64_t s6x128[] = {6, 128};

		add(&st, "t h[ep:partial]", 2, s4x128, DV_AXIS_EP, 0, 2, -1);
		add(&st, "t h[ep:partial]", 2, s6x128, DV_AXIS_EP, 1, 2, -1);
		plan_err(&st, false, "reduce_sum on h over ep: the partial shares have shapes [4, 128] and [6, 128], "
				     "unequal on dim 0 't': a sum is defined only over shares of one shape "
				     "(unequal token counts need the token dim sharded, e.g. 't[ep]')");
	}
}

static void test_pick(void **state)
{
	step st = {0};
	dv_unshard_plan *p;
	static const int64_t s4x32[] = {4, 32};

	(void)state;
	add(&st, "t h # tp:replicated", 2, s4x128, DV_AXIS_TP, 0, 2, -1);
	add(&st, "t h # tp:replicated", 2, s4x128, DV_AXIS_TP, 1, 2, -1);
	p = plan_ok(&st, false);
	assert_int_equal(p->nops, 1);
	assert_int_equal(p->ops[0].kind, DV_OP_PICK);
	groups_are(&p->ops[0], "0 1");
	text_is(p, "step=0: unsharder(tp) 2x[4, 128] -> 1x[4, 128]");
	dv_unshard_plan_free(p);
	step_free(&st);
	/* tp = 2 x cp = 2, rank = tp + 2 cp: one pick group per cp rank, then the cp concat. */
	for (int r = 0; r < 4; r++)
		add(&st, "t[cp] h # tp:replicated", 2, s4x32, DV_AXIS_TP, r % 2, 2, DV_AXIS_CP, r / 2, 2, -1);
	p = plan_ok(&st, false);
	assert_int_equal(p->nops, 2);
	assert_int_equal(p->ops[0].kind, DV_OP_PICK);
	groups_are(&p->ops[0], "0 1|2 3");
	assert_int_equal(p->ops[1].kind, DV_OP_CONCAT);
	assert_int_equal(p->ops[1].axis, DV_AXIS_CP);
	groups_are(&p->ops[1], "0 1");
	text_is(p, "step=0: unsharder(tp) 4x[4, 32] -> 2x[4, 32], unsharder(cp) 2x[4, 32] -> 1x[8, 32]");
	dv_unshard_plan_free(p);
	step_free(&st);
	/* A pick keeps differing shapes: the check fails later, the plan does not. */
	add(&st, "t h # tp:replicated", 2, s4x128, DV_AXIS_TP, 0, 2, -1);
	add(&st, "t h # tp:replicated", 2, s4x64, DV_AXIS_TP, 1, 2, -1);
	p = plan_ok(&st, false);
	assert_int_equal(p->shape[1], 128);
	dv_unshard_plan_free(p);
	step_free(&st);
	/* recompute_pseudo is replicated whenever active. */
	add(&st, "t h", 2, s4x128, DV_AXIS_RECOMPUTE_PSEUDO, 0, 2, -1);
	add(&st, "t h", 2, s4x128, DV_AXIS_RECOMPUTE_PSEUDO, 1, 2, -1);
	p = plan_ok(&st, false);
	assert_int_equal(p->nops, 1);
	assert_int_equal(p->ops[0].kind, DV_OP_PICK);
	assert_int_equal(p->ops[0].axis, DV_AXIS_RECOMPUTE_PSEUDO);
	dv_unshard_plan_free(p);
	step_free(&st);
}

static void test_zigzag(void **state)
{
	step st = {0};
	dv_unshard_plan *p;

	(void)state;
	add(&st, "b s[cp:zigzag] h", 3, s1x4x32, DV_AXIS_CP, 0, 2, -1);
	add(&st, "b s[cp:zigzag] h", 3, s1x4x32, DV_AXIS_CP, 1, 2, -1);
	p = plan_ok(&st, false);
	assert_int_equal(p->nops, 2);
	assert_int_equal(p->ops[1].kind, DV_OP_ZIGZAG_TO_NATURAL);
	assert_int_equal(p->ops[1].axis_size, 2);
	assert_false(p->ops[1].needs_seq_lens);
	text_is(p, "step=0: unsharder(cp) 2x[1, 4, 32] -> 1x[1, 8, 32], "
		   "reorderer(zigzag_to_natural) 1x[1, 8, 32] -> 1x[1, 8, 32]");
	dv_unshard_plan_free(p);
	step_free(&st);
	/* Packed t: per-sequence concat and reorder, both needing the lengths. */
	add(&st, "t[cp:zigzag] h", 2, s6x32, DV_AXIS_CP, 0, 2, -1);
	add(&st, "t[cp:zigzag] h", 2, s6x32, DV_AXIS_CP, 1, 2, -1);
	p = plan_ok(&st, true);
	assert_int_equal(p->nops, 2);
	assert_int_equal(p->ops[0].kind, DV_OP_CP_THD_CONCAT);
	assert_true(p->ops[0].needs_seq_lens);
	assert_int_equal(p->ops[1].kind, DV_OP_ZIGZAG_TO_NATURAL_THD);
	assert_true(p->ops[1].needs_seq_lens);
	text_is(p, "step=0: unsharder(cp) 2x[6, 32] -> 1x[12, 32], "
		   "reorderer(zigzag_to_natural_thd) 1x[12, 32] -> 1x[12, 32]");
	dv_unshard_plan_free(p);
	plan_err(&st, false, "thd_global_seq_lens is required");
	/* Plain cp on t without lengths is an ordinary concat. */
	add(&st, "t[cp] h", 2, s6x32, DV_AXIS_CP, 0, 2, -1);
	add(&st, "t[cp] h", 2, s6x32, DV_AXIS_CP, 1, 2, -1);
	p = plan_ok(&st, false);
	assert_int_equal(p->nops, 1);
	assert_int_equal(p->ops[0].kind, DV_OP_CONCAT);
	dv_unshard_plan_free(p);
	step_free(&st);
	/* Only s and t can be reordered, even when the zigzag axis is inactive. */
	add(&st, "t h[cp:zigzag,tp]", 2, s4x64, DV_AXIS_TP, 0, 2, -1);
	add(&st, "t h[cp:zigzag,tp]", 2, s4x64, DV_AXIS_TP, 1, 2, -1);
	plan_err(&st, false, "zigzag ordering on dim 'h'");
	/* An inactive zigzag axis plans no reorder. */
	add(&st, "s[cp:zigzag] h[tp]", 2, s4x64, DV_AXIS_TP, 0, 2, -1);
	add(&st, "s[cp:zigzag] h[tp]", 2, s4x64, DV_AXIS_TP, 1, 2, -1);
	p = plan_ok(&st, false);
	assert_int_equal(p->nops, 1);
	dv_unshard_plan_free(p);
	step_free(&st);
}

/* Picks by axis name, then dims left to right with each dim's modifiers
 * right to left, then reorders. */
static void test_order(void **state)
{
	step st = {0};
	dv_unshard_plan *p;
	static const int64_t shape[] = {2, 3, 5};
	static const dv_unshard_op_kind kinds[] = {DV_OP_PICK, DV_OP_PICK, DV_OP_CONCAT, DV_OP_CONCAT,
						   DV_OP_REDUCE_SUM, DV_OP_ZIGZAG_TO_NATURAL};
	static const dv_axis axes[] = {DV_AXIS_EDP, DV_AXIS_ETP, DV_AXIS_SP, DV_AXIS_CP, DV_AXIS_TP, DV_AXIS_CP};

	(void)state;
	for (int r = 0; r < 32; r++)
		add(&st, "s[cp:zigzag,sp] 1 h[tp:partial] # etp:replicated edp:replicated", 3, shape,
		    DV_AXIS_CP, r & 1, 2, DV_AXIS_SP, (r >> 1) & 1, 2, DV_AXIS_TP, (r >> 2) & 1, 2,
		    DV_AXIS_ETP, (r >> 3) & 1, 2, DV_AXIS_EDP, (r >> 4) & 1, 2, -1);
	p = plan_ok(&st, false);
	assert_int_equal(p->nops, 6);
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(p->ops[i].kind, kinds[i]);
		assert_int_equal(p->ops[i].axis, axes[i]);
	}
	/* 32 -> 16 (edp) -> 8 (etp) -> 4 (sp) -> 2 (cp) -> 1 (tp). */
	assert_int_equal(p->ops[0].nout, 16);
	assert_int_equal(p->ops[3].nout, 2);
	assert_int_equal(p->shape[0], 8);
	assert_int_equal(p->shape[2], 5);
	/* sp groups pair shards differing only in sp, in sp order. */
	assert_int_equal(p->ops[2].nin, 8);
	dv_unshard_plan_free(p);
	step_free(&st);
}

static void test_axes(void **state)
{
	step st = {0};
	dv_unshard_plan *p;

	(void)state;
	/* sp follows tp (Megatron): implicitly sharded with tp, no op of its own. */
	for (int r = 0; r < 2; r++)
		add(&st, "t h[tp]", 2, s4x64, DV_AXIS_TP, r, 2, DV_AXIS_SP, r, 2, -1);
	p = plan_ok(&st, false);
	assert_int_equal(p->nops, 1);
	dv_unshard_plan_free(p);
	step_free(&st);
	/* ... and implicitly replicated with a replicated tp. */
	for (int r = 0; r < 2; r++)
		add(&st, "t h # tp:replicated", 2, s4x64, DV_AXIS_TP, r, 2, DV_AXIS_SP, r, 2, -1);
	p = plan_ok(&st, false);
	assert_int_equal(p->nops, 1);
	dv_unshard_plan_free(p);
	step_free(&st);
	/* Replicated over tp that a sharded sp already fixes (as miles writes
	 * it): picks of one tensor each, then the sp concat. */
	for (int r = 0; r < 2; r++)
		add(&st, "t[sp] h # tp:replicated", 2, s4x64, DV_AXIS_TP, r, 2, DV_AXIS_SP, r, 2, -1);
	p = plan_ok(&st, false);
	assert_int_equal(p->nops, 2);
	assert_int_equal(p->ops[0].kind, DV_OP_PICK);
	groups_are(&p->ops[0], "0|1");
	assert_int_equal(p->ops[1].axis, DV_AXIS_SP);
	groups_are(&p->ops[1], "0 1");
	assert_int_equal(p->shape[0], 8);
	dv_unshard_plan_free(p);
	step_free(&st);
	/* The DP axis counts as declared; so does its alias. */
	for (int r = 0; r < 2; r++)
		add(&st, "t h[tp]", 2, s4x64, DV_AXIS_TP, r, 2, DV_AXIS_DP, 0, 2, -1);
	p = plan_ok(&st, false);
	dv_unshard_plan_free(p);
	step_free(&st);
	for (int r = 0; r < 2; r++)
		add(&st, "t h[tp] # dp:=attn_dp", 2, s4x64, DV_AXIS_TP, r, 2, DV_AXIS_ATTN_DP, 1, 2, -1);
	p = plan_ok(&st, false);
	dv_unshard_plan_free(p);
	step_free(&st);
	/* An active axis nothing declares. */
	for (int r = 0; r < 4; r++)
		add(&st, "t h[tp]", 2, s4x64, DV_AXIS_TP, r % 2, 2, DV_AXIS_CP, r / 2, 2, -1);
	plan_err(&st, false, "Axes {cp} are active (axis_size > 1) but not declared in dims");
	/* Replicated but inactive. */
	add(&st, "t h # ep:replicated", 2, s4x64, -1);
	plan_err(&st, false, "replicated axis ep not found in parallel_infos");
	/* Two replicated axes where one determines the other. */
	for (int r = 0; r < 2; r++)
		add(&st, "t h # tp:replicated cp:replicated", 2, s4x64, DV_AXIS_TP, r, 2, DV_AXIS_CP, r, 2, -1);
	plan_err(&st, false, "not orthogonal");
	/* Two independent replicated axes: picks in name order (cp before tp). */
	for (int r = 0; r < 4; r++)
		add(&st, "t h # tp:replicated cp:replicated", 2, s4x64, DV_AXIS_TP, r % 2, 2, DV_AXIS_CP, r / 2, 2, -1);
	p = plan_ok(&st, false);
	assert_int_equal(p->nops, 2);
	assert_int_equal(p->ops[0].axis, DV_AXIS_CP);
	assert_int_equal(p->ops[1].axis, DV_AXIS_TP);
	groups_are(&p->ops[0], "0 2|1 3");
	dv_unshard_plan_free(p);
	step_free(&st);
}

static void test_validation(void **state)
{
	step st = {0};
	static const int64_t s4[] = {4};

	(void)state;
	add(&st, NULL, 2, s4x64, -1);
	add(&st, NULL, 2, s4x64, -1);
	plan_err(&st, false, "2 files in one step without dims");
	add(&st, "t h[tp]", 2, s4x64, DV_AXIS_TP, 0, 2, -1);
	add(&st, "t h[tp:partial]", 2, s4x64, DV_AXIS_TP, 1, 2, -1);
	plan_err(&st, false, "dims differ between shards");
	add(&st, "t h[tp]", 1, s4, DV_AXIS_TP, 0, 2, -1);
	plan_err(&st, false, "dims metadata mismatch");
	add(&st, "t h[tp]", 2, s4x64, DV_AXIS_TP, 0, 2, -1);
	add(&st, "t h[tp]", 2, s4x64, -1);
	plan_err(&st, false, "missing parallel_info for axis tp");
	add(&st, "t h[tp]", 2, s4x64, DV_AXIS_TP, 0, 2, -1);
	add(&st, "t h[tp]", 2, s4x64, DV_AXIS_TP, 1, 4, -1);
	plan_err(&st, false, "Inconsistent axis_size for tp");
	add(&st, "t h[tp]", 2, s4x64, DV_AXIS_TP, 0, 3, -1);
	add(&st, "t h[tp]", 2, s4x64, DV_AXIS_TP, 1, 3, -1);
	plan_err(&st, false, "tp axis_rank coverage is incomplete");
	add(&st, "t h[tp]", 2, s4x64, DV_AXIS_TP, 0, 2, -1);
	add(&st, "t h[tp]", 2, s4x64, DV_AXIS_TP, 1, 2, -1);
	add(&st, "t h[tp]", 2, s4x64, DV_AXIS_TP, 1, 2, -1);
	plan_err(&st, false, "duplicate shards: rank 1 and rank 2");
	/* Each axis complete on its own, one combination missing. */
	add(&st, "t[cp] h[tp]", 2, s4x64, DV_AXIS_TP, 0, 2, DV_AXIS_CP, 0, 2, -1);
	add(&st, "t[cp] h[tp]", 2, s4x64, DV_AXIS_TP, 1, 2, DV_AXIS_CP, 0, 2, -1);
	add(&st, "t[cp] h[tp]", 2, s4x64, DV_AXIS_TP, 1, 2, DV_AXIS_CP, 1, 2, -1);
	plan_err(&st, false, "cp axis_rank coverage is incomplete: group 0 of the concat has 1 of 2 shards (no cp_rank 1)");
	/* Several files, nothing sharded or replicated. */
	add(&st, "t h", 2, s4x64, -1);
	add(&st, "t h", 2, s4x64, -1);
	plan_err(&st, false, "2 files in one step but dims shard or replicate no active axis");
}

static void test_dp_filter(void **state)
{
	dv_error err = {""};
	bool keep[4];
	dv_dp_item it[4] = {
		{true, 0, 2, true, 0}, {true, 1, 2, true, 12}, {true, 0, 2, true, 0}, {true, 1, 2, true, 12},
	};

	(void)state;
	assert_int_equal(dv_dp_filter(it, 4, keep, &err), 0);
	assert_false(keep[0]);
	assert_true(keep[1]);
	assert_false(keep[2]);
	assert_true(keep[3]);
	/* Two non-empty DP ranks. */
	it[0].numel = 3;
	assert_int_equal(dv_dp_filter(it, 4, keep, &err), -1);
	assert_string_equal(err.msg, "Expected exactly 1 non-empty dp_rank, got 2");
	/* None non-empty. */
	it[0].numel = it[1].numel = it[3].numel = 0;
	assert_int_equal(dv_dp_filter(it, 4, keep, &err), -1);
	/* DP size 1, or no tensor at all: everything kept. */
	for (int i = 0; i < 4; i++)
		it[i].dp_size = 1;
	assert_int_equal(dv_dp_filter(it, 4, keep, &err), 0);
	assert_true(keep[0] && keep[1] && keep[2] && keep[3]);
	for (int i = 0; i < 4; i++)
		it[i] = (dv_dp_item){true, i % 2, 2, false, 0};
	assert_int_equal(dv_dp_filter(it, 4, keep, &err), 0);
	assert_true(keep[0] && keep[1] && keep[2] && keep[3]);
	/* A missing DP rank counts as 0. */
	it[0] = (dv_dp_item){false, 0, 0, true, 5};
	it[1] = (dv_dp_item){true, 1, 2, true, 0};
	assert_int_equal(dv_dp_filter(it, 2, keep, &err), 0);
	assert_true(keep[0]);
	assert_false(keep[1]);
}

/* ---- bundles ---- */

static int64_t tag_i64(const dv_dumpfile *f, const char *k)
{
	const char *v = dv_tag_get(f, k);

	return v ? strtoll(v, NULL, 10) : -1;
}

static void make_phase(dv_phase *ph, const char *const *names, size_t n)
{
	ph->files = calloc(n, sizeof(dv_dumpfile));
	ph->nfiles = n;
	for (size_t i = 0; i < n; i++) {
		dv_dumpfile *f = &ph->files[i];
		dv_error err;

		assert_int_equal(dv_dumpfile_init(f, "", names[i], NULL, &err), 0);
		f->step = tag_i64(f, "step");
		f->rank = tag_i64(f, "rank");
		f->dump_index = tag_i64(f, "dump_index");
		f->layer = dv_tag_get(f, "layer_id") ? (int)tag_i64(f, "layer_id") : -1;
	}
}

static void free_phase(dv_phase *ph)
{
	for (size_t i = 0; i < ph->nfiles; i++)
		dv_dumpfile_free(&ph->files[i]);
	free(ph->files);
}

/* "name:base rows/targ rows" per bundle, rows as file indexes, steps split
 * by ';'. */
static void side_str(const dv_bundle_side *s, char *buf, size_t size, size_t *len)
{
	for (size_t k = 0; k < s->nsteps; k++)
		for (size_t i = 0; i < s->steps[k].nrows; i++)
			*len += snprintf(buf + *len, size - *len, "%s%zu", i ? " " : (k ? ";" : ""),
					 s->steps[k].rows[i]);
}

static void bundles_are(const dv_phase *b, const dv_phase *t, dv_preset preset, const char *const *extra,
			size_t nextra, const char *want)
{
	dv_bundle *bs;
	size_t n, len = 0;
	dv_error err = {""};
	char buf[1024];

	assert_int_equal(dv_bundles_build(b, t, preset, extra, nextra, &bs, &n, &err), 0);
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		len += snprintf(buf + len, sizeof(buf) - len, "%s%s:", i ? ", " : "", bs[i].name);
		side_str(&bs[i].base, buf, sizeof(buf), &len);
		len += snprintf(buf + len, sizeof(buf) - len, "/");
		side_str(&bs[i].targ, buf, sizeof(buf), &len);
	}
	dv_bundles_free(bs, n);
	assert_string_equal(buf, want);
}

static void test_bundles(void **state)
{
	static const char *const tn[] = {
		"step=0___rank=0___dump_index=1___name=a.pt",     /* 0 */
		"step=0___rank=0___dump_index=2___name=b.pt",     /* 1 */
		"step=0___rank=1___dump_index=1___name=a.pt",     /* 2 */
		"step=0___rank=1___dump_index=2___name=b.pt",     /* 3 */
		"step=1___rank=0___dump_index=3___name=a.pt",     /* 4 */
		"step=1___rank=1___dump_index=3___name=a.pt",     /* 5 */
		"step=0___rank=0___dump_index=4___name=a.pt",     /* 6: a dumped twice in step 0 */
	};
	static const char *const bn[] = {
		"step=0___rank=0___dump_index=1___name=b.pt",
		"step=0___rank=0___dump_index=2___name=a.pt",
		"step=1___rank=0___dump_index=3___name=a.pt",
		"step=0___rank=0___dump_index=5___name=a.pt",
	};
	static const char *const extra[] = {"step"};
	dv_phase b = {0}, t = {0};

	(void)state;
	make_phase(&t, tn, 7);
	make_phase(&b, bn, 4);
	/* sglang_dev: ranks joined; steps and duplicates apart; first appearance by (rank, dump_index). */
	bundles_are(&b, &t, DV_PRESET_SGLANG_DEV, NULL, 0,
		    "a:1/0 2, b:0/1 3, a:2/4 5, a:3/6");
	/* sglang_megatron: steps joined too, split again inside the bundle. */
	bundles_are(&b, &t, DV_PRESET_SGLANG_MEGATRON, NULL, 0, "a:1;2/0 2;4 5, b:0/1 3, a:3/6");
	bundles_are(&b, &t, DV_PRESET_SGLANG_DEV, extra, 1, "a:1;2/0 2;4 5, b:0/1 3, a:3/6");
	/* raw: every rank its own bundle; the baseline has rank 0 only. */
	bundles_are(&b, &t, DV_PRESET_RAW, NULL, 0, "a:1/0, b:0/1, a:2/4, a:3/6, a:/2, b:/3, a:/5");
	/* No baseline phase. */
	bundles_are(NULL, &t, DV_PRESET_SGLANG_DEV, NULL, 0, "a:/0 2, b:/1 3, a:/4 5, a:/6");
	free_phase(&b);
	free_phase(&t);
}

/* A key column the baseline lacks is not used; a null matches only null. */
static void test_bundle_columns(void **state)
{
	static const char *const tn[] = {
		"rank=0___dump_index=1___name=a___layer_id=0___recompute_status=disabled.pt",
		"rank=0___dump_index=2___name=a___layer_id=1___recompute_status=disabled.pt",
		"rank=0___dump_index=3___name=x.pt",
	};
	static const char *const bn[] = {
		"rank=0___dump_index=1___name=a___layer_id=1.pt",
		"rank=0___dump_index=2___name=a___layer_id=0.pt",
		"rank=0___dump_index=3___name=x___layer_id=0.pt",
		"rank=0___dump_index=4___name=x.pt",
	};
	dv_phase b = {0}, t = {0};
	dv_bundle *bs;
	size_t n;
	dv_error err = {""};

	(void)state;
	make_phase(&t, tn, 3);
	make_phase(&b, bn, 4);
	bundles_are(&b, &t, DV_PRESET_SGLANG_DEV, NULL, 0, "a:1/0, a:0/1, x:3/2");
	assert_int_equal(dv_bundles_build(&b, &t, DV_PRESET_SGLANG_DEV, NULL, 0, &bs, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(bs[0].layer, 0);
	/* Keys: the target's columns but rank and dump_index, plus duplicate_index. */
	assert_int_equal(bs[2].nkeys, 4);
	assert_string_equal(bs[2].keys[0].key, "name");
	assert_string_equal(bs[2].keys[0].value, "x");
	assert_string_equal(bs[2].keys[1].key, "layer_id");
	assert_null(bs[2].keys[1].value);
	assert_string_equal(bs[2].keys[3].key, "duplicate_index");
	assert_string_equal(bs[2].keys[3].value, "0");
	dv_bundles_free(bs, n);
	free_phase(&b);
	free_phase(&t);
}

static bool odd_is_megatron(const dv_dumpfile *f, void *ctx)
{
	(void)ctx;
	return f->rank == 1;
}

static void test_presets(void **state)
{
	static const char *const tn[] = {"rank=0___name=a.pt", "rank=1___name=a.pt"};
	dv_phase t = {0};

	(void)state;
	assert_string_equal(dv_preset_name(DV_PRESET_SGLANG_DEV), "sglang_dev");
	assert_string_equal(dv_preset_name(DV_PRESET_SGLANG_MEGATRON), "sglang_megatron");
	assert_string_equal(dv_preset_name(DV_PRESET_RAW), "raw");
	assert_null(dv_preset_name((dv_preset)7));
	assert_int_equal(dv_preset_from_name("raw"), DV_PRESET_RAW);
	assert_int_equal(dv_preset_from_name("sglang_megatron"), DV_PRESET_SGLANG_MEGATRON);
	assert_int_equal(dv_preset_from_name("Raw"), -1);
	assert_int_equal(dv_preset_from_name(NULL), -1);
	assert_true(dv_preset_has_token_aligner(DV_PRESET_SGLANG_MEGATRON));
	assert_false(dv_preset_has_token_aligner(DV_PRESET_SGLANG_DEV));
	make_phase(&t, tn, 2);
	assert_int_equal(dv_preset_for_phase(&t, odd_is_megatron, NULL), DV_PRESET_SGLANG_MEGATRON);
	assert_int_equal(dv_preset_for_phase(&t, NULL, NULL), DV_PRESET_SGLANG_DEV);
	assert_int_equal(dv_preset_for_phase(NULL, odd_is_megatron, NULL), DV_PRESET_SGLANG_DEV);
	t.nfiles = 1;
	assert_int_equal(dv_preset_for_phase(&t, odd_is_megatron, NULL), DV_PRESET_SGLANG_DEV);
	t.nfiles = 2;
	free_phase(&t);
}

/* ---- axis alignment ---- */

static void align_is(const char *bd, const char *td, const char *want)
{
	dv_error err = {""};
	dv_dims *b = dv_dims_parse(bd, NULL, &err), *t = dv_dims_parse(td, NULL, &err);
	dv_axis_align a;
	char *text;

	assert_non_null(b);
	assert_non_null(t);
	if (dv_axis_align_plan(b, t, NULL, NULL, &a, &err) < 0) {
		assert_non_null(want);
		if (strncmp(err.msg, want, strlen(want)))
			fail_msg("'%s' vs '%s': error '%s', want '%s'", bd, td, err.msg, want);
	} else {
		text = dv_axis_align_text(&a);
		if (!want)
			assert_null(text);
		else if (!text || strcmp(text, want))
			fail_msg("'%s' vs '%s': '%s', want '%s'", bd, td, text ? text : "(none)", want);
		free(text);
		dv_axis_align_free(&a);
	}
	dv_dims_free(b);
	dv_dims_free(t);
}

static void test_axis_align(void **state)
{
	dv_error err = {""};
	dv_dims *b, *t;
	dv_axis_align a;
	int ndim[2] = {3, 2};
	int64_t shape[2][PT_MAX_DIMS] = {{4, 8, 16}, {4, 128}};

	(void)state;
	align_is("t h", "t h[tp]", NULL);
	align_is("t h", "s h", NULL);
	/* Separate dims are flattened into the other side's group, whichever side fuses. */
	align_is("t num_heads head_dim", "t (num_heads*head_dim)[tp]", "x: t num_heads head_dim -> t (num_heads head_dim)");
	align_is("t (num_heads*head_dim)", "t num_heads[tp] head_dim", "y: t num_heads head_dim -> t (num_heads head_dim)");
	/* '1' dropped; the side's own spelling of s/t kept. */
	align_is("t h", "s 1 h", "y: s 1 h -> s h");
	align_is("1 t h", "t h", "x: 1 t h -> t h");
	/* The target's order wins; a fused dim a side holds keeps its internal name. */
	align_is("h t", "t h", "x: h t -> t h");
	align_is("(a*b) t", "t a b", "x: a___b t -> t a___b, y: t a b -> t (a b)");
	align_is("t a b 1", "t a", "axis_aligner_dim_mismatch");
	align_is("t h", "t k", "axis_aligner_dim_mismatch");
	align_is("(a*b) c", "a (b*c)", "axis_aligner_fused_conflict");
	/* With shapes: the aligned shapes, and '1' dims must have size 1. */
	b = dv_dims_parse("t num_heads head_dim", NULL, &err);
	t = dv_dims_parse("t (num_heads*head_dim)", NULL, &err);
	assert_int_equal(dv_axis_align_plan(b, t, ndim, (const int64_t (*)[PT_MAX_DIMS])shape, &a, &err), 0);
	assert_int_equal(a.ndim[0], 2);
	assert_int_equal(a.shape[0][1], 128);
	assert_int_equal(a.shape[1][1], 128);
	assert_null(a.pattern[1]);
	dv_axis_align_free(&a);
	dv_dims_free(b);
	dv_dims_free(t);
	b = dv_dims_parse("t h", NULL, &err);
	t = dv_dims_parse("t 1 h", NULL, &err);
	ndim[0] = 2;
	ndim[1] = 3;
	memcpy(shape[0], (int64_t[]){4, 8}, 2 * sizeof(int64_t));
	memcpy(shape[1], (int64_t[]){4, 2, 8}, 3 * sizeof(int64_t));
	assert_int_equal(dv_axis_align_plan(b, t, ndim, (const int64_t (*)[PT_MAX_DIMS])shape, &a, &err), -1);
	assert_string_equal(err.msg, "axis_aligner: the target's '1' dim 1 has size 2");
	dv_dims_free(b);
	dv_dims_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_passthrough),
		cmocka_unit_test(test_concat),
		cmocka_unit_test(test_reduce_sum),
		cmocka_unit_test(test_pick),
		cmocka_unit_test(test_zigzag),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_axes),
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_dp_filter),
		cmocka_unit_test(test_bundles),
		cmocka_unit_test(test_bundle_columns),
		cmocka_unit_test(test_presets),
		cmocka_unit_test(test_axis_align),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
