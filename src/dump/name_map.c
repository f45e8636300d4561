/* --name-map rules: parsing (with the column of a problem), the
 * substitution, and renaming a run's files. Syntax and semantics are
 * described in include/dumpview/name_map.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/comparison.h"
#include "dumpview/logical.h"
#include "dumpview/name_map.h"

typedef struct rule {
	char *text;            /* as given */
	char *origin;          /* what messages call it */
	pcre2_code *re;
	char *rep;             /* the replacement, NUL-terminated */
	size_t replen;
} rule;

struct dv_name_map {
	rule *v;
	size_t n, cap;
};

/* The same backtracking limits as the other user regexes (tags.c): a rule
 * such as (a+)+$ must not hang on a long name. */
#define NM_MATCH_LIMIT 200000
#define NM_DEPTH_LIMIT 5000
#define NM_HEAP_LIMIT_KIB 8192

#define NM_SUBST_FLAGS (PCRE2_SUBSTITUTE_EXTENDED | PCRE2_SUBSTITUTE_UNSET_EMPTY | PCRE2_SUBSTITUTE_GLOBAL)

dv_name_map *dv_name_map_new(void)
{
	return calloc(1, sizeof(dv_name_map));
}

static void rule_free(rule *r)
{
	free(r->text);
	free(r->origin);
	free(r->rep);
	pcre2_code_free(r->re);
}

void dv_name_map_free(dv_name_map *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		rule_free(&m->v[i]);
	free(m->v);
	free(m);
}

size_t dv_name_map_count(const dv_name_map *m)
{
	return m ? m->n : 0;
}

const char *dv_name_map_rule(const dv_name_map *m, size_t i)
{
	return i < m->n ? m->v[i].text : NULL;
}

const char *dv_name_map_origin(const dv_name_map *m, size_t i)
{
	return i < m->n ? m->v[i].origin : NULL;
}

/* The '=' that ends the regex: the first one not escaped, not inside a
 * character class or \Q..\E, and not the '=' of (?= or (?<=. NULL: none. */
static const char *find_separator(const char *s)
{
	const char *p = s;

	while (*p) {
		if (p[0] == '\\' && p[1] == 'Q') {
			const char *e = strstr(p + 2, "\\E");

			if (!e)
				return NULL;
			p = e + 2;
		} else if (p[0] == '\\') {
			p += p[1] ? 2 : 1;
		} else if (p[0] == '(' && p[1] == '?' && p[2] == '=') {
			p += 3;
		} else if (p[0] == '(' && p[1] == '?' && p[2] == '<' && p[3] == '=') {
			p += 4;
		} else if (p[0] == '[') {
			/* a class: a leading ^ and ] are its own, [:name:] nests */
			p++;
			if (*p == '^')
				p++;
			if (*p == ']')
				p++;
			while (*p && *p != ']') {
				if (p[0] == '\\' && p[1]) {
					p += 2;
				} else if (p[0] == '[' && p[1] == ':') {
					const char *e = strstr(p + 2, ":]");

					p = e ? e + 2 : p + 1;
				} else {
					p++;
				}
			}
			if (*p)
				p++;
		} else if (p[0] == '=') {
			return p;
		} else {
			p++;
		}
	}
	return NULL;
}

static pcre2_match_context *limits(void)
{
	pcre2_match_context *mc = pcre2_match_context_create(NULL);

	if (mc) {
		pcre2_set_match_limit(mc, NM_MATCH_LIMIT);
		pcre2_set_depth_limit(mc, NM_DEPTH_LIMIT);
		pcre2_set_heap_limit(mc, NM_HEAP_LIMIT_KIB);
	}
	return mc;
}

/* PCRE2 reads a replacement only once something matched. To find its
 * mistakes (an unknown group, a bad escape) when the rule is given, it is
 * tried once with a pattern of the same groups that matches anything:
 * (?:REGEX\n)|, the newline ending a (?x) comment. 0 fine or not checkable
 * (such a pattern did not compile: a leading (*VERB), say), else the PCRE2
 * error with *offset in the replacement. */
static int check_replacement(const char *regex, size_t relen, const char *rep, size_t replen, size_t *offset)
{
	char *wrapped = malloc(relen + 8);
	pcre2_code *re;
	pcre2_match_context *mc;
	int code, rc = 0;
	PCRE2_SIZE eoff;
	PCRE2_UCHAR out[64];
	PCRE2_SIZE outlen = sizeof(out);

	if (!wrapped)
		return 0;
	memcpy(wrapped, "(?:", 3);
	memcpy(wrapped + 3, regex, relen);
	memcpy(wrapped + 3 + relen, "\n)|", 3);
	re = pcre2_compile((PCRE2_SPTR)wrapped, relen + 6, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code, &eoff, NULL);
	free(wrapped);
	if (!re)
		return 0;
	if ((mc = limits())) {
		rc = pcre2_substitute(re, (PCRE2_SPTR) "", 0, 0, NM_SUBST_FLAGS | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH, NULL,
				      mc, (PCRE2_SPTR)rep, replen, out, &outlen);
		pcre2_match_context_free(mc);
	}
	pcre2_code_free(re);
	if (rc >= 0 || rc == PCRE2_ERROR_NOMEMORY || rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
	    rc == PCRE2_ERROR_HEAPLIMIT)
		return 0;
	*offset = outlen < replen ? outlen : replen;
	return rc;
}

