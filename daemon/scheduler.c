/* scheduler.c -- which pairs are missing, and the compute threads that fill them in.
 *
 * Planning (loop thread): lib/pw_plan.c decides, from the run's checkpoints,
 * which pairs are missing -- (t, previous) and, once the run has a final
 * checkpoint, (t, final) -- and this file turns the missing pairs of one
 * checkpoint into one job.  Jobs are handed out one per free compute thread
 * (feed), each the planner's choice at that moment: a run's newest checkpoint
 * first, round robin across runs, then the backlog, then the backfill
 * (docs/DAEMON.md, "Keeping up").
 *
 * Compute threads (pthreads, not libuv's pool, which also serves file
 * operations): open the checkpoints, run pw_engine_compare with t as X and
 * the reference as Y for every layer -- exactly what `pwcca compare t ref`
 * computes -- and store the checkpoint row, its layers and all scores in one
 * transaction on the thread's own connection.  The loop hears back through a
 * uv_async and re-plans.
 *
 * Cache (cache.c): each (checkpoint identity, layer) pw_side is kept within
 * the configured memory budget, so the steady state costs one Gram for the
 * new checkpoint and one cross product per layer. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "daemon.h"
#include "log.h"
#include "pw_array.h"
#include "pw_chance.h"
#include "pw_checkpoint.h"
#include "pw_engine.h"
#include "pw_plan.h"
#include "pw_probe.h"
#include "sticky.h"

/* One reference of a job. */
typedef struct job_ref {
    pw_plan_want want; /* compute the pair, only clear its stale rows, or neither */
    int64_t step;      /* reference step */
    char *path;        /* heap */
    char *ident;       /* cache identity (heap) */
    int present;       /* 0 when the reference was deleted */
} job_ref;

typedef struct chance_state chance_state; /* a job's chance levels (below) */

typedef struct pwd_job {
    struct pwd_job *next;          /* queue / done list link */
    pwd_run *run;                  /* loop-owned; workers do not touch it */
    int64_t run_id;                /* runs.id */
    char *run_name;                /* for score events (heap) */
    int64_t step;                  /* checkpoint t */
    char *path;                    /* heap */
    const char *beneath;           /* pwd_run_beneath at planning (the run's, lives as long) */
    char *ident;                   /* cache identity of t (heap) */
    int64_t size, mtime_ns, inode; /* identity written to the checkpoint row */
    unsigned gen;                  /* pwd_ckpt.gen when planned */
    int present;                   /* 0: t was deleted, only reference_unavailable rows */
    int need_x;                    /* write t's checkpoint row */
    job_ref prev, fin;             /* the two references */
    unsigned metrics;              /* PW_M_* */
    pw_reduce reduce;              /* the run's reduce setting when planned (auto: sticky.h) */
    pw_noise_mode noise;           /* the run's noise setting when planned */
    int noise_due;                 /* 1: this checkpoint's pairs get standard errors (its
                                      index among the run's checkpoints, pw_noise_due) */
    int rescore;                   /* pwcca rescore: rows are replaced only by scores that were
                                      computed (a reading that failed keeps the stored row) */
    uint64_t memory_bytes;         /* memory_mb when planned: a pair estimated above it is
                                      stored as over_budget (0 = no limit) */
    int chance;                    /* the run's chance setting when planned (1: on) */
    chance_state *cst;             /* chance levels (heap; NULL when off) */
    pwd_retain_req keep;           /* retention of t (run, step, identity, mode, budget) */
    pwd_lease lease;               /* shared store: the run's claim the commit checks */
    /* Results, written by the worker. */
    int lease_lost; /* the run's claim was no longer ours: nothing committed (share.c) */
    int committed;  /* the transaction went through */
    int stopped;    /* abandoned because the daemon is stopping */
    int x_bad;      /* t could not be read */
    int x_gone;     /* t was deleted after it was planned: nothing committed, the loop marks it */
    int x_kept;     /* t, stored before, cannot be read now: nothing committed, its rows stay */
    int ref_gone;   /* TRUNC_PREV / TRUNC_FINAL bits: that reference was found deleted */
    int truncated;  /* TRUNC_* bits: a file was truncated while read; nothing was committed */
    pw_err err;     /* why t was bad, or why the commit failed */
    char *events;   /* score events, one JSON per line (heap) */
    /* What was committed, kept for the loop's metrics (metrics.c). */
    pw_db_layer *layers;   /* layer rows written (heap) */
    size_t nlayers;        /* entries in layers */
    pw_db_group groups[2]; /* (step, ref) groups replaced */
    size_t ngroups;        /* entries in groups */
    pw_db_score *scores;   /* scores written (heap) */
    size_t nscores;        /* entries in scores */
    double seconds;        /* wall time the job took on its compute thread */
    /* Where it stands (status, /metrics), loop side except progress. */
    pw_plan_class cls;             /* its class when it was handed out */
    struct job_progress *progress; /* what it computes now, under pwd_sched.mu (heap) */
    pwd_cross *cross; /* a group's cross-run pair (groups.c) instead of a checkpoint of run, which
                         is then NULL; run_name, path and step name it for status */
} pwd_job;

/* What a running job is doing, for `status`: written by its compute thread and read
 * by the loop, both under pwd_sched.mu. */
typedef struct job_progress {
    struct pwd_job *job;     /* the job */
    struct job_progress *up; /* the next running job's progress (pwd_sched.running) */
    double started;          /* pwd_now() when a thread took the job, 0 while queued */
    pw_ref ref;              /* the reference being computed */
    int64_t ref_step;        /* its step, -1 before the first layer */
    char layer[PW_MAX_NAME]; /* the layer being computed, "" before the first */
} job_progress;

typedef struct pwd_sched {
    pwd_daemon *d;           /* owner */
    pthread_mutex_t mu;      /* guards everything below except async */
    pthread_cond_t cv;       /* work arrived or stop */
    pwd_job *queue;          /* waiting jobs */
    size_t nqueue, nrunning; /* for status */
    pwd_job *done;           /* finished, for the loop */
    uv_async_t async;        /* wakes the loop */
    pthread_t *threads;      /* compute threads */
    int nthreads;            /* started */
    atomic_int stop;         /* 1: finish now, do not commit partial work */
    pwd_cache *cache;        /* cached sides (cache.c, its own lock) */
    pwd_sticky *sticky;      /* reduce = auto's decisions (sticky.c, its own lock) */
    size_t outstanding;      /* jobs queued and not yet handled by the loop (loop thread only) */
    int resize_workers;      /* > 0: a reload asked for this many threads; no new jobs start */
    int resize_blas;         /* BLAS threads per worker to go with it */
    atomic_int retire;       /* 1: idle threads exit (the pool is being rebuilt) */
    int blas;                /* BLAS threads per worker now */
    int nalive;              /* compute threads started and not yet returned */
    uint64_t ticket;         /* counts jobs started: a run's `served` (loop thread only) */
    job_progress *running;   /* progress of the jobs on compute threads (under mu) */
    pthread_cond_t gone;     /* a compute thread returned (CLOCK_MONOTONIC, for the stop) */
} pwd_sched;

/* Computing ------------------------------------------------------------------------ */

/* A job's chance levels (pw_chance.h): one per (run, layer), computed at the
 * first pair of the layer that scores ok while none is stored. */
struct chance_state {
    pw_db_chance *have;   /* stored ones (read when the job starts), then this job's */
    size_t nhave, cap;    /* used / allocated in have */
    size_t first_new;     /* have[first_new ..] were computed by this job */
    pw_db_chance *stored; /* after the commit: every stored one of the run (for /metrics) */
    size_t nstored;       /* entries in stored; the loop takes them */
    int read;             /* 1: stored was read (0: not reached, or reading failed) */
};

static int chance_have_one(void *ctx, const pw_db_chance *c)
{
    chance_state *cs = ctx;
    pw_db_chance *g = pw_grow(cs->have, &cs->cap, cs->nhave + 1, sizeof *g, 16);
    if (!g)
        return 1;
    cs->have = g;
    cs->have[cs->nhave++] = *c;
    return 0;
}

static int chance_known(const chance_state *cs, const char *layer)
{
    for (size_t i = 0; i < cs->nhave; i++)
        if (strcmp(cs->have[i].layer, layer) == 0)
            return 1;
    return 0;
}

static void chance_free(chance_state *cs)
{
    if (!cs)
        return;
    free(cs->have);
    free(cs->stored);
    free(cs);
}

/* Which checkpoints of a job were truncated while they were read (pw_map.h). */
typedef enum trunc_bit { TRUNC_X = 1, TRUNC_PREV = 2, TRUNC_FINAL = 4 } trunc_bit;

/* What a Gram pass asks before each chunk. */
typedef struct pass_watch {
    atomic_int *stop;     /* the scheduler's stop flag */
    const pw_ckpt *ck[2]; /* the checkpoints read (the same one twice for t against itself) */
} pass_watch;

/* A long Gram pass ends soon once the daemon is stopping, or once a file it
 * reads was truncated: the rest would be zeros, and the result is dropped. */
static int stopping(void *ctx)
{
    const pass_watch *w = ctx;
    return atomic_load(w->stop) || pw_ckpt_truncated(w->ck[0]) || pw_ckpt_truncated(w->ck[1]);
}

/* A growing array of scores plus the events describing them. */
typedef struct score_list {
    pw_db_score *v; /* heap */
    size_t n, cap;  /* used / allocated */
} score_list;

static pw_db_score *score_add(score_list *l, const char *layer, int64_t step, pw_ref ref,
                              int64_t ref_step)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        pw_db_score *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return NULL;
        l->v = v;
        l->cap = cap;
    }
    pw_db_score *s = &l->v[l->n++];
    memset(s, 0, sizeof *s);
    pw_result_init(&s->r);
    pw_noise_result_init(&s->noise);
    snprintf(s->layer, sizeof s->layer, "%s", layer);
    s->step = step;
    s->ref = ref;
    s->ref_step = ref_step;
    return s;
}

static void score_status(pw_db_score *s, pw_status st, const char *msg)
{
    s->r.status = st;
    snprintf(s->r.message, sizeof s->r.message, "%s", msg);
}

/* The reduction to compute one layer pair with: the run's setting, or under
 * auto the layer's decision (sticky.h).  Without one, *deciding is set and
 * this pair decides: pw_engine_resolve_reduce applies auto's rule (exact
 * where the exact path scores and fits memory_mb, else dims:K; it reads the
 * rows only for a layer at least as wide as the probe), so the pair is then
 * computed -- and its sides cached -- under the mode it resolved to.
 * Returns 0, or -1 when reading the rows failed (err). */
