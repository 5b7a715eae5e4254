/* pw_plan.h -- which pairs of a run's checkpoints are missing: the scheduler's planner.
 *
 * For every checkpoint t of a run, the scores that should exist are
 * (t, previous) -- the nearest earlier checkpoint that can serve as a
 * reference -- and, once the run has a final checkpoint F and t <= F,
 * (t, final).  A pair is wanted when:
 *   - t itself was never stored with its current identity (need_x);
 *   - its stored ref_step differs from today's reference (an out-of-order
 *     arrival split the pair, or the final moved);
 *   - the daemon marked it dirty (a reference was replaced).
 * A checkpoint that lost its predecessor (deleted before it was stored, or
 * unreadable) keeps no stale previous rows: those are cleared.  A checkpoint
 * deleted before it was ever stored is given nothing; one deleted after it
 * was stored still gets its final pair (from a retained copy, or as
 * reference_unavailable).
 *
 * Pure: the checkpoints' state in, the wanted work out; no files, no clocks.
 * daemon/scheduler.c turns the answer into jobs for its compute threads. */
#ifndef PW_PLAN_H
#define PW_PLAN_H

#include <stddef.h>
#include <stdint.h>

/* A step field that names no checkpoint (no stored reference, no final). */
#define PW_PLAN_NO_STEP (-1)
/* Index of no checkpoint in pw_plan_job. */
#define PW_PLAN_NONE ((size_t)-1)

/* What is wanted of one reference of a checkpoint. */
typedef enum pw_plan_want {
    PW_WANT_NONE = 0,    /* its stored rows are right */
    PW_WANT_COMPUTE = 1, /* (re)compute the pair and replace its rows */
    PW_WANT_CLEAR = 2,   /* no reference exists any more: only delete the stale rows */
} pw_plan_want;

/* The planner's view of one checkpoint. */
typedef struct pw_plan_ckpt {
    int64_t step;      /* training step; the array is in ascending step */
    int present;       /* its file exists */
    int processed;     /* the database holds this identity's row */
    int bad;           /* processing found it unreadable */
    int64_t prev_ref;  /* ref_step of its stored previous scores, PW_PLAN_NO_STEP none */
    int64_t final_ref; /* ref_step of its stored final scores, PW_PLAN_NO_STEP none */
    int dirty_prev;    /* recompute the previous pair even if prev_ref matches */
    int dirty_final;   /* recompute the final pair even if final_ref matches */
    int hold;          /* not planned now (a job is out, or a retry is not due) */
} pw_plan_ckpt;

/* The work wanted for one checkpoint. */
typedef struct pw_plan_job {
    int need_x;         /* write the checkpoint's own row (new identity) */
    pw_plan_want prev;  /* the (t, previous) pair */
    size_t prev_index;  /* the predecessor's index when prev is COMPUTE, else PW_PLAN_NONE */
    pw_plan_want fin;   /* the (t, final) pair: NONE or COMPUTE */
    size_t final_index; /* the final checkpoint's index when fin is COMPUTE, else PW_PLAN_NONE */
} pw_plan_job;

/* Whether a job is wanted at all. */
static inline int pw_plan_wanted(const pw_plan_job *j)
{
    return j->need_x || j->prev != PW_WANT_NONE || j->fin != PW_WANT_NONE;
}

/* Plan ck[0..n) (ascending, distinct steps) of a run whose final step is final_step
 * (PW_PLAN_NO_STEP while running).  out (n entries) gets each checkpoint's work;
 * a held checkpoint gets none.  Returns how many entries want a job. */
size_t pw_plan_run(const pw_plan_ckpt *ck, size_t n, int64_t final_step, pw_plan_job *out);

#endif
