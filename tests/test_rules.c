/* Pass rules (include/dumpview/rules.h): the predicate grammar, its errors
 * and columns, both rule forms, first-match-wins, the catch-all, counters. */
#include <errno.h>
#include <math.h>
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

#include "dumpview/rules.h"

static dv_rule_inputs in5(double rel, double max_abs, double mean_abs, int64_t nan, bool identical)
{
	dv_rule_inputs in = { .rel = rel, .max_abs = max_abs, .mean_abs = mean_abs, .nan_count = nan,
			      .identical = identical };
	return in;
}

static dv_rule_inputs rel_in(double rel)
{
	return in5(rel, 0, 0, 0, false);
}

static bool ev(const char *text, dv_rule_inputs in)
{
	dv_error err = { "" };
	dv_predicate *p = dv_predicate_parse(text, NULL, &err);
	bool r;

	if (!p)
		fail_msg("'%s' did not parse: %s", text, err.msg);
	r = dv_predicate_eval(p, &in);
	dv_predicate_free(p);
	return r;
}

static void canon(const char *text, const char *want)
{
	dv_error err = { "" };
	dv_predicate *p = dv_predicate_parse(text, NULL, &err), *q;

	if (!p)
		fail_msg("'%s' did not parse: %s", text, err.msg);
	assert_string_equal(dv_predicate_canonical(p), want);
	/* The canonical form parses back to itself. */
	q = dv_predicate_parse(want, NULL, &err);
	assert_non_null(q);
	assert_string_equal(dv_predicate_canonical(q), want);
	dv_predicate_free(q);
	dv_predicate_free(p);
}

static void perr(const char *text, int column, const char *want)
{
	dv_error err = { "" };
	int col = 0;
	dv_predicate *p = dv_predicate_parse(text, &col, &err);

	if (p)
		fail_msg("'%s' parsed, expected: %s", text, want);
	assert_string_equal(err.msg, want);
	assert_int_equal(col, column);
}

static void test_operators(void **state)
{
	(void)state;
	assert_true(ev("rel < 2", rel_in(1)));
	assert_false(ev("rel < 1", rel_in(1)));
	assert_true(ev("rel <= 1", rel_in(1)));
	assert_false(ev("rel <= 1", rel_in(1.5)));
	assert_true(ev("rel > 0", rel_in(1)));
	assert_false(ev("rel > 1", rel_in(1)));
	assert_true(ev("rel >= 1", rel_in(1)));
	assert_false(ev("rel >= 1", rel_in(0.5)));
	assert_true(ev("rel == 1", rel_in(1)));
	assert_false(ev("rel == 1", rel_in(2)));
	assert_true(ev("rel != 1", rel_in(2)));
	assert_false(ev("rel != 1", rel_in(1)));
	/* no blanks needed; numbers on either side */
	assert_true(ev("rel<=1e-3", rel_in(1e-3)));
	assert_true(ev("1e-3>=rel", rel_in(1e-3)));
	assert_true(ev("max_abs == 2 and mean_abs == 3 and nan == 4", in5(1, 2, 3, 4, false)));
	assert_true(ev("identical", in5(1, 2, 3, 4, true)));
	assert_false(ev("identical", in5(0, 0, 0, 0, false)));
	assert_true(ev("not identical", in5(0, 0, 0, 0, false)));
	assert_true(ev("identical or rel <= 1e-6", in5(1e-7, 0, 0, 0, false)));
	assert_true(ev("identical or rel <= 1e-6", in5(1, 0, 0, 0, true)));
	assert_false(ev("identical or rel <= 1e-6", in5(1e-5, 0, 0, 0, false)));
	assert_true(ev("rel < 1 and max_abs < 1", in5(0, 0, 0, 0, false)));
	assert_false(ev("rel < 1 and max_abs < 1", in5(0, 1, 0, 0, false)));
	assert_true(ev("rel < 1 or max_abs < 1", in5(5, 0, 0, 0, false)));
	assert_false(ev("rel < 1 or max_abs < 1", in5(5, 5, 0, 0, false)));
	assert_true(ev("(rel) < 1", rel_in(0)));
	assert_true(ev("((rel < 1))", rel_in(0)));
}

