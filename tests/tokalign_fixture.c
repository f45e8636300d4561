/* Test driver: loads both sides' token-alignment aux values from two bare
 * runs (dv_ta_side_load), aligns them (dv_ta_align) and prints one JSON
 * object: each side's framework and layout, the coverage, the matched
 * sequences' ranges, the plan, and per hidden tensor (name, layer) the
 * metrics of the tokens gathered by the plan, whole and per sequence.
 * test_tokalign_fixtures.sh checks it against the tokalign fixtures'
 * expected.json.
 * Usage: tokalign_fixture BASELINE TARGET */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/dump.h"
#include "dumpview/pt.h"
#include "dumpview/token_align.h"

#define THRESHOLD 1e-3

static void put_str(const char *s)
{
	putchar('"');
	for (; *s; s++)
		printf(*s == '"' || *s == '\\' ? "\\%c" : (unsigned char)*s < 0x20 ? "\\u%04x" : "%c", *s);
	putchar('"');
}

static void put_strs(char **v, size_t n)
{
	printf("[");
	for (size_t i = 0; i < n; i++) {
		printf("%s", i ? ", " : "");
		put_str(v[i]);
	}
	printf("]");
}

static const char *fw_name(dv_ta_framework f)
{
	return f == DV_TA_FW_SGLANG ? "sglang" : f == DV_TA_FW_MEGATRON ? "megatron" : "unknown";
}

/* One step's hidden tensor of one side as rows of h floats. */
typedef struct rows {
	int64_t step;
	float *v;
	int64_t n, h;
} rows;

static int load_rows(const dv_phase *ph, const char *name, int layer, rows **out, size_t *nout, dv_error *err)
{
	*out = NULL;
	*nout = 0;
	for (size_t i = 0; i < ph->nfiles; i++) {
		const dv_dumpfile *df = &ph->files[i];
		dv_path_buf pb;
		pt_file *f;
		const pt_obj *v;
		rows *r;

		if (strcmp(df->name, name) || df->layer != layer || df->rank > 0)
			continue;
		if (!(f = pt_open(dv_dumpfile_path(df, &pb), err)))
			return -1;
		v = pt_dump_value(f);
		if (!v || v->kind != PT_TENSOR || v->u.tensor.ndim < 1) {
			pt_close(f);
			return dv_error_set(err, "%s: not a tensor", dv_dumpfile_path(df, &pb));
		}
		*out = realloc(*out, (*nout + 1) * sizeof(**out));
		r = &(*out)[(*nout)++];
		r->step = df->step;
		r->h = v->u.tensor.shape[v->u.tensor.ndim - 1];
		r->n = r->h ? v->u.tensor.numel / r->h : 0;
		r->v = malloc((size_t)(v->u.tensor.numel ? v->u.tensor.numel : 1) * sizeof(float));
		if (pt_tensor_read_f32(f, &v->u.tensor, 0, v->u.tensor.numel, r->v, err) < 0) {
			pt_close(f);
			return -1;
		}
		pt_close(f);
	}
	return 0;
}

static const float *row_at(const rows *r, size_t n, dv_ta_loc loc, int64_t *h)
{
	for (size_t i = 0; i < n; i++)
		if (r[i].step == loc.step && loc.index >= 0 && loc.index < r[i].n) {
			*h = r[i].h;
			return r[i].v + loc.index * r[i].h;
		}
	return NULL;
}

static void rows_free(rows *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(r[i].v);
	free(r);
}

/* Metrics of plan tokens [start, end): rel_diff, max and mean |t - b|. */
static int put_metrics(const rows *b, size_t nb, const rows *t, size_t nt, const dv_ta_result *res, size_t start,
		       size_t end)
{
	double bt = 0, bb = 0, sum_abs = 0;
	float max_abs = 0;
	int64_t count = 0;

	for (size_t k = start; k < end; k++) {
		int64_t hb = 0, ht = 0;
		const float *x = row_at(b, nb, res->plan[0][k], &hb), *y = row_at(t, nt, res->plan[1][k], &ht);

		if (!x || !y || hb != ht)
			return -1;
		for (int64_t j = 0; j < hb; j++) {
			float d = fabsf(y[j] - x[j]);

			bt += (double)x[j] * y[j];
			bb += (double)x[j] * x[j] + (double)y[j] * y[j];
			sum_abs += d;
			if (d > max_abs)
				max_abs = d;
			count++;
		}
	}
	{
		double rel = max_abs == 0 ? 0 : 1 - 2 * bt / bb;

		printf("\"rel_diff\": %.17g, \"max_abs_diff\": %.17g, \"mean_abs_diff\": %.17g, \"passed\": %s", rel,
		       (double)max_abs, count ? sum_abs / (double)count : 0.0, rel <= THRESHOLD ? "true" : "false");
	}
	return 0;
}

