/* metrics.c -- the daemon's /metrics endpoint (--metrics ADDR:PORT, metrics_listen).
 *
 * lib/pw_metrics_http.c serves HTTP on the daemon's own loop and
 * lib/pw_metrics.c renders the exposition; this file keeps, on the loop
 * thread, everything a scrape shows, so rendering is a walk over memory:
 * it never queries SQLite and never looks at the compute threads' jobs.
 *
 *   - per run, per layer: the newest score per reference (its step and
 *     distance), mirrored from what each committed job wrote (the job's
 *     batch, handed back to the loop), and reloaded from the database when a
 *     commit or a final move removed a newest score without writing a newer
 *     one -- and when the run's stored state is loaded at start, so a
 *     restarted daemon shows what is stored before it computes anything;
 *     The newest score's reduction (k_x) goes with it, for
 *     pwccad_layer_reduced_dims;
 *   - per layer: its stability, from the alert replay (alerts.c), or the
 *     stored layers.stable_step until the first replay;
 *   - counters (checkpoints processed and failed are the daemon's own
 *     d->done and d->failed), alerts by kind, the compute-time histogram, and
 *     the scheduler's count of outstanding jobs;
 *   - retention: copies and bytes held, and evictions, asked of retain.c (its
 *     index, under its lock) at each scrape, and the configured budget.
 *
 * When no address is configured nothing is kept and every hook is a no-op.
 *
 * The dashboard (web.c, --http) shares the listener: with http_listen set
 * the endpoint serves both, and the hooks also count changes, globally and
 * per run, which the dashboard's pages poll to know when to fetch again. */
#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "pw_array.h"
#include "pw_metrics.h"
#include "pw_metrics_http.h"

/* One layer of a run as /metrics shows it. */
typedef struct mlayer {
    char *name;          /* layer name (heap) */
    int has[2];          /* a score exists, per pw_ref */
    int64_t step[2];     /* step of the newest score, per pw_ref (read only when has) */
    double distance[2];  /* its distance, NAN when its status is not ok */
    int64_t k_x[2];      /* its k_x when reduced, -1 when exact */
    double se[2];        /* its distance's standard error (noise), NAN when none */
    int has_chance;      /* its chance level is stored */
    double chance;       /* that chance distance (NAN when not determined) */
    int64_t stable_step; /* step it became stable at, -1 when not stable */
    int measured;        /* it has had a real distance to the previous checkpoint */
    unsigned cleared;    /* scratch while applying a batch: bit ref set when the newest
                            score's group was replaced */
} mlayer;

/* What /metrics shows of one run; hangs off pwd_run.metrics. */
typedef struct pwd_mrun {
    mlayer *layers;   /* in the order first seen (the checkpoint's layer order) */
    size_t n, cap;    /* used / allocated */
    uint64_t version; /* the global change counter at this run's last change */
} pwd_mrun;

typedef struct pwd_metrics {
    pwd_daemon *d;                       /* owner */
    uint64_t alerts[PW_METRICS_NALERTS]; /* alerts raised since start, by kind */
    pw_metrics_hist compute;             /* seconds per committed job */
    pw_metrics_layer *snap;              /* snapshot rows, reused by every scrape */
    size_t snapcap;                      /* entries allocated in snap */
    uint64_t changes;                    /* bumped on every change any run's data sees */
    struct pwd_web *web;                 /* the dashboard on the same listener, NULL when none */
} pwd_metrics;

/* Tables ------------------------------------------------------------------------------ */

static void mrun_clear(pwd_mrun *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->layers[i].name);
    free(t->layers);
    memset(t, 0, sizeof *t);
}

/* Something of run r changed: the dashboard's pages fetch it again. */
static void changed(pwd_metrics *m, pwd_run *r)
{
    m->changes++;
    if (r && r->metrics)
        r->metrics->version = m->changes;
}

uint64_t pwd_metrics_version(const pwd_daemon *d, const pwd_run *r)
{
    if (!d->metrics)
        return 0;
    if (!r)
        return d->metrics->changes;
    return r->metrics && r->metrics->version ? r->metrics->version : 1;
}

/* The run's table, created on first use; NULL when out of memory. */
static pwd_mrun *table_of(pwd_run *r)
{
    if (!r->metrics)
        r->metrics = calloc(1, sizeof *r->metrics);
    return r->metrics;
}

