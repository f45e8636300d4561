/* A file truncated or replaced while it is being read: opened,
 * then cut short (or renamed over) before its elements are read. Every read
 * either returns the original bytes or fails with a message naming the
 * file; nothing crashes. Stored entries (pread), deflated entries (libzip)
 * and the legacy format; records read in place from a mapping of the file
 * (a file cut short under it faults: the read must fail with an error, not
 * crash). Fixtures come from $FIXTURES. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "dumpview/pt.h"
#include "dumpview/vtensor.h"

#define CHUNK 4096

static char *fixture(const char *rel)
{
	static char path[4096];
	const char *dir = getenv("FIXTURES");

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "tests/fixtures", rel);
	return path;
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	unsigned char *buf;
	long n;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n > 0);
	rewind(fp);
	buf = malloc((size_t)n);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

static void spit(const char *path, const void *data, size_t len)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* A private copy of the fixture in a fresh temporary folder. */
static char *copy_to_tmp(const char *rel, char *dir, size_t dirsize)
{
	static char path[4200];
	unsigned char *data;
	size_t len;

	snprintf(dir, dirsize, "%s/dv-live-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/live.pt", dir);
	data = slurp(fixture(rel), &len);
	spit(path, data, len);
	free(data);
	return path;
}

static void remove_tmp(const char *dir)
{
	char p[4200];

	snprintf(p, sizeof(p), "%s/live.pt", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/other.pt", dir);
	unlink(p);
	assert_int_equal(rmdir(dir), 0);
}

/* Reads every element of the tensor at tpath in chunks, after `damage` has
 * been applied to the file between open and the first read. Returns 0 when
 * every read succeeded (the bytes then equal `want`), -1 on an error (whose
 * message must name the file). */
static int read_after(const char *rel, const char *tpath, void (*damage)(const char *path, const char *dir),
		      unsigned char **want, size_t *want_len)
{
	char dir[4096];
	const char *path = copy_to_tmp(rel, dir, sizeof(dir));
	dv_error err;
	pt_file *f = pt_open(path, &err);
	const pt_obj *o;
	const pt_tensor *t;
	unsigned char *got;
	size_t isz, len;
	int64_t start, n;
	int rc = 0;

	if (f == NULL)
		fail_msg("%s", err.msg);
	o = pt_lookup(pt_root(f), tpath);
	assert_non_null(o);
	assert_int_equal(o->kind, PT_TENSOR);
	t = &o->u.tensor;
	isz = dv_dtype_size(t->dtype);
	len = (size_t)t->numel * isz;
	got = malloc(len ? len : 1);
	assert_non_null(got);
	/* the undamaged bytes, read through a second handle first */
	if (want) {
		pt_file *g = pt_open(path, &err);
		const pt_tensor *gt;

		assert_non_null(g);
		gt = &pt_lookup(pt_root(g), tpath)->u.tensor;
		*want = malloc(len ? len : 1);
		assert_non_null(*want);
		assert_int_equal(pt_tensor_read(g, gt, 0, gt->numel, *want, &err), 0);
		*want_len = len;
		pt_close(g);
	}
	damage(path, dir);
	for (start = 0; start < t->numel; start += n) {
		n = t->numel - start < CHUNK ? t->numel - start : CHUNK;
		err.msg[0] = '\0';
		if (pt_tensor_read(f, t, start, n, got + (size_t)start * isz, &err) != 0) {
			assert_non_null(strstr(err.msg, "live.pt"));
			rc = -1;
			break;
		}
	}
	if (rc == 0 && want)
		assert_memory_equal(got, *want, len);
	free(got);
	pt_close(f);
	remove_tmp(dir);
	return rc;
}

static void truncate_to_header(const char *path, const char *dir)
{
	(void)dir;
	assert_int_equal(truncate(path, 1000), 0);
}

static void truncate_to_zero(const char *path, const char *dir)
{
	(void)dir;
	assert_int_equal(truncate(path, 0), 0);
}

static void truncate_to_half(const char *path, const char *dir)
{
	FILE *fp = fopen(path, "rb");
	long n;

	(void)dir;
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fclose(fp);
	assert_int_equal(truncate(path, n / 2), 0);
}

/* Another file renamed over the path: the open handle keeps the old one. */
static void replace(const char *path, const char *dir)
{
	char other[4200];

	snprintf(other, sizeof(other), "%s/other.pt", dir);
	spit(other, "not a checkpoint\n", 17);
	assert_int_equal(rename(other, path), 0);
}

/* Overwritten in place with zeros: the bytes change under the reader. */
static void zero_in_place(const char *path, const char *dir)
{
	unsigned char *data;
	size_t len;

	(void)dir;
	data = slurp(path, &len);
	memset(data, 0, len);
	spit(path, data, len);
	free(data);
}

static void test_stored_truncated(void **state)
{
	(void)state;
	/* 1 MiB of bf16 in a stored entry: read with pread */
	assert_int_equal(read_after("pt-corpus/shape_large.pt", "$", truncate_to_half, NULL, NULL), -1);
	assert_int_equal(read_after("pt-corpus/shape_large.pt", "$", truncate_to_header, NULL, NULL), -1);
	assert_int_equal(read_after("pt-corpus/shape_large.pt", "$", truncate_to_zero, NULL, NULL), -1);
}

static void test_deflated_truncated(void **state)
{
	(void)state;
	/* 70000 int8 in a deflated entry: read through libzip */
	assert_int_equal(read_after("hostile/valid/deflated_shape_long1d.pt", "$", truncate_to_half, NULL, NULL), -1);
	assert_int_equal(read_after("hostile/valid/deflated_shape_long1d.pt", "$", truncate_to_zero, NULL, NULL), -1);
}

static void test_legacy_truncated(void **state)
{
	unsigned char *want = NULL;
	size_t len = 0;
	int rc;

	(void)state;
	/* a reader may hold a small legacy file in memory: then the original
	 * bytes come back, else an error */
	rc = read_after("pt-corpus/legacy.pt", "$['w']", truncate_to_half, &want, &len);
	assert_true(rc == 0 || rc == -1);
	free(want);
	rc = read_after("pt-corpus/legacy.pt", "$['view']", truncate_to_zero, &want, &len);
	assert_true(rc == 0 || rc == -1);
	free(want);
}

static void test_replaced(void **state)
{
	unsigned char *want = NULL;
	size_t len = 0;

	(void)state;
	/* the open handle still reads the original file: the bytes are exact */
	assert_int_equal(read_after("pt-corpus/shape_large.pt", "$", replace, &want, &len), 0);
	free(want);
	assert_int_equal(read_after("hostile/valid/deflated_shape_long1d.pt", "$", replace, &want, &len), 0);
	free(want);
}

static void test_overwritten(void **state)
{
	unsigned char *want = NULL;
	size_t len = 0;
	int rc;

	(void)state;
	/* Stored bytes overwritten in place: the new bytes are read, or the
	 * CRC check at the end of the entry reports it. No crash either way. */
	rc = read_after("pt-corpus/shape_long1d.pt", "$", zero_in_place, NULL, NULL);
	assert_true(rc == 0 || rc == -1);
	rc = read_after("hostile/valid/deflated_shape_long1d.pt", "$", zero_in_place, &want, &len);
	assert_true(rc == 0 || rc == -1);
	free(want);
}

/* Sums the bytes of a mapped range: the access pt_map_guarded protects. */
typedef struct byte_sum {
	const unsigned char *p;
	size_t len;
	unsigned long sum;
} byte_sum;

static void byte_sum_fn(void *arg)
{
	byte_sum *b = arg;

	b->sum = 0;
	for (size_t i = 0; i < b->len; i++)
		b->sum += b->p[i];
}

/* Mapped, then truncated: the guarded access fails and names the file's
 * mapping; a later map of the same file fails the same way, and the pread
 * path reports an error too. */
static void test_mapped_truncated(void **state)
{
	char dir[4096];
	const char *path = copy_to_tmp("pt-corpus/shape_large.pt", dir, sizeof(dir));
	dv_error err;
	pt_file *f = pt_open(path, &err);
	const pt_tensor *t;
	const void *p = NULL;
	unsigned char *want;
	byte_sum b;
	size_t len;
	unsigned long sum = 0;

	(void)state;
	assert_non_null(f);
	t = &pt_dump_value(f)->u.tensor;
	len = (size_t)t->numel * dv_dtype_size(t->dtype);
	want = malloc(len);
	assert_non_null(want);
	assert_int_equal(pt_tensor_read(f, t, 0, t->numel, want, &err), 0);
	for (size_t i = 0; i < len; i++)
		sum += want[i];
	/* a 1 MiB stored record in a file too big to be held in memory */
	assert_int_equal(pt_tensor_map(f, t, 0, t->numel, &p, &err), 1);
	b = (byte_sum){p, len, 0};
	assert_int_equal(pt_map_guarded(byte_sum_fn, &b), 0);
	assert_int_equal(b.sum, sum);
	assert_false(pt_map_faulted(f));
	assert_int_equal(truncate(path, 1000), 0);
	assert_int_equal(pt_map_guarded(byte_sum_fn, &b), -1);
	assert_true(pt_map_faulted(f));
	/* a range the window did not cover: mapped anew, faults the same */
	assert_int_equal(pt_tensor_map(f, t, t->numel - 10, 10, &p, &err), 1);
	b = (byte_sum){p, 20, 0};
	assert_int_equal(pt_map_guarded(byte_sum_fn, &b), -1);
	/* and the next guarded call that does not fault succeeds */
	b = (byte_sum){want, len, 0};
	assert_int_equal(pt_map_guarded(byte_sum_fn, &b), 0);
	assert_int_equal(b.sum, sum);
	free(want);
	pt_close(f);
	remove_tmp(dir);
}

/* Windows of a caller's own (one a thread): each maps exactly its range,
 * reads the same bytes as pt_tensor_read, and a file cut short faults in
 * the window that touched it, named by pt_map_win_faulted. */
static void test_mapped_windows_truncated(void **state)
{
	char dir[4096];
	const char *path = copy_to_tmp("pt-corpus/shape_large.pt", dir, sizeof(dir));
	dv_error err;
	pt_file *f = pt_open(path, &err);
	const pt_tensor *t;
	const void *p1 = NULL, *p2 = NULL;
	pt_map_win w1 = { 0 }, w2 = { 0 };
	unsigned char *want;
	size_t isz, half;
	byte_sum b;
	unsigned long s1 = 0, s2 = 0;

	(void)state;
	assert_non_null(f);
	t = &pt_dump_value(f)->u.tensor;
	isz = dv_dtype_size(t->dtype);
	half = (size_t)t->numel / 2;
	want = malloc((size_t)t->numel * isz);
	assert_non_null(want);
	assert_int_equal(pt_tensor_read(f, t, 0, t->numel, want, &err), 0);
	for (size_t i = 0; i < half * isz; i++)
		s1 += want[i];
	for (size_t i = half * isz; i < (size_t)t->numel * isz; i++)
		s2 += want[i];
	assert_int_equal(pt_tensor_map_win(f, t, &w1, 0, (int64_t)half, &p1, &err), 1);
	assert_int_equal(pt_tensor_map_win(f, t, &w2, (int64_t)half, t->numel - (int64_t)half, &p2, &err), 1);
	/* exactly the range asked, whole pages: not a window more */
	assert_true(w1.len < (uint64_t)t->numel * isz);
	b = (byte_sum){ p1, half * isz, 0 };
	assert_int_equal(pt_map_guarded(byte_sum_fn, &b), 0);
	assert_int_equal(b.sum, s1);
	b = (byte_sum){ p2, ((size_t)t->numel - half) * isz, 0 };
	assert_int_equal(pt_map_guarded(byte_sum_fn, &b), 0);
	assert_int_equal(b.sum, s2);
	/* out of range: an error naming the file */
	assert_int_equal(pt_tensor_map_win(f, t, &w1, t->numel - 1, 2, &p1, &err), -1);
	assert_non_null(strstr(err.msg, "live.pt"));
	assert_int_equal(pt_tensor_map_win(f, t, &w1, 0, (int64_t)half, &p1, &err), 1);
	assert_int_equal(truncate(path, 1000), 0);
	b = (byte_sum){ p2, ((size_t)t->numel - half) * isz, 0 };
	assert_int_equal(pt_map_guarded(byte_sum_fn, &b), -1);
	assert_true(pt_map_win_faulted(&w2));
	assert_false(pt_map_win_faulted(&w1));
	pt_map_win_drop(&w1);
	pt_map_win_drop(&w2);
	assert_null(w1.map);
	free(want);
	pt_close(f);
	remove_tmp(dir);
}

/* A virtual tensor over n opens of one file (distinct handles: each maps
 * its own window): op over all of them, or the file alone (n = 1). */
static dv_vtensor *vt_over(pt_file **f, size_t n, dv_unshard_op_kind op, dv_vsource *src, dv_vsource_pt_ctx *ctx,
			   dv_error *err)
{
	const pt_tensor *t = &pt_dump_value(f[0])->u.tensor;
	size_t gs[2] = {0, n}, members[8];
	dv_unshard_op o;
	dv_unshard_plan plan;

	memset(&o, 0, sizeof(o));
	memset(&plan, 0, sizeof(plan));
	for (size_t k = 0; k < n; k++) {
		members[k] = k;
		dv_vsource_pt(&src[k], &ctx[k], f[k], &pt_dump_value(f[k])->u.tensor);
	}
	o.kind = op;
	o.dim = op == DV_OP_CONCAT ? t->ndim - 1 : -1;
	o.nin = n;
	o.nout = 1;
	o.group_start = gs;
	o.members = members;
	o.ndim = t->ndim;
	memcpy(o.in_shape, t->shape, sizeof(o.in_shape));
	memcpy(o.out_shape, t->shape, sizeof(o.out_shape));
	plan.nshards = n;
	plan.ops = n > 1 ? &o : NULL;
	plan.nops = n > 1;
	plan.ndim = t->ndim;
	memcpy(plan.shape, t->shape, sizeof(plan.shape));
	if (op == DV_OP_CONCAT)
		plan.shape[t->ndim - 1] *= (int64_t)n;
	return dv_vtensor_open(&plan, src, n, NULL, err);
}

/* The unsharding reads (a shard, a partial sum, replicated copies) of files
 * cut short while mapped: each fails with the file named, nothing crashes. */
static void test_vtensor_truncated(void **state)
{
	static const dv_unshard_op_kind ops[] = {DV_OP_CONCAT, DV_OP_REDUCE_SUM, DV_OP_PICK};
	char dir[4096];

	(void)state;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		const char *path = copy_to_tmp("pt-corpus/shape_large.pt", dir, sizeof(dir));
		size_t n = ops[i] == DV_OP_CONCAT ? 1 : 3;
		pt_file *f[3];
		dv_vsource src[3];
		dv_vsource_pt_ctx ctx[3];
		dv_error err;
		dv_vtensor *vt;
		float *x = malloc(4096 * sizeof(float));
		int rc = 0;

		assert_non_null(x);
		for (size_t k = 0; k < n; k++) {
			f[k] = pt_open(path, &err);
			assert_non_null(f[k]);
		}
		vt = vt_over(f, n, ops[i], src, ctx, &err);
		if (!vt)
			fail_msg("%s", err.msg);
		/* the first chunk maps and reads */
		assert_int_equal(dv_vtensor_read_f32(vt, 0, 4096, x, &err), 0);
		assert_int_equal(truncate(path, 1000), 0);
		err.msg[0] = '\0';
		if (ops[i] == DV_OP_PICK) {
			dv_replicated_result *r = NULL;
			size_t nr = 0;

			rc = dv_vtensor_checks(vt, &r, &nr, &err);
			free(r);
		} else {
			rc = dv_vtensor_read_f32(vt, 8192, 4096, x, &err);
		}
		assert_int_equal(rc, -1);
		assert_non_null(strstr(err.msg, "live.pt"));
		assert_non_null(strstr(err.msg, "changed while being read"));
		dv_vtensor_close(vt);
		for (size_t k = 0; k < n; k++)
			pt_close(f[k]);
		free(x);
		remove_tmp(dir);
	}
}

