/* Listing the runs (listing.c). */
#ifndef DUMPVIEW_TUI_LISTING_H
#define DUMPVIEW_TUI_LISTING_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "dumpview/comparison.h"
#include "tree.h"

struct tui_app;

/* A comparison from the listing, with what the swap needs of it built on
 * the listing thread (O(pairs)): its tree (tree.cmp NULL: not built, out
 * of memory) and whether a pair has a rank above 0. */
typedef struct tui_listed {
	dv_comparison *cmp;
	tui_tree tree;
	bool multi_rank;
	/* the explorer's filter of filter_gen matched over pairs [filter_from,
	 * cmp->npairs) (labels under multi_rank): whether each is hidden,
	 * from filter_from on; NULL: not matched (no filter, out of memory) */
	bool *filter_hidden;
	size_t filter_from;
	unsigned filter_gen;
} tui_listed;

/* The listing thread's work: both runs and their pairing. Phase by phase:
 * each time both runs have listed more phases, a comparison of those
 * (partial) waits in `partial` for the event loop, which swaps it in. */
typedef struct tui_listing {
	struct tui_app *app;
	const pcre2_code *filter;
	_Atomic size_t listed;
	atomic_bool done;
	bool joined;
	int done_pipe[2];          /* a byte per partial comparison and at the end */
	tui_listed whole;          /* the whole comparison, once done (cmp NULL: failed) */
	dv_error err;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	tui_listed partial;        /* the newest partial comparison not taken yet */
	bool hold;                 /* tests: each run's listing waits after its first phase */
	bool final_taken;
	tui_listed next;           /* taken, waiting for the job thread to be idle */
	bool next_final;
	bool failing;              /* the open failed after a partial comparison: the
				      runs are freed once the loop stops using it */
	bool released;             /* the loop stopped using it */
	dv_comparison **stale;     /* swapped out, freed on the listing thread (a swap */
	size_t nstale;             /* frees 300 k pairs' arrays: not between two frames) */
	/* under mu, set by the event loop: the explorer's filter (NULL: none),
	 * bumped filter_gen at each change, and the pairs it shows; the
	 * listing thread matches the filter over the pairs a comparison adds
	 * (a swap then does not match 100 k names between two frames) */
	char *filter_pattern;
	unsigned filter_gen;
	size_t shown_npairs;
} tui_listing;

/* Opens the comparison on a thread. Waits quietly for a moment; a longer
 * listing starts the terminal and shows its progress while q and signals
 * work, until the first phase of both runs is listed. On quit with the
 * listing still running, exits at once (the thread may be stuck in the file
 * system). Returns 0 with app->cmp set: the whole comparison, or a partial
 * one with app->listing set (the listing goes on: tui_listing_service). */
int tui_listing_run(struct tui_app *app, tui_listing *ls, const pcre2_code *filter, char *err, size_t errsize);

/* The event loop, when the listing's pipe is readable (or a comparison
 * waits): swaps the newest comparison in, between frames (the scan stopped
 * and started again on it, the results so far moved over, the tree keeping
 * its open nodes and selection). At the end of the listing, frees it and
 * clears app->listing; a failed listing sets app->quit and the error. */
void tui_listing_service(struct tui_app *app);

/* Frees the swapped-out comparisons whose scans have stopped since (the
 * event loop calls it while app->nreaping). */
void tui_listing_reap(struct tui_app *app);
/* The same, waiting for the workers until deadline (CLOCK_REALTIME): false
 * when one is still busy (stuck in a read: the caller exits without
 * freeing what it uses). */
struct timespec;
bool tui_listing_reap_until(struct tui_app *app, const struct timespec *deadline);

/* Workers for the scan: while the runs are listed, two cores fewer (at
 * least one), so the listing is not slowed down by the scan of its first
 * phases; all of them once it is done. */
int tui_listing_scan_threads(const struct tui_app *app);

/* Hands the explorer's filter, when it changed, to the listing thread,
 * which matches it over the pairs of its next comparisons (the event loop
 * calls it before waiting; the service and the release too). */
void tui_listing_sync_filter(struct tui_app *app);

/* Releases a held listing (tests: DUMPVIEW_TEST_HOLD_LISTING). */
void tui_listing_release(tui_listing *ls);


#endif
