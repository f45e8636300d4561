/* Pass rules per tensor: an ordered list of REGEX + PREDICATE pairs; the
 * first rule whose regex fully matches a tensor's name decides whether its
 * metrics pass. Predicates are parsed once into a small tree and evaluated
 * here in C: no outside evaluator, no code execution. No curses here.
 *
 * PREDICATE grammar (Python's precedence: or < and < not < comparisons):
 *
 *   or_expr    := and_expr ('or' and_expr)*
 *   and_expr   := not_expr ('and' not_expr)*
 *   not_expr   := 'not' not_expr | comparison
 *   comparison := primary (CMP primary)*       CMP: < <= > >= == !=
 *   primary    := NUMBER | ('+'|'-') NUMBER | NAME | '(' or_expr ')'
 *
 * - Names: rel (rel_diff), max_abs (max |t-b|), mean_abs (mean |t-b|), nan
 *   (NaN elements of both sides together) are numbers; identical (every
 *   element bit-identical) is a condition, used bare ('identical',
 *   'not identical', 'identical or rel <= 1e-6'); comparing it is an error,
 *   as is using a number as a condition ('rel or ...'). Names are
 *   case-sensitive; 'and', 'or', 'not' are keywords.
 * - Chained comparisons mean each adjacent pair, joined by 'and':
 *   '1e-6 < rel <= 1e-3' is '1e-6 < rel and rel <= 1e-3' (Python).
 * - NUMBER: a C floating, decimal or hexadecimal integer literal without a
 *   suffix: 1, 1e-3, .5, 5., 1E+3, 0x1p-10, 0x10; 'inf' is infinity; a sign
 *   may precede a number. Rejected: leading zeros in an integer ('010', which C reads as
 *   octal), suffixes ('1e-3f'), '_' separators, values too large for a
 *   double. There is no NaN literal: 'nan' is the NaN count.
 * - NaN metrics follow IEEE, as Python does: every comparison with a NaN is
 *   false except '!=', so a NaN rel fails 'rel <= X' but passes
 *   'not rel > X' and 'rel != 0'. Gate on 'nan == 0' to fail NaNs outright.
 * - Limits: DV_RULE_MAX_LEN bytes of text, DV_RULE_MAX_DEPTH levels of
 *   parentheses and 'not' (deeper input is an error, not a deep recursion).
 *
 * Errors name a 1-based column (in characters) and the reason:
 *   "rule 2: column 14: expected a number or a name after '<='"
 *   "rules.txt:3: column 9: unknown name 'rell' (names: ...)"
 *
 * Regexes are PCRE2 (UTF, Unicode classes as Python's re), matched against
 * the whole name (anchored at both ends, as Python's re.fullmatch). A regex
 * that cannot finish matching a name (pcre2's match limit) counts as not
 * matching and stops the search: the name gets no rule rather than a later,
 * looser one.
 *
 * Thread safety: match, judge, passes and the counters may be used from
 * many threads at once; add, load, set_catch_all, reset_counts and free may
 * not run concurrently with anything else on the same set. */
#ifndef DUMPVIEW_RULES_H
#define DUMPVIEW_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpview/error.h"
#include "dumpview/metrics.h"

#define DV_RULE_MAX_LEN 4096     /* bytes of a --rule argument, a file line, a predicate */
#define DV_RULE_MAX_DEPTH 32     /* nested '(' and 'not' */
#define DV_RULES_FILE_MAX (1 << 20)

/* What a predicate sees of one compared pair. */
typedef struct dv_rule_inputs {
	double rel, max_abs, mean_abs;
	int64_t nan_count;           /* NaN elements, baseline and target together */
	bool identical;              /* every element bit-identical (as float32) */
} dv_rule_inputs;

/* Fills in from a finished result. Only DV_RESULT_COMPARED results are
 * judged by rules: for any other status (shape mismatch, non-tensor, error,
 * cancelled) returns false and the caller decides, as it does today. */
bool dv_rule_inputs_from_result(const dv_pair_result *result, dv_rule_inputs *in);

/* ---- one predicate ---- */
typedef struct dv_predicate dv_predicate;

/* Parses text (NUL-terminated). NULL on error: err gets "column C: reason"
 * and *column (if not NULL) C, 1-based. */
dv_predicate *dv_predicate_parse(const char *text, int *column, dv_error *err);
bool dv_predicate_eval(const dv_predicate *pred, const dv_rule_inputs *in);
/* The canonical form: single spaces, parentheses only where precedence needs
 * them, numbers in their shortest round-trip form ('0.001', '1e-06', 'inf');
 * it parses back to the same predicate. */
const char *dv_predicate_canonical(const dv_predicate *pred);
void dv_predicate_free(dv_predicate *pred);

/* ---- rule sets ---- */
typedef struct dv_rule dv_rule;
typedef struct dv_rules dv_rules;

