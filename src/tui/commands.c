/* The TUI's global commands: search, filter, failing-tensor jumps,
 * threshold, scan toggle and the CSV exports (prompts included). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "draw.h"
#include "jobs.h"
#include "keys.h"
#include "prompt.h"
#include "script.h"
#include "state.h"

/* A long match loop (search, filter over a huge listing) looks at the
 * terminal every so many pairs: Esc stops it, a signal ends the app. */
static bool match_interrupted(tui_app *app, size_t k)
{
	if (app->quit)
		return true;
	if (k % 64 != 63)
		return false;
	if (app->script_mode) {
		if (tui_script_take_esc(app)) {
			app->match_stopped = true;
			return true;
		}
		return false;
	}
	app->loop->poll(app, 0);
	wint_t wc;
	int rc;
	if ((rc = wget_wch(stdscr, &wc)) != ERR) {
		if (rc == OK && wc == TK_ESC) {
			app->match_stopped = true;
			return true;
		}
		if (rc == KEY_CODE_YES)
			ungetch((int)wc); /* typed ahead: kept for after the loop */
		else
			unget_wch(wc);
	}
	return app->quit;
}

/* Position in the flat display order to search from. */
static ptrdiff_t flat_position(tui_app *app, const size_t *flat, size_t n, bool *on_pair)
{
	const trow *row = tui_state_selected_row(app);
	*on_pair = false;
	if (!row)
		return 0;
	for (size_t k = 0; k < n; k++) {
		const dv_pair *p = &app->cmp->pairs[flat[k]];
		if (row->kind == TN_TENSOR && flat[k] == row->pair) {
			*on_pair = true;
			return (ptrdiff_t)k;
		}
		if (row->kind == TN_GROUP && flat[k] - app->tree.groups[row->group].first < app->tree.groups[row->group].count)
			return (ptrdiff_t)k;
		if (row->kind == TN_PHASE && p->phase == row->phase)
			return (ptrdiff_t)k;
	}
	return 0;
}

/* Moves to the next (dir 1) or previous (-1) shown pair satisfying pred. */
bool tui_cmd_jump(tui_app *app, int dir, bool (*pred)(tui_app *, size_t), bool wrap, bool *wrapped)
{
	size_t n;
	size_t *flat = tui_tree_flat_pairs(&app->tree, &n);
	if (!flat || !n) {
		free(flat);
		return false;
	}
	bool on_pair;
	ptrdiff_t pos = flat_position(app, flat, n, &on_pair);
	ptrdiff_t start = dir > 0 ? (on_pair ? pos + 1 : pos) : pos - 1;
	*wrapped = false;
	for (size_t step = 0; step < n; step++) {
		if (match_interrupted(app, step))
			break;
		ptrdiff_t k = start + dir * (ptrdiff_t)step;
		if (k < 0 || k >= (ptrdiff_t)n) {
			if (!wrap)
				break;
			*wrapped = true;
			k = ((k % (ptrdiff_t)n) + (ptrdiff_t)n) % (ptrdiff_t)n;
		}
		if (app->regex_failed)
			break;
		if (pred(app, flat[k])) {
			size_t pair = flat[k];
			free(flat);
			tui_state_select_pair(app, pair);
			return true;
		}
	}
	free(flat);
	return false;
}

/* A match that hit the regex limits stops the search (regex_failed): it is
 * reported, never taken for "no match". */
static bool pred_search(tui_app *app, size_t i)
{
	dv_regex_result r = tui_state_pair_matches(app, app->search_re, i);
	if (r == DV_REGEX_TOO_EXPENSIVE || r == DV_REGEX_ERROR)
		app->regex_failed = true;
	return r == DV_REGEX_MATCH;
}

static void report_regex_failure(tui_app *app, const char *what, const char *pat)
{
	tui_state_message(app, true, "%s /%s/: regex too expensive (backtracking limit hit): simplify it", what, pat);
}

bool tui_cmd_pred_failed(tui_app *app, size_t i)
{
	return tui_tree_pair_failed(app->cmp, &app->cmp->pairs[i]);
}

