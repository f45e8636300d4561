/* Internals of the metrics layer: chunk kernels, element sources, exact
 * quantile selection. Not a public contract. */
#ifndef DUMPVIEW_METRICS_INTERNAL_H
#define DUMPVIEW_METRICS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dumpview/metrics.h"
#include "dumpview/numfmt.h"

/* Elements per streamed chunk: large enough to amortise calls, small enough
 * that a chunk's float32 values of both sides stay in L2. */
#define DV_CHUNK 65536

/* Where a side's elements come from: raw little-endian elements of dtype. */
typedef struct dv_src {
	dv_dtype dtype;
	int64_t numel;
	int (*read_raw)(void *ctx, int64_t start, int64_t count, void *out, dv_error *err);
	/* optional: read_raw's elements in place (dv_stream's map_raw, map_fault) */
	int (*map_raw)(void *ctx, int64_t start, int64_t count, dv_raw_run *runs, size_t max, size_t *nruns,
		       dv_error *err);
	int (*map_fault)(void *ctx, dv_error *err);
	/* optional, with concurrent: [start, start+count) in place in the
	 * caller's own window w (one a thread): 1 with *out, 0 (read them),
	 * -1 err; touched only inside pt_map_guarded, a fault is w's when
	 * pt_map_win_faulted(w) */
	int (*map_win)(void *ctx, pt_map_win *w, int64_t start, int64_t count, const void **out, dv_error *err);
	void *ctx;
	const char *name;        /* for messages */
	bool concurrent;         /* read_raw may run on several threads at once */
} dv_src;

/* Buffers for reading one side in chunks. */
typedef struct dv_reader {
	const dv_src *src;
	void *raw;               /* DV_CHUNK * itemsize; f32 itself for a float32 source */
	float *f32;              /* DV_CHUNK */
} dv_reader;

int dv_reader_init(dv_reader *r, const dv_src *src, dv_error *err);
void dv_reader_free(dv_reader *r);
/* Reads [start, start+count) converted to float32 (torch's .float()) into r->f32. */
int dv_reader_read(dv_reader *r, int64_t start, int64_t count, dv_error *err);
/* The same without the conversion: r->raw only. */
int dv_reader_read_raw(dv_reader *r, int64_t start, int64_t count, dv_error *err);

/* The detail pane's value bins of a compared pair (r: status, numel, stats
 * and max |t-b| set) from both sides' bfloat16 pattern counts (hb, ht:
 * 65 536 each): bins[0..63] the baseline's, bins[64..127] the target's, as
 * the detail would count them with the comparison's ranges; false where it
 * would not take those ranges (NaN or Inf, an extreme of zero). The
 * comparison leaves them (dv_pair_result.value_bins) for pairs of at least
 * dv_value_bins_min_numel elements (tests lower it). */
bool dv_detail_bins16(const dv_pair_result *r, const uint32_t *hb, const uint32_t *ht, int64_t *bins);
extern int64_t dv_value_bins_min_numel;

/* Tests: the detail's counting by its scalar instance even where the CPU
 * has AVX2 (both must give the same numbers). */
extern bool dv_detail_scalar_only;

/* Four bf16 elements of each side counted into their 65 536-entry
 * histograms, the indexes taken from one 64-bit load a side (fewer loads
 * beside the counters' own load-increment-store; the order of the
 * increments is immaterial, so any byte order will do). */
static inline void dv_hist16_count4(uint32_t *hb, uint32_t *ht, const uint16_t *bp, const uint16_t *tp)
{
	uint64_t x, y;

	memcpy(&x, bp, sizeof(x));
	memcpy(&y, tp, sizeof(y));
	hb[x & 0xffff]++;
	ht[y & 0xffff]++;
	hb[(x >> 16) & 0xffff]++;
	ht[(y >> 16) & 0xffff]++;
	hb[(x >> 32) & 0xffff]++;
	ht[(y >> 32) & 0xffff]++;
	hb[x >> 48]++;
	ht[y >> 48]++;
}

/* A side's elements [start, start+count) in place in the caller's window w
 * (src->map_win): 1 with *out, 0 when they are not in place or not at the
 * dtype's alignment (the kernels load its elements: read them), -1 err. */
int dv_src_map_win(const dv_src *src, pt_map_win *w, int64_t start, int64_t count, const void **out,
		   dv_error *err);
