# src/metrics: sources and tests of this area (included by the top Makefile.am).
src_libdumpview_a_SOURCES += \
	include/dumpview/metrics.h src/metrics/internal.h \
	src/metrics/kernels.c src/metrics/quantile.c src/metrics/compare.c src/metrics/compare_pt.c \
	src/metrics/detail.c src/metrics/export.c

check_PROGRAMS += tests/test_metrics
TESTS += tests/test_metrics
tests_test_metrics_SOURCES = tests/test_metrics.c
tests_test_metrics_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_metrics_LDADD = $(DV_TEST_LIBS)
