/* Safe report output; see include/dumpview/outfile.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dumpview/outfile.h"
#include "dumpview/tmpfile.h"

typedef struct devino {
	dev_t dev;
	ino_t ino;
	char *name;         /* for the message: a copy (a file's path may be built on demand) */
} devino;

typedef struct dvset {
	devino *v;
	size_t n, cap;
} dvset;

static int dvset_add(dvset *s, const struct stat *st, const char *name)
{
	for (size_t i = s->n; i-- > 0;)
		if (s->v[i].dev == st->st_dev && s->v[i].ino == st->st_ino)
			return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		devino *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -1;
		s->v = v;
		s->cap = cap;
	}
	if (!(s->v[s->n].name = strdup(name)))
		return -1;
	s->v[s->n].dev = st->st_dev;
	s->v[s->n].ino = st->st_ino;
	s->n++;
	return 0;
}

static void dvset_free(dvset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].name);
	free(s->v);
}

static const devino *dvset_find(const dvset *s, const struct stat *st)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].dev == st->st_dev && s->v[i].ino == st->st_ino)
			return &s->v[i];
	return NULL;
}

/* The folder part of path ("." when it has none), malloc'd. */
static char *parent_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *p;

	if (!slash)
		return strdup(".");
	while (slash > path && slash[-1] == '/')
		slash--;
	if (slash == path)
		return strdup("/");
	p = malloc((size_t)(slash - path) + 1);
	if (p) {
		memcpy(p, path, (size_t)(slash - path));
		p[slash - path] = '\0';
	}
	return p;
}

/* The protected folder that real (an absolute, resolved path) is or lies
 * under, or NULL: each folder from real up to / is compared. */
static const devino *under(const dvset *dirs, char *real)
{
	for (;;) {
		struct stat st;
		const devino *hit;
		char *slash;

		if (stat(real, &st) == 0 && (hit = dvset_find(dirs, &st)))
			return hit;
		slash = strrchr(real, '/');
		if (!slash || (slash == real && !real[1]))
			return NULL;
		if (slash == real)
			slash[1] = '\0';   /* up to "/" itself */
		else
			*slash = '\0';
	}
}

typedef struct file_array {
	const char *const *files;
	size_t n, next;
} file_array;

static const char *next_of_array(void *ctx)
{
	file_array *a = ctx;

	return a->next < a->n ? a->files[a->next++] : NULL;
}

int dv_output_check(const char *path, const char *const *dirs, size_t ndirs, const char *const *files,
		    size_t nfiles, dv_error *err)
{
	file_array a = { files, nfiles, 0 };

	return dv_output_check_each(path, dirs, ndirs, next_of_array, &a, err);
}

int dv_output_check_each(const char *path, const char *const *dirs, size_t ndirs, const char *(*next_file)(void *ctx),
			 void *ctx, dv_error *err)
{
	const char *file;
	dvset protect = { 0 };
	struct stat out_st, st;
	bool exists = stat(path, &out_st) == 0;
	char *parent = parent_of(path), *real = NULL;
	const devino *hit;
	int rc = -1;

	if (!parent) {
		dv_error_set(err, "--output %s: out of memory", path);
		goto out;
	}
	for (size_t i = 0; i < ndirs; i++)
		if (stat(dirs[i], &st) == 0 && dvset_add(&protect, &st, dirs[i]))
			goto oom;
	while ((file = next_file(ctx))) {
		char *fp;

		if (exists && stat(file, &st) == 0 && st.st_dev == out_st.st_dev && st.st_ino == out_st.st_ino) {
			dv_error_set(err, "--output %s is the input file %s: refusing to overwrite it", path, file);
			goto out;
		}
		/* a file's own folder too: it may lie outside the run's root */
		if (!(fp = parent_of(file)))
			goto oom;
		if (stat(fp, &st) == 0 && dvset_add(&protect, &st, file)) {
			free(fp);
			goto oom;
		}
		free(fp);
	}
	/* where the file lands: its folder, resolved */
	if (!(real = realpath(parent, NULL))) {
		dv_error_set(err, "cannot write %s: %s: %s", path, parent, strerror(errno));
		goto out;
	}
	if ((hit = under(&protect, real))) {
		dv_error_set(err, "--output %s lies inside the dumps (%s): refusing to write there", path, hit->name);
		goto out;
	}
	/* and, when it exists, what it names (a symlink into a run) */
	if (exists) {
		free(real);
		if ((real = realpath(path, NULL)) && (hit = under(&protect, real))) {
			dv_error_set(err, "--output %s lies inside the dumps (%s): refusing to write there", path,
				     hit->name);
			goto out;
		}
	}
	rc = 0;
	goto out;
oom:
	dv_error_set(err, "--output %s: out of memory", path);
out:
	dvset_free(&protect);
	free(parent);
	free(real);
	return rc;
}