static void test_precedence(void **state)
{
	/* not a or b and c == (not a) or (b and c) */
	const char *p = "not identical or rel < 1 and max_abs < 1";

	(void)state;
	assert_true(ev(p, in5(5, 5, 0, 0, false)));    /* not a */
	assert_false(ev(p, in5(0, 5, 0, 0, true)));    /* b alone */
	assert_true(ev(p, in5(0, 0, 0, 0, true)));     /* b and c */
	canon(p, "not identical or rel < 1 and max_abs < 1");
	/* grouping that precedence would not give keeps its parentheses */
	canon("(not identical or rel < 1) and max_abs < 1", "(not identical or rel < 1) and max_abs < 1");
	assert_false(ev("(not identical or rel < 1) and max_abs < 1", in5(5, 5, 0, 0, false)));
	canon("not (identical and rel < 1)", "not (identical and rel < 1)");
	/* comparisons bind tighter than not */
	assert_true(ev("not rel < 1", rel_in(2)));
	canon("not rel < 1", "not rel < 1");
	canon("not not identical", "not not identical");
	/* and binds tighter than or, both ways round */
	assert_true(ev("rel < 1 and max_abs < 1 or identical", in5(5, 5, 0, 0, true)));
	assert_true(ev("identical or rel < 1 and max_abs < 1", in5(0, 0, 0, 0, false)));
	assert_false(ev("identical or rel < 1 and max_abs < 1", in5(0, 5, 0, 0, false)));
	canon("((rel<1)) or (max_abs<1 and (identical))", "rel < 1 or max_abs < 1 and identical");
	canon("rel<1 or (max_abs<1 or identical)", "rel < 1 or (max_abs < 1 or identical)");
}

static void test_chained(void **state)
{
	const char *p = "1e-6 < rel <= 1e-3";

	(void)state;
	assert_false(ev(p, rel_in(1e-6)));
	assert_true(ev(p, rel_in(1e-5)));
	assert_true(ev(p, rel_in(1e-3)));
	assert_false(ev(p, rel_in(2e-3)));
	canon(p, "1e-06 < rel <= 0.001");
	/* a link may compare two metrics; 0 <= rel < max_abs < 1 */
	assert_true(ev("0 <= rel < max_abs < 1", in5(0.1, 0.5, 0, 0, false)));
	assert_false(ev("0 <= rel < max_abs < 1", in5(0.6, 0.5, 0, 0, false)));
	assert_false(ev("0 <= rel < max_abs < 1", in5(0.1, 1, 0, 0, false)));
	/* == and != chain too, as in Python */
	assert_true(ev("rel == max_abs == 0", in5(0, 0, 1, 0, false)));
	assert_false(ev("rel == max_abs == 0", in5(0, 1, 1, 0, false)));
	assert_true(ev("1 != rel != 2", rel_in(3)));
	assert_false(ev("not 1 < rel < 2", rel_in(1.5)));
}

static void test_literals(void **state)
{
	(void)state;
	assert_true(ev("rel == 1e-3", rel_in(1e-3)));
	assert_true(ev("rel == 1E+3", rel_in(1000)));
	assert_true(ev("rel == .5", rel_in(0.5)));
	assert_true(ev("rel == 5.", rel_in(5)));
	assert_true(ev("rel == 0.0085", rel_in(0.0085)));
	assert_true(ev("rel == 0x1p-10", rel_in(1.0 / 1024)));
	assert_true(ev("rel == 0x1.8p1", rel_in(3)));
	assert_true(ev("rel == 0x10", rel_in(16)));
	assert_true(ev("rel == 0", rel_in(0)));
	assert_true(ev("rel == 0.", rel_in(0)));
	assert_true(ev("rel == 00.5", rel_in(0.5)));
	assert_true(ev("rel == -1", rel_in(-1)));
	assert_true(ev("rel == - 1", rel_in(-1)));
	assert_true(ev("rel == +2", rel_in(2)));
	assert_true(ev("rel == inf", rel_in(INFINITY)));
	assert_true(ev("rel == -inf", rel_in(-INFINITY)));
	assert_true(ev("rel < inf", rel_in(1e308)));
	assert_true(ev("rel == 4.9e-324", rel_in(4.9e-324)));
	canon("rel <= 1e-3", "rel <= 0.001");
	canon("rel <= 0x1p-10", "rel <= 0.0009765625");
	canon("rel <= .5", "rel <= 0.5");
	canon("rel <= 5.", "rel <= 5");
	canon("rel<=1E+20", "rel <= 1e+20");
	canon("rel <= 0.1", "rel <= 0.1");
	canon("-inf < rel < inf", "-inf < rel < inf");
	canon("rel > - 3", "rel > -3");
	canon("rel == 0.30000000000000004", "rel == 0.30000000000000004");
}

