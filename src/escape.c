/* Terminal-safe rendering of foreign bytes; see include/dumpview/escape.h. */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/escape.h"

size_t dv_utf8_decode(const char *str, size_t len, uint32_t *cp)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned char c = s[0];
	size_t n;
	uint32_t v, min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2, v = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3, v = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4, v = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

static bool cp_escaped(uint32_t cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

bool dv_term_unit(const char *s, size_t len, size_t *unit_len, char esc[8])
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	uint32_t cp;
	size_t n = dv_utf8_decode(s, len, &cp);

	if (!n) {
		*unit_len = 1;
		esc[0] = '\\', esc[1] = 'x', esc[2] = hex[u[0] >> 4], esc[3] = hex[u[0] & 15], esc[4] = 0;
		return true;
	}
	*unit_len = n;
	if (!cp_escaped(cp))
		return false;
	if (cp < 0x80) {
		esc[0] = '\\', esc[1] = 'x', esc[2] = hex[cp >> 4], esc[3] = hex[cp & 15], esc[4] = 0;
	} else {
		esc[0] = '\\', esc[1] = 'u';
		for (int i = 0; i < 4; i++)
			esc[2 + i] = hex[(cp >> (12 - 4 * i)) & 15];
		esc[6] = 0;
	}
	return true;
}

bool dv_term_safe(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		size_t n;

		if (c >= 0x20 && c < 0x7f) { /* the common case: printable ASCII */
			i++;
			continue;
		}
		if (dv_term_unit(s + i, len - i, &n, esc))
			return false;
		i += n;
	}
	return true;
}

size_t dv_term_escape(char *out, size_t size, const char *s, size_t len)
{
	size_t o = 0, i = 0;

	while (i < len) {
		char esc[8];
		size_t n;
		const char *piece;
		size_t plen;

		if (dv_term_unit(s + i, len - i, &n, esc)) {
			piece = esc;
			plen = strlen(esc);
		} else {
			piece = s + i;
			plen = n;
		}
		for (size_t k = 0; k < plen; k++, o++)
			if (o + 1 < size)
				out[o] = piece[k];
		i += n;
	}
	if (size)
		out[o < size ? o : size - 1] = '\0';
	return o;
}

char *dv_term_escape_dup(const char *s)
{
	size_t len = strlen(s), need = dv_term_escape(NULL, 0, s, len);
	char *out = malloc(need + 1);

	if (out)
		dv_term_escape(out, need + 1, s, len);
	return out;
}

void dv_term_fputs(const char *s, FILE *f)
{
	size_t len = strlen(s), i = 0;

	while (i < len) {
		size_t start = i;
		char esc[8];
		size_t n = 0;
		bool escaped = false;

		/* a run of bytes that pass, written at once (printable ASCII, the
		 * usual name, without decoding) */
		for (;;) {
			while (i < len && (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f)
				i++;
			if (i >= len || (escaped = dv_term_unit(s + i, len - i, &n, esc)))
				break;
			i += n;
		}
		if (i > start)
			fwrite(s + start, 1, i - start, f);
		if (escaped) {
			fputs(esc, f);
			i += n;
		}
	}
}

void dv_term_fprintf(FILE *f, const char *fmt, ...)
{
	char stackbuf[1024], *buf = stackbuf;
	va_list ap;
	int n;
	bool newline;

	va_start(ap, fmt);
	n = vsnprintf(stackbuf, sizeof(stackbuf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(stackbuf)) {
		buf = malloc((size_t)n + 1);
		if (!buf)
			return;
		va_start(ap, fmt);
		vsnprintf(buf, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	newline = n > 0 && buf[n - 1] == '\n';
	if (newline)
		buf[n - 1] = '\0';
	dv_term_fputs(buf, f);
	if (newline)
		fputc('\n', f);
	if (buf != stackbuf)
		free(buf);
}
