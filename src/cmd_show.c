/* dumpview show [--values N] [--raw PATH] FILE: the object tree of one .pt
 * file, one line per node, or one tensor's raw bytes. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dumpview/commands.h"
#include "dumpview/escape.h"
#include "dumpview/numfmt.h"
#include "dumpview/pt.h"

#define SHOW_STR_MAX 200
#define RAW_CHUNK_BYTES ((size_t)4 << 20)
#define STATS_CHUNK 65536

static void show_usage(FILE *out)
{
	fprintf(out,
		"usage: dumpview show [--values N] [--raw PATH [--force]] [--verify-crc] FILE\n"
		"\n"
		"Prints the object tree of a torch .pt file, one line per node, each\n"
		"addressed by a path such as $, $['value'], $['meta']['rank'], $['list'][0].\n"
		"A tensor shows its dtype, shape, stride, storage offset, device, first\n"
		"values and min/max/mean.\n"
		"\n"
		"  --values N   show the first N values of each tensor (default 8)\n"
		"  --raw PATH   write the tensor at PATH to stdout: contiguous, row-major,\n"
		"               in its own dtype, little-endian\n"
		"  --force      with --raw: write the bytes even when stdout is a terminal\n"
		"  --verify-crc check the CRC-32 of every tensor record read whole\n"
		"  -h, --help   show this help\n"
		"\n"
		"Exit status: 0 success, 2 unreadable file, bad usage or PATH not a tensor.\n");
}

typedef struct shower {
	pt_file *f;
	FILE *out;
	long values;
	dv_error err;
} shower;

/* One element as text: integers exactly, floats at their precision. */
static void fmt_element(char *buf, size_t size, dv_dtype dt, const uint8_t *p)
{
	switch (dt) {
	case DV_INT64: {
		int64_t v;
		memcpy(&v, p, 8);
		snprintf(buf, size, "%" PRId64, v);
		return;
	}
	case DV_UINT64: {
		uint64_t v;
		memcpy(&v, p, 8);
		snprintf(buf, size, "%" PRIu64, v);
		return;
	}
	case DV_COMPLEX64: {
		float re, im;
		char a[40], b[40];
		memcpy(&re, p, 4);
		memcpy(&im, p + 4, 4);
		dv_fmt_float32(a, sizeof(a), re);
		dv_fmt_float32(b, sizeof(b), im);
		snprintf(buf, size, "(%s%s%sj)", a, (im >= 0 || isnan(im)) ? "+" : "", b);
		return;
	}
	case DV_COMPLEX128: {
		double re, im;
		char a[40], b[40];
		memcpy(&re, p, 8);
		memcpy(&im, p + 8, 8);
		dv_fmt_double(a, sizeof(a), re);
		dv_fmt_double(b, sizeof(b), im);
		snprintf(buf, size, "(%s%s%sj)", a, (im >= 0 || isnan(im)) ? "+" : "", b);
		return;
	}
	default:
		break;
	}
	if (dv_dtype_is_real(dt)) {
		double v;
		dv_convert_to_f64(dt, p, &v, 1);
		if (dv_dtype_is_float(dt))
			(dt != DV_FLOAT64 ? dv_fmt_float32 : dv_fmt_double)(buf, size, v);
		else
			snprintf(buf, size, "%.0f", v);
		return;
	}
	/* quantized and packed kinds: the raw byte(s) */
	snprintf(buf, size, "0x");
	for (size_t i = 0; i < dv_dtype_size(dt) && 2 + 2 * i + 2 < size; i++)
		snprintf(buf + 2 + 2 * i, size - 2 - 2 * i, "%02x", p[i]);
}

