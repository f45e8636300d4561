/* The comparison object: what `compare`, `info` and the explorer open. It
 * resolves the runs (the one reader of $DUMPER_BASE_DIR), selects phases
 * without touching the runs, applies the name filter, pairs, owns the scan,
 * and holds the pass rule: the verdict of a pair and the first divergence
 * are defined here and nowhere else. The pairing data (dv_comparison's
 * phases and pairs) is declared in dump.h. No curses here. */
#ifndef DUMPVIEW_COMPARISON_H
#define DUMPVIEW_COMPARISON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpview/dump.h"
#include "dumpview/rules.h"

/* Where run tags are looked up: $DUMPER_BASE_DIR when set and not empty,
 * else DV_DEFAULT_BASE_DIR. */
const char *dv_base_dir(void);

/* Resolves and lists one run; opts->base_dir NULL (or opts NULL) means
 * dv_base_dir(). The same as dv_run_open, for commands that open one run. */
dv_run *dv_comparison_open_run(const char *spec, const dv_run_opts *opts, dv_error *err);

typedef struct dv_comparison_opts {
	const char *baseline, *target;  /* run specs: a path, or a tag under dv_base_dir() */
	const char *const *phases;      /* --phase names to keep, in any order; none: all */
	size_t nphases;
	const pcre2_code *filter;       /* on file names (see dv_comparison_build); NULL: all */
	const char *layer_regex;        /* NULL: DV_DEFAULT_LAYER_REGEX */
	bool follow_symlinks;
	double threshold;               /* the default pass rule's rel_diff limit (0 is one) */
	const struct dv_grouping *grouping; /* logical tensors (logical.h): presets, skip keys,
					       dims overrides; NULL: the defaults. Must outlive
					       the comparison. */
	const struct dv_name_map *name_map; /* rules renaming the target's tensors before
					       pairing (name_map.h); NULL: none. Only read
					       while the comparison opens. */
	_Atomic size_t *listed;         /* optional: files found so far, both runs */
	bool parallel_open;             /* list the baseline on a second thread */
	/* optional, without parallel_open: called once the baseline is listed,
	 * before the target is (progress shown by the caller) */
	void (*baseline_listed)(void *ctx);
	void *ctx;
	/* optional: progressive listing. Both runs are listed at once, each in
	 * phase order, and partial(ctx, cmp) is called (on the opening thread)
	 * whenever both have listed more phases, with a comparison of the phases
	 * listed on both sides so far (cmp->partial; the callee owns it and
	 * frees it with dv_comparison_free, before the comparison returned at
	 * the end: its files are those runs').
	 * Its pairs are those of the same phases in the comparison returned at
	 * the end, in the same order, on the same files: dv_comparison_adopt
	 * moves their results over. Not with the smart token aligner (each
	 * comparison would align its phases again): then no partial is made.
	 * Should the open fail after a partial was handed over, partial(ctx,
	 * NULL) is called before the runs are freed: the callee frees (or stops
	 * every use of) its partial comparisons before it returns. */
	void (*partial)(void *ctx, dv_comparison *cmp);
	/* optional, with partial: called on a listing thread after each phase it
	 * listed (side 0 the baseline, 1 the target; n phases listed so far),
	 * but for a bare run (one phase, the whole run). It may block: tests
	 * hold the listing there. */
	void (*phase_listed)(void *ctx, int side, size_t n);
} dv_comparison_opts;

/* What failed in dv_comparison_open, for callers that word it themselves. */
typedef enum dv_open_failure {
	DV_OPEN_OK,
	DV_OPEN_RUN,        /* a run could not be resolved or listed */
	DV_OPEN_PHASE,      /* a --phase names no phase of either run */
	DV_OPEN_PAIRING,    /* pairing failed (out of memory, filter or name map too expensive) */
} dv_open_failure;

/* Opens both runs (the baseline's error first), checks the phase names,
 * pairs the selected phases. NULL with err set; *why (optional) says at which
 * step. The runs keep every phase: only the pairing leaves phases out. */
dv_comparison *dv_comparison_open(const dv_comparison_opts *opts, dv_open_failure *why, dv_error *err);

/* Moves the results of from's pairs to the same pairs of to (same index,
 * phase, kind and files: a partial comparison's pairs and the larger one's),
 * done and cancelled ones alike, and keeps both counts (to's first
 * divergence memo too, when both judge alike: set the pass rule first).
 * Neither may have a scan running, nor anything computing its pairs.
 * Returns the pairs moved. */
size_t dv_comparison_adopt(dv_comparison *to, dv_comparison *from);

/* Whether --phase kept this phase name (always true without --phase). */
bool dv_comparison_phase_selected(const dv_comparison *cmp, const char *phase_name);

