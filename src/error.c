#include <stdio.h>
#include <string.h>

#include "dumpview/error.h"

int dv_error_vset(dv_error *err, const char *fmt, va_list ap)
{
	if (err)
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	return -1;
}

int dv_error_set(dv_error *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dv_error_vset(err, fmt, ap);
	va_end(ap);
	return -1;
}

int dv_error_prefix(dv_error *err, const char *fmt, ...)
{
	char old[DV_ERROR_MAX];
	size_t len;
	va_list ap;

	if (!err)
		return -1;
	memcpy(old, err->msg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	len = strlen(err->msg);
	if (len + 2 < sizeof(err->msg)) {
		memcpy(err->msg + len, ": ", 2);
		/* The old message is cut, not the prefix that names the thing. */
		snprintf(err->msg + len + 2, sizeof(err->msg) - len - 2, "%s", old);
	}
	return -1;
}

void dv_error_clear(dv_error *err)
{
	if (err)
		err->msg[0] = '\0';
}
