/* Name mapping between frameworks: rules REGEX=REPLACEMENT rewrite the
 * target's tensor names before pairing, so a trainer's
 * decoder.layers.3.self_attention.linear_proj pairs with an inference
 * engine's layers.3.self_attn.o_proj.
 *
 * A rule is REGEX=REPLACEMENT, split at the first '=' of the text that is
 * not escaped by a backslash and not the '=' of a lookaround ((?= and (?<=).
 * REGEX is a PCRE2 pattern (UTF); REPLACEMENT is a PCRE2 extended
 * substitution: $1, ${1}, ${name}, \U..\E case forcing, ${1:+set:unset};
 * an unset group is empty. Each rule replaces every non-overlapping match
 * (like Python's re.sub or sed's s///g; anchor with ^ or $ to replace one),
 * and the rules run in order, each on the result of the one before, like the
 * lines of a sed script. A name no rule matches is left as it is.
 *
 * A rule file holds one rule per line, the same syntax; blanks around a
 * rule are ignored, and so are empty lines and lines whose first non-blank
 * character is '#'. There are no trailing comments: '#' may be part of a
 * regex.
 *
 * No curses, no output: errors come back as dv_error values. */
#ifndef DUMPVIEW_NAME_MAP_H
#define DUMPVIEW_NAME_MAP_H

#include <stddef.h>

#include "dumpview/dump.h"
#include "dumpview/error.h"

typedef struct dv_name_map dv_name_map;

dv_name_map *dv_name_map_new(void);
void dv_name_map_free(dv_name_map *m);

/* Adds one rule, appended after the others. origin names it in later error
 * messages ("--name-map 'x=y'", "map.txt:3"); copied. On a bad rule -1,
 * *column (1-based, in rule) where the problem is and err "column N:
 * reason". */
int dv_name_map_add(dv_name_map *m, const char *rule, const char *origin, size_t *column, dv_error *err);
/* Adds the rules of a rule file's text (see above); label names the file in
 * messages. -1 with err "LABEL:LINE: column N: reason" and *line (optional)
 * set. */
int dv_name_map_add_text(dv_name_map *m, const char *text, size_t len, const char *label, size_t *line,
			 dv_error *err);
/* Reads path and adds its rules: -1 with err "PATH: reason" when it cannot
 * be read, else as dv_name_map_add_text. */
int dv_name_map_load(dv_name_map *m, const char *path, dv_error *err);

size_t dv_name_map_count(const dv_name_map *m);
/* Rule i as given, and its origin. */
const char *dv_name_map_rule(const dv_name_map *m, size_t i);
const char *dv_name_map_origin(const dv_name_map *m, size_t i);

/* The longest name a rule may produce, in bytes. */
#define DV_NAME_MAP_MAX 4096

/* Runs the rules on name: 1 with *out the new name (malloc'd, different
 * from name), 0 when the rules leave the name as it is (*out NULL), -1 with
 * err naming the rule (a regex too expensive on this name, a result longer
 * than DV_NAME_MAP_MAX, out of memory). */
int dv_name_map_apply(const dv_name_map *m, const char *name, char **out, dv_error *err);

/* Renames the files of a run (the target) by the rules: a mapped file's
 * name, its "name" tag (or its stem, the name of a file without one) and
 * its layer when that came from the name (layer_regex, NULL for
 * DV_DEFAULT_LAYER_REGEX) become the mapped ones; unmapped_name keeps the
 * name it had. *nmapped (optional): files renamed. 0, or -1 with err. */
int dv_name_map_run(const dv_name_map *m, dv_run *run, const char *layer_regex, size_t *nmapped,
		    dv_error *err);

/* What `info --name-map` says of a phase of a comparison opened with the
 * rules: each distinct name of a side, in the order of its first file. */
typedef struct dv_name_use {
	const char *name;      /* the file's own name */
	const char *mapped;    /* the name it pairs by: after the rules on the target
				  (the same pointer as name when they left it), name
				  on the baseline */
	size_t files, paired;  /* its files, and those in a pair with the other side */
} dv_name_use;

typedef struct dv_name_pairing {
	const char *phase;
	dv_name_use *base, *targ;
	size_t nbase, ntarg;
	size_t base_unpaired;  /* baseline names with an unpaired file */
	size_t targ_paired;    /* target names all of whose files pair */
	size_t targ_renamed;   /* target names the rules changed */
} dv_name_pairing;

/* The names of cmp->phases[phase]. 0, or -1 with err (out of memory). */
int dv_name_pairing_summarize(const struct dv_comparison *cmp, size_t phase, dv_name_pairing *out, dv_error *err);
void dv_name_pairing_free(dv_name_pairing *np);

#endif
