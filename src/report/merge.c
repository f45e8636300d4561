/* `merge`: the parts of a sharded comparison back into one jsonl report.
 * The records are copied as they are (each part wrote them with the same
 * writer), ordered by their "index"; the summary is rebuilt from them and
 * from what each part's summary carries in its "shard" object. Every line
 * is read with the report loader's strict JSON parser (report_load.h);
 * what is written again as it was (records, locators, warnings, token
 * alignment) is the text the parser says each value was read from. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "dumpview/dtype.h"
#include "dumpview/merge.h"
#include "dumpview/report_load.h"

/* ---- values of a parsed record ---- */

#define MAX_EXACT 9007199254740992.0 /* 2^53: every integer below is exact */

static bool is_str(const dv_json *v, const char *s)
{
	return v && v->type == DV_JSON_STRING && !strcmp(v->str, s);
}

static bool is_true(const dv_json *v)
{
	return v && v->type == DV_JSON_BOOL && v->b;
}

static bool is_null(const dv_json *v)
{
	return v && v->type == DV_JSON_NULL;
}

/* An integer, -1 for null; false for anything else. */
static bool int_of(const dv_json *v, int64_t *out)
{
	if (is_null(v)) {
		*out = -1;
		return true;
	}
	if (!v || v->type != DV_JSON_NUMBER || v->num != floor(v->num) || fabs(v->num) > MAX_EXACT)
		return false;
	*out = (int64_t)v->num;
	return true;
}

/* A number as dv_json_write_double writes it ("nan", "inf", "-inf" as
 * strings); NaN for null and anything else. */
static double double_of(const dv_json *v)
{
	if (v && v->type == DV_JSON_NUMBER)
		return v->num;
	if (is_str(v, "inf"))
		return INFINITY;
	if (is_str(v, "-inf"))
		return -INFINITY;
	return NAN;
}

/* ---- the parts ---- */

typedef struct record {
	size_t index, seq;
	bool error;          /* an "error" record: follows its pair's */
	const char *text;    /* the line as read, without the newline */
	size_t len;
	const char *part;    /* where it was read: for messages */
	size_t lineno;
	const char *phase;   /* a pair's: its phase's name, d.phase once known */
	dv_diag_pair d;      /* a pair's, as dv_diag_input_build fills it */
} record;

typedef struct part {
	const char *name;
	char *text;          /* the whole file */
	size_t len;
	const char *sum_text;/* the summary line */
	size_t sum_line;     /* its number, 0 before it is read */
	dv_json summary;
	const dv_json *shard, *gate;
	int64_t k;
} part;

typedef struct merger {
	part *parts;
	size_t nparts;
	record *recs;
	size_t nrecs;
	char **strings;      /* strings the diagnosis points to */
	size_t nstrings, capstrings;
	dv_error *err;
} merger;

