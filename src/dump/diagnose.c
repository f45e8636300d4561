/* The diagnosis: what the first divergence points to, following the seed's
 * guidelines (phase meaning; first layer and tensor; MoE vs dense layers;
 * attention vs MLP tensors; integer tensors apart). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/dtype.h"
#include "dumpview/comparison.h"

/* Pair i of the input: its array's, or filled in tmp by its pair_at. */
static const dv_diag_pair *diag_pair(const dv_diag_input *in, size_t i, dv_diag_pair *tmp)
{
	if (in->pairs)
		return &in->pairs[i];
	in->pair_at(in->ctx, i, tmp);
	return tmp;
}
/* tmp lives as long as the block the call is in */
#define PAIR_AT(in, i) diag_pair((in), (i), &(dv_diag_pair){ 0 })

typedef enum tensor_class { CLASS_OTHER, CLASS_ATTENTION, CLASS_MLP } tensor_class;

/* The name without grad__/param__/non_intrusive__ prefixes, lower-cased. */
static void base_name(const char *name, char *buf, size_t size)
{
	static const char *const prefixes[] = {"grad__", "param__", "non_intrusive__"};
	bool again = true;
	size_t i;

	while (again) {
		again = false;
		for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
			size_t n = strlen(prefixes[i]);

			if (!strncmp(name, prefixes[i], n)) {
				name += n;
				again = true;
			}
		}
	}
	for (i = 0; name[i] && i + 1 < size; i++)
		buf[i] = (char)tolower((unsigned char)name[i]);
	buf[i] = '\0';
}

static bool has_any(const char *s, const char *const *words)
{
	for (; *words; words++)
		if (strstr(s, *words))
			return true;
	return false;
}

static tensor_class classify(const char *name)
{
	static const char *const norm[] = {"norm", NULL};
	static const char *const attn[] = {"attn", "attention", "q_proj", "k_proj", "v_proj", "o_proj",
					   "qkv", NULL};
	static const char *const mlp[] = {"mlp", "moe", "expert", "ffn", "router", "gate_proj", "up_proj",
					  "down_proj", "fc1", "fc2", NULL};
	char b[256];

	base_name(name, b, sizeof(b));
	if (has_any(b, norm))
		return CLASS_OTHER;
	if (has_any(b, attn))
		return CLASS_ATTENTION;
	if (has_any(b, mlp))
		return CLASS_MLP;
	return CLASS_OTHER;
}

static bool is_moe_name(const char *name)
{
	static const char *const moe[] = {"moe", "expert", NULL};
	char b[256];

	base_name(name, b, sizeof(b));
	return has_any(b, moe);
}

static bool is_grad(const char *name)
{
	return strstr(name, "grad__") == name;
}

/* Layers that hold a moe_* tensor anywhere in either run. */
static bool *moe_layers(const dv_diag_input *in, int *nlayers)
{
	int max = -1;
	bool *moe;

	for (size_t i = 0; i < in->npairs; i++) {
		int layer = PAIR_AT(in, i)->layer;

		if (layer > max)
			max = layer;
	}
	*nlayers = max + 1;
	moe = calloc((size_t)max + 2, sizeof(*moe));
	if (!moe)
		return NULL;
	for (size_t i = 0; i < in->npairs; i++) {
		const dv_diag_pair *p = PAIR_AT(in, i);

		if (p->layer >= 0 && is_moe_name(p->name))
			moe[p->layer] = true;
	}
	return moe;
}

typedef struct tally {
	size_t failed, total;
} tally;

static void tally_add(tally *t, bool failed)
{
	t->total++;
	t->failed += failed;
}

static const char *severity(double rel)
{
	if (isnan(rel))
		return "NaN";
	if (rel < 1e-6)
		return "rounding level";
	if (rel <= 1e-3)
		return "a minor numerical difference";
	return "a likely bug";
}

/* Layers in [lo..] of one kind that fail, as "1, 3, 5" into f. */
static void list_layers(FILE *f, const bool *failed_layer, const bool *moe, int nlayers, bool want_moe)
{
	bool first = true;

	for (int l = 0; l < nlayers; l++) {
		if (!failed_layer[l] || moe[l] != want_moe)
			continue;
		fprintf(f, "%s%d", first ? "" : ", ", l);
		first = false;
	}
	if (first)
		fputs("none", f);
}

