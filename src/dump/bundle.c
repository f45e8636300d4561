/* Bundling: files grouped into logical tensors by their tags (bundle.h).
 * Rows are keyed by signature strings built from column values, then
 * sorted, so a phase of many files is grouped in O(n log n). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/bundle.h"

static const char *const preset_names[] = {"sglang_dev", "sglang_megatron", "raw"};

const char *dv_preset_name(dv_preset p)
{
	return (unsigned)p < 3 ? preset_names[p] : NULL;
}

int dv_preset_from_name(const char *s)
{
	for (int i = 0; i < 3; i++)
		if (s && !strcmp(s, preset_names[i]))
			return i;
	return -1;
}

bool dv_preset_has_token_aligner(dv_preset p)
{
	return p == DV_PRESET_SGLANG_MEGATRON;
}

dv_preset dv_preset_for_phase(const dv_phase *targ, dv_file_is_megatron_fn is_megatron, void *ctx)
{
	if (targ && is_megatron)
		for (size_t i = 0; i < targ->nfiles; i++)
			if (is_megatron(&targ->files[i], ctx))
				return DV_PRESET_SGLANG_MEGATRON;
	return DV_PRESET_SGLANG_DEV;
}

#define DUP_COL "duplicate_index"

/* A growable string, for signatures. */
typedef struct sbuf {
	char *s;
	size_t len, cap;
	bool oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->cap ? b->cap * 2 : 64) + n;
		char *p = realloc(b->s, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* The integer columns are compared as integers ("01" = "1"), as the
 * reference casts them; a value that does not parse stays a string. */
static bool int_column(const char *key)
{
	return !strcmp(key, "rank") || !strcmp(key, "step") || !strcmp(key, "dump_index") ||
	       !strcmp(key, DUP_COL);
}

/* Appends one column's value: \x01 for null, else \x02 value; \x1f ends it.
 * Tag values cannot hold these bytes' meaning twice: a file name with
 * control characters only ever compares equal to itself. */
static void sb_value(sbuf *b, const char *key, const char *v)
{
	char num[32];

	if (!v) {
		sb_add(b, "\x01\x1f", 2);
		return;
	}
	if (int_column(key)) {
		char *end;
		long long x;

		errno = 0;
		x = strtoll(v, &end, 10);
		if (*v && !*end && !errno) {
			snprintf(num, sizeof(num), "%lld", x);
			v = num;
		}
	}
	sb_add(b, "\x02", 1);
	sb_add(b, v, strlen(v));
	sb_add(b, "\x1f", 1);
}

typedef struct cols {
	const char **v;
	size_t n;
} cols;

static int cols_add(cols *c, const char *key)
{
	const char **p;

	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->v[i], key))
			return 0;
	if (!(p = realloc(c->v, (c->n + 1) * sizeof(*p))))
		return -1;
	c->v = p;
	c->v[c->n++] = key;
	return 0;
}

static bool cols_has(const cols *c, const char *key)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->v[i], key))
			return true;
	return false;
}

/* Every tag key of the phase's files, in order of first appearance. */
static int table_columns(const dv_phase *ph, cols *c)
{
	for (size_t i = 0; ph && i < ph->nfiles; i++)
		for (size_t k = 0; k < ph->files[i].ntags; k++)
			if (cols_add(c, dv_file_tag_key(&ph->files[i], k)) < 0)
				return -1;
	return 0;
}

typedef struct row {
	size_t index;        /* into the phase's files */
	char *sig;
	int64_t rank, dump_index;
} row;

