/* Containers: format detection, the zip format (libzip) and the legacy format. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pickle.h"
#include "pt_internal.h"
#include "records.h"

static const uint8_t legacy_magic[] = { 0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
					0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e };

/* Takes over what one pickle found (and releases it): its tensors always,
 * since every tensor built is resolved against the records, its storages
 * when they are the file's (a legacy file's other pickles name none of its
 * storages). */
static int take_found(pt_file *f, pt_unpickled *u, bool storages, dv_error *err)
{
	int rc = 0;

	for (size_t i = 0; storages && !rc && i < u->nstorages; i++)
		if (pt_records_add(f, u->storages[i].key, u->storages[i].itemsize))
			rc = dv_error_set(err, "%s: out of memory", f->name);
	if (!rc && u->ntensors) {
		if (f->ntensors + u->ntensors > f->cap_tensors) {
			size_t cap = f->ntensors + u->ntensors;
			pt_tensor **ts = realloc(f->tensors, cap * sizeof(*ts));
			if (!ts) {
				rc = dv_error_set(err, "%s: out of memory", f->name);
			} else {
				f->tensors = ts;
				f->cap_tensors = cap;
			}
		}
		if (!rc) {
			memcpy(f->tensors + f->ntensors, u->tensors, u->ntensors * sizeof(*u->tensors));
			f->ntensors += u->ntensors;
		}
	}
	pt_unpickled_free(u);
	return rc;
}

void pt_close(pt_file *f)
{
	if (!f)
		return;
	pt_records_free(f);
	if (f->zip)
		zip_discard(f->zip);
	if (!f->zents_in_arena)
		free(f->zents); /* zsorted and znames too: one block */
	pt_reuse_buf_give(f->own_buf, f->own_cap);
	pt_reuse_buf_give(f->head, f->head_cap);
	if (f->fd >= 0)
		close(f->fd);
	pt_arena_free(f);
	free(f->tensors);
	free(f->scratch);
	free(f->name);
	free(f);
}

/* What a file that is not a checkpoint looks like, for the message. */
static const char *not_checkpoint_kind(const uint8_t *head, size_t n)
{
	bool text = true;

	if (n >= 23 && !memcmp(head, "version https://git-lfs", 23))
		return "a Git LFS pointer; fetch it with git lfs pull";
	if (n >= 2 && head[0] == 0x80 && head[1] <= 5)
		return "a plain pickle without torch.save's container";
	for (size_t i = 0; i < n; i++)
		if (head[i] < 0x09 || (head[i] > 0x0d && head[i] < 0x20) || head[i] == 0x7f)
			text = false;
	return text ? "a text file" : "unknown format";
}

/* ---- zip ---- */

static int zip_fail(pt_file *f, const char *what, zip_error_t *ze, dv_error *err)
{
	return dv_error_set(err, "%s: %s: %s", f->name, what, zip_error_strerror(ze));
}

static int pt_zip_read_whole(pt_file *f, zip_int64_t index, const char *what, uint8_t **out, size_t *len,
			     size_t limit, dv_error *err)
{
	zip_stat_t st;
	zip_file_t *zf;
	uint8_t *buf, probe;
	zip_int64_t n;
	size_t got = 0;

	*out = NULL;
	if (zip_stat_index(f->zip, index, 0, &st) || !(st.valid & ZIP_STAT_SIZE))
		return dv_error_set(err, "%s: %s: cannot stat zip entry", f->name, what);
	if (st.size > limit)
		return dv_error_set(err, "%s: %s is %llu bytes, more than the limit %zu", f->name, what,
				    (unsigned long long)st.size, limit);
	buf = malloc(st.size + 1);
	if (!buf)
		return dv_error_set(err, "%s: %s: out of memory", f->name, what);
	zf = zip_fopen_index(f->zip, index, 0);
	if (!zf) {
		free(buf);
		return zip_fail(f, what, zip_get_error(f->zip), err);
	}
	/* Read exactly the entry size, then probe the end: that is when
	 * libzip checks the CRC (a zero CRC means torch did not compute one). */
	while (got < st.size) {
		n = zip_fread(zf, buf + got, st.size - got);
		if (n <= 0)
			break;
		got += n;
	}
	if (got < st.size) {
		dv_error_set(err, "%s: %s: %s", f->name, what,
			     n < 0 ? zip_error_strerror(zip_file_get_error(zf)) : "entry shorter than its size");
		goto fail;
	}
	n = zip_fread(zf, &probe, 1);
	if (n < 0 && !(zip_error_code_zip(zip_file_get_error(zf)) == ZIP_ER_CRC && (st.valid & ZIP_STAT_CRC) &&
		       st.crc == 0)) {
		dv_error_set(err, "%s: %s: %s", f->name, what, zip_error_strerror(zip_file_get_error(zf)));
		goto fail;
	}
	zip_fclose(zf);
	buf[st.size] = '\0';
	*out = buf;
	*len = st.size;
	return 0;
fail:
	zip_fclose(zf);
	free(buf);
	return -1;
}

static uint64_t rd16(const uint8_t *p)
{
	return p[0] | (uint64_t)p[1] << 8;
}

static uint64_t rd32(const uint8_t *p)
{
	return rd16(p) | rd16(p + 2) << 16;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | rd32(p + 4) << 32;
}

/* The fast path: stored entries are read with pread at their data offset,
 * found from the central directory and confirmed by the local header (same
 * name, no encryption, inside the file). Anything odd leaves the entry to
 * libzip. */
