/* The explorer's tree model without curses: layer groups in execution order
 * (tensors with no layer in their own group at their place, a backward pass
 * revisiting layers in groups of its own), aggregates and the first
 * divergence under a threshold, sorts, filters. It links without ncurses:
 * the tree takes the comparison, not the explorer. Runs on the example
 * dumps ($EXAMPLES). */
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "../src/tui/tree.h"
#include "dumpview/metrics.h"

/* A comparison and its tree, every matched pair computed. */
typedef struct fixture {
	dv_comparison *cmp;
	tui_tree tree;
	pcre2_code *filter_re;
} fixture;

static fixture *open_runs(const char *ex, double threshold)
{
	char b[4096], t[4096];
	dv_error err;
	dv_run_opts ro = {.base_dir = DV_DEFAULT_BASE_DIR};
	fixture *app = calloc(1, sizeof(*app));

	assert_non_null(ex);
	assert_non_null(app);
	snprintf(b, sizeof(b), "%s/baseline", ex);
	snprintf(t, sizeof(t), "%s/target", ex);
	dv_error_clear(&err);
	dv_run *base = dv_run_open(b, &ro, &err);
	dv_run *targ = dv_run_open(t, &ro, &err);
	assert_non_null(base);
	assert_non_null(targ);
	app->cmp = dv_comparison_build(base, targ, NULL, &err);
	assert_non_null(app->cmp);
	assert_int_equal(tui_tree_init(&app->tree, app->cmp, &err), 0);
	dv_comparison_set_threshold(app->cmp, threshold);
	dv_metrics_opts o = dv_metrics_opts_default();
	o.threshold = threshold;
	for (size_t i = 0; i < app->cmp->npairs; i++)
		if (app->cmp->pairs[i].kind == DV_PAIR_MATCHED)
			dv_pair_compute(&app->cmp->pairs[i], &o);
	tui_tree_rebuild(&app->tree);
	return app;
}

static fixture *open_examples(double threshold)
{
	return open_runs(getenv("EXAMPLES"), threshold);
}

static void close_app(fixture *app)
{
	tui_tree_free(&app->tree);
	dv_comparison_free(app->cmp);
	pcre2_code_free(app->filter_re);
	free(app);
}

static size_t phase_index(fixture *app, const char *name)
{
	for (size_t p = 0; p < app->cmp->nphases; p++)
		if (!strcmp(app->cmp->phases[p].name, name))
			return p;
	fail_msg("no phase %s", name);
	return 0;
}

static void test_groups_in_execution_order(void **state)
{
	(void)state;
	fixture *app = open_examples(1e-3);
	/* fwd_bwd: forward layers, the no-layer logits, then the gradients
	 * (grad__*) in their own groups: logits' and final norm's, the backward
	 * pass from layer 5 down, the embedding's. */
	static const int fwd_bwd[] = { -1, 0, 1, 2, 3, 4, 5, -1, -1, 5, 4, 3, 2, 1, 0, -1 };
	static const bool bwd[] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1 };
	size_t p = phase_index(app, "fwd_bwd");
	const tphase *ph = &app->tree.phases[p];
	assert_int_equal(ph->ngroups, sizeof(fwd_bwd) / sizeof(fwd_bwd[0]));
	for (size_t g = 0; g < ph->ngroups; g++) {
		assert_int_equal(app->tree.groups[ph->first_group + g].layer, fwd_bwd[g]);
		assert_int_equal(app->tree.groups[ph->first_group + g].backward, bwd[g]);
	}
	char label[64];
	tui_tree_group_label(&app->tree, ph->first_group + 9, label, sizeof(label));
	assert_string_equal(label, "layer 5 (backward)");
	tui_tree_group_label(&app->tree, ph->first_group + 8, label, sizeof(label));
	assert_string_equal(label, "(no layer, backward)");
	/* inference: input_ids, positions, rids, qkv_format, embed_output first. */
	p = phase_index(app, "inference");
	ph = &app->tree.phases[p];
	assert_int_equal(ph->ngroups, 8);
	const tgroup *first = &app->tree.groups[ph->first_group];
	assert_int_equal(first->layer, -1);
	assert_int_equal(first->count, 5);
	assert_string_equal(app->cmp->pairs[first->first].name, "input_ids");
	tui_tree_group_label(&app->tree, ph->first_group + 3, label, sizeof(label));
	assert_string_equal(label, "layer 2");
	tui_tree_group_label(&app->tree, ph->first_group, label, sizeof(label));
	assert_string_equal(label, "(no layer)");
	/* every pair's group (found, not kept) holds it and lies in its phase */
	for (size_t i = 0; i < app->cmp->npairs; i++) {
		size_t g = tui_tree_group_of_pair(&app->tree, i);
		const tgroup *gr = &app->tree.groups[g];
		assert_true(g < app->tree.ngroups);
		assert_true(gr->first <= i && i < gr->first + gr->count);
		assert_int_equal(gr->phase, app->cmp->pairs[i].phase);
	}
	close_app(app);
}

