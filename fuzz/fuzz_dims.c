/* libFuzzer: the dims annotation. Input: one mode byte, then text. Mode % 3
 * == 0: a dims string (dv_dims_parse); 1: an --override-dims argument, then
 * a lookup of the text's first bytes as a bundle name; 2: a bare pickle read
 * as a meta dict for dv_parallel_coords_from_meta and its 'dims'. Checked:
 * an error is one line with a column within the text (+1 for the end); a
 * parse's canonical form parses to an equal value and prints the same; the
 * internal dim names are unique and every active axis has 0 <= rank < size. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/dims.h"

#define MAX_TEXT 4200
#define MAX_NAME 64

static void check_dims(const char *text, size_t len)
{
	dv_error err = { "" };
	int col = -1;
	dv_dims *d = dv_dims_parse(text, &col, &err), *e;
	char *c, *c2;
	dv_axis axis;

	if (!d) {
		assert(err.msg[0] != '\0');
		assert(!strchr(err.msg, '\n'));
		assert(col >= 1 && (size_t)col <= len + 1);
		return;
	}
	assert(col == 0);
	assert(d->ndims >= 1 && d->ndims <= DV_DIMS_MAX_TOKENS);
	for (size_t i = 0; i < d->ndims; i++) {
		const dv_dim *x = &d->dims[i];

		assert(x->name && x->name[0]);
		assert(x->nparts == 0 || x->nparts >= 2);
		assert(!x->squeeze || (x->nmods == 0 && x->nparts == 0));
		for (size_t k = 0; k < i; k++)
			assert(strcmp(d->dims[k].name, x->name) != 0);
		for (size_t k = 0; k < x->nmods; k++)
			assert(!d->replicated[x->mods[k].axis]);
		assert(dv_dims_find(d, x->name) == (int)i);
	}
	(void)dv_dims_dp_axis(d, &axis, &err);
	assert(dv_dims_check_rank(d, (int)d->ndims, &err) == 0);
	c = dv_dims_canonical(d);
	if (!c) {
		dv_dims_free(d);
		return;
	}
	e = dv_dims_parse(c, NULL, &err);
	assert(e != NULL);
	assert(dv_dims_equal(d, e));
	c2 = dv_dims_canonical(e);
	assert(c2 && strcmp(c, c2) == 0);
	free(c2);
	free(c);
	dv_dims_free(e);
	dv_dims_free(d);
}

static void check_override(const char *text, const char *name, unsigned mode)
{
	dv_dims_overrides *o = dv_dims_overrides_new();
	dv_error err = { "" };
	const char *dims = NULL;
	size_t idx = 0;
	int rc;

	if (!o)
		return;
	if (dv_dims_overrides_add_arg(o, text, (dv_dims_side)(mode % 3), &err) < 0) {
		assert(err.msg[0] != '\0');
		assert(dv_dims_overrides_count(o) == 0);
	} else {
		assert(dv_dims_overrides_count(o) == 1);
	}
	for (int side = DV_DIMS_SIDE_BASELINE; side <= DV_DIMS_SIDE_TARGET; side++) {
		rc = dv_dims_overrides_lookup(o, name, (dv_dims_side)side, &dims, &idx, &err);
		if (rc == 1) {
			dv_dims *d = dv_dims_parse(dims, NULL, &err);

			assert(idx == 0 && d != NULL);
			dv_dims_free(d);
		}
	}
	dv_dims_overrides_free(o);
}

static void check_meta(const uint8_t *data, size_t size)
{
	dv_error err = { "" };
	pt_limits lim = pt_limits_default();
	pt_file *pf;
	dv_parallel_coords c;
	const pt_obj *dims;
	char buf[64];

	lim.max_memory = 64u << 20;
	pf = pt_open_pickle(data, size, "fuzz", &lim, &err);
	if (!pf)
		return;
	if (dv_parallel_coords_from_meta(pt_root(pf), &c, &err) < 0) {
		assert(err.msg[0] != '\0');
	} else {
		for (int a = 0; a < DV_AXIS_COUNT; a++)
			if (c.axis[a].active)
				assert(c.axis[a].size > 1 && c.axis[a].rank >= 0 && c.axis[a].rank < c.axis[a].size);
			else
				assert(c.axis[a].size == 1 && c.axis[a].rank == 0);
		(void)dv_parallel_coords_format(&c, buf, sizeof(buf));
	}
	dims = pt_root(pf)->kind == PT_DICT ? pt_dict_get(pt_root(pf), "dims") : NULL;
	if (dims && dims->kind == PT_STR && strlen(dims->u.str.data) == dims->u.str.len)
		check_dims(dims->u.str.data, dims->u.str.len);
	pt_close(pf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[MAX_TEXT + 1], name[MAX_NAME + 1];
	size_t len, nlen;

	if (size < 1 || size - 1 > MAX_TEXT)
		return 0;
	len = size - 1;
	memcpy(text, data + 1, len);
	text[len] = '\0';
	nlen = strnlen(text, len < MAX_NAME ? len : MAX_NAME);
	memcpy(name, text, nlen);
	name[nlen] = '\0';

	switch (data[0] % 3) {
	case 0:
		check_dims(text, strlen(text));
		break;
	case 1:
		check_override(text, name, data[0] / 3);
		break;
	default:
		check_meta(data + 1, len);
		break;
	}
	return 0;
}
