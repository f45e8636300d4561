# src/metrics: sources and tests of this area (included by the top Makefile.am).
src_libdumpview_a_SOURCES += \
	include/dumpview/metrics.h src/metrics/internal.h \
	src/metrics/kernels.c src/metrics/quantile.c src/metrics/compare.c src/metrics/compare_pt.c \
	src/metrics/detail.c src/metrics/detail_span.h src/metrics/export.c src/metrics/compare_stream.c src/metrics/par.c

check_PROGRAMS += tests/test_metrics
TESTS += tests/test_metrics
tests_test_metrics_SOURCES = tests/test_metrics.c
tests_test_metrics_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_metrics_LDADD = $(DV_TEST_LIBS)

# metrics on the example dumps against torch's numbers (expected.json)
check_PROGRAMS += tests/metrics_dump
tests_metrics_dump_SOURCES = tests/metrics_dump.c
tests_metrics_dump_CFLAGS = $(DV_TEST_CFLAGS)
tests_metrics_dump_LDADD = $(DV_TEST_LIBS)
TESTS += tests/test_metrics_examples.sh
EXTRA_DIST += tests/test_metrics_examples.sh tests/metrics_examples.py

check_PROGRAMS += tests/test_metrics_files
TESTS += tests/test_metrics_files
tests_test_metrics_files_SOURCES = tests/test_metrics_files.c
tests_test_metrics_files_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_metrics_files_LDADD = $(DV_TEST_LIBS)
TESTS += tests/test_metrics_pairs.sh
EXTRA_DIST += tests/test_metrics_pairs.sh tests/metrics_pairs.py

# the small-bf16 quantile path against the general one and a sort
check_PROGRAMS += tests/test_qsel_bf16
TESTS += tests/test_qsel_bf16
tests_test_qsel_bf16_SOURCES = tests/test_qsel_bf16.c
tests_test_qsel_bf16_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_qsel_bf16_LDADD = $(DV_TEST_LIBS)

# one pair on several threads: the same results for any thread count
check_PROGRAMS += tests/test_metrics_threads
TESTS += tests/test_metrics_threads
tests_test_metrics_threads_SOURCES = tests/test_metrics_threads.c tests/pt_writer.h
tests_test_metrics_threads_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_metrics_threads_LDADD = $(DV_TEST_LIBS)

# the export's float32 text by integer arithmetic against snprintf + strtof
check_PROGRAMS += tests/test_fmt_f32
TESTS += tests/test_fmt_f32
tests_test_fmt_f32_SOURCES = tests/test_fmt_f32.c
tests_test_fmt_f32_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_fmt_f32_LDADD = $(DV_TEST_LIBS)
