/* dumpview merge: the jsonl parts of a sharded comparison (compare --shard
 * K/N --format jsonl, one a slice) back into the one report and exit status
 * a single `compare --format jsonl` on the same dumps gives. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/commands.h"
#include "dumpview/escape.h"
#include "dumpview/merge.h"
#include "dumpview/outfile.h"

#define PROG "dumpview merge"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: dumpview merge [--output FILE] PART.jsonl...\n"
		"\n"
		"Merges the parts of one sharded comparison, each the report of\n"
		"'dumpview compare --shard K/N --format jsonl' for one K, into the report\n"
		"'dumpview compare --format jsonl' gives on the same dumps: records in\n"
		"execution order, the summary recomputed (counts, first divergence, replica\n"
		"mismatches, diagnosis). Every shard 1..N must be given exactly once, and all\n"
		"of one comparison (same runs, options and pairing).\n"
		"\n"
		"  --output FILE        write the report to FILE instead of standard output\n"
		"                       (written to a temporary file, renamed when complete)\n"
		"  --help               this help\n"
		"\n"
		"Exit status: as compare's on the whole comparison (the parts carry\n"
		"--allow-failed-pattern and --allow-skipped-pattern's verdicts): 0 passed,\n"
		"1 failed; 2 usage error, a part unreadable or malformed, parts of different\n"
		"comparisons, a shard missing or given twice.\n");
}

int cmd_merge(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *output = NULL;
	FILE **files = NULL, *out = stdout;
	const char **names = NULL;
	dv_outfile outfile = { 0 };
	dv_merge_gate gate = { 0 };
	dv_error err = { { 0 } };
	size_t n = 0;
	bool complete = false;
	int rc = 2, c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (!*optarg) {
				fprintf(stderr, PROG ": --output needs a file name\n");
				return 2;
			}
			output = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, PROG ": expected the parts (PART.jsonl...)\n");
		usage(stderr);
		return 2;
	}
	files = calloc((size_t)(argc - optind), sizeof(*files));
	names = calloc((size_t)(argc - optind), sizeof(*names));
	if (!files || !names) {
		fprintf(stderr, PROG ": out of memory\n");
		goto out;
	}
	for (int i = optind; i < argc; i++, n++) {
		names[n] = argv[i];
		if (!(files[n] = fopen(argv[i], "rb"))) {
			dv_term_fprintf(stderr, PROG ": %s: %s\n", argv[i], strerror(errno));
			goto out;
		}
	}
	if (output) {
		/* the parts are read whole before anything is written, and the
		 * report replaces FILE only once complete: FILE may be a part */
		if (dv_outfile_open(&outfile, output, &err)) {
			dv_term_fprintf(stderr, PROG ": %s\n", err.msg);
			goto out;
		}
		out = outfile.f;
	}
	if (dv_report_merge(files, names, n, out, &gate, &err)) {
		dv_term_fprintf(stderr, PROG ": %s\n", err.msg);
		goto out;
	}
	/* what compare says of its gate, of the whole comparison */
	rc = gate.status;
	dv_gate_explain(stderr, PROG, gate.passed, gate.failed, gate.errored, gate.failed_not_allowed,
			gate.allow_failed_given, gate.first_failed, gate.skipped_not_allowed, gate.first_skipped);
	if (fflush(out) || ferror(out)) {
		dv_term_fprintf(stderr, PROG ": writing %s: %s\n", output ? output : "standard output", strerror(errno));
		rc = 2;
	} else {
		complete = true;
	}
out:
	if (outfile.f && complete) {
		if (dv_outfile_commit(&outfile, &err)) {
			dv_term_fprintf(stderr, PROG ": %s\n", err.msg);
			rc = 2;
		}
	} else {
		dv_outfile_abort(&outfile);
	}
	for (size_t i = 0; files && i < n; i++)
		if (files[i])
			fclose(files[i]);
	free(files);
	free(names);
	dv_merge_gate_free(&gate);
	return rc;
}
