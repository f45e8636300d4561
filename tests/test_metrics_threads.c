/* One pair on several threads: every metric, statistic, quantile and
 * histogram bit for bit the same for 1, 2, 3 and 8 threads and the pool, on
 * odd-sized tensors (a short last chunk) of every fast path: bf16 against
 * bf16 (raw histograms), float32 (general path, both quantile passes),
 * float32 against bf16 (the downcast metrics), float16. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dumpview/metrics.h"
#include "../src/metrics/internal.h"
#include "pt_writer.h"

static uint64_t rng_state;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* roughly normal, scaled */
static float gauss(float scale)
{
	double s = 0;

	for (int i = 0; i < 4; i++)
		s += (double)(rng() >> 11) / 9007199254740992.0 - 0.5;
	return (float)(s * scale);
}

static void store(dv_dtype dt, void *buf, int64_t i, float v)
{
	if (dt == DV_FLOAT32)
		((float *)buf)[i] = v;
	else if (dt == DV_BFLOAT16)
		((uint16_t *)buf)[i] = dv_f32_to_bf16(v);
	else {
		_Float16 h = (_Float16)v;

		memcpy((uint16_t *)buf + i, &h, 2);
	}
}

enum { PLAIN, SPECIALS, TIES };

/* A pair of n elements: the target a perturbed baseline; SPECIALS puts
 * Inf and NaN in late chunks, TIES the same max |t-b| in several chunks. */
static void make_pair(dv_dtype bt, dv_dtype tt, int64_t n, int kind, void **b, void **t)
{
	*b = malloc((size_t)n * 4);
	*t = malloc((size_t)n * 4);
	assert_non_null(*b);
	assert_non_null(*t);
	for (int64_t i = 0; i < n; i++) {
		float v = gauss(2.0f), w = v + gauss(1e-2f) * (i % 7 == 0);

		if (kind == TIES && i % 100003 == 5)
			w = v + 64.0f;
		store(bt, *b, i, v);
		store(tt, *t, i, w);
	}
	if (kind == SPECIALS) {
		store(bt, *b, n - 70000, INFINITY);
		store(tt, *t, n - 3, NAN);
	}
}

static void check_invariant(dv_dtype bt, dv_dtype tt, int64_t n, int kind, bool percentiles)
{
	dv_tensor_desc bd = { .dtype = bt, .ndim = 2, .shape = { 1, n } };
	dv_tensor_desc td = { .dtype = tt, .ndim = 1, .shape = { n } };
	dv_metrics_opts o = dv_metrics_opts_default();
	dv_pair_result ref, r;
	void *b, *t;
	static const int threads[] = { 2, 3, 8, 0 };

	rng_state = 0x9e3779b97f4a7c15ull ^ (uint64_t)n ^ ((uint64_t)kind << 40);
	make_pair(bt, tt, n, kind, &b, &t);
	o.percentiles = percentiles;
	o.threads = 1;
	assert_int_equal(dv_compare_buffers(&bd, b, &td, t, &o, &ref, NULL), 0);
	assert_int_equal(ref.status, DV_RESULT_COMPARED);
	for (size_t k = 0; k < sizeof(threads) / sizeof(threads[0]); k++) {
		o.threads = threads[k];
		assert_int_equal(dv_compare_buffers(&bd, b, &td, t, &o, &r, NULL), 0);
		if (memcmp(&ref, &r, sizeof(r)) != 0) {
			print_error("%s/%s n=%lld kind %d threads %d: rel %.17g/%.17g max %.9g@%lld/%.9g@%lld "
				    "mean %.17g/%.17g std %.17g/%.17g p50 %.9g/%.9g\n",
				    dv_dtype_name(bt), dv_dtype_name(tt), (long long)n, kind, threads[k], ref.rel_diff,
				    r.rel_diff, ref.max_abs_diff, (long long)ref.max_abs_diff_index, r.max_abs_diff,
				    (long long)r.max_abs_diff_index, ref.base_stats.mean, r.base_stats.mean,
				    ref.targ_stats.std, r.targ_stats.std, ref.targ_stats.p[2], r.targ_stats.p[2]);
			fail();
		}
	}
	free(b);
	free(t);
}

