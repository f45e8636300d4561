/* Token alignment core: per-sequence token lists from each side's auxiliary
 * values, matching, plan and coverage. No file is read here. */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/dims.h"
#include "dumpview/token_align.h"

/* ---- lists of message lines ------------------------------------------------ */

typedef struct strlist {
	char **v;
	size_t n, cap;
	bool oom;
} strlist;

static void sl_add(strlist *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sl_add(strlist *l, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int len;

	if (l->oom)
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		char **v = realloc(l->v, cap * sizeof(*v));

		if (!v) {
			l->oom = true;
			return;
		}
		l->v = v;
		l->cap = cap;
	}
	va_start(ap, fmt);
	len = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (len < 0) {
		l->oom = true;
		return;
	}
	l->v[l->n++] = s;
}

static void strs_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* ---- sides ---------------------------------------------------------------- */

static void ints_free(dv_ta_ints *x)
{
	free(x->v);
	memset(x, 0, sizeof(*x));
}

void dv_ta_side_free(dv_ta_side *side)
{
	if (!side)
		return;
	for (size_t i = 0; i < side->nsteps; i++) {
		dv_ta_step *s = &side->steps[i];

		ints_free(&s->input_ids);
		ints_free(&s->positions);
		ints_free(&s->seq_lens);
		ints_free(&s->req_pool_indices);
		ints_free(&s->position_ids);
		ints_free(&s->cu_seqlens_q);
		ints_free(&s->cu_seqlens_kv);
		strs_free(s->rids, s->nrids);
		free(s->qkv_format);
	}
	free(side->steps);
	memset(side, 0, sizeof(*side));
}

dv_ta_step *dv_ta_side_step(dv_ta_side *side, int64_t step)
{
	dv_ta_step *v;

	for (size_t i = 0; i < side->nsteps; i++)
		if (side->steps[i].step == step)
			return &side->steps[i];
	if (!(v = realloc(side->steps, (side->nsteps + 1) * sizeof(*v))))
		return NULL;
	side->steps = v;
	memset(&v[side->nsteps], 0, sizeof(*v));
	v[side->nsteps].step = step;
	return &v[side->nsteps++];
}

static const char *const aux_names[] = {
	"input_ids", "positions", "seq_lens", "req_pool_indices", "rids",
	"position_ids", "cu_seqlens_q", "cu_seqlens_kv", "qkv_format",
};

bool dv_ta_is_aux_name(const char *name)
{
	for (size_t i = 0; i < sizeof(aux_names) / sizeof(aux_names[0]); i++)
		if (!strcmp(name, aux_names[i]))
			return true;
	return false;
}

/* ---- detection ---------------------------------------------------------------- */

dv_ta_framework dv_ta_detect_framework(const dv_ta_side *side)
{
	bool sg = false, mg = false;

	for (size_t i = 0; i < side->nsteps; i++) {
		const dv_ta_step *s = &side->steps[i];

		sg |= s->seq_lens.present || s->positions.present || s->req_pool_indices.present || s->has_rids;
		mg |= s->cu_seqlens_q.present || s->cu_seqlens_kv.present || s->qkv_format != NULL;
	}
	if (sg)
		return DV_TA_FW_SGLANG;
	if (mg)
		return DV_TA_FW_MEGATRON;
	if (side->meta_sglang)
		return DV_TA_FW_SGLANG;
	if (side->meta_megatron)
		return DV_TA_FW_MEGATRON;
	return DV_TA_FW_UNKNOWN;
}

static int cmp_step_ptr(const void *a, const void *b)
{
	int64_t x = (*(const dv_ta_step *const *)a)->step, y = (*(const dv_ta_step *const *)b)->step;

	return (x > y) - (x < y);
}

/* The side's steps in increasing step order (malloc'd array of pointers). */
static const dv_ta_step **sorted_steps(const dv_ta_side *side)
{
	const dv_ta_step **v = malloc((side->nsteps ? side->nsteps : 1) * sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < side->nsteps; i++)
		v[i] = &side->steps[i];
	qsort(v, side->nsteps, sizeof(*v), cmp_step_ptr);
	return v;
}

static bool contains_bshd(const char *s)
{
	static const char w[] = "bshd";

	for (; *s; s++) {
		size_t k = 0;

		while (k < 4 && s[k] && tolower((unsigned char)s[k]) == w[k])
			k++;
		if (k == 4)
			return true;
	}
	return false;
}

