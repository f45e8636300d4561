/* Pairing two runs by the comparator's rule: a target file pairs with the
 * baseline file of the same phase that has the same tags except dump_index;
 * equal tags are told apart by duplicate_index (their order by dump_index).
 * Pairs come out in execution order: phase, step, dump_index, rank. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/dump.h"

/* One side's file with its pairing key. */
typedef struct keyed {
	char *key;              /* tags but dump_index, sorted by key, "k=v\x1f" each */
	dv_dumpfile *file;
} keyed;

static int cmp_tag_ptr(const void *a, const void *b)
{
	const dv_tag *x = *(const dv_tag *const *)a, *y = *(const dv_tag *const *)b;
	int c = strcmp(x->key, y->key);

	return c ? c : strcmp(x->value, y->value);
}

static char *pairing_key(const dv_dumpfile *f)
{
	const dv_tag **sorted = malloc((f->ntags + 1) * sizeof(*sorted));
	size_t n = 0, len = 1;
	char *key, *p;

	if (!sorted)
		return NULL;
	for (size_t i = 0; i < f->ntags; i++) {
		if (!strcmp(f->tags[i].key, "dump_index"))
			continue;
		sorted[n++] = &f->tags[i];
		len += strlen(f->tags[i].key) + strlen(f->tags[i].value) + 2;
	}
	qsort(sorted, n, sizeof(*sorted), cmp_tag_ptr);
	key = malloc(len);
	if (key) {
		p = key;
		for (size_t i = 0; i < n; i++) {
			size_t kl = strlen(sorted[i]->key), vl = strlen(sorted[i]->value);

			memcpy(p, sorted[i]->key, kl);
			p += kl;
			*p++ = '=';
			memcpy(p, sorted[i]->value, vl);
			p += vl;
			*p++ = '\x1f';
		}
		*p = '\0';
	}
	free(sorted);
	/* A file name without tags is all there is to tell such files apart
	 * (otherwise they would all pair by order alone). */
	if (key && !f->nfile_tags) {
		size_t named_len = len + strlen(f->stem) + 2;
		char *named = malloc(named_len);

		if (named)
			snprintf(named, named_len, "%s\x1e%s", key, f->stem);
		free(key);
		key = named;
	}
	return key;
}

/* Key, then dump order (dump_index, then file name): gives duplicate_index. */
static int cmp_keyed(const void *a, const void *b)
{
	const keyed *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	if (c)
		return c;
	if (x->file->duplicate_index != y->file->duplicate_index)
		return x->file->duplicate_index < y->file->duplicate_index ? -1 : 1;
	if (x->file->dump_index != y->file->dump_index)
		return x->file->dump_index < y->file->dump_index ? -1 : 1;
	return strcmp(x->file->relpath, y->file->relpath);
}

static void free_keyed(keyed *k, size_t n)
{
	if (!k)
		return;
	for (size_t i = 0; i < n; i++)
		free(k[i].key);
	free(k);
}

/* Keys one phase's files and sets their duplicate_index; sorted by (key, duplicate_index). */
static keyed *key_files(dv_phase *ph, dv_error *err)
{
	keyed *k;

	if (!ph)
		return NULL;
	k = calloc(ph->nfiles ? ph->nfiles : 1, sizeof(*k));
	if (!k)
		goto oom;
	for (size_t i = 0; i < ph->nfiles; i++) {
		k[i].file = &ph->files[i];
		ph->files[i].duplicate_index = 0;
		if (!(k[i].key = pairing_key(&ph->files[i]))) {
			free_keyed(k, i);
			goto oom;
		}
	}
	qsort(k, ph->nfiles, sizeof(*k), cmp_keyed);
	for (size_t i = 1; i < ph->nfiles; i++)
		if (!strcmp(k[i].key, k[i - 1].key))
			k[i].file->duplicate_index = k[i - 1].file->duplicate_index + 1;
	return k;
oom:
	dv_error_set(err, "phase %s: out of memory", ph->name);
	return NULL;
}

static const dv_dumpfile *pair_file(const dv_pair *p)
{
	return p->targ ? p->targ : p->base;
}

/* Execution order within a phase: step, dump_index (the target's; an
 * unmatched file's own), rank; then name, matched first, file name. */
