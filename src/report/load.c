/* A saved `compare --format jsonl` report read back into a comparison
 * (report_load.h): the records of jsonl.c become runs, phases, files and
 * pairs whose results are DONE, so verdicts, the first divergence and the
 * gate come from the comparison object as for a live run. Two passes over
 * the text: the files first (the pairs point into the runs' arrays, which
 * must not move), then the pairs. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "dumpview/intern.h"
#include "dumpview/logical.h"
#include "dumpview/report_load.h"
#include "dumpview/token_align.h"

typedef struct ld {
	const char *name;
	size_t line;
	dv_error *err;
	const dv_report_load_opts *opts;
	dv_report_data *d;
	pcre2_code *layer_re;
	/* pass 1: relative paths by side and phase (sorted, unique after) */
	struct side_files {
		char ***paths;       /* [phase][i] */
		size_t *n, *cap;
	} side[2];
	char **phases;           /* comparison phase names, in report order */
	size_t nphases, capphases;
	size_t npairs, nfilerefs;
	size_t summary_line;
	dv_pair *last_pair;      /* for an error record */
	/* the rules the pairs name, in order of first appearance, and each
	 * pair's (DV_NO_RULE: none recorded) */
	struct rec_rule {
		char *regex, *predicate, *origin;
	} *rules;
	size_t nrules;
	uint32_t *pair_rule;
} ld;

