/* Exact quantiles as torch.quantile computes them (linear interpolation, the
 * rank and the interpolation in float32 arithmetic), without sorting large
 * tensors: order statistics come from radix histograms of order-preserving
 * keys. Any NaN makes every quantile NaN, as in torch. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3") /* the key loops vectorise */
#endif

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const double dv_quantile_q[DV_NQUANTILES] = { 0.01, 0.05, 0.50, 0.95, 0.99 };
const char *const dv_quantile_name[DV_NQUANTILES] = { "p1", "p5", "p50", "p95", "p99" };

#define NBUCKETS 65536

/* at::lerp for float as torch's x86 kernels (AVX2/AVX512 builds, compiled
 * with FMA contraction) compute it: two forms by |weight| < 0.5, each a fused
 * multiply-add. Checked against torch 2.11 (tests/fixtures/metrics); the
 * non-FMA "default" capability differs in the last bit at times. */
static inline float torch_lerp(float a, float b, float w)
{
	float d = b - a;

	return fabsf(w) < 0.5f ? fmaf(w, d, a) : fmaf(-d, 1.0f - w, b);
}

/* Unsigned keys ordered like the floats; -0 and +0 share a key. */
static inline uint32_t float_key(float v)
{
	uint32_t u;

	if (v == 0.0f)
		v = 0.0f;
	memcpy(&u, &v, sizeof(u));
	return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* The same without folding -0 into +0 (they are adjacent keys anyway). */
static inline uint32_t raw_key(uint32_t u)
{
	return u ^ ((uint32_t)((int32_t)u >> 31) | 0x80000000u);
}

static inline float key_float(uint32_t k)
{
	uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
	float v;

	memcpy(&v, &u, sizeof(v));
	return v;
}

static void key16_release(dv_qsel *q, const uint32_t *c8);
static void key16_clear(struct dv_key16_table *t, const uint32_t *c8);

int dv_qsel_init(dv_qsel *q, int64_t numel)
{
	memset(q, 0, sizeof(*q));
	q->numel = numel;
	if (numel <= DV_QSEL_SMALL) {
		q->keys = malloc((size_t)(numel > 0 ? numel : 1) * sizeof(uint32_t));
		return q->keys ? 0 : -1;
	}
	q->h1 = calloc(NBUCKETS, sizeof(uint32_t));
	return q->h1 ? 0 : -1;
}

void dv_qsel_free(dv_qsel *q)
{
	key16_release(q, NULL); /* when plan never ran */
	free(q->keys);
	free(q->h1);
	free(q->slot_of_bucket);
	for (int i = 0; i < DV_QSEL_RANKS; i++)
		free(q->h2[i]);
	memset(q, 0, sizeof(*q));
}

void dv_qsel_add(dv_qsel *q, const float *x, size_t n)
{
	size_t i;

	if (q->keys) {
		/* keys of every value, NaN included (any NaN makes all quantiles
		 * NaN, so their keys are never looked at): a vectorisable loop */
		uint32_t *k = q->keys + q->count, low = 0;
		int64_t nan = 0;

		if ((int64_t)n > q->numel - q->count)
			n = (size_t)(q->numel - q->count); /* more values than announced */
		for (i = 0; i < n; i++) {
			uint32_t u;

			memcpy(&u, &x[i], sizeof(u));
			low |= u;
			k[i] = raw_key(u);
			nan += x[i] != x[i];
		}
		q->lowbits |= low & 0xffffu;
		q->nan += nan;
		q->count += (int64_t)n;
		return;
	}
	/* branchless: NaNs are histogrammed too (their keys lie outside the
	 * numbers'), and counted apart; any NaN makes every quantile NaN. */
	uint32_t *h = q->h1, low = 0;
	int64_t nan = 0;

	for (i = 0; i < n; i++) {
		uint32_t u;

		memcpy(&u, &x[i], sizeof(u));
		low |= u;
		h[raw_key(u) >> 16]++;
	}
	for (i = 0; i < n; i++)
		nan += x[i] != x[i];
	q->lowbits |= low & 0xffffu;
	q->nan += nan;
	q->count += (int64_t)n - nan;
}

void dv_qsel_merge(dv_qsel *q, const dv_qsel *o)
{
	for (size_t i = 0; i < NBUCKETS; i++)
		q->h1[i] += o->h1[i];
	q->count += o->count;
	q->nan += o->nan;
	q->lowbits |= o->lowbits;
}

/* MSD radix selection of the small-mode keys: per digit, from the top,
 * count the digit over the group holding a wanted rank, and copy out only
 * the members of the buckets holding ranks; no full sort. Digits: 11, 11 and
 * 10 bits; when every value's low 16 bits are zero (bf16 data) 11 and 5 bits
 * decide the key, whose low half then only repeats the sign. A wide first
 * digit leaves few members to copy. */
typedef struct sel_group {
	uint32_t *k;
	int64_t n;
	uint32_t prefix;                   /* digits decided so far */
	int nr;
	int idx[DV_QSEL_RANKS];            /* which ranks */
	int64_t res[DV_QSEL_RANKS];        /* rank inside the group */
} sel_group;

/* bf16 data (low 16 bits zero): two counting passes and no copying. The
 * first counts the top 11 bits; the second counts bits 16-20 of the keys in
 * the buckets holding ranks, the others counted into a discard slot (by
 * digit: no branch, and no single hot counter). */
static void select_keys_high(const uint32_t *keys, int64_t n, const int64_t *rank, uint32_t *out)
{
	uint32_t cnt[2048], cnt2[(DV_QSEL_RANKS + 1) * 32];
	uint8_t slot[2048];
	uint32_t bucket[DV_QSEL_RANKS];
	int64_t res[DV_QSEL_RANKS];
	int nslots = 0;

	memset(cnt, 0, sizeof(cnt));
	for (int64_t i = 0; i < n; i++)
		cnt[keys[i] >> 21]++;
	/* one walk over the buckets, ranks in ascending order */
	int order[DV_QSEL_RANKS];
	for (int j = 0; j < DV_QSEL_RANKS; j++) {
		int p = j;

		while (p > 0 && rank[order[p - 1]] > rank[j]) {
			order[p] = order[p - 1];
			p--;
		}
		order[p] = j;
	}
	memset(slot, 0, sizeof(slot));
	int64_t cum = 0;
	uint32_t b = 0;
	for (int o = 0; o < DV_QSEL_RANKS; o++) {
		int j = order[o];

		while (cum + cnt[b] <= rank[j])
			cum += cnt[b++];
		bucket[j] = b;
		res[j] = rank[j] - cum;
		if (!slot[b])
			slot[b] = (uint8_t)++nslots;
	}
	memset(cnt2, 0, sizeof(cnt2));
	for (int64_t i = 0; i < n; i++) {
		uint32_t k = keys[i];

		cnt2[slot[k >> 21] * 32 + ((k >> 16) & 31)]++;
	}
	for (int j = 0; j < DV_QSEL_RANKS; j++) {
		const uint32_t *c = cnt2 + slot[bucket[j]] * 32;
		int64_t cum = 0;
		uint32_t d = 0;

		while (cum + c[d] <= res[j])
			cum += c[d++];
		uint32_t key = (bucket[j] << 21) | (d << 16);

		out[j] = key | ((key & 0x80000000u) ? 0 : 0xffffu);
	}
}

/* bf16 data below 65536 values: one pass counting each 16-bit key and its
 * top byte into a per-thread table, then a walk over the top-byte counts
 * and inside the chosen 256-key blocks; the blocks touched are cleared
 * afterwards (the table stays zero between calls). 1.7x faster than the
 * two passes above on [32, 256] tensors. */
static _Thread_local uint16_t key16_count[65536];

static void select_keys_16(const uint32_t *keys, int64_t n, const int64_t *rank, uint32_t *out)
{
	uint32_t c8[256];

	memset(c8, 0, sizeof(c8));
	for (int64_t i = 0; i < n; i++) {
		uint32_t k = keys[i] >> 16;

		c8[k >> 8]++;
		key16_count[k]++;
	}
	for (int j = 0; j < DV_QSEL_RANKS; j++) {
		int64_t cum = 0, r = rank[j];
		uint32_t b = 0, d = 0;
		const uint16_t *c;

		while (cum + c8[b] <= r)
			cum += c8[b++];
		c = key16_count + (b << 8);
		while (cum + c[d] <= r)
			cum += c[d++];
		uint32_t key = (b << 24) | (d << 16);

		out[j] = key | ((key & 0x80000000u) ? 0 : 0xffffu);
	}
	for (int b = 0; b < 256; b++)
		if (c8[b])
			memset(key16_count + (b << 8), 0, 256 * sizeof(key16_count[0]));
}

/* ---- bf16 mode: counts of 16-bit keys from the raw bits -----------------
 * A bf16 is the top half of its float32, so its 16-bit key is the top half
 * of the float's key (raw_key): counted straight from the raw data, with the
 * top byte counted beside it. The top-byte counters are split four ways by
 * element index: values of one magnitude share a top byte, and one counter
 * would chain every increment on the one before (store-to-load latency).
 * The tables are per thread and all-zero between uses: the blocks touched
 * are cleared after the selection. Two tables: a pair's two sides. The
 * counters are 32-bit: 16-bit read-modify-writes took twice as long. */
#define K16_LANES 4
/* Up to this many values the keys are kept and sorted instead: walking and
 * clearing the tables costs more than sorting a few dozen keys. */
#define K16_TINY 64

struct dv_key16_table {
	uint32_t count[65536];                 /* per key */
	uint32_t top[K16_LANES][256];          /* per top byte, by index mod 4 */
	uint16_t tiny[K16_TINY];               /* tiny tensors: the keys */
	bool busy;
};

static _Thread_local struct dv_key16_table key16_tab[2];

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define KEY_HI_BYTE 0
#else
#define KEY_HI_BYTE 1
#endif

static inline uint16_t bf16_key(uint16_t h)
{
	return h ^ (uint16_t)((uint16_t)-(h >> 15) | 0x8000u);
}

int dv_qsel_init_bf16(dv_qsel *q, int64_t numel)
{
	memset(q, 0, sizeof(*q));
	if (numel < 0 || numel >= DV_QSEL_BF16_MAX)
		return -1;
	for (int i = 0; i < 2; i++) {
		if (!key16_tab[i].busy) {
			key16_tab[i].busy = true;
			q->k16 = &key16_tab[i];
			q->k16_tiny = numel <= K16_TINY;
			q->numel = numel;
			return 0;
		}
	}
	return -1;
}

void dv_qsel_add_bf16(dv_qsel *q, const uint16_t *raw, size_t n)
{
	struct dv_key16_table *t = q->k16;
	uint16_t keys[512];
	/* a key's top byte, read as a byte */
	const uint8_t *hi = (const uint8_t *)keys + KEY_HI_BYTE;

	if ((int64_t)n > q->numel - q->count)
		n = (size_t)(q->numel - q->count); /* more values than announced */
	if (q->k16_tiny) {
		for (size_t i = 0; i < n; i++)
			t->tiny[q->count + (int64_t)i] = bf16_key(raw[i]);
		q->count += (int64_t)n;
		return;
	}
	/* NaNs are counted too: their keys are apart (plan_k16 counts them) */
	for (size_t off = 0; off < n; off += 512) {
		size_t m = n - off < 512 ? n - off : 512, i;

		for (i = 0; i < m; i++)
			keys[i] = bf16_key(raw[off + i]);
		for (i = 0; i + K16_LANES <= m; i += K16_LANES) {
			for (int l = 0; l < K16_LANES; l++) {
				t->top[l][hi[2 * (i + l)]]++;
				t->count[keys[i + l]]++;
			}
		}
		for (; i < m; i++) {
			t->top[0][hi[2 * i]]++;
			t->count[keys[i]]++;
		}
	}
	q->count += (int64_t)n;
}

/* The keys of the wanted ranks: a walk over the top-byte counts, then inside
 * the 256-key block holding the rank (ranks mostly ascend: the walk goes on
 * from the previous rank, restarted where one is lower). */
static void select_k16(const struct dv_key16_table *t, const int64_t *rank, uint32_t *out, const uint32_t *c8)
{
	int64_t cum = 0;
	uint32_t b = 0;

	for (int j = 0; j < DV_QSEL_RANKS; j++) {
		int64_t r = rank[j], c2;
		uint32_t d = 0;
		const uint32_t *c;

		if (j > 0 && r < rank[j - 1]) {
			cum = 0;
			b = 0;
		}
		while (cum + c8[b] <= r)
			cum += c8[b++];
		c = t->count + (b << 8);
		c2 = cum;
		/* eight keys at a time, then one by one (the sum of a block is
		 * c8[b] > r - cum: the walk stops inside it) */
		for (; d + 8 <= 256; d += 8) {
			uint32_t s8 = c[d] + c[d + 1] + c[d + 2] + c[d + 3] + c[d + 4] + c[d + 5] + c[d + 6] + c[d + 7];

			if (c2 + s8 > r)
				break;
			c2 += s8;
		}
		while (c2 + c[d] <= r)
			c2 += c[d++];
		uint32_t key = (b << 24) | (d << 16);

		out[j] = key | ((key & 0x80000000u) ? 0 : 0xffffu);
	}
}

/* Clears the blocks touched (all of them when c8 is NULL) and gives the table back. */
static void key16_release(dv_qsel *q, const uint32_t *c8)
{
	struct dv_key16_table *t = q->k16;

	if (!t)
		return;
	if (!q->k16_tiny) /* a tiny tensor's keys never touch the tables */
		key16_clear(t, c8);
	t->busy = false;
	q->k16 = NULL;
	q->k16_tiny = false;
}

static void key16_clear(struct dv_key16_table *t, const uint32_t *c8)
{
	if (c8) {
		/* runs of touched blocks, one memset each (values of one sign
		 * and similar magnitudes fill neighbouring blocks) */
		for (int b = 0; b < 256;) {
			int e = b;

			while (e < 256 && c8[e])
				e++;
			if (e > b)
				memset(t->count + (b << 8), 0, (size_t)(e - b) * 256 * sizeof(t->count[0]));
			b = e + 1;
		}
	} else {
		memset(t->count, 0, sizeof(t->count));
	}
	memset(t->top, 0, sizeof(t->top));
}

/* plan_k16 for a tiny tensor: the same keys chosen, from the sorted keys. */
static void plan_k16_tiny(dv_qsel *q)
{
	struct dv_key16_table *t = q->k16;
	uint16_t *k = t->tiny;
	int64_t n = q->count;

	for (int64_t i = 0; i < n; i++)
		q->nan += k[i] < 0x7f || k[i] > 0xff80;
	if (q->nan == 0 && n > 0) {
		/* Each key's place in sorted order counted, not searched: the
		 * keys made distinct by their index (a stable order), the count
		 * branch-free over a padded row (the pads compare above all).
		 * Insertion sort's branches on random keys cost more. */
		int32_t w[K16_TINY];
		uint16_t sorted[K16_TINY];
		int64_t n8 = (n + 7) & ~(int64_t)7;

		for (int64_t i = 0; i < n; i++)
			w[i] = (int32_t)((uint32_t)k[i] << 6 | (uint32_t)i);
		for (int64_t i = n; i < n8; i++)
			w[i] = INT32_MAX;
		for (int64_t i = 0; i < n; i++) {
			int32_t pos = 0, v = w[i];

			for (int64_t j = 0; j < n8; j++)
				pos += w[j] < v;
			sorted[pos] = k[i];
		}
		memcpy(k, sorted, (size_t)n * sizeof(*k));
		for (int j = 0; j < DV_QSEL_RANKS; j++) {
			uint32_t key = (uint32_t)k[q->rank[j]] << 16;

			q->rank_key[j] = key | ((key & 0x80000000u) ? 0 : 0xffffu);
		}
	}
	for (int i = 0; i < DV_QSEL_RANKS; i++)
		q->rank_slot[i] = -1;
	key16_release(q, NULL);
}

static void plan_k16(dv_qsel *q)
{
	const struct dv_key16_table *t = q->k16;
	uint32_t c8[256];

	if (q->k16_tiny) {
		plan_k16_tiny(q);
		return;
	}
	for (int b = 0; b < 256; b++) {
		uint32_t c = 0;

		for (int l = 0; l < K16_LANES; l++)
			c += t->top[l][b];
		c8[b] = c;
	}
	/* NaN keys: below bf16_key(-inf) = 0x007f and above bf16_key(+inf) = 0xff80 */
	if (c8[0])
		for (int k = 0; k < 0x7f; k++)
			q->nan += t->count[k];
	if (c8[255])
		for (int k = 0xff81; k < 0x10000; k++)
			q->nan += t->count[k];
	if (q->nan == 0 && q->count > 0)
		select_k16(t, q->rank, q->rank_key, c8);
	for (int i = 0; i < DV_QSEL_RANKS; i++)
		q->rank_slot[i] = -1;
	key16_release(q, c8);
}

static int select_keys(uint32_t *keys, int64_t n, const int64_t *rank, uint32_t *out, bool high_only)
{
	static const int shifts_all[] = { 21, 10, 0 }, widths_all[] = { 11, 11, 10 };
	static const int shifts_high[] = { 21, 16 }, widths_high[] = { 11, 5 };
	const int *shifts = high_only ? shifts_high : shifts_all, *widths = high_only ? widths_high : widths_all;
	int nlevels = high_only ? 2 : 3;
	uint32_t *buf[2], cnt[2048];
	int map[2048];
	sel_group g[2][DV_QSEL_RANKS];
	int ng[2] = { 1, 0 }, cur = 0;

	buf[0] = keys;
	buf[1] = malloc((size_t)(n > 0 ? n : 1) * sizeof(uint32_t));
	if (!buf[1])
		return -1;
	g[0][0].k = keys;
	g[0][0].n = n;
	g[0][0].prefix = 0;
	g[0][0].nr = DV_QSEL_RANKS;
	/* the walks below need ascending ranks; the list is not quite (p95's
	 * ceil may pass p99's floor on tiny tensors): insertion-sort it */
	for (int j = 0; j < DV_QSEL_RANKS; j++) {
		int p = j;

		while (p > 0 && g[0][0].res[p - 1] > rank[j]) {
			g[0][0].idx[p] = g[0][0].idx[p - 1];
			g[0][0].res[p] = g[0][0].res[p - 1];
			p--;
		}
		g[0][0].idx[p] = j;
		g[0][0].res[p] = rank[j];
	}
	for (int level = 0; level < nlevels && ng[cur] > 0; level++) {
		uint32_t *dst = buf[!cur];
		int64_t off = 0;
		int nx = 0, shift = shifts[level];
		uint32_t mask = (1u << widths[level]) - 1;
		bool final = level == nlevels - 1;

		for (int gi = 0; gi < ng[cur]; gi++) {
			sel_group *G = &g[cur][gi];
			int64_t cum = 0;
			uint32_t b = 0;
			int base = nx;

			memset(cnt, 0, (mask + 1) * sizeof(cnt[0]));
			for (int64_t i = 0; i < G->n; i++)
				cnt[(G->k[i] >> shift) & mask]++;
			memset(map, -1, (mask + 1) * sizeof(map[0]));
			/* ranks ascend: one walk over the buckets */
			for (int j = 0; j < G->nr; j++) {
				while (cum + cnt[b] <= G->res[j])
					cum += cnt[b++];
				uint32_t prefix = G->prefix | (b << shift);

				if (final) {
					if (high_only)
						prefix |= (prefix & 0x80000000u) ? 0 : 0xffffu;
					out[G->idx[j]] = prefix;
					continue;
				}
				if (map[b] < 0) {
					sel_group *N = &g[!cur][nx];

					map[b] = nx++ - base;
					N->k = dst + off;
					N->n = cnt[b];
					N->prefix = prefix;
					N->nr = 0;
					off += cnt[b];
				}
				sel_group *N = &g[!cur][base + map[b]];
				N->idx[N->nr] = G->idx[j];
				N->res[N->nr++] = G->res[j] - cum;
			}
			if (final)
				continue;
			/* copy out the members of the chosen buckets (few: the first
			 * digit is wide, so the branch is mostly not taken) */
			uint32_t *wp[DV_QSEL_RANKS];

			for (int m = base; m < nx; m++)
				wp[m - base] = g[!cur][m].k;
			for (int64_t i = 0; i < G->n; i++) {
				uint32_t v = G->k[i];
				int m = map[(v >> shift) & mask];

				if (m >= 0)
					*wp[m]++ = v;
			}
		}
		ng[!cur] = nx;
		cur = !cur;
	}
	free(buf[1]);
	return 0;
}

int dv_qsel_plan(dv_qsel *q)
{
	int i, j;

	if (q->count == 0 && q->k16)
		plan_k16(q); /* gives the table back */
	if (q->nan > 0 || q->count == 0)
		return 0;
	/* torch: ranks = q * (n - 1) with q a float32 tensor, then
	 * below = (long)ranks, above = (long)ceil(ranks), weight = ranks - below */
	float last = (float)(q->count - 1);
	for (i = 0; i < DV_NQUANTILES; i++) {
		float r = (float)dv_quantile_q[i] * last;
		int64_t below = (int64_t)r, above = (int64_t)ceilf(r);

		if (above > q->count - 1)
			above = q->count - 1;
		q->rank[2 * i] = below;
		q->rank[2 * i + 1] = above;
		q->weight[i] = r - (float)below;
	}
	if (q->k16) {
		plan_k16(q); /* NaNs counted here: then every quantile is NaN */
		return 0;
	}
	if (q->keys) {
		if (q->lowbits == 0 && q->count < 65536)
			select_keys_16(q->keys, q->count, q->rank, q->rank_key);
		else if (q->lowbits == 0)
			select_keys_high(q->keys, q->count, q->rank, q->rank_key);
		else if (select_keys(q->keys, q->count, q->rank, q->rank_key, false) < 0)
			return -1;
		for (i = 0; i < DV_QSEL_RANKS; i++)
			q->rank_slot[i] = -1;
		return 0;
	}
	/* bucket of each rank by a cumulative scan (restarted where a rank is
	 * below the previous one) */
	int64_t cum = 0;
	int b = 0;
	for (i = 0; i < DV_QSEL_RANKS; i++) {
		if (i > 0 && q->rank[i] < q->rank[i - 1]) {
			cum = 0;
			b = 0;
		}
		while (b < NBUCKETS && cum + q->h1[b] <= q->rank[i])
			cum += q->h1[b++];
		if (b >= NBUCKETS)
			b = NBUCKETS - 1; /* cannot happen with consistent counts */
		q->rank_key[i] = (uint32_t)b << 16;
		q->rank_in_bucket[i] = q->rank[i] - cum;
		q->rank_slot[i] = -1;
	}
	if (q->lowbits == 0) {
		/* every value's low 16 bits are zero (bf16 data): a bucket holds one
		 * value, whose key's low bits are 0 for positives, 0xffff for negatives */
		for (i = 0; i < DV_QSEL_RANKS; i++)
			if (!(q->rank_key[i] & 0x80000000u))
				q->rank_key[i] |= 0xffffu;
		return 0;
	}
	q->slot_of_bucket = calloc(NBUCKETS, 1);
	if (!q->slot_of_bucket)
		return -1;
	for (i = 0; i < DV_QSEL_RANKS; i++) {
		uint32_t bucket = q->rank_key[i] >> 16;

		if (!q->slot_of_bucket[bucket]) {
			j = q->nslots++;
			q->h2[j] = calloc(NBUCKETS, sizeof(uint32_t));
			if (!q->h2[j])
				return -1;
			q->slot_of_bucket[bucket] = (uint8_t)(j + 1);
		}
		q->rank_slot[i] = q->slot_of_bucket[bucket] - 1;
	}
	return 1;
}

void dv_qsel_add2(dv_qsel *q, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (x[i] != x[i])
			continue;
		uint32_t k = float_key(x[i]);
		int s = q->slot_of_bucket[k >> 16];

		if (s)
			q->h2[s - 1][k & 0xffffu]++;
	}
}

