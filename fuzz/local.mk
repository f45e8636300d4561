# fuzz/: libFuzzer harnesses and the hostile-input tests (issue 6); included
# by the top Makefile.am.
#
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_HARNESSES="fuzz_pt ..."] [FUZZ_CC=clang]
#
# builds each harness with clang (-fsanitize=fuzzer,address,undefined),
# compiling the core library's sources itself (the main build may use gcc),
# and runs each for FUZZ_SECONDS. Inputs found are kept in fuzz-out/corpus/,
# crashes in fuzz-out/crash-*. fuzz/smoke is the short version .ci/run calls.
FUZZ_CC = clang
FUZZ_SECONDS = 60
FUZZ_HARNESSES =
FUZZ_OUT = $(abs_top_builddir)/fuzz-out

.PHONY: fuzz
fuzz:
	FUZZ_CC='$(FUZZ_CC)' FUZZ_CONFIG_DIR='$(abs_top_builddir)' \
	FUZZ_SOURCES='$(filter %.c,$(src_libdumpview_a_SOURCES))' \
	bash $(top_srcdir)/fuzz/run.sh $(top_srcdir) $(FUZZ_OUT) $(FUZZ_SECONDS) $(FUZZ_HARNESSES)

clean-local: clean-fuzz
.PHONY: clean-fuzz
clean-fuzz:
	rm -rf $(FUZZ_OUT)

TESTS += tests/test_hostile.sh tests/test_hostile_compare.sh

# A file truncated, replaced or overwritten between open and read.
check_PROGRAMS += tests/test_hostile_live
TESTS += tests/test_hostile_live
tests_test_hostile_live_SOURCES = tests/test_hostile_live.c
tests_test_hostile_live_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_hostile_live_LDADD = $(DV_TEST_LIBS)
EXTRA_DIST += tests/test_hostile.sh tests/test_hostile_compare.sh \
	fuzz/run.sh fuzz/smoke fuzz/walk.c fuzz/walk.h fuzz/fuzz_pt.c fuzz/fuzz_legacy.c \
	fuzz/fuzz_pickle.c fuzz/fuzz_tags.c fuzz/fuzz_regex.c fuzz/pickle.dict \
	fuzz/make_seeds.py fuzz/FINDINGS.md fuzz/corpus

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
