/* dumpview compare: the non-interactive comparator. The scan's worker pool
 * computes pairs on every core; this thread prints them in execution order
 * as they finish, so big runs print progressively. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dumpview/threadprio.h"
#include "dumpview/commands.h"
#include "dumpview/comparison.h"
#include "dumpview/escape.h"
#include "dumpview/metrics.h"
#include "dumpview/grouping_args.h"
#include "dumpview/outfile.h"
#include "dumpview/pt.h"
#include "dumpview/report.h"
#include "dumpview/rules.h"

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
		"  --rule 'REGEX=PREDICATE'\n"
		"                       a tensor whose name fully matches REGEX passes when\n"
		"                       PREDICATE holds ('rel <= 0.0085 or max_abs <= 1e-3'); the\n"
		"                       first matching rule decides; repeatable\n"
		"  --rules FILE         rules from FILE, one 'REGEX PREDICATE' a line, # comments\n"
		"  --diff-threshold X   the catch-all rule '.* rel <= X', placed last (default\n"
		"                       0.001, present by itself only when no rule is given)\n"
		"  --allow-failed-pattern RE\n"
		"                       failed tensors whose name fully matches RE do not fail\n"
		"                       the exit status (default: none allowed)\n"
		"  --allow-skipped-pattern RE\n"
		"                       skipped names must fully match RE (default .*)\n"
		DV_GROUPING_HELP
		"  --layer-regex RE     group 1 of RE in a tensor name is its layer\n"
		"  --format F           text (default), jsonl, csv or sglang-jsonl (the records\n"
		"                       of SGLang's comparator report)\n"
		"  --output FILE        write the report to FILE instead of standard output\n"
		"                       (never one of the dumps or inside a run; written to a\n"
		"                       temporary file in FILE's folder, renamed when complete)\n"
		"  --shard K/N          compare slice K (1..N) of N disjoint slices of the\n"
		"                       logical tensors (by a hash of phase, name and first\n"
		"                       file); jsonl parts are joined by 'dumpview merge';\n"
		"                       text and csv print the slice\n"
		"  --quiet              text: print failed pairs only\n"
		"  --follow-symlinks    follow symlinked folders that lead outside a run\n"
		"  --verify-crc         check each tensor record's CRC-32 (torch does not; sizes\n"
		"                       and bounds are checked either way)\n"
		"  --help               this help\n"
		"\n"
		"Exit status: 0 passed; 1 nothing passed, anything errored (a name no rule\n"
		"matches included), a failure not allowed by --allow-failed-pattern, a skip\n"
		"not allowed by --allow-skipped-pattern, or a warning (a folder not read, a\n"
		"phase on one side only or with no pair, more than half of one side's files\n"
		"unmatched); 2 usage error (a bad rule included), missing directory or no\n"
		"pairs.\n");
}

/* Compiles a user regex; on error prints PCRE2's message and offset.
 * flags: PCRE2_ANCHORED | PCRE2_ENDANCHORED for a full match. */
static pcre2_code *compile_regex(const char *what, const char *pattern, uint32_t flags)
{
	int errcode;
	PCRE2_SIZE offset;
	PCRE2_UCHAR msg[256];
	pcre2_code *re;

	re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | flags,
			   &errcode, &offset, NULL);
	if (!re) {
		if (pcre2_get_error_message(errcode, msg, sizeof(msg)) < 0)
			snprintf((char *)msg, sizeof(msg), "error %d", errcode);
		dv_term_fprintf(stderr, PROG ": bad %s regex '%s' at offset %zu: %s\n", what, pattern,
				(size_t)offset, (char *)msg);
	}
	return re;
}

/* Every file of both runs, one at a time, for dv_output_check_each. */
typedef struct run_files {
	const dv_run *runs[2];
	size_t r, p, i;
	dv_path_buf buf;
} run_files;

