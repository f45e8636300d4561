/* The key map, built once from the action table (key code -> action), and
 * the man page's KEYS section written from the same table. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "actions.h"
#include "draw.h"
#include "keymap.h"
#include "keys.h"
#include "dumpview/tui.h"

/* Bound keys are ASCII characters (Ctrl-x included) or curses function keys.
 * The map is process-wide: built once (pthread_once) from the constant
 * table, read-only after. */
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
				   tui_keys_count(info->keys) != tui_keys_count(tui_actions[a - 1].keys)))
			snprintf(map_error, sizeof(map_error),
				 "%s: shares a man entry with %s, which is of another group or has another number of keys",
				 info->name, tui_actions[a - 1].name);
		char name[32];
		for (size_t i = 0; tui_keys_name_at(info->keys, i, name, sizeof(name)) && !map_error[0]; i++) {
			unsigned char *slot = map_slot(tui_key_from_name(name));
			if (!slot)
				snprintf(map_error, sizeof(map_error), "%s: unknown key name '%s'", info->name, name);
			else if (*slot)
				snprintf(map_error, sizeof(map_error), "key '%s' is bound to both %s and %s", name,
					 tui_actions[*slot].name, info->name);
			else
				*slot = (unsigned char)a;
		}
		if (tui_keys_count(info->keys) == 0 && !map_error[0])
			snprintf(map_error, sizeof(map_error), "%s: no key", info->name);
	}
	/* The other codes of a named key (its aliases) act as it does. */
	for (int c = 0; c < 128 + KEY_MAX + 1; c++) {
		int key = c < 128 ? c : TK_FN(c - 128);
		unsigned char *to = map_slot(key), *from = map_slot(tui_key_canonical(key));
		if (to && from && to != from && !*to)
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
	size_t nkeys = tui_keys_count(tui_actions[first].keys);
	fputs(nkeys * (size_t)n > 1 ? ".BR " : ".B ", out);
	for (size_t i = 0; i < nkeys; i++) {
		if (i)
			fputs(" \", \" ", out);
		for (int a = first; a < first + n; a++) {
			char name[32], shown[32];
			tui_keys_name_at(tui_actions[a].keys, i, name, sizeof(name));
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