static void find_data_offsets(pt_file *f)
{
	uint8_t tail[65536 + 22], *cd = NULL;
	uint64_t tail_len = f->buflen < sizeof(tail) ? f->buflen : sizeof(tail);
	uint64_t tail_off = f->buflen - tail_len, cd_off, cd_size, entries;
	uint64_t *lho = NULL;
	const uint8_t *eocd = NULL;
	bool any = false;

	for (size_t i = 0; i < f->nrecs; i++)
		any |= f->recs[i].kind == REC_ZIP && !f->recs[i].deflated;
	if (!any || tail_len < 22 || pt_raw_read(f, tail_off, tail, tail_len))
		return;
	for (uint64_t i = tail_len - 22 + 1; i-- > 0;)
		if (!memcmp(tail + i, "PK\x05\x06", 4)) {
			eocd = tail + i;
			break;
		}
	if (!eocd)
		return;
	entries = rd16(eocd + 10);
	cd_size = rd32(eocd + 12);
	cd_off = rd32(eocd + 16);
	if (entries == 0xffff || cd_size == 0xffffffff || cd_off == 0xffffffff) {
		/* ZIP64: the locator sits right before the end record */
		uint64_t loc = tail_off + (eocd - tail);
		uint8_t l[20], z[56];
		if (loc < 20 || pt_raw_read(f, loc - 20, l, 20) || memcmp(l, "PK\x06\x07", 4) ||
		    pt_raw_read(f, rd64(l + 8), z, 56) || memcmp(z, "PK\x06\x06", 4))
			return;
		entries = rd64(z + 32);
		cd_size = rd64(z + 40);
		cd_off = rd64(z + 48);
	}
	if ((zip_int64_t)entries != zip_get_num_entries(f->zip, 0) || cd_size > ((uint64_t)64 << 20) ||
	    cd_off > f->buflen || cd_size > f->buflen - cd_off)
		return;
	cd = malloc(cd_size ? cd_size : 1);
	lho = malloc(entries ? entries * sizeof(*lho) : 1);
	if (!cd || !lho || pt_raw_read(f, cd_off, cd, cd_size))
		goto out;
	uint64_t pos = 0;
	for (uint64_t i = 0; i < entries; i++) {
		if (pos + 46 > cd_size || memcmp(cd + pos, "PK\x01\x02", 4))
			goto out;
		uint64_t nlen = rd16(cd + pos + 28), elen = rd16(cd + pos + 30), clen = rd16(cd + pos + 32);
		uint64_t off = rd32(cd + pos + 42), usize = rd32(cd + pos + 24), csize = rd32(cd + pos + 20);
		if (pos + 46 + nlen + elen + clen > cd_size)
			goto out;
		if (off == 0xffffffff) {
			/* ZIP64 extra field: sizes first, when they overflowed */
			const uint8_t *e = cd + pos + 46 + nlen, *end = e + elen;
			off = UINT64_MAX;
			while (e + 4 <= end) {
				uint64_t id = rd16(e), len = rd16(e + 2);
				if (e + 4 + len > end)
					break;
				if (id == 1) {
					uint64_t at = 4 + (usize == 0xffffffff ? 8 : 0) + (csize == 0xffffffff ? 8 : 0);
					if (at + 8 <= 4 + len)
						off = rd64(e + at);
					break;
				}
				e += 4 + len;
			}
		}
		lho[i] = off;
		pos += 46 + nlen + elen + clen;
	}
	for (size_t i = 0; i < f->nrecs; i++) {
		pt_record *r = &f->recs[i];
		const char *name = zip_get_name(f->zip, r->index, ZIP_FL_ENC_RAW);
		uint8_t lh[30];
		char lname[4096];
		uint64_t off, nlen, data;
		if (r->kind != REC_ZIP || r->deflated || !name)
			continue;
		off = lho[r->index];
		nlen = strlen(name);
		if (off == UINT64_MAX || nlen > sizeof(lname) || pt_raw_read(f, off, lh, 30) ||
		    memcmp(lh, "PK\x03\x04", 4) || (rd16(lh + 6) & 1) || rd16(lh + 8) != 0 || rd16(lh + 26) != nlen ||
		    pt_raw_read(f, off + 30, lname, nlen) || memcmp(lname, name, nlen))
			continue;
		data = off + 30 + nlen + rd16(lh + 28);
		if (data > f->buflen || r->size > f->buflen - data)
			continue;
		r->kind = REC_RAW;
		r->offset = data;
		r->crc_check = true;
	}
out:
	free(cd);
	free(lho);
}

/* ---- stored archives without libzip ----
 *
 * torch.save archives are stored (uncompressed) entries behind a plain
 * central directory. For those the directory is parsed here from bytes the
 * reader has anyway, which skips libzip's re-reading of the file. The parse
 * accepts only a strict subset of what libzip reads the same way: one end
 * record, exactly at the end; no multi-disk, no comments, no encryption, no
 * ZIP64 or Unicode-path extra fields; printable-ASCII, unique names; every
 * offset and size inside the file. Anything else, and any entry whose local
 * header or CRC disagrees, falls back to libzip from scratch, so errors and
 * results stay exactly libzip's. */

#define PT_FALLBACK 1
#define TAIL_MAX (65535 + 22 + 20 + 56)
#define PT_WHOLE_FILE ((uint64_t)256 << 10)

static void fast_dir_free(pt_file *f)
{
	if (!f->zents_in_arena)
		free(f->zents); /* zsorted and znames too: one block */
	f->zents = NULL;
	f->zsorted = NULL;
	f->znames = NULL;
	f->nzents = 0;
	f->zcommon = 0;
}

/* Whether s[0..n) is printable ASCII (0x20..0x7e), eight bytes at a time:
 * the word tests "some byte < 0x20" and "some byte > 0x7e" (a borrow or
 * carry between bytes only happens once such a byte is there, so they are
 * exact). */
static bool printable_ascii(const uint8_t *s, size_t n)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	size_t k = 0;

	for (; k + 8 <= n; k += 8) {
		uint64_t x;

		memcpy(&x, s + k, 8);
		if (((x - ones * 0x20) & ~x & highs) | (((x + ones * (127 - 0x7e)) | x) & highs))
			return false;
	}
	for (; k < n; k++)
		if (s[k] < 0x20 || s[k] > 0x7e)
			return false;
	return true;
}

/* Extra fields that tile their block exactly and that libzip does not
 * interpret (ZIP64 sizes, Info-ZIP Unicode path/comment, AES). */