static int show_tensor(shower *s, const pt_tensor *t)
{
	FILE *out = s->out;
	size_t isz = dv_dtype_size(t->dtype);
	int64_t nhead = t->numel < s->values ? t->numel : s->values;
	uint8_t *head = NULL;
	char buf[128], dims[PT_MAX_DIMS * 22 + 3];

	fprintf(out, "tensor %s %s", dv_dtype_name(t->dtype), dv_fmt_shape(dims, sizeof(dims), t->ndim, t->shape));
	fprintf(out, " stride %s", dv_fmt_shape(dims, sizeof(dims), t->ndim, t->stride));
	fprintf(out, " offset %" PRId64 " ", t->storage_offset);
	dv_term_fputs(t->device ? t->device : "cpu", out);
	if (t->requires_grad)
		fputs(" requires_grad", out);
	if (t->conj)
		fputs(" conj", out);
	if (t->neg)
		fputs(" neg", out);
	if (!t->storage_key && t->numel) {
		fputs(" (no data)\n", out);
		return 0;
	}
	if (pt_tensor_check(s->f, t, &s->err))
		return -1;
	if (nhead > 0) {
		head = malloc((size_t)nhead * isz);
		if (!head)
			return dv_error_set(&s->err, "%s: out of memory", pt_file_name(s->f));
		if (pt_tensor_read(s->f, t, 0, nhead, head, &s->err)) {
			free(head);
			return -1;
		}
	}
	fputs(" values [", out);
	for (int64_t i = 0; i < nhead; i++) {
		fmt_element(buf, sizeof(buf), t->dtype, head + i * isz);
		fprintf(out, "%s%s", i ? ", " : "", buf);
	}
	fputc(']', out);
	if (nhead < t->numel)
		fputs(" ...", out);
	free(head);

	if (dv_dtype_is_real(t->dtype) && t->numel > 0) {
		double *chunk = malloc(STATS_CHUNK * sizeof(double));
		double lo = INFINITY, hi = -INFINITY, sum = 0;
		int64_t nans = 0;
		if (!chunk)
			return dv_error_set(&s->err, "%s: out of memory", pt_file_name(s->f));
		for (int64_t done = 0; done < t->numel;) {
			int64_t n = t->numel - done < STATS_CHUNK ? t->numel - done : STATS_CHUNK;
			if (pt_tensor_read_f64(s->f, t, done, n, chunk, &s->err)) {
				free(chunk);
				return -1;
			}
			for (int64_t i = 0; i < n; i++) {
				double v = chunk[i];
				if (isnan(v)) {
					nans++;
					continue;
				}
				lo = v < lo ? v : lo;
				hi = v > hi ? v : hi;
				sum += v;
			}
			done += n;
		}
		free(chunk);
		bool single = t->dtype != DV_FLOAT64;
		if (nans == t->numel) {
			fputs(" min nan max nan mean nan", out);
		} else if (dv_dtype_is_integer(t->dtype)) {
			fprintf(out, " min %.0f max %.0f", lo, hi);
			dv_fmt_double(buf, sizeof(buf), sum / (double)t->numel);
			fprintf(out, " mean %s", buf);
		} else {
			(single ? dv_fmt_float32 : dv_fmt_double)(buf, sizeof(buf), lo);
			fprintf(out, " min %s", buf);
			(single ? dv_fmt_float32 : dv_fmt_double)(buf, sizeof(buf), hi);
			fprintf(out, " max %s", buf);
			dv_fmt_double(buf, sizeof(buf), nans ? NAN : sum / (double)t->numel);
			fprintf(out, " mean %s", buf);
		}
		if (nans)
			fprintf(out, " nan_count %" PRId64, nans);
	}
	fputc('\n', out);
	return 0;
}

static int show_node(shower *s, const pt_obj *o, char **path, size_t *cap, size_t len)
{
	FILE *out = s->out;
	char repr[SHOW_STR_MAX + 8];

	/* The path (dict keys), strings, class names and devices come from the
	 * file: escaped for the terminal (repr already escapes most controls,
	 * not bidi overrides, class names or a string cut mid-character).
	 * *path is NUL-terminated at len. */
	dv_term_fputs(*path, out);
	fputs(": ", out);
	switch (o->kind) {
	case PT_NONE:
	case PT_BOOL:
	case PT_INT:
	case PT_FLOAT:
	case PT_STR:
	case PT_BYTES: {
		size_t n = pt_repr(o, repr, SHOW_STR_MAX + 1);
		dv_term_fputs(repr, out);
		fputs(n >= SHOW_STR_MAX ? "...\n" : "\n", out);
		return 0;
	}
	case PT_TENSOR:
		return show_tensor(s, &o->u.tensor);
	case PT_OBJECT:
		fputs("object ", out);
		dv_term_fputs(o->u.object.cls ? o->u.object.cls : "?", out);
		if (o->u.object.args) {
			size_t n = pt_repr(o->u.object.args, repr, SHOW_STR_MAX + 1);
			fputs(" args ", out);
			dv_term_fputs(repr, out);
			fputs(n >= SHOW_STR_MAX ? "..." : "", out);
		}
		fputc('\n', out);
		return 0;
	case PT_LIST:
	case PT_TUPLE:
	case PT_SET:
		fprintf(out, "%s (%zu items)\n", o->kind == PT_LIST ? "list" : o->kind == PT_TUPLE ? "tuple" : "set",
			o->u.seq.len);
		break;
	case PT_DICT:
		fprintf(out, "dict (%zu items)\n", o->u.dict.len);
		break;
	}
	size_t n = o->kind == PT_DICT ? o->u.dict.len : o->u.seq.len;
	for (size_t i = 0; i < n; i++) {
		char seg[1100];
		size_t sl;
		if (o->kind == PT_DICT) {
			seg[0] = '[';
			sl = 1 + pt_repr(o->u.dict.keys[i], seg + 1, sizeof(seg) - 3);
			seg[sl++] = ']';
			seg[sl] = '\0';
		} else {
			sl = (size_t)snprintf(seg, sizeof(seg), "[%zu]", i);
		}
		if (len + sl + 1 > *cap) {
			size_t ncap = (*cap + sl + 1) * 2;
			char *p = realloc(*path, ncap);
			if (!p)
				return dv_error_set(&s->err, "%s: out of memory", pt_file_name(s->f));
			*path = p;
			*cap = ncap;
		}
		memcpy(*path + len, seg, sl + 1);
		if (show_node(s, o->kind == PT_DICT ? o->u.dict.values[i] : o->u.seq.items[i], path, cap, len + sl))
			return -1;
	}
	return 0;
}

