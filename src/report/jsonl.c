/* JSON lines: one object per pair / unmatched file / non-tensor value / error,
 * then a summary. Field names are a contract with the scripts that read them
 * (dumpview(1) lists them). */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "internal.h"
#include "dumpview/logical.h"
#include "dumpview/token_align.h"

/* ,"k": -- the keys are this file's identifiers (nothing to escape), put
 * in buf with one write for the key and what follows (stdio's cost is per
 * call); returns the length so far, or 0 when k is too long for buf. */
static inline __attribute__((always_inline)) size_t key_text(char *buf, size_t size, const char *k)
{
	size_t n = strlen(k);

	if (n + 4 > size)
		return 0;
	buf[0] = ',';
	buf[1] = '"';
	memcpy(buf + 2, k, n);
	buf[n + 2] = '"';
	buf[n + 3] = ':';
	return n + 4;
}

static inline __attribute__((always_inline)) void key(dv_jout *out, const char *k)
{
	char buf[64];
	size_t n = key_text(buf, sizeof(buf), k);

	if (!n) {
		dv_jout_putc(out, ',');
		dv_jout_string(out, k);
		dv_jout_putc(out, ':');
		return;
	}
	dv_jout_write(out, buf, n);
}

static void int_or_null(dv_jout *out, int64_t v)
{
	if (v < 0)
		dv_jout_lit(out, "null");
	else
		dv_jout_int(out, v);
}

static void str_or_null(dv_jout *out, const char *s)
{
	if (s)
		dv_jout_string(out, s);
	else
		dv_jout_lit(out, "null");
}

static void begin(dv_report *r, const char *type, const dv_pair *pair)
{
	dv_jout_lit(r->jout, "{\"type\":");
	dv_jout_string(r->jout, type);
	key(r->jout, "phase");
	dv_jout_string(r->jout, r->cmp->phases[pair->phase].name);
	/* its place in the whole comparison's execution order: what `merge`
	 * sorts the parts of a sharded comparison by */
	dv_jout_lit(r->jout, ",\"index\":");
	dv_jout_int(r->jout, (int64_t)(pair - r->cmp->pairs));
}

static const char *verdict_name(dv_verdict v)
{
	switch (v) {
	case DV_VERDICT_PASSED: return "passed";
	case DV_VERDICT_FAILED: return "failed";
	case DV_VERDICT_ERRORED: return "errored";
	default: return "skipped";
	}
}

static void shape(dv_jout *out, const dv_result_desc *d)
{
	if (d->dtype == DV_DTYPE_INVALID) {
		dv_jout_lit(out, "null");
		return;
	}
	dv_jout_ints(out, dv_result_shape(d), (size_t)d->ndim);
}

static void dtype(dv_jout *out, const dv_result_desc *d)
{
	if (d->dtype == DV_DTYPE_INVALID)
		dv_jout_lit(out, "null");
	else
		dv_jout_string(out, dv_dtype_name(d->dtype));
}

static void metric(dv_jout *out, const char *k, bool have, double v)
{
	char buf[128];
	size_t n = key_text(buf, sizeof(buf) - 48, k);

	if (!n || (have && !isfinite(v))) {
		key(out, k);
		if (have)
			dv_jout_double(out, v);
		else
			dv_jout_lit(out, "null");
		return;
	}
	if (have)
		dv_fmt_double(buf + n, sizeof(buf) - n, v);
	else
		memcpy(buf + n, "null", 5);
	dv_jout_write(out, buf, n + strlen(buf + n));
}

static void stats(dv_jout *out, const char *k, bool have, const dv_stats *s)
{
	int i;

	key(out, k);
	if (!have) {
		dv_jout_lit(out, "null");
		return;
	}
	dv_jout_lit(out, "{\"mean\":");
	dv_jout_double(out, s->mean);
	metric(out, "std", true, s->std);
	metric(out, "min", true, s->min);
	metric(out, "max", true, s->max);
	for (i = 0; i < DV_NQUANTILES; i++)
		metric(out, dv_report_quantile_name[i], s->has_percentiles, s->p[i]);
	dv_jout_lit(out, ",\"nan\":");
	dv_jout_int(out, dv_stats_nan(s));
	dv_jout_lit(out, ",\"inf\":");
	dv_jout_int(out, dv_stats_inf(s));
	dv_jout_putc(out, '}');
}

