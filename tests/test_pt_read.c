/* Element reads: chunked = whole, strided = gathered, big byteorder, deflated
 * and stored entries, windows over large strided views, CRC handling,
 * non-checkpoints, buffers. Fixtures come from $FIXTURES. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <zip.h>

#include "dumpview/pt.h"
#include "pt_writer.h"

static char *fixture(const char *rel)
{
	static char path[4096];
	const char *dir = getenv("FIXTURES");

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "tests/fixtures", rel);
	return path;
}

static pt_file *open_ok(const char *rel)
{
	dv_error err;
	pt_file *f = pt_open(fixture(rel), &err);

	if (!f)
		fail_msg("%s", err.msg);
	return f;
}

static const pt_tensor *tensor_at(pt_file *f, const char *path)
{
	const pt_obj *o = pt_lookup(pt_root(f), path);

	assert_non_null(o);
	assert_int_equal(o->kind, PT_TENSOR);
	return &o->u.tensor;
}

static uint8_t *read_all(pt_file *f, const pt_tensor *t)
{
	dv_error err;
	uint8_t *b = malloc(t->numel * dv_dtype_size(t->dtype) + 1);

	assert_non_null(b);
	if (pt_tensor_read(f, t, 0, t->numel, b, &err))
		fail_msg("%s", err.msg);
	return b;
}

/* Chunked reads of every size give the whole read; conversions agree. */
static void check_chunks(const char *rel, const char *path)
{
	pt_file *f = open_ok(rel);
	const pt_tensor *t = tensor_at(f, path);
	size_t isz = dv_dtype_size(t->dtype);
	uint8_t *whole = read_all(f, t), *part = malloc(t->numel * isz + 1);
	dv_error err;

	for (int64_t chunk = 1; chunk <= 7; chunk += 2) {
		memset(part, 0xee, t->numel * isz);
		for (int64_t s = 0; s < t->numel; s += chunk) {
			int64_t n = t->numel - s < chunk ? t->numel - s : chunk;
			if (pt_tensor_read(f, t, s, n, part + s * isz, &err))
				fail_msg("%s", err.msg);
		}
		assert_memory_equal(whole, part, t->numel * isz);
	}
	if (dv_dtype_is_real(t->dtype)) {
		float *f32 = malloc(t->numel * sizeof(float) + 1), *c32 = malloc(t->numel * sizeof(float) + 1);
		double *f64 = malloc(t->numel * sizeof(double) + 1), *c64 = malloc(t->numel * sizeof(double) + 1);
		assert_int_equal(pt_tensor_read_f32(f, t, 0, t->numel, f32, &err), 0);
		assert_int_equal(pt_tensor_read_f64(f, t, 0, t->numel, f64, &err), 0);
		dv_convert_to_f32(t->dtype, whole, c32, t->numel);
		dv_convert_to_f64(t->dtype, whole, c64, t->numel);
		assert_memory_equal(f32, c32, t->numel * sizeof(float));
		assert_memory_equal(f64, c64, t->numel * sizeof(double));
		free(f32), free(c32), free(f64), free(c64);
	}
	free(whole);
	free(part);
	pt_close(f);
}

static void test_chunks(void **state)
{
	(void)state;
	check_chunks("pt-corpus/dtype_float32.pt", "$");
	check_chunks("pt-corpus/dtype_bfloat16.pt", "$");
	check_chunks("pt-corpus/view_transposed.pt", "$");
	check_chunks("pt-corpus/view_sliced.pt", "$");
	check_chunks("pt-corpus/view_expanded.pt", "$");
	check_chunks("pt-corpus/view_shared.pt", "$['v']");
	check_chunks("pt-corpus/view_shared.pt", "$['tt']");
	check_chunks("pt-corpus/shape_4d.pt", "$");
	check_chunks("pt-corpus/legacy.pt", "$['view']");
	check_chunks("pt-corpus/dtype_float8_e4m3fn.pt", "$");
	check_chunks("pt/deflated_view_shared.pt", "$['tt']");
	check_chunks("pt/big_view_transposed.pt", "$");
	check_chunks("pt/big_dtype_int64.pt", "$");
}

