/* The comparison object: run resolution under $DUMPER_BASE_DIR, phase
 * selection that leaves the runs whole, the verdict under threshold changes
 * and a pluggable rule, the first divergence known and so far, warnings and
 * run problems reachable, the scan it owns. Runs are folders of empty .pt
 * files; results are set by hand or by a stand-in comparator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dumpview/comparison.h"
#include "dumpview/logical.h"

#include "dump_fixture.h"

static int setup(void **state)
{
	(void)state;
	if (fixture_mkroot("dvcmp") != 0)
		return -1;
	/* Three phases on both sides; the target has one extra tensor in fwd_only. */
	static const char *const phases[] = { "inference", "fwd_only", "fwd_bwd" };
	for (int side = 0; side < 2; side++)
		for (int p = 0; p < 3; p++)
			for (int d = 1; d <= 3; d++) {
				char rel[256];

				snprintf(rel, sizeof(rel), "%s/%s/dump_index=%d___name=t%d.pt", side ? "targ" : "base",
					 phases[p], d, d);
				touch(rel);
			}
	touch("targ/fwd_only/dump_index=4___name=extra.pt");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return fixture_rmroot();
}

static dv_comparison *open_cmp(const char *const *phases, size_t nphases, dv_open_failure *why, dv_error *err)
{
	char b[1024], t[1024];
	dv_comparison_opts o = {
		.baseline = b, .target = t, .phases = phases, .nphases = nphases, .threshold = 1e-3,
	};

	snprintf(b, sizeof(b), "%s", at("base"));
	snprintf(t, sizeof(t), "%s", at("targ"));
	dv_error_clear(err);
	return dv_comparison_open(&o, why, err);
}

static void set_compared(dv_pair *p, double rel)
{
	fixture_result(p);
	p->result->status = DV_RESULT_COMPARED;
	p->result->rel_diff = rel;
	p->result->passed = rel <= 1e-3;
	atomic_store(&p->state, DV_PAIR_DONE);
}

static void test_base_dir_resolution(void **state)
{
	dv_error err;
	dv_run *run;
	char cwd[1024];

	(void)state;
	unsetenv("DUMPER_BASE_DIR");
	assert_string_equal(dv_base_dir(), DV_DEFAULT_BASE_DIR);
	setenv("DUMPER_BASE_DIR", "", 1);
	assert_string_equal(dv_base_dir(), DV_DEFAULT_BASE_DIR);
	setenv("DUMPER_BASE_DIR", tmproot, 1);
	assert_string_equal(dv_base_dir(), tmproot);

	/* a tag: "base" is no folder from /, so it is looked up under the base dir */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir("/"), 0);
	dv_error_clear(&err);
	run = dv_comparison_open_run("base", NULL, &err);
	assert_non_null(run);
	assert_string_equal(run->root, at("base"));
	dv_run_free(run);

	/* the comparison resolves both runs the same way */
	dv_comparison_opts o = { .baseline = "base", .target = "targ", .threshold = 1e-3 };
	dv_comparison *cmp = dv_comparison_open(&o, NULL, &err);
	assert_non_null(cmp);
	assert_string_equal(cmp->targ->root, at("targ"));
	dv_comparison_free(cmp);

	/* a missing tag names the place tried under the base dir */
	o.target = "nosuch";
	dv_open_failure why = DV_OPEN_OK;
	assert_null(dv_comparison_open(&o, &why, &err));
	assert_int_equal(why, DV_OPEN_RUN);
	assert_non_null(strstr(err.msg, at("nosuch")));
	unsetenv("DUMPER_BASE_DIR");
	assert_int_equal(chdir(cwd), 0);
}

static void test_phase_selection_leaves_runs_whole(void **state)
{
	static const char *const want[] = { "fwd_bwd", "inference" };
	dv_error err;
	dv_open_failure why;
	dv_comparison *cmp;

	(void)state;
	cmp = open_cmp(want, 2, &why, &err);
	assert_non_null(cmp);
	assert_int_equal(why, DV_OPEN_OK);
	/* phase order, not the order asked */
	assert_int_equal(cmp->nphases, 2);
	assert_string_equal(cmp->phases[0].name, "inference");
	assert_string_equal(cmp->phases[1].name, "fwd_bwd");
	assert_int_equal(cmp->npairs, 6);
	/* the runs keep every phase, in their own order */
	assert_int_equal(cmp->base->nphases, 3);
	assert_int_equal(cmp->targ->nphases, 3);
	assert_string_equal(cmp->base->phases[1].name, "fwd_only");
	assert_true(dv_comparison_phase_selected(cmp, "inference"));
	assert_false(dv_comparison_phase_selected(cmp, "fwd_only"));
	dv_comparison_free(cmp);

	/* no selection: every phase */
	cmp = open_cmp(NULL, 0, &why, &err);
	assert_non_null(cmp);
	assert_int_equal(cmp->nphases, 3);
	assert_int_equal(cmp->npairs, 10);
	assert_true(dv_comparison_phase_selected(cmp, "fwd_only"));
	dv_comparison_free(cmp);

	/* a phase neither run has */
	static const char *const bad[] = { "inference", "nosuch" };
	assert_null(open_cmp(bad, 2, &why, &err));
	assert_int_equal(why, DV_OPEN_PHASE);
	assert_non_null(strstr(err.msg, "--phase nosuch: no such phase"));
}

