# src/tui: sources and tests of this area (included by the top Makefile.am).
src_libdumpview_tui_a_SOURCES += src/tui/app.c
