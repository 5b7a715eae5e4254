/* groups.c -- run groups: which cross-run pairs are due, and what became of them.
 *
 * A [group NAME] section names runs by globs on their names (pw_config.h).
 * For every two runs of a group, A the one with the lower runs.id and B the
 * other, a cross pair is (A's checkpoint at step s, B's at s) for every step
 * both have, and (A's final, B's final) once both runs are final; the pair
 * scores each layer of A against B's layer of the same name, exactly as
 * `pwcca compare A_FILE B_FILE` would, into group_scores (006_groups.sql).
 *
 * Priority: cross pairs are extra work nobody waits on live, so the
 * scheduler asks for one only when no run has a job (live, backlog or
 * backfill: scheduler.c, feed), and hands them out round robin over the
 * run pairs, so a large group's first pair does not starve the others.
 *
 * Exactly once: what is stored is read from the database the first time a
 * pair is wanted (a daemon killed at any moment finds every committed pair
 * there, and a pair's rows go in one transaction), and kept here as a set,
 * with the pairs handed out to compute threads, so a pair is never computed
 * twice.  A pair whose files could not be read is tried again a minute
 * later.  A checkpoint replaced after its cross pairs were stored keeps them
 * (they are of the file as it was).
 *
 * Everything here runs on the loop thread. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

#define CROSS_RETRY_S 60.0 /* a pair whose job failed waits this long before it goes again */

typedef struct pwd_groups pwd_groups;

struct pwd_groups {
    pw_strmap done;   /* key of every cross pair stored -> 1 */
    pw_strmap busy;   /* key of every pair handed to a compute thread -> 1 */
    pw_strmap retry;  /* key of a pair whose job failed -> when it may go again (ms) */
    pw_strmap warned; /* run pairs whose probe mismatch was logged, groups over the run limit */
    int loaded;       /* done holds what the database had at start */
    size_t cursor;    /* the run pair after the last one served (round robin) */
    /* The last search found nothing due: it is not repeated (it looks at every
     * checkpoint of every pair) until a checkpoint is stored or found, a run
     * appears or becomes final, or IDLE_RECHECK_S pass (retries, reloads, replaced files). */
    int idle;            /* 1 after a search that found nothing */
    uint64_t idle_done;  /* pwd_daemon.done then */
    size_t idle_nruns;   /* pwd_daemon.nruns then */
    int64_t idle_finals; /* the sum of the runs' final steps and checkpoint counts then */
    double idle_until;   /* when to search again all the same */
};

#define IDLE_RECHECK_S 5.0 /* the longest a due pair waits for a search after a quiet spell */

/* "GROUP/A/B/STEP_A/STEP_B": a group name holds no '/' (pw_group_name_check). */
static void pair_key(char *buf, size_t len, const char *group, int64_t a, int64_t b, int64_t sa,
                     int64_t sb)
{
    snprintf(buf, len, "%s/%" PRId64 "/%" PRId64 "/%" PRId64 "/%" PRId64, group, a, b, sa, sb);
}

#define KEY_MAX (PW_GROUP_NAME_MAX + 4 * 24)

static int note_done(void *ctx, const char *group, int64_t a, int64_t b, int64_t sa, int64_t sb)
{
    pwd_groups *g = ctx;
    char key[KEY_MAX];
    pair_key(key, sizeof key, group ? group : "", a, b, sa, sb);
    return pw_strmap_put(&g->done, key, 1) != 0; /* out of memory: stop, load again later */
}

/* The state, created and loaded from the database the first time it is needed;
 * NULL (logged) while that fails. */
static pwd_groups *groups_of(pwd_daemon *d)
{
    pwd_groups *g = d->groups;
    if (!g) {
        g = calloc(1, sizeof *g);
        if (!g) {
            pwd_log(PWD_ERROR, "run groups: out of memory");
            return NULL;
        }
        pw_strmap_init(&g->done);
        pw_strmap_init(&g->busy);
        pw_strmap_init(&g->retry);
        pw_strmap_init(&g->warned);
        d->groups = g;
    }
    if (!g->loaded) {
        pw_err err = {""};
        if (pw_db_cross_done(d->db, note_done, g, &err) != 0) {
            pwd_log(PWD_ERROR, "run groups: %s (cross pairs wait)", err.msg);
            return NULL;
        }
        g->loaded = 1;
        if (g->done.n > 0)
            pwd_log(PWD_INFO, "run groups: %zu cross pair%s already stored", g->done.n,
                    g->done.n == 1 ? "" : "s");
    }
    return g;
}

static int by_id(const void *x, const void *y)
{
    const pwd_run *a = *(pwd_run *const *)x, *b = *(pwd_run *const *)y;
    return (a->id > b->id) - (a->id < b->id);
}

