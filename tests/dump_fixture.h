/* Fixture trees for the dump tests: runs built as empty files under one
 * temporary folder, since only names matter to the dump model. Include after
 * <cmocka.h> (touch asserts); each test program gets its own tmproot. */
#ifndef DV_TESTS_DUMP_FIXTURE_H
#define DV_TESTS_DUMP_FIXTURE_H

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dumpview/dump.h"

static char tmproot[256];

/* A pair's own result to fill by hand, all zero (error ""), as a pair's
 * result read before results were allocated; freed with the comparison. */
static inline dv_pair_result *fixture_result(dv_pair *p)
{
	dv_pair_result *r = dv_pair_result_slot(p);

	assert_non_null(r);
	*r = dv_pair_result_none;
	return r;
}

/* mkdir -p of path's folders, then an empty file (or a folder when path ends in '/'). */
static inline void touch(const char *rel)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", tmproot, rel);
	for (char *p = path + strlen(tmproot) + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
		*p = '/';
	}
	if (path[strlen(path) - 1] != '/') {
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fclose(f);
	}
}

/* rel under tmproot; four rotating buffers so one call can take several. */
static inline const char *at(const char *rel)
{
	static char buf[4][1024];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", tmproot, rel);
	return buf[k];
}

static inline int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* A fresh tmproot named prefix.XXXXXX under $TMPDIR (or /tmp): 0, or -1. */
static inline int fixture_mkroot(const char *prefix)
{
	snprintf(tmproot, sizeof(tmproot), "%s/%s.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", prefix);
	return mkdtemp(tmproot) ? 0 : -1;
}

/* Removes tmproot and everything under it, links not followed. */
static inline int fixture_rmroot(void)
{
	return nftw(tmproot, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