/* A file read through another container gives the same elements. */
static void check_same(const char *a, const char *b, const char *path)
{
	pt_file *fa = open_ok(a), *fb = open_ok(b);
	const pt_tensor *ta = tensor_at(fa, path), *tb = tensor_at(fb, path);
	uint8_t *ba = read_all(fa, ta), *bb = read_all(fb, tb);

	assert_int_equal(ta->numel, tb->numel);
	assert_memory_equal(ba, bb, ta->numel * dv_dtype_size(ta->dtype));
	free(ba), free(bb);
	pt_close(fa), pt_close(fb);
}

static void test_containers(void **state)
{
	(void)state;
	check_same("pt-corpus/dtype_float32.pt", "pt/big_dtype_float32.pt", "$");
	check_same("pt-corpus/dtype_complex64.pt", "pt/big_dtype_complex64.pt", "$");
	check_same("pt-corpus/dtype_bfloat16.pt", "pt/big_dtype_bfloat16.pt", "$");
	check_same("pt-corpus/view_shared.pt", "pt/deflated_view_shared.pt", "$['v']");
	check_same("pt-corpus/shape_long1d.pt", "pt/deflated_shape_long1d.pt", "$");
	check_same("pt-corpus/view_shared.pt", "pt/crc0_view_shared.pt", "$['a']");
	check_same("pt-corpus/dtype_float32.pt", "pt/root_model.v1.pt", "$");

	pt_file *f = open_ok("pt-corpus/legacy.pt");
	assert_string_equal(pt_file_format(f), "legacy");
	pt_close(f);
	f = open_ok("pt-corpus/dtype_float32.pt");
	assert_string_equal(pt_file_format(f), "zip");
	pt_close(f);
}

static void test_buffer(void **state)
{
	FILE *fp = fopen(fixture("pt-corpus/view_shared.pt"), "rb");
	uint8_t data[8192];
	size_t n;
	dv_error err;
	(void)state;

	assert_non_null(fp);
	n = fread(data, 1, sizeof(data), fp);
	fclose(fp);
	pt_file *fb = pt_open_buffer(data, n, "mem.pt", NULL, &err);
	pt_file *ff = open_ok("pt-corpus/view_shared.pt");
	assert_non_null(fb);
	assert_string_equal(pt_file_name(fb), "mem.pt");
	const pt_tensor *tb = tensor_at(fb, "$['tt']"), *tf = tensor_at(ff, "$['tt']");
	uint8_t *bb = read_all(fb, tb), *bf = read_all(ff, tf);
	assert_memory_equal(bb, bf, 48);
	free(bb), free(bf);
	pt_close(fb), pt_close(ff);

	/* a truncated buffer is an error, not a crash */
	assert_null(pt_open_buffer(data, n / 2, "half.pt", NULL, &err));
	assert_non_null(strstr(err.msg, "half.pt: "));
}

