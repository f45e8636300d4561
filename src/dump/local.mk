# src/dump: sources and tests of this area (included by the top Makefile.am).
src_libdumpview_a_SOURCES += \
	include/dumpview/dump.h \
	include/dumpview/comparison.h \
	src/dump/internal.h \
	src/dump/comparison.c \
	src/dump/tags.c \
	src/dump/run.c \
	src/dump/pairing.c \
	src/dump/scan.c \
	src/dump/diagnose.c \
	include/dumpview/summary.h src/dump/summary.c

# Prints two runs' pairing; the pairing test checks it against expected.json.
check_PROGRAMS += tests/dump_pairs
tests_dump_pairs_SOURCES = tests/dump_pairs.c
tests_dump_pairs_LDADD = $(DV_TEST_LIBS)

TESTS += tests/test_dump_pairs.sh
EXTRA_DIST += tests/test_dump_pairs.sh

check_PROGRAMS += tests/test_dump_model
TESTS += tests/test_dump_model
tests_test_dump_model_SOURCES = tests/test_dump_model.c tests/dump_fixture.h
tests_test_dump_model_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_dump_model_LDADD = $(DV_TEST_LIBS)

# The comparison object: resolution, phase selection, verdicts, first divergence, its scan.
check_PROGRAMS += tests/test_comparison
TESTS += tests/test_comparison
tests_test_comparison_SOURCES = tests/test_comparison.c tests/dump_fixture.h
tests_test_comparison_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_comparison_LDADD = $(DV_TEST_LIBS)

check_PROGRAMS += tests/test_dump_scan
TESTS += tests/test_dump_scan
tests_test_dump_scan_SOURCES = tests/test_dump_scan.c
tests_test_dump_scan_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_dump_scan_LDADD = $(DV_TEST_LIBS)

TESTS += tests/test_info.sh
EXTRA_DIST += tests/test_info.sh

# Cross-topology comparison: the dims grammar, --override-dims, parallel coordinates.
src_libdumpview_a_SOURCES += include/dumpview/dims.h src/dump/dims.c src/dump/dims_override.c src/dump/parallel.c
check_PROGRAMS += tests/test_dims
TESTS += tests/test_dims
tests_test_dims_SOURCES = tests/test_dims.c
tests_test_dims_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_dims_LDADD = $(DV_TEST_LIBS)

# Cross-topology planning: bundling and the unsharding plan (meta only).
src_libdumpview_a_SOURCES += include/dumpview/bundle.h src/dump/bundle.c \
	include/dumpview/unshard_plan.h src/dump/unshard_plan.c \
	include/dumpview/logical.h src/dump/logical.c

# Prints the bundles and unsharding plans of two runs; test_xtopo_plan.sh
# checks them against the xtopo fixtures' expected.json.
check_PROGRAMS += tests/xtopo_plan
tests_xtopo_plan_SOURCES = tests/xtopo_plan.c
tests_xtopo_plan_LDADD = $(DV_TEST_LIBS)
TESTS += tests/test_xtopo_plan.sh
EXTRA_DIST += tests/test_xtopo_plan.sh

check_PROGRAMS += tests/test_unshard_plan
TESTS += tests/test_unshard_plan
tests_test_unshard_plan_SOURCES = tests/test_unshard_plan.c
tests_test_unshard_plan_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_unshard_plan_LDADD = $(DV_TEST_LIBS)

# Executing an unsharding plan as a streamed virtual tensor.
src_libdumpview_a_SOURCES += include/dumpview/vtensor.h src/dump/vtensor.c

# Opens both sides of every bundle of two runs as virtual tensors and prints
# their diffs and replicated checks; test_xtopo_vtensor.sh checks them
# against the xtopo fixtures' expected.json.
check_PROGRAMS += tests/xtopo_vtensor
tests_xtopo_vtensor_SOURCES = tests/xtopo_vtensor.c
tests_xtopo_vtensor_LDADD = $(DV_TEST_LIBS)
TESTS += tests/test_xtopo_vtensor.sh
EXTRA_DIST += tests/test_xtopo_vtensor.sh

check_PROGRAMS += tests/test_vtensor
TESTS += tests/test_vtensor
tests_test_vtensor_SOURCES = tests/test_vtensor.c
tests_test_vtensor_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_vtensor_LDADD = $(DV_TEST_LIBS)

# Token alignment: per-sequence token lists, matching, plan and coverage
# (token_align.c, no file IO) and the loader of a side's aux values.
src_libdumpview_a_SOURCES += include/dumpview/token_align.h src/dump/token_align.c src/dump/token_aux.c

# Loads and aligns both sides of the tokalign fixtures and prints the
# coverage, plan and per-sequence metrics; test_tokalign_fixtures.sh checks
# them against expected.json.
check_PROGRAMS += tests/tokalign_fixture
tests_tokalign_fixture_SOURCES = tests/tokalign_fixture.c
tests_tokalign_fixture_LDADD = $(DV_TEST_LIBS)
TESTS += tests/test_tokalign_fixtures.sh
EXTRA_DIST += tests/test_tokalign_fixtures.sh

check_PROGRAMS += tests/test_token_align
TESTS += tests/test_token_align
tests_test_token_align_SOURCES = tests/test_token_align.c
tests_test_token_align_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_token_align_LDADD = $(DV_TEST_LIBS)

# Name mapping: --name-map rules renaming target tensors before pairing.
src_libdumpview_a_SOURCES += include/dumpview/name_map.h src/dump/name_map.c
check_PROGRAMS += tests/test_name_map
TESTS += tests/test_name_map
tests_test_name_map_SOURCES = tests/test_name_map.c
tests_test_name_map_CFLAGS = $(DV_TEST_CFLAGS)
tests_test_name_map_LDADD = $(DV_TEST_LIBS)

TESTS += tests/test_name_map_cli.sh
EXTRA_DIST += tests/test_name_map_cli.sh
