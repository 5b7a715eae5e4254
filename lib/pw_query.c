/* pw_query.c -- read-only queries over pwccad's database (see pw_query.h).
 *
 * Each query is one SQL statement, so it reads one consistent snapshot even
 * while the daemon commits in WAL mode.  A busy timeout covers the short
 * moments a WAL checkpoint or recovery holds a lock. */
#include "pw_query.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "pw_array.h"
#include "pw_chance.h"
#include "pw_limits.h"
#include "pw_noise.h"
#include "pw_paths.h"
#include "pw_schema.h"
#include "pw_store_impl.h"

#define PROGRESS_EVERY 4096 /* rows between progress callbacks */

struct pw_query {
    const pw_query_ops *ops; /* another backend's operations (pw_store_impl.h); NULL: SQLite */
    void *impl;              /* that backend's handle */
    sqlite3 *db;             /* read-only connection */
    char path[PW_PATH_MAX];  /* for messages */
    int version;             /* PRAGMA user_version: which columns exist */
};

/* The schema version that added scores.reduce, k_x and k_y (002_reduce.sql). */
#define REDUCE_VERSION 2
/* The schema version that added checkpoints.probe_fingerprint (003_probe.sql). */
#define PROBE_VERSION 3
/* The schema version that added scores.cka_debiased and procrustes (004_measures.sql). */
#define MEASURES_VERSION 4
/* The schema version that added scores.*_se and noise_blocks (005_noise.sql). */
#define NOISE_VERSION PW_NOISE_SCHEMA_VERSION

/* ---- small helpers ------------------------------------------------------- */

static int db_fail(pw_query *q, pw_err *err, const char *what)
{
    return pw_err_set(err, "%s: %s: %s", q->path, what, sqlite3_errmsg(q->db));
}

static int prepare(pw_query *q, const char *sql, sqlite3_stmt **st, pw_err *err)
{
    if (sqlite3_prepare_v2(q->db, sql, -1, st, NULL) != SQLITE_OK)
        return db_fail(q, err, "cannot prepare a query (is this a pwccad database?)");
    return 0;
}

/* A copy of a text column; NULL for SQL NULL.  *oom is set when malloc fails. */
static char *col_text(sqlite3_stmt *st, int i, int *oom)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t)
        return NULL;
    char *s = strdup((const char *)t);
    if (!s)
        *oom = 1;
    return s;
}

/* Like col_text but never NULL: SQL NULL becomes "". */
static char *col_text_nn(sqlite3_stmt *st, int i, int *oom)
{
    char *s = col_text(st, i, oom);
    if (!s && !*oom) {
        s = strdup("");
        if (!s)
            *oom = 1;
    }
    return s;
}

static int64_t col_step(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? PW_QUERY_NO_STEP
                                                     : sqlite3_column_int64(st, i);
}

static int64_t col_count(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, i);
}

static double col_real(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

/* How read_rows turns the rows of one query into an array of elements. */
typedef struct row_type {
    const char *what; /* the rows in messages: "runs", "layers", ... */
    size_t size;      /* bytes per element */
    /* Fill a zeroed element from the statement's row; non-zero when out of
     * memory (what it did read is freed with the rest). */
    int (*read)(sqlite3_stmt *st, void *elem, const void *ctx);
    void (*free)(void *arr, size_t n); /* the module's _free for this type */
} row_type;

/* Step st (prepared and bound) to its end, reading each row into a growing
 * array of t's elements; ctx goes to t->read.  progress (may be NULL) hears
 * every PROGRESS_EVERY rows and once at the end.  st is finalized.  On
 * failure nothing is returned: what was read is freed. */
static int read_rows(pw_query *q, sqlite3_stmt *st, const row_type *t, const void *ctx,
                     pw_query_progress_fn progress, void *pctx, void **out, size_t *n, pw_err *err)
{
    unsigned char *arr = NULL;
    size_t cap = 0, cnt = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        unsigned char *more = pw_grow(arr, &cap, cnt + 1, t->size, 16);
        if (!more) {
            pw_err_set(err, "out of memory reading the database (%zu rows)", cnt);
            goto fail;
        }
        arr = more;
        void *elem = arr + cnt++ * t->size;
        memset(elem, 0, t->size);
        if (t->read(st, elem, ctx) != 0) {
            pw_err_set(err, "out of memory reading %s", t->what);
            goto fail;
        }
        if (progress && cnt % PROGRESS_EVERY == 0)
            progress(pctx, cnt);
    }
    if (rc != SQLITE_DONE) {
        char what[64];
        snprintf(what, sizeof what, "reading %s", t->what);
        db_fail(q, err, what);
        goto fail;
    }
    if (progress)
        progress(pctx, cnt);
    sqlite3_finalize(st);
    *out = arr;
    *n = cnt;
    return 0;
fail:
    sqlite3_finalize(st);
    t->free(arr, cnt);
    return -1;
}

/* Append s to a comma-separated list in buf, ending in "..." once full. */
static void list_append(char *buf, size_t len, const char *s)
{
    size_t used = strlen(buf);
    if (used >= 3 && strcmp(buf + used - 3, "...") == 0)
        return;
    const char *sep = used ? ", " : "";
    if (used + strlen(sep) + strlen(s) + 4 < len)
        snprintf(buf + used, len - used, "%s%s", sep, s);
    else if (used + 4 < len)
        snprintf(buf + used, len - used, "%s...", sep);
}

/* ---- open ------------------------------------------------------------------ */

/* PRAGMA user_version, or -1 with *code set to SQLite's primary error code. */
static int read_version(sqlite3 *db, int *code)
{
    sqlite3_stmt *st = NULL;
    int version = -1, rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    *code = rc & 0xff;
    sqlite3_finalize(st);
    return version;
}