/* 5 full chunks and a short one; 20 and a bit; percentiles on and off */
#define N_ODD (5 * DV_CHUNK + 12345)
#define N_BIG (20 * DV_CHUNK + 777)

static void test_bf16(void **state)
{
	(void)state;
	check_invariant(DV_BFLOAT16, DV_BFLOAT16, N_ODD, PLAIN, true);
	check_invariant(DV_BFLOAT16, DV_BFLOAT16, N_BIG, TIES, true);
	check_invariant(DV_BFLOAT16, DV_BFLOAT16, N_ODD, SPECIALS, true);
}

static void test_f32(void **state)
{
	(void)state;
	check_invariant(DV_FLOAT32, DV_FLOAT32, N_ODD, PLAIN, true);
	check_invariant(DV_FLOAT32, DV_FLOAT32, N_BIG, TIES, true);
	check_invariant(DV_FLOAT32, DV_FLOAT32, N_BIG, PLAIN, false);
	check_invariant(DV_FLOAT32, DV_FLOAT32, N_ODD, SPECIALS, true);
	/* the pool (threads 0) really has its helpers: one a usable CPU but
	 * one (a helper that could not start, as with a stack too small for
	 * the thread-local tables, left every large pair on one core) */
	if (dv_par_cpus() >= 2)
		assert_int_equal(dv_par_pool_helpers(), dv_par_cpus() - 1);
}

static void test_f32_bf16(void **state)
{
	(void)state;
	check_invariant(DV_FLOAT32, DV_BFLOAT16, N_ODD, PLAIN, true);
	check_invariant(DV_BFLOAT16, DV_FLOAT32, N_BIG, TIES, true);
	check_invariant(DV_FLOAT32, DV_BFLOAT16, N_ODD, SPECIALS, true);
}

static void test_f16(void **state)
{
	(void)state;
	check_invariant(DV_FLOAT16, DV_FLOAT16, N_ODD, PLAIN, true);
	check_invariant(DV_FLOAT16, DV_FLOAT32, N_ODD, TIES, true);
}

/* Two details the same to the bit: every count, the heat map's values. */
/* Readers of two in-memory sides of n elements: the sources, their
 * contexts and the readers, opened and closed together. */
typedef struct mem_pair {
	dv_src bs, ts;
	dv_mem_src_ctx bc, tc;
	dv_reader br, tr;
} mem_pair;

static void mem_pair_open(mem_pair *m, dv_dtype bt, dv_dtype tt, int64_t n, const void *b, const void *t)
{
	dv_src_mem(&m->bs, &m->bc, bt, n, b, "b");
	dv_src_mem(&m->ts, &m->tc, tt, n, t, "t");
	assert_int_equal(dv_reader_init(&m->br, &m->bs, NULL), 0);
	assert_int_equal(dv_reader_init(&m->tr, &m->ts, NULL), 0);
}

static void mem_pair_close(mem_pair *m)
{
	dv_reader_free(&m->br);
	dv_reader_free(&m->tr);
}

static void assert_detail_same(dv_pair_detail *d, dv_pair_detail *ref)
{
	double *h = d->heat, *rh = ref->heat;

	assert_int_equal(d->heat_rows, ref->heat_rows);
	assert_int_equal(d->heat_cols, ref->heat_cols);
	if (ref->heat)
		assert_memory_equal(d->heat, ref->heat, (size_t)ref->heat_rows * ref->heat_cols * sizeof(double));
	d->heat = ref->heat = NULL;
	assert_memory_equal(d, ref, sizeof(*d));
	d->heat = h;
	ref->heat = rh;
}

/* ---- the same over files, read in place ----
 * A large stored pair is read by each thread through its own mapped
 * windows (pt_tensor_map_win): the results must equal those of the same
 * elements from memory, on one thread, bit for bit. */
static void write_pt(const char *path, dv_dtype dt, uint32_t rows, uint32_t cols, const void *data)
{
	uint8_t pkl[512];
	size_t n = pt_writer_pickle(pkl, dt == DV_FLOAT32 ? "FloatStorage" : "BFloat16Storage", rows * cols, 0, rows,
				    cols, cols, 1);

	pt_writer_zip(path, pkl, n, data, (size_t)rows * cols * dv_dtype_size(dt), false);
}

