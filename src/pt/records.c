/* Storage records, the bottom of src/pt: raw reads of the file or buffer,
 * the table of records a file's pickle refers to, reads of one record
 * (sequential, windowed, through a page cache, or in place from a mapping
 * of the file) and the CRC-32 that checks
 * whole sequential reads. Nothing here knows about pickles or tensors. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dumpview/threadprio.h"
#include "pt_internal.h"
#include "records.h"

/* The smallest window loaded for strided reads. */
#define WINDOW_MIN ((size_t)1 << 20)
/* Tunable by tests, to reach every path with small files. */
size_t pt_page_cache_pages = 8192;

/* ---- raw bytes ---- */

int pt_raw_read(pt_file *f, uint64_t off, void *out, size_t len)
{
	if (off > f->buflen || len > f->buflen - off)
		return -1;
	if (f->buf) {
		memcpy(out, f->buf + off, len);
		return 0;
	}
	/* the header, the pickle and the first records' local headers lie in
	 * the bytes the scan's first read got */
	if (f->head && off + len <= f->headlen) {
		memcpy(out, f->head + off, len);
		return 0;
	}
	for (size_t got = 0; got < len;) {
		ssize_t n = pread(f->fd, (char *)out + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += n;
	}
	return 0;
}

/* ---- the record table ---- */

int pt_records_add(pt_file *f, const char *key, size_t itemsize)
{
	if (f->nrecs == f->cap_recs) {
		size_t cap = f->cap_recs ? f->cap_recs * 2 : 16;
		pt_record *r = realloc(f->recs, cap * sizeof(*r));
		if (!r)
			return -1;
		f->recs = r;
		f->cap_recs = cap;
	}
	f->recs[f->nrecs++] = (pt_record){ .key = key, .itemsize = itemsize, .index = -1 };
	return 0;
}

static int cmp_rec(const void *a, const void *b)
{
	return strcmp(((const pt_record *)a)->key, ((const pt_record *)b)->key);
}

/* Sorts the noted storages by key and drops duplicates. */
int pt_records_sort(pt_file *f, dv_error *err)
{
	size_t n = 0;

	if (!f->nrecs)
		return 0;
	qsort(f->recs, f->nrecs, sizeof(*f->recs), cmp_rec);
	for (size_t i = 0; i < f->nrecs; i++) {
		if (n && !strcmp(f->recs[n - 1].key, f->recs[i].key)) {
			if (f->recs[n - 1].itemsize != f->recs[i].itemsize && f->recs[i].itemsize != 1 &&
			    f->recs[n - 1].itemsize != 1)
				return dv_error_set(err, "%s: storage %s is used with two element sizes", f->name,
						    f->recs[i].key);
			continue;
		}
		f->recs[n++] = f->recs[i];
	}
	f->nrecs = n;
	return 0;
}

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

static void stream_close(pt_file *f)
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
			stream_close(f);
			return -1;
		}
		if (n == 0) {
			zip_err(f, r, "entry shorter than its size", err);
			stream_close(f);
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
		stream_close(f);
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

int pt_record_read(pt_file *f, pt_record *r, uint64_t off, void *out, size_t len, dv_error *err)
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
			stream_close(f);
			return zip_err(f, r, "entry longer than its size", err);
		}
		if (n < 0 && !(zip_error_code_zip(zip_file_get_error(f->zf)) == ZIP_ER_CRC && r->crc == 0)) {
			zip_err(f, r, zip_error_strerror(zip_file_get_error(f->zf)), err);
			stream_close(f);
			return -1;
		}
		f->zf_whole = false; /* checked */
	}
	return 0;
}

const uint8_t *pt_record_window(pt_file *f, pt_record *r, uint64_t off, size_t len, dv_error *err)
{
	size_t ri = r - f->recs;

	if (f->win_len && f->win_rec == ri && off >= f->win_off && off + len <= f->win_off + f->win_len)
		return f->win + (off - f->win_off);
	if (len < WINDOW_MIN)
		len = (size_t)(r->size - off < WINDOW_MIN ? r->size - off : WINDOW_MIN);
	if (len > f->win_cap) {
		uint8_t *w = realloc(f->win, len);
		if (!w) {
			dv_error_set(err, "%s: out of memory", f->name);
			return NULL;
		}
		f->win = w;
		f->win_cap = len;
	}
	f->win_len = 0;
	if (pt_record_read(f, r, off, f->win, len, err))
		return NULL;
	f->win_rec = ri;
	f->win_off = off;
	f->win_len = len;
	return f->win;
}

/* ---- a page cache for strided reads of records too big for one window ----
 * A transposed matrix read in logical order touches one element per stored
 * row; the pages touched by one output row are reused by the next ones. */

#define PC_PAGE PT_PAGE_SIZE
#define PC_PAGES 8192 /* 32 MiB allocated; pt_page_cache_pages of them used */
#define PC_HASH 16384

