/* Merging the parts of a sharded comparison: the `compare --shard K/N
 * --format jsonl` reports of every slice back into the report one
 * `compare --format jsonl` would have written, byte for byte: the records
 * in execution order (their "index"), the summary recomputed from them, the
 * diagnosis rebuilt (dv_diagnose_input), warnings and token alignment taken
 * from the parts (which must agree). No curses, no stderr. */
#ifndef DUMPVIEW_MERGE_H
#define DUMPVIEW_MERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "dumpview/error.h"

/* The whole comparison's gate, as dv_comparison_gate says it. */
typedef struct dv_merge_gate {
	size_t passed, failed, errored, warnings;
	size_t failed_not_allowed, skipped_not_allowed;
	char *first_failed, *first_skipped;   /* malloc'd, or NULL */
	bool allow_failed_given;
	int status;                           /* 0 pass, 1 fail */
} dv_merge_gate;

/* Reads the parts (names: for messages), checks that they are the N
 * shards of one comparison, each exactly once, and writes the merged report
 * to out. 0, or -1 with err set (one line; nothing written to out). */
int dv_report_merge(FILE *const *parts, const char *const *names, size_t nparts, FILE *out, dv_merge_gate *gate,
		    dv_error *err);
void dv_merge_gate_free(dv_merge_gate *gate);

#endif