static float rank_value(const dv_qsel *q, int i)
{
	if (q->rank_slot[i] < 0)
		return key_float(q->rank_key[i]);
	const uint32_t *h = q->h2[q->rank_slot[i]];
	int64_t cum = 0, want = q->rank_in_bucket[i];
	uint32_t lo = 0;

	while (lo < NBUCKETS - 1 && cum + h[lo] <= want)
		cum += h[lo++];
	return key_float((q->rank_key[i] & 0xffff0000u) | lo);
}

void dv_qsel_result(const dv_qsel *q, double out[DV_NQUANTILES])
{
	for (int i = 0; i < DV_NQUANTILES; i++) {
		if (q->nan > 0 || q->count == 0) {
			out[i] = NAN;
			continue;
		}
		float a = rank_value(q, 2 * i), b = rank_value(q, 2 * i + 1), w = q->weight[i];
		/* at::lerp for float: opmath float, two forms by |weight| < 0.5 */
		float r = torch_lerp(a, b, w);

		out[i] = r + 0.0f; /* -0 -> +0: the two zeros are one value here */
	}
}

int dv_quantiles_f32(const float *x, int64_t n, double out[DV_NQUANTILES])
{
	dv_qsel q;
	int need;

	if (n <= 0 || dv_qsel_init(&q, n) < 0)
		return -1;
	for (int64_t i = 0; i < n; i += DV_CHUNK)
		dv_qsel_add(&q, x + i, (size_t)(n - i < DV_CHUNK ? n - i : DV_CHUNK));
	need = dv_qsel_plan(&q);
	if (need < 0) {
		dv_qsel_free(&q);
		return -1;
	}
	if (need)
		for (int64_t i = 0; i < n; i += DV_CHUNK)
			dv_qsel_add2(&q, x + i, (size_t)(n - i < DV_CHUNK ? n - i : DV_CHUNK));
	dv_qsel_result(&q, out);
	dv_qsel_free(&q);
	return 0;
}

