/* The comparison object: resolving runs, phase selection, the pass rule,
 * the verdict of a pair, the first divergence and the scan it owns. The
 * pairing itself is in pairing.c. */
#include "config.h"

#ifdef HAVE_MALLOC_H
#include <malloc.h>
#endif
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/comparison.h"
#include "dumpview/logical.h"
#include "dumpview/name_map.h"
#include "internal.h"

const char *dv_base_dir(void)
{
	const char *base = getenv("DUMPER_BASE_DIR");

	return base && *base ? base : DV_DEFAULT_BASE_DIR;
}

dv_run *dv_comparison_open_run(const char *spec, const dv_run_opts *opts, dv_error *err)
{
	dv_run_opts o = {0};

	if (opts)
		o = *opts;
	if (!o.base_dir)
		o.base_dir = dv_base_dir();
	return dv_run_open(spec, &o, err);
}

/* Opening a run (listing its folders, parsing thousands of file names) is
 * serial work before the first pair: the baseline may be listed on a second
 * thread while this one lists the target. */
typedef struct open_job {
	const char *spec;
	const dv_run_opts *opts;
	dv_run *run;
	dv_error err;
} open_job;

static void *open_job_run(void *arg)
{
	open_job *j = arg;

	j->run = dv_comparison_open_run(j->spec, j->opts, &j->err);
	return NULL;
}

/* Listing and pairing leave freed temporaries (folder listings, pairing
 * keys) as touched pages between what they keep: at 100 k files and more
 * that is tens of MB of resident memory never used again. */
static void give_back_freed(void)
{
#ifdef HAVE_MALLOC_TRIM
	malloc_trim(0);
#endif
}

static bool run_has_phase(const dv_run *run, const char *name)
{
	for (size_t i = 0; i < run->nphases; i++)
		if (!strcmp(run->phases[i].name, name))
			return true;
	return false;
}

static int set_selection(dv_comparison *cmp, const char *const *names, size_t n, dv_error *err)
{
	if (!n)
		return 0;
	if (!(cmp->selected = calloc(n, sizeof(*cmp->selected))))
		return dv_error_set(err, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (!(cmp->selected[i] = strdup(names[i])))
			return dv_error_set(err, "out of memory");
		cmp->nselected++;
	}
	return 0;
}

dv_comparison *dv_comparison_open(const dv_comparison_opts *opts, dv_open_failure *why, dv_error *err)
{
	dv_run_opts ro = {
		.base_dir = dv_base_dir(),
		.layer_regex = opts->layer_regex,
		.listed = opts->listed,
		.follow_symlinks = opts->follow_symlinks,
	};
	open_job bj = { .spec = opts->baseline, .opts = &ro }, tj = { .spec = opts->target, .opts = &ro };
	dv_comparison *cmp = NULL;
	pthread_t th;
	bool threaded = false;
	dv_open_failure fail = DV_OPEN_RUN;

	dv_error_clear(&bj.err);
	dv_error_clear(&tj.err);
	if (opts->parallel_open)
		threaded = pthread_create(&th, NULL, open_job_run, &bj) == 0;
	if (!threaded) {
		open_job_run(&bj);
		if (bj.run && opts->baseline_listed)
			opts->baseline_listed(opts->ctx);
	}
	/* One at a time, the target is not listed when the baseline fails. */
	if (threaded || bj.run)
		open_job_run(&tj);
	if (threaded)
		pthread_join(th, NULL);
	if (!bj.run || !tj.run) {
		*err = !bj.run ? bj.err : tj.err;
		goto fail;
	}
	give_back_freed();
	fail = DV_OPEN_PHASE;
	for (size_t i = 0; i < opts->nphases; i++) {
		if (!run_has_phase(bj.run, opts->phases[i]) && !run_has_phase(tj.run, opts->phases[i])) {
			dv_error_set(err, "--phase %s: no such phase in %s or %s", opts->phases[i], bj.run->root,
				     tj.run->root);
			goto fail;
		}
	}
	fail = DV_OPEN_PAIRING;
	/* Target names are renamed before anything keys on them: pairing,
	 * logical tensors, layers, rules all see the mapped names. */
	if (opts->name_map && dv_name_map_run(opts->name_map, tj.run, opts->layer_regex, NULL, err) < 0)
		goto fail;
	if (!(cmp = calloc(1, sizeof(*cmp)))) {
		dv_error_set(err, "out of memory");
		goto fail;
	}
	cmp->base = bj.run;
	cmp->targ = tj.run;
	cmp->grouping = opts->grouping;
	dv_comparison_set_threshold(cmp, opts->threshold);
	if (set_selection(cmp, opts->phases, opts->nphases, err) || dv_comparison_pair(cmp, opts->filter, err))
		goto fail;
	give_back_freed();
	if (why)
		*why = DV_OPEN_OK;
	return cmp;
fail:
	if (cmp) {
		dv_comparison_free(cmp);   /* frees the runs too */
	} else {
		dv_run_free(bj.run);
		dv_run_free(tj.run);
	}
	if (why)
		*why = fail;
	return NULL;
}

