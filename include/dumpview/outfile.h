/* Writing a report next to the dumps without ever damaging them: the place
 * is checked against the inputs first, and the file is written under a
 * temporary name in the same folder and renamed over the final name only
 * when complete, so an interrupted or failed run keeps the old file and
 * leaves no partial one. */
#ifndef DUMPVIEW_OUTFILE_H
#define DUMPVIEW_OUTFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "dumpview/error.h"

/* Refuses (-1, err says why in one line) an output path that is one of files
 * (same device and inode) or lands inside one of dirs or a folder holding
 * one of files, however it is spelled (symlinks, "..", bind mounts: each
 * folder above where it lands is compared by device and inode). A path that
 * does not exist yet is judged by its parent folder. */
int dv_output_check(const char *path, const char *const *dirs, size_t ndirs, const char *const *files,
		    size_t nfiles, dv_error *err);
/* The same, with the files given one at a time by next_file (NULL after the
 * last): a path it returns need only last until the next call. */
int dv_output_check_each(const char *path, const char *const *dirs, size_t ndirs, const char *(*next_file)(void *ctx),
			 void *ctx, dv_error *err);

typedef struct dv_outfile {
	FILE *f;          /* write here */
	char *path;       /* the final name */
	char *tmp;        /* the temporary name; NULL when written in place (a FIFO, a device) */
} dv_outfile;

/* Opens path for writing. An existing regular file (or a new one) gets a
 * temporary in the same folder (dv_tmp_create), with the old file's mode (else 0666 less
 * the umask), removed again if the process is killed by SIGINT, SIGTERM or
 * SIGHUP; an existing FIFO or device is written in place. */
int dv_outfile_open(dv_outfile *o, const char *path, dv_error *err);
/* Flushes, syncs, closes and renames the temporary over path. On error the
 * temporary is removed and err is set. */
int dv_outfile_commit(dv_outfile *o, dv_error *err);
/* Closes and removes the temporary; path is left as it was. */
void dv_outfile_abort(dv_outfile *o);

#endif
