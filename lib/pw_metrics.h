/* pw_metrics.h -- the metrics pwccad exports, rendered from a plain snapshot.
 *
 * The daemon fills a pw_metrics_snapshot from its own state when /metrics is
 * scraped and hands it to pw_metrics_render; the names, types and labels
 * below are a public contract (docs/SERVICE.md), so dashboards and alert
 * rules can rely on them:
 *
 *   pwccad_layer_distance{run,layer,ref}   gauge: latest 1 - PWCCA of the layer,
 *                                          ref "previous" or "final"
 *   pwccad_layer_stable{run,layer}         gauge: 1 while stable, else 0
 *   pwccad_layer_stable_step{run,layer}    gauge: step it became stable (stable layers only)
 *   pwccad_layer_measured{run,layer}       gauge: 1 once the layer has a real distance to the
 *                                          previous checkpoint (status ok), else 0: a run's
 *                                          convergence says nothing about a layer at 0
 *   pwccad_layer_reduced_dims{run,layer}   gauge: directions X kept by the layer's newest
 *                                          score when it was reduced (reduce = dims:K,
 *                                          var:F or auto on a layer wider than the probe);
 *                                          no sample while its scores are exact
 *   pwccad_layer_distance_se{run,layer,ref} gauge: standard error of that distance when its
 *                                          score has one (run setting noise, every N-th
 *                                          checkpoint); no sample otherwise
 *   pwccad_layer_chance_distance{run,layer} gauge: the layer's chance level, the distance
 *                                          of one of its pairs with the reference's probe
 *                                          inputs shuffled (run setting chance); no sample
 *                                          before it is computed
 *   pwccad_checkpoints_processed_total     counter
 *   pwccad_checkpoints_failed_total        counter
 *   pwccad_alerts_total{kind}              counter, kind layer_stable | layer_unstable |
 *                                          run_converged (all three always present)
 *   pwccad_compute_seconds                 histogram: compute time per checkpoint
 *   pwccad_queue_length                    gauge: checkpoints waiting to be computed
 *   pwccad_retained_bytes                  gauge: bytes of retained checkpoint copies on disk
 *   pwccad_retained_copies                 gauge: retained copies on disk
 *   pwccad_retain_budget_bytes             gauge: retain_budget_mb, in bytes
 *   pwccad_retain_evictions_total          counter: copies evicted to stay within the budget
 *   pwccad_run_queue_length{run}           gauge: the run's jobs not finished
 *   pwccad_run_compute_seconds_last{run}   gauge: compute seconds of its last checkpoint's job
 *   pwccad_run_compute_seconds_mean{run}   gauge: their mean since the daemon started
 *   pwccad_run_live_lag_seconds{run}       gauge: its newest live checkpoint's file mtime to its
 *                                          scores being committed
 *   pwccad_run_eta_seconds{run}            gauge: queue x mean compute seconds
 *   pwccad_run_job_elapsed_seconds{run}    gauge: how long its job in progress has run (only
 *                                          while one runs)
 *
 * The retention families are always present (0 copies and evictions while
 * retention is off), so a rule such as bytes / budget never lacks a series.
 * A distance that does not exist (no score yet, or a status other than ok)
 * is NAN in the snapshot and its sample is left out, which is how Prometheus
 * expresses "no value". */
#ifndef PW_METRICS_H
#define PW_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "pw_error.h"
#include "pw_promtext.h"

/* Upper bounds, in seconds, of pwccad_compute_seconds' buckets. */
#define PW_METRICS_NBUCKETS 12
extern const double pw_metrics_compute_bounds[PW_METRICS_NBUCKETS];

typedef enum pw_metrics_alert {
    PW_METRICS_ALERT_LAYER_STABLE,   /* kind="layer_stable" */
    PW_METRICS_ALERT_LAYER_UNSTABLE, /* kind="layer_unstable" */
    PW_METRICS_ALERT_RUN_CONVERGED,  /* kind="run_converged" */
    PW_METRICS_NALERTS
} pw_metrics_alert;

typedef struct pw_metrics_layer {
    const char *run;             /* run name (label run) */
    const char *layer;           /* layer name (label layer) */
    double distance_previous;    /* latest distance to the previous checkpoint, NAN when none */
    double distance_final;       /* latest distance to the final checkpoint, NAN when none */
    int stable;                  /* 1 while the layer is stable, else 0 */
    int64_t stable_step;         /* step at which it became stable; read only when stable */
    int measured;                /* 1 once it has had a real distance to the previous checkpoint */
    uint64_t reduced_dims;       /* k_x of its newest score when reduced; 0 when exact */
    double distance_se_previous; /* SE of distance_previous (noise), NAN when none */
    double distance_se_final;    /* SE of distance_final, NAN when none */
    int has_chance;              /* 1: chance_distance holds the layer's chance level */
    double chance_distance;      /* its distance (NAN: computed, not determined) */
} pw_metrics_layer;

typedef struct pw_metrics_hist {
    uint64_t buckets[PW_METRICS_NBUCKETS]; /* observations in (bound[i-1], bound[i]] */
    uint64_t count;                        /* all observations, those above the last bound too */
    double sum;                            /* their sum, seconds */
} pw_metrics_hist;

/* Where one run stands (the pwccad_run_* families); NAN leaves a sample out. */
typedef struct pw_metrics_run {
    const char *run;     /* run name (label run) */
    uint64_t queue;      /* its jobs not finished */
    double compute_last; /* seconds of its last job, NAN before the first */
    double compute_mean; /* mean seconds per job, NAN before the first */
    double live_lag;     /* seconds from its newest live checkpoint's mtime to its commit */
    double eta;          /* queue x compute_mean, NAN without a mean */
    double job_elapsed;  /* seconds its job in progress has run, NAN when none runs */
} pw_metrics_run;

typedef struct pw_metrics_snapshot {
    const pw_metrics_layer *layers;      /* one entry per (run, layer); (run, layer) unique */
    size_t nlayers;                      /* entries in layers */
    uint64_t checkpoints_processed;      /* checkpoints computed and committed since start */
    uint64_t checkpoints_failed;         /* checkpoints recorded with an error since start */
    uint64_t alerts[PW_METRICS_NALERTS]; /* alerts raised since start, by kind */
    pw_metrics_hist compute;             /* seconds of compute per checkpoint */
    uint64_t queue_length;               /* checkpoints waiting to be computed now */
    uint64_t retained_bytes;             /* bytes of retained copies on disk now */
    uint64_t retained_copies;            /* retained copies on disk now */
    uint64_t retain_budget_bytes;        /* the configured budget of all copies */
    uint64_t retain_evictions;           /* copies evicted for the budget since start */
    int database_reopened;               /* 1 when this process reopened a vanished database */
    const pw_metrics_run *runs;          /* where each run stands; run names unique */
    size_t nruns;                        /* entries in runs */
} pw_metrics_snapshot;

/* Count one observation of seconds in h (negative or NaN counts as 0). */
void pw_metrics_hist_observe(pw_metrics_hist *h, double seconds);
/* The alert index for a kind name ("layer_stable", ...), or -1 when unknown. */
int pw_metrics_alert_index(const char *kind);
/* Append every family above, in the order listed, to out (normally just
 * reset).  Fails only on a bad snapshot (NULL names, a duplicated family) or
 * when the text outgrows out's limit; out then holds a partial exposition. */
int pw_metrics_render(const pw_metrics_snapshot *s, pw_promtext *out, pw_err *err);

#endif
