/* The dims grammar (include/dumpview/dims.h): a hand-written scanner over
 * whitespace-separated tokens, so every error can name its token and column. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/dims.h"

static const char *const axis_names[DV_AXIS_COUNT] = {
	"tp", "cp", "ep", "sp", "dp", "etp", "edp", "attn_tp", "attn_dp",
	"moe_ep", "moe_tp", "moe_dp", "recompute_pseudo",
};

#define AXIS_LIST "tp, cp, ep, sp, dp, etp, edp, attn_tp, attn_dp, moe_ep, moe_tp, moe_dp, recompute_pseudo"

const char *dv_axis_name(dv_axis axis)
{
	return (unsigned)axis < DV_AXIS_COUNT ? axis_names[axis] : NULL;
}

int dv_axis_from_name(const char *s, size_t len)
{
	for (int i = 0; i < DV_AXIS_COUNT; i++)
		if (strlen(axis_names[i]) == len && memcmp(axis_names[i], s, len) == 0)
			return i;
	return -1;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(char c)
{
	return is_name_start(c) || (c >= '0' && c <= '9');
}

static bool is_name(const char *s, size_t len)
{
	if (len == 0 || !is_name_start(s[0]))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!is_name_char(s[i]))
			return false;
	return true;
}

/* Parser state: the whole text, for columns, and the first error. */
typedef struct parser {
	const char *text;
	dv_error *err;
	size_t err_off;
	bool failed;
	const char *tok;   /* the token being parsed, for messages */
	size_t toklen;
} parser;

/* Columns count characters: UTF-8 continuation bytes do not start one. */
static int column_of(const char *text, size_t off)
{
	int col = 1;

	for (size_t i = 0; i < off; i++)
		if (((unsigned char)text[i] & 0xC0) != 0x80)
			col++;
	return col;
}

/* Quotes s[0..len) into a message, printable ASCII kept, the rest as \xNN,
 * cut at a sane length so one line stays one line. */
static void quote(char *buf, size_t size, const char *s, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 5 < size; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i >= 60) {
			o += (size_t)snprintf(buf + o, size - o, "...");
			break;
		}
		if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\')
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
	}
	buf[o < size ? o : size - 1] = '\0';
}

static void fail(parser *p, size_t off, const char *reason, const char *s, size_t len)
{
	char q[256];

	if (p->failed)
		return;
	p->failed = true;
	p->err_off = off;
	quote(q, sizeof(q), s, len);
	dv_error_set(p->err, "column %d: %s '%s'", column_of(p->text, off), reason, q);
}

static char *dup_n(const char *s, size_t len)
{
	char *r = malloc(len + 1);

	if (r) {
		memcpy(r, s, len);
		r[len] = '\0';
	}
	return r;
}

static void dim_clear(dv_dim *d)
{
	free(d->name);
	for (size_t i = 0; i < d->nparts; i++)
		free(d->parts[i]);
	free(d->parts);
	memset(d, 0, sizeof(*d));
}

void dv_dims_free(dv_dims *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->ndims; i++)
		dim_clear(&d->dims[i]);
	free(d->dims);
	free(d->dp_alias);
	free(d);
}

static void oom(parser *p, size_t off)
{
	(void)off;
	if (!p->failed) {
		p->failed = true;
		p->err_off = (size_t)-1;
		dv_error_set(p->err, "out of memory parsing dims");
	}
}

