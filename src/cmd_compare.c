/* dumpview compare: the non-interactive comparator. The scan's worker pool
 * computes pairs on every core; this thread prints them in execution order
 * as they finish, so big runs print progressively. */
#include <errno.h>
#include <getopt.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dumpview/commands.h"
#include "dumpview/comparison.h"
#include "dumpview/escape.h"
#include "dumpview/metrics.h"
#include "dumpview/outfile.h"
#include "dumpview/report.h"

#define PROG "dumpview compare"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: dumpview compare [OPTIONS] BASELINE TARGET\n"
		"\n"
		"Compares every pair of tensor dumps of two runs (directories, or tags under\n"
		"$DUMPER_BASE_DIR, default " DV_DEFAULT_BASE_DIR ") in execution order.\n"
		"\n"
		"  --phase P            only phase P (inference, fwd_only, fwd_bwd, ...); repeatable\n"
		"  --filter RE          only target files whose name matches the PCRE2 regex RE\n"
		"  --diff-threshold X   a pair passes when rel_diff <= X (default 0.001)\n"
		"  --layer-regex RE     group 1 of RE in a tensor name is its layer\n"
		"  --format F           text (default), jsonl or csv\n"
		"  --output FILE        write the report to FILE instead of standard output\n"
		"                       (never one of the dumps or inside a run; written to a\n"
		"                       temporary file in FILE's folder, renamed when complete)\n"
		"  --quiet              text: print failed pairs only\n"
		"  --follow-symlinks    follow symlinked folders that lead outside a run\n"
		"  --help               this help\n"
		"\n"
		"Exit status: 0 every compared pair passed, 1 a pair failed or errored, or a\n"
		"warning (a folder not read, a phase on one side only or with no pair, more\n"
		"than half of one side's files unmatched), 2 usage error, missing directory\n"
		"or no pairs.\n");
}

/* Compiles a user regex; on error prints PCRE2's message and offset. */
static pcre2_code *compile_regex(const char *what, const char *pattern)
{
	int errcode;
	PCRE2_SIZE offset;
	PCRE2_UCHAR msg[256];
	pcre2_code *re;

	re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &errcode, &offset, NULL);
	if (!re) {
		if (pcre2_get_error_message(errcode, msg, sizeof(msg)) < 0)
			snprintf((char *)msg, sizeof(msg), "error %d", errcode);
		dv_term_fprintf(stderr, PROG ": bad %s regex '%s' at offset %zu: %s\n", what, pattern,
				(size_t)offset, (char *)msg);
	}
	return re;
}

static int ncpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (int)n : 1;
}

/* --output must not land on an input or inside either run: the runs' roots,
 * every file compared and the folders holding them are protected. */
static int check_output(const char *output, const dv_run *base, const dv_run *targ, dv_error *err)
{
	const dv_run *runs[2] = { base, targ };
	const char *dirs[2] = { base->root, targ->root };
	const char **files;
	size_t n = 0, cap = 0;
	int rc;

	for (int r = 0; r < 2; r++)
		for (size_t p = 0; p < runs[r]->nphases; p++)
			cap += runs[r]->phases[p].nfiles;
	files = malloc((cap ? cap : 1) * sizeof(*files));
	if (!files)
		return dv_error_set(err, "--output %s: out of memory", output);
	for (int r = 0; r < 2; r++)
		for (size_t p = 0; p < runs[r]->nphases; p++)
			for (size_t i = 0; i < runs[r]->phases[p].nfiles; i++)
				files[n++] = runs[r]->phases[p].files[i].path;
	rc = dv_output_check(output, dirs, 2, files, n, err);
	free(files);
	return rc;
}

/* Waits until the scan has finished pairs[i]. If the scan is over and the
 * pair is still not done (cancelled), computes it here. The workers are not
 * asked to wake this thread: a pipe write a pair and a wake-up cost more
 * than a small pair's metrics. It looks again every millisecond instead,
 * and then writes every pair finished meanwhile in one go. The lines so far
 * are flushed before it sleeps: big runs print progressively, with one
 * write a batch rather than a pair. */
