/* The detail pane of the selected tensor: stat columns for baseline | target |
 * diff, the metrics, the max |t-b| coordinate, bit-identical fraction, the
 * |t-b| log10 histogram, both sides' value histograms on shared bins, and a
 * heat map of |t-b| with its legend. Drawn as scrollable lines. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/logical.h"
#include "dumpview/numfmt.h"
#include "dumpview/token_align.h"
#include "dumpview/vtensor.h"
#include "draw.h"
#include "jobs.h"
#include "keys.h"
#include "state.h"
#include "views.h"

typedef struct dctx {
	tui_app *app;
	tui_rect r;
	int line;       /* current logical line */
	int scroll;
} dctx;

static bool visible(dctx *c, int *y)
{
	int l = c->line - c->scroll;
	if (l < 0 || l >= c->r.h)
		return false;
	*y = c->r.y + l;
	return true;
}

/* Puts text at column x of the current line. */
static void put(dctx *c, int x, const char *s, attr_t attr)
{
	int y;
	if (x >= c->r.w || !visible(c, &y))
		return;
	tui_draw_str(stdscr, y, c->r.x + x, c->r.w - x, s, attr);
}

static void putf(dctx *c, int x, int width, const char *s, attr_t attr, bool right)
{
	int y;
	if (x >= c->r.w || !visible(c, &y))
		return;
	if (x + width > c->r.w)
		width = c->r.w - x;
	tui_draw_field(c->app, y, c->r.x + x, width, s, attr, right);
}

static void dnl(dctx *c)
{
	c->line++;
}

static void line(dctx *c, const char *s, attr_t attr)
{
	put(c, 1, s, attr);
	dnl(c);
}

/* A long message over as many lines as it needs (breaking at spaces or
 * slashes where it can, else anywhere). */
static void wrapped(dctx *c, const char *s, attr_t attr)
{
	int width = c->r.w - 2;
	if (width < 10)
		width = 10;
	char buf[1024];
	while (*s) {
		size_t len = strlen(s), cut = len;
		if (tui_draw_width(s) > width) {
			/* Longest prefix that fits, in bytes. */
			size_t fit = 0;
			for (size_t i = 1; i <= len; i++) {
				if ((s[i] & 0xc0) == 0x80)
					continue;
				char tmp[1024];
				size_t n = i < sizeof(tmp) - 1 ? i : sizeof(tmp) - 1;
				memcpy(tmp, s, n);
				tmp[n] = '\0';
				if (tui_draw_width(tmp) > width)
					break;
				fit = i;
			}
			cut = fit ? fit : 1;
			for (size_t i = cut; i > cut / 2; i--)
				if (s[i - 1] == ' ' || s[i - 1] == '/') {
					cut = i;
					break;
				}
		}
		size_t n = cut < sizeof(buf) - 1 ? cut : sizeof(buf) - 1;
		memcpy(buf, s, n);
		buf[n] = '\0';
		line(c, buf, attr);
		s += cut;
	}
}

static void stat_row(dctx *c, const char *label, double b, double t, bool hb, bool ht, bool diff)
{
	char bs[64] = "", ts[64] = "", ds[64] = "";
	if (hb)
		tui_draw_fmt_stat(bs, sizeof(bs), b);
	if (ht)
		tui_draw_fmt_stat(ts, sizeof(ts), t);
	if (hb && ht && diff)
		tui_draw_fmt_stat(ds, sizeof(ds), t - b);
	putf(c, 1, 10, label, A_BOLD, false);
	putf(c, 12, 16, bs, A_NORMAL, true);
	putf(c, 30, 16, ts, A_NORMAL, true);
	putf(c, 48, 16, ds, A_NORMAL, true);
	dnl(c);
}

static void text_row(dctx *c, const char *label, const char *b, const char *t, const char *d)
{
	putf(c, 1, 10, label, A_BOLD, false);
	putf(c, 12, 16, b, A_NORMAL, true);
	putf(c, 30, 16, t, A_NORMAL, true);
	putf(c, 48, 16, d, A_NORMAL, true);
	dnl(c);
}

static void coord_str(char *buf, size_t size, const int64_t *coord, int ndim)
{
	size_t n = (size_t)snprintf(buf, size, "[");
	for (int i = 0; i < ndim && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)coord[i]);
	if (n < size)
		snprintf(buf + n, size - n, "]");
}

static void draw_stat_table(dctx *c, const dv_pair *p)
{
	tui_app *app = c->app;
	const dv_pair_result *r = p->result;
	const dv_stats *bs = &r->base_stats, *ts = &r->targ_stats;
	attr_t head = tui_draw_attr(app, CP_HEAD, A_BOLD);
	putf(c, 12, 16, "baseline", head, true);
	putf(c, 30, 16, "target", head, true);
	putf(c, 48, 16, "diff (t-b)", head, true);
	dnl(c);
	char b[200], t[200];
	dv_fmt_shape_compact(b, sizeof(b), "", r->base.ndim, dv_result_shape(&r->base));
	dv_fmt_shape_compact(t, sizeof(t), "", r->targ.ndim, dv_result_shape(&r->targ));
	text_row(c, "shape", b, t, strcmp(b, t) ? "differs" : "");
	text_row(c, "dtype", dv_dtype_name(r->base.dtype), dv_dtype_name(r->targ.dtype),
		 r->base.dtype != r->targ.dtype ? "differs" : "");
	if (r->status != DV_RESULT_COMPARED)
		return;
	char nb[32], nt[32];
	snprintf(nb, sizeof(nb), "%lld", (long long)dv_stats_numel(bs));
	snprintf(nt, sizeof(nt), "%lld", (long long)dv_stats_numel(ts));
	text_row(c, "numel", nb, nt, "");
	stat_row(c, "mean", bs->mean, ts->mean, true, true, true);
	stat_row(c, "std", bs->std, ts->std, true, true, true);
	stat_row(c, "min", bs->min, ts->min, true, true, true);
	stat_row(c, "max", bs->max, ts->max, true, true, true);
	for (int q = 0; q < DV_NQUANTILES; q++)
		stat_row(c, dv_quantile_name[q], bs->p[q], ts->p[q], bs->has_percentiles, ts->has_percentiles, true);
	if (!bs->has_percentiles || !ts->has_percentiles) {
		putf(c, 12, 52, "(percentiles skipped at >= 10M elements)", tui_draw_attr(app, CP_DIM, 0), false);
		dnl(c);
	}
	char bn[64], tn[64];
	snprintf(bn, sizeof(bn), "%lld / %lld", (long long)dv_stats_nan(bs), (long long)dv_stats_inf(bs));
	snprintf(tn, sizeof(tn), "%lld / %lld", (long long)dv_stats_nan(ts), (long long)dv_stats_inf(ts));
	text_row(c, "NaN / Inf", bn, tn, "");
}

