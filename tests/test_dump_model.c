/* The dump model: file-name tags, the layer regex, run layouts (built as
 * empty files in a temporary folder: only names matter), pairing with
 * duplicate_index and execution order, first divergence, diagnosis. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dumpview/comparison.h"
#include "dumpview/dump.h"
#include "dumpview/logical.h"

#include "dump_fixture.h"

static int setup(void **state)
{
	(void)state;
	return fixture_mkroot("dvtest");
}

static int teardown(void **state)
{
	(void)state;
	return fixture_rmroot();
}

static dv_run *open_run(const char *rel)
{
	dv_run_opts opts = {.base_dir = "/nonexistent-base"};
	dv_error err = {{0}};
	dv_run *run = dv_run_open(at(rel), &opts, &err);

	if (!run)
		fail_msg("dv_run_open(%s): %s", rel, err.msg);
	return run;
}

/* ---- tags ---- */

static const char *tag(const dv_tag *tags, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(tags[i].key, key))
			return tags[i].value;
	return NULL;
}

static void test_tags_newest(void **state)
{
	dv_tag *t;
	size_t n = dv_parse_tags("some/dir/step=0___rank=0___dump_index=7___name=attn_output___recompute_status=disabled___layer_id=3.pt", &t);

	(void)state;
	assert_int_equal(n, 6);
	assert_string_equal(t[0].key, "step");
	assert_string_equal(t[0].value, "0");
	assert_string_equal(tag(t, n, "name"), "attn_output");
	assert_string_equal(tag(t, n, "dump_index"), "7");
	assert_string_equal(tag(t, n, "layer_id"), "3");
	assert_string_equal(t[5].key, "layer_id");
	dv_free_tags(t, n);
}

static void test_tags_odd(void **state)
{
	dv_tag *t;
	size_t n;

	(void)state;
	/* parts without '=' are ignored */
	n = dv_parse_tags("weird___rank=1___noequals.pt", &t);
	assert_int_equal(n, 1);
	assert_string_equal(t[0].key, "rank");
	assert_string_equal(t[0].value, "1");
	dv_free_tags(t, n);
	/* '=' in a value: split on the first only; values are not escaped */
	n = dv_parse_tags("name=a=b=c___x=1.pt", &t);
	assert_int_equal(n, 2);
	assert_string_equal(tag(t, n, "name"), "a=b=c");
	dv_free_tags(t, n);
	/* spaces kept */
	n = dv_parse_tags("name=attn out put___rank=0 .pt", &t);
	assert_int_equal(n, 2);
	assert_string_equal(tag(t, n, "name"), "attn out put");
	assert_string_equal(tag(t, n, "rank"), "0 ");
	dv_free_tags(t, n);
	/* empty value, empty key */
	n = dv_parse_tags("name=___=v.pt", &t);
	assert_int_equal(n, 2);
	assert_string_equal(tag(t, n, "name"), "");
	assert_string_equal(tag(t, n, ""), "v");
	dv_free_tags(t, n);
	/* four underscores split like Python's str.split("___") */
	n = dv_parse_tags("a=1____b=2.pt", &t);
	assert_int_equal(n, 2);
	assert_string_equal(tag(t, n, "a"), "1");
	assert_string_equal(tag(t, n, "_b"), "2");
	dv_free_tags(t, n);
	/* one or two underscores are part of a value; seven split twice */
	n = dv_parse_tags("a=1__b_2___c=3_.pt", &t);
	assert_int_equal(n, 2);
	assert_string_equal(tag(t, n, "a"), "1__b_2");
	assert_string_equal(tag(t, n, "c"), "3_");
	dv_free_tags(t, n);
	n = dv_parse_tags("a=1_______b=2___.pt", &t);
	assert_int_equal(n, 2);
	assert_string_equal(tag(t, n, "a"), "1");
	assert_string_equal(tag(t, n, "_b"), "2");
	dv_free_tags(t, n);
	/* no tags at all */
	n = dv_parse_tags("plain.pt", &t);
	assert_int_equal(n, 0);
	dv_free_tags(t, n);
	n = dv_parse_tags(".pt", &t);
	assert_int_equal(n, 0);
	dv_free_tags(t, n);
}

/* ---- regex and layers ---- */

static void test_layer_regex(void **state)
{
	dv_error err = {{0}};
	pcre2_code *re = dv_regex_compile(DV_DEFAULT_LAYER_REGEX, false, &err);

	(void)state;
	assert_non_null(re);
	assert_int_equal(dv_layer_from_name(re, "non_intrusive__model.layers.4.mlp.output"), 4);
	assert_int_equal(dv_layer_from_name(re, "decoder.layers.17.self_attention.linear_qkv"), 17);
	assert_int_equal(dv_layer_from_name(re, "layer_12_attn"), 12);
	assert_int_equal(dv_layer_from_name(re, "model.layers_7"), 7);
	assert_int_equal(dv_layer_from_name(re, "layers.3"), 3);
	assert_int_equal(dv_layer_from_name(re, "player_3"), -1);
	assert_int_equal(dv_layer_from_name(re, "layers.x.mlp"), -1);
	assert_int_equal(dv_layer_from_name(re, "attn_output"), -1);
	assert_int_equal(dv_layer_from_name(re, "layers.99999999999999.x"), -1);
	pcre2_code_free(re);

	re = dv_regex_compile("blk(\\d+)", false, &err);
	assert_non_null(re);
	assert_int_equal(dv_layer_from_name(re, "model.blk9.ffn"), 9);
	assert_int_equal(dv_layer_from_name(re, "model.layers.4."), -1);
	pcre2_code_free(re);
	/* no group 1: no layer */
	re = dv_regex_compile("layers", false, &err);
	assert_int_equal(dv_layer_from_name(re, "model.layers.4."), -1);
	pcre2_code_free(re);

	assert_int_equal(dv_layer_parse("12"), 12);
	assert_int_equal(dv_layer_parse("1x"), -1);
	assert_int_equal(dv_layer_parse(""), -1);
	assert_int_equal(dv_layer_parse("-1"), -1);
}

static void test_regex_errors_and_case(void **state)
{
	dv_error err = {{0}};
	pcre2_code *re;

	(void)state;
	assert_null(dv_regex_compile("attn(", true, &err));
	assert_non_null(strstr(err.msg, "offset 5"));
	assert_non_null(strstr(err.msg, "missing closing parenthesis"));
	re = dv_regex_compile("attn", true, &err);
	assert_int_equal(dv_regex_test(re, "ATTN_out"), DV_REGEX_MATCH);
	pcre2_code_free(re);
	re = dv_regex_compile("Attn", true, &err);
	assert_int_equal(dv_regex_test(re, "attn_out"), DV_REGEX_NOMATCH);
	assert_int_equal(dv_regex_test(re, "Attn_out"), DV_REGEX_MATCH);
	pcre2_code_free(re);
	re = dv_regex_compile("\\Sattn", true, &err); /* an escape is not upper case */
	assert_int_equal(dv_regex_test(re, "XATTN"), DV_REGEX_MATCH);
	pcre2_code_free(re);
	re = dv_regex_compile("attn", false, &err);
	assert_int_equal(dv_regex_test(re, "ATTN"), DV_REGEX_NOMATCH);
	pcre2_code_free(re);
}

/* Catastrophic backtracking hits the limits and says so: it is neither a
 * match nor a no-match. UTF mode: "." is one character, and a name that is
 * not valid UTF-8 still matches instead of erroring. */
static void test_regex_limits_and_utf(void **state)
{
	dv_error err = {{0}};
	char name[4096];
	pcre2_code *re;

	(void)state;
	memset(name, 'a', sizeof(name) - 2);
	name[sizeof(name) - 2] = 'b';
	name[sizeof(name) - 1] = '\0';
	re = dv_regex_compile("(a+)+$", false, &err);
	assert_non_null(re);
	name[sizeof(name) - 2] = '!';
	assert_int_equal(dv_regex_test(re, name), DV_REGEX_TOO_EXPENSIVE);
	name[sizeof(name) - 2] = 'a';
	assert_int_equal(dv_regex_test(re, name), DV_REGEX_MATCH);
	pcre2_code_free(re);
	re = dv_regex_compile("(?:a|a)*b", false, &err);
	assert_non_null(re);
	name[sizeof(name) - 3] = '!'; /* a "b" present defeats PCRE2's required-character shortcut */
	name[sizeof(name) - 2] = 'b';
	assert_int_equal(dv_regex_test(re, name), DV_REGEX_TOO_EXPENSIVE);
	pcre2_code_free(re);
	/* The layer regex runs under the same limits (no layer, at once). */
	re = dv_regex_compile("(?:a+)+(\\d)$", false, &err);
	assert_non_null(re);
	name[sizeof(name) - 3] = 'a';
	name[sizeof(name) - 2] = '!';
	assert_int_equal(dv_layer_from_name(re, name), -1);
	assert_int_equal(dv_layer_from_name(re, "aa7"), 7);
	pcre2_code_free(re);
	re = dv_regex_compile("^x.y$", false, &err);
	assert_non_null(re);
	assert_int_equal(dv_regex_test(re, "x\xc3\xa9y"), DV_REGEX_MATCH); /* U+00E9 is one character */
	pcre2_code_free(re);
	re = dv_regex_compile("attn", false, &err);
	assert_non_null(re);
	assert_int_equal(dv_regex_test(re, "\xff\xfe_attn"), DV_REGEX_MATCH);
	assert_int_equal(dv_regex_test(re, "\xff\xfe_mlp"), DV_REGEX_NOMATCH);
	pcre2_code_free(re);
}

