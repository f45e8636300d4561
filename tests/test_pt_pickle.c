/* The pickle machine on hand-built pickles: each opcode, the allow-listed
 * calls, each bound (depth, stack, memo, objects, lengths, extents), paths
 * and reprs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "dumpview/pt.h"

/* ---- a tiny pickle writer ---- */

typedef struct pk {
	uint8_t d[1 << 16];
	size_t n;
} pk;

static pk *pk_new(int proto)
{
	pk *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	p->d[p->n++] = 0x80;
	p->d[p->n++] = (uint8_t)proto;
	return p;
}

static void op(pk *p, int c)
{
	p->d[p->n++] = (uint8_t)c;
}

static void raw(pk *p, const void *s, size_t n)
{
	memcpy(p->d + p->n, s, n);
	p->n += n;
}

static void le(pk *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		op(p, (int)((v >> (8 * i)) & 0xff));
}

static void str(pk *p, const char *s)
{
	op(p, 'X');
	le(p, strlen(s), 4);
	raw(p, s, strlen(s));
}

static void flt(pk *p, double v)
{
	uint64_t u;

	memcpy(&u, &v, 8);
	op(p, 'G');
	for (int i = 7; i >= 0; i--)
		op(p, (int)((u >> (8 * i)) & 0xff));
}

static void num(pk *p, int64_t v)
{
	if (v >= 0 && v < 256) {
		op(p, 'K');
		le(p, (uint64_t)v, 1);
	} else if (v >= INT32_MIN && v <= INT32_MAX) {
		op(p, 'J');
		le(p, (uint64_t)v, 4);
	} else {
		op(p, 0x8a);
		op(p, 8);
		le(p, (uint64_t)v, 8);
	}
}

static void glob(pk *p, const char *mod, const char *name)
{
	op(p, 'c');
	raw(p, mod, strlen(mod));
	op(p, '\n');
	raw(p, name, strlen(name));
	op(p, '\n');
}

static void ints_tuple(pk *p, int n, const int64_t *v)
{
	op(p, '(');
	for (int i = 0; i < n; i++)
		num(p, v[i]);
	op(p, 't');
}

/* _rebuild_tensor_v2(('storage', torch.<type>, key, loc, numel), off, size, stride, rg, OrderedDict()) */
static void tensor_v2(pk *p, const char *type, const char *key, int64_t numel, int64_t off, int nd,
		      const int64_t *size, const int64_t *stride, bool rg)
{
	glob(p, "torch._utils", "_rebuild_tensor_v2");
	op(p, '(');
	op(p, '(');
	str(p, "storage");
	glob(p, "torch", type);
	str(p, key);
	str(p, "cuda:1");
	num(p, numel);
	op(p, 't');
	op(p, 'Q');
	num(p, off);
	ints_tuple(p, nd, size);
	ints_tuple(p, nd, stride);
	op(p, rg ? 0x88 : 0x89);
	glob(p, "collections", "OrderedDict");
	op(p, ')');
	op(p, 'R');
	op(p, 't');
	op(p, 'R');
}

static pt_file *load(pk *p, const pt_limits *lim, dv_error *err)
{
	pt_file *f = pt_open_pickle(p->d, p->n, "t.pkl", lim, err);

	free(p);
	return f;
}

/* Loads and expects an error containing `want`. */
static void expect_error(pk *p, const pt_limits *lim, const char *want)
{
	dv_error err = { "" };
	pt_file *f = load(p, lim, &err);

	if (f) {
		pt_close(f);
		fail_msg("loaded; wanted an error with '%s'", want);
	}
	if (!strstr(err.msg, want) || strncmp(err.msg, "t.pkl: ", 7))
		fail_msg("error '%s' lacks '%s'", err.msg, want);
}

static const pt_obj *item(const pt_obj *o, size_t i)
{
	assert_true(o->kind == PT_LIST || o->kind == PT_TUPLE || o->kind == PT_SET);
	assert_true(i < o->u.seq.len);
	return o->u.seq.items[i];
}

/* ---- opcodes ---- */