static void check_mapped(dv_dtype dt, uint32_t rows, uint32_t cols, int kind)
{
	int64_t n = (int64_t)rows * cols;
	dv_tensor_desc td = { .dtype = dt, .ndim = 2, .shape = { rows, cols } };
	dv_metrics_opts o = dv_metrics_opts_default();
	dv_pair_result ref, r;
	dv_pair_detail dref, d;
	mem_pair m;
	dv_error err;
	void *b, *t;
	char bpath[4096], tpath[4096];
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	static const int threads[] = { 1, 2, 3, 8, 0 };

	rng_state = 0x2545f4914f6cdd1dull ^ (uint64_t)n ^ ((uint64_t)kind << 40);
	make_pair(dt, dt, n, kind, &b, &t);
	snprintf(bpath, sizeof(bpath), "%s/dv_mapped_%d_b.pt", dir, (int)getpid());
	snprintf(tpath, sizeof(tpath), "%s/dv_mapped_%d_t.pt", dir, (int)getpid());
	write_pt(bpath, dt, rows, cols, b);
	write_pt(tpath, dt, rows, cols, t);
	o.threads = 1;
	assert_int_equal(dv_compare_buffers(&td, b, &td, t, &o, &ref, NULL), 0);
	assert_int_equal(ref.status, DV_RESULT_COMPARED);
	mem_pair_open(&m, dt, dt, n, b, t);
	assert_int_equal(dv_detail_readers(&m.br, &m.tr, &td, n, 3, 50, &o, &dref, NULL), 0);
	for (size_t k = 0; k < sizeof(threads) / sizeof(threads[0]); k++) {
		o.threads = threads[k];
		assert_int_equal(dv_compare_files(bpath, tpath, &o, &r), 0);
		if (memcmp(&ref, &r, sizeof(r)) != 0) {
			print_error("%s mapped kind %d threads %d: rel %.17g/%.17g max %.9g@%lld/%.9g@%lld "
				    "mean %.17g/%.17g\n", dv_dtype_name(dt), kind, threads[k], ref.rel_diff, r.rel_diff,
				    ref.max_abs_diff, (long long)ref.max_abs_diff_index, r.max_abs_diff,
				    (long long)r.max_abs_diff_index, ref.base_stats.mean, r.base_stats.mean);
			fail();
		}
		/* the detail too, with and without the comparison's ranges */
		o.known = k % 2 ? &r : NULL;
		if (dv_pair_detail_compute(bpath, tpath, 3, 50, &o, &d, &err) < 0)
			fail_msg("%s", err.msg);
		o.known = NULL;
		assert_detail_same(&d, &dref);
		dv_pair_detail_free(&d);
	}
	dv_pair_detail_free(&dref);
	mem_pair_close(&m);
	unlink(bpath);
	unlink(tpath);
	free(b);
	free(t);
}

/* fp32: 2 MiB windows of 8 chunks, bf16 of 16; both odd-sized, many
 * windows and a short last one */
static void test_mapped_files(void **state)
{
	(void)state;
	check_mapped(DV_FLOAT32, 613, 2011, PLAIN);
	check_mapped(DV_FLOAT32, 613, 2011, SPECIALS);
	check_mapped(DV_BFLOAT16, 1171, 2003, PLAIN);
	check_mapped(DV_BFLOAT16, 1171, 2003, TIES);
}

