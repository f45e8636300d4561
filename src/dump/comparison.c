/* The comparison object: resolving runs, phase selection, the pass rule,
 * the verdict of a pair, the first divergence and the scan it owns. The
 * pairing itself is in pairing.c. */
#include "config.h"

#ifdef HAVE_MALLOC_H
#include <malloc.h>
#endif
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/comparison.h"
#include "dumpview/logical.h"
#include "dumpview/name_map.h"
#include "dumpview/threadprio.h"
#include "internal.h"

/* What a walk found in one chunk of pairs (dv_comparison.fd_chunks): the
 * offsets of its first diverging pair and of its first pair without a
 * final verdict (DV_CHUNK_PAIRS: none), under the chunk's count gen, the
 * comparison's fd_reset and rule epoch epoch, or any epoch when ruleless
 * (no computed pair was judged: no pass rule decided anything there). */
typedef struct dv_fd_chunk {
	unsigned gen, reset, epoch;
	uint16_t div, nonfinal;
	bool valid, ruleless;
} dv_fd_chunk;

const char *dv_base_dir(void)
{
	const char *base = getenv("DUMPER_BASE_DIR");

	return base && *base ? base : DV_DEFAULT_BASE_DIR;
}

dv_run *dv_comparison_open_run(const char *spec, const dv_run_opts *opts, dv_error *err)
{
	dv_run_opts o = {0};

	if (opts)
		o = *opts;
	if (!o.base_dir)
		o.base_dir = dv_base_dir();
	return dv_run_open(spec, &o, err);
}

/* Opening a run (listing its folders, parsing thousands of file names) is
 * serial work before the first pair: the baseline may be listed on a second
 * thread while this one lists the target. */
typedef struct open_job {
	const char *spec;
	const dv_run_opts *opts;
	dv_run *run;
	dv_error err;
} open_job;

static void *open_job_run(void *arg)
{
	open_job *j = arg;

	j->run = dv_comparison_open_run(j->spec, j->opts, &j->err);
	return NULL;
}

/* open_job_run on a thread of its own, below the caller's priority when
 * background threads are asked to be (threadprio.h) */
static void *open_job_thread(void *arg)
{
	dv_thread_background();
	return open_job_run(arg);
}

/* Listing and pairing leave freed temporaries (folder listings, pairing
 * keys) as touched pages between what they keep: at 100 k files and more
 * that is tens of MB of resident memory never used again. */
static void give_back_freed(void)
{
#ifdef HAVE_MALLOC_TRIM
	malloc_trim(0);
#endif
}

static bool run_has_phase(const dv_run *run, const char *name)
{
	for (size_t i = 0; i < run->nphases; i++)
		if (!strcmp(run->phases[i].name, name))
			return true;
	return false;
}

static int set_selection(dv_comparison *cmp, const char *const *names, size_t n, dv_error *err)
{
	if (!n)
		return 0;
	if (!(cmp->selected = calloc(n, sizeof(*cmp->selected))))
		return dv_error_set(err, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (!(cmp->selected[i] = strdup(names[i])))
			return dv_error_set(err, "out of memory");
		cmp->nselected++;
	}
	return 0;
}

/* ---- progressive listing ---- */

/* What one run has listed so far: copies of its phases, in phase order. */
typedef struct listed_side {
	dv_phase *v;
	size_t n, cap;
	bool bare, done, failed, oom;
	const char *spec, *root;
} listed_side;

typedef struct progressive {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	listed_side side[2];
	unsigned changes;
	const dv_comparison_opts *opts;
} progressive;

typedef struct side_job {
	progressive *pg;
	int side;
	dv_run_opts ro;
	open_job job;
	pthread_t th;
	bool started;
} side_job;

static void side_phase_listed(void *ctx, const dv_run *run, const dv_phase *phase)
{
	side_job *j = ctx;
	progressive *pg = j->pg;
	listed_side *s = &pg->side[j->side];
	size_t n;

	pthread_mutex_lock(&pg->mu);
	if (s->n == s->cap && !s->oom) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		dv_phase *grown = realloc(s->v, cap * sizeof(*grown));

		if (grown) {
			s->v = grown;
			s->cap = cap;
		} else {
			s->oom = true;
		}
	}
	if (!s->oom)
		s->v[s->n++] = *phase;
	s->bare = run->bare;
	s->root = run->root;
	n = s->n;
	pg->changes++;
	pthread_cond_broadcast(&pg->cv);
	pthread_mutex_unlock(&pg->mu);
	/* a bare run's one phase is all of it: nothing to hold there */
	if (pg->opts->phase_listed && !run->bare)
		pg->opts->phase_listed(pg->opts->ctx, j->side, n);
}

static void *side_job_run(void *arg)
{
	side_job *j = arg;

	open_job_run(&j->job);
	pthread_mutex_lock(&j->pg->mu);
	j->pg->side[j->side].done = true;
	j->pg->side[j->side].failed = !j->job.run;
	j->pg->changes++;
	pthread_cond_broadcast(&j->pg->cv);
	pthread_mutex_unlock(&j->pg->mu);
	return NULL;
}

static void *side_job_thread(void *arg)
{
	dv_thread_background();
	return side_job_run(arg);
}

/* Phase order, as the runs and the pairing sort phases. */
static int phase_name_cmp(const char *x, const char *y)
{
	int rx = dv_phase_rank(x), ry = dv_phase_rank(y);

	return rx != ry ? rx - ry : strcmp(x, y);
}

/* A run holding phases [0, n) of a side: its arrays only are owned. */
static dv_run *view_run(const listed_side *s, size_t n)
{
	dv_run *r = calloc(1, sizeof(*r));

	if (!r || !(r->phases = malloc((n ? n : 1) * sizeof(*r->phases)))) {
		free(r);
		return NULL;
	}
	if (n)
		memcpy(r->phases, s->v, n * sizeof(*r->phases));
	r->nphases = n;
	r->bare = s->bare;
	r->spec = (char *)s->spec;
	r->root = (char *)s->root;
	return r;
}

static void view_run_free(dv_run *r)
{
	if (r) {
		free(r->phases);
		free(r);
	}
}

void dv_comparison_free_runs(dv_comparison *cmp)
{
	if (cmp->partial) {
		view_run_free(cmp->base);
		view_run_free(cmp->targ);
	} else {
		dv_run_free(cmp->base);
		dv_run_free(cmp->targ);
	}
	cmp->base = cmp->targ = NULL;
}

static int set_selection(dv_comparison *cmp, const char *const *names, size_t n, dv_error *err);

/* How many phases of each side (in[0], in[1]: snapshots) are final on both
 * sides: those up to the smaller of the last phases the two have listed (a
 * side listed to its end counts whole). False when nothing is. */
static bool listed_prefix(const listed_side in[2], size_t m[2])
{
	const char *upto = NULL;

	for (int k = 0; k < 2; k++) {
		if (in[k].done)
			continue;
		if (!in[k].n)
			return false;
		if (!upto || phase_name_cmp(in[k].v[in[k].n - 1].name, upto) < 0)
			upto = in[k].v[in[k].n - 1].name;
	}
	for (int k = 0; k < 2; k++) {
		m[k] = 0;
		while (m[k] < in[k].n && (!upto || phase_name_cmp(in[k].v[m[k]].name, upto) <= 0))
			m[k]++;
	}
	return m[0] + m[1] > 0;
}

