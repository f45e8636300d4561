/* The object tree: arena allocation, Python reprs, path lookup. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/numfmt.h"
#include "pt_internal.h"

static atomic_bool verify_crc;

void pt_set_verify_crc(bool on)
{
	atomic_store(&verify_crc, on);
}

pt_limits pt_limits_default(void)
{
	return (pt_limits){
		.no_crc_check = !atomic_load(&verify_crc),
		.max_pickle_bytes = (size_t)128 << 20,
		.max_depth = 200,
		.max_stack = (size_t)1 << 20,
		.max_memo = (size_t)1 << 22,
		.max_objects = (size_t)1 << 23,
		.max_string = (size_t)1 << 30,
		.max_record_bytes = (uint64_t)1 << 42,
		.max_memory = (size_t)192 << 20,
	};
}

#define ARENA_BLOCK (64 * 1024)

/* Between pt_reuse_begin and pt_reuse_end (a scan worker's life) the
 * thread keeps one freed arena block and two small files' buffers for the
 * next files: a scan of small files would otherwise malloc and free the
 * same sizes for every file. Not kept past pt_reuse_end. */
static _Thread_local struct {
	bool on;
	arena_block *block;
	uint8_t *buf[2];
	size_t buf_cap[2];
} reuse;

void pt_reuse_begin(void)
{
	reuse.on = true;
}

bool pt_reuse_on(void)
{
	return reuse.on;
}

void pt_reuse_end(void)
{
	free(reuse.block);
	reuse.block = NULL;
	for (int i = 0; i < 2; i++) {
		free(reuse.buf[i]);
		reuse.buf[i] = NULL;
		reuse.buf_cap[i] = 0;
	}
	reuse.on = false;
}

uint8_t *pt_reuse_buf(size_t size, size_t *cap)
{
	for (int i = 0; i < 2; i++)
		if (reuse.buf[i] && reuse.buf_cap[i] >= size) {
			uint8_t *b = reuse.buf[i];

			*cap = reuse.buf_cap[i];
			reuse.buf[i] = NULL;
			return b;
		}
	/* in pages: the next file, a few bytes larger, still fits */
	size = (size + 4095) & ~(size_t)4095;
	*cap = size ? size : 4096;
	return malloc(*cap);
}

void pt_reuse_buf_give(uint8_t *buf, size_t cap)
{
	int small;

	if (!buf)
		return;
	if (reuse.on) {
		for (int i = 0; i < 2; i++)
			if (!reuse.buf[i]) {
				reuse.buf[i] = buf;
				reuse.buf_cap[i] = cap;
				return;
			}
		/* both kept: the larger ones stay (they fit more files) */
		small = reuse.buf_cap[0] <= reuse.buf_cap[1] ? 0 : 1;
		if (cap > reuse.buf_cap[small]) {
			free(reuse.buf[small]);
			reuse.buf[small] = buf;
			reuse.buf_cap[small] = cap;
			return;
		}
	}
	free(buf);
}

void *pt_arena_alloc(pt_file *f, size_t size)
{
	arena_block *b = f->arena;
	size_t align = sizeof(max_align_t);

	size = (size + align - 1) & ~(align - 1);
	if (!size)
		size = align;
	if (!b || b->size - b->used < size) {
		size_t bsize = size > ARENA_BLOCK / 4 ? size : ARENA_BLOCK;
		if (bsize == ARENA_BLOCK && reuse.block) {
			b = reuse.block;
			reuse.block = NULL;
		} else {
			b = malloc(sizeof(*b) + bsize);
		}
		if (!b)
			return NULL;
		b->size = bsize;
		b->used = 0;
		f->mem_used += sizeof(*b) + bsize;
		if (size > ARENA_BLOCK / 4 && f->arena) {
			/* A big one-off: keep filling the current block. */
			b->next = f->arena->next;
			f->arena->next = b;
		} else {
			b->next = f->arena;
			f->arena = b;
		}
	}
	void *p = (char *)b->data + b->used;
	b->used += size;
	return p;
}

