/* The explorer's global commands behind the action table (commands.c):
 * search, filter, jumps, threshold, scan toggle and the CSV exports, with
 * their prompts. */
#ifndef DUMPVIEW_TUI_COMMANDS_H
#define DUMPVIEW_TUI_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>

struct tui_app;

void tui_cmd_search(struct tui_app *app);
void tui_cmd_search_step(struct tui_app *app, int dir);
void tui_cmd_filter(struct tui_app *app);
void tui_cmd_threshold(struct tui_app *app);
void tui_cmd_scan_toggle(struct tui_app *app);
/* Moves the selection to the next (dir 1) or previous (-1) shown tensor
 * for which pred holds, opening its path; wrap: around the ends. */
bool tui_cmd_jump(struct tui_app *app, int dir, bool (*pred)(struct tui_app *, size_t), bool wrap, bool *wrapped);
bool tui_cmd_pred_failed(struct tui_app *app, size_t i);
void tui_cmd_export_selected(struct tui_app *app);
void tui_cmd_export_table(struct tui_app *app);

#endif