/* ---- layouts ---- */

#define F(tags) tags ".pt"

static void test_layout_skill(void **state)
{
	dv_run *run;
	dv_path_buf pb;

	(void)state;
	touch("skill/fwd_bwd/sglang_dump_3.5/" F("step=0___rank=0___dump_index=1___name=x"));
	touch("skill/inference/sglang_dump_1.5/" F("step=0___rank=0___dump_index=2___name=b___layer_id=3"));
	touch("skill/inference/sglang_dump_1.5/" F("step=0___rank=0___dump_index=1___name=a"));
	touch("skill/inference/sglang_dump_1.5/notes.txt");
	touch("skill/fwd_only/sglang_dump_2.5/" F("step=0___rank=0___dump_index=1___name=x"));
	touch("skill/zeta/" F("name=z"));
	touch("skill/alpha/deep/" F("name=a"));
	touch("skill/empty/nothing/");
	run = open_run("skill");
	assert_false(run->bare);
	assert_int_equal(run->nphases, 5);
	assert_string_equal(run->phases[0].name, "inference");
	assert_string_equal(run->phases[0].dir, "inference/sglang_dump_1.5");
	assert_string_equal(run->phases[1].name, "fwd_only");
	assert_string_equal(run->phases[2].name, "fwd_bwd");
	assert_string_equal(run->phases[2].dir, "fwd_bwd/sglang_dump_3.5");
	assert_string_equal(run->phases[3].name, "alpha");
	assert_string_equal(run->phases[3].dir, "alpha/deep");
	assert_string_equal(run->phases[4].name, "zeta");
	assert_string_equal(run->phases[4].dir, "zeta");
	/* files in dump order, .txt ignored, a single sglang_dump folder adds no tag */
	assert_int_equal(run->phases[0].nfiles, 2);
	assert_string_equal(run->phases[0].files[0].name, "a");
	assert_int_equal(run->phases[0].files[0].layer, -1);
	assert_string_equal(run->phases[0].files[1].name, "b");
	assert_int_equal(run->phases[0].files[1].layer, 3);
	assert_int_equal(run->phases[0].files[1].ntags, 5);
	assert_int_equal(run->phases[0].files[1].nfile_tags, 5);
	assert_string_equal(dv_dumpfile_relpath(&run->phases[0].files[1]),
			    "inference/sglang_dump_1.5/step=0___rank=0___dump_index=2___name=b___layer_id=3.pt");
	assert_string_equal(dv_dumpfile_path(&run->phases[0].files[1], &pb),
			    at("skill/inference/sglang_dump_1.5/step=0___rank=0___dump_index=2___name=b___layer_id=3.pt"));
	assert_string_equal(dv_dumpfile_filename(&run->phases[0].files[1]),
			    "step=0___rank=0___dump_index=2___name=b___layer_id=3.pt");
	dv_run_free(run);
}

static void test_layout_engines_rollouts(void **state)
{
	dv_run *run;
	const dv_phase *ph;

	(void)state;
	touch("miles/engines/engine_0/" F("rank=0___dump_index=1___name=h"));
	touch("miles/engines/engine_1/" F("rank=0___dump_index=1___name=h"));
	touch("miles/fwd_only/rollout_3/" F("rank=0___dump_index=1___name=h"));
	touch("miles/fwd_only/rollout_10/" F("rank=0___dump_index=1___name=h"));
	touch("miles/fwd_bwd/rollout_3/sglang_dump_5.5/" F("rank=0___dump_index=1___name=h"));
	run = open_run("miles");
	assert_int_equal(run->nphases, 3);
	ph = &run->phases[0];
	assert_string_equal(ph->name, "inference");
	assert_string_equal(ph->dir, "engines");
	assert_int_equal(ph->nfiles, 2);
	assert_string_equal(dv_tag_get(&ph->files[0], "engine"), "0");
	assert_string_equal(dv_tag_get(&ph->files[1], "engine"), "1");
	assert_int_equal(ph->files[0].nfile_tags, 3);
	assert_int_equal(ph->files[0].ntags, 4);
	ph = &run->phases[1];
	assert_string_equal(ph->name, "fwd_only");
	assert_string_equal(ph->dir, "fwd_only");
	assert_int_equal(ph->nfiles, 2);
	assert_non_null(dv_tag_get(&ph->files[0], "rollout"));
	assert_string_not_equal(dv_tag_get(&ph->files[0], "rollout"), dv_tag_get(&ph->files[1], "rollout"));
	ph = &run->phases[2];
	assert_string_equal(ph->name, "fwd_bwd");
	assert_string_equal(ph->dir, "fwd_bwd/rollout_3/sglang_dump_5.5");
	assert_null(dv_tag_get(&ph->files[0], "rollout"));
	dv_run_free(run);

	/* one engine: descended, no engine tag */
	touch("one/engines/engine_0/" F("rank=0___dump_index=1___name=h"));
	run = open_run("one");
	assert_int_equal(run->nphases, 1);
	assert_string_equal(run->phases[0].name, "inference");
	assert_null(dv_tag_get(&run->phases[0].files[0], "engine"));
	dv_run_free(run);
}

static void test_layout_several_sglang_dumps(void **state)
{
	dv_run *run;
	const dv_phase *ph;

	(void)state;
	/* timestamps sort by value: 999.5 is the first dump, whatever the names' order */
	touch("multi/inference/sglang_dump_999.5/" F("dump_index=1___name=a"));
	touch("multi/inference/sglang_dump_1000.25/" F("dump_index=1___name=a"));
	run = open_run("multi");
	ph = &run->phases[0];
	assert_int_equal(ph->nfiles, 2);
	for (size_t i = 0; i < 2; i++) {
		bool first = strstr(dv_dumpfile_relpath(&ph->files[i]), "999.5") != NULL;

		assert_string_equal(dv_tag_get(&ph->files[i], "sglang_dump"), first ? "0" : "1");
	}
	dv_run_free(run);
}

/* A file's path is its run's folder (interned, one for every file of the
 * run) and its relpath (in its block), built on demand. */
static void test_file_paths(void **state)
{
	dv_dumpfile f, g;
	dv_error err = {{0}};
	dv_path_buf pb, pb2;
	char root[DV_PATH_MAX + 16];
	size_t rl;

	(void)state;
	assert_int_equal(dv_dumpfile_init(&f, "/r/un", "inference/name=a.pt", NULL, &err), 0);
	assert_string_equal(dv_dumpfile_relpath(&f), "inference/name=a.pt");
	assert_string_equal(dv_dumpfile_filename(&f), "name=a.pt");
	assert_string_equal(dv_dumpfile_path(&f, &pb), "/r/un/inference/name=a.pt");
	assert_ptr_equal(dv_dumpfile_path(&f, &pb), pb.s);
	assert_true(f.prefix != DV_PREFIX_NONE && f.prefix != DV_PREFIX_APART);
	/* the same folder spelled with its slash: the same prefix */
	assert_int_equal(dv_dumpfile_init(&g, "/r/un/", "fwd_bwd/x/name=b.pt", NULL, &err), 0);
	assert_string_equal(dv_dumpfile_path(&g, &pb2), "/r/un/fwd_bwd/x/name=b.pt");
	assert_string_equal(dv_dumpfile_path(&f, &pb), "/r/un/inference/name=a.pt"); /* two buffers, two paths */
	assert_string_equal(dv_dumpfile_filename(&g), "name=b.pt");
	assert_int_equal(f.prefix, g.prefix);
	dv_dumpfile_free(&g);
	/* relpath without a folder: the slash after the root is the prefix's */
	assert_int_equal(dv_dumpfile_init(&g, "/r/un", "name=c.pt", NULL, &err), 0);
	assert_string_equal(dv_dumpfile_relpath(&g), "name=c.pt");
	assert_string_equal(dv_dumpfile_filename(&g), "name=c.pt");
	assert_string_equal(dv_dumpfile_path(&g, &pb2), "/r/un/name=c.pt");
	assert_int_equal(f.prefix, g.prefix);
	dv_dumpfile_free(&g);
	assert_int_equal(dv_dumpfile_init(&g, "/", "name=c.pt", NULL, &err), 0);
	assert_string_equal(dv_dumpfile_path(&g, &pb2), "/name=c.pt");
	assert_int_not_equal(f.prefix, g.prefix);
	dv_dumpfile_free(&g);
	/* no root: the path is relpath itself, nothing built */
	assert_int_equal(dv_dumpfile_init(&g, "", "inference/name=d.pt", NULL, &err), 0);
	assert_int_equal(g.prefix, DV_PREFIX_NONE);
	assert_ptr_equal(dv_dumpfile_path(&g, &pb2), dv_dumpfile_relpath(&g));
	dv_dumpfile_free(&g);
	/* the longest path: DV_PATH_MAX - 1 bytes; one more is refused */
	rl = DV_PATH_MAX - 1 - strlen("/inference/name=e.pt");
	memset(root, 'r', rl + 1);
	root[0] = '/';
	root[rl] = '\0';
	assert_int_equal(dv_dumpfile_init(&g, root, "inference/name=e.pt", NULL, &err), 0);
	assert_int_equal(strlen(dv_dumpfile_path(&g, &pb2)), DV_PATH_MAX - 1);
	assert_memory_equal(pb2.s, root, rl);
	assert_string_equal(pb2.s + rl, "/inference/name=e.pt");
	dv_dumpfile_free(&g);
	root[rl] = 'r';
	root[rl + 1] = '\0';
	assert_int_equal(dv_dumpfile_init(&g, root, "inference/name=e.pt", NULL, &err), -1);
	/* the folder's middle cut out: the reason fits the message */
	assert_non_null(strstr(err.msg, "rrr/inference/name=e.pt: path too long (4096 bytes; at most 4095)"));
	assert_true(err.msg[0] == '/' && strstr(err.msg, "rrr...rrr") && strlen(err.msg) < 400);
	dv_dumpfile_free(&g);
	dv_dumpfile_free(&f);
}