/* A chunk [start, start+count) of one side: in place when mapped (the side's
 * elements from element mstart on), else read into r (as stored only, when
 * raw_only). *raw: the elements as stored; *f32: as float32, NULL where they
 * still need converting (mapped, not float32: dv_chunk_f32). */
int dv_reader_chunk(dv_reader *r, const void *mapped, int64_t mstart, int64_t start, int64_t count, bool raw_only,
		    const void **raw, const float **f32, dv_error *err);
/* f32 itself, else n elements of dtype dt at raw converted into buf (raw
 * may be mapped: call guarded then). */
const float *dv_chunk_f32(dv_dtype dt, const void *raw, const float *f32, float *buf, size_t n);

/* Converts n elements of a real dtype to float32; -1 for a non-real dtype. */
int dv_metrics_to_f32(dv_dtype dt, const void *src, float *dst, size_t n);

/* Sources over memory and over an opened pt tensor. */
typedef struct dv_mem_src_ctx {
	const void *data;
	size_t itemsize;
} dv_mem_src_ctx;
void dv_src_mem(dv_src *s, dv_mem_src_ctx *ctx, dv_dtype dt, int64_t numel, const void *data, const char *name);

typedef struct dv_pt_src_ctx {
	pt_file *f;
	const pt_tensor *t;
} dv_pt_src_ctx;
void dv_src_pt(dv_src *s, dv_pt_src_ctx *ctx, pt_file *f, const pt_tensor *t);

/* Exact quantiles by radix selection over order-preserving keys of float32:
 * a 65536-bucket histogram of the keys' high 16 bits while streaming, then
 * (only when some value has non-zero low bits, i.e. not for bf16 data) a
 * second pass histogramming the low 16 bits inside the few buckets holding
 * the wanted ranks. */
#define DV_QSEL_RANKS (2 * DV_NQUANTILES)
#define DV_QSEL_SMALL 65536      /* up to this many values: keep keys, radix sort */
typedef struct dv_qsel {
	int64_t numel;                 /* elements expected (NaN included) */
	uint32_t *keys;                /* small mode: the keys, sorted by plan */
	uint32_t *h1;                  /* large mode: 65536 buckets of the high 16 bits */
	int64_t count;                 /* values added (large mode: non-NaN ones) */
	int64_t nan;
	uint32_t lowbits;              /* OR of the low 16 bits of all values */
	/* after dv_qsel_plan */
	int64_t rank[DV_QSEL_RANKS];   /* below/above rank per quantile */
	float weight[DV_NQUANTILES];
	uint32_t rank_key[DV_QSEL_RANKS];
	int64_t rank_in_bucket[DV_QSEL_RANKS];
	int rank_slot[DV_QSEL_RANKS];  /* slot of the rank's bucket in h2, -1 if resolved */
	int nslots;
	uint8_t *slot_of_bucket;       /* 65536: slot+1, 0 = not needed */
	uint32_t *h2[DV_QSEL_RANKS];   /* 65536 each, low 16 bits inside a bucket */
	struct dv_key16_table *k16;    /* bf16 mode: per-thread counts of 16-bit keys */
	bool k16_tiny;                 /* ...or, for a few values, their keys sorted */
} dv_qsel;

int dv_qsel_init(dv_qsel *q, int64_t numel);
void dv_qsel_free(dv_qsel *q);
void dv_qsel_add(dv_qsel *q, const float *x, size_t n);
/* Adds o's first-pass counts to q (both in large mode: the per-thread
 * tables of one tensor). */
void dv_qsel_merge(dv_qsel *q, const dv_qsel *o);
/* Computes the wanted ranks (torch's float32 rank arithmetic) for numel
 * elements; returns 1 when a second pass (dv_qsel_add2 over all values) is
 * needed, 0 when not, -1 on allocation failure. */
int dv_qsel_plan(dv_qsel *q);
void dv_qsel_add2(dv_qsel *q, const float *x, size_t n);
void dv_qsel_result(const dv_qsel *q, double out[DV_NQUANTILES]);

/* bf16 mode, for fewer than DV_QSEL_BF16_MAX values: counts the 16-bit keys
 * straight from the raw bf16 bits into a per-thread table (no key array, no
 * float32); dv_qsel_plan then never asks for a second pass. Returns -1 when
 * this thread's tables are taken (use dv_qsel_init then). The same quantiles
 * as dv_qsel_add on the values widened to float32. */