bool dv_comparison_phase_selected(const dv_comparison *cmp, const char *phase_name)
{
	if (!cmp->nselected)
		return true;
	for (size_t i = 0; i < cmp->nselected; i++)
		if (!strcmp(cmp->selected[i], phase_name))
			return true;
	return false;
}

void dv_comparison_set_pass_rule(dv_comparison *cmp, dv_pass_fn fn, void *ctx)
{
	cmp->pass_fn = fn;
	cmp->pass_ctx = ctx;
	cmp->rule_epoch++;
}

void dv_comparison_set_threshold(dv_comparison *cmp, double threshold)
{
	cmp->threshold = threshold;
	cmp->has_threshold = true;
	cmp->rule_epoch++;
}

double dv_comparison_threshold(const dv_comparison *cmp)
{
	return cmp->has_threshold ? cmp->threshold : NAN;
}

int dv_comparison_set_rules(dv_comparison *cmp, const dv_rules *rules, dv_error *err)
{
	uint32_t *of = NULL;

	if (rules) {
		size_t n = dv_rules_count(rules);

		if (n >= DV_NO_RULE)
			return dv_error_set(err, "too many rules");
		if (!(of = malloc((cmp->npairs ? cmp->npairs : 1) * sizeof(*of))))
			return dv_error_set(err, "out of memory");
		for (size_t i = 0; i < cmp->npairs; i++) {
			const dv_rule *rule = cmp->pairs[i].kind == DV_PAIR_MATCHED ?
					      dv_rules_match(rules, cmp->pairs[i].name) : NULL;

			of[i] = DV_NO_RULE;
			/* Rules are few: a linear search for the index beats keeping a map. */
			for (size_t k = 0; rule && k < n; k++)
				if (dv_rules_get(rules, k) == rule)
					of[i] = (uint32_t)k;
		}
	}
	free(cmp->rule_of);
	cmp->rule_of = of;
	cmp->rules = rules;
	cmp->rule_epoch++;
	return 0;
}

const dv_rules *dv_comparison_rules(const dv_comparison *cmp)
{
	return cmp->rules;
}

size_t dv_comparison_rule_index(const dv_comparison *cmp, size_t pair_index)
{
	if (!cmp->rules || cmp->rule_of[pair_index] == DV_NO_RULE)
		return (size_t)-1;
	return cmp->rule_of[pair_index];
}

const dv_rule *dv_comparison_rule(const dv_comparison *cmp, size_t pair_index)
{
	size_t k = dv_comparison_rule_index(cmp, pair_index);

	return k == (size_t)-1 ? NULL : dv_rules_get(cmp->rules, k);
}

