/* Temporary names beside a final file: the suffix is kept and the final
 * name's part shortened so any final name that fits has a temporary name
 * that fits too (NAME_MAX), and creating one works for a 255-byte name. */
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "dumpview/tmpfile.h"

static void test_short_name_unchanged(void **state)
{
	char out[256];
	(void)state;
	assert_int_equal(dv_tmp_name(out, sizeof(out), "dir/sub/x.csv", 42, 7, 255), 23);
	assert_string_equal(out, "dir/sub/x.csv.part-42-7");
	assert_int_equal(dv_tmp_name(out, sizeof(out), "x.csv", 1, 0, 255), 14);
	assert_string_equal(out, "x.csv.part-1-0");
	assert_int_equal(dv_tmp_name(out, 8, "x.csv", 1, 0, 255), -1); /* out too small */
}

static void test_long_name_shortened(void **state)
{
	char final[600], out[700], base[256];
	(void)state;
	memset(base, 'n', 255);
	base[255] = '\0';
	snprintf(final, sizeof(final), "/some/dir/%s", base);
	long len = dv_tmp_name(out, sizeof(out), final, 123456, 99, 255);
	assert_true(len > 0);
	const char *tb = strrchr(out, '/') + 1;
	assert_int_equal(strlen(tb), 255);                 /* fits exactly */
	assert_int_equal(strncmp(out, "/some/dir/nnn", 13), 0);
	assert_string_equal(tb + strlen(tb) - 15, ".part-123456-99"); /* the suffix is whole */
}

static void test_create_for_a_255_byte_name(void **state)
{
	char dir[] = "/tmp/dv-tmpfile.XXXXXX", final[600];
	(void)state;
	assert_non_null(mkdtemp(dir));
	char base[256];
	memset(base, 'z', 255);
	base[255] = '\0';
	snprintf(final, sizeof(final), "%s/%s", dir, base);
	dv_error err;
	dv_error_clear(&err);
	char *tmp = NULL;
	int fd = dv_tmp_create(final, &tmp, &err);
	assert_true(fd >= 0);
	assert_non_null(tmp);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
	assert_int_equal(rename(tmp, final), 0);
	struct stat st;
	assert_int_equal(stat(final, &st), 0);
	assert_int_equal(st.st_size, 1);
	unlink(final);
	rmdir(dir);
	free(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_short_name_unchanged),
		cmocka_unit_test(test_long_name_shortened),
		cmocka_unit_test(test_create_for_a_255_byte_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
