/* Pass 2's per-element counting of one span, included twice by detail.c:
 * as count_span_scalar, and with DETAIL_VEC as count_span_avx2_t, which
 * takes blocks of eight element pairs in vector registers (the scalar loop
 * runs ~44 instructions an element pair): value bins by the same double
 * arithmetic, the non-zero |t-b| packed in order and only they given a
 * bucket and added to a heat sum, four heat cells in step. Both give the
 * same counts and heat sums bit for bit (test_detail_vector runs both).
 * Expects COUNT_SPAN (the function's name), DETAIL_VEC (0 or 1), and from
 * detail.c COUNT_ONE, detail_pass, detail_counts. */

#if DETAIL_VEC
#define SPAN_VBUF 256
/* |t-b| of a bfloat16 element pair outside the vector blocks */
#define SPAN_AD16(j) fabsf(bf16_value(th[j]) - bf16_value(bh[j]))

/* Eight element pairs from j: -1 when one of them is not ordinary (|t-b|
 * not finite or subnormal: then also b or t may be; the caller counts them
 * one by one), else their value bins counted into lane l's sub-tables
 * (float32), their non-zero |t-b| bit patterns packed in order into abuf,
 * the zeros counted; returns how many were packed. */
static inline __attribute__((always_inline)) int vec_block8(const void *bvv, const void *tvv, int64_t j, const bool raw16,
							    const __m256d lo4, const __m256d scale4,
							    uint32_t (*hb)[DV_VALUE_BINS],
							    uint32_t (*ht)[DV_VALUE_BINS], int32_t *abuf, int64_t *zeros)
{
	__m256 b, t;

	if (raw16) {
		__m128i hb16 = _mm_loadu_si128((const __m128i *)((const uint16_t *)bvv + j));
		__m128i ht16 = _mm_loadu_si128((const __m128i *)((const uint16_t *)tvv + j));

		b = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(hb16), 16));
		t = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(ht16), 16));
	} else {
		b = _mm256_loadu_ps((const float *)bvv + j);
		t = _mm256_loadu_ps((const float *)tvv + j);
	}
	__m256i ai = _mm256_and_si256(_mm256_castps_si256(_mm256_sub_ps(t, b)), _mm256_set1_epi32(0x7fffffff));
	__m256i zero = _mm256_cmpeq_epi32(ai, _mm256_setzero_si256());
	/* not finite (b or t not finite makes |t-b| so), or subnormal */
	__m256i odd = _mm256_or_si256(_mm256_cmpgt_epi32(ai, _mm256_set1_epi32(0x7f7fffff)),
				      _mm256_andnot_si256(zero, _mm256_cmpgt_epi32(_mm256_set1_epi32(0x00800000), ai)));

	if (!_mm256_testz_si256(odd, odd))
		return -1;

	if (!raw16) {
		int32_t kb[8] __attribute__((aligned(32))), kt[8] __attribute__((aligned(32)));
		__m128i bl = _mm256_cvttpd_epi32(
			_mm256_mul_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(b)), lo4), scale4));
		__m128i bh = _mm256_cvttpd_epi32(
			_mm256_mul_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(b, 1)), lo4), scale4));
		__m128i tl = _mm256_cvttpd_epi32(
			_mm256_mul_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(t)), lo4), scale4));
		__m128i th = _mm256_cvttpd_epi32(
			_mm256_mul_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(t, 1)), lo4), scale4));
		__m256i top = _mm256_set1_epi32(DV_VALUE_BINS - 1);

		_mm256_store_si256((__m256i *)kb, _mm256_min_epi32(_mm256_set_m128i(bh, bl), top));
		_mm256_store_si256((__m256i *)kt, _mm256_min_epi32(_mm256_set_m128i(th, tl), top));
		for (int l = 0; l < 8; l++) {
			hb[l][kb[l]]++;
			ht[l][kt[l]]++;
		}
	}
	/* the lanes where |t-b| is not zero, packed in order (zeros are only
	 * counted: they add nothing to a heat sum) */
	unsigned m = ~(unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(zero)) & 0xff;
	int pc = __builtin_popcount(m);
	__m256i perm = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)detail_pack_lut[m]));

	_mm256_storeu_si256((__m256i *)(abuf), _mm256_permutevar8x32_epi32(ai, perm));
	*zeros += 8 - pc;
	return pc;
}

