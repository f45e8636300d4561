/* Temporary files beside their final name; see include/dumpview/tmpfile.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dumpview/tmpfile.h"

long dv_tmp_name(char *out, size_t size, const char *final_path, long pid, unsigned serial, size_t name_max)
{
	const char *slash = strrchr(final_path, '/');
	size_t dir_len = slash ? (size_t)(slash - final_path) + 1 : 0;
	const char *base = final_path + dir_len;
	size_t base_len = strlen(base);
	char suffix[48];
	int slen = snprintf(suffix, sizeof(suffix), ".part-%ld-%u", pid, serial);

	if (slen < 0)
		return -1;
	/* Shortened, never refused: a final name up to name_max bytes long
	 * still gets a temporary name the file system accepts. */
	if (base_len + (size_t)slen > name_max)
		base_len = name_max > (size_t)slen ? name_max - (size_t)slen : 0;
	if (dir_len + base_len + (size_t)slen + 1 > size)
		return -1;
	memcpy(out, final_path, dir_len + base_len);
	memcpy(out + dir_len + base_len, suffix, (size_t)slen + 1);
	return (long)(dir_len + base_len + (size_t)slen);
}

/* The longest name the final name's folder takes (NAME_MAX when unknown). */
static size_t name_max_of(const char *final_path)
{
	const char *slash = strrchr(final_path, '/');
	char *dir = slash ? strndup(final_path, (size_t)(slash - final_path) + 1) : strdup(".");
	long v = dir ? pathconf(dir, _PC_NAME_MAX) : -1;

	free(dir);
	return v > 0 ? (size_t)v : NAME_MAX;
}

int dv_tmp_create(const char *final_path, char **tmp_path, dv_error *err)
{
	static atomic_uint serial;
	size_t size = strlen(final_path) + 64;
	char *tmp = malloc(size);
	size_t name_max = name_max_of(final_path);
	int fd = -1;

	*tmp_path = NULL;
	if (!tmp) {
		dv_error_set(err, "%s: out of memory", final_path);
		return -1;
	}
	for (int attempt = 0; attempt <= 100; attempt++) {
		if (dv_tmp_name(tmp, size, final_path, (long)getpid(), atomic_fetch_add(&serial, 1), name_max) < 0) {
			errno = ENAMETOOLONG;
			break;
		}
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		int e = errno;

		dv_error_set(err, "%s: %s", final_path, strerror(e));
		free(tmp);
		errno = e;   /* callers word their own message from it */
		return -1;
	}
	*tmp_path = tmp;
	return fd;
}
