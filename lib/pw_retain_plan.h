/* pw_retain_plan.h -- which retained copies to evict when a new one would exceed the budget.
 *
 * The copies exist for the backfill against the final checkpoint, which
 * wants earlier steps spread over the whole run more than it wants many
 * neighbours.  So when the copies plus a new one exceed the budget, copies
 * are evicted one at a time:
 *   - from the run holding the most bytes (ties: the lower run id), among
 *     runs that still have an evictable copy;
 *   - never a run's newest copy, never a pinned one (being written, or the
 *     run's final reference);
 *   - within the run, the interior copy whose removal leaves the smallest
 *     gap between its neighbours (ties: the older one), which thins dense
 *     stretches first and keeps the retained steps evenly spread; the run's
 *     oldest copy goes only when no interior one is left.
 * When the new copy would itself be the one thinned out, or cannot fit even
 * after every evictable copy is gone, it is not kept and the existing copies
 * are left alone (unless they alone exceed the budget, e.g. after the budget
 * was lowered: then they are thinned the same way).
 *
 * Pure: no files, no clocks; the daemon applies the answer (daemon/retain.c). */
#ifndef PW_RETAIN_PLAN_H
#define PW_RETAIN_PLAN_H

#include <stddef.h>
#include <stdint.h>

typedef struct pw_retain_copy {
    int64_t run;    /* runs.id */
    int64_t step;   /* training step */
    uint64_t bytes; /* size on disk */
    int pinned;     /* 1: never evicted */
} pw_retain_copy;

/* Decide for copies[0..n) plus incoming under budget bytes.  victims (room for
 * n entries) gets the indices into copies to delete, in eviction order; the
 * return value is their count.  *keep_incoming is 1 when incoming should be
 * written.  Returns (size_t)-1 when out of memory. */
size_t pw_retain_plan(const pw_retain_copy *copies, size_t n, const pw_retain_copy *incoming,
                      uint64_t budget, size_t *victims, int *keep_incoming);

#endif
