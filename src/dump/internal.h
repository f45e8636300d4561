/* Shared inside src/dump only. */
#ifndef DUMPVIEW_DUMP_INTERNAL_H
#define DUMPVIEW_DUMP_INTERNAL_H

#include "dumpview/comparison.h"

/* Pairs cmp->base with cmp->targ over the phases cmp selects, filling
 * cmp->phases and cmp->pairs. -1 with err set (cmp left without pairs). */
int dv_comparison_pair(dv_comparison *cmp, const pcre2_code *filter, dv_error *err);

#endif