/* The target's own name when --name-map renamed it (`name` is the mapped
 * one); nothing otherwise. */
static void target_name(dv_jout *out, const dv_pair *pair)
{
	if (!pair->targ || !pair->targ->renamed)
		return;
	key(out, "target_name");
	dv_jout_string(out, dv_dumpfile_unmapped_name(pair->targ));
}

static void common_ids(dv_report *r, const dv_pair *pair)
{
	key(r->jout, "layer");
	int_or_null(r->jout, pair->layer);
	key(r->jout, "name");
	dv_jout_string(r->jout, pair->name);
	key(r->jout, "rank");
	int_or_null(r->jout, pair->rank);
	key(r->jout, "step");
	int_or_null(r->jout, pair->step);
	key(r->jout, "baseline");
	str_or_null(r->jout, pair->base ? dv_dumpfile_relpath(pair->base) : NULL);
	key(r->jout, "target");
	str_or_null(r->jout, pair->targ ? dv_dumpfile_relpath(pair->targ) : NULL);
	target_name(r->jout, pair);
}

/* Every file of one side of a logical tensor, relative paths. */
static void files_list(dv_jout *out, const dv_pair *pair, int side)
{
	size_t n;
	const dv_dumpfile *const *f = dv_pair_files(pair, side, &n);

	dv_jout_putc(out, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			dv_jout_putc(out, ',');
		dv_jout_string(out, dv_dumpfile_relpath(f[i]));
	}
	dv_jout_putc(out, ']');
}

static void files_fields(dv_jout *out, const dv_pair *pair)
{
	key(out, "baseline_files");
	files_list(out, pair, 0);
	key(out, "target_files");
	files_list(out, pair, 1);
}

/* What a logical tensor adds: dims, plan, aligned shape, replicated
 * checks, the shard of max |t-b|, replica_mismatch (issue #13's contract;
 * null / [] / false for a pair with nothing of it). */
static void logical_fields(dv_jout *out, const dv_pair *pair)
{
	dv_logical_result whole;
	const dv_logical_result *lr = atomic_load(&pair->state) == DV_PAIR_DONE ? dv_pair_logical(pair, &whole) : NULL;

	key(out, "baseline_dims");
	str_or_null(out, lr ? lr->dims[0] : NULL);
	key(out, "target_dims");
	str_or_null(out, lr ? lr->dims[1] : NULL);
	key(out, "plan");
	str_or_null(out, lr ? lr->plan : NULL);
	key(out, "aligned_shape");
	if (lr)
		dv_jout_ints(out, lr->aligned_shape, (size_t)lr->aligned_ndim);
	else if (dv_report_has_metrics(pair))
		shape(out, &pair->result->targ);
	else
		dv_jout_lit(out, "null");
	key(out, "replicated_checks");
	dv_jout_putc(out, '[');
	for (size_t i = 0; lr && i < lr->nchecks; i++) {
		const dv_replica_check *c = &lr->checks[i];

		dv_jout_puts(out, i ? ",{\"side\":" : "{\"side\":");
		dv_jout_string(out, c->side ? "target" : "baseline");
		key(out, "axis");
		dv_jout_string(out, dv_axis_name(c->axis));
		key(out, "passed");
		dv_jout_puts(out, c->passed ? "true" : "false");
		metric(out, "max_abs_diff", true, c->max_abs_diff);
		key(out, "ranks");
		dv_jout_putc(out, '[');
		int_or_null(out, c->ranks[0]);
		dv_jout_putc(out, ',');
		int_or_null(out, c->ranks[1]);
		dv_jout_lit(out, "]}");
	}
	dv_jout_putc(out, ']');
	key(out, "max_abs_diff_shard");
	if (lr && lr->has_shard) {
		dv_jout_lit(out, "{\"file\":");
		dv_jout_string(out, dv_dumpfile_relpath(lr->shard_file));
		key(out, "rank");
		int_or_null(out, lr->shard_rank);
		key(out, "coord");
		dv_jout_ints(out, lr->shard_coord, (size_t)lr->shard_ndim);
		if (lr->nshard_ranks) {
			/* a partial sum: every rank holds a share of the element */
			key(out, "ranks");
			dv_jout_ints(out, lr->shard_ranks, lr->nshard_ranks);
		}
		dv_jout_putc(out, '}');
	} else {
		dv_jout_lit(out, "null");
	}
	key(out, "replica_mismatch");
	dv_jout_puts(out, dv_pair_replica_mismatch(pair) ? "true" : "false");
	key(out, "token_aligner");
	str_or_null(out, pair->lctx ? dv_token_aligner_name(pair->lctx->token_aligner) : "none");
	key(out, "per_sequence");
	if (lr && pair->lctx && pair->lctx->ta) {
		dv_jout_putc(out, '[');
		for (size_t i = 0; i < lr->nseqs; i++) {
			const dv_seq_metrics *q = &lr->seqs[i];

			dv_jout_puts(out, i ? ",{\"id\":" : "{\"id\":");
			dv_jout_string(out, q->id);
			dv_jout_printf(out, ",\"tokens\":%zu", q->tokens);
			metric(out, "rel_diff", true, q->rel_diff);
			metric(out, "max_abs_diff", true, q->max_abs_diff);
			metric(out, "mean_abs_diff", true, q->mean_abs_diff);
			key(out, "passed");
			dv_jout_puts(out, q->passed ? "true" : "false");
			dv_jout_putc(out, '}');
		}
		dv_jout_putc(out, ']');
	} else {
		dv_jout_lit(out, "null");
	}
}

