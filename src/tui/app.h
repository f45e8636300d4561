/* The TUI's private face: the application state shared by the event loop,
 * the views, the tree model, prompts and background jobs. */
#ifndef DUMPVIEW_TUI_APP_H
#define DUMPVIEW_TUI_APP_H

#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#include <curses.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dumpview/comparison.h"
#include "dumpview/metrics.h"
#include "dumpview/tui.h"
#include "tree.h"

/* ---- actions and keys (actions.def, actions.c, keys.c) ---- */
typedef enum tui_group {
#define GROUP(id, title) TG_##id,
#include "actions.def"
	TG_COUNT
} tui_group;

typedef enum tui_action {
	ACT_NONE = 0,
#define ACTION(id, group, keys, flags, handler, help, man) ACT_##id,
#include "actions.def"
	ACT_COUNT
} tui_action;

/* What a handler (and a view's handle) returns, or-ed; 0: the key did nothing. */
enum {
	TF_HANDLED = 1,
	TF_REDRAW = 2,
	TF_RESIZE = 4,
	TF_QUIT = 8,
};

/* An action's flags (actions.def). */
enum {
	AF_ALWAYS = 1, /* acts on the too-small screen and before the help screen */
};

struct tui_app;
typedef int (*tui_handler)(struct tui_app *app, tui_action act, int key);

/* One entry of actions.def. man is NULL for an action described with the
 * previous one in the man page. */
typedef struct tui_action_info {
	const char *name, *keys, *help, *man;
	tui_group group;
	int flags;
	tui_handler handler;
} tui_action_info;
extern const tui_action_info tui_actions[ACT_COUNT];
extern const char *const tui_group_titles[TG_COUNT];

/* Looks the key's action up and calls its handler; the TF_* flags. */
int tui_dispatch(struct tui_app *app, int key);

/* Keys: characters are their code point; curses function keys are offset
 * past Unicode so the two never collide. */
#define TK_FN(k) (0x110000 + (k))
#define TK_ESC 27
#define TK_ENTER '\n'
#define TK_TAB '\t'
#define TK_CTRL(c) ((c) & 0x1f)

int tui_key_from_name(const char *name);           /* -1 if unknown */
/* The one code of a key a terminal may send in several ways (Enter as \r,
 * \n or KEY_ENTER; BS as KEY_BACKSPACE, DEL or Ctrl-H): the key reader
 * passes every key through it. */
int tui_key_canonical(int key);
void tui_key_display(const char *name, bool ascii, char *buf, size_t size);
/* Builds the key map from the action table (once; later calls return at
 * once). NULL, or what is wrong with the table (an unknown key name, a key
 * bound twice, a shared man entry with unequal keys). */
const char *tui_keymap_init(void);
tui_action tui_action_for_key(int key);
void tui_keys_display(const char *keys, bool ascii, char *buf, size_t size);

/* ---- background jobs (jobs.c): on-demand pair computes, detail, exports ---- */
typedef enum job_kind { JOB_NONE, JOB_DETAIL, JOB_EXPORT, JOB_TABLE } job_kind;

typedef struct tui_detail {
	size_t pair;
	bool valid;
	int rc;
	char error[DV_ERROR_MAX];
	dv_pair_detail d;
} tui_detail;

#define DETAIL_CACHE 8
#define DETAIL_HEAT_ROWS 64
#define DETAIL_HEAT_COLS 256

typedef struct tui_jobs {
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int notify_w;            /* write end of the app's job pipe */
	bool quit;
	/* on-demand pair computes, most recent request last */
	size_t *want;
	size_t nwant, want_cap;
	bool computing_pair;
	atomic_llong want_pair, want_done, want_total; /* the on-demand compute running, -1 none */
	atomic_llong heavy_pair; /* the pair whose metrics the heavy job computes now, -1 none */
	/* the one heavy job */
	job_kind kind;           /* requested or running */
	bool running;
	size_t pair;
	char *path;              /* export target */
	double min_abs;          /* JOB_EXPORT: row filter; JOB_TABLE: the threshold for `passed` */
	int64_t top_k;
	double max_bytes;        /* JOB_EXPORT: > 0, refuse a larger projected size */
	size_t *table;           /* JOB_TABLE: pairs to write */
	size_t ntable;
	atomic_int cancel;
	atomic_int user_cancel;  /* the cancel was Esc: a pair it stops ends CANCELLED */
	atomic_int stop;         /* exit */
	atomic_int want_cancel, want_user_cancel; /* the same for the on-demand compute */
	atomic_llong done, total;
	/* finished heavy job, collected by the main thread */
	bool finished;
	job_kind fin_kind;
	int fin_rc;
	int64_t fin_rows;
	char fin_msg[DV_ERROR_MAX + 64];
	tui_detail fin_detail;
	dv_metrics_opts mopts;
} tui_jobs;