void tui_cmd_search_step(tui_app *app, int dir)
{
	if (!app->search_re) {
		tui_state_message(app, true, "no search yet: press / to search");
		return;
	}
	bool wrapped;
	app->regex_failed = false;
	app->match_stopped = false;
	bool found = tui_cmd_jump(app, dir, pred_search, true, &wrapped);
	if (app->regex_failed) {
		report_regex_failure(app, "search", app->search);
		return;
	}
	if (app->match_stopped) {
		tui_state_message(app, false, "search stopped");
		return;
	}
	if (!found) {
		tui_state_message(app, true, "no tensor matches /%s/", app->search);
		return;
	}
	char path[512] = "";
	const trow *row = tui_state_selected_row(app);
	if (row && row->kind == TN_TENSOR)
		tui_state_pair_path(app, row->pair, path, sizeof(path));
	/* "k of N" among the tensors shown, as less and vim count matches. */
	size_t n, nmatch = 0, k = 0;
	size_t *flat = tui_tree_flat_pairs(&app->tree, &n);
	bool counted = true;
	for (size_t i = 0; flat && i < n; i++) {
		if (match_interrupted(app, i)) {
			counted = false;
			break;
		}
		bool m = pred_search(app, flat[i]);
		if (app->regex_failed) {
			counted = false;
			break;
		}
		if (m) {
			nmatch++;
			if (row && row->kind == TN_TENSOR && flat[i] == row->pair)
				k = nmatch;
		}
	}
	free(flat);
	if (!counted) {
		/* The match is selected; only the count is missing. */
		tui_state_message(app, app->regex_failed, "/%s/ %s: %s", app->search,
			     app->regex_failed ? "count stopped: regex too expensive" : "count stopped", path);
		return;
	}
	tui_state_message(app, false, "/%s/ %zu of %zu%s: %s", app->search, k, nmatch, wrapped ? " (wrapped)" : "", path);
}

/* pat compiled (smart case), or NULL with the reason on the status row and
 * pat freed. */
static pcre2_code *compile_or_say(tui_app *app, char *pat)
{
	dv_error err;
	dv_error_clear(&err);
	pcre2_code *re = dv_regex_compile(pat, true, &err);
	if (!re) {
		tui_state_message(app, true, "%s", err.msg);
		free(pat);
	}
	return re;
}

/* Compiles pat and, only if it is valid, makes it the current regex: a bad
 * regex leaves a message and the previous state. Takes pat. */
static int replace_regex(tui_app *app, char *pat, pcre2_code **re_slot, char **pat_slot)
{
	pcre2_code *re = compile_or_say(app, pat);
	if (!re)
		return -1;
	pcre2_code_free(*re_slot);
	free(*pat_slot);
	*re_slot = re;
	*pat_slot = pat;
	return 0;
}

void tui_cmd_search(tui_app *app)
{
	char *pat = tui_prompt_read(app, "/", "");
	if (!pat)
		return;
	if (!pat[0]) {
		free(pat);
		if (app->search)
			tui_cmd_search_step(app, 1);
		return;
	}
	if (replace_regex(app, pat, &app->search_re, &app->search) < 0)
		return;
	app->user_moved = true;
	tui_cmd_search_step(app, 1);
	if (app->regex_failed) {
		/* Not kept: every frame would pay its limit again to mark matches. */
		pcre2_code_free(app->search_re);
		free(app->search);
		app->search_re = NULL;
		app->search = NULL;
	}
}

/* Hides what the filter does not match. On a regex that hits its limits
 * or an Esc mid-way, returns -1 having changed nothing: a half-applied
 * filter would hide tensors for a reason the user cannot see. */
static int apply_filter(tui_app *app, const pcre2_code *re)
{
	size_t n = app->cmp->npairs;
	bool *hidden = calloc(n ? n : 1, sizeof(*hidden));
	if (!hidden) {
		tui_state_message(app, true, "out of memory");
		return -1;
	}
	app->regex_failed = false;
	app->match_stopped = false;
	for (size_t i = 0; i < n && re; i++) {
		if (match_interrupted(app, i))
			break;
		dv_regex_result r = tui_state_pair_matches(app, re, i);
		if (r == DV_REGEX_TOO_EXPENSIVE || r == DV_REGEX_ERROR) {
			app->regex_failed = true;
			break;
		}
		hidden[i] = r != DV_REGEX_MATCH;
	}
	if (app->regex_failed || app->match_stopped || app->quit) {
		free(hidden);
		return -1;
	}
	memcpy(app->tree.hidden, hidden, n * sizeof(*hidden));
	free(hidden);
	tui_state_rebuild(app);
	return 0;
}