/* ---- the pass rule and the verdict ---- */

/* A pair's verdict. A matched pair is PENDING until computed; CANCELLED
 * when the user stopped it; a computed one PASS or FAIL by the pass rule,
 * ERROR when a file could not be read or compared (a divergence too), or
 * SKIPPED for non-tensor values (never a failure; values_equal tells equal
 * ones apart, which the explorer shows as passing). NONE: computed but with
 * no result to judge. */
typedef enum dv_outcome {
	DV_OUTCOME_PENDING,
	DV_OUTCOME_PASS,
	DV_OUTCOME_FAIL,
	DV_OUTCOME_ERROR,
	DV_OUTCOME_SKIPPED,
	DV_OUTCOME_UNMATCHED,
	DV_OUTCOME_CANCELLED,
	DV_OUTCOME_NONE,
} dv_outcome;

/* Whether a computed tensor pair (result status COMPARED) passes. The default
 * rule is dv_result_passes under the comparison's threshold; another rule
 * (per tensor, say) replaces it with no change to the verdict's callers. */
typedef bool (*dv_pass_fn)(const dv_comparison *cmp, size_t pair_index, const dv_pair_result *result, void *ctx);
void dv_comparison_set_pass_rule(dv_comparison *cmp, dv_pass_fn fn, void *ctx);

/* Per-tensor pass rules (rules.h): a computed tensor pair is judged by the
 * first rule whose regex fully matches its name (the `name` tag); a pair
 * whose name matches no rule is an ERROR ("no rule matches": fail-closed);
 * a shape mismatch stays a FAIL when a rule matches. Rules replace the
 * threshold and any pass function while set. The match of every pair is
 * made here, once (an index per pair): call again after the set changed
 * (a rule added, the catch-all toggled); a changed catch-all threshold needs
 * no call. rules NULL goes back to the threshold. The set is not copied: it
 * must outlive its use here. Not concurrent with verdicts. -1 with err when
 * out of memory (the comparison keeps its previous rules). */
int dv_comparison_set_rules(dv_comparison *cmp, const dv_rules *rules, dv_error *err);
const dv_rules *dv_comparison_rules(const dv_comparison *cmp);
/* The rule that judges cmp->pairs[pair_index] (matched pairs), or NULL:
 * no rules set, an unmatched pair, or a name no rule matches. */
const dv_rule *dv_comparison_rule(const dv_comparison *cmp, size_t pair_index);
/* Its index in dv_rules_get order, or (size_t)-1 as above. */
size_t dv_comparison_rule_index(const dv_comparison *cmp, size_t pair_index);
/* Whether the pair's verdict is ERROR because its name matches no rule
 * (a computed tensor pair under rules); the message to show is
 * DV_NO_RULE_MESSAGE. */
bool dv_comparison_no_rule(const dv_comparison *cmp, size_t pair_index);
#define DV_NO_RULE_MESSAGE "no rule matches"
/* Per rule (dv_rules_get order; arrays of dv_rules_count entries): how many
 * pairs with a final PASS or FAIL verdict it judged and how many of those
 * failed; *unmatched (optional) counts tensor pairs no rule matches. From
 * the verdicts now, so repeated calls never double count. */
void dv_comparison_tally_rules(const dv_comparison *cmp, size_t *judged, size_t *failed, size_t *unmatched);

/* The default rule's limit. A comparison from dv_comparison_build has none
 * until set: a pair passes by the decision made when it was computed, under
 * the scan's threshold (dv_comparison_threshold says NaN). */
void dv_comparison_set_threshold(dv_comparison *cmp, double threshold);
double dv_comparison_threshold(const dv_comparison *cmp);

/* The verdict of cmp->pairs[pair_index] now; *values_equal (optional) is
 * true for SKIPPED non-tensor values that are equal. */
dv_outcome dv_comparison_verdict(const dv_comparison *cmp, size_t pair_index, bool *values_equal);
/* The same under threshold instead of the comparison's, for work that took
 * the threshold when it began (an export on another thread); rules
 * (dv_comparison_set_rules) or a function set with
 * dv_comparison_set_pass_rule still decide. */
dv_outcome dv_comparison_verdict_at(const dv_comparison *cmp, size_t pair_index, double threshold,
				    bool *values_equal);
/* The verdict of the metrics alone: a failed replicated check (cross-
 * topology) makes dv_comparison_verdict FAIL a pair its metrics pass, but
 * not this, nor the first divergence. */
