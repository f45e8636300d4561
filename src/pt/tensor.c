/* Tensor extents and element reads: streamed, in logical row-major order. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pt_internal.h"

/* Strided reads load a window of the record around the elements needed:
 * a small one when the elements are close together, the whole record when
 * it is not too big, element by element otherwise (bounded memory). */
#define WINDOW_MIN ((size_t)1 << 20)
/* Tunable by tests, to reach every path with small files. */
size_t pt_window_small = (size_t)4 << 20;
uint64_t pt_window_whole = (uint64_t)64 << 20;
size_t pt_page_cache_pages = 8192;
#define WINDOW_SMALL pt_window_small
#define WINDOW_WHOLE pt_window_whole
#define GATHER_CHUNK 4096
#define CONVERT_CHUNK 65536

static int cmp_key(const void *key, const void *rec)
{
	return strcmp(key, ((const pt_record *)rec)->key);
}

pt_record *pt_find_record(pt_file *f, const char *key)
{
	if (!key || !f->nrecs)
		return NULL;
	return bsearch(key, f->recs, f->nrecs, sizeof(*f->recs), cmp_key);
}

bool pt_tensor_is_contiguous(const pt_tensor *t)
{
	int64_t expected = 1;

	if (t->numel == 0)
		return true;
	for (int d = t->ndim - 1; d >= 0; d--) {
		if (t->shape[d] == 1)
			continue;
		if (t->stride[d] != expected)
			return false;
		expected *= t->shape[d];
	}
	return true;
}

/* Bytes of storage the tensor spans from the record start; false on overflow. */
static bool tensor_extent(const pt_tensor *t, uint64_t *bytes)
{
	int64_t last = t->storage_offset, isz = (int64_t)dv_dtype_size(t->dtype), span;

	if (t->numel == 0) {
		*bytes = 0;
		return true;
	}
	for (int d = 0; d < t->ndim; d++) {
		if (t->shape[d] <= 0 || t->stride[d] < 0)
			return false;
		if (__builtin_mul_overflow(t->shape[d] - 1, t->stride[d], &span) ||
		    __builtin_add_overflow(last, span, &last))
			return false;
	}
	if (__builtin_add_overflow(last, 1, &last) || __builtin_mul_overflow(last, isz, &last))
		return false;
	*bytes = (uint64_t)last;
	return true;
}

int pt_tensor_check(pt_file *f, const pt_tensor *t, dv_error *err)
{
	uint64_t need;

	if (!dv_dtype_size(t->dtype))
		return dv_error_set(err, "%s: tensor of unknown dtype", f->name);
	if (t->ndim < 0 || t->ndim > PT_MAX_DIMS || t->storage_offset < 0 || t->numel < 0)
		return dv_error_set(err, "%s: tensor with invalid geometry", f->name);
	if (!tensor_extent(t, &need))
		return dv_error_set(err, "%s: storage data/%s: tensor extent overflows", f->name,
				    t->storage_key ? t->storage_key : "?");
	if (need == 0)
		return 0;
	if (!t->storage_key)
		return dv_error_set(err, "%s: tensor has no data (a meta tensor)", f->name);
	if (t->storage_nbytes < 0 || need > (uint64_t)t->storage_nbytes)
		return dv_error_set(err, "%s: storage data/%s holds %lld bytes, tensor needs %llu", f->name,
				    t->storage_key, (long long)t->storage_nbytes, (unsigned long long)need);
	return 0;
}

int pt_resolve_tensors(pt_file *f, dv_error *err)
{
	for (size_t i = 0; i < f->ntensors; i++) {
		pt_tensor *t = f->tensors[i];
		pt_record *r;
		if (!t->storage_key)
			continue;
		r = pt_find_record(f, t->storage_key);
		if (!r || r->kind == REC_NONE)
			return dv_error_set(err, "%s: storage data/%s is missing", f->name, t->storage_key);
		if (r->size > INT64_MAX)
			return dv_error_set(err, "%s: storage data/%s is too big", f->name, t->storage_key);
		t->storage_nbytes = (int64_t)r->size;
		if (pt_tensor_check(f, t, err))
			return -1;
	}
	return 0;
}

/* ---- CRC-32 (zip's polynomial), slicing by 8 ---- */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
#if defined(__x86_64__)
static void crc_detect(void);
#endif

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
#if defined(__x86_64__)
	crc_detect();
#endif
}

#if defined(__x86_64__)
#include <immintrin.h>