static void test_nan(void **state)
{
	dv_rule_inputs n = in5(NAN, NAN, NAN, 3, false);

	(void)state;
	/* IEEE: every comparison with NaN is false except != */
	assert_false(ev("rel <= 1e-3", n));
	assert_false(ev("rel > 1e-3", n));
	assert_false(ev("rel == rel", n));
	assert_true(ev("rel != 0", n));
	assert_true(ev("not rel > 1e-3", n));
	assert_false(ev("rel <= 0.0085 or max_abs <= 1e-3", n));
	assert_false(ev("nan == 0", n));
	assert_true(ev("nan == 3", n));
	assert_true(ev("nan == 0 and rel <= 1", in5(0.5, 1, 1, 0, false)));
	assert_false(ev("1e-6 < rel <= 1e-3", n));
}

static void test_errors(void **state)
{
	(void)state;
	perr("", 1, "column 1: expected a condition");
	perr("   ", 4, "column 4: expected a condition");
	perr("rel <=", 7, "column 7: expected a number or a name after '<='");
	perr("rel <= and", 8, "column 8: expected a number or a name after '<='");
	perr("rel <= )", 8, "column 8: expected a number or a name after '<='");
	perr("rel < 1 and", 12, "column 12: expected a condition after 'and'");
	perr("rel < 1 or or", 12, "column 12: expected a condition after 'or'");
	perr("not", 4, "column 4: expected a condition after 'not'");
	perr("()", 2, "column 2: expected a condition after '('");
	perr("(rel < 1", 9, "column 9: expected ')' to close the '(' at column 1");
	perr("(rel < 1 max_abs", 10, "column 10: expected 'and', 'or' or ')', found 'max_abs'");
	perr("rel < 1)", 8, "column 8: unmatched ')'");
	perr("rel < 1 max_abs < 1", 9, "column 9: expected 'and', 'or' or the end, found 'max_abs'");
	perr("rel", 1, "column 1: 'rel' is a number, not a condition: compare it, e.g. 'rel <= 1e-3'");
	perr("rel < 1 or max_abs", 12,
	     "column 12: 'max_abs' is a number, not a condition: compare it, e.g. 'max_abs <= 1e-3'");
	perr("1e-3", 1, "column 1: '1e-3' is a number, not a condition");
	perr("not (rel)", 6, "column 6: 'rel' is a number, not a condition: compare it, e.g. 'rel <= 1e-3'");
	perr("identical == 1", 1, "column 1: 'identical' is true or false and cannot be compared: "
	     "use it alone ('identical', 'not identical')");
	perr("rel < identical", 7, "column 7: 'identical' is true or false and cannot be compared: "
	     "use it alone ('identical', 'not identical')");
	perr("(rel < 1) == (max_abs < 1)", 2,
	     "column 2: a condition cannot be compared (only rel, max_abs, mean_abs, nan and numbers)");
	perr("rell <= 1", 1, "column 1: unknown name 'rell' (names: rel, max_abs, mean_abs, nan, identical, inf)");
	perr("rel <= 1 AND identical", 10,
	     "column 10: unknown name 'AND' (names: rel, max_abs, mean_abs, nan, identical, inf)");
	perr("rel_diff <= 1", 1,
	     "column 1: unknown name 'rel_diff' (names: rel, max_abs, mean_abs, nan, identical, inf)");
	perr("rel = 1", 5, "column 5: '=' is not a comparison: use '=='");
	perr("rel < 1 && identical", 9, "column 9: '&&' is not an operator: use 'and'");
	perr("rel < 1 || identical", 9, "column 9: '||' is not an operator: use 'or'");
	perr("!identical", 1, "column 1: '!' is not an operator: use 'not'");
	perr("rel <> 1", 6, "column 6: expected a number or a name after '<'");
	perr("rel <= 1e-3f", 8, "column 8: bad number '1e-3f' (C float literals: 1e-3, .5, 5., 0x1p-10)");
	perr("rel <= 1e", 8, "column 8: bad number '1e' (C float literals: 1e-3, .5, 5., 0x1p-10)");
	perr("rel <= 1.2.3", 8, "column 8: bad number '1.2.3' (C float literals: 1e-3, .5, 5., 0x1p-10)");
	perr("rel <= 0x1.8", 8, "column 8: bad number '0x1.8' (C float literals: 1e-3, .5, 5., 0x1p-10)");
	perr("rel <= 0x", 8, "column 8: bad number '0x' (C float literals: 1e-3, .5, 5., 0x1p-10)");
	perr("rel <= 1_000", 8, "column 8: bad number '1_000' (C float literals: 1e-3, .5, 5., 0x1p-10)");
	perr("rel <= 1and identical", 8,
	     "column 8: bad number '1and' (C float literals: 1e-3, .5, 5., 0x1p-10)");
	perr("rel <= 010", 8, "column 8: bad number '010': leading zeros (C would read it as octal)");
	perr("rel <= 1e999", 8, "column 8: number '1e999' is too large for a double");
	perr("rel <= -max_abs", 9, "column 9: expected a number after '-'");
	perr("rel <= --1", 9, "column 9: expected a number after '-'");
	perr("rel <= . 5", 8, "column 8: unexpected character '.'");
	perr("rel <= 1 # note", 10, "column 10: unexpected character '#'");
	perr("rel <= 1\n", 9, "column 9: unexpected byte 0x0a");
	perr("rel <= \xc3\xa9", 8, "column 8: unexpected byte 0xc3");
	perr("True", 1, "column 1: unknown name 'True' (names: rel, max_abs, mean_abs, nan, identical, inf)");
}