dv_outcome dv_comparison_metrics_verdict(const dv_comparison *cmp, size_t pair_index);
/* A computed logical tensor with a failed replicated check. */
bool dv_pair_replica_mismatch(const dv_pair *pair);
/* The first pair in execution order with a replica mismatch, or -1. */
ptrdiff_t dv_first_replica_mismatch(const dv_comparison *cmp);

/* How far the comparison has got, for views that redraw often: matched
 * pairs, those computed (DONE), cancelled ones, and replica mismatches.
 * O(phases): the compute path keeps per-phase counts as pairs change. A
 * comparison whose pair states were set by hand (tests, a loaded report)
 * calls dv_comparison_recount once after. */
typedef struct dv_counts {
	size_t matched, done, cancelled, replica_mismatches;
} dv_counts;
void dv_comparison_counts(const dv_comparison *cmp, dv_counts *c);
/* Counts again, and forgets what the first divergence kept of the pairs
 * (states set by hand are seen from then on). */
void dv_comparison_recount(dv_comparison *cmp);

/* Pairs [k * DV_CHUNK_PAIRS, (k + 1) * DV_CHUNK_PAIRS) are chunk k. A
 * chunk's key changes whenever a pair's state there changes (computed,
 * cancelled, uncancelled, its result moved by dv_comparison_adopt) or
 * dv_comparison_recount forgets every chunk; while it stays, so does every
 * verdict of the chunk under the same pass rule (dv_comparison.rule_epoch),
 * so a view can keep what it derived from a chunk's verdicts. False when
 * the comparison keeps no keys (pairs made by hand): derive again. */
#define DV_CHUNK_PAIRS 256
bool dv_comparison_chunk_key(const dv_comparison *cmp, size_t chunk, uint64_t *key);

/* FAIL or ERROR: what the first divergence looks for. */
bool dv_outcome_diverges(dv_outcome v);

/* The first divergence is dv_first_divergence (dump.h): the first pair whose
 * metrics verdict diverges, exact (*known) once every pair before it has a final
 * verdict. */

/* For a caller done with a computed pair's full result (`compare`, once the
 * pair's record is written): frees its result and logical result, keeping
 * its verdict (dv_pair_verdict, 2 bytes instead of ~800). Every function
 * here then answers as before, but the verdict is frozen: call it only when
 * the pass rule will not change again. pair->result then reads as not
 * computed (status NONE), and dv_diag_input_build gives it no numbers
 * (rel_diff NaN): code that reads results directly must not be given a
 * retired pair. A pair whose result may still be read stays whole (false):
 * one not DONE or not COMPARED, a replica mismatch, a verdict other than
 * PASS or FAIL, a pair of integer tensors (the diagnosis counts their
 * differing elements) and the first diverging pair offered (the summary and
 * the diagnosis quote its numbers). Not concurrent with other calls on the
 * same comparison. */
bool dv_comparison_retire(dv_comparison *cmp, size_t pair_index);

/* ---- the exit status (the CI gate) ---- */

/* What the gate saw: the verdicts now, counted as the report counts them
 * (anything not PASS, FAIL or ERROR is skipped, one-sided names included),
 * the comparison's warnings, and the names the allow patterns do not
 * forgive (the first of each kept; it points into the comparison). */
typedef struct dv_gate {
	size_t passed, failed, errored, skipped;
	size_t warnings;             /* dv_comparison_warnings */
	size_t failed_not_allowed;   /* failed names not fully matching allow_failed */
	size_t skipped_not_allowed;  /* skipped names not fully matching allow_skipped */
	const char *first_failed, *first_skipped;
	size_t first_failed_index, first_skipped_index;  /* their pairs, when set */
	int status;                  /* 0 pass, 1 fail */
} dv_gate;

/* The one exit-status decision of `compare` and the explorer: 1 when nothing
 * passed, anything errored (a name no rule matches included), a warning was
 * raised, a failed name does not fully match allow_failed (NULL: none is
 * allowed), or a skipped name does not fully match allow_skipped (NULL:
 * every one is); else 0. A pattern too expensive to match does not allow:
 * the gate fails closed. Meaningful once every pair has a final verdict.
 * Returns gate->status. */
int dv_comparison_gate(const dv_comparison *cmp, const pcre2_code *allow_failed, const pcre2_code *allow_skipped,
		       dv_gate *gate);
/* The same with the first reason in one line ("2 failed tensors not allowed
 * by --allow-failed-pattern, the first 'x'"; "passed" for 0) in reason
 * (optional, size bytes). */
int dv_comparison_exit_status(const dv_comparison *cmp, const pcre2_code *allow_failed,
			      const pcre2_code *allow_skipped, char *reason, size_t size);

/* ---- shards: one comparison over several machines ---- */

