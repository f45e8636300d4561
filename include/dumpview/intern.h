/* Interned values: one shared, read-only copy of each distinct dims array
 * or string, for what is kept per pair (a result's shapes and coordinate, a
 * logical result's dims text): most pairs share a few. Process-wide and
 * thread-safe; an interned value lives until the process ends (the table
 * holds each distinct value once, so it grows with what differs, not with
 * how many pairs keep it). */
#ifndef DUMPVIEW_INTERN_H
#define DUMPVIEW_INTERN_H

#include <stddef.h>
#include <stdint.h>

/* n dims (n >= 0); never NULL for n == 0. NULL when out of memory. */
const int64_t *dv_intern_dims(const int64_t *dims, int n);
/* A NUL-terminated copy of s; NULL when out of memory. */
const char *dv_intern_str(const char *s);
/* Bytes the table holds (values and index), for tests and the bench. */
size_t dv_intern_bytes(void);

#endif
