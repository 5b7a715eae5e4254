/* share.c -- several daemons sharing one store: registration, heartbeats, claims.
 *
 * On a PostgreSQL store any number of pwccad processes, on one machine or
 * many, may watch the same roots.  They split the scoring through the
 * database (docs/DAEMON.md, "Sharing the work"):
 *
 *   - each registers a row in `daemons` and beats every lease/3 seconds:
 *     heartbeat_at, what it computes now, and the lease of every claim it
 *     holds renewed to now + lease (the database's clock);
 *   - a run ('run:ID') or a group's cross pairs ('group:NAME') is computed
 *     only by the daemon holding its claim.  Whole runs, so a daemon keeps
 *     the run's sides in its cache and scores each checkpoint against the
 *     one it scored before;
 *   - a daemon claims runs that have work up to its fair share (the runs with
 *     work it sees, divided by the daemons alive), releases the ones beyond
 *     it once nothing of theirs is in flight, and keeps an idle run for half
 *     a lease so a live run's next checkpoint stays where its sides are;
 *   - taking a claim reads the run's stored state first (checkpoints, pairs,
 *     final step, the stability series): the previous daemon's work is not
 *     done again, and "previous checkpoint" is what the store has;
 *   - a killed daemon stops beating: after its lease its claims are free and
 *     another daemon takes them over.  A daemon that was only slow (stopped,
 *     swapped out, cut off from the server) finds at its next commit that the
 *     claim is no longer its own (pw_db_commit's lease check, under a row
 *     lock until COMMIT) and writes nothing: a score is stored by the claim's
 *     holder only, and scores are keyed, so each exists once.
 *
 * On SQLite (one daemon per file) d->share stays NULL and every function here
 * says "held". */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

#define CLAIM_RETRY_S 1.0 /* a claim another daemon holds is asked for again after this */

typedef struct pwd_share {
    int64_t id;         /* daemons.id */
    double lease_s;     /* how long our claims outlive our silence */
    uv_timer_t beat;    /* the heartbeat, every lease/3 */
    int live;           /* daemons of the store alive at the last heartbeat (>= 1) */
    pw_strmap groups;   /* group names whose claim we hold -> 1 */
    pw_strmap group_at; /* group name -> no claim attempt before this time (ms) */
    int beat_failing;   /* the last heartbeat failed (said once until one succeeds) */
} pwd_share;

static void run_unit(const pwd_run *r, char *buf, size_t len)
{
    snprintf(buf, len, "run:%" PRId64, r->id);
}

static void group_unit(const char *group, char *buf, size_t len)
{
    snprintf(buf, len, "group:%s", group);
}

static double lease_of(const pw_config *cfg)
{
    return cfg->lease_s > 0 ? cfg->lease_s : PW_CFG_DEFAULT_LEASE_S;
}

/* The run has work this daemon planned or is computing. */
static int has_work(const pwd_run *r)
{
    return r->queued > 0 || r->inflight > 0;
}

static void release_run(pwd_daemon *d, pwd_run *r, const char *why)
{
    char unit[PWD_UNIT_MAX];
    run_unit(r, unit, sizeof unit);
    pw_err err;
    if (pw_db_release(d->db, unit, d->share->id, &err))
        pwd_log(PWD_WARNING, "%s: %s", r->name, err.msg); /* it runs out by itself */
    r->held = 0;
    r->idle_since = 0;
    pwd_log(PWD_DEBUG, "%s: released (%s)", r->name, why);
}

/* The group names we hold, copied out (the map may change while they are used);
 * *n entries, free with names_free.  NULL when none or out of memory. */
static char **held_groups(const pwd_share *sh, size_t *n)
{
    *n = 0;
    char **v = sh->groups.n ? calloc(sh->groups.n, sizeof *v) : NULL;
    for (size_t i = 0; v && i < sh->groups.cap && *n < sh->groups.n; i++)
        if (sh->groups.slots[i].key && (v[*n] = strdup(sh->groups.slots[i].key)))
            (*n)++;
    return v;
}

