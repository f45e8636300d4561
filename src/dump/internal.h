/* Shared inside src/dump only. */
#ifndef DUMPVIEW_DUMP_INTERNAL_H
#define DUMPVIEW_DUMP_INTERNAL_H

#include "dumpview/comparison.h"

/* The next key=value part of a file-name stem [*p, end): parts split on "___",
 * each on its first '='; parts without '=' are skipped. *p starts at the stem
 * and is NULL once every part is read. */
bool dv_tag_next(const char **p, const char *end, const char **key, size_t *klen, const char **value,
		 size_t *vlen);

/* Pairs cmp->base with cmp->targ over the phases cmp selects, filling
 * cmp->phases and cmp->pairs. -1 with err set (cmp left without pairs). */
int dv_comparison_pair(dv_comparison *cmp, const pcre2_code *filter, dv_error *err);
/* The phase of run named name when the comparison selected it, else NULL
 * (pairing.c; the logical contexts of a partial comparison take the same). */
dv_phase *dv_comparison_find_phase(const dv_comparison *cmp, dv_run *run, const char *name);

/* A pair's state changed (the compute path, uncancel): bumps its chunk's
 * count (dv_comparison_chunk_key), after the state is stored. */
void dv_pair_changed(const dv_pair *pair);
/* Frees the chunk counts and what the first divergence kept of them. */
void dv_comparison_free_chunks(dv_comparison *cmp);

/* Frees cmp's runs (only the views of a partial comparison). */
void dv_comparison_free_runs(dv_comparison *cmp);

#endif
