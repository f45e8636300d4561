/* The tree model: phase -> layer group -> tensor over a dv_comparison.
 * A layer group is a run of consecutive pairs (execution order) with the same
 * layer, so tensors without a layer (embeddings, logits) form their own group
 * at their place, and a backward pass revisiting layers gets groups of its own. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tree.h"

static bool segs_ready(tui_tree *t);

int tui_tree_init(tui_tree *t, dv_comparison *cmp, dv_error *err)
{
	memset(t, 0, sizeof(*t));
	t->cmp = cmp;
	t->phases = calloc(cmp->nphases ? cmp->nphases : 1, sizeof(*t->phases));
	t->groups = calloc(cmp->npairs ? cmp->npairs : 1, sizeof(*t->groups));
	t->hidden = calloc(cmp->npairs ? cmp->npairs : 1, sizeof(bool));
	t->order = calloc(cmp->npairs ? cmp->npairs : 1, sizeof(size_t));
	t->pmemo = calloc(cmp->nphases ? cmp->nphases : 1, sizeof(*t->pmemo));
	if (!t->phases || !t->groups || !t->hidden || !t->order || !t->pmemo) {
		tui_tree_free(t);
		return dv_error_set(err, "out of memory building the tree");
	}
	for (size_t p = 0; p < cmp->nphases; p++) {
		tphase *ph = &t->phases[p];
		ph->first_group = t->ngroups;
		ph->open = true;
		const dv_phase_pairs *pp = &cmp->phases[p];
		int64_t step0 = pp->count ? cmp->pairs[pp->first].step : -1;
		for (size_t i = pp->first; i < pp->first + pp->count; i++) {
			const dv_pair *pr = &cmp->pairs[i];
			if (pr->step != step0)
				ph->multi_step = true;
			/* A layer's forward tensors and its gradients, dumped apart in
			 * execution order, are separate groups. */
			bool backward = !strncmp(pr->name, "grad__", 6);
			/* Tags repeated in one step (micro-batches) likewise. */
			const dv_dumpfile *f = pr->targ ? pr->targ : pr->base;
			int pass = f ? f->duplicate_index : 0;
			tgroup *last = t->ngroups > ph->first_group ? &t->groups[t->ngroups - 1] : NULL;
			if (!last || last->layer != pr->layer || last->step != pr->step || last->backward != backward ||
			    last->pass != pass) {
				last = &t->groups[t->ngroups++];
				last->phase = p;
				last->layer = pr->layer;
				last->step = pr->step;
				last->backward = backward;
				last->pass = pass;
				last->first = i;
				last->count = 0;
				last->open = false;
			}
			last->count++;
		}
		ph->ngroups = t->ngroups - ph->first_group;
	}
	/* sized for a group a pair, filled with far fewer: 48 bytes a pair
	 * (14 MB at 300 k pairs) given back */
	tgroup *g = realloc(t->groups, (t->ngroups ? t->ngroups : 1) * sizeof(*t->groups));
	if (g)
		t->groups = g;
	return 0;
}

size_t tui_tree_group_of_pair(const tui_tree *t, size_t pair)
{
	/* the groups' ranges follow one another in pair order, phase after
	 * phase, and cover every pair: the last starting at or before it */
	size_t lo = 0, hi = t->ngroups;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->groups[mid].first <= pair)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

int tui_tree_adopt(tui_tree *t, dv_comparison *cmp, dv_error *err)
{
	tui_tree nt;
	if (tui_tree_init(&nt, cmp, err) != 0)
		return -1;
	tui_tree_adopt_built(t, &nt);
	return 0;
}

