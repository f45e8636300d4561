/* The report driver: phase tracking, summary counts, first divergence; the
 * writers do the formatting. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The comparison's verdict, as the summary counts it. */
static dv_verdict report_verdict(const dv_comparison *cmp, size_t index)
{
	switch (dv_comparison_verdict(cmp, index, NULL)) {
	case DV_OUTCOME_PASS: return DV_VERDICT_PASSED;
	case DV_OUTCOME_FAIL: return DV_VERDICT_FAILED;
	case DV_OUTCOME_ERROR: return DV_VERDICT_ERRORED;
	default: return DV_VERDICT_SKIPPED;
	}
}

bool dv_report_metrics_pass(const dv_report *r, const dv_pair *pair, dv_verdict verdict)
{
	if (verdict == DV_VERDICT_PASSED)
		return true;
	/* failed by a replicated check alone: the metrics passed */
	return verdict == DV_VERDICT_FAILED && dv_pair_replica_mismatch(pair) &&
	       dv_comparison_metrics_verdict(r->cmp, (size_t)(pair - r->cmp->pairs)) == DV_OUTCOME_PASS;
}

bool dv_report_has_metrics(const dv_pair *pair)
{
	return pair->kind == DV_PAIR_MATCHED && atomic_load(&pair->state) == DV_PAIR_DONE &&
	       pair->result->status == DV_RESULT_COMPARED;
}

bool dv_report_has_stats(const dv_pair *pair)
{
	return pair->kind == DV_PAIR_MATCHED && atomic_load(&pair->state) == DV_PAIR_DONE &&
	       (pair->result->status == DV_RESULT_COMPARED ||
		pair->result->status == DV_RESULT_SHAPE_MISMATCH);
}

const char *dv_report_status_name(const dv_pair *pair)
{
	if (atomic_load(&pair->state) != DV_PAIR_DONE)
		return "pending";
	switch (pair->result->status) {
	case DV_RESULT_COMPARED: return "compared";
	case DV_RESULT_SHAPE_MISMATCH: return "shape_mismatch";
	case DV_RESULT_NON_TENSOR: return "non_tensor";
	case DV_RESULT_ERROR: return "error";
	case DV_RESULT_CANCELLED: return "cancelled";
	case DV_RESULT_SKIPPED: return "skipped";
	default: return "none";
	}
}

const char *dv_report_phase_dir(const dv_comparison *cmp, size_t phase, bool baseline)
{
	const dv_run *run = baseline ? cmp->base : cmp->targ;
	const char *name = cmp->phases[phase].name;
	size_t i;

	if (!run || !(baseline ? cmp->phases[phase].in_base : cmp->phases[phase].in_targ))
		return NULL;
	/* Two bare folders pair whatever their phases are called. */
	if (cmp->base && cmp->targ && cmp->base->bare && cmp->targ->bare && run->nphases == 1)
		return run->phases[0].dir;
	for (i = 0; i < run->nphases; i++)
		if (!strcmp(run->phases[i].name, name))
			return run->phases[i].dir;
	return NULL;
}

dv_report *dv_report_new(FILE *out, const dv_comparison *cmp, const dv_report_opts *opts)
{
	dv_report *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->out = out;
	r->cmp = cmp;
	r->opts = *opts;
	r->first_divergence = -1;
	switch (opts->format) {
	case DV_REPORT_JSONL: r->writer = &dv_report_jsonl_writer; break;
	case DV_REPORT_CSV: r->writer = &dv_report_csv_writer; break;
	case DV_REPORT_SGLANG_JSONL: r->writer = &dv_report_sglang_writer; break;
	case DV_REPORT_TEXT:
	default: r->writer = &dv_report_text_writer; break;
	}
	return r;
}

static void begin_phases_through(dv_report *r, size_t phase)
{
	if (!r->begun) {
		r->begun = true;
		if (r->writer->begin)
			r->writer->begin(r);
	}
	while (r->next_phase <= phase && r->next_phase < r->cmp->nphases)
		r->writer->phase(r, r->next_phase++);
}

/* Not flushed here: the caller flushes when it waits for pairs (one write a
 * batch, not a pair); dv_report_finish flushes. */
void dv_report_pair(dv_report *r, size_t index)
{
	const dv_pair *pair = &r->cmp->pairs[index];
	dv_verdict v = report_verdict(r->cmp, index);

	r->next_pair = index + 1;
	begin_phases_through(r, pair->phase);
	switch (v) {
	case DV_VERDICT_PASSED: r->counts.passed++; break;
	case DV_VERDICT_FAILED: r->counts.failed++; break;
	case DV_VERDICT_SKIPPED: r->counts.skipped++; break;
	case DV_VERDICT_ERRORED: r->counts.errored++; break;
	}
	r->writer->pair(r, pair, v);
}

void dv_report_finish(dv_report *r, const char *diagnosis)
{
	begin_phases_through(r, r->cmp->nphases ? r->cmp->nphases - 1 : 0);
	/* A folder that could not be read is data not compared: it counts as errored. */
	r->counts.errored += r->cmp->base->nproblems + r->cmp->targ->nproblems;
	dv_warnings_free(r->warnings, r->nwarnings);
	r->nwarnings = dv_comparison_warnings(r->cmp, &r->warnings);
	r->first_divergence = dv_first_divergence(r->cmp, NULL);
	r->writer->finish(r, diagnosis);
	fflush(r->out);
}

const dv_report_counts *dv_report_get_counts(const dv_report *r)
{
	return &r->counts;
}

ptrdiff_t dv_report_first_divergence(const dv_report *r)
{
	return r->first_divergence;
}

size_t dv_report_warnings(const dv_report *r, char *const **warnings)
{
	if (warnings)
		*warnings = r->warnings;
	return r->nwarnings;
}

void dv_report_free(dv_report *r)
{
	if (!r)
		return;
	dv_warnings_free(r->warnings, r->nwarnings);
	free(r);
}