static const dv_diag_phase *phase_named(const dv_diag_input *in, const char *name)
{
	for (size_t i = 0; i < in->nphases; i++)
		if (!strcmp(in->phases[i].name, name))
			return &in->phases[i];
	return NULL;
}

/* True when the phase has pairs, all computed, none failed. */
static bool phase_clean(const dv_diag_input *in, const dv_diag_phase *ph)
{
	size_t matched = 0;

	if (!ph)
		return false;
	for (size_t i = ph->first; i < ph->first + ph->count; i++) {
		const dv_diag_pair *p = PAIR_AT(in, i);

		if (p->kind != DV_PAIR_MATCHED)
			continue;
		matched++;
		if (!p->done || dv_outcome_diverges(p->verdict))
			return false;
	}
	return matched > 0;
}

static void phase_meaning(FILE *f, const dv_diag_input *in, const dv_diag_pair *p)
{
	const char *ph = in->phases[p->phase].name;

	if (!strcmp(ph, "inference")) {
		fputs(" The inference engine already diverges: suspect weight loading or the inference code.", f);
	} else if (!strcmp(ph, "fwd_only")) {
		if (phase_clean(in, phase_named(in, "inference")))
			fputs(" Inference matches but the training forward (fwd_only) diverges: suspect the"
			      " training forward.", f);
		else
			fputs(" The training forward (fwd_only) diverges first (no inference dump to rule it"
			      " out): suspect the training forward.", f);
	} else if (!strcmp(ph, "fwd_bwd")) {
		if (is_grad(p->name))
			fputs(" The forward passes match and only the backward of fwd_bwd diverges: suspect the"
			      " gradients (backward code) or the optimizer.", f);
		else if (phase_clean(in, phase_named(in, "fwd_only")))
			fputs(" fwd_only matches but the forward inside fwd_bwd diverges: suspect what differs"
			      " between the two forwards (recompute, training-mode code).", f);
		else
			fputs(" The training forward inside fwd_bwd diverges (no clean fwd_only to compare):"
			      " suspect the training forward.", f);
	} else {
		fprintf(f, " Phase %s diverges first.", ph);
	}
}

static void describe_first(FILE *f, const dv_diag_input *in, const dv_diag_pair *p)
{
	fprintf(f, "First divergence: phase %s, ", in->phases[p->phase].name);
	if (p->layer >= 0)
		fprintf(f, "layer %d, ", p->layer);
	else
		fputs("outside the layers, ", f);
	fprintf(f, "tensor %s", p->name);
	if (p->rank >= 0 || p->step >= 0) {
		fputs(" (", f);
		if (p->rank >= 0)
			fprintf(f, "rank %lld%s", (long long)p->rank, p->step >= 0 ? ", " : "");
		if (p->step >= 0)
			fprintf(f, "step %lld", (long long)p->step);
		fputc(')', f);
	}
	if (p->status == DV_RESULT_SHAPE_MISMATCH)
		fprintf(f, ": shape mismatch (%s).", p->message);
	else if (p->status == DV_RESULT_ERROR)
		fprintf(f, ": error (%s).", p->message);
	else if (p->integer)
		fprintf(f, ": %lld of %lld integer elements differ.", (long long)(p->numel - p->identical),
			(long long)p->numel);
	else
		fprintf(f, ": rel_diff=%.4g, %s.", p->rel_diff, severity(p->rel_diff));
}

/* How much of the phase after the first divergence fails: a propagating
 * divergence fails everything downstream; scattered failures do not. */
static void after_first(FILE *f, const dv_diag_input *in, size_t first_index)
{
	const dv_diag_pair *first = PAIR_AT(in, first_index);
	const dv_diag_phase *ph = &in->phases[first->phase];
	tally t = {0, 0};

	for (size_t i = first_index + 1; i < ph->first + ph->count; i++) {
		const dv_diag_pair *p = PAIR_AT(in, i);

		if (p->kind != DV_PAIR_MATCHED || !p->done ||
		    p->status == DV_RESULT_NON_TENSOR || p->integer)
			continue;
		tally_add(&t, dv_outcome_diverges(p->verdict));
	}
	if (!t.total)
		return;
	if (t.failed == t.total)
		fprintf(f, " Every tensor after it in %s fails too (%zu): the divergence propagates from there.",
			ph->name, t.total);
	else
		fprintf(f, " After it in %s, %zu of %zu tensors fail.", ph->name, t.failed, t.total);
}

