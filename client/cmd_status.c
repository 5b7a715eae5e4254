/* cmd_status.c -- `pwcca status`: what the running daemon is doing, via its socket. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "pw_limits.h"
#include "pw_paths.h"
#include "sock.h"

static const char help[] =
    "Usage: pwcca status [--format text|json]\n"
    "Ask the running daemon for its status over its control socket: version, pid,\n"
    "uptime, checkpoints queued, done and failed, the last error, retention (when on,\n"
    "or while copies are held: modes, bytes held of the budget, copies, evictions,\n"
    "the last retention error), and its runs, with the step every measured layer\n"
    "was stable at (CONVERGED).  Layers never measured (no real distance to the\n"
    "previous checkpoint) are named under the table with their newest status,\n"
    "read from the database (--db); CONVERGED says nothing about them.  Then where\n"
    "the daemon stands: the job in progress (run, step, reference, layer, elapsed),\n"
    "and per run its queue, the compute seconds per checkpoint (last, mean), the\n"
    "live lag (a checkpoint's file time to its scores) and an ETA (queue x mean).\n"
    "With a store several daemons share (PostgreSQL; --db, else PWCCAD_DB, else the\n"
    "default database, as for every command), a table of the store's daemons\n"
    "follows: host, pid, start, last heartbeat (its age by the database's clock;\n"
    "\"stale\" when older than the daemon's lease, \"stopped\" after a clean stop),\n"
    "its job and the claims it holds (run:ID, group:NAME).  On a cluster node set\n"
    "PWCCAD_DB to the daemons' postgresql:// URL (pwcca does not read their\n"
    "config's db_url).  Then status works without a local daemon too: it shows\n"
    "the store's daemons only.  Exits 1 with a clear message when no daemon\n"
    "listens on the socket and the store names none.\n"
    "\n"
    "  --format F   text (default) or json (the daemon's answer as it is; see\n"
    "               docs/protocol.md; with the store's daemons in \"daemons\", and\n"
    "               without a local daemon {\"daemons\": [...], \"local_error\": \"...\"})\n"
    "  -h, --help   show this help\n";

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "-";
}

static void num(char *buf, size_t len, json_t *v)
{
    if (json_is_integer(v))
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
    else if (json_is_number(v))
        snprintf(buf, len, "%g", json_number_value(v));
    else
        snprintf(buf, len, "-");
}

/* bytes as "812 B", "3.2 GiB", "4 GiB" (binary units, one decimal unless whole). */
static void human_bytes(char *buf, size_t len, json_t *v)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        snprintf(buf, len, "-");
        return;
    }
    double x = (double)json_integer_value(v);
    size_t u = 0;
    while (x >= 1024 && u + 1 < sizeof unit / sizeof *unit) {
        x /= 1024;
        u++;
    }
    char n[32];
    snprintf(n, sizeof n, "%.1f", x);
    size_t k = strlen(n);
    if (k > 2 && strcmp(n + k - 2, ".0") == 0)
        n[k - 2] = '\0'; /* "4.0 GiB" reads as "4 GiB"; whole bytes lose nothing */
    snprintf(buf, len, "%s %s", n, unit[u]);
}

/* "retention: bf16, 3.2 GiB of 4 GiB, 812 copies, 14 evicted" when retention is on or
 * copies are held (then "off"); nothing otherwise, and nothing from an older daemon. */
static void print_retention(json_t *rt)
{
    json_t *modes = json_object_get(rt, "modes");
    json_t *copies = json_object_get(rt, "copies");
    if (!json_is_object(rt) || (json_array_size(modes) == 0 && json_integer_value(copies) == 0))
        return;
    char mode[64] = "", held[32], budget[32], ncopies[32], evicted[32];
    size_t i;
    json_t *m;
    json_array_foreach(modes, i, m)
    {
        size_t k = strlen(mode);
        snprintf(mode + k, sizeof mode - k, "%s%s", i ? "+" : "",
                 json_is_string(m) ? json_string_value(m) : "?");
    }
    human_bytes(held, sizeof held, json_object_get(rt, "bytes"));
    human_bytes(budget, sizeof budget, json_object_get(rt, "budget_bytes"));
    num(ncopies, sizeof ncopies, copies);
    num(evicted, sizeof evicted, json_object_get(rt, "evictions"));
    printf("retention: %s, %s of %s, %s cop%s, %s evicted\n", mode[0] ? mode : "off", held, budget,
           ncopies, json_integer_value(copies) == 1 ? "y" : "ies", evicted);
    const char *err = json_string_value(json_object_get(rt, "last_error"));
    if (err)
        printf("retention error: %s\n", err);
}