static int bad(size_t *column, size_t col, dv_error *err, const char *what, int code)
{
	PCRE2_UCHAR msg[256];

	*column = col;
	pcre2_get_error_message(code, msg, sizeof(msg));
	return dv_error_set(err, "column %zu: %s: %s", col, what, (char *)msg);
}

int dv_name_map_add(dv_name_map *m, const char *text, const char *origin, size_t *column, dv_error *err)
{
	const char *sep = find_separator(text);
	size_t relen, col = 0;
	rule r = {0};
	int code;
	PCRE2_SIZE eoff;

	if (!column)
		column = &col;
	if (!sep) {
		*column = strlen(text) + 1;
		return dv_error_set(err, "column %zu: no '=' between REGEX and REPLACEMENT", *column);
	}
	relen = (size_t)(sep - text);
	if (!relen) {
		*column = 1;
		return dv_error_set(err, "column 1: empty regex before '='");
	}
	r.re = pcre2_compile((PCRE2_SPTR)text, relen, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code, &eoff, NULL);
	if (!r.re)
		return bad(column, (size_t)eoff + 1, err, "bad regex", code);
	r.replen = strlen(sep + 1);
	{
		size_t off = 0;
		int rc = check_replacement(text, relen, sep + 1, r.replen, &off);

		if (rc) {
			pcre2_code_free(r.re);
			return bad(column, relen + 2 + off, err, "bad replacement", rc);
		}
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 8;
		rule *grown = realloc(m->v, cap * sizeof(*grown));

		if (!grown)
			goto oom;
		m->v = grown;
		m->cap = cap;
	}
	r.text = strdup(text);
	r.origin = strdup(origin ? origin : text);
	r.rep = strdup(sep + 1);
	if (!r.text || !r.origin || !r.rep)
		goto oom;
	m->v[m->n++] = r;
	return 0;
oom:
	rule_free(&r);
	*column = 1;
	return dv_error_set(err, "column 1: out of memory");
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

int dv_name_map_add_text(dv_name_map *m, const char *text, size_t len, const char *label, size_t *line,
			 dv_error *err)
{
	size_t at = 0, lineno = 0;

	while (at < len) {
		const char *s = text + at, *nl = memchr(s, '\n', len - at);
		size_t n = nl ? (size_t)(nl - s) : len - at, lead = 0, col;
		char *origin = NULL, *rl = NULL;
		const char *nul;
		dv_error one = {{0}};
		int rc;

		at += n + (nl != NULL);
		lineno++;
		if (line)
			*line = lineno;
		while (lead < n && blank(s[lead]))
			lead++;
		while (n > lead && blank(s[n - 1]))
			n--;
		if (n == lead || s[lead] == '#')
			continue;
		if ((nul = memchr(s, '\0', n)))
			return dv_error_set(err, "%s:%zu: column %zu: NUL byte in a rule", label, lineno,
					    (size_t)(nul - s) + 1);
		if (!(rl = strndup(s + lead, n - lead)) || !(origin = malloc(strlen(label) + 24))) {
			free(rl);
			return dv_error_set(err, "%s:%zu: out of memory", label, lineno);
		}
		snprintf(origin, strlen(label) + 24, "%s:%zu", label, lineno);
		rc = dv_name_map_add(m, rl, origin, &col, &one);
		free(origin);
		free(rl);
		if (rc)
			/* columns count from the line's start, blanks included */
			return dv_error_set(err, "%s:%zu: column %zu: %s", label, lineno, col + lead,
					    strchr(one.msg, ':') ? strchr(one.msg, ':') + 2 : one.msg);
	}
	return 0;
}

/* Rule files are short; a bigger one is a mistake (a wrong path). */
#define NM_FILE_MAX (16u << 20)

int dv_name_map_load(dv_name_map *m, const char *path, dv_error *err)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int rc;

	if (!f)
		return dv_error_set(err, "%s: %s", path, strerror(errno));
	for (;;) {
		size_t got;

		if (len == cap) {
			char *grown;

			if (cap >= NM_FILE_MAX) {
				fclose(f);
				free(buf);
				return dv_error_set(err, "%s: more than %u bytes: not a rule file", path, NM_FILE_MAX);
			}
			cap = cap ? cap * 2 : 4096;
			if (!(grown = realloc(buf, cap))) {
				fclose(f);
				free(buf);
				return dv_error_set(err, "%s: out of memory", path);
			}
			buf = grown;
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		int e = errno;

		fclose(f);
		free(buf);
		return dv_error_set(err, "%s: %s", path, strerror(e ? e : EIO));
	}
	fclose(f);
	rc = dv_name_map_add_text(m, buf ? buf : "", len, path, NULL, err);
	free(buf);
	return rc;
}

/* One rule on s: the new string (malloc'd) or NULL with err set. A name
 * grows by at most DV_NAME_MAP_MAX: rules that insert at every position
 * (x*=yy) would otherwise grow it geometrically from rule to rule. */
static char *substitute(const rule *r, const char *s, dv_error *err)
{
	size_t slen = strlen(s);
	PCRE2_SIZE outlen = DV_NAME_MAP_MAX + 1;
	pcre2_match_context *mc = limits();
	char *out = malloc(DV_NAME_MAP_MAX + 1), *fit;
	int rc;

	if (!mc || !out)
		goto oom;
	rc = pcre2_substitute(r->re, (PCRE2_SPTR)s, slen, 0, NM_SUBST_FLAGS, NULL, mc, (PCRE2_SPTR)r->rep, r->replen,
			      (PCRE2_UCHAR *)out, &outlen);
	pcre2_match_context_free(mc);
	if (rc >= 0) {
		fit = realloc(out, outlen + 1);
		return fit ? fit : out;
	}
	free(out);
	if (rc == PCRE2_ERROR_NOMEMORY) {
		dv_error_set(err, "name map rule %s: the name would be longer than %d bytes", r->origin,
			     DV_NAME_MAP_MAX);
	} else if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT) {
		dv_error_set(err, "name map rule %s: regex too expensive (backtracking limit hit) on '%s'", r->origin, s);
	} else {
		PCRE2_UCHAR msg[256];

		pcre2_get_error_message(rc, msg, sizeof(msg));
		dv_error_set(err, "name map rule %s on '%s': %s", r->origin, s, (char *)msg);
	}
	return NULL;
oom:
	pcre2_match_context_free(mc);
	free(out);
	dv_error_set(err, "name map rule %s: out of memory", r->origin);
	return NULL;
}