/* Which of n slices (1..n) the pair cmp->pairs[index] belongs to: a hash
 * of its phase's name, its tensor name and the stem of its first file (the
 * target's, else the baseline's), so the slice of a logical tensor depends
 * on nothing but the tensor and n, and a logical tensor is never split. */
unsigned dv_pair_shard(const dv_comparison *cmp, size_t index, unsigned n);
/* Keeps slice k of n (1 <= k <= n): every pair of another slice is made
 * DONE with no result (status NONE) so that no scan computes it, and the
 * gate counts the slice's pairs only. Warnings, token alignment and the
 * pairing stay those of the whole comparison. Call once, before any scan.
 * -1 with err when out of memory or k, n are out of range. */
int dv_comparison_set_shard(dv_comparison *cmp, unsigned k, unsigned n, dv_error *err);
/* Whether cmp->pairs[index] is in the slice kept (always without a shard). */
bool dv_comparison_in_shard(const dv_comparison *cmp, size_t index);
/* A 64-bit FNV-1a hash of the pairing: every pair's phase, kind, name and
 * files, in execution order. Two machines that list the same dumps with the
 * same options agree on it. */
uint64_t dv_comparison_pairing_hash(const dv_comparison *cmp);

/* The message of a pair's result as reports show it: DV_NO_RULE_MESSAGE for
 * a pair no rule matches, else the result's error, else a word for its
 * status ("shape mismatch", "cancelled", "not computed"). */
const char *dv_comparison_message(const dv_comparison *cmp, size_t pair_index);

/* ---- the diagnosis's input ---- */

/* What the diagnosis needs of one pair: built from a comparison
 * (dv_diagnose) or from the records of a saved report (`merge`), so one
 * implementation serves both. */
typedef struct dv_diag_pair {
	size_t phase;               /* index into dv_diag_input.phases */
	dv_pair_kind kind;
	const char *name;
	int layer;                  /* -1 none */
	int64_t step, rank;         /* -1 none */
	bool done;                  /* matched: its result is final */
	dv_outcome verdict;         /* dv_comparison_verdict */
	dv_outcome metrics;         /* dv_comparison_metrics_verdict */
	dv_result_status status;    /* matched and done: the result's status */
	bool integer;               /* compared, both dtypes integer */
	double rel_diff;            /* compared */
	int64_t numel, identical;   /* compared */
	const char *message;        /* dv_comparison_message */
	bool replica_mismatch;      /* dv_pair_replica_mismatch */
} dv_diag_pair;

typedef struct dv_diag_phase {
	const char *name;
	bool in_base, in_targ, folders_ignored;
	size_t first, count;        /* its pairs */
} dv_diag_phase;

typedef struct dv_diag_input {
	const dv_diag_phase *phases;
	size_t nphases;
	const dv_diag_pair *pairs;  /* execution order */
	size_t npairs;
	/* pairs NULL: pair i is read with pair_at(ctx, i, out) instead */
	void (*pair_at)(const void *ctx, size_t i, dv_diag_pair *out);
	const void *ctx;
	size_t problems;            /* folders not read, both runs */
} dv_diag_input;

/* dv_diagnose (dump.h) from its input: one paragraph, malloc'd; NULL when
 * out of memory. */
char *dv_diagnose_input(const dv_diag_input *in);
/* The input of dv_diagnose for cmp: *pairs and *phases malloc'd (the
 * strings point into cmp). -1 when out of memory. */
int dv_diag_input_build(const dv_comparison *cmp, dv_diag_input *in);
void dv_diag_input_free(dv_diag_input *in);

/* ---- the scan ---- */

/* Starts the comparison's scan (see dv_scan_start); at most one at a time.
 * NULL when it cannot start or one runs. The pointer stays the
 * comparison's: use it for dv_scan_* calls, stop it through the comparison. */
dv_scan *dv_comparison_scan_start(dv_comparison *cmp, const dv_metrics_opts *opts, int nthreads, int notify_fd);
dv_scan *dv_comparison_scan(const dv_comparison *cmp);
void dv_comparison_scan_wait(dv_comparison *cmp);
/* Stops and frees the scan (no-op without one). */
void dv_comparison_scan_stop(dv_comparison *cmp);
/* dv_scan_stop_until: false leaves the workers detached (the caller is about
 * to exit); the comparison forgets the scan either way. */
bool dv_comparison_scan_stop_until(dv_comparison *cmp, const struct timespec *deadline);
/* Tells the scan to stop (dv_scan_stop_request) and hands it over: the
 * comparison forgets it; the caller reaps it (dv_scan_reap) and frees the
 * comparison only after. NULL without a scan. */
dv_scan *dv_comparison_scan_release(dv_comparison *cmp);

#endif