/* The pairs of phases [from[k], to[k]) of each side: a comparison of its
 * own, kept by the listing (never scanned), put together with the others
 * by concat_parts, so each phase is paired once. */
static dv_comparison *pair_part(const dv_comparison_opts *opts, const listed_side in[2], const size_t from[2],
				const size_t to[2])
{
	dv_comparison *cmp = calloc(1, sizeof(*cmp));
	listed_side part[2];
	dv_error e;

	dv_error_clear(&e);
	if (!cmp)
		return NULL;
	for (int k = 0; k < 2; k++) {
		part[k] = in[k];
		part[k].v = in[k].v + from[k];
	}
	cmp->partial = true;
	cmp->base = view_run(&part[0], to[0] - from[0]);
	cmp->targ = view_run(&part[1], to[1] - from[1]);
	cmp->grouping = opts->grouping;
	if (!cmp->base || !cmp->targ || set_selection(cmp, opts->phases, opts->nphases, &e) ||
	    dv_comparison_pair(cmp, opts->filter, &e)) {
		dv_comparison_free(cmp);
		return NULL;
	}
	return cmp;
}

/* The comparison of base and targ from the parts that paired their phases
 * in order: what dv_comparison_pair makes of them, phase by phase, without
 * pairing again (each phase's context is made again, over these runs). */
static dv_comparison *concat_parts(const dv_comparison_opts *opts, dv_comparison *const *parts, size_t nparts,
				   dv_run *base, dv_run *targ, bool partial, dv_error *err)
{
	dv_comparison *cmp = calloc(1, sizeof(*cmp));
	size_t nph = 0, npairs = 0, nfiles = 0, P = 0, at = 0, fat = 0;

	if (!cmp) {
		dv_error_set(err, "out of memory");
		return NULL;
	}
	cmp->partial = partial;
	cmp->base = base;
	cmp->targ = targ;
	cmp->grouping = opts->grouping;
	dv_comparison_set_threshold(cmp, opts->threshold);
	for (size_t d = 0; d < nparts; d++) {
		nph += parts[d]->nphases;
		npairs += parts[d]->npairs;
		for (size_t i = 0; i < parts[d]->npairs; i++)
			if (parts[d]->pairs[i].files)
				nfiles += parts[d]->pairs[i].nbase + parts[d]->pairs[i].ntarg;
	}
	if (set_selection(cmp, opts->phases, opts->nphases, err))
		goto fail;
	cmp->phases = calloc(nph ? nph : 1, sizeof(*cmp->phases));
	cmp->pairs = malloc((npairs ? npairs : 1) * sizeof(*cmp->pairs));
	cmp->pair_files = malloc((nfiles ? nfiles : 1) * sizeof(*cmp->pair_files));
	if (!cmp->phases || !cmp->pairs || !cmp->pair_files)
		goto oom;
	for (size_t d = 0; d < nparts; d++) {
		const dv_comparison *pt = parts[d];
		size_t pfiles = 0;

		for (size_t k = 0; k < pt->nphases; k++) {
			dv_phase_pairs *pp = &cmp->phases[P + k];
			dv_logical_ctx *lctx = calloc(1, sizeof(*lctx));

			if (!lctx || !(pp->name = strdup(pt->phases[k].name))) {
				free(lctx);
				goto oom;
			}
			cmp->nphases++;
			dv_logical_ctx_init(lctx, cmp->grouping, dv_comparison_find_phase(cmp, base, pp->name),
					    dv_comparison_find_phase(cmp, targ, pp->name));
			pp->lctx = lctx;
			pp->in_base = pt->phases[k].in_base;
			pp->in_targ = pt->phases[k].in_targ;
			pp->folders_ignored = pt->phases[k].folders_ignored;
			pp->first = pt->phases[k].first + at;
			pp->count = pt->phases[k].count;
		}
		for (size_t i = 0; i < pt->npairs; i++)
			if (pt->pairs[i].files)
				pfiles += pt->pairs[i].nbase + pt->pairs[i].ntarg;
		if (pfiles)
			memcpy(cmp->pair_files + fat, pt->pair_files, pfiles * sizeof(*cmp->pair_files));
		for (size_t i = 0; i < pt->npairs; i++) {
			const dv_pair *from = &pt->pairs[i];
			dv_pair *q = &cmp->pairs[at + i];

			memcpy(q, from, sizeof(*q));
			q->phase = from->phase + P;
			q->files = from->files ? cmp->pair_files + fat + (from->files - pt->pair_files) : NULL;
			q->lctx = cmp->phases[q->phase].lctx;
			q->logical = NULL;
			q->result = (dv_pair_result *)&dv_pair_result_none;
			atomic_init(&q->state, q->kind == DV_PAIR_MATCHED ? DV_PAIR_PENDING : DV_PAIR_DONE);
		}
		P += pt->nphases;
		at += pt->npairs;
		fat += pfiles;
	}
	cmp->npairs = npairs;
	dv_comparison_recount(cmp);
	return cmp;
oom:
	dv_error_set(err, "pairing %s with %s: out of memory", base->root, targ->root);
fail:
	cmp->base = cmp->targ = NULL;   /* not the parts' to free */
	dv_comparison_free(cmp);
	return NULL;
}

/* Renames the target's phases [from, to) of snapshot s by the name map. */
static int map_phases(const dv_comparison_opts *opts, const listed_side *s, size_t from, size_t to, dv_error *err)
{
	dv_run r = { .phases = s->v + from, .nphases = to - from };

	return dv_name_map_run(opts->name_map, &r, opts->layer_regex, NULL, err);
}

/* Lists both runs at once, each in phase order, handing opts->partial a
 * comparison of what both have listed whenever that grows; each phase is
 * paired once, as both sides have listed it (a part), the comparisons put
 * together from the parts. The runs end in bj and tj as
 * dv_comparison_open_run leaves them; *whole (NULL when the parts do not
 * cover both runs: the caller pairs them) the comparison of them, from the
 * parts. With a name map, the target's files are renamed here as their
 * phases are listed: *mapped gets the target phases renamed (their files),
 * *map_failed and map_err the first failure, reported by the caller where a
 * plain open would. */
