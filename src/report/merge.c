/* `merge`: the parts of a sharded comparison back into one jsonl report.
 * The records are copied as they are (each part wrote them with the same
 * writer), ordered by their "index"; the summary is rebuilt from them and
 * from what each part's summary carries in its "shard" object. The JSON
 * read here is what jsonl.c writes: one object a line. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "dumpview/dtype.h"
#include "dumpview/merge.h"

/* ---- a small JSON reader over one line ---- */

typedef struct span {
	const char *s;
	size_t n;
} span;

static const char *ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

/* Past the value at p, or NULL when it is not one. */
static const char *skip_value(const char *p, const char *end, int depth)
{
	p = ws(p, end);
	if (p >= end || depth > 64)
		return NULL;
	if (*p == '"') {
		for (p++; p < end; p++) {
			if (*p == '\\')
				p++;
			else if (*p == '"')
				return p + 1;
		}
		return NULL;
	}
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		bool obj = *p == '{';

		p = ws(p + 1, end);
		if (p < end && *p == close)
			return p + 1;
		for (;;) {
			if (obj) {
				p = skip_value(p, end, depth + 1);
				p = p ? ws(p, end) : NULL;
				if (!p || p >= end || *p != ':')
					return NULL;
				p++;
			}
			p = skip_value(p, end, depth + 1);
			p = p ? ws(p, end) : NULL;
			if (!p || p >= end)
				return NULL;
			if (*p == close)
				return p + 1;
			if (*p != ',')
				return NULL;
			p++;
		}
	}
	while (p < end && (strchr("+-.0123456789eE", *p) || (*p >= 'a' && *p <= 'z')))
		p++;
	return p;
}

/* The value of key in the object v, raw; false when absent. */
static bool field(span v, const char *key, span *out)
{
	const char *p = ws(v.s, v.s + v.n), *end = v.s + v.n;
	size_t klen = strlen(key);

	if (p >= end || *p != '{')
		return false;
	p = ws(p + 1, end);
	while (p < end && *p == '"') {
		const char *k = p + 1, *ke = skip_value(p, end, 0), *ve;

		if (!ke)
			return false;
		p = ws(ke, end);
		if (p >= end || *p != ':')
			return false;
		p = ws(p + 1, end);
		if (!(ve = skip_value(p, end, 0)))
			return false;
		if ((size_t)(ke - 1 - k) == klen && !memcmp(k, key, klen)) {
			out->s = p;
			out->n = (size_t)(ve - p);
			return true;
		}
		p = ws(ve, end);
		if (p < end && *p == ',')
			p = ws(p + 1, end);
	}
	return false;
}

/* The i-th element of the array v. */
static bool element(span v, size_t i, span *out)
{
	const char *p = ws(v.s, v.s + v.n), *end = v.s + v.n;

	if (p >= end || *p != '[')
		return false;
	p = ws(p + 1, end);
	for (size_t k = 0; p < end && *p != ']'; k++) {
		const char *e = skip_value(p, end, 0);

		if (!e)
			return false;
		if (k == i) {
			out->s = p;
			out->n = (size_t)(e - p);
			return true;
		}
		p = ws(e, end);
		if (p < end && *p == ',')
			p = ws(p + 1, end);
	}
	return false;
}

static bool span_is(span v, const char *lit)
{
	return v.n == strlen(lit) && !memcmp(v.s, lit, v.n);
}

static bool span_eq(span a, span b)
{
	return a.n == b.n && !memcmp(a.s, b.s, a.n);
}

static void put_utf8(char **o, uint32_t cp)
{
	unsigned char *q = (unsigned char *)*o;

	if (cp < 0x80) {
		*q++ = (unsigned char)cp;
	} else if (cp < 0x800) {
		*q++ = (unsigned char)(0xc0 | cp >> 6);
		*q++ = (unsigned char)(0x80 | (cp & 0x3f));
	} else {
		*q++ = (unsigned char)(0xe0 | cp >> 12);
		*q++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		*q++ = (unsigned char)(0x80 | (cp & 0x3f));
	}
	*o = (char *)q;
}

