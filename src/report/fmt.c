/* JSON and CSV formatting shared by the report writers (numbers and shapes
 * come from src/numfmt.c). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/escape.h"
#include "internal.h"

const char *const dv_report_quantile_name[DV_NQUANTILES] = { "p1", "p5", "p50", "p95", "p99" };

/* Bytes a JSON string holds as they are: printable ASCII but '"' and '\\'. */
static const unsigned char json_plain[256] = {
	[0x20] = 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,   /* 0x22 '"' */
	[0x30] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	[0x40] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	[0x50] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,   /* 0x5c '\\' */
	[0x60] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	[0x70] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,   /* 0x7f DEL */
};

void dv_jout_init(dv_jout *j, FILE *out)
{
	j->out = out;
	j->n = 0;
}

void dv_jout_flush(dv_jout *j)
{
	if (j->n)
		fwrite(j->b, 1, j->n, j->out);
	j->n = 0;
}

void dv_jout_write_slow(dv_jout *j, const void *s, size_t n)
{
	if (j->n + n > sizeof(j->b)) {
		dv_jout_flush(j);
		if (n > sizeof(j->b)) {
			fwrite(s, 1, n, j->out);
			return;
		}
	}
	memcpy(j->b + j->n, s, n);
	j->n += n;
}

void dv_jout_putc(dv_jout *j, char c)
{
	if (j->n == sizeof(j->b))
		dv_jout_flush(j);
	j->b[j->n++] = c;
}

void dv_jout_puts(dv_jout *j, const char *s)
{
	dv_jout_write(j, s, strlen(s));
}

void dv_jout_printf(dv_jout *j, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(j->b + j->n, sizeof(j->b) - j->n, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(j->b) - j->n) {
		j->n += (size_t)n;
		return;
	}
	/* did not fit: the stream takes it after what is gathered */
	dv_jout_flush(j);
	va_start(ap, fmt);
	vfprintf(j->out, fmt, ap);
	va_end(ap);
}

void dv_jout_string(dv_jout *j, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : ""), *run;
	size_t n;
	uint32_t cp;

	dv_jout_putc(j, '"');
	for (;;) {
		/* a run of bytes written as they are */
		run = p;
		for (;;) {
			while (json_plain[p[0]] && json_plain[p[1]] && json_plain[p[2]] && json_plain[p[3]])
				p += 4;
			while (json_plain[*p])
				p++;
			if (*p >= 0x80 && (n = dv_utf8_decode((const char *)p, 4, &cp)) != 0)
				p += n;
			else
				break;
		}
		if (p > run)
			dv_jout_write(j, run, (size_t)(p - run));
		if (!*p)
			break;
		switch (*p) {
		case '"': dv_jout_write(j, "\\\"", 2); p++; continue;
		case '\\': dv_jout_write(j, "\\\\", 2); p++; continue;
		case '\n': dv_jout_write(j, "\\n", 2); p++; continue;
		case '\r': dv_jout_write(j, "\\r", 2); p++; continue;
		case '\t': dv_jout_write(j, "\\t", 2); p++; continue;
		default: break;
		}
		/* Control characters and DEL as themselves (\u00XX). A byte
		 * that is not part of valid UTF-8 (file names are bytes) becomes
		 * the lone surrogate U+DC00+byte, as Python's surrogateescape:
		 * os.fsencode() of the decoded string gives the exact bytes. */
		dv_jout_printf(j, *p < 0x80 ? "\\u%04x" : "\\udc%02x", *p);
		p++;
	}
	dv_jout_putc(j, '"');
}

void dv_json_write_string(FILE *out, const char *s)
{
	dv_jout j;

	dv_jout_init(&j, out);
	dv_jout_string(&j, s);
	dv_jout_flush(&j);
}

void dv_jout_double(dv_jout *j, double v)
{
	char buf[64];

	/* non-finite as a JSON string: "nan", "inf", "-inf" */
	dv_fmt_double(buf, sizeof(buf), v);
	if (!isfinite(v)) {
		dv_jout_putc(j, '"');
		dv_jout_puts(j, buf);
		dv_jout_putc(j, '"');
	} else {
		dv_jout_puts(j, buf);
	}
}

void dv_json_write_double(FILE *out, double v)
{
	dv_jout j;

	dv_jout_init(&j, out);
	dv_jout_double(&j, v);
	dv_jout_flush(&j);
}

void dv_jout_strings(dv_jout *j, const char *const *v, size_t n)
{
	dv_jout_putc(j, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			dv_jout_putc(j, ',');
		dv_jout_string(j, v[i]);
	}
	dv_jout_putc(j, ']');
}

void dv_json_write_strings(FILE *out, const char *const *v, size_t n)
{
	dv_jout j;

	dv_jout_init(&j, out);
	dv_jout_strings(&j, v, n);
	dv_jout_flush(&j);
}

void dv_jout_int(dv_jout *j, int64_t v)
{
	char buf[24], *e = buf + sizeof(buf), *p = e;
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	dv_jout_write(j, p, (size_t)(e - p));
}

void dv_jout_ints(dv_jout *j, const int64_t *v, size_t n)
{
	dv_jout_putc(j, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			dv_jout_putc(j, ',');
		dv_jout_int(j, v[i]);
	}
	dv_jout_putc(j, ']');
}

void dv_json_write_ints(FILE *out, const int64_t *v, size_t n)
{
	dv_jout j;

	dv_jout_init(&j, out);
	dv_jout_ints(&j, v, n);
	dv_jout_flush(&j);
}

bool dv_csv_formula_start(const char *s)
{
	return s && (*s == '=' || *s == '+' || *s == '-' || *s == '@' || *s == '\t' || *s == '\r');
}

void dv_csv_write_field(FILE *out, const char *s)
{
	const char *p;
	bool formula = dv_csv_formula_start(s);

	if (!s)
		return;
	if (!strpbrk(s, ",\"\r\n")) {
		if (formula)
			fputc('\'', out);
		fputs(s, out);
		return;
	}
	fputc('"', out);
	if (formula)
		fputc('\'', out);
	for (p = s; *p; p++) {
		if (*p == '"')
			fputc('"', out);
		fputc(*p, out);
	}
	fputc('"', out);
}

int dv_report_format_parse(const char *s, dv_report_format *format)
{
	if (!strcmp(s, "text"))
		*format = DV_REPORT_TEXT;
	else if (!strcmp(s, "jsonl"))
		*format = DV_REPORT_JSONL;
	else if (!strcmp(s, "csv"))
		*format = DV_REPORT_CSV;
	else if (!strcmp(s, "sglang-jsonl"))
		*format = DV_REPORT_SGLANG_JSONL;
	else
		return -1;
	return 0;
}