static const char *next_run_file(void *ctx)
{
	run_files *it = ctx;

	for (; it->r < 2; it->r++, it->p = 0)
		for (; it->p < it->runs[it->r]->nphases; it->p++, it->i = 0)
			if (it->i < it->runs[it->r]->phases[it->p].nfiles)
				return dv_dumpfile_path(&it->runs[it->r]->phases[it->p].files[it->i++], &it->buf);
	return NULL;
}

/* --output must not land on an input or inside either run: the runs' roots,
 * every file compared and the folders holding them are protected. */
static int check_output(const char *output, const dv_run *base, const dv_run *targ, dv_error *err)
{
	const char *dirs[2] = { base->root, targ->root };
	run_files *it = calloc(1, sizeof(*it));
	int rc;

	if (!it)
		return dv_error_set(err, "--output %s: out of memory", output);
	it->runs[0] = base;
	it->runs[1] = targ;
	rc = dv_output_check_each(output, dirs, 2, next_run_file, it, err);
	free(it);
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

/* The workers may run ahead of this thread by at most SCAN_AHEAD pairs:
 * every computed pair not yet written holds its whole result (~1 KB), and
 * a printer slowed down (a busy machine, a slow pipe) must not let them
 * pile up. Paused at SCAN_AHEAD ahead, resumed under SCAN_AHEAD / 4: the
 * workers never starve this thread, and pause rarely. */
#define SCAN_AHEAD 1024

/* Whether a worker has taken pair k: 1 yes, 0 not yet, -1 cannot tell
 * (an unmatched pair or one of another shard is DONE from the start). */
static int taken(const dv_comparison *cmp, size_t k)
{
	if (cmp->pairs[k].kind != DV_PAIR_MATCHED || !dv_comparison_in_shard(cmp, k))
		return -1;
	return atomic_load(&cmp->pairs[k].state) != DV_PAIR_PENDING;
}

static void pace_scan(dv_scan *scan, const dv_comparison *cmp, size_t i, bool *paused)
{
	size_t far = i + SCAN_AHEAD, near = i + SCAN_AHEAD / 4;

	if (!*paused && far < cmp->npairs && taken(cmp, far) == 1) {
		dv_scan_pause(scan, true);
		*paused = true;
	} else if (*paused && (near >= cmp->npairs || taken(cmp, near) == 0 ||
			       atomic_load(&cmp->pairs[i].state) != DV_PAIR_DONE)) {
		/* resumed before waiting on a pair too: a paused scan computes none */
		dv_scan_pause(scan, false);
		*paused = false;
	}
}

/* "K/N", 1 <= K <= N. */
static int parse_shard(const char *s, unsigned *k, unsigned *n)
{
	unsigned long a, b;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	a = strtoul(s, &end, 10);
	if (errno || *end != '/' || end[1] < '0' || end[1] > '9')
		return -1;
	b = strtoul(end + 1, &end, 10);
	if (errno || *end || !b || !a || a > b || b > 1000000)
		return -1;
	*k = (unsigned)a;
	*n = (unsigned)b;
	return 0;
}

/* FNV-1a of a string and its NUL. */
static uint64_t fnv(uint64_t h, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "\x01(none)");

	do {
		h ^= *p;
		h *= 1099511628211ULL;
	} while (*p++);
	return h;
}

/* What the parts of one sharded comparison must share: every option that
 * changes a record or the summary, and the pairing of the dumps. */
