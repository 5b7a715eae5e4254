/* alerts.c -- applying the stability rules, and raising each alert exactly once.
 *
 * Each run keeps its layers' distance series in memory (pw_stab_series),
 * read from the database once -- at the run's first commit after the
 * process started (a reopen execs a new one), or at a reload if none came
 * yet -- and then updated from the scores each job commits, so the loop
 * never rereads a run's history; a reload replays it in memory with the new
 * parameters.  A score past the end
 * of a layer's series costs one step of the rules; one before it (a
 * checkpoint that arrived late) replays that layer in memory, so the
 * outcome does not depend on arrival order or restarts.  The transitions
 * from the earliest change on are offered to the alerts table, which is
 * unique on (run, kind, layer, step): only an insert that really added a
 * row is logged, pushed to socket subscribers and handed to the hook.  An
 * insert that failed has the run's layers report everything again at the
 * next update; the table keeps that from duplicating anything.  The hook runs without a shell via
 * posix_spawnp, one at a time, with the alert in its environment, in a session (and so a process
 * group) of its own; a timer reaps it, so the loop never waits for it.
 * After hook_timeout the whole group gets SIGTERM, then SIGKILL
 * HOOK_KILL_GRACE_S later: a hook's children (a backgrounded command, the
 * commands of a shell script) go with it instead of outliving the timeout.
 * The leader is not reaped before the SIGKILL, so its pid -- the group's id
 * -- cannot be reused by an unrelated process in the meantime.
 *
 * The hook's stdout and stderr are a pipe the loop reads: each line it
 * writes is logged through log.c, escaped like every other line.  Written
 * straight to the daemon's stderr, a hook echoing PWCCAD_ALERT_RUN (a
 * directory name anyone with write access to a watched root picks) could
 * forge journal entries of any priority. */
#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "pw_plan.h"
#include "pw_stability.h"

extern char **environ;

#define HOOK_KILL_GRACE_S 1.0  /* seconds from SIGTERM to SIGKILL of a timed-out hook's group */
#define HOOK_LINE_MAX     1024 /* bytes of hook output logged as one line; longer lines are split */
#define HOOK_MAX_OUTS     16   /* hook output pipes held open (by hooks' lingering children) */

/* The read end of one hook's output, open until every process holding the
 * write end (the hook and anything it started) is gone. */
typedef struct hook_out {
    uv_pipe_t pipe;           /* read end */
    struct hook_out **prev;   /* the link pointing here, in pwd_alerts.outs */
    struct hook_out *next;    /* next open reader */
    char hook[64];            /* the hook's program, for the log */
    char line[HOOK_LINE_MAX]; /* a partial line */
    size_t len;               /* bytes in line */
} hook_out;

/* One alert waiting for the hook. */
typedef struct hook_item {
    struct hook_item *next; /* FIFO link */
    char *env[5];           /* PWCCAD_ALERT_* assignments (heap) */
} hook_item;

typedef struct pwd_alerts {
    pwd_daemon *d;          /* owner */
    hook_item *head, *tail; /* waiting */
    pid_t pid;              /* the running hook, 0 when none */
    double started;         /* when it started, for the timeout */
    double term_at;         /* when its group got SIGTERM */
    int killed;             /* 0, 1 once its group got SIGTERM, 2 once SIGKILL */
    uv_timer_t reaper;      /* polls the running hook */
    int closing;            /* stop was asked */
    hook_out *outs;         /* open output readers, of this hook and of earlier ones */
} pwd_alerts;

static void item_free(hook_item *it)
{
    for (int i = 0; i < 5; i++)
        free(it->env[i]);
    free(it);
}

static void out_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Log what is left, unlink and close the reader. */
static void out_close(hook_out *o)
{
    if (o->len)
        pwd_log(PWD_INFO, "hook %s: %.*s", o->hook, (int)o->len, o->line);
    o->len = 0;
    *o->prev = o->next;
    if (o->next)
        o->next->prev = o->prev;
    uv_close((uv_handle_t *)&o->pipe, out_closed);
}

static void out_alloc(uv_handle_t *h, size_t want, uv_buf_t *buf)
{
    hook_out *o = h->data;
    (void)want;
    assert(o->len < sizeof o->line);
    *buf = uv_buf_init(o->line + o->len, (unsigned)(sizeof o->line - o->len));
}

