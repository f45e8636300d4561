/* The summary of a phase that `info` prints: every file opened for its dtype
 * and shape (or kind, or why it is unreadable), and the phase's tag keys,
 * steps, ranks, layers, folder groups and dtype counts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/pt.h"
#include "dumpview/summary.h"

static void read_file(const dv_dumpfile *f, dv_file_summary *m)
{
	dv_error err = {{0}};
	dv_path_buf pb;
	pt_file *pf = pt_open(dv_dumpfile_path(f, &pb), &err);
	const pt_obj *v;

	memset(m, 0, sizeof(*m));
	if (!pf) {
		snprintf(m->error, sizeof(m->error), "%s", err.msg);
		return;
	}
	m->readable = true;
	v = pt_dump_value(pf);
	if (v && v->kind == PT_TENSOR) {
		m->tensor = true;
		m->dtype = v->u.tensor.dtype;
		m->ndim = v->u.tensor.ndim;
		memcpy(m->shape, v->u.tensor.shape, sizeof(m->shape));
	} else {
		m->kind = v ? pt_kind_name(v->kind) : "nothing";
	}
	pt_close(pf);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* which: 0 step, 1 rank, 2 layer */
static dv_int_set distinct(const dv_phase *ph, int which)
{
	dv_int_set out = {malloc((ph->nfiles + 1) * sizeof(int64_t)), 0};
	size_t k = 0;

	if (!out.v)
		return out;
	for (size_t i = 0; i < ph->nfiles; i++) {
		const dv_dumpfile *f = &ph->files[i];
		int64_t x = which == 0 ? f->step : which == 1 ? f->rank : f->layer;

		if (x >= 0)
			out.v[out.n++] = x;
	}
	if (out.n)
		qsort(out.v, out.n, sizeof(int64_t), cmp_i64);
	for (size_t i = 0; i < out.n; i++)
		if (!k || out.v[k - 1] != out.v[i])
			out.v[k++] = out.v[i];
	out.n = k;
	return out;
}

/* Tag keys in first-seen order. */
static size_t tag_keys(const dv_phase *ph, const char ***keys_out)
{
	const char **keys = NULL;
	size_t n = 0, cap = 0;

	for (size_t i = 0; i < ph->nfiles; i++) {
		for (size_t t = 0; t < ph->files[i].ntags; t++) {
			const char *k = dv_file_tag_key(&ph->files[i], t);
			size_t j;

			for (j = 0; j < n && strcmp(keys[j], k); j++)
				;
			if (j < n)
				continue;
			if (n == cap) {
				const char **grown;

				cap = cap ? cap * 2 : 16;
				grown = realloc(keys, cap * sizeof(*keys));
				if (!grown)
					break;
				keys = grown;
			}
			keys[n++] = k;
		}
	}
	*keys_out = keys;
	return n;
}

/* Most files first, then by name. */
static int cmp_dcount(const void *a, const void *b)
{
	const dv_label_count *x = a, *y = b;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->name, y->name);
}

static size_t dtype_counts(const dv_file_summary *metas, size_t nfiles, dv_label_count *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < nfiles; i++) {
		const char *name;
		size_t j;

		if (!metas[i].readable)
			continue;
		name = metas[i].tensor ? dv_dtype_name(metas[i].dtype) : "non_tensor";
		for (j = 0; j < n && strcmp(out[j].name, name); j++)
			;
		if (j == n) {
			if (n == max)
				continue;
			out[n].name = name;
			out[n++].n = 0;
		}
		out[j].n++;
	}
	qsort(out, n, sizeof(*out), cmp_dcount);
	return n;
}

static int cmp_fgroup(const void *a, const void *b)
{
	return strcmp(((const dv_label_count *)a)->name, ((const dv_label_count *)b)->name);
}

static size_t folder_groups(const dv_phase *ph, dv_label_count **out)
{
	dv_label_count *g = NULL;
	size_t n = 0;

	for (size_t i = 0; i < ph->nfiles; i++) {
		const dv_dumpfile *f = &ph->files[i];
		char *label = NULL;
		size_t len = 0, j;
		FILE *m;

		if (f->ntags == f->nfile_tags || !(m = open_memstream(&label, &len)))
			continue;
		for (size_t t = f->nfile_tags; t < f->ntags; t++)
			fprintf(m, "%s%s=%s", t > f->nfile_tags ? " " : "", dv_file_tag_key(f, t), dv_file_tag_value(f, t));
		if (fclose(m)) {
			free(label);
			continue;
		}
		for (j = 0; j < n && strcmp(g[j].name, label); j++)
			;
		if (j < n) {
			g[j].n++;
			free(label);
			continue;
		}
		dv_label_count *grown = realloc(g, (n + 1) * sizeof(*g));

		if (!grown) {
			free(label);
			continue;
		}
		g = grown;
		g[n].name = label;
		g[n++].n = 1;
	}
	if (n > 1)
		qsort(g, n, sizeof(*g), cmp_fgroup);
	*out = g;
	return n;
}

int dv_phase_summarize(const dv_phase *ph, dv_phase_summary *s)
{
	memset(s, 0, sizeof(*s));
	s->phase = ph;
	s->steps = distinct(ph, 0);
	s->ranks = distinct(ph, 1);
	s->layers = distinct(ph, 2);
	s->ntag_keys = tag_keys(ph, &s->tag_keys);
	s->nfolders = folder_groups(ph, &s->folders);
	s->files = calloc(ph->nfiles + 1, sizeof(*s->files));
	if (!s->files) {
		dv_phase_summary_free(s);
		return -1;
	}
	for (size_t i = 0; i < ph->nfiles; i++) {
		read_file(&ph->files[i], &s->files[i]);
		s->unreadable += !s->files[i].readable;
	}
	s->ndtypes = dtype_counts(s->files, ph->nfiles, s->dtypes, DV_SUMMARY_MAX_DTYPES);
	return 0;
}

void dv_phase_summary_free(dv_phase_summary *s)
{
	for (size_t k = 0; k < s->nfolders; k++)
		free((char *)s->folders[k].name);
	free(s->folders);
	free(s->files);
	free(s->steps.v);
	free(s->ranks.v);
	free(s->layers.v);
	free(s->tag_keys);
	memset(s, 0, sizeof(*s));
}
