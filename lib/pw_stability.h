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
 * layers that never had one are listed, not waited for.  The daemon replays
 * the whole series after each new score, so the result never depends on
 * arrival order, and stores each transition once (the alerts table is unique
 * on run, kind, layer, step). */
#ifndef PW_STABILITY_H
#define PW_STABILITY_H

#include <stddef.h>
#include <stdint.h>

typedef struct pw_stab_params {
    double theta;      /* a distance <= theta counts towards stability */
    int k;             /* consecutive such distances needed, >= 1 */
    double hysteresis; /* a stable layer turns unstable above this, >= theta */
} pw_stab_params;

typedef struct pw_stab_point {
    int64_t step;    /* checkpoint scored */
    double distance; /* distance to the previous checkpoint, NAN when absent */
} pw_stab_point;

typedef enum pw_stab_kind {
    PW_STAB_STABLE,  /* layer_stable */
    PW_STAB_UNSTABLE /* layer_unstable */
} pw_stab_kind;

typedef struct pw_stab_event {
    pw_stab_kind kind; /* transition */
    int64_t step;      /* checkpoint at which it happened */
    double value;      /* the distance that triggered it */
} pw_stab_event;

typedef struct pw_stab_state {
    int stable;          /* 1 when stable after the last point */
    int64_t stable_step; /* step it became stable, -1 when not stable */
    int has_distance;    /* 1 when any point had a finite distance */
} pw_stab_state;

/* Defaults documented in docs/CONFIG.md. */
#define PW_STAB_DEFAULT_THETA      0.01
#define PW_STAB_DEFAULT_K          3
#define PW_STAB_DEFAULT_HYSTERESIS 0.02

/* 0 when the parameters are usable (k >= 1, 0 <= theta <= hysteresis), else -1. */
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

#endif