static void test_scalars(void **state)
{
	pk *p = pk_new(2);
	dv_error err;
	(void)state;

	op(p, '(');
	op(p, 'N');
	op(p, 0x88);
	op(p, 0x89);
	op(p, 'K'), op(p, 200);
	op(p, 'M'), le(p, 65535, 2);
	op(p, 'J'), le(p, (uint64_t)-7, 4);
	op(p, 0x8a), op(p, 1), op(p, 0xff);              /* LONG1 -1 */
	op(p, 0x8a), op(p, 0);                           /* LONG1 0 */
	op(p, 0x8a), op(p, 8), le(p, 1ULL << 63, 8);     /* INT64_MIN */
	op(p, 0x8b), le(p, 2, 4), le(p, 0x8000, 2);      /* LONG4 -32768 */
	op(p, 0x8a), op(p, 9), le(p, 0, 8), op(p, 1);    /* 2^64: too wide */
	flt(p, 1.5);
	str(p, "h\xc3\xa9llo");
	op(p, 0x8c), op(p, 2), raw(p, "ab", 2);          /* SHORT_BINUNICODE */
	op(p, 0x8d), le(p, 3, 8), raw(p, "xyz", 3);      /* BINUNICODE8 */
	op(p, 'U'), op(p, 1), raw(p, "s", 1);            /* SHORT_BINSTRING */
	op(p, 'T'), le(p, 2, 4), raw(p, "st", 2);        /* BINSTRING */
	op(p, 'B'), le(p, 3, 4), raw(p, "\0\1\2", 3);    /* BINBYTES */
	op(p, 'C'), op(p, 1), raw(p, "\xff", 1);         /* SHORT_BINBYTES */
	op(p, 0x8e), le(p, 2, 8), raw(p, "bb", 2);       /* BINBYTES8 */
	op(p, 0x96), le(p, 1, 8), raw(p, "r", 1);        /* BYTEARRAY8 */
	op(p, 't');
	op(p, '.');
	pt_file *f = load(p, NULL, &err);
	assert_non_null(f);
	const pt_obj *t = pt_root(f);
	assert_int_equal(t->kind, PT_TUPLE);
	assert_int_equal(t->u.seq.len, 21);
	assert_int_equal(item(t, 0)->kind, PT_NONE);
	assert_true(item(t, 1)->kind == PT_BOOL && item(t, 1)->u.b);
	assert_true(item(t, 2)->kind == PT_BOOL && !item(t, 2)->u.b);
	assert_int_equal(item(t, 3)->u.i, 200);
	assert_int_equal(item(t, 4)->u.i, 65535);
	assert_int_equal(item(t, 5)->u.i, -7);
	assert_int_equal(item(t, 6)->u.i, -1);
	assert_int_equal(item(t, 7)->u.i, 0);
	assert_true(item(t, 8)->kind == PT_INT && item(t, 8)->u.i == INT64_MIN);
	assert_int_equal(item(t, 9)->u.i, -32768);
	assert_int_equal(item(t, 10)->kind, PT_OBJECT);
	assert_string_equal(item(t, 10)->u.object.cls, "builtins.int");
	assert_true(item(t, 11)->kind == PT_FLOAT && item(t, 11)->u.f == 1.5);
	assert_int_equal(item(t, 12)->kind, PT_STR);
	assert_string_equal(item(t, 12)->u.str.data, "h\xc3\xa9llo");
	assert_string_equal(item(t, 13)->u.str.data, "ab");
	assert_string_equal(item(t, 14)->u.str.data, "xyz");
	assert_string_equal(item(t, 15)->u.str.data, "s");
	assert_string_equal(item(t, 16)->u.str.data, "st");
	assert_int_equal(item(t, 17)->kind, PT_BYTES);
	assert_int_equal(item(t, 17)->u.str.len, 3);
	assert_memory_equal(item(t, 17)->u.str.data, "\0\1\2", 3);
	assert_memory_equal(item(t, 18)->u.str.data, "\xff", 1);
	assert_string_equal(item(t, 19)->u.str.data, "bb");
	assert_true(item(t, 20)->kind == PT_BYTES && !strcmp(item(t, 20)->u.str.data, "r"));
	assert_string_equal(pt_file_format(f), "pickle");
	assert_string_equal(pt_file_name(f), "t.pkl");
	pt_close(f);
}

static void test_containers(void **state)
{
	pk *p = pk_new(4);
	dv_error err;
	char buf[256];
	(void)state;

	op(p, 0x95), le(p, 100, 8);            /* FRAME: a hint */
	op(p, '(');
	op(p, ']'), num(p, 1), op(p, 'a');     /* [1] via APPEND */
	op(p, ']'), op(p, '('), num(p, 1), num(p, 2), op(p, 'e'); /* APPENDS */
	op(p, '('), num(p, 3), num(p, 4), op(p, 'l');             /* LIST */
	op(p, '}'), str(p, "k"), num(p, 1), op(p, 's');           /* SETITEM */
	op(p, '}'), op(p, '('), num(p, 1), str(p, "one"), num(p, 2), str(p, "two"), op(p, 'u');
	op(p, '('), str(p, "a"), op(p, 'N'), op(p, 'd');          /* DICT */
	op(p, 0x8f), op(p, '('), num(p, 5), num(p, 6), op(p, 0x90); /* EMPTY_SET, ADDITEMS */
	op(p, '('), num(p, 7), op(p, 0x91);                       /* FROZENSET */
	op(p, ')');
	num(p, 1), op(p, 0x85);
	num(p, 1), num(p, 2), op(p, 0x86);
	num(p, 1), num(p, 2), num(p, 3), op(p, 0x87);
	op(p, 't');
	op(p, '.');
	pt_file *f = load(p, NULL, &err);
	assert_non_null(f);
	const pt_obj *t = pt_root(f);
	static const char *want[] = { "[1]", "[1, 2]", "[3, 4]", "{'k': 1}", "{1: 'one', 2: 'two'}", "{'a': None}",
				      "{5, 6}", "{7}", "()", "(1,)", "(1, 2)", "(1, 2, 3)" };
	assert_int_equal(t->u.seq.len, 12);
	for (size_t i = 0; i < 12; i++) {
		pt_repr(item(t, i), buf, sizeof(buf));
		assert_string_equal(buf, want[i]);
	}
	assert_int_equal(item(t, 6)->kind, PT_SET);
	assert_int_equal(item(t, 7)->kind, PT_SET);
	pt_close(f);
}