static int layer_reduce(pwd_sched *s, const pwd_job *j, const pw_rows *px, const pw_rows *py,
                        const char *layer, int *deciding, pw_reduce *use, pw_err *err)
{
    *use = j->reduce;
    if (use->kind != PW_REDUCE_AUTO || pwd_sticky_take(s->sticky, j->run_id, layer, use))
        return 0;
    *deciding = 1;
    pw_reduce want = *use;
    return pw_engine_resolve_reduce(px, py, j->metrics, &want, j->memory_bytes, use, err);
}

/* The chance level of the pair (x = t, y = ref) into the job's list; a
 * failure (a read, the daemon stopping) is logged and leaves none. */
static void compute_chance(const pwd_job *j, const job_ref *ref, const pw_rows *px,
                           const pw_rows *py, const pw_tensor *tx, const pw_reduce *use,
                           pw_side **sx, pw_side **sy)
{
    chance_state *cs = j->cst;
    pw_db_chance c;
    memset(&c, 0, sizeof c);
    snprintf(c.layer, sizeof c.layer, "%s", tx->name);
    c.step_a = j->step;
    c.step_b = ref->step;
    c.seed = PW_CHANCE_SEED;
    pw_err err;
    pw_err_clear(&err);
    if (pw_chance_compare(px, py, pw_noise_inputs(tx), c.seed, j->metrics, use, sx, sy, &c.r,
                          &err) != 0) {
        pwd_log(PWD_WARNING,
                "%s: step %" PRId64 " vs step %" PRId64 ": layer %s: no chance level: %s",
                j->run_name, j->step, ref->step, tx->name, err.msg);
        return;
    }
    free(c.r.rho);
    c.r.rho = NULL;
    c.r.nrho = 0;
    if (chance_have_one(cs, &c) != 0)
        pwd_log(PWD_WARNING, "%s: layer %s: no chance level: out of memory", j->run_name, tx->name);
}

/* A pair's sides are done: give back the cache entries it borrowed (e[0] for
 * X, e[1] for Y) and keep the sides it computed fresh under ident[k] and
 * layer[k] for the next pair that needs them. */
static void pair_sides_done(pwd_sched *s, pwd_cache_entry *ex, pwd_cache_entry *ey,
                            const char *const ident[2], const char *const layer[2],
                            const char *rtext, pw_side *sx, pw_side *sy)
{
    pwd_cache_release(s->cache, ex);
    pwd_cache_release(s->cache, ey);
    if (!ex && sx)
        pwd_cache_put(s->cache, ident[0], layer[0], rtext, sx);
    if (!ey && sy && sy != sx)
        pwd_cache_put(s->cache, ident[1], layer[1], rtext, sy);
}

/* The score of a pair whose comparison returned rc: a failure (err) becomes
 * a read_error row, unless the daemon is stopping (-1: nothing is stored);
 * the canonical correlations are not stored, so they go. */
static int pair_result(pwd_sched *s, int rc, const pw_err *err, pw_db_score *out)
{
    if (rc != 0) {
        if (atomic_load(&s->stop))
            return -1;
        pw_result_free(&out->r);
        pw_result_init(&out->r);
        score_status(out, PW_READ_ERROR, err->msg);
    }
    free(out->r.rho);
    out->r.rho = NULL;
    out->r.nrho = 0;
    return 0;
}

/* One layer pair; -1 only when the daemon is stopping. */
static int compare_layer(pwd_sched *s, const pwd_job *j, const job_ref *ref, const pw_ckpt *x,
                         const pw_ckpt *y, const pw_tensor *tx, const pw_tensor *ty,
                         pw_db_score *out)
{
    /* The tensor's own rows, so the pass converts mapped F32/F64 directly. */
    pw_rows px = pw_rows_from_tensor(tx), py = pw_rows_from_tensor(ty);
    pass_watch watch = {&s->stop, {x, y}};
    px.cancelled = py.cancelled = stopping;
    px.cancel_ctx = py.cancel_ctx = &watch;
    int deciding = 0;
    pw_reduce use;
    pw_err err;
    pw_err_clear(&err);
    if (layer_reduce(s, j, &px, &py, tx->name, &deciding, &use, &err) != 0) {
        if (deciding)
            pwd_sticky_decided(s->sticky, j->run_id, tx->name, NULL, j->step);
        if (atomic_load(&s->stop))
            return -1;
        pw_result_init(&out->r);
        score_status(out, PW_READ_ERROR, err.msg);
        return 0;
    }
    assert(use.kind != PW_REDUCE_AUTO); /* resolved: sides are cached under what applies */
    /* Refused before anything is allocated: a pair that would not fit is
     * stored as over_budget, like any other status, and so never retried
     * (allocating it would get the daemon killed, restarted and killed again). */
    uint64_t est = 0;
    if (pw_engine_check_budget_reduced(&px, &py, j->metrics, &use, j->memory_bytes, "memory_mb",
                                       &est, &out->r)) {
        if (deciding)
            pwd_sticky_decided(s->sticky, j->run_id, tx->name, NULL, j->step);
        pwd_log(PWD_WARNING, "%s: step %" PRId64 " vs %s step %" PRId64 ": layer %s: %s",
                j->run_name, j->step, out->ref == PW_REF_FINAL ? "final" : "previous", ref->step,
                tx->name, out->r.message);
        return 0;
    }
    pwd_log(PWD_DEBUG,
            "%s: step %" PRId64 " vs step %" PRId64 ": layer %s (%" PRIu64 " x %" PRIu64
            " and %" PRIu64 " x %" PRIu64 "), estimated %" PRIu64 " MiB",
            j->run_name, j->step, ref->step, tx->name, px.nrows, px.ncols, py.nrows, py.ncols,
            est >> 20);
    char rtext[PW_REDUCE_TEXT_MAX];
    pw_reduce_format(&use, rtext, sizeof rtext);
    pwd_cache_entry *ex = pwd_cache_get(s->cache, j->ident, tx->name, rtext);
    pwd_cache_entry *ey = pwd_cache_get(s->cache, ref->ident, ty->name, rtext);
    pw_side *sx = ex ? pwd_cache_side(ex) : NULL, *sy = ey ? pwd_cache_side(ey) : NULL;
    int rc;
    if (j->noise_due && use.kind == PW_REDUCE_NONE)
        rc = pw_noise_compare(&px, &py, pw_noise_inputs(tx), j->metrics, &j->noise, j->memory_bytes,
                              "memory_mb", &sx, &sy, &out->r, &out->noise, &err);
    else
        rc = pw_engine_compare_reduced(&px, &py, j->metrics, &use, &sx, &sy, &out->r, &err);
    if (rc == 0 && out->noise.message[0])
        pwd_log(PWD_INFO, "%s: step %" PRId64 " vs step %" PRId64 ": layer %s: %s", j->run_name,
                j->step, ref->step, tx->name, out->noise.message);
    /* The layer's first pair that scored: its chance level, from the same
     * sides while the cache still holds them (one more cross pass). */
    if (rc == 0 && out->r.status == PW_OK && j->cst && !chance_known(j->cst, tx->name))
        compute_chance(j, ref, &px, &py, tx, &out->r.reduce, &sx, &sy);
    pair_sides_done(s, ex, ey, (const char *[]){j->ident, ref->ident},
                    (const char *[]){tx->name, ty->name}, rtext, sx, sy);
    /* A pair that scored decides; any other leaves the decision to the next pair. */
    if (deciding)
        pwd_sticky_decided(s->sticky, j->run_id, tx->name,
                           rc == 0 && out->r.status == PW_OK ? &out->r.reduce : NULL, j->step);
    out->sticky = j->reduce.kind == PW_REDUCE_AUTO && rc == 0;
    return pair_result(s, rc, &err, out);
}

/* "[64, 96]": a tensor's shape as stored, for messages. */
static void shape_text(const pw_tensor *t, char *buf, size_t len)
{
    size_t off = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < t->ndim && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%llu", i ? ", " : "",
                                (unsigned long long)t->shape[i]);
    if (off < len)
        snprintf(buf + off, len - off, "]");
}

/* A layer whose neurons changed between two checkpoints of one run (a width of 64
 * at one step, 96 at another) is a different layer: a distance between the two
 * would read as sudden instability.  Only the first axis, the datapoints, may
 * differ; the engine reports that one as n_mismatch. */
static int shape_changed(const pw_tensor *tx, const pw_tensor *ty)
{
    if (tx->ndim != ty->ndim || tx->cols != ty->cols || tx->nhwc != ty->nhwc)
        return 1;
    for (int i = 1; i < tx->ndim; i++)
        if (tx->shape[i] != ty->shape[i])
            return 1;
    return 0;
}

/* A file that failed to open because it no longer exists: deleted, not unreadable. */
static int path_gone(const char *path)
{
    struct stat st;
    return lstat(path, &st) != 0 && (errno == ENOENT || errno == ENOTDIR);
}

/* The layer a job starts on, for `status` (progress is the loop's to read, under mu). */
static void note_layer(pwd_sched *s, const pwd_job *j, pw_ref kind, int64_t ref_step,
                       const char *layer)
{
    pthread_mutex_lock(&s->mu);
    j->progress->ref = kind;
    j->progress->ref_step = ref_step;
    snprintf(j->progress->layer, sizeof j->progress->layer, "%s", layer);
    pthread_mutex_unlock(&s->mu);
}

/* The file's probe_fingerprint when it is one (1 to PW_PROBE_FP_MAX - 1 hex
 * digits, lowercase), else "": anything else a file claims is neither
 * stored nor compared nor quoted in a message. */
static void probe_fingerprint(const pw_ckpt *x, char *out, size_t len)
{
    const char *fp = pw_ckpt_meta(x, "probe_fingerprint");
    size_t n = fp ? strspn(fp, "0123456789abcdef") : 0;
    out[0] = '\0';
    if (fp && n > 0 && fp[n] == '\0' && n < len)
        memcpy(out, fp, n + 1);
}

/* Score every layer of x against one reference.  -1 when stopping or out of memory.
 * *truncated gets TRUNC_PREV or TRUNC_FINAL (by kind) when the reference's
 * file was truncated while it was read; *gone likewise when it was deleted. */
