# fuzz/: the libFuzzer harnesses; included by the top Makefile.am. The
# hostile-input tests that replay what they found are in tests/local.mk.
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

EXTRA_DIST += fuzz/run.sh fuzz/smoke fuzz/walk.c fuzz/walk.h fuzz/fuzz_pt.c fuzz/fuzz_legacy.c \
	fuzz/fuzz_pickle.c fuzz/fuzz_tags.c fuzz/fuzz_regex.c fuzz/fuzz_rules.c fuzz/fuzz_dims.c fuzz/fuzz_token_align.c fuzz/fuzz_unshard.c \
	fuzz/fuzz_name_map.c fuzz/fuzz_report.c fuzz/pickle.dict \
	fuzz/make_seeds.py fuzz/FINDINGS.md fuzz/corpus