/* "file:PATH?immutable=1" with PATH percent-encoded, as SQLite's URI parser wants. */
static int immutable_uri(const char *path, char *buf, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = (size_t)snprintf(buf, len, "file:");
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if (o + 4 >= len)
            return -1;
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("/-._~", *p)) {
            buf[o++] = (char)*p;
        } else {
            buf[o++] = '%';
            buf[o++] = hex[*p >> 4];
            buf[o++] = hex[*p & 15];
        }
    }
    return snprintf(buf + o, len - o, "?immutable=1") < (int)(len - o) ? 0 : -1;
}

/* A reader of a WAL database must create PATH-shm when nobody has it open.
 * A user with read access only (the service's group) cannot; if no log is
 * waiting in PATH-wal either, the file alone is the whole database and can
 * be read as immutable.  Returns the new version, or -1. */
static int reopen_immutable(pw_query *q, int *code)
{
    char wal[4200], uri[3 * sizeof q->path + 32];
    struct stat ws;
    snprintf(wal, sizeof wal, "%s-wal", q->path);
    if ((stat(wal, &ws) == 0 && ws.st_size > 0) || immutable_uri(q->path, uri, sizeof uri) != 0)
        return -1;
    sqlite3_close(q->db);
    q->db = NULL;
    if (sqlite3_open_v2(uri, &q->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK)
        return -1;
    return read_version(q->db, code);
}

int pw_query_open(const char *path, pw_query **out, pw_err *err)
{
    struct stat sb;
    *out = NULL;
    if (pw_paths_is_pg(path)) {
        pw_query *q = calloc(1, sizeof *q);
        if (!q)
            return pw_err_set(err, "out of memory opening %s", path);
        pw_pg_display(path, q->path, sizeof q->path); /* for messages */
        if (pw_pg_query_open(path, &q->impl, &q->ops, err) != 0) {
            free(q);
            return -1;
        }
        *out = q;
        return 0;
    }
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT)
            return pw_err_set(err,
                              "database %s does not exist: pwccad has not written there yet "
                              "(start it, or name another file with --db or PWCCAD_DB)",
                              path);
        return pw_err_set(err, "database %s: %s", path, strerror(errno));
    }
    if (!S_ISREG(sb.st_mode))
        return pw_err_set(err, "database %s is not a regular file", path);

    pw_query *q = calloc(1, sizeof *q);
    if (!q)
        return pw_err_set(err, "out of memory opening %s", path);
    snprintf(q->path, sizeof q->path, "%s", path);
    if (sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        pw_err_set(err, "cannot open database %s: %s", path,
                   q->db ? sqlite3_errmsg(q->db) : "out of memory");
        pw_query_close(q);
        return -1;
    }
    sqlite3_busy_timeout(q->db, PW_DB_BUSY_MS);

    int code = SQLITE_OK;
    int version = read_version(q->db, &code);
    if (version < 0 && (code == SQLITE_READONLY || code == SQLITE_CANTOPEN))
        version = reopen_immutable(q, &code);
    if (version < 0) {
        if (code == SQLITE_READONLY || code == SQLITE_CANTOPEN)
            pw_err_set(err,
                       "cannot read %s: its write-ahead log (%s-wal) needs %s-shm, which "
                       "this user cannot create; read it as the daemon's user or group, or "
                       "while pwccad runs",
                       path, path, path);
        else
            pw_err_set(err, "%s is not a readable SQLite database: %s", path,
                       q->db ? sqlite3_errmsg(q->db) : "cannot reopen it");
        pw_query_close(q);
        return -1;
    }

    int known = pw_schema_nmigrations ? pw_schema_migrations[pw_schema_nmigrations - 1].version : 0;
    if (version == 0 || version > known) {
        if (version == 0)
            pw_err_set(err,
                       "%s is not a pwccad database (PRAGMA user_version is 0: no pwccad "
                       "schema was applied)",
                       path);
        else
            pw_err_set(err,
                       "%s has schema version %d but this pwcca reads versions 1 to %d: "
                       "upgrade pwcca",
                       path, version, known);
        pw_query_close(q);
        return -1;
    }
    q->version = version;
    *out = q;
    return 0;
}

const char *pw_query_name(const pw_query *q)
{
    return q->path;
}

void pw_query_close(pw_query *q)
{
    if (!q)
        return;
    if (q->ops)
        q->ops->close(q->impl);
    sqlite3_close(q->db);
    free(q);
}

/* ---- runs ------------------------------------------------------------------ */

/* Layer l has a real distance to the previous checkpoint: what "measured" means. */
#define MEASURED                                                                                   \
    "EXISTS (SELECT 1 FROM scores m WHERE m.run_id = l.run_id AND m.layer = l.name AND"            \
    " m.ref = 'previous' AND m.status = 'ok' AND m.distance IS NOT NULL)"

#define RUN_COLUMNS                                                                                \
    "SELECT r.id, r.name, r.path, r.final_step, r.final_source, r.converged_step,"                 \
    " (SELECT COUNT(*) FROM checkpoints c WHERE c.run_id = r.id),"                                 \
    " (SELECT MAX(step) FROM checkpoints c WHERE c.run_id = r.id),"                                \
    " (SELECT COUNT(*) FROM layers l WHERE l.run_id = r.id),"                                      \
    " (SELECT COUNT(*) FROM layers l WHERE l.run_id = r.id AND l.stable_step IS NOT NULL),"        \
    " (SELECT COUNT(*) FROM layers l WHERE l.run_id = r.id AND " MEASURED "), "