int tui_jobs_start(struct tui_app *app);
void tui_jobs_stop(struct tui_app *app);
/* The same, waiting only until deadline (CLOCK_REALTIME): false when the job
 * thread is still busy (it is then detached and its state left allocated). */
bool tui_jobs_stop_until(struct tui_app *app, const struct timespec *deadline);
void tui_jobs_want_pair(struct tui_app *app, size_t pair);
void tui_jobs_clear_wants(struct tui_app *app);
/* Replaces the wanted pairs at once; the last of pairs is computed first. */
void tui_jobs_set_wants(struct tui_app *app, const size_t *pairs, size_t n);
void tui_jobs_submit_detail(struct tui_app *app, size_t pair);
/* max_bytes > 0: refuse (with a message) an export projected to write more. */
void tui_jobs_submit_export(struct tui_app *app, size_t pair, const char *path, double min_abs, int64_t top_k,
			double max_bytes);
/* What `e` would write: -1 until the pair's metrics are computed; *rows gets the rows. */
double tui_jobs_export_bytes(const dv_pair *p, int64_t top_k, int64_t *rows);
/* The element-wise export asks before writing more than this. */
#define EXPORT_CONFIRM_BYTES 1e9
void tui_jobs_fmt_bytes(char *buf, size_t size, double bytes);
void tui_jobs_submit_table(struct tui_app *app, const char *path, size_t *pairs, size_t n);
/* Esc: cancels the heavy job (the pair it computes, if any, ends CANCELLED). */
void tui_jobs_cancel(struct tui_app *app);
/* Esc on a row: stops the on-demand compute of pair; false if not running. */
bool tui_jobs_cancel_pair(struct tui_app *app, size_t pair);
/* Progress of the on-demand compute of pair, if it is the one running. */
bool tui_jobs_pair_progress(struct tui_app *app, size_t pair, int64_t *done, int64_t *total);
bool tui_jobs_idle(struct tui_app *app);
bool tui_jobs_heavy_busy(struct tui_app *app, job_kind *kind, int64_t *done, int64_t *total);
/* Collects a finished heavy job into the app (details cache, messages). */
void tui_jobs_collect(struct tui_app *app);

/* ---- views ---- */
typedef struct tui_rect {
	int y, x, h, w;
} tui_rect;

typedef struct view_ops {
	const char *name;
	void (*draw)(struct tui_app *app, tui_rect r, bool focused);
	int (*handle)(struct tui_app *app, tui_action act, int key);
} view_ops;

extern const view_ops tui_view_tree, tui_view_detail, tui_view_help;

/* ---- drawing (draw.c) ---- */
enum {
	CP_TITLE = 1,
	CP_STATUS,
	CP_PASS,
	CP_FAIL,
	CP_DIVERGE,
	CP_SELECT,
	CP_DIM,
	CP_HEAD,
	CP_MATCH,       /* search matches */
	CP_HEAT0,       /* CP_HEAT0 .. CP_HEAT0+HEAT_LEVELS-1 */
};
#define HEAT_LEVELS 5

typedef struct tui_glyphs {
	const char *pass, *fail, *pending, *running, *unmatched, *skipped;
	const char *open, *closed, *diverge, *ellipsis, *vbar, *hline;
	const char *spark[9];    /* 0..8 eighths */
	const char *heat[HEAT_LEVELS];
} tui_glyphs;

void tui_draw_init_colors(struct tui_app *app);
attr_t tui_draw_attr(struct tui_app *app, int pair_id, attr_t mono);
/* Writes s at (y,x) clipped to w display columns; returns the columns used. */
int tui_draw_str(WINDOW *w, int y, int x, int maxw, const char *s, attr_t attr);
/* Writes s padded with spaces (or clipped with an ellipsis) to exactly width columns. */
void tui_draw_field(struct tui_app *app, int y, int x, int width, const char *s, attr_t attr, bool right);
/* The same, clipped in the middle: for errors, whose reason is at the end. */
void tui_draw_field_mid(struct tui_app *app, int y, int x, int width, const char *s, attr_t attr);
void tui_draw_fill(WINDOW *w, int y, int x, int width, attr_t attr);
int tui_draw_width(const char *s);
/* The longest suffix of s at most maxw columns wide (in one pass); *width gets its width. */
const char *tui_draw_tail(const char *s, int maxw, int *width);
void tui_draw_fmt_num(char *buf, size_t size, double v);    /* %.3e, "nan", "inf" */
void tui_draw_fmt_stat(char *buf, size_t size, double v);   /* %.4g */

