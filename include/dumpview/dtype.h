/* Tensor element types: one X-macro table drives the enum, names and sizes. */
#ifndef DUMPVIEW_DTYPE_H
#define DUMPVIEW_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* X(enum suffix, torch name, bytes per element, class)
 * class: F float, I signed int, U unsigned int, B bool, C complex, Q quantized/other.
 * float4_e2m1fn_x2 packs two values in one byte: itemsize 1, one "element". */
#define DV_DTYPES(X) \
	X(FLOAT64,          "float64",          8,  F) \
	X(FLOAT32,          "float32",          4,  F) \
	X(FLOAT16,          "float16",          2,  F) \
	X(BFLOAT16,         "bfloat16",         2,  F) \
	X(FLOAT8_E4M3FN,    "float8_e4m3fn",    1,  F) \
	X(FLOAT8_E5M2,      "float8_e5m2",      1,  F) \
	X(FLOAT8_E4M3FNUZ,  "float8_e4m3fnuz",  1,  F) \
	X(FLOAT8_E5M2FNUZ,  "float8_e5m2fnuz",  1,  F) \
	X(FLOAT8_E8M0FNU,   "float8_e8m0fnu",   1,  F) \
	X(INT8,             "int8",             1,  I) \
	X(INT16,            "int16",            2,  I) \
	X(INT32,            "int32",            4,  I) \
	X(INT64,            "int64",            8,  I) \
	X(UINT8,            "uint8",            1,  U) \
	X(UINT16,           "uint16",           2,  U) \
	X(UINT32,           "uint32",           4,  U) \
	X(UINT64,           "uint64",           8,  U) \
	X(BOOL,             "bool",             1,  B) \
	X(COMPLEX32,        "complex32",        4,  C) \
	X(COMPLEX64,        "complex64",        8,  C) \
	X(COMPLEX128,       "complex128",       16, C) \
	X(QINT8,            "qint8",            1,  Q) \
	X(QUINT8,           "quint8",           1,  Q) \
	X(QINT32,           "qint32",           4,  Q) \
	X(QUINT4X2,         "quint4x2",         1,  Q) \
	X(QUINT2X4,         "quint2x4",         1,  Q) \
	X(FLOAT4_E2M1FN_X2, "float4_e2m1fn_x2", 1,  Q) \
	X(BITS8,            "bits8",            1,  Q) \
	X(BITS16,           "bits16",           2,  Q)

typedef enum dv_dtype {
	DV_DTYPE_INVALID = 0,
#define DV_DTYPE_ENUM(e, name, size, cls) DV_##e,
	DV_DTYPES(DV_DTYPE_ENUM)
#undef DV_DTYPE_ENUM
	DV_DTYPE_COUNT
} dv_dtype;

const char *dv_dtype_name(dv_dtype dt);     /* "bfloat16"; "invalid" */
/* For narrow columns: "bf16", "f32", "i64", "u8"; others as dv_dtype_name. */
const char *dv_dtype_short_name(dv_dtype dt);
dv_dtype dv_dtype_from_name(const char *name); /* torch name, also "float"/"half"/"long"...; INVALID if unknown */
size_t dv_dtype_size(dv_dtype dt);          /* bytes per element; 0 if invalid */
bool dv_dtype_is_float(dv_dtype dt);        /* real floating kinds, incl. float8 */
bool dv_dtype_is_integer(dv_dtype dt);      /* signed/unsigned ints and bool */
bool dv_dtype_is_complex(dv_dtype dt);
/* Real dtypes whose elements convert to a number (floats, ints, bool). */
bool dv_dtype_is_real(dv_dtype dt);

/* Exact scalar conversions (NaN, Inf and subnormals bit-exact). */
float dv_f16_to_f32(uint16_t bits);
float dv_bf16_to_f32(uint16_t bits);
float dv_f8_to_f32(dv_dtype dt, uint8_t bits);  /* any of the five float8 kinds */
uint16_t dv_f32_to_bf16(float v);               /* round to nearest even, as torch */

/* Bulk conversion of n little-endian elements of a real dtype.
 * To float: as torch's .float() (int64 rounds to nearest). To double: exact
 * for all but 64-bit ints beyond 2^53. Return -1 for a non-real dtype. */
int dv_convert_to_f32(dv_dtype dt, const void *src, float *dst, size_t n);
int dv_convert_to_f64(dv_dtype dt, const void *src, double *dst, size_t n);

#endif