static int read_run(sqlite3_stmt *st, void *elem, const void *ctx)
{
    pw_run_info *r = elem;
    int oom = 0;
    (void)ctx;
    r->id = sqlite3_column_int64(st, 0);
    r->name = col_text_nn(st, 1, &oom);
    r->path = col_text_nn(st, 2, &oom);
    r->final_step = col_step(st, 3);
    r->final_source = col_text(st, 4, &oom);
    r->converged_step = col_step(st, 5);
    r->checkpoints = sqlite3_column_int64(st, 6);
    r->last_step = col_step(st, 7);
    r->layers = sqlite3_column_int64(st, 8);
    r->stable_layers = sqlite3_column_int64(st, 9);
    r->measured_layers = sqlite3_column_int64(st, 10);
    r->probe = col_text(st, 11, &oom);
    return oom;
}

void pw_query_run_clear(pw_run_info *run)
{
    if (!run)
        return;
    free(run->name);
    free(run->path);
    free(run->final_source);
    free(run->probe);
    memset(run, 0, sizeof *run);
}

void pw_query_runs_free(pw_run_info *runs, size_t n)
{
    for (size_t i = 0; runs && i < n; i++)
        pw_query_run_clear(&runs[i]);
    free(runs);
}

static void runs_free(void *arr, size_t n)
{
    pw_query_runs_free(arr, n);
}

static const row_type run_rows = {"runs", sizeof(pw_run_info), read_run, runs_free};

/* Runs matching where, whose one text parameter is arg (NULL for PW_RUNS_ALL). */
static int select_runs(pw_query *q, pw_runs_where by, const char *arg, pw_run_info **out, size_t *n,
                       pw_err *err)
{
    if (q->ops)
        return q->ops->select_runs(q->impl, by, arg, out, n, err);
    const char *where = by == PW_RUNS_BY_PATH   ? "WHERE r.path = ?1"
                        : by == PW_RUNS_BY_NAME ? "WHERE r.name = ?1"
                                                : "";
    char sql[2048];
    sqlite3_stmt *st = NULL;
    void *runs = NULL;
    /* A database the daemon has not migrated yet has no fingerprints. */
    const char *probe = q->version >= PROBE_VERSION
                            ? "(SELECT c.probe_fingerprint FROM checkpoints c WHERE c.run_id = r.id"
                              " AND c.probe_fingerprint IS NOT NULL ORDER BY c.step DESC LIMIT 1)"
                            : "NULL";
    snprintf(sql, sizeof sql, "%s %s FROM runs r %s ORDER BY r.name, r.path", RUN_COLUMNS, probe,
             where);
    if (prepare(q, sql, &st, err) != 0)
        return -1;
    if (arg)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    if (read_rows(q, st, &run_rows, NULL, NULL, NULL, &runs, n, err) != 0)
        return -1;
    *out = runs;
    return 0;
}

int pw_query_runs(pw_query *q, pw_run_info **out, size_t *n, pw_err *err)
{
    return select_runs(q, PW_RUNS_ALL, NULL, out, n, err);
}

/* Moves the single match into out, or fails naming what went wrong. */
static int take_one(pw_run_info *runs, size_t n, const char *asked, pw_run_info *out, pw_err *err)
{
    if (n == 1) {
        *out = runs[0];
        free(runs);
        return 0;
    }
    char paths[PW_ERR_MAX / 2] = "";
    for (size_t i = 0; i < n; i++)
        list_append(paths, sizeof paths, runs[i].path);
    pw_query_runs_free(runs, n);
    return pw_err_set(err, "run name '%s' is ambiguous: name it by path (%s)", asked, paths);
}

int pw_query_find_run(pw_query *q, const char *name_or_path, pw_run_info *out, pw_err *err)
{
    pw_run_info *runs = NULL;
    size_t n = 0;
    memset(out, 0, sizeof *out);

    if (select_runs(q, PW_RUNS_BY_PATH, name_or_path, &runs, &n, err) != 0)
        return -1;
    if (n == 0 && strchr(name_or_path, '/')) {
        char *real = realpath(name_or_path, NULL);
        if (real) {
            free(runs);
            int rc = select_runs(q, PW_RUNS_BY_PATH, real, &runs, &n, err);
            free(real);
            if (rc != 0)
                return -1;
        }
    }
    if (n == 0) {
        free(runs);
        if (select_runs(q, PW_RUNS_BY_NAME, name_or_path, &runs, &n, err) != 0)
            return -1;
    }
    if (n > 0)
        return take_one(runs, n, name_or_path, out, err);
    free(runs);

    /* Unknown: list what there is. */
    if (select_runs(q, PW_RUNS_ALL, NULL, &runs, &n, err) != 0)
        return -1;
    /* Names once each; a name several runs share is shown by their paths. */
    char known[PW_ERR_MAX / 2] = "";
    for (size_t i = 0; i < n; i++) {
        int shared = (i > 0 && strcmp(runs[i - 1].name, runs[i].name) == 0) ||
                     (i + 1 < n && strcmp(runs[i + 1].name, runs[i].name) == 0);
        list_append(known, sizeof known, shared ? runs[i].path : runs[i].name);
    }
    pw_query_runs_free(runs, n);
    if (n == 0)
        return pw_err_set(err, "no run '%s': the database %s has no runs yet", name_or_path,
                          q->path);
    return pw_err_set(err, "no run '%s'; known runs: %s", name_or_path, known);
}

/* ---- layers ------------------------------------------------------------------ */

