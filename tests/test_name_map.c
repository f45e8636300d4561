/* Name mapping (include/dumpview/name_map.h): the rule syntax and its
 * errors with columns, the rule file, substitution semantics (every match,
 * rules in order on the previous result, extended replacements) and the
 * renaming of a run's files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dumpview/name_map.h"

/* The rules' result on name ("=" when unchanged). */
static char *map1(dv_name_map *m, const char *name)
{
	static char buf[512];
	dv_error err = {{0}};
	char *out;
	int rc = dv_name_map_apply(m, name, &out, &err);

	if (rc < 0)
		fail_msg("apply '%s': %s", name, err.msg);
	if (!rc) {
		assert_null(out);
		return strcpy(buf, "=");
	}
	snprintf(buf, sizeof(buf), "%s", out);
	free(out);
	return buf;
}

static dv_name_map *rules(const char *first, ...)
{
	dv_name_map *m = dv_name_map_new();
	va_list ap;

	assert_non_null(m);
	va_start(ap, first);
	for (const char *r = first; r; r = va_arg(ap, const char *)) {
		dv_error err = {{0}};

		if (dv_name_map_add(m, r, NULL, NULL, &err))
			fail_msg("rule '%s': %s", r, err.msg);
	}
	va_end(ap);
	return m;
}

/* The error of one bad rule: its column and message. */
static void bad_rule(const char *rule, size_t column, const char *want)
{
	dv_name_map *m = dv_name_map_new();
	dv_error err = {{0}};
	size_t col = 0;
	char prefix[32];

	assert_int_equal(dv_name_map_add(m, rule, NULL, &col, &err), -1);
	assert_int_equal(dv_name_map_count(m), 0);
	if (col != column)
		fail_msg("'%s': column %zu, not %zu (%s)", rule, col, column, err.msg);
	snprintf(prefix, sizeof(prefix), "column %zu: ", column);
	assert_true(!strncmp(err.msg, prefix, strlen(prefix)));
	if (!strstr(err.msg, want))
		fail_msg("'%s': '%s' lacks '%s'", rule, err.msg, want);
	dv_name_map_free(m);
}

static void test_megatron_to_sglang(void **state)
{
	dv_name_map *m = rules("^decoder\\.=", "self_attention\\.linear_proj=self_attn.o_proj", NULL);

	(void)state;
	assert_string_equal(map1(m, "decoder.layers.3.self_attention.linear_proj"), "layers.3.self_attn.o_proj");
	assert_string_equal(map1(m, "layers.3.self_attn.o_proj"), "=");
	assert_string_equal(map1(m, "embedding"), "=");
	assert_int_equal(dv_name_map_count(m), 2);
	assert_string_equal(dv_name_map_rule(m, 1), "self_attention\\.linear_proj=self_attn.o_proj");
	dv_name_map_free(m);
}

static void test_every_match(void **state)
{
	dv_name_map *m = rules("_=.", NULL);

	(void)state;
	/* every match, like re.sub */
	assert_string_equal(map1(m, "a_b_c"), "a.b.c");
	dv_name_map_free(m);
	m = rules("^_=.", NULL);
	assert_string_equal(map1(m, "_b_c"), ".b_c");
	dv_name_map_free(m);
	/* deleting: an empty replacement */
	m = rules("\\.weight$=", NULL);
	assert_string_equal(map1(m, "w.weight"), "w");
	dv_name_map_free(m);
}

static void test_order(void **state)
{
	/* each rule sees the previous one's result: a then b */
	dv_name_map *m = rules("a=b", "b=c", NULL);

	(void)state;
	assert_string_equal(map1(m, "a"), "c");
	dv_name_map_free(m);
	m = rules("b=c", "a=b", NULL);
	assert_string_equal(map1(m, "a"), "b");
	dv_name_map_free(m);
	/* a rule that undoes the one before leaves the name unchanged */
	m = rules("x=y", "y=x", NULL);
	assert_string_equal(map1(m, "x"), "=");
	dv_name_map_free(m);
}

static void test_replacements(void **state)
{
	dv_name_map *m = rules("^layers\\.(\\d+)\\.(?<part>\\w+)$=blk${1}_$2_${part}", NULL);

	(void)state;
	assert_string_equal(map1(m, "layers.7.mlp"), "blk7_mlp_mlp");
	dv_name_map_free(m);
	m = rules("(\\w+)=\\U$1\\E!", NULL);
	assert_string_equal(map1(m, "ab.cd"), "AB!.CD!");
	dv_name_map_free(m);
	/* an unset group is empty; ${n:+set:unset} */
	m = rules("^(a)?b=[$1]${1:+A:none}", NULL);
	assert_string_equal(map1(m, "b"), "[]none");
	assert_string_equal(map1(m, "ab"), "[a]A");
	dv_name_map_free(m);
	/* a literal $ */
	m = rules("x=$$", NULL);
	assert_string_equal(map1(m, "x"), "$");
	dv_name_map_free(m);
}

