/* The title and status bars (bars.c), drawn each frame around the panes. */
#ifndef DUMPVIEW_TUI_BARS_H
#define DUMPVIEW_TUI_BARS_H

struct tui_app;

/* Row 0: the widest form that fits; the first divergence is dropped last. */
void tui_bars_title(struct tui_app *app);
/* The last row: a prompt being typed, else a message or export progress,
 * else the selection's path; the sort and key hints on the right. */
void tui_bars_status(struct tui_app *app);

#endif
