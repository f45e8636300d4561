/* Resolving a run (a path, or a tag under dv_base_dir(): $DUMPER_BASE_DIR) and listing its
 * phases and files. Only directory listings and file names are read. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dumpview/comparison.h"
#include "internal.h"

#define MAX_DEPTH 16 /* folders descended below a phase; guards against link loops */

typedef struct strvec {
	char **v;
	size_t n, cap;
} strvec;

static int strvec_push(strvec *sv, const char *s)
{
	if (sv->n == sv->cap) {
		size_t cap = sv->cap ? sv->cap * 2 : 16;
		char **grown = realloc(sv->v, cap * sizeof(*grown));

		if (!grown)
			return -1;
		sv->v = grown;
		sv->cap = cap;
	}
	if (!(sv->v[sv->n] = strdup(s)))
		return -1;
	sv->n++;
	return 0;
}

static void strvec_free(strvec *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = sv->cap = 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *path_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p;

	if (!la)
		return strdup(b);
	if (!lb)
		return strdup(a);
	p = malloc(la + lb + 2);
	if (!p)
		return NULL;
	memcpy(p, a, la);
	if (a[la - 1] != '/')
		p[la++] = '/';
	memcpy(p + la, b, lb + 1);
	return p;
}

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool has_pt_suffix(const char *name)
{
	size_t n = strlen(name);

	return n > 3 && !strcmp(name + n - 3, ".pt");
}

/* Lists dir: .pt files and subfolders, each sorted by name; dot-entries skipped. */
static int list_dir(const char *dir, strvec *pts, strvec *dirs, dv_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return dv_error_set(err, "%s: cannot read folder: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		bool sub = false, file = false;

		if (de->d_name[0] == '.')
			continue;
		if (de->d_type == DT_DIR) {
			sub = true;
		} else if (de->d_type == DT_UNKNOWN || de->d_type == DT_LNK) {
			char *p = path_join(dir, de->d_name);
			struct stat st;

			if (p && stat(p, &st) == 0) {
				sub = S_ISDIR(st.st_mode);
				file = !sub;
			}
			free(p);
		} else {
			/* a FIFO, socket or device named *.pt is listed too: opening
			 * it fails at once, so it is reported, not silently dropped */
			file = true;
		}
		if ((sub && strvec_push(dirs, de->d_name)) ||
		    (file && has_pt_suffix(de->d_name) && strvec_push(pts, de->d_name))) {
			closedir(d);
			return dv_error_set(err, "%s: out of memory", dir);
		}
	}
	closedir(d);
	if (pts->n)
		qsort(pts->v, pts->n, sizeof(char *), cmp_str);
	if (dirs->n)
		qsort(dirs->v, dirs->n, sizeof(char *), cmp_str);
	return 0;
}

int dv_phase_rank(const char *name)
{
	if (!strcmp(name, "inference"))
		return 0;
	if (!strcmp(name, "fwd_only"))
		return 1;
	if (!strcmp(name, "fwd_bwd"))
		return 2;
	return 3;
}

/* The canonical phase of a folder name, or NULL: engines is inference. */
static const char *known_phase(const char *folder)
{
	if (!strcmp(folder, "inference") || !strcmp(folder, "engines"))
		return "inference";
	if (!strcmp(folder, "fwd_only") || !strcmp(folder, "fwd_bwd"))
		return folder;
	return NULL;
}

/* What the whole walk of one run shares: the folders already read (each
 * real folder once, whatever links lead to it) and where the run really is. */
typedef struct walk {
	dv_run *run;
	char *real_root;          /* realpath of the run's root */
	bool follow_symlinks;
	void (*phase_listed)(void *ctx, const dv_run *run, const dv_phase *phase);
	void *phase_ctx;
	struct dev_ino {
		dev_t dev;
		ino_t ino;
	} *seen;                  /* open addressing; ino 0 marks a free slot */
	size_t nseen, capseen;
} walk;

/* Adds (dev, ino); false when it was there already (or out of memory: the
 * folder is then not read twice either way). */
static bool walk_visit(walk *w, dev_t dev, ino_t ino, bool *oom)
{
	size_t h;

	if ((w->nseen + 1) * 2 > w->capseen) {
		size_t cap = w->capseen ? w->capseen * 2 : 64;
		struct dev_ino *grown = calloc(cap, sizeof(*grown));

		if (!grown) {
			*oom = true;
			return false;
		}
		for (size_t i = 0; i < w->capseen; i++) {
			if (!w->seen[i].ino)
				continue;
			h = ((size_t)w->seen[i].ino * 0x9e3779b97f4a7c15u ^ (size_t)w->seen[i].dev) & (cap - 1);
			while (grown[h].ino)
				h = (h + 1) & (cap - 1);
			grown[h] = w->seen[i];
		}
		free(w->seen);
		w->seen = grown;
		w->capseen = cap;
	}
	if (!ino)
		ino = (ino_t)-1; /* 0 is the free mark */
	h = ((size_t)ino * 0x9e3779b97f4a7c15u ^ (size_t)dev) & (w->capseen - 1);
	while (w->seen[h].ino) {
		if (w->seen[h].ino == ino && w->seen[h].dev == dev)
			return false;
		h = (h + 1) & (w->capseen - 1);
	}
	w->seen[h].dev = dev;
	w->seen[h].ino = ino;
	w->nseen++;
	return true;
}

