/* Drawing helpers: colours (with a monochrome fallback), width-aware string
 * output for UTF-8 text, and number formats shared by the views. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "draw.h"
#include "state.h"
#include "dumpview/escape.h"

void tui_draw_init_colors(tui_app *app)
{
	if (!app->color)
		return;
	start_color();
	use_default_colors();
	init_pair(CP_TITLE, COLOR_WHITE, COLOR_BLUE);
	init_pair(CP_STATUS, COLOR_BLACK, COLOR_CYAN);
	init_pair(CP_PASS, COLOR_GREEN, -1);
	init_pair(CP_FAIL, COLOR_RED, -1);
	init_pair(CP_DIVERGE, COLOR_BLACK, COLOR_YELLOW);
	init_pair(CP_SELECT, COLOR_BLACK, COLOR_WHITE);
	init_pair(CP_DIM, COLOR_BLUE, -1);
	init_pair(CP_HEAD, COLOR_CYAN, -1);
	init_pair(CP_MATCH, COLOR_MAGENTA, -1);
	/* A heat ramp: cold to hot. */
	static const short ramp8[HEAT_LEVELS] = { COLOR_BLUE, COLOR_CYAN, COLOR_GREEN, COLOR_YELLOW, COLOR_RED };
	static const short ramp256[HEAT_LEVELS] = { 17, 31, 71, 214, 196 };
	for (int i = 0; i < HEAT_LEVELS; i++)
		init_pair(CP_HEAT0 + i, COLORS >= 256 ? ramp256[i] : ramp8[i], -1);
}

attr_t tui_draw_attr(tui_app *app, int pair_id, attr_t mono)
{
	if (app->color)
		return COLOR_PAIR(pair_id) | (mono & (A_BOLD | A_UNDERLINE));
	return mono;
}

/* One drawing unit at s: a character drawn as is, or (a control, C1, bidi
 * override or invalid byte, as a name may hold) its visible escape such as
 * "\x1b". *len gets its bytes; *esc is set to the escape text or NULL.
 * Returns its display width: what is measured is exactly what is drawn. */
static int unit_width(const char *s, size_t *len, char escbuf[8], const char **esc)
{
	unsigned char c = (unsigned char)s[0];
	if (c >= 0x20 && c < 0x7f) { /* printable ASCII: the common case */
		*len = 1;
		*esc = NULL;
		return 1;
	}
	if (dv_term_unit(s, strnlen(s, 4), len, escbuf)) {
		*esc = escbuf;
		return (int)strlen(escbuf);
	}
	*esc = NULL;
	mbstate_t st;
	memset(&st, 0, sizeof(st));
	wchar_t wc;
	size_t n = mbrtowc(&wc, s, *len, &st);
	if (n == (size_t)-1 || n == (size_t)-2 || n == 0)
		return 1;
	int w = wcwidth(wc);
	return w < 0 ? 1 : w;
}

int tui_draw_width(const char *s)
{
	int w = 0;
	char eb[8];
	const char *esc;
	while (*s) {
		size_t len;
		w += unit_width(s, &len, eb, &esc);
		s += len;
	}
	return w;
}

const char *tui_draw_tail(const char *s, int maxw, int *width)
{
	int total = tui_draw_width(s);
	char eb[8];
	const char *esc;
	while (total > maxw && *s) {
		size_t len;
		total -= unit_width(s, &len, eb, &esc);
		s += len;
	}
	*width = total;
	return s;
}

int tui_draw_str(WINDOW *win, int y, int x, int maxw, const char *s, attr_t attr)
{
	if (maxw <= 0)
		return 0;
	int w = 0;
	bool moved = false;
	wattr_set(win, attr & ~A_COLOR, PAIR_NUMBER(attr), NULL);
	/* Runs of plain characters go out in one call; escapes in their own. */
	const char *run = s;
	size_t bytes = 0;
	for (;;) {
		size_t len = 0;
		char eb[8];
		const char *esc = NULL;
		int cw = 0;
		bool end = !s[bytes];
		if (!end) {
			cw = unit_width(s + bytes, &len, eb, &esc);
			end = w + cw > maxw;
		}
		if ((end || esc) && s + bytes > run) {
			if (!moved)
				wmove(win, y, x);
			moved = true;
			waddnstr(win, run, (int)(s + bytes - run));
		}
		if (end)
			break;
		if (esc) {
			if (!moved)
				wmove(win, y, x);
			moved = true;
			waddstr(win, esc);
			run = s + bytes + len;
		}
		w += cw;
		bytes += len;
	}
	wattr_set(win, A_NORMAL, 0, NULL);
	return w;
}

