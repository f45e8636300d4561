/* The dtype table and exact element conversions. */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "dumpview/dtype.h"

enum { CLS_F, CLS_I, CLS_U, CLS_B, CLS_C, CLS_Q };

static const struct {
	const char *name;
	unsigned char size, cls;
} dtype_table[DV_DTYPE_COUNT] = {
	[DV_DTYPE_INVALID] = { "invalid", 0, CLS_Q },
#define DV_DTYPE_ROW(e, n, s, c) [DV_##e] = { n, s, CLS_##c },
	DV_DTYPES(DV_DTYPE_ROW)
#undef DV_DTYPE_ROW
};

static bool valid(dv_dtype dt)
{
	return dt > DV_DTYPE_INVALID && dt < DV_DTYPE_COUNT;
}

const char *dv_dtype_name(dv_dtype dt)
{
	return valid(dt) ? dtype_table[dt].name : "invalid";
}

const char *dv_dtype_short_name(dv_dtype dt)
{
	switch (dt) {
	case DV_FLOAT64: return "f64";
	case DV_FLOAT32: return "f32";
	case DV_FLOAT16: return "f16";
	case DV_BFLOAT16: return "bf16";
	case DV_INT8: return "i8";
	case DV_INT16: return "i16";
	case DV_INT32: return "i32";
	case DV_INT64: return "i64";
	case DV_UINT8: return "u8";
	case DV_UINT16: return "u16";
	case DV_UINT32: return "u32";
	case DV_UINT64: return "u64";
	default: return dv_dtype_name(dt);
	}
}

dv_dtype dv_dtype_from_name(const char *name)
{
	/* Aliases torch accepts as attribute names (torch.float, torch.half...). */
	static const struct { const char *alias; dv_dtype dt; } aliases[] = {
		{ "double", DV_FLOAT64 }, { "float", DV_FLOAT32 },
		{ "half", DV_FLOAT16 }, { "long", DV_INT64 },
		{ "int", DV_INT32 }, { "short", DV_INT16 },
		{ "cfloat", DV_COMPLEX64 }, { "cdouble", DV_COMPLEX128 },
		{ "chalf", DV_COMPLEX32 }, { "complex", DV_COMPLEX64 },
	};

	if (!name)
		return DV_DTYPE_INVALID;
	if (!strncmp(name, "torch.", 6))
		name += 6;
	for (int dt = 1; dt < DV_DTYPE_COUNT; dt++)
		if (!strcmp(name, dtype_table[dt].name))
			return (dv_dtype)dt;
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (!strcmp(name, aliases[i].alias))
			return aliases[i].dt;
	return DV_DTYPE_INVALID;
}

size_t dv_dtype_size(dv_dtype dt)
{
	return valid(dt) ? dtype_table[dt].size : 0;
}

bool dv_dtype_is_float(dv_dtype dt)
{
	return valid(dt) && dtype_table[dt].cls == CLS_F;
}

bool dv_dtype_is_integer(dv_dtype dt)
{
	return valid(dt) && (dtype_table[dt].cls == CLS_I || dtype_table[dt].cls == CLS_U ||
			     dtype_table[dt].cls == CLS_B);
}

bool dv_dtype_is_complex(dv_dtype dt)
{
	return valid(dt) && dtype_table[dt].cls == CLS_C;
}

bool dv_dtype_is_real(dv_dtype dt)
{
	return dv_dtype_is_float(dt) || dv_dtype_is_integer(dt);
}

static float f32_from_bits(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static uint32_t f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

float dv_bf16_to_f32(uint16_t bits)
{
	return f32_from_bits((uint32_t)bits << 16);
}

float dv_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;

	if (exp == 0x1f) /* Inf and NaN keep their payload, as the hardware does */
		return f32_from_bits(sign | 0x7f800000u | (man << 13));
	if (exp == 0) {
		if (man == 0)
			return f32_from_bits(sign);
		/* Subnormal: value is man * 2^-24, exact in float. */
		float v = (float)man * 0x1p-24f;
		return sign ? -v : v;
	}
	return f32_from_bits(sign | ((exp + 112) << 23) | (man << 13));
}

/* A float8 with `mbits` mantissa bits and exponent bias `bias`; the format's
 * special cases are handled by the caller. */
static float f8_value(uint8_t bits, int mbits, int bias)
{
	int ebits = 7 - mbits;
	int exp = (bits >> mbits) & ((1 << ebits) - 1);
	int man = bits & ((1 << mbits) - 1);
	float v;

	if (exp == 0)
		v = ldexpf((float)man, 1 - bias - mbits);
	else
		v = ldexpf((float)((1 << mbits) | man), exp - bias - mbits);
	return (bits & 0x80) ? -v : v;
}

float dv_f8_to_f32(dv_dtype dt, uint8_t b)
{
	switch (dt) {
	case DV_FLOAT8_E4M3FN: /* no Inf; S.1111.111 is NaN */
		if ((b & 0x7f) == 0x7f)
			return (b & 0x80) ? -NAN : NAN;
		return f8_value(b, 3, 7);
	case DV_FLOAT8_E5M2: /* IEEE-like */
		if ((b & 0x7c) == 0x7c) {
			if (b & 0x03)
				return (b & 0x80) ? -NAN : NAN;
			return (b & 0x80) ? -INFINITY : INFINITY;
		}
		return f8_value(b, 2, 15);
	case DV_FLOAT8_E4M3FNUZ: /* no Inf, no -0: 0x80 is the only NaN */
		if (b == 0x80)
			return NAN;
		return f8_value(b, 3, 8);
	case DV_FLOAT8_E5M2FNUZ:
		if (b == 0x80)
			return NAN;
		return f8_value(b, 2, 16);
	case DV_FLOAT8_E8M0FNU: /* exponent only, unsigned */
		if (b == 0xff)
			return NAN;
		return ldexpf(1.0f, (int)b - 127);
	default:
		return NAN;
	}
}