/* Log every complete line (and a full buffer as one). */
static void out_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    hook_out *o = st->data;
    (void)buf;
    if (n < 0) {
        out_close(o);
        return;
    }
    o->len += (size_t)n;
    size_t start = 0;
    for (size_t i = 0; i < o->len; i++)
        if (o->line[i] == '\n') {
            pwd_log(PWD_INFO, "hook %s: %.*s", o->hook, (int)(i - start), o->line + start);
            start = i + 1;
        }
    if (start == 0 && o->len == sizeof o->line) {
        pwd_log(PWD_INFO, "hook %s: %.*s", o->hook, (int)o->len, o->line);
        start = o->len;
    }
    memmove(o->line, o->line + start, o->len - start);
    o->len -= start;
}

/* A pipe for the hook's output, read on the loop; *wfd gets the write end
 * (close-on-exec: posix_spawn dups it onto 1 and 2).  NULL when none could be
 * made, or when HOOK_MAX_OUTS readers are still held open by earlier hooks'
 * children: the hook's output is then discarded. */
static hook_out *out_open(pwd_alerts *a, const char *hook, int *wfd)
{
    size_t held = 0;
    for (const hook_out *o = a->outs; o; o = o->next)
        held++;
    if (held >= HOOK_MAX_OUTS) {
        pwd_log_once("hook output", PWD_WARNING,
                     "%zu processes started by earlier alert hooks still hold their output "
                     "open; discarding the output of the next hooks",
                     held);
        return NULL;
    }
    int fds[2];
    hook_out *o = calloc(1, sizeof *o);
    if (!o || pipe2(fds, O_CLOEXEC) != 0) {
        free(o);
        return NULL;
    }
    if (uv_pipe_init(a->d->loop, &o->pipe, 0) != 0) {
        close(fds[0]);
        close(fds[1]);
        free(o);
        return NULL;
    }
    o->pipe.data = o;
    if (uv_pipe_open(&o->pipe, fds[0]) != 0)
        close(fds[0]); /* not the pipe's */
    else if (uv_read_start((uv_stream_t *)&o->pipe, out_alloc, out_read) == 0)
        fds[0] = -1;
    if (fds[0] >= 0) {
        close(fds[1]);
        uv_close((uv_handle_t *)&o->pipe, out_closed); /* closes the read end if it holds it */
        return NULL;
    }
    snprintf(o->hook, sizeof o->hook, "%s", hook);
    o->next = a->outs;
    if (o->next)
        o->next->prev = &o->next;
    o->prev = &a->outs;
    a->outs = o;
    *wfd = fds[1];
    return o;
}

/* Start the next hook.  posix_spawnp, not fork: glibc spawns with CLONE_VFORK
 * and runs no atfork handlers, and OpenBLAS's handler would otherwise tear its
 * thread pool down under a BLAS call running on a compute thread. */
static void hook_next(pwd_alerts *a)
{
    pwd_daemon *d = a->d;
    while (!a->pid && a->head && !a->closing) {
        hook_item *it = a->head;
        a->head = it->next;
        if (!a->head)
            a->tail = NULL;
        size_t nenv = 0;
        while (environ[nenv])
            nenv++;
        char **env = calloc(nenv + 6, sizeof *env);
        char *argv[PW_CFG_MAX_LIST + 1];
        for (size_t i = 0; i < d->cfg.nhook; i++)
            argv[i] = d->cfg.hook[i];
        argv[d->cfg.nhook] = NULL;
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t at;
        sigset_t none, def;
        sigemptyset(&none);
        sigemptyset(&def);
        sigaddset(&def, SIGPIPE);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        int wfd = -1;
        hook_out *out = d->cfg.nhook ? out_open(a, argv[0], &wfd) : NULL;
        if (out) {
            posix_spawn_file_actions_adddup2(&fa, wfd, 1);
            posix_spawn_file_actions_adddup2(&fa, wfd, 2);
        } else {
            posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
            posix_spawn_file_actions_adddup2(&fa, 1, 2);
        }
        posix_spawnattr_init(&at);
        /* A session of its own: its process group is the hook and every child. */
        posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                          POSIX_SPAWN_SETSID);
        posix_spawnattr_setsigmask(&at, &none);
        posix_spawnattr_setsigdefault(&at, &def);
        if (env && d->cfg.nhook) {
            memcpy(env, environ, nenv * sizeof *env);
            memcpy(env + nenv, it->env, 5 * sizeof *env);
            pid_t pid;
            int rc = posix_spawnp(&pid, argv[0], &fa, &at, argv, env);
            if (rc == 0) {
                a->pid = pid;
                a->started = pwd_now();
                a->killed = 0;
            } else {
                pwd_log(PWD_WARNING, "cannot run alert hook %s: %s", argv[0], strerror(rc));
            }
        }
        if (wfd >= 0)
            close(wfd); /* the hook holds its own copy; EOF comes when it and its children end */
        if (out && !a->pid)
            out_close(out); /* not started */
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&at);
        free(env);
        item_free(it);
    }
}

