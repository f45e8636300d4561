/* The dims annotation (include/dumpview/dims.h): every grammar form, every
 * error with its column, the canonical round trip, --override-dims rules and
 * parallel coordinates read from real pickled meta dicts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dumpview/dims.h"

static dv_dims *parse_ok(const char *text)
{
	dv_error err = { "" };
	int col = -1;
	dv_dims *d = dv_dims_parse(text, &col, &err);

	if (!d)
		fail_msg("'%s' did not parse: %s", text, err.msg);
	assert_int_equal(col, 0);
	return d;
}

/* Parses, checks the canonical text, and that it parses back to the same. */
static void canon_is(const char *text, const char *want)
{
	dv_dims *d = parse_ok(text), *e;
	char *c = dv_dims_canonical(d), *c2;

	assert_non_null(c);
	assert_string_equal(c, want);
	e = parse_ok(c);
	assert_true(dv_dims_equal(d, e));
	c2 = dv_dims_canonical(e);
	assert_string_equal(c2, c);
	free(c);
	free(c2);
	dv_dims_free(e);
	dv_dims_free(d);
}

/* Fails at column col with a message holding want (and "column col:"). */
static void error_is(const char *text, int col, const char *want)
{
	dv_error err = { "" };
	int c = -1;
	char prefix[32];
	dv_dims *d = dv_dims_parse(text, &c, &err);

	if (d)
		fail_msg("'%s' parsed but should fail with '%s'", text, want);
	if (c != col || !strstr(err.msg, want))
		fail_msg("'%s': got column %d '%s', want column %d '%s'", text, c, err.msg, col, want);
	snprintf(prefix, sizeof(prefix), "column %d: ", col);
	assert_memory_equal(err.msg, prefix, strlen(prefix));
	assert_null(strchr(err.msg, '\n'));
}

static void test_plain_and_modifiers(void **state)
{
	dv_dims *d;

	(void)state;
	d = parse_ok("t h[tp]");
	assert_int_equal(dv_dims_count(d), 2);
	assert_string_equal(d->dims[0].name, "t");
	assert_int_equal(d->dims[0].nmods, 0);
	assert_int_equal(d->dims[0].column, 1);
	assert_string_equal(d->dims[1].name, "h");
	assert_int_equal(d->dims[1].column, 3);
	assert_int_equal(d->dims[1].nmods, 1);
	assert_int_equal(d->dims[1].mods[0].axis, DV_AXIS_TP);
	assert_false(d->dims[1].mods[0].zigzag);
	assert_false(d->dims[1].mods[0].partial);
	assert_null(d->dp_alias);
	assert_true(dv_dims_shards_axis(d, DV_AXIS_TP));
	assert_false(dv_dims_shards_axis(d, DV_AXIS_CP));
	dv_dims_free(d);

	/* Nested sharding keeps the written order; qualifiers in any order. */
	d = parse_ok("t[cp:zigzag,sp] h[tp:partial] x[cp:partial+zigzag] y[tp:sharded,ep:natural]");
	assert_int_equal(d->dims[0].nmods, 2);
	assert_int_equal(d->dims[0].mods[0].axis, DV_AXIS_CP);
	assert_true(d->dims[0].mods[0].zigzag);
	assert_int_equal(d->dims[0].mods[1].axis, DV_AXIS_SP);
	assert_false(d->dims[0].mods[1].zigzag);
	assert_true(d->dims[1].mods[0].partial);
	assert_true(d->dims[2].mods[0].partial && d->dims[2].mods[0].zigzag);
	assert_int_equal(d->dims[3].nmods, 2);
	assert_false(d->dims[3].mods[0].zigzag || d->dims[3].mods[0].partial);
	assert_false(d->dims[3].mods[1].zigzag || d->dims[3].mods[1].partial);
	dv_dims_free(d);

	/* Every axis name. */
	d = parse_ok("a[tp,cp,ep,sp,dp,etp,edp,attn_tp,attn_dp,moe_ep,moe_tp,moe_dp,recompute_pseudo]");
	assert_int_equal(d->dims[0].nmods, DV_AXIS_COUNT);
	for (int a = 0; a < DV_AXIS_COUNT; a++) {
		assert_int_equal(d->dims[0].mods[a].axis, a);
		assert_int_equal(dv_axis_from_name(dv_axis_name((dv_axis)a), strlen(dv_axis_name((dv_axis)a))), a);
	}
	assert_null(dv_axis_name(DV_AXIS_COUNT));
	assert_int_equal(dv_axis_from_name("pp", 2), -1);
	dv_dims_free(d);

	/* Free names, underscores, digits after the first character; any whitespace. */
	d = parse_ok("\t_x  num_heads2\nhead_dim ");
	assert_int_equal(dv_dims_count(d), 3);
	assert_string_equal(d->dims[1].name, "num_heads2");
	assert_int_equal(d->dims[2].column, 17);
	dv_dims_free(d);
}