/* Records a folder left out ("rel: why"). -1 only when out of memory. */
static int walk_problem(walk *w, const char *rel, dv_error *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int walk_problem(walk *w, const char *rel, dv_error *err, const char *fmt, ...)
{
	char why[512], *line = NULL;
	char **grown;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	grown = realloc(w->run->problems, (w->run->nproblems + 1) * sizeof(*grown));
	if (!grown || asprintf(&line, "%s: %s", rel && *rel ? rel : ".", why) < 0) {
		if (grown)
			w->run->problems = grown;
		return dv_error_set(err, "%s: out of memory", w->run->root);
	}
	w->run->problems = grown;
	w->run->problems[w->run->nproblems++] = line;
	return 0;
}

/* A symlinked folder is followed only when it resolves inside the run (or
 * with follow_symlinks): a link must not pull in foreign folders. Returns 1
 * to read dir, 0 to leave it out (recorded), -1 out of memory. */
static int walk_allowed(walk *w, const char *dir, const char *rel, dv_error *err)
{
	struct stat st;
	char *real;
	size_t n;
	bool inside;

	if (w->follow_symlinks || lstat(dir, &st) || !S_ISLNK(st.st_mode) || !w->real_root)
		return 1;
	if (!(real = realpath(dir, NULL)))
		return walk_problem(w, rel, err, "cannot read folder: %s", strerror(errno)) ? -1 : 0;
	n = strlen(w->real_root);
	inside = !strncmp(real, w->real_root, n) && (real[n] == '/' || real[n] == '\0' ||
						    (n == 1 && w->real_root[0] == '/'));
	free(real);
	if (inside)
		return 1;
	return walk_problem(w, rel, err, "not followed: a symlink to a folder outside the run "
			    "(--follow-symlinks follows it)") ? -1 : 0;
}

/* Files gathered for one phase. */
typedef struct phase_builder {
	dv_dumpfile *files;
	size_t n, cap;
	const pcre2_code *layer_re;
	const char *root;
	_Atomic size_t *listed;   /* progress counter (may be NULL) */
	walk *w;
} phase_builder;

static int64_t parse_i64(const char *s)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -1;
	/* plain digits (what dumps name), too few to overflow: strtoll's
	 * value without its locale and sign handling */
	v = 0;
	for (size_t i = 0; i < 18 && s[i] >= '0' && s[i] <= '9'; i++) {
		v = v * 10 + (s[i] - '0');
		if (!s[i + 1])
			return v;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end || errno)
		return -1;
	return v;
}

const char *dv_dumpfile_stem(const dv_dumpfile *f, size_t *len)
{
	size_t fl;

	if (f->name_is_stem) {
		*len = strlen(f->name);
		return f->name;
	}
	fl = strlen(dv_dumpfile_filename(f));
	*len = fl > 3 && has_pt_suffix(dv_dumpfile_filename(f)) ? fl - 3 : fl;
	return dv_dumpfile_filename(f);
}

void dv_dumpfile_free(dv_dumpfile *f)
{
	/* a renamed file's name is its own allocation; the first name lies in
	 * the block */
	if (f->renamed)
		free((char **)(uintptr_t)f->name - 1);
	if (!f->block_in_arena)
		free(f->tags);
}

/* A listed file's block is packed in its run's arena: no allocator header
 * or rounding a file (~15 B). Under ASan each is its own malloc, so misuse
 * is still seen. */
#if defined(__SANITIZE_ADDRESS__)
#define BLOCK_ARENA 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BLOCK_ARENA 0
#endif
#endif
#ifndef BLOCK_ARENA
#define BLOCK_ARENA 1
#endif
/* a chunk's allocation with malloc's header fits 64 pages: not one more
 * page touched for 16 bytes */
#define BLOCK_CHUNK (256 * 1024 - 32)

struct dv_block_chunk {
	struct dv_block_chunk *prev;
	size_t used, size;
	_Alignas(dv_file_tag) char data[];
};

/* Where the arena stood, to give back what was allocated after it. */
typedef struct block_mark {
	struct dv_block_chunk *chunk;
	size_t used;
} block_mark;

static void *block_alloc(dv_run *run, size_t size)
{
	struct dv_block_chunk *c = run->blocks;
	void *at;

	size = (size + _Alignof(dv_file_tag) - 1) & ~(size_t)(_Alignof(dv_file_tag) - 1);
	if (!c || c->size - c->used < size) {
		size_t cap = size > BLOCK_CHUNK - sizeof(*c) ? size : BLOCK_CHUNK - sizeof(*c);

		if (!(c = malloc(sizeof(*c) + cap)))
			return NULL;
		c->prev = run->blocks;
		c->used = 0;
		c->size = cap;
		run->blocks = c;
	}
	at = c->data + c->used;
	c->used += size;
	return at;
}

static block_mark block_mark_of(const dv_run *run)
{
	return (block_mark){run->blocks, run->blocks ? run->blocks->used : 0};
}

static void block_rewind(dv_run *run, block_mark m)
{
	while (run->blocks && run->blocks != m.chunk) {
		struct dv_block_chunk *prev = run->blocks->prev;

		free(run->blocks);
		run->blocks = prev;
	}
	if (run->blocks)
		run->blocks->used = m.used;
}

static void blocks_free(dv_run *run)
{
	block_rewind(run, (block_mark){NULL, 0});
}

/* A file's block, in the run's arena when there is one. */
static dv_file_tag *file_block(dv_dumpfile *f, dv_run *run, size_t size)
{
	if (BLOCK_ARENA && run) {
		f->block_in_arena = 1;
		return block_alloc(run, size);
	}
	f->block_in_arena = 0;
	return malloc(size);
}

/* The pointers into a file's block (f->block_size bytes at old) after its
 * strings moved by delta: the name and, for a renamed file, the first name
 * kept just before it (either may lie outside the block). */
static const char *moved_ptr(const char *p, const char *old, size_t size, ptrdiff_t delta)
{
	return (uintptr_t)p >= (uintptr_t)old && (uintptr_t)p < (uintptr_t)old + size ? p + delta : p;
}

static void block_strings_moved(dv_dumpfile *f, const char *old, ptrdiff_t delta)
{
	f->name = moved_ptr(f->name, old, f->block_size, delta);
	if (f->renamed) {
		const char **first = (const char **)(uintptr_t)f->name - 1;

		*first = moved_ptr(*first, old, f->block_size, delta);
	}
}

/* Moves a file's block (malloc'd) into the run's arena as it is. */
static int block_pack(dv_dumpfile *f, dv_run *run)
{
	char *old = (char *)f->tags, *block;
	ptrdiff_t delta;

	if (f->block_in_arena || !(block = block_alloc(run, f->block_size)))
		return f->block_in_arena ? 0 : -1;
	memcpy(block, old, f->block_size);
	delta = block - old;
	block_strings_moved(f, old, delta);
	f->tags = (dv_file_tag *)block;
	f->block_in_arena = 1;
	free(old);
	return 0;
}

/* Whether path_join(reldir, fname) is a tail of path_join(dir, fname).
 * Both folder parts, when not empty, end in '/' there (their own or the
 * one path_join adds): what comes before it is compared. */
static bool rel_is_tail(const char *dir, const char *reldir)
{
	size_t dl = strlen(dir), rl = strlen(reldir);
	size_t dn = dl + (dl && dir[dl - 1] != '/'), rn = rl + (rl && reldir[rl - 1] != '/');

	if (rn > dn)
		return false;
	return !rn || !memcmp(reldir, dir + (dn - rn), rn - 1);
}