static void test_depth_and_length(void **state)
{
	char buf[8192];
	dv_error err;
	size_t n = 0;
	int col;

	(void)state;
	/* DV_RULE_MAX_DEPTH levels parse; one more is an error at that '(' */
	for (int i = 0; i < DV_RULE_MAX_DEPTH; i++)
		buf[n++] = '(';
	n += (size_t)sprintf(buf + n, "rel < 1");
	for (int i = 0; i < DV_RULE_MAX_DEPTH; i++)
		buf[n++] = ')';
	buf[n] = '\0';
	assert_true(ev(buf, rel_in(0)));
	memmove(buf + 1, buf, n + 1);
	buf[0] = '(';
	strcat(buf, ")");
	perr(buf, DV_RULE_MAX_DEPTH + 1, "column 33: nested deeper than 32 levels of '(' and 'not'");
	/* 'not' counts as a level */
	n = 0;
	for (int i = 0; i < DV_RULE_MAX_DEPTH + 1; i++)
		n += (size_t)sprintf(buf + n, "not ");
	sprintf(buf + n, "identical");
	perr(buf, 4 * DV_RULE_MAX_DEPTH + 1, "column 129: nested deeper than 32 levels of '(' and 'not'");
	/* a long unclosed run stops at the limit, no deep recursion */
	memset(buf, '(', 4000);
	buf[4000] = '\0';
	perr(buf, 33, "column 33: nested deeper than 32 levels of '(' and 'not'");
	/* a long flat 'or' chain is fine */
	n = 0;
	while (n < DV_RULE_MAX_LEN - 20)
		n += (size_t)sprintf(buf + n, "rel > 9 or ");
	sprintf(buf + n, "identical");
	assert_true(ev(buf, in5(0, 0, 0, 0, true)));
	assert_false(ev(buf, in5(0, 0, 0, 0, false)));
	/* over the length limit */
	memset(buf, ' ', DV_RULE_MAX_LEN + 1);
	memcpy(buf, "identical", 9);
	buf[DV_RULE_MAX_LEN + 1] = '\0';
	assert_null(dv_predicate_parse(buf, &col, &err));
	assert_string_equal(err.msg, "column 1: predicate longer than 4096 bytes");
}

/* ---- rules ---- */
static void add_ok(dv_rules *rs, const char *spec, const char *regex, const char *pred)
{
	dv_error err = { "" };
	const dv_rule *r;

	if (dv_rules_add(rs, spec, &err) != 0)
		fail_msg("'%s': %s", spec, err.msg);
	r = dv_rules_get(rs, dv_rules_count(rs) - 1);
	assert_non_null(r);
	assert_false(dv_rule_is_catch_all(r));
	assert_string_equal(dv_rule_regex(r), regex);
	assert_string_equal(dv_rule_predicate(r), pred);
}

static void add_err(dv_rules *rs, const char *spec, const char *want)
{
	dv_error err = { "" };
	size_t before = dv_rules_count(rs);

	assert_int_equal(dv_rules_add(rs, spec, &err), -1);
	assert_string_equal(err.msg, want);
	assert_int_equal(dv_rules_count(rs), before);
}