void tui_tree_adopt_built(tui_tree *t, tui_tree *nt)
{
	const dv_comparison *old = t->cmp, *cmp = nt->cmp;
	/* the old comparison's phases, groups and pairs come first in the new
	 * one, the same: their open flags and filtering carry over */
	size_t np = old->nphases < cmp->nphases ? old->nphases : cmp->nphases;
	for (size_t p = 0; p < np; p++)
		nt->phases[p].open = t->phases[p].open;
	size_t ng = t->ngroups < nt->ngroups ? t->ngroups : nt->ngroups;
	for (size_t g = 0; g < ng; g++)
		nt->groups[g].open = t->groups[g].open;
	size_t n = old->npairs < cmp->npairs ? old->npairs : cmp->npairs;
	memcpy(nt->hidden, t->hidden, n * sizeof(*nt->hidden));
	/* A phase's totals so far hold in the new tree when its pairs are the
	 * same and judged alike (their results moved over, the pass rule set
	 * first): the first frame after a swap then does not count 300 k pairs
	 * again. Marked with the new tree's generation after the rebuild. */
	bool *carried = calloc(np ? np : 1, sizeof(*carried));
	for (size_t p = 0; carried && p < np; p++) {
		const tphase_memo *m = &t->pmemo[p];
		if (!m->valid || m->epoch != old->rule_epoch || m->gen != t->gen ||
		    old->phases[p].first != cmp->phases[p].first || old->phases[p].count != cmp->phases[p].count)
			continue;
		nt->pmemo[p] = *m;
		nt->pmemo[p].epoch = cmp->rule_epoch;
		carried[p] = true;
	}
	/* the chunks' totals marked current before the results moved: the
	 * same pairs and verdicts (re-keyed below, after the rebuild) */
	tseg *old_segs = t->segs;
	size_t *old_phase_seg = t->phase_seg;
	t->segs = NULL;
	t->phase_seg = NULL;
	nt->sort = t->sort;
	nt->filtering = t->filtering;
	nt->gen = t->gen;
	/* the rows as they were: the rebuild finds the selected node again */
	free(nt->rows);
	nt->rows = t->rows;
	nt->nrows = t->nrows;
	nt->rows_cap = t->rows_cap;
	nt->sel = t->sel;
	t->rows = NULL;
	tui_tree_free(t);
	*t = *nt;
	memset(nt, 0, sizeof(*nt));
	tui_tree_rebuild(t);
	for (size_t p = 0; carried && p < np; p++)
		if (carried[p])
			t->pmemo[p].gen = t->gen;
	free(carried);
	for (size_t p = 0; old_segs && p < np && segs_ready(t); p++) {
		const dv_phase_pairs *pp = &cmp->phases[p];
		if (old->phases[p].first != pp->first || old->phases[p].count != pp->count)
			continue;
		size_t end = pp->first + pp->count;
		for (size_t lo = pp->first, k = 0; lo < end; k++) {
			size_t c = lo / DV_CHUNK_PAIRS;
			const tseg *os = &old_segs[old_phase_seg[p] + k];
			tseg *s = &t->segs[t->phase_seg[p] + k];
			uint64_t key;
			if (os->carry && dv_comparison_chunk_key(cmp, c, &key)) {
				*s = *os;
				s->key = key;
				s->epoch = cmp->rule_epoch;
				s->hgen = t->hidden_gen;
				s->carry = false;
			}
			lo = (c + 1) * DV_CHUNK_PAIRS < end ? (c + 1) * DV_CHUNK_PAIRS : end;
		}
	}
	free(old_segs);
	free(old_phase_seg);
}

void tui_tree_mark_totals(tui_tree *t, bool keep)
{
	for (size_t p = 0; t->segs && p < t->cmp->nphases; p++) {
		const dv_phase_pairs *pp = &t->cmp->phases[p];
		size_t end = pp->first + pp->count;
		for (size_t lo = pp->first, k = t->phase_seg[p]; lo < end; k++) {
			size_t c = lo / DV_CHUNK_PAIRS;
			tseg *s = &t->segs[k];
			uint64_t key;
			s->carry = keep && s->valid && dv_comparison_chunk_key(t->cmp, c, &key) && s->key == key &&
				   s->epoch == t->cmp->rule_epoch && s->hgen == t->hidden_gen;
			lo = (c + 1) * DV_CHUNK_PAIRS < end ? (c + 1) * DV_CHUNK_PAIRS : end;
		}
	}
}

void tui_tree_free(tui_tree *t)
{
	free(t->phases);
	free(t->groups);
	free(t->hidden);
	free(t->rows);
	free(t->order);
	free(t->pmemo);
	free(t->segs);
	free(t->phase_seg);
	free(t->hidden_seen);
	memset(t, 0, sizeof(*t));
}

