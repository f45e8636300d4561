/* The explorer's shared state and the helpers every module uses on it:
 * labels, the status message, the selection, the details cache, the first
 * divergence, what the screen asks to be computed. Nothing here draws or
 * reads keys. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state.h"
#include "term.h"

void tui_state_tensor_label(tui_app *app, const dv_pair *p, char *buf, size_t size)
{
	tui_state_label(app->multi_rank, p, buf, size);
}

void tui_state_label(bool multi_rank, const dv_pair *p, char *buf, size_t size)
{
	const dv_dumpfile *f = p->targ ? p->targ : p->base;
	size_t n = (size_t)snprintf(buf, size, "%s", p->name ? p->name : "?");
	if (multi_rank && p->rank >= 0 && n < size)
		n += (size_t)snprintf(buf + n, size - n, " r%lld", (long long)p->rank);
	if (f && f->duplicate_index > 0 && n < size)
		snprintf(buf + n, size - n, " #%d", f->duplicate_index);
}

void tui_state_pair_path(tui_app *app, size_t pair, char *buf, size_t size)
{
	const dv_pair *p = &app->cmp->pairs[pair];
	char g[128], t[256];
	tui_tree_group_label(&app->tree, tui_tree_group_of_pair(&app->tree, pair), g, sizeof(g));
	tui_state_tensor_label(app, p, t, sizeof(t));
	snprintf(buf, size, "%s / %s / %s", app->cmp->phases[p->phase].name, g, t);
}

const char *tui_state_pair_name(const dv_pair *p)
{
	return p->name ? p->name : "?";
}

void tui_state_message(tui_app *app, bool error, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(app->message, sizeof(app->message), fmt, ap);
	va_end(ap);
	app->message_error = error;
	app->dirty = true;
}

const trow *tui_state_selected_row(tui_app *app)
{
	return app->tree.sel < app->tree.nrows ? &app->tree.rows[app->tree.sel] : NULL;
}

void tui_state_select_row(tui_app *app, size_t row)
{
	if (row >= app->tree.nrows)
		return;
	if (row != app->tree.sel)
		app->sel_gen++; /* the detail view starts the new selection at its top */
	app->tree.sel = row;
	app->dirty = true;
}

bool tui_state_select_pair(tui_app *app, size_t pair)
{
	ptrdiff_t r = tui_tree_open_pair(&app->tree, pair);
	app->dirty = true;
	if (r < 0)
		return false;
	tui_state_select_row(app, (size_t)r);
	return true;
}

void tui_state_rebuild(tui_app *app)
{
	app->tree.filtering = app->filter_re != NULL;
	tui_tree_rebuild(&app->tree);
	app->dirty = true;
}

const tui_detail *tui_state_detail_for(tui_app *app, size_t pair)
{
	for (size_t i = 0; i < DETAIL_CACHE; i++)
		if (app->details[i].valid && app->details[i].pair == pair) {
			app->detail_clock[i] = ++app->clock;
			return &app->details[i];
		}
	return NULL;
}

bool tui_state_can_read(const tui_app *app)
{
	return !app->opts.report || app->opts.report->has_runs;
}

void tui_state_clear_details(tui_app *app)
{
	for (size_t i = 0; i < DETAIL_CACHE; i++)
		if (app->details[i].valid) {
			tui_jobs_detail_free(&app->details[i]);
			app->details[i].valid = false;
		}
}

/* The first failing matched pair in execution order under the current
 * threshold; known once every matched pair before it is computed. */
void tui_state_update_first_div(tui_app *app)
{
	dv_counts c;
	dv_comparison_counts(app->cmp, &c);
	size_t key = c.done + c.cancelled;
	int64_t now = tui_term_now_ms();
	/* nothing finished since: the same answer; while a scan keeps finishing
	 * pairs, looked for again at most every TUI_AGG_STALE_MS */
	bool fresh = app->fd_valid && app->fd_epoch == app->cmp->rule_epoch &&
		     (key == app->fd_key || (app->tree.throttle && now - app->fd_ms < TUI_AGG_STALE_MS));
	if (fresh) {
		if (key != app->fd_key)
			app->tree.agg_stale = true;
	} else {
		app->first_div = dv_first_divergence(app->cmp, &app->first_div_known);
		/* no divergence in the phases listed so far says nothing of the rest */
		if (app->listing && app->first_div < 0)
			app->first_div_known = false;
		app->fd_valid = true;
		app->fd_epoch = app->cmp->rule_epoch;
		app->fd_key = key;
		app->fd_ms = now;
	}
	if (app->first_div >= 0 && app->first_div_known && !app->div_opened) {
		app->div_opened = true;
		tui_state_open_first_div(app, !app->user_moved);
	}
}