static void open_progressively(const dv_comparison_opts *opts, const dv_run_opts *ro, open_job *bj, open_job *tj,
			       dv_comparison **whole, dv_phase **mapped, size_t *nmapped, bool *map_failed,
			       dv_error *map_err, bool *handed)
{
	progressive pg = { .opts = opts };
	side_job sj[2];
	listed_side snap[2];
	size_t used[2] = {0, 0}, done_map = 0, nparts = 0;
	dv_comparison **parts = NULL;
	unsigned seen = 0;
	bool give_up = false, covered = false;

	*whole = NULL;
	pthread_mutex_init(&pg.mu, NULL);
	pthread_cond_init(&pg.cv, NULL);
	memset(snap, 0, sizeof(snap));
	for (int k = 0; k < 2; k++) {
		sj[k] = (side_job){ .pg = &pg, .side = k, .ro = *ro, .job = *(k ? tj : bj) };
		sj[k].ro.phase_listed = side_phase_listed;
		sj[k].ro.phase_ctx = &sj[k];
		sj[k].job.opts = &sj[k].ro;
		pg.side[k].spec = sj[k].job.spec;
	}
	for (int k = 0; k < 2; k++) {
		sj[k].started = pthread_create(&sj[k].th, NULL, side_job_thread, &sj[k]) == 0;
		if (!sj[k].started)
			side_job_run(&sj[k]);
	}
	for (;;) {
		bool all_done;
		size_t m[2];

		pthread_mutex_lock(&pg.mu);
		while (pg.changes == seen)
			pthread_cond_wait(&pg.cv, &pg.mu);
		seen = pg.changes;
		all_done = pg.side[0].done && pg.side[1].done;
		for (int k = 0; k < 2 && !give_up; k++) {
			listed_side *s = &snap[k];
			dv_phase *v = realloc(s->v, (pg.side[k].n ? pg.side[k].n : 1) * sizeof(*v));

			if (!v) {
				give_up = true;
				break;
			}
			*s = pg.side[k];
			s->v = v;
			if (s->n)
				memcpy(s->v, pg.side[k].v, s->n * sizeof(*s->v));
			give_up |= s->oom || s->failed;
		}
		pthread_mutex_unlock(&pg.mu);
		/* two bare runs are one phase each, paired whatever their names:
		 * the caller pairs them */
		give_up |= snap[0].bare && snap[1].bare;
		if (give_up) {
			if (all_done)
				break;
			continue;
		}
		/* a name map renames what the pairing sees: before any pairing */
		if (opts->name_map && done_map < snap[1].n) {
			if (map_phases(opts, &snap[1], done_map, snap[1].n, map_err)) {
				*map_failed = true;
				give_up = true;
				if (all_done)
					break;
				continue;
			}
			done_map = snap[1].n;
		}
		if (listed_prefix(snap, m) && m[0] + m[1] > used[0] + used[1]) {
			dv_comparison *part = pair_part(opts, snap, used, m), **grown;

			grown = part ? realloc(parts, (nparts + 1) * sizeof(*parts)) : NULL;
			if (!grown) {
				dv_comparison_free(part);
				give_up = true;
				if (all_done)
					break;
				continue;
			}
			parts = grown;
			parts[nparts++] = part;
			used[0] = m[0];
			used[1] = m[1];
			if (!all_done) {
				dv_run *vb = view_run(&snap[0], m[0]), *vt = view_run(&snap[1], m[1]);
				dv_comparison *shown = NULL;
				dv_error e;

				if (vb && vt)
					shown = concat_parts(opts, parts, nparts, vb, vt, true, &e);
				if (shown) {
					*handed = true;
					opts->partial(opts->ctx, shown);
				} else {
					view_run_free(vb);
					view_run_free(vt);
				}
			}
		}
		if (all_done) {
			covered = used[0] == snap[0].n && used[1] == snap[1].n;
			break;
		}
	}
	for (int k = 0; k < 2; k++)
		if (sj[k].started)
			pthread_join(sj[k].th, NULL);
	bj->run = sj[0].job.run;
	bj->err = sj[0].job.err;
	tj->run = sj[1].job.run;
	tj->err = sj[1].job.err;
	if (covered && !give_up && bj->run && tj->run) {
		dv_error e;

		*whole = concat_parts(opts, parts, nparts, bj->run, tj->run, false, &e);
	}
	for (size_t d = 0; d < nparts; d++)
		dv_comparison_free(parts[d]);
	free(parts);
	/* the target phases renamed, by their files (run->phases is sorted again at the end) */
	*nmapped = done_map;
	*mapped = done_map ? snap[1].v : NULL;
	if (!done_map)
		free(snap[1].v);
	free(snap[0].v);
	for (int k = 0; k < 2; k++)
		free(pg.side[k].v);
	pthread_cond_destroy(&pg.cv);
	pthread_mutex_destroy(&pg.mu);
}

/* Renames the target's files by the name map, but for the phases renamed
 * already (mapped: their files). */
static int map_rest(const dv_comparison_opts *opts, dv_run *targ, const dv_phase *mapped, size_t nmapped,
		    dv_error *err)
{
	for (size_t i = 0; i < targ->nphases; i++) {
		bool done = false;

		for (size_t k = 0; k < nmapped && !done; k++)
			done = mapped[k].files == targ->phases[i].files;
		if (!done) {
			dv_run r = { .phases = &targ->phases[i], .nphases = 1 };

			if (dv_name_map_run(opts->name_map, &r, opts->layer_regex, NULL, err) < 0)
				return -1;
		}
	}
	return 0;
}

/* Counts moved between two phases' contexts, added at once: one atomic
 * update a phase rather than a pair (the swap runs between two frames). */
typedef struct adopt_tally {
	dv_logical_ctx *lc;
	size_t done, cancelled, mismatches;
} adopt_tally;

static void adopt_flush(adopt_tally *t, bool add)
{
	if (t->lc) {
		if (add) {
			atomic_fetch_add(&t->lc->done, t->done);
			atomic_fetch_add(&t->lc->cancelled, t->cancelled);
			atomic_fetch_add(&t->lc->replica_mismatches, t->mismatches);
		} else {
			atomic_fetch_sub(&t->lc->done, t->done);
			atomic_fetch_sub(&t->lc->cancelled, t->cancelled);
			atomic_fetch_sub(&t->lc->replica_mismatches, t->mismatches);
		}
	}
	memset(t, 0, sizeof(*t));
}

static void adopt_count(adopt_tally *t, const dv_pair *p, int state, bool add)
{
	if ((dv_logical_ctx *)p->lctx != t->lc) {
		adopt_flush(t, add);
		t->lc = (dv_logical_ctx *)p->lctx;
	}
	t->done += state == DV_PAIR_DONE;
	t->cancelled += state == DV_PAIR_CANCELLED;
	t->mismatches += dv_pair_replica_mismatch(p);
}

/* What the first divergence found in from's chunks [0, nc), valid there
 * now, is to's (the same pairs, results and pass rule). */
static void adopt_chunks(dv_comparison *to, const dv_comparison *from, size_t nc)
{
	unsigned freset = atomic_load(&from->fd_reset), treset = atomic_load(&to->fd_reset);

	for (size_t c = 0; c < nc && c < from->nchunks && c < to->nchunks; c++) {
		const dv_fd_chunk *fs = &from->fd_chunks[c];
		dv_fd_chunk *ts = &to->fd_chunks[c];

		if (!fs->valid || fs->gen != atomic_load(&from->chunk_gen[c]) || fs->reset != freset ||
		    (!fs->ruleless && fs->epoch != from->rule_epoch))
			continue;
		*ts = *fs;
		ts->gen = atomic_load(&to->chunk_gen[c]);
		ts->reset = treset;
		ts->epoch = to->rule_epoch;
	}
}