#define DV_QSEL_BF16_MAX 65536
int dv_qsel_init_bf16(dv_qsel *q, int64_t numel);
void dv_qsel_add_bf16(dv_qsel *q, const uint16_t *raw, size_t n);

/* Dtypes of 1 or 2 bytes: every side statistic (quantiles included) from
 * one histogram of the raw bit patterns. */
typedef struct dv_hist16 {
	dv_dtype dtype;
	size_t nbuckets;               /* 256 or 65536 */
	uint32_t *h;
	int64_t n;
} dv_hist16;
int dv_hist16_init(dv_hist16 *h, dv_dtype dt);
void dv_hist16_free(dv_hist16 *h);
void dv_hist16_add(dv_hist16 *h, const void *raw, size_t n);
void dv_hist16_merge(dv_hist16 *h, const dv_hist16 *o); /* o's counts added to h's */
int dv_hist16_stats(const dv_hist16 *h, bool want_quantiles, dv_stats *st);
/* sum of v^2 over the histogram's values (NaN/Inf propagate). */
double dv_hist16_sumsq(const dv_hist16 *h);

/* Per-side running statistics. */
typedef struct dv_side_acc {
	int64_t n, nan, inf;
	double sum, abs_sum;
	double mean, m2;               /* Chan's merge over chunks (finite chunks only) */
	float min, max;
} dv_side_acc;

/* One chunk's contribution, computed from the chunk alone, then merged into
 * the running statistics in chunk order: the same arithmetic whether the
 * chunks were computed on one thread or on several. */
typedef struct dv_side_part {
	int64_t n, nan, inf;
	double sum, abs_sum;
	double mean, m2;               /* the chunk's own; only without NaN/Inf */
	float min, max;
} dv_side_part;

void dv_side_acc_init(dv_side_acc *a);
void dv_side_chunk(dv_side_acc *a, const float *x, size_t n);
void dv_side_chunk_part(dv_side_part *part, const float *x, size_t n);
void dv_side_merge(dv_side_acc *a, const dv_side_part *part);
void dv_side_finish(const dv_side_acc *a, dv_stats *st);

/* Per-pair running metrics. */
typedef struct dv_diff_acc {
	int64_t n;
	double sqdiff, norm, abs_sum; /* sum (b-t)^2, sum b^2+t^2, sum |t-b| */
	float max_abs;
	int64_t max_index;             /* -1: none yet */
	bool max_is_nan;
	float max_b, max_t;
	int64_t identical;
} dv_diff_acc;

/* One chunk of pair metrics (see dv_side_part). loc is the chunk-relative
 * index of its first NaN |t-b|, or of its max |t-b| when that exceeds the
 * hint given (a value not above the running maximum of the chunks merged
 * before it); -1 when not looked for. */
typedef struct dv_diff_part {
	int64_t n, start, cnan, cid, loc;
	double sq, nm, ab;
	float cmax, loc_b, loc_t;
} dv_diff_part;

void dv_diff_acc_init(dv_diff_acc *a);
void dv_diff_chunk_part(dv_diff_part *p, const float *b, const float *t, size_t n, int64_t start, float hint);
void dv_diff_chunk_bf16_part(dv_diff_part *p, const uint16_t *b, const uint16_t *t, size_t n, int64_t start,
			     float hint, uint32_t *hb, uint32_t *ht);
/* The same over runs: b's and t's n elements as runs of in-place pieces,
 * none empty, every run but the last of a multiple of 8 elements (so the
 * 8-element steps are those of the contiguous kernel: the same results,
 * bit for bit). */
void dv_diff_chunk_bf16_runs_part(dv_diff_part *p, const dv_raw_run *br, const dv_raw_run *tr, size_t n,
				  int64_t start, float hint, uint32_t *hb, uint32_t *ht);
void dv_diff_merge(dv_diff_acc *a, const dv_diff_part *p);
/* b and t hold n values of elements [start, start+n). */
void dv_diff_chunk(dv_diff_acc *a, const float *b, const float *t, size_t n, int64_t start);
/* bf16 against bf16 from raw bits; leaves a->norm to the caller. */
void dv_diff_chunk_bf16(dv_diff_acc *a, const uint16_t *b, const uint16_t *t, size_t n, int64_t start,
			uint32_t *hb, uint32_t *ht);