dv_ta_layout dv_ta_detect_layout(const dv_ta_side *side, dv_ta_framework fw, bool *fallback)
{
	const dv_ta_step **steps;
	dv_ta_layout out = DV_TA_THD;
	bool decided = fw == DV_TA_FW_SGLANG;

	if (!decided && (steps = sorted_steps(side))) {
		for (size_t i = 0; !decided && i < side->nsteps; i++) {
			if (steps[i]->qkv_format) {
				out = contains_bshd(steps[i]->qkv_format) ? DV_TA_BSHD : DV_TA_THD;
				decided = true;
			} else if (steps[i]->input_ids.present && steps[i]->input_ids.ndim == 2) {
				out = DV_TA_BSHD;
				decided = true;
			}
		}
		free(steps);
	}
	if (fallback)
		*fallback = !decided;
	return out;
}

int dv_ta_cu_seqlens_counts(const int64_t *cu, size_t n, int64_t **counts, size_t *ncounts, dv_error *err)
{
	*counts = NULL;
	*ncounts = 0;
	if (n == 0)
		return dv_error_set(err, "cu_seqlens is empty");
	if (cu[0] != 0)
		return dv_error_set(err, "cu_seqlens starts at %" PRId64 ", not 0", cu[0]);
	for (size_t i = 1; i < n; i++)
		if (cu[i] < cu[i - 1])
			return dv_error_set(err, "cu_seqlens decreases at %zu (%" PRId64 " after %" PRId64 ")", i, cu[i],
					    cu[i - 1]);
	if (n == 1)
		return 0;
	if (!(*counts = malloc((n - 1) * sizeof(**counts))))
		return dv_error_set(err, "out of memory");
	for (size_t i = 1; i < n; i++)
		(*counts)[i - 1] = cu[i] - cu[i - 1];
	*ncounts = n - 1;
	return 0;
}

/* ---- building sequences ------------------------------------------------------- */

typedef struct seqbuf {
	dv_ta_seq s;
	size_t cap;
	bool bad;          /* a problem already reported: dropped at the end */
} seqbuf;

static int seq_append(seqbuf *b, int64_t id, int64_t pos, int64_t step, int64_t index)
{
	if (b->s.ntokens == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 16;
		int64_t *ids = realloc(b->s.ids, cap * sizeof(*ids));
		int64_t *ps;
		dv_ta_loc *ls;

		if (!ids)
			return -1;
		b->s.ids = ids;
		if (!(ps = realloc(b->s.positions, cap * sizeof(*ps))))
			return -1;
		b->s.positions = ps;
		if (!(ls = realloc(b->s.locs, cap * sizeof(*ls))))
			return -1;
		b->s.locs = ls;
		b->cap = cap;
	}
	b->s.ids[b->s.ntokens] = id;
	b->s.positions[b->s.ntokens] = pos;
	b->s.locs[b->s.ntokens] = (dv_ta_loc){step, index};
	b->s.ntokens++;
	return 0;
}

static void seq_free(dv_ta_seq *s)
{
	free(s->rid);
	free(s->ids);
	free(s->positions);
	free(s->locs);
}

static char *seq_label(const dv_ta_seq *s)
{
	char *out = NULL;

	if (s->rid) {
		if (asprintf(&out, "sequence rid %s", s->rid) < 0)
			return NULL;
	} else if (asprintf(&out, "sequence (step %" PRId64 ", index %" PRId64 ")", s->first_step, s->first_index) < 0) {
		return NULL;
	}
	return out;
}

/* A sequence and its insertion index, sorted by key (no shared state, so
 * sides may be built on several threads at once). */
typedef struct keyed {
	const dv_ta_seq *s;
	size_t i;
} keyed;

static int cmp_key(const void *a, const void *b)
{
	const keyed *ka = a, *kb = b;
	const dv_ta_seq *x = ka->s, *y = kb->s;

	if (!x->rid != !y->rid)
		return x->rid ? 1 : -1;
	if (x->rid) {
		int c = strcmp(x->rid, y->rid);

		if (c)
			return c;
	} else {
		if (x->first_step != y->first_step)
			return x->first_step < y->first_step ? -1 : 1;
		if (x->first_index != y->first_index)
			return x->first_index < y->first_index ? -1 : 1;
	}
	/* stable: insertion order */
	return (ka->i > kb->i) - (ka->i < kb->i);
}