/* ---- dtypes of at most 16 bits: statistics from a histogram of raw bits --
 * A bf16 (or f16, int8, ...) tensor has at most 65536 distinct values, so one
 * counting pass gives every statistic exactly: sums over (value, count)
 * pairs, quantiles from the values in order. */

int dv_hist16_init(dv_hist16 *h, dv_dtype dt)
{
	size_t isz = dv_dtype_size(dt);

	memset(h, 0, sizeof(*h));
	if (isz != 1 && isz != 2)
		return -1;
	h->dtype = dt;
	h->nbuckets = isz == 1 ? 256 : 65536;
	h->h = calloc(h->nbuckets, sizeof(uint32_t));
	return h->h ? 0 : -1;
}

void dv_hist16_free(dv_hist16 *h)
{
	free(h->h);
	h->h = NULL;
}

void dv_hist16_add(dv_hist16 *h, const void *raw, size_t n)
{
	uint32_t *c = h->h;

	if (h->nbuckets == 256) {
		const uint8_t *p = raw;

		for (size_t i = 0; i < n; i++)
			c[p[i]]++;
	} else {
		const unsigned char *p = raw;

		for (size_t i = 0; i < n; i++) {
			uint16_t v;

			memcpy(&v, p + 2 * i, 2);
			c[v]++;
		}
	}
	h->n += (int64_t)n;
}

