/* pw_plan.c -- the scheduler's planner (pw_plan.h): one forward walk over a run.
 *
 * The walk carries the latest checkpoint that can serve as a predecessor, so
 * planning a run is linear in its checkpoints however many are unreadable. */
#include "pw_plan.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>

/* A predecessor: not known to be unreadable, and not deleted before it was ever
 * stored (a stored checkpoint deleted since is read from its retained copy). */
static int can_be_reference(const pw_plan_ckpt *c)
{
    return c->processed ? !c->bad : c->present;
}

/* The index of the checkpoint at step, PW_PLAN_NONE when none (binary search). */
static size_t find_step(const pw_plan_ckpt *ck, size_t n, int64_t step)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ck[mid].step < step)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && ck[lo].step == step ? lo : PW_PLAN_NONE;
}

static void plan_one(const pw_plan_ckpt *ck, size_t i, size_t pred, int64_t final_step, size_t fin,
                     pw_plan_job *out)
{
    const pw_plan_ckpt *c = &ck[i];
    *out = (pw_plan_job){0, PW_WANT_NONE, PW_PLAN_NONE, PW_WANT_NONE, PW_PLAN_NONE};
    if (c->hold)
        return;
    int need_x = c->present && !c->processed;
    if (!need_x && c->bad)
        return; /* unreadable with this identity: nothing to score */
    out->need_x = need_x;
    if (c->present) {
        if (pred != PW_PLAN_NONE && (need_x || c->prev_ref != ck[pred].step || c->dirty_prev)) {
            out->prev = PW_WANT_COMPUTE;
            out->prev_index = pred;
        } else if (pred == PW_PLAN_NONE && c->prev_ref != PW_PLAN_NO_STEP) {
            out->prev = PW_WANT_CLEAR;
        }
    }
    /* Never stored while it existed: nothing to backfill. */
    int stored_or_here = c->present || c->processed;
    if (fin != PW_PLAN_NONE && c->step <= final_step && stored_or_here &&
        (need_x || c->final_ref != final_step || c->dirty_final)) {
        out->fin = PW_WANT_COMPUTE;
        out->final_index = fin;
    }
}

/* The walk; skipped (NULL: none) marks checkpoints given nothing and never a reference. */
static size_t plan_walk(const pw_plan_ckpt *ck, size_t n, int64_t final_step,
                        const unsigned char *skipped, pw_plan_job *out)
{
    size_t fin = final_step >= 0 ? find_step(ck, n, final_step) : PW_PLAN_NONE;
    size_t pred = PW_PLAN_NONE, wanted = 0;
    for (size_t i = 0; i < n; i++) {
        assert(i == 0 || ck[i - 1].step < ck[i].step);
        if (skipped && skipped[i]) {
            out[i] = (pw_plan_job){0, PW_WANT_NONE, PW_PLAN_NONE, PW_WANT_NONE, PW_PLAN_NONE};
            continue;
        }
        plan_one(ck, i, pred, final_step, fin, &out[i]);
        wanted += pw_plan_wanted(&out[i]);
        if (can_be_reference(&ck[i]))
            pred = i;
    }
    return wanted;
}

size_t pw_plan_run(const pw_plan_ckpt *ck, size_t n, int64_t final_step, pw_plan_job *out)
{
    return plan_walk(ck, n, final_step, NULL, out);
}

/* The previous reference a checkpoint's scores have, or will have once its job is in. */
static int64_t scored_ref(const pw_plan_ckpt *c)
{
    if (c->out)
        return c->out_ref;
    return c->processed && !c->bad ? c->prev_ref : PW_PLAN_NO_STEP;
}

/* skip policy: a checkpoint never stored that a later checkpoint's previous pair
 * spans (stored, or of a job out) was passed over by the live series.  One backward
 * sweep with the smallest such reference seen so far. */
static void mark_skipped(const pw_plan_ckpt *ck, size_t n, unsigned char *skipped)
{
    int64_t lowest = INT64_MAX;
    for (size_t i = n; i-- > 0;) {
        skipped[i] = !ck[i].processed && !ck[i].out && lowest < ck[i].step;
        int64_t ref = scored_ref(&ck[i]);
        if (ref != PW_PLAN_NO_STEP && ref < lowest)
            lowest = ref;
    }
}

/* Whether a job moves the run's previous series (its own row or the previous pair). */
static int wants_prev(const pw_plan_job *j)
{
    return j->need_x || j->prev != PW_WANT_NONE;
}

/* Too much backlog: the live checkpoint live is compared with the newest older
 * checkpoint that is scored or being scored, when there is one. */
static void live_skips(const pw_plan_ckpt *ck, size_t live, const unsigned char *skipped,
                       pw_plan_job *j)
{
    if (j->prev != PW_WANT_COMPUTE)
        return;
    for (size_t i = live; i-- > 0;) {
        if (skipped && skipped[i])
            continue;
        if (can_be_reference(&ck[i]) && (ck[i].processed || ck[i].out)) {
            j->prev_index = i;
            return;
        }
    }
}

size_t pw_plan_next(const pw_plan_ckpt *ck, size_t n, int64_t final_step, const pw_plan_policy *pol,
                    pw_plan_job *out, pw_plan_class *cls, size_t *wanted)
{
    unsigned char *skipped = NULL;
    if (pol->backlog == PW_BACKLOG_SKIP && n > 0) {
        skipped = malloc(n);
        if (skipped) /* without memory: planned as fill this time */
            mark_skipped(ck, n, skipped);
    }
    *wanted = plan_walk(ck, n, final_step, skipped, out);
    /* The newest checkpoint on disk is live while it is not stored. */
    size_t newest = PW_PLAN_NONE;
    for (size_t i = n; i-- > 0;)
        if (ck[i].present && !(skipped && skipped[i])) {
            newest = i;
            break;
        }
    size_t live = newest != PW_PLAN_NONE && out[newest].need_x ? newest : PW_PLAN_NONE;
    size_t older = 0, backlog = PW_PLAN_NONE, backfill = PW_PLAN_NONE;
    for (size_t i = 0; i < n; i++) {
        if (i == live || !pw_plan_wanted(&out[i]))
            continue;
        if (wants_prev(&out[i])) {
            older++;
            if (backlog == PW_PLAN_NONE)
                backlog = i;
        } else if (backfill == PW_PLAN_NONE) {
            backfill = i;
        }
    }
    if (live != PW_PLAN_NONE && older > pol->live_bound)
        live_skips(ck, live, skipped, &out[live]);
    free(skipped);
    if (live != PW_PLAN_NONE) {
        *cls = PW_CLASS_LIVE;
        return live;
    }
    if (backlog != PW_PLAN_NONE) {
        *cls = PW_CLASS_BACKLOG;
        return backlog;
    }
    *cls = backfill != PW_PLAN_NONE ? PW_CLASS_FINAL : PW_CLASS_NONE;
    return backfill;
}

size_t pw_plan_pick(const pw_plan_head *h, size_t n)
{
    size_t best = PW_PLAN_NONE;
    for (size_t i = 0; i < n; i++) {
        if (h[i].cls == PW_CLASS_NONE)
            continue;
        if (best == PW_PLAN_NONE || h[i].cls < h[best].cls ||
            (h[i].cls == h[best].cls && h[i].served < h[best].served))
            best = i;
    }
    return best;
}

double pw_plan_eta(size_t queue, double mean_s, double running_s)
{
    if (queue == 0)
        return 0;
    if (!isfinite(running_s))
        return mean_s * (double)queue;
    return mean_s * (double)(queue - 1) + fmax(0.0, mean_s - running_s);
}
