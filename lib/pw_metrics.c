/* pw_metrics.c -- renders pwccad's metrics from a snapshot (see pw_metrics.h). */
#include "pw_metrics.h"

#include <assert.h>
#include <math.h>
#include <string.h>

/* From a 1-layer toy run (~10 ms) to a large network's full backfill (minutes). */
const double pw_metrics_compute_bounds[PW_METRICS_NBUCKETS] = {0.01, 0.05, 0.1, 0.25, 0.5, 1,
                                                               2.5,  5,    10,  30,   60,  300};

static const char *const alert_kinds[PW_METRICS_NALERTS] = {"layer_stable", "layer_unstable",
                                                            "run_converged"};

void pw_metrics_hist_observe(pw_metrics_hist *h, double seconds)
{
    if (!(seconds > 0))
        seconds = 0;
    for (size_t i = 0; i < PW_METRICS_NBUCKETS; i++) {
        if (seconds <= pw_metrics_compute_bounds[i]) {
            h->buckets[i]++;
            break;
        }
    }
    h->count++;
    h->sum += seconds;
}

int pw_metrics_alert_index(const char *kind)
{
    for (int i = 0; i < PW_METRICS_NALERTS; i++)
        if (strcmp(kind, alert_kinds[i]) == 0)
            return i;
    return -1;
}

static int render_layers(const pw_metrics_snapshot *s, pw_promtext *out, pw_err *err)
{
    for (size_t i = 0; i < s->nlayers; i++)
        if (!s->layers[i].run || !s->layers[i].layer)
            return pw_err_set(err, "metrics snapshot: layer entry %zu has no run or layer name", i);

    if (pw_promtext_family(out, "pwccad_layer_distance", PW_PROM_GAUGE,
                           "Latest distance (1 - PWCCA) of the layer to its reference "
                           "checkpoint: ref=previous or ref=final.",
                           err) != 0)
        return -1;
    for (size_t i = 0; i < s->nlayers; i++) {
        const pw_metrics_layer *l = &s->layers[i];
        pw_prom_label lab[3] = {{"run", l->run}, {"layer", l->layer}, {"ref", "previous"}};
        if (!isnan(l->distance_previous) &&
            pw_promtext_sample(out, lab, 3, l->distance_previous, err) != 0)
            return -1;
        lab[2].value = "final";
        if (!isnan(l->distance_final) &&
            pw_promtext_sample(out, lab, 3, l->distance_final, err) != 0)
            return -1;
    }

    if (pw_promtext_family(out, "pwccad_layer_stable", PW_PROM_GAUGE,
                           "1 while the layer's distance to the previous checkpoint has stayed "
                           "below the stability threshold, else 0.",
                           err) != 0)
        return -1;
    for (size_t i = 0; i < s->nlayers; i++) {
        const pw_metrics_layer *l = &s->layers[i];
        pw_prom_label lab[2] = {{"run", l->run}, {"layer", l->layer}};
        if (pw_promtext_sample(out, lab, 2, l->stable ? 1 : 0, err) != 0)
            return -1;
    }

    if (pw_promtext_family(out, "pwccad_layer_stable_step", PW_PROM_GAUGE,
                           "Training step at which the layer became stable (stable layers only).",
                           err) != 0)
        return -1;
    for (size_t i = 0; i < s->nlayers; i++) {
        const pw_metrics_layer *l = &s->layers[i];
        pw_prom_label lab[2] = {{"run", l->run}, {"layer", l->layer}};
        if (l->stable && pw_promtext_sample(out, lab, 2, (double)l->stable_step, err) != 0)
            return -1;
    }

    if (pw_promtext_family(out, "pwccad_layer_measured", PW_PROM_GAUGE,
                           "1 once the layer has a distance to the previous checkpoint (status "
                           "ok), else 0; run convergence leaves layers at 0 out.",
                           err) != 0)
        return -1;
    for (size_t i = 0; i < s->nlayers; i++) {
        const pw_metrics_layer *l = &s->layers[i];
        pw_prom_label lab[2] = {{"run", l->run}, {"layer", l->layer}};
        if (pw_promtext_sample(out, lab, 2, l->measured ? 1 : 0, err) != 0)
            return -1;
    }

    if (pw_promtext_family(out, "pwccad_layer_reduced_dims", PW_PROM_GAUGE,
                           "Directions of the layer its newest score kept when it was reduced "
                           "(a layer wider than the probe, reduce = dims, var or auto); absent "
                           "while its scores are exact.",
                           err) != 0)
        return -1;
    for (size_t i = 0; i < s->nlayers; i++) {
        const pw_metrics_layer *l = &s->layers[i];
        pw_prom_label lab[2] = {{"run", l->run}, {"layer", l->layer}};
        if (l->reduced_dims > 0 &&
            pw_promtext_sample(out, lab, 2, (double)l->reduced_dims, err) != 0)
            return -1;
    }

    if (pw_promtext_family(out, "pwccad_layer_distance_se", PW_PROM_GAUGE,
                           "Standard error (jackknife, run setting noise) of the layer's latest "
                           "distance; absent when that score has none.",
                           err) != 0)
        return -1;
    for (size_t i = 0; i < s->nlayers; i++) {
        const pw_metrics_layer *l = &s->layers[i];
        pw_prom_label lab[3] = {{"run", l->run}, {"layer", l->layer}, {"ref", "previous"}};
        if (!isnan(l->distance_se_previous) &&
            pw_promtext_sample(out, lab, 3, l->distance_se_previous, err) != 0)
            return -1;
        lab[2].value = "final";
        if (!isnan(l->distance_se_final) &&
            pw_promtext_sample(out, lab, 3, l->distance_se_final, err) != 0)
            return -1;
    }

    if (pw_promtext_family(out, "pwccad_layer_chance_distance", PW_PROM_GAUGE,
                           "The layer's chance level: the distance of one of its pairs with the "
                           "reference's probe inputs shuffled (run setting chance); absent before "
                           "it is computed.",
                           err) != 0)
        return -1;
    for (size_t i = 0; i < s->nlayers; i++) {
        const pw_metrics_layer *l = &s->layers[i];
        pw_prom_label lab[2] = {{"run", l->run}, {"layer", l->layer}};
        if (l->has_chance && !isnan(l->chance_distance) &&
            pw_promtext_sample(out, lab, 2, l->chance_distance, err) != 0)
            return -1;
    }
    return 0;
}