static bool extra_plain(const uint8_t *e, uint64_t len)
{
	uint64_t pos = 0;

	while (pos < len) {
		uint64_t id, l;
		if (len - pos < 4)
			return false;
		id = rd16(e + pos);
		l = rd16(e + pos + 2);
		if (id == 0x0001 || id == 0x7075 || id == 0x6375 || id == 0x9901 || l > len - pos - 4)
			return false;
		pos += 4 + l;
	}
	return true;
}

/* [off, off+len) of the file: inside buf when it is there, else read into
 * *tmp (malloc'd; the caller frees it). NULL when outside the file. */
static const uint8_t *fast_bytes(pt_file *f, uint64_t off, uint64_t len, uint8_t **tmp)
{
	*tmp = NULL;
	if (off > f->buflen || len > f->buflen - off)
		return NULL;
	if (f->buf)
		return f->buf + off;
	*tmp = malloc(len ? len : 1);
	if (!*tmp || pt_raw_read(f, off, *tmp, len)) {
		free(*tmp);
		*tmp = NULL;
		return NULL;
	}
	return *tmp;
}

static int cmp_zent_ptr(const void *a, const void *b)
{
	return strcmp((*(pt_zent *const *)a)->name, (*(pt_zent *const *)b)->name);
}

/* Builds f->zents from the central directory; -1: leave it to libzip. */
static int fast_dir(pt_file *f)
{
	uint64_t tail_len = f->buflen < TAIL_MAX ? f->buflen : TAIL_MAX, tail_off = f->buflen - tail_len;
	uint8_t *tail_tmp = NULL, *cd_tmp = NULL, *z64_tmp = NULL;
	const uint8_t *tail, *eocd = NULL, *cd, *p;
	uint64_t eocd_off, entries, cd_size, cd_off, cd_end, pos, names_len = 0;
	int rc = -1;

	if (tail_len < 22 || !(tail = fast_bytes(f, tail_off, tail_len, &tail_tmp)))
		return -1;
	/* exactly one end-record signature in libzip's search window; found
	 * by its last byte, 0x06 (memchr is several times faster than memmem
	 * here, and 0x06 is rarer than 'P': every zip header starts "PK") */
	for (p = tail + 3; (p = memchr(p, 0x06, tail_len - (p - tail))); p++) {
		if (memcmp(p - 3, "PK\x05\x06", 4))
			continue;
		if (eocd)
			goto out;
		eocd = p - 3;
	}
	if (!eocd || tail_len - (eocd - tail) < 22)
		goto out;
	eocd_off = tail_off + (eocd - tail);
	if (eocd_off + 22 + rd16(eocd + 20) != f->buflen || rd16(eocd + 4) || rd16(eocd + 6) ||
	    rd16(eocd + 8) != rd16(eocd + 10))
		goto out;
	entries = rd16(eocd + 10);
	cd_size = rd32(eocd + 12);
	cd_off = rd32(eocd + 16);
	cd_end = eocd_off;
	if (eocd_off >= 20 && eocd - tail >= 20 && !memcmp(eocd - 20, "PK\x06\x07", 4)) {
		/* ZIP64: locator, then the ZIP64 end record right before it */
		const uint8_t *loc = eocd - 20, *z;
		uint64_t z_off = rd64(loc + 8);
		if (rd32(loc + 4) || rd32(loc + 16) > 1 || eocd_off < 20 + 56 || z_off != eocd_off - 20 - 56 ||
		    !(z = fast_bytes(f, z_off, 56, &z64_tmp)) || memcmp(z, "PK\x06\x06", 4) || rd64(z + 4) != 44 ||
		    rd32(z + 16) || rd32(z + 20) || rd64(z + 24) != rd64(z + 32))
			goto out;
		if ((entries != 0xffff && entries != rd64(z + 32)) ||
		    (cd_size != 0xffffffff && cd_size != rd64(z + 40)) ||
		    (cd_off != 0xffffffff && cd_off != rd64(z + 48)))
			goto out;
		entries = rd64(z + 32);
		cd_size = rd64(z + 40);
		cd_off = rd64(z + 48);
		cd_end = z_off;
	} else if (entries == 0xffff || cd_size == 0xffffffff || cd_off == 0xffffffff) {
		goto out;
	}
	if (cd_off > cd_end || cd_size != cd_end - cd_off || cd_size > ((uint64_t)64 << 20) || !entries ||
	    entries > cd_size / 46)
		goto out;
	if (f->buf || cd_off >= tail_off)
		cd = f->buf ? f->buf + cd_off : tail + (cd_off - tail_off);
	else if (!(cd = fast_bytes(f, cd_off, cd_size, &cd_tmp)))
		goto out;
	/* one block: the entries, the sorted pointers, the names; a small
	 * one in the arena (the pickle's nodes go there next anyway) */
	{
		size_t bytes = entries * (sizeof(*f->zents) + sizeof(*f->zsorted)) + cd_size + entries;

		f->zents_in_arena = bytes <= ((size_t)16 << 10);
		f->zents = f->zents_in_arena ? pt_arena_alloc_fast(f, bytes) : malloc(bytes);
		if (!f->zents)
			goto out;
	}
	memset(f->zents, 0, entries * sizeof(*f->zents));
	f->zsorted = (pt_zent **)(f->zents + entries);
	f->znames = (char *)(f->zsorted + entries);
	pos = 0;
	for (uint64_t i = 0; i < entries; i++) {
		pt_zent *z = &f->zents[i];
		const uint8_t *e = cd + pos;
		uint64_t nlen, elen;
		if (cd_size - pos < 46 || memcmp(e, "PK\x01\x02", 4))
			goto out;
		nlen = rd16(e + 28);
		elen = rd16(e + 30);
		z->flags = rd16(e + 8);
		z->method = rd16(e + 10);
		z->crc = rd32(e + 16);
		z->csize = rd32(e + 20);
		z->size = rd32(e + 24);
		z->lho = rd32(e + 42);
		/* no comment, disk 0, no encryption or odd flags, no ZIP64 sizes */
		if (rd16(e + 32) || rd16(e + 34) || (z->flags & ~0x0808u) || z->csize == 0xffffffff ||
		    z->size == 0xffffffff || z->lho == 0xffffffff || !nlen || cd_size - pos - 46 < nlen + elen ||
		    z->lho >= cd_off || !extra_plain(e + 46 + nlen, elen))
			goto out;
		if (!printable_ascii(e + 46, nlen))
			goto out;
		memcpy(f->znames + names_len, e + 46, nlen);
		f->znames[names_len + nlen] = '\0';
		z->name = f->znames + names_len;
		z->name_len = nlen;
		names_len += nlen + 1;
		f->zsorted[i] = z;
		pos += 46 + nlen + elen;
	}
	if (pos != cd_size)
		goto out;
	/* unique names (libzip would keep the first of two; leave that to it) */
	if (entries <= 16) {
		/* A torch.save archive has ~7, all under one long root folder:
		 * compared past that folder's name when every name has it
		 * (zcommon), and qsort's set-up would cost more than an
		 * insertion sort. */
		const char *root = f->zents[0].name, *slash = memchr(root, '/', f->zents[0].name_len);
		size_t common = slash ? (size_t)(slash + 1 - root) : 0;

		for (uint64_t i = 1; i < entries && common; i++)
			if (f->zents[i].name_len < common || memcmp(f->zents[i].name, root, common))
				common = 0;
		f->zcommon = common;
		for (uint64_t i = 1; i < entries; i++) {
			pt_zent *z = f->zsorted[i];
			uint64_t at = i;

			for (; at > 0 && strcmp(f->zsorted[at - 1]->name + common, z->name + common) > 0; at--)
				f->zsorted[at] = f->zsorted[at - 1];
			f->zsorted[at] = z;
		}
	} else {
		f->zcommon = 0;
		qsort(f->zsorted, entries, sizeof(*f->zsorted), cmp_zent_ptr);
	}
	for (uint64_t i = 1; i < entries; i++)
		if (!strcmp(f->zsorted[i - 1]->name + f->zcommon, f->zsorted[i]->name + f->zcommon))
			goto out;
	f->zcd_off = cd_off;
	f->nzents = entries;
	rc = 0;
out:
	free(tail_tmp);
	free(cd_tmp);
	free(z64_tmp);
	if (rc)
		fast_dir_free(f);
	return rc;
}