static int cmp_pair(const void *a, const void *b)
{
	const dv_pair *x = a, *y = b;
	const dv_dumpfile *fx = pair_file(x), *fy = pair_file(y);
	int c;

	if (x->step != y->step)
		return x->step < y->step ? -1 : 1;
	if (fx->dump_index != fy->dump_index)
		return fx->dump_index < fy->dump_index ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if ((c = strcmp(x->name, y->name)))
		return c;
	if (x->kind != y->kind)
		return (int)x->kind - (int)y->kind;
	return strcmp(fx->relpath, fy->relpath);
}

typedef struct pair_vec {
	dv_pair *v;
	size_t n, cap;
} pair_vec;

static dv_pair *pair_vec_add(pair_vec *pv)
{
	if (pv->n == pv->cap) {
		size_t cap = pv->cap ? pv->cap * 2 : 256;
		dv_pair *grown = realloc(pv->v, cap * sizeof(*grown));

		if (!grown)
			return NULL;
		pv->v = grown;
		pv->cap = cap;
	}
	memset(&pv->v[pv->n], 0, sizeof(pv->v[0]));
	return &pv->v[pv->n++];
}

/* 1 keep, 0 drop, -2 the filter was too expensive on this name (an error:
 * dropping the file would silently leave it out of the comparison). */
static int keep(const pcre2_code *filter, const dv_pair *p)
{
	if (!filter)
		return 1;
	switch (dv_regex_test(filter, pair_file(p)->filename)) {
	case DV_REGEX_MATCH: return 1;
	case DV_REGEX_NOMATCH: return 0;
	default: return -2;
	}
}

static int add_pair(pair_vec *pv, size_t phase, dv_pair_kind kind, const dv_dumpfile *b,
		    const dv_dumpfile *t, const pcre2_code *filter)
{
	const dv_dumpfile *f = t ? t : b;
	dv_pair tmp = {.kind = kind, .base = b, .targ = t};
	dv_pair *p;
	int k = keep(filter, &tmp);

	if (k <= 0)
		return k;
	if (!(p = pair_vec_add(pv)))
		return -1;
	p->kind = kind;
	p->phase = phase;
	p->base = b;
	p->targ = t;
	p->name = f->name;
	p->layer = f->layer;
	p->step = f->step;
	p->rank = f->rank;
	/* Unmatched files have nothing to compute: they are done from the start. */
	atomic_init(&p->state, kind == DV_PAIR_MATCHED ? DV_PAIR_PENDING : DV_PAIR_DONE);
	return 0;
}

/* Pairs one phase's files (either side may be NULL) into pv, then sorts them. */
static int pair_phase(pair_vec *pv, size_t phase, dv_phase *bp, dv_phase *tp, const pcre2_code *filter,
		      dv_error *err)
{
	size_t nb = bp ? bp->nfiles : 0, nt = tp ? tp->nfiles : 0, i = 0, j = 0, start = pv->n;
	keyed *bk = key_files(bp, err), *tk = key_files(tp, err);
	int rc = 0;

	if ((bp && !bk) || (tp && !tk)) {
		rc = -1;
		goto out;
	}
	while ((i < nb || j < nt) && !rc) {
		int c;

		if (i == nb)
			c = 1;
		else if (j == nt)
			c = -1;
		else if (!(c = strcmp(bk[i].key, tk[j].key)))
			c = bk[i].file->duplicate_index - tk[j].file->duplicate_index;
		if (c == 0)
			rc = add_pair(pv, phase, DV_PAIR_MATCHED, bk[i++].file, tk[j++].file, filter);
		else if (c < 0)
			rc = add_pair(pv, phase, DV_PAIR_BASELINE_ONLY, bk[i++].file, NULL, filter);
		else
			rc = add_pair(pv, phase, DV_PAIR_TARGET_ONLY, NULL, tk[j++].file, filter);
	}
	if (rc == -2)
		dv_error_set(err, "filter: regex too expensive (backtracking limit hit on a file name)");
	else if (rc)
		dv_error_set(err, "phase %s: out of memory", tp ? tp->name : bp->name);
	else if (pv->n > start)
		qsort(pv->v + start, pv->n - start, sizeof(*pv->v), cmp_pair);
out:
	free_keyed(bk, nb);
	free_keyed(tk, nt);
	return rc;
}

static dv_phase *find_phase(dv_run *run, const char *name)
{
	for (size_t i = 0; i < run->nphases; i++)
		if (!strcmp(run->phases[i].name, name))
			return &run->phases[i];
	return NULL;
}

static int cmp_name_ptr(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	int rx = dv_phase_rank(x), ry = dv_phase_rank(y);

	return rx != ry ? rx - ry : strcmp(x, y);
}