void tui_cmd_filter(tui_app *app)
{
	char label[300];
	if (app->filter)
		snprintf(label, sizeof(label), "filter (now /%.200s/, empty clears): ", app->filter);
	else
		snprintf(label, sizeof(label), "filter (regex): ");
	char *pat = tui_prompt_read(app, label, "");
	if (!pat)
		return;
	if (!pat[0]) {
		free(pat);
		pcre2_code_free(app->filter_re);
		free(app->filter);
		app->filter_re = NULL;
		app->filter = NULL;
		apply_filter(app, NULL);
		tui_state_message(app, false, "filter cleared");
		return;
	}
	/* Applied before it replaces the current filter: a failure keeps it. */
	pcre2_code *re = compile_or_say(app, pat);
	if (!re)
		return;
	if (apply_filter(app, re) < 0) {
		if (app->regex_failed)
			report_regex_failure(app, "filter", pat);
		else
			tui_state_message(app, false, "filter stopped: the previous one stays");
		pcre2_code_free(re);
		free(pat);
		return;
	}
	pcre2_code_free(app->filter_re);
	free(app->filter);
	app->filter_re = re;
	app->filter = pat;
	/* Show what matched: open the groups that hold matches. */
	size_t shown = 0;
	for (size_t g = 0; g < app->tree.ngroups; g++) {
		const tgroup *gr = &app->tree.groups[g];
		size_t n = 0;
		for (size_t i = gr->first; i < gr->first + gr->count; i++)
			n += !app->tree.hidden[i];
		shown += n;
		if (n)
			app->tree.groups[g].open = true;
	}
	tui_state_rebuild(app);
	if (!shown)
		tui_state_message(app, true, "filter /%s/: no tensor matches", pat);
	else
		tui_state_message(app, false, "filter /%s/: %zu tensors", pat, shown);
}

void tui_cmd_threshold(tui_app *app)
{
	char label[64];
	if (app->opts.rules && !dv_rules_catch_all(app->opts.rules))
		snprintf(label, sizeof(label), "catch-all rel_diff threshold (none now): ");
	else if (app->opts.rules)
		snprintf(label, sizeof(label), "catch-all rel_diff threshold (now %g): ", dv_comparison_threshold(app->cmp));
	else if (isnan(dv_comparison_threshold(app->cmp)))
		snprintf(label, sizeof(label), "rel_diff threshold (now as recorded): ");
	else
		snprintf(label, sizeof(label), "rel_diff threshold (now %g): ", dv_comparison_threshold(app->cmp));
	char *s = tui_prompt_read(app, label, "");
	if (!s)
		return;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	while (*end == ' ')
		end++;
	if (!s[0]) {
		free(s);
		return;
	}
	if (errno || end == s || *end || !isfinite(v) || v < 0) {
		tui_state_message(app, true, "bad threshold '%s': give a number >= 0", s);
		free(s);
		return;
	}
	free(s);
	/* With rules the threshold is their catch-all, changed in place (and
	 * matched again when it was not there). No verdict may be read
	 * meanwhile: the only reader off this thread is the table export. */
	dv_rules *rules = app->opts.rules;
	if (rules) {
		job_kind kind;
		int64_t done, total;
		if (tui_jobs_heavy_busy(&app->jobs, &kind, &done, &total) && kind == JOB_TABLE) {
			tui_state_message(app, true, "threshold unchanged: the table export is running (Esc cancels it)");
			return;
		}
		bool had = dv_rules_catch_all(rules) != NULL;
		dv_error e;
		dv_error_clear(&e);
		if (dv_rules_set_catch_all(rules, true, v) != 0) {
			tui_state_message(app, true, "threshold unchanged: out of memory");
			return;
		}
		if (!had && dv_comparison_set_rules(app->cmp, rules, &e) != 0) {
			dv_rules_set_catch_all(rules, false, v);
			tui_state_message(app, true, "threshold unchanged: %s", e.msg);
			return;
		}
	}
	dv_comparison_set_threshold(app->cmp, v);
	app->div_opened = false;
	app->user_moved = false;
	tui_state_update_first_div(app);
	char num[32];
	tui_draw_fmt_num(num, sizeof(num), v);
	/* a report's pairs are not computed again: judged from its metrics */
	tui_state_message(app, false, "threshold %s%s", num,
			  app->opts.report ? " (judged from the recorded metrics)" : "");
	app->dirty = true;
}

void tui_cmd_scan_toggle(tui_app *app)
{
	if (app->opts.report) {
		tui_state_message(app, true, "no scan on a report: every tensor is as the report recorded it");
		return;
	}
	if (!app->scan) {
		app->scan = dv_comparison_scan_start(app->cmp, &app->mopts, (int)app->nthreads, app->scan_pipe[1]);
		app->scan_paused = false;
		tui_state_message(app, false, app->scan ? "scan started" : "could not start the scan");
		return;
	}
	app->scan_paused = !app->scan_paused;
	dv_scan_pause(app->scan, app->scan_paused);
	app->last_prio_hash = 0;
	tui_state_message(app, false, app->scan_paused ? "scan paused" : "scan resumed");
}

/* lstat, not stat: a dangling symlink is something there too (the export
 * replaces it, so the user is asked). */