extern size_t pt_map_budget;

/* Reads of the whole tensor through op over three opens of the file, as
 * float32, as stored bytes where the tensor has them, and its replicated
 * checks. */
static int64_t vt_read_all(const char *path, dv_unshard_op_kind op, float *x, uint16_t *raw, size_t *nchecks)
{
	pt_file *f[3];
	dv_vsource src[3];
	dv_vsource_pt_ctx ctx[3];
	dv_replicated_result *r = NULL;
	dv_error err;
	dv_vtensor *vt;
	int64_t n;

	for (size_t k = 0; k < 3; k++) {
		f[k] = pt_open(path, &err);
		assert_non_null(f[k]);
	}
	vt = vt_over(f, 3, op, src, ctx, &err);
	assert_non_null(vt);
	n = dv_vtensor_numel(vt);
	for (int64_t s = 0; s < n; s += 3000)
		assert_int_equal(dv_vtensor_read_f32(vt, s, n - s < 3000 ? n - s : 3000, x + s, &err), 0);
	assert_true(dv_vtensor_has_raw(vt));
	for (int64_t s = 0; s < n; s += 70000)
		assert_int_equal(dv_vtensor_read_raw(vt, s, n - s < 70000 ? n - s : 70000, raw + s, &err), 0);
	assert_int_equal(dv_vtensor_checks(vt, &r, nchecks, &err), 0);
	for (size_t i = 0; i < *nchecks; i++) {
		assert_true(r[i].passed);
		assert_int_equal(r[i].diff.n, n);
		assert_int_equal(r[i].diff.max_index, 0);
	}
	free(r);
	dv_vtensor_close(vt);
	for (size_t k = 0; k < 3; k++)
		pt_close(f[k]);
	return n;
}