/* In the first diverging layer of the phase: which tensor classes pass and fail. */
static void first_layer_classes(FILE *f, const dv_diag_input *in, const dv_diag_pair *first)
{
	const dv_diag_phase *ph = &in->phases[first->phase];
	tally cls[3] = {{0, 0}, {0, 0}, {0, 0}};

	if (first->layer < 0)
		return;
	for (size_t i = ph->first; i < ph->first + ph->count; i++) {
		const dv_diag_pair *p = PAIR_AT(in, i);

		if (p->kind != DV_PAIR_MATCHED || p->layer != first->layer || p->step != first->step ||
		    !p->done || p->status == DV_RESULT_NON_TENSOR ||
		    p->integer || is_grad(p->name) != is_grad(first->name))
			continue;
		tally_add(&cls[classify(p->name)], dv_outcome_diverges(p->verdict));
	}
	if (!cls[CLASS_ATTENTION].total && !cls[CLASS_MLP].total)
		return;
	fprintf(f, " In layer %d, ", first->layer);
	if (cls[CLASS_ATTENTION].total)
		fprintf(f, "attention tensors: %zu of %zu fail%s", cls[CLASS_ATTENTION].failed,
			cls[CLASS_ATTENTION].total, cls[CLASS_MLP].total ? "; " : "");
	if (cls[CLASS_MLP].total)
		fprintf(f, "MLP tensors: %zu of %zu fail", cls[CLASS_MLP].failed, cls[CLASS_MLP].total);
	if (cls[CLASS_ATTENTION].total && !cls[CLASS_ATTENTION].failed && cls[CLASS_MLP].failed)
		fputs(" (attention is clean: the MLP is where it starts).", f);
	else if (cls[CLASS_MLP].total && !cls[CLASS_MLP].failed && cls[CLASS_ATTENTION].failed)
		fputs(" (the MLP is clean: attention is where it starts).", f);
	else
		fputs(".", f);
}

/* With several ranks, failures per rank: a parallelism bug often hits some ranks only. */
#define MAX_RANKS 64
static void by_rank(FILE *f, const dv_diag_input *in, const dv_diag_pair *first)
{
	const dv_diag_phase *ph = &in->phases[first->phase];
	tally t[MAX_RANKS];
	int nranks = 0, failing = 0, clean = 0;

	memset(t, 0, sizeof(t));
	for (size_t i = ph->first; i < ph->first + ph->count; i++) {
		const dv_diag_pair *p = PAIR_AT(in, i);

		if (p->kind != DV_PAIR_MATCHED || !p->done ||
		    p->status == DV_RESULT_NON_TENSOR || p->rank < 0 || p->rank >= MAX_RANKS)
			continue;
		tally_add(&t[p->rank], dv_outcome_diverges(p->verdict));
	}
	for (int r = 0; r < MAX_RANKS; r++) {
		if (!t[r].total)
			continue;
		nranks++;
		if (t[r].failed)
			failing++;
		else
			clean++;
	}
	if (nranks < 2)
		return;
	fputs(" By rank:", f);
	for (int r = 0, k = 0; r < MAX_RANKS; r++)
		if (t[r].total)
			fprintf(f, "%s rank %d %zu of %zu", k++ ? "," : "", r, t[r].failed, t[r].total);
	fputs(failing && clean ? " fail (only some ranks diverge: suspect parallelism or sharding)." : " fail.", f);
}

