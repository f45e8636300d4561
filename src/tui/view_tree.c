/* The tree view: phase -> layer -> tensor rows with shapes, metrics and marks. */
#include <math.h>
#include <string.h>

#include "dumpview/numfmt.h"
#include "draw.h"
#include "keys.h"
#include "state.h"
#include "views.h"

/* Column plan for a width: name | shapes | rel_diff [max_abs [mean_abs]] | mark */
typedef struct cols {
	int name_x, name_w;
	int shape_x, shape_w;
	int rel_x, max_x, mean_x;   /* -1 when dropped */
	int mark_x;
	int num_w;
} cols;

static cols plan(int x, int w)
{
	cols c;
	c.num_w = 9;
	int nnum = w >= 100 ? 3 : w >= 72 ? 2 : 1;
	c.shape_w = w >= 140 ? 34 : w >= 100 ? 24 : 17;
	c.mark_x = x + w - 2;
	int right = nnum * (c.num_w + 1) + 2;
	c.rel_x = x + w - right;
	c.max_x = nnum >= 2 ? c.rel_x + c.num_w + 1 : -1;
	c.mean_x = nnum >= 3 ? c.max_x + c.num_w + 1 : -1;
	c.shape_x = c.rel_x - 1 - c.shape_w;
	c.name_x = x;
	c.name_w = c.shape_x - 1 - x;
	return c;
}

/* A cell's own colour, unless the row already has one (selected or
 * highlighted rows keep theirs: colour pairs cannot be combined). */
static attr_t cell_attr(tui_app *app, attr_t attr, int cp, attr_t mono)
{
	if (attr & (A_REVERSE | A_COLOR))
		return attr;
	return attr | tui_draw_attr(app, cp, mono);
}

static void mark_for(tui_app *app, pair_verdict v, const char **glyph, int *cp)
{
	switch (v) {
	case PV_PASS: *glyph = app->g.pass; *cp = CP_PASS; break;
	case PV_FAIL: *glyph = app->g.fail; *cp = CP_FAIL; break;
	case PV_UNMATCHED: *glyph = app->g.unmatched; *cp = CP_DIM; break;
	case PV_SKIPPED: *glyph = app->g.skipped; *cp = CP_DIM; break;
	default: *glyph = app->g.pending; *cp = CP_DIM; break;
	}
}

/* Name column: indent, open/closed glyph, text, then the divergence marker
 * (the text is shortened first so the marker always shows). */
static void draw_name(tui_app *app, int y, const cols *c, int indent, const char *glyph, const char *text,
		      bool diverge, attr_t attr)
{
	tui_draw_fill(stdscr, y, c->name_x, c->name_w, attr);
	int x = c->name_x + indent;
	int avail = c->name_w - indent;
	if (glyph) {
		tui_draw_str(stdscr, y, x, avail, glyph, attr);
		x += 2;
		avail -= 2;
	}
	if (avail <= 0)
		return;
	char marker[64] = "";
	if (diverge)
		snprintf(marker, sizeof(marker), " %s", app->g.diverge);
	int mw = tui_draw_width(marker);
	int tw = tui_draw_width(text);
	if (tw + mw <= avail) {
		tui_draw_str(stdscr, y, x, avail, text, attr);
		tui_draw_str(stdscr, y, x + tw, avail - tw, marker, attr | A_BOLD);
		return;
	}
	int room = avail - mw;
	if (room < 4) {
		tui_draw_str(stdscr, y, x, avail, marker + 1, attr | A_BOLD);
		return;
	}
	tui_draw_field(app, y, x, room, text, attr, false);
	tui_draw_str(stdscr, y, x + room, mw, marker, attr | A_BOLD);
}