static void draw_metrics(dctx *c, const dv_pair *p)
{
	tui_app *app = c->app;
	const dv_pair_result *r = p->result;
	char m1[64], m2[64], m3[64], buf[512];
	tui_draw_fmt_num(m1, sizeof(m1), r->rel_diff);
	tui_draw_fmt_num(m2, sizeof(m2), r->max_abs_diff);
	tui_draw_fmt_num(m3, sizeof(m3), r->mean_abs_diff);
	bool pass = tui_tree_verdict(app->cmp, p) == PV_PASS;
	snprintf(buf, sizeof(buf), "rel_diff %s  max_abs %s  mean_abs %s", m1, m2, m3);
	put(c, 1, buf, A_BOLD);
	int w = tui_draw_width(buf) + 3;
	const dv_rule *rule = dv_comparison_rule(app->cmp, (size_t)(p - app->cmp->pairs));
	if (dv_comparison_no_rule(app->cmp, (size_t)(p - app->cmp->pairs)))
		snprintf(buf, sizeof(buf), "%s error: %s", app->g.fail, DV_NO_RULE_MESSAGE);
	else if (rule)
		snprintf(buf, sizeof(buf), "%s %s (rule %s)", pass ? app->g.pass : app->g.fail, pass ? "passes" : "fails",
			 dv_rule_origin(rule));
	else if (isnan(dv_comparison_threshold(app->cmp)))
		snprintf(buf, sizeof(buf), "%s %s (as the report recorded)", pass ? app->g.pass : app->g.fail,
			 pass ? "passes" : "fails");
	else
		snprintf(buf, sizeof(buf), "%s %s (thr %g)", pass ? app->g.pass : app->g.fail, pass ? "passes" : "fails",
			 dv_comparison_threshold(app->cmp));
	put(c, w, buf, tui_draw_attr(app, pass ? CP_PASS : CP_FAIL, A_BOLD));
	dnl(c);
	if (r->has_bf16) {
		tui_draw_fmt_num(m1, sizeof(m1), r->bf16_rel_diff);
		tui_draw_fmt_num(m2, sizeof(m2), r->bf16_max_abs_diff);
		tui_draw_fmt_num(m3, sizeof(m3), r->bf16_mean_abs_diff);
		snprintf(buf, sizeof(buf), "after casting both to bfloat16: rel_diff %s   max_abs_diff %s   mean_abs_diff %s",
			 m1, m2, m3);
		line(c, buf, A_NORMAL);
	}
	char coord[256], vb[64], vt[64];
	coord_str(coord, sizeof(coord), dv_result_coord(r), r->max_abs_diff_ndim);
	tui_draw_fmt_stat(vb, sizeof(vb), r->max_abs_diff_base);
	tui_draw_fmt_stat(vt, sizeof(vt), r->max_abs_diff_targ);
	snprintf(buf, sizeof(buf), "max |t-b| at %s (index %lld): baseline %s, target %s", coord,
		 (long long)r->max_abs_diff_index, vb, vt);
	line(c, buf, A_NORMAL);
	snprintf(buf, sizeof(buf), "bit-identical elements: %lld of %lld (%.2f%%)", (long long)r->identical,
		 (long long)r->numel, r->numel ? 100.0 * (double)r->identical / (double)r->numel : 0.0);
	line(c, buf, A_NORMAL);
}

static void bar(dctx *c, int x, int width, int64_t count, int64_t max, attr_t attr)
{
	if (width <= 0 || max <= 0)
		return;
	int eighths = (int)ceil((double)count / (double)max * width * 8);
	char buf[4096];
	size_t n = 0;
	buf[0] = '\0';
	for (int i = 0; i < width && n + 8 < sizeof(buf); i++) {
		int e = eighths - i * 8;
		if (e <= 0)
			break;
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s", c->app->g.spark[e > 8 ? 8 : e]);
	}
	put(c, x, buf, attr);
}

static void draw_absdiff_hist(dctx *c, const dv_pair_detail *d)
{
	tui_app *app = c->app;
	line(c, "|t-b| per element, log10 buckets (exact zeros apart):", tui_draw_attr(app, CP_HEAD, A_BOLD));
	int first = -1, last = -1;
	int64_t max = d->absdiff_zero > d->absdiff_nonfinite ? d->absdiff_zero : d->absdiff_nonfinite;
	for (int i = 0; i < DV_ABSDIFF_BUCKETS; i++)
		if (d->absdiff_buckets[i]) {
			if (first < 0)
				first = i;
			last = i;
			if (d->absdiff_buckets[i] > max)
				max = d->absdiff_buckets[i];
		}
	int barw = c->r.w - 34;
	char label[64], cnt[32];
	snprintf(cnt, sizeof(cnt), "%lld", (long long)d->absdiff_zero);
	putf(c, 1, 18, "0 (exact)", A_NORMAL, false);
	putf(c, 20, 10, cnt, A_NORMAL, true);
	bar(c, 32, barw, d->absdiff_zero, max, tui_draw_attr(app, CP_PASS, 0));
	dnl(c);
	for (int i = first; i >= 0 && i <= last; i++) {
		int e = d->absdiff_lo_exp + i;
		if (i == 0)
			snprintf(label, sizeof(label), "< 1e%+03d", e + 1);
		else if (i == DV_ABSDIFF_BUCKETS - 1)
			snprintf(label, sizeof(label), ">= 1e%+03d", e);
		else
			snprintf(label, sizeof(label), "[1e%+03d, 1e%+03d)", e, e + 1);
		snprintf(cnt, sizeof(cnt), "%lld", (long long)d->absdiff_buckets[i]);
		putf(c, 1, 18, label, A_NORMAL, false);
		putf(c, 20, 10, cnt, A_NORMAL, true);
		bar(c, 32, barw, d->absdiff_buckets[i], max, tui_draw_attr(app, CP_FAIL, 0));
		dnl(c);
	}
	if (d->absdiff_nonfinite) {
		snprintf(cnt, sizeof(cnt), "%lld", (long long)d->absdiff_nonfinite);
		putf(c, 1, 18, "nan/inf", A_NORMAL, false);
		putf(c, 20, 10, cnt, A_NORMAL, true);
		bar(c, 32, barw, d->absdiff_nonfinite, max, tui_draw_attr(app, CP_FAIL, 0));
		dnl(c);
	}
}

