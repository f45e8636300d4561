/* dumpview: command-line dispatch. */
#include "config.h"

#ifdef HAVE_MALLOC_H
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dumpview/commands.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: dumpview [OPTIONS] BASELINE TARGET     explore two dumps (TUI)\n"
		"       dumpview --report FILE.jsonl [OPTIONS] [BASELINE TARGET]\n"
		"                       explore a saved compare --format jsonl report\n"
		"       dumpview compare [OPTIONS] BASELINE TARGET\n"
		"                       report for scripts and CI: per-tensor pass rules\n"
		"                       (--rule 'REGEX=PREDICATE', --rules FILE), fail-closed\n"
		"                       exit status, jsonl / csv / sglang-jsonl output\n"
		"       dumpview merge [--output FILE] PART.jsonl...\n"
		"                       the jsonl parts of compare --shard K/N as one report\n"
		"       dumpview info [--format text|jsonl] [--follow-symlinks] DIR|TAG...\n"
		"       dumpview info --name-map 'REGEX=REPLACEMENT'... BASELINE TARGET\n"
		"       dumpview show [--values N] [--raw PATH [--force]] FILE\n"
		"       dumpview --help | --version\n"
		"\n"
		"Explorer options:\n"
		"  --diff-threshold X   rel_diff above which a pair fails (default 1e-3); with\n"
		"                       rules, the catch-all '.* rel <= X' placed last\n"
		"  --rule 'REGEX=PREDICATE', --rules FILE\n"
		"                       per-tensor pass rules, as compare's (R lists them)\n"
		"  --allow-failed-pattern RE, --allow-skipped-pattern RE\n"
		"                       as compare's: the title shows compare's exit status\n"
		"                       (gate: pass / fail) once the scan is complete\n"
		"  --filter RE          only pairs whose target file name matches (PCRE2)\n"
		"  --layer-regex RE     group 1 is the layer when a file has no layer_id tag\n"
		"  --ascii              ASCII lines and marks\n"
		"  --no-color           monochrome (also when NO_COLOR is set)\n"
		"  --no-scan            no background scan (S starts it); compute rows as shown\n"
		"  --follow-symlinks    follow symlinked folders that lead outside a run\n"
		"  --preset P, --grouping-skip-keys K,..., --override-dims 'REGEX:DIMS',\n"
		"  --override-baseline-dims 'REGEX:DIMS', --override-target-dims 'REGEX:DIMS',\n"
	"  --token-aligner none|concat_steps|smart\n"
		"                       logical tensors (files of several ranks read as one) and\n"
		"                       their token alignment,\n"
		"                       as compare's\n"
		"  --name-map 'REGEX=REPLACEMENT', --name-map-file FILE\n"
		"                       rename target tensors before pairing, as compare's\n"
		"  --report FILE        open a saved jsonl report: its verdicts, first\n"
		"                       divergence and diagnosis, no scan; with the runs the\n"
		"                       detail pane still reads tensors\n"
		"  --print-keys         print the explorer's keys as the man page's KEYS section\n"
		"                       (roff) and exit\n"
		"\n"
		"Run 'dumpview COMMAND --help' for a command's options; see dumpview(1).\n");
}

int main(int argc, char **argv)
{
	/* libzip turns every entry's DOS time into time_t with mktime(), and
	 * glibc re-reads /etc/localtime on each call while TZ is unset: 7 stat
	 * calls a file. Naming the same zone explicitly makes glibc load it once. */
	if (!getenv("TZ"))
		setenv("TZ", ":/etc/localtime", 0);
	/* Per-pair buffers of a few hundred KiB: keep them on the heap instead of
	 * fresh mmap()s (page faults) and trims (madvise) for every pair. The
	 * arrays of a large comparison (pairs, files: MBs) are mmap()ed: they
	 * grow by mremap() and leave no hole in the heap when they move.
	 * glibc only; other allocators keep their defaults. */
#if defined(HAVE_MALLOPT) && defined(M_MMAP_THRESHOLD) && defined(M_TRIM_THRESHOLD)
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "show"))
		return cmd_show(argc - 1, argv + 1);
	if (!strcmp(argv[1], "compare"))
		return cmd_compare(argc - 1, argv + 1);
	if (!strcmp(argv[1], "merge"))
		return cmd_merge(argc - 1, argv + 1);
	if (!strcmp(argv[1], "info"))
		return cmd_info(argc - 1, argv + 1);
	return cmd_tui(argc, argv);
}
