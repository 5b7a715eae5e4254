/* retain.c -- compact copies of checkpoints, for the backfill after the originals are gone.
 *
 * With `retain` on (docs/CONFIG.md), every checkpoint a compute thread reads
 * successfully is also written, before its scores are committed, as a copy
 * (lib/pw_retain.h: each layer's rows x cols matrix, in the mode's dtype) to
 *     RETAIN_DIR/RUN_ID/STEP.safetensors
 * named by the run's database id, not its path.  The copy records the
 * checkpoint's identity (path, inode, mtime, size) in its metadata; the
 * scheduler reads it in place of the original for a pair that needs a
 * checkpoint whose file was deleted or can no longer be read, and only when
 * that identity matches the one the pair was planned with -- so a stale copy
 * is never used.
 *
 * Crash safety: a copy is written to a dotfile, fsynced and renamed into
 * place, so a copy under its final name is complete.  At start, leftover
 * temporaries are removed and the directory is indexed (the directory is the
 * record: nothing about copies is in the database).  A copy is written before
 * its checkpoint's transaction, so after a kill -9 between the two the copy
 * has no checkpoint row; such copies are dropped when the run is loaded, and
 * the checkpoint, recomputed, gets a fresh one.
 *
 * Budget: before a copy is written, lib/pw_retain_plan.c decides which copies
 * to evict (spread over the run, never a run's newest or its final) or that
 * the new one is not kept.  Each eviction is logged.  A failed write (a full
 * disk) is logged once, its temporary removed, and the scores go on.
 *
 * Usage (`status`, /metrics): copies and bytes held are summed from the
 * index when asked, so they cannot drift from it; evictions and the last
 * failure are counted where they happen, on the compute threads.
 *
 * Threads: the index and those counters are shared by the loop
 * (pwd_retain_run_loaded, the usage queries) and the compute threads (store,
 * open) under one mutex; file writes happen outside it.  A step has one job
 * at a time, so one writer per copy. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "pw_array.h"
#include "pw_paths.h"
#include "pw_retain_plan.h"

/* One copy on disk, or being written. */
typedef struct retained {
    int64_t run, step; /* runs.id, training step */
    uint64_t bytes;    /* on disk (expected, while writing) */
    int writing;       /* a compute thread is writing it: not readable, not evictable */
} retained;

/* The final step of a run, so its copy is never evicted. */
typedef struct run_final {
    int64_t run, step; /* runs.id, final step (-1 none) */
} run_final;

struct pwd_retain {
    pthread_mutex_t mu;          /* guards everything below */
    char dir[PATH_MAX];          /* retain directory */
    retained *v;                 /* index (heap) */
    size_t n, cap;               /* used / allocated */
    run_final *finals;           /* per-run final steps seen (heap) */
    size_t nfinals;              /* entries in finals */
    uint64_t evictions;          /* copies evicted for the budget since start */
    char last_error[PW_ERR_MAX]; /* latest copy not made or not readable, "" none */
};

/* Remember why retention last failed, for `status`. */
static void note_error(pwd_retain *rt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_error(pwd_retain *rt, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&rt->mu);
    vsnprintf(rt->last_error, sizeof rt->last_error, fmt, ap);
    pthread_mutex_unlock(&rt->mu);
    va_end(ap);
}

