/* Interned values: one shared, read-only copy of each distinct dims array
 * or string, for what is kept per pair (a result's shapes and coordinate, a
 * logical result's dims text): most pairs share a few. Process-wide and
 * thread-safe; an interned value lives until the process ends (the table
 * holds each distinct value once, so it grows with what differs, not with
 * how many pairs keep it). */
#ifndef DUMPVIEW_INTERN_H
#define DUMPVIEW_INTERN_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* n dims (n >= 0); never NULL for n == 0. NULL when out of memory. */
const int64_t *dv_intern_dims(const int64_t *dims, int n);
/* A NUL-terminated copy of s; NULL when out of memory. */
const char *dv_intern_str(const char *s);
/* A copy of n bytes (8-byte aligned), one for equal bytes: for a record
 * kept for many pairs (zero its padding first). NULL when out of memory. */
const void *dv_intern_bytes(const void *p, size_t n);
/* Bytes the table holds (values and index), for tests and the bench. */
size_t dv_intern_held(void);

/* Tag keys by number (a file's tag keeps 4 bytes for its key): the id of
 * the key of kl bytes at k, the same for equal keys, DV_KEY_NONE when out
 * of memory; dv_key_name gives the key back (NUL-terminated, interned). */
#define DV_KEY_NONE UINT32_MAX
#define DV_KEY_CHUNK 4096
uint32_t dv_key_id(const char *k, size_t kl);
extern const char **dv_key_chunks[];
static inline const char *dv_key_name(uint32_t id)
{
	return dv_key_chunks[id / DV_KEY_CHUNK][id % DV_KEY_CHUNK];
}

/* A pool of same-sized objects, for what is kept per pair (results): no
 * allocator header or rounding per object, and the objects packed in large
 * blocks apart from the transient buffers of the scan's workers (which
 * fragmented the heap around each kept result). Thread-safe; freed objects
 * are reused, blocks are kept until the process ends. Under the address
 * sanitizer it is plain malloc and free, so that misuse is still caught. */
typedef struct dv_pool {
	pthread_mutex_t mu;
	size_t size;             /* of an object, a multiple of 8 */
	void *free_list;
	void *blocks;            /* the newest block; each links the one before */
	size_t left;             /* objects not yet handed out in the newest block */
} dv_pool;

#define DV_POOL_INIT(type) { PTHREAD_MUTEX_INITIALIZER, (sizeof(type) + 7) & ~(size_t)7, NULL, NULL, 0 }

/* An object of p's size, zeroed; NULL when out of memory. */
void *dv_pool_alloc(dv_pool *p);
void dv_pool_free(dv_pool *p, void *obj);

#endif
