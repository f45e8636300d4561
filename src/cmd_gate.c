/* The gate's reasons as compare and merge print them. */
#include "dumpview/commands.h"
#include "dumpview/escape.h"

void dv_gate_explain(FILE *err, const char *prog, size_t passed, size_t failed, size_t errored,
		     size_t failed_not_allowed, bool allow_failed_given, const char *first_failed,
		     size_t skipped_not_allowed, const char *first_skipped)
{
	if (!passed && !failed && !errored)
		fprintf(err, "%s: no tensor pair passed\n", prog);
	if (failed_not_allowed && allow_failed_given)
		dv_term_fprintf(err, "%s: %zu failed tensor(s) not allowed by --allow-failed-pattern, the first '%s'\n",
				prog, failed_not_allowed, first_failed ? first_failed : "");
	if (skipped_not_allowed)
		dv_term_fprintf(err, "%s: %zu skipped name(s) not allowed by --allow-skipped-pattern, the first '%s'\n",
				prog, skipped_not_allowed, first_skipped ? first_skipped : "");
}
