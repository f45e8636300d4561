/* Rule sets: REGEX + PREDICATE pairs in order, the catch-all last, the
 * command-line and file forms, matching and counting (dumpview/rules.h). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pcre2.h>

#include "internal.h"

struct dv_rule {
	char *regex, *predicate, *origin;
	pcre2_code *re;              /* NULL for the catch-all, which matches every name */
	dv_predicate *pred;
	bool catch_all;
	_Atomic int64_t judged, failed;
};

enum catch_all_mode { CA_AUTO, CA_ON, CA_OFF };

struct dv_rules {
	dv_rule **v;
	size_t n, cap;
	int specs;                   /* dv_rules_add calls, for "rule N" */
	enum catch_all_mode ca_mode;
	dv_rule *catch_all;
	_Atomic int64_t unmatched;
};

bool dv_rule_inputs_from_result(const dv_pair_result *r, dv_rule_inputs *in)
{
	if (r->status != DV_RESULT_COMPARED)
		return false;
	in->rel = r->rel_diff;
	in->max_abs = r->max_abs_diff;
	in->mean_abs = r->mean_abs_diff;
	in->nan_count = dv_stats_nan(&r->base_stats) + dv_stats_nan(&r->targ_stats);
	in->identical = r->identical == r->numel;
	return true;
}

static void rule_free(dv_rule *r)
{
	if (!r)
		return;
	free(r->regex);
	free(r->predicate);
	free(r->origin);
	pcre2_code_free(r->re);
	dv_predicate_free(r->pred);
	free(r);
}

static dv_rule *make_catch_all(double threshold)
{
	dv_rule *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->catch_all = true;
	r->regex = strdup(".*");
	r->origin = strdup("catch-all");
	r->pred = dv_rules_predicate_le(threshold);
	if (r->pred)
		r->predicate = strdup(dv_predicate_canonical(r->pred));
	if (!r->regex || !r->origin || !r->pred || !r->predicate) {
		rule_free(r);
		return NULL;
	}
	return r;
}

dv_rules *dv_rules_new(void)
{
	dv_rules *rs = calloc(1, sizeof(*rs));

	if (!rs)
		return NULL;
	rs->catch_all = make_catch_all(DV_DEFAULT_THRESHOLD);
	if (!rs->catch_all) {
		free(rs);
		return NULL;
	}
	return rs;
}

void dv_rules_free(dv_rules *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; i < rs->n; i++)
		rule_free(rs->v[i]);
	free(rs->v);
	rule_free(rs->catch_all);
	free(rs);
}