static void test_fused_and_squeeze(void **state)
{
	dv_dims *d;

	(void)state;
	d = parse_ok("t[cp:zigzag,sp] 1 (num_heads*head_dim)[tp] 1 (a*b*c)");
	assert_int_equal(dv_dims_count(d), 5);
	assert_true(d->dims[1].squeeze);
	assert_string_equal(d->dims[1].name, "singleton0");
	assert_int_equal(d->dims[1].nmods, 0);
	assert_string_equal(d->dims[2].name, "num_heads___head_dim");
	assert_int_equal(d->dims[2].nparts, 2);
	assert_string_equal(d->dims[2].parts[0], "num_heads");
	assert_string_equal(d->dims[2].parts[1], "head_dim");
	assert_int_equal(d->dims[2].mods[0].axis, DV_AXIS_TP);
	assert_string_equal(d->dims[3].name, "singleton1");
	assert_string_equal(d->dims[4].name, "a___b___c");
	assert_int_equal(d->dims[4].nparts, 3);
	assert_int_equal(dv_dims_find(d, "num_heads___head_dim"), 2);
	assert_int_equal(dv_dims_find(d, "singleton1"), 3);
	assert_int_equal(dv_dims_find(d, "num_heads"), -1);
	dv_dims_free(d);

	/* '1' alone is a valid shape; several '1's do not clash. */
	d = parse_ok("1 1 1");
	assert_string_equal(d->dims[2].name, "singleton2");
	dv_dims_free(d);
}

static void test_declarations(void **state)
{
	dv_dims *d;
	dv_axis axis;
	dv_error err = { "" };

	(void)state;
	d = parse_ok("t h # tp:replicated dp:=attn_dp");
	assert_true(d->replicated[DV_AXIS_TP]);
	assert_false(d->replicated[DV_AXIS_EP]);
	assert_string_equal(d->dp_alias, "attn_dp");
	assert_int_equal(dv_dims_dp_axis(d, &axis, &err), 0);
	assert_int_equal(axis, DV_AXIS_ATTN_DP);
	dv_dims_free(d);

	d = parse_ok("t h");
	assert_int_equal(dv_dims_dp_axis(d, &axis, &err), 0);
	assert_int_equal(axis, DV_AXIS_DP);
	dv_dims_free(d);

	/* No spaces needed around '#'; an empty declaration part is fine. */
	d = parse_ok("t h#ep:replicated\ttp:replicated ");
	assert_true(d->replicated[DV_AXIS_EP] && d->replicated[DV_AXIS_TP]);
	dv_dims_free(d);
	d = parse_ok("t h #");
	for (int a = 0; a < DV_AXIS_COUNT; a++)
		assert_false(d->replicated[a]);
	dv_dims_free(d);

	/* dp:=WORD that names no axis parses; the error comes when it is used. */
	d = parse_ok("t h # dp:=foo");
	assert_string_equal(d->dp_alias, "foo");
	assert_int_equal(dv_dims_dp_axis(d, &axis, &err), -1);
	assert_non_null(strstr(err.msg, "dp alias 'foo' is not a parallel axis"));
	dv_dims_free(d);

	/* Replicated on one axis and sharded on another is fine. */
	d = parse_ok("t[cp] h # tp:replicated recompute_pseudo:replicated");
	assert_true(d->replicated[DV_AXIS_RECOMPUTE_PSEUDO]);
	dv_dims_free(d);
}