/* Carry-less multiplication folding (Intel's "Fast CRC Computation Using
 * PCLMULQDQ", as in Chromium's zlib): 64 bytes a step, then 16, then a
 * Barrett reduction. crc is the running, already inverted value; len is a
 * multiple of 16, at least 64. */
__attribute__((target("pclmul,sse4.1")))
static uint32_t crc32_clmul(uint32_t crc, const uint8_t *buf, size_t len)
{
	const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4);
	const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);
	const __m128i k5k0 = _mm_set_epi64x(0, 0x0163cd6124);
	const __m128i poly = _mm_set_epi64x(0x01f7011641, 0x01db710641);
	const __m128i mask32 = _mm_setr_epi32(~0, 0, ~0, 0);
	__m128i x0, x1, x2, x3, x4, x5, x6, x7, x8;

	x1 = _mm_loadu_si128((const __m128i *)(buf + 0x00));
	x2 = _mm_loadu_si128((const __m128i *)(buf + 0x10));
	x3 = _mm_loadu_si128((const __m128i *)(buf + 0x20));
	x4 = _mm_loadu_si128((const __m128i *)(buf + 0x30));
	x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)crc));
	x0 = k1k2;
	buf += 64;
	len -= 64;
	while (len >= 64) {
		x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
		x6 = _mm_clmulepi64_si128(x2, x0, 0x00);
		x7 = _mm_clmulepi64_si128(x3, x0, 0x00);
		x8 = _mm_clmulepi64_si128(x4, x0, 0x00);
		x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
		x2 = _mm_clmulepi64_si128(x2, x0, 0x11);
		x3 = _mm_clmulepi64_si128(x3, x0, 0x11);
		x4 = _mm_clmulepi64_si128(x4, x0, 0x11);
		x1 = _mm_xor_si128(_mm_xor_si128(x1, x5), _mm_loadu_si128((const __m128i *)(buf + 0x00)));
		x2 = _mm_xor_si128(_mm_xor_si128(x2, x6), _mm_loadu_si128((const __m128i *)(buf + 0x10)));
		x3 = _mm_xor_si128(_mm_xor_si128(x3, x7), _mm_loadu_si128((const __m128i *)(buf + 0x20)));
		x4 = _mm_xor_si128(_mm_xor_si128(x4, x8), _mm_loadu_si128((const __m128i *)(buf + 0x30)));
		buf += 64;
		len -= 64;
	}
	/* fold 512 bits into 128 */
	x0 = k3k4;
	x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
	x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
	x1 = _mm_xor_si128(_mm_xor_si128(x1, x2), x5);
	x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
	x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
	x1 = _mm_xor_si128(_mm_xor_si128(x1, x3), x5);
	x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
	x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
	x1 = _mm_xor_si128(_mm_xor_si128(x1, x4), x5);
	while (len >= 16) {
		x2 = _mm_loadu_si128((const __m128i *)buf);
		x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
		x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
		x1 = _mm_xor_si128(_mm_xor_si128(x1, x2), x5);
		buf += 16;
		len -= 16;
	}
	/* 128 bits to 64 */
	x2 = _mm_clmulepi64_si128(x1, x0, 0x10);
	x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), x2);
	x0 = k5k0;
	x2 = _mm_srli_si128(x1, 4);
	x1 = _mm_and_si128(x1, mask32);
	x1 = _mm_clmulepi64_si128(x1, x0, 0x00);
	x1 = _mm_xor_si128(x1, x2);
	/* Barrett reduction to 32 bits */
	x0 = poly;
	x2 = _mm_and_si128(x1, mask32);
	x2 = _mm_clmulepi64_si128(x2, x0, 0x10);
	x2 = _mm_and_si128(x2, mask32);
	x2 = _mm_clmulepi64_si128(x2, x0, 0x00);
	x1 = _mm_xor_si128(x1, x2);
	return (uint32_t)_mm_extract_epi32(x1, 1);
}

static bool have_clmul;

static void crc_detect(void)
{
	__builtin_cpu_init();
	have_clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
}
#endif

/* Reference-speed path, also the tail of the fast one. */
static uint32_t crc32_tables(uint32_t crc, const uint8_t *p, size_t len);

bool pt_crc32_simd = true;

uint32_t pt_crc32(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
#if defined(__x86_64__)
	if (have_clmul && pt_crc32_simd && len >= 64) {
		size_t n = len & ~(size_t)15;
		crc = crc32_clmul(crc, p, n);
		p += n;
		len -= n;
	}
#endif
	return ~crc32_tables(crc, p, len);
}