/* Reap the hook when it ends; stop its group when it overstays hook_timeout. */
static void on_reap(uv_timer_t *t)
{
    pwd_alerts *a = t->data;
    if (!a->pid)
        return;
    double now = pwd_now();
    if (a->killed == 1) {
        /* The leader stays unreaped until this SIGKILL (see the top of the file). */
        if (now - a->term_at < HOOK_KILL_GRACE_S)
            return;
        kill(-a->pid, SIGKILL);
        a->killed = 2;
    }
    int status;
    pid_t r = waitpid(a->pid, &status, WNOHANG);
    if (r == 0) {
        if (!a->killed && now - a->started > a->d->cfg.hook_timeout_s) {
            pwd_log(PWD_WARNING,
                    "alert hook %s took longer than %g s; stopping it and its children",
                    a->d->cfg.hook[0], a->d->cfg.hook_timeout_s);
            kill(-a->pid, SIGTERM);
            a->killed = 1;
            a->term_at = now;
        }
        return;
    }
    if (r == a->pid && WIFSIGNALED(status) && !a->killed)
        pwd_log(PWD_WARNING, "alert hook %s was killed by signal %d", a->d->cfg.hook[0],
                WTERMSIG(status));
    else if (r == a->pid && WIFEXITED(status) && WEXITSTATUS(status) != 0)
        pwd_log(PWD_WARNING, "alert hook %s exited with status %d", a->d->cfg.hook[0],
                WEXITSTATUS(status));
    a->pid = 0;
    hook_next(a);
}

static void queue_hook(pwd_alerts *a, const char *kind, const pwd_run *r, const char *layer,
                       int64_t step, double value)
{
    if (!a->d->cfg.nhook || a->closing)
        return;
    hook_item *it = calloc(1, sizeof *it);
    if (!it)
        return;
    int bad = asprintf(&it->env[0], "PWCCAD_ALERT_KIND=%s", kind) < 0;
    bad |= asprintf(&it->env[1], "PWCCAD_ALERT_RUN=%s", r->path) < 0;
    bad |= asprintf(&it->env[2], "PWCCAD_ALERT_LAYER=%s", layer) < 0;
    bad |= asprintf(&it->env[3], "PWCCAD_ALERT_STEP=%" PRId64, step) < 0;
    bad |= isfinite(value) ? asprintf(&it->env[4], "PWCCAD_ALERT_VALUE=%.17g", value) < 0
                           : asprintf(&it->env[4], "PWCCAD_ALERT_VALUE=") < 0;
    if (bad) {
        item_free(it);
        return;
    }
    if (a->tail)
        a->tail->next = it;
    else
        a->head = it;
    a->tail = it;
    hook_next(a);
}

/* Store; when new: log, push, hook.  -1 when it could not be stored. */
static int raise_alert(pwd_daemon *d, pwd_run *r, const char *kind, const char *layer, int64_t step,
                       double value, const char *detail)
{
    int inserted = 0;
    pw_err err;
    if (pw_db_alert_add(d->db, r->id, kind, layer, step, value, detail, &inserted, &err)) {
        pwd_log(PWD_ERROR, "%s: %s", r->name, err.msg);
        pwd_set_error(d, "%s: %s", r->name, err.msg);
        return -1;
    }
    if (!inserted)
        return 0;
    pwd_metrics_alert(d, kind);
    char val[32] = "-";
    if (isfinite(value))
        snprintf(val, sizeof val, "%.6g", value);
    pwd_log(PWD_INFO, "alert: %s run %s%s%s step %" PRId64 " value %s%s%s", kind, r->name,
            layer[0] ? " layer " : "", layer, step, val, detail ? "; " : "", detail ? detail : "");
    json_t *o =
        json_pack("{s:s, s:s, s:o, s:o, s:I, s:o, s:o}", "event", "alert", "kind", kind, "run",
                  pwd_json_text(r->name), "layer", pwd_json_text(layer), "step", (json_int_t)step,
                  "value", isfinite(value) ? json_real(value) : json_null(), "detail",
                  detail ? pwd_json_text(detail) : json_null());
    char *line = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    if (line)
        pwd_control_broadcast(d, line);
    free(line);
    json_decref(o);
    queue_hook(d->alerts, kind, r, layer, step, value);
    return 0;
}