static void wait_pair(dv_scan *scan, dv_pair *pair, const dv_metrics_opts *mopts, FILE *out)
{
	while (atomic_load(&pair->state) != DV_PAIR_DONE) {
		struct timespec ts = { 0, 1000000 };

		if (dv_scan_finished(scan)) {
			if (atomic_load(&pair->state) != DV_PAIR_DONE)
				dv_pair_compute(pair, mopts);
			return;
		}
		fflush(out);
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
	}
}

static int parse_threshold(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < 0)
		return -1;
	*out = v;
	return 0;
}

int cmd_compare(int argc, char **argv)
{
	enum { OPT_PHASE = 256, OPT_FILTER, OPT_THRESHOLD, OPT_LAYER_REGEX, OPT_FORMAT, OPT_OUTPUT, OPT_FOLLOW };
	static const struct option longopts[] = {
		{ "phase", required_argument, NULL, OPT_PHASE },
		{ "filter", required_argument, NULL, OPT_FILTER },
		{ "diff-threshold", required_argument, NULL, OPT_THRESHOLD },
		{ "layer-regex", required_argument, NULL, OPT_LAYER_REGEX },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "quiet", no_argument, NULL, 'q' },
		{ "follow-symlinks", no_argument, NULL, OPT_FOLLOW },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	dv_report_opts ropts = { .format = DV_REPORT_TEXT, .threshold = DV_DEFAULT_THRESHOLD };
	const char *filter_src = NULL, *layer_regex = NULL, *output = NULL;
	char **phases = NULL;
	size_t nphases = 0, matched = 0, only_base = 0, only_targ = 0, i;
	pcre2_code *filter = NULL, *layer_re = NULL;
	dv_run *base = NULL, *targ = NULL;
	dv_comparison *cmp = NULL;
	dv_scan *scan = NULL;
	dv_report *report = NULL;
	dv_metrics_opts mopts;
	dv_comparison_opts cmp_opts = {0};
	const dv_report_counts *counts;
	dv_error err = { { 0 } };
	char *diagnosis = NULL;
	char *const *warnings = NULL;
	size_t nwarnings = 0;
	FILE *out = stdout;
	dv_outfile outfile = { 0 };
	bool complete = false;
	int rc = 2, c;

	setlocale(LC_ALL, "");
	ropts.utf8 = !strcmp(nl_langinfo(CODESET), "UTF-8");
	setlocale(LC_NUMERIC, "C");   /* numbers always print with a '.' */

	optind = 0;   /* reinitialise getopt: argv[0] is "compare" */
	while ((c = getopt_long(argc, argv, "+qh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_PHASE: {
			char **grown = realloc(phases, (nphases + 1) * sizeof(*phases));

			if (!grown) {
				fprintf(stderr, PROG ": out of memory\n");
				goto out;
			}
			phases = grown;
			phases[nphases++] = optarg;
			break;
		}
		case OPT_FILTER:
			filter_src = optarg;
			break;
		case OPT_THRESHOLD:
			if (parse_threshold(optarg, &ropts.threshold)) {
				dv_term_fprintf(stderr, PROG ": --diff-threshold wants a number >= 0, not '%s'\n", optarg);
				goto out;
			}
			break;
		case OPT_LAYER_REGEX:
			layer_regex = optarg;
			break;
		case OPT_FORMAT:
			if (dv_report_format_parse(optarg, &ropts.format)) {
				dv_term_fprintf(stderr, PROG ": --format is text, jsonl or csv, not '%s'\n", optarg);
				goto out;
			}
			break;
		case OPT_OUTPUT:
			if (!*optarg) {
				fprintf(stderr, PROG ": --output needs a file name\n");
				goto out;
			}
			output = optarg;
			break;
		case 'q':
			ropts.quiet = true;
			break;
		case OPT_FOLLOW:
			cmp_opts.follow_symlinks = true;
			break;
		case 'h':
			usage(stdout);
			rc = 0;
			goto out;
		default:
			usage(stderr);
			goto out;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, PROG ": expected BASELINE and TARGET\n");
		usage(stderr);
		goto out;
	}
	if (filter_src && !(filter = compile_regex("--filter", filter_src)))
		goto out;
	if (layer_regex) {
		uint32_t ngroups = 0;

		if (!(layer_re = compile_regex("--layer-regex", layer_regex)))
			goto out;
		if (pcre2_pattern_info(layer_re, PCRE2_INFO_CAPTURECOUNT, &ngroups) == 0 && ngroups < 1) {
			dv_term_fprintf(stderr, PROG ": --layer-regex '%s' has no capture group for the layer number\n",
					layer_regex);
			goto out;
		}
	}

	cmp_opts.baseline = argv[optind];
	cmp_opts.target = argv[optind + 1];
	cmp_opts.phases = (const char *const *)phases;
	cmp_opts.nphases = nphases;
	cmp_opts.filter = filter;
	cmp_opts.layer_regex = layer_regex;
	cmp_opts.threshold = ropts.threshold;
	cmp_opts.parallel_open = true;
	if (!(cmp = dv_comparison_open(&cmp_opts, NULL, &err))) {
		dv_term_fprintf(stderr, PROG ": %s\n", err.msg);
		goto out;
	}
	base = cmp->base;
	targ = cmp->targ;
	if (output && check_output(output, base, targ, &err)) {
		dv_term_fprintf(stderr, PROG ": %s\n", err.msg);
		goto out;
	}
	for (i = 0; i < cmp->npairs; i++) {
		if (cmp->pairs[i].kind == DV_PAIR_MATCHED)
			matched++;
		else if (cmp->pairs[i].kind == DV_PAIR_BASELINE_ONLY)
			only_base++;
		else
			only_targ++;
	}
	if (!matched) {
		dv_term_fprintf(stderr, PROG ": no pairs to compare in %s and %s (%zu files only in the baseline, "
				"%zu only in the target)\n", base->root, targ->root, only_base, only_targ);
		goto out;
	}

	if (output) {
		if (dv_outfile_open(&outfile, output, &err)) {
			dv_term_fprintf(stderr, PROG ": %s\n", err.msg);
			goto out;
		}
		out = outfile.f;
	}
	/* Only this thread writes the report, in hundreds of small pieces a
	 * pair: no stdio lock per call (the workers make the process threaded),
	 * and a larger buffer unless a terminal watches the lines come. */
	__fsetlocking(out, FSETLOCKING_BYCALLER);
	if (!isatty(fileno(out)))
		setvbuf(out, NULL, _IOFBF, 1 << 16);

	mopts = dv_metrics_opts_default();
	mopts.threshold = ropts.threshold;
	if (!(scan = dv_comparison_scan_start(cmp, &mopts, ncpus(), -1)) ||
	    !(report = dv_report_new(out, cmp, &ropts))) {
		fprintf(stderr, PROG ": out of memory\n");
		goto out;
	}
	for (i = 0; i < cmp->npairs; i++) {
		if (cmp->pairs[i].kind == DV_PAIR_MATCHED)
			wait_pair(scan, &cmp->pairs[i], &mopts, out);
		dv_report_pair(report, i);
	}
	dv_comparison_scan_wait(cmp);
	diagnosis = dv_diagnose(cmp);
	dv_report_finish(report, diagnosis);

	counts = dv_report_get_counts(report);
	nwarnings = dv_report_warnings(report, &warnings);
	/* CSV has no summary row: its warnings go where the user sees them. */
	if (ropts.format == DV_REPORT_CSV)
		for (i = 0; i < nwarnings; i++)
			dv_term_fprintf(stderr, PROG ": warning: %s\n", warnings[i]);
	if (counts->failed || counts->errored || nwarnings)
		rc = 1;
	else if (counts->passed)
		rc = 0;
	else
		fprintf(stderr, PROG ": no tensor pairs were compared\n");
	if (fflush(out) || ferror(out)) {
		dv_term_fprintf(stderr, PROG ": writing %s: %s\n", output ? output : "standard output", strerror(errno));
		rc = 2;
	} else {
		complete = true;
	}
out:
	if (cmp)
		dv_comparison_scan_stop(cmp);
	dv_report_free(report);
	free(diagnosis);
	/* Only a complete report replaces FILE; otherwise the old one stays. */
	if (outfile.f && complete) {
		if (dv_outfile_commit(&outfile, &err)) {
			dv_term_fprintf(stderr, PROG ": %s\n", err.msg);
			rc = 2;
		}
	} else {
		dv_outfile_abort(&outfile);
	}
	dv_comparison_free(cmp);
	pcre2_code_free(filter);
	pcre2_code_free(layer_re);
	free(phases);
	return rc;
}
