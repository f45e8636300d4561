/* Logical tensors: a pair's files opened, unsharded and aligned as two
 * streamed tensors, compared with the ordinary metrics (logical.h). The
 * order of work is the reference's: dims (override, else meta) -> DP filter
 * -> per step: plan and unshard -> join steps (concat_steps) -> axis
 * alignment -> the baseline's leading-1 squeeze -> metrics, then the
 * replicated checks and the attribution of max |t-b| to a target file. */
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/intern.h"
#include "dumpview/logical.h"
#include "dumpview/numfmt.h"
#include "dumpview/token_align.h"
#include "dumpview/unshard_plan.h"
#include "dumpview/vtensor.h"

static const char *const side_label[2] = {"baseline", "target"};

/* ---- the context of a phase ---- */

static bool file_is_megatron(const dv_dumpfile *f)
{
	dv_path_buf pb;
	dv_error err;
	pt_file *pf = pt_open(dv_dumpfile_path(f, &pb), &err);
	bool yes;

	if (!pf)
		return false;
	yes = pt_dict_get(pt_dump_meta(pf), "megatron_parallel_info") != NULL;
	pt_close(pf);
	return yes;
}

static const char *const aligner_names[] = {NULL, "none", "concat_steps", "smart"};

const char *dv_token_aligner_name(int a)
{
	return a >= 0 && a < 4 ? aligner_names[a] : NULL;
}

int dv_token_aligner_from_name(const char *s)
{
	for (int i = 1; i < 4; i++)
		if (s && !strcmp(s, aligner_names[i]))
			return i;
	return -1;
}

/* smart: both sides' aux tensors read and their sequences matched, once. */
static void smart_setup(dv_logical_ctx *ctx)
{
	dv_ta_side side[2] = {{0}};
	dv_ta_seqs seqs[2] = {{0}};
	dv_ta_result *r = calloc(1, sizeof(*r));
	dv_error err = {{0}};
	const char *why = NULL;
	int which = -1, rc = -1;

	for (int k = 0; k < 2 && r; k++) {
		const dv_phase *ph = ctx->phase[k];

		if (!ph) {
			dv_error_set(&err, "no %s phase", side_label[k]);
			break;
		}
		if (dv_ta_side_load(ph->files, ph->nfiles, &side[k], &err) < 0)
			break;
		if (k == 1)
			rc = dv_ta_align(&side[0], &side[1], r, &seqs[0], &seqs[1], &why, &which, &err);
	}
	if (!r) {
		dv_error_set(&err, "out of memory");
	} else if (rc == 0) {
		ctx->ta = r;
		ctx->ta_bshd[0] = seqs[0].layout == DV_TA_BSHD;
		ctx->ta_bshd[1] = seqs[1].layout == DV_TA_BSHD;
		r = NULL;
	}
	if (rc == 1) {
		/* as the reference: no aligner, the rules of none apply */
		if (asprintf(&ctx->ta_why, "smart token aligner not used: %s: %s",
			     which == 1 ? "target" : "baseline", why ? why : "no aux tensors") < 0)
			ctx->ta_why = NULL;
	} else if (rc < 0) {
		if (asprintf(&ctx->ta_why, "smart token aligner: %s", err.msg) < 0)
			ctx->ta_why = NULL;
	}
	if (!ctx->ta)
		ctx->token_aligner = DV_TOKEN_ALIGNER_NONE;
	if (r) {
		dv_ta_result_free(r);
		free(r);
	}
	for (int k = 0; k < 2; k++) {
		dv_ta_seqs_free(&seqs[k]);
		dv_ta_side_free(&side[k]);
	}
}

void dv_logical_ctx_init(dv_logical_ctx *ctx, const dv_grouping *g, const dv_phase *base, const dv_phase *targ)
{
	int asked = g ? g->token_aligner : DV_TOKEN_ALIGNER_DEFAULT;

	memset(ctx, 0, sizeof(*ctx));
	ctx->phase[0] = base;
	ctx->phase[1] = targ;
	ctx->overrides = g ? g->overrides : NULL;
	if (g && g->preset >= 0) {
		ctx->preset = (dv_preset)g->preset;
	} else if (g && g->nskip_keys) {
		ctx->preset = DV_PRESET_RAW;   /* skip keys alone: raw plus the keys, as the reference */
	} else {
		/* one file says it: miles writes megatron_parallel_info into every file of a training dump */
		ctx->preset = targ && targ->nfiles && file_is_megatron(&targ->files[0]) ? DV_PRESET_SGLANG_MEGATRON
										: DV_PRESET_SGLANG_DEV;
		ctx->preset_chosen = true;
	}
	if (asked == DV_TOKEN_ALIGNER_DEFAULT)
		asked = dv_preset_has_token_aligner(ctx->preset) ? DV_TOKEN_ALIGNER_CONCAT_STEPS : DV_TOKEN_ALIGNER_NONE;
	ctx->token_aligner = (dv_token_aligner)asked;
	ctx->smart_asked = asked == DV_TOKEN_ALIGNER_SMART;
	if (ctx->smart_asked)
		smart_setup(ctx);
	ctx->concat_steps = ctx->token_aligner == DV_TOKEN_ALIGNER_CONCAT_STEPS;
}

void dv_logical_ctx_free(dv_logical_ctx *ctx)
{
	if (!ctx)
		return;
	if (ctx->ta) {
		dv_ta_result_free(ctx->ta);
		free(ctx->ta);
	}
	free(ctx->ta_why);
	free(ctx);
}

bool dv_grouping_skips(const dv_logical_ctx *ctx, const dv_grouping *g, const char *key)
{
	if (ctx && ctx->preset != DV_PRESET_RAW && !strcmp(key, "rank"))
		return true;
	/* the steps of one tensor are joined (concat_steps) or lined up (smart) */
	if (ctx && (ctx->preset == DV_PRESET_SGLANG_MEGATRON || ctx->smart_asked) && !strcmp(key, "step"))
		return true;
	for (size_t i = 0; g && i < g->nskip_keys; i++)
		if (!strcmp(g->skip_keys[i], key))
			return true;
	return false;
}

const dv_dumpfile *const *dv_pair_files(const dv_pair *p, int side, size_t *n)
{
	if (!p->files) {
		/* a pair made without the grouping (tests): its one file a side */
		*n = (side ? p->targ : p->base) != NULL;
		return side ? &p->targ : &p->base;
	}
	*n = side ? p->ntarg : p->nbase;
	return side ? p->files + p->nbase : p->files;
}

/* Every kept logical result, one pool for the process (as results: scan.c) */
static dv_pool logical_pool = DV_POOL_INIT(dv_logical_result);

dv_logical_result *dv_logical_result_new(void)
{
	return dv_pool_alloc(&logical_pool);
}

const dv_logical_result *dv_pair_logical(const dv_pair *p, dv_logical_result *scratch)
{
	const dv_logical_result *lr = p->logical;
	const dv_pair_result *res = p->result;

	if (!lr || !lr->derived)
		return lr;
	/* as compare_plain would keep it whole */
	*scratch = *lr;
	scratch->derived = false;
	scratch->aligned_ndim = (signed char)res->targ.ndim;
	scratch->aligned_shape = dv_result_shape(&res->targ);
	if (res->status == DV_RESULT_COMPARED && res->max_abs_diff_index >= 0) {
		scratch->shard_ndim = res->max_abs_diff_ndim;
		scratch->shard_coord = dv_result_coord(res);
		scratch->has_shard = true;
		scratch->shard_file = p->targ;
		scratch->shard_rank = p->targ->rank;
	}
	return scratch;
}