static uint64_t fingerprint(const dv_report_config *c, const dv_grouping_args *g, const dv_comparison *cmp)
{
	uint64_t h = 14695981039346656037ULL;
	char num[64];

	h = fnv(h, c->baseline);
	h = fnv(h, c->target);
	for (size_t i = 0; i < c->nphases; i++)
		h = fnv(h, c->phases[i]);
	h = fnv(h, "|");
	h = fnv(h, c->filter);
	h = fnv(h, c->layer_regex);
	snprintf(num, sizeof(num), "%.17g", c->diff_threshold);
	h = fnv(h, num);
	for (size_t i = 0; c->rules && i < dv_rules_count(c->rules); i++) {
		const dv_rule *rule = dv_rules_get(c->rules, i);

		h = fnv(h, dv_rule_regex(rule));
		h = fnv(h, dv_rule_canonical(rule));
	}
	h = fnv(h, "|");
	h = fnv(h, c->allow_failed_pattern);
	h = fnv(h, c->allow_skipped_pattern);
	snprintf(num, sizeof(num), "%d %d %d", c->follow_symlinks, g->grouping.preset, g->grouping.token_aligner);
	h = fnv(h, num);
	for (size_t i = 0; i < g->nskip; i++)
		h = fnv(h, g->skip[i]);
	for (int k = 0; k < 3; k++) {
		h = fnv(h, "|");
		for (size_t i = 0; i < g->nover[k]; i++)
			h = fnv(h, g->over[k][i]);
	}
	snprintf(num, sizeof(num), "%016" PRIx64, dv_comparison_pairing_hash(cmp));
	return fnv(h, num);
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
	enum { OPT_PHASE = 256, OPT_FILTER, OPT_THRESHOLD, OPT_LAYER_REGEX, OPT_FORMAT, OPT_OUTPUT, OPT_FOLLOW,
	       OPT_RULE, OPT_RULES, OPT_ALLOW_FAILED, OPT_ALLOW_SKIPPED, OPT_SHARD, OPT_VERIFY_CRC };
	static const struct option longopts[] = {
		{ "phase", required_argument, NULL, OPT_PHASE },
		{ "filter", required_argument, NULL, OPT_FILTER },
		{ "diff-threshold", required_argument, NULL, OPT_THRESHOLD },
		{ "rule", required_argument, NULL, OPT_RULE },
		{ "rules", required_argument, NULL, OPT_RULES },
		{ "allow-failed-pattern", required_argument, NULL, OPT_ALLOW_FAILED },
		{ "allow-skipped-pattern", required_argument, NULL, OPT_ALLOW_SKIPPED },
		{ "layer-regex", required_argument, NULL, OPT_LAYER_REGEX },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "quiet", no_argument, NULL, 'q' },
		{ "shard", required_argument, NULL, OPT_SHARD },
		{ "follow-symlinks", no_argument, NULL, OPT_FOLLOW },
		{ "verify-crc", no_argument, NULL, OPT_VERIFY_CRC },
		{ "help", no_argument, NULL, 'h' },
		DV_GROUPING_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	dv_grouping_args gargs;
	dv_report_opts ropts = { .format = DV_REPORT_TEXT, .threshold = DV_DEFAULT_THRESHOLD };
	const char *filter_src = NULL, *layer_regex = NULL, *output = NULL;
	const char *allow_failed_src = NULL, *allow_skipped_src = NULL;
	pcre2_code *allow_failed = NULL, *allow_skipped = NULL;
	dv_rules *rules = NULL;
	dv_report_config config = { 0 };
	bool has_threshold = false;
	char **phases = NULL;
	size_t nphases = 0, matched = 0, only_base = 0, only_targ = 0, i;
	pcre2_code *filter = NULL, *layer_re = NULL;
	dv_run *base = NULL, *targ = NULL;
	dv_comparison *cmp = NULL;
	dv_scan *scan = NULL;
	dv_report *report = NULL;
	dv_metrics_opts mopts;
	dv_comparison_opts cmp_opts = {0};
	dv_gate gate;
	dv_error err = { { 0 } };
	char *diagnosis = NULL;
	char *const *warnings = NULL;
	size_t nwarnings = 0;
	FILE *out = stdout;
	dv_outfile outfile = { 0 };
	bool complete = false, paused = false;
	unsigned shard_k = 0, shard_n = 0;
	dv_report_shard shard = { 0 };
	int rc = 2, c;

	setlocale(LC_ALL, "");
	ropts.utf8 = !strcmp(nl_langinfo(CODESET), "UTF-8");
	setlocale(LC_NUMERIC, "C");   /* numbers always print with a '.' */
	dv_grouping_args_init(&gargs);

	if (!(rules = dv_rules_new())) {
		fprintf(stderr, PROG ": out of memory\n");
		goto out;
	}
	optind = 0;   /* reinitialise getopt: argv[0] is "compare" */
	while ((c = getopt_long(argc, argv, "+qh", longopts, NULL)) != -1) {
		int taken = dv_grouping_args_take(&gargs, c, optarg, PROG, stderr);

		if (taken < 0)
			goto out;
		if (taken)
			continue;
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
			has_threshold = true;
			break;
		case OPT_RULE:
			if (dv_rules_add(rules, optarg, &err)) {
				dv_term_fprintf(stderr, PROG ": --rule: %s\n", err.msg);
				goto out;
			}
			break;
		case OPT_RULES:
			if (dv_rules_load_file(rules, optarg, &err)) {
				dv_term_fprintf(stderr, PROG ": --rules: %s\n", err.msg);
				goto out;
			}
			break;
		case OPT_ALLOW_FAILED:
			allow_failed_src = optarg;
			break;
		case OPT_ALLOW_SKIPPED:
			allow_skipped_src = optarg;
			break;
		case OPT_LAYER_REGEX:
			layer_regex = optarg;
			break;
		case OPT_FORMAT:
			if (dv_report_format_parse(optarg, &ropts.format)) {
				dv_term_fprintf(stderr, PROG ": --format is text, jsonl, csv or sglang-jsonl, not '%s'\n",
						optarg);
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
		case OPT_SHARD:
			if (parse_shard(optarg, &shard_k, &shard_n)) {
				dv_term_fprintf(stderr, PROG ": --shard wants K/N with 1 <= K <= N, not '%s'\n", optarg);
				goto out;
			}
			break;
		case OPT_FOLLOW:
			cmp_opts.follow_symlinks = true;
			break;
		case OPT_VERIFY_CRC:
			pt_set_verify_crc(true);
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
	if (shard_n && ropts.format == DV_REPORT_SGLANG_JSONL) {
		fprintf(stderr, PROG ": --shard works with --format text, jsonl or csv\n");
		goto out;
	}
	if (dv_grouping_args_finish(&gargs, PROG, stderr) < 0)
		goto out;
	if (filter_src && !(filter = compile_regex("--filter", filter_src, 0)))
		goto out;
	/* --diff-threshold is the catch-all placed after every rule; without
	 * it the set keeps its own default: the catch-all only when no rule
	 * was given, so a rule list fails closed on a name it does not cover. */
	if (has_threshold && dv_rules_set_catch_all(rules, true, ropts.threshold)) {
		fprintf(stderr, PROG ": out of memory\n");
		goto out;
	}
	if (allow_failed_src &&
	    !(allow_failed = compile_regex("--allow-failed-pattern", allow_failed_src, PCRE2_ANCHORED | PCRE2_ENDANCHORED)))
		goto out;
	if (allow_skipped_src && !(allow_skipped = compile_regex("--allow-skipped-pattern", allow_skipped_src,
								 PCRE2_ANCHORED | PCRE2_ENDANCHORED)))
		goto out;
	if (layer_regex) {
		uint32_t ngroups = 0;

		if (!(layer_re = compile_regex("--layer-regex", layer_regex, 0)))
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
	cmp_opts.grouping = &gargs.grouping;
	cmp_opts.name_map = gargs.name_map;
	cmp_opts.parallel_open = true;
	if (!(cmp = dv_comparison_open(&cmp_opts, NULL, &err))) {
		dv_term_fprintf(stderr, PROG ": %s\n", err.msg);
		goto out;
	}
	if (dv_comparison_set_rules(cmp, rules, &err)) {
		dv_term_fprintf(stderr, PROG ": %s\n", err.msg);
		goto out;
	}
	if (shard_n && dv_comparison_set_shard(cmp, shard_k, shard_n, &err)) {
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
	if (!isatty(fileno(out))) {
		/* a buffer of our own: given none, glibc keeps st_blksize (4 KiB) */
		static char outbuf[1 << 16];

		setvbuf(out, outbuf, _IOFBF, sizeof(outbuf));
	}

	config.baseline = cmp_opts.baseline;
	config.target = cmp_opts.target;
	config.phases = cmp_opts.phases;
	config.nphases = nphases;
	config.filter = filter_src;
	config.layer_regex = layer_regex;
	config.diff_threshold = has_threshold ? ropts.threshold : NAN;
	config.rules = rules;
	config.allow_failed_pattern = allow_failed_src;
	config.allow_skipped_pattern = allow_skipped_src;
	config.output = output;
	config.follow_symlinks = cmp_opts.follow_symlinks;
	ropts.config = &config;
	if (shard_n) {
		shard.k = shard_k;
		shard.n = shard_n;
		shard.fingerprint = fingerprint(&config, &gargs, cmp);
		shard.allow_failed_pattern = allow_failed_src;
		shard.allow_skipped_pattern = allow_skipped_src;
		ropts.shard = &shard;
	}
	mopts = dv_metrics_opts_default();
	mopts.threshold = ropts.threshold;
	if (!(scan = dv_comparison_scan_start(cmp, &mopts, dv_usable_cpus(), -1)) ||
	    !(report = dv_report_new(out, cmp, &ropts))) {
		fprintf(stderr, PROG ": out of memory\n");
		goto out;
	}
	for (i = 0; i < cmp->npairs; i++) {
		if (!dv_comparison_in_shard(cmp, i))
			continue;
		pace_scan(scan, cmp, i, &paused);
		if (cmp->pairs[i].kind == DV_PAIR_MATCHED)
			wait_pair(scan, &cmp->pairs[i], &mopts, out);
		dv_report_pair(report, i);
		/* written: only its verdict is read again (the pass rule is set) */
		dv_comparison_retire(cmp, i);
	}
	dv_comparison_scan_wait(cmp);
	/* Fail closed: a run where nothing passed (every pair skipped, say
	 * non-tensor values only) vouches for nothing; failures count through
	 * the allow pattern, errors and warnings never. The gate is the
	 * comparison's (the explorer shows the same); the first name each
	 * allow pattern does not forgive is said, with how many there are.
	 * A shard's gate judges its slice; its summary carries what `merge`
	 * needs to judge the whole. */
	rc = dv_comparison_gate(cmp, allow_failed, allow_skipped, &gate);
	shard.failed_not_allowed = gate.failed_not_allowed;
	shard.skipped_not_allowed = gate.skipped_not_allowed;
	shard.first_failed = gate.failed_not_allowed ? (ptrdiff_t)gate.first_failed_index : -1;
	shard.first_skipped = gate.skipped_not_allowed ? (ptrdiff_t)gate.first_skipped_index : -1;
	/* the diagnosis is of the whole comparison: a shard leaves it to merge */
	diagnosis = shard_n ? NULL : dv_diagnose(cmp);
	dv_report_finish(report, diagnosis);

	nwarnings = dv_report_warnings(report, &warnings);
	/* CSV has no summary row: its warnings go where the user sees them. */
	if (ropts.format == DV_REPORT_CSV)
		for (i = 0; i < nwarnings; i++)
			dv_term_fprintf(stderr, PROG ": warning: %s\n", warnings[i]);
	dv_gate_explain(stderr, PROG, gate.passed, gate.failed, gate.errored, gate.failed_not_allowed, allow_failed != NULL,
			gate.first_failed, gate.skipped_not_allowed, gate.first_skipped);
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
	pcre2_code_free(allow_failed);
	pcre2_code_free(allow_skipped);
	dv_rules_free(rules);
	dv_grouping_args_free(&gargs);
	free(phases);
	return rc;
}
