/* --override-dims rules (include/dumpview/dims.h): REGEX:DIMS, the first
 * rule whose side fits and whose regex is found in the bundle name wins. */
#include <config.h>

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/dims.h"

typedef struct override {
	char *regex, *dims;
	dv_dims_side side;
	pcre2_code *re;
} override;

struct dv_dims_overrides {
	override *v;
	size_t n, cap;
};

int dv_dims_side_from_name(const char *s)
{
	if (strcmp(s, "both") == 0)
		return DV_DIMS_SIDE_BOTH;
	if (strcmp(s, "baseline") == 0)
		return DV_DIMS_SIDE_BASELINE;
	if (strcmp(s, "target") == 0)
		return DV_DIMS_SIDE_TARGET;
	return -1;
}

dv_dims_overrides *dv_dims_overrides_new(void)
{
	return calloc(1, sizeof(dv_dims_overrides));
}

void dv_dims_overrides_free(dv_dims_overrides *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->n; i++) {
		free(o->v[i].regex);
		free(o->v[i].dims);
		pcre2_code_free(o->v[i].re);
	}
	free(o->v);
	free(o);
}

size_t dv_dims_overrides_count(const dv_dims_overrides *o)
{
	return o->n;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* s[0..*len) without leading and trailing ASCII whitespace. */
static const char *trim(const char *s, size_t *len)
{
	while (*len > 0 && is_ws(s[0]))
		s++, (*len)--;
	while (*len > 0 && is_ws(s[*len - 1]))
		(*len)--;
	return s;
}

static int add_n(dv_dims_overrides *o, const char *re, size_t rn, const char *dims, size_t dn, dv_dims_side side,
		 dv_error *err)
{
	override r = { NULL, NULL, side, NULL };
	dv_dims *parsed;
	int code;
	PCRE2_SIZE eoff;

	if (rn == 0)
		return dv_error_set(err, "empty regex (use '.*' to match every name)");
	if (dn == 0)
		return dv_error_set(err, "empty dims");
	r.regex = strndup(re, rn);
	r.dims = strndup(dims, dn);
	if (!r.regex || !r.dims) {
		free(r.regex);
		free(r.dims);
		return dv_error_set(err, "out of memory");
	}
	/* Checked now: a bad override would otherwise fail every bundle it
	 * matches, one error record at a time. */
	parsed = dv_dims_parse(r.dims, NULL, err);
	if (!parsed) {
		dv_error_prefix(err, "dims '%s'", r.dims);
		free(r.regex);
		free(r.dims);
		return -1;
	}
	dv_dims_free(parsed);
	/* A search as Python's re.search on str: Unicode classes; names that
	 * are not UTF-8 are matched, not refused. */
	r.re = pcre2_compile((PCRE2_SPTR)r.regex, rn, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_UCP, &code, &eoff,
			     NULL);
	if (!r.re) {
		PCRE2_UCHAR msg[256];

		if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
			snprintf((char *)msg, sizeof(msg), "error %d", code);
		dv_error_set(err, "bad regex '%s' at offset %zu: %s", r.regex, (size_t)eoff, (char *)msg);
		free(r.regex);
		free(r.dims);
		return -1;
	}
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 4;
		override *v = realloc(o->v, cap * sizeof(*v));

		if (!v) {
			free(r.regex);
			free(r.dims);
			pcre2_code_free(r.re);
			return dv_error_set(err, "out of memory");
		}
		o->v = v;
		o->cap = cap;
	}
	o->v[o->n++] = r;
	return 0;
}

int dv_dims_overrides_add(dv_dims_overrides *o, const char *regex, const char *dims, dv_dims_side side,
			  dv_error *err)
{
	return add_n(o, regex, strlen(regex), dims, strlen(dims), side, err);
}

int dv_dims_overrides_add_arg(dv_dims_overrides *o, const char *arg, dv_dims_side side, dv_error *err)
{
	const char *colon = strchr(arg, ':'), *re, *dims;
	size_t rn, dn;

	if (!colon)
		return dv_error_set(err, "override '%s': expected REGEX:DIMS", arg);
	rn = (size_t)(colon - arg);
	dn = strlen(colon + 1);
	re = trim(arg, &rn);
	dims = trim(colon + 1, &dn);
	if (add_n(o, re, rn, dims, dn, side, err) < 0)
		return dv_error_prefix(err, "override '%s'", arg);
	return 0;
}

int dv_dims_overrides_lookup(const dv_dims_overrides *o, const char *name, dv_dims_side side,
			     const char **dims, size_t *index, dv_error *err)
{
	pcre2_match_data *md;
	int result = 0;

	if (o->n == 0)
		return 0;
	if (!(md = pcre2_match_data_create(1, NULL)))
		return dv_error_set(err, "out of memory");
	for (size_t i = 0; i < o->n; i++) {
		const override *r = &o->v[i];
		int rc;

		if (r->side != DV_DIMS_SIDE_BOTH && r->side != side)
			continue;
		rc = pcre2_match(r->re, (PCRE2_SPTR)name, PCRE2_ZERO_TERMINATED, 0, 0, md, NULL);
		if (rc == PCRE2_ERROR_NOMATCH)
			continue;
		if (rc < 0) {
			result = dv_error_set(err, "override %zu ('%s'): the regex gave up on name '%s' (error %d)",
					      i + 1, r->regex, name, rc);
			break;
		}
		if (dims)
			*dims = r->dims;
		if (index)
			*index = i;
		result = 1;
		break;
	}
	pcre2_match_data_free(md);
	return result;
}
