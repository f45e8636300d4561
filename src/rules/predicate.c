/* Predicates of pass rules: lexer, recursive-descent parser into a flat node
 * array, evaluator and canonical printer (grammar in dumpview/rules.h). */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum node_kind { N_NUM, N_VAR, N_IDENT, N_CMP, N_NOT, N_AND, N_OR };
enum var_id { V_REL, V_MAX_ABS, V_MEAN_ABS, V_NAN };
enum cmp_op { OP_LT, OP_LE, OP_GT, OP_GE, OP_EQ, OP_NE };

static const char *const op_text[] = { "<", "<=", ">", ">=", "==", "!=" };
static const char *const var_text[] = { "rel", "max_abs", "mean_abs", "nan" };

/* Children are linked: first child, next sibling (-1 ends). In a CMP node
 * the children are the operands and each but the last carries the operator
 * to its right neighbour. */
typedef struct pnode {
	unsigned char kind, var, op;
	bool is_bool;                /* a condition (else a number) */
	int child, next;
	size_t off, len;             /* source text, for messages */
	double num;
} pnode;

struct dv_predicate {
	pnode *nodes;
	int root;
	char *canonical;
};

enum tok_kind {
	T_END, T_NUM, T_VAR, T_IDENT, T_LP, T_RP, T_CMP, T_AND, T_OR, T_NOT, T_PLUS, T_MINUS,
};

typedef struct token {
	enum tok_kind kind;
	size_t off, len;
	double num;
	int sub;                     /* T_VAR: var_id; T_CMP: cmp_op */
} token;

typedef struct parser {
	const char *s;
	size_t n, pos;
	token cur;
	const char *prev;            /* text of the token before cur, for messages; NULL at the start */
	char prev_buf[16];
	int depth;
	pnode *nodes;
	size_t nnodes, cap;
	bool failed;
	size_t err_off;
	char msg[DV_ERROR_MAX];
} parser;

/* Number text and printing follow the C locale whatever LC_NUMERIC the
 * program runs under (a ',' decimal point would misread '0.5'). */
static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static void c_locale_init(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}
static locale_t use_c_locale(void)
{
	pthread_once(&c_locale_once, c_locale_init);
	return c_locale ? uselocale(c_locale) : (locale_t)0;
}
static void restore_locale(locale_t old)
{
	if (old)
		uselocale(old);
}

