/* Pairing two runs by the comparator's rule: a target file pairs with the
 * baseline file of the same phase that has the same tags except dump_index;
 * equal tags are told apart by duplicate_index (their order by dump_index).
 * Pairs come out in execution order: phase, step, dump_index, rank. */
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/comparison.h"
#include "dumpview/logical.h"
#include "dumpview/token_align.h"
#include "dumpview/threadprio.h"
#include "internal.h"

/* One side's file with its pairing key. */
typedef struct keyed {
	char *key;              /* tags but dump_index, sorted by key, "k=v\x1f" each */
	dv_dumpfile *file;
} keyed;

/* The folder tag keys a phase pairs by. */
typedef struct folder_keys {
	const char **v;
	size_t n;
} folder_keys;

static bool has_key(const folder_keys *fk, const char *key)
{
	for (size_t i = 0; i < fk->n; i++)
		if (!strcmp(fk->v[i], key))
			return true;
	return false;
}

/* Tags left out of a logical tensor's key (rank, step, --grouping-skip-keys);
 * NULL: only dump_index (the file's own key, for duplicate_index). */
typedef struct skip_set {
	const dv_logical_ctx *ctx;
	const dv_grouping *g;
} skip_set;

/* A phase's files mostly have the same tag keys in the same order (keys
 * are numbered, so the same numbers): which tags a key takes
 * and their sorted order are then the last file's. */
#define KEY_ORDER_MAX 32

/* A key built in place: one buffer reused for every file of a phase, and
 * the last file's tag order. */
typedef struct key_scratch {
	char *buf;
	size_t cap;
	bool order_known;       /* order below holds for files with keys[0 .. nkeys) */
	const skip_set *order_skip;
	uint16_t nkeys, nfile_tags, norder;
	uint32_t keys[KEY_ORDER_MAX];   /* dv_file_tag.key */
	uint16_t order[KEY_ORDER_MAX];  /* the key's tags, by index, sorted */
	size_t klen[KEY_ORDER_MAX];     /* strlen of their keys */
} key_scratch;

static bool scratch_fit(key_scratch *ks, size_t len)
{
	if (len <= ks->cap)
		return true;
	size_t cap = len < 256 ? 256 : len * 2;
	char *grown = realloc(ks->buf, cap);

	if (!grown)
		return false;
	ks->buf = grown;
	ks->cap = cap;
	return true;
}

static bool same_order(const key_scratch *ks, const dv_dumpfile *f, const skip_set *skip)
{
	if (!ks->order_known || ks->order_skip != skip || ks->nkeys != f->ntags || ks->nfile_tags != f->nfile_tags)
		return false;
	for (size_t i = 0; i < f->ntags; i++)
		if (ks->keys[i] != f->tags[i].key)
			return false;
	return true;
}

/* Which of f's tags its key takes, sorted (by key, then value), into
 * ks->order; remembered for the next file when its keys alone decide it
 * (no key twice). -1: out of memory. */
static int tag_order(key_scratch *ks, const dv_dumpfile *f, const folder_keys *fk, const skip_set *skip,
		     uint16_t **order, size_t *n)
{
	uint16_t *o = f->ntags <= KEY_ORDER_MAX ? ks->order : malloc(f->ntags * sizeof(*o));
	size_t m = 0;
	bool distinct = true;

	if (!o)
		return -1;
	for (size_t i = 0; i < f->ntags; i++) {
		const char *tk = dv_file_tag_key(f, i), *tv = dv_file_tag_value(f, i);
		size_t at;

		if (!strcmp(tk, "dump_index"))
			continue;
		if (i >= f->nfile_tags && !has_key(fk, tk))
			continue;
		if (skip && dv_grouping_skips(skip->ctx, skip->g, tk))
			continue;
		/* insertion sort: a file has a few tags */
		for (at = m; at > 0; at--) {
			int c = strcmp(dv_file_tag_key(f, o[at - 1]), tk);

			distinct = distinct && c;
			if ((c ? c : strcmp(dv_file_tag_value(f, o[at - 1]), tv)) <= 0)
				break;
			o[at] = o[at - 1];
		}
		o[at] = (uint16_t)i;
		m++;
	}
	*order = o;
	*n = m;
	ks->order_known = o == ks->order && distinct;
	if (ks->order_known) {
		ks->order_skip = skip;
		ks->nkeys = f->ntags;
		ks->nfile_tags = f->nfile_tags;
		ks->norder = (uint16_t)m;
		for (size_t i = 0; i < f->ntags; i++)
			ks->keys[i] = f->tags[i].key;
		for (size_t i = 0; i < m; i++)
			ks->klen[i] = strlen(dv_file_tag_key(f, o[i]));
	}
	return 0;
}

/* The file's pairing key in ks->buf (NUL-terminated), its length in *klen;
 * NULL when out of memory. */
