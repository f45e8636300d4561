/* dtype table and conversions: every bit pattern of bf16, fp16 and the five
 * float8 kinds against an independent formula (sign * significand * 2^exp by
 * ldexp, with each format's special values spelled out separately). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>
#include <cmocka.h>

#include "dumpview/dtype.h"

static uint32_t bits32(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

/* Same number, same sign of zero; NaN matches NaN (sign checked separately). */
static void assert_same(float got, double want, unsigned pattern)
{
	if (isnan(want)) {
		if (!isnan(got))
			fail_msg("pattern 0x%x: got %g, want nan", pattern, got);
		return;
	}
	if (got != (float)want || !signbit(got) != !signbit(want))
		fail_msg("pattern 0x%x: got %.9g (0x%08x), want %.9g", pattern, got, bits32(got), want);
	/* the formula's value must be exact in float */
	assert_true((double)(float)want == want);
}

/* A binary float with `e` exponent bits, `m` mantissa bits and bias `bias`,
 * decoded the textbook way; inf/nan handling is passed in. */
static double ieee_like(unsigned bits, int e, int m, int bias, int sign_bit)
{
	unsigned exp = (bits >> m) & ((1u << e) - 1), man = bits & ((1u << m) - 1);
	double s = (bits >> sign_bit) & 1 ? -1.0 : 1.0;

	if (exp == 0)
		return s * ldexp((double)man / (1 << m), 1 - bias);
	return s * ldexp(1.0 + (double)man / (1 << m), (int)exp - bias);
}

static void test_f16_every_pattern(void **state)
{
	(void)state;
	for (unsigned b = 0; b < 0x10000; b++) {
		unsigned exp = (b >> 10) & 0x1f, man = b & 0x3ff;
		float got = dv_f16_to_f32((uint16_t)b);
		double want;
		if (exp == 0x1f)
			want = man ? NAN : ((b & 0x8000) ? -INFINITY : INFINITY);
		else
			want = ieee_like(b, 5, 10, 15, 15);
		assert_same(got, want, b);
		if (isnan(want)) {
			/* the payload and sign travel into the float */
			assert_int_equal(bits32(got), ((uint32_t)(b & 0x8000) << 16) | 0x7f800000u | (man << 13));
		}
	}
	assert_true(dv_f16_to_f32(0x3c00) == 1.0f);
	assert_true(dv_f16_to_f32(0x7bff) == 65504.0f);
	assert_true(dv_f16_to_f32(0x0001) == 0x1p-24f);
}

static void test_bf16_every_pattern(void **state)
{
	(void)state;
	for (unsigned b = 0; b < 0x10000; b++) {
		unsigned exp = (b >> 7) & 0xff, man = b & 0x7f;
		float got = dv_bf16_to_f32((uint16_t)b);
		double want;
		if (exp == 0xff)
			want = man ? NAN : ((b & 0x8000) ? -INFINITY : INFINITY);
		else
			want = ieee_like(b, 8, 7, 127, 15);
		assert_same(got, want, b);
		assert_int_equal(bits32(got), (uint32_t)b << 16);
		/* and back, exactly (NaN stays NaN) */
		if (!isnan(want))
			assert_int_equal(dv_f32_to_bf16(got), b);
		else
			assert_true((dv_f32_to_bf16(got) & 0x7fff) > 0x7f80);
	}
}

static void test_f32_to_bf16_rounding(void **state)
{
	(void)state;
	/* halfway cases round to even */
	assert_int_equal(dv_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);          /* 1 + half ulp -> 1 */
	assert_int_equal(dv_f32_to_bf16(1.0f + 0x1p-7f + 0x1p-8f), 0x3f82); /* odd + half -> up */
	assert_int_equal(dv_f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81); /* above half -> up */
	assert_int_equal(dv_f32_to_bf16(-2.5f), 0xc020);
	assert_int_equal(dv_f32_to_bf16(INFINITY), 0x7f80);
	assert_int_equal(dv_f32_to_bf16(3.4e38f), 0x7f80); /* rounds to inf */
	assert_int_equal(dv_f32_to_bf16(NAN) & 0x7fc0, 0x7fc0);
}

