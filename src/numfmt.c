/* Number and shape text, Python's layout: the bottom of the core, below
 * both the pt reader (object reprs, `show`) and the report writers, so that
 * neither depends on the other for a float's text. */
#include <inttypes.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/numfmt.h"

static const char *nonfinite(double v)
{
	if (isnan(v))
		return "nan";     /* never "-nan": Python prints the sign-less form */
	if (isinf(v))
		return v < 0 ? "-inf" : "inf";
	return NULL;
}

/* The p-digit decimal rounding of the value whose first 18 significant
 * digits are d (its exponent e): into out (p digits), *eout its exponent.
 * The 18 digits are themselves rounded, but on the same side of every
 * midpoint of p <= 17 digits as the value, unless they are that midpoint:
 * false then (a tie, or a near one), and the caller asks snprintf. */
static bool round_digits(const char *d, int e, int p, char *out, int *eout)
{
	bool up;

	if (d[p] == '5') {
		int k = p + 1;

		while (k < 18 && d[k] == '0')
			k++;
		if (k == 18)
			return false;
		up = true;
	} else {
		up = d[p] > '5';
	}
	memcpy(out, d, p);
	*eout = e;
	if (up) {
		int k = p - 1;

		while (k >= 0 && out[k] == '9')
			out[k--] = '0';
		if (k < 0) {
			out[0] = '1';
			(*eout)++;
		} else {
			out[k]++;
		}
	}
	return true;
}

/* "%.*e" of p digits dig, exponent e, as glibc prints it. */
static size_t put_exp_form(char *s, bool neg, const char *dig, int p, int e)
{
	size_t n = 0;
	unsigned ae = e < 0 ? -e : e;

	if (neg)
		s[n++] = '-';
	s[n++] = dig[0];
	if (p > 1) {
		s[n++] = '.';
		memcpy(s + n, dig + 1, p - 1);
		n += p - 1;
	}
	s[n++] = 'e';
	s[n++] = e < 0 ? '-' : '+';
	if (ae >= 100)
		s[n++] = '0' + ae / 100;
	s[n++] = '0' + ae / 10 % 10;
	s[n++] = '0' + ae % 10;
	s[n] = '\0';
	return n;
}

/* The text of the p-digit decimal dig x 10^e as dv_fmt_double writes it:
 * "%.*e" outside [1e-4, 1e16), else "%.*f" with p - 1 - e decimals (at
 * least none, then ".0"). buf holds 40 bytes. */
static void emit_shortest(char *buf, bool neg, const char *cand, int lo, int ce)
{
	size_t n = 0;

	if (ce < -4 || ce >= 16) {
		put_exp_form(buf, neg, cand, lo, ce);
		return;
	}
	if (neg)
		buf[n++] = '-';
	if (ce < 0) {
		buf[n++] = '0';
		buf[n++] = '.';
		for (int k = 0; k < -ce - 1; k++)
			buf[n++] = '0';
		memcpy(buf + n, cand, lo);
		n += lo;
	} else {
		for (int k = 0; k <= ce; k++)
			buf[n++] = k < lo ? cand[k] : '0';
		buf[n++] = '.';
		if (lo > ce + 1) {
			memcpy(buf + n, cand + ce + 1, lo - ce - 1);
			n += lo - ce - 1;
		} else {
			buf[n++] = '0';
		}
	}
	buf[n] = '\0';
}

/* dv_fmt_double without the snprintf per digit count: one "%.17e", the
 * shorter roundings made from its digits, strtod to check each. false when
 * a tie needs snprintf's exact rounding or buf is too small. */
