/* The key map (keymap.c): key code -> action, built once from the action
 * table. */
#ifndef DUMPVIEW_TUI_KEYMAP_H
#define DUMPVIEW_TUI_KEYMAP_H

#include "actions.h"

/* Builds the key map from the action table (once; later calls return at
 * once). NULL, or what is wrong with the table (an unknown key name, a key
 * bound twice, a shared man entry with unequal keys). */
const char *tui_keymap_init(void);
/* The action bound to a canonical key code; ACT_NONE when none. */
tui_action tui_action_for_key(int key);

#endif
