/* --format sglang-jsonl: the records of SGLang's comparator report
 * (comparator_report.jsonl), field for field, so scripts written for that
 * report read dumpview's unchanged. Every record carries the "type"
 * discriminator and the "errors" / "infos" log lists SGLang's records have;
 * numbers that are not finite are null, as pydantic writes them. No field
 * beyond SGLang's: its models reject unknown ones. The verdicts are the
 * comparison's (the summary's counts are those of the other formats). */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/metrics.h"
#include "dumpview/rules.h"
#include "internal.h"
#include "dumpview/logical.h"
#include "dumpview/vtensor.h"

/* Bytes of a non-tensor value quoted in a record (then "..."). */
#define SGLANG_VALUE_MAX 4096

static void key(FILE *out, const char *k)
{
	fputc(',', out);
	dv_json_write_string(out, k);
	fputc(':', out);
}

/* pydantic writes NaN and infinities as null. */
static void num(FILE *out, double v)
{
	if (isfinite(v))
		dv_json_write_double(out, v);
	else
		fputs("null", out);
}

static void numkey(FILE *out, const char *k, double v)
{
	key(out, k);
	num(out, v);
}

static void begin(FILE *out, const char *type)
{
	fputs("{\"type\":", out);
	dv_json_write_string(out, type);
}

/* An ErrorLog / InfoLog list of one entry, or empty. */
static void logs(FILE *out, const char *k, const char *kind, const char *category, const char *message)
{
	key(out, k);
	if (!message) {
		fputs("[]", out);
		return;
	}
	fputs("[{\"kind\":", out);
	dv_json_write_string(out, kind);
	key(out, "category");
	dv_json_write_string(out, category);
	key(out, "message");
	dv_json_write_string(out, message);
	fputs("}]", out);
}

static void location(FILE *out, const dv_pair *pair)
{
	key(out, "location");
	fputs("{\"step\":", out);
	if (pair->step >= 0)
		fprintf(out, "%" PRId64, pair->step);
	else
		fputs("null", out);
	fputc('}', out);
}

/* "torch.bfloat16", as str(tensor.dtype). */
static void torch_dtype(FILE *out, dv_dtype dt)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "torch.%s", dv_dtype_name(dt));
	dv_json_write_string(out, buf);
}

/* TensorInfo: shape, dtype, stats {mean, abs_mean, std, min, max,
 * percentiles {"1","5","50","95","99"} (empty when not computed)}, sample. */
static void tensor_info(FILE *out, const char *k, const dv_result_desc *d, const dv_stats *s)
{
	static const char *const pct[DV_NQUANTILES] = { "1", "5", "50", "95", "99" };

	key(out, k);
	fputs("{\"shape\":", out);
	dv_json_write_ints(out, dv_result_shape(d), (size_t)d->ndim);
	key(out, "dtype");
	torch_dtype(out, d->dtype);
	key(out, "stats");
	fputs("{\"mean\":", out);
	num(out, s->mean);
	numkey(out, "abs_mean", s->abs_mean);
	numkey(out, "std", s->std);
	numkey(out, "min", s->min);
	numkey(out, "max", s->max);
	key(out, "percentiles");
	fputc('{', out);
	for (int i = 0; s->has_percentiles && i < DV_NQUANTILES; i++) {
		if (i)
			fputc(',', out);
		dv_json_write_string(out, pct[i]);
		fputc(':', out);
		num(out, s->p[i]);
	}
	fputs("}}", out);
	key(out, "sample");
	fputs("null}", out);
}

/* The one number SGLang's diff_threshold holds: X of a judging rule
 * 'rel <= X'; for any other predicate (or no rule) the catch-all's, else the
 * default. The predicate itself is in dumpview's own jsonl. */
static double diff_threshold(const dv_report *r, const dv_pair *pair)
{
	const dv_rules *rules = dv_comparison_rules(r->cmp);
	const dv_rule *rule = rules ? dv_comparison_rule(r->cmp, (size_t)(pair - r->cmp->pairs)) : NULL;
	const dv_rule *all = rules ? dv_rules_catch_all(rules) : NULL;
	const char *c;

	if (!rule)
		rule = all;
	if (rule && !strncmp(c = dv_rule_canonical(rule), "rel <= ", 7)) {
		char *end;
		double x = strtod(c + 7, &end);

		if (!*end)
			return x;
	}
	if (!isnan(dv_comparison_threshold(r->cmp)))
		return dv_comparison_threshold(r->cmp);
	return r->opts.threshold;
}

/* DiffInfo. Downcast metrics reuse the full-precision maximum's place and
 * values: dumpview does not locate the bf16 maximum separately. */
