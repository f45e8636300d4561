/* gen_dumps: writes large baseline/target dump pairs for the benchmarks.
 *
 * Every file is a real torch.save zip, byte for byte the layout torch 2.x
 * writes for {"value": tensor, "meta": {...}}: <root>/data.pkl (protocol-2
 * pickle, _rebuild_tensor_v2 with a BFloat16Storage persistent id),
 * .format_version, .storage_alignment, byteorder, data/0 (stored, 64-byte
 * aligned through an "FB" extra field as torch pads it), version and
 * .data/serialization_id. We write the zip ourselves because libzip cannot
 * align entry data; entries are plain zip32 stored entries with the sizes in
 * the local header (torch and libzip both read those), CRC-32 filled in.
 *
 * Values come from a seeded PRNG, one stream per file, so a set is the same
 * bytes on every run and on any thread count.
 *
 * usage: gen_dumps [-j THREADS] [-n PAIRS] [-r ROWS] wide|wide-tp8|many|tui|scale|size OUTDIR
 *   wide: one phase, 24 layers x 6 tensors of [1024, 4096] bf16 (8 MiB each);
 *         target = baseline + 1-ulp noise, diverging (>1e-3) from layer 17.
 *   wide-tp8: wide's baseline (the same bytes, TP=1) against wide's target
 *         written as TP=8 shards: 8 files per tensor (rank=0..7), meta "dims"
 *         and sglang_parallel_info. Per layer 4 tensors `t h[tp]` (rank r
 *         holds columns 512r..512r+511), mlp_output `t h[tp:partial]` (8
 *         bf16 shares whose float32 sum in rank order is exactly wide's
 *         value) and residual `t h # tp:replicated` (8 identical copies).
 *         Unsharded, the target is wide's target bit for bit.
 *   many: 4000 pairs of [32, 256] bf16 over inference/fwd_only/fwd_bwd,
 *         48 layers x 8 tensors a step (~3.5 steps a phase); fwd_bwd
 *         diverges from layer 40 (steps 0-2; step 3 ends at layer 22).
 *   tui:  8000 pairs of [8, 64] bf16 over the three phases (TUI first paint).
 *   scale: 1000 pairs of [4, 8] bf16 (-n PAIRS: any number), the growth table.
 *   size: one pair of [128, 4096] bf16 (1 MiB a file; -r ROWS: ROWS x 8 KiB,
 *         up to 524 000 rows, the zip32 limit), rounding-level differences:
 *         the tensor-size sweep.
 *   -n PAIRS gives any set another number of pairs, -r ROWS another number
 *   of rows.
 * Writes OUTDIR/baseline and OUTDIR/target.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ALIGNMENT 64

/* ---- PRNG: splitmix64 seeding, xoshiro256** stream ---- */

