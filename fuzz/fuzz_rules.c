/* libFuzzer: the pass-rule parser and matcher. Input: one mode byte, then
 * text. Mode % 3 == 0: a predicate (dv_predicate_parse); 1: a --rule
 * argument (dv_rules_add); 2: a rules file (dv_rules_load_text). Checked:
 * an error has a message and a column within the text (+1 for the end); a
 * predicate's canonical form parses back to itself and judges a set of
 * inputs (NaN, inf, zero, ties) the same; every rule of a set matches or
 * not without crashing, on the first bytes of the input as a name. */
#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/rules.h"

#define MAX_TEXT 2048
#define MAX_NAME 64

static const dv_rule_inputs probes[] = {
	{ 0, 0, 0, 0, true },
	{ 1e-3, 1e-3, 1e-4, 0, false },
	{ 0.0085, 2e-3, 1e-3, 1, false },
	{ NAN, NAN, NAN, 7, false },
	{ INFINITY, INFINITY, 1, 0, false },
	{ -0.0, 0.5, -1, 3, true },
	{ 1, 1, 1, 1, false },
};

static void check_predicate(const char *text, size_t len)
{
	dv_error err = { "" };
	int col = 0;
	dv_predicate *p = dv_predicate_parse(text, &col, &err), *q;

	if (!p) {
		assert(err.msg[0] != '\0');
		assert(col >= 1 && (size_t)col <= len + 1);
		return;
	}
	q = dv_predicate_parse(dv_predicate_canonical(p), NULL, &err);
	assert(q != NULL);
	assert(strcmp(dv_predicate_canonical(p), dv_predicate_canonical(q)) == 0);
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		assert(dv_predicate_eval(p, &probes[i]) == dv_predicate_eval(q, &probes[i]));
	dv_predicate_free(q);
	dv_predicate_free(p);
}

static void check_set(dv_rules *rs, const char *name)
{
	size_t n = dv_rules_count(rs);

	for (size_t i = 0; i < n; i++) {
		const dv_rule *r = dv_rules_get(rs, i);

		assert(r != NULL);
		assert(dv_rule_regex(r) && dv_rule_predicate(r) && dv_rule_canonical(r) && dv_rule_origin(r));
		(void)dv_rule_passes(r, &probes[i % (sizeof(probes) / sizeof(probes[0]))]);
	}
	assert(dv_rules_get(rs, n) == NULL);
	(void)dv_rules_judge(rs, name, &probes[3], NULL);
	(void)dv_rules_match(rs, "");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[MAX_TEXT + 1], name[MAX_NAME + 1];
	size_t len, nlen;
	dv_rules *rs;
	dv_error err = { "" };

	if (size < 1 || size - 1 > MAX_TEXT)
		return 0;
	len = size - 1;
	memcpy(text, data + 1, len);
	text[len] = '\0';
	nlen = strnlen(text, len < MAX_NAME ? len : MAX_NAME);
	memcpy(name, text, nlen);
	name[nlen] = '\0';

	switch (data[0] % 3) {
	case 0:
		check_predicate(text, strlen(text));
		break;
	case 1:
		rs = dv_rules_new();
		if (!rs)
			return 0;
		if (dv_rules_add(rs, text, &err) < 0) {
			assert(err.msg[0] != '\0');
			assert(dv_rules_count(rs) == 1);    /* only the default catch-all */
		} else {
			assert(dv_rules_count(rs) == 1 && !dv_rule_is_catch_all(dv_rules_get(rs, 0)));
		}
		check_set(rs, name);
		dv_rules_free(rs);
		break;
	default:
		rs = dv_rules_new();
		if (!rs)
			return 0;
		if (dv_rules_load_text(rs, (const char *)data + 1, len, "fuzz", &err) < 0) {
			assert(err.msg[0] != '\0');
			assert(dv_rules_count(rs) == 1);
		}
		(void)dv_rules_set_catch_all(rs, data[0] & 4, 1e-3);
		check_set(rs, name);
		dv_rules_free(rs);
		break;
	}
	return 0;
}
