/* Comparing one pair of tensors: the comparator's metrics, per-side statistics,
 * and the detail (histograms, heat map) the TUI draws. Streaming: tensors are
 * read in chunks, never whole (except for exact percentiles, which need the
 * values; skipped at >= percentile_limit elements as the comparator does).
 * No curses here. */
#ifndef DUMPVIEW_METRICS_H
#define DUMPVIEW_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "dumpview/error.h"
#include "dumpview/pt.h"

#define DV_DEFAULT_THRESHOLD 1e-3
#define DV_PERCENTILE_LIMIT 10000000 /* the comparator skips percentiles at >= 10 M elements */
#define DV_NQUANTILES 5

extern const double dv_quantile_q[DV_NQUANTILES];     /* 0.01 0.05 0.50 0.95 0.99 */
extern const char *const dv_quantile_name[DV_NQUANTILES]; /* "p1" "p5" "p50" "p95" "p99" */

/* Statistics of one side, over values converted to float32 (torch's .float()),
 * with torch's semantics: NaN propagates into mean/std/min/max (and every
 * quantile); Inf makes std NaN. mean and std accumulate in float64, as
 * examples/expected.json's numbers do. Quantiles are bit-exact with torch
 * 2.11's float32 torch.quantile on x86 (FMA lerp); -0 is reported as 0. */
/* A side's element, NaN and Inf counts, kept in 48 bits each (two's
 * complement): any count the metrics produce is below 2^47 (more elements
 * than any tensor read holds); the report loader refuses larger ones. 6
 * bytes each instead of 8 keep dv_stats at 72 bytes (a result keeps two). */
#define DV_STATS_COUNT_MAX (((int64_t)1 << 47) - 1)
enum { DV_STATS_NUMEL, DV_STATS_NAN, DV_STATS_INF };

typedef struct dv_stats {
	double mean, std;            /* std unbiased (n-1); NaN for n < 2 as torch */
	double abs_mean;             /* mean |x| (SGLang's abs_mean); NaN as mean */
	/* min, max and the percentiles (torch.quantile, linear interpolation)
	 * are float32 values (of x.float()): kept as float, exactly, since a
	 * result is kept per pair */
	float min, max;
	float p[DV_NQUANTILES];
	/* numel, nan, inf (DV_STATS_*): read with dv_stats_numel, _nan, _inf */
	uint32_t count_lo[3];
	uint16_t count_hi[3];
	bool has_percentiles;
} dv_stats;

static inline int64_t dv_stats_count(const dv_stats *s, int which)
{
	uint64_t v = (uint64_t)s->count_hi[which] << 32 | s->count_lo[which];

	return v & ((uint64_t)1 << 47) ? (int64_t)(v | ~(((uint64_t)1 << 48) - 1)) : (int64_t)v;
}
static inline void dv_stats_set_count(dv_stats *s, int which, int64_t v)
{
	s->count_lo[which] = (uint32_t)v;
	s->count_hi[which] = (uint16_t)((uint64_t)v >> 32);
}
static inline int64_t dv_stats_numel(const dv_stats *s) { return dv_stats_count(s, DV_STATS_NUMEL); }
static inline int64_t dv_stats_nan(const dv_stats *s) { return dv_stats_count(s, DV_STATS_NAN); }
static inline int64_t dv_stats_inf(const dv_stats *s) { return dv_stats_count(s, DV_STATS_INF); }

typedef enum dv_result_status {
	DV_RESULT_NONE = 0,      /* not computed */
	DV_RESULT_COMPARED,      /* metrics valid; see passed */
	DV_RESULT_SHAPE_MISMATCH,/* failed: shapes differ after unify */
	DV_RESULT_NON_TENSOR,    /* both values non-tensors: see equal */
	DV_RESULT_ERROR,         /* unreadable file, not a tensor on one side...: see error */
	DV_RESULT_CANCELLED,
	DV_RESULT_SKIPPED,       /* not compared, never a failure: a side cannot form one tensor
				    (several files without dims); the reason is in error */
} dv_result_status;

typedef struct dv_tensor_desc {
	dv_dtype dtype;
	int ndim;
	int64_t shape[PT_MAX_DIMS];
} dv_tensor_desc;

/* A shape as a result keeps it: the dims interned (intern.h), shared with
 * every other result of that shape and never freed with the result. Read it
 * with dv_result_shape. */
typedef struct dv_result_desc {
	dv_dtype dtype;
	int ndim;
	const int64_t *shape;                 /* ndim dims, interned; NULL in a reset result */
} dv_result_desc;

