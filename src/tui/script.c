/* The scripted mode (DUMPVIEW_SCRIPT, in the manner of tig): keys and
 * commands read from a file instead of the terminal, curses drawing
 * off-screen, and :save-display writing the screen as text for the golden
 * tests. See tests/tui/README for the commands. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "draw.h"
#include "jobs.h"
#include "keys.h"
#include "script.h"
#include "state.h"

static attr_t getattrs_of(const cchar_t *cc)
{
	attr_t attrs;
	short pair;
	wchar_t wch[CCHARW_MAX + 1];
	if (getcchar(cc, wch, &attrs, &pair, NULL) == ERR)
		return 0;
	return attrs;
}

static void save_display(tui_app *app, const char *name)
{
	FILE *f = fopen(name, "w");
	if (!f) {
		tui_state_message(app, true, "%s: %s", name, strerror(errno));
		return;
	}
	for (int y = 0; y < LINES; y++) {
		char line[8192];
		size_t n = 0, keep = 0;
		for (int x = 0; x < COLS && n + 16 < sizeof(line); x++) {
			cchar_t cc;
			if (mvwin_wch(stdscr, y, x, &cc) == ERR)
				break;
			wchar_t wch[CCHARW_MAX + 1];
			attr_t attrs;
			short pair;
			if (getcchar(&cc, wch, &attrs, &pair, NULL) == ERR)
				continue;
			if (!wch[0])
				continue; /* the second column of a wide character */
			for (int k = 0; wch[k] && k < CCHARW_MAX; k++) {
				mbstate_t st;
				memset(&st, 0, sizeof(st));
				size_t m = wcrtomb(line + n, wch[k], &st);
				if (m != (size_t)-1)
					n += m;
			}
			if (!(wch[0] == L' ' && !wch[1]))
				keep = n;
		}
		fwrite(line, 1, keep, f);
		fputc('\n', f);
	}
	/* What plain text cannot show: the selected row (reverse video) and the
	 * rows highlighted as the first divergence, by screen line (1-based). */
	fprintf(f, "-- selected:");
	for (int y = 1; y < LINES - 1; y++) {
		cchar_t cc;
		if (mvwin_wch(stdscr, y, 1, &cc) != ERR && (getattrs_of(&cc) & A_REVERSE))
			fprintf(f, " %d", y + 1);
	}
	fprintf(f, "\n-- divergence:");
	for (int y = 1; y < LINES - 1; y++) {
		cchar_t cc;
		if (mvwin_wch(stdscr, y, 1, &cc) == ERR)
			continue;
		attr_t attrs;
		short pair;
		wchar_t wch[CCHARW_MAX + 1];
		getcchar(&cc, wch, &attrs, &pair, NULL);
		if ((app->color && pair == CP_DIVERGE) || (!app->color && (attrs & A_UNDERLINE) && !(attrs & A_REVERSE)))
			fprintf(f, " %d", y + 1);
	}
	/* Tensor names drawn as search matches (colour only: CP_MATCH). */
	fprintf(f, "\n-- match:");
	for (int y = 1; y < LINES - 1; y++) {
		cchar_t cc;
		if (!app->color || mvwin_wch(stdscr, y, 4, &cc) == ERR)
			continue;
		attr_t attrs;
		short pair;
		wchar_t wch[CCHARW_MAX + 1];
		getcchar(&cc, wch, &attrs, &pair, NULL);
		if (pair == CP_MATCH)
			fprintf(f, " %d", y + 1);
	}
	fputc('\n', f);
	fclose(f);
}

static void wait_jobs(tui_app *app)
{
	/* Rendering may ask for more work (rows now visible), and work may finish
	 * while a frame is drawn: done once the jobs were idle before a frame and
	 * still are after it, so the frame shows their results. */
	if (atomic_load(&app->script_hold)) {
		/* Held computes never go idle: show what is there now. */
		app->loop->poll(app, 0);
		app->loop->render(app);
		return;
	}
	for (int guard = 0; guard < 100000 && !app->quit; guard++) {
		bool was_idle = tui_jobs_idle(&app->jobs);
		app->loop->render(app);
		if (was_idle && tui_jobs_idle(&app->jobs))
			return;
		app->loop->poll(app, 20);
	}
}

void tui_script_hold_point(tui_app *app, int64_t done, int64_t total)
{
	while (app->test_stuck)
		pause(); /* deaf to cancel and quit, as a stuck read(2) is */
	if (!atomic_load(&app->script_hold) || done >= total)
		return;
	atomic_fetch_add(&app->script_held, 1);
	while (atomic_load(&app->script_hold)) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	atomic_fetch_sub(&app->script_held, 1);
}