static const char *pairing_key(key_scratch *ks, const dv_dumpfile *f, const folder_keys *fk, const skip_set *skip,
			       size_t *klen)
{
	uint16_t *order;
	size_t n, len = 1, vlen[KEY_ORDER_MAX];
	bool known;
	char *p;

	if (same_order(ks, f, skip)) {
		order = ks->order;
		n = ks->norder;
	} else if (tag_order(ks, f, fk, skip, &order, &n)) {
		return NULL;
	}
	known = order == ks->order && ks->order_known;
	for (size_t i = 0; i < n; i++) {
		size_t vl = strlen(dv_file_tag_value(f, order[i]));

		if (i < KEY_ORDER_MAX)
			vlen[i] = vl;
		len += (known ? ks->klen[i] : strlen(dv_file_tag_key(f, order[i]))) + vl + 2;
	}
	size_t sl = 0;
	const char *stem = NULL;
	char num[16];
	int nl = 0;

	/* A file name without tags is all there is to tell such files apart
	 * (otherwise they would all pair by order alone). */
	if (!f->nfile_tags) {
		stem = dv_dumpfile_stem(f, &sl);
		len += sl + 1;
	}
	/* duplicate_index is a key column of a logical tensor */
	if (skip) {
		/* as "%d" prints it, without printf's set-up (a key a file) */
		unsigned u = f->duplicate_index < 0 ? 0u - (unsigned)f->duplicate_index : (unsigned)f->duplicate_index;
		char rev[12];
		int r = 0;

		do {
			rev[r++] = (char)('0' + u % 10);
			u /= 10;
		} while (u);
		if (f->duplicate_index < 0)
			num[nl++] = '-';
		while (r)
			num[nl++] = rev[--r];
		len += (size_t)nl + 1;
	}
	if (!scratch_fit(ks, len)) {
		if (order != ks->order)
			free(order);
		return NULL;
	}
	p = ks->buf;
	for (size_t i = 0; i < n; i++) {
		const char *tk = dv_file_tag_key(f, order[i]), *tv = dv_file_tag_value(f, order[i]);
		size_t kl = known ? ks->klen[i] : strlen(tk), vl = i < KEY_ORDER_MAX ? vlen[i] : strlen(tv);

		memcpy(p, tk, kl);
		p += kl;
		*p++ = '=';
		memcpy(p, tv, vl);
		p += vl;
		*p++ = '\x1f';
	}
	if (order != ks->order)
		free(order);
	if (stem) {
		*p++ = '\x1e';
		memcpy(p, stem, sl);
		p += sl;
	}
	if (skip) {
		*p++ = '\x1d';
		memcpy(p, num, (size_t)nl);
		p += nl;
	}
	*p = '\0';
	*klen = (size_t)(p - ks->buf);
	return ks->buf;
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
	return strcmp(dv_dumpfile_relpath(x->file), dv_dumpfile_relpath(y->file));
}

/* One side's keys: own copies live packed in buf (a phase's keys at once,
 * without a malloc chunk a key); a key that outgrew its place is apart. */
typedef struct key_buf {
	char *buf;
	size_t size;
} key_buf;

static bool key_apart(const key_buf *kb, const char *key)
{
	uintptr_t at = (uintptr_t)key, from = (uintptr_t)kb->buf;

	return at < from || at >= from + kb->size;
}

/* The keys' strings only: the files stay (k[i].key NULL). */
static void drop_keys(keyed *k, size_t n, key_buf *kb)
{
	if (!k)
		return;
	for (size_t i = 0; i < n; i++) {
		if (k[i].key && key_apart(kb, k[i].key))
			free(k[i].key);
		k[i].key = NULL;
	}
	free(kb->buf);
	kb->buf = NULL;
	kb->size = 0;
}

static void free_keyed(keyed *k, size_t n, key_buf *kb)
{
	drop_keys(k, n, kb);
	free(k);
}

/* A key's hash for the duplicate check, eight bytes at a time. */
static uint64_t key_hash(const char *s, size_t n)
{
	uint64_t h = n * 0x9e3779b97f4a7c15u, w;

	for (; n >= 8; s += 8, n -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdu;
		h ^= h >> 32;
	}
	w = 0;
	memcpy(&w, s, n);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53u;
	return h ^ (h >> 29);
}

/* Files whose keys are all different have duplicate_index 0: a hash table
 * tells them (the keys' sort is needed only when two are equal). */
typedef struct key_set {
	uint32_t *slot;         /* index + 1 of a key with that hash's slot; 0 empty */
	size_t mask;
	bool equal_seen;        /* or out of memory: the sort decides */
} key_set;

static void key_set_add(key_set *set, const keyed *k, const char *buf, size_t i, const char *key, size_t len)
{
	size_t at;

	if (set->equal_seen)
		return;
	for (at = key_hash(key, len) & set->mask; set->slot[at]; at = (at + 1) & set->mask) {
		if (!strcmp(buf + (uintptr_t)k[set->slot[at] - 1].key, key)) {
			set->equal_seen = true;
			return;
		}
	}
	set->slot[at] = (uint32_t)i + 1;
}