static int copy_path(const pwd_retain *rt, int64_t run, int64_t step, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/%" PRId64 "/%" PRId64 ".safetensors", rt->dir, run, step);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Index ------------------------------------------------------------------------------- */

static retained *find(pwd_retain *rt, int64_t run, int64_t step)
{
    for (size_t i = 0; i < rt->n; i++)
        if (rt->v[i].run == run && rt->v[i].step == step)
            return &rt->v[i];
    return NULL;
}

static retained *add(pwd_retain *rt, int64_t run, int64_t step, uint64_t bytes)
{
    retained *g = pw_grow(rt->v, &rt->cap, rt->n + 1, sizeof *g, 64);
    if (!g)
        return NULL;
    rt->v = g;
    retained *e = &rt->v[rt->n++];
    *e = (retained){run, step, bytes, 0};
    return e;
}

/* Forget (run, step) and delete its file, if there is one.  Caller locks. */
static void drop_locked(pwd_retain *rt, int64_t run, int64_t step)
{
    retained *e = find(rt, run, step);
    if (!e)
        return;
    *e = rt->v[--rt->n];
    char path[PATH_MAX];
    if (copy_path(rt, run, step, path, sizeof path) == 0)
        unlink(path);
}

static void set_final_locked(pwd_retain *rt, int64_t run, int64_t step)
{
    for (size_t i = 0; i < rt->nfinals; i++)
        if (rt->finals[i].run == run) {
            rt->finals[i].step = step;
            return;
        }
    run_final *g = realloc(rt->finals, (rt->nfinals + 1) * sizeof *g);
    if (!g)
        return;
    rt->finals = g;
    rt->finals[rt->nfinals++] = (run_final){run, step};
}

static int is_final_locked(const pwd_retain *rt, int64_t run, int64_t step)
{
    for (size_t i = 0; i < rt->nfinals; i++)
        if (rt->finals[i].run == run)
            return rt->finals[i].step == step;
    return 0;
}

/* A non-negative decimal integer spanning all of s up to end (or the NUL). */
static int parse_id(const char *s, const char *end, int64_t *out)
{
    if (!end)
        end = s + strlen(s);
    if (s == end || end - s > 18)
        return -1;
    int64_t v = 0;
    for (const char *p = s; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return 0;
}

/* Index one run's directory; remove temporaries a crash left behind. */
static void index_run(pwd_retain *rt, int64_t run, const char *dir, size_t *stray)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return;
    struct dirent *de;
    char path[PATH_MAX];
    while ((de = readdir(dp))) {
        if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path)
            continue;
        int64_t step;
        struct stat st;
        const char *ext = strstr(de->d_name, ".safetensors");
        if (de->d_name[0] == '.' && strstr(de->d_name, ".tmp.")) {
            if (unlink(path) == 0)
                (*stray)++;
        } else if (ext && strcmp(ext, ".safetensors") == 0 &&
                   parse_id(de->d_name, ext, &step) == 0 && stat(path, &st) == 0 &&
                   S_ISREG(st.st_mode)) {
            add(rt, run, step, (uint64_t)st.st_size);
        }
    }
    closedir(dp);
}

int pwd_retain_start(pwd_daemon *d)
{
    pwd_retain *rt = calloc(1, sizeof *rt);
    pw_err err;
    if (!rt)
        return -1;
    pthread_mutex_init(&rt->mu, NULL);
    d->retain = rt;
    if (pw_paths_retain(d->cfg.retain_dir[0] ? d->cfg.retain_dir : NULL, d->db_path, rt->dir,
                        sizeof rt->dir, &err)) {
        pwd_log(PWD_ERROR, "%s", err.msg);
        return -1;
    }
    size_t stray = 0;
    DIR *top = opendir(rt->dir);
    if (top) {
        struct dirent *de;
        char sub[PATH_MAX];
        while ((de = readdir(top))) {
            int64_t run;
            if (parse_id(de->d_name, NULL, &run) == 0 &&
                snprintf(sub, sizeof sub, "%s/%s", rt->dir, de->d_name) < (int)sizeof sub)
                index_run(rt, run, sub, &stray);
        }
        closedir(top);
    } else if (errno != ENOENT) {
        note_error(rt, "%s: cannot list retained copies (%s)", rt->dir, strerror(errno));
        pwd_log(PWD_WARNING, "%s", rt->last_error);
    }
    uint64_t bytes = 0;
    for (size_t i = 0; i < rt->n; i++)
        bytes += rt->v[i].bytes;
    if (rt->n || stray)
        pwd_log(PWD_INFO, "%s: %zu retained cop%s (%.1f MiB); removed %zu unfinished", rt->dir,
                rt->n, rt->n == 1 ? "y" : "ies", (double)bytes / 1048576.0, stray);
    if (pwd_retain_modes(&d->cfg))
        pwd_log(PWD_INFO, "retention (%s by default) into %s, budget %.1f MiB",
                pw_retain_mode_name((pw_retain_mode)d->cfg.defaults.retain), rt->dir,
                (double)d->cfg.retain_budget_bytes / 1048576.0);
    return 0;
}

void pwd_retain_free(pwd_daemon *d)
{
    pwd_retain *rt = d->retain;
    if (!rt)
        return;
    pthread_mutex_destroy(&rt->mu);
    free(rt->v);
    free(rt->finals);
    free(rt);
    d->retain = NULL;
}

void pwd_retain_run_loaded(pwd_daemon *d, const pwd_run *r)
{
    pwd_retain *rt = d->retain;
    if (!rt)
        return;
    size_t dropped = 0;
    pthread_mutex_lock(&rt->mu);
    set_final_locked(rt, r->id, r->final_step);
    for (size_t i = rt->n; i-- > 0;) {
        if (rt->v[i].run != r->id)
            continue;
        const pwd_ckpt *c = NULL;
        for (size_t k = 0; k < r->nck && !c; k++)
            if (r->ck[k].step == rt->v[i].step)
                c = &r->ck[k];
        /* No stored row: written just before a crash, or left by another database. */
        if (!c || c->bad) {
            drop_locked(rt, r->id, rt->v[i].step);
            dropped++;
        }
    }
    pthread_mutex_unlock(&rt->mu);
    if (dropped)
        pwd_log(PWD_INFO,
                "%s: removed %zu retained cop%s of checkpoints the database does not hold", r->name,
                dropped, dropped == 1 ? "y" : "ies");
}