static int score_ref(pwd_sched *s, const pwd_job *j, const job_ref *ref, pw_ref kind, pw_ckpt *x,
                     score_list *l, int *truncated, int *gone)
{
    char msg[PW_ERR_MAX];
    size_t nx = pw_ckpt_nlayers(x);
    pw_ckpt *y = NULL;
    pw_err err;
    pw_err_clear(&err);
    int same = strcmp(ref->path, j->path) == 0;
    int opened =
        same || (ref->present && pw_ckpt_open_beneath(&y, ref->path, j->beneath, NULL, &err) == 0);
    /* A deleted or no longer readable reference: its retained copy, if it has one. */
    char *copy_ident = NULL;
    job_ref from_copy = *ref;
    if (!opened &&
        pwd_retain_open(s->d->retain, j->run_id, ref->step, ref->ident, &y, &copy_ident) == 0) {
        opened = 1;
        from_copy.ident = copy_ident;
        ref = &from_copy;
    }
    /* Deleted since it was planned: the same as deleted before (and the loop hears of it). */
    int deleted = !opened && ref->present && path_gone(ref->path);
    if (deleted)
        *gone |= kind == PW_REF_FINAL ? TRUNC_FINAL : TRUNC_PREV;
    if (!opened) {
        if (ref->present && !deleted) {
            pw_err_prefix(&err, "reference checkpoint step %" PRId64, ref->step);
            memcpy(msg, err.msg, sizeof msg);
        } else {
            snprintf(msg, sizeof msg,
                     "reference checkpoint step %" PRId64 " (%s) was deleted and no retained "
                     "copy exists",
                     ref->step, ref->path);
        }
        for (size_t i = 0; i < nx; i++) {
            pw_db_score *sc = score_add(l, pw_ckpt_layer(x, i)->name, j->step, kind, ref->step);
            if (!sc)
                return -1;
            score_status(sc, ref->present && !deleted ? PW_READ_ERROR : PW_REFERENCE_UNAVAILABLE,
                         msg);
        }
        return 0;
    }
    pw_ckpt *yy = same ? x : y;
    int rc = 0;
    /* The Probe (integrations/python) names its probe inputs and subsampling
     * in each file: rows of two different probes are different datapoints. */
    char fx[PW_PROBE_FP_MAX], fy[PW_PROBE_FP_MAX];
    probe_fingerprint(x, fx, sizeof fx);
    probe_fingerprint(yy, fy, sizeof fy);
    if (fx[0] && fy[0] && strcmp(fx, fy) != 0) {
        snprintf(msg, sizeof msg,
                 "the probe changed between step %" PRId64 " (probe_fingerprint %.40s) and %s "
                 "step %" PRId64 " (%.40s): their rows are different datapoints, so no layer is "
                 "compared; keep the probe inputs and their subsampling fixed for a run",
                 j->step, fx, kind == PW_REF_FINAL ? "final" : "previous", ref->step, fy);
        pwd_log(PWD_WARNING, "%s: %s", j->run_name, msg);
        for (size_t i = 0; i < nx && rc == 0; i++) {
            pw_db_score *sc = score_add(l, pw_ckpt_layer(x, i)->name, j->step, kind, ref->step);
            if (!sc)
                rc = -1;
            else
                score_status(sc, PW_PROBE_CHANGED, msg);
        }
        pw_ckpt_close(y);
        free(copy_ident);
        return rc;
    }
    /* Said before the work, so that a crash in it names the job. */
    pwd_log(PWD_INFO, "%s: computing step %" PRId64 " against the %s checkpoint, step %" PRId64,
            j->run_name, j->step, kind == PW_REF_FINAL ? "final" : "previous", ref->step);
    for (size_t i = 0; i < nx && rc == 0; i++) {
        const pw_tensor *tx = pw_ckpt_layer(x, i);
        const pw_tensor *ty = pw_ckpt_find(yy, tx->name);
        pw_db_score *sc = score_add(l, tx->name, j->step, kind, ref->step);
        if (!sc) {
            rc = -1;
        } else if (!ty) {
            snprintf(msg, sizeof msg,
                     "layer %s is in step %" PRId64 " but not in reference step %" PRId64, tx->name,
                     j->step, ref->step);
            score_status(sc, PW_MISSING, msg);
        } else if (shape_changed(tx, ty)) {
            char sx[128], sy[128];
            shape_text(tx, sx, sizeof sx);
            shape_text(ty, sy, sizeof sy);
            snprintf(msg, sizeof msg,
                     "layer %s changed shape: %s at step %" PRId64 ", %s at %s step %" PRId64
                     "; not compared",
                     tx->name, sx, j->step, sy, kind == PW_REF_FINAL ? "final" : "previous",
                     ref->step);
            score_status(sc, PW_SHAPE_CHANGED, msg);
            sc->r.n = tx->rows;
            sc->r.p = tx->cols;
            sc->r.q = ty->cols;
            pwd_log(PWD_WARNING, "%s: %s", j->run_name, msg);
        } else {
            note_layer(s, j, kind, ref->step, tx->name);
            rc = compare_layer(s, j, ref, x, yy, tx, ty, sc);
        }
    }
    for (size_t i = 0; i < pw_ckpt_nlayers(yy) && rc == 0; i++) {
        const pw_tensor *ty = pw_ckpt_layer(yy, i);
        if (pw_ckpt_find(x, ty->name))
            continue;
        pw_db_score *sc = score_add(l, ty->name, j->step, kind, ref->step);
        if (!sc) {
            rc = -1;
            break;
        }
        snprintf(msg, sizeof msg,
                 "layer %s is in reference step %" PRId64 " but not in step %" PRId64, ty->name,
                 ref->step, j->step);
        score_status(sc, PW_MISSING, msg);
    }
    if (pw_ckpt_truncated(y))
        *truncated |= kind == PW_REF_FINAL ? TRUNC_FINAL : TRUNC_PREV;
    pw_ckpt_close(y);
    free(copy_ident);
    return rc;
}

/* Whether the name ends with suffix. */
static int ends_with(const char *name, const char *suffix)
{
    size_t n = strlen(name), k = strlen(suffix);
    return n >= k && strcmp(name + n - k, suffix) == 0;
}

/* A model's state_dict saved where activations belong reads fine and scores as
 * nonsense, so it is named (docs/FORMATS.md, "Weights are not activations"):
 * no "layers" metadata (the project's writers put it), at least half of the
 * tensors named like parameters, and one of those 1-D (a bias or a norm's
 * statistics: activations are never 1-D under a parameter's name).  1 with
 * why filled when it looks so. */
static int looks_like_weights(const pw_ckpt *x, char *why, size_t len)
{
    static const char *const suffixes[] = {".weight", ".bias", "running_mean", "running_var",
                                           "num_batches_tracked"};
    if (pw_ckpt_meta(x, "layers"))
        return 0;
    size_t n = pw_ckpt_nlayers(x), named = 0, flat = 0;
    const char *example = NULL;
    for (size_t i = 0; i < n; i++) {
        const pw_tensor *t = pw_ckpt_layer(x, i);
        int param = 0;
        for (size_t k = 0; k < sizeof suffixes / sizeof suffixes[0]; k++)
            param |= ends_with(t->name, suffixes[k]);
        named += param;
        if (param && t->ndim == 1) {
            flat++;
            if (!example)
                example = t->name;
        }
    }
    if (n == 0 || 2 * named < n || flat == 0)
        return 0;
    snprintf(why, len,
             "this looks like model weights, not activations: %zu of %zu tensors are named like "
             "parameters (.weight, .bias, running_mean), %zu of them 1-D (e.g. %s), and there is "
             "no \"layers\" metadata; its scores compare weights",
             named, n, flat, example);
    return 1;
}

/* Rows for a deleted checkpoint's final backfill: one per known layer. */
typedef struct unavail_ctx {
    score_list *l;    /* where to add */
    const pwd_job *j; /* the job */
    int oom;          /* out of memory */
} unavail_ctx;

static int add_unavailable(void *ctx, const char *name, int depth)
{
    unavail_ctx *u = ctx;
    (void)depth;
    pw_db_score *sc = score_add(u->l, name, u->j->step, PW_REF_FINAL, u->j->fin.step);
    if (!sc)
        return u->oom = 1;
    char msg[PW_ERR_MAX];
    snprintf(msg, sizeof msg,
             "checkpoint step %" PRId64 " (%s) was deleted before it could be compared with the "
             "final checkpoint, and no retained copy exists",
             u->j->step, u->j->path);
    score_status(sc, PW_REFERENCE_UNAVAILABLE, msg);
    return 0;
}

/* A copy being written is abandoned when the daemon stops. */
static int retain_cancel(void *ctx)
{
    pwd_sched *s = ctx;
    return atomic_load(&s->stop);
}

static json_t *num_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static char *score_events(const pwd_job *j, const score_list *l)
{
    size_t len = 0, cap = 0;
    char *buf = NULL;
    for (size_t i = 0; i < l->n; i++) {
        const pw_db_score *s = &l->v[i];
        char reduce[PW_REDUCE_TEXT_MAX]; /* the mode that produced it, as scores.reduce stores it */
        pw_reduce_format(&s->r.reduce, reduce, sizeof reduce);
        json_t *o = json_pack("{s:s, s:o, s:o, s:I, s:s, s:I, s:o, s:o, s:s, s:s}", "event",
                              "score", "run", pwd_json_text(j->run_name), "layer",
                              pwd_json_text(s->layer), "step", (json_int_t)s->step, "ref",
                              pw_ref_name(s->ref), "ref_step", (json_int_t)s->ref_step, "pwcca",
                              num_or_null(s->r.pwcca), "distance", num_or_null(s->r.distance),
                              "status", pw_status_name(s->r.status), "reduce", reduce);
        char *line = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
        json_decref(o);
        if (!line)
            continue;
        size_t n = strlen(line);
        if (len + n + 2 > cap) {
            size_t ncap = (len + n + 2) * 2;
            char *g = realloc(buf, ncap);
            if (!g) {
                free(line);
                break;
            }
            buf = g;
            cap = ncap;
        }
        memcpy(buf + len, line, n);
        len += n;
        buf[len++] = '\n';
        buf[len] = '\0';
        free(line);
    }
    return buf;
}

/* pwcca rescore replaces a stored row only with a score that was computed: a
 * pair whose checkpoint could not be read (deleted without a retained copy,
 * unreadable now) is dropped from the batch, and its stored row stays. */
static void rescore_keep_old(score_list *l)
{
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++) {
        pw_status st = l->v[i].r.status;
        if (st != PW_READ_ERROR && st != PW_REFERENCE_UNAVAILABLE)
            l->v[k++] = l->v[i];
    }
    l->n = k;
}

/* After the commit: the chance levels this job computed (the first stored for
 * a layer stays), then every stored one of the run, for the loop's /metrics. */
static void store_chance(pw_db *db, pwd_job *j)
{
    chance_state *cs = j->cst;
    if (!cs || cs->nhave == cs->first_new)
        return;
    pw_err err;
    int64_t added = 0;
    if (pw_db_chance_add(db, j->run_id, cs->have + cs->first_new, cs->nhave - cs->first_new, &added,
                         &err) != 0) {
        pwd_log(PWD_WARNING, "%s: storing the chance levels: %s", j->run_name, err.msg);
        return;
    }
    for (size_t i = cs->first_new; i < cs->nhave; i++)
        pwd_log(PWD_INFO,
                "%s: layer %s: chance distance %.6g (step %" PRId64 " against step %" PRId64
                " with its inputs shuffled, seed %" PRIu64 ")",
                j->run_name, cs->have[i].layer, cs->have[i].r.distance, cs->have[i].step_a,
                cs->have[i].step_b, cs->have[i].seed);
    chance_state got = {0};
    if (pw_db_chance_each(db, j->run_id, chance_have_one, &got, &err) != 0) {
        free(got.have);
        return;
    }
    cs->stored = got.have;
    cs->nstored = got.nhave;
    cs->read = 1;
}