/* The layer's entry, added (not scored, not stable) when new; NULL when out of
 * memory.  A linear search: a run has at most a few hundred layers, and a job
 * touches each once or twice. */
static mlayer *layer_of(pwd_mrun *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->layers[i].name, name) == 0)
            return &t->layers[i];
    mlayer *g = pw_grow(t->layers, &t->cap, t->n + 1, sizeof *g, 16);
    if (!g)
        return NULL;
    t->layers = g;
    mlayer *l = &t->layers[t->n];
    memset(l, 0, sizeof *l);
    l->stable_step = -1;
    l->distance[0] = l->distance[1] = NAN;
    l->k_x[0] = l->k_x[1] = -1;
    l->se[0] = l->se[1] = NAN;
    if (!(l->name = strdup(name)))
        return NULL;
    t->n++;
    return l;
}

/* pw_db_latest's rows, gathered into a fresh table. */
typedef struct load_ctx {
    pwd_mrun t; /* being filled */
    int oom;    /* an allocation failed */
} load_ctx;

static int load_layer(void *ctx, const pw_db_latest_row *row)
{
    load_ctx *c = ctx;
    mlayer *l = layer_of(&c->t, row->layer);
    if (!l)
        return c->oom = 1;
    l->stable_step = row->stable_step;
    l->measured = 1; /* until pw_db_unmeasured names it */
    for (int ref = 0; ref < 2; ref++) {
        l->has[ref] = row->has[ref];
        l->step[ref] = row->step[ref];
        l->distance[ref] = row->distance[ref];
        l->k_x[ref] = row->k_x[ref];
        l->se[ref] = row->distance_se[ref];
    }
    return 0;
}

/* pw_db_chance_each's rows: the layers' chance levels. */
static int load_chance(void *ctx, const pw_db_chance *c)
{
    load_ctx *lc = ctx;
    mlayer *l = layer_of(&lc->t, c->layer);
    if (!l)
        return lc->oom = 1;
    l->has_chance = 1;
    l->chance = c->r.distance;
    return 0;
}

/* pw_db_unmeasured's rows: the layers without any real distance. */
static int load_unmeasured(void *ctx, const char *layer, const char *status)
{
    (void)status;
    load_ctx *c = ctx;
    mlayer *l = layer_of(&c->t, layer);
    if (!l)
        return c->oom = 1;
    l->measured = 0;
    return 0;
}

void pwd_metrics_run_load(pwd_daemon *d, pwd_run *r)
{
    if (!d->metrics)
        return;
    load_ctx c;
    memset(&c, 0, sizeof c);
    pw_err err;
    pw_err_clear(&err);
    if (pw_db_latest(d->db, r->id, load_layer, &c, &err) != 0 || c.oom ||
        pw_db_unmeasured(d->db, r->id, load_unmeasured, &c, &err) != 0 || c.oom ||
        pw_db_chance_each(d->db, r->id, load_chance, &c, &err) != 0 || c.oom || !table_of(r)) {
        pwd_log(PWD_ERROR, "%s: metrics: reading the latest scores: %s", r->name,
                err.msg[0] ? err.msg : "out of memory");
        mrun_clear(&c.t);
        return;
    }
    mrun_clear(r->metrics);
    *r->metrics = c.t;
    changed(d->metrics, r);
}

/* Hooks --------------------------------------------------------------------------------- */