/* A file whose path is too long to open is the run's problem, named; the
 * rest of the folder is listed. */
static void test_layout_long_path(void **state)
{
	char dir[DV_PATH_MAX], name[231];
	int fd, dfd;
	dv_run *run;

	(void)state;
	touch("long/inference/" F("name=short"));
	snprintf(dir, sizeof(dir), "%s", at("long/inference"));
	for (int i = 0; i < 16; i++) { /* 16 folders: as deep as a phase is read */
		size_t n = strlen(dir);

		dir[n] = '/';
		memset(dir + n + 1, 'a' + i, 240);
		dir[n + 241] = '\0';
		assert_int_equal(mkdir(dir, 0755), 0);
	}
	memset(name, 'n', sizeof(name) - 1);
	memcpy(name, "name=", 5);
	memcpy(name + sizeof(name) - 4, ".pt", 4);
	assert_true(strlen(dir) + 1 + strlen(name) >= DV_PATH_MAX);
	assert_true((dfd = open(dir, O_RDONLY | O_DIRECTORY)) >= 0);
	assert_true((fd = openat(dfd, name, O_WRONLY | O_CREAT, 0644)) >= 0);
	close(fd);
	run = open_run("long");
	assert_int_equal(run->nphases, 1);
	assert_int_equal(run->phases[0].nfiles, 1);
	assert_string_equal(run->phases[0].files[0].name, "short");
	assert_int_equal(run->nproblems, 1);
	assert_non_null(strstr(run->problems[0], "not read: path too long ("));
	assert_non_null(strstr(run->problems[0], name));
	assert_true(!strncmp(run->problems[0], "inference/aaaa", 14));
	dv_run_free(run);
	unlinkat(dfd, name, 0); /* nftw could not reach it */
	close(dfd);
}

/* A listed file's names and tags live in one block; folder tags added after
 * the listing rebuild it, and every name still reads whole. */
static void test_file_block(void **state)
{
	dv_run *run;
	const dv_phase *ph;
	char want[1024];
	dv_path_buf pb;

	(void)state;
	touch("blk/inference/engine_0/" F("step=1___rank=0___name=a___layer_id=2"));
	touch("blk/inference/engine_1/" F("step=1___rank=0___name=a___layer_id=2"));
	touch("blk/inference/" F("noname___rank=3"));
	run = open_run("blk");
	ph = &run->phases[0];
	assert_int_equal(ph->nfiles, 3);
	for (size_t i = 0; i < ph->nfiles; i++) {
		const dv_dumpfile *f = &ph->files[i];
		bool loose = f->rank == 3;

		snprintf(want, sizeof(want), "%s/%s", at("blk"), dv_dumpfile_relpath(f));
		assert_string_equal(dv_dumpfile_path(f, &pb), want);
		assert_string_equal(dv_dumpfile_filename(f), strrchr(dv_dumpfile_path(f, &pb), '/') + 1);
		{
			size_t sl;
			const char *stem = dv_dumpfile_stem(f, &sl);

			assert_int_equal(sl + 3, strlen(dv_dumpfile_filename(f)));
			assert_memory_equal(stem, dv_dumpfile_filename(f), sl);
			/* kept apart only as the name */
			assert_true(f->name_is_stem == (dv_tag_get(f, "name") == NULL));
		}
		/* relpath in the block, the run's folder shared: the path is built */
		assert_true(dv_dumpfile_relpath(f) >= (char *)f->tags &&
			    dv_dumpfile_relpath(f) < (char *)f->tags + f->block_size);
		assert_int_not_equal(f->prefix, DV_PREFIX_NONE);
		assert_int_not_equal(f->prefix, DV_PREFIX_APART);
		assert_ptr_equal(dv_dumpfile_path(f, &pb), pb.s);
		assert_int_equal(f->prefix, ph->files[0].prefix);
		assert_int_equal(f->nfile_tags, loose ? 1 : 4);
		assert_int_equal(f->ntags, f->nfile_tags + 1);
		if (loose) {
			assert_string_equal(dv_dumpfile_relpath(f), "inference/noname___rank=3.pt");
			assert_string_equal(f->name, "noname___rank=3"); /* the stem */
			assert_true(f->name_is_stem);
			assert_string_equal(dv_tag_get(f, "folder"), DV_LOOSE_FOLDER);
		} else {
			snprintf(want, sizeof(want), "inference/engine_%s/step=1___rank=0___name=a___layer_id=2.pt",
				 dv_tag_get(f, "engine"));
			assert_string_equal(dv_dumpfile_relpath(f), want);
			assert_string_equal(f->name, "a");
			assert_int_equal(f->step, 1);
			assert_int_equal(f->layer, 2);
			assert_string_equal(dv_file_tag_key(f, 3), "layer_id");
			assert_string_equal(dv_file_tag_value(f, 3), "2");
			assert_string_equal(dv_file_tag_key(f, 4), "engine"); /* after the file's own */
		}
		/* keys are the run's, shared by its files */
		for (size_t t = 0; t < f->ntags; t++)
			for (size_t k = 0; k < ph->files[0].ntags; k++)
				if (!strcmp(dv_file_tag_key(f, t), dv_file_tag_key(&ph->files[0], k)))
					assert_ptr_equal(dv_file_tag_key(f, t), dv_file_tag_key(&ph->files[0], k));
	}
	dv_run_free(run);
}

/* Past the 16 tags a listing notes on its first pass (parts without '='
 * between): the later ones parsed again, the first of a key wins. */
static void test_file_many_tags(void **state)
{
	dv_run *run;
	const dv_dumpfile *f;

	(void)state;
	touch("manytags/inference/" F("t0=0___t1=1___t2=2___t3=3___t4=4___t5=5___t6=6___t7=7___t8=8___t9=9___"
				      "t10=10___t11=11___t12=12___t13=13___t14=14___junk___rank=5___step=7___"
				      "rank=6___x___name=x___name=y"));
	run = open_run("manytags");
	f = &run->phases[0].files[0];
	assert_int_equal(f->nfile_tags, 20);
	assert_int_equal(f->rank, 5);
	assert_int_equal(f->step, 7);
	assert_string_equal(f->name, "x");
	assert_string_equal(dv_file_tag_value(f, 14), "14");
	assert_string_equal(dv_file_tag_key(f, 15), "rank");
	assert_string_equal(dv_file_tag_key(f, 16), "step");
	assert_string_equal(dv_file_tag_value(f, 17), "6");
	assert_string_equal(dv_file_tag_key(f, 19), "name");
	assert_string_equal(dv_file_tag_value(f, 19), "y");
	dv_run_free(run);
}