static void test_memo_and_stack_ops(void **state)
{
	pk *p = pk_new(4);
	dv_error err;
	char buf[256];
	(void)state;

	op(p, '(');
	str(p, "a"), op(p, 'q'), op(p, 1);            /* BINPUT 1 */
	str(p, "b"), op(p, 'r'), le(p, 70000, 4);     /* LONG_BINPUT */
	str(p, "c"), op(p, 0x94);                     /* MEMOIZE: index 2 (two entries so far) */
	op(p, 'h'), op(p, 1);                         /* BINGET 1 */
	op(p, 'j'), le(p, 70000, 4);                  /* LONG_BINGET */
	op(p, 'h'), op(p, 2);
	op(p, '2');                                   /* DUP */
	num(p, 9), op(p, '0');                        /* POP */
	op(p, '('), num(p, 8), num(p, 8), op(p, '1'); /* POP_MARK */
	op(p, 't');
	op(p, '.');
	pt_file *f = load(p, NULL, &err);
	assert_non_null(f);
	pt_repr(pt_root(f), buf, sizeof(buf));
	assert_string_equal(buf, "('a', 'b', 'c', 'a', 'b', 'c', 'c')");
	pt_close(f);

	/* a memoized dict filled after being stored is the same dict */
	p = pk_new(2);
	op(p, '}'), op(p, 'q'), op(p, 0);
	str(p, "x"), op(p, ']'), op(p, 'q'), op(p, 1), op(p, 's');
	op(p, 'h'), op(p, 1), num(p, 5), op(p, 'a'), op(p, '0'); /* append into the memoized list */
	op(p, '.');
	/* the list was sealed by SETITEM (it is inside the dict): changing it
	 * afterwards is refused, which keeps the tree free of cycles */
	expect_error(p, NULL, "APPEND on an object already inside another");
}

static void test_globals_never_run(void **state)
{
	pk *p = pk_new(2);
	dv_error err;
	char buf[256];
	(void)state;

	op(p, '(');
	glob(p, "collections", "OrderedDict"), op(p, ')'), op(p, 'R');
	glob(p, "os", "system"), str(p, "touch /tmp/dumpview_unit_pwn"), op(p, 0x85), op(p, 'R');
	glob(p, "__builtin__", "set"), op(p, '('), op(p, ']'), num(p, 3), op(p, 'a'), op(p, 't'), op(p, 'R');
	glob(p, "_codecs", "encode"), str(p, "\xc3\xa9\x01"), str(p, "latin1"), op(p, 0x86), op(p, 'R');
	glob(p, "__main__", "Evil"), op(p, ')'), op(p, 0x81);                  /* NEWOBJ */
	op(p, '}'), str(p, "cmd"), str(p, "rm"), op(p, 's'), op(p, 'b');       /* BUILD: state kept */
	op(p, 0x8c), op(p, 8), raw(p, "__main__", 8), op(p, 0x8c), op(p, 3), raw(p, "Bad", 3), op(p, 0x93);
	op(p, ')'), op(p, '}'), op(p, 0x92);                                   /* NEWOBJ_EX */
	glob(p, "torch", "Size"), op(p, '('), num(p, 2), num(p, 3), op(p, 't'), op(p, 0x85), op(p, 'R');
	glob(p, "torch", "bfloat16");
	glob(p, "_codecs", "encode"), op(p, ')'), op(p, 'R');                  /* no arguments: opaque */
	op(p, 't');
	op(p, '.');
	pt_file *f = load(p, NULL, &err);
	assert_non_null(f);
	const pt_obj *t = pt_root(f);
	assert_string_equal(item(t, 8)->u.object.cls, "_codecs.encode");
	assert_int_equal(item(t, 0)->kind, PT_DICT);
	assert_int_equal(item(t, 1)->kind, PT_OBJECT);
	assert_string_equal(item(t, 1)->u.object.cls, "os.system");
	pt_repr(item(t, 1)->u.object.args, buf, sizeof(buf));
	assert_string_equal(buf, "('touch /tmp/dumpview_unit_pwn',)");
	pt_repr(item(t, 2), buf, sizeof(buf));
	assert_string_equal(buf, "{3}");
	pt_repr(item(t, 3), buf, sizeof(buf));
	assert_string_equal(buf, "b'\\xe9\\x01'");
	assert_string_equal(item(t, 4)->u.object.cls, "__main__.Evil");
	pt_repr(item(t, 4)->u.object.state, buf, sizeof(buf));
	assert_string_equal(buf, "{'cmd': 'rm'}");
	assert_string_equal(item(t, 5)->u.object.cls, "__main__.Bad");
	pt_repr(item(t, 6), buf, sizeof(buf));
	assert_string_equal(buf, "(2, 3)");
	assert_string_equal(item(t, 7)->u.object.cls, "torch.bfloat16");
	pt_close(f);
	assert_int_equal(access("/tmp/dumpview_unit_pwn", F_OK), -1);
}