/* Columns count characters: UTF-8 continuation bytes do not start one. */
static size_t column_of(const char *s, size_t off)
{
	size_t col = 1;

	for (size_t i = 0; i < off; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			col++;
	return col;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

static char *trimmed_dup(const char *s, size_t n)
{
	while (n && blank(*s))
		s++, n--;
	while (n && blank(s[n - 1]))
		n--;
	return strndup(s, n);
}

/* Builds a rule from regex re[0..rn) (its first byte at line offset re_off)
 * and an already parsed predicate; where names "rule 2" or "FILE:3" in
 * messages, line is the text columns count in. */
static dv_rule *build(const char *line, size_t re_off, size_t rn, dv_predicate *pred, const char *pred_text,
		      size_t pred_len, const char *where, const char *origin, dv_error *err)
{
	const char *re = line + re_off;
	dv_rule *r;
	int code;
	PCRE2_SIZE eoff;

	if (rn == 0) {
		dv_predicate_free(pred);
		dv_error_set(err, "%s: column %zu: empty regex (use '.*' to match every name)", where,
			     column_of(line, re_off));
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		dv_predicate_free(pred);
		dv_error_set(err, "%s: out of memory", where);
		return NULL;
	}
	r->pred = pred;
	r->regex = strndup(re, rn);
	r->predicate = trimmed_dup(pred_text, pred_len);
	r->origin = strdup(origin);
	if (!r->regex || !r->predicate || !r->origin) {
		rule_free(r);
		dv_error_set(err, "%s: out of memory", where);
		return NULL;
	}
	/* A full match as Python's re.fullmatch; Unicode classes as Python's
	 * str patterns; names that are not UTF-8 are matched, not refused. */
	r->re = pcre2_compile((PCRE2_SPTR)re, rn,
			      PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_UCP | PCRE2_ANCHORED | PCRE2_ENDANCHORED,
			      &code, &eoff, NULL);
	if (!r->re) {
		PCRE2_UCHAR msg[256];

		if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
			snprintf((char *)msg, sizeof(msg), "error %d", code);
		rule_free(r);
		dv_error_set(err, "%s: column %zu: bad regex: %s", where,
			     column_of(line, re_off + (eoff < rn ? eoff : rn)), (char *)msg);
		return NULL;
	}
	return r;
}

static int push(dv_rules *rs, dv_rule *r, dv_error *err)
{
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 8;
		dv_rule **v = realloc(rs->v, cap * sizeof(*v));

		if (!v) {
			rule_free(r);
			return dv_error_set(err, "out of memory");
		}
		rs->v = v;
		rs->cap = cap;
	}
	rs->v[rs->n++] = r;
	return 0;
}

/* An '=' that is not part of '<=', '>=', '==' or '!=': only such a one is
 * blamed when no split parses (an error after the '=' of '<=' would confuse
 * someone who forgot the separator). */
static bool lone_eq(const char *s, size_t len, size_t i)
{
	return !(i > 0 && strchr("<>=!", s[i - 1])) && !(i + 1 < len && s[i + 1] == '=');
}

int dv_rules_add(dv_rules *rs, const char *spec, dv_error *err)
{
	size_t len = strlen(spec), best_off = 0, sep = 0;
	char where[32], origin[32], best_msg[DV_ERROR_MAX] = "";
	bool have_err = false;
	dv_predicate *pred = NULL;
	dv_rule *r;

	rs->specs++;
	snprintf(where, sizeof(where), "rule %d", rs->specs);
	snprintf(origin, sizeof(origin), "--rule %d", rs->specs);
	if (len > DV_RULE_MAX_LEN)
		return dv_error_set(err, "%s: longer than %d bytes", where, DV_RULE_MAX_LEN);
	/* The leftmost '=' after which the rest parses; failing that, the
	 * error that got furthest (ties: the leftmost split). */
	for (size_t i = 0; i < len && !pred; i++) {
		char msg[DV_ERROR_MAX];
		size_t off;

		if (spec[i] != '=')
			continue;
		pred = dv_rules_parse_predicate(spec + i + 1, len - i - 1, &off, msg, sizeof(msg));
		if (pred)
			sep = i;
		else if (lone_eq(spec, len, i) && (!have_err || i + 1 + off > best_off)) {
			have_err = true;
			best_off = i + 1 + off;
			snprintf(best_msg, sizeof(best_msg), "%s", msg);
		}
	}
	if (!pred) {
		if (!have_err)
			return dv_error_set(err, "%s: no '=' between the regex and the predicate "
					    "(--rule 'REGEX=PREDICATE')", where);
		return dv_error_set(err, "%s: column %zu: %s", where, column_of(spec, best_off), best_msg);
	}
	/* Blanks around the regex are layout, as in the file form. */
	size_t re_off = 0, re_end = sep;

	while (re_off < re_end && blank(spec[re_off]))
		re_off++;
	while (re_end > re_off && blank(spec[re_end - 1]))
		re_end--;
	r = build(spec, re_off, re_end - re_off, pred, spec + sep + 1, len - sep - 1, where, origin, err);
	if (!r)
		return -1;
	return push(rs, r, err);
}

/* One line of a rules file (no newline). 0: a rule was added or the line
 * holds none; -1: error. */
static int add_line(dv_rules *rs, const char *line, size_t n, const char *name, size_t lineno, dv_error *err)
{
	size_t i = 0, re_off, re_len, p_off, p_end;
	char where[DV_ERROR_MAX / 2], origin[DV_ERROR_MAX / 2], msg[DV_ERROR_MAX];
	dv_predicate *pred;
	dv_rule *r;
	size_t off;

	snprintf(where, sizeof(where), "%s:%zu", name, lineno);
	snprintf(origin, sizeof(origin), "%s:%zu", name, lineno);
	if (n > DV_RULE_MAX_LEN)
		return dv_error_set(err, "%s: line longer than %d bytes", where, DV_RULE_MAX_LEN);
	while (i < n && blank(line[i]))
		i++;
	if (i == n || line[i] == '#')
		return 0;
	re_off = i;
	while (i < n && !blank(line[i]))
		i++;
	re_len = i - re_off;
	while (i < n && blank(line[i]))
		i++;
	p_off = i;
	/* '#' cannot occur in a predicate, so it starts a comment there. */
	p_end = p_off;
	while (p_end < n && line[p_end] != '#')
		p_end++;
	{
		size_t e = p_end;

		while (e > p_off && blank(line[e - 1]))
			e--;
		if (e == p_off)
			return dv_error_set(err, "%s: column %zu: expected a predicate after the regex "
					    "(REGEX PREDICATE, separated by blanks)", where, column_of(line, p_off));
	}
	pred = dv_rules_parse_predicate(line + p_off, p_end - p_off, &off, msg, sizeof(msg));
	if (!pred)
		return dv_error_set(err, "%s: column %zu: %s", where, column_of(line, p_off + off), msg);
	r = build(line, re_off, re_len, pred, line + p_off, p_end - p_off, where, origin, err);
	if (!r)
		return -1;
	return push(rs, r, err);
}

int dv_rules_load_text(dv_rules *rs, const char *text, size_t len, const char *name, dv_error *err)
{
	size_t start = 0, lineno = 0, before = rs->n;

	/* A UTF-8 byte-order mark (some editors write one) is not part of
	 * the first regex. */
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		start = 3;

	while (start < len) {
		const char *nl = memchr(text + start, '\n', len - start);
		size_t end = nl ? (size_t)(nl - text) : len, n = end - start;

		lineno++;
		if (n && text[start + n - 1] == '\r')
			n--;
		if (memchr(text + start, '\0', n)) {
			dv_error_set(err, "%s:%zu: a NUL byte (not a text file?)", name, lineno);
			goto fail;
		}
		if (add_line(rs, text + start, n, name, lineno, err) < 0)
			goto fail;
		start = end + 1;
	}
	return 0;
fail:
	while (rs->n > before)
		rule_free(rs->v[--rs->n]);
	return -1;
}

int dv_rules_load_file(dv_rules *rs, const char *path, dv_error *err)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd, rc;

	/* O_NONBLOCK: a FIFO named as the rules file must not hang compare. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return dv_error_set(err, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = dv_error_set(err, "%s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return dv_error_set(err, "%s: not a regular file", path);
	}
	if (st.st_size > DV_RULES_FILE_MAX) {
		close(fd);
		return dv_error_set(err, "%s: larger than %d bytes; not a rules file?", path, DV_RULES_FILE_MAX);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return dv_error_set(err, "%s: out of memory", path);
	}
	/* Read to EOF within the cap: the file may have grown since fstat. */
	for (;;) {
		ssize_t k;

		if (got == (size_t)st.st_size + 1) {
			free(buf);
			close(fd);
			return dv_error_set(err, "%s: changed while being read", path);
		}
		k = read(fd, buf + got, (size_t)st.st_size + 1 - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			rc = dv_error_set(err, "%s: %s", path, strerror(errno));
			free(buf);
			close(fd);
			return rc;
		}
		if (k == 0)
			break;
		got += (size_t)k;
	}
	close(fd);
	rc = dv_rules_load_text(rs, buf, got, path, err);
	free(buf);
	return rc;
}