/* The detail pane's histograms and heat map: the same for any thread count. */
static void check_detail(dv_dtype dt, int ndim, int64_t rows, int64_t cols, int kind)
{
	int64_t n = rows * cols;
	dv_tensor_desc td = { .dtype = dt, .ndim = ndim, .shape = { rows, cols } };
	dv_metrics_opts o = dv_metrics_opts_default();
	dv_pair_detail ref, d;
	mem_pair m;
	void *b, *t;
	static const int threads[] = { 2, 3, 8, 0 };

	if (ndim == 1)
		td.shape[0] = n;
	rng_state = 0x51ed270b27ce4d2bull ^ (uint64_t)n;
	make_pair(dt, dt, n, kind, &b, &t);
	mem_pair_open(&m, dt, dt, n, b, t);
	o.threads = 1;
	assert_int_equal(dv_detail_readers(&m.br, &m.tr, &td, n, 13, 50, &o, &ref, NULL), 0);
	for (size_t k = 0; k < sizeof(threads) / sizeof(threads[0]); k++) {
		o.threads = threads[k];
		assert_int_equal(dv_detail_readers(&m.br, &m.tr, &td, n, 13, 50, &o, &d, NULL), 0);
		assert_true(d.heat_max == ref.heat_max);
		assert_detail_same(&d, &ref);
		dv_pair_detail_free(&d);
	}
	/* with the finished comparison (pass 1 from its statistics where exact) */
	dv_pair_result r;

	o.threads = 1;
	assert_int_equal(dv_compare_buffers(&td, b, &td, t, &o, &r, NULL), 0);
	o.known = &r;
	for (int th = 1; th <= 3; th += 2) {
		o.threads = th;
		assert_int_equal(dv_detail_readers(&m.br, &m.tr, &td, n, 13, 50, &o, &d, NULL), 0);
		assert_detail_same(&d, &ref);
		dv_pair_detail_free(&d);
	}
	dv_pair_detail_free(&ref);
	mem_pair_close(&m);
	free(b);
	free(t);
}

static void test_detail(void **state)
{
	(void)state;
	check_detail(DV_FLOAT32, 2, 37, 9001, PLAIN);
	check_detail(DV_BFLOAT16, 2, 3, 150001, SPECIALS);
	check_detail(DV_FLOAT32, 1, 1, N_BIG, TIES);
	check_detail(DV_BFLOAT16, 2, 1001, 333, PLAIN);
	check_detail(DV_FLOAT32, 2, 257, 1031, TIES);
}

/* ---- the detail's AVX2 instance against its scalar one ----
 * Elements of every kind the vector blocks must hand back or get right: runs
 * equal on both sides, |t-b| subnormal, overflowing to Inf, NaN, +-0, values
 * near powers of ten and at the edges of the bucket range. */
static float edge_value(int64_t i, float *w, float tiny)
{
	uint64_t r = rng();
	float v = gauss(2.0f) * tiny;

	switch ((int)(r % 23)) {
	case 0: *w = v + 1e-40f; break;                       /* subnormal |t-b| */
	case 1: v = -3e38f; *w = 3e38f; break;                /* |t-b| overflows */
	case 2: *w = NAN; break;
	case 3: v = INFINITY; *w = -INFINITY; break;
	case 4: v = -0.0f; *w = 0.0f; break;
	case 5: *w = v * 1.0000001f + 1e-30f; break;
	case 6: v = 1.0f; *w = 1.0f + 1e-3f; break;           /* |t-b| next to a power of ten */
	case 7: v = 0.0f; *w = 1e-3f; break;
	case 8: v = 0.0f; *w = nextafterf(1e-3f, 0); break;
	case 9: *w = v + 1e30f; break;
	default: *w = (i / 8) % 3 ? v : v + gauss(1e-3f) * tiny; break; /* equal runs, then not */
	}
	return v;
}