/* Every error of the spec's table, and the column each one points at. */
static void test_errors(void **state)
{
	(void)state;
	/* shape empty or blank */
	error_is("", 1, "empty shape");
	error_is("   ", 1, "empty shape");
	error_is("  # tp:replicated", 1, "empty shape");
	/* token matches neither form */
	error_is("t 2h", 3, "neither '1', NAME[...] nor (A*B...)[...]: '2h'");
	error_is("t h[]", 3, "neither");
	error_is("1[tp]", 1, "the squeeze token '1' takes no modifiers: '1[tp]'");
	error_is("t h[tp", 3, "unclosed '[' in token 'h[tp'");
	error_is("h[tp]x", 1, "neither");
	error_is("h[[tp]]", 1, "neither");
	error_is("h-x", 1, "neither");
	error_is("11", 1, "neither");
	error_is("t (a * b)", 3, "unclosed '('");
	error_is("t (a*b", 3, "unclosed '('");
	error_is("(a*b)x", 1, "neither");
	error_is("(a*b)[tp", 1, "unclosed '['");
	/* fused: bad part, fewer than 2 parts, repeated part */
	error_is("t (a*2)", 6, "bad part of fused group (want a NAME): '2'");
	error_is("(a*)", 4, "bad part of fused group (want a NAME): ''");
	error_is("(a)", 1, "fused group needs at least 2 parts: '(a)'");
	error_is("()", 1, "at least 2 parts");
	error_is("x (a*b*a)", 8, "repeated part in fused group: 'a'");
	/* unknown axis in a modifier, empty modifier item */
	error_is("t h[xp]", 5, "unknown parallel axis (axes: tp, cp, ep, sp, dp, etp, edp, attn_tp, attn_dp, "
			       "moe_ep, moe_tp, moe_dp, recompute_pseudo) in modifier 'xp'");
	error_is("t h[tp,]", 8, "empty modifier item in 'h[tp,]'");
	error_is("h[,tp]", 3, "empty modifier item");
	error_is("h[TP]", 3, "unknown parallel axis");
	error_is("h[:zigzag]", 3, "unknown parallel axis");
	/* unknown qualifier */
	error_is("t h[tp:zz]", 8, "unknown qualifier (zigzag, natural, partial, sharded): 'zz'");
	error_is("t[cp:zigzag+zz] h", 13, "unknown qualifier (zigzag, natural, partial, sharded): 'zz'");
	error_is("h[tp:Partial]", 6, "unknown qualifier");
	/* two orderings / two reductions in one modifier */
	error_is("t[cp:zigzag+natural]", 13, "two orderings in one modifier: 'cp:zigzag+natural'");
	error_is("t[cp:natural+natural]", 14, "two orderings");
	error_is("t h[tp:partial+partial]", 16, "two reductions in one modifier: 'tp:partial+partial'");
	/* same axis twice in one dim */
	error_is("t h[tp,tp]", 8, "same axis twice in one dim's modifiers: 'tp'");
	error_is("t h[tp:partial,cp,tp:zigzag]", 19, "same axis twice");
	/* same semantic name twice; '1' does not count */
	error_is("h h", 3, "same dim name twice: 'h'");
	error_is("t num_heads (num_heads*head_dim)", 13, "same dim name twice: 'num_heads'");
	error_is("(a*b) x b[tp]", 9, "same dim name twice: 'b'");
	error_is("(a*b) (b*c)", 7, "same dim name twice: 'b'");
	error_is("a___b (a*b)", 7, "internal name is taken by an earlier token: 'a___b'");
	error_is("1 singleton0", 3, "internal name is taken");
	/* declarations */
	error_is("t h # tp:replicatd", 7, "declaration is neither 'dp:=NAME' nor 'AXIS:replicated': 'tp:replicatd'");
	error_is("t h # tp", 7, "declaration is neither");
	error_is("t h # dp:=", 7, "declaration is neither");
	error_is("t h # tp:replicated # x", 21, "declaration is neither");
	error_is("t h # dp:=a dp:=b", 13, "second dp alias: 'dp:=b'");
	error_is("t h # tp:replicated ep:replicated tp:replicated", 35, "axis declared replicated twice");
	error_is("t h # xp:replicated", 7, "unknown parallel axis (axes: tp,");
	/* an axis both sharded and replicated */
	error_is("h[tp] # tp:replicated", 9, "axis is both sharded by a modifier and declared replicated: "
					     "'tp:replicated'");
	error_is("t[cp:zigzag,sp] h # sp:replicated", 21, "both sharded");
	/* non-ASCII is never part of a name; quoted as bytes */
	error_is("\xc3\xa9 h", 1, "neither '1', NAME[...] nor (A*B...)[...]: '\\xc3\\xa9'");
	error_is("t h[tp:\xc3\xa9]", 8, "unknown qualifier (zigzag, natural, partial, sharded): '\\xc3\\xa9'");
}

