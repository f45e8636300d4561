/* Logical tensors (cross-topology comparison): a pair of the comparison is
 * one logical tensor, the files of each side that differ only in their
 * skip keys (rank under sglang_dev; rank and step under sglang_megatron).
 * Computing it opens every file of both sides, reads each one's meta (dims,
 * parallel coordinates), applies the --override-*dims rules, filters DP,
 * plans and streams the unsharding of each step (vtensor.h), joins the
 * steps (concat_steps), aligns the axes, and runs the ordinary metrics on
 * the two streamed tensors, then the replicated checks and the attribution
 * of max |t-b| to the target shard that holds it. A pair of one file a side
 * whose meta has no dims is compared exactly as dv_compare_files does.
 * No curses here. */
#ifndef DUMPVIEW_LOGICAL_H
#define DUMPVIEW_LOGICAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpview/bundle.h"
#include "dumpview/dims.h"
#include "dumpview/dump.h"
#include "dumpview/metrics.h"

/* How logical tensors are formed and read: the comparison's options. */
typedef struct dv_grouping {
	/* dv_preset, or -1: chosen per phase (sglang_megatron when the phase's
	 * first target file carries megatron_parallel_info, else sglang_dev);
	 * with skip_keys and no preset, raw plus the keys (as the reference) */
	int preset;
	const char *const *skip_keys;          /* --grouping-skip-keys (not copied) */
	size_t nskip_keys;
	const dv_dims_overrides *overrides;    /* --override-*dims; NULL: none (not copied) */
	int token_aligner;                     /* dv_token_aligner; DEFAULT (0): the preset's */
} dv_grouping;

/* How the tokens of a tensor's steps are lined up (cross-topology.md §6). */
typedef enum dv_token_aligner {
	DV_TOKEN_ALIGNER_DEFAULT,       /* (options only) the preset's */
	DV_TOKEN_ALIGNER_NONE,          /* one step a side */
	DV_TOKEN_ALIGNER_CONCAT_STEPS,  /* steps joined on the token dim, cut to the shorter side */
	DV_TOKEN_ALIGNER_SMART,         /* sequences matched by rid / token ids, common tokens compared */
} dv_token_aligner;
/* "none", "concat_steps", "smart" (NULL for DEFAULT); dv_token_aligner_from_name: -1 unknown. */
const char *dv_token_aligner_name(int a);
int dv_token_aligner_from_name(const char *s);

struct dv_ta_result;

/* What a phase's logical tensors are read with (one per phase, owned by the
 * comparison; every pair points at its phase's). */
typedef struct dv_logical_ctx {
	dv_preset preset;
	bool preset_chosen;                    /* chosen from the files (no --preset) */
	bool concat_steps;                     /* the token aligner: join steps along t/s/dim 0 */
	dv_token_aligner token_aligner;        /* what is in use (smart falls back to none when
						  a side lacks the aux tensors: ta_why says so) */
	bool smart_asked;                      /* --token-aligner smart was given */
	/* smart: the phase's alignment, made once when the context is made */
	struct dv_ta_result *ta;
	bool ta_bshd[2];                       /* a side's steps are [batch, seq] (merged to t) */
	char *ta_why;                          /* why smart is not in use, or its setup error */
	const dv_dims_overrides *overrides;
	/* the phase's pairs, kept by the compute path as they change, so a
	 * redraw counts in O(phases) (dv_comparison_counts) */
	size_t matched;                        /* matched pairs (set by the pairing) */
	_Atomic size_t done, cancelled, replica_mismatches;
	/* the comparison's change counts per DV_CHUNK_PAIRS pairs (comparison.h)
	 * and its first pair, so the compute path bumps the pair's count; NULL
	 * when the comparison keeps none */
	_Atomic unsigned *chunk_gen;
	const struct dv_pair *pairs;
	const dv_phase *phase[2];              /* baseline, target (either may be NULL): where
						  THD sequence lengths (cu_seqlens_q, seq_lens) are found */
} dv_logical_ctx;

/* The context of one phase: the preset given, or the one its files call for
 * (opens the phase's first target file to look for megatron_parallel_info;
 * a file that cannot be read counts as no). g may be NULL (the defaults).
 * Under the smart token aligner it reads both sides' auxiliary tensors
 * (input_ids, positions, seq_lens, rids, cu_seqlens_q, ...) and aligns their
 * sequences once. Free with dv_logical_ctx_free. */
void dv_logical_ctx_init(dv_logical_ctx *ctx, const dv_grouping *g, const dv_phase *base, const dv_phase *targ);
void dv_logical_ctx_free(dv_logical_ctx *ctx);

/* Skip keys of a phase: "rank" (and "step") by preset plus the extra ones.
 * Whether key is one of them. g may be NULL. */
bool dv_grouping_skips(const dv_logical_ctx *ctx, const dv_grouping *g, const char *key);

/* One replicated check of one side: a member of a replicated axis's group
 * against the member kept (axis rank 0). */
typedef struct dv_replica_check {
	int side;                  /* 0 baseline, 1 target */
	dv_axis axis;
	bool passed;               /* same shape and max_abs_diff <= DV_REPLICATED_ATOL */
	double max_abs_diff;       /* NaN when the shapes differ */
	int64_t ranks[2];          /* rank tags of the kept and the compared file (-1: a combined tensor) */
	size_t group_index, compared_index;
} dv_replica_check;