#define NOTE_MAX 12288 /* bytes of one run's note under the table */

/* The note under the runs table for one run, into buf ("" for none): its
 * layers never measured, from the database the client reads (the daemon's
 * answer does not carry them).  q is NULL when the database cannot be read
 * (dberr says why).  Returns 1 when the run's CONVERGED step leaves layers
 * out or cannot be checked: a CONVERGED step is never shown as if it
 * covered every layer without a word. */
static int run_note(pw_query *q, const char *dbpath, const char *dberr, json_t *run, char *buf,
                    size_t len)
{
    const char *name = str(run, "name"), *rpath = json_string_value(json_object_get(run, "path"));
    int converged = json_is_integer(json_object_get(run, "converged_step"));
    pw_run_info info;
    pw_layer_info *ls = NULL;
    size_t nls = 0;
    pw_err err = {""};
    char names[2048];
    buf[0] = '\0';
    if (!q || !rpath || pw_query_find_run(q, rpath, &info, &err) != 0) {
        if (converged && !q)
            snprintf(buf, len, "* %s: which layers CONVERGED covers is unknown: %s", name, dberr);
        else if (converged)
            snprintf(buf, len,
                     "* %s: which layers CONVERGED covers is unknown: %s has no run %s (is --db "
                     "the daemon's database?)",
                     name, dbpath, rpath ? rpath : name);
        return converged;
    }
    if (info.measured_layers < info.layers && pw_query_layers(q, &info, &ls, &nls, &err) != 0) {
        if (converged)
            snprintf(buf, len, "* %s: which layers CONVERGED covers is unknown: %s", name, err.msg);
        pw_query_run_clear(&info);
        return converged;
    }
    size_t k = pwcca_unmeasured_text(ls, nls, names, sizeof names);
    if (k)
        snprintf(buf, len,
                 "%s%s: %zu of %lld layers never measured (no distance to the previous "
                 "checkpoint): %s%s",
                 converged ? "* " : "", name, k, (long long)info.layers, names,
                 converged ? "; CONVERGED covers only the measured ones" : "");
    pw_query_layers_free(ls, nls);
    pw_query_run_clear(&info);
    return converged && k > 0;
}

/* Seconds as "12.3 s", "4 min 05 s", "2 h 03 min"; "-" when x is negative or NAN. */
static void seconds_text(char *buf, size_t len, double x)
{
    if (!(x >= 0)) {
        snprintf(buf, len, "-");
        return;
    }
    if (x < 60)
        snprintf(buf, len, "%.1f s", x);
    else if (x < 3600)
        snprintf(buf, len, "%d min %02d s", (int)(x / 60), (int)x % 60);
    else if (x < 1e8)
        snprintf(buf, len, "%d h %02d min", (int)(x / 3600), (int)(x / 60) % 60);
    else
        snprintf(buf, len, "%.3g s", x);
}

/* seconds_text of a JSON number; "-" when v is no number. */
static void human_seconds(char *buf, size_t len, json_t *v)
{
    seconds_text(buf, len, json_is_number(v) ? json_number_value(v) : NAN);
}

/* Where the daemon stands (protocol.md): the jobs running, then per run its queue,
 * compute seconds, live lag and ETA.  Older daemons send none of it: nothing shown. */