static void diff_info(dv_report *r, const char *k, const dv_pair *pair, double rel, double max, double mean,
		      bool passed)
{
	const dv_pair_result *res = pair->result;
	FILE *out = r->out;

	key(out, k);
	fputs("{\"rel_diff\":", out);
	num(out, rel);
	numkey(out, "max_abs_diff", max);
	numkey(out, "mean_abs_diff", mean);
	key(out, "abs_diff_percentiles");
	fputs("{}", out);
	key(out, "max_diff_coord");
	if (res->numel > 0)
		dv_json_write_ints(out, dv_result_coord(res), (size_t)res->max_abs_diff_ndim);
	else
		fputs("[]", out);
	numkey(out, "baseline_at_max", res->numel > 0 ? res->max_abs_diff_base : 0.0);
	numkey(out, "target_at_max", res->numel > 0 ? res->max_abs_diff_targ : 0.0);
	numkey(out, "diff_threshold", diff_threshold(r, pair));
	key(out, "passed");
	fputs(passed ? "true" : "false", out);
	key(out, "per_token_rel_diff");
	fputs("null}", out);
}

static void tail(FILE *out, const char *error_category, const char *error)
{
	logs(out, "errors", "error", error_category, error);
	logs(out, "infos", "info", NULL, NULL);
	fputs("}\n", out);
}

/* The reference's replicated check records: {axis, group_index,
 * compared_index, baseline_index, passed, atol, diff: {max_abs_diff}}. */
static void replicated_checks(FILE *out, const dv_pair *pair)
{
	const dv_logical_result *lr = pair->logical;

	fputc('[', out);
	for (size_t i = 0; lr && i < lr->nchecks; i++) {
		const dv_replica_check *c = &lr->checks[i];

		fputs(i ? ",{\"axis\":" : "{\"axis\":", out);
		dv_json_write_string(out, dv_axis_name(c->axis));
		fprintf(out, ",\"group_index\":%zu,\"compared_index\":%zu,\"baseline_index\":0", c->group_index,
			c->compared_index);
		key(out, "passed");
		fputs(c->passed ? "true" : "false", out);
		numkey(out, "atol", DV_REPLICATED_ATOL);
		fputs(",\"diff\":{\"max_abs_diff\":", out);
		num(out, c->max_abs_diff);
		fputs("}}", out);
	}
	fputc(']', out);
}

/* Per side: {num_files, files: [{filename, rank}], dims}. */
static void bundle_info(FILE *out, const dv_pair *pair)
{
	static const char *const sides[2] = {"x", "y"};

	fputc('{', out);
	for (int k = 0; k < 2; k++) {
		size_t n;
		const dv_dumpfile *const *f = dv_pair_files(pair, k, &n);

		if (k)
			fputc(',', out);
		dv_json_write_string(out, sides[k]);
		fprintf(out, ":{\"num_files\":%zu,\"files\":[", n);
		for (size_t i = 0; i < n; i++) {
			fputs(i ? ",{\"filename\":" : "{\"filename\":", out);
			dv_json_write_string(out, dv_dumpfile_filename(f[i]));
			if (f[i]->rank >= 0)
				fprintf(out, ",\"rank\":%lld}", (long long)f[i]->rank);
			else
				fputs(",\"rank\":null}", out);
		}
		fputs("],\"dims\":", out);
		if (pair->logical && pair->logical->dims[k])
			dv_json_write_string(out, pair->logical->dims[k]);
		else
			fputs("null", out);
		fputc('}', out);
	}
	fputc('}', out);
}

static void tensor_record(dv_report *r, const dv_pair *pair, dv_verdict verdict)
{
	const dv_pair_result *res = pair->result;
	bool compared = res->status == DV_RESULT_COMPARED;
	FILE *out = r->out;

	begin(out, "comparison_tensor");
	key(out, "name");
	dv_json_write_string(out, pair->name);
	tensor_info(out, "baseline", &res->base, &res->base_stats);
	tensor_info(out, "target", &res->targ, &res->targ_stats);
	/* Shapes are unified by dropping the baseline's leading 1s to the target's. */
	key(out, "unified_shape");
	if (compared)
		dv_json_write_ints(out, dv_result_shape(&res->targ), (size_t)res->targ.ndim);
	else
		fputs("null", out);
	key(out, "shape_mismatch");
	fputs(compared ? "false" : "true", out);
	if (compared) {
		diff_info(r, "diff", pair, res->rel_diff, res->max_abs_diff, res->mean_abs_diff,
			  dv_report_metrics_pass(r, pair, verdict));
	} else {
		key(out, "diff");
		fputs("null", out);
	}
	if (compared && res->has_bf16) {
		diff_info(r, "diff_downcast", pair, res->bf16_rel_diff, res->bf16_max_abs_diff,
			  res->bf16_mean_abs_diff, dv_rel_diff_passes(res->bf16_rel_diff, diff_threshold(r, pair)));
		key(out, "downcast_dtype");
		dv_json_write_string(out, "torch.bfloat16");
	} else {
		key(out, "diff_downcast");
		fputs("null", out);
		key(out, "downcast_dtype");
		fputs("null", out);
	}
	key(out, "traced_plan");
	fputs("null", out);
	key(out, "replicated_checks");
	replicated_checks(out, pair);
	key(out, "raw_bundle_info");
	bundle_info(out, pair);
	location(out, pair);
	tail(out, compared ? NULL : "shape_mismatch", compared ? NULL : res->error);
}