/* The number of a tag key (dv_key_id), through the run's table of the keys
 * it met first: no lock for them. DV_KEY_NONE when out of memory. */
static uint32_t intern_key(dv_run *run, const char *k, size_t kl, size_t hint, size_t *slot)
{
	const char **grown;
	uint32_t *grown_ids, id;

	*slot = SIZE_MAX;
	if (!run)
		return dv_key_id(k, kl);
	/* files of a run mostly name their tags in one order: the n-th tag's
	 * key is then the n-th key the run met */
	if (hint < run->ntag_keys && !strncmp(run->tag_keys[hint], k, kl) && !run->tag_keys[hint][kl]) {
		*slot = hint;
		return run->tag_key_ids[hint];
	}
	for (size_t i = 0; i < run->ntag_keys; i++)
		if (!strncmp(run->tag_keys[i], k, kl) && !run->tag_keys[i][kl]) {
			*slot = i;
			return run->tag_key_ids[i];
		}
	if ((id = dv_key_id(k, kl)) == DV_KEY_NONE || run->ntag_keys == DV_RUN_TAG_KEYS)
		return id;
	if (!(grown = realloc(run->tag_keys, (run->ntag_keys + 1) * sizeof(*grown))))
		return id;
	run->tag_keys = grown;
	if (!(grown_ids = realloc(run->tag_key_ids, (run->ntag_keys + 1) * sizeof(*grown_ids))))
		return id;
	run->tag_key_ids = grown_ids;
	run->tag_keys[run->ntag_keys] = dv_key_name(id);
	*slot = run->ntag_keys;
	run->tag_key_ids[run->ntag_keys++] = id;
	return id;
}

/* A key's recent values: one seen again is kept once for every file
 * (numbered through the key table: "0", "disabled", a tensor's name), one
 * seen once stays in the file's block (a dump_index is each file's own). */
#define RECENT_VALUES 16
typedef struct dv_run_values {
	struct {
		char text[23];
		unsigned char len;     /* the value's length + 1; 0: empty */
		uint32_t id;           /* DV_KEY_NONE: seen once */
	} v[RECENT_VALUES];
	unsigned next, last_hit;
	uint32_t hits, misses;  /* a key whose values rarely repeat (dump_index) is let be */
} dv_run_values;

/* The value's number when it is to be shared, else DV_KEY_NONE. */
static uint32_t shared_value(dv_run *run, size_t slot, const char *v, size_t vl)
{
	dv_run_values *c;

	if (!run || slot >= DV_RUN_TAG_KEYS || vl >= sizeof(c->v[0].text))
		return DV_KEY_NONE;
	if (!run->tag_values && !(run->tag_values = calloc(DV_RUN_TAG_KEYS, sizeof(*run->tag_values))))
		return DV_KEY_NONE;
	if (!(c = run->tag_values[slot]) && !(c = run->tag_values[slot] = calloc(1, sizeof(*c))))
		return DV_KEY_NONE;
	if (c->misses > 256 && c->hits < c->misses / 8)
		return DV_KEY_NONE;
	for (unsigned k = 0; k < RECENT_VALUES; k++) {
		unsigned i = (c->last_hit + k) % RECENT_VALUES;

		if (c->v[i].len != vl + 1 || memcmp(c->v[i].text, v, vl))
			continue;
		if (c->v[i].id == DV_KEY_NONE)
			c->v[i].id = dv_key_id(v, vl); /* seen again: shared from now on */
		c->last_hit = i;
		c->hits++;
		return c->v[i].id < DV_TAG_VALUE_SHARED ? c->v[i].id : DV_KEY_NONE;
	}
	c->misses++;
	c->next = (c->next + 1) % RECENT_VALUES;
	memcpy(c->v[c->next].text, v, vl);
	c->v[c->next].len = (unsigned char)(vl + 1);
	c->v[c->next].id = DV_KEY_NONE;
	return DV_KEY_NONE;
}

static char *put(char **at, const char *s, size_t n)
{
	char *start = *at;

	memcpy(start, s, n);
	start[n] = '\0';
	*at += n + 1;
	return start;
}

/* s for a message, its middle cut out past 240 bytes ("head...tail"): a
 * message holds 512, and the reason comes after the name. */
#define MIDDLE_CUT 244
static const char *middle_cut(const char *s, char out[MIDDLE_CUT])
{
	size_t n = strlen(s);

	if (n <= 240)
		return s;
	snprintf(out, MIDDLE_CUT, "%.120s...%s", s, s + n - 120);
	return out;
}

/* The number of a path prefix (a run's folder, ending in '/', or ""), in the
 * process-wide key table: every file of a run shares one. The thread's last
 * one is found again without the table's lock. DV_KEY_NONE when out of memory. */
static uint32_t prefix_id(const char *p, size_t n)
{
	static _Thread_local const char *last;
	static _Thread_local size_t last_n;
	static _Thread_local uint32_t last_id = DV_KEY_NONE;
	uint32_t id;

	if (last_id != DV_KEY_NONE && last_n == n && !memcmp(last, p, n))
		return last_id;
	if ((id = dv_key_id(p, n)) != DV_KEY_NONE) {
		last = dv_key_name(id);
		last_n = n;
		last_id = id;
	}
	return id;
}

const char *dv_dumpfile_path(const dv_dumpfile *f, dv_path_buf *buf)
{
	const char *rel = dv_dumpfile_relpath(f), *pre;
	size_t pl, rl;

	if (f->prefix == DV_PREFIX_APART)
		return rel + strlen(rel) + 1;
	if (f->prefix == DV_PREFIX_NONE)
		return rel;
	pre = dv_key_name(f->prefix - 1);
	pl = strlen(pre);
	rl = strlen(rel);
	/* never longer (file_init refuses such a file); cut, not overrun */
	if (pl >= sizeof(buf->s))
		pl = sizeof(buf->s) - 1;
	if (rl >= sizeof(buf->s) - pl)
		rl = sizeof(buf->s) - 1 - pl;
	memcpy(buf->s, pre, pl);
	memcpy(buf->s + pl, rel, rl);
	buf->s[pl + rl] = '\0';
	return buf->s;
}

/* One file with its name's tags, at dir/fname (reldir/fname relative to
 * the run): one allocation holds its tags and names; tag keys are numbered
 * through the run's table when run is given. */
