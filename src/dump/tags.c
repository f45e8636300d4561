/* File-name tags and the PCRE2 helpers (layer detection, filters). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/dump.h"
#include "internal.h"


/* The first "___" in [p, end): glibc's memmem sets up a two-way search per
 * call, several times the cost of this scan on a short file name. */
static const char *find_separator(const char *p, const char *end)
{
	while (end - p >= 3) {
		const char *u = memchr(p, '_', (size_t)(end - p - 2));

		if (!u)
			return NULL;
		if (u[1] != '_')
			p = u + 2;
		else if (u[2] != '_')
			p = u + 3;
		else
			return u;
	}
	return NULL;
}

bool dv_tag_next(const char **pp, const char *end, const char **key, size_t *klen, const char **value,
		 size_t *vlen)
{
	const char *p = *pp;

	while (p) {
		const char *sep = find_separator(p, end);
		const char *part_end = sep ? sep : end;
		const char *eq = memchr(p, '=', (size_t)(part_end - p));
		const char *start = p;

		p = sep ? sep + 3 : NULL;
		/* Parts without '=' are ignored, as the comparator does. */
		if (eq) {
			*key = start;
			*klen = (size_t)(eq - start);
			*value = eq + 1;
			*vlen = (size_t)(part_end - eq - 1);
			*pp = p;
			return true;
		}
	}
	*pp = NULL;
	return false;
}

size_t dv_parse_tags(const char *filename, dv_tag **tags)
{
	const char *base = strrchr(filename, '/');
	size_t stem_len, n = 0, cap = 0, kl, vl;
	const char *p, *end, *k, *v;
	dv_tag *out = NULL;

	base = base ? base + 1 : filename;
	stem_len = strlen(base);
	if (stem_len > 3 && !strcmp(base + stem_len - 3, ".pt"))
		stem_len -= 3;
	end = base + stem_len;
	*tags = NULL;
	for (p = base; dv_tag_next(&p, end, &k, &kl, &v, &vl);) {
		if (n == cap) {
			dv_tag *grown;

			cap = cap ? cap * 2 : 8;
			grown = realloc(out, cap * sizeof(*out));
			if (!grown)
				break;
			out = grown;
		}
		out[n].key = strndup(k, kl);
		out[n].value = strndup(v, vl);
		if (!out[n].key || !out[n].value) {
			free(out[n].key);
			free(out[n].value);
			break;
		}
		n++;
	}
	*tags = out;
	return n;
}

void dv_free_tags(dv_tag *tags, size_t ntags)
{
	for (size_t i = 0; i < ntags; i++) {
		free(tags[i].key);
		free(tags[i].value);
	}
	free(tags);
}

const char *dv_tag_get(const dv_dumpfile *f, const char *key)
{
	for (size_t i = 0; i < f->ntags; i++)
		if (!strcmp(dv_file_tag_key(f, i), key))
			return dv_file_tag_value(f, i);
	return NULL;
}

/* Smart case: case-insensitive unless the pattern has an upper-case letter
 * that is not an escape (\D, \S, \W, \P{..} do not count). */
static bool pattern_has_upper(const char *pattern)
{
	for (const char *p = pattern; *p; p++) {
		if (*p == '\\') {
			if (p[1])
				p++;
			continue;
		}
		if (isupper((unsigned char)*p))
			return true;
	}
	return false;
}

/* UTF mode everywhere (compare and the explorer agree on what "." is), and
 * names that are not valid UTF-8 still match instead of failing the match. */
pcre2_code *dv_regex_compile(const char *pattern, bool smart_case, dv_error *err)
{
	uint32_t flags = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
	int code;
	PCRE2_SIZE offset;
	pcre2_code *re;

	if (smart_case && !pattern_has_upper(pattern))
		flags |= PCRE2_CASELESS;
	re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, flags, &code, &offset, NULL);
	if (!re) {
		PCRE2_UCHAR msg[256];

		pcre2_get_error_message(code, msg, sizeof(msg));
		dv_error_set(err, "bad regex '%s' at offset %zu: %s", pattern, (size_t)offset, (char *)msg);
	}
	return re;
}

/* Backtracking limits for user regexes: a pattern such as (a+)+$ on a long
 * name would otherwise run for minutes. Legitimate patterns on file names
 * stay far below them. */
#define DV_REGEX_MATCH_LIMIT 200000
#define DV_REGEX_DEPTH_LIMIT 5000
#define DV_REGEX_HEAP_LIMIT_KIB 8192

/* pcre2_match under the limits above: the raw PCRE2 return code. */
static int limited_match(const pcre2_code *re, const char *subject, pcre2_match_data *md)
{
	pcre2_match_context *mc = pcre2_match_context_create(NULL);
	int rc;

	if (!mc)
		return PCRE2_ERROR_NOMEMORY;
	pcre2_set_match_limit(mc, DV_REGEX_MATCH_LIMIT);
	pcre2_set_depth_limit(mc, DV_REGEX_DEPTH_LIMIT);
	pcre2_set_heap_limit(mc, DV_REGEX_HEAP_LIMIT_KIB);
	rc = pcre2_match(re, (PCRE2_SPTR)subject, PCRE2_ZERO_TERMINATED, 0, 0, md, mc);
	pcre2_match_context_free(mc);
	return rc;
}

dv_regex_result dv_regex_test(const pcre2_code *re, const char *subject)
{
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
	int rc;

	if (!md)
		return DV_REGEX_ERROR;
	rc = limited_match(re, subject, md);
	pcre2_match_data_free(md);
	if (rc >= 0)
		return DV_REGEX_MATCH;
	if (rc == PCRE2_ERROR_NOMATCH)
		return DV_REGEX_NOMATCH;
	if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT)
		return DV_REGEX_TOO_EXPENSIVE;
	return DV_REGEX_ERROR;
}

/* Parses a layer number; -1 unless it is all digits and fits an int. */
int dv_layer_parse(const char *s)
{
	long v = 0;

	if (!s || !*s)
		return -1;
	for (const char *p = s; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		v = v * 10 + (*p - '0');
		if (v > 1000000000L)
			return -1;
	}
	return (int)v;
}

int dv_layer_from_name(const pcre2_code *layer_re, const char *s)
{
	pcre2_match_data *md;
	int rc, layer = -1;

	if (!layer_re || !s)
		return -1;
	md = pcre2_match_data_create_from_pattern(layer_re, NULL);
	if (!md)
		return -1;
	/* Under the same limits: a --layer-regex that backtracks without end
	 * must not freeze the listing (a name it cannot decide has no layer). */
	rc = limited_match(layer_re, s, md);
	if (rc >= 2) {
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);

		if (ov[2] != PCRE2_UNSET && ov[3] - ov[2] < 16) {
			char buf[16];

			memcpy(buf, s + ov[2], ov[3] - ov[2]);
			buf[ov[3] - ov[2]] = '\0';
			layer = dv_layer_parse(buf);
		}
	}
	pcre2_match_data_free(md);
	return layer;
}
