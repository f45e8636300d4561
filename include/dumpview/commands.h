/* The subcommands dispatched by main.c. Each parses its own options
 * (argv[0] is the command name) and returns the process exit code:
 * 0 success, 1 differences found (compare), 2 usage or input errors. */
#ifndef DUMPVIEW_COMMANDS_H
#define DUMPVIEW_COMMANDS_H

int cmd_show(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_merge(int argc, char **argv);
/* `dumpview [options] BASELINE TARGET`: the interactive explorer. */
int cmd_tui(int argc, char **argv);

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Why the gate of compare (or of merge, on the whole comparison) fails, one
 * line each on err: nothing passed, failures --allow-failed-pattern does
 * not allow (said only when the pattern was given), skips
 * --allow-skipped-pattern does not allow. */
void dv_gate_explain(FILE *err, const char *prog, size_t passed, size_t failed, size_t errored,
		     size_t failed_not_allowed, bool allow_failed_given, const char *first_failed,
		     size_t skipped_not_allowed, const char *first_skipped);

#endif