dv_comparison *dv_comparison_build(dv_run *base, dv_run *targ, const pcre2_code *filter, dv_error *err)
{
	dv_comparison *cmp;
	const char **names;
	size_t nnames = 0;
	pair_vec pv = {0};
	bool both_bare;

	if (!base || !targ) {
		dv_error_set(err, "comparison needs two runs");
		return NULL;
	}
	cmp = calloc(1, sizeof(*cmp));
	names = malloc((base->nphases + targ->nphases + 1) * sizeof(*names));
	if (!cmp || !names)
		goto oom;
	cmp->base = base;
	cmp->targ = targ;
	/* Two bare folders are one phase each, whatever their folders are called:
	 * the phase keeps a phase name either side has, else the target's folder
	 * name (as reports and their tests expect). */
	both_bare = base->bare && targ->bare && base->nphases == 1 && targ->nphases == 1;
	if (both_bare) {
		const char *bn = base->phases[0].name, *tn = targ->phases[0].name;

		names[nnames++] = dv_phase_rank(tn) == 3 && dv_phase_rank(bn) < 3 ? bn : tn;
	}
	for (size_t i = 0; i < targ->nphases && !both_bare; i++)
		names[nnames++] = targ->phases[i].name;
	for (size_t i = 0; i < base->nphases && !both_bare; i++)
		if (!find_phase(targ, base->phases[i].name))
			names[nnames++] = base->phases[i].name;
	if (nnames)
		qsort(names, nnames, sizeof(*names), cmp_name_ptr);

	cmp->phases = calloc(nnames ? nnames : 1, sizeof(*cmp->phases));
	if (!cmp->phases)
		goto oom;
	for (size_t i = 0; i < nnames; i++) {
		dv_phase *bp = both_bare ? &base->phases[0] : find_phase(base, names[i]);
		dv_phase *tp = both_bare ? &targ->phases[0] : find_phase(targ, names[i]);
		dv_phase_pairs *pp = &cmp->phases[cmp->nphases];
		size_t first = pv.n;

		if (pair_phase(&pv, cmp->nphases, bp, tp, filter, err))
			goto fail;
		/* A filter that leaves a phase nothing drops the phase. */
		if (filter && pv.n == first)
			continue;
		if (!(pp->name = strdup(names[i])))
			goto oom;
		pp->in_base = bp != NULL;
		pp->in_targ = tp != NULL;
		pp->first = first;
		pp->count = pv.n - first;
		cmp->nphases++;
	}
	free(names);
	cmp->pairs = pv.v;
	cmp->npairs = pv.n;
	return cmp;
oom:
	dv_error_set(err, "pairing %s with %s: out of memory", base->root, targ->root);
fail:
	free(names);
	free(pv.v);
	if (cmp) {
		for (size_t i = 0; i < cmp->nphases; i++)
			free(cmp->phases[i].name);
		free(cmp->phases);
		free(cmp);
	}
	return NULL;
}

void dv_comparison_free(dv_comparison *cmp)
{
	if (!cmp)
		return;
	for (size_t i = 0; i < cmp->nphases; i++)
		free(cmp->phases[i].name);
	free(cmp->phases);
	free(cmp->pairs);
	dv_run_free(cmp->base);
	dv_run_free(cmp->targ);
	free(cmp);
}

bool dv_pair_failed(const dv_pair *pair)
{
	const dv_pair_result *r = &pair->result;

	if (pair->kind != DV_PAIR_MATCHED || atomic_load(&pair->state) != DV_PAIR_DONE)
		return false;
	switch (r->status) {
	case DV_RESULT_COMPARED:
		return !r->passed;
	case DV_RESULT_SHAPE_MISMATCH:
	case DV_RESULT_ERROR:
		return true;
	default:
		/* Non-tensor values are reported (equal or not) but skipped, as the comparator does. */
		return false;
	}
}

ptrdiff_t dv_first_divergence(const dv_comparison *cmp, bool *known)
{
	bool all_done = true;

	for (size_t i = 0; i < cmp->npairs; i++) {
		const dv_pair *p = &cmp->pairs[i];

		if (dv_pair_failed(p)) {
			if (known)
				*known = all_done;
			return (ptrdiff_t)i;
		}
		if (atomic_load(&p->state) != DV_PAIR_DONE)
			all_done = false;
	}
	if (known)
		*known = all_done;
	return -1;
}