static void sparkline(dctx *c, int x, const int64_t *bins, int nbins, int width, int64_t max, attr_t attr)
{
	char buf[4096];
	size_t n = 0;
	int per = (nbins + width - 1) / width;
	if (per < 1)
		per = 1;
	for (int i = 0; i < nbins && n + 8 < sizeof(buf); i += per) {
		int64_t s = 0;
		for (int k = i; k < i + per && k < nbins; k++)
			s += bins[k];
		int e = s ? (int)ceil((double)s / (double)max * 8) : 0;
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s", c->app->g.spark[e > 8 ? 8 : e]);
	}
	put(c, x, buf, attr);
}

static void draw_value_hists(dctx *c, const dv_pair_detail *d)
{
	tui_app *app = c->app;
	char lo[32], hi[32], buf[128];
	tui_draw_fmt_stat(lo, sizeof(lo), d->value_lo);
	tui_draw_fmt_stat(hi, sizeof(hi), d->value_hi);
	snprintf(buf, sizeof(buf), "values, %d shared bins over [%s, %s]:", DV_VALUE_BINS, lo, hi);
	line(c, buf, tui_draw_attr(app, CP_HEAD, A_BOLD));
	int width = c->r.w - 12;
	if (width > DV_VALUE_BINS)
		width = DV_VALUE_BINS;
	int per = (DV_VALUE_BINS + width - 1) / width;
	int64_t max = 1;
	for (int i = 0; i < DV_VALUE_BINS; i += per) {
		int64_t sb = 0, st = 0;
		for (int k = i; k < i + per && k < DV_VALUE_BINS; k++)
			sb += d->base_bins[k], st += d->targ_bins[k];
		if (sb > max)
			max = sb;
		if (st > max)
			max = st;
	}
	put(c, 1, "baseline", A_BOLD);
	sparkline(c, 11, d->base_bins, DV_VALUE_BINS, width, max, A_NORMAL);
	dnl(c);
	put(c, 1, "target", A_BOLD);
	sparkline(c, 11, d->targ_bins, DV_VALUE_BINS, width, max, A_NORMAL);
	dnl(c);
	int cols = (DV_VALUE_BINS + per - 1) / per;
	put(c, 11, lo, tui_draw_attr(app, CP_DIM, 0));
	int hw = tui_draw_width(hi);
	if (11 + cols - hw > 11 + tui_draw_width(lo) + 1)
		put(c, 11 + cols - hw, hi, tui_draw_attr(app, CP_DIM, 0));
	dnl(c);
}


/* ---- token alignment (the smart aligner) ---- */

/* A matched sequence's own verdict under the threshold the tree judges by
 * (the one it was computed under when none is set). */
static bool seq_passes(const tui_app *app, const dv_seq_metrics *s)
{
	double thr = dv_comparison_threshold(app->cmp);
	if (isnan(thr))
		return s->passed;
	return dv_rel_diff_passes(s->rel_diff, thr) && !isnan(s->max_abs_diff);
}

/* How many matched sequences a phase's alignment compared (tokens > 0). */
static size_t ta_compared(const dv_ta_result *ta)
{
	size_t n = 0;
	for (size_t i = 0; i < ta->nmatched; i++)
		n += ta->matched[i].tokens > 0;
	return n;
}

/* The phase's alignment coverage, once per pane: what was matched, what
 * was left over on each side, the padding ignored and the problems; or why
 * the smart aligner is not in use. */
static void draw_coverage(dctx *c, const dv_logical_ctx *lc)
{
	tui_app *app = c->app;
	char buf[2048];
	if (!lc || !lc->smart_asked)
		return;
	if (lc->ta_why || !lc->ta) {
		snprintf(buf, sizeof(buf), "tokens:   %s; token aligner in use: %s", lc->ta_why ? lc->ta_why : "smart token aligner not used",
			 dv_token_aligner_name(lc->token_aligner) ? dv_token_aligner_name(lc->token_aligner) : "none");
		wrapped(c, buf, tui_draw_attr(app, CP_FAIL, A_BOLD));
		return;
	}
	const dv_ta_result *ta = lc->ta;
	size_t compared = ta_compared(ta);
	snprintf(buf, sizeof(buf),
		 "tokens:   smart%s: %zu sequence%s matched, %zu token%s aligned; unmatched baseline %zu, target %zu; "
		 "padding %zu token%s (%zu segment%s); %zu error%s",
		 ta->by_rid ? " by rid" : "", compared, compared == 1 ? "" : "s", ta->ntokens, ta->ntokens == 1 ? "" : "s",
		 ta->nunmatched_baseline, ta->nunmatched_target, ta->padding_tokens, ta->padding_tokens == 1 ? "" : "s",
		 ta->padding_sequences, ta->padding_sequences == 1 ? "" : "s", ta->nerrors, ta->nerrors == 1 ? "" : "s");
	wrapped(c, buf, A_NORMAL);
	for (int side = 0; side < 2; side++) {
		const dv_ta_unmatched *u = side ? ta->unmatched_target : ta->unmatched_baseline;
		size_t n = side ? ta->nunmatched_target : ta->nunmatched_baseline;
		if (!n)
			continue;
		size_t k = (size_t)snprintf(buf, sizeof(buf), "          %s only:", side ? "target" : "baseline");
		for (size_t i = 0; i < n && k < sizeof(buf); i++)
			k += (size_t)snprintf(buf + k, sizeof(buf) - k, "%s %s (%zu token%s)", i ? "," : "", u[i].id,
					      u[i].tokens, u[i].tokens == 1 ? "" : "s");
		wrapped(c, buf, A_NORMAL);
	}
	for (size_t i = 0; i < ta->nerrors; i++) {
		snprintf(buf, sizeof(buf), "          error: %s", ta->errors[i]);
		wrapped(c, buf, tui_draw_attr(app, CP_FAIL, A_BOLD));
	}
	if (!compared)
		line(c, "          matched no sequence: nothing is compared (a warning: the gate fails)",
		     tui_draw_attr(app, CP_FAIL, A_BOLD));
}