/* "an int", "a str", "None", "bytes": a kind's name as a noun phrase. */
static void kind_phrase(char *buf, size_t size, pt_kind k)
{
	const char *name = pt_kind_name(k);

	if (k == PT_NONE || k == PT_BYTES)
		snprintf(buf, size, "%s", name);
	else
		snprintf(buf, size, "%s %s", strchr("aeiou", name[0]) ? "an" : "a", name);
}

static int write_raw(pt_file *f, const char *file, const char *path, dv_error *err)
{
	const pt_obj *o = pt_lookup(pt_root(f), path);
	const pt_tensor *t;
	size_t isz;
	int64_t per;
	uint8_t *buf;

	if (!o)
		return dv_error_set(err, "%s: no node at %s", file, path);
	if (o->kind != PT_TENSOR) {
		char what[32];

		kind_phrase(what, sizeof(what), o->kind);
		return dv_error_set(err, "%s: %s is %s, not a tensor", file, path, what);
	}
	t = &o->u.tensor;
	if (pt_tensor_check(f, t, err))
		return -1;
	isz = dv_dtype_size(t->dtype);
	per = (int64_t)(RAW_CHUNK_BYTES / isz);
	buf = malloc(RAW_CHUNK_BYTES);
	if (!buf)
		return dv_error_set(err, "%s: out of memory", file);
	for (int64_t done = 0; done < t->numel;) {
		int64_t n = t->numel - done < per ? t->numel - done : per;
		if (pt_tensor_read(f, t, done, n, buf, err)) {
			free(buf);
			return -1;
		}
		if (fwrite(buf, isz, (size_t)n, stdout) != (size_t)n) {
			free(buf);
			return dv_error_set(err, "writing to stdout: %s", strerror(errno));
		}
		done += n;
	}
	free(buf);
	if (fflush(stdout))
		return dv_error_set(err, "writing to stdout: %s", strerror(errno));
	return 0;
}

int cmd_show(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "values", required_argument, NULL, 'n' },
		{ "raw", required_argument, NULL, 'r' },
		{ "force", no_argument, NULL, 'F' },
		{ "verify-crc", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *raw = NULL;
	bool force = false;
	long values = 8;
	int c;
	dv_error err;
	pt_file *f;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'n':
			errno = 0;
			values = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || values < 0) {
				dv_term_fprintf(stderr, "dumpview show: --values needs a count >= 0, not '%s'\n", optarg);
				return 2;
			}
			break;
		case 'r':
			raw = optarg;
			break;
		case 'F':
			force = true;
			break;
		case 'V':
			pt_set_verify_crc(true);
			break;
		case 'h':
			show_usage(stdout);
			return 0;
		default:
			dv_term_fprintf(stderr, "dumpview show: unknown option '%s' (see dumpview show --help)\n",
					argv[optind - 1]);
			return 2;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "usage: dumpview show [--values N] [--raw PATH [--force]] [--verify-crc] FILE\n");
		return 2;
	}
	/* Raw tensor bytes hold every byte value, ESC included: written to a
	 * terminal they would drive it, so that takes an explicit --force. */
	if (raw && !force && isatty(STDOUT_FILENO)) {
		fprintf(stderr, "dumpview show: --raw writes binary and standard output is a terminal "
				"(redirect it, or add --force)\n");
		return 2;
	}
	const char *file = argv[optind];
	f = pt_open(file, &err);
	if (!f) {
		dv_term_fprintf(stderr, "dumpview: %s\n", err.msg);
		return 2;
	}
	if (raw) {
		int rc = write_raw(f, file, raw, &err);
		pt_close(f);
		if (rc) {
			dv_term_fprintf(stderr, "dumpview: %s\n", err.msg);
			return 2;
		}
		return 0;
	}

	/* Built in memory first so that an error leaves stdout untouched. */
	char *text = NULL, *path = malloc(64);
	size_t text_len = 0, cap = 64;
	shower s = { .f = f, .values = values };
	s.out = open_memstream(&text, &text_len);
	int rc = -1;
	if (!s.out || !path) {
		dv_error_set(&s.err, "%s: out of memory", file);
	} else {
		path[0] = '$';
		path[1] = '\0';
		rc = show_node(&s, pt_root(f), &path, &cap, 1);
	}
	if (s.out)
		fclose(s.out);
	free(path);
	pt_close(f);
	if (rc) {
		free(text);
		dv_term_fprintf(stderr, "dumpview: %s\n", s.err.msg);
		return 2;
	}
	if (fwrite(text, 1, text_len, stdout) != text_len || fflush(stdout)) {
		free(text);
		fprintf(stderr, "dumpview: writing to stdout: %s\n", strerror(errno));
		return 2;
	}
	free(text);
	return 0;
}