static bool file_exists(const char *path, bool *is_link)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return false;
	*is_link = S_ISLNK(st.st_mode);
	return true;
}

static bool confirm_overwrite(tui_app *app, const char *path)
{
	bool link = false;
	if (!file_exists(path, &link))
		return true;
	char q[1400];
	snprintf(q, sizeof(q), "%s %s: overwrite? (y/N) ", path,
		 link ? "is a symbolic link (replaced, not followed)" : "exists");
	if (tui_prompt_yes_no(app, q))
		return true;
	tui_state_message(app, false, "not exported: %s exists", path);
	return false;
}

void tui_cmd_export_selected(tui_app *app)
{
	const trow *row = tui_state_selected_row(app);
	if (!row || row->kind != TN_TENSOR) {
		tui_state_message(app, true, "select a tensor to export its diff");
		return;
	}
	size_t pi = row->pair;
	const dv_pair *p = &app->cmp->pairs[pi];
	if (p->kind != DV_PAIR_MATCHED) {
		tui_state_message(app, true, "%s exists on one side only: nothing to export", tui_state_pair_name(p));
		return;
	}
	if (!tui_state_can_read(app)) {
		tui_state_message(app, true, "export " TUI_NO_RUNS);
		return;
	}
	char def[512];
	snprintf(def, sizeof(def), "%s.diff.csv", tui_state_pair_name(p));
	for (char *c = def; *c; c++)
		if (*c == '/')
			*c = '_';
	char *path = tui_prompt_read(app, "export diff to: ", def);
	if (!path)
		return;
	if (!path[0]) {
		free(path);
		tui_state_message(app, true, "export: no file name given");
		return;
	}
	char *rows = tui_prompt_read(app, "rows: Enter for all, >X (abs_diff above X), or top K: ", "");
	if (!rows) {
		free(path);
		return;
	}
	double min_abs = -1;
	int64_t top_k = 0;
	char *s = rows;
	while (*s == ' ')
		s++;
	char *end = NULL;
	bool ok = true;
	if (!*s || !strcmp(s, "all")) {
		/* every row */
	} else if (*s == '>') {
		min_abs = strtod(s + 1, &end);
		ok = end != s + 1 && isfinite(min_abs) && min_abs >= 0;
	} else if (!strncmp(s, "top", 3)) {
		long long k = strtoll(s + 3, &end, 10);
		ok = end != s + 3 && k > 0;
		top_k = k;
	} else {
		ok = false;
	}
	if (ok && end)
		while (*end == ' ')
			end++;
	if (!ok || (end && *end)) {
		tui_state_message(app, true, "bad row limit '%s': all, >X or top K", rows);
		free(rows);
		free(path);
		return;
	}
	free(rows);
	if (!confirm_overwrite(app, path)) {
		free(path);
		return;
	}
	/* A whole large tensor is many gigabytes of CSV: asked first, with
	 * the projected size (min_abs keeps an unknown share: "up to"). */
	int64_t nrows = 0;
	double proj = tui_jobs_export_bytes(p, top_k, &nrows);
	double limit = EXPORT_CONFIRM_BYTES;
	if (proj > EXPORT_CONFIRM_BYTES) {
		char sz[32], q[200];
		tui_jobs_fmt_bytes(sz, sizeof(sz), proj);
		snprintf(q, sizeof(q), "this writes %sabout %s (%lld rows): export? (y/N) ", min_abs >= 0 ? "up to " : "", sz,
			 (long long)nrows);
		if (!tui_prompt_yes_no(app, q)) {
			tui_state_message(app, false, "not exported (about %s)", sz);
			free(path);
			return;
		}
		limit = 0;
	}
	tui_jobs_submit_export(&app->jobs, pi, path, min_abs, top_k, limit);
	tui_state_message(app, false, "exporting to %s", path);
	free(path);
}

void tui_cmd_export_table(tui_app *app)
{
	char *path = tui_prompt_read(app, "export table to: ", "dumpview-table.csv");
	if (!path)
		return;
	if (!path[0]) {
		free(path);
		tui_state_message(app, true, "export: no file name given");
		return;
	}
	if (!confirm_overwrite(app, path)) {
		free(path);
		return;
	}
	size_t n;
	size_t *flat = tui_tree_flat_pairs(&app->tree, &n);
	if (!flat) {
		free(path);
		tui_state_message(app, true, "out of memory");
		return;
	}
	tui_jobs_submit_table(&app->jobs, path, flat, n, dv_comparison_threshold(app->cmp));
	tui_state_message(app, false, "exporting %zu rows to %s", n, path);
	free(path);
}