static void test_layout_bare_and_descend(void **state)
{
	dv_run *run;

	(void)state;
	touch("bare/" F("forward_pass_id=2___rank=1___name=model.layers.4.mlp___dump_index=3"));
	touch("bare/" F("forward_pass_id=1___rank=0___dump_index=9"));
	run = open_run("bare");
	assert_true(run->bare);
	assert_int_equal(run->nphases, 1);
	assert_string_equal(run->phases[0].name, "bare");
	assert_string_equal(run->phases[0].dir, ".");
	/* old naming: step from forward_pass_id, layer from the name, name falls back to the stem */
	assert_int_equal(run->phases[0].files[0].step, 1);
	assert_string_equal(run->phases[0].files[0].name, "forward_pass_id=1___rank=0___dump_index=9");
	assert_int_equal(run->phases[0].files[1].step, 2);
	assert_int_equal(run->phases[0].files[1].rank, 1);
	assert_int_equal(run->phases[0].files[1].dump_index, 3);
	assert_int_equal(run->phases[0].files[1].layer, 4);
	dv_run_free(run);

	/* folders with no .pt and one subfolder are descended; a phase folder name survives */
	touch("wrap/a/b/inference/sglang_dump_1/" F("dump_index=1___name=x"));
	run = open_run("wrap");
	assert_false(run->bare);
	assert_int_equal(run->nphases, 1);
	assert_string_equal(run->phases[0].name, "inference");
	assert_string_equal(run->phases[0].dir, "a/b/inference/sglang_dump_1");
	assert_string_equal(dv_dumpfile_relpath(&run->phases[0].files[0]), "a/b/inference/sglang_dump_1/dump_index=1___name=x.pt");
	dv_run_free(run);

	/* a bare folder given by its path inside a phase keeps the phase's name */
	run = open_run("wrap/a/b/inference/sglang_dump_1");
	assert_true(run->bare);
	assert_string_equal(run->phases[0].name, "inference");
	dv_run_free(run);
	run = open_run("wrap/a/b/inference");
	assert_true(run->bare);
	assert_string_equal(run->phases[0].name, "inference");
	assert_string_equal(run->phases[0].dir, "sglang_dump_1");
	dv_run_free(run);
}

static void test_layout_link_loops(void **state)
{
	dv_run *run;

	(void)state;
	touch("loop/fwd_only/c/" F("dump_index=1___name=x"));
	assert_int_equal(symlink("..", at("loop/fwd_only/a")), 0);
	assert_int_equal(symlink(".", at("loop/fwd_only/b")), 0);
	run = open_run("loop");
	assert_int_equal(run->nphases, 1);
	assert_int_equal(run->phases[0].nfiles, 1);
	/* the links lead to folders already read: c alone holds files, so no folder tag */
	assert_null(dv_tag_get(&run->phases[0].files[0], "folder"));
	assert_int_equal(run->nproblems, 0);
	dv_run_free(run);
}

static void test_layout_layers_from_tags(void **state)
{
	dv_run *run;
	const dv_phase *ph;
	dv_run_opts opts = {.layer_regex = "blk(\\d+)"};
	dv_error err = {{0}};

	(void)state;
	touch("lay/" F("dump_index=1___name=model.layers.4.mlp___layer_id=7"));
	touch("lay/" F("dump_index=2___name=x___layer=5"));
	touch("lay/" F("dump_index=3___name=non_intrusive__model.layers.4.mlp.output"));
	touch("lay/" F("dump_index=4___name=blk2.attn"));
	touch("lay/" F("dump_index=5___name=x___layer_id=abc"));
	run = open_run("lay");
	ph = &run->phases[0];
	assert_int_equal(ph->files[0].layer, 7); /* the tag wins over the name */
	assert_int_equal(ph->files[1].layer, 5);
	assert_int_equal(ph->files[2].layer, 4);
	assert_int_equal(ph->files[3].layer, -1);
	assert_int_equal(ph->files[4].layer, -1);
	dv_run_free(run);

	run = dv_run_open(at("lay"), &opts, &err);
	assert_non_null(run);
	ph = &run->phases[0];
	assert_int_equal(ph->files[2].layer, -1);
	assert_int_equal(ph->files[3].layer, 2);
	dv_run_free(run);

	opts.layer_regex = "(";
	assert_null(dv_run_open(at("lay"), &opts, &err));
	assert_non_null(strstr(err.msg, "--layer-regex"));
	assert_non_null(strstr(err.msg, "offset 1"));
}

static void test_resolve_tag(void **state)
{
	dv_run_opts opts = {.base_dir = at("base")};
	dv_error err = {{0}};
	dv_run *run;
	char cwd[1024];

	(void)state;
	touch("base/mytag/fwd_only/" F("dump_index=1___name=x"));
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir("/"), 0); /* so "mytag" is no path here */
	run = dv_run_open("mytag", &opts, &err);
	assert_non_null(run);
	assert_string_equal(run->spec, "mytag");
	assert_string_equal(run->root, at("base/mytag"));
	assert_string_equal(run->phases[0].name, "fwd_only");
	dv_run_free(run);

	/* $DUMPER_BASE_DIR when opts give none */
	setenv("DUMPER_BASE_DIR", at("base"), 1);
	run = dv_run_open("mytag", NULL, &err);
	assert_non_null(run);
	assert_string_equal(run->root, at("base/mytag"));
	dv_run_free(run);

	/* missing: the error names both places tried */
	assert_null(dv_run_open("nosuch", NULL, &err));
	assert_non_null(strstr(err.msg, "'nosuch'"));
	assert_non_null(strstr(err.msg, at("base/nosuch")));
	unsetenv("DUMPER_BASE_DIR");
	assert_null(dv_run_open("nosuch", NULL, &err));
	assert_non_null(strstr(err.msg, "/tmp/dumper/nosuch"));
	assert_int_equal(chdir(cwd), 0);
}

/* ---- pairing ---- */

static dv_comparison *build(const char *b, const char *t, const char *filter)
{
	dv_error err = {{0}};
	pcre2_code *re = filter ? dv_regex_compile(filter, true, &err) : NULL;
	dv_comparison *cmp = dv_comparison_build(open_run(b), open_run(t), re, &err);

	pcre2_code_free(re);
	if (!cmp)
		fail_msg("dv_comparison_build: %s", err.msg);
	return cmp;
}

static dv_comparison *build_raw(const char *b, const char *t)
{
	static const dv_grouping raw = {.preset = DV_PRESET_RAW};
	dv_error err = {{0}};
	dv_comparison *cmp = dv_comparison_build_grouped(open_run(b), open_run(t), NULL, &raw, &err);

	if (!cmp)
		fail_msg("dv_comparison_build_grouped: %s", err.msg);
	return cmp;
}

/* Logical tensors: under the default preset (sglang_dev) a name's files on
 * every rank are one pair; sglang_megatron joins the steps too; raw keeps
 * one file a side. */
static void test_grouping_presets(void **state)
{
	static const dv_grouping megatron = {.preset = DV_PRESET_SGLANG_MEGATRON};
	static const char *const skip_name[] = {"name"};
	static const dv_grouping skip = {.preset = -1, .skip_keys = skip_name, .nskip_keys = 1};
	dv_error err = {{0}};
	dv_comparison *cmp;
	const dv_dumpfile *const *files;
	size_t n;

	(void)state;
	for (int side = 0; side < 2; side++)
		for (int step = 0; step < 2; step++)
			for (int rank = 0; rank < (side ? 4 : 1); rank++)
				for (int d = 1; d <= 2; d++) {
					char rel[256];

					snprintf(rel, sizeof(rel), "gp%c/fwd_only/step=%d___rank=%d___dump_index=%d___name=t%d.pt",
						 side ? 't' : 'b', step, rank, d, d);
					touch(rel);
				}
	cmp = build("gpb", "gpt", NULL);
	assert_int_equal(cmp->npairs, 4);       /* 2 names x 2 steps */
	assert_string_equal(dv_preset_name(cmp->phases[0].lctx->preset), "sglang_dev");
	assert_true(cmp->phases[0].lctx->preset_chosen);
	assert_int_equal(cmp->pairs[0].kind, DV_PAIR_MATCHED);
	assert_string_equal(cmp->pairs[0].name, "t1");
	assert_int_equal(cmp->pairs[0].step, 0);
	assert_int_equal(cmp->pairs[0].rank, -1);  /* spread over ranks */
	assert_int_equal(cmp->pairs[0].nbase, 1);
	assert_int_equal(cmp->pairs[0].ntarg, 4);
	files = dv_pair_files(&cmp->pairs[0], 1, &n);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(files[i]->rank, (int64_t)i);
	assert_ptr_equal(files[0], cmp->pairs[0].targ);
	assert_string_equal(cmp->pairs[1].name, "t2");
	assert_int_equal(cmp->pairs[2].step, 1);
	dv_comparison_free(cmp);

	cmp = dv_comparison_build_grouped(open_run("gpb"), open_run("gpt"), NULL, &megatron, &err);
	assert_non_null(cmp);
	assert_int_equal(cmp->npairs, 2);       /* steps joined */
	assert_int_equal(cmp->pairs[0].nbase, 2);
	assert_int_equal(cmp->pairs[0].ntarg, 8);
	assert_int_equal(cmp->pairs[0].step, -1);
	files = dv_pair_files(&cmp->pairs[0], 1, &n);
	assert_int_equal(files[0]->step, 0);
	assert_int_equal(files[4]->step, 1);    /* (step, rank) order */
	assert_int_equal(files[5]->rank, 1);
	assert_true(cmp->phases[0].lctx->concat_steps);
	dv_comparison_free(cmp);

	cmp = build_raw("gpb", "gpt");
	assert_int_equal(cmp->npairs, 2 * 2 * 4); /* one per target file; ranks 1-3 unmatched */
	dv_comparison_free(cmp);

	/* --grouping-skip-keys alone: raw plus the keys (rank stays a key) */
	cmp = dv_comparison_build_grouped(open_run("gpb"), open_run("gpt"), NULL, &skip, &err);
	assert_non_null(cmp);
	assert_string_equal(dv_preset_name(cmp->phases[0].lctx->preset), "raw");
	assert_int_equal(cmp->pairs[0].kind, DV_PAIR_MATCHED);
	assert_int_equal(cmp->pairs[0].nbase, 2); /* t1 and t2 of rank 0, step 0 */
	dv_comparison_free(cmp);
}

