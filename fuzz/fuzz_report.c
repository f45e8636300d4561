/* libFuzzer: the JSON parser and the report loader (report_load.h). Input:
 * one mode byte, then text. Mode even: one JSON value (dv_json_parse);
 * odd: a report without runs (dv_report_load_buffer). Checked: an error
 * has a message; a parsed string holds no NUL and its length; a report
 * that loads agrees with its own summary (counts of the verdicts, the first
 * divergence), as the loader promises, and its comparison frees cleanly. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/report_load.h"

static void walk(const dv_json *v, int depth)
{
	assert(depth <= DV_JSON_MAX_DEPTH);
	if (v->type == DV_JSON_STRING)
		assert(strlen(v->str) == v->len);
	for (size_t i = 0; i < v->n; i++) {
		if (v->type == DV_JSON_OBJECT)
			assert(v->keys[i] != NULL);
		walk(&v->items[i], depth + 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dv_error err;

	if (size < 1)
		return 0;
	const char *text = (const char *)data + 1;
	size_t len = size - 1;

	if (!(data[0] & 1)) {
		dv_json v;

		if (dv_json_parse(text, len, &v, &err) == 0) {
			walk(&v, 0);
			dv_json_free(&v);
		} else {
			assert(err.msg[0] != '\0');
		}
		return 0;
	}
	dv_report_data *d = dv_report_load_buffer("fuzz.jsonl", text, len, NULL, &err);

	if (!d) {
		assert(err.msg[0] != '\0');
		return 0;
	}
	dv_report_counts c = {0};

	for (size_t i = 0; i < d->cmp->npairs; i++) {
		dv_outcome o = dv_comparison_verdict(d->cmp, i, NULL);

		c.passed += o == DV_OUTCOME_PASS;
		c.failed += o == DV_OUTCOME_FAIL;
		c.errored += o == DV_OUTCOME_ERROR;
		c.skipped += o != DV_OUTCOME_PASS && o != DV_OUTCOME_FAIL && o != DV_OUTCOME_ERROR;
	}
	assert(c.passed == d->counts.passed && c.failed == d->counts.failed && c.errored == d->counts.errored &&
	       c.skipped == d->counts.skipped);
	assert(dv_first_divergence(d->cmp, NULL) == d->first_divergence);
	char **w;
	size_t nw = dv_comparison_warnings(d->cmp, &w);

	dv_warnings_free(w, nw);
	free(dv_diagnose(d->cmp));
	dv_report_data_free(d);
	return 0;
}