static void draw_agg(tui_app *app, int y, const cols *c, const tagg *a, attr_t attr)
{
	char buf[64];
	snprintf(buf, sizeof(buf), "%zu of %zu fail", a->failed, a->shown);
	tui_draw_field(app, y, c->shape_x, c->shape_w, buf, attr, true);
	if (a->worst_nan)
		snprintf(buf, sizeof(buf), "nan");
	else if (a->any_worst)
		tui_draw_fmt_num(buf, sizeof(buf), a->worst);
	else
		buf[0] = '\0';
	tui_draw_field(app, y, c->rel_x, c->num_w, buf, attr, true);
	size_t matched_total = a->total;
	if (c->max_x >= 0) {
		int w = c->mark_x - 1 - c->max_x;
		if (a->done < matched_total) {
			snprintf(buf, sizeof(buf), "%zu/%zu done", a->done, matched_total);
			tui_draw_field(app, y, c->max_x, w, buf, attr, true);
		}
	}
	const char *glyph;
	int cp;
	if (a->failed)
		glyph = app->g.fail, cp = CP_FAIL;
	else if (!a->total)
		glyph = app->g.unmatched, cp = CP_DIM; /* nothing to compare: one side only */
	else if (a->done && a->done == a->total)
		glyph = app->g.pass, cp = CP_PASS;
	else
		glyph = app->g.pending, cp = CP_DIM;
	tui_draw_field(app, y, c->mark_x, 2, glyph, cell_attr(app, attr, cp, A_BOLD),
		   false);
}


/* "bf16[8,64]", with the shard count of a side of several files:
 * "bf16[8,64] ×4" (both sides alike), "bf16[4,128] ×1|×2" (one shape,
 * counts differ), "bf16[4,8,16] | bf16[4,128] ×2" (shapes differ). */
static void shape_text(tui_app *app, const dv_pair *p, char *buf, size_t size)
{
	const dv_pair_result *r = p->result;
	char bs[200], ts[200];
	dv_fmt_shape_compact(bs, sizeof(bs), dv_dtype_short_name(r->base.dtype), r->base.ndim, dv_result_shape(&r->base));
	dv_fmt_shape_compact(ts, sizeof(ts), dv_dtype_short_name(r->targ.dtype), r->targ.ndim, dv_result_shape(&r->targ));
	bool shards = p->nbase > 1 || p->ntarg > 1;
	const char *x = app->g.times, *bar = app->g.vbar;
	if (!strcmp(bs, ts)) {
		if (!shards)
			snprintf(buf, size, "%s", bs);
		else if (p->nbase == p->ntarg)
			snprintf(buf, size, "%s %s%u", bs, x, p->nbase);
		else
			snprintf(buf, size, "%s %s%u%s%s%u", bs, x, p->nbase, bar, x, p->ntarg);
		return;
	}
	char bn[32] = "", tn[32] = "";
	if (p->nbase > 1)
		snprintf(bn, sizeof(bn), " %s%u", x, p->nbase);
	if (p->ntarg > 1)
		snprintf(tn, sizeof(tn), " %s%u", x, p->ntarg);
	snprintf(buf, size, "%s%s %s %s%s", bs, bn, bar, ts, tn);
}