/* Each matched sequence's own metrics, in target order with its tokens'
 * range along the token dim, failing rows marked: which request diverges. */
static void draw_seq_table(dctx *c, const dv_pair *p)
{
	tui_app *app = c->app;
	dv_logical_result whole;
	const dv_logical_result *lr = dv_pair_logical(p, &whole);
	const dv_ta_result *ta = p->lctx ? p->lctx->ta : NULL;
	if (!lr || !ta || !lr->nseqs)
		return;
	attr_t head = tui_draw_attr(app, CP_HEAD, A_BOLD);
	char buf[512], num[64];
	size_t nfail = 0;
	for (size_t i = 0; i < lr->nseqs; i++)
		nfail += !seq_passes(app, &lr->seqs[i]);
	size_t k = (size_t)snprintf(buf, sizeof(buf), "per sequence (token alignment, target order): %zu of %zu fail", nfail,
				    (size_t)lr->nseqs);
	for (size_t i = 0, shown = 0; i < lr->nseqs && k < sizeof(buf); i++)
		if (!seq_passes(app, &lr->seqs[i]))
			k += (size_t)snprintf(buf + k, sizeof(buf) - k, "%s %s", shown++ ? "," : ":", lr->seqs[i].id);
	wrapped(c, buf, head);
	putf(c, 1, 16, "sequence", head, false);
	putf(c, 18, 6, "tokens", head, true);
	putf(c, 25, 11, "range", head, false);
	putf(c, 36, 9, "rel_diff", head, true);
	putf(c, 46, 9, "max_abs", head, true);
	putf(c, 56, 9, "mean_abs", head, true);
	dnl(c);
	size_t j = 0;
	for (size_t m = 0; m < ta->nmatched; m++) {
		const dv_ta_match *mt = &ta->matched[m];
		const dv_seq_metrics *s = j < lr->nseqs && lr->seqs[j].id == mt->id ? &lr->seqs[j++] : NULL;
		bool pass = s && seq_passes(app, s);
		attr_t a = s && !pass ? tui_draw_attr(app, CP_FAIL, A_BOLD) : A_NORMAL;
		putf(c, 1, 16, mt->id, a, false);
		snprintf(num, sizeof(num), "%zu", mt->tokens);
		putf(c, 18, 6, num, a, true);
		snprintf(num, sizeof(num), "[%zu, %zu)", mt->start, mt->end);
		putf(c, 25, 11, num, a, false);
		if (!s) {
			put(c, 36, mt->ids_disagree ? "token ids disagree: not compared" : "not compared",
			    tui_draw_attr(app, CP_FAIL, 0));
			dnl(c);
			continue;
		}
		tui_draw_fmt_num(num, sizeof(num), s->rel_diff);
		putf(c, 36, 9, num, a, true);
		tui_draw_fmt_num(num, sizeof(num), s->max_abs_diff);
		putf(c, 46, 9, num, a, true);
		tui_draw_fmt_num(num, sizeof(num), s->mean_abs_diff);
		putf(c, 56, 9, num, a, true);
		snprintf(buf, sizeof(buf), "%s %s", pass ? app->g.pass : app->g.fail, pass ? "passes" : "FAILS");
		put(c, 66, buf, tui_draw_attr(app, pass ? CP_PASS : CP_FAIL, A_BOLD));
		dnl(c);
	}
}

/* The sequence each heat-map row falls in, when the rows run along the
 * token dim of an aligned pair (every dim before it of size 1): the id of
 * the matched sequence holding most of the row's tokens, "~" before it when
 * the row also holds another one's. NULL when the rows are not tokens. */
typedef struct heat_seqs {
	const dv_ta_result *ta;
	int64_t per_token;     /* heat source rows per token (dims between the token dim and the last) */
	int64_t ntok;
} heat_seqs;

static bool heat_seqs_of(const dv_pair *p, const dv_pair_detail *d, heat_seqs *h)
{
	dv_logical_result whole;
	const dv_logical_result *lr = dv_pair_logical(p, &whole);
	const dv_ta_result *ta = p->lctx ? p->lctx->ta : NULL;
	if (!lr || !ta || !lr->nseqs || !ta->nmatched || lr->token_dim < 0 || lr->token_dim >= lr->aligned_ndim - 1)
		return false;
	int64_t outer = 1, inner = 1;
	for (int k = 0; k < lr->token_dim; k++)
		outer *= lr->aligned_shape[k];
	for (int k = lr->token_dim + 1; k < lr->aligned_ndim - 1; k++)
		inner *= lr->aligned_shape[k];
	int64_t T = lr->aligned_shape[lr->token_dim];
	if (outer != 1 || T != (int64_t)ta->ntokens || inner <= 0 || T * inner != d->heat_src_rows)
		return false;
	h->ta = ta;
	h->per_token = inner;
	h->ntok = T;
	return true;
}