/* Mapped reads give what reads through pread give: with the mapping budget
 * at 0 nothing is mapped. */
static void test_vtensor_mapped_equals_read(void **state)
{
	static const dv_unshard_op_kind ops[] = {DV_OP_CONCAT, DV_OP_REDUCE_SUM, DV_OP_PICK};
	char dir[4096];
	const char *path = copy_to_tmp("pt-corpus/shape_large.pt", dir, sizeof(dir));
	size_t budget = pt_map_budget, numel = 3 * 512 * 1024;
	float *x[2];
	uint16_t *raw[2];

	(void)state;
	for (int m = 0; m < 2; m++) {
		x[m] = malloc(numel * sizeof(float));
		raw[m] = malloc(numel * sizeof(uint16_t));
		assert_non_null(x[m]);
		assert_non_null(raw[m]);
	}
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		size_t nchecks[2];
		int64_t n[2];

		for (int m = 0; m < 2; m++) {
			pt_map_budget = m ? 0 : budget;
			n[m] = vt_read_all(path, ops[i], x[m], raw[m], &nchecks[m]);
		}
		pt_map_budget = budget;
		assert_int_equal(n[0], n[1]);
		assert_true((size_t)n[0] <= numel);
		assert_int_equal(nchecks[0], nchecks[1]);
		assert_int_equal(nchecks[0], ops[i] == DV_OP_PICK ? 2 : 0);
		assert_memory_equal(x[0], x[1], (size_t)n[0] * sizeof(float));
		assert_memory_equal(raw[0], raw[1], (size_t)n[0] * sizeof(uint16_t));
	}
	for (int m = 0; m < 2; m++) {
		free(x[m]);
		free(raw[m]);
	}
	remove_tmp(dir);
}