void tui_tree_group_label(const tui_tree *t, size_t g, char *buf, size_t size)
{
	const tgroup *gr = &t->groups[g];
	const tphase *ph = &t->phases[gr->phase];
	/* "layer 3", "layer 3 (backward, pass 2, step 1)", "(no layer, backward)" */
	char extra[80] = "";
	if (gr->backward)
		snprintf(extra, sizeof(extra), ", backward");
	if (gr->pass > 0)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), ", pass %d", gr->pass + 1);
	if (ph->multi_step && gr->step >= 0)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), ", step %lld", (long long)gr->step);
	if (gr->layer >= 0 && extra[0])
		snprintf(buf, size, "layer %d (%s)", gr->layer, extra + 2);
	else if (gr->layer >= 0)
		snprintf(buf, size, "layer %d", gr->layer);
	else
		snprintf(buf, size, "(no layer%s)", extra);
}

/* The comparison's verdict as the explorer draws it: an error is a failure,
 * equal non-tensor values pass. */
pair_verdict tui_tree_verdict(const dv_comparison *cmp, const dv_pair *p)
{
	bool equal;

	switch (dv_comparison_verdict(cmp, (size_t)(p - cmp->pairs), &equal)) {
	case DV_OUTCOME_UNMATCHED: return PV_UNMATCHED;
	case DV_OUTCOME_CANCELLED: return PV_CANCELLED;
	case DV_OUTCOME_PENDING: return PV_PENDING;
	case DV_OUTCOME_PASS: return PV_PASS;
	case DV_OUTCOME_FAIL:
	case DV_OUTCOME_ERROR: return PV_FAIL;
	case DV_OUTCOME_SKIPPED: return equal ? PV_PASS : PV_SKIPPED;
	case DV_OUTCOME_NONE:
	default: return PV_OTHER;
	}
}

bool tui_tree_pair_failed(const dv_comparison *cmp, const dv_pair *p)
{
	return tui_tree_verdict(cmp, p) == PV_FAIL;
}

static void agg_add(const dv_comparison *cmp, tagg *a, const dv_pair *p)
{
	pair_verdict v = tui_tree_verdict(cmp, p);
	if (v == PV_UNMATCHED)
		return;
	a->total++; /* matched pairs only: unmatched ones are never computed */
	if (v == PV_PENDING || v == PV_CANCELLED)
		return;
	a->done++;
	if (v == PV_FAIL)
		a->failed++;
	if (p->result->status == DV_RESULT_COMPARED) {
		double r = p->result->rel_diff;
		if (isnan(r)) {
			a->worst_nan = true;
			a->any_worst = true;
		} else if (!a->any_worst || (!a->worst_nan && r > a->worst)) {
			if (!a->worst_nan)
				a->worst = r;
			a->any_worst = true;
		}
	}
}

