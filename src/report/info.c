/* The writers of `info`: a run's header and a phase summary
 * (dv_phase_summary) as text or as JSON lines. Names, folders, tags and
 * messages from the dumps are escaped (dv_term_* for text). */
#include <stdio.h>
#include <string.h>

#include "dumpview/escape.h"
#include "dumpview/name_map.h"
#include "internal.h"

/* "0-5", "0, 2, 4", "none" */
static void print_ranges(FILE *out, const dv_int_set *iv)
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

static void json_nullable(FILE *out, int64_t v)
{
	if (v >= 0)
		fprintf(out, "%lld", (long long)v);
	else
		fputs("null", out);
}

void dv_info_text_run(FILE *out, const dv_run *run, bool separate)
{
	if (separate)
		fputc('\n', out);
	dv_term_fprintf(out, "%s: %s\n", run->spec, run->root);
	for (size_t k = 0; k < run->nproblems; k++)
		dv_term_fprintf(out, "warning: %s\n", run->problems[k]);
	if (!run->nphases)
		fputs("no .pt files\n", out);
}

void dv_info_jsonl_run(FILE *out, const dv_run *run)
{
	fputs("{\"type\":\"run\",\"run\":", out);
	dv_json_write_string(out, run->spec);
	fputs(",\"root\":", out);
	dv_json_write_string(out, run->root);
	fprintf(out, ",\"phases\":%zu,\"warnings\":", run->nphases);
	dv_json_write_strings(out, (const char *const *)run->problems, run->nproblems);
	fputs("}\n", out);
}

void dv_info_text_phase(FILE *out, const dv_run *run, const dv_phase_summary *s)
{
	const dv_phase *ph = s->phase;

	(void)run;
	dv_term_fprintf(out, "phase %s: %s\n", ph->name, ph->dir);
	fprintf(out, "  files: %zu\n", ph->nfiles);
	if (s->nfolders) {
		fputs("  folders:", out);
		for (size_t k = 0; k < s->nfolders; k++)
			dv_term_fprintf(out, "%s%s (%zu file%s)", k ? ", " : " ", s->folders[k].name, s->folders[k].n,
					s->folders[k].n == 1 ? "" : "s");
		fputc('\n', out);
	}
	fputs("  tag keys:", out);
	for (size_t k = 0; k < s->ntag_keys; k++) {
		fputs(k ? ", " : " ", out);
		dv_term_fputs(s->tag_keys[k], out);
	}
	fputs(s->ntag_keys ? "\n" : " none\n", out);
	fputs("  steps: ", out);
	print_ranges(out, &s->steps);
	fputs("\n  ranks: ", out);
	print_ranges(out, &s->ranks);
	fputs("\n  layers: ", out);
	print_ranges(out, &s->layers);
	fputs("\n  dtypes:", out);
	for (size_t k = 0; k < s->ndtypes; k++)
		fprintf(out, "%s%s %zu", k ? ", " : " ",
			strcmp(s->dtypes[k].name, "non_tensor") ? s->dtypes[k].name : "non-tensor", s->dtypes[k].n);
	if (s->unreadable)
		fprintf(out, "%sunreadable %zu", s->ndtypes ? ", " : " ", s->unreadable);
	fputs(s->ndtypes || s->unreadable ? "\n" : " none\n", out);
	fputs("  files:\n", out);
	for (size_t i = 0; i < ph->nfiles; i++) {
		const dv_dumpfile *f = &ph->files[i];
		const dv_file_summary *m = &s->files[i];

		fputs("    ", out);
		dv_term_fputs(dv_dumpfile_filename(f), out);
		fputs("\n      ", out);
		for (size_t t = 0; t < f->ntags; t++) {
			fputs(t ? "  " : "", out);
			dv_term_fputs(dv_file_tag_key(f, t), out);
			fputc('=', out);
			dv_term_fputs(dv_file_tag_value(f, t), out);
		}
		if (f->layer >= 0 && !dv_tag_get(f, "layer_id") && !dv_tag_get(f, "layer"))
			fprintf(out, "%slayer=%d (from the name)", f->ntags ? "  " : "", f->layer);
		fputs(f->ntags ? "\n      " : "(no tags)\n      ", out);
		if (!m->readable) {
			dv_term_fprintf(out, "unreadable: %s\n", m->error);
		} else if (m->tensor) {
			char shape[PT_MAX_DIMS * 22 + 3];

			fprintf(out, "%s %s\n", dv_dtype_name(m->dtype), dv_fmt_shape(shape, sizeof(shape), m->ndim, m->shape));
		} else {
			fprintf(out, "non-tensor (%s)\n", m->kind);
		}
	}
	if (s->unreadable) {
		fputs("  unreadable files:\n", out);
		for (size_t i = 0; i < ph->nfiles; i++)
			if (!s->files[i].readable)
				dv_term_fprintf(out, "    %s\n", s->files[i].error);
	}
}

