/* Drawing helpers (draw.c): colours and attributes, glyph sets, text clipped
 * to display columns (foreign bytes escaped), number formats. */
#ifndef DUMPVIEW_TUI_DRAW_H
#define DUMPVIEW_TUI_DRAW_H

#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
/* "12 345": a count with its thousands apart, easier to read as it climbs. */
void tui_draw_count(size_t v, char *buf, size_t size);

#endif
#include <curses.h>
#include <stdbool.h>
#include <stddef.h>

struct tui_app;

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
	const char *replica;     /* a replicated copy differs (its own mark beside the verdict's) */
	const char *times;       /* a shard count: "[4,128] ×2" */
	const char *spark[9];    /* 0..8 eighths */
	const char *heat[HEAT_LEVELS];
} tui_glyphs;

/* The marks and lines drawn: UTF-8, or ASCII (--ascii, a non-UTF-8 locale). */
const tui_glyphs *tui_draw_glyphs(bool ascii);

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

#endif