/* ---- prompt (prompt.c) ---- */
/* Reads a line on the status row; returns a malloc'd string, or NULL when
 * cancelled (Esc) or the app is quitting. */
char *tui_prompt_read(struct tui_app *app, const char *label, const char *initial);
bool tui_prompt_yes_no(struct tui_app *app, const char *question);

/* ---- the app ---- */
typedef enum pane { PANE_TREE, PANE_DETAIL } pane;

typedef struct tui_app {
	dv_tui_opts opts;
	dv_comparison *cmp;
	dv_metrics_opts mopts;
	tui_tree tree;
	/* terminal */
	SCREEN *screen;
	FILE *script_out, *script_in;
	bool script_mode;
	FILE *script;
	int script_line;
	/* :hold-computes: computes of more than one chunk pause after their
	 * first, so a script can cancel one deterministically. */
	atomic_int script_hold, script_held;
	/* DUMPVIEW_TEST_STUCK (tests only): every compute blocks for good at its
	 * first progress report, as a read from a hung file system would. */
	bool test_stuck;
	bool ascii, color;
	tui_glyphs g;
	int rows, cols;
	/* scrolling (the selection is the tree's) */
	size_t top;
	bool user_moved;         /* the user moved before the first divergence was found */
	bool div_opened;         /* the tree has opened at the first divergence */
	ptrdiff_t first_div;     /* cached each frame */
	bool first_div_known;
	/* panes */
	bool detail_open;
	ptrdiff_t detail_cancelled; /* pair whose detail job the user cancelled, or -1 */
	pane focus;
	int detail_scroll;
	bool help_open;
	int help_scroll;
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

/* Progress of a pair being computed (on demand or by the scan), in elements. */
/* The pair's label or either file name matches re (search and filter). */
dv_regex_result tui_cmd_pair_matches(tui_app *app, const pcre2_code *re, size_t pair);
bool tui_state_pair_progress(tui_app *app, size_t pair, int64_t *done, int64_t *total);
/* Called from every compute's progress report: blocks while :hold-computes
 * is on and the compute has more than one chunk left (scripted mode only). */
void tui_script_hold_point(tui_app *app, int64_t done, int64_t total);
void tui_script_scan_progress(void *app, int64_t done, int64_t total); /* the scan's hook to it */
void tui_state_message(tui_app *app, bool error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void app_render(tui_app *app);
/* The next key (from the terminal or the script), servicing background events
 * meanwhile; -1 when the app must quit. The one place keys are made
 * canonical (tui_key_canonical): whoever reads keys sees Enter as TK_ENTER. */
int app_next_key(tui_app *app);
/* Services background events without blocking (scan and job pipes, signals). */
void app_poll_events(tui_app *app, int timeout_ms);
const tui_detail *tui_state_detail_for(tui_app *app, size_t pair);
void tui_state_clear_details(tui_app *app);
const trow *tui_state_selected_row(tui_app *app);
void tui_state_select_row(tui_app *app, size_t row);
/* Opens the path to a pair and selects it; false when it is hidden. */
bool tui_state_select_pair(tui_app *app, size_t pair);
/* The tree's rows again (open flags, filter, sort); a redraw follows. */
void tui_state_rebuild(tui_app *app);
void tui_state_open_first_div(tui_app *app, bool select);
void tui_cmd_export_selected(tui_app *app);
/* commands.c: the global commands behind the action table */
void tui_cmd_search_step(tui_app *app, int dir);
void tui_cmd_search(tui_app *app);
void tui_cmd_filter(tui_app *app);
void tui_cmd_threshold(tui_app *app);
void tui_cmd_scan_toggle(tui_app *app);
bool tui_cmd_jump(tui_app *app, int dir, bool (*pred)(tui_app *, size_t), bool wrap, bool *wrapped);
bool tui_cmd_pred_failed(tui_app *app, size_t i);
/* script.c: the next key of DUMPVIEW_SCRIPT, running its commands; -1 at the end */
int tui_script_next_key(tui_app *app);
/* An <Esc> typed ahead on the script's current line is taken (true), as a
 * long match loop takes an Esc waiting in the terminal's input. */
bool tui_script_take_esc(tui_app *app);
void tui_state_drain(int fd);
size_t tui_state_matched_done(tui_app *app, size_t *total, size_t *cancelled); /* cancelled may be NULL */
void tui_state_tensor_label(tui_app *app, const dv_pair *p, char *buf, size_t size);
void tui_state_pair_path(tui_app *app, size_t pair, char *buf, size_t size);
void tui_cmd_export_table(tui_app *app);
void tui_state_update_first_div(tui_app *app);
const char *tui_state_pair_name(const dv_pair *p);

#endif