/* One modifier item s[0..len) at text offset off. */
static int parse_modifier(parser *p, dv_dim *dim, const char *s, size_t len, size_t off)
{
	size_t a = 0, alen;
	int axis;
	dv_dim_mod m;
	bool has_order = false;
	const char *q;

	/* Trimmed as the reference does; a no-op after the whitespace split. */
	while (len > 0 && is_ws(s[0]))
		s++, len--, off++;
	while (len > 0 && is_ws(s[len - 1]))
		len--;
	if (len == 0) {
		fail(p, off, "empty modifier item in", p->tok, p->toklen);
		return -1;
	}
	while (a < len && s[a] != ':')
		a++;
	alen = a;
	axis = dv_axis_from_name(s, alen);
	if (axis < 0) {
		fail(p, off, "unknown parallel axis (axes: " AXIS_LIST ") in modifier", s, len);
		return -1;
	}
	for (size_t i = 0; i < dim->nmods; i++)
		if ((int)dim->mods[i].axis == axis) {
			fail(p, off, "same axis twice in one dim's modifiers:", s, alen);
			return -1;
		}
	m.axis = (dv_axis)axis;
	m.zigzag = false;
	m.partial = false;
	if (a < len) {
		bool has_partial = false;

		q = s + a + 1;
		for (;;) {
			const char *e = q;
			size_t ql, qoff = off + (size_t)(q - s);

			while (e < s + len && *e != '+')
				e++;
			ql = (size_t)(e - q);
			if (ql == 0) {
				/* 'tp:' and 'cp:zigzag+' pass in the reference, which
				 * skips empty qualifiers; dumps written against it
				 * must parse here too. */
			} else if (ql == 6 && memcmp(q, "zigzag", 6) == 0) {
				if (has_order) {
					fail(p, qoff, "two orderings in one modifier:", s, len);
					return -1;
				}
				has_order = true;
				m.zigzag = true;
			} else if (ql == 7 && memcmp(q, "natural", 7) == 0) {
				if (has_order) {
					fail(p, qoff, "two orderings in one modifier:", s, len);
					return -1;
				}
				has_order = true;
			} else if (ql == 7 && memcmp(q, "partial", 7) == 0) {
				if (has_partial) {
					fail(p, qoff, "two reductions in one modifier:", s, len);
					return -1;
				}
				has_partial = true;
				m.partial = true;
			} else if (ql == 7 && memcmp(q, "sharded", 7) == 0) {
				/* The default; accepted and dropped. */
			} else {
				fail(p, qoff, "unknown qualifier (zigzag, natural, partial, sharded):", q, ql);
				return -1;
			}
			if (e >= s + len)
				break;
			q = e + 1;
		}
	}
	dim->mods[dim->nmods++] = m;
	return 0;
}

/* The modifier list s[0..len) (between the brackets) at offset off. */
static int parse_modifiers(parser *p, dv_dim *dim, const char *s, size_t len, size_t off)
{
	size_t i = 0;

	for (;;) {
		size_t j = i;

		while (j < len && s[j] != ',')
			j++;
		if (parse_modifier(p, dim, s + i, j - i, off + i) < 0)
			return -1;
		if (j >= len)
			return 0;
		i = j + 1;
	}
}

