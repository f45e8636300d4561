/* Token alignment between two runs that batched, packed and stepped the same
 * sequences differently (an inference engine's prefill and decode steps
 * against a trainer's packed or padded micro-batch).
 *
 * The core (dv_ta_*) works on plain arrays and reads no file: each side's
 * auxiliary tensors per step (token ids, positions, per-sequence lengths,
 * request ids) go in; out come the per-sequence token lists, the matching of
 * baseline to target sequences, a plan of which token of which step to take on
 * each side (in target-sequence order, with each matched sequence's range) and
 * the coverage: what was matched, what was left over on either side, the
 * padding ignored and the problems, one line each. A problem is confined to
 * the sequence (or step) it concerns: that sequence is left out of the plan
 * and the rest is still aligned.
 *
 * dv_ta_side_load (token_aux.c) fills a side from its dump files. */
#ifndef DUMPVIEW_TOKEN_ALIGN_H
#define DUMPVIEW_TOKEN_ALIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpview/error.h"

struct dv_dims;
struct dv_dumpfile;

typedef enum dv_ta_framework {
	DV_TA_FW_UNKNOWN = 0,
	DV_TA_FW_SGLANG,
	DV_TA_FW_MEGATRON,
} dv_ta_framework;

typedef enum dv_ta_layout {
	DV_TA_THD = 0, /* flat tokens: sequences packed one after another */
	DV_TA_BSHD,    /* [batch, seq]: one sequence per row */
} dv_ta_layout;

/* An int64 array that may be absent (present with n = 0 is an empty tensor). */
typedef struct dv_ta_ints {
	bool present;
	int64_t *v;
	size_t n;
	int ndim;             /* of the tensor it was read from */
	int64_t shape[8];     /* its first 8 dims */
} dv_ta_ints;

/* The auxiliary values one side dumped in one step (rank 0's files). Every
 * field is optional; the arrays are owned (dv_ta_side_free frees them). */
typedef struct dv_ta_step {
	int64_t step;
	dv_ta_ints input_ids;      /* both frameworks; flattened row-major */
	dv_ta_ints positions;      /* SGLang `positions` */
	dv_ta_ints seq_lens;       /* SGLang: tokens of each request in this step */
	dv_ta_ints req_pool_indices;
	dv_ta_ints position_ids;   /* Megatron */
	dv_ta_ints cu_seqlens_q;   /* Megatron */
	dv_ta_ints cu_seqlens_kv;
	bool has_rids;             /* SGLang `rids`: one string per request */
	char **rids;
	size_t nrids;
	char *qkv_format;          /* Megatron `qkv_format`, or NULL */
} dv_ta_step;

typedef struct dv_ta_side {
	dv_ta_step *steps;         /* any order; the core walks them by increasing step */
	size_t nsteps;
	/* Whether the first file's meta holds sglang_parallel_info /
	 * megatron_parallel_info (any value): the last resort of framework
	 * detection. */
	bool meta_sglang, meta_megatron;
} dv_ta_side;

void dv_ta_side_free(dv_ta_side *side);
/* The step entry for step, appended (zeroed, step set) when absent; NULL when
 * out of memory. */
dv_ta_step *dv_ta_side_step(dv_ta_side *side, int64_t step);

/* The auxiliary tensor names a token aligner reads (both frameworks):
 * input_ids positions seq_lens req_pool_indices rids position_ids
 * cu_seqlens_q cu_seqlens_kv qkv_format. */
bool dv_ta_is_aux_name(const char *name);

/* SGLang if any step has seq_lens, positions, req_pool_indices or rids; else
 * Megatron if any has cu_seqlens_q, cu_seqlens_kv or qkv_format; else by the
 * first file's parallel-info key (sglang first); else UNKNOWN. */
dv_ta_framework dv_ta_detect_framework(const dv_ta_side *side);
/* SGLang: always THD. Megatron: the first step (increasing step order) with a
 * qkv_format (containing "bshd" in any case -> BSHD, else THD) or else a 2-d
 * input_ids (BSHD) decides; none decides -> THD and *fallback (optional) is
 * set. */
dv_ta_layout dv_ta_detect_layout(const dv_ta_side *side, dv_ta_framework fw, bool *fallback);

/* Successive differences of cu_seqlens (n >= 1 values, non-decreasing,
 * starting at 0): *counts gets n - 1 lengths (malloc'd; NULL when n = 1).
 * -1 with err otherwise. */
int dv_ta_cu_seqlens_counts(const int64_t *cu, size_t n, int64_t **counts, size_t *ncounts, dv_error *err);

/* A sequence's place in a step: the step and the flat index of the token in
 * that step's tokens (row-major over [b, s] on a BSHD side). */
typedef struct dv_ta_loc {
	int64_t step;
	int64_t index;
} dv_ta_loc;

/* One sequence of one side, its tokens across steps in step order. */
typedef struct dv_ta_seq {
	char *rid;              /* the request id, or NULL (keyed by first step, index) */
	int64_t first_step;     /* the step and index-in-step of its first appearance */
	int64_t first_index;
	size_t ntokens;
	int64_t *ids;
	int64_t *positions;
	dv_ta_loc *locs;
	bool last_in_step;      /* Megatron THD: the last segment of its step (tail padding candidate) */
	bool bshd_row;          /* a row of a BSHD step */
} dv_ta_seq;

