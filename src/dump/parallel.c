/* Parallel coordinates of one dump file from its meta dict
 * (include/dumpview/dims.h). */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "dumpview/dims.h"

static const char *const info_keys[2] = { "sglang_parallel_info", "megatron_parallel_info" };

/* A producer's plugin that failed writes a dict with an "<x>_error" key;
 * such a dict, an empty one or a non-dict says nothing about coordinates. */
static bool usable_info(const pt_obj *o)
{
	if (!o || o->kind != PT_DICT || o->u.dict.len == 0)
		return false;
	for (size_t i = 0; i < o->u.dict.len; i++) {
		const pt_obj *k = o->u.dict.keys[i];

		if (k && k->kind == PT_STR && k->u.str.len >= 6 &&
		    memcmp(k->u.str.data + k->u.str.len - 6, "_error", 6) == 0)
			return false;
	}
	return true;
}

/* 1 with *v; 0 when absent or None; -1 with err for a non-integer. */
static int get_int(const pt_obj *dict, const char *key, int64_t *v, dv_error *err)
{
	const pt_obj *o = pt_dict_get(dict, key);

	if (!o || o->kind == PT_NONE)
		return 0;
	if (o->kind == PT_INT) {
		*v = o->u.i;
		return 1;
	}
	if (o->kind == PT_BOOL) {
		*v = o->u.b;
		return 1;
	}
	return dv_error_set(err, "%s is a %s, expected an int", key, pt_kind_name(o->kind));
}

int dv_parallel_coords_from_meta(const pt_obj *meta, dv_parallel_coords *out, dv_error *err)
{
	const pt_obj *info = NULL;

	memset(out, 0, sizeof(*out));
	for (int a = 0; a < DV_AXIS_COUNT; a++)
		out->axis[a].size = 1;
	if (!meta || meta->kind != PT_DICT)
		return 0;
	for (int i = 0; i < 2; i++) {
		const pt_obj *o = pt_dict_get(meta, info_keys[i]);

		if (!usable_info(o))
			continue;
		if (info)
			return dv_error_set(err, "multiple parallel_info keys: both %s and %s hold coordinates",
					    info_keys[0], info_keys[1]);
		info = o;
		out->source = info_keys[i];
	}
	for (int a = 0; a < DV_AXIS_COUNT; a++) {
		const char *name = dv_axis_name((dv_axis)a);
		char rk[48], sk[48];
		const pt_obj *from;
		int64_t rank = 0, size = 0;
		int hr, hs;

		snprintf(rk, sizeof(rk), "%s_rank", name);
		snprintf(sk, sizeof(sk), "%s_size", name);
		/* Keyed on the rank alone (absent or None): the dumper writes
		 * axes it has no framework dict for (recompute_pseudo) at the
		 * top level, and the reference then reads both from there. */
		hr = info ? get_int(info, rk, &rank, err) : 0;
		from = hr ? info : meta;
		if (hr < 0 || (!hr && (hr = get_int(meta, rk, &rank, err)) < 0) ||
		    (hs = get_int(from, sk, &size, err)) < 0)
			return -1;
		if (!hr || !hs || size <= 1)
			continue;
		if (rank < 0 || rank >= size)
			return dv_error_set(err, "%s %lld is outside 0..%lld (%s %lld)", rk, (long long)rank,
					    (long long)(size - 1), sk, (long long)size);
		out->axis[a].active = true;
		out->axis[a].rank = rank;
		out->axis[a].size = size;
	}
	return 0;
}

int dv_parallel_dp_coord(const pt_obj *meta, dv_axis axis, int64_t *rank, int64_t *size, dv_error *err)
{
	const char *name = dv_axis_name(axis);
	char rk[48], sk[48];

	if (!name || !meta || meta->kind != PT_DICT)
		return 0;
	snprintf(rk, sizeof(rk), "%s_rank", name);
	snprintf(sk, sizeof(sk), "%s_size", name);
	for (int i = 0; i < 2; i++) {
		const pt_obj *o = pt_dict_get(meta, info_keys[i]);
		int hr, hs;

		if (!o || o->kind != PT_DICT || o->u.dict.len == 0)
			continue;
		if ((hr = get_int(o, rk, rank, err)) < 0 || (hs = get_int(o, sk, size, err)) < 0)
			return -1;
		if (hr && hs)
			return 1;
	}
	return 0;
}

size_t dv_parallel_coords_format(const dv_parallel_coords *c, char *buf, size_t size)
{
	size_t n = 0;

	if (size)
		buf[0] = '\0';
	for (int a = 0; a < DV_AXIS_COUNT; a++) {
		int k;

		if (!c->axis[a].active)
			continue;
		k = snprintf(n < size ? buf + n : NULL, n < size ? size - n : 0, "%s%s=%lld/%lld", n ? " " : "",
			     dv_axis_name((dv_axis)a), (long long)c->axis[a].rank, (long long)c->axis[a].size);
		if (k > 0)
			n += (size_t)k;
	}
	return n;
}