/* The verdict kept of a retired pair, else NULL. */
static const dv_pair_verdict *retired_of(const dv_comparison *cmp, const dv_pair *p)
{
	const dv_pair_verdict *rv;

	if (!cmp || !cmp->retired)
		return NULL;
	rv = &cmp->retired[p - cmp->pairs];
	return rv->retired ? rv : NULL;
}

/* A computed tensor (metrics or a shape mismatch) whose name no rule matches. */
static bool pair_no_rule(const dv_comparison *cmp, const dv_pair *p)
{
	int status = p->result->status;

	/* a retired pair had a rule (PASS or FAIL): never one without */
	if (retired_of(cmp, p))
		return false;
	return cmp && cmp->rules && p->kind == DV_PAIR_MATCHED && atomic_load(&p->state) == DV_PAIR_DONE &&
	       (status == DV_RESULT_COMPARED || status == DV_RESULT_SHAPE_MISMATCH) &&
	       cmp->rule_of[p - cmp->pairs] == DV_NO_RULE;
}

bool dv_comparison_no_rule(const dv_comparison *cmp, size_t pair_index)
{
	return pair_no_rule(cmp, &cmp->pairs[pair_index]);
}

/* The one verdict. Without a comparison, or before it has a threshold, a
 * computed pair passes by the decision made when it was computed; threshold
 * (optional) stands in for the comparison's. */
static dv_outcome judge_metrics(const dv_comparison *cmp, const dv_pair *p, const double *threshold,
				bool *values_equal)
{
	const dv_pair_result *r = p->result;
	const dv_pair_verdict *rv;
	int state;
	bool passes;

	if (values_equal)
		*values_equal = false;
	if (p->kind != DV_PAIR_MATCHED)
		return DV_OUTCOME_UNMATCHED;
	state = atomic_load(&p->state);
	if (state == DV_PAIR_CANCELLED)
		return DV_OUTCOME_CANCELLED;
	if (state != DV_PAIR_DONE)
		return DV_OUTCOME_PENDING;
	if ((rv = retired_of(cmp, p)))
		return (dv_outcome)rv->outcome;
	if (pair_no_rule(cmp, p))
		return DV_OUTCOME_ERROR;
	switch (r->status) {
	case DV_RESULT_COMPARED:
		if (cmp && cmp->rules) {
			dv_rule_inputs in;
			const dv_rule *rule = dv_rules_get(cmp->rules, cmp->rule_of[p - cmp->pairs]);

			passes = dv_rule_inputs_from_result(r, &in) && dv_rule_passes(rule, &in);
		} else if (cmp && cmp->pass_fn)
			passes = cmp->pass_fn(cmp, (size_t)(p - cmp->pairs), r, cmp->pass_ctx);
		else if (threshold)
			passes = dv_result_passes(r, *threshold);
		else if (cmp && cmp->has_threshold)
			passes = dv_result_passes(r, cmp->threshold);
		else
			passes = r->passed;
		return passes ? DV_OUTCOME_PASS : DV_OUTCOME_FAIL;
	case DV_RESULT_SHAPE_MISMATCH:
		return DV_OUTCOME_FAIL;
	case DV_RESULT_ERROR:
		return DV_OUTCOME_ERROR;
	case DV_RESULT_NON_TENSOR:
		/* As the comparator: non-tensor values are reported, never a failure. */
		if (values_equal)
			*values_equal = r->equal;
		return DV_OUTCOME_SKIPPED;
	case DV_RESULT_SKIPPED:
		return DV_OUTCOME_SKIPPED;
	case DV_RESULT_CANCELLED:
	case DV_RESULT_NONE:
	default:
		return DV_OUTCOME_NONE;
	}
}

bool dv_pair_replica_mismatch(const dv_pair *p)
{
	return p->kind == DV_PAIR_MATCHED && atomic_load(&p->state) == DV_PAIR_DONE && p->logical &&
	       p->logical->replica_mismatch;
}

/* The verdict: the metrics', then a failed replicated check fails a pair
 * its metrics pass (the reference's category "failed"). */
