/* libFuzzer: the token alignment core on hostile aux values (what a dump file
 * may hold). Input: two sides, each a step count byte, then per step a step
 * byte, a field mask byte and the fields it names: int arrays as a length
 * byte then one signed byte per value (small values, so sequences match),
 * input_ids with a row count byte (2-d when non-zero), rids as a count byte
 * then one letter each, qkv_format as a byte choosing "thd" / "bshd" /
 * "BSHD_x". Checked: the plan's two sides have ntokens locators each, every
 * locator is a token of a step of its side, matched sequences' ranges tile
 * [0, ntokens) in order, the ids at both sides' plan locators agree, no
 * sequence is matched twice, and coverage counts add up. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/token_align.h"

typedef struct cursor {
	const uint8_t *p;
	size_t n;
} cursor;

static unsigned byte(cursor *c)
{
	if (!c->n)
		return 0;
	c->n--;
	return *c->p++;
}

static void ints(cursor *c, dv_ta_ints *x, unsigned rows)
{
	size_t n = byte(c) % 24;

	x->present = true;
	x->n = n;
	x->v = malloc((n ? n : 1) * sizeof(*x->v));
	for (size_t i = 0; i < n; i++)
		x->v[i] = (int8_t)byte(c);
	x->ndim = 1;
	x->shape[0] = (int64_t)n;
	if (rows) {
		x->ndim = 2;
		x->shape[0] = rows;
		x->shape[1] = (int64_t)(n / rows);
	}
}

static void side_from(cursor *c, dv_ta_side *s)
{
	unsigned nsteps = byte(c) % 4;

	memset(s, 0, sizeof(*s));
	s->meta_sglang = byte(c) & 1;
	s->meta_megatron = !s->meta_sglang;
	for (unsigned i = 0; i < nsteps; i++) {
		dv_ta_step *st = dv_ta_side_step(s, byte(c) % 5);
		unsigned mask = byte(c);

		if (!st)
			return;
		if (mask & 1 && !st->input_ids.present)
			ints(c, &st->input_ids, byte(c) % 4);
		if (mask & 2 && !st->positions.present)
			ints(c, &st->positions, 0);
		if (mask & 4 && !st->seq_lens.present)
			ints(c, &st->seq_lens, 0);
		if (mask & 8 && !st->position_ids.present)
			ints(c, &st->position_ids, 0);
		if (mask & 16 && !st->cu_seqlens_q.present)
			ints(c, &st->cu_seqlens_q, 0);
		if (mask & 32 && !st->has_rids) {
			st->nrids = byte(c) % 6;
			st->rids = calloc(st->nrids ? st->nrids : 1, sizeof(char *));
			for (size_t k = 0; k < st->nrids; k++) {
				st->rids[k] = malloc(2);
				st->rids[k][0] = (char)('a' + byte(c) % 4);
				st->rids[k][1] = 0;
			}
			st->has_rids = true;
		}
		if (mask & 64 && !st->qkv_format) {
			static const char *const f[] = {"thd", "bshd", "BSHD_x"};

			st->qkv_format = strdup(f[byte(c) % 3]);
		}
	}
}

static const dv_ta_step *find_step(const dv_ta_side *s, int64_t step)
{
	for (size_t i = 0; i < s->nsteps; i++)
		if (s->steps[i].step == step)
			return &s->steps[i];
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cursor c = {data, size};
	dv_ta_side side[2];
	dv_ta_seqs q[2];
	dv_ta_result r;
	const char *why = NULL;
	int which = -1, rc;
	dv_error err = {""};

	side_from(&c, &side[0]);
	side_from(&c, &side[1]);
	rc = dv_ta_align(&side[0], &side[1], &r, &q[0], &q[1], &why, &which, &err);
	assert(rc >= 0);
	if (rc == 0) {
		size_t at = 0, tokens = 0;
		bool *used[2];

		for (int k = 0; k < 2; k++)
			used[k] = calloc(q[k].nseqs + 1, 1);
		for (size_t m = 0; m < r.nmatched; m++) {
			const dv_ta_match *x = &r.matched[m];

			assert(x->start == at && x->end >= x->start);
			assert(x->end - x->start == x->tokens);
			assert(x->base_seq < q[0].nseqs && x->targ_seq < q[1].nseqs);
			assert(!used[0][x->base_seq] && !used[1][x->targ_seq]);
			used[0][x->base_seq] = used[1][x->targ_seq] = true;
			assert(x->tokens + x->baseline_only_tokens == q[0].seqs[x->base_seq].ntokens);
			assert(x->tokens + x->target_only_tokens == q[1].seqs[x->targ_seq].ntokens);
			assert(x->id && x->id[0]);
			at = x->end;
			tokens += x->tokens;
		}
		assert(at == r.ntokens && tokens == r.ntokens);
		for (size_t i = 0; i < r.nunmatched_baseline; i++)
			assert(!used[0][r.unmatched_baseline[i].seq]);
		for (size_t i = 0; i < r.nunmatched_target; i++)
			assert(!used[1][r.unmatched_target[i].seq]);
		assert(r.nmatched + r.nunmatched_target + r.padding_sequences <= q[1].nseqs + q[0].nseqs);
		for (size_t k = 0; k < r.ntokens; k++) {
			int64_t id[2];

			for (int s = 0; s < 2; s++) {
				const dv_ta_step *st = find_step(&side[s], r.plan[s][k].step);

				assert(st && st->input_ids.present);
				assert(r.plan[s][k].index >= 0 && (size_t)r.plan[s][k].index < st->input_ids.n);
				id[s] = st->input_ids.v[r.plan[s][k].index];
			}
			assert(id[0] == id[1]);
		}
		for (int k = 0; k < 2; k++)
			free(used[k]);
		dv_ta_result_free(&r);
		dv_ta_seqs_free(&q[0]);
		dv_ta_seqs_free(&q[1]);
	} else {
		assert(why && (which == 0 || which == 1));
	}
	dv_ta_side_free(&side[0]);
	dv_ta_side_free(&side[1]);
	return 0;
}
