/* Keys (keys.c): key codes and names, the one canonical code of a key, the
 * key map built once from the action table, key lists as shown. */
#ifndef DUMPVIEW_TUI_KEYS_H
#define DUMPVIEW_TUI_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "actions.h"

/* Keys: characters are their code point; curses function keys are offset
 * past Unicode so the two never collide. */
#define TK_FN(k) (0x110000 + (k))
#define TK_ESC 27
#define TK_ENTER '\n'
#define TK_TAB '\t'
#define TK_CTRL(c) ((c) & 0x1f)

int tui_key_from_name(const char *name);           /* -1 if unknown */
/* The one code of a key a terminal may send in several ways (Enter as \r,
 * \n or KEY_ENTER; BS as KEY_BACKSPACE, DEL or Ctrl-H): the key reader
 * passes every key through it. */
int tui_key_canonical(int key);
void tui_key_display(const char *name, bool ascii, char *buf, size_t size);
/* Builds the key map from the action table (once; later calls return at
 * once). NULL, or what is wrong with the table (an unknown key name, a key
 * bound twice, a shared man entry with unequal keys). */
const char *tui_keymap_init(void);
tui_action tui_action_for_key(int key);
void tui_keys_display(const char *keys, bool ascii, char *buf, size_t size);

#endif