static void canon_is_len(const char *text, size_t want)
{
	dv_dims *d = parse_ok(text), *e;
	char *c = dv_dims_canonical(d);

	assert_int_equal(strlen(c), want);
	e = parse_ok(c);
	assert_true(dv_dims_equal(d, e));
	free(c);
	dv_dims_free(e);
	dv_dims_free(d);
}

static void test_limits(void **state)
{
	char buf[DV_DIMS_MAX_LEN + 2];
	size_t o = 0;
	dv_dims *d;

	(void)state;
	for (int i = 0; i < DV_DIMS_MAX_TOKENS; i++)
		o += (size_t)sprintf(buf + o, "%sd%d", i ? " " : "", i);
	d = parse_ok(buf);
	assert_int_equal(dv_dims_count(d), DV_DIMS_MAX_TOKENS);
	dv_dims_free(d);
	sprintf(buf + o, " extra");
	error_is(buf, (int)o + 2, "more than 64 tokens");
	memset(buf, 'a', DV_DIMS_MAX_LEN + 1);
	buf[DV_DIMS_MAX_LEN + 1] = '\0';
	error_is(buf, 1, "dims longer than 4096 bytes");
	/* At the limit without spaces; its canonical form adds two and still parses. */
	memset(buf, 'a', DV_DIMS_MAX_LEN - 14);
	strcpy(buf + DV_DIMS_MAX_LEN - 14, "#tp:replicated");
	assert_int_equal(strlen(buf), DV_DIMS_MAX_LEN);
	canon_is_len(buf, DV_DIMS_MAX_LEN + 2);
}

/* The canonical form: one space between tokens, 'natural' and 'sharded'
 * dropped, qualifiers zigzag before partial, declarations sorted by axis
 * with the dp alias last. */
static void test_canonical(void **state)
{
	(void)state;
	canon_is("t h", "t h");
	canon_is("  t\t\th[tp]  ", "t h[tp]");
	canon_is("t h[tp:sharded]", "t h[tp]");
	canon_is("t[cp:natural] h", "t[cp] h");
	canon_is("t[cp:partial+zigzag] h", "t[cp:zigzag+partial] h");
	canon_is("t[cp:sharded+natural+partial] h", "t[cp:partial] h");
	/* Empty qualifiers are skipped, as the reference does. */
	canon_is("h[tp:]", "h[tp]");
	canon_is("t[cp:zigzag+,sp:+partial+] h", "t[cp:zigzag,sp:partial] h");
	canon_is("t h#dp:=attn_dp tp:replicated", "t h # tp:replicated dp:=attn_dp");
	canon_is("t h # ep:replicated tp:replicated", "t h # tp:replicated ep:replicated");
	canon_is("t h #   ", "t h");
	canon_is("t 1 (a*b*c)[tp,cp:zigzag] 1", "t 1 (a*b*c)[tp,cp:zigzag] 1");
	canon_is("t h # dp:=foo", "t h # dp:=foo");
	/* The spec's examples as written by miles and SGLang. */
	canon_is("t h # tp:replicated dp:=attn_dp", "t h # tp:replicated dp:=attn_dp");
	canon_is("t (num_heads*head_dim)[tp]", "t (num_heads*head_dim)[tp]");
	canon_is("t h[attn_tp:partial] # tp:replicated", "t h[attn_tp:partial] # tp:replicated");
	canon_is("t num_experts # tp:replicated", "t num_experts # tp:replicated");
	canon_is("t[cp:zigzag,sp] 1 h # tp:replicated ep:replicated",
		 "t[cp:zigzag,sp] 1 h # tp:replicated ep:replicated");
	canon_is("t[cp:zigzag,sp] num_heads[tp] head_dim # ep:replicated",
		 "t[cp:zigzag,sp] num_heads[tp] head_dim # ep:replicated");
	canon_is("t[cp:zigzag,sp] 1 (num_heads*head_dim)[tp] # ep:replicated",
		 "t[cp:zigzag,sp] 1 (num_heads*head_dim)[tp] # ep:replicated");
	canon_is("s[cp:zigzag,sp] 1 h # tp:replicated ep:replicated",
		 "s[cp:zigzag,sp] 1 h # tp:replicated ep:replicated");
	/* Worked examples: (1) (2) (3) (4) (5) (6). */
	canon_is("t h[tp]", "t h[tp]");
	canon_is("t h[tp:partial]", "t h[tp:partial]");
	canon_is("b s[cp:zigzag] h", "b s[cp:zigzag] h");
	canon_is("t[cp:zigzag] h", "t[cp:zigzag] h");
	canon_is("t[cp:zigzag] 1 h # tp:replicated", "t[cp:zigzag] 1 h # tp:replicated");
	canon_is("t num_heads head_dim", "t num_heads head_dim");
	canon_is("t 1 (num_heads*head_dim)", "t 1 (num_heads*head_dim)");
}