/* One shape token tok[0..len) at offset off into dim. */
static int parse_token(parser *p, dv_dim *dim, const char *tok, size_t len, size_t off, size_t *nsingle)
{
	size_t head; /* the part before an optional '[...]' */
	char buf[32];

	p->tok = tok;
	p->toklen = len;
	dim->column = column_of(p->text, off);
	if (len == 1 && tok[0] == '1') {
		snprintf(buf, sizeof(buf), "singleton%zu", (*nsingle)++);
		dim->squeeze = true;
		if (!(dim->name = strdup(buf)))
			return oom(p, off), -1;
		return 0;
	}
	if (tok[0] == '1' && len > 1 && tok[1] == '[') {
		fail(p, off, "the squeeze token '1' takes no modifiers:", tok, len);
		return -1;
	}
	if (tok[0] == '(') {
		const char *close = memchr(tok, ')', len);
		size_t n = 0, i;

		if (!close) {
			fail(p, off, "unclosed '(' in token", tok, len);
			return -1;
		}
		head = (size_t)(close - tok) + 1;
		if (head < len && tok[head] != '[') {
			fail(p, off, "token is neither '1', NAME[...] nor (A*B...)[...]:", tok, len);
			return -1;
		}
		/* Parts between '(' and ')', split at '*'. */
		for (i = 1; i < head - 1; i++)
			if (tok[i] == '*')
				n++;
		n++;
		if (n < 2) {
			fail(p, off, "fused group needs at least 2 parts:", tok, len);
			return -1;
		}
		if (!(dim->parts = calloc(n, sizeof(char *))))
			return oom(p, off), -1;
		i = 1;
		for (;;) {
			size_t j = i;

			while (j < head - 1 && tok[j] != '*')
				j++;
			if (!is_name(tok + i, j - i)) {
				fail(p, off + i, "bad part of fused group (want a NAME):", tok + i, j - i);
				return -1;
			}
			for (size_t k = 0; k < dim->nparts; k++)
				if (strlen(dim->parts[k]) == j - i && memcmp(dim->parts[k], tok + i, j - i) == 0) {
					fail(p, off + i, "repeated part in fused group:", tok + i, j - i);
					return -1;
				}
			if (!(dim->parts[dim->nparts] = dup_n(tok + i, j - i)))
				return oom(p, off), -1;
			dim->nparts++;
			if (j >= head - 1)
				break;
			i = j + 1;
		}
		{
			size_t total = 0, o = 0;

			for (size_t k = 0; k < dim->nparts; k++)
				total += strlen(dim->parts[k]) + 3;
			if (!(dim->name = malloc(total + 1)))
				return oom(p, off), -1;
			for (size_t k = 0; k < dim->nparts; k++)
				o += (size_t)sprintf(dim->name + o, "%s%s", k ? "___" : "", dim->parts[k]);
		}
	} else {
		head = 0;
		while (head < len && is_name_char(tok[head]))
			head++;
		if (!is_name(tok, head) || (head < len && tok[head] != '[')) {
			fail(p, off, "token is neither '1', NAME[...] nor (A*B...)[...]:", tok, len);
			return -1;
		}
		if (!(dim->name = dup_n(tok, head)))
			return oom(p, off), -1;
	}
	if (head < len) {
		/* '[' modifiers ']' to the end of the token, no brackets inside. */
		const char *m = tok + head + 1;
		size_t mlen = len - head - 1;

		if (mlen == 0 || tok[len - 1] != ']') {
			fail(p, off, memchr(m, ']', mlen) ? "token is neither '1', NAME[...] nor (A*B...)[...]:"
							  : "unclosed '[' in token",
			     tok, len);
			return -1;
		}
		mlen--;
		if (mlen == 0 || memchr(m, '[', mlen) || memchr(m, ']', mlen)) {
			fail(p, off, "token is neither '1', NAME[...] nor (A*B...)[...]:", tok, len);
			return -1;
		}
		if (parse_modifiers(p, dim, m, mlen, off + head + 1) < 0)
			return -1;
	}
	return 0;
}

/* Is name among the semantic names (plain names, fused parts) of dims[0..n)? */
static bool has_semantic(const dv_dims *d, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		const dv_dim *x = &d->dims[i];

		if (x->squeeze)
			continue;
		if (x->nparts == 0 && strcmp(x->name, name) == 0)
			return true;
		for (size_t k = 0; k < x->nparts; k++)
			if (strcmp(x->parts[k], name) == 0)
				return true;
	}
	return false;
}

static int parse_shape(parser *p, dv_dims *d, const char *s, size_t len)
{
	size_t i = 0, nsingle = 0;

	if (!(d->dims = calloc(DV_DIMS_MAX_TOKENS, sizeof(dv_dim))))
		return oom(p, 0), -1;
	for (;;) {
		size_t j, off;
		dv_dim *dim;

		while (i < len && is_ws(s[i]))
			i++;
		if (i >= len)
			break;
		j = i;
		while (j < len && !is_ws(s[j]))
			j++;
		off = (size_t)(s - p->text) + i;
		if (d->ndims == DV_DIMS_MAX_TOKENS) {
			fail(p, off, "more than " "64" " tokens, from", s + i, j - i);
			return -1;
		}
		dim = &d->dims[d->ndims++];
		if (parse_token(p, dim, s + i, j - i, off, &nsingle) < 0)
			return -1;
		/* Duplicates: semantic names first (the reference's rule), then
		 * the internal names, which must be unique to name a dim. */
		if (!dim->squeeze) {
			if (dim->nparts == 0 && has_semantic(d, d->ndims - 1, dim->name)) {
				fail(p, off, "same dim name twice:", dim->name, strlen(dim->name));
				return -1;
			}
			for (size_t k = 0; k < dim->nparts; k++)
				if (has_semantic(d, d->ndims - 1, dim->parts[k])) {
					fail(p, off, "same dim name twice:", dim->parts[k], strlen(dim->parts[k]));
					return -1;
				}
		}
		for (size_t k = 0; k + 1 < d->ndims; k++)
			if (strcmp(d->dims[k].name, dim->name) == 0) {
				fail(p, off, "dim's internal name is taken by an earlier token:", dim->name,
				     strlen(dim->name));
				return -1;
			}
		i = j;
	}
	if (d->ndims == 0) {
		fail(p, (size_t)(s - p->text), "empty shape (no dim tokens) in dims", p->text, strlen(p->text));
		return -1;
	}
	return 0;
}