/* A virtual tensor as the stream the comparison reads (as logical.c
 * builds it): stored bytes, read in place where they map. */
static int vs_read_f32(void *ctx, int64_t start, int64_t count, float *out, dv_error *err)
{
	return dv_vtensor_read_f32(ctx, start, count, out, err);
}

static int vs_read_raw(void *ctx, int64_t start, int64_t count, void *out, dv_error *err)
{
	return dv_vtensor_read_raw(ctx, start, count, out, err);
}

static int vs_map_raw(void *ctx, int64_t start, int64_t count, dv_raw_run *runs, size_t max, size_t *nruns,
		      dv_error *err)
{
	return dv_vtensor_map_raw(ctx, start, count, runs, max, nruns, err);
}

static int vs_map_fault(void *ctx, dv_error *err)
{
	return dv_vtensor_map_fault(ctx, err);
}

static void vt_stream(dv_stream *st, dv_vtensor *vt)
{
	memset(st, 0, sizeof(*st));
	st->dtype = dv_vtensor_dtype(vt);
	st->ndim = dv_vtensor_ndim(vt);
	memcpy(st->shape, dv_vtensor_shape(vt), sizeof(int64_t) * (size_t)st->ndim);
	st->read_f32 = vs_read_f32;
	st->read_raw = vs_read_raw;
	st->map_raw = vs_map_raw;
	st->map_fault = vs_map_fault;
	st->ctx = vt;
	st->name = "live";
}