/* The run's state of layer, inserted in name order when new; NULL when out of memory. */
static pwd_layer_state *layer_state(pwd_run *r, const char *layer)
{
    size_t lo = 0, hi = r->nlayers;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->layers[mid].name, layer);
        if (c == 0)
            return &r->layers[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    pwd_layer_state *g = realloc(r->layers, (r->nlayers + 1) * sizeof *g);
    if (!g)
        return NULL;
    r->layers = g;
    char *name = strdup(layer);
    if (!name)
        return NULL;
    memmove(&g[lo + 1], &g[lo], (r->nlayers - lo) * sizeof *g);
    g[lo].name = name;
    g[lo].stable_step = PWD_STABLE_UNKNOWN; /* written at the first update */
    pw_stab_series_init(&g[lo].series);
    r->nlayers++;
    return &g[lo];
}

/* Forget the run's series (the layers' written stable steps stay): the next
 * commit reads them from the database again. */
static void series_drop(pwd_run *r)
{
    for (size_t i = 0; i < r->nlayers; i++)
        pw_stab_series_free(&r->layers[i].series);
    r->series_loaded = 0;
}

/* pw_db_series's rows, into the run's layers. */
typedef struct seed_ctx {
    pwd_run *r; /* the run */
    int oom;    /* an allocation failed: the reading stopped */
} seed_ctx;

static int seed_point(void *ctx, const char *layer, int64_t step, double dist, double se)
{
    seed_ctx *c = ctx;
    pwd_layer_state *ls = layer_state(c->r, layer);
    if (!ls || pw_stab_series_set_se(&ls->series, step, dist, se) != 0)
        return c->oom = 1;
    return 0;
}

/* Read the run's series from the database, when not loaded yet; 0 once loaded. */
static int series_seed(pwd_daemon *d, pwd_run *r)
{
    if (r->series_loaded)
        return 0;
    series_drop(r);
    seed_ctx c = {r, 0};
    pw_err err;
    if (pw_db_series_se(d->db, r->id, seed_point, &c, &err) != 0 || c.oom) {
        pwd_log(PWD_ERROR, "%s: %s", r->name, c.oom ? "out of memory" : err.msg);
        series_drop(r);
        return -1;
    }
    r->series_loaded = 1;
    return 0;
}

/* Write layers.stable_step only when it changed. */
static void note_stable(pwd_daemon *d, pwd_run *r, pwd_layer_state *ls, int64_t step)
{
    pwd_metrics_stable(d, r, ls->name, step);
    if (ls->stable_step == step)
        return;
    pw_err err;
    if (pw_db_layer_set_stable(d->db, r->id, ls->name, step, &err) == 0)
        ls->stable_step = step;
}

/* The unmeasured layers as "name (status), ...", growing; NULL-safe on failure. */
typedef struct unmeasured_list {
    char *text;   /* the list so far (heap), NULL while empty */
    size_t count; /* layers in it */
    int oom;      /* an allocation failed */
} unmeasured_list;

static int add_unmeasured(void *ctx, const char *layer, const char *status)
{
    unmeasured_list *u = ctx;
    char *g = NULL;
    if (asprintf(&g, "%s%s%s (%s)", u->text ? u->text : "", u->text ? ", " : "", layer,
                 status ? status : "no score yet") < 0)
        return u->oom = 1;
    free(u->text);
    u->text = g;
    u->count++;
    return 0;
}

/* The run_converged detail: which layers the verdict leaves out, and why (the
 * status of their newest score), so no reader takes it for every layer.
 * NULL when every layer was measured. */
static char *unmeasured_detail(pwd_daemon *d, pwd_run *r, size_t measured)
{
    unmeasured_list u = {NULL, 0, 0};
    pw_err err;
    char *detail = NULL;
    if (pw_db_unmeasured(d->db, r->id, add_unmeasured, &u, &err) != 0 || u.oom) {
        pwd_log(PWD_ERROR, "%s: %s", r->name, u.oom ? "out of memory" : err.msg);
        free(u.text);
        return NULL;
    }
    if (u.count &&
        asprintf(&detail,
                 "converged over the %zu measured layer%s; %zu never measured (no distance to "
                 "the previous checkpoint), left out: %s",
                 measured, measured == 1 ? "" : "s", u.count, u.text) < 0)
        detail = NULL;
    free(u.text);
    return detail;
}