static void test_split_cli(void **state)
{
	dv_rules *rs = dv_rules_new();

	(void)state;
	assert_non_null(rs);
	add_ok(rs, "attn.*=rel <= 0.0085", "attn.*", "rel <= 0.0085");
	add_ok(rs, " x = rel<=1e-3 ", "x", "rel<=1e-3");
	add_ok(rs, "\tx\\x20\t=\trel<=1e-3", "x\\x20", "rel<=1e-3");
	/* '=' inside the regex: the leftmost split whose rest parses */
	add_ok(rs, "k=v=rel <= 0", "k=v", "rel <= 0");
	add_ok(rs, "(?=moe)moe.*=rel <= 0.0085 or max_abs <= 1e-3", "(?=moe)moe.*", "rel <= 0.0085 or max_abs <= 1e-3");
	add_ok(rs, "(?<=a)b=identical", "(?<=a)b", "identical");
	add_ok(rs, "x==identical", "x=", "identical");
	/* inherently ambiguous texts take the leftmost split */
	add_ok(rs, "a=1 <= rel <= 2", "a", "1 <= rel <= 2");
	add_ok(rs, "x<=rel<=1", "x<", "rel<=1");
	assert_string_equal(dv_rule_origin(dv_rules_get(rs, 0)), "--rule 1");
	assert_string_equal(dv_rule_origin(dv_rules_get(rs, 8)), "--rule 9");
	assert_string_equal(dv_rule_canonical(dv_rules_get(rs, 1)), "rel <= 0.001");
	assert_ptr_equal(dv_rules_match(rs, "x"), dv_rules_get(rs, 1));
	assert_ptr_equal(dv_rules_match(rs, "x "), dv_rules_get(rs, 2));
	dv_rules_free(rs);

	rs = dv_rules_new();
	add_ok(rs, "a.*=rel <= 1", "a.*", "rel <= 1");
	add_err(rs, "layer.*=rel<=", "rule 2: column 14: expected a number or a name after '<='");
	add_err(rs, "attn.* rel <= 1", "rule 3: no '=' between the regex and the predicate (--rule 'REGEX=PREDICATE')");
	/* the error that got furthest: the typo, not the '=' in the regex */
	add_err(rs, "k=v=rel<1x", "rule 4: column 9: bad number '1x' (C float literals: 1e-3, .5, 5., 0x1p-10)");
	add_err(rs, "a=rell < 1", "rule 5: column 3: unknown name 'rell' (names: rel, max_abs, mean_abs, nan, identical, inf)");
	add_err(rs, "=rel < 1", "rule 6: column 1: empty regex (use '.*' to match every name)");
	add_err(rs, "  =rel < 1", "rule 7: column 3: empty regex (use '.*' to match every name)");
	add_err(rs, "a(=rel < 1", "rule 8: column 3: bad regex: missing closing parenthesis");
	/* columns count characters, not bytes */
	add_err(rs, "\xc3\xa9t\xc3\xa9=rel <", "rule 9: column 10: expected a number or a name after '<'");
	add_err(rs, "\xff=rel < 1", "rule 10: column 1: bad regex: UTF-8 error: illegal byte (0xfe or 0xff)");
	assert_int_equal(dv_rules_count(rs), 1);
	dv_rules_free(rs);
}

static const char rules_text[] =
	"# per-tensor rules\n"
	"\n"
	"   # indented comment\n"
	"moe\\..*\trel <= 0.0085 or max_abs <= 1e-3   # near-zero grads\n"
	"attn\\..*   rel <= 0\r\n"
	"a=b rel<0.5\n"
	".* rel <= 0.0085";

static void test_file_text(void **state)
{
	dv_rules *rs = dv_rules_new();
	dv_error err = { "" };

	(void)state;
	assert_int_equal(dv_rules_load_text(rs, rules_text, sizeof(rules_text) - 1, "r.txt", &err), 0);
	assert_int_equal(dv_rules_count(rs), 4);     /* no catch-all once rules exist */
	assert_string_equal(dv_rule_regex(dv_rules_get(rs, 0)), "moe\\..*");
	assert_string_equal(dv_rule_predicate(dv_rules_get(rs, 0)), "rel <= 0.0085 or max_abs <= 1e-3");
	assert_string_equal(dv_rule_origin(dv_rules_get(rs, 0)), "r.txt:4");
	assert_string_equal(dv_rule_predicate(dv_rules_get(rs, 1)), "rel <= 0");
	assert_string_equal(dv_rule_origin(dv_rules_get(rs, 1)), "r.txt:5");
	assert_string_equal(dv_rule_regex(dv_rules_get(rs, 2)), "a=b");
	assert_string_equal(dv_rule_canonical(dv_rules_get(rs, 3)), "rel <= 0.0085");
	assert_ptr_equal(dv_rules_match(rs, "moe.w1"), dv_rules_get(rs, 0));
	assert_ptr_equal(dv_rules_match(rs, "attn.q"), dv_rules_get(rs, 1));
	assert_ptr_equal(dv_rules_match(rs, "mlp"), dv_rules_get(rs, 3));

	/* an error names the file and line, and leaves the set as it was */
	static const char bad[] = "x.* rel <= 1\n# c\n\ny.*  rel <= 1 and\n";
	assert_int_equal(dv_rules_load_text(rs, bad, sizeof(bad) - 1, "b.txt", &err), -1);
	assert_string_equal(err.msg, "b.txt:4: column 18: expected a condition after 'and'");
	assert_int_equal(dv_rules_count(rs), 4);
	static const char noprd[] = "ok rel<1\nattn.*=rel<1   # the --rule form\n";
	assert_int_equal(dv_rules_load_text(rs, noprd, sizeof(noprd) - 1, "c.txt", &err), -1);
	assert_string_equal(err.msg, "c.txt:2: column 16: expected a predicate after the regex "
			    "(REGEX PREDICATE, separated by blanks)");
	static const char badre[] = "\t[a rel<1\n";
	assert_int_equal(dv_rules_load_text(rs, badre, sizeof(badre) - 1, "d.txt", &err), -1);
	assert_string_equal(err.msg, "d.txt:1: column 4: bad regex: missing terminating ] for character class");
	static const char nul[] = "a rel<1\nb rel<\0 1\n";
	assert_int_equal(dv_rules_load_text(rs, nul, sizeof(nul) - 1, "e.txt", &err), -1);
	assert_string_equal(err.msg, "e.txt:2: a NUL byte (not a text file?)");
	assert_int_equal(dv_rules_count(rs), 4);
	/* a byte-order mark is not part of the first regex */
	assert_int_equal(dv_rules_load_text(rs, "\xef\xbb\xbf" "bom rel<1\n", 13, "g.txt", &err), 0);
	assert_string_equal(dv_rule_regex(dv_rules_get(rs, 4)), "bom");
	/* an empty or all-comment file adds nothing */
	assert_int_equal(dv_rules_load_text(rs, "# only\n\n", 8, "f.txt", &err), 0);
	assert_int_equal(dv_rules_count(rs), 5);
	dv_rules_free(rs);
}