static int parse_declarations(parser *p, dv_dims *d, const char *s, size_t len)
{
	size_t i = 0;

	for (;;) {
		size_t j, off, tl;
		const char *t;

		while (i < len && is_ws(s[i]))
			i++;
		if (i >= len)
			return 0;
		j = i;
		while (j < len && !is_ws(s[j]))
			j++;
		t = s + i;
		tl = j - i;
		off = (size_t)(t - p->text);
		if (tl > 3 && memcmp(t, "dp:=", 4) == 0 && is_name(t + 4, tl - 4)) {
			if (d->dp_alias) {
				fail(p, off, "second dp alias:", t, tl);
				return -1;
			}
			if (!(d->dp_alias = dup_n(t + 4, tl - 4)))
				return oom(p, off), -1;
		} else if (tl > 11 && memcmp(t + tl - 11, ":replicated", 11) == 0 && is_name(t, tl - 11)) {
			int axis = dv_axis_from_name(t, tl - 11);

			if (axis < 0) {
				fail(p, off, "unknown parallel axis (axes: " AXIS_LIST ") in declaration", t, tl);
				return -1;
			}
			if (d->replicated[axis]) {
				fail(p, off, "axis declared replicated twice:", t, tl);
				return -1;
			}
			if (dv_dims_shards_axis(d, (dv_axis)axis)) {
				fail(p, off, "axis is both sharded by a modifier and declared replicated:", t, tl);
				return -1;
			}
			d->replicated[axis] = true;
		} else {
			fail(p, off, "declaration is neither 'dp:=NAME' nor 'AXIS:replicated':", t, tl);
			return -1;
		}
		i = j;
	}
}

dv_dims *dv_dims_parse(const char *text, int *column, dv_error *err)
{
	parser p = { text, err, 0, false, NULL, 0 };
	dv_dims *d;
	const char *hash;
	size_t len = strlen(text), shape_len, solid = 0;

	if (column)
		*column = 0;
	/* Whitespace is not counted, so that the canonical form (which may add
	 * spaces around '#') of any accepted text is accepted too. */
	for (size_t i = 0; i < len; i++)
		solid += !is_ws(text[i]);
	if (solid > DV_DIMS_MAX_LEN) {
		if (column)
			*column = 1;
		dv_error_set(err, "column 1: dims longer than %d bytes (whitespace not counted)", DV_DIMS_MAX_LEN);
		return NULL;
	}
	if (!(d = calloc(1, sizeof(*d)))) {
		dv_error_set(err, "out of memory parsing dims");
		return NULL;
	}
	hash = strchr(text, '#');
	shape_len = hash ? (size_t)(hash - text) : len;
	if (parse_shape(&p, d, text, shape_len) == 0 && hash)
		parse_declarations(&p, d, hash + 1, len - shape_len - 1);
	if (p.failed) {
		if (column)
			*column = p.err_off == (size_t)-1 ? 0 : column_of(text, p.err_off);
		dv_dims_free(d);
		return NULL;
	}
	return d;
}

/* ---- printing and queries ---- */

typedef struct sbuf {
	char *s;
	size_t len, cap;
	bool oom;
} sbuf;

static void put(sbuf *b, const char *s)
{
	size_t n = strlen(s);

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->cap ? b->cap * 2 : 64) + n;
		char *ns = realloc(b->s, cap);

		if (!ns) {
			b->oom = true;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n + 1);
	b->len += n;
}