static dv_outcome judge(const dv_comparison *cmp, const dv_pair *p, const double *threshold, bool *values_equal)
{
	dv_outcome v = judge_metrics(cmp, p, threshold, values_equal);

	return v == DV_OUTCOME_PASS && dv_pair_replica_mismatch(p) ? DV_OUTCOME_FAIL : v;
}

dv_outcome dv_comparison_metrics_verdict(const dv_comparison *cmp, size_t pair_index)
{
	return judge_metrics(cmp, &cmp->pairs[pair_index], NULL, NULL);
}

ptrdiff_t dv_first_replica_mismatch(const dv_comparison *cmp)
{
	for (size_t i = 0; i < cmp->npairs; i++)
		if (dv_pair_replica_mismatch(&cmp->pairs[i]))
			return (ptrdiff_t)i;
	return -1;
}

dv_outcome dv_comparison_verdict(const dv_comparison *cmp, size_t pair_index, bool *values_equal)
{
	return judge(cmp, &cmp->pairs[pair_index], NULL, values_equal);
}

dv_outcome dv_comparison_verdict_at(const dv_comparison *cmp, size_t pair_index, double threshold,
				    bool *values_equal)
{
	return judge(cmp, &cmp->pairs[pair_index], &threshold, values_equal);
}

void dv_comparison_tally_rules(const dv_comparison *cmp, size_t *judged, size_t *failed, size_t *unmatched)
{
	size_t n = cmp->rules ? dv_rules_count(cmp->rules) : 0;

	for (size_t k = 0; k < n; k++)
		judged[k] = failed[k] = 0;
	if (unmatched)
		*unmatched = 0;
	for (size_t i = 0; i < cmp->npairs; i++) {
		dv_outcome v = dv_comparison_verdict(cmp, i, NULL);
		size_t k = dv_comparison_rule_index(cmp, i);

		if (dv_comparison_no_rule(cmp, i)) {
			if (unmatched)
				(*unmatched)++;
		} else if (k < n && (v == DV_OUTCOME_PASS || v == DV_OUTCOME_FAIL)) {
			judged[k]++;
			failed[k] += v == DV_OUTCOME_FAIL;
		}
	}
}

bool dv_outcome_diverges(dv_outcome v)
{
	return v == DV_OUTCOME_FAIL || v == DV_OUTCOME_ERROR;
}

bool dv_pair_failed(const dv_pair *pair)
{
	return dv_outcome_diverges(judge(NULL, pair, NULL, NULL));
}

ptrdiff_t dv_first_divergence(const dv_comparison *cmp, bool *known)
{
	/* a memo, not state the caller sees: const is kept */
	dv_comparison *memo = (dv_comparison *)cmp;
	unsigned epoch = cmp->rule_epoch + 1;
	size_t start = atomic_load(&memo->fd_epoch) == epoch ? atomic_load(&memo->fd_pos) : 0;
	bool final = true;

	/* a redraw at 300 k pairs must not walk them all: the prefix of final,
	 * passing verdicts only grows until the pass rule changes */
	for (size_t i = start; i < cmp->npairs; i++) {
		/* the metrics decide: a replica mismatch has its own first */
		dv_outcome v = judge_metrics(cmp, &cmp->pairs[i], NULL, NULL);

		if (dv_outcome_diverges(v)) {
			if (known)
				*known = final;
			return (ptrdiff_t)i;
		}
		if (v == DV_OUTCOME_PENDING || v == DV_OUTCOME_CANCELLED || v == DV_OUTCOME_NONE)
			final = false;
		else if (final) {
			atomic_store(&memo->fd_pos, i + 1);
			atomic_store(&memo->fd_epoch, epoch);
		}
	}
	if (known)
		*known = final;
	return -1;
}