/* A pair's result, compact (it is kept for every pair by the explorer):
 * shapes and the coordinate of max |t-b| interned (intern.h), the error text
 * allocated only when set. Owned memory is released by dv_pair_result_free;
 * the functions filling a result overwrite it whole without freeing, so free
 * a result before filling it again. tests/test_sizes.c pins its size. */
typedef struct dv_pair_result {
	dv_result_status status;
	bool passed;                 /* rel_diff <= threshold and not NaN (non-tensor: equal) */
	bool equal;                  /* NON_TENSOR: printed forms equal */
	bool has_bf16;               /* fp32 vs bf16: the metrics after casting both to bf16 */
	/* entries of dv_result_coord (PT_MAX_DIMS at most) */
	signed char max_abs_diff_ndim;
	dv_result_desc base, targ;   /* as stored (before shape unify): dv_result_shape */
	int64_t numel;               /* compared elements (0 for SHAPE_MISMATCH) */
	/* rel_diff = 1 - 2*sum(b*t)/sum(b^2+t^2), computed as the equal
	 * sum((b-t)^2)/sum(b^2+t^2) in float64 (no cancellation); 0 when both
	 * are all-zero or empty. max/mean |t-b| with float32 subtraction (the
	 * max a float32 value, kept as float), the mean accumulated in float64.
	 * NaN for SHAPE_MISMATCH. */
	double rel_diff, mean_abs_diff;
	double bf16_rel_diff, bf16_mean_abs_diff;
	float max_abs_diff, bf16_max_abs_diff;
	dv_stats base_stats, targ_stats;
	/* row-major index (in the target's shape) of max |t-b|, the first one as
	 * torch.argmax (a NaN difference counts as the largest); -1 when empty.
	 * Its coordinate: dv_result_coord (max_abs_diff_ndim entries). */
	int64_t max_abs_diff_index;
	const int64_t *max_abs_diff_coord; /* interned; NULL when not set */
	float max_abs_diff_base, max_abs_diff_targ; /* the two float32 values there */
	int64_t identical;           /* bit-identical elements (after conversion to float32) */
	/* both sides bfloat16, large: the detail pane's value bins (base's 64,
	 * then target's), from the histograms the comparison counted, so that
	 * the detail does not count them again; interned; NULL when not left */
	const int64_t *value_bins;
	const char *error;           /* ERROR / SHAPE_MISMATCH / SKIPPED: names the file and the
					reason; never NULL ("" when none): set it with
					dv_result_set_error */
} dv_pair_result;

/* A result with nothing computed (status NONE, error ""): what a pair points
 * at until it is computed. Never written. */
extern const dv_pair_result dv_pair_result_none;

static inline const int64_t *dv_result_shape(const dv_result_desc *d)
{
	static const int64_t none[PT_MAX_DIMS];

	return d->shape ? d->shape : none;
}
static inline const int64_t *dv_result_coord(const dv_pair_result *r)
{
	static const int64_t none[PT_MAX_DIMS];

	return r->max_abs_diff_coord ? r->max_abs_diff_coord : none;
}
/* Sets the empty result: status NONE, metrics NaN, max_abs_diff_index -1,
 * error "", nothing owned (what it held before is not freed). */
void dv_result_reset(dv_pair_result *r);
/* Releases what r owns (the error text) and resets it. */
void dv_pair_result_free(dv_pair_result *r);
/* The error text, printf-style, kept whole (whatever its length); replaces
 * an earlier one. Out of memory keeps a fixed "out of memory". */