/* One phase's token alignment: coverage instead of silence. */
static void token_alignment(dv_report *r)
{
	dv_jout *out = r->jout;
	const dv_phase_pairs *ph = NULL;
	const dv_ta_result *ta;

	for (size_t k = 0; k < r->cmp->nphases && !ph; k++)
		if (r->cmp->phases[k].lctx && r->cmp->phases[k].lctx->smart_asked)
			ph = &r->cmp->phases[k];
	if (!ph && r->cmp->nphases)
		ph = &r->cmp->phases[0];
	if (!ph || !ph->lctx) {
		dv_jout_lit(out, "null");
		return;
	}
	ta = ph->lctx->ta;
	dv_jout_lit(out, "{\"mode\":");
	dv_jout_string(out, dv_token_aligner_name(ph->lctx->token_aligner));
	key(out, "phase");
	dv_jout_string(out, ph->name);
	key(out, "matched");
	dv_jout_putc(out, '[');
	for (size_t i = 0; ta && i < ta->nmatched; i++) {
		const dv_ta_match *m = &ta->matched[i];

		dv_jout_puts(out, i ? ",{\"id\":" : "{\"id\":");
		dv_jout_string(out, m->id);
		dv_jout_printf(out, ",\"tokens\":%zu,\"baseline_only_tokens\":%zu,\"target_only_tokens\":%zu}", m->tokens,
			m->baseline_only_tokens, m->target_only_tokens);
	}
	dv_jout_putc(out, ']');
	for (int side = 0; side < 2; side++) {
		const dv_ta_unmatched *u = ta ? (side ? ta->unmatched_target : ta->unmatched_baseline) : NULL;
		size_t n = ta ? (side ? ta->nunmatched_target : ta->nunmatched_baseline) : 0;

		key(out, side ? "unmatched_target" : "unmatched_baseline");
		dv_jout_putc(out, '[');
		for (size_t i = 0; i < n; i++) {
			dv_jout_puts(out, i ? ",{\"id\":" : "{\"id\":");
			dv_jout_string(out, u[i].id);
			dv_jout_printf(out, ",\"tokens\":%zu}", u[i].tokens);
		}
		dv_jout_putc(out, ']');
	}
	dv_jout_printf(out, ",\"padding_tokens\":%zu,\"padding_sequences\":%zu", ta ? ta->padding_tokens : 0,
		ta ? ta->padding_sequences : 0);
	key(out, "tokens_aligned");
	dv_jout_printf(out, "%zu", ta ? ta->ntokens : 0);
	key(out, "errors");
	dv_jout_putc(out, '[');
	if (ph->lctx->ta_why) {
		dv_jout_string(out, ph->lctx->ta_why);
		if (ta && ta->nerrors)
			dv_jout_putc(out, ',');
	}
	for (size_t i = 0; ta && i < ta->nerrors; i++) {
		if (i)
			dv_jout_putc(out, ',');
		dv_jout_string(out, ta->errors[i]);
	}
	dv_jout_lit(out, "]}");
}

