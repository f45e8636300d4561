/* The dump model: two runs -> phases -> files with tags -> pairs in execution
 * order, then the scan that fills pair results and finds the first divergence,
 * and the diagnosis. Building the model reads only directory listings and file
 * names; tensor data is read by the metrics layer when a result is needed.
 * No curses here. */
#ifndef DUMPVIEW_DUMP_H
#define DUMPVIEW_DUMP_H

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpview/error.h"
#include "dumpview/intern.h"
#include "dumpview/metrics.h"

#define DV_DEFAULT_BASE_DIR "/tmp/dumper"
/* Default layer regex: matches layers.4. / layer_4 / layers_4; group 1 is the layer. */
#define DV_DEFAULT_LAYER_REGEX "(?:^|[._])layers?[._](\\d+)(?:[._]|$)"

typedef struct dv_tag {
	char *key;
	char *value;
} dv_tag;

/* A listed file's tag, 8 bytes (a run may list hundreds of thousands of
 * files, each with several tags): its key by number (dv_key_name, intern.h)
 * and where its value lies in the file's block. Read it with
 * dv_file_tag_key and dv_file_tag_value. */
typedef struct dv_file_tag {
	uint32_t key;          /* dv_key_name(key) */
	uint32_t value;        /* offset of the NUL-terminated value in the block; with
				  DV_TAG_VALUE_SHARED, a value many files have: dv_key_name
				  of the rest; DV_TAG_VALUE_NAME: the file's name (renamed
				  by --name-map) */
} dv_file_tag;
#define DV_TAG_VALUE_SHARED 0x80000000u
#define DV_BLOCK_MAX 0x20000000u    /* a file's block is smaller (file names are far smaller) */
#define DV_TAG_VALUE_NAME UINT32_MAX

/* A listed file keeps its names and tags in one allocation, its block: the
 * tags array (where the block starts: tags points at it), then relpath (the
 * file name is its tail), the full path only when it does not end in relpath
 * (prefix is DV_PREFIX_APART then), the stem (only when it is the name:
 * name_is_stem) and each tag's value, NUL-terminated; tag keys are numbers
 * (dv_file_tag). The full path is otherwise the run's folder (an interned
 * prefix every file of a run shares) and relpath, built on demand: a run may
 * list hundreds of thousands of files, and the root folder repeated in each
 * was ~6 % of the explorer's memory (58 B of ~1 KB a pair at 200 k pairs). */
#define DV_PATH_MAX 4096   /* a path's bytes with its NUL, as Linux's PATH_MAX: open() refuses longer */
#define DV_PREFIX_NONE 0u
#define DV_PREFIX_APART UINT32_MAX
typedef struct dv_path_buf {
	char s[DV_PATH_MAX];
} dv_path_buf;

typedef struct dv_dumpfile {
	dv_file_tag *tags;     /* from the file name, plus the folder tags when a phase has several
				  subfolders: engine=<i>, rollout=<i>, sglang_dump=<ordinal by timestamp>
				  (timestamps differ between runs), folder=<name> for any other;
				  owned: the start of the block */
	const char *name;      /* tag "name" (or the stem when absent) */
	int64_t step;          /* tag "step" or "forward_pass_id"; -1 when absent */
	int64_t rank;          /* tag "rank"; -1 when absent */
	int64_t dump_index;    /* tag "dump_index"; -1 when absent */
	int layer;             /* layer_id / layer tag, else layer regex group 1; -1 none */
	int duplicate_index;   /* order among files of equal pairing tags, by dump_index, from 0 */
	uint16_t ntags;
	uint16_t nfile_tags;   /* tags[0 .. nfile_tags) come from the file name, the rest from folders */
	uint16_t filename_at;  /* where the file name starts in relpath (dv_dumpfile_filename) */
	uint32_t prefix;       /* the path is dv_key_name(prefix - 1) + relpath (dv_dumpfile_path);
				  DV_PREFIX_NONE (a zeroed record): relpath itself;
				  DV_PREFIX_APART: the path is kept in the block after relpath */
	uint32_t block_size : 29;   /* bytes of the block (< DV_BLOCK_MAX) */
	uint32_t block_in_arena : 1; /* the block lies in its run's arena (run.c): freed with the run */
	uint32_t name_is_stem : 1;  /* no name tag: name is the file name without ".pt" (or
				       what --name-map made of it); read it with dv_dumpfile_stem */
	uint32_t renamed : 1;       /* --name-map renamed it (name_map.h): name is allocated apart,
				       the name before just ahead of it (dv_dumpfile_unmapped_name) */
} dv_dumpfile;

