/* The title bar (runs, threshold and rules, scan progress, the gate, first
 * divergence) and the status bar (message, prompt being typed, selection
 * path, key hints). */
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "dumpview/logical.h"
#include "dumpview/token_align.h"

#include "bars.h"
#include "draw.h"
#include "jobs.h"
#include "listing.h"
#include "state.h"

/* The gate compare would exit by, in a few words (R shows it whole), in the
 * order dv_comparison_exit_status gives it. */
static void gate_text(tui_app *app, char *out, size_t size)
{
	dv_gate g;

	if (!dv_comparison_gate(app->cmp, app->opts.allow_failed, app->opts.allow_skipped, &g))
		snprintf(out, size, "gate: pass");
	else if (!g.passed && !g.failed && !g.errored)
		snprintf(out, size, "gate: fail (nothing passed)");
	else if (g.errored)
		snprintf(out, size, "gate: fail (%zu errored)", g.errored);
	else if (g.failed_not_allowed)
		snprintf(out, size, "gate: fail (%zu failed%s)", g.failed_not_allowed,
			 app->opts.allow_failed ? " not allowed" : "");
	else if (g.skipped_not_allowed)
		snprintf(out, size, "gate: fail (%zu skipped not allowed)", g.skipped_not_allowed);
	else if (g.warnings)
		snprintf(out, size, "gate: fail (%zu warning%s)", g.warnings, g.warnings == 1 ? "" : "s");
	else
		snprintf(out, size, "gate: fail (nothing passed)");
}

/* Phases whose smart token aligner is not in use (ta_why) and phases where
 * it matched no sequence; the first such phase. */
static size_t token_problems(const tui_app *app, size_t *fallback, size_t *nomatch, size_t *first)
{
	*fallback = *nomatch = 0;
	*first = SIZE_MAX;
	for (size_t k = 0; k < app->cmp->nphases; k++) {
		const dv_logical_ctx *lc = app->cmp->phases[k].lctx;
		if (!lc || !lc->smart_asked)
			continue;
		bool none = false;
		if (lc->ta && !lc->ta_why) {
			none = true;
			for (size_t i = 0; i < lc->ta->nmatched; i++)
				none &= lc->ta->matched[i].tokens == 0;
		}
		if (lc->ta_why)
			++*fallback;
		*nomatch += none;
		if ((lc->ta_why || none) && *first == SIZE_MAX)
			*first = k;
	}
	return *fallback + *nomatch;
}

/* How many warnings the token alignment adds (as dv_comparison_warnings
 * words them: a fallback, zero matches, each error). */
static size_t token_warnings(const tui_app *app)
{
	size_t n = 0;
	for (size_t k = 0; k < app->cmp->nphases; k++) {
		const dv_logical_ctx *lc = app->cmp->phases[k].lctx;
		if (!lc || !lc->smart_asked)
			continue;
		n += lc->ta_why != NULL;
		if (!lc->ta)
			continue;
		bool none = true;
		for (size_t i = 0; i < lc->ta->nmatched; i++)
			none &= lc->ta->matched[i].tokens == 0;
		n += none + lc->ta->nerrors;
	}
	return n;
}

/* "tokens: smart not used (phase inference +2)", "tokens: no sequence
 * matched (phase rollout)"; false when every phase aligned something. */
static bool token_note(const tui_app *app, char *out, size_t size)
{
	size_t fallback, nomatch, first;
	size_t n = token_problems(app, &fallback, &nomatch, &first);
	if (!n)
		return false;
	char more[32] = "";
	if (n > 1)
		snprintf(more, sizeof(more), " +%zu", n - 1);
	const dv_logical_ctx *lc = app->cmp->phases[first].lctx;
	snprintf(out, size, "tokens: %s (phase %s%s)", lc->ta_why ? "smart not used" : "no sequence matched",
		 app->cmp->phases[first].name, more);
	return true;
}