/* What a layer's transitions are reported with. */
typedef struct report_ctx {
    pwd_daemon *d;           /* daemon */
    pwd_run *r;              /* run */
    const char *layer;       /* layer */
    const pw_stab_params *p; /* the rules applied */
} report_ctx;

static int report(void *ctx, const pw_stab_event *ev)
{
    const report_ctx *c = ctx;
    const char *kind = ev->kind == PW_STAB_STABLE ? "layer_stable" : "layer_unstable";
    if (c->p->rule != PW_STAB_RULE_NOISE) /* the threshold rule's alerts carry no detail */
        return raise_alert(c->d, c->r, kind, c->layer, ev->step, ev->value, NULL);
    /* Under stable_rule = noise say which rule decided, with the bound it compared. */
    char detail[160];
    if (ev->rule == PW_STAB_RULE_NOISE)
        snprintf(detail, sizeof detail, "rule noise: distance %s %g*SE = %.6g %s %g (SE %.6g)",
                 ev->kind == PW_STAB_STABLE ? "+" : "-", c->p->z,
                 ev->kind == PW_STAB_STABLE ? ev->value + c->p->z * ev->se
                                            : ev->value - c->p->z * ev->se,
                 ev->kind == PW_STAB_STABLE ? "<=" : ">",
                 ev->kind == PW_STAB_STABLE ? c->p->theta : c->p->hysteresis, ev->se);
    else
        snprintf(detail, sizeof detail, "rule threshold: no standard error yet for this layer");
    return raise_alert(c->d, c->r, kind, c->layer, ev->step, ev->value, detail);
}

/* The first step whose distance to its predecessor is still to come.
 * Stability is decided only below it, so checkpoints scored out of order
 * (live first, backfill later, two workers) never raise a transition that
 * the missing score would have moved.  Pending, for a readable checkpoint
 * after the first: no previous-reference score yet, or (backlog = fill) one
 * against an older checkpoint than a readable one between them -- the live
 * pair of pw_plan.c, recomputed against its true predecessor once the
 * backlog is filled.  Under backlog = skip a checkpoint a later pair was
 * scored across is passed over for good and holds nothing back.
 * INT64_MAX: nothing pending. */
static int64_t stability_horizon(const pwd_run *r, int skip)
{
    int64_t horizon = INT64_MAX;
    int64_t min_later_ref = INT64_MAX; /* lowest ref_step of the checkpoints after i */
    for (size_t i = r->nck; i-- > 1;) {
        const pwd_ckpt *c = &r->ck[i];
        int64_t ref = c->prev_ref;
        int passed = skip && min_later_ref < c->step;
        if (ref != PW_PLAN_NO_STEP && ref < min_later_ref)
            min_later_ref = ref;
        if (!c->present || c->bad || passed)
            continue;
        int pending = ref == PW_PLAN_NO_STEP;
        for (size_t k = i; !pending && !skip && k-- > 0 && r->ck[k].step > ref;)
            pending = r->ck[k].present && !r->ck[k].bad;
        if (pending)
            horizon = c->step;
    }
    return horizon;
}

/* Bring every layer up to date, raise what changed, and settle the run's convergence. */
static void evaluate(pwd_daemon *d, pwd_run *r)
{
    assert(r->series_loaded);
    const pw_run_config *rc = pw_config_for_run(&d->cfg, r->name, r->path);
    const int64_t horizon = stability_horizon(r, rc->backlog == PW_BACKLOG_SKIP);
    const pw_stab_params p = pw_config_for_run(&d->cfg, r->name, r->path)->stab;
    pw_stab_state *states = calloc(r->nlayers ? r->nlayers : 1, sizeof *states);
    size_t nstates = 0, failed = 0;
    for (size_t i = 0; i < r->nlayers; i++) {
        pwd_layer_state *ls = &r->layers[i];
        report_ctx c = {d, r, ls->name, &p};
        failed += pw_stab_series_update_until(&p, &ls->series, horizon, report, &c);
        /* A layer none of whose points is left is as the database shows it: no series. */
        if (!ls->series.n)
            continue;
        note_stable(d, r, ls, ls->series.end.stable ? ls->series.end.stable_step : PWD_NOT_STABLE);
        if (states)
            states[nstates++] = ls->series.end;
    }
    if (failed) /* offer every transition again at the next update */
        for (size_t i = 0; i < r->nlayers; i++)
            pw_stab_series_reset(&r->layers[i].series);
    int64_t conv;
    pw_err err;
    if (states && pw_stability_converged(states, nstates, &conv)) {
        if (conv != r->converged_step) {
            size_t measured = 0;
            for (size_t i = 0; i < nstates; i++)
                measured += states[i].has_distance != 0;
            char *detail = unmeasured_detail(d, r, measured);
            int raised = raise_alert(d, r, "run_converged", "", conv, NAN, detail);
            free(detail);
            /* Not stored: converged_step stays, and the next update tries again. */
            if (raised == 0 && pw_db_run_set_converged(d->db, r->id, conv, &err) == 0)
                r->converged_step = conv;
        }
    } else if (states && r->converged_step >= 0) {
        if (pw_db_run_set_converged(d->db, r->id, -1, &err) == 0)
            r->converged_step = -1;
    }
    free(states);
}

