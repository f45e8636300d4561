# tests shared by several areas (included by the top Makefile.am).

# The terminal escaper for foreign bytes (names, tags, strings in files).
check_PROGRAMS += tests/test_escape
TESTS += tests/test_escape
tests_test_escape_SOURCES = tests/test_escape.c
tests_test_escape_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_escape_LDADD = $(DV_TEST_LIBS)

# Hostile names and special files through show/info/compare: FIFOs, --output
# onto the dumps, terminal escapes, CSV formulas, JSON of non-UTF-8 names.
TESTS += tests/test_safety.sh
EXTRA_DIST += tests/test_safety.sh

# Report output: the temporary name, the refusal of paths into the dumps,
# commit and abort.
check_PROGRAMS += tests/test_outfile
TESTS += tests/test_outfile
tests_test_outfile_SOURCES = tests/test_outfile.c
tests_test_outfile_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_outfile_LDADD = $(DV_TEST_LIBS)
