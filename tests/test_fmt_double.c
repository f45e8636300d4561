/* dv_fmt_double (shortest text that reads back exactly, Python's repr
 * layout) against its definition: the fewest "%.*e" digits that strtod
 * reads back as the value (a linear search, glibc's correctly rounded
 * printf and strtod), laid out as repr does. On random doubles of every
 * kind the fast paths meet: all exponents, the usual magnitudes, float32
 * and bf16 values widened, sums of them, powers of two, decimal ties. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dumpview/report.h"

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static double urand(void)
{
	return (double)(rng() >> 11) / 9007199254740992.0;
}

/* The definition, slowly. */
static void reference(char *buf, size_t size, double v)
{
	char tmp[64];
	int p, exp10;

	if (isnan(v)) {
		snprintf(buf, size, "nan");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, size, v < 0 ? "-inf" : "inf");
		return;
	}
	for (p = 1; p < 17; p++) {
		snprintf(tmp, sizeof(tmp), "%.*e", p - 1, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	snprintf(tmp, sizeof(tmp), "%.*e", p - 1, v);
	exp10 = atoi(strchr(tmp, 'e') + 1);
	if (exp10 < -4 || exp10 >= 16) {
		snprintf(buf, size, "%s", tmp);
		return;
	}
	snprintf(buf, size, "%.*f", p - 1 - exp10 > 0 ? p - 1 - exp10 : 0, v);
	if (!strpbrk(buf, ".e"))
		strcat(buf, ".0");
}

static double one_value(int kind)
{
	uint64_t u;
	double v;
	float f;

	switch (kind) {
	case 0: /* any bit pattern */
		u = rng();
		memcpy(&v, &u, sizeof(v));
		return v;
	case 1: /* the usual magnitudes, log-uniform */
		return (rng() & 1 ? -1 : 1) * pow(10.0, -12 + 30 * urand());
	case 2: /* float32 values widened (short texts, exact ties) */
		u = rng();
		f = (float)((rng() & 1 ? -1 : 1) * pow(2.0, -40 + 80 * urand()));
		return f;
	case 3: /* bf16 values widened */
		f = (float)((rng() & 1 ? -1 : 1) * pow(2.0, -30 + 50 * urand()));
		memcpy(&u, &f, sizeof(f));
		u &= 0xffff0000u;
		memcpy(&f, &u, sizeof(f));
		return f;
	case 4: /* means of bf16 values: k / 2^j / n */
		return (double)(int64_t)(rng() % 2000001 - 1000000) / 128.0 / (double)(1 + rng() % 100000);
	case 5: /* powers of two (asymmetric rounding intervals) */
		return ldexp(rng() & 1 ? -1.0 : 1.0, (int)(rng() % 2100) - 1074);
	case 6: /* short decimals and their neighbours */
		v = (double)(rng() % 100000) * pow(10.0, (int)(rng() % 30) - 15);
		return nextafter(v, rng() & 1 ? INFINITY : -INFINITY);
	default: /* short decimals */
		return (double)(rng() % 100000) * pow(10.0, (int)(rng() % 30) - 15);
	}
}

static void test_random(void **state)
{
	char got[64], want[64];

	(void)state;
	for (int kind = 0; kind < 8; kind++) {
		for (int i = 0; i < 20000; i++) {
			double v = one_value(kind);

			dv_fmt_double(got, sizeof(got), v);
			reference(want, sizeof(want), v);
			if (strcmp(got, want))
				fail_msg("kind %d: %a printed %s, want %s", kind, v, got, want);
		}
	}
}

/* Every power of two (lopsided rounding intervals) and its neighbours. */
static void test_powers_of_two(void **state)
{
	char got[64], want[64];

	(void)state;
	for (int e = -1074; e <= 1023; e++) {
		double p2 = ldexp(1.0, e), vs[4] = { p2, -p2, nextafter(p2, 0), nextafter(p2, INFINITY) };

		for (int k = 0; k < 4; k++) {
			dv_fmt_double(got, sizeof(got), vs[k]);
			reference(want, sizeof(want), vs[k]);
			if (strcmp(got, want))
				fail_msg("%a printed %s, want %s", vs[k], got, want);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_powers_of_two),
		cmocka_unit_test(test_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