static void check_detail_vector(dv_dtype dt, int64_t rows, int64_t cols, int max_rows, int max_cols, float tiny,
				bool edges)
{
	int64_t n = rows * cols;
	dv_tensor_desc td = { .dtype = dt, .ndim = 2, .shape = { rows, cols } };
	dv_metrics_opts o = dv_metrics_opts_default();
	dv_pair_detail ref, d;
	mem_pair m;
	void *b = malloc((size_t)n * 4), *t = malloc((size_t)n * 4);

	assert_non_null(b);
	assert_non_null(t);
	rng_state = 0x7f4a7c159e3779b9ull ^ (uint64_t)n;
	for (int64_t i = 0; i < n; i++) {
		float w, v;

		if (edges) {
			v = edge_value(i, &w, tiny);
		} else {
			v = gauss(2.0f) * tiny;
			w = i % 5 ? v : v + gauss(1e-2f) * tiny;
		}
		store(dt, b, i, v);
		store(dt, t, i, w);
	}
	mem_pair_open(&m, dt, dt, n, b, t);
	for (int th = 1; th <= 2; th++) {
		o.threads = th;
		dv_detail_scalar_only = true;
		assert_int_equal(dv_detail_readers(&m.br, &m.tr, &td, n, max_rows, max_cols, &o, &ref, NULL), 0);
		dv_detail_scalar_only = false;
		assert_int_equal(dv_detail_readers(&m.br, &m.tr, &td, n, max_rows, max_cols, &o, &d, NULL), 0);
		if (memcmp(ref.absdiff_buckets, d.absdiff_buckets, sizeof(d.absdiff_buckets)) != 0 ||
		    ref.absdiff_zero != d.absdiff_zero || ref.absdiff_nonfinite != d.absdiff_nonfinite) {
			for (int k = 0; k < DV_ABSDIFF_BUCKETS; k++)
				print_error("bucket %d: %lld / %lld\n", k, (long long)ref.absdiff_buckets[k],
					    (long long)d.absdiff_buckets[k]);
			print_error("zero %lld / %lld, not finite %lld / %lld\n", (long long)ref.absdiff_zero,
				    (long long)d.absdiff_zero, (long long)ref.absdiff_nonfinite,
				    (long long)d.absdiff_nonfinite);
		}
		assert_detail_same(&d, &ref);
		/* the cases this is about were met */
		if (edges) {
			assert_true(ref.absdiff_zero > 0);
			assert_true(ref.absdiff_nonfinite > 0);
		}
		dv_pair_detail_free(&ref);
		dv_pair_detail_free(&d);
	}
	mem_pair_close(&m);
	free(b);
	free(t);
}

static void test_detail_vector(void **state)
{
	(void)state;
	/* heat cells of many columns (vector blocks, two runs at a time), of
	 * one column (no blocks), none; odd row lengths; tiny values (the
	 * bucket range below float32's powers of ten) */
	check_detail_vector(DV_FLOAT32, 97, 4099, 13, 50, 1.0f, true);
	check_detail_vector(DV_FLOAT32, 97, 4099, 13, 50, 1.0f, false);
	check_detail_vector(DV_FLOAT32, 301, 37, 64, 256, 1.0f, true);
	check_detail_vector(DV_FLOAT32, 3, 150001, 0, 0, 1.0f, true);
	check_detail_vector(DV_FLOAT32, 61, 2048, 7, 3, 1e-36f, false);
	check_detail_vector(DV_FLOAT32, 61, 2048, 7, 3, 1e-36f, true);
	check_detail_vector(DV_BFLOAT16, 97, 4099, 13, 50, 1.0f, true);
	check_detail_vector(DV_BFLOAT16, 97, 4099, 13, 50, 1.0f, false);
	check_detail_vector(DV_BFLOAT16, 301, 37, 64, 256, 1.0f, true);
	check_detail_vector(DV_BFLOAT16, 3, 150001, 0, 0, 1.0f, true);
	check_detail_vector(DV_BFLOAT16, 1, 300007, 1, 1, 1e-36f, true);
}

/* ---- the value bins the comparison leaves for the detail ----
 * A large pair of bfloat16 sides: the comparison's pattern histograms give
 * the detail's value bins, which it then need not count: the detail with
 * them equals the detail without, on any thread count and either instance. */