/* A JSON string as the bytes dv_json_write_string was given (\udcXX is
 * the byte XX); malloc'd; NULL for anything but a string. */
static char *string_of(span v)
{
	const char *p = v.s, *end = v.s + v.n;
	char *buf, *o;

	if (v.n < 2 || *p != '"' || end[-1] != '"')
		return NULL;
	if (!(buf = o = malloc(v.n * 3)))
		return NULL;
	for (p++, end--; p < end; p++) {
		if (*p != '\\') {
			*o++ = *p;
			continue;
		}
		if (++p >= end)
			break;
		switch (*p) {
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'u': {
			char hex[5] = { 0 };
			uint32_t cp;

			if (end - p < 5)
				goto bad;
			memcpy(hex, p + 1, 4);
			cp = (uint32_t)strtoul(hex, NULL, 16);
			p += 4;
			if (cp >= 0xdc80 && cp <= 0xdcff)
				*o++ = (char)(cp & 0xff);
			else
				put_utf8(&o, cp);
			break;
		}
		default: *o++ = *p; break;
		}
	}
	*o = '\0';
	return buf;
bad:
	free(buf);
	return NULL;
}

/* An integer, -1 for null; false for anything else. */
static bool int_of(span v, int64_t *out)
{
	char buf[32];
	char *e;

	if (span_is(v, "null")) {
		*out = -1;
		return true;
	}
	if (!v.n || v.n >= sizeof(buf))
		return false;
	memcpy(buf, v.s, v.n);
	buf[v.n] = '\0';
	errno = 0;
	*out = strtoll(buf, &e, 10);
	return !errno && !*e;
}

/* A number as dv_json_write_double writes it ("nan", "inf", "-inf" as
 * strings); NaN for null. */
static double double_of(span v)
{
	char buf[64];

	if (span_is(v, "\"nan\"") || span_is(v, "null"))
		return NAN;
	if (span_is(v, "\"inf\""))
		return INFINITY;
	if (span_is(v, "\"-inf\""))
		return -INFINITY;
	if (v.n >= sizeof(buf))
		return NAN;
	memcpy(buf, v.s, v.n);
	buf[v.n] = '\0';
	return strtod(buf, NULL);
}

/* ---- the parts ---- */

typedef struct record {
	size_t index, seq;
	bool error;          /* an "error" record: follows its pair's */
	span line;           /* without the newline */
} record;

typedef struct part {
	const char *name;
	char *text;          /* the whole file */
	size_t len;
	span summary, shard, gate;
	int64_t k;
} part;

typedef struct merger {
	part *parts;
	size_t nparts;
	record *recs;
	size_t nrecs;
	char **strings;      /* decoded strings the diagnosis points to */
	size_t nstrings, capstrings;
	dv_error *err;
} merger;

static char *keep(merger *m, char *s)
{
	if (!s)
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

static int read_all(FILE *f, char **text, size_t *len)
{
	size_t cap = 1 << 16, n = 0, got;
	char *buf = malloc(cap);

	if (!buf)
		return -1;
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			char *grown = realloc(buf, cap * 2);

			if (!grown) {
				free(buf);
				return -1;
			}
			buf = grown;
			cap *= 2;
		}
	}
	if (ferror(f)) {
		free(buf);
		return -1;
	}
	*text = buf;
	*len = n;
	return 0;
}

static int add_record(merger *m, record r, size_t *cap)
{
	if (m->nrecs == *cap) {
		size_t c = *cap ? 2 * *cap : 1024;
		record *grown = realloc(m->recs, c * sizeof(*grown));

		if (!grown)
			return dv_error_set(m->err, "out of memory");
		m->recs = grown;
		*cap = c;
	}
	m->recs[m->nrecs++] = r;
	return 0;
}

