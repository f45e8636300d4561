# tests shared by several areas (included by the top Makefile.am).

# The terminal escaper for foreign bytes (names, tags, strings in files).
check_PROGRAMS += tests/test_escape
TESTS += tests/test_escape
tests_test_escape_SOURCES = tests/test_escape.c
tests_test_escape_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_escape_LDADD = $(DV_TEST_LIBS)

# Walking runs (stray files, extra/empty/unreadable/linked folders) and the
# warnings that make compare fail closed.
TESTS += tests/test_walk.sh
EXTRA_DIST += tests/test_walk.sh