int dv_rules_set_catch_all(dv_rules *rs, bool present, double threshold)
{
	dv_rule *r = rs->catch_all;
	dv_predicate *pred;
	char *text;

	if (isnan(threshold))
		return -1;
	pred = dv_rules_predicate_le(threshold);
	text = pred ? strdup(dv_predicate_canonical(pred)) : NULL;
	if (!text) {
		dv_predicate_free(pred);
		return -1;
	}
	/* In place: callers may hold the catch-all's address (the rule that
	 * judged a pair) across a change of threshold. */
	dv_predicate_free(r->pred);
	free(r->predicate);
	r->pred = pred;
	r->predicate = text;
	atomic_store(&r->judged, 0);
	atomic_store(&r->failed, 0);
	rs->ca_mode = present ? CA_ON : CA_OFF;
	return 0;
}

const dv_rule *dv_rules_catch_all(const dv_rules *rs)
{
	switch (rs->ca_mode) {
	case CA_ON: return rs->catch_all;
	case CA_OFF: return NULL;
	default: return rs->n == 0 ? rs->catch_all : NULL;
	}
}

size_t dv_rules_count(const dv_rules *rs)
{
	return rs->n + (dv_rules_catch_all(rs) != NULL);
}

const dv_rule *dv_rules_get(const dv_rules *rs, size_t i)
{
	if (i < rs->n)
		return rs->v[i];
	return i == rs->n ? dv_rules_catch_all(rs) : NULL;
}

