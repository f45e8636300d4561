# src/pt: sources and tests of this area (included by the top Makefile.am).
src_libdumpview_a_SOURCES += \
	include/dumpview/pt.h include/dumpview/dtype.h \
	src/pt/pt_internal.h src/pt/dtype.c src/pt/object.c src/pt/pickle.c \
	src/pt/ptfile.c src/pt/tensor.c

TESTS += tests/test_show_corpus.sh
EXTRA_DIST += tests/test_show_corpus.sh
