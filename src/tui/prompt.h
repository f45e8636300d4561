/* Line input on the status row (prompt.c). */
#ifndef DUMPVIEW_TUI_PROMPT_H
#define DUMPVIEW_TUI_PROMPT_H

#include <stdbool.h>

struct tui_app;

/* Reads a line on the status row; returns a malloc'd string, or NULL when
 * cancelled (Esc) or the app is quitting. */
char *tui_prompt_read(struct tui_app *app, const char *label, const char *initial);
bool tui_prompt_yes_no(struct tui_app *app, const char *question);

#endif
