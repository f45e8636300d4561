/* The scripted mode used by the tests (script.c): DUMPVIEW_SCRIPT's keys and
 * commands (:save-display, :hold-computes, ...), off-screen drawing. */
#ifndef DUMPVIEW_TUI_SCRIPT_H
#define DUMPVIEW_TUI_SCRIPT_H

#include <stdbool.h>
#include <stdint.h>

struct tui_app;

/* The next key of the script, running its commands; -1 at the end. */
int tui_script_next_key(struct tui_app *app);
/* An <Esc> typed ahead on the script's current line is taken (true), as a
 * long match loop takes an Esc waiting in the terminal's input. */
bool tui_script_take_esc(struct tui_app *app);
/* Called from every compute's progress report: blocks while :hold-computes
 * is on and the compute has more than one chunk left (scripted mode only). */
void tui_script_hold_point(struct tui_app *app, int64_t done, int64_t total);
/* The same as a progress hook (ctx: the app), for the scan and the jobs. */
void tui_script_scan_progress(void *app, int64_t done, int64_t total);

#endif
