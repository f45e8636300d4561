/* Resolving a run (a path, or a tag under $DUMPER_BASE_DIR) and listing its
 * phases and files. Only directory listings and file names are read. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dumpview/dump.h"

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

/* Files gathered for one phase. */
typedef struct phase_builder {
	dv_dumpfile *files;
	size_t n, cap;
	const pcre2_code *layer_re;
	const char *root;
	_Atomic size_t *listed;   /* progress counter (may be NULL) */
	/* the folders being read, outermost first: a link back to one of them is skipped */
	dev_t dev[MAX_DEPTH + 1];
	ino_t ino[MAX_DEPTH + 1];
} phase_builder;

static int64_t parse_i64(const char *s)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end || errno)
		return -1;
	return v;
}

static void dumpfile_free(dv_dumpfile *f)
{
	free(f->path);
	free(f->relpath);
	free(f->filename);
	free(f->stem);
	dv_free_tags(f->tags, f->ntags);
}

/* Adds one file: its name's tags, then the folder tags. */
static int add_file(phase_builder *pb, const char *dir, const char *reldir, const char *fname,
		    const dv_tag *folder_tags, size_t nfolder_tags, dv_error *err)
{
	dv_dumpfile *f;
	dv_tag *tags;
	size_t n;
	const char *v;

	if (pb->n == pb->cap) {
		size_t cap = pb->cap ? pb->cap * 2 : 64;
		dv_dumpfile *grown = realloc(pb->files, cap * sizeof(*grown));

		if (!grown)
			return dv_error_set(err, "%s: out of memory", dir);
		pb->files = grown;
		pb->cap = cap;
	}
	f = &pb->files[pb->n];
	memset(f, 0, sizeof(*f));
	n = dv_parse_tags(fname, &tags);
	if (nfolder_tags) {
		dv_tag *grown = realloc(tags, (n + nfolder_tags) * sizeof(*grown));

		if (!grown) {
			dv_free_tags(tags, n);
			return dv_error_set(err, "%s: out of memory", dir);
		}
		tags = grown;
		for (size_t i = 0; i < nfolder_tags; i++) {
			tags[n + i].key = strdup(folder_tags[i].key);
			tags[n + i].value = strdup(folder_tags[i].value);
		}
	}
	f->tags = tags;
	f->nfile_tags = n;
	f->ntags = n + nfolder_tags;
	f->path = path_join(dir, fname);
	f->relpath = path_join(reldir, fname);
	f->filename = strdup(fname);
	f->stem = strndup(fname, strlen(fname) - 3);
	pb->n++;
	if (pb->listed)
		atomic_fetch_add_explicit(pb->listed, 1, memory_order_relaxed);
	for (size_t i = 0; i < f->ntags; i++)
		if (!f->tags[i].key || !f->tags[i].value)
			return dv_error_set(err, "%s: out of memory", dir);
	if (!f->path || !f->relpath || !f->filename || !f->stem)
		return dv_error_set(err, "%s: out of memory", dir);

	f->name = dv_tag_get(f, "name");
	if (!f->name)
		f->name = f->stem;
	v = dv_tag_get(f, "step");
	if (!v)
		v = dv_tag_get(f, "forward_pass_id");
	f->step = parse_i64(v);
	f->rank = parse_i64(dv_tag_get(f, "rank"));
	f->dump_index = parse_i64(dv_tag_get(f, "dump_index"));
	v = dv_tag_get(f, "layer_id");
	if (!v)
		v = dv_tag_get(f, "layer");
	f->layer = v ? dv_layer_parse(v) : -1;
	if (f->layer < 0)
		f->layer = dv_layer_from_name(pb->layer_re, f->name);
	f->duplicate_index = 0;
	return 0;
}

/* The tag a subfolder gives its files when a phase has several:
 * rollout_<i> -> rollout=<i>, engine_<i> -> engine=<i>, sglang_dump_<ts> ->
 * sglang_dump=<ordinal> (timestamps differ between runs, their order does
 * not), anything else folder=<name>. */
static void folder_tag(char **dirs, size_t ndirs, size_t i, char *key, size_t keysz, char *val, size_t valsz)
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

			if (j == i || strncmp(dirs[j], "sglang_dump_", 12))
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

/* Reads a phase folder: its .pt files; else the single subfolder; else every
 * subfolder, each adding its folder tag. */