static void names_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Units the heartbeat renewed, to find the ones we lost. */
static int note_held(void *ctx, const char *unit)
{
    return pw_strmap_put(ctx, unit, 1) != 0;
}

static void on_beat(uv_timer_t *t)
{
    pwd_daemon *d = t->data;
    pwd_share *sh = d->share;
    if (d->stopping)
        return;
    char job[256];
    pwd_sched_job_text(d, job, sizeof job);
    pw_strmap held;
    pw_strmap_init(&held);
    pw_err err;
    int live = 1;
    if (pw_db_daemon_beat(d->db, sh->id, job[0] ? job : NULL, sh->lease_s, note_held, &held, &live,
                          &err)) {
        if (!sh->beat_failing)
            pwd_log(PWD_WARNING, "heartbeat: %s (our claims run out after %.0f s without one)",
                    err.msg, sh->lease_s);
        sh->beat_failing = 1;
        pw_strmap_free(&held);
        return;
    }
    if (sh->beat_failing)
        pwd_log(PWD_INFO, "heartbeat: the database answers again");
    sh->beat_failing = 0;
    sh->live = live;
    double now = pwd_now();
    for (size_t i = 0; i < d->nruns; i++) {
        pwd_run *r = d->runs[i];
        if (!r->held)
            continue;
        char unit[PWD_UNIT_MAX];
        run_unit(r, unit, sizeof unit);
        if (!pw_strmap_get(&held, unit, NULL)) {
            pwd_log(PWD_WARNING,
                    "%s: its claim ran out (no heartbeat for %.0f s); another "
                    "daemon may take it over",
                    r->name, sh->lease_s);
            r->held = 0;
            r->idle_since = 0;
            continue;
        }
        /* A finalize on another daemon reaches the holder through the store. */
        pw_db_run row;
        if (pw_db_run_get(d->db, r->id, &row, &err) == 0 && row.final_step >= 0 &&
            row.final_step != r->final_step)
            pwd_run_set_final(d, r, row.final_step, row.final_source);
        if (has_work(r)) {
            r->idle_since = 0;
        } else if (r->idle_since == 0) {
            r->idle_since = now;
        } else if (now - r->idle_since >= sh->lease_s / 2) {
            release_run(d, r, "idle");
        }
    }
    /* Cross pairs need both runs' checkpoints known as processed, whoever scored them. */
    for (size_t i = 0; d->cfg.ngroups > 0 && i < d->nruns; i++)
        if (!d->runs[i]->held && d->runs[i]->inflight == 0)
            pwd_run_sync(d, d->runs[i]);
    size_t ng;
    char **groups = held_groups(sh, &ng);
    for (size_t i = 0; i < ng; i++) {
        char unit[PWD_UNIT_MAX];
        group_unit(groups[i], unit, sizeof unit);
        if (!pw_strmap_get(&held, unit, NULL)) {
            pwd_log(PWD_WARNING, "group %s: its claim ran out; another daemon may take it over",
                    groups[i]);
            pw_strmap_del(&sh->groups, groups[i]);
        }
    }
    names_free(groups, ng);
    pw_strmap_free(&held);
    pwd_sched_kick(d); /* claims another daemon held may be free now */
}

int pwd_share_start(pwd_daemon *d)
{
    if (!pw_db_shared(d->db))
        return 0;
    pwd_share *sh = calloc(1, sizeof *sh);
    if (!sh)
        return pwd_log(PWD_ERROR, "out of memory"), -1;
    sh->lease_s = lease_of(&d->cfg);
    sh->live = 1;
    pw_strmap_init(&sh->groups);
    pw_strmap_init(&sh->group_at);
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0)
        snprintf(host, sizeof host, "unknown");
    pw_err err;
    if (pw_db_daemon_register(d->db, host, (int64_t)getpid(), sh->lease_s, &sh->id, &err)) {
        pwd_log(PWD_ERROR, "%s", err.msg);
        free(sh);
        return -1;
    }
    d->share = sh;
    /* The daemons alive now, so that a daemon started next to others takes only its
     * share from its first plan; those already running see it at their next beat. */
    if (pw_db_daemon_beat(d->db, sh->id, NULL, sh->lease_s, NULL, NULL, &sh->live, &err))
        sh->live = 1;
    uv_timer_init(d->loop, &sh->beat);
    sh->beat.data = d;
    uint64_t every = (uint64_t)(sh->lease_s * 1000.0 / 3.0);
    uv_timer_start(&sh->beat, on_beat, every < 1000 ? every : 1000, every);
    pwd_log(PWD_INFO,
            "sharing the store: daemon %" PRId64 " on %s, lease %.0f s (runs are split with the "
            "other daemons of this database)",
            sh->id, host, sh->lease_s);
    return 0;
}

