/* engine_bench: where `dumpview compare`'s time goes, stage by stage.
 *
 * Pairs every .pt under TARGET with the same relative path under BASELINE
 * (the benchmark sets' layout) and runs one stage over all pairs on a pool of
 * THREADS workers (default: the cores), printing wall and CPU time:
 *   open     pt_open + pt_dump_value of both files (zip directory + pickle)
 *   read     open, then pt_tensor_read of both tensors in 256 KiB chunks (CRC on)
 *   readnc   the same without the CRC-32 check (pt_limits.no_crc_check)
 *   full     dv_compare_files, what `compare` does per pair (no output)
 *   nocrc    full, files opened with no_crc_check
 *   nopct    full without percentiles
 *   verify   full, files opened with the CRC-32 check (compare --verify-crc)
 *   detail   dv_compare_files then dv_pair_detail_compute with its result, as the
 *            explorer's detail pane (64 x 256 heat map); "detail only": the latter
 *            (its numbers printed when DETAIL_PRINT is set)
 *   export   dv_export_diff_csv of every element to EXPORT_FILE (default
 *            /tmp/dv-bench/export.csv, removed after unless EXPORT_KEEP is
 *            set), its size and MB/s
 * -t N sets dv_metrics_opts.threads (default 0: the pool's idle helpers).
 *
 * usage: engine_bench [-j THREADS] [-t N] STAGE[,STAGE...] BASELINE TARGET
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "dumpview/dtype.h"
#include "dumpview/metrics.h"
#include "dumpview/pt.h"

struct pairs {
	char **rel;
	size_t n, cap;
};

static void collect(const char *root, const char *rel, struct pairs *ps)
{
	char path[4096];
	DIR *d;
	struct dirent *e;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	d = opendir(path);
	if (!d)
		return;
	while ((e = readdir(d))) {
		char sub[4096];
		struct stat st;
		size_t len = strlen(e->d_name);

		if (e->d_name[0] == '.')
			continue;
		if (snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", e->d_name) >= (int)sizeof(sub) ||
		    snprintf(path, sizeof(path), "%s/%s", root, sub) >= (int)sizeof(path))
			continue;
		if (stat(path, &st))
			continue;
		if (S_ISDIR(st.st_mode)) {
			collect(root, sub, ps);
		} else if (len > 3 && !strcmp(e->d_name + len - 3, ".pt")) {
			if (ps->n == ps->cap) {
				ps->cap = ps->cap ? 2 * ps->cap : 256;
				ps->rel = realloc(ps->rel, ps->cap * sizeof(*ps->rel));
				if (!ps->rel)
					abort();
			}
			ps->rel[ps->n++] = strdup(sub);
		}
	}
	closedir(d);
}

enum stage { ST_OPEN, ST_READ, ST_READNC, ST_FULL, ST_NOCRC, ST_NOPCT, ST_VERIFY, ST_DETAIL, ST_EXPORT };
static const char *const stage_names[] = { "open", "read", "readnc", "full", "nocrc", "nopct", "verify", "detail",
					   "export" };
static int opt_threads;
static atomic_llong export_bytes, detail_ns, detail_cpu_ns;
static double now(void);
static double cpu_seconds(void);

struct run {
	enum stage stage;
	const char *base, *targ;
	struct pairs *ps;
	atomic_size_t next;
	atomic_long errors;
};

static int read_all(pt_file *f, const pt_obj *v, void *buf, size_t bufsize, dv_error *err)
{
	const pt_tensor *t;
	int64_t chunk;

	if (!v || v->kind != PT_TENSOR)
		return 0;
	t = &v->u.tensor;
	chunk = (int64_t)(bufsize / (dv_dtype_size(t->dtype) ? dv_dtype_size(t->dtype) : 1));
	for (int64_t s = 0; s < t->numel; s += chunk) {
		int64_t c = t->numel - s < chunk ? t->numel - s : chunk;

		if (pt_tensor_read(f, t, s, c, buf, err) < 0)
			return -1;
	}
	return 0;
}

static int one_pair(struct run *r, const char *bp, const char *tp, void *buf, size_t bufsize)
{
	pt_limits lim = pt_limits_default();
	dv_metrics_opts opts = dv_metrics_opts_default();
	dv_pair_result *res;
	dv_error err;
	pt_file *bf, *tf;
	int rc = 0;

	opts.threads = opt_threads;
	if (r->stage == ST_FULL || r->stage == ST_NOPCT || r->stage == ST_VERIFY) {
		res = malloc(sizeof(*res));
		if (!res)
			return -1;
		opts.percentiles = r->stage != ST_NOPCT;
		pt_set_verify_crc(r->stage == ST_VERIFY);
		rc = dv_compare_files(bp, tp, &opts, res);
		pt_set_verify_crc(false);
		rc = res->status == DV_RESULT_ERROR ? -1 : 0;
		dv_pair_result_free(res);
		free(res);
		return rc;
	}
	if (r->stage == ST_DETAIL) {
		/* as the explorer asks for it: after the pair's comparison (not
		 * timed here; "detail only" is the detail's own time) */
		dv_pair_detail d;
		dv_pair_result *known = malloc(sizeof(*known));

		if (!known)
			return -1;
		dv_compare_files(bp, tp, &opts, known);
		opts.known = known;
		double t0 = now(), c0 = cpu_seconds();
		rc = dv_pair_detail_compute(bp, tp, 64, 256, &opts, &d, &err);
		atomic_fetch_add(&detail_ns, (long long)((now() - t0) * 1e9));
		atomic_fetch_add(&detail_cpu_ns, (long long)((cpu_seconds() - c0) * 1e9));
		if (rc == 0 && getenv("DETAIL_PRINT")) {
			/* the detail's numbers, to compare builds */
			uint64_t h = 1469598103934665603ull;

			for (int64_t k = 0; k < (int64_t)d.heat_rows * d.heat_cols; k++) {
				uint64_t u;

				memcpy(&u, &d.heat[k], sizeof(u));
				h = (h ^ u) * 1099511628211ull;
			}
			printf("detail %s: lo %.9g hi %.9g lo_exp %d zero %lld nonfinite %lld heat %016llx max %.17g\n  buckets",
			       bp, d.value_lo, d.value_hi, d.absdiff_lo_exp, (long long)d.absdiff_zero,
			       (long long)d.absdiff_nonfinite, (unsigned long long)h, d.heat_max);
			for (int k = 0; k < DV_ABSDIFF_BUCKETS; k++)
				printf(" %lld", (long long)d.absdiff_buckets[k]);
			printf("\n  bins");
			for (int k = 0; k < DV_VALUE_BINS; k++)
				printf(" %lld/%lld", (long long)d.base_bins[k], (long long)d.targ_bins[k]);
			printf("\n");
		}
		if (rc == 0)
			dv_pair_detail_free(&d);
		free(known);
		return rc;
	}
	if (r->stage == ST_EXPORT) {
		const char *out = getenv("EXPORT_FILE") ? getenv("EXPORT_FILE") : "/tmp/dv-bench/export.csv";
		int64_t rows = 0;
		struct stat st;

		rc = dv_export_diff_csv(bp, tp, out, -1, 0, &opts, &rows, &err);
		if (rc == 0 && stat(out, &st) == 0)
			atomic_fetch_add(&export_bytes, (long long)st.st_size);
		if (!getenv("EXPORT_KEEP"))
			unlink(out);
		return rc;
	}
	/* read: the CRC checked (as --verify-crc); readnc, nocrc: not */
	lim.no_crc_check = r->stage == ST_READNC || r->stage == ST_NOCRC;
	bf = pt_open_ex(bp, &lim, &err);
	tf = bf ? pt_open_ex(tp, &lim, &err) : NULL;
	if (!bf || !tf) {
		rc = -1;
	} else if (r->stage == ST_READ || r->stage == ST_READNC) {
		if (read_all(bf, pt_dump_value(bf), buf, bufsize, &err) < 0 ||
		    read_all(tf, pt_dump_value(tf), buf, bufsize, &err) < 0)
			rc = -1;
	} else if (r->stage == ST_NOCRC) {
		const pt_obj *bv = pt_dump_value(bf), *tv = pt_dump_value(tf);

		res = malloc(sizeof(*res));
		if (!res)
			abort();
		if (bv && tv && bv->kind == PT_TENSOR && tv->kind == PT_TENSOR) {
			rc = dv_compare_tensors(bf, &bv->u.tensor, tf, &tv->u.tensor, &opts, res, &err);
			dv_pair_result_free(res);
		}
		free(res);
	}
	if (rc < 0 && bf && tf)
		fprintf(stderr, "engine_bench: %s\n", err.msg);
	if (bf)
		pt_close(bf);
	if (tf)
		pt_close(tf);
	return rc;
}

