/* dumpview info: placeholder until implemented. */
#include <stdio.h>

#include "dumpview/commands.h"

int cmd_info(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "dumpview info: not implemented yet\n");
	return 2;
}