static void print_progress(json_t *r)
{
    json_t *working = json_object_get(r, "working"), *w;
    size_t i;
    json_array_foreach(working, i, w)
    {
        char el[32], step[32], refstep[32];
        human_seconds(el, sizeof el, json_object_get(w, "elapsed_s"));
        num(step, sizeof step, json_object_get(w, "step"));
        num(refstep, sizeof refstep, json_object_get(w, "ref_step"));
        if (json_is_string(json_object_get(w, "layer")))
            printf("working: %s step %s against the %s checkpoint (step %s), layer %s, for %s\n",
                   str(w, "run"), step, str(w, "ref"), refstep, str(w, "layer"), el);
        else
            printf("working: %s step %s, reading, for %s\n", str(w, "run"), step, el);
    }
    json_t *runs = json_object_get(r, "runs"), *run;
    json_array_foreach(runs, i, run)
    {
        json_t *q = json_object_get(run, "queue");
        if (!json_is_integer(q))
            continue;
        char last[32], mean[32], lag[32], eta[32], lagstep[32];
        human_seconds(last, sizeof last, json_object_get(run, "compute_last_s"));
        human_seconds(mean, sizeof mean, json_object_get(run, "compute_mean_s"));
        human_seconds(lag, sizeof lag, json_object_get(run, "live_lag_s"));
        human_seconds(eta, sizeof eta, json_object_get(run, "eta_s"));
        num(lagstep, sizeof lagstep, json_object_get(run, "live_lag_step"));
        printf("%s: %lld queued, ETA %s; per checkpoint %s last, %s mean; live lag %s",
               str(run, "name"), (long long)json_integer_value(q), eta, last, mean, lag);
        if (json_is_integer(json_object_get(run, "live_lag_step")))
            printf(" (step %s)", lagstep);
        printf("\n");
    }
    if (json_object_get(r, "eta_s")) {
        char eta[32];
        human_seconds(eta, sizeof eta, json_object_get(r, "eta_s"));
        printf("all queued work: ETA %s\n", eta);
    }
}

static int print_text(pw_query *q, const char *dbpath, const char *dberr, json_t *r)
{
    char pid[32], up[32], queue[32], done[32], failed[32];
    num(pid, sizeof pid, json_object_get(r, "pid"));
    num(up, sizeof up, json_object_get(r, "uptime_s"));
    num(queue, sizeof queue, json_object_get(r, "queue"));
    num(done, sizeof done, json_object_get(r, "checkpoints_done"));
    num(failed, sizeof failed, json_object_get(r, "checkpoints_failed"));
    printf("pwccad %s, pid %s, up %s s\n", str(r, "version"), pid, up);
    printf("checkpoints: %s queued, %s done, %s failed\n", queue, done, failed);
    const char *last = json_string_value(json_object_get(r, "last_error"));
    printf("last error: %s\n", last ? last : "none");
    print_retention(json_object_get(r, "retention"));

    json_t *runs = json_object_get(r, "runs");
    if (!json_is_array(runs) || json_array_size(runs) == 0) {
        printf("no runs watched\n");
        return PWCCA_OK;
    }
    static const char *const head[] = {"RUN",        "STATE",     "CHECKPOINTS", "LAST_STEP",
                                       "FINAL_STEP", "CONVERGED", "PATH"};
    char *notes = calloc(json_array_size(runs), NOTE_MAX);
    pwcca_table t;
    if (!notes || pwcca_table_init(&t, 7, head, 0x3Cu) != 0) {
        free(notes);
        return pwcca_fail("out of memory");
    }
    size_t i;
    json_t *run;
    json_array_foreach(runs, i, run)
    {
        char ck[32], ls[32], fs[32], cv[32];
        num(ck, sizeof ck, json_object_get(run, "checkpoints"));
        num(ls, sizeof ls, json_object_get(run, "last_step"));
        num(fs, sizeof fs, json_object_get(run, "final_step"));
        num(cv, sizeof cv - 1, json_object_get(run, "converged_step"));
        /* A converged step that leaves layers out points at its note below. */
        if (run_note(q, dbpath, dberr, run, notes + i * NOTE_MAX, NOTE_MAX))
            strcat(cv, "*");
        const char *row[] = {str(run, "name"), str(run, "state"), ck, ls, fs, cv, str(run, "path")};
        if (pwcca_table_row(&t, row) != 0) {
            pwcca_table_free(&t);
            free(notes);
            return pwcca_fail("out of memory");
        }
    }
    pwcca_table_print(&t, stdout);
    for (i = 0; i < json_array_size(runs); i++)
        if (notes[i * NOTE_MAX])
            puts(notes + i * NOTE_MAX);
    free(notes);
    print_progress(r);
    return PWCCA_OK;
}

