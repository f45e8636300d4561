/* The explorer's action table (actions.def, actions.c): the action and group
 * enums, each action's keys, help and handler, the flags handlers return. */
#ifndef DUMPVIEW_TUI_ACTIONS_H
#define DUMPVIEW_TUI_ACTIONS_H


typedef enum tui_group {
#define GROUP(id, title) TG_##id,
#include "actions.def"
	TG_COUNT
} tui_group;

typedef enum tui_action {
	ACT_NONE = 0,
#define ACTION(id, group, keys, flags, handler, help, man) ACT_##id,
#include "actions.def"
	ACT_COUNT
} tui_action;

/* What a handler (and a view's handle) returns, or-ed; 0: the key did nothing. */
enum {
	TF_HANDLED = 1,
	TF_REDRAW = 2,
	TF_RESIZE = 4,
	TF_QUIT = 8,
};

/* An action's flags (actions.def). */
enum {
	AF_ALWAYS = 1, /* acts on the too-small screen and before the help screen */
};

struct tui_app;
typedef int (*tui_handler)(struct tui_app *app, tui_action act, int key);

/* One entry of actions.def. man is NULL for an action described with the
 * previous one in the man page. */
typedef struct tui_action_info {
	const char *name, *keys, *help, *man;
	tui_group group;
	int flags;
	tui_handler handler;
} tui_action_info;
extern const tui_action_info tui_actions[ACT_COUNT];
extern const char *const tui_group_titles[TG_COUNT];

#endif