/* The path relative to the run's root (what reports print): the block's
 * strings start with it, right after the tags. */
static inline const char *dv_dumpfile_relpath(const dv_dumpfile *f)
{
	return (const char *)(f->tags + f->ntags);
}
static inline const char *dv_dumpfile_filename(const dv_dumpfile *f)
{
	return dv_dumpfile_relpath(f) + f->filename_at;
}
/* The full path, for opening and for messages: built in buf (its prefix is
 * shared, not kept a file), or the copy in the block; valid while both f and
 * buf are. Never longer than DV_PATH_MAX (listing refuses such a file). */
const char *dv_dumpfile_path(const dv_dumpfile *f, dv_path_buf *buf);
/* The name before --name-map renamed the file, NULL when it was not: kept
 * in the new name's allocation, just before it (not a pointer a file). */
static inline const char *dv_dumpfile_unmapped_name(const dv_dumpfile *f)
{
	return f->renamed ? ((const char *const *)(const void *)f->name)[-1] : NULL;
}
static inline const char *dv_file_tag_key(const dv_dumpfile *f, size_t i)
{
	return dv_key_name(f->tags[i].key);
}
static inline const char *dv_file_tag_value(const dv_dumpfile *f, size_t i)
{
	uint32_t at = f->tags[i].value;

	if (at == DV_TAG_VALUE_NAME)
		return f->name;
	return at & DV_TAG_VALUE_SHARED ? dv_key_name(at & ~DV_TAG_VALUE_SHARED) : (const char *)f->tags + at;
}

#define DV_RUN_TAG_KEYS 256    /* tag keys a run numbers without a lock; more through the
				  process-wide key table (intern.h) */

/* The phase of .pt files lying in a run's root folder beside phase folders. */
#define DV_ROOT_PHASE "(root)"
/* The folder tag value of .pt files lying beside subfolders inside a phase. */
#define DV_LOOSE_FOLDER "."

typedef struct dv_phase {
	char *name;            /* "inference", "fwd_only", "fwd_bwd", DV_ROOT_PHASE, or the folder name */
	char *dir;             /* the folder read (relative to the run root) */
	dv_dumpfile *files;    /* sorted by (step, dump_index, rank, name) */
	size_t nfiles;
} dv_phase;

typedef struct dv_run {
	char *spec;            /* what the user gave (path or tag) */
	char *root;            /* the resolved directory */
	dv_phase *phases;      /* in phase order: inference, fwd_only, fwd_bwd, then others alphabetically */
	size_t nphases;
	bool bare;             /* the run is one bare folder of .pt files (one phase); two bare runs
				  pair their phases whatever the folders are called */
	char **problems;       /* folders not read, one line each ("inference/x: cannot read
				  folder: Permission denied"): they count as errored */
	size_t nproblems;
	/* the distinct tag keys of its files met first (DV_RUN_TAG_KEYS at
	 * most), to number the next file's keys without a lock */
	const char **tag_keys; /* interned */
	uint32_t *tag_key_ids; /* their dv_key_id */
	size_t ntag_keys;
	struct dv_run_values **tag_values; /* DV_RUN_TAG_KEYS: each key's recent values (run.c) */
	struct dv_block_chunk *blocks; /* its files' blocks, packed (run.c) */
} dv_run;

