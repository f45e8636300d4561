/* The pickle machine: protocol 2-5 opcodes, bounded in every dimension.
 * Nothing is ever executed: GLOBALs on an allow-list are interpreted (tensor
 * rebuilds, OrderedDict, set...), anything else becomes an opaque object. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pickle.h"
#include "pt_internal.h"

typedef struct unpickler {
	pt_file *f;
	pt_unpickled *res;       /* what the caller gets back */
	const uint8_t *data;
	size_t len, pos;
	size_t op_pos;           /* where the current opcode starts, for messages */
	pobj **stack;
	size_t sp, stack_cap;
	size_t *marks;
	size_t nmarks, marks_cap;
	pobj *none, *yes, *no;   /* shared: immutable and common */
	pobj **memo;
	size_t memo_len;         /* allocated slots */
	size_t memo_count;       /* defined entries: MEMOIZE's next index */
	dv_error *err;
	/* the first slots of stack, marks and memo: a small pickle (a tensor
	 * and its meta) never allocates them */
	pobj *stack0[64];
	size_t marks0[32];
	pobj *memo0[64];
} unpickler;

/* ---- errors ---- */

static int fail(unpickler *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(unpickler *u, const char *fmt, ...)
{
	char why[DV_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return dv_error_set(u->err, "%s: pickle: %s (at byte %zu)", u->f->name, why, u->op_pos);
}

/* ---- nodes ---- */

static bool over_budget(unpickler *u)
{
	if (u->f->mem_used <= u->f->lim.max_memory)
		return false;
	fail(u, "object tree larger than %zu MiB", u->f->lim.max_memory >> 20);
	return true;
}

static pobj *node(unpickler *u, pt_kind kind)
{
	pt_file *f = u->f;
	size_t size;
	pobj *p;

	if (f->nobjects >= f->lim.max_objects) {
		fail(u, "more than %zu objects", f->lim.max_objects);
		return NULL;
	}
	if (over_budget(u))
		return NULL;
	/* Non-tensor nodes leave out the pt_tensor part of the union. (Each
	 * memset of a constant size: a few stores, not a call.) */
	if (kind == PT_TENSOR) {
		size = sizeof(pobj);
		if ((p = pt_arena_alloc_fast(f, size)))
			memset(p, 0, sizeof(pobj));
	} else {
		size = offsetof(pobj, o) + offsetof(pt_obj, u) + sizeof(((pt_obj *)0)->u.dict);
		if ((p = pt_arena_alloc_fast(f, size)))
			memset(p, 0, offsetof(pobj, o) + offsetof(pt_obj, u) + sizeof(((pt_obj *)0)->u.dict));
	}
	if (!p) {
		fail(u, "out of memory");
		return NULL;
	}
	p->o.kind = kind;
	p->nodes = 1;
	f->nobjects++;
	return p;
}

static pobj *str_node(unpickler *u, pt_kind kind, const char *s, size_t len)
{
	pobj *p = node(u, kind);

	if (!p)
		return NULL;
	char *d = pt_arena_alloc_fast(u->f, len + 1);

	if (!d) {
		fail(u, "out of memory");
		return NULL;
	}
	memcpy(d, s, len);
	d[len] = '\0';
	p->o.u.str.data = d;
	p->o.u.str.len = len;
	return p;
}

/* child becomes part of parent: it is sealed (immutable from now on), which
 * rules out cycles; depth and reachable-node counts are bounded. */
static int adopt(unpickler *u, pobj *parent, pobj *child)
{
	if (child == parent)
		return fail(u, "an object contains itself");
	child->sealed = true;
	if (child->depth + 1 > parent->depth) {
		parent->depth = child->depth + 1;
		if (parent->depth > u->f->lim.max_depth)
			return fail(u, "nesting deeper than %zu", u->f->lim.max_depth);
	}
	parent->nodes += child->nodes;
	if (parent->nodes > u->f->lim.max_objects)
		return fail(u, "object tree has more than %zu nodes", u->f->lim.max_objects);
	return 0;
}

static int check_mutable(unpickler *u, pobj *p, const char *op)
{
	if (p->sealed)
		return fail(u, "%s on an object already inside another (recursive structures are not supported)", op);
	return 0;
}

static int grow_slow(unpickler *u, pobj *p, size_t need);

/* Room for need items in a growable item array (list/set items, dict
 * keys+values); the common case, room left, inline. */
static inline int grow(unpickler *u, pobj *p, size_t need)
{
	return need <= p->cap ? 0 : grow_slow(u, p, need);
}

static int grow_slow(unpickler *u, pobj *p, size_t need)
{
	size_t cap, k = p->o.kind == PT_DICT ? 2 : 1;
	size_t len = k == 2 ? p->o.u.dict.len : p->o.u.seq.len;
	pt_obj **cur[2] = { NULL, NULL }, **a[2];

	if (need <= p->cap)
		return 0;
	cap = p->cap ? p->cap * 2 : 8;
	while (cap < need)
		cap *= 2;
	if (k == 2) {
		cur[0] = p->o.u.dict.keys;
		cur[1] = p->o.u.dict.values;
	} else {
		cur[0] = p->o.u.seq.items;
	}
	if (!p->cap) {
		/* the first items in the arena: most containers stay this small,
		 * and a file holds dozens of them */
		for (size_t i = 0; i < k; i++)
			if (!(a[i] = pt_arena_alloc(u->f, cap * sizeof(pt_obj *))))
				return fail(u, "out of memory");
	} else if (!p->heap_items) {
		/* outgrown: malloc'd arrays from now on, freed at close */
		for (size_t i = 0; i < k; i++) {
			if (!(a[i] = malloc(cap * sizeof(pt_obj *)))) {
				if (i)
					free(a[0]);
				return fail(u, "out of memory");
			}
			memcpy(a[i], cur[i], len * sizeof(pt_obj *));
		}
		p->heap_items = true;
		p->next_heap = u->f->heap_list;
		u->f->heap_list = p;
		u->f->mem_used += cap * sizeof(pt_obj *) * k;
	} else {
		for (size_t i = 0; i < k; i++) {
			if (!(a[i] = realloc(cur[i], cap * sizeof(pt_obj *))))
				return fail(u, "out of memory");
			/* stored at once: a failure of the second leaves the first owned */
			if (k == 2 && i == 0)
				p->o.u.dict.keys = a[0];
		}
		u->f->mem_used += (cap - p->cap) * sizeof(pt_obj *) * k;
	}
	if (k == 2) {
		p->o.u.dict.keys = a[0];
		p->o.u.dict.values = a[1];
	} else {
		p->o.u.seq.items = a[0];
	}
	p->cap = cap;
	if (over_budget(u))
		return -1;
	return 0;
}

static int seq_add(unpickler *u, pobj *seq, pobj *item)
{
	if (grow(u, seq, seq->o.u.seq.len + 1) || adopt(u, seq, item))
		return -1;
	seq->o.u.seq.items[seq->o.u.seq.len++] = &item->o;
	return 0;
}

static int dict_add(unpickler *u, pobj *dict, pobj *key, pobj *value)
{
	if (grow(u, dict, dict->o.u.dict.len + 1) || adopt(u, dict, key) || adopt(u, dict, value))
		return -1;
	dict->o.u.dict.keys[dict->o.u.dict.len] = &key->o;
	dict->o.u.dict.values[dict->o.u.dict.len++] = &value->o;
	return 0;
}

/* An immutable sequence (tuple/frozenset) of n given items, in the arena. */
static pobj *fixed_seq(unpickler *u, pt_kind kind, pobj **items, size_t n)
{
	pobj *p = node(u, kind);

	if (!p)
		return NULL;
	if (n) {
		p->o.u.seq.items = pt_arena_alloc(u->f, n * sizeof(pt_obj *));
		if (!p->o.u.seq.items) {
			fail(u, "out of memory");
			return NULL;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (adopt(u, p, items[i]))
			return NULL;
		p->o.u.seq.items[i] = &items[i]->o;
	}
	p->o.u.seq.len = n;
	p->fixed = true;
	return p;
}

/* ---- stack, marks, memo ---- */

static int push_slow(unpickler *u, pobj *p);

/* The common case inline: room on the stack, under the limit. */
static inline __attribute__((always_inline)) int push(unpickler *u, pobj *p)
{
	if (!p)
		return -1;
	if (__builtin_expect(u->sp < u->stack_cap && u->sp < u->f->lim.max_stack, 1)) {
		u->stack[u->sp++] = p;
		return 0;
	}
	return push_slow(u, p);
}

static int push_slow(unpickler *u, pobj *p)
{
	if (u->sp >= u->f->lim.max_stack)
		return fail(u, "stack deeper than %zu", u->f->lim.max_stack);
	if (u->sp == u->stack_cap) {
		size_t cap = u->stack_cap * 2;
		pobj **s = realloc(u->stack == u->stack0 ? NULL : u->stack, cap * sizeof(*s));
		if (!s)
			return fail(u, "out of memory");
		if (u->stack == u->stack0)
			memcpy(s, u->stack0, sizeof(u->stack0));
		u->stack = s;
		u->stack_cap = cap;
	}
	u->stack[u->sp++] = p;
	return 0;
}

/* The stack floor: nothing below the innermost mark may be popped. */
static inline size_t floor_sp(const unpickler *u)
{
	return u->nmarks ? u->marks[u->nmarks - 1] : 0;
}

static inline pobj *pop(unpickler *u)
{
	if (u->sp <= floor_sp(u)) {
		fail(u, "stack underflow");
		return NULL;
	}
	return u->stack[--u->sp];
}

static inline pobj *top(unpickler *u)
{
	if (u->sp <= floor_sp(u)) {
		fail(u, "stack underflow");
		return NULL;
	}
	return u->stack[u->sp - 1];
}

/* The object just below a popped mark (the target of APPENDS/SETITEMS). */
static pobj *below(unpickler *u, size_t base)
{
	if (base == 0 || base <= floor_sp(u)) {
		fail(u, "stack underflow");
		return NULL;
	}
	return u->stack[base - 1];
}

static int mark(unpickler *u)
{
	if (u->nmarks >= u->f->lim.max_stack)
		return fail(u, "more than %zu marks", u->f->lim.max_stack);
	if (u->nmarks == u->marks_cap) {
		size_t cap = u->marks_cap * 2;
		size_t *m = realloc(u->marks == u->marks0 ? NULL : u->marks, cap * sizeof(*m));
		if (!m)
			return fail(u, "out of memory");
		if (u->marks == u->marks0)
			memcpy(m, u->marks0, sizeof(u->marks0));
		u->marks = m;
		u->marks_cap = cap;
	}
	u->marks[u->nmarks++] = u->sp;
	return 0;
}

/* Pops to the innermost mark: items are stack[*base .. sp). */
static int pop_mark(unpickler *u, size_t *base)
{
	if (!u->nmarks)
		return fail(u, "no MARK on the stack");
	*base = u->marks[--u->nmarks];
	return 0;
}

static int memo_put_slow(unpickler *u, uint64_t idx, pobj *p);

/* The common case inline: an index inside the memo as it is, under the limit. */
static inline __attribute__((always_inline)) int memo_put(unpickler *u, uint64_t idx)
{
	pobj *p = top(u);

	if (!p)
		return -1;
	if (__builtin_expect(idx < u->memo_len && idx < u->f->lim.max_memo, 1)) {
		u->memo_count += !u->memo[idx];
		u->memo[idx] = p;
		return 0;
	}
	return memo_put_slow(u, idx, p);
}

static int memo_put_slow(unpickler *u, uint64_t idx, pobj *p)
{
	if (idx >= u->f->lim.max_memo)
		return fail(u, "memo index %llu beyond the limit %zu", (unsigned long long)idx, u->f->lim.max_memo);
	if (idx >= u->memo_len) {
		size_t len = u->memo_len;
		while (len <= idx)
			len *= 2;
		if (len > u->f->lim.max_memo)
			len = u->f->lim.max_memo;
		pobj **m = realloc(u->memo == u->memo0 ? NULL : u->memo, len * sizeof(*m));
		if (!m)
			return fail(u, "out of memory");
		if (u->memo == u->memo0)
			memcpy(m, u->memo0, sizeof(u->memo0));
		memset(m + u->memo_len, 0, (len - u->memo_len) * sizeof(*m));
		u->memo = m;
		u->memo_len = len;
	}
	if (!u->memo[idx])
		u->memo_count++;
	u->memo[idx] = p;
	return 0;
}

static int memo_get(unpickler *u, uint64_t idx)
{
	if (idx >= u->memo_len || !u->memo[idx])
		return fail(u, "memo index %llu not defined", (unsigned long long)idx);
	return push(u, u->memo[idx]);
}

/* ---- reading the byte stream ---- */

static inline const uint8_t *take(unpickler *u, uint64_t n)
{
	const uint8_t *p;

	if (n > u->len - u->pos) {
		u->res->truncated = true;
		fail(u, "truncated: needs %llu more bytes, %zu left", (unsigned long long)n, u->len - u->pos);
		return NULL;
	}
	p = u->data + u->pos;
	u->pos += n;
	return p;
}

static inline uint64_t le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	/* the widths opcodes use spelled out: a constant n then needs no loop */
	switch (n) {
	case 1:
		return p[0];
	case 2:
		return p[0] | (uint64_t)p[1] << 8;
	case 4:
		return p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
	}
	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline int read_uint(unpickler *u, int n, uint64_t *v)
{
	const uint8_t *p = take(u, n);

	if (!p)
		return -1;
	*v = le(p, n);
	return 0;
}

/* A line of GLOBAL ("module\n"), bounded by max_string. */
static const char *read_line(unpickler *u, size_t *len)
{
	const uint8_t *start = u->data + u->pos;
	size_t left = u->len - u->pos;
	const uint8_t *nl = memchr(start, '\n', left);

	if (!nl) {
		u->res->truncated = true;
		fail(u, "truncated GLOBAL");
		return NULL;
	}
	*len = nl - start;
	if (*len > u->f->lim.max_string) {
		fail(u, "GLOBAL name longer than %zu bytes", u->f->lim.max_string);
		return NULL;
	}
	u->pos += *len + 1;
	return (const char *)start;
}

static int push_counted(unpickler *u, pt_kind kind, uint64_t n)
{
	const uint8_t *p;

	if (n > u->f->lim.max_string)
		return fail(u, "string of %llu bytes is longer than the limit %zu", (unsigned long long)n,
			    u->f->lim.max_string);
	p = take(u, n);
	if (!p)
		return -1;
	return push(u, str_node(u, kind, (const char *)p, n));
}

/* LONG1/LONG4: little-endian two's complement. */
static int push_long(unpickler *u, uint64_t n)
{
	const uint8_t *p = take(u, n);
	pobj *o;

	if (!p)
		return -1;
	if (n <= 8) {
		uint64_t v = le(p, (int)n);
		if (n && n < 8 && (p[n - 1] & 0x80))
			v |= ~(uint64_t)0 << (8 * n);
		o = node(u, PT_INT);
		if (!o)
			return -1;
		o->o.u.i = (int64_t)v;
		return push(u, o);
	}
	/* Wider than 64 bits: kept as an opaque value. */
	o = node(u, PT_OBJECT);
	if (!o)
		return -1;
	o->o.u.object.cls = "builtins.int";
	return push(u, o);
}

static pobj *global_node(unpickler *u, const char *mod, size_t mlen, const char *name, size_t nlen)
{
	pobj *p = node(u, PT_OBJECT);
	char *cls;

	if (!p)
		return NULL;
	if (mlen == 11 && !memcmp(mod, "__builtin__", 11)) {
		mod = "builtins";
		mlen = 8;
	}
	cls = pt_arena_alloc(u->f, mlen + nlen + 2);
	if (!cls) {
		fail(u, "out of memory");
		return NULL;
	}
	memcpy(cls, mod, mlen);
	cls[mlen] = '.';
	memcpy(cls + mlen + 1, name, nlen);
	cls[mlen + 1 + nlen] = '\0';
	p->o.u.object.cls = cls;
	p->tag = TAG_GLOBAL;
	return p;
}

static bool is_global(const pobj *p, const char *cls)
{
	return p && p->tag == TAG_GLOBAL && !strcmp(p->o.u.object.cls, cls);
}

/* ---- interpreting allow-listed calls ---- */

static const struct {
	const char *name;
	dv_dtype dtype;
} storage_types[] = {
	{ "DoubleStorage", DV_FLOAT64 }, { "FloatStorage", DV_FLOAT32 },
	{ "HalfStorage", DV_FLOAT16 }, { "BFloat16Storage", DV_BFLOAT16 },
	{ "LongStorage", DV_INT64 }, { "IntStorage", DV_INT32 },
	{ "ShortStorage", DV_INT16 }, { "CharStorage", DV_INT8 },
	{ "ByteStorage", DV_UINT8 }, { "BoolStorage", DV_BOOL },
	{ "ComplexDoubleStorage", DV_COMPLEX128 }, { "ComplexFloatStorage", DV_COMPLEX64 },
	{ "QInt8Storage", DV_QINT8 }, { "QUInt8Storage", DV_QUINT8 },
	{ "QInt32Storage", DV_QINT32 }, { "QUInt4x2Storage", DV_QUINT4X2 },
	{ "QUInt2x4Storage", DV_QUINT2X4 },
};

/* The dtype of a storage GLOBAL; DV_DTYPE_INVALID for UntypedStorage.
 * Returns false if the global is not a storage class. */
static bool storage_dtype(const pobj *g, dv_dtype *dt)
{
	const char *cls;

	if (!g || g->tag != TAG_GLOBAL)
		return false;
	cls = g->o.u.object.cls;
	if (!strcmp(cls, "torch.storage.UntypedStorage") || !strcmp(cls, "torch.UntypedStorage") ||
	    !strcmp(cls, "torch.storage._UntypedStorage")) {
		*dt = DV_DTYPE_INVALID;
		return true;
	}
	if (!strncmp(cls, "torch.cuda.", 11))
		cls += 11;
	else if (!strncmp(cls, "torch.", 6))
		cls += 6;
	else
		return false;
	for (size_t i = 0; i < sizeof(storage_types) / sizeof(storage_types[0]); i++)
		if (!strcmp(cls, storage_types[i].name)) {
			*dt = storage_types[i].dtype;
			return true;
		}
	return false;
}

static bool is_str(const pobj *p, const char *s)
{
	return p && p->o.kind == PT_STR && p->o.u.str.len == strlen(s) && !memcmp(p->o.u.str.data, s, p->o.u.str.len);
}

static pobj *item(const pobj *seq, size_t i)
{
	return POBJ(seq->o.u.seq.items[i]);
}

static bool is_seq(const pobj *p)
{
	return p && (p->o.kind == PT_TUPLE || p->o.kind == PT_LIST);
}

/* Each storage is reported to the caller, which resolves it to a record. */
static int add_storage(unpickler *u, const char *key, size_t itemsize)
{
	pt_unpickled *r = u->res;

	if (r->nstorages == r->cap_storages) {
		size_t cap = r->cap_storages ? r->cap_storages * 2 : 16;
		pt_storage_ref *st = realloc(r->storages, cap * sizeof(*st));
		if (!st)
			return fail(u, "out of memory");
		r->storages = st;
		r->cap_storages = cap;
	}
	r->storages[r->nstorages++] = (pt_storage_ref){ .key = key, .itemsize = itemsize };
	return 0;
}

/* BINPERSID: ('storage', storage_type, key, location, numel[, view_metadata]) */
static int persistent_load(unpickler *u)
{
	pobj *pid = pop(u), *st;
	dv_dtype dt;

	if (!pid)
		return -1;
	if (pid->o.kind != PT_TUPLE || pid->o.u.seq.len < 5 || !is_str(item(pid, 0), "storage"))
		return fail(u, "unsupported persistent id (not a storage tuple)");
	if (!storage_dtype(item(pid, 1), &dt))
		return fail(u, "unsupported storage type %s",
			    item(pid, 1)->o.kind == PT_OBJECT ? item(pid, 1)->o.u.object.cls : "(not a class)");
	pobj *key = item(pid, 2), *loc = item(pid, 3), *numel = item(pid, 4);
	if (key->o.kind != PT_STR)
		return fail(u, "storage key is not a string");
	/* Legacy view metadata (view_key, offset, size) on a storage slice. */
	if (pid->o.u.seq.len > 5 && item(pid, 5)->o.kind != PT_NONE)
		return fail(u, "legacy storage views are not supported");
	if (numel->o.kind != PT_INT || numel->o.u.i < 0)
		return fail(u, "storage size is not a non-negative integer");
	st = node(u, PT_OBJECT);
	if (!st)
		return -1;
	st->tag = TAG_STORAGE;
	st->o.u.object.cls = "torch.storage";
	st->key = key->o.u.str.data;
	if (strlen(st->key) != key->o.u.str.len || key->o.u.str.len > 256 ||
	    strchr(st->key, '/') || !st->key[0] || !strcmp(st->key, "..") || !strcmp(st->key, "."))
		return fail(u, "bad storage key");
	st->location = loc->o.kind == PT_STR ? loc->o.u.str.data : "unknown";
	if (add_storage(u, st->key, dt == DV_DTYPE_INVALID ? 1 : dv_dtype_size(dt)))
		return -1;
	st->dtype = dt;
	st->numel = numel->o.u.i;
	return push(u, st);
}

static int int_tuple(unpickler *u, const pobj *p, const char *what, int64_t *out, int *n)
{
	if (!is_seq(p))
		return fail(u, "tensor %s is not a tuple", what);
	if (p->o.u.seq.len > PT_MAX_DIMS)
		return fail(u, "tensor has %zu dimensions, more than %d", p->o.u.seq.len, PT_MAX_DIMS);
	for (size_t i = 0; i < p->o.u.seq.len; i++) {
		const pobj *e = item(p, i);
		if (e->o.kind != PT_INT || e->o.u.i < 0)
			return fail(u, "tensor %s has an entry that is not a non-negative integer", what);
		out[i] = e->o.u.i;
	}
	*n = (int)p->o.u.seq.len;
	return 0;
}

static int add_tensor(unpickler *u, pt_tensor *t)
{
	pt_unpickled *r = u->res;

	if (r->ntensors == r->cap_tensors) {
		size_t cap = r->cap_tensors ? r->cap_tensors * 2 : 16;
		pt_tensor **ts = realloc(r->tensors, cap * sizeof(*ts));
		if (!ts)
			return fail(u, "out of memory");
		r->tensors = ts;
		r->cap_tensors = cap;
	}
	r->tensors[r->ntensors++] = t;
	return 0;
}

/* Shape/stride/offset/requires_grad common to the rebuild functions. */
static int fill_geometry(unpickler *u, pt_tensor *t, const pobj *size, const pobj *stride, int64_t offset)
{
	int nd, ns;

	if (int_tuple(u, size, "size", t->shape, &nd) || int_tuple(u, stride, "stride", t->stride, &ns))
		return -1;
	if (nd != ns)
		return fail(u, "tensor size has %d dimensions but stride has %d", nd, ns);
	if (offset < 0)
		return fail(u, "negative storage offset");
	t->ndim = nd;
	t->storage_offset = offset;
	t->numel = 1;
	for (int i = 0; i < nd; i++)
		if (__builtin_mul_overflow(t->numel, t->shape[i], &t->numel))
			return fail(u, "tensor element count overflows");
	return 0;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])
 * _rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype[, metadata]) */
static pobj *rebuild_tensor(unpickler *u, const pobj *args, bool v3)
{
	size_t n = args->o.u.seq.len, need = v3 ? 7 : 6;
	pobj *st, *t;
	const pobj *meta = NULL;

	if (n < need) {
		fail(u, "_rebuild_tensor_%s with %zu arguments", v3 ? "v3" : "v2", n);
		return NULL;
	}
	st = item(args, 0);
	if (st->tag != TAG_STORAGE) {
		fail(u, "tensor rebuilt from something that is not a storage");
		return NULL;
	}
	if (item(args, 1)->o.kind != PT_INT) {
		fail(u, "tensor storage offset is not an integer");
		return NULL;
	}
	t = node(u, PT_TENSOR);
	if (!t)
		return NULL;
	pt_tensor *tt = &t->o.u.tensor;
	if (fill_geometry(u, tt, item(args, 2), item(args, 3), item(args, 1)->o.u.i))
		return NULL;
	tt->requires_grad = item(args, 4)->o.kind == PT_BOOL && item(args, 4)->o.u.b;
	if (v3) {
		const pobj *d = item(args, 6);
		tt->dtype = d->tag == TAG_GLOBAL ? dv_dtype_from_name(d->o.u.object.cls) : DV_DTYPE_INVALID;
		if (tt->dtype == DV_DTYPE_INVALID) {
			fail(u, "unknown tensor dtype %s", d->o.kind == PT_OBJECT ? d->o.u.object.cls : "(not a dtype)");
			return NULL;
		}
		if (st->dtype != DV_DTYPE_INVALID && st->dtype != tt->dtype) {
			fail(u, "tensor dtype %s does not match its %s storage", dv_dtype_name(tt->dtype),
			     dv_dtype_name(st->dtype));
			return NULL;
		}
	} else {
		tt->dtype = st->dtype;
		if (tt->dtype == DV_DTYPE_INVALID) {
			fail(u, "_rebuild_tensor_v2 on an untyped storage");
			return NULL;
		}
	}
	if (n > need)
		meta = item(args, need);
	if (meta && meta->o.kind == PT_DICT) {
		for (size_t i = 0; i < meta->o.u.dict.len; i++) {
			const pobj *k = POBJ(meta->o.u.dict.keys[i]), *v = POBJ(meta->o.u.dict.values[i]);
			bool on = v->o.kind == PT_BOOL && v->o.u.b;
			if (is_str(k, "conj"))
				tt->conj = on;
			else if (is_str(k, "neg"))
				tt->neg = on;
		}
	}
	tt->storage_key = st->key;
	tt->device = st->location;
	/* Until a record is found: what the pickle claims. */
	tt->storage_nbytes = st->numel;
	if (st->dtype != DV_DTYPE_INVALID &&
	    __builtin_mul_overflow(st->numel, (int64_t)dv_dtype_size(st->dtype), &tt->storage_nbytes)) {
		fail(u, "storage size overflows");
		return NULL;
	}
	if (add_tensor(u, tt))
		return NULL;
	return t;
}

/* _rebuild_meta_tensor_no_storage(dtype, size, stride, requires_grad) */
static pobj *rebuild_meta(unpickler *u, const pobj *args)
{
	pobj *t;

	if (args->o.u.seq.len < 3 || item(args, 0)->tag != TAG_GLOBAL) {
		fail(u, "bad _rebuild_meta_tensor_no_storage arguments");
		return NULL;
	}
	t = node(u, PT_TENSOR);
	if (!t)
		return NULL;
	pt_tensor *tt = &t->o.u.tensor;
	tt->dtype = dv_dtype_from_name(item(args, 0)->o.u.object.cls);
	if (tt->dtype == DV_DTYPE_INVALID) {
		fail(u, "unknown tensor dtype %s", item(args, 0)->o.u.object.cls);
		return NULL;
	}
	if (fill_geometry(u, tt, item(args, 1), item(args, 2), 0))
		return NULL;
	tt->requires_grad = args->o.u.seq.len > 3 && item(args, 3)->o.kind == PT_BOOL && item(args, 3)->o.u.b;
	tt->device = "meta";
	return t;
}

static pobj *copy_tensor(unpickler *u, const pobj *src, const pobj *requires_grad)
{
	pobj *t = node(u, PT_TENSOR);

	if (!t)
		return NULL;
	t->o.u.tensor = src->o.u.tensor;
	if (requires_grad && requires_grad->o.kind == PT_BOOL)
		t->o.u.tensor.requires_grad = requires_grad->o.u.b;
	if (t->o.u.tensor.storage_key && add_tensor(u, &t->o.u.tensor))
		return NULL;
	return t;
}

static pobj *opaque(unpickler *u, const char *cls, pobj *args)
{
	pobj *p = node(u, PT_OBJECT);

	if (!p)
		return NULL;
	p->o.u.object.cls = cls;
	if (args) {
		if (adopt(u, p, args))
			return NULL;
		p->o.u.object.args = &args->o;
	}
	return p;
}

/* A dict or set from an iterable argument (OrderedDict([(k, v)...]), set([...])). */
static pobj *container_from(unpickler *u, pt_kind kind, const pobj *args)
{
	pobj *p = node(u, kind);

	if (!p)
		return NULL;
	if (args->o.u.seq.len == 0)
		return p;
	const pobj *src = item(args, 0);
	if (!is_seq(src) && !(kind == PT_SET && src->o.kind == PT_SET))
		return NULL; /* caller falls back to an opaque object */
	for (size_t i = 0; i < src->o.u.seq.len; i++) {
		pobj *e = item(src, i);
		if (kind == PT_DICT) {
			if (!is_seq(e) || e->o.u.seq.len != 2)
				return NULL;
			if (dict_add(u, p, item(e, 0), item(e, 1)))
				return NULL;
		} else if (seq_add(u, p, e)) {
			return NULL;
		}
	}
	return p;
}

/* _codecs.encode(str, 'latin1'): how protocol 2 pickles bytes. */
static pobj *codecs_encode(unpickler *u, const pobj *args)
{
	const pobj *s;
	const unsigned char *in;
	char *out;
	size_t n = 0;

	if (args->o.u.seq.len < 1 || (s = item(args, 0))->o.kind != PT_STR)
		return NULL;
	if (args->o.u.seq.len > 1 && !is_str(item(args, 1), "latin1") && !is_str(item(args, 1), "latin-1"))
		return str_node(u, PT_BYTES, s->o.u.str.data, s->o.u.str.len); /* utf-8 and others: as is */
	in = (const unsigned char *)s->o.u.str.data;
	out = pt_arena_alloc(u->f, s->o.u.str.len + 1);
	if (!out) {
		fail(u, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < s->o.u.str.len; i++) {
		/* UTF-8 code points below 256 back to one byte each. */
		if (in[i] < 0x80) {
			out[n++] = (char)in[i];
		} else if ((in[i] & 0xe0) == 0xc0 && i + 1 < s->o.u.str.len && in[i] <= 0xc3) {
			out[n++] = (char)(((in[i] & 0x1f) << 6) | (in[i + 1] & 0x3f));
			i++;
		} else {
			return NULL;
		}
	}
	out[n] = '\0';
	pobj *b = node(u, PT_BYTES);
	if (!b)
		return NULL;
	b->o.u.str.data = out;
	b->o.u.str.len = n;
	return b;
}

/* Calls an allow-listed callable; anything else gives an opaque object.
 * Returns NULL with u->err set on a hard error. */
static pobj *call(unpickler *u, pobj *fn, pobj *args, int nesting)
{
	pobj *r = NULL;
	const char *cls;
	size_t n;

	if (fn->o.kind != PT_OBJECT) {
		fail(u, "call of something that is not a class or function");
		return NULL;
	}
	cls = fn->o.u.object.cls;
	if (fn->tag == TAG_GLOBAL && !strncmp(cls, "torch._utils._rebuild_", 22) && !is_seq(args)) {
		fail(u, "%s called with arguments that are not a tuple", cls);
		return NULL;
	}
	if (fn->tag != TAG_GLOBAL || !is_seq(args))
		return opaque(u, cls, args);
	n = args->o.u.seq.len;
	u->err->msg[0] = '\0';

	if (!strcmp(cls, "torch._utils._rebuild_tensor_v2"))
		return rebuild_tensor(u, args, false);
	if (!strcmp(cls, "torch._utils._rebuild_tensor_v3"))
		return rebuild_tensor(u, args, true);
	if (!strcmp(cls, "torch._utils._rebuild_meta_tensor_no_storage"))
		return rebuild_meta(u, args);
	if (!strcmp(cls, "torch._utils._rebuild_parameter") ||
	    !strcmp(cls, "torch._utils._rebuild_parameter_with_state")) {
		if (n < 2 || item(args, 0)->o.kind != PT_TENSOR) {
			fail(u, "%s of something that is not a tensor", cls + 13);
			return NULL;
		}
		return copy_tensor(u, item(args, 0), item(args, 1));
	}
	if (!strcmp(cls, "torch._tensor._rebuild_from_type_v2") && n >= 3 && item(args, 0)->tag == TAG_GLOBAL &&
	    nesting < 8) {
		r = call(u, item(args, 0), item(args, 2), nesting + 1);
		if (r && r->o.kind == PT_TENSOR)
			return r;
		if (!r)
			return NULL;
	} else if (!strcmp(cls, "collections.OrderedDict") || !strcmp(cls, "builtins.dict")) {
		r = container_from(u, PT_DICT, args);
	} else if (!strcmp(cls, "builtins.set") || !strcmp(cls, "builtins.frozenset")) {
		r = container_from(u, PT_SET, args);
	} else if (!strcmp(cls, "_codecs.encode")) {
		r = codecs_encode(u, args);
	} else if (!strcmp(cls, "builtins.bytearray") || !strcmp(cls, "builtins.bytes")) {
		if (n == 0)
			r = str_node(u, PT_BYTES, "", 0);
		else if (item(args, 0)->o.kind == PT_BYTES)
			r = str_node(u, PT_BYTES, item(args, 0)->o.u.str.data, item(args, 0)->o.u.str.len);
	} else if (!strcmp(cls, "torch.Size") && n == 1 && is_seq(item(args, 0)) &&
		   item(args, 0)->o.u.seq.len <= PT_MAX_DIMS) {
		const pobj *s = item(args, 0);
		pobj *dims[PT_MAX_DIMS];
		for (size_t i = 0; i < s->o.u.seq.len; i++)
			dims[i] = item(s, i);
		r = fixed_seq(u, PT_TUPLE, dims, s->o.u.seq.len);
	}
	if (r)
		return r;
	if (u->err->msg[0])
		return NULL;
	/* Not interpreted (or not in a form we know): never run, kept opaque. */
	return opaque(u, cls, args);
}

/* ---- the machine ---- */

enum {
	OP_MARK = '(', OP_STOP = '.', OP_POP = '0', OP_POP_MARK = '1', OP_DUP = '2',
	OP_BINFLOAT = 'G', OP_BININT = 'J', OP_BININT1 = 'K', OP_BININT2 = 'M',
	OP_NONE = 'N', OP_BINPERSID = 'Q', OP_REDUCE = 'R', OP_BINSTRING = 'T',
	OP_SHORT_BINSTRING = 'U', OP_BINUNICODE = 'X', OP_APPEND = 'a', OP_BUILD = 'b',
	OP_GLOBAL = 'c', OP_DICT = 'd', OP_EMPTY_DICT = '}', OP_APPENDS = 'e',
	OP_BINGET = 'h', OP_LONG_BINGET = 'j', OP_LIST = 'l', OP_EMPTY_LIST = ']',
	OP_BINPUT = 'q', OP_LONG_BINPUT = 'r', OP_SETITEM = 's', OP_TUPLE = 't',
	OP_EMPTY_TUPLE = ')', OP_SETITEMS = 'u', OP_BINBYTES = 'B', OP_SHORT_BINBYTES = 'C',
	OP_PROTO = 0x80, OP_NEWOBJ = 0x81, OP_TUPLE1 = 0x85, OP_TUPLE2 = 0x86,
	OP_TUPLE3 = 0x87, OP_NEWTRUE = 0x88, OP_NEWFALSE = 0x89, OP_LONG1 = 0x8a,
	OP_LONG4 = 0x8b, OP_SHORT_BINUNICODE = 0x8c, OP_BINUNICODE8 = 0x8d,
	OP_BINBYTES8 = 0x8e, OP_EMPTY_SET = 0x8f, OP_ADDITEMS = 0x90, OP_FROZENSET = 0x91,
	OP_NEWOBJ_EX = 0x92, OP_STACK_GLOBAL = 0x93, OP_MEMOIZE = 0x94, OP_FRAME = 0x95,
	OP_BYTEARRAY8 = 0x96,
};

static int step(unpickler *u, int op, bool *stop)
{
	uint64_t v;
	size_t base = 0, n;
	pobj *a, *b, *c, *p;
	const uint8_t *raw;

	switch (op) {
	case OP_PROTO:
		if (read_uint(u, 1, &v))
			return -1;
		if (v > 5)
			return fail(u, "unsupported pickle protocol %llu", (unsigned long long)v);
		return 0;
	case OP_FRAME:
		return read_uint(u, 8, &v); /* a size hint only */
	case OP_STOP:
		*stop = true;
		return 0;
	case OP_MARK:
		return mark(u);
	case OP_POP:
		if (u->sp > floor_sp(u)) {
			u->sp--;
			return 0;
		}
		/* Python's POP discards a mark when the stack top is one. */
		if (u->nmarks && u->marks[u->nmarks - 1] == u->sp) {
			u->nmarks--;
			return 0;
		}
		return fail(u, "stack underflow");
	case OP_POP_MARK:
		if (pop_mark(u, &base))
			return -1;
		u->sp = base;
		return 0;
	case OP_DUP:
		a = top(u);
		return a ? push(u, a) : -1;
	case OP_BINPUT:
		return read_uint(u, 1, &v) || memo_put(u, v) ? -1 : 0;
	case OP_LONG_BINPUT:
		return read_uint(u, 4, &v) || memo_put(u, v) ? -1 : 0;
	case OP_MEMOIZE:
		return memo_put(u, u->memo_count);
	case OP_BINGET:
		return read_uint(u, 1, &v) || memo_get(u, v) ? -1 : 0;
	case OP_LONG_BINGET:
		return read_uint(u, 4, &v) || memo_get(u, v) ? -1 : 0;

	case OP_NONE:
		if (!u->none)
			u->none = node(u, PT_NONE);
		return push(u, u->none);
	case OP_NEWTRUE:
	case OP_NEWFALSE: {
		pobj **shared = op == OP_NEWTRUE ? &u->yes : &u->no;
		if (!*shared) {
			*shared = node(u, PT_BOOL);
			if (!*shared)
				return -1;
			(*shared)->o.u.b = op == OP_NEWTRUE;
		}
		return push(u, *shared);
	}
	case OP_BININT1:
	case OP_BININT2:
	case OP_BININT:
		if (read_uint(u, op == OP_BININT1 ? 1 : op == OP_BININT2 ? 2 : 4, &v))
			return -1;
		p = node(u, PT_INT);
		if (!p)
			return -1;
		p->o.u.i = op == OP_BININT ? (int64_t)(int32_t)(uint32_t)v : (int64_t)v;
		return push(u, p);
	case OP_LONG1:
		return read_uint(u, 1, &v) || push_long(u, v) ? -1 : 0;
	case OP_LONG4:
		if (read_uint(u, 4, &v))
			return -1;
		if (v & 0x80000000u)
			return fail(u, "negative LONG4 length");
		return push_long(u, v);
	case OP_BINFLOAT: {
		double d;
		raw = take(u, 8);
		if (!raw)
			return -1;
		v = 0;
		for (int i = 0; i < 8; i++) /* big-endian */
			v = (v << 8) | raw[i];
		memcpy(&d, &v, sizeof(d));
		p = node(u, PT_FLOAT);
		if (!p)
			return -1;
		p->o.u.f = d;
		return push(u, p);
	}
	case OP_SHORT_BINUNICODE:
		return read_uint(u, 1, &v) || push_counted(u, PT_STR, v) ? -1 : 0;
	case OP_BINUNICODE:
		return read_uint(u, 4, &v) || push_counted(u, PT_STR, v) ? -1 : 0;
	case OP_BINUNICODE8:
		return read_uint(u, 8, &v) || push_counted(u, PT_STR, v) ? -1 : 0;
	case OP_SHORT_BINSTRING:
		return read_uint(u, 1, &v) || push_counted(u, PT_STR, v) ? -1 : 0;
	case OP_BINSTRING:
		if (read_uint(u, 4, &v))
			return -1;
		if (v & 0x80000000u)
			return fail(u, "negative BINSTRING length");
		return push_counted(u, PT_STR, v);
	case OP_SHORT_BINBYTES:
		return read_uint(u, 1, &v) || push_counted(u, PT_BYTES, v) ? -1 : 0;
	case OP_BINBYTES:
		return read_uint(u, 4, &v) || push_counted(u, PT_BYTES, v) ? -1 : 0;
	case OP_BINBYTES8:
	case OP_BYTEARRAY8:
		return read_uint(u, 8, &v) || push_counted(u, PT_BYTES, v) ? -1 : 0;

	case OP_EMPTY_DICT:
		return push(u, node(u, PT_DICT));
	case OP_EMPTY_LIST:
		return push(u, node(u, PT_LIST));
	case OP_EMPTY_SET:
		return push(u, node(u, PT_SET));
	case OP_EMPTY_TUPLE:
		return push(u, node(u, PT_TUPLE));
	case OP_TUPLE1:
	case OP_TUPLE2:
	case OP_TUPLE3:
		n = op - OP_TUPLE1 + 1;
		if (u->sp < floor_sp(u) + n)
			return fail(u, "stack underflow");
		u->sp -= n;
		return push(u, fixed_seq(u, PT_TUPLE, u->stack + u->sp, n));
	case OP_TUPLE:
	case OP_FROZENSET:
		if (pop_mark(u, &base))
			return -1;
		n = u->sp - base;
		u->sp = base;
		/* (an empty stack may have no array yet) */
		return push(u, fixed_seq(u, op == OP_TUPLE ? PT_TUPLE : PT_SET, u->stack ? u->stack + base : NULL, n));
	case OP_LIST:
		if (pop_mark(u, &base))
			return -1;
		p = node(u, PT_LIST);
		if (!p)
			return -1;
		for (size_t i = base; i < u->sp; i++)
			if (seq_add(u, p, u->stack[i]))
				return -1;
		u->sp = base;
		return push(u, p);
	case OP_DICT:
		if (pop_mark(u, &base))
			return -1;
		if ((u->sp - base) % 2)
			return fail(u, "DICT with an odd number of items");
		p = node(u, PT_DICT);
		if (!p)
			return -1;
		for (size_t i = base; i < u->sp; i += 2)
			if (dict_add(u, p, u->stack[i], u->stack[i + 1]))
				return -1;
		u->sp = base;
		return push(u, p);
	case OP_APPEND:
		b = pop(u);
		if (!b || !(a = top(u)))
			return -1;
		if (a->o.kind != PT_LIST)
			return fail(u, "APPEND to something that is not a list");
		return check_mutable(u, a, "APPEND") || seq_add(u, a, b) ? -1 : 0;
	case OP_APPENDS:
	case OP_ADDITEMS:
		if (pop_mark(u, &base))
			return -1;
		if (!(a = below(u, base)))
			return -1;
		if (a->o.kind != (op == OP_APPENDS ? PT_LIST : PT_SET))
			return fail(u, "%s to something that is not a %s", op == OP_APPENDS ? "APPENDS" : "ADDITEMS",
				    op == OP_APPENDS ? "list" : "set");
		if (check_mutable(u, a, op == OP_APPENDS ? "APPENDS" : "ADDITEMS"))
			return -1;
		/* a frozenset has no add() in Python either; its items are arena memory */
		if (a->fixed)
			return fail(u, "ADDITEMS to a frozenset");
		for (size_t i = base; i < u->sp; i++)
			if (seq_add(u, a, u->stack[i]))
				return -1;
		u->sp = base;
		return 0;
	case OP_SETITEM:
		c = pop(u);
		b = c ? pop(u) : NULL;
		if (!b || !(a = top(u)))
			return -1;
		if (a->o.kind != PT_DICT)
			return fail(u, "SETITEM on something that is not a dict");
		return check_mutable(u, a, "SETITEM") || dict_add(u, a, b, c) ? -1 : 0;
	case OP_SETITEMS:
		if (pop_mark(u, &base))
			return -1;
		if (!(a = below(u, base)))
			return -1;
		if (a->o.kind != PT_DICT)
			return fail(u, "SETITEMS on something that is not a dict");
		if ((u->sp - base) % 2)
			return fail(u, "SETITEMS with an odd number of items");
		if (check_mutable(u, a, "SETITEMS"))
			return -1;
		for (size_t i = base; i < u->sp; i += 2)
			if (dict_add(u, a, u->stack[i], u->stack[i + 1]))
				return -1;
		u->sp = base;
		return 0;

	case OP_GLOBAL: {
		size_t mlen, nlen;
		const char *mod = read_line(u, &mlen), *name = mod ? read_line(u, &nlen) : NULL;
		if (!name)
			return -1;
		return push(u, global_node(u, mod, mlen, name, nlen));
	}
	case OP_STACK_GLOBAL:
		b = pop(u);
		a = b ? pop(u) : NULL;
		if (!a)
			return -1;
		if (a->o.kind != PT_STR || b->o.kind != PT_STR)
			return fail(u, "STACK_GLOBAL on something that is not a string");
		return push(u, global_node(u, a->o.u.str.data, a->o.u.str.len, b->o.u.str.data, b->o.u.str.len));
	case OP_REDUCE:
		b = pop(u);
		a = b ? pop(u) : NULL;
		if (!a)
			return -1;
		return push(u, call(u, a, b, 0));
	case OP_NEWOBJ:
		b = pop(u);
		a = b ? pop(u) : NULL;
		if (!a)
			return -1;
		if (a->o.kind != PT_OBJECT)
			return fail(u, "NEWOBJ of something that is not a class");
		if (is_global(a, "collections.OrderedDict") || is_global(a, "builtins.set"))
			return push(u, call(u, a, b, 0));
		return push(u, opaque(u, a->o.u.object.cls, b));
	case OP_NEWOBJ_EX:
		c = pop(u);
		b = c ? pop(u) : NULL;
		a = b ? pop(u) : NULL;
		if (!a)
			return -1;
		if (a->o.kind != PT_OBJECT)
			return fail(u, "NEWOBJ_EX of something that is not a class");
		return push(u, opaque(u, a->o.u.object.cls, b));
	case OP_BUILD:
		b = pop(u);
		if (!b || !(a = top(u)))
			return -1;
		/* Only opaque objects keep their state; a dict's state (a
		 * state_dict's _metadata) is an attribute, a tensor's is
		 * hooks/attributes: neither changes the data. */
		if (a->o.kind == PT_OBJECT && a->tag == TAG_VALUE && !a->o.u.object.state) {
			if (check_mutable(u, a, "BUILD") || adopt(u, a, b))
				return -1;
			a->o.u.object.state = &b->o;
		}
		return 0;
	case OP_BINPERSID:
		return persistent_load(u);
	default:
		return fail(u, "unsupported opcode 0x%02x", op);
	}
}

int pt_unpickle(pt_file *f, const uint8_t *data, size_t len, pt_unpickled *out, dv_error *err)
{
	unpickler u;
	bool stop = false;
	dv_error local;
	int rc = 0;

	/* field by field: the inline arrays need no clearing, the memo's does */
	memset(&u, 0, offsetof(unpickler, stack0));
	u.f = f;
	u.res = out;
	u.data = data;
	u.len = len;
	u.err = err;
	u.stack = u.stack0;
	u.stack_cap = sizeof(u.stack0) / sizeof(u.stack0[0]);
	u.marks = u.marks0;
	u.marks_cap = sizeof(u.marks0) / sizeof(u.marks0[0]);
	memset(u.memo0, 0, sizeof(u.memo0));
	u.memo = u.memo0;
	u.memo_len = sizeof(u.memo0) / sizeof(u.memo0[0]);

	*out = (pt_unpickled){ 0 };
	if (!err)
		err = u.err = &local;
	dv_error_clear(err);
	if (len > f->lim.max_pickle_bytes) {
		u.op_pos = 0;
		rc = fail(&u, "%zu bytes, more than the limit %zu", len, f->lim.max_pickle_bytes);
	}
	while (!rc && !stop) {
		if (u.pos >= u.len) {
			u.op_pos = u.pos;
			out->truncated = true;
			rc = fail(&u, "truncated: no STOP opcode");
			break;
		}
		u.op_pos = u.pos;
		rc = step(&u, u.data[u.pos++], &stop);
	}
	if (!rc) {
		if (!u.sp)
			rc = fail(&u, "STOP with an empty stack");
		else
			out->root = &u.stack[u.sp - 1]->o;
	}
	out->used = u.pos;
	if (u.stack != u.stack0)
		free(u.stack);
	if (u.marks != u.marks0)
		free(u.marks);
	if (u.memo != u.memo0)
		free(u.memo);
	return rc ? -1 : 0;
}

void pt_unpickled_free(pt_unpickled *u)
{
	free(u->storages);
	free(u->tensors);
	u->storages = NULL;
	u->tensors = NULL;
	u->nstorages = u->cap_storages = u->ntensors = u->cap_tensors = 0;
}