/* Each float8 kind: (mantissa bits, bias, which patterns are NaN/Inf). */
static double f8_formula(dv_dtype dt, unsigned b)
{
	switch (dt) {
	case DV_FLOAT8_E4M3FN:
		if (b == 0x7f || b == 0xff)
			return NAN;
		return ieee_like(b, 4, 3, 7, 7);
	case DV_FLOAT8_E5M2:
		if (b == 0x7c)
			return INFINITY;
		if (b == 0xfc)
			return -INFINITY;
		if ((b & 0x7f) > 0x7c)
			return NAN;
		return ieee_like(b, 5, 2, 15, 7);
	case DV_FLOAT8_E4M3FNUZ:
		if (b == 0x80)
			return NAN;
		return ieee_like(b, 4, 3, 8, 7);
	case DV_FLOAT8_E5M2FNUZ:
		if (b == 0x80)
			return NAN;
		return ieee_like(b, 5, 2, 16, 7);
	case DV_FLOAT8_E8M0FNU:
		if (b == 0xff)
			return NAN;
		return ldexp(1.0, (int)b - 127);
	default:
		return 0;
	}
}

static void test_f8_every_pattern(void **state)
{
	static const dv_dtype kinds[] = { DV_FLOAT8_E4M3FN, DV_FLOAT8_E5M2, DV_FLOAT8_E4M3FNUZ,
					  DV_FLOAT8_E5M2FNUZ, DV_FLOAT8_E8M0FNU };
	(void)state;
	for (size_t k = 0; k < 5; k++) {
		int nans = 0;
		for (unsigned b = 0; b < 256; b++) {
			float got = dv_f8_to_f32(kinds[k], (uint8_t)b);
			double want = f8_formula(kinds[k], b);
			assert_same(got, want, (unsigned)kinds[k] << 8 | b);
			nans += isnan(got);
			/* the bulk path agrees */
			uint8_t byte = (uint8_t)b;
			float bulk;
			double bulk64;
			assert_int_equal(dv_convert_to_f32(kinds[k], &byte, &bulk, 1), 0);
			assert_int_equal(dv_convert_to_f64(kinds[k], &byte, &bulk64, 1), 0);
			assert_true(isnan(want) ? isnan(bulk) && isnan(bulk64) : bulk == got && bulk64 == got);
		}
		/* e4m3fn: S.1111.111 (2); e5m2: 6; fnuz kinds and e8m0: one */
		static const int want_nans[] = { 2, 6, 1, 1, 1 };
		assert_int_equal(nans, want_nans[k]);
	}
	/* spot values from the format definitions */
	assert_true(dv_f8_to_f32(DV_FLOAT8_E4M3FN, 0x7e) == 448.0f);
	assert_true(dv_f8_to_f32(DV_FLOAT8_E4M3FN, 0x01) == 0x1p-9f);
	assert_true(dv_f8_to_f32(DV_FLOAT8_E5M2, 0x7b) == 57344.0f);
	assert_true(dv_f8_to_f32(DV_FLOAT8_E4M3FNUZ, 0x7f) == 240.0f);
	assert_true(dv_f8_to_f32(DV_FLOAT8_E5M2FNUZ, 0x7f) == 57344.0f);
	assert_true(dv_f8_to_f32(DV_FLOAT8_E8M0FNU, 127) == 1.0f);
	assert_true(dv_f8_to_f32(DV_FLOAT8_E8M0FNU, 0) == 0x1p-127f);
	assert_true(dv_f8_to_f32(DV_FLOAT8_E8M0FNU, 254) == 0x1p127f);
	/* no negative zero in the fnuz kinds: 0x80 is NaN */
	assert_true(isnan(dv_f8_to_f32(DV_FLOAT8_E4M3FNUZ, 0x80)));
	assert_true(signbit(dv_f8_to_f32(DV_FLOAT8_E4M3FN, 0x80)) && dv_f8_to_f32(DV_FLOAT8_E4M3FN, 0x80) == 0);
}

static void test_table(void **state)
{
	(void)state;
	for (int dt = 1; dt < DV_DTYPE_COUNT; dt++) {
		assert_int_equal(dv_dtype_from_name(dv_dtype_name((dv_dtype)dt)), dt);
		assert_true(dv_dtype_size((dv_dtype)dt) > 0);
	}
	assert_string_equal(dv_dtype_name(DV_DTYPE_INVALID), "invalid");
	assert_int_equal(dv_dtype_from_name("torch.bfloat16"), DV_BFLOAT16);
	assert_int_equal(dv_dtype_from_name("float"), DV_FLOAT32);
	assert_int_equal(dv_dtype_from_name("half"), DV_FLOAT16);
	assert_int_equal(dv_dtype_from_name("long"), DV_INT64);
	assert_int_equal(dv_dtype_from_name("float128"), DV_DTYPE_INVALID);
	assert_int_equal(dv_dtype_from_name(NULL), DV_DTYPE_INVALID);
	assert_int_equal(dv_dtype_size(DV_COMPLEX128), 16);
	assert_int_equal(dv_dtype_size(DV_FLOAT8_E8M0FNU), 1);
	assert_int_equal(dv_dtype_size(DV_DTYPE_INVALID), 0);
	assert_true(dv_dtype_is_float(DV_FLOAT8_E5M2FNUZ) && dv_dtype_is_real(DV_BOOL));
	assert_true(dv_dtype_is_integer(DV_UINT64) && !dv_dtype_is_integer(DV_FLOAT16));
	assert_true(dv_dtype_is_complex(DV_COMPLEX64) && !dv_dtype_is_real(DV_COMPLEX64));
	assert_false(dv_dtype_is_real(DV_QINT8));
}

