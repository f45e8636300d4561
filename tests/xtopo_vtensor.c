/* Test driver: bundles two bare runs, plans the first step of each side,
 * opens both sides as streamed virtual tensors (axis-aligned when both have
 * dims), and prints one JSON line per bundle:
 *   {"name", "layer", "shape": [baseline, target], "diff": {rel_diff,
 *    max_abs_diff, mean_abs_diff, max_abs_diff_coord}, "checks": [...]}
 * or with "error" instead of the diff. test_xtopo_vtensor.sh checks the
 * lines against the xtopo fixtures' expected.json.
 * Usage: xtopo_vtensor BASELINE TARGET PRESET */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/bundle.h"
#include "dumpview/dims.h"
#include "dumpview/dump.h"
#include "dumpview/logical.h"
#include "dumpview/pt.h"
#include "dumpview/unshard_plan.h"
#include "dumpview/vtensor.h"

typedef struct side {
	size_t n;
	pt_file **f;
	dv_shard *sh;
	dv_vsource *src;
	dv_vsource_pt_ctx *ctx;
	dv_unshard_plan *plan;
	dv_vtensor *vt;
	char *dims_text;
	int64_t *lens;
	size_t nlens;
} side;

static void side_free(side *s)
{
	for (size_t i = 0; i < s->n; i++) {
		dv_dims_free((dv_dims *)s->sh[i].dims);
		pt_close(s->f[i]);
	}
	free(s->f);
	free(s->sh);
	free(s->src);
	free(s->ctx);
	dv_unshard_plan_free(s->plan);
	dv_vtensor_close(s->vt);
	free(s->dims_text);
	free(s->lens);
}

static int open_side(const dv_phase *ph, const dv_bundle_side *bs, bool lens, side *s, dv_error *err)
{
	const dv_bundle_step *st;
	dv_unshard_opts uo = {.have_seq_lens = false};
	dv_vtensor_opts vo = {0};

	if (!bs->nsteps) {
		dv_error_set(err, "no file");
		return -1;
	}
	st = &bs->steps[0];
	s->n = st->nrows;
	s->f = calloc(s->n, sizeof(*s->f));
	s->sh = calloc(s->n, sizeof(*s->sh));
	s->src = calloc(s->n, sizeof(*s->src));
	s->ctx = calloc(s->n, sizeof(*s->ctx));
	for (size_t i = 0; i < s->n; i++) {
		const dv_dumpfile *df = &ph->files[st->rows[i]];
		dv_path_buf pb;
		const pt_obj *meta, *dims, *value;

		if (!(s->f[i] = pt_open(dv_dumpfile_path(df, &pb), err)))
			return -1;
		meta = pt_dump_meta(s->f[i]);
		value = pt_dump_value(s->f[i]);
		if (!value || value->kind != PT_TENSOR) {
			dv_error_set(err, "%s: value is not a tensor", dv_dumpfile_relpath(df));
			return -1;
		}
		s->sh[i].rank = df->rank;
		s->sh[i].ndim = value->u.tensor.ndim;
		memcpy(s->sh[i].shape, value->u.tensor.shape, sizeof(s->sh[i].shape));
		if (dv_parallel_coords_from_meta(meta, &s->sh[i].coords, err) < 0)
			return -1;
		dims = pt_dict_get(meta, "dims");
		if (dims && dims->kind == PT_STR) {
			if (!(s->sh[i].dims = dv_dims_parse(dims->u.str.data, NULL, err)))
				return -1;
			if (!s->dims_text)
				s->dims_text = strdup(dims->u.str.data);
		}
		dv_vsource_pt(&s->src[i], &s->ctx[i], s->f[i], &value->u.tensor);
	}
	if (lens) {
		if (dv_thd_seq_lens(ph, st->step, &s->lens, &s->nlens, err) < 0)
			return -1;
		uo.have_seq_lens = s->lens != NULL;
		vo.seq_lens = s->lens;
		vo.nseq_lens = s->nlens;
	}
	if (dv_unshard_plan_step(s->sh, s->n, &uo, &s->plan, err) < 0)
		return -1;
	return (s->vt = dv_vtensor_open(s->plan, s->src, s->n, &vo, err)) ? 0 : -1;
}