void dv_result_set_error(dv_pair_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* side 0 base, 1 target, from a full descriptor; coord of ndim entries.
 * -1 when out of memory (the shape then reads as ndim 0). */
int dv_result_set_desc(dv_pair_result *r, int side, const dv_tensor_desc *d);
int dv_result_set_coord(dv_pair_result *r, int ndim, const int64_t *coord);
/* The full descriptor of a kept one (for code written against dv_tensor_desc). */
void dv_result_desc_get(const dv_result_desc *d, dv_tensor_desc *out);

typedef struct dv_metrics_opts {
	double threshold;            /* DV_DEFAULT_THRESHOLD */
	bool percentiles;            /* compute p1..p99 (below percentile_limit elements) */
	int64_t percentile_limit;    /* DV_PERCENTILE_LIMIT */
	atomic_int *cancel;          /* optional: set non-zero to stop; result CANCELLED */
	void (*progress)(void *ctx, int64_t done, int64_t total); /* optional, called per chunk */
	void *progress_ctx;
	/* Threads for one large pair: 0 (default) the process-wide pool's idle
	 * helpers, 1 none, n >= 2 exactly n. Results are bit for bit the same
	 * for any count. */
	int threads;
	/* Optional, for the detail pane: the pair's finished comparison. Where
	 * its statistics give the detail's value range and largest |t-b|
	 * exactly (no NaN or Inf on either side, no zero extreme), the
	 * detail reads the tensors once instead of twice. */
	const dv_pair_result *known;
} dv_metrics_opts;

dv_metrics_opts dv_metrics_opts_default(void);

/* Compares two already-opened tensors (shape unify, metrics, stats). Returns 0
 * when a result was produced (even a failed, shape-mismatch or CANCELLED
 * one), -1 when a read failed or a dtype cannot be compared (complex,
 * quantized): status ERROR, message in result->error and err.
 * opts may be NULL (defaults). Thread-safe across distinct pt_files. */
int dv_compare_tensors(pt_file *bf, const pt_tensor *bt, pt_file *tf, const pt_tensor *tt,
		       const dv_metrics_opts *opts, dv_pair_result *result, dv_error *err);

/* Opens both dump files, takes each one's dumped value (pt_dump_value), and
 * compares: tensors with dv_compare_tensors, non-tensors by printed form.
 * Never fails silently: a bad file gives status ERROR naming the file (also
 * a tensor on one side only), and the return is -1; else 0. */
int dv_compare_files(const char *base_path, const char *targ_path,
		     const dv_metrics_opts *opts, dv_pair_result *result);

/* dv_compare_files on two dump files already open (messages name
 * pt_file_name); the files stay open. */
int dv_compare_opened(pt_file *base, pt_file *targ, const dv_metrics_opts *opts, dv_pair_result *result);

/* The same over tensors in memory: contiguous little-endian elements of each
 * desc's dtype, row-major (for tests and for callers holding the data). */
int dv_compare_buffers(const dv_tensor_desc *bd, const void *bdata, const dv_tensor_desc *td, const void *tdata,
		       const dv_metrics_opts *opts, dv_pair_result *result, dv_error *err);

/* Two non-tensor values: equal when their Python-like printed forms are
 * (tensors nested in containers are printed as shape and dtype only).
 * Sets status NON_TENSOR, equal and passed. */
int dv_compare_objects(const pt_obj *base, const pt_obj *targ, dv_pair_result *result, dv_error *err);

/* A dump file's non-tensor value, for reports that quote it (a pair's result
 * keeps only whether the values are equal): *text its Python-like printed
 * form (as dv_compare_objects compares it), at most max bytes, then "..."
 * when longer; *type Python's name of its kind ("list", "str", an object's
 * class). Both malloc'd. -1 with err when the file cannot be read. */
int dv_value_text(const char *path, size_t max, char **text, char **type, dv_error *err);

/* torch.quantile(x.float(), dv_quantile_q) of n float32 values, exactly
 * (NaN anywhere: all NaN; n == 0: -1). */
int dv_quantiles_f32(const float *x, int64_t n, double out[DV_NQUANTILES]);

/* Pass/fail rule in one place: !isnan(rel) && rel <= threshold. */
bool dv_rel_diff_passes(double rel_diff, double threshold);
/* Whether a finished result passes under threshold: the metrics' own
 * decision (result.passed) and the comparison's default pass rule; views ask
 * dv_comparison_verdict (comparison.h), not this.
 * COMPARED: rel_diff passes and no metric is NaN; NON_TENSOR: equal; else no. */
bool dv_result_passes(const dv_pair_result *result, double threshold);

/* Drill-down detail of one pair, for the TUI's detail pane and exports. */
#define DV_ABSDIFF_BUCKETS 24  /* log10 buckets of |t-b|: [1e-16,1e-15) ... ; zeros apart */
#define DV_VALUE_BINS 64
typedef struct dv_pair_detail {
	int64_t numel;
	int64_t absdiff_zero;                         /* exact zeros of |t-b| */
	int absdiff_lo_exp;                           /* bucket i holds [10^(lo+i), 10^(lo+i+1)) */
	int64_t absdiff_buckets[DV_ABSDIFF_BUCKETS];  /* first/last bucket absorb what is below/above */
	int64_t absdiff_nonfinite;
	double value_lo, value_hi;                    /* shared bins for both sides' values */
	int64_t base_bins[DV_VALUE_BINS], targ_bins[DV_VALUE_BINS];
	/* Heat map of mean |t-b| over the last two dims (rows x cols of the
	 * tensor, after collapsing leading dims into rows), downsampled to at most
	 * heat_rows x heat_cols cells, row-major. NULL for tensors of < 2 dims. */
	int heat_rows, heat_cols;
	int64_t heat_src_rows, heat_src_cols;         /* the tensor's own sizes of those dims */
	double *heat;                                 /* heat_rows * heat_cols, caller frees with dv_pair_detail_free */
	double heat_max;
} dv_pair_detail;

/* max_rows/max_cols bound the heat map (the pane's size). Two streaming
 * passes; progress runs over 2*numel. Returns -1 with err naming the file for
 * unreadable files, non-tensors and shape mismatches, or "cancelled". Heat
 * cells average the finite |t-b| only; value bins count finite values. */
int dv_pair_detail_compute(const char *base_path, const char *targ_path, int max_rows, int max_cols,
			   const dv_metrics_opts *opts, dv_pair_detail *detail, dv_error *err);
void dv_pair_detail_free(dv_pair_detail *detail);

/* Streams one row per element of the pair to a CSV file:
 * index,coord,baseline,target,abs_diff,rel_err (rel_err = |t-b| / max(|b|, 1e-12)).
 * min_abs_diff < 0 keeps all rows; top_k > 0 keeps only the K largest abs_diff
 * (written in row-major order). *rows_written gets the row count.
 * coord is quoted, "[3, 17]"; floats are the shortest text that reads back to
 * the same float32 (rel_err: double); non-finite as nan, inf, -inf. A NaN
 * abs_diff passes any min_abs_diff and ranks first for top_k; ties keep the
 * earlier element. The file is opened O_CREAT|O_TRUNC: an existing file IS
 * overwritten, so asking first is the caller's job. On error or cancel the
 * partial file is removed and -1 returned (err names out_path). */
int dv_export_diff_csv(const char *base_path, const char *targ_path, const char *out_path,
		       double min_abs_diff, int64_t top_k, const dv_metrics_opts *opts,
		       int64_t *rows_written, dv_error *err);

/* ---- streamed tensors (a logical tensor of several files, logical.h) ---- */

/* n stored elements in place at p (dv_stream's map_raw). */
typedef struct dv_raw_run {
	const void *p;
	int64_t n;
} dv_raw_run;

/* A tensor read as float32 chunks from elsewhere: read_f32 gives elements
 * [start, start+count) in row-major order of shape. dtype is the stored one
 * (reported, and bfloat16 keeps its bf16 metrics: its float32 values must
 * be bf16 values). */
typedef struct dv_stream {
	dv_dtype dtype;
	int ndim;
	int64_t shape[PT_MAX_DIMS];
	int (*read_f32)(void *ctx, int64_t start, int64_t count, float *out, dv_error *err);
	/* optional: the stored little-endian elements of dtype, when the
	 * stream only moves stored elements (no float conversion twice) */
	int (*read_raw)(void *ctx, int64_t start, int64_t count, void *out, dv_error *err);
	/* optional, with read_raw: the same elements in place (mapped files),
	 * 1 with runs[0 .. *nruns) (at most max, none empty) holding them in
	 * order, valid until the stream's next read; 0 when they are not in
	 * place or need more runs (read_raw them), -1 with err. The metrics
	 * touch them only inside pt_map_guarded; when that faults, map_fault
	 * says 1 (err set, naming the file) if the fault was this stream's,
	 * else 0. */
	int (*map_raw)(void *ctx, int64_t start, int64_t count, dv_raw_run *runs, size_t max, size_t *nruns,
		       dv_error *err);
	int (*map_fault)(void *ctx, dv_error *err);
	void *ctx;
	const char *name;            /* for messages */
} dv_stream;

/* dv_compare_tensors over two streams: the same metrics, statistics and
 * verdict as for files holding the same values. */
int dv_compare_streams(const dv_stream *base, const dv_stream *targ, const dv_metrics_opts *opts,
		       dv_pair_result *result, dv_error *err);
/* dv_pair_detail_compute and dv_export_diff_csv over two streams. */
int dv_pair_detail_streams(const dv_stream *base, const dv_stream *targ, int max_rows, int max_cols,
			   const dv_metrics_opts *opts, dv_pair_detail *detail, dv_error *err);
int dv_export_streams(const dv_stream *base, const dv_stream *targ, const char *out_path, double min_abs_diff,
		      int64_t top_k, const dv_metrics_opts *opts, int64_t *rows_written, dv_error *err);

#endif