void dv_hist16_merge(dv_hist16 *h, const dv_hist16 *o)
{
	for (size_t i = 0; i < h->nbuckets; i++)
		h->h[i] += o->h[i];
	h->n += o->n;
}

typedef struct hist_entry {
	uint32_t key;
	float value;
	uint32_t count;
} hist_entry;

static int cmp_entry(const void *a, const void *b)
{
	uint32_t x = ((const hist_entry *)a)->key, y = ((const hist_entry *)b)->key;

	return x < y ? -1 : x > y;
}

int dv_hist16_stats(const dv_hist16 *h, bool want_quantiles, dv_stats *st)
{
	hist_entry *e;
	size_t ne = 0;
	int64_t nan = 0, inf = 0;
	double sum = 0, abs_sum = 0;

	memset(st, 0, sizeof(*st));
	dv_stats_set_count(st, DV_STATS_NUMEL, h->n);
	e = malloc(h->nbuckets * sizeof(*e));
	if (!e)
		return -1;
	for (size_t r = 0; r < h->nbuckets; r++) {
		if (!h->h[r])
			continue;
		uint16_t raw16 = (uint16_t)r;
		uint8_t raw8 = (uint8_t)r;
		float v;

		dv_metrics_to_f32(h->dtype, h->nbuckets == 256 ? (const void *)&raw8 : (const void *)&raw16, &v, 1);
		if (v != v) {
			nan += h->h[r];
			continue;
		}
		if (fabsf(v) == INFINITY)
			inf += h->h[r];
		sum += (double)h->h[r] * (double)v;
		abs_sum += (double)h->h[r] * fabs((double)v);
		e[ne].key = float_key(v);
		e[ne].value = v;
		e[ne].count = h->h[r];
		ne++;
	}
	dv_stats_set_count(st, DV_STATS_NAN, nan);
	dv_stats_set_count(st, DV_STATS_INF, inf);
	if (h->n == 0 || nan > 0) {
		st->mean = st->abs_mean = st->std = st->min = st->max = NAN;
		if (want_quantiles && h->n > 0) {
			st->has_percentiles = true;
			for (int i = 0; i < DV_NQUANTILES; i++)
				st->p[i] = NAN;
		}
		free(e);
		return 0;
	}
	qsort(e, ne, sizeof(*e), cmp_entry);
	/* +0 and -0 share a key: merge neighbours with equal keys */
	size_t m = 0;
	for (size_t i = 0; i < ne; i++) {
		if (m && e[m - 1].key == e[i].key) {
			e[m - 1].count += e[i].count;
			e[m - 1].value = 0.0f;
		} else {
			e[m++] = e[i];
		}
	}
	ne = m;
	st->mean = sum / (double)h->n;
	st->abs_mean = abs_sum / (double)h->n;
	st->min = e[0].value;
	st->max = e[ne - 1].value;
	if (inf > 0 || h->n < 2) {
		st->std = NAN;
	} else {
		double m2 = 0;

		for (size_t i = 0; i < ne; i++) {
			double d = (double)e[i].value - st->mean;

			m2 += (double)e[i].count * d * d;
		}
		st->std = sqrt(m2 / (double)(h->n - 1));
	}
	if (want_quantiles) {
		float last = (float)(h->n - 1);
		size_t i = 0;
		int64_t cum = 0; /* elements in e[0..i) */

		st->has_percentiles = true;
		for (int k = 0; k < DV_NQUANTILES; k++) {
			float r = (float)dv_quantile_q[k] * last;
			int64_t below = (int64_t)r, above = (int64_t)ceilf(r);
			float w = r - (float)below, a, b;

			if (above > h->n - 1)
				above = h->n - 1;
			/* ranks ascend with k: continue the walk */
			while (cum + e[i].count <= below)
				cum += e[i++].count;
			a = e[i].value;
			size_t j = i;
			int64_t cj = cum;
			while (cj + e[j].count <= above)
				cj += e[j++].count;
			b = e[j].value;
			float res = torch_lerp(a, b, w);
			st->p[k] = res + 0.0f;
		}
	}
	free(e);
	return 0;
}

double dv_hist16_sumsq(const dv_hist16 *h)
{
	double s = 0;

	for (size_t r = 0; r < h->nbuckets; r++) {
		if (!h->h[r])
			continue;
		uint16_t raw16 = (uint16_t)r;
		uint8_t raw8 = (uint8_t)r;
		float v;

		dv_metrics_to_f32(h->dtype, h->nbuckets == 256 ? (const void *)&raw8 : (const void *)&raw16, &v, 1);
		s += (double)h->h[r] * ((double)v * (double)v);
	}
	return s;
}
