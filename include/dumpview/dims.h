/* The `dims` annotation of a dump file, the rules that override it, and the
 * parallel coordinates (axis -> rank, size) a file's meta records. Parsing
 * only: pairing shards, unsharding and axis alignment build on these. No
 * curses here.
 *
 * GRAMMAR (split at the FIRST '#'):
 *
 *   dims         := shape [ '#' declarations ]
 *   shape        := token { WS token }            at least one token
 *   token        := '1' | plain | fused
 *   plain        := NAME [ '[' modifiers ']' ]
 *   fused        := '(' NAME '*' NAME { '*' NAME } ')' [ '[' modifiers ']' ]
 *   modifiers    := modifier { ',' modifier }
 *   modifier     := AXIS [ ':' qualifier { '+' qualifier } ]
 *   qualifier    := 'zigzag' | 'natural' | 'partial' | 'sharded'
 *   declarations := { 'dp:=' NAME | AXIS ':replicated' }
 *   NAME         := [A-Za-z_][A-Za-z0-9_]*
 *   AXIS         := tp cp ep sp dp etp edp attn_tp attn_dp moe_ep moe_tp
 *                   moe_dp recompute_pseudo
 *
 * - WS is ASCII whitespace. Tokens are split on it first, so nothing inside a
 *   token may contain a space: '(a * b)' and 'h[tp, cp]' are broken tokens.
 *   (The reference trims modifier items too; after the split there is
 *   nothing left to trim.)
 * - Names are ASCII and case-sensitive; so are axes and qualifiers.
 * - '1' (squeeze) takes no modifiers. 'sharded' is accepted and dropped;
 *   'natural' is the same as no ordering and is dropped too. A modifier has
 *   at most one ordering and at most one 'partial': 'cp:zigzag+partial' is
 *   legal, 'cp:zigzag+natural' is not. Empty qualifiers are skipped, as the
 *   reference does: 'h[tp:]' = 'h[tp]', 'cp:zigzag+' = 'cp:zigzag'.
 * - Several modifiers on one dim mean nested sharding; their written order is
 *   kept (the unsharder walks them right to left).
 * - A semantic name may appear once (fused parts count, '1' does not). 's'
 *   and 't' are different names here; only axis alignment equates them.
 * - Declarations: at most one 'dp:=', each axis replicated at most once, and
 *   never an axis that a modifier shards. 'dp:=WORD' with WORD not an axis
 *   is accepted here and reported by dv_dims_dp_axis, when the bundle is
 *   compared, as the reference does.
 *
 * Internal dim names: a plain dim's name; a fused dim's parts joined by
 * "___" ('num_heads___head_dim'); the n-th '1' is "singleton<n>" from 0.
 * Internal names must be unique too ('a___b (a*b)' is an error).
 *
 * Errors are one line, "column C: reason 'token'", C 1-based in characters
 * (UTF-8), pointing at the offending token, modifier item, qualifier or
 * declaration. The caller prefixes the file name. */
#ifndef DUMPVIEW_DIMS_H
#define DUMPVIEW_DIMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpview/error.h"
#include "dumpview/pt.h"

#define DV_DIMS_MAX_LEN 4096       /* bytes of one dims string, whitespace not counted */
#define DV_DIMS_MAX_TOKENS PT_MAX_DIMS /* more can never match a tensor's rank */

/* The parallel axes, in the reference's order. */
typedef enum dv_axis {
	DV_AXIS_TP,
	DV_AXIS_CP,
	DV_AXIS_EP,
	DV_AXIS_SP,
	DV_AXIS_DP,
	DV_AXIS_ETP,
	DV_AXIS_EDP,
	DV_AXIS_ATTN_TP,
	DV_AXIS_ATTN_DP,
	DV_AXIS_MOE_EP,
	DV_AXIS_MOE_TP,
	DV_AXIS_MOE_DP,
	DV_AXIS_RECOMPUTE_PSEUDO,
	DV_AXIS_COUNT
} dv_axis;

/* "tp", "cp", ...; NULL outside the enum. */
const char *dv_axis_name(dv_axis axis);
/* The axis named by s[0..len), or -1. */
int dv_axis_from_name(const char *s, size_t len);

/* One (axis, qualifiers) modifier of a dim. */
typedef struct dv_dim_mod {
	dv_axis axis;
	bool zigzag;   /* ordering; false = natural */
	bool partial;  /* a reduction (sum) instead of a concat */
} dv_dim_mod;

typedef struct dv_dim {
	char *name;           /* internal name (see above) */
	bool squeeze;         /* the token '1' */
	size_t nparts;        /* fused: >= 2 parts; plain and '1': 0 */
	char **parts;
	size_t nmods;         /* at most one per axis */
	dv_dim_mod mods[DV_AXIS_COUNT];
	int column;           /* 1-based column of the token in the text */
} dv_dim;

typedef struct dv_dims {
	size_t ndims;
	dv_dim *dims;
	char *dp_alias;                 /* the WORD of 'dp:=WORD', or NULL */
	bool replicated[DV_AXIS_COUNT]; /* declared 'AXIS:replicated' */
} dv_dims;

/* Parses text (NUL-terminated: a pt string with an embedded NUL is the
 * caller's to refuse, as its len says). NULL on error: err gets "column C: reason"
 * and *column (if not NULL) C. Also NULL with a message when out of memory
 * (column 0). */
dv_dims *dv_dims_parse(const char *text, int *column, dv_error *err);
void dv_dims_free(dv_dims *d);