static int read_folder(phase_builder *pb, const char *dir, const char *reldir, dv_tag *ftags,
		       size_t nftags, int depth, dv_error *err)
{
	strvec pts = {0}, dirs = {0};
	int rc = 0;

	struct stat st;

	if (depth > MAX_DEPTH || stat(dir, &st))
		return 0;
	for (int i = 0; i < depth; i++)
		if (pb->dev[i] == st.st_dev && pb->ino[i] == st.st_ino)
			return 0; /* a link loop */
	pb->dev[depth] = st.st_dev;
	pb->ino[depth] = st.st_ino;
	if (list_dir(dir, &pts, &dirs, err))
		return -1;
	if (pts.n) {
		for (size_t i = 0; i < pts.n && !rc; i++)
			rc = add_file(pb, dir, reldir, pts.v[i], ftags, nftags, err);
	} else if (dirs.n == 1) {
		char *sub = path_join(dir, dirs.v[0]), *rel = path_join(reldir, dirs.v[0]);

		rc = sub && rel ? read_folder(pb, sub, rel, ftags, nftags, depth + 1, err)
				: dv_error_set(err, "%s: out of memory", dir);
		free(sub);
		free(rel);
	} else {
		dv_tag *tags = malloc((nftags + 1) * sizeof(*tags));
		char key[32], val[256];

		if (!tags) {
			rc = dv_error_set(err, "%s: out of memory", dir);
			goto out;
		}
		if (nftags)
			memcpy(tags, ftags, nftags * sizeof(*tags));
		for (size_t i = 0; i < dirs.n && !rc; i++) {
			char *sub = path_join(dir, dirs.v[i]), *rel = path_join(reldir, dirs.v[i]);

			folder_tag(dirs.v, dirs.n, i, key, sizeof(key), val, sizeof(val));
			tags[nftags].key = key;
			tags[nftags].value = val;
			rc = sub && rel ? read_folder(pb, sub, rel, tags, nftags + 1, depth + 1, err)
					: dv_error_set(err, "%s: out of memory", dir);
			free(sub);
			free(rel);
		}
		free(tags);
	}
out:
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
	return strcmp(x->relpath, y->relpath);
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
	first = files[0].relpath;
	len = dir_len(first);
	for (size_t i = 1; i < n && len; i++) {
		const char *p = files[i].relpath;
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
	ph->files = pb->files;
	ph->nfiles = pb->n;
	run->nphases++;
	qsort(ph->files, ph->nfiles, sizeof(*ph->files), cmp_file);
	if (!ph->name || !ph->dir)
		return dv_error_set(err, "%s: out of memory", run->root);
	return 0;
oom:
	for (size_t i = 0; i < pb->n; i++)
		dumpfile_free(&pb->files[i]);
	free(pb->files);
	return dv_error_set(err, "%s: out of memory", run->root);
}

/* A phase folder read into pb; on failure the files read so far are freed. */
static int read_phase(dv_run *run, const char *name, const char *dir, const char *rel,
		      const pcre2_code *layer_re, _Atomic size_t *listed, dv_error *err)
{
	phase_builder pb = {.layer_re = layer_re, .root = run->root, .listed = listed};

	if (read_folder(&pb, dir, rel, NULL, 0, 0, err)) {
		for (size_t i = 0; i < pb.n; i++)
			dumpfile_free(&pb.files[i]);
		free(pb.files);
		return -1;
	}
	return add_phase(run, name, &pb, rel, err);
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

static int read_root(dv_run *run, const pcre2_code *layer_re, _Atomic size_t *listed, dv_error *err)
{
	char *cur = strdup(run->root), *rel = strdup("");
	strvec pts = {0}, dirs = {0};
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
		/* No .pt and one subfolder: descend. */
		sub = path_join(cur, dirs.v[0]);
		subrel = path_join(rel, dirs.v[0]);
		free(cur);
		free(rel);
		cur = sub;
		rel = subrel;
		if (!cur || !rel) {
			rc = dv_error_set(err, "%s: out of memory", run->root);
			goto out;
		}
	}
	if (pts.n) {
		char name[256];

		bare_phase_name(cur, name, sizeof(name));
		run->bare = true;
		rc = read_phase(run, name, cur, rel, layer_re, listed, err);
		goto out;
	}
	for (size_t i = 0; i < dirs.n && !rc; i++) {
		const char *known = known_phase(dirs.v[i]);
		char *sub = path_join(cur, dirs.v[i]), *subrel = path_join(rel, dirs.v[i]);
		const char *name = known ? known : dirs.v[i];

		/* engines is inference; should both exist, engines stays apart. */
		if (!strcmp(dirs.v[i], "engines")) {
			for (size_t j = 0; j < dirs.n; j++)
				if (!strcmp(dirs.v[j], "inference"))
					name = "engines";
		}
		if (!sub || !subrel)
			rc = dv_error_set(err, "%s: out of memory", run->root);
		else
			rc = read_phase(run, name, sub, subrel, layer_re, listed, err);
		free(sub);
		free(subrel);
	}
	if (run->nphases)
		qsort(run->phases, run->nphases, sizeof(*run->phases), cmp_phase);
out:
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

	if (!base) {
		base = getenv("DUMPER_BASE_DIR");
		if (!base || !*base)
			base = DV_DEFAULT_BASE_DIR;
	}
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
	if (read_root(run, layer_re, opts ? opts->listed : NULL, err)) {
		pcre2_code_free(layer_re);
		dv_run_free(run);
		return NULL;
	}
	pcre2_code_free(layer_re);
	return run;
}

void dv_run_free(dv_run *run)
{
	if (!run)
		return;
	for (size_t i = 0; i < run->nphases; i++) {
		dv_phase *ph = &run->phases[i];

		for (size_t j = 0; j < ph->nfiles; j++)
			dumpfile_free(&ph->files[j]);
		free(ph->files);
		free(ph->name);
		free(ph->dir);
	}
	free(run->phases);
	free(run->root);
	free(run->spec);
	free(run);
}
