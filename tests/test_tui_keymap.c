/* The explorer's key map and dispatch without a terminal: the map built
 * from actions.def is whole and consistent, the codes a terminal sends for
 * one key become one, codes past the map are no action, and dispatch gives
 * the handler's flags (quit, redraw, the too-small screen, the modal help);
 * text widths as drawn. */
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../src/tui/actions.h"
#include "../src/tui/app.h"
#include "../src/tui/draw.h"
#include "../src/tui/keymap.h"
#include "../src/tui/keys.h"
#include "../src/tui/state.h"

static void test_map_whole(void **state)
{
	(void)state;
	assert_null(tui_keymap_init());
	assert_null(tui_keymap_init()); /* built once; asking again is the same */
	for (int a = 1; a < ACT_COUNT; a++) {
		const tui_action_info *info = &tui_actions[a];
		assert_non_null(info->handler);
		assert_true(info->group >= 0 && info->group < TG_COUNT);
		assert_true(strlen(info->help) > 0);
		/* The first action of a group starts a man entry. */
		if (info->group != tui_actions[a - 1].group)
			assert_non_null(info->man);
		char keys[128];
		snprintf(keys, sizeof(keys), "%s", info->keys);
		char *save = NULL;
		int n = 0;
		for (char *tok = strtok_r(keys, " ", &save); tok; tok = strtok_r(NULL, " ", &save), n++)
			assert_int_equal(tui_action_for_key(tui_key_from_name(tok)), a);
		assert_true(n > 0);
	}
	for (int g = 0; g < TG_COUNT; g++)
		assert_true(strlen(tui_group_titles[g]) > 0);
}

static void test_canonical(void **state)
{
	(void)state;
	assert_int_equal(tui_key_canonical('\r'), TK_ENTER);
	assert_int_equal(tui_key_canonical(TK_FN(KEY_ENTER)), TK_ENTER);
	assert_int_equal(tui_key_canonical(TK_ENTER), TK_ENTER);
	assert_int_equal(tui_key_canonical(127), TK_FN(KEY_BACKSPACE));
	assert_int_equal(tui_key_canonical(8), TK_FN(KEY_BACKSPACE));
	assert_int_equal(tui_key_canonical('j'), 'j');
	assert_int_equal(tui_key_canonical(TK_FN(KEY_RESIZE)), TK_FN(KEY_RESIZE));
	/* Every code of Enter opens, whichever the reader was given. */
	assert_int_equal(tui_action_for_key(TK_ENTER), ACT_OPEN);
	assert_int_equal(tui_action_for_key('\r'), ACT_OPEN);
	assert_int_equal(tui_action_for_key(TK_FN(KEY_ENTER)), ACT_OPEN);
}

static void test_outside_map(void **state)
{
	(void)state;
	assert_int_equal(tui_action_for_key(-1), ACT_NONE);
	assert_int_equal(tui_action_for_key(0), ACT_NONE);
	assert_int_equal(tui_action_for_key('x'), ACT_NONE);
	assert_int_equal(tui_action_for_key(0xe9), ACT_NONE);     /* a non-ASCII character */
	assert_int_equal(tui_action_for_key(0x10ffff), ACT_NONE);
	assert_int_equal(tui_action_for_key(TK_FN(KEY_MAX)), ACT_NONE);
	assert_int_equal(tui_action_for_key(TK_FN(KEY_MAX) + 1), ACT_NONE);
	assert_int_equal(tui_action_for_key(TK_FN(KEY_RESIZE)), ACT_NONE);
}

