/* The unpickler (pickle.c): one pickle in, the object tree and what it
 * refers to out. It builds nodes in the file's arena (object.c) and calls
 * nothing else in src/pt: the caller decides what the storages and tensors
 * it found belong to. Not a public interface. */
#ifndef DUMPVIEW_PT_PICKLE_H
#define DUMPVIEW_PT_PICKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpview/error.h"
#include "dumpview/pt.h"

/* A storage named by a persistent id (BINPERSID), in the order met. */
typedef struct pt_storage_ref {
	const char *key;         /* in the file's arena */
	size_t itemsize;         /* of the storage's type; 1 for an untyped storage */
} pt_storage_ref;

/* What one pickle held. The arrays are malloc'd (the nodes they point to
 * are the file's): release them with pt_unpickled_free. */
typedef struct pt_unpickled {
	pt_obj *root;            /* the value at STOP */
	size_t used;             /* bytes consumed, also on failure */
	bool truncated;          /* the data ended before STOP (more may help) */
	pt_storage_ref *storages;
	size_t nstorages, cap_storages;
	pt_tensor **tensors;     /* every tensor built, to resolve against records */
	size_t ntensors, cap_tensors;
} pt_unpickled;

/* Runs one pickle from data[0, len) into *out (cleared first); 0 or -1 with
 * err set. On failure out->used and out->truncated still say how far it got. */
int pt_unpickle(pt_file *f, const uint8_t *data, size_t len, pt_unpickled *out, dv_error *err);
void pt_unpickled_free(pt_unpickled *u);

#endif