static zip_int64_t fast_locate(pt_file *f, const char *name)
{
	size_t lo = 0, hi = f->nzents, common = f->zcommon;

	/* every name starts with the shared prefix: one that does not is none */
	if (common && strncmp(name, f->zents[0].name, common))
		return -1;
	name += common;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(f->zsorted[mid]->name + common, name);
		if (!c)
			return f->zsorted[mid] - f->zents;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Checks an entry's local header against the directory and finds its data;
 * -1: leave the archive to libzip. */
static int fast_data_offset(pt_file *f, pt_zent *z)
{
	uint8_t *tmp = NULL;
	const uint8_t *lh, *var;
	uint64_t elen, data;
	int rc = -1;

	if (z->data)
		return 0;
	if (z->method != 0 || z->csize != z->size || !(lh = fast_bytes(f, z->lho, 30, &tmp)))
		return -1;
	if (memcmp(lh, "PK\x03\x04", 4) || rd16(lh + 6) != z->flags || rd16(lh + 8) != z->method ||
	    rd16(lh + 26) != z->name_len ||
	    (!(z->flags & 0x0008) && (rd32(lh + 14) != z->crc || rd32(lh + 18) != z->csize || rd32(lh + 22) != z->size)))
		goto out;
	elen = rd16(lh + 28);
	free(tmp);
	if (!(var = fast_bytes(f, z->lho + 30, z->name_len + elen, &tmp)) || memcmp(var, z->name, z->name_len) ||
	    !extra_plain(var + z->name_len, elen))
		goto out;
	data = z->lho + 30 + z->name_len + elen;
	if (data > f->zcd_off || z->size > f->zcd_off - data)
		goto out;
	z->data = data;
	rc = 0;
out:
	free(tmp);
	return rc;
}

/* pt_zip_read_whole for the parsed directory: PT_FALLBACK when libzip
 * must do it (local header or CRC not as the directory says). *data is the
 * entry's bytes: inside a file read whole (*out NULL), else *out, which the
 * caller frees. */
static int fast_read_whole(pt_file *f, zip_int64_t index, const char *what, uint8_t **out, const uint8_t **data,
			   size_t *len, size_t limit, dv_error *err)
{
	pt_zent *z = &f->zents[index];
	uint8_t *buf;

	*out = NULL;
	if (z->size > limit)
		return dv_error_set(err, "%s: %s is %llu bytes, more than the limit %zu", f->name, what,
				    (unsigned long long)z->size, limit);
	if (fast_data_offset(f, z))
		return PT_FALLBACK;
	if (f->buf) {
		/* the bytes are here already (fast_data_offset checked the extent) */
		if (z->crc != 0 && pt_crc32(0, f->buf + z->data, z->size) != z->crc)
			return PT_FALLBACK;
		*data = f->buf + z->data;
		*len = z->size;
		return 0;
	}
	buf = malloc(z->size + 1);
	if (!buf)
		return dv_error_set(err, "%s: %s: out of memory", f->name, what);
	if (pt_raw_read(f, z->data, buf, z->size) || (z->crc != 0 && pt_crc32(0, buf, z->size) != z->crc)) {
		free(buf);
		return PT_FALLBACK;
	}
	buf[z->size] = '\0';
	*out = buf;
	*data = buf;
	*len = z->size;
	return 0;
}

/* Entry access over libzip or the parsed directory. */
static zip_int64_t zd_count(pt_file *f)
{
	return f->zip ? zip_get_num_entries(f->zip, 0) : (zip_int64_t)f->nzents;
}

static const char *zd_name(pt_file *f, zip_int64_t i)
{
	return f->zip ? zip_get_name(f->zip, i, 0) : f->zents[i].name;
}

static zip_int64_t zd_locate(pt_file *f, const char *name)
{
	return f->zip ? zip_name_locate(f->zip, name, 0) : fast_locate(f, name);
}

/* An entry's bytes in *data; *out is what the caller frees (may be NULL). */
static int zd_read_whole(pt_file *f, zip_int64_t index, const char *what, uint8_t **out, const uint8_t **data,
			 size_t *len, size_t limit, dv_error *err)
{
	if (f->zip) {
		int rc = pt_zip_read_whole(f, index, what, out, len, limit, err);

		*data = *out;
		return rc;
	}
	return fast_read_whole(f, index, what, out, data, len, limit, err);
}

/* name[root_len...] = "data/" key, cut at size - 1 bytes as snprintf would. */
static void record_name(char *name, size_t size, size_t root_len, const char *key)
{
	size_t room = size - 1 - root_len, klen = strlen(key);

	if (room >= 5 + klen) {
		memcpy(name + root_len, "data/", 5);
		memcpy(name + root_len + 5, key, klen + 1);
	} else {
		snprintf(name + root_len, size - root_len, "data/%s", key);
	}
}

/* Reads the archive through libzip (f->zip) or the parsed directory
 * (f->zents); the latter may answer PT_FALLBACK. */
static int open_zip(pt_file *f, dv_error *err)
{
	zip_int64_t n, pkl = -1;
	const char *pkl_name = NULL, *dup_name = NULL;
	bool torchscript = false;
	size_t root_len = 0;
	uint8_t *pickle = NULL;
	const uint8_t *pickle_data;
	size_t pickle_len;
	pt_unpickled found;
	char name[4096];
	int rc = -1;

	f->format = "zip";
	n = zd_count(f);
	/* One pass: the first second data.pkl is reported before any
	 * TorchScript entry, as when these were two loops. */
	for (zip_int64_t i = 0; i < n; i++) {
		const char *e = zd_name(f, i);
		const char *slash;
		size_t len;
		if (!e)
			continue;
		len = f->zip ? strlen(e) : f->zents[i].name_len;
		/* the shared root folder's slash is every name's first */
		slash = !f->zip && f->zcommon ? e + f->zcommon - 1 : memchr(e, '/', len);
		/* <root>/data.pkl, with exactly one folder level (or none) */
		if (len >= 8 && !memcmp(e + len - 8, "data.pkl", 8) &&
		    (len == 8 || (slash == e + len - 9 && slash != e))) {
			if (pkl >= 0 && !dup_name)
				dup_name = e;
			if (pkl < 0) {
				pkl = i;
				pkl_name = e;
				root_len = len - 8;
			}
		}
		/* TorchScript archives have data.pkl too, next to constants.pkl and code/. */
		if (slash && (!strcmp(slash, "/constants.pkl") || !strncmp(slash, "/code/", 6)))
			torchscript = true;
	}
	if (dup_name)
		return dv_error_set(err, "%s: several data.pkl records (%s, %s)", f->name, pkl_name, dup_name);
	if (torchscript)
		return dv_error_set(err, "%s: a TorchScript archive (torch.jit.save), not a torch.save file", f->name);
	if (pkl < 0)
		return dv_error_set(err, "%s: zip archive without a data.pkl record: not a torch.save file", f->name);
	if (root_len >= sizeof(name) - 64)
		return dv_error_set(err, "%s: record names too long", f->name);
	memcpy(name, pkl_name, root_len);

	/* byteorder: absent in old files, which are little-endian */
	memcpy(name + root_len, "byteorder", sizeof("byteorder"));
	zip_int64_t bo = zd_locate(f, name);
	if (bo >= 0) {
		uint8_t *b;
		const uint8_t *bd;
		size_t blen;
		int brc = zd_read_whole(f, bo, "byteorder", &b, &bd, &blen, 64, err);
		if (brc)
			return brc;
		while (blen && (bd[blen - 1] == '\n' || bd[blen - 1] == '\r'))
			blen--;
		if (blen == 3 && !memcmp(bd, "big", 3)) {
			f->big_endian = true;
		} else if (!(blen == 6 && !memcmp(bd, "little", 6))) {
			free(b);
			return dv_error_set(err, "%s: byteorder record is neither 'little' nor 'big'", f->name);
		}
		free(b);
	}

	rc = zd_read_whole(f, pkl, "data.pkl", &pickle, &pickle_data, &pickle_len, f->lim.max_pickle_bytes, err);
	if (rc)
		return rc;
	rc = -1;
	if (pt_unpickle(f, pickle_data, pickle_len, &found, err)) {
		pt_unpickled_free(&found);
		goto out;
	}
	f->root = found.root;
	if (take_found(f, &found, true, err) || pt_records_sort(f, err))
		goto out;
	for (size_t i = 0; i < f->nrecs; i++) {
		pt_record *r = &f->recs[i];
		zip_stat_t st;
		record_name(name, sizeof(name), root_len, r->key);
		r->kind = REC_ZIP;
		r->index = zd_locate(f, name);
		if (r->index < 0) {
			dv_error_set(err, "%s: storage data/%s is missing", f->name, r->key);
			goto out;
		}
		if (!f->zip) {
			pt_zent *z = &f->zents[r->index];
			if (fast_data_offset(f, z)) {
				rc = PT_FALLBACK;
				goto out;
			}
			r->size = z->size;
			r->crc = z->crc;
		} else if (zip_stat_index(f->zip, r->index, 0, &st) || !(st.valid & ZIP_STAT_SIZE)) {
			dv_error_set(err, "%s: storage data/%s: cannot stat zip entry", f->name, r->key);
			goto out;
		} else {
			r->size = st.size;
			r->crc = (st.valid & ZIP_STAT_CRC) ? st.crc : 0;
			r->deflated = (st.valid & ZIP_STAT_COMP_METHOD) && st.comp_method != ZIP_CM_STORE;
		}
		if (r->deflated && r->size > PT_COMPRESSED_MAX) {
			dv_error_set(err, "%s: storage data/%s is compressed and %llu bytes, more than %llu "
				     "(torch never compresses storages)", f->name, r->key, (unsigned long long)r->size,
				     (unsigned long long)PT_COMPRESSED_MAX);
			goto out;
		}
		if (r->size > f->lim.max_record_bytes) {
			dv_error_set(err, "%s: storage data/%s is %llu bytes, more than the limit %llu", f->name, r->key,
				     (unsigned long long)r->size, (unsigned long long)f->lim.max_record_bytes);
			goto out;
		}
	}
	if (f->zip) {
		find_data_offsets(f);
	} else {
		/* every record stored, its local header checked above */
		for (size_t i = 0; i < f->nrecs; i++) {
			f->recs[i].kind = REC_RAW;
			f->recs[i].offset = f->zents[f->recs[i].index].data;
			f->recs[i].crc_check = true;
		}
	}
	rc = pt_resolve_tensors(f, err);
out:
	free(pickle);
	return rc;
}

/* ---- legacy ---- */

/* One of a legacy file's pickles from data[*pos, len): *pos moves past it,
 * *truncated says whether it ran out of data. */
static int legacy_pickle(pt_file *f, const uint8_t *data, size_t len, size_t *pos, bool storages, pt_obj **out,
			 bool *truncated, dv_error *err)
{
	pt_unpickled found;
	int rc = pt_unpickle(f, data + *pos, len - *pos, &found, err);

	*pos += found.used;
	*truncated = found.truncated;
	if (rc) {
		pt_unpickled_free(&found);
		return -1;
	}
	*out = found.root;
	return take_found(f, &found, storages, err);
}

/* The five pickles of a legacy file from data[0, len): magic, protocol,
 * sys_info, the object, the storage keys. *pos gets where the data starts.
 * Only the object's storages are the file's records. */
static int legacy_pickles(pt_file *f, const uint8_t *data, size_t len, size_t *pos, pt_obj **keys, bool *truncated,
			  dv_error *err)
{
	pt_obj *magic, *proto, *sys_info;

	*pos = 0;
	if (legacy_pickle(f, data, len, pos, false, &magic, truncated, err) ||
	    legacy_pickle(f, data, len, pos, false, &proto, truncated, err))
		return -1;
	if (proto->kind != PT_INT || proto->u.i != 1001)
		return dv_error_set(err, "%s: legacy format with an unknown protocol version", f->name);
	if (legacy_pickle(f, data, len, pos, false, &sys_info, truncated, err))
		return -1;
	const pt_obj *le = pt_dict_get(sys_info, "little_endian");
	if (le && le->kind == PT_BOOL && !le->u.b)
		f->big_endian = true;
	if (legacy_pickle(f, data, len, pos, true, &f->root, truncated, err) ||
	    legacy_pickle(f, data, len, pos, false, keys, truncated, err))
		return -1;
	return 0;
}

static void reset_tree(pt_file *f)
{
	pt_arena_free(f);
	f->nobjects = 0;
	f->mem_used = 0;
	f->ntensors = 0;
	f->nrecs = 0;
	f->root = NULL;
	f->big_endian = false;
}

static int open_legacy(pt_file *f, dv_error *err)
{
	uint8_t *data = NULL;
	size_t pos = 0;
	uint64_t limit = f->buflen < f->lim.max_pickle_bytes ? f->buflen : f->lim.max_pickle_bytes;
	uint64_t len = limit < ((uint64_t)1 << 20) ? limit : (uint64_t)1 << 20;
	pt_obj *keys;
	bool truncated;
	int rc = -1;

	f->format = "legacy";
	/* The pickles come before the data: read a little, more only if the
	 * pickles run past it (never the whole file). */
	for (;;) {
		if (f->buf) {
			data = (uint8_t *)f->buf;
		} else {
			uint8_t *d = realloc(data, len ? len : 1);
			if (!d) {
				dv_error_set(err, "%s: out of memory", f->name);
				goto out;
			}
			data = d;
			if (pt_raw_read(f, 0, data, len)) {
				dv_error_set(err, "%s: read error: %s", f->name, strerror(errno));
				goto out;
			}
		}
		reset_tree(f);
		if (!legacy_pickles(f, data, len, &pos, &keys, &truncated, err))
			break;
		if (!truncated || len >= limit)
			goto out;
		len = len * 8 < limit ? len * 8 : limit;
	}
	if (pt_records_sort(f, err))
		goto out;
	if (keys->kind != PT_LIST && keys->kind != PT_TUPLE) {
		dv_error_set(err, "%s: legacy storage key list is not a list", f->name);
		goto out;
	}
	/* Then, per key in that order: int64 element count, raw bytes. */
	uint64_t off = pos;
	for (size_t i = 0; i < keys->u.seq.len; i++) {
		const pt_obj *k = keys->u.seq.items[i];
		uint8_t cnt[8];
		uint64_t count = 0, bytes;
		pt_record *r;
		if (k->kind != PT_STR) {
			dv_error_set(err, "%s: legacy storage key is not a string", f->name);
			goto out;
		}
		r = pt_find_record(f, k->u.str.data);
		if (!r) {
			dv_error_set(err, "%s: legacy storage %s is not used by any tensor", f->name, k->u.str.data);
			goto out;
		}
		if (pt_raw_read(f, off, cnt, 8)) {
			dv_error_set(err, "%s: truncated: storage %s is missing", f->name, r->key);
			goto out;
		}
		for (int b = 0; b < 8; b++)
			count |= (uint64_t)cnt[b] << (8 * (f->big_endian ? 7 - b : b));
		off += 8;
		if (__builtin_mul_overflow(count, (uint64_t)r->itemsize, &bytes) || bytes > f->buflen - off) {
			dv_error_set(err, "%s: truncated: storage %s needs %llu elements past the end of the file",
				     f->name, r->key, (unsigned long long)count);
			goto out;
		}
		r->kind = REC_RAW;
		r->offset = off;
		r->size = bytes;
		off += bytes;
	}
	for (size_t i = 0; i < f->nrecs; i++)
		if (f->recs[i].kind != REC_RAW) {
			dv_error_set(err, "%s: storage %s is missing", f->name, f->recs[i].key);
			goto out;
		}
	rc = pt_resolve_tensors(f, err);
out:
	if (data != f->buf)
		free(data);
	return rc;
}

/* ---- entry points ---- */

static int open_container(pt_file *f, const uint8_t *head, size_t n, dv_error *err)
{
	if (f->buflen == 0)
		return dv_error_set(err, "%s: empty file, not a torch checkpoint", f->name);
	if (n >= 4 && !memcmp(head, "PK\x03\x04", 4)) {
		zip_error_t ze;
		zip_source_t *src;
		if (!fast_dir(f)) {
			int rc = open_zip(f, err);
			if (rc != PT_FALLBACK)
				return rc;
			reset_tree(f);
			fast_dir_free(f);
		}
		zip_error_init(&ze);
		/* a file read whole still goes to libzip as a file: entries it
		 * reads (deflated ones) then see what is on disk, as before */
		if (f->buf && !f->own_buf) {
			src = zip_source_buffer_create(f->buf, f->buflen, 0, &ze);
		} else {
			int fd2 = dup(f->fd);
			FILE *fp = fd2 >= 0 ? fdopen(fd2, "rb") : NULL;
			if (!fp && fd2 >= 0)
				close(fd2);
			src = fp ? zip_source_filep_create(fp, 0, -1, &ze) : NULL;
			if (!src && fp)
				fclose(fp);
		}
		if (!src) {
			dv_error_set(err, "%s: cannot read: %s", f->name, zip_error_strerror(&ze));
			zip_error_fini(&ze);
			return -1;
		}
		f->zip = zip_open_from_source(src, ZIP_RDONLY, &ze);
		if (!f->zip) {
			zip_source_free(src);
			dv_error_set(err, "%s: damaged or truncated zip archive (%s)", f->name, zip_error_strerror(&ze));
			zip_error_fini(&ze);
			return -1;
		}
		zip_error_fini(&ze);
		return open_zip(f, err);
	}
	if (n >= sizeof(legacy_magic) && !memcmp(head, legacy_magic, sizeof(legacy_magic))) {
		return open_legacy(f, err);
	}
	if (n >= 4 && !memcmp(head, "PK", 2))
		return dv_error_set(err, "%s: damaged zip archive (no local header at the start)", f->name);
	return dv_error_set(err, "%s: not a torch checkpoint (%s)", f->name, not_checkpoint_kind(head, n));
}

/* What a special file is, for the one-line refusal. */
static const char *special_kind(mode_t m)
{
	if (S_ISFIFO(m))
		return "fifo";
	if (S_ISSOCK(m))
		return "socket";
	if (S_ISCHR(m))
		return "character device";
	if (S_ISBLK(m))
		return "block device";
	return "special file";
}

/* The folders this thread opened files in lately, as descriptors: a run's
 * files share a few folders, and opening each by its full path walks every
 * component again (most of the cost of a small file's open). Only between
 * pt_dircache_begin and pt_dircache_end (a scan worker's life): a long-lived
 * thread would go on reading a folder renamed or replaced meanwhile. */
#define DIRCACHE_SLOTS 4
#ifdef O_PATH
#define DIRCACHE_FLAGS (O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_PATH)
#else
#define DIRCACHE_FLAGS (O_RDONLY | O_DIRECTORY | O_CLOEXEC)
#endif

typedef struct dircache_slot {
	int fd;                        /* -1: the folder could not be opened */
	size_t len;                    /* 0: slot unused */
	char dir[1024];
} dircache_slot;

static _Thread_local struct {
	bool on;
	unsigned next;                 /* the slot replaced next */
	dircache_slot slot[DIRCACHE_SLOTS];
} dircache;

void pt_dircache_begin(void)
{
	for (int i = 0; i < DIRCACHE_SLOTS; i++) {
		dircache.slot[i].fd = -1;
		dircache.slot[i].len = 0;
	}
	dircache.next = 0;
	dircache.on = true;
	pt_reuse_begin();
}

void pt_dircache_end(void)
{
	for (int i = 0; i < DIRCACHE_SLOTS; i++) {
		if (dircache.slot[i].fd >= 0)
			close(dircache.slot[i].fd);
		dircache.slot[i].fd = -1;
		dircache.slot[i].len = 0;
	}
	dircache.on = false;
	pt_reuse_end();
}

/* The cached descriptor of path's folder, -1 when there is none to use. */
static int dircache_fd(const char *path, const char **base)
{
	const char *slash = strrchr(path, '/');
	size_t len;
	dircache_slot *s;

	if (!dircache.on || !slash || slash == path || !slash[1])
		return -1;
	len = (size_t)(slash - path);
	if (len >= sizeof(s->dir))
		return -1;
	*base = slash + 1;
	for (int i = 0; i < DIRCACHE_SLOTS; i++) {
		s = &dircache.slot[i];
		if (s->len == len && !memcmp(s->dir, path, len))
			return s->fd;
	}
	s = &dircache.slot[dircache.next];
	dircache.next = (dircache.next + 1) % DIRCACHE_SLOTS;
	if (s->fd >= 0)
		close(s->fd);
	memcpy(s->dir, path, len);
	s->dir[len] = '\0';
	s->len = len;
	s->fd = open(s->dir, DIRCACHE_FLAGS);
	return s->fd;
}

/* open(path, flags), through the folder's cached descriptor when there is
 * one. Any failure there is retried by the full path, so errors (and what
 * a changed tree resolves to) are open's own. */
static int open_path(const char *path, int flags)
{
	const char *base;
	int dfd = dircache_fd(path, &base);

	if (dfd >= 0) {
		int fd = openat(dfd, base, flags);

		if (fd >= 0)
			return fd;
	}
	return open(path, flags);
}

/* A scan's files are small, mostly: one read into a buffer of this size
 * says the file's size by coming back short, without an fstat. */
#define PT_READ_GUESS ((size_t)64 << 10)
/* after a file larger than that, this much: a large file's header, pickle
 * and first local headers, without copying 64 KiB of its data (a scan's
 * large files come in runs: a shard set, a step's tensors) */
#define PT_READ_GUESS_AFTER_LARGE ((size_t)4 << 10)
static _Thread_local bool last_was_large;

/* The scan's way (pt_reuse on): the whole file in one pread, no fstat. A
 * regular file's read comes back short only at its end; nothing, an error
 * or a file that does not open as a checkpoint answers NULL without an
 * error, and the caller opens the file again the ordinary way, whose checks
 * and messages are then the ones seen (a directory, a FIFO, an empty or
 * damaged file). A full buffer: *big is set and the file is returned open,
 * its first bytes kept as f->head, for pt_open_ex to go on the ordinary way
 * with its descriptor (a large file is not opened twice, nor its head read
 * again). */
static pt_file *open_read_once(const char *path, const pt_limits *limits, bool *big)
{
	pt_file *f;
	dv_error ignored;
	ssize_t got;
	size_t want;

	*big = false;
	if (!pt_reuse_on() || !(f = pt_file_new(path, limits)))
		return NULL;
	f->fd = open_path(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	want = last_was_large ? PT_READ_GUESS_AFTER_LARGE : PT_READ_GUESS;
	if (f->fd < 0 || !(f->own_buf = pt_reuse_buf(want, &f->own_cap)))
		goto fail;
	do
		got = pread(f->fd, f->own_buf, want, 0);
	while (got < 0 && errno == EINTR);
	if (got <= 0)
		goto fail;
	if ((size_t)got >= want) {
		f->head = f->own_buf;
		f->head_cap = f->own_cap;
		f->headlen = (size_t)got;
		f->own_buf = NULL;
		f->own_cap = 0;
		*big = true;
		return f;
	}
	last_was_large = false;
	f->buflen = (uint64_t)got;
	f->buf = f->own_buf;
	if (open_container(f, f->buf, f->buflen < 64 ? f->buflen : 64, &ignored))
		goto fail;
	return f;
fail:
	pt_close(f);
	return NULL;
}

pt_file *pt_open_ex(const char *path, const pt_limits *limits, dv_error *err)
{
	bool big;
	pt_file *f = open_read_once(path, limits, &big);
	uint8_t head[64];
	struct stat st;
	size_t n;

	if (f && !big)
		return f;
	if (!f && !(f = pt_file_new(path, limits))) {
		dv_error_set(err, "%s: out of memory", path);
		return NULL;
	}
	/* O_NONBLOCK: opening a FIFO (or a device) must not wait for a writer.
	 * The type is checked on the descriptor itself, so a file swapped for a
	 * FIFO after the folder was listed is caught too. */
	if (!big)
		f->fd = open_path(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (f->fd < 0) {
		int e = errno;

		/* a socket cannot be opened at all (ENXIO): say what it is */
		if (e == ENXIO && stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
			dv_error_set(err, "%s: not a regular file (%s)", path, special_kind(st.st_mode));
		else
			dv_error_set(err, "%s: %s", path, strerror(e));
		goto fail;
	}
	if (fstat(f->fd, &st)) {
		dv_error_set(err, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		dv_error_set(err, "%s: is a directory, not a torch checkpoint", path);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		dv_error_set(err, "%s: not a regular file (%s)", path, special_kind(st.st_mode));
		goto fail;
	}
	/* O_NONBLOCK stays: it has no effect on a regular file's reads */
	f->buflen = st.st_size;
	if (big)
		last_was_large = f->buflen > PT_READ_GUESS;
	if (f->buflen && f->buflen <= PT_WHOLE_FILE) {
		/* small files are read whole, once: every later read is a copy */
		f->own_buf = pt_reuse_buf(f->buflen, &f->own_cap);
		if (!f->own_buf) {
			dv_error_set(err, "%s: out of memory", path);
			goto fail;
		}
		if (pt_raw_read(f, 0, f->own_buf, f->buflen)) {
			dv_error_set(err, "%s: read error: %s", path, strerror(errno));
			goto fail;
		}
		f->buf = f->own_buf;
		if (open_container(f, f->buf, f->buflen < sizeof(head) ? f->buflen : sizeof(head), err))
			goto fail;
		return f;
	}
	n = f->buflen < sizeof(head) ? (size_t)f->buflen : sizeof(head);
	if (pt_raw_read(f, 0, head, n)) {
		dv_error_set(err, "%s: read error: %s", path, strerror(errno));
		goto fail;
	}
	if (open_container(f, head, n, err))
		goto fail;
	return f;
fail:
	pt_close(f);
	return NULL;
}

pt_file *pt_open(const char *path, dv_error *err)
{
	return pt_open_ex(path, NULL, err);
}

pt_file *pt_open_buffer(const void *data, size_t len, const char *name, const pt_limits *limits, dv_error *err)
{
	pt_file *f = pt_file_new(name, limits);

	if (!f) {
		dv_error_set(err, "%s: out of memory", name ? name : "(buffer)");
		return NULL;
	}
	f->buf = data ? data : (const uint8_t *)"";
	f->buflen = data ? len : 0;
	if (open_container(f, f->buf, f->buflen < 64 ? f->buflen : 64, err)) {
		pt_close(f);
		return NULL;
	}
	return f;
}

pt_file *pt_open_pickle(const void *data, size_t len, const char *name, const pt_limits *limits, dv_error *err)
{
	pt_file *f = pt_file_new(name, limits);
	pt_unpickled found;

	if (!f) {
		dv_error_set(err, "%s: out of memory", name ? name : "(buffer)");
		return NULL;
	}
	f->format = "pickle";
	if (pt_unpickle(f, data, len, &found, err)) {
		pt_unpickled_free(&found);
		pt_close(f);
		return NULL;
	}
	f->root = found.root;
	if (take_found(f, &found, true, err) || pt_records_sort(f, err)) {
		pt_close(f);
		return NULL;
	}
	return f;
}