/* The matched sequence (index) holding most of the tokens [t0, t1), -1 when
 * none; *mixed when another one holds some. */
static ptrdiff_t heat_seq_at(const heat_seqs *h, int64_t t0, int64_t t1, bool *mixed)
{
	ptrdiff_t best = -1;
	int64_t most = 0;
	int holders = 0;
	for (size_t m = 0; m < h->ta->nmatched; m++) {
		int64_t a = (int64_t)h->ta->matched[m].start, b = (int64_t)h->ta->matched[m].end;
		int64_t lo = a > t0 ? a : t0, hi = b < t1 ? b : t1;
		if (hi <= lo)
			continue;
		holders++;
		if (hi - lo > most) {
			most = hi - lo;
			best = (ptrdiff_t)m;
		}
	}
	*mixed = holders > 1;
	return best;
}

static void draw_heat(dctx *c, const dv_pair *p, const dv_pair_detail *d)
{
	tui_app *app = c->app;
	if (!d->heat || d->heat_rows <= 0 || d->heat_cols <= 0) {
		line(c, "heat map: only for tensors of 2+ dims", tui_draw_attr(app, CP_DIM, 0));
		return;
	}
	if (!(d->heat_max > 0) && !isnan(d->heat_max)) {
		line(c, "heat map: |t-b| is 0 everywhere", tui_draw_attr(app, CP_DIM, 0));
		return;
	}
	/* As many rows as the pane still shows (at least 8), so the map is seen
	 * without scrolling; finer rows are averaged. */
	/* Rows along the token dim of an aligned pair: each labelled at the
	 * right by its sequence (the label column taken from the map's width). */
	heat_seqs hs;
	bool labels = heat_seqs_of(p, d, &hs);
	int lw = 0;
	if (labels) {
		for (size_t m = 0; m < hs.ta->nmatched; m++) {
			int w = tui_draw_width(hs.ta->matched[m].id);
			if (w > lw)
				lw = w;
		}
		lw = (lw > 16 ? 16 : lw) + 3;
	}
	int maxw = c->r.w - 4 - lw, maxh = c->r.h - c->line - 3;
	if (maxh < 8)
		maxh = 8;
	if (maxw < 8)
		maxw = 8;
	int cols = d->heat_cols < maxw ? d->heat_cols : maxw;
	int rows = d->heat_rows < maxh ? d->heat_rows : maxh;
	char buf[512], mx[32];
	tui_draw_fmt_num(mx, sizeof(mx), d->heat_max);
	snprintf(buf, sizeof(buf), "|t-b| heat map: %lld x %lld (rows x last dim) as %d x %d cells, mean per cell:",
		 (long long)d->heat_src_rows, (long long)d->heat_src_cols, rows, cols);
	line(c, buf, tui_draw_attr(app, CP_HEAD, A_BOLD));
	if (labels)
		wrapped(c, "rows run along the tokens: each labelled by the sequence holding most of its tokens "
			   "(~: the row crosses into the next one)", tui_draw_attr(app, CP_DIM, 0));
	/* Legend: each level's glyph and its lower bound. */
	put(c, 1, "legend:", A_BOLD);
	int x = 9;
	for (int l = 0; l < HEAT_LEVELS; l++) {
		char lb[48], num[32];
		if (l == 0)
			snprintf(num, sizeof(num), "0");
		else
			tui_draw_fmt_num(num, sizeof(num), d->heat_max * l / HEAT_LEVELS);
		snprintf(lb, sizeof(lb), "%s%s", l == 0 ? "= " : "> ", num);
		attr_t a = tui_draw_attr(app, CP_HEAT0 + l, A_NORMAL);
		char cell[16];
		snprintf(cell, sizeof(cell), "%s%s", app->g.heat[l], app->g.heat[l]);
		put(c, x, cell, a | (app->color ? A_REVERSE : 0));
		put(c, x + 3, lb, A_NORMAL);
		x += 3 + tui_draw_width(lb) + 2;
	}
	snprintf(buf, sizeof(buf), "(max %s)", mx);
	put(c, x, buf, A_NORMAL);
	dnl(c);
	ptrdiff_t label_prev = -1;
	bool label_mixed = false;
	for (int r = 0; r < rows; r++) {
		int r0 = (int)((int64_t)r * d->heat_rows / rows), r1 = (int)((int64_t)(r + 1) * d->heat_rows / rows);
		if (r1 <= r0)
			r1 = r0 + 1;
		int y;
		bool vis = visible(c, &y);
		for (int col = 0; vis && col < cols; col++) {
			int c0 = (int)((int64_t)col * d->heat_cols / cols), c1 = (int)((int64_t)(col + 1) * d->heat_cols / cols);
			if (c1 <= c0)
				c1 = c0 + 1;
			double s = 0;
			int n = 0;
			bool nonfinite = false;
			for (int i = r0; i < r1; i++)
				for (int k = c0; k < c1; k++) {
					double v = d->heat[(size_t)i * (size_t)d->heat_cols + (size_t)k];
					if (!isfinite(v))
						nonfinite = true;
					s += v;
					n++;
				}
			double v = n ? s / n : 0;
			int level;
			if (nonfinite)
				level = HEAT_LEVELS - 1;
			else if (v <= 0 || d->heat_max <= 0)
				level = 0;
			else {
				level = (int)ceil(v / d->heat_max * (HEAT_LEVELS - 1));
				if (level < 1)
					level = 1;
				if (level >= HEAT_LEVELS)
					level = HEAT_LEVELS - 1;
			}
			attr_t a = tui_draw_attr(app, CP_HEAT0 + level, A_NORMAL);
			tui_draw_str(stdscr, y, c->r.x + 2 + col, 1, app->g.heat[level], a | (app->color ? A_REVERSE : 0));
		}
		if (labels) {
			/* the source rows of heat rows [r0, r1), then their tokens */
			int64_t R = d->heat_src_rows, hr = d->heat_rows;
			int64_t s0 = ((int64_t)r0 * R + hr - 1) / hr, s1 = ((int64_t)r1 * R + hr - 1) / hr;
			int64_t t0 = s0 / hs.per_token, t1 = (s1 + hs.per_token - 1) / hs.per_token;
			bool mixed;
			ptrdiff_t m = heat_seq_at(&hs, t0, t1, &mixed);
			char lb[64];
			if (m < 0)
				snprintf(lb, sizeof(lb), " ");
			else if (mixed)
				snprintf(lb, sizeof(lb), "~%s", hs.ta->matched[m].id);
			else if (m != label_prev || label_mixed)
				snprintf(lb, sizeof(lb), " %s", hs.ta->matched[m].id);
			else
				snprintf(lb, sizeof(lb), " %s", app->g.vbar);
			label_prev = m;
			label_mixed = mixed;
			put(c, 2 + cols + 1, lb, mixed ? tui_draw_attr(app, CP_DIM, 0) : A_NORMAL);
		}
		dnl(c);
	}
}