static void test_pairing_duplicates(void **state)
{
	dv_comparison *cmp;
	const dv_pair *p;

	(void)state;
	/* the same tags three times in the baseline, twice in the target */
	touch("dupb/fwd_only/" F("rank=0___dump_index=5___name=h"));
	touch("dupb/fwd_only/" F("rank=0___dump_index=2___name=h"));
	touch("dupb/fwd_only/" F("rank=0___dump_index=9___name=h"));
	touch("dupt/fwd_only/" F("rank=0___dump_index=4___name=h"));
	touch("dupt/fwd_only/" F("rank=0___dump_index=3___name=h"));
	cmp = build("dupb", "dupt", NULL);
	assert_int_equal(cmp->nphases, 1);
	assert_int_equal(cmp->npairs, 3);
	p = &cmp->pairs[0];
	assert_int_equal(p->kind, DV_PAIR_MATCHED);
	assert_int_equal(p->base->dump_index, 2);
	assert_int_equal(p->targ->dump_index, 3);
	assert_int_equal(p->base->duplicate_index, 0);
	assert_int_equal(p->targ->duplicate_index, 0);
	p = &cmp->pairs[1];
	assert_int_equal(p->kind, DV_PAIR_MATCHED);
	assert_int_equal(p->base->dump_index, 5);
	assert_int_equal(p->targ->dump_index, 4);
	assert_int_equal(p->base->duplicate_index, 1);
	p = &cmp->pairs[2];
	assert_int_equal(p->kind, DV_PAIR_BASELINE_ONLY);
	assert_null(p->targ);
	assert_int_equal(p->base->dump_index, 9);
	assert_int_equal(p->base->duplicate_index, 2);
	assert_int_equal(atomic_load(&p->state), DV_PAIR_DONE);
	assert_int_equal(atomic_load(&cmp->pairs[0].state), DV_PAIR_PENDING);
	dv_comparison_free(cmp);
}

static void test_pairing_without_name_tags(void **state)
{
	dv_comparison *cmp;

	(void)state;
	/* no name tag: the file name tells them apart, not their order */
	touch("nonb/x/alpha.pt");
	touch("nonb/x/beta.pt");
	touch("nont/x/beta.pt");
	touch("nont/x/gamma.pt");
	cmp = build("nonb", "nont", NULL);
	assert_int_equal(cmp->npairs, 3);
	for (size_t i = 0; i < cmp->npairs; i++) {
		const dv_pair *p = &cmp->pairs[i];

		if (!strcmp(p->name, "beta")) {
			assert_int_equal(p->kind, DV_PAIR_MATCHED);
		} else {
			assert_int_equal(p->kind, strcmp(p->name, "alpha") ? DV_PAIR_TARGET_ONLY : DV_PAIR_BASELINE_ONLY);
		}
	}
	dv_comparison_free(cmp);
}

static void test_pairing_order(void **state)
{
	dv_comparison *cmp;
	static const char *const order[] = {
		/* step, then target dump_index, then rank */
		"s0 r0 d1", "s0 r1 d1", "s0 r1 d2", "s0 r0 d3", "s1 r0 d1", "s1 r1 d1",
	};

	(void)state;
	touch("ordb/fwd_bwd/" F("step=1___rank=1___dump_index=1___name=s1 r1 d1"));
	touch("ordb/fwd_bwd/" F("step=1___rank=0___dump_index=1___name=s1 r0 d1"));
	touch("ordb/fwd_bwd/" F("step=0___rank=0___dump_index=3___name=s0 r0 d3"));
	touch("ordb/fwd_bwd/" F("step=0___rank=1___dump_index=2___name=s0 r1 d2"));
	touch("ordb/fwd_bwd/" F("step=0___rank=1___dump_index=1___name=s0 r1 d1"));
	touch("ordb/fwd_bwd/" F("step=0___rank=0___dump_index=1___name=s0 r0 d1"));
	touch("ordb/inference/" F("step=0___rank=0___dump_index=1___name=only in base"));
	/* the target: same tensors, other dump indexes for rank 0 step 0 */
	touch("ordt/fwd_bwd/" F("step=1___rank=1___dump_index=1___name=s1 r1 d1"));
	touch("ordt/fwd_bwd/" F("step=1___rank=0___dump_index=1___name=s1 r0 d1"));
	touch("ordt/fwd_bwd/" F("step=0___rank=0___dump_index=3___name=s0 r0 d3"));
	touch("ordt/fwd_bwd/" F("step=0___rank=1___dump_index=2___name=s0 r1 d2"));
	touch("ordt/fwd_bwd/" F("step=0___rank=1___dump_index=1___name=s0 r1 d1"));
	touch("ordt/fwd_bwd/" F("step=0___rank=0___dump_index=1___name=s0 r0 d1"));
	touch("ordt/zextra/" F("name=only in target"));
	cmp = build("ordb", "ordt", NULL);
	assert_int_equal(cmp->nphases, 3);
	assert_string_equal(cmp->phases[0].name, "inference");
	assert_true(cmp->phases[0].in_base);
	assert_false(cmp->phases[0].in_targ);
	assert_int_equal(cmp->phases[0].count, 1);
	assert_int_equal(cmp->pairs[0].kind, DV_PAIR_BASELINE_ONLY);
	assert_string_equal(cmp->phases[1].name, "fwd_bwd");
	assert_true(cmp->phases[1].in_base && cmp->phases[1].in_targ);
	assert_int_equal(cmp->phases[1].first, 1);
	assert_int_equal(cmp->phases[1].count, 6);
	for (size_t i = 0; i < 6; i++) {
		assert_string_equal(cmp->pairs[1 + i].name, order[i]);
		assert_int_equal(cmp->pairs[1 + i].kind, DV_PAIR_MATCHED);
		assert_int_equal(cmp->pairs[1 + i].phase, 1);
	}
	assert_string_equal(cmp->phases[2].name, "zextra");
	assert_false(cmp->phases[2].in_base);
	assert_true(cmp->phases[2].in_targ);
	assert_int_equal(cmp->pairs[7].kind, DV_PAIR_TARGET_ONLY);
	assert_int_equal(cmp->npairs, 8);
	dv_comparison_free(cmp);
}

static void test_pairing_folder_tags(void **state)
{
	dv_comparison *cmp;

	(void)state;
	/* engine tags pair engine with engine; an extra engine is unmatched */
	touch("engb/engines/engine_0/" F("dump_index=1___name=h"));
	touch("engb/engines/engine_1/" F("dump_index=1___name=h"));
	touch("engt/engines/engine_1/" F("dump_index=1___name=h"));
	touch("engt/engines/engine_0/" F("dump_index=1___name=h"));
	touch("engt/engines/engine_2/" F("dump_index=1___name=h"));
	cmp = build("engb", "engt", NULL);
	assert_int_equal(cmp->npairs, 3);
	for (size_t i = 0; i < 3; i++) {
		const dv_pair *p = &cmp->pairs[i];

		if (p->kind == DV_PAIR_MATCHED)
			assert_string_equal(dv_tag_get(p->base, "engine"), dv_tag_get(p->targ, "engine"));
		else
			assert_string_equal(dv_tag_get(p->targ, "engine"), "2");
	}
	dv_comparison_free(cmp);
}

