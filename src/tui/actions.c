/* The action table (actions.def) and its handlers; app.c dispatches a key
 * to them through the key map. Views see the actions they own state for
 * through their handlers (act_pane). */
#include "actions.h"
#include "commands.h"
#include "jobs.h"
#include "state.h"
#include "views.h"

/* The pane the movement keys act on. */
static const view_ops *focused_view(tui_app *app)
{
	return app->detail_open && app->focus == PANE_DETAIL ? &tui_view_detail : &tui_view_tree;
}

/* Movement, open and close belong to the focused pane: the tree moves the
 * selection, the detail pane scrolls. */
static int act_pane(tui_app *app, tui_action act, int key)
{
	const view_ops *v = focused_view(app);
	if (v == &tui_view_tree)
		app->user_moved = true;
	return v->handle(app, act, key);
}

static int act_close(tui_app *app, tui_action act, int key)
{
	const trow *row = tui_state_selected_row(app);
	if (app->detail_open && focused_view(app) == &tui_view_tree && row && row->kind == TN_TENSOR) {
		app->detail_open = false; /* close the pane before leaving the tensor */
		return TF_HANDLED | TF_REDRAW;
	}
	return act_pane(app, act, key);
}

static int act_switch_pane(tui_app *app, tui_action act, int key)
{
	(void)act, (void)key;
	if (app->detail_open)
		app->focus = app->focus == PANE_TREE ? PANE_DETAIL : PANE_TREE;
	else
		tui_state_message(app, false, "no detail pane: Enter on a tensor opens it");
	return TF_HANDLED | TF_REDRAW;
}

static int act_search(tui_app *app, tui_action act, int key)
{
	(void)act, (void)key;
	tui_cmd_search(app);
	return TF_HANDLED | TF_REDRAW;
}

static int act_search_step(tui_app *app, tui_action act, int key)
{
	(void)key;
	tui_cmd_search_step(app, act == ACT_SEARCH_NEXT ? 1 : -1);
	return TF_HANDLED | TF_REDRAW;
}

static int act_filter(tui_app *app, tui_action act, int key)
{
	(void)act, (void)key;
	tui_cmd_filter(app);
	return TF_HANDLED | TF_REDRAW;
}

static int act_jump_fail(tui_app *app, tui_action act, int key)
{
	(void)key;
	bool wrapped, next = act == ACT_NEXT_FAIL;
	app->user_moved = true;
	if (!tui_cmd_jump(app, next ? 1 : -1, tui_cmd_pred_failed, false, &wrapped))
		tui_state_message(app, false, "no %s failing tensor%s", next ? "next" : "previous",
			    app->first_div_known ? "" : " (yet)");
	return TF_HANDLED | TF_REDRAW;
}

static bool pred_replica(tui_app *app, size_t i)
{
	return dv_pair_replica_mismatch(&app->cmp->pairs[i]);
}

static int act_jump_replica(tui_app *app, tui_action act, int key)
{
	(void)key;
	bool wrapped, next = act == ACT_NEXT_REPLICA;
	app->user_moved = true;
	if (!tui_cmd_jump(app, next ? 1 : -1, pred_replica, false, &wrapped)) {
		size_t total, done = tui_state_matched_done(app, &total, NULL);
		tui_state_message(app, false, "no %s replica mismatch%s", next ? "next" : "previous",
				  done < total ? " (yet)" : "");
	}
	return TF_HANDLED | TF_REDRAW;
}

static int act_first_div(tui_app *app, tui_action act, int key)
{
	(void)act, (void)key;
	tui_state_update_first_div(app);
	if (app->first_div < 0) {
		char **w = NULL;
		size_t nw = app->first_div_known ? dv_comparison_warnings(app->cmp, &w) : 0;

		/* the warnings that make compare fail: never "every tensor passes" then */
		if (nw)
			tui_state_message(app, true, "no failing tensor, but: %s%s", w[0], nw > 1 ? " (+more)" : "");
		else
			tui_state_message(app, false, app->first_div_known ? "no divergence: every compared tensor passes"
								   : "no divergence found yet");
		dv_warnings_free(w, nw);
	} else {
		app->user_moved = true;
		if (app->tree.hidden[app->first_div])
			tui_state_message(app, true, "the first divergence is hidden by the filter");
		else
			tui_state_open_first_div(app, true);
		if (!app->first_div_known)
			tui_state_message(app, false, "first divergence so far (the scan is not complete)");
	}
	return TF_HANDLED | TF_REDRAW;
}