static uint32_t crc32_tables(uint32_t crc, const uint8_t *p, size_t len)
{
	for (; len && ((uintptr_t)p & 7); len--)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	for (; len >= 8; len -= 8, p += 8) {
		uint32_t lo, hi;
		memcpy(&lo, p, 4);
		memcpy(&hi, p + 4, 4);
		lo ^= crc;
		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^ crc_table[5][(lo >> 16) & 0xff] ^
		      crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		      crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
	}
	for (; len; len--)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

/* ---- record reads ---- */

void pt_stream_close(pt_file *f)
{
	if (f->zf) {
		zip_fclose(f->zf);
		f->zf = NULL;
	}
}

static int zip_err(pt_file *f, const pt_record *r, const char *why, dv_error *err)
{
	return dv_error_set(err, "%s: storage data/%s: %s", f->name, r->key, why);
}

/* Reads exactly len bytes from the open entry. */
static int zf_read(pt_file *f, const pt_record *r, void *out, size_t len, dv_error *err)
{
	for (size_t got = 0; got < len;) {
		zip_int64_t n = zip_fread(f->zf, (char *)out + got, len - got);
		if (n < 0) {
			zip_err(f, r, zip_error_strerror(zip_file_get_error(f->zf)), err);
			pt_stream_close(f);
			return -1;
		}
		if (n == 0) {
			zip_err(f, r, "entry shorter than its size", err);
			pt_stream_close(f);
			return -1;
		}
		got += n;
		f->zf_pos += n;
	}
	return 0;
}

/* Positions the open entry of record ri at off: no-op for sequential reads,
 * a seek for stored entries, reopen + skip for deflated ones. */
static int zf_seek(pt_file *f, size_t ri, uint64_t off, dv_error *err)
{
	pt_record *r = &f->recs[ri];
	uint8_t skip[16384];

	if (f->zf && f->zf_rec == ri && f->zf_pos == off)
		return 0;
	/* Back to the start: reopen rather than seek, so that a whole
	 * sequential read still gets its CRC checked. */
	if (f->zf && f->zf_rec == ri && off > 0 && !r->deflated && !zip_fseek(f->zf, (zip_int64_t)off, SEEK_SET)) {
		f->zf_pos = off;
		f->zf_whole = false;
		return 0;
	}
	if (!(f->zf && f->zf_rec == ri && off > f->zf_pos)) {
		pt_stream_close(f);
		f->zf = zip_fopen_index(f->zip, r->index, 0);
		if (!f->zf)
			return zip_err(f, r, zip_error_strerror(zip_get_error(f->zip)), err);
		f->zf_rec = ri;
		f->zf_pos = 0;
		f->zf_whole = true;
		if (off == 0)
			return 0;
		if (!r->deflated && !zip_fseek(f->zf, (zip_int64_t)off, SEEK_SET)) {
			f->zf_pos = off;
			f->zf_whole = false;
			return 0;
		}
	}
	while (f->zf_pos < off) {
		uint64_t n = off - f->zf_pos;
		if (zf_read(f, r, skip, n < sizeof(skip) ? (size_t)n : sizeof(skip), err))
			return -1;
	}
	return 0;
}

static int rec_read(pt_file *f, pt_record *r, uint64_t off, void *out, size_t len, dv_error *err)
{
	if (off > r->size || len > r->size - off)
		return zip_err(f, r, "read past the end of the record", err);
	if (len == 0)
		return 0;
	if (r->kind == REC_RAW) {
		size_t ri = r - f->recs;
		if (pt_raw_read(f, r->offset + off, out, len))
			return zip_err(f, r, errno ? strerror(errno) : "read error", err);
		if (!r->crc_check || f->lim.no_crc_check)
			return 0;
		/* The CRC of a whole sequential read, as libzip would check it. */
		if (off == 0) {
			f->crc_rec = ri + 1;
			f->crc_pos = 0;
			f->crc_val = 0;
		}
		if (f->crc_rec != ri + 1 || f->crc_pos != off) {
			f->crc_rec = 0;
			return 0;
		}
		f->crc_val = pt_crc32(f->crc_val, out, len);
		f->crc_pos += len;
		if (f->crc_pos == r->size) {
			f->crc_rec = 0;
			if (r->crc != 0 && f->crc_val != r->crc)
				return zip_err(f, r, "CRC error", err);
		}
		return 0;
	}
	if (r->kind != REC_ZIP)
		return dv_error_set(err, "%s: tensor has no data (a bare pickle)", f->name);
	size_t ri = r - f->recs;
	if (zf_seek(f, ri, off, err) || zf_read(f, r, out, len, err))
		return -1;
	/* At the end of a whole sequential read: libzip checks the CRC when a
	 * read hits the end (a zero CRC means torch did not compute one). */
	if (f->zf_whole && f->zf_pos == r->size) {
		uint8_t probe;
		zip_int64_t n = zip_fread(f->zf, &probe, 1);
		if (n > 0) {
			pt_stream_close(f);
			return zip_err(f, r, "entry longer than its size", err);
		}
		if (n < 0 && !(zip_error_code_zip(zip_file_get_error(f->zf)) == ZIP_ER_CRC && r->crc == 0)) {
			zip_err(f, r, zip_error_strerror(zip_file_get_error(f->zf)), err);
			pt_stream_close(f);
			return -1;
		}
		f->zf_whole = false; /* checked */
	}
	return 0;
}

/* Makes f->win hold record bytes [off, off+len). */
static int window_load(pt_file *f, pt_record *r, uint64_t off, size_t len, dv_error *err)
{
	size_t ri = r - f->recs;

	if (f->win_len && f->win_rec == ri && off >= f->win_off && off + len <= f->win_off + f->win_len)
		return 0;
	if (len < WINDOW_MIN)
		len = (size_t)(r->size - off < WINDOW_MIN ? r->size - off : WINDOW_MIN);
	if (len > f->win_cap) {
		uint8_t *w = realloc(f->win, len);
		if (!w)
			return dv_error_set(err, "%s: out of memory", f->name);
		f->win = w;
		f->win_cap = len;
	}
	f->win_len = 0;
	if (rec_read(f, r, off, f->win, len, err))
		return -1;
	f->win_rec = ri;
	f->win_off = off;
	f->win_len = len;
	return 0;
}

/* ---- a page cache for strided reads of records too big for one window ----
 * A transposed matrix read in logical order touches one element per stored
 * row; the pages touched by one output row are reused by the next ones. */

#define PC_PAGE 4096
#define PC_PAGES 8192 /* 32 MiB allocated; pt_page_cache_pages of them used */
#define PC_HASH 16384

static size_t pc_slot_hash(uint64_t page)
{
	return (size_t)((page * 0x9e3779b97f4a7c15ull) >> (64 - 14));
}

static int pc_alloc(pt_file *f)
{
	if (f->pc_data)
		return 0;
	f->pc_data = malloc((size_t)PC_PAGES * PC_PAGE);
	f->pc_page = calloc(PC_PAGES, sizeof(*f->pc_page));
	f->pc_ref = calloc(PC_PAGES, 1);
	f->pc_hash = malloc(PC_HASH * sizeof(*f->pc_hash));
	if (!f->pc_data || !f->pc_page || !f->pc_ref || !f->pc_hash)
		return -1;
	f->pc_rec = 0;
	return 0;
}

void pt_page_cache_free(pt_file *f)
{
	free(f->pc_data);
	free(f->pc_page);
	free(f->pc_ref);
	free(f->pc_hash);
	f->pc_data = NULL;
	f->pc_page = NULL;
	f->pc_ref = NULL;
	f->pc_hash = NULL;
}

static void pc_remove(pt_file *f, uint64_t page)
{
	size_t i = pc_slot_hash(page), mask = PC_HASH - 1;

	while (f->pc_hash[i] >= 0 && f->pc_page[f->pc_hash[i]] != page + 1)
		i = (i + 1) & mask;
	if (f->pc_hash[i] < 0)
		return;
	/* backward-shift deletion keeps every probe chain unbroken */
	for (size_t j = i;;) {
		j = (j + 1) & mask;
		if (f->pc_hash[j] < 0)
			break;
		size_t k = pc_slot_hash(f->pc_page[f->pc_hash[j]] - 1);
		if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
			f->pc_hash[i] = f->pc_hash[j];
			i = j;
		}
	}
	f->pc_hash[i] = -1;
}

