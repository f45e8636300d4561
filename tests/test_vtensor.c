/* Virtual tensors (vtensor.h) over in-memory shards, planned by the real
 * planner: every operation against a naive reference, every (start, count)
 * range so chunk boundaries cut through runs, block reads counted,
 * reduce_sum's single rounding, replicated checks, axis alignment with a
 * permutation, and the errors. The fixtures are checked by
 * test_xtopo_vtensor.sh. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dumpview/dims.h"
#include "dumpview/unshard_plan.h"
#include "dumpview/vtensor.h"

#define MAX_SHARDS 8
#define MAX_EL 4096

typedef struct mem {
	float data[MAX_EL];
	int64_t numel;
	int reads;
} mem;

typedef struct step {
	dv_shard s[MAX_SHARDS];
	dv_dims *dims[MAX_SHARDS];
	dv_vsource src[MAX_SHARDS];
	mem m[MAX_SHARDS];
	size_t n;
} step;

static int mem_read(void *ctx, int64_t start, int64_t count, float *out, dv_error *err)
{
	mem *m = ctx;

	if (start < 0 || count < 0 || start + count > m->numel) {
		dv_error_set(err, "mem: out of range");
		return -1;
	}
	memcpy(out, m->data + start, (size_t)count * sizeof(float));
	m->reads++;
	return 0;
}

/* Adds a shard with dims text, dtype, shape and values fn(shard, flat
 * index), then axis, rank, size triples ending with -1. */
static void add(step *st, const char *dims, dv_dtype dt, int ndim, const int64_t *shape,
		float (*fn)(size_t, int64_t), ...)
{
	size_t i = st->n;
	dv_shard *s = &st->s[i];
	dv_error err = {""};
	va_list ap;
	int a;

	memset(s, 0, sizeof(*s));
	st->dims[i] = dv_dims_parse(dims, NULL, &err);
	if (!st->dims[i])
		fail_msg("'%s': %s", dims, err.msg);
	s->dims = st->dims[i];
	s->ndim = ndim;
	memcpy(s->shape, shape, (size_t)ndim * sizeof(int64_t));
	s->rank = (int64_t)i;
	for (a = 0; a < DV_AXIS_COUNT; a++)
		s->coords.axis[a] = (dv_axis_coord){false, 0, 1};
	va_start(ap, fn);
	while ((a = va_arg(ap, int)) >= 0) {
		int rank = va_arg(ap, int), size = va_arg(ap, int);

		s->coords.axis[a] = (dv_axis_coord){size > 1, rank, size};
	}
	va_end(ap);
	st->m[i].numel = 1;
	for (int d = 0; d < ndim; d++)
		st->m[i].numel *= shape[d];
	assert_true(st->m[i].numel <= MAX_EL);
	for (int64_t k = 0; k < st->m[i].numel; k++)
		st->m[i].data[k] = fn(i, k);
	st->src[i] = (dv_vsource){.dtype = dt, .ndim = ndim, .read_f32 = mem_read, .ctx = &st->m[i], .name = "mem"};
	memcpy(st->src[i].shape, shape, (size_t)ndim * sizeof(int64_t));
	st->n++;
}

static void step_free(step *st)
{
	for (size_t i = 0; i < st->n; i++)
		dv_dims_free(st->dims[i]);
	st->n = 0;
}

static dv_vtensor *open_ok(step *st, const int64_t *lens, size_t nlens, dv_unshard_plan **pp)
{
	dv_unshard_opts o = {.have_seq_lens = lens != NULL};
	dv_vtensor_opts vo = {.seq_lens = lens, .nseq_lens = nlens};
	dv_error err = {""};
	dv_vtensor *vt;

	if (dv_unshard_plan_step(st->s, st->n, &o, pp, &err) < 0)
		fail_msg("plan failed: %s", err.msg);
	if (!(vt = dv_vtensor_open(*pp, st->src, st->n, &vo, &err)))
		fail_msg("open failed: %s", err.msg);
	return vt;
}