/* Over the diverging phase: MoE vs dense layers, attention vs MLP, integer tensors apart. */
static void concentration(FILE *f, const dv_diag_input *in, const dv_diag_pair *first)
{
	const dv_diag_phase *ph = &in->phases[first->phase];
	tally kind[2] = {{0, 0}, {0, 0}}, cls[3] = {{0, 0}, {0, 0}, {0, 0}};
	int nlayers = 0, nint = 0;
	bool *moe = moe_layers(in, &nlayers), *failed_layer;
	size_t int_failed = 0;

	if (!moe)
		return;
	failed_layer = calloc((size_t)nlayers + 1, sizeof(*failed_layer));
	if (!failed_layer) {
		free(moe);
		return;
	}
	for (size_t i = ph->first; i < ph->first + ph->count; i++) {
		const dv_diag_pair *p = PAIR_AT(in, i);
		bool failed;

		if (p->kind != DV_PAIR_MATCHED || !p->done ||
		    p->status == DV_RESULT_NON_TENSOR || p->integer)
			continue;
		failed = dv_outcome_diverges(p->verdict);
		if (p->layer >= 0) {
			tally_add(&kind[moe[p->layer]], failed);
			if (failed)
				failed_layer[p->layer] = true;
		}
		tally_add(&cls[classify(p->name)], failed);
	}
	if (kind[0].total && kind[1].total) {
		double fm = (double)kind[1].failed / (double)kind[1].total;
		double fd = (double)kind[0].failed / (double)kind[0].total;

		fprintf(f, " In %s, MoE layers: %zu of %zu tensors fail (failing layers: ", in->phases[first->phase].name,
			kind[1].failed, kind[1].total);
		list_layers(f, failed_layer, moe, nlayers, true);
		fprintf(f, "); dense layers: %zu of %zu (failing layers: ", kind[0].failed, kind[0].total);
		list_layers(f, failed_layer, moe, nlayers, false);
		fputs(")", f);
		if (first->layer >= 0)
			fprintf(f, "; the first diverging layer %d is %s", first->layer,
				moe[first->layer] ? "an MoE layer" : "dense");
		if (fm > 0 && fd == 0)
			fputs("; divergence follows the MoE layers.", f);
		else if (fd > 0 && fm == 0)
			fputs("; divergence follows the dense layers.", f);
		else if (fm > 2 * fd)
			fputs("; failures concentrate in the MoE layers.", f);
		else if (fd > 2 * fm)
			fputs("; failures concentrate in the dense layers.", f);
		else
			fputs("; MoE and dense layers fail alike.", f);
	}
	if (cls[CLASS_ATTENTION].total && cls[CLASS_MLP].total)
		fprintf(f, " Attention tensors: %zu of %zu fail; MLP tensors: %zu of %zu fail.",
			cls[CLASS_ATTENTION].failed, cls[CLASS_ATTENTION].total, cls[CLASS_MLP].failed,
			cls[CLASS_MLP].total);

	by_rank(f, in, first);

	/* Integer tensors (top-k ids...): a failure means flipped choices. */
	for (size_t i = ph->first; i < ph->first + ph->count; i++) {
		const dv_diag_pair *p = PAIR_AT(in, i);

		if (p->kind == DV_PAIR_MATCHED && p->done && p->integer &&
		    dv_outcome_diverges(p->verdict))
			int_failed++;
	}
	if (int_failed) {
		fprintf(f, " Integer tensors, counted apart (a failure there is flipped choices, not numeric"
			   " error): %zu fail:", int_failed);
		for (size_t i = ph->first; i < ph->first + ph->count && nint < 6; i++) {
			const dv_diag_pair *p = PAIR_AT(in, i);

			if (p->kind != DV_PAIR_MATCHED || !p->done ||
			    !p->integer || !dv_outcome_diverges(p->verdict))
				continue;
			fprintf(f, "%s %s", nint ? ";" : "", p->name);
			if (p->layer >= 0)
				fprintf(f, " (layer %d)", p->layer);
			fprintf(f, " %lld of %lld differ", (long long)(p->numel - p->identical), (long long)p->numel);
			nint++;
		}
		fputs(int_failed > (size_t)nint ? "; ..." : ".", f);
	}
	free(failed_layer);
	free(moe);
}

/* Failure counts of the phases after the diverging one. */
static void later_phases(FILE *f, const dv_diag_input *in, const dv_diag_pair *first)
{
	bool any = false;

	for (size_t k = first->phase + 1; k < in->nphases; k++) {
		const dv_diag_phase *ph = &in->phases[k];
		tally t = {0, 0};

		for (size_t i = ph->first; i < ph->first + ph->count; i++) {
			const dv_diag_pair *p = PAIR_AT(in, i);

			if (p->kind == DV_PAIR_MATCHED && p->done &&
			    p->status != DV_RESULT_NON_TENSOR)
				tally_add(&t, dv_outcome_diverges(p->verdict));
		}
		if (!t.total)
			continue;
		fprintf(f, "%s %s %zu of %zu", any ? "," : " Later phases fail too, downstream of it:", ph->name,
			t.failed, t.total);
		any = true;
	}
	if (any)
		fputs(".", f);
}