static void test_crc(void **state)
{
	dv_error err;
	pt_limits l = pt_limits_default();
	float v[15];
	(void)state;

	/* not checked by default (torch does not check it either) */
	pt_file *f = open_ok("pt/bad/crc_mismatch.pt");
	assert_int_equal(pt_tensor_read_f32(f, tensor_at(f, "$"), 0, 15, v, &err), 0);
	pt_close(f);

	/* asked for (--verify-crc) */
	pt_set_verify_crc(true);
	f = open_ok("pt/bad/crc_mismatch.pt");
	pt_set_verify_crc(false);
	const pt_tensor *t = tensor_at(f, "$");
	/* a part cannot be checked; the whole is */
	assert_int_equal(pt_tensor_read_f32(f, t, 0, 2, v, &err), 0);
	assert_int_equal(pt_tensor_read_f32(f, t, 0, 15, v, &err), -1);
	assert_non_null(strstr(err.msg, "crc_mismatch.pt: storage data/0: CRC error"));
	/* chunked to the end from the start: checked too */
	assert_int_equal(pt_tensor_read_f32(f, t, 0, 8, v, &err), 0);
	assert_int_equal(pt_tensor_read_f32(f, t, 8, 7, v, &err), -1);
	pt_close(f);

	l.no_crc_check = false;
	f = pt_open_ex(fixture("pt/bad/crc_mismatch.pt"), &l, &err);
	assert_non_null(f);
	assert_int_equal(pt_tensor_read_f32(f, tensor_at(f, "$"), 0, 15, v, &err), -1);
	pt_close(f);

	l.no_crc_check = true;
	f = pt_open_ex(fixture("pt/bad/crc_mismatch.pt"), &l, &err);
	assert_non_null(f);
	assert_int_equal(pt_tensor_read_f32(f, tensor_at(f, "$"), 0, 15, v, &err), 0);
	pt_close(f);
}

/* The internal CRC-32 (PCLMUL folding with a table tail) against a bitwise reference. */
uint32_t pt_crc32(uint32_t crc, const void *data, size_t len);
extern bool pt_crc32_simd;

static uint32_t crc_bitwise(uint32_t crc, const uint8_t *p, size_t len)
{
	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = crc & 1 ? 0xedb88320u ^ (crc >> 1) : crc >> 1;
	}
	return ~crc;
}

static void test_crc32(void **state)
{
	uint8_t *buf = malloc(70000);
	uint32_t seed = 12345;
	(void)state;

	for (size_t i = 0; i < 70000; i++) {
		seed = seed * 1103515245 + 12345;
		buf[i] = (uint8_t)(seed >> 16);
	}
	assert_int_equal(pt_crc32(0, "123456789", 9), 0xcbf43926);
	for (int t = 0; t < 400; t++) {
		seed = seed * 1103515245 + 12345;
		size_t off = (seed >> 8) % 61, len = t < 300 ? (size_t)t : (seed >> 4) % 69000;
		uint32_t init = t % 3 ? 0 : seed;
		uint32_t want = crc_bitwise(init, buf + off, len);
		pt_crc32_simd = true;
		assert_int_equal(pt_crc32(init, buf + off, len), want);
		pt_crc32_simd = false;
		assert_int_equal(pt_crc32(init, buf + off, len), want);
	}
	pt_crc32_simd = true;
	/* in pieces, as reads arrive */
	assert_int_equal(pt_crc32(pt_crc32(0, buf, 1000), buf + 1000, 5000), crc_bitwise(0, buf, 6000));
	free(buf);
}

static void expect_open_error(const char *path, const char *want)
{
	dv_error err;
	pt_file *f = pt_open(path, &err);

	if (f) {
		pt_close(f);
		fail_msg("%s opened", path);
	}
	if (!strstr(err.msg, want))
		fail_msg("'%s' lacks '%s'", err.msg, want);
	assert_non_null(strstr(err.msg, path));
}

static void test_not_checkpoints(void **state)
{
	(void)state;
	expect_open_error(fixture("pt-corpus/bad/empty.pt"), "empty file, not a torch checkpoint");
	expect_open_error(fixture("pt-corpus/bad/not_a_zip.pt"), "not a torch checkpoint (a text file)");
	expect_open_error(fixture("pt-corpus/bad/lfs_pointer.pt"), "Git LFS pointer");
	expect_open_error(fixture("pt/bad/torchscript.pt"), "TorchScript");
	expect_open_error(fixture("pt-corpus/bad/no_data_pkl.pt"), "without a data.pkl");
	expect_open_error(fixture("pt-corpus/bad/truncated.pt"), "damaged or truncated zip");
	expect_open_error(fixture("pt/bad/record_20_bytes.pt"), "storage data/0 holds 20 bytes, tensor needs 60");
	expect_open_error(fixture("pt"), "is a directory");
	expect_open_error(fixture("pt/no_such_file.pt"), "No such file");
}

