/* Walks everything a file holds; see walk.h. An assert() here is a reader
 * bug: the fuzzer reports it as a crash. */
#include "walk.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/dtype.h"
#include "dumpview/pt.h"

/* Element reads per tensor: enough to hit every chunk path, bounded so an
 * expanded (stride 0) tensor of 2^40 elements does not take forever. */
#define READ_CHUNK 512
#define READ_CHUNKS 4
/* Shared memo references make a dag whose tree may be exponential. */
#define WALK_BUDGET 200000
#define WALK_DEPTH 4096

static unsigned char raw[READ_CHUNK * 16];
static double f64[READ_CHUNK];
static float f32[READ_CHUNK];

static void read_range(pt_file *f, const pt_tensor *t, int64_t start, int64_t count)
{
	dv_error err;

	err.msg[0] = '\0';
	if (pt_tensor_read(f, t, start, count, raw, &err) != 0)
		assert(err.msg[0] != '\0');
	if (!dv_dtype_is_real(t->dtype))
		return;
	err.msg[0] = '\0';
	if (pt_tensor_read_f64(f, t, start, count, f64, &err) != 0)
		assert(err.msg[0] != '\0');
	err.msg[0] = '\0';
	if (pt_tensor_read_f32(f, t, start, count, f32, &err) != 0)
		assert(err.msg[0] != '\0');
}

static void visit_tensor(pt_file *f, const pt_tensor *t)
{
	dv_error err;
	int64_t n, start;
	int k;

	assert(t->ndim >= 0 && t->ndim <= PT_MAX_DIMS);
	assert(t->dtype > DV_DTYPE_INVALID && t->dtype < DV_DTYPE_COUNT);
	assert(dv_dtype_size(t->dtype) > 0 && dv_dtype_size(t->dtype) <= 16);
	assert(t->numel >= 0);
	for (k = 0; k < t->ndim; k++)
		assert(t->shape[k] >= 0);
	(void)pt_tensor_is_contiguous(t);
	err.msg[0] = '\0';
	if (pt_tensor_check(f, t, &err) != 0) {
		assert(err.msg[0] != '\0');
		return;
	}
	n = t->numel;
	for (k = 0, start = 0; k < READ_CHUNKS && start < n; k++, start += READ_CHUNK)
		read_range(f, t, start, n - start < READ_CHUNK ? n - start : READ_CHUNK);
	if (n > (int64_t)READ_CHUNK * READ_CHUNKS) {
		/* the tail, and an odd-sized chunk in the middle */
		read_range(f, t, n - READ_CHUNK, READ_CHUNK);
		read_range(f, t, n / 2, 7);
	}
}

static void visit(pt_file *f, const pt_obj *o, int depth, size_t *budget)
{
	char buf[24];
	size_t k, len;

	if (o == NULL || depth > WALK_DEPTH || *budget == 0)
		return;
	(*budget)--;
	switch (o->kind) {
	case PT_STR:
	case PT_BYTES:
		assert(o->u.str.data != NULL);
		assert(o->u.str.data[o->u.str.len] == '\0');
		/* fall through */
	case PT_NONE:
	case PT_BOOL:
	case PT_INT:
	case PT_FLOAT:
		/* a small buffer: exercises truncation of long reprs */
		memset(buf, 'x', sizeof buf);
		len = pt_repr(o, buf, sizeof buf);
		(void)len;
		assert(memchr(buf, '\0', sizeof buf) != NULL);
		break;
	case PT_LIST:
	case PT_TUPLE:
	case PT_SET:
		assert(o->u.seq.len == 0 || o->u.seq.items != NULL);
		for (k = 0; k < o->u.seq.len && *budget; k++)
			visit(f, o->u.seq.items[k], depth + 1, budget);
		break;
	case PT_DICT:
		assert(o->u.dict.len == 0 || (o->u.dict.keys && o->u.dict.values));
		for (k = 0; k < o->u.dict.len && *budget; k++) {
			visit(f, o->u.dict.keys[k], depth + 1, budget);
			visit(f, o->u.dict.values[k], depth + 1, budget);
		}
		break;
	case PT_OBJECT:
		assert(o->u.object.cls != NULL);
		(void)strlen(o->u.object.cls);
		visit(f, o->u.object.args, depth + 1, budget);
		visit(f, o->u.object.state, depth + 1, budget);
		break;
	case PT_TENSOR:
		visit_tensor(f, &o->u.tensor);
		break;
	default:
		assert(!"unknown pt_kind");
	}
}

void fuzz_pt_one(const uint8_t *data, size_t size, int bare_pickle)
{
	static const char *paths[] = {
		"$", "$['value']", "$['meta']['rank']", "$[0]", "$[1]", "$['a'][0][1]",
		"$[-1]", "$[99999999999999999999]", "$['", "$[b'x']", "$[None]", "$[(1, 2)]",
	};
	pt_limits limits = pt_limits_default();
	dv_error err;
	pt_file *f;
	size_t budget = WALK_BUDGET, k;

	err.msg[0] = '\0';
	if (bare_pickle)
		f = pt_open_pickle(data, size, "fuzz.pkl", &limits, &err);
	else
		f = pt_open_buffer(data, size, "fuzz.pt", &limits, &err);
	if (f == NULL) {
		assert(err.msg[0] != '\0');
		assert(memchr(err.msg, '\0', sizeof err.msg) != NULL);
		return;
	}
	(void)strlen(pt_file_name(f));
	(void)strlen(pt_file_format(f));
	visit(f, pt_root(f), 0, &budget);
	(void)pt_dump_value(f);
	(void)pt_dump_meta(f);
	for (k = 0; k < sizeof paths / sizeof paths[0]; k++) {
		const pt_obj *o = pt_lookup(pt_root(f), paths[k]);
		budget = 1000;
		visit(f, o, 0, &budget);
	}
	pt_close(f);
}