/* Every range [start, start+count) reads as the reference. */
static void check_all_ranges(dv_vtensor *vt, const float *want)
{
	int64_t n = dv_vtensor_numel(vt);
	float *got = malloc((size_t)n * sizeof(float) + 4);
	dv_error err = {""};

	for (int64_t s = 0; s < n; s++)
		for (int64_t c = 0; c <= n - s; c++) {
			if (dv_vtensor_read_f32(vt, s, c, got, &err) < 0)
				fail_msg("read [%lld, +%lld): %s", (long long)s, (long long)c, err.msg);
			for (int64_t i = 0; i < c; i++)
				if (got[i] != want[s + i])
					fail_msg("read [%lld, +%lld): element %lld is %g, want %g", (long long)s,
						 (long long)c, (long long)(s + i), got[i], want[s + i]);
		}
	free(got);
}

static int total_reads(step *st)
{
	int r = 0;

	for (size_t i = 0; i < st->n; i++) {
		r += st->m[i].reads;
		st->m[i].reads = 0;
	}
	return r;
}

static float v_shard_index(size_t shard, int64_t k)
{
	return (float)(shard * 1000 + (size_t)k);
}

/* A NaN difference is the largest and stays (torch's max): a replicated
 * check over copies holding NaN fails, as (a - b).abs().max() <= atol does. */
static void test_vdiff_nan(void **state)
{
	const float a[4] = {1, NAN, 3, 100}, b[4] = {1, NAN, 3, 0};
	dv_vdiff d;

	(void)state;
	dv_vdiff_init(&d);
	dv_vdiff_add(&d, a, b, 4, 0);
	assert_true(isnan(d.max_abs));
	assert_int_equal(d.max_index, 1);
	assert_false(d.max_abs <= DV_REPLICATED_ATOL);
	dv_vdiff_init(&d);
	dv_vdiff_add(&d, a + 2, b + 2, 2, 2);
	assert_true(d.max_abs == 100.0f);
	assert_int_equal(d.max_index, 3);
}

/* TP=2 concat on the last dim [3, 4] + [3, 4], and on the first dim. */
static void test_concat(void **state)
{
	step st = {0};
	dv_unshard_plan *p;
	dv_vtensor *vt;
	float want[24], buf[24];
	dv_error err = {""};

	(void)state;
	add(&st, "t h[tp]", DV_BFLOAT16, 2, (int64_t[]){3, 4}, v_shard_index, DV_AXIS_TP, 0, 2, -1);
	add(&st, "t h[tp]", DV_BFLOAT16, 2, (int64_t[]){3, 4}, v_shard_index, DV_AXIS_TP, 1, 2, -1);
	vt = open_ok(&st, NULL, 0, &p);
	assert_int_equal(dv_vtensor_ndim(vt), 2);
	assert_int_equal(dv_vtensor_shape(vt)[1], 8);
	for (int r = 0; r < 3; r++)
		for (int c = 0; c < 8; c++)
			want[r * 8 + c] = (float)((c / 4) * 1000 + r * 4 + c % 4);
	total_reads(&st);
	/* one read per shard: runs are whole rows of the last dim, served from
	 * each shard's read-ahead window */
	assert_int_equal(dv_vtensor_read_f32(vt, 0, 24, buf, &err), 0);
	assert_int_equal(total_reads(&st), 2);
	check_all_ranges(vt, want);
	dv_vtensor_close(vt);
	dv_unshard_plan_free(p);
	step_free(&st);

	add(&st, "t[tp] h", DV_BFLOAT16, 2, (int64_t[]){3, 4}, v_shard_index, DV_AXIS_TP, 0, 2, -1);
	add(&st, "t[tp] h", DV_BFLOAT16, 2, (int64_t[]){3, 4}, v_shard_index, DV_AXIS_TP, 1, 2, -1);
	vt = open_ok(&st, NULL, 0, &p);
	for (int i = 0; i < 24; i++)
		want[i] = (float)((i / 12) * 1000 + i % 12);
	total_reads(&st);
	/* consecutive rows of one shard merge: one read per shard */
	assert_int_equal(dv_vtensor_read_f32(vt, 0, 24, buf, &err), 0);
	assert_int_equal(total_reads(&st), 2);
	check_all_ranges(vt, want);
	dv_vtensor_close(vt);
	dv_unshard_plan_free(p);
	step_free(&st);
}

