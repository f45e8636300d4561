# src/rules: pass rules per tensor (REGEX + PREDICATE), part of the core
# library above metrics (included by the top Makefile.am).
src_libdumpview_a_SOURCES += \
	include/dumpview/rules.h src/rules/internal.h \
	src/rules/predicate.c src/rules/rules.c

check_PROGRAMS += tests/test_rules
TESTS += tests/test_rules
tests_test_rules_SOURCES = tests/test_rules.c
tests_test_rules_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_rules_LDADD = $(DV_TEST_LIBS)
