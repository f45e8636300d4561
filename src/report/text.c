/* The human-readable report, modelled on SGLang's comparator output. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "dumpview/escape.h"
#include "internal.h"
#include "dumpview/logical.h"
#include "dumpview/token_align.h"

static const char *mark(const dv_report *r, bool ok)
{
	if (r->opts.utf8)
		return ok ? "\u2705" : "\u274c";
	return ok ? "ok" : "FAIL";
}

/* Names, folders, tags and error messages come from the dumps: every line
 * that quotes one goes through the terminal escaper (dv_term_fprintf), which
 * leaves clean text byte-identical. */

/* A phase folder for people: the run's root itself is ".". */
static const char *shown_dir(const char *dir, const char *fallback)
{
	if (!dir)
		return fallback;
	return *dir ? dir : ".";
}

/* The smart token aligner's coverage, once per phase, before its pairs. */
static void alignment_table(dv_report *r, const dv_phase_pairs *ph)
{
	const dv_logical_ctx *lc = ph->lctx;
	const dv_ta_result *ta = lc ? lc->ta : NULL;
	FILE *out = r->out;

	if (!lc || !lc->smart_asked)
		return;
	if (lc->ta_why)
		dv_term_fprintf(out, "Token alignment: %s\n", lc->ta_why);
	if (!ta) {
		fputc('\n', out);
		return;
	}
	fprintf(out, "Token alignment (smart, by %s): %zu tokens of %zu sequences aligned, %zu padding tokens\n",
		ta->by_rid ? "rid" : "token ids", ta->ntokens, ta->nmatched, ta->padding_tokens);
	fprintf(out, "  %-20s %8s %14s %12s\n", "sequence", "tokens", "baseline-only", "target-only");
	for (size_t i = 0; i < ta->nmatched; i++) {
		const dv_ta_match *m = &ta->matched[i];

		fputs("  ", out);
		dv_term_fprintf(out, "%-20s", m->id);
		fprintf(out, " %8zu %14zu %12zu%s\n", m->tokens, m->baseline_only_tokens, m->target_only_tokens,
			m->ids_disagree ? "  token ids differ: not compared" : "");
	}
	for (int side = 0; side < 2; side++) {
		const dv_ta_unmatched *u = side ? ta->unmatched_target : ta->unmatched_baseline;
		size_t n = side ? ta->nunmatched_target : ta->nunmatched_baseline;

		for (size_t i = 0; i < n; i++) {
			fputs("  ", out);
			dv_term_fprintf(out, "%-20s", u[i].id);
			fprintf(out, " %8zu  only in the %s\n", u[i].tokens, side ? "target" : "baseline");
		}
	}
	for (size_t i = 0; i < ta->nerrors; i++)
		dv_term_fprintf(out, "  error: %s\n", ta->errors[i]);
	fputc('\n', out);
}

static void write_phase_header(dv_report *r, size_t phase)
{
	const dv_phase_pairs *ph = &r->cmp->phases[phase];
	const char *bdir = shown_dir(dv_report_phase_dir(r->cmp, phase, true), ph->name);
	const char *tdir = shown_dir(dv_report_phase_dir(r->cmp, phase, false), ph->name);

	if (ph->in_base && ph->in_targ)
		dv_term_fprintf(r->out, "==== Phase %s: baseline %s, target %s ====\n", ph->name, bdir, tdir);
	else
		dv_term_fprintf(r->out, "==== Phase %s: only in %s (%s) ====\n", ph->name,
				ph->in_base ? "baseline" : "target", ph->in_base ? bdir : tdir);
	fputc('\n', r->out);
	alignment_table(r, ph);
}

static void text_phase(dv_report *r, size_t phase)
{
	if (r->opts.quiet) {
		r->phase_header_pending = true;
		return;
	}
	write_phase_header(r, phase);
}

static void metrics_line(dv_report *r, const char *prefix, bool ok, double rel, double max, double mean)
{
	char a[64], b[64], c[64];

	fprintf(r->out, "%s%s rel_diff=%s\tmax_abs_diff=%s\tmean_abs_diff=%s\n", prefix, mark(r, ok),
		dv_fmt_double(a, sizeof(a), rel), dv_fmt_double(b, sizeof(b), max),
		dv_fmt_double(c, sizeof(c), mean));
}

