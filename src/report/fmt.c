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

void dv_json_write_string(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : ""), *run;
	size_t n;
	uint32_t cp;

	fputc('"', out);
	for (;;) {
		/* a run of bytes written as they are: one fwrite */
		run = p;
		for (;;) {
			if (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
				p++;
			else if (*p >= 0x80 && (n = dv_utf8_decode((const char *)p, 4, &cp)) != 0)
				p += n;
			else
				break;
		}
		if (p > run)
			fwrite(run, 1, (size_t)(p - run), out);
		if (!*p)
			break;
		switch (*p) {
		case '"': fputs("\\\"", out); p++; continue;
		case '\\': fputs("\\\\", out); p++; continue;
		case '\n': fputs("\\n", out); p++; continue;
		case '\r': fputs("\\r", out); p++; continue;
		case '\t': fputs("\\t", out); p++; continue;
		default: break;
		}
		/* Control characters and DEL as themselves (\u00XX). A byte
		 * that is not part of valid UTF-8 (file names are bytes) becomes
		 * the lone surrogate U+DC00+byte, as Python's surrogateescape:
		 * os.fsencode() of the decoded string gives the exact bytes. */
		fprintf(out, *p < 0x80 ? "\\u%04x" : "\\udc%02x", *p);
		p++;
	}
	fputc('"', out);
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

void dv_json_write_ints(FILE *out, const int64_t *v, size_t n)
{
	fputc('[', out);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%s%" PRId64, i ? "," : "", v[i]);
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
