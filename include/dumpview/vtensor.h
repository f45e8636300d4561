/* Executing an unsharding plan as a streamed virtual tensor: the unsharded
 * (and optionally axis-aligned) tensor's elements as float32 in row-major
 * order, read chunk by chunk from each shard's own reader. The unsharded
 * tensor is never materialised, except by a non-trivial permutation of the
 * axis alignment (see dv_vtensor_align).
 *
 * Operations: concat, cp_thd_concat and the zigzag reorders are index maps
 * along one dim (one entry per index of that dim: memory O(dim size)), read
 * as blocks of whole rows of the dims after it; reduce_sum reads its inputs
 * side by side, sums in float32 in input order and rounds once to the input
 * dtype (bfloat16 / float16 round to nearest even; float32 and float64
 * inputs are summed in float32 too), then widens; pick keeps
 * the axis-rank-0 member and records a replicated check of each other member
 * against it (run by dv_vtensor_checks). */
#ifndef DUMPVIEW_VTENSOR_H
#define DUMPVIEW_VTENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpview/dims.h"
#include "dumpview/error.h"
#include "dumpview/metrics.h"
#include "dumpview/pt.h"
#include "dumpview/unshard_plan.h"

/* Where one shard's elements come from: a dv_stream (metrics.h):
 * read_f32 gives elements [start, start+count) of the shard in row-major
 * order as float32; dtype is the stored one (reduce_sum rounds to it);
 * read_raw, optional, the stored elements (the replicated checks compare
 * two copies' bytes first). */
typedef dv_stream dv_vsource;

/* A source over a tensor of an opened pt file: pt_tensor_read_f32 chunk
 * by chunk. ctx, the file and the tensor must outlive the virtual tensor. */
typedef struct dv_vsource_pt_ctx {
	pt_file *f;
	const pt_tensor *t;
} dv_vsource_pt_ctx;
void dv_vsource_pt(dv_vsource *s, dv_vsource_pt_ctx *ctx, pt_file *f, const pt_tensor *t);

typedef struct dv_vtensor dv_vtensor;

typedef struct dv_vtensor_opts {
	/* THD sequence lengths of the step (global, in tokens) for
	 * cp_thd_concat and zigzag_to_natural_thd; NULL when unknown. */
	const int64_t *seq_lens;
	size_t nseq_lens;
} dv_vtensor_opts;

/* Builds the virtual tensor of one step from its plan and its shards (in
 * the order given to dv_unshard_plan_step; shard shapes must be the ones
 * planned). A plan without operations needs exactly one shard. The sources
 * are copied; their ctx must outlive the result. opts may be NULL. Reads no
 * data. NULL with err: shapes that disagree with the plan, missing or
 * indivisible sequence lengths ("Sequences must be padded ..."), a zigzag
 * dim not divisible by 2 * cp, out of memory. */
dv_vtensor *dv_vtensor_open(const dv_unshard_plan *plan, const dv_vsource *shards, size_t nshards,
			    const dv_vtensor_opts *opts, dv_error *err);
void dv_vtensor_close(dv_vtensor *vt);

int64_t dv_vtensor_numel(const dv_vtensor *vt);
int dv_vtensor_ndim(const dv_vtensor *vt);
const int64_t *dv_vtensor_shape(const dv_vtensor *vt);
/* The dtype of the unsharded data (the first shard's). */
dv_dtype dv_vtensor_dtype(const dv_vtensor *vt);

/* Elements [start, start+count) in row-major order of the current shape,
 * as float32. Any range may be asked; sequential ranges read each shard
 * sequentially. 0, or -1 with err. */
int dv_vtensor_read_f32(dv_vtensor *vt, int64_t start, int64_t count, float *out, dv_error *err);

/* Whether the tensor only moves stored elements (concat, zigzag, reshape
 * of sources that read their bytes) or is a bfloat16 sum (rounded once to
 * bfloat16): then dv_vtensor_read_raw gives elements [start, start+count)
 * as stored (dtype's little-endian bytes), with no float conversion. */
bool dv_vtensor_has_raw(const dv_vtensor *vt);
int dv_vtensor_read_raw(dv_vtensor *vt, int64_t start, int64_t count, void *out, dv_error *err);
/* dv_vtensor_read_raw's elements in place, where the tensor is one shard
 * of a mappable pt record (a lone shard, a kept replica; pt_tensor_map) or
 * a gather (concat, zigzag) of such shards of distinct files: 1 with
 * runs[0 .. *nruns) (at most max, none empty) holding them in order, valid
 * until the next read of vt; 0 when not (read them), -1 with err. Touch
 * them only inside pt_map_guarded; after a fault there,
 * dv_vtensor_map_fault gives 1 with err naming the file if the fault was
 * in one of vt's mappings, else 0. */