size_t dv_comparison_adopt(dv_comparison *to, dv_comparison *from)
{
	size_t n = to->npairs < from->npairs ? to->npairs : from->npairs, moved = 0;
	size_t name_tp = SIZE_MAX, name_fp = SIZE_MAX, bumped = SIZE_MAX;
	bool name_same = false, all_same = true;
	adopt_tally tt = {0}, ft = {0};

	/* One pass, the pairs not finished costing a load each: a swap moves
	 * 300 k pairs between two frames of the explorer. */
	for (size_t i = 0; i < n; i++) {
		/* a chunk whose pairs never changed state holds nothing finished:
		 * passed over (at a swap most pairs are pending still) */
		if (from->chunk_gen && i % DV_CHUNK_PAIRS == 0 && !atomic_load(&from->chunk_gen[i / DV_CHUNK_PAIRS])) {
			i += DV_CHUNK_PAIRS - 1;
			continue;
		}
		dv_pair *t = &to->pairs[i], *f = &from->pairs[i];
		int state = atomic_load(&f->state);

		if (f->kind != DV_PAIR_MATCHED || (state != DV_PAIR_DONE && state != DV_PAIR_CANCELLED))
			continue;
		/* the phase names compared once a phase, not once a pair */
		if (t->phase != name_tp || f->phase != name_fp) {
			name_tp = t->phase;
			name_fp = f->phase;
			name_same = !strcmp(to->phases[t->phase].name, from->phases[f->phase].name);
		}
		/* the first file of each side stands for the rest: read from the
		 * pair itself, not from two more arrays (a cache miss each) */
		bool same = name_same && t->kind == f->kind && t->phase == f->phase && t->nbase == f->nbase &&
			    t->ntarg == f->ntarg && t->base == f->base && t->targ == f->targ;

		/* a smart alignment's results point into their phase's context */
		if (!same || from->phases[f->phase].lctx->ta || atomic_load(&t->state) != DV_PAIR_PENDING) {
			all_same = false;
			continue;
		}
		adopt_count(&ft, f, state, false);
		dv_pair_result_release(t);
		t->result = f->result;
		f->result = (dv_pair_result *)&dv_pair_result_none;
		dv_logical_result_free(t->logical);
		t->logical = f->logical;
		f->logical = NULL;
		/* nothing else reads them now (no scan, no job): published by
		 * whatever hands to over */
		atomic_store_explicit(&t->state, state, memory_order_relaxed);
		atomic_store_explicit(&f->state, DV_PAIR_PENDING, memory_order_relaxed);
		adopt_count(&tt, t, state, true);
		/* what the first divergence kept of to's chunk is stale: a
		 * bump a chunk, not a pair */
		if (to->chunk_gen && i / DV_CHUNK_PAIRS != bumped) {
			bumped = i / DV_CHUNK_PAIRS;
			atomic_fetch_add(&to->chunk_gen[bumped], 1);
		}
		moved++;
	}
	adopt_flush(&tt, true);
	adopt_flush(&ft, false);
	/* from's finished prefix is pending again; to's, when every finished
	 * pair came over and both judge alike, is from's (no walk from 0) */
	unsigned fe = atomic_load(&from->fd_epoch);
	bool judge_alike = to->rules == from->rules && to->has_threshold == from->has_threshold &&
			   (!to->has_threshold || to->threshold == from->threshold ||
			    (isnan(to->threshold) && isnan(from->threshold)));
	size_t fpos = atomic_load(&from->fd_pos);
	/* the unmatched pairs before it too: the phases laid out alike */
	for (size_t k = 0; all_same && k < from->nphases; k++)
		all_same = k < to->nphases && to->phases[k].first == from->phases[k].first &&
			   to->phases[k].count == from->phases[k].count &&
			   !strcmp(to->phases[k].name, from->phases[k].name);
	if (all_same && judge_alike && fe == from->rule_epoch + 1 && fpos <= n) {
		atomic_store(&to->fd_pos, fpos);
		atomic_store(&to->fd_epoch, to->rule_epoch + 1);
	} else {
		atomic_store(&to->fd_epoch, 0);
	}
	/* and what it found in each whole chunk of from's: so the first walk
	 * after a swap reads the chunks the results came to, not 300 k pairs */
	if (all_same && judge_alike && to->fd_chunks && from->fd_chunks)
		adopt_chunks(to, from, n / DV_CHUNK_PAIRS);
	atomic_store(&from->fd_epoch, 0);
	atomic_fetch_add(&from->fd_reset, 1);
	return moved;
}

dv_comparison *dv_comparison_open(const dv_comparison_opts *opts, dv_open_failure *why, dv_error *err)
{
	dv_run_opts ro = {
		.base_dir = dv_base_dir(),
		.layer_regex = opts->layer_regex,
		.listed = opts->listed,
		.follow_symlinks = opts->follow_symlinks,
	};
	open_job bj = { .spec = opts->baseline, .opts = &ro }, tj = { .spec = opts->target, .opts = &ro };
	dv_comparison *cmp = NULL;
	pthread_t th;
	bool threaded = false, progressive = false, map_failed = false, handed = false;
	dv_open_failure fail = DV_OPEN_RUN;
	dv_phase *mapped = NULL;
	size_t nmapped = 0;
	dv_error map_err;
	dv_comparison *whole = NULL;

	dv_error_clear(&bj.err);
	dv_error_clear(&tj.err);
	dv_error_clear(&map_err);
	progressive = opts->partial && !(opts->grouping && opts->grouping->token_aligner == DV_TOKEN_ALIGNER_SMART);
	if (progressive) {
		open_progressively(opts, &ro, &bj, &tj, &whole, &mapped, &nmapped, &map_failed, &map_err, &handed);
	} else {
		if (opts->parallel_open)
			threaded = pthread_create(&th, NULL, open_job_thread, &bj) == 0;
		if (!threaded) {
			open_job_run(&bj);
			if (bj.run && opts->baseline_listed)
				opts->baseline_listed(opts->ctx);
		}
		/* One at a time, the target is not listed when the baseline fails. */
		if (threaded || bj.run)
			open_job_run(&tj);
		if (threaded)
			pthread_join(th, NULL);
	}
	if (!bj.run || !tj.run) {
		*err = !bj.run ? bj.err : tj.err;
		goto fail;
	}
	give_back_freed();
	fail = DV_OPEN_PHASE;
	for (size_t i = 0; i < opts->nphases; i++) {
		if (!run_has_phase(bj.run, opts->phases[i]) && !run_has_phase(tj.run, opts->phases[i])) {
			dv_error_set(err, "--phase %s: no such phase in %s or %s", opts->phases[i], bj.run->root,
				     tj.run->root);
			goto fail;
		}
	}
	fail = DV_OPEN_PAIRING;
	/* Target names are renamed before anything keys on them: pairing,
	 * logical tensors, layers, rules all see the mapped names. */
	if (map_failed) {
		*err = map_err;
		goto fail;
	}
	/* every phase listed, renamed and paired as it was: put together */
	if (whole) {
		free(mapped);
		give_back_freed();
		if (why)
			*why = DV_OPEN_OK;
		return whole;
	}
	if (opts->name_map && progressive && map_rest(opts, tj.run, mapped, nmapped, err) < 0)
		goto fail;
	if (opts->name_map && !progressive && dv_name_map_run(opts->name_map, tj.run, opts->layer_regex, NULL, err) < 0)
		goto fail;
	if (!(cmp = calloc(1, sizeof(*cmp)))) {
		dv_error_set(err, "out of memory");
		goto fail;
	}
	cmp->base = bj.run;
	cmp->targ = tj.run;
	cmp->grouping = opts->grouping;
	dv_comparison_set_threshold(cmp, opts->threshold);
	if (set_selection(cmp, opts->phases, opts->nphases, err) || dv_comparison_pair(cmp, opts->filter, err))
		goto fail;
	free(mapped);
	give_back_freed();
	if (why)
		*why = DV_OPEN_OK;
	return cmp;
fail:
	free(mapped);
	/* the partial comparisons handed over point into the runs: gone first */
	if (handed)
		opts->partial(opts->ctx, NULL);
	if (cmp || whole) {
		dv_comparison_free(cmp ? cmp : whole);   /* frees the runs too */
	} else {
		dv_run_free(bj.run);
		dv_run_free(tj.run);
	}
	if (why)
		*why = fail;
	return NULL;
}