static int put_records(const dv_phase *pb, const dv_phase *pt, const dv_ta_result *res, dv_error *err)
{
	bool first = true;

	printf(", \"records\": [");
	for (size_t i = 0; i < pt->nfiles; i++) {
		const dv_dumpfile *df = &pt->files[i];
		rows *b = NULL, *t = NULL;
		size_t nb = 0, nt = 0;
		bool seen = false;

		if (dv_ta_is_aux_name(df->name) || df->rank > 0)
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen = !strcmp(pt->files[j].name, df->name) && pt->files[j].layer == df->layer;
		if (seen)
			continue;
		if (load_rows(pb, df->name, df->layer, &b, &nb, err) < 0 || load_rows(pt, df->name, df->layer, &t, &nt, err) < 0)
			return -1;
		printf("%s{\"name\": ", first ? "" : ", ");
		first = false;
		put_str(df->name);
		printf(", \"layer_id\": %d, ", df->layer);
		if (put_metrics(b, nb, t, nt, res, 0, res->ntokens) < 0)
			return dv_error_set(err, "%s: a plan token is missing", df->name);
		printf(", \"per_sequence\": [");
		for (size_t m = 0; m < res->nmatched; m++) {
			printf("%s{\"id\": ", m ? ", " : "");
			put_str(res->matched[m].id);
			printf(", \"tokens\": %zu, ", res->matched[m].tokens);
			put_metrics(b, nb, t, nt, res, res->matched[m].start, res->matched[m].end);
			printf("}");
		}
		printf("]}");
		rows_free(b, nb);
		rows_free(t, nt);
	}
	printf("]");
	return 0;
}

int main(int argc, char **argv)
{
	dv_run_opts ropts = {0};
	dv_error err = {{0}};
	dv_run *rb, *rt;
	dv_ta_side sb, st;
	dv_ta_seqs qb, qt;
	dv_ta_result res;
	const char *why = NULL;
	int which = -1, rc;

	if (argc < 3) {
		fprintf(stderr, "usage: tokalign_fixture BASELINE TARGET\n");
		return 2;
	}
	if (!(rb = dv_run_open(argv[1], &ropts, &err)) || !(rt = dv_run_open(argv[2], &ropts, &err))) {
		fprintf(stderr, "%s\n", err.msg);
		return 2;
	}
	if (dv_ta_side_load(rb->phases[0].files, rb->phases[0].nfiles, &sb, &err) < 0 ||
	    dv_ta_side_load(rt->phases[0].files, rt->phases[0].nfiles, &st, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 2;
	}
	rc = dv_ta_align(&sb, &st, &res, &qb, &qt, &why, &which, &err);
	if (rc != 0) {
		fprintf(stderr, "%s\n", rc > 0 ? why : err.msg);
		return 2;
	}
	printf("{\"baseline\": {\"framework\": \"%s\", \"layout\": \"%s\"}, ", fw_name(qb.framework),
	       qb.layout == DV_TA_BSHD ? "bshd" : "thd");
	printf("\"target\": {\"framework\": \"%s\", \"layout\": \"%s\"}, ", fw_name(qt.framework),
	       qt.layout == DV_TA_BSHD ? "bshd" : "thd");
	printf("\"coverage\": {\"by_rid\": %s, \"matched\": [", res.by_rid ? "true" : "false");
	for (size_t i = 0; i < res.nmatched; i++) {
		const dv_ta_match *m = &res.matched[i];

		printf("%s{\"id\": ", i ? ", " : "");
		put_str(m->id);
		printf(", \"tokens\": %zu, \"baseline_only_tokens\": %zu, \"target_only_tokens\": %zu}", m->tokens,
		       m->baseline_only_tokens, m->target_only_tokens);
	}
	for (int side = 0; side < 2; side++) {
		const dv_ta_unmatched *u = side ? res.unmatched_target : res.unmatched_baseline;
		size_t n = side ? res.nunmatched_target : res.nunmatched_baseline;

		printf("], \"unmatched_%s\": [", side ? "target" : "baseline");
		for (size_t i = 0; i < n; i++) {
			printf("%s{\"id\": ", i ? ", " : "");
			put_str(u[i].id);
			printf(", \"tokens\": %zu}", u[i].tokens);
		}
	}
	printf("], \"padding_tokens\": %zu, \"padding_sequences\": %zu, \"errors\": ", res.padding_tokens,
	       res.padding_sequences);
	put_strs(res.errors, res.nerrors);
	printf("}, \"ranges\": [");
	for (size_t i = 0; i < res.nmatched; i++) {
		printf("%s{\"id\": ", i ? ", " : "");
		put_str(res.matched[i].id);
		printf(", \"start\": %zu, \"end\": %zu}", res.matched[i].start, res.matched[i].end);
	}
	printf("], \"tokens_aligned\": %zu, \"plan\": {", res.ntokens);
	for (int side = 0; side < 2; side++) {
		printf("%s\"%s\": [", side ? ", " : "", side ? "target" : "baseline");
		for (size_t k = 0; k < res.ntokens; k++)
			printf("%s[%lld, %lld]", k ? ", " : "", (long long)res.plan[side][k].step,
			       (long long)res.plan[side][k].index);
		printf("]");
	}
	printf("}");
	if (put_records(&rb->phases[0], &rt->phases[0], &res, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 2;
	}
	printf("}\n");
	dv_ta_result_free(&res);
	dv_ta_seqs_free(&qb);
	dv_ta_seqs_free(&qt);
	dv_ta_side_free(&sb);
	dv_ta_side_free(&st);
	dv_run_free(rb);
	dv_run_free(rt);
	return 0;
}