char *dv_dims_canonical(const dv_dims *d)
{
	sbuf b = { NULL, 0, 0, false };
	bool any = d->dp_alias != NULL;

	put(&b, "");
	for (size_t i = 0; i < d->ndims; i++) {
		const dv_dim *x = &d->dims[i];

		if (i)
			put(&b, " ");
		if (x->squeeze) {
			put(&b, "1");
			continue;
		}
		if (x->nparts) {
			put(&b, "(");
			for (size_t k = 0; k < x->nparts; k++) {
				if (k)
					put(&b, "*");
				put(&b, x->parts[k]);
			}
			put(&b, ")");
		} else {
			put(&b, x->name);
		}
		if (x->nmods) {
			put(&b, "[");
			for (size_t k = 0; k < x->nmods; k++) {
				if (k)
					put(&b, ",");
				put(&b, axis_names[x->mods[k].axis]);
				if (x->mods[k].zigzag)
					put(&b, x->mods[k].partial ? ":zigzag+partial" : ":zigzag");
				else if (x->mods[k].partial)
					put(&b, ":partial");
			}
			put(&b, "]");
		}
	}
	for (int a = 0; a < DV_AXIS_COUNT; a++)
		any = any || d->replicated[a];
	if (any) {
		put(&b, " #");
		for (int a = 0; a < DV_AXIS_COUNT; a++)
			if (d->replicated[a]) {
				put(&b, " ");
				put(&b, axis_names[a]);
				put(&b, ":replicated");
			}
		if (d->dp_alias) {
			put(&b, " dp:=");
			put(&b, d->dp_alias);
		}
	}
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

bool dv_dims_equal(const dv_dims *a, const dv_dims *b)
{
	if (a->ndims != b->ndims)
		return false;
	if ((a->dp_alias == NULL) != (b->dp_alias == NULL) ||
	    (a->dp_alias && strcmp(a->dp_alias, b->dp_alias) != 0))
		return false;
	if (memcmp(a->replicated, b->replicated, sizeof(a->replicated)) != 0)
		return false;
	for (size_t i = 0; i < a->ndims; i++) {
		const dv_dim *x = &a->dims[i], *y = &b->dims[i];

		if (x->squeeze != y->squeeze || strcmp(x->name, y->name) != 0 || x->nparts != y->nparts ||
		    x->nmods != y->nmods)
			return false;
		for (size_t k = 0; k < x->nparts; k++)
			if (strcmp(x->parts[k], y->parts[k]) != 0)
				return false;
		for (size_t k = 0; k < x->nmods; k++)
			if (x->mods[k].axis != y->mods[k].axis || x->mods[k].zigzag != y->mods[k].zigzag ||
			    x->mods[k].partial != y->mods[k].partial)
				return false;
	}
	return true;
}

size_t dv_dims_count(const dv_dims *d)
{
	return d->ndims;
}

int dv_dims_check_rank(const dv_dims *d, int ndim, dv_error *err)
{
	if (ndim >= 0 && (size_t)ndim == d->ndims)
		return 0;
	return dv_error_set(err, "dims metadata mismatch: 'dims' has %zu token%s, the tensor has %d dimension%s",
			    d->ndims, d->ndims == 1 ? "" : "s", ndim, ndim == 1 ? "" : "s");
}

int dv_dims_find(const dv_dims *d, const char *name)
{
	for (size_t i = 0; i < d->ndims; i++)
		if (strcmp(d->dims[i].name, name) == 0)
			return (int)i;
	return -1;
}

bool dv_dims_shards_axis(const dv_dims *d, dv_axis axis)
{
	for (size_t i = 0; i < d->ndims; i++)
		for (size_t k = 0; k < d->dims[i].nmods; k++)
			if (d->dims[i].mods[k].axis == axis)
				return true;
	return false;
}

int dv_dims_dp_axis(const dv_dims *d, dv_axis *axis, dv_error *err)
{
	int a;

	if (!d->dp_alias) {
		*axis = DV_AXIS_DP;
		return 0;
	}
	a = dv_axis_from_name(d->dp_alias, strlen(d->dp_alias));
	if (a < 0)
		return dv_error_set(err, "dp alias '%s' is not a parallel axis (axes: " AXIS_LIST ")", d->dp_alias);
	*axis = (dv_axis)a;
	return 0;
}