static void test_tensor_v2(void **state)
{
	pk *p = pk_new(2);
	dv_error err;
	int64_t size[] = { 2, 2 }, stride[] = { 1, 2 };
	(void)state;

	tensor_v2(p, "FloatStorage", "0", 6, 1, 2, size, stride, false);
	op(p, '.');
	pt_file *f = load(p, NULL, &err);
	assert_non_null(f);
	const pt_obj *o = pt_root(f);
	assert_int_equal(o->kind, PT_TENSOR);
	const pt_tensor *t = &o->u.tensor;
	assert_int_equal(t->dtype, DV_FLOAT32);
	assert_int_equal(t->ndim, 2);
	assert_int_equal(t->shape[0], 2);
	assert_int_equal(t->stride[1], 2);
	assert_int_equal(t->storage_offset, 1);
	assert_int_equal(t->numel, 4);
	assert_false(t->requires_grad);
	assert_string_equal(t->storage_key, "0");
	assert_string_equal(t->device, "cuda:1");
	assert_int_equal(t->storage_nbytes, 24);
	assert_false(pt_tensor_is_contiguous(t));
	assert_int_equal(pt_tensor_check(f, t, &err), 0);
	/* a bare pickle has no data to read */
	float v[4];
	assert_int_equal(pt_tensor_read_f32(f, t, 0, 4, v, &err), -1);
	assert_non_null(strstr(err.msg, "no data"));
	pt_close(f);
}

static void test_tensor_v3_param_meta(void **state)
{
	pk *p = pk_new(2);
	dv_error err;
	(void)state;

	op(p, '(');
	/* _rebuild_parameter(_rebuild_tensor_v3(untyped 12 bytes, 0, (6,), (1,), False, {}, torch.bfloat16, {'neg': True}), True, {}) */
	glob(p, "torch._utils", "_rebuild_parameter");
	glob(p, "torch._utils", "_rebuild_tensor_v3");
	op(p, '('), op(p, '('), str(p, "storage"), glob(p, "torch.storage", "UntypedStorage"), str(p, "7"), str(p, "cpu");
	num(p, 12), op(p, 't'), op(p, 'Q');
	num(p, 0), ints_tuple(p, 1, (int64_t[]){ 6 }), ints_tuple(p, 1, (int64_t[]){ 1 }), op(p, 0x89), op(p, '}');
	glob(p, "torch", "bfloat16");
	op(p, '}'), str(p, "neg"), op(p, 0x88), op(p, 's');
	op(p, 't'), op(p, 'R');
	op(p, 0x88), op(p, '}'), op(p, 0x87), op(p, 'R');
	/* _rebuild_meta_tensor_no_storage(torch.float16, (2, 3), (3, 1), False) */
	glob(p, "torch._utils", "_rebuild_meta_tensor_no_storage");
	op(p, '('), glob(p, "torch", "float16"), ints_tuple(p, 2, (int64_t[]){ 2, 3 });
	ints_tuple(p, 2, (int64_t[]){ 3, 1 }), op(p, 0x89), op(p, 't'), op(p, 'R');
	/* a 0-dim int64 tensor */
	tensor_v2(p, "LongStorage", "1", 1, 0, 0, NULL, NULL, true);
	op(p, 't');
	op(p, '.');
	pt_file *f = load(p, NULL, &err);
	assert_non_null(f);
	const pt_tensor *a = &item(pt_root(f), 0)->u.tensor;
	assert_int_equal(item(pt_root(f), 0)->kind, PT_TENSOR);
	assert_int_equal(a->dtype, DV_BFLOAT16);
	assert_true(a->requires_grad && a->neg && !a->conj);
	assert_int_equal(a->storage_nbytes, 12);
	assert_true(pt_tensor_is_contiguous(a));
	assert_int_equal(pt_tensor_check(f, a, &err), 0);
	const pt_tensor *m = &item(pt_root(f), 1)->u.tensor;
	assert_int_equal(item(pt_root(f), 1)->kind, PT_TENSOR);
	assert_int_equal(m->dtype, DV_FLOAT16);
	assert_null(m->storage_key);
	assert_int_equal(pt_tensor_check(f, m, &err), -1);
	assert_non_null(strstr(err.msg, "no data"));
	const pt_tensor *z = &item(pt_root(f), 2)->u.tensor;
	assert_int_equal(z->ndim, 0);
	assert_int_equal(z->numel, 1);
	assert_true(z->requires_grad);
	assert_int_equal(pt_tensor_check(f, z, &err), 0);
	pt_close(f);
}

