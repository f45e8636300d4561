/* The state of an open file and the object arena, shared by the files of
 * src/pt (not a public interface). Calls go one way only:
 *   ptfile.c (containers, pt_open) -> pickle.c, tensor.c, object.c, records.c
 *   tensor.c (element reads)       -> records.c
 *   pickle.c (the unpickler)       -> object.c
 * records.c (raw reads, record table, page cache, mapped windows and their
 * SIGBUS guard, CRC; records.h) and
 * object.c (arena, repr, lookup) call nothing else in src/pt (dtype.c aside). */
#ifndef DUMPVIEW_PT_INTERNAL_H
#define DUMPVIEW_PT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <zip.h>

#include "dumpview/pt.h"

struct pt_record; /* records.h */

/* What an object is to the pickle machine, beyond its public kind. */
enum pobj_tag {
	TAG_VALUE,    /* an ordinary node */
	TAG_GLOBAL,   /* a GLOBAL reference: kind PT_OBJECT, cls "module.name", no args */
	TAG_STORAGE,  /* a persistent storage: kind PT_OBJECT, cls "torch.storage" */
};

/* A node plus bookkeeping. The public pt_obj comes last so that non-tensor
 * nodes can be allocated without the (large) pt_tensor part of the union. */
typedef struct pobj {
	struct pobj *next_heap;  /* nodes owning malloc'd item arrays, freed at close */
	uint64_t nodes;          /* nodes reachable, counting shared ones each time */
	size_t cap;              /* allocated items of a growable container */
	uint32_t depth;          /* nesting depth below this node */
	uint8_t tag;
	bool sealed;             /* adopted by a container: no longer mutable */
	bool fixed;              /* items in the arena (TUPLE, FROZENSET): never grown */
	bool heap_items;         /* a growable container's items moved to malloc'd arrays */
	/* TAG_STORAGE */
	const char *key, *location;
	dv_dtype dtype;          /* typed (v2) storage dtype; INVALID for UntypedStorage */
	int64_t numel;           /* as pickled: elements (v2) or bytes (untyped) */
	pt_obj o;
} pobj;

#define POBJ(obj) ((pobj *)((char *)(obj) - offsetof(pobj, o)))

typedef struct arena_block {
	struct arena_block *next;
	size_t used, size;
	max_align_t data[];
} arena_block;

/* One central directory entry, as the libzip-free reader keeps it. */
typedef struct pt_zent {
	const char *name;        /* printable ASCII, NUL-terminated */
	uint32_t name_len;
	uint16_t flags, method;
	uint32_t crc;
	uint64_t csize, size;
	uint64_t lho;            /* local header offset */
	uint64_t data;           /* data offset once the local header is checked; 0: not yet */
} pt_zent;

struct pt_file {
	char *name;
	const char *format;
	pt_limits lim;

	arena_block *arena;
	size_t mem_used;         /* arena blocks and item arrays, against lim.max_memory */
	pobj *heap_list;
	size_t nobjects;
	pt_obj *root;

	pt_tensor **tensors;     /* every tensor the pickles built, to resolve against records */
	size_t ntensors, cap_tensors;

	/* container */
	int fd;                  /* -1 when reading from a buffer */
	const uint8_t *buf;
	uint64_t buflen;         /* buffer or file size */
	zip_t *zip;
	uint8_t *own_buf;        /* a small file read whole: buf points here */
	size_t own_cap;          /* own_buf's size (pt_reuse_buf) */
	uint8_t *head;           /* a large file's first bytes, read by the scan's guess */
	size_t headlen, head_cap; /* bytes read into head; head's size (pt_reuse_buf) */
	/* the central directory parsed without libzip (stored archives) */
	struct pt_zent *zents;
	size_t nzents;
	struct pt_zent **zsorted; /* the entries sorted by name */
	char *znames;
	size_t zcommon;          /* the length of the prefix every name shares */
	bool zents_in_arena;     /* the directory's block is arena memory */
	uint64_t zcd_off;        /* where the central directory starts */
	struct pt_record *recs;         /* sorted by key once the pickle is parsed */
	size_t nrecs, cap_recs;
	bool big_endian;

	/* the open zip entry of the last sequential read */
	zip_file_t *zf;
	size_t zf_rec;
	uint64_t zf_pos;
	bool zf_whole;           /* read from 0 without seeking: CRC can be checked */

	/* CRC-32 of a REC_RAW record being read sequentially from its start */
	size_t crc_rec;          /* record index + 1; 0: none */
	uint64_t crc_pos;
	uint32_t crc_val;

	uint8_t *scratch;        /* conversion and skip buffer */
	size_t scratch_cap;

	/* pages of one record for strided reads of big records (clock LRU) */
	uint8_t *pc_data;
	uint64_t *pc_page;       /* page number + 1 in each slot; 0: free */
	uint8_t *pc_ref;
	int32_t *pc_hash;        /* open addressing: slot or -1 */
	size_t pc_rec;           /* record index + 1; 0: none */
	size_t pc_hand, pc_used;

	/* a window of one record for strided reads */
	uint8_t *win;
	size_t win_cap;
	size_t win_rec;
	uint64_t win_off, win_len;

	/* a window of the file mapped for zero-copy reads (pt_tensor_map) */
	pt_map_win map;
};

/* object.c */
void *pt_arena_alloc(pt_file *f, size_t size);

/* pt_arena_alloc's common case inline: room left in the current block. */
static inline void *pt_arena_alloc_fast(pt_file *f, size_t size)
{
	arena_block *b = f->arena;
	size_t align = sizeof(max_align_t);

	size = (size + align - 1) & ~(align - 1);
	if (b && size && b->size - b->used >= size) {
		void *p = (char *)b->data + b->used;

		b->used += size;
		return p;
	}
	return pt_arena_alloc(f, size);
}
char *pt_arena_strndup(pt_file *f, const char *s, size_t len);
/* A buffer of at least size bytes (*cap: its size), the thread's last
 * given back when it fits; pt_reuse_buf_give keeps it for the next file
 * between pt_reuse_begin and pt_reuse_end, else frees it. */
uint8_t *pt_reuse_buf(size_t size, size_t *cap);
void pt_reuse_buf_give(uint8_t *buf, size_t cap);
void pt_reuse_begin(void);
void pt_reuse_end(void);
bool pt_reuse_on(void);
void pt_arena_free(pt_file *f);
pt_file *pt_file_new(const char *name, const pt_limits *limits);

/* tensor.c: gives each tensor its record's size and checks its extent. */
int pt_resolve_tensors(pt_file *f, dv_error *err);
extern size_t pt_window_small;     /* strided reads: span read as one window */
extern uint64_t pt_window_whole;   /* records read whole for strided reads */

#endif