/* A side's sequences in order of first appearance (steps increasing, then
 * index in step), with the problems met building them: sequences with a
 * problem are not in seqs. order[] lists them in key order: rid strings
 * (byte order), else (step, index) numerically; keys without rid first. */
typedef struct dv_ta_seqs {
	dv_ta_framework framework;
	dv_ta_layout layout;
	bool layout_fallback;
	dv_ta_seq *seqs;
	size_t nseqs;
	size_t *order;
	char **errors;
	size_t nerrors;
} dv_ta_seqs;

/* Builds a side's sequences. Returns 0, or 1 when the side cannot be
 * aligned at all (no input_ids, an SGLang side without seq_lens, framework
 * unknown: *why names it, "aux_tensors_missing" / "framework_detection_failed"),
 * or -1 with err when out of memory (why may be NULL). Per step: the ids are input_ids
 * flattened; counts are seq_lens (SGLang), else cu_seqlens_q differences,
 * else one per BSHD row, else the whole step; positions are positions
 * (SGLang, required), position_ids, else 0.. per BSHD row or per sequence.
 * A step whose lengths disagree (ids vs positions, sum of counts vs ids, rids
 * vs counts) is left out with an error; a sequence whose positions are not
 * 0, 1, ..., n-1 across its steps is left out with an error. */
int dv_ta_build_seqs(const dv_ta_side *side, dv_ta_seqs *out, const char **why, dv_error *err);
void dv_ta_seqs_free(dv_ta_seqs *s);

typedef struct dv_ta_match {
	char *id;                   /* the rid (target's, else baseline's), else the target sequence's
				       index in key order (decimal) */
	size_t base_seq, targ_seq;  /* indexes into the two dv_ta_seqs */
	size_t tokens;              /* compared: the common length (0 on an id disagreement) */
	size_t baseline_only_tokens, target_only_tokens;
	size_t start, end;          /* its tokens in the plan: [start, end) */
	bool ids_disagree;          /* paired by rid but the token ids differ: not compared, an error */
} dv_ta_match;

typedef struct dv_ta_unmatched {
	char *id;                   /* the rid, else the sequence's index in key order on its own side */
	size_t seq;
	size_t tokens;
} dv_ta_unmatched;

typedef struct dv_ta_result {
	bool by_rid;                /* sequences were keyed by rid (both sides have rids) */
	dv_ta_match *matched;       /* in target-sequence order */
	size_t nmatched;
	dv_ta_unmatched *unmatched_baseline, *unmatched_target;
	size_t nunmatched_baseline, nunmatched_target;
	/* Tokens taken as padding: an unmatched last segment of a packed
	 * Megatron step whose ids are all one value (not listed as unmatched),
	 * and, in a matched BSHD row, the run of ids equal to the row's last id
	 * after the compared part (also counted in that sequence's *_only_tokens). */
	size_t padding_tokens;
	size_t padding_sequences;   /* segments of the first kind */
	/* The plan: for each side, which token of which step, in target-sequence
	 * order; both have ntokens entries. */
	dv_ta_loc *plan[2];         /* [0] baseline, [1] target */
	size_t ntokens;
	char **errors;              /* both sides' build problems ("baseline: ..."), then id disagreements */
	size_t nerrors;
} dv_ta_result;

/* Matches target sequences to baseline ones: by rid when both sides' sequences
 * all have rids (equal rids pair), else for each target sequence in order the
 * first unclaimed baseline sequence with identical ids, else the unclaimed
 * one agreeing on the longest common prefix (at least one token; first on
 * ties). A pair compares its first min(lengths) tokens. The errors of both
 * builds are carried into the result. -1 with err only when out of memory. */
int dv_ta_match_seqs(const dv_ta_seqs *base, const dv_ta_seqs *targ, dv_ta_result *out, dv_error *err);
void dv_ta_result_free(dv_ta_result *r);

/* Builds both sides and matches them. Returns 0; 1 when a side cannot be
 * aligned (*why as dv_ta_build_seqs, *which_side 0 baseline / 1 target; both
 * may be NULL); -1 with err. Reentrant: no shared state. On 0, base_seqs/targ_seqs (optional, else freed) keep the
 * sequences the result's indexes refer to. */
int dv_ta_align(const dv_ta_side *base, const dv_ta_side *targ, dv_ta_result *out, dv_ta_seqs *base_seqs,
		dv_ta_seqs *targ_seqs, const char **why, int *which_side, dv_error *err);

/* concat_steps: the token dim of a tensor with these dims: the dim named t,
 * else s, else 0 (also when dims is NULL). */
int dv_ta_concat_token_dim(const struct dv_dims *dims);
/* concat_steps: each side's steps (token counts in increasing step order)
 * joined and both cut to the shorter total. keep[0][i] / keep[1][i] (arrays
 * of nx / ny) get how many tokens of each step are kept; returns the kept
 * total per side. */
int64_t dv_ta_concat_lengths(const int64_t *xlens, size_t nx, const int64_t *ylens, size_t ny, int64_t *xkeep,
			     int64_t *ykeep);

/* Loads one side's auxiliary values from its dump files (any order; files
 * whose name is not an aux name are ignored): per step, the file of the lowest
 * rank (rank 0) of each aux name; tensors as int64 (integral values only),
 * rids as a list of strings, qkv_format as a string. The first file's meta
 * (files[0]) gives meta_sglang / meta_megatron. -1 with err naming the file. */
int dv_ta_side_load(const struct dv_dumpfile *files, size_t nfiles, dv_ta_side *side, dv_error *err);

#endif
