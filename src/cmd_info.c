/* dumpview info [--format text|jsonl] [--layer-regex RE] DIR|TAG...
 * The read_meta view of runs: per phase its folder, file count, tag keys,
 * steps, ranks, layers and tensors by dtype; then each file's tags.
 * Unreadable files are listed with the reason. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/commands.h"
#include "dumpview/comparison.h"
#include "dumpview/escape.h"
#include "dumpview/pt.h"
#include "dumpview/report.h"

typedef enum info_format { INFO_TEXT, INFO_JSONL } info_format;

/* What opening one file told us. */
typedef struct file_meta {
	bool readable;
	bool tensor;
	dv_dtype dtype;
	int ndim;
	int64_t shape[PT_MAX_DIMS];
	const char *kind;            /* non-tensor: what it is */
	char error[DV_ERROR_MAX];
} file_meta;

static const char *kind_name(pt_kind k)
{
	switch (k) {
	case PT_NONE: return "None";
	case PT_BOOL: return "bool";
	case PT_INT: return "int";
	case PT_FLOAT: return "float";
	case PT_STR: return "str";
	case PT_BYTES: return "bytes";
	case PT_LIST: return "list";
	case PT_TUPLE: return "tuple";
	case PT_SET: return "set";
	case PT_DICT: return "dict";
	case PT_OBJECT: return "object";
	case PT_TENSOR: return "tensor";
	}
	return "?";
}

static void read_meta(const dv_dumpfile *f, file_meta *m)
{
	dv_error err = {{0}};
	pt_file *pf = pt_open(f->path, &err);
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
		m->kind = v ? kind_name(v->kind) : "nothing";
	}
	pt_close(pf);
}