/* Zigzag placement: global token g of a sequence of L tokens cut into 2c
 * chunks lives on rank owner(g) at position pos(g). */
static int64_t zz_owner(int64_t g, int64_t L, int64_t c, int64_t *pos)
{
	int64_t m = L / (2 * c), k = g / m;

	*pos = (k < c ? 0 : m) + g % m;
	return k < c ? k : 2 * c - 1 - k;
}

enum { ZZ_INNER = 3 };
static int64_t zz_L, zz_c;

/* Shard value: the natural token index * 10 + inner index. */
static float v_zigzag_s(size_t shard, int64_t k)
{
	int64_t tok = k / ZZ_INNER, i = k % ZZ_INNER;

	for (int64_t g = 0; g < zz_L; g++) {
		int64_t pos, r = zz_owner(g, zz_L, zz_c, &pos);

		if (r == (int64_t)shard && pos == tok)
			return (float)(g * 10 + i);
	}
	return -1;
}

static void zigzag_s_case(int64_t L, int64_t c)
{
	step st = {0};
	dv_unshard_plan *p;
	dv_vtensor *vt;
	float want[64 * ZZ_INNER];

	zz_L = L;
	zz_c = c;
	for (int64_t r = 0; r < c; r++)
		add(&st, "b s[cp:zigzag] h", DV_BFLOAT16, 3, (int64_t[]){1, L / c, ZZ_INNER}, v_zigzag_s, DV_AXIS_CP,
		    (int)r, (int)c, -1);
	vt = open_ok(&st, NULL, 0, &p);
	assert_int_equal(p->nops, 2);
	for (int64_t g = 0; g < L; g++)
		for (int i = 0; i < ZZ_INNER; i++)
			want[g * ZZ_INNER + i] = (float)(g * 10 + i);
	check_all_ranges(vt, want);
	dv_vtensor_close(vt);
	dv_unshard_plan_free(p);
	step_free(&st);
}

static void test_zigzag_s(void **state)
{
	(void)state;
	zigzag_s_case(8, 2);
	zigzag_s_case(16, 4);
	zigzag_s_case(12, 2); /* chunks of 3 tokens */
}

/* THD: sequences of 8 and 4 tokens, cp 2, each rank one padding token at
 * the end (the remainder): natural tokens then rank 0's and rank 1's pads. */
static const int64_t thd_lens[] = {8, 4};

static float v_thd(size_t shard, int64_t k)
{
	int64_t tok = k / ZZ_INNER, i = k % ZZ_INNER, base = 0, local = 0;

	for (size_t s = 0; s < 2; s++) {
		int64_t L = thd_lens[s];

		if (tok < local + L / 2) {
			for (int64_t g = 0; g < L; g++) {
				int64_t pos, r = zz_owner(g, L, 2, &pos);

				if (r == (int64_t)shard && pos == tok - local)
					return (float)((base + g) * 10 + i);
			}
		}
		local += L / 2;
		base += L;
	}
	return (float)(1000 + shard * 10 + (size_t)i); /* padding */
}

static void test_zigzag_thd(void **state)
{
	step st = {0};
	dv_unshard_plan *p;
	dv_vtensor *vt;
	float want[14 * ZZ_INNER];
	dv_error err = {""};
	dv_vtensor_opts vo = {.seq_lens = (const int64_t[]){6, 6}, .nseq_lens = 2};

	(void)state;
	for (int r = 0; r < 2; r++)
		add(&st, "t[cp:zigzag] h", DV_BFLOAT16, 2, (int64_t[]){7, ZZ_INNER}, v_thd, DV_AXIS_CP, r, 2, -1);
	vt = open_ok(&st, thd_lens, 2, &p);
	assert_int_equal(p->ops[0].kind, DV_OP_CP_THD_CONCAT);
	assert_int_equal(p->ops[1].kind, DV_OP_ZIGZAG_TO_NATURAL_THD);
	for (int g = 0; g < 12; g++)
		for (int i = 0; i < ZZ_INNER; i++)
			want[g * ZZ_INNER + i] = (float)(g * 10 + i);
	for (int r = 0; r < 2; r++)
		for (int i = 0; i < ZZ_INNER; i++)
			want[(12 + r) * ZZ_INNER + i] = (float)(1000 + r * 10 + i);
	check_all_ranges(vt, want);
	dv_vtensor_close(vt);

	/* lengths of 6: 3 per rank, not a multiple of 2 * cp for the reorder */
	assert_null(dv_vtensor_open(p, st.src, st.n, &vo, &err));
	assert_non_null(strstr(err.msg, "not a multiple of 2 * cp_size"));
	/* an odd length cannot be cut between the ranks */
	vo.seq_lens = (const int64_t[]){7, 5};
	assert_null(dv_vtensor_open(p, st.src, st.n, &vo, &err));
	assert_non_null(strstr(err.msg, "Sequences must be padded"));
	/* no lengths at all */
	assert_null(dv_vtensor_open(p, st.src, st.n, NULL, &err));
	assert_non_null(strstr(err.msg, "thd_global_seq_lens is required"));
	dv_unshard_plan_free(p);
	step_free(&st);
}