static void test_read_ranges(void **state)
{
	dv_error err;
	float v[16];
	uint8_t c[16];
	(void)state;

	pt_file *f = open_ok("pt-corpus/dtype_float32.pt");
	const pt_tensor *t = tensor_at(f, "$");
	assert_int_equal(pt_tensor_read_f32(f, t, 14, 2, v, &err), -1);
	assert_non_null(strstr(err.msg, "outside a tensor of 15"));
	assert_int_equal(pt_tensor_read_f32(f, t, -1, 1, v, &err), -1);
	assert_int_equal(pt_tensor_read_f32(f, t, 15, 0, v, &err), 0);
	pt_close(f);
	f = open_ok("pt-corpus/dtype_complex64.pt");
	assert_int_equal(pt_tensor_read_f32(f, tensor_at(f, "$"), 0, 1, v, &err), -1);
	assert_non_null(strstr(err.msg, "complex64"));
	assert_int_equal(pt_tensor_read(f, tensor_at(f, "$"), 0, 2, c, &err), 0);
	pt_close(f);
	f = open_ok("pt-corpus/shape_0d.pt");
	assert_int_equal(pt_tensor_read_f32(f, tensor_at(f, "$"), 0, 1, v, &err), 0);
	assert_true(v[0] == 3.5f);
	pt_close(f);
}

/* ---- large strided views in zips written by libzip (stored and deflated) ---- */

/* A pickle of _rebuild_tensor_v2 over FloatStorage '0' with the geometry given. */
static size_t tensor_pickle(uint8_t *p, uint32_t numel, uint32_t off, uint32_t s0, uint32_t s1, uint32_t st0,
			    uint32_t st1)
{
	return pt_writer_pickle(p, "FloatStorage", numel, off, s0, s1, st0, st1);
}
/* Between pt_dircache_begin and _end (a scan worker), files are opened
 * through cached folder descriptors: the same files, the same errors, more
 * folders than the cache holds, a FIFO refused without blocking, a path
 * without a folder, and a folder replaced meanwhile (a name missing from
 * the cached one is looked up by its full path). */