static void test_file_io(void **state)
{
	char dir[] = "/tmp/dv-rules-XXXXXX", path[64], fifo[64];
	dv_rules *rs = dv_rules_new();
	dv_error err = { "" };
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/rules.txt", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("attn.* rel <= 0\n.* rel <= 0.0085 or\n", f);
	fclose(f);
	assert_int_equal(dv_rules_load_file(rs, path, &err), -1);
	{
		char want[256];

		snprintf(want, sizeof(want), "%s:2: column 20: expected a condition after 'or'", path);
		assert_string_equal(err.msg, want);
	}
	f = fopen(path, "w");
	fputs("attn.* rel <= 0\n.* rel <= 0.0085\n", f);
	fclose(f);
	assert_int_equal(dv_rules_load_file(rs, path, &err), 0);
	assert_int_equal(dv_rules_count(rs), 2);
	assert_int_equal(dv_rules_load_file(rs, dir, &err), -1);
	assert_non_null(strstr(err.msg, ": not a regular file"));
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(dv_rules_load_file(rs, fifo, &err), -1);   /* does not block */
	assert_non_null(strstr(err.msg, ": not a regular file"));
	unlink(fifo);
	unlink(path);
	assert_int_equal(dv_rules_load_file(rs, path, &err), -1);
	assert_non_null(strstr(err.msg, strerror(ENOENT)));
	rmdir(dir);
	assert_int_equal(dv_rules_count(rs), 2);
	dv_rules_free(rs);
}

static void test_first_match_and_full_match(void **state)
{
	dv_rules *rs = dv_rules_new();
	dv_error err;

	(void)state;
	assert_int_equal(dv_rules_add(rs, "attn.*=rel <= 0", &err), 0);
	assert_int_equal(dv_rules_add(rs, "attn\\.q=rel <= 1", &err), 0);
	assert_int_equal(dv_rules_add(rs, "a|ab=rel <= 2", &err), 0);
	assert_int_equal(dv_rules_add(rs, "layers\\.\\d+=rel <= 3", &err), 0);
	/* the first match wins even when a later rule is more specific */
	assert_ptr_equal(dv_rules_match(rs, "attn.q"), dv_rules_get(rs, 0));
	/* full match: both ends anchored, alternatives backtrack to fit */
	assert_ptr_equal(dv_rules_match(rs, "ab"), dv_rules_get(rs, 2));
	assert_ptr_equal(dv_rules_match(rs, "a"), dv_rules_get(rs, 2));
	assert_null(dv_rules_match(rs, "abc"));
	assert_null(dv_rules_match(rs, "xattn"));
	assert_null(dv_rules_match(rs, "a\n"));
	assert_ptr_equal(dv_rules_match(rs, "layers.12"), dv_rules_get(rs, 3));
	assert_null(dv_rules_match(rs, "layers.12.w"));
	/* a name that is not UTF-8 is matched, not an error */
	assert_ptr_equal(dv_rules_match(rs, "attn\xff"), dv_rules_get(rs, 0));
	assert_null(dv_rules_match(rs, "\xff"));
	dv_rules_free(rs);
}

