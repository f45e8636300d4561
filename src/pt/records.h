/* Storage records: the bottom layer of src/pt (records.c). Raw bytes of the
 * file or buffer, the table of records the pickle refers to, reads of one
 * record and the CRC-32 of whole sequential reads. It calls nothing else in
 * src/pt; the container code (ptfile.c) fills the table, the tensor code
 * (tensor.c) reads through it. Not a public interface. */
#ifndef DUMPVIEW_PT_RECORDS_H
#define DUMPVIEW_PT_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zip.h>

#include "dumpview/error.h"
#include "dumpview/pt.h"

enum rec_kind { REC_NONE, REC_ZIP, REC_RAW }; /* REC_NONE: no data (bare pickle) */

/* One storage record (data/<key>). */
typedef struct pt_record {
	const char *key;
	uint64_t size;           /* bytes */
	int kind;
	zip_int64_t index;       /* REC_ZIP: entry index */
	uint64_t offset;         /* REC_RAW: where the bytes start in the file/buffer */
	uint32_t crc;
	bool deflated;
	size_t itemsize;         /* of the storage's type, for legacy sizes */
	bool crc_check;          /* REC_RAW inside a zip: check crc on whole reads */
} pt_record;

/* Bytes [off, off+len) of the file or buffer; -1 (errno set) on failure. */
int pt_raw_read(pt_file *f, uint64_t off, void *out, size_t len);

/* The record table: storages are added as the pickle names them (REC_NONE,
 * no size yet), then sorted by key with duplicates dropped; the container
 * code fills in where each one's bytes are. */
int pt_records_add(pt_file *f, const char *key, size_t itemsize);
int pt_records_sort(pt_file *f, dv_error *err);
pt_record *pt_find_record(pt_file *f, const char *key); /* after sorting */
/* Closes the open entry and frees the table, window and page cache. */
void pt_records_free(pt_file *f);

/* Record bytes [off, off+len) into out. A whole sequential read (from 0 to
 * the end, in order) has its CRC-32 checked against the record's. */
int pt_record_read(pt_file *f, pt_record *r, uint64_t off, void *out, size_t len, dv_error *err);
/* Record bytes [off, off+len) held in a window (at least 1 MiB, or to the
 * end of the record); returns a pointer to byte off, valid until the next
 * read of f, or NULL (err set). */
const uint8_t *pt_record_window(pt_file *f, pt_record *r, uint64_t off, size_t len, dv_error *err);
/* Page number page of the record (PT_PAGE_SIZE bytes, fewer at the end)
 * through a clock-LRU cache of pt_page_cache_pages pages; valid until the
 * next read of f, or NULL (err set). */
#define PT_PAGE_SIZE 4096
const uint8_t *pt_record_page(pt_file *f, pt_record *r, uint64_t page, dv_error *err);
extern size_t pt_page_cache_pages;

/* Record bytes [off, off+len) of a stored record mapped from the file
 * (no copy): 1 with *out valid until the next map of f or its close, 0
 * when the record cannot be mapped (compressed, CRC to check, the mapping
 * budget spent), -1 with err. A window of at least PT_MAP_WINDOW bytes
 * stays mapped, so nearby reads share it. */
#define PT_MAP_WINDOW ((size_t)2 << 20)
/* Mapped pages count in the process's resident size: all files' windows
 * together stay under this many bytes (beyond it records are read);
 * SIZE_MAX (the default): 48 MiB on up to 4 CPUs, else 32 MiB. */
extern size_t pt_map_budget;
int pt_record_map(pt_file *f, pt_record *r, uint64_t off, size_t len, const uint8_t **out, dv_error *err);
/* The same into w (exact: no window beyond [off, off+len) but its pages). */
int pt_record_map_win(pt_file *f, pt_record *r, pt_map_win *w, uint64_t off, size_t len, const uint8_t **out,
		      dv_error *err);

/* Compressed storage records (torch never writes them) are inflated whole
 * for strided reads; bigger ones are refused at open. */
#define PT_COMPRESSED_MAX ((uint64_t)64 << 20)

uint32_t pt_crc32(uint32_t crc, const void *data, size_t len); /* little-endian host */
extern bool pt_crc32_simd; /* tests switch the PCLMUL path off to compare */

#endif