/* "t h[tp]" or "(none)". */
static const char *dims_or_none(const char *d)
{
	return d && *d ? d : "(none)";
}

/* A side's files: the first one's path, then how many more and their ranks
 * ("(+3 files: ranks 0 1 2 3)"). */
static void side_files(dctx *c, const dv_pair *p, int side)
{
	size_t n;
	const dv_dumpfile *const *f = dv_pair_files(p, side, &n);
	const dv_dumpfile *first = side ? p->targ : p->base;
	char buf[1024];
	if (n <= 1) {
		snprintf(buf, sizeof(buf), "%s%s", side ? "target:   " : "baseline: ", first ? dv_dumpfile_relpath(first) : "(none)");
		line(c, buf, A_NORMAL);
		return;
	}
	size_t k = (size_t)snprintf(buf, sizeof(buf), "%s%zu files, ranks", side ? "target:   " : "baseline: ", n);
	for (size_t i = 0; i < n && k < sizeof(buf); i++)
		k += (size_t)snprintf(buf + k, sizeof(buf) - k, " %lld", (long long)f[i]->rank);
	if (k < sizeof(buf))
		snprintf(buf + k, sizeof(buf) - k, "; the first: %s", first ? dv_dumpfile_relpath(first) : "(none)");
	wrapped(c, buf, A_NORMAL);
}

/* What a logical tensor adds: how its files were read (preset, dims of
 * both sides, the plan), the shape compared, the replicated checks and the
 * target shard holding max |t-b|. */
static void draw_logical(dctx *c, const dv_pair *p)
{
	tui_app *app = c->app;
	dv_logical_result whole;
	const dv_logical_result *lr = dv_pair_logical(p, &whole);
	char buf[2048];
	if (p->lctx) {
		snprintf(buf, sizeof(buf), "preset:   %s%s", dv_preset_name(p->lctx->preset),
			 p->lctx->preset_chosen ? " (chosen from the files)" : "");
		line(c, buf, A_NORMAL);
		draw_coverage(c, p->lctx);
	}
	if (!lr)
		return;
	snprintf(buf, sizeof(buf), "dims:     baseline %s   target %s", dims_or_none(lr->dims[0]), dims_or_none(lr->dims[1]));
	wrapped(c, buf, A_NORMAL);
	snprintf(buf, sizeof(buf), "plan:     %s", lr->plan ? lr->plan : "(read as stored)");
	wrapped(c, buf, A_NORMAL);
	char shape[200];
	dv_fmt_shape_compact(shape, sizeof(shape), "", lr->aligned_ndim, lr->aligned_shape);
	snprintf(buf, sizeof(buf), "compared: %s", shape);
	line(c, buf, A_NORMAL);
	for (size_t i = 0; i < lr->nchecks; i++) {
		const dv_replica_check *k = &lr->checks[i];
		char num[48], m[64];
		tui_draw_fmt_num(num, sizeof(num), k->max_abs_diff);
		snprintf(m, sizeof(m), isnan(k->max_abs_diff) ? "shapes differ" : "max_abs_diff %s", num);
		snprintf(buf, sizeof(buf), "replica:  %s %s: rank %lld vs rank %lld (kept)  %s  %s %s", k->side ? "target" : "baseline",
			 dv_axis_name(k->axis), (long long)k->ranks[1], (long long)k->ranks[0], m,
			 k->passed ? app->g.pass : app->g.replica, k->passed ? "same" : "REPLICA MISMATCH");
		line(c, buf, k->passed ? A_NORMAL : tui_draw_attr(app, CP_FAIL, A_BOLD));
	}
	if (lr->replica_mismatch) {
		snprintf(buf, sizeof(buf), "          a replicated copy differs by more than %g: the tensor fails", DV_REPLICATED_ATOL);
		line(c, buf, tui_draw_attr(app, CP_FAIL, 0));
	}
	/* where max |t-b| lies, once there is a difference to place */
	if (lr->has_shard && lr->shard_file && p->result->max_abs_diff != 0) {
		char coord[256];
		coord_str(coord, sizeof(coord), lr->shard_coord, lr->shard_ndim);
		size_t k = (size_t)snprintf(buf, sizeof(buf), "max |t-b| held by target rank %lld, at %s of its shard",
					    (long long)lr->shard_rank, coord);
		if (lr->nshard_ranks > 1) {
			k += (size_t)snprintf(buf + k, sizeof(buf) - k, "; a partial sum of ranks");
			for (size_t i = 0; i < lr->nshard_ranks && k < sizeof(buf); i++)
				k += (size_t)snprintf(buf + k, sizeof(buf) - k, " %lld", (long long)lr->shard_ranks[i]);
		}
		wrapped(c, buf, A_NORMAL);
		snprintf(buf, sizeof(buf), "          %s", dv_dumpfile_relpath(lr->shard_file));
		wrapped(c, buf, A_NORMAL);
	}
}

/* Each target shard's own metrics against the baseline slice it holds,
 * under the threshold the tree judges by: which rank diverges. */