void pw_query_layers_free(pw_layer_info *layers, size_t n)
{
    for (size_t i = 0; layers && i < n; i++) {
        free(layers[i].name);
        free(layers[i].dtype);
        free(layers[i].shape);
        free(layers[i].last_status);
        free(layers[i].prev_status);
    }
    free(layers);
}

static int read_layer(sqlite3_stmt *st, void *elem, const void *ctx)
{
    pw_layer_info *l = elem;
    int oom = 0;
    (void)ctx;
    l->name = col_text_nn(st, 0, &oom);
    l->depth = sqlite3_column_int(st, 1);
    l->dtype = col_text_nn(st, 2, &oom);
    l->shape = col_text_nn(st, 3, &oom);
    l->rows = sqlite3_column_int64(st, 4);
    l->cols = sqlite3_column_int64(st, 5);
    l->stable_step = col_step(st, 6);
    l->last_status = col_text(st, 7, &oom);
    l->last_step = col_step(st, 8);
    l->last_distance = col_real(st, 9);
    l->measured = sqlite3_column_int(st, 10) != 0;
    l->prev_status = col_text(st, 11, &oom);
    return oom;
}

static void layers_free(void *arr, size_t n)
{
    pw_query_layers_free(arr, n);
}

static const row_type layer_rows = {"layers", sizeof(pw_layer_info), read_layer, layers_free};

int pw_query_layers(pw_query *q, const pw_run_info *run, pw_layer_info **out, size_t *n,
                    pw_err *err)
{
    if (q->ops)
        return q->ops->layers(q->impl, run, out, n, err);
    /* The newest score of each layer; at equal steps the previous-checkpoint one,
     * which is the one the stability alerts look at. */
    static const char sql[] =
        "SELECT l.name, l.depth, l.dtype, l.shape, l.rows, l.cols, l.stable_step,"
        " s.status, s.step, s.distance, " MEASURED ","
        " (SELECT p.status FROM scores p WHERE p.run_id = l.run_id AND p.layer = l.name"
        "  AND p.ref = 'previous' ORDER BY p.step DESC LIMIT 1)"
        " FROM layers l LEFT JOIN scores s ON (s.run_id, s.layer, s.step, s.ref) ="
        "  (SELECT x.run_id, x.layer, x.step, x.ref FROM scores x"
        "   WHERE x.run_id = l.run_id AND x.layer = l.name"
        "   ORDER BY x.step DESC, x.ref = 'previous' DESC LIMIT 1)"
        " WHERE l.run_id = ?1 ORDER BY l.depth, l.name";
    sqlite3_stmt *st = NULL;
    void *ls = NULL;
    if (prepare(q, sql, &st, err) != 0)
        return -1;
    sqlite3_bind_int64(st, 1, run->id);
    if (read_rows(q, st, &layer_rows, NULL, NULL, NULL, &ls, n, err) != 0)
        return -1;
    *out = ls;
    return 0;
}

/* ---- curve -------------------------------------------------------------------- */

void pw_query_curve_free(pw_curve_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++) {
        free(rows[i].layer);
        free(rows[i].status);
        free(rows[i].message);
    }
    free(rows);
}

/* Every asked layer must exist in the run; the error lists those that do. */
static int check_layers(pw_query *q, const pw_run_info *run, const char *const *asked,
                        size_t nasked, pw_err *err)
{
    pw_layer_info *ls = NULL;
    size_t n = 0;
    if (nasked == 0)
        return 0;
    if (pw_query_layers(q, run, &ls, &n, err) != 0)
        return -1;
    for (size_t a = 0; a < nasked; a++) {
        size_t i = 0;
        while (i < n && strcmp(ls[i].name, asked[a]) != 0)
            i++;
        if (i < n)
            continue;
        char known[PW_ERR_MAX / 2] = "";
        for (i = 0; i < n; i++)
            list_append(known, sizeof known, ls[i].name);
        pw_query_layers_free(ls, n);
        if (n == 0)
            return pw_err_set(err, "run '%s' has no layer '%s': it has no layers yet", run->name,
                              asked[a]);
        return pw_err_set(err, "run '%s' has no layer '%s'; its layers: %s", run->name, asked[a],
                          known);
    }
    pw_query_layers_free(ls, n);
    return 0;
}

/* The asked layer names as a JSON array text for json_each(); NULL when none. */
static char *layers_json(const char *const *layers, size_t n, pw_err *err)
{
    if (n == 0)
        return NULL;
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_string(layers[i])) != 0) {
            json_decref(a);
            a = NULL;
        }
    char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    if (!s)
        pw_err_set(err, "layer names must be valid UTF-8");
    return s;
}

/* ctx is the run the rows belong to. */
static int read_curve_row(sqlite3_stmt *st, void *elem, const void *ctx)
{
    pw_curve_row *r = elem;
    const pw_run_info *run = ctx;
    int oom = 0;
    r->run = run->name;
    r->layer = col_text_nn(st, 0, &oom);
    r->depth = sqlite3_column_type(st, 1) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 1);
    r->step = sqlite3_column_int64(st, 2);
    snprintf(r->ref, sizeof r->ref, "%s", (const char *)sqlite3_column_text(st, 3));
    r->ref_step = sqlite3_column_int64(st, 4);
    r->n = col_count(st, 5);
    r->p_kept = col_count(st, 6);
    r->q_kept = col_count(st, 7);
    int col = 8;
#define PW_METRIC_READ(sym, id, bitno, sel, tpos, label, doc) r->id = col_real(st, col++);
    PW_METRIC_LIST(PW_METRIC_READ)
