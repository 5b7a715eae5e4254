/* pw_plan.c -- the scheduler's planner (pw_plan.h): one forward walk over a run.
 *
 * The walk carries the latest checkpoint that can serve as a predecessor, so
 * planning a run is linear in its checkpoints however many are unreadable. */
#include "pw_plan.h"

#include <assert.h>

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

size_t pw_plan_run(const pw_plan_ckpt *ck, size_t n, int64_t final_step, pw_plan_job *out)
{
    size_t fin = final_step >= 0 ? find_step(ck, n, final_step) : PW_PLAN_NONE;
    size_t pred = PW_PLAN_NONE, wanted = 0;
    for (size_t i = 0; i < n; i++) {
        assert(i == 0 || ck[i - 1].step < ck[i].step);
        plan_one(ck, i, pred, final_step, fin, &out[i]);
        wanted += pw_plan_wanted(&out[i]);
        if (can_be_reference(&ck[i]))
            pred = i;
    }
    return wanted;
}