int dv_vtensor_map_raw(dv_vtensor *vt, int64_t start, int64_t count, dv_raw_run *runs, size_t max, size_t *nruns,
		       dv_error *err);
int dv_vtensor_map_fault(const dv_vtensor *vt, dv_error *err);

/* Applies an axis alignment pattern (dv_axis_align's pattern for this
 * side, einops style "a 1 b c -> b (a c)"; NULL: only the shape changes)
 * and sets the aligned shape (ndim, shape: numel must not change, so the
 * comparator's leading-1 squeeze is a plain reshape too). Dropping '1'
 * dims and flattening are free. A permutation that is not the identity on
 * the dims of size > 1 buffers the whole tensor as float32 on first read:
 * memory numel * 4 bytes, refused above DV_VTENSOR_PERMUTE_MAX elements.
 * 0, or -1 with err. */
#define DV_VTENSOR_PERMUTE_MAX ((int64_t)1 << 28)
int dv_vtensor_align(dv_vtensor *vt, const char *pattern, int ndim, const int64_t *shape, dv_error *err);

/* Joins several virtual tensors along dim (equal shapes elsewhere), in the
 * order given, keeping the first len indices of the joined dim (len < 0:
 * all): concat_steps's joining of steps and truncation, and a rank-by-rank
 * stack (parts reshaped to a leading 1 first). Takes the parts (they are
 * freed with the result, also on failure); shard positions of part k are
 * offset by the shard counts of the parts before it (nshards[k] each), and
 * its replicated checks are kept. NULL with err. */
dv_vtensor *dv_vtensor_join(dv_vtensor **parts, const size_t *nshards, size_t n, int dim, int64_t len,
			    dv_error *err);

/* The same with the joined dim's indices given one by one: index t of
 * the result is index[t] of part part_of[t] (len entries; the token
 * aligner's plan). */
dv_vtensor *dv_vtensor_join_map(dv_vtensor **parts, const size_t *nshards, size_t n, int dim, const int32_t *part_of,
				const int64_t *index, int64_t len, dv_error *err);

/* Where element index (row-major in the current shape) comes from: the
 * shards (their positions as given to dv_vtensor_open) and the element's
 * flat index in each, into out (max entries); more than one for a sum.
 * *run (optional) gets how many elements from index on come, one for one,
 * from consecutive indices of the same shards (at least 1). Returns the
 * number of sources, or -1 when index is out of range or more than max. */
typedef struct dv_vloc {
	size_t shard;
	int64_t index;
} dv_vloc;
int dv_vtensor_locate(const dv_vtensor *vt, int64_t index, dv_vloc *out, size_t max, int64_t *run);

/* ---- replicated checks ---- */

/* Diff of two float32 streams (§7.2 metrics). rel_diff = 1 - 2 sum(a b) /
 * sum(a^2 + b^2) in float64 (0 when max_abs_diff is 0); |b - a| in float32;
 * max_index is the first flat index of the maximum (-1: no element). */
typedef struct dv_vdiff {
	int64_t n;
	double dot, norm, abs_sum;
	float max_abs;
	int64_t max_index;
} dv_vdiff;
void dv_vdiff_init(dv_vdiff *d);
/* a and b hold n values of elements [start, start+n). */
void dv_vdiff_add(dv_vdiff *d, const float *a, const float *b, size_t n, int64_t start);
double dv_vdiff_rel(const dv_vdiff *d);
double dv_vdiff_mean_abs(const dv_vdiff *d);
/* Streams both whole tensors; numel must be equal. 0, or -1 with err. */
int dv_vtensor_diff(dv_vtensor *a, dv_vtensor *b, dv_vdiff *d, dv_error *err);

#define DV_REPLICATED_ATOL 1e-6

typedef struct dv_replicated_result {
	dv_axis axis;
	size_t group_index;        /* bucket order of the pick */
	size_t compared_index;     /* the member's position in its group (>= 1) */
	size_t baseline_index;     /* always 0: the kept member */
	size_t kept_shard, compared_shard; /* shard indices when the member is a shard, else (size_t)-1 */
	bool shape_equal;          /* false: failed with no diff */
	bool passed;               /* shapes equal and max_abs_diff <= DV_REPLICATED_ATOL */
	dv_vdiff diff;
} dv_replicated_result;

/* Streams one check of other against kept (both unaligned members). */
int dv_replicated_check(dv_vtensor *kept, dv_vtensor *other, dv_replicated_result *r, dv_error *err);

/* Runs every check the plan's picks recorded, in plan order (pick by pick,
 * group by group, member by member); *out malloc'd (NULL when none), *n.
 * 0, or -1 with err. */
int dv_vtensor_checks(dv_vtensor *vt, dv_replicated_result **out, size_t *n, dv_error *err);

#endif
