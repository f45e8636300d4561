/* The action table (from actions.def), key names, and the key map. */
#include <string.h>

#include "app.h"

const tui_action_info tui_actions[ACT_COUNT] = {
	[ACT_NONE] = { "NONE", "", "" },
#define ACTION(id, keys, help) [ACT_##id] = { #id, keys, help },
#include "actions.def"
#undef ACTION
};

static const struct {
	const char *name;
	int key;
	const char *utf8, *ascii;
} named_keys[] = {
	{ "Up", TK_FN(KEY_UP), "\xe2\x86\x91", "Up" },
	{ "Down", TK_FN(KEY_DOWN), "\xe2\x86\x93", "Down" },
	{ "Left", TK_FN(KEY_LEFT), "\xe2\x86\x90", "Left" },
	{ "Right", TK_FN(KEY_RIGHT), "\xe2\x86\x92", "Right" },
	{ "PgUp", TK_FN(KEY_PPAGE), "PgUp", "PgUp" },
	{ "PgDn", TK_FN(KEY_NPAGE), "PgDn", "PgDn" },
	{ "Home", TK_FN(KEY_HOME), "Home", "Home" },
	{ "End", TK_FN(KEY_END), "End", "End" },
	{ "Enter", TK_ENTER, "Enter", "Enter" },
	{ "Tab", TK_TAB, "Tab", "Tab" },
	{ "Esc", TK_ESC, "Esc", "Esc" },
	{ "BS", TK_FN(KEY_BACKSPACE), "BS", "BS" },
};

int tui_key_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof(named_keys) / sizeof(named_keys[0]); i++)
		if (!strcmp(name, named_keys[i].name))
			return named_keys[i].key;
	if (name[0] == 'C' && name[1] == '-' && name[2] && !name[3])
		return TK_CTRL(name[2]);
	if (name[0] && !name[1])
		return (unsigned char)name[0];
	return -1;
}

void tui_key_display(const char *name, bool ascii, char *buf, size_t size)
{
	for (size_t i = 0; i < sizeof(named_keys) / sizeof(named_keys[0]); i++)
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

void tui_keys_display(const char *keys, bool ascii, char *buf, size_t size)
{
	char copy[128];
	snprintf(copy, sizeof(copy), "%s", keys);
	size_t n = 0;
	buf[0] = '\0';
	char *save = NULL;
	for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char one[32];
		tui_key_display(tok, ascii, one, sizeof(one));
		if (n < size)
			n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? " " : "", one);
	}
}

tui_action tui_action_for_key(int key)
{
	/* Keys a terminal may send in more than one way. */
	if (key == '\r' || key == TK_FN(KEY_ENTER))
		key = TK_ENTER;
	for (int a = 1; a < ACT_COUNT; a++) {
		char copy[128];
		snprintf(copy, sizeof(copy), "%s", tui_actions[a].keys);
		char *save = NULL;
		for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
			if (tui_key_from_name(tok) == key)
				return (tui_action)a;
	}
	return ACT_NONE;
}

void dv_tui_print_keys(FILE *out, bool man)
{
	for (int a = 1; a < ACT_COUNT; a++) {
		char keys[128];
		tui_keys_display(tui_actions[a].keys, true, keys, sizeof(keys));
		if (man) {
			/* "Up k" -> "Up, k": one .TP entry per action. */
			fprintf(out, ".TP\n.B ");
			char copy[128];
			snprintf(copy, sizeof(copy), "%s", keys);
			char *save = NULL;
			bool first = true;
			for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
				fprintf(out, "%s%s", first ? "" : ", ", tok[0] == '\\' ? "\\e" : tok);
				first = false;
			}
			fprintf(out, "\n%s\n", tui_actions[a].help);
		} else {
			fprintf(out, "%s\t%s\n", tui_actions[a].keys, tui_actions[a].help);
		}
	}
}