void dv_info_jsonl_phase(FILE *out, const dv_run *run, const dv_phase_summary *s)
{
	const dv_phase *ph = s->phase;

	fputs("{\"type\":\"phase\",\"run\":", out);
	dv_json_write_string(out, run->spec);
	fputs(",\"phase\":", out);
	dv_json_write_string(out, ph->name);
	fputs(",\"dir\":", out);
	dv_json_write_string(out, ph->dir);
	fprintf(out, ",\"files\":%zu,\"folders\":{", ph->nfiles);
	for (size_t k = 0; k < s->nfolders; k++) {
		if (k)
			fputc(',', out);
		dv_json_write_string(out, s->folders[k].name);
		fprintf(out, ":%zu", s->folders[k].n);
	}
	fputs("},\"tag_keys\":", out);
	dv_json_write_strings(out, s->tag_keys, s->ntag_keys);
	fputs(",\"steps\":", out);
	dv_json_write_ints(out, s->steps.v, s->steps.n);
	fputs(",\"ranks\":", out);
	dv_json_write_ints(out, s->ranks.v, s->ranks.n);
	fputs(",\"layers\":", out);
	dv_json_write_ints(out, s->layers.v, s->layers.n);
	fputs(",\"dtypes\":{", out);
	for (size_t k = 0; k < s->ndtypes; k++) {
		if (k)
			fputc(',', out);
		dv_json_write_string(out, s->dtypes[k].name);
		fprintf(out, ":%zu", s->dtypes[k].n);
	}
	fprintf(out, "},\"unreadable\":%zu}\n", s->unreadable);
	for (size_t i = 0; i < ph->nfiles; i++) {
		const dv_dumpfile *f = &ph->files[i];
		const dv_file_summary *m = &s->files[i];

		fputs("{\"type\":\"file\",\"run\":", out);
		dv_json_write_string(out, run->spec);
		fputs(",\"phase\":", out);
		dv_json_write_string(out, ph->name);
		fputs(",\"file\":", out);
		dv_json_write_string(out, dv_dumpfile_relpath(f));
		fputs(",\"tags\":{", out);
		for (size_t t = 0; t < f->ntags; t++) {
			if (t)
				fputc(',', out);
			dv_json_write_string(out, dv_file_tag_key(f, t));
			fputc(':', out);
			dv_json_write_string(out, dv_file_tag_value(f, t));
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
			fputs(",\"shape\":", out);
			dv_json_write_ints(out, m->shape, (size_t)m->ndim);
		} else {
			fputs(",\"dtype\":null,\"value\":", out);
			dv_json_write_string(out, m->kind);
		}
		fputs("}\n", out);
	}
	for (size_t i = 0; i < ph->nfiles; i++) {
		if (s->files[i].readable)
			continue;
		fputs("{\"type\":\"error\",\"run\":", out);
		dv_json_write_string(out, run->spec);
		fputs(",\"phase\":", out);
		dv_json_write_string(out, ph->name);
		fputs(",\"file\":", out);
		dv_json_write_string(out, dv_dumpfile_relpath(&ph->files[i]));
		fputs(",\"message\":", out);
		dv_json_write_string(out, s->files[i].error);
		fputs("}\n", out);
	}
}

/* ---- info --name-map ---- */

static const char *use_status(const dv_name_use *u)
{
	return u->paired == u->files ? "paired" : u->paired ? "partly" : "unpaired";
}