static void *worker(void *arg)
{
	struct run *r = arg;
	size_t bufsize = 256 << 10;
	void *buf = malloc(bufsize);
	char bp[4096], tp[4096];

	if (!buf)
		abort();
	for (;;) {
		size_t i = atomic_fetch_add(&r->next, 1);

		if (i >= r->ps->n)
			break;
		snprintf(bp, sizeof(bp), "%s/%s", r->base, r->ps->rel[i]);
		snprintf(tp, sizeof(tp), "%s/%s", r->targ, r->ps->rel[i]);
		if (one_pair(r, bp, tp, buf, bufsize) < 0)
			atomic_fetch_add(&r->errors, 1);
	}
	free(buf);
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

int main(int argc, char **argv)
{
	int nthreads = (int)sysconf(_SC_NPROCESSORS_ONLN), opt;
	struct pairs ps = { 0 };

	while ((opt = getopt(argc, argv, "j:t:")) != -1) {
		if (opt == 'j')
			nthreads = atoi(optarg);
		else if (opt == 't')
			opt_threads = atoi(optarg);
		else
			goto usage;
	}
	if (argc - optind != 3 || nthreads < 1 || nthreads > 64)
		goto usage;
	collect(argv[optind + 2], "", &ps);
	if (!ps.n) {
		fprintf(stderr, "engine_bench: no .pt files under %s\n", argv[optind + 2]);
		return 2;
	}
	printf("%zu pairs, %d threads\n", ps.n, nthreads);

	char *stages = strdup(argv[optind]), *save = NULL;
	for (char *s = strtok_r(stages, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
		struct run r = { .base = argv[optind + 1], .targ = argv[optind + 2], .ps = &ps };
		pthread_t th[64];
		size_t k;

		for (k = 0; k < sizeof(stage_names) / sizeof(stage_names[0]); k++)
			if (!strcmp(s, stage_names[k]))
				break;
		if (k == sizeof(stage_names) / sizeof(stage_names[0]))
			goto usage;
		r.stage = (enum stage)k;
		double w0 = now(), c0 = cpu_seconds();
		for (int t = 0; t < nthreads; t++)
			pthread_create(&th[t], NULL, worker, &r);
		for (int t = 0; t < nthreads; t++)
			pthread_join(th[t], NULL);
		double wall = now() - w0;
		long long eb = atomic_exchange(&export_bytes, 0);

		printf("  %-7s wall %7.3f s  cpu %7.3f s  errors %ld", s, wall, cpu_seconds() - c0,
		       (long)atomic_load(&r.errors));
		if (r.stage == ST_DETAIL)
			printf("  detail only %.3f s (cpu %.3f s with -j 1)", (double)atomic_exchange(&detail_ns, 0) / 1e9,
			       (double)atomic_exchange(&detail_cpu_ns, 0) / 1e9);
		if (r.stage == ST_EXPORT)
			printf("  wrote %.1f MB, %.0f MB/s", eb / 1e6, eb / 1e6 / wall);
		printf("\n");
	}
	free(stages);
	for (size_t i = 0; i < ps.n; i++)
		free(ps.rel[i]);
	free(ps.rel);
	return 0;

usage:
	fprintf(stderr, "usage: engine_bench [-j THREADS] [-t N] open|read|readnc|full|nocrc|nopct|verify|detail|export[,...] "
			"BASELINE TARGET\n");
	return 2;
}