static void run_job(pwd_sched *s, pw_db *db, pwd_job *j)
{
    pw_ckpt *x = NULL;
    score_list l = {0};
    pw_db_layer *layers = NULL;
    size_t nlayers = 0;
    pw_db_ckpt *row = NULL;
    pw_db_group groups[2];
    size_t ngroups = 0;
    int rc = 0;

    int x_copy = 0;
    if (j->reduce.kind == PW_REDUCE_AUTO && pwd_sticky_load(s->sticky, db, j->run_id, &j->err) != 0)
        return; /* not committed: tried again soon */
    /* Which layers of the run have their chance level: the others get it at
     * their first pair that scores (a reading that fails computes none). */
    if (j->chance && (j->cst = calloc(1, sizeof *j->cst)) != NULL) {
        pw_err cerr;
        if (pw_db_chance_each(db, j->run_id, chance_have_one, j->cst, &cerr) != 0) {
            pwd_log(PWD_WARNING, "%s: reading the chance levels: %s", j->run_name, cerr.msg);
            chance_free(j->cst);
            j->cst = NULL;
        } else {
            j->cst->first_new = j->cst->nhave;
        }
    }
    if (j->present && pw_ckpt_open_beneath(&x, j->path, j->beneath, NULL, &j->err) != 0)
        x = NULL;
    if (!x && !j->need_x) {
        /* Stored before, and now deleted or unreadable: its retained copy, if any.  A
         * checkpoint's first reading is always from its own file. */
        char *copy_ident = NULL;
        x_copy = pwd_retain_open(s->d->retain, j->run_id, j->step, j->ident, &x, &copy_ident) == 0;
        if (x_copy) {
            free(j->ident);
            j->ident = copy_ident;
            pw_err_clear(&j->err);
        }
    }
    if (!x && j->present) {
        /* A failed reading never costs stored history: a file deleted since it was
         * planned (its run directory removed mid-job, say) is not unreadable, and a
         * stored checkpoint that cannot be read now keeps its row and scores.  Only a
         * new identity that cannot be read is recorded as read_error. */
        if (path_gone(j->path)) {
            j->x_gone = 1;
            return;
        }
        if (!j->need_x) {
            j->x_kept = 1;
            return;
        }
        j->x_bad = 1;
    }
    if (j->need_x || j->x_bad) {
        row = calloc(1, sizeof *row);
        if (!row) {
            pw_err_set(&j->err, "out of memory");
            return;
        }
        row->step = j->step;
        snprintf(row->path, sizeof row->path, "%s", j->path);
        row->size = j->size;
        row->mtime_ns = j->mtime_ns;
        row->inode = j->inode;
        row->present = 1;
        row->status = j->x_bad ? PW_READ_ERROR : PW_OK;
        if (j->x_bad)
            snprintf(row->error, sizeof row->error, "%s", j->err.msg);
        if (x)
            probe_fingerprint(x, row->probe, sizeof row->probe);
        if (!j->x_bad && x && looks_like_weights(x, row->error, sizeof row->error))
            pwd_log(PWD_WARNING, "%s: step %" PRId64 " (%s): %s", j->run_name, j->step, j->path,
                    row->error); /* once per file: need_x is set once per identity */
    }
    if (x && !x_copy) {
        nlayers = pw_ckpt_nlayers(x);
        layers = calloc(nlayers ? nlayers : 1, sizeof *layers);
        if (!layers)
            rc = -1;
        for (size_t i = 0; i < nlayers && layers; i++)
            pw_db_layer_from_tensor(&layers[i], pw_ckpt_layer(x, i), (int)i);
    }
    /* A bad checkpoint has no scores: clear whatever an earlier identity left.  A
     * rescore replaces row by row instead (rescore_keep_old), but a reference that
     * no longer exists still takes its stale rows with it. */
    if (j->prev.want == PW_WANT_CLEAR || (!j->rescore && j->prev.want != PW_WANT_NONE) || j->x_bad)
        groups[ngroups++] = (pw_db_group){j->step, PW_REF_PREVIOUS};
    if ((!j->rescore && j->fin.want != PW_WANT_NONE) || j->x_bad)
        groups[ngroups++] = (pw_db_group){j->step, PW_REF_FINAL};
    if (rc == 0 && x && j->prev.want == PW_WANT_COMPUTE)
        rc = score_ref(s, j, &j->prev, PW_REF_PREVIOUS, x, &l, &j->truncated, &j->ref_gone);
    if (rc == 0 && j->fin.want == PW_WANT_COMPUTE) {
        if (x) {
            rc = score_ref(s, j, &j->fin, PW_REF_FINAL, x, &l, &j->truncated, &j->ref_gone);
        } else if (!j->present && !j->rescore) {
            unavail_ctx u = {&l, j, 0};
            if (pw_db_layers(db, j->run_id, add_unavailable, &u, &j->err) || u.oom)
                rc = -1;
        }
    }
    if (j->rescore)
        rescore_keep_old(&l);
    /* A file truncated while it was read gave zeros for its missing part:
     * nothing computed from it is kept (the loop has it read again). */
    if (pw_ckpt_truncated(x))
        j->truncated |= TRUNC_X;
    /* The copy goes to disk before the commit: after a crash in between, the copy has
     * no row, is dropped at the next start, and the recomputation writes it again. */
    if (rc == 0 && j->need_x && !j->truncated && !atomic_load(&s->stop)) {
        pwd_retain_store(s->d->retain, &j->keep, x, retain_cancel, s);
        if (pw_ckpt_truncated(x)) { /* during the copy: drop it */
            j->truncated |= TRUNC_X;
            pwd_retain_store(s->d->retain, &j->keep, NULL, retain_cancel, s);
        }
    }
    if (pw_ckpt_close(x), rc != 0 || j->truncated || atomic_load(&s->stop)) {
        if (atomic_load(&s->stop))
            j->stopped = 1;
        else if (j->truncated)
            pw_err_set(&j->err, "%s was truncated while it was read",
                       j->truncated & TRUNC_X      ? j->path
                       : j->truncated & TRUNC_PREV ? j->prev.path
                                                   : j->fin.path);
        else if (!j->err.msg[0])
            pw_err_set(&j->err, "step %" PRId64 ": out of memory", j->step);
    } else {
        pw_db_batch b = {row,
                         layers,
                         nlayers,
                         groups,
                         ngroups,
                         l.v,
                         l.n,
                         j->lease.unit[0] ? j->lease.unit : NULL,
                         j->lease.daemon,
                         j->lease.since};
        int crc = pw_db_commit(db, j->run_id, &b, &j->err);
        j->lease_lost = crc == PW_DB_LEASE_LOST;
        if (crc == 0) {
            j->committed = 1;
            j->events = score_events(j, &l);
            /* Handed to the loop with the job: the metrics mirror what was written. */
            j->layers = layers;
            j->nlayers = nlayers;
            memcpy(j->groups, groups, sizeof groups);
            j->ngroups = ngroups;
            j->scores = l.v;
            j->nscores = l.n;
            layers = NULL;
            l.v = NULL;
            store_chance(db, j);
        }
    }
    free(row);
    free(layers);
    free(l.v);
}

/* Cross-run pairs (groups.c) ----------------------------------------------------------- */

/* One layer of A against B's layer of the same name, as `pwcca compare A B`
 * computes it: reduce = auto resolved for this pair alone (a run's sticky
 * decision is about its own series), sides from and into the cache.  -1 only
 * when the daemon is stopping. */
static int cross_layer(pwd_sched *s, const pwd_cross *x, const pw_ckpt *ca, const pw_ckpt *cb,
                       const pw_tensor *ta, const pw_tensor *tb, pw_db_score *out)
{
    pw_rows px = pw_rows_from_tensor(ta), py = pw_rows_from_tensor(tb);
    pass_watch watch = {&s->stop, {ca, cb}};
    px.cancelled = py.cancelled = stopping;
    px.cancel_ctx = py.cancel_ctx = &watch;
    pw_reduce use = x->reduce;
    pw_err err;
    pw_err_clear(&err);
    if (use.kind == PW_REDUCE_AUTO) {
        pw_reduce want = use;
        if (pw_engine_resolve_reduce(&px, &py, x->metrics, &want, x->memory_bytes, &use, &err)) {
            if (atomic_load(&s->stop))
                return -1;
            score_status(out, PW_READ_ERROR, err.msg);
            return 0;
        }
    }
    uint64_t est = 0;
    if (pw_engine_check_budget_reduced(&px, &py, x->metrics, &use, x->memory_bytes, "memory_mb",
                                       &est, &out->r)) {
        pwd_log(PWD_WARNING, "%s: layer %s: %s", x->label, ta->name, out->r.message);
        return 0;
    }
    char rtext[PW_REDUCE_TEXT_MAX];
    pw_reduce_format(&use, rtext, sizeof rtext);
    pwd_cache_entry *ea = pwd_cache_get(s->cache, x->ident_a, ta->name, rtext);
    pwd_cache_entry *eb = pwd_cache_get(s->cache, x->ident_b, tb->name, rtext);
    pw_side *sa = ea ? pwd_cache_side(ea) : NULL, *sb = eb ? pwd_cache_side(eb) : NULL;
    int rc = pw_engine_compare_reduced(&px, &py, x->metrics, &use, &sa, &sb, &out->r, &err);
    pair_sides_done(s, ea, eb, (const char *[]){x->ident_a, x->ident_b},
                    (const char *[]){ta->name, tb->name}, rtext, sa, sb);
    return pair_result(s, rc, &err, out);
}

/* A row per layer of a (against b's of the same name) and per layer only b has;
 * -1 when stopping or out of memory.  mismatch: every row is probe_mismatch. */
