/* The explorer's top (app.c): the terminal, the one event loop and the
 * dispatch of a key; everything else is below it. dv_tui_run (dumpview/tui.h)
 * is its entry point. */
#ifndef DUMPVIEW_TUI_APP_H
#define DUMPVIEW_TUI_APP_H

struct tui_app;

/* Looks the key's action up and calls its handler (or the modal help's);
 * the TF_* flags. */
int tui_dispatch(struct tui_app *app, int key);

#endif