static void check_known_bins(int64_t rows, int64_t cols, int kind)
{
	int64_t n = rows * cols, saved = dv_value_bins_min_numel;
	dv_tensor_desc td = { .dtype = DV_BFLOAT16, .ndim = 2, .shape = { rows, cols } };
	dv_metrics_opts o = dv_metrics_opts_default();
	dv_pair_result r, r2;
	dv_pair_detail ref, d;
	mem_pair m;
	void *b, *t;

	rng_state = 0x3c6ef372fe94f82bull ^ (uint64_t)n ^ ((uint64_t)kind << 40);
	make_pair(DV_BFLOAT16, DV_BFLOAT16, n, kind, &b, &t);
	mem_pair_open(&m, DV_BFLOAT16, DV_BFLOAT16, n, b, t);
	o.threads = 1;
	assert_int_equal(dv_detail_readers(&m.br, &m.tr, &td, n, 13, 50, &o, &ref, NULL), 0);

	/* below the size: none left */
	dv_value_bins_min_numel = n + 1;
	assert_int_equal(dv_compare_buffers(&td, b, &td, t, &o, &r, NULL), 0);
	assert_null(r.value_bins);
	dv_value_bins_min_numel = n;
	assert_int_equal(dv_compare_buffers(&td, b, &td, t, &o, &r, NULL), 0);
	if (kind == SPECIALS) {
		/* NaN and Inf: the detail finds its own ranges, so no bins */
		assert_null(r.value_bins);
	} else {
		assert_non_null(r.value_bins);
		assert_memory_equal(r.value_bins, ref.base_bins, sizeof(ref.base_bins));
		assert_memory_equal(r.value_bins + DV_VALUE_BINS, ref.targ_bins, sizeof(ref.targ_bins));
		/* the same bins, the same interned copy, on more threads */
		o.threads = 3;
		assert_int_equal(dv_compare_buffers(&td, b, &td, t, &o, &r2, NULL), 0);
		assert_ptr_equal(r2.value_bins, r.value_bins);
	}
	o.known = &r;
	for (int th = 1; th <= 3; th += 2)
		for (int scalar = 0; scalar < 2; scalar++) {
			o.threads = th;
			dv_detail_scalar_only = scalar;
			assert_int_equal(dv_detail_readers(&m.br, &m.tr, &td, n, 13, 50, &o, &d, NULL), 0);
			assert_detail_same(&d, &ref);
			dv_pair_detail_free(&d);
		}
	dv_detail_scalar_only = false;
	dv_value_bins_min_numel = saved;
	dv_pair_detail_free(&ref);
	mem_pair_close(&m);
	free(b);
	free(t);
}

static void test_detail_known_bins(void **state)
{
	(void)state;
	check_known_bins(173, 3001, PLAIN);
	check_known_bins(173, 3001, TIES);
	check_known_bins(61, 2049, SPECIALS);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Each row of the CSV against text made here: index and coordinates by
 * printf, the values by the snprintf + strtof reference (every row up to
 * max_ref, then one in 97). */
static void check_rows(const char *csv, size_t len, const dv_tensor_desc *td, const float *bv, const float *tv,
		       double min_abs, int64_t max_ref)
{
	const char *p = memchr(csv, '\n', len) + 1, *end = csv + len;
	int64_t n = 1, rows = 0;

	for (int i = 0; i < td->ndim; i++)
		n *= td->shape[i];
	for (int64_t i = 0; i < n; i++) {
		float b = bv[i], t = tv[i], a = fabsf(t - b), rel = a / fmaxf(fabsf(b), 1e-12f);
		int64_t coord[PT_MAX_DIMS];
		char want[2048], *w = want;

		if (!(min_abs < 0 || isnan(a) || (double)a > min_abs))
			continue;
		dv_index_to_coord(i, td->ndim, td->shape, coord);
		w += sprintf(w, "%lld,\"[", (long long)i);
		for (int k = 0; k < td->ndim; k++)
			w += sprintf(w, "%s%lld", k ? ", " : "", (long long)coord[k]);
		w += sprintf(w, "]\",");
		if (rows < max_ref || rows % 97 == 0) {
			float v[4] = { b, t, a, isnan(a) ? a : rel };

			for (int k = 0; k < 4; k++) {
				w += dv_fmt_f32_ref(w, 32, v[k]);
				*w++ = k < 3 ? ',' : '\n';
			}
		}
		size_t wl = (size_t)(w - want);

		assert_true(p + wl <= end);
		if (memcmp(p, want, wl) != 0) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));

			print_error("row %lld: \"%.*s\", want \"%.*s\"\n", (long long)i, (int)(nl - p), p, (int)wl,
				    want);
			fail();
		}
		p = memchr(p, '\n', (size_t)(end - p)) + 1;
		rows++;
	}
	assert_ptr_equal(p, end);
}