/* The group's runs by runs.id, at most PW_GROUP_MAX_RUNS (the rest warned of once). */
static size_t members(pwd_daemon *d, pwd_groups *g, const pw_group_config *gc, pwd_run **out)
{
    size_t n = 0, all = 0;
    for (size_t i = 0; i < d->nruns; i++)
        if (pw_group_has_run(gc, d->runs[i]->name))
            out[n++] = d->runs[i];
    qsort(out, n, sizeof(pwd_run *), by_id);
    all = n;
    if (n > PW_GROUP_MAX_RUNS) {
        n = PW_GROUP_MAX_RUNS;
        char key[PW_GROUP_NAME_MAX + 8];
        snprintf(key, sizeof key, "runs:%s", gc->name);
        if (!pw_strmap_get(&g->warned, key, NULL) && pw_strmap_put(&g->warned, key, 1) == 0)
            pwd_log(PWD_WARNING,
                    "group %s: %zu runs match, more than %d: only the first %d (by when they "
                    "were first seen) are scored against each other",
                    gc->name, all, PW_GROUP_MAX_RUNS, PW_GROUP_MAX_RUNS);
    }
    return n;
}

/* A checkpoint a cross pair can read: stored, readable, present, not being redone. */
static const pwd_ckpt *usable(pwd_run *r, int64_t step)
{
    const pwd_ckpt *c = step >= 0 ? pwd_run_find_step(r, step) : NULL;
    return c && c->present && c->processed && !c->bad && !c->busy ? c : NULL;
}

/* 1 when the pair (a at sa, b at sb) is due: both usable, neither stored, handed
 * out nor waiting for its retry; *key gets its key. */
static int due(pwd_groups *g, const char *group, pwd_run *a, pwd_run *b, int64_t sa, int64_t sb,
               double now, char *key, size_t len)
{
    if (!usable(a, sa) || !usable(b, sb))
        return 0;
    pair_key(key, len, group, a->id, b->id, sa, sb);
    int64_t at = 0;
    if (pw_strmap_get(&g->done, key, NULL) || pw_strmap_get(&g->busy, key, NULL))
        return 0;
    return !pw_strmap_get(&g->retry, key, &at) || (double)at <= now * 1000.0;
}

/* The first due pair of runs a and b, steps ascending, then the finals: 1 with
 * *sa, *sb and key set, else 0. */
static int pair_next(pwd_groups *g, const char *group, pwd_run *a, pwd_run *b, double now,
                     int64_t *sa, int64_t *sb, char *key, size_t len)
{
    for (size_t i = 0; i < a->nck; i++)
        if (due(g, group, a, b, a->ck[i].step, a->ck[i].step, now, key, len)) {
            *sa = *sb = a->ck[i].step;
            return 1;
        }
    if (a->final_step >= 0 && b->final_step >= 0 &&
        due(g, group, a, b, a->final_step, b->final_step, now, key, len)) {
        *sa = a->final_step;
        *sb = b->final_step;
        return 1;
    }
    return 0;
}

static pwd_cross *cross_new(const char *group, pwd_run *a, pwd_run *b, int64_t sa, int64_t sb)
{
    pwd_cross *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    snprintf(x->group, sizeof x->group, "%s", group);
    x->a = a;
    x->b = b;
    x->run_a = a->id;
    x->run_b = b->id;
    x->step_a = sa;
    x->step_b = sb;
    if (asprintf(&x->label, "group %s: %s:%" PRId64 " vs %s:%" PRId64, group, a->name, sa, b->name,
                 sb) < 0)
        x->label = NULL;
    x->name_a = strdup(a->name);
    x->name_b = strdup(b->name);
    if (!x->label || !x->name_a || !x->name_b) {
        pwd_cross_free(x);
        return NULL;
    }
    return x;
}