static void draw_shard_table(dctx *c, const dv_pair *p, const tui_detail *d)
{
	tui_app *app = c->app;
	attr_t head = tui_draw_attr(app, CP_HEAD, A_BOLD);
	char buf[DV_ERROR_MAX + 64];
	snprintf(buf, sizeof(buf), "per target shard (first step), against the baseline slice it holds:");
	line(c, buf, head);
	if (d->shards_rc != 0) {
		snprintf(buf, sizeof(buf), "shard table unavailable: %s", d->shards_error);
		wrapped(c, buf, tui_draw_attr(app, CP_FAIL, 0));
		return;
	}
	putf(c, 1, 4, "rank", head, true);
	putf(c, 6, 14, "shape", head, false);
	putf(c, 21, 9, "rel_diff", head, true);
	putf(c, 31, 9, "max_abs", head, true);
	putf(c, 41, 9, "mean_abs", head, true);
	put(c, 61, "coords", head);
	dnl(c);
	double thr = dv_comparison_threshold(app->cmp);
	for (size_t i = 0; i < d->nshards; i++) {
		const dv_shard_row *s = &d->shards[i];
		bool pass = s->ok && !isnan(s->rel_diff) && s->rel_diff <= thr;
		attr_t a = s->ok && !pass ? tui_draw_attr(app, CP_FAIL, A_BOLD) : A_NORMAL;
		char num[64];
		snprintf(num, sizeof(num), "%lld", (long long)s->rank);
		putf(c, 1, 4, num, a, true);
		dv_fmt_shape_compact(buf, sizeof(buf), "", s->ndim, s->shape);
		putf(c, 6, 14, buf, a, false);
		if (!s->ok) {
			/* why there is no slice, then the coordinates */
			snprintf(buf, sizeof(buf), "%s  %s", s->why, s->coords);
			put(c, 21, buf, tui_draw_attr(app, CP_DIM, 0));
			dnl(c);
			continue;
		}
		tui_draw_fmt_num(num, sizeof(num), s->rel_diff);
		putf(c, 21, 9, num, a, true);
		tui_draw_fmt_num(num, sizeof(num), s->max_abs_diff);
		putf(c, 31, 9, num, a, true);
		tui_draw_fmt_num(num, sizeof(num), s->mean_abs_diff);
		putf(c, 41, 9, num, a, true);
		snprintf(buf, sizeof(buf), "%s %s", pass ? app->g.pass : app->g.fail, pass ? "passes" : "fails");
		put(c, 51, buf, tui_draw_attr(app, pass ? CP_PASS : CP_FAIL, A_BOLD));
		put(c, 61, s->coords, a);
		dnl(c);
	}
	(void)p;
}

/* The pane's own state (app->detail_view): a new selection starts at the top. */
static tui_detail_view *own(tui_app *app)
{
	tui_detail_view *v = &app->detail_view;
	if (v->sel_gen != app->sel_gen) {
		v->sel_gen = app->sel_gen;
		v->scroll = 0;
	}
	return v;
}

void tui_view_detail_top(tui_app *app)
{
	own(app)->scroll = 0;
}