static size_t pc_slot_hash(uint64_t page)
{
	return (size_t)((page * 0x9e3779b97f4a7c15ull) >> (64 - 14));
}

static void pc_free(pt_file *f)
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

static int pc_alloc(pt_file *f)
{
	if (f->pc_data)
		return 0;
	f->pc_data = malloc((size_t)PC_PAGES * PC_PAGE);
	f->pc_page = calloc(PC_PAGES, sizeof(*f->pc_page));
	f->pc_ref = calloc(PC_PAGES, 1);
	f->pc_hash = malloc(PC_HASH * sizeof(*f->pc_hash));
	if (!f->pc_data || !f->pc_page || !f->pc_ref || !f->pc_hash) {
		pc_free(f); /* all or nothing: a later call tries again */
		return -1;
	}
	f->pc_rec = 0;
	return 0;
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

const uint8_t *pt_record_page(pt_file *f, pt_record *r, uint64_t page, dv_error *err)
{
	size_t ri = (size_t)(r - f->recs) + 1, h, mask = PC_HASH - 1, s;

	if (!f->pc_data && pc_alloc(f)) {
		dv_error_set(err, "%s: out of memory", f->name);
		return NULL;
	}
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
	if (pt_record_read(f, r, off, f->pc_data + s * PC_PAGE, (size_t)len, err)) {
		f->pc_rec = 0; /* start afresh next time */
		return NULL;
	}
	f->pc_page[s] = page + 1;
	f->pc_ref[s] = 1;
	f->pc_hash[h] = (int32_t)s;
	return f->pc_data + s * PC_PAGE;
}

/* ---- mapped reads ----
 * A stored record is read in place from a shared read-only mapping of the
 * file: no copy from the page cache. A file truncated while mapped raises
 * SIGBUS on access; touching mapped bytes is therefore done only inside
 * pt_map_guarded, where a process-wide handler turns the fault into an
 * error return (a jump back out of the guarded function). */

/* every open file's window together: beyond it, pread. SIZE_MAX: by the
 * CPUs this process may run on (map_budget) */
size_t pt_map_budget = SIZE_MAX;
static atomic_size_t map_bytes; /* mapped by every open file */

/* Peak RSS is the windows plus what each worker holds: on up to 4 CPUs
 * (few workers) 48 MiB of windows, else 32 MiB (16 workers with 64 MiB
 * of windows peaked at 135 MiB). Larger windows mean fewer munmaps, each
 * a TLB shootdown of the other cores running the scan. */
static size_t map_budget(void)
{
	static atomic_size_t auto_budget;
	size_t b = pt_map_budget, a;

	if (b != SIZE_MAX)
		return b;
	if (!(a = atomic_load(&auto_budget))) {
		int cpus = dv_usable_cpus();
		a = (size_t)(cpus > 0 && cpus <= 4 ? 48 : 32) << 20;
		atomic_store(&auto_budget, a);
	}
	return a;
}

static _Thread_local sigjmp_buf *guard_jmp;
static _Thread_local const void *guard_addr;
static struct sigaction bus_prev;
static pthread_mutex_t bus_mu = PTHREAD_MUTEX_INITIALIZER;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	sigjmp_buf *jb = guard_jmp;

	(void)uc;
	if (jb && si->si_code > 0) {
		guard_jmp = NULL;
		guard_addr = si->si_addr;
		siglongjmp(*jb, 1);
	}
	/* not a guarded access: whatever handled SIGBUS before takes it (a
	 * fault repeats when the instruction does; a sent signal is raised) */
	sigaction(SIGBUS, &bus_prev, NULL);
	if (si->si_code <= 0)
		raise(sig);
}

/* Whether on_sigbus handles SIGBUS, installing it if not: checked at every
 * new mapping, since a program (or a test framework) may have set its own
 * handler since. */
static bool bus_install(void)
{
	struct sigaction sa, cur;
	bool ok = true;

	pthread_mutex_lock(&bus_mu);
	if (sigaction(SIGBUS, NULL, &cur) || !(cur.sa_flags & SA_SIGINFO) || cur.sa_sigaction != on_sigbus) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_sigbus;
		/* SA_NODEFER: the jump out leaves SIGBUS unblocked without
		 * saving the signal mask on every guarded call */
		sa.sa_flags = SA_SIGINFO | SA_NODEFER;
		sigemptyset(&sa.sa_mask);
		ok = sigaction(SIGBUS, &sa, &cur) == 0;
		if (ok)
			bus_prev = cur;
	}
	pthread_mutex_unlock(&bus_mu);
	return ok;
}

int pt_map_guarded(void (*fn)(void *), void *arg)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 0))
		return -1;
	guard_addr = NULL;
	guard_jmp = &jb;
	fn(arg);
	guard_jmp = NULL;
	return 0;
}

bool pt_map_win_faulted(const pt_map_win *w)
{
	const uint8_t *a = guard_addr;

	return a && w->map && a >= w->map && a < w->map + w->len;
}

