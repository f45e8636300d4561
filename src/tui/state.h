/* The explorer's shared state (state.c): one tui_app, read by the views and
 * commands, and the helpers every module uses on it (messages, selection,
 * details cache, first divergence, labels). Below the event loop: nothing
 * here calls up into app.c. */
#ifndef DUMPVIEW_TUI_STATE_H
#define DUMPVIEW_TUI_STATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dumpview/comparison.h"
#include "dumpview/metrics.h"
#include "dumpview/report_load.h"
#include "dumpview/tui.h"
#include "draw.h"
#include "jobs.h"
#include "tree.h"
#include "views.h"

/* The event loop's services for modal code (a prompt reading keys, a
 * script's :save-display, a long match loop taking Esc), set by app.c:
 * called through here, the modules below the loop never call up into it. */
typedef struct tui_loop {
	void (*render)(struct tui_app *app);
	/* The next key (terminal or script), servicing background events
	 * meanwhile, canonical (tui_key_canonical); -1 when the app must quit. */
	int (*next_key)(struct tui_app *app);
	/* Services background events for up to timeout_ms (scan and job pipes, signals). */
	void (*poll)(struct tui_app *app, int timeout_ms);
	/* Lets a held listing go on (tests) and waits until the whole
	 * comparison is in (a script's :release-listing). */
	void (*finish_listing)(struct tui_app *app);
} tui_loop;

struct tui_listing;

typedef struct tui_app {
	dv_tui_opts opts;
	dv_comparison *cmp;
	/* the runs still being listed (listing.c): cmp holds the phases listed
	 * so far and is swapped for a larger one as more are; NULL once done */
	struct tui_listing *listing;
	bool listing_failed;     /* the listing failed after its first phases */
	char listing_err[DV_ERROR_MAX];
	dv_metrics_opts mopts;
	tui_tree tree;
	/* terminal */
	SCREEN *screen;
	FILE *script_out, *script_in;
	bool script_mode;
	FILE *script;
	int script_line;
	char script_buf[4096];   /* the script's current line (script.c) */
	size_t script_pos;
	bool script_have;
	/* :hold-computes: computes of more than one chunk pause after their
	 * first, so a script can cancel one deterministically. */
	atomic_int script_hold, script_held;
	/* DUMPVIEW_TEST_STUCK (tests only): every compute blocks for good at its
	 * first progress report, as a read from a hung file system would. */
	bool test_stuck;
	bool ascii, color;
	tui_glyphs g;
	int rows, cols;
	bool multi_rank;         /* some pair has a rank > 0: labels show it */
	const struct tui_loop *loop;
	tui_layout layout;       /* computed once a frame, by the render */
	/* views' own state (the selection is the tree's) */
	tui_tree_view tree_view;
	tui_detail_view detail_view;
	tui_help_view help_view;
	tui_rules_view rules_view;
	unsigned sel_gen;        /* bumped when the selected row changes */
	bool user_moved;         /* the user moved before the first divergence was found */
	bool div_opened;         /* the tree has opened at the first divergence */
	ptrdiff_t first_div;     /* cached each frame */
	bool first_div_known;
	/* the title's gate text, kept while the verdicts it came from stand:
	 * judging every pair (and matching allow patterns) each frame would
	 * make keys cost O(pairs) once the scan is complete */
	char gate_text[64];
	/* the first divergence as last looked for: its rule epoch, the count of
	 * finished pairs then, and when (a scan does not make every frame
	 * search the pairs not yet computed) */
	bool fd_valid;
	unsigned fd_epoch;
	size_t fd_key;
	int64_t fd_ms;
	/* the comparison's warnings are final once it is built: counted once */
	bool warn_cached;
	size_t warn_count, warn_token;          /* all of them; the token alignment's */
	char warn_first[256];
	bool gate_valid;
	unsigned gate_epoch;     /* cmp->rule_epoch it was made under */
	size_t gate_done;        /* the done count it was made at */
	/* panes */
	bool detail_open;
	ptrdiff_t detail_cancelled; /* pair whose detail job the user cancelled, or -1 */
	pane focus;
	bool help_open;
	bool rules_open;          /* the `R` screen, modal as help */
	/* search and filter */
	char *search;
	pcre2_code *search_re;
	char *filter;
	pcre2_code *filter_re;
	bool regex_failed;       /* the last match loop hit the regex limits */
	bool match_stopped;      /* the last match loop was stopped by Esc */
	/* scan */
	dv_scan *scan;
	bool scan_paused;
	/* comparisons swapped out whose scans are still stopping: each freed
	 * once its workers have ended (tui_listing_reap), not waited for */
	struct tui_reaping {
		dv_scan *scan;
		dv_comparison *cmp;
	} *reaping;
	size_t nreaping;
	int64_t reaping_since_ms;  /* when the oldest of them was swapped out */
	int scan_pipe[2];
	int job_pipe[2];
	int sig_pipe[2];
	size_t nthreads;
	/* jobs and details */
	tui_jobs jobs;
	tui_detail details[DETAIL_CACHE];
	unsigned detail_clock[DETAIL_CACHE];
	unsigned clock;
	size_t last_prio_hash;
	size_t last_done;        /* computed pairs at the last frame */
	/* status line */
	char message[1024];
	bool message_error;
	/* prompt being edited (drawn on the status row) */
	bool prompting;
	const char *prompt_label;
	char prompt_buf[1024];
	size_t prompt_len;
	bool prompt_overflow;    /* more was typed than prompt_buf holds: refused at Enter */
	/* lifecycle */
	bool quit;
	int exit_signal;
	bool dirty;
	bool scan_dirty;         /* scan progress waiting for the next throttled redraw */
	int64_t last_render_ms;
	bool pending_clear;
} tui_app;

