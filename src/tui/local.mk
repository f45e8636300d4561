# src/tui: sources and tests of this area (included by the top Makefile.am).
# The TUI is the only code that includes curses.
src_libdumpview_tui_a_SOURCES += \
	include/dumpview/tui.h \
	src/tui/actions.def \
	src/tui/actions.c src/tui/actions.h \
	src/tui/app.c src/tui/app.h \
	src/tui/bars.c src/tui/bars.h \
	src/tui/commands.c src/tui/commands.h \
	src/tui/draw.c src/tui/draw.h \
	src/tui/jobs.c src/tui/jobs.h \
	src/tui/keymap.c src/tui/keymap.h \
	src/tui/keys.c src/tui/keys.h \
	src/tui/layout.c \
	src/tui/listing.c src/tui/listing.h \
	src/tui/prompt.c src/tui/prompt.h \
	src/tui/script.c src/tui/script.h \
	src/tui/state.c src/tui/state.h \
	src/tui/term.c src/tui/term.h \
	src/tui/tree.c src/tui/tree.h \
	src/tui/views.h \
	src/tui/view_tree.c \
	src/tui/view_detail.c \
	src/tui/view_help.c \
	src/tui/view_rules.c

# Tests: golden screens in scripted mode (+ exports vs torch), the man page's
# key list against actions.def, and the real binary inside tmux.
TESTS += tests/test_tui.sh tests/test_tui_keys.sh tests/test_tui_tmux.sh tests/test_tui_layers.sh
EXTRA_DIST += tests/test_tui.sh tests/test_tui_keys.sh tests/test_tui_tmux.sh tests/test_tui_layers.sh tests/tui

# The tree model without a terminal (cmocka): it links without ncurses, so
# tree.o must use no curses symbol.
check_PROGRAMS += tests/test_tui_tree
TESTS += tests/test_tui_tree
tests_test_tui_tree_SOURCES = tests/test_tui_tree.c
tests_test_tui_tree_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_tui_tree_LDADD = src/libdumpview_tui.a $(DV_TEST_LIBS)

# The key map built from actions.def, dispatch and text widths, without a
# terminal (cmocka).
check_PROGRAMS += tests/test_tui_keymap
TESTS += tests/test_tui_keymap
tests_test_tui_keymap_SOURCES = tests/test_tui_keymap.c
tests_test_tui_keymap_CFLAGS = $(DV_TEST_CFLAGS) $(NCURSES_CFLAGS)
tests_test_tui_keymap_LDADD = src/libdumpview_tui.a $(DV_TEST_LIBS) $(NCURSES_LIBS)
