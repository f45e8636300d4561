/* What `info` says of a phase: computed here in the core (src/dump/summary.c,
 * which opens every file of the phase), written by the report layer's info
 * writers (text and jsonl, report.h). */
#ifndef DUMPVIEW_SUMMARY_H
#define DUMPVIEW_SUMMARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpview/dump.h"

/* What opening one file told us. */
typedef struct dv_file_summary {
	bool readable;
	bool tensor;
	dv_dtype dtype;
	int ndim;
	int64_t shape[PT_MAX_DIMS];
	const char *kind;            /* non-tensor: pt_kind_name, or "nothing" */
	char error[DV_ERROR_MAX];    /* unreadable: why */
} dv_file_summary;

/* A label and how many files have it. */
typedef struct dv_label_count {
	const char *name;
	size_t n;
} dv_label_count;

/* Sorted distinct values (>= 0) of a file field. */
typedef struct dv_int_set {
	int64_t *v;
	size_t n;
} dv_int_set;

#define DV_SUMMARY_MAX_DTYPES 64

typedef struct dv_phase_summary {
	const dv_phase *phase;
	dv_file_summary *files;      /* one per phase->files[i] */
	size_t unreadable;
	dv_int_set steps, ranks, layers;
	const char **tag_keys;       /* first-seen order (pointing into the phase) */
	size_t ntag_keys;
	/* Files grouped by folder: each distinct set of folder tags
	 * ("sglang_dump=1", "folder=." for files beside subfolders), sorted by
	 * label (malloc'd). */
	dv_label_count *folders;
	size_t nfolders;
	/* Files per dtype name, "non_tensor" for the rest; most files first,
	 * then by name. Unreadable files are not counted. */
	dv_label_count dtypes[DV_SUMMARY_MAX_DTYPES];
	size_t ndtypes;
} dv_phase_summary;

/* Opens every file of ph and fills s. -1 when out of memory (s is then
 * freed and empty). Parts that could not be allocated are left empty. */
int dv_phase_summarize(const dv_phase *ph, dv_phase_summary *s);
void dv_phase_summary_free(dv_phase_summary *s);

#endif