void pwd_share_stop(pwd_daemon *d)
{
    if (d->share)
        uv_close((uv_handle_t *)&d->share->beat, NULL);
}

void pwd_share_free(pwd_daemon *d)
{
    pwd_share *sh = d->share;
    if (!sh)
        return;
    pw_err err;
    if (d->db && pw_db_daemon_stop(d->db, sh->id, &err))
        pwd_log(PWD_WARNING, "%s (our claims run out after %.0f s)", err.msg, sh->lease_s);
    pw_strmap_free(&sh->groups);
    pw_strmap_free(&sh->group_at);
    free(sh);
    d->share = NULL;
}

/* Take r's claim (another daemon's expired one too); on success read what the
 * store holds of it.  1 when taken. */
static int claim_run(pwd_daemon *d, pwd_run *r)
{
    pwd_share *sh = d->share;
    char unit[PWD_UNIT_MAX];
    run_unit(r, unit, sizeof unit);
    int held = 0;
    double since = 0;
    pw_err err;
    if (pw_db_claim(d->db, unit, sh->id, sh->lease_s, &held, &since, &err)) {
        pwd_log(PWD_WARNING, "%s: %s", r->name, err.msg);
        return 0;
    }
    if (!held)
        return 0;
    r->held = 1;
    r->claim_since = since;
    r->idle_since = 0;
    if (pwd_run_sync(d, r) != 0) {
        release_run(d, r, "its stored state could not be read");
        return 0;
    }
    /* List the run afresh before planning it or judging its stability: the previous
     * holder may have seen a checkpoint this node's watch has not reported yet, and a
     * pair it scored around it (the newest first, the backlog after) must not read as
     * a settled series here. */
    r->scanned = 0;
    r->scan_wanted = 1;
    pwd_watch_kick(d, 0);
    pwd_log(PWD_DEBUG, "%s: claimed", r->name);
    return 1;
}

int pwd_share_balance(pwd_daemon *d)
{
    pwd_share *sh = d->share;
    if (!sh)
        return 0;
    size_t busy = 0, wanting = 0;
    for (size_t i = 0; i < d->nruns; i++) {
        busy += d->runs[i]->held && has_work(d->runs[i]);
        wanting += d->runs[i]->want_claim;
    }
    size_t live = sh->live > 0 ? (size_t)sh->live : 1;
    size_t share = (busy + wanting + live - 1) / live;
    if (share == 0)
        share = 1;
    int changed = 0;
    /* Beyond our share (a daemon joined): give back, last first, what has nothing in flight. */
    for (size_t i = d->nruns; busy > share && i-- > 0;) {
        pwd_run *r = d->runs[i];
        if (r->held && r->queued > 0 && r->inflight == 0) {
            release_run(d, r, "more than its share: left to another daemon");
            r->claim_next = pwd_now() + CLAIM_RETRY_S * 3;
            busy--;
            changed = 1;
        }
    }
    double now = pwd_now();
    for (size_t i = 0; busy < share && i < d->nruns; i++) {
        pwd_run *r = d->runs[i];
        if (!r->want_claim || r->held || now < r->claim_next)
            continue;
        if (claim_run(d, r)) {
            busy++;
            changed = 1;
        } else {
            r->claim_next = now + CLAIM_RETRY_S;
        }
    }
    return changed;
}

