/* The `?` help screen, generated from the action table, by group. */
#include <string.h>

#include "actions.h"
#include "draw.h"
#include "keys.h"
#include "state.h"
#include "views.h"

static void help_draw(tui_app *app, tui_rect r, bool focused)
{
	(void)focused;
	attr_t title = tui_draw_attr(app, CP_TITLE, A_REVERSE | A_BOLD);
	tui_draw_fill(stdscr, r.y - 1, r.x, r.w, title);
	tui_draw_str(stdscr, r.y - 1, r.x + 1, r.w - 1, "help: keys (? or Esc closes)", title);
	int line = 0;
#define PUT_LINE(...)                                                                   \
	do {                                                                            \
		int l_ = line++ - app->help_view.scroll;                                     \
		if (l_ >= 0 && l_ < r.h) {                                              \
			__VA_ARGS__;                                                    \
		}                                                                       \
	} while (0)
	/* By group (actions.def keeps a group's actions together), each under
	 * its heading. */
	for (int a = 1; a < ACT_COUNT; a++) {
		if (a == 1 || tui_actions[a].group != tui_actions[a - 1].group)
			PUT_LINE(tui_draw_str(stdscr, r.y + l_, r.x + 1, r.w - 1, tui_group_titles[tui_actions[a].group],
					  tui_draw_attr(app, CP_HEAD, A_BOLD)));
		char keys[128];
		tui_keys_display(tui_actions[a].keys, app->ascii, keys, sizeof(keys));
		PUT_LINE(tui_draw_field(app, r.y + l_, r.x + 2, 16, keys, A_BOLD, false);
			 tui_draw_str(stdscr, r.y + l_, r.x + 19, r.w - 19, tui_actions[a].help, A_NORMAL));
	}
	line++;
	char buf[256];
	snprintf(buf, sizeof(buf), "%s passes   %s fails   %s not computed yet   %s one side missing", app->g.pass,
		 app->g.fail, app->g.pending, app->g.unmatched);
	PUT_LINE(tui_draw_str(stdscr, r.y + l_, r.x + 2, r.w - 2, buf, A_NORMAL));
	snprintf(buf, sizeof(buf), "%s non-tensor values differ: skipped as the comparator does, never a failure",
		 app->g.skipped);
	PUT_LINE(tui_draw_str(stdscr, r.y + l_, r.x + 2, r.w - 2, buf, A_NORMAL));
	snprintf(buf, sizeof(buf), "%s a replicated copy differs (replica mismatch): a failure even when the metrics pass",
		 app->g.replica);
	PUT_LINE(tui_draw_str(stdscr, r.y + l_, r.x + 2, r.w - 2, buf, A_NORMAL));
	snprintf(buf, sizeof(buf), "%s4 a logical tensor of 4 files (ranks) read as one", app->g.times);
	PUT_LINE(tui_draw_str(stdscr, r.y + l_, r.x + 2, r.w - 2, buf, A_NORMAL));
	snprintf(buf, sizeof(buf), "%s marks the first failing phase, layer and tensor in execution order",
		 app->g.diverge);
	PUT_LINE(tui_draw_str(stdscr, r.y + l_, r.x + 2, r.w - 2, buf, A_NORMAL));
	PUT_LINE(tui_draw_str(stdscr, r.y + l_, r.x + 2, r.w - 2,
			  "rel_diff = 1 - 2*sum(b*t) / sum(b^2 + t^2); a tensor fails when rel_diff > threshold or NaN",
			  A_NORMAL));
	PUT_LINE(tui_draw_str(stdscr, r.y + l_, r.x + 2, r.w - 2,
			  "search and filter: PCRE2 regex on tensor names and file names, smart case", A_NORMAL));
#undef PUT_LINE
	app->help_view.lines = line;
}

static int help_handle(tui_app *app, tui_action act, int key)
{
	(void)key;
	switch (act) {
	case ACT_UP: app->help_view.scroll--; break;
	case ACT_DOWN: app->help_view.scroll++; break;
	case ACT_PAGE_UP: app->help_view.scroll -= app->rows / 2; break;
	case ACT_PAGE_DOWN: app->help_view.scroll += app->rows / 2; break;
	case ACT_FIRST: app->help_view.scroll = 0; break;
	case ACT_LAST: app->help_view.scroll = app->help_view.lines; break;
	case ACT_HELP:
	case ACT_CANCEL:
	case ACT_CLOSE:
		app->help_open = false;
		break;
	case ACT_QUIT:
		return 0;
	default:
		/* Other keys close help too (after it, they act on the tree). */
		app->help_open = false;
		return 0;
	}
	if (app->help_view.scroll > app->help_view.lines - 1)
		app->help_view.scroll = app->help_view.lines - 1;
	if (app->help_view.scroll < 0)
		app->help_view.scroll = 0;
	return TF_HANDLED | TF_REDRAW;
}

const view_ops tui_view_help = { "help", help_draw, help_handle };