typedef struct dv_run_opts {
	const char *base_dir;     /* NULL: dv_base_dir() (comparison.h) */
	const char *layer_regex;  /* NULL: DV_DEFAULT_LAYER_REGEX */
	_Atomic size_t *listed;   /* optional: counts .pt files as they are found, for
				     progress shown while a huge run is listed */
	bool follow_symlinks;     /* follow symlinked folders that lead outside the run */
	/* optional: called after each phase is listed, the phase folders then
	 * read in phase order (inference, fwd_only, fwd_bwd, the others), so a
	 * caller can pair what is listed while the rest is. The phase's files
	 * are final then and stay where they are until the run is freed; phase
	 * points into run->phases, which moves as phases are added (copy it).
	 * The run ends the same as without it, problems in the same order. */
	void (*phase_listed)(void *ctx, const dv_run *run, const dv_phase *phase);
	void *phase_ctx;
} dv_run_opts;

/* Resolves spec (an existing path, else a tag under base_dir) and lists its
 * phases and files. Fails (err names both places tried) when neither exists,
 * or when the run's own folder cannot be listed. A folder below it that cannot
 * be read, lies deeper than the depth limit, or is a symlink leading outside
 * the run (unless opts->follow_symlinks) is left out and named in
 * run->problems. Each real folder is read once. A folder's .pt files and its
 * subfolders are both read: in the root beside phase folders the files form
 * the phase DV_ROOT_PHASE; inside a phase, files beside subfolders get the
 * folder tag folder=DV_LOOSE_FOLDER. Folders with no .pt file below are
 * ignored. */
dv_run *dv_run_open(const char *spec, const dv_run_opts *opts, dv_error *err);
void dv_run_free(dv_run *run);

/* One file as dv_run_open makes it from its name (no folder tags): path is
 * root joined with relpath (relpath alone when root is NULL or empty).
 * -1 with err when out of memory; free with dv_dumpfile_free either way. */
int dv_dumpfile_init(dv_dumpfile *f, const char *root, const char *relpath, const pcre2_code *layer_re,
		     dv_error *err);
void dv_dumpfile_free(dv_dumpfile *f);
/* The file name without ".pt" (the name when name_is_stem; a renamed stem
 * as the name map left it): *len bytes from the pointer, NUL-terminated
 * only when it is the name. */
const char *dv_dumpfile_stem(const dv_dumpfile *f, size_t *len);

/* File-name tags: split the stem on "___", each part on its first "=";
 * parts without "=" are ignored. Returns the count; *tags is malloc'd. */
size_t dv_parse_tags(const char *filename, dv_tag **tags);
void dv_free_tags(dv_tag *tags, size_t ntags);
const char *dv_tag_get(const dv_dumpfile *f, const char *key);

/* A compiled regex with its message on failure ("bad regex at offset 3: ..."). */
pcre2_code *dv_regex_compile(const char *pattern, bool smart_case, dv_error *err);
/* A match against a user regex, under backtracking limits: callers must
 * tell "too expensive" (the limits were hit) from "no match". */
typedef enum dv_regex_result {
	DV_REGEX_NOMATCH,
	DV_REGEX_MATCH,
	DV_REGEX_TOO_EXPENSIVE, /* match, depth or heap limit hit */
	DV_REGEX_ERROR,         /* out of memory or another PCRE2 error */
} dv_regex_result;
dv_regex_result dv_regex_test(const pcre2_code *re, const char *subject);
/* Group 1 of the layer regex as an int, or -1. */
int dv_layer_from_name(const pcre2_code *layer_re, const char *s);
/* A layer number from a tag value: all digits, else -1. */
int dv_layer_parse(const char *s);
/* Phase order rank: inference 0, fwd_only 1, fwd_bwd 2, any other 3. */
int dv_phase_rank(const char *phase_name);

typedef enum dv_pair_kind {
	DV_PAIR_MATCHED,
	DV_PAIR_BASELINE_ONLY,   /* no partner in the target */
	DV_PAIR_TARGET_ONLY,     /* no partner in the baseline */
} dv_pair_kind;

typedef enum dv_pair_state {
	DV_PAIR_PENDING = 0,
	DV_PAIR_RUNNING,
	DV_PAIR_DONE,
	DV_PAIR_CANCELLED,       /* the user stopped its computation: nobody takes it
				    again until dv_pair_uncancel() */
} dv_pair_state;

struct dv_logical_ctx;
struct dv_logical_result;

