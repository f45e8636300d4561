/* The `R` screen: the pass rules in the order they are tried, how many
 * tensors each judged and failed (counted from the verdicts now, so it
 * follows `t` and the scan), the names no rule matches, and the gate
 * `compare` would exit by. Modal, over the panes, as the help screen. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "draw.h"
#include "state.h"
#include "views.h"

static void rules_draw(tui_app *app, tui_rect r, bool focused)
{
	(void)focused;
	const dv_rules *rules = dv_comparison_rules(app->cmp);
	size_t n = rules ? dv_rules_count(rules) : 0;
	attr_t title = tui_draw_attr(app, CP_TITLE, A_REVERSE | A_BOLD);
	attr_t head = tui_draw_attr(app, CP_HEAD, A_BOLD);
	char buf[1200];
	int line = 0;
#define PUT_LINE(...)                                                   \
	do {                                                            \
		int l_ = line++ - app->rules_view.scroll;               \
		if (l_ >= 0 && l_ < r.h) {                              \
			__VA_ARGS__;                                    \
		}                                                       \
	} while (0)
	tui_draw_fill(stdscr, r.y - 1, r.x, r.w, title);
	if (rules)
		snprintf(buf, sizeof(buf), "rules: %zu, the first whose regex matches the whole name judges (R or Esc closes)",
			 n);
	else
		snprintf(buf, sizeof(buf), "rules: none (R or Esc closes)");
	tui_draw_str(stdscr, r.y - 1, r.x + 1, r.w - 1, buf, title);
	if (!rules) {
		snprintf(buf, sizeof(buf), "no rules: a tensor passes when rel_diff <= %g (t sets it)",
			 dv_comparison_threshold(app->cmp));
		PUT_LINE(tui_draw_str(stdscr, r.y + l_, r.x + 2, r.w - 2, buf, A_NORMAL));
		PUT_LINE(tui_draw_str(stdscr, r.y + l_, r.x + 2, r.w - 2,
				      "--rule 'REGEX=PREDICATE' and --rules FILE give per-tensor rules", A_NORMAL));
	} else {
		size_t *judged = calloc(n ? n : 1, sizeof(*judged)), *failed = calloc(n ? n : 1, sizeof(*failed));
		size_t unmatched = 0;
		if (!judged || !failed) {
			PUT_LINE(tui_draw_str(stdscr, r.y + l_, r.x + 2, r.w - 2, "out of memory", A_BOLD));
		} else {
			dv_comparison_tally_rules(app->cmp, judged, failed, &unmatched);
			PUT_LINE(tui_draw_field(app, r.y + l_, r.x + 2, 4, "#", head, true);
				 tui_draw_field(app, r.y + l_, r.x + 8, 18, "origin", head, false);
				 tui_draw_field(app, r.y + l_, r.x + 27, 8, "judged", head, true);
				 tui_draw_field(app, r.y + l_, r.x + 36, 8, "failed", head, true);
				 tui_draw_str(stdscr, r.y + l_, r.x + 46, r.w - 46, "regex  predicate", head));
			for (size_t k = 0; k < n; k++) {
				const dv_rule *rule = dv_rules_get(rules, k);
				char num[32], nj[32], nf[32];
				snprintf(num, sizeof(num), "%zu", k + 1);
				snprintf(nj, sizeof(nj), "%zu", judged[k]);
				snprintf(nf, sizeof(nf), "%zu", failed[k]);
				snprintf(buf, sizeof(buf), "%s  %s", dv_rule_regex(rule), dv_rule_canonical(rule));
				PUT_LINE(tui_draw_field(app, r.y + l_, r.x + 2, 4, num, A_NORMAL, true);
					 tui_draw_field(app, r.y + l_, r.x + 8, 18, dv_rule_origin(rule), A_NORMAL, false);
					 tui_draw_field(app, r.y + l_, r.x + 27, 8, nj, A_NORMAL, true);
					 tui_draw_field(app, r.y + l_, r.x + 36, 8, nf,
							failed[k] ? tui_draw_attr(app, CP_FAIL, A_BOLD) : A_NORMAL, true);
					 tui_draw_field(app, r.y + l_, r.x + 46, r.w - 47, buf, A_NORMAL, false));
			}
			line++;
			snprintf(buf, sizeof(buf), "%s: %zu (errors: a rule list fails closed)", DV_NO_RULE_MESSAGE,
				 unmatched);
			PUT_LINE(tui_draw_str(stdscr, r.y + l_, r.x + 2, r.w - 2, buf,
					      unmatched ? tui_draw_attr(app, CP_FAIL, A_BOLD) : A_NORMAL));
			if (!dv_rules_catch_all(rules))
				PUT_LINE(tui_draw_str(stdscr, r.y + l_, r.x + 2, r.w - 2,
						      "no catch-all: t (or --diff-threshold) adds '.* rel <= X' last",
						      A_NORMAL));
		}
		free(judged);
		free(failed);
	}
	line++;
	size_t total, done = tui_state_matched_done(app, &total, NULL);
	char why[512];
	int status = dv_comparison_exit_status(app->cmp, app->opts.allow_failed, app->opts.allow_skipped, why,
					       sizeof(why));
	if (done == total)
		snprintf(buf, sizeof(buf), "gate (compare's exit status): %s%s%s%s", status ? "fail" : "pass",
			 status ? " (" : "", status ? why : "", status ? ")" : "");
	else
		snprintf(buf, sizeof(buf), "gate (compare's exit status): known when the scan is complete (%zu/%zu)", done,
			 total);
	PUT_LINE(tui_draw_str(stdscr, r.y + l_, r.x + 2, r.w - 2, buf,
			      done == total ? tui_draw_attr(app, status ? CP_FAIL : CP_PASS, A_BOLD) : A_NORMAL));
#undef PUT_LINE
	app->rules_view.lines = line;
}

static int rules_handle(tui_app *app, tui_action act, int key)
{
	(void)key;
	switch (act) {
	case ACT_UP: app->rules_view.scroll--; break;
	case ACT_DOWN: app->rules_view.scroll++; break;
	case ACT_PAGE_UP: app->rules_view.scroll -= app->rows / 2; break;
	case ACT_PAGE_DOWN: app->rules_view.scroll += app->rows / 2; break;
	case ACT_FIRST: app->rules_view.scroll = 0; break;
	case ACT_LAST: app->rules_view.scroll = app->rules_view.lines; break;
	case ACT_RULES:
	case ACT_CANCEL:
	case ACT_CLOSE:
		app->rules_open = false;
		break;
	default:
		/* Other keys close it too (after it, they act on the tree). */
		app->rules_open = false;
		return 0;
	}
	if (app->rules_view.scroll > app->rules_view.lines - 1)
		app->rules_view.scroll = app->rules_view.lines - 1;
	if (app->rules_view.scroll < 0)
		app->rules_view.scroll = 0;
	return TF_HANDLED | TF_REDRAW;
}

const view_ops tui_view_rules = { "rules", rules_draw, rules_handle };