static int file_init(dv_dumpfile *f, const char *dir, const char *reldir, const char *fname, const pcre2_code *layer_re,
		     dv_run *run, dv_error *err)
{
	size_t fl = strlen(fname), sl = fl > 3 && has_pt_suffix(fname) ? fl - 3 : fl;
	size_t dl = strlen(dir), rl = strlen(reldir), n = 0, strings, kl, vl;
	size_t dn = dl ? dl + (dir[dl - 1] != '/') : 0, rn = rl ? rl + (reldir[rl - 1] != '/') : 0;
	bool tail = rel_is_tail(dir, reldir), has_name = false;
	const char *p, *k, *v, *stem = NULL;
	char *at;
	uint32_t keys[16], values[16];
	/* the first 16 tags' parts, not parsed twice */
	struct {
		const char *k, *v;
		size_t kl, vl;
	} part[16];

	memset(f, 0, sizeof(*f));
	/* a longer path could not be opened (open() refuses it), nor kept in a
	 * dv_path_buf */
	if (dn + fl + 1 > DV_PATH_MAX || rn + fl + 1 > DV_PATH_MAX) {
		char d[MIDDLE_CUT], n[MIDDLE_CUT];

		return dv_error_set(err, "%s/%s: path too long (%zu bytes; at most %d)", middle_cut(dir, d),
				    middle_cut(fname, n), (dn > rn ? dn : rn) + fl, DV_PATH_MAX - 1);
	}
	if (tail) {
		/* the path's bytes before relpath: dir's head, or dir and the
		 * slash the path puts after it when relpath has no folder */
		char slashed[DV_PATH_MAX];
		const char *pre = dir;

		if (!rn && dn > dl) {
			memcpy(slashed, dir, dl);
			slashed[dl] = '/';
			pre = slashed;
		}
		uint32_t id = dn > rn ? prefix_id(pre, dn - rn) : DV_KEY_NONE;

		if (dn > rn && (id == DV_KEY_NONE || id + 1 == DV_PREFIX_APART))
			return dv_error_set(err, "%s: out of memory", dir);
		f->prefix = dn > rn ? id + 1 : DV_PREFIX_NONE;
	} else {
		f->prefix = DV_PREFIX_APART;
	}
	strings = rn + fl + 1 + (tail ? 0 : dn + fl + 1);
	for (p = fname; dv_tag_next(&p, fname + sl, &k, &kl, &v, &vl); n++) {
		if (n < 16) {
			size_t slot;

			if ((keys[n] = intern_key(run, k, kl, n, &slot)) == DV_KEY_NONE)
				return dv_error_set(err, "%s: out of memory", dir);
			values[n] = shared_value(run, slot, v, vl);
			part[n].k = k;
			part[n].kl = kl;
			part[n].v = v;
			part[n].vl = vl;
		}
		strings += n < 16 && values[n] != DV_KEY_NONE ? 0 : vl + 1;
		has_name = has_name || (kl == 4 && !memcmp(k, "name", 4));
	}
	/* the stem is kept apart only as the name: otherwise it is the file
	 * name's head (dv_dumpfile_stem), not worth its bytes a file */
	if (!has_name)
		strings += sl + 1;
	/* the record's narrow counts: a file name of NAME_MAX bytes is far below */
	if (n > UINT16_MAX - MAX_DEPTH - 2 || n * sizeof(dv_file_tag) + strings >= DV_BLOCK_MAX)
		return dv_error_set(err, "%s/%s: file name too long", dir, fname);
	f->block_size = (uint32_t)(n * sizeof(dv_file_tag) + strings);
	if (!(f->tags = file_block(f, run, f->block_size)))
		return dv_error_set(err, "%s: out of memory", dir);
	f->ntags = f->nfile_tags = (uint16_t)n;
	at = (char *)f->tags + n * sizeof(dv_file_tag);
	memcpy(at, reldir, rl);
	if (rn > rl)
		at[rl] = '/';
	at += rn;
	put(&at, fname, fl);
	f->filename_at = (uint16_t)rn;
	if (!tail) {
		memcpy(at, dir, dl);
		if (dn > dl)
			at[dl] = '/';
		at += dn;
		put(&at, fname, fl);
	}
	if (!has_name)
		stem = put(&at, fname, sl);
	n = 0;
	/* the first tag of each special key, as dv_tag_get would find it */
	const char *name = NULL, *step = NULL, *fwd = NULL, *rank = NULL, *dump_index = NULL, *layer_id = NULL,
		   *layer = NULL;

	for (p = fname; n < f->ntags; n++) {
		const char **special = NULL;

		if (n < 16) {
			k = part[n].k;
			kl = part[n].kl;
			v = part[n].v;
			vl = part[n].vl;
			if (n == 15)
				p = v + vl;   /* where the 17th starts being looked for */
		} else if (!dv_tag_next(&p, fname + sl, &k, &kl, &v, &vl)) {
			break;
		}

		size_t slot;

		f->tags[n].key = n < 16 ? keys[n] : intern_key(run, k, kl, n, &slot);
		if (f->tags[n].key == DV_KEY_NONE) {
			if (!f->block_in_arena)
				free(f->tags);
			memset(f, 0, sizeof(*f));
			return dv_error_set(err, "%s: out of memory", dir);
		}
		if (n < 16 && values[n] != DV_KEY_NONE)
			f->tags[n].value = DV_TAG_VALUE_SHARED | values[n];
		else
			f->tags[n].value = (uint32_t)(put(&at, v, vl) - (char *)f->tags);
		switch (kl) {
		case 4:
			special = !memcmp(k, "name", 4) ? &name : !memcmp(k, "step", 4) ? &step
				: !memcmp(k, "rank", 4) ? &rank : NULL;
			break;
		case 5:
			special = !memcmp(k, "layer", 5) ? &layer : NULL;
			break;
		case 8:
			special = !memcmp(k, "layer_id", 8) ? &layer_id : NULL;
			break;
		case 10:
			special = !memcmp(k, "dump_index", 10) ? &dump_index : NULL;
			break;
		case 15:
			special = !memcmp(k, "forward_pass_id", 15) ? &fwd : NULL;
			break;
		}
		if (special && !*special)
			*special = dv_file_tag_value(f, n);
	}

	f->name = name ? name : stem;
	f->name_is_stem = !name;
	f->step = parse_i64(step ? step : fwd);
	f->rank = parse_i64(rank);
	f->dump_index = parse_i64(dump_index);
	v = layer_id ? layer_id : layer;
	f->layer = v ? dv_layer_parse(v) : -1;
	if (f->layer < 0)
		f->layer = dv_layer_from_name(layer_re, f->name);
	f->duplicate_index = 0;
	return 0;
}

