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
 * Order (pw_plan_next, pw_plan_pick): a run's newest checkpoint, when it is
 * new, is its live job and goes first -- across runs, the run served longest
 * ago first -- then the backlog (older checkpoints, recomputed pairs) in
 * ascending step, then the backfill against the final checkpoint.  When more
 * than policy.live_bound older checkpoints still wait for their previous
 * pair, the live checkpoint is compared with the newest one scored or being
 * scored instead of its predecessor (its ref_step says which), so the live
 * series keeps up with training.  The pairs it passes over are the backlog:
 * with PW_BACKLOG_FILL they are computed when nothing live waits (and the live
 * pair is then recomputed against its true predecessor); with
 * PW_BACKLOG_SKIP a checkpoint not stored and passed over by a later
 * checkpoint's previous pair -- stored, or of a job out -- is given nothing.
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
    int out;           /* a job for it is out (queued or running) */
    int64_t out_ref;   /* that job's previous reference, PW_PLAN_NO_STEP none */
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

/* What becomes of the pairs a live comparison passes over (config `backlog`). */
typedef enum pw_plan_backlog {
    PW_BACKLOG_FILL = 0, /* computed when nothing live waits */
    PW_BACKLOG_SKIP = 1, /* never computed: the series keeps the gap */
} pw_plan_backlog;

/* A job's place in the order; lower goes first. */
typedef enum pw_plan_class {
    PW_CLASS_LIVE = 0,    /* the run's newest checkpoint, not stored yet */
    PW_CLASS_BACKLOG = 1, /* an older checkpoint, or a previous pair recomputed */
    PW_CLASS_FINAL = 2,   /* only the backfill against the final checkpoint */
    PW_CLASS_NONE = 3,    /* no job */
} pw_plan_class;

/* How a run's work is ordered. */
typedef struct pw_plan_policy {
    pw_plan_backlog backlog; /* fill or skip what the live series passes over */
    size_t live_bound; /* more older checkpoints waiting than this: live skips to the last scored */
} pw_plan_policy;

/* Plan the run as pw_plan_run does, with the policy applied (the live job's
 * reference, skipped checkpoints given nothing), and choose its next job: its
 * index (out[index] is the work), PW_PLAN_NONE when none.  *cls gets its class,
 * *wanted how many jobs the run wants now. */
size_t pw_plan_next(const pw_plan_ckpt *ck, size_t n, int64_t final_step, const pw_plan_policy *pol,
                    pw_plan_job *out, pw_plan_class *cls, size_t *wanted);

/* One run's candidate in the choice between runs. */
typedef struct pw_plan_head {
    pw_plan_class cls; /* class of the run's next job, PW_CLASS_NONE when none */
    uint64_t served;   /* when the run last had a job started (a counter; 0 never) */
} pw_plan_head;

/* The run whose job starts next: the lowest class, and among equals the run
 * served longest ago (round robin), then the lowest index.  PW_PLAN_NONE when
 * no run has a job. */
size_t pw_plan_pick(const pw_plan_head *h, size_t n);

/* Seconds until a run's queue is done: queue jobs (the running ones
 * included) at mean_s each, less what the job running for running_s (NAN
 * when none) has already done -- never less than nothing left of it.  0 for
 * an empty queue; NAN when the mean is unknown. */
double pw_plan_eta(size_t queue, double mean_s, double running_s);

#endif