/* dv_vtensor_map_raw: a lone shard and a kept replica are mapped as one
 * run, a concat as runs of its shards, each with the bytes
 * dv_vtensor_read_raw gives; a sum is not; nothing with no budget. */
static void test_vtensor_map_raw(void **state)
{
	static const dv_unshard_op_kind ops[] = {DV_OP_CONCAT, DV_OP_PICK, DV_OP_REDUCE_SUM, DV_OP_CONCAT};
	char dir[4096];
	const char *path = copy_to_tmp("pt-corpus/shape_large.pt", dir, sizeof(dir));
	size_t budget = pt_map_budget;
	uint16_t *raw = malloc(70000 * sizeof(uint16_t)), *got = malloc(70000 * sizeof(uint16_t));

	(void)state;
	assert_non_null(raw);
	assert_non_null(got);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		for (int m = 0; m < 2; m++) {
			/* the first concat of one shard (a lone shard), the last of three */
			size_t n = ops[i] == DV_OP_CONCAT && i == 0 ? 1 : 3;
			pt_file *f[3];
			dv_vsource src[3];
			dv_vsource_pt_ctx ctx[3];
			dv_error err;
			dv_vtensor *vt;
			dv_raw_run runs[256];
			size_t nruns = 0, at = 0;
			int want = m == 0 && ops[i] != DV_OP_REDUCE_SUM;

			pt_map_budget = m ? 0 : budget;
			for (size_t k = 0; k < n; k++) {
				f[k] = pt_open(path, &err);
				assert_non_null(f[k]);
			}
			vt = vt_over(f, n, ops[i], src, ctx, &err);
			assert_non_null(vt);
			assert_int_equal(dv_vtensor_map_raw(vt, 65536, 70000, runs, 256, &nruns, &err), want);
			if (want) {
				assert_int_equal(nruns, ops[i] == DV_OP_CONCAT && n == 3 ? 70000 / 1024 + 1 : 1);
				assert_int_equal(dv_vtensor_read_raw(vt, 65536, 70000, raw, &err), 0);
				for (size_t r = 0; r < nruns; r++) {
					assert_true(runs[r].n > 0 && at + (size_t)runs[r].n <= 70000);
					memcpy(got + at, runs[r].p, (size_t)runs[r].n * sizeof(uint16_t));
					at += (size_t)runs[r].n;
				}
				assert_int_equal(at, 70000);
				assert_memory_equal(got, raw, 70000 * sizeof(uint16_t));
				/* more runs than allowed: not mapped */
				if (nruns > 1)
					assert_int_equal(dv_vtensor_map_raw(vt, 65536, 70000, runs, 4, &nruns, &err), 0);
			}
			/* past the end: not mapped, the read reports it */
			assert_int_equal(dv_vtensor_map_raw(vt, dv_vtensor_numel(vt) - 10, 20, runs, 256, &nruns, &err),
					 0);
			assert_int_equal(dv_vtensor_map_fault(vt, &err), 0);
			dv_vtensor_close(vt);
			for (size_t k = 0; k < n; k++)
				pt_close(f[k]);
		}
	}
	pt_map_budget = budget;
	free(raw);
	free(got);
	remove_tmp(dir);
}