/* 1: full match; 0: none; -1: pcre2 could not finish (match limit). */
static int regex_match(const pcre2_code *re, const char *name)
{
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	int rc;

	if (!md)
		return -1;
	rc = pcre2_match(re, (PCRE2_SPTR)name, PCRE2_ZERO_TERMINATED, 0, 0, md, NULL);
	pcre2_match_data_free(md);
	return rc >= 0 ? 1 : rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

const dv_rule *dv_rules_match(const dv_rules *rs, const char *name)
{
	for (size_t i = 0; i < rs->n; i++) {
		int m = regex_match(rs->v[i]->re, name);

		if (m > 0)
			return rs->v[i];
		if (m < 0)
			return NULL;     /* fail closed rather than fall to a looser rule */
	}
	return dv_rules_catch_all(rs);
}

dv_rule_verdict dv_rules_judge(const dv_rules *rs, const char *name, const dv_rule_inputs *in, const dv_rule **rule)
{
	const dv_rule *r = dv_rules_match(rs, name);
	bool ok;

	if (rule)
		*rule = r;
	if (!r) {
		atomic_fetch_add(&((dv_rules *)rs)->unmatched, 1);
		return DV_RULE_NO_MATCH;
	}
	ok = dv_rule_passes(r, in);
	dv_rule_record(r, ok);
	return ok ? DV_RULE_PASSED : DV_RULE_FAILED;
}

int64_t dv_rules_unmatched(const dv_rules *rs)
{
	return atomic_load(&((dv_rules *)rs)->unmatched);
}

void dv_rules_reset_counts(dv_rules *rs)
{
	for (size_t i = 0; i < rs->n; i++) {
		atomic_store(&rs->v[i]->judged, 0);
		atomic_store(&rs->v[i]->failed, 0);
	}
	atomic_store(&rs->catch_all->judged, 0);
	atomic_store(&rs->catch_all->failed, 0);
	atomic_store(&rs->unmatched, 0);
}

bool dv_rule_passes(const dv_rule *r, const dv_rule_inputs *in)
{
	return dv_predicate_eval(r->pred, in);
}

/* The counters change under a const rule: every rule is allocated writable,
 * and counting is not part of what a rule means. */
void dv_rule_record(const dv_rule *r, bool passed)
{
	dv_rule *w = (dv_rule *)r;

	atomic_fetch_add(&w->judged, 1);
	if (!passed)
		atomic_fetch_add(&w->failed, 1);
}

int64_t dv_rule_judged(const dv_rule *r)
{
	return atomic_load(&((dv_rule *)r)->judged);
}

int64_t dv_rule_failed(const dv_rule *r)
{
	return atomic_load(&((dv_rule *)r)->failed);
}

const char *dv_rule_regex(const dv_rule *r)
{
	return r->regex;
}

const char *dv_rule_predicate(const dv_rule *r)
{
	return r->predicate;
}

const char *dv_rule_canonical(const dv_rule *r)
{
	return dv_predicate_canonical(r->pred);
}

const char *dv_rule_origin(const dv_rule *r)
{
	return r->origin;
}

bool dv_rule_is_catch_all(const dv_rule *r)
{
	return r->catch_all;
}
