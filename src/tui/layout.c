/* The pane split, computed once a frame by the render (and by the keys that
 * page by a pane's height) from the screen size and which panes are open. */
#include "views.h"

tui_layout tui_layout_compute(int rows, int cols, bool help_open, bool detail_open, pane focus)
{
	tui_layout l = { 0 };
	if (rows < 15 || cols < 60) {
		l.too_small = true;
		return l;
	}
	/* Rows [top, bottom): the title and the tree's column header (or a
	 * blank row) above, the status row below. */
	int top = 2, bottom = rows - 1;
	tui_rect whole = { top, 0, bottom - top, cols };
	if (help_open) {
		l.help_shown = true;
		l.help = whole;
	} else if (detail_open && rows >= 30) {
		/* Both panes; the detail's title row sits between them. From 30
		 * rows the tree's third is at least 8 rows, so no lower bound is
		 * needed. */
		int th = (bottom - top - 1) / (rows >= 40 ? 4 : 3);
		l.tree_shown = l.detail_shown = true;
		l.tree = (tui_rect){ top, 0, th, cols };
		l.detail = (tui_rect){ top + th + 1, 0, bottom - (top + th + 1), cols };
	} else if (detail_open && focus == PANE_DETAIL) {
		/* Short terminals show one pane at a time; Tab switches. */
		l.detail_shown = true;
		l.detail = whole;
	} else {
		l.tree_shown = true;
		l.tree = whole;
	}
	return l;
}
