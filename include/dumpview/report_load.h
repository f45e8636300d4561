/* Reading a saved `compare --format jsonl` report back: a small strict JSON
 * parser (also what `merge` reads its parts with), and the loader that turns the report's records into a comparison
 * whose pairs are computed already (the explorer's --report). No curses. */
#ifndef DUMPVIEW_REPORT_LOAD_H
#define DUMPVIEW_REPORT_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "dumpview/comparison.h"
#include "dumpview/error.h"
#include "dumpview/report.h"

/* ---- JSON ---- */

#define DV_JSON_MAX_DEPTH 32          /* nesting of arrays and objects */
#define DV_REPORT_MAX_LINE (64u << 20) /* one record */

typedef enum dv_json_type {
	DV_JSON_NULL,
	DV_JSON_BOOL,
	DV_JSON_NUMBER,
	DV_JSON_STRING,
	DV_JSON_ARRAY,
	DV_JSON_OBJECT,
} dv_json_type;

typedef struct dv_json {
	dv_json_type type;
	bool b;
	double num;                /* finite: an overflowing number is an error */
	char *str;                 /* STRING: NUL-terminated bytes; \udc80-\udcff (a lone
				      surrogate standing for a byte that is not UTF-8, as
				      the writer escapes it) is that byte again */
	size_t len;
	struct dv_json *items;     /* ARRAY items, OBJECT values */
	char **keys;               /* OBJECT keys (as strings above) */
	size_t n;
	/* Where the value's text lies: text[off .. off + nraw) of the buffer
	 * given to dv_json_parse (its exact bytes, to write a value again as
	 * it was read, or compare two values as written). */
	size_t off, nraw;
} dv_json;

/* Parses exactly one JSON value (whitespace around it allowed) from
 * text[0..len). Strict: RFC 8259 grammar, UTF-8 checked, no NUL in strings,
 * no lone surrogate other than the byte escapes, nesting at most
 * DV_JSON_MAX_DEPTH. -1 with the reason and its byte offset in err. */
int dv_json_parse(const char *text, size_t len, dv_json *out, dv_error *err);
void dv_json_free(dv_json *v);
/* The value of key in an object (the last one of that name), or NULL. */
const dv_json *dv_json_get(const dv_json *obj, const char *key);

/* Reads f to its end into a malloc'd buffer (*text, *len; not
 * NUL-terminated). 0, or -1 with errno set (ENOMEM, or the read's). */
int dv_read_all(FILE *f, char **text, size_t *len);

/* ---- the report as a comparison ---- */

typedef struct dv_report_load_opts {
	/* The runs the report was made from, or NULL (both or neither): each
	 * file's path is the run's root joined with the report's relative
	 * path, so the explorer can still read tensors. */
	const char *baseline, *target;
	const char *layer_regex;                /* NULL: the default (layers of unmatched files) */
	const struct dv_grouping *grouping;     /* with runs: how logical tensors are read */
} dv_report_load_opts;

typedef struct dv_report_data {
	dv_comparison *cmp;        /* every pair DONE, as the report recorded it */
	char *path;                /* the report file */
	char *diagnosis;           /* the summary's, or NULL */
	bool has_runs;             /* runs given: files can be read */
	size_t missing_files;      /* files of the report not found under the runs */
	/* How verdicts are reproduced: the threshold found consistent with
	 * every recorded `passed` (set on cmp), else none (has_threshold
	 * false): the recorded decisions stand, as with rules. */
	bool threshold_found;
	double threshold;
	bool rules_used;           /* the report's pairs carry a `rule` */
	/* The rules made again from the pairs' `rule` (user rules in the order
	 * the pairs first name them, the catch-all last), set on cmp, when
	 * they judge every pair as recorded; NULL otherwise. Owned; the
	 * explorer's `t` changes its catch-all. */
	struct dv_rules *rules;
	dv_report_counts counts;   /* the summary's */
	ptrdiff_t first_divergence;/* the summary's, as a pair index, or -1 */
} dv_report_data;

/* Reads the report at path. NULL with err "PATH:LINE: reason" for input
 * that is not such a report (bad JSON, wrong types, records that disagree
 * with the summary), and for runs that are not the report's. */
dv_report_data *dv_report_load(const char *path, const dv_report_load_opts *opts, dv_error *err);
/* The same from memory (a fuzzer, tests); name stands for the path. */
dv_report_data *dv_report_load_buffer(const char *name, const char *text, size_t len, const dv_report_load_opts *opts,
				      dv_error *err);
/* Frees the data and its comparison unless taken (cmp set to NULL). */
void dv_report_data_free(dv_report_data *d);

#endif