static bool fmt_double_fast(char *buf, size_t size, double v)
{
	char s[40], dig[18], cand[17], tmp[40];
	int e, ce, lo = 1, hi = 17, e2;
	bool neg;
	const char *p = s;

	snprintf(s, sizeof(s), "%.17e", v);
	neg = *p == '-';
	p += neg;
	dig[0] = *p++;
	if (*p++ != '.')
		return false;
	memcpy(dig + 1, p, 17);
	p += 17;
	if (*p++ != 'e')
		return false;
	e = atoi(p);
	if (fabs(frexp(v, &e2)) == 0.5) {
		/* powers of two: reading back is not monotone, search linearly */
		for (hi = 1; hi < 17; hi++) {
			if (!round_digits(dig, e, hi, cand, &ce))
				return false;
			put_exp_form(tmp, neg, cand, hi, ce);
			if (strtod(tmp, NULL) == v)
				break;
		}
		lo = hi;
	}
	while (lo < hi) {
		int mid = (lo + hi) / 2;

		if (!round_digits(dig, e, mid, cand, &ce))
			return false;
		put_exp_form(tmp, neg, cand, mid, ce);
		if (strtod(tmp, NULL) == v)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (size < 40 || !round_digits(dig, e, lo, cand, &ce))
		return false;
	emit_shortest(buf, neg, cand, lo, ce);
	return true;
}

#ifdef __SIZEOF_INT128__
typedef unsigned __int128 u128;

static const uint64_t pow10_u64[19] = {
	1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull, 100000000ull,
	1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull, 10000000000000ull,
	100000000000000ull, 1000000000000000ull, 10000000000000000ull, 100000000000000000ull,
	1000000000000000000ull,
};

/* The p-digit rounding *n of x = q 2^sh + frac (q < 10^18, 18 digits) and
 * whether it reads back as the double (17 digits always do): x / (10^k 2^sh)
 * has q / 10^k's integer part and remainder (q % 10^k) 2^sh + frac, so
 * 64-bit divisions; then the candidate against the midpoints to the
 * neighbours (ties to even, as strtod rounds). */
static inline bool exact_digits(uint64_t q, u128 frac, int sh, int p, bool pow2, uint64_t m, u128 lo_mid,
				u128 hi_mid, uint64_t *nout)
{
	uint64_t pk = pow10_u64[18 - p], n = q / pk;
	u128 den = (u128)pk << sh, r = ((u128)(q % pk) << sh) + frac, c;

	/* an exact decimal tie rounds to even, as glibc's printf does */
	if (2 * r > den || (2 * r == den && (n & 1)))
		n++;
	*nout = n;
	if (p == 17)
		return true;
	c = ((u128)n * pk) << (sh + 1 + pow2);
	return (lo_mid < c && c < hi_mid) || ((c == lo_mid || c == hi_mid) && !(m & 1));
}

/* dv_fmt_double in exact integer arithmetic, for the usual magnitudes
 * (1e-10 <= |v| < 1e16): v = m 2^e scaled by 10^s has
 * 18 integer digits and fits 128 bits, and so do the candidates and the
 * midpoints to v's neighbours, so "reads back exactly" is a comparison with
 * those midpoints (ties to even, as strtod rounds) instead of a strtod.
 * false when it does not apply. */
static bool fmt_double_exact(char *buf, size_t size, double v)
{
	static const uint64_t pow10[19] = {
		1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull, 100000000ull,
		1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull, 10000000000000ull,
		100000000000000ull, 1000000000000000ull, 10000000000000000ull, 100000000000000000ull,
		1000000000000000000ull,
	};
	static const uint64_t pow5[28] = {
		1ull, 5ull, 25ull, 125ull, 625ull, 3125ull, 15625ull, 78125ull, 390625ull, 1953125ull,
		9765625ull, 48828125ull, 244140625ull, 1220703125ull, 6103515625ull, 30517578125ull,
		152587890625ull, 762939453125ull, 3814697265625ull, 19073486328125ull, 95367431640625ull,
		476837158203125ull, 2384185791015625ull, 11920928955078125ull, 59604644775390625ull,
		298023223876953125ull, 1490116119384765625ull, 7450580596923828125ull,
	};
	double a = fabs(v);
	int e, s, e10, sh, tries = 0;
	uint64_t m, p5, bits, frac_bits;
	bool pow2;
	u128 x;
	char cand[17];

	if (!(a >= 1e-10 && a < 1e16) || size < 40)
		return false;
	/* a normal double: a = m 2^e, 2^52 <= m < 2^53 */
	memcpy(&bits, &a, sizeof(bits));
	frac_bits = bits & ((1ull << 52) - 1);
	pow2 = frac_bits == 0;
	m = frac_bits | (1ull << 52);
	e = (int)(bits >> 52) - 1075;
	/* floor(log10(2^(e+52))): log10(a) is at most one more; the loop
	 * below moves e10 to the exact digit count */
	e10 = (int)(((int64_t)(e + 52) * 78913) >> 18);
	for (;;) {
		u128 d;

		s = 17 - e10;
		if (s < 0 || s > 27 || ++tries > 4)
			return false;
		p5 = pow5[s];
		x = (u128)m * p5;
		if (s + e > 0)
			return false;
		sh = -(s + e);
		if (sh > 64)
			return false;
		d = x >> sh;
		if (d >= pow10[18])
			e10++;
		else if (d < pow10[17])
			e10--;
		else
			break;
	}
	/* v 10^s = x / 2^sh; the midpoints to the neighbours times 2^(sh+1):
	 * (2m -+ 1) 5^s; for a power of two the lower neighbour is half as far,
	 * so times 2^(sh+2): (4m - 1) 5^s and (4m + 2) 5^s */
	u128 lo_mid = (u128)(pow2 ? 4 * m - 1 : 2 * m - 1) * p5, hi_mid = (u128)(pow2 ? 4 * m + 2 : 2 * m + 1) * p5;
	uint64_t q = (uint64_t)(x >> sh);
	u128 frac = x - ((u128)q << sh);

	/* the fewest digits that read back: linear for a power of two (its
	 * rounding interval is lopsided), else a binary search, since with a
	 * symmetric interval a digit more never reads back worse */
	uint64_t n;
	int p, ce = e10;

	if (pow2) {
		for (p = 1; p < 17 && !exact_digits(q, frac, sh, p, pow2, m, lo_mid, hi_mid, &n); p++)
			;
	} else {
		int lo = 1, hi = 17;

		if (frac == 0 && q % 10 == 0) {
			/* v is a decimal of d < 18 digits (bf16 values, say): d
			 * digits read back, and mostly no fewer do */
			uint64_t t = q / 10;
			int d = 17;

			while (t % 10 == 0) {
				t /= 10;
				d--;
			}
			hi = d;
			if (d > 1 && exact_digits(q, frac, sh, d - 1, pow2, m, lo_mid, hi_mid, &n))
				hi = d - 1;
			else
				lo = d;
		} else if (!exact_digits(q, frac, sh, 16, pow2, m, lo_mid, hi_mid, &n)) {
			/* most other values need 16 or 17 digits (means, sums,
			 * float32 values widened): one probe settles those */
			lo = 17;
		} else {
			hi = 16;
		}
		while (lo < hi) {
			int mid = (lo + hi) / 2;

			if (exact_digits(q, frac, sh, mid, pow2, m, lo_mid, hi_mid, &n))
				hi = mid;
			else
				lo = mid + 1;
		}
		p = lo;
	}
	exact_digits(q, frac, sh, p, pow2, m, lo_mid, hi_mid, &n);
	if (n == pow10[p]) {
		n /= 10;
		ce++;
	}
	{
		/* two digits a division */
		static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
					    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
					    "8081828384858687888990919293949596979899";
		int k = p;

		while (k >= 2) {
			unsigned r = (unsigned)(n % 100);

			n /= 100;
			cand[--k] = pairs[2 * r + 1];
			cand[--k] = pairs[2 * r];
		}
		if (k)
			cand[0] = (char)('0' + n);
	}
	emit_shortest(buf, v < 0, cand, p, ce);
	return true;
}
#else
static bool fmt_double_exact(char *buf, size_t size, double v)
{
	(void)buf, (void)size, (void)v;
	return false;
}
#endif

static char *fmt_double(char *buf, size_t size, double v);

/* A number formatted is often formatted again soon (a bf16 tensor's few
 * distinct values: minima, maxima, medians, differences): each thread
 * keeps its last ones, by their bits. A pure function's results: what is
 * printed does not depend on what was printed before. */
#define FMT_CACHE_BITS 10
static _Thread_local struct fmt_cached {
	uint64_t bits;
	char text[32];           /* "" while unused */
} fmt_cache[1 << FMT_CACHE_BITS];

char *dv_fmt_double(char *buf, size_t size, double v)
{
	struct fmt_cached *c;
	uint64_t bits;
	size_t n;

	if (size < sizeof(c->text))
		return fmt_double(buf, size, v);
	memcpy(&bits, &v, sizeof(bits));
	c = &fmt_cache[(bits * 0x9e3779b97f4a7c15ull) >> (64 - FMT_CACHE_BITS)];
	if (c->bits == bits && c->text[0]) {
		memcpy(buf, c->text, sizeof(c->text));
		return buf;
	}
	fmt_double(buf, size, v);
	n = strlen(buf);
	if (n < sizeof(c->text)) {
		c->bits = bits;
		memcpy(c->text, buf, n + 1);
	}
	return buf;
}

static char *fmt_double(char *buf, size_t size, double v)
{
	const char *nf = nonfinite(v);
	char tmp[64];
	int prec, exp10;
	char *e;

	if (!size)
		return buf;
	if (nf) {
		snprintf(buf, size, "%s", nf);
		return buf;
	}
	if (fmt_double_exact(buf, size, v) || fmt_double_fast(buf, size, v))
		return buf;
	/* The fewest significant digits that read back exactly (17 always do).
	 * Reading back is monotone in the digit count when v's rounding interval
	 * is symmetric, i.e. unless v is a power of two: binary search, and the
	 * plain linear search for powers of two. */
	int lo = 1, hi = 17, e2;

	if (fabs(frexp(v, &e2)) == 0.5) {
		for (hi = 1; hi < 17; hi++) {
			snprintf(tmp, sizeof(tmp), "%.*e", hi - 1, v);
			if (strtod(tmp, NULL) == v)
				break;
		}
		lo = hi;
	}
	while (lo < hi) {
		int mid = (lo + hi) / 2;

		snprintf(tmp, sizeof(tmp), "%.*e", mid - 1, v);
		if (strtod(tmp, NULL) == v)
			hi = mid;
		else
			lo = mid + 1;
	}
	prec = lo;
	snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);
	e = strchr(tmp, 'e');
	exp10 = e ? atoi(e + 1) : 0;
	/* Python's repr switches to exponent form below 1e-4 and from 1e16. */
	if (exp10 < -4 || exp10 >= 16) {
		snprintf(buf, size, "%s", tmp);
		return buf;
	}
	snprintf(buf, size, "%.*f", prec - 1 - exp10 > 0 ? prec - 1 - exp10 : 0, v);
	if (!strpbrk(buf, ".e") && strlen(buf) + 2 < size)
		strcat(buf, ".0");
	return buf;
}

