/* The unsharded tensor of one step as a tree of streamed nodes: leaves read
 * shards, gathers map indices of one dim to (input, index), sums add their
 * inputs chunk by chunk, a permutation node buffers its input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/vtensor.h"

/* Elements per piece of a sum's scratch buffer. */
#define VT_CHUNK 65536

typedef enum vkind { VK_LEAF, VK_GATHER, VK_SUM, VK_PERMUTE, VK_RESHAPE } vkind;

typedef struct vnode vnode;
struct vnode {
	vkind kind;
	dv_dtype dtype;
	int ndim;
	int64_t shape[PT_MAX_DIMS];
	int64_t numel;
	dv_vsource src;          /* LEAF */
	vnode **in;              /* GATHER, SUM: inputs; PERMUTE, RESHAPE: in[0] */
	size_t nin;
	int dim;                 /* GATHER: the mapped dim */
	int32_t *map_in;         /* GATHER: per output index of dim, the input */
	int64_t *map_idx;        /* GATHER: and the index in that input's dim */
	int64_t *run;            /* GATHER: see gather_runs */
	float *tmp;              /* SUM: VT_CHUNK scratch */
	float *tmp2;             /* SUM: VT_CHUNK floats of a read as stored bytes */
	int perm[PT_MAX_DIMS];   /* PERMUTE: output dim k is input dim perm[k] */
	float *buf;              /* PERMUTE: the whole input, read on first use */
	size_t shard;            /* LEAF: shard index */
	char *cache;             /* LEAF: read-ahead window of floats (VT_CHUNK elements, leaf_read) */
	int64_t cache_start, cache_len;
	char *rcache;            /* LEAF: the same for stored bytes */
	int64_t rcache_start, rcache_len;
};

typedef struct vcheck {
	dv_axis axis;
	size_t group, compared;
	vnode *kept, *other;
} vcheck;

struct dv_vtensor {
	vnode *root;
	vnode **all;             /* every node, for freeing */
	size_t nall, capall;
	vcheck *checks;
	size_t nchecks, capchecks;
	/* the byte checks of the root's kept copy, done as the stream reads it
	 * in place (dv_vtensor_map_raw): checks [fuse_i0, fuse_i1), fuse_equal
	 * as checks_bytes' equal, fuse_next the next element due (-1: given
	 * up, so dv_vtensor_checks reads them itself) */
	size_t fuse_i0, fuse_i1;
	bool *fuse_equal;
	int64_t fuse_next;
};

static int64_t prod(const int64_t *s, int a, int b)
{
	int64_t p = 1;

	for (int i = a; i < b; i++)
		p *= s[i];
	return p;
}

static vnode *node_new(dv_vtensor *vt, vkind kind, dv_error *err)
{
	vnode *n;

	if (vt->nall == vt->capall) {
		size_t cap = vt->capall ? vt->capall * 2 : 16;
		vnode **a = realloc(vt->all, cap * sizeof(*a));

		if (!a)
			goto oom;
		vt->all = a;
		vt->capall = cap;
	}
	if (!(n = calloc(1, sizeof(*n))))
		goto oom;
	n->kind = kind;
	n->shard = (size_t)-1;
	vt->all[vt->nall++] = n;
	return n;
oom:
	dv_error_set(err, "out of memory");
	return NULL;
}

static void node_set_shape(vnode *n, int ndim, const int64_t *shape)
{
	n->ndim = ndim;
	memcpy(n->shape, shape, (size_t)ndim * sizeof(*shape));
	n->numel = prod(shape, 0, ndim);
}

static int node_read(vnode *n, int64_t start, int64_t count, float *out, dv_error *err);

/* ---- zero-copy reads of shards in pt files ----
 * A leaf over a stored record of a pt file reads it in place from a mapping
 * of the file (pt_tensor_map): no copy from the page cache. Every access to
 * mapped bytes runs inside pt_map_guarded, so a file cut short while mapped
 * makes the read fail with an error naming it instead of a SIGBUS. */

static int pt_src_read_raw(void *ctx, int64_t start, int64_t count, void *out, dv_error *err);

static pt_file *leaf_file(const vnode *n)
{
	return n->kind == VK_LEAF && n->src.read_raw == pt_src_read_raw ? ((dv_vsource_pt_ctx *)n->src.ctx)->f
									 : NULL;
}

/* Stored bytes of elements [start, start+count) of a leaf, mapped: 1 with
 * *p (valid until the next map of the leaf's file), 0 when the leaf cannot
 * be mapped, -1 with err. */
static int leaf_map(const vnode *n, int64_t start, int64_t count, const void **p, dv_error *err)
{
	dv_vsource_pt_ctx *c;

	if (!leaf_file(n))
		return 0;
	c = n->src.ctx;
	return pt_tensor_map(c->f, c->t, start, count, p, err);
}

/* The error of a guarded access that faulted, naming the leaf's file. */
static int map_fault(vnode *const *leaves, size_t n, dv_error *err)
{
	for (size_t k = 0; k < n; k++) {
		pt_file *f = leaf_file(leaves[k]);

		if (f && pt_map_faulted(f))
			return dv_error_set(err, "%s: file changed while being read (truncated?)", pt_file_name(f));
	}
	return dv_error_set(err, "%s: file changed while being read (truncated?)",
			    n && leaves[0]->src.name ? leaves[0]->src.name : "shard");
}

/* Whether leaves in[0..n) can all be mapped at once: mappings are one
 * window per file, so the files must differ. */
static bool leaves_mappable(vnode *const *in, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		pt_file *f = leaf_file(in[k]);

		if (!f || !dv_dtype_is_real(in[k]->dtype))
			return false;
		for (size_t j = 0; j < k; j++)
			if (leaf_file(in[j]) == f)
				return false;
	}
	return true;
}

typedef struct map_copy {
	const void *src;
	void *dst;
	int64_t count;
	dv_dtype dtype;
	size_t isz;
	bool raw;
} map_copy;

static void map_copy_fn(void *arg)
{
	map_copy *c = arg;

	if (c->raw)
		memcpy(c->dst, c->src, (size_t)c->count * c->isz);
	else
		dv_convert_to_f32(c->dtype, c->src, c->dst, (size_t)c->count);
}

/* Output rows (o, j) of a gather: o over the dims before dim, j along it.
 * run[j] counts the indices from j on that come from one input at
 * consecutive indices: their rows are one contiguous block of that input
 * (within one o), so each block is one read. Computed on first use (the
 * maps are filled after the node is made). */
static int gather_runs(vnode *n, dv_error *err)
{
	int64_t D = n->shape[n->dim];

	if (!(n->run = malloc((size_t)(D ? D : 1) * sizeof(*n->run)))) {
		dv_error_set(err, "out of memory");
		return -1;
	}
	for (int64_t j = D - 1; j >= 0; j--)
		n->run[j] = j + 1 < D && n->map_in[j + 1] == n->map_in[j] && n->map_idx[j + 1] == n->map_idx[j] + 1
				    ? n->run[j + 1] + 1
				    : 1;
	return 0;
}

static int node_read_as(vnode *n, int64_t start, int64_t count, char *out, size_t isz, bool raw, dv_error *err);

/* A gather, as floats or as stored bytes (isz each): one read per
 * contiguous block of one input. */
static int gather_read(vnode *n, int64_t start, int64_t count, char *out, size_t isz, bool raw, dv_error *err)
{
	int64_t D = n->shape[n->dim], inner = prod(n->shape, n->dim + 1, n->ndim);
	int64_t e = start, end = start + count;

	if (!n->run && gather_runs(n, err) < 0)
		return -1;
	while (e < end) {
		int64_t o = e / (D * inner), j = (e / inner) % D, i = e % inner;
		vnode *in = n->in[n->map_in[j]];
		int64_t len = n->run[j] * inner - i;

		if (len > end - e)
			len = end - e;
		if (node_read_as(in, o * in->shape[n->dim] * inner + n->map_idx[j] * inner + i, len,
				 out + (size_t)(e - start) * isz, isz, raw, err) < 0)
			return -1;
		e += len;
	}
	return 0;
}

/* IEEE half from float32, round to nearest even (NaN kept quiet). */
static uint16_t f32_to_f16(float v)
{
	uint32_t x;
	uint16_t sign;
	int32_t exp;
	uint32_t man;

	memcpy(&x, &v, 4);
	sign = (uint16_t)((x >> 16) & 0x8000);
	exp = (int32_t)((x >> 23) & 0xff);
	man = x & 0x7fffff;
	if (exp == 0xff)
		return (uint16_t)(sign | 0x7c00 | (man ? 0x200 | (man >> 13) : 0));
	exp = exp - 127 + 15;
	if (exp >= 31)
		return (uint16_t)(sign | 0x7c00);
	if (exp <= 0) {
		uint32_t m, shift, half, rest, r;

		if (exp < -10)
			return sign;
		m = man | 0x800000;
		shift = (uint32_t)(14 - exp);
		r = m >> shift;
		rest = m & ((1u << shift) - 1);
		half = 1u << (shift - 1);
		if (rest > half || (rest == half && (r & 1)))
			r++;
		return (uint16_t)(sign | r);
	}
	{
		uint32_t r = ((uint32_t)exp << 10) | (man >> 13), rest = man & 0x1fff;

		if (rest > 0x1000 || (rest == 0x1000 && (r & 1)))
			r++; /* may carry into the exponent, up to infinity: correct */
		return (uint16_t)(sign | r);
	}
}

