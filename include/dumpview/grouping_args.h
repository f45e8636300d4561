/* The command-line options that say how files form logical tensors, shared
 * by `compare` and the explorer: --preset, --grouping-skip-keys,
 * --override-dims, --override-baseline-dims, --override-target-dims; and
 * the name mapping of target names before pairing, --name-map and
 * --name-map-file (`info` takes those two alone). */
#ifndef DUMPVIEW_GROUPING_ARGS_H
#define DUMPVIEW_GROUPING_ARGS_H

#include <getopt.h>
#include <stdio.h>

#include "dumpview/logical.h"
#include "dumpview/name_map.h"

enum {
	DV_OPT_PRESET = 1000,
	DV_OPT_GROUPING_SKIP_KEYS,
	DV_OPT_OVERRIDE_DIMS,
	DV_OPT_OVERRIDE_BASELINE_DIMS,
	DV_OPT_OVERRIDE_TARGET_DIMS,
	DV_OPT_TOKEN_ALIGNER,
	DV_OPT_NAME_MAP,
	DV_OPT_NAME_MAP_FILE,
};

/* --name-map and --name-map-file alone (in DV_GROUPING_LONGOPTS too). */
#define DV_NAME_MAP_LONGOPTS                                                              \
	{ "name-map", required_argument, NULL, DV_OPT_NAME_MAP },                         \
	{ "name-map-file", required_argument, NULL, DV_OPT_NAME_MAP_FILE }

#define DV_NAME_MAP_HELP                                                                          \
	"  --name-map 'REGEX=REPLACEMENT'\n"                                                       \
	"                       rename target tensors before pairing: every match of\n"           \
	"                       REGEX (PCRE2) is replaced ($1, ${name}, \\U..\\E); rules run\n"  \
	"                       in order, each on the previous one's result; repeatable\n"         \
	"  --name-map-file FILE one rule a line, the same syntax; # comments, blank lines\n"     \
	"                       ignored; its rules take the option's place in the order\n"


/* getopt_long entries, to put in a command's option table. */
#define DV_GROUPING_LONGOPTS                                                              \
	{ "preset", required_argument, NULL, DV_OPT_PRESET },                             \
	{ "grouping-skip-keys", required_argument, NULL, DV_OPT_GROUPING_SKIP_KEYS },     \
	{ "override-dims", required_argument, NULL, DV_OPT_OVERRIDE_DIMS },               \
	{ "override-baseline-dims", required_argument, NULL, DV_OPT_OVERRIDE_BASELINE_DIMS }, \
	{ "override-target-dims", required_argument, NULL, DV_OPT_OVERRIDE_TARGET_DIMS }, \
	{ "token-aligner", required_argument, NULL, DV_OPT_TOKEN_ALIGNER }, \
	DV_NAME_MAP_LONGOPTS

/* The lines of --help that describe them. */
#define DV_GROUPING_HELP                                                                          \
	"  --preset P           how files form one logical tensor: sglang_dev (rank files\n"      \
	"                       together), sglang_megatron (rank and step files together,\n"      \
	"                       steps joined on the token dim), raw (one file a side);\n"         \
	"                       default: sglang_megatron for a phase whose target files\n"        \
	"                       carry megatron_parallel_info, else sglang_dev\n"                  \
	"  --grouping-skip-keys K[,K...]\n"                                                        \
	"                       more tags left out of a logical tensor's key (alone: raw\n"       \
	"                       plus these); repeatable\n"                                         \
	"  --override-dims 'REGEX:DIMS'\n"                                                         \
	"                       dims for tensors whose name REGEX finds, both sides, in\n"        \
	"                       place of their meta dims (first matching rule wins)\n"           \
	"  --override-baseline-dims 'REGEX:DIMS', --override-target-dims 'REGEX:DIMS'\n"          \
	"                       the same for one side\n"                                         \
	"  --token-aligner A    none (one step a side), concat_steps (steps joined on the\n"    \
	"                       token dim; sglang_megatron's), smart (sequences matched by\n"  \
	"                       rid or token ids across steps, padding left out)\n"                      \
	DV_NAME_MAP_HELP

typedef struct dv_grouping_args {
	dv_grouping grouping;      /* what to pass to dv_comparison_opts.grouping */
	char **skip;               /* owned, split at commas */
	size_t nskip;
	const char **over[3];      /* --override-dims, -baseline-, -target-, as given */
	size_t nover[3];
	dv_dims_overrides *overrides;
	dv_name_map *name_map;     /* --name-map, --name-map-file in order; NULL: none given.
				      What to pass to dv_comparison_opts.name_map. */
} dv_grouping_args;

void dv_grouping_args_init(dv_grouping_args *a);
/* One option of DV_GROUPING_LONGOPTS (opt its id): 1 taken, 0 not one of
 * them, -1 bad (one line printed to err_out, prefixed with prog). */
int dv_grouping_args_take(dv_grouping_args *a, int opt, const char *arg, const char *prog, FILE *err_out);
/* After the options: the overrides are compiled (both-sides rules first,
 * then baseline, then target) and a->grouping filled. 0, or -1 with a line
 * printed. */
int dv_grouping_args_finish(dv_grouping_args *a, const char *prog, FILE *err_out);
void dv_grouping_args_free(dv_grouping_args *a);

#endif