static void draw_tensor(tui_app *app, int y, const cols *c, const dv_pair *p, bool diverge, attr_t attr)
{
	char name[256];
	tui_state_tensor_label(app, p, name, sizeof(name));
	/* Search matches stand out, as in less and tig. */
	attr_t name_attr = attr;
	if (app->search_re && tui_state_pair_matches(app, app->search_re, (size_t)(p - app->cmp->pairs)) == DV_REGEX_MATCH)
		name_attr = cell_attr(app, attr, CP_MATCH, A_BOLD) | A_BOLD;
	draw_name(app, y, c, 4, NULL, name, diverge, name_attr);
	int right_w = c->mark_x - c->shape_x - 1;
	tui_draw_fill(stdscr, y, c->shape_x - 1, c->mark_x + 2 - (c->shape_x - 1), attr);
	pair_verdict v = tui_tree_verdict(app->cmp, p);
	const dv_pair_result *r = p->result;
	char buf[DV_ERROR_MAX + 64];
	if (v == PV_UNMATCHED) {
		snprintf(buf, sizeof(buf), "%s", p->kind == DV_PAIR_TARGET_ONLY ? "target only: no baseline file"
									      : "baseline only: no target file");
		tui_draw_field(app, y, c->shape_x, right_w, buf, cell_attr(app, attr, CP_DIM, 0), false);
	} else if (v == PV_PENDING) {
		bool running = atomic_load(&p->state) == DV_PAIR_RUNNING;
		int64_t done, total;
		char pct[32];
		const char *what = running ? "computing" : app->g.ellipsis;
		if (tui_state_pair_progress(app, (size_t)(p - app->cmp->pairs), &done, &total)) {
			snprintf(pct, sizeof(pct), "%lld%%", (long long)(done * 100 / total));
			what = pct;
		}
		tui_draw_field(app, y, c->rel_x, c->num_w, what,
			   cell_attr(app, attr, CP_DIM, 0), true);
	} else if (v == PV_CANCELLED) {
		tui_draw_field(app, y, c->shape_x, right_w, "metrics cancelled: Enter computes them",
			   cell_attr(app, attr, CP_DIM, 0), false);
	} else if (r->status == DV_RESULT_ERROR) {
		/* "PATH: reason": the row has room for the side and the reason. */
		const char *side = "", *reason = r->error;
		const dv_dumpfile *sides[2] = { p->base, p->targ };
		for (int k = 0; k < 2; k++) {
			dv_path_buf pb;
			const char *path = sides[k] ? dv_dumpfile_path(sides[k], &pb) : "";
			size_t n = strlen(path);
			if (n && !strncmp(r->error, path, n) && !strncmp(r->error + n, ": ", 2)) {
				side = k ? " (target)" : " (baseline)";
				reason = r->error + n + 2;
				break;
			}
		}
		/* An error naming no file of the pair (a logical tensor's shards
		 * or dims) is no unreadable file. */
		snprintf(buf, sizeof(buf), "%s%s: ", reason == r->error ? "error" : "unreadable", side);
		/* The reason elided in the middle: its end says what went wrong. */
		int pw = tui_draw_width(buf);
		if (pw >= right_w / 2) {
			tui_draw_field_mid(app, y, c->shape_x, right_w, reason, attr);
		} else {
			tui_draw_field(app, y, c->shape_x, pw, buf, attr, false);
			tui_draw_field_mid(app, y, c->shape_x + pw, right_w - pw, reason, attr);
		}
	} else if (r->status == DV_RESULT_SKIPPED) {
		/* A side that cannot form one tensor: the detail pane says why. */
		const char *why = r->error[0] ? r->error : "not compared";
		size_t nl = p->name ? strlen(p->name) : 0;
		if (nl && !strncmp(why, p->name, nl) && !strncmp(why + nl, ": ", 2))
			why += nl + 2; /* the row names the tensor already */
		snprintf(buf, sizeof(buf), "skipped: %s", why);
		tui_draw_field_mid(app, y, c->shape_x, right_w, buf, cell_attr(app, attr, CP_DIM, 0));
	} else if (r->status == DV_RESULT_NON_TENSOR) {
		tui_draw_field(app, y, c->shape_x, right_w, r->equal ? "non-tensor: equal" : "non-tensor: differs", attr,
			   false);
	} else if (r->status == DV_RESULT_COMPARED || r->status == DV_RESULT_SHAPE_MISMATCH) {
		shape_text(app, p, buf, sizeof(buf));
		tui_draw_field(app, y, c->shape_x, c->shape_w, buf, attr, false);
		if (r->status == DV_RESULT_SHAPE_MISMATCH) {
			tui_draw_field(app, y, c->rel_x, c->mark_x - 1 - c->rel_x, "shape mismatch", attr, false);
		} else {
			tui_draw_fmt_num(buf, sizeof(buf), r->rel_diff);
			tui_draw_field(app, y, c->rel_x, c->num_w, buf, attr, true);
			if (c->max_x >= 0) {
				tui_draw_fmt_num(buf, sizeof(buf), r->max_abs_diff);
				tui_draw_field(app, y, c->max_x, c->num_w, buf, attr, true);
			}
			if (c->mean_x >= 0) {
				tui_draw_fmt_num(buf, sizeof(buf), r->mean_abs_diff);
				tui_draw_field(app, y, c->mean_x, c->num_w, buf, attr, true);
			}
		}
	} else {
		tui_draw_field(app, y, c->rel_x, c->num_w, "cancelled", attr, true);
	}
	const char *glyph;
	int cp;
	mark_for(app, v, &glyph, &cp);
	/* A replicated copy that differs has a mark of its own: alone when the
	 * metrics pass (the verdict fails through it), after the metrics' fail
	 * mark when both fail. */
	if (dv_pair_replica_mismatch(p)) {
		bool metrics_fail = dv_comparison_metrics_verdict(app->cmp, (size_t)(p - app->cmp->pairs)) != DV_OUTCOME_PASS;
		snprintf(buf, sizeof(buf), "%s%s", metrics_fail ? app->g.fail : "", app->g.replica);
		glyph = buf;
		cp = CP_FAIL;
	}
	tui_draw_field(app, y, c->mark_x, 2, glyph, cell_attr(app, attr, cp, A_BOLD), false);
}