static void stat_line(dv_report *r, const char *name, double b, double t)
{
	char x[64], y[64], d[64];

	fprintf(r->out, "[%s] %s vs %s (diff: %s)\n", name, dv_fmt_fixed(x, sizeof(x), b, 4),
		dv_fmt_fixed(y, sizeof(y), t, 4), dv_fmt_fixed(d, sizeof(d), t - b, 4));
}

static void tensor_lines(dv_report *r, const dv_pair *pair)
{
	const dv_pair_result *res = pair->result;
	const dv_stats *bs = &res->base_stats, *ts = &res->targ_stats;
	char sb[PT_MAX_DIMS * 24], st[PT_MAX_DIMS * 24];
	bool same_dtype = res->base.dtype == res->targ.dtype;
	int i;

	dv_fmt_shape(sb, sizeof(sb), res->base.ndim, dv_result_shape(&res->base));
	dv_fmt_shape(st, sizeof(st), res->targ.ndim, dv_result_shape(&res->targ));
	fprintf(r->out, "Raw [shape] %s vs %s\t[%sdtype] %s vs %s\n", sb, st,
		same_dtype ? "" : r->opts.utf8 ? "\U0001f7e0" : "!",
		dv_dtype_name(res->base.dtype), dv_dtype_name(res->targ.dtype));
	if (res->status == DV_RESULT_COMPARED && res->base.ndim != res->targ.ndim)
		fprintf(r->out, "Unify shape: %s -> %s (to match %s)\n", sb, st, st);
	stat_line(r, "mean", bs->mean, ts->mean);
	stat_line(r, "std", bs->std, ts->std);
	stat_line(r, "min", bs->min, ts->min);
	stat_line(r, "max", bs->max, ts->max);
	if (bs->has_percentiles && ts->has_percentiles)
		for (i = 0; i < DV_NQUANTILES; i++)
			stat_line(r, dv_report_quantile_name[i], bs->p[i], ts->p[i]);
	if (dv_stats_nan(bs) || dv_stats_nan(ts) || dv_stats_inf(bs) || dv_stats_inf(ts))
		fprintf(r->out, "[nan] %" PRId64 " vs %" PRId64 "\t[inf] %" PRId64 " vs %" PRId64 "\n",
			dv_stats_nan(bs), dv_stats_nan(ts), dv_stats_inf(bs), dv_stats_inf(ts));
}

/* "name=FIRST" and, for a side of several files, their count and ranks. */
static void side_line(dv_report *r, const dv_pair *pair, int side)
{
	size_t n;
	const dv_dumpfile *const *f = dv_pair_files(pair, side, &n);

	dv_term_fprintf(r->out, "%s=%s", side ? "target" : "baseline", dv_dumpfile_relpath(f[0]));
	if (n > 1) {
		bool ranks = false, steps = false;

		for (size_t i = 1; i < n; i++) {
			ranks |= f[i]->rank != f[0]->rank;
			steps |= f[i]->step != f[0]->step;
		}
		fprintf(r->out, " (%zu files", n);
		if (ranks || !steps) {
			fputs(", ranks", r->out);
			for (size_t i = 0; i < n && i < 16; i++)
				fprintf(r->out, "%s%" PRId64, i ? "," : " ", f[i]->rank);
			if (n > 16)
				fputs(",...", r->out);
		}
		if (steps) {
			fputs(", steps", r->out);
			for (size_t i = 0; i < n && i < 16; i++)
				fprintf(r->out, "%s%" PRId64, i ? "," : " ", f[i]->step);
			if (n > 16)
				fputs(",...", r->out);
		}
		fputc(')', r->out);
	}
	fputc('\n', r->out);
}

/* A logical tensor's dims and plan, before its numbers. */
static void logical_head(dv_report *r, const dv_pair *pair)
{
	dv_logical_result whole;
	const dv_logical_result *lr = dv_pair_logical(pair, &whole);

	if (!lr)
		return;
	if (lr->dims[0] || lr->dims[1]) {
		fputs("Dims: baseline ", r->out);
		dv_term_fputs(lr->dims[0] ? lr->dims[0] : "(none)", r->out);
		fputs(", target ", r->out);
		dv_term_fputs(lr->dims[1] ? lr->dims[1] : "(none)", r->out);
		fputc('\n', r->out);
	}
	if (lr->plan)
		dv_term_fprintf(r->out, "Plan: %s\n", lr->plan);
}