static void write_pair(dv_report *r, const dv_pair *pair, dv_verdict verdict)
{
	const dv_pair_result *res = pair->result;
	bool m = dv_report_has_metrics(pair), st = dv_report_has_stats(pair);
	dv_jout *out = r->jout;

	begin(r, "pair", pair);
	common_ids(r, pair);
	files_fields(out, pair);
	key(out, "baseline_dtype");
	dtype(out, &res->base);
	key(out, "target_dtype");
	dtype(out, &res->targ);
	key(out, "baseline_shape");
	shape(out, &res->base);
	key(out, "target_shape");
	shape(out, &res->targ);
	metric(out, "rel_diff", m, res->rel_diff);
	metric(out, "max_abs_diff", m, res->max_abs_diff);
	metric(out, "mean_abs_diff", m, res->mean_abs_diff);
	key(out, "passed");
	dv_jout_puts(out, dv_report_metrics_pass(r, pair, verdict) ? "true" : "false");
	/* how the summary counts it, and the result's kind */
	key(out, "verdict");
	dv_jout_string(out, verdict_name(verdict));
	key(out, "status");
	dv_jout_string(out, dv_report_status_name(pair));
	if (dv_comparison_rules(r->cmp)) {
		size_t index = (size_t)(pair - r->cmp->pairs);
		const dv_rule *rule = dv_comparison_rule(r->cmp, index);

		/* The rule that judged the pair; null when none matches its name. */
		key(out, "rule");
		if (rule) {
			dv_jout_lit(out, "{\"regex\":");
			dv_jout_string(out, dv_rule_regex(rule));
			key(out, "predicate");
			dv_jout_string(out, dv_rule_canonical(rule));
			key(out, "origin");
			dv_jout_string(out, dv_rule_origin(rule));
			dv_jout_putc(out, '}');
		} else {
			dv_jout_lit(out, "null");
		}
		if (dv_comparison_no_rule(r->cmp, index)) {
			key(out, "error");
			dv_jout_string(out, DV_NO_RULE_MESSAGE);
		}
	}
	if (!dv_comparison_no_rule(r->cmp, (size_t)(pair - r->cmp->pairs)) &&
	    (res->status == DV_RESULT_ERROR || res->status == DV_RESULT_SHAPE_MISMATCH ||
	     res->status == DV_RESULT_CANCELLED || res->status == DV_RESULT_NONE)) {
		key(out, "error");
		dv_jout_string(out, dv_comparison_message(r->cmp, (size_t)(pair - r->cmp->pairs)));
	}
	stats(out, "baseline_stats", st, &res->base_stats);
	stats(out, "target_stats", st, &res->targ_stats);
	key(out, "max_abs_diff_coord");
	if (m && res->numel > 0) {
		dv_jout_ints(out, dv_result_coord(res), (size_t)res->max_abs_diff_ndim);
	} else {
		dv_jout_lit(out, "null");
	}
	/* Beyond the contract: extra detail, only added (never renamed). */
	if (m) {
		metric(out, "max_abs_diff_baseline", true, res->max_abs_diff_base);
		metric(out, "max_abs_diff_target", true, res->max_abs_diff_targ);
		dv_jout_lit(out, ",\"numel\":");
		dv_jout_int(out, res->numel);
		dv_jout_lit(out, ",\"identical\":");
		dv_jout_int(out, res->identical);
		if (res->has_bf16) {
			metric(out, "bf16_rel_diff", true, res->bf16_rel_diff);
			metric(out, "bf16_max_abs_diff", true, res->bf16_max_abs_diff);
			metric(out, "bf16_mean_abs_diff", true, res->bf16_mean_abs_diff);
		}
	}
	logical_fields(out, pair);
	dv_jout_lit(out, "}\n");
}

/* The file an error message is about: the one whose path it names. */
static const dv_dumpfile *error_file(const dv_pair *pair)
{
	dv_path_buf bp, tp;

	if (pair->base && pair->targ && strstr(pair->result->error, dv_dumpfile_path(pair->base, &bp)) &&
	    !strstr(pair->result->error, dv_dumpfile_path(pair->targ, &tp)))
		return pair->base;
	return pair->targ ? pair->targ : pair->base;
}