static int cross_rows(pwd_sched *s, pwd_cross *x, const pw_ckpt *ca, const pw_ckpt *cb,
                      const char *mismatch, score_list *l)
{
    char msg[PW_ERR_MAX];
    for (size_t i = 0; i < pw_ckpt_nlayers(ca); i++) {
        const pw_tensor *ta = pw_ckpt_layer(ca, i), *tb = pw_ckpt_find(cb, ta->name);
        pw_db_score *sc = score_add(l, ta->name, x->step_a, PW_REF_PREVIOUS, x->step_b);
        if (!sc)
            return -1;
        if (mismatch) {
            score_status(sc, PW_PROBE_MISMATCH, mismatch);
        } else if (!tb) {
            snprintf(msg, sizeof msg,
                     "layer %s is in %s step %" PRId64 " but not in %s step %" PRId64, ta->name,
                     x->name_a, x->step_a, x->name_b, x->step_b);
            score_status(sc, PW_MISSING, msg);
        } else if (cross_layer(s, x, ca, cb, ta, tb, sc) != 0) {
            return -1;
        }
    }
    for (size_t i = 0; i < pw_ckpt_nlayers(cb); i++) {
        const pw_tensor *tb = pw_ckpt_layer(cb, i);
        if (pw_ckpt_find(ca, tb->name))
            continue;
        pw_db_score *sc = score_add(l, tb->name, x->step_a, PW_REF_PREVIOUS, x->step_b);
        if (!sc)
            return -1;
        snprintf(msg, sizeof msg, "layer %s is in %s step %" PRId64 " but not in %s step %" PRId64,
                 tb->name, x->name_b, x->step_b, x->name_a, x->step_a);
        score_status(sc, mismatch ? PW_PROBE_MISMATCH : PW_MISSING, mismatch ? mismatch : msg);
    }
    return 0;
}

/* Read both checkpoints (each once: the cross Grams need both), score every layer
 * pair and store them in one transaction.  Not stored when a file cannot be read,
 * was truncated meanwhile, or the daemon stops: the loop has it tried again. */
static void run_cross(pwd_sched *s, pw_db *db, pwd_cross *x)
{
    pw_ckpt *ca = NULL, *cb = NULL;
    score_list l = {0};
    if (pw_ckpt_open_beneath(&ca, x->path_a, x->beneath_a, NULL, &x->err) != 0 ||
        pw_ckpt_open_beneath(&cb, x->path_b, x->beneath_b, NULL, &x->err) != 0)
        goto out;
    /* Rows of two different probes are different datapoints: refused, stored as such. */
    char fa[PW_PROBE_FP_MAX], fb[PW_PROBE_FP_MAX], la[PW_ERR_MAX / 4], lb[PW_ERR_MAX / 4];
    pw_probe_fingerprint(ca, fa, sizeof fa);
    pw_probe_fingerprint(cb, fb, sizeof fb);
    snprintf(la, sizeof la, "%.200s:%" PRId64, x->name_a, x->step_a);
    snprintf(lb, sizeof lb, "%.200s:%" PRId64, x->name_b, x->step_b);
    pw_probe_verdict v = pw_probe_check(fa, la, fb, lb, x->why, sizeof x->why);
    x->mismatch = v == PW_PROBE_DIFFERENT;
    x->unchecked = v == PW_PROBE_UNKNOWN;
    pwd_log(PWD_DEBUG, "%s: computing", x->label);
    int rc = cross_rows(s, x, ca, cb, x->mismatch ? x->why : NULL, &l);
    if (atomic_load(&s->stop)) {
        x->stopped = 1;
    } else if (pw_ckpt_truncated(ca) || pw_ckpt_truncated(cb)) {
        pw_err_set(&x->err, "a checkpoint was truncated while it was read");
    } else if (rc != 0) {
        pw_err_set(&x->err, "out of memory");
    } else {
        pw_db_cross c = {
            x->group,        x->run_a,      x->run_b, x->step_a,
            x->step_b,       l.v,           l.n,      x->lease.unit[0] ? x->lease.unit : NULL,
            x->lease.daemon, x->lease.since};
        int crc = pw_db_cross_commit(db, &c, &x->err);
        x->lease_lost = crc == PW_DB_LEASE_LOST;
        if (crc == 0) {
            x->committed = 1;
            x->nrows = l.n;
        }
    }
out:
    if (!x->committed && !x->stopped && atomic_load(&s->stop))
        x->stopped = 1;
    pw_ckpt_close(ca);
    pw_ckpt_close(cb);
    free(l.v);
}

/* The loop hands out jobs in the planner's order (feed), so the oldest queued goes first. */
static pwd_job *pick_job(pwd_sched *s)
{
    pwd_job *j = s->queue;
    if (!j)
        return NULL;
    s->queue = j->next;
    j->next = NULL;
    s->nqueue--;
    return j;
}

