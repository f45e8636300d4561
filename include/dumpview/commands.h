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

#endif
