/* The pt-file side of comparing: tensors read through the pt reader, and
 * dump files opened by path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int pt_read(void *vctx, int64_t start, int64_t count, void *out, dv_error *err)
{
	dv_pt_src_ctx *ctx = vctx;

	return pt_tensor_read(ctx->f, ctx->t, start, count, out, err);
}

static int pt_map_win_of(void *vctx, pt_map_win *w, int64_t start, int64_t count, const void **out, dv_error *err)
{
	dv_pt_src_ctx *ctx = vctx;

	return pt_tensor_map_win(ctx->f, ctx->t, w, start, count, out, err);
}

void dv_src_pt(dv_src *s, dv_pt_src_ctx *ctx, pt_file *f, const pt_tensor *t)
{
	ctx->f = f;
	ctx->t = t;
	memset(s, 0, sizeof(*s));
	s->dtype = t->dtype;
	s->numel = t->numel;
	s->read_raw = pt_read;
	s->ctx = ctx;
	s->name = pt_file_name(f);
	s->concurrent = pt_tensor_concurrent(f, t);
	s->map_win = s->concurrent ? pt_map_win_of : NULL;
}

/* ---- non-tensor values ------------------------------------------------ */

const char *dv_obj_kind_name(const pt_obj *o)
{
	if (!o)
		return "nothing";
	if (o->kind == PT_OBJECT && o->u.object.cls)
		return o->u.object.cls;
	return pt_kind_name(o->kind);
}

int dv_compare_objects(const pt_obj *b, const pt_obj *t, dv_pair_result *result, dv_error *err)
{
	size_t bl = 0, tl = 0;
	char *bp = pt_print(b, &bl), *tp = pt_print(t, &tl);

	if (!bp || !tp) {
		free(bp);
		free(tp);
		dv_error_set(err, "out of memory printing a value");
		dv_result_error(result, err);
		return -1;
	}
	result->status = DV_RESULT_NON_TENSOR;
	result->equal = bl == tl && memcmp(bp, tp, bl) == 0;
	result->passed = result->equal;
	free(bp);
	free(tp);
	return 0;
}

int dv_value_text(const char *path, size_t max, char **text, char **type, dv_error *err)
{
	pt_file *f = pt_open(path, err);
	const pt_obj *v;
	char *p;
	size_t len = 0;

	*text = *type = NULL;
	if (!f)
		return -1;
	v = pt_dump_value(f);
	p = pt_print(v, &len);
	*type = strdup(dv_obj_kind_name(v));
	pt_close(f);
	if (!p || !*type) {
		free(p);
		free(*type);
		*type = NULL;
		return dv_error_set(err, "out of memory printing a value");
	}
	/* A long container stays readable in a one-line record. */
	if (len > max) {
		size_t cut = max;
		char *q;

		while (cut > 0 && ((unsigned char)p[cut] & 0xC0) == 0x80)
			cut--;   /* not inside a UTF-8 sequence */
		if (!(q = realloc(p, cut + 4))) {
			free(p);
			free(*type);
			*type = NULL;
			return dv_error_set(err, "out of memory printing a value");
		}
		p = q;
		memcpy(p + cut, "...", 4);
	}
	*text = p;
	return 0;
}

int dv_compare_tensors(pt_file *bf, const pt_tensor *bt, pt_file *tf, const pt_tensor *tt,
		       const dv_metrics_opts *opts, dv_pair_result *result, dv_error *err)
{
	dv_src bs, ts;
	dv_pt_src_ctx bc, tc;
	dv_tensor_desc bd, td;
	dv_error lerr;

	if (!err)
		err = &lerr;
	dv_result_reset(result);
	dv_desc_from_tensor(&bd, bt);
	dv_desc_from_tensor(&td, tt);
	if (pt_tensor_check(bf, bt, err) < 0 || pt_tensor_check(tf, tt, err) < 0) {
		dv_result_set_desc(result, 0, &bd);
		dv_result_set_desc(result, 1, &td);
		dv_result_error(result, err);
		return -1;
	}
	dv_src_pt(&bs, &bc, bf, bt);
	dv_src_pt(&ts, &tc, tf, tt);
	return dv_compare_sources(&bs, &ts, &bd, &td, opts, result, err);
}