/* Splits a part into records and its summary (the last line). */
static int load_part(merger *m, part *pt, size_t *cap)
{
	const char *p = pt->text, *end = pt->text + pt->len;
	size_t lineno = 0;
	span t, v;
	int64_t index;

	if (memchr(pt->text, '\0', pt->len))
		return dv_error_set(m->err, "%s: not a jsonl report", pt->name);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		span line = { p, (size_t)((nl ? nl : end) - p) };

		p = nl ? nl + 1 : end;
		lineno++;
		if (!line.n)
			continue;
		if (pt->summary.s)
			return dv_error_set(m->err, "%s: line %zu: a record after the summary", pt->name, lineno);
		if (!field(line, "type", &t))
			return dv_error_set(m->err, "%s: line %zu: not a jsonl report record", pt->name, lineno);
		if (span_is(t, "\"summary\"")) {
			pt->summary = line;
			continue;
		}
		if (!field(line, "index", &v) || !int_of(v, &index) || index < 0)
			return dv_error_set(m->err, "%s: line %zu: a record without an index (not written by "
					    "compare --shard)", pt->name, lineno);
		if (add_record(m, (record){ .index = (size_t)index, .seq = m->nrecs, .error = span_is(t, "\"error\""),
					    .line = line }, cap))
			return -1;
	}
	if (!pt->summary.s)
		return dv_error_set(m->err, "%s: no summary line (an incomplete report?)", pt->name);
	if (!field(pt->summary, "shard", &pt->shard) || span_is(pt->shard, "null"))
		return dv_error_set(m->err, "%s: not a shard's report (compare --shard K/N --format jsonl)", pt->name);
	if (!field(pt->shard, "k", &v) || !int_of(v, &pt->k) || !field(pt->shard, "gate", &pt->gate))
		return dv_error_set(m->err, "%s: a malformed shard summary", pt->name);
	return 0;
}