bool pt_map_faulted(const pt_file *f)
{
	const uint8_t *a = guard_addr;

	if (!a)
		return false;
	if (pt_map_win_faulted(&f->map))
		return true;
	return f->buf && a >= f->buf && a < f->buf + f->buflen;
}

void pt_map_win_drop(pt_map_win *w)
{
	if (w->map) {
		munmap(w->map, (size_t)w->len);
		atomic_fetch_sub(&map_bytes, (size_t)w->len);
	}
	w->map = NULL;
	w->off = w->len = 0;
}

/* [a, b) of the file into w: a window from the page holding a to at least
 * b, widened to `window` bytes (0: exactly to b) within [.., rec_end). */
static int map_into(pt_file *f, pt_map_win *w, uint64_t a, uint64_t b, uint64_t rec_end, size_t window,
		    const uint8_t **out)
{
	static long page;
	uint64_t start, end;
	size_t len = (size_t)(b - a);

	if (w->map && a >= w->off && b <= w->off + w->len) {
		*out = w->map + (a - w->off);
		return 1;
	}
	if (!page)
		page = sysconf(_SC_PAGESIZE) > 0 ? sysconf(_SC_PAGESIZE) : 4096;
	pt_map_win_drop(w);
	if (!bus_install())
		return 0; /* unguarded: read it instead */
	start = a - a % (uint64_t)page;
	end = b;
	if (window) {
		/* at least a window, never past the record */
		end = start + window > b ? start + window : b;
		/* ending where a read of len bytes ends: reads in steps of len then
		 * map the next window from about where they go on, not from a read
		 * back (a file's bytes mapped twice, and one window more a file) */
		if (len && end > b)
			end = a + (end - a) / len * len;
		if (end > rec_end)
			end = rec_end > b ? rec_end : b;
		/* a rest of the record under half a window goes with this one */
		if (rec_end - end < window / 2)
			end = rec_end;
	}
	if (atomic_fetch_add(&map_bytes, (size_t)(end - start)) + (end - start) > map_budget()) {
		atomic_fetch_sub(&map_bytes, (size_t)(end - start));
		return 0;
	}
#ifdef MAP_POPULATE
	/* the page tables filled by the mmap itself: one call a window */
	void *m = mmap(NULL, (size_t)(end - start), PROT_READ, MAP_SHARED | MAP_POPULATE, f->fd, (off_t)start);
#else
	void *m = mmap(NULL, (size_t)(end - start), PROT_READ, MAP_SHARED, f->fd, (off_t)start);
#endif
	if (m == MAP_FAILED) {
		atomic_fetch_sub(&map_bytes, (size_t)(end - start));
		return 0; /* read it instead */
	}
	/* the page tables filled in one call, not a fault per page (Linux:
	 * MAP_POPULATE; elsewhere MADV_POPULATE_READ where there is one; on a
	 * file cut short, or without either, the accesses fault them in) */
#if !defined(MAP_POPULATE) && defined(MADV_POPULATE_READ)
	(void)madvise(m, (size_t)(end - start), MADV_POPULATE_READ);
#endif
	w->map = m;
	w->off = start;
	w->len = end - start;
	*out = w->map + (a - start);
	return 1;
}

/* Whether r's bytes [off, off+len) may be mapped: 1 (*out set from the
 * file's buffer when it is held whole), 0 (read them), -1 err; else 2. */
static int map_check(pt_file *f, pt_record *r, uint64_t off, size_t len, const uint8_t **out, dv_error *err)
{
	if (r->kind != REC_RAW || (r->crc_check && !f->lim.no_crc_check))
		return 0;
	if (off > r->size || len > r->size - off)
		return zip_err(f, r, "read past the end of the record", err);
	if (f->buf) {
		*out = f->buf + r->offset + off;
		return 1;
	}
	return f->fd < 0 ? 0 : 2;
}

int pt_record_map(pt_file *f, pt_record *r, uint64_t off, size_t len, const uint8_t **out, dv_error *err)
{
	int rc = map_check(f, r, off, len, out, err);

	if (rc != 2)
		return rc;
	return map_into(f, &f->map, r->offset + off, r->offset + off + len, r->offset + r->size, PT_MAP_WINDOW, out);
}

int pt_record_map_win(pt_file *f, pt_record *r, pt_map_win *w, uint64_t off, size_t len, const uint8_t **out,
		      dv_error *err)
{
	int rc = map_check(f, r, off, len, out, err);

	if (rc != 2)
		return rc;
	return map_into(f, w, r->offset + off, r->offset + off + len, r->offset + r->size, 0, out);
}

void pt_records_free(pt_file *f)
{
	pt_map_win_drop(&f->map);
	stream_close(f);
	pc_free(f);
	free(f->recs);
	free(f->win);
	f->recs = NULL;
	f->win = NULL;
	f->nrecs = f->cap_recs = 0;
	f->win_cap = f->win_len = 0;
}