void dv_info_text_name_map(FILE *out, const dv_comparison *cmp, const dv_name_map *m)
{
	size_t n = dv_name_map_count(m);

	dv_term_fprintf(out, "baseline: %s\n", cmp->base->root);
	dv_term_fprintf(out, "target: %s\n", cmp->targ->root);
	fprintf(out, "name map: %zu rule%s, on target names before pairing\n", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++)
		dv_term_fprintf(out, "  %s: %s\n", dv_name_map_origin(m, i), dv_name_map_rule(m, i));
}

void dv_info_jsonl_name_map(FILE *out, const dv_comparison *cmp, const dv_name_map *m)
{
	fputs("{\"type\":\"name_map\",\"baseline\":", out);
	dv_json_write_string(out, cmp->base->root);
	fputs(",\"target\":", out);
	dv_json_write_string(out, cmp->targ->root);
	fputs(",\"rules\":[", out);
	for (size_t i = 0; i < dv_name_map_count(m); i++) {
		fputs(i ? ",{\"rule\":" : "{\"rule\":", out);
		dv_json_write_string(out, dv_name_map_rule(m, i));
		fputs(",\"origin\":", out);
		dv_json_write_string(out, dv_name_map_origin(m, i));
		fputc('}', out);
	}
	fputs("]}\n", out);
}

void dv_info_text_name_pairing(FILE *out, const dv_name_pairing *np)
{
	size_t unpaired = np->ntarg - np->targ_paired;

	dv_term_fprintf(out, "phase %s: %zu target name%s, %zu renamed: %zu pair%s, %zu do%s not; "
			"%zu of %zu baseline name%s without a target\n",
			np->phase, np->ntarg, np->ntarg == 1 ? "" : "s", np->targ_renamed, np->targ_paired,
			np->targ_paired == 1 ? "s" : "", unpaired, unpaired == 1 ? "es" : "", np->base_unpaired,
			np->nbase, np->nbase == 1 ? "" : "s");
	if (np->ntarg)
		fputs("  target names:\n", out);
	for (size_t i = 0; i < np->ntarg; i++) {
		const dv_name_use *u = &np->targ[i];

		dv_term_fprintf(out, "    %-8s  %s", use_status(u), u->name);
		if (u->mapped != u->name)
			dv_term_fprintf(out, " -> %s", u->mapped);
		else
			fputs(" (unchanged)", out);
		if (u->paired && u->paired < u->files)
			fprintf(out, " (%zu of %zu files)", u->paired, u->files);
		fputc('\n', out);
	}
	if (np->base_unpaired)
		fputs("  baseline names without a target:\n", out);
	for (size_t i = 0; i < np->nbase; i++) {
		const dv_name_use *u = &np->base[i];

		if (u->paired == u->files)
			continue;
		dv_term_fprintf(out, "    %s", u->name);
		if (u->paired)
			fprintf(out, " (%zu of %zu files)", u->files - u->paired, u->files);
		fputc('\n', out);
	}
}

static void jsonl_use(FILE *out, const char *phase, const char *side, const dv_name_use *u, bool target)
{
	fputs("{\"type\":\"name\",\"phase\":", out);
	dv_json_write_string(out, phase);
	fprintf(out, ",\"side\":\"%s\",\"name\":", side);
	dv_json_write_string(out, u->name);
	if (target) {
		fputs(",\"mapped\":", out);
		dv_json_write_string(out, u->mapped);
	}
	fprintf(out, ",\"files\":%zu,\"paired_files\":%zu,\"status\":\"%s\"}\n", u->files, u->paired, use_status(u));
}

void dv_info_jsonl_name_pairing(FILE *out, const dv_name_pairing *np)
{
	fputs("{\"type\":\"name_map_phase\",\"phase\":", out);
	dv_json_write_string(out, np->phase);
	fprintf(out,
		",\"target_names\":%zu,\"target_names_paired\":%zu,\"target_names_renamed\":%zu,"
		"\"baseline_names\":%zu,\"baseline_names_unpaired\":%zu}\n",
		np->ntarg, np->targ_paired, np->targ_renamed, np->nbase, np->base_unpaired);
	for (size_t i = 0; i < np->ntarg; i++)
		jsonl_use(out, np->phase, "target", &np->targ[i], true);
	for (size_t i = 0; i < np->nbase; i++)
		jsonl_use(out, np->phase, "baseline", &np->base[i], false);
}