static void test_aggregates_and_first_divergence(void **state)
{
	(void)state;
	fixture *app = open_examples(1e-3);
	/* expected.json: inference 26 failed; fwd_only 25; fwd_bwd 61. */
	static const struct { const char *phase; size_t failed; } want[] = {
		{ "inference", 26 }, { "fwd_only", 25 }, { "fwd_bwd", 61 },
	};
	for (size_t i = 0; i < 3; i++) {
		tagg a;
		tui_tree_agg_phase(&app->tree, phase_index(app, want[i].phase), &a);
		assert_int_equal(a.failed, want[i].failed);
		assert_int_equal(a.done, a.total);
	}
	/* fwd_only has two target-only files: shown, not compared. */
	tagg a;
	tui_tree_agg_phase(&app->tree, phase_index(app, "fwd_only"), &a);
	assert_int_equal(a.shown, 46);
	assert_int_equal(a.total, 44);
	bool known;
	ptrdiff_t first_div = dv_first_divergence(app->cmp, &known);
	assert_true(known);
	assert_true(first_div >= 0);
	const dv_pair *fd = &app->cmp->pairs[first_div];
	assert_string_equal(fd->name, "mlp_output");
	assert_int_equal(fd->layer, 2);
	assert_string_equal(app->cmp->phases[fd->phase].name, "inference");
	/* Worst of layer 2 in inference is mlp_output's 0.0316. */
	tui_tree_agg_group(&app->tree, tui_tree_group_of_pair(&app->tree, first_div), &a);
	assert_int_equal(a.failed, 2);
	assert_true(fabs(a.worst - 0.03162228104648879) < 1e-9);
	/* A looser threshold moves the first divergence nowhere else but counts fewer failures. */
	dv_comparison_set_threshold(app->cmp, 0.01);
	first_div = dv_first_divergence(app->cmp, &known);
	assert_string_equal(app->cmp->pairs[first_div].name, "mlp_output");
	tui_tree_agg_phase(&app->tree, phase_index(app, "inference"), &a);
	assert_int_equal(a.failed, 4);
	/* Above every rel_diff: no divergence at all. */
	dv_comparison_set_threshold(app->cmp, 1.0);
	first_div = dv_first_divergence(app->cmp, &known);
	assert_int_equal(first_div, -1);
	assert_true(known);

	/* Non-tensor values that differ (request ids, say) are skipped as the
	 * comparator does: shown, never a failure, never the first divergence. */
	dv_comparison_set_threshold(app->cmp, 1e-3);
	dv_pair *first_pair = &app->cmp->pairs[app->cmp->phases[phase_index(app, "inference")].first];
	first_pair->result->status = DV_RESULT_NON_TENSOR;
	first_pair->result->equal = false;
	assert_int_equal(tui_tree_verdict(app->cmp, first_pair), PV_SKIPPED);
	assert_false(tui_tree_pair_failed(app->cmp, first_pair));
	first_div = dv_first_divergence(app->cmp, &known);
	assert_string_equal(app->cmp->pairs[first_div].name, "mlp_output");
	tui_tree_agg_phase(&app->tree, phase_index(app, "inference"), &a);
	assert_int_equal(a.failed, 26);
	first_pair->result->equal = true;
	assert_int_equal(tui_tree_verdict(app->cmp, first_pair), PV_PASS);
	close_app(app);
}

/* Tags repeated in one step (micro-batches: duplicate_index) start groups
 * of their own, labelled with the pass. */