static void error_record(dv_report *r, const dv_pair *pair, const char *type, const char *message)
{
	FILE *out = r->out;

	begin(out, "comparison_error");
	key(out, "name");
	dv_json_write_string(out, pair->name);
	key(out, "exception_type");
	dv_json_write_string(out, type);
	key(out, "exception_message");
	dv_json_write_string(out, message);
	key(out, "traceback_str");
	dv_json_write_string(out, "");
	location(out, pair);
	tail(out, NULL, NULL);
}

static void skip_record(dv_report *r, const dv_pair *pair, const char *reason, const char *side)
{
	FILE *out = r->out;

	begin(out, "comparison_skip");
	key(out, "name");
	dv_json_write_string(out, pair->name);
	key(out, "reason");
	dv_json_write_string(out, reason);
	key(out, "available_side");
	if (side)
		dv_json_write_string(out, side);
	else
		fputs("null", out);
	key(out, "available_tensor_info");
	fputs("null", out);
	key(out, "available_bundle_info");
	fputs("null", out);
	location(out, pair);
	tail(out, NULL, NULL);
}

/* The values are read again here: a pair's result keeps only whether they
 * are equal. A file that cannot be read now leaves its value empty and says
 * why in the record's errors. */
static void non_tensor_record(dv_report *r, const dv_pair *pair)
{
	char *text[2] = { NULL, NULL }, *type[2] = { NULL, NULL };
	dv_path_buf bufs[2];
	const char *paths[2] = { dv_dumpfile_path(pair->base, &bufs[0]), dv_dumpfile_path(pair->targ, &bufs[1]) };
	dv_error err;
	bool failed = false;
	FILE *out = r->out;

	dv_error_clear(&err);
	for (int k = 0; k < 2; k++)
		if (!failed && dv_value_text(paths[k], SGLANG_VALUE_MAX, &text[k], &type[k], &err))
			failed = true;
	begin(out, "comparison_non_tensor");
	key(out, "name");
	dv_json_write_string(out, pair->name);
	key(out, "baseline_value");
	dv_json_write_string(out, text[0] ? text[0] : "");
	key(out, "target_value");
	dv_json_write_string(out, text[1] ? text[1] : "");
	key(out, "baseline_type");
	dv_json_write_string(out, type[0] ? type[0] : "");
	key(out, "target_type");
	dv_json_write_string(out, type[1] ? type[1] : "");
	key(out, "values_equal");
	fputs(pair->result->equal ? "true" : "false", out);
	location(out, pair);
	tail(out, failed ? "read" : NULL, failed ? err.msg : NULL);
	for (int k = 0; k < 2; k++) {
		free(text[k]);
		free(type[k]);
	}
}

static void sglang_pair(dv_report *r, const dv_pair *pair, dv_verdict verdict)
{
	size_t index = (size_t)(pair - r->cmp->pairs);
	const dv_pair_result *res = pair->result;

	if (pair->kind == DV_PAIR_BASELINE_ONLY) {
		skip_record(r, pair, "target_load_failed", "baseline");
		return;
	}
	if (pair->kind == DV_PAIR_TARGET_ONLY) {
		skip_record(r, pair, "baseline_load_failed", "target");
		return;
	}
	if (atomic_load(&pair->state) != DV_PAIR_DONE || res->status == DV_RESULT_NONE ||
	    res->status == DV_RESULT_CANCELLED) {
		skip_record(r, pair, "not_computed", NULL);
		return;
	}
	if (dv_comparison_no_rule(r->cmp, index)) {
		char msg[DV_ERROR_MAX + 64];

		/* As SGLang words a name its --diff-threshold rules do not cover. */
		snprintf(msg, sizeof(msg), "tensor '%s' matched no rule; add a catch-all '.*' rule or a matching "
			 "pattern.", pair->name);
		error_record(r, pair, "ValueError", msg);
		return;
	}
	switch (res->status) {
	case DV_RESULT_ERROR:
		error_record(r, pair, "DumpReadError", res->error);
		return;
	case DV_RESULT_NON_TENSOR:
		non_tensor_record(r, pair);
		return;
	case DV_RESULT_SKIPPED: {
		/* a side that is no one tensor: the reference's load-failed skip */
		bool targ_failed = strstr(res->error, ": target: ") != NULL;

		skip_record(r, pair, targ_failed ? "target_load_failed" : "baseline_load_failed",
			    targ_failed ? "baseline" : "target");
		return;
	}
	default:
		tensor_record(r, pair, verdict);
		return;
	}
}

