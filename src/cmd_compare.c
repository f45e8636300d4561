/* dumpview compare: placeholder until implemented. */
#include <stdio.h>

#include "dumpview/commands.h"

int cmd_compare(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "dumpview compare: not implemented yet\n");
	return 2;
}