/* Finds the open sequence of rid, or -1. */
static ptrdiff_t find_rid(const seqbuf *v, size_t n, const char *rid)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].s.rid && !strcmp(v[i].s.rid, rid))
			return (ptrdiff_t)i;
	return -1;
}

int dv_ta_build_seqs(const dv_ta_side *side, dv_ta_seqs *out, const char **why, dv_error *err)
{
	const dv_ta_step **steps = NULL;
	seqbuf *bufs = NULL;
	size_t nbufs = 0, capbufs = 0;
	strlist errs = {0};
	bool have_ids = false, have_lens = false;
	int rc = -1;

	const char *dummy_why;

	if (!why)
		why = &dummy_why;
	memset(out, 0, sizeof(*out));
	*why = NULL;
	for (size_t i = 0; i < side->nsteps; i++) {
		have_ids |= side->steps[i].input_ids.present;
		have_lens |= side->steps[i].seq_lens.present;
	}
	out->framework = dv_ta_detect_framework(side);
	if (!have_ids || (out->framework == DV_TA_FW_SGLANG && !have_lens)) {
		*why = "aux_tensors_missing";
		return 1;
	}
	if (out->framework == DV_TA_FW_UNKNOWN) {
		*why = "framework_detection_failed";
		return 1;
	}
	out->layout = dv_ta_detect_layout(side, out->framework, &out->layout_fallback);
	if (!(steps = sorted_steps(side)))
		goto oom;

	for (size_t si = 0; si < side->nsteps; si++) {
		const dv_ta_step *st = steps[si];
		bool sg = out->framework == DV_TA_FW_SGLANG;
		const int64_t *ids = st->input_ids.v;
		size_t nids = st->input_ids.n;
		int64_t *counts = NULL, *pos = NULL;
		size_t ncounts = 0;
		bool rows = false;
		dv_error e = {{0}};

		if (!st->input_ids.present) {
			sl_add(&errs, "step %" PRId64 ": no input_ids; its tokens are left out", st->step);
			continue;
		}
		/* a [b, s] input_ids must hold b * s ids (rows and positions follow it) */
		if (!sg && out->layout == DV_TA_BSHD && st->input_ids.ndim == 2 &&
		    (st->input_ids.shape[0] < 0 || st->input_ids.shape[1] < 0 ||
		     (st->input_ids.shape[0] && (uint64_t)st->input_ids.shape[1] != nids / (uint64_t)st->input_ids.shape[0]) ||
		     (uint64_t)st->input_ids.shape[0] * (uint64_t)st->input_ids.shape[1] != nids)) {
			sl_add(&errs, "step %" PRId64 ": input_ids shape [%" PRId64 ", %" PRId64 "] does not hold its %zu ids; its tokens are left out",
			       st->step, st->input_ids.shape[0], st->input_ids.shape[1], nids);
			continue;
		}
		/* per-sequence token counts */
		if (sg) {
			if (!st->seq_lens.present) {
				sl_add(&errs, "step %" PRId64 ": no seq_lens; its tokens are left out", st->step);
				continue;
			}
			ncounts = st->seq_lens.n;
			if (ncounts && !(counts = malloc(ncounts * sizeof(*counts))))
				goto oom;
			if (ncounts)
				memcpy(counts, st->seq_lens.v, ncounts * sizeof(*counts));
		} else if (st->cu_seqlens_q.present) {
			if (dv_ta_cu_seqlens_counts(st->cu_seqlens_q.v, st->cu_seqlens_q.n, &counts, &ncounts, &e) < 0) {
				if (!strcmp(e.msg, "out of memory"))
					goto oom;
				sl_add(&errs, "step %" PRId64 ": cu_seqlens_q: %s; its tokens are left out", st->step, e.msg);
				continue;
			}
		} else if (out->layout == DV_TA_BSHD && st->input_ids.ndim == 2) {
			ncounts = (size_t)st->input_ids.shape[0];
			rows = true;
			if (ncounts && !(counts = malloc(ncounts * sizeof(*counts))))
				goto oom;
			for (size_t k = 0; k < ncounts; k++)
				counts[k] = st->input_ids.shape[1];
		} else {
			ncounts = 1;
			if (!(counts = malloc(sizeof(*counts))))
				goto oom;
			counts[0] = (int64_t)nids;
		}
		/* checks of the step as a whole */
		{
			/* summed without overflow: beyond nids is wrong anyway */
			uint64_t sum = 0;
			bool neg = false, over = false;

			for (size_t k = 0; k < ncounts; k++) {
				neg |= counts[k] < 0;
				if (counts[k] > 0 && !over) {
					if ((uint64_t)counts[k] > (uint64_t)INT64_MAX - sum)
						over = true;
					else
						sum += (uint64_t)counts[k];
				}
			}
			if (neg || over || sum != nids) {
				sl_add(&errs, "step %" PRId64 ": %s sum to %s%" PRIu64 " tokens but input_ids holds %zu%s; its tokens are left out",
				       st->step, sg ? "seq_lens" : st->cu_seqlens_q.present ? "cu_seqlens_q lengths" : "rows",
				       over ? "more than " : "", sum, nids, neg ? " (a negative length)" : "");
				free(counts);
				continue;
			}
		}
		if (sg && st->has_rids && st->nrids != ncounts) {
			sl_add(&errs, "step %" PRId64 ": %zu rids for %zu sequences; its tokens are left out", st->step,
			       st->nrids, ncounts);
			free(counts);
			continue;
		}
		/* positions */
		if (sg) {
			if (!st->positions.present) {
				sl_add(&errs, "step %" PRId64 ": no positions; its tokens are left out", st->step);
				free(counts);
				continue;
			}
			if (st->positions.n != nids) {
				sl_add(&errs, "step %" PRId64 ": %zu positions for %zu input_ids; its tokens are left out",
				       st->step, st->positions.n, nids);
				free(counts);
				continue;
			}
		} else if (st->position_ids.present && st->position_ids.n != nids) {
			sl_add(&errs, "step %" PRId64 ": %zu position_ids for %zu input_ids; its tokens are left out",
			       st->step, st->position_ids.n, nids);
			free(counts);
			continue;
		}
		if (!(pos = malloc((nids ? nids : 1) * sizeof(*pos)))) {
			free(counts);
			goto oom;
		}
		if (sg)
			memcpy(pos, st->positions.v, nids * sizeof(*pos));
		else if (st->position_ids.present)
			memcpy(pos, st->position_ids.v, nids * sizeof(*pos));
		else if (out->layout == DV_TA_BSHD && st->input_ids.ndim == 2)
			for (size_t k = 0; k < nids; k++)
				pos[k] = (int64_t)k % st->input_ids.shape[1];
		else
			for (size_t k = 0, off = 0; k < ncounts; off += (size_t)counts[k], k++)
				for (int64_t j = 0; j < counts[k]; j++)
					pos[off + (size_t)j] = j;

		/* slices into sequences */
		for (size_t k = 0, off = 0; k < ncounts; off += (size_t)counts[k], k++) {
			const char *rid = sg && st->has_rids ? st->rids[k] : NULL;
			ptrdiff_t at = rid ? find_rid(bufs, nbufs, rid) : -1;
			seqbuf *b;

			if (at < 0) {
				if (counts[k] == 0)
					continue;
				if (nbufs == capbufs) {
					size_t cap = capbufs ? 2 * capbufs : 8;
					seqbuf *v = realloc(bufs, cap * sizeof(*v));

					if (!v)
						goto oom_step;
					bufs = v;
					capbufs = cap;
				}
				b = &bufs[nbufs++];
				memset(b, 0, sizeof(*b));
				if (rid && !(b->s.rid = strdup(rid)))
					goto oom_step;
				b->s.first_step = st->step;
				b->s.first_index = (int64_t)k;
			} else {
				b = &bufs[at];
			}
			b->s.last_in_step = !sg && out->layout == DV_TA_THD && k + 1 == ncounts && ncounts > 1;
			b->s.bshd_row = rows;
			for (int64_t j = 0; j < counts[k]; j++)
				if (seq_append(b, ids[off + (size_t)j], pos[off + (size_t)j], st->step, (int64_t)(off + (size_t)j)) < 0)
					goto oom_step;
		}
		free(counts);
		free(pos);
		continue;
oom_step:
		free(counts);
		free(pos);
		goto oom;
	}

	/* positions must count 0, 1, ..., n-1 over each sequence's steps */
	for (size_t i = 0; i < nbufs; i++) {
		dv_ta_seq *s = &bufs[i].s;

		for (size_t j = 0; j < s->ntokens; j++) {
			if (s->positions[j] != (int64_t)j) {
				char *l = seq_label(s);

				sl_add(&errs, "%s: token %zu (step %" PRId64 ", index %" PRId64 ") has position %" PRId64
					      ", expected %zu; the sequence is left out",
				       l ? l : "sequence", j, s->locs[j].step, s->locs[j].index, s->positions[j], j);
				free(l);
				bufs[i].bad = true;
				break;
			}
		}
	}
	if (errs.oom)
		goto oom;
	if (!(out->seqs = malloc((nbufs ? nbufs : 1) * sizeof(*out->seqs))) ||
	    !(out->order = malloc((nbufs ? nbufs : 1) * sizeof(*out->order))))
		goto oom;
	for (size_t i = 0; i < nbufs; i++) {
		if (bufs[i].bad)
			seq_free(&bufs[i].s);
		else
			out->seqs[out->nseqs++] = bufs[i].s;
	}
	free(bufs);
	bufs = NULL;
	nbufs = 0;
	{
		keyed *k = malloc((out->nseqs ? out->nseqs : 1) * sizeof(*k));

		if (!k)
			goto oom;
		for (size_t i = 0; i < out->nseqs; i++)
			k[i] = (keyed){&out->seqs[i], i};
		qsort(k, out->nseqs, sizeof(*k), cmp_key);
		for (size_t i = 0; i < out->nseqs; i++)
			out->order[i] = k[i].i;
		free(k);
	}
	out->errors = errs.v;
	out->nerrors = errs.n;
	free(steps);
	return 0;
oom:
	for (size_t i = 0; i < nbufs; i++)
		seq_free(&bufs[i].s);
	free(bufs);
	free(steps);
	strs_free(errs.v, errs.n);
	dv_ta_seqs_free(out);
	dv_error_set(err, "out of memory");
	return rc;
}

