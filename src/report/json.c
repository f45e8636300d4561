/* A small strict JSON parser for reading reports back (report_load.h):
 * recursive descent over one buffer, depth-limited, every string checked
 * as UTF-8. Numbers go through strtod after the grammar is checked. And
 * dv_read_all, the reading of a whole report file (load.c, merge.c). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/escape.h"
#include "dumpview/report_load.h"

typedef struct jp {
	const char *s;
	size_t len, pos;
	dv_error *err;
} jp;

static int fail(jp *p, const char *why)
{
	return dv_error_set(p->err, "%s at byte %zu", why, p->pos + 1);
}

static void skip_ws(jp *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
				   p->s[p->pos] == '\r'))
		p->pos++;
}

static bool literal(jp *p, const char *word)
{
	size_t n = strlen(word);

	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n))
		return false;
	p->pos += n;
	return true;
}

static int hex4(jp *p, uint32_t *v)
{
	*v = 0;
	if (p->len - p->pos < 4)
		return fail(p, "truncated \\u escape");
	for (int i = 0; i < 4; i++) {
		char c = p->s[p->pos++];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

		if (d < 0)
			return fail(p, "bad \\u escape");
		*v = *v << 4 | (uint32_t)d;
	}
	return 0;
}

static size_t put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A string at p->pos (the opening quote); the decoded bytes are never longer
 * than the escaped text, so one allocation of that size holds them. */
static int string(jp *p, char **out, size_t *outlen)
{
	size_t start = ++p->pos, end = start, n = 0;
	char *o;

	while (end < p->len && p->s[end] != '"')
		end += p->s[end] == '\\' ? 2 : 1;
	if (end >= p->len)
		return fail(p, "unterminated string");
	if (!(o = malloc(end - start + 1)))
		return fail(p, "out of memory");
	while (p->s[p->pos] != '"') {
		unsigned char c = (unsigned char)p->s[p->pos];
		uint32_t cp, lo;
		size_t k;

		if (c < 0x20) {
			free(o);
			return fail(p, "control character in string");
		}
		if (c >= 0x80) {
			if (!(k = dv_utf8_decode(p->s + p->pos, p->len - p->pos, &cp))) {
				free(o);
				return fail(p, "invalid UTF-8 in string");
			}
			memcpy(o + n, p->s + p->pos, k);
			n += k;
			p->pos += k;
			continue;
		}
		if (c != '\\') {
			o[n++] = (char)c;
			p->pos++;
			continue;
		}
		p->pos++;
		c = (unsigned char)p->s[p->pos++];
		switch (c) {
		case '"': case '\\': case '/': o[n++] = (char)c; continue;
		case 'b': o[n++] = '\b'; continue;
		case 'f': o[n++] = '\f'; continue;
		case 'n': o[n++] = '\n'; continue;
		case 'r': o[n++] = '\r'; continue;
		case 't': o[n++] = '\t'; continue;
		case 'u': break;
		default: free(o); p->pos--; return fail(p, "bad escape in string");
		}
		if (hex4(p, &cp))
			goto bad;
		if (cp >= 0xd800 && cp < 0xdc00) {
			/* a high surrogate needs its low one */
			if (p->len - p->pos < 6 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
				fail(p, "lone surrogate in string");
				goto bad;
			}
			p->pos += 2;
			if (hex4(p, &lo))
				goto bad;
			if (lo < 0xdc00 || lo >= 0xe000) {
				fail(p, "lone surrogate in string");
				goto bad;
			}
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		} else if (cp >= 0xdc80 && cp < 0xdd00) {
			/* a byte that was not UTF-8 (surrogateescape) */
			o[n++] = (char)(cp - 0xdc00);
			continue;
		} else if (cp >= 0xdc00 && cp < 0xe000) {
			fail(p, "lone surrogate in string");
			goto bad;
		} else if (cp == 0) {
			fail(p, "NUL in string");
			goto bad;
		}
		n += put_utf8(o + n, cp);
	}
	p->pos++;
	o[n] = '\0';
	*out = o;
	*outlen = n;
	return 0;
bad:
	free(o);
	return -1;
}