/* reduce_sum rounds once: 1 + 2^-8 + 2^-8 is 1.0078125 in bfloat16, not
 * the 1.0 two roundings give (1 + 2^-8 ties to even). */
static float v_sum(size_t shard, int64_t k)
{
	if (k == 0)
		return shard == 0 ? 1.0f : 0.00390625f;
	return (float)k * (shard + 1) * 0.1f;
}

static void test_reduce_sum(void **state)
{
	step st = {0};
	dv_unshard_plan *p;
	dv_vtensor *vt;
	float got[5], want[5];
	dv_error err = {""};

	(void)state;
	for (int r = 0; r < 3; r++)
		add(&st, "t h[tp:partial]", DV_BFLOAT16, 2, (int64_t[]){1, 5}, v_sum, DV_AXIS_TP, r, 3, -1);
	vt = open_ok(&st, NULL, 0, &p);
	assert_int_equal(p->ops[0].kind, DV_OP_REDUCE_SUM);
	assert_int_equal(dv_vtensor_read_f32(vt, 0, 5, got, &err), 0);
	assert_true(got[0] == 1.0078125f);
	for (int k = 1; k < 5; k++) {
		float s = (float)k * 0.1f + (float)k * 2 * 0.1f + (float)k * 3 * 0.1f;

		want[k] = dv_bf16_to_f32(dv_f32_to_bf16(s));
		assert_true(got[k] == want[k]);
	}
	want[0] = got[0];
	check_all_ranges(vt, want);
	dv_vtensor_close(vt);
	dv_unshard_plan_free(p);
	step_free(&st);

	/* float16: 1 + 2^-11 + 2^-11 is 1 + 2^-10 rounded once */
	for (int r = 0; r < 3; r++)
		add(&st, "h[tp:partial]", DV_FLOAT16, 1, (int64_t[]){1}, v_sum, DV_AXIS_TP, r, 3, -1);
	st.m[1].data[0] = st.m[2].data[0] = 0.00048828125f;
	vt = open_ok(&st, NULL, 0, &p);
	assert_int_equal(dv_vtensor_read_f32(vt, 0, 1, got, &err), 0);
	assert_true(got[0] == 1.0009765625f);
	dv_vtensor_close(vt);
	dv_unshard_plan_free(p);
	step_free(&st);
}

static float v_same(size_t shard, int64_t k)
{
	(void)shard;
	return (float)k * 0.25f;
}

/* Replicated: rank 0 kept; one member exactly 1e-6 off passes (atol is
 * inclusive), one 2e-6 off fails; a large tensor streams in chunks. */