void dv_ta_seqs_free(dv_ta_seqs *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nseqs; i++)
		seq_free(&s->seqs[i]);
	free(s->seqs);
	free(s->order);
	strs_free(s->errors, s->nerrors);
	memset(s, 0, sizeof(*s));
}

/* ---- matching ------------------------------------------------------------------- */

static bool all_have_rids(const dv_ta_seqs *s)
{
	for (size_t i = 0; i < s->nseqs; i++)
		if (!s->seqs[i].rid)
			return false;
	return s->nseqs > 0;
}

/* Length of the agreeing prefix of a and b, or SIZE_MAX when they disagree
 * within their common length. */
static size_t agree_len(const dv_ta_seq *a, const dv_ta_seq *b)
{
	size_t n = a->ntokens < b->ntokens ? a->ntokens : b->ntokens;

	for (size_t i = 0; i < n; i++)
		if (a->ids[i] != b->ids[i])
			return SIZE_MAX;
	return n;
}

/* The padding of a matched BSHD row past its compared part: the trailing run
 * of ids equal to the row's last id, within [common, n). */
static size_t row_padding(const dv_ta_seqs *side, const dv_ta_seq *s, size_t common)
{
	size_t k = 0;

	if (side->framework != DV_TA_FW_MEGATRON || !s->bshd_row || s->ntokens <= common)
		return 0;
	while (k < s->ntokens - common && s->ids[s->ntokens - 1 - k] == s->ids[s->ntokens - 1])
		k++;
	return k;
}