/* One family with one unlabelled sample. */
static int scalar(pw_promtext *out, const char *name, pw_prom_type type, const char *help,
                  uint64_t value, pw_err *err)
{
    if (pw_promtext_family(out, name, type, help, err) != 0)
        return -1;
    return pw_promtext_sample(out, NULL, 0, (double)value, err);
}

static int render_retention(const pw_metrics_snapshot *s, pw_promtext *out, pw_err *err)
{
    if (scalar(out, "pwccad_retained_bytes", PW_PROM_GAUGE,
               "Bytes of retained checkpoint copies on disk.", s->retained_bytes, err) != 0 ||
        scalar(out, "pwccad_retained_copies", PW_PROM_GAUGE, "Retained checkpoint copies on disk.",
               s->retained_copies, err) != 0 ||
        scalar(out, "pwccad_retain_budget_bytes", PW_PROM_GAUGE,
               "Disk budget of all retained copies (retain_budget_mb), in bytes.",
               s->retain_budget_bytes, err) != 0 ||
        scalar(out, "pwccad_retain_evictions_total", PW_PROM_COUNTER,
               "Retained copies evicted to stay within the budget since the daemon started.",
               s->retain_evictions, err) != 0)
        return -1;
    return 0;
}

/* The pwccad_run_* families, in order: the figure each shows of a run. */
typedef enum run_figure {
    FIG_QUEUE,
    FIG_LAST,
    FIG_MEAN,
    FIG_LAG,
    FIG_ETA,
    FIG_ELAPSED,
    FIG_COUNT
} run_figure;

