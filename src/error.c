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
	char prefix[DV_ERROR_MAX], old[DV_ERROR_MAX];
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
	return -1;
}

void dv_error_clear(dv_error *err)
{
	if (err)
		err->msg[0] = '\0';
}