int dv_dumpfile_init(dv_dumpfile *f, const char *root, const char *relpath, const pcre2_code *layer_re,
		     dv_error *err)
{
	const char *slash = strrchr(relpath, '/');
	char *reldir = slash ? strndup(relpath, (size_t)(slash - relpath)) : strdup("");
	char *dir = reldir ? path_join(root ? root : "", reldir) : NULL;
	int rc;

	if (!reldir || !dir) {
		free(reldir);
		free(dir);
		memset(f, 0, sizeof(*f));
		return dv_error_set(err, "out of memory");
	}
	rc = file_init(f, dir, reldir, slash ? slash + 1 : relpath, layer_re, NULL, err);
	free(reldir);
	free(dir);
	return rc;
}

/* Adds one file with its name's tags; folder tags are added by its folders'
 * readers once they know which sibling folders hold files. */
static int add_file(phase_builder *pb, const char *dir, const char *reldir, const char *fname, dv_error *err)
{
	dv_dumpfile *f;
	size_t dl = strlen(dir), pl = dl + (dl && dir[dl - 1] != '/') + strlen(fname);

	/* one that could not be opened (nor its path kept in a dv_path_buf):
	 * the run's problem, and the listing goes on */
	if (pl >= DV_PATH_MAX) {
		char *rel = path_join(reldir, fname);
		int rc = rel ? walk_problem(pb->w, rel, err, "not read: path too long (%zu bytes; at most %d)", pl,
					    DV_PATH_MAX - 1)
			     : dv_error_set(err, "%s: out of memory", dir);

		free(rel);
		return rc;
	}

	if (pb->n == pb->cap) {
		size_t cap = pb->cap ? pb->cap * 2 : 64;
		dv_dumpfile *grown = realloc(pb->files, cap * sizeof(*grown));

		if (!grown)
			return dv_error_set(err, "%s: out of memory", dir);
		pb->files = grown;
		pb->cap = cap;
	}
	f = &pb->files[pb->n];
	pb->n++;
	if (pb->listed)
		atomic_fetch_add_explicit(pb->listed, 1, memory_order_relaxed);
	return file_init(f, dir, reldir, fname, pb->layer_re, pb->w->run, err);
}

/* The tag a subfolder gives its files when a phase has several:
 * rollout_<i> -> rollout=<i>, engine_<i> -> engine=<i>, sglang_dump_<ts> ->
 * sglang_dump=<ordinal> (timestamps differ between runs, their order does
 * not; only folders holding files count), anything else folder=<name>. */
static void folder_tag(char **dirs, const bool *used, size_t ndirs, size_t i, char *key, size_t keysz, char *val,
		       size_t valsz)
{
	const char *d = dirs[i];

	if (!strncmp(d, "rollout_", 8)) {
		snprintf(key, keysz, "rollout");
		snprintf(val, valsz, "%s", d + 8);
	} else if (!strncmp(d, "engine_", 7)) {
		snprintf(key, keysz, "engine");
		snprintf(val, valsz, "%s", d + 7);
	} else if (!strncmp(d, "sglang_dump_", 12)) {
		double t = strtod(d + 12, NULL);
		size_t ord = 0;

		for (size_t j = 0; j < ndirs; j++) {
			double u;

			if (j == i || !used[j] || strncmp(dirs[j], "sglang_dump_", 12))
				continue;
			u = strtod(dirs[j] + 12, NULL);
			if (u < t || (u == t && strcmp(dirs[j], d) < 0))
				ord++;
		}
		snprintf(key, keysz, "sglang_dump");
		snprintf(val, valsz, "%zu", ord);
	} else {
		snprintf(key, keysz, "folder");
		snprintf(val, valsz, "%s", d);
	}
}

/* Puts key=value before the files' other folder tags (outer folders first). */
static int insert_folder_tag(phase_builder *pb, size_t from, size_t to, const char *key, const char *val,
			     dv_error *err)
{
	size_t kl = strlen(key), vl = strlen(val);
	size_t slot;
	uint32_t id = intern_key(pb->w->run, key, kl, SIZE_MAX, &slot);

	if (id == DV_KEY_NONE)
		return dv_error_set(err, "%s: out of memory", pb->root);
	for (size_t i = from; i < to; i++) {
		dv_dumpfile *f = &pb->files[i];
		size_t old_tags = f->ntags * sizeof(dv_file_tag), old_strings = f->block_size - old_tags;
		size_t size = f->block_size + sizeof(dv_file_tag) + vl + 1;
		char *block, *old = (char *)f->tags, *at;
		ptrdiff_t delta;

		if (size >= DV_BLOCK_MAX || !(block = malloc(size)))
			return dv_error_set(err, "%s: out of memory", pb->root);
		/* the strings move as one: every pointer into them moves by delta,
		 * every value's offset by one tag */
		memcpy(block + old_tags + sizeof(dv_file_tag), old + old_tags, old_strings);
		delta = (block + old_tags + sizeof(dv_file_tag)) - (old + old_tags);
		block_strings_moved(f, old, delta);
		memcpy(block, old, old_tags);
		f->tags = (dv_file_tag *)block;
		for (size_t t = 0; t < f->ntags; t++)
			if (!(f->tags[t].value & DV_TAG_VALUE_SHARED)) /* nor the name */
				f->tags[t].value += (uint32_t)sizeof(dv_file_tag);
		memmove(&f->tags[f->nfile_tags + 1], &f->tags[f->nfile_tags],
			(f->ntags - f->nfile_tags) * sizeof(dv_file_tag));
		at = block + old_tags + sizeof(dv_file_tag) + old_strings;
		f->tags[f->nfile_tags].key = id;
		f->tags[f->nfile_tags].value = (uint32_t)(put(&at, val, vl) - block);
		f->ntags++;
		if (!f->block_in_arena)
			free(old); /* else read_folder packs the files again */
		f->block_in_arena = 0;
		f->block_size = (uint32_t)size;
	}
	return 0;
}

/* Reads a phase folder: its .pt files and every subfolder. Subfolders with no
 * .pt file below are ignored; when one subfolder alone holds files (and no
 * file lies beside it) it adds no tag, otherwise each adds its folder tag and
 * the files beside them folder=DV_LOOSE_FOLDER. Folders that cannot be read
 * are recorded as the run's problems; -1 only when out of memory. */