#undef PW_METRIC_READ
    r->status = col_text_nn(st, col++, &oom);
    r->message = col_text(st, col++, &oom);
    const unsigned char *reduce = sqlite3_column_text(st, col++);
    snprintf(r->reduce, sizeof r->reduce, "%s", reduce ? (const char *)reduce : "none");
    r->k_x = col_count(st, col++);
    r->k_y = col_count(st, col++);
    for (unsigned m = 0; m < PW_METRIC_COUNT; m++)
        r->se[m] = NAN;
#define NOISE_READ(sym, id, since) r->se[PW_METRIC_##sym] = col_real(st, col++);
    PW_NOISE_SE_COLUMNS(NOISE_READ)
#undef NOISE_READ
    r->noise_blocks = col_count(st, col);
    return oom;
}

/* The schema version whose migration added metric i's scores column. */
static int metric_since(unsigned i)
{
    return i == PW_METRIC_CKA_DEBIASED || i == PW_METRIC_PROCRUSTES ? MEASURES_VERSION : 1;
}

static void curve_free(void *arr, size_t n)
{
    pw_query_curve_free(arr, n);
}

static const row_type curve_rows = {"scores", sizeof(pw_curve_row), read_curve_row, curve_free};

int pw_query_curve(pw_query *q, const pw_run_info *run, const char *ref, const char *const *layers,
                   size_t nlayers, pw_query_progress_fn progress, void *ctx, pw_curve_row **out,
                   size_t *n, pw_err *err)
{
    /* The metric columns a database of this version has; a metric its
     * migration has not added yet reads as NULL (not computed). */
    char cols[1024] = "";
    size_t used = 0;
    for (unsigned i = 0; i < PW_METRIC_COUNT; i++) {
        int have = q->version >= metric_since(i);
        int w = snprintf(cols + used, sizeof cols - used, " %s%s,", have ? "s." : "NULL AS ",
                         pw_metric_name(i));
        assert(w > 0 && (size_t)w < sizeof cols - used);
        used += (size_t)w;
    }
    /* A database the daemon has not migrated yet has only exact scores:
     * one before 005_noise.sql no standard errors, one before
     * 008_procrustes_se.sql none for procrustes.  Each SE column reads as
     * NULL (no SE) where its migration has not run. */
    char se_cols[512] = "";
    used = 0;
#define SE_COL(sym, id, since)                                                                     \
    used += (size_t)snprintf(se_cols + used, sizeof se_cols - used, ", %s",                        \
                             q->version >= (since) ? "s." #id "_se" : "NULL");
    PW_NOISE_SE_COLUMNS(SE_COL)
#undef SE_COL
    used += (size_t)snprintf(se_cols + used, sizeof se_cols - used, ", %s",
                             q->version >= NOISE_VERSION ? "s.noise_blocks" : "NULL");
    assert(used < sizeof se_cols);
    char sql[2048];
    int w = snprintf(sql, sizeof sql,
                     "SELECT s.layer, l.depth, s.step, s.ref, s.ref_step, s.n, s.p_kept, "
                     "s.q_kept,%s s.status, s.message, %s%s"
                     " FROM scores s LEFT JOIN layers l ON l.run_id = s.run_id AND l.name = s.layer"
                     " WHERE s.run_id = ?1 AND s.ref = ?2"
                     "  AND (?3 IS NULL OR s.layer IN (SELECT value FROM json_each(?3)))"
                     " ORDER BY l.depth IS NULL, l.depth, s.layer, s.step",
                     cols,
                     q->version >= REDUCE_VERSION ? "s.reduce, s.k_x, s.k_y" : "'none', NULL, NULL",
                     se_cols);
    assert(w > 0 && (size_t)w < sizeof sql);
    (void)w;
    sqlite3_stmt *st = NULL;
    void *rows = NULL;
    char *filter = NULL;

    assert(ref);
    if (strcmp(ref, "previous") != 0 && strcmp(ref, "final") != 0)
        return pw_err_set(err, "reference must be 'previous' or 'final', not '%s'", ref);
    if (check_layers(q, run, layers, nlayers, err) != 0)
        return -1;
    if (nlayers && !(filter = layers_json(layers, nlayers, err)))
        return -1;
    if (q->ops) {
        int prc = q->ops->curve(q->impl, run, ref, filter, progress, ctx, out, n, err);
        free(filter);
        return prc;
    }
    if (prepare(q, sql, &st, err) != 0) {
        free(filter);
        return -1;
    }
    sqlite3_bind_int64(st, 1, run->id);
    sqlite3_bind_text(st, 2, ref, -1, SQLITE_STATIC);
    if (filter)
        sqlite3_bind_text(st, 3, filter, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 3);
    int rc = read_rows(q, st, &curve_rows, run, progress, ctx, &rows, n, err);
    free(filter);
    if (rc != 0)
        return -1;
    *out = rows;
    return 0;
}

/* ---- alerts ------------------------------------------------------------------- */

void pw_query_alerts_free(pw_alert *alerts, size_t n)
{
    for (size_t i = 0; alerts && i < n; i++) {
        free(alerts[i].run);
        free(alerts[i].kind);
        free(alerts[i].layer);
        free(alerts[i].detail);
    }
    free(alerts);
}

static int read_alert(sqlite3_stmt *st, void *elem, const void *ctx)
{
    pw_alert *a = elem;
    int oom = 0;
    (void)ctx;
    a->id = sqlite3_column_int64(st, 0);
    a->run = col_text_nn(st, 1, &oom);
    a->kind = col_text_nn(st, 2, &oom);
    a->layer = col_text_nn(st, 3, &oom);
    a->step = sqlite3_column_int64(st, 4);
    a->value = col_real(st, 5);
    a->detail = col_text(st, 6, &oom);
    a->created_at = sqlite3_column_double(st, 7);
    return oom;
}

static void alerts_free(void *arr, size_t n)
{
    pw_query_alerts_free(arr, n);
}

static const row_type alert_rows = {"alerts", sizeof(pw_alert), read_alert, alerts_free};

int pw_query_alerts(pw_query *q, const pw_run_info *run, int64_t after_id, pw_alert **out,
                    size_t *n, pw_err *err)
{
    if (q->ops)
        return q->ops->alerts(q->impl, run, after_id, out, n, err);
    static const char sql[] =
        "SELECT a.id, r.name, a.kind, a.layer, a.step, a.value, a.detail, a.created_at"
        " FROM alerts a JOIN runs r ON r.id = a.run_id"
        " WHERE a.id > ?1 AND (?2 IS NULL OR a.run_id = ?2) ORDER BY a.id";
    sqlite3_stmt *st = NULL;
    void *as = NULL;
    if (prepare(q, sql, &st, err) != 0)
        return -1;
    sqlite3_bind_int64(st, 1, after_id);
    if (run)
        sqlite3_bind_int64(st, 2, run->id);
    else
        sqlite3_bind_null(st, 2);
    if (read_rows(q, st, &alert_rows, NULL, NULL, NULL, &as, n, err) != 0)
        return -1;
    *out = as;
    return 0;
}

int pw_query_runs_stamp(pw_query *q, pw_runs_stamp *out, pw_err *err)
{
    if (q->ops)
        return q->ops->runs_stamp(q->impl, out, err);
    static const char sql[] =
        "SELECT COUNT(*), COALESCE(MAX(id), 0), COALESCE(SUM(id), 0) FROM runs";
    sqlite3_stmt *st = NULL;
    memset(out, 0, sizeof *out);
    if (prepare(q, sql, &st, err) != 0)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->count = sqlite3_column_int64(st, 0);
        out->max_id = sqlite3_column_int64(st, 1);
        out->sum_id = sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : db_fail(q, err, "cannot count the runs");
}

/* ---- one checkpoint ------------------------------------------------------------ */

void pw_query_checkpoint_clear(pw_ckpt_info *c)
{
    free(c->path);
    free(c->status);
    free(c->probe);
    memset(c, 0, sizeof *c);
}

int pw_query_checkpoint(pw_query *q, const pw_run_info *run, int64_t step, pw_ckpt_info *out,
                        pw_err *err)
{
    memset(out, 0, sizeof *out);
    if (step == PW_QUERY_NO_STEP)
        step = run->final_step != PW_QUERY_NO_STEP ? run->final_step : run->last_step;
    if (step == PW_QUERY_NO_STEP)
        return pw_err_set(err, "run %s has no checkpoint yet", run->name);
    if (q->ops) {
        int prc = q->ops->checkpoint(q->impl, run, step, out, err);
        if (prc <= 0)
            return prc;
        return pw_err_set(err, "run %s has no checkpoint at step %lld (its last is step %lld)",
                          run->name, (long long)step, (long long)run->last_step);
    }
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT step, path, present, status, %s FROM checkpoints WHERE run_id = ?1 AND "
             "step = ?2",
             q->version >= PROBE_VERSION ? "probe_fingerprint" : "NULL");
    sqlite3_stmt *st = NULL;
    if (prepare(q, sql, &st, err) != 0)
        return -1;
    sqlite3_bind_int64(st, 1, run->id);
    sqlite3_bind_int64(st, 2, step);
    int rc = sqlite3_step(st), oom = 0;
    if (rc == SQLITE_ROW) {
        out->step = sqlite3_column_int64(st, 0);
        out->path = col_text_nn(st, 1, &oom);
        out->present = sqlite3_column_int(st, 2);
        out->status = col_text_nn(st, 3, &oom);
        out->probe = col_text(st, 4, &oom);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW && !oom)
        return 0;
    pw_query_checkpoint_clear(out);
    if (oom)
        return pw_err_set(err, "out of memory reading a checkpoint");
    if (rc != SQLITE_DONE)
        return db_fail(q, err, "reading a checkpoint");
    return pw_err_set(err, "run %s has no checkpoint at step %lld (its last is step %lld)",
                      run->name, (long long)step, (long long)run->last_step);
}