static int number(jp *p, double *v)
{
	size_t i = p->pos;
	const char *s = p->s;
	char buf[128];

	if (i < p->len && s[i] == '-')
		i++;
	if (i < p->len && s[i] == '0')
		i++;
	else if (i < p->len && s[i] >= '1' && s[i] <= '9')
		while (i < p->len && s[i] >= '0' && s[i] <= '9')
			i++;
	else
		return fail(p, "bad number");
	if (i < p->len && s[i] == '.') {
		if (++i >= p->len || s[i] < '0' || s[i] > '9')
			return fail(p, "bad number");
		while (i < p->len && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < p->len && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= p->len || s[i] < '0' || s[i] > '9')
			return fail(p, "bad number");
		while (i < p->len && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i - p->pos >= sizeof(buf))
		return fail(p, "number too long");
	memcpy(buf, s + p->pos, i - p->pos);
	buf[i - p->pos] = '\0';
	errno = 0;
	*v = strtod(buf, NULL);
	if (!isfinite(*v))
		return fail(p, "number out of range");
	p->pos = i;
	return 0;
}

static int value(jp *p, dv_json *v, int depth);

static int grow(jp *p, dv_json *v, size_t *cap, bool keys)
{
	if (v->n < *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 4;
	dv_json *items = realloc(v->items, c * sizeof(*items));

	if (!items)
		return fail(p, "out of memory");
	v->items = items;
	if (keys) {
		char **k = realloc(v->keys, c * sizeof(*k));

		if (!k)
			return fail(p, "out of memory");
		v->keys = k;
	}
	*cap = c;
	return 0;
}

static int container(jp *p, dv_json *v, int depth, bool object)
{
	size_t cap = 0;
	char close = object ? '}' : ']';

	if (depth >= DV_JSON_MAX_DEPTH)
		return fail(p, "nested too deep");
	v->type = object ? DV_JSON_OBJECT : DV_JSON_ARRAY;
	p->pos++;
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == close) {
		p->pos++;
		return 0;
	}
	for (;;) {
		char *k = NULL;
		size_t klen;

		skip_ws(p);
		if (grow(p, v, &cap, object))
			return -1;
		if (object) {
			if (p->pos >= p->len || p->s[p->pos] != '"')
				return fail(p, "expected a key");
			if (string(p, &k, &klen))
				return -1;
			skip_ws(p);
			if (p->pos >= p->len || p->s[p->pos] != ':') {
				free(k);
				return fail(p, "expected ':'");
			}
			p->pos++;
			v->keys[v->n] = k;
		}
		memset(&v->items[v->n], 0, sizeof(v->items[0]));
		v->n++;   /* counted now, so a failure below frees it */
		if (value(p, &v->items[v->n - 1], depth + 1))
			return -1;
		skip_ws(p);
		if (p->pos < p->len && p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->pos < p->len && p->s[p->pos] == close) {
			p->pos++;
			return 0;
		}
		return fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static int value_at(jp *p, dv_json *v, int depth)
{
	switch (p->s[p->pos]) {
	case '{': return container(p, v, depth, true);
	case '[': return container(p, v, depth, false);
	case '"':
		v->type = DV_JSON_STRING;
		return string(p, &v->str, &v->len);
	case 't': case 'f': case 'n':
		if (literal(p, "true") || literal(p, "false")) {
			v->type = DV_JSON_BOOL;
			v->b = p->s[p->pos - 1] == 'e' && p->s[p->pos - 2] == 'u';
			return 0;
		}
		if (literal(p, "null")) {
			v->type = DV_JSON_NULL;
			return 0;
		}
		return fail(p, "unexpected word");
	default:
		v->type = DV_JSON_NUMBER;
		return number(p, &v->num);
	}
}

/* A value, with where its text lies. */
static int value(jp *p, dv_json *v, int depth)
{
	skip_ws(p);
	if (p->pos >= p->len)
		return fail(p, "unexpected end");
	v->off = p->pos;
	if (value_at(p, v, depth))
		return -1;
	v->nraw = p->pos - v->off;
	return 0;
}

void dv_json_free(dv_json *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		dv_json_free(&v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->str);
	memset(v, 0, sizeof(*v));
}

int dv_json_parse(const char *text, size_t len, dv_json *out, dv_error *err)
{
	jp p = {.s = text, .len = len, .err = err};

	memset(out, 0, sizeof(*out));
	if (value(&p, out, 0))
		goto bad;
	skip_ws(&p);
	if (p.pos != len) {
		fail(&p, "text after the value");
		goto bad;
	}
	return 0;
bad:
	dv_json_free(out);
	return -1;
}

const dv_json *dv_json_get(const dv_json *obj, const char *key)
{
	if (!obj || obj->type != DV_JSON_OBJECT)
		return NULL;
	for (size_t i = obj->n; i-- > 0;)
		if (!strcmp(obj->keys[i], key))
			return &obj->items[i];
	return NULL;
}

int dv_read_all(FILE *f, char **text, size_t *len)
{
	size_t cap = 0, n = 0, got;
	char *buf = NULL;

	do {
		if (cap - n < 65536) {
			char *grown;

			cap = cap ? cap * 2 : 1 << 20;
			if (!(grown = realloc(buf, cap))) {
				free(buf);
				errno = ENOMEM;
				return -1;
			}
			buf = grown;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	if (ferror(f)) {
		int e = errno ? errno : EIO;

		free(buf);
		errno = e;
		return -1;
	}
	*text = buf;
	*len = n;
	return 0;
}
