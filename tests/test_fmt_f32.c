/* The export's float32 text by integer arithmetic (dv_fmt_f32_csv) against
 * the snprintf + strtof search it replaces (dv_fmt_f32_ref), byte for byte:
 * every bf16 value (all 65536 bit patterns, as float32) and a million
 * float32s of a fixed seed (random bit patterns, and values of the
 * magnitudes tensors hold). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../src/metrics/internal.h"

static float from_bits(uint32_t u)
{
	float v;

	memcpy(&v, &u, sizeof(v));
	return v;
}

static int check_one(uint32_t u)
{
	char a[64], b[64];
	float v = from_bits(u);
	int na = dv_fmt_f32_csv(a, v), nb = dv_fmt_f32_ref(b, sizeof(b), v);

	if (na != nb || memcmp(a, b, (size_t)nb) != 0) {
		print_error("0x%08x: got \"%s\" (%d), want \"%s\" (%d)\n", u, a, na, b, nb);
		return 1;
	}
	return 0;
}

static void test_every_bf16(void **state)
{
	int bad = 0;

	(void)state;
	for (uint32_t h = 0; h < 65536; h++)
		bad += check_one(h << 16);
	assert_int_equal(bad, 0);
}

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void test_million_f32(void **state)
{
	int bad = 0;

	(void)state;
	for (int i = 0; i < 1000000 && bad < 10; i++) {
		uint64_t r = rng();
		uint32_t u = (uint32_t)r;

		/* three in four: a typical magnitude (exponent field 97..157,
		 * about 1e-9 .. 1e9), any sign and mantissa */
		if ((r >> 32) & 3)
			u = (u & 0x807fffffu) | (uint32_t)(97 + (r >> 40) % 61) << 23;
		bad += check_one(u);
	}
	/* powers of two and their neighbours, where the gap below is halved */
	for (uint32_t E = 1; E < 255; E++)
		for (uint32_t f = 0; f < 3; f++) {
			bad += check_one(E << 23 | f);
			bad += check_one((E << 23 | 0x7fffffu) - f);
		}
	assert_int_equal(bad, 0);
}

/* The digit count found from the rounding interval (dv_fmt_f32_csv) against
 * the bisection over it (dv_fmt_f32_bisect), both integer arithmetic, so many
 * more values: 4 M random bit patterns, every significand of the binades of
 * 1 and of 3e9 (the two ways the interval is scaled), and the decimal
 * neighbourhoods of powers of ten. */
static int check_bisect(uint32_t u)
{
	char a[64], b[64];
	float v = from_bits(u);
	int na = dv_fmt_f32_csv(a, v), nb = dv_fmt_f32_bisect(b, v);

	if (na != nb || memcmp(a, b, (size_t)nb) != 0) {
		print_error("0x%08x: got \"%s\" (%d), bisection \"%s\" (%d)\n", u, a, na, b, nb);
		return 1;
	}
	return 0;
}

static void test_direct_count(void **state)
{
	int bad = 0;

	(void)state;
	for (int i = 0; i < 4000000 && bad < 10; i++)
		bad += check_bisect((uint32_t)rng());
	static const uint32_t binades[] = { 127, 158 };
	for (size_t k = 0; k < sizeof(binades) / sizeof(binades[0]) && bad < 10; k++)
		for (uint32_t f = 0; f < (1u << 23); f++)
			bad += check_bisect(binades[k] << 23 | f);
	/* around every power of ten a float32 holds */
	for (int x = -45; x <= 38; x++) {
		float p;
		char s[16];
		uint32_t u;

		snprintf(s, sizeof(s), "1e%d", x);
		p = strtof(s, NULL);
		memcpy(&u, &p, sizeof(u));
		for (uint32_t d = 0; d < 64; d++)
			bad += check_bisect(u - 32 + d);
	}
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_bf16),
		cmocka_unit_test(test_million_f32),
		cmocka_unit_test(test_direct_count),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