/* The canonical text: tokens joined by one space, qualifiers as
 * 'zigzag+partial' ('natural' and 'sharded' dropped), then, if anything is
 * declared, ' # ' and the replicated axes in enum order, then 'dp:=WORD'.
 * Parsing it gives an equal dv_dims. malloc'd; NULL when out of memory. */
char *dv_dims_canonical(const dv_dims *d);
/* Same dims, modifiers, declarations (columns are not compared). */
bool dv_dims_equal(const dv_dims *a, const dv_dims *b);

/* Number of tokens ('1' included), which must equal the tensor's rank. */
size_t dv_dims_count(const dv_dims *d);
/* 0, or -1 with "dims metadata mismatch: 'dims' has 2 tokens, the tensor has 3 dimensions". */
int dv_dims_check_rank(const dv_dims *d, int ndim, dv_error *err);
/* Index of the dim whose internal name is name, or -1. */
int dv_dims_find(const dv_dims *d, const char *name);
/* True when some dim's modifiers name axis. */
bool dv_dims_shards_axis(const dv_dims *d, dv_axis axis);
/* The DP axis: the 'dp:=' alias, else dp. -1 with "dp alias 'foo' is not a
 * parallel axis (...)" when the alias names no axis. */
int dv_dims_dp_axis(const dv_dims *d, dv_axis *axis, dv_error *err);

/* ---- overrides: rules that replace a side's meta 'dims' ---- */

typedef enum dv_dims_side {
	DV_DIMS_SIDE_BOTH,
	DV_DIMS_SIDE_BASELINE,
	DV_DIMS_SIDE_TARGET,
} dv_dims_side;

/* "both", "baseline", "target" (a config file's side), or -1. */
int dv_dims_side_from_name(const char *s);

typedef struct dv_dims_overrides dv_dims_overrides;

dv_dims_overrides *dv_dims_overrides_new(void);
void dv_dims_overrides_free(dv_dims_overrides *o);
/* A command-line argument 'REGEX:DIMS', split at its FIRST ':' (so the
 * regex cannot contain ':'; the dims may, as in 'h[cp:zigzag]'); both halves
 * trimmed of ASCII whitespace and non-empty. The regex is PCRE2 (UTF,
 * Unicode classes); DIMS must parse (checked now rather than for every
 * bundle it would fail). Rules are tried in the order they were added, so
 * add --override-dims, then --override-baseline-dims, then
 * --override-target-dims, then config-file rules. -1 with err naming the
 * argument and the reason. */
int dv_dims_overrides_add_arg(dv_dims_overrides *o, const char *arg, dv_dims_side side, dv_error *err);
/* The same from its parts (a config file's match and dims); not trimmed. */
int dv_dims_overrides_add(dv_dims_overrides *o, const char *regex, const char *dims, dv_dims_side side,
			  dv_error *err);
size_t dv_dims_overrides_count(const dv_dims_overrides *o);
/* The first rule whose side fits (side is BASELINE or TARGET; a BOTH rule
 * fits either) and whose regex is found anywhere in name (a search, not a
 * full match). 1 with *dims (the rule's text as given, trimmed; owned by o)
 * and *index set; 0 when none matches; -1 with err when a regex gives up
 * (PCRE2's match limit): the search stops there rather than fall through to
 * a later rule. */
int dv_dims_overrides_lookup(const dv_dims_overrides *o, const char *name, dv_dims_side side,
			     const char **dims, size_t *index, dv_error *err);

/* ---- parallel coordinates of a file ---- */

typedef struct dv_axis_coord {
	bool active;          /* rank and size both present and size > 1 */
	int64_t rank, size;   /* 0 and 1 when inactive */
} dv_axis_coord;

typedef struct dv_parallel_coords {
	dv_axis_coord axis[DV_AXIS_COUNT];
	const char *source;   /* "sglang_parallel_info", "megatron_parallel_info" or NULL (static) */
} dv_parallel_coords;

/* From a file's meta dict: the one of sglang_parallel_info /
 * megatron_parallel_info that is a non-empty dict without an error sentinel
 * (a key ending in "_error"); both surviving is an error ("multiple
 * parallel_info keys"). Per axis, <axis>_rank and <axis>_size from that dict,
 * or from the top level of meta when the dict lacks <axis>_rank or holds
 * None there (this is where recompute_pseudo_rank/_size live). None counts
 * as absent; bools read
 * as 0/1; any other non-int is an error. An active axis needs
 * 0 <= rank < size. meta may be NULL or not a dict: then nothing is active.
 * 0, or -1 with err ("tp_rank 2 is outside 0..1 (tp_size 2)"). */
int dv_parallel_coords_from_meta(const pt_obj *meta, dv_parallel_coords *out, dv_error *err);
/* The DP filter's own reading of one axis (the DP axis, after any 'dp:='
 * alias): <axis>_rank and <axis>_size from the first of
 * sglang_parallel_info, megatron_parallel_info that is a non-empty dict
 * holding both; the top level is not consulted and error sentinels are not
 * looked for. 1 with *rank, *size; 0 when no dict holds both; -1 with err
 * for a non-integer. */
int dv_parallel_dp_coord(const pt_obj *meta, dv_axis axis, int64_t *rank, int64_t *size, dv_error *err);
/* "tp=1/2 cp=0/2" for the active axes ("" when none) into buf; returns the
 * length it needed, as snprintf. */
size_t dv_parallel_coords_format(const dv_parallel_coords *c, char *buf, size_t size);

#endif