static void test_catch_all(void **state)
{
	dv_rules *rs = dv_rules_new();
	const dv_rule *r;
	dv_error err;

	(void)state;
	/* no user rule: the default catch-all */
	assert_int_equal(dv_rules_count(rs), 1);
	r = dv_rules_get(rs, 0);
	assert_true(dv_rule_is_catch_all(r));
	assert_ptr_equal(dv_rules_catch_all(rs), r);
	assert_string_equal(dv_rule_regex(r), ".*");
	assert_string_equal(dv_rule_predicate(r), "rel <= 0.001");
	assert_string_equal(dv_rule_canonical(r), "rel <= 0.001");
	assert_string_equal(dv_rule_origin(r), "catch-all");
	assert_ptr_equal(dv_rules_match(rs, "anything\nat all \xff"), r);
	assert_ptr_equal(dv_rules_match(rs, ""), r);
	assert_true(dv_rule_passes(r, &(dv_rule_inputs){ .rel = 1e-3 }));
	assert_false(dv_rule_passes(r, &(dv_rule_inputs){ .rel = 1.1e-3 }));
	assert_false(dv_rule_passes(r, &(dv_rule_inputs){ .rel = NAN }));

	/* user rules: no catch-all, an unmatched name has no rule */
	assert_int_equal(dv_rules_add(rs, "attn.*=rel <= 0", &err), 0);
	assert_int_equal(dv_rules_count(rs), 1);
	assert_null(dv_rules_catch_all(rs));
	assert_null(dv_rules_match(rs, "mlp"));
	assert_null(dv_rules_get(rs, 1));

	/* --diff-threshold: the catch-all placed last, after later rules too */
	assert_int_equal(dv_rules_set_catch_all(rs, true, 0.01), 0);
	assert_int_equal(dv_rules_add(rs, "mlp\\.up=rel <= 0", &err), 0);
	assert_int_equal(dv_rules_count(rs), 3);
	r = dv_rules_get(rs, 2);
	assert_true(dv_rule_is_catch_all(r));
	assert_string_equal(dv_rule_predicate(r), "rel <= 0.01");
	assert_ptr_equal(dv_rules_match(rs, "mlp"), r);
	assert_ptr_equal(dv_rules_match(rs, "mlp.up"), dv_rules_get(rs, 1));
	assert_ptr_equal(dv_rules_match(rs, "attn.q"), dv_rules_get(rs, 0));
	dv_rule_record(r, false);
	assert_int_equal(dv_rules_set_catch_all(rs, true, 0), 0);
	assert_ptr_equal(dv_rules_catch_all(rs), r);       /* same rule, new threshold, counts reset */
	assert_int_equal(dv_rule_judged(r), 0);
	assert_string_equal(dv_rule_canonical(dv_rules_catch_all(rs)), "rel <= 0");
	assert_int_equal(dv_rules_set_catch_all(rs, true, 1e-6), 0);
	assert_string_equal(dv_rule_canonical(dv_rules_catch_all(rs)), "rel <= 1e-06");
	assert_int_equal(dv_rules_set_catch_all(rs, true, NAN), -1);
	assert_string_equal(dv_rule_canonical(dv_rules_catch_all(rs)), "rel <= 1e-06");
	dv_rules_free(rs);

	/* explicitly absent even without user rules: nothing matches */
	rs = dv_rules_new();
	assert_int_equal(dv_rules_set_catch_all(rs, false, 1e-3), 0);
	assert_int_equal(dv_rules_count(rs), 0);
	assert_null(dv_rules_match(rs, "x"));
	dv_rules_free(rs);
}

static void test_judge_and_counters(void **state)
{
	dv_rules *rs = dv_rules_new();
	const dv_rule *r;
	dv_rule_inputs good = rel_in(0), bad = rel_in(1);
	dv_error err;

	(void)state;
	assert_int_equal(dv_rules_add(rs, "attn.*=rel <= 0", &err), 0);
	assert_int_equal(dv_rules_add(rs, "mlp.*=rel <= 1e-3", &err), 0);
	assert_int_equal(dv_rules_judge(rs, "attn.q", &good, &r), DV_RULE_PASSED);
	assert_ptr_equal(r, dv_rules_get(rs, 0));
	assert_int_equal(dv_rules_judge(rs, "attn.k", &bad, &r), DV_RULE_FAILED);
	assert_int_equal(dv_rules_judge(rs, "attn.v", &bad, NULL), DV_RULE_FAILED);
	assert_int_equal(dv_rules_judge(rs, "mlp.up", &good, NULL), DV_RULE_PASSED);
	/* fail-closed: no rule matches */
	assert_int_equal(dv_rules_judge(rs, "norm", &good, &r), DV_RULE_NO_MATCH);
	assert_null(r);
	dv_rule_record(dv_rules_get(rs, 1), false);
	assert_int_equal(dv_rule_judged(dv_rules_get(rs, 0)), 3);
	assert_int_equal(dv_rule_failed(dv_rules_get(rs, 0)), 2);
	assert_int_equal(dv_rule_judged(dv_rules_get(rs, 1)), 2);
	assert_int_equal(dv_rule_failed(dv_rules_get(rs, 1)), 1);
	assert_int_equal(dv_rules_unmatched(rs), 1);
	dv_rules_reset_counts(rs);
	assert_int_equal(dv_rule_judged(dv_rules_get(rs, 0)), 0);
	assert_int_equal(dv_rule_failed(dv_rules_get(rs, 1)), 0);
	assert_int_equal(dv_rules_unmatched(rs), 0);
	dv_rules_free(rs);
}

