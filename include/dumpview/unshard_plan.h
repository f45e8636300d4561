/* Planning the unsharding of one step of one side (cross-topology
 * comparison): from the shards' meta only (dims, parallel coordinates,
 * shapes), the ordered operations that turn them into one tensor, with
 * their groups and shapes, and the traced plan text. Reads no tensor data.
 *
 * Order of operations: one pick per replicated axis (axes by name), then
 * one unsharder per sharded modifier (dims left to right, a dim's
 * modifiers right to left, i.e. innermost first): reduce_sum for
 * 'partial', cp_thd_concat for cp on a dim named exactly 't' when THD
 * sequence lengths are known, else concat; then one zigzag-to-natural
 * reorder per zigzag modifier, in dims order.
 *
 * Group indices of an operation refer to the tensors it receives: the
 * shards (in the caller's order) for the first operation, the previous
 * operation's outputs (in its group order) after that. */
#ifndef DUMPVIEW_UNSHARD_PLAN_H
#define DUMPVIEW_UNSHARD_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpview/dims.h"
#include "dumpview/error.h"
#include "dumpview/pt.h"

/* One file of a step: what its meta says. */
typedef struct dv_shard {
	const dv_dims *dims;       /* parsed 'dims' (after overrides); NULL: none */
	dv_parallel_coords coords;
	int ndim;
	int64_t shape[PT_MAX_DIMS];
	int64_t rank;              /* the file's rank tag, for messages */
} dv_shard;

typedef enum dv_unshard_op_kind {
	DV_OP_PICK,                   /* replicated: keep the axis-rank-0 member, check the others */
	DV_OP_CONCAT,
	DV_OP_REDUCE_SUM,             /* 'partial': elementwise sum, input dtype kept */
	DV_OP_CP_THD_CONCAT,          /* cp on packed 't': per sequence, needs the lengths */
	DV_OP_ZIGZAG_TO_NATURAL,      /* reorder of an 's' dim */
	DV_OP_ZIGZAG_TO_NATURAL_THD,  /* per-sequence reorder of a 't' dim: needs the lengths */
} dv_unshard_op_kind;

/* "pick", "concat", "reduce_sum", "cp_thd_concat", "zigzag_to_natural",
 * "zigzag_to_natural_thd". */
const char *dv_unshard_op_name(dv_unshard_op_kind k);

typedef struct dv_unshard_op {
	dv_unshard_op_kind kind;
	dv_axis axis;
	int dim;                   /* dim index in the dims (and in shapes) */
	const char *dim_name;      /* the dim's internal name (owned by the first shard's dims) */
	int64_t axis_size;         /* cp_size for reorders and cp_thd_concat */
	bool needs_seq_lens;       /* cp_thd_concat and zigzag_to_natural_thd */
	size_t nin, nout;          /* tensors in and out (nout = number of groups) */
	size_t *group_start;       /* nout + 1 offsets into members */
	size_t *members;           /* input indices, each group in axis-rank order */
	int ndim;
	int64_t in_shape[PT_MAX_DIMS];  /* first input's shape */
	int64_t out_shape[PT_MAX_DIMS]; /* first output's shape */
} dv_unshard_op;

typedef struct dv_unshard_plan {
	size_t nshards;
	dv_unshard_op *ops;        /* none: passthrough (one file) */
	size_t nops;
	int ndim;
	int64_t shape[PT_MAX_DIMS];     /* the result's shape */
} dv_unshard_plan;

typedef struct dv_unshard_opts {
	bool have_seq_lens;        /* THD sequence lengths are known for this step */
} dv_unshard_opts;

/* Plans one step. The first shard's dims rule; every shard must have equal
 * dims and a rank matching them. Errors (-1, err; the caller prefixes the
 * bundle): several files without dims; a replicated axis not active ("not
 * found in parallel_infos"), replicated and sharded, two replicated axes not
 * orthogonal; active axes not declared; per sharded or replicated axis
 * (>= 2 files): missing parallel_info, inconsistent axis_size, incomplete
 * axis_rank coverage; two shards with the same coordinates; shapes that
 * cannot be concatenated or summed; a zigzag dim not named 's' or 't'; a
 * 't' zigzag without sequence lengths. A zigzag modifier on an inactive
 * axis plans no reorder (the reference would fail looking up its size). */
int dv_unshard_plan_step(const dv_shard *shards, size_t n, const dv_unshard_opts *opts,
			 dv_unshard_plan **out, dv_error *err);
void dv_unshard_plan_free(dv_unshard_plan *p);

/* "step=S: passthrough" or "step=S: unsharder(tp) 2x[4, 64] -> 1x[4, 128],
 * reorderer(zigzag_to_natural) 1x[..] -> 1x[..]"; malloc'd, NULL when out
 * of memory. A side's line is '[' these joined by ", " ']'. */
char *dv_unshard_plan_text(const dv_unshard_plan *p, int64_t step);

/* ---- DP filter (before planning, all steps of a bundle side together) ---- */

typedef struct dv_dp_item {
	bool has_dp;               /* dv_parallel_dp_coord found rank and size */
	int64_t dp_rank, dp_size;
	bool is_tensor;
	int64_t numel;
} dv_dp_item;

/* Keeps the values of the one DP rank that holds a non-empty tensor. When
 * no item has a DP size > 1 or no item is a tensor, keeps everything. keep
 * gets n flags. 0, or -1 with "Expected exactly 1 non-empty dp_rank, got K". */
int dv_dp_filter(const dv_dp_item *items, size_t n, bool *keep, dv_error *err);

/* ---- axis alignment (after unsharding, both sides with dims) ---- */

/* The target's order wins and fused groups win over separate dims:
 * separate dims are flattened into a group, never split; '1' dims are
 * dropped (they must have size 1); 's' and 't' are the same name. A side
 * already in that layout gets no pattern. Patterns are einops-style: the
 * left side is the side's dims with '1' kept and a fused dim under its
 * internal name (a___b); on the right a group this side holds fused keeps
 * that name, separate parts are written '(a b)'. */
typedef struct dv_axis_align {
	char *pattern[2];               /* [0] baseline (x), [1] target (y); NULL: unchanged */
	int ndim[2];                    /* aligned ranks, when shapes were given */
	int64_t shape[2][PT_MAX_DIMS];  /* aligned shapes, when shapes were given */
} dv_axis_align;

/* Plans the alignment of the two sides' first-file dims. ndim/shape (each
 * [2], baseline then target; may be NULL) are the unsharded shapes: then a
 * '1' dim of another size is an error and out->shape is filled. -1 with
 * err: "axis_aligner_dim_mismatch: ..." (the semantic names differ),
 * "axis_aligner_fused_conflict: ..." (a part in two different groups), or
 * a shape error. Free with dv_axis_align_free. */
int dv_axis_align_plan(const dv_dims *base, const dv_dims *targ, const int *ndim,
		       const int64_t (*shape)[PT_MAX_DIMS], dv_axis_align *out, dv_error *err);
void dv_axis_align_free(dv_axis_align *a);
/* "x: PATTERN, y: PATTERN" for the sides that change; NULL when neither
 * does (or out of memory). malloc'd. */
char *dv_axis_align_text(const dv_axis_align *a);

#endif
