# benchmarks (included by the top Makefile.am). Nothing here is built by
# `make` or `make check`: `make bench` builds the dump generator, and
# bench/run.sh (see bench/README.md) generates the sets and times them.
EXTRA_PROGRAMS = bench/gen_dumps
bench_gen_dumps_SOURCES = bench/gen_dumps.c
bench_gen_dumps_LDADD = -lpthread
CLEANFILES += bench/gen_dumps$(EXEEXT)
EXTRA_DIST += bench/README.md bench/run.sh bench/torch_compare.py \
	bench/check_torch.py bench/tui_paint.py bench/cross_check.py \
	bench/engine_bench.c bench/gen_logits.py

.PHONY: bench
bench: bench/gen_dumps$(EXEEXT) src/dumpview$(EXEEXT)

# Stage-by-stage timing of the compare engine (links the core library).
EXTRA_PROGRAMS += bench/engine_bench
bench_engine_bench_SOURCES = bench/engine_bench.c
bench_engine_bench_LDADD = src/libdumpview.a $(ZIP_LIBS) $(PCRE2_LIBS) -lm
CLEANFILES += bench/engine_bench$(EXEEXT)
bench: bench/engine_bench$(EXEEXT)