bool dv_comparison_phase_selected(const dv_comparison *cmp, const char *phase_name)
{
	if (!cmp->nselected)
		return true;
	for (size_t i = 0; i < cmp->nselected; i++)
		if (!strcmp(cmp->selected[i], phase_name))
			return true;
	return false;
}

void dv_comparison_set_pass_rule(dv_comparison *cmp, dv_pass_fn fn, void *ctx)
{
	cmp->pass_fn = fn;
	cmp->pass_ctx = ctx;
	cmp->rule_epoch++;
}

void dv_comparison_set_threshold(dv_comparison *cmp, double threshold)
{
	cmp->threshold = threshold;
	cmp->has_threshold = true;
	cmp->rule_epoch++;
}

double dv_comparison_threshold(const dv_comparison *cmp)
{
	return cmp->has_threshold ? cmp->threshold : NAN;
}

int dv_comparison_set_rules(dv_comparison *cmp, const dv_rules *rules, dv_error *err)
{
	uint32_t *of = NULL;

	if (rules) {
		size_t n = dv_rules_count(rules);

		if (n >= DV_NO_RULE)
			return dv_error_set(err, "too many rules");
		if (!(of = malloc((cmp->npairs ? cmp->npairs : 1) * sizeof(*of))))
			return dv_error_set(err, "out of memory");
		for (size_t i = 0; i < cmp->npairs; i++) {
			const dv_rule *rule = cmp->pairs[i].kind == DV_PAIR_MATCHED ?
					      dv_rules_match(rules, cmp->pairs[i].name) : NULL;

			of[i] = DV_NO_RULE;
			/* Rules are few: a linear search for the index beats keeping a map. */
			for (size_t k = 0; rule && k < n; k++)
				if (dv_rules_get(rules, k) == rule)
					of[i] = (uint32_t)k;
		}
	}
	free(cmp->rule_of);
	cmp->rule_of = of;
	cmp->rules = rules;
	cmp->rule_epoch++;
	return 0;
}

const dv_rules *dv_comparison_rules(const dv_comparison *cmp)
{
	return cmp->rules;
}

size_t dv_comparison_rule_index(const dv_comparison *cmp, size_t pair_index)
{
	if (!cmp->rules || cmp->rule_of[pair_index] == DV_NO_RULE)
		return (size_t)-1;
	return cmp->rule_of[pair_index];
}

const dv_rule *dv_comparison_rule(const dv_comparison *cmp, size_t pair_index)
{
	size_t k = dv_comparison_rule_index(cmp, pair_index);

	return k == (size_t)-1 ? NULL : dv_rules_get(cmp->rules, k);
}

/* The verdict kept of a retired pair, else NULL. */
static const dv_pair_verdict *retired_of(const dv_comparison *cmp, const dv_pair *p)
{
	const dv_pair_verdict *rv;

	if (!cmp || !cmp->retired)
		return NULL;
	rv = &cmp->retired[p - cmp->pairs];
	return rv->retired ? rv : NULL;
}

/* A computed tensor (metrics or a shape mismatch) whose name no rule matches. */
static bool pair_no_rule(const dv_comparison *cmp, const dv_pair *p)
{
	int status = p->result->status;

	/* a retired pair had a rule (PASS or FAIL): never one without */
	if (retired_of(cmp, p))
		return false;
	return cmp && cmp->rules && p->kind == DV_PAIR_MATCHED && atomic_load(&p->state) == DV_PAIR_DONE &&
	       (status == DV_RESULT_COMPARED || status == DV_RESULT_SHAPE_MISMATCH) &&
	       cmp->rule_of[p - cmp->pairs] == DV_NO_RULE;
}

bool dv_comparison_no_rule(const dv_comparison *cmp, size_t pair_index)
{
	return pair_no_rule(cmp, &cmp->pairs[pair_index]);
}

/* The one verdict. Without a comparison, or before it has a threshold, a
 * computed pair passes by the decision made when it was computed; threshold
 * (optional) stands in for the comparison's. */
static dv_outcome judge_metrics(const dv_comparison *cmp, const dv_pair *p, const double *threshold,
				bool *values_equal)
{
	const dv_pair_result *r = p->result;
	const dv_pair_verdict *rv;
	int state;
	bool passes;

	if (values_equal)
		*values_equal = false;
	if (p->kind != DV_PAIR_MATCHED)
		return DV_OUTCOME_UNMATCHED;
	state = atomic_load(&p->state);
	if (state == DV_PAIR_CANCELLED)
		return DV_OUTCOME_CANCELLED;
	if (state != DV_PAIR_DONE)
		return DV_OUTCOME_PENDING;
	if ((rv = retired_of(cmp, p)))
		return (dv_outcome)rv->outcome;
	if (pair_no_rule(cmp, p))
		return DV_OUTCOME_ERROR;
	switch (r->status) {
	case DV_RESULT_COMPARED:
		if (cmp && cmp->rules) {
			dv_rule_inputs in;
			const dv_rule *rule = dv_rules_get(cmp->rules, cmp->rule_of[p - cmp->pairs]);

			passes = dv_rule_inputs_from_result(r, &in) && dv_rule_passes(rule, &in);
		} else if (cmp && cmp->pass_fn)
			passes = cmp->pass_fn(cmp, (size_t)(p - cmp->pairs), r, cmp->pass_ctx);
		else if (threshold)
			passes = dv_result_passes(r, *threshold);
		else if (cmp && cmp->has_threshold)
			passes = dv_result_passes(r, cmp->threshold);
		else
			passes = r->passed;
		return passes ? DV_OUTCOME_PASS : DV_OUTCOME_FAIL;
	case DV_RESULT_SHAPE_MISMATCH:
		return DV_OUTCOME_FAIL;
	case DV_RESULT_ERROR:
		return DV_OUTCOME_ERROR;
	case DV_RESULT_NON_TENSOR:
		/* As the comparator: non-tensor values are reported, never a failure. */
		if (values_equal)
			*values_equal = r->equal;
		return DV_OUTCOME_SKIPPED;
	case DV_RESULT_SKIPPED:
		return DV_OUTCOME_SKIPPED;
	case DV_RESULT_CANCELLED:
	case DV_RESULT_NONE:
	default:
		return DV_OUTCOME_NONE;
	}
}

bool dv_pair_replica_mismatch(const dv_pair *p)
{
	return p->kind == DV_PAIR_MATCHED && atomic_load(&p->state) == DV_PAIR_DONE && p->logical &&
	       p->logical->replica_mismatch;
}

/* The verdict: the metrics', then a failed replicated check fails a pair
 * its metrics pass (the reference's category "failed"). */
static dv_outcome judge(const dv_comparison *cmp, const dv_pair *p, const double *threshold, bool *values_equal)
{
	dv_outcome v = judge_metrics(cmp, p, threshold, values_equal);

	return v == DV_OUTCOME_PASS && dv_pair_replica_mismatch(p) ? DV_OUTCOME_FAIL : v;
}