void tui_bars_title(tui_app *app)
{
	attr_t a = tui_draw_attr(app, CP_TITLE, A_REVERSE | A_BOLD);
	tui_draw_fill(stdscr, 0, 0, app->cols, a);
	char thr[64], scan[160], fd[512], buf[1200];
	const dv_rules *rules = dv_comparison_rules(app->cmp);
	/* Rules given: the threshold is their catch-all's, if any, and the
	 * count follows it. Without rules the title is as it always was. */
	if (rules && !dv_rules_catch_all(rules))
		snprintf(thr, sizeof(thr), "none");
	else if (isnan(dv_comparison_threshold(app->cmp)))
		snprintf(thr, sizeof(thr), "as recorded");   /* a report's own decisions */
	else
		snprintf(thr, sizeof(thr), "%g", dv_comparison_threshold(app->cmp));
	if (rules) {
		size_t n = strlen(thr), nr = dv_rules_count(rules);
		snprintf(thr + n, sizeof(thr) - n, "  %zu rule%s", nr, nr == 1 ? "" : "s");
	}
	size_t total, cancelled, done = tui_state_matched_done(app, &total, &cancelled);
	char ncan[48] = "";
	if (cancelled)
		snprintf(ncan, sizeof(ncan), " (%zu cancelled)", cancelled);
	if (done == total)
		snprintf(scan, sizeof(scan), "scan %zu/%zu", done, total);
	else if (!app->scan)
		snprintf(scan, sizeof(scan), "scan off %zu/%zu%s", done, total, ncan);
	else
		snprintf(scan, sizeof(scan), "scan %zu/%zu%s%s", done, total, ncan, app->scan_paused ? " paused" : "");
	/* the runs still being listed: the tree holds the phases listed so far */
	if (app->listing) {
		char n[48];
		size_t v = atomic_load(&app->listing->listed), len = strlen(scan);
		tui_draw_count(v, n, sizeof(n));
		snprintf(scan + len, sizeof(scan) - len, "  listing %s file%s%s", n, v == 1 ? "" : "s", app->g.ellipsis);
	}
	bool token_shown = false;
	if (app->first_div >= 0) {
		char path[400];
		tui_state_pair_path(app, (size_t)app->first_div, path, sizeof(path));
		snprintf(fd, sizeof(fd), "first divergence: %s%s", path, app->first_div_known ? "" : " (so far)");
	} else if (app->first_div_known) {
		/* the same warnings that make `compare` fail: never "no divergence"
		 * then (final once the comparison is built: counted once) */
		if (!app->warn_cached) {
			char **w = NULL;

			app->warn_count = dv_comparison_warnings(app->cmp, &w);
			app->warn_token = token_warnings(app);
			snprintf(app->warn_first, sizeof(app->warn_first), "%s", app->warn_count ? w[0] : "");
			dv_warnings_free(w, app->warn_count);
			app->warn_cached = true;
		}
		size_t nw = app->warn_count;
		/* the warnings all the token alignment's: the note would repeat them */
		token_shown = nw && nw == app->warn_token;
		if (nw)
			snprintf(fd, sizeof(fd), "warning: %s%s", app->warn_first, nw > 1 ? " (+more)" : "");
		else
			snprintf(fd, sizeof(fd), "no divergence");
	} else {
		snprintf(fd, sizeof(fd), "first divergence: not found yet");
	}
	/* The smart token aligner not in use, or matching nothing, in some
	 * phase: said beside the first divergence (a fallback compares the
	 * tokens as they are stored), unless the warning shown is all of it. */
	char tok[256];
	if (!token_shown && token_note(app, tok, sizeof(tok))) {
		size_t n = strlen(fd);
		snprintf(fd + n, sizeof(fd) - n, " %s %s", app->g.vbar, tok);
	}
	/* Replica mismatches fail without being a divergence of the metrics:
	 * counted apart, beside the first divergence. */
	dv_counts counts;
	dv_comparison_counts(app->cmp, &counts);
	size_t nrep = counts.replica_mismatches;
	if (nrep) {
		size_t n = strlen(fd);
		snprintf(fd + n, sizeof(fd) - n, " %s %zu replica mismatch%s (})", app->g.vbar, nrep, nrep == 1 ? "" : "es");
	}
	/* The gate compare would exit by, once every verdict is final, in the
	 * place of the complete scan's count (kept as long as the threshold);
	 * shown when an option changes it (rules or an allow pattern): without
	 * one the first divergence already tells it. */
	if (app->opts.show_gate && done == total && !app->listing) {
		if (!app->gate_valid || app->gate_epoch != app->cmp->rule_epoch || app->gate_done != done) {
			gate_text(app, app->gate_text, sizeof(app->gate_text));
			app->gate_valid = true;
			app->gate_epoch = app->cmp->rule_epoch;
			app->gate_done = done;
		}
		snprintf(scan, sizeof(scan), "%s", app->gate_text);
	}
	/* Widest form that fits; the first divergence is dropped last. */
	const char *bar = app->g.vbar;
	char who[900];
	/* a report: its file, and the runs when given (no scan: the count is the report's) */
	if (app->opts.report && app->opts.report->has_runs)
		snprintf(who, sizeof(who), "report %s (%s vs %s)", app->opts.report->path, app->cmp->base->spec,
			 app->cmp->targ->spec);
	else if (app->opts.report)
		snprintf(who, sizeof(who), "report %s (no runs)", app->opts.report->path);
	else
		snprintf(who, sizeof(who), "%s vs %s", app->cmp->base->spec, app->cmp->targ->spec);
	if (app->opts.report && !app->opts.show_gate)
		snprintf(scan, sizeof(scan), "%zu tensors", total);
	snprintf(buf, sizeof(buf), "dumpview  %s  %s threshold %s  %s  %s %s", who, bar, thr, scan, bar, fd);
	if (tui_draw_width(buf) > app->cols - 2)
		snprintf(buf, sizeof(buf), "%s %s thr %s %s %s %s %s", who, bar, thr, bar, scan, bar, fd);
	if (tui_draw_width(buf) > app->cols - 2)
		snprintf(buf, sizeof(buf), "thr %s %s %s %s %s", thr, bar, scan, bar, fd);
	if (tui_draw_width(buf) > app->cols - 2)
		snprintf(buf, sizeof(buf), "%s %s %s", scan, bar, fd);
	if (tui_draw_width(buf) > app->cols - 2)
		snprintf(buf, sizeof(buf), "%s", fd);
	tui_draw_str(stdscr, 0, 1, app->cols - 1, buf, a);
}