static void test_verdicts_follow_the_threshold(void **state)
{
	dv_error err;
	dv_comparison *cmp = open_cmp(NULL, 0, NULL, &err);
	bool equal;

	(void)state;
	assert_non_null(cmp);
	assert_true(dv_comparison_threshold(cmp) == 1e-3);
	/* pair 0 pending, 1 passes at 1e-3, 2 fails at 1e-3 */
	assert_int_equal(dv_comparison_verdict(cmp, 0, NULL), DV_OUTCOME_PENDING);
	set_compared(&cmp->pairs[1], 5e-4);
	set_compared(&cmp->pairs[2], 5e-3);
	assert_int_equal(dv_comparison_verdict(cmp, 1, NULL), DV_OUTCOME_PASS);
	assert_int_equal(dv_comparison_verdict(cmp, 2, NULL), DV_OUTCOME_FAIL);
	/* a looser threshold passes it, a stricter one fails both */
	dv_comparison_set_threshold(cmp, 1e-2);
	assert_int_equal(dv_comparison_verdict(cmp, 2, NULL), DV_OUTCOME_PASS);
	dv_comparison_set_threshold(cmp, 1e-4);
	assert_int_equal(dv_comparison_verdict(cmp, 1, NULL), DV_OUTCOME_FAIL);
	dv_comparison_set_threshold(cmp, 1e-3);

	/* NaN never passes */
	set_compared(&cmp->pairs[0], NAN);
	assert_int_equal(dv_comparison_verdict(cmp, 0, NULL), DV_OUTCOME_FAIL);
	/* non-tensor values are skipped, equal or not; the flag tells them apart */
	cmp->pairs[0].result->status = DV_RESULT_NON_TENSOR;
	cmp->pairs[0].result->equal = true;
	assert_int_equal(dv_comparison_verdict(cmp, 0, &equal), DV_OUTCOME_SKIPPED);
	assert_true(equal);
	cmp->pairs[0].result->equal = false;
	assert_int_equal(dv_comparison_verdict(cmp, 0, &equal), DV_OUTCOME_SKIPPED);
	assert_false(equal);
	/* errors and shape mismatches */
	cmp->pairs[0].result->status = DV_RESULT_ERROR;
	assert_int_equal(dv_comparison_verdict(cmp, 0, NULL), DV_OUTCOME_ERROR);
	assert_true(dv_outcome_diverges(DV_OUTCOME_ERROR));
	cmp->pairs[0].result->status = DV_RESULT_SHAPE_MISMATCH;
	assert_int_equal(dv_comparison_verdict(cmp, 0, NULL), DV_OUTCOME_FAIL);
	/* cancelled by the user, and unmatched */
	atomic_store(&cmp->pairs[0].state, DV_PAIR_CANCELLED);
	assert_int_equal(dv_comparison_verdict(cmp, 0, NULL), DV_OUTCOME_CANCELLED);
	for (size_t i = 0; i < cmp->npairs; i++)
		if (cmp->pairs[i].kind != DV_PAIR_MATCHED)
			assert_int_equal(dv_comparison_verdict(cmp, i, NULL), DV_OUTCOME_UNMATCHED);
	dv_comparison_free(cmp);
}

/* An export on another thread judges under the threshold it took. */
static void test_verdict_at_a_given_threshold(void **state)
{
	dv_error err;
	dv_comparison *cmp = open_cmp(NULL, 0, NULL, &err);

	(void)state;
	assert_non_null(cmp);
	set_compared(&cmp->pairs[0], 5e-3);
	assert_int_equal(dv_comparison_verdict_at(cmp, 0, 1e-2, NULL), DV_OUTCOME_PASS);
	assert_int_equal(dv_comparison_verdict_at(cmp, 0, 1e-3, NULL), DV_OUTCOME_FAIL);
	/* the comparison's own threshold is left alone */
	assert_true(dv_comparison_threshold(cmp) == 1e-3);
	dv_comparison_free(cmp);

	/* from dv_comparison_build: no threshold until set, the computed decision counts */
	dv_run_opts ro = { .base_dir = "/nonexistent-base" };
	dv_run *b = dv_comparison_open_run(at("base"), &ro, &err), *t = dv_comparison_open_run(at("targ"), &ro, &err);
	assert_non_null(b);
	assert_non_null(t);
	cmp = dv_comparison_build(b, t, NULL, &err);
	assert_non_null(cmp);
	assert_true(isnan(dv_comparison_threshold(cmp)));
	set_compared(&cmp->pairs[0], 5e-4);
	cmp->pairs[0].result->passed = false;
	assert_int_equal(dv_comparison_verdict(cmp, 0, NULL), DV_OUTCOME_FAIL);
	assert_true(dv_pair_failed(&cmp->pairs[0]));
	dv_comparison_set_threshold(cmp, 1e-3);
	assert_int_equal(dv_comparison_verdict(cmp, 0, NULL), DV_OUTCOME_PASS);
	dv_comparison_free(cmp);
}

static void count_call(void *ctx)
{
	++*(int *)ctx;
}

/* Listing one run after the other tells when the baseline is done; the
 * threaded listing gives the same pairs. */
static void test_open_sequential_and_parallel(void **state)
{
	int calls = 0;
	_Atomic size_t listed = 0;
	dv_comparison_opts o = {
		.baseline = at("base"), .target = at("targ"), .threshold = 1e-3, .listed = &listed,
		.baseline_listed = count_call, .ctx = &calls,
	};
	dv_error err;
	dv_comparison *cmp;

	(void)state;
	dv_error_clear(&err);
	cmp = dv_comparison_open(&o, NULL, &err);
	assert_non_null(cmp);
	assert_int_equal(calls, 1);
	assert_int_equal(atomic_load(&listed), 19);
	assert_int_equal(cmp->npairs, 10);
	dv_comparison_free(cmp);

	o.parallel_open = true;
	o.baseline = at("base");
	o.target = at("targ");
	cmp = dv_comparison_open(&o, NULL, &err);
	assert_non_null(cmp);
	assert_int_equal(cmp->npairs, 10);
	dv_comparison_free(cmp);

	/* a missing baseline: its error, and the target is not listed */
	calls = 0;
	o.parallel_open = false;
	o.baseline = at("nosuch");
	o.target = at("targ");
	atomic_store(&listed, 0);
	assert_null(dv_comparison_open(&o, NULL, &err));
	assert_non_null(strstr(err.msg, "'"));
	assert_non_null(strstr(err.msg, "nosuch"));
	assert_int_equal(calls, 0);
	assert_int_equal(atomic_load(&listed), 0);
}

/* The progressive listing's partial comparisons, kept for the checks. */
typedef struct partials {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	dv_comparison *v[8];
	size_t n;
	size_t hooks;
} partials;

