/* Shared by the report writers (text.c, jsonl.c, csv.c) and report.c. */
#ifndef DUMPVIEW_REPORT_INTERNAL_H
#define DUMPVIEW_REPORT_INTERNAL_H

#include "dumpview/comparison.h"
#include "dumpview/report.h"

#include <string.h>

struct dv_report_writer {
	/* A phase begins (called for every phase, in order, before its pairs). */
	void (*phase)(dv_report *r, size_t phase);
	void (*pair)(dv_report *r, const dv_pair *pair, dv_verdict verdict);
	void (*finish)(dv_report *r, const char *diagnosis);
	void (*begin)(dv_report *r);   /* optional: before anything else */
};

/* Output gathered in a buffer in front of a stream: the report writers put
 * a record in hundreds of small pieces, and a stdio call costs more than
 * the copy. Flushed to out when full and by dv_jout_flush. */
typedef struct dv_jout {
	FILE *out;
	size_t n;
	char b[8192];
} dv_jout;

void dv_jout_init(dv_jout *j, FILE *out);
void dv_jout_flush(dv_jout *j);
void dv_jout_write_slow(dv_jout *j, const void *s, size_t n);
void dv_jout_putc(dv_jout *j, char c);

/* Inline: a record is a hundred small pieces, most of them constant. */
static inline void dv_jout_write(dv_jout *j, const void *s, size_t n)
{
	if (n <= sizeof(j->b) - j->n) {
		memcpy(j->b + j->n, s, n);
		j->n += n;
	} else {
		dv_jout_write_slow(j, s, n);
	}
}

/* A string literal: its length known when compiled. */
#define dv_jout_lit(j, s) dv_jout_write((j), "" s, sizeof(s) - 1)
void dv_jout_puts(dv_jout *j, const char *s);
void dv_jout_printf(dv_jout *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same as dv_json_write_string, _double, _ints, _strings and
 * an integer as "%" PRId64 prints it. */
void dv_jout_string(dv_jout *j, const char *s);
void dv_jout_double(dv_jout *j, double v);
void dv_jout_ints(dv_jout *j, const int64_t *v, size_t n);
void dv_jout_strings(dv_jout *j, const char *const *v, size_t n);
void dv_jout_int(dv_jout *j, int64_t v);

struct dv_report {
	FILE *out;
	dv_jout *jout;              /* jsonl: in front of out while a record is written */
	const dv_comparison *cmp;
	dv_report_opts opts;
	const struct dv_report_writer *writer;
	size_t next_phase;          /* phases [0, next_phase) have begun */
	size_t next_pair;
	dv_report_counts counts;
	ptrdiff_t first_divergence;
	bool phase_header_pending;  /* text --quiet: header waits for a failed pair */
	bool header_written;        /* csv */
	bool begun;                 /* the writer's begin hook has run */
	char **warnings;            /* dv_comparison_warnings, set by dv_report_finish */
	size_t nwarnings;
};

/* "p1" .. "p99", as dv_quantile_q (kept here so reports need no metrics code). */
extern const char *const dv_report_quantile_name[DV_NQUANTILES];

extern const struct dv_report_writer dv_report_text_writer;
extern const struct dv_report_writer dv_report_jsonl_writer;
extern const struct dv_report_writer dv_report_csv_writer;
extern const struct dv_report_writer dv_report_sglang_writer;

/* The folder a phase was read from on one side, or NULL (one-sided phase). */
const char *dv_report_phase_dir(const dv_comparison *cmp, size_t phase, bool baseline);
/* Whether a side's stats / metrics are meaningful for this result. */
bool dv_report_has_metrics(const dv_pair *pair);
/* The verdict of the metrics alone (a replica mismatch fails the pair, not
 * its metrics): what `passed` and the metrics line say. */
bool dv_report_metrics_pass(const dv_report *r, const dv_pair *pair, dv_verdict verdict);
bool dv_report_has_stats(const dv_pair *pair);
/* A matched pair's result status as jsonl's "status" says it ("compared",
 * "shape_mismatch", "error", ...; "pending" before it is computed). */
const char *dv_report_status_name(const dv_pair *pair);

#endif