/* Keys one phase's files and sets their duplicate_index; sorted by (key,
 * duplicate_index) when two keys are equal, else in the phase's order
 * (regroup sorts them). */
static keyed *key_files(dv_phase *ph, const folder_keys *fk, key_buf *kb, key_scratch *ks, dv_error *err)
{
	keyed *k;
	size_t used = 0, cap;

	kb->buf = NULL;
	kb->size = 0;
	if (!ph)
		return NULL;
	k = calloc(ph->nfiles ? ph->nfiles : 1, sizeof(*k));
	/* a guess, grown when short: a large one is mmap()ed and grows in place */
	cap = (ph->nfiles ? ph->nfiles : 1) * 64;
	if (!k || !(kb->buf = malloc(cap))) {
		free(k);
		goto oom;
	}
	size_t slots = 16;

	while (slots < ph->nfiles * 2)
		slots *= 2;
	key_set set = { calloc(slots, sizeof(*set.slot)), slots - 1, false };

	set.equal_seen = !set.slot;
	for (size_t i = 0; i < ph->nfiles; i++) {
		size_t len;
		const char *key = pairing_key(ks, &ph->files[i], fk, NULL, &len);

		k[i].file = &ph->files[i];
		ph->files[i].duplicate_index = 0;
		if (!key)
			goto oom_keys;
		len++;
		if (used + len > cap) {
			size_t grown_cap = (used + len) + (used + len) / 2;
			char *grown = realloc(kb->buf, grown_cap);

			if (!grown)
				goto oom_keys;
			kb->buf = grown;
			cap = grown_cap;
		}
		memcpy(kb->buf + used, key, len);
		k[i].key = (char *)(uintptr_t)used;   /* an offset until buf stops moving */
		used += len;
		key_set_add(&set, k, kb->buf, i, key, len - 1);
	}
	free(set.slot);
	kb->size = used;
	for (size_t i = 0; i < ph->nfiles; i++)
		k[i].key = kb->buf + (uintptr_t)k[i].key;
	if (!set.equal_seen)
		return k;
	qsort(k, ph->nfiles, sizeof(*k), cmp_keyed);
	for (size_t i = 1; i < ph->nfiles; i++)
		if (!strcmp(k[i].key, k[i - 1].key))
			k[i].file->duplicate_index = k[i - 1].file->duplicate_index + 1;
	return k;
oom_keys:
	free(set.slot);
	free(k);
	free(kb->buf);
	kb->buf = NULL;
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
	return strcmp(dv_dumpfile_relpath(fx), dv_dumpfile_relpath(fy));
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
	pv->v[pv->n].result = (dv_pair_result *)&dv_pair_result_none;
	return &pv->v[pv->n++];
}

/* 1 keep, 0 drop, -2 the filter was too expensive on this name (an error:
 * dropping the file would silently leave it out of the comparison). */