static void test_equal(void **state)
{
	dv_dims *a, *b;

	(void)state;
	a = parse_ok("t h[tp]");
	b = parse_ok("t h[tp:partial]");
	assert_false(dv_dims_equal(a, b));
	dv_dims_free(b);
	b = parse_ok("t h[tp] # ep:replicated");
	assert_false(dv_dims_equal(a, b));
	dv_dims_free(b);
	b = parse_ok("t\th[tp:natural+sharded]");
	assert_true(dv_dims_equal(a, b));
	dv_dims_free(b);
	dv_dims_free(a);
	a = parse_ok("t[cp,sp] h");
	b = parse_ok("t[sp,cp] h");
	assert_false(dv_dims_equal(a, b));   /* nesting order matters */
	dv_dims_free(b);
	dv_dims_free(a);
}

static void test_check_rank(void **state)
{
	dv_dims *d = parse_ok("t 1 h");
	dv_error err = { "" };

	(void)state;
	assert_int_equal(dv_dims_check_rank(d, 3, &err), 0);
	assert_int_equal(dv_dims_check_rank(d, 2, &err), -1);
	assert_string_equal(err.msg, "dims metadata mismatch: 'dims' has 3 tokens, the tensor has 2 dimensions");
	assert_int_equal(dv_dims_check_rank(d, 0, &err), -1);
	dv_dims_free(d);
}