static void tree_draw(tui_app *app, tui_rect r, bool focused)
{
	tui_tree *t = &app->tree;
	cols c = plan(r.x, r.w);
	/* Column header on the row above the area. */
	attr_t head = tui_draw_attr(app, CP_HEAD, A_BOLD);
	tui_draw_fill(stdscr, r.y - 1, r.x, r.w, head);
	tui_draw_field(app, r.y - 1, c.name_x, c.name_w, "phase / layer / tensor", head, false);
	tui_draw_field(app, r.y - 1, c.shape_x, c.shape_w, "baseline | target", head, false);
	tui_draw_field(app, r.y - 1, c.rel_x, c.num_w, "rel_diff", head, true);
	if (c.max_x >= 0)
		tui_draw_field(app, r.y - 1, c.max_x, c.num_w, "max_abs", head, true);
	if (c.mean_x >= 0)
		tui_draw_field(app, r.y - 1, c.mean_x, c.num_w, "mean_abs", head, true);

	if (!t->nrows) {
		tui_draw_str(stdscr, r.y, r.x + 1, r.w - 1, app->filter_re ? "no tensor matches the filter (f, then Enter on an empty line, clears it)" : "no tensors", A_NORMAL);
		return;
	}
	if (app->tree.sel < app->tree_view.top)
		app->tree_view.top = app->tree.sel;
	if (app->tree.sel >= app->tree_view.top + (size_t)r.h)
		app->tree_view.top = app->tree.sel - (size_t)r.h + 1;
	if (app->tree_view.top + (size_t)r.h > t->nrows)
		app->tree_view.top = t->nrows > (size_t)r.h ? t->nrows - (size_t)r.h : 0;

	ptrdiff_t fd = app->first_div;
	size_t fd_group = fd >= 0 ? tui_tree_group_of_pair(t, (size_t)fd) : (size_t)-1;
	size_t fd_phase = fd >= 0 ? app->cmp->pairs[fd].phase : (size_t)-1;
	for (int i = 0; i < r.h; i++) {
		size_t ri = app->tree_view.top + (size_t)i;
		if (ri >= t->nrows)
			break;
		const trow *row = &t->rows[ri];
		int y = r.y + i;
		bool diverge = (row->kind == TN_PHASE && row->phase == fd_phase) ||
			       (row->kind == TN_GROUP && row->group == fd_group) ||
			       (row->kind == TN_TENSOR && fd >= 0 && row->pair == (size_t)fd);
		attr_t attr = A_NORMAL;
		if (diverge)
			attr = tui_draw_attr(app, CP_DIVERGE, A_BOLD | A_UNDERLINE);
		if (ri == app->tree.sel)
			attr = focused ? A_REVERSE | (diverge ? A_BOLD : 0) : A_BOLD | A_UNDERLINE;
		tui_draw_fill(stdscr, y, r.x, r.w, attr);
		if (row->kind == TN_PHASE) {
			const dv_phase_pairs *pp = &app->cmp->phases[row->phase];
			char label[256];
			snprintf(label, sizeof(label), "%s%s", pp->name,
				 !pp->in_base ? " (target only)" : !pp->in_targ ? " (baseline only)" : "");
			draw_name(app, y, &c, 0, t->phases[row->phase].open ? app->g.open : app->g.closed, label,
				  diverge, attr | A_BOLD);
			tagg a;
			tui_tree_agg_phase(&app->tree, row->phase, &a);
			draw_agg(app, y, &c, &a, attr);
		} else if (row->kind == TN_GROUP) {
			char label[128];
			tui_tree_group_label(&app->tree, row->group, label, sizeof(label));
			draw_name(app, y, &c, 2, t->groups[row->group].open ? app->g.open : app->g.closed, label,
				  diverge, attr);
			tagg a;
			tui_tree_agg_group(&app->tree, row->group, &a);
			draw_agg(app, y, &c, &a, attr);
		} else {
			draw_tensor(app, y, &c, &app->cmp->pairs[row->pair], diverge, attr);
		}
	}
}

