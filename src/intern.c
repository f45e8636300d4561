/* The intern table (intern.h): values packed in arena blocks that are never
 * freed (each block links the one before, so every value stays reachable),
 * found again through an open-addressing index of their hashes. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/intern.h"

#define BLOCK_BYTES (64 * 1024)

typedef struct block {
	struct block *prev;
	size_t used, size;
	_Alignas(8) unsigned char data[];
} block;

typedef struct slot {
	uint64_t hash;
	const unsigned char *data; /* NULL: empty */
	uint32_t len;              /* bytes of the value (a string's without its NUL) */
	uint32_t kind;
} slot;

enum { KIND_DIMS, KIND_STR, KIND_BYTES };

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static block *blocks;
static slot *slots;
static size_t nslots, nused, held;
static const int64_t no_dims[1];

static uint64_t hash_bytes(const void *p, size_t n, uint32_t kind)
{
	const unsigned char *b = p;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ kind ^ ((uint64_t)n << 32), w;
	size_t i = 0;

	/* 8 bytes a step: dims are int64s, a record is words */
	for (; i + 8 <= n; i += 8) {
		memcpy(&w, b + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	for (; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h ^ (h >> 29);
}

static bool grow(void)
{
	size_t n = nslots ? nslots * 2 : 1024;
	slot *s = calloc(n, sizeof(*s));

	if (!s)
		return false;
	for (size_t i = 0; i < nslots; i++) {
		if (!slots[i].data)
			continue;
		size_t j = slots[i].hash & (n - 1);

		while (s[j].data)
			j = (j + 1) & (n - 1);
		s[j] = slots[i];
	}
	held += (n - nslots) * sizeof(*s);
	free(slots);
	slots = s;
	nslots = n;
	return true;
}

/* A copy of len bytes (plus a NUL for strings) in the newest block. */
static unsigned char *store(const void *p, size_t len, uint32_t kind)
{
	size_t need = (len + (kind == KIND_STR) + 7) & ~(size_t)7;
	unsigned char *at;

	if (!blocks || blocks->size - blocks->used < need) {
		size_t size = need > BLOCK_BYTES / 4 ? need : BLOCK_BYTES - sizeof(block);
		block *b = malloc(sizeof(block) + size);

		if (!b)
			return NULL;
		b->prev = blocks;
		b->used = 0;
		b->size = size;
		held += sizeof(block) + size;
		/* a large value gets a block of its own, behind the current one */
		if (need > BLOCK_BYTES / 4 && blocks) {
			b->prev = blocks->prev;
			blocks->prev = b;
		} else {
			blocks = b;
		}
		at = b->data + b->used;
		b->used += need;
		memcpy(at, p, len);
		if (kind == KIND_STR)
			at[len] = 0;
		return at;
	}
	at = blocks->data + blocks->used;
	blocks->used += need;
	memcpy(at, p, len);
	if (kind == KIND_STR)
		at[len] = 0;
	return at;
}

static const void *intern(const void *p, size_t len, uint32_t kind)
{
	uint64_t h = hash_bytes(p, len, kind);
	const void *out = NULL;

	if (len > UINT32_MAX)
		return NULL;
	pthread_mutex_lock(&mu);
	if ((nused + 1) * 2 > nslots && !grow())
		goto done;
	size_t j = h & (nslots - 1);

	for (; slots[j].data; j = (j + 1) & (nslots - 1)) {
		if (slots[j].hash == h && slots[j].len == len && slots[j].kind == kind &&
		    !memcmp(slots[j].data, p, len)) {
			out = slots[j].data;
			goto done;
		}
	}
	if (!(slots[j].data = store(p, len, kind)))
		goto done;
	slots[j].hash = h;
	slots[j].len = (uint32_t)len;
	slots[j].kind = kind;
	nused++;
	out = slots[j].data;
done:
	pthread_mutex_unlock(&mu);
	return out;
}

const int64_t *dv_intern_dims(const int64_t *dims, int n)
{
	/* a thread's pairs mostly have its last shape: no lock for it */
	static _Thread_local const int64_t *last;
	static _Thread_local int last_n = -1;
	const int64_t *got;

	if (n <= 0)
		return no_dims;
	if (n == last_n && !memcmp(last, dims, (size_t)n * sizeof(*dims)))
		return last;
	if ((got = intern(dims, (size_t)n * sizeof(*dims), KIND_DIMS))) {
		last = got;
		last_n = n;
	}
	return got;
}

const char *dv_intern_str(const char *s)
{
	return intern(s, strlen(s), KIND_STR);
}

/* ---- tag keys by number ---- */

#define KEY_CHUNKS 4096 /* 16 Mi keys */

const char **dv_key_chunks[KEY_CHUNKS];
static pthread_mutex_t key_mu = PTHREAD_MUTEX_INITIALIZER;
static struct key_slot {
	const char *s; /* interned: one pointer a key */
	uint32_t id;
} *key_slots;
static size_t nkey_slots;
static uint32_t nkeys;

static size_t key_hash(const char *s)
{
	uintptr_t h = (uintptr_t)s;

	return (size_t)((h >> 3) * 0x9e3779b97f4a7c15ull >> 17);
}

static bool key_grow(void)
{
	size_t n = nkey_slots ? nkey_slots * 2 : 256;
	struct key_slot *t = calloc(n, sizeof(*t));

	if (!t)
		return false;
	for (size_t i = 0; i < nkey_slots; i++) {
		if (!key_slots[i].s)
			continue;
		size_t j = key_hash(key_slots[i].s) & (n - 1);

		while (t[j].s)
			j = (j + 1) & (n - 1);
		t[j] = key_slots[i];
	}
	free(key_slots);
	key_slots = t;
	nkey_slots = n;
	return true;
}

uint32_t dv_key_id(const char *k, size_t kl)
{
	const char *s = intern(k, kl, KIND_STR);
	uint32_t id = DV_KEY_NONE;

	if (!s)
		return DV_KEY_NONE;
	pthread_mutex_lock(&key_mu);
	if (((size_t)nkeys + 1) * 2 > nkey_slots && !key_grow())
		goto done;
	size_t j = key_hash(s) & (nkey_slots - 1);

	for (; key_slots[j].s; j = (j + 1) & (nkey_slots - 1)) {
		if (key_slots[j].s == s) {
			id = key_slots[j].id;
			goto done;
		}
	}
	if (nkeys / DV_KEY_CHUNK >= KEY_CHUNKS)
		goto done;
	if (!dv_key_chunks[nkeys / DV_KEY_CHUNK] &&
	    !(dv_key_chunks[nkeys / DV_KEY_CHUNK] = calloc(DV_KEY_CHUNK, sizeof(const char *))))
		goto done;
	/* the name is in place before the id is handed out */
	dv_key_chunks[nkeys / DV_KEY_CHUNK][nkeys % DV_KEY_CHUNK] = s;
	key_slots[j].s = s;
	key_slots[j].id = id = nkeys++;
done:
	pthread_mutex_unlock(&key_mu);
	return id;
}

const void *dv_intern_bytes(const void *p, size_t n)
{
	return intern(p, n, KIND_BYTES);
}

size_t dv_intern_held(void)
{
	size_t n;

	pthread_mutex_lock(&mu);
	n = held;
	pthread_mutex_unlock(&mu);
	return n;
}

/* ---- pools ---- */

#if defined(__SANITIZE_ADDRESS__)
#define POOL_PLAIN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_PLAIN 1
#endif
#endif

#define POOL_BLOCK_BYTES (256 * 1024)

void *dv_pool_alloc(dv_pool *p)
{
#ifdef POOL_PLAIN
	return calloc(1, p->size);
#else
	void *obj;

	pthread_mutex_lock(&p->mu);
	if (p->free_list) {
		obj = p->free_list;
		p->free_list = *(void **)obj;
	} else {
		if (!p->left) {
			size_t per = (POOL_BLOCK_BYTES - 16) / p->size;
			unsigned char *b = malloc(16 + (per ? per : 1) * p->size);

			if (!b) {
				pthread_mutex_unlock(&p->mu);
				return NULL;
			}
			*(void **)b = p->blocks;
			p->blocks = b;
			p->left = per ? per : 1;
		}
		obj = (unsigned char *)p->blocks + 16 + --p->left * p->size;
	}
	pthread_mutex_unlock(&p->mu);
	memset(obj, 0, p->size);
	return obj;
#endif
}

void dv_pool_free(dv_pool *p, void *obj)
{
#ifdef POOL_PLAIN
	(void)p;
	free(obj);
#else
	if (!obj)
		return;
	pthread_mutex_lock(&p->mu);
	*(void **)obj = p->free_list;
	p->free_list = obj;
	pthread_mutex_unlock(&p->mu);
#endif
}