static void test_repeated_tags_are_passes(void **state)
{
	(void)state;
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/compare/edge", getenv("FIXTURES"));
	fixture *app = open_runs(dir, 1e-3);
	size_t seen = 0;
	for (size_t i = 0; i < app->cmp->npairs; i++) {
		const dv_pair *p = &app->cmp->pairs[i];
		if (strcmp(p->name, "dup"))
			continue;
		size_t g = tui_tree_group_of_pair(&app->tree, i);
		char label[64];
		tui_tree_group_label(&app->tree, g, label, sizeof(label));
		assert_int_equal(app->tree.groups[g].pass, (int)seen);
		assert_string_equal(label, seen ? "layer 2 (pass 2, step 0)" : "layer 2 (step 0)");
		seen++;
	}
	assert_int_equal(seen, 2);
	close_app(app);
}

static void test_sorts_and_filter(void **state)
{
	(void)state;
	fixture *app = open_examples(1e-3);
	size_t n;
	size_t *flat = tui_tree_flat_pairs(&app->tree, &n);
	assert_int_equal(n, app->cmp->npairs);
	for (size_t i = 1; i < n; i++)
		assert_true(flat[i] > flat[i - 1]); /* execution order */
	free(flat);

	app->tree.sort = SORT_REL;
	flat = tui_tree_flat_pairs(&app->tree, &n);
	/* Within a group, rel_diff never increases. */
	for (size_t i = 1; i < n; i++) {
		const dv_pair *a = &app->cmp->pairs[flat[i - 1]], *b = &app->cmp->pairs[flat[i]];
		if (tui_tree_group_of_pair(&app->tree, flat[i]) == tui_tree_group_of_pair(&app->tree, flat[i - 1]) &&
		    a->result->status == DV_RESULT_COMPARED && b->result->status == DV_RESULT_COMPARED)
			assert_true(a->result->rel_diff >= b->result->rel_diff);
	}
	free(flat);

	app->tree.sort = SORT_NAME;
	flat = tui_tree_flat_pairs(&app->tree, &n);
	for (size_t i = 1; i < n; i++)
		if (tui_tree_group_of_pair(&app->tree, flat[i]) == tui_tree_group_of_pair(&app->tree, flat[i - 1]))
			assert_true(strcmp(app->cmp->pairs[flat[i - 1]].name, app->cmp->pairs[flat[i]].name) <= 0);
	free(flat);
	app->tree.sort = SORT_EXEC;

	/* Filter: only moe_topk_ids (3 phases x layers 1, 3, 5). */
	dv_error err;
	app->filter_re = dv_regex_compile("moe_topk", true, &err);
	assert_non_null(app->filter_re);
	for (size_t i = 0; i < app->cmp->npairs; i++)
		app->tree.hidden[i] = dv_regex_test(app->filter_re, app->cmp->pairs[i].name) != DV_REGEX_MATCH;
	tui_tree_rebuild(&app->tree);
	flat = tui_tree_flat_pairs(&app->tree, &n);
	assert_int_equal(n, 9);
	free(flat);
	/* Rows: 3 phases and 9 groups, all groups closed. */
	assert_int_equal(app->tree.nrows, 12);
	/* Selecting a pair opens its path. */
	size_t pair = app->tree.groups[app->tree.phases[0].first_group + 2].first;
	while (app->tree.hidden[pair])
		pair++;
	ptrdiff_t row = tui_tree_open_pair(&app->tree, pair);
	assert_true(row >= 0);
	assert_int_equal(app->tree.rows[row].kind, TN_TENSOR);
	assert_int_equal(app->tree.rows[row].pair, pair);
	/* A rebuild keeps the selection on its node. */
	app->tree.sel = (size_t)row;
	app->tree.sort = SORT_NAME;
	tui_tree_rebuild(&app->tree);
	assert_int_equal(app->tree.rows[app->tree.sel].kind, TN_TENSOR);
	assert_int_equal(app->tree.rows[app->tree.sel].pair, pair);
	close_app(app);
}

