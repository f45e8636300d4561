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

# Hostile inputs (tests/fixtures/hostile: malformed, huge, deep, lying
# files) through show and compare: each fails cleanly or reads as expected.
TESTS += tests/test_hostile.sh tests/test_hostile_compare.sh

# A file truncated, replaced or overwritten between open and read.
check_PROGRAMS += tests/test_hostile_live
TESTS += tests/test_hostile_live
tests_test_hostile_live_SOURCES = tests/test_hostile_live.c
tests_test_hostile_live_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_hostile_live_LDADD = $(DV_TEST_LIBS)
EXTRA_DIST += tests/test_hostile.sh tests/test_hostile_compare.sh

# make check-valgrind: the whole suite with every test program and every
# dumpview run under valgrind (memcheck: invalid accesses, definite and
# indirect leaks fail a test with exit 99). Use a plain build: valgrind and
# --enable-sanitizers do not mix.
VALGRIND = valgrind
VALGRIND_FLAGS = -q --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect
.PHONY: check-valgrind
check-valgrind:
	@printf '#!/bin/sh\nexec %s %s "%s/src/dumpview" "$$@"\n' '$(VALGRIND)' '$(VALGRIND_FLAGS)' \
		'$(abs_top_builddir)' >valgrind-dumpview && chmod +x valgrind-dumpview
	$(MAKE) $(AM_MAKEFLAGS) check LOG_COMPILER='$(VALGRIND) $(VALGRIND_FLAGS)' \
		TESTS_ENVIRONMENT='DUMPVIEW=$(abs_top_builddir)/valgrind-dumpview; export DUMPVIEW; DV_VALGRIND=1; export DV_VALGRIND;'
CLEANFILES += valgrind-dumpview

# The unit tests need cmocka, which configure only looks for: without it
# make check stops here, before compiling a test, and says what to install.
.PHONY: cmocka-missing
cmocka-missing:
	@echo "make check: cmocka was not found when configure ran; install the Debian package libcmocka-dev and run configure again" >&2
	@exit 1
if !HAVE_CMOCKA
check-am: cmocka-missing
endif

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

# Temporary names beside a final file (exports written whole or not at all).
check_PROGRAMS += tests/test_tmpfile
TESTS += tests/test_tmpfile
tests_test_tmpfile_SOURCES = tests/test_tmpfile.c
tests_test_tmpfile_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_tmpfile_LDADD = $(DV_TEST_LIBS)

# The man page's KEYS section against `dumpview --print-keys`, the explorer's
# action table (DUMPVIEW_UPDATE_MAN=1 rewrites the section from the table).
TESTS += tests/test_man_keys.sh
EXTRA_DIST += tests/test_man_keys.sh

# Shell completion (completion/): the bash function driven through compgen,
# its option lists against --help, zsh -n, make install DESTDIR=....
TESTS += tests/test_completion.sh
EXTRA_DIST += tests/test_completion.sh

# What is kept per pair (sizes pinned), the intern table and the pools.
check_PROGRAMS += tests/test_sizes
TESTS += tests/test_sizes
tests_test_sizes_SOURCES = tests/test_sizes.c
tests_test_sizes_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_sizes_LDADD = $(DV_TEST_LIBS)