static void pair_records(dv_report *r, const dv_pair *pair, dv_verdict verdict)
{
	dv_jout *out = r->jout;

	if (pair->kind != DV_PAIR_MATCHED) {
		bool base = pair->kind == DV_PAIR_BASELINE_ONLY;

		begin(r, "unmatched", pair);
		key(out, "side");
		dv_jout_string(out, base ? "baseline" : "target");
		key(out, "file");
		dv_jout_string(out, base ? dv_dumpfile_relpath(pair->base) : dv_dumpfile_relpath(pair->targ));
		key(out, "name");
		dv_jout_string(out, pair->name);
		target_name(out, pair);
		key(out, "files");
		files_list(out, pair, base ? 0 : 1);
		key(out, "layer");
		int_or_null(out, pair->layer);
		dv_jout_lit(out, "}\n");
		return;
	}
	if (atomic_load(&pair->state) == DV_PAIR_DONE && pair->result->status == DV_RESULT_SKIPPED) {
		/* a side that is no one tensor: skipped with the reason, as the
		 * reference's skip record */
		begin(r, "skip", pair);
		common_ids(r, pair);
		files_fields(out, pair);
		key(out, "reason");
		dv_jout_string(out, pair->result->error);
		dv_jout_lit(out, "}\n");
		return;
	}
	if (atomic_load(&pair->state) == DV_PAIR_DONE && pair->result->status == DV_RESULT_NON_TENSOR) {
		begin(r, "non_tensor", pair);
		key(out, "name");
		dv_jout_string(out, pair->name);
		key(out, "equal");
		dv_jout_puts(out, pair->result->equal ? "true" : "false");
		key(out, "layer");
		int_or_null(out, pair->layer);
		key(out, "rank");
		int_or_null(out, pair->rank);
		key(out, "step");
		int_or_null(out, pair->step);
		key(out, "baseline");
		dv_jout_string(out, dv_dumpfile_relpath(pair->base));
		key(out, "target");
		dv_jout_string(out, dv_dumpfile_relpath(pair->targ));
		target_name(out, pair);
		files_fields(out, pair);
		dv_jout_lit(out, "}\n");
		return;
	}
	write_pair(r, pair, verdict);
	if (atomic_load(&pair->state) == DV_PAIR_DONE && pair->result->status == DV_RESULT_ERROR) {
		begin(r, "error", pair);
		key(out, "file");
		dv_jout_string(out, dv_dumpfile_relpath(error_file(pair)));
		key(out, "message");
		dv_jout_string(out, pair->result->error);
		dv_jout_lit(out, "}\n");
	}
}

static void jsonl_phase(dv_report *r, size_t phase)
{
	(void)r;
	(void)phase;
}

/* {phase, layer, name, rank, step, target, rel_diff} of one pair, or null. */
static void locator(dv_report *r, ptrdiff_t index)
{
	dv_jout *out = r->jout;
	const dv_pair *p;

	if (index < 0) {
		dv_jout_lit(out, "null");
		return;
	}
	p = &r->cmp->pairs[index];
	dv_jout_lit(out, "{\"phase\":");
	dv_jout_string(out, r->cmp->phases[p->phase].name);
	key(out, "layer");
	int_or_null(out, p->layer);
	key(out, "name");
	dv_jout_string(out, p->name);
	key(out, "rank");
	int_or_null(out, p->rank);
	key(out, "step");
	int_or_null(out, p->step);
	key(out, "target");
	dv_jout_string(out, dv_dumpfile_relpath(p->targ));
	metric(out, "rel_diff", dv_report_has_metrics(p), p->result->rel_diff);
	dv_jout_putc(out, '}');
}

/* {"index":i,"name":...} of a pair, or null. */
static void named_index(dv_report *r, ptrdiff_t index)
{
	if (index < 0) {
		dv_jout_lit(r->jout, "null");
		return;
	}
	dv_jout_printf(r->jout, "{\"index\":%td", index);
	key(r->jout, "name");
	dv_jout_string(r->jout, r->cmp->pairs[index].name);
	dv_jout_putc(r->jout, '}');
}

