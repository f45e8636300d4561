# src/pt: sources and tests of this area (included by the top Makefile.am).
src_libdumpview_a_SOURCES += \
	include/dumpview/pt.h include/dumpview/dtype.h \
	src/pt/pt_internal.h src/pt/records.h src/pt/pickle.h \
	src/pt/dtype.c src/pt/records.c src/pt/object.c src/pt/pickle.c \
	src/pt/ptfile.c src/pt/tensor.c

TESTS += tests/test_show_corpus.sh
EXTRA_DIST += tests/test_show_corpus.sh

# The files of src/pt call each other one way only (from the objects' symbols).
TESTS += tests/test_pt_layers.sh
EXTRA_DIST += tests/test_pt_layers.sh tests/callgraph.sh

check_PROGRAMS += tests/test_pt_dtype
TESTS += tests/test_pt_dtype
tests_test_pt_dtype_SOURCES = tests/test_pt_dtype.c
tests_test_pt_dtype_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_pt_dtype_LDADD = $(DV_TEST_LIBS)

check_PROGRAMS += tests/test_pt_pickle
TESTS += tests/test_pt_pickle
tests_test_pt_pickle_SOURCES = tests/test_pt_pickle.c
tests_test_pt_pickle_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_pt_pickle_LDADD = $(DV_TEST_LIBS)

check_PROGRAMS += tests/test_pt_read
TESTS += tests/test_pt_read
tests_test_pt_read_SOURCES = tests/test_pt_read.c tests/pt_writer.h
tests_test_pt_read_CFLAGS = $(DV_TEST_CFLAGS) $(ZIP_CFLAGS)
tests_test_pt_read_LDADD = $(DV_TEST_LIBS)

TESTS += tests/test_show_cli.sh
EXTRA_DIST += tests/test_show_cli.sh