static int by_index(const void *a, const void *b)
{
	const record *x = a, *y = b;

	if (x->index != y->index)
		return x->index < y->index ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* What the parts must agree on, raw. */
static const char *const shared_shard[] = { "n", "of", "pairs", "problems", "phases", NULL };
static const char *const shared_summary[] = { "token_alignment", "warnings", NULL };
static const char *const shared_gate[] = { "allow_failed_pattern", "allow_skipped_pattern", NULL };

static int check_parts(merger *m, int64_t *n)
{
	const part *a = &m->parts[0];
	const char *const *lists[3] = { shared_shard, shared_summary, shared_gate };
	bool *seen;
	span v;

	if (!field(a->shard, "n", &v) || !int_of(v, n) || *n < 1)
		return dv_error_set(m->err, "%s: a malformed shard summary", a->name);
	for (size_t i = 1; i < m->nparts; i++) {
		const part *b = &m->parts[i];

		for (int l = 0; l < 3; l++)
			for (const char *const *k = lists[l]; *k; k++) {
				span x, y;
				span oa = l == 0 ? a->shard : l == 1 ? a->summary : a->gate;
				span ob = l == 0 ? b->shard : l == 1 ? b->summary : b->gate;

				if (!field(oa, *k, &x) || !field(ob, *k, &y) || !span_eq(x, y))
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
			return dv_error_set(m->err, "%s: shard %" PRId64 " of %" PRId64 " is out of range",
					    m->parts[i].name, k, *n);
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

/* ---- the diagnosis's input from the records ---- */

static dv_outcome outcome_of(span verdict)
{
	if (span_is(verdict, "\"passed\""))
		return DV_OUTCOME_PASS;
	if (span_is(verdict, "\"failed\""))
		return DV_OUTCOME_FAIL;
	if (span_is(verdict, "\"errored\""))
		return DV_OUTCOME_ERROR;
	return DV_OUTCOME_NONE;   /* a pair record not judged: cancelled, not computed */
}

static dv_result_status status_of(span s)
{
	static const struct { const char *name; dv_result_status st; } names[] = {
		{ "\"compared\"", DV_RESULT_COMPARED }, { "\"shape_mismatch\"", DV_RESULT_SHAPE_MISMATCH },
		{ "\"non_tensor\"", DV_RESULT_NON_TENSOR }, { "\"error\"", DV_RESULT_ERROR },
		{ "\"cancelled\"", DV_RESULT_CANCELLED }, { "\"skipped\"", DV_RESULT_SKIPPED },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (span_is(s, names[i].name))
			return names[i].st;
	return DV_RESULT_NONE;
}

static bool integer_dtype(span v)
{
	char *s = string_of(v);
	bool yes = s && dv_dtype_is_integer(dv_dtype_from_name(s));

	free(s);
	return yes;
}

/* One record into d, as dv_diag_input_build fills it from the pair. */
static int diag_pair(merger *m, const record *r, const dv_diag_phase *phases, size_t nphases, dv_diag_pair *d)
{
	span t, v;
	int64_t x;
	char *phase;

	field(r->line, "type", &t);
	if (!field(r->line, "phase", &v) || !(phase = string_of(v)))
		goto bad;
	d->phase = nphases;
	for (size_t k = 0; k < nphases; k++)
		if (!strcmp(phases[k].name, phase))
			d->phase = k;
	free(phase);
	if (d->phase == nphases || !field(r->line, "name", &v) || !(d->name = keep(m, string_of(v))))
		goto bad;
	d->layer = field(r->line, "layer", &v) && int_of(v, &x) ? (int)x : -1;
	d->step = field(r->line, "step", &v) && int_of(v, &x) ? x : -1;
	d->rank = field(r->line, "rank", &v) && int_of(v, &x) ? x : -1;
	d->done = true;
	d->kind = DV_PAIR_MATCHED;
	if (span_is(t, "\"unmatched\"")) {
		if (!field(r->line, "side", &v))
			goto bad;
		d->kind = span_is(v, "\"baseline\"") ? DV_PAIR_BASELINE_ONLY : DV_PAIR_TARGET_ONLY;
		d->verdict = d->metrics = DV_OUTCOME_UNMATCHED;
		return 0;
	}
	if (span_is(t, "\"skip\"") || span_is(t, "\"non_tensor\"")) {
		d->status = span_is(t, "\"skip\"") ? DV_RESULT_SKIPPED : DV_RESULT_NON_TENSOR;
		d->verdict = d->metrics = DV_OUTCOME_SKIPPED;
		return 0;
	}
	if (!span_is(t, "\"pair\"") || !field(r->line, "verdict", &v))
		goto bad;
	d->verdict = outcome_of(v);
	if (!field(r->line, "status", &v))
		goto bad;
	d->status = status_of(v);
	d->replica_mismatch = field(r->line, "replica_mismatch", &v) && span_is(v, "true");
	/* failed by a replicated check alone: the metrics passed */
	d->metrics = d->verdict == DV_OUTCOME_FAIL && d->replica_mismatch && field(r->line, "passed", &v) &&
			     span_is(v, "true") ? DV_OUTCOME_PASS : d->verdict;
	if (field(r->line, "error", &v) && !(d->message = keep(m, string_of(v))))
		goto bad;
	if (d->status == DV_RESULT_COMPARED) {
		span b, tg;

		d->integer = field(r->line, "baseline_dtype", &b) && field(r->line, "target_dtype", &tg) &&
			     integer_dtype(b) && integer_dtype(tg);
		d->rel_diff = field(r->line, "rel_diff", &v) ? double_of(v) : NAN;
		d->numel = field(r->line, "numel", &v) && int_of(v, &x) ? x : 0;
		d->identical = field(r->line, "identical", &v) && int_of(v, &x) ? x : 0;
	}
	return 0;
bad:
	return dv_error_set(m->err, "record %zu: not a record of compare --format jsonl", r->index);
}

static int parse_phases(merger *m, span phases, dv_diag_phase **out, size_t *n)
{
	span e, v;
	size_t count = 0;
	dv_diag_phase *ph;

	while (element(phases, count, &e))
		count++;
	if (!(ph = calloc(count ? count : 1, sizeof(*ph))))
		return dv_error_set(m->err, "out of memory");
	for (size_t i = 0; i < count; i++) {
		int64_t first, cnt;

		element(phases, i, &e);
		if (!field(e, "name", &v) || !(ph[i].name = keep(m, string_of(v))) || !field(e, "first", &v) ||
		    !int_of(v, &first) || !field(e, "count", &v) || !int_of(v, &cnt) || first < 0 || cnt < 0) {
			free(ph);
			return dv_error_set(m->err, "a malformed shard summary (phases)");
		}
		ph[i].first = (size_t)first;
		ph[i].count = (size_t)cnt;
		ph[i].in_base = field(e, "in_baseline", &v) && span_is(v, "true");
		ph[i].in_targ = field(e, "in_target", &v) && span_is(v, "true");
		ph[i].folders_ignored = field(e, "folders_ignored", &v) && span_is(v, "true");
	}
	*out = ph;
	*n = count;
	return 0;
}

/* ---- the summary ---- */

/* As jsonl.c's locator, from the pair's record. */
static void locator(FILE *out, const record *r)
{
	static const char *const keys[] = { "phase", "layer", "name", "rank", "step", "target", "rel_diff" };

	if (!r) {
		fputs("null", out);
		return;
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		span v;

		fprintf(out, "%s\"%s\":", i ? "," : "{", keys[i]);
		if (field(r->line, keys[i], &v))
			fwrite(v.s, 1, v.n, out);
		else
			fputs("null", out);
	}
	fputc('}', out);
}

/* The gate's first name of one kind over the parts: the smallest index. */
static int first_named(merger *m, const char *kind, char **name)
{
	int64_t best = -1;

	*name = NULL;
	for (size_t i = 0; i < m->nparts; i++) {
		span v, x;
		int64_t idx;

		if (!field(m->parts[i].gate, kind, &v) || span_is(v, "null"))
			continue;
		if (!field(v, "index", &x) || !int_of(x, &idx) || !field(v, "name", &x))
			return dv_error_set(m->err, "%s: a malformed shard summary (gate)", m->parts[i].name);
		if (best < 0 || idx < best) {
			free(*name);
			if (!(*name = string_of(x)))
				return dv_error_set(m->err, "out of memory");
			best = idx;
		}
	}
	return 0;
}

static size_t gate_count(const part *pt, const char *kind)
{
	span v;
	int64_t n;

	return field(pt->gate, kind, &v) && int_of(v, &n) && n > 0 ? (size_t)n : 0;
}

int dv_report_merge(FILE *const *files, const char *const *names, size_t nparts, FILE *out, dv_merge_gate *gate,
		    dv_error *err)
{
	merger m = { .nparts = nparts, .err = err };
	dv_diag_phase *phases = NULL;
	dv_diag_pair *pairs = NULL;
	const record **of_pair = NULL;
	size_t nphases = 0, cap = 0, problems = 0, replicas = 0, e = 0;
	size_t passed = 0, failed = 0, skipped = 0, errored = 0;
	const record *first_div = NULL, *first_rep = NULL;
	dv_diag_input in;
	char *diagnosis = NULL;
	int64_t n, npairs, x;
	span v, warnings;
	int rc = -1;

	memset(gate, 0, sizeof(*gate));
	if (!nparts)
		return dv_error_set(err, "no parts to merge");
	if (!(m.parts = calloc(nparts, sizeof(*m.parts))))
		return dv_error_set(err, "out of memory");
	for (size_t i = 0; i < nparts; i++) {
		m.parts[i].name = names[i];
		if (read_all(files[i], &m.parts[i].text, &m.parts[i].len)) {
			dv_error_set(err, "%s: cannot read: %s", names[i], strerror(errno));
			goto out;
		}
		if (load_part(&m, &m.parts[i], &cap))
			goto out;
	}
	if (check_parts(&m, &n))
		goto out;
	if (!field(m.parts[0].shard, "pairs", &v) || !int_of(v, &npairs) || npairs < 0 ||
	    !field(m.parts[0].shard, "problems", &v) || !int_of(v, &x) || x < 0 ||
	    !field(m.parts[0].shard, "phases", &v) || !field(m.parts[0].summary, "warnings", &warnings)) {
		dv_error_set(err, "%s: a malformed shard summary", names[0]);
		goto out;
	}
	problems = (size_t)x;
	if (parse_phases(&m, v, &phases, &nphases))
		goto out;
	qsort(m.recs, m.nrecs, sizeof(*m.recs), by_index);
	pairs = calloc(npairs ? (size_t)npairs : 1, sizeof(*pairs));
	of_pair = calloc(npairs ? (size_t)npairs : 1, sizeof(*of_pair));
	if (!pairs || !of_pair) {
		dv_error_set(err, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < m.nrecs; i++) {
		const record *r = &m.recs[i];

		if (r->index >= (size_t)npairs) {
			dv_error_set(err, "a record's index %zu is beyond the comparison's %" PRId64 " pairs", r->index,
				     npairs);
			goto out;
		}
		if (r->error)
			continue;
		if (of_pair[r->index]) {
			dv_error_set(err, "pair %zu is in two parts (or twice in one)", r->index);
			goto out;
		}
		of_pair[r->index] = r;
		if (diag_pair(&m, r, phases, nphases, &pairs[r->index]))
			goto out;
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

	/* the gate, as dv_comparison_gate over the whole */
	while (element(warnings, e, &v))
		e++;
	gate->passed = passed;
	gate->failed = failed;
	gate->errored = errored;
	gate->warnings = e;
	for (size_t i = 0; i < nparts; i++) {
		gate->failed_not_allowed += gate_count(&m.parts[i], "failed_not_allowed");
		gate->skipped_not_allowed += gate_count(&m.parts[i], "skipped_not_allowed");
	}
	gate->allow_failed_given = field(m.parts[0].gate, "allow_failed_pattern", &v) && !span_is(v, "null");
	if (first_named(&m, "first_failed", &gate->first_failed) ||
	    first_named(&m, "first_skipped", &gate->first_skipped))
		goto out;
	gate->status = !passed || errored || gate->warnings || gate->failed_not_allowed || gate->skipped_not_allowed;

	for (size_t i = 0; i < m.nrecs; i++) {
		fwrite(m.recs[i].line.s, 1, m.recs[i].line.n, out);
		fputc('\n', out);
	}
	/* folders not read count as errored, as dv_report_finish counts them */
	errored += problems;
	fprintf(out, "{\"type\":\"summary\",\"passed\":%zu,\"failed\":%zu,\"skipped\":%zu,\"errored\":%zu", passed,
		failed, skipped, errored);
	fprintf(out, ",\"total\":%zu", passed + failed + skipped + errored);
	fputs(",\"first_divergence\":", out);
	locator(out, first_div);
	fprintf(out, ",\"replica_mismatches\":%zu", replicas);
	fputs(",\"first_replica_mismatch\":", out);
	locator(out, first_rep);
	fputs(",\"token_alignment\":", out);
	if (field(m.parts[0].summary, "token_alignment", &v))
		fwrite(v.s, 1, v.n, out);
	else
		fputs("null", out);
	fputs(",\"diagnosis\":", out);
	dv_json_write_string(out, diagnosis);
	fputs(",\"warnings\":", out);
	fwrite(warnings.s, 1, warnings.n, out);
	fputs("}\n", out);
	rc = 0;
out:
	if (rc)
		dv_merge_gate_free(gate);
	free(diagnosis);
	free(pairs);
	free(of_pair);
	free(phases);
	for (size_t i = 0; i < m.nstrings; i++)
		free(m.strings[i]);
	free(m.strings);
	for (size_t i = 0; i < nparts; i++)
		free(m.parts[i].text);
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