/* The buckets of n packed non-zero normal |t-b| (bit patterns ai[]) into
 * k[], eight at a time (reading up to seven past n: the buffers have room).
 * The binade's decade dec0 = floor((E-127) log10 2) in integer arithmetic
 * (exact for every float32 exponent), plus one from the power of ten
 * 10^(dec0+1) on (pow[] holds its float32 ceiling per bucket): as the
 * scalar table (bucket_of) does with its threshold in the binade. */
static inline __attribute__((always_inline)) void vec_buckets(const int32_t *aiv, int32_t *kv, int n, const __m256 pow0,
							      const __m256 pow1, const __m256 pow2, const __m256i jofs)
{
	for (int q = 0; q < n; q += 8) {
		__m256i ai = _mm256_loadu_si256((const __m256i *)(aiv + q));
	__m256i dec0 = _mm256_srai_epi32(
			_mm256_mullo_epi32(_mm256_sub_epi32(_mm256_srli_epi32(ai, 23), _mm256_set1_epi32(127)),
					   _mm256_set1_epi32(78913)),
			18);
		__m256i jv = _mm256_add_epi32(dec0, jofs); /* the bucket of 10^(dec0+1) */
		__m256i jc = _mm256_min_epi32(_mm256_max_epi32(jv, _mm256_setzero_si256()), _mm256_set1_epi32(23));
		__m256 pw = _mm256_permutevar8x32_ps(pow0, jc);

		pw = _mm256_blendv_ps(pw, _mm256_permutevar8x32_ps(pow1, jc),
				      _mm256_castsi256_ps(_mm256_cmpgt_epi32(jc, _mm256_set1_epi32(7))));
		pw = _mm256_blendv_ps(pw, _mm256_permutevar8x32_ps(pow2, jc),
				      _mm256_castsi256_ps(_mm256_cmpgt_epi32(jc, _mm256_set1_epi32(15))));
		__m256 a = _mm256_castsi256_ps(ai);
		__m256i up = _mm256_castps_si256(_mm256_cmp_ps(a, pw, _CMP_GE_OQ));
		__m256i k = _mm256_sub_epi32(_mm256_sub_epi32(jv, _mm256_set1_epi32(1)), up);

		k = _mm256_min_epi32(_mm256_max_epi32(k, _mm256_setzero_si256()),
				     _mm256_set1_epi32(DV_ABSDIFF_BUCKETS - 1));

		_mm256_storeu_si256((__m256i *)(kv + q), k);
	}
}

/* A run's packed non-zero |t-b| and their buckets, counted and added to
 * its cell's sum (in order) by SPAN_FLUSH. */
typedef struct span_buf {
	int32_t a[SPAN_VBUF + 8];      /* bit patterns */
	int32_t k[SPAN_VBUF + 8];
	int n;
} span_buf;