/* An unmatched sequence that is padding: the last segment of a packed
 * Megatron step, or a whole BSHD row, all of one id. */
static bool is_padding(const dv_ta_seqs *side, const dv_ta_seq *s)
{
	if (side->framework != DV_TA_FW_MEGATRON || !(s->last_in_step || s->bshd_row) || !s->ntokens)
		return false;
	for (size_t i = 1; i < s->ntokens; i++)
		if (s->ids[i] != s->ids[0])
			return false;
	return true;
}

static char *decimal(size_t v)
{
	char *s = NULL;

	return asprintf(&s, "%zu", v) < 0 ? NULL : s;
}

int dv_ta_match_seqs(const dv_ta_seqs *base, const dv_ta_seqs *targ, dv_ta_result *out, dv_error *err)
{
	bool *claimed = calloc(base->nseqs ? base->nseqs : 1, sizeof(*claimed));
	bool *tmatched = calloc(targ->nseqs ? targ->nseqs : 1, sizeof(*tmatched));
	strlist errs = {0};
	size_t total = 0;

	memset(out, 0, sizeof(*out));
	if (!claimed || !tmatched)
		goto oom;
	for (size_t i = 0; i < base->nerrors; i++)
		sl_add(&errs, "baseline: %s", base->errors[i]);
	for (size_t i = 0; i < targ->nerrors; i++)
		sl_add(&errs, "target: %s", targ->errors[i]);
	out->by_rid = all_have_rids(base) && all_have_rids(targ);
	if (!(out->matched = calloc(targ->nseqs ? targ->nseqs : 1, sizeof(*out->matched))))
		goto oom;

	for (size_t oi = 0; oi < targ->nseqs; oi++) {
		size_t ti = targ->order[oi], pick = SIZE_MAX, best = 0;
		const dv_ta_seq *t = &targ->seqs[ti];
		dv_ta_match *m;

		if (out->by_rid) {
			for (size_t bi = 0; bi < base->nseqs && pick == SIZE_MAX; bi++)
				if (!claimed[bi] && !strcmp(base->seqs[bi].rid, t->rid))
					pick = bi;
		} else {
			for (size_t bi = 0; bi < base->nseqs && pick == SIZE_MAX; bi++)
				if (!claimed[bi] && base->seqs[bi].ntokens == t->ntokens &&
				    agree_len(&base->seqs[bi], t) == t->ntokens)
					pick = bi;
			if (pick == SIZE_MAX) {
				for (size_t bi = 0; bi < base->nseqs; bi++) {
					size_t a;

					if (claimed[bi])
						continue;
					a = agree_len(&base->seqs[bi], t);
					if (a != SIZE_MAX && a > best) {
						best = a;
						pick = bi;
					}
				}
			}
		}
		if (pick == SIZE_MAX)
			continue;
		claimed[pick] = true;
		tmatched[ti] = true;
		m = &out->matched[out->nmatched++];
		m->base_seq = pick;
		m->targ_seq = ti;
		m->id = t->rid ? strdup(t->rid) : base->seqs[pick].rid ? strdup(base->seqs[pick].rid) : decimal(oi);
		if (!m->id)
			goto oom;
		{
			const dv_ta_seq *b = &base->seqs[pick];
			size_t common = b->ntokens < t->ntokens ? b->ntokens : t->ntokens;

			if (agree_len(b, t) == SIZE_MAX) {
				size_t k = 0;

				while (b->ids[k] == t->ids[k])
					k++;
				m->ids_disagree = true;
				m->tokens = 0;
				m->baseline_only_tokens = b->ntokens;
				m->target_only_tokens = t->ntokens;
				sl_add(&errs, "sequence %s: token ids differ at token %zu (baseline %" PRId64 ", target %" PRId64
					      "); not compared",
				       m->id, k, b->ids[k], t->ids[k]);
			} else {
				m->tokens = common;
				m->baseline_only_tokens = b->ntokens - common;
				m->target_only_tokens = t->ntokens - common;
				out->padding_tokens += row_padding(base, b, common) + row_padding(targ, t, common);
			}
			m->start = total;
			total += m->tokens;
			m->end = total;
		}
	}

	/* leftovers */
	if (!(out->unmatched_baseline = calloc(base->nseqs ? base->nseqs : 1, sizeof(dv_ta_unmatched))) ||
	    !(out->unmatched_target = calloc(targ->nseqs ? targ->nseqs : 1, sizeof(dv_ta_unmatched))))
		goto oom;
	for (int side = 0; side < 2; side++) {
		const dv_ta_seqs *s = side ? targ : base;
		const bool *used = side ? tmatched : claimed;
		dv_ta_unmatched *list = side ? out->unmatched_target : out->unmatched_baseline;
		size_t *n = side ? &out->nunmatched_target : &out->nunmatched_baseline;

		for (size_t oi = 0; oi < s->nseqs; oi++) {
			size_t i = s->order[oi];
			dv_ta_unmatched *u;

			if (used[i])
				continue;
			if (is_padding(s, &s->seqs[i])) {
				out->padding_tokens += s->seqs[i].ntokens;
				out->padding_sequences++;
				continue;
			}
			u = &list[(*n)++];
			u->seq = i;
			u->tokens = s->seqs[i].ntokens;
			if (!(u->id = s->seqs[i].rid ? strdup(s->seqs[i].rid) : decimal(oi)))
				goto oom;
		}
	}

	/* the plan */
	out->ntokens = total;
	for (int side = 0; side < 2; side++)
		if (!(out->plan[side] = malloc((total ? total : 1) * sizeof(dv_ta_loc))))
			goto oom;
	for (size_t k = 0; k < out->nmatched; k++) {
		const dv_ta_match *m = &out->matched[k];

		memcpy(out->plan[0] + m->start, base->seqs[m->base_seq].locs, m->tokens * sizeof(dv_ta_loc));
		memcpy(out->plan[1] + m->start, targ->seqs[m->targ_seq].locs, m->tokens * sizeof(dv_ta_loc));
	}
	if (errs.oom)
		goto oom;
	out->errors = errs.v;
	out->nerrors = errs.n;
	free(claimed);
	free(tmatched);
	return 0;
oom:
	free(claimed);
	free(tmatched);
	strs_free(errs.v, errs.n);
	dv_ta_result_free(out);
	return dv_error_set(err, "out of memory");
}

