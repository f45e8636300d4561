/* Test driver: prints the pairing of two runs, one line per pair in
 * execution order: phase, kind, baseline relpath, target relpath, layer,
 * duplicate indexes; then each phase's line. Used by test_dump_pairs.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/dump.h"

static const char *phase_dir(const dv_run *run, const char *name)
{
	for (size_t i = 0; i < run->nphases; i++)
		if (!strcmp(run->phases[i].name, name) || run->bare)
			return run->phases[i].dir;
	return "-";
}

int main(int argc, char **argv)
{
	static const char *const kinds[] = {"matched", "baseline_only", "target_only"};
	dv_run_opts opts = {0};
	dv_error err = {{0}};
	dv_run *b, *t;
	dv_comparison *cmp;
	pcre2_code *filter = NULL;

	if (argc < 3) {
		fprintf(stderr, "usage: dump_pairs BASELINE TARGET [FILTER]\n");
		return 2;
	}
	if (argc > 3 && !(filter = dv_regex_compile(argv[3], true, &err))) {
		fprintf(stderr, "%s\n", err.msg);
		return 2;
	}
	if (!(b = dv_run_open(argv[1], &opts, &err)) || !(t = dv_run_open(argv[2], &opts, &err))) {
		fprintf(stderr, "%s\n", err.msg);
		return 2;
	}
	if (!(cmp = dv_comparison_build(b, t, filter, &err))) {
		fprintf(stderr, "%s\n", err.msg);
		return 2;
	}
	for (size_t k = 0; k < cmp->nphases; k++) {
		const dv_phase_pairs *ph = &cmp->phases[k];

		printf("phase\t%s\t%d\t%d\t%zu\t%s\t%s\n", ph->name, ph->in_base, ph->in_targ, ph->count,
		       phase_dir(b, ph->name), phase_dir(t, ph->name));
		for (size_t i = ph->first; i < ph->first + ph->count; i++) {
			const dv_pair *p = &cmp->pairs[i];

			printf("pair\t%s\t%s\t%s\t%s\t%s\t%d\t%lld\t%lld\t%d\t%d\n", ph->name, kinds[p->kind],
			       p->base ? dv_dumpfile_relpath(p->base) : "-", p->targ ? dv_dumpfile_relpath(p->targ) : "-", p->name,
			       p->layer, (long long)p->step, (long long)p->rank,
			       p->base ? p->base->duplicate_index : -1, p->targ ? p->targ->duplicate_index : -1);
		}
	}
	dv_comparison_free(cmp);
	pcre2_code_free(filter);
	return 0;
}