static void test_pick_checks(void **state)
{
	step st = {0};
	dv_unshard_plan *p;
	dv_vtensor *vt;
	dv_replicated_result *r;
	size_t n;
	float want[MAX_EL];
	dv_error err = {""};

	(void)state;
	for (int i = 0; i < 3; i++)
		add(&st, "t h # tp:replicated", DV_FLOAT32, 2, (int64_t[]){64, 64}, v_same, DV_AXIS_TP, i, 3, -1);
	st.m[1].data[0] = 1e-6f; /* kept: 0 */
	st.m[2].data[4095] += 0.5f;
	st.m[2].data[7] += 0.5f;
	vt = open_ok(&st, NULL, 0, &p);
	assert_int_equal(dv_vtensor_checks(vt, &r, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].compared_index, 1);
	assert_int_equal(r[0].kept_shard, 0);
	assert_int_equal(r[0].compared_shard, 1);
	assert_true(r[0].shape_equal);
	assert_true(r[0].diff.max_abs <= 1e-6f && r[0].diff.max_abs > 0);
	assert_true(r[0].passed);
	assert_int_equal(r[0].diff.max_index, 0);
	assert_int_equal(r[1].compared_index, 2);
	assert_false(r[1].passed);
	assert_true(r[1].diff.max_abs == 0.5f);
	assert_int_equal(r[1].diff.max_index, 7); /* the first of equal maxima */
	assert_int_equal(r[1].diff.n, 4096);
	free(r);
	for (int k = 0; k < 4096; k++)
		want[k] = v_same(0, k);
	{
		float got[MAX_EL];

		assert_int_equal(dv_vtensor_read_f32(vt, 0, 4096, got, &err), 0);
		assert_memory_equal(got, want, sizeof(got));
	}
	dv_vtensor_close(vt);
	dv_unshard_plan_free(p);
	step_free(&st);
}

/* A standalone check between two opened tensors; shapes that differ fail
 * with no diff. */
static void test_replicated_check(void **state)
{
	step a = {0}, b = {0};
	dv_unshard_plan *pa, *pb;
	dv_vtensor *va, *vb;
	dv_replicated_result r;
	dv_error err = {""};

	(void)state;
	add(&a, "t h", DV_FLOAT32, 2, (int64_t[]){2, 3}, v_same, -1);
	add(&b, "t h", DV_FLOAT32, 2, (int64_t[]){3, 2}, v_same, -1);
	va = open_ok(&a, NULL, 0, &pa);
	vb = open_ok(&b, NULL, 0, &pb);
	assert_int_equal(dv_replicated_check(va, vb, &r, &err), 0);
	assert_false(r.shape_equal);
	assert_false(r.passed);
	assert_int_equal(r.diff.n, 0);
	assert_int_equal(dv_replicated_check(va, va, &r, &err), 0);
	assert_true(r.passed);
	dv_vtensor_close(va);
	dv_vtensor_close(vb);
	dv_unshard_plan_free(pa);
	dv_unshard_plan_free(pb);
	step_free(&a);
	step_free(&b);
}

/* Axis alignment: a [2, 1, 3, 4] tensor "a 1 b c -> c (a b)" is the
 * permutation (3, 0, 2) flattened to [4, 6]; a flatten alone and a
 * squeeze keep the order. */
static void test_align(void **state)
{
	step st = {0};
	dv_unshard_plan *p;
	dv_vtensor *vt;
	float want[24];
	dv_error err = {""};

	(void)state;
	add(&st, "a 1 b c", DV_FLOAT32, 4, (int64_t[]){2, 1, 3, 4}, v_shard_index, -1);
	vt = open_ok(&st, NULL, 0, &p);
	assert_int_equal(dv_vtensor_align(vt, "a 1 b c -> c (a b)", 2, (int64_t[]){4, 6}, &err), 0);
	assert_int_equal(dv_vtensor_ndim(vt), 2);
	for (int c = 0; c < 4; c++)
		for (int a = 0; a < 2; a++)
			for (int b = 0; b < 3; b++)
				want[c * 6 + a * 3 + b] = (float)(a * 12 + b * 4 + c);
	check_all_ranges(vt, want);
	dv_vtensor_close(vt);

	vt = dv_vtensor_open(p, st.src, 1, NULL, &err);
	assert_non_null(vt);
	assert_int_equal(dv_vtensor_align(vt, "a 1 b c -> a (b c)", 2, (int64_t[]){2, 12}, &err), 0);
	for (int i = 0; i < 24; i++)
		want[i] = (float)i;
	check_all_ranges(vt, want);
	/* a name on the right that the left lacks; a shape of another size */
	assert_int_equal(dv_vtensor_align(vt, "a b -> a x", 2, (int64_t[]){2, 12}, &err), -1);
	assert_int_equal(dv_vtensor_align(vt, "a b -> a a", 2, (int64_t[]){2, 12}, &err), -1);
	assert_int_equal(dv_vtensor_align(vt, NULL, 1, (int64_t[]){23}, &err), -1);
	dv_vtensor_close(vt);
	dv_unshard_plan_free(p);
	step_free(&st);
}