static void *worker_main(void *arg)
{
    pwd_sched *s = arg;
    pw_db *db = NULL;
    pw_err err;
    if (pw_db_open(&db, s->d->db_path, PW_DB_BUSY_MS, 6, &err)) {
        pwd_log(PWD_ERROR, "compute thread: %s", err.msg);
        db = NULL;
    }
    pthread_mutex_lock(&s->mu);
    while (!atomic_load(&s->stop) && !atomic_load(&s->retire)) {
        /* A pending resize waits for every running job: BLAS's thread count is
         * process-wide and must not change under a running dgemm. */
        pwd_job *j = s->resize_workers ? NULL : pick_job(s);
        if (!j) {
            pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        s->nrunning++;
        j->progress->started = pwd_now();
        j->progress->up = s->running;
        s->running = j->progress;
        pthread_mutex_unlock(&s->mu);
        double t0 = pwd_now();
        if (db && j->cross)
            run_cross(s, db, j->cross);
        else if (db)
            run_job(s, db, j);
        else if (j->cross)
            pw_err_set(&j->cross->err, "compute thread has no database connection");
        else
            pw_err_set(&j->err, "compute thread has no database connection");
        j->seconds = pwd_now() - t0;
        pthread_mutex_lock(&s->mu);
        s->nrunning--;
        for (job_progress **pp = &s->running; *pp; pp = &(*pp)->up)
            if (*pp == j->progress) {
                *pp = j->progress->up;
                break;
            }
        j->next = s->done;
        s->done = j;
        uv_async_send(&s->async);
    }
    pthread_mutex_unlock(&s->mu);
    pw_db_close(db);
    pthread_mutex_lock(&s->mu);
    s->nalive--;
    pthread_cond_broadcast(&s->gone);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Loop side ---------------------------------------------------------------------------- */

static void job_free(pwd_job *j)
{
    free(j->run_name);
    free(j->path);
    free(j->ident);
    free(j->prev.path);
    free(j->prev.ident);
    free(j->fin.path);
    free(j->fin.ident);
    free(j->events);
    free(j->layers);
    free(j->scores);
    free(j->progress);
    chance_free(j->cst);
    pwd_cross_free(j->cross);
    free(j);
}

static char *ident_of(const pwd_run *r, const pwd_ckpt *c)
{
    char *out = NULL;
    if (asprintf(&out, "%" PRId64 ":%s:%" PRId64 ":%" PRId64 ":%" PRId64, r->id, c->path, c->inode,
                 c->mtime_ns, c->size) < 0)
        return NULL;
    return out;
}

/* A checkpoint whose file was truncated while a job read it: its identity
 * is forgotten, so the next scan sees a changed file and settles it again
 * (accept_ckpt then has it recomputed), as if it had changed before the read. */
static void forget_identity(pwd_run *r, int64_t step)
{
    pwd_ckpt *c = pwd_run_find_step(r, step);
    if (c)
        c->size = c->mtime_ns = c->inode = -1;
}

/* The loop learnt that a checkpoint's file is gone: what a scan would conclude. */
static void mark_gone(pwd_daemon *d, pwd_run *r, pwd_ckpt *c)
{
    if (!c || !c->present)
        return;
    c->present = 0;
    pwd_log(PWD_INFO, "%s: step %" PRId64 " was deleted; its history stays", r->name, c->step);
    pw_err err;
    /* Also when not processed: a replaced file's older row may be stored (no row: no-op). */
    if (pw_db_checkpoint_set_present(d->db, r->id, c->step, 0, &err))
        pwd_log(PWD_ERROR, "%s: %s", r->name, err.msg);
}

/* How long, in seconds, a checkpoint whose job did not go through waits before it is
 * planned again (pwd_ckpt.retry_at). */
typedef enum retry_delay {
    RETRY_SOON = 5,           /* a failed commit, or a reference truncated while it was read */
    RETRY_KEPT = 60,          /* stored before and unreadable now: its rows stay meanwhile */
    RETRY_NEVER = 1000000000, /* truncated itself: only its new identity is planned (accept_ckpt
                                 clears retry_at) */
} retry_delay;

/* What a committed job wrote, as the loop's mirrors (metrics, alerts) read it. */
static pw_db_batch job_batch(const pwd_job *j)
{
    return (pw_db_batch){NULL,      j->layers,  j->nlayers, j->groups, j->ngroups,
                         j->scores, j->nscores, NULL,       0,         0};
}

/* A committed job's figures for `status` and /metrics: its compute seconds, and for
 * a live checkpoint the lag from its file's mtime to its scores being committed. */
static void note_done(pwd_run *r, const pwd_job *j)
{
    /* A failure a user waiting on the run hears of: a checkpoint that cannot be read,
     * or work that could not be stored (both retried or recorded, see finish_job). */
    if (!j->stopped && !j->lease_lost &&
        (j->x_bad || j->x_kept || (!j->committed && !j->truncated && !j->x_gone)))
        r->stats.failed++;
    if (!j->committed)
        return;
    r->stats.jobs++;
    /* A checkpoint without a reference (a run's first) stores its row and scores
     * nothing in a millisecond: counted, it made the mean (and ETA = queue x mean)
     * about 0 while the run's first real pair took minutes. */
    if (j->nscores > 0) {
        r->stats.last_s = j->seconds;
        r->stats.sum_s += j->seconds;
        r->stats.timed++;
    }
    if (j->cls == PW_CLASS_LIVE && j->need_x && j->mtime_ns > 0) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        double lag = (double)now.tv_sec + (double)now.tv_nsec * 1e-9 - (double)j->mtime_ns * 1e-9;
        r->stats.lag_s = lag > 0 ? lag : 0;
        r->stats.lag_step = j->step;
        r->stats.has_lag = 1;
    }
}

static void finish_job(pwd_daemon *d, pwd_job *j)
{
    pwd_run *r = j->run;
    note_done(r, j);
    if (j->committed) {
        /* Whatever became of the checkpoint since, this is in the database now. */
        pw_db_batch b = job_batch(j);
        pwd_metrics_commit(d, r, &b, j->seconds);
        if (j->cst && j->cst->read)
            pwd_metrics_chance(d, r, j->cst->stored, j->cst->nstored);
    }
    if (j->truncated && !j->stopped) {
        pwd_log(PWD_WARNING,
                "%s: step %" PRId64 ": %s; nothing of it is stored, and it is read again once "
                "it settles",
                r->name, j->step, j->err.msg);
        pwd_set_error(d, "%s: step %" PRId64 ": %s", r->name, j->step, j->err.msg);
        if (j->truncated & TRUNC_PREV)
            forget_identity(r, j->prev.step);
        if (j->truncated & TRUNC_FINAL)
            forget_identity(r, j->fin.step);
    }
    if (j->ref_gone & TRUNC_PREV)
        mark_gone(d, r, pwd_run_find_step(r, j->prev.step));
    if (j->ref_gone & TRUNC_FINAL)
        mark_gone(d, r, pwd_run_find_step(r, j->fin.step));
    pwd_ckpt *c = pwd_run_find_step(r, j->step);
    if (!c)
        return;
    c->busy = 0;
    if (j->stopped || c->gen != j->gen)
        return;
    if (j->x_gone) {
        mark_gone(d, r, c);
        return;
    }
    if (j->lease_lost) {
        /* Its holder now does the work, and this daemon reads it from the store when it
         * claims the run again (pwd_run_sync). */
        pwd_share_run_lost(d, r);
        return;
    }
    if (j->x_kept && j->rescore) {
        pwd_log(PWD_WARNING, "%s: step %" PRId64 ": %s; not rescored, its stored results are kept",
                r->name, j->step, j->err.msg);
        return;
    }
    if (j->x_kept) {
        pwd_log_once(c->path, PWD_WARNING,
                     "%s: step %" PRId64 ": %s; its stored results are kept, and it is tried "
                     "again in a minute",
                     r->name, j->step, j->err.msg);
        /* The planner cleared these when it queued the job; the work is still owed. */
        c->dirty_prev |= j->prev.want != PW_WANT_NONE;
        c->dirty_final |= j->fin.want != PW_WANT_NONE;
        c->retry_at = pwd_now() + RETRY_KEPT;
        return;
    }
    if (j->truncated) {
        if (j->truncated & TRUNC_X)
            forget_identity(r, j->step);
        /* t itself waits for its new identity (accept_ckpt clears retry_at);
         * with only a reference truncated, t is tried again a little later. */
        c->retry_at = pwd_now() + ((j->truncated & TRUNC_X) ? RETRY_NEVER : RETRY_SOON);
        return;
    }
    if (!j->committed) {
        pwd_log(PWD_ERROR, "%s: step %" PRId64 ": %s (will retry)", r->name, j->step, j->err.msg);
        pwd_set_error(d, "%s: step %" PRId64 ": %s", r->name, j->step, j->err.msg);
        c->retry_at = pwd_now() + RETRY_SOON;
        return;
    }
    if (j->need_x || j->x_bad) {
        c->processed = 1;
        c->bad = j->x_bad;
        if (j->x_bad) {
            d->failed++;
            pwd_log_once(c->path, PWD_WARNING, "%s: %s", r->name, j->err.msg);
            pwd_set_error(d, "%s", j->err.msg);
        } else {
            d->done++;
            pwd_log_forget(c->path);
            pwd_log(PWD_INFO, "%s: step %" PRId64 " stored", r->name, j->step);
        }
    }
    if (j->x_bad) {
        c->prev_ref = c->final_ref = PW_PLAN_NO_STEP;
    } else {
        if (j->prev.want != PW_WANT_NONE)
            c->prev_ref = j->prev.want == PW_WANT_COMPUTE ? j->prev.step : PW_PLAN_NO_STEP;
        if (j->fin.want != PW_WANT_NONE)
            c->final_ref = j->fin.step;
    }
    if (j->events) {
        char *save = NULL;
        for (char *line = strtok_r(j->events, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save))
            pwd_control_broadcast(d, line);
    }
}

static void apply_resize(pwd_daemon *d);
static void feed(pwd_daemon *d);

static void on_async(uv_async_t *h)
{
    pwd_daemon *d = h->data;
    pwd_sched *s = d->sched;
    pthread_mutex_lock(&s->mu);
    pwd_job *done = s->done;
    s->done = NULL;
    pthread_mutex_unlock(&s->mu);
    while (done) {
        pwd_job *j = done;
        done = j->next;
        if (j->cross) {
            assert(s->outstanding > 0);
            s->outstanding--;
            if (!d->stopping)
                pwd_groups_finish(d, j->cross);
            job_free(j);
            continue;
        }
        assert(s->outstanding > 0 && j->run->inflight > 0);
        s->outstanding--;
        j->run->inflight--;
        if (!d->stopping) {
            finish_job(d, j);
            /* Whatever became of the checkpoint since: after its score events. */
            if (j->committed) {
                pw_db_batch b = job_batch(j);
                pwd_alerts_commit(d, j->run, &b);
            }
            j->run->plan_wanted = 1;
        }
        job_free(j);
    }
    /* Once, not once per job: feeding plans every run. */
    for (size_t i = 0; i < d->nruns; i++)
        d->runs[i]->plan_wanted = 0;
    apply_resize(d);
    feed(d);
}

static int fill_ref(job_ref *ref, pw_plan_want want, const pwd_run *r, size_t index)
{
    ref->want = want;
    if (want != PW_WANT_COMPUTE)
        return 0;
    const pwd_ckpt *c = &r->ck[index];
    ref->step = c->step;
    ref->present = c->present;
    ref->path = strdup(c->path);
    ref->ident = ident_of(r, c);
    return ref->path && ref->ident ? 0 : -1;
}

/* The planner's view of the run's checkpoints (pw_plan.h). */
static void plan_input(const pwd_run *r, double now, pw_plan_ckpt *in)
{
    for (size_t i = 0; i < r->nck; i++) {
        const pwd_ckpt *c = &r->ck[i];
        in[i] = (pw_plan_ckpt){.step = c->step,
                               .present = c->present,
                               .processed = c->processed,
                               .bad = c->bad,
                               .prev_ref = c->prev_ref,
                               .final_ref = c->final_ref,
                               .dirty_prev = c->dirty_prev,
                               .dirty_final = c->dirty_final,
                               .hold = c->busy || c->retry_at > now,
                               .out = c->busy,
                               .out_ref = c->busy ? c->out_ref : PW_PLAN_NO_STEP};
    }
}

/* A job for checkpoint c as the planner said; NULL when out of memory. */
static pwd_job *make_job(pwd_daemon *d, pwd_run *r, const pw_run_config *rc, const pwd_ckpt *c,
                         const pw_plan_job *w)
{
    pwd_job *j = calloc(1, sizeof *j);
    if (!j || !(j->run_name = strdup(r->name)) || !(j->path = strdup(c->path)) ||
        !(j->ident = ident_of(r, c)) || fill_ref(&j->prev, w->prev, r, w->prev_index) ||
        fill_ref(&j->fin, w->fin, r, w->final_index)) {
        if (j)
            job_free(j);
        return NULL;
    }
    j->run = r;
    j->beneath = pwd_run_beneath(d, r);
    j->run_id = r->id;
    j->step = c->step;
    j->size = c->size;
    j->mtime_ns = c->mtime_ns;
    j->inode = c->inode;
    j->gen = c->gen;
    j->present = c->present;
    j->need_x = w->need_x;
    j->metrics = rc->metrics;
    j->reduce = rc->reduce;
    j->noise = rc->noise;
    j->noise_due = pw_noise_due(&rc->noise, (uint64_t)(c - r->ck));
    j->chance = rc->chance > 0;
    j->rescore = c->rescore && !w->need_x;
    j->memory_bytes = d->cfg.memory_bytes;
    j->keep = (pwd_retain_req){.run_id = r->id,
                               .run_name = j->run_name,
                               .step = c->step,
                               .ident = j->ident,
                               .mode = rc->retain,
                               .budget = d->cfg.retain_budget_bytes,
                               .final_step = r->final_step};
    pwd_share_lease(d, r, &j->lease);
    return j;
}

/* The run's next job by its policy (pw_plan_next): its index in r->ck, *w the work and
 * *cls its class; PW_PLAN_NONE when none.  r->queued becomes what it wants now. */
static size_t run_next(pwd_daemon *d, pwd_run *r, pw_plan_job *w, pw_plan_class *cls)
{
    *cls = PW_CLASS_NONE;
    *w = (pw_plan_job){0, PW_WANT_NONE, PW_PLAN_NONE, PW_WANT_NONE, PW_PLAN_NONE};
    /* Checkpoints that arrived together are probed together; planning before
     * all of them are placed would score some against the wrong predecessor
     * and redo the work a moment later.  The last probe to finish plans. */
    if (!r->scanned || r->nprobing > 0 || r->nck == 0)
        return PW_PLAN_NONE;
    pw_plan_ckpt *in = malloc(r->nck * sizeof *in);
    pw_plan_job *want = malloc(r->nck * sizeof *want);
    if (!in || !want) {
        pwd_log(PWD_ERROR, "out of memory planning %s", r->name);
        free(in);
        free(want);
        return PW_PLAN_NONE;
    }
    plan_input(r, pwd_now(), in);
    const pw_run_config *rc = pw_config_for_run(&d->cfg, r->name, r->path);
    pw_plan_policy pol = {rc->backlog == PW_BACKLOG_SKIP ? PW_BACKLOG_SKIP : PW_BACKLOG_FILL,
                          PW_LIVE_BACKLOG};
    size_t wanted = 0;
    size_t i = pw_plan_next(in, r->nck, r->final_step, &pol, want, cls, &wanted);
    r->queued = wanted;
    /* A shared store: only the claim's holder computes the run (share.c). */
    r->want_claim = d->share && i != PW_PLAN_NONE && !r->held;
    if (r->want_claim) {
        i = PW_PLAN_NONE;
        *cls = PW_CLASS_NONE;
        r->queued = 0;
    }
    if (i != PW_PLAN_NONE)
        *w = want[i];
    free(in);
    free(want);
    return i;
}

/* Hand checkpoint i's job (w, of class cls) to the compute threads; -1 when out of memory. */
static int start_job(pwd_daemon *d, pwd_run *r, size_t i, const pw_plan_job *w, pw_plan_class cls)
{
    pwd_sched *s = d->sched;
    pwd_ckpt *c = &r->ck[i];
    pwd_job *j = make_job(d, r, pw_config_for_run(&d->cfg, r->name, r->path), c, w);
    job_progress *prog = j ? calloc(1, sizeof *prog) : NULL;
    if (!prog) {
        if (j)
            job_free(j);
        pwd_log(PWD_ERROR, "out of memory planning %s", r->name);
        return -1;
    }
    prog->job = j;
    prog->ref_step = -1;
    j->progress = prog;
    j->cls = cls;
    if (cls == PW_CLASS_LIVE && w->prev == PW_WANT_COMPUTE && w->prev_index + 1 < i)
        pwd_log(PWD_INFO,
                "%s: step %" PRId64 " is scored first, against step %" PRId64
                " (the last scored); %zu older checkpoint%s wait%s (backlog = %s)",
                r->name, c->step, r->ck[w->prev_index].step, r->queued - 1,
                r->queued == 2 ? "" : "s", r->queued == 2 ? "s" : "",
                pw_config_for_run(&d->cfg, r->name, r->path)->backlog == PW_BACKLOG_SKIP ? "skip"
                                                                                         : "fill");
    c->busy = 1;
    c->rescore = 0; /* make_job took it: the job replaces rows only with computed ones */
    c->out_ref = w->prev == PW_WANT_COMPUTE ? r->ck[w->prev_index].step : PW_PLAN_NO_STEP;
    if (w->prev != PW_WANT_NONE)
        c->dirty_prev = 0;
    if (w->fin != PW_WANT_NONE)
        c->dirty_final = 0;
    r->served = ++s->ticket;
    r->inflight++;
    if (r->queued > 0)
        r->queued--;
    s->outstanding++;
    /* At the tail: the threads take the oldest first, the order feed chose. */
    pthread_mutex_lock(&s->mu);
    pwd_job **tail = &s->queue;
    while (*tail)
        tail = &(*tail)->next;
    *tail = j;
    s->nqueue++;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* Hand a group's cross pair to the compute threads (groups.c chose it); -1 when none
 * is due or memory ran out. */
static int start_cross(pwd_daemon *d)
{
    pwd_sched *s = d->sched;
    pwd_cross *x = pwd_groups_next(d);
    if (!x)
        return -1;
    const pwd_ckpt *ca = pwd_run_find_step(x->a, x->step_a),
                   *cb = pwd_run_find_step(x->b, x->step_b);
    assert(ca && cb); /* groups.c found both usable a moment ago */
    const pw_run_config *rc = pw_config_for_run(&d->cfg, x->a->name, x->a->path);
    x->metrics = rc->metrics;
    x->reduce = rc->reduce;
    x->memory_bytes = d->cfg.memory_bytes;
    x->beneath_a = pwd_run_beneath(d, x->a);
    x->beneath_b = pwd_run_beneath(d, x->b);
    pwd_job *j = calloc(1, sizeof *j);
    job_progress *prog = j ? calloc(1, sizeof *prog) : NULL;
    if (j)
        j->cross = x;
    if (!prog || !(x->path_a = strdup(ca->path)) || !(x->path_b = strdup(cb->path)) ||
        !(x->ident_a = ident_of(x->a, ca)) || !(x->ident_b = ident_of(x->b, cb)) ||
        !(j->run_name = strdup(x->label)) || !(j->path = strdup(ca->path))) {
        pwd_log(PWD_ERROR, "out of memory planning %s", x->label);
        free(prog);
        if (j) {
            /* The loop hears of it as of a failed job: tried again later. */
            pw_err_set(&x->err, "out of memory");
            pwd_groups_finish(d, x);
            job_free(j);
        } else {
            pwd_groups_finish(d, x);
            pwd_cross_free(x);
        }
        return -1;
    }
    j->step = x->step_a;
    prog->job = j;
    prog->ref_step = -1;
    j->progress = prog;
    j->cls = PW_CLASS_NONE;
    s->outstanding++;
    pthread_mutex_lock(&s->mu);
    pwd_job **tail = &s->queue;
    while (*tail)
        tail = &(*tail)->next;
    *tail = j;
    s->nqueue++;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* Keep every compute thread busy, no more: jobs are handed out one per free thread,
 * each the planner's choice at that moment (pw_plan_pick over each run's next job:
 * live checkpoints first, round robin across runs, then backlog, then backfill), so a
 * checkpoint that arrives while a long backlog waits goes next, and a live job's
 * reference is the last checkpoint actually scored. */
static void feed(pwd_daemon *d)
{
    pwd_sched *s = d->sched;
    if (!s || d->stopping || s->resize_workers > 0 || d->nruns == 0)
        return;
    size_t cap = s->nthreads > 0 ? (size_t)s->nthreads : 1;
    if (s->outstanding >= cap)
        return; /* every thread has its job; the next finished one feeds again */
    size_t n = d->nruns;
    pw_plan_head *heads = calloc(n, sizeof *heads);
    size_t *next = calloc(n, sizeof *next);
    pw_plan_job *work = calloc(n, sizeof *work);
    if (!heads || !next || !work) {
        pwd_log(PWD_ERROR, "out of memory planning");
        goto out;
    }
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = 0; k < n; k++) {
            next[k] = run_next(d, d->runs[k], &work[k], &heads[k].cls);
            heads[k].served = d->runs[k]->served;
        }
        /* A shared store: claim runs with work up to our share, then plan them afresh. */
        if (!d->share || !pwd_share_balance(d))
            break;
    }
    while (s->outstanding < cap) {
        size_t k = pw_plan_pick(heads, n);
        /* No run has work: a group's cross pair, the lowest priority (groups.c). */
        if (k == PW_PLAN_NONE) {
            if (start_cross(d) != 0)
                break;
            continue;
        }
        if (start_job(d, d->runs[k], next[k], &work[k], heads[k].cls) != 0)
            break;
        next[k] = run_next(d, d->runs[k], &work[k], &heads[k].cls);
        heads[k].served = d->runs[k]->served;
    }
out:
    free(heads);
    free(next);
    free(work);
}