/* The temporary being written, for the signal handler (one at a time). */
static char sig_tmp[PATH_MAX];
static volatile sig_atomic_t sig_armed;

static void on_fatal_signal(int sig)
{
	if (sig_armed)
		unlink(sig_tmp);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void arm_signals(const char *tmp)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };

	if (strlen(tmp) >= sizeof(sig_tmp))
		return;
	memcpy(sig_tmp, tmp, strlen(tmp) + 1);
	sig_armed = 1;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction sa, old;

		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;   /* nohup: stays ignored */
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_fatal_signal;
		sigemptyset(&sa.sa_mask);
		sigaction(sigs[i], &sa, NULL);
	}
}

static void disarm_signals(void)
{
	sig_armed = 0;
}

int dv_outfile_open(dv_outfile *o, const char *path, dv_error *err)
{
	struct stat st;
	bool exists = stat(path, &st) == 0;
	mode_t mode;
	int fd;

	memset(o, 0, sizeof(*o));
	if (exists && S_ISDIR(st.st_mode))
		return dv_error_set(err, "cannot write %s: it is a folder", path);
	if (!(o->path = strdup(path)))
		return dv_error_set(err, "cannot write %s: out of memory", path);
	if (exists && !S_ISREG(st.st_mode)) {
		/* a FIFO, a terminal, /dev/null: written as it is, never replaced */
		if (!(o->f = fopen(path, "w"))) {
			dv_error_set(err, "cannot write %s: %s", path, strerror(errno));
			goto fail;
		}
		return 0;
	}
	/* the one temporary-name rule of the project: shortened to fit NAME_MAX */
	fd = dv_tmp_create(path, &o->tmp, err);
	if (fd < 0) {
		int e = errno;

		dv_error_set(err, "cannot write %s: %s", path, strerror(e));
		goto fail;
	}
	arm_signals(o->tmp);
	if (exists) {
		mode = st.st_mode & 07777;
	} else {
		mode_t mask = umask(0);

		umask(mask);
		mode = 0666 & ~mask;
	}
	if (fchmod(fd, mode) != 0 || !(o->f = fdopen(fd, "w"))) {
		dv_error_set(err, "cannot write %s: %s", path, strerror(errno));
		close(fd);
		goto fail;
	}
	return 0;
fail:
	dv_outfile_abort(o);
	return -1;
}

int dv_outfile_commit(dv_outfile *o, dv_error *err)
{
	int rc = 0;

	if (!o->f)
		return 0;
	if (fflush(o->f) != 0 || ferror(o->f) || (o->tmp && fsync(fileno(o->f)) != 0 && errno != EINVAL))
		rc = dv_error_set(err, "writing %s: %s", o->path, strerror(errno ? errno : EIO));
	if (fclose(o->f) != 0 && rc == 0)
		rc = dv_error_set(err, "writing %s: %s", o->path, strerror(errno));
	o->f = NULL;
	if (rc == 0 && o->tmp && rename(o->tmp, o->path) != 0)
		rc = dv_error_set(err, "cannot write %s: %s", o->path, strerror(errno));
	if (rc == 0 && o->tmp) {
		disarm_signals();
		free(o->tmp);
		o->tmp = NULL;
	}
	if (rc)
		dv_outfile_abort(o);
	free(o->path);
	o->path = NULL;
	return rc;
}

void dv_outfile_abort(dv_outfile *o)
{
	if (o->f) {
		fclose(o->f);
		o->f = NULL;
	}
	if (o->tmp) {
		unlink(o->tmp);
		disarm_signals();
		free(o->tmp);
		o->tmp = NULL;
	}
	free(o->path);
	o->path = NULL;
}