void pwd_share_run_lost(pwd_daemon *d, pwd_run *r)
{
    if (!d->share)
        return;
    /* Said also when the heartbeat found the claim gone first (a daemon stopped past
     * its lease: the beat runs before its job's commit), or the refusal is silent. */
    pwd_log(PWD_WARNING,
            "%s: lease lost: another daemon holds the run now; this one's result "
            "was not stored",
            r->name);
    if (!r->held)
        return;
    r->held = 0;
    r->idle_since = 0;
    r->claim_next = pwd_now() + CLAIM_RETRY_S;
}

void pwd_share_lease(const pwd_daemon *d, const pwd_run *r, pwd_lease *out)
{
    memset(out, 0, sizeof *out);
    if (!d->share)
        return;
    run_unit(r, out->unit, sizeof out->unit);
    out->daemon = d->share->id;
    out->since = r->claim_since;
}

/* A claimed_at kept as a strmap value: the double's bits. */
static int64_t since_bits(double since)
{
    int64_t v;
    memcpy(&v, &since, sizeof v);
    return v;
}

static double since_of(int64_t bits)
{
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

int pwd_share_group(pwd_daemon *d, const char *group, int *fresh, pwd_lease *out)
{
    pwd_share *sh = d->share;
    *fresh = 0;
    memset(out, 0, sizeof *out);
    if (!sh)
        return 1;
    group_unit(group, out->unit, sizeof out->unit);
    out->daemon = sh->id;
    int64_t bits;
    if (pw_strmap_get(&sh->groups, group, &bits)) {
        out->since = since_of(bits);
        return 1;
    }
    int64_t at;
    double now = pwd_now();
    if (pw_strmap_get(&sh->group_at, group, &at) && now * 1000.0 < (double)at)
        return 0;
    int held = 0;
    pw_err err;
    if (pw_db_claim(d->db, out->unit, sh->id, sh->lease_s, &held, &out->since, &err))
        pwd_log(PWD_WARNING, "group %s: %s", group, err.msg);
    if (!held) {
        pw_strmap_put(&sh->group_at, group, (int64_t)((now + CLAIM_RETRY_S) * 1000.0));
        return 0;
    }
    if (pw_strmap_put(&sh->groups, group, since_bits(out->since)) != 0) {
        pw_db_release(d->db, out->unit, sh->id, &err);
        return 0;
    }
    *fresh = 1;
    return 1;
}

void pwd_share_groups_idle(pwd_daemon *d)
{
    pwd_share *sh = d->share;
    if (!sh || sh->groups.n == 0)
        return;
    size_t ng;
    char **groups = held_groups(sh, &ng);
    for (size_t i = 0; i < ng; i++) {
        char unit[PWD_UNIT_MAX];
        group_unit(groups[i], unit, sizeof unit);
        pw_err err;
        if (pw_db_release(d->db, unit, sh->id, &err))
            pwd_log(PWD_WARNING, "group %s: %s", groups[i], err.msg);
        pw_strmap_del(&sh->groups, groups[i]);
    }
    names_free(groups, ng);
}

void pwd_share_group_lost(pwd_daemon *d, const char *group)
{
    pwd_share *sh = d->share;
    if (!sh)
        return;
    pwd_log(PWD_WARNING, "group %s: lease lost: another daemon holds its cross pairs now", group);
    pw_strmap_del(&sh->groups, group);
    pw_strmap_put(&sh->group_at, group, (int64_t)((pwd_now() + CLAIM_RETRY_S) * 1000.0));
}

json_t *pwd_share_status_json(pwd_daemon *d)
{
    pwd_share *sh = d->share;
    if (!sh)
        return NULL;
    json_t *held = json_array();
    for (size_t i = 0; held && i < d->nruns; i++)
        if (d->runs[i]->held)
            json_array_append_new(held, pwd_json_text(d->runs[i]->name));
    json_t *groups = json_array();
    for (size_t i = 0; groups && i < sh->groups.cap; i++)
        if (sh->groups.slots[i].key)
            json_array_append_new(groups, json_string(sh->groups.slots[i].key));
    return json_pack("{s:I, s:f, s:i, s:o*, s:o*}", "daemon_id", (json_int_t)sh->id, "lease_s",
                     sh->lease_s, "live_daemons", sh->live, "runs_held", held, "groups_held",
                     groups);
}