static void test_overrides(void **state)
{
	dv_dims_overrides *o = dv_dims_overrides_new();
	dv_error err = { "" };
	const char *dims = NULL;
	size_t idx = 99;

	(void)state;
	assert_non_null(o);
	assert_int_equal(dv_dims_overrides_lookup(o, "x", DV_DIMS_SIDE_TARGET, &dims, &idx, &err), 0);
	/* Split at the first ':'; the dims keep theirs; both halves trimmed. */
	assert_int_equal(dv_dims_overrides_add_arg(o, " attn \t: t[cp:zigzag] h ", DV_DIMS_SIDE_BOTH, &err), 0);
	assert_int_equal(dv_dims_overrides_add_arg(o, "attn_out:t h[tp]", DV_DIMS_SIDE_BOTH, &err), 0);
	assert_int_equal(dv_dims_overrides_add_arg(o, "^mlp\\.:t h # tp:replicated", DV_DIMS_SIDE_BASELINE, &err), 0);
	assert_int_equal(dv_dims_overrides_add(o, "mlp", "t (a*b)[tp]", DV_DIMS_SIDE_TARGET, &err), 0);
	assert_int_equal(dv_dims_overrides_count(o), 4);

	/* A search, not a full match; the first fitting rule wins. */
	assert_int_equal(dv_dims_overrides_lookup(o, "layer.attn_out", DV_DIMS_SIDE_TARGET, &dims, &idx, &err), 1);
	assert_string_equal(dims, "t[cp:zigzag] h");
	assert_int_equal(idx, 0);
	/* Side: the baseline rule is skipped for the target. */
	assert_int_equal(dv_dims_overrides_lookup(o, "mlp.fc1", DV_DIMS_SIDE_BASELINE, &dims, &idx, &err), 1);
	assert_string_equal(dims, "t h # tp:replicated");
	assert_int_equal(idx, 2);
	assert_int_equal(dv_dims_overrides_lookup(o, "mlp.fc1", DV_DIMS_SIDE_TARGET, &dims, &idx, &err), 1);
	assert_string_equal(dims, "t (a*b)[tp]");
	assert_int_equal(idx, 3);
	assert_int_equal(dv_dims_overrides_lookup(o, "x.mlp.fc1", DV_DIMS_SIDE_BASELINE, &dims, &idx, &err), 0);
	assert_int_equal(dv_dims_overrides_lookup(o, "embed", DV_DIMS_SIDE_BASELINE, NULL, NULL, &err), 0);

	/* Errors: no ':', empty halves, bad regex, dims that do not parse. */
	assert_int_equal(dv_dims_overrides_add_arg(o, "attn", DV_DIMS_SIDE_BOTH, &err), -1);
	assert_string_equal(err.msg, "override 'attn': expected REGEX:DIMS");
	assert_int_equal(dv_dims_overrides_add_arg(o, " :t h", DV_DIMS_SIDE_BOTH, &err), -1);
	assert_non_null(strstr(err.msg, "override ' :t h': empty regex"));
	assert_int_equal(dv_dims_overrides_add_arg(o, "x:  ", DV_DIMS_SIDE_BOTH, &err), -1);
	assert_non_null(strstr(err.msg, "empty dims"));
	assert_int_equal(dv_dims_overrides_add_arg(o, "a(:t h", DV_DIMS_SIDE_BOTH, &err), -1);
	assert_non_null(strstr(err.msg, "override 'a(:t h': bad regex 'a(' at offset 2"));
	assert_int_equal(dv_dims_overrides_add_arg(o, "x:t h[xp]", DV_DIMS_SIDE_BOTH, &err), -1);
	assert_string_equal(err.msg, "override 'x:t h[xp]': dims 't h[xp]': column 5: unknown parallel axis (axes: "
				     "tp, cp, ep, sp, dp, etp, edp, attn_tp, attn_dp, moe_ep, moe_tp, moe_dp, "
				     "recompute_pseudo) in modifier 'xp'");
	/* A regex with ':' cannot be written: the split takes the first. */
	assert_int_equal(dv_dims_overrides_add_arg(o, "(?:a):t h", DV_DIMS_SIDE_BOTH, &err), -1);
	assert_int_equal(dv_dims_overrides_count(o), 4);

	/* Unicode classes, as Python's re on str. */
	assert_int_equal(dv_dims_overrides_add_arg(o, "^\\w+$:t", DV_DIMS_SIDE_BOTH, &err), 0);
	assert_int_equal(dv_dims_overrides_lookup(o, "\xc3\xa9t\xc3\xa9", DV_DIMS_SIDE_TARGET, &dims, &idx, &err), 1);
	assert_int_equal(idx, 4);
	dv_dims_overrides_free(o);
	dv_dims_overrides_free(NULL);

	assert_int_equal(dv_dims_side_from_name("both"), DV_DIMS_SIDE_BOTH);
	assert_int_equal(dv_dims_side_from_name("baseline"), DV_DIMS_SIDE_BASELINE);
	assert_int_equal(dv_dims_side_from_name("target"), DV_DIMS_SIDE_TARGET);
	assert_int_equal(dv_dims_side_from_name("Target"), -1);
}