int dv_name_map_apply(const dv_name_map *m, const char *name, char **out, dv_error *err)
{
	char *cur = NULL;

	*out = NULL;
	for (size_t i = 0; m && i < m->n; i++) {
		char *next = substitute(&m->v[i], cur ? cur : name, err);

		if (!next) {
			free(cur);
			return -1;
		}
		free(cur);
		cur = next;
	}
	if (!cur || !strcmp(cur, name)) {
		free(cur);
		return 0;
	}
	*out = cur;
	return 1;
}

static int map_file(const dv_name_map *m, dv_dumpfile *f, const pcre2_code *layer_re, dv_error *err)
{
	char *mapped, **held;
	const char *v, *unmapped = dv_dumpfile_unmapped_name(f);
	size_t tag = f->ntags, ml;
	int rc = dv_name_map_apply(m, f->name, &mapped, err);

	if (rc <= 0)
		return rc;
	/* the new name with the first one just before it */
	ml = strlen(mapped);
	if (!(held = malloc(sizeof(*held) + ml + 1))) {
		free(mapped);
		return dv_error_set(err, "out of memory");
	}
	memcpy(held + 1, mapped, ml + 1);
	free(mapped);
	for (size_t i = 0; i < f->ntags && tag == f->ntags; i++)
		if (dv_file_tag_value(f, i) == f->name)
			tag = i;
	if (tag < f->ntags) {
		/* the name tag's value is the file's name from now on */
		if (!unmapped)
			unmapped = dv_file_tag_value(f, tag);
		f->tags[tag].value = DV_TAG_VALUE_NAME;
	} else if (!unmapped) {
		/* no name tag: the name is the stem */
		unmapped = f->name;
	}
	if (f->renamed)
		free((char **)(uintptr_t)f->name - 1);
	held[0] = (char *)(uintptr_t)unmapped;
	f->name = (char *)(held + 1);
	f->renamed = 1;
	/* a layer from a tag stays; one read from the name is read again */
	v = dv_tag_get(f, "layer_id");
	if (!v)
		v = dv_tag_get(f, "layer");
	if (!v || dv_layer_parse(v) < 0)
		f->layer = dv_layer_from_name(layer_re, f->name);
	return 1;
}