static const uint8_t *pc_get(pt_file *f, pt_record *r, uint64_t page, dv_error *err)
{
	size_t ri = (size_t)(r - f->recs) + 1, h, mask = PC_HASH - 1, s;

	if (f->pc_rec != ri) {
		memset(f->pc_page, 0, PC_PAGES * sizeof(*f->pc_page));
		memset(f->pc_ref, 0, PC_PAGES);
		memset(f->pc_hash, 0xff, PC_HASH * sizeof(*f->pc_hash));
		f->pc_rec = ri;
		f->pc_used = f->pc_hand = 0;
	}
	for (h = pc_slot_hash(page); f->pc_hash[h] >= 0; h = (h + 1) & mask)
		if (f->pc_page[f->pc_hash[h]] == page + 1) {
			f->pc_ref[f->pc_hash[h]] = 1;
			return f->pc_data + (size_t)f->pc_hash[h] * PC_PAGE;
		}
	size_t pages = pt_page_cache_pages >= 1 && pt_page_cache_pages <= PC_PAGES ? pt_page_cache_pages : PC_PAGES;
	if (f->pc_used < pages) {
		s = f->pc_used++;
	} else {
		f->pc_hand %= pages;
		while (f->pc_ref[f->pc_hand]) {
			f->pc_ref[f->pc_hand] = 0;
			f->pc_hand = (f->pc_hand + 1) % pages;
		}
		s = f->pc_hand;
		f->pc_hand = (f->pc_hand + 1) % pages;
		pc_remove(f, f->pc_page[s] - 1);
		f->pc_page[s] = 0;
		for (h = pc_slot_hash(page); f->pc_hash[h] >= 0; h = (h + 1) & mask)
			;
	}
	uint64_t off = page * PC_PAGE, len = r->size - off < PC_PAGE ? r->size - off : PC_PAGE;
	if (rec_read(f, r, off, f->pc_data + s * PC_PAGE, (size_t)len, err)) {
		f->pc_rec = 0; /* start afresh next time */
		return NULL;
	}
	f->pc_page[s] = page + 1;
	f->pc_ref[s] = 1;
	f->pc_hash[h] = (int32_t)s;
	return f->pc_data + s * PC_PAGE;
}