int dv_compare_opened(pt_file *bf, pt_file *tf, const dv_metrics_opts *opts, dv_pair_result *result)
{
	dv_error err;
	const pt_obj *bv = pt_dump_value(bf), *tv = pt_dump_value(tf);
	const char *base_path = pt_file_name(bf), *targ_path = pt_file_name(tf);

	dv_result_reset(result);
	dv_error_clear(&err);
	if (bv && tv && bv->kind == PT_TENSOR && tv->kind == PT_TENSOR)
		return dv_compare_tensors(bf, &bv->u.tensor, tf, &tv->u.tensor, opts, result, &err);
	if ((bv && bv->kind == PT_TENSOR) || (tv && tv->kind == PT_TENSOR)) {
		dv_tensor_desc d;

		if (bv && bv->kind == PT_TENSOR) {
			dv_desc_from_tensor(&d, &bv->u.tensor);
			dv_result_set_desc(result, 0, &d);
		}
		if (tv && tv->kind == PT_TENSOR) {
			dv_desc_from_tensor(&d, &tv->u.tensor);
			dv_result_set_desc(result, 1, &d);
		}
		dv_error_set(&err, "%s holds a %s but %s holds a %s", base_path, dv_obj_kind_name(bv), targ_path,
			     dv_obj_kind_name(tv));
		dv_result_error(result, &err);
		return -1;
	}
	return dv_compare_objects(bv, tv, result, &err);
}

int dv_compare_files(const char *base_path, const char *targ_path, const dv_metrics_opts *opts,
		     dv_pair_result *result)
{
	dv_error err;
	pt_file *bf = NULL, *tf = NULL;
	int rc;

	dv_result_reset(result);
	dv_error_clear(&err);
	if (!(bf = pt_open(base_path, &err)) || !(tf = pt_open(targ_path, &err))) {
		dv_result_error(result, &err);
		if (bf)
			pt_close(bf);
		return -1;
	}
	rc = dv_compare_opened(bf, tf, opts, result);
	pt_close(bf);
	pt_close(tf);
	return rc;
}

/* ---- both tensors of a pair of dump files, streamed together ---------- */

int dv_pair_stream_open(dv_pair_stream *s, const char *base_path, const char *targ_path, dv_error *err)
{
	const pt_obj *bv, *tv;

	memset(s, 0, sizeof(*s));
	s->bf = pt_open(base_path, err);
	if (!s->bf)
		return -1;
	s->tf = pt_open(targ_path, err);
	if (!s->tf)
		goto fail;
	bv = pt_dump_value(s->bf);
	tv = pt_dump_value(s->tf);
	if (!bv || bv->kind != PT_TENSOR) {
		dv_error_set(err, "%s: the value is a %s, not a tensor", base_path, dv_obj_kind_name(bv));
		goto fail;
	}
	if (!tv || tv->kind != PT_TENSOR) {
		dv_error_set(err, "%s: the value is a %s, not a tensor", targ_path, dv_obj_kind_name(tv));
		goto fail;
	}
	s->bt = &bv->u.tensor;
	s->tt = &tv->u.tensor;
	dv_desc_from_tensor(&s->bd, s->bt);
	dv_desc_from_tensor(&s->td, s->tt);
	if (dv_unify_shape(&s->bd, &s->td) < 0) {
		char bshape[200], tshape[200];

		dv_fmt_shape(bshape, sizeof(bshape), s->bd.ndim, s->bd.shape);
		dv_fmt_shape(tshape, sizeof(tshape), s->td.ndim, s->td.shape);
		dv_error_set(err, "%s: shape mismatch: baseline %s vs target %s", targ_path, bshape, tshape);
		goto fail;
	}
	if (pt_tensor_check(s->bf, s->bt, err) < 0 || pt_tensor_check(s->tf, s->tt, err) < 0)
		goto fail;
	dv_src_pt(&s->bs, &s->bc, s->bf, s->bt);
	dv_src_pt(&s->ts, &s->tc, s->tf, s->tt);
	if (dv_reader_init(&s->br, &s->bs, err) < 0)
		goto fail;
	if (dv_reader_init(&s->tr, &s->ts, err) < 0)
		goto fail;
	s->numel = s->tt->numel;
	return 0;
fail:
	dv_pair_stream_close(s);
	return -1;
}

int dv_pair_stream_read(dv_pair_stream *s, int64_t start, int64_t count, dv_error *err)
{
	if (dv_reader_read(&s->br, start, count, err) < 0)
		return -1;
	return dv_reader_read(&s->tr, start, count, err);
}

void dv_pair_stream_close(dv_pair_stream *s)
{
	dv_reader_free(&s->br);
	dv_reader_free(&s->tr);
	if (s->bf)
		pt_close(s->bf);
	if (s->tf)
		pt_close(s->tf);
	s->bf = s->tf = NULL;
}
