/* Loading a side's token-alignment auxiliary values from its dump files:
 * per step, rank 0's file of each aux name. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/dump.h"
#include "dumpview/pt.h"
#include "dumpview/token_align.h"

/* Reads a tensor of integral values as int64. */
static int read_ints(pt_file *f, const dv_dumpfile *df, const pt_obj *v, dv_ta_ints *out, dv_error *err)
{
	const pt_tensor *t;
	double *x;
	int64_t n;

	if (!v || v->kind != PT_TENSOR)
		return dv_error_set(err, "%s: %s is a %s, not a tensor", df->path, df->name,
				    v ? pt_kind_name(v->kind) : "missing value");
	t = &v->u.tensor;
	n = t->numel;
	if (n < 0 || n > (int64_t)(SIZE_MAX / sizeof(double)) / 2)
		return dv_error_set(err, "%s: %s has too many elements", df->path, df->name);
	if (!(x = malloc((size_t)(n ? n : 1) * sizeof(*x))))
		return dv_error_set(err, "%s: out of memory", df->path);
	if (n && pt_tensor_read_f64(f, t, 0, n, x, err) < 0) {
		free(x);
		return -1;
	}
	free(out->v);
	memset(out, 0, sizeof(*out));
	if (!(out->v = malloc((size_t)(n ? n : 1) * sizeof(*out->v)))) {
		free(x);
		return dv_error_set(err, "%s: out of memory", df->path);
	}
	for (int64_t i = 0; i < n; i++) {
		if (!(fabs(x[i]) <= 9007199254740992.0) || x[i] != floor(x[i])) {
			double bad = x[i];

			free(x);
			free(out->v);
			out->v = NULL;
			return dv_error_set(err, "%s: %s element %" PRId64 " is %g, not an integer", df->path, df->name, i,
					    bad);
		}
		out->v[i] = (int64_t)x[i];
	}
	free(x);
	out->present = true;
	out->n = (size_t)n;
	out->ndim = t->ndim;
	for (int i = 0; i < t->ndim && i < 8; i++)
		out->shape[i] = t->shape[i];
	return 0;
}

static char *dup_str(const pt_obj *o)
{
	char *s = malloc(o->u.str.len + 1);

	if (s) {
		memcpy(s, o->u.str.data, o->u.str.len);
		s[o->u.str.len] = 0;
	}
	return s;
}

static int read_strings(const dv_dumpfile *df, const pt_obj *v, dv_ta_step *st, dv_error *err)
{
	if (!v || (v->kind != PT_LIST && v->kind != PT_TUPLE))
		return dv_error_set(err, "%s: rids is a %s, not a list of strings", df->path,
				    v ? pt_kind_name(v->kind) : "missing value");
	for (size_t i = 0; i < v->u.seq.len; i++) {
		const pt_obj *o = v->u.seq.items[i];

		if (o->kind != PT_STR)
			return dv_error_set(err, "%s: rids[%zu] is a %s, not a string", df->path, i, pt_kind_name(o->kind));
		if (memchr(o->u.str.data, 0, o->u.str.len))
			return dv_error_set(err, "%s: rids[%zu] holds a NUL byte", df->path, i);
	}
	for (size_t i = 0; i < st->nrids; i++)
		free(st->rids[i]);
	free(st->rids);
	st->nrids = 0;
	st->has_rids = false;
	if (!(st->rids = calloc(v->u.seq.len ? v->u.seq.len : 1, sizeof(*st->rids))))
		return dv_error_set(err, "%s: out of memory", df->path);
	for (size_t i = 0; i < v->u.seq.len; i++) {
		if (!(st->rids[i] = dup_str(v->u.seq.items[i])))
			return dv_error_set(err, "%s: out of memory", df->path);
		st->nrids++;
	}
	st->has_rids = true;
	return 0;
}

static int load_one(const dv_dumpfile *df, dv_ta_step *st, dv_error *err)
{
	pt_file *f = pt_open(df->path, err);
	const pt_obj *v;
	int rc = -1;

	if (!f)
		return -1;
	v = pt_dump_value(f);
	if (!strcmp(df->name, "rids")) {
		rc = read_strings(df, v, st, err);
	} else if (!strcmp(df->name, "qkv_format")) {
		if (!v || v->kind != PT_STR) {
			rc = dv_error_set(err, "%s: qkv_format is a %s, not a string", df->path,
					  v ? pt_kind_name(v->kind) : "missing value");
		} else if (memchr(v->u.str.data, 0, v->u.str.len)) {
			rc = dv_error_set(err, "%s: qkv_format holds a NUL byte", df->path);
		} else {
			free(st->qkv_format);
			rc = (st->qkv_format = dup_str(v)) ? 0 : dv_error_set(err, "%s: out of memory", df->path);
		}
	} else {
		dv_ta_ints *dst = !strcmp(df->name, "input_ids")          ? &st->input_ids
				  : !strcmp(df->name, "positions")        ? &st->positions
				  : !strcmp(df->name, "seq_lens")         ? &st->seq_lens
				  : !strcmp(df->name, "req_pool_indices") ? &st->req_pool_indices
				  : !strcmp(df->name, "position_ids")     ? &st->position_ids
				  : !strcmp(df->name, "cu_seqlens_q")     ? &st->cu_seqlens_q
									  : &st->cu_seqlens_kv;

		rc = read_ints(f, df, v, dst, err);
	}
	pt_close(f);
	return rc;
}

/* Whether the meta dict holds key (any value). */
static bool meta_has(const pt_obj *meta, const char *key)
{
	return meta && meta->kind == PT_DICT && pt_dict_get(meta, key) != NULL;
}

int dv_ta_side_load(const dv_dumpfile *files, size_t nfiles, dv_ta_side *side, dv_error *err)
{
	memset(side, 0, sizeof(*side));
	if (nfiles) {
		pt_file *f = pt_open(files[0].path, err);
		const pt_obj *meta;

		if (!f)
			return -1;
		meta = pt_dump_meta(f);
		side->meta_sglang = meta_has(meta, "sglang_parallel_info");
		side->meta_megatron = meta_has(meta, "megatron_parallel_info");
		pt_close(f);
	}
	for (size_t i = 0; i < nfiles; i++) {
		const dv_dumpfile *df = &files[i];
		dv_ta_step *st;
		bool lower = false;

		if (!df->name || !dv_ta_is_aux_name(df->name))
			continue;
		/* the lowest rank's file of this name and step (rank -1: no rank tag) */
		for (size_t j = 0; j < nfiles && !lower; j++)
			lower = j != i && files[j].name && !strcmp(files[j].name, df->name) && files[j].step == df->step &&
				(files[j].rank < df->rank || (files[j].rank == df->rank && j < i));
		if (lower)
			continue;
		if (!(st = dv_ta_side_step(side, df->step))) {
			dv_ta_side_free(side);
			return dv_error_set(err, "%s: out of memory", df->path);
		}
		if (load_one(df, st, err) < 0) {
			dv_ta_side_free(side);
			return -1;
		}
	}
	return 0;
}