dv_outcome dv_comparison_metrics_verdict(const dv_comparison *cmp, size_t pair_index)
{
	return judge_metrics(cmp, &cmp->pairs[pair_index], NULL, NULL);
}

ptrdiff_t dv_first_replica_mismatch(const dv_comparison *cmp)
{
	for (size_t i = 0; i < cmp->npairs; i++)
		if (dv_pair_replica_mismatch(&cmp->pairs[i]))
			return (ptrdiff_t)i;
	return -1;
}

dv_outcome dv_comparison_verdict(const dv_comparison *cmp, size_t pair_index, bool *values_equal)
{
	return judge(cmp, &cmp->pairs[pair_index], NULL, values_equal);
}

dv_outcome dv_comparison_verdict_at(const dv_comparison *cmp, size_t pair_index, double threshold,
				    bool *values_equal)
{
	return judge(cmp, &cmp->pairs[pair_index], &threshold, values_equal);
}

void dv_comparison_tally_rules(const dv_comparison *cmp, size_t *judged, size_t *failed, size_t *unmatched)
{
	size_t n = cmp->rules ? dv_rules_count(cmp->rules) : 0;

	for (size_t k = 0; k < n; k++)
		judged[k] = failed[k] = 0;
	if (unmatched)
		*unmatched = 0;
	for (size_t i = 0; i < cmp->npairs; i++) {
		dv_outcome v = dv_comparison_verdict(cmp, i, NULL);
		size_t k = dv_comparison_rule_index(cmp, i);

		if (dv_comparison_no_rule(cmp, i)) {
			if (unmatched)
				(*unmatched)++;
		} else if (k < n && (v == DV_OUTCOME_PASS || v == DV_OUTCOME_FAIL)) {
			judged[k]++;
			failed[k] += v == DV_OUTCOME_FAIL;
		}
	}
}

bool dv_outcome_diverges(dv_outcome v)
{
	return v == DV_OUTCOME_FAIL || v == DV_OUTCOME_ERROR;
}

bool dv_pair_failed(const dv_pair *pair)
{
	return dv_outcome_diverges(judge(NULL, pair, NULL, NULL));
}

void dv_pair_changed(const dv_pair *p)
{
	const dv_logical_ctx *lc = p->lctx;

	if (lc && lc->chunk_gen)
		atomic_fetch_add(&lc->chunk_gen[(size_t)(p - lc->pairs) / DV_CHUNK_PAIRS], 1);
}

/* Chunk counts for a comparison made by the pairing (every phase has its
 * logical context, through which the compute path bumps them); a
 * comparison whose pairs were made by hand keeps none. */
static void track_chunks(dv_comparison *cmp)
{
	size_t n = (cmp->npairs + DV_CHUNK_PAIRS - 1) / DV_CHUNK_PAIRS;

	if (cmp->chunk_gen || !n || !cmp->nphases)
		return;
	for (size_t k = 0; k < cmp->nphases; k++)
		if (!cmp->phases[k].lctx)
			return;
	cmp->chunk_gen = calloc(n, sizeof(*cmp->chunk_gen));
	cmp->fd_chunks = calloc(n, sizeof(*cmp->fd_chunks));
	if (!cmp->chunk_gen || !cmp->fd_chunks) {
		free((void *)cmp->chunk_gen);
		free(cmp->fd_chunks);
		cmp->chunk_gen = NULL;
		cmp->fd_chunks = NULL;
		return;
	}
	cmp->nchunks = n;
	for (size_t k = 0; k < cmp->nphases; k++) {
		cmp->phases[k].lctx->chunk_gen = cmp->chunk_gen;
		cmp->phases[k].lctx->pairs = cmp->pairs;
	}
}

void dv_comparison_free_chunks(dv_comparison *cmp)
{
	free((void *)cmp->chunk_gen);
	free(cmp->fd_chunks);
	cmp->chunk_gen = NULL;
	cmp->fd_chunks = NULL;
	cmp->nchunks = 0;
}

bool dv_comparison_chunk_key(const dv_comparison *cmp, size_t chunk, uint64_t *key)
{
	if (!cmp->chunk_gen || chunk >= cmp->nchunks)
		return false;
	*key = (uint64_t)atomic_load(&cmp->fd_reset) << 32 | atomic_load(&cmp->chunk_gen[chunk]);
	return true;
}

/* A verdict that may still change without the pass rule changing. */
static bool fd_unfinal(dv_outcome v)
{
	return v == DV_OUTCOME_PENDING || v == DV_OUTCOME_CANCELLED || v == DV_OUTCOME_NONE;
}

/* Walks chunk c into s (its key read by the caller before). */
static void fd_chunk_walk(const dv_comparison *cmp, size_t c, dv_fd_chunk *s)
{
	size_t lo = c * DV_CHUNK_PAIRS, hi = lo + DV_CHUNK_PAIRS < cmp->npairs ? lo + DV_CHUNK_PAIRS : cmp->npairs;

	s->div = s->nonfinal = DV_CHUNK_PAIRS;
	s->ruleless = true;
	for (size_t i = lo; i < hi; i++) {
		/* the metrics decide: a replica mismatch has its own first */
		dv_outcome v = judge_metrics(cmp, &cmp->pairs[i], NULL, NULL);

		/* decided before any pass rule is looked at */
		if (v != DV_OUTCOME_UNMATCHED && v != DV_OUTCOME_PENDING && v != DV_OUTCOME_CANCELLED)
			s->ruleless = false;
		if (dv_outcome_diverges(v)) {
			s->div = (uint16_t)(i - lo);
			break;
		}
		if (s->nonfinal == DV_CHUNK_PAIRS && fd_unfinal(v))
			s->nonfinal = (uint16_t)(i - lo);
	}
	s->valid = true;
}

/* The walk over every pair from start, for a comparison without chunks
 * (or while another thread walks them). */
static ptrdiff_t fd_walk_pairs(dv_comparison *memo, size_t start, unsigned epoch, bool *known)
{
	bool final = true;

	for (size_t i = start; i < memo->npairs; i++) {
		dv_outcome v = judge_metrics(memo, &memo->pairs[i], NULL, NULL);

		if (dv_outcome_diverges(v)) {
			if (known)
				*known = final;
			return (ptrdiff_t)i;
		}
		if (fd_unfinal(v))
			final = false;
		else if (final) {
			atomic_store(&memo->fd_pos, i + 1);
			atomic_store(&memo->fd_epoch, epoch);
		}
	}
	if (known)
		*known = final;
	return -1;
}