/* One logical tensor: the files of each side that differ only in the skip
 * keys of the phase's preset (rank, and step under sglang_megatron), so a
 * TP=4 target's four rank files pair with a TP=1 baseline's one file. */
typedef struct dv_pair {
	dv_pair_kind kind;
	int layer;                    /* -1 none */
	_Atomic int state;            /* dv_pair_state; result valid once DONE */
	uint32_t phase;               /* index into dv_comparison.phases */
	const dv_dumpfile *base;      /* the first baseline file; NULL when TARGET_ONLY */
	const dv_dumpfile *targ;      /* the first target file; NULL when BASELINE_ONLY */
	const dv_dumpfile *const *files; /* every file: nbase baseline ones, then ntarg target
					    ones, each side in (step, rank, dump_index) order;
					    NULL when at most one a side (base, targ): read
					    them with dv_pair_files */
	uint32_t nbase, ntarg;
	const struct dv_logical_ctx *lctx; /* how its phase's logical tensors are read */
	struct dv_logical_result *logical; /* what a computed multi-file or dims pair adds
					      (logical.h), NULL when nothing; valid once DONE */
	const char *name;             /* tensor name */
	int64_t step, rank;
	dv_pair_result *result;       /* never NULL: &dv_pair_result_none until computed, then
					 its own (dv_pair_result_slot), freed with the comparison */
} dv_pair;

typedef struct dv_phase_pairs {
	char *name;
	bool in_base, in_targ;        /* a phase present on one side only is reported */
	size_t first, count;          /* its pairs: pairs[first .. first+count) */
	bool folders_ignored;         /* the two sides' folders differ: some folder tags
					 were not used as pairing keys */
	struct dv_logical_ctx *lctx;  /* its preset and the rest (logical.h) */
} dv_phase_pairs;

typedef struct dv_scan dv_scan;
struct dv_rules;

#define DV_NO_RULE UINT32_MAX     /* dv_comparison.rule_of: no rule matches the name */

/* What a retired pair keeps of its result (dv_comparison_retire): its
 * verdict. Nothing else of it is read again: the diagnosis quotes numbers
 * of the first divergence and of integer pairs only, which stay whole. */
typedef struct dv_pair_verdict {
	unsigned char outcome;        /* dv_outcome (comparison.h): PASS or FAIL */
	bool retired;                 /* the pair's result was freed: read this instead */
} dv_pair_verdict;

typedef struct dv_comparison {
	dv_run *base, *targ;
	dv_phase_pairs *phases;       /* union of both runs' phases, in phase order */
	size_t nphases;
	dv_pair *pairs;               /* every phase's pairs in execution order: phase, step,
					 target dump_index, rank; unmatched ones at their own
					 side's place */
	size_t npairs;
	/* Kept by the comparison object (comparison.h); use its functions. */
	char **selected;              /* --phase names kept; none: every phase */
	size_t nselected;
	double threshold;             /* the default pass rule's limit, when has_threshold */
	bool has_threshold;           /* false: the pass decision made when each pair was
					 computed (result.passed, under the scan's threshold) */
	unsigned rule_epoch;          /* bumped by every change of the pass rule (threshold,
					 rules, pass_fn), so a view can keep what it derived
					 from the verdicts until one of them changes */
	bool (*pass_fn)(const struct dv_comparison *, size_t, const dv_pair_result *, void *);
	void *pass_ctx;               /* pass_fn NULL: the threshold decides */
	const struct dv_rules *rules; /* per-tensor rules (dv_comparison_set_rules), or NULL */
	uint32_t *rule_of;            /* per pair: index of the rule its name matches in
					 rules, DV_NO_RULE when none does; NULL without rules */
	struct dv_scan *scan;         /* the scan it owns, or NULL */
	const struct dv_grouping *grouping; /* how files form logical tensors (logical.h);
					       NULL: the defaults. Not owned. */
	const dv_dumpfile **pair_files; /* every pair's files (dv_pair.files points here) */
	/* dv_first_divergence's memo: pairs [0, fd_pos) have final verdicts that
	 * do not diverge under rule epoch fd_epoch - 1 (0: none yet) */
	_Atomic size_t fd_pos;
	_Atomic unsigned fd_epoch;
	/* Per DV_CHUNK_PAIRS pairs (comparison.h): a count bumped by every
	 * change of a pair's state there (the compute path, through the pair's
	 * logical context), and what the first divergence last found there;
	 * NULL when not kept (pairs made by hand). fd_reset: bumped when states
	 * were set by hand (dv_comparison_recount), forgetting every chunk. */
	_Atomic unsigned *chunk_gen;
	struct dv_fd_chunk *fd_chunks;
	size_t nchunks;
	_Atomic unsigned fd_reset;
	atomic_bool fd_busy;          /* one walk uses fd_chunks at a time */
	unsigned shard_k, shard_n;    /* dv_comparison_set_shard: slice shard_k of shard_n
					 (1-based); shard_n 0: every pair */
	unsigned char *out_of_shard;  /* per pair: not in the slice (NULL without a shard) */
	/* A comparison read back from a report (report_load.h): the warnings
	 * it recorded stand for dv_comparison_warnings's (owned). */
	bool warnings_recorded;
	char **recorded_warnings;
	size_t nrecorded_warnings;
	/* A comparison of the phases listed so far while the runs are still
	 * being listed (dv_comparison_opts.partial): base and targ are views
	 * holding those phases only, without problems; the files are the runs'. */
	bool partial;
	/* dv_comparison_retire: per pair, NULL until the first retirement; the
	 * lowest diverging pair offered, kept whole (retire_kept_any) */
	dv_pair_verdict *retired;
	size_t retire_kept;
	bool retire_kept_any;
} dv_comparison;