static void print_shape(int ndim, const int64_t *shape)
{
	printf("[");
	for (int i = 0; i < ndim; i++)
		printf("%s%lld", i ? ", " : "", (long long)shape[i]);
	printf("]");
}

static void print_checks(const char *name, side *s, bool *first, dv_error *err)
{
	dv_replicated_result *r;
	size_t n;

	if (dv_vtensor_checks(s->vt, &r, &n, err) < 0) {
		printf("%s{\"side\": \"%s\", \"error\": \"check failed\"}", *first ? "" : ", ", name);
		*first = false;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		long long kr = r[i].kept_shard < s->n ? (long long)s->sh[r[i].kept_shard].rank : -1;
		long long cr = r[i].compared_shard < s->n ? (long long)s->sh[r[i].compared_shard].rank : -1;

		printf("%s{\"side\": \"%s\", \"axis\": \"%s\", \"group_index\": %zu, \"compared_index\": %zu, "
		       "\"baseline_index\": %zu, \"ranks\": [%lld, %lld], \"passed\": %s, \"max_abs_diff\": %.17g, "
		       "\"rel_diff\": %.17g, \"mean_abs_diff\": %.17g}",
		       *first ? "" : ", ", name, dv_axis_name(r[i].axis), r[i].group_index, r[i].compared_index,
		       r[i].baseline_index, kr, cr, r[i].passed ? "true" : "false", (double)r[i].diff.max_abs,
		       dv_vdiff_rel(&r[i].diff), dv_vdiff_mean_abs(&r[i].diff));
		*first = false;
	}
	free(r);
}

/* Whether reads of 7 elements at a time (cutting through every run) give
 * the same values as one whole read. */
static bool chunks_agree(dv_vtensor *vt)
{
	int64_t n = dv_vtensor_numel(vt);
	float *whole = malloc((size_t)n * sizeof(float) + 4), *part = malloc((size_t)n * sizeof(float) + 4);
	dv_error err = {{0}};
	bool same = whole && part && dv_vtensor_read_f32(vt, 0, n, whole, &err) == 0;

	for (int64_t s = 0; same && s < n; s += 7)
		same = dv_vtensor_read_f32(vt, s, n - s < 7 ? n - s : 7, part + s, &err) == 0;
	same = same && !memcmp(whole, part, (size_t)n * sizeof(float));
	free(whole);
	free(part);
	return same;
}

/* Aligns both sides when both have dims, then the baseline-only leading-1
 * squeeze. -1 with err. */
static int align(side *b, side *t, dv_error *err)
{
	int ndim[2] = {dv_vtensor_ndim(b->vt), dv_vtensor_ndim(t->vt)};
	int64_t shape[2][PT_MAX_DIMS];
	int bn, tn;
	const int64_t *bs, *ts;

	memcpy(shape[0], dv_vtensor_shape(b->vt), sizeof(int64_t) * (size_t)ndim[0]);
	memcpy(shape[1], dv_vtensor_shape(t->vt), sizeof(int64_t) * (size_t)ndim[1]);
	if (b->dims_text && t->dims_text) {
		dv_dims *bd = dv_dims_parse(b->dims_text, NULL, err), *td = dv_dims_parse(t->dims_text, NULL, err);
		dv_axis_align a;
		int rc = -1;

		if (bd && td && dv_axis_align_plan(bd, td, ndim, (const int64_t (*)[PT_MAX_DIMS])shape, &a, err) == 0) {
			rc = dv_vtensor_align(b->vt, a.pattern[0], a.ndim[0], a.shape[0], err) < 0 ||
					     dv_vtensor_align(t->vt, a.pattern[1], a.ndim[1], a.shape[1], err) < 0
				     ? -1
				     : 0;
			dv_axis_align_free(&a);
		}
		dv_dims_free(bd);
		dv_dims_free(td);
		if (rc < 0)
			return -1;
	}
	bn = dv_vtensor_ndim(b->vt);
	tn = dv_vtensor_ndim(t->vt);
	bs = dv_vtensor_shape(b->vt);
	ts = dv_vtensor_shape(t->vt);
	if (bn > tn && !memcmp(bs + (bn - tn), ts, sizeof(int64_t) * (size_t)tn)) {
		bool ones = true;

		for (int i = 0; i < bn - tn; i++)
			ones &= bs[i] == 1;
		if (ones)
			return dv_vtensor_align(b->vt, NULL, tn, ts, err);
	}
	return 0;
}