void pwd_metrics_commit(pwd_daemon *d, pwd_run *r, const pw_db_batch *b, double seconds)
{
    pwd_metrics *m = d->metrics;
    if (!m)
        return;
    pw_metrics_hist_observe(&m->compute, seconds);
    pwd_mrun *t = table_of(r);
    int lost = !t; /* out of memory somewhere: reread the run instead */
    for (size_t i = 0; t && i < b->nlayers; i++)
        lost |= !layer_of(t, b->layers[i].name);
    /* The batch deleted its groups' rows before writing: mark layers whose newest
     * score was among them; a new score for the same step unmarks them. */
    for (size_t g = 0; t && g < b->ngroups; g++)
        for (size_t i = 0; i < t->n; i++) {
            mlayer *l = &t->layers[i];
            if (l->has[b->groups[g].ref] && l->step[b->groups[g].ref] == b->groups[g].step)
                l->cleared |= 1u << b->groups[g].ref;
        }
    for (size_t i = 0; t && i < b->nscores; i++) {
        const pw_db_score *s = &b->scores[i];
        mlayer *l = layer_of(t, s->layer);
        if (!l) {
            lost = 1;
            continue;
        }
        l->measured |= s->ref == PW_REF_PREVIOUS && s->r.status == PW_OK && isfinite(s->r.distance);
        if (l->has[s->ref] && s->step < l->step[s->ref])
            continue; /* an older checkpoint's score: not the newest */
        l->has[s->ref] = 1;
        l->step[s->ref] = s->step;
        l->distance[s->ref] = s->r.status == PW_OK && isfinite(s->r.distance) ? s->r.distance : NAN;
        l->k_x[s->ref] = s->r.reduce.kind != PW_REDUCE_NONE ? (int64_t)s->r.k_x : -1;
        l->se[s->ref] =
            s->noise.blocks && !isnan(l->distance[s->ref]) ? s->noise.se[PW_METRIC_DISTANCE] : NAN;
        l->cleared &= ~(1u << s->ref);
    }
    for (size_t i = 0; t && i < t->n; i++) {
        lost |= t->layers[i].cleared != 0;
        t->layers[i].cleared = 0;
    }
    /* A newest score that was removed and not replaced: the one before it is
     * only in the database (a checkpoint that turned unreadable, a lost
     * predecessor, a layer that disappeared). */
    if (lost)
        pwd_metrics_run_load(d, r);
    changed(m, r);
}

void pwd_metrics_stable(pwd_daemon *d, pwd_run *r, const char *layer, int64_t step)
{
    if (!d->metrics)
        return;
    pwd_mrun *t = table_of(r);
    mlayer *l = t ? layer_of(t, layer) : NULL;
    if (l)
        l->stable_step = step;
    changed(d->metrics, r);
}

void pwd_metrics_chance(pwd_daemon *d, pwd_run *r, const pw_db_chance *c, size_t n)
{
    if (!d->metrics)
        return;
    pwd_mrun *t = table_of(r);
    for (size_t i = 0; t && i < t->n; i++)
        t->layers[i].has_chance = 0;
    for (size_t i = 0; t && i < n; i++) {
        mlayer *l = layer_of(t, c[i].layer);
        if (l) {
            l->has_chance = 1;
            l->chance = c[i].r.distance;
        }
    }
    changed(d->metrics, r);
}

void pwd_metrics_alert(pwd_daemon *d, const char *kind)
{
    if (!d->metrics)
        return;
    int k = pw_metrics_alert_index(kind);
    assert(k >= 0);
    if (k >= 0)
        d->metrics->alerts[k]++;
    changed(d->metrics, NULL);
}

/* Rendering ---------------------------------------------------------------------------- */

/* The run label: the display name, or the path when another watched run has
 * the same name, so every (run, layer) series stays unique. */
static const char *run_label(const pwd_daemon *d, const pwd_run *r)
{
    for (size_t i = 0; i < d->nruns; i++)
        if (d->runs[i] != r && strcmp(d->runs[i]->name, r->name) == 0)
            return r->path;
    return r->name;
}