/* Strided read: logical elements [start, start+count) gathered from r. */
static int gather(pt_file *f, const pt_tensor *t, pt_record *r, int64_t start, int64_t count, uint8_t *out,
		  dv_error *err)
{
	size_t isz = dv_dtype_size(t->dtype);
	int64_t idx[PT_MAX_DIMS], offs[GATHER_CHUNK];
	int64_t rem = start, cur = t->storage_offset;

	for (int d = t->ndim - 1; d >= 0; d--) {
		idx[d] = rem % t->shape[d];
		rem /= t->shape[d];
		cur += idx[d] * t->stride[d];
	}
	for (int64_t done = 0; done < count;) {
		int64_t n = count - done < GATHER_CHUNK ? count - done : GATHER_CHUNK;
		int64_t lo = INT64_MAX, hi = -1;
		for (int64_t i = 0; i < n; i++) {
			offs[i] = cur;
			if (cur < lo)
				lo = cur;
			if (cur > hi)
				hi = cur;
			/* advance the odometer */
			for (int d = t->ndim - 1; d >= 0; d--) {
				if (++idx[d] < t->shape[d]) {
					cur += t->stride[d];
					break;
				}
				idx[d] = 0;
				cur -= (t->shape[d] - 1) * t->stride[d];
			}
		}
		uint64_t span = (uint64_t)(hi - lo + 1) * isz;
		uint8_t *dst = out + done * isz;
		/* a compressed record cannot seek back: it is inflated once, whole
		 * (open refuses those over PT_COMPRESSED_MAX) */
		if (r->deflated || span <= WINDOW_SMALL || r->size <= WINDOW_WHOLE) {
			bool whole = r->deflated || span > WINDOW_SMALL;
			uint64_t woff = whole ? 0 : (uint64_t)lo * isz;
			size_t wlen = whole ? (size_t)r->size : (size_t)span;
			if (window_load(f, r, woff, wlen, err))
				return -1;
			for (int64_t i = 0; i < n; i++)
				memcpy(dst + i * isz, f->win + ((uint64_t)offs[i] * isz - f->win_off), isz);
		} else {
			/* Far apart in a big record: long runs of neighbours (rows
			 * of a slice) are read at once, lone elements through the
			 * page cache. Elements never straddle pages: sizes are
			 * powers of two up to 16. */
			if (pc_alloc(f))
				return dv_error_set(err, "%s: out of memory", f->name);
			for (int64_t i = 0, j; i < n; i = j) {
				for (j = i + 1; j < n && offs[j] == offs[j - 1] + 1; j++)
					;
				uint64_t off = (uint64_t)offs[i] * isz;
				if ((uint64_t)(j - i) * isz >= PC_PAGE) {
					if (rec_read(f, r, off, dst + i * isz, (size_t)(j - i) * isz, err))
						return -1;
					continue;
				}
				for (int64_t k = i; k < j; k++, off += isz) {
					const uint8_t *pg = pc_get(f, r, off / PC_PAGE, err);
					if (!pg)
						return -1;
					memcpy(dst + k * isz, pg + off % PC_PAGE, isz);
				}
			}
		}
		done += n;
	}
	return 0;
}