static void test_pairing_filter(void **state)
{
	dv_comparison *cmp;

	(void)state;
	touch("filb/fwd_only/" F("dump_index=1___name=attn_q"));
	touch("filb/fwd_only/" F("dump_index=2___name=mlp_out"));
	touch("filb/fwd_bwd/" F("dump_index=1___name=grad__mlp_out"));
	touch("filt/fwd_only/" F("dump_index=1___name=attn_q"));
	touch("filt/fwd_only/" F("dump_index=2___name=mlp_out"));
	touch("filt/fwd_bwd/" F("dump_index=1___name=grad__mlp_out"));
	touch("filt/fwd_bwd/" F("dump_index=2___name=grad__attn_q"));
	cmp = build("filb", "filt", "ATTN");
	assert_int_equal(cmp->nphases, 0);
	assert_int_equal(cmp->npairs, 0);
	dv_comparison_free(cmp);
	cmp = build("filb", "filt", "attn");
	assert_int_equal(cmp->nphases, 2);
	assert_int_equal(cmp->npairs, 2);
	assert_string_equal(cmp->pairs[0].name, "attn_q");
	assert_string_equal(cmp->pairs[1].name, "grad__attn_q");
	assert_int_equal(cmp->pairs[1].kind, DV_PAIR_TARGET_ONLY);
	assert_int_equal(cmp->pairs[1].phase, 1);
	assert_int_equal(cmp->phases[1].first, 1);
	dv_comparison_free(cmp);
}

/* ---- first divergence and diagnosis (results filled by hand) ---- */

#define assert_contains(text, needle) do { \
	if (!strstr((text), (needle))) \
		fail_msg("%s\nhas no\n%s", (text), (needle)); \
} while (0)

static void set_result(dv_pair *p, dv_result_status status, bool passed, double rel, dv_dtype dt)
{
	fixture_result(p);
	p->result->status = status;
	p->result->passed = passed;
	p->result->rel_diff = rel;
	p->result->base.dtype = p->result->targ.dtype = dt;
	p->result->numel = 100;
	p->result->identical = passed ? 100 : 90;
	atomic_store(&p->state, DV_PAIR_DONE);
}

static void make_model_dump(const char *run, bool bad)
{
	/* layers 0 (dense) and 1 (MoE); in the bad run layer 1's MLP side diverges */
	static const char *const names[] = {
		"embed", "input_layernorm_out___layer_id=0", "attn_q___layer_id=0", "mlp_output___layer_id=0",
		"input_layernorm_out___layer_id=1", "attn_q___layer_id=1", "moe_router_logits___layer_id=1",
		"moe_topk_ids___layer_id=1", "moe_output___layer_id=1", "logits",
	};
	char path[512];

	(void)bad;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/fwd_only/step=0___rank=0___dump_index=%zu___name=%s.pt", run, i + 1,
			 names[i]);
		touch(path);
		snprintf(path, sizeof(path), "%s/inference/step=0___rank=0___dump_index=%zu___name=%s.pt", run, i + 1,
			 names[i]);
		touch(path);
	}
}

/* ---- grouping, walk limits, warnings ---- */

static const dv_phase *phase_named(const dv_run *run, const char *name)
{
	for (size_t i = 0; i < run->nphases; i++)
		if (!strcmp(run->phases[i].name, name))
			return &run->phases[i];
	fail_msg("no phase %s", name);
	return NULL;
}

static const dv_dumpfile *file_named(const dv_phase *ph, const char *name)
{
	for (size_t i = 0; i < ph->nfiles; i++)
		if (!strcmp(ph->files[i].name, name))
			return &ph->files[i];
	fail_msg("no file %s in phase %s", name, ph->name);
	return NULL;
}

static void test_layout_stray_root_file(void **state)
{
	dv_run *run;
	const dv_phase *ph;

	(void)state;
	/* a config.pt beside the phase folders hides neither them nor itself */
	touch("stray/" F("config"));
	touch("stray/inference/sglang_dump_1/" F("dump_index=1___name=a"));
	touch("stray/fwd_only/" F("dump_index=1___name=b"));
	run = open_run("stray");
	assert_false(run->bare);
	assert_int_equal(run->nphases, 3);
	assert_string_equal(run->phases[0].name, "inference");
	assert_string_equal(run->phases[1].name, "fwd_only");
	assert_string_equal(run->phases[2].name, DV_ROOT_PHASE);
	ph = phase_named(run, DV_ROOT_PHASE);
	assert_int_equal(ph->nfiles, 1);
	assert_string_equal(dv_dumpfile_relpath(&ph->files[0]), "config.pt");
	assert_string_equal(ph->dir, ".");
	assert_int_equal(phase_named(run, "inference")->nfiles, 1);
	assert_int_equal(run->nproblems, 0);
	dv_run_free(run);
}

static void test_layout_files_beside_subfolders(void **state)
{
	dv_run *run;
	const dv_phase *ph;

	(void)state;
	/* inside a phase, .pt files beside sglang_dump folders: all read, each group tagged */
	touch("beside/inference/" F("dump_index=1___name=loose"));
	touch("beside/inference/sglang_dump_10/" F("dump_index=1___name=a"));
	touch("beside/inference/sglang_dump_20/" F("dump_index=1___name=b"));
	touch("beside/fwd_only/" F("dump_index=1___name=c"));
	run = open_run("beside");
	assert_int_equal(run->nphases, 2);
	ph = phase_named(run, "inference");
	assert_int_equal(ph->nfiles, 3);
	assert_string_equal(dv_tag_get(file_named(ph, "loose"), "folder"), DV_LOOSE_FOLDER);
	assert_string_equal(dv_tag_get(file_named(ph, "a"), "sglang_dump"), "0");
	assert_string_equal(dv_tag_get(file_named(ph, "b"), "sglang_dump"), "1");
	assert_int_equal(file_named(ph, "a")->nfile_tags, 2);
	dv_run_free(run);

	/* the same as a bare run (given by the phase folder's path) */
	run = open_run("beside/inference");
	assert_true(run->bare);
	assert_int_equal(run->nphases, 1);
	assert_string_equal(run->phases[0].name, "inference");
	assert_int_equal(run->phases[0].nfiles, 3);
	dv_run_free(run);
}

static void test_pairing_empty_and_extra_folders(void **state)
{
	dv_comparison *cmp;
	size_t matched = 0, only_t = 0;

	(void)state;
	/* an empty sglang_dump left by an aborted re-run is ignored: everything pairs */
	touch("abb/inference/sglang_dump_5/" F("dump_index=1___name=a"));
	touch("abb/inference/sglang_dump_5/" F("dump_index=2___name=b"));
	touch("abt/inference/sglang_dump_7/" F("dump_index=1___name=a"));
	touch("abt/inference/sglang_dump_7/" F("dump_index=2___name=b"));
	touch("abt/inference/sglang_dump_9/empty/");
	cmp = build("abb", "abt", NULL);
	assert_int_equal(cmp->npairs, 2);
	assert_int_equal(cmp->pairs[0].kind, DV_PAIR_MATCHED);
	assert_int_equal(cmp->pairs[1].kind, DV_PAIR_MATCHED);
	assert_null(dv_tag_get(cmp->pairs[0].targ, "sglang_dump"));
	assert_false(cmp->phases[0].folders_ignored);
	dv_comparison_free(cmp);

	/* an extra re-run with files on one side: the ordinals are not keys, files pair by name */
	touch("ext/inference/sglang_dump_7/" F("dump_index=1___name=a"));
	touch("ext/inference/sglang_dump_7/" F("dump_index=2___name=b"));
	touch("ext/inference/sglang_dump_8/" F("dump_index=1___name=a"));
	cmp = build("abb", "ext", NULL);
	for (size_t i = 0; i < cmp->npairs; i++) {
		const dv_pair *p = &cmp->pairs[i];

		if (p->kind == DV_PAIR_MATCHED) {
			matched++;
			assert_string_equal(p->base->name, p->targ->name);
			assert_non_null(strstr(dv_dumpfile_relpath(p->targ), "sglang_dump_7/"));
		} else {
			only_t++;
			assert_int_equal(p->kind, DV_PAIR_TARGET_ONLY);
			assert_non_null(strstr(dv_dumpfile_relpath(p->targ), "sglang_dump_8/"));
		}
	}
	assert_int_equal(matched, 2);
	assert_int_equal(only_t, 1);
	assert_true(cmp->phases[0].folders_ignored);
	dv_comparison_free(cmp);

	/* the same structure on both sides (files beside engine folders): folder
	 * tags pair, even where dump order alone would pair them crosswise */
	touch("lsb/engines/" F("dump_index=1___name=h"));
	touch("lsb/engines/engine_0/" F("dump_index=2___name=h"));
	touch("lsb/engines/engine_1/" F("dump_index=3___name=h"));
	touch("lst/engines/" F("dump_index=3___name=h"));
	touch("lst/engines/engine_0/" F("dump_index=1___name=h"));
	touch("lst/engines/engine_1/" F("dump_index=2___name=h"));
	cmp = build("lsb", "lst", NULL);
	assert_int_equal(cmp->npairs, 3);
	for (size_t i = 0; i < cmp->npairs; i++) {
		const dv_pair *p = &cmp->pairs[i];
		const char *slash_b = strrchr(dv_dumpfile_relpath(p->base), '/'), *slash_t = strrchr(dv_dumpfile_relpath(p->targ), '/');

		assert_int_equal(p->kind, DV_PAIR_MATCHED);
		/* the same folder on both sides */
		assert_int_equal(slash_b - dv_dumpfile_relpath(p->base), slash_t - dv_dumpfile_relpath(p->targ));
		assert_memory_equal(dv_dumpfile_relpath(p->base), dv_dumpfile_relpath(p->targ), (size_t)(slash_b - dv_dumpfile_relpath(p->base)));
	}
	assert_false(cmp->phases[0].folders_ignored);
	dv_comparison_free(cmp);
}