/* ---- bounds ---- */

static pt_limits small(void)
{
	pt_limits l = pt_limits_default();

	l.max_depth = 4;
	l.max_stack = 8;
	l.max_memo = 10;
	l.max_objects = 1000;
	l.max_string = 16;
	l.max_pickle_bytes = 60000;
	return l;
}

static void test_bound_depth(void **state)
{
	pt_limits l = small();
	pk *p = pk_new(2);
	(void)state;

	for (int i = 0; i < 6; i++)
		op(p, ']');
	for (int i = 0; i < 5; i++)
		op(p, 'a');
	op(p, '.');
	expect_error(p, &l, "nesting deeper than 4");

	/* four levels are fine */
	p = pk_new(2);
	for (int i = 0; i < 5; i++)
		op(p, ']');
	for (int i = 0; i < 4; i++)
		op(p, 'a');
	op(p, '.');
	dv_error err;
	pt_file *f = load(p, &l, &err);
	assert_non_null(f);
	pt_close(f);
}

static void test_bound_stack_and_marks(void **state)
{
	pt_limits l = small();
	pk *p = pk_new(2);
	(void)state;

	for (int i = 0; i < 9; i++)
		op(p, 'N');
	op(p, '.');
	expect_error(p, &l, "stack deeper than 8");

	p = pk_new(2);
	for (int i = 0; i < 9; i++)
		op(p, '(');
	op(p, '.');
	expect_error(p, &l, "more than 8 marks");
}

static void test_bound_memo(void **state)
{
	pt_limits l = small();
	pk *p = pk_new(2);
	(void)state;

	op(p, 'N'), op(p, 'r'), le(p, 10, 4), op(p, '.');
	expect_error(p, &l, "memo index 10 beyond the limit 10");
	p = pk_new(2);
	op(p, 'N'), op(p, 'q'), op(p, 9), op(p, 'h'), op(p, 8), op(p, '.');
	expect_error(p, &l, "memo index 8 not defined");
	p = pk_new(2);
	op(p, 'j'), le(p, 0xffffffff, 4), op(p, '.');
	expect_error(p, NULL, "memo index 4294967295 not defined");
	p = pk_new(2);
	op(p, 'q'), op(p, 0), op(p, '.');
	expect_error(p, NULL, "stack underflow");
}

static void test_bound_objects_and_tree(void **state)
{
	pt_limits l = small();
	pk *p = pk_new(2);
	(void)state;

	l.max_stack = 5000;
	op(p, ']'), op(p, '(');
	for (int i = 0; i < 1001; i++)
		op(p, 'K'), op(p, 1);
	op(p, 'e'), op(p, '.');
	expect_error(p, &l, "more than 1000 objects");

	/* a DAG of shared references: 2^30 paths from 60 objects */
	l.max_depth = 100;
	p = pk_new(2);
	op(p, 'N');
	for (int i = 0; i < 30; i++)
		op(p, '2'), op(p, 0x86); /* DUP, TUPLE2: (x, x) */
	op(p, '.');
	expect_error(p, &l, "more than 1000 nodes");
}

static void test_bound_memory(void **state)
{
	pt_limits l = pt_limits_default();
	pk *p = pk_new(2);
	(void)state;

	/* 20000 ints appended one by one: ~2 MB of nodes over a 1 MiB budget */
	l.max_memory = 1 << 20;
	op(p, ']');
	for (int i = 0; i < 20000; i++)
		op(p, 'K'), op(p, i & 0xff), op(p, 'a');
	op(p, '.');
	expect_error(p, &l, "object tree larger than 1 MiB");

	/* None, True and False are shared: a million Nones cost one node */
	p = pk_new(2);
	op(p, ']');
	for (int i = 0; i < 20000; i++)
		op(p, 'N'), op(p, 'a');
	op(p, '.');
	dv_error err;
	pt_file *f = load(p, &l, &err);
	assert_non_null(f);
	assert_int_equal(pt_root(f)->u.seq.len, 20000);
	pt_close(f);
}