/* Writing ------------------------------------------------------------------------------ */

/* Apply the eviction plan for a new copy of q's step; 1 when it is to be written. */
static int make_room_locked(pwd_retain *rt, const pwd_retain_req *q, uint64_t bytes)
{
    pw_retain_copy *copies = calloc(rt->n ? rt->n : 1, sizeof *copies);
    size_t *victims = calloc(rt->n ? rt->n : 1, sizeof *victims);
    int keep = 0;
    size_t m = 0;
    if (!copies || !victims) {
        free(copies);
        free(victims);
        return 0;
    }
    for (size_t i = 0; i < rt->n; i++) {
        const retained *e = &rt->v[i];
        if (e->run == q->run_id && e->step == q->step)
            continue; /* replaced by the new copy */
        int pinned = e->writing || is_final_locked(rt, e->run, e->step);
        copies[m++] = (pw_retain_copy){e->run, e->step, e->bytes, pinned};
    }
    pw_retain_copy in = {q->run_id, q->step, bytes, 0};
    size_t nv = pw_retain_plan(copies, m, &in, q->budget, victims, &keep);
    for (size_t i = 0; nv != (size_t)-1 && i < nv; i++) {
        const pw_retain_copy *v = &copies[victims[i]];
        pwd_log(PWD_INFO,
                "retention: evicted the copy of run %" PRId64 " step %" PRId64
                " (%.1f KiB) to stay within retain_budget_mb; a final score of that step will be "
                "reference_unavailable once its checkpoint is gone",
                v->run, v->step, (double)v->bytes / 1024.0);
        drop_locked(rt, v->run, v->step);
        rt->evictions++;
    }
    free(copies);
    free(victims);
    return nv != (size_t)-1 && keep;
}

void pwd_retain_store(pwd_retain *rt, const pwd_retain_req *q, const pw_ckpt *x,
                      pw_retain_cancel_fn cancel, void *cancel_ctx)
{
    if (!rt)
        return;
    char path[PATH_MAX], step[32];
    pw_err err;
    snprintf(step, sizeof step, "%" PRId64, q->step);
    pw_stwrite_meta meta[] = {{"pwccad_source", q->ident}, {"pwccad_step", step}};
    uint64_t bytes = 0;
    int keep = 0, unsized = 0; /* unsized: the copy's size is unknown, err says why */
    pthread_mutex_lock(&rt->mu);
    set_final_locked(rt, q->run_id, q->final_step);
    if (q->mode != PW_RETAIN_OFF && x) {
        if (copy_path(rt, q->run_id, q->step, path, sizeof path) != 0)
            unsized = pw_err_set(&err, "%s/%" PRId64 ": the copy's path is too long", rt->dir,
                                 q->run_id) != 0;
        else if (pw_retain_size(x, (pw_retain_mode)q->mode, meta, 2, &bytes, &err) != 0)
            unsized = 1;
        else
            keep = make_room_locked(rt, q, bytes);
    }
    /* Whatever copy the step had belongs to an identity that is gone. */
    drop_locked(rt, q->run_id, q->step);
    retained *e = keep ? add(rt, q->run_id, q->step, bytes) : NULL;
    if (e)
        e->writing = 1;
    pthread_mutex_unlock(&rt->mu);
    if (!e) {
        char why[PW_ERR_MAX + 64]; /* err.msg and the step: note_error truncates */
        if (unsized) {
            snprintf(why, sizeof why, "%s: step %" PRId64 " not retained: %s", q->run_name, q->step,
                     err.msg);
            note_error(rt, "%s", why);
            pwd_log_once(rt->dir, PWD_WARNING, "%s", why);
        } else if (q->mode != PW_RETAIN_OFF && x && bytes > q->budget) {
            snprintf(why, sizeof why,
                     "%s: step %" PRId64 " not retained: its copy (%.1f MiB) is larger than "
                     "retain_budget_mb (%.1f MiB)",
                     q->run_name, q->step, (double)bytes / 1048576.0,
                     (double)q->budget / 1048576.0);
            note_error(rt, "%s", why);
            pwd_log_once("retain_budget_mb", PWD_WARNING, "%s", why);
        } else if (q->mode != PW_RETAIN_OFF && x) {
            pwd_log(PWD_DEBUG, "%s: step %" PRId64 " not retained: thinned out within the budget",
                    q->run_name, q->step);
        }
        return;
    }
    /* path is RETAIN_DIR/RUN/STEP.safetensors: create RETAIN_DIR/RUN. */
    int rc = pw_paths_make_parent(path, 0750, &err);
    if (rc == 0)
        rc = pw_retain_write(path, x, (pw_retain_mode)q->mode, meta, 2, cancel, cancel_ctx, &err);
    pthread_mutex_lock(&rt->mu);
    if (rc == 0 && (e = find(rt, q->run_id, q->step)))
        e->writing = 0;
    else
        drop_locked(rt, q->run_id, q->step);
    pthread_mutex_unlock(&rt->mu);
    if (rc == 0) {
        pwd_log_forget(rt->dir);
        pwd_log(PWD_DEBUG, "%s: step %" PRId64 " retained (%s, %.1f KiB)", q->run_name, q->step,
                pw_retain_mode_name((pw_retain_mode)q->mode), (double)bytes / 1024.0);
    } else if (!(cancel && cancel(cancel_ctx))) {
        note_error(rt, "%s: step %" PRId64 " not retained: %s", q->run_name, q->step, err.msg);
        pwd_log_once(rt->dir, PWD_WARNING, "%s: step %" PRId64 " not retained: %s (scores go on)",
                     q->run_name, q->step, err.msg);
    }
}

