/* The metrics over streamed tensors: a dv_stream (float32 chunks) seen as a
 * dv_src of its stored dtype where that keeps the bf16 fast paths and the
 * fp32-vs-bf16 downcast metrics (bfloat16: the float32 values are bf16
 * values, so taking their high 16 bits is exact), else as float32 (every
 * metric is computed on float32 values anyway). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct stream_src {
	const dv_stream *s;
	bool raw;                /* the stream's own stored bytes */
	bool as_bf16;            /* raw reads give bf16 bits */
	float *tmp;              /* bf16: the float32 values of one read */
	size_t cap;
} stream_src;

static int stream_read_raw(void *vctx, int64_t start, int64_t count, void *out, dv_error *err)
{
	stream_src *c = vctx;

	if (c->raw)
		return c->s->read_raw(c->s->ctx, start, count, out, err);
	if (!c->as_bf16)
		return c->s->read_f32(c->s->ctx, start, count, out, err);
	if ((size_t)count > c->cap) {
		float *t = realloc(c->tmp, (size_t)count * sizeof(float));

		if (!t)
			return dv_error_set(err, "%s: out of memory", c->s->name);
		c->tmp = t;
		c->cap = (size_t)count;
	}
	if (c->s->read_f32(c->s->ctx, start, count, c->tmp, err) < 0)
		return -1;
	for (int64_t i = 0; i < count; i++) {
		uint32_t u;

		memcpy(&u, &c->tmp[i], sizeof(u));
		((uint16_t *)out)[i] = (uint16_t)(u >> 16);
	}
	return 0;
}

static int stream_map_raw(void *vctx, int64_t start, int64_t count, dv_raw_run *runs, size_t max, size_t *nruns,
			  dv_error *err)
{
	stream_src *c = vctx;

	return c->s->map_raw(c->s->ctx, start, count, runs, max, nruns, err);
}

static int stream_map_fault(void *vctx, dv_error *err)
{
	stream_src *c = vctx;

	return c->s->map_fault ? c->s->map_fault(c->s->ctx, err) : 0;
}

static int64_t stream_numel(const dv_stream *s)
{
	int64_t n = 1;

	for (int i = 0; i < s->ndim; i++)
		n *= s->shape[i];
	return n;
}

static void src_of(dv_src *src, stream_src *c, const dv_stream *s)
{
	memset(c, 0, sizeof(*c));
	memset(src, 0, sizeof(*src));
	c->s = s;
	c->raw = s->read_raw != NULL;
	c->as_bf16 = s->dtype == DV_BFLOAT16;
	src->dtype = c->raw || c->as_bf16 ? s->dtype : DV_FLOAT32;
	src->numel = stream_numel(s);
	src->read_raw = stream_read_raw;
	/* in place only where the raw reads are the stream's own bytes */
	src->map_raw = c->raw && s->map_raw ? stream_map_raw : NULL;
	src->map_fault = stream_map_fault;
	src->ctx = c;
	src->name = s->name;
	src->concurrent = false;
}

static void desc_of(dv_tensor_desc *d, const dv_stream *s)
{
	d->dtype = s->dtype;
	d->ndim = s->ndim;
	memcpy(d->shape, s->shape, sizeof(d->shape));
}

int dv_compare_streams(const dv_stream *base, const dv_stream *targ, const dv_metrics_opts *opts,
		       dv_pair_result *result, dv_error *err)
{
	dv_src bs, ts;
	stream_src bc, tc;
	dv_tensor_desc bd, td;
	dv_error lerr;
	int rc;

	if (!err)
		err = &lerr;
	dv_result_reset(result);
	desc_of(&bd, base);
	desc_of(&td, targ);
	src_of(&bs, &bc, base);
	src_of(&ts, &tc, targ);
	rc = dv_compare_sources(&bs, &ts, &bd, &td, opts, result, err);
	free(bc.tmp);
	free(tc.tmp);
	return rc;
}

/* Both streams shape-unified and opened as readers, for detail and export. */
typedef struct stream_pair {
	dv_src bs, ts;
	stream_src bc, tc;
	dv_reader br, tr;
	dv_tensor_desc bd, td;
} stream_pair;

static int pair_open(stream_pair *p, const dv_stream *base, const dv_stream *targ, dv_error *err)
{
	memset(p, 0, sizeof(*p));
	desc_of(&p->bd, base);
	desc_of(&p->td, targ);
	if (dv_unify_shape(&p->bd, &p->td) < 0) {
		char bshape[200], tshape[200];

		dv_fmt_shape(bshape, sizeof(bshape), p->bd.ndim, p->bd.shape);
		dv_fmt_shape(tshape, sizeof(tshape), p->td.ndim, p->td.shape);
		return dv_error_set(err, "%s: shape mismatch: baseline %s vs target %s", targ->name, bshape, tshape);
	}
	src_of(&p->bs, &p->bc, base);
	src_of(&p->ts, &p->tc, targ);
	/* detail and export read float32 through the reader */
	p->bs.dtype = p->ts.dtype = DV_FLOAT32;
	p->bc.as_bf16 = p->tc.as_bf16 = false;
	p->bc.raw = p->tc.raw = false;
	p->bs.map_raw = p->ts.map_raw = NULL;
	if (dv_reader_init(&p->br, &p->bs, err) < 0)
		return -1;
	if (dv_reader_init(&p->tr, &p->ts, err) < 0) {
		dv_reader_free(&p->br);
		return -1;
	}
	return 0;
}

static void pair_close(stream_pair *p)
{
	dv_reader_free(&p->br);
	dv_reader_free(&p->tr);
	free(p->bc.tmp);
	free(p->tc.tmp);
}

int dv_pair_detail_streams(const dv_stream *base, const dv_stream *targ, int max_rows, int max_cols,
			   const dv_metrics_opts *opts, dv_pair_detail *detail, dv_error *err)
{
	stream_pair p;
	int rc;

	memset(detail, 0, sizeof(*detail));
	if (pair_open(&p, base, targ, err) < 0)
		return -1;
	rc = dv_detail_readers(&p.br, &p.tr, &p.td, p.ts.numel, max_rows, max_cols, opts, detail, err);
	pair_close(&p);
	return rc;
}

int dv_export_streams(const dv_stream *base, const dv_stream *targ, const char *out_path, double min_abs_diff,
		      int64_t top_k, const dv_metrics_opts *opts, int64_t *rows_written, dv_error *err)
{
	stream_pair p;
	int rc;

	if (rows_written)
		*rows_written = 0;
	if (pair_open(&p, base, targ, err) < 0)
		return -1;
	rc = dv_export_readers(&p.br, &p.tr, &p.td, p.ts.numel, out_path, min_abs_diff, top_k, opts, rows_written,
			       err);
	pair_close(&p);
	return rc;
}
