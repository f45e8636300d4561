/* CSV export of one pair's elementwise diff, streamed in row-major order:
 * index,coord,baseline,target,abs_diff,rel_err. Values are printed in the
 * shortest form that reads back to the same float32, so they agree with
 * torch's to the bit. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "dumpview/dtype.h"
#include "dumpview/tmpfile.h"

/* The reference form of a float32 in the CSV: "%.*g" with the fewest
 * significant digits (bisected over 1..9) that strtof reads back. */
int dv_fmt_f32_ref(char *buf, size_t size, float v)
{
	if (isnan(v))
		return snprintf(buf, size, "nan");
	if (isinf(v))
		return snprintf(buf, size, v < 0 ? "-inf" : "inf");
	/* fewest significant digits that read back exactly (9 always do):
	 * round-tripping is monotonic in the digit count, so bisect */
	int lo = 1, hi = 9;

	while (lo < hi) {
		int mid = (lo + hi) / 2;

		snprintf(buf, size, "%.*g", mid, (double)v);
		if (strtof(buf, NULL) == v)
			hi = mid;
		else
			lo = mid + 1;
	}
	return snprintf(buf, size, "%.*g", lo, (double)v);
}

/* ---- the same text by exact integer arithmetic ----
 * v = m * 2^e. For d digits: q = round-half-even(v * 10^k), k = d-1-X with
 * X = floor(log10 v) (what printf's %.dg rounds to), and q*10^-k reads back
 * as v when it lies inside v's rounding interval (ties to the even
 * significand, as strtof). Every quantity is an integer below 2^93 for
 * 2^-60 <= ulp <= 2^40 (|v| from about 7e-12 to 2e19); outside, and for
 * subnormals, the reference above. The bisection is the reference's, probe
 * for probe: the same digit count even where reading back is not monotone. */
typedef unsigned __int128 u128;

static const uint64_t pow10_u64[20] = {
	1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull, 100000000ull,
	1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull, 10000000000000ull,
	100000000000000ull, 1000000000000000ull, 10000000000000000ull, 100000000000000000ull,
	1000000000000000000ull, 10000000000000000000ull,
};

static inline u128 pow10_u128(int k)
{
	return k < 20 ? (u128)pow10_u64[k] : (u128)pow10_u64[19] * pow10_u64[k - 19];
}

/* v >= 10^y, exactly */
static inline bool ge_pow10(uint64_t m, int e, int y)
{
	if (y >= 0) {
		u128 a = (u128)m << (e > 0 ? e : 0), b = pow10_u128(y) << (e < 0 ? -e : 0);

		return a >= b;
	}
	return (u128)m * pow10_u64[-y] >= (u128)1 << -e; /* v < 1: e < 0 */
}

/* round-half-even(v * 10^k) */
static inline uint64_t round_scaled(uint64_t m, int e, int k)
{
	if (k >= 0) {
		u128 a = (u128)m * pow10_u64[k];

		if (e >= 0)
			return (uint64_t)(a << e);
		u128 q = a >> -e, r = a & (((u128)1 << -e) - 1), half = (u128)1 << (-e - 1);

		return (uint64_t)q + (r > half || (r == half && (q & 1)));
	}
	uint64_t a = m << (e > 0 ? e : 0), b = pow10_u64[-k] << (e < 0 ? -e : 0);
	uint64_t q = a / b, r = a - q * b;

	return q + (r > b - r || (r == b - r && (q & 1)));
}

/* Whether q * 10^-k reads back as v (lowhalf: the gap below v is half the
 * one above, at a power of two). */
static inline bool reads_back(uint64_t m, int e, bool lowhalf, uint64_t q, int k)
{
	int s = e < 2 ? 2 - e : 0, t = k > 0 ? k : 0;
	u128 p10t = pow10_u128(t);
	u128 vs = ((u128)m << (e + s)) * p10t;
	u128 ds = ((u128)q * (k < 0 ? pow10_u64[-k] : 1)) << s;
	u128 diff = ds > vs ? ds - vs : vs - ds;
	u128 half = (p10t << (e + s)) >> (ds < vs && lowhalf ? 2 : 1);

	return diff < half || (diff == half && !(m & 1));
}