static void test_dispatch(void **state)
{
	(void)state;
	tui_app *app = calloc(1, sizeof(*app));
	assert_non_null(app);
	/* The too-small screen: only q and Ctrl-L act. */
	app->rows = 10;
	app->cols = 40;
	snprintf(app->message, sizeof(app->message), "old");
	assert_int_equal(tui_dispatch(app, 'x'), 0);
	assert_string_equal(app->message, ""); /* any key clears the message */
	assert_int_equal(tui_dispatch(app, 'j'), TF_REDRAW);
	assert_int_equal(tui_dispatch(app, 'q'), TF_QUIT);
	assert_false(app->pending_clear);
	assert_int_equal(tui_dispatch(app, TK_CTRL('l')), TF_HANDLED | TF_REDRAW);
	assert_true(app->pending_clear);
	/* The help screen takes movement for its own scrolling; Esc closes it. */
	app->rows = 30;
	app->cols = 100;
	app->help_open = true;
	assert_int_equal(tui_dispatch(app, 'j'), TF_HANDLED | TF_REDRAW);
	assert_true(app->help_open);
	assert_int_equal(tui_dispatch(app, 'q'), TF_QUIT);
	assert_true(app->help_open);
	assert_int_equal(tui_dispatch(app, TK_ESC), TF_HANDLED | TF_REDRAW);
	assert_false(app->help_open);
	assert_int_equal(tui_dispatch(app, '?'), TF_HANDLED | TF_REDRAW);
	assert_true(app->help_open);
	assert_int_equal(tui_dispatch(app, '?'), TF_HANDLED | TF_REDRAW);
	assert_false(app->help_open);
	/* Tab without a detail pane says so. */
	assert_int_equal(tui_dispatch(app, TK_TAB), TF_HANDLED | TF_REDRAW);
	assert_non_null(strstr(app->message, "no detail pane"));
	free(app);
}

static void test_key_table(void **state)
{
	(void)state;
	assert_int_equal(tui_action_for_key('j'), ACT_DOWN);
	assert_int_equal(tui_action_for_key(TK_FN(KEY_DOWN)), ACT_DOWN);
	assert_int_equal(tui_action_for_key('\r'), ACT_OPEN);
	assert_int_equal(tui_action_for_key(TK_FN(KEY_RIGHT)), ACT_OPEN);
	assert_int_equal(tui_action_for_key('h'), ACT_CLOSE);
	assert_int_equal(tui_action_for_key(TK_CTRL('l')), ACT_REDRAW);
	assert_int_equal(tui_action_for_key(']'), ACT_NEXT_FAIL);
	assert_int_equal(tui_action_for_key('E'), ACT_EXPORT_TABLE);
	assert_int_equal(tui_action_for_key('x'), ACT_NONE);
	/* No key is bound twice. */
	for (int a = 1; a < ACT_COUNT; a++) {
		char copy[128];
		snprintf(copy, sizeof(copy), "%s", tui_actions[a].keys);
		char *save = NULL;
		for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
			int key = tui_key_from_name(tok);
			assert_true(key >= 0);
			assert_int_equal(tui_action_for_key(key), a);
		}
		assert_true(strlen(tui_actions[a].help) > 0);
	}
	char buf[64];
	tui_keys_display("Up k", true, buf, sizeof(buf));
	assert_string_equal(buf, "Up k");
	tui_keys_display("C-L", true, buf, sizeof(buf));
	assert_string_equal(buf, "Ctrl-L");
}

/* Names are measured as drawn: a control, C1, bidi override or invalid
 * byte counts the width of its visible escape, so columns line up. */
static void test_str_width_counts_escapes(void **state)
{
	(void)state;
	assert_non_null(setlocale(LC_ALL, "C.UTF-8"));
	assert_int_equal(tui_draw_width("abc"), 3);
	assert_int_equal(tui_draw_width("a\x1b[31mb"), 1 + 4 + 4 + 1);   /* \x1b */
	assert_int_equal(tui_draw_width("\xff"), 4);                     /* \xff */
	assert_int_equal(tui_draw_width("\xc2\x9b"), 6);                 /* \u009b */
	assert_int_equal(tui_draw_width("x\xe2\x80\xaey"), 8);          /* \u202e */
	assert_int_equal(tui_draw_width("\xc3\xa9"), 1);                 /* U+00E9 as is */
	assert_int_equal(tui_draw_width("\xe4\xb8\xad"), 2);             /* a wide character */
	/* The widest suffix that fits never splits an escape or a character. */
	int w;
	assert_string_equal(tui_draw_tail("abc\x1b" "def", 5, &w), "def");
	assert_int_equal(w, 3);
	assert_string_equal(tui_draw_tail("abc\x1b" "def", 7, &w), "\x1b" "def");
	assert_int_equal(w, 7);
	assert_string_equal(tui_draw_tail("x\xe4\xb8\xad", 2, &w), "\xe4\xb8\xad");
	assert_int_equal(w, 2);
	assert_string_equal(tui_draw_tail("abc", 10, &w), "abc");
	assert_int_equal(w, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_table),
		cmocka_unit_test(test_str_width_counts_escapes),
		cmocka_unit_test(test_map_whole),
		cmocka_unit_test(test_canonical),
		cmocka_unit_test(test_outside_map),
		cmocka_unit_test(test_dispatch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
