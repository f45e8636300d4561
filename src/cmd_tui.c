/* dumpview BASELINE TARGET: the explorer's command line (options, usage,
 * defaults) beside the other commands; the explorer itself is dv_tui_run. */
#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/commands.h"
#include "dumpview/escape.h"
#include "dumpview/grouping_args.h"
#include "dumpview/metrics.h"
#include "dumpview/report_load.h"
#include "dumpview/pt.h"
#include "dumpview/rules.h"
#include "dumpview/tui.h"

static void usage(FILE *out)
{
	fprintf(out, "usage: dumpview [--diff-threshold X] [--rule 'REGEX=PREDICATE']... [--rules FILE]\n"
		     "                [--allow-failed-pattern RE] [--allow-skipped-pattern RE]\n"
		     "                [--filter RE] [--layer-regex RE] [--ascii] [--no-color]\n"
		     "                [--no-scan] [--follow-symlinks] [--verify-crc] [--preset P]\n"
		     "                [--grouping-skip-keys K,...] [--override-dims 'REGEX:DIMS']...\n"
		     "                [--override-baseline-dims 'REGEX:DIMS']...\n"
		     "                [--override-target-dims 'REGEX:DIMS']...\n"
		     "                [--name-map 'REGEX=REPLACEMENT']... [--name-map-file FILE]\n"
		     "                BASELINE TARGET\n"
		     "       dumpview --report FILE.jsonl [OPTIONS] [BASELINE TARGET]\n"
		     "       dumpview --print-keys\n"
		     "Explore where two tensor dumps diverge. Press ? inside for the keys; see dumpview(1).\n"
		     "--report FILE opens a saved `compare --format jsonl` report instead: its tree,\n"
		     "verdicts, first divergence and diagnosis; given the runs too, the detail pane\n"
		     "still reads the tensors. No scan; --diff-threshold or --rule judges again from\n"
		     "the report's metrics.\n"
		     "Logical tensors (files of several ranks read as one) and name mapping, as\n"
		     "compare:\n" DV_GROUPING_HELP);
}

/* Compiles an allow pattern as `compare` does (a full match); on error
 * prints PCRE2's message and offset. */
static pcre2_code *compile_allow(const char *what, const char *pattern)
{
	int errcode;
	PCRE2_SIZE offset;
	PCRE2_UCHAR msg[256];
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
				       PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_ANCHORED | PCRE2_ENDANCHORED, &errcode,
				       &offset, NULL);

	if (!re) {
		if (pcre2_get_error_message(errcode, msg, sizeof(msg)) < 0)
			snprintf((char *)msg, sizeof(msg), "error %d", errcode);
		dv_term_fprintf(stderr, "dumpview: bad %s regex '%s' at offset %zu: %s\n", what, pattern,
				(size_t)offset, (char *)msg);
	}
	return re;
}

static int run_tui(int argc, char **argv, dv_rules *rules, pcre2_code **allow_failed, pcre2_code **allow_skipped,
		   dv_grouping_args *gargs);

int cmd_tui(int argc, char **argv)
{
	pcre2_code *allow_failed = NULL, *allow_skipped = NULL;
	dv_rules *rules = dv_rules_new();
	dv_grouping_args gargs;
	int rc;

	if (!rules) {
		fprintf(stderr, "dumpview: out of memory\n");
		return 2;
	}
	/* The grouping outlives the explorer's comparison: it is not copied. */
	dv_grouping_args_init(&gargs);
	rc = run_tui(argc, argv, rules, &allow_failed, &allow_skipped, &gargs);
	dv_grouping_args_free(&gargs);
	pcre2_code_free(allow_failed);
	pcre2_code_free(allow_skipped);
	dv_rules_free(rules);
	return rc;
}

