/* What the explorer keeps per pair, pinned (issues #15/#16: RSS <= 1 KiB a
 * pair): a result and a logical result are kept for every pair after the
 * scan, so a field added inline costs that much times the pair count. Grow
 * them only knowingly (and update bench/README.md's figures). Also the intern
 * table, the key table and the pools they live in. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "dumpview/dump.h"
#include "dumpview/intern.h"
#include "dumpview/logical.h"
#include "dumpview/metrics.h"

/* The limits, at compile time as well: a regression fails the build of the suite. */
#define RESULT_BYTES 280   /* 272 + value_bins (the detail's bins of a large bf16 pair) */
#define LOGICAL_BYTES 104
#define STATS_BYTES 72
#define DESC_BYTES 16
#define PAIR_BYTES 96
#define DUMPFILE_BYTES 64

_Static_assert(sizeof(dv_pair_result) <= RESULT_BYTES, "dv_pair_result grew: it is kept for every pair");
_Static_assert(sizeof(dv_logical_result) <= LOGICAL_BYTES, "dv_logical_result grew: it is kept for every pair");
_Static_assert(sizeof(dv_stats) <= STATS_BYTES, "dv_stats grew: a result keeps two");
_Static_assert(sizeof(dv_result_desc) <= DESC_BYTES, "dv_result_desc grew: a result keeps two");
_Static_assert(sizeof(dv_pair) <= PAIR_BYTES, "dv_pair grew: one a pair");
_Static_assert(sizeof(dv_dumpfile) <= DUMPFILE_BYTES, "dv_dumpfile grew: two a pair");
_Static_assert(sizeof(dv_file_tag) == 8, "dv_file_tag grew: several a file");

static void test_kept_sizes(void **state)
{
	(void)state;
	assert_true(sizeof(dv_pair_result) <= RESULT_BYTES);
	assert_true(sizeof(dv_logical_result) <= LOGICAL_BYTES);
	assert_true(sizeof(dv_stats) <= STATS_BYTES);
	assert_true(sizeof(dv_result_desc) <= DESC_BYTES);
	assert_true(sizeof(dv_pair) <= PAIR_BYTES);
	assert_true(sizeof(dv_dumpfile) <= DUMPFILE_BYTES);
	assert_int_equal(sizeof(dv_file_tag), 8);
}

/* Tag keys by number: equal keys one number, the name given back whole. */
static void test_key_ids(void **state)
{
	(void)state;
	uint32_t a = dv_key_id("layer_id=3", 8), b = dv_key_id("layer_id", 8), c = dv_key_id("layer", 5);

	assert_int_not_equal(a, DV_KEY_NONE);
	assert_int_equal(a, b);
	assert_int_not_equal(a, c);
	assert_string_equal(dv_key_name(a), "layer_id");
	assert_string_equal(dv_key_name(c), "layer");
	/* many keys: the table grows, earlier numbers stay */
	for (int i = 0; i < 10000; i++) {
		char k[32];
		int n = snprintf(k, sizeof(k), "key%d", i);
		uint32_t id = dv_key_id(k, (size_t)n);

		assert_int_not_equal(id, DV_KEY_NONE);
		assert_string_equal(dv_key_name(id), k);
	}
	assert_int_equal(dv_key_id("layer_id", 8), a);
}

/* Equal values are one copy; different ones are kept apart, long ones whole. */
static void test_intern(void **state)
{
	(void)state;
	int64_t a[3] = { 4, 64, 128 }, b[3] = { 4, 64, 128 }, c[3] = { 4, 64, 129 }, big[PT_MAX_DIMS];
	char s1[] = "t h d", s2[] = "t h d";

	const int64_t *pa = dv_intern_dims(a, 3), *pb = dv_intern_dims(b, 3), *pc = dv_intern_dims(c, 3);
	assert_non_null(pa);
	assert_ptr_equal(pa, pb);
	assert_ptr_not_equal(pa, pc);
	assert_memory_equal(pc, c, sizeof(c));
	/* a prefix is not the same value */
	assert_ptr_not_equal(dv_intern_dims(a, 2), pa);
	assert_non_null(dv_intern_dims(NULL, 0));
	for (int i = 0; i < PT_MAX_DIMS; i++)
		big[i] = i * 7 + 1;
	const int64_t *pbig = dv_intern_dims(big, PT_MAX_DIMS);
	assert_memory_equal(pbig, big, sizeof(big));
	assert_ptr_equal(dv_intern_dims(big, PT_MAX_DIMS), pbig);
	assert_ptr_equal(dv_intern_str(s1), dv_intern_str(s2));
	assert_string_equal(dv_intern_str(s1), "t h d");
	assert_ptr_not_equal(dv_intern_str("t h"), dv_intern_str(s1));
	/* the bytes of a string and of dims are different values */
	assert_ptr_not_equal((const void *)dv_intern_str(""), (const void *)dv_intern_dims(NULL, 0));
}

static void *intern_many(void *arg)
{
	const int64_t **out = arg;

	for (int64_t i = 0; i < 20000; i++) {
		int64_t d[2] = { i % 500, i };
		const int64_t *p = dv_intern_dims(d, 2);

		if (!p || p[0] != d[0] || p[1] != d[1])
			return (void *)1;
		if (i < 100)
			out[i] = p;
	}
	return NULL;
}

/* Threads interning the same values at once get the same copies (the
 * table grows under them). */
static void test_intern_threads(void **state)
{
	(void)state;
	const int64_t *got[4][100];
	pthread_t t[4];
	void *rc;

	for (int k = 0; k < 4; k++)
		assert_int_equal(pthread_create(&t[k], NULL, intern_many, got[k]), 0);
	for (int k = 0; k < 4; k++) {
		assert_int_equal(pthread_join(t[k], &rc), 0);
		assert_null(rc);
	}
	for (int k = 1; k < 4; k++)
		assert_memory_equal(got[k], got[0], sizeof(got[0]));
	assert_true(dv_intern_held() > 0);
}

/* Pool objects come zeroed, apart, and freed ones are used again. */
static void test_pool(void **state)
{
	(void)state;
	static dv_pool pool = DV_POOL_INIT(dv_pair_result);
	dv_pair_result *r[1000];

	assert_int_equal(pool.size % 8, 0);
	for (int i = 0; i < 1000; i++) {
		assert_non_null(r[i] = dv_pool_alloc(&pool));
		for (size_t k = 0; k < sizeof(*r[i]); k++)
			assert_int_equal(((unsigned char *)r[i])[k], 0);
		assert_int_equal((uintptr_t)r[i] % 8, 0);
		memset(r[i], 0xab, sizeof(*r[i]));
	}
	for (int i = 0; i < 1000; i++)
		for (int j = i + 1; j < i + 3 && j < 1000; j++)
			assert_true((char *)r[j] + sizeof(*r[j]) <= (char *)r[i] ||
				    (char *)r[i] + sizeof(*r[i]) <= (char *)r[j]);
	for (int i = 0; i < 1000; i++)
		dv_pool_free(&pool, r[i]);
	dv_pair_result *again = dv_pool_alloc(&pool);
	assert_non_null(again);
	assert_int_equal(((unsigned char *)again)[sizeof(*again) - 1], 0);
	dv_pool_free(&pool, again);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kept_sizes),
		cmocka_unit_test(test_intern),
		cmocka_unit_test(test_key_ids),
		cmocka_unit_test(test_intern_threads),
		cmocka_unit_test(test_pool),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