/* A tag value seen again in a run is kept once (numbered through the key
 * table) for every file after its first; one seen once (a dump_index) stays
 * in the file's block. Read the same either way. */
static void test_shared_tag_values(void **state)
{
	(void)state;
	char rel[128];

	for (int i = 0; i < 6; i++) {
		snprintf(rel, sizeof(rel), "shv/p/step=0___rank=0___dump_index=%d___name=%s___status=disabled.pt", i,
			 i % 2 ? "attn_q" : "mlp_out");
		touch(rel);
	}
	dv_run *run = open_run("shv");
	const dv_phase *ph = &run->phases[0];
	const char *seen_name[2] = {NULL, NULL};

	assert_int_equal(ph->nfiles, 6);
	for (size_t i = 0; i < ph->nfiles; i++) {
		const dv_dumpfile *f = &ph->files[i];
		char want[16];

		snprintf(want, sizeof(want), "%lld", (long long)f->dump_index);
		assert_string_equal(dv_tag_get(f, "dump_index"), want);
		assert_string_equal(dv_tag_get(f, "status"), "disabled");
		assert_string_equal(dv_tag_get(f, "step"), "0");
		assert_string_equal(f->name, f->dump_index % 2 ? "attn_q" : "mlp_out");
		assert_ptr_equal(f->name, dv_tag_get(f, "name"));
		for (size_t t = 0; t < f->ntags; t++) {
			bool in_block = !(f->tags[t].value & DV_TAG_VALUE_SHARED);
			const char *v = dv_file_tag_value(f, t);

			/* each file's own dump_index in its block */
			if (!strcmp(dv_file_tag_key(f, t), "dump_index"))
				assert_true(in_block);
			assert_true(!in_block || (v >= (const char *)f->tags && v < (const char *)f->tags + f->block_size));
		}
		/* the third file of a name shares it with the second */
		if (f->dump_index >= 2) {
			const char *shared = seen_name[f->dump_index % 2];

			if (shared && f->dump_index >= 4)
				assert_ptr_equal(f->name, shared);
			seen_name[f->dump_index % 2] = f->name;
		}
	}
	/* "disabled" is every file's after the first: one copy */
	assert_ptr_equal(dv_tag_get(&ph->files[4], "status"), dv_tag_get(&ph->files[5], "status"));
	dv_run_free(run);
}

static void test_walk_limits(void **state)
{
	dv_run *run;
	dv_run_opts follow = {.base_dir = "/nonexistent-base", .follow_symlinks = true};
	dv_error err = {{0}};
	char deep[1024] = "deep/fwd_only";

	(void)state;
	/* a symlinked folder leading outside the run is not followed, and said */
	touch("outside/" F("dump_index=1___name=foreign"));
	touch("lnk/fwd_only/own/" F("dump_index=1___name=own"));
	assert_int_equal(symlink(at("outside"), at("lnk/fwd_only/ext")), 0);
	/* a link inside the run is followed; the folder it leads to is read once */
	touch("lnk/fwd_bwd/real/" F("dump_index=1___name=g"));
	assert_int_equal(symlink("real", at("lnk/fwd_bwd/again")), 0);
	assert_int_equal(symlink("../fwd_bwd/real", at("lnk/fwd_only/twice")), 0);
	run = open_run("lnk");
	assert_int_equal(phase_named(run, "fwd_only")->nfiles, 1);
	assert_string_equal(phase_named(run, "fwd_only")->files[0].name, "own");
	assert_int_equal(phase_named(run, "fwd_bwd")->nfiles, 1);
	assert_int_equal(run->nproblems, 1);
	assert_string_equal(run->problems[0], "fwd_only/ext: not followed: a symlink to a folder outside the run "
			    "(--follow-symlinks follows it)");
	dv_run_free(run);
	run = dv_run_open(at("lnk"), &follow, &err);
	assert_non_null(run);
	assert_int_equal(phase_named(run, "fwd_only")->nfiles, 2);
	assert_int_equal(run->nproblems, 0);
	dv_run_free(run);

	/* files deeper than the limit are not read silently */
	for (int i = 0; i < 18; i++)
		strcat(deep, "/d");
	strcat(deep, "/" F("dump_index=1___name=deep"));
	touch(deep);
	touch("deep/fwd_only/" F("dump_index=1___name=top"));
	run = open_run("deep");
	assert_int_equal(run->nphases, 1);
	assert_int_equal(run->phases[0].nfiles, 1);
	assert_int_equal(run->nproblems, 1);
	assert_string_equal(run->problems[0], "fwd_only/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d: not read: more than 16 "
			    "folders below its phase folder");
	dv_run_free(run);
}

static void test_comparison_warnings(void **state)
{
	dv_comparison *cmp;
	char **w;
	size_t n;

	(void)state;
	/* a phase on one side only; a phase with files on both sides and no pair;
	 * more than half of the target's files without a partner */
	touch("wb/inference/" F("dump_index=1___name=a"));
	touch("wb/fwd_only/" F("dump_index=1___name=x"));
	touch("wb/fwd_bwd/" F("dump_index=1___name=g"));
	touch("wt/inference/" F("dump_index=1___name=a"));
	touch("wt/fwd_only/" F("dump_index=1___name=y"));
	touch("wt/fwd_only/" F("dump_index=2___name=z"));
	touch("wt/fwd_only/" F("dump_index=3___name=v"));
	touch("wb/inference/" F("dump_index=2___name=b"));
	touch("wt/inference/" F("dump_index=2___name=b"));
	cmp = build("wb", "wt", NULL);
	n = dv_comparison_warnings(cmp, &w);
	assert_int_equal(n, 3);
	assert_string_equal(w[0], "phase fwd_only: nothing compared: no file has a partner (1 in the baseline, 3 in the target)");
	assert_string_equal(w[1], "phase fwd_bwd: only in the baseline (1 file)");
	assert_string_equal(w[2], "target: 3 of 5 files have no partner in the baseline");
	dv_warnings_free(w, n);
	dv_comparison_free(cmp);

	/* identical layouts: no warning */
	cmp = build("wb", "wb", NULL);
	assert_int_equal(dv_comparison_warnings(cmp, &w), 0);
	assert_null(w);
	dv_comparison_free(cmp);
}

static void test_diagnosis_agrees_with_summary(void **state)
{
	dv_comparison *cmp;
	char *text;

	(void)state;
	touch("agree/inference/" F("dump_index=1___name=a"));
	touch("agree/inference/" F("dump_index=2___name=b"));
	touch("agree/inference/" F("dump_index=3___name=rids"));
	cmp = build("agree", "agree", NULL);
	assert_int_equal(cmp->npairs, 3);
	for (size_t i = 0; i < 3; i++)
		set_result(&cmp->pairs[i], strcmp(cmp->pairs[i].name, "rids") ? DV_RESULT_COMPARED : DV_RESULT_NON_TENSOR,
			   true, 0, DV_BFLOAT16);
	text = dv_diagnose(cmp);
	assert_string_equal(text, "No divergence: 2 passed, 1 skipped.");
	free(text);
	dv_comparison_free(cmp);
}

