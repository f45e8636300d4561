/* --preset, --grouping-skip-keys and --override-*dims for the commands. */
#include <stdlib.h>
#include <string.h>

#include "dumpview/escape.h"
#include "dumpview/grouping_args.h"

void dv_grouping_args_init(dv_grouping_args *a)
{
	memset(a, 0, sizeof(*a));
	a->grouping.preset = -1;
	a->grouping.token_aligner = DV_TOKEN_ALIGNER_DEFAULT;
}

static int add_keys(dv_grouping_args *a, const char *arg)
{
	const char *p = arg;

	while (*p) {
		size_t len = strcspn(p, ", ");
		char **grown;

		if (len) {
			if (!(grown = realloc(a->skip, (a->nskip + 1) * sizeof(*grown))) ||
			    !(grown[a->nskip] = strndup(p, len))) {
				if (grown)
					a->skip = grown;
				return -1;
			}
			a->skip = grown;
			a->nskip++;
		}
		p += len;
		p += strspn(p, ", ");
	}
	return 0;
}

int dv_grouping_args_take(dv_grouping_args *a, int opt, const char *arg, const char *prog, FILE *err_out)
{
	int k;

	switch (opt) {
	case DV_OPT_PRESET:
		if ((k = dv_preset_from_name(arg)) < 0) {
			dv_term_fprintf(err_out, "%s: --preset is sglang_dev, sglang_megatron or raw, not '%s'\n", prog, arg);
			return -1;
		}
		a->grouping.preset = k;
		return 1;
	case DV_OPT_TOKEN_ALIGNER:
		if ((k = dv_token_aligner_from_name(arg)) < 0) {
			dv_term_fprintf(err_out, "%s: --token-aligner is none, concat_steps or smart, not '%s'\n", prog,
					arg);
			return -1;
		}
		a->grouping.token_aligner = k;
		return 1;
	case DV_OPT_GROUPING_SKIP_KEYS:
		if (!arg[strspn(arg, ", ")]) {
			dv_term_fprintf(err_out, "%s: --grouping-skip-keys needs tag names, not '%s'\n", prog, arg);
			return -1;
		}
		if (add_keys(a, arg) < 0) {
			fprintf(err_out, "%s: out of memory\n", prog);
			return -1;
		}
		return 1;
	case DV_OPT_OVERRIDE_DIMS:
	case DV_OPT_OVERRIDE_BASELINE_DIMS:
	case DV_OPT_OVERRIDE_TARGET_DIMS: {
		int i = opt - DV_OPT_OVERRIDE_DIMS;
		const char **grown = realloc(a->over[i], (a->nover[i] + 1) * sizeof(*grown));

		if (!grown) {
			fprintf(err_out, "%s: out of memory\n", prog);
			return -1;
		}
		a->over[i] = grown;
		a->over[i][a->nover[i]++] = arg;
		return 1;
	}
	case DV_OPT_NAME_MAP:
	case DV_OPT_NAME_MAP_FILE: {
		dv_error err = {{0}};
		int rc;

		if (!a->name_map && !(a->name_map = dv_name_map_new())) {
			fprintf(err_out, "%s: out of memory\n", prog);
			return -1;
		}
		if (opt == DV_OPT_NAME_MAP_FILE) {
			if ((rc = dv_name_map_load(a->name_map, arg, &err)) < 0)
				dv_term_fprintf(err_out, "%s: --name-map-file %s\n", prog, err.msg);
		} else {
			size_t ol = strlen(arg) + 16;
			char *origin = malloc(ol);

			if (!origin) {
				fprintf(err_out, "%s: out of memory\n", prog);
				return -1;
			}
			snprintf(origin, ol, "--name-map '%s'", arg);
			if ((rc = dv_name_map_add(a->name_map, arg, origin, NULL, &err)) < 0)
				dv_term_fprintf(err_out, "%s: %s: %s\n", prog, origin, err.msg);
			free(origin);
		}
		return rc < 0 ? -1 : 1;
	}
	default:
		return 0;
	}
}

int dv_grouping_args_finish(dv_grouping_args *a, const char *prog, FILE *err_out)
{
	static const dv_dims_side sides[3] = {DV_DIMS_SIDE_BOTH, DV_DIMS_SIDE_BASELINE, DV_DIMS_SIDE_TARGET};
	static const char *const names[3] = {"--override-dims", "--override-baseline-dims", "--override-target-dims"};

	a->grouping.skip_keys = (const char *const *)a->skip;
	a->grouping.nskip_keys = a->nskip;
	if (!a->nover[0] && !a->nover[1] && !a->nover[2])
		return 0;
	if (!(a->overrides = dv_dims_overrides_new())) {
		fprintf(err_out, "%s: out of memory\n", prog);
		return -1;
	}
	for (int s = 0; s < 3; s++)
		for (size_t i = 0; i < a->nover[s]; i++) {
			dv_error err = {{0}};

			if (dv_dims_overrides_add_arg(a->overrides, a->over[s][i], sides[s], &err) < 0) {
				dv_term_fprintf(err_out, "%s: %s: %s\n", prog, names[s], err.msg);
				return -1;
			}
		}
	a->grouping.overrides = a->overrides;
	return 0;
}

void dv_grouping_args_free(dv_grouping_args *a)
{
	for (size_t i = 0; i < a->nskip; i++)
		free(a->skip[i]);
	free(a->skip);
	for (int s = 0; s < 3; s++)
		free(a->over[s]);
	dv_dims_overrides_free(a->overrides);
	dv_name_map_free(a->name_map);
	memset(a, 0, sizeof(*a));
}