static double run_value(const pw_metrics_run *r, run_figure f)
{
    switch (f) {
    case FIG_QUEUE:
        return (double)r->queue;
    case FIG_LAST:
        return r->compute_last;
    case FIG_MEAN:
        return r->compute_mean;
    case FIG_LAG:
        return r->live_lag;
    case FIG_ETA:
        return r->eta;
    default:
        return r->job_elapsed;
    }
}

/* One family per figure, one sample per run that has it (NAN: none). */
static int render_runs(const pw_metrics_snapshot *s, pw_promtext *out, pw_err *err)
{
    static const char *const fam[FIG_COUNT][2] = {
        {"pwccad_run_queue_length", "Jobs of the run not finished: waiting, queued or running."},
        {"pwccad_run_compute_seconds_last", "Compute seconds of the run's last checkpoint job."},
        {"pwccad_run_compute_seconds_mean",
         "Mean compute seconds per checkpoint job of the run since the daemon started."},
        {"pwccad_run_live_lag_seconds",
         "Seconds from the run's newest live checkpoint's file mtime to its scores being "
         "committed."},
        {"pwccad_run_eta_seconds", "Queue times mean compute seconds: when the run is caught up."},
        {"pwccad_run_job_elapsed_seconds",
         "Seconds the run's job in progress has been computing (only while one runs)."},
    };
    for (size_t i = 0; i < s->nruns; i++)
        if (!s->runs[i].run)
            return pw_err_set(err, "metrics snapshot: run entry %zu has no name", i);
    for (int f = 0; f < FIG_COUNT; f++) {
        if (pw_promtext_family(out, fam[f][0], PW_PROM_GAUGE, fam[f][1], err) != 0)
            return -1;
        for (size_t i = 0; i < s->nruns; i++) {
            double v = run_value(&s->runs[i], (run_figure)f);
            pw_prom_label lab = {"run", s->runs[i].run};
            if (!isnan(v) && pw_promtext_sample(out, &lab, 1, v, err) != 0)
                return -1;
        }
    }
    return 0;
}

int pw_metrics_render(const pw_metrics_snapshot *s, pw_promtext *out, pw_err *err)
{
    assert(s && out);
    if (render_layers(s, out, err) != 0)
        return -1;

    if (scalar(out, "pwccad_checkpoints_processed_total", PW_PROM_COUNTER,
               "Checkpoints computed and committed since the daemon started.",
               s->checkpoints_processed, err) != 0 ||
        scalar(out, "pwccad_checkpoints_failed_total", PW_PROM_COUNTER,
               "Checkpoints recorded with an error since the daemon started.",
               s->checkpoints_failed, err) != 0)
        return -1;

    if (pw_promtext_family(out, "pwccad_alerts_total", PW_PROM_COUNTER,
                           "Alerts raised since the daemon started, by kind.", err) != 0)
        return -1;
    for (int k = 0; k < PW_METRICS_NALERTS; k++) {
        pw_prom_label lab = {"kind", alert_kinds[k]};
        if (pw_promtext_sample(out, &lab, 1, (double)s->alerts[k], err) != 0)
            return -1;
    }

    if (pw_promtext_family(out, "pwccad_compute_seconds", PW_PROM_HISTOGRAM,
                           "Seconds of computation per checkpoint, every layer and reference "
                           "included.",
                           err) != 0 ||
        pw_promtext_histogram(out, NULL, 0, pw_metrics_compute_bounds, s->compute.buckets,
                              PW_METRICS_NBUCKETS, s->compute.count, s->compute.sum, err) != 0)
        return -1;

    if (scalar(out, "pwccad_queue_length", PW_PROM_GAUGE, "Checkpoints waiting to be computed.",
               s->queue_length, err) != 0 ||
        scalar(out, "pwccad_database_reopened", PW_PROM_GAUGE,
               "1 when the database file was deleted or replaced while pwccad ran and this "
               "process reopened it at its path: scores stored before are gone.",
               s->database_reopened ? 1 : 0, err) != 0)
        return -1;
    if (render_retention(s, out, err) != 0)
        return -1;
    return render_runs(s, out, err);
}
