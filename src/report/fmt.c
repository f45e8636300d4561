/* JSON and CSV formatting shared by the report writers (numbers and shapes
 * come from src/numfmt.c). */
#include <inttypes.h>
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

/* The text of a JSON string is gathered here and written by one fwrite (a
 * report writes tens of strings a record; stdio's cost is per call). */
typedef struct json_buf {
	FILE *out;
	size_t n;
	char b[512];
} json_buf;

static void jb_flush(json_buf *j)
{
	if (j->n)
		fwrite(j->b, 1, j->n, j->out);
	j->n = 0;
}

static void jb_put(json_buf *j, const void *s, size_t n)
{
	if (j->n + n > sizeof(j->b)) {
		jb_flush(j);
		if (n > sizeof(j->b)) {
			fwrite(s, 1, n, j->out);
			return;
		}
	}
	memcpy(j->b + j->n, s, n);
	j->n += n;
}

void dv_json_write_string(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : ""), *run;
	json_buf j;
	size_t n;
	uint32_t cp;

	j.out = out;
	j.n = 0;
	jb_put(&j, "\"", 1);
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
			jb_put(&j, run, (size_t)(p - run));
		if (!*p)
			break;
		switch (*p) {
		case '"': jb_put(&j, "\\\"", 2); p++; continue;
		case '\\': jb_put(&j, "\\\\", 2); p++; continue;
		case '\n': jb_put(&j, "\\n", 2); p++; continue;
		case '\r': jb_put(&j, "\\r", 2); p++; continue;
		case '\t': jb_put(&j, "\\t", 2); p++; continue;
		default: break;
		}
		/* Control characters and DEL as themselves (\u00XX). A byte
		 * that is not part of valid UTF-8 (file names are bytes) becomes
		 * the lone surrogate U+DC00+byte, as Python's surrogateescape:
		 * os.fsencode() of the decoded string gives the exact bytes. */
		{
			char esc[8];

			snprintf(esc, sizeof(esc), *p < 0x80 ? "\\u%04x" : "\\udc%02x", *p);
			jb_put(&j, esc, 6);
		}
		p++;
	}
	jb_put(&j, "\"", 1);
	jb_flush(&j);
}

void dv_json_write_double(FILE *out, double v)
{
	char buf[64];

	/* non-finite as a JSON string: "nan", "inf", "-inf" */
	if (!isfinite(v))
		fprintf(out, "\"%s\"", dv_fmt_double(buf, sizeof(buf), v));
	else
		fputs(dv_fmt_double(buf, sizeof(buf), v), out);
}

void dv_json_write_strings(FILE *out, const char *const *v, size_t n)
{
	fputc('[', out);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc(',', out);
		dv_json_write_string(out, v[i]);
	}
	fputc(']', out);
}

void dv_report_put_int(FILE *out, int64_t v)
{
	char buf[24], *e = buf + sizeof(buf), *p = e;
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	fwrite(p, 1, (size_t)(e - p), out);
}

void dv_json_write_ints(FILE *out, const int64_t *v, size_t n)
{
	fputc('[', out);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc(',', out);
		dv_report_put_int(out, v[i]);
	}
	fputc(']', out);
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
