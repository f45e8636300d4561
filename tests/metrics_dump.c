/* Test helper (not a test): reads "BASELINE\tTARGET" lines on stdin and
 * prints one JSON object per pair with the metrics layer's results, for
 * tests/test_metrics_examples.sh to check against torch's numbers. A line
 * "synthetic\tKIND\tN\tSEED" instead prints the statistics of the vector
 * tests/fixtures/metrics/gen_torch_quantiles.py makes from the same numbers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/metrics.h"

static void num(const char *key, double v)
{
	if (isnan(v))
		printf(",\"%s\":\"nan\"", key);
	else if (isinf(v))
		printf(",\"%s\":\"%s\"", key, v < 0 ? "-inf" : "inf");
	else
		printf(",\"%s\":%.17g", key, v);
}

static void stats(const char *side, const dv_stats *s)
{
	char key[64];
	static const char *const names[] = { "mean", "std", "min", "max" };
	const double vals[] = { s->mean, s->std, s->min, s->max };

	for (int i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "%s_%s", side, names[i]);
		num(key, vals[i]);
	}
	for (int i = 0; i < DV_NQUANTILES && s->has_percentiles; i++) {
		snprintf(key, sizeof(key), "%s_%s", side, dv_quantile_name[i]);
		num(key, s->p[i]);
	}
	printf(",\"%s_nan\":%lld,\"%s_inf\":%lld", side, (long long)dv_stats_nan(s), side, (long long)dv_stats_inf(s));
}

static void synthetic(int kind, int64_t n, uint64_t s)
{
	float *f = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
	uint16_t *h = malloc((size_t)(n > 0 ? n : 1) * sizeof(uint16_t));
	dv_tensor_desc d = { .dtype = kind == 1 ? DV_BFLOAT16 : DV_FLOAT32, .ndim = 1, .shape = { n } };
	dv_pair_result r;

	for (int64_t i = 0; i < n; i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		if (kind == 2)
			f[i] = (float)((s >> 40) % 7) - 3.0f;
		else
			f[i] = (float)((int64_t)(s >> 40) - (1 << 23)) / (float)(1 << 20);
		h[i] = dv_f32_to_bf16(f[i]);
	}
	dv_compare_buffers(&d, kind == 1 ? (void *)h : (void *)f, &d, kind == 1 ? (void *)h : (void *)f, NULL, &r,
			   NULL);
	printf("{\"n\":%lld", (long long)n);
	stats("s", &r.base_stats);
	printf("}\n");
	free(f);
	free(h);
}

int main(void)
{
	char line[8192];
	dv_metrics_opts o = dv_metrics_opts_default();

	while (fgets(line, sizeof(line), stdin)) {
		char *tab = strchr(line, '\t'), *nl;
		dv_pair_result r;

		if (!tab)
			continue;
		if (!strncmp(line, "synthetic\t", 10)) {
			int kind;
			long long n;
			unsigned long long seed;

			if (sscanf(line + 10, "%d\t%lld\t%llu", &kind, &n, &seed) == 3)
				synthetic(kind, n, seed);
			continue;
		}
		*tab = '\0';
		nl = strchr(tab + 1, '\n');
		if (nl)
			*nl = '\0';
		dv_compare_files(line, tab + 1, &o, &r);
		printf("{\"status\":%d,\"passed\":%s,\"equal\":%s", (int)r.status, r.passed ? "true" : "false",
		       r.equal ? "true" : "false");
		if (r.status == DV_RESULT_COMPARED || r.status == DV_RESULT_SHAPE_MISMATCH) {
			printf(",\"numel\":%lld,\"identical\":%lld", (long long)r.numel, (long long)r.identical);
			num("rel_diff", r.rel_diff);
			num("max_abs_diff", r.max_abs_diff);
			num("mean_abs_diff", r.mean_abs_diff);
			printf(",\"max_abs_diff_coord\":[");
			for (int i = 0; i < r.max_abs_diff_ndim; i++)
				printf(i ? ",%lld" : "%lld", (long long)dv_result_coord(&r)[i]);
			printf("]");
			num("max_abs_diff_base", r.max_abs_diff_base);
			num("max_abs_diff_targ", r.max_abs_diff_targ);
			if (r.has_bf16) {
				num("bf16_rel_diff", r.bf16_rel_diff);
				num("bf16_max_abs_diff", r.bf16_max_abs_diff);
				num("bf16_mean_abs_diff", r.bf16_mean_abs_diff);
			}
			stats("baseline", &r.base_stats);
			stats("target", &r.targ_stats);
		}
		if (r.error[0]) {
			printf(",\"error\":\"");
			for (const char *p = r.error; *p; p++)
				printf(*p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
			printf("\"");
		}
		printf("}\n");
		fflush(stdout);
		dv_pair_result_free(&r);
	}
	return 0;
}