void dv_comparison_counts(const dv_comparison *cmp, dv_counts *c)
{
	bool kept = cmp->nphases > 0;

	memset(c, 0, sizeof(*c));
	for (size_t k = 0; k < cmp->nphases && kept; k++)
		kept = cmp->phases[k].lctx != NULL;
	if (kept) {
		for (size_t k = 0; k < cmp->nphases; k++) {
			const dv_logical_ctx *lc = cmp->phases[k].lctx;

			c->matched += lc->matched;
			c->done += atomic_load(&((dv_logical_ctx *)lc)->done);
			c->cancelled += atomic_load(&((dv_logical_ctx *)lc)->cancelled);
			c->replica_mismatches += atomic_load(&((dv_logical_ctx *)lc)->replica_mismatches);
		}
		return;
	}
	/* pairs made by hand: count them */
	for (size_t i = 0; i < cmp->npairs; i++) {
		const dv_pair *p = &cmp->pairs[i];
		int state = atomic_load(&p->state);

		if (p->kind != DV_PAIR_MATCHED)
			continue;
		c->matched++;
		c->done += state == DV_PAIR_DONE;
		c->cancelled += state == DV_PAIR_CANCELLED;
		c->replica_mismatches += dv_pair_replica_mismatch(p);
	}
}

void dv_comparison_recount(dv_comparison *cmp)
{
	for (size_t k = 0; k < cmp->nphases; k++) {
		dv_logical_ctx *lc = cmp->phases[k].lctx;

		if (!lc)
			continue;
		lc->matched = 0;
		atomic_store(&lc->done, 0);
		atomic_store(&lc->cancelled, 0);
		atomic_store(&lc->replica_mismatches, 0);
		for (size_t i = cmp->phases[k].first; i < cmp->phases[k].first + cmp->phases[k].count; i++) {
			const dv_pair *p = &cmp->pairs[i];
			int state = atomic_load(&p->state);

			if (p->kind != DV_PAIR_MATCHED)
				continue;
			lc->matched++;
			atomic_fetch_add(&lc->done, state == DV_PAIR_DONE);
			atomic_fetch_add(&lc->cancelled, state == DV_PAIR_CANCELLED);
			atomic_fetch_add(&lc->replica_mismatches, dv_pair_replica_mismatch(p));
		}
	}
	atomic_store(&cmp->fd_epoch, 0);
}

/* ---- shards ---- */

#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL

/* FNV-1a over s and its terminating NUL (so "ab","c" differs from "a","bc"). */
static uint64_t fnv_str(uint64_t h, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	do {
		h ^= *p;
		h *= FNV_PRIME;
	} while (*p++);
	return h;
}

unsigned dv_pair_shard(const dv_comparison *cmp, size_t index, unsigned n)
{
	const dv_pair *p = &cmp->pairs[index];
	const dv_dumpfile *f = p->targ ? p->targ : p->base;
	uint64_t h = FNV_OFFSET;

	h = fnv_str(h, cmp->phases[p->phase].name);
	h = fnv_str(h, p->name);
	if (f) {
		size_t sl;
		const unsigned char *stem = (const unsigned char *)dv_dumpfile_stem(f, &sl);

		/* as fnv_str over the stem as a string */
		for (size_t i = 0; i < sl; i++) {
			h ^= stem[i];
			h *= FNV_PRIME;
		}
		h *= FNV_PRIME;   /* its NUL */
	} else {
		h = fnv_str(h, NULL);
	}
	/* the high bits: FNV's low bits mix poorly */
	return n ? (unsigned)((h >> 16) % n) + 1 : 1;
}