/* The three rules real runs use, and NaN, over a table. */
static void test_real_world_table(void **state)
{
	static const char *const preds[] = {
		"rel <= 0", "rel <= 0.0085", "rel <= 0.0085 or max_abs <= 1e-3",
	};
	static const struct {
		double rel, max_abs;
		bool want[3];
	} cases[] = {
		{ 0, 0, { true, true, true } },
		{ 1e-12, 1e-7, { false, true, true } },
		{ 0.0085, 0.5, { false, true, true } },
		{ 0.00851, 0.5, { false, false, false } },
		{ 0.2, 1e-3, { false, false, true } },       /* near-zero tensor: absolute escape */
		{ 0.2, 1.001e-3, { false, false, false } },
		{ NAN, NAN, { false, false, false } },
		{ NAN, 0, { false, false, true } },          /* the escape is IEEE too: max_abs is not NaN */
		{ -0.0, 0, { true, true, true } },
		{ INFINITY, INFINITY, { false, false, false } },
	};
	dv_rules *rs = dv_rules_new();
	dv_error err;
	char spec[128];

	(void)state;
	for (size_t j = 0; j < 3; j++) {
		snprintf(spec, sizeof(spec), "r%zu=%s", j, preds[j]);
		assert_int_equal(dv_rules_add(rs, spec, &err), 0);
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (size_t j = 0; j < 3; j++) {
			dv_rule_inputs in = in5(cases[i].rel, cases[i].max_abs, 0, 0, false);
			char name[8];

			snprintf(name, sizeof(name), "r%zu", j);
			if (dv_rule_passes(dv_rules_match(rs, name), &in) != cases[i].want[j])
				fail_msg("case %zu, '%s': expected %s", i, preds[j], cases[i].want[j] ? "pass" : "fail");
			assert_int_equal(ev(preds[j], in), cases[i].want[j]);
		}
	dv_rules_free(rs);
}

static void test_inputs_from_result(void **state)
{
	dv_pair_result r;
	dv_rule_inputs in;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.status = DV_RESULT_COMPARED;
	r.numel = 10;
	r.identical = 10;
	r.rel_diff = 0;
	r.max_abs_diff = 0;
	r.mean_abs_diff = 0;
	dv_stats_set_count(&r.base_stats, DV_STATS_NAN, 2);
	dv_stats_set_count(&r.targ_stats, DV_STATS_NAN, 3);
	assert_true(dv_rule_inputs_from_result(&r, &in));
	assert_true(in.identical);
	assert_int_equal(in.nan_count, 5);
	r.identical = 9;
	r.rel_diff = 0.5;
	r.max_abs_diff = 2;
	r.mean_abs_diff = 0.25;
	assert_true(dv_rule_inputs_from_result(&r, &in));
	assert_false(in.identical);
	assert_true(in.rel == 0.5 && in.max_abs == 2 && in.mean_abs == 0.25);
	r.status = DV_RESULT_SHAPE_MISMATCH;
	assert_false(dv_rule_inputs_from_result(&r, &in));
	r.status = DV_RESULT_NON_TENSOR;
	assert_false(dv_rule_inputs_from_result(&r, &in));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_operators),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_chained),
		cmocka_unit_test(test_literals),
		cmocka_unit_test(test_nan),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_depth_and_length),
		cmocka_unit_test(test_split_cli),
		cmocka_unit_test(test_file_text),
		cmocka_unit_test(test_file_io),
		cmocka_unit_test(test_first_match_and_full_match),
		cmocka_unit_test(test_catch_all),
		cmocka_unit_test(test_judge_and_counters),
		cmocka_unit_test(test_real_world_table),
		cmocka_unit_test(test_inputs_from_result),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