/* Sorted distinct values (>= 0) of an int64 field. */
typedef struct ivec {
	int64_t *v;
	size_t n;
} ivec;

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static ivec distinct(const dv_phase *ph, int which)
{
	ivec out = {malloc((ph->nfiles + 1) * sizeof(int64_t)), 0};
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

/* "0-5", "0, 2, 4", "none" */
static void print_ranges(FILE *out, const ivec *iv)
{
	if (!iv->n) {
		fputs("none", out);
		return;
	}
	for (size_t i = 0; i < iv->n;) {
		size_t j = i;

		while (j + 1 < iv->n && iv->v[j + 1] == iv->v[j] + 1)
			j++;
		fprintf(out, "%s%lld", i ? ", " : "", (long long)iv->v[i]);
		if (j > i)
			fprintf(out, "%s%lld", j == i + 1 ? ", " : "-", (long long)iv->v[j]);
		i = j + 1;
	}
}

static void print_json_ints(FILE *out, const ivec *iv)
{
	fputc('[', out);
	for (size_t i = 0; i < iv->n; i++)
		fprintf(out, "%s%lld", i ? "," : "", (long long)iv->v[i]);
	fputc(']', out);
}

/* Tag keys in first-seen order. */
static size_t tag_keys(const dv_phase *ph, const char ***keys_out)
{
	const char **keys = NULL;
	size_t n = 0, cap = 0;

	for (size_t i = 0; i < ph->nfiles; i++) {
		for (size_t t = 0; t < ph->files[i].ntags; t++) {
			const char *k = ph->files[i].tags[t].key;
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

/* Counts per dtype name (tensors) or "non-tensor", in first-seen order. */
typedef struct dcount {
	const char *name;
	size_t n;
} dcount;

/* Most files first, then by name. */
static int cmp_dcount(const void *a, const void *b)
{
	const dcount *x = a, *y = b;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->name, y->name);
}

static size_t dtype_counts(const file_meta *metas, size_t nfiles, dcount *out, size_t max)
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

static void text_shape(FILE *out, const file_meta *m)
{
	fputc('[', out);
	for (int d = 0; d < m->ndim; d++)
		fprintf(out, "%s%lld", d ? ", " : "", (long long)m->shape[d]);
	fputc(']', out);
}

static void json_nullable(FILE *out, int64_t v)
{
	if (v >= 0)
		fprintf(out, "%lld", (long long)v);
	else
		fputs("null", out);
}

/* How a phase's files are grouped by folder: each distinct set of folder tags
 * ("sglang_dump=1", "folder=." for files beside subfolders) with its file
 * count, sorted by label. */
typedef struct fgroup {
	char *label;
	size_t n;
} fgroup;

static int cmp_fgroup(const void *a, const void *b)
{
	return strcmp(((const fgroup *)a)->label, ((const fgroup *)b)->label);
}

static size_t folder_groups(const dv_phase *ph, fgroup **out)
{
	fgroup *g = NULL;
	size_t n = 0;

	for (size_t i = 0; i < ph->nfiles; i++) {
		const dv_dumpfile *f = &ph->files[i];
		char *label = NULL;
		size_t len = 0, j;
		FILE *m;

		if (f->ntags == f->nfile_tags || !(m = open_memstream(&label, &len)))
			continue;
		for (size_t t = f->nfile_tags; t < f->ntags; t++)
			fprintf(m, "%s%s=%s", t > f->nfile_tags ? " " : "", f->tags[t].key, f->tags[t].value);
		if (fclose(m)) {
			free(label);
			continue;
		}
		for (j = 0; j < n && strcmp(g[j].label, label); j++)
			;
		if (j < n) {
			g[j].n++;
			free(label);
			continue;
		}
		fgroup *grown = realloc(g, (n + 1) * sizeof(*g));

		if (!grown) {
			free(label);
			continue;
		}
		g = grown;
		g[n].label = label;
		g[n++].n = 1;
	}
	if (n > 1)
		qsort(g, n, sizeof(*g), cmp_fgroup);
	*out = g;
	return n;
}

static void describe_phase(FILE *out, const dv_run *run, const dv_phase *ph, info_format fmt)
{
	file_meta *metas = calloc(ph->nfiles + 1, sizeof(*metas));
	ivec steps = distinct(ph, 0), ranks = distinct(ph, 1), layers = distinct(ph, 2);
	const char **keys = NULL;
	size_t nkeys = tag_keys(ph, &keys), ndt, unreadable = 0;
	fgroup *groups = NULL;
	size_t ngroups = folder_groups(ph, &groups);
	dcount dts[64];

	if (!metas) {
		dv_term_fprintf(out, "%s: out of memory\n", ph->name);
		goto out;
	}
	for (size_t i = 0; i < ph->nfiles; i++) {
		read_meta(&ph->files[i], &metas[i]);
		unreadable += !metas[i].readable;
	}
	ndt = dtype_counts(metas, ph->nfiles, dts, 64);

	if (fmt == INFO_TEXT) {
		/* names, folders, tags and messages from the dumps are escaped */
		dv_term_fprintf(out, "phase %s: %s\n", ph->name, ph->dir);
		fprintf(out, "  files: %zu\n", ph->nfiles);
		if (ngroups) {
			fputs("  folders:", out);
			for (size_t k = 0; k < ngroups; k++)
				dv_term_fprintf(out, "%s%s (%zu file%s)", k ? ", " : " ", groups[k].label, groups[k].n,
						groups[k].n == 1 ? "" : "s");
			fputc('\n', out);
		}
		fputs("  tag keys:", out);
		for (size_t k = 0; k < nkeys; k++) {
			fputs(k ? ", " : " ", out);
			dv_term_fputs(keys[k], out);
		}
		fputs(nkeys ? "\n" : " none\n", out);
		fputs("  steps: ", out);
		print_ranges(out, &steps);
		fputs("\n  ranks: ", out);
		print_ranges(out, &ranks);
		fputs("\n  layers: ", out);
		print_ranges(out, &layers);
		fputs("\n  dtypes:", out);
		for (size_t k = 0; k < ndt; k++)
			fprintf(out, "%s%s %zu", k ? ", " : " ",
				strcmp(dts[k].name, "non_tensor") ? dts[k].name : "non-tensor", dts[k].n);
		if (unreadable)
			fprintf(out, "%sunreadable %zu", ndt ? ", " : " ", unreadable);
		fputs(ndt || unreadable ? "\n" : " none\n", out);
		fputs("  files:\n", out);
		for (size_t i = 0; i < ph->nfiles; i++) {
			const dv_dumpfile *f = &ph->files[i];
			const file_meta *m = &metas[i];

			fputs("    ", out);
			dv_term_fputs(f->filename, out);
			fputs("\n      ", out);
			for (size_t t = 0; t < f->ntags; t++) {
				fputs(t ? "  " : "", out);
				dv_term_fputs(f->tags[t].key, out);
				fputc('=', out);
				dv_term_fputs(f->tags[t].value, out);
			}
			if (f->layer >= 0 && !dv_tag_get(f, "layer_id") && !dv_tag_get(f, "layer"))
				fprintf(out, "%slayer=%d (from the name)", f->ntags ? "  " : "", f->layer);
			fputs(f->ntags ? "\n      " : "(no tags)\n      ", out);
			if (!m->readable) {
				dv_term_fprintf(out, "unreadable: %s\n", m->error);
			} else if (m->tensor) {
				fprintf(out, "%s ", dv_dtype_name(m->dtype));
				text_shape(out, m);
				fputc('\n', out);
			} else {
				fprintf(out, "non-tensor (%s)\n", m->kind);
			}
		}
		if (unreadable) {
			fputs("  unreadable files:\n", out);
			for (size_t i = 0; i < ph->nfiles; i++)
				if (!metas[i].readable)
					dv_term_fprintf(out, "    %s\n", metas[i].error);
		}
	} else {
		fputs("{\"type\":\"phase\",\"run\":", out);
		dv_json_write_string(out, run->spec);
		fputs(",\"phase\":", out);
		dv_json_write_string(out, ph->name);
		fputs(",\"dir\":", out);
		dv_json_write_string(out, ph->dir);
		fprintf(out, ",\"files\":%zu,\"folders\":{", ph->nfiles);
		for (size_t k = 0; k < ngroups; k++) {
			if (k)
				fputc(',', out);
			dv_json_write_string(out, groups[k].label);
			fprintf(out, ":%zu", groups[k].n);
		}
		fputs("},\"tag_keys\":[", out);
		for (size_t k = 0; k < nkeys; k++) {
			if (k)
				fputc(',', out);
			dv_json_write_string(out, keys[k]);
		}
		fputs("],\"steps\":", out);
		print_json_ints(out, &steps);
		fputs(",\"ranks\":", out);
		print_json_ints(out, &ranks);
		fputs(",\"layers\":", out);
		print_json_ints(out, &layers);
		fputs(",\"dtypes\":{", out);
		for (size_t k = 0; k < ndt; k++) {
			if (k)
				fputc(',', out);
			dv_json_write_string(out, dts[k].name);
			fprintf(out, ":%zu", dts[k].n);
		}
		fprintf(out, "},\"unreadable\":%zu}\n", unreadable);
		for (size_t i = 0; i < ph->nfiles; i++) {
			const dv_dumpfile *f = &ph->files[i];
			const file_meta *m = &metas[i];

			fputs("{\"type\":\"file\",\"run\":", out);
			dv_json_write_string(out, run->spec);
			fputs(",\"phase\":", out);
			dv_json_write_string(out, ph->name);
			fputs(",\"file\":", out);
			dv_json_write_string(out, f->relpath);
			fputs(",\"tags\":{", out);
			for (size_t t = 0; t < f->ntags; t++) {
				if (t)
					fputc(',', out);
				dv_json_write_string(out, f->tags[t].key);
				fputc(':', out);
				dv_json_write_string(out, f->tags[t].value);
			}
			fputs("},\"name\":", out);
			dv_json_write_string(out, f->name);
			fputs(",\"layer\":", out);
			json_nullable(out, f->layer);
			fputs(",\"step\":", out);
			json_nullable(out, f->step);
			fputs(",\"rank\":", out);
			json_nullable(out, f->rank);
			fputs(",\"dump_index\":", out);
			json_nullable(out, f->dump_index);
			if (!m->readable) {
				fputs(",\"error\":", out);
				dv_json_write_string(out, m->error);
			} else if (m->tensor) {
				fputs(",\"dtype\":", out);
				dv_json_write_string(out, dv_dtype_name(m->dtype));
				fputs(",\"shape\":[", out);
				for (int d = 0; d < m->ndim; d++)
					fprintf(out, "%s%lld", d ? "," : "", (long long)m->shape[d]);
				fputc(']', out);
			} else {
				fputs(",\"dtype\":null,\"value\":", out);
				dv_json_write_string(out, m->kind);
			}
			fputs("}\n", out);
		}
		for (size_t i = 0; i < ph->nfiles; i++) {
			if (metas[i].readable)
				continue;
			fputs("{\"type\":\"error\",\"run\":", out);
			dv_json_write_string(out, run->spec);
			fputs(",\"phase\":", out);
			dv_json_write_string(out, ph->name);
			fputs(",\"file\":", out);
			dv_json_write_string(out, ph->files[i].relpath);
			fputs(",\"message\":", out);
			dv_json_write_string(out, metas[i].error);
			fputs("}\n", out);
		}
	}
out:
	for (size_t k = 0; k < ngroups; k++)
		free(groups[k].label);
	free(groups);
	free(metas);
	free(steps.v);
	free(ranks.v);
	free(layers.v);
	free(keys);
}

static void usage(FILE *out)
{
	fputs("usage: dumpview info [--format text|jsonl] [--layer-regex RE] [--follow-symlinks] DIR|TAG...\n"
	      "Describes dump runs: per phase its folder, file count, how its files are grouped\n"
	      "by folder, tag keys, steps, ranks, layers and tensors by dtype, then each file's\n"
	      "tags; unreadable files with the reason; folders not read as warnings.\n"
	      "--follow-symlinks follows symlinked folders that lead outside a run.\n"
	      "A TAG is looked up under $DUMPER_BASE_DIR (default " DV_DEFAULT_BASE_DIR ").\n",
	      out);
}

int cmd_info(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"format", required_argument, NULL, 'f'},
		{"layer-regex", required_argument, NULL, 'L'},
		{"follow-symlinks", no_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	info_format fmt = INFO_TEXT;
	dv_run_opts opts = {0};
	int c, status = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+f:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (!strcmp(optarg, "text")) {
				fmt = INFO_TEXT;
			} else if (!strcmp(optarg, "jsonl")) {
				fmt = INFO_JSONL;
			} else {
				dv_term_fprintf(stderr, "dumpview info: --format must be text or jsonl, not '%s'\n", optarg);
				return 2;
			}
			break;
		case 'L':
			opts.layer_regex = optarg;
			break;
		case 'F':
			opts.follow_symlinks = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	for (int i = optind; i < argc; i++) {
		dv_error err = {{0}};
		dv_run *run = dv_comparison_open_run(argv[i], &opts, &err);

		if (!run) {
			dv_term_fprintf(stderr, "dumpview info: %s\n", err.msg);
			status = 2;
			continue;
		}
		if (fmt == INFO_TEXT) {
			if (i > optind)
				fputc('\n', stdout);
			dv_term_fprintf(stdout, "%s: %s\n", run->spec, run->root);
			for (size_t k = 0; k < run->nproblems; k++)
				dv_term_fprintf(stdout, "warning: %s\n", run->problems[k]);
			if (!run->nphases)
				fputs("no .pt files\n", stdout);
		} else {
			fputs("{\"type\":\"run\",\"run\":", stdout);
			dv_json_write_string(stdout, run->spec);
			fputs(",\"root\":", stdout);
			dv_json_write_string(stdout, run->root);
			fprintf(stdout, ",\"phases\":%zu,\"warnings\":[", run->nphases);
			for (size_t k = 0; k < run->nproblems; k++) {
				if (k)
					fputc(',', stdout);
				dv_json_write_string(stdout, run->problems[k]);
			}
			fputs("]}\n", stdout);
		}
		for (size_t p = 0; p < run->nphases; p++)
			describe_phase(stdout, run, &run->phases[p], fmt);
		dv_run_free(run);
	}
	if (fflush(stdout)) {
		perror("dumpview info: stdout");
		return 2;
	}
	return status;
}