/* A pickled meta dict from tests/fixtures/dims (make_fixtures.py). */
static pt_file *open_meta(const char *name, const pt_obj **meta)
{
	const char *fix = getenv("FIXTURES");
	char path[4096];
	static char data[65536];
	size_t n;
	FILE *f;
	dv_error err = { "" };
	pt_file *pf;

	snprintf(path, sizeof(path), "%s/dims/%s.pkl", fix ? fix : "tests/fixtures", name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	n = fread(data, 1, sizeof(data), f);
	fclose(f);
	pf = pt_open_pickle(data, n, path, NULL, &err);
	if (!pf)
		fail_msg("%s: %s", path, err.msg);
	*meta = pt_root(pf);
	assert_int_equal((*meta)->kind, PT_DICT);
	return pf;
}

static void coords_of(const char *name, dv_parallel_coords *c, int want_rc, const char *want_err)
{
	const pt_obj *meta;
	pt_file *pf = open_meta(name, &meta);
	dv_error err = { "" };
	int rc = dv_parallel_coords_from_meta(meta, c, &err);

	if (rc != want_rc)
		fail_msg("%s: rc %d (%s), want %d", name, rc, err.msg, want_rc);
	if (want_err)
		assert_string_equal(err.msg, want_err);
	pt_close(pf);
}

static void test_parallel(void **state)
{
	dv_parallel_coords c;
	char buf[256];
	dv_error err = { "" };

	(void)state;
	coords_of("megatron_tp2_cp2", &c, 0, NULL);
	assert_string_equal(c.source, "megatron_parallel_info");
	dv_parallel_coords_format(&c, buf, sizeof(buf));
	assert_string_equal(buf, "tp=1/2 cp=1/2 sp=1/2");
	assert_false(c.axis[DV_AXIS_DP].active);    /* size 1 */
	assert_int_equal(c.axis[DV_AXIS_DP].size, 1);
	assert_int_equal(c.axis[DV_AXIS_DP].rank, 0);

	/* The sentinel dict is ignored; the other one is used. */
	coords_of("sentinel_sglang", &c, 0, NULL);
	assert_string_equal(c.source, "megatron_parallel_info");
	dv_parallel_coords_format(&c, buf, sizeof(buf));
	assert_string_equal(buf, "tp=0/2");

	coords_of("sglang_dp_attn", &c, 0, NULL);
	assert_string_equal(c.source, "sglang_parallel_info");
	dv_parallel_coords_format(&c, buf, sizeof(buf));
	assert_string_equal(buf, "tp=3/4 attn_tp=1/2 attn_dp=1/2");

	/* No framework dict: the pseudo-axis comes from the top level. */
	coords_of("recompute", &c, 0, NULL);
	assert_null(c.source);
	dv_parallel_coords_format(&c, buf, sizeof(buf));
	assert_string_equal(buf, "recompute_pseudo=1/2");

	/* Empty and non-dict infos ignored; None is absent; top level read. */
	coords_of("empty_infos", &c, 0, NULL);
	assert_null(c.source);
	dv_parallel_coords_format(&c, buf, sizeof(buf));
	assert_string_equal(buf, "cp=0/2");

	/* A None rank in the dict sends both fields to the top level. */
	coords_of("none_rank", &c, 0, NULL);
	dv_parallel_coords_format(&c, buf, sizeof(buf));
	assert_string_equal(buf, "tp=1/2 cp=0/2");

	coords_of("both_infos", &c, -1, "multiple parallel_info keys: both sglang_parallel_info and "
					"megatron_parallel_info hold coordinates");
	coords_of("bad_rank", &c, -1, "tp_rank 2 is outside 0..1 (tp_size 2)");
	coords_of("str_size", &c, -1, "tp_size is a str, expected an int");

	/* No meta: nothing active. */
	assert_int_equal(dv_parallel_coords_from_meta(NULL, &c, &err), 0);
	assert_int_equal(dv_parallel_coords_format(&c, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	/* snprintf-like: the length needed even when buf is short. */
	coords_of("megatron_tp2_cp2", &c, 0, NULL);
	assert_int_equal(dv_parallel_coords_format(&c, buf, 4), strlen("tp=1/2 cp=1/2 sp=1/2"));
	assert_string_equal(buf, "tp=");
}

/* The DP filter reads the first dict holding both fields, sentinels or not,
 * and never the top level. */
static void test_dp_coord(void **state)
{
	const pt_obj *meta;
	pt_file *pf;
	int64_t rank = -1, size = -1;
	dv_error err = { "" };

	(void)state;
	pf = open_meta("sglang_dp_attn", &meta);
	assert_int_equal(dv_parallel_dp_coord(meta, DV_AXIS_ATTN_DP, &rank, &size, &err), 1);
	assert_true(rank == 1 && size == 2);
	assert_int_equal(dv_parallel_dp_coord(meta, DV_AXIS_DP, &rank, &size, &err), 0);
	pt_close(pf);
	pf = open_meta("megatron_tp2_cp2", &meta);
	assert_int_equal(dv_parallel_dp_coord(meta, DV_AXIS_DP, &rank, &size, &err), 1);
	assert_true(rank == 0 && size == 1);
	pt_close(pf);
	pf = open_meta("empty_infos", &meta);   /* cp only at the top level */
	assert_int_equal(dv_parallel_dp_coord(meta, DV_AXIS_CP, &rank, &size, &err), 0);
	pt_close(pf);
	pf = open_meta("both_infos", &meta);    /* the first dict wins, no error */
	assert_int_equal(dv_parallel_dp_coord(meta, DV_AXIS_TP, &rank, &size, &err), 1);
	pt_close(pf);
	pf = open_meta("str_size", &meta);
	assert_int_equal(dv_parallel_dp_coord(meta, DV_AXIS_TP, &rank, &size, &err), -1);
	assert_string_equal(err.msg, "tp_size is a str, expected an int");
	pt_close(pf);
	assert_int_equal(dv_parallel_dp_coord(NULL, DV_AXIS_DP, &rank, &size, &err), 0);
}

/* Real dump files written by torch.save (two TP shards): the meta read
 * through pt_dump_meta gives coordinates, dims and dims_grad. */
static void test_real_files(void **state)
{
	const char *fix = getenv("FIXTURES");
	char path[4096];
	const char *want[2] = { "tp=0/2", "tp=1/2" };

	(void)state;
	for (int r = 0; r < 2; r++) {
		dv_error err = { "" };
		pt_file *pf;
		const pt_obj *meta, *dims;
		dv_parallel_coords c;
		dv_dims *d;
		char buf[64];

		snprintf(path, sizeof(path), "%s/dims/name=attn_out___rank=%d___dump_index=1.pt",
			 fix ? fix : "tests/fixtures", r);
		pf = pt_open(path, &err);
		if (!pf)
			fail_msg("%s", err.msg);
		meta = pt_dump_meta(pf);
		assert_non_null(meta);
		assert_int_equal(dv_parallel_coords_from_meta(meta, &c, &err), 0);
		assert_string_equal(c.source, "megatron_parallel_info");  /* the other is a sentinel */
		dv_parallel_coords_format(&c, buf, sizeof(buf));
		assert_string_equal(buf, want[r]);
		dims = pt_dict_get(meta, "dims");
		assert_true(dims && dims->kind == PT_STR);
		d = parse_ok(dims->u.str.data);
		assert_true(d->dims[1].mods[0].partial);
		assert_int_equal(dv_dims_check_rank(d, pt_dump_value(pf)->u.tensor.ndim, &err), 0);
		dv_dims_free(d);
		dims = pt_dict_get(meta, "dims_grad");
		d = parse_ok(dims->u.str.data);
		assert_true(d->replicated[DV_AXIS_TP]);
		assert_false(dv_dims_shards_axis(d, DV_AXIS_TP));
		dv_dims_free(d);
		pt_close(pf);
	}
}

/* The meta's own dims string, read through the pt API, parses. */
static void test_meta_dims(void **state)
{
	const pt_obj *meta, *dims;
	pt_file *pf = open_meta("megatron_tp2_cp2", &meta);
	dv_dims *d;

	(void)state;
	dims = pt_dict_get(meta, "dims");
	assert_non_null(dims);
	assert_int_equal(dims->kind, PT_STR);
	d = parse_ok(dims->u.str.data);
	assert_int_equal(dv_dims_count(d), 3);
	assert_true(d->replicated[DV_AXIS_TP]);
	dv_dims_free(d);
	pt_close(pf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_and_modifiers),
		cmocka_unit_test(test_fused_and_squeeze),
		cmocka_unit_test(test_declarations),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_canonical),
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_check_rank),
		cmocka_unit_test(test_overrides),
		cmocka_unit_test(test_parallel),
		cmocka_unit_test(test_dp_coord),
		cmocka_unit_test(test_meta_dims),
		cmocka_unit_test(test_real_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