void tui_bars_status(tui_app *app)
{
	int y = app->rows - 1;
	attr_t a = tui_draw_attr(app, CP_STATUS, A_REVERSE);
	tui_draw_fill(stdscr, y, 0, app->cols, a);
	if (app->prompting) {
		/* Label, then the end of the input (what is being typed); each
		 * part measured once, so a long paste costs linear time. */
		int x, lmax = app->cols - 12;
		if (tui_draw_width(app->prompt_label) > lmax) {
			/* A question's end ("overwrite? (y/N)") must show. */
			tui_draw_field_mid(app, y, 0, lmax, app->prompt_label, a);
			x = lmax;
		} else {
			x = tui_draw_str(stdscr, y, 0, app->cols, app->prompt_label, a);
		}
		if (app->prompt_overflow) {
			char msg[128];
			snprintf(msg, sizeof(msg), " input longer than %zu bytes: Enter or Esc cancels",
				 sizeof(app->prompt_buf) - 1);
			tui_draw_str(stdscr, y, x, app->cols - x, msg, tui_draw_attr(app, CP_STATUS, A_REVERSE) | A_BOLD);
			return;
		}
		int w;
		const char *tail = tui_draw_tail(app->prompt_buf, app->cols - 2 - x, &w);
		x += tui_draw_str(stdscr, y, x, app->cols - x, tail, a);
		tui_draw_str(stdscr, y, x, 1, "_", a | A_BLINK);
		return;
	}
	char left[1200] = "";
	job_kind kind;
	int64_t done, total;
	if (tui_jobs_heavy_busy(&app->jobs, &kind, &done, &total) && (kind == JOB_EXPORT || kind == JOB_TABLE)) {
		snprintf(left, sizeof(left), "exporting: %lld%% (Esc cancels)",
			 total > 0 ? (long long)(done * 100 / total) : 0LL);
	} else if (app->message[0]) {
		snprintf(left, sizeof(left), "%s", app->message);
	} else {
		const trow *row = tui_state_selected_row(app);
		if (row && row->kind == TN_TENSOR) {
			tui_state_pair_path(app, row->pair, left, sizeof(left));
		} else if (row && row->kind == TN_GROUP) {
			char g[128];
			tui_tree_group_label(&app->tree, row->group, g, sizeof(g));
			snprintf(left, sizeof(left), "%s / %s", app->cmp->phases[row->phase].name, g);
		} else if (row) {
			snprintf(left, sizeof(left), "%s", app->cmp->phases[row->phase].name);
		}
		if (app->filter) {
			size_t n = strlen(left);
			snprintf(left + n, sizeof(left) - n, "  [filter: %s]", app->filter);
		}
	}
	static const char *const sort_names[SORT_COUNT] = { "exec order", "rel_diff", "name" };
	char right[200];
	if (app->cols >= 150)
		snprintf(right, sizeof(right), " sort: %s  Enter:open /:search f:filter ]:next fail D:first div ?:help q:quit ",
			 sort_names[app->tree.sort]);
	else
		snprintf(right, sizeof(right), " sort: %s  ?:help q:quit ", sort_names[app->tree.sort]);
	int rw = tui_draw_width(right);
	attr_t la = app->message[0] && app->message_error ? tui_draw_attr(app, CP_FAIL, A_BOLD) | A_REVERSE : a;
	if (app->message[0] && app->message_error && app->color)
		la = COLOR_PAIR(CP_STATUS) | A_BOLD;
	if (app->message[0] && app->message_error && tui_draw_width(left) > app->cols - rw - 2) {
		/* An error takes the whole row, elided in the middle: its
		 * reason comes last and must stay readable. */
		tui_draw_field_mid(app, y, 1, app->cols - 2, left, la);
	} else if (app->cols - rw > 20) {
		tui_draw_field(app, y, 1, app->cols - rw - 2, left, la, false);
		tui_draw_str(stdscr, y, app->cols - rw, rw, right, a);
	} else {
		tui_draw_field(app, y, 1, app->cols - 2, left, la, false);
	}
}