static int cmp_row_sig(const void *a, const void *b)
{
	const row *x = a, *y = b;
	int c = strcmp(x->sig, y->sig);

	if (c)
		return c;
	if (x->dump_index != y->dump_index)
		return x->dump_index < y->dump_index ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

static int cmp_rank_dump(const row *x, const row *y)
{
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->dump_index != y->dump_index)
		return x->dump_index < y->dump_index ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* duplicate_index of every file of ph: rows equal on all columns but
 * dump_index, ordered by dump_index. */
static int duplicate_indexes(const dv_phase *ph, const cols *c, int *dup)
{
	row *r;
	int rc = 0;

	if (!ph->nfiles)
		return 0;
	if (!(r = calloc(ph->nfiles, sizeof(*r))))
		return -1;
	for (size_t i = 0; i < ph->nfiles && !rc; i++) {
		sbuf b = {0};

		for (size_t k = 0; k < c->n; k++)
			if (strcmp(c->v[k], "dump_index"))
				sb_value(&b, c->v[k], dv_tag_get(&ph->files[i], c->v[k]));
		sb_add(&b, "", 0);
		if (b.oom || !b.s) {
			free(b.s);
			rc = -1;
		}
		r[i] = (row){i, b.s, ph->files[i].rank, ph->files[i].dump_index};
	}
	if (!rc) {
		qsort(r, ph->nfiles, sizeof(*r), cmp_row_sig);
		for (size_t i = 0; i < ph->nfiles; i++)
			dup[r[i].index] = i && !strcmp(r[i].sig, r[i - 1].sig) ? dup[r[i - 1].index] + 1 : 0;
	}
	for (size_t i = 0; i < ph->nfiles; i++)
		free(r[i].sig);
	free(r);
	return rc;
}

/* The signature of file i on the given key columns. */
static char *key_sig(const dv_phase *ph, size_t i, const int *dup, const cols *keys)
{
	sbuf b = {0};
	char num[24];

	for (size_t k = 0; k < keys->n; k++) {
		if (!strcmp(keys->v[k], DUP_COL)) {
			snprintf(num, sizeof(num), "%d", dup[i]);
			sb_value(&b, DUP_COL, num);
		} else {
			sb_value(&b, keys->v[k], dv_tag_get(&ph->files[i], keys->v[k]));
		}
	}
	sb_add(&b, "", 0);
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}


/* Fills a side from its rows (already in (rank, dump_index) order). */
static int fill_side(const dv_phase *ph, const row *r, size_t n, dv_bundle_side *s)
{
	if (!n)
		return 0;
	if (!(s->rows = malloc(n * sizeof(size_t))))
		return -1;
	s->nrows = n;
	for (size_t i = 0; i < n; i++)
		s->rows[i] = r[i].index;
	/* Steps ascending; each step keeps the (rank, dump_index) order. */
	for (size_t i = 0; i < n; i++) {
		int64_t st = ph->files[r[i].index].step;
		size_t k;

		for (k = 0; k < s->nsteps && s->steps[k].step != st; k++)
			;
		if (k == s->nsteps) {
			dv_bundle_step *p = realloc(s->steps, (s->nsteps + 1) * sizeof(*p));

			if (!p)
				return -1;
			s->steps = p;
			k = s->nsteps;
			while (k > 0 && s->steps[k - 1].step > st) {
				s->steps[k] = s->steps[k - 1];
				k--;
			}
			s->steps[k] = (dv_bundle_step){st, NULL, 0};
			s->nsteps++;
		}
		size_t *rows = realloc(s->steps[k].rows, (s->steps[k].nrows + 1) * sizeof(size_t));

		if (!rows)
			return -1;
		s->steps[k].rows = rows;
		rows[s->steps[k].nrows++] = r[i].index;
	}
	return 0;
}

static void free_side(dv_bundle_side *s)
{
	free(s->rows);
	for (size_t k = 0; k < s->nsteps; k++)
		free(s->steps[k].rows);
	free(s->steps);
}

void dv_bundles_free(dv_bundle *b, size_t n)
{
	if (!b)
		return;
	for (size_t i = 0; i < n; i++) {
		free(b[i].name);
		for (size_t k = 0; k < b[i].nkeys; k++) {
			free(b[i].keys[k].key);
			free(b[i].keys[k].value);
		}
		free(b[i].keys);
		free_side(&b[i].base);
		free_side(&b[i].targ);
	}
	free(b);
}

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static bool skipped(const char *key, dv_preset preset, const char *const *extra, size_t nextra)
{
	if (!strcmp(key, "dump_index") || !strcmp(key, "filename"))
		return true;
	if ((preset == DV_PRESET_SGLANG_DEV || preset == DV_PRESET_SGLANG_MEGATRON) && !strcmp(key, "rank"))
		return true;
	if (preset == DV_PRESET_SGLANG_MEGATRON && !strcmp(key, "step"))
		return true;
	for (size_t i = 0; i < nextra; i++)
		if (extra[i] && !strcmp(key, extra[i]))
			return true;
	return false;
}

/* Rows of a side with their key signatures; sorted by (sig, rank, dump_index). */
static row *side_rows(const dv_phase *ph, const int *dup, const cols *keys)
{
	row *r = calloc(ph->nfiles ? ph->nfiles : 1, sizeof(*r));

	if (!r)
		return NULL;
	for (size_t i = 0; i < ph->nfiles; i++) {
		r[i] = (row){i, key_sig(ph, i, dup, keys), ph->files[i].rank, ph->files[i].dump_index};
		if (!r[i].sig) {
			for (size_t j = 0; j < i; j++)
				free(r[j].sig);
			free(r);
			return NULL;
		}
	}
	return r;
}

static int cmp_sig_order(const void *a, const void *b)
{
	const row *x = a, *y = b;
	int c = strcmp(x->sig, y->sig);

	return c ? c : cmp_rank_dump(x, y);
}

/* Groups (their start in the rows) by their first row's (rank, dump_index). */
static int cmp_group_start(const void *a, const void *b, void *rows)
{
	const row *r = rows;

	return cmp_rank_dump(&r[*(const size_t *)a], &r[*(const size_t *)b]);
}

static void free_rows(row *r, size_t n)
{
	for (size_t i = 0; r && i < n; i++)
		free(r[i].sig);
	free(r);
}

int dv_bundles_build(const dv_phase *base, const dv_phase *targ, dv_preset preset,
		     const char *const *extra_skip_keys, size_t nextra, dv_bundle **out, size_t *n,
		     dv_error *err)
{
	cols tcols = {0}, bcols = {0}, keys = {0}, bkeys = {0};
	int *tdup = NULL, *bdup = NULL;
	row *tr = NULL, *br = NULL;
	size_t *starts = NULL;
	dv_bundle *res = NULL;
	size_t nres = 0, nt = targ ? targ->nfiles : 0, nb = base ? base->nfiles : 0;
	int rc = -1;

	*out = NULL;
	*n = 0;
	if (!nt)
		return 0;
	if (table_columns(targ, &tcols) < 0 || cols_add(&tcols, DUP_COL) < 0 ||
	    table_columns(base, &bcols) < 0 || cols_add(&bcols, DUP_COL) < 0)
		goto oom;
	for (size_t k = 0; k < tcols.n; k++)
		if (!skipped(tcols.v[k], preset, extra_skip_keys, nextra)) {
			if (cols_add(&keys, tcols.v[k]) < 0)
				goto oom;
			if (cols_has(&bcols, tcols.v[k]) && cols_add(&bkeys, tcols.v[k]) < 0)
				goto oom;
		}
	if (!(tdup = calloc(nt, sizeof(int))) || !(bdup = calloc(nb ? nb : 1, sizeof(int))))
		goto oom;
	if (duplicate_indexes(targ, &tcols, tdup) < 0 || (base && duplicate_indexes(base, &bcols, bdup) < 0))
		goto oom;
	/* Target rows by key, each group in (rank, dump_index) order. */
	if (!(tr = side_rows(targ, tdup, &keys)))
		goto oom;
	qsort(tr, nt, sizeof(*tr), cmp_sig_order);
	/* Bundles in order of first appearance: a group's first row in tr is its
	 * earliest in (rank, dump_index) order; sort the groups by that row. */
	size_t ngroups = 0;
	for (size_t i = 0; i < nt; i++)
		if (!i || strcmp(tr[i].sig, tr[i - 1].sig))
			ngroups++;
	if (!(starts = malloc(ngroups * sizeof(*starts))))
		goto oom;
	for (size_t i = 0, g = 0; i < nt; i++)
		if (!i || strcmp(tr[i].sig, tr[i - 1].sig))
			starts[g++] = i;
	qsort_r(starts, ngroups, sizeof(*starts), cmp_group_start, tr);
	if (base && nb) {
		if (!(br = side_rows(base, bdup, &bkeys)))
			goto oom;
		qsort(br, nb, sizeof(*br), cmp_sig_order);
	}
	if (!(res = calloc(ngroups, sizeof(*res))))
		goto oom;
	nres = ngroups;
	for (size_t g = 0; g < ngroups; g++) {
		size_t start = starts[g], end = start;
		dv_bundle *b = &res[g];
		const dv_dumpfile *first = &targ->files[tr[start].index];

		while (end < nt && !strcmp(tr[end].sig, tr[start].sig))
			end++;
		if (!(b->name = strdup(first->name)))
			goto oom;
		b->layer = first->layer;
		if (keys.n && !(b->keys = calloc(keys.n, sizeof(dv_tag))))
			goto oom;
		b->nkeys = keys.n;
		for (size_t k = 0; k < keys.n; k++) {
			char num[24];
			const char *v = dv_tag_get(first, keys.v[k]);

			if (!strcmp(keys.v[k], DUP_COL)) {
				snprintf(num, sizeof(num), "%d", tdup[tr[start].index]);
				v = num;
			}
			if (!(b->keys[k].key = strdup(keys.v[k])) || (v && !(b->keys[k].value = xstrdup(v))))
				goto oom;
		}
		if (fill_side(targ, tr + start, end - start, &b->targ) < 0)
			goto oom;
		if (br) {
			char *sig = key_sig(targ, tr[start].index, tdup, &bkeys);
			size_t lo = 0, hi = nb, e;

			if (!sig)
				goto oom;
			while (lo < hi) {
				size_t mid = lo + (hi - lo) / 2;

				if (strcmp(br[mid].sig, sig) < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			for (e = lo; e < nb && !strcmp(br[e].sig, sig); e++)
				;
			free(sig);
			if (fill_side(base, br + lo, e - lo, &b->base) < 0)
				goto oom;
		}
	}
	*out = res;
	*n = nres;
	res = NULL;
	rc = 0;
	goto done;
oom:
	dv_error_set(err, "bundling: out of memory");
done:
	dv_bundles_free(res, nres);
	free_rows(tr, nt);
	free(starts);
	free_rows(br, nb);
	free(tdup);
	free(bdup);
	free(tcols.v);
	free(bcols.v);
	free(keys.v);
	free(bkeys.v);
	return rc;
}