static void test_bulk_ints(void **state)
{
	int64_t i64[] = { INT64_MIN, -1, 0, (1LL << 53) + 1, INT64_MAX };
	uint64_t u64[] = { 0, UINT64_MAX, 1ULL << 63 };
	int8_t i8[] = { -128, 127 };
	uint8_t b[] = { 0, 1, 2 };
	uint16_t u16[] = { 65535 };
	float f[5];
	double d[5];
	(void)state;

	assert_int_equal(dv_convert_to_f32(DV_INT64, i64, f, 5), 0);
	assert_true(f[0] == -0x1p63f && f[1] == -1 && f[2] == 0 && f[3] == 0x1p53f && f[4] == 0x1p63f);
	assert_int_equal(dv_convert_to_f64(DV_INT64, i64, d, 5), 0);
	assert_true(d[3] == 0x1p53 + 2 || d[3] == 0x1p53); /* beyond 2^53: nearest */
	assert_int_equal(dv_convert_to_f64(DV_UINT64, u64, d, 3), 0);
	assert_true(d[0] == 0 && d[1] == 0x1p64 && d[2] == 0x1p63);
	assert_int_equal(dv_convert_to_f32(DV_INT8, i8, f, 2), 0);
	assert_true(f[0] == -128 && f[1] == 127);
	assert_int_equal(dv_convert_to_f64(DV_BOOL, b, d, 3), 0);
	assert_true(d[0] == 0 && d[1] == 1 && d[2] == 1);
	assert_int_equal(dv_convert_to_f32(DV_UINT16, u16, f, 1), 0);
	assert_true(f[0] == 65535);
	assert_int_equal(dv_convert_to_f32(DV_COMPLEX64, i64, f, 1), -1);
	assert_int_equal(dv_convert_to_f64(DV_QINT8, i64, d, 1), -1);
}

static void test_bulk_floats_unaligned(void **state)
{
	unsigned char buf[1 + 3 * 8];
	double src[3] = { 1.5, -0.0, 1e300 };
	float fsrc[3] = { 2.5f, -1e-45f, INFINITY };
	uint16_t h[2] = { 0x3c00, 0xfc00 }, bf[2] = { 0x3f80, 0x0001 };
	float f[3];
	double d[3];
	(void)state;

	memcpy(buf + 1, src, sizeof(src)); /* records are not always aligned */
	assert_int_equal(dv_convert_to_f64(DV_FLOAT64, buf + 1, d, 3), 0);
	assert_true(d[0] == 1.5 && d[1] == 0 && signbit(d[1]) && d[2] == 1e300);
	assert_int_equal(dv_convert_to_f32(DV_FLOAT64, buf + 1, f, 3), 0);
	assert_true(f[0] == 1.5f && isinf(f[2]));
	memcpy(buf + 1, fsrc, sizeof(fsrc));
	assert_int_equal(dv_convert_to_f64(DV_FLOAT32, buf + 1, d, 3), 0);
	assert_true(d[0] == 2.5 && d[1] == -0x1p-149 && isinf(d[2]));
	assert_int_equal(dv_convert_to_f32(DV_FLOAT16, h, f, 2), 0);
	assert_true(f[0] == 1 && f[1] == -INFINITY);
	assert_int_equal(dv_convert_to_f64(DV_BFLOAT16, bf, d, 2), 0);
	assert_true(d[0] == 1 && d[1] == 0x1p-133);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_f16_every_pattern),
		cmocka_unit_test(test_bf16_every_pattern),
		cmocka_unit_test(test_f32_to_bf16_rounding),
		cmocka_unit_test(test_f8_every_pattern),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_bulk_ints),
		cmocka_unit_test(test_bulk_floats_unaligned),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