static int fail(parser *p, size_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(parser *p, size_t off, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return -1;
	p->failed = true;
	p->err_off = off;
	va_start(ap, fmt);
	vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
	va_end(ap);
	return -1;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_xdigit(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }

/* Whether s[0..n) is a C floating or decimal/hex integer literal without
 * suffix; *leading_zero: an integer like '010'. */
static bool number_valid(const char *s, size_t n, bool *leading_zero)
{
	size_t i = 0, d1 = 0, d2 = 0;
	bool hex = n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'), dot = false, exp = false;

	*leading_zero = false;
	if (hex)
		i = 2;
	while (i < n && (hex ? is_xdigit(s[i]) : is_digit(s[i])))
		i++, d1++;
	if (i < n && s[i] == '.') {
		dot = true;
		i++;
		while (i < n && (hex ? is_xdigit(s[i]) : is_digit(s[i])))
			i++, d2++;
	}
	if (d1 + d2 == 0)
		return false;
	if (i < n && (hex ? (s[i] == 'p' || s[i] == 'P') : (s[i] == 'e' || s[i] == 'E'))) {
		size_t de = 0;

		exp = true;
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		while (i < n && is_digit(s[i]))
			i++, de++;
		if (de == 0)
			return false;
	}
	if (i != n)
		return false;
	if (hex && dot && !exp)
		return false;            /* C: a hexadecimal fraction needs its 'p' exponent */
	if (!hex && !dot && !exp && d1 > 1 && s[0] == '0') {
		*leading_zero = true;
		return false;
	}
	return true;
}

/* Reads the token at p->pos into p->cur. */
static int lex(parser *p)
{
	const char *s = p->s;
	size_t i = p->pos, n = p->n, start;
	token *t = &p->cur;

	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	start = i;
	t->off = start;
	t->sub = 0;
	if (i >= n) {
		t->kind = T_END;
		t->len = 0;
		p->pos = i;
		return 0;
	}
	char c = s[i];
	if (is_digit(c) || (c == '.' && i + 1 < n && is_digit(s[i + 1]))) {
		bool hex = c == '0' && i + 1 < n && (s[i + 1] == 'x' || s[i + 1] == 'X'), lz;
		char *copy, *end;
		locale_t old;
		double v;

		/* The whole run a C pp-number would take, so '1e-3f' or '1and'
		 * is one bad number rather than a number and a surprise. */
		i++;
		while (i < n && (is_alnum(s[i]) || s[i] == '.' ||
				 ((s[i] == '+' || s[i] == '-') &&
				  (hex ? (s[i - 1] == 'p' || s[i - 1] == 'P') : (s[i - 1] == 'e' || s[i - 1] == 'E')))))
			i++;
		if (!number_valid(s + start, i - start, &lz)) {
			if (lz)
				return fail(p, start, "bad number '%.*s': leading zeros (C would read it as octal)",
					    (int)(i - start), s + start);
			return fail(p, start, "bad number '%.*s' (C float literals: 1e-3, .5, 5., 0x1p-10)",
				    (int)(i - start > 40 ? 40 : i - start), s + start);
		}
		copy = strndup(s + start, i - start);
		if (!copy)
			return fail(p, start, "out of memory");
		old = use_c_locale();
		errno = 0;
		v = strtod(copy, &end);
		restore_locale(old);
		bool whole = *end == '\0';
		free(copy);
		if (!whole)
			return fail(p, start, "bad number '%.*s'", (int)(i - start > 40 ? 40 : i - start), s + start);
		if (isinf(v))
			return fail(p, start, "number '%.*s' is too large for a double",
				    (int)(i - start > 40 ? 40 : i - start), s + start);
		t->kind = T_NUM;
		t->num = v;
	} else if (is_alpha(c)) {
		static const struct { const char *w; enum tok_kind k; int sub; } words[] = {
			{ "rel", T_VAR, V_REL }, { "max_abs", T_VAR, V_MAX_ABS }, { "mean_abs", T_VAR, V_MEAN_ABS },
			{ "nan", T_VAR, V_NAN }, { "identical", T_IDENT, 0 }, { "inf", T_NUM, 0 },
			{ "and", T_AND, 0 }, { "or", T_OR, 0 }, { "not", T_NOT, 0 },
		};
		size_t k;

		while (i < n && is_alnum(s[i]))
			i++;
		for (k = 0; k < sizeof(words) / sizeof(words[0]); k++)
			if (strlen(words[k].w) == i - start && !memcmp(words[k].w, s + start, i - start))
				break;
		if (k == sizeof(words) / sizeof(words[0]))
			return fail(p, start, "unknown name '%.*s' (names: rel, max_abs, mean_abs, nan, identical, inf)",
				    (int)(i - start > 40 ? 40 : i - start), s + start);
		t->kind = words[k].k;
		t->sub = words[k].sub;
		t->num = INFINITY;
	} else {
		char c1 = i + 1 < n ? s[i + 1] : '\0';

		i++;
		switch (c) {
		case '(': t->kind = T_LP; break;
		case ')': t->kind = T_RP; break;
		case '+': t->kind = T_PLUS; break;
		case '-': t->kind = T_MINUS; break;
		case '<': case '>':
			t->kind = T_CMP;
			if (c1 == '=')
				i++;
			t->sub = c == '<' ? (c1 == '=' ? OP_LE : OP_LT) : (c1 == '=' ? OP_GE : OP_GT);
			break;
		case '=':
			if (c1 != '=')
				return fail(p, start, "'=' is not a comparison: use '=='");
			t->kind = T_CMP;
			t->sub = OP_EQ;
			i++;
			break;
		case '!':
			if (c1 != '=')
				return fail(p, start, "'!' is not an operator: use 'not'");
			t->kind = T_CMP;
			t->sub = OP_NE;
			i++;
			break;
		case '&':
			return fail(p, start, "'%s' is not an operator: use 'and'", c1 == '&' ? "&&" : "&");
		case '|':
			return fail(p, start, "'%s' is not an operator: use 'or'", c1 == '|' ? "||" : "|");
		default:
			if (c > ' ' && c < 0x7f)
				return fail(p, start, "unexpected character '%c'", c);
			return fail(p, start, "unexpected byte 0x%02x", (unsigned char)c);
		}
	}
	t->len = i - start;
	p->pos = i;
	return 0;
}

/* Moves past cur, remembering its text for "after 'X'" messages. */
static int advance(parser *p)
{
	size_t l = p->cur.len < sizeof(p->prev_buf) - 1 ? p->cur.len : sizeof(p->prev_buf) - 1;

	memcpy(p->prev_buf, p->s + p->cur.off, l);
	p->prev_buf[l] = '\0';
	p->prev = p->prev_buf;
	return lex(p);
}

static int new_node(parser *p, enum node_kind kind, size_t off, size_t len)
{
	if (p->nnodes == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		pnode *v = realloc(p->nodes, cap * sizeof(*v));

		if (!v)
			return fail(p, off, "out of memory");
		p->nodes = v;
		p->cap = cap;
	}
	pnode *nd = &p->nodes[p->nnodes];
	memset(nd, 0, sizeof(*nd));
	nd->kind = (unsigned char)kind;
	nd->child = nd->next = -1;
	nd->off = off;
	nd->len = len;
	nd->is_bool = kind == N_IDENT || kind == N_CMP || kind == N_NOT || kind == N_AND || kind == N_OR;
	return (int)p->nnodes++;
}

/* How the current token reads in a message. */
static void found_text(const parser *p, char *buf, size_t size)
{
	if (p->cur.kind == T_END)
		snprintf(buf, size, "the end");
	else
		snprintf(buf, size, "'%.*s'", (int)(p->cur.len > 40 ? 40 : p->cur.len), p->s + p->cur.off);
}

/* A condition is required where node k stands. */
static int need_bool(parser *p, int k)
{
	const pnode *nd = &p->nodes[k];

	if (nd->is_bool)
		return 0;
	if (nd->kind == N_VAR)
		return fail(p, nd->off, "'%s' is a number, not a condition: compare it, e.g. '%s <= 1e-3'",
			    var_text[nd->var], var_text[nd->var]);
	return fail(p, nd->off, "'%.*s' is a number, not a condition", (int)(nd->len > 40 ? 40 : nd->len),
		    p->s + nd->off);
}

static int parse_or(parser *p);

static int deeper(parser *p)
{
	if (++p->depth > DV_RULE_MAX_DEPTH)
		return fail(p, p->cur.off, "nested deeper than %d levels of '(' and 'not'", DV_RULE_MAX_DEPTH);
	return 0;
}

static int parse_primary(parser *p)
{
	token t = p->cur;
	int k;

	switch (t.kind) {
	case T_NUM:
		k = new_node(p, N_NUM, t.off, t.len);
		if (k < 0)
			return -1;
		p->nodes[k].num = t.num;
		return advance(p) < 0 ? -1 : k;
	case T_PLUS:
	case T_MINUS:
		if (advance(p) < 0)
			return -1;
		if (p->cur.kind != T_NUM)
			return fail(p, p->cur.off, "expected a number after '%c'", t.kind == T_PLUS ? '+' : '-');
		k = new_node(p, N_NUM, t.off, p->cur.off + p->cur.len - t.off);
		if (k < 0)
			return -1;
		p->nodes[k].num = t.kind == T_MINUS ? -p->cur.num : p->cur.num;
		return advance(p) < 0 ? -1 : k;
	case T_VAR:
		k = new_node(p, N_VAR, t.off, t.len);
		if (k < 0)
			return -1;
		p->nodes[k].var = (unsigned char)t.sub;
		return advance(p) < 0 ? -1 : k;
	case T_IDENT:
		k = new_node(p, N_IDENT, t.off, t.len);
		if (k < 0)
			return -1;
		return advance(p) < 0 ? -1 : k;
	case T_LP:
		if (deeper(p) < 0 || advance(p) < 0)
			return -1;
		k = parse_or(p);
		if (k < 0)
			return -1;
		if (p->cur.kind != T_RP) {
			char f[64];

			if (p->cur.kind == T_END)
				return fail(p, p->cur.off, "expected ')' to close the '(' at column %zu", t.off + 1);
			found_text(p, f, sizeof(f));
			return fail(p, p->cur.off, "expected 'and', 'or' or ')', found %s", f);
		}
		p->depth--;
		/* A parenthesised number stays a number; its messages point inside. */
		return advance(p) < 0 ? -1 : k;
	default:
		if (p->prev && p->prev[0] && strchr("<>=!", p->prev[0]))
			return fail(p, t.off, "expected a number or a name after '%s'", p->prev);
		if (p->prev)
			return fail(p, t.off, "expected a condition after '%s'", p->prev);
		return fail(p, t.off, "expected a condition");
	}
}

/* Why node k, a condition, cannot be an operand of a comparison. */
static int not_comparable(parser *p, int k)
{
	const pnode *nd = &p->nodes[k];

	if (nd->kind == N_IDENT)
		return fail(p, nd->off, "'identical' is true or false and cannot be compared: "
			    "use it alone ('identical', 'not identical')");
	return fail(p, nd->off, "a condition cannot be compared (only rel, max_abs, mean_abs, nan and numbers)");
}

static int parse_comparison(parser *p)
{
	int first = parse_primary(p), last, k;

	if (first < 0)
		return -1;
	if (p->cur.kind != T_CMP)
		return first;
	if (p->nodes[first].is_bool)
		return not_comparable(p, first);
	k = new_node(p, N_CMP, p->nodes[first].off, 0);
	if (k < 0)
		return -1;
	p->nodes[k].child = first;
	last = first;
	while (p->cur.kind == T_CMP) {
		int op = p->cur.sub, b;

		if (advance(p) < 0)
			return -1;
		b = parse_primary(p);
		if (b < 0)
			return -1;
		if (p->nodes[b].is_bool)
			return not_comparable(p, b);
		p->nodes[last].op = (unsigned char)op;
		p->nodes[last].next = b;
		last = b;
	}
	return k;
}

static int parse_not(parser *p)
{
	size_t off = p->cur.off;
	int c, k;

	if (p->cur.kind != T_NOT)
		return parse_comparison(p);
	if (deeper(p) < 0 || advance(p) < 0)
		return -1;
	c = parse_not(p);
	if (c < 0 || need_bool(p, c) < 0)
		return -1;
	p->depth--;
	k = new_node(p, N_NOT, off, 0);
	if (k < 0)
		return -1;
	p->nodes[k].child = c;
	return k;
}

/* and_expr / or_expr: one n-ary node, so a long 'a or b or ...' is a loop
 * when evaluated, not a deep recursion. */
static int parse_nary(parser *p, enum tok_kind tk, enum node_kind nk, int (*sub)(parser *))
{
	int first = sub(p), last, k;

	if (first < 0)
		return -1;
	if (p->cur.kind != tk)
		return first;
	if (need_bool(p, first) < 0)
		return -1;
	k = new_node(p, nk, p->nodes[first].off, 0);
	if (k < 0)
		return -1;
	p->nodes[k].child = last = first;
	while (p->cur.kind == tk) {
		int b;

		if (advance(p) < 0)
			return -1;
		b = sub(p);
		if (b < 0 || need_bool(p, b) < 0)
			return -1;
		p->nodes[last].next = b;
		last = b;
	}
	return k;
}

static int parse_and(parser *p)
{
	return parse_nary(p, T_AND, N_AND, parse_not);
}

static int parse_or(parser *p)
{
	return parse_nary(p, T_OR, N_OR, parse_and);
}

/* ---- printing ---- */
typedef struct sbuf {
	char *s;
	size_t n, cap;
	bool oom;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *v;

		while (cap < b->n + n + 1)
			cap *= 2;
		v = realloc(b->s, cap);
		if (!v) {
			b->oom = true;
			return;
		}
		b->s = v;
		b->cap = cap;
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = '\0';
}

static void puts_(sbuf *b, const char *s)
{
	put(b, s, strlen(s));
}

void dv_rules_fmt_number(char *buf, size_t size, double v)
{
	locale_t old = use_c_locale();

	if (isinf(v))
		snprintf(buf, size, v < 0 ? "-inf" : "inf");
	else
		for (int prec = 1; prec <= 17; prec++) {
			snprintf(buf, size, "%.*g", prec, v);
			if (strtod(buf, NULL) == v)
				break;
		}
	restore_locale(old);
}

static int prec_of(const pnode *nd)
{
	switch (nd->kind) {
	case N_OR: return 1;
	case N_AND: return 2;
	case N_NOT: return 3;
	default: return 4;
	}
}

static void print_node(sbuf *b, const pnode *nodes, int k)
{
	const pnode *nd = &nodes[k];
	char num[40];

	switch (nd->kind) {
	case N_NUM:
		dv_rules_fmt_number(num, sizeof(num), nd->num);
		puts_(b, num);
		break;
	case N_VAR:
		puts_(b, var_text[nd->var]);
		break;
	case N_IDENT:
		puts_(b, "identical");
		break;
	case N_CMP:
		for (int c = nd->child; c >= 0; c = nodes[c].next) {
			print_node(b, nodes, c);
			if (nodes[c].next >= 0) {
				puts_(b, " ");
				puts_(b, op_text[nodes[c].op]);
				puts_(b, " ");
			}
		}
		break;
	case N_NOT: {
		bool paren = prec_of(&nodes[nd->child]) < 3;

		puts_(b, paren ? "not (" : "not ");
		print_node(b, nodes, nd->child);
		if (paren)
			puts_(b, ")");
		break;
	}
	case N_AND:
	case N_OR:
		for (int c = nd->child; c >= 0; c = nodes[c].next) {
			/* Equal precedence keeps the written grouping: 'a or (b or c)'. */
			bool paren = prec_of(&nodes[c]) <= prec_of(nd);

			if (paren)
				puts_(b, "(");
			print_node(b, nodes, c);
			if (paren)
				puts_(b, ")");
			if (nodes[c].next >= 0)
				puts_(b, nd->kind == N_AND ? " and " : " or ");
		}
		break;
	}
}

/* ---- public ---- */
dv_predicate *dv_rules_parse_predicate(const char *s, size_t n, size_t *err_off, char *msg, size_t msgsize)
{
	parser p;
	dv_predicate *pred = NULL;
	int root = -1;
	sbuf b = { 0 };

	memset(&p, 0, sizeof(p));
	p.s = s;
	p.n = n;
	if (n > DV_RULE_MAX_LEN) {
		fail(&p, 0, "predicate longer than %d bytes", DV_RULE_MAX_LEN);
		goto out;
	}
	if (lex(&p) < 0)
		goto out;
	root = parse_or(&p);
	if (root < 0)
		goto out;
	if (p.cur.kind != T_END) {
		char f[64];

		if (p.cur.kind == T_RP)
			fail(&p, p.cur.off, "unmatched ')'");
		else {
			found_text(&p, f, sizeof(f));
			fail(&p, p.cur.off, "expected 'and', 'or' or the end, found %s", f);
		}
		goto out;
	}
	if (need_bool(&p, root) < 0)
		goto out;
	pred = calloc(1, sizeof(*pred));
	if (!pred) {
		fail(&p, 0, "out of memory");
		goto out;
	}
	print_node(&b, p.nodes, root);
	if (b.oom || !b.s) {
		free(b.s);
		free(pred);
		pred = NULL;
		fail(&p, 0, "out of memory");
		goto out;
	}
	pred->nodes = p.nodes;
	pred->root = root;
	pred->canonical = b.s;
	return pred;
out:
	free(p.nodes);
	*err_off = p.err_off;
	snprintf(msg, msgsize, "%s", p.msg);
	return NULL;
}

dv_predicate *dv_predicate_parse(const char *text, int *column, dv_error *err)
{
	char msg[DV_ERROR_MAX];
	size_t off;
	dv_predicate *pred = dv_rules_parse_predicate(text, strlen(text), &off, msg, sizeof(msg));

	if (!pred) {
		if (column)
			*column = (int)off + 1;
		dv_error_set(err, "column %zu: %s", off + 1, msg);
	}
	return pred;
}

dv_predicate *dv_rules_predicate_le(double threshold)
{
	dv_predicate *pred = calloc(1, sizeof(*pred));
	pnode *nd = calloc(3, sizeof(*nd));
	sbuf b = { 0 };

	if (!pred || !nd)
		goto oom;
	nd[0] = (pnode){ .kind = N_CMP, .is_bool = true, .child = 1, .next = -1 };
	nd[1] = (pnode){ .kind = N_VAR, .var = V_REL, .op = OP_LE, .child = -1, .next = 2 };
	nd[2] = (pnode){ .kind = N_NUM, .num = threshold, .child = -1, .next = -1 };
	print_node(&b, nd, 0);
	if (b.oom || !b.s)
		goto oom;
	pred->nodes = nd;
	pred->root = 0;
	pred->canonical = b.s;
	return pred;
oom:
	free(b.s);
	free(nd);
	free(pred);
	return NULL;
}

static double value(const pnode *nd, const dv_rule_inputs *in)
{
	if (nd->kind == N_NUM)
		return nd->num;
	switch (nd->var) {
	case V_REL: return in->rel;
	case V_MAX_ABS: return in->max_abs;
	case V_MEAN_ABS: return in->mean_abs;
	default: return (double)in->nan_count;
	}
}

static bool compare(double a, int op, double b)
{
	switch (op) {
	case OP_LT: return a < b;
	case OP_LE: return a <= b;
	case OP_GT: return a > b;
	case OP_GE: return a >= b;
	case OP_EQ: return a == b;
	default: return a != b;
	}
}

/* Recursion depth is bounded by DV_RULE_MAX_DEPTH (parentheses and 'not'). */
static bool eval(const pnode *nodes, int k, const dv_rule_inputs *in)
{
	const pnode *nd = &nodes[k];

	switch (nd->kind) {
	case N_IDENT:
		return in->identical;
	case N_CMP:
		for (int c = nd->child; nodes[c].next >= 0; c = nodes[c].next)
			if (!compare(value(&nodes[c], in), nodes[c].op, value(&nodes[nodes[c].next], in)))
				return false;
		return true;
	case N_NOT:
		return !eval(nodes, nd->child, in);
	case N_AND:
		for (int c = nd->child; c >= 0; c = nodes[c].next)
			if (!eval(nodes, c, in))
				return false;
		return true;
	case N_OR:
		for (int c = nd->child; c >= 0; c = nodes[c].next)
			if (eval(nodes, c, in))
				return true;
		return false;
	default:
		return false;            /* a bare number: the parser never lets one through */
	}
}

bool dv_predicate_eval(const dv_predicate *pred, const dv_rule_inputs *in)
{
	return eval(pred->nodes, pred->root, in);
}

const char *dv_predicate_canonical(const dv_predicate *pred)
{
	return pred->canonical;
}

void dv_predicate_free(dv_predicate *pred)
{
	if (!pred)
		return;
	free(pred->nodes);
	free(pred->canonical);
	free(pred);
}