static int bad(ld *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(ld *l, const char *fmt, ...)
{
	char why[DV_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return dv_error_set(l->err, "%s:%zu: %s", l->name, l->line, why);
}

/* ---- typed fields ---- */

static int get_str(ld *l, const dv_json *o, const char *k, bool nullable, const char **out)
{
	const dv_json *v = dv_json_get(o, k);

	*out = NULL;
	if (!v)
		return bad(l, "no field '%s'", k);
	if (v->type == DV_JSON_NULL && nullable)
		return 0;
	if (v->type != DV_JSON_STRING)
		return bad(l, "'%s' is not a string%s", k, nullable ? " or null" : "");
	*out = v->str;
	return 0;
}

static int get_bool(ld *l, const dv_json *o, const char *k, bool *out)
{
	const dv_json *v = dv_json_get(o, k);

	if (!v)
		return bad(l, "no field '%s'", k);
	if (v->type != DV_JSON_BOOL)
		return bad(l, "'%s' is not true or false", k);
	*out = v->b;
	return 0;
}

#define MAX_EXACT 9007199254740992.0 /* 2^53: every integer below is exact */

static int as_int(ld *l, const dv_json *v, const char *k, bool nullable, int64_t *out)
{
	if (v && v->type == DV_JSON_NULL && nullable) {
		*out = -1;
		return 0;
	}
	if (!v || v->type != DV_JSON_NUMBER || v->num != floor(v->num) || fabs(v->num) > MAX_EXACT)
		return bad(l, "'%s' is not an integer%s", k, nullable ? " or null" : "");
	*out = (int64_t)v->num;
	return 0;
}

static int get_int(ld *l, const dv_json *o, const char *k, bool nullable, int64_t *out)
{
	const dv_json *v = dv_json_get(o, k);

	if (!v)
		return bad(l, "no field '%s'", k);
	return as_int(l, v, k, nullable, out);
}

/* A metric: a number, "nan" / "inf" / "-inf", or null (*have false). */
static int as_metric(ld *l, const dv_json *v, const char *k, double *out, bool *have)
{
	*have = false;
	*out = NAN;
	if (!v || v->type == DV_JSON_NULL)
		return 0;
	if (v->type == DV_JSON_NUMBER)
		*out = v->num;
	else if (v->type == DV_JSON_STRING && !strcmp(v->str, "nan"))
		*out = NAN;
	else if (v->type == DV_JSON_STRING && !strcmp(v->str, "inf"))
		*out = INFINITY;
	else if (v->type == DV_JSON_STRING && !strcmp(v->str, "-inf"))
		*out = -INFINITY;
	else
		return bad(l, "'%s' is not a number", k);
	*have = true;
	return 0;
}

static int get_metric(ld *l, const dv_json *o, const char *k, double *out, bool *have)
{
	return as_metric(l, dv_json_get(o, k), k, out, have);
}

/* An array of at most PT_MAX_DIMS integers; null gives -1 when allowed. */
static int as_ints(ld *l, const dv_json *v, const char *k, bool nonneg, int64_t *out, int *n)
{
	if (!v || v->type != DV_JSON_ARRAY)
		return bad(l, "'%s' is not an array of integers", k);
	if (v->n > PT_MAX_DIMS)
		return bad(l, "'%s' has more than %d entries", k, PT_MAX_DIMS);
	for (size_t i = 0; i < v->n; i++) {
		if (as_int(l, &v->items[i], k, false, &out[i]))
			return -1;
		if (nonneg && out[i] < 0)
			return bad(l, "'%s' has a negative size", k);
	}
	*n = (int)v->n;
	return 0;
}

static int get_array(ld *l, const dv_json *o, const char *k, bool nullable, const dv_json **out)
{
	const dv_json *v = dv_json_get(o, k);

	*out = NULL;
	if (!v)
		return bad(l, "no field '%s'", k);
	if (v->type == DV_JSON_NULL && nullable)
		return 0;
	if (v->type != DV_JSON_ARRAY)
		return bad(l, "'%s' is not an array", k);
	*out = v;
	return 0;
}

/* ---- pass 1: phases and files ---- */

static ptrdiff_t phase_index(ld *l, const char *name, bool add)
{
	for (size_t i = 0; i < l->nphases; i++)
		if (!strcmp(l->phases[i], name))
			return (ptrdiff_t)i;
	if (!add)
		return -1;
	if (l->nphases == l->capphases) {
		size_t c = l->capphases ? l->capphases * 2 : 4;
		char **p = realloc(l->phases, c * sizeof(*p));

		if (!p)
			return -1;
		l->phases = p;
		for (int s = 0; s < 2; s++) {
			char ***pp = realloc(l->side[s].paths, c * sizeof(*pp));
			size_t *n = pp ? realloc(l->side[s].n, c * sizeof(*n)) : NULL;
			size_t *cp = n ? realloc(l->side[s].cap, c * sizeof(*cp)) : NULL;

			if (pp)
				l->side[s].paths = pp;
			if (n)
				l->side[s].n = n;
			if (!cp)
				return -1;
			l->side[s].cap = cp;
		}
		l->capphases = c;
	}
	if (!(l->phases[l->nphases] = strdup(name)))
		return -1;
	for (int s = 0; s < 2; s++) {
		l->side[s].paths[l->nphases] = NULL;
		l->side[s].n[l->nphases] = l->side[s].cap[l->nphases] = 0;
	}
	return (ptrdiff_t)l->nphases++;
}

static int add_path(ld *l, int side, size_t phase, const char *rel)
{
	size_t *n = &l->side[side].n[phase], *cap = &l->side[side].cap[phase];

	if (!*rel || rel[0] == '/' || strstr(rel, "/../") || !strncmp(rel, "../", 3))
		return bad(l, "'%s' is not a relative path inside the run", rel);
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		char **p = realloc(l->side[side].paths[phase], c * sizeof(*p));

		if (!p)
			return bad(l, "out of memory");
		l->side[side].paths[phase] = p;
		*cap = c;
	}
	if (!(l->side[side].paths[phase][*n] = strdup(rel)))
		return bad(l, "out of memory");
	(*n)++;
	return 0;
}

/* The string items of an array of relative paths. */
static int path_list(ld *l, const dv_json *o, const char *k, const dv_json **out)
{
	if (get_array(l, o, k, false, out))
		return -1;
	for (size_t i = 0; i < (*out)->n; i++)
		if ((*out)->items[i].type != DV_JSON_STRING)
			return bad(l, "'%s' holds a value that is not a string", k);
	return 0;
}

static const char *const record_types[] = {"pair", "unmatched", "non_tensor", "skip", "error", "summary"};

static int record_type(ld *l, const dv_json *o)
{
	const char *t;

	if (o->type != DV_JSON_OBJECT)
		return bad(l, "a record is not a JSON object");
	if (get_str(l, o, "type", false, &t))
		return -1;
	for (size_t i = 0; i < sizeof(record_types) / sizeof(record_types[0]); i++)
		if (!strcmp(t, record_types[i]))
			return (int)i;
	return bad(l, "unknown record type '%s'", t);
}

enum { R_PAIR, R_UNMATCHED, R_NON_TENSOR, R_SKIP, R_ERROR, R_SUMMARY };

static int collect(ld *l, const dv_json *o, int type)
{
	const char *phase;
	ptrdiff_t ph;
	const dv_json *lists[2] = {NULL, NULL};

	if (type == R_SUMMARY) {
		if (l->summary_line)
			return bad(l, "a second summary (the first on line %zu)", l->summary_line);
		l->summary_line = l->line;
		return 0;
	}
	if (l->summary_line)
		return bad(l, "a record after the summary");
	if (get_str(l, o, "phase", false, &phase))
		return -1;
	if (type == R_ERROR)
		return 0;
	if ((ph = phase_index(l, phase, true)) < 0)
		return bad(l, "out of memory");
	if (type == R_UNMATCHED) {
		const char *side;

		if (get_str(l, o, "side", false, &side))
			return -1;
		if (strcmp(side, "baseline") && strcmp(side, "target"))
			return bad(l, "'side' is neither baseline nor target");
		if (path_list(l, o, "files", &lists[strcmp(side, "baseline") != 0]))
			return -1;
	} else if (path_list(l, o, "baseline_files", &lists[0]) || path_list(l, o, "target_files", &lists[1])) {
		return -1;
	}
	for (int s = 0; s < 2; s++) {
		if (type != R_UNMATCHED && (!lists[s] || !lists[s]->n))
			return bad(l, "no %s file", s ? "target" : "baseline");
		if (type == R_UNMATCHED && lists[s] && !lists[s]->n)
			return bad(l, "'files' is empty");
		for (size_t i = 0; lists[s] && i < lists[s]->n; i++) {
			if (add_path(l, s, (size_t)ph, lists[s]->items[i].str))
				return -1;
			l->nfilerefs++;
			if (l->nfilerefs > SIZE_MAX / 4 || lists[s]->n > UINT32_MAX)
				return bad(l, "too many files");
		}
	}
	l->npairs++;
	return 0;
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_file_rel(const void *a, const void *b)
{
	return strcmp(dv_dumpfile_relpath(a), dv_dumpfile_relpath(b));
}

/* bsearch's: a relative path against a file */
static int cmp_rel_file(const void *rel, const void *f)
{
	return strcmp(rel, dv_dumpfile_relpath(f));
}

/* The runs from the paths collected: one phase a side per comparison phase
 * holding files there, its files sorted by relative path. */
static dv_run *make_run(ld *l, int s, const char *root, dv_error *err)
{
	dv_run *run = calloc(1, sizeof(*run));
	const char *spec = root ? root : s ? "(target: not given)" : "(baseline: not given)";

	if (!run || !(run->spec = strdup(spec)) || !(run->root = strdup(root ? root : "")) ||
	    !(run->phases = calloc(l->nphases ? l->nphases : 1, sizeof(*run->phases))))
		goto oom;
	for (size_t k = 0; k < l->nphases; k++) {
		char **p = l->side[s].paths[k];
		size_t n = l->side[s].n[k], u = 0;
		dv_phase *ph;

		if (!n)
			continue;
		qsort(p, n, sizeof(*p), cmp_strp);
		for (size_t i = 0; i < n; i++) {
			if (u && !strcmp(p[u - 1], p[i])) {
				free(p[i]);
				continue;
			}
			p[u++] = p[i];
		}
		l->side[s].n[k] = n = u;
		ph = &run->phases[run->nphases];
		if (!(ph->name = strdup(l->phases[k])) || !(ph->files = calloc(n, sizeof(*ph->files))))
			goto oom_phase;
		run->nphases++;
		{
			const char *slash = strchr(p[0], '/');

			if (!(ph->dir = slash ? strndup(p[0], (size_t)(slash - p[0])) : strdup("")))
				goto oom;
		}
		for (size_t i = 0; i < n; i++) {
			ph->nfiles++;
			if (dv_dumpfile_init(&ph->files[i], root, p[i], l->layer_re, err))
				goto fail;
		}
		qsort(ph->files, n, sizeof(*ph->files), cmp_file_rel);
	}
	return run;
oom_phase:
	if (run->phases[run->nphases].name) {
		free(run->phases[run->nphases].name);
		run->phases[run->nphases].name = NULL;
	}
oom:
	dv_error_set(err, "out of memory");
fail:
	dv_run_free(run);
	return NULL;
}

static const dv_phase *run_phase(const dv_run *run, const char *name)
{
	for (size_t i = 0; run && i < run->nphases; i++)
		if (!strcmp(run->phases[i].name, name))
			return &run->phases[i];
	return NULL;
}

static const dv_dumpfile *find_file(const dv_phase *ph, const char *rel)
{
	return ph ? bsearch(rel, ph->files, ph->nfiles, sizeof(dv_dumpfile), cmp_rel_file) : NULL;
}

/* ---- pass 2: pairs ---- */

static int desc(ld *l, const dv_json *o, const char *side, dv_tensor_desc *d)
{
	char k[32];
	const char *dt;
	const dv_json *v;

	d->dtype = DV_DTYPE_INVALID;
	d->ndim = 0;
	snprintf(k, sizeof(k), "%s_dtype", side);
	if (get_str(l, o, k, true, &dt))
		return -1;
	if (dt && (d->dtype = dv_dtype_from_name(dt)) == DV_DTYPE_INVALID)
		return bad(l, "unknown dtype '%s'", dt);
	snprintf(k, sizeof(k), "%s_shape", side);
	if (!(v = dv_json_get(o, k)))
		return bad(l, "no field '%s'", k);
	if (v->type == DV_JSON_NULL)
		return 0;
	return as_ints(l, v, k, true, d->shape, &d->ndim);
}

static int stats(ld *l, const dv_json *o, const char *k, const dv_tensor_desc *d, dv_stats *st)
{
	const dv_json *v = dv_json_get(o, k);
	static const char *const names[] = {"mean", "std", "min", "max"};
	double mm[2], *fields[] = {&st->mean, &st->std, &mm[0], &mm[1]};
	bool have;

	memset(st, 0, sizeof(*st));
	st->mean = st->std = st->abs_mean = st->min = st->max = NAN;
	if (!v || v->type == DV_JSON_NULL)
		return 0;
	if (v->type != DV_JSON_OBJECT)
		return bad(l, "'%s' is not an object", k);
	for (int i = 0; i < 4; i++)
		if (get_metric(l, v, names[i], fields[i], &have))
			return -1;
	/* float32 values as compare writes them: read back exactly */
	st->min = (float)mm[0];
	st->max = (float)mm[1];
	st->has_percentiles = true;
	for (int i = 0; i < DV_NQUANTILES; i++) {
		double q;

		if (get_metric(l, v, dv_report_quantile_name[i], &q, &have))
			return -1;
		/* float32 values as compare writes them: read back exactly */
		st->p[i] = (float)q;
		st->has_percentiles &= have;
	}
	int64_t nan, inf, numel = 1;

	if (get_int(l, v, "nan", false, &nan) || get_int(l, v, "inf", false, &inf))
		return -1;
	/* a result keeps them in 48 bits (metrics.h) */
	if (nan < -DV_STATS_COUNT_MAX || nan > DV_STATS_COUNT_MAX || inf < -DV_STATS_COUNT_MAX ||
	    inf > DV_STATS_COUNT_MAX)
		return bad(l, "'%s': nan or inf count out of range", k);
	for (int i = 0; i < d->ndim; i++)
		if (__builtin_mul_overflow(numel, d->shape[i], &numel) || numel < -DV_STATS_COUNT_MAX ||
		    numel > DV_STATS_COUNT_MAX)
			return bad(l, "'%s': the shape holds too many elements", k);
	dv_stats_set_count(st, DV_STATS_NAN, nan);
	dv_stats_set_count(st, DV_STATS_INF, inf);
	dv_stats_set_count(st, DV_STATS_NUMEL, numel);
	return 0;
}

static int ids(ld *l, const dv_json *o, dv_pair *p)
{
	int64_t layer;

	if (get_int(l, o, "layer", true, &layer) || get_int(l, o, "rank", true, &p->rank) ||
	    get_int(l, o, "step", true, &p->step))
		return -1;
	if (layer < -1 || layer > INT32_MAX || p->rank < -1 || p->step < -1)
		return bad(l, "a negative or too large layer, rank or step");
	p->layer = (int)layer;
	return 0;
}

/* The dumpfiles of a side named by the list k; p->files gets them. */
static int bind_files(ld *l, const dv_json *list, const dv_phase *ph, const dv_dumpfile **slot, uint32_t *n)
{
	for (size_t i = 0; i < list->n; i++) {
		const dv_dumpfile *f = find_file(ph, list->items[i].str);

		if (!f)
			return bad(l, "internal: file '%s' not listed", list->items[i].str);
		slot[i] = f;
	}
	*n = (uint32_t)list->n;
	return 0;
}

static int logical(ld *l, const dv_json *o, dv_pair *p)
{
	const char *dims[2], *plan;
	const dv_json *checks, *shard, *seqs, *aligned;
	bool mismatch, any;
	dv_logical_result *lr;

	if (get_str(l, o, "baseline_dims", true, &dims[0]) || get_str(l, o, "target_dims", true, &dims[1]) ||
	    get_str(l, o, "plan", true, &plan) || get_array(l, o, "replicated_checks", false, &checks) ||
	    get_bool(l, o, "replica_mismatch", &mismatch) || get_array(l, o, "per_sequence", true, &seqs))
		return -1;
	if (!(shard = dv_json_get(o, "max_abs_diff_shard")) || !(aligned = dv_json_get(o, "aligned_shape")))
		return bad(l, "no field '%s'", shard ? "aligned_shape" : "max_abs_diff_shard");
	if (shard->type != DV_JSON_NULL && shard->type != DV_JSON_OBJECT)
		return bad(l, "'max_abs_diff_shard' is not an object or null");
	any = dims[0] || dims[1] || plan || checks->n || shard->type == DV_JSON_OBJECT || mismatch || seqs;
	if (!any)
		return 0;
	if (!(lr = dv_logical_result_new()))
		return bad(l, "out of memory");
	p->logical = lr;
	lr->token_dim = -1;
	lr->replica_mismatch = mismatch;
	for (int s = 0; s < 2; s++)
		if (dims[s] && !(lr->dims[s] = dv_intern_str(dims[s])))
			return bad(l, "out of memory");
	if (plan && !(lr->plan = strdup(plan)))
		return bad(l, "out of memory");
	if (aligned->type != DV_JSON_NULL) {
		int64_t v[PT_MAX_DIMS];

		int n;

		if (as_ints(l, aligned, "aligned_shape", true, v, &n))
			return -1;
		lr->aligned_ndim = (signed char)n;
		if (!(lr->aligned_shape = dv_intern_dims(v, n)))
			return bad(l, "out of memory");
	}
	if (checks->n && !(lr->checks = calloc(checks->n, sizeof(*lr->checks))))
		return bad(l, "out of memory");
	for (size_t i = 0; i < checks->n; i++) {
		const dv_json *c = &checks->items[i], *ranks;
		dv_replica_check *rc = &lr->checks[i];
		const char *side, *axis;
		bool have;
		int ax;

		if (c->type != DV_JSON_OBJECT)
			return bad(l, "a replicated check is not an object");
		if (get_str(l, c, "side", false, &side) || get_str(l, c, "axis", false, &axis) ||
		    get_bool(l, c, "passed", &rc->passed) || get_metric(l, c, "max_abs_diff", &rc->max_abs_diff, &have) ||
		    get_array(l, c, "ranks", false, &ranks))
			return -1;
		if (strcmp(side, "baseline") && strcmp(side, "target"))
			return bad(l, "a replicated check's side is neither baseline nor target");
		rc->side = strcmp(side, "baseline") != 0;
		if ((ax = dv_axis_from_name(axis, strlen(axis))) < 0)
			return bad(l, "unknown axis '%s'", axis);
		rc->axis = (dv_axis)ax;
		if (ranks->n != 2 || as_int(l, &ranks->items[0], "ranks", true, &rc->ranks[0]) ||
		    as_int(l, &ranks->items[1], "ranks", true, &rc->ranks[1]))
			return l->err->msg[0] ? -1 : bad(l, "a replicated check's ranks are not two");
		lr->nchecks++;
	}
	if (shard->type == DV_JSON_OBJECT) {
		const char *file;
		const dv_json *ranks = dv_json_get(shard, "ranks");
		size_t nb, nt;
		const dv_dumpfile *const *bf = dv_pair_files(p, 0, &nb), *const *tf = dv_pair_files(p, 1, &nt);

		int64_t v[PT_MAX_DIMS];
		int n;

		if (get_str(l, shard, "file", false, &file) || get_int(l, shard, "rank", true, &lr->shard_rank) ||
		    as_ints(l, dv_json_get(shard, "coord"), "coord", true, v, &n))
			return -1;
		lr->shard_ndim = (signed char)n;
		if (!(lr->shard_coord = dv_intern_dims(v, n)))
			return bad(l, "out of memory");
		for (size_t i = 0; i < nt && !lr->shard_file; i++)
			if (!strcmp(dv_dumpfile_relpath(tf[i]), file))
				lr->shard_file = tf[i];
		for (size_t i = 0; i < nb && !lr->shard_file; i++)
			if (!strcmp(dv_dumpfile_relpath(bf[i]), file))
				lr->shard_file = bf[i];
		if (!lr->shard_file)
			return bad(l, "max_abs_diff_shard: '%s' is not a file of the pair", file);
		lr->has_shard = true;
		if (ranks) {
			if (ranks->type != DV_JSON_ARRAY || !ranks->n || ranks->n > 1u << 20)
				return bad(l, "max_abs_diff_shard: 'ranks' is not an array of integers");
			if (!(lr->shard_ranks = calloc(ranks->n, sizeof(*lr->shard_ranks))))
				return bad(l, "out of memory");
			for (size_t i = 0; i < ranks->n; i++)
				if (as_int(l, &ranks->items[i], "ranks", false, &lr->shard_ranks[i]))
					return -1;
			lr->nshard_ranks = (uint32_t)ranks->n;
		}
	}
	if (seqs && seqs->n) {
		/* the ids live after the entries, in the same block (freed with it) */
		size_t bytes = seqs->n * sizeof(dv_seq_metrics), at;
		char *block;

		for (size_t i = 0; i < seqs->n; i++) {
			const dv_json *id = dv_json_get(&seqs->items[i], "id");

			if (!id || id->type != DV_JSON_STRING)
				return bad(l, "a per_sequence entry has no string 'id'");
			bytes += id->len + 1;
		}
		if (!(block = malloc(bytes)))
			return bad(l, "out of memory");
		lr->seqs = (dv_seq_metrics *)(void *)block;
		at = seqs->n * sizeof(dv_seq_metrics);
		for (size_t i = 0; i < seqs->n; i++) {
			const dv_json *q = &seqs->items[i];
			dv_seq_metrics *m = &lr->seqs[i];
			const dv_json *id = dv_json_get(q, "id");
			int64_t tokens;
			bool have;

			if (get_int(l, q, "tokens", false, &tokens) || tokens < 0 ||
			    get_metric(l, q, "rel_diff", &m->rel_diff, &have) ||
			    get_metric(l, q, "max_abs_diff", &m->max_abs_diff, &have) ||
			    get_metric(l, q, "mean_abs_diff", &m->mean_abs_diff, &have) || get_bool(l, q, "passed", &m->passed))
				return l->err->msg[0] ? -1 : bad(l, "a per_sequence entry has negative tokens");
			m->tokens = (size_t)tokens;
			memcpy(block + at, id->str, id->len + 1);
			m->id = block + at;
			at += id->len + 1;
			lr->nseqs++;
		}
	}
	return 0;
}

/* A pair's `rule`: the rule that judged it, or null (none matched). */
static int record_rule(ld *l, const dv_json *o, size_t index)
{
	const dv_json *r = dv_json_get(o, "rule");
	const char *regex, *pred, *origin;
	size_t k;

	l->pair_rule[index] = DV_NO_RULE;
	if (!r)
		return 0;
	l->d->rules_used = true;
	if (r->type == DV_JSON_NULL)
		return 0;
	if (r->type != DV_JSON_OBJECT)
		return bad(l, "'rule' is not an object or null");
	if (get_str(l, r, "regex", false, &regex) || get_str(l, r, "predicate", false, &pred) ||
	    get_str(l, r, "origin", false, &origin))
		return -1;
	for (k = 0; k < l->nrules; k++)
		if (!strcmp(l->rules[k].regex, regex) && !strcmp(l->rules[k].predicate, pred))
			break;
	if (k == l->nrules) {
		struct rec_rule *g;

		if (l->nrules >= 4096)
			return bad(l, "more than 4096 rules");
		if (!(g = realloc(l->rules, (l->nrules + 1) * sizeof(*g))))
			return bad(l, "out of memory");
		l->rules = g;
		g[k].regex = strdup(regex);
		g[k].predicate = strdup(pred);
		g[k].origin = strdup(origin);
		l->nrules++;
		if (!g[k].regex || !g[k].predicate || !g[k].origin)
			return bad(l, "out of memory");
	}
	l->pair_rule[index] = (uint32_t)k;
	return 0;
}

static int pair_record(ld *l, const dv_json *o, int type, dv_pair *p, const dv_dumpfile **slot)
{
	dv_comparison *cmp = l->d->cmp;
	const char *phase, *name;
	const dv_json *lists[2] = {NULL, NULL};
	ptrdiff_t ph;
	dv_pair_result *r;
	const dv_phase *rph[2];
	dv_tensor_desc bd, td;
	int64_t coord_v[PT_MAX_DIMS];
	int coord_n = 0;

	memset(p, 0, sizeof(*p));
	p->result = (dv_pair_result *)&dv_pair_result_none;
	p->layer = -1;
	p->step = p->rank = -1;
	if (get_str(l, o, "phase", false, &phase) || get_str(l, o, "name", false, &name))
		return -1;
	ph = phase_index(l, phase, false);
	p->phase = (size_t)ph;
	rph[0] = run_phase(cmp->base, phase);
	rph[1] = run_phase(cmp->targ, phase);
	p->lctx = cmp->phases[ph].lctx;
	p->files = slot;
	if (type == R_UNMATCHED) {
		const char *side, *file;
		int s;

		get_str(l, o, "side", false, &side);
		s = strcmp(side, "baseline") != 0;
		if (get_str(l, o, "file", false, &file))
			return -1;
		path_list(l, o, "files", &lists[s]);
		if (bind_files(l, lists[s], rph[s], slot, s ? &p->ntarg : &p->nbase))
			return -1;
		if (strcmp(dv_dumpfile_relpath(slot[0]), file))
			return bad(l, "'file' is not the first of 'files'");
		p->kind = s ? DV_PAIR_TARGET_ONLY : DV_PAIR_BASELINE_ONLY;
		(s ? &p->targ : &p->base)[0] = slot[0];
		p->layer = slot[0]->layer;
		p->step = slot[0]->step;
		p->rank = slot[0]->rank;
	} else {
		const char *base, *targ;

		if (ids(l, o, p) || get_str(l, o, "baseline", false, &base) || get_str(l, o, "target", false, &targ))
			return -1;
		path_list(l, o, "baseline_files", &lists[0]);
		path_list(l, o, "target_files", &lists[1]);
		if (bind_files(l, lists[0], rph[0], slot, &p->nbase) ||
		    bind_files(l, lists[1], rph[1], slot + p->nbase, &p->ntarg))
			return -1;
		p->kind = DV_PAIR_MATCHED;
		p->base = slot[0];
		p->targ = slot[p->nbase];
		if (strcmp(dv_dumpfile_relpath(p->base), base) || strcmp(dv_dumpfile_relpath(p->targ), targ))
			return bad(l, "'baseline' / 'target' are not the first of their files");
	}
	p->name = NULL;
	/* the name as recorded (a bundle's name); it lives in the first file's
	 * tags when it is that file's, else in a string of the phase below */
	for (size_t i = 0; i < (size_t)p->nbase + p->ntarg && !p->name; i++)
		if (slot[i]->name && !strcmp(slot[i]->name, name))
			p->name = slot[i]->name;
	if (!p->name)
		return bad(l, "'name' is not the name of any of its files");
	atomic_store(&p->state, DV_PAIR_DONE);
	if (type == R_UNMATCHED)
		return 0;
	if (!(r = dv_pair_result_slot(p)))
		return bad(l, "out of memory");
	r->max_abs_diff_index = -1;
	if (type == R_SKIP) {
		const char *reason;

		if (get_str(l, o, "reason", false, &reason))
			return -1;
		r->status = DV_RESULT_SKIPPED;
		dv_result_set_error(r, "%s", reason);
		return 0;
	}
	if (type == R_NON_TENSOR) {
		if (get_bool(l, o, "equal", &r->equal))
			return -1;
		r->status = DV_RESULT_NON_TENSOR;
		r->passed = r->equal;
		return 0;
	}
	/* a tensor pair */
	const char *error = NULL;
	bool have;
	const dv_json *ev = dv_json_get(o, "error"), *coord;
	int64_t v;
	double f[4]; /* the float32 metrics, read as doubles */

	if (ev && get_str(l, o, "error", false, &error))
		return -1;
	if (desc(l, o, "baseline", &bd) || desc(l, o, "target", &td) ||
	    get_metric(l, o, "rel_diff", &r->rel_diff, &have) ||
	    get_metric(l, o, "max_abs_diff", &f[0], &have) ||
	    get_metric(l, o, "mean_abs_diff", &r->mean_abs_diff, &have) || get_bool(l, o, "passed", &r->passed) ||
	    stats(l, o, "baseline_stats", &bd, &r->base_stats) ||
	    stats(l, o, "target_stats", &td, &r->targ_stats))
		return -1;
	r->max_abs_diff = (float)f[0];
	if (dv_result_set_desc(r, 0, &bd) < 0 || dv_result_set_desc(r, 1, &td) < 0)
		return bad(l, "out of memory");
	if (record_rule(l, o, (size_t)(p - l->d->cmp->pairs)))
		return -1;
	if (!error)
		r->status = DV_RESULT_COMPARED;
	else if (!strcmp(error, DV_NO_RULE_MESSAGE) || !strcmp(error, "cancelled") || !strcmp(error, "not computed"))
		/* no rule: the verdict is an error, as the comparison gives it */
		r->status = !strcmp(error, "cancelled") ? DV_RESULT_CANCELLED :
			    !strcmp(error, "not computed") ? DV_RESULT_NONE : DV_RESULT_ERROR;
	else
		r->status = DV_RESULT_SHAPE_MISMATCH; /* an error record makes it ERROR */
	if (error)
		dv_result_set_error(r, "%s", error);
	if (dv_json_get(o, "numel")) {
		if (get_int(l, o, "numel", false, &r->numel) || get_int(l, o, "identical", false, &r->identical))
			return -1;
	} else if (r->status == DV_RESULT_COMPARED) {
		r->numel = 1;
		for (int i = 0; i < td.ndim; i++)
			r->numel *= td.shape[i];
	}
	get_metric(l, o, "max_abs_diff_baseline", &f[1], &have);
	get_metric(l, o, "max_abs_diff_target", &f[2], &have);
	r->max_abs_diff_base = (float)f[1];
	r->max_abs_diff_targ = (float)f[2];
	if (get_metric(l, o, "bf16_rel_diff", &r->bf16_rel_diff, &r->has_bf16) ||
	    get_metric(l, o, "bf16_max_abs_diff", &f[3], &have) ||
	    get_metric(l, o, "bf16_mean_abs_diff", &r->bf16_mean_abs_diff, &have))
		return -1;
	r->bf16_max_abs_diff = (float)f[3];
	if (!(coord = dv_json_get(o, "max_abs_diff_coord")))
		return bad(l, "no field 'max_abs_diff_coord'");
	if (coord->type != DV_JSON_NULL) {
		if (as_ints(l, coord, "max_abs_diff_coord", true, coord_v, &coord_n))
			return -1;
		if (dv_result_set_coord(r, coord_n, coord_v) < 0)
			return bad(l, "out of memory");
		/* the row-major index, when the coordinate lies in the target's shape */
		v = coord_n == td.ndim ? 0 : -1;
		for (int i = 0; i < coord_n && v >= 0; i++) {
			int64_t dim = td.shape[i];

			if (coord_v[i] >= dim || (dim && v > (INT64_MAX - dim) / dim))
				v = -1;
			else
				v = v * dim + coord_v[i];
		}
		r->max_abs_diff_index = v;
	}
	return logical(l, o, p);
}

/* ---- the summary ---- */

/* The pair a locator names, or -1 (null); -2 when it names none. */
static ptrdiff_t locate(ld *l, const dv_json *loc, const char *k)
{
	const char *phase, *name, *target;
	dv_comparison *cmp = l->d->cmp;

	if (!loc || loc->type == DV_JSON_NULL)
		return -1;
	if (loc->type != DV_JSON_OBJECT)
		return bad(l, "'%s' is not an object or null", k), -2;
	if (get_str(l, loc, "phase", false, &phase) || get_str(l, loc, "name", false, &name) ||
	    get_str(l, loc, "target", false, &target))
		return -2;
	for (size_t i = 0; i < cmp->npairs; i++) {
		const dv_pair *p = &cmp->pairs[i];

		if (p->targ && !strcmp(cmp->phases[p->phase].name, phase) && !strcmp(p->name, name) &&
		    !strcmp(dv_dumpfile_relpath(p->targ), target))
			return (ptrdiff_t)i;
	}
	return bad(l, "'%s' names no pair of the report (%s, %s)", k, phase, target), -2;
}

static int summary(ld *l, const dv_json *o)
{
	dv_report_data *d = l->d;
	dv_comparison *cmp = d->cmp;
	const dv_json *w;
	const char *diag;
	int64_t v[5];
	static const char *const keys[] = {"passed", "failed", "skipped", "errored", "total"};
	ptrdiff_t first;

	for (int i = 0; i < 5; i++)
		if (get_int(l, o, keys[i], false, &v[i]) || v[i] < 0)
			return l->err->msg[0] ? -1 : bad(l, "'%s' is negative", keys[i]);
	d->counts = (dv_report_counts){(size_t)v[0], (size_t)v[1], (size_t)v[2], (size_t)v[3]};
	if (get_str(l, o, "diagnosis", true, &diag) || path_list(l, o, "warnings", &w))
		return -1;
	if (diag && !(d->diagnosis = strdup(diag)))
		return bad(l, "out of memory");
	if (w->n && !(cmp->recorded_warnings = calloc(w->n, sizeof(char *))))
		return bad(l, "out of memory");
	cmp->warnings_recorded = true;
	for (size_t i = 0; i < w->n; i++) {
		if (!(cmp->recorded_warnings[i] = strdup(w->items[i].str)))
			return bad(l, "out of memory");
		cmp->nrecorded_warnings++;
	}
	if ((first = locate(l, dv_json_get(o, "first_divergence"), "first_divergence")) < -1)
		return -1;
	d->first_divergence = first;
	return 0;
}

/* ---- the verdicts ---- */

/* Whether every recorded `passed` of a compared pair is the default rule's
 * under threshold t. */
static bool threshold_fits(const dv_comparison *cmp, double t)
{
	for (size_t i = 0; i < cmp->npairs; i++) {
		const dv_pair_result *r = cmp->pairs[i].result;

		if (cmp->pairs[i].kind == DV_PAIR_MATCHED && r->status == DV_RESULT_COMPARED &&
		    r->passed != dv_result_passes(r, t))
			return false;
	}
	return true;
}

/* The report does not record its threshold: the default when every
 * recorded decision is its, else the smallest of 1, 2, 5 x 10^k that is,
 * else none (the recorded decisions stand). */
/* "rel <= X", the catch-all's predicate: X. */
static bool catch_all_threshold(const char *pred, double *x)
{
	char *end;

	if (strncmp(pred, "rel <= ", 7))
		return false;
	errno = 0;
	*x = strtod(pred + 7, &end);
	return !errno && end != pred + 7 && !*end && isfinite(*x) && *x >= 0;
}

/* The report's rules made again, in the order the pairs first name them
 * with the catch-all last, kept only when they judge every pair as the
 * report says (the same rule, the same verdict): the order of rules that
 * no pair names first cannot be known. */
static void rebuild_rules(ld *l)
{
	dv_report_data *d = l->d;
	dv_rules *rules = dv_rules_new();
	dv_error e;
	bool ok = rules != NULL;
	double x = NAN;
	uint32_t *map = calloc(l->nrules ? l->nrules : 1, sizeof(*map));
	bool *was = malloc((d->cmp->npairs ? d->cmp->npairs : 1) * sizeof(*was));

	ok = ok && map && was;
	for (size_t i = 0; ok && i < d->cmp->npairs; i++)
		was[i] = dv_comparison_verdict(d->cmp, i, NULL) == DV_OUTCOME_PASS;
	if (ok)
		dv_rules_set_catch_all(rules, false, 0);
	for (size_t k = 0; ok && k < l->nrules; k++) {
		char *spec;

		if (!strcmp(l->rules[k].origin, "catch-all")) {
			ok = !strcmp(l->rules[k].regex, ".*") && catch_all_threshold(l->rules[k].predicate, &x);
			continue;
		}
		if (asprintf(&spec, "%s=%s", l->rules[k].regex, l->rules[k].predicate) < 0) {
			ok = false;
			break;
		}
		ok = dv_rules_add(rules, spec, &e) == 0;
		free(spec);
	}
	if (ok && !isnan(x))
		ok = dv_rules_set_catch_all(rules, true, x) == 0;
	for (size_t k = 0, u = 0; ok && k < l->nrules; k++)
		map[k] = !strcmp(l->rules[k].origin, "catch-all") ? (uint32_t)(dv_rules_count(rules) - 1) : (uint32_t)u++;
	ok = ok && dv_comparison_set_rules(d->cmp, rules, &e) == 0;
	for (size_t i = 0; ok && i < d->cmp->npairs; i++) {
		const dv_pair *p = &d->cmp->pairs[i];
		dv_outcome v = dv_comparison_verdict(d->cmp, i, NULL);

		if (p->kind != DV_PAIR_MATCHED || p->result->status != DV_RESULT_COMPARED)
			continue;
		ok = (l->pair_rule[i] == DV_NO_RULE ? DV_NO_RULE : map[l->pair_rule[i]]) ==
			     (dv_comparison_rule_index(d->cmp, i) == (size_t)-1 ? DV_NO_RULE
										: (uint32_t)dv_comparison_rule_index(d->cmp, i)) &&
		     (v == DV_OUTCOME_PASS) == was[i];
	}
	if (ok) {
		d->rules = rules;
		d->threshold = x;
		d->threshold_found = !isnan(x);
		if (d->threshold_found)
			dv_comparison_set_threshold(d->cmp, x);
	} else {
		dv_comparison_set_rules(d->cmp, NULL, &e);
		dv_rules_free(rules);
	}
	free(map);
	free(was);
}

static void find_threshold(ld *l)
{
	dv_report_data *d = l->d;

	double x;

	/* the catch-all alone (compare without rules): the threshold, as the
	 * explorer judges without rules */
	if (d->rules_used && l->nrules == 1 && !strcmp(l->rules[0].origin, "catch-all") &&
	    !strcmp(l->rules[0].regex, ".*") && catch_all_threshold(l->rules[0].predicate, &x) &&
	    threshold_fits(d->cmp, x)) {
		d->threshold_found = true;
		d->threshold = x;
		dv_comparison_set_threshold(d->cmp, x);
		return;
	}
	if (d->rules_used) {
		rebuild_rules(l);
		return;
	}
	if (threshold_fits(d->cmp, DV_DEFAULT_THRESHOLD)) {
		d->threshold_found = true;
		d->threshold = DV_DEFAULT_THRESHOLD;
	}
	for (int e = -15; e <= 6 && !d->threshold_found; e++)
		for (int m = 1; m <= 5 && !d->threshold_found; m += m == 2 ? 3 : 1) {
			double t = m * pow(10, e);

			if (threshold_fits(d->cmp, t)) {
				d->threshold_found = true;
				d->threshold = t;
			}
		}
	if (d->threshold_found)
		dv_comparison_set_threshold(d->cmp, d->threshold);
}

static int check_summary(ld *l)
{
	dv_report_data *d = l->d;
	dv_report_counts c = {0};
	ptrdiff_t first = dv_first_divergence(d->cmp, NULL);

	l->line = l->summary_line;
	for (size_t i = 0; i < d->cmp->npairs; i++) {
		dv_outcome v = dv_comparison_verdict(d->cmp, i, NULL);

		if (v == DV_OUTCOME_PASS)
			c.passed++;
		else if (v == DV_OUTCOME_FAIL)
			c.failed++;
		else if (v == DV_OUTCOME_ERROR)
			c.errored++;
		else
			c.skipped++;
	}
	if (c.passed != d->counts.passed || c.failed != d->counts.failed || c.errored != d->counts.errored ||
	    c.skipped != d->counts.skipped)
		return bad(l, "the summary counts %zu passed, %zu failed, %zu skipped, %zu errored; the records "
			      "give %zu, %zu, %zu, %zu",
			   d->counts.passed, d->counts.failed, d->counts.skipped, d->counts.errored, c.passed, c.failed,
			   c.skipped, c.errored);
	if (first != d->first_divergence)
		return bad(l, "the summary's first divergence is not the records' (pair %td, not %td)",
			   d->first_divergence, first);
	return 0;
}

/* ---- reading ---- */

typedef int (*line_fn)(ld *l, const dv_json *o, int type, void *ctx);

static int each_line(ld *l, const char *text, size_t len, line_fn fn, void *ctx)
{
	size_t at = 0;

	l->line = 0;
	while (at < len) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t n = nl ? (size_t)(nl - (text + at)) : len - at;
		dv_json o;
		dv_error jerr;
		int type, rc;

		l->line++;
		if (n > DV_REPORT_MAX_LINE)
			return bad(l, "a line longer than %u MiB", DV_REPORT_MAX_LINE >> 20);
		if (n == 0 || (n == 1 && text[at] == '\r'))
			return bad(l, "an empty line");
		if (dv_json_parse(text + at, n, &o, &jerr))
			return bad(l, "not JSON: %s", jerr.msg);
		rc = (type = record_type(l, &o)) < 0 ? -1 : fn(l, &o, type, ctx);
		dv_json_free(&o);
		if (rc)
			return -1;
		at += n + (nl != NULL);
	}
	if (!l->line)
		return dv_error_set(l->err, "%s: empty, not a report", l->name);
	return 0;
}

static int pass1(ld *l, const dv_json *o, int type, void *ctx)
{
	(void)ctx;
	return collect(l, o, type);
}

typedef struct build {
	size_t next_pair, next_slot;
} build;

static int pass2(ld *l, const dv_json *o, int type, void *ctx)
{
	build *b = ctx;
	dv_comparison *cmp = l->d->cmp;

	if (type == R_SUMMARY)
		return summary(l, o);
	if (type == R_ERROR) {
		const char *file, *msg;
		dv_pair *p = l->last_pair;

		if (get_str(l, o, "file", false, &file) || get_str(l, o, "message", false, &msg))
			return -1;
		if (!p || p->result->status != DV_RESULT_SHAPE_MISMATCH || strcmp(p->result->error, msg))
			return bad(l, "an error record that does not follow its pair");
		p->result->status = DV_RESULT_ERROR;
		l->last_pair = NULL;
		return 0;
	}
	dv_pair *p = &cmp->pairs[b->next_pair];

	/* counted first, so what a failed record allocated is freed */
	cmp->npairs = b->next_pair + 1;
	if (pair_record(l, o, type, p, &cmp->pair_files[b->next_slot]))
		return -1;
	b->next_pair++;
	b->next_slot += (size_t)p->nbase + p->ntarg;
	if (b->next_pair > 1 && p->phase < cmp->pairs[b->next_pair - 2].phase)
		return bad(l, "a record of phase %s after those of %s", cmp->phases[p->phase].name,
			   cmp->phases[cmp->pairs[b->next_pair - 2].phase].name);
	l->last_pair = type == R_PAIR ? p : NULL;
	return 0;
}

/* With runs: they must be the report's, by at least one file a side. */
static int check_runs(ld *l)
{
	dv_report_data *d = l->d;
	const dv_run *runs[2] = {d->cmp->base, d->cmp->targ};

	for (int s = 0; s < 2; s++) {
		size_t total = 0, found = 0;
		const char *example = NULL;
		struct stat st;
		dv_path_buf pb;

		for (size_t k = 0; k < runs[s]->nphases; k++)
			for (size_t i = 0; i < runs[s]->phases[k].nfiles; i++) {
				const dv_dumpfile *f = &runs[s]->phases[k].files[i];

				total++;
				if (stat(dv_dumpfile_path(f, &pb), &st) == 0 && S_ISREG(st.st_mode))
					found++;
				else if (!example)
					example = dv_dumpfile_relpath(f);
			}
		d->missing_files += total - found;
		if (total && !found)
			return dv_error_set(l->err, "%s: not the report's %s run: none of its %zu files is there (%s)",
					    runs[s]->root, s ? "target" : "baseline", total, example);
	}
	return 0;
}

static void ld_free(ld *l)
{
	for (int s = 0; s < 2; s++) {
		for (size_t k = 0; k < l->nphases; k++) {
			for (size_t i = 0; i < l->side[s].n[k]; i++)
				free(l->side[s].paths[k][i]);
			free(l->side[s].paths[k]);
		}
		free(l->side[s].paths);
		free(l->side[s].n);
		free(l->side[s].cap);
	}
	for (size_t k = 0; k < l->nphases; k++)
		free(l->phases[k]);
	free(l->phases);
	pcre2_code_free(l->layer_re);
	for (size_t k = 0; k < l->nrules; k++) {
		free(l->rules[k].regex);
		free(l->rules[k].predicate);
		free(l->rules[k].origin);
	}
	free(l->rules);
	free(l->pair_rule);
}

dv_report_data *dv_report_load_buffer(const char *name, const char *text, size_t len, const dv_report_load_opts *opts,
				      dv_error *err)
{
	static const dv_report_load_opts none = {0};
	ld l = {.name = name, .err = err, .opts = opts ? opts : &none};
	dv_report_data *d = calloc(1, sizeof(*d));
	dv_comparison *cmp = NULL;
	build b = {0};

	dv_error_clear(err);
	if (!d || !(d->path = strdup(name))) {
		dv_error_set(err, "out of memory");
		goto fail;
	}
	l.d = d;
	d->first_divergence = -1;
	if ((l.opts->baseline == NULL) != (l.opts->target == NULL)) {
		dv_error_set(err, "give both runs or neither");
		goto fail;
	}
	d->has_runs = l.opts->baseline != NULL;
	if (!(l.layer_re = dv_regex_compile(l.opts->layer_regex ? l.opts->layer_regex : DV_DEFAULT_LAYER_REGEX, false,
					    err))) {
		dv_error_prefix(err, "--layer-regex");
		goto fail;
	}
	if (each_line(&l, text, len, pass1, NULL))
		goto fail;
	if (!l.summary_line) {
		dv_error_set(err, "%s:%zu: no summary record: a report cut short?", name, l.line);
		goto fail;
	}
	if (!(cmp = d->cmp = calloc(1, sizeof(*cmp))) ||
	    !(cmp->phases = calloc(l.nphases ? l.nphases : 1, sizeof(*cmp->phases))) ||
	    !(cmp->pairs = calloc(l.npairs ? l.npairs : 1, sizeof(*cmp->pairs))) ||
	    !(cmp->pair_files = calloc(l.nfilerefs ? l.nfilerefs : 1, sizeof(*cmp->pair_files)))) {
		dv_error_set(err, "out of memory");
		goto fail;
	}
	if (!(cmp->base = make_run(&l, 0, l.opts->baseline, err)) || !(cmp->targ = make_run(&l, 1, l.opts->target, err)))
		goto fail;
	cmp->grouping = l.opts->grouping;
	for (size_t k = 0; k < l.nphases; k++) {
		dv_phase_pairs *ph = &cmp->phases[k];
		const dv_phase *bp = run_phase(cmp->base, l.phases[k]), *tp = run_phase(cmp->targ, l.phases[k]);

		cmp->nphases++;
		if (!(ph->name = strdup(l.phases[k])) || !(ph->lctx = calloc(1, sizeof(*ph->lctx)))) {
			dv_error_set(err, "out of memory");
			goto fail;
		}
		ph->in_base = bp != NULL;
		ph->in_targ = tp != NULL;
		/* reading logical tensors needs the files; without them nothing is read */
		if (d->has_runs)
			dv_logical_ctx_init(ph->lctx, l.opts->grouping, bp, tp);
		else
			ph->lctx->token_aligner = DV_TOKEN_ALIGNER_NONE;
	}
	if (d->has_runs && check_runs(&l))
		goto fail;
	if (!(l.pair_rule = calloc(l.npairs ? l.npairs : 1, sizeof(*l.pair_rule)))) {
		dv_error_set(err, "out of memory");
		goto fail;
	}
	if (each_line(&l, text, len, pass2, &b))
		goto fail;
	for (size_t i = 0; i < cmp->npairs; i++) {
		dv_phase_pairs *ph = &cmp->phases[cmp->pairs[i].phase];

		if (!ph->count)
			ph->first = i;
		ph->count++;
	}
	/* the pairs were made DONE by hand: the kept counts start from them */
	dv_comparison_recount(cmp);
	find_threshold(&l);
	if (check_summary(&l))
		goto fail;
	ld_free(&l);
	return d;
fail:
	ld_free(&l);
	dv_report_data_free(d);
	return NULL;
}

dv_report_data *dv_report_load(const char *path, const dv_report_load_opts *opts, dv_error *err)
{
	FILE *f = fopen(path, "rb");
	char *text = NULL;
	size_t len = 0;
	dv_report_data *d;
	int rc;

	if (!f) {
		dv_error_set(err, "%s: %s", path, strerror(errno));
		return NULL;
	}
	rc = dv_read_all(f, &text, &len) ? errno : 0;
	fclose(f);
	if (rc) {
		dv_error_set(err, "%s: %s", path, strerror(rc));
		return NULL;
	}
	d = dv_report_load_buffer(path, text, len, opts, err);
	free(text);
	return d;
}

void dv_report_data_free(dv_report_data *d)
{
	if (!d)
		return;
	dv_comparison_free(d->cmp);
	dv_rules_free(d->rules);
	free(d->path);
	free(d->diagnosis);
	free(d);
}