void dv_diff_chunk_bf16_runs(dv_diff_acc *a, const dv_raw_run *br, const dv_raw_run *tr, size_t n, int64_t start,
			     uint32_t *hb, uint32_t *ht);
/* bf16 against bf16 from raw bits, both sides' statistics too: the same
 * results, bit for bit, as dv_side_chunk on each side and dv_diff_chunk on
 * the values widened to float32. */
void dv_pair_chunk_bf16(dv_side_acc *sb, dv_side_acc *st, dv_diff_acc *a, const uint16_t *b, const uint16_t *t,
			size_t n, int64_t start);
double dv_diff_rel(const dv_diff_acc *a);
double dv_diff_mean_abs(const dv_diff_acc *a);

/* Rounds float32 values to bfloat16 (nearest even, NaN kept) and back. */
void dv_round_bf16(const float *x, float *out, size_t n);

/* Shape unify (the comparator's _try_unify_shape): 0 when the baseline's
 * shape equals the target's after dropping leading size-1 dims, else -1. */
int dv_unify_shape(const dv_tensor_desc *base, const dv_tensor_desc *targ);
void dv_index_to_coord(int64_t index, int ndim, const int64_t *shape, int64_t *coord);

/* Both tensors of a pair of dump files, shape-unified, read together in
 * float32 chunks (br.f32, tr.f32). Errors name the file and the reason. */
typedef struct dv_pair_stream {
	pt_file *bf, *tf;
	const pt_tensor *bt, *tt;
	dv_tensor_desc bd, td;
	dv_pt_src_ctx bc, tc;
	dv_src bs, ts;
	dv_reader br, tr;
	int64_t numel;
} dv_pair_stream;
int dv_pair_stream_open(dv_pair_stream *s, const char *base_path, const char *targ_path, dv_error *err);
int dv_pair_stream_read(dv_pair_stream *s, int64_t start, int64_t count, dv_error *err);
void dv_pair_stream_close(dv_pair_stream *s);

/* A float32 in the CSV export: "%.*g" with the fewest significant digits
 * (bisected over 1..9) that strtof reads back as v; "nan", "inf", "-inf".
 * dv_fmt_f32_ref by snprintf/strtof, dv_fmt_f32_csv the same bytes by
 * integer arithmetic (buf: 32 bytes). Return the length. */
int dv_fmt_f32_ref(char *buf, size_t size, float v);
int dv_fmt_f32_csv(char *buf, float v);
/* dv_fmt_f32_csv by the bisection over the digit count (1..9) on every
 * value, as the reference: for tests of the direct count. */
int dv_fmt_f32_bisect(char *buf, float v);

/* Detail and CSV export over two readers of already unified tensors. */
int dv_detail_readers(dv_reader *br, dv_reader *tr, const dv_tensor_desc *td, int64_t numel, int max_rows,
		      int max_cols, const dv_metrics_opts *opts, dv_pair_detail *d, dv_error *err);
int dv_export_readers(dv_reader *br, dv_reader *tr, const dv_tensor_desc *td, int64_t numel, const char *out_path,
		      double min_abs_diff, int64_t top_k, const dv_metrics_opts *opts, int64_t *rows_written,
		      dv_error *err);

/* The engine behind every compare: bd and td are the stored shapes, kept in
 * r (which the caller has reset). */
int dv_compare_sources(const dv_src *bs, const dv_src *ts, const dv_tensor_desc *bd, const dv_tensor_desc *td,
		       const dv_metrics_opts *opts, dv_pair_result *r, dv_error *err);
void dv_result_error(dv_pair_result *r, const dv_error *e);
void dv_desc_from_tensor(dv_tensor_desc *d, const pt_tensor *t);
/* pt_kind_name, an object's class name, or "nothing" for NULL. */
const char *dv_obj_kind_name(const pt_obj *o);

/* ---- the chunk driver: every streaming pass of the metrics layer ---- */

/* Whether the caller asked to stop (opts->cancel set); opts may be NULL. */
static inline bool dv_metrics_cancelled(const dv_metrics_opts *o)
{
	return o && o->cancel && atomic_load(o->cancel) != 0;
}

