/* The terminal, pipes and signals (term.c). */
#ifndef DUMPVIEW_TUI_TERM_H
#define DUMPVIEW_TUI_TERM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tui_app;

int64_t tui_term_now_ms(void);               /* CLOCK_MONOTONIC */
bool tui_term_utf8_locale(void);
/* A pipe, both ends non-blocking and close-on-exec; -1 on failure. */
int tui_term_open_pipe(int p[2]);
/* curses on the terminal, or off-screen (100x30) in the scripted mode;
 * -1 with a message in err. */
int tui_term_start(struct tui_app *app, char *err, size_t errsize);
void tui_term_stop(struct tui_app *app);
/* SIGINT, SIGTERM and SIGHUP write their number to app->sig_pipe. */
void tui_term_catch_signals(struct tui_app *app);
void tui_term_restore_signals(void);

#endif