/* ---- every checkpoint of a run -------------------------------------------------- */

void pw_query_checkpoints_free(pw_ckpt_info *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        pw_query_checkpoint_clear(&list[i]);
    free(list);
}

static int read_ckpt(sqlite3_stmt *st, void *elem, const void *ctx)
{
    pw_ckpt_info *c = elem;
    int oom = 0;
    (void)ctx;
    c->step = sqlite3_column_int64(st, 0);
    c->path = col_text_nn(st, 1, &oom);
    c->present = sqlite3_column_int(st, 2);
    c->status = col_text_nn(st, 3, &oom);
    c->probe = col_text(st, 4, &oom);
    return oom;
}

static void ckpts_free(void *arr, size_t n)
{
    pw_query_checkpoints_free(arr, n);
}

static const row_type ckpt_rows = {"checkpoints", sizeof(pw_ckpt_info), read_ckpt, ckpts_free};

int pw_query_checkpoints(pw_query *q, const pw_run_info *run, pw_ckpt_info **out, size_t *n,
                         pw_err *err)
{
    if (q->ops)
        return q->ops->checkpoints(q->impl, run, out, n, err);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT step, path, present, status, %s FROM checkpoints WHERE run_id = ?1 "
             "ORDER BY step",
             q->version >= PROBE_VERSION ? "probe_fingerprint" : "NULL");
    sqlite3_stmt *st = NULL;
    void *rows = NULL;
    if (prepare(q, sql, &st, err) != 0)
        return -1;
    sqlite3_bind_int64(st, 1, run->id);
    if (read_rows(q, st, &ckpt_rows, NULL, NULL, NULL, &rows, n, err) != 0)
        return -1;
    *out = rows;
    return 0;
}

