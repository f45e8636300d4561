/* Test driver: bundles two bare runs and plans the unsharding of every
 * bundle's steps from the files' meta, one block per bundle:
 *   bundle <name> <layer>
 *   side <baseline|target> <nfiles> <ranks,> <dims|-> <shard shape> <unsharded shape|-> <plan|ERROR: msg>
 *   align <x: pattern, y: pattern|-> <baseline shape> <target shape>   (both sides with dims)
 * Used by test_xtopo_plan.sh against the xtopo fixtures' expected.json.
 * Usage: xtopo_plan BASELINE TARGET [PRESET|auto] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/bundle.h"
#include "dumpview/dims.h"
#include "dumpview/dump.h"
#include "dumpview/pt.h"
#include "dumpview/unshard_plan.h"

static bool is_megatron(const dv_dumpfile *f, void *ctx)
{
	dv_path_buf pb;
	dv_error err = {{0}};
	pt_file *pf = pt_open(dv_dumpfile_path(f, &pb), &err);
	const pt_obj *m;
	bool yes;

	(void)ctx;
	if (!pf)
		return false;
	m = pt_dict_get(pt_dump_meta(pf), "megatron_parallel_info");
	yes = m && m->kind == PT_DICT && m->u.dict.len > 0;
	pt_close(pf);
	return yes;
}

static void print_shape(int ndim, const int64_t *shape)
{
	printf("[");
	for (int i = 0; i < ndim; i++)
		printf("%s%lld", i ? ", " : "", (long long)shape[i]);
	printf("]");
}

/* Reads one file's meta into a shard; the dims text of the first file into
 * *dims_text (malloc'd). -1 with err. */
static int read_shard(const dv_dumpfile *f, dv_shard *sh, char **dims_text, dv_error *err)
{
	dv_path_buf pb;
	pt_file *pf = pt_open(dv_dumpfile_path(f, &pb), err);
	const pt_obj *meta, *dims, *value;
	int rc = -1;

	if (!pf)
		return -1;
	memset(sh, 0, sizeof(*sh));
	sh->rank = f->rank;
	meta = pt_dump_meta(pf);
	value = pt_dump_value(pf);
	if (!value || value->kind != PT_TENSOR) {
		dv_error_set(err, "%s: value is not a tensor", dv_dumpfile_relpath(f));
		goto out;
	}
	sh->ndim = value->u.tensor.ndim;
	memcpy(sh->shape, value->u.tensor.shape, sizeof(sh->shape));
	if (dv_parallel_coords_from_meta(meta, &sh->coords, err) < 0)
		goto out;
	dims = pt_dict_get(meta, "dims");
	if (dims && dims->kind == PT_STR) {
		if (!(sh->dims = dv_dims_parse(dims->u.str.data, NULL, err)))
			goto out;
		if (dims_text && !*dims_text)
			*dims_text = strdup(dims->u.str.data);
	}
	rc = 0;
out:
	pt_close(pf);
	return rc;
}

/* Prints one side's line; its first file's dims text (malloc'd, or NULL)
 * and the unsharded shape go to the caller (ndim -1 when it failed). */
