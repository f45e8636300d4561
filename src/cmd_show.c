/* dumpview show: placeholder until implemented. */
#include <stdio.h>

#include "dumpview/commands.h"

int cmd_show(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "dumpview show: not implemented yet\n");
	return 2;
}
