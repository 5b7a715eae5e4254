/* run.c -- the daemon's model of a run: its checkpoints in step order, what is
 * stored for each, and its final step.
 *
 * A pwd_run mirrors the database's runs and checkpoints rows plus what the
 * loop needs between scans (pending files, the path index).  watch.c finds
 * runs and decides which files become checkpoints, scheduler.c plans and
 * records the pairs; both read and change the model only through these
 * functions and the fields daemon.h documents, so there is one binary search
 * over ck, one way to add a run and one way to move its final step.  Loop
 * thread only: compute threads get copies in their jobs. */
#include <assert.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "pw_array.h"
#include "pw_plan.h"

/* Checkpoints -------------------------------------------------------------------- */

int64_t pwd_run_last_step(const pwd_run *r)
{
    for (size_t i = r->nck; i-- > 0;)
        if (r->ck[i].present && !r->ck[i].bad)
            return r->ck[i].step;
    return -1;
}

size_t pwd_run_step_index(const pwd_run *r, int64_t step)
{
    size_t lo = 0, hi = r->nck;
    assert(r->nck == 0 || r->ck);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->ck[mid].step < step)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

pwd_ckpt *pwd_run_find_step(pwd_run *r, int64_t step)
{
    size_t i = pwd_run_step_index(r, step);
    return i < r->nck && r->ck[i].step == step ? &r->ck[i] : NULL;
}

pwd_ckpt *pwd_run_find_path(pwd_run *r, const char *path)
{
    int64_t step;
    if (!pw_strmap_get(&r->ck_index, path, &step))
        return NULL;
    pwd_ckpt *c = pwd_run_find_step(r, step);
    return c && strcmp(c->path, path) == 0 ? c : NULL;
}

pwd_ckpt *pwd_run_insert_ckpt(pwd_run *r, int64_t step, const char *path)
{
    pwd_ckpt *g = pw_grow(r->ck, &r->capck, r->nck + 1, sizeof *g, 16);
    if (!g)
        return NULL;
    r->ck = g;
    size_t at = pwd_run_step_index(r, step);
    assert(at == r->nck || r->ck[at].step != step); /* one entry per step */
    char *p = strdup(path);
    if (!p || pw_strmap_put(&r->ck_index, path, step) != 0) {
        free(p);
        return NULL;
    }
    memmove(&r->ck[at + 1], &r->ck[at], (r->nck - at) * sizeof *r->ck);
    r->nck++;
    pwd_ckpt *c = &r->ck[at];
    memset(c, 0, sizeof *c);
    c->step = step;
    c->path = p;
    c->present = 1;
    c->prev_ref = c->final_ref = PW_PLAN_NO_STEP;
    c->seen_gen = r->scan_gen;
    return c;
}

/* What load_ckpt reads stored rows into. */
typedef struct load_ctx {
    pwd_run *r;         /* the run being added */
    const char *stored; /* runs.path: the run's directory where it was first seen */
} load_ctx;

/* A stored checkpoint path as seen here: one under the run's stored path (written
 * by a node that mounts the root elsewhere, or before the root moved) gets the
 * local run path instead, so the scan's paths find it and files open here.
 * Other paths stay as stored.  buf holds the result when one is made. */
static const char *local_path(const load_ctx *l, const char *path, char *buf, size_t len)
{
    size_t n = strlen(l->stored);
    if (strcmp(l->stored, l->r->path) == 0 || strncmp(path, l->stored, n) != 0 || path[n] != '/')
        return path;
    if (snprintf(buf, len, "%s%s", l->r->path, path + n) >= (int)len)
        return path; /* too long here: it will not be found, and is computed again */
    return buf;
}