/* One pass over elements [0, numel) of one or two readers. */
typedef struct dv_walk {
	dv_reader *b, *t;             /* t NULL: one reader */
	int64_t numel;
	bool raw;                     /* read the raw elements only, no float32 */
	const dv_metrics_opts *opts;  /* cancel and progress; NULL: neither */
	bool progress;                /* call opts->progress after each chunk */
	int64_t done, total;          /* progress reports done + start + cnt of total */
	/* optional: false skips a chunk unread (no cancel check, no progress) */
	bool (*want)(void *ctx, int64_t start, int64_t cnt);
} dv_walk;

enum { DV_WALK_DONE = 0, DV_WALK_CANCELLED = 1 };

/* Reads each DV_CHUNK chunk into the readers' buffers and calls
 * fn(ctx, start, cnt), the pass's arithmetic (negative: failed, err set by
 * fn). Checks cancel before each chunk, reports progress after it. Returns
 * DV_WALK_DONE, DV_WALK_CANCELLED, or -1 when a read or fn failed. Always
 * inlined, so that a static fn inlines into the loop as a hand-written one
 * would. */
static inline __attribute__((always_inline)) int dv_chunk_walk(const dv_walk *w,
							       int (*fn)(void *ctx, int64_t start, int64_t cnt),
							       void *ctx, dv_error *err)
{
	for (int64_t start = 0; start < w->numel; start += DV_CHUNK) {
		int64_t cnt = w->numel - start < DV_CHUNK ? w->numel - start : DV_CHUNK;

		if (w->want && !w->want(ctx, start, cnt))
			continue;
		if (dv_metrics_cancelled(w->opts))
			return DV_WALK_CANCELLED;
		if (w->raw) {
			if (dv_reader_read_raw(w->b, start, cnt, err) < 0 ||
			    (w->t && dv_reader_read_raw(w->t, start, cnt, err) < 0))
				return -1;
		} else if (dv_reader_read(w->b, start, cnt, err) < 0 ||
			   (w->t && dv_reader_read(w->t, start, cnt, err) < 0)) {
			return -1;
		}
		if (fn(ctx, start, cnt) < 0)
			return -1;
		if (w->progress && w->opts && w->opts->progress)
			w->opts->progress(w->opts->progress_ctx, w->done + start + cnt, w->total);
	}
	return DV_WALK_DONE;
}

/* ---- a pass over chunks on several threads (par.c) ---- */

/* Below this many chunks the pool is not asked (opts->threads 0). */
#define DV_PAR_MIN_CHUNKS 8

typedef struct dv_par_job {
	/* by the caller */
	int64_t numel;                /* chunks of DV_CHUNK elements */
	void *ctx;
	void *(*lane_new)(void *ctx); /* a thread's state; NULL: out of memory */
	/* chunk k's arithmetic: writes only its own partial or the lane */
	int (*chunk)(void *ctx, void *lane, int64_t k, dv_error *err);
	void (*lane_done)(void *ctx, void *lane); /* merges counts, frees; one at a time */
	const dv_metrics_opts *opts;  /* cancel; progress from the calling thread only */
	int64_t done_base, total;     /* progress reports done_base + elements done of total */
	const char *name;             /* for messages */
	/* optional: nunits work units of unit_len(ctx, k) elements instead of chunks */
	int64_t nunits;
	int64_t (*unit_len)(void *ctx, int64_t k);
	/* internal */
	int64_t nchunks;
	atomic_llong next, done, stop_at;
	int64_t fail_k;
	int fail_why;
	dv_error err;
	pthread_mutex_t mu;
	int participants;
	struct dv_par_job *next_job;
} dv_par_job;

/* How many threads a pass over numel elements takes: 1 (serial), n >= 2
 * (opts->threads), or 0 (the pool's helpers, as many as are idle). */
int dv_par_threads(const dv_metrics_opts *o, int64_t numel);
/* Helpers the process-wide pool started (0 until a pass first uses it). */
int dv_par_pool_helpers(void);
/* Runs the pass; DV_WALK_DONE, DV_WALK_CANCELLED, or -1 with err (the
 * lowest failing chunk's). */
int dv_par_run(dv_par_job *j, int threads, dv_error *err);
/* Usable CPUs (the affinity mask). */
int dv_par_cpus(void);
/* A thread starts/stops computing metrics (the pool's measure of idle cores). */
void dv_par_enter(void);
void dv_par_leave(void);

#endif