/* What a computed logical tensor adds to its pair's result; NULL for a pair
 * of one file a side without dims (nothing to add). */
/* Kept per pair (compact: tests/test_sizes.c pins its size): the dims
 * texts, the aligned shape and the shard coordinate are interned
 * (intern.h), shared among pairs and never freed with the result.
 * A plain pair's (one file a side, equal dims, read as stored) keeps no
 * result of its own: it points at a record shared by every plain pair of
 * the same dims (derived), whose aligned shape and shard are the pair's
 * result's; read those fields through dv_pair_logical. */
typedef struct dv_logical_result {
	const char *dims[2];       /* the dims used (meta or override), baseline then target; NULL: none */
	char *plan;                /* the plan in one line, NULL: nothing done beyond reading
				      ("target: tp: 2x[4, 64] -> [4, 128] (concat h); align: x: t a b -> t (a b)") */
	const int64_t *aligned_shape; /* the shape both sides were compared in: aligned_ndim entries */
	dv_replica_check *checks;
	/* max |t-b| in the target file that holds it; for a partial sum every
	 * rank of the summed group holds a share: shard_ranks lists them all */
	const dv_dumpfile *shard_file;
	int64_t shard_rank;
	const int64_t *shard_coord; /* shard_ndim entries */
	int64_t *shard_ranks;
	/* smart token alignment: one entry per matched sequence compared, in
	 * target-sequence order (id points into the phase's alignment) */
	struct dv_seq_metrics *seqs;
	uint32_t nchecks, nshard_ranks, nseqs;
	signed char aligned_ndim, shard_ndim; /* PT_MAX_DIMS at most */
	signed char token_dim;     /* the token dim of aligned_shape (plan order), -1: none */
	bool replica_mismatch;     /* some check failed: the pair counts as failed */
	bool has_shard;
	bool derived;              /* a plain pair's shared record: aligned shape and shard unset */
} dv_logical_result;

typedef struct dv_seq_metrics {
	const char *id;            /* the rid, else the target sequence's index */
	size_t tokens;
	double rel_diff, max_abs_diff, mean_abs_diff;
	bool passed;               /* rel_diff under the scan's threshold, no NaN */
} dv_seq_metrics;

/* The pair's logical result whole: p->logical, or for a plain pair's
 * shared record its fields filled from the pair in *scratch (returned).
 * NULL when the pair has none. Read p->logical only once the pair is done. */
const dv_logical_result *dv_pair_logical(const struct dv_pair *p, dv_logical_result *scratch);
/* A zeroed logical result (from a pool: free it only with
 * dv_logical_result_free); NULL when out of memory. */
dv_logical_result *dv_logical_result_new(void);
void dv_logical_result_free(dv_logical_result *r);

/* The files of a pair's side (0 baseline, 1 target), in (step, rank,
 * dump_index) order; *n of them. */
const dv_dumpfile *const *dv_pair_files(const dv_pair *p, int side, size_t *n);

/* Both sides of a matched pair opened, unsharded and aligned as two
 * streams (what dv_logical_compute compares): for the detail pane and the
 * export. NULL with err naming the tensor and the file. */
typedef struct dv_logical_view dv_logical_view;
dv_logical_view *dv_logical_open(const dv_pair *pair, dv_error *err);
const dv_stream *dv_logical_stream(const dv_logical_view *v, int side);
void dv_logical_close(dv_logical_view *v);

/* Computes one matched logical pair into pair->result (and pair->logical,
 * replacing what was there). Errors of one pair (a file that cannot be read,
 * a dims error, missing shards) become its ERROR result naming the bundle
 * and the file; 0 or -1 as dv_compare_files. */
int dv_logical_compute(dv_pair *pair, const dv_metrics_opts *opts);

/* THD sequence lengths of one step of a phase (for cp_thd_concat and the
 * per-sequence zigzag): the lowest rank's cu_seqlens_q (its differences),
 * else its seq_lens. 0 with *lens malloc'd (NULL and 0 when the phase has
 * neither, or not as a tensor), -1 with err naming the file. */
int dv_thd_seq_lens(const dv_phase *ph, int64_t step, int64_t **lens, size_t *nlens, dv_error *err);

/* ---- per-shard metrics (the explorer's shard table) ---- */

/* One target shard against the baseline slice it holds, when the layout
 * makes that slice well defined (concat and zigzag shards; a partial share
 * or a replicated copy is compared against the whole baseline slice it
 * stands for, summed shares cannot be told apart: ok false with why). */
typedef struct dv_shard_row {
	const dv_dumpfile *file;
	int64_t rank;
	char coords[64];           /* "tp=1/2 cp=0/2" */
	int ndim;
	int64_t shape[PT_MAX_DIMS];
	bool ok;                   /* metrics below computed */
	double rel_diff, max_abs_diff, mean_abs_diff;
	bool passed;               /* rel_diff under the threshold given */
	char why[128];             /* when !ok: why no slice */
} dv_shard_row;

/* Computes one row per target file of the pair (first step only for a
 * multi-step side). *rows malloc'd. 0, or -1 with err. */
int dv_logical_shard_table(const dv_pair *pair, double threshold, const dv_metrics_opts *opts, dv_shard_row **rows,
			   size_t *n, dv_error *err);

#endif
