/* The terminal and the process around it: curses started and stopped (or
 * off-screen for the scripted mode), the locale's charset, non-blocking
 * pipes, and the signals that end the explorer, written to a pipe the
 * event loop polls. The saved handlers and the pipe's end are the only
 * file-scope state: signals are process-wide. */
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "draw.h"
#include "state.h"
#include "term.h"

int64_t tui_term_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static volatile sig_atomic_t sig_write_fd = -1;

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;
	if (sig_write_fd >= 0) {
		ssize_t n = write(sig_write_fd, &b, 1);
		(void)n;
	}
	errno = saved;
}

bool tui_term_utf8_locale(void)
{
	const char *cs = nl_langinfo(CODESET);
	return cs && (!strcasecmp(cs, "UTF-8") || !strcasecmp(cs, "utf8"));
}

int tui_term_open_pipe(int p[2])
{
	if (pipe(p) != 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		fcntl(p[i], F_SETFL, fcntl(p[i], F_GETFL) | O_NONBLOCK);
		fcntl(p[i], F_SETFD, FD_CLOEXEC);
	}
	return 0;
}

int tui_term_start(tui_app *app, char *err, size_t errsize)
{
	if (app->script_mode) {
		app->script_out = fopen("/dev/null", "w");
		app->script_in = fopen("/dev/null", "r");
		if (!app->script_out || !app->script_in) {
			snprintf(err, errsize, "/dev/null: %s", strerror(errno));
			return -1;
		}
		static const char *const terms[] = { "xterm-256color", "xterm", "vt100", "dumb" };
		for (size_t i = 0; i < sizeof(terms) / sizeof(terms[0]) && !app->screen; i++)
			app->screen = newterm(terms[i], app->script_out, app->script_in);
		if (!app->screen) {
			snprintf(err, errsize, "no terminal description found for the scripted mode");
			return -1;
		}
		resizeterm(30, 100);
	} else {
		if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
			snprintf(err, errsize, "the explorer needs a terminal (use 'dumpview compare' for text output)");
			return -1;
		}
		const char *term = getenv("TERM");
		app->screen = newterm(term && *term ? term : "vt100", stdout, stdin);
		if (!app->screen) {
			snprintf(err, errsize, "cannot use the terminal type '%s'", term ? term : "");
			return -1;
		}
	}
	set_term(app->screen);
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	const char *nc = getenv("NO_COLOR");
	app->color = !app->opts.no_color && !(nc && *nc) && has_colors();
	tui_draw_init_colors(app);
	app->rows = LINES;
	app->cols = COLS;
	return 0;
}

void tui_term_stop(tui_app *app)
{
	if (!app->screen)
		return;
	endwin();
	delscreen(app->screen);
	app->screen = NULL;
	if (app->script_out)
		fclose(app->script_out);
	if (app->script_in)
		fclose(app->script_in);
}

static struct sigaction old_int, old_term, old_hup;
static bool signals_set;

void tui_term_catch_signals(tui_app *app)
{
	sig_write_fd = app->sig_pipe[1];
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	signals_set = true;
}

void tui_term_restore_signals(void)
{
	if (!signals_set)
		return;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	sig_write_fd = -1;
	signals_set = false;
}