void tui_draw_fill(WINDOW *win, int y, int x, int width, attr_t attr)
{
	if (width <= 0)
		return;
	wattr_set(win, attr & ~A_COLOR, PAIR_NUMBER(attr), NULL);
	mvwhline(win, y, x, ' ', width);
	wattr_set(win, A_NORMAL, 0, NULL);
}

void tui_draw_field(tui_app *app, int y, int x, int width, const char *s, attr_t attr, bool right)
{
	if (width <= 0)
		return;
	int sw = tui_draw_width(s);
	tui_draw_fill(stdscr, y, x, width, attr);
	if (sw <= width) {
		tui_draw_str(stdscr, y, right ? x + width - sw : x, width, s, attr);
		return;
	}
	int ew = tui_draw_width(app->g.ellipsis);
	int used = tui_draw_str(stdscr, y, x, width - ew, s, attr);
	tui_draw_str(stdscr, y, x + used, ew, app->g.ellipsis, attr);
}

void tui_draw_field_mid(tui_app *app, int y, int x, int width, const char *s, attr_t attr)
{
	if (width <= 0)
		return;
	tui_draw_fill(stdscr, y, x, width, attr);
	if (tui_draw_width(s) <= width) {
		tui_draw_str(stdscr, y, x, width, s, attr);
		return;
	}
	/* The end (an error's reason) gets two thirds; the start the rest. */
	int ew = tui_draw_width(app->g.ellipsis);
	int room = width - ew;
	int tw;
	const char *tail = tui_draw_tail(s, room - room / 3, &tw);
	int used = tui_draw_str(stdscr, y, x, room - tw, s, attr);
	used += tui_draw_str(stdscr, y, x + used, ew, app->g.ellipsis, attr);
	tui_draw_str(stdscr, y, x + used, tw, tail, attr);
}

void tui_draw_fmt_num(char *buf, size_t size, double v)
{
	if (isnan(v))
		snprintf(buf, size, "nan");
	else if (isinf(v))
		snprintf(buf, size, v < 0 ? "-inf" : "inf");
	else if (v == 0)
		snprintf(buf, size, "0");
	else
		snprintf(buf, size, "%.3e", v);
}

void tui_draw_fmt_stat(char *buf, size_t size, double v)
{
	if (isnan(v))
		snprintf(buf, size, "nan");
	else if (isinf(v))
		snprintf(buf, size, v < 0 ? "-inf" : "inf");
	else
		snprintf(buf, size, "%.6g", v);
}

static const tui_glyphs glyphs_utf8 = {
	.pass = "\xe2\x9c\x93", .fail = "\xe2\x9c\x97", .pending = "\xc2\xb7", .running = "\xe2\x80\xa6",
	.unmatched = "-", .skipped = "\xe2\x89\xa0", .open = "\xe2\x96\xbe", .closed = "\xe2\x96\xb8",
	.diverge = "\xc2\xbb first divergence", .ellipsis = "\xe2\x80\xa6", .vbar = "|", .hline = "\xe2\x94\x80",
	.replica = "R", .times = "\xc3\x97",
	.spark = { " ", "\xe2\x96\x81", "\xe2\x96\x82", "\xe2\x96\x83", "\xe2\x96\x84", "\xe2\x96\x85",
		   "\xe2\x96\x86", "\xe2\x96\x87", "\xe2\x96\x88" },
	.heat = { " ", "\xe2\x96\x91", "\xe2\x96\x92", "\xe2\x96\x93", "\xe2\x96\x88" },
};

static const tui_glyphs glyphs_ascii = {
	.pass = "+", .fail = "x", .pending = ".", .running = "~", .unmatched = "-", .skipped = "#", .open = "v", .closed = ">",
	.diverge = ">> first divergence", .ellipsis = "~", .vbar = "|", .hline = "-",
	.replica = "R", .times = "x",
	.spark = { " ", ".", ".", ":", ":", "=", "=", "#", "#" },
	.heat = { " ", ".", ":", "*", "#" },
};

const tui_glyphs *tui_draw_glyphs(bool ascii)
{
	return ascii ? &glyphs_ascii : &glyphs_utf8;
}

void tui_draw_count(size_t v, char *buf, size_t size)
{
	char digits[32], n[48];
	int len = snprintf(digits, sizeof(digits), "%zu", v), k = 0;
	for (int i = 0; i < len; i++) {
		if (i && (len - i) % 3 == 0)
			n[k++] = ' ';
		n[k++] = digits[i];
	}
	n[k] = '\0';
	snprintf(buf, size, "%s", n);
}