/* "PART:LINE: why" */
static int bad(merger *m, const char *name, size_t line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int bad(merger *m, const char *name, size_t line, const char *fmt, ...)
{
	char why[DV_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return dv_error_set(m->err, "%s:%zu: %s", name, line, why);
}

/* A copy of the string v, kept until the merge ends; NULL when v is not a
 * string (or out of memory). */
static const char *keep(merger *m, const dv_json *v)
{
	char *s;

	if (!v || v->type != DV_JSON_STRING || !(s = strdup(v->str)))
		return NULL;
	if (m->nstrings == m->capstrings) {
		size_t cap = m->capstrings ? 2 * m->capstrings : 256;
		char **grown = realloc(m->strings, cap * sizeof(*grown));

		if (!grown) {
			free(s);
			return NULL;
		}
		m->strings = grown;
		m->capstrings = cap;
	}
	return m->strings[m->nstrings++] = s;
}

/* The text of a value of pt's summary, as written. */
static void put_raw(FILE *out, const char *text, const dv_json *v)
{
	if (v)
		fwrite(text + v->off, 1, v->nraw, out);
	else
		fputs("null", out);
}

static bool same_raw(const part *a, const dv_json *x, const part *b, const dv_json *y)
{
	return x && y && x->nraw == y->nraw && !memcmp(a->sum_text + x->off, b->sum_text + y->off, x->nraw);
}

static int add_record(merger *m, const record *r, size_t *cap)
{
	if (m->nrecs == *cap) {
		size_t c = *cap ? 2 * *cap : 1024;
		record *grown = realloc(m->recs, c * sizeof(*grown));

		if (!grown)
			return dv_error_set(m->err, "out of memory");
		m->recs = grown;
		*cap = c;
	}
	m->recs[m->nrecs++] = *r;
	return 0;
}

static dv_outcome outcome_of(const dv_json *verdict)
{
	if (is_str(verdict, "passed"))
		return DV_OUTCOME_PASS;
	if (is_str(verdict, "failed"))
		return DV_OUTCOME_FAIL;
	if (is_str(verdict, "errored"))
		return DV_OUTCOME_ERROR;
	return DV_OUTCOME_NONE;   /* a pair record not judged: cancelled, not computed */
}

static dv_result_status status_of(const dv_json *s)
{
	static const struct { const char *name; dv_result_status st; } names[] = {
		{ "compared", DV_RESULT_COMPARED }, { "shape_mismatch", DV_RESULT_SHAPE_MISMATCH },
		{ "non_tensor", DV_RESULT_NON_TENSOR }, { "error", DV_RESULT_ERROR },
		{ "cancelled", DV_RESULT_CANCELLED }, { "skipped", DV_RESULT_SKIPPED },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (is_str(s, names[i].name))
			return names[i].st;
	return DV_RESULT_NONE;
}

static bool integer_dtype(const dv_json *v)
{
	return v && v->type == DV_JSON_STRING && dv_dtype_is_integer(dv_dtype_from_name(v->str));
}

/* A pair's record o into r->d (its phase by name in r->phase), as
 * dv_diag_input_build fills it from the pair. */
static int diag_pair(merger *m, const dv_json *o, const char *type, record *r)
{
	dv_diag_pair *d = &r->d;
	const dv_json *v;
	int64_t x;

	if (!(r->phase = keep(m, dv_json_get(o, "phase"))) || !(d->name = keep(m, dv_json_get(o, "name"))))
		goto bad;
	d->layer = int_of(dv_json_get(o, "layer"), &x) ? (int)x : -1;
	d->step = int_of(dv_json_get(o, "step"), &x) ? x : -1;
	d->rank = int_of(dv_json_get(o, "rank"), &x) ? x : -1;
	d->done = true;
	d->kind = DV_PAIR_MATCHED;
	if (!strcmp(type, "unmatched")) {
		if (!(v = dv_json_get(o, "side")))
			goto bad;
		d->kind = is_str(v, "baseline") ? DV_PAIR_BASELINE_ONLY : DV_PAIR_TARGET_ONLY;
		d->verdict = d->metrics = DV_OUTCOME_UNMATCHED;
		return 0;
	}
	if (!strcmp(type, "skip") || !strcmp(type, "non_tensor")) {
		d->status = !strcmp(type, "skip") ? DV_RESULT_SKIPPED : DV_RESULT_NON_TENSOR;
		d->verdict = d->metrics = DV_OUTCOME_SKIPPED;
		return 0;
	}
	if (strcmp(type, "pair") || !(v = dv_json_get(o, "verdict")))
		goto bad;
	d->verdict = outcome_of(v);
	if (!(v = dv_json_get(o, "status")))
		goto bad;
	d->status = status_of(v);
	d->replica_mismatch = is_true(dv_json_get(o, "replica_mismatch"));
	/* failed by a replicated check alone: the metrics passed */
	d->metrics = d->verdict == DV_OUTCOME_FAIL && d->replica_mismatch && is_true(dv_json_get(o, "passed")) ?
			     DV_OUTCOME_PASS : d->verdict;
	if ((v = dv_json_get(o, "error")) && !(d->message = keep(m, v)))
		goto bad;
	if (d->status == DV_RESULT_COMPARED) {
		d->integer = integer_dtype(dv_json_get(o, "baseline_dtype")) &&
			     integer_dtype(dv_json_get(o, "target_dtype"));
		d->rel_diff = double_of(dv_json_get(o, "rel_diff"));
		d->numel = int_of(dv_json_get(o, "numel"), &x) ? x : 0;
		d->identical = int_of(dv_json_get(o, "identical"), &x) ? x : 0;
	}
	return 0;
bad:
	return bad(m, r->part, r->lineno, "not a record of compare --format jsonl");
}

/* One line of a part (not empty): a record, or the summary. */
static int load_line(merger *m, part *pt, const char *text, size_t len, size_t lineno, size_t *cap)
{
	dv_json o;
	dv_error jerr;
	const dv_json *t;
	record r = { .seq = m->nrecs, .text = text, .len = len, .part = pt->name, .lineno = lineno };
	int64_t index;
	int rc = -1;

	if (pt->sum_line)
		return bad(m, pt->name, lineno, "a record after the summary");
	if (len > DV_REPORT_MAX_LINE)
		return bad(m, pt->name, lineno, "a line longer than %u MiB", DV_REPORT_MAX_LINE >> 20);
	if (dv_json_parse(text, len, &o, &jerr))
		return bad(m, pt->name, lineno, "not JSON: %s", jerr.msg);
	if (!(t = dv_json_get(&o, "type")) || t->type != DV_JSON_STRING) {
		bad(m, pt->name, lineno, "not a jsonl report record");
		goto out;
	}
	if (!strcmp(t->str, "summary")) {
		pt->summary = o;   /* kept */
		pt->sum_text = text;
		pt->sum_line = lineno;
		return 0;
	}
	if (!int_of(dv_json_get(&o, "index"), &index) || index < 0) {
		bad(m, pt->name, lineno, "a record without an index (not written by compare --shard)");
		goto out;
	}
	r.index = (size_t)index;
	r.error = !strcmp(t->str, "error");
	if (!r.error && diag_pair(m, &o, t->str, &r))
		goto out;
	rc = add_record(m, &r, cap);
out:
	dv_json_free(&o);
	return rc;
}

/* Splits a part into records and its summary (the last line). */
static int load_part(merger *m, part *pt, size_t *cap)
{
	const char *p = pt->text, *end = pt->text + pt->len;
	const dv_json *v;
	size_t lineno = 0;

	if (memchr(pt->text, '\0', pt->len))
		return dv_error_set(m->err, "%s: not a jsonl report", pt->name);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *line = p;
		size_t len = (size_t)((nl ? nl : end) - p);

		p = nl ? nl + 1 : end;
		lineno++;
		if (len && load_line(m, pt, line, len, lineno, cap))
			return -1;
	}
	if (!pt->sum_line)
		return dv_error_set(m->err, "%s:%zu: no summary line (an incomplete report?)", pt->name, lineno);
	if (!(pt->shard = dv_json_get(&pt->summary, "shard")) || is_null(pt->shard))
		return bad(m, pt->name, pt->sum_line, "not a shard's report (compare --shard K/N --format jsonl)");
	if (!(v = dv_json_get(pt->shard, "k")) || !int_of(v, &pt->k) || !(pt->gate = dv_json_get(pt->shard, "gate")))
		return bad(m, pt->name, pt->sum_line, "a malformed shard summary");
	return 0;
}

static int by_index(const void *a, const void *b)
{
	const record *x = a, *y = b;

	if (x->index != y->index)
		return x->index < y->index ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* What the parts must agree on, as written. */
static const char *const shared_shard[] = { "n", "of", "pairs", "problems", "phases", NULL };
static const char *const shared_summary[] = { "token_alignment", "warnings", NULL };
static const char *const shared_gate[] = { "allow_failed_pattern", "allow_skipped_pattern", NULL };

static int check_parts(merger *m, int64_t *n)
{
	const part *a = &m->parts[0];
	const char *const *lists[3] = { shared_shard, shared_summary, shared_gate };
	bool *seen;

	if (!int_of(dv_json_get(a->shard, "n"), n) || *n < 1)
		return bad(m, a->name, a->sum_line, "a malformed shard summary");
	for (size_t i = 1; i < m->nparts; i++) {
		const part *b = &m->parts[i];

		for (int l = 0; l < 3; l++)
			for (const char *const *k = lists[l]; *k; k++) {
				const dv_json *oa = l == 0 ? a->shard : l == 1 ? &a->summary : a->gate;
				const dv_json *ob = l == 0 ? b->shard : l == 1 ? &b->summary : b->gate;

				if (!same_raw(a, dv_json_get(oa, *k), b, dv_json_get(ob, *k)))
					return dv_error_set(m->err, "%s and %s are not parts of one comparison (their %s "
							    "differ)", a->name, b->name,
							    !strcmp(*k, "of") ? "fingerprints" : *k);
			}
	}
	if (!(seen = calloc((size_t)*n + 1, 1)))
		return dv_error_set(m->err, "out of memory");
	for (size_t i = 0; i < m->nparts; i++) {
		int64_t k = m->parts[i].k;

		if (k < 1 || k > *n) {
			free(seen);
			return bad(m, m->parts[i].name, m->parts[i].sum_line,
				   "shard %" PRId64 " of %" PRId64 " is out of range", k, *n);
		}
		if (seen[k]) {
			free(seen);
			return dv_error_set(m->err, "shard %" PRId64 "/%" PRId64 " given twice (%s)", k, *n,
					    m->parts[i].name);
		}
		seen[k] = true;
	}
	for (int64_t k = 1; k <= *n; k++)
		if (!seen[k]) {
			free(seen);
			return dv_error_set(m->err, "shard %" PRId64 "/%" PRId64 " is missing (%zu of %" PRId64
					    " parts given)", k, *n, m->nparts, *n);
		}
	free(seen);
	return 0;
}

static int parse_phases(merger *m, const part *pt, const dv_json *phases, dv_diag_phase **out, size_t *n)
{
	size_t count = phases && phases->type == DV_JSON_ARRAY ? phases->n : 0;
	dv_diag_phase *ph;

	if (!phases || phases->type != DV_JSON_ARRAY)
		return bad(m, pt->name, pt->sum_line, "a malformed shard summary (phases)");
	if (!(ph = calloc(count ? count : 1, sizeof(*ph))))
		return dv_error_set(m->err, "out of memory");
	for (size_t i = 0; i < count; i++) {
		const dv_json *e = &phases->items[i];
		int64_t first, cnt;

		if (!(ph[i].name = keep(m, dv_json_get(e, "name"))) || !int_of(dv_json_get(e, "first"), &first) ||
		    !int_of(dv_json_get(e, "count"), &cnt) || first < 0 || cnt < 0) {
			free(ph);
			return bad(m, pt->name, pt->sum_line, "a malformed shard summary (phases)");
		}
		ph[i].first = (size_t)first;
		ph[i].count = (size_t)cnt;
		ph[i].in_base = is_true(dv_json_get(e, "in_baseline"));
		ph[i].in_targ = is_true(dv_json_get(e, "in_target"));
		ph[i].folders_ignored = is_true(dv_json_get(e, "folders_ignored"));
	}
	*out = ph;
	*n = count;
	return 0;
}

/* ---- the summary ---- */

/* The record r parsed again (its values' text, for the locator); an
 * empty object for none. */
static int reparse(merger *m, const record *r, dv_json *o)
{
	dv_error jerr;

	memset(o, 0, sizeof(*o));
	if (r && dv_json_parse(r->text, r->len, o, &jerr))
		return bad(m, r->part, r->lineno, "not JSON: %s", jerr.msg);
	return 0;
}

/* As jsonl.c's locator, from the pair's record (o, parsed from it). */
static void locator(FILE *out, const record *r, const dv_json *o)
{
	static const char *const keys[] = { "phase", "layer", "name", "rank", "step", "target", "rel_diff" };

	if (!r) {
		fputs("null", out);
		return;
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		fprintf(out, "%s\"%s\":", i ? "," : "{", keys[i]);
		put_raw(out, r->text, dv_json_get(o, keys[i]));
	}
	fputc('}', out);
}

/* The gate's first name of one kind over the parts: the smallest index. */
static int first_named(merger *m, const char *kind, char **name)
{
	int64_t best = -1;

	*name = NULL;
	for (size_t i = 0; i < m->nparts; i++) {
		const dv_json *v = dv_json_get(m->parts[i].gate, kind), *x;
		int64_t idx;

		if (!v || is_null(v))
			continue;
		if (!int_of(dv_json_get(v, "index"), &idx) || !(x = dv_json_get(v, "name")) ||
		    x->type != DV_JSON_STRING)
			return bad(m, m->parts[i].name, m->parts[i].sum_line, "a malformed shard summary (gate)");
		if (best < 0 || idx < best) {
			free(*name);
			if (!(*name = strdup(x->str)))
				return dv_error_set(m->err, "out of memory");
			best = idx;
		}
	}
	return 0;
}

static size_t gate_count(const part *pt, const char *kind)
{
	int64_t n;

	return int_of(dv_json_get(pt->gate, kind), &n) && n > 0 ? (size_t)n : 0;
}

int dv_report_merge(FILE *const *files, const char *const *names, size_t nparts, FILE *out, dv_merge_gate *gate,
		    dv_error *err)
{
	merger m = { .nparts = nparts, .err = err };
	dv_diag_phase *phases = NULL;
	dv_diag_pair *pairs = NULL;
	const record **of_pair = NULL;
	size_t nphases = 0, cap = 0, problems = 0, replicas = 0;
	size_t passed = 0, failed = 0, skipped = 0, errored = 0;
	const record *first_div = NULL, *first_rep = NULL;
	dv_json div_rec = { 0 }, rep_rec = { 0 };
	dv_diag_input in;
	char *diagnosis = NULL;
	int64_t n, npairs, x;
	const dv_json *warnings, *v;
	const part *p0;
	int rc = -1;

	memset(gate, 0, sizeof(*gate));
	if (!nparts)
		return dv_error_set(err, "no parts to merge");
	if (!(m.parts = calloc(nparts, sizeof(*m.parts))))
		return dv_error_set(err, "out of memory");
	for (size_t i = 0; i < nparts; i++) {
		m.parts[i].name = names[i];
		if (dv_read_all(files[i], &m.parts[i].text, &m.parts[i].len)) {
			dv_error_set(err, "%s: cannot read: %s", names[i], strerror(errno));
			goto out;
		}
		if (load_part(&m, &m.parts[i], &cap))
			goto out;
	}
	if (check_parts(&m, &n))
		goto out;
	p0 = &m.parts[0];
	if (!int_of(dv_json_get(p0->shard, "pairs"), &npairs) || npairs < 0 ||
	    !int_of(dv_json_get(p0->shard, "problems"), &x) || x < 0 ||
	    !(warnings = dv_json_get(&p0->summary, "warnings")) || warnings->type != DV_JSON_ARRAY) {
		bad(&m, p0->name, p0->sum_line, "a malformed shard summary");
		goto out;
	}
	problems = (size_t)x;
	if (parse_phases(&m, p0, dv_json_get(p0->shard, "phases"), &phases, &nphases))
		goto out;
	qsort(m.recs, m.nrecs, sizeof(*m.recs), by_index);
	pairs = calloc(npairs ? (size_t)npairs : 1, sizeof(*pairs));
	of_pair = calloc(npairs ? (size_t)npairs : 1, sizeof(*of_pair));
	if (!pairs || !of_pair) {
		dv_error_set(err, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < m.nrecs; i++) {
		record *r = &m.recs[i];

		if (r->index >= (size_t)npairs) {
			bad(&m, r->part, r->lineno, "a record's index %zu is beyond the comparison's %" PRId64 " pairs",
			    r->index, npairs);
			goto out;
		}
		if (r->error)
			continue;
		if (of_pair[r->index]) {
			bad(&m, r->part, r->lineno, "pair %zu is in two parts (or twice in one)", r->index);
			goto out;
		}
		of_pair[r->index] = r;
		for (r->d.phase = 0; r->d.phase < nphases && strcmp(phases[r->d.phase].name, r->phase);)
			r->d.phase++;
		if (r->d.phase == nphases) {
			bad(&m, r->part, r->lineno, "not a record of compare --format jsonl");
			goto out;
		}
		pairs[r->index] = r->d;
	}
	for (int64_t i = 0; i < npairs; i++)
		if (!of_pair[i]) {
			dv_error_set(err, "pair %" PRId64 " is in no part (a part cut short?)", i);
			goto out;
		}

	/* the summary, as the report driver counts it */
	for (int64_t i = 0; i < npairs; i++) {
		const dv_diag_pair *d = &pairs[i];

		switch (d->verdict) {
		case DV_OUTCOME_PASS: passed++; break;
		case DV_OUTCOME_FAIL: failed++; break;
		case DV_OUTCOME_ERROR: errored++; break;
		default: skipped++; break;
		}
		if (!first_div && dv_outcome_diverges(d->metrics))
			first_div = of_pair[i];
		if (d->replica_mismatch) {
			replicas++;
			if (!first_rep)
				first_rep = of_pair[i];
		}
	}
	in = (dv_diag_input){ .phases = phases, .nphases = nphases, .pairs = pairs, .npairs = (size_t)npairs,
			      .problems = problems };
	if (!(diagnosis = dv_diagnose_input(&in))) {
		dv_error_set(err, "out of memory");
		goto out;
	}
	if (reparse(&m, first_div, &div_rec) || reparse(&m, first_rep, &rep_rec))
		goto out;

	/* the gate, as dv_comparison_gate over the whole */
	gate->passed = passed;
	gate->failed = failed;
	gate->errored = errored;
	gate->warnings = warnings->n;
	for (size_t i = 0; i < nparts; i++) {
		gate->failed_not_allowed += gate_count(&m.parts[i], "failed_not_allowed");
		gate->skipped_not_allowed += gate_count(&m.parts[i], "skipped_not_allowed");
	}
	gate->allow_failed_given = (v = dv_json_get(p0->gate, "allow_failed_pattern")) && !is_null(v);
	if (first_named(&m, "first_failed", &gate->first_failed) ||
	    first_named(&m, "first_skipped", &gate->first_skipped))
		goto out;
	gate->status = !passed || errored || gate->warnings || gate->failed_not_allowed || gate->skipped_not_allowed;

	for (size_t i = 0; i < m.nrecs; i++) {
		fwrite(m.recs[i].text, 1, m.recs[i].len, out);
		fputc('\n', out);
	}
	/* folders not read count as errored, as dv_report_finish counts them */
	errored += problems;
	fprintf(out, "{\"type\":\"summary\",\"passed\":%zu,\"failed\":%zu,\"skipped\":%zu,\"errored\":%zu", passed,
		failed, skipped, errored);
	fprintf(out, ",\"total\":%zu", passed + failed + skipped + errored);
	fputs(",\"first_divergence\":", out);
	locator(out, first_div, &div_rec);
	fprintf(out, ",\"replica_mismatches\":%zu", replicas);
	fputs(",\"first_replica_mismatch\":", out);
	locator(out, first_rep, &rep_rec);
	fputs(",\"token_alignment\":", out);
	put_raw(out, p0->sum_text, dv_json_get(&p0->summary, "token_alignment"));
	fputs(",\"diagnosis\":", out);
	dv_json_write_string(out, diagnosis);
	fputs(",\"warnings\":", out);
	put_raw(out, p0->sum_text, warnings);
	fputs("}\n", out);
	rc = 0;
out:
	if (rc)
		dv_merge_gate_free(gate);
	dv_json_free(&div_rec);
	dv_json_free(&rep_rec);
	free(diagnosis);
	free(pairs);
	free(of_pair);
	free(phases);
	for (size_t i = 0; i < m.nstrings; i++)
		free(m.strings[i]);
	free(m.strings);
	for (size_t i = 0; i < nparts; i++) {
		dv_json_free(&m.parts[i].summary);
		free(m.parts[i].text);
	}
	free(m.parts);
	free(m.recs);
	return rc;
}

void dv_merge_gate_free(dv_merge_gate *gate)
{
	free(gate->first_failed);
	free(gate->first_skipped);
	gate->first_failed = gate->first_skipped = NULL;
}