static void test_separator(void **state)
{
	dv_name_map *m;

	(void)state;
	/* the first '=' splits: the replacement may hold more */
	m = rules("a=b=c", NULL);
	assert_string_equal(map1(m, "a"), "b=c");
	dv_name_map_free(m);
	/* \= is a literal '=' in the regex */
	m = rules("k\\=v=kv", NULL);
	assert_string_equal(map1(m, "k=v"), "kv");
	dv_name_map_free(m);
	/* lookarounds and classes keep their '=' */
	m = rules("a(?=b)=A", "(?<=x)c=C", "[=]=eq", NULL);
	assert_string_equal(map1(m, "ab xc a="), "Ab xC aeq");
	dv_name_map_free(m);
	m = rules("\\Qa=b\\E=lit", NULL);
	assert_string_equal(map1(m, "a=b"), "lit");
	dv_name_map_free(m);
}

static void test_errors(void **state)
{
	(void)state;
	bad_rule("abc", 4, "no '=' between REGEX and REPLACEMENT");
	bad_rule("", 1, "no '='");
	bad_rule("=x", 1, "empty regex");
	bad_rule("a(b=x", 4, "bad regex: missing closing parenthesis");
	bad_rule("a[b=x", 6, "no '='");   /* the class swallows the '=' */
	bad_rule("a)=x", 2, "bad regex");
	bad_rule("a(b)=$2", 8, "bad replacement: unknown substring");
	bad_rule("a(b)=x${nope}", 14, "bad replacement: unknown substring");
	bad_rule("a=\\q", 4, "bad replacement: bad escape");
	bad_rule("a=${1", 6, "bad replacement");
	bad_rule("a=$", 4, "bad replacement");
}

static void test_text(void **state)
{
	static const char text[] = "# Megatron -> SGLang\n"
				   "\n"
				   "   ^decoder\\.=  \r\n"
				   "\t# indented comment\n"
				   "linear_proj=o_proj";
	dv_name_map *m = dv_name_map_new();
	dv_error err = {{0}};
	size_t line = 0;

	(void)state;
	assert_int_equal(dv_name_map_add_text(m, text, strlen(text), "m.txt", &line, &err), 0);
	assert_int_equal(dv_name_map_count(m), 2);
	assert_string_equal(dv_name_map_rule(m, 0), "^decoder\\.=");
	assert_string_equal(dv_name_map_origin(m, 0), "m.txt:3");
	assert_string_equal(dv_name_map_origin(m, 1), "m.txt:5");
	assert_string_equal(map1(m, "decoder.linear_proj"), "o_proj");
	dv_name_map_free(m);
}

static void test_text_errors(void **state)
{
	static const char bad1[] = "a=b\n\n  x(y=z\n";
	static const char bad2[] = "a=b\n# c\nnoequals\n";
	static const char bad3[] = "a=b\nc\0d=e\n";
	dv_name_map *m = dv_name_map_new();
	dv_error err = {{0}};
	size_t line = 0;

	(void)state;
	assert_int_equal(dv_name_map_add_text(m, bad1, strlen(bad1), "f.map", &line, &err), -1);
	assert_int_equal(line, 3);
	/* the column counts the line's leading blanks */
	assert_string_equal(err.msg, "f.map:3: column 6: bad regex: missing closing parenthesis");
	assert_int_equal(dv_name_map_add_text(m, bad2, strlen(bad2), "g", NULL, &err), -1);
	assert_string_equal(err.msg, "g:3: column 9: no '=' between REGEX and REPLACEMENT");
	assert_int_equal(dv_name_map_add_text(m, bad3, sizeof(bad3) - 1, "h", NULL, &err), -1);
	assert_string_equal(err.msg, "h:2: column 2: NUL byte in a rule");
	dv_name_map_free(m);
}

static void test_load(void **state)
{
	char path[] = "/tmp/dv-name-map-XXXXXX";
	int fd = mkstemp(path);
	dv_name_map *m = dv_name_map_new();
	dv_error err = {{0}};
	static const char text[] = "a=b\nb(=c\n";

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(dv_name_map_load(m, path, &err), -1);
	assert_true(!strncmp(err.msg, path, strlen(path)));
	assert_non_null(strstr(err.msg, ":2: column 3: bad regex"));
	unlink(path);
	assert_int_equal(dv_name_map_load(m, path, &err), -1);
	assert_non_null(strstr(err.msg, "No such file"));
	dv_name_map_free(m);
}