static void test_first_divergence_and_diagnosis(void **state)
{
	dv_comparison *cmp;
	bool known;
	char *text;
	size_t n;

	(void)state;
	make_model_dump("diagb", false);
	make_model_dump("diagt", true);
	cmp = build("diagb", "diagt", NULL);
	n = cmp->npairs;
	assert_int_equal(n, 20);
	assert_int_equal(dv_first_divergence(cmp, &known), -1);
	assert_false(known);
	text = dv_diagnose(cmp);
	assert_contains(text, "No divergence so far (0 of 20 pairs computed)");
	free(text);

	/* inference all passes; in fwd_only the MoE tensors of layer 1 fail */
	for (size_t i = 0; i < n; i++) {
		dv_pair *p = &cmp->pairs[i];
		bool fwd = p->phase == 1;
		bool moe = strstr(p->name, "moe_") != NULL, ids = strstr(p->name, "topk_ids") != NULL;
		bool fail = fwd && (moe || !strcmp(p->name, "logits"));

		set_result(p, DV_RESULT_COMPARED, !fail, fail ? 0.02 : 1e-8, ids ? DV_INT64 : DV_BFLOAT16);
	}
	/* an unfinished pair after the first failure keeps it exact; one before
	 * does not (states set by hand: counted again, as a loaded report is) */
	atomic_store(&cmp->pairs[n - 1].state, DV_PAIR_PENDING);
	dv_comparison_recount(cmp);
	assert_int_equal(dv_first_divergence(cmp, &known), 16);
	assert_true(known);
	assert_string_equal(cmp->pairs[16].name, "moe_router_logits");
	/* set by hand (a DONE pair never changes in a run): the memo is reset */
	atomic_store(&cmp->pairs[12].state, DV_PAIR_PENDING);
	dv_comparison_recount(cmp);
	assert_int_equal(dv_first_divergence(cmp, &known), 16);
	assert_false(known);
	atomic_store(&cmp->pairs[12].state, DV_PAIR_DONE);
	atomic_store(&cmp->pairs[n - 1].state, DV_PAIR_DONE);

	text = dv_diagnose(cmp);
	assert_contains(text, "First divergence: phase fwd_only, layer 1, tensor moe_router_logits (rank 0, step 0): rel_diff=0.02, a likely bug.");
	assert_contains(text, "Inference matches but the training forward (fwd_only) diverges");
	assert_contains(text, "Every tensor after it in fwd_only fails too (2): the divergence propagates from there.");
	assert_contains(text, "In layer 1, attention tensors: 0 of 1 fail; MLP tensors: 2 of 2 fail (attention is clean: the MLP is where it starts).");
	assert_contains(text, "MoE layers: 2 of 4 tensors fail (failing layers: 1); dense layers: 0 of 3 (failing layers: none); the first diverging layer 1 is an MoE layer; divergence follows the MoE layers.");
	assert_contains(text, "Integer tensors, counted apart (a failure there is flipped choices, not numeric error): 1 fail: moe_topk_ids (layer 1) 10 of 100 differ.");
	assert_null(strstr(text, "Unmatched"));
	free(text);

	/* non-tensor values never count as failed; errors and shape mismatches do */
	set_result(&cmp->pairs[0], DV_RESULT_NON_TENSOR, false, 0, DV_DTYPE_INVALID);
	assert_false(dv_pair_failed(&cmp->pairs[0]));
	set_result(&cmp->pairs[1], DV_RESULT_SHAPE_MISMATCH, false, 0, DV_BFLOAT16);
	assert_true(dv_pair_failed(&cmp->pairs[1]));
	dv_comparison_recount(cmp);
	assert_int_equal(dv_first_divergence(cmp, &known), 1);
	set_result(&cmp->pairs[1], DV_RESULT_ERROR, false, 0, DV_BFLOAT16);
	dv_result_set_error(cmp->pairs[1].result, "x.pt: truncated");
	assert_true(dv_pair_failed(&cmp->pairs[1]));
	text = dv_diagnose(cmp);
	assert_contains(text, "First divergence: phase inference, layer 0, tensor input_layernorm_out (rank 0, step 0): error (x.pt: truncated).");
	assert_contains(text, "The inference engine already diverges: suspect weight loading or the inference code.");
	assert_contains(text, "Later phases fail too, downstream of it: fwd_only 4 of 10.");
	assert_contains(text, "After it in inference, 0 of 7 tensors fail.");
	free(text);
	dv_comparison_free(cmp);
}

static void test_diagnosis_gradients_and_unmatched(void **state)
{
	dv_comparison *cmp;
	char *text;

	(void)state;
	touch("gb/fwd_bwd/" F("dump_index=1___name=logits"));
	touch("gb/fwd_bwd/" F("dump_index=2___name=grad__logits"));
	touch("gb/fwd_bwd/" F("dump_index=3___name=grad__mlp_output___layer_id=0"));
	touch("gt/fwd_bwd/" F("dump_index=1___name=logits"));
	touch("gt/fwd_bwd/" F("dump_index=2___name=grad__logits"));
	touch("gt/fwd_bwd/" F("dump_index=3___name=grad__mlp_output___layer_id=0"));
	touch("gt/fwd_bwd/" F("dump_index=4___name=extra"));
	touch("gt/fwd_only/" F("dump_index=1___name=logits"));
	cmp = build("gb", "gt", NULL);
	assert_int_equal(cmp->nphases, 2);
	for (size_t i = 0; i < cmp->npairs; i++)
		if (cmp->pairs[i].kind == DV_PAIR_MATCHED)
			set_result(&cmp->pairs[i], DV_RESULT_COMPARED, strcmp(cmp->pairs[i].name, "grad__mlp_output"),
				   strcmp(cmp->pairs[i].name, "grad__mlp_output") ? 0 : 5e-4, DV_FLOAT32);
	text = dv_diagnose(cmp);
	assert_contains(text, "First divergence: phase fwd_bwd, layer 0, tensor grad__mlp_output: rel_diff=0.0005");
	assert_contains(text, "In layer 0, MLP tensors: 1 of 1 fail.");
	assert_contains(text, "rel_diff=0.0005, a minor numerical difference.");
	assert_contains(text, "only the backward of fwd_bwd diverges: suspect the gradients");
	assert_contains(text, "Unmatched files: 0 in the baseline only, 2 in the target only.");
	assert_contains(text, "Phase fwd_only is in the target only.");
	free(text);
	dv_comparison_free(cmp);
}

static void test_diagnosis_ranks(void **state)
{
	dv_comparison *cmp;
	char *text;

	(void)state;
	for (int side = 0; side < 2; side++)
		for (int rank = 0; rank < 2; rank++)
			for (int d = 1; d <= 3; d++) {
				char rel[256];

				snprintf(rel, sizeof(rel), "rk%c/fwd_only/rank=%d___dump_index=%d___name=t%d.pt",
					 side ? 't' : 'b', rank, d, d);
				touch(rel);
			}
	cmp = build_raw("rkb", "rkt");
	assert_int_equal(cmp->npairs, 6);
	/* execution order interleaves the ranks: dump_index, then rank */
	assert_int_equal(cmp->pairs[0].rank, 0);
	assert_int_equal(cmp->pairs[1].rank, 1);
	for (size_t i = 0; i < cmp->npairs; i++) {
		bool fail = cmp->pairs[i].rank == 1 && strcmp(cmp->pairs[i].name, "t1");

		set_result(&cmp->pairs[i], DV_RESULT_COMPARED, !fail, fail ? 0.1 : 0, DV_FLOAT32);
	}
	text = dv_diagnose(cmp);
	assert_contains(text, "tensor t2 (rank 1): rel_diff=0.1");
	assert_contains(text, "By rank: rank 0 0 of 3, rank 1 2 of 3 fail (only some ranks diverge: suspect parallelism or sharding).");
	free(text);
	for (size_t i = 0; i < cmp->npairs; i++)
		set_result(&cmp->pairs[i], DV_RESULT_COMPARED, i < 2, i < 2 ? 0 : 0.1, DV_FLOAT32);
	text = dv_diagnose(cmp);
	assert_contains(text, "By rank: rank 0 2 of 3, rank 1 2 of 3 fail.");
	free(text);
	dv_comparison_free(cmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tags_newest),
		cmocka_unit_test(test_tags_odd),
		cmocka_unit_test(test_file_block),
		cmocka_unit_test(test_file_paths),
		cmocka_unit_test(test_layout_long_path),
		cmocka_unit_test(test_file_many_tags),
		cmocka_unit_test(test_layer_regex),
		cmocka_unit_test(test_regex_errors_and_case),
		cmocka_unit_test(test_regex_limits_and_utf),
		cmocka_unit_test(test_layout_skill),
		cmocka_unit_test(test_layout_engines_rollouts),
		cmocka_unit_test(test_layout_several_sglang_dumps),
		cmocka_unit_test(test_layout_bare_and_descend),
		cmocka_unit_test(test_layout_link_loops),
		cmocka_unit_test(test_layout_layers_from_tags),
		cmocka_unit_test(test_resolve_tag),
		cmocka_unit_test(test_pairing_duplicates),
		cmocka_unit_test(test_pairing_without_name_tags),
		cmocka_unit_test(test_pairing_order),
		cmocka_unit_test(test_pairing_folder_tags),
		cmocka_unit_test(test_pairing_filter),
		cmocka_unit_test(test_first_divergence_and_diagnosis),
		cmocka_unit_test(test_diagnosis_gradients_and_unmatched),
		cmocka_unit_test(test_diagnosis_ranks),
		cmocka_unit_test(test_grouping_presets),
		cmocka_unit_test(test_layout_stray_root_file),
		cmocka_unit_test(test_layout_files_beside_subfolders),
		cmocka_unit_test(test_pairing_empty_and_extra_folders),
		cmocka_unit_test(test_shared_tag_values),
		cmocka_unit_test(test_walk_limits),
		cmocka_unit_test(test_comparison_warnings),
		cmocka_unit_test(test_diagnosis_agrees_with_summary),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