/* A phase row's totals as a count of every shown pair of the phase. */
static void agg_counted(const tui_tree *t, size_t p, tagg *a)
{
	const dv_phase_pairs *pp = &t->cmp->phases[p];

	memset(a, 0, sizeof(*a));
	for (size_t i = pp->first; i < pp->first + pp->count; i++) {
		if (t->hidden[i])
			continue;
		a->shown++;
		pair_verdict v = tui_tree_verdict(t->cmp, &t->cmp->pairs[i]);
		if (v == PV_UNMATCHED)
			continue;
		a->total++;
		if (v == PV_PENDING || v == PV_CANCELLED)
			continue;
		a->done++;
		a->failed += v == PV_FAIL;
		if (t->cmp->pairs[i].result->status == DV_RESULT_COMPARED) {
			double r = t->cmp->pairs[i].result->rel_diff;
			a->any_worst = true;
			if (isnan(r))
				a->worst_nan = true;
			else if (!(a->worst >= r))
				a->worst = r;
		}
	}
}

static void assert_totals_counted(tui_tree *t)
{
	for (size_t p = 0; p < t->cmp->nphases; p++) {
		tagg a, b;
		tui_tree_agg_phase(t, p, &a);
		agg_counted(t, p, &b);
		assert_int_equal(a.shown, b.shown);
		assert_int_equal(a.total, b.total);
		assert_int_equal(a.done, b.done);
		assert_int_equal(a.failed, b.failed);
		assert_int_equal(a.any_worst, b.any_worst);
		assert_int_equal(a.worst_nan, b.worst_nan);
		if (a.any_worst && !a.worst_nan)
			assert_true(a.worst == b.worst);
	}
}

