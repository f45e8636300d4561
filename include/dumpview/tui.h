/* The interactive explorer (`dumpview BASELINE TARGET`): the only layer that
 * includes curses. Its entry point is cmd_tui() (commands.h); this header is
 * the face the rest of the project may use without curses: the options and
 * the key list (for the man page and its test). */
#ifndef DUMPVIEW_TUI_H
#define DUMPVIEW_TUI_H

#include <stdbool.h>
#include <stdio.h>

#include "dumpview/comparison.h"

typedef struct dv_tui_opts {
	const char *baseline, *target;  /* run specs (path or tag) */
	double threshold;               /* rel_diff threshold, DV_DEFAULT_THRESHOLD; with rules,
					 * the catch-all's when it has one */
	/* --rule / --rules (NULL: none, the threshold alone judges); the
	 * explorer's `t` changes its catch-all, so it is not const. It must
	 * outlive dv_tui_run. */
	dv_rules *rules;
	/* --allow-failed-pattern / --allow-skipped-pattern, full matches (NULL:
	 * none / every name allowed), for the gate the explorer shows */
	const pcre2_code *allow_failed, *allow_skipped;
	/* a gating option was given (rules or an allow pattern): the title
	 * shows the gate `compare` would exit by */
	bool show_gate;
	const char *filter;             /* PCRE2 on file names, or NULL */
	const char *layer_regex;        /* NULL: the default */
	bool ascii;                     /* ASCII lines and marks */
	bool no_color;                  /* monochrome */
	bool no_scan;                   /* no background scan at start */
	bool follow_symlinks;           /* follow symlinked folders that lead outside a run */
	/* --preset, --grouping-skip-keys, --override-*dims (logical.h); NULL:
	 * the defaults. It must outlive dv_tui_run. */
	const struct dv_grouping *grouping;
	/* --name-map, --name-map-file (name_map.h); NULL: none. It must
	 * outlive dv_tui_run. */
	const struct dv_name_map *name_map;
	const char *script;             /* DUMPVIEW_SCRIPT: keys and commands, off-screen drawing */
	/* --report: a saved report (report_load.h) instead of the runs. The
	 * explorer takes its comparison (report->cmp becomes NULL); the rest
	 * (path, diagnosis, whether the runs were given) must outlive
	 * dv_tui_run. Nothing is scanned; tensors are read on demand only
	 * when the runs were given. */
	struct dv_report_data *report;
} dv_tui_opts;

/* Runs the explorer; returns the process exit code (0, 2 on input errors,
 * 128+signal when ended by a signal). Messages for the user go to *err. */
int dv_tui_run(const dv_tui_opts *opts, char *err, size_t errsize);

/* Writes the man page's KEYS section (roff: .SH KEYS, a .SS per group, a
 * .TP per entry) from the explorer's action table, the text that
 * man/dumpview.1 holds between its "generated keys" markers. Returns -1
 * (message in *err) when the table itself is inconsistent. */
int dv_tui_print_keys(FILE *out, char *err, size_t errsize);

#endif
