/* Planning the unsharding of one step of one side (unshard_plan.h): axes,
 * validation, grouping and shapes, from meta only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/unshard_plan.h"

static const char *const op_names[] = {"pick", "concat", "reduce_sum", "cp_thd_concat",
				       "zigzag_to_natural", "zigzag_to_natural_thd"};

const char *dv_unshard_op_name(dv_unshard_op_kind k)
{
	return (unsigned)k < sizeof(op_names) / sizeof(*op_names) ? op_names[k] : NULL;
}

void dv_unshard_plan_free(dv_unshard_plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nops; i++) {
		free(p->ops[i].group_start);
		free(p->ops[i].members);
	}
	free(p->ops);
	free(p);
}

static void fmt_shape(char *buf, size_t size, int ndim, const int64_t *shape)
{
	size_t len = 0;

	len += snprintf(buf + len, size - len, "[");
	for (int i = 0; i < ndim && len < size; i++)
		len += snprintf(buf + len, size - len, "%s%lld", i ? ", " : "", (long long)shape[i]);
	if (len < size)
		snprintf(buf + len, size - len, "]");
}

/* Y depends on X: over the shards active on both, Y's rank is a function
 * of X's rank (vacuously true when none has both). */
static bool depends(const dv_shard *s, size_t n, dv_axis y, dv_axis x)
{
	for (size_t i = 0; i < n; i++) {
		if (!s[i].coords.axis[x].active || !s[i].coords.axis[y].active)
			continue;
		for (size_t j = i + 1; j < n; j++)
			if (s[j].coords.axis[x].active && s[j].coords.axis[y].active &&
			    s[j].coords.axis[x].rank == s[i].coords.axis[x].rank &&
			    s[j].coords.axis[y].rank != s[i].coords.axis[y].rank)
				return false;
	}
	return true;
}

/* An undeclared axis u is fine when the declared axes present in some shard
 * are present in every shard having u, and their ranks determine u's. */
static bool jointly_determined(const dv_shard *s, size_t n, dv_axis u, const bool *declared)
{
	bool present[DV_AXIS_COUNT] = {0};
	size_t having = 0;

	for (size_t i = 0; i < n; i++)
		for (int a = 0; a < DV_AXIS_COUNT; a++)
			if (declared[a] && s[i].coords.axis[a].active)
				present[a] = true;
	for (size_t i = 0; i < n; i++) {
		if (!s[i].coords.axis[u].active)
			continue;
		having++;
		for (int a = 0; a < DV_AXIS_COUNT; a++)
			if (present[a] && !s[i].coords.axis[a].active)
				return false;
		for (size_t j = i + 1; j < n; j++) {
			bool same = s[j].coords.axis[u].active;

			for (int a = 0; a < DV_AXIS_COUNT && same; a++)
				if (present[a] && s[j].coords.axis[a].rank != s[i].coords.axis[a].rank)
					same = false;
			if (same && s[j].coords.axis[u].rank != s[i].coords.axis[u].rank)
				return false;
		}
	}
	return having > 0;
}

/* The axes in alphabetical order of their names (the picks' order, and the
 * order bucket keys compare in). */