static void round_to_dtype(dv_dtype dt, float *x, size_t n)
{
	if (dt == DV_BFLOAT16) {
		for (size_t i = 0; i < n; i++)
			x[i] = dv_bf16_to_f32(dv_f32_to_bf16(x[i]));
	} else if (dt == DV_FLOAT16) {
		for (size_t i = 0; i < n; i++)
			x[i] = dv_f16_to_f32(f32_to_f16(x[i]));
	}
}

/* o += t, element by element (no reassociation: vectorized as it is). */
static void add_into(float *restrict o, const float *restrict t, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		o[i] += t[i];
}

/* Loops over memory-bound data that should vectorise where the machine can. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define VT_VECTOR __attribute__((optimize("O3"), target_clones("avx2", "default")))
#else
#define VT_VECTOR
#endif

/* o = bf16 values h widened (dv_bf16_to_f32). */
VT_VECTOR static void widen_bf16(float *restrict o, const uint16_t *restrict h, int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
		uint32_t u = (uint32_t)h[i] << 16;

		memcpy(&o[i], &u, sizeof(u));
	}
}

/* o += bf16 values h, widened on the way (the same sums as add_into). */
VT_VECTOR static void add_bf16_into(float *restrict o, const uint16_t *restrict h, int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
		uint32_t u = (uint32_t)h[i] << 16;
		float x;

		memcpy(&x, &u, sizeof(x));
		o[i] += x;
	}
}

/* A bf16's float32 value (dv_bf16_to_f32, inlined so that loops vectorise). */
static inline float bf16_value(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float x;

	memcpy(&x, &u, sizeof(x));
	return x;
}

/* o = a + b, bf16 widened (the first two inputs of a sum, in order). */
VT_VECTOR static void sum2_bf16(float *restrict o, const uint16_t *restrict a, const uint16_t *restrict b, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		o[i] = bf16_value(a[i]) + bf16_value(b[i]);
}

/* o = ((a + b) + c) + d: four inputs in one pass, the same additions in
 * the same order as one input at a time, each share read once while the
 * partial sum stays in a register */
VT_VECTOR static void sum4_bf16(float *restrict o, const uint16_t *restrict a, const uint16_t *restrict b,
				const uint16_t *restrict c, const uint16_t *restrict d, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		o[i] = ((bf16_value(a[i]) + bf16_value(b[i])) + bf16_value(c[i])) + bf16_value(d[i]);
}

/* o = (((o + a) + b) + c) + d */
VT_VECTOR static void add4_bf16(float *restrict o, const uint16_t *restrict a, const uint16_t *restrict b,
				const uint16_t *restrict c, const uint16_t *restrict d, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		o[i] = (((o[i] + bf16_value(a[i])) + bf16_value(b[i])) + bf16_value(c[i])) +
		       bf16_value(d[i]);
}

/* dv_f32_to_bf16 of each x, in a loop that vectorises. */
VT_VECTOR static void pack_bf16(uint16_t *restrict out, const float *restrict x, int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
		uint32_t u;

		memcpy(&u, &x[i], sizeof(u));
		/* NaN: a quiet one of its sign; else round to nearest even */
		out[i] = (u & 0x7fffffffu) > 0x7f800000u ? (uint16_t)(((u >> 16) & 0x8000) | 0x7fc0)
							 : (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
	}
}

/* Eight bf16 inputs (TP=8 shares) summed in order and rounded to bf16 bits
 * in one pass: the sum never leaves a register. */
