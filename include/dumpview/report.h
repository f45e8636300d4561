/* Reports of a comparison: the text, JSON-lines and CSV forms that
 * `dumpview compare` prints, plus the number/JSON/CSV formatting they share.
 * Pairs are handed to the report one by one in execution order, as the scan
 * finishes them, so big runs print progressively. The CSV row writer is also
 * what the TUI's "export visible table" uses. No curses here. */
#ifndef DUMPVIEW_REPORT_H
#define DUMPVIEW_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dumpview/dump.h"
#include "dumpview/numfmt.h"
#include "dumpview/summary.h"

typedef enum dv_report_format {
	DV_REPORT_TEXT,
	DV_REPORT_JSONL,
	DV_REPORT_CSV,
	DV_REPORT_SGLANG_JSONL,  /* the records of SGLang's comparator report */
} dv_report_format;

/* "text" / "jsonl" / "csv" / "sglang-jsonl"; -1 for anything else. */
int dv_report_format_parse(const char *s, dv_report_format *format);

/* The command's arguments, as the sglang-jsonl `config` record lists them. */
typedef struct dv_report_config {
	const char *baseline, *target;
	const char *const *phases;
	size_t nphases;
	const char *filter, *layer_regex;
	double diff_threshold;         /* NaN: not given */
	const struct dv_rules *rules;  /* every rule in effect, the catch-all included */
	const char *allow_failed_pattern, *allow_skipped_pattern;  /* NULL: not given */
	const char *output;
	bool follow_symlinks;
} dv_report_config;

/* A shard's part of a comparison (compare --shard K/N): what its jsonl
 * summary carries for `merge` beside the slice's counts. */
typedef struct dv_report_shard {
	unsigned k, n;                 /* slice k of n, 1-based */
	uint64_t fingerprint;          /* options and pairing: parts of one comparison agree */
	/* the gate over the slice (dv_comparison_gate), for merge's exit status */
	const char *allow_failed_pattern, *allow_skipped_pattern;  /* NULL: not given */
	size_t failed_not_allowed, skipped_not_allowed;
	ptrdiff_t first_failed, first_skipped;  /* pair indices, -1 none */
} dv_report_shard;

typedef struct dv_report_opts {
	dv_report_format format;
	bool quiet;          /* text: failed and errored pairs only */
	bool utf8;           /* text: ✅/❌ marks; false: ok/FAIL (non-UTF-8 locale) */
	double threshold;    /* the bf16 line's verdict and the CSV `passed` column */
	const dv_report_config *config;  /* sglang-jsonl's config record; may be NULL */
	const dv_report_shard *shard;    /* jsonl: the summary's "shard" object; NULL: none.
					    Read when the summary is written. */
} dv_report_opts;

/* How a pair counts in the summary: the comparison's verdict
 * (dv_comparison_verdict) in four kinds. Non-tensor values are skipped (as
 * the comparator does: they do not pass or fail), so are unmatched files. */
typedef enum dv_verdict {
	DV_VERDICT_PASSED,
	DV_VERDICT_FAILED,   /* compared and not passed, or shape mismatch */
	DV_VERDICT_SKIPPED,  /* unmatched, non-tensor, cancelled, not computed */
	DV_VERDICT_ERRORED,  /* a file could not be read / compared */
} dv_verdict;

typedef struct dv_report_counts {
	size_t passed, failed, skipped, errored;
} dv_report_counts;

typedef struct dv_report dv_report;

/* The report writes to out (not closed by the report). cmp must outlive it. */
dv_report *dv_report_new(FILE *out, const dv_comparison *cmp, const dv_report_opts *opts);
/* Reports cmp->pairs[index]; call for every pair, in increasing index order.
 * A matched pair must be DONE. Phase headers are written as phases begin. */
void dv_report_pair(dv_report *r, size_t index);
/* Writes the remaining phase headers, the summary, the warnings
 * (dv_comparison_warnings; text: a "Warning: ..." line each after the summary
 * line; jsonl: the summary's "warnings" array, always present; csv: none, the
 * caller says them), the first divergence (dv_first_divergence: every pair
 * is reported by then) and diagnosis (may be NULL). The runs'
 * problems (folders not read) count as errored. */
void dv_report_finish(dv_report *r, const char *diagnosis);
const dv_report_counts *dv_report_get_counts(const dv_report *r);
/* The warnings dv_report_finish found (a comparison with any must not pass). */
size_t dv_report_warnings(const dv_report *r, char *const **warnings);
/* The first divergence (dv_first_divergence) found by dv_report_finish
 * (index into cmp->pairs), or -1; -1 before it. */
ptrdiff_t dv_report_first_divergence(const dv_report *r);
void dv_report_free(dv_report *r);

/* CSV (RFC 4180): the header row, and one row for a pair of cmp (any kind;
 * the missing side's columns and metrics not computed are empty). */
void dv_csv_write_header(FILE *out);
/* `passed` is judged under threshold (dv_comparison_verdict_at), so a caller whose
 * threshold changed after the pairs were computed (the TUI's `t`) writes
 * what it shows. */
void dv_csv_write_pair(FILE *out, const dv_comparison *cmp, const dv_pair *pair, double threshold);

/* Formatting shared by the writers. */
/* Numbers and shapes (dv_fmt_double, dv_fmt_fixed, dv_fmt_shape): numfmt.h. */
/* A JSON string literal (quotes included): control characters as \u00XX
 * (or \n, \r, \t), each byte that is not valid UTF-8 as \udcXX (Python's
 * surrogateescape), so the exact bytes of a file name can be recovered. */
void dv_json_write_string(FILE *out, const char *s);
/* A JSON array of strings, each as dv_json_write_string: "[\"a\",\"b\"]", "[]". */
void dv_json_write_strings(FILE *out, const char *const *v, size_t n);
/* A JSON array of integers: "[48,128]", "[]". */
void dv_json_write_ints(FILE *out, const int64_t *v, size_t n);
/* A JSON number in round-trip form; non-finite as the strings "nan", "inf", "-inf". */
void dv_json_write_double(FILE *out, double v);
/* A CSV text field, quoted when it holds a comma, quote, CR or LF (RFC 4180).
 * Text that starts with = + - @ TAB or CR gets a leading ' so that a
 * spreadsheet shows it instead of evaluating it as a formula. Numbers are
 * not written through this (-0.5 stays a number). */
void dv_csv_write_field(FILE *out, const char *s);
/* Whether a text cell would start a spreadsheet formula (see above). */
bool dv_csv_formula_start(const char *s);

/* `info`: a run's header (separate: a blank line before it, between runs)
 * and one phase's summary, as text or as JSON lines. */
void dv_info_text_run(FILE *out, const dv_run *run, bool separate);
void dv_info_jsonl_run(FILE *out, const dv_run *run);
void dv_info_text_phase(FILE *out, const dv_run *run, const dv_phase_summary *s);
void dv_info_jsonl_phase(FILE *out, const dv_run *run, const dv_phase_summary *s);

/* `info --name-map BASELINE TARGET`: the rules (text: one header), then per
 * phase the target names with what they map to and whether they pair, and
 * the baseline names left without a target (name_map.h). */
struct dv_name_map;
struct dv_name_pairing;
void dv_info_text_name_map(FILE *out, const dv_comparison *cmp, const struct dv_name_map *m);
void dv_info_jsonl_name_map(FILE *out, const dv_comparison *cmp, const struct dv_name_map *m);
void dv_info_text_name_pairing(FILE *out, const struct dv_name_pairing *np);
void dv_info_jsonl_name_pairing(FILE *out, const struct dv_name_pairing *np);

#endif