uint16_t dv_f32_to_bf16(float v)
{
	uint32_t u = f32_bits(v);

	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)(((u >> 16) & 0x8000) | 0x7fc0);
	/* round to nearest even */
	u += 0x7fffu + ((u >> 16) & 1);
	return (uint16_t)(u >> 16);
}

/* Lookup tables for the one-byte float kinds, built once for all threads. */
static float f8_table[5][256];
static pthread_once_t f8_once = PTHREAD_ONCE_INIT;

static void f8_init(void)
{
	for (int k = 0; k < 5; k++)
		for (int b = 0; b < 256; b++)
			f8_table[k][b] = dv_f8_to_f32((dv_dtype)(DV_FLOAT8_E4M3FN + k), (uint8_t)b);
}

static const float *f8_lut(dv_dtype dt)
{
	pthread_once(&f8_once, f8_init);
	return f8_table[dt - DV_FLOAT8_E4M3FN];
}

/* Unaligned little-endian loads (records are only 64-byte aligned in files). */
#define DEFINE_LOAD(type)                                                  \
	static inline type load_##type(const void *p, size_t i)           \
	{                                                                  \
		type v;                                                    \
		memcpy(&v, (const char *)p + i * sizeof(type), sizeof(type)); \
		return v;                                                  \
	}
DEFINE_LOAD(double)
DEFINE_LOAD(float)
DEFINE_LOAD(int16_t)
DEFINE_LOAD(uint16_t)
DEFINE_LOAD(int32_t)
DEFINE_LOAD(uint32_t)
DEFINE_LOAD(int64_t)
DEFINE_LOAD(uint64_t)
#define LOAD(type, p, i) load_##type(p, i)

#define CONVERT_BODY(OUT)                                                           \
	switch (dt) {                                                               \
	case DV_FLOAT64:                                                            \
		for (size_t i = 0; i < n; i++) dst[i] = (OUT)LOAD(double, src, i); \
		return 0;                                                           \
	case DV_FLOAT32:                                                            \
		for (size_t i = 0; i < n; i++) dst[i] = (OUT)LOAD(float, src, i);  \
		return 0;                                                           \
	case DV_FLOAT16:                                                            \
		for (size_t i = 0; i < n; i++) dst[i] = dv_f16_to_f32(LOAD(uint16_t, src, i)); \
		return 0;                                                           \
	case DV_BFLOAT16:                                                           \
		for (size_t i = 0; i < n; i++) dst[i] = dv_bf16_to_f32(LOAD(uint16_t, src, i)); \
		return 0;                                                           \
	case DV_FLOAT8_E4M3FN: case DV_FLOAT8_E5M2: case DV_FLOAT8_E4M3FNUZ:        \
	case DV_FLOAT8_E5M2FNUZ: case DV_FLOAT8_E8M0FNU: {                         \
		const float *lut = f8_lut(dt);                                      \
		for (size_t i = 0; i < n; i++) dst[i] = lut[b[i]];                  \
		return 0;                                                           \
	}                                                                           \
	case DV_INT8:                                                               \
		for (size_t i = 0; i < n; i++) dst[i] = (OUT)(int8_t)b[i];          \
		return 0;                                                           \
	case DV_UINT8:                                                              \
		for (size_t i = 0; i < n; i++) dst[i] = (OUT)b[i];                  \
		return 0;                                                           \
	case DV_BOOL:                                                               \
		for (size_t i = 0; i < n; i++) dst[i] = b[i] ? 1 : 0;               \
		return 0;                                                           \
	case DV_INT16:                                                              \
		for (size_t i = 0; i < n; i++) dst[i] = (OUT)LOAD(int16_t, src, i); \
		return 0;                                                           \
	case DV_UINT16:                                                             \
		for (size_t i = 0; i < n; i++) dst[i] = (OUT)LOAD(uint16_t, src, i); \
		return 0;                                                           \
	case DV_INT32:                                                              \
		for (size_t i = 0; i < n; i++) dst[i] = (OUT)LOAD(int32_t, src, i); \
		return 0;                                                           \
	case DV_UINT32:                                                             \
		for (size_t i = 0; i < n; i++) dst[i] = (OUT)LOAD(uint32_t, src, i); \
		return 0;                                                           \
	case DV_INT64:                                                              \
		for (size_t i = 0; i < n; i++) dst[i] = (OUT)LOAD(int64_t, src, i); \
		return 0;                                                           \
	case DV_UINT64:                                                             \
		for (size_t i = 0; i < n; i++) dst[i] = (OUT)LOAD(uint64_t, src, i); \
		return 0;                                                           \
	default:                                                                    \
		return -1;                                                          \
	}

int dv_convert_to_f32(dv_dtype dt, const void *src, float *dst, size_t n)
{
	const uint8_t *b = src;

	CONVERT_BODY(float)
}

int dv_convert_to_f64(dv_dtype dt, const void *src, double *dst, size_t n)
{
	const uint8_t *b = src;

	CONVERT_BODY(double)
}