pwd_cross *pwd_groups_next(pwd_daemon *d)
{
    size_t ng = d->cfg.ngroups;
    if (ng == 0 || d->nruns < 2)
        return NULL;
    pwd_groups *g = groups_of(d);
    double now = pwd_now();
    int64_t finals = 0;
    for (size_t i = 0; i < d->nruns; i++)
        finals += d->runs[i]->final_step + (int64_t)(d->runs[i]->nck << 20);
    if (g && g->idle && g->idle_done == d->done && g->idle_nruns == d->nruns &&
        g->idle_finals == finals && now < g->idle_until)
        return NULL;
    /* Each group's members once (m + gi * nruns), and its pair count. */
    pwd_run **m = g ? malloc(ng * d->nruns * sizeof(pwd_run *)) : NULL;
    size_t *k = m ? calloc(ng, sizeof *k) : NULL;
    if (!k) {
        free(m);
        return NULL;
    }
    size_t total = 0;
    for (size_t gi = 0; gi < ng; gi++) {
        k[gi] = members(d, g, &d->cfg.groups[gi], m + gi * d->nruns);
        total += k[gi] * (k[gi] - (k[gi] > 0)) / 2;
    }
    /* Every (group, a, b) numbered in order; the search starts at the cursor. */
    pwd_cross *x = NULL;
    char key[KEY_MAX];
    for (size_t t = 0; t < total; t++) {
        size_t p = (g->cursor + t) % total, gi = 0;
        while (p >= k[gi] * (k[gi] - (k[gi] > 0)) / 2) {
            p -= k[gi] * (k[gi] - (k[gi] > 0)) / 2;
            gi++;
        }
        /* Pair number p of group gi: (i, j), i < j, in row order. */
        size_t i = 0;
        while (p >= k[gi] - 1 - i) {
            p -= k[gi] - 1 - i;
            i++;
        }
        pwd_run **gm = m + gi * d->nruns;
        const char *name = d->cfg.groups[gi].name;
        int64_t sa, sb;
        if (!pair_next(g, name, gm[i], gm[i + 1 + p], now, &sa, &sb, key, sizeof key))
            continue;
        /* A shared store: the group's cross pairs are its claim holder's (share.c);
         * a claim just taken reads what other daemons stored first. */
        int fresh;
        pwd_lease lease;
        if (!pwd_share_group(d, name, &fresh, &lease))
            continue;
        if (fresh) {
            pwd_groups_reload(d);
            if (!pair_next(g, name, gm[i], gm[i + 1 + p], now, &sa, &sb, key, sizeof key))
                continue;
        }
        x = cross_new(name, gm[i], gm[i + 1 + p], sa, sb);
        if (x)
            x->lease = lease;
        if (!x || pw_strmap_put(&g->busy, key, 1) != 0) {
            pwd_log(PWD_ERROR, "run groups: out of memory");
            pwd_cross_free(x);
            x = NULL;
        } else {
            g->cursor = (g->cursor + t + 1) % total;
        }
        break;
    }
    g->idle = x == NULL;
    if (!x && g->busy.n == 0)
        pwd_share_groups_idle(d); /* nothing due here: the groups' claims go back */
    g->idle_done = d->done;
    g->idle_nruns = d->nruns;
    g->idle_finals = finals;
    g->idle_until = now + IDLE_RECHECK_S;
    free(m);
    free(k);
    return x;
}

void pwd_groups_finish(pwd_daemon *d, pwd_cross *x)
{
    pwd_groups *g = d->groups;
    if (!g)
        return;
    char key[KEY_MAX];
    pair_key(key, sizeof key, x->group, x->run_a, x->run_b, x->step_a, x->step_b);
    pw_strmap_del(&g->busy, key);
    if (x->committed) {
        pw_strmap_del(&g->retry, key);
        if (pw_strmap_put(&g->done, key, 1) != 0)
            g->loaded = 0; /* reread from the database before the next pair */
        pwd_log(PWD_INFO, "%s: %zu layer pair%s stored", x->label, x->nrows,
                x->nrows == 1 ? "" : "s");
        /* Said once per run pair: a group's every step pair would repeat it. */
        if (x->mismatch || x->unchecked) {
            char runs[64];
            snprintf(runs, sizeof runs, "probe:%" PRId64 "/%" PRId64, x->run_a, x->run_b);
            if (!pw_strmap_get(&g->warned, runs, NULL) && pw_strmap_put(&g->warned, runs, 1) == 0)
                pwd_log(PWD_WARNING, "%s: %s%s", x->label, x->why,
                        x->mismatch ? "" : " (said once for these two runs)");
        }
        return;
    }
    if (x->stopped)
        return;
    if (x->lease_lost) {
        pwd_share_group_lost(d, x->group);
        return;
    }
    pwd_log(PWD_WARNING, "%s: %s (tried again in %.0f s)", x->label, x->err.msg, CROSS_RETRY_S);
    if (pw_strmap_put(&g->retry, key, (int64_t)((pwd_now() + CROSS_RETRY_S) * 1000.0)) != 0)
        pwd_log(PWD_ERROR, "run groups: out of memory");
}

void pwd_cross_free(pwd_cross *x)
{
    if (!x)
        return;
    free(x->label);
    free(x->name_a);
    free(x->name_b);
    free(x->path_a);
    free(x->path_b);
    free(x->ident_a);
    free(x->ident_b);
    free(x);
}

void pwd_groups_free(pwd_daemon *d)
{
    pwd_groups *g = d->groups;
    if (!g)
        return;
    pw_strmap_free(&g->done);
    pw_strmap_free(&g->busy);
    pw_strmap_free(&g->retry);
    pw_strmap_free(&g->warned);
    free(g);
    d->groups = NULL;
}

void pwd_groups_reload(pwd_daemon *d)
{
    pwd_groups *g = d->groups;
    if (!g)
        return;
    pw_err err = {""};
    if (pw_db_cross_done(d->db, note_done, g, &err) != 0) {
        pwd_log(PWD_ERROR, "run groups: %s (read again before the next pair)", err.msg);
        g->loaded = 0;
    }
}
