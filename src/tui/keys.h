/* Keys (keys.c): key codes and names, the one canonical code of a key, key
 * lists as shown. Knows nothing of actions (the key map is keymap.h). */
#ifndef DUMPVIEW_TUI_KEYS_H
#define DUMPVIEW_TUI_KEYS_H

#include <stdbool.h>
#include <stddef.h>

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
/* A space-separated key list ("Up k") as shown: "Up k", "Ctrl-L". */
void tui_keys_display(const char *keys, bool ascii, char *buf, size_t size);
/* The n-th name of a key list into buf; false past the last. */
bool tui_keys_name_at(const char *keys, size_t n, char *buf, size_t size);
size_t tui_keys_count(const char *keys);

#endif