void tui_state_open_first_div(tui_app *app, bool select)
{
	if (app->first_div < 0)
		return;
	size_t pair = (size_t)app->first_div;
	if (app->tree.hidden[pair]) {
		size_t g = tui_tree_group_of_pair(&app->tree, pair);
		app->tree.phases[app->tree.groups[g].phase].open = true;
		tui_state_rebuild(app);
		return;
	}
	if (select) {
		tui_state_select_pair(app, pair);
	} else {
		size_t g = tui_tree_group_of_pair(&app->tree, pair);
		app->tree.groups[g].open = true;
		app->tree.phases[app->tree.groups[g].phase].open = true;
		tui_state_rebuild(app);
	}
}

bool tui_state_pair_progress(tui_app *app, size_t pair, int64_t *done, int64_t *total)
{
	return tui_jobs_pair_progress(&app->jobs, pair, done, total) ||
	       (app->scan && dv_scan_pair_progress(app->scan, pair, done, total));
}

size_t tui_state_matched_done(tui_app *app, size_t *total, size_t *cancelled)
{
	/* kept by the comparison as pairs change: a redraw costs the same at
	 * 1 k and 300 k pairs */
	dv_counts c;

	dv_comparison_counts(app->cmp, &c);
	*total = c.matched;
	if (cancelled)
		*cancelled = c.cancelled;
	return c.done;
}

void tui_state_collect_jobs(tui_app *app)
{
	tui_jobs_finished fin;
	if (!tui_jobs_take_finished(&app->jobs, &fin))
		return;
	if (fin.kind == JOB_DETAIL) {
		if (!fin.detail.valid)
			return;
		/* Into the least recently used slot. */
		size_t slot = 0;
		for (size_t i = 0; i < DETAIL_CACHE; i++) {
			if (!app->details[i].valid) {
				slot = i;
				break;
			}
			if (app->detail_clock[i] < app->detail_clock[slot])
				slot = i;
		}
		if (app->details[slot].valid)
			tui_jobs_detail_free(&app->details[slot]);
		app->details[slot] = fin.detail;
		app->detail_clock[slot] = ++app->clock;
	} else if (fin.kind == JOB_EXPORT || fin.kind == JOB_TABLE) {
		if (fin.rc == 0)
			tui_state_message(app, false, "wrote %lld rows to %s", (long long)fin.rows, fin.msg);
		else
			tui_state_message(app, true, "%s", fin.msg[0] ? fin.msg : "export failed");
	}
	app->dirty = true;
}

dv_regex_result tui_state_pair_matches(tui_app *app, const pcre2_code *re, size_t i)
{
	return tui_state_label_matches(re, app->multi_rank, &app->cmp->pairs[i]);
}

dv_regex_result tui_state_label_matches(const pcre2_code *re, bool multi_rank, const dv_pair *p)
{
	char label[256];
	tui_state_label(multi_rank, p, label, sizeof(label));
	const char *subjects[3] = { label, p->targ ? dv_dumpfile_filename(p->targ) : NULL, p->base ? dv_dumpfile_filename(p->base) : NULL };
	for (int k = 0; k < 3; k++) {
		if (!subjects[k])
			continue;
		dv_regex_result r = dv_regex_test(re, subjects[k]);
		if (r != DV_REGEX_NOMATCH)
			return r;
	}
	return DV_REGEX_NOMATCH;
}

void tui_state_request_visible(tui_app *app, int tree_rows)
{
	bool scan_running = app->scan && dv_scan_running(app->scan);
	size_t hash = 1469598103u;
	size_t want[512];
	size_t nwant = 0;
	const trow *sel = tui_state_selected_row(app);
	if (sel && sel->kind == TN_TENSOR) {
		const dv_pair *p = &app->cmp->pairs[sel->pair];
		if (p->kind == DV_PAIR_MATCHED && atomic_load(&p->state) == DV_PAIR_PENDING)
			want[nwant++] = sel->pair;
	}
	for (int i = 0; i < tree_rows && nwant < 512; i++) {
		size_t r = app->tree_view.top + (size_t)i;
		if (r >= app->tree.nrows)
			break;
		const trow *row = &app->tree.rows[r];
		if (row->kind != TN_TENSOR)
			continue;
		const dv_pair *p = &app->cmp->pairs[row->pair];
		if (p->kind == DV_PAIR_MATCHED && atomic_load(&p->state) == DV_PAIR_PENDING)
			want[nwant++] = row->pair;
	}
	for (size_t i = 0; i < nwant; i++)
		hash = (hash ^ want[i]) * 1099511628211u;
	if (hash == app->last_prio_hash)
		return;
	app->last_prio_hash = hash;
	/* Last prioritized runs first: the selection, then rows top-down. What
	 * no scan worker will take (the scan is off, paused or has ended) goes
	 * to the job thread. */
	size_t mine[512], nmine = 0;
	for (size_t i = nwant; i-- > 0;)
		if (!scan_running || !dv_scan_prioritize(app->scan, want[i]))
			mine[nmine++] = want[i];
	/* Replaced in one step: added one by one, the job thread could take
	 * a later row before the selection was in the list. */
	tui_jobs_set_wants(&app->jobs, mine, nmine);
}

void tui_state_drain(int fd)
{
	char buf[4096];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}
