/* Files written whole or not at all: the data goes to a temporary file
 * beside the final one, renamed over it at the end, so an interrupted or
 * failed write leaves an existing file as it was. */
#ifndef DUMPVIEW_TMPFILE_H
#define DUMPVIEW_TMPFILE_H

#include <stddef.h>

#include "dumpview/error.h"

/* The temporary name for final_path: "<final>.part-<pid>-<serial>" in the
 * same folder, with the final name's part shortened where the whole would
 * pass name_max bytes (so any final name that fits has a temporary name).
 * Writes it to out (size bytes); returns its length, or -1 if it does not
 * fit in out. */
long dv_tmp_name(char *out, size_t size, const char *final_path, long pid, unsigned serial, size_t name_max);

/* Creates (O_EXCL, mode 0666 less the umask) a new temporary file for
 * final_path; returns its descriptor and sets *tmp_path (malloc'd), or -1
 * with err set and errno saying why. */
int dv_tmp_create(const char *final_path, char **tmp_path, dv_error *err);

#endif