void pwd_sched_kick(pwd_daemon *d)
{
    feed(d);
}

void pwd_sched_job_text(pwd_daemon *d, char *buf, size_t len)
{
    pwd_sched *s = d->sched;
    buf[0] = '\0';
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    size_t n = 0;
    for (const job_progress *p = s->running; p; p = p->up, n++)
        if (n == 0) {
            const pwd_job *j = p->job;
            if (j->cross)
                snprintf(buf, len, "%s", j->run_name);
            else
                snprintf(buf, len, "%s step %" PRId64, j->run_name, j->step);
        }
    pthread_mutex_unlock(&s->mu);
    if (n > 1) {
        size_t at = strlen(buf);
        snprintf(buf + at, len - at, " (+%zu more)", n - 1);
    }
}

void pwd_sched_plan(pwd_daemon *d, pwd_run *r)
{
    pwd_sched *s = d->sched;
    if (!s || d->stopping)
        return;
    pw_plan_job w;
    pw_plan_class cls;
    run_next(d, r, &w, &cls); /* its queue, for status, also when every thread is busy */
    feed(d);
}

/* Jobs the runs want that are not handed out yet (loop thread). */
static size_t wanted_jobs(const pwd_daemon *d)
{
    size_t n = 0;
    for (size_t i = 0; i < d->nruns; i++)
        n += d->runs[i]->queued;
    return n;
}

int64_t pwd_sched_rescore(pwd_daemon *d, pwd_run *r, int64_t from, char *why, size_t whylen)
{
    pw_err err;
    int64_t forgot = 0;
    /* The database first: a compute thread reads it when it first meets the run. */
    if (pw_db_reduce_forget(d->db, r->id, from, &forgot, &err) != 0) {
        snprintf(why, whylen, "%s", err.msg);
        return -1;
    }
    /* Chance levels computed on a pair being rescored are computed again, at
     * the first of the layer's recomputed pairs that scores. */
    int64_t chance_forgot = 0;
    if (pw_db_chance_forget(d->db, r->id, from, &chance_forgot, &err) != 0) {
        snprintf(why, whylen, "%s", err.msg);
        return -1;
    }
    if (d->sched)
        pwd_sticky_forget(d->sched->sticky, r->id, from);
    /* What is stored, marked dirty: the planner queues each pair as it would a
     * replaced reference's, through the same jobs (a busy checkpoint's come after
     * its running job).  Pairs the planner would not compute are not counted. */
    int64_t queued = 0;
    for (size_t i = pwd_run_step_index(r, from); i < r->nck; i++) {
        pwd_ckpt *c = &r->ck[i];
        if (!c->processed || c->bad)
            continue;
        int prev = c->present && c->prev_ref != PW_PLAN_NO_STEP;
        int fin = c->final_ref != PW_PLAN_NO_STEP && r->final_step >= 0 && c->step <= r->final_step;
        c->dirty_prev |= prev;
        c->dirty_final |= fin;
        c->rescore |= prev || fin;
        queued += prev + fin;
    }
    pwd_log(PWD_INFO,
            "%s: rescore from step %" PRId64 ": %" PRId64 " pair%s queued, %" PRId64
            " reduce decision%s to take again, %" PRId64 " chance level%s to compute again",
            r->name, from, queued, queued == 1 ? "" : "s", forgot, forgot == 1 ? "" : "s",
            chance_forgot, chance_forgot == 1 ? "" : "s");
    pwd_sched_plan(d, r);
    return queued;
}

size_t pwd_sched_queue_length(pwd_daemon *d)
{
    pwd_sched *s = d->sched;
    pthread_mutex_lock(&s->mu);
    size_t n = s->nqueue + s->nrunning;
    pthread_mutex_unlock(&s->mu);
    return n + wanted_jobs(d);
}

size_t pwd_sched_outstanding(const pwd_daemon *d)
{
    return d->sched ? d->sched->outstanding + wanted_jobs(d) : 0;
}

/* Where it stands ------------------------------------------------------------------------ */

void pwd_sched_figures(pwd_daemon *d, const pwd_run *r, pwd_run_figures *out)
{
    pwd_sched *s = d->sched;
    const pwd_run_stats *st = &r->stats;
    out->queue = r->queued + r->inflight;
    out->last_s = st->timed ? st->last_s : NAN;
    out->mean_s = st->timed ? st->sum_s / (double)st->timed : NAN;
    out->lag_s = st->has_lag ? st->lag_s : NAN;
    out->lag_step = st->lag_step;
    out->eta_s = pw_plan_eta(out->queue, out->mean_s, NAN);
    out->job_s = NAN;
    if (!s)
        return;
    double now = pwd_now();
    pthread_mutex_lock(&s->mu);
    for (const job_progress *p = s->running; p; p = p->up)
        if (p->job->run == r && !(now - p->started <= out->job_s))
            out->job_s = now - p->started;
    pthread_mutex_unlock(&s->mu);
    /* With several of the run's jobs running, the longest-running one
     * stands for them. */
    out->eta_s = pw_plan_eta(out->queue, out->mean_s, out->job_s);
}

/* A number, or null for NAN (JSON has no NaN). */
static json_t *real_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

json_t *pwd_sched_run_json(pwd_daemon *d, const pwd_run *r)
{
    pwd_run_figures f;
    pwd_sched_figures(d, r, &f);
    return json_pack("{s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o}", "queue", (json_int_t)f.queue,
                     "jobs_done", (json_int_t)r->stats.jobs, "jobs_failed",
                     (json_int_t)r->stats.failed, "compute_last_s", real_or_null(f.last_s),
                     "compute_mean_s", real_or_null(f.mean_s), "live_lag_s", real_or_null(f.lag_s),
                     "live_lag_step", isfinite(f.lag_s) ? json_integer(f.lag_step) : json_null(),
                     "eta_s", real_or_null(f.eta_s));
}