/* Reading ------------------------------------------------------------------------------ */

int pwd_retain_open(pwd_retain *rt, int64_t run, int64_t step, const char *ident, pw_ckpt **out,
                    char **cache_ident)
{
    *out = NULL;
    *cache_ident = NULL;
    if (!rt)
        return -1;
    char path[PATH_MAX];
    pthread_mutex_lock(&rt->mu);
    const retained *e = find(rt, run, step);
    int usable = e && !e->writing && copy_path(rt, run, step, path, sizeof path) == 0;
    pthread_mutex_unlock(&rt->mu);
    if (!usable)
        return -1;
    pw_ckpt *c = NULL;
    pw_err err;
    if (pw_ckpt_open(&c, path, NULL, &err)) {
        if (access(path, F_OK) == 0) { /* not merely evicted meanwhile */
            note_error(rt, "retained copy unusable: %s", err.msg);
            pwd_log_once(path, PWD_WARNING, "retained copy unusable: %s", err.msg);
        }
        return -1;
    }
    const char *src = pw_ckpt_meta(c, "pwccad_source");
    const char *mode = pw_ckpt_meta(c, "pwccad_retain");
    if (!src || !mode || strcmp(src, ident) != 0) {
        pwd_log(PWD_DEBUG, "%s: a copy of another identity of step %" PRId64 ", not used", path,
                step);
        pw_ckpt_close(c);
        return -1;
    }
    /* An exact copy yields the original's doubles, so it shares the original's cached
     * factorizations; a rounded one has its own. */
    if (strcmp(mode, "exact") == 0)
        *cache_ident = strdup(ident);
    else if (asprintf(cache_ident, "%s|retained %s", ident, mode) < 0)
        *cache_ident = NULL;
    if (!*cache_ident) {
        pw_ckpt_close(c);
        return -1;
    }
    *out = c;
    return 0;
}

/* Usage ------------------------------------------------------------------------------- */

unsigned pwd_retain_modes(const pw_config *cfg)
{
    unsigned modes = 0;
    if (cfg->defaults.retain > PW_RETAIN_OFF)
        modes |= 1u << cfg->defaults.retain;
    for (size_t i = 0; i < cfg->noverrides; i++)
        if (cfg->overrides[i].retain > PW_RETAIN_OFF)
            modes |= 1u << cfg->overrides[i].retain;
    return modes;
}

const char *pwd_retain_dir(const pwd_retain *rt)
{
    return rt ? rt->dir : ""; /* set once at start, before any other thread */
}

void pwd_retain_usage(pwd_retain *rt, int64_t run, pwd_retain_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!rt)
        return;
    pthread_mutex_lock(&rt->mu);
    for (size_t i = 0; i < rt->n; i++) {
        const retained *e = &rt->v[i];
        /* A copy being written is not on disk under its name yet. */
        if (e->writing || (run >= 0 && e->run != run))
            continue;
        out->copies++;
        out->bytes += e->bytes;
    }
    out->evictions = rt->evictions;
    memcpy(out->last_error, rt->last_error, sizeof out->last_error);
    pthread_mutex_unlock(&rt->mu);
}
