/* The explorer's tree model (tree.c): phase -> layer group -> tensor over a
 * dv_comparison, its visible rows, selection, sorts and aggregates. No
 * curses: tested without a terminal. */
#ifndef DUMPVIEW_TUI_TREE_H
#define DUMPVIEW_TUI_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpview/comparison.h"

typedef enum tnode_kind { TN_PHASE, TN_GROUP, TN_TENSOR } tnode_kind;

/* A layer group: a run of consecutive pairs (in execution order) of one
 * layer (or of no layer) within a phase. */
typedef struct tgroup {   /* laid out without holes: 48 B, one per few pairs */
	size_t phase;
	int64_t step;           /* for the label when a phase has several steps */
	size_t first, count;    /* pairs[first .. first+count) */
	int layer;              /* -1: no layer */
	int pass;               /* duplicate_index of its files: the micro-batch, from 0 */
	bool backward;          /* gradients (grad__*): the backward pass's run of a layer */
	bool open;
} tgroup;

typedef struct tphase {
	size_t first_group, ngroups;
	bool open;
	bool multi_step;
} tphase;

typedef struct trow {
	tnode_kind kind;
	size_t phase, group, pair;  /* group/pair valid for their kinds */
} trow;

/* Aggregates of a phase or group under the current threshold and filter. */
typedef struct tagg {
	size_t total, done, failed, shown;
	double worst;           /* NaN-aware: a NaN rel_diff is the worst */
	bool worst_nan;
	bool any_worst;
} tagg;

enum { SORT_EXEC, SORT_REL, SORT_NAME, SORT_COUNT };

/* A phase row's totals, kept between frames: at 300 k pairs a frame must
 * not judge every pair of a phase (tui_tree_agg_phase). */
typedef struct tphase_memo {
	bool valid;
	unsigned epoch, gen;    /* the rule epoch and the tree's filter generation */
	size_t pos;             /* pairs [first, pos) are final and in prefix */
	tagg prefix;
	tagg last;              /* the last whole total, its time and the phase's count then */
	int64_t last_ms;
	size_t last_key;
	bool have_last;
} tphase_memo;

/* A phase's pairs in one chunk of the comparison (DV_CHUNK_PAIRS), their
 * totals kept while the chunk's key, the pass rule and the hidden pairs
 * stay: a phase row is counted again only where pairs changed. */
typedef struct tseg {
	uint64_t key;           /* dv_comparison_chunk_key */
	unsigned epoch, hgen;   /* the rule epoch, the tree's hidden_gen */
	bool valid;
	bool carry;             /* current when tui_tree_mark_totals looked */
	tagg agg;
} tseg;

typedef struct tui_tree {
	dv_comparison *cmp;     /* not owned */
	tphase_memo *pmemo;     /* cmp->nphases: phase rows' totals (mutable cache) */
	tseg *segs;             /* the phases' chunks, phase after phase (NULL until
				   counted, or when the comparison keeps no chunk keys) */
	size_t *phase_seg;      /* cmp->nphases: each phase's first in segs */
	uint64_t *hidden_seen;  /* hidden as the last rebuild saw it, a bit a pair */
	unsigned hidden_gen;    /* bumped by a rebuild that found hidden changed */
	unsigned gen;           /* bumped by every rebuild (filters change hidden) */
	bool agg_stale;         /* a phase total drawn was up to AGG_STALE_MS old: draw again */
	bool throttle;          /* a scan is computing pairs: phase totals may be that old */
	tphase *phases;         /* cmp->nphases */
	tgroup *groups;
	size_t ngroups;
	bool *hidden;           /* npairs: filtered out */
	trow *rows;             /* the visible rows */
	size_t nrows, rows_cap;
	size_t *order;          /* scratch for sorting */
	int sort;
	bool filtering;         /* a name filter is set: phases with no shown pair are left out */
	size_t sel;             /* the selected row; kept on its node across rebuilds */
} tui_tree;

int tui_tree_init(tui_tree *t, dv_comparison *cmp, dv_error *err);
/* The group holding a pair (< cmp->npairs): found among the groups' ranges,
 * not kept a pair. */
size_t tui_tree_group_of_pair(const tui_tree *t, size_t pair);
void tui_tree_free(tui_tree *t);
/* The tree over cmp, a comparison whose first phases and pairs are those of
 * t's (the runs listed further): open flags, hidden pairs, the sort and the
 * selected node carry over; the pairs new to it are shown. */
int tui_tree_adopt(tui_tree *t, dv_comparison *cmp, dv_error *err);
/* The same with nt, a tree tui_tree_init built over the larger comparison
 * (on another thread: the swap costs the UI thread no O(pairs) build);
 * nt's pairs new to t keep their hidden and open flags. The results must
 * be moved over and the pass rule set on nt->cmp before: the phase totals
 * of the old phases carry over. nt is taken (left empty). */
void tui_tree_adopt_built(tui_tree *t, tui_tree *nt);
/* Before the results move to the larger comparison (dv_comparison_adopt):
 * marks the phase totals counted now, so tui_tree_adopt_built carries them
 * over (keep), or (keep false, some finished pair did not move) none. */
void tui_tree_mark_totals(tui_tree *t, bool keep);
/* The rows from open flags, hidden pairs and the sort; the selection stays
 * on its node, else on its nearest ancestor. */
void tui_tree_rebuild(tui_tree *t);
void tui_tree_agg_group(const tui_tree *t, size_t g, tagg *a);
/* A phase row's totals. Over a comparison keeping chunk keys, each chunk
 * of the phase is counted again only when its pairs changed (exact every
 * frame). Else the final prefix of its pairs is counted once; the rest
 * again whenever pairs finished, but while t->throttle (a scan keeps
 * finishing them) at most every TUI_AGG_STALE_MS (then agg_stale is set:
 * the caller draws again after that long). */
#define TUI_AGG_STALE_MS 200
void tui_tree_agg_phase(tui_tree *t, size_t p, tagg *a);
/* Every shown tensor pair in display order (ignoring open flags); *n gets
 * the count. malloc'd; NULL when out of memory. */
size_t *tui_tree_flat_pairs(const tui_tree *t, size_t *n);
/* Opens the path to a pair and rebuilds; its row, or -1 when it is hidden. */
ptrdiff_t tui_tree_open_pair(tui_tree *t, size_t pair);
ptrdiff_t tui_tree_row_of_pair(const tui_tree *t, size_t pair);
void tui_tree_group_label(const tui_tree *t, size_t g, char *buf, size_t size);

/* A pair's state as the explorer draws it. */
typedef enum pair_verdict {
	PV_PENDING,
	PV_PASS,
	PV_FAIL,
	PV_UNMATCHED,   /* one side missing: not a failure */
	PV_CANCELLED,   /* the user stopped its computation (Esc) */
	PV_SKIPPED,     /* non-tensor values that differ: reported, never a failure */
	PV_OTHER,       /* a result without a verdict */
} pair_verdict;
/* The comparison's verdict under its current threshold: an error is a
 * failure, equal non-tensor values pass. */
pair_verdict tui_tree_verdict(const dv_comparison *cmp, const dv_pair *p);
bool tui_tree_pair_failed(const dv_comparison *cmp, const dv_pair *p);

#endif