void tui_script_scan_progress(void *app, int64_t done, int64_t total)
{
	tui_script_hold_point(app, done, total);
}

/* Until n computes are held (:hold-computes), at most 30 s. */
static void wait_held(tui_app *app, int n)
{
	for (int i = 0; i < 3000 && !app->quit && atomic_load(&app->script_held) < n; i++) {
		app->loop->render(app);
		app->loop->poll(app, 10);
	}
	if (atomic_load(&app->script_held) < n)
		tui_state_message(app, true, "script line %d: :wait-held: %d of %d computes held", app->script_line,
			    atomic_load(&app->script_held), n);
}

static void wait_scan(tui_app *app)
{
	if (!app->scan)
		return;
	while (!app->quit) {
		if (dv_scan_finished(app->scan))
			break;
		app->loop->poll(app, 50);
	}
	tui_state_drain(app->scan_pipe[0]);
	tui_state_update_first_div(app);
	app->dirty = true;
}

static void script_command(tui_app *app, char *cmd)
{
	char *arg = cmd + strcspn(cmd, " \t");
	if (*arg)
		*arg++ = '\0';
	while (*arg == ' ' || *arg == '\t')
		arg++;
	if (!strcmp(cmd, "save-display")) {
		wait_jobs(app);
		save_display(app, arg);
	} else if (!strcmp(cmd, "resize")) {
		int w = 0, h = 0;
		if (sscanf(arg, "%d %d", &w, &h) == 2 && w > 0 && h > 0)
			resizeterm(h, w);
		app->dirty = true;
	} else if (!strcmp(cmd, "wait-scan")) {
		wait_scan(app);
	} else if (!strcmp(cmd, "wait")) {
		wait_jobs(app);
	} else if (!strcmp(cmd, "hold-computes")) {
		atomic_store(&app->script_hold, 1);
	} else if (!strcmp(cmd, "release-computes")) {
		atomic_store(&app->script_hold, 0);
	} else if (!strcmp(cmd, "release-listing")) {
		app->loop->finish_listing(app);
	} else if (!strcmp(cmd, "wait-held")) {
		wait_held(app, *arg ? atoi(arg) : 1);
	} else {
		tui_state_message(app, true, "script line %d: unknown command :%s", app->script_line, cmd);
	}
}

bool tui_script_take_esc(tui_app *app)
{
	if (!app->script_have || strncmp(app->script_buf + app->script_pos, "<Esc>", 5))
		return false;
	app->script_pos += 5;
	return true;
}

/* The next key of the script, running commands on the way; -1 at its end. */
int tui_script_next_key(tui_app *app)
{
	for (;;) {
		if (app->quit)
			return -1;
		if (!app->script_have || !app->script_buf[app->script_pos]) {
			if (!fgets(app->script_buf, sizeof(app->script_buf), app->script))
				return -1;
			app->script_line++;
			app->script_buf[strcspn(app->script_buf, "\r\n")] = '\0';
			app->script_pos = 0;
			app->script_have = true;
			if (app->script_buf[0] == '#' || !app->script_buf[0]) {
				app->script_buf[0] = '\0';
				continue;
			}
			if (app->script_buf[0] == ':') {
				app->loop->poll(app, 0);
				if (app->dirty)
					app->loop->render(app);
				script_command(app, app->script_buf + 1);
				app->script_buf[0] = '\0';
				/* Let what the command changed take effect before the next key. */
				app->loop->poll(app, 0);
				app->loop->render(app);
				continue;
			}
		}
		char *s = app->script_buf + app->script_pos;
		if (*s == '<') {
			char *end = strchr(s, '>');
			if (end && end > s + 1) {
				char name[32];
				size_t len = (size_t)(end - s - 1);
				if (len < sizeof(name)) {
					memcpy(name, s + 1, len);
					name[len] = '\0';
					int key = -1;
					if (!strcmp(name, "lt"))
						key = '<';
					else if (!strcmp(name, "Resize"))
						key = TK_FN(KEY_RESIZE);
					else
						key = tui_key_from_name(name);
					if (key >= 0) {
						app->script_pos += len + 2;
						return key;
					}
				}
			}
		}
		mbstate_t st;
		memset(&st, 0, sizeof(st));
		wchar_t wc;
		size_t n = mbrtowc(&wc, s, strlen(s), &st);
		if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
			app->script_pos++;
			return (unsigned char)*s;
		}
		app->script_pos += n;
		return (int)wc;
	}
}