static int keep(const pcre2_code *filter, const dv_pair *p)
{
	if (!filter)
		return 1;
	switch (dv_regex_test(filter, dv_dumpfile_filename(pair_file(p)))) {
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

static const char *folder_tag_of(const dv_dumpfile *f, const char *key)
{
	for (size_t i = f->nfile_tags; i < f->ntags; i++)
		if (!strcmp(dv_file_tag_key(f, i), key))
			return dv_file_tag_value(f, i);
	return NULL;
}

static bool all_have(const dv_phase *ph, const char *key)
{
	for (size_t i = 0; i < ph->nfiles; i++)
		if (!folder_tag_of(&ph->files[i], key))
			return false;
	return true;
}

/* Stands for "this file has no such folder tag" among a tag's values. */
static const char absent[] = "";

static bool same_value(const char *a, const char *b)
{
	return a == b || (a != absent && b != absent && !strcmp(a, b));
}

/* The distinct values of a folder tag, absent included (few: one per folder). */
static size_t distinct_values(const dv_phase *ph, const char *key, const char ***out)
{
	const char **v = NULL;
	size_t n = 0, cap = 0;

	for (size_t i = 0; i < ph->nfiles; i++) {
		const char *x = folder_tag_of(&ph->files[i], key);
		size_t j;

		if (!x)
			x = absent;
		for (j = 0; j < n && !same_value(v[j], x); j++)
			;
		if (j < n)
			continue;
		if (n == cap) {
			const char **grown = realloc(v, (cap = cap ? cap * 2 : 8) * sizeof(*grown));

			if (!grown) {
				free(v);
				*out = NULL;
				return (size_t)-1;
			}
			v = grown;
		}
		v[n++] = x;
	}
	*out = v;
	return n;
}

/* Whether both sides hold the same values of a folder tag (absent being one). */
static bool same_values(const dv_phase *bp, const dv_phase *tp, const char *key)
{
	const char **a, **b;
	size_t na = distinct_values(bp, key, &a), nb = distinct_values(tp, key, &b);
	bool same = na == nb && na != (size_t)-1;

	for (size_t i = 0; same && i < na; i++) {
		bool found = false;

		for (size_t j = 0; j < nb && !found; j++)
			found = same_value(a[i], b[j]);
		same = found;
	}
	free(a);
	free(b);
	return same;
}

/* The folder tags a phase pairs by: a key whose values (absence included)
 * are the same on both sides, i.e. the same folder structure; or, for folder
 * names (engine, rollout, folder: identities), a key every file of both sides
 * has, so an extra engine just leaves its files unmatched. sglang_dump is an
 * ordinal of re-runs that one extra re-run shifts: never by presence alone.
 * *ignored tells whether some folder tag was left out. */
static int choose_folder_keys(const dv_phase *bp, const dv_phase *tp, folder_keys *fk, bool *ignored)
{
	const dv_phase *sides[2] = {bp, tp};
	size_t cap = 0;

	fk->v = NULL;
	fk->n = 0;
	*ignored = false;
	for (int s = 0; s < 2; s++) {
		const dv_phase *ph = sides[s];

		for (size_t i = 0; ph && i < ph->nfiles; i++) {
			const dv_dumpfile *f = &ph->files[i];

			for (size_t t = f->nfile_tags; t < f->ntags; t++) {
				const char *k = dv_file_tag_key(f, t);
				bool use;

				if (has_key(fk, k))
					continue;
				use = !bp || !tp || same_values(bp, tp, k) ||
				      (strcmp(k, "sglang_dump") && all_have(bp, k) && all_have(tp, k));
				if (!use) {
					*ignored = true;
					continue;
				}
				if (fk->n == cap) {
					const char **grown = realloc(fk->v, (cap = cap ? cap * 2 : 4) * sizeof(*grown));

					if (!grown)
						return -1;
					fk->v = grown;
				}
				fk->v[fk->n++] = k;
			}
		}
	}
	return 0;
}

/* Within one logical tensor: step, rank, dump_index, file name. */
static int cmp_grouped(const void *a, const void *b)
{
	const keyed *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	if (c)
		return c;
	if (x->file->step != y->file->step)
		return x->file->step < y->file->step ? -1 : 1;
	if (x->file->rank != y->file->rank)
		return x->file->rank < y->file->rank ? -1 : 1;
	if (x->file->dump_index != y->file->dump_index)
		return x->file->dump_index < y->file->dump_index ? -1 : 1;
	return strcmp(dv_dumpfile_relpath(x->file), dv_dumpfile_relpath(y->file));
}

/* Replaces each file's own key by its logical tensor's key (after
 * duplicate_index is set from the own keys) and sorts by it. */
static int regroup(keyed *k, size_t n, key_buf *kb, key_scratch *ks, const folder_keys *fk, const skip_set *skip)
{
	for (size_t i = 0; i < n; i++) {
		size_t gl;
		const char *g = pairing_key(ks, k[i].file, fk, skip, &gl);

		if (!g)
			return -1;
		/* in the file's own key when it fits (it mostly does: rank is
		 * left out): a new string a file would leave the old ones as
		 * holes of the size of every key of the phase, touched memory */
		if (gl > strlen(k[i].key)) {
			char *apart = malloc(gl + 1);

			if (!apart)
				return -1;
			if (key_apart(kb, k[i].key))
				free(k[i].key);
			k[i].key = apart;
		}
		memcpy(k[i].key, g, gl + 1);
	}
	qsort(k, n, sizeof(*k), cmp_grouped);
	return 0;
}

typedef struct file_vec {
	const dv_dumpfile **v;
	size_t n, cap;
} file_vec;

static int file_vec_add(file_vec *fv, const dv_dumpfile *f)
{
	if (fv->n == fv->cap) {
		size_t cap = fv->cap ? fv->cap * 2 : 256;
		const dv_dumpfile **grown = realloc(fv->v, cap * sizeof(*grown));

		if (!grown)
			return -1;
		fv->v = grown;
		fv->cap = cap;
	}
	fv->v[fv->n++] = f;
	return 0;
}

/* One logical tensor of nb baseline and nt target files (one side may have
 * none). Its files go to fv; the pair keeps their offset until the vector
 * stops moving (dv_comparison_pair fixes the pointers up). */
/* A pair's files offset while pairing: none, its files are base and targ */
#define NO_FILE_LIST UINTPTR_MAX

static int add_group(pair_vec *pv, file_vec *fv, size_t phase, const dv_logical_ctx *lctx, const keyed *b,
		     size_t nb, const keyed *t, size_t nt, const pcre2_code *filter)
{
	dv_pair_kind kind = nb && nt ? DV_PAIR_MATCHED : nb ? DV_PAIR_BASELINE_ONLY : DV_PAIR_TARGET_ONLY;
	size_t before = pv->n, at = fv->n;

	/* smart alignment read the auxiliary tensors: they are not compared */
	if (lctx->token_aligner == DV_TOKEN_ALIGNER_SMART && dv_ta_is_aux_name((nt ? t : b)[0].file->name))
		return 0;
	int rc = add_pair(pv, phase, kind, nb ? b[0].file : NULL, nt ? t[0].file : NULL, filter);
	dv_pair *p;

	if (rc || pv->n == before)
		return rc;
	p = &pv->v[pv->n - 1];
	if (nb <= 1 && nt <= 1) {
		/* its files are base and targ: no list (dv_pair_files), 16 bytes
		 * less a pair */
		p->files = (const dv_dumpfile *const *)NO_FILE_LIST;
	} else {
		for (size_t i = 0; i < nb; i++)
			if (file_vec_add(fv, b[i].file))
				return -1;
		for (size_t i = 0; i < nt; i++)
			if (file_vec_add(fv, t[i].file))
				return -1;
		p->files = (const dv_dumpfile *const *)(uintptr_t)at;
	}
	p->nbase = (uint32_t)nb;
	p->ntarg = (uint32_t)nt;
	p->lctx = lctx;
	/* a tensor spread over several ranks or steps has no one rank or step */
	for (size_t s = 0; s < 2; s++) {
		const keyed *k = s ? t : b;
		size_t n = s ? nt : nb;

		for (size_t i = 1; i < n; i++) {
			if (k[i].file->rank != k[0].file->rank)
				p->rank = -1;
			if (k[i].file->step != k[0].file->step)
				p->step = -1;
		}
	}
	return 0;
}

/* One side's keys of a phase, made on a thread of their own when both sides
 * are large (the sides are independent: each writes only its own files'
 * duplicate_index). */
typedef struct side_keys {
	dv_phase *ph;
	const folder_keys *fk;
	const skip_set *skip;
	keyed *k;
	key_buf kb;
	key_scratch ks;
	dv_error err;
	int rc;                 /* -1: keying failed (err says so); -2: regrouping failed */
} side_keys;

static void *key_side(void *arg)
{
	side_keys *s = arg;

	s->k = key_files(s->ph, s->fk, &s->kb, &s->ks, &s->err);
	if (s->ph && !s->k)
		s->rc = -1;
	else if (s->k && regroup(s->k, s->ph->nfiles, &s->kb, &s->ks, s->fk, s->skip))
		s->rc = -2;
	free(s->ks.buf);
	s->ks.buf = NULL;
	return NULL;
}

static void *key_side_thread(void *arg)
{
	dv_thread_background();
	return key_side(arg);
}

/* Below this many files a phase's sides are keyed one after the other. */
#define KEY_THREAD_MIN 1024

/* A logical tensor found by the keys: b[nb], t[nt] of the sorted sides. */
typedef struct key_group {
	uint32_t b, nb, t, nt;
} key_group;

/* Pairs one phase's files (either side may be NULL) into pv as logical
 * tensors, then sorts them. */
static int pair_phase(pair_vec *pv, file_vec *fv, size_t phase, dv_phase *bp, dv_phase *tp,
		      const dv_grouping *g, dv_logical_ctx *lctx, const pcre2_code *filter, bool *folders_ignored,
		      dv_error *err)
{
	size_t nb = bp ? bp->nfiles : 0, nt = tp ? tp->nfiles : 0, i = 0, j = 0, start = pv->n;
	folder_keys fk;
	keyed *bk = NULL, *tk = NULL;
	key_buf bkb = { 0 }, tkb = { 0 };
	key_group *groups = NULL;
	size_t ngroups = 0, capgroups = 0;
	skip_set skip = {lctx, g};
	int rc = 0;

	if (nb > UINT32_MAX || nt > UINT32_MAX) {
		dv_error_set(err, "phase %s: too many files", tp ? tp->name : bp->name);
		return -1;
	}

	if (choose_folder_keys(bp, tp, &fk, folders_ignored)) {
		free(fk.v);
		dv_error_set(err, "phase %s: out of memory", tp ? tp->name : bp->name);
		return -1;
	}
	{
		side_keys bs = { .ph = bp, .fk = &fk, .skip = &skip }, ts = { .ph = tp, .fk = &fk, .skip = &skip };
		pthread_t th;
		bool threaded = bp && tp && nb + nt >= KEY_THREAD_MIN && !pthread_create(&th, NULL, key_side_thread, &bs);

		key_side(&ts);
		if (threaded)
			pthread_join(th, NULL);
		else
			key_side(&bs);
		bk = bs.k;
		bkb = bs.kb;
		tk = ts.k;
		tkb = ts.kb;
		/* the message the target's keying would have left last */
		if (err && ts.rc == -1)
			*err = ts.err;
		else if (err && bs.rc == -1)
			*err = bs.err;
		if (bs.rc || ts.rc) {
			rc = -1;
			goto out;
		}
	}
	/* the groups first, then the keys go, then the pairs are made: a
	 * phase's keys and its pairs are never held at once */
	while (i < nb || j < nt) {
		size_t ie = i, je = j;
		int c;

		if (i == nb)
			c = 1;
		else if (j == nt)
			c = -1;
		else
			c = strcmp(bk[i].key, tk[j].key);
		if (c <= 0)
			for (ie = i + 1; ie < nb && !strcmp(bk[ie].key, bk[i].key); ie++)
				;
		if (c >= 0)
			for (je = j + 1; je < nt && !strcmp(tk[je].key, tk[j].key); je++)
				;
		if (ngroups == capgroups) {
			size_t cap = capgroups ? capgroups * 2 : 256;
			key_group *grown = realloc(groups, cap * sizeof(*grown));

			if (!grown) {
				rc = -1;
				break;
			}
			groups = grown;
			capgroups = cap;
		}
		groups[ngroups++] = (key_group){ (uint32_t)i, c <= 0 ? (uint32_t)(ie - i) : 0, (uint32_t)j,
						 c >= 0 ? (uint32_t)(je - j) : 0 };
		if (c <= 0)
			i = ie;
		if (c >= 0)
			j = je;
	}
	drop_keys(bk, nb, &bkb);
	drop_keys(tk, nt, &tkb);
	for (size_t g = 0; g < ngroups && !rc; g++) {
		const key_group *kg = &groups[g];

		rc = add_group(pv, fv, phase, lctx, kg->nb ? &bk[kg->b] : NULL, kg->nb, kg->nt ? &tk[kg->t] : NULL,
			       kg->nt, filter);
	}
	if (rc == -2)
		dv_error_set(err, "filter: regex too expensive (backtracking limit hit on a file name)");
	else if (rc)
		dv_error_set(err, "phase %s: out of memory", tp ? tp->name : bp->name);
out:
	/* the keys go before the sort: qsort may take a buffer as large as
	 * the phase's pairs */
	free_keyed(bk, nb, &bkb);
	free_keyed(tk, nt, &tkb);
	free(groups);
	free(fk.v);
	if (!rc && pv->n > start)
		qsort(pv->v + start, pv->n - start, sizeof(*pv->v), cmp_pair);
	return rc;
}

dv_phase *dv_comparison_find_phase(const dv_comparison *cmp, dv_run *run, const char *name)
{
	for (size_t i = 0; i < run->nphases; i++)
		if (!strcmp(run->phases[i].name, name) && dv_comparison_phase_selected(cmp, name))
			return &run->phases[i];
	return NULL;
}

/* The run's first selected phase and how many there are. */
static size_t selected_phases(const dv_comparison *cmp, dv_run *run, dv_phase **first)
{
	size_t n = 0;

	*first = NULL;
	for (size_t i = 0; i < run->nphases; i++) {
		if (!dv_comparison_phase_selected(cmp, run->phases[i].name))
			continue;
		if (!n++)
			*first = &run->phases[i];
	}
	return n;
}

static int cmp_name_ptr(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	int rx = dv_phase_rank(x), ry = dv_phase_rank(y);

	return rx != ry ? rx - ry : strcmp(x, y);
}

dv_comparison *dv_comparison_build(dv_run *base, dv_run *targ, const pcre2_code *filter, dv_error *err)
{
	return dv_comparison_build_grouped(base, targ, filter, NULL, err);
}

dv_comparison *dv_comparison_build_grouped(dv_run *base, dv_run *targ, const pcre2_code *filter,
					   const dv_grouping *grouping, dv_error *err)
{
	dv_comparison *cmp;

	if (!base || !targ) {
		dv_error_set(err, "comparison needs two runs");
		return NULL;
	}
	if (!(cmp = calloc(1, sizeof(*cmp)))) {
		dv_error_set(err, "pairing %s with %s: out of memory", base->root, targ->root);
		return NULL;
	}
	cmp->base = base;
	cmp->targ = targ;
	cmp->grouping = grouping;
	if (dv_comparison_pair(cmp, filter, err)) {
		free(cmp);
		return NULL;
	}
	return cmp;
}

int dv_comparison_pair(dv_comparison *cmp, const pcre2_code *filter, dv_error *err)
{
	dv_run *base = cmp->base, *targ = cmp->targ;
	dv_phase *base_first, *targ_first;
	size_t base_n = selected_phases(cmp, base, &base_first), targ_n = selected_phases(cmp, targ, &targ_first);
	const char **names;
	size_t nnames = 0;
	pair_vec pv = {0};
	file_vec fv = {0};
	bool both_bare;

	names = malloc((base->nphases + targ->nphases + 1) * sizeof(*names));
	if (!names)
		goto oom;
	/* Two bare folders are one phase each, whatever their folders are called:
	 * the phase keeps a phase name either side has, else the target's folder
	 * name (as reports and their tests expect). */
	both_bare = base->bare && targ->bare && base_n == 1 && targ_n == 1;
	if (both_bare) {
		const char *bn = base_first->name, *tn = targ_first->name;

		names[nnames++] = dv_phase_rank(tn) == 3 && dv_phase_rank(bn) < 3 ? bn : tn;
	}
	for (size_t i = 0; i < targ->nphases && !both_bare; i++)
		if (dv_comparison_phase_selected(cmp, targ->phases[i].name))
			names[nnames++] = targ->phases[i].name;
	for (size_t i = 0; i < base->nphases && !both_bare; i++)
		if (dv_comparison_phase_selected(cmp, base->phases[i].name) &&
		    !dv_comparison_find_phase(cmp, targ, base->phases[i].name))
			names[nnames++] = base->phases[i].name;
	if (nnames)
		qsort(names, nnames, sizeof(*names), cmp_name_ptr);

	cmp->nphases = 0;
	cmp->phases = calloc(nnames ? nnames : 1, sizeof(*cmp->phases));
	if (!cmp->phases)
		goto oom;
	for (size_t i = 0; i < nnames; i++) {
		dv_phase *bp = both_bare ? base_first : dv_comparison_find_phase(cmp, base, names[i]);
		dv_phase *tp = both_bare ? targ_first : dv_comparison_find_phase(cmp, targ, names[i]);
		dv_phase_pairs *pp = &cmp->phases[cmp->nphases];
		size_t first = pv.n;
		bool ignored = false;
		dv_logical_ctx *lctx = calloc(1, sizeof(*lctx));

		if (!lctx)
			goto oom;
		dv_logical_ctx_init(lctx, cmp->grouping, bp, tp);
		if (pair_phase(&pv, &fv, cmp->nphases, bp, tp, cmp->grouping, lctx, filter, &ignored, err)) {
			dv_logical_ctx_free(lctx);
			goto fail;
		}
		/* A filter that leaves a phase nothing drops the phase. */
		if (filter && pv.n == first) {
			dv_logical_ctx_free(lctx);
			continue;
		}
		pp->lctx = lctx;
		if (!(pp->name = strdup(names[i])))
			goto oom;
		pp->in_base = bp != NULL;
		pp->in_targ = tp != NULL;
		pp->first = first;
		pp->count = pv.n - first;
		pp->folders_ignored = ignored;
		cmp->nphases++;
	}
	free(names);
	/* both vectors grew by doubling: give the slack back (they are kept) */
	if (pv.n && pv.n < pv.cap) {
		dv_pair *fit = realloc(pv.v, pv.n * sizeof(*fit));

		if (fit)
			pv.v = fit;
	}
	if (fv.n && fv.n < fv.cap) {
		const dv_dumpfile **fit = realloc(fv.v, fv.n * sizeof(*fit));

		if (fit)
			fv.v = fit;
	}
	cmp->pairs = pv.v;
	cmp->npairs = pv.n;
	cmp->pair_files = fv.v;
	for (size_t i = 0; i < pv.n; i++)
		pv.v[i].files = (uintptr_t)pv.v[i].files == NO_FILE_LIST ? NULL : fv.v + (uintptr_t)pv.v[i].files;
	/* the per-phase counts the compute path keeps start from the pairs made */
	dv_comparison_recount(cmp);
	return 0;
oom:
	dv_error_set(err, "pairing %s with %s: out of memory", base->root, targ->root);
fail:
	free(names);
	free(pv.v);
	free(fv.v);
	for (size_t i = 0; i < cmp->nphases; i++) {
		free(cmp->phases[i].name);
		dv_logical_ctx_free(cmp->phases[i].lctx);
	}
	free(cmp->phases);
	cmp->phases = NULL;
	cmp->nphases = 0;
	return -1;
}

void dv_comparison_free(dv_comparison *cmp)
{
	if (!cmp)
		return;
	dv_comparison_scan_stop(cmp);
	for (size_t i = 0; i < cmp->nphases; i++) {
		free(cmp->phases[i].name);
		dv_logical_ctx_free(cmp->phases[i].lctx);
	}
	free(cmp->phases);
	for (size_t i = 0; i < cmp->npairs; i++) {
		dv_logical_result_free(cmp->pairs[i].logical);
		dv_pair_result_release(&cmp->pairs[i]);
	}
	free(cmp->pairs);
	dv_comparison_free_chunks(cmp);
	free(cmp->pair_files);
	free(cmp->rule_of);
	free(cmp->out_of_shard);
	free(cmp->retired);
	dv_warnings_free(cmp->recorded_warnings, cmp->nrecorded_warnings);
	dv_comparison_free_runs(cmp);
	for (size_t i = 0; i < cmp->nselected; i++)
		free(cmp->selected[i]);
	free(cmp->selected);
	free(cmp);
}

typedef struct warn_vec {
	char **v;
	size_t n;
	bool oom;
} warn_vec;

static void warn(warn_vec *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(warn_vec *w, const char *fmt, ...)
{
	char *line = NULL, **grown;
	va_list ap;
	int rc;

	if (w->oom)
		return;
	va_start(ap, fmt);
	rc = vasprintf(&line, fmt, ap);
	va_end(ap);
	grown = rc < 0 ? NULL : realloc(w->v, (w->n + 1) * sizeof(*grown));
	if (!grown) {
		if (rc >= 0)
			free(line);
		w->oom = true;
		return;
	}
	w->v = grown;
	w->v[w->n++] = line;
}

size_t dv_comparison_warnings(const dv_comparison *cmp, char ***out)
{
	warn_vec w = {0};
	size_t nb = 0, nt = 0, only_b = 0, only_t = 0;
	const dv_run *runs[2] = {cmp->base, cmp->targ};
	const char *sides[2] = {"baseline", "target"};

	if (cmp->warnings_recorded) {
		for (size_t i = 0; i < cmp->nrecorded_warnings; i++)
			warn(&w, "%s", cmp->recorded_warnings[i]);
		goto out;
	}
	for (int s = 0; s < 2; s++)
		for (size_t i = 0; runs[s] && i < runs[s]->nproblems; i++)
			warn(&w, "%s: %s", sides[s], runs[s]->problems[i]);
	for (size_t k = 0; k < cmp->nphases; k++) {
		const dv_phase_pairs *ph = &cmp->phases[k];
		size_t m = 0, b = 0, t = 0;

		size_t mb = 0, mt = 0;

		/* counted in files: a logical tensor holds several */
		for (size_t i = ph->first; i < ph->first + ph->count; i++) {
			const dv_pair *p = &cmp->pairs[i];
			size_t pb, pt;

			dv_pair_files(p, 0, &pb);
			dv_pair_files(p, 1, &pt);
			if (p->kind == DV_PAIR_MATCHED) {
				m++;
				mb += pb;
				mt += pt;
			}
			b += p->kind == DV_PAIR_BASELINE_ONLY ? pb : 0;
			t += p->kind == DV_PAIR_TARGET_ONLY ? pt : 0;
		}
		nb += mb + b;
		nt += mt + t;
		only_b += b;
		only_t += t;
		if (ph->in_base != ph->in_targ)
			warn(&w, "phase %s: only in the %s (%zu file%s)", ph->name,
			     ph->in_base ? "baseline" : "target", ph->in_base ? b : t, (ph->in_base ? b : t) == 1 ? "" : "s");
		else if (!m && b && t)
			warn(&w, "phase %s: nothing compared: no file has a partner (%zu in the baseline, %zu in the target)",
			     ph->name, b, t);
	}
	/* smart token alignment: coverage instead of silence, and never a
	 * vacuous pass (zero sequences matched compares nothing) */
	for (size_t k = 0; k < cmp->nphases; k++) {
		const dv_logical_ctx *lc = cmp->phases[k].lctx;
		size_t compared = 0;

		if (!lc || !lc->smart_asked)
			continue;
		if (lc->ta_why)
			warn(&w, "phase %s: %s", cmp->phases[k].name, lc->ta_why);
		if (!lc->ta)
			continue;
		for (size_t i = 0; i < lc->ta->nmatched; i++)
			compared += lc->ta->matched[i].tokens > 0;
		if (!compared)
			warn(&w, "phase %s: token alignment matched no sequence (%zu baseline, %zu target unmatched)",
			     cmp->phases[k].name, lc->ta->nunmatched_baseline, lc->ta->nunmatched_target);
		for (size_t i = 0; i < lc->ta->nerrors; i++)
			warn(&w, "phase %s: token alignment: %s", cmp->phases[k].name, lc->ta->errors[i]);
	}
	if (only_b * 2 > nb)
		warn(&w, "baseline: %zu of %zu files have no partner in the target", only_b, nb);
	if (only_t * 2 > nt)
		warn(&w, "target: %zu of %zu files have no partner in the baseline", only_t, nt);
out:
	if (w.oom) {
		dv_warnings_free(w.v, w.n);
		w.v = NULL;
		w.n = 0;
		/* cannot say why: still never pass quietly */
		if ((w.v = malloc(sizeof(*w.v))) && (w.v[0] = strdup("out of memory while checking the pairing")))
			w.n = 1;
	}
	*out = w.v;
	return w.n;
}

void dv_warnings_free(char **warnings, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(warnings[i]);
	free(warnings);
}