static int read_folder(phase_builder *pb, const char *dir, const char *reldir, int depth, dv_error *err)
{
	strvec pts = {0}, dirs = {0};
	size_t first = pb->n, nloose, nused = 0, *ends = NULL;
	bool *used = NULL, oom = false;
	block_mark mark = block_mark_of(pb->w->run);
	struct stat st;
	dv_error lerr = {{0}};
	int rc;

	if (depth > MAX_DEPTH)
		return walk_problem(pb->w, reldir, err, "not read: more than %d folders below its phase folder",
				    MAX_DEPTH);
	if ((rc = walk_allowed(pb->w, dir, reldir, err)) <= 0)
		return rc;
	if (stat(dir, &st))
		return walk_problem(pb->w, reldir, err, "cannot read folder: %s", strerror(errno));
	if (!walk_visit(pb->w, st.st_dev, st.st_ino, &oom))
		return oom ? dv_error_set(err, "%s: out of memory", dir) : 0;
	if (list_dir(dir, &pts, &dirs, &lerr)) {
		int e = errno;

		strvec_free(&pts);
		strvec_free(&dirs);
		if (strstr(lerr.msg, "out of memory"))
			return dv_error_set(err, "%s", lerr.msg);
		return walk_problem(pb->w, reldir, err, "cannot read folder: %s", strerror(e));
	}
	rc = 0;
	for (size_t i = 0; i < pts.n && !rc; i++)
		rc = add_file(pb, dir, reldir, pts.v[i], err);
	nloose = pb->n - first;
	if (!rc && dirs.n && (!(ends = calloc(dirs.n, sizeof(*ends))) || !(used = calloc(dirs.n, sizeof(*used)))))
		rc = dv_error_set(err, "%s: out of memory", dir);
	for (size_t i = 0; i < dirs.n && !rc; i++) {
		char *sub = path_join(dir, dirs.v[i]), *rel = path_join(reldir, dirs.v[i]);
		size_t before = pb->n;

		rc = sub && rel ? read_folder(pb, sub, rel, depth + 1, err)
				: dv_error_set(err, "%s: out of memory", dir);
		ends[i] = pb->n;
		used[i] = pb->n > before;
		nused += used[i];
		free(sub);
		free(rel);
	}
	if (!rc && (nloose || nused > 1)) {
		char key[32], val[256];
		size_t from = first + nloose;

		if (nused)
			rc = insert_folder_tag(pb, first, from, "folder", DV_LOOSE_FOLDER, err);
		for (size_t i = 0; i < dirs.n && !rc; i++) {
			if (!used[i])
				continue;
			folder_tag(dirs.v, used, dirs.n, i, key, sizeof(key), val, sizeof(val));
			rc = insert_folder_tag(pb, from, ends[i], key, val, err);
			from = ends[i];
		}
		/* every file listed here got its own larger block: what the arena
		 * holds since the mark is theirs and no longer used */
		if (!rc && nused && BLOCK_ARENA) {
			block_rewind(pb->w->run, mark);
			for (size_t i = first; i < pb->n && !rc; i++)
				if (block_pack(&pb->files[i], pb->w->run))
					rc = dv_error_set(err, "%s: out of memory", dir);
		}
	}
	free(ends);
	free(used);
	strvec_free(&pts);
	strvec_free(&dirs);
	return rc;
}

/* Execution order within a phase: step, dump_index, rank, name, file name. */
static int cmp_file(const void *a, const void *b)
{
	const dv_dumpfile *x = a, *y = b;
	int c;

	if (x->step != y->step)
		return x->step < y->step ? -1 : 1;
	if (x->dump_index != y->dump_index)
		return x->dump_index < y->dump_index ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if ((c = strcmp(x->name, y->name)))
		return c;
	return strcmp(dv_dumpfile_relpath(x), dv_dumpfile_relpath(y));
}

/* The folder the phase's files were found in: the common folder of their relpaths. */
static size_t dir_len(const char *relpath)
{
	const char *slash = strrchr(relpath, '/');

	return slash ? (size_t)(slash - relpath) : 0;
}

static char *common_dir(const dv_dumpfile *files, size_t n, const char *fallback)
{
	const char *first;
	size_t len;

	if (!n)
		return strdup(fallback[0] ? fallback : ".");
	first = dv_dumpfile_relpath(&files[0]);
	len = dir_len(first);
	for (size_t i = 1; i < n && len; i++) {
		const char *p = dv_dumpfile_relpath(&files[i]);
		size_t dl = dir_len(p), k = 0;

		while (k < len && k < dl && p[k] == first[k])
			k++;
		/* back off to the last whole folder both share */
		while (k > 0 && !((k == len || first[k] == '/') && (k == dl || p[k] == '/')))
			k--;
		len = k;
	}
	return len ? strndup(first, len) : strdup(fallback[0] ? fallback : ".");
}

static int add_phase(dv_run *run, const char *name, phase_builder *pb, const char *folder_rel, dv_error *err)
{
	dv_phase *grown, *ph;

	if (!pb->n) {
		free(pb->files);
		return 0;
	}
	grown = realloc(run->phases, (run->nphases + 1) * sizeof(*grown));
	if (!grown)
		goto oom;
	run->phases = grown;
	ph = &run->phases[run->nphases];
	memset(ph, 0, sizeof(*ph));
	ph->name = strdup(name);
	ph->dir = common_dir(pb->files, pb->n, folder_rel);
	if (pb->n && pb->n < pb->cap) {
		/* it grew by doubling: give the slack back (the run keeps it) */
		dv_dumpfile *fit = realloc(pb->files, pb->n * sizeof(*fit));

		if (fit) {
			pb->files = fit;
			pb->cap = pb->n;
		}
	}
	ph->files = pb->files;
	ph->nfiles = pb->n;
	run->nphases++;
	qsort(ph->files, ph->nfiles, sizeof(*ph->files), cmp_file);
	if (!ph->name || !ph->dir)
		return dv_error_set(err, "%s: out of memory", run->root);
	if (pb->w->phase_listed)
		pb->w->phase_listed(pb->w->phase_ctx, run, ph);
	return 0;
oom:
	for (size_t i = 0; i < pb->n; i++)
		dv_dumpfile_free(&pb->files[i]);
	free(pb->files);
	return dv_error_set(err, "%s: out of memory", run->root);
}

static void builder_free(phase_builder *pb)
{
	for (size_t i = 0; i < pb->n; i++)
		dv_dumpfile_free(&pb->files[i]);
	free(pb->files);
}