static void axes_by_name(dv_axis *order)
{
	for (int i = 0; i < DV_AXIS_COUNT; i++)
		order[i] = (dv_axis)i;
	for (int i = 1; i < DV_AXIS_COUNT; i++)
		for (int j = i; j > 0 && strcmp(dv_axis_name(order[j - 1]), dv_axis_name(order[j])) > 0; j--) {
			dv_axis t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
}

/* A tensor during planning: its coordinates on the axes not yet unsharded
 * (-1: removed or not kept) and its shape. */
typedef struct cur {
	int64_t coord[DV_AXIS_COUNT];
	int64_t shape[PT_MAX_DIMS];
} cur;

/* The axis order bucket keys compare in, and the operation's axis. */
typedef struct sort_ctx {
	dv_axis order[DV_AXIS_COUNT];
	dv_axis axis;
} sort_ctx;

/* Bucket key order, then rank on the operation's axis. */
static int cmp_cur(const cur *x, const cur *y, const sort_ctx *sc)
{
	for (int k = 0; k < DV_AXIS_COUNT; k++) {
		dv_axis a = sc->order[k];

		if (a == sc->axis)
			continue;
		if (x->coord[a] != y->coord[a])
			return x->coord[a] < y->coord[a] ? -1 : 1;
	}
	return 0;
}

typedef struct idx_cur {
	size_t index;
	const cur *c;
} idx_cur;

static int cmp_idx(const void *a, const void *b, void *ctx)
{
	const idx_cur *x = a, *y = b;
	const sort_ctx *sc = ctx;
	int c = cmp_cur(x->c, y->c, sc);

	if (c)
		return c;
	if (x->c->coord[sc->axis] != y->c->coord[sc->axis])
		return x->c->coord[sc->axis] < y->c->coord[sc->axis] ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

static int oom(dv_error *err)
{
	return dv_error_set(err, "unsharding plan: out of memory");
}

/* Appends an unsharder on axis to p: groups the current tensors, computes
 * the output shapes, replaces *cs by the outputs. */
static int add_unsharder(dv_unshard_plan *p, dv_unshard_op_kind kind, dv_axis axis, int dim,
			 const char *dim_name, int64_t size, const dv_shard *shards, cur **cs, size_t *ncs,
			 dv_error *err)
{
	dv_unshard_op *op;
	idx_cur *ix = NULL;
	cur *outs = NULL;
	size_t n = *ncs, nout = 0;
	int ndim = p->ndim;
	char a[128], b[128];
	sort_ctx sc;

	axes_by_name(sc.order);
	if (!(op = realloc(p->ops, (p->nops + 1) * sizeof(*op))))
		return oom(err);
	p->ops = op;
	op = &p->ops[p->nops++];
	memset(op, 0, sizeof(*op));
	*op = (dv_unshard_op){.kind = kind, .axis = axis, .dim = dim, .dim_name = dim_name,
			      .axis_size = size, .needs_seq_lens = kind == DV_OP_CP_THD_CONCAT,
			      .nin = n, .ndim = ndim};
	memcpy(op->in_shape, (*cs)[0].shape, sizeof(op->in_shape));
	if (!(ix = malloc(n * sizeof(*ix))) || !(op->members = malloc(n * sizeof(size_t))) ||
	    !(op->group_start = malloc((n + 1) * sizeof(size_t))) || !(outs = calloc(n, sizeof(*outs)))) {
		free(ix);
		free(outs);
		return oom(err);
	}
	for (size_t i = 0; i < n; i++)
		ix[i] = (idx_cur){i, &(*cs)[i]};
	sc.axis = axis;
	qsort_r(ix, n, sizeof(*ix), cmp_idx, &sc);
	for (size_t i = 0; i < n; i++) {
		const cur *c = ix[i].c;

		op->members[i] = ix[i].index;
		if (!i || cmp_cur(c, ix[i - 1].c, &sc)) {
			op->group_start[nout] = i;
			outs[nout] = *c;
			outs[nout].coord[axis] = -1;
			nout++;
			continue;
		}
		cur *o = &outs[nout - 1];
		bool same = true;

		for (int d = 0; d < ndim; d++)
			if (c->shape[d] != o->shape[d] && (kind == DV_OP_REDUCE_SUM || kind == DV_OP_PICK ||
							   d != dim))
				same = false;
		if (!same && kind != DV_OP_PICK) {
			int bad = 0;
			const char *bad_name;

			fmt_shape(a, sizeof(a), ndim, ix[op->group_start[nout - 1]].c->shape);
			fmt_shape(b, sizeof(b), ndim, c->shape);
			while (bad < ndim - 1 && c->shape[bad] == o->shape[bad])
				bad++;
			bad_name = shards[0].dims && (size_t)bad < shards[0].dims->ndims ? shards[0].dims->dims[bad].name
											  : "?";
			free(ix);
			free(outs);
			if (kind == DV_OP_REDUCE_SUM)
				/* e.g. variable EP token counts: shares of different token
				 * sets are not summands of one tensor */
				return dv_error_set(err, "reduce_sum on %s over %s: the partial shares have shapes %s and %s, "
						    "unequal on dim %d '%s': a sum is defined only over shares of one "
						    "shape (unequal token counts need the token dim sharded, e.g. '%s[%s]')",
						    dim_name ? dim_name : "-", dv_axis_name(axis), a, b, bad, bad_name,
						    bad_name, dv_axis_name(axis));
			return dv_error_set(err, "%s on %s over %s: shard shapes %s and %s do not fit",
					    dv_unshard_op_name(kind), dim_name ? dim_name : "-", dv_axis_name(axis), a, b);
		}
		if (kind == DV_OP_CONCAT || kind == DV_OP_CP_THD_CONCAT)
			o->shape[dim] += c->shape[dim];
	}
	op->group_start[nout] = n;
	op->nout = nout;
	/* Each axis may be complete on its own while a combination is missing:
	 * a join needs every rank of its axis in every group. A pick may see
	 * groups of one (replicated over an axis another one already fixes). */
	for (size_t g = 0; g < nout && kind != DV_OP_PICK; g++) {
		size_t k = op->group_start[g], m = op->group_start[g + 1] - k;
		int64_t r = -1;

		for (size_t i = 0; i < m; i++)
			if (ix[k + i].c->coord[axis] != (int64_t)i) {
				r = (int64_t)i;
				break;
			}
		if (r >= 0 || (int64_t)m != size) {
			free(ix);
			free(outs);
			return dv_error_set(err, "%s axis_rank coverage is incomplete: group %zu of the %s has "
					    "%zu of %lld shards (no %s_rank %lld)", dv_axis_name(axis), g,
					    dv_unshard_op_name(kind), m, (long long)size, dv_axis_name(axis),
					    (long long)(r >= 0 ? r : (int64_t)m));
		}
	}
	memcpy(op->out_shape, outs[0].shape, sizeof(op->out_shape));
	free(ix);
	free(*cs);
	*cs = outs;
	*ncs = nout;
	return 0;
}

static int add_reorder(dv_unshard_plan *p, dv_unshard_op_kind kind, dv_axis axis, int dim, const char *dim_name,
		       int64_t size, const cur *c, dv_error *err)
{
	dv_unshard_op *op = realloc(p->ops, (p->nops + 1) * sizeof(*op));

	if (!op)
		return oom(err);
	p->ops = op;
	op = &p->ops[p->nops++];
	*op = (dv_unshard_op){.kind = kind, .axis = axis, .dim = dim, .dim_name = dim_name, .axis_size = size,
			      .needs_seq_lens = kind == DV_OP_ZIGZAG_TO_NATURAL_THD, .nin = 1, .nout = 1,
			      .ndim = p->ndim};
	if (!(op->group_start = malloc(2 * sizeof(size_t))) || !(op->members = malloc(sizeof(size_t))))
		return oom(err);
	op->group_start[0] = 0;
	op->group_start[1] = 1;
	op->members[0] = 0;
	memcpy(op->in_shape, c->shape, sizeof(op->in_shape));
	memcpy(op->out_shape, c->shape, sizeof(op->out_shape));
	return 0;
}

/* "tp, cp" of the flagged axes, into buf. */
static const char *axis_list(const bool *set, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int a = 0; a < DV_AXIS_COUNT && len < size; a++)
		if (set[a])
			len += snprintf(buf + len, size - len, "%s%s", len ? ", " : "", dv_axis_name((dv_axis)a));
	return buf;
}

int dv_unshard_plan_step(const dv_shard *s, size_t n, const dv_unshard_opts *opts, dv_unshard_plan **out,
			 dv_error *err)
{
	bool have_lens = opts && opts->have_seq_lens;
	bool active[DV_AXIS_COUNT] = {0}, sharded[DV_AXIS_COUNT] = {0}, repl[DV_AXIS_COUNT] = {0};
	bool declared[DV_AXIS_COUNT] = {0}, implicit_repl[DV_AXIS_COUNT] = {0}, bad[DV_AXIS_COUNT] = {0};
	bool any = false, anybad = false;
	const dv_dims *d;
	dv_unshard_plan *p;
	cur *cs = NULL;
	size_t ncs = n;
	char buf[256];
	dv_axis dp, order[DV_AXIS_COUNT];

	*out = NULL;
	if (!n)
		return dv_error_set(err, "no file in the step");
	d = s[0].dims;
	if (!d) {
		for (size_t i = 1; i < n; i++)
			if (s[i].dims)
				return dv_error_set(err, "the first file has no dims but file %zu has", i);
		if (n != 1)
			return dv_error_set(err, "%zu files in one step without dims: cannot unshard", n);
	} else {
		for (size_t i = 0; i < n; i++) {
			if (i && (!s[i].dims || !dv_dims_equal(d, s[i].dims)))
				return dv_error_set(err, "dims differ between shards (rank %lld and rank %lld)",
						    (long long)s[0].rank, (long long)s[i].rank);
			if (dv_dims_check_rank(d, s[i].ndim, err) < 0)
				return dv_error_prefix(err, "rank %lld", (long long)s[i].rank);
		}
	}
	for (size_t i = 0; i < n; i++)
		if (s[i].ndim != s[0].ndim)
			return dv_error_set(err, "shards have %d and %d dimensions", s[0].ndim, s[i].ndim);
	if (!(p = calloc(1, sizeof(*p))))
		return oom(err);
	p->nshards = n;
	p->ndim = s[0].ndim;
	memcpy(p->shape, s[0].shape, sizeof(p->shape));
	if (!d) {
		*out = p;
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		for (int a = 0; a < DV_AXIS_COUNT; a++)
			if (s[i].coords.axis[a].active)
				active[a] = true;
	for (size_t k = 0; k < d->ndims; k++)
		for (size_t m = 0; m < d->dims[k].nmods; m++)
			if (active[d->dims[k].mods[m].axis])
				sharded[d->dims[k].mods[m].axis] = true;
	for (int a = 0; a < DV_AXIS_COUNT; a++) {
		repl[a] = d->replicated[a] || (a == DV_AXIS_RECOMPUTE_PSEUDO && active[a]);
		if (repl[a] && !active[a]) {
			dv_error_set(err, "replicated axis %s not found in parallel_infos (axis_size 1 or absent)",
				     dv_axis_name((dv_axis)a));
			goto fail;
		}
		if (repl[a] && sharded[a]) {
			dv_error_set(err, "axis %s is both replicated and sharded", dv_axis_name((dv_axis)a));
			goto fail;
		}
	}
	for (int x = 0; x < DV_AXIS_COUNT; x++)
		for (int y = x + 1; y < DV_AXIS_COUNT; y++)
			if (repl[x] && repl[y] && (depends(s, n, (dv_axis)y, (dv_axis)x) ||
						   depends(s, n, (dv_axis)x, (dv_axis)y))) {
				dv_error_set(err, "replicated axes %s and %s are not orthogonal",
					     dv_axis_name((dv_axis)x), dv_axis_name((dv_axis)y));
				goto fail;
			}
	for (int c = 0; c < DV_AXIS_COUNT; c++) {
		declared[c] = sharded[c] || repl[c];
		if (!active[c] || declared[c])
			continue;
		for (int r = 0; r < DV_AXIS_COUNT; r++)
			if (repl[r] && depends(s, n, (dv_axis)c, (dv_axis)r))
				implicit_repl[c] = true;
	}
	for (int c = 0; c < DV_AXIS_COUNT; c++) {
		if (!active[c] || sharded[c] || repl[c])
			continue;
		if (implicit_repl[c]) {
			declared[c] = true;
			continue;
		}
		for (int x = 0; x < DV_AXIS_COUNT; x++)
			if (sharded[x] && depends(s, n, (dv_axis)c, (dv_axis)x))
				declared[c] = true;
	}
	if (dv_dims_dp_axis(d, &dp, err) < 0)
		goto fail;
	declared[dp] = true;
	for (int u = 0; u < DV_AXIS_COUNT; u++)
		if (active[u] && !declared[u] && !jointly_determined(s, n, (dv_axis)u, declared))
			bad[u] = anybad = true;
	if (anybad) {
		dv_error_set(err, "Axes {%s} are active (axis_size > 1) but not declared in dims",
			     axis_list(bad, buf, sizeof(buf)));
		goto fail;
	}
	for (int a = 0; a < DV_AXIS_COUNT; a++)
		any = any || sharded[a] || repl[a];
	if (n >= 2) {
		for (size_t k = 0; k < d->ndims; k++)
			for (size_t m = 0; m < d->dims[k].nmods; m++)
				if (d->dims[k].mods[m].zigzag && strcmp(d->dims[k].name, "s") &&
				    strcmp(d->dims[k].name, "t")) {
					dv_error_set(err, "zigzag ordering on dim '%s': only 's' and 't' can be reordered",
						     d->dims[k].name);
					goto fail;
				}
		for (int a = 0; a < DV_AXIS_COUNT; a++) {
			int64_t size;
			unsigned char *seen;

			if (!sharded[a] && !repl[a])
				continue;
			for (size_t i = 0; i < n; i++)
				if (!s[i].coords.axis[a].active) {
					dv_error_set(err, "missing parallel_info for axis %s (rank %lld)",
						     dv_axis_name((dv_axis)a), (long long)s[i].rank);
					goto fail;
				}
			size = s[0].coords.axis[a].size;
			for (size_t i = 1; i < n; i++)
				if (s[i].coords.axis[a].size != size) {
					dv_error_set(err, "Inconsistent axis_size for %s: %lld and %lld",
						     dv_axis_name((dv_axis)a), (long long)size,
						     (long long)s[i].coords.axis[a].size);
					goto fail;
				}
			if (size > (int64_t)n) {
				dv_error_set(err, "%s axis_rank coverage is incomplete: %zu files for %s_size %lld",
					     dv_axis_name((dv_axis)a), n, dv_axis_name((dv_axis)a), (long long)size);
				goto fail;
			}
			if (!(seen = calloc((size_t)size, 1))) {
				oom(err);
				goto fail;
			}
			for (size_t i = 0; i < n; i++)
				seen[s[i].coords.axis[a].rank] = 1;
			for (int64_t r = 0; r < size; r++)
				if (!seen[r]) {
					free(seen);
					dv_error_set(err, "%s axis_rank coverage is incomplete: no shard of %s_rank %lld",
						     dv_axis_name((dv_axis)a), dv_axis_name((dv_axis)a), (long long)r);
					goto fail;
				}
			free(seen);
		}
	}
	if (!any) {
		if (n != 1) {
			dv_error_set(err, "%zu files in one step but dims shard or replicate no active axis", n);
			goto fail;
		}
		*out = p;
		return 0;
	}
	if (!(cs = calloc(n, sizeof(*cs)))) {
		oom(err);
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		for (int a = 0; a < DV_AXIS_COUNT; a++)
			cs[i].coord[a] = sharded[a] || repl[a] ? s[i].coords.axis[a].rank : -1;
		memcpy(cs[i].shape, s[i].shape, sizeof(cs[i].shape));
	}
	/* Two shards with the same coordinates would both be joined in. */
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (!memcmp(cs[i].coord, cs[j].coord, sizeof(cs[i].coord))) {
				dv_error_set(err, "duplicate shards: rank %lld and rank %lld have the same coordinates",
					     (long long)s[i].rank, (long long)s[j].rank);
				goto fail;
			}
	axes_by_name(order);
	for (int k = 0; k < DV_AXIS_COUNT; k++)
		if (repl[order[k]] && add_unsharder(p, DV_OP_PICK, order[k], -1, NULL,
						    s[0].coords.axis[order[k]].size, s, &cs, &ncs, err) < 0)
			goto fail;
	for (size_t k = 0; k < d->ndims; k++)
		for (size_t m = d->dims[k].nmods; m-- > 0;) {
			const dv_dim_mod *md = &d->dims[k].mods[m];
			dv_unshard_op_kind kind = DV_OP_CONCAT;

			if (!sharded[md->axis])
				continue;
			if (md->partial)
				kind = DV_OP_REDUCE_SUM;
			else if (md->axis == DV_AXIS_CP && !strcmp(d->dims[k].name, "t") && have_lens)
				kind = DV_OP_CP_THD_CONCAT;
			if (add_unsharder(p, kind, md->axis, (int)k, d->dims[k].name,
					  s[0].coords.axis[md->axis].size, s, &cs, &ncs, err) < 0)
				goto fail;
		}
	if (ncs != 1) {
		dv_error_set(err, "unsharding leaves %zu tensors, not one (shards missing)", ncs);
		goto fail;
	}
	for (size_t k = 0; k < d->ndims; k++)
		for (size_t m = 0; m < d->dims[k].nmods; m++) {
			const dv_dim_mod *md = &d->dims[k].mods[m];
			bool thd = !strcmp(d->dims[k].name, "t");

			if (!md->zigzag || !active[md->axis])
				continue;
			if (thd && !have_lens) {
				dv_error_set(err, "thd_global_seq_lens is required to reorder the zigzag dim 't' "
					     "(compare with a token aligner, e.g. --preset sglang_megatron)");
				goto fail;
			}
			if (add_reorder(p, thd ? DV_OP_ZIGZAG_TO_NATURAL_THD : DV_OP_ZIGZAG_TO_NATURAL, md->axis,
					(int)k, d->dims[k].name, s[0].coords.axis[md->axis].size, &cs[0], err) < 0)
				goto fail;
		}
	memcpy(p->shape, cs[0].shape, sizeof(p->shape));
	free(cs);
	*out = p;
	return 0;
fail:
	free(cs);
	dv_unshard_plan_free(p);
	return -1;
}

char *dv_unshard_plan_text(const dv_unshard_plan *p, int64_t step)
{
	size_t cap = 64 + p->nops * 2 * (PT_MAX_DIMS * 24 + 64), len;
	char *t = malloc(cap), a[PT_MAX_DIMS * 24], b[PT_MAX_DIMS * 24];

	if (!t)
		return NULL;
	len = snprintf(t, cap, "step=%lld: ", (long long)step);
	if (!p->nops)
		snprintf(t + len, cap - len, "passthrough");
	for (size_t i = 0; i < p->nops; i++) {
		const dv_unshard_op *op = &p->ops[i];
		bool reorder = op->kind == DV_OP_ZIGZAG_TO_NATURAL || op->kind == DV_OP_ZIGZAG_TO_NATURAL_THD;

		fmt_shape(a, sizeof(a), op->ndim, op->in_shape);
		fmt_shape(b, sizeof(b), op->ndim, op->out_shape);
		len += snprintf(t + len, cap - len, "%s%s(%s) %zux%s -> %zux%s", i ? ", " : "",
				reorder ? "reorderer" : "unsharder",
				reorder ? dv_unshard_op_name(op->kind) : dv_axis_name(op->axis), op->nin, a, op->nout, b);
		if (len >= cap)  /* cannot happen with the sizes above; never index past t */
			len = cap - 1;
	}
	return t;
}

int dv_dp_filter(const dv_dp_item *items, size_t n, bool *keep, dv_error *err)
{
	bool sharded = false, tensor = false;
	int64_t chosen = -1;
	size_t groups = 0;

	for (size_t i = 0; i < n; i++) {
		keep[i] = true;
		sharded = sharded || (items[i].has_dp && items[i].dp_size > 1);
		tensor = tensor || items[i].is_tensor;
	}
	if (!sharded || !tensor)
		return 0;
	/* Distinct DP ranks (missing = 0) holding a non-empty tensor. */
	for (size_t i = 0; i < n; i++) {
		int64_t r = items[i].has_dp ? items[i].dp_rank : 0;
		bool seen = false;

		if (!items[i].is_tensor || items[i].numel < 1)
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen = items[j].is_tensor && items[j].numel >= 1 &&
			       (items[j].has_dp ? items[j].dp_rank : 0) == r;
		if (!seen) {
			groups++;
			chosen = r;
		}
	}
	if (groups != 1)
		return dv_error_set(err, "Expected exactly 1 non-empty dp_rank, got %zu", groups);
	for (size_t i = 0; i < n; i++)
		keep[i] = (items[i].has_dp ? items[i].dp_rank : 0) == chosen;
	return 0;
}

/* ---- axis alignment ---- */

/* 's' and 't' are one name here. */
static const char *canon(const char *n)
{
	return !strcmp(n, "s") ? "t" : n;
}

/* A unit of the target order: a fused group's parts, or one name. */
typedef struct unit {
	char **parts;          /* the group's parts (owned by a dims) */
	size_t nparts;         /* 1: a single name, in one */
	const char *one;
} unit;

static const char *unit_part(const unit *u, size_t i)
{
	return u->nparts == 1 ? u->one : u->parts[i];
}

static bool unit_is_dim(const unit *u, const dv_dim *d)
{
	if (d->nparts != u->nparts || u->nparts < 2)
		return false;
	for (size_t i = 0; i < d->nparts; i++)
		if (strcmp(d->parts[i], u->parts[i]))
			return false;
	return true;
}

static bool units_equal(const unit *a, const unit *b)
{
	if (a->nparts != b->nparts)
		return false;
	for (size_t i = 0; i < a->nparts; i++)
		if (strcmp(unit_part(a, i), unit_part(b, i)))
			return false;
	return true;
}

/* The sorted semantic names of a side: parts expanded, '1' dropped,
 * 's' as 't'. */
static size_t semantic(const dv_dims *d, const char **out)
{
	size_t n = 0;

	for (size_t k = 0; k < d->ndims; k++) {
		const dv_dim *dm = &d->dims[k];

		if (dm->squeeze)
			continue;
		if (dm->nparts)
			for (size_t i = 0; i < dm->nparts; i++)
				out[n++] = dm->parts[i];
		else
			out[n++] = canon(dm->name);
	}
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(out[j - 1], out[j]) > 0; j--) {
			const char *t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

/* The fused dim (of either side) holding part, or NULL. */
static const dv_dim *group_of(const dv_dims *const *sides, const char *part)
{
	for (int s = 0; s < 2; s++)
		for (size_t k = 0; k < sides[s]->ndims; k++)
			for (size_t i = 0; i < sides[s]->dims[k].nparts; i++)
				if (!strcmp(sides[s]->dims[k].parts[i], part))
					return &sides[s]->dims[k];
	return NULL;
}

static bool same_parts(const dv_dim *a, const dv_dim *b)
{
	if (a->nparts != b->nparts)
		return false;
	for (size_t i = 0; i < a->nparts; i++)
		if (strcmp(a->parts[i], b->parts[i]))
			return false;
	return true;
}

void dv_axis_align_free(dv_axis_align *a)
{
	if (!a)
		return;
	free(a->pattern[0]);
	free(a->pattern[1]);
	a->pattern[0] = a->pattern[1] = NULL;
}

static void str_add(char *buf, size_t size, size_t *len, const char *s)
{
	size_t n = strlen(s);

	if (*len + n < size) {
		memcpy(buf + *len, s, n + 1);
		*len += n;
	}
}

int dv_axis_align_plan(const dv_dims *base, const dv_dims *targ, const int *ndim,
		       const int64_t (*shape)[PT_MAX_DIMS], dv_axis_align *out, dv_error *err)
{
	const dv_dims *sides[2] = {base, targ};
	const char *sb[PT_MAX_DIMS * DV_DIMS_MAX_TOKENS], *st[PT_MAX_DIMS * DV_DIMS_MAX_TOKENS];
	unit order[DV_DIMS_MAX_TOKENS];
	size_t norder = 0, nb, nt;

	memset(out, 0, sizeof(*out));
	/* Semantic names: fused parts may come to more than PT_MAX_DIMS. */
	{
		size_t cb = 0, ct = 0;

		for (size_t k = 0; k < base->ndims; k++)
			cb += base->dims[k].nparts ? base->dims[k].nparts : 1;
		for (size_t k = 0; k < targ->ndims; k++)
			ct += targ->dims[k].nparts ? targ->dims[k].nparts : 1;
		if (cb > sizeof(sb) / sizeof(*sb) || ct > sizeof(st) / sizeof(*st))
			return dv_error_set(err, "axis_aligner: too many dims");
	}
	nb = semantic(base, sb);
	nt = semantic(targ, st);
	{
		bool same = nb == nt;

		for (size_t i = 0; same && i < nb; i++)
			same = !strcmp(sb[i], st[i]);
		if (!same)
			return dv_error_set(err, "axis_aligner_dim_mismatch: the baseline's and the target's dims "
					    "name different axes");
	}
	for (int s = 0; s < 2; s++)
		for (size_t k = 0; k < sides[s]->ndims; k++)
			for (size_t i = 0; i < sides[s]->dims[k].nparts; i++) {
				const dv_dim *g = group_of(sides, sides[s]->dims[k].parts[i]);

				if (!same_parts(g, &sides[s]->dims[k]))
					return dv_error_set(err, "axis_aligner_fused_conflict: '%s' is in %s and %s",
							    sides[s]->dims[k].parts[i], g->name,
							    sides[s]->dims[k].name);
			}
	/* The target's order; a dim whose first part is in a group brings the group. */
	for (size_t k = 0; k < targ->ndims; k++) {
		const dv_dim *d = &targ->dims[k];
		const dv_dim *g;
		unit u;
		bool dup = false;

		if (d->squeeze)
			continue;
		g = group_of(sides, d->nparts ? d->parts[0] : d->name);
		if (g)
			u = (unit){g->parts, g->nparts, NULL};
		else
			u = (unit){NULL, 1, canon(d->name)};
		for (size_t i = 0; i < norder && !dup; i++)
			dup = units_equal(&order[i], &u);
		if (!dup)
			order[norder++] = u;
	}
	for (int s = 0; s < 2; s++) {
		const dv_dims *d = sides[s];
		size_t held[DV_DIMS_MAX_TOKENS], nheld = 0, perm[DV_DIMS_MAX_TOKENS], nperm = 0, k;
		bool changed = false, used[DV_DIMS_MAX_TOKENS] = {0};
		int64_t kept[DV_DIMS_MAX_TOKENS];
		char buf[DV_DIMS_MAX_LEN * 3];
		size_t len = 0;
		int nout = 0;

		for (k = 0; k < d->ndims; k++) {
			if (d->dims[k].squeeze) {
				changed = true;
				if (shape && shape[s][k] != 1)
					return dv_error_set(err, "axis_aligner: the %s's '1' dim %zu has size %lld",
							    s ? "target" : "baseline", k, (long long)shape[s][k]);
				continue;
			}
			if (shape)
				kept[nheld] = shape[s][k];
			held[nheld++] = k;
		}
		if (shape && ndim[s] != (int)d->ndims)
			return dv_error_set(err, "axis_aligner: the %s has %d dims, its dims name %zu",
					    s ? "target" : "baseline", ndim[s], d->ndims);
		for (size_t o = 0; o < norder; o++)
			for (size_t p = 0; p < order[o].nparts; p++)
				for (size_t j = 0; j < nheld; j++) {
					const dv_dim *dm = &d->dims[held[j]];
					bool hit = dm->nparts ? unit_is_dim(&order[o], dm)
							      : !strcmp(canon(dm->name), unit_part(&order[o], p));

					if (hit && !used[j]) {
						used[j] = true;
						perm[nperm++] = j;
					}
				}
		if (nperm != nheld)
			return dv_error_set(err, "axis_aligner: cannot arrange the %s's dims in the target's order",
					    s ? "target" : "baseline");
		for (size_t j = 0; j < nperm; j++)
			if (perm[j] != j)
				changed = true;
		/* Flatten the groups this side holds as separate dims. */
		k = 0;
		for (size_t o = 0; o < norder; o++) {
			const dv_dim *dm;

			if (k >= nperm || (order[o].nparts > 1 && !d->dims[held[perm[k]]].nparts &&
					   k + order[o].nparts > nperm))
				return dv_error_set(err, "axis_aligner: cannot arrange the %s's dims in the target's "
						    "order", s ? "target" : "baseline");
			dm = &d->dims[held[perm[k]]];
			int64_t v = shape ? kept[perm[k]] : 0;

			if (order[o].nparts > 1 && !dm->nparts) {
				for (size_t p = 1; p < order[o].nparts; p++)
					if (shape)
						v *= kept[perm[k + p]];
				k += order[o].nparts;
				changed = true;
			} else {
				k++;
			}
			if (shape)
				out->shape[s][nout] = v;
			nout++;
		}
		out->ndim[s] = nout;
		if (!changed)
			continue;
		buf[0] = '\0';
		for (k = 0; k < d->ndims; k++) {
			str_add(buf, sizeof(buf), &len, k ? " " : "");
			str_add(buf, sizeof(buf), &len, d->dims[k].squeeze ? "1" : d->dims[k].name);
		}
		str_add(buf, sizeof(buf), &len, " ->");
		for (size_t o = 0; o < norder; o++) {
			str_add(buf, sizeof(buf), &len, " ");
			if (order[o].nparts > 1) {
				bool fused_here = false;

				for (k = 0; k < d->ndims && !fused_here; k++)
					if (unit_is_dim(&order[o], &d->dims[k])) {
						fused_here = true;
						str_add(buf, sizeof(buf), &len, d->dims[k].name);
					}
				if (!fused_here) {
					str_add(buf, sizeof(buf), &len, "(");
					for (size_t p = 0; p < order[o].nparts; p++) {
						str_add(buf, sizeof(buf), &len, p ? " " : "");
						str_add(buf, sizeof(buf), &len, order[o].parts[p]);
					}
					str_add(buf, sizeof(buf), &len, ")");
				}
			} else {
				const char *name = order[o].one;

				/* The side's own spelling of s/t. */
				for (k = 0; k < d->ndims; k++)
					if (!d->dims[k].squeeze && !d->dims[k].nparts &&
					    !strcmp(canon(d->dims[k].name), order[o].one))
						name = d->dims[k].name;
				str_add(buf, sizeof(buf), &len, name);
			}
		}
		if (!(out->pattern[s] = strdup(buf))) {
			dv_axis_align_free(out);
			return oom(err);
		}
	}
	return 0;
}

char *dv_axis_align_text(const dv_axis_align *a)
{
	size_t n = 16;
	char *t;

	if (!a->pattern[0] && !a->pattern[1])
		return NULL;
	for (int s = 0; s < 2; s++)
		n += a->pattern[s] ? strlen(a->pattern[s]) + 8 : 0;
	if (!(t = malloc(n)))
		return NULL;
	t[0] = '\0';
	if (a->pattern[0])
		sprintf(t, "x: %s", a->pattern[0]);
	if (a->pattern[1])
		sprintf(t + strlen(t), "%sy: %s", a->pattern[0] ? ", " : "", a->pattern[1]);
	return t;
}
