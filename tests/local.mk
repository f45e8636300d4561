# tests shared by several areas (included by the top Makefile.am).

# The terminal escaper for foreign bytes (names, tags, strings in files).
check_PROGRAMS += tests/test_escape
TESTS += tests/test_escape
tests_test_escape_SOURCES = tests/test_escape.c
tests_test_escape_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_escape_LDADD = $(DV_TEST_LIBS)

# Temporary names beside a final file (exports written whole or not at all).
check_PROGRAMS += tests/test_tmpfile
TESTS += tests/test_tmpfile
tests_test_tmpfile_SOURCES = tests/test_tmpfile.c
tests_test_tmpfile_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_tmpfile_LDADD = $(DV_TEST_LIBS)