/* Its replicated checks and where max |t-b| lies, after the numbers. */
static void logical_tail(dv_report *r, const dv_pair *pair)
{
	dv_logical_result whole;
	const dv_logical_result *lr = dv_pair_logical(pair, &whole);
	char a[64], coord[PT_MAX_DIMS * 24];

	if (!lr)
		return;
	for (size_t i = 0; i < lr->nchecks; i++) {
		const dv_replica_check *c = &lr->checks[i];

		fprintf(r->out, "Replicated %s (%s): %s rank %" PRId64 " vs rank %" PRId64 " max_abs_diff=%s%s\n",
			dv_axis_name(c->axis), c->side ? "target" : "baseline", mark(r, c->passed), c->ranks[1],
			c->ranks[0], dv_fmt_double(a, sizeof(a), c->max_abs_diff),
			c->passed ? "" : " (replica mismatch)");
	}
	for (size_t i = 0; i < lr->nseqs; i++) {
		const dv_seq_metrics *q = &lr->seqs[i];
		char b[64], c[64];

		fputs("  sequence ", r->out);
		dv_term_fputs(q->id, r->out);
		fprintf(r->out, " (%zu tokens): %s rel_diff=%s\tmax_abs_diff=%s\tmean_abs_diff=%s\n", q->tokens,
			mark(r, q->passed), dv_fmt_double(a, sizeof(a), q->rel_diff),
			dv_fmt_double(b, sizeof(b), q->max_abs_diff), dv_fmt_double(c, sizeof(c), q->mean_abs_diff));
	}
	if (lr->has_shard && pair->result->status == DV_RESULT_COMPARED && pair->result->max_abs_diff > 0) {
		dv_term_fprintf(r->out, "max_abs_diff lies in target=%s", dv_dumpfile_relpath(lr->shard_file));
		fprintf(r->out, " (rank %" PRId64 ") at coord=%s", lr->shard_rank,
			dv_fmt_shape(coord, sizeof(coord), lr->shard_ndim, lr->shard_coord));
		if (lr->nshard_ranks) {
			fputs(", a partial sum of ranks", r->out);
			for (size_t i = 0; i < lr->nshard_ranks; i++)
				fprintf(r->out, "%s%" PRId64, i ? "," : " ", lr->shard_ranks[i]);
		}
		fputc('\n', r->out);
	}
}

static void text_pair(dv_report *r, const dv_pair *pair, dv_verdict verdict)
{
	const dv_pair_result *res = pair->result;
	FILE *out = r->out;
	char a[64], b[64];
	char coord[PT_MAX_DIMS * 24];

	if (r->opts.quiet && verdict != DV_VERDICT_FAILED && verdict != DV_VERDICT_ERRORED)
		return;
	if (r->phase_header_pending) {
		write_phase_header(r, pair->phase);
		r->phase_header_pending = false;
	}
	if (pair->kind != DV_PAIR_MATCHED) {
		bool base = pair->kind == DV_PAIR_BASELINE_ONLY;
		size_t n;

		dv_pair_files(pair, base ? 0 : 1, &n);
		dv_term_fprintf(out, "Skip: %s=%s", base ? "baseline" : "target", base ? dv_dumpfile_relpath(pair->base) :
				dv_dumpfile_relpath(pair->targ));
		if (n > 1)
			fprintf(out, " and %zu more", n - 1);
		fprintf(out, " (no %s)\n\n", base ? "target" : "baseline");
		return;
	}
	side_line(r, pair, 0);
	side_line(r, pair, 1);
	if (atomic_load(&pair->state) != DV_PAIR_DONE) {
		fprintf(out, "Skip: not computed\n\n");
		return;
	}
	logical_head(r, pair);
	switch (res->status) {
	case DV_RESULT_COMPARED:
		tensor_lines(r, pair);
		metrics_line(r, "", dv_report_metrics_pass(r, pair, verdict), res->rel_diff, res->max_abs_diff,
			     res->mean_abs_diff);
		/* Information only: the pair's verdict is the line above. */
		if (res->has_bf16)
			metrics_line(r, "When downcast to bfloat16: ",
				     dv_rel_diff_passes(res->bf16_rel_diff, r->opts.threshold),
				     res->bf16_rel_diff, res->bf16_max_abs_diff, res->bf16_mean_abs_diff);
		if (res->numel > 0)
			fprintf(out, "max_abs_diff happens at coord=%s with baseline=%s target=%s\n",
				dv_fmt_shape(coord, sizeof(coord), res->max_abs_diff_ndim, dv_result_coord(res)),
				dv_fmt_double(a, sizeof(a), res->max_abs_diff_base),
				dv_fmt_double(b, sizeof(b), res->max_abs_diff_targ));
		logical_tail(r, pair);
		if (dv_comparison_no_rule(r->cmp, (size_t)(pair - r->cmp->pairs)))
			dv_term_fprintf(out, "Error: %s for name '%s'\n", DV_NO_RULE_MESSAGE, pair->name);
		break;
	case DV_RESULT_SKIPPED:
		dv_term_fprintf(out, "Skip: %s\n", res->error);
		break;
	case DV_RESULT_SHAPE_MISMATCH:
		tensor_lines(r, pair);
		dv_term_fprintf(out, "%s %s\n", mark(r, false), res->error[0] ? res->error : "shape mismatch");
		break;
	case DV_RESULT_NON_TENSOR:
		fprintf(out, "Non-tensor values: %s\n", res->equal ? "equal" : "differ");
		break;
	case DV_RESULT_ERROR:
		dv_term_fprintf(out, "%s error: %s\n", mark(r, false), res->error);
		break;
	case DV_RESULT_CANCELLED:
		fprintf(out, "Skip: cancelled\n");
		break;
	default:
		fprintf(out, "Skip: not computed\n");
		break;
	}
	fputc('\n', out);
}

