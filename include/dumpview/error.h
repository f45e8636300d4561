/* Errors travel up as values: a message that names the thing and the reason.
 * Nothing below main.c prints to stderr or exits. */
#ifndef DUMPVIEW_ERROR_H
#define DUMPVIEW_ERROR_H

#include <stdarg.h>

#define DV_ERROR_MAX 512

typedef struct dv_error {
	char msg[DV_ERROR_MAX];
} dv_error;

/* Sets err (if not NULL) to the formatted message; returns -1 so callers can
 * write `return dv_error_set(err, "...")`. */
int dv_error_set(dv_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int dv_error_vset(dv_error *err, const char *fmt, va_list ap);
/* Prefixes an existing message: "prefix: old message". */
int dv_error_prefix(dv_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void dv_error_clear(dv_error *err);

#endif