static int run_tui(int argc, char **argv, dv_rules *rules, pcre2_code **allow_failed, pcre2_code **allow_skipped,
		   dv_grouping_args *gargs)
{
	dv_error rerr = { { 0 } };
	bool has_threshold = false, has_rules = false;
	const char *allow_failed_src = NULL, *allow_skipped_src = NULL, *report = NULL;
	static const struct option longopts[] = {
		{ "diff-threshold", required_argument, NULL, 't' },
		{ "rule", required_argument, NULL, 'r' },
		{ "rules", required_argument, NULL, 'R' },
		{ "allow-failed-pattern", required_argument, NULL, 'A' },
		{ "allow-skipped-pattern", required_argument, NULL, 'B' },
		{ "filter", required_argument, NULL, 'f' },
		{ "layer-regex", required_argument, NULL, 'l' },
		{ "ascii", no_argument, NULL, 'a' },
		{ "no-color", no_argument, NULL, 'C' },
		{ "no-scan", no_argument, NULL, 'S' },
		{ "follow-symlinks", no_argument, NULL, 'F' },
		{ "verify-crc", no_argument, NULL, 'V' },
		{ "print-keys", no_argument, NULL, 'K' },
		{ "report", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		DV_GROUPING_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	dv_tui_opts o;
	memset(&o, 0, sizeof(o));
	o.threshold = DV_DEFAULT_THRESHOLD;
	setlocale(LC_ALL, "");
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		int taken = dv_grouping_args_take(gargs, c, optarg, "dumpview", stderr);
		if (taken < 0)
			return 2;
		if (taken)
			continue;
		switch (c) {
		case 't': {
			char *end;
			errno = 0;
			o.threshold = strtod(optarg, &end);
			if (errno || end == optarg || *end || !isfinite(o.threshold) || o.threshold < 0) {
				dv_term_fprintf(stderr, "dumpview: --diff-threshold: '%s' is not a number >= 0\n", optarg);
				return 2;
			}
			has_threshold = true;
			break;
		}
		/* Rules are checked here, before the terminal starts: a bad one
		 * is a usage error naming its column, as in compare. */
		case 'r':
			if (dv_rules_add(rules, optarg, &rerr)) {
				dv_term_fprintf(stderr, "dumpview: --rule: %s\n", rerr.msg);
				return 2;
			}
			has_rules = true;
			break;
		case 'R':
			if (dv_rules_load_file(rules, optarg, &rerr)) {
				dv_term_fprintf(stderr, "dumpview: --rules: %s\n", rerr.msg);
				return 2;
			}
			has_rules = true;
			break;
		case 'A': allow_failed_src = optarg; break;
		case 'B': allow_skipped_src = optarg; break;
		case 'f': o.filter = optarg; break;
		case 'l': o.layer_regex = optarg; break;
		case 'a': o.ascii = true; break;
		case 'C': o.no_color = true; break;
		case 'S': o.no_scan = true; break;
		case 'F': o.follow_symlinks = true; break;
		case 'P': report = optarg; break;
		case 'V': pt_set_verify_crc(true); break;
		case 'K': {
			char err[256];
			if (dv_tui_print_keys(stdout, err, sizeof(err)) != 0) {
				fprintf(stderr, "dumpview: %s\n", err);
				return 2;
			}
			return 0;
		}
		case 'h': usage(stdout); return 0;
		default:
			if (optopt > 0 && optopt < 128)
				dv_term_fprintf(stderr, "dumpview: option -%c: unknown or missing its argument\n", optopt);
			else
				dv_term_fprintf(stderr, "dumpview: %s: unknown option or missing its argument\n",
						argv[optind - 1]);
			usage(stderr);
			return 2;
		}
	}
	if (report && argc - optind != 0 && argc - optind != 2) {
		fprintf(stderr, "dumpview: --report: expected no runs or BASELINE and TARGET, got %d argument%s\n",
			argc - optind, argc - optind == 1 ? "" : "s");
		usage(stderr);
		return 2;
	}
	if (report && o.filter) {
		fprintf(stderr, "dumpview: --report: --filter would pair again; filter the tree with f inside\n");
		return 2;
	}
	if (!report && argc - optind != 2) {
		fprintf(stderr, "dumpview: expected BASELINE and TARGET, got %d argument%s\n", argc - optind,
			argc - optind == 1 ? "" : "s");
		usage(stderr);
		return 2;
	}
	if (dv_grouping_args_finish(gargs, "dumpview", stderr) < 0)
		return 2;
	o.grouping = &gargs->grouping;
	o.name_map = gargs->name_map;
	/* Rules given: --diff-threshold is their catch-all, placed last, and
	 * without it a name no rule matches is an error (compare's semantics).
	 * Without rules the threshold alone judges, as it always has. */
	if (has_rules) {
		if (has_threshold && dv_rules_set_catch_all(rules, true, o.threshold)) {
			fprintf(stderr, "dumpview: out of memory\n");
			return 2;
		}
		o.rules = rules;
		o.show_gate = true;
	}
	/* As compare: the last of each pattern counts, compiled once the
	 * arguments are known to be complete. */
	if (allow_failed_src && !(*allow_failed = compile_allow("--allow-failed-pattern", allow_failed_src)))
		return 2;
	if (allow_skipped_src && !(*allow_skipped = compile_allow("--allow-skipped-pattern", allow_skipped_src)))
		return 2;
	o.allow_failed = *allow_failed;
	o.allow_skipped = *allow_skipped;
	o.show_gate = o.show_gate || allow_failed_src || allow_skipped_src;
	o.baseline = argc - optind == 2 ? argv[optind] : NULL;
	o.target = argc - optind == 2 ? argv[optind + 1] : NULL;
	const char *script = getenv("DUMPVIEW_SCRIPT");
	if (script && *script)
		o.script = script;
	dv_report_data *rd = NULL;
	if (report) {
		/* Read and checked before the terminal starts: a bad line is a
		 * usage error naming FILE:LINE. */
		dv_report_load_opts lo = {.baseline = o.baseline, .target = o.target, .layer_regex = o.layer_regex,
					  .grouping = o.grouping};
		if (!(rd = dv_report_load(report, &lo, &rerr))) {
			dv_term_fprintf(stderr, "dumpview: --report: %s\n", rerr.msg);
			return 2;
		}
		/* The report's own decisions stand unless a threshold is given:
		 * then every tensor is judged again from its recorded metrics. */
		if (has_threshold)
			dv_comparison_set_threshold(rd->cmp, o.threshold);
		else if (rd->threshold_found)
			o.threshold = rd->threshold;
		/* The report's rules made again judge as they did (the
		 * explorer's `t` changes their catch-all); rules given here
		 * replace them. */
		if (rd->rules && !has_rules) {
			if (has_threshold && dv_rules_set_catch_all(rd->rules, true, o.threshold)) {
				fprintf(stderr, "dumpview: out of memory\n");
				dv_report_data_free(rd);
				return 2;
			}
			o.rules = rd->rules;
			o.show_gate = true;
		}
		o.report = rd;
	}
	char err[1024] = "";
	int rc = dv_tui_run(&o, err, sizeof(err));
	if (err[0])
		dv_term_fprintf(stderr, "dumpview: %s\n", err);
	dv_report_data_free(rd);
	return rc;
}