static inline __attribute__((always_inline)) float span_f32(int32_t u)
{
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

/* the rest of a buffer from q on */
#define SPAN_FLUSH_REST(buf, hs, q)                                          \
	for (int r_ = (q); r_ < (buf).n; r_++) {                             \
		hk[r_ & 7][(buf).k[r_]]++;                                   \
		hs += (double)span_f32((buf).a[r_]);                         \
	}
#define SPAN_FLUSH(buf, hs)                                                     \
	do {                                                                    \
		vec_buckets((buf).a, (buf).k, (buf).n, pow0, pow1, pow2, jofs); \
		SPAN_FLUSH_REST(buf, hs, 0);                                    \
		(buf).n = 0;                                                    \
	} while (0)
/* four runs' buffers, their additions interleaved */
#define SPAN_FLUSH4(b0, h0, b1, h1, b2, h2, b3, h3)                                               \
	do {                                                                                      \
		int q_ = 0, m_ = (b0).n < (b1).n ? (b0).n : (b1).n;                               \
		m_ = m_ < (b2).n ? m_ : (b2).n;                                                   \
		m_ = m_ < (b3).n ? m_ : (b3).n;                                                   \
		vec_buckets((b0).a, (b0).k, (b0).n, pow0, pow1, pow2, jofs);                      \
		vec_buckets((b1).a, (b1).k, (b1).n, pow0, pow1, pow2, jofs);                      \
		vec_buckets((b2).a, (b2).k, (b2).n, pow0, pow1, pow2, jofs);                      \
		vec_buckets((b3).a, (b3).k, (b3).n, pow0, pow1, pow2, jofs);                      \
		for (; q_ + 2 <= m_; q_ += 2) {                                                   \
			hk[0][(b0).k[q_]]++;                                                      \
			h0 += (double)span_f32((b0).a[q_]);                                       \
			hk[1][(b1).k[q_]]++;                                                      \
			h1 += (double)span_f32((b1).a[q_]);                                       \
			hk[2][(b2).k[q_]]++;                                                      \
			h2 += (double)span_f32((b2).a[q_]);                                       \
			hk[3][(b3).k[q_]]++;                                                      \
			h3 += (double)span_f32((b3).a[q_]);                                       \
			hk[4][(b0).k[q_ + 1]]++;                                                  \
			h0 += (double)span_f32((b0).a[q_ + 1]);                                   \
			hk[5][(b1).k[q_ + 1]]++;                                                  \
			h1 += (double)span_f32((b1).a[q_ + 1]);                                   \
			hk[6][(b2).k[q_ + 1]]++;                                                  \
			h2 += (double)span_f32((b2).a[q_ + 1]);                                   \
			hk[7][(b3).k[q_ + 1]]++;                                                  \
			h3 += (double)span_f32((b3).a[q_ + 1]);                                   \
		}                                                                                 \
		SPAN_FLUSH_REST(b0, h0, q_);                                                      \
		SPAN_FLUSH_REST(b1, h1, q_);                                                      \
		SPAN_FLUSH_REST(b2, h2, q_);                                                      \
		SPAN_FLUSH_REST(b3, h3, q_);                                                      \
		(b0).n = (b1).n = (b2).n = (b3).n = 0;                                            \
	} while (0)
/* Elements j..j+7 into buf, or, when one is not ordinary, counted one by
 * one after what buf holds */
#define SPAN_BLOCK8(j, buf, hs, nf)                                                                    \
	do {                                                                                           \
		int pc_ = vec_block8(bvv, tvv, (j), raw16, lo4, scale4, hb, ht, (buf).a + (buf).n, &zeros);    \
		if (pc_ >= 0) {                                                                        \
			(buf).n += pc_;                                                                \
		} else {                                                                               \
			SPAN_FLUSH(buf, hs);                                                           \
			for (int l_ = 0; l_ < 8; l_++)                                                 \
				COUNT_ONE((j) + l_, l_, hs, nf);                                       \
		}                                                                                      \
	} while (0)
/* [j, end) in blocks of eight while they fit, SPAN_VBUF at a time */
#define SPAN_BLOCKS(j, end, buf, hs, nf)                                              \
	while ((j) + 8 <= (end)) {                                                    \
		int64_t g_ = (end) - (j) > SPAN_VBUF ? (j) + SPAN_VBUF : (end);        \
		for (; (j) + 8 <= g_; (j) += 8)                                       \
			SPAN_BLOCK8((j), buf, hs, nf);                                \
		SPAN_FLUSH(buf, hs);                                                  \
	}
#else
#define SPAN_AD16(j) ad[j]
#define SPAN_BLOCKS(j, end, buf, hs, nf) ((void)0)
#endif

/* Per element: the |t-b| bucket (24: zero, 25: not finite) and both value
 * bins, counted in interleaved sub-tables (repeated values would otherwise
 * wait on one counter), or, for bfloat16, the values' bit patterns;
 * heat-map cells a run of columns at a time, the cell's sum in a register,
 * its terms in scan order as before. bv, tv: float32, or the raw bfloat16
 * when raw16. */
static inline __attribute__((always_inline)) void COUNT_SPAN(const detail_pass *p, detail_counts *c,
							      const void *bvv, const void *tvv, int64_t cnt,
							      int64_t *prow, int64_t *pcol, int64_t *prowcell,
							      const bool raw16)
{
	const bucket_of *btab = p->btab;
	const double *p10 = p->p10;
	double lo = p->lo2, scale = p->scale;
	double *sums = p->sums;
	int64_t *counts = p->counts;
	const int32_t *colcell = p->colcell;
	const int64_t *cellend = p->cellend;
	int64_t R = p->R, C = p->C, row = *prow, col = *pcol, rowcell = *prowcell;
	int hr = p->hr, hc = p->hc, lo_exp = p->d->absdiff_lo_exp;
	const float *bv = bvv, *tv = tvv;
	const uint16_t *bh = bvv, *th = tvv;
	uint32_t hk[8][DV_ABSDIFF_BUCKETS + 2], hb[8][DV_VALUE_BINS], ht[8][DV_VALUE_BINS];

#if DETAIL_VEC
	const __m256 pow0 = _mm256_loadu_ps(p->pow), pow1 = _mm256_loadu_ps(p->pow + 8),
		     pow2 = _mm256_loadu_ps(p->pow + 16);
	const __m256i jofs = _mm256_set1_epi32(1 - lo_exp);
	const __m256d lo4 = _mm256_set1_pd(lo), scale4 = _mm256_set1_pd(scale);
	span_buf ba, bb, bc, bd;
	int64_t zeros = 0;

	/* vec_buckets reads a few entries past the packed ones */
	memset(&ba, 0, sizeof(ba));
	memset(&bb, 0, sizeof(bb));
	memset(&bc, 0, sizeof(bc));
	memset(&bd, 0, sizeof(bd));

	(void)bh;
	(void)th;
#else
	const float *ad = c->ad;

	if (raw16)
		absdiff_bf16(bh, th, c->ad, (size_t)cnt);
#endif
	if (raw16 && c->h16b)
		count_bf16_patterns(c->h16b, c->h16t, bh, th, (size_t)cnt);

	memset(hk, 0, sizeof(hk));
	if (!raw16) {
		memset(hb, 0, sizeof(hb));
		memset(ht, 0, sizeof(ht));
	}
	if (!sums) {
		double hs = 0;
		int64_t j = 0, nf = 0;

		SPAN_BLOCKS(j, cnt, ba, hs, nf);
		COUNT_RANGE(j, cnt, hs, nf);
		(void)hs;
		(void)nf;
	}
#if DETAIL_VEC
	/* Up to four runs of different cells at a time (the runs of a row,
	 * each in its own heat column), in step: each cell's sum takes its
	 * terms in scan order, and four sums' additions overlap. */
	for (int64_t i = 0; sums && i < cnt;) {
		int64_t st[4] = { 0 }, len[4] = { 0 }, cel[4] = { 0 }, ii = i, both;
		int nr = 0;

		while (nr < 4 && ii < cnt) {
			int h = colcell[col];
			int64_t cell = rowcell + h, run = cellend[h] - col < cnt - ii ? cellend[h] - col : cnt - ii;
			bool dup = false;

			for (int r = 0; r < nr; r++)
				dup |= cel[r] == cell;
			if (dup)
				break;
			st[nr] = ii;
			len[nr] = run;
			cel[nr] = cell;
			nr++;
			ii += run;
			col += run;
			if (col == C) {
				col = 0;
				row++;
				rowcell = row < R ? (row * hr / R) * hc : 0;
			}
		}
		both = len[0];
		for (int r = 1; r < nr; r++)
			both = len[r] < both ? len[r] : both;
		if (nr < 4)
			both = 0;

		double h0 = sums[cel[0]], h1 = nr > 1 ? sums[cel[1]] : 0, h2 = nr > 2 ? sums[cel[2]] : 0,
		       h3 = nr > 3 ? sums[cel[3]] : 0;
		int64_t f0 = 0, f1 = 0, f2 = 0, f3 = 0, j = 0;

		while (j + 8 <= both) {
			int64_t g = both - j > SPAN_VBUF ? j + SPAN_VBUF : both;

			for (; j + 8 <= g; j += 8) {
				SPAN_BLOCK8(st[0] + j, ba, h0, f0);
				SPAN_BLOCK8(st[1] + j, bb, h1, f1);
				SPAN_BLOCK8(st[2] + j, bc, h2, f2);
				SPAN_BLOCK8(st[3] + j, bd, h3, f3);
			}
			SPAN_FLUSH4(ba, h0, bb, h1, bc, h2, bd, h3);
		}
		/* each run's rest, one after another */
#define SPAN_REST(r, hs, nf)                                              \
	do {                                                              \
		int64_t jj_ = st[r] + j, end_ = st[r] + len[r];            \
		SPAN_BLOCKS(jj_, end_, ba, hs, nf);                       \
		COUNT_RANGE(jj_, end_, hs, nf);                           \
		sums[cel[r]] = hs;                                        \
		counts[cel[r]] += len[r] - nf;                            \
	} while (0)
		SPAN_REST(0, h0, f0);
		if (nr > 1)
			SPAN_REST(1, h1, f1);
		if (nr > 2)
			SPAN_REST(2, h2, f2);
		if (nr > 3)
			SPAN_REST(3, h3, f3);
#undef SPAN_REST
		i = ii;
	}
#else
	/* Runs of columns of one heat cell, two runs of different cells at a
	 * time, their elements interleaved: each cell's sum still takes its
	 * terms in scan order, and the two sums' additions overlap. */
	for (int64_t i = 0; sums && i < cnt;) {
		int h = colcell[col];
		int64_t cell = rowcell + h, run = cellend[h] - col < cnt - i ? cellend[h] - col : cnt - i;
		int64_t i2 = i + run, row2 = row, col2 = col + run, rowcell2 = rowcell, cell2 = -1, run2 = 0;

		if (col2 == C) {
			col2 = 0;
			row2++;
			rowcell2 = row2 < R ? (row2 * hr / R) * hc : 0;
		}
		if (i2 < cnt) {
			int h2 = colcell[col2];

			cell2 = rowcell2 + h2;
			run2 = cellend[h2] - col2 < cnt - i2 ? cellend[h2] - col2 : cnt - i2;
		}
		if (cell2 < 0 || cell2 == cell) {
			/* the last run of the span, or one heat column (the next row's run in the same cell) */
			double hs = sums[cell];
			int64_t j = i, end = i + run, nf = 0;

			COUNT_RANGE(j, end, hs, nf);
			sums[cell] = hs;
			counts[cell] += run - nf;
			i = i2;
			row = row2;
			col = col2;
			rowcell = rowcell2;
			continue;
		}
		double hs = sums[cell], hs2 = sums[cell2];
		int64_t nf = 0, nf2 = 0, both = run < run2 ? run : run2, j = 0;

		for (; j + 2 <= both; j += 2) {
			COUNT_ONE(i + j, 0, hs, nf);
			COUNT_ONE(i2 + j, 1, hs2, nf2);
			COUNT_ONE(i + j + 1, 2, hs, nf);
			COUNT_ONE(i2 + j + 1, 3, hs2, nf2);
		}
		for (int64_t k = j; k < run; k++)
			COUNT_ONE(i + k, 0, hs, nf);
		for (int64_t k = j; k < run2; k++)
			COUNT_ONE(i2 + k, 1, hs2, nf2);
		sums[cell] = hs;
		counts[cell] += run - nf;
		sums[cell2] = hs2;
		counts[cell2] += run2 - nf2;
		i = i2 + run2;
		row = row2;
		col = col2 + run2;
		rowcell = rowcell2;
		if (col == C) {
			col = 0;
			row++;
			rowcell = row < R ? (row * hr / R) * hc : 0;
		}
	}
#endif
	for (int s = 0; s < 8; s++) {
		for (int k = 0; k < DV_ABSDIFF_BUCKETS; k++)
			c->buckets[k] += hk[s][k];
		c->zero += hk[s][DV_ABSDIFF_BUCKETS];
		c->nonfinite += hk[s][DV_ABSDIFF_BUCKETS + 1];
		if (!raw16)
			for (int k = 0; k < DV_VALUE_BINS; k++) {
				c->base_bins[k] += hb[s][k];
				c->targ_bins[k] += ht[s][k];
			}
	}
#if DETAIL_VEC
	c->zero += zeros;
#endif
	if (raw16)
		c->n16 += cnt;
	*prow = row;
	*pcol = col;
	*prowcell = rowcell;
}

#undef SPAN_AD16
#undef SPAN_BLOCKS
#undef SPAN_FLUSH
#undef SPAN_FLUSH4
#undef SPAN_FLUSH_REST
#undef SPAN_VBUF
#ifdef SPAN_BLOCK8
#undef SPAN_BLOCK8
#endif