/* A phase folder read into pb; on failure the files read so far are freed. */
static int read_phase(walk *w, const char *name, const char *dir, const char *rel,
		      const pcre2_code *layer_re, _Atomic size_t *listed, dv_error *err)
{
	phase_builder pb = {.layer_re = layer_re, .root = w->run->root, .listed = listed, .w = w};

	if (read_folder(&pb, dir, rel, 0, err)) {
		builder_free(&pb);
		return -1;
	}
	return add_phase(w->run, name, &pb, rel, err);
}

/* The root's own .pt files beside phase folders: a phase of their own, so
 * that neither they nor the phases are dropped. */
static int read_root_files(walk *w, const char *dir, const char *rel, const strvec *pts,
			   const pcre2_code *layer_re, _Atomic size_t *listed, dv_error *err)
{
	phase_builder pb = {.layer_re = layer_re, .root = w->run->root, .listed = listed, .w = w};
	int rc = 0;

	for (size_t i = 0; i < pts->n && !rc; i++)
		rc = add_file(&pb, dir, rel, pts->v[i], err);
	if (rc) {
		builder_free(&pb);
		return -1;
	}
	return add_phase(w->run, DV_ROOT_PHASE, &pb, rel, err);
}

static int cmp_phase(const void *a, const void *b)
{
	const dv_phase *x = a, *y = b;
	int rx = dv_phase_rank(x->name), ry = dv_phase_rank(y->name);

	if (rx != ry)
		return rx - ry;
	return strcmp(x->name, y->name);
}

static const char *basename_of(const char *path, char *buf, size_t size)
{
	size_t n = strlen(path);
	const char *s;

	while (n > 1 && path[n - 1] == '/')
		n--;
	s = path + n;
	while (s > path && s[-1] != '/')
		s--;
	snprintf(buf, size, "%.*s", (int)(path + n - s), s);
	return buf;
}

/* Name of a bare folder's phase: its own or its parent's phase name, else the folder's name. */
static void bare_phase_name(const char *dir, char *buf, size_t size)
{
	char base[256], parent[256];
	char *up = path_join(dir, "..");
	char *real = up ? realpath(up, NULL) : NULL;
	const char *k;

	basename_of(dir, base, sizeof(base));
	if (!strcmp(base, ".") || !strcmp(base, "..") || !strcmp(base, "/")) {
		char *r = realpath(dir, NULL);

		if (r)
			basename_of(r, base, sizeof(base));
		free(r);
	}
	parent[0] = '\0';
	if (real)
		basename_of(real, parent, sizeof(parent));
	free(up);
	free(real);
	if ((k = known_phase(base)) || (k = known_phase(parent)))
		snprintf(buf, size, "%s", k);
	else
		snprintf(buf, size, "%s", base);
}

/* Folders a phase is split into (timestamps of re-runs): a root holding only
 * these is one phase, not a phase per timestamp. */
static bool all_sglang_dumps(const strvec *dirs)
{
	for (size_t i = 0; i < dirs->n; i++)
		if (strncmp(dirs->v[i], "sglang_dump_", 12))
			return false;
	return dirs->n > 0;
}

/* The phase name of the root's item i: dirs->v[i], or the root's own files
 * (i == dirs->n). engines is inference; should both exist, engines stays apart. */
static const char *top_phase_name(const strvec *dirs, size_t i)
{
	const char *known, *name;

	if (i == dirs->n)
		return DV_ROOT_PHASE;
	known = known_phase(dirs->v[i]);
	name = known ? known : dirs->v[i];
	if (!strcmp(dirs->v[i], "engines")) {
		for (size_t j = 0; j < dirs->n; j++)
			if (!strcmp(dirs->v[j], "inference"))
				name = "engines";
	}
	return name;
}

/* Reads the root's item i (see top_phase_name) as a phase. */
static int read_top_item(walk *w, const char *cur, const char *rel, const strvec *pts, const strvec *dirs, size_t i,
			 const pcre2_code *layer_re, _Atomic size_t *listed, dv_error *err)
{
	char *sub, *subrel;
	int rc;

	if (i == dirs->n)
		return read_root_files(w, cur, rel, pts, layer_re, listed, err);
	sub = path_join(cur, dirs->v[i]);
	subrel = path_join(rel, dirs->v[i]);
	if (!sub || !subrel)
		rc = dv_error_set(err, "%s: out of memory", w->run->root);
	else
		rc = read_phase(w, top_phase_name(dirs, i), sub, subrel, layer_re, listed, err);
	free(sub);
	free(subrel);
	return rc;
}

/* One item of the root read in phase order, and the problems it added. */
typedef struct top_item {
	const char *name;
	size_t i, plain;          /* its index; its place in the plain walk */
	size_t pfirst, pend;      /* run->problems it added */
} top_item;

static int cmp_top_item(const void *a, const void *b)
{
	const top_item *x = a, *y = b;
	int rx = dv_phase_rank(x->name), ry = dv_phase_rank(y->name), c;

	if (rx != ry)
		return rx - ry;
	if ((c = strcmp(x->name, y->name)))
		return c;
	return x->plain < y->plain ? -1 : x->plain > y->plain;
}

static int cmp_top_plain(const void *a, const void *b)
{
	const top_item *x = a, *y = b;

	return x->plain < y->plain ? -1 : x->plain > y->plain;
}

/* The root's files and phase folders read in phase order, for a caller
 * pairing phases as they are listed; the problems are then put back in the
 * order of the plain walk (the root's files first, then the folders by name). */
static int read_top_in_phase_order(walk *w, const char *cur, const char *rel, const strvec *pts, const strvec *dirs,
				   const pcre2_code *layer_re, _Atomic size_t *listed, dv_error *err)
{
	dv_run *run = w->run;
	size_t n = 0, before = run->nproblems;
	top_item *items = calloc(dirs->n + 1, sizeof(*items));
	char **plain = NULL;
	int rc = 0;

	if (!items)
		return dv_error_set(err, "%s: out of memory", run->root);
	if (pts->n)
		items[n++] = (top_item){ .name = DV_ROOT_PHASE, .i = dirs->n, .plain = 0 };
	for (size_t i = 0; i < dirs->n; i++)
		items[n++] = (top_item){ .name = top_phase_name(dirs, i), .i = i, .plain = i + 1 };
	qsort(items, n, sizeof(*items), cmp_top_item);
	for (size_t k = 0; k < n && !rc; k++) {
		items[k].pfirst = run->nproblems;
		rc = read_top_item(w, cur, rel, pts, dirs, items[k].i, layer_re, listed, err);
		items[k].pend = run->nproblems;
	}
	if (run->nproblems > before && !rc) {
		size_t at = 0;

		if (!(plain = malloc((run->nproblems - before) * sizeof(*plain)))) {
			free(items);
			return dv_error_set(err, "%s: out of memory", run->root);
		}
		qsort(items, n, sizeof(*items), cmp_top_plain);
		for (size_t k = 0; k < n; k++)
			for (size_t j = items[k].pfirst; j < items[k].pend; j++)
				plain[at++] = run->problems[j];
		memcpy(run->problems + before, plain, at * sizeof(*plain));
		free(plain);
	}
	free(items);
	return rc;
}

