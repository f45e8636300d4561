/* CSV: a header row, then one row per pair (RFC 4180 quoting). The row writer
 * is public so the TUI can export the table it shows. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "dumpview/logical.h"

static const char *const stat_cols[] = { "mean", "std", "min", "max" };

void dv_csv_write_header(FILE *out)
{
	static const char *const sides[] = { "baseline", "target" };
	size_t s, i;

	fputs("phase,layer,name,rank,step,baseline,target,baseline_dtype,target_dtype,"
	      "baseline_shape,target_shape,rel_diff,max_abs_diff,mean_abs_diff,passed,error", out);
	for (s = 0; s < 2; s++) {
		for (i = 0; i < sizeof(stat_cols) / sizeof(stat_cols[0]); i++)
			fprintf(out, ",%s_%s", sides[s], stat_cols[i]);
		for (i = 0; i < DV_NQUANTILES; i++)
			fprintf(out, ",%s_%s", sides[s], dv_report_quantile_name[i]);
		fprintf(out, ",%s_nan,%s_inf", sides[s], sides[s]);
	}
	/* logical tensors (cross-topology): appended, so older columns keep their places */
	fputs(",baseline_files,target_files,plan,replica_mismatch,token_aligner,failed_sequences", out);
	fputc('\n', out);
}

static void num(FILE *out, bool have, double v)
{
	char buf[64];

	fputc(',', out);
	if (have)
		fputs(dv_fmt_double(buf, sizeof(buf), v), out);
}

static void int_field(FILE *out, int64_t v)
{
	fputc(',', out);
	if (v >= 0)
		fprintf(out, "%" PRId64, v);
}

static void str_field(FILE *out, const char *s)
{
	fputc(',', out);
	dv_csv_write_field(out, s);
}

static void stats_fields(FILE *out, bool have, const dv_stats *s)
{
	int i;

	num(out, have, s->mean);
	num(out, have, s->std);
	num(out, have, s->min);
	num(out, have, s->max);
	for (i = 0; i < DV_NQUANTILES; i++)
		num(out, have && s->has_percentiles, s->p[i]);
	int_field(out, have ? dv_stats_nan(s) : -1);
	int_field(out, have ? dv_stats_inf(s) : -1);
}

static void desc_fields(FILE *out, const dv_pair *pair, bool done)
{
	const dv_result_desc *d[2] = { &pair->result->base, &pair->result->targ };
	char buf[PT_MAX_DIMS * 24];
	int s;

	for (s = 0; s < 2; s++)
		str_field(out, done && d[s]->dtype != DV_DTYPE_INVALID ?
			  dv_dtype_name(d[s]->dtype) : NULL);
	for (s = 0; s < 2; s++)
		str_field(out, done && d[s]->dtype != DV_DTYPE_INVALID ?
			  dv_fmt_shape(buf, sizeof(buf), d[s]->ndim, dv_result_shape(d[s])) : NULL);
}

void dv_csv_write_pair(FILE *out, const dv_comparison *cmp, const dv_pair *pair, double threshold)
{
	const dv_pair_result *res = pair->result;
	bool done = pair->kind == DV_PAIR_MATCHED && atomic_load(&pair->state) == DV_PAIR_DONE;
	bool m = dv_report_has_metrics(pair), st = dv_report_has_stats(pair);
	const char *passed = NULL, *error = NULL;

	dv_csv_write_field(out, cmp->phases[pair->phase].name);
	int_field(out, pair->layer);
	str_field(out, pair->name);
	int_field(out, pair->rank);
	int_field(out, pair->step);
	str_field(out, pair->base ? dv_dumpfile_relpath(pair->base) : NULL);
	str_field(out, pair->targ ? dv_dumpfile_relpath(pair->targ) : NULL);
	desc_fields(out, pair, done);
	num(out, m, res->rel_diff);
	num(out, m, res->max_abs_diff);
	num(out, m, res->mean_abs_diff);
	if (pair->kind == DV_PAIR_BASELINE_ONLY) {
		error = "no partner in target";
	} else if (pair->kind == DV_PAIR_TARGET_ONLY) {
		error = "no partner in baseline";
	} else if (!done) {
		error = "not computed";
	} else {
		switch (res->status) {
		case DV_RESULT_COMPARED: {
			size_t k = (size_t)(pair - cmp->pairs);
			dv_outcome v = dv_comparison_verdict_at(cmp, k, threshold, NULL);

			/* the metrics' verdict: a replica mismatch has its own column */
			if (v == DV_OUTCOME_FAIL && dv_pair_replica_mismatch(pair) &&
			    dv_comparison_metrics_verdict(cmp, k) == DV_OUTCOME_PASS)
				v = DV_OUTCOME_PASS;
			passed = v == DV_OUTCOME_PASS ? "true" : "false";
			break;
		}
		case DV_RESULT_SKIPPED:
			error = res->error;
			break;
		case DV_RESULT_NON_TENSOR:
			passed = res->equal ? "true" : "false";
			error = res->equal ? "non-tensor values equal" : "non-tensor values differ";
			break;
		case DV_RESULT_SHAPE_MISMATCH:
			passed = "false";
			error = res->error[0] ? res->error : "shape mismatch";
			break;
		case DV_RESULT_ERROR:
			passed = "false";
			error = res->error;
			break;
		case DV_RESULT_CANCELLED:
			error = "cancelled";
			break;
		default:
			error = "not computed";
			break;
		}
	}
	str_field(out, passed);
	str_field(out, error);
	stats_fields(out, st, &res->base_stats);
	stats_fields(out, st, &res->targ_stats);
	{
		size_t nb, nt;

		dv_pair_files(pair, 0, &nb);
		dv_pair_files(pair, 1, &nt);
		fprintf(out, ",%zu,%zu", nb, nt);
		str_field(out, done && pair->logical ? pair->logical->plan : NULL);
		str_field(out, done && pair->result->status == DV_RESULT_COMPARED
				       ? (dv_pair_replica_mismatch(pair) ? "true" : "false") : NULL);
		str_field(out, pair->lctx ? dv_token_aligner_name(pair->lctx->token_aligner) : "none");
		/* smart: the sequences whose own metrics fail, ';'-separated */
		fputc(',', out);
		if (done && pair->logical && pair->lctx && pair->lctx->ta) {
			char *ids = NULL;
			size_t len = 0;
			FILE *m = open_memstream(&ids, &len);

			if (m) {
				for (size_t i = 0, k = 0; i < pair->logical->nseqs; i++)
					if (!pair->logical->seqs[i].passed)
						fprintf(m, "%s%s", k++ ? ";" : "", pair->logical->seqs[i].id);
				fclose(m);
				dv_csv_write_field(out, ids);
				free(ids);
			}
		}
	}
	fputc('\n', out);
}

static void csv_phase(dv_report *r, size_t phase)
{
	(void)phase;
	if (!r->header_written) {
		dv_csv_write_header(r->out);
		r->header_written = true;
	}
}

static void csv_pair(dv_report *r, const dv_pair *pair, dv_verdict verdict)
{
	(void)verdict;
	dv_csv_write_pair(r->out, r->cmp, pair, r->opts.threshold);
}

static void csv_finish(dv_report *r, const char *diagnosis)
{
	(void)diagnosis;
	if (!r->header_written) {
		dv_csv_write_header(r->out);
		r->header_written = true;
	}
}

const struct dv_report_writer dv_report_csv_writer = {
	.phase = csv_phase,
	.pair = csv_pair,
	.finish = csv_finish,
};