int dv_comparison_set_shard(dv_comparison *cmp, unsigned k, unsigned n, dv_error *err)
{
	if (!n || !k || k > n)
		return dv_error_set(err, "shard %u/%u: K must be 1..N", k, n);
	free(cmp->out_of_shard);
	if (!(cmp->out_of_shard = calloc(cmp->npairs ? cmp->npairs : 1, 1)))
		return dv_error_set(err, "out of memory");
	cmp->shard_k = k;
	cmp->shard_n = n;
	for (size_t i = 0; i < cmp->npairs; i++) {
		dv_pair *p = &cmp->pairs[i];

		if (dv_pair_shard(cmp, i, n) == k)
			continue;
		cmp->out_of_shard[i] = 1;
		/* as an unmatched pair: DONE from the start, nothing to compute
		 * (its result stays dv_pair_result_none: status NONE) */
		if (p->kind == DV_PAIR_MATCHED && atomic_load(&p->state) == DV_PAIR_PENDING)
			atomic_store(&p->state, DV_PAIR_DONE);
	}
	return 0;
}

bool dv_comparison_in_shard(const dv_comparison *cmp, size_t index)
{
	return !cmp->out_of_shard || !cmp->out_of_shard[index];
}

uint64_t dv_comparison_pairing_hash(const dv_comparison *cmp)
{
	uint64_t h = FNV_OFFSET;
	char kind[2] = { 0, 0 };

	for (size_t i = 0; i < cmp->npairs; i++) {
		const dv_pair *p = &cmp->pairs[i];

		kind[0] = (char)('0' + p->kind);
		h = fnv_str(h, cmp->phases[p->phase].name);
		h = fnv_str(h, kind);
		h = fnv_str(h, p->name);
		for (int side = 0; side < 2; side++) {
			size_t nf;
			const dv_dumpfile *const *f = dv_pair_files(p, side, &nf);

			for (size_t j = 0; j < nf; j++)
				h = fnv_str(h, f[j]->relpath);
			h = fnv_str(h, "|");
		}
	}
	return h;
}

const char *dv_comparison_message(const dv_comparison *cmp, size_t pair_index)
{
	const dv_pair_result *res = cmp->pairs[pair_index].result;

	if (pair_no_rule(cmp, &cmp->pairs[pair_index]))
		return DV_NO_RULE_MESSAGE;
	/* what its result said: COMPARED, no error text */
	if (retired_of(cmp, &cmp->pairs[pair_index]))
		return "shape mismatch";
	if (res->error[0])
		return res->error;
	return res->status == DV_RESULT_CANCELLED ? "cancelled" :
	       res->status == DV_RESULT_NONE ? "not computed" : "shape mismatch";
}

bool dv_comparison_retire(dv_comparison *cmp, size_t pair_index)
{
	dv_pair *p = &cmp->pairs[pair_index];
	const dv_pair_result *r = p->result;
	dv_pair_verdict *rv;
	dv_outcome v;

	if (p->kind != DV_PAIR_MATCHED || atomic_load(&p->state) != DV_PAIR_DONE ||
	    r->status != DV_RESULT_COMPARED || dv_pair_replica_mismatch(p) || retired_of(cmp, p))
		return false;
	v = judge_metrics(cmp, p, NULL, NULL);
	if (v != DV_OUTCOME_PASS && v != DV_OUTCOME_FAIL)
		return false;
	/* the first divergence's numbers are quoted by the summary */
	if (v == DV_OUTCOME_FAIL && (!cmp->retire_kept_any || pair_index < cmp->retire_kept)) {
		cmp->retire_kept = pair_index;
		cmp->retire_kept_any = true;
		return false;
	}
	if (dv_dtype_is_integer(r->base.dtype) && dv_dtype_is_integer(r->targ.dtype))
		return false;
	if (!cmp->retired && !(cmp->retired = calloc(cmp->npairs, sizeof(*cmp->retired))))
		return false;
	rv = &cmp->retired[pair_index];
	rv->outcome = (unsigned char)v;
	rv->retired = true;
	dv_logical_result_free(p->logical);
	p->logical = NULL;
	dv_pair_result_release(p);
	return true;
}

/* Whether a name fully matches an allow pattern. One too expensive to match
 * does not allow: the gate fails closed. */
static bool allowed(const pcre2_code *re, const char *name)
{
	return dv_regex_test(re, name ? name : "") == DV_REGEX_MATCH;
}