typedef struct partials {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	dv_comparison *v[8];
	size_t n;
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

/* Each run goes on after a phase once the comparison of the phases
 * listed so far was handed over: a partial comparison a phase, the last
 * of them all three. */
static void hold_phase(void *ctx, int side, size_t n)
{
	partials *p = ctx;
	(void)side;
	pthread_mutex_lock(&p->mu);
	while (p->n < n)
		pthread_cond_wait(&p->cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

static unsigned rng_state = 777;

static unsigned rng(void)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return rng_state >> 8;
}

/* Computes the pending matched pairs of cmp before upto in a random order,
 * the phase totals checked against a count after each. */
static void compute_checked(tui_tree *t, size_t upto)
{
	dv_comparison *cmp = t->cmp;
	size_t *order = malloc((cmp->npairs ? cmp->npairs : 1) * sizeof(*order)), n = 0;
	dv_metrics_opts o = dv_metrics_opts_default();

	assert_non_null(order);
	for (size_t i = 0; i < upto && i < cmp->npairs; i++)
		if (cmp->pairs[i].kind == DV_PAIR_MATCHED && atomic_load(&cmp->pairs[i].state) == DV_PAIR_PENDING)
			order[n++] = i;
	for (size_t k = n; k > 1; k--) {
		size_t j = rng() % k, x = order[k - 1];
		order[k - 1] = order[j];
		order[j] = x;
	}
	for (size_t k = 0; k < n; k++) {
		dv_pair_compute(&cmp->pairs[order[k]], &o);
		assert_totals_counted(t);
	}
	free(order);
}

/* Phase totals kept per chunk of pairs are a count of the phase's pairs
 * after every result, in a random order, after the filter and the
 * threshold change, and after the tree and the results move to a larger
 * comparison of the progressive listing (the totals counted so far carry
 * over). */
static int stand_in_compare(const char *base_path, const char *targ_path, const dv_metrics_opts *opts,
			    dv_pair_result *result)
{
	(void)base_path;
	(void)opts;
	unsigned h = 5381;
	for (const char *c = targ_path; *c; c++)
		h = h * 33 + (unsigned char)*c;
	memset(result, 0, sizeof(*result));
	result->max_abs_diff_index = -1;
	result->status = h % 41 == 0 ? DV_RESULT_SHAPE_MISMATCH : DV_RESULT_COMPARED;
	result->rel_diff = h % 53 == 0 ? NAN : h % 17 == 0 ? 0.005 : (double)(h % 1000) * 1e-7;
	result->passed = result->rel_diff <= 1e-3;
	return 0;
}

/* Runs of 3 phases x 500 empty files (1 500 pairs: several chunks), a few
 * on one side only, under a fresh folder; returns it. */
static char *make_runs(void)
{
	static const char *const phases[] = { "inference", "fwd_only", "fwd_bwd" };
	char tmpl[] = "/tmp/dvtreeXXXXXX";
	char *root = mkdtemp(tmpl), path[4096];

	assert_non_null(root);
	for (int side = 0; side < 2; side++)
		for (int p = 0; p < 3; p++) {
			snprintf(path, sizeof(path), "%s/%s", root, side ? "targ" : "base");
			mkdir(path, 0755);
			snprintf(path, sizeof(path), "%s/%s/%s", root, side ? "targ" : "base", phases[p]);
			assert_int_equal(mkdir(path, 0755), 0);
			for (int d = 1; d <= 500; d++) {
				if (d % 89 == side * 7 + 3)
					continue;
				snprintf(path, sizeof(path), "%s/%s/%s/dump_index=%d___name=%s%d___layer_id=%d.pt", root,
					 side ? "targ" : "base", phases[p], d, d % 3 ? "attn" : "mlp", d, d / 40);
				FILE *f = fopen(path, "w");
				assert_non_null(f);
				fclose(f);
			}
		}
	return strdup(root);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void test_phase_totals_incremental(void **state)
{
	(void)state;
	partials got = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	char b[4096], t[4096];
	char *root = make_runs();
	dv_error err;

	dv_set_compare_fn(stand_in_compare);
	snprintf(b, sizeof(b), "%s/base", root);
	snprintf(t, sizeof(t), "%s/targ", root);
	dv_comparison_opts co = { .baseline = b, .target = t, .threshold = 1e-3,
				  .partial = keep_partial, .phase_listed = hold_phase, .ctx = &got };
	dv_error_clear(&err);
	dv_comparison *whole = dv_comparison_open(&co, NULL, &err);
	assert_non_null(whole);
	assert_int_equal(got.n, 3);
	dv_comparison *part = got.v[1];
	assert_true(part->npairs < whole->npairs);
	assert_true(part->nchunks >= 4);

	tui_tree tree, next;
	assert_int_equal(tui_tree_init(&tree, part, &err), 0);
	tui_tree_rebuild(&tree);
	assert_totals_counted(&tree);
	compute_checked(&tree, part->npairs * 2 / 3);

	/* a result the totals have not seen yet: its chunk is not carried */
	dv_metrics_opts o = dv_metrics_opts_default();
	for (size_t i = part->npairs; i-- > 0;)
		if (part->pairs[i].kind == DV_PAIR_MATCHED && atomic_load(&part->pairs[i].state) == DV_PAIR_PENDING) {
			dv_pair_compute(&part->pairs[i], &o);
			break;
		}
	/* the swap: the pass rule, the marks, the results, the tree */
	assert_int_equal(tui_tree_init(&next, whole, &err), 0);
	dv_comparison_set_threshold(whole, dv_comparison_threshold(part));
	dv_counts c;
	dv_comparison_counts(part, &c);
	tui_tree_mark_totals(&tree, true);
	assert_int_equal(dv_comparison_adopt(whole, part), c.done + c.cancelled);
	tui_tree_adopt_built(&tree, &next);
	size_t carried = 0;
	for (size_t k = 0; tree.segs && k < tree.phase_seg[tree.cmp->nphases - 1]; k++)
		carried += tree.segs[k].valid;
	assert_true(carried > 0);
	assert_totals_counted(&tree);
	compute_checked(&tree, whole->npairs / 2);

	/* a filter, then a looser threshold */
	for (size_t i = 0; i < whole->npairs; i++)
		tree.hidden[i] = strstr(whole->pairs[i].name, "mlp") != NULL;
	tui_tree_rebuild(&tree);
	assert_totals_counted(&tree);
	dv_comparison_set_threshold(whole, 0.01);
	assert_totals_counted(&tree);
	compute_checked(&tree, whole->npairs);
	memset(tree.hidden, 0, whole->npairs * sizeof(*tree.hidden));
	tui_tree_rebuild(&tree);
	assert_totals_counted(&tree);

	tui_tree_free(&tree);
	for (size_t k = 0; k < got.n; k++)
		dv_comparison_free(got.v[k]);
	dv_comparison_free(whole);
	dv_set_compare_fn(NULL);
	nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_groups_in_execution_order),
		cmocka_unit_test(test_aggregates_and_first_divergence),
		cmocka_unit_test(test_repeated_tags_are_passes),
		cmocka_unit_test(test_sorts_and_filter),
		cmocka_unit_test(test_phase_totals_incremental),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