VT_VECTOR static void sum8_pack_bf16(uint16_t *restrict out, const uint16_t *const *p, int64_t n)
{
	const uint16_t *restrict a = p[0], *restrict b = p[1], *restrict c = p[2], *restrict d = p[3];
	const uint16_t *restrict e = p[4], *restrict f = p[5], *restrict g = p[6], *restrict h = p[7];

	for (int64_t i = 0; i < n; i++) {
		float x = ((((((bf16_value(a[i]) + bf16_value(b[i])) + bf16_value(c[i])) + bf16_value(d[i])) +
			     bf16_value(e[i])) +
			    bf16_value(f[i])) +
			   bf16_value(g[i])) +
			  bf16_value(h[i]);
		uint32_t u;

		memcpy(&u, &x, sizeof(u));
		/* as pack_bf16 */
		out[i] = (u & 0x7fffffffu) > 0x7f800000u ? (uint16_t)(((u >> 16) & 0x8000) | 0x7fc0)
							 : (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
	}
}

#define SUM_MAP_MAX 64

/* The sum of mapped inputs into o (float32) or o16 (bf16 sums: rounded to
 * bf16 bits, o unused), in input order. */
typedef struct map_sum {
	const void *p[SUM_MAP_MAX];
	size_t nin;
	dv_dtype dtype;
	int64_t count;
	float *o, *tmp;
	uint16_t *o16;
} map_sum;

/* bf16: in blocks that stay in L1 while the inputs are added to them */
#define SUM_BLOCK 2048

/* The bf16 inputs' sum over [b, b + len) into o: the first input widened,
 * not added to zeros (+0 + -0 is +0), then each in order, four at a pass. */
static void sum_bf16_block(const map_sum *m, int64_t b, int64_t len, float *o)
{
	const uint16_t *const *p = (const uint16_t *const *)m->p;
	size_t k;

	if (m->nin >= 4) {
		sum4_bf16(o, p[0] + b, p[1] + b, p[2] + b, p[3] + b, len);
		k = 4;
	} else if (m->nin >= 2) {
		sum2_bf16(o, p[0] + b, p[1] + b, len);
		k = 2;
	} else {
		widen_bf16(o, p[0] + b, len);
		k = 1;
	}
	for (; k + 4 <= m->nin; k += 4)
		add4_bf16(o, p[k] + b, p[k + 1] + b, p[k + 2] + b, p[k + 3] + b, len);
	for (; k < m->nin; k++)
		add_bf16_into(o, p[k] + b, len);
}

static void map_sum_fn(void *arg)
{
	map_sum *m = arg;
	float blk[SUM_BLOCK];

	if (m->dtype != DV_BFLOAT16) {
		dv_convert_to_f32(m->dtype, m->p[0], m->o, (size_t)m->count);
		for (size_t k = 1; k < m->nin; k++) {
			dv_convert_to_f32(m->dtype, m->p[k], m->tmp, (size_t)m->count);
			add_into(m->o, m->tmp, m->count);
		}
		return;
	}
	if (m->o16 && m->nin == 8) {
		sum8_pack_bf16(m->o16, (const uint16_t *const *)m->p, m->count);
		return;
	}
	for (int64_t b = 0; b < m->count; b += SUM_BLOCK) {
		int64_t len = m->count - b < SUM_BLOCK ? m->count - b : SUM_BLOCK;

		if (m->o16) {
			sum_bf16_block(m, b, len, blk);
			pack_bf16(m->o16 + b, blk, len);
		} else {
			sum_bf16_block(m, b, len, m->o + b);
		}
	}
}

/* One piece of a sum from mapped inputs into o, or (o16 not NULL, bf16
 * inputs only) rounded into o16: 1 done, 0 not mappable, -1 err. */
static int sum_mapped(vnode *n, int64_t start, int64_t cnt, float *o, uint16_t *o16, dv_error *err)
{
	map_sum m;

	if (n->nin > SUM_MAP_MAX || !leaves_mappable(n->in, n->nin))
		return 0;
	for (size_t k = 0; k < n->nin; k++) {
		int rc = leaf_map(n->in[k], start, cnt, &m.p[k], err);

		if (rc <= 0)
			return rc;
	}
	m.nin = n->nin;
	m.dtype = n->in[0]->dtype;
	m.count = cnt;
	m.o = o;
	m.o16 = o16;
	m.tmp = n->tmp;
	for (size_t k = 1; k < n->nin; k++)
		if (n->in[k]->dtype != m.dtype)
			return 0;
	if (o16 && m.dtype != DV_BFLOAT16)
		return 0;
	if (pt_map_guarded(map_sum_fn, &m) < 0)
		return map_fault(n->in, n->nin, err);
	return 1;
}

static int sum_read(vnode *n, int64_t start, int64_t count, float *out, dv_error *err)
{
	for (int64_t done = 0; done < count; done += VT_CHUNK) {
		int64_t cnt = count - done < VT_CHUNK ? count - done : VT_CHUNK;
		float *o = out + done;
		int rc = sum_mapped(n, start + done, cnt, o, NULL, err);

		if (rc < 0)
			return -1;
		if (rc == 0) {
			if (node_read(n->in[0], start + done, cnt, o, err) < 0)
				return -1;
			for (size_t k = 1; k < n->nin; k++) {
				if (node_read(n->in[k], start + done, cnt, n->tmp, err) < 0)
					return -1;
				add_into(o, n->tmp, cnt);
			}
		}
		round_to_dtype(n->dtype, o, (size_t)cnt);
	}
	return 0;
}

/* A bfloat16 sum as stored bytes: the same rounding as round_to_dtype
 * (dv_f32_to_bf16), written out as bits instead of widened again. */
static int sum_read_bf16(vnode *n, int64_t start, int64_t count, uint16_t *out, dv_error *err)
{
	for (int64_t done = 0; done < count; done += VT_CHUNK) {
		int64_t cnt = count - done < VT_CHUNK ? count - done : VT_CHUNK;
		int rc = sum_mapped(n, start + done, cnt, NULL, out + done, err);

		if (rc < 0)
			return -1;
		if (rc == 0) {
			if (!n->tmp2 && !(n->tmp2 = malloc(VT_CHUNK * sizeof(float))))
				return dv_error_set(err, "out of memory");
			if (node_read(n->in[0], start + done, cnt, n->tmp2, err) < 0)
				return -1;
			for (size_t k = 1; k < n->nin; k++) {
				if (node_read(n->in[k], start + done, cnt, n->tmp, err) < 0)
					return -1;
				add_into(n->tmp2, n->tmp, cnt);
			}
			pack_bf16(out + done, n->tmp2, cnt);
		}
	}
	return 0;
}

static int permute_read(vnode *n, int64_t start, int64_t count, float *out, dv_error *err)
{
	vnode *in = n->in[0];
	int64_t istride[PT_MAX_DIMS], ostride[PT_MAX_DIMS], coord[PT_MAX_DIMS];
	int64_t s = 1;

	if (!n->buf) {
		if (!(n->buf = malloc((size_t)in->numel * sizeof(float) + 1))) {
			dv_error_set(err, "out of memory buffering a %lld-element tensor to permute",
				     (long long)in->numel);
			return -1;
		}
		if (node_read(in, 0, in->numel, n->buf, err) < 0) {
			/* a half-filled buffer must not serve a later read */
			free(n->buf);
			n->buf = NULL;
			return -1;
		}
	}
	for (int d = in->ndim - 1; d >= 0; d--) {
		istride[d] = s;
		s *= in->shape[d];
	}
	for (int k = 0; k < n->ndim; k++)
		ostride[k] = istride[n->perm[k]];
	/* coordinates of start in the output, then odometer steps */
	{
		int64_t r = start, off = 0;

		for (int k = n->ndim - 1; k >= 0; k--) {
			coord[k] = r % n->shape[k];
			r /= n->shape[k];
			off += coord[k] * ostride[k];
		}
		for (int64_t i = 0; i < count; i++) {
			out[i] = n->buf[off];
			for (int k = n->ndim - 1; k >= 0; k--) {
				off += ostride[k];
				if (++coord[k] < n->shape[k])
					break;
				off -= coord[k] * ostride[k];
				coord[k] = 0;
			}
		}
	}
	return 0;
}

/* A gather reads its inputs a row piece at a time (a TP=8 concat on the
 * last dim: 1/8 of a row per call): small reads are served from a
 * read-ahead window (one for floats, one for stored bytes), so each shard
 * is read in large sequential pieces. */
static int leaf_read(vnode *n, int64_t start, int64_t count, char *out, size_t isz, bool raw, dv_error *err)
{
	char **win = raw ? &n->rcache : &n->cache;
	int64_t *wstart = raw ? &n->rcache_start : &n->cache_start, *wlen = raw ? &n->rcache_len : &n->cache_len;
	map_copy mc;
	int rc = raw || dv_dtype_is_real(n->dtype) ? leaf_map(n, start, count, &mc.src, err) : 0;

	if (rc < 0)
		return -1;
	if (rc > 0) {
		/* mapped: copied (or widened) straight from the page cache */
		mc.dst = out;
		mc.count = count;
		mc.dtype = n->dtype;
		mc.isz = isz;
		mc.raw = raw;
		if (pt_map_guarded(map_copy_fn, &mc) < 0)
			return map_fault(&n, 1, err);
		return 0;
	}
	if (count >= VT_CHUNK / 4)
		return raw ? n->src.read_raw(n->src.ctx, start, count, out, err)
			   : n->src.read_f32(n->src.ctx, start, count, (float *)(void *)out, err);
	if (start < *wstart || start + count > *wstart + *wlen) {
		int64_t len = n->numel - start < VT_CHUNK ? n->numel - start : VT_CHUNK;

		if (!*win && !(*win = malloc(VT_CHUNK * isz)))
			return dv_error_set(err, "out of memory");
		*wlen = 0;
		if ((raw ? n->src.read_raw(n->src.ctx, start, len, *win, err)
			 : n->src.read_f32(n->src.ctx, start, len, (float *)(void *)*win, err)) < 0)
			return -1;
		*wstart = start;
		*wlen = len;
	}
	memcpy(out, *win + (size_t)(start - *wstart) * isz, (size_t)count * isz);
	return 0;
}

/* Elements [start, start+count) of a node, as float32 or (raw) as stored. */
static int node_read_as(vnode *n, int64_t start, int64_t count, char *out, size_t isz, bool raw, dv_error *err)
{
	if (count <= 0)
		return 0;
	if (start < 0 || start > n->numel || count > n->numel - start) {
		dv_error_set(err, "read of elements [%lld, %lld) past a %lld-element tensor", (long long)start,
			     (long long)(start + count), (long long)n->numel);
		return -1;
	}
	switch (n->kind) {
	case VK_LEAF:
		return leaf_read(n, start, count, out, isz, raw, err);
	case VK_GATHER:
		return gather_read(n, start, count, out, isz, raw, err);
	case VK_RESHAPE:
		return node_read_as(n->in[0], start, count, out, isz, raw, err);
	case VK_SUM:
		if (!raw)
			return sum_read(n, start, count, (float *)(void *)out, err);
		if (n->dtype == DV_BFLOAT16 && isz == 2)
			return sum_read_bf16(n, start, count, (uint16_t *)(void *)out, err);
		break;
	case VK_PERMUTE:
		if (!raw)
			return permute_read(n, start, count, (float *)(void *)out, err);
		break;
	}
	return dv_error_set(err, "no stored bytes for a summed or permuted tensor");
}

static int node_read(vnode *n, int64_t start, int64_t count, float *out, dv_error *err)
{
	return node_read_as(n, start, count, (char *)out, sizeof(float), false, err);
}

/* ---- building ---- */

static int pt_src_read(void *ctx, int64_t start, int64_t count, float *out, dv_error *err)
{
	dv_vsource_pt_ctx *c = ctx;

	return pt_tensor_read_f32(c->f, c->t, start, count, out, err);
}

static int pt_src_read_raw(void *ctx, int64_t start, int64_t count, void *out, dv_error *err)
{
	dv_vsource_pt_ctx *c = ctx;

	return pt_tensor_read(c->f, c->t, start, count, out, err);
}

void dv_vsource_pt(dv_vsource *s, dv_vsource_pt_ctx *ctx, pt_file *f, const pt_tensor *t)
{
	memset(s, 0, sizeof(*s));
	ctx->f = f;
	ctx->t = t;
	s->dtype = t->dtype;
	s->ndim = t->ndim;
	memcpy(s->shape, t->shape, sizeof(s->shape));
	s->read_f32 = pt_src_read;
	s->read_raw = pt_src_read_raw;
	s->ctx = ctx;
	s->name = pt_file_name(f);
}

static bool same_shape_except(const vnode *a, const vnode *b, int dim)
{
	if (a->ndim != b->ndim)
		return false;
	for (int d = 0; d < a->ndim; d++)
		if (d != dim && a->shape[d] != b->shape[d])
			return false;
	return true;
}

static vnode *gather_new(dv_vtensor *vt, vnode **in, size_t nin, int dim, int64_t D, dv_error *err)
{
	vnode *n = node_new(vt, VK_GATHER, err);

	if (!n)
		return NULL;
	n->in = malloc(nin * sizeof(*n->in));
	n->map_in = malloc((size_t)(D ? D : 1) * sizeof(*n->map_in));
	n->map_idx = malloc((size_t)(D ? D : 1) * sizeof(*n->map_idx));
	if (!n->in || !n->map_in || !n->map_idx) {
		dv_error_set(err, "out of memory");
		return NULL;
	}
	memcpy(n->in, in, nin * sizeof(*in));
	n->nin = nin;
	n->dim = dim;
	n->dtype = in[0]->dtype;
	node_set_shape(n, in[0]->ndim, in[0]->shape);
	n->shape[dim] = D;
	n->numel = prod(n->shape, 0, n->ndim);
	return n;
}

static vnode *concat_new(dv_vtensor *vt, vnode **in, size_t nin, int dim, dv_error *err)
{
	int64_t D = 0, j = 0;
	vnode *n;

	for (size_t k = 0; k < nin; k++) {
		if (!same_shape_except(in[k], in[0], dim)) {
			dv_error_set(err, "concat on dim %d: inputs of different shapes", dim);
			return NULL;
		}
		D += in[k]->shape[dim];
	}
	if (!(n = gather_new(vt, in, nin, dim, D, err)))
		return NULL;
	for (size_t k = 0; k < nin; k++)
		for (int64_t i = 0; i < in[k]->shape[dim]; i++, j++) {
			n->map_in[j] = (int32_t)k;
			n->map_idx[j] = i;
		}
	return n;
}

/* cp_thd_concat: per sequence the ranks' pieces of length L/c in rank
 * order, then the ranks' remainders in rank order. */
static vnode *thd_concat_new(dv_vtensor *vt, vnode **in, size_t nin, int dim, const dv_vtensor_opts *o,
			     dv_error *err)
{
	int64_t c = (int64_t)nin, share = 0, D = 0, j = 0;
	vnode *n;

	if (!o || !o->seq_lens) {
		dv_error_set(err, "cp_thd_concat: thd_global_seq_lens is required");
		return NULL;
	}
	for (size_t s = 0; s < o->nseq_lens; s++) {
		if (o->seq_lens[s] < 0 || o->seq_lens[s] % c) {
			dv_error_set(err, "Sequences must be padded to a multiple of cp_size %lld: length %lld",
				     (long long)c, (long long)o->seq_lens[s]);
			return NULL;
		}
		share += o->seq_lens[s] / c;
	}
	for (size_t k = 0; k < nin; k++) {
		if (!same_shape_except(in[k], in[0], dim)) {
			dv_error_set(err, "cp_thd_concat on dim %d: inputs of different shapes", dim);
			return NULL;
		}
		if (in[k]->shape[dim] < share) {
			dv_error_set(err, "cp_thd_concat: local length %lld is less than the sequences' share %lld",
				     (long long)in[k]->shape[dim], (long long)share);
			return NULL;
		}
		D += in[k]->shape[dim];
	}
	if (!(n = gather_new(vt, in, nin, dim, D, err)))
		return NULL;
	{
		int64_t off = 0;

		for (size_t s = 0; s < o->nseq_lens; s++) {
			int64_t l = o->seq_lens[s] / c;

			for (size_t k = 0; k < nin; k++)
				for (int64_t i = 0; i < l; i++, j++) {
					n->map_in[j] = (int32_t)k;
					n->map_idx[j] = off + i;
				}
			off += l;
		}
		for (size_t k = 0; k < nin; k++)
			for (int64_t i = off; i < in[k]->shape[dim]; i++, j++) {
				n->map_in[j] = (int32_t)k;
				n->map_idx[j] = i;
			}
	}
	return n;
}

/* Zigzag to natural over [base, base + L) of the dim: natural chunk k of
 * size m = L / 2c is concatenated chunk 2k for k < c, 4c - 1 - 2k after. */
static int zigzag_fill(vnode *n, int64_t base, int64_t L, int64_t c, dv_error *err)
{
	int64_t m;

	if (L % (2 * c)) {
		dv_error_set(err, "zigzag_to_natural: length %lld is not a multiple of 2 * cp_size (%lld)",
			     (long long)L, (long long)(2 * c));
		return -1;
	}
	m = L / (2 * c);
	for (int64_t g = 0; g < L; g++) {
		int64_t k = m ? g / m : 0, z = k < c ? 2 * k : 4 * c - 1 - 2 * k;

		n->map_in[base + g] = 0;
		n->map_idx[base + g] = base + z * m + (m ? g % m : 0);
	}
	return 0;
}

static vnode *zigzag_new(dv_vtensor *vt, vnode *in, int dim, int64_t c, bool thd, const dv_vtensor_opts *o,
			 dv_error *err)
{
	int64_t D = in->shape[dim], base = 0;
	vnode *n = gather_new(vt, &in, 1, dim, D, err);

	if (!n)
		return NULL;
	if (!thd)
		return zigzag_fill(n, 0, D, c, err) < 0 ? NULL : n;
	if (!o || !o->seq_lens) {
		dv_error_set(err, "zigzag_to_natural_thd: thd_global_seq_lens is required");
		return NULL;
	}
	for (size_t s = 0; s < o->nseq_lens; s++) {
		if (base + o->seq_lens[s] > D) {
			dv_error_set(err, "zigzag_to_natural_thd: sequences of %lld tokens or more in a dim of %lld",
				     (long long)(base + o->seq_lens[s]), (long long)D);
			return NULL;
		}
		if (zigzag_fill(n, base, o->seq_lens[s], c, err) < 0)
			return NULL;
		base += o->seq_lens[s];
	}
	for (; base < D; base++) {  /* the remainder passes through */
		n->map_in[base] = 0;
		n->map_idx[base] = base;
	}
	return n;
}

static vnode *sum_new(dv_vtensor *vt, vnode **in, size_t nin, dv_error *err)
{
	vnode *n;

	for (size_t k = 0; k < nin; k++)
		if (!same_shape_except(in[k], in[0], -1)) {
			dv_error_set(err, "reduce_sum: inputs of different shapes");
			return NULL;
		}
	/* float8 and integer sums would need their own rounding */
	if (in[0]->dtype != DV_BFLOAT16 && in[0]->dtype != DV_FLOAT16 && in[0]->dtype != DV_FLOAT32 &&
	    in[0]->dtype != DV_FLOAT64) {
		dv_error_set(err, "reduce_sum of %s is not supported", dv_dtype_name(in[0]->dtype));
		return NULL;
	}
	if (!(n = node_new(vt, VK_SUM, err)))
		return NULL;
	n->in = malloc(nin * sizeof(*n->in));
	n->tmp = malloc(VT_CHUNK * sizeof(float));
	if (!n->in || !n->tmp) {
		dv_error_set(err, "out of memory");
		return NULL;
	}
	memcpy(n->in, in, nin * sizeof(*in));
	n->nin = nin;
	n->dtype = in[0]->dtype;
	node_set_shape(n, in[0]->ndim, in[0]->shape);
	return n;
}

static int check_add(dv_vtensor *vt, dv_axis axis, size_t group, size_t compared, vnode *kept, vnode *other,
		     dv_error *err)
{
	if (vt->nchecks == vt->capchecks) {
		size_t cap = vt->capchecks ? vt->capchecks * 2 : 8;
		vcheck *c = realloc(vt->checks, cap * sizeof(*c));

		if (!c) {
			dv_error_set(err, "out of memory");
			return -1;
		}
		vt->checks = c;
		vt->capchecks = cap;
	}
	vt->checks[vt->nchecks++] = (vcheck){axis, group, compared, kept, other};
	return 0;
}

static vnode *op_apply(dv_vtensor *vt, const dv_unshard_op *op, vnode **in, size_t g, const dv_vtensor_opts *o,
		       dv_error *err)
{
	size_t a = op->group_start[g], b = op->group_start[g + 1], m = b - a;
	vnode *grp[m ? m : 1];

	for (size_t k = 0; k < m; k++) {
		if (op->members[a + k] >= op->nin) {
			dv_error_set(err, "plan member %zu out of range", op->members[a + k]);
			return NULL;
		}
		grp[k] = in[op->members[a + k]];
	}
	if (!m) {
		dv_error_set(err, "%s: empty group", dv_unshard_op_name(op->kind));
		return NULL;
	}
	if (op->dim < -1 || op->dim >= grp[0]->ndim) {
		dv_error_set(err, "%s: dim %d out of range", dv_unshard_op_name(op->kind), op->dim);
		return NULL;
	}
	switch (op->kind) {
	case DV_OP_PICK:
		for (size_t k = 1; k < m; k++)
			if (check_add(vt, op->axis, g, k, grp[0], grp[k], err) < 0)
				return NULL;
		return grp[0];
	case DV_OP_CONCAT:
		return m == 1 ? grp[0] : concat_new(vt, grp, m, op->dim, err);
	case DV_OP_REDUCE_SUM:
		return m == 1 ? grp[0] : sum_new(vt, grp, m, err);
	case DV_OP_CP_THD_CONCAT:
		return thd_concat_new(vt, grp, m, op->dim, o, err);
	case DV_OP_ZIGZAG_TO_NATURAL:
	case DV_OP_ZIGZAG_TO_NATURAL_THD:
		if (m != 1) {
			dv_error_set(err, "%s: one input expected, got %zu", dv_unshard_op_name(op->kind), m);
			return NULL;
		}
		return zigzag_new(vt, grp[0], op->dim, op->axis_size, op->kind == DV_OP_ZIGZAG_TO_NATURAL_THD, o, err);
	}
	dv_error_set(err, "unknown operation");
	return NULL;
}

dv_vtensor *dv_vtensor_open(const dv_unshard_plan *plan, const dv_vsource *shards, size_t nshards,
			    const dv_vtensor_opts *opts, dv_error *err)
{
	dv_vtensor *vt = calloc(1, sizeof(*vt));
	vnode **cur = NULL;
	size_t ncur = nshards;

	if (!vt || !(cur = calloc(nshards ? nshards : 1, sizeof(*cur)))) {
		dv_error_set(err, "out of memory");
		goto fail;
	}
	if (plan->nshards != nshards || (!plan->nops && nshards != 1)) {
		dv_error_set(err, "the plan is for %zu shards, %zu given", plan->nshards, nshards);
		goto fail;
	}
	for (size_t i = 0; i < nshards; i++) {
		vnode *n = node_new(vt, VK_LEAF, err);

		if (!n)
			goto fail;
		if (!shards[i].read_f32 || shards[i].ndim < 0 || shards[i].ndim > PT_MAX_DIMS) {
			dv_error_set(err, "%s: not a readable tensor", shards[i].name ? shards[i].name : "shard");
			goto fail;
		}
		n->src = shards[i];
		n->dtype = shards[i].dtype;
		n->shard = i;
		node_set_shape(n, shards[i].ndim, shards[i].shape);
		cur[i] = n;
	}
	for (size_t k = 0; k < plan->nops; k++) {
		const dv_unshard_op *op = &plan->ops[k];
		vnode **next;

		if (op->nin != ncur) {
			dv_error_set(err, "%s: %zu inputs planned, %zu present", dv_unshard_op_name(op->kind), op->nin,
				     ncur);
			goto fail;
		}
		/* the planned input shape is the first input's */
		if (cur[0]->ndim != op->ndim || memcmp(cur[0]->shape, op->in_shape, (size_t)op->ndim * 8)) {
			dv_error_set(err, "%s: input shape differs from the plan", dv_unshard_op_name(op->kind));
			goto fail;
		}
		if (!(next = calloc(op->nout ? op->nout : 1, sizeof(*next)))) {
			dv_error_set(err, "out of memory");
			goto fail;
		}
		for (size_t g = 0; g < op->nout; g++)
			if (!(next[g] = op_apply(vt, op, cur, g, opts, err))) {
				free(next);
				goto fail;
			}
		free(cur);
		cur = next;
		ncur = op->nout;
	}
	if (ncur != 1) {
		dv_error_set(err, "the plan ends with %zu tensors, not one", ncur);
		goto fail;
	}
	if (cur[0]->ndim != plan->ndim || memcmp(cur[0]->shape, plan->shape, (size_t)plan->ndim * 8)) {
		dv_error_set(err, "the unsharded shape differs from the plan's");
		goto fail;
	}
	vt->root = cur[0];
	free(cur);
	return vt;
fail:
	free(cur);
	dv_vtensor_close(vt);
	return NULL;
}

void dv_vtensor_close(dv_vtensor *vt)
{
	if (!vt)
		return;
	for (size_t i = 0; i < vt->nall; i++) {
		vnode *n = vt->all[i];

		free(n->in);
		free(n->map_in);
		free(n->map_idx);
		free(n->run);
		free(n->tmp);
		free(n->tmp2);
		free(n->buf);
		free(n->cache);
		free(n->rcache);
		free(n);
	}
	free(vt->all);
	free(vt->checks);
	free(vt->fuse_equal);
	free(vt);
}

int64_t dv_vtensor_numel(const dv_vtensor *vt)
{
	return vt->root->numel;
}

int dv_vtensor_ndim(const dv_vtensor *vt)
{
	return vt->root->ndim;
}

const int64_t *dv_vtensor_shape(const dv_vtensor *vt)
{
	return vt->root->shape;
}

dv_dtype dv_vtensor_dtype(const dv_vtensor *vt)
{
	return vt->root->dtype;
}

int dv_vtensor_read_f32(dv_vtensor *vt, int64_t start, int64_t count, float *out, dv_error *err)
{
	return node_read(vt->root, start, count, out, err);
}

/* ---- stored bytes, for trees that only move elements ---- */

static bool node_raw_ok(const vnode *n, dv_dtype dt)
{
	switch (n->kind) {
	case VK_LEAF:
		return n->src.read_raw && n->dtype == dt;
	case VK_GATHER:
		for (size_t k = 0; k < n->nin; k++)
			if (!node_raw_ok(n->in[k], dt))
				return false;
		return true;
	case VK_RESHAPE:
		return node_raw_ok(n->in[0], dt);
	case VK_SUM:
		/* rounded once to bfloat16: those bits are the stored form */
		return n->dtype == DV_BFLOAT16 && dt == DV_BFLOAT16;
	default:
		return false;   /* a permutation buffers floats */
	}
}

bool dv_vtensor_has_raw(const dv_vtensor *vt)
{
	return node_raw_ok(vt->root, vt->root->dtype);
}

int dv_vtensor_read_raw(dv_vtensor *vt, int64_t start, int64_t count, void *out, dv_error *err)
{
	return node_read_as(vt->root, start, count, out, dv_dtype_size(vt->root->dtype), true, err);
}

/* The leaf a tree is, through reshapes; NULL when it is more. */
static vnode *lone_leaf(vnode *n)
{
	while (n->kind == VK_RESHAPE)
		n = n->in[0];
	return n->kind == VK_LEAF ? n : NULL;
}

static size_t check_group_end(const dv_vtensor *vt, size_t i);
static int checks_bytes_chunk(vnode *kept, const void *kp, vnode *const *others, size_t n, int64_t s, int64_t cnt,
			      const void **other, bool *equal, dv_error *err);

/* The fused checks' step for elements [start, start + count) of the kept
 * copy, mapped at kp: 0, or -1 with err (a copy cut short). */
static int fuse_step(dv_vtensor *vt, vnode *leaf, const void *kp, int64_t start, int64_t count, dv_error *err)
{
	const void *other[SUM_MAP_MAX];
	vnode *others[SUM_MAP_MAX];
	size_t n;

	if (start == 0 && vt->fuse_next != leaf->numel) {
		/* (again) from the start: the group whose kept copy this is */
		size_t i = 0;

		vt->fuse_next = -1;
		while (i < vt->nchecks && vt->checks[i].kept != leaf)
			i++;
		if (i == vt->nchecks || check_group_end(vt, i) < i + 2 || check_group_end(vt, i) - i > SUM_MAP_MAX)
			return 0;
		vt->fuse_i0 = i;
		vt->fuse_i1 = check_group_end(vt, i);
		free(vt->fuse_equal);
		if (!(vt->fuse_equal = malloc((vt->fuse_i1 - i) * sizeof(bool))))
			return 0;
		for (size_t k = 0; k < vt->fuse_i1 - i; k++)
			vt->fuse_equal[k] = true;
		vt->fuse_next = 0;
	}
	if (vt->fuse_next < 0 || vt->fuse_next == leaf->numel)
		return 0;
	if (start != vt->fuse_next) {
		vt->fuse_next = -1;
		return 0;
	}
	n = vt->fuse_i1 - vt->fuse_i0;
	for (size_t k = 0; k < n; k++)
		others[k] = vt->checks[vt->fuse_i0 + k].other;
	/* every copy in place (a file of its own) or none: then the checks read them later */
	{
		vnode *all[SUM_MAP_MAX + 1];

		all[0] = leaf;
		memcpy(all + 1, others, n * sizeof(*others));
		if (!leaves_mappable(all, n + 1)) {
			vt->fuse_next = -1;
			return 0;
		}
	}
	switch (checks_bytes_chunk(leaf, kp, others, n, start, count, other, vt->fuse_equal, err)) {
	case -1:
		return -1;
	case 0:
		vt->fuse_next = -1;
		return 0;
	}
	vt->fuse_next = start + count;
	return 0;
}

/* A gather of leaves (through reshapes) as runs of its inputs' mapped
 * bytes: 1, 0 when it does not map or needs more than max runs, -1 err. */
static int gather_map(vnode *n, int64_t start, int64_t count, dv_raw_run *runs, size_t max, size_t *nruns,
		      dv_error *err)
{
	int64_t D = n->shape[n->dim], inner = prod(n->shape, n->dim + 1, n->ndim), e = start, end = start + count;
	vnode *leaves[SUM_MAP_MAX];
	int64_t lo[SUM_MAP_MAX], hi[SUM_MAP_MAX];
	const void *base[SUM_MAP_MAX];
	size_t in_of[256], k = 0, isz = dv_dtype_size(n->dtype);
	int64_t off_of[256];

	if (n->nin > SUM_MAP_MAX)
		return 0;
	if (max > 256)
		max = 256;
	for (size_t i = 0; i < n->nin; i++) {
		if (!(leaves[i] = lone_leaf(n->in[i])) || leaves[i]->dtype != n->dtype)
			return 0;
		lo[i] = INT64_MAX;
		hi[i] = -1;
	}
	if (!leaves_mappable(leaves, n->nin))
		return 0;
	if (!n->run && gather_runs(n, err) < 0)
		return -1;
	/* the runs, as gather_read reads them; one input's consecutive runs joined */
	while (e < end) {
		int64_t o = e / (D * inner), j = (e / inner) % D, i = e % inner;
		size_t in = (size_t)n->map_in[j];
		int64_t len = n->run[j] * inner - i, off;

		if (len > end - e)
			len = end - e;
		off = o * n->in[in]->shape[n->dim] * inner + n->map_idx[j] * inner + i;
		if (k && in_of[k - 1] == in && off_of[k - 1] + runs[k - 1].n == off) {
			runs[k - 1].n += len;
		} else {
			if (k == max)
				return 0;
			in_of[k] = in;
			off_of[k] = off;
			runs[k++].n = len;
		}
		lo[in] = off < lo[in] ? off : lo[in];
		hi[in] = off + len > hi[in] ? off + len : hi[in];
		e += len;
	}
	/* each input's part of the chunk mapped once (one window per file) */
	for (size_t i = 0; i < n->nin; i++) {
		int rc;

		if (hi[i] >= 0 && (rc = leaf_map(leaves[i], lo[i], hi[i] - lo[i], &base[i], err)) <= 0)
			return rc;
	}
	for (size_t r = 0; r < k; r++)
		runs[r].p = (const char *)base[in_of[r]] + (size_t)(off_of[r] - lo[in_of[r]]) * isz;
	*nruns = k;
	return 1;
}

int dv_vtensor_map_raw(dv_vtensor *vt, int64_t start, int64_t count, dv_raw_run *runs, size_t max, size_t *nruns,
		       dv_error *err)
{
	vnode *n = vt->root, *leaf;
	int rc;

	while (n->kind == VK_RESHAPE)
		n = n->in[0];
	if (count <= 0 || start < 0 || start > n->numel || count > n->numel - start || max < 1 ||
	    n->dtype != vt->root->dtype)
		return 0;
	if (n->kind == VK_GATHER)
		return gather_map(n, start, count, runs, max, nruns, err);
	if (!(leaf = lone_leaf(n)))
		return 0;
	rc = leaf_map(leaf, start, count, &runs[0].p, err);
	if (rc != 1)
		return rc;
	runs[0].n = count;
	*nruns = 1;
	/* a kept replica: its copies compared while its chunk is at hand */
	if (vt->nchecks && fuse_step(vt, leaf, runs[0].p, start, count, err) < 0)
		return -1;
	return 1;
}

int dv_vtensor_map_fault(const dv_vtensor *vt, dv_error *err)
{
	vnode *n = vt->root;
	size_t nin;
	vnode *const *in;

	while (n->kind == VK_RESHAPE)
		n = n->in[0];
	in = n->kind == VK_GATHER ? n->in : &n;
	nin = n->kind == VK_GATHER ? n->nin : 1;
	for (size_t k = 0; k < nin; k++) {
		vnode *leaf = lone_leaf(in[k]);
		pt_file *f = leaf ? leaf_file(leaf) : NULL;

		if (f && pt_map_faulted(f)) {
			map_fault(&leaf, 1, err);
			return 1;
		}
	}
	return 0;
}

/* ---- axis alignment ---- */

/* Next name of a pattern side: letters, digits, '_' (fused names a___b
 * included) or "1"; parentheses are skipped. Returns its length, 0 at end. */
static size_t next_name(const char **p, const char *end)
{
	const char *s = *p;
	size_t len;

	while (s < end && (*s == ' ' || *s == '(' || *s == ')'))
		s++;
	len = 0;
	while (s + len < end && s[len] != ' ' && s[len] != '(' && s[len] != ')')
		len++;
	*p = s + len;
	return len;
}

int dv_vtensor_align(dv_vtensor *vt, const char *pattern, int ndim, const int64_t *shape, dv_error *err)
{
	vnode *in = vt->root, *n;
	int perm[PT_MAX_DIMS], nperm = 0;
	bool identity = true;
	int last = -1;

	if (ndim < 0 || ndim > PT_MAX_DIMS || prod(shape, 0, ndim) != in->numel) {
		dv_error_set(err, "axis alignment: the aligned shape does not hold the tensor's %lld elements",
			     (long long)in->numel);
		return -1;
	}
	if (pattern) {
		const char *arrow = strstr(pattern, "->"), *p, *lend, *q, *rend;
		const char *names[PT_MAX_DIMS];
		size_t lens[PT_MAX_DIMS], len;
		int nl = 0;

		if (!arrow) {
			dv_error_set(err, "axis alignment: no '->' in pattern '%s'", pattern);
			return -1;
		}
		p = pattern;
		lend = arrow;
		while ((len = next_name(&p, lend))) {
			if (nl == PT_MAX_DIMS)
				break;
			names[nl] = p - len;
			lens[nl++] = len;
		}
		if (nl != in->ndim) {
			dv_error_set(err, "axis alignment: pattern '%s' has %d dims on the left, the tensor %d", pattern,
				     nl, in->ndim);
			return -1;
		}
		q = arrow + 2;
		rend = pattern + strlen(pattern);
		while ((len = next_name(&q, rend))) {
			int k;

			for (k = 0; k < nl; k++)
				if (lens[k] == len && !memcmp(names[k], q - len, len))
					break;
			for (int i = 0; k < nl && i < nperm; i++)
				if (perm[i] == k)
					k = nl; /* named twice */
			if (k == nl || nperm == PT_MAX_DIMS) {
				dv_error_set(err, "axis alignment: pattern '%s': a name on the right is not on the left once",
					     pattern);
				return -1;
			}
			perm[nperm++] = k;
		}
		/* the right side holds every left dim except the '1's */
		for (int k = 0; k < nl; k++) {
			bool used = false;

			for (int i = 0; i < nperm; i++)
				used |= perm[i] == k;
			if (!used && !(lens[k] == 1 && names[k][0] == '1' && in->shape[k] == 1)) {
				dv_error_set(err, "axis alignment: pattern '%s' drops a dim that is not '1' of size 1",
					     pattern);
				return -1;
			}
		}
		/* dims of size 1 move freely: only the order of the others matters */
		for (int i = 0; i < nperm; i++) {
			if (in->shape[perm[i]] == 1)
				continue;
			if (perm[i] < last)
				identity = false;
			last = perm[i];
		}
	}
	if (!identity) {
		if (in->numel > DV_VTENSOR_PERMUTE_MAX) {
			dv_error_set(err, "axis alignment: permuting %lld elements needs more than the %lld buffered",
				     (long long)in->numel, (long long)DV_VTENSOR_PERMUTE_MAX);
			return -1;
		}
		if (!(n = node_new(vt, VK_PERMUTE, err)))
			return -1;
		if (!(n->in = malloc(sizeof(*n->in)))) {
			dv_error_set(err, "out of memory");
			return -1;
		}
		n->in[0] = in;
		n->nin = 1;
		n->dtype = in->dtype;
		n->ndim = nperm;
		for (int k = 0; k < nperm; k++) {
			n->perm[k] = perm[k];
			n->shape[k] = in->shape[perm[k]];
		}
		n->numel = in->numel;
		in = n;
	}
	if (!(n = node_new(vt, VK_RESHAPE, err)))
		return -1;
	if (!(n->in = malloc(sizeof(*n->in)))) {
		dv_error_set(err, "out of memory");
		return -1;
	}
	n->in[0] = in;
	n->nin = 1;
	n->dtype = in->dtype;
	node_set_shape(n, ndim, shape);
	vt->root = n;
	return 0;
}

/* ---- joining ---- */

dv_vtensor *dv_vtensor_join_map(dv_vtensor **parts, const size_t *nshards, size_t n, int dim, const int32_t *part_of,
				const int64_t *index, int64_t len, dv_error *err)
{
	dv_vtensor *vt = calloc(1, sizeof(*vt));
	vnode **roots = calloc(n ? n : 1, sizeof(*roots)), *g;
	int64_t D = 0, j = 0;
	size_t off = 0;

	if (!vt || !roots) {
		dv_error_set(err, "out of memory");
		goto fail;
	}
	if (!n || dim < 0 || dim >= parts[0]->root->ndim) {
		dv_error_set(err, "join: no part, or dim %d outside the tensor", dim);
		goto fail;
	}
	/* adopt every part's nodes and checks */
	for (size_t k = 0; k < n; k++) {
		dv_vtensor *p = parts[k];

		if (vt->nall + p->nall > vt->capall) {
			size_t cap = (vt->capall ? vt->capall * 2 : 16) + p->nall;
			vnode **a = realloc(vt->all, cap * sizeof(*a));

			if (!a) {
				dv_error_set(err, "out of memory");
				goto fail;
			}
			vt->all = a;
			vt->capall = cap;
		}
		for (size_t i = 0; i < p->nall; i++) {
			if (p->all[i]->kind == VK_LEAF)
				p->all[i]->shard += off;
			vt->all[vt->nall++] = p->all[i];
		}
		p->nall = 0;
		for (size_t i = 0; i < p->nchecks; i++) {
			if (vt->nchecks == vt->capchecks) {
				size_t cap = vt->capchecks ? vt->capchecks * 2 : 8;
				vcheck *c = realloc(vt->checks, cap * sizeof(*c));

				if (!c) {
					dv_error_set(err, "out of memory");
					goto fail;
				}
				vt->checks = c;
				vt->capchecks = cap;
			}
			vt->checks[vt->nchecks++] = p->checks[i];
		}
		p->nchecks = 0;
		off += nshards[k];
		roots[k] = p->root;
		if (!same_shape_except(roots[k], roots[0], dim)) {
			dv_error_set(err, "join on dim %d: parts of different shapes", dim);
			goto fail;
		}
		D += roots[k]->shape[dim];
	}
	if (part_of) {
		/* every (part, index) must exist: a token plan names them */
		for (int64_t t = 0; t < len; t++)
			if (part_of[t] < 0 || (size_t)part_of[t] >= n || index[t] < 0 ||
			    index[t] >= roots[part_of[t]]->shape[dim]) {
				dv_error_set(err, "join: element %lld of the map (part %d, index %lld) is outside the parts",
					     (long long)t, part_of[t], (long long)index[t]);
				goto fail;
			}
		D = len;
	} else if (len >= 0 && len < D) {
		D = len;
	}
	if (!(g = gather_new(vt, roots, n, dim, D, err)))
		goto fail;
	if (part_of) {
		memcpy(g->map_in, part_of, (size_t)D * sizeof(*part_of));
		memcpy(g->map_idx, index, (size_t)D * sizeof(*index));
	} else {
		for (size_t k = 0; k < n && j < D; k++)
			for (int64_t i = 0; i < roots[k]->shape[dim] && j < D; i++, j++) {
				g->map_in[j] = (int32_t)k;
				g->map_idx[j] = i;
			}
	}
	vt->root = g;
	for (size_t k = 0; k < n; k++)
		dv_vtensor_close(parts[k]);
	free(roots);
	return vt;
fail:
	for (size_t k = 0; k < n; k++)
		dv_vtensor_close(parts[k]);
	free(roots);
	dv_vtensor_close(vt);
	return NULL;
}

dv_vtensor *dv_vtensor_join(dv_vtensor **parts, const size_t *nshards, size_t n, int dim, int64_t len,
			    dv_error *err)
{
	return dv_vtensor_join_map(parts, nshards, n, dim, NULL, NULL, len, err);
}

/* ---- where an element comes from ---- */

static int node_locate(const vnode *n, int64_t idx, dv_vloc *out, size_t max, size_t *cnt, int64_t *run)
{
	switch (n->kind) {
	case VK_LEAF:
		if (*cnt >= max)
			return -1;
		out[*cnt].shard = n->shard;
		out[*cnt].index = idx;
		(*cnt)++;
		if (n->numel - idx < *run)
			*run = n->numel - idx;
		return 0;
	case VK_GATHER: {
		int64_t D = n->shape[n->dim], inner = prod(n->shape, n->dim + 1, n->ndim);
		int64_t o = idx / (D * inner), j = (idx / inner) % D, i = idx % inner;
		const vnode *in = n->in[n->map_in[j]];

		if (inner - i < *run)
			*run = inner - i;
		return node_locate(in, o * in->shape[n->dim] * inner + n->map_idx[j] * inner + i, out, max, cnt, run);
	}
	case VK_SUM:
		for (size_t k = 0; k < n->nin; k++)
			if (node_locate(n->in[k], idx, out, max, cnt, run) < 0)
				return -1;
		return 0;
	case VK_PERMUTE: {
		const vnode *in = n->in[0];
		int64_t icoord[PT_MAX_DIMS], r = idx, off = 0;

		for (int k = n->ndim - 1; k >= 0; k--) {
			icoord[n->perm[k]] = r % n->shape[k];
			r /= n->shape[k];
		}
		for (int d = 0; d < in->ndim; d++)
			off = off * in->shape[d] + icoord[d];
		*run = 1;
		return node_locate(in, off, out, max, cnt, run);
	}
	case VK_RESHAPE:
		return node_locate(n->in[0], idx, out, max, cnt, run);
	}
	return -1;
}

int dv_vtensor_locate(const dv_vtensor *vt, int64_t index, dv_vloc *out, size_t max, int64_t *run)
{
	size_t cnt = 0;
	int64_t r;

	if (index < 0 || index >= vt->root->numel)
		return -1;
	r = vt->root->numel - index;
	if (node_locate(vt->root, index, out, max, &cnt, &r) < 0)
		return -1;
	if (run)
		*run = r < 1 ? 1 : r;
	return (int)cnt;
}

/* ---- diffs and replicated checks ---- */

void dv_vdiff_init(dv_vdiff *d)
{
	memset(d, 0, sizeof(*d));
	d->max_index = -1;
}

void dv_vdiff_add(dv_vdiff *d, const float *a, const float *b, size_t n, int64_t start)
{
	for (size_t i = 0; i < n; i++) {
		float ad = fabsf(b[i] - a[i]);
		double x = a[i], y = b[i];

		d->dot += x * y;
		d->norm += x * x + y * y;
		d->abs_sum += ad;
		/* as torch's max: a NaN difference is the largest, and stays */
		if (d->max_index < 0 || (ad > d->max_abs && !isnan(d->max_abs)) || (isnan(ad) && !isnan(d->max_abs))) {
			d->max_abs = ad;
			d->max_index = start + (int64_t)i;
		}
	}
	d->n += (int64_t)n;
}

double dv_vdiff_rel(const dv_vdiff *d)
{
	if (d->max_abs == 0 || d->norm == 0)
		return 0;
	return 1 - 2 * d->dot / d->norm;
}

double dv_vdiff_mean_abs(const dv_vdiff *d)
{
	return d->n ? d->abs_sum / (double)d->n : 0;
}

/* Whether n elements of a 2- or 4-byte float dtype hold a NaN: the
 * largest magnitude's bits above infinity's (a max without an early exit
 * vectorises to a compare a vector of elements: NaN is rare). */
VT_VECTOR static bool raw_has_nan(dv_dtype dt, const void *raw, size_t n)
{
	if (dt == DV_FLOAT32) {
		const uint32_t *u = raw;
		uint32_t top = 0;

		for (size_t i = 0; i < n; i++) {
			uint32_t a = u[i] & 0x7fffffffu;

			top = a > top ? a : top;
		}
		return top > 0x7f800000u;
	}
	{
		const uint16_t *h = raw;
		uint16_t top = 0;

		for (size_t i = 0; i < n; i++) {
			uint16_t a = h[i] & 0x7fff;

			top = a > top ? a : top;
		}
		return top > (dt == DV_BFLOAT16 ? 0x7f80 : 0x7c00);
	}
}

/* Two copies that should be equal usually are, bit for bit: compared as
 * bytes first. Equal bytes (and no NaN, whose difference is NaN) all
 * through give max_abs_diff 0 and rel_diff 0 with no float work; the first
 * chunk that differs starts the float diff over from the beginning. */
static bool raw_comparable(const vnode *a, const vnode *b)
{
	return a->kind == VK_LEAF && b->kind == VK_LEAF && a->src.read_raw && b->src.read_raw &&
	       a->dtype == b->dtype &&
	       (a->dtype == DV_BFLOAT16 || a->dtype == DV_FLOAT16 || a->dtype == DV_FLOAT32);
}

static int nodes_diff(vnode *a, vnode *b, dv_vdiff *d, bool bytes_first, dv_error *err)
{
	float *x = malloc(2 * VT_CHUNK * sizeof(float));
	bool raw = bytes_first && raw_comparable(a, b);
	size_t isz = raw ? dv_dtype_size(a->dtype) : 0;
	char *ra = raw ? malloc(2 * VT_CHUNK * isz) : NULL;
	int rc = 0;

	dv_vdiff_init(d);
	if (a->numel != b->numel) {
		dv_error_set(err, "diff of %lld against %lld elements", (long long)a->numel, (long long)b->numel);
		free(x);
		free(ra);
		return -1;
	}
	if (!x) {
		dv_error_set(err, "out of memory");
		free(ra);
		return -1;
	}
	if (raw && !ra)
		raw = false;
	for (int64_t s = 0; s < a->numel && rc == 0; s += VT_CHUNK) {
		int64_t cnt = a->numel - s < VT_CHUNK ? a->numel - s : VT_CHUNK;

		if (raw) {
			char *rb = ra + VT_CHUNK * isz;

			if (a->src.read_raw(a->src.ctx, s, cnt, ra, err) < 0 ||
			    b->src.read_raw(b->src.ctx, s, cnt, rb, err) < 0) {
				rc = -1;
				break;
			}
			if (!memcmp(ra, rb, (size_t)cnt * isz) && !raw_has_nan(a->dtype, ra, (size_t)cnt)) {
				/* |b - a| = 0: only the norms would change, and
				 * rel_diff needs them only once a difference shows */
				if (d->max_index < 0) {
					d->max_abs = 0;
					d->max_index = s;
				}
				d->n += cnt;
				continue;
			}
			/* a difference: the whole diff again as floats, so the
			 * norms cover every element (copies differ rarely) */
			raw = false;
			dv_vdiff_init(d);
			s = -VT_CHUNK;
			continue;
		}
		if (node_read(a, s, cnt, x, err) < 0 || node_read(b, s, cnt, x + VT_CHUNK, err) < 0)
			rc = -1;
		else
			dv_vdiff_add(d, x, x + VT_CHUNK, (size_t)cnt, s);
	}
	free(x);
	free(ra);
	return rc;
}

int dv_vtensor_diff(dv_vtensor *a, dv_vtensor *b, dv_vdiff *d, dv_error *err)
{
	return nodes_diff(a->root, b->root, d, true, err);
}

static int check_nodes(vnode *kept, vnode *other, dv_replicated_result *r, bool bytes_first, dv_error *err)
{
	memset(r, 0, sizeof(*r));
	dv_vdiff_init(&r->diff);
	r->kept_shard = kept->shard;
	r->compared_shard = other->shard;
	r->shape_equal = kept->ndim == other->ndim && !memcmp(kept->shape, other->shape, (size_t)kept->ndim * 8);
	if (!r->shape_equal)
		return 0;
	if (nodes_diff(kept, other, &r->diff, bytes_first, err) < 0)
		return -1;
	/* NaN in max_abs compares false: a NaN difference does not pass */
	r->passed = r->diff.max_abs <= DV_REPLICATED_ATOL;
	return 0;
}

int dv_replicated_check(dv_vtensor *kept, dv_vtensor *other, dv_replicated_result *r, dv_error *err)
{
	return check_nodes(kept->root, other->root, r, true, err);
}

/* The bytes of one chunk of the kept copy against those of each other copy
 * still equal to it, and whether the kept chunk holds a NaN. */
typedef struct map_cmp {
	const void *kept;
	const void **other;
	bool *equal;
	size_t n, len;
	int64_t count;
	dv_dtype dtype;
} map_cmp;

static void map_cmp_fn(void *arg)
{
	map_cmp *m = arg;
	bool nan = raw_has_nan(m->dtype, m->kept, (size_t)m->count);

	for (size_t i = 0; i < m->n; i++)
		if (m->equal[i])
			m->equal[i] = !nan && !memcmp(m->kept, m->other[i], m->len);
}

/* Checks [i0, i1) share their kept copy and compare as bytes: one pass over
 * the kept copy for all of them, every copy read or mapped once (a copy per
 * check read both would read the kept one once per check). equal[i - i0]
 * says which copies equal the kept one byte for byte with no NaN: those
 * have the byte path's result; the others need the float diff. */
static int checks_bytes(dv_vtensor *vt, size_t i0, size_t i1, bool *equal, dv_error *err)
{
	vnode *kept = vt->checks[i0].kept;
	size_t n = i1 - i0, isz = dv_dtype_size(kept->dtype);
	pt_file *kf = leaf_file(kept);
	char *buf = malloc((n + 1) * VT_CHUNK * isz);
	const void **other = calloc(n, sizeof(*other));
	vnode **leaves = calloc(n + 1, sizeof(*leaves));
	int rc = 0;

	if (!buf || !other || !leaves) {
		free(buf);
		free(other);
		free(leaves);
		return dv_error_set(err, "out of memory");
	}
	leaves[0] = kept;
	for (size_t i = 0; i < n; i++) {
		equal[i] = true;
		leaves[i + 1] = vt->checks[i0 + i].other;
	}
	for (int64_t s = 0; s < kept->numel && rc == 0; s += VT_CHUNK) {
		int64_t cnt = kept->numel - s < VT_CHUNK ? kept->numel - s : VT_CHUNK;
		map_cmp m = {.other = other, .equal = equal, .n = n, .len = (size_t)cnt * isz, .count = cnt,
			     .dtype = kept->dtype};
		bool any = false;

		for (size_t i = 0; i < n; i++)
			any |= equal[i];
		if (!any)
			break;
		/* mapped where the files differ (one window per file), else read */
		for (size_t i = 0; i <= n && rc == 0; i++) {
			vnode *v = leaves[i];
			const void **p = i ? &other[i - 1] : &m.kept;
			char *b = buf + i * VT_CHUNK * isz;
			int mrc = 0;

			if (i && !equal[i - 1])
				continue;
			if (kf && leaf_file(v)) {
				bool alone = true;

				for (size_t j = 0; j < i; j++)
					alone &= leaf_file(leaves[j]) != leaf_file(v);
				if (alone)
					mrc = leaf_map(v, s, cnt, p, err);
			}
			if (mrc < 0)
				rc = -1;
			else if (mrc == 0 && v->src.read_raw(v->src.ctx, s, cnt, b, err) < 0)
				rc = -1;
			else if (mrc == 0)
				*p = b;
		}
		if (rc == 0 && pt_map_guarded(map_cmp_fn, &m) < 0)
			rc = map_fault(leaves, n + 1, err);
	}
	free(buf);
	free(other);
	free(leaves);
	return rc;
}

/* One chunk of the byte checks with every copy still equal mapped: 1
 * done (equal updated), 0 when a copy does not map (nothing changed), -1
 * with err. */
static int checks_bytes_chunk(vnode *kept, const void *kp, vnode *const *others, size_t n, int64_t s, int64_t cnt,
			      const void **other, bool *equal, dv_error *err)
{
	map_cmp m = {.kept = kp, .other = other, .equal = equal, .n = n,
		     .len = (size_t)cnt * dv_dtype_size(kept->dtype), .count = cnt, .dtype = kept->dtype};
	vnode *leaves[SUM_MAP_MAX + 1];
	bool any = false;

	for (size_t i = 0; i < n; i++) {
		int rc;

		other[i] = NULL;
		if (!equal[i])
			continue;
		any = true;
		if ((rc = leaf_map(others[i], s, cnt, &other[i], err)) <= 0)
			return rc;
	}
	if (!any)
		return 1;
	if (pt_map_guarded(map_cmp_fn, &m) < 0) {
		leaves[0] = kept;
		memcpy(leaves + 1, others, n * sizeof(*others));
		return map_fault(leaves, n + 1, err);
	}
	return 1;
}

/* The end of the group of checks from i on that share their kept copy and
 * compare as bytes. */
static size_t check_group_end(const dv_vtensor *vt, size_t i)
{
	vnode *kept = vt->checks[i].kept;
	size_t j;

	for (j = i; j < vt->nchecks && vt->checks[j].kept == kept; j++) {
		vnode *o = vt->checks[j].other;

		if (!raw_comparable(kept, o) || kept->numel == 0 || o->ndim != kept->ndim ||
		    memcmp(o->shape, kept->shape, (size_t)kept->ndim * 8))
			break;
	}
	return j;
}

int dv_vtensor_checks(dv_vtensor *vt, dv_replicated_result **out, size_t *n, dv_error *err)
{
	dv_replicated_result *r;
	bool *equal;

	*out = NULL;
	*n = 0;
	if (!vt->nchecks)
		return 0;
	r = calloc(vt->nchecks, sizeof(*r));
	equal = calloc(vt->nchecks, sizeof(*equal));
	if (!r || !equal) {
		free(r);
		free(equal);
		dv_error_set(err, "out of memory");
		return -1;
	}
	for (size_t i = 0, j; i < vt->nchecks; i = j) {
		vnode *kept = vt->checks[i].kept;

		/* the checks of one kept copy whose bytes can be compared:
		 * done already if the stream read that copy in place through */
		j = check_group_end(vt, i);
		if (j > i + 1 && vt->fuse_equal && vt->fuse_i0 == i && vt->fuse_i1 == j &&
		    vt->fuse_next == kept->numel)
			memcpy(equal + i, vt->fuse_equal, (j - i) * sizeof(*equal));
		else if (j > i + 1 && checks_bytes(vt, i, j, equal + i, err) < 0)
			goto fail;
		if (j == i)
			j = i + 1;
		for (size_t k = i; k < j; k++) {
			if (j > i + 1 && equal[k]) {
				/* as nodes_diff's byte path finds equal bytes all through */
				memset(&r[k], 0, sizeof(r[k]));
				dv_vdiff_init(&r[k].diff);
				r[k].kept_shard = kept->shard;
				r[k].compared_shard = vt->checks[k].other->shard;
				r[k].shape_equal = true;
				r[k].diff.max_abs = 0;
				r[k].diff.max_index = 0;
				r[k].diff.n = kept->numel;
				r[k].passed = true;
			} else if (check_nodes(kept, vt->checks[k].other, &r[k], j > i + 1 ? false : true, err) < 0) {
				goto fail;
			}
			r[k].axis = vt->checks[k].axis;
			r[k].group_index = vt->checks[k].group;
			r[k].compared_index = vt->checks[k].compared;
		}
	}
	free(equal);
	*out = r;
	*n = vt->nchecks;
	return 0;
fail:
	free(r);
	free(equal);
	return -1;
}
