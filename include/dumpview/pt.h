/* Reading one torch.save file (zip or legacy format) safely.
 *
 * pt_open parses the pickle into an object tree; no storage bytes are read.
 * Tensor elements are read only when asked, in chunks. Nothing from the pickle
 * is ever executed: GLOBALs outside an allow-list become opaque objects.
 * A pt_file is not thread-safe: each thread opens its own. */
#ifndef DUMPVIEW_PT_H
#define DUMPVIEW_PT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpview/dtype.h"
#include "dumpview/error.h"

#define PT_MAX_DIMS 64

typedef struct pt_file pt_file;
typedef struct pt_obj pt_obj;

typedef enum pt_kind {
	PT_NONE,
	PT_BOOL,
	PT_INT,     /* 64-bit signed */
	PT_FLOAT,
	PT_STR,     /* UTF-8, may contain NULs: use len */
	PT_BYTES,
	PT_LIST,
	PT_TUPLE,
	PT_SET,     /* set and frozenset */
	PT_DICT,    /* keys of any kind, insertion order kept */
	PT_OBJECT,  /* anything else: class name, args, state; never executed */
	PT_TENSOR,
} pt_kind;

typedef struct pt_tensor {
	dv_dtype dtype;
	int ndim;                       /* 0 for a 0-dim scalar */
	int64_t shape[PT_MAX_DIMS];
	int64_t stride[PT_MAX_DIMS];    /* in elements; 0 (expand) and permuted allowed */
	int64_t storage_offset;         /* in elements */
	int64_t numel;                  /* product of shape (1 for 0-dim) */
	bool requires_grad;
	bool conj, neg;                 /* metadata flags from _rebuild_tensor_v2 */
	const char *storage_key;        /* "0", "1"... (record data/<key>); NULL if no data (meta tensor) */
	const char *device;             /* "cpu", "cuda:0"... informational */
	int64_t storage_nbytes;         /* bytes in the storage record */
} pt_tensor;

/* Nodes belong to their pt_file and live until pt_close. Use them through
 * pointers only: a non-tensor node is allocated without the (large) tensor
 * part of the union, so never copy a pt_obj by value (copying a pt_tensor
 * out of a PT_TENSOR node is fine). The tree is acyclic; a node may be
 * shared (the same tensor under two keys). */
struct pt_obj {
	pt_kind kind;
	union {
		bool b;
		int64_t i;
		double f;
		struct { const char *data; size_t len; } str;               /* STR, BYTES (NUL-terminated too) */
		struct { pt_obj **items; size_t len; } seq;                  /* LIST, TUPLE, SET */
		struct { pt_obj **keys; pt_obj **values; size_t len; } dict; /* DICT */
		struct { const char *cls; pt_obj *args; pt_obj *state; } object; /* OBJECT: "module.Name"; args/state may be NULL */
		pt_tensor tensor;                                            /* TENSOR */
	} u;
};

/* Bounds on what a file may make the reader allocate; every check names the
 * file and the limit. pt_limits_default() gives generous values for real dumps. */
typedef struct pt_limits {
	size_t max_pickle_bytes;    /* size of data.pkl */
	size_t max_depth;           /* nesting of containers */
	size_t max_stack;           /* pickle stack entries */
	size_t max_memo;            /* memo entries */
	size_t max_objects;         /* objects built in total */
	size_t max_string;          /* one str/bytes */
	uint64_t max_record_bytes;  /* one storage record */
	/* Skip the CRC-32 check of whole sequential reads of stored tensor
	 * records (torch never checks them either). pt_limits_default() sets it
	 * unless pt_set_verify_crc(true) was called. Sizes, offsets and every
	 * bound are checked either way, and so are the CRCs of data.pkl and
	 * byteorder; records libzip reads (deflated, unusual zips) are checked
	 * by libzip always. */
	bool no_crc_check;
	/* Bytes the object tree may take (nodes, strings, item arrays); 0 means
	 * the default. Checked as the tree grows, so hostile pickles stop early. */
	size_t max_memory;
} pt_limits;

pt_limits pt_limits_default(void);
/* The process-wide default of no_crc_check (off: not verified); set once at
 * start-up, before files are opened (`--verify-crc`). */
void pt_set_verify_crc(bool on);

/* Opens and parses a .pt file. On failure returns NULL and err says e.g.
 * "x.pt: not a torch checkpoint (Git LFS pointer)". */
pt_file *pt_open(const char *path, dv_error *err);
pt_file *pt_open_ex(const char *path, const pt_limits *limits, dv_error *err);
/* Between these two, pt_open on this thread opens files through descriptors
 * of the last few folders it opened files in (fewer path lookups), and
 * pt_close keeps a file's buffers for the next one; for a worker over many
 * files, whose folders do not change under it meanwhile. end closes and
 * frees them. */
void pt_dircache_begin(void);
void pt_dircache_end(void);
/* The same from bytes in memory (the buffer must outlive the pt_file); name is used in messages. */
pt_file *pt_open_buffer(const void *data, size_t len, const char *name, const pt_limits *limits, dv_error *err);
/* Parses a bare pickle (no container): tensors get no data. For unit tests and fuzzing. */
pt_file *pt_open_pickle(const void *data, size_t len, const char *name, const pt_limits *limits, dv_error *err);
void pt_close(pt_file *f);