void tui_state_message(tui_app *app, bool error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const trow *tui_state_selected_row(tui_app *app);
void tui_state_select_row(tui_app *app, size_t row);
/* Opens the path to a pair and selects it; false when it is hidden. */
bool tui_state_select_pair(tui_app *app, size_t pair);
/* The tree's rows again (open flags, filter, sort); a redraw follows. */
void tui_state_rebuild(tui_app *app);
/* The cached detail of pair, or NULL. */
const tui_detail *tui_state_detail_for(tui_app *app, size_t pair);
/* Whether tensors can be read: not on a report opened without its runs. */
bool tui_state_can_read(const tui_app *app);
/* Why not, in one line for the detail pane and the messages. */
#define TUI_NO_RUNS "not available: the report was opened without its runs (dumpview --report FILE BASELINE TARGET reads them)"
void tui_state_clear_details(tui_app *app);
/* Collects a finished heavy job (the details cache, the status message). */
void tui_state_collect_jobs(tui_app *app);
/* The first failing matched pair under the comparison's threshold, known
 * once every matched pair before it is computed; opens the tree there the
 * first time it is known. */
void tui_state_update_first_div(tui_app *app);
void tui_state_open_first_div(tui_app *app, bool select);
/* Progress of a pair being computed (on demand or by the scan), in elements. */
bool tui_state_pair_progress(tui_app *app, size_t pair, int64_t *done, int64_t *total);
/* Matched pairs computed; *total gets the matched pairs, *cancelled (may be
 * NULL) those the user cancelled. */
size_t tui_state_matched_done(tui_app *app, size_t *total, size_t *cancelled);
/* Asks for the metrics of the rows on screen: the scan takes them first, or
 * (without a running scan) the job thread computes them. */
void tui_state_request_visible(tui_app *app, int tree_rows);
void tui_state_tensor_label(tui_app *app, const dv_pair *p, char *buf, size_t size);
/* The same with multi_rank given (no app: the listing thread labels too). */
void tui_state_label(bool multi_rank, const dv_pair *p, char *buf, size_t size);
void tui_state_pair_path(tui_app *app, size_t pair, char *buf, size_t size);
const char *tui_state_pair_name(const dv_pair *p);
/* The pair's label or either file name matches re (search and filter). */
dv_regex_result tui_state_pair_matches(tui_app *app, const pcre2_code *re, size_t pair);
dv_regex_result tui_state_label_matches(const pcre2_code *re, bool multi_rank, const dv_pair *p);
/* Reads a non-blocking pipe empty. */
void tui_state_drain(int fd);

#endif