static void keep_partial(void *ctx, dv_comparison *cmp)
{
	partials *p = ctx;

	pthread_mutex_lock(&p->mu);
	if (p->n < 8)
		p->v[p->n++] = cmp;
	else
		dv_comparison_free(cmp);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* Each run lists its next phase only once the comparison of the phases
 * listed so far was handed over (but for the baseline's last phase, after
 * which the listing ends): the partial comparisons come one a phase. */
static void count_phase(void *ctx, int side, size_t n)
{
	partials *p = ctx;

	assert_true(side == 0 || side == 1);
	pthread_mutex_lock(&p->mu);
	p->hooks++;
	while (n < 5 && p->n < n)
		pthread_cond_wait(&p->cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

/* Listed phase by phase: each partial comparison is a prefix of the whole
 * one (same pairs, same files), the whole one is the plain listing's (same
 * pairing, problems in the same order although the phases were read in
 * phase order), and results move from a partial comparison to it. */
static void test_open_progressive(void **state)
{
	static const char *const phases[] = { "fwd_bwd", "fwd_only", "inference", "zeta" };
	char link[1024];
	partials got = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	dv_error err;

	(void)state;
	for (int side = 0; side < 2; side++)
		for (int p = 0; p < 4; p++)
			for (int d = 1; d <= 4; d++) {
				char rel[256];

				snprintf(rel, sizeof(rel), "%s/%s/step=0___dump_index=%d___name=t%d.pt",
					 side ? "ptarg" : "pbase", phases[p], d, d % 3);
				touch(rel);
			}
	touch("pbase/loose___name=root.pt");
	touch("ptarg/fwd_only/dump_index=9___name=only_target.pt");
	/* folders left out, in two phases: problems, in the plain walk's order */
	for (int p = 0; p < 3; p++) {
		snprintf(link, sizeof(link), "%s/%s/out%d", at("pbase"), phases[p], p);
		assert_int_equal(symlink("/", link), 0);
	}

	dv_comparison_opts o = { .baseline = at("pbase"), .threshold = 1e-3 };
	char targ[1024];
	snprintf(targ, sizeof(targ), "%s", at("ptarg"));
	o.target = targ;
	char base[1024];
	snprintf(base, sizeof(base), "%s", at("pbase"));
	o.baseline = base;
	dv_error_clear(&err);
	dv_comparison *plain = dv_comparison_open(&o, NULL, &err);
	assert_non_null(plain);
	assert_int_equal(plain->base->nproblems, 3);

	o.partial = keep_partial;
	o.phase_listed = count_phase;
	o.ctx = &got;
	dv_comparison *whole = dv_comparison_open(&o, NULL, &err);
	assert_non_null(whole);
	assert_false(whole->partial);
	assert_true(dv_comparison_pairing_hash(whole) == dv_comparison_pairing_hash(plain));
	assert_int_equal(whole->npairs, plain->npairs);
	assert_int_equal(whole->nphases, plain->nphases);
	for (size_t k = 0; k < whole->nphases; k++) {
		assert_string_equal(whole->phases[k].name, plain->phases[k].name);
		assert_int_equal(whole->phases[k].first, plain->phases[k].first);
		assert_int_equal(whole->phases[k].count, plain->phases[k].count);
	}
	assert_int_equal(whole->base->nproblems, plain->base->nproblems);
	for (size_t i = 0; i < plain->base->nproblems; i++)
		assert_string_equal(whole->base->problems[i], plain->base->problems[i]);
	assert_int_equal(got.hooks, 5 + 4);   /* the baseline's root phase, and four a side */
	/* inference, fwd_only, fwd_bwd, then (root) with zeta listed on one
	 * side (and, should the last phase be seen before the end, all five) */
	assert_true(got.n == 4 || got.n == 5);
	for (size_t k = 0; k < got.n; k++)
		assert_int_equal(got.v[k]->nphases, k + 1);
	for (size_t k = 0; k < got.n; k++) {
		dv_comparison *part = got.v[k];

		assert_true(part->partial);
		assert_true(part->npairs <= whole->npairs);
		assert_true(part->nphases <= whole->nphases);
		for (size_t i = 0; i < part->npairs; i++) {
			assert_int_equal(part->pairs[i].kind, whole->pairs[i].kind);
			assert_ptr_equal(part->pairs[i].name, whole->pairs[i].name);
			assert_int_equal(part->pairs[i].nbase, whole->pairs[i].nbase);
			for (int side = 0; side < 2; side++) {
				size_t n, wn;
				const dv_dumpfile *const *pf = dv_pair_files(&part->pairs[i], side, &n),
						  *const *wf = dv_pair_files(&whole->pairs[i], side, &wn);

				assert_int_equal(n, wn);
				for (size_t f = 0; f < n; f++)
					assert_ptr_equal(pf[f], wf[f]);
			}
		}
	}
	/* results computed on a partial comparison move to the whole one: a
	 * passing one, then a failing one; the counts of both follow, and the
	 * first divergence the whole one finds from its carried memo is the
	 * one a walk from its first pair finds */
	if (got.n) {
		dv_comparison *part = got.v[got.n - 1];
		size_t idx[2], k = 0;

		for (size_t i = 0; i < part->npairs && k < 2; i++)
			if (part->pairs[i].kind == DV_PAIR_MATCHED)
				idx[k++] = i;
		assert_int_equal(k, 2);
		for (k = 0; k < 2; k++) {
			dv_pair_result *r = dv_pair_result_slot(&part->pairs[idx[k]]);
			assert_non_null(r);
			r->status = DV_RESULT_COMPARED;
			r->rel_diff = k ? 0.5 : 0.0;
			r->max_abs_diff = r->mean_abs_diff = r->rel_diff;
			atomic_store(&part->pairs[idx[k]].state, DV_PAIR_DONE);
		}
		dv_comparison_recount(part);
		bool part_known, whole_known;
		ptrdiff_t part_fd = dv_first_divergence(part, &part_known);
		assert_int_equal(part_fd, (ptrdiff_t)idx[1]);
		assert_int_equal(dv_comparison_adopt(whole, part), 2);
		/* judged alike (one threshold): the memo came over */
		assert_int_equal(atomic_load(&whole->fd_epoch), whole->rule_epoch + 1);
		for (k = 0; k < 2; k++) {
			assert_int_equal(atomic_load(&whole->pairs[idx[k]].state), DV_PAIR_DONE);
			assert_true(whole->pairs[idx[k]].result->rel_diff == (k ? 0.5 : 0.0));
			assert_int_equal(atomic_load(&part->pairs[idx[k]].state), DV_PAIR_PENDING);
		}
		dv_counts c;
		dv_comparison_counts(whole, &c);
		assert_int_equal(c.done, 2);
		dv_comparison_counts(part, &c);
		assert_int_equal(c.done, 0);
		ptrdiff_t carried = dv_first_divergence(whole, &whole_known);
		assert_int_equal(carried, part_fd);
		atomic_store(&whole->fd_epoch, 0);   /* forgotten: walked from the first pair */
		assert_int_equal(dv_first_divergence(whole, &whole_known), carried);
		assert_int_equal(dv_first_divergence(part, NULL), -1);
	}
	for (size_t k = 0; k < got.n; k++)
		dv_comparison_free(got.v[k]);
	dv_comparison_free(whole);
	dv_comparison_free(plain);
}

/* A rule that passes only pairs named t1, whatever the metrics say. */
static bool only_t1(const dv_comparison *cmp, size_t i, const dv_pair_result *r, void *ctx)
{
	(void)r;
	++*(int *)ctx;
	return !strcmp(cmp->pairs[i].name, "t1");
}

static void test_pass_rule_replaces_threshold(void **state)
{
	dv_error err;
	dv_comparison *cmp = open_cmp(NULL, 0, NULL, &err);
	int calls = 0;

	(void)state;
	assert_non_null(cmp);
	for (size_t i = 0; i < 3; i++)
		set_compared(&cmp->pairs[i], 0);
	dv_comparison_set_pass_rule(cmp, only_t1, &calls);
	assert_string_equal(cmp->pairs[0].name, "t1");
	assert_int_equal(dv_comparison_verdict(cmp, 0, NULL), DV_OUTCOME_PASS);
	assert_int_equal(dv_comparison_verdict(cmp, 1, NULL), DV_OUTCOME_FAIL);
	assert_int_equal(calls, 2);
	/* the first divergence follows the rule */
	assert_int_equal(dv_first_divergence(cmp, NULL), 1);
	dv_comparison_set_pass_rule(cmp, NULL, NULL);
	assert_int_equal(dv_comparison_verdict(cmp, 1, NULL), DV_OUTCOME_PASS);
	dv_comparison_free(cmp);
}

/* Rules judge by name: the first match, an index per pair, "no rule
 * matches" an ERROR, the catch-all found again after the set changed. */
static void test_rules_judge_by_name(void **state)
{
	dv_error err;
	dv_comparison *cmp = open_cmp(NULL, 0, NULL, &err);
	dv_rules *rules = dv_rules_new();
	size_t judged[3], failed[3], unmatched;

	(void)state;
	assert_non_null(cmp);
	assert_non_null(rules);
	assert_int_equal(dv_rules_add(rules, "t1=rel <= 0", &err), 0);
	assert_int_equal(dv_rules_add(rules, "t[12]=rel <= 0.5", &err), 0);
	set_compared(&cmp->pairs[0], 0);
	set_compared(&cmp->pairs[1], 0.4);
	set_compared(&cmp->pairs[2], 0);
	assert_string_equal(cmp->pairs[2].name, "t3");
	assert_null(dv_comparison_rules(cmp));
	assert_int_equal(dv_comparison_set_rules(cmp, rules, &err), 0);
	assert_ptr_equal(dv_comparison_rules(cmp), rules);
	assert_int_equal(dv_comparison_rule_index(cmp, 0), 0);
	assert_int_equal(dv_comparison_rule_index(cmp, 1), 1);
	assert_int_equal(dv_comparison_rule_index(cmp, 2), (size_t)-1);
	assert_null(dv_comparison_rule(cmp, 2));
	assert_string_equal(dv_rule_origin(dv_comparison_rule(cmp, 1)), "--rule 2");
	/* a threshold no longer decides: 0.4 passes rule 2 */
	assert_int_equal(dv_comparison_verdict(cmp, 0, NULL), DV_OUTCOME_PASS);
	assert_int_equal(dv_comparison_verdict(cmp, 1, NULL), DV_OUTCOME_PASS);
	assert_int_equal(dv_comparison_verdict_at(cmp, 1, 1e-3, NULL), DV_OUTCOME_PASS);
	/* a user rule list has no catch-all: t3 fails closed */
	assert_false(dv_comparison_no_rule(cmp, 1));
	assert_true(dv_comparison_no_rule(cmp, 2));
	assert_int_equal(dv_comparison_verdict(cmp, 2, NULL), DV_OUTCOME_ERROR);
	assert_int_equal(dv_first_divergence(cmp, NULL), 2);
	/* a pending pair is not an error yet */
	assert_false(dv_comparison_no_rule(cmp, 5));
	/* a shape mismatch fails under the rule that matches it */
	cmp->pairs[1].result->status = DV_RESULT_SHAPE_MISMATCH;
	assert_int_equal(dv_comparison_verdict(cmp, 1, NULL), DV_OUTCOME_FAIL);
	assert_int_equal(dv_comparison_rule_index(cmp, 1), 1);
	dv_comparison_tally_rules(cmp, judged, failed, &unmatched);
	assert_int_equal(judged[0], 1);
	assert_int_equal(failed[0], 0);
	assert_int_equal(judged[1], 1);
	assert_int_equal(failed[1], 1);
	assert_int_equal(unmatched, 1);
	set_compared(&cmp->pairs[1], 0.4);

	/* the catch-all, added after the set was given, is found once given again */
	assert_int_equal(dv_rules_set_catch_all(rules, true, 1e-3), 0);
	assert_int_equal(dv_comparison_set_rules(cmp, rules, &err), 0);
	assert_true(dv_rule_is_catch_all(dv_comparison_rule(cmp, 2)));
	assert_int_equal(dv_comparison_verdict(cmp, 2, NULL), DV_OUTCOME_PASS);
	assert_int_equal(dv_first_divergence(cmp, NULL), -1);
	/* its threshold changes in place: no new call needed */
	set_compared(&cmp->pairs[2], 0.01);
	assert_int_equal(dv_comparison_verdict(cmp, 2, NULL), DV_OUTCOME_FAIL);
	assert_int_equal(dv_rules_set_catch_all(rules, true, 0.1), 0);
	assert_int_equal(dv_comparison_verdict(cmp, 2, NULL), DV_OUTCOME_PASS);
	dv_comparison_tally_rules(cmp, judged, failed, NULL);
	assert_int_equal(judged[2], 1);
	assert_int_equal(failed[2], 0);

	/* no rules: the threshold again */
	assert_int_equal(dv_comparison_set_rules(cmp, NULL, &err), 0);
	assert_null(dv_comparison_rule(cmp, 0));
	assert_int_equal(dv_comparison_verdict(cmp, 1, NULL), DV_OUTCOME_FAIL);
	dv_comparison_free(cmp);
	dv_rules_free(rules);
}

static pcre2_code *full_match(const char *pattern)
{
	int code;
	PCRE2_SIZE off;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
				       PCRE2_UTF | PCRE2_ANCHORED | PCRE2_ENDANCHORED, &code, &off, NULL);

	assert_non_null(re);
	return re;
}

/* The gate `compare` exits by and the explorer shows: each reason in turn,
 * the one-line reason naming the first, the allow patterns as full matches. */
static void test_exit_status(void **state)
{
	dv_error err;
	dv_comparison *cmp = open_cmp(NULL, 0, NULL, &err);
	pcre2_code *t2 = full_match("t2"), *t = full_match("t"), *tany = full_match("t.*"), *all = full_match(".*");
	dv_rules *rules = dv_rules_new();
	char why[256];
	dv_gate g;
	size_t extra = (size_t)-1;

	(void)state;
	assert_non_null(cmp);
	assert_non_null(rules);
	/* nothing computed yet: nothing passed */
	assert_int_equal(dv_comparison_exit_status(cmp, NULL, NULL, why, sizeof(why)), 1);
	assert_string_equal(why, "no tensor pair passed");
	for (size_t i = 0; i < cmp->npairs; i++) {
		if (cmp->pairs[i].kind == DV_PAIR_MATCHED)
			set_compared(&cmp->pairs[i], 0);
		else
			extra = i;
	}
	assert_int_not_equal(extra, (size_t)-1);
	/* every tensor passes; the one-sided name is a skip, allowed by default */
	assert_int_equal(dv_comparison_gate(cmp, NULL, NULL, &g), 0);
	assert_int_equal(g.passed, 9);
	assert_int_equal(g.skipped, 1);
	assert_int_equal(g.warnings, 0);
	assert_int_equal(dv_comparison_exit_status(cmp, NULL, NULL, why, sizeof(why)), 0);
	assert_string_equal(why, "passed");
	assert_int_equal(dv_comparison_exit_status(cmp, NULL, NULL, NULL, 0), 0);
	/* a skip the pattern does not allow */
	assert_int_equal(dv_comparison_exit_status(cmp, NULL, tany, why, sizeof(why)), 1);
	assert_string_equal(why, "1 skipped not allowed by --allow-skipped-pattern, the first 'extra'");
	assert_int_equal(dv_comparison_exit_status(cmp, NULL, all, why, sizeof(why)), 0);
	/* a failure: none allowed by default, a full match allows it */
	set_compared(&cmp->pairs[1], 0.4);
	assert_string_equal(cmp->pairs[1].name, "t2");
	assert_int_equal(dv_comparison_exit_status(cmp, NULL, NULL, why, sizeof(why)), 1);
	assert_string_equal(why, "1 failed");
	assert_int_equal(dv_comparison_exit_status(cmp, t2, NULL, why, sizeof(why)), 0);
	assert_int_equal(dv_comparison_exit_status(cmp, t, NULL, why, sizeof(why)), 1);
	assert_string_equal(why, "1 failed not allowed by --allow-failed-pattern, the first 't2'");
	assert_int_equal(dv_comparison_gate(cmp, t, tany, &g), 1);
	assert_int_equal(g.failed_not_allowed, 1);
	assert_string_equal(g.first_failed, "t2");
	assert_int_equal(g.skipped_not_allowed, 1);
	assert_string_equal(g.first_skipped, "extra");
	/* an error is never allowed: a name no rule matches */
	assert_int_equal(dv_rules_add(rules, "t[12]=rel <= 0", &err), 0);
	assert_int_equal(dv_comparison_set_rules(cmp, rules, &err), 0);
	assert_int_equal(dv_comparison_exit_status(cmp, all, all, why, sizeof(why)), 1);
	assert_string_equal(why, "3 errored");
	/* every failure allowed but nothing passed: still 1 */
	assert_int_equal(dv_comparison_set_rules(cmp, NULL, &err), 0);
	for (size_t i = 0; i < cmp->npairs; i++)
		if (i != extra)
			set_compared(&cmp->pairs[i], 0.5);
	assert_int_equal(dv_comparison_exit_status(cmp, all, NULL, why, sizeof(why)), 1);
	assert_string_equal(why, "no tensor pair passed");
	pcre2_code_free(t2);
	pcre2_code_free(t);
	pcre2_code_free(tany);
	pcre2_code_free(all);
	dv_comparison_free(cmp);
	dv_rules_free(rules);
}

static void test_first_divergence_known_and_so_far(void **state)
{
	dv_error err;
	dv_comparison *cmp = open_cmp(NULL, 0, NULL, &err);
	bool known = true;

	(void)state;
	assert_non_null(cmp);
	/* nothing computed: none so far */
	assert_int_equal(dv_first_divergence(cmp, &known), -1);
	assert_false(known);
	/* a failure with a pending pair before it: so far (states set by
	 * hand: counted again, as a loaded report is) */
	set_compared(&cmp->pairs[2], 0.5);
	dv_comparison_recount(cmp);
	assert_int_equal(dv_first_divergence(cmp, &known), 2);
	assert_false(known);
	/* everything before it final: known, whatever comes after */
	set_compared(&cmp->pairs[0], 0);
	set_compared(&cmp->pairs[1], 0);
	dv_comparison_recount(cmp);
	assert_int_equal(dv_first_divergence(cmp, &known), 2);
	assert_true(known);
	/* a cancelled pair before it makes it unknown again (a DONE pair never
	 * changes in a run: set by hand, the memo of final verdicts is reset) */
	atomic_store(&cmp->pairs[1].state, DV_PAIR_CANCELLED);
	dv_comparison_recount(cmp);
	assert_int_equal(dv_first_divergence(cmp, &known), 2);
	assert_false(known);
	set_compared(&cmp->pairs[1], 0);
	dv_comparison_recount(cmp);
	/* a looser threshold removes it */
	dv_comparison_set_threshold(cmp, 1.0);
	assert_int_equal(dv_first_divergence(cmp, &known), -1);
	assert_false(known);
	/* an error counts as a divergence */
	dv_comparison_set_threshold(cmp, 1e-3);
	cmp->pairs[1].result->status = DV_RESULT_ERROR;
	dv_comparison_recount(cmp);
	assert_int_equal(dv_first_divergence(cmp, &known), 1);
	assert_true(known);
	dv_comparison_free(cmp);
}

static void test_warnings_and_problems_reachable(void **state)
{
	static const char *const fwd[] = { "fwd_only" };
	dv_error err;
	dv_comparison *cmp;
	char **w = NULL;
	size_t n;

	(void)state;
	/* the target's extra file in fwd_only is reported through the comparison */
	cmp = open_cmp(fwd, 1, NULL, &err);
	assert_non_null(cmp);
	assert_int_equal(cmp->npairs, 4);
	assert_int_equal(cmp->pairs[3].kind, DV_PAIR_TARGET_ONLY);
	n = dv_comparison_warnings(cmp, &w);
	assert_int_equal(n, 0);
	dv_warnings_free(w, n);
	/* a run problem becomes a warning */
	char **problems = malloc(sizeof(*problems));
	assert_non_null(problems);
	problems[0] = strdup("inference/x: cannot read folder: Permission denied");
	cmp->base->problems = problems;
	cmp->base->nproblems = 1;
	n = dv_comparison_warnings(cmp, &w);
	assert_int_equal(n, 1);
	assert_string_equal(w[0], "baseline: inference/x: cannot read folder: Permission denied");
	dv_warnings_free(w, n);
	dv_comparison_free(cmp);

	/* a phase on one side only */
	touch("targ/extra_phase/dump_index=1___name=z.pt");
	cmp = open_cmp(NULL, 0, NULL, &err);
	assert_non_null(cmp);
	n = dv_comparison_warnings(cmp, &w);
	assert_int_equal(n, 1);
	assert_non_null(strstr(w[0], "phase extra_phase: only in the target"));
	dv_warnings_free(w, n);
	dv_comparison_free(cmp);
	assert_int_equal(remove(at("targ/extra_phase/dump_index=1___name=z.pt")), 0);
	assert_int_equal(rmdir(at("targ/extra_phase")), 0);
}

static int fake_compare(const char *base_path, const char *targ_path, const dv_metrics_opts *opts,
			dv_pair_result *result)
{
	(void)base_path;
	(void)opts;
	memset(result, 0, sizeof(*result));
	result->status = DV_RESULT_COMPARED;
	result->rel_diff = strstr(targ_path, "t2") ? 0.5 : 0;
	result->passed = result->rel_diff <= 1e-3;
	return 0;
}

static void test_scan_owned_by_the_comparison(void **state)
{
	dv_error err;
	dv_comparison *cmp = open_cmp(NULL, 0, NULL, &err);
	dv_metrics_opts mo = dv_metrics_opts_default();
	bool known;

	(void)state;
	assert_non_null(cmp);
	dv_set_compare_fn(fake_compare);
	assert_null(dv_comparison_scan(cmp));
	dv_scan *scan = dv_comparison_scan_start(cmp, &mo, 2, -1);
	assert_non_null(scan);
	assert_ptr_equal(dv_comparison_scan(cmp), scan);
	/* one scan at a time */
	assert_null(dv_comparison_scan_start(cmp, &mo, 2, -1));
	dv_comparison_scan_wait(cmp);
	assert_true(dv_scan_finished(scan));
	{
		/* the counts kept by the compute path equal a count of the pairs */
		dv_counts c;
		size_t matched = 0, done = 0;

		dv_comparison_counts(cmp, &c);
		for (size_t i = 0; i < cmp->npairs; i++) {
			matched += cmp->pairs[i].kind == DV_PAIR_MATCHED;
			done += cmp->pairs[i].kind == DV_PAIR_MATCHED && atomic_load(&cmp->pairs[i].state) == DV_PAIR_DONE;
		}
		assert_true(matched > 0);
		assert_int_equal(c.matched, matched);
		assert_int_equal(c.done, done);
		assert_int_equal(c.done, matched);
		assert_int_equal(c.cancelled, 0);
	}
	assert_int_equal(dv_first_divergence(cmp, &known), 1);
	assert_true(known);
	assert_string_equal(cmp->pairs[1].name, "t2");
	dv_comparison_scan_stop(cmp);
	assert_null(dv_comparison_scan(cmp));
	dv_comparison_scan_stop(cmp);   /* no scan: nothing to do */

	/* freeing the comparison stops a scan still running */
	for (size_t i = 0; i < cmp->npairs; i++)
		if (cmp->pairs[i].kind == DV_PAIR_MATCHED)
			atomic_store(&cmp->pairs[i].state, DV_PAIR_PENDING);
	assert_non_null(dv_comparison_scan_start(cmp, &mo, 2, -1));
	dv_comparison_free(cmp);
	dv_set_compare_fn(NULL);
}

/* The first divergence as a walk over every pair defines it: the first
 * pair whose metrics verdict is FAIL or ERROR, known once no pair before
 * it may still change. */
static ptrdiff_t first_divergence_walked(const dv_comparison *cmp, bool *known)
{
	*known = true;
	for (size_t i = 0; i < cmp->npairs; i++) {
		dv_outcome v = dv_comparison_metrics_verdict(cmp, i);

		if (v == DV_OUTCOME_FAIL || v == DV_OUTCOME_ERROR)
			return (ptrdiff_t)i;
		if (v == DV_OUTCOME_PENDING || v == DV_OUTCOME_CANCELLED || v == DV_OUTCOME_NONE)
			*known = false;
	}
	return -1;
}

static void assert_first_divergence_walked(const dv_comparison *cmp)
{
	bool known, walked_known;
	ptrdiff_t walked = first_divergence_walked(cmp, &walked_known);

	assert_int_equal(dv_first_divergence(cmp, &known), walked);
	assert_int_equal(known, walked_known);
	/* asked again with nothing changed: the same (from what was kept) */
	assert_int_equal(dv_first_divergence(cmp, &known), walked);
	assert_int_equal(known, walked_known);
}

/* What the stand-in comparator gives the next pair it computes. */
enum { R_PASS, R_FAIL, R_ERROR, R_SKIP, R_SHAPE, R_CANCEL, R_STOPPED, R_KINDS };
static int scripted_next;

static int scripted_compare(const char *base_path, const char *targ_path, const dv_metrics_opts *opts,
			    dv_pair_result *result)
{
	(void)base_path;
	(void)targ_path;
	(void)opts;
	memset(result, 0, sizeof(*result));
	result->max_abs_diff_index = -1;
	switch (scripted_next) {
	case R_PASS:
	case R_FAIL:
		result->status = DV_RESULT_COMPARED;
		result->rel_diff = scripted_next == R_FAIL ? 0.5 : 0;
		result->passed = scripted_next == R_PASS;
		break;
	case R_ERROR:
		result->status = DV_RESULT_ERROR;
		dv_result_set_error(result, "unreadable");
		break;
	case R_SKIP:
		result->status = DV_RESULT_NON_TENSOR;
		result->equal = true;
		break;
	case R_SHAPE:
		result->status = DV_RESULT_SHAPE_MISMATCH;
		break;
	default:   /* stopped: CANCELLED by the user, else PENDING again */
		result->status = DV_RESULT_CANCELLED;
		break;
	}
	return 0;
}

static unsigned rng_state = 12345;

static unsigned rng(void)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return rng_state >> 8;
}

/* A result for pair i through the compute path, its kind drawn at random
 * (mostly passing, so that divergences are few and far apart). */
static void compute_random(dv_comparison *cmp, size_t i)
{
	static const dv_metrics_opts *none;
	dv_metrics_opts mo = dv_metrics_opts_default();
	atomic_int user_cancel;
	unsigned r = rng() % 200;

	(void)none;
	scripted_next = r < 4 ? R_FAIL : r < 6 ? R_ERROR : r < 12 ? R_SKIP : r < 13 ? R_SHAPE :
			r < 19 ? R_CANCEL : r < 22 ? R_STOPPED : R_PASS;
	atomic_init(&user_cancel, scripted_next == R_CANCEL);
	dv_pair_compute_cancellable(&cmp->pairs[i], &mo, &user_cancel);
}

/* Computes the matched pairs of cmp before pair `upto` in a random order
 * (about `share` of 100 of them), checking the first divergence against a
 * walk after every result; cancelled pairs are sometimes taken again and
 * the threshold sometimes changes. */
static void compute_checked(dv_comparison *cmp, size_t upto, unsigned share)
{
	size_t *order = malloc(cmp->npairs * sizeof(*order)), n = 0;

	assert_non_null(order);
	for (size_t i = 0; i < upto && i < cmp->npairs; i++)
		if (cmp->pairs[i].kind == DV_PAIR_MATCHED && atomic_load(&cmp->pairs[i].state) == DV_PAIR_PENDING &&
		    rng() % 100 < share)
			order[n++] = i;
	for (size_t k = n; k > 1; k--) {
		size_t j = rng() % k, t = order[k - 1];

		order[k - 1] = order[j];
		order[j] = t;
	}
	for (size_t k = 0; k < n; k++) {
		compute_random(cmp, order[k]);
		assert_first_divergence_walked(cmp);
		if (rng() % 50 == 0) {
			/* a cancelled pair taken again */
			for (size_t j = 0; j < k; j++)
				if (atomic_load(&cmp->pairs[order[j]].state) == DV_PAIR_CANCELLED) {
					dv_pair_uncancel(&cmp->pairs[order[j]]);
					assert_first_divergence_walked(cmp);
					compute_random(cmp, order[j]);
					assert_first_divergence_walked(cmp);
					break;
				}
		}
		if (rng() % 300 == 0) {
			dv_comparison_set_threshold(cmp, dv_comparison_threshold(cmp) > 0.1 ? 1e-3 : 1.0);
			assert_first_divergence_walked(cmp);
		}
	}
	free(order);
}

/* The first divergence, kept per chunk of pairs as results arrive, is what
 * a walk over every pair gives after every result, in a random order, with
 * errors, skips, shape mismatches, cancels and threshold changes; and
 * after results move from a partial comparison to a larger one, judged
 * alike or not. */
static void test_first_divergence_incremental(void **state)
{
	static const char *const phases[] = { "inference", "fwd_only", "fwd_bwd" };
	partials got = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	char base[1024], targ[1024];
	dv_error err;

	(void)state;
	/* 3 phases of 700 tensors (2 100 pairs: several chunks a phase), a
	 * few of them on one side only */
	for (int side = 0; side < 2; side++)
		for (int p = 0; p < 3; p++)
			for (int d = 1; d <= 700; d++) {
				char rel[256];

				if (d % 97 == side * 13 + 5)
					continue;
				snprintf(rel, sizeof(rel), "%s/%s/dump_index=%d___name=x%d.pt", side ? "itarg" : "ibase",
					 phases[p], d, d);
				touch(rel);
			}
	snprintf(base, sizeof(base), "%s", at("ibase"));
	snprintf(targ, sizeof(targ), "%s", at("itarg"));
	dv_comparison_opts o = { .baseline = base, .target = targ, .threshold = 1e-3,
				 .partial = keep_partial, .phase_listed = count_phase, .ctx = &got };
	dv_error_clear(&err);
	dv_comparison *whole = dv_comparison_open(&o, NULL, &err);
	assert_non_null(whole);
	assert_true(whole->npairs > 2000);
	assert_true(whole->nchunks >= 8);
	assert_true(got.n >= 2);
	dv_set_compare_fn(scripted_compare);

	/* the first partial judged by another threshold, its results moved
	 * to the next one: not judged alike, walked again */
	dv_comparison *p0 = got.v[0], *p1 = got.v[got.n - 1];
	dv_counts c0, c1;
	dv_comparison_set_threshold(p0, 1.0);
	assert_first_divergence_walked(p0);
	/* its second half untouched: chunks the adopt passes over */
	compute_checked(p0, p0->npairs / 2, 60);
	assert_first_divergence_walked(p1);   /* what a swap's tree build does first */
	dv_comparison_counts(p0, &c0);
	assert_true(c0.done > 0 && c0.cancelled > 0);
	dv_comparison_adopt(p1, p0);
	dv_comparison_counts(p1, &c1);
	/* every finished pair came over */
	assert_int_equal(c1.done, c0.done);
	assert_int_equal(c1.cancelled, c0.cancelled);
	assert_first_divergence_walked(p1);
	assert_first_divergence_walked(p0);
	compute_checked(p1, p1->npairs * 2 / 3, 50);

	/* the larger one judged alike: what was kept comes over */
	assert_first_divergence_walked(whole);
	dv_comparison_set_threshold(whole, dv_comparison_threshold(p1));
	dv_comparison_counts(p1, &c0);
	assert_true(dv_comparison_adopt(whole, p1) > 0);
	dv_comparison_counts(whole, &c1);
	assert_int_equal(c1.done, c0.done);
	assert_int_equal(c1.cancelled, c0.cancelled);
	assert_first_divergence_walked(whole);
	assert_first_divergence_walked(p1);
	compute_checked(whole, whole->npairs, 100);

	/* states set by hand, then counted again: seen */
	for (size_t i = 0; i < whole->npairs; i++)
		if (whole->pairs[i].kind == DV_PAIR_MATCHED && atomic_load(&whole->pairs[i].state) == DV_PAIR_DONE) {
			atomic_store(&whole->pairs[i].state, DV_PAIR_PENDING);
			break;
		}
	dv_comparison_recount(whole);
	assert_first_divergence_walked(whole);

	dv_set_compare_fn(NULL);
	for (size_t k = 0; k < got.n; k++)
		dv_comparison_free(got.v[k]);
	dv_comparison_free(whole);
}

/* Retiring written pairs (compare) changes no answer: verdicts, messages,
 * the first divergence, the gate, the counts and the diagnosis. */
static void test_retire_keeps_every_answer(void **state)
{
	dv_error err;
	dv_comparison *cmp = open_cmp(NULL, 0, NULL, &err);
	dv_outcome verdict[16], metrics[16];
	const char *message[16];
	char *diagnosis, *again;
	ptrdiff_t first;
	bool known, known_again;
	dv_gate g, g_again;
	dv_counts c, c_again;
	size_t err_pair = 5, retired = 0;

	(void)state;
	assert_non_null(cmp);
	assert_true(cmp->npairs <= 16);
	for (size_t i = 0; i < cmp->npairs; i++)
		if (cmp->pairs[i].kind == DV_PAIR_MATCHED)
			set_compared(&cmp->pairs[i], i == 1 ? 0.4 : i == 4 ? 0.5 : 1e-5 * (double)i);
	assert_int_equal(cmp->pairs[err_pair].kind, DV_PAIR_MATCHED);
	cmp->pairs[err_pair].result->status = DV_RESULT_ERROR;
	dv_result_set_error(cmp->pairs[err_pair].result, "x.pt: unreadable");
	dv_comparison_recount(cmp);
	for (size_t i = 0; i < cmp->npairs; i++) {
		verdict[i] = dv_comparison_verdict(cmp, i, NULL);
		metrics[i] = dv_comparison_metrics_verdict(cmp, i);
		message[i] = dv_comparison_message(cmp, i);
	}
	first = dv_first_divergence(cmp, &known);
	dv_comparison_gate(cmp, NULL, NULL, &g);
	dv_comparison_counts(cmp, &c);
	diagnosis = dv_diagnose(cmp);
	assert_non_null(diagnosis);
	assert_int_equal(first, 1);

	for (size_t i = 0; i < cmp->npairs; i++) {
		bool r = dv_comparison_retire(cmp, i);

		/* the first divergence, an error and a one-sided name stay whole */
		assert_int_equal(r, cmp->pairs[i].kind == DV_PAIR_MATCHED && i != 1 && i != err_pair);
		retired += r;
		if (r)
			assert_ptr_equal(cmp->pairs[i].result, &dv_pair_result_none);
	}
	assert_true(retired >= 7);
	assert_false(dv_comparison_retire(cmp, 0));   /* once */
	assert_true(cmp->pairs[1].result->rel_diff == 0.4);
	for (size_t i = 0; i < cmp->npairs; i++) {
		assert_int_equal(dv_comparison_verdict(cmp, i, NULL), verdict[i]);
		assert_int_equal(dv_comparison_metrics_verdict(cmp, i), metrics[i]);
		assert_string_equal(dv_comparison_message(cmp, i), message[i]);
		assert_false(dv_comparison_no_rule(cmp, i));
	}
	assert_int_equal(dv_first_divergence(cmp, &known_again), first);
	assert_int_equal(known_again, known);
	dv_comparison_gate(cmp, NULL, NULL, &g_again);
	assert_int_equal(g_again.passed, g.passed);
	assert_int_equal(g_again.failed, g.failed);
	assert_int_equal(g_again.errored, g.errored);
	assert_int_equal(g_again.skipped, g.skipped);
	assert_int_equal(g_again.status, g.status);
	dv_comparison_counts(cmp, &c_again);
	assert_memory_equal(&c_again, &c, sizeof(c));
	again = dv_diagnose(cmp);
	assert_non_null(again);
	assert_string_equal(again, diagnosis);
	free(diagnosis);
	free(again);
	dv_comparison_free(cmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base_dir_resolution),
		cmocka_unit_test(test_phase_selection_leaves_runs_whole),
		cmocka_unit_test(test_verdicts_follow_the_threshold),
		cmocka_unit_test(test_pass_rule_replaces_threshold),
		cmocka_unit_test(test_rules_judge_by_name),
		cmocka_unit_test(test_exit_status),
		cmocka_unit_test(test_verdict_at_a_given_threshold),
		cmocka_unit_test(test_open_sequential_and_parallel),
		cmocka_unit_test(test_open_progressive),
		cmocka_unit_test(test_first_divergence_known_and_so_far),
		cmocka_unit_test(test_first_divergence_incremental),
		cmocka_unit_test(test_warnings_and_problems_reachable),
		cmocka_unit_test(test_scan_owned_by_the_comparison),
		cmocka_unit_test(test_retire_keeps_every_answer),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