const char *pt_file_name(const pt_file *f);   /* the path or name given to open */
const char *pt_file_format(const pt_file *f); /* "zip", "legacy" or "pickle" */
const pt_obj *pt_root(const pt_file *f);

/* Path syntax of `dumpview show`: "$", "$['value']", "$['meta']['rank']", "$['list'][0]", "$[1]".
 * Dict keys and indexes are written as Python's repr. NULL if there is no such node. */
const pt_obj *pt_lookup(const pt_obj *root, const char *path);
/* Python repr of a scalar (None, True, 3, 0.5, 'str', b'..') into buf; returns length. */
size_t pt_repr(const pt_obj *o, char *buf, size_t size);
/* The whole value as Python-like text, no length limit: containers in full,
 * objects as cls(args, state=...), tensors as tensor(shape=[..], dtype=..).
 * malloc'd (the length in *len when len is not NULL); NULL when out of memory. */
char *pt_print(const pt_obj *o, size_t *len);
/* Python's name of a kind: "None", "int", "str", "dict", "tensor"... */
const char *pt_kind_name(pt_kind k);
/* Dict value by string key, or NULL. */
const pt_obj *pt_dict_get(const pt_obj *dict, const char *key);

/* The dumped value of an sglang dump file: the root, or root['value'] when the
 * root is a dict {"value": ..., "meta": ...}. */
const pt_obj *pt_dump_value(const pt_file *f);
/* The meta dict of a dump file, or NULL. */
const pt_obj *pt_dump_meta(const pt_file *f);

/* Reads elements [start, start+count) of t in logical row-major order into out,
 * as contiguous little-endian elements of t->dtype (count * itemsize bytes).
 * Honours offset, any strides, and a big-endian byteorder record. Streams: call
 * repeatedly with increasing start; sequential chunks of a contiguous tensor
 * cost no seeks. Checks the tensor's extent against the record first. */
int pt_tensor_read(pt_file *f, const pt_tensor *t, int64_t start, int64_t count, void *out, dv_error *err);
/* Whether pt_tensor_read of t may run on several threads at once (on any
 * ranges): a contiguous tensor in a stored record read with pread, its CRC
 * not being checked. */
bool pt_tensor_concurrent(pt_file *f, const pt_tensor *t);
/* Elements [start, start+count) of t as stored, mapped from the file
 * instead of copied: 1 with *out valid until the next pt_tensor_map on f
 * or its close, 0 when t cannot be mapped (compressed, strided,
 * big-endian, its CRC to check: read it with pt_tensor_read instead), -1
 * with err. Touch the bytes only inside pt_map_guarded: the file may be
 * cut short under the mapping. */
int pt_tensor_map(pt_file *f, const pt_tensor *t, int64_t start, int64_t count, const void **out, dv_error *err);
/* A mapping window of a caller's own: pt_tensor_map_win maps into it, so
 * that several threads each read one file in place through their own
 * window (pt_tensor_map's window is the file's, one at a time). Zeroed
 * before first use; pt_map_win_drop unmaps it (before the file closes). */
typedef struct pt_map_win {
	uint8_t *map;
	uint64_t off, len;         /* file offset (page-aligned) and length */
} pt_map_win;
/* pt_tensor_map into w: exactly [start, start+count) mapped (page-rounded),
 * valid until the next call on w or pt_map_win_drop. Thread-safe where
 * pt_tensor_concurrent(f, t) holds, each thread with its own w. */
int pt_tensor_map_win(pt_file *f, const pt_tensor *t, pt_map_win *w, int64_t start, int64_t count,
		      const void **out, dv_error *err);
void pt_map_win_drop(pt_map_win *w);
/* Whether the fault pt_map_guarded last reported on this thread was in w. */
bool pt_map_win_faulted(const pt_map_win *w);
/* Runs fn(arg): 0, or -1 when fn touched a mapped page whose file is gone
 * (truncated while mapped): fn is then cut short where it was, so it must
 * hold no lock nor allocation of its own. pt_map_faulted(f) says whether
 * that page was f's. */
int pt_map_guarded(void (*fn)(void *), void *arg);
bool pt_map_faulted(const pt_file *f);
/* The same, converted (real dtypes only). */
int pt_tensor_read_f32(pt_file *f, const pt_tensor *t, int64_t start, int64_t count, float *out, dv_error *err);
int pt_tensor_read_f64(pt_file *f, const pt_tensor *t, int64_t start, int64_t count, double *out, dv_error *err);

/* Checks that t's extent fits its storage record; 0 or -1 with err
 * "x.pt: storage data/0 holds 20 bytes, tensor needs 60". */
int pt_tensor_check(pt_file *f, const pt_tensor *t, dv_error *err);
/* True if elements are laid out row-major without gaps (fast path). */
bool pt_tensor_is_contiguous(const pt_tensor *t);

#endif
