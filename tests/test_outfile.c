/* Report output (include/dumpview/outfile.h): the temporary name always fits
 * NAME_MAX, a path into the dumps is refused however it is spelled, and a
 * committed or aborted file leaves nothing behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "dumpview/outfile.h"

static char root[64];

static char *at(const char *rel)
{
	static char buf[4][256];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", root, rel);
	return buf[k];
}

static void touch(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "%s/dv_outfile.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(root))
		return -1;
	mkdir(at("run"), 0755);
	mkdir(at("run/sub"), 0755);
	mkdir(at("other"), 0755);
	mkdir(at("elsewhere"), 0755);
	touch(at("run/sub/a.pt"), "x");
	touch(at("elsewhere/b.pt"), "y");
	if (symlink("run/sub", at("link")) || symlink("run/sub/a.pt", at("flink")))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static int check(const char *out)
{
	const char *dirs[] = { at("run") };
	const char *files[] = { at("run/sub/a.pt"), at("elsewhere/b.pt") };
	dv_error err = { { 0 } };

	return dv_output_check(out, dirs, 1, files, 2, &err);
}

static void test_check(void **state)
{
	(void)state;
	assert_int_equal(check(at("other/r.txt")), 0);
	assert_int_equal(check(at("r.txt")), 0);
	assert_int_equal(check(at("run/r.txt")), -1);              /* new file inside */
	assert_int_equal(check(at("run/sub/a.pt")), -1);           /* an input */
	assert_int_equal(check(at("run/sub/new/r.txt")), -1);      /* parent missing: cannot write */
	assert_int_equal(check(at("other/../run/sub/r.txt")), -1); /* spelled around */
	assert_int_equal(check(at("link/r.txt")), -1);             /* through a symlinked folder */
	assert_int_equal(check(at("flink")), -1);                  /* a symlink to an input */
	assert_int_equal(check(at("elsewhere/c.txt")), -1);        /* beside an input outside the run */
	assert_int_equal(check(at("run")), -1);                    /* the run itself */
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.' || (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."));
	closedir(d);
	return n;
}

static void test_commit_abort(void **state)
{
	dv_outfile o;
	dv_error err = { { 0 } };
	char buf[32] = { 0 };
	FILE *f;
	struct stat st;

	(void)state;
	touch(at("other/r.txt"), "old");
	chmod(at("other/r.txt"), 0640);
	assert_int_equal(dv_outfile_open(&o, at("other/r.txt"), &err), 0);
	fputs("new", o.f);
	dv_outfile_abort(&o);
	f = fopen(at("other/r.txt"), "r");
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "old");
	assert_int_equal(count_entries(at("other")), 1);

	assert_int_equal(dv_outfile_open(&o, at("other/r.txt"), &err), 0);
	fputs("new", o.f);
	assert_int_equal(count_entries(at("other")), 2);     /* the temporary, beside */
	assert_int_equal(dv_outfile_commit(&o, &err), 0);
	f = fopen(at("other/r.txt"), "r");
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "new");
	assert_int_equal(count_entries(at("other")), 1);
	assert_int_equal(stat(at("other/r.txt"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);           /* the old file's mode kept */

	/* a device is written in place, never replaced */
	assert_int_equal(dv_outfile_open(&o, "/dev/null", &err), 0);
	assert_null(o.tmp);
	fputs("x", o.f);
	assert_int_equal(dv_outfile_commit(&o, &err), 0);
	assert_int_equal(stat("/dev/null", &st), 0);
	assert_true(S_ISCHR(st.st_mode));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_commit_abort),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
