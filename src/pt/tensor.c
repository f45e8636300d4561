/* Tensor extents and element reads: streamed, in logical row-major order. */
#include <stdlib.h>
#include <string.h>

#include "pt_internal.h"
#include "records.h"

/* Strided reads load a window of the record around the elements needed:
 * a small one when the elements are close together, the whole record when
 * it is not too big, element by element otherwise (bounded memory).
 * Tunable by tests, to reach every path with small files. */
size_t pt_window_small = (size_t)4 << 20;
uint64_t pt_window_whole = (uint64_t)64 << 20;
#define WINDOW_SMALL pt_window_small
#define WINDOW_WHOLE pt_window_whole
#define GATHER_CHUNK 4096
#define CONVERT_CHUNK 65536

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
			const uint8_t *w = pt_record_window(f, r, woff, wlen, err);
			if (!w)
				return -1;
			for (int64_t i = 0; i < n; i++)
				memcpy(dst + i * isz, w + ((uint64_t)offs[i] * isz - woff), isz);
		} else {
			/* Far apart in a big record: long runs of neighbours (rows
			 * of a slice) are read at once, lone elements through the
			 * page cache. Elements never straddle pages: sizes are
			 * powers of two up to 16. */
			for (int64_t i = 0, j; i < n; i = j) {
				for (j = i + 1; j < n && offs[j] == offs[j - 1] + 1; j++)
					;
				uint64_t off = (uint64_t)offs[i] * isz;
				if ((uint64_t)(j - i) * isz >= PT_PAGE_SIZE) {
					if (pt_record_read(f, r, off, dst + i * isz, (size_t)(j - i) * isz, err))
						return -1;
					continue;
				}
				for (int64_t k = i; k < j; k++, off += isz) {
					const uint8_t *pg = pt_record_page(f, r, off / PT_PAGE_SIZE, err);
					if (!pg)
						return -1;
					memcpy(dst + k * isz, pg + off % PT_PAGE_SIZE, isz);
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
		if (pt_record_read(f, r, (uint64_t)(t->storage_offset + start) * isz, out, (size_t)count * isz, err))
			return -1;
	} else if (gather(f, t, r, start, count, out, err)) {
		return -1;
	}
	if (f->big_endian)
		swap_bytes(t->dtype, out, count);
	return 0;
}

/* map_one: f's own window (w NULL) or w */
static int tensor_map(pt_file *f, const pt_tensor *t, pt_map_win *w, int64_t start, int64_t count, const void **out,
		      dv_error *err)
{
	size_t isz = dv_dtype_size(t->dtype);
	const uint8_t *p;
	pt_record *r;
	uint64_t off;
	int rc;

	if (f->big_endian || count <= 0 || !t->storage_key || !pt_tensor_is_contiguous(t))
		return 0;
	if (start < 0 || start > t->numel || count > t->numel - start)
		return dv_error_set(err, "%s: elements [%lld, %lld) outside a tensor of %lld", f->name,
				    (long long)start, (long long)(start + count), (long long)t->numel);
	if (pt_tensor_check(f, t, err))
		return -1;
	r = pt_find_record(f, t->storage_key);
	if (!r || r->kind == REC_NONE || (uint64_t)t->storage_nbytes != r->size)
		return 0; /* the read says why */
	off = (uint64_t)(t->storage_offset + start) * isz;
	rc = w ? pt_record_map_win(f, r, w, off, (size_t)count * isz, &p, err)
	       : pt_record_map(f, r, off, (size_t)count * isz, &p, err);
	if (rc == 1)
		*out = p;
	return rc;
}

int pt_tensor_map(pt_file *f, const pt_tensor *t, int64_t start, int64_t count, const void **out, dv_error *err)
{
	return tensor_map(f, t, NULL, start, count, out, err);
}

int pt_tensor_map_win(pt_file *f, const pt_tensor *t, pt_map_win *w, int64_t start, int64_t count,
		      const void **out, dv_error *err)
{
	return tensor_map(f, t, w, start, count, out, err);
}

bool pt_tensor_concurrent(pt_file *f, const pt_tensor *t)
{
	pt_record *r;

	if (!t->storage_key || !pt_tensor_is_contiguous(t))
		return false;
	r = pt_find_record(f, t->storage_key);
	return r && r->kind == REC_RAW && (uint64_t)t->storage_nbytes == r->size &&
	       (!r->crc_check || f->lim.no_crc_check);
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
