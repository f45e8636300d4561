/* dumpview info [--format text|jsonl] [--layer-regex RE] DIR|TAG...
 * Options and dispatch only: per phase the summary (its folder, file count,
 * tag keys, steps, ranks, layers, tensors by dtype, each file's tags and
 * unreadable files with the reason) comes from dv_phase_summarize and is
 * written by the report layer (dv_info_text_* / dv_info_jsonl_*).
 * With --name-map / --name-map-file it takes BASELINE TARGET instead and
 * says which target names pair under the rules (dv_name_pairing_summarize). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/commands.h"
#include "dumpview/comparison.h"
#include "dumpview/escape.h"
#include "dumpview/grouping_args.h"
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

/* info --name-map BASELINE TARGET: the comparison opened with the rules,
 * each phase's names. */
static int name_map_info(int nargs, char **args, const dv_run_opts *ro, const dv_name_map *m, info_format fmt)
{
	dv_comparison_opts co = {0};
	dv_comparison *cmp;
	dv_error err = {{0}};
	int status = 0;

	if (nargs != 2) {
		fprintf(stderr, "dumpview info: --name-map and --name-map-file take BASELINE and TARGET, got %d run%s\n",
			nargs, nargs == 1 ? "" : "s");
		return 2;
	}
	co.baseline = args[0];
	co.target = args[1];
	co.layer_regex = ro->layer_regex;
	co.follow_symlinks = ro->follow_symlinks;
	co.name_map = m;
	if (!(cmp = dv_comparison_open(&co, NULL, &err))) {
		dv_term_fprintf(stderr, "dumpview info: %s\n", err.msg);
		return 2;
	}
	if (fmt == INFO_TEXT)
		dv_info_text_name_map(stdout, cmp, m);
	else
		dv_info_jsonl_name_map(stdout, cmp, m);
	for (size_t p = 0; p < cmp->nphases; p++) {
		dv_name_pairing np;

		if (dv_name_pairing_summarize(cmp, p, &np, &err) < 0) {
			dv_term_fprintf(stderr, "dumpview info: %s\n", err.msg);
			status = 2;
			break;
		}
		if (fmt == INFO_TEXT)
			dv_info_text_name_pairing(stdout, &np);
		else
			dv_info_jsonl_name_pairing(stdout, &np);
		dv_name_pairing_free(&np);
	}
	dv_comparison_free(cmp);
	if (fflush(stdout)) {
		perror("dumpview info: stdout");
		return 2;
	}
	return status;
}

static void usage(FILE *out)
{
	fputs("usage: dumpview info [--format text|jsonl] [--layer-regex RE] [--follow-symlinks] DIR|TAG...\n"
	      "       dumpview info [OPTIONS] (--name-map 'REGEX=REPLACEMENT' | --name-map-file FILE)...\n"
	      "                     BASELINE TARGET\n"
	      "Describes dump runs: per phase its folder, file count, how its files are grouped\n"
	      "by folder, tag keys, steps, ranks, layers and tensors by dtype, then each file's\n"
	      "tags; unreadable files with the reason; folders not read as warnings.\n"
	      "With name-map rules, describes instead how two runs pair under them: per phase\n"
	      "each target name, what the rules make of it and whether it pairs, then the\n"
	      "baseline names left without a target.\n"
	      DV_NAME_MAP_HELP
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
		DV_NAME_MAP_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	info_format fmt = INFO_TEXT;
	dv_run_opts opts = {0};
	dv_grouping_args ga;
	int c, status = 0;

	dv_grouping_args_init(&ga);
	optind = 1;
	while ((c = getopt_long(argc, argv, "+f:h", longopts, NULL)) != -1) {
		int taken = dv_grouping_args_take(&ga, c, optarg, "dumpview info", stderr);

		if (taken) {
			if (taken < 0) {
				dv_grouping_args_free(&ga);
				return 2;
			}
			continue;
		}
		switch (c) {
		case 'f':
			if (!strcmp(optarg, "text")) {
				fmt = INFO_TEXT;
			} else if (!strcmp(optarg, "jsonl")) {
				fmt = INFO_JSONL;
			} else {
				dv_term_fprintf(stderr, "dumpview info: --format must be text or jsonl, not '%s'\n", optarg);
				dv_grouping_args_free(&ga);
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
			dv_grouping_args_free(&ga);
			return 0;
		default:
			usage(stderr);
			dv_grouping_args_free(&ga);
			return 2;
		}
	}
	if (ga.name_map) {
		status = name_map_info(argc - optind, argv + optind, &opts, ga.name_map, fmt);
		dv_grouping_args_free(&ga);
		return status;
	}
	dv_grouping_args_free(&ga);
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
