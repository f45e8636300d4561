/* Key names and codes: parsing a name, the one canonical code of a key,
 * key lists as shown (UTF-8 arrows or ASCII words). */
#include <stdio.h>
#include <string.h>

#include "draw.h"
#include "keys.h"

/* Named keys; alias codes are other ways a terminal sends the same key. */
static const struct {
	const char *name;
	int key;
	const char *utf8, *ascii;
	int alias[2]; /* 0: none */
} named_keys[] = {
	{ "Up", TK_FN(KEY_UP), "\xe2\x86\x91", "Up", { 0 } },
	{ "Down", TK_FN(KEY_DOWN), "\xe2\x86\x93", "Down", { 0 } },
	{ "Left", TK_FN(KEY_LEFT), "\xe2\x86\x90", "Left", { 0 } },
	{ "Right", TK_FN(KEY_RIGHT), "\xe2\x86\x92", "Right", { 0 } },
	{ "PgUp", TK_FN(KEY_PPAGE), "PgUp", "PgUp", { 0 } },
	{ "PgDn", TK_FN(KEY_NPAGE), "PgDn", "PgDn", { 0 } },
	{ "Home", TK_FN(KEY_HOME), "Home", "Home", { 0 } },
	{ "End", TK_FN(KEY_END), "End", "End", { 0 } },
	{ "Enter", TK_ENTER, "Enter", "Enter", { '\r', TK_FN(KEY_ENTER) } },
	{ "Tab", TK_TAB, "Tab", "Tab", { 0 } },
	{ "Esc", TK_ESC, "Esc", "Esc", { 0 } },
	{ "BS", TK_FN(KEY_BACKSPACE), "BS", "BS", { 127, 8 } },
};
#define NNAMED (sizeof(named_keys) / sizeof(named_keys[0]))

int tui_key_from_name(const char *name)
{
	for (size_t i = 0; i < NNAMED; i++)
		if (!strcmp(name, named_keys[i].name))
			return named_keys[i].key;
	if (name[0] == 'C' && name[1] == '-' && name[2] && !name[3])
		return TK_CTRL(name[2]);
	if (name[0] && !name[1])
		return (unsigned char)name[0];
	return -1;
}

int tui_key_canonical(int key)
{
	for (size_t i = 0; i < NNAMED; i++)
		for (size_t k = 0; k < 2 && named_keys[i].alias[k]; k++)
			if (key == named_keys[i].alias[k])
				return named_keys[i].key;
	return key;
}

void tui_key_display(const char *name, bool ascii, char *buf, size_t size)
{
	for (size_t i = 0; i < NNAMED; i++)
		if (!strcmp(name, named_keys[i].name)) {
			snprintf(buf, size, "%s", ascii ? named_keys[i].ascii : named_keys[i].utf8);
			return;
		}
	if (name[0] == 'C' && name[1] == '-' && name[2] && !name[3]) {
		snprintf(buf, size, "Ctrl-%c", name[2] >= 'a' && name[2] <= 'z' ? name[2] - 32 : name[2]);
		return;
	}
	snprintf(buf, size, "%s", name);
}

/* The n-th space-separated name of keys into buf; false past the last. */
bool tui_keys_name_at(const char *keys, size_t n, char *buf, size_t size)
{
	const char *s = keys;
	for (;;) {
		s += strspn(s, " ");
		if (!*s)
			return false;
		size_t len = strcspn(s, " ");
		if (n-- == 0) {
			snprintf(buf, size, "%.*s", (int)len, s);
			return true;
		}
		s += len;
	}
}

size_t tui_keys_count(const char *keys)
{
	char one[32];
	size_t n = 0;
	while (tui_keys_name_at(keys, n, one, sizeof(one)))
		n++;
	return n;
}

void tui_keys_display(const char *keys, bool ascii, char *buf, size_t size)
{
	size_t n = 0;
	buf[0] = '\0';
	char name[32];
	for (size_t i = 0; tui_keys_name_at(keys, i, name, sizeof(name)); i++) {
		char one[32];
		tui_key_display(name, ascii, one, sizeof(one));
		if (n < size)
			n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? " " : "", one);
	}
}