void dv_logical_result_free(dv_logical_result *r)
{
	if (!r || r->derived)
		return;
	free(r->plan);
	free(r->checks);
	free(r->shard_ranks);
	free(r->seqs);
	dv_pool_free(&logical_pool, r);
}

/* ---- one side opened ---- */

typedef struct lfile {
	const dv_dumpfile *df;
	pt_file *f;
	const pt_tensor *t;
	const pt_obj *meta;
	dv_dims *dims;
	const char *dims_text;     /* owned by the meta or the overrides */
	dv_parallel_coords coords;
	dv_vsource src;
	dv_vsource_pt_ctx sctx;
} lfile;

typedef struct lside {
	int which;
	lfile *files;
	size_t n;
	size_t *order;             /* shard position in the joined tensor -> files index */
	size_t norder;
	dv_vtensor *vt;            /* the side as one tensor (aligned once both are open) */
	const char *dims_text;     /* the first kept file's */
	const dv_dims *dims;
	char *plan;                /* this side's operations, NULL: none */
	size_t nsteps;
	int64_t *lens;             /* THD sequence lengths of the step being opened */
	size_t nlens;
	bool stacked;              /* no dims, several files: compared rank by rank */
	bool partial;              /* a reduce_sum was planned */
	bool no_tensor;            /* several files of a step without dims: no one tensor (a skip) */
	int smart_dim;             /* smart: the token dim of the joined tensor, -1 otherwise */
} lside;

struct dv_logical_view {
	const dv_pair *pair;
	lside s[2];
	dv_stream stream[2];
	char *align_text;
	char *join_text;
	int token_pos;             /* smart: the token dim of the compared tensors, -1 otherwise */
};

static void side_free(lside *s)
{
	for (size_t i = 0; i < s->n; i++) {
		dv_dims_free(s->files[i].dims);
		if (s->files[i].f)
			pt_close(s->files[i].f);
	}
	free(s->files);
	free(s->order);
	dv_vtensor_close(s->vt);
	free(s->plan);
	free(s->lens);
}