/* "%.{d}g" of q (d digits, or 10^d after a carry) times 10^(X-d+1) */
static int put_g(char *buf, bool neg, uint64_t q, int d, int X)
{
	char dig[24];
	char *p = buf;
	int nd;

	if (q == pow10_u64[d]) {
		q = pow10_u64[d - 1];
		X++;
	}
	for (int i = d - 1; i >= 0; i--, q /= 10)
		dig[i] = (char)('0' + q % 10);
	for (nd = d; nd > 1 && dig[nd - 1] == '0'; nd--)
		;
	if (neg)
		*p++ = '-';
	if (X < -4 || X >= d) {
		*p++ = dig[0];
		if (nd > 1) {
			*p++ = '.';
			memcpy(p, dig + 1, (size_t)nd - 1);
			p += nd - 1;
		}
		int x = X < 0 ? -X : X;

		*p++ = 'e';
		*p++ = X < 0 ? '-' : '+';
		if (x >= 10) {
			*p++ = (char)('0' + x / 10);
			*p++ = (char)('0' + x % 10);
		} else {
			*p++ = '0';
			*p++ = (char)('0' + x);
		}
	} else if (X >= 0) {
		for (int i = 0; i <= X; i++)
			*p++ = i < nd ? dig[i] : '0';
		if (nd > X + 1) {
			*p++ = '.';
			memcpy(p, dig + X + 1, (size_t)(nd - X - 1));
			p += nd - X - 1;
		}
	} else {
		*p++ = '0';
		*p++ = '.';
		for (int i = 0; i < -X - 1; i++)
			*p++ = '0';
		memcpy(p, dig, (size_t)nd);
		p += nd;
	}
	*p = '\0';
	return (int)(p - buf);
}

/* The bisection over the digit count, probe for probe the reference's. */
static int fmt_bisect(char *buf, bool neg, uint64_t m, int e, bool lowhalf, int X)
{
	int lo = 1, hi = 9;
	uint64_t qhi = 0;

	while (lo < hi) {
		int mid = (lo + hi) / 2;
		uint64_t q = round_scaled(m, e, mid - 1 - X);
		/* a carry (q == 10^mid) is the next power of ten: still mid digits */
		if (reads_back(m, e, lowhalf, q, mid - 1 - X)) {
			hi = mid;
			qhi = q;
		} else {
			lo = mid + 1;
		}
	}
	if (!qhi)
		qhi = round_scaled(m, e, lo - 1 - X);
	return put_g(buf, neg, qhi, lo, X);
}

/* The fewest digits d (1..9) for which the rounding interval of v, whose
 * gaps below and above are equal (not a power of two), holds a multiple of
 * 10^(X+1-d). The d-digit rounding of v is the closest such number to v, so
 * it reads back exactly when any does: reading back is monotone in d here,
 * and the bisection finds this d. With the interval scaled by 10^(8-X)
 * (9 digits), [lo, hi] the integers inside it, that is a multiple of
 * 10^(9-d) between lo and hi. */
static int fewest_digits(uint64_t m, int e, int X)
{
	int k9 = 8 - X;
	bool open = m & 1;               /* odd significand: ties read back to the neighbour */
	uint64_t lo, hi;

	if (k9 >= 0) {
		/* v < 10^9: e <= 6; (2m+1) * 10^k9 < 2^25 * 2^67 */
		u128 p = pow10_u128(k9), a = (u128)(2 * m - 1) * p, b = (u128)(2 * m + 1) * p;
		int sh = 1 - e;              /* bounds = a, b times 2^(e-1) */

		if (sh <= 0) {
			lo = (uint64_t)(a << -sh);
			hi = (uint64_t)(b << -sh);
			lo += open;
			hi -= open;
		} else {
			u128 mask = ((u128)1 << sh) - 1;
			bool ax = (a & mask) == 0, bx = (b & mask) == 0;

			lo = (uint64_t)(a >> sh) + !ax + (open && ax); /* ceil, past an open bound */
			hi = (uint64_t)(b >> sh) - (open && bx);       /* floor, before one */
		}
	} else {
		/* v >= 10^9: e >= 7, (2m+1) * 2^(e-1) < 2^64 */
		uint64_t a = (2 * m - 1) << (e - 1), b = (2 * m + 1) << (e - 1), d = pow10_u64[-k9];
		uint64_t qa = a / d, qb = b / d;
		bool ax = qa * d == a, bx = qb * d == b;

		lo = qa + !ax + (open && ax);
		hi = qb - (open && bx);
	}
	int j = 0;

	/* 9 digits always read back: 10^0 divides some integer in [lo, hi] */
	while (j < 8 && hi / pow10_u64[j + 1] * pow10_u64[j + 1] >= lo)
		j++;
	return 9 - j;
}