static void move_sel(tui_app *app, ptrdiff_t delta)
{
	if (!app->tree.nrows)
		return;
	ptrdiff_t s = (ptrdiff_t)app->tree.sel + delta;
	if (s < 0)
		s = 0;
	if (s >= (ptrdiff_t)app->tree.nrows)
		s = (ptrdiff_t)app->tree.nrows - 1;
	tui_state_select_row(app, (size_t)s);
}

/* A page keeps one row of the last in view. The height is the layout's,
 * computed as the render does, since keys typed ahead may have opened or
 * closed a pane since the last frame. */
static int tree_page(tui_app *app)
{
	tui_layout l = tui_layout_compute(app->rows, app->cols, app->help_open || app->rules_open, app->detail_open, app->focus);
	int h = l.tree.h;
	return h > 1 ? h - 1 : 1;
}

static int tree_handle(tui_app *app, tui_action act, int key)
{
	(void)key;
	tui_tree *t = &app->tree;
	const trow *row = tui_state_selected_row(app);
	switch (act) {
	case ACT_UP: move_sel(app, -1); break;
	case ACT_DOWN: move_sel(app, 1); break;
	case ACT_PAGE_UP: move_sel(app, -tree_page(app)); break;
	case ACT_PAGE_DOWN: move_sel(app, tree_page(app)); break;
	case ACT_FIRST: move_sel(app, -(ptrdiff_t)t->nrows); break;
	case ACT_LAST: move_sel(app, (ptrdiff_t)t->nrows); break;
	case ACT_OPEN: {
		if (!row)
			break;
		if (row->kind == TN_TENSOR) {
			app->detail_open = true;
			tui_view_detail_top(app);
			app->detail_cancelled = -1;
			/* Opening asks again for metrics the user cancelled. */
			dv_pair_uncancel(&app->cmp->pairs[row->pair]);
			app->last_prio_hash = 0;
			if (app->rows < 30)
				app->focus = PANE_DETAIL; /* the pane replaces the tree */
			break;
		}
		bool *open = row->kind == TN_PHASE ? &t->phases[row->phase].open : &t->groups[row->group].open;
		if (key == TK_ENTER)
			*open = !*open;     /* Enter toggles */
		else if (!*open)
			*open = true;       /* Right/l opens, then steps into the children */
		else {
			move_sel(app, 1);
			break;
		}
		tui_state_rebuild(app);
		break;
	}
	case ACT_CLOSE:
		if (!row)
			break;
		if (row->kind == TN_PHASE) {
			t->phases[row->phase].open = false;
			tui_state_rebuild(app);
		} else if (row->kind == TN_GROUP && t->groups[row->group].open) {
			t->groups[row->group].open = false;
			tui_state_rebuild(app);
		} else {
			/* To the parent row. */
			tnode_kind want = row->kind == TN_TENSOR ? TN_GROUP : TN_PHASE;
			for (size_t r = app->tree.sel; r-- > 0;)
				if (t->rows[r].kind == want) {
					tui_state_select_row(app, r);
					break;
				}
		}
		break;
	default:
		return 0;
	}
	return TF_HANDLED | TF_REDRAW;
}

const view_ops tui_view_tree = { "tree", tree_draw, tree_handle };