static void plan_side(const char *side, const dv_phase *ph, const dv_bundle_side *bs, bool have_lens,
		      char **dims_out, int *ndim_out, int64_t *shape_out)
{
	char *dims_text = NULL, *line = NULL;
	int64_t shard_shape[PT_MAX_DIMS] = {0}, result[PT_MAX_DIMS] = {0};
	int shard_ndim = -1, result_ndim = -1;
	size_t len = 0;
	dv_error err = {{0}};
	bool failed = false;

	line = calloc(1, 1);
	for (size_t k = 0; k < bs->nsteps && !failed; k++) {
		const dv_bundle_step *st = &bs->steps[k];
		dv_shard *sh = calloc(st->nrows, sizeof(*sh));
		dv_unshard_opts opts = {.have_seq_lens = have_lens};
		dv_unshard_plan *p = NULL;
		size_t i;

		for (i = 0; i < st->nrows; i++)
			if (read_shard(&ph->files[st->rows[i]], &sh[i], &dims_text, &err) < 0)
				break;
		if (i == st->nrows && dv_unshard_plan_step(sh, st->nrows, &opts, &p, &err) == 0) {
			char *t = dv_unshard_plan_text(p, st->step);
			size_t tl = strlen(t);

			if (shard_ndim < 0) {
				shard_ndim = sh[0].ndim;
				memcpy(shard_shape, sh[0].shape, sizeof(shard_shape));
			}
			result_ndim = p->ndim;
			memcpy(result, p->shape, sizeof(result));
			line = realloc(line, len + tl + 3);
			len += sprintf(line + len, "%s%s", k ? ", " : "", t);
			free(t);
		} else {
			failed = true;
		}
		for (size_t j = 0; j < st->nrows; j++)
			dv_dims_free((dv_dims *)sh[j].dims);
		free(sh);
		dv_unshard_plan_free(p);
	}
	printf("side\t%s\t%zu\t", side, bs->nrows);
	for (size_t i = 0; i < bs->nrows; i++)
		printf("%s%lld", i ? "," : "", (long long)ph->files[bs->rows[i]].rank);
	printf("\t%s\t", dims_text ? dims_text : "-");
	if (shard_ndim >= 0)
		print_shape(shard_ndim, shard_shape);
	else
		printf("-");
	printf("\t");
	if (failed || result_ndim < 0) {
		printf("-\tERROR: %s\n", failed ? err.msg : "no step");
	} else {
		print_shape(result_ndim, result);
		printf("\t[%s]\n", line);
	}
	*ndim_out = failed ? -1 : result_ndim;
	memcpy(shape_out, result, sizeof(result));
	free(line);
	*dims_out = dims_text;
}

/* The axis alignment line: "align <text|-> <baseline shape> <target shape>"
 * or "align ERROR: msg". */
static void align(const char *bt, const char *tt, const int *ndim, const int64_t (*shape)[PT_MAX_DIMS])
{
	dv_error err = {{0}};
	dv_dims *b, *t;
	dv_axis_align a;
	char *text;

	if (!bt || !tt || ndim[0] < 0 || ndim[1] < 0)
		return;
	b = dv_dims_parse(bt, NULL, &err);
	t = dv_dims_parse(tt, NULL, &err);
	if (dv_axis_align_plan(b, t, ndim, shape, &a, &err) < 0) {
		printf("align\tERROR: %s\n", err.msg);
	} else {
		text = dv_axis_align_text(&a);
		printf("align\t%s\t", text ? text : "-");
		print_shape(a.ndim[0], a.shape[0]);
		printf("\t");
		print_shape(a.ndim[1], a.shape[1]);
		printf("\n");
		free(text);
		dv_axis_align_free(&a);
	}
	dv_dims_free(b);
	dv_dims_free(t);
}

int main(int argc, char **argv)
{
	dv_run_opts ropts = {0};
	dv_error err = {{0}};
	dv_run *b, *t;
	dv_bundle *bundles;
	size_t n;
	int preset;

	if (argc < 3) {
		fprintf(stderr, "usage: xtopo_plan BASELINE TARGET [PRESET|auto]\n");
		return 2;
	}
	if (!(b = dv_run_open(argv[1], &ropts, &err)) || !(t = dv_run_open(argv[2], &ropts, &err))) {
		fprintf(stderr, "%s\n", err.msg);
		return 2;
	}
	if (argc > 3 && strcmp(argv[3], "auto")) {
		if ((preset = dv_preset_from_name(argv[3])) < 0) {
			fprintf(stderr, "unknown preset %s\n", argv[3]);
			return 2;
		}
	} else {
		preset = dv_preset_for_phase(&t->phases[0], is_megatron, NULL);
	}
	printf("preset\t%s\n", dv_preset_name(preset));
	if (dv_bundles_build(&b->phases[0], &t->phases[0], preset, NULL, 0, &bundles, &n, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 2;
	}
	for (size_t i = 0; i < n; i++) {
		printf("bundle\t%s\t%d\n", bundles[i].name, bundles[i].layer);
		bool lens = dv_preset_has_token_aligner(preset);
		char *dims[2];
		int ndim[2];
		int64_t shape[2][PT_MAX_DIMS];

		plan_side("baseline", &b->phases[0], &bundles[i].base, lens, &dims[0], &ndim[0], shape[0]);
		plan_side("target", &t->phases[0], &bundles[i].targ, lens, &dims[1], &ndim[1], shape[1]);
		align(dims[0], dims[1], ndim, (const int64_t (*)[PT_MAX_DIMS])shape);
		free(dims[0]);
		free(dims[1]);
	}
	dv_bundles_free(bundles, n);
	dv_run_free(b);
	dv_run_free(t);
	return 0;
}