/* Two lone shards compared as streams: the bf16 pass reads them in place
 * (mapped) and gives what it gives from pread copies (budget 0). */
static void compare_live(const char *path, size_t budget, dv_pair_result *r, dv_metrics_opts *o, dv_error *err,
			 int *rc)
{
	pt_file *f[2];
	dv_vsource src[2];
	dv_vsource_pt_ctx ctx[2];
	dv_vtensor *vt[2];
	dv_stream st[2];
	size_t saved = pt_map_budget;

	pt_map_budget = budget;
	for (int k = 0; k < 2; k++) {
		f[k] = pt_open(path, err);
		assert_non_null(f[k]);
		vt[k] = vt_over(&f[k], 1, DV_OP_CONCAT, &src[k], &ctx[k], err);
		assert_non_null(vt[k]);
		vt_stream(&st[k], vt[k]);
	}
	*rc = dv_compare_streams(&st[0], &st[1], o, r, err);
	for (int k = 0; k < 2; k++) {
		dv_vtensor_close(vt[k]);
		pt_close(f[k]);
	}
	pt_map_budget = saved;
}

static void test_stream_compare_mapped(void **state)
{
	char dir[4096];
	const char *path = copy_to_tmp("pt-corpus/shape_large.pt", dir, sizeof(dir));
	dv_metrics_opts o = dv_metrics_opts_default();
	dv_pair_result r[2];
	dv_error err;
	int rc;

	(void)state;
	for (int m = 0; m < 2; m++) {
		dv_result_reset(&r[m]);
		compare_live(path, m ? 0 : pt_map_budget, &r[m], &o, &err, &rc);
		assert_int_equal(rc, 0);
		assert_int_equal(r[m].status, DV_RESULT_COMPARED);
	}
	assert_int_equal(r[0].numel, 512 * 1024);
	assert_true(r[0].passed && r[1].passed);
	assert_int_equal(r[0].identical, r[1].identical);
	assert_memory_equal(&r[0].rel_diff, &r[1].rel_diff, sizeof(double));
	assert_memory_equal(&r[0].max_abs_diff, &r[1].max_abs_diff, sizeof(double));
	assert_memory_equal(&r[0].mean_abs_diff, &r[1].mean_abs_diff, sizeof(double));
	assert_int_equal(r[0].max_abs_diff_index, r[1].max_abs_diff_index);
	assert_memory_equal(&r[0].base_stats, &r[1].base_stats, sizeof(dv_stats));
	assert_memory_equal(&r[0].targ_stats, &r[1].targ_stats, sizeof(dv_stats));
	for (int m = 0; m < 2; m++)
		dv_pair_result_free(&r[m]);
	remove_tmp(dir);
}

/* The file cut short after the first chunk, while the bf16 pass reads it in
 * place: the comparison fails naming the file; nothing crashes. */