ptrdiff_t dv_first_divergence(const dv_comparison *cmp, bool *known)
{
	/* a memo, not state the caller sees: const is kept */
	dv_comparison *memo = (dv_comparison *)cmp;
	unsigned epoch = cmp->rule_epoch + 1, reset = atomic_load(&cmp->fd_reset);
	size_t start = atomic_load(&memo->fd_epoch) == epoch ? atomic_load(&memo->fd_pos) : 0;
	bool final = true;
	ptrdiff_t found = -1;

	/* a redraw at 300 k pairs must not walk them all: the prefix of final,
	 * passing verdicts only grows until the pass rule changes, and past it
	 * a chunk whose pairs kept their states since the last walk is read
	 * from what that walk found */
	if (!cmp->chunk_gen || atomic_exchange(&memo->fd_busy, true))
		return fd_walk_pairs(memo, start, epoch, known);
	for (size_t c = start / DV_CHUNK_PAIRS; c < cmp->nchunks; c++) {
		dv_fd_chunk *s = &memo->fd_chunks[c];
		unsigned gen = atomic_load(&cmp->chunk_gen[c]);

		if (!s->valid || s->gen != gen || s->reset != reset || (!s->ruleless && s->epoch != cmp->rule_epoch)) {
			fd_chunk_walk(cmp, c, s);
			s->gen = gen;
			s->reset = reset;
			s->epoch = cmp->rule_epoch;
		}
		if (final) {
			/* the final passing prefix ends at its first pair that
			 * diverges or may change, else runs through the chunk */
			size_t end = c * DV_CHUNK_PAIRS + (s->div < s->nonfinal ? s->div : s->nonfinal);

			atomic_store(&memo->fd_pos, end < cmp->npairs ? end : cmp->npairs);
			atomic_store(&memo->fd_epoch, epoch);
		}
		if (s->div < DV_CHUNK_PAIRS) {
			final = final && s->nonfinal > s->div;
			found = (ptrdiff_t)(c * DV_CHUNK_PAIRS + s->div);
			break;
		}
		if (s->nonfinal < DV_CHUNK_PAIRS)
			final = false;
	}
	atomic_store(&memo->fd_busy, false);
	if (known)
		*known = final;
	return found;
}

void dv_comparison_counts(const dv_comparison *cmp, dv_counts *c)
{
	bool kept = cmp->nphases > 0;

	memset(c, 0, sizeof(*c));
	for (size_t k = 0; k < cmp->nphases && kept; k++)
		kept = cmp->phases[k].lctx != NULL;
	if (kept) {
		for (size_t k = 0; k < cmp->nphases; k++) {
			const dv_logical_ctx *lc = cmp->phases[k].lctx;

			c->matched += lc->matched;
			c->done += atomic_load(&((dv_logical_ctx *)lc)->done);
			c->cancelled += atomic_load(&((dv_logical_ctx *)lc)->cancelled);
			c->replica_mismatches += atomic_load(&((dv_logical_ctx *)lc)->replica_mismatches);
		}
		return;
	}
	/* pairs made by hand: count them */
	for (size_t i = 0; i < cmp->npairs; i++) {
		const dv_pair *p = &cmp->pairs[i];
		int state = atomic_load(&p->state);

		if (p->kind != DV_PAIR_MATCHED)
			continue;
		c->matched++;
		c->done += state == DV_PAIR_DONE;
		c->cancelled += state == DV_PAIR_CANCELLED;
		c->replica_mismatches += dv_pair_replica_mismatch(p);
	}
}

void dv_comparison_recount(dv_comparison *cmp)
{
	for (size_t k = 0; k < cmp->nphases; k++) {
		dv_logical_ctx *lc = cmp->phases[k].lctx;

		if (!lc)
			continue;
		lc->matched = 0;
		atomic_store(&lc->done, 0);
		atomic_store(&lc->cancelled, 0);
		atomic_store(&lc->replica_mismatches, 0);
		for (size_t i = cmp->phases[k].first; i < cmp->phases[k].first + cmp->phases[k].count; i++) {
			const dv_pair *p = &cmp->pairs[i];
			int state = atomic_load(&p->state);

			if (p->kind != DV_PAIR_MATCHED)
				continue;
			lc->matched++;
			atomic_fetch_add(&lc->done, state == DV_PAIR_DONE);
			atomic_fetch_add(&lc->cancelled, state == DV_PAIR_CANCELLED);
			atomic_fetch_add(&lc->replica_mismatches, dv_pair_replica_mismatch(p));
		}
	}
	track_chunks(cmp);
	/* a chunk's count stays 0 only while each of its matched pairs is
	 * pending (dv_comparison_adopt passes over such chunks) */
	for (size_t i = 0; cmp->chunk_gen && i < cmp->npairs; i++) {
		int state = atomic_load(&cmp->pairs[i].state);

		if (cmp->pairs[i].kind == DV_PAIR_MATCHED && state != DV_PAIR_PENDING &&
		    !atomic_load(&cmp->chunk_gen[i / DV_CHUNK_PAIRS]))
			atomic_store(&cmp->chunk_gen[i / DV_CHUNK_PAIRS], 1);
	}
	atomic_fetch_add(&cmp->fd_reset, 1);
	atomic_store(&cmp->fd_epoch, 0);
}

/* ---- shards ---- */

#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL

/* FNV-1a over s and its terminating NUL (so "ab","c" differs from "a","bc"). */
static uint64_t fnv_str(uint64_t h, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	do {
		h ^= *p;
		h *= FNV_PRIME;
	} while (*p++);
	return h;
}

unsigned dv_pair_shard(const dv_comparison *cmp, size_t index, unsigned n)
{
	const dv_pair *p = &cmp->pairs[index];
	const dv_dumpfile *f = p->targ ? p->targ : p->base;
	uint64_t h = FNV_OFFSET;

	h = fnv_str(h, cmp->phases[p->phase].name);
	h = fnv_str(h, p->name);
	if (f) {
		size_t sl;
		const unsigned char *stem = (const unsigned char *)dv_dumpfile_stem(f, &sl);

		/* as fnv_str over the stem as a string */
		for (size_t i = 0; i < sl; i++) {
			h ^= stem[i];
			h *= FNV_PRIME;
		}
		h *= FNV_PRIME;   /* its NUL */
	} else {
		h = fnv_str(h, NULL);
	}
	/* the high bits: FNV's low bits mix poorly */
	return n ? (unsigned)((h >> 16) % n) + 1 : 1;
}

int dv_comparison_set_shard(dv_comparison *cmp, unsigned k, unsigned n, dv_error *err)
{
	if (!n || !k || k > n)
		return dv_error_set(err, "shard %u/%u: K must be 1..N", k, n);
	free(cmp->out_of_shard);
	if (!(cmp->out_of_shard = calloc(cmp->npairs ? cmp->npairs : 1, 1)))
		return dv_error_set(err, "out of memory");
	cmp->shard_k = k;
	cmp->shard_n = n;
	for (size_t i = 0; i < cmp->npairs; i++) {
		dv_pair *p = &cmp->pairs[i];

		if (dv_pair_shard(cmp, i, n) == k)
			continue;
		cmp->out_of_shard[i] = 1;
		/* as an unmatched pair: DONE from the start, nothing to compute
		 * (its result stays dv_pair_result_none: status NONE) */
		if (p->kind == DV_PAIR_MATCHED && atomic_load(&p->state) == DV_PAIR_PENDING) {
			atomic_store(&p->state, DV_PAIR_DONE);
			if (cmp->chunk_gen)
				atomic_fetch_add(&cmp->chunk_gen[i / DV_CHUNK_PAIRS], 1);
		}
	}
	/* states changed here: the first divergence looks again */
	atomic_fetch_add(&cmp->fd_reset, 1);
	atomic_store(&cmp->fd_epoch, 0);
	return 0;
}

bool dv_comparison_in_shard(const dv_comparison *cmp, size_t index)
{
	return !cmp->out_of_shard || !cmp->out_of_shard[index];
}