static void unmatched(FILE *f, const dv_diag_input *in)
{
	size_t nb = 0, nt = 0;

	for (size_t i = 0; i < in->npairs; i++) {
		dv_pair_kind kind = PAIR_AT(in, i)->kind;

		nb += kind == DV_PAIR_BASELINE_ONLY;
		nt += kind == DV_PAIR_TARGET_ONLY;
	}
	if (nb || nt)
		fprintf(f, " Unmatched files: %zu in the baseline only, %zu in the target only.", nb, nt);
	for (size_t k = 0; k < in->nphases; k++) {
		if (in->phases[k].in_base != in->phases[k].in_targ)
			fprintf(f, " Phase %s is in the %s only.", in->phases[k].name,
				in->phases[k].in_base ? "baseline" : "target");
		if (in->phases[k].folders_ignored)
			fprintf(f, " Phase %s: the two sides' folders differ, so its files were paired by their"
				" names, not their folders.", in->phases[k].name);
	}
	if (in->problems)
		fprintf(f, " Folders not read: %zu (see the warnings).", in->problems);
}

/* The first pair with a replica mismatch, or -1. */
static ptrdiff_t first_replica_mismatch(const dv_diag_input *in)
{
	for (size_t i = 0; i < in->npairs; i++)
		if (PAIR_AT(in, i)->replica_mismatch)
			return (ptrdiff_t)i;
	return -1;
}

/* As dv_first_divergence: the metrics decide, exact once every pair
 * before it has a final verdict. */
static ptrdiff_t first_divergence(const dv_diag_input *in, bool *known)
{
	*known = true;
	for (size_t i = 0; i < in->npairs; i++) {
		dv_outcome v = PAIR_AT(in, i)->metrics;

		if (dv_outcome_diverges(v))
			return (ptrdiff_t)i;
		if (v == DV_OUTCOME_PENDING || v == DV_OUTCOME_CANCELLED || v == DV_OUTCOME_NONE)
			*known = false;
	}
	return -1;
}

/* Replicated copies that differ: the ranks that should hold one value do
 * not, whatever the metrics say (a broadcast or all-reduce bug). */
static void replica_note(FILE *f, const dv_diag_input *in)
{
	const dv_diag_pair *p = PAIR_AT(in, first_replica_mismatch(in));
	size_t n = 0;

	for (size_t i = 0; i < in->npairs; i++)
		n += PAIR_AT(in, i)->replica_mismatch;
	fprintf(f, "Replica mismatch: %zu tensor%s whose replicated copies differ across ranks, the first ", n,
		n == 1 ? "" : "s");
	fputs(p->name, f);
	if (p->layer >= 0)
		fprintf(f, " (layer %d)", p->layer);
	fputs(" in phase ", f);
	fputs(in->phases[p->phase].name, f);
	fputs(": ranks that should hold one value do not (suspect a missing broadcast or all-reduce).", f);
}

char *dv_diagnose_input(const dv_diag_input *in)
{
	char *text = NULL;
	size_t len = 0, matched = 0, done = 0, passed = 0;
	FILE *f = open_memstream(&text, &len);
	bool known;
	ptrdiff_t first;

	if (!f)
		return NULL;
	for (size_t i = 0; i < in->npairs; i++) {
		const dv_diag_pair *p = PAIR_AT(in, i);

		if (p->kind != DV_PAIR_MATCHED)
			continue;
		matched++;
		done += p->done;
		/* as the summary counts: non-tensor values are skipped, not passed */
		passed += p->verdict == DV_OUTCOME_PASS;
	}
	first = first_divergence(in, &known);
	if (!matched) {
		fputs("No pairs to compare.", f);
	} else if (first < 0 && first_replica_mismatch(in) >= 0) {
		replica_note(f, in);
	} else if (first < 0) {
		if (known && passed == in->npairs)
			fprintf(f, "No divergence: all %zu compared pairs pass.", matched);
		else if (known)
			fprintf(f, "No divergence: %zu passed, %zu skipped.", passed, in->npairs - passed);
		else
			fprintf(f, "No divergence so far (%zu of %zu pairs computed).", done, matched);
	} else {
		const dv_diag_pair *p = PAIR_AT(in, first);

		describe_first(f, in, p);
		if (!known)
			fputs(" (Not final: earlier pairs are still being computed.)", f);
		phase_meaning(f, in, p);
		after_first(f, in, (size_t)first);
		first_layer_classes(f, in, p);
		concentration(f, in, p);
		later_phases(f, in, p);
		if (first_replica_mismatch(in) >= 0) {
			fputc(' ', f);
			replica_note(f, in);
		}
	}
	unmatched(f, in);
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}