int dv_fmt_f32_csv(char *buf, float v)
{
	uint32_t u;

	memcpy(&u, &v, sizeof(u));
	bool neg = u >> 31;
	uint32_t E = (u >> 23) & 0xff, frac = u & 0x7fffff;

	if ((u & 0x7fffffff) == 0) {
		char *p = buf;

		if (neg)
			*p++ = '-';
		*p++ = '0';
		*p = '\0';
		return (int)(p - buf);
	}
	int e = (int)E - 150;

	if (E == 0 || E == 255 || e < -60 || e > 40)
		return dv_fmt_f32_ref(buf, 32, v);
	uint64_t m = frac | 0x800000u;
	bool lowhalf = frac == 0 && E > 1;
	/* floor(log10 v) from the binary exponent, then one exact correction */
	int b = e + 23, X = (b * 78913) >> 18;   /* floor(b * log10(2)) for |b| < 1650 */

	if (ge_pow10(m, e, X + 1))
		X++;
	else if (!ge_pow10(m, e, X))
		X--;
	if (lowhalf)
		return fmt_bisect(buf, neg, m, e, lowhalf, X);
	int d = fewest_digits(m, e, X);

	return put_g(buf, neg, round_scaled(m, e, d - 1 - X), d, X);
}

int dv_fmt_f32_bisect(char *buf, float v)
{
	uint32_t u;

	memcpy(&u, &v, sizeof(u));
	uint32_t E = (u >> 23) & 0xff, frac = u & 0x7fffff;
	int e = (int)E - 150;

	if ((u & 0x7fffffff) == 0 || E == 0 || E == 255 || e < -60 || e > 40)
		return dv_fmt_f32_csv(buf, v);
	uint64_t m = frac | 0x800000u;
	int b = e + 23, X = (b * 78913) >> 18;

	if (ge_pow10(m, e, X + 1))
		X++;
	else if (!ge_pow10(m, e, X))
		X--;
	return fmt_bisect(buf, u >> 31, m, e, frac == 0 && E > 1, X);
}

/* NaN sorts above everything: a NaN difference is the worst there is. */
static bool abs_greater(float a, float b)
{
	if (isnan(a))
		return !isnan(b);
	if (isnan(b))
		return false;
	return a > b;
}

static bool keep_row(float a, double min_abs_diff)
{
	return min_abs_diff < 0 || isnan(a) || (double)a > min_abs_diff;
}

typedef struct top_entry {
	float abs;
	int64_t index;
} top_entry;

/* Heap order: the root is the entry to evict first (smallest abs; among
 * equal ones the latest index, so the earliest occurrences are kept). */
static bool evict_before(const top_entry *x, const top_entry *y)
{
	if (abs_greater(y->abs, x->abs))
		return true;
	if (abs_greater(x->abs, y->abs))
		return false;
	return x->index > y->index;
}