int main(int argc, char **argv)
{
	dv_run_opts ropts = {0};
	dv_error err = {{0}};
	dv_run *rb, *rt;
	dv_bundle *bundles;
	size_t n;
	int preset;

	if (argc < 4) {
		fprintf(stderr, "usage: xtopo_vtensor BASELINE TARGET PRESET\n");
		return 2;
	}
	if (!(rb = dv_run_open(argv[1], &ropts, &err)) || !(rt = dv_run_open(argv[2], &ropts, &err))) {
		fprintf(stderr, "%s\n", err.msg);
		return 2;
	}
	if ((preset = dv_preset_from_name(argv[3])) < 0) {
		fprintf(stderr, "unknown preset %s\n", argv[3]);
		return 2;
	}
	if (dv_bundles_build(&rb->phases[0], &rt->phases[0], preset, NULL, 0, &bundles, &n, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 2;
	}
	for (size_t i = 0; i < n; i++) {
		bool lens = dv_preset_has_token_aligner(preset), first = true;
		side b = {0}, t = {0};
		dv_vdiff d;

		printf("{\"name\": \"%s\", \"layer\": %d", bundles[i].name, bundles[i].layer);
		if (open_side(&rb->phases[0], &bundles[i].base, lens, &b, &err) < 0 ||
		    open_side(&rt->phases[0], &bundles[i].targ, lens, &t, &err) < 0 || align(&b, &t, &err) < 0 ||
		    dv_vtensor_diff(b.vt, t.vt, &d, &err) < 0) {
			printf(", \"error\": \"");
			for (const char *c = err.msg; *c; c++)
				printf(*c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
			printf("\"}\n");
		} else {
			int64_t coord[PT_MAX_DIMS], r = d.max_index < 0 ? 0 : d.max_index;
			int nd = dv_vtensor_ndim(t.vt);
			const int64_t *ts = dv_vtensor_shape(t.vt);

			for (int k = nd - 1; k >= 0; k--) {
				coord[k] = r % ts[k];
				r /= ts[k];
			}
			printf(", \"shape\": [");
			print_shape(dv_vtensor_ndim(b.vt), dv_vtensor_shape(b.vt));
			printf(", ");
			print_shape(nd, ts);
			printf("], \"diff\": {\"rel_diff\": %.17g, \"max_abs_diff\": %.17g, \"mean_abs_diff\": %.17g, "
			       "\"max_abs_diff_coord\": ",
			       dv_vdiff_rel(&d), (double)d.max_abs, dv_vdiff_mean_abs(&d));
			print_shape(nd, coord);
			printf("}, \"chunks_agree\": %s, \"checks\": [", chunks_agree(b.vt) && chunks_agree(t.vt) ? "true" : "false");
			print_checks("baseline", &b, &first, &err);
			print_checks("target", &t, &first, &err);
			printf("]}\n");
		}
		side_free(&b);
		side_free(&t);
	}
	dv_bundles_free(bundles, n);
	dv_run_free(rb);
	dv_run_free(rt);
	return 0;
}
