/* Loading a side's token-alignment auxiliary values from its dump files:
 * per step, rank 0's file of each aux name; a token tensor (input_ids,
 * positions, position_ids) split over context-parallel ranks is unsharded
 * first, with its dims or the ones Megatron's layout implies. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/dims.h"
#include "dumpview/dump.h"
#include "dumpview/pt.h"
#include "dumpview/token_align.h"
#include "dumpview/unshard_plan.h"
#include "dumpview/vtensor.h"

/* Reads a tensor of integral values as int64. */
static int read_ints(pt_file *f, const dv_dumpfile *df, const pt_obj *v, dv_ta_ints *out, dv_error *err)
{
	dv_path_buf pb;
	const pt_tensor *t;
	double *x;
	int64_t n;

	if (!v || v->kind != PT_TENSOR)
		return dv_error_set(err, "%s: %s is a %s, not a tensor", dv_dumpfile_path(df, &pb), df->name,
				    v ? pt_kind_name(v->kind) : "missing value");
	t = &v->u.tensor;
	n = t->numel;
	if (n < 0 || n > (int64_t)(SIZE_MAX / sizeof(double)) / 2)
		return dv_error_set(err, "%s: %s has too many elements", dv_dumpfile_path(df, &pb), df->name);
	if (!(x = malloc((size_t)(n ? n : 1) * sizeof(*x))))
		return dv_error_set(err, "%s: out of memory", dv_dumpfile_path(df, &pb));
	if (n && pt_tensor_read_f64(f, t, 0, n, x, err) < 0) {
		free(x);
		return -1;
	}
	free(out->v);
	memset(out, 0, sizeof(*out));
	if (!(out->v = malloc((size_t)(n ? n : 1) * sizeof(*out->v)))) {
		free(x);
		return dv_error_set(err, "%s: out of memory", dv_dumpfile_path(df, &pb));
	}
	for (int64_t i = 0; i < n; i++) {
		if (!(fabs(x[i]) <= 9007199254740992.0) || x[i] != floor(x[i])) {
			double bad = x[i];

			free(x);
			free(out->v);
			out->v = NULL;
			return dv_error_set(err, "%s: %s element %" PRId64 " is %g, not an integer", dv_dumpfile_path(df, &pb), df->name, i,
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
	dv_path_buf pb;

	if (!v || (v->kind != PT_LIST && v->kind != PT_TUPLE))
		return dv_error_set(err, "%s: rids is a %s, not a list of strings", dv_dumpfile_path(df, &pb),
				    v ? pt_kind_name(v->kind) : "missing value");
	for (size_t i = 0; i < v->u.seq.len; i++) {
		const pt_obj *o = v->u.seq.items[i];

		if (o->kind != PT_STR)
			return dv_error_set(err, "%s: rids[%zu] is a %s, not a string", dv_dumpfile_path(df, &pb), i, pt_kind_name(o->kind));
		if (memchr(o->u.str.data, 0, o->u.str.len))
			return dv_error_set(err, "%s: rids[%zu] holds a NUL byte", dv_dumpfile_path(df, &pb), i);
	}
	for (size_t i = 0; i < st->nrids; i++)
		free(st->rids[i]);
	free(st->rids);
	st->nrids = 0;
	st->has_rids = false;
	if (!(st->rids = calloc(v->u.seq.len ? v->u.seq.len : 1, sizeof(*st->rids))))
		return dv_error_set(err, "%s: out of memory", dv_dumpfile_path(df, &pb));
	for (size_t i = 0; i < v->u.seq.len; i++) {
		if (!(st->rids[i] = dup_str(v->u.seq.items[i])))
			return dv_error_set(err, "%s: out of memory", dv_dumpfile_path(df, &pb));
		st->nrids++;
	}
	st->has_rids = true;
	return 0;
}

static int load_one(const dv_dumpfile *df, dv_ta_step *st, dv_error *err)
{
	dv_path_buf pb;
	pt_file *f = pt_open(dv_dumpfile_path(df, &pb), err);
	const pt_obj *v;
	int rc = -1;

	if (!f)
		return -1;
	v = pt_dump_value(f);
	if (!strcmp(df->name, "rids")) {
		rc = read_strings(df, v, st, err);
	} else if (!strcmp(df->name, "qkv_format")) {
		if (!v || v->kind != PT_STR) {
			rc = dv_error_set(err, "%s: qkv_format is a %s, not a string", dv_dumpfile_path(df, &pb),
					  v ? pt_kind_name(v->kind) : "missing value");
		} else if (memchr(v->u.str.data, 0, v->u.str.len)) {
			rc = dv_error_set(err, "%s: qkv_format holds a NUL byte", dv_dumpfile_path(df, &pb));
		} else {
			free(st->qkv_format);
			rc = (st->qkv_format = dup_str(v)) ? 0 : dv_error_set(err, "%s: out of memory", dv_dumpfile_path(df, &pb));
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

/* The token tensors, cut along the tokens by context parallelism. */
static bool token_tensor(const char *name)
{
	return !strcmp(name, "input_ids") || !strcmp(name, "positions") || !strcmp(name, "position_ids");
}

static dv_ta_ints *ints_of(dv_ta_step *st, const char *name)
{
	return !strcmp(name, "input_ids") ? &st->input_ids : !strcmp(name, "positions") ? &st->positions
										     : &st->position_ids;
}

/* A token tensor's files of one step on several CP ranks, unsharded as
 * their dims say, else as Megatron cuts them: 't[cp:zigzag]' (1-d),
 * '1 t[cp:zigzag]' ([1, T] packed) or 'b s[cp:zigzag]' (qkv_format bshd);
 * other active axes hold copies. THD lengths come from the step's
 * cu_seqlens_q. Values are read as stored (integers stay exact). */
static int load_cp_sharded(const dv_dumpfile *const *files, size_t n, dv_ta_step *st, dv_error *err)
{
	dv_path_buf pb;
	pt_file **pf = calloc(n, sizeof(*pf));
	dv_shard *sh = calloc(n, sizeof(*sh));
	dv_vsource *src = calloc(n, sizeof(*src));
	dv_vsource_pt_ctx *ctx = calloc(n, sizeof(*ctx));
	char **names = calloc(n, sizeof(*names)); /* the sources' names, for the reads' messages */
	dv_dims *dims = NULL;
	dv_unshard_plan *plan = NULL;
	dv_vtensor *vt = NULL;
	int64_t *lens = NULL, *vals = NULL;
	size_t nlens = 0;
	char text[256] = "";
	dv_dtype dt = DV_DTYPE_INVALID;
	int rc = -1;

	if (!pf || !sh || !src || !ctx || !names) {
		dv_error_set(err, "%s: out of memory", dv_dumpfile_path(files[0], &pb));
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const pt_obj *v, *meta, *d;

		if (!(pf[i] = pt_open(dv_dumpfile_path(files[i], &pb), err)))
			goto out;
		v = pt_dump_value(pf[i]);
		meta = pt_dump_meta(pf[i]);
		if (!v || v->kind != PT_TENSOR) {
			dv_error_set(err, "%s: %s is not a tensor", dv_dumpfile_path(files[i], &pb), files[i]->name);
			goto out;
		}
		if (pt_tensor_check(pf[i], &v->u.tensor, err) < 0 ||
		    dv_parallel_coords_from_meta(meta, &sh[i].coords, err) < 0)
			goto out;
		if (!i) {
			d = pt_dict_get(meta, "dims");
			dt = v->u.tensor.dtype;
			if (d && d->kind == PT_STR && strlen(d->u.str.data) == d->u.str.len) {
				snprintf(text, sizeof(text), "%s", d->u.str.data);
			} else {
				bool bshd = st->qkv_format && (strstr(st->qkv_format, "bshd") || strstr(st->qkv_format, "BSHD"));
				size_t len;

				snprintf(text, sizeof(text), "%s",
					 v->u.tensor.ndim == 1 ? "t[cp:zigzag]" : bshd ? "b s[cp:zigzag]" : "1 t[cp:zigzag]");
				/* the other active axes hold copies of the tokens */
				len = strlen(text);
				for (int a = 0; a < DV_AXIS_COUNT; a++)
					if (a != DV_AXIS_CP && a != DV_AXIS_DP && sh[i].coords.axis[a].active) {
						snprintf(text + len, sizeof(text) - len, "%s%s:replicated",
							 strchr(text, '#') ? " " : " # ", dv_axis_name((dv_axis)a));
						len = strlen(text);
					}
			}
			if (!(dims = dv_dims_parse(text, NULL, err)))
				goto out;
		}
		sh[i].dims = dims;
		sh[i].ndim = v->u.tensor.ndim;
		memcpy(sh[i].shape, v->u.tensor.shape, sizeof(sh[i].shape));
		sh[i].rank = files[i]->rank;
		dv_vsource_pt(&src[i], &ctx[i], pf[i], &v->u.tensor);
		if (!(names[i] = strdup(dv_dumpfile_path(files[i], &pb)))) {
			dv_error_set(err, "%s: out of memory", dv_dumpfile_path(files[i], &pb));
			goto out;
		}
		src[i].name = names[i];
	}
	if (st->cu_seqlens_q.present &&
	    dv_ta_cu_seqlens_counts(st->cu_seqlens_q.v, st->cu_seqlens_q.n, &lens, &nlens, err) < 0)
		goto out;
	{
		dv_unshard_opts uo = {.have_seq_lens = lens != NULL};
		dv_vtensor_opts vo = {.seq_lens = lens, .nseq_lens = nlens};
		int64_t total;
		dv_ta_ints *dst = ints_of(st, files[0]->name);

		if (dv_unshard_plan_step(sh, n, &uo, &plan, err) < 0 || !(vt = dv_vtensor_open(plan, src, n, &vo, err)))
			goto out;
		total = dv_vtensor_numel(vt);
		if (!(vals = malloc((size_t)(total ? total : 1) * sizeof(*vals)))) {
			dv_error_set(err, "%s: out of memory", dv_dumpfile_path(files[0], &pb));
			goto out;
		}
		if ((dt == DV_INT64 || dt == DV_INT32) && dv_vtensor_has_raw(vt)) {
			if (dv_vtensor_read_raw(vt, 0, total, vals, err) < 0)
				goto out;
			if (dt == DV_INT32) /* widen in place, from the end */
				for (int64_t k = total - 1; k >= 0; k--) {
					int32_t x;

					memcpy(&x, (char *)vals + (size_t)k * 4, 4);
					vals[k] = x;
				}
		} else {
			float *f = malloc((size_t)(total ? total : 1) * sizeof(*f));

			if (!f || dv_vtensor_read_f32(vt, 0, total, f, err) < 0) {
				if (!f)
					dv_error_set(err, "%s: out of memory", dv_dumpfile_path(files[0], &pb));
				free(f);
				goto out;
			}
			for (int64_t k = 0; k < total; k++) {
				if (!(fabsf(f[k]) <= 16777216.0f) || f[k] != floorf(f[k])) {
					dv_error_set(err, "%s: %s element %" PRId64 " is not an exact integer", dv_dumpfile_path(files[0], &pb),
						     files[0]->name, k);
					free(f);
					goto out;
				}
				vals[k] = (int64_t)f[k];
			}
			free(f);
		}
		free(dst->v);
		memset(dst, 0, sizeof(*dst));
		dst->v = vals;
		vals = NULL;
		dst->present = true;
		dst->n = (size_t)total;
		dst->ndim = dv_vtensor_ndim(vt);
		for (int i = 0; i < dst->ndim && i < 8; i++)
			dst->shape[i] = dv_vtensor_shape(vt)[i];
	}
	rc = 0;
out:
	if (rc < 0 && !strstr(err->msg, dv_dumpfile_path(files[0], &pb))) {
		char why[DV_ERROR_MAX];

		snprintf(why, sizeof(why), "%s", err->msg);
		dv_error_set(err, "%s (and %zu more ranks): %s over CP ('%s'): %s", dv_dumpfile_path(files[0], &pb), n - 1, files[0]->name,
			     text, why);
	}
	dv_vtensor_close(vt);
	dv_unshard_plan_free(plan);
	dv_dims_free(dims);
	for (size_t i = 0; i < n && pf; i++)
		if (pf[i])
			pt_close(pf[i]);
	free(pf);
	free(sh);
	free(src);
	free(ctx);
	for (size_t i = 0; i < n && names; i++)
		free(names[i]);
	free(names);
	free(lens);
	free(vals);
	return rc;
}

/* Whether the files of one token tensor are spread over CP ranks. */
static bool cp_spread(const dv_dumpfile *const *files, size_t n)
{
	dv_path_buf pb;

	for (size_t i = 0; i < n; i++) {
		pt_file *f = pt_open(dv_dumpfile_path(files[i], &pb), &(dv_error){{0}});
		dv_parallel_coords c;
		bool cp = false;

		if (!f)
			continue;
		if (dv_parallel_coords_from_meta(pt_dump_meta(f), &c, &(dv_error){{0}}) == 0)
			cp = c.axis[DV_AXIS_CP].active;
		pt_close(f);
		if (cp)
			return true;
	}
	return false;
}

int dv_ta_side_load(const dv_dumpfile *files, size_t nfiles, dv_ta_side *side, dv_error *err)
{
	dv_path_buf pb;

	memset(side, 0, sizeof(*side));
	if (nfiles) {
		pt_file *f = pt_open(dv_dumpfile_path(&files[0], &pb), err);
		const pt_obj *meta;

		if (!f)
			return -1;
		meta = pt_dump_meta(f);
		side->meta_sglang = meta_has(meta, "sglang_parallel_info");
		side->meta_megatron = meta_has(meta, "megatron_parallel_info");
		pt_close(f);
	}
	/* two passes: the token tensors last, as their unsharding needs the
	 * step's qkv_format and cu_seqlens_q */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < nfiles; i++) {
			const dv_dumpfile *df = &files[i];
			dv_ta_step *st;
			bool lower = false;
			const dv_dumpfile **group = NULL;
			size_t ngroup = 0;

			if (!df->name || !dv_ta_is_aux_name(df->name) || token_tensor(df->name) != (pass == 1))
				continue;
			/* the lowest rank's file of this name and step (rank -1: no rank tag) */
			for (size_t j = 0; j < nfiles && !lower; j++)
				lower = j != i && files[j].name && !strcmp(files[j].name, df->name) &&
					files[j].step == df->step &&
					(files[j].rank < df->rank || (files[j].rank == df->rank && j < i));
			if (lower)
				continue;
			if (!(st = dv_ta_side_step(side, df->step))) {
				dv_ta_side_free(side);
				return dv_error_set(err, "%s: out of memory", dv_dumpfile_path(df, &pb));
			}
			if (pass == 1) {
				/* every rank's file of this token tensor and step */
				group = malloc(nfiles * sizeof(*group));
				if (!group) {
					dv_ta_side_free(side);
					return dv_error_set(err, "%s: out of memory", dv_dumpfile_path(df, &pb));
				}
				for (size_t j = 0; j < nfiles; j++)
					if (files[j].name && !strcmp(files[j].name, df->name) && files[j].step == df->step)
						group[ngroup++] = &files[j];
			}
			if (ngroup > 1 && cp_spread(group, ngroup)) {
				int rc = load_cp_sharded(group, ngroup, st, err);

				free(group);
				if (rc < 0) {
					dv_ta_side_free(side);
					return -1;
				}
				continue;
			}
			free(group);
			if (load_one(df, st, err) < 0) {
				dv_ta_side_free(side);
				return -1;
			}
		}
	return 0;
}