static void truncate_once(void *ctx, int64_t done, int64_t total)
{
	const char **path = ctx;

	(void)done;
	(void)total;
	if (*path) {
		assert_int_equal(truncate(*path, 1000), 0);
		*path = NULL;
	}
}

static void test_stream_compare_truncated(void **state)
{
	char dir[4096];
	const char *path = copy_to_tmp("pt-corpus/shape_large.pt", dir, sizeof(dir)), *cut = path;
	dv_metrics_opts o = dv_metrics_opts_default();
	dv_pair_result r;
	dv_error err;
	int rc;

	(void)state;
	o.progress = truncate_once;
	o.progress_ctx = &cut;
	dv_result_reset(&r);
	err.msg[0] = '\0';
	compare_live(path, pt_map_budget, &r, &o, &err, &rc);
	assert_null(cut);
	assert_int_equal(rc, -1);
	assert_int_equal(r.status, DV_RESULT_ERROR);
	assert_non_null(strstr(err.msg, "live.pt"));
	assert_non_null(strstr(err.msg, "changed while being read"));
	dv_pair_result_free(&r);
	remove_tmp(dir);
}

/* dir/other.pt: live.pt with its last element's lowest bit flipped. */
static const char *write_other(const char *path, const char *dir)
{
	static char opath[4200];
	unsigned char *data, *at;
	uint16_t tail[8];
	size_t len;
	dv_error err;
	pt_file *f = pt_open(path, &err);
	const pt_tensor *t;

	assert_non_null(f);
	t = &pt_dump_value(f)->u.tensor;
	assert_int_equal(pt_tensor_read(f, t, t->numel - 8, 8, tail, &err), 0);
	pt_close(f);
	data = slurp(path, &len);
	at = memmem(data, len, tail, sizeof(tail));
	assert_non_null(at);
	at[14] ^= 1;
	snprintf(opath, sizeof(opath), "%s/other.pt", dir);
	spit(opath, data, len);
	free(data);
	return opath;
}

/* The replicated checks of a kept copy against two others (one differing
 * in its last element), after the stream read the kept copy in place from
 * the start (its copies compared on the way), out of order (they are read
 * by the checks then), or not at all: the same results. */
static void run_checks(const char *const *paths, int reads, dv_replicated_result **r, size_t *nr)
{
	pt_file *f[3];
	dv_vsource src[3];
	dv_vsource_pt_ctx ctx[3];
	dv_error err;
	dv_vtensor *vt;

	for (size_t k = 0; k < 3; k++) {
		f[k] = pt_open(paths[k], &err);
		assert_non_null(f[k]);
	}
	vt = vt_over(f, 3, DV_OP_PICK, src, ctx, &err);
	assert_non_null(vt);
	if (reads) {
		int64_t n = dv_vtensor_numel(vt), first = reads == 2 ? 65536 : 0;

		for (int64_t s = first; s < n; s += 65536) {
			dv_raw_run run;
			size_t nruns;

			assert_int_equal(dv_vtensor_map_raw(vt, s, n - s < 65536 ? n - s : 65536, &run, 1, &nruns, &err),
					 1);
		}
	}
	assert_int_equal(dv_vtensor_checks(vt, r, nr, &err), 0);
	dv_vtensor_close(vt);
	for (size_t k = 0; k < 3; k++)
		pt_close(f[k]);
}

static void test_checks_fused(void **state)
{
	char dir[4096];
	const char *path = copy_to_tmp("pt-corpus/shape_large.pt", dir, sizeof(dir));
	const char *paths[3] = {path, write_other(path, dir), path};
	dv_replicated_result *r[3];
	size_t nr[3];

	(void)state;
	for (int m = 0; m < 3; m++)
		run_checks(paths, m, &r[m], &nr[m]);
	for (int m = 1; m < 3; m++) {
		assert_int_equal(nr[m], 2);
		for (size_t i = 0; i < 2; i++) {
			assert_int_equal(r[m][i].passed, r[0][i].passed);
			assert_int_equal(r[m][i].compared_shard, r[0][i].compared_shard);
			assert_int_equal(r[m][i].diff.n, r[0][i].diff.n);
			assert_int_equal(r[m][i].diff.max_index, r[0][i].diff.max_index);
			assert_memory_equal(&r[m][i].diff.max_abs, &r[0][i].diff.max_abs, sizeof(float));
			assert_memory_equal(&r[m][i].diff.norm, &r[0][i].diff.norm, sizeof(double));
			assert_memory_equal(&r[m][i].diff.dot, &r[0][i].diff.dot, sizeof(double));
		}
	}
	/* the differing copy: found in its last element, not passed over */
	assert_int_equal(r[0][0].diff.max_index, 512 * 1024 - 1);
	assert_true(r[0][0].diff.max_abs > 0);
	assert_int_equal(r[0][1].diff.max_abs, 0);
	for (int m = 0; m < 3; m++)
		free(r[m]);
	remove_tmp(dir);
}