static void test_bound_lengths(void **state)
{
	pt_limits l = small();
	pk *p = pk_new(2);
	(void)state;

	str(p, "0123456789abcdefg"), op(p, '.');
	expect_error(p, &l, "longer than the limit 16");
	p = pk_new(2);
	op(p, 'X'), le(p, 0xffffffff, 4), raw(p, "abc", 3), op(p, '.');
	expect_error(p, NULL, "longer than the limit");
	p = pk_new(2);
	op(p, 'X'), le(p, 100, 4), raw(p, "abc", 3), op(p, '.');
	expect_error(p, NULL, "truncated: needs 100 more bytes, 4 left");
	p = pk_new(4);
	op(p, 0x8d), le(p, 1ULL << 63, 8), op(p, '.');
	expect_error(p, NULL, "longer than the limit");
	p = pk_new(4);
	op(p, 0x96), le(p, UINT64_MAX, 8), op(p, '.');
	expect_error(p, NULL, "longer than the limit");
	p = pk_new(2);
	op(p, 'T'), le(p, 0xffffffff, 4), op(p, '.');
	expect_error(p, NULL, "negative BINSTRING length");
	p = pk_new(2);
	op(p, 0x8b), le(p, 0x7fffffff, 4), op(p, '.');
	expect_error(p, NULL, "truncated");
	p = pk_new(2);
	op(p, 'c'), raw(p, "os", 2);
	expect_error(p, NULL, "truncated GLOBAL");
	p = pk_new(2);
	for (int i = 0; i < 100; i++)
		op(p, 'N');
	op(p, '.');
	l.max_pickle_bytes = 50;
	l.max_stack = 1000;
	expect_error(p, &l, "more than the limit 50");
}

static void test_underflow_and_structure(void **state)
{
	pk *p;
	(void)state;

	p = pk_new(2), op(p, '0'), op(p, '.');
	expect_error(p, NULL, "stack underflow");
	p = pk_new(2), num(p, 1), op(p, 't'), op(p, '.');
	expect_error(p, NULL, "no MARK");
	p = pk_new(2), num(p, 1), num(p, 2), op(p, 0x87), op(p, '.');
	expect_error(p, NULL, "stack underflow");
	p = pk_new(2), op(p, ']'), op(p, 'a'), op(p, '.');
	expect_error(p, NULL, "stack underflow");
	p = pk_new(2), op(p, '('), num(p, 1), op(p, 0x86), op(p, '.');
	expect_error(p, NULL, "stack underflow"); /* a MARK is not an object */
	p = pk_new(2), op(p, '}'), op(p, '('), num(p, 1), op(p, 'u'), op(p, '.');
	expect_error(p, NULL, "odd number");
	p = pk_new(2), num(p, 1), op(p, 'a'), op(p, '.');
	expect_error(p, NULL, "stack underflow");
	p = pk_new(2), num(p, 1), num(p, 2), op(p, 'a'), op(p, '.');
	expect_error(p, NULL, "APPEND to something that is not a list");
	p = pk_new(2), op(p, '.');
	expect_error(p, NULL, "STOP with an empty stack");
	p = pk_new(2), op(p, 'N');
	expect_error(p, NULL, "no STOP");
	p = pk_new(2), op(p, 0xff), op(p, '.');
	expect_error(p, NULL, "unsupported opcode 0xff");
	p = pk_new(2), op(p, 'P'), raw(p, "x\n", 2), op(p, '.');
	expect_error(p, NULL, "unsupported opcode 0x50");
	p = pk_new(6), op(p, 'N'), op(p, '.');
	expect_error(p, NULL, "unsupported pickle protocol 6");
	/* a list inside itself, and two lists inside each other */
	p = pk_new(2), op(p, ']'), op(p, 'q'), op(p, 0), op(p, 'h'), op(p, 0), op(p, 'a'), op(p, '.');
	expect_error(p, NULL, "contains itself");
	p = pk_new(2), op(p, ']'), op(p, 'q'), op(p, 0), op(p, ']'), op(p, 'h'), op(p, 0), op(p, 'a');
	op(p, 'a'), op(p, '.');
	expect_error(p, NULL, "recursive structures");
	/* a persistent id that is not a storage */
	p = pk_new(2), num(p, 3), op(p, 'Q'), op(p, '.');
	expect_error(p, NULL, "persistent id");
	p = pk_new(2), op(p, '('), str(p, "storage"), glob(p, "os", "system"), str(p, "0"), str(p, "cpu");
	num(p, 1), op(p, 't'), op(p, 'Q'), op(p, '.');
	expect_error(p, NULL, "unsupported storage type os.system");
	p = pk_new(2), op(p, '('), str(p, "storage"), glob(p, "torch", "FloatStorage"), str(p, "../data.pkl");
	str(p, "cpu"), num(p, 1), op(p, 't'), op(p, 'Q'), op(p, '.');
	expect_error(p, NULL, "bad storage key");
}