/* Pairs two runs by the comparator's rule (all tags but dump_index, with
 * duplicate_index). A folder tag is a key in a phase only when both sides
 * have the same values of it (files without it included), or, for engine,
 * rollout and folder (names, not ordinals), when every file of both sides
 * has it: one extra or missing folder must not unpair the phase; the phase's
 * folders_ignored says when a folder tag was left out. Optional filter:
 * PCRE2 on the target's file name (baseline file name for baseline-only
 * files); NULL keeps all. */
dv_comparison *dv_comparison_build(dv_run *base, dv_run *targ, const pcre2_code *filter, dv_error *err);
/* The same with a grouping (logical.h: preset, skip keys, dims overrides;
 * NULL: the defaults), which must outlive the comparison. */
struct dv_grouping;
dv_comparison *dv_comparison_build_grouped(dv_run *base, dv_run *targ, const pcre2_code *filter,
					   const struct dv_grouping *grouping, dv_error *err);
/* Frees the comparison, its scan and both runs. */
void dv_comparison_free(dv_comparison *cmp);

/* Computes one pair now (in the calling thread) unless DONE; waits when
 * another thread is computing it. Thread-safe with the scan. Unmatched pairs
 * are DONE from the start (nothing to compute; result status NONE). A
 * cancelled computation leaves the pair PENDING. */
void dv_pair_compute(dv_pair *pair, const dv_metrics_opts *opts);
/* The same for a computation the user may stop (TUI): when opts->cancel stops
 * it and *user_cancel is set by then, the pair becomes CANCELLED, else PENDING.
 * A CANCELLED pair is left as it is (both functions). While another thread
 * computes the pair, a set opts->cancel ends the wait. */
void dv_pair_compute_cancellable(dv_pair *pair, const dv_metrics_opts *opts, const atomic_int *user_cancel);
/* The pair's own result to fill, emptied (what it held freed): allocated on
 * first use in place of dv_pair_result_none. NULL when out of memory. Only
 * the thread computing the pair (or code building pairs) calls it. */
dv_pair_result *dv_pair_result_slot(dv_pair *pair);
/* Frees the pair's result; it points at dv_pair_result_none again. */
void dv_pair_result_release(dv_pair *pair);
/* CANCELLED -> PENDING, so a compute or the scan takes the pair again. */
void dv_pair_uncancel(dv_pair *pair);
/* A pair counts as failed: matched and (not passed) — errors and shape
 * mismatches included. Non-tensor values are skipped (never failed), as the
 * comparator does; their result says whether they are equal. Judged by the
 * pass decision made when the pair was computed (result.passed); code that
 * holds the comparison asks dv_comparison_verdict (comparison.h). */