void pwd_alerts_commit(pwd_daemon *d, pwd_run *r, const pw_db_batch *b)
{
    int previous = 0;
    for (size_t g = 0; g < b->ngroups; g++)
        previous |= b->groups[g].ref == PW_REF_PREVIOUS;
    if (!previous)
        return; /* the series is of previous-reference scores only */
    if (!r->series_loaded) {
        /* The database holds this batch already. */
        if (series_seed(d, r) == 0)
            evaluate(d, r);
        return;
    }
    /* As the commit did: clear the batch's groups, then write its scores. */
    for (size_t g = 0; g < b->ngroups; g++)
        if (b->groups[g].ref == PW_REF_PREVIOUS)
            for (size_t i = 0; i < r->nlayers; i++)
                pw_stab_series_remove(&r->layers[i].series, b->groups[g].step);
    for (size_t k = 0; k < b->nscores; k++) {
        const pw_db_score *sc = &b->scores[k];
        if (sc->ref != PW_REF_PREVIOUS)
            continue;
        /* Stored as the commit stores it: NULL (here NAN) when not finite. */
        double dist = isfinite(sc->r.distance) ? sc->r.distance : NAN;
        double se = sc->noise.blocks && isfinite(dist) && isfinite(sc->noise.se[PW_METRIC_DISTANCE])
                        ? sc->noise.se[PW_METRIC_DISTANCE]
                        : NAN;
        pwd_layer_state *ls = layer_state(r, sc->layer);
        if (!ls || pw_stab_series_set_se(&ls->series, sc->step, dist, se) != 0) {
            pwd_log(PWD_ERROR, "%s: out of memory for the stability series; rereading it", r->name);
            series_drop(r);
            if (series_seed(d, r) != 0)
                return;
            break;
        }
    }
    evaluate(d, r);
}

void pwd_alerts_evaluate(pwd_daemon *d, pwd_run *r)
{
    if (r->series_loaded) {
        for (size_t i = 0; i < r->nlayers; i++)
            pw_stab_series_reset(&r->layers[i].series);
    } else if (series_seed(d, r) != 0) {
        return;
    }
    evaluate(d, r);
}

int pwd_alerts_start(pwd_daemon *d)
{
    pwd_alerts *a = calloc(1, sizeof *a);
    if (!a)
        return -1;
    a->d = d;
    uv_timer_init(d->loop, &a->reaper);
    a->reaper.data = a;
    uv_timer_start(&a->reaper, on_reap, 50, 50);
    d->alerts = a;
    return 0;
}

static void on_reaper_closed(uv_handle_t *h)
{
    pwd_alerts *a = h->data;
    while (a->head) {
        hook_item *it = a->head;
        a->head = it->next;
        item_free(it);
    }
    free(a);
}

void pwd_alerts_stop(pwd_daemon *d)
{
    pwd_alerts *a = d->alerts;
    if (!a)
        return;
    a->closing = 1;
    if (a->pid) {
        /* A hook still running at shutdown is not waited for beyond this. */
        kill(-a->pid, SIGKILL);
        waitpid(a->pid, NULL, 0);
        a->pid = 0;
    }
    while (a->outs)
        out_close(a->outs);
    uv_close((uv_handle_t *)&a->reaper, on_reaper_closed);
    d->alerts = NULL;
}

void pwd_alerts_reload(pwd_run *r)
{
    series_drop(r);
}