/* A copy cut short while the stream reads the kept one in place: that read
 * fails naming the file. */
static void test_checks_fused_truncated(void **state)
{
	char dir[4096];
	const char *path = copy_to_tmp("pt-corpus/shape_large.pt", dir, sizeof(dir));
	const char *other = write_other(path, dir);
	pt_file *f[3];
	dv_vsource src[3];
	dv_vsource_pt_ctx ctx[3];
	dv_error err;
	dv_vtensor *vt;
	dv_raw_run run;
	size_t nruns;

	(void)state;
	f[0] = pt_open(path, &err);
	f[1] = pt_open(path, &err);
	f[2] = pt_open(other, &err);
	assert_true(f[0] && f[1] && f[2]);
	vt = vt_over(f, 3, DV_OP_PICK, src, ctx, &err);
	assert_non_null(vt);
	assert_int_equal(dv_vtensor_map_raw(vt, 0, 65536, &run, 1, &nruns, &err), 1);
	assert_int_equal(truncate(other, 1000), 0);
	err.msg[0] = '\0';
	assert_int_equal(dv_vtensor_map_raw(vt, 65536, 65536, &run, 1, &nruns, &err), -1);
	assert_non_null(strstr(err.msg, "other.pt"));
	assert_non_null(strstr(err.msg, "changed while being read"));
	dv_vtensor_close(vt);
	for (size_t k = 0; k < 3; k++)
		pt_close(f[k]);
	remove_tmp(dir);
}

/* A bf16 sum of n shares read in place (four shares a pass, eight in one)
 * gives the bytes of the sum read through pread (budget 0). */
static void test_sum_mapped_counts(void **state)
{
	static const size_t counts[] = {1, 2, 3, 4, 5, 7, 8};
	char dir[4096];
	const char *path = copy_to_tmp("pt-corpus/shape_large.pt", dir, sizeof(dir));
	size_t budget = pt_map_budget, numel = 512 * 1024;
	uint16_t *raw[2];

	(void)state;
	for (int m = 0; m < 2; m++) {
		raw[m] = malloc(numel * sizeof(uint16_t));
		assert_non_null(raw[m]);
	}
	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		for (int m = 0; m < 2; m++) {
			size_t n = counts[c];
			pt_file *f[8];
			dv_vsource src[8];
			dv_vsource_pt_ctx ctx[8];
			dv_error err;
			dv_vtensor *vt;

			pt_map_budget = m ? 0 : budget;
			for (size_t k = 0; k < n; k++) {
				f[k] = pt_open(path, &err);
				assert_non_null(f[k]);
			}
			vt = vt_over(f, n, DV_OP_REDUCE_SUM, src, ctx, &err);
			assert_non_null(vt);
			assert_int_equal(dv_vtensor_numel(vt), (int64_t)numel);
			for (size_t s = 0; s < numel; s += 70000)
				assert_int_equal(dv_vtensor_read_raw(vt, (int64_t)s, numel - s < 70000 ? (int64_t)(numel - s) : 70000,
								     raw[m] + s, &err),
						 0);
			dv_vtensor_close(vt);
			for (size_t k = 0; k < n; k++)
				pt_close(f[k]);
		}
		assert_memory_equal(raw[0], raw[1], numel * sizeof(uint16_t));
	}
	pt_map_budget = budget;
	for (int m = 0; m < 2; m++)
		free(raw[m]);
	remove_tmp(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stored_truncated),
		cmocka_unit_test(test_deflated_truncated),
		cmocka_unit_test(test_legacy_truncated),
		cmocka_unit_test(test_replaced),
		cmocka_unit_test(test_overwritten),
		cmocka_unit_test(test_mapped_truncated),
		cmocka_unit_test(test_mapped_windows_truncated),
		cmocka_unit_test(test_vtensor_truncated),
		cmocka_unit_test(test_vtensor_mapped_equals_read),
		cmocka_unit_test(test_vtensor_map_raw),
		cmocka_unit_test(test_stream_compare_mapped),
		cmocka_unit_test(test_stream_compare_truncated),
		cmocka_unit_test(test_checks_fused),
		cmocka_unit_test(test_checks_fused_truncated),
		cmocka_unit_test(test_sum_mapped_counts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