/* ---- the store's daemons (009_share.sql) ------------------------------------------ */

/* The daemons the store names, read from --db / PWCCAD_DB / the default. */
typedef struct store_daemons {
    pw_daemon_info *d; /* the daemons, by id */
    size_t n;          /* how many (0 on SQLite, where one daemon owns the file) */
    double now;        /* the database's clock, which their heartbeats are in */
    int pg;            /* the store is PostgreSQL: failing to read it is worth a word */
} store_daemons;

/* Unix seconds as "2026-12-07 00:12:03Z" (UTC: the daemons may live in other zones). */
static void utc_time(char *buf, size_t len, double t)
{
    struct tm tm;
    time_t s = (time_t)t;
    if (!isfinite(t) || !gmtime_r(&s, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%SZ", &tm))
        snprintf(buf, len, "-");
}

/* "run:1, run:2" of a daemon's claims ("-" when none), "..." once full. */
static void units_text(char *buf, size_t len, const pw_daemon_info *d)
{
    size_t used = 0;
    snprintf(buf, len, "-");
    for (size_t k = 0; k < d->nunits; k++) {
        int w = snprintf(buf + used, len - used, "%s%s", k ? ", " : "", d->units[k]);
        if (w < 0 || (size_t)w >= len - used) {
            snprintf(buf + (used < len - 4 ? used : len - 4), 4, "...");
            return;
        }
        used += (size_t)w;
    }
}

/* The table of the store's daemons; the one whose id is here (the local daemon's
 * share.daemon_id, -1 when none answered) is marked "*". */
static int print_daemons(const store_daemons *sd, const char *dbshow, int64_t here)
{
    static const char *const head[] = {"ID",    "HOST",  "PID", "STARTED", "HEARTBEAT",
                                       "LEASE", "STATE", "JOB", "CLAIMS"};
    pwcca_table t;
    if (pwcca_table_init(&t, 9, head, 0x25u) != 0)
        return pwcca_fail("out of memory");
    for (size_t i = 0; i < sd->n; i++) {
        const pw_daemon_info *d = &sd->d[i];
        char id[32], pid[32], started[40], age[48], lease[32], units[1024];
        snprintf(id, sizeof id, "%lld%s", (long long)d->id, d->id == here ? "*" : "");
        snprintf(pid, sizeof pid, "%lld", (long long)d->pid);
        utc_time(started, sizeof started, d->started_at);
        /* A heartbeat a little ahead of now (clocks read microseconds apart) is 0 s old. */
        double ago = sd->now - d->heartbeat_at;
        seconds_text(age, sizeof age - 4, ago < 0 && ago > -1 ? 0 : ago);
        if (strcmp(age, "-") != 0)
            strcat(age, " ago");
        seconds_text(lease, sizeof lease, d->lease_s);
        units_text(units, sizeof units, d);
        const char *row[] = {id,
                             d->host,
                             pid,
                             started,
                             age,
                             lease,
                             pw_query_daemon_state(d, sd->now),
                             d->job ? d->job : "idle",
                             units};
        if (pwcca_table_row(&t, row) != 0) {
            pwcca_table_free(&t);
            return pwcca_fail("out of memory");
        }
    }
    printf("daemons of the store %s:\n", dbshow);
    pwcca_table_print(&t, stdout);
    for (size_t i = 0; i < sd->n; i++)
        if (sd->d[i].id == here)
            printf("* this machine's daemon (the one answering on the socket)\n");
    return PWCCA_OK;
}

/* The daemons as the "daemons" array of --format json. */
static json_t *daemons_json(const store_daemons *sd)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < sd->n && arr; i++) {
        const pw_daemon_info *d = &sd->d[i];
        json_t *units = json_array();
        for (size_t k = 0; k < d->nunits && units; k++)
            json_array_append_new(units, pw_json_str(d->units[k]));
        json_t *o = json_pack("{s:I, s:o, s:I, s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:o}", "id",
                              (json_int_t)d->id, "host", pw_json_str(d->host), "pid",
                              (json_int_t)d->pid, "started_at", pw_json_real(d->started_at),
                              "heartbeat_at", pw_json_real(d->heartbeat_at), "heartbeat_age_s",
                              pw_json_real(sd->now - d->heartbeat_at), "lease_s",
                              pw_json_real(d->lease_s), "state", pw_query_daemon_state(d, sd->now),
                              "job", d->job ? pw_json_str(d->job) : json_null(), "stopped_at",
                              pw_json_real(d->stopped_at), "claims", units ? units : json_array());
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

int pwcca_cmd_status(const pwcca_opts *o, int argc, char **argv)
{
    static const char *const formats[] = {"text", "json", NULL};
    int format = 0, pos;
    const pwcca_arg args[] = {{"format", 0, PWCCA_ARG_CHOICE, formats, &format},
                              {NULL, 0, 0, NULL, NULL}};
    int done = pwcca_parse_args(argc, argv, help, args, 0, 0, "RUN", &pos);
    if (done >= 0)
        return done;

    /* The local daemon first; its failure is told only when the store names no daemon. */
    char sock[PW_PATH_MAX];
    pw_err serr = {""};
    json_t *req = json_pack("{s:s}", "cmd", "status"), *resp = NULL;
    if (!req)
        return pwcca_fail("out of memory");
    int local = pwcca_sock_path(o->socket, sock, sizeof sock, &serr) == 0 &&
                pwcca_sock_call(sock, req, &resp, &serr) == 0;
    json_decref(req);

    /* The store: the runs' notes read it, and on PostgreSQL it names its daemons. */
    char dbpath[PW_PATH_MAX], dbshow[PW_PATH_MAX]; /* dbshow: a password hidden */
    pw_err dberr = {""};
    pw_query *q = NULL;
    store_daemons sd = {NULL, 0, NAN, 0};
    if (pw_paths_db(o->db, dbpath, sizeof dbpath, &dberr) != 0) {
        q = NULL;
        dbpath[0] = '\0';
    } else if (pw_query_open(dbpath, &q, &dberr) != 0) {
        q = NULL;
    } else if (pw_query_daemons(q, &sd.d, &sd.n, &sd.now, &dberr) != 0) {
        sd.n = 0;
    }
    sd.pg = pw_paths_is_pg(dbpath);
    snprintf(dbshow, sizeof dbshow, "%s", q ? pw_query_name(q) : "");

    /* The local daemon's row in the store, when it shares one (its answer's "share"). */
    json_t *sid = json_object_get(json_object_get(resp, "share"), "daemon_id");
    int64_t here = local && json_is_integer(sid) ? (int64_t)json_integer_value(sid) : -1;
    int rc = PWCCA_OK;
    if (!local && sd.n == 0) {
        rc = sd.pg && dberr.msg[0]
                 ? pwcca_fail("%s; and the store's daemons are unknown: %s", serr.msg, dberr.msg)
                 : pwcca_fail("%s", serr.msg);
    } else if (format == 1) {
        json_t *out = local ? json_incref(resp) : json_object();
        json_t *ds = sd.n ? daemons_json(&sd) : NULL;
        if (!out || (sd.n && !ds)) {
            json_decref(out);
            json_decref(ds);
            rc = pwcca_fail("out of memory");
        } else {
            if (ds)
                json_object_set_new(out, "daemons", ds);
            if (!local)
                json_object_set_new(out, "local_error", pw_json_str(serr.msg));
            rc = pwcca_print_json(out);
        }
    } else {
        if (local)
            rc = print_text(q, dbshow, dberr.msg, resp);
        else
            printf("no local daemon: %s\n", serr.msg);
        if (rc == PWCCA_OK && sd.n)
            rc = print_daemons(&sd, dbshow, here);
        else if (rc == PWCCA_OK && sd.pg && !q)
            printf("daemons of the store: unknown: %s\n", dberr.msg);
    }
    pw_query_daemons_free(sd.d, sd.n);
    pw_query_close(q);
    json_decref(resp);
    return rc;
}