void dv_ta_result_free(dv_ta_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nmatched; i++)
		free(r->matched[i].id);
	free(r->matched);
	for (size_t i = 0; i < r->nunmatched_baseline; i++)
		free(r->unmatched_baseline[i].id);
	for (size_t i = 0; i < r->nunmatched_target; i++)
		free(r->unmatched_target[i].id);
	free(r->unmatched_baseline);
	free(r->unmatched_target);
	free(r->plan[0]);
	free(r->plan[1]);
	strs_free(r->errors, r->nerrors);
	memset(r, 0, sizeof(*r));
}

int dv_ta_align(const dv_ta_side *base, const dv_ta_side *targ, dv_ta_result *out, dv_ta_seqs *base_seqs,
		dv_ta_seqs *targ_seqs, const char **why, int *which_side, dv_error *err)
{
	dv_ta_seqs s[2];
	int rc;

	const char *dummy_why;
	int dummy_side;

	if (!why)
		why = &dummy_why;
	if (!which_side)
		which_side = &dummy_side;
	memset(out, 0, sizeof(*out));
	*which_side = -1;
	for (int side = 0; side < 2; side++) {
		rc = dv_ta_build_seqs(side ? targ : base, &s[side], why, err);
		if (rc != 0) {
			if (rc > 0)
				*which_side = side;
			if (side)
				dv_ta_seqs_free(&s[0]);
			return rc;
		}
	}
	rc = dv_ta_match_seqs(&s[0], &s[1], out, err);
	if (rc == 0 && base_seqs)
		*base_seqs = s[0];
	else
		dv_ta_seqs_free(&s[0]);
	if (rc == 0 && targ_seqs)
		*targ_seqs = s[1];
	else
		dv_ta_seqs_free(&s[1]);
	return rc;
}

