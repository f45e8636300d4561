/* A one-line prompt on the status row, fed by the same key source as the
 * rest of the TUI (terminal or script). */
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "keys.h"
#include "prompt.h"
#include "state.h"

static void delete_last_char(tui_app *app)
{
	while (app->prompt_len > 0) {
		unsigned char ch = (unsigned char)app->prompt_buf[--app->prompt_len];
		if ((ch & 0xc0) != 0x80)
			break; /* stop at the lead byte */
	}
	app->prompt_buf[app->prompt_len] = '\0';
}

char *tui_prompt_read(tui_app *app, const char *label, const char *initial)
{
	app->prompting = true;
	app->prompt_label = label;
	snprintf(app->prompt_buf, sizeof(app->prompt_buf), "%s", initial ? initial : "");
	app->prompt_len = strlen(app->prompt_buf);
	app->prompt_overflow = false;
	char *result = NULL;
	for (;;) {
		app->dirty = true;
		int key = app->loop->next_key(app);
		if (key < 0)
			break;
		if (key == TK_ENTER) {
			if (app->prompt_overflow) {
				tui_state_message(app, true, "input longer than %zu bytes: refused, nothing done",
					    sizeof(app->prompt_buf) - 1);
				break;
			}
			result = strdup(app->prompt_buf);
			break;
		}
		if (key == TK_ESC || key == TK_CTRL('g'))
			break;
		if (app->prompt_overflow)
			continue; /* the rest of an over-long paste: never taken as commands */
		if (key == TK_FN(KEY_BACKSPACE)) {
			delete_last_char(app);
		} else if (key == TK_CTRL('u')) {
			app->prompt_len = 0;
			app->prompt_buf[0] = '\0';
		} else if (key == TK_FN(KEY_RESIZE)) {
			app->rows = LINES;
			app->cols = COLS;
		} else if (key >= 32 && key < 0x110000) {
			char mb[MB_LEN_MAX + 1];
			mbstate_t st;
			memset(&st, 0, sizeof(st));
			size_t n = wcrtomb(mb, (wchar_t)key, &st);
			if (n == (size_t)-1)
				continue;
			if (app->prompt_len + n >= sizeof(app->prompt_buf)) {
				/* Refused whole at Enter: a silently cut pattern or
				 * file name would do something else than asked. */
				app->prompt_overflow = true;
				continue;
			}
			memcpy(app->prompt_buf + app->prompt_len, mb, n);
			app->prompt_len += n;
			app->prompt_buf[app->prompt_len] = '\0';
		}
	}
	app->prompting = false;
	app->prompt_overflow = false;
	app->dirty = true;
	return result;
}

bool tui_prompt_yes_no(tui_app *app, const char *question)
{
	char *ans = tui_prompt_read(app, question, "");
	bool yes = ans && (ans[0] == 'y' || ans[0] == 'Y');
	free(ans);
	return yes;
}
