/* Number and shape text as Python writes them.
 *
 * This sits at the bottom of the core, beside error.h: the pt reader (reprs
 * of pickled floats, `show`'s values) and the report writers (metrics in
 * text, JSON and CSV) both need the same float text, and the pt layer must
 * not depend on the report layer above it. Both include this header; the
 * report API re-exports it through report.h. */
#ifndef DUMPVIEW_NUMFMT_H
#define DUMPVIEW_NUMFMT_H

#include <stddef.h>
#include <stdint.h>

/* Shortest decimal that reads back as v, as Python's repr(float): "0.1",
 * "3.0", "1e-05", "-0.0", "nan", "inf", "-inf". Exact (correctly rounded
 * digits), fast for the usual magnitudes. Returns buf (40 bytes hold any). */
char *dv_fmt_double(char *buf, size_t size, double v);
/* The same layout for a float32 value widened to double: the fewest digits
 * that read back as the same float ("0.1" for 0.1f, not 0.10000000149011612). */
char *dv_fmt_float32(char *buf, size_t size, double v);
/* Fixed decimals as Python's f"{v:.Nf}" ("nan", "inf", "-inf" for non-finite). */
char *dv_fmt_fixed(char *buf, size_t size, double v, int decimals);
/* Shape as Python prints a list: "[48, 128]", "[]" for 0-dim. */
char *dv_fmt_shape(char *buf, size_t size, int ndim, const int64_t *shape);
/* The compact form for narrow columns, after prefix (a dtype's short name,
 * or ""): "bf16[48,128]", "[4,8]". */
char *dv_fmt_shape_compact(char *buf, size_t size, const char *prefix, int ndim, const int64_t *shape);

#endif