void tui_tree_agg_group(const tui_tree *t, size_t g, tagg *a)
{
	memset(a, 0, sizeof(*a));
	const tgroup *gr = &t->groups[g];
	for (size_t i = gr->first; i < gr->first + gr->count; i++) {
		if (t->hidden[i])
			continue;
		a->shown++;
		agg_add(t->cmp, a, &t->cmp->pairs[i]);
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A pair whose verdict no longer changes until the pass rule does. */
static bool pair_final(const dv_pair *p)
{
	return p->kind != DV_PAIR_MATCHED || atomic_load(&p->state) == DV_PAIR_DONE;
}

static void agg_merge(tagg *a, const tagg *b)
{
	a->total += b->total;
	a->done += b->done;
	a->failed += b->failed;
	a->shown += b->shown;
	if (b->any_worst) {
		if (b->worst_nan) {
			a->worst_nan = true;
		} else if (!a->any_worst || (!a->worst_nan && b->worst > a->worst)) {
			if (!a->worst_nan)
				a->worst = b->worst;
		}
		a->any_worst = true;
	}
}

/* The segments of every phase, laid out once: false when the comparison
 * keeps no chunk keys (or out of memory). */
static bool segs_ready(tui_tree *t)
{
	const dv_comparison *cmp = t->cmp;
	uint64_t key;
	size_t n = 0;

	if (t->segs)
		return true;
	if (!dv_comparison_chunk_key(cmp, 0, &key) || !cmp->nphases)
		return false;
	if (!(t->phase_seg = malloc(cmp->nphases * sizeof(*t->phase_seg))))
		return false;
	for (size_t p = 0; p < cmp->nphases; p++) {
		const dv_phase_pairs *pp = &cmp->phases[p];

		t->phase_seg[p] = n;
		if (pp->count)
			n += (pp->first + pp->count - 1) / DV_CHUNK_PAIRS - pp->first / DV_CHUNK_PAIRS + 1;
	}
	if (!(t->segs = calloc(n ? n : 1, sizeof(*t->segs)))) {
		free(t->phase_seg);
		t->phase_seg = NULL;
		return false;
	}
	return true;
}

/* A phase's totals from its chunks: those whose pairs kept their states
 * (and the pass rule and filter) since they were counted are not counted
 * again. False when the comparison keeps no chunk keys. */
static bool agg_phase_chunks(tui_tree *t, size_t p, tagg *a)
{
	const dv_phase_pairs *pp = &t->cmp->phases[p];
	size_t end = pp->first + pp->count;

	if (!segs_ready(t))
		return false;
	memset(a, 0, sizeof(*a));
	for (size_t lo = pp->first, k = t->phase_seg[p]; lo < end; k++) {
		size_t c = lo / DV_CHUNK_PAIRS, hi = (c + 1) * DV_CHUNK_PAIRS < end ? (c + 1) * DV_CHUNK_PAIRS : end;
		tseg *s = &t->segs[k];
		uint64_t key;

		if (!dv_comparison_chunk_key(t->cmp, c, &key))
			return false;
		if (!s->valid || s->key != key || s->epoch != t->cmp->rule_epoch || s->hgen != t->hidden_gen) {
			memset(&s->agg, 0, sizeof(s->agg));
			for (size_t i = lo; i < hi; i++) {
				if (t->hidden[i])
					continue;
				s->agg.shown++;
				agg_add(t->cmp, &s->agg, &t->cmp->pairs[i]);
			}
			s->key = key;
			s->epoch = t->cmp->rule_epoch;
			s->hgen = t->hidden_gen;
			s->valid = true;
		}
		agg_merge(a, &s->agg);
		lo = hi;
	}
	return true;
}

void tui_tree_agg_phase(tui_tree *t, size_t p, tagg *a)
{
	const dv_phase_pairs *pp = &t->cmp->phases[p];
	tphase_memo *m = &t->pmemo[p];
	size_t end = pp->first + pp->count, key;
	dv_counts c;
	tagg tail;

	if (agg_phase_chunks(t, p, a))
		return;

	if (!m->valid || m->epoch != t->cmp->rule_epoch || m->gen != t->gen) {
		memset(m, 0, sizeof(*m));
		m->valid = true;
		m->epoch = t->cmp->rule_epoch;
		m->gen = t->gen;
		m->pos = pp->first;
	}
	/* the final prefix grows: fold it in once */
	for (; m->pos < end && pair_final(&t->cmp->pairs[m->pos]); m->pos++) {
		if (t->hidden[m->pos])
			continue;
		m->prefix.shown++;
		agg_add(t->cmp, &m->prefix, &t->cmp->pairs[m->pos]);
	}
	if (m->pos == end) {
		*a = m->prefix;
		return;
	}
	/* the rest changes as pairs finish: counted again when some did, but
	 * while they keep finishing at most every TUI_AGG_STALE_MS */
	dv_comparison_counts(t->cmp, &c);
	key = c.done + c.cancelled;
	if (m->have_last && (key == m->last_key || (t->throttle && now_ms() - m->last_ms < TUI_AGG_STALE_MS))) {
		if (key != m->last_key)
			t->agg_stale = true;
		*a = m->last;
		return;
	}
	memset(&tail, 0, sizeof(tail));
	for (size_t i = m->pos; i < end; i++) {
		if (t->hidden[i])
			continue;
		tail.shown++;
		agg_add(t->cmp, &tail, &t->cmp->pairs[i]);
	}
	*a = m->prefix;
	agg_merge(a, &tail);
	m->last = *a;
	m->last_ms = now_ms();
	m->last_key = key;
	m->have_last = true;
}

/* Sort keys: worst first for rel_diff (NaN worst, pending last). */
static double sort_rel(const dv_comparison *cmp, const dv_pair *p)
{
	if (p->kind != DV_PAIR_MATCHED || atomic_load(&p->state) != DV_PAIR_DONE)
		return -2;
	if (p->result->status == DV_RESULT_COMPARED)
		return isnan(p->result->rel_diff) ? INFINITY : p->result->rel_diff;
	return tui_tree_verdict(cmp, p) == PV_FAIL ? INFINITY : -1;
}

/* qsort has no context argument in C11: each entry carries its key,
 * computed once before sorting. */
typedef struct skey {
	double rel;
	const char *name;
	size_t i;
} skey;

static int cmp_rel(const void *a, const void *b)
{
	const skey *ka = a, *kb = b;
	if (ka->rel != kb->rel)
		return ka->rel > kb->rel ? -1 : 1;
	return ka->i < kb->i ? -1 : ka->i > kb->i;
}

static int cmp_name(const void *a, const void *b)
{
	const skey *ka = a, *kb = b;
	int c = strcmp(ka->name, kb->name);
	if (c)
		return c;
	return ka->i < kb->i ? -1 : ka->i > kb->i;
}

static double group_key(const tui_tree *t, size_t g)
{
	tagg a;
	tui_tree_agg_group(t, g, &a);
	if (a.worst_nan)
		return INFINITY;
	return a.any_worst ? a.worst : -1;
}

/* Sorts out[0..n) (pair or group indices) by the keys filled in keys. */
static void sort_keyed(size_t *out, skey *keys, size_t n, int (*cmp)(const void *, const void *))
{
	qsort(keys, n, sizeof(*keys), cmp);
	for (size_t k = 0; k < n; k++)
		out[k] = keys[k].i;
}

static void push_row(tui_tree *t, tnode_kind kind, size_t phase, size_t group, size_t pair)
{
	if (t->nrows == t->rows_cap) {
		size_t cap = t->rows_cap ? t->rows_cap * 2 : 256;
		trow *r = realloc(t->rows, cap * sizeof(*r));
		if (!r)
			return;
		t->rows = r;
		t->rows_cap = cap;
	}
	t->rows[t->nrows++] = (trow){ kind, phase, group, pair };
}

/* The pairs of group g that are shown, in display order, into out; returns the count. */
static size_t group_pairs_sorted(const tui_tree *t, size_t g, size_t *out)
{
	const tgroup *gr = &t->groups[g];
	size_t n = 0;
	for (size_t i = gr->first; i < gr->first + gr->count; i++)
		if (!t->hidden[i])
			out[n++] = i;
	if (t->sort == SORT_EXEC || n < 2)
		return n;
	skey *keys = malloc(n * sizeof(*keys));
	if (!keys)
		return n; /* out of memory: execution order */
	for (size_t k = 0; k < n; k++) {
		const dv_pair *p = &t->cmp->pairs[out[k]];
		keys[k] = (skey){ t->sort == SORT_REL ? sort_rel(t->cmp, p) : 0, p->name, out[k] };
	}
	sort_keyed(out, keys, n, t->sort == SORT_REL ? cmp_rel : cmp_name);
	free(keys);
	return n;
}

/* The groups of phase p in display order into out; returns the count. */
static size_t phase_groups_sorted(const tui_tree *t, size_t p, size_t *out)
{
	const tphase *ph = &t->phases[p];
	size_t n = 0;
	for (size_t g = ph->first_group; g < ph->first_group + ph->ngroups; g++)
		out[n++] = g;
	if (t->sort != SORT_REL || n < 2)
		return n;
	skey *keys = malloc(n * sizeof(*keys));
	if (!keys)
		return n;
	for (size_t k = 0; k < n; k++)
		keys[k] = (skey){ group_key(t, out[k]), NULL, out[k] };
	sort_keyed(out, keys, n, cmp_rel);
	free(keys);
	return n;
}

static size_t group_shown(const tui_tree *t, size_t g)
{
	const tgroup *gr = &t->groups[g];
	size_t n = 0;
	for (size_t i = gr->first; i < gr->first + gr->count; i++)
		n += !t->hidden[i];
	return n;
}

size_t *tui_tree_flat_pairs(const tui_tree *t, size_t *n)
{
	size_t *out = malloc((t->cmp->npairs ? t->cmp->npairs : 1) * sizeof(size_t));
	size_t *gorder = malloc((t->ngroups ? t->ngroups : 1) * sizeof(size_t));
	*n = 0;
	if (!out || !gorder) {
		free(out);
		free(gorder);
		return NULL;
	}
	for (size_t p = 0; p < t->cmp->nphases; p++) {
		size_t ng = phase_groups_sorted(t, p, gorder);
		for (size_t k = 0; k < ng; k++)
			*n += group_pairs_sorted(t, gorder[k], out + *n);
	}
	free(gorder);
	return out;
}

/* Whether hidden differs from what the last call saw (true the first
 * time, or out of memory), keeping it as bits (1 B a pair less). */
static bool hidden_changed(tui_tree *t)
{
	size_t np = t->cmp->npairs, nw = (np + 63) / 64;
	bool changed = !t->hidden_seen;

	if (!t->hidden_seen && !(t->hidden_seen = calloc(nw ? nw : 1, sizeof(*t->hidden_seen))))
		return true;
	for (size_t w = 0; w < nw; w++) {
		size_t end = (w + 1) * 64 < np ? (w + 1) * 64 : np;
		uint64_t bits = 0;

		for (size_t i = w * 64; i < end; i++)
			bits |= (uint64_t)t->hidden[i] << (i - w * 64);
		if (bits != t->hidden_seen[w]) {
			t->hidden_seen[w] = bits;
			changed = true;
		}
	}
	return changed;
}

void tui_tree_rebuild(tui_tree *t)
{
	t->gen++;   /* hidden may have changed: the phase totals are counted again */
	/* the chunks' totals only when it did (opening a node changes
	 * nothing there): 300 k flags compared, not 300 k pairs judged */
	if (hidden_changed(t))
		t->hidden_gen++;
	trow keep = { TN_PHASE, 0, 0, 0 };
	bool have_keep = false;
	if (t->sel < t->nrows) {
		keep = t->rows[t->sel];
		have_keep = true;
	}
	size_t *gorder = malloc((t->ngroups ? t->ngroups : 1) * sizeof(size_t));
	if (!gorder)
		return;
	t->nrows = 0;
	for (size_t p = 0; p < t->cmp->nphases; p++) {
		const dv_phase_pairs *pp = &t->cmp->phases[p];
		size_t shown = 0;
		for (size_t i = pp->first; i < pp->first + pp->count; i++)
			shown += !t->hidden[i];
		if (t->filtering && !shown)
			continue;
		push_row(t, TN_PHASE, p, 0, 0);
		if (!t->phases[p].open)
			continue;
		size_t ng = phase_groups_sorted(t, p, gorder);
		for (size_t k = 0; k < ng; k++) {
			size_t g = gorder[k];
			if (!group_shown(t, g))
				continue;
			push_row(t, TN_GROUP, p, g, 0);
			if (!t->groups[g].open)
				continue;
			size_t n = group_pairs_sorted(t, g, t->order);
			for (size_t j = 0; j < n; j++)
				push_row(t, TN_TENSOR, p, g, t->order[j]);
		}
	}
	free(gorder);
	/* Keep the selection on the same node, else on its nearest ancestor. */
	if (have_keep) {
		size_t best = 0;
		int best_depth = -1;
		for (size_t r = 0; r < t->nrows; r++) {
			const trow *row = &t->rows[r];
			int depth = -1;
			if (row->kind == TN_PHASE && row->phase == keep.phase)
				depth = 0;
			else if (row->kind == TN_GROUP && keep.kind != TN_PHASE && row->group == keep.group)
				depth = 1;
			else if (row->kind == TN_TENSOR && keep.kind == TN_TENSOR && row->pair == keep.pair)
				depth = 2;
			if (depth > best_depth) {
				best_depth = depth;
				best = r;
			}
		}
		t->sel = best;
	}
	if (t->sel >= t->nrows)
		t->sel = t->nrows ? t->nrows - 1 : 0;
}

ptrdiff_t tui_tree_row_of_pair(const tui_tree *t, size_t pair)
{
	for (size_t r = 0; r < t->nrows; r++)
		if (t->rows[r].kind == TN_TENSOR && t->rows[r].pair == pair)
			return (ptrdiff_t)r;
	return -1;
}

ptrdiff_t tui_tree_open_pair(tui_tree *t, size_t pair)
{
	if (pair >= t->cmp->npairs || t->hidden[pair])
		return -1;
	size_t g = tui_tree_group_of_pair(t, pair);
	t->groups[g].open = true;
	t->phases[t->groups[g].phase].open = true;
	tui_tree_rebuild(t);
	return tui_tree_row_of_pair(t, pair);
}