/* ---- chance levels -------------------------------------------------------- */

void pw_query_chance_free(pw_chance_info *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++) {
        free(list[i].layer);
        free(list[i].status);
        free(list[i].message);
    }
    free(list);
}

static int read_chance(sqlite3_stmt *st, void *elem, const void *ctx)
{
    pw_chance_info *c = elem;
    int oom = 0;
    (void)ctx;
    c->layer = col_text_nn(st, 0, &oom);
    c->depth = sqlite3_column_type(st, 1) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 1);
    c->step_a = sqlite3_column_int64(st, 2);
    c->step_b = sqlite3_column_int64(st, 3);
    c->seed = sqlite3_column_int64(st, 4);
    c->status = col_text_nn(st, 5, &oom);
    c->message = col_text(st, 6, &oom);
#define CHANCE_NAN(sym, id, bitno, sel, tpos, label, doc) c->id = NAN;
    PW_METRIC_LIST(CHANCE_NAN)
#undef CHANCE_NAN
    int col = 7;
#define CHANCE_GET(sym, id) c->id = col_real(st, col++);
    PW_CHANCE_COLUMNS(CHANCE_GET)
#undef CHANCE_GET
    return oom;
}

static void chance_free(void *arr, size_t n)
{
    pw_query_chance_free(arr, n);
}

static const row_type chance_rows = {"chance levels", sizeof(pw_chance_info), read_chance,
                                     chance_free};

int pw_query_chance(pw_query *q, const pw_run_info *run, pw_chance_info **out, size_t *n,
                    pw_err *err)
{
    *out = NULL;
    *n = 0;
    if (q->ops)
        return q->ops->chance(q->impl, run, out, n, err);
    if (q->version < PW_CHANCE_SCHEMA_VERSION)
        return 0;
#define CHANCE_COL(sym, id) ", c." #id
    static const char sql[] =
        "SELECT c.layer, l.depth, c.step_a, c.step_b, c.seed, c.status, "
        "c.message" PW_CHANCE_COLUMNS(
            CHANCE_COL) " FROM chance c LEFT JOIN layers l ON l.run_id = c.run_id AND l.name = "
                        "c.layer WHERE c.run_id = ?1 ORDER BY l.depth IS NULL, l.depth, c.layer";
#undef CHANCE_COL
    sqlite3_stmt *st = NULL;
    void *rows = NULL;
    if (prepare(q, sql, &st, err) != 0)
        return -1;
    sqlite3_bind_int64(st, 1, run->id);
    if (read_rows(q, st, &chance_rows, NULL, NULL, NULL, &rows, n, err) != 0)
        return -1;
    *out = rows;
    return 0;
}

int pw_query_curve_chance(pw_query *q, const pw_run_info *run, pw_curve_row *rows, size_t n,
                          pw_err *err)
{
    pw_chance_info *c = NULL;
    size_t nc = 0;
    if (pw_query_chance(q, run, &c, &nc, err) != 0)
        return -1;
    /* Rows come layer by layer: one lookup per change of layer. */
    const pw_chance_info *hit = NULL;
    const char *last = NULL;
    for (size_t i = 0; i < n && nc; i++) {
        if (!last || strcmp(last, rows[i].layer) != 0) {
            last = rows[i].layer;
            hit = NULL;
            for (size_t k = 0; k < nc && !hit; k++)
                if (strcmp(c[k].layer, last) == 0)
                    hit = &c[k];
        }
        if (hit) {
            rows[i].has_chance = 1;
            rows[i].chance_distance = hit->distance;
        }
    }
    pw_query_chance_free(c, nc);
    return 0;
}

/* ---- run groups' cross-run scores (006_groups.sql) ------------------------------- */

#define GROUPS_VERSION 6 /* schema version that added group_scores */

static int read_cross(sqlite3_stmt *st, void *elem, const void *ctx)
{
    pw_cross_row *r = elem;
    int oom = 0, c = 0;
    (void)ctx;
    r->run_a = col_text_nn(st, c++, &oom);
    r->run_b = col_text_nn(st, c++, &oom);
    r->id_a = sqlite3_column_int64(st, c++);
    r->id_b = sqlite3_column_int64(st, c++);
    r->layer_a = col_text_nn(st, c++, &oom);
    r->layer_b = col_text_nn(st, c++, &oom);
    r->depth = sqlite3_column_type(st, c) == SQLITE_NULL ? -1 : sqlite3_column_int(st, c);
    c++;
    r->step_a = sqlite3_column_int64(st, c++);
    r->step_b = sqlite3_column_int64(st, c++);
    r->final = sqlite3_column_int(st, c++);
    r->n = col_count(st, c++);
    r->p_kept = col_count(st, c++);
    r->q_kept = col_count(st, c++);
#define CROSS_READ(sym, id, bitno, sel, tpos, label, doc) r->id = col_real(st, c++);
    PW_METRIC_LIST(CROSS_READ)
#undef CROSS_READ
    r->status = col_text_nn(st, c++, &oom);
    r->message = col_text(st, c++, &oom);
    return oom;
}

void pw_query_cross_free(pw_cross_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++) {
        free(rows[i].run_a);
        free(rows[i].run_b);
        free(rows[i].layer_a);
        free(rows[i].layer_b);
        free(rows[i].status);
        free(rows[i].message);
    }
    free(rows);
}

