/* libFuzzer: a step's shards from hostile meta, through the whole
 * unsharding pipeline: dims, parallel coordinates, the DP filter, the plan,
 * the streamed virtual tensor, its locate map and its replicated checks.
 * Input: byte 0 -> 1..4 shards, byte 1 -> 1..3 dims, then per shard its
 * dims' sizes (one byte each, 1..4), then per shard a 2-byte length and that
 * many bytes of a bare pickle read as the shard's meta dict ('dims',
 * 'sglang_parallel_info', ...). Checked: a refused plan says why in one line;
 * an accepted one opens with its shapes, reads the same values whole and in
 * pieces of 3, every element comes from a shard in range at an index inside
 * it, and the checks run. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/dims.h"
#include "dumpview/unshard_plan.h"
#include "dumpview/vtensor.h"

#define MAX_SHARDS 4

typedef struct mem {
	int64_t numel, base;
} mem;

static int mem_read(void *ctx, int64_t start, int64_t count, float *out, dv_error *err)
{
	mem *m = ctx;

	(void)err;
	assert(start >= 0 && count >= 0 && start + count <= m->numel);
	for (int64_t i = 0; i < count; i++)
		out[i] = (float)(m->base + start + i);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dv_shard sh[MAX_SHARDS];
	dv_vsource src[MAX_SHARDS];
	mem m[MAX_SHARDS];
	pt_file *pf[MAX_SHARDS] = {0};
	dv_dims *dims[MAX_SHARDS] = {0};
	dv_dp_item items[MAX_SHARDS];
	bool keep[MAX_SHARDS];
	size_t n, at = 2;
	int ndim;
	pt_limits lim = pt_limits_default();
	dv_unshard_plan *plan = NULL;
	dv_vtensor *vt = NULL;
	dv_error err = {""};

	if (size < 2)
		return 0;
	n = 1 + data[0] % MAX_SHARDS;
	ndim = 1 + data[1] % 3;
	lim.max_memory = 16u << 20;
	memset(sh, 0, sizeof(sh));
	memset(items, 0, sizeof(items));
	for (size_t k = 0; k < n; k++) {
		sh[k].ndim = ndim;
		for (int d = 0; d < ndim; d++)
			sh[k].shape[d] = at < size ? 1 + data[at++] % 4 : 1;
	}
	for (size_t k = 0; k < n; k++) {
		size_t len;
		const pt_obj *root, *d;

		if (at + 2 > size)
			break;
		len = (size_t)data[at] | (size_t)data[at + 1] << 8;
		at += 2;
		if (len > size - at)
			len = size - at;
		pf[k] = pt_open_pickle(data + at, len, "meta", &lim, &err);
		at += len;
		if (!pf[k])
			continue;
		root = pt_root(pf[k]);
		if (dv_parallel_coords_from_meta(root, &sh[k].coords, &err) < 0)
			goto out;
		d = root && root->kind == PT_DICT ? pt_dict_get(root, "dims") : NULL;
		if (d && d->kind == PT_STR && strlen(d->u.str.data) == d->u.str.len) {
			if (!(dims[k] = dv_dims_parse(d->u.str.data, NULL, &err)))
				goto out;
			if (dv_dims_check_rank(dims[k], ndim, &err) < 0)
				goto out;
			sh[k].dims = dims[k];
		}
		{
			dv_axis axis = DV_AXIS_DP;

			if (!dims[k] || dv_dims_dp_axis(dims[k], &axis, &err) == 0) {
				int r = dv_parallel_dp_coord(root, axis, &items[k].dp_rank, &items[k].dp_size, &err);

				items[k].has_dp = r > 0;
			}
		}
		sh[k].rank = (int64_t)k;
	}
	for (size_t k = 0; k < n; k++) {
		int64_t numel = 1;

		for (int d = 0; d < ndim; d++)
			numel *= sh[k].shape[d];
		items[k].is_tensor = true;
		items[k].numel = numel;
		m[k].numel = numel;
		m[k].base = (int64_t)k * 1000;
		memset(&src[k], 0, sizeof(src[k]));
		src[k].dtype = DV_BFLOAT16;
		src[k].ndim = ndim;
		memcpy(src[k].shape, sh[k].shape, sizeof(src[k].shape));
		src[k].read_f32 = mem_read;
		src[k].ctx = &m[k];
		src[k].name = "shard";
	}
	if (dv_dp_filter(items, n, keep, &err) < 0)
		assert(err.msg[0]);
	if (dv_unshard_plan_step(sh, n, NULL, &plan, &err) < 0) {
		assert(err.msg[0] && !strchr(err.msg, '\n'));
		goto out;
	}
	{
		char *text = dv_unshard_plan_text(plan, 0);

		free(text);
	}
	if (!(vt = dv_vtensor_open(plan, src, n, NULL, &err))) {
		assert(err.msg[0]);
		goto out;
	}
	{
		int64_t total = dv_vtensor_numel(vt);
		float *whole, *part;

		if (total > (1 << 16))
			goto out;
		whole = malloc((size_t)(total ? total : 1) * sizeof(float));
		part = malloc((size_t)(total ? total : 1) * sizeof(float));
		assert(whole && part);
		if (dv_vtensor_read_f32(vt, 0, total, whole, &err) == 0) {
			for (int64_t s = 0; s < total; s += 3) {
				int64_t c = total - s < 3 ? total - s : 3;

				assert(dv_vtensor_read_f32(vt, s, c, part + s, &err) == 0);
			}
			assert(!memcmp(whole, part, (size_t)total * sizeof(float)));
			for (int64_t e = 0; e < total; e++) {
				dv_vloc loc[MAX_SHARDS * 4];
				int64_t run;
				int c = dv_vtensor_locate(vt, e, loc, MAX_SHARDS * 4, &run);

				assert(c >= 1 && run >= 1);
				for (int i = 0; i < c; i++)
					assert(loc[i].shard < n && loc[i].index >= 0 && loc[i].index < m[loc[i].shard].numel);
			}
		}
		free(whole);
		free(part);
	}
	{
		dv_replicated_result *r = NULL;
		size_t nr = 0;

		if (dv_vtensor_checks(vt, &r, &nr, &err) == 0)
			for (size_t i = 0; i < nr; i++)
				assert(!r[i].passed || r[i].diff.max_abs <= DV_REPLICATED_ATOL);
		free(r);
	}
out:
	dv_vtensor_close(vt);
	dv_unshard_plan_free(plan);
	for (size_t k = 0; k < MAX_SHARDS; k++) {
		dv_dims_free(dims[k]);
		if (pf[k])
			pt_close(pf[k]);
	}
	return 0;
}