/* Mixed: CP=2 concat then TP=2 partial then zigzag, ranks r = tp + 2 cp;
 * chunk cuts everywhere. */
static float v_mixed(size_t shard, int64_t k)
{
	int64_t tp = (int64_t)shard % 2, cp = (int64_t)shard / 2, tok = k / 4, h = k % 4, pos;

	for (int64_t g = 0; g < 8; g++)
		if (zz_owner(g, 8, 2, &pos) == cp && pos == tok)
			return (float)(g * 16 + h * 2 + tp) / 64.0f;
	return -1;
}

static void test_mixed(void **state)
{
	step st = {0};
	dv_unshard_plan *p;
	dv_vtensor *vt;
	float want[32];

	(void)state;
	for (int r = 0; r < 4; r++)
		add(&st, "s[cp:zigzag] h[tp:partial]", DV_BFLOAT16, 2, (int64_t[]){4, 4}, v_mixed, DV_AXIS_TP, r % 2,
		    2, DV_AXIS_CP, r / 2, 2, -1);
	vt = open_ok(&st, NULL, 0, &p);
	for (int g = 0; g < 8; g++)
		for (int h = 0; h < 4; h++) {
			float s = (float)(g * 16 + h * 2) / 64.0f + (float)(g * 16 + h * 2 + 1) / 64.0f;

			want[g * 4 + h] = dv_bf16_to_f32(dv_f32_to_bf16(s));
		}
	check_all_ranges(vt, want);
	dv_vtensor_close(vt);
	dv_unshard_plan_free(p);
	step_free(&st);
}

/* Shapes that disagree with the plan, and a zigzag dim not divisible. */
static void test_errors(void **state)
{
	step st = {0};
	dv_unshard_plan *p;
	dv_vtensor *vt;
	dv_error err = {""};
	float x;

	(void)state;
	add(&st, "s[cp:zigzag] h", DV_BFLOAT16, 2, (int64_t[]){3, 2}, v_same, DV_AXIS_CP, 0, 2, -1);
	add(&st, "s[cp:zigzag] h", DV_BFLOAT16, 2, (int64_t[]){3, 2}, v_same, DV_AXIS_CP, 1, 2, -1);
	{
		dv_unshard_opts o = {0};

		assert_int_equal(dv_unshard_plan_step(st.s, st.n, &o, &p, &err), 0);
	}
	assert_null(dv_vtensor_open(p, st.src, st.n, NULL, &err));
	assert_non_null(strstr(err.msg, "not a multiple of 2 * cp_size"));
	st.src[0].shape[0] = 4;
	assert_null(dv_vtensor_open(p, st.src, st.n, NULL, &err));
	assert_non_null(strstr(err.msg, "shape differs from the plan"));
	assert_null(dv_vtensor_open(p, st.src, 1, NULL, &err));
	dv_unshard_plan_free(p);
	step_free(&st);

	add(&st, "h", DV_FLOAT32, 1, (int64_t[]){2}, v_same, -1);
	vt = open_ok(&st, NULL, 0, &p);
	assert_int_equal(dv_vtensor_read_f32(vt, 1, 2, &x, &err), -1);
	assert_non_null(strstr(err.msg, "past a 2-element tensor"));
	dv_vtensor_close(vt);
	dv_unshard_plan_free(p);
	step_free(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concat),
		cmocka_unit_test(test_zigzag_s),
		cmocka_unit_test(test_zigzag_thd),
		cmocka_unit_test(test_reduce_sum),
		cmocka_unit_test(test_pick_checks),
		cmocka_unit_test(test_vdiff_nan),
		cmocka_unit_test(test_replicated_check),
		cmocka_unit_test(test_align),
		cmocka_unit_test(test_mixed),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