/* Appends printf text to a malloc'd string (NULL stays NULL on failure). */
static void append(char **s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void append(char **s, const char *fmt, ...)
{
	char *add = NULL, *grown;
	size_t had = *s ? strlen(*s) : 0;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&add, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (!(grown = realloc(*s, had + (size_t)n + 1))) {
		free(add);
		return;
	}
	memcpy(grown + had, add, (size_t)n + 1);
	*s = grown;
	free(add);
}

/* The meta string a file's dims come from: dims_grad for a gradient when
 * the dumper wrote one, else dims; NULL when neither is a string. */
static const pt_obj *meta_dims(const dv_pair *pair, const pt_obj *meta)
{
	const pt_obj *d = NULL;

	if (!strncmp(pair->name, "grad__", 6))
		d = pt_dict_get(meta, "dims_grad");
	if (!d || d->kind != PT_STR)
		d = pt_dict_get(meta, "dims");
	return d && d->kind == PT_STR ? d : NULL;
}

/* The dims of one file: the first override rule for its side, else meta
 * dims (dims_grad for a gradient, when the dumper wrote one). */
static int file_dims(const dv_logical_ctx *ctx, const dv_pair *pair, int which, lfile *lf, dv_error *err)
{
	const char *text = NULL;
	size_t idx;
	int rc = 0;

	if (ctx && ctx->overrides) {
		rc = dv_dims_overrides_lookup(ctx->overrides, pair->name, which ? DV_DIMS_SIDE_TARGET : DV_DIMS_SIDE_BASELINE,
					      &text, &idx, err);
		if (rc < 0)
			return -1;
	}
	if (!rc) {
		const pt_obj *d = meta_dims(pair, lf->meta);

		if (d) {
			if (strlen(d->u.str.data) != d->u.str.len)
				return dv_error_set(err, "%s: dims holds a NUL byte", dv_dumpfile_relpath(lf->df));
			text = d->u.str.data;
		}
	}
	if (!text)
		return 0;
	lf->dims_text = text;
	if (!(lf->dims = dv_dims_parse(text, NULL, err))) {
		char why[DV_ERROR_MAX];

		snprintf(why, sizeof(why), "%s", err->msg);
		return dv_error_set(err, "%s: dims '%s': %s", dv_dumpfile_relpath(lf->df), text, why);
	}
	if (dv_dims_check_rank(lf->dims, lf->t->ndim, err) < 0) {
		char why[DV_ERROR_MAX];

		snprintf(why, sizeof(why), "%s", err->msg);
		return dv_error_set(err, "%s: %s", dv_dumpfile_relpath(lf->df), why);
	}
	return 0;
}

/* Opens every file of a side: tensors, meta, dims, coordinates. */
static int side_load(const dv_pair *pair, int which, lside *s, pt_file **pre, dv_error *err)
{
	dv_path_buf pb;
	size_t n;
	const dv_dumpfile *const *files = dv_pair_files(pair, which, &n);

	s->which = which;
	s->smart_dim = -1;
	if (!n)
		return dv_error_set(err, "no %s file", side_label[which]);
	if (!(s->files = calloc(n, sizeof(*s->files))))
		return dv_error_set(err, "out of memory");
	s->n = n;
	for (size_t i = 0; i < n; i++) {
		lfile *lf = &s->files[i];
		const pt_obj *v;

		lf->df = files[i];
		/* a side of one file opened already (dv_logical_compute looked at
		 * its meta): taken over, not opened twice */
		if (n == 1 && pre && *pre) {
			lf->f = *pre;
			*pre = NULL;
		} else if (!(lf->f = pt_open(dv_dumpfile_path(files[i], &pb), err))) {
			return -1;
		}
		v = pt_dump_value(lf->f);
		if (!v || v->kind != PT_TENSOR)
			return dv_error_set(err, "%s: the value is a %s, not a tensor, in a tensor of %zu files",
					    dv_dumpfile_relpath(files[i]), v ? pt_kind_name(v->kind) : "nothing", n);
		lf->t = &v->u.tensor;
		if (pt_tensor_check(lf->f, lf->t, err) < 0)
			return -1;
		lf->meta = pt_dump_meta(lf->f);
		if (file_dims(pair->lctx, pair, which, lf, err) < 0)
			return -1;
		if (dv_parallel_coords_from_meta(lf->meta, &lf->coords, err) < 0) {
			char why[DV_ERROR_MAX];

			snprintf(why, sizeof(why), "%s", err->msg);
			return dv_error_set(err, "%s: %s", dv_dumpfile_relpath(files[i]), why);
		}
		dv_vsource_pt(&lf->src, &lf->sctx, lf->f, lf->t);
		lf->src.name = dv_dumpfile_relpath(files[i]);
	}
	s->dims = s->files[0].dims;
	s->dims_text = s->files[0].dims_text;
	return 0;
}

/* THD sequence lengths of a step from the side's phase: rank 0's (the
 * lowest rank's) cu_seqlens_q (differences), else seq_lens. */
int dv_thd_seq_lens(const dv_phase *ph, int64_t step, int64_t **lens, size_t *nlens, dv_error *err)
{
	dv_path_buf pb;
	const dv_dumpfile *best = NULL;

	*lens = NULL;
	*nlens = 0;
	for (size_t i = 0; ph && i < ph->nfiles; i++) {
		const dv_dumpfile *df = &ph->files[i];
		bool cu = !strcmp(df->name, "cu_seqlens_q");

		if ((!cu && strcmp(df->name, "seq_lens")) || df->step != step)
			continue;
		if (!best || (cu && strcmp(best->name, "cu_seqlens_q")) ||
		    (!strcmp(best->name, df->name) && df->rank < best->rank))
			best = df;
	}
	if (best) {
		bool cu = !strcmp(best->name, "cu_seqlens_q");
		pt_file *f = pt_open(dv_dumpfile_path(best, &pb), err);
		const pt_obj *v = f ? pt_dump_value(f) : NULL;
		double *x = NULL;
		int64_t n;

		if (!f)
			return -1;
		if (!v || v->kind != PT_TENSOR || v->u.tensor.numel > (1 << 24)) {
			pt_close(f);
			return 0;
		}
		n = v->u.tensor.numel;
		x = malloc((size_t)(n ? n : 1) * sizeof(*x));
		*lens = malloc((size_t)(n ? n : 1) * sizeof(**lens));
		if (!x || !*lens || pt_tensor_read_f64(f, &v->u.tensor, 0, n, x, err) < 0) {
			if (!x || !*lens)
				dv_error_set(err, "out of memory");
			free(x);
			free(*lens);
			*lens = NULL;
			pt_close(f);
			return -1;
		}
		for (int64_t k = cu ? 1 : 0; k < n; k++)
			(*lens)[(*nlens)++] = (int64_t)x[k] - (cu ? (int64_t)x[k - 1] : 0);
		free(x);
		pt_close(f);
	}
	return 0;
}

static int load_lens(const dv_logical_ctx *ctx, int which, int64_t step, lside *s, dv_error *err)
{
	free(s->lens);
	s->lens = NULL;
	s->nlens = 0;
	return dv_thd_seq_lens(ctx ? ctx->phase[which] : NULL, step, &s->lens, &s->nlens, err);
}

/* The DP filter over all files of a side: the indices kept, in order. */
static int dp_filter(lside *s, size_t *keep, size_t *nkeep, dv_error *err)
{
	dv_dp_item *items = calloc(s->n, sizeof(*items));
	bool *flags = calloc(s->n, sizeof(*flags));
	dv_axis axis = DV_AXIS_DP;
	int rc = -1;

	*nkeep = 0;
	if (!items || !flags) {
		dv_error_set(err, "out of memory");
		goto out;
	}
	if (s->dims && dv_dims_dp_axis(s->dims, &axis, err) < 0)
		goto out;
	for (size_t i = 0; i < s->n; i++) {
		int r = dv_parallel_dp_coord(s->files[i].meta, axis, &items[i].dp_rank, &items[i].dp_size, err);

		if (r < 0)
			goto out;
		items[i].has_dp = r > 0;
		items[i].is_tensor = true;
		items[i].numel = s->files[i].t->numel;
	}
	if (dv_dp_filter(items, s->n, flags, err) < 0)
		goto out;
	for (size_t i = 0; i < s->n; i++)
		if (flags[i])
			keep[(*nkeep)++] = i;
	rc = 0;
out:
	free(items);
	free(flags);
	return rc;
}

/* Compact op text: "tp: 2x[4, 64] -> [4, 128] (concat h)". */
static void op_text(char **out, const dv_unshard_op *op)
{
	char a[PT_MAX_DIMS * 24], b[PT_MAX_DIMS * 24];

	dv_fmt_shape(a, sizeof(a), op->ndim, op->in_shape);
	dv_fmt_shape(b, sizeof(b), op->ndim, op->out_shape);
	char groups[32] = "";

	if (op->nout > 1)
		snprintf(groups, sizeof(groups), "%zux", op->nout);
	append(out, "%s%s: %zux%s -> %s%s (%s%s%s)", *out ? ", " : "", dv_axis_name(op->axis), op->nin, a, groups, b,
	       dv_unshard_op_name(op->kind), op->kind == DV_OP_PICK ? " rank 0, replicated" : " ",
	       op->kind == DV_OP_PICK ? "" : op->dim_name ? op->dim_name : "?");
}

/* The token dim of one step of a side under the smart aligner: 't', else
 * 's', else dim 0 (no dims). A [batch, seq] side has 'b' and 's' merged into
 * one token dim first (b-major, as its input_ids are flattened). */
static int smart_token_dim(const lside *s, bool bshd, dv_error *err)
{
	int t, b;

	if (!s->dims)
		return 0;
	if (bshd) {
		b = dv_dims_find(s->dims, "b");
		t = dv_dims_find(s->dims, "s");
		if (b < 0 || t != b + 1)
			return dv_error_set(err, "%s: a [batch, seq] layout needs dims 'b s' side by side, not '%s'",
					    side_label[s->which], s->dims_text);
		return b;
	}
	t = dv_dims_find(s->dims, "t");
	if (t < 0)
		t = dv_dims_find(s->dims, "s");
	if (t < 0)
		return dv_error_set(err, "%s: dims '%s' name no token dim (t or s)", side_label[s->which],
				    s->dims_text);
	return t;
}

/* The dims text with 'b s' written as one 't' (the merged [batch, seq]
 * side), for the axis alignment; modifiers are not needed there. */
static char *merged_dims_text(const dv_dims *d)
{
	char *out = NULL;

	for (size_t i = 0; i < d->ndims; i++) {
		const dv_dim *x = &d->dims[i];

		if (!strcmp(x->name, "b") && i + 1 < d->ndims && !strcmp(d->dims[i + 1].name, "s")) {
			append(&out, "%st", out ? " " : "");
			i++;
			continue;
		}
		if (x->squeeze) {
			append(&out, "%s1", out ? " " : "");
		} else if (x->nparts) {
			append(&out, "%s(", out ? " " : "");
			for (size_t k = 0; k < x->nparts; k++)
				append(&out, "%s%s", k ? "*" : "", x->parts[k]);
			append(&out, ")");
		} else {
			append(&out, "%s%s", out ? " " : "", x->name);
		}
	}
	return out;
}

/* smart: each step's tensor (b and s merged on a [batch, seq] side), then
 * the tokens of the phase's plan for this side, one by one, in
 * target-sequence order. Takes the parts. */
static int smart_join(const dv_logical_ctx *ctx, lside *s, dv_vtensor **parts, const size_t *nsh,
		      const int64_t *part_step, size_t nparts, dv_error *err)
{
	const dv_ta_result *ta = ctx->ta;
	const dv_ta_loc *plan = ta->plan[s->which];
	size_t n = ta->ntokens;
	int32_t *part_of = malloc((n ? n : 1) * sizeof(*part_of));
	int64_t *index = malloc((n ? n : 1) * sizeof(*index));
	bool bshd = ctx->ta_bshd[s->which];
	int dim = smart_token_dim(s, bshd, err);
	int rc = -1;

	if (!part_of || !index) {
		dv_error_set(err, "out of memory");
		goto out;
	}
	if (dim < 0)
		goto out;
	if (bshd) {
		/* [.., B, S, ..] -> [.., B*S, ..]: a reshape, free */
		for (size_t k = 0; k < nparts; k++) {
			int nd = dv_vtensor_ndim(parts[k]), o = 0;
			const int64_t *sh = dv_vtensor_shape(parts[k]);
			int64_t shape[PT_MAX_DIMS];

			if (dim + 1 >= nd) {
				dv_error_set(err, "%s: a [batch, seq] step of %d dims", side_label[s->which], nd);
				goto out;
			}
			for (int d = 0; d < nd; d++) {
				if (d == dim + 1)
					continue;
				shape[o++] = d == dim ? sh[dim] * sh[dim + 1] : sh[d];
			}
			if (dv_vtensor_align(parts[k], NULL, o, shape, err) < 0)
				goto out;
		}
	}
	for (size_t t = 0; t < n; t++) {
		size_t k = 0;

		while (k < nparts && part_step[k] != plan[t].step)
			k++;
		if (k == nparts) {
			dv_error_set(err, "%s: step %lld of the token plan has no file in this tensor",
				     side_label[s->which], (long long)plan[t].step);
			goto out;
		}
		part_of[t] = (int32_t)k;
		index[t] = plan[t].index;
	}
	s->vt = dv_vtensor_join_map(parts, nsh, nparts, dim, part_of, index, (int64_t)n, err);
	nparts = 0;
	if (s->vt) {
		s->smart_dim = dim;
		rc = 0;
	}
out:
	for (size_t k = 0; k < nparts; k++)
		dv_vtensor_close(parts[k]);
	free(part_of);
	free(index);
	return rc;
}

/* Opens one side's steps as virtual tensors and joins them: the shards in
 * the order of out->order. */
static int side_open(const dv_pair *pair, lside *s, bool stack, dv_error *err)
{
	const dv_logical_ctx *ctx = pair->lctx;
	size_t *keep = calloc(s->n, sizeof(*keep)), nkeep = 0, nparts = 0;
	dv_vtensor **parts = NULL;
	int64_t *part_step = NULL;
	size_t *nsh = NULL;
	dv_shard *sh = NULL;
	dv_vsource *src = NULL;
	int rc = -1, jdim = 0;

	s->order = calloc(s->n, sizeof(*s->order));
	parts = calloc(s->n, sizeof(*parts));
	part_step = calloc(s->n, sizeof(*part_step));
	nsh = calloc(s->n, sizeof(*nsh));
	sh = calloc(s->n, sizeof(*sh));
	src = calloc(s->n, sizeof(*src));
	if (!keep || !s->order || !parts || !part_step || !nsh || !sh || !src) {
		dv_error_set(err, "out of memory");
		goto out;
	}
	if (stack) {
		for (size_t i = 0; i < s->n; i++)
			keep[nkeep++] = i;
	} else if (dp_filter(s, keep, &nkeep, err) < 0) {
		goto out;
	}
	s->stacked = stack;
	for (size_t a = 0; a < nkeep;) {
		/* one step: the kept files with this step (files are in step order) */
		int64_t step = s->files[keep[a]].df->step;
		size_t b = a, m;
		dv_unshard_plan *plan = NULL;
		dv_unshard_opts uo = {0};
		dv_vtensor_opts vo = {0};

		if (stack)
			b = a + 1;
		else
			while (b < nkeep && s->files[keep[b]].df->step == step)
				b++;
		m = b - a;
		for (size_t k = 0; k < m; k++) {
			lfile *lf = &s->files[keep[a + k]];

			sh[k].dims = stack ? NULL : lf->dims;
			sh[k].coords = lf->coords;
			sh[k].ndim = lf->t->ndim;
			memcpy(sh[k].shape, lf->t->shape, sizeof(sh[k].shape));
			sh[k].rank = lf->df->rank;
			src[k] = lf->src;
			s->order[s->norder++] = keep[a + k];
		}
		if (ctx && (ctx->concat_steps || ctx->ta) && s->dims) {
			if (load_lens(ctx, s->which, step, s, err) < 0)
				goto out;
			uo.have_seq_lens = s->lens != NULL;
			vo.seq_lens = s->lens;
			vo.nseq_lens = s->nlens;
		}
		if (m > 1 && !s->dims) {
			s->no_tensor = true;
			dv_error_set(err, "%s: %zu files for step %lld but no dims in their meta, so they cannot be "
				     "unsharded (give --override-%s-dims)", side_label[s->which], m, (long long)step,
				     side_label[s->which]);
			goto out;
		}
		if (dv_unshard_plan_step(sh, m, &uo, &plan, err) < 0) {
			char why[DV_ERROR_MAX];

			snprintf(why, sizeof(why), "%s", err->msg);
			dv_error_set(err, "%s: %s", side_label[s->which], why);
			goto out;
		}
		if (!nparts)
			for (size_t k = 0; k < plan->nops; k++) {
				op_text(&s->plan, &plan->ops[k]);
				s->partial |= plan->ops[k].kind == DV_OP_REDUCE_SUM;
			}
		parts[nparts] = dv_vtensor_open(plan, src, m, &vo, err);
		dv_unshard_plan_free(plan);
		if (!parts[nparts]) {
			char why[DV_ERROR_MAX];

			snprintf(why, sizeof(why), "%s", err->msg);
			dv_error_set(err, "%s: %s", side_label[s->which], why);
			goto out;
		}
		if (stack) {
			/* a leading 1, to stack the ranks along it */
			int64_t shape[PT_MAX_DIMS];
			int nd = dv_vtensor_ndim(parts[nparts]);

			if (nd >= PT_MAX_DIMS) {
				dv_error_set(err, "%s: too many dims to stack", side_label[s->which]);
				nparts++;
				goto out;
			}
			shape[0] = 1;
			memcpy(shape + 1, dv_vtensor_shape(parts[nparts]), (size_t)nd * sizeof(int64_t));
			if (dv_vtensor_align(parts[nparts], NULL, nd + 1, shape, err) < 0) {
				nparts++;
				goto out;
			}
		}
		part_step[nparts] = step;
		nsh[nparts++] = m;
		a = b;
	}
	s->nsteps = stack ? 1 : nparts;
	if (!stack && ctx && ctx->ta && nparts) {
		rc = smart_join(ctx, s, parts, nsh, part_step, nparts, err);
		nparts = 0;
		goto out;
	}
	if (!nparts) {
		dv_error_set(err, "%s: no file left after the DP filter", side_label[s->which]);
		goto out;
	}
	if (nparts == 1) {
		s->vt = parts[0];
		parts[0] = NULL;
		nparts = 0;
		rc = 0;
		goto out;
	}
	if (!stack && !(ctx && ctx->concat_steps)) {
		dv_error_set(err, "%s: %zu steps in one tensor: without a token aligner each side must hold one step "
			     "(use --preset sglang_megatron to join them)", side_label[s->which], nparts);
		goto out;
	}
	if (!stack && s->dims) {
		/* concat_steps: the token dim is t, else s, else dim 0 */
		int t = dv_dims_find(s->dims, "t");

		jdim = t >= 0 ? t : dv_dims_find(s->dims, "s");
		if (jdim < 0)
			jdim = 0;
	}
	s->vt = dv_vtensor_join(parts, nsh, nparts, jdim, -1, err);
	nparts = 0;
	rc = s->vt ? 0 : -1;
out:
	for (size_t k = 0; k < nparts; k++)
		dv_vtensor_close(parts[k]);
	free(parts);
	free(part_step);
	free(nsh);
	free(sh);
	free(src);
	free(keep);
	return rc;
}

/* The token dim of a joined side and its length (for the truncation of
 * concat_steps to the shorter side). */
static int side_token_dim(const lside *s)
{
	int t;

	if (!s->dims)
		return 0;
	t = dv_dims_find(s->dims, "t");
	if (t < 0)
		t = dv_dims_find(s->dims, "s");
	return t < 0 ? 0 : t;
}

static int stream_read(void *ctx, int64_t start, int64_t count, float *out, dv_error *err)
{
	return dv_vtensor_read_f32(ctx, start, count, out, err);
}

static int stream_read_raw(void *ctx, int64_t start, int64_t count, void *out, dv_error *err)
{
	return dv_vtensor_read_raw(ctx, start, count, out, err);
}

static int stream_map_raw(void *ctx, int64_t start, int64_t count, dv_raw_run *runs, size_t max, size_t *nruns,
			  dv_error *err)
{
	return dv_vtensor_map_raw(ctx, start, count, runs, max, nruns, err);
}

static int stream_map_fault(void *ctx, dv_error *err)
{
	return dv_vtensor_map_fault(ctx, err);
}

/* Whether the files' (step, rank) lists of both sides are the same, one
 * file each: then they can be compared rank by rank without dims. */
static bool same_layout(const lside *b, const lside *t)
{
	if (b->n != t->n)
		return false;
	for (size_t i = 0; i < b->n; i++)
		if (b->files[i].df->step != t->files[i].df->step || b->files[i].df->rank != t->files[i].df->rank ||
		    (i && b->files[i].df->step == b->files[i - 1].df->step &&
		     b->files[i].df->rank == b->files[i - 1].df->rank))
			return false;
	return true;
}

void dv_logical_close(dv_logical_view *v)
{
	if (!v)
		return;
	side_free(&v->s[0]);
	side_free(&v->s[1]);
	free(v->align_text);
	free(v->join_text);
	free(v);
}

static dv_logical_view *view_open(const dv_pair *pair, pt_file **pre, bool *skipped, dv_error *err)
{
	dv_logical_view *v = calloc(1, sizeof(*v));
	bool stack;

	*skipped = false;
	if (!v) {
		dv_error_set(err, "out of memory");
		return NULL;
	}
	v->pair = pair;
	if (side_load(pair, 0, &v->s[0], pre ? &pre[0] : NULL, err) < 0 ||
	    side_load(pair, 1, &v->s[1], pre ? &pre[1] : NULL, err) < 0)
		goto fail;
	/* no dims anywhere and several files: the same layout on both sides is
	 * compared rank by rank, as one tensor of the ranks stacked */
	stack = !v->s[0].dims && !v->s[1].dims && (v->s[0].n > 1 || v->s[1].n > 1) &&
		same_layout(&v->s[0], &v->s[1]);
	if (side_open(pair, &v->s[0], stack, err) < 0 || side_open(pair, &v->s[1], stack, err) < 0)
		goto fail;
	if (stack)
		append(&v->join_text, "ranks: %zu files a side compared rank by rank (no dims)", v->s[1].n);
	if (v->s[1].smart_dim >= 0)
		append(&v->join_text, "token_aligner: %zu tokens aligned (%zu+%zu steps)", pair->lctx->ta->ntokens,
		       v->s[0].nsteps, v->s[1].nsteps);
	/* concat_steps: both sides cut to the shorter along their token dims */
	if (pair->lctx && pair->lctx->concat_steps && !stack) {
		int bd = side_token_dim(&v->s[0]), td = side_token_dim(&v->s[1]);

		if (bd < dv_vtensor_ndim(v->s[0].vt) && td < dv_vtensor_ndim(v->s[1].vt)) {
			int64_t nb = dv_vtensor_shape(v->s[0].vt)[bd], nt = dv_vtensor_shape(v->s[1].vt)[td];
			int64_t len = nb < nt ? nb : nt;

			for (int k = 0; k < 2; k++) {
				lside *s = &v->s[k];
				int d = k ? td : bd;
				int64_t have = k ? nt : nb;
				dv_vtensor *one[1] = {s->vt};
				size_t cnt = s->norder;

				if (have == len)
					continue;
				s->vt = NULL;
				if (!(s->vt = dv_vtensor_join(one, &cnt, 1, d, len, err)))
					goto fail;
			}
			if (v->s[0].nsteps > 1 || v->s[1].nsteps > 1 || nb != nt)
				append(&v->join_text, "concat_steps: %zu+%zu steps, %lld tokens compared%s",
				       v->s[0].nsteps, v->s[1].nsteps, (long long)len,
				       nb != nt ? " (cut to the shorter side)" : "");
		}
	}
	/* axis alignment (both sides with dims), then the leading-1 squeeze */
	/* smart: the token dim of the joined target, then followed through the alignment */
	v->token_pos = v->s[1].smart_dim;
	if (v->s[0].dims && v->s[1].dims) {
		int ndim[2] = {dv_vtensor_ndim(v->s[0].vt), dv_vtensor_ndim(v->s[1].vt)};
		int64_t shape[2][PT_MAX_DIMS];
		dv_axis_align a;
		const dv_dims *ad[2] = {v->s[0].dims, v->s[1].dims};
		dv_dims *merged[2] = {NULL, NULL};

		memcpy(shape[0], dv_vtensor_shape(v->s[0].vt), sizeof(int64_t) * (size_t)ndim[0]);
		memcpy(shape[1], dv_vtensor_shape(v->s[1].vt), sizeof(int64_t) * (size_t)ndim[1]);
		/* a [batch, seq] side aligned under the smart aligner is 't' now */
		for (int k = 0; k < 2; k++)
			if (v->s[k].smart_dim >= 0 && pair->lctx->ta_bshd[k]) {
				char *text = merged_dims_text(v->s[k].dims);

				merged[k] = text ? dv_dims_parse(text, NULL, err) : NULL;
				free(text);
				if (!merged[k]) {
					dv_dims_free(merged[0]);
					goto fail;
				}
				ad[k] = merged[k];
			}
		if (v->token_pos >= 0) {
			/* its place among the target's dims that stay: '1' dims go */
			int pos = 0;

			for (int d = 0; d < v->token_pos && (size_t)d < ad[1]->ndims; d++)
				pos += !ad[1]->dims[d].squeeze;
			v->token_pos = pos;
		}
		if (dv_axis_align_plan(ad[0], ad[1], ndim, (const int64_t (*)[PT_MAX_DIMS])shape, &a, err) < 0) {
			dv_dims_free(merged[0]);
			dv_dims_free(merged[1]);
			goto fail;
		}
		dv_dims_free(merged[0]);
		dv_dims_free(merged[1]);
		if (dv_vtensor_align(v->s[0].vt, a.pattern[0], a.ndim[0], a.shape[0], err) < 0 ||
		    dv_vtensor_align(v->s[1].vt, a.pattern[1], a.ndim[1], a.shape[1], err) < 0) {
			dv_axis_align_free(&a);
			goto fail;
		}
		v->align_text = dv_axis_align_text(&a);
		dv_axis_align_free(&a);
	}
	{
		int bn = dv_vtensor_ndim(v->s[0].vt), tn = dv_vtensor_ndim(v->s[1].vt);
		const int64_t *bs = dv_vtensor_shape(v->s[0].vt), *ts = dv_vtensor_shape(v->s[1].vt);

		if (bn > tn && !memcmp(bs + (bn - tn), ts, sizeof(int64_t) * (size_t)tn)) {
			bool ones = true;
			int64_t tshape[PT_MAX_DIMS];

			for (int i = 0; i < bn - tn; i++)
				ones &= bs[i] == 1;
			memcpy(tshape, ts, sizeof(int64_t) * (size_t)tn);
			if (ones && dv_vtensor_align(v->s[0].vt, NULL, tn, tshape, err) < 0)
				goto fail;
		}
	}
	for (int k = 0; k < 2; k++) {
		dv_stream *st = &v->stream[k];

		st->dtype = v->s[k].files[0].t->dtype;
		/* values other than float32, bf16 and fp16 went through float32 */
		if (v->s[k].n > 1 && st->dtype != DV_BFLOAT16 && st->dtype != DV_FLOAT16 && st->dtype != DV_FLOAT32)
			st->dtype = DV_FLOAT32;
		st->ndim = dv_vtensor_ndim(v->s[k].vt);
		memcpy(st->shape, dv_vtensor_shape(v->s[k].vt), sizeof(int64_t) * (size_t)st->ndim);
		st->read_f32 = stream_read;
		/* concat and zigzag only move stored elements: read them as stored */
		st->read_raw = st->dtype == v->s[k].files[0].t->dtype && dv_vtensor_has_raw(v->s[k].vt) &&
					       dv_vtensor_dtype(v->s[k].vt) == st->dtype
				       ? stream_read_raw
				       : NULL;
		/* a lone shard's or a concat's bytes are read by the metrics in place */
		st->map_raw = st->read_raw ? stream_map_raw : NULL;
		st->map_fault = stream_map_fault;
		st->ctx = v->s[k].vt;
		st->name = dv_dumpfile_relpath(v->s[k].files[0].df);
	}
	return v;
fail:
	{
		/* every message names the tensor: the files are named inside */
		char why[DV_ERROR_MAX];

		snprintf(why, sizeof(why), "%s", err->msg);
		dv_error_set(err, "%s: %s", pair->name, why);
	}
	*skipped = v->s[0].no_tensor || v->s[1].no_tensor;
	dv_logical_close(v);
	return NULL;
}

dv_logical_view *dv_logical_open(const dv_pair *pair, dv_error *err)
{
	bool skipped;

	return view_open(pair, NULL, &skipped, err);
}

const dv_stream *dv_logical_stream(const dv_logical_view *v, int side)
{
	return &v->stream[side ? 1 : 0];
}

/* A file's dims text when it only names dims ('t h': no modifier, no
 * declaration), as file_dims picks it; NULL otherwise. */
static const char *plain_dims(const dv_pair *pair, pt_file *f)
{
	const pt_obj *d = meta_dims(pair, pt_dump_meta(f));

	if (!d || strlen(d->u.str.data) != d->u.str.len || strpbrk(d->u.str.data, "[#"))
		return NULL;
	return d->u.str.data;
}

/* The number of dims a dims text names, -1 when it does not parse. The last
 * text this thread parsed is remembered: a run's pairs mostly share a few
 * dims texts, and parsing allocates a table of every possible dim. */
static int plain_dims_rank(const char *text)
{
	static _Thread_local char last[128];
	static _Thread_local int last_rank = -2; /* -2: nothing remembered */
	size_t len = strlen(text);
	dv_dims *d;
	int rank;

	if (last_rank != -2 && len < sizeof(last) && !memcmp(last, text, len + 1))
		return last_rank;
	d = dv_dims_parse(text, NULL, &(dv_error){{0}});
	rank = d && d->ndims <= PT_MAX_DIMS ? (int)d->ndims : -1;
	dv_dims_free(d);
	if (len < sizeof(last)) {
		memcpy(last, text, len + 1);
		last_rank = rank;
	}
	return rank;
}

/* One file a side with the same plain dims: nothing to unshard or align, so
 * the two files are compared as they are (a large pair on every core) and
 * the logical fields filled as the view would. 1 done, 0 not this case,
 * -1 out of memory. */
static int compare_plain(dv_pair *pair, pt_file *bf, pt_file *tf, const dv_metrics_opts *opts, int *rc)
{
	size_t nb, nt;
	const char *bd, *td;
	dv_pair_result *res = pair->result;
	const dv_logical_result *lr;
	static _Thread_local char last_dims[64];
	static _Thread_local const dv_logical_result *last;

	dv_pair_files(pair, 0, &nb);
	dv_pair_files(pair, 1, &nt);
	if (nb != 1 || nt != 1 || (pair->lctx && (pair->lctx->ta || (pair->lctx->overrides &&
								 dv_dims_overrides_count(pair->lctx->overrides)))))
		return 0;
	if (!(bd = plain_dims(pair, bf)) || !(td = plain_dims(pair, tf)) || strcmp(bd, td))
		return 0;
	{
		/* the dims must also fit the tensors, as the view checks them */
		const pt_obj *bv = pt_dump_value(bf), *tv = pt_dump_value(tf);
		int rank = plain_dims_rank(td);

		if (rank < 0 || rank != bv->u.tensor.ndim || rank != tv->u.tensor.ndim)
			return 0;
	}
	*rc = dv_compare_opened(bf, tf, opts, res);
	if (res->status == DV_RESULT_CANCELLED || res->status == DV_RESULT_ERROR)
		return 1;
	{
		/* all but the dims follow from the pair and its result
		 * (dv_pair_logical): one record for every plain pair of these dims;
		 * a thread's last one is found again without a lock (bd is td) */
		dv_logical_result rec;
		size_t bl = strlen(bd);

		if (last && bl < sizeof(last_dims) && !memcmp(last_dims, bd, bl + 1)) {
			pair->logical = (dv_logical_result *)last;
			return 1;
		}
		memset(&rec, 0, sizeof(rec));
		rec.token_dim = -1;
		rec.derived = true;
		if (!(rec.dims[0] = dv_intern_str(bd)) || !(rec.dims[1] = dv_intern_str(td)) ||
		    !(lr = dv_intern_bytes(&rec, sizeof(rec))))
			return -1;
	}
	/* shared and read-only: dv_logical_result_free leaves it */
	pair->logical = (dv_logical_result *)lr;
	if (strlen(bd) < sizeof(last_dims)) {
		memcpy(last_dims, bd, strlen(bd) + 1);
		last = lr;
	}
	return 1;
}

/* Whether a pair needs the logical path: several files on a side, or dims
 * on both (axis alignment), read from the files' meta. */
static bool needs_view(const dv_pair *pair, pt_file *bf, pt_file *tf)
{
	size_t nb, nt;
	const pt_obj *bm, *tm;

	dv_pair_files(pair, 0, &nb);
	dv_pair_files(pair, 1, &nt);
	if (nb > 1 || nt > 1 || (pair->lctx && pair->lctx->ta))
		return true;
	if (pair->lctx && pair->lctx->overrides && dv_dims_overrides_count(pair->lctx->overrides))
		return true;
	bm = pt_dump_meta(bf);
	tm = pt_dump_meta(tf);
	return (pt_dict_get(bm, "dims") || pt_dict_get(bm, "dims_grad")) &&
	       (pt_dict_get(tm, "dims") || pt_dict_get(tm, "dims_grad"));
}

/* The plan in one line, NULL when nothing was done beyond reading. */
static char *plan_line(const dv_logical_view *v)
{
	char *p = NULL;

	if (v->join_text)
		append(&p, "%s", v->join_text);
	for (int k = 0; k < 2; k++)
		if (v->s[k].plan && !v->s[k].stacked)
			append(&p, "%s%s: %s", p ? "; " : "", side_label[k], v->s[k].plan);
	if (v->align_text)
		append(&p, "%salign: %s", p ? "; " : "", v->align_text);
	return p;
}

/* smart: each matched sequence's own metrics, over its tokens of the
 * compared tensors (one more pass over those elements). */
static int seq_metrics(dv_logical_view *v, const dv_metrics_opts *opts, dv_logical_result *lr, dv_error *err)
{
	const dv_ta_result *ta = v->pair->lctx ? v->pair->lctx->ta : NULL;
	const dv_stream *t = &v->stream[1];
	int64_t T, outer = 1, inner = 1;
	float *bb = NULL, *tb = NULL;
	const int64_t cap = 65536;
	int rc = -1;

	if (!ta || v->token_pos < 0 || v->token_pos >= t->ndim)
		return 0;
	T = t->shape[v->token_pos];
	for (int d = 0; d < v->token_pos; d++)
		outer *= t->shape[d];
	for (int d = v->token_pos + 1; d < t->ndim; d++)
		inner *= t->shape[d];
	if (T != (int64_t)ta->ntokens)
		return dv_error_set(err, "the compared tensors hold %lld tokens, the plan %zu", (long long)T, ta->ntokens);
	lr->seqs = calloc(ta->nmatched ? ta->nmatched : 1, sizeof(*lr->seqs));
	bb = malloc((size_t)cap * sizeof(float));
	tb = malloc((size_t)cap * sizeof(float));
	if (!lr->seqs || !bb || !tb) {
		dv_error_set(err, "out of memory");
		goto out;
	}
	for (size_t m = 0; m < ta->nmatched; m++) {
		const dv_ta_match *mt = &ta->matched[m];
		dv_seq_metrics *sm;
		dv_vdiff d;

		if (!mt->tokens)
			continue;   /* an id disagreement: reported among the errors */
		dv_vdiff_init(&d);
		for (int64_t o = 0; o < outer; o++) {
			int64_t at = (o * T + (int64_t)mt->start) * inner, left = (int64_t)(mt->end - mt->start) * inner;

			while (left > 0) {
				int64_t c = left < cap ? left : cap;

				if (v->stream[0].read_f32(v->stream[0].ctx, at, c, bb, err) < 0 ||
				    t->read_f32(t->ctx, at, c, tb, err) < 0)
					goto out;
				dv_vdiff_add(&d, bb, tb, (size_t)c, at);
				at += c;
				left -= c;
			}
		}
		sm = &lr->seqs[lr->nseqs++];
		sm->id = mt->id;
		sm->tokens = mt->tokens;
		sm->rel_diff = dv_vdiff_rel(&d);
		sm->max_abs_diff = d.max_abs;
		sm->mean_abs_diff = dv_vdiff_mean_abs(&d);
		sm->passed = dv_rel_diff_passes(sm->rel_diff, opts ? opts->threshold : DV_DEFAULT_THRESHOLD) &&
			     !isnan(sm->max_abs_diff);
	}
	rc = 0;
out:
	free(bb);
	free(tb);
	return rc;
}

static int fill_logical(dv_logical_view *v, const dv_metrics_opts *opts, dv_pair_result *res,
			dv_logical_result *lr, dv_error *err)
{
	for (int k = 0; k < 2; k++)
		if (v->s[k].dims_text && !(lr->dims[k] = dv_intern_str(v->s[k].dims_text)))
			return dv_error_set(err, "out of memory");
	lr->plan = plan_line(v);
	lr->aligned_ndim = (signed char)v->stream[1].ndim;
	if (!(lr->aligned_shape = dv_intern_dims(v->stream[1].shape, lr->aligned_ndim)))
		return dv_error_set(err, "out of memory");
	/* replicated checks, both sides, in plan order */
	for (int k = 0; k < 2; k++) {
		dv_replicated_result *r = NULL;
		size_t n = 0;
		dv_replica_check *grown;

		if (dv_vtensor_checks(v->s[k].vt, &r, &n, err) < 0)
			return -1;
		if (n && !(grown = realloc(lr->checks, (lr->nchecks + n) * sizeof(*grown)))) {
			free(r);
			return dv_error_set(err, "out of memory");
		}
		if (n)
			lr->checks = grown;
		for (size_t i = 0; i < n; i++) {
			dv_replica_check *c = &lr->checks[lr->nchecks++];
			size_t ks = r[i].kept_shard, cs = r[i].compared_shard;

			c->side = k;
			c->axis = r[i].axis;
			c->passed = r[i].passed;
			c->max_abs_diff = r[i].shape_equal ? (double)r[i].diff.max_abs : NAN;
			c->ranks[0] = ks < v->s[k].norder ? v->s[k].files[v->s[k].order[ks]].df->rank : -1;
			c->ranks[1] = cs < v->s[k].norder ? v->s[k].files[v->s[k].order[cs]].df->rank : -1;
			c->group_index = r[i].group_index;
			c->compared_index = r[i].compared_index;
			lr->replica_mismatch |= !c->passed;
		}
		free(r);
	}
	lr->token_dim = v->token_pos >= 0 && v->token_pos < lr->aligned_ndim ? v->token_pos : -1;
	if (seq_metrics(v, opts, lr, err) < 0)
		return -1;
	/* max |t-b| in the target file holding it */
	if (res->status == DV_RESULT_COMPARED && res->max_abs_diff_index >= 0) {
		dv_vloc loc[64];
		int n = dv_vtensor_locate(v->s[1].vt, res->max_abs_diff_index, loc, 64, NULL);

		if (n > 0 && loc[0].shard < v->s[1].norder) {
			const lfile *lf = &v->s[1].files[v->s[1].order[loc[0].shard]];

			int64_t coord[PT_MAX_DIMS];

			for (int d = lf->t->ndim - 1; d >= 0; d--) {
				int64_t q = loc[0].index;

				for (int e = lf->t->ndim - 1; e > d; e--)
					q /= lf->t->shape[e];
				coord[d] = lf->t->shape[d] ? q % lf->t->shape[d] : 0;
			}
			if (!(lr->shard_coord = dv_intern_dims(coord, lf->t->ndim)))
				return dv_error_set(err, "out of memory");
			lr->has_shard = true;
			lr->shard_file = lf->df;
			lr->shard_rank = lf->df->rank;
			lr->shard_ndim = (signed char)lf->t->ndim;
			if (n > 1 && (lr->shard_ranks = calloc((size_t)n, sizeof(*lr->shard_ranks)))) {
				for (int i = 0; i < n; i++)
					if (loc[i].shard < v->s[1].norder)
						lr->shard_ranks[lr->nshard_ranks++] =
							v->s[1].files[v->s[1].order[loc[i].shard]].df->rank;
			}
		}
	}
	return 0;
}

int dv_logical_compute(dv_pair *pair, const dv_metrics_opts *opts)
{
	dv_path_buf pb;
	dv_pair_result *res = dv_pair_result_slot(pair);
	dv_error err;
	pt_file *bf = NULL, *tf = NULL;
	dv_logical_view *v = NULL;
	dv_logical_result *lr = NULL;
	bool skipped;
	int rc = -1;

	dv_error_clear(&err);
	dv_logical_result_free(pair->logical);
	pair->logical = NULL;
	if (!res)
		return -1;
	if (!pair->base || !pair->targ) {
		dv_error_set(&err, "%s: no file on one side", pair->name);
		goto fail;
	}
	/* the common case costs what it did: one file a side without dims is
	 * compared as two files */
	if (!(bf = pt_open(dv_dumpfile_path(pair->base, &pb), &err)) || !(tf = pt_open(dv_dumpfile_path(pair->targ, &pb), &err)))
		goto fail;
	{
		const pt_obj *bv = pt_dump_value(bf), *tv = pt_dump_value(tf);
		bool tensors = bv && tv && bv->kind == PT_TENSOR && tv->kind == PT_TENSOR;

		int plain = tensors ? compare_plain(pair, bf, tf, opts, &rc) : 0;

		if (plain < 0) {
			dv_error_set(&err, "%s: out of memory", pair->name);
			goto fail;
		}
		if (plain || !tensors || !needs_view(pair, bf, tf)) {
			if (!plain)
				rc = dv_compare_opened(bf, tf, opts, res);
			pt_close(bf);
			pt_close(tf);
			return rc;
		}
	}
	{
		/* the view takes over the two files it can (one-file sides) */
		pt_file *pre[2] = {bf, tf};

		v = view_open(pair, pre, &skipped, &err);
		if (pre[0])
			pt_close(pre[0]);
		if (pre[1])
			pt_close(pre[1]);
		bf = tf = NULL;
	}
	if (!v) {
		if (skipped) {
			/* as the reference: a side that is no one tensor is skipped */
			res->status = DV_RESULT_SKIPPED;
			res->passed = false;
			dv_result_set_error(res, "%s", err.msg);
			return 0;
		}
		goto fail;
	}
	rc = dv_compare_streams(&v->stream[0], &v->stream[1], opts, res, &err);
	if (res->status == DV_RESULT_CANCELLED) {
		dv_logical_close(v);
		return rc;
	}
	if (!(lr = dv_logical_result_new())) {
		dv_error_set(&err, "out of memory");
		goto fail;
	}
	if (fill_logical(v, opts, res, lr, &err) < 0) {
		char why[DV_ERROR_MAX];

		snprintf(why, sizeof(why), "%s", err.msg);
		dv_error_set(&err, "%s: %s", pair->name, why);
		goto fail;
	}
	pair->logical = lr;
	dv_logical_close(v);
	return rc;
fail:
	dv_logical_result_free(lr);
	dv_logical_close(v);
	if (bf)
		pt_close(bf);
	if (tf)
		pt_close(tf);
	res->status = DV_RESULT_ERROR;
	res->passed = false;
	dv_result_set_error(res, "%s", err.msg);
	return -1;
}

/* ---- per-shard metrics ---- */

typedef struct shard_acc {
	dv_vdiff d;
	bool summed;               /* a share of a sum: no slice of its own */
	bool seen;
} shard_acc;

int dv_logical_shard_table(const dv_pair *pair, double threshold, const dv_metrics_opts *opts, dv_shard_row **rows,
			   size_t *nrows, dv_error *err)
{
	dv_logical_view *v;
	lside *t;
	shard_acc *acc = NULL;
	float *bb = NULL, *tb = NULL;
	int64_t numel, chunk = 65536;
	int rc = -1;

	*rows = NULL;
	*nrows = 0;
	if (!(v = dv_logical_open(pair, err)))
		return -1;
	t = &v->s[1];
	numel = dv_vtensor_numel(t->vt);
	if (dv_vtensor_numel(v->s[0].vt) != numel) {
		dv_error_set(err, "%s: the sides hold %lld and %lld elements", pair->name,
			     (long long)dv_vtensor_numel(v->s[0].vt), (long long)numel);
		goto out;
	}
	acc = calloc(t->norder ? t->norder : 1, sizeof(*acc));
	bb = malloc((size_t)chunk * sizeof(float));
	tb = malloc((size_t)chunk * sizeof(float));
	if (!acc || !bb || !tb) {
		dv_error_set(err, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < t->norder; i++)
		dv_vdiff_init(&acc[i].d);
	for (int64_t s = 0; s < numel; s += chunk) {
		int64_t n = numel - s < chunk ? numel - s : chunk;

		if (opts && opts->cancel && atomic_load(opts->cancel)) {
			dv_error_set(err, "cancelled");
			goto out;
		}
		if (dv_vtensor_read_f32(v->s[0].vt, s, n, bb, err) < 0 || dv_vtensor_read_f32(t->vt, s, n, tb, err) < 0)
			goto out;
		for (int64_t e = 0; e < n;) {
			dv_vloc loc[64];
			int64_t run = 1;
			int m = dv_vtensor_locate(t->vt, s + e, loc, 64, &run);

			if (run > n - e)
				run = n - e;
			if (m <= 0) {
				e += run;
				continue;
			}
			for (int k = 0; k < m; k++) {
				shard_acc *a = &acc[loc[k].shard < t->norder ? loc[k].shard : 0];

				a->seen = true;
				if (m > 1)
					a->summed = true;
				else
					dv_vdiff_add(&a->d, bb + e, tb + e, (size_t)run, s + e);
			}
			e += run;
		}
	}
	if (!(*rows = calloc(t->n ? t->n : 1, sizeof(**rows)))) {
		dv_error_set(err, "out of memory");
		goto out;
	}
	/* one row per target file, in file order; a file not in the tensor
	 * (a replica not kept, filtered by DP) says why */
	for (size_t i = 0; i < t->n; i++) {
		dv_shard_row *r = &(*rows)[(*nrows)++];
		const lfile *lf = &t->files[i];
		size_t pos = (size_t)-1;

		r->file = lf->df;
		r->rank = lf->df->rank;
		dv_parallel_coords_format(&lf->coords, r->coords, sizeof(r->coords));
		r->ndim = lf->t->ndim;
		memcpy(r->shape, lf->t->shape, sizeof(r->shape));
		for (size_t k = 0; k < t->norder; k++)
			if (t->order[k] == i)
				pos = k;
		if (pos == (size_t)-1) {
			snprintf(r->why, sizeof(r->why), "left out by the DP filter");
		} else if (acc[pos].summed) {
			snprintf(r->why, sizeof(r->why), "a share of a partial sum: no slice of its own");
		} else if (!acc[pos].seen) {
			snprintf(r->why, sizeof(r->why), "a replica: see the replicated checks");
		} else {
			r->ok = true;
			r->rel_diff = dv_vdiff_rel(&acc[pos].d);
			r->max_abs_diff = acc[pos].d.max_abs;
			r->mean_abs_diff = dv_vdiff_mean_abs(&acc[pos].d);
			r->passed = dv_rel_diff_passes(r->rel_diff, threshold) && !isnan(r->max_abs_diff);
		}
	}
	rc = 0;
out:
	free(acc);
	free(bb);
	free(tb);
	dv_logical_close(v);
	return rc;
}
