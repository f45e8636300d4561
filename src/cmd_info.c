/* dumpview info [--format text|jsonl] [--layer-regex RE] DIR|TAG...
 * Options and dispatch only: per phase the summary (its folder, file count,
 * tag keys, steps, ranks, layers, tensors by dtype, each file's tags and
 * unreadable files with the reason) comes from dv_phase_summarize and is
 * written by the report layer (dv_info_text_* / dv_info_jsonl_*). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/commands.h"
#include "dumpview/comparison.h"
#include "dumpview/escape.h"
#include "dumpview/report.h"

typedef enum info_format { INFO_TEXT, INFO_JSONL } info_format;

/* The summary is computed in the core (dv_phase_summarize) and written by
 * the report layer's info writers. */
static void describe_phase(FILE *out, const dv_run *run, const dv_phase *ph, info_format fmt)
{
	dv_phase_summary s;

	if (dv_phase_summarize(ph, &s) < 0) {
		dv_term_fprintf(out, "%s: out of memory\n", ph->name);
		return;
	}
	if (fmt == INFO_TEXT)
		dv_info_text_phase(out, run, &s);
	else
		dv_info_jsonl_phase(out, run, &s);
	dv_phase_summary_free(&s);
}

static void usage(FILE *out)
{
	fputs("usage: dumpview info [--format text|jsonl] [--layer-regex RE] [--follow-symlinks] DIR|TAG...\n"
	      "Describes dump runs: per phase its folder, file count, how its files are grouped\n"
	      "by folder, tag keys, steps, ranks, layers and tensors by dtype, then each file's\n"
	      "tags; unreadable files with the reason; folders not read as warnings.\n"
	      "--follow-symlinks follows symlinked folders that lead outside a run.\n"
	      "A TAG is looked up under $DUMPER_BASE_DIR (default " DV_DEFAULT_BASE_DIR ").\n",
	      out);
}

int cmd_info(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"format", required_argument, NULL, 'f'},
		{"layer-regex", required_argument, NULL, 'L'},
		{"follow-symlinks", no_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	info_format fmt = INFO_TEXT;
	dv_run_opts opts = {0};
	int c, status = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+f:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (!strcmp(optarg, "text")) {
				fmt = INFO_TEXT;
			} else if (!strcmp(optarg, "jsonl")) {
				fmt = INFO_JSONL;
			} else {
				dv_term_fprintf(stderr, "dumpview info: --format must be text or jsonl, not '%s'\n", optarg);
				return 2;
			}
			break;
		case 'L':
			opts.layer_regex = optarg;
			break;
		case 'F':
			opts.follow_symlinks = true;
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
		usage(stderr);
		return 2;
	}
	for (int i = optind; i < argc; i++) {
		dv_error err = {{0}};
		dv_run *run = dv_comparison_open_run(argv[i], &opts, &err);

		if (!run) {
			dv_term_fprintf(stderr, "dumpview info: %s\n", err.msg);
			status = 2;
			continue;
		}
		if (fmt == INFO_TEXT)
			dv_info_text_run(stdout, run, i > optind);
		else
			dv_info_jsonl_run(stdout, run);
		for (size_t p = 0; p < run->nphases; p++)
			describe_phase(stdout, run, &run->phases[p], fmt);
		dv_run_free(run);
	}
	if (fflush(stdout)) {
		perror("dumpview info: stdout");
		return 2;
	}
	return status;
}