struct rng {
	uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* Approximately standard normal: Irwin-Hall sum of four 16-bit uniforms,
 * centred and scaled to unit variance. Cheap, and bell-shaped enough for
 * realistic percentiles. */
static inline float rng_normal(struct rng *r)
{
	uint64_t x = rng_next(r);
	uint32_t sum = (uint32_t)(x & 0xffff) + (uint32_t)((x >> 16) & 0xffff) +
		       (uint32_t)((x >> 32) & 0xffff) + (uint32_t)(x >> 48);
	/* var of one U[0,65535] = 65536^2/12; four of them: 65536^2/3 */
	return ((float)sum - 2.0f * 65535.0f) * (1.7320508f / 65536.0f);
}

/* ---- bfloat16 ---- */

static inline uint16_t f32_to_bf16(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
	u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even */
	return (uint16_t)(u >> 16);
}

static inline float bf16_to_f32(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

/* ---- CRC-32 (zip polynomial), slice-by-8 ---- */

static uint32_t crc_table[8][256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
					  crc_table[0][crc_table[t - 1][i] & 0xff];
}

static uint32_t crc32_buf(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t c = 0xffffffffu;
	while (len >= 8) {
		uint32_t lo = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
			      (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
		uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 |
			      (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
		lo ^= c;
		c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		    crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		    crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		    crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

/* ---- growable byte buffer ---- */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void die(const char *what)
{
	fprintf(stderr, "gen_dumps: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void buf_put(struct buf *b, const void *src, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1024;
		while (cap < b->len + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p)
			die("out of memory");
		b->cap = cap;
	}
	memcpy(b->p + b->len, src, n);
	b->len += n;
}

static void buf_u8(struct buf *b, uint8_t v)
{
	buf_put(b, &v, 1);
}

static void buf_le(struct buf *b, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		buf_u8(b, (uint8_t)(v >> (8 * i)));
}

/* ---- pickle writer (protocol 2, as torch writes it) ---- */

struct pickler {
	struct buf out;
	unsigned memo;
};

static void pk_memo(struct pickler *pk)
{
	if (pk->memo < 256) {
		buf_u8(&pk->out, 'q');
		buf_u8(&pk->out, (uint8_t)pk->memo);
	} else {
		buf_u8(&pk->out, 'r');
		buf_le(&pk->out, pk->memo, 4);
	}
	pk->memo++;
}

static void pk_str(struct pickler *pk, const char *s)
{
	size_t n = strlen(s);
	buf_u8(&pk->out, 'X');
	buf_le(&pk->out, n, 4);
	buf_put(&pk->out, s, n);
	pk_memo(pk);
}

static void pk_int(struct pickler *pk, long v)
{
	if (v >= 0 && v < 256) {
		buf_u8(&pk->out, 'K');
		buf_u8(&pk->out, (uint8_t)v);
	} else if (v >= 0 && v < 65536) {
		buf_u8(&pk->out, 'M');
		buf_le(&pk->out, (uint64_t)v, 2);
	} else {
		buf_u8(&pk->out, 'J');
		buf_le(&pk->out, (uint64_t)(uint32_t)(int32_t)v, 4);
	}
}

static void pk_global(struct pickler *pk, const char *module, const char *name)
{
	buf_u8(&pk->out, 'c');
	buf_put(&pk->out, module, strlen(module));
	buf_u8(&pk->out, '\n');
	buf_put(&pk->out, name, strlen(name));
	buf_u8(&pk->out, '\n');
	pk_memo(pk);
}

static void pk_op(struct pickler *pk, uint8_t op)
{
	buf_u8(&pk->out, op);
}

static void pk_bool(struct pickler *pk, int v)
{
	pk_op(pk, v ? 0x88 : 0x89);
}

struct dump_tags {
	int step, rank, dump_index, layer; /* layer < 0: no layer_id tag */
	const char *name;
	const char *dims;	/* meta "dims" (NULL: "t h") */
	int tp_size;		/* 0 or 1: TP=1 meta; > 1: rank is the TP rank */
};

/* One "X_rank", "X_size" pair of a parallel-info dict. */
static void pk_axis(struct pickler *pk, const char *axis, int rank, int size)
{
	char key[32];
	snprintf(key, sizeof(key), "%s_rank", axis);
	pk_str(pk, key);
	pk_int(pk, rank);
	snprintf(key, sizeof(key), "%s_size", axis);
	pk_str(pk, key);
	pk_int(pk, size);
}

/* {"value": _rebuild_tensor_v2(storage, 0, (rows, cols), (cols, 1), False,
 *  OrderedDict()), "meta": {tags..., world_rank, world_size, parallel info}} */
static void pickle_payload(struct pickler *pk, const struct dump_tags *tg,
			   long rows, long cols)
{
	pk->out.len = 0;
	pk->memo = 0;
	pk_op(pk, 0x80);
	pk_op(pk, 2);
	pk_op(pk, '}');
	pk_memo(pk);
	pk_op(pk, '(');
	pk_str(pk, "value");
	pk_global(pk, "torch._utils", "_rebuild_tensor_v2");
	pk_op(pk, '(');
	pk_op(pk, '(');
	pk_str(pk, "storage");
	pk_global(pk, "torch", "BFloat16Storage");
	pk_str(pk, "0");
	pk_str(pk, "cuda:0");
	pk_int(pk, rows * cols);
	pk_op(pk, 't');
	pk_memo(pk);
	pk_op(pk, 'Q');
	pk_int(pk, 0);
	pk_int(pk, rows);
	pk_int(pk, cols);
	pk_op(pk, 0x86);
	pk_memo(pk);
	pk_int(pk, cols);
	pk_int(pk, 1);
	pk_op(pk, 0x86);
	pk_memo(pk);
	pk_op(pk, 0x89);
	pk_global(pk, "collections", "OrderedDict");
	pk_op(pk, ')');
	pk_op(pk, 'R');
	pk_memo(pk);
	pk_op(pk, 't');
	pk_memo(pk);
	pk_op(pk, 'R');
	pk_memo(pk);

	pk_str(pk, "meta");
	pk_op(pk, '}');
	pk_memo(pk);
	pk_op(pk, '(');
	pk_str(pk, "step");
	pk_int(pk, tg->step);
	pk_str(pk, "rank");
	pk_int(pk, tg->rank);
	pk_str(pk, "dump_index");
	pk_int(pk, tg->dump_index);
	pk_str(pk, "name");
	pk_str(pk, tg->name);
	pk_str(pk, "recompute_status");
	pk_str(pk, "disabled");
	if (tg->layer >= 0) {
		pk_str(pk, "layer_id");
		pk_int(pk, tg->layer);
	}
	pk_str(pk, "world_rank");
	pk_int(pk, tg->rank);
	pk_str(pk, "world_size");
	pk_int(pk, tg->tp_size > 1 ? tg->tp_size : 1);
	pk_str(pk, "sglang_parallel_info");
	pk_op(pk, '}');
	pk_memo(pk);
	pk_op(pk, '(');
	if (tg->tp_size > 1) {
		/* What SGLang writes without DP attention: attention TP and
		 * MoE TP are the TP group itself (dependent axes). */
		int r = tg->rank, n = tg->tp_size;
		pk_axis(pk, "tp", r, n);
		pk_axis(pk, "pp", 0, 1);
		pk_axis(pk, "moe_ep", 0, 1);
		pk_axis(pk, "moe_tp", r, n);
		pk_axis(pk, "moe_dp", 0, 1);
		pk_str(pk, "enable_dp_attention");
		pk_bool(pk, 0);
		pk_axis(pk, "attn_tp", r, n);
		pk_axis(pk, "attn_dp", 0, 1);
		pk_axis(pk, "local_attn_dp", 0, 1);
		pk_axis(pk, "attn_cp", 0, 1);
	} else {
		pk_str(pk, "tp_rank");
		pk_int(pk, 0);
		pk_str(pk, "tp_size");
		pk_int(pk, 1);
	}
	pk_op(pk, 'u');
	pk_str(pk, "dims");
	pk_str(pk, tg->dims ? tg->dims : "t h");
	pk_op(pk, 'u');
	pk_op(pk, 'u');
	pk_op(pk, '.');
}

/* ---- zip writer ---- */

struct zip_entry {
	char name[512];
	uint32_t crc, size;
	uint32_t offset;
};

struct zip_writer {
	FILE *f;
	const char *path;
	uint64_t pos;
	struct zip_entry entries[8];
	int n;
	struct buf hdr;
};

static void zw_write(struct zip_writer *zw, const void *p, size_t n)
{
	if (n && fwrite(p, 1, n, zw->f) != n)
		die(zw->path);
	zw->pos += n;
}

static void zw_entry(struct zip_writer *zw, const char *root, const char *rec,
		     const void *data, size_t size)
{
	struct zip_entry *e = &zw->entries[zw->n++];
	struct buf *h = &zw->hdr;
	size_t name_len;

	snprintf(e->name, sizeof(e->name), "%s/%s", root, rec);
	name_len = strlen(e->name);
	if (zw->pos > UINT32_MAX || size > UINT32_MAX) {
		errno = EFBIG;
		die(zw->path);
	}
	e->crc = crc32_buf(data, size);
	e->size = (uint32_t)size;
	e->offset = (uint32_t)zw->pos;

	/* Pad through an "FB" extra field so the data starts aligned,
	 * as torch does (the field needs at least its 4-byte header). */
	size_t data_at = zw->pos + 30 + name_len + 4;
	size_t pad = (ALIGNMENT - data_at % ALIGNMENT) % ALIGNMENT;

	h->len = 0;
	buf_le(h, 0x04034b50, 4);
	buf_le(h, 20, 2);	/* version needed */
	buf_le(h, 0x800, 2);	/* flags: UTF-8 names */
	buf_le(h, 0, 2);	/* method: stored */
	buf_le(h, 0, 2);	/* time */
	buf_le(h, 0x21, 2);	/* date: 1980-01-01 */
	buf_le(h, e->crc, 4);
	buf_le(h, e->size, 4);
	buf_le(h, e->size, 4);
	buf_le(h, name_len, 2);
	buf_le(h, 4 + pad, 2);
	buf_put(h, e->name, name_len);
	buf_le(h, 0x4246, 2);	/* "FB" */
	buf_le(h, pad, 2);
	for (size_t i = 0; i < pad; i++)
		buf_u8(h, 'Z');
	zw_write(zw, h->p, h->len);
	zw_write(zw, data, size);
}

static void zw_finish(struct zip_writer *zw)
{
	struct buf *h = &zw->hdr;
	uint64_t cd_start = zw->pos;

	h->len = 0;
	for (int i = 0; i < zw->n; i++) {
		struct zip_entry *e = &zw->entries[i];
		size_t name_len = strlen(e->name);
		buf_le(h, 0x02014b50, 4);
		buf_le(h, 0x031e, 2);	/* made by: unix, 3.0 */
		buf_le(h, 20, 2);
		buf_le(h, 0x800, 2);
		buf_le(h, 0, 2);
		buf_le(h, 0, 2);
		buf_le(h, 0x21, 2);
		buf_le(h, e->crc, 4);
		buf_le(h, e->size, 4);
		buf_le(h, e->size, 4);
		buf_le(h, name_len, 2);
		buf_le(h, 0, 2);	/* extra */
		buf_le(h, 0, 2);	/* comment */
		buf_le(h, 0, 2);	/* disk */
		buf_le(h, 0, 2);	/* internal attrs */
		buf_le(h, 0100644u << 16, 4);
		buf_le(h, e->offset, 4);
		buf_put(h, e->name, name_len);
	}
	uint64_t cd_size = h->len;
	buf_le(h, 0x06054b50, 4);
	buf_le(h, 0, 2);
	buf_le(h, 0, 2);
	buf_le(h, (uint64_t)zw->n, 2);
	buf_le(h, (uint64_t)zw->n, 2);
	buf_le(h, cd_size, 4);
	buf_le(h, cd_start, 4);
	buf_le(h, 0, 2);
	zw_write(zw, h->p, h->len);
}

struct writer_ctx {
	struct pickler pk;
	struct zip_writer zw;
	char *iobuf;
};

static void write_pt(struct writer_ctx *cx, const char *dir,
		     const struct dump_tags *tg, long rows, long cols,
		     const uint16_t *values, uint64_t serial)
{
	char stem[400], path[1024], sid[48];

	if (tg->layer >= 0)
		snprintf(stem, sizeof(stem),
			 "step=%d___rank=%d___dump_index=%d___name=%s___recompute_status=disabled___layer_id=%d",
			 tg->step, tg->rank, tg->dump_index, tg->name, tg->layer);
	else
		snprintf(stem, sizeof(stem),
			 "step=%d___rank=%d___dump_index=%d___name=%s___recompute_status=disabled",
			 tg->step, tg->rank, tg->dump_index, tg->name);
	snprintf(path, sizeof(path), "%s/%s.pt", dir, stem);

	pickle_payload(&cx->pk, tg, rows, cols);

	struct zip_writer *zw = &cx->zw;
	zw->path = path;
	zw->pos = 0;
	zw->n = 0;
	zw->f = fopen(path, "wb");
	if (!zw->f)
		die(path);
	setvbuf(zw->f, cx->iobuf, _IOFBF, 1 << 20);
	snprintf(sid, sizeof(sid), "%040llu", (unsigned long long)serial);
	zw_entry(zw, stem, "data.pkl", cx->pk.out.p, cx->pk.out.len);
	zw_entry(zw, stem, ".format_version", "1", 1);
	zw_entry(zw, stem, ".storage_alignment", "64", 2);
	zw_entry(zw, stem, "byteorder", "little", 6);
	zw_entry(zw, stem, "data/0", values, (size_t)rows * cols * 2);
	zw_entry(zw, stem, "version", "3\n", 2);
	zw_entry(zw, stem, ".data/serialization_id", sid, 40);
	zw_finish(zw);
	if (fclose(zw->f))
		die(path);
}

/* ---- the sets ---- */

struct set_desc {
	const char *name;
	int npairs;
	long rows, cols;
	int nphases;		/* 1: one bare phase; 3: inference/fwd_only/fwd_bwd */
	const char *const *tensors;
	int ntensors;		/* tensors per layer */
	int nlayers;		/* layers per step; a phase holds several steps */
	int diverge_phase;	/* phase index where divergence starts */
	int diverge_layer;	/* first diverging layer of that phase */
	int tp;			/* > 1: the target is written as TP shards */
};

static const char *const wide_tensors[] = {
	"input_layernorm_out", "attn_output", "post_attention_layernorm_out",
	"mlp_output", "residual", "layer_output",
};

static const char *const many_tensors[] = {
	"input_layernorm_out", "attn_q", "attn_k", "attn_v", "attn_output",
	"post_attention_layernorm_out", "mlp_output", "layer_output",
};

static const struct set_desc sets[] = {
	{ "wide", 24 * 6, 1024, 4096, 1, wide_tensors, 6, 24, 0, 17, 1 },
	/* same npairs, shapes and tensors as wide: the same seeds, so the
	 * same baseline and the same (unsharded) target */
	{ "wide-tp8", 24 * 6, 1024, 4096, 1, wide_tensors, 6, 24, 0, 17, 8 },
	{ "many", 4000, 32, 256, 3, many_tensors, 8, 48, 2, 40, 1 },
	{ "tui", 8000, 8, 64, 3, many_tensors, 8, 48, 2, 40, 1 },
	/* the growth table (bench/README.md): -n PAIRS of [4, 8], 1 k to 300 k */
	{ "scale", 1000, 4, 8, 3, many_tensors, 8, 48, 2, 40, 1 },
	/* the tensor-size sweep: -r ROWS of 4096 bf16, one pair, no divergence */
	{ "size", 1, 128, 4096, 1, wide_tensors, 1, 1, 0, 1, 1 },
};

/* wide-tp8: how each of wide's tensors is sharded over TP (by position in
 * the layer: wide_tensors). */
enum shard_kind { SHARD_COLS, SHARD_PARTIAL, SHARD_REPLICATED };
static const enum shard_kind wide_tp_kinds[] = {
	SHARD_COLS, SHARD_COLS, SHARD_COLS, SHARD_PARTIAL, SHARD_REPLICATED,
	SHARD_COLS,
};
static const char *const shard_dims[] = {
	[SHARD_COLS] = "t h[tp]",
	[SHARD_PARTIAL] = "t h[tp:partial]",
	[SHARD_REPLICATED] = "t h # tp:replicated",
};

static const char *const phase_dirs[] = { "inference", "fwd_only", "fwd_bwd" };

struct job {
	const struct set_desc *set;
	const char *outdir;
	int tid, nthreads;
};

/* Pair i: its phase, index within the phase, layer and tensor name. */
static void pair_place(const struct set_desc *s, int i, int *phase,
		       int *within)
{
	int p = (int)((long)i * s->nphases / s->npairs);
	int start = (int)(((long)p * s->npairs + s->nphases - 1) / s->nphases);
	*phase = p;
	*within = i - start;
}

static void phase_dir(char *out, size_t n, const char *outdir,
		      const char *side, const struct set_desc *s, int phase)
{
	if (s->nphases == 1)
		snprintf(out, n, "%s/%s/sglang_dump_1764130000.00", outdir, side);
	else
		snprintf(out, n, "%s/%s/%s/sglang_dump_17641300%02d.00", outdir,
			 side, phase_dirs[phase], phase);
}

/* 2^e as a float, e in [-149, 127]. */
static float pow2f(int e)
{
	uint32_t u = e >= -126 ? (uint32_t)(e + 127) << 23 : 1u << (e + 149);
	float f;
	memcpy(&f, &u, 4);
	return f;
}

/* Splits the bf16 value h into tp bf16 shares (a row-parallel matmul's
 * partial sums) whose sum, taken as the unsharder does it (float32, in rank
 * order, rounded once to bf16), is h exactly. With q the bf16 ulp of h
 * (h = m q, |m| < 256), every share is k q with |k| <= 256: rank r < tp-1
 * holds m/tp + a random offset in [-24, 24], the last rank the rest. Such
 * shares are bf16 values, and every partial sum is an integer multiple of q
 * far below 2^24 q, so float32 adds them without rounding in any order.
 * Needs tp <= 8 (|rest| <= 32 + 7 * 24 + 7 < 256). */
static void split_partial(uint16_t h, struct rng *r, int tp, uint16_t *share)
{
	uint64_t x = rng_next(r);
	int e = (h >> 7) & 0xff, m, qexp;

	if (h == 0x8000) { /* -0: only -0 shares sum to -0 */
		for (int k = 0; k < tp; k++)
			share[k] = 0x8000;
		return;
	}
	if (e == 0xff || tp > 8) {
		fprintf(stderr, "gen_dumps: split_partial: inf/NaN or tp > 8\n");
		exit(1);
	}
	if (e == 0) { /* zero or subnormal */
		m = h & 0x7f;
		qexp = m ? -133 : -20;
	} else {
		m = 128 + (h & 0x7f);
		qexp = e - 134;
	}
	if (h & 0x8000)
		m = -m;
	float q = pow2f(qexp);
	int sum = 0;
	for (int k = 0; k < tp - 1; k++) {
		int kk = m / tp + (int)((x >> (8 * k)) & 0xff) % 49 - 24;
		share[k] = f32_to_bf16((float)kk * q);
		sum += kk;
	}
	share[tp - 1] = f32_to_bf16((float)(m - sum) * q);

	float acc = bf16_to_f32(share[0]);
	for (int k = 1; k < tp; k++)
		acc += bf16_to_f32(share[k]);
	if (f32_to_bf16(acc) != h) {
		fprintf(stderr, "gen_dumps: split_partial: shares of 0x%04x sum to 0x%04x\n",
			h, f32_to_bf16(acc));
		exit(1);
	}
}

static void *gen_worker(void *arg)
{
	struct job *jb = arg;
	const struct set_desc *s = jb->set;
	size_t n = (size_t)(s->rows * s->cols);
	uint16_t *base = malloc(n * 2), *targ = malloc(n * 2);
	uint16_t *shares = NULL; /* tp > 1: tp tensors of n */
	struct writer_ctx cx = { 0 };

	cx.iobuf = malloc(1 << 20);
	if (!base || !targ || !cx.iobuf)
		die("out of memory");
	if (s->tp > 1 && !(shares = malloc(n * 2 * (size_t)s->tp)))
		die("out of memory");
	for (int i = jb->tid; i < s->npairs; i += jb->nthreads) {
		int phase, within;
		pair_place(s, i, &phase, &within);
		int layer = within / s->ntensors % s->nlayers;
		struct dump_tags tg = {
			.step = within / (s->ntensors * s->nlayers), .rank = 0, .dump_index = within + 1,
			.layer = layer, .name = s->tensors[within % s->ntensors],
		};
		struct rng r;
		/* layer-dependent scale, like activations that grow with depth */
		float scale = 0.5f + 0.05f * (float)layer;

		rng_seed(&r, 0x5eed0000ULL ^ ((uint64_t)i << 20) ^
				     (uint64_t)s->npairs);
		for (size_t k = 0; k < n; k++)
			base[k] = f32_to_bf16(scale * rng_normal(&r));

		/* target: 1-ulp flips on 1/8 of the elements (rel_diff ~1e-6,
		 * rounding-level); from the divergence point on, added noise
		 * of 0.1*(depth) of the scale (rel_diff > 1e-3, growing). */
		int diverged = phase == s->diverge_phase &&
			       layer >= s->diverge_layer;
		float amp = 0.1f * scale *
			    (float)(layer - s->diverge_layer + 1);
		for (size_t k = 0; k < n; k++) {
			uint64_t x = rng_next(&r);
			uint16_t b = base[k];
			if (diverged) {
				float t = bf16_to_f32(b) + amp * rng_normal(&r);
				targ[k] = f32_to_bf16(t);
			} else if ((x & 7) == 0 && (b & 0x7fff) != 0 &&
				   (b & 0x7f80) != 0x7f80) {
				targ[k] = (x & 8) ? (uint16_t)(b + 1)
						  : (uint16_t)(b - 1);
			} else {
				targ[k] = b;
			}
		}

		char dir[1024];
		phase_dir(dir, sizeof(dir), jb->outdir, "baseline", s, phase);
		write_pt(&cx, dir, &tg, s->rows, s->cols, base,
			 (uint64_t)i * 2 + 1);
		phase_dir(dir, sizeof(dir), jb->outdir, "target", s, phase);
		if (s->tp <= 1) {
			write_pt(&cx, dir, &tg, s->rows, s->cols, targ,
				 (uint64_t)i * 2 + 2);
			continue;
		}

		/* TP shards of targ: rank r's file, its own serialization id */
		enum shard_kind kind = wide_tp_kinds[within % s->ntensors];
		long scols = kind == SHARD_COLS ? s->cols / s->tp : s->cols;
		tg.dims = shard_dims[kind];
		tg.tp_size = s->tp;
		if (kind == SHARD_PARTIAL) {
			uint16_t sh[8];
			rng_seed(&r, 0x5ba4e000ULL ^ ((uint64_t)i << 20) ^
					     (uint64_t)s->npairs);
			for (size_t k = 0; k < n; k++) {
				split_partial(targ[k], &r, s->tp, sh);
				for (int t = 0; t < s->tp; t++)
					shares[(size_t)t * n + k] = sh[t];
			}
		}
		for (int t = 0; t < s->tp; t++) {
			const uint16_t *v = targ;
			if (kind == SHARD_COLS) {
				for (long row = 0; row < s->rows; row++)
					memcpy(shares + row * scols,
					       targ + row * s->cols + t * scols,
					       (size_t)scols * 2);
				v = shares;
			} else if (kind == SHARD_PARTIAL) {
				v = shares + (size_t)t * n;
			}
			tg.rank = t;
			write_pt(&cx, dir, &tg, s->rows, scols, v,
				 (uint64_t)s->npairs * 2 + (uint64_t)i * s->tp + t + 1);
		}
	}
	free(shares);
	free(base);
	free(targ);
	free(cx.iobuf);
	free(cx.pk.out.p);
	free(cx.zw.hdr.p);
	return NULL;
}

static void mkdir_p(const char *path)
{
	char tmp[1024];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0755) && errno != EEXIST)
			die(tmp);
		*p = '/';
	}
	if (mkdir(tmp, 0755) && errno != EEXIST)
		die(tmp);
}

int main(int argc, char **argv)
{
	int nthreads = (int)sysconf(_SC_NPROCESSORS_ONLN);
	int opt, npairs = 0;
	long rows = 0;

	while ((opt = getopt(argc, argv, "j:n:r:")) != -1) {
		if (opt == 'j')
			nthreads = atoi(optarg);
		else if (opt == 'n')
			npairs = atoi(optarg);
		else if (opt == 'r')
			rows = atol(optarg);
		else
			goto usage;
	}
	if (argc - optind != 2)
		goto usage;
	if (nthreads < 1)
		nthreads = 1;

	const struct set_desc *s = NULL;
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
		if (!strcmp(argv[optind], sets[i].name))
			s = &sets[i];
	if (!s)
		goto usage;
	struct set_desc sized;
	if (npairs > 0 || rows > 0) {
		/* -n, -r: the set's layout with another number of pairs, rows */
		sized = *s;
		if (npairs > 0)
			sized.npairs = npairs;
		if (rows > 0)
			sized.rows = rows;
		s = &sized;
	}
	const char *outdir = argv[optind + 1];

	crc_init();
	for (int p = 0; p < s->nphases; p++) {
		char dir[1024];
		phase_dir(dir, sizeof(dir), outdir, "baseline", s, p);
		mkdir_p(dir);
		phase_dir(dir, sizeof(dir), outdir, "target", s, p);
		mkdir_p(dir);
	}

	pthread_t th[64];
	struct job jobs[64];
	if (nthreads > 64)
		nthreads = 64;
	for (int t = 0; t < nthreads; t++) {
		jobs[t] = (struct job){ s, outdir, t, nthreads };
		if (pthread_create(&th[t], NULL, gen_worker, &jobs[t]))
			die("pthread_create");
	}
	for (int t = 0; t < nthreads; t++)
		pthread_join(th[t], NULL);
	printf("%s: %d pairs of [%ld, %ld] bfloat16", s->name, s->npairs,
	       s->rows, s->cols);
	if (s->tp > 1)
		printf(" (target as TP=%d shards)", s->tp);
	printf(" in %s/{baseline,target}\n", outdir);
	return 0;

usage:
	fprintf(stderr, "usage: gen_dumps [-j THREADS] [-n PAIRS] [-r ROWS] wide|wide-tp8|many|tui|scale|size OUTDIR\n");
	return 2;
}
