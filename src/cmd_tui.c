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
#include "dumpview/metrics.h"
#include "dumpview/tui.h"

static void usage(FILE *out)
{
	fprintf(out, "usage: dumpview [--diff-threshold X] [--filter RE] [--layer-regex RE] [--ascii] [--no-color]\n"
		     "                [--no-scan] [--follow-symlinks] BASELINE TARGET\n"
		     "       dumpview --print-keys\n"
		     "Explore where two tensor dumps diverge. Press ? inside for the keys; see dumpview(1).\n");
}

int cmd_tui(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "diff-threshold", required_argument, NULL, 't' },
		{ "filter", required_argument, NULL, 'f' },
		{ "layer-regex", required_argument, NULL, 'l' },
		{ "ascii", no_argument, NULL, 'a' },
		{ "no-color", no_argument, NULL, 'C' },
		{ "no-scan", no_argument, NULL, 'S' },
		{ "follow-symlinks", no_argument, NULL, 'F' },
		{ "print-keys", no_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
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
		switch (c) {
		case 't': {
			char *end;
			errno = 0;
			o.threshold = strtod(optarg, &end);
			if (errno || end == optarg || *end || !isfinite(o.threshold) || o.threshold < 0) {
				dv_term_fprintf(stderr, "dumpview: --diff-threshold: '%s' is not a number >= 0\n", optarg);
				return 2;
			}
			break;
		}
		case 'f': o.filter = optarg; break;
		case 'l': o.layer_regex = optarg; break;
		case 'a': o.ascii = true; break;
		case 'C': o.no_color = true; break;
		case 'S': o.no_scan = true; break;
		case 'F': o.follow_symlinks = true; break;
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
			if (optopt)
				dv_term_fprintf(stderr, "dumpview: option -%c: unknown or missing its argument\n", optopt);
			else
				dv_term_fprintf(stderr, "dumpview: %s: unknown option or missing its argument\n",
						argv[optind - 1]);
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "dumpview: expected BASELINE and TARGET, got %d argument%s\n", argc - optind,
			argc - optind == 1 ? "" : "s");
		usage(stderr);
		return 2;
	}
	o.baseline = argv[optind];
	o.target = argv[optind + 1];
	const char *script = getenv("DUMPVIEW_SCRIPT");
	if (script && *script)
		o.script = script;
	char err[1024] = "";
	int rc = dv_tui_run(&o, err, sizeof(err));
	if (err[0])
		dv_term_fprintf(stderr, "dumpview: %s\n", err);
	return rc;
}
