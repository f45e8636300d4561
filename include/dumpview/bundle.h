/* Bundling (cross-topology comparison): one phase's files grouped into
 * logical tensors, by every tag except a preset's skip keys. Reads no file:
 * only the tags of dv_dumpfile rows. No curses here.
 *
 * Columns of a side's table: every file-name and folder tag any of its files
 * has (so rank, step, dump_index are columns when files carry them) plus
 * duplicate_index. duplicate_index is computed here, not taken from the
 * file: the position, by dump_index, of a row among the rows equal on every
 * other column (rank and step included), so one name dumped twice in one
 * step on one rank gets 0 and 1, and the same name on different ranks all
 * get 0. A tag a file lacks is null in its row.
 *
 * Key columns = the TARGET table's columns minus the skip keys ({dump_index}
 * plus the preset's plus the extra ones; the file name is never a column).
 * Target rows are ordered by (rank, dump_index); each distinct key tuple, in
 * order of first appearance, is one bundle. Its baseline rows are the
 * baseline rows equal on the key columns the baseline table has (a key
 * column the baseline lacks is not used; null matches only null; rank, step,
 * dump_index and duplicate_index compare as integers, other tags as
 * strings). Baseline rows that fall in no bundle are not reported.
 *
 * The reference applies sglang_dev only when neither a preset nor
 * --grouping-skip-keys is given: with skip keys alone, pass DV_PRESET_RAW
 * and the keys. Steps are the file-name tag (the reference reads the
 * embedded meta's step, which the dumper writes equal to it). */
#ifndef DUMPVIEW_BUNDLE_H
#define DUMPVIEW_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpview/dump.h"
#include "dumpview/error.h"

typedef enum dv_preset {
	DV_PRESET_SGLANG_DEV,      /* skips rank; the default */
	DV_PRESET_SGLANG_MEGATRON, /* skips rank and step; token aligner concat_steps */
	DV_PRESET_RAW,             /* skips nothing more */
} dv_preset;

/* "sglang_dev", "sglang_megatron", "raw"; NULL outside the enum. */
const char *dv_preset_name(dv_preset p);
/* The preset named s, or -1. */
int dv_preset_from_name(const char *s);
/* True when the preset selects a token aligner (so THD sequence lengths are
 * loaded and cp_thd_concat / zigzag_to_natural_thd can be planned). */
bool dv_preset_has_token_aligner(dv_preset p);

/* Whether one target file's meta carries megatron_parallel_info. This layer
 * opens no file: the caller answers from meta it has read (or from a flag
 * it keeps per file). */
typedef bool (*dv_file_is_megatron_fn)(const dv_dumpfile *f, void *ctx);
/* The default preset of a comparison: sglang_megatron when some target file
 * carries megatron_parallel_info, else sglang_dev. targ may be NULL (then
 * sglang_dev); is_megatron NULL counts as "no". */
dv_preset dv_preset_for_phase(const dv_phase *targ, dv_file_is_megatron_fn is_megatron, void *ctx);

/* The rows of one step of one side: indices into the phase's files,
 * ordered by (rank, dump_index). */
typedef struct dv_bundle_step {
	int64_t step;          /* the file tag step (or forward_pass_id); -1 when absent */
	size_t *rows;
	size_t nrows;
} dv_bundle_step;

typedef struct dv_bundle_side {
	size_t *rows;          /* every row of the side, ordered by (rank, dump_index) */
	size_t nrows;
	dv_bundle_step *steps; /* the same rows split by step, steps ascending */
	size_t nsteps;
} dv_bundle_side;

typedef struct dv_bundle {
	char *name;            /* tag "name" of the first target row (its stem when absent) */
	int layer;             /* its layer, -1 none */
	dv_tag *keys;          /* the key columns and the bundle's values, in column order;
				  value NULL = null (the tag is absent) */
	size_t nkeys;
	dv_bundle_side base, targ; /* base may be empty: no baseline row matches */
} dv_bundle;

/* Builds the bundles of one target phase and the matching baseline rows.
 * base may be NULL (no baseline phase: every bundle's base is empty).
 * extra_skip_keys (nextra of them, may be NULL) are added to the preset's
 * skip keys, as --grouping-skip-keys. 0 with *out (malloc'd, free with
 * dv_bundles_free) and *n; -1 with err when out of memory. */
int dv_bundles_build(const dv_phase *base, const dv_phase *targ, dv_preset preset,
		     const char *const *extra_skip_keys, size_t nextra, dv_bundle **out, size_t *n,
		     dv_error *err);
void dv_bundles_free(dv_bundle *b, size_t n);

#endif