int dv_name_map_run(const dv_name_map *m, dv_run *run, const char *layer_regex, size_t *nmapped, dv_error *err)
{
	pcre2_code *layer_re;
	size_t n = 0;

	if (nmapped)
		*nmapped = 0;
	if (!dv_name_map_count(m))
		return 0;
	if (!(layer_re = dv_regex_compile(layer_regex ? layer_regex : DV_DEFAULT_LAYER_REGEX, false, err)))
		return dv_error_prefix(err, "--layer-regex");
	for (size_t p = 0; p < run->nphases; p++)
		for (size_t i = 0; i < run->phases[p].nfiles; i++) {
			int rc = map_file(m, &run->phases[p].files[i], layer_re, err);

			if (rc < 0) {
				pcre2_code_free(layer_re);
				return dv_error_prefix(err, "%s", dv_dumpfile_relpath(&run->phases[p].files[i]));
			}
			n += (size_t)rc;
		}
	pcre2_code_free(layer_re);
	if (nmapped)
		*nmapped = n;
	return 0;
}

/* One file of one side, for counting its name. */
typedef struct use_item {
	const dv_dumpfile *f;
	size_t order;
	bool paired;
} use_item;

static const char *own_name(const dv_dumpfile *f)
{
	return f->renamed ? dv_dumpfile_unmapped_name(f) : f->name;
}

static int cmp_item_name(const void *a, const void *b)
{
	const use_item *x = a, *y = b;
	int c = strcmp(own_name(x->f), own_name(y->f));

	return c ? c : x->order < y->order ? -1 : x->order > y->order;
}

typedef struct use_first {
	dv_name_use use;
	size_t order;
} use_first;

static int cmp_first(const void *a, const void *b)
{
	const use_first *x = a, *y = b;

	return x->order < y->order ? -1 : x->order > y->order;
}

/* The distinct names of one side's files in a phase's pairs. */
static int side_names(const dv_comparison *cmp, const dv_phase_pairs *pp, int side, dv_name_use **out, size_t *nout)
{
	use_item *items = NULL;
	use_first *firsts = NULL;
	size_t n = 0, cap = 0, nd = 0;

	*out = NULL;
	*nout = 0;
	for (size_t i = pp->first; i < pp->first + pp->count; i++) {
		const dv_pair *p = &cmp->pairs[i];
		size_t count;
		const dv_dumpfile *const *files = dv_pair_files(p, side, &count);

		for (size_t k = 0; k < count; k++) {
			if (n == cap) {
				use_item *grown = realloc(items, (cap = cap ? cap * 2 : 64) * sizeof(*grown));

				if (!grown)
					goto oom;
				items = grown;
			}
			items[n].f = files[k];
			items[n].order = n;
			items[n].paired = p->kind == DV_PAIR_MATCHED;
			n++;
		}
	}
	if (!n)
		return 0;
	qsort(items, n, sizeof(*items), cmp_item_name);
	if (!(firsts = calloc(n, sizeof(*firsts))))
		goto oom;
	for (size_t i = 0; i < n; i++) {
		if (!i || strcmp(own_name(items[i].f), own_name(items[i - 1].f))) {
			firsts[nd].use.name = own_name(items[i].f);
			firsts[nd].use.mapped = items[i].f->name;
			firsts[nd].order = items[i].order;
			nd++;
		}
		firsts[nd - 1].use.files++;
		firsts[nd - 1].use.paired += items[i].paired;
	}
	free(items);
	qsort(firsts, nd, sizeof(*firsts), cmp_first);
	if (!(*out = malloc(nd * sizeof(**out)))) {
		free(firsts);
		return -1;
	}
	for (size_t i = 0; i < nd; i++)
		(*out)[i] = firsts[i].use;
	*nout = nd;
	free(firsts);
	return 0;
oom:
	free(items);
	free(firsts);
	return -1;
}

int dv_name_pairing_summarize(const dv_comparison *cmp, size_t phase, dv_name_pairing *out, dv_error *err)
{
	const dv_phase_pairs *pp = &cmp->phases[phase];

	memset(out, 0, sizeof(*out));
	out->phase = pp->name;
	if (side_names(cmp, pp, 0, &out->base, &out->nbase) || side_names(cmp, pp, 1, &out->targ, &out->ntarg)) {
		dv_name_pairing_free(out);
		return dv_error_set(err, "phase %s: out of memory", pp->name);
	}
	for (size_t i = 0; i < out->nbase; i++)
		out->base_unpaired += out->base[i].paired < out->base[i].files;
	for (size_t i = 0; i < out->ntarg; i++) {
		out->targ_paired += out->targ[i].paired == out->targ[i].files;
		out->targ_renamed += out->targ[i].mapped != out->targ[i].name;
	}
	return 0;
}

void dv_name_pairing_free(dv_name_pairing *np)
{
	free(np->base);
	free(np->targ);
	memset(np, 0, sizeof(*np));
}