static int load_ckpt(void *ctx, const pw_db_ckpt *row)
{
    const load_ctx *l = ctx;
    pwd_run *r = l->r;
    char buf[PW_DB_MAX_PATH];
    const char *path = local_path(l, row->path, buf, sizeof buf);
    int64_t live;
    int had = pw_strmap_get(&r->ck_index, path, &live);
    pwd_ckpt *c = pwd_run_insert_ckpt(r, row->step, path);
    if (!c)
        return 1;
    if (had && !row->present)
        pw_strmap_put(&r->ck_index, path, live); /* the index names the live entry */
    c->seen_gen = 0;
    c->size = row->size;
    c->mtime_ns = row->mtime_ns;
    c->inode = row->inode;
    c->present = row->present;
    c->processed = 1;
    c->bad = row->status != PW_OK;
    return 0;
}

static int load_done(void *ctx, int64_t step, pw_ref ref, int64_t ref_step, int64_t n)
{
    pwd_run *r = ctx;
    (void)n;
    pwd_ckpt *c = pwd_run_find_step(r, step);
    if (c) {
        if (ref == PW_REF_PREVIOUS)
            c->prev_ref = ref_step;
        else
            c->final_ref = ref_step;
    }
    return 0;
}

/* Runs ------------------------------------------------------------------------------ */

pwd_run *pwd_run_by_path(pwd_daemon *d, const char *abs)
{
    int64_t i;
    if (pw_strmap_get(&d->run_index, abs, &i))
        return d->runs[i];
    for (size_t k = 0; k < d->nruns && d->run_index.n < d->nruns; k++)
        if (strcmp(d->runs[k]->path, abs) == 0)
            return d->runs[k]; /* only when indexing ran out of memory */
    return NULL;
}

pwd_run *pwd_run_add(pwd_daemon *d, const char *abs, const char *base_dir, const char *root,
                     const char *rel)
{
    assert(!pwd_run_by_path(d, abs));
    /* An array of pointers, so the element size is a pointer's. */
    pwd_run **grown =
        realloc(d->runs, (d->nruns + 1) * sizeof(pwd_run *)); // NOLINT(bugprone-sizeof-expression)
    if (!grown)
        return NULL;
    d->runs = grown;
    pwd_run *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    const char *base = strrchr(abs, '/');
    r->path = strdup(abs);
    r->name = strdup(base && base[1] ? base + 1 : abs);
    r->base = strdup(base_dir ? base_dir : abs);
    r->final_step = r->converged_step = -1;
    r->final_file_mtime = r->final_file_size = -1;
    pw_strmap_init(&r->ck_index);
    pw_strmap_init(&r->pend_index);
    pw_db_run row;
    pw_err err;
    if (!r->path || !r->name || !r->base ||
        pw_db_run_upsert_root(d->db, root, rel, abs, r->name, &row, &err)) {
        pwd_log(PWD_ERROR, "%s: %s", abs,
                r->path && r->name && r->base ? err.msg : "out of memory");
        free(r->path);
        free(r->name);
        free(r->base);
        free(r);
        return NULL;
    }
    r->id = row.id;
    r->final_step = row.final_step;
    r->converged_step = row.converged_step;
    snprintf(r->final_source, sizeof r->final_source, "%s", row.final_source);
    if (strcmp(row.path, abs) != 0)
        pwd_log(PWD_INFO, "%s: known as %s:%s, first seen at %s", abs, root, rel, row.path);
    load_ctx l = {r, row.path};
    if (pw_db_checkpoints(d->db, r->id, load_ckpt, &l, &err) ||
        pw_db_scores_done(d->db, r->id, load_done, r, &err))
        pwd_log(PWD_ERROR, "%s: reading stored state: %s", abs, err.msg);
    else
        pwd_retain_run_loaded(d, r);
    pwd_metrics_run_load(d, r);
    uv_fs_event_init(d->loop, &r->ev); /* pwd_watch_stop closes every run's */
    r->ev.data = r;
    if (pw_strmap_put(&d->run_index, r->path, (int64_t)d->nruns) != 0)
        pwd_log(PWD_ERROR, "%s: out of memory indexing the run", r->path); /* found linearly */
    d->runs[d->nruns++] = r;
    return r;
}

