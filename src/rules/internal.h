/* Shared inside src/rules: the predicate parser's raw form (byte offset and
 * message apart, so rules can turn the offset into a column of the whole
 * --rule argument or file line). */
#ifndef DUMPVIEW_RULES_INTERNAL_H
#define DUMPVIEW_RULES_INTERNAL_H

#include "dumpview/rules.h"

/* s[0..n) need not be NUL-terminated. NULL on error: *err_off is the byte
 * offset in s of the trouble, msg the reason. */
dv_predicate *dv_rules_parse_predicate(const char *s, size_t n, size_t *err_off, char *msg, size_t msgsize);
/* 'rel <= threshold', built without parsing. NULL when out of memory. */
dv_predicate *dv_rules_predicate_le(double threshold);
/* Shortest text that reads back as v (C locale): "0.001", "1e-06", "inf". */
void dv_rules_fmt_number(char *buf, size_t size, double v);

#endif