static int act_sort(tui_app *app, tui_action act, int key)
{
	(void)act, (void)key;
	app->tree.sort = (app->tree.sort + 1) % SORT_COUNT;
	tui_state_rebuild(app);
	return TF_HANDLED | TF_REDRAW;
}

static int act_threshold(tui_app *app, tui_action act, int key)
{
	(void)act, (void)key;
	tui_cmd_threshold(app);
	return TF_HANDLED | TF_REDRAW;
}

static int act_rules(tui_app *app, tui_action act, int key)
{
	(void)act, (void)key;
	app->rules_open = !app->rules_open;
	app->rules_view.scroll = 0;
	app->help_open = false;
	return TF_HANDLED | TF_REDRAW;
}

static int act_scan(tui_app *app, tui_action act, int key)
{
	(void)act, (void)key;
	tui_cmd_scan_toggle(app);
	return TF_HANDLED | TF_REDRAW;
}

static int act_export(tui_app *app, tui_action act, int key)
{
	(void)act, (void)key;
	tui_cmd_export_selected(app);
	return TF_HANDLED | TF_REDRAW;
}

static int act_export_table(tui_app *app, tui_action act, int key)
{
	(void)act, (void)key;
	tui_cmd_export_table(app);
	return TF_HANDLED | TF_REDRAW;
}

static int act_cancel(tui_app *app, tui_action act, int key)
{
	(void)act, (void)key;
	job_kind kind;
	int64_t d, t;
	const trow *row = tui_state_selected_row(app);
	bool sel_tensor = row && row->kind == TN_TENSOR;
	/* The selected tensor's own metrics, wherever they are computed: the
	 * pair is marked CANCELLED, so nothing asks for it again until the
	 * user opens it (Enter). */
	bool metrics = false;
	if (sel_tensor) {
		metrics |= tui_jobs_cancel_pair(&app->jobs, row->pair);
		metrics |= dv_scan_cancel_pair(app->scan, row->pair);
	}
	if (tui_jobs_heavy_busy(&app->jobs, &kind, &d, &t)) {
		tui_jobs_cancel(&app->jobs);
		/* Not asked again until the user opens the tensor again. */
		if (kind == JOB_DETAIL && sel_tensor)
			app->detail_cancelled = (ptrdiff_t)row->pair;
		tui_state_message(app, false, kind == JOB_DETAIL ? "detail cancelled (Enter computes it again)" : "cancelled");
	} else if (metrics) {
		tui_state_message(app, false, "metrics cancelled (Enter computes them)");
	} else if (app->detail_open) {
		app->detail_open = false;
		app->focus = PANE_TREE;
	}
	return TF_HANDLED | TF_REDRAW;
}

static int act_help(tui_app *app, tui_action act, int key)
{
	(void)act, (void)key;
	app->help_open = !app->help_open;
	app->help_view.scroll = 0;
	return TF_HANDLED | TF_REDRAW;
}

static int act_redraw(tui_app *app, tui_action act, int key)
{
	(void)act, (void)key;
	app->pending_clear = true;
	return TF_HANDLED | TF_REDRAW;
}

static int act_quit(tui_app *app, tui_action act, int key)
{
	(void)app, (void)act, (void)key;
	return TF_QUIT;
}

#define MAN_WITH_PREVIOUS NULL

const tui_action_info tui_actions[ACT_COUNT] = {
	[ACT_NONE] = { .name = "NONE", .keys = "", .help = "", .man = "" },
#define ACTION(id, group_, keys_, flags_, handler_, help_, man_)                                          \
	[ACT_##id] = { .name = #id, .keys = keys_, .help = help_, .man = man_, .group = TG_##group_,      \
		       .flags = flags_, .handler = handler_ },
#include "actions.def"
};

const char *const tui_group_titles[TG_COUNT] = {
#define GROUP(id, title) [TG_##id] = title,
#include "actions.def"
};