char *dv_fmt_fixed(char *buf, size_t size, double v, int decimals)
{
	const char *nf = nonfinite(v);

	if (nf)
		snprintf(buf, size, "%s", nf);
	else
		snprintf(buf, size, "%.*f", decimals, v);
	return buf;
}

char *dv_fmt_float32(char *buf, size_t size, double v)
{
	const char *nf = nonfinite(v);
	char tmp[40], dig[24];
	int nd = 0, e;
	bool neg = false;
	const char *p = tmp;

	if (!size)
		return buf;
	if (nf) {
		snprintf(buf, size, "%s", nf);
		return buf;
	}
	/* The fewest "%.*e" digits that strtof reads back as the float. */
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);
		if (strtof(tmp, NULL) == (float)v)
			break;
	}
	if (*p == '-') {
		neg = true;
		p++;
	}
	for (; *p && *p != 'e'; p++)
		if (*p != '.')
			dig[nd++] = *p;
	e = atoi(p + 1);
	while (nd > 1 && dig[nd - 1] == '0')
		nd--;
	if (size < 40) {
		char out[40];
		size_t n;

		emit_shortest(out, neg, dig, nd, e);
		n = strlen(out) < size ? strlen(out) : size - 1;
		memcpy(buf, out, n);
		buf[n] = '\0';
	} else {
		emit_shortest(buf, neg, dig, nd, e);
	}
	return buf;
}

/* prefix, then the dims between brackets joined by sep; cut to size. */
static char *shape_text(char *buf, size_t size, const char *prefix, int ndim, const int64_t *shape, const char *sep)
{
	size_t len;

	if (!size)
		return buf;
	len = (size_t)snprintf(buf, size, "%s[", prefix);
	for (int i = 0; i < ndim && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%" PRId64, i ? sep : "", shape[i]);
	if (len < size)
		snprintf(buf + len, size - len, "]");
	return buf;
}

char *dv_fmt_shape(char *buf, size_t size, int ndim, const int64_t *shape)
{
	return shape_text(buf, size, "", ndim, shape, ", ");
}

char *dv_fmt_shape_compact(char *buf, size_t size, const char *prefix, int ndim, const int64_t *shape)
{
	return shape_text(buf, size, prefix, ndim, shape, ",");
}