static void test_bound_extents(void **state)
{
	dv_error err;
	pk *p;
	(void)state;

	/* 15 elements over a storage of 5 floats */
	p = pk_new(2);
	tensor_v2(p, "FloatStorage", "0", 5, 0, 2, (int64_t[]){ 3, 5 }, (int64_t[]){ 5, 1 }, false);
	op(p, '.');
	pt_file *f = load(p, NULL, &err);
	assert_non_null(f);
	assert_int_equal(pt_tensor_check(f, &pt_root(f)->u.tensor, &err), -1);
	assert_string_equal(err.msg, "t.pkl: storage data/0 holds 20 bytes, tensor needs 60");
	pt_close(f);

	/* the offset pushes the last element past the end */
	p = pk_new(2);
	tensor_v2(p, "HalfStorage", "0", 15, 1, 2, (int64_t[]){ 3, 5 }, (int64_t[]){ 5, 1 }, false);
	op(p, '.');
	f = load(p, NULL, &err);
	assert_int_equal(pt_tensor_check(f, &pt_root(f)->u.tensor, &err), -1);
	assert_string_equal(err.msg, "t.pkl: storage data/0 holds 30 bytes, tensor needs 32");
	pt_close(f);

	/* (size - 1) * stride overflows */
	p = pk_new(2);
	tensor_v2(p, "FloatStorage", "0", 5, 0, 2, (int64_t[]){ 3, 2 }, (int64_t[]){ INT64_MAX / 2, 1 }, false);
	op(p, '.');
	f = load(p, NULL, &err);
	assert_int_equal(pt_tensor_check(f, &pt_root(f)->u.tensor, &err), -1);
	assert_non_null(strstr(err.msg, "overflows"));
	pt_close(f);

	/* the element count overflows at rebuild */
	p = pk_new(2);
	tensor_v2(p, "FloatStorage", "0", 5, 0, 3, (int64_t[]){ 1LL << 32, 1LL << 32, 1LL << 32 },
		  (int64_t[]){ 0, 0, 0 }, false);
	op(p, '.');
	expect_error(p, NULL, "element count overflows");

	/* storage numel * itemsize overflows */
	p = pk_new(2);
	tensor_v2(p, "DoubleStorage", "0", 1LL << 61, 0, 1, (int64_t[]){ 2 }, (int64_t[]){ 1 }, false);
	op(p, '.');
	expect_error(p, NULL, "storage size overflows");

	/* negative stride, negative offset, too many dimensions, mismatched lengths */
	p = pk_new(2);
	tensor_v2(p, "FloatStorage", "0", 15, 0, 2, (int64_t[]){ 3, 5 }, (int64_t[]){ -5, 1 }, false);
	op(p, '.');
	expect_error(p, NULL, "not a non-negative integer");
	p = pk_new(2);
	tensor_v2(p, "FloatStorage", "0", 15, -1, 2, (int64_t[]){ 3, 5 }, (int64_t[]){ 5, 1 }, false);
	op(p, '.');
	expect_error(p, NULL, "negative storage offset");
	int64_t ones[65];
	for (int i = 0; i < 65; i++)
		ones[i] = 1;
	p = pk_new(2);
	tensor_v2(p, "FloatStorage", "0", 1, 0, 65, ones, ones, false);
	op(p, '.');
	expect_error(p, NULL, "more than 64");
	p = pk_new(2);
	glob(p, "torch._utils", "_rebuild_tensor_v2");
	op(p, '('), op(p, '('), str(p, "storage"), glob(p, "torch", "FloatStorage"), str(p, "0"), str(p, "cpu");
	num(p, 15), op(p, 't'), op(p, 'Q'), num(p, 0), ints_tuple(p, 2, (int64_t[]){ 3, 5 });
	ints_tuple(p, 1, (int64_t[]){ 1 }), op(p, 0x89), op(p, '}'), op(p, 't'), op(p, 'R'), op(p, '.');
	expect_error(p, NULL, "stride has 1");
	/* a storage of the wrong kind for the tensor */
	p = pk_new(2);
	glob(p, "torch._utils", "_rebuild_tensor_v2");
	op(p, '('), glob(p, "os", "system"), num(p, 0), ints_tuple(p, 1, (int64_t[]){ 1 });
	ints_tuple(p, 1, (int64_t[]){ 1 }), op(p, 0x89), op(p, '}'), op(p, 't'), op(p, 'R'), op(p, '.');
	expect_error(p, NULL, "not a storage");
}

/* ---- paths and reprs ---- */