uint64_t dv_comparison_pairing_hash(const dv_comparison *cmp)
{
	uint64_t h = FNV_OFFSET;
	char kind[2] = { 0, 0 };

	for (size_t i = 0; i < cmp->npairs; i++) {
		const dv_pair *p = &cmp->pairs[i];

		kind[0] = (char)('0' + p->kind);
		h = fnv_str(h, cmp->phases[p->phase].name);
		h = fnv_str(h, kind);
		h = fnv_str(h, p->name);
		for (int side = 0; side < 2; side++) {
			size_t nf;
			const dv_dumpfile *const *f = dv_pair_files(p, side, &nf);

			for (size_t j = 0; j < nf; j++)
				h = fnv_str(h, dv_dumpfile_relpath(f[j]));
			h = fnv_str(h, "|");
		}
	}
	return h;
}

const char *dv_comparison_message(const dv_comparison *cmp, size_t pair_index)
{
	const dv_pair_result *res = cmp->pairs[pair_index].result;

	if (pair_no_rule(cmp, &cmp->pairs[pair_index]))
		return DV_NO_RULE_MESSAGE;
	/* what its result said: COMPARED, no error text */
	if (retired_of(cmp, &cmp->pairs[pair_index]))
		return "shape mismatch";
	if (res->error[0])
		return res->error;
	return res->status == DV_RESULT_CANCELLED ? "cancelled" :
	       res->status == DV_RESULT_NONE ? "not computed" : "shape mismatch";
}

bool dv_comparison_retire(dv_comparison *cmp, size_t pair_index)
{
	dv_pair *p = &cmp->pairs[pair_index];
	const dv_pair_result *r = p->result;
	dv_pair_verdict *rv;
	dv_outcome v;

	if (p->kind != DV_PAIR_MATCHED || atomic_load(&p->state) != DV_PAIR_DONE ||
	    r->status != DV_RESULT_COMPARED || dv_pair_replica_mismatch(p) || retired_of(cmp, p))
		return false;
	v = judge_metrics(cmp, p, NULL, NULL);
	if (v != DV_OUTCOME_PASS && v != DV_OUTCOME_FAIL)
		return false;
	/* the first divergence's numbers are quoted by the summary */
	if (v == DV_OUTCOME_FAIL && (!cmp->retire_kept_any || pair_index < cmp->retire_kept)) {
		cmp->retire_kept = pair_index;
		cmp->retire_kept_any = true;
		return false;
	}
	if (dv_dtype_is_integer(r->base.dtype) && dv_dtype_is_integer(r->targ.dtype))
		return false;
	if (!cmp->retired && !(cmp->retired = calloc(cmp->npairs, sizeof(*cmp->retired))))
		return false;
	rv = &cmp->retired[pair_index];
	rv->outcome = (unsigned char)v;
	rv->retired = true;
	dv_logical_result_free(p->logical);
	p->logical = NULL;
	dv_pair_result_release(p);
	return true;
}

/* Whether a name fully matches an allow pattern. One too expensive to match
 * does not allow: the gate fails closed. */
static bool allowed(const pcre2_code *re, const char *name)
{
	return dv_regex_test(re, name ? name : "") == DV_REGEX_MATCH;
}

int dv_comparison_gate(const dv_comparison *cmp, const pcre2_code *allow_failed, const pcre2_code *allow_skipped,
		       dv_gate *g)
{
	char **w = NULL;

	memset(g, 0, sizeof(*g));
	for (size_t i = 0; i < cmp->npairs; i++) {
		const char *name = cmp->pairs[i].name;

		if (!dv_comparison_in_shard(cmp, i))
			continue;

		switch (dv_comparison_verdict(cmp, i, NULL)) {
		case DV_OUTCOME_PASS:
			g->passed++;
			break;
		case DV_OUTCOME_ERROR:
			g->errored++;
			break;
		case DV_OUTCOME_FAIL:
			g->failed++;
			if ((!allow_failed || !allowed(allow_failed, name)) && !g->failed_not_allowed++)
			{
				g->first_failed = name;
				g->first_failed_index = i;
			}
			break;
		default:
			g->skipped++;
			if (allow_skipped && !allowed(allow_skipped, name) && !g->skipped_not_allowed++)
			{
				g->first_skipped = name;
				g->first_skipped_index = i;
			}
			break;
		}
	}
	g->warnings = dv_comparison_warnings(cmp, &w);
	dv_warnings_free(w, g->warnings);
	g->status = !g->passed || g->errored || g->warnings || g->failed_not_allowed || g->skipped_not_allowed;
	return g->status;
}

int dv_comparison_exit_status(const dv_comparison *cmp, const pcre2_code *allow_failed,
			      const pcre2_code *allow_skipped, char *reason, size_t size)
{
	dv_gate g;

	dv_comparison_gate(cmp, allow_failed, allow_skipped, &g);
	if (!reason || !size)
		return g.status;
	/* The first reason in the order of the checks; "no tensor pair
	 * passed" says most when nothing failed or errored either. */
	if (!g.passed && !g.failed && !g.errored)
		snprintf(reason, size, "no tensor pair passed");
	else if (g.errored)
		snprintf(reason, size, "%zu errored", g.errored);
	else if (g.failed_not_allowed && allow_failed)
		snprintf(reason, size, "%zu failed not allowed by --allow-failed-pattern, the first '%s'",
			 g.failed_not_allowed, g.first_failed ? g.first_failed : "");
	else if (g.failed_not_allowed)
		snprintf(reason, size, "%zu failed", g.failed_not_allowed);
	else if (g.skipped_not_allowed)
		snprintf(reason, size, "%zu skipped not allowed by --allow-skipped-pattern, the first '%s'",
			 g.skipped_not_allowed, g.first_skipped ? g.first_skipped : "");
	else if (g.warnings)
		snprintf(reason, size, "%zu warning%s", g.warnings, g.warnings == 1 ? "" : "s");
	else if (!g.passed)
		snprintf(reason, size, "no tensor pair passed");
	else
		snprintf(reason, size, "passed");
	return g.status;
}

dv_scan *dv_comparison_scan_start(dv_comparison *cmp, const dv_metrics_opts *opts, int nthreads, int notify_fd)
{
	if (cmp->scan)
		return NULL;
	cmp->scan = dv_scan_start(cmp, opts, nthreads, notify_fd);
	return cmp->scan;
}

dv_scan *dv_comparison_scan(const dv_comparison *cmp)
{
	return cmp->scan;
}

void dv_comparison_scan_wait(dv_comparison *cmp)
{
	if (cmp->scan)
		dv_scan_wait(cmp->scan);
}

void dv_comparison_scan_stop(dv_comparison *cmp)
{
	if (cmp->scan)
		dv_scan_stop(cmp->scan);
	cmp->scan = NULL;
}

dv_scan *dv_comparison_scan_release(dv_comparison *cmp)
{
	dv_scan *s = cmp->scan;

	dv_scan_stop_request(s);
	cmp->scan = NULL;
	return s;
}

bool dv_comparison_scan_stop_until(dv_comparison *cmp, const struct timespec *deadline)
{
	bool ended = true;

	if (cmp->scan)
		ended = dv_scan_stop_until(cmp->scan, deadline);
	cmp->scan = NULL;
	return ended;
}
