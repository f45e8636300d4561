/* The terminal escaper (include/dumpview/escape.h): what passes, what is
 * escaped and how, and that buffers of any size stay terminated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dumpview/escape.h"

static void check(const char *in, size_t len, const char *want)
{
	char out[256];
	size_t n = dv_term_escape(out, sizeof(out), in, len);

	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
	assert_int_equal(dv_term_safe(in, len), strlen(want) == len && !memcmp(in, want, len));
}

static void test_plain_passes(void **state)
{
	(void)state;
	check("step=0___rank=0___name=attn_output.pt", 37, "step=0___rank=0___name=attn_output.pt");
	check("", 0, "");
	check("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	check("back\\slash", 10, "back\\slash");
}

static void test_controls_escaped(void **state)
{
	(void)state;
	check("\x1b]0;pwned\x07", 10, "\\x1b]0;pwned\\x07");
	check("a\nb\tc\rd", 7, "a\\x0ab\\x09c\\x0dd");
	check("x\x7fy", 3, "x\\x7fy");
	check("nul\0in", 6, "nul\\x00in");
	/* C1 controls as UTF-8 (U+009B is CSI on some terminals) */
	check("\xc2\x9b" "31m", 5, "\\u009b31m");
	check("\xc2\x85", 2, "\\u0085");
	/* bidirectional overrides */
	check("a\xe2\x80\xae" "b", 5, "a\\u202eb");
	check("\xe2\x81\xa6", 3, "\\u2066");
}

static void test_invalid_utf8_escaped(void **state)
{
	(void)state;
	check("\xff", 1, "\\xff");
	check("a\x9b" "b", 3, "a\\x9bb");
	check("\xc0\xaf", 2, "\\xc0\\xaf");                 /* overlong '/' */
	check("\xed\xa0\x80", 3, "\\xed\\xa0\\x80");        /* surrogate */
	check("\xf4\x90\x80\x80", 4, "\\xf4\\x90\\x80\\x80"); /* > U+10FFFF */
	check("\xe2\x82", 2, "\\xe2\\x82");                 /* truncated */
}

static void test_small_buffers(void **state)
{
	const char *in = "a\x1b" "bc";
	char out[8];

	(void)state;
	for (size_t size = 0; size <= sizeof(out); size++) {
		memset(out, 'Z', sizeof(out));
		assert_int_equal(dv_term_escape(size ? out : NULL, size, in, 4), 7);
		if (size) {
			assert_true(memchr(out, 0, size) != NULL);
			assert_int_equal(strlen(out), size - 1 < 7 ? size - 1 : 7);
			assert_memory_equal(out, "a\\x1bbc", strlen(out));
		}
	}
}

static void test_dup_and_fputs(void **state)
{
	char *d = dv_term_escape_dup("x\x1b[2Jy\xff");
	char buf[64] = {0};
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	(void)state;
	assert_non_null(d);
	assert_string_equal(d, "x\\x1b[2Jy\\xff");
	free(d);
	assert_non_null(f);
	dv_term_fputs("ok \x1b[31m", f);
	dv_term_fprintf(f, "|%s: %s\n", "f\x1b.pt", "bad");
	fclose(f);
	assert_string_equal(buf, "ok \\x1b[31m|f\\x1b.pt: bad\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_passes),
		cmocka_unit_test(test_controls_escaped),
		cmocka_unit_test(test_invalid_utf8_escaped),
		cmocka_unit_test(test_small_buffers),
		cmocka_unit_test(test_dup_and_fputs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