static void test_dircache(void **state)
{
	static const char *const good[] = {
		"pt-corpus/dtype_float32.pt", "pt/big_dtype_float32.pt", "pt-corpus/dtype_bfloat16.pt",
		"pt/deflated_view_shared.pt", "pt-corpus/bad/../dtype_float16.pt", "pt/golden/../crc0_view_shared.pt",
		"pt-corpus/device_cuda.pt", "pt/big_dtype_bfloat16.pt",
		/* over 64 KiB (opened once, its first bytes kept), then files
		 * between the 4 KiB asked after a large one and 64 KiB */
		"pt-corpus/shape_large.pt", "metrics/pairs/target/bf16_hist.pt", "pt-corpus/shape_long1d.pt",
		"pt-corpus/shape_large.pt", "metrics/pairs/target/int64_big.pt", "metrics/pairs/target/fp32.pt",
	};
	static const char *const bad[] = {
		"pt-corpus/bad/empty.pt", "pt-corpus/bad/truncated.pt", "pt", "pt/no_such_file.pt",
		"pt/no_such_folder/x.pt", "pt-corpus/dtype_float32.pt/x.pt",
	};
	char *plain[sizeof(good) / sizeof(good[0])], msg[sizeof(bad) / sizeof(bad[0])][DV_ERROR_MAX];
	char dir[4096], path[4200], cwd[4096];
	const char *tmp = getenv("TMPDIR");
	dv_error err;
	pt_file *f;

	(void)state;
	/* without the cache first */
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		f = open_ok(good[i]);
		plain[i] = pt_print(pt_root(f), NULL);
		assert_non_null(plain[i]);
		pt_close(f);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_null(pt_open(fixture(bad[i]), &err));
		snprintf(msg[i], sizeof(msg[i]), "%s", err.msg);
	}
	pt_dircache_begin();
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
			char *got;

			f = open_ok(good[i]);
			got = pt_print(pt_root(f), NULL);
			assert_non_null(got);
			assert_string_equal(got, plain[i]);
			free(got);
			pt_close(f);
		}
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			assert_null(pt_open(fixture(bad[i]), &err));
			assert_string_equal(err.msg, msg[i]);
		}
	}
	/* a device whose first read fills the guess: the ordinary message */
	assert_null(pt_open("/dev/zero", &err));
	assert_non_null(strstr(err.msg, "not a regular file (character device)"));
	/* a FIFO is refused, not waited on */
	snprintf(dir, sizeof(dir), "%s/dv_dircache_%d", tmp ? tmp : "/tmp", (int)getpid());
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/fifo.pt", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_null(pt_open(path, &err));
	assert_non_null(strstr(err.msg, "not a regular file (fifo)"));
	unlink(path);
	/* the folder replaced: a file only in the new one is still found */
	snprintf(path, sizeof(path), "%s.old", dir);
	assert_int_equal(rename(dir, path), 0);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/new.pt", dir);
	{
		FILE *src = fopen(fixture(good[0]), "rb"), *dst = fopen(path, "wb");
		char buf[4096];
		size_t n;

		assert_non_null(src);
		assert_non_null(dst);
		while ((n = fread(buf, 1, sizeof(buf), src)) > 0)
			assert_int_equal(fwrite(buf, 1, n, dst), n);
		fclose(src);
		assert_int_equal(fclose(dst), 0);
	}
	f = pt_open(path, &err);
	if (!f)
		fail_msg("%s", err.msg);
	pt_close(f);
	/* a path without a folder: relative to the working directory */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	f = pt_open("new.pt", &err);
	assert_int_equal(chdir(cwd), 0);
	if (!f)
		fail_msg("%s", err.msg);
	pt_close(f);
	pt_dircache_end();
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		free(plain[i]);
	unlink(path);
	rmdir(dir);
	snprintf(path, sizeof(path), "%s.old", dir);
	rmdir(path);
}

static char *write_zip(const char *name, const uint8_t *pkl, size_t pkl_len, const float *data, size_t numel,
		       bool deflate)
{
	static char path[4096];
	const char *dir = getenv("TMPDIR");

	snprintf(path, sizeof(path), "%s/dv_test_%d_%s", dir ? dir : "/tmp", (int)getpid(), name);
	pt_writer_zip(path, pkl, pkl_len, data, numel * sizeof(float), deflate);
	return path;
}