static void text_finish(dv_report *r, const char *diagnosis)
{
	const dv_report_counts *c = &r->counts;
	FILE *out = r->out;

	fprintf(out, "Summary: %zu passed, %zu failed, %zu skipped, %zu errored (total %zu)\n",
		c->passed, c->failed, c->skipped, c->errored,
		c->passed + c->failed + c->skipped + c->errored);
	for (size_t i = 0; i < r->nwarnings; i++)
		dv_term_fprintf(out, "Warning: %s\n", r->warnings[i]);
	if (r->first_divergence < 0) {
		fprintf(out, "First divergence: none\n");
	} else {
		const dv_pair *p = &r->cmp->pairs[r->first_divergence];
		char buf[64];

		fputs("First divergence: phase ", out);
		dv_term_fputs(r->cmp->phases[p->phase].name, out);
		if (p->layer >= 0)
			fprintf(out, ", layer %d", p->layer);
		fputs(", ", out);
		dv_term_fputs(p->name, out);
		if (p->rank >= 0)
			fprintf(out, ", rank %" PRId64, p->rank);
		if (p->step >= 0)
			fprintf(out, ", step %" PRId64, p->step);
		if (dv_report_has_metrics(p))
			fprintf(out, ": rel_diff=%s", dv_fmt_double(buf, sizeof(buf), p->result->rel_diff));
		else if (p->result->error[0])
			dv_term_fprintf(out, ": %s", p->result->error);
		fputc('\n', out);
		dv_term_fprintf(out, "  target=%s\n", dv_dumpfile_relpath(p->targ));
	}
	{
		ptrdiff_t k = dv_first_replica_mismatch(r->cmp);

		if (k >= 0) {
			const dv_pair *p = &r->cmp->pairs[k];
			size_t n = 0;

			for (size_t i = 0; i < r->cmp->npairs; i++)
				n += dv_pair_replica_mismatch(&r->cmp->pairs[i]);
			fputs("First replica mismatch: phase ", out);
			dv_term_fputs(r->cmp->phases[p->phase].name, out);
			if (p->layer >= 0)
				fprintf(out, ", layer %d", p->layer);
			fputs(", ", out);
			dv_term_fputs(p->name, out);
			fprintf(out, " (%zu tensor%s with replicas that differ)\n", n, n == 1 ? "" : "s");
		}
	}
	if (diagnosis && *diagnosis)
		dv_term_fprintf(out, "Diagnosis: %s\n", diagnosis);
}

const struct dv_report_writer dv_report_text_writer = {
	.phase = text_phase,
	.pair = text_pair,
	.finish = text_finish,
};