void pwd_run_free(pwd_run *r)
{
    for (size_t i = 0; i < r->nck; i++)
        free(r->ck[i].path);
    for (size_t i = 0; i < r->npend; i++)
        free(r->pend[i].path);
    for (size_t i = 0; i < r->nlayers; i++) {
        free(r->layers[i].name);
        pw_stab_series_free(&r->layers[i].series);
    }
    free(r->layers);
    free(r->ck);
    free(r->pend);
    free(r->path);
    free(r->name);
    free(r->base);
    pw_strmap_free(&r->ck_index);
    pw_strmap_free(&r->pend_index);
    if (r->scan_dir)
        closedir(r->scan_dir);
    free(r);
}

/* Final ---------------------------------------------------------------------------------- */

void pwd_run_set_final(pwd_daemon *d, pwd_run *r, int64_t step, const char *source)
{
    if (r->final_step == step && strcmp(r->final_source, source) == 0)
        return;
    pw_err err;
    if (pw_db_run_set_final(d->db, r->id, step, source, &err)) {
        pwd_log(PWD_ERROR, "%s: %s", r->name, err.msg);
        pwd_set_error(d, "%s: %s", r->name, err.msg);
        return;
    }
    int moved = r->final_step != step;
    r->final_step = step;
    snprintf(r->final_source, sizeof r->final_source, "%s", source);
    if (moved) {
        for (size_t i = 0; i < r->nck; i++)
            if (r->ck[i].step > step)
                r->ck[i].final_ref = PW_PLAN_NO_STEP; /* the database dropped them too */
        pwd_metrics_run_load(d, r);
        pwd_log(PWD_INFO, "%s: final checkpoint is step %" PRId64 " (%s); backfilling", r->name,
                step, source);
    }
    pwd_sched_plan(d, r);
}

/* Sharing the work ------------------------------------------------------------------ */

/* A stored checkpoint row, merged into what this daemon knows of the run: a step it
 * has not seen is loaded as at start (its next scan confirms it or finds it gone); a
 * step it has seen with the same identity is processed (by whichever daemon). */
static int sync_ckpt(void *ctx, const pw_db_ckpt *row)
{
    pwd_run *r = ctx;
    pwd_ckpt *c = pwd_run_find_step(r, row->step);
    if (!c)
        return load_ckpt(r, row);
    if (!c->busy && c->size == row->size && c->mtime_ns == row->mtime_ns &&
        c->inode == row->inode) {
        c->processed = 1;
        c->bad = row->status != PW_OK;
    }
    return 0;
}

/* Stored pairs of checkpoints this daemon knows as processed. */
static int sync_done(void *ctx, int64_t step, pw_ref ref, int64_t ref_step, int64_t n)
{
    pwd_run *r = ctx;
    pwd_ckpt *c = pwd_run_find_step(r, step);
    if (c && !c->busy && c->processed)
        return load_done(ctx, step, ref, ref_step, n);
    return 0;
}

int pwd_run_sync(pwd_daemon *d, pwd_run *r)
{
    pw_db_run row;
    pw_err err;
    if (pw_db_run_get(d->db, r->id, &row, &err) ||
        pw_db_checkpoints(d->db, r->id, sync_ckpt, r, &err) ||
        pw_db_scores_done(d->db, r->id, sync_done, r, &err)) {
        pwd_log(PWD_ERROR, "%s: reading stored state: %s", r->name, err.msg);
        return -1;
    }
    if (row.final_step >= 0 && row.final_step != r->final_step) {
        /* Not pwd_run_set_final: the store has it already, and this runs inside planning. */
        r->final_step = row.final_step;
        snprintf(r->final_source, sizeof r->final_source, "%s", row.final_source);
        for (size_t i = 0; i < r->nck; i++)
            if (r->ck[i].step > row.final_step)
                r->ck[i].final_ref = PW_PLAN_NO_STEP;
        pwd_log(PWD_INFO, "%s: final checkpoint is step %" PRId64 " (%s, as stored)", r->name,
                row.final_step, row.final_source);
    }
    r->converged_step = row.converged_step;
    pwd_alerts_reload(r);
    pwd_metrics_run_load(d, r);
    return 0;
}