static int read_root(walk *w, const pcre2_code *layer_re, _Atomic size_t *listed, dv_error *err)
{
	dv_run *run = w->run;
	char *cur = strdup(run->root), *rel = strdup("");
	strvec pts = {0}, dirs = {0};
	bool any_known = false;
	int rc = 0;

	if (!cur || !rel) {
		rc = dv_error_set(err, "%s: out of memory", run->root);
		goto out;
	}
	for (int depth = 0;; depth++) {
		char *sub, *subrel;

		strvec_free(&pts);
		strvec_free(&dirs);
		if ((rc = list_dir(cur, &pts, &dirs, err)))
			goto out;
		if (pts.n || dirs.n != 1 || known_phase(dirs.v[0]) || depth >= MAX_DEPTH)
			break;
		/* No .pt and one subfolder: descend (unless a link leads out of the run). */
		sub = path_join(cur, dirs.v[0]);
		subrel = path_join(rel, dirs.v[0]);
		if (sub && subrel && (rc = walk_allowed(w, sub, subrel, err)) <= 0) {
			free(sub);
			free(subrel);
			strvec_free(&dirs);
			goto out;
		}
		free(cur);
		free(rel);
		cur = sub;
		rel = subrel;
		if (!cur || !rel) {
			rc = dv_error_set(err, "%s: out of memory", run->root);
			goto out;
		}
	}
	for (size_t i = 0; i < dirs.n; i++)
		any_known |= known_phase(dirs.v[i]) != NULL;
	/* A bare phase: .pt files (and maybe subfolders of that phase), or only
	 * sglang_dump_<ts> folders. */
	if ((pts.n && !any_known) || (!pts.n && all_sglang_dumps(&dirs))) {
		char name[256];

		bare_phase_name(cur, name, sizeof(name));
		run->bare = true;
		rc = read_phase(w, name, cur, rel, layer_re, listed, err);
		goto out;
	}
	{
		struct stat st;
		bool oom = false;

		/* a link back to the root from inside a phase reads nothing twice */
		if (!stat(cur, &st) && !walk_visit(w, st.st_dev, st.st_ino, &oom) && oom) {
			rc = dv_error_set(err, "%s: out of memory", run->root);
			goto out;
		}
	}
	if (w->phase_listed) {
		rc = read_top_in_phase_order(w, cur, rel, &pts, &dirs, layer_re, listed, err);
		goto out;
	}
	if (pts.n)
		rc = read_root_files(w, cur, rel, &pts, layer_re, listed, err);
	for (size_t i = 0; i < dirs.n && !rc; i++)
		rc = read_top_item(w, cur, rel, &pts, &dirs, i, layer_re, listed, err);
out:
	if (run->nphases)
		qsort(run->phases, run->nphases, sizeof(*run->phases), cmp_phase);
	strvec_free(&pts);
	strvec_free(&dirs);
	free(cur);
	free(rel);
	return rc;
}

dv_run *dv_run_open(const char *spec, const dv_run_opts *opts, dv_error *err)
{
	const char *base = opts && opts->base_dir ? opts->base_dir : NULL;
	const char *layer_pattern = opts && opts->layer_regex ? opts->layer_regex : DV_DEFAULT_LAYER_REGEX;
	pcre2_code *layer_re;
	dv_run *run;
	char *tagged = NULL;
	walk w = {0};
	int rc;

	if (!base)
		base = dv_base_dir();
	run = calloc(1, sizeof(*run));
	if (!run || !(run->spec = strdup(spec))) {
		free(run);
		dv_error_set(err, "%s: out of memory", spec);
		return NULL;
	}
	if (is_dir(spec)) {
		run->root = strdup(spec);
	} else {
		tagged = path_join(base, spec);
		if (tagged && is_dir(tagged)) {
			run->root = tagged;
			tagged = NULL;
		} else {
			dv_error_set(err, "no such dump '%s': neither %s nor %s is a folder", spec, spec,
				     tagged ? tagged : base);
			free(tagged);
			dv_run_free(run);
			return NULL;
		}
	}
	if (!run->root) {
		dv_error_set(err, "%s: out of memory", spec);
		dv_run_free(run);
		return NULL;
	}
	layer_re = dv_regex_compile(layer_pattern, false, err);
	if (!layer_re) {
		dv_error_prefix(err, "--layer-regex");
		dv_run_free(run);
		return NULL;
	}
	w.run = run;
	w.real_root = realpath(run->root, NULL);
	w.follow_symlinks = opts && opts->follow_symlinks;
	w.phase_listed = opts ? opts->phase_listed : NULL;
	w.phase_ctx = opts ? opts->phase_ctx : NULL;
	rc = read_root(&w, layer_re, opts ? opts->listed : NULL, err);
	pcre2_code_free(layer_re);
	free(w.real_root);
	free(w.seen);
	if (rc) {
		dv_run_free(run);
		return NULL;
	}
	return run;
}

void dv_run_free(dv_run *run)
{
	if (!run)
		return;
	for (size_t i = 0; i < run->nphases; i++) {
		dv_phase *ph = &run->phases[i];

		for (size_t j = 0; j < ph->nfiles; j++)
			dv_dumpfile_free(&ph->files[j]);
		free(ph->files);
		free(ph->name);
		free(ph->dir);
	}
	free(run->phases);
	for (size_t i = 0; i < run->nproblems; i++)
		free(run->problems[i]);
	free(run->problems);
	free(run->tag_keys);
	free(run->tag_key_ids);
	for (size_t i = 0; run->tag_values && i < DV_RUN_TAG_KEYS; i++)
		free(run->tag_values[i]);
	free(run->tag_values);
	blocks_free(run);
	free(run->root);
	free(run->spec);
	free(run);
}