/* ---- concat_steps ------------------------------------------------------------------ */

int dv_ta_concat_token_dim(const dv_dims *dims)
{
	if (!dims)
		return 0;
	for (size_t i = 0; i < dims->ndims; i++)
		if (!dims->dims[i].squeeze && !strcmp(dims->dims[i].name, "t"))
			return (int)i;
	for (size_t i = 0; i < dims->ndims; i++)
		if (!dims->dims[i].squeeze && !strcmp(dims->dims[i].name, "s"))
			return (int)i;
	return 0;
}

int64_t dv_ta_concat_lengths(const int64_t *xlens, size_t nx, const int64_t *ylens, size_t ny, int64_t *xkeep,
			     int64_t *ykeep)
{
	int64_t tx = 0, ty = 0, keep;

	for (size_t i = 0; i < nx; i++)
		tx += xlens[i];
	for (size_t i = 0; i < ny; i++)
		ty += ylens[i];
	keep = tx < ty ? tx : ty;
	for (int side = 0; side < 2; side++) {
		const int64_t *lens = side ? ylens : xlens;
		int64_t *out = side ? ykeep : xkeep, left = keep;
		size_t n = side ? ny : nx;

		for (size_t i = 0; i < n; i++) {
			out[i] = lens[i] < left ? lens[i] : left;
			left -= out[i];
		}
	}
	return keep;
}