static void heap_down(top_entry *h, int64_t n, int64_t i)
{
	for (;;) {
		int64_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < n && evict_before(&h[l], &h[m]))
			m = l;
		if (r < n && evict_before(&h[r], &h[m]))
			m = r;
		if (m == i)
			return;
		top_entry t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static void heap_up(top_entry *h, int64_t i)
{
	while (i > 0) {
		int64_t p = (i - 1) / 2;

		if (!evict_before(&h[i], &h[p]))
			return;
		top_entry t = h[i];
		h[i] = h[p];
		h[p] = t;
		i = p;
	}
}

static int cmp_index(const void *a, const void *b)
{
	int64_t x = ((const top_entry *)a)->index, y = ((const top_entry *)b)->index;

	return x < y ? -1 : x > y;
}

/* Shortest texts of recent float32 values by bit pattern: exports of 16-bit
 * dtypes repeat values (bf16 has 65536). Not for float32 data, whose values
 * rarely repeat: there the lookup costs more than it saves. */
#define FMT_CACHE_BITS 13
typedef struct fmt_cache {
	uint32_t key[1 << FMT_CACHE_BITS];
	uint8_t len[1 << FMT_CACHE_BITS];  /* 0: empty */
	char text[1 << FMT_CACHE_BITS][16];
} fmt_cache;

static char *put_f32_cached(fmt_cache *c, char *p, float v)
{
	uint32_t u;

	memcpy(&u, &v, sizeof(u));
	uint32_t h = (u * 2654435761u) >> (32 - FMT_CACHE_BITS);

	if (!c->len[h] || c->key[h] != u) {
		char buf[32];
		int n = dv_fmt_f32_csv(buf, v);

		if (n <= 0 || n > 16) { /* cannot happen: at most 15 characters */
			memcpy(p, buf, (size_t)n);
			return p + n;
		}
		c->key[h] = u;
		c->len[h] = (uint8_t)n;
		memcpy(c->text[h], buf, (size_t)n);
	}
	memcpy(p, c->text[h], c->len[h]);
	return p + c->len[h];
}

/* Straight into the row: at most 16 bytes with the NUL, which the row's
 * room (see row_fmt) leaves. */
static inline char *put_f32(char *p, float v)
{
	return p + dv_fmt_f32_csv(p, v);
}

static char *put_i64(char *p, int64_t v)
{
	char tmp[24];
	int n = 0;
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*p++ = '-';
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* The rows' formatter: the text `index,"[c0, c1, ...]",` of the current
 * element, kept from row to row (the next element's index and last
 * coordinate are the same digits plus one, counted in the text; the whole
 * text is rebuilt only when a digit count grows or a coordinate wraps), and
 * the cache for 16-bit dtypes. */
typedef struct row_fmt {
	fmt_cache *cache;              /* NULL: float32 data, no cache */
	int ndim;
	const int64_t *shape;
	int64_t index;
	int64_t coord[PT_MAX_DIMS];
	int len, idx_end, last_beg, last_end;
	char text[32 + 22 * PT_MAX_DIMS];
} row_fmt;

static void row_fmt_build(row_fmt *rf)
{
	char *p = rf->text;

	p = put_i64(p, rf->index);
	rf->idx_end = (int)(p - rf->text);
	memcpy(p, ",\"[", 3);
	p += 3;
	rf->last_beg = rf->last_end = 0;
	for (int i = 0; i < rf->ndim; i++) {
		if (i) {
			*p++ = ',';
			*p++ = ' ';
		}
		rf->last_beg = (int)(p - rf->text);
		p = put_i64(p, rf->coord[i]);
		rf->last_end = (int)(p - rf->text);
	}
	memcpy(p, "]\",", 3);
	p += 3;
	rf->len = (int)(p - rf->text);
}

static void row_fmt_init(row_fmt *rf, fmt_cache *cache, const dv_tensor_desc *td, int64_t index)
{
	rf->cache = cache;
	rf->ndim = td->ndim;
	rf->shape = td->shape;
	rf->index = index;
	dv_index_to_coord(index, td->ndim, td->shape, rf->coord);
	row_fmt_build(rf);
}

/* Adds one to the decimal digits [beg, end); false on a carry out of them. */
static inline bool digits_inc(char *beg, char *end)
{
	for (char *p = end; p-- > beg;) {
		if (*p != '9') {
			(*p)++;
			return true;
		}
		*p = '0';
	}
	return false;
}

/* To the next element in row-major order. */
static inline void row_fmt_next(row_fmt *rf)
{
	int last = rf->ndim - 1;

	rf->index++;
	if (last >= 0 && ++rf->coord[last] < rf->shape[last] && rf->coord[last] > 0 &&
	    digits_inc(rf->text + rf->last_beg, rf->text + rf->last_end) &&
	    digits_inc(rf->text, rf->text + rf->idx_end))
		return;
	/* a wrap, a longer number (the digits are all '0' then), a scalar */
	for (int i = last; i >= 0; i--) {
		if (rf->coord[i] < rf->shape[i])
			break;
		rf->coord[i] = 0;
		if (i > 0)
			rf->coord[i - 1]++;
	}
	row_fmt_build(rf);
}

/* One row into line (room for 96 + 22 per dim). rel_err in float32 like the
 * rest of the comparator's elementwise arithmetic. */
static size_t format_row(const row_fmt *rf, char *line, float b, float t)
{
	float a = fabsf(t - b);
	float rel = a / fmaxf(fabsf(b), 1e-12f);
	char *p = line;

	memcpy(p, rf->text, (size_t)rf->len);
	p += rf->len;
	if (rf->cache) {
		p = put_f32_cached(rf->cache, p, b);
		*p++ = ',';
		p = put_f32_cached(rf->cache, p, t);
		*p++ = ',';
		p = put_f32_cached(rf->cache, p, a);
	} else {
		p = put_f32(p, b);
		*p++ = ',';
		p = put_f32(p, t);
		*p++ = ',';
		p = put_f32(p, a);
	}
	*p++ = ',';
	p = put_f32(p, isnan(a) ? a : rel);
	*p++ = '\n';
	return (size_t)(p - line);
}

/* The cache pays off for dtypes of 16 bits or less, whose values repeat. */
static bool export_cached(const dv_src *bs, const dv_src *ts)
{
	return dv_dtype_size(bs->dtype) <= 2 || dv_dtype_size(ts->dtype) <= 2;
}

/* The state of both passes. */
typedef struct export_pass {
	const dv_reader *br, *tr;
	const dv_tensor_desc *td;
	double min_abs_diff;
	const char *out_path;
	top_entry *top;
	int64_t ntop, cap, next;     /* next: the next wanted entry of top */
	FILE *f;
	row_fmt *rf;
	char *line;
	int64_t rows;
	dv_error *err;               /* for write errors */
} export_pass;

/* pass 1 (top K): the K largest |t-b| in a heap */
static inline int top_chunk(void *ctx, int64_t start, int64_t cnt)
{
	export_pass *p = ctx;

	for (int64_t i = 0; i < cnt; i++) {
		top_entry e = { fabsf(p->tr->f32[i] - p->br->f32[i]), start + i };

		if (!keep_row(e.abs, p->min_abs_diff))
			continue;
		if (p->ntop < p->cap) {
			p->top[p->ntop] = e;
			heap_up(p->top, p->ntop++);
		} else if (evict_before(&p->top[0], &e)) {
			p->top[0] = e;
			heap_down(p->top, p->ntop, 0);
		}
	}
	return 0;
}

static int write_error(export_pass *p)
{
	return dv_error_set(p->err, "%s: %s", p->out_path, strerror(errno ? errno : EIO));
}

/* pass 2 (top K): a chunk is read only when it holds a wanted entry */
static bool top_wanted(void *ctx, int64_t start, int64_t cnt)
{
	export_pass *p = ctx;

	return p->next < p->ntop && p->top[p->next].index < start + cnt;
}

static int write_top_chunk(void *ctx, int64_t start, int64_t cnt)
{
	export_pass *p = ctx;

	for (; p->next < p->ntop && p->top[p->next].index < start + cnt; p->next++) {
		int64_t i = p->top[p->next].index - start;

		row_fmt_init(p->rf, p->rf->cache, p->td, start + i);
		size_t len = format_row(p->rf, p->line, p->br->f32[i], p->tr->f32[i]);

		if (fwrite(p->line, 1, len, p->f) != len)
			return write_error(p);
		p->rows++;
	}
	return 0;
}

/* pass 2 (all rows past the threshold) */
static inline int write_chunk(void *ctx, int64_t start, int64_t cnt)
{
	export_pass *p = ctx;

	(void)start;
	for (int64_t i = 0; i < cnt; i++, row_fmt_next(p->rf)) {
		if (!keep_row(fabsf(p->tr->f32[i] - p->br->f32[i]), p->min_abs_diff))
			continue;
		size_t len = format_row(p->rf, p->line, p->br->f32[i], p->tr->f32[i]);

		if (fwrite(p->line, 1, len, p->f) != len)
			return write_error(p);
		p->rows++;
	}
	return 0;
}

/* ---- all rows on several threads ----
 * Units of EXPORT_UNIT elements are formatted by any thread into one of a
 * ring of slots and written strictly in unit order: whichever thread finds
 * the next unit ready becomes the writer until none is (one at a time); a
 * thread waits for its slot only while the unit a ring's length before its
 * own is unwritten. The bytes are those of one thread's rows, in order. */
#define EXPORT_UNIT 16384

typedef struct export_slot {
	char *buf;
	size_t len;
	int64_t rows, unit;            /* unit held; -1: free */
	bool ready;
} export_slot;

typedef struct export_par {
	const dv_src *bs, *ts;
	const dv_tensor_desc *td;
	double min_abs_diff;
	int64_t numel, nunits;
	FILE *f;
	export_slot *slots;
	int nslots;
	size_t linemax;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int64_t next_write, rows;
	bool writing, failed;
	bool cache;                    /* rows through each lane's fmt_cache */
	int write_errno;
} export_par;

typedef struct export_lane {
	dv_reader br, tr;
	row_fmt rf;
	fmt_cache cache;
} export_lane;

static void *export_lane_new(void *ctx)
{
	export_par *ep = ctx;
	export_lane *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	if (dv_reader_init(&l->br, ep->bs, NULL) < 0 || dv_reader_init(&l->tr, ep->ts, NULL) < 0) {
		dv_reader_free(&l->br);
		dv_reader_free(&l->tr);
		free(l);
		return NULL;
	}
	return l;
}

static void export_lane_done(void *ctx, void *vl)
{
	export_lane *l = vl;

	(void)ctx;
	dv_reader_free(&l->br);
	dv_reader_free(&l->tr);
	free(l);
}

static int64_t export_unit_len(void *ctx, int64_t k)
{
	export_par *ep = ctx;
	int64_t start = k * EXPORT_UNIT;

	return ep->numel - start < EXPORT_UNIT ? ep->numel - start : EXPORT_UNIT;
}

/* Writes ready units in order while this thread holds the writer's turn
 * (called and returning with mu held). */
static void export_drain(export_par *ep)
{
	if (ep->writing)
		return;
	ep->writing = true;
	for (;;) {
		export_slot *sl = &ep->slots[ep->next_write % ep->nslots];

		if (ep->failed || sl->unit != ep->next_write || !sl->ready)
			break;
		pthread_mutex_unlock(&ep->mu);
		errno = 0;
		bool ok = fwrite(sl->buf, 1, sl->len, ep->f) == sl->len;
		int e = errno;
		pthread_mutex_lock(&ep->mu);
		if (!ok) {
			ep->failed = true;
			ep->write_errno = e ? e : EIO;
			break;
		}
		ep->rows += sl->rows;
		sl->unit = -1;
		sl->ready = false;
		ep->next_write++;
		pthread_cond_broadcast(&ep->cv);
	}
	ep->writing = false;
}

static int export_par_chunk(void *ctx, void *vl, int64_t k, dv_error *err)
{
	export_par *ep = ctx;
	export_lane *l = vl;
	int64_t start = k * EXPORT_UNIT, cnt = export_unit_len(ctx, k);
	export_slot *sl = &ep->slots[k % ep->nslots];
	const dv_tensor_desc *td = ep->td;

	if (dv_reader_read(&l->br, start, cnt, err) < 0 || dv_reader_read(&l->tr, start, cnt, err) < 0) {
		/* later units wait on this one: stop them all */
		pthread_mutex_lock(&ep->mu);
		ep->failed = true;
		pthread_cond_broadcast(&ep->cv);
		pthread_mutex_unlock(&ep->mu);
		return -1;
	}
	pthread_mutex_lock(&ep->mu);
	/* The slot is this unit's once the unit a ring before it is written.
	 * Not "once the slot is free": a unit a ring after this one, claimed
	 * later but quicker to get here, would take the free slot and then
	 * wait for this unit to be written, which waits for the slot. */
	while (!ep->failed && k >= ep->next_write + ep->nslots) {
		export_drain(ep);
		if (!ep->failed && k >= ep->next_write + ep->nslots)
			pthread_cond_wait(&ep->cv, &ep->mu);
	}
	if (ep->failed) {
		pthread_mutex_unlock(&ep->mu);
		return dv_error_set(err, "%s", ep->write_errno ? strerror(ep->write_errno) : "stopped");
	}
	sl->unit = k;
	sl->ready = false;
	pthread_mutex_unlock(&ep->mu);

	char *p = sl->buf;
	int64_t rows = 0;

	row_fmt_init(&l->rf, ep->cache ? &l->cache : NULL, td, start);
	for (int64_t i = 0; i < cnt; i++, row_fmt_next(&l->rf)) {
		float b = l->br.f32[i], t = l->tr.f32[i];

		if (!keep_row(fabsf(t - b), ep->min_abs_diff))
			continue;
		p += format_row(&l->rf, p, b, t);
		rows++;
	}
	pthread_mutex_lock(&ep->mu);
	sl->len = (size_t)(p - sl->buf);
	sl->rows = rows;
	sl->ready = true;
	export_drain(ep);
	pthread_mutex_unlock(&ep->mu);
	return 0;
}

/* All rows past min_abs_diff into f on threads; DV_WALK_* or -1. */
static int export_par_write(const dv_src *bs, const dv_src *ts, const dv_tensor_desc *td, int64_t numel,
			    double min_abs_diff, FILE *f, int threads, const dv_metrics_opts *opts, int64_t *rows,
			    const char *out_path, dv_error *err)
{
	export_par ep = { .bs = bs, .ts = ts, .td = td, .min_abs_diff = min_abs_diff, .numel = numel, .f = f,
			  .cache = export_cached(bs, ts) };
	int st = -1;

	ep.nunits = (numel + EXPORT_UNIT - 1) / EXPORT_UNIT;
	ep.nslots = 2 * (threads > 0 ? threads : dv_par_cpus()) + 2;
	ep.linemax = 96 + 22 * (size_t)(td->ndim > 0 ? td->ndim : 1);
	ep.slots = calloc((size_t)ep.nslots, sizeof(*ep.slots));
	if (!ep.slots)
		return dv_error_set(err, "%s: out of memory", out_path);
	for (int i = 0; i < ep.nslots; i++) {
		ep.slots[i].unit = -1;
		if (!(ep.slots[i].buf = malloc(EXPORT_UNIT * ep.linemax))) {
			dv_error_set(err, "%s: out of memory", out_path);
			goto out;
		}
	}
	pthread_mutex_init(&ep.mu, NULL);
	pthread_cond_init(&ep.cv, NULL);
	dv_par_job j = { .numel = numel, .ctx = &ep, .lane_new = export_lane_new, .chunk = export_par_chunk,
			 .lane_done = export_lane_done, .opts = opts, .total = numel, .name = out_path,
			 .nunits = ep.nunits, .unit_len = export_unit_len };

	st = dv_par_run(&j, threads, err);
	if (st == DV_WALK_DONE) {
		pthread_mutex_lock(&ep.mu);
		export_drain(&ep);
		if (ep.failed || ep.next_write != ep.nunits) {
			errno = ep.write_errno ? ep.write_errno : EIO;
			st = -1;
			dv_error_set(err, "%s: %s", out_path, strerror(errno));
		}
		pthread_mutex_unlock(&ep.mu);
	} else if (st < 0) {
		char msg[sizeof(err->msg)];

		snprintf(msg, sizeof(msg), "%s", err->msg);
		dv_error_set(err, "%s: %s", out_path, msg);
	}
	*rows = ep.rows;
	pthread_cond_destroy(&ep.cv);
	pthread_mutex_destroy(&ep.mu);
out:
	for (int i = 0; i < ep.nslots; i++)
		free(ep.slots[i].buf);
	free(ep.slots);
	return st;
}

static int export_walk_end(int st, const char *out_path, dv_error *err)
{
	if (st == DV_WALK_CANCELLED)
		dv_error_set(err, "%s: cancelled", out_path);
	return st == DV_WALK_DONE ? 0 : -1;
}

int dv_export_readers(dv_reader *br, dv_reader *tr, const dv_tensor_desc *td, int64_t numel, const char *out_path,
		      double min_abs_diff, int64_t top_k, const dv_metrics_opts *opts, int64_t *rows_written,
		      dv_error *err)
{
	top_entry *top = NULL;
	fmt_cache *cache = NULL;
	row_fmt *rf = NULL;
	char *line = NULL;
	int64_t ntop = 0, cap = 0, rows = 0, passes = top_k > 0 ? 2 : 1;
	FILE *f = NULL;
	char *tmp_path = NULL;
	int fd, rc = -1, st;

	export_pass p = { .br = br, .tr = tr, .td = td, .min_abs_diff = min_abs_diff, .out_path = out_path, .err = err };
	dv_walk w = { .b = br, .t = tr, .numel = numel, .opts = opts, .progress = true, .total = passes * numel };

	if (rows_written)
		*rows_written = 0;
	if (top_k > 0) {
		cap = top_k < numel ? top_k : numel;
		top = malloc((size_t)(cap > 0 ? cap : 1) * sizeof(*top));
		if (!top)
			return dv_error_set(err, "%s: out of memory for the top %lld rows", out_path, (long long)top_k);
		/* pass 1: the K largest |t-b| */
		p.top = top;
		p.cap = cap;
		if (export_walk_end(dv_chunk_walk(&w, top_chunk, &p, err), out_path, err) < 0)
			goto out;
		ntop = p.ntop;
		qsort(top, (size_t)ntop, sizeof(*top), cmp_index);
	}

	cache = calloc(1, sizeof(*cache));
	rf = malloc(sizeof(*rf));
	line = malloc(96 + 22 * (size_t)(td->ndim > 0 ? td->ndim : 1));
	if (!cache || !rf || !line) {
		dv_error_set(err, "%s: out of memory", out_path);
		goto out;
	}
	row_fmt_init(rf, export_cached(br->src, tr->src) ? cache : NULL, td, 0);

	/* Written beside the target and renamed over it at the end, so a
	 * cancelled or failed export leaves an existing file as it was.
	 * Replacing it is the caller's question to ask. */
	if ((fd = dv_tmp_create(out_path, &tmp_path, err)) < 0)
		goto out;
	f = fdopen(fd, "w");
	if (!f) {
		dv_error_set(err, "%s: %s", out_path, strerror(errno));
		close(fd);
		unlink(tmp_path);
		goto out;
	}
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	fputs("index,coord,baseline,target,abs_diff,rel_err\n", f);
	p.f = f;
	p.rf = rf;
	p.line = line;
	w.done = (passes - 1) * numel;
	if (top_k > 0)
		w.want = top_wanted;
	int threads = top_k <= 0 && br->src->concurrent && tr->src->concurrent ? dv_par_threads(opts, numel) : 1;

	if (threads != 1) {
		dv_par_enter();
		st = export_par_write(br->src, tr->src, td, numel, min_abs_diff, f, threads, opts, &p.rows, out_path,
				      err);
		dv_par_leave();
		if (st < 0)
			goto out;
	} else {
		st = top_k > 0 ? dv_chunk_walk(&w, write_top_chunk, &p, err) : dv_chunk_walk(&w, write_chunk, &p, err);
	}
	rows = p.rows;
	if (export_walk_end(st, out_path, err) < 0)
		goto out;
	if (fflush(f) != 0 || ferror(f))
		goto write_error;
	rc = 0;
	goto out;
write_error:
	dv_error_set(err, "%s: %s", out_path, strerror(errno ? errno : EIO));
out:
	if (f && fclose(f) != 0 && rc == 0) {
		dv_error_set(err, "%s: %s", out_path, strerror(errno));
		rc = -1;
	}
	if (rc == 0 && rename(tmp_path, out_path) != 0) {
		dv_error_set(err, "%s: %s", out_path, strerror(errno));
		rc = -1;
	}
	if (rc < 0 && f)
		unlink(tmp_path); /* no partial exports left behind */
	free(tmp_path);
	free(top);
	free(cache);
	free(rf);
	free(line);
	if (rows_written)
		*rows_written = rc == 0 ? rows : 0;
	return rc;
}

int dv_export_diff_csv(const char *base_path, const char *targ_path, const char *out_path, double min_abs_diff,
		       int64_t top_k, const dv_metrics_opts *opts, int64_t *rows_written, dv_error *err)
{
	dv_pair_stream s;
	int rc;

	if (rows_written)
		*rows_written = 0;
	if (dv_pair_stream_open(&s, base_path, targ_path, err) < 0)
		return -1;
	rc = dv_export_readers(&s.br, &s.tr, &s.td, s.numel, out_path, min_abs_diff, top_k, opts, rows_written,
			       err);
	dv_pair_stream_close(&s);
	return rc;
}