typedef enum dv_rule_verdict {
	DV_RULE_PASSED,
	DV_RULE_FAILED,
	DV_RULE_NO_MATCH,            /* fail-closed: the caller reports an error record */
} dv_rule_verdict;

/* An empty set; NULL when out of memory. Its catch-all starts in "auto"
 * mode: present (rel <= DV_DEFAULT_THRESHOLD) while no user rule is added. */
dv_rules *dv_rules_new(void);
void dv_rules_free(dv_rules *rules);

/* Appends one rule in the command-line form REGEX=PREDICATE (--rule);
 * blanks around the regex and the predicate are layout (write \x20 for a
 * space at either end of a regex).
 * The separator is the LEFTMOST '=' after which the rest of the text parses
 * as a whole predicate. A predicate never starts with '=' and never
 * contains a lone '=', so a regex without '=' always splits at its first
 * '='; a regex may still contain '=' ('a=b', '(?=x)', '(?<=x)') because
 * 'REGEXTAIL=PREDICATE' does not parse as a predicate. When no split parses,
 * the error reported is the one that got furthest into the text (ties: the
 * leftmost split) among the splits at a lone '=' (not part of '<=', '>=',
 * '==', '!='); with no lone '=', the error says the separator is missing. Errors are "rule N: column C: reason", N counting the
 * calls of dv_rules_add on this set and C the column in spec. Returns 0, or
 * -1 with the set unchanged. */
int dv_rules_add(dv_rules *rules, const char *spec, dv_error *err);

/* Appends the rules of a file (--rules): one 'REGEX PREDICATE' per line,
 * the regex being the first whitespace-delimited token (write a space in it
 * as \x20 or \s) and the predicate the rest; a '#' in the predicate part
 * starts a comment; blank lines and lines whose first non-blank is '#' are
 * skipped; CRLF and a leading UTF-8 byte-order mark are accepted. Only regular files are read (a FIFO never
 * blocks), at most DV_RULES_FILE_MAX bytes. Errors: "PATH: reason" or
 * "PATH:LINE: column C: reason". Returns 0, or -1 with the set unchanged. */
int dv_rules_load_file(dv_rules *rules, const char *path, dv_error *err);
/* The same over text in memory (len bytes; may hold NUL, which is an
 * error); name stands for the path in messages. */
int dv_rules_load_text(dv_rules *rules, const char *text, size_t len, const char *name, dv_error *err);

/* present: the catch-all '.*' 'rel <= threshold' is placed after every user
 * rule (--diff-threshold X, or the explorer's 't'); !present: no catch-all
 * even when there are no user rules. Either ends "auto" mode and resets the
 * catch-all's counters; the catch-all keeps its address. -1 (nothing
 * changed) for a NaN threshold or when out of memory. */
int dv_rules_set_catch_all(dv_rules *rules, bool present, double threshold);

/* Rules in order, the catch-all (when present) last. */
size_t dv_rules_count(const dv_rules *rules);
const dv_rule *dv_rules_get(const dv_rules *rules, size_t i);
/* The catch-all in effect, or NULL. */
const dv_rule *dv_rules_catch_all(const dv_rules *rules);

/* The first rule whose regex fully matches name, or NULL (no rule matches). */
const dv_rule *dv_rules_match(const dv_rules *rules, const char *name);
/* Match, evaluate, and count: the judging rule's judged/failed counters, or
 * the set's unmatched counter. *rule (if not NULL) gets the rule or NULL. */
dv_rule_verdict dv_rules_judge(const dv_rules *rules, const char *name, const dv_rule_inputs *in,
			       const dv_rule **rule);
int64_t dv_rules_unmatched(const dv_rules *rules);
/* Zeroes every counter (before judging everything again). */
void dv_rules_reset_counts(dv_rules *rules);

/* ---- one rule ---- */
/* The predicate on in; no counting. */
bool dv_rule_passes(const dv_rule *rule, const dv_rule_inputs *in);
/* Counts a verdict the caller reached itself (e.g. a shape mismatch of a
 * tensor this rule matched). */
void dv_rule_record(const dv_rule *rule, bool passed);
int64_t dv_rule_judged(const dv_rule *rule);
int64_t dv_rule_failed(const dv_rule *rule);
const char *dv_rule_regex(const dv_rule *rule);      /* as written; ".*" for the catch-all */
const char *dv_rule_predicate(const dv_rule *rule);  /* as written, blanks and comment trimmed */
const char *dv_rule_canonical(const dv_rule *rule);  /* dv_predicate_canonical */
/* Where it came from: "--rule 2", "PATH:3", or "catch-all". */
const char *dv_rule_origin(const dv_rule *rule);
bool dv_rule_is_catch_all(const dv_rule *rule);

#endif
