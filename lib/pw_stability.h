/* pw_stability.h -- when a layer has stopped moving, and when a whole run has.
 *
 * Pure functions over a layer's distance series (distance = 1 - pwcca of each
 * checkpoint against the previous one, in step order).  A layer becomes
 * stable at step s when its distance has stayed <= theta for k consecutive
 * checkpoints ending at s; a stable layer becomes unstable again at the first
 * distance above the hysteresis bound (>= theta, so small wobbles near theta
 * do not flap).  A missing distance (NAN: insufficient_datapoints, read
 * errors, ...) breaks a streak but does not make a stable layer unstable.
 *
 * A run has converged when every layer that has a distance at all is stable;
 * layers that never had one are listed, not waited for.
 *
 * The daemon keeps each layer's series in memory as a pw_stab_series, seeded
 * once from the database: a score that extends the series costs one step of
 * the rules, one that lands before its end (a checkpoint that arrived late,
 * a rescore) replays that layer in memory, so the result never depends on
 * arrival order.  Each transition is reported from the point of change on;
 * the alerts table (unique on run, kind, layer, step) stores it once.
 *
 * Under the noise rule (stable_rule = noise) each distance is read with its
 * jackknife standard error: it counts towards stability only when its upper
 * bound d + z*SE is <= theta (the move is below theta beyond the noise), and
 * it makes a stable layer unstable only when its lower bound d - z*SE is
 * above the hysteresis bound (the move is above it beyond the noise), so
 * noise delays both transitions instead of flapping them.  A point without
 * an SE (the noise schedule skipped that checkpoint) uses the last SE seen
 * for the layer, in step order; before any SE the threshold rule decides,
 * and the event says which rule did. */
#ifndef PW_STABILITY_H
#define PW_STABILITY_H

#include <stddef.h>
#include <stdint.h>

/* How a distance is compared with the thresholds. */
typedef enum pw_stab_rule {
    PW_STAB_RULE_THRESHOLD = 0, /* the distance itself (the default) */
    PW_STAB_RULE_NOISE = 1      /* its confidence bound d +/- z*SE, when an SE is known */
} pw_stab_rule;

typedef struct pw_stab_params {
    double theta;      /* a distance <= theta counts towards stability */
    int k;             /* consecutive such distances needed, >= 1 */
    double hysteresis; /* a stable layer turns unstable above this, >= theta */
    int rule;          /* pw_stab_rule; 0 (threshold) in a zeroed struct */
    double z;          /* noise rule: standard errors added / subtracted, finite, >= 0 */
} pw_stab_params;

typedef struct pw_stab_point {
    int64_t step;    /* checkpoint scored */
    double distance; /* distance to the previous checkpoint, NAN when absent */
    double se;       /* its standard error, NAN when none (0 in a zeroed point is an SE) */
} pw_stab_point;

typedef enum pw_stab_kind {
    PW_STAB_STABLE,  /* layer_stable */
    PW_STAB_UNSTABLE /* layer_unstable */
} pw_stab_kind;

typedef struct pw_stab_event {
    pw_stab_kind kind; /* transition */
    int64_t step;      /* checkpoint at which it happened */
    double value;      /* the distance that triggered it */
    int rule;          /* pw_stab_rule that decided it (threshold when no SE was known) */
    double se;         /* the SE the noise rule used (maybe carried forward), else NAN */
} pw_stab_event;

typedef struct pw_stab_state {
    int stable;          /* 1 when stable after the last point */
    int64_t stable_step; /* step it became stable, -1 when not stable */
    int has_distance;    /* 1 when any point had a finite distance */
    double last_se;      /* the last finite SE seen, NAN before any */
} pw_stab_state;

/* Defaults documented in docs/CONFIG.md. */
#define PW_STAB_DEFAULT_THETA      0.01
#define PW_STAB_DEFAULT_K          3
#define PW_STAB_DEFAULT_HYSTERESIS 0.02
#define PW_STAB_DEFAULT_Z          2.0

/* 0 when the parameters are usable (k >= 1, 0 <= theta <= hysteresis, a
 * known rule, 0 <= z finite), else -1. */
int pw_stab_params_valid(const pw_stab_params *p);

/* Replay points[0..n) (ascending step) from the unstable state.  Writes up to
 * max_events transitions to events (may be NULL when max_events is 0) and
 * returns how many transitions there were in all; *end gets the final state. */
size_t pw_stability_replay(const pw_stab_params *p, const pw_stab_point *points, size_t n,
                           pw_stab_event *events, size_t max_events, pw_stab_state *end);

/* Run convergence from each layer's end state.  Returns 1 when converged (at
 * least one layer has a distance and all that have one are stable), with
 * *step the last of their stable steps; else 0 and *step = -1. */
int pw_stability_converged(const pw_stab_state *layers, size_t n, int64_t *step);

/* One layer's series, changed a point at a time in any step order, and the
 * rules' state after it.  Points before the first change are not replayed
 * again unless a change lands among them; transitions before the earliest
 * change since the last update are not reported again. */
typedef struct pw_stab_series {
    pw_stab_point *pts;  /* one per step, ascending (heap) */
    size_t n, cap;       /* used / allocated */
    size_t done;         /* pts[0..done) are replayed into end */
    pw_stab_state end;   /* the state after pts[0..done) */
    int streak;          /* distances <= theta in a row ending at pts[done - 1], while unstable */
    int64_t report_from; /* the next update reports transitions at steps >= this */
} pw_stab_series;

/* Empty; its first update reports every transition. */
void pw_stab_series_init(pw_stab_series *s);
void pw_stab_series_free(pw_stab_series *s);
/* Add the point at step, or replace its distance.  -1 when out of memory (s unchanged). */
int pw_stab_series_set(pw_stab_series *s, int64_t step, double distance);
/* The same with the distance's standard error (NAN: none). */
int pw_stab_series_set_se(pw_stab_series *s, int64_t step, double distance, double se);
/* Drop the point at step, if any. */
void pw_stab_series_remove(pw_stab_series *s, int64_t step);
/* Replay and report everything at the next update (other parameters, a report that failed). */
void pw_stab_series_reset(pw_stab_series *s);
/* Called with each transition to report; non-zero when it could not be (the
 * update goes on, and the caller resets the series to report it again). */
typedef int (*pw_stab_report_fn)(void *ctx, const pw_stab_event *ev);
/* Bring s->end up to date with every point, reporting the transitions at
 * steps from the earliest change on, in step order.  Returns how many
 * reports failed. */
size_t pw_stab_series_update(const pw_stab_params *p, pw_stab_series *s, pw_stab_report_fn report,
                             void *ctx);
/* The same up to the horizon: points at steps >= horizon wait (a checkpoint
 * before them has no score yet, so their streak is not known); the state
 * is that after the last point before it.  A late checkpoint so never
 * raises a transition that its arrival would move. */
size_t pw_stab_series_update_until(const pw_stab_params *p, pw_stab_series *s, int64_t horizon,
                                   pw_stab_report_fn report, void *ctx);

#endif