bool dv_pair_failed(const dv_pair *pair);

/* What computes a matched pair: dv_compare_files unless swapped (tests,
 * benchmarks). Set it before starting any scan. NULL restores the default. */
typedef int (*dv_compare_fn)(const char *base_path, const char *targ_path,
			     const dv_metrics_opts *opts, dv_pair_result *result);
void dv_set_compare_fn(dv_compare_fn fn);

/* The scan: a worker pool (sized to the cores) walking pairs in execution
 * order; dv_scan_prioritize() lets a pair jump the queue. notify_fd (may be -1)
 * gets one byte written per finished pair, for the TUI's input loop. */
dv_scan *dv_scan_start(dv_comparison *cmp, const dv_metrics_opts *opts, int nthreads, int notify_fd);
/* False when no worker will take it (all have finished, or stopping): the
 * caller computes the pair some other way. */
bool dv_scan_prioritize(dv_scan *scan, size_t pair_index);
void dv_scan_pause(dv_scan *scan, bool paused);
/* Stops a worker's computation of one pair for the user: it ends CANCELLED.
 * False when no worker is computing that pair. */
bool dv_scan_cancel_pair(dv_scan *scan, size_t pair_index);
/* A worker's progress through pair_index (elements); false when none
 * computes it or it has not reported yet. */
bool dv_scan_pair_progress(dv_scan *scan, size_t pair_index, int64_t *done, int64_t *total);
/* Workers are alive and not paused: prioritized pairs will be computed. */
bool dv_scan_running(dv_scan *scan);
size_t dv_scan_done(const dv_scan *scan);    /* pairs DONE, unmatched ones included (O(npairs)) */
/* Every pair is DONE or CANCELLED: the scan has nothing left to do. */
bool dv_scan_finished(const dv_scan *scan);
void dv_scan_wait(dv_scan *scan);            /* until every pair is done (resumes a paused scan) */
void dv_scan_stop(dv_scan *scan);            /* cancel, join, free */
/* The same, but waits for the workers only until deadline (CLOCK_REALTIME):
 * false when one is still busy (stuck in a read); the scan is then left
 * allocated with its workers detached, for a caller about to exit. */
struct timespec;
bool dv_scan_stop_until(dv_scan *scan, const struct timespec *deadline);
/* Tells the workers to stop and returns at once: none claims another pair,
 * the pair each computes is cancelled at its next chunk (it may still end
 * DONE) and left as it ends. Finish with dv_scan_reap or dv_scan_stop. */
void dv_scan_stop_request(dv_scan *scan);
/* Stops the scan without waiting (as dv_scan_stop_request): true, and the
 * scan freed, once every worker has ended; false while one is still busy
 * (ask again later; dv_scan_stop_until still works on it). */
bool dv_scan_reap(dv_scan *scan);

/* The first pair whose verdict (dv_comparison_verdict: fail or error) is a
 * divergence, in execution order, or -1. Exact only when every pair before it
 * has a final verdict: *known (optional) tells whether that holds. */
ptrdiff_t dv_first_divergence(const dv_comparison *cmp, bool *known);

/* Why a comparison must not pass even with no failed pair, one line each
 * (a comparison read from a report: the report's warnings):
 * the runs' problems (folders not read), a phase with files on both sides
 * but no pair, a phase on one side only, more than half of one side's files
 * without a partner. Only the pairing is looked at (no results), so it is
 * final before the scan. Returns the count; *out is a malloc'd array of
 * malloc'd strings (free with dv_warnings_free), NULL when none. */
size_t dv_comparison_warnings(const dv_comparison *cmp, char ***out);
void dv_warnings_free(char **warnings, size_t n);

/* Diagnosis following the seed's guidelines, as one paragraph of plain text
 * (which phase first diverges and what that points to, the first layer and
 * tensor, where failures concentrate: MoE vs dense, attention vs MLP, integer
 * tensors apart). Returns a malloc'd string. */
char *dv_diagnose(const dv_comparison *cmp);

#endif