static void swap_bytes(dv_dtype dt, uint8_t *p, int64_t count)
{
	size_t isz = dv_dtype_size(dt), part = dv_dtype_is_complex(dt) ? isz / 2 : isz;
	int64_t parts = count * (int64_t)(isz / part);

	if (part < 2)
		return;
	for (int64_t i = 0; i < parts; i++, p += part)
		for (size_t a = 0, b = part - 1; a < b; a++, b--) {
			uint8_t tmp = p[a];
			p[a] = p[b];
			p[b] = tmp;
		}
}

int pt_tensor_read(pt_file *f, const pt_tensor *t, int64_t start, int64_t count, void *out, dv_error *err)
{
	size_t isz = dv_dtype_size(t->dtype);
	pt_record *r;

	if (start < 0 || count < 0 || start > t->numel || count > t->numel - start)
		return dv_error_set(err, "%s: elements [%lld, %lld) outside a tensor of %lld", f->name,
				    (long long)start, (long long)(start + count), (long long)t->numel);
	if (pt_tensor_check(f, t, err))
		return -1;
	if (count == 0)
		return 0;
	r = pt_find_record(f, t->storage_key);
	if (!r || r->kind == REC_NONE)
		return dv_error_set(err, "%s: tensor has no data%s", f->name,
				    r ? " (a bare pickle)" : "");
	if ((uint64_t)t->storage_nbytes != r->size)
		return dv_error_set(err, "%s: tensor does not belong to this file", f->name);
	if (pt_tensor_is_contiguous(t)) {
		if (rec_read(f, r, (uint64_t)(t->storage_offset + start) * isz, out, (size_t)count * isz, err))
			return -1;
	} else if (gather(f, t, r, start, count, out, err)) {
		return -1;
	}
	if (f->big_endian)
		swap_bytes(t->dtype, out, count);
	return 0;
}

static int scratch_for(pt_file *f, size_t len, dv_error *err)
{
	if (len <= f->scratch_cap)
		return 0;
	uint8_t *s = realloc(f->scratch, len);
	if (!s)
		return dv_error_set(err, "%s: out of memory", f->name);
	f->scratch = s;
	f->scratch_cap = len;
	return 0;
}

static int read_converted(pt_file *f, const pt_tensor *t, int64_t start, int64_t count, void *out, bool f64,
			  dv_error *err)
{
	size_t isz = dv_dtype_size(t->dtype);

	if (!dv_dtype_is_real(t->dtype))
		return dv_error_set(err, "%s: a %s tensor has no real values to convert", f->name,
				    dv_dtype_name(t->dtype));
	if (start < 0 || count < 0 || start > t->numel || count > t->numel - start)
		return dv_error_set(err, "%s: elements [%lld, %lld) outside a tensor of %lld", f->name,
				    (long long)start, (long long)(start + count), (long long)t->numel);
	if (scratch_for(f, CONVERT_CHUNK * isz, err))
		return -1;
	for (int64_t done = 0; done < count;) {
		int64_t n = count - done < CONVERT_CHUNK ? count - done : CONVERT_CHUNK;
		if (pt_tensor_read(f, t, start + done, n, f->scratch, err))
			return -1;
		if (f64)
			dv_convert_to_f64(t->dtype, f->scratch, (double *)out + done, (size_t)n);
		else
			dv_convert_to_f32(t->dtype, f->scratch, (float *)out + done, (size_t)n);
		done += n;
	}
	return 0;
}

int pt_tensor_read_f32(pt_file *f, const pt_tensor *t, int64_t start, int64_t count, float *out, dv_error *err)
{
	return read_converted(f, t, start, count, out, false, err);
}

int pt_tensor_read_f64(pt_file *f, const pt_tensor *t, int64_t start, int64_t count, double *out, dv_error *err)
{
	return read_converted(f, t, start, count, out, true, err);
}