static void detail_draw(tui_app *app, tui_rect r, bool focused)
{
	const trow *row = tui_state_selected_row(app);
	/* The pane's title bar sits on the row above the area. */
	attr_t title = focused ? tui_draw_attr(app, CP_TITLE, A_REVERSE | A_BOLD) : tui_draw_attr(app, CP_STATUS, A_REVERSE);
	tui_draw_fill(stdscr, r.y - 1, r.x, r.w, title);
	if (!row || row->kind != TN_TENSOR) {
		tui_draw_str(stdscr, r.y - 1, r.x + 1, r.w - 1, "detail: select a tensor", title);
		/* a report: its diagnosis, written when the report was made */
		if (app->opts.report && app->opts.report->diagnosis) {
			dctx c = { app, r, 0, own(app)->scroll };
			char buf[8192];
			snprintf(buf, sizeof(buf), "diagnosis (from the report): %s", app->opts.report->diagnosis);
			wrapped(&c, buf, A_NORMAL);
			own(app)->lines = c.line;
			own(app)->height = r.h;
		}
		return;
	}
	size_t pi = row->pair;
	const dv_pair *p = &app->cmp->pairs[pi];
	char path[512], buf[1024];
	tui_state_pair_path(app, pi, path, sizeof(path));
	snprintf(buf, sizeof(buf), "detail: %s", path);
	tui_draw_str(stdscr, r.y - 1, r.x + 1, r.w - 1, buf, title);

	dctx c = { app, r, 0, own(app)->scroll };
	side_files(&c, p, 0);
	side_files(&c, p, 1);
	/* With rules, the one that judges this tensor (origin, regex and the
	 * predicate as parsed), or why none does: a fail-closed error. */
	if (dv_comparison_rules(app->cmp) && p->kind == DV_PAIR_MATCHED) {
		const dv_rule *rule = dv_comparison_rule(app->cmp, pi);
		if (rule) {
			snprintf(buf, sizeof(buf), "rule:     %s  %s  %s", dv_rule_origin(rule), dv_rule_regex(rule),
				 dv_rule_canonical(rule));
			line(&c, buf, A_NORMAL);
		} else {
			snprintf(buf, sizeof(buf), "rule:     %s (an error: the rules fail closed)", DV_NO_RULE_MESSAGE);
			line(&c, buf, tui_draw_attr(app, CP_FAIL, A_BOLD));
		}
	}
	pair_verdict v = tui_tree_verdict(app->cmp, p);
	bool logical = p->kind == DV_PAIR_MATCHED && tui_jobs_pair_logical(p);
	if (logical && atomic_load(&p->state) == DV_PAIR_DONE)
		draw_logical(&c, p);
	else if (p->kind == DV_PAIR_MATCHED)
		draw_coverage(&c, p->lctx);   /* the phase's token alignment, whatever the pair */
	if (v == PV_UNMATCHED) {
		line(&c, p->kind == DV_PAIR_TARGET_ONLY ? "This tensor exists only in the target: no baseline file pairs with it."
							: "This tensor exists only in the baseline: no target file pairs with it.",
		     A_BOLD);
	} else if (v == PV_PENDING) {
		int64_t done, total;
		if (tui_state_pair_progress(app, pi, &done, &total))
			snprintf(buf, sizeof(buf), "computing metrics: %lld%% (Esc cancels)",
				 (long long)(done * 100 / total));
		else
			snprintf(buf, sizeof(buf), "computing metrics...");
		line(&c, buf, tui_draw_attr(app, CP_DIM, 0));
	} else if (v == PV_CANCELLED) {
		line(&c, "metrics cancelled: Enter computes them", tui_draw_attr(app, CP_DIM, 0));
	} else if (p->result->status == DV_RESULT_ERROR) {
		/* an error naming no file of the pair is a logical tensor's
		 * (missing shards, dims): no unreadable file */
		bool file = false;
		const dv_dumpfile *sides[2] = { p->base, p->targ };
		for (int k = 0; k < 2; k++) {
			dv_path_buf pb;
			const char *path = sides[k] ? dv_dumpfile_path(sides[k], &pb) : NULL;

			file |= path && !strncmp(p->result->error, path, strlen(path));
		}
		snprintf(buf, sizeof(buf), "%s: %s", file ? "unreadable" : "error", p->result->error);
		wrapped(&c, buf, tui_draw_attr(app, CP_FAIL, A_BOLD));
	} else if (p->result->status == DV_RESULT_SKIPPED) {
		snprintf(buf, sizeof(buf), "skipped (never a failure): %s", p->result->error[0] ? p->result->error : "not compared");
		wrapped(&c, buf, A_BOLD);
	} else if (p->result->status == DV_RESULT_NON_TENSOR) {
		line(&c, p->result->equal ? "non-tensor values, printed forms equal"
					 : "non-tensor values, printed forms differ (skipped: never a failure)",
		     A_BOLD);
	} else {
		/* Wide panes put the histograms beside the stat table. */
		bool wide = r.w >= 130;
		int start = c.line;
		draw_stat_table(&c, p);
		const tui_detail *d = NULL;
		if (p->result->status == DV_RESULT_COMPARED)
			d = tui_state_detail_for(app, pi);
		if (wide && d && d->rc == 0) {
			dctx rc = { app, { r.y, r.x + 68, r.h, r.w - 68 }, start, own(app)->scroll };
			draw_absdiff_hist(&rc, &d->d);
			dnl(&rc);
			draw_value_hists(&rc, &d->d);
			dnl(&rc);
			if (p->result->status == DV_RESULT_COMPARED)
				draw_metrics(&rc, p);
			if (rc.line > c.line)
				c.line = rc.line;
		}
		dnl(&c);
		if (p->result->status == DV_RESULT_SHAPE_MISMATCH) {
			wrapped(&c, p->result->error[0] ? p->result->error : "shape mismatch", tui_draw_attr(app, CP_FAIL, A_BOLD));
		} else if (p->result->status == DV_RESULT_COMPARED) {
			if (!(wide && d && d->rc == 0)) {
				draw_metrics(&c, p);
				dnl(&c);
			}
			job_kind kind;
			int64_t done, total;
			if (p->logical && p->logical->nseqs) {
				draw_seq_table(&c, p);
				dnl(&c);
			}
			if (d && d->rc == 0) {
				if (d->has_shards) {
					draw_shard_table(&c, p, d);
					dnl(&c);
				}
				if (!wide) {
					draw_absdiff_hist(&c, &d->d);
					dnl(&c);
					draw_value_hists(&c, &d->d);
					dnl(&c);
				}
				draw_heat(&c, p, &d->d);
			} else if (!tui_state_can_read(app)) {
				line(&c, "histograms and heat map: " TUI_NO_RUNS, tui_draw_attr(app, CP_DIM, 0));
			} else if (d) {
				snprintf(buf, sizeof(buf), "detail unavailable: %s", d->error);
				wrapped(&c, buf, tui_draw_attr(app, CP_FAIL, 0));
			} else if ((ptrdiff_t)pi == app->detail_cancelled) {
				line(&c, "histograms and heat map cancelled: Enter computes them again", tui_draw_attr(app, CP_DIM, 0));
			} else if (tui_jobs_heavy_busy(&app->jobs, &kind, &done, &total) && kind == JOB_DETAIL && total > 0) {
				snprintf(buf, sizeof(buf), "computing histograms and heat map: %lld%% (Esc cancels)",
					 (long long)(done * 100 / total));
				line(&c, buf, tui_draw_attr(app, CP_DIM, 0));
			} else if (logical && (p->nbase > 1 || p->ntarg > 1)) {
				line(&c, "computing histograms, heat map and shard table... (Esc cancels)", tui_draw_attr(app, CP_DIM, 0));
			} else {
				line(&c, "computing histograms and heat map... (Esc cancels)", tui_draw_attr(app, CP_DIM, 0));
			}
		}
	}
	own(app)->lines = c.line;
	own(app)->height = r.h;
}

static int detail_handle(tui_app *app, tui_action act, int key)
{
	(void)key;
	int page = app->rows / 2;
	switch (act) {
	case ACT_UP: own(app)->scroll--; break;
	case ACT_DOWN: own(app)->scroll++; break;
	case ACT_PAGE_UP: own(app)->scroll -= page; break;
	case ACT_PAGE_DOWN: own(app)->scroll += page; break;
	case ACT_FIRST: own(app)->scroll = 0; break;
	case ACT_LAST: own(app)->scroll = own(app)->lines - own(app)->height; break;
	case ACT_CLOSE:
		app->detail_open = false;
		app->focus = PANE_TREE;
		break;
	default:
		return 0;
	}
	if (own(app)->scroll > own(app)->lines - own(app)->height)
		own(app)->scroll = own(app)->lines - own(app)->height;
	if (own(app)->scroll < 0)
		own(app)->scroll = 0;
	return TF_HANDLED | TF_REDRAW;
}

const view_ops tui_view_detail = { "detail", detail_draw, detail_handle };