static void cross_rows_free(void *arr, size_t n)
{
    pw_query_cross_free(arr, n);
}

static const row_type cross_rows = {"cross-run scores", sizeof(pw_cross_row), read_cross,
                                    cross_rows_free};

int pw_query_cross(pw_query *q, const char *group, pw_cross_row **out, size_t *n, pw_err *err)
{
    *out = NULL;
    *n = 0;
    if (q->ops)
        return q->ops->cross(q->impl, group, out, n, err);
    if (q->version < GROUPS_VERSION)
        return 0;
#define PW_METRIC_SQL_PREFIX " g."
    static const char sql[] =
        "SELECT ra.name, rb.name, g.run_a, g.run_b, g.layer_a, g.layer_b, l.depth, g.step_a, "
        "g.step_b, (ra.final_step IS NOT NULL AND g.step_a = ra.final_step AND "
        "rb.final_step IS NOT NULL AND g.step_b = rb.final_step), g.n, g.p_kept, "
        "g.q_kept," PW_METRIC_SQL_COLS " g.status, g.message FROM group_scores g "
        "JOIN runs ra ON ra.id = g.run_a JOIN runs rb ON rb.id = g.run_b "
        "LEFT JOIN layers l ON l.run_id = g.run_a AND l.name = g.layer_a "
        "WHERE g.group_name = ?1 ORDER BY g.run_a, g.run_b, l.depth, g.layer_a, g.step_a, "
        "g.step_b";
#undef PW_METRIC_SQL_PREFIX
    sqlite3_stmt *st = NULL;
    void *rows = NULL;
    if (prepare(q, sql, &st, err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, group, -1, SQLITE_STATIC);
    if (read_rows(q, st, &cross_rows, NULL, NULL, NULL, &rows, n, err) != 0)
        return -1;
    *out = rows;
    return 0;
}

/* ---- daemons sharing the store (009_share.sql) ------------------------------------ */

#define SHARE_VERSION 9 /* schema version that added daemons and claims */

void pw_query_daemons_free(pw_daemon_info *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++) {
        free(list[i].host);
        free(list[i].job);
        for (size_t k = 0; k < list[i].nunits; k++)
            free(list[i].units[k]);
        free(list[i].units);
    }
    free(list);
}

const char *pw_query_daemon_state(const pw_daemon_info *d, double now)
{
    if (!isnan(d->stopped_at))
        return "stopped";
    return now - d->heartbeat_at > d->lease_s ? "stale" : "running";
}

static int read_daemon(sqlite3_stmt *st, void *elem, const void *ctx)
{
    pw_daemon_info *d = elem;
    int oom = 0;
    (void)ctx;
    d->id = sqlite3_column_int64(st, 0);
    d->host = col_text_nn(st, 1, &oom);
    d->pid = sqlite3_column_int64(st, 2);
    d->started_at = col_real(st, 3);
    d->heartbeat_at = col_real(st, 4);
    d->lease_s = col_real(st, 5);
    d->job = col_text(st, 6, &oom);
    d->stopped_at = col_real(st, 7);
    return oom;
}

static void daemons_free(void *arr, size_t n)
{
    pw_query_daemons_free(arr, n);
}

static const row_type daemon_rows = {"daemons", sizeof(pw_daemon_info), read_daemon, daemons_free};

/* Give the daemon daemon_id of list (sorted by id) the unit; 0, or -1 when out of memory.  A
 * claim of a daemon not in the list (removed between the two reads) is dropped. */
static int add_unit(pw_daemon_info *list, size_t n, int64_t daemon_id, const char *unit)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (list[mid].id < daemon_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == n || list[lo].id != daemon_id)
        return 0;
    pw_daemon_info *d = &list[lo];
    char **more = realloc(d->units, (d->nunits + 1) * sizeof *more);
    if (!more)
        return -1;
    d->units = more;
    if (!(d->units[d->nunits] = strdup(unit)))
        return -1;
    d->nunits++;
    return 0;
}

int pw_query_daemons(pw_query *q, pw_daemon_info **out, size_t *n, double *now, pw_err *err)
{
    *out = NULL;
    *n = 0;
    *now = NAN;
    if (q->ops)
        return q->ops->daemons(q->impl, out, n, now, err);
    sqlite3_stmt *st = NULL;
    if (prepare(q, "SELECT (julianday('now') - 2440587.5) * 86400.0", &st, err) != 0)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        *now = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    if (q->version < SHARE_VERSION)
        return 0;
    void *rows = NULL;
    if (prepare(q,
                "SELECT id, host, pid, started_at, heartbeat_at, lease_s, job, stopped_at "
                "FROM daemons ORDER BY id",
                &st, err) != 0 ||
        read_rows(q, st, &daemon_rows, NULL, NULL, NULL, &rows, n, err) != 0)
        return -1;
    pw_daemon_info *list = rows;
    /* The claims second: one query, attached by daemon, units in byte order (BINARY). */
    if (prepare(q, "SELECT daemon_id, unit FROM claims ORDER BY daemon_id, unit", &st, err) != 0)
        goto fail;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *unit = (const char *)sqlite3_column_text(st, 1);
        if (add_unit(list, *n, sqlite3_column_int64(st, 0), unit ? unit : "") != 0) {
            pw_err_set(err, "out of memory reading claims");
            sqlite3_finalize(st);
            goto fail;
        }
    }
    if (rc != SQLITE_DONE) {
        db_fail(q, err, "reading claims");
        sqlite3_finalize(st);
        goto fail;
    }
    sqlite3_finalize(st);
    *out = list;
    return 0;
fail:
    pw_query_daemons_free(list, *n);
    *n = 0;
    return -1;
}
