/* Listing the runs (listing.c). */
#ifndef DUMPVIEW_TUI_LISTING_H
#define DUMPVIEW_TUI_LISTING_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "dumpview/comparison.h"

struct tui_app;

/* The listing thread's work: both runs and their pairing. */
typedef struct tui_listing {
	struct tui_app *app;
	const pcre2_code *filter;
	_Atomic size_t listed;
	atomic_bool done;
	bool joined;
	int done_pipe[2];
	dv_comparison *cmp;
	dv_error err;
	pthread_t thread;
} tui_listing;

/* Opens the comparison on a thread. Waits quietly for a moment; a longer
 * listing starts the terminal and shows its progress while q and signals
 * work. On quit with the listing still running, exits at once (the thread
 * may be stuck in the file system). Returns 0 with app->cmp set. */
int tui_listing_run(struct tui_app *app, tui_listing *ls, const pcre2_code *filter, char *err, size_t errsize);

#endif
