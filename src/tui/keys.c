/* Key names, the key map built from the action table, and the man page's
 * KEYS section printed from that table. */
#include <pthread.h>
#include <string.h>

#include "actions.h"
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
static bool key_name_at(const char *keys, size_t n, char *buf, size_t size)
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

static size_t key_count(const char *keys)
{
	char one[32];
	size_t n = 0;
	while (key_name_at(keys, n, one, sizeof(one)))
		n++;
	return n;
}

void tui_keys_display(const char *keys, bool ascii, char *buf, size_t size)
{
	size_t n = 0;
	buf[0] = '\0';
	char name[32];
	for (size_t i = 0; key_name_at(keys, i, name, sizeof(name)); i++) {
		char one[32];
		tui_key_display(name, ascii, one, sizeof(one));
		if (n < size)
			n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? " " : "", one);
	}
}

/* ------------------------------------------------------------------ */
/* the key map: key code -> action, filled once from the table */

/* Bound keys are ASCII characters (Ctrl-x included) or curses function keys. */
static unsigned char map_char[128], map_fn[KEY_MAX + 1];
_Static_assert(ACT_COUNT <= 256, "an action must fit the key map's bytes");
static char map_error[256];
static pthread_once_t map_once = PTHREAD_ONCE_INIT;

static unsigned char *map_slot(int key)
{
	if (key >= 0 && key < 128)
		return &map_char[key];
	if (key >= TK_FN(0) && key <= TK_FN(KEY_MAX))
		return &map_fn[key - TK_FN(0)];
	return NULL;
}

static void map_build(void)
{
	for (int a = 1; a < ACT_COUNT && !map_error[0]; a++) {
		const tui_action_info *info = &tui_actions[a];
		if (info->group < tui_actions[a - 1].group)
			snprintf(map_error, sizeof(map_error), "%s: listed apart from the rest of its group", info->name);
		if (!info->man && (a == 1 || info->group != tui_actions[a - 1].group ||
				   key_count(info->keys) != key_count(tui_actions[a - 1].keys)))
			snprintf(map_error, sizeof(map_error),
				 "%s: shares a man entry with %s, which is of another group or has another number of keys",
				 info->name, tui_actions[a - 1].name);
		char name[32];
		for (size_t i = 0; key_name_at(info->keys, i, name, sizeof(name)) && !map_error[0]; i++) {
			unsigned char *slot = map_slot(tui_key_from_name(name));
			if (!slot)
				snprintf(map_error, sizeof(map_error), "%s: unknown key name '%s'", info->name, name);
			else if (*slot)
				snprintf(map_error, sizeof(map_error), "key '%s' is bound to both %s and %s", name,
					 tui_actions[*slot].name, info->name);
			else
				*slot = (unsigned char)a;
		}
		if (key_count(info->keys) == 0 && !map_error[0])
			snprintf(map_error, sizeof(map_error), "%s: no key", info->name);
	}
	/* The other codes of a named key act as it does. */
	for (size_t i = 0; i < NNAMED; i++)
		for (size_t k = 0; k < 2 && named_keys[i].alias[k]; k++) {
			unsigned char *to = map_slot(named_keys[i].alias[k]), *from = map_slot(named_keys[i].key);
			if (to && from && !*to)
				*to = *from;
		}
}

const char *tui_keymap_init(void)
{
	pthread_once(&map_once, map_build);
	return map_error[0] ? map_error : NULL;
}

tui_action tui_action_for_key(int key)
{
	tui_keymap_init();
	unsigned char *slot = map_slot(key);
	return slot ? (tui_action)*slot : ACT_NONE;
}

/* ------------------------------------------------------------------ */
/* the man page's KEYS section */

/* One argument of a roff macro line: '-' as \-, '\' as \e, '"' as \(dq. */
static void roff_word(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '-')
			fputs("\\-", out);
		else if (*s == '\\')
			fputs("\\e", out);
		else if (*s == '"')
			fputs("\\(dq", out);
		else
			fputc(*s, out);
	}
}

/* The keys of actions [first, first+n) as one .B/.BR line: "Up/Down, k/j"
 * (keys bold, separators roman). */
static void man_keys(FILE *out, int first, int n)
{
	size_t nkeys = key_count(tui_actions[first].keys);
	fputs(nkeys * (size_t)n > 1 ? ".BR " : ".B ", out);
	for (size_t i = 0; i < nkeys; i++) {
		if (i)
			fputs(" \", \" ", out);
		for (int a = first; a < first + n; a++) {
			char name[32], shown[32];
			key_name_at(tui_actions[a].keys, i, name, sizeof(name));
			tui_key_display(name, true, shown, sizeof(shown));
			if (a > first)
				fputs(" / ", out);
			roff_word(out, shown);
		}
	}
	fputc('\n', out);
}

int dv_tui_print_keys(FILE *out, char *err, size_t errsize)
{
	const char *bad = tui_keymap_init();
	if (bad) {
		snprintf(err, errsize, "the action table: %s", bad);
		return -1;
	}
	fputs(".SH KEYS\n", out);
	for (int a = 1; a < ACT_COUNT;) {
		if (tui_actions[a].group != tui_actions[a - 1].group || a == 1)
			fprintf(out, ".SS %s\n", tui_group_titles[tui_actions[a].group]);
		int n = 1;
		while (a + n < ACT_COUNT && !tui_actions[a + n].man)
			n++;
		fputs(".TP\n", out);
		man_keys(out, a, n);
		fprintf(out, "%s\n", tui_actions[a].man);
		a += n;
	}
	return 0;
}