static void test_too_expensive(void **state)
{
	dv_name_map *m = rules("(a+)+$=x", NULL);
	dv_error err = {{0}};
	char name[64], *out = NULL;

	(void)state;
	memset(name, 'a', 40);
	strcpy(name + 40, "!");
	assert_int_equal(dv_name_map_apply(m, name, &out, &err), -1);
	assert_null(out);
	assert_non_null(strstr(err.msg, "too expensive"));
	assert_non_null(strstr(err.msg, "(a+)+$=x"));
	dv_name_map_free(m);
}

/* rules that insert at every position grow a name geometrically: capped */
static void test_too_long(void **state)
{
	dv_name_map *m = rules("c*=xxx", "c*=xxx", "c*=xxx", "c*=xxx", "c*=xxx", "c*=xxx", "c*=xxx", NULL);
	dv_error err = {{0}};
	char *out = NULL;

	(void)state;
	assert_int_equal(dv_name_map_apply(m, "abc", &out, &err), -1);
	assert_null(out);
	assert_non_null(strstr(err.msg, "longer than 4096 bytes"));
	dv_name_map_free(m);
	m = rules("c*=xxx", NULL);
	assert_string_equal(map1(m, "ab"), "xxxaxxxbxxx");
	dv_name_map_free(m);
}

static void test_no_rules(void **state)
{
	dv_name_map *m = dv_name_map_new();

	(void)state;
	assert_string_equal(map1(m, "x"), "=");
	assert_string_equal(map1(NULL, "x"), "=");
	dv_name_map_free(m);
	dv_name_map_free(NULL);
}

/* A run's files renamed: name, the name tag, the layer read from the name
 * (a layer tag stays), the old name kept. */
static void test_run(void **state)
{
	dv_dumpfile files[3];
	dv_error e0;
	dv_phase ph = {.name = "p", .files = files, .nfiles = 3};
	dv_run run = {.phases = &ph, .nphases = 1};
	dv_name_map *m = rules("^decoder\\.layers\\.(\\d+)=blocks.1$1", NULL);
	dv_error err = {{0}};
	size_t n = 0;

	(void)state;
	assert_int_equal(dv_dumpfile_init(&files[0], "", "name=decoder.layers.3.attn___dump_index=1.pt", NULL, &e0), 0);
	assert_int_equal(dv_dumpfile_init(&files[1], "", "name=decoder.layers.4.attn___layer_id=9.pt", NULL, &e0), 0);
	assert_int_equal(dv_dumpfile_init(&files[2], "", "decoder.layers.5.x.pt", NULL, &e0), 0);
	files[0].layer = 3;
	files[2].layer = 5;
	assert_ptr_equal(files[0].name, dv_file_tag_value(&files[0], 0));
	assert_true(files[2].name_is_stem);
	assert_int_equal(dv_name_map_run(m, &run, NULL, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(files[0].name, "blocks.13.attn");
	assert_ptr_equal(files[0].name, dv_file_tag_value(&files[0], 0));
	assert_string_equal(dv_dumpfile_unmapped_name(&files[0]), "decoder.layers.3.attn");
	assert_int_equal(files[0].layer, -1);  /* "blocks" is no layer to the default regex */
	assert_int_equal(files[1].layer, 9);   /* from its tag */
	assert_string_equal(files[2].name, "blocks.15.x");
	assert_true(files[2].name_is_stem);
	assert_string_equal(dv_dumpfile_unmapped_name(&files[2]), "decoder.layers.5.x");
	/* the layer regex of the comparison reads the new name */
	dv_name_map_free(m);
	m = rules("blocks\\.1=layers.", NULL);
	assert_int_equal(dv_name_map_run(m, &run, "^layers\\.(\\d+)", &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(files[0].name, "layers.3.attn");
	assert_int_equal(files[0].layer, 3);
	assert_int_equal(files[1].layer, 9);
	/* the first name is kept through a second renaming */
	assert_string_equal(dv_dumpfile_unmapped_name(&files[0]), "decoder.layers.3.attn");
	for (int i = 0; i < 3; i++)
		dv_dumpfile_free(&files[i]);
	dv_name_map_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_megatron_to_sglang),
		cmocka_unit_test(test_every_match),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_replacements),
		cmocka_unit_test(test_separator),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_text_errors),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_too_expensive),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_no_rules),
		cmocka_unit_test(test_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
