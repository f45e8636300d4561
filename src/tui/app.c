/* dumpview (TUI): placeholder until implemented. */
#include <stdio.h>

#include "dumpview/commands.h"

int cmd_tui(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "dumpview (TUI): not implemented yet\n");
	return 2;
}