char *pt_arena_strndup(pt_file *f, const char *s, size_t len)
{
	char *d = pt_arena_alloc(f, len + 1);

	if (d) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

void pt_arena_free(pt_file *f)
{
	for (pobj *p = f->heap_list, *next; p; p = next) {
		next = p->next_heap;
		if (p->o.kind == PT_DICT) {
			free(p->o.u.dict.keys);
			free(p->o.u.dict.values);
		} else {
			free(p->o.u.seq.items);
		}
	}
	f->heap_list = NULL;
	for (arena_block *b = f->arena, *next; b; b = next) {
		next = b->next;
		if (reuse.on && !reuse.block && b->size == ARENA_BLOCK)
			reuse.block = b;
		else
			free(b);
	}
	f->arena = NULL;
}

pt_file *pt_file_new(const char *name, const pt_limits *limits)
{
	pt_file *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->name = strdup(name ? name : "(buffer)");
	if (!f->name) {
		free(f);
		return NULL;
	}
	f->lim = limits ? *limits : pt_limits_default();
	if (!f->lim.max_memory)
		f->lim.max_memory = pt_limits_default().max_memory;
	f->fd = -1;
	f->format = "pickle";
	return f;
}

const char *pt_file_name(const pt_file *f)
{
	return f->name;
}

const char *pt_file_format(const pt_file *f)
{
	return f->format;
}

const pt_obj *pt_root(const pt_file *f)
{
	return f->root;
}

/* ---- repr ---- */

/* Text under construction: a caller's buffer (cut at size - 1) or, when
 * grow is set, a malloc'd one that grows (oom set when that fails). */
typedef struct sbuf {
	char *buf;
	size_t size, len;
	bool grow, oom;
} sbuf;

static void put(sbuf *s, const char *p, size_t n)
{
	if (s->grow) {
		if (s->oom)
			return;
		if (s->len + n + 1 > s->size) {
			size_t cap = s->size ? s->size : 64;
			char *q;

			while (s->len + n + 1 > cap)
				cap *= 2;
			q = realloc(s->buf, cap);
			if (!q) {
				s->oom = true;
				return;
			}
			s->buf = q;
			s->size = cap;
		}
		memcpy(s->buf + s->len, p, n);
		s->len += n;
		s->buf[s->len] = '\0';
		return;
	}
	if (s->size && s->len < s->size - 1) {
		size_t room = s->size - 1 - s->len;
		memcpy(s->buf + s->len, p, n < room ? n : room);
		s->len += n < room ? n : room;
		s->buf[s->len] = '\0';
	}
}

static void puts_(sbuf *s, const char *p)
{
	put(s, p, strlen(p));
}

static void putf(sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void putf(sbuf *s, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(s, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Decodes one UTF-8 sequence; returns its length, or 0 if invalid. */
static int utf8_decode(const unsigned char *p, size_t left, uint32_t *cp)
{
	int n;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if ((p[0] & 0xe0) == 0xc0) {
		n = 2;
		*cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3;
		*cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		n = 4;
		*cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if ((size_t)n > left)
		return 0;
	for (int i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 2 && *cp < 0x80) || (n == 3 && *cp < 0x800) || (n == 4 && (*cp < 0x10000 || *cp > 0x10ffff)))
		return 0;
	return n;
}

static void repr_text(sbuf *s, const char *data, size_t len, bool bytes)
{
	const unsigned char *p = (const unsigned char *)data;
	bool has_single = memchr(data, '\'', len) != NULL, has_double = memchr(data, '"', len) != NULL;
	char q = has_single && !has_double ? '"' : '\'';

	if (bytes)
		put(s, "b", 1);
	put(s, &q, 1);
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		int n = bytes ? (p[i] < 0x80) : utf8_decode(p + i, len - i, &cp);
		if (bytes)
			cp = p[i];
		if (n == 0 || (bytes && p[i] >= 0x7f)) {
			putf(s, "\\x%02x", p[i]);
			i++;
			continue;
		}
		if (cp == '\\' || cp == (uint32_t)q) {
			put(s, "\\", 1);
			put(s, (const char *)p + i, 1);
		} else if (cp == '\n') {
			puts_(s, "\\n");
		} else if (cp == '\r') {
			puts_(s, "\\r");
		} else if (cp == '\t') {
			puts_(s, "\\t");
		} else if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || cp == 0xad) {
			putf(s, "\\x%02x", (unsigned)cp);
		} else if (cp == 0x2028 || cp == 0x2029) {
			putf(s, "\\u%04x", (unsigned)cp);
		} else {
			put(s, (const char *)p + i, n);
		}
		i += n;
	}
	put(s, &q, 1);
}

/* full: pt_print's form (objects with their arguments and state, tensors
 * described, no depth limit); else pt_repr's (<cls>, <tensor dtype>). */
static void repr_obj(sbuf *s, const pt_obj *o, int depth, bool full)
{
	if (!o) {
		puts_(s, "None");
		return;
	}
	if (depth > 16 && !full) {
		puts_(s, "...");
		return;
	}
	switch (o->kind) {
	case PT_NONE:
		puts_(s, "None");
		break;
	case PT_BOOL:
		puts_(s, o->u.b ? "True" : "False");
		break;
	case PT_INT:
		putf(s, "%lld", (long long)o->u.i);
		break;
	case PT_FLOAT: {
		char num[40];

		puts_(s, dv_fmt_double(num, sizeof(num), o->u.f));
		break;
	}
	case PT_STR:
	case PT_BYTES:
		repr_text(s, o->u.str.data, o->u.str.len, o->kind == PT_BYTES);
		break;
	case PT_LIST:
	case PT_TUPLE:
	case PT_SET:
		if (o->kind == PT_SET && !o->u.seq.len) {
			puts_(s, "set()");
			break;
		}
		puts_(s, o->kind == PT_LIST ? "[" : o->kind == PT_TUPLE ? "(" : "{");
		for (size_t i = 0; i < o->u.seq.len; i++) {
			if (i)
				puts_(s, ", ");
			repr_obj(s, o->u.seq.items[i], depth + 1, full);
		}
		if (o->kind == PT_TUPLE && o->u.seq.len == 1)
			puts_(s, ",");
		puts_(s, o->kind == PT_LIST ? "]" : o->kind == PT_TUPLE ? ")" : "}");
		break;
	case PT_DICT:
		puts_(s, "{");
		for (size_t i = 0; i < o->u.dict.len; i++) {
			if (i)
				puts_(s, ", ");
			repr_obj(s, o->u.dict.keys[i], depth + 1, full);
			puts_(s, ": ");
			repr_obj(s, o->u.dict.values[i], depth + 1, full);
		}
		puts_(s, "}");
		break;
	case PT_OBJECT:
		if (!full) {
			putf(s, "<");
			puts_(s, o->u.object.cls ? o->u.object.cls : "object");
			putf(s, ">");
			break;
		}
		puts_(s, o->u.object.cls ? o->u.object.cls : "object");
		puts_(s, "(");
		if (o->u.object.args)
			repr_obj(s, o->u.object.args, depth + 1, full);
		if (o->u.object.state) {
			puts_(s, ", state=");
			repr_obj(s, o->u.object.state, depth + 1, full);
		}
		puts_(s, ")");
		break;
	case PT_TENSOR:
		if (!full) {
			putf(s, "<tensor %s>", dv_dtype_name(o->u.tensor.dtype));
			break;
		}
		/* inside a container: described, not its values */
		char shape[256];

		dv_fmt_shape(shape, sizeof(shape), o->u.tensor.ndim, o->u.tensor.shape);
		puts_(s, "tensor(shape=");
		puts_(s, shape);
		puts_(s, ", dtype=");
		puts_(s, dv_dtype_name(o->u.tensor.dtype));
		puts_(s, ")");
		break;
	}
}

size_t pt_repr(const pt_obj *o, char *buf, size_t size)
{
	sbuf s = { buf, size, 0, false, false };

	if (size)
		buf[0] = '\0';
	if (o)
		repr_obj(&s, o, 0, false);
	return s.len;
}

char *pt_print(const pt_obj *o, size_t *len)
{
	sbuf s = { NULL, 0, 0, true, false };

	repr_obj(&s, o, 0, true);
	put(&s, "", 0);
	if (s.oom) {
		free(s.buf);
		return NULL;
	}
	if (len)
		*len = s.len;
	return s.buf;
}

const char *pt_kind_name(pt_kind k)
{
	static const char *const names[] = {
		[PT_NONE] = "None", [PT_BOOL] = "bool", [PT_INT] = "int", [PT_FLOAT] = "float",
		[PT_STR] = "str", [PT_BYTES] = "bytes", [PT_LIST] = "list", [PT_TUPLE] = "tuple",
		[PT_SET] = "set", [PT_DICT] = "dict", [PT_OBJECT] = "object", [PT_TENSOR] = "tensor",
	};

	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

/* ---- lookup ---- */

const pt_obj *pt_dict_get(const pt_obj *dict, const char *key)
{
	size_t klen;
	const pt_obj *found = NULL;

	if (!dict || dict->kind != PT_DICT || !key)
		return NULL;
	klen = strlen(key);
	/* The last of equal keys wins, as when Python builds the dict. */
	for (size_t i = 0; i < dict->u.dict.len; i++) {
		const pt_obj *k = dict->u.dict.keys[i];
		if (k->kind == PT_STR && k->u.str.len == klen && !memcmp(k->u.str.data, key, klen))
			found = dict->u.dict.values[i];
	}
	return found;
}

/* Finds the end of one bracketed segment, skipping quoted text and nested brackets. */
static const char *segment_end(const char *p)
{
	int nest = 0;

	for (; *p; p++) {
		if (*p == '\'' || *p == '"') {
			char q = *p++;
			while (*p && *p != q) {
				if (*p == '\\' && p[1])
					p++;
				p++;
			}
			if (!*p)
				return NULL;
		} else if (*p == '[' || *p == '(' || *p == '{') {
			nest++;
		} else if (*p == ']' || *p == ')' || *p == '}') {
			if (nest == 0)
				return *p == ']' ? p : NULL;
			nest--;
		}
	}
	return NULL;
}

static bool token_is(const pt_obj *key, const char *tok, size_t len)
{
	char buf[1024];
	size_t n = pt_repr(key, buf, sizeof(buf));

	return n == len && n < sizeof(buf) - 1 && !memcmp(buf, tok, len);
}

/* A double-quoted key is accepted too: "$[\"value\"]" (simple escapes). */
static bool token_is_dq_str(const pt_obj *key, const char *tok, size_t len)
{
	char buf[1024];
	size_t n = 0;

	if (key->kind != PT_STR || len < 2 || tok[0] != '"' || tok[len - 1] != '"')
		return false;
	for (size_t i = 1; i + 1 < len && n < sizeof(buf); i++) {
		if (tok[i] == '\\' && i + 2 < len)
			i++;
		buf[n++] = tok[i];
	}
	return n == key->u.str.len && !memcmp(buf, key->u.str.data, n);
}

const pt_obj *pt_lookup(const pt_obj *root, const char *path)
{
	const pt_obj *o = root;
	const char *p = path;

	if (!root || !path || *p != '$')
		return NULL;
	p++;
	while (*p) {
		const char *end;
		size_t len;

		if (*p != '[')
			return NULL;
		end = segment_end(p + 1);
		if (!end)
			return NULL;
		len = end - (p + 1);
		const char *tok = p + 1;
		const pt_obj *next = NULL;
		if (o->kind == PT_DICT) {
			for (size_t i = 0; i < o->u.dict.len; i++)
				if (token_is(o->u.dict.keys[i], tok, len) || token_is_dq_str(o->u.dict.keys[i], tok, len))
					next = o->u.dict.values[i];
		} else if (o->kind == PT_LIST || o->kind == PT_TUPLE || o->kind == PT_SET) {
			char num[32], *e;
			if (len == 0 || len >= sizeof(num))
				return NULL;
			memcpy(num, tok, len);
			num[len] = '\0';
			long long idx = strtoll(num, &e, 10);
			if (*e)
				return NULL;
			if (idx < 0)
				idx += (long long)o->u.seq.len;
			if (idx < 0 || (unsigned long long)idx >= o->u.seq.len)
				return NULL;
			next = o->u.seq.items[idx];
		}
		if (!next)
			return NULL;
		o = next;
		p = end + 1;
	}
	return o;
}

/* ---- dump payloads ---- */

static bool is_value_meta(const pt_obj *root)
{
	return root && root->kind == PT_DICT && pt_dict_get(root, "value") && pt_dict_get(root, "meta");
}

const pt_obj *pt_dump_value(const pt_file *f)
{
	if (!f || !f->root)
		return NULL;
	return is_value_meta(f->root) ? pt_dict_get(f->root, "value") : f->root;
}

const pt_obj *pt_dump_meta(const pt_file *f)
{
	const pt_obj *m;

	if (!f || !is_value_meta(f->root))
		return NULL;
	m = pt_dict_get(f->root, "meta");
	return m && m->kind == PT_DICT ? m : NULL;
}