/* What dv_diag_input_build copies of one pair. */
static void fill_pair(const void *ctx, size_t i, dv_diag_pair *d)
{
	const dv_comparison *cmp = ctx;
	const dv_pair *p = &cmp->pairs[i];
	const dv_pair_result *r = p->result;

	/* d is zeroed by the caller (PAIR_AT's, dv_diag_input_build's calloc) */
	d->phase = p->phase;
	d->kind = p->kind;
	d->name = p->name;
	d->layer = p->layer;
	d->step = p->step;
	d->rank = p->rank;
	d->done = atomic_load(&p->state) == DV_PAIR_DONE;
	d->metrics = dv_comparison_metrics_verdict(cmp, i);
	d->replica_mismatch = dv_pair_replica_mismatch(p);
	/* dv_comparison_verdict without judging twice: a failed replicated
	 * check fails what the metrics pass */
	d->verdict = d->metrics == DV_OUTCOME_PASS && d->replica_mismatch ? DV_OUTCOME_FAIL : d->metrics;
	if (p->kind != DV_PAIR_MATCHED || !d->done)
		return;
	d->message = dv_comparison_message(cmp, i);
	if (cmp->retired && cmp->retired[i].retired) {
		/* no numbers kept: the diagnosis quotes none of a retired pair */
		d->status = DV_RESULT_COMPARED;
		d->rel_diff = NAN;
		return;
	}
	d->status = r->status;
	if (r->status == DV_RESULT_COMPARED) {
		d->integer = dv_dtype_is_integer(r->base.dtype) && dv_dtype_is_integer(r->targ.dtype);
		d->rel_diff = r->rel_diff;
		d->numel = r->numel;
		d->identical = r->identical;
	}
}

static void diag_input_init(const dv_comparison *cmp, dv_diag_input *in, dv_diag_phase *phases)
{
	for (size_t k = 0; k < cmp->nphases; k++) {
		const dv_phase_pairs *ph = &cmp->phases[k];

		phases[k] = (dv_diag_phase){ .name = ph->name, .in_base = ph->in_base, .in_targ = ph->in_targ,
					     .folders_ignored = ph->folders_ignored, .first = ph->first,
					     .count = ph->count };
	}
	memset(in, 0, sizeof(*in));
	in->phases = phases;
	in->nphases = cmp->nphases;
	in->npairs = cmp->npairs;
	in->problems = (cmp->base ? cmp->base->nproblems : 0) + (cmp->targ ? cmp->targ->nproblems : 0);
}

int dv_diag_input_build(const dv_comparison *cmp, dv_diag_input *in)
{
	dv_diag_pair *pairs = calloc(cmp->npairs ? cmp->npairs : 1, sizeof(*pairs));
	dv_diag_phase *phases = calloc(cmp->nphases ? cmp->nphases : 1, sizeof(*phases));

	memset(in, 0, sizeof(*in));
	if (!pairs || !phases) {
		free(pairs);
		free(phases);
		return -1;
	}
	diag_input_init(cmp, in, phases);
	for (size_t i = 0; i < cmp->npairs; i++)
		fill_pair(cmp, i, &pairs[i]);
	in->pairs = pairs;
	return 0;
}

void dv_diag_input_free(dv_diag_input *in)
{
	free((void *)in->pairs);
	free((void *)in->phases);
	memset(in, 0, sizeof(*in));
}

char *dv_diagnose(const dv_comparison *cmp)
{
	dv_diag_phase *phases = calloc(cmp->nphases ? cmp->nphases : 1, sizeof(*phases));
	dv_diag_input in;
	char *text;

	if (!phases)
		return NULL;
	/* each pair read when needed: a copy of every pair costs 112 bytes a
	 * pair at the peak of a large comparison */
	diag_input_init(cmp, &in, phases);
	in.pair_at = fill_pair;
	in.ctx = cmp;
	text = dv_diagnose_input(&in);
	free(phases);
	return text;
}