static void str_or_null(FILE *out, const char *k, const char *s)
{
	key(out, k);
	if (s)
		dv_json_write_string(out, s);
	else
		fputs("null", out);
}

/* The config record: every argument of the command, by its option name. */
static void sglang_begin(dv_report *r)
{
	const dv_report_config *c = r->opts.config;
	FILE *out = r->out;

	begin(out, "config");
	key(out, "config");
	fputs("{\"output_format\":\"sglang-jsonl\"", out);
	if (c) {
		const dv_rules *rules = c->rules;

		str_or_null(out, "baseline_path", c->baseline);
		str_or_null(out, "target_path", c->target);
		key(out, "phase");
		fputc('[', out);
		for (size_t i = 0; i < c->nphases; i++) {
			if (i)
				fputc(',', out);
			dv_json_write_string(out, c->phases[i]);
		}
		fputc(']', out);
		str_or_null(out, "filter", c->filter);
		str_or_null(out, "layer_regex", c->layer_regex);
		numkey(out, "diff_threshold", c->diff_threshold);
		key(out, "rules");
		fputc('[', out);
		for (size_t i = 0; rules && i < dv_rules_count(rules); i++) {
			const dv_rule *rule = dv_rules_get(rules, i);

			fputs(i ? ",{\"regex\":" : "{\"regex\":", out);
			dv_json_write_string(out, dv_rule_regex(rule));
			key(out, "predicate");
			dv_json_write_string(out, dv_rule_canonical(rule));
			key(out, "origin");
			dv_json_write_string(out, dv_rule_origin(rule));
			fputc('}', out);
		}
		fputc(']', out);
		str_or_null(out, "allow_failed_pattern", c->allow_failed_pattern);
		str_or_null(out, "allow_skipped_pattern", c->allow_skipped_pattern);
		str_or_null(out, "report_path", c->output);
		key(out, "follow_symlinks");
		fputs(c->follow_symlinks ? "true" : "false", out);
	}
	fputc('}', out);
	tail(out, NULL, NULL);
}

static void sglang_phase(dv_report *r, size_t phase)
{
	(void)r;
	(void)phase;
}

/* The summary; the comparison's warnings are its error logs (each fails the
 * exit status), the first divergence and the diagnosis its info logs. */
static void sglang_finish(dv_report *r, const char *diagnosis)
{
	const dv_report_counts *c = &r->counts;
	FILE *out = r->out;
	bool first = true;

	begin(out, "summary");
	fprintf(out, ",\"total\":%zu,\"passed\":%zu,\"failed\":%zu,\"skipped\":%zu,\"errored\":%zu",
		c->passed + c->failed + c->skipped + c->errored, c->passed, c->failed, c->skipped, c->errored);
	key(out, "errors");
	fputc('[', out);
	for (size_t i = 0; i < r->nwarnings; i++) {
		fputs(i ? ",{\"kind\":\"error\",\"category\":\"warning\",\"message\":" :
			  "{\"kind\":\"error\",\"category\":\"warning\",\"message\":", out);
		dv_json_write_string(out, r->warnings[i]);
		fputc('}', out);
	}
	fputc(']', out);
	key(out, "infos");
	fputc('[', out);
	if (r->first_divergence >= 0) {
		fputs("{\"kind\":\"info\",\"category\":\"first_divergence\",\"message\":", out);
		dv_json_write_string(out, r->cmp->pairs[r->first_divergence].name);
		fputc('}', out);
		first = false;
	}
	if (diagnosis) {
		fputs(first ? "" : ",", out);
		fputs("{\"kind\":\"info\",\"category\":\"diagnosis\",\"message\":", out);
		dv_json_write_string(out, diagnosis);
		fputc('}', out);
	}
	fputs("]}\n", out);
}

const struct dv_report_writer dv_report_sglang_writer = {
	.phase = sglang_phase,
	.pair = sglang_pair,
	.finish = sglang_finish,
	.begin = sglang_begin,
};