/* A shard's summary: the slice's counts above, and here what `merge` needs
 * to rebuild the whole comparison's summary: the fingerprint all parts
 * share, the number of pairs, the phases, the folders not read, the gate
 * over the slice. */
static void shard_object(dv_report *r, const dv_report_shard *sh)
{
	dv_jout *out = r->jout;
	const dv_comparison *cmp = r->cmp;

	dv_jout_printf(out, ",\"shard\":{\"k\":%u,\"n\":%u,\"of\":\"%016" PRIx64 "\",\"pairs\":%zu", sh->k, sh->n,
		sh->fingerprint, cmp->npairs);
	dv_jout_printf(out, ",\"problems\":%zu", cmp->base->nproblems + cmp->targ->nproblems);
	key(out, "phases");
	dv_jout_putc(out, '[');
	for (size_t k = 0; k < cmp->nphases; k++) {
		const dv_phase_pairs *ph = &cmp->phases[k];

		dv_jout_puts(out, k ? ",{\"name\":" : "{\"name\":");
		dv_jout_string(out, ph->name);
		dv_jout_printf(out, ",\"in_baseline\":%s,\"in_target\":%s,\"folders_ignored\":%s,\"first\":%zu,\"count\":%zu}",
			ph->in_base ? "true" : "false", ph->in_targ ? "true" : "false",
			ph->folders_ignored ? "true" : "false", ph->first, ph->count);
	}
	dv_jout_putc(out, ']');
	key(out, "gate");
	dv_jout_lit(out, "{\"allow_failed_pattern\":");
	str_or_null(out, sh->allow_failed_pattern);
	key(out, "allow_skipped_pattern");
	str_or_null(out, sh->allow_skipped_pattern);
	dv_jout_printf(out, ",\"failed_not_allowed\":%zu", sh->failed_not_allowed);
	key(out, "first_failed");
	named_index(r, sh->first_failed);
	dv_jout_printf(out, ",\"skipped_not_allowed\":%zu", sh->skipped_not_allowed);
	key(out, "first_skipped");
	named_index(r, sh->first_skipped);
	dv_jout_lit(out, "}}");
}

static void summary_record(dv_report *r, const char *diagnosis)
{
	const dv_report_counts *c = &r->counts;
	dv_jout *out = r->jout;

	dv_jout_printf(out, "{\"type\":\"summary\",\"passed\":%zu,\"failed\":%zu,\"skipped\":%zu,\"errored\":%zu",
		c->passed, c->failed, c->skipped, c->errored);
	dv_jout_printf(out, ",\"total\":%zu", c->passed + c->failed + c->skipped + c->errored);
	key(out, "first_divergence");
	locator(r, r->first_divergence);
	{
		size_t n = 0;

		for (size_t i = 0; i < r->cmp->npairs; i++)
			n += dv_pair_replica_mismatch(&r->cmp->pairs[i]);
		dv_jout_printf(out, ",\"replica_mismatches\":%zu", n);
	}
	key(out, "first_replica_mismatch");
	locator(r, dv_first_replica_mismatch(r->cmp));
	key(out, "token_alignment");
	token_alignment(r);
	key(out, "diagnosis");
	str_or_null(out, diagnosis);
	key(out, "warnings");
	dv_jout_strings(out, (const char *const *)r->warnings, r->nwarnings);
	if (r->opts.shard)
		shard_object(r, r->opts.shard);
	dv_jout_lit(out, "}\n");
}

/* A pair's records and the summary are gathered in r->jout and reach the
 * stream in a few large writes: a record is a hundred small pieces. */
static void jsonl_pair(dv_report *r, const dv_pair *pair, dv_verdict verdict)
{
	dv_jout j;

	dv_jout_init(&j, r->out);
	r->jout = &j;
	pair_records(r, pair, verdict);
	dv_jout_flush(&j);
	r->jout = NULL;
}

static void jsonl_finish(dv_report *r, const char *diagnosis)
{
	dv_jout j;

	dv_jout_init(&j, r->out);
	r->jout = &j;
	summary_record(r, diagnosis);
	dv_jout_flush(&j);
	r->jout = NULL;
}

const struct dv_report_writer dv_report_jsonl_writer = {
	.phase = jsonl_phase,
	.pair = jsonl_pair,
	.finish = jsonl_finish,
};