static void test_lookup_and_repr(void **state)
{
	pk *p = pk_new(2);
	dv_error err;
	char buf[128];
	(void)state;

	op(p, '}'), op(p, '(');
	str(p, "value"), op(p, ']'), op(p, '('), num(p, 1), str(p, "x"), op(p, 'e');
	num(p, 3), op(p, '}'), str(p, "k"), op(p, 'N'), op(p, 's');
	num(p, 1), num(p, 2), op(p, 0x86), flt(p, 2.5);
	str(p, "it's"), op(p, 0x88);
	str(p, "meta"), op(p, '}'), str(p, "rank"), num(p, 3), op(p, 's');
	op(p, 'u'), op(p, '.');
	pt_file *f = load(p, NULL, &err);
	assert_non_null(f);
	const pt_obj *r = pt_root(f);
	assert_ptr_equal(pt_lookup(r, "$"), r);
	assert_int_equal(pt_lookup(r, "$['value'][1]")->kind, PT_STR);
	assert_int_equal(pt_lookup(r, "$['value'][-1]")->kind, PT_STR);
	assert_int_equal(pt_lookup(r, "$[3]['k']")->kind, PT_NONE);
	assert_true(pt_lookup(r, "$[(1, 2)]")->u.f == 2.5);
	assert_int_equal(pt_lookup(r, "$[\"it's\"]")->kind, PT_BOOL);
	assert_int_equal(pt_lookup(r, "$[\"value\"][0]")->u.i, 1);
	assert_int_equal(pt_lookup(r, "$['meta']['rank']")->u.i, 3);
	assert_null(pt_lookup(r, "$['value'][2]"));
	assert_null(pt_lookup(r, "$['nope']"));
	assert_null(pt_lookup(r, "$['value'"));
	assert_null(pt_lookup(r, "value"));
	assert_null(pt_lookup(r, "$['value']x"));
	assert_null(pt_lookup(r, "$['3']"));
	assert_int_equal(pt_dict_get(r, "value")->kind, PT_LIST);
	assert_null(pt_dict_get(r, "3"));
	/* a {'value', 'meta'} payload */
	assert_ptr_equal(pt_dump_value(f), pt_dict_get(r, "value"));
	assert_ptr_equal(pt_dump_meta(f), pt_dict_get(r, "meta"));
	pt_repr(pt_dict_get(r, "value"), buf, sizeof(buf));
	assert_string_equal(buf, "[1, 'x']");
	/* truncation keeps a terminated string */
	assert_int_equal(pt_repr(pt_dict_get(r, "value"), buf, 4), 3);
	assert_string_equal(buf, "[1,");
	pt_close(f);

	/* floats as Python writes them; strings and bytes with escapes */
	static const struct { double v; const char *want; } floats[] = {
		{ 0.1, "0.1" }, { 1.0, "1.0" }, { -0.0, "-0.0" }, { 1e16, "1e+16" }, { 1e15, "1000000000000000.0" },
		{ 1e-05, "1e-05" }, { 0.0001, "0.0001" }, { 123.456, "123.456" }, { 1.5e300, "1.5e+300" },
		{ 2.0 / 3, "0.6666666666666666" }, { INFINITY, "inf" }, { -INFINITY, "-inf" }, { NAN, "nan" },
		{ 5e-324, "5e-324" },
	};
	for (size_t i = 0; i < sizeof(floats) / sizeof(floats[0]); i++) {
		pt_obj o = { .kind = PT_FLOAT, .u.f = floats[i].v };
		pt_repr(&o, buf, sizeof(buf));
		assert_string_equal(buf, floats[i].want);
	}
	pt_obj s = { .kind = PT_STR, .u.str = { "a'b\n\t\\\x01", 7 } };
	pt_repr(&s, buf, sizeof(buf));
	assert_string_equal(buf, "\"a'b\\n\\t\\\\\\x01\"");
	pt_obj s2 = { .kind = PT_STR, .u.str = { "'\"", 2 } };
	pt_repr(&s2, buf, sizeof(buf));
	assert_string_equal(buf, "'\\'\"'");
	pt_obj b = { .kind = PT_BYTES, .u.str = { "\0\xff" "a", 3 } };
	pt_repr(&b, buf, sizeof(buf));
	assert_string_equal(buf, "b'\\x00\\xffa'");
	pt_obj n = { .kind = PT_NONE };
	pt_repr(&n, buf, sizeof(buf));
	assert_string_equal(buf, "None");
}

static void test_dump_value_bare(void **state)
{
	pk *p = pk_new(2);
	dv_error err;
	(void)state;

	op(p, '}'), str(p, "value"), num(p, 1), op(p, 's'), op(p, '.'); /* no meta: not a payload */
	pt_file *f = load(p, NULL, &err);
	assert_ptr_equal(pt_dump_value(f), pt_root(f));
	assert_null(pt_dump_meta(f));
	pt_close(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scalars),
		cmocka_unit_test(test_containers),
		cmocka_unit_test(test_memo_and_stack_ops),
		cmocka_unit_test(test_globals_never_run),
		cmocka_unit_test(test_tensor_v2),
		cmocka_unit_test(test_tensor_v3_param_meta),
		cmocka_unit_test(test_bound_depth),
		cmocka_unit_test(test_bound_stack_and_marks),
		cmocka_unit_test(test_bound_memo),
		cmocka_unit_test(test_bound_objects_and_tree),
		cmocka_unit_test(test_bound_memory),
		cmocka_unit_test(test_bound_lengths),
		cmocka_unit_test(test_underflow_and_structure),
		cmocka_unit_test(test_bound_extents),
		cmocka_unit_test(test_lookup_and_repr),
		cmocka_unit_test(test_dump_value_bare),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