static void check_big_view(bool deflate)
{
	/* a 1200 x 1100 float32 storage (5 MiB, over the small window), read
	 * transposed and as a strided slice; element i of the storage holds i */
	const uint32_t rows = 1200, cols = 1100, numel = rows * cols;
	float *data = malloc(numel * sizeof(float)), *out = malloc(numel * sizeof(float));
	uint8_t pkl[512];
	dv_error err;

	for (uint32_t i = 0; i < numel; i++)
		data[i] = (float)i;
	/* transposed: shape (cols, rows), stride (1, cols) */
	size_t n = tensor_pickle(pkl, numel, 0, cols, rows, 1, cols);
	char *path = write_zip(deflate ? "tdef.pt" : "tsto.pt", pkl, n, data, numel, deflate);
	pt_file *f = pt_open(path, &err);
	if (!f)
		fail_msg("%s", err.msg);
	const pt_tensor *t = &pt_root(f)->u.tensor;
	/* in chunks of an odd size, across rows */
	for (int64_t s = 0; s < t->numel; s += 100003) {
		int64_t c = t->numel - s < 100003 ? t->numel - s : 100003;
		if (pt_tensor_read_f32(f, t, s, c, out + s, &err))
			fail_msg("%s", err.msg);
	}
	for (uint32_t i = 0; i < cols; i++)
		for (uint32_t j = 0; j < rows; j++)
			if (out[(size_t)i * rows + j] != (float)(j * cols + i))
				fail_msg("[%u, %u] = %g", i, j, out[(size_t)i * rows + j]);
	pt_close(f);
	unlink(path);

	/* every other row from row 3, last 500 columns: offset 3*cols+600, stride (2*cols, 1) */
	n = tensor_pickle(pkl, numel, 3 * cols + 600, 598, 500, 2 * cols, 1);
	path = write_zip(deflate ? "sdef.pt" : "ssto.pt", pkl, n, data, numel, deflate);
	f = pt_open(path, &err);
	if (!f)
		fail_msg("%s", err.msg);
	t = &pt_root(f)->u.tensor;
	assert_int_equal(pt_tensor_read_f32(f, t, 0, t->numel, out, &err), 0);
	for (uint32_t i = 0; i < 598; i++)
		for (uint32_t j = 0; j < 500; j++)
			if (out[i * 500 + j] != (float)((3 + 2 * i) * cols + 600 + j))
				fail_msg("slice [%u, %u] = %g", i, j, out[i * 500 + j]);
	/* backwards: the last row, then the first */
	assert_int_equal(pt_tensor_read_f32(f, t, t->numel - 500, 500, out, &err), 0);
	assert_true(out[0] == (float)((3 + 2 * 597) * cols + 600));
	assert_int_equal(pt_tensor_read_f32(f, t, 0, 1, out, &err), 0);
	assert_true(out[0] == (float)(3 * cols + 600));
	pt_close(f);
	unlink(path);

	/* contiguous, read whole by a libzip-written stored or deflated entry */
	n = tensor_pickle(pkl, numel, 0, rows, cols, cols, 1);
	path = write_zip(deflate ? "cdef.pt" : "csto.pt", pkl, n, data, numel, deflate);
	f = pt_open(path, &err);
	t = &pt_root(f)->u.tensor;
	assert_true(pt_tensor_is_contiguous(t));
	assert_int_equal(pt_tensor_read_f32(f, t, 0, t->numel, out, &err), 0);
	assert_memory_equal(out, data, numel * sizeof(float));
	assert_int_equal(pt_tensor_read_f32(f, t, 1000, 10, out, &err), 0);
	assert_true(out[0] == 1000.0f);
	pt_close(f);
	unlink(path);
	free(data);
	free(out);
}

static void test_big_views_stored(void **state)
{
	(void)state;
	check_big_view(false);
}

static void test_big_views_deflated(void **state)
{
	(void)state;
	check_big_view(true);
}

/* The same through the paths for records too big to hold: runs of
 * neighbours read directly, lone elements through a small page cache that
 * has to evict. */
extern size_t pt_window_small;
extern uint64_t pt_window_whole;
extern size_t pt_page_cache_pages;

static void test_big_views_paged(void **state)
{
	size_t small = pt_window_small, pages = pt_page_cache_pages;
	uint64_t whole = pt_window_whole;
	(void)state;

	pt_window_small = 4096;
	pt_window_whole = 4096;
	pt_page_cache_pages = 300; /* fewer than the 1200 pages one transposed row touches... */
	check_big_view(false);
	pt_page_cache_pages = 1500; /* ...and enough for them */
	check_big_view(false);
	pt_window_small = small;
	pt_window_whole = whole;
	pt_page_cache_pages = pages;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chunks),
		cmocka_unit_test(test_containers),
		cmocka_unit_test(test_buffer),
		cmocka_unit_test(test_crc),
		cmocka_unit_test(test_crc32),
		cmocka_unit_test(test_not_checkpoints),
		cmocka_unit_test(test_dircache),
		cmocka_unit_test(test_read_ranges),
		cmocka_unit_test(test_big_views_stored),
		cmocka_unit_test(test_big_views_deflated),
		cmocka_unit_test(test_big_views_paged),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