int dv_comparison_gate(const dv_comparison *cmp, const pcre2_code *allow_failed, const pcre2_code *allow_skipped,
		       dv_gate *g)
{
	char **w = NULL;

	memset(g, 0, sizeof(*g));
	for (size_t i = 0; i < cmp->npairs; i++) {
		const char *name = cmp->pairs[i].name;

		if (!dv_comparison_in_shard(cmp, i))
			continue;

		switch (dv_comparison_verdict(cmp, i, NULL)) {
		case DV_OUTCOME_PASS:
			g->passed++;
			break;
		case DV_OUTCOME_ERROR:
			g->errored++;
			break;
		case DV_OUTCOME_FAIL:
			g->failed++;
			if ((!allow_failed || !allowed(allow_failed, name)) && !g->failed_not_allowed++)
			{
				g->first_failed = name;
				g->first_failed_index = i;
			}
			break;
		default:
			g->skipped++;
			if (allow_skipped && !allowed(allow_skipped, name) && !g->skipped_not_allowed++)
			{
				g->first_skipped = name;
				g->first_skipped_index = i;
			}
			break;
		}
	}
	g->warnings = dv_comparison_warnings(cmp, &w);
	dv_warnings_free(w, g->warnings);
	g->status = !g->passed || g->errored || g->warnings || g->failed_not_allowed || g->skipped_not_allowed;
	return g->status;
}

int dv_comparison_exit_status(const dv_comparison *cmp, const pcre2_code *allow_failed,
			      const pcre2_code *allow_skipped, char *reason, size_t size)
{
	dv_gate g;

	dv_comparison_gate(cmp, allow_failed, allow_skipped, &g);
	if (!reason || !size)
		return g.status;
	/* The first reason in the order of the checks; "no tensor pair
	 * passed" says most when nothing failed or errored either. */
	if (!g.passed && !g.failed && !g.errored)
		snprintf(reason, size, "no tensor pair passed");
	else if (g.errored)
		snprintf(reason, size, "%zu errored", g.errored);
	else if (g.failed_not_allowed && allow_failed)
		snprintf(reason, size, "%zu failed not allowed by --allow-failed-pattern, the first '%s'",
			 g.failed_not_allowed, g.first_failed ? g.first_failed : "");
	else if (g.failed_not_allowed)
		snprintf(reason, size, "%zu failed", g.failed_not_allowed);
	else if (g.skipped_not_allowed)
		snprintf(reason, size, "%zu skipped not allowed by --allow-skipped-pattern, the first '%s'",
			 g.skipped_not_allowed, g.first_skipped ? g.first_skipped : "");
	else if (g.warnings)
		snprintf(reason, size, "%zu warning%s", g.warnings, g.warnings == 1 ? "" : "s");
	else if (!g.passed)
		snprintf(reason, size, "no tensor pair passed");
	else
		snprintf(reason, size, "passed");
	return g.status;
}

dv_scan *dv_comparison_scan_start(dv_comparison *cmp, const dv_metrics_opts *opts, int nthreads, int notify_fd)
{
	if (cmp->scan)
		return NULL;
	cmp->scan = dv_scan_start(cmp, opts, nthreads, notify_fd);
	return cmp->scan;
}

dv_scan *dv_comparison_scan(const dv_comparison *cmp)
{
	return cmp->scan;
}

void dv_comparison_scan_wait(dv_comparison *cmp)
{
	if (cmp->scan)
		dv_scan_wait(cmp->scan);
}

void dv_comparison_scan_stop(dv_comparison *cmp)
{
	if (cmp->scan)
		dv_scan_stop(cmp->scan);
	cmp->scan = NULL;
}

bool dv_comparison_scan_stop_until(dv_comparison *cmp, const struct timespec *deadline)
{
	bool ended = true;

	if (cmp->scan)
		ended = dv_scan_stop_until(cmp->scan, deadline);
	cmp->scan = NULL;
	return ended;
}
