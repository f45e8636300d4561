# src/report: sources and tests of this area (included by the top Makefile.am).
src_libdumpview_a_SOURCES += \
	include/dumpview/report.h src/report/internal.h \
	src/report/report.c src/report/fmt.c \
	src/report/text.c src/report/jsonl.c src/report/csv.c src/report/info.c \
	src/report/sglang.c \
	include/dumpview/merge.h src/report/merge.c \
	include/dumpview/report_load.h src/report/json.c src/report/load.c

check_PROGRAMS += tests/test_compare_report
TESTS += tests/test_compare_report
tests_test_compare_report_SOURCES = tests/test_compare_report.c
tests_test_compare_report_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_compare_report_LDADD = $(DV_TEST_LIBS)

# dumpview compare end to end (examples/, tests/fixtures/compare/).
TESTS += tests/test_compare.sh
EXTRA_DIST += tests/test_compare.sh tests/test_compare.py tests/dvtest.py

# Pass rules, the exit status and --format sglang-jsonl end to end (examples/).
TESTS += tests/test_compare_rules.sh
EXTRA_DIST += tests/test_compare_rules.sh tests/test_compare_rules.py

# dv_fmt_double against its definition (snprintf + strtod) on random doubles
check_PROGRAMS += tests/test_fmt_double
TESTS += tests/test_fmt_double
tests_test_fmt_double_SOURCES = tests/test_fmt_double.c
tests_test_fmt_double_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_fmt_double_LDADD = $(DV_TEST_LIBS)

# compare across parallel layouts: logical tensors against torch (tests/fixtures/xtopo)
TESTS += tests/test_compare_xtopo.sh
EXTRA_DIST += tests/test_compare_xtopo.sh tests/test_compare_xtopo.py

# compare --token-aligner smart against torch (tests/fixtures/tokalign)
TESTS += tests/test_compare_tokalign.sh
EXTRA_DIST += tests/test_compare_tokalign.sh tests/test_compare_tokalign.py

# compare --shard K/N and merge: merged parts identical to the unsharded report
TESTS += tests/test_shard_merge.sh
EXTRA_DIST += tests/test_shard_merge.sh

# Reading a jsonl report back: the JSON parser and the loader (examples/).
check_PROGRAMS += tests/test_report_load
TESTS += tests/test_report_load
tests_test_report_load_SOURCES = tests/test_report_load.c
tests_test_report_load_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_report_load_LDADD = $(DV_TEST_LIBS)

# dumpview --report: usage errors and bad reports (exit 2, FILE:LINE).
TESTS += tests/test_report_cli.sh
EXTRA_DIST += tests/test_report_cli.sh
