/* The explorer's views (view_tree.c, view_detail.c, view_help.c, view_rules.c): each a
 * struct view_ops table (name, draw, handle) over state of its own. */
#ifndef DUMPVIEW_TUI_VIEWS_H
#define DUMPVIEW_TUI_VIEWS_H

#include <stdbool.h>
#include <stddef.h>

#include "actions.h"

struct tui_app;

typedef struct tui_rect {
	int y, x, h, w;
} tui_rect;

typedef struct view_ops {
	const char *name;
	void (*draw)(struct tui_app *app, tui_rect r, bool focused);
	int (*handle)(struct tui_app *app, tui_action act, int key);
} view_ops;

typedef enum pane { PANE_TREE, PANE_DETAIL } pane;

/* Where each pane goes this frame: one computation for the render and for
 * the keys that page by a pane's height. */
typedef struct tui_layout {
	bool too_small;          /* below 60x15: only a notice shows */
	bool tree_shown, detail_shown, help_shown;
	tui_rect tree, detail, help;
} tui_layout;

/* The layout of a rows x cols screen: the title row and a blank one on top,
 * the status row at the bottom; with the detail open, both panes from 30
 * rows (the tree a third, from 40 rows a quarter), else the focused one. */
tui_layout tui_layout_compute(int rows, int cols, bool help_open, bool detail_open, pane focus);

/* Each view's own state, kept in the app. */
typedef struct tui_tree_view {
	size_t top;              /* first row shown */
} tui_tree_view;

typedef struct tui_detail_view {
	int scroll;
	int lines, height;       /* of the last draw, for scrolling */
	unsigned sel_gen;        /* the selection it scrolled: another starts at the top */
} tui_detail_view;

typedef struct tui_help_view {
	int scroll;
	int lines;               /* of the last draw, for scrolling */
} tui_help_view;

typedef struct tui_rules_view {
	int scroll;
	int lines;               /* of the last draw, for scrolling */
} tui_rules_view;

/* The detail pane back at its top (a tensor opened again). */
void tui_view_detail_top(struct tui_app *app);

extern const view_ops tui_view_tree, tui_view_detail, tui_view_help, tui_view_rules;

#endif