static int render(void *ctx, pw_promtext *out, pw_err *err)
{
    pwd_metrics *m = ctx;
    const pwd_daemon *d = m->d;
    size_t n = 0;
    for (size_t i = 0; i < d->nruns; i++)
        n += d->runs[i]->metrics ? d->runs[i]->metrics->n : 0;
    if (n > m->snapcap) {
        pw_metrics_layer *g = realloc(m->snap, n * sizeof *g);
        if (!g)
            return pw_err_set(err, "out of memory for %zu layers", n);
        m->snap = g;
        m->snapcap = n;
    }
    size_t k = 0;
    for (size_t i = 0; i < d->nruns; i++) {
        const pwd_run *r = d->runs[i];
        if (!r->metrics)
            continue;
        const char *label = run_label(d, r);
        for (size_t j = 0; j < r->metrics->n; j++) {
            const mlayer *l = &r->metrics->layers[j];
            pw_metrics_layer *o = &m->snap[k++];
            o->run = label;
            o->layer = l->name;
            o->distance_previous = l->has[PW_REF_PREVIOUS] ? l->distance[PW_REF_PREVIOUS] : NAN;
            o->distance_final = l->has[PW_REF_FINAL] ? l->distance[PW_REF_FINAL] : NAN;
            o->stable = l->stable_step >= 0;
            o->stable_step = l->stable_step;
            o->measured = l->measured;
            /* The previous series first: it is the one the daemon watches. */
            int64_t kx = l->has[PW_REF_PREVIOUS] ? l->k_x[PW_REF_PREVIOUS]
                         : l->has[PW_REF_FINAL]  ? l->k_x[PW_REF_FINAL]
                                                 : -1;
            o->reduced_dims = kx > 0 ? (uint64_t)kx : 0;
            o->distance_se_previous = l->has[PW_REF_PREVIOUS] ? l->se[PW_REF_PREVIOUS] : NAN;
            o->distance_se_final = l->has[PW_REF_FINAL] ? l->se[PW_REF_FINAL] : NAN;
            o->has_chance = l->has_chance;
            o->chance_distance = l->chance;
        }
    }
    assert(k == n);
    pw_metrics_snapshot s;
    memset(&s, 0, sizeof s);
    s.layers = m->snap;
    s.nlayers = n;
    s.checkpoints_processed = d->done;
    s.checkpoints_failed = d->failed;
    memcpy(s.alerts, m->alerts, sizeof s.alerts);
    s.compute = m->compute;
    s.queue_length = pwd_sched_outstanding(d);
    pwd_retain_stats rs;
    pwd_retain_usage(d->retain, -1, &rs); /* locks: copies are written on compute threads */
    s.retained_bytes = rs.bytes;
    s.retained_copies = rs.copies;
    s.retain_budget_bytes = d->cfg.retain_budget_bytes;
    s.retain_evictions = rs.evictions;
    s.database_reopened = d->db_reopened;
    pw_metrics_run *runs = calloc(d->nruns ? d->nruns : 1, sizeof *runs);
    if (!runs)
        return pw_err_set(err, "out of memory for %zu runs", d->nruns);
    for (size_t i = 0; i < d->nruns; i++) {
        pwd_run_figures f;
        pwd_sched_figures(m->d, d->runs[i], &f);
        runs[i] = (pw_metrics_run){
            run_label(d, d->runs[i]), f.queue, f.last_s, f.mean_s, f.lag_s, f.eta_s, f.job_s};
    }
    s.runs = runs;
    s.nruns = d->nruns;
    int rc = pw_metrics_render(&s, out, err);
    free(runs);
    return rc;
}

/* Lifecycle ------------------------------------------------------------------------------ */

int pwd_metrics_start(pwd_daemon *d)
{
    /* --http serves /metrics too, on the one listener (web.c). */
    const char *addr = d->cfg.metrics_listen[0] ? d->cfg.metrics_listen : d->cfg.http_listen;
    if (!addr[0])
        return 0;
    pwd_metrics *m = calloc(1, sizeof *m);
    if (!m) {
        pwd_log(PWD_ERROR, "out of memory starting the metrics endpoint");
        return -1;
    }
    m->d = d;
    m->changes = 1;
    int web_failed;
    m->web = pwd_web_start(d, &web_failed);
    pw_err err;
    if (web_failed || pw_metrics_http_start(d->loop, addr, render, m, &err) != 0) {
        if (!web_failed)
            pwd_log(PWD_ERROR, "%s", err.msg);
        pwd_web_free(m->web);
        free(m);
        return -1;
    }
    d->metrics = m;
    pwd_log(PWD_INFO, "serving /metrics on %s (port %d)", addr, pw_metrics_http_port());
    if (m->web)
        pwd_web_started(d);
    return 0;
}

void pwd_metrics_stop(pwd_daemon *d)
{
    (void)d;
    pw_metrics_http_stop();
}

void pwd_metrics_free(pwd_daemon *d)
{
    pwd_metrics *m = d->metrics;
    if (!m)
        return;
    /* The loop has ended, so the endpoint's handles are all closed. */
    assert(!pw_metrics_http_active());
    pwd_web_free(m->web);
    for (size_t i = 0; i < d->nruns; i++) {
        if (d->runs[i]->metrics)
            mrun_clear(d->runs[i]->metrics);
        free(d->runs[i]->metrics);
        d->runs[i]->metrics = NULL;
    }
    free(m->snap);
    free(m);
    d->metrics = NULL;
}