/* The element-wise CSV: the same bytes for any thread count. */
static void check_export(dv_dtype bt, dv_dtype tt, int64_t rows, int64_t cols, double min_abs)
{
	int64_t n = rows * cols, nrows_ref, nrows;
	dv_tensor_desc td = { .dtype = tt, .ndim = 2, .shape = { rows, cols } };
	dv_metrics_opts o = dv_metrics_opts_default();
	mem_pair m;
	void *b, *t;
	char ref_path[] = "/tmp/dv-test-export-XXXXXX", *ref, *got;
	size_t ref_len, got_len;
	static const int threads[] = { 2, 3, 8, 0 };
	int fd = mkstemp(ref_path);

	assert_true(fd >= 0);
	close(fd);
	rng_state = 0x7a3d1e09c4b8f265ull ^ (uint64_t)n;
	make_pair(bt, tt, n, SPECIALS, &b, &t);
	mem_pair_open(&m, bt, tt, n, b, t);
	o.threads = 1;
	assert_int_equal(dv_export_readers(&m.br, &m.tr, &td, n, ref_path, min_abs, 0, &o, &nrows_ref, NULL), 0);
	ref = slurp(ref_path, &ref_len);
	if (rows == 3 && tt == DV_BFLOAT16) {
		/* the rows' text itself, also through more dims: [3, 7, 11111] */
		td.ndim = 3;
		td.shape[0] = 3;
		td.shape[1] = 7;
		td.shape[2] = n / 21;
		assert_int_equal(n % 21, 0);
		free(ref);
		assert_int_equal(dv_export_readers(&m.br, &m.tr, &td, n, ref_path, min_abs, 0, &o, &nrows_ref, NULL), 0);
		ref = slurp(ref_path, &ref_len);
	}
	float *bf = malloc((size_t)n * sizeof(float)), *tf = malloc((size_t)n * sizeof(float));

	assert_true(bf && tf);
	assert_int_equal(dv_metrics_to_f32(bt, b, bf, (size_t)n), 0);
	assert_int_equal(dv_metrics_to_f32(tt, t, tf, (size_t)n), 0);
	check_rows(ref, ref_len, &td, bf, tf, min_abs, 30000);
	free(bf);
	free(tf);
	for (size_t k = 0; k < sizeof(threads) / sizeof(threads[0]); k++) {
		o.threads = threads[k];
		assert_int_equal(dv_export_readers(&m.br, &m.tr, &td, n, ref_path, min_abs, 0, &o, &nrows, NULL), 0);
		assert_int_equal(nrows, nrows_ref);
		got = slurp(ref_path, &got_len);
		assert_int_equal(got_len, ref_len);
		assert_memory_equal(got, ref, ref_len);
		free(got);
	}
	free(ref);
	unlink(ref_path);
	mem_pair_close(&m);
	free(b);
	free(t);
}

static void test_export(void **state)
{
	(void)state;
	check_export(DV_FLOAT32, DV_FLOAT32, 7, 30001, -1);
	check_export(DV_BFLOAT16, DV_BFLOAT16, 3, 77777, -1);
	check_export(DV_FLOAT32, DV_BFLOAT16, 11, 19999, 1e-3);
}

/* Cancelled before the first chunk: CANCELLED on threads as alone. */
static void test_cancel(void **state)
{
	dv_tensor_desc d = { .dtype = DV_FLOAT32, .ndim = 1, .shape = { N_ODD } };
	dv_metrics_opts o = dv_metrics_opts_default();
	atomic_int cancel = 1;
	dv_pair_result r;
	float *x = calloc(N_ODD, sizeof(float));

	(void)state;
	o.cancel = &cancel;
	o.threads = 3;
	assert_int_equal(dv_compare_buffers(&d, x, &d, x, &o, &r, NULL), 0);
	assert_int_equal(r.status, DV_RESULT_CANCELLED);
	free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bf16),
		cmocka_unit_test(test_f32),
		cmocka_unit_test(test_f32_bf16),
		cmocka_unit_test(test_f16),
		cmocka_unit_test(test_detail),
		cmocka_unit_test(test_mapped_files),
		cmocka_unit_test(test_detail_vector),
		cmocka_unit_test(test_detail_known_bins),
		cmocka_unit_test(test_export),
		cmocka_unit_test(test_cancel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