json_t *pwd_sched_status_json(pwd_daemon *d)
{
    pwd_sched *s = d->sched;
    json_t *working = json_array();
    double eta = 0;
    for (size_t i = 0; i < d->nruns; i++) {
        pwd_run_figures f;
        pwd_sched_figures(d, d->runs[i], &f);
        eta += f.eta_s; /* NAN when a run with a queue has no mean yet: unknown */
    }
    if (s && working) {
        double now = pwd_now();
        pthread_mutex_lock(&s->mu);
        for (const job_progress *p = s->running; p; p = p->up) {
            const pwd_job *j = p->job;
            json_t *o = json_pack(
                "{s:o, s:o, s:I, s:o, s:o, s:o, s:f}", "run", pwd_json_text(j->run_name), "path",
                pwd_json_text(j->path), "step", (json_int_t)j->step, "ref",
                p->ref_step >= 0 ? json_string(pw_ref_name(p->ref)) : json_null(), "ref_step",
                p->ref_step >= 0 ? json_integer(p->ref_step) : json_null(), "layer",
                p->layer[0] ? pwd_json_text(p->layer) : json_null(), "elapsed_s", now - p->started);
            if (o)
                json_array_append_new(working, o);
        }
        pthread_mutex_unlock(&s->mu);
        /* The threads share the queue out. */
        if (s->nthreads > 1)
            eta /= s->nthreads;
    }
    return json_pack("{s:o, s:o}", "working", working ? working : json_array(), "eta_s",
                     real_or_null(eta));
}

/* BLAS threads per worker: the configured number, or the cores shared out. */
static int blas_per_worker(int workers, int blas_threads)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int blas = blas_threads > 0 ? blas_threads : (int)(cores > 0 ? cores : 1) / workers;
    return blas > 0 ? blas : 1;
}

/* Start `workers` compute threads with `blas` BLAS threads each (no thread
 * may be running a job: the BLAS setting is process-wide). */
static int start_threads(pwd_sched *s, int workers, int blas)
{
    assert(s->nthreads == 0 && s->nrunning == 0);
    pw_engine_set_blas_threads(blas);
    s->blas = blas;
    s->threads = calloc((size_t)workers, sizeof *s->threads);
    if (!s->threads)
        return -1;
    for (int i = 0; i < workers; i++) {
        pthread_mutex_lock(&s->mu);
        s->nalive++;
        pthread_mutex_unlock(&s->mu);
        if (pthread_create(&s->threads[i], NULL, worker_main, s) != 0) {
            pwd_log(PWD_ERROR, "cannot start compute thread %d", i);
            pthread_mutex_lock(&s->mu);
            s->nalive--;
            pthread_mutex_unlock(&s->mu);
            return -1;
        }
        s->nthreads++;
    }
    pwd_log(PWD_INFO, "%d compute thread%s, %d BLAS thread%s each, cache %llu MiB", workers,
            workers == 1 ? "" : "s", blas, blas == 1 ? "" : "s",
            (unsigned long long)(pwd_cache_budget(s->cache) >> 20));
    return 0;
}

static void join_threads(pwd_sched *s)
{
    for (int i = 0; i < s->nthreads; i++)
        pthread_join(s->threads[i], NULL);
    free(s->threads);
    s->threads = NULL;
    s->nthreads = 0;
}

/* Rebuild the pool once no job runs (loop thread).  The threads are idle in
 * their wait, so joining them takes no time; the queue is kept. */
static void apply_resize(pwd_daemon *d)
{
    pwd_sched *s = d->sched;
    pthread_mutex_lock(&s->mu);
    int ready = s->resize_workers > 0 && s->nrunning == 0 && !d->stopping;
    if (ready) {
        atomic_store(&s->retire, 1);
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    if (!ready)
        return;
    join_threads(s);
    atomic_store(&s->retire, 0);
    int workers = s->resize_workers, blas = s->resize_blas;
    s->resize_workers = 0;
    if (start_threads(s, workers, blas) != 0) {
        pwd_log(PWD_ERROR, "reload: cannot start %d compute threads; stopping", workers);
        pwd_set_error(d, "reload: cannot start %d compute threads", workers);
        pwd_daemon_fail(d);
        return;
    }
    pthread_mutex_lock(&s->mu);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    feed(d); /* a larger pool takes more jobs at once */
}

void pwd_sched_reconfigure(pwd_daemon *d, int workers, int blas_threads, uint64_t cache_bytes)
{
    pwd_sched *s = d->sched;
    if (!s)
        return;
    workers = workers > 0 ? workers : 1;
    int blas = blas_per_worker(workers, blas_threads);
    uint64_t was = pwd_cache_set_budget(s->cache, cache_bytes);
    if (cache_bytes != was)
        pwd_log(PWD_INFO, "reload: cache budget %llu MiB (was %llu)",
                (unsigned long long)(cache_bytes >> 20), (unsigned long long)(was >> 20));
    pthread_mutex_lock(&s->mu);
    int change = workers != s->nthreads || blas != s->blas;
    if (change) {
        pwd_log(PWD_INFO,
                "reload: %d compute thread%s with %d BLAS thread%s each, once the %zu "
                "running job%s finish%s",
                workers, workers == 1 ? "" : "s", blas, blas == 1 ? "" : "s", s->nrunning,
                s->nrunning == 1 ? "" : "s", s->nrunning == 1 ? "es" : "");
        s->resize_workers = workers;
        s->resize_blas = blas;
    } else {
        s->resize_workers = 0; /* a reload back to the current pool cancels a pending one */
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    if (change)
        apply_resize(d);
}

/* Start-up: a run deleted while pwccad was stopped is never scanned again (a root
 * lists only directories that exist), so its checkpoints would stay present = 0
 * forever.  Done here, before any job, so the plan starts from the truth. */
typedef struct gone_runs {
    int64_t *ids;           /* runs whose directory is gone (heap) */
    size_t n;               /* entries in ids */
    int oom;                /* out of memory: the rest is not looked at */
    const pwd_daemon *mine; /* a shared store: judge only runs under this daemon's roots */
} gone_runs;

/* 1 when path is one of d's configured runs or lies below one of its roots.  On a
 * shared store the runs table also holds other nodes' paths (another mount point, or
 * roots this node does not watch): their absence here says nothing. */
static int path_is_mine(const pwd_daemon *d, const char *path)
{
    char abs[PW_PATH_MAX];
    for (size_t i = 0; i < d->cfg.nwatch; i++) {
        const char *root = realpath(d->cfg.watch[i], abs) ? abs : d->cfg.watch[i];
        size_t n = strlen(root);
        if (strncmp(path, root, n) == 0 && path[n] == '/')
            return 1;
    }
    for (size_t i = 0; i < d->cfg.nruns; i++)
        if (strcmp(path, realpath(d->cfg.runs[i], abs) ? abs : d->cfg.runs[i]) == 0)
            return 1;
    return 0;
}

static int note_if_gone(void *ctx, int64_t run_id, const char *path)
{
    gone_runs *g = ctx;
    struct stat st;
    if (g->mine && !path_is_mine(g->mine, path))
        return 0;
    if (stat(path, &st) == 0 || (errno != ENOENT && errno != ENOTDIR))
        return 0;
    int64_t *ids = realloc(g->ids, (g->n + 1) * sizeof *ids);
    if (!ids)
        return g->oom = 1;
    g->ids = ids;
    g->ids[g->n++] = run_id;
    return 0;
}

static void mark_gone_runs(pwd_daemon *d)
{
    gone_runs g = {NULL, 0, 0, pw_db_shared(d->db) ? d : NULL};
    pw_err err;
    /* Collected first: no write while the read statement is open. */
    if (pw_db_runs_each(d->db, note_if_gone, &g, &err))
        pwd_log(PWD_ERROR, "%s", err.msg);
    for (size_t i = 0; i < g.n; i++) {
        int64_t n = 0;
        if (pw_db_run_set_absent(d->db, g.ids[i], &n, &err))
            pwd_log(PWD_ERROR, "%s", err.msg);
        else if (n > 0)
            pwd_log(PWD_INFO,
                    "run %" PRId64 ": its directory is gone; %" PRId64 " checkpoint%s marked "
                    "deleted, its history stays ('pwcca forget' removes it)",
                    g.ids[i], n, n == 1 ? "" : "s");
    }
    free(g.ids);
}

int pwd_sched_start(pwd_daemon *d)
{
    pwd_sched *s = calloc(1, sizeof *s);
    if (!s || !(s->cache = pwd_cache_new(d->cfg.cache_bytes)) || !(s->sticky = pwd_sticky_new())) {
        if (s)
            pwd_cache_free(s->cache);
        free(s);
        return -1;
    }
    s->d = d;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->gone, &ca);
    pthread_condattr_destroy(&ca);
    uv_async_init(d->loop, &s->async, on_async);
    s->async.data = d;
    d->sched = s;
    mark_gone_runs(d);
    int workers = d->cfg.workers > 0 ? d->cfg.workers : 1;
    return start_threads(s, workers, blas_per_worker(workers, d->cfg.blas_threads));
}

void pwd_sched_stop(pwd_daemon *d)
{
    pwd_sched *s = d->sched;
    if (!s)
        return;
    atomic_store(&s->stop, 1);
    pthread_mutex_lock(&s->mu);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    uv_close((uv_handle_t *)&s->async, NULL);
}

int pwd_sched_wait(pwd_daemon *d, double grace_s)
{
    pwd_sched *s = d->sched;
    if (!s)
        return 0;
    assert(atomic_load(&s->stop));
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    double whole = floor(grace_s);
    until.tv_sec += (time_t)whole;
    until.tv_nsec += (long)((grace_s - whole) * 1e9);
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    while (s->nalive > 0 && pthread_cond_timedwait(&s->gone, &s->mu, &until) != ETIMEDOUT)
        ;
    int left = s->nalive;
    pthread_mutex_unlock(&s->mu);
    return left;
}

void pwd_sched_join(pwd_daemon *d)
{
    pwd_sched *s = d->sched;
    if (!s)
        return;
    join_threads(s);
    pwd_job *lists[2] = {s->queue, s->done};
    for (int i = 0; i < 2; i++)
        while (lists[i]) {
            pwd_job *j = lists[i];
            lists[i] = j->next;
            job_free(j);
        }
    pwd_cache_free(s->cache);
    pwd_sticky_free(s->sticky);
    pwd_groups_free(d);
    pthread_cond_destroy(&s->gone);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
    d->sched = NULL;
}
