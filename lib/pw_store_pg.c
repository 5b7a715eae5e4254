/* pw_store_pg.c -- the PostgreSQL backend of the store seam (lib/pw_store.h).
 *
 * `--db postgresql://...` (or postgres://, libpq's URI syntax; its PG*
 * environment variables and service files apply as usual) opens this
 * backend instead of an SQLite file.  It implements every operation of
 * pw_db.h and pw_query.h (the ops tables of lib/pw_store_impl.h) with the
 * same contract: a checkpoint's row, layers and scores go in one
 * transaction; a failed write is rolled back and retried with doubling
 * backoff up to the handle's budget, then fails with a message so the
 * caller keeps the work (a scheduler job is tried again: a pair is redone,
 * never lost).  A lost connection -- the server restarted, a network
 * blip -- is such a failure: the next attempt reconnects (PQreset), and a
 * connection found dead gets one immediate reconnect that does not count
 * against the budget, so even the event loop's handle (no retries) rides
 * out a restart that is already over.  Every write is an upsert keyed like
 * SQLite's (INSERT OR REPLACE / OR IGNORE become ON CONFLICT), so redoing a
 * transaction whose COMMIT's answer was lost stores nothing twice.
 *
 * Schema: the same schema/NNN_*.sql migrations, translated at open time by
 * pw_pg_translate (INTEGER -> BIGINT, INTEGER PRIMARY KEY -> an identity
 * column, REAL -> DOUBLE PRECISION, BLOB -> BYTEA, WITHOUT ROWID and
 * AUTOINCREMENT and PRAGMAs dropped, INSERT OR IGNORE -> ON CONFLICT DO
 * NOTHING), so SQLite's files stay the one source of truth.  The version
 * SQLite keeps in PRAGMA user_version lives in the table pwccad_schema; the
 * migrations run in one transaction under an advisory lock, so daemons
 * opening one database at once migrate it once.
 *
 * Values travel as text: integers in decimal, doubles as %.17g (exact), and
 * the session asks for shortest-exact float output (extra_float_digits), so
 * a score read back is the double that was written.  Text is ordered with
 * COLLATE "C" wherever SQLite's byte order decides an output's order. */
#include "pw_store_impl.h"

#include <assert.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pw_chance.h"
#include "pw_limits.h"
#include "pw_noise.h"
#include "pw_schema.h"

#define PG_MAX_PARAMS 64           /* bound values of one statement */
#define PG_LOCK_KEY   7077636361LL /* pg_advisory_xact_lock key of the migrations ("pwcca") */
#define PG_PROGRESS   4096         /* rows between a curve's progress callbacks */

/* Type OIDs of the parameters (pg_type.h), given so no statement needs a cast. */
#define OID_INT8   20
#define OID_TEXT   25
#define OID_JSON   114
#define OID_FLOAT8 701

/* A connection and what a reconnect needs. */
typedef struct pg {
    PGconn *c;              /* the connection, owned by one thread */
    char name[PW_PATH_MAX]; /* the URI with any password hidden, for messages */
    int retries;            /* extra attempts of a failed transaction */
    int busy_ms;            /* lock_timeout */
    int readonly;           /* the client's: default_transaction_read_only */
    int version;            /* pwccad_schema.version after open */
    int transient;          /* the last failure may pass: connection, lock, resources */
} pg;

/* Bound values, all as text with their types. */
typedef struct pgp {
    int n;                        /* values bound */
    const char *v[PG_MAX_PARAMS]; /* text, NULL for SQL NULL */
    Oid t[PG_MAX_PARAMS];         /* types */
    char buf[PG_MAX_PARAMS][32];  /* numbers' text */
} pgp;

static void p_null(pgp *a, Oid t)
{
    assert(a->n < PG_MAX_PARAMS);
    a->v[a->n] = NULL;
    a->t[a->n++] = t;
}

static void p_int(pgp *a, int64_t v)
{
    assert(a->n < PG_MAX_PARAMS);
    snprintf(a->buf[a->n], sizeof a->buf[0], "%" PRId64, v);
    a->v[a->n] = a->buf[a->n];
    a->t[a->n++] = OID_INT8;
}

/* NULL when negative, as SQLite's bind_opt_int. */
static void p_opt_int(pgp *a, int64_t v)
{
    if (v < 0)
        p_null(a, OID_INT8);
    else
        p_int(a, v);
}

static void p_text(pgp *a, const char *s)
{
    assert(a->n < PG_MAX_PARAMS);
    a->v[a->n] = s;
    a->t[a->n++] = OID_TEXT;
}

/* NULL when not finite; %.17g reads back as the same double. */
static void p_real(pgp *a, double d)
{
    if (!isfinite(d)) {
        p_null(a, OID_FLOAT8);
        return;
    }
    assert(a->n < PG_MAX_PARAMS);
    snprintf(a->buf[a->n], sizeof a->buf[0], "%.17g", d);
    a->v[a->n] = a->buf[a->n];
    a->t[a->n++] = OID_FLOAT8;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- reading values -------------------------------------------------------- */

static int g_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col);
}

static int64_t g_int(const PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* -1 when NULL. */
static int64_t g_opt_int(const PGresult *r, int row, int col)
{
    return g_null(r, row, col) ? -1 : g_int(r, row, col);
}

static int64_t g_step(const PGresult *r, int row, int col)
{
    return g_null(r, row, col) ? PW_QUERY_NO_STEP : g_int(r, row, col);
}

/* NAN when NULL. */
static double g_real(const PGresult *r, int row, int col)
{
    return g_null(r, row, col) ? NAN : strtod(PQgetvalue(r, row, col), NULL);
}

/* NULL when NULL. */
static const char *g_text(const PGresult *r, int row, int col)
{
    return g_null(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

/* A boolean or integer column as 0/1. */
static int g_bool(const PGresult *r, int row, int col)
{
    const char *v = PQgetvalue(r, row, col);
    return !g_null(r, row, col) && (v[0] == 't' || (v[0] >= '1' && v[0] <= '9'));
}

/* ---- connection, statements, retries ----------------------------------------- */

/* libpq's notices (a NOTICE from CREATE ... IF NOT EXISTS) are not ours to print. */
static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

/* The URI as messages show it: a password between "user:" and "@" hidden. */
void pw_pg_display(const char *url, char *buf, size_t len)
{
    const char *scheme = strstr(url, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *colon = scheme ? strchr(scheme + 3, ':') : NULL;
    if (at && colon && colon < at)
        snprintf(buf, len, "%.*s:***%s", (int)(colon - url), url, at);
    else
        snprintf(buf, len, "%s", url);
}

/* libpq's message without its trailing newline. */
static void conn_message(pg *p, char *buf, size_t len)
{
    snprintf(buf, len, "%s", p->c ? PQerrorMessage(p->c) : "out of memory");
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
}

/* Which failures may pass by themselves: the connection (lost, server
 * starting or stopping), a lock or serialization conflict, resources. */
static int transient_state(pg *p, const PGresult *r)
{
    if (PQstatus(p->c) != CONNECTION_OK)
        return 1;
    const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (!s)
        return 1;
    return strncmp(s, "08", 2) == 0 || strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0 ||
           strcmp(s, "55P03") == 0 || strncmp(s, "57P", 3) == 0 || strncmp(s, "53", 2) == 0 ||
           strncmp(s, "58", 2) == 0;
}

/* Run one statement; the result (PQclear it) or NULL with err and p->transient set. */
static PGresult *pg_run(pg *p, const char *sql, const pgp *a, pw_err *err)
{
    PGresult *r = a ? PQexecParams(p->c, sql, a->n, a->t, a->v, NULL, NULL, 0) : PQexec(p->c, sql);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    char msg[PW_ERR_MAX / 2];
    const char *rm = r ? PQresultErrorMessage(r) : "";
    snprintf(msg, sizeof msg, "%s", rm && *rm ? rm : PQerrorMessage(p->c));
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    p->transient = transient_state(p, r);
    pw_err_set(err, "database: %s", msg[0] ? msg : "no answer from the server");
    PQclear(r);
    return NULL;
}

/* A statement whose result is not needed; changes (may be NULL) gets its row count. */
static int run_cmd(pg *p, const char *sql, const pgp *a, int64_t *changes, pw_err *err)
{
    PGresult *r = pg_run(p, sql, a, err);
    if (!r)
        return -1;
    if (changes)
        *changes = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return 0;
}

/* What every session of ours sets (again after a reconnect). */
static int session_setup(pg *p, pw_err *err)
{
    char sql[256];
    PQsetNoticeProcessor(p->c, quiet, NULL);
    snprintf(sql, sizeof sql,
             "SET lock_timeout = %d; SET extra_float_digits = 3; SET client_min_messages = "
             "warning%s",
             p->busy_ms, p->readonly ? "; SET default_transaction_read_only = on" : "");
    return run_cmd(p, sql, NULL, NULL, err);
}

/* Reconnect when the connection is gone; a failure is transient. */
static int ensure_conn(pg *p, pw_err *err)
{
    if (PQstatus(p->c) == CONNECTION_OK)
        return 0;
    PQreset(p->c);
    if (PQstatus(p->c) != CONNECTION_OK) {
        char m[PW_ERR_MAX / 2];
        conn_message(p, m, sizeof m);
        p->transient = 1;
        return pw_err_set(err, "database: cannot reconnect: %s", m);
    }
    return session_setup(p, err);
}

/* A transaction's body: 0, or -1 with err set (and p->transient by run). */
typedef int (*pg_fn)(pg *p, void *ctx, pw_err *err);

/* Run fn in a transaction, retried as the handle allows (see the top of the file). */
static int with_retry(pg *p, pg_fn fn, void *ctx, const char *what, pw_err *err)
{
    long backoff = 50;
    int free_reconnect = 1;
    for (int attempt = 0;;) {
        pw_err e = {""};
        p->transient = 0;
        int rc = ensure_conn(p, &e);
        if (rc == 0 && (rc = run_cmd(p, "BEGIN", NULL, NULL, &e)) == 0) {
            rc = fn(p, ctx, &e);
            if (rc == 0)
                rc = run_cmd(p, "COMMIT", NULL, NULL, &e);
            if (rc != 0 && PQstatus(p->c) == CONNECTION_OK &&
                PQtransactionStatus(p->c) != PQTRANS_IDLE) {
                PGresult *rb = PQexec(p->c, "ROLLBACK");
                PQclear(rb);
            }
        }
        if (rc == 0)
            return 0;
        if (p->transient && free_reconnect && PQstatus(p->c) != CONNECTION_OK) {
            free_reconnect = 0; /* found dead: reconnect at once, uncounted */
            continue;
        }
        if (!p->transient || attempt >= p->retries) {
            if (err)
                *err = e;
            return pw_err_prefix(err, "%s (after %d attempt%s)", what, attempt + 1,
                                 attempt ? "s" : "");
        }
        sleep_ms(backoff);
        if (backoff < 2000)
            backoff *= 2;
        attempt++;
    }
}

/* One statement and its values. */
typedef struct pg_stmt {
    const char *sql; /* the statement */
    const pgp *a;    /* its values */
} pg_stmt;

typedef struct stmts_ctx {
    const pg_stmt *s; /* in order */
    size_t n;         /* how many */
    int64_t changes;  /* out: rows the last one changed */
} stmts_ctx;

static int stmts_fn(pg *p, void *ctx, pw_err *err)
{
    stmts_ctx *c = ctx;
    for (size_t i = 0; i < c->n; i++)
        if (run_cmd(p, c->s[i].sql, c->s[i].a, &c->changes, err))
            return -1;
    return 0;
}

static int write_stmts(pg *p, const char *what, const pg_stmt *s, size_t n, int64_t *changes,
                       pw_err *err)
{
    stmts_ctx c = {s, n, 0};
    int rc = with_retry(p, stmts_fn, &c, what, err);
    if (changes)
        *changes = rc == 0 ? c.changes : 0;
    return rc;
}

typedef struct read_ctx {
    const char *sql; /* the query */
    const pgp *a;    /* its values */
    PGresult *r;     /* out: its rows */
} read_ctx;

static int read_fn(pg *p, void *ctx, pw_err *err)
{
    read_ctx *c = ctx;
    PQclear(c->r);
    c->r = pg_run(p, c->sql, c->a, err);
    return c->r ? 0 : -1;
}

/* The rows of one query, read whole (so a retry never repeats a callback);
 * NULL on failure. */
static PGresult *read_all(pg *p, const char *sql, const pgp *a, const char *what, pw_err *err)
{
    read_ctx c = {sql, a, NULL};
    if (with_retry(p, read_fn, &c, what, err)) {
        PQclear(c.r);
        return NULL;
    }
    return c.r;
}

/* pwccad_schema.version; -1 when there is no such table (not a pwccad
 * database), -2 when it cannot be read (err says why). */
static int read_version(pg *p, pw_err *err)
{
    PGresult *t = read_all(p, "SELECT to_regclass('pwccad_schema') IS NOT NULL", NULL,
                           "reading the schema version", err);
    int have = t && PQntuples(t) == 1 && g_bool(t, 0, 0);
    if (!t)
        return -2;
    PQclear(t);
    if (!have)
        return -1;
    PGresult *r =
        read_all(p, "SELECT version FROM pwccad_schema", NULL, "reading the schema version", err);
    if (!r)
        return -2;
    int v = PQntuples(r) > 0 ? (int)g_int(r, 0, 0) : 0;
    PQclear(r);
    return v;
}

static int pg_connect(pg *p, const char *url, int busy_ms, int retries, int readonly, pw_err *err)
{
    pw_pg_display(url, p->name, sizeof p->name);
    p->busy_ms = busy_ms;
    p->retries = retries;
    p->readonly = readonly;
    /* Bounds on a server that stops answering (a network cut, a host
     * down): a connect gives up after 10 s, and TCP keepalives notice a
     * dead peer within about a minute, so a thread is not stuck for TCP's
     * hours.  Before dbname, so the URI's own values win. */
    static const char *const keys[] = {"connect_timeout",  "keepalives_idle", "keepalives_interval",
                                       "keepalives_count", "dbname",          NULL};
    const char *const vals[] = {"10", "30", "10", "3", url, NULL};
    p->c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(p->c) != CONNECTION_OK) {
        char m[PW_ERR_MAX / 2];
        conn_message(p, m, sizeof m);
        return pw_err_set(err, "cannot connect to database %s: %s", p->name, m);
    }
    if (session_setup(p, err))
        return pw_err_prefix(err, "%s", p->name);
    return 0;
}

static void pg_free(pg *p)
{
    if (!p)
        return;
    PQfinish(p->c);
    free(p);
}

/* ---- schema: the SQLite migrations, translated -------------------------------- */

typedef struct sbuf {
    char *s;    /* text so far, NUL-terminated */
    size_t n;   /* its length */
    size_t cap; /* bytes allocated */
    int oom;    /* an append failed */
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *m = realloc(b->s, cap);
        if (!m) {
            b->oom = 1;
            return;
        }
        b->s = m;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static int is_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Is the word at s (length n) w, ignoring case? */
static int word_is(const char *s, size_t n, const char *w)
{
    return strlen(w) == n && strncasecmp(s, w, n) == 0;
}

/* The next word after position i (blanks skipped): *start and its length. */
static size_t next_word(const char *sql, size_t i, size_t *start)
{
    while (sql[i] == ' ' || sql[i] == '\t' || sql[i] == '\n' || sql[i] == '\r')
        i++;
    *start = i;
    size_t j = i;
    while (is_word_char(sql[j]))
        j++;
    return j - i;
}

/* A migration line starting with this is a statement for PostgreSQL only (SQLite
 * reads a comment): 009_share.sql drops runs.path's uniqueness this way. */
#define PG_ONLY "--postgresql: "

char *pw_pg_translate(const char *sql)
{
    sbuf b = {NULL, 0, 0, 0};
    int or_ignore = 0; /* this statement was INSERT OR IGNORE */
    sb_put(&b, "", 0);
    for (size_t i = 0; sql[i];) {
        const char *s = sql + i;
        if (strncmp(s, PG_ONLY, strlen(PG_ONLY)) == 0) {
            i += strlen(PG_ONLY);                /* a statement for PostgreSQL only: uncommented */
        } else if (s[0] == '-' && s[1] == '-') { /* a comment, kept */
            size_t n = strcspn(s, "\n");
            sb_put(&b, s, n);
            i += n;
        } else if (s[0] == '/' && s[1] == '*') {
            const char *e = strstr(s + 2, "*/");
            size_t n = e ? (size_t)(e - s) + 2 : strlen(s);
            sb_put(&b, s, n);
            i += n;
        } else if (s[0] == '\'' || s[0] == '"') { /* a literal or quoted name, kept */
            size_t n = 1;
            while (s[n] && !(s[n] == s[0] && s[n + 1] != s[0]))
                n += s[n] == s[0] ? 2 : 1;
            n += s[n] ? 1 : 0;
            sb_put(&b, s, n);
            i += n;
        } else if (s[0] == ';') {
            if (or_ignore)
                sb_puts(&b, " ON CONFLICT DO NOTHING");
            or_ignore = 0;
            sb_put(&b, ";", 1);
            i++;
        } else if (is_word_char(s[0]) && !(i > 0 && is_word_char(sql[i - 1]))) {
            size_t n = 0, w2;
            while (is_word_char(s[n]))
                n++;
            size_t n2 = next_word(sql, i + n, &w2);
            if (word_is(s, n, "PRAGMA")) { /* SQLite's settings: nothing to say here */
                size_t e = strcspn(s, ";");
                i += e + (s[e] ? 1 : 0);
                continue;
            } else if (word_is(s, n, "INTEGER") && word_is(sql + w2, n2, "PRIMARY")) {
                /* SQLite's rowid alias: the server assigns it. */
                sb_puts(&b, "BIGINT GENERATED BY DEFAULT AS IDENTITY");
            } else if (word_is(s, n, "INTEGER")) {
                sb_puts(&b, "BIGINT"); /* SQLite's integers are 64-bit */
            } else if (word_is(s, n, "REAL")) {
                sb_puts(&b, "DOUBLE PRECISION");
            } else if (word_is(s, n, "BLOB")) {
                sb_puts(&b, "BYTEA");
            } else if (word_is(s, n, "AUTOINCREMENT")) {
                /* an identity column never reuses a value either */
            } else if (word_is(s, n, "WITHOUT") && word_is(sql + w2, n2, "ROWID")) {
                i = w2 + n2;
                continue;
            } else if (word_is(s, n, "INSERT") && word_is(sql + w2, n2, "OR")) {
                size_t w3, n3 = next_word(sql, w2 + n2, &w3);
                if (!word_is(sql + w3, n3, "IGNORE")) { /* OR REPLACE has no generic form */
                    sb_put(&b, s, n);
                    i += n;
                    continue;
                }
                sb_puts(&b, "INSERT");
                or_ignore = 1;
                i = w3 + n3;
                continue;
            } else {
                sb_put(&b, s, n);
            }
            i += n;
        } else {
            sb_put(&b, s, 1);
            i++;
        }
    }
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

typedef struct migrate_ctx {
    int version; /* out: the version after */
} migrate_ctx;

static int migrate_fn(pg *p, void *ctx, pw_err *err)
{
    migrate_ctx *mc = ctx;
    pgp a = {0};
    p_int(&a, PG_LOCK_KEY);
    /* Daemons started together wait for the one migrating (seconds at most), not for
     * lock_timeout, which is sized for a row lock and would stop them. */
    if (run_cmd(p, "SET LOCAL lock_timeout = '120s'", NULL, NULL, err) ||
        run_cmd(p, "SELECT pg_advisory_xact_lock($1)", &a, NULL, err) ||
        run_cmd(p,
                "CREATE TABLE IF NOT EXISTS pwccad_schema (version INTEGER NOT NULL); "
                "INSERT INTO pwccad_schema (version) SELECT 0 WHERE NOT EXISTS "
                "(SELECT 1 FROM pwccad_schema)",
                NULL, NULL, err))
        return -1;
    PGresult *r = pg_run(p, "SELECT version FROM pwccad_schema", NULL, err);
    if (!r)
        return -1;
    int have = PQntuples(r) > 0 ? (int)g_int(r, 0, 0) : 0;
    PQclear(r);
    for (unsigned i = 0; i < pw_schema_nmigrations; i++) {
        const pw_schema_migration *m = &pw_schema_migrations[i];
        if (m->version <= have)
            continue;
        char *sql = pw_pg_translate(m->sql);
        if (!sql)
            return pw_err_set(err, "out of memory translating migration %s", m->name);
        int rc = run_cmd(p, sql, NULL, NULL, err);
        free(sql);
        pgp v = {0};
        p_int(&v, m->version);
        if (rc || run_cmd(p, "UPDATE pwccad_schema SET version = $1", &v, NULL, err))
            return pw_err_prefix(err, "migration %s", m->name);
        have = m->version;
    }
    mc->version = have;
    return 0;
}

/* ---- pw_db operations ------------------------------------------------------------ */

static void db_close(void *impl)
{
    pg_free(impl);
}

static int db_schema_version(void *impl)
{
    return ((pg *)impl)->version;
}

/* The run whose (root, rel) is given; 1 found, 0 not, -1 error. */
/* Row 0 of r's columns id, final_step, final_source, converged_step, path into *run. */
static void run_columns(const PGresult *r, pw_db_run *run)
{
    run->id = g_int(r, 0, 0);
    run->final_step = g_opt_int(r, 0, 1);
    const char *src = g_text(r, 0, 2);
    snprintf(run->final_source, sizeof run->final_source, "%s", src ? src : "");
    run->converged_step = g_opt_int(r, 0, 3);
    snprintf(run->path, sizeof run->path, "%s", PQgetvalue(r, 0, 4));
}

static int read_run_row(pg *p, const char *root, const char *rel, pw_db_run *run, pw_err *err)
{
    pgp a = {0};
    p_text(&a, root);
    p_text(&a, rel);
    PGresult *r = pg_run(p,
                         "SELECT id, final_step, final_source, converged_step, path FROM runs "
                         "WHERE root = $1 AND rel = $2",
                         &a, err);
    if (!r)
        return -1;
    int found = PQntuples(r) > 0;
    if (found)
        run_columns(r, run);
    PQclear(r);
    return found;
}

typedef struct upsert_ctx {
    const char *root, *rel;  /* its identity (pw_db_run_upsert_root) */
    const char *path, *name; /* the run here */
    pw_db_run *run;          /* out */
} upsert_ctx;

#define PG_RUNS_KEY 1920298611 /* pg_advisory_xact_lock(KEY, 0): adding a run ("runs") */

/* Several daemons may see a new run at once: finding, adopting and inserting
 * go under one transaction-scoped advisory lock, so a row written before
 * schema 9 is adopted once, and ON CONFLICT keeps the insert single even
 * for a writer that does not take the lock. */
static int upsert_fn(pg *p, void *ctx, pw_err *err)
{
    upsert_ctx *u = ctx;
    int found = read_run_row(p, u->root, u->rel, u->run, err);
    if (found != 0)
        return found < 0 ? -1 : 0;
    pgp k = {0};
    p_int(&k, PG_RUNS_KEY);
    if (run_cmd(p, "SELECT pg_advisory_xact_lock($1::int4, 0)", &k, NULL, err))
        return -1;
    pgp a = {0};
    p_text(&a, u->root);
    p_text(&a, u->rel);
    p_text(&a, u->path);
    if (run_cmd(p,
                "UPDATE runs SET root = $1, rel = $2 WHERE id = (SELECT MIN(id) FROM runs WHERE "
                "path = $3 AND root IS NULL) AND NOT EXISTS (SELECT 1 FROM runs WHERE root = $1 "
                "AND rel = $2)",
                &a, NULL, err))
        return -1;
    pgp i = {0};
    p_text(&i, u->name);
    p_text(&i, u->path);
    p_real(&i, now_s());
    p_text(&i, u->root);
    p_text(&i, u->rel);
    if (run_cmd(p,
                "INSERT INTO runs (name, path, created_at, root, rel) VALUES ($1, $2, $3, $4, $5) "
                "ON CONFLICT (root, rel) DO NOTHING",
                &i, NULL, err))
        return -1;
    found = read_run_row(p, u->root, u->rel, u->run, err);
    if (found <= 0)
        return found < 0 ? -1 : pw_err_set(err, "database: run %s vanished after insert", u->path);
    return 0;
}

static int db_run_upsert(void *impl, const char *root, const char *rel, const char *path,
                         const char *name, pw_db_run *run, pw_err *err)
{
    upsert_ctx u = {root, rel, path, name, run};
    return with_retry(impl, upsert_fn, &u, "adding run", err);
}

static int db_run_set_final(void *impl, int64_t run_id, int64_t step, const char *source,
                            pw_err *err)
{
    pgp set = {0}, drop = {0};
    p_opt_int(&set, step);
    p_text(&set, step >= 0 ? source : NULL);
    p_int(&set, run_id);
    p_int(&drop, run_id);
    p_int(&drop, step);
    const pg_stmt s[] = {
        {"UPDATE runs SET final_step = $1, final_source = $2 WHERE id = $3", &set},
        {"DELETE FROM scores WHERE run_id = $1 AND ref = 'final' AND ($2 < 0 OR step > $2)",
         &drop}};
    return write_stmts(impl, "setting the final checkpoint", s, 2, NULL, err);
}

static int db_run_set_converged(void *impl, int64_t run_id, int64_t step, pw_err *err)
{
    pgp a = {0};
    p_opt_int(&a, step);
    p_int(&a, run_id);
    const pg_stmt s = {"UPDATE runs SET converged_step = $1 WHERE id = $2", &a};
    return write_stmts(impl, "setting convergence", &s, 1, NULL, err);
}

static int db_runs_each(void *impl, pw_db_run_cb cb, void *ctx, pw_err *err)
{
    PGresult *r =
        read_all(impl, "SELECT id, path FROM runs ORDER BY id", NULL, "reading runs", err);
    if (!r)
        return -1;
    for (int i = 0, n = PQntuples(r); i < n; i++)
        if (cb(ctx, g_int(r, i, 0), PQgetvalue(r, i, 1)))
            break;
    PQclear(r);
    return 0;
}

static int db_run_set_absent(void *impl, int64_t run_id, int64_t *changed, pw_err *err)
{
    pgp a = {0};
    p_int(&a, run_id);
    const pg_stmt s = {"UPDATE checkpoints SET present = 0 WHERE run_id = $1 AND present != 0", &a};
    return write_stmts(impl, "marking a deleted run's checkpoints", &s, 1, changed, err);
}

typedef struct forget_ctx {
    int64_t run_id;      /* which run */
    pw_db_forgotten out; /* counted before the delete */
} forget_ctx;

static int forget_fn(pg *p, void *ctx, pw_err *err)
{
    forget_ctx *f = ctx;
    pgp a = {0};
    p_int(&a, f->run_id);
    PGresult *r = pg_run(p,
                         "SELECT (SELECT COUNT(*) FROM checkpoints WHERE run_id = $1), (SELECT "
                         "COUNT(*) FROM scores WHERE run_id = $1), (SELECT COUNT(*) FROM alerts "
                         "WHERE run_id = $1)",
                         &a, err);
    if (!r)
        return -1;
    f->out.checkpoints = g_int(r, 0, 0);
    f->out.scores = g_int(r, 0, 1);
    f->out.alerts = g_int(r, 0, 2);
    PQclear(r);
    /* The schema's ON DELETE CASCADE takes the rest. */
    return run_cmd(p, "DELETE FROM runs WHERE id = $1", &a, NULL, err);
}

static int db_run_forget(void *impl, int64_t run_id, pw_db_forgotten *out, pw_err *err)
{
    forget_ctx f = {run_id, {0, 0, 0}};
    if (with_retry(impl, forget_fn, &f, "forgetting a run", err))
        return -1;
    *out = f.out;
    return 0;
}

static int db_checkpoints(void *impl, int64_t run_id, pw_db_ckpt_cb cb, void *ctx, pw_err *err)
{
    pgp a = {0};
    p_int(&a, run_id);
    PGresult *r = read_all(impl,
                           "SELECT step, path, size, mtime_ns, inode, status, error, present, "
                           "probe_fingerprint FROM checkpoints WHERE run_id = $1 ORDER BY step",
                           &a, "reading checkpoints", err);
    if (!r)
        return -1;
    pw_db_ckpt *c = calloc(1, sizeof *c); /* large: it holds the path and the error */
    if (!c) {
        PQclear(r);
        return pw_err_set(err, "database: out of memory");
    }
    for (int i = 0, n = PQntuples(r); i < n; i++) {
        const char *s = g_text(r, i, 5), *e = g_text(r, i, 6), *pr = g_text(r, i, 8);
        c->step = g_int(r, i, 0);
        snprintf(c->path, sizeof c->path, "%s", PQgetvalue(r, i, 1));
        c->size = g_int(r, i, 2);
        c->mtime_ns = g_int(r, i, 3);
        c->inode = g_int(r, i, 4);
        if (!s || pw_status_parse(s, &c->status))
            c->status = PW_READ_ERROR;
        snprintf(c->error, sizeof c->error, "%s", e ? e : "");
        c->present = (int)g_int(r, i, 7);
        snprintf(c->probe, sizeof c->probe, "%s", pr ? pr : "");
        if (cb(ctx, c))
            break;
    }
    free(c);
    PQclear(r);
    return 0;
}

static int db_checkpoint_set_present(void *impl, int64_t run_id, int64_t step, int present,
                                     pw_err *err)
{
    pgp a = {0};
    p_int(&a, present);
    p_int(&a, run_id);
    p_int(&a, step);
    const pg_stmt s = {"UPDATE checkpoints SET present = $1 WHERE run_id = $2 AND step = $3", &a};
    return write_stmts(impl, "marking a checkpoint deleted", &s, 1, NULL, err);
}

static int db_layers(void *impl, int64_t run_id, pw_db_layer_cb cb, void *ctx, pw_err *err)
{
    pgp a = {0};
    p_int(&a, run_id);
    PGresult *r = read_all(impl,
                           "SELECT name, depth FROM layers WHERE run_id = $1 ORDER BY depth, "
                           "name COLLATE \"C\"",
                           &a, "reading layers", err);
    if (!r)
        return -1;
    for (int i = 0, n = PQntuples(r); i < n; i++)
        if (cb(ctx, PQgetvalue(r, i, 0), (int)g_int(r, i, 1)))
            break;
    PQclear(r);
    return 0;
}

static int db_layer_set_stable(void *impl, int64_t run_id, const char *layer, int64_t step,
                               pw_err *err)
{
    pgp a = {0};
    p_opt_int(&a, step);
    p_int(&a, run_id);
    p_text(&a, layer);
    const pg_stmt s = {"UPDATE layers SET stable_step = $1 WHERE run_id = $2 AND name = $3", &a};
    return write_stmts(impl, "setting a layer's stable step", &s, 1, NULL, err);
}

/* ---- commit ------------------------------------------------------------------------- */

typedef struct commit_ctx {
    int64_t run_id;       /* run */
    const pw_db_batch *b; /* what to write */
    int lost;             /* out: b's lease was not the daemon's: nothing written */
} commit_ctx;

static int lease_held(pg *p, const char *unit, int64_t daemon_id, double since, pw_err *err);

static int commit_ckpt(pg *p, int64_t run_id, const pw_db_ckpt *c, pw_err *err)
{
    pgp a = {0};
    p_int(&a, run_id);
    p_int(&a, c->step);
    p_text(&a, c->path);
    p_int(&a, c->size);
    p_int(&a, c->mtime_ns);
    p_int(&a, c->inode);
    p_text(&a, pw_status_name(c->status));
    p_text(&a, c->error[0] ? c->error : NULL);
    p_int(&a, c->present);
    p_real(&a, now_s());
    p_text(&a, c->probe[0] ? c->probe : NULL);
    return run_cmd(
        p,
        "INSERT INTO checkpoints (run_id, step, path, size, mtime_ns, inode, status, error, "
        "present, processed_at, probe_fingerprint) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
        "$10, $11) ON CONFLICT (run_id, step) DO UPDATE SET path = excluded.path, size = "
        "excluded.size, mtime_ns = excluded.mtime_ns, inode = excluded.inode, status = "
        "excluded.status, error = excluded.error, present = excluded.present, processed_at = "
        "excluded.processed_at, probe_fingerprint = excluded.probe_fingerprint",
        &a, NULL, err);
}

static int commit_layers(pg *p, int64_t run_id, const pw_db_batch *b, pw_err *err)
{
    for (size_t i = 0; i < b->nlayers; i++) {
        const pw_db_layer *l = &b->layers[i];
        pgp a = {0};
        p_int(&a, run_id);
        p_text(&a, l->name);
        p_int(&a, l->depth);
        p_text(&a, pw_dtype_name(l->dtype));
        p_text(&a, l->shape);
        p_int(&a, (int64_t)l->rows);
        p_int(&a, (int64_t)l->cols);
        if (run_cmd(p,
                    "INSERT INTO layers (run_id, name, depth, dtype, shape, rows, cols) VALUES "
                    "($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (run_id, name) DO UPDATE SET "
                    "depth = excluded.depth, dtype = excluded.dtype, shape = excluded.shape, "
                    "rows = excluded.rows, cols = excluded.cols",
                    &a, NULL, err))
            return -1;
    }
    return 0;
}

/* Reduce = auto's decisions: the first stored for a layer stays. */
static int commit_choices(pg *p, int64_t run_id, const pw_db_batch *b, double t, pw_err *err)
{
    for (size_t i = 0; i < b->nscores; i++) {
        const pw_db_score *s = &b->scores[i];
        if (!s->sticky || s->r.status != PW_OK)
            continue;
        char reduce[PW_REDUCE_TEXT_MAX];
        pw_reduce_format(&s->r.reduce, reduce, sizeof reduce);
        pgp a = {0};
        p_int(&a, run_id);
        p_text(&a, s->layer);
        p_text(&a, reduce);
        p_int(&a, s->step);
        p_real(&a, t);
        if (run_cmd(p,
                    "INSERT INTO reduce_choices (run_id, layer, reduce, step, decided_at) "
                    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    &a, NULL, err))
            return -1;
    }
    return 0;
}

/* An upsert into table: the columns fixed[0..nfixed) (the first key of them
 * the conflict key), every metric, the status and reduction columns, the
 * SEs and noise_blocks -- the same column lists as SQLite's inserts, in the
 * order bind_score_values binds from n on. */
static void upsert_sql(char *sql, size_t len, const char *table, const char *const *fixed,
                       int nfixed, int key)
{
    static const char *const tail[] = {"status", "message", "computed_at", "reduce", "k_x", "k_y"};
#define SE_NAME(sym, id, since) #id "_se",
    static const char *const se[] = {PW_NOISE_SE_COLUMNS(SE_NAME)};
#undef SE_NAME
    enum { NTAIL = sizeof tail / sizeof *tail, NSE = sizeof se / sizeof *se };
    /* Room for the metrics, the tail, the SEs and noise_blocks after fixed. */
    const char *cols[PG_MAX_PARAMS];
    if (nfixed < 0 || nfixed + PW_METRIC_COUNT + NTAIL + NSE + 1 > PG_MAX_PARAMS)
        abort();
    int n = 0;
    for (int i = 0; i < nfixed; i++)
        cols[n++] = fixed[i];
    for (unsigned i = 0; i < PW_METRIC_COUNT; i++)
        cols[n++] = pw_metric_name(i);
    for (size_t i = 0; i < sizeof tail / sizeof *tail; i++)
        cols[n++] = tail[i];
    for (int i = 0; i < NSE; i++)
        cols[n++] = se[i];
    cols[n++] = "noise_blocks";
    assert(key < nfixed);
    size_t o = (size_t)snprintf(sql, len, "INSERT INTO %s (", table);
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(sql + o, len - o, "%s%s", i ? ", " : "", cols[i]);
    o += (size_t)snprintf(sql + o, len - o, ") VALUES (");
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(sql + o, len - o, "%s$%d", i ? ", " : "", i + 1);
    o += (size_t)snprintf(sql + o, len - o, ") ON CONFLICT (");
    for (int i = 0; i < key; i++)
        o += (size_t)snprintf(sql + o, len - o, "%s%s", i ? ", " : "", cols[i]);
    o += (size_t)snprintf(sql + o, len - o, ") DO UPDATE SET ");
    for (int i = key; i < n; i++)
        o += (size_t)snprintf(sql + o, len - o, "%s%s = excluded.%s", i > key ? ", " : "", cols[i],
                              cols[i]);
    assert(o < len);
}

/* The scores upsert. */
static void scores_sql(char *sql, size_t len)
{
    static const char *const fixed[] = {"run_id",   "layer", "step",   "ref",
                                        "ref_step", "n",     "p_kept", "q_kept"};
    upsert_sql(sql, len, "scores", fixed, (int)(sizeof fixed / sizeof *fixed), 4);
}

/* The values a score row and a cross-run row share, in the order of the
 * tables' columns from n on: n, p_kept, q_kept (NULL unless counted), every
 * metric, status, message, computed_at (t), reduce, k_x, k_y, the SEs and
 * noise_blocks.  reduce is the caller's: a bound text is a pointer, so it
 * must live until the command has run. */
static void bind_score_values(pgp *a, const pw_db_score *s, int counted, double t,
                              char reduce[PW_REDUCE_TEXT_MAX])
{
    const pw_result *r = &s->r;
    p_opt_int(a, counted ? (int64_t)r->n : -1);
    p_opt_int(a, counted ? (int64_t)r->p_kept : -1);
    p_opt_int(a, counted ? (int64_t)r->q_kept : -1);
#define PG_METRIC_BIND(sym, id, bitno, sel, tpos, label, doc) p_real(a, r->id);
    PW_METRIC_LIST(PG_METRIC_BIND)
#undef PG_METRIC_BIND
    p_text(a, pw_status_name(r->status));
    p_text(a, r->message[0] ? r->message : NULL);
    p_real(a, t);
    int reduced = r->reduce.kind != PW_REDUCE_NONE;
    assert(r->reduce.kind != PW_REDUCE_AUTO);
    pw_reduce_format(&r->reduce, reduce, PW_REDUCE_TEXT_MAX);
    p_text(a, reduce);
    p_opt_int(a, reduced ? (int64_t)r->k_x : -1);
    p_opt_int(a, reduced ? (int64_t)r->k_y : -1);
    const pw_noise_result *nr = &s->noise;
#define PG_NOISE_BIND(sym, id, since) p_real(a, nr->blocks ? nr->se[PW_METRIC_##sym] : NAN);
    PW_NOISE_SE_COLUMNS(PG_NOISE_BIND)
#undef PG_NOISE_BIND
    p_opt_int(a, nr->blocks ? (int64_t)nr->blocks : -1);
}

static int commit_scores(pg *p, int64_t run_id, const pw_db_batch *b, pw_err *err)
{
    for (size_t i = 0; i < b->ngroups; i++) {
        pgp a = {0};
        p_int(&a, run_id);
        p_int(&a, b->groups[i].step);
        p_text(&a, pw_ref_name(b->groups[i].ref));
        if (run_cmd(p, "DELETE FROM scores WHERE run_id = $1 AND step = $2 AND ref = $3", &a, NULL,
                    err))
            return -1;
    }
    if (!b->nscores)
        return 0;
    char sql[4096];
    scores_sql(sql, sizeof sql);
    double t = now_s();
    for (size_t i = 0; i < b->nscores; i++) {
        const pw_db_score *s = &b->scores[i];
        const pw_result *r = &s->r;
        /* Counts mean nothing for a pair that was never read. */
        int counted = r->status != PW_READ_ERROR && r->status != PW_MISSING &&
                      r->status != PW_REFERENCE_UNAVAILABLE && r->status != PW_SHAPE_CHANGED &&
                      r->status != PW_PROBE_CHANGED;
        pgp a = {0};
        p_int(&a, run_id);
        p_text(&a, s->layer);
        p_int(&a, s->step);
        p_text(&a, pw_ref_name(s->ref));
        p_int(&a, s->ref_step);
        char reduce[PW_REDUCE_TEXT_MAX];
        bind_score_values(&a, s, counted, t, reduce);
        if (run_cmd(p, sql, &a, NULL, err))
            return -1;
    }
    return commit_choices(p, run_id, b, t, err);
}

static int commit_fn(pg *p, void *ctx, pw_err *err)
{
    commit_ctx *cc = ctx;
    if (cc->b->lease_unit) {
        int held = lease_held(p, cc->b->lease_unit, cc->b->lease_daemon, cc->b->lease_since, err);
        if (held <= 0) {
            cc->lost = held == 0;
            return held == 0 ? pw_err_set(err, "lease lost: %s is no longer this daemon's",
                                          cc->b->lease_unit)
                             : -1;
        }
    }
    if (cc->b->ckpt && commit_ckpt(p, cc->run_id, cc->b->ckpt, err))
        return -1;
    if (commit_layers(p, cc->run_id, cc->b, err))
        return -1;
    return commit_scores(p, cc->run_id, cc->b, err);
}

static int db_commit(void *impl, int64_t run_id, const pw_db_batch *b, pw_err *err)
{
    commit_ctx cc = {run_id, b, 0};
    int rc = with_retry(impl, commit_fn, &cc, "storing results", err);
    return rc && cc.lost ? PW_DB_LEASE_LOST : rc;
}

/* ---- the daemon's readings ------------------------------------------------------------ */

/* The rows of sql (one parameter: the run id); NULL on failure. */
static PGresult *run_rows(pg *p, const char *sql, int64_t run_id, const char *what, pw_err *err)
{
    pgp a = {0};
    p_int(&a, run_id);
    return read_all(p, sql, &a, what, err);
}

static int db_scores_done(void *impl, int64_t run_id, pw_db_done_cb cb, void *ctx, pw_err *err)
{
    PGresult *r = run_rows(impl,
                           "SELECT step, ref, ref_step, COUNT(*) FROM scores WHERE run_id = $1 "
                           "GROUP BY step, ref, ref_step ORDER BY step, ref",
                           run_id, "reading scores", err);
    if (!r)
        return -1;
    for (int i = 0, n = PQntuples(r); i < n; i++)
        if (cb(ctx, g_int(r, i, 0),
               strcmp(PQgetvalue(r, i, 1), "final") == 0 ? PW_REF_FINAL : PW_REF_PREVIOUS,
               g_int(r, i, 2), g_int(r, i, 3)))
            break;
    PQclear(r);
    return 0;
}

/* pw_db_series's reading (see lib/pw_db.c): a distance whose reference is not
 * the layer's previous point reads as missing. */
#define SERIES_SQL(extra_col, extra_sel)                                                           \
    "SELECT layer, step, CASE WHEN before IS NULL OR ref_step = before THEN distance "             \
    "END" extra_col " FROM (SELECT layer, step, ref_step, distance" extra_sel                      \
    ", LAG(step) OVER (PARTITION BY "                                                              \
    "layer ORDER BY step) AS before FROM scores WHERE run_id = $1 AND ref = 'previous') AS s "     \
    "ORDER BY layer COLLATE \"C\", step"

static int db_series(void *impl, int64_t run_id, pw_db_series_cb cb, void *ctx, pw_err *err)
{
    PGresult *r = run_rows(impl, SERIES_SQL("", ""), run_id, "reading the distance series", err);
    if (!r)
        return -1;
    for (int i = 0, n = PQntuples(r); i < n; i++)
        if (cb(ctx, PQgetvalue(r, i, 0), g_int(r, i, 1), g_real(r, i, 2)))
            break;
    PQclear(r);
    return 0;
}

static int db_series_se(void *impl, int64_t run_id, pw_db_series_se_cb cb, void *ctx, pw_err *err)
{
    PGresult *r = run_rows(impl,
                           SERIES_SQL(", CASE WHEN before IS NULL OR ref_step = before THEN "
                                      "distance_se END",
                                      ", distance_se"),
                           run_id, "reading the distance series", err);
    if (!r)
        return -1;
    for (int i = 0, n = PQntuples(r); i < n; i++)
        if (cb(ctx, PQgetvalue(r, i, 0), g_int(r, i, 1), g_real(r, i, 2), g_real(r, i, 3)))
            break;
    PQclear(r);
    return 0;
}

static int db_unmeasured(void *impl, int64_t run_id, pw_db_unmeasured_cb cb, void *ctx, pw_err *err)
{
    PGresult *r = run_rows(
        impl,
        "SELECT l.name, (SELECT s.status FROM scores s WHERE s.run_id = l.run_id AND s.layer = "
        "l.name AND s.ref = 'previous' ORDER BY s.step DESC LIMIT 1) FROM layers l WHERE "
        "l.run_id = $1 AND NOT EXISTS (SELECT 1 FROM scores s WHERE s.run_id = l.run_id AND "
        "s.layer = l.name AND s.ref = 'previous' AND s.status = 'ok' AND s.distance IS NOT "
        "NULL) ORDER BY l.depth, l.name COLLATE \"C\"",
        run_id, "reading the unmeasured layers", err);
    if (!r)
        return -1;
    for (int i = 0, n = PQntuples(r); i < n; i++)
        if (cb(ctx, PQgetvalue(r, i, 0), g_text(r, i, 1)))
            break;
    PQclear(r);
    return 0;
}

static int db_latest(void *impl, int64_t run_id, pw_db_latest_cb cb, void *ctx, pw_err *err)
{
    PGresult *r = run_rows(
        impl,
        "SELECT l.name, l.stable_step, p.step, CASE WHEN p.status = 'ok' THEN p.distance END, "
        "f.step, CASE WHEN f.status = 'ok' THEN f.distance END, p.k_x, f.k_x, "
        "CASE WHEN p.status = 'ok' THEN p.distance_se END, "
        "CASE WHEN f.status = 'ok' THEN f.distance_se END FROM layers l "
        "LEFT JOIN scores p ON p.run_id = l.run_id AND p.layer = l.name AND "
        "p.ref = 'previous' AND p.step = (SELECT MAX(step) FROM scores WHERE run_id = "
        "l.run_id AND layer = l.name AND ref = 'previous') "
        "LEFT JOIN scores f ON f.run_id = l.run_id AND f.layer = l.name AND "
        "f.ref = 'final' AND f.step = (SELECT MAX(step) FROM scores WHERE run_id = "
        "l.run_id AND layer = l.name AND ref = 'final') "
        "WHERE l.run_id = $1 ORDER BY l.depth, l.name COLLATE \"C\"",
        run_id, "reading the latest scores", err);
    if (!r)
        return -1;
    for (int i = 0, n = PQntuples(r); i < n; i++) {
        pw_db_latest_row l;
        l.layer = PQgetvalue(r, i, 0);
        l.stable_step = g_opt_int(r, i, 1);
        for (int k = 0; k < 2; k++) {
            l.has[k] = !g_null(r, i, 2 + 2 * k);
            l.step[k] = l.has[k] ? g_int(r, i, 2 + 2 * k) : -1;
            l.distance[k] = g_real(r, i, 3 + 2 * k);
            l.k_x[k] = g_opt_int(r, i, 6 + k);
            l.distance_se[k] = g_real(r, i, 8 + k);
        }
        if (cb(ctx, &l))
            break;
    }
    PQclear(r);
    return 0;
}

static int db_reduce_choices(void *impl, int64_t run_id, pw_db_choice_cb cb, void *ctx, pw_err *err)
{
    PGresult *r = run_rows(impl,
                           "SELECT layer, reduce, step FROM reduce_choices WHERE run_id = $1 "
                           "ORDER BY layer COLLATE \"C\"",
                           run_id, "reading the reduce decisions", err);
    if (!r)
        return -1;
    for (int i = 0, n = PQntuples(r); i < n; i++)
        if (cb(ctx, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), g_int(r, i, 2)))
            break;
    PQclear(r);
    return 0;
}

static int db_reduce_forget(void *impl, int64_t run_id, int64_t from_step, int64_t *removed,
                            pw_err *err)
{
    pgp a = {0};
    p_int(&a, run_id);
    p_int(&a, from_step);
    const pg_stmt s = {"DELETE FROM reduce_choices WHERE run_id = $1 AND step >= $2", &a};
    return write_stmts(impl, "forgetting reduce decisions", &s, 1, removed, err);
}

static int db_alert_add(void *impl, int64_t run_id, const char *kind, const char *layer,
                        int64_t step, double value, const char *detail, int *inserted, pw_err *err)
{
    pgp a = {0};
    p_int(&a, run_id);
    p_text(&a, kind);
    p_text(&a, layer ? layer : "");
    p_int(&a, step);
    p_real(&a, value);
    p_text(&a, detail);
    p_real(&a, now_s());
    const pg_stmt s = {"INSERT INTO alerts (run_id, kind, layer, step, value, detail, "
                       "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                       &a};
    int64_t added = 0;
    int rc = write_stmts(impl, "storing an alert", &s, 1, &added, err);
    *inserted = rc == 0 && added > 0;
    return rc;
}

/* ---- chance levels (007_chance.sql) --------------------------------------------- */

/* The chance insert, from the same column list as SQLite's (PW_CHANCE_COLUMNS). */
#define PG_CHANCE_COL(sym, id)  ", " #id
#define PG_CHANCE_NAME(sym, id) #id,

static int db_chance_add(void *impl, int64_t run_id, const pw_db_chance *c, size_t n,
                         int64_t *inserted, pw_err *err)
{
    static const char *const metric_cols[] = {PW_CHANCE_COLUMNS(PG_CHANCE_NAME)};
    /* run_id ... message, the metrics, computed_at */
    enum { NCOLS = 12 + (int)(sizeof metric_cols / sizeof *metric_cols) };
    /* The first stored stays (INSERT OR IGNORE): ON CONFLICT DO NOTHING. */
    char sql[1024];
    size_t o = (size_t)snprintf(sql, sizeof sql,
                                "INSERT INTO chance (run_id, layer, step_a, step_b, seed, n, "
                                "p_kept, q_kept, reduce, status, message" PW_CHANCE_COLUMNS(
                                    PG_CHANCE_COL) ", computed_at) VALUES ($1");
    for (int i = 2; i <= NCOLS; i++)
        o += (size_t)snprintf(sql + o, sizeof sql - o, ", $%d", i);
    o += (size_t)snprintf(sql + o, sizeof sql - o, ") ON CONFLICT DO NOTHING");
    assert(o < sizeof sql);
    int64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const pw_result *r = &c[i].r;
        char reduce[PW_REDUCE_TEXT_MAX];
        pw_reduce_format(&r->reduce, reduce, sizeof reduce);
        pgp a = {0};
        p_int(&a, run_id);
        p_text(&a, c[i].layer);
        p_int(&a, c[i].step_a);
        p_int(&a, c[i].step_b);
        p_int(&a, (int64_t)c[i].seed);
        p_int(&a, (int64_t)r->n);
        p_int(&a, (int64_t)r->p_kept);
        p_int(&a, (int64_t)r->q_kept);
        p_text(&a, reduce);
        p_text(&a, pw_status_name(r->status));
        p_text(&a, r->message[0] ? r->message : NULL);
#define PG_CHANCE_BIND(sym, id) p_real(&a, r->id);
        PW_CHANCE_COLUMNS(PG_CHANCE_BIND)
#undef PG_CHANCE_BIND
        p_real(&a, now_s());
        assert(a.n == NCOLS);
        const pg_stmt s = {sql, &a};
        int64_t added = 0;
        if (write_stmts(impl, "storing a chance level", &s, 1, &added, err) != 0)
            return -1;
        total += added;
    }
    if (inserted)
        *inserted = total;
    return 0;
}

#undef PG_CHANCE_NAME

static int db_chance_each(void *impl, int64_t run_id, pw_db_chance_cb cb, void *ctx, pw_err *err)
{
    PGresult *r = run_rows(impl,
                           "SELECT layer, step_a, step_b, seed, n, p_kept, q_kept, reduce, "
                           "status, message" PW_CHANCE_COLUMNS(
                               PG_CHANCE_COL) " FROM chance WHERE run_id = $1 ORDER BY layer "
                                              "COLLATE \"C\"",
                           run_id, "reading the chance levels", err);
    if (!r)
        return -1;
    for (int i = 0, rows = PQntuples(r); i < rows; i++) {
        pw_db_chance c;
        memset(&c, 0, sizeof c);
        pw_result_init(&c.r);
        snprintf(c.layer, sizeof c.layer, "%s", PQgetvalue(r, i, 0));
        c.step_a = g_int(r, i, 1);
        c.step_b = g_int(r, i, 2);
        c.seed = (uint64_t)g_int(r, i, 3);
        c.r.n = (uint64_t)g_int(r, i, 4);
        c.r.p_kept = (uint64_t)g_int(r, i, 5);
        c.r.q_kept = (uint64_t)g_int(r, i, 6);
        const char *reduce = g_text(r, i, 7);
        pw_err e;
        if (!reduce || pw_reduce_parse(reduce, &c.r.reduce, &e) != 0)
            c.r.reduce = (pw_reduce){.kind = PW_REDUCE_NONE};
        const char *status = g_text(r, i, 8);
        if (!status || pw_status_parse(status, &c.r.status) != 0)
            c.r.status = PW_READ_ERROR;
        const char *msg = g_text(r, i, 9);
        snprintf(c.r.message, sizeof c.r.message, "%s", msg ? msg : "");
        int col = 10;
#define PG_CHANCE_GET(sym, id) c.r.id = g_real(r, i, col++);
        PW_CHANCE_COLUMNS(PG_CHANCE_GET)
#undef PG_CHANCE_GET
        if (cb(ctx, &c))
            break;
    }
    PQclear(r);
    return 0;
}

#undef PG_CHANCE_COL

static int db_chance_forget(void *impl, int64_t run_id, int64_t from_step, int64_t *removed,
                            pw_err *err)
{
    pgp a = {0};
    p_int(&a, run_id);
    p_int(&a, from_step);
    const pg_stmt s = {"DELETE FROM chance WHERE run_id = $1 AND step_a >= $2", &a};
    return write_stmts(impl, "forgetting chance levels", &s, 1, removed, err);
}

/* ---- run groups' cross-run scores (006_groups.sql) ------------------------------- */

/* The group_scores upsert (SQLite's INSERT OR REPLACE); the primary key is
 * its first seven columns. */
static void cross_sql(char *sql, size_t len)
{
    static const char *const fixed[] = {"group_name", "run_a",  "run_b", "layer_a", "layer_b",
                                        "step_a",     "step_b", "n",     "p_kept",  "q_kept"};
    upsert_sql(sql, len, "group_scores", fixed, (int)(sizeof fixed / sizeof *fixed), 7);
}

typedef struct cross_ctx {
    const pw_db_cross *c; /* what to store */
    int lost;             /* out: c's lease was not the daemon's: nothing written */
} cross_ctx;

static int cross_fn(pg *p, void *ctx, pw_err *err)
{
    cross_ctx *cx = ctx;
    const pw_db_cross *c = cx->c;
    if (c->lease_unit) {
        int held = lease_held(p, c->lease_unit, c->lease_daemon, c->lease_since, err);
        if (held <= 0) {
            cx->lost = held == 0;
            return held == 0
                       ? pw_err_set(err, "lease lost: %s is no longer this daemon's", c->lease_unit)
                       : -1;
        }
    }
    char sql[4096];
    cross_sql(sql, sizeof sql);
    double t = now_s();
    for (size_t i = 0; i < c->nrows; i++) {
        const pw_db_score *s = &c->rows[i];
        const pw_result *r = &s->r;
        /* Counts mean nothing for a pair that was never read. */
        int counted = r->status != PW_READ_ERROR && r->status != PW_MISSING &&
                      r->status != PW_REFERENCE_UNAVAILABLE && r->status != PW_PROBE_MISMATCH;
        pgp a = {0};
        p_text(&a, c->group);
        p_int(&a, c->run_a);
        p_int(&a, c->run_b);
        p_text(&a, s->layer);
        p_text(&a, s->layer);
        p_int(&a, c->step_a);
        p_int(&a, c->step_b);
        char reduce[PW_REDUCE_TEXT_MAX];
        bind_score_values(&a, s, counted, t, reduce);
        if (run_cmd(p, sql, &a, NULL, err))
            return -1;
    }
    return 0;
}

static int db_cross_commit(void *impl, const pw_db_cross *c, pw_err *err)
{
    cross_ctx cc = {c, 0};
    int rc = with_retry(impl, cross_fn, &cc, "storing cross-run scores", err);
    return rc && cc.lost ? PW_DB_LEASE_LOST : rc;
}

static int db_cross_done(void *impl, pw_db_cross_done_cb cb, void *ctx, pw_err *err)
{
    PGresult *r = read_all(impl,
                           "SELECT DISTINCT group_name COLLATE \"C\", run_a, run_b, step_a, "
                           "step_b FROM group_scores ORDER BY 1, 2, 3, 4, 5",
                           NULL, "reading cross-run scores", err);
    if (!r)
        return -1;
    for (int i = 0, n = PQntuples(r); i < n; i++)
        if (cb(ctx, PQgetvalue(r, i, 0), g_int(r, i, 1), g_int(r, i, 2), g_int(r, i, 3),
               g_int(r, i, 4)))
            break;
    PQclear(r);
    return 0;
}

/* ---- sharing the work: daemons, claims, leases (docs/DAEMON.md "Sharing the work") ---- */

/* The database's clock, Unix seconds: leases are compared on one clock, the
 * server's, so daemons on machines whose clocks differ agree on expiry. */
#define PG_NOW "extract(epoch FROM clock_timestamp())::float8"

/* The lease check at the head of a commit: the claim row is unit's, this
 * daemon's, the one taken at since (claimed_at: a claim lost to another daemon
 * and taken back is a new claim, and a job planned under the old one must not
 * overwrite what the other stored meanwhile) and not expired, and stays so
 * until COMMIT (FOR SHARE blocks a takeover's UPDATE; another commit of the
 * same daemon shares the lock).  1 when held, 0 when not, -1 on a database
 * error.  since reads back exactly: extra_float_digits and %.17g. */
static int lease_held(pg *p, const char *unit, int64_t daemon_id, double since, pw_err *err)
{
    pgp a = {0};
    p_text(&a, unit);
    p_int(&a, daemon_id);
    p_real(&a, since);
    PGresult *r = pg_run(p,
                         "SELECT 1 FROM claims WHERE unit = $1 AND daemon_id = $2 AND "
                         "claimed_at = $3 AND lease_until > " PG_NOW " FOR SHARE",
                         &a, err);
    if (!r)
        return -1;
    int held = PQntuples(r) > 0;
    PQclear(r);
    return held;
}

typedef struct register_ctx {
    const char *host; /* gethostname */
    int64_t pid;      /* getpid */
    double lease_s;   /* the daemon's lease */
    int64_t id;       /* out: daemons.id */
} register_ctx;

static int register_fn(pg *p, void *ctx, pw_err *err)
{
    register_ctx *rc = ctx;
    /* Rows of daemons silent for a day are history nobody reads: their claims
     * (ON DELETE CASCADE) ran out long ago. */
    if (run_cmd(p, "DELETE FROM daemons WHERE heartbeat_at < " PG_NOW " - 86400", NULL, NULL, err))
        return -1;
    pgp a = {0};
    p_text(&a, rc->host);
    p_int(&a, rc->pid);
    p_real(&a, rc->lease_s);
    PGresult *r = pg_run(p,
                         "INSERT INTO daemons (host, pid, started_at, heartbeat_at, lease_s) "
                         "VALUES ($1, $2, " PG_NOW ", " PG_NOW ", $3) RETURNING id",
                         &a, err);
    if (!r)
        return -1;
    rc->id = PQntuples(r) > 0 ? g_int(r, 0, 0) : 0;
    PQclear(r);
    return rc->id > 0 ? 0 : pw_err_set(err, "no daemons row came back");
}

static int db_daemon_register(void *impl, const char *host, int64_t pid, double lease_s,
                              int64_t *id, pw_err *err)
{
    register_ctx rc = {host, pid, lease_s, 0};
    if (with_retry(impl, register_fn, &rc, "registering the daemon", err))
        return -1;
    *id = rc.id;
    return 0;
}

typedef struct beat_ctx {
    int64_t id;      /* daemons.id */
    const char *job; /* what it computes now, NULL when idle */
    double lease_s;  /* the lease to renew its claims by */
    int gone;        /* out: its daemons row was gone (deleted by hand) */
    PGresult *held;  /* out: the units it holds after the renewal */
    int live;        /* out: daemons that beat within their lease */
} beat_ctx;

static int beat_fn(pg *p, void *ctx, pw_err *err)
{
    beat_ctx *b = ctx;
    pgp a = {0}, c = {0};
    p_int(&a, b->id);
    if (b->job)
        p_text(&a, b->job);
    else
        p_null(&a, OID_TEXT);
    int64_t changed = 0;
    if (run_cmd(p, "UPDATE daemons SET heartbeat_at = " PG_NOW ", job = $2 WHERE id = $1", &a,
                &changed, err))
        return -1;
    b->gone = changed == 0;
    p_int(&c, b->id);
    p_real(&c, b->lease_s);
    PQclear(b->held);
    b->held = pg_run(p,
                     "UPDATE claims SET lease_until = " PG_NOW " + $2 WHERE daemon_id = $1 AND "
                     "lease_until > " PG_NOW " RETURNING unit",
                     &c, err);
    if (!b->held)
        return -1;
    PGresult *r = pg_run(p,
                         "SELECT COUNT(*) FROM daemons WHERE stopped_at IS NULL AND "
                         "heartbeat_at > " PG_NOW " - lease_s",
                         NULL, err);
    if (!r)
        return -1;
    b->live = PQntuples(r) > 0 ? (int)g_int(r, 0, 0) : 1;
    PQclear(r);
    return 0;
}

static int db_daemon_beat(void *impl, int64_t id, const char *job, double lease_s, pw_db_held_cb cb,
                          void *ctx, int *live, pw_err *err)
{
    beat_ctx b = {id, job, lease_s, 0, NULL, 1};
    int rc = with_retry(impl, beat_fn, &b, "the daemon's heartbeat", err);
    if (rc == 0 && b.gone)
        rc = pw_err_set(err, "the daemon's row (daemons.id %" PRId64 ") was deleted", id);
    for (int i = 0, n = rc == 0 && cb ? PQntuples(b.held) : 0; i < n; i++)
        if (cb(ctx, PQgetvalue(b.held, i, 0)))
            break;
    PQclear(b.held);
    *live = b.live > 0 ? b.live : 1;
    return rc;
}

static int db_daemon_stop(void *impl, int64_t id, pw_err *err)
{
    pgp a = {0}, c = {0};
    p_int(&a, id);
    p_int(&c, id);
    const pg_stmt s[] = {{"DELETE FROM claims WHERE daemon_id = $1", &a},
                         {"UPDATE daemons SET stopped_at = " PG_NOW ", heartbeat_at = " PG_NOW
                          ", job = NULL WHERE id = $1",
                          &c}};
    return write_stmts(impl, "recording the daemon's stop", s, 2, NULL, err);
}

typedef struct claim_ctx {
    const char *unit;  /* 'run:ID' or 'group:NAME' */
    int64_t daemon_id; /* who asks */
    double lease_s;    /* for how long */
    int held;          /* out: 1 when the claim is now the asker's */
    double since;      /* out: then its claimed_at */
} claim_ctx;

static int claim_fn(pg *p, void *ctx, pw_err *err)
{
    claim_ctx *cc = ctx;
    pgp a = {0};
    p_text(&a, cc->unit);
    p_int(&a, cc->daemon_id);
    p_real(&a, cc->lease_s);
    /* Taken when free, expired, or already the asker's (then only renewed). */
    PGresult *r =
        pg_run(p,
               "INSERT INTO claims (unit, daemon_id, lease_until, claimed_at) VALUES ($1, "
               "$2, " PG_NOW " + $3, " PG_NOW ") ON CONFLICT (unit) DO UPDATE SET "
               "daemon_id = EXCLUDED.daemon_id, lease_until = EXCLUDED.lease_until, "
               "claimed_at = CASE WHEN claims.daemon_id = EXCLUDED.daemon_id THEN "
               "claims.claimed_at ELSE EXCLUDED.claimed_at END WHERE claims.daemon_id "
               "= EXCLUDED.daemon_id OR claims.lease_until <= EXCLUDED.claimed_at "
               "RETURNING claimed_at",
               &a, err);
    if (!r)
        return -1;
    cc->held = PQntuples(r) > 0;
    cc->since = cc->held ? g_real(r, 0, 0) : 0;
    PQclear(r);
    return 0;
}

static int db_claim(void *impl, const char *unit, int64_t daemon_id, double lease_s, int *held,
                    double *since, pw_err *err)
{
    claim_ctx cc = {unit, daemon_id, lease_s, 0, 0};
    if (with_retry(impl, claim_fn, &cc, "claiming work", err))
        return -1;
    *held = cc.held;
    *since = cc.since;
    return 0;
}

static int db_release(void *impl, const char *unit, int64_t daemon_id, pw_err *err)
{
    pgp a = {0};
    p_text(&a, unit);
    p_int(&a, daemon_id);
    const pg_stmt s = {"DELETE FROM claims WHERE unit = $1 AND daemon_id = $2", &a};
    return write_stmts(impl, "releasing a claim", &s, 1, NULL, err);
}

static int db_run_get(void *impl, int64_t run_id, pw_db_run *run, pw_err *err)
{
    PGresult *r = run_rows(impl,
                           "SELECT id, final_step, final_source, converged_step, path FROM "
                           "runs WHERE id = $1",
                           run_id, "reading a run", err);
    if (!r)
        return -1;
    int found = PQntuples(r) > 0;
    if (found)
        run_columns(r, run);
    PQclear(r);
    return found ? 0 : pw_err_set(err, "run %" PRId64 " is not in the database", run_id);
}

static const pw_db_ops db_ops = {
    .close = db_close,
    .schema_version = db_schema_version,
    .run_upsert = db_run_upsert,
    .run_set_final = db_run_set_final,
    .run_set_converged = db_run_set_converged,
    .runs_each = db_runs_each,
    .run_set_absent = db_run_set_absent,
    .run_forget = db_run_forget,
    .checkpoints = db_checkpoints,
    .checkpoint_set_present = db_checkpoint_set_present,
    .layers = db_layers,
    .layer_set_stable = db_layer_set_stable,
    .commit = db_commit,
    .scores_done = db_scores_done,
    .series = db_series,
    .series_se = db_series_se,
    .unmeasured = db_unmeasured,
    .latest = db_latest,
    .reduce_choices = db_reduce_choices,
    .reduce_forget = db_reduce_forget,
    .alert_add = db_alert_add,
    .chance_add = db_chance_add,
    .chance_each = db_chance_each,
    .chance_forget = db_chance_forget,
    .cross_commit = db_cross_commit,
    .cross_done = db_cross_done,
    .daemon_register = db_daemon_register,
    .daemon_beat = db_daemon_beat,
    .daemon_stop = db_daemon_stop,
    .claim = db_claim,
    .release = db_release,
    .run_get = db_run_get,
};

int pw_pg_db_open(const char *url, int busy_ms, int retries, void **impl, const pw_db_ops **ops,
                  pw_err *err)
{
    pg *p = calloc(1, sizeof *p);
    if (!p)
        return pw_err_set(err, "%s: out of memory", url);
    if (pg_connect(p, url, busy_ms, retries, 0, err)) {
        pg_free(p);
        return -1;
    }
    migrate_ctx mc = {0};
    if (with_retry(p, migrate_fn, &mc, "migrating", err)) {
        pw_err_prefix(err, "%s", p->name);
        pg_free(p);
        return -1;
    }
    int newest =
        pw_schema_nmigrations ? pw_schema_migrations[pw_schema_nmigrations - 1].version : 0;
    if (mc.version > newest) {
        pw_err_set(err,
                   "database %s has schema version %d, newer than this pwccad's %d: upgrade "
                   "pwccad or use another --db",
                   p->name, mc.version, newest);
        pg_free(p);
        return PW_DB_TOO_NEW;
    }
    p->version = mc.version;
    *impl = p;
    *ops = &db_ops;
    return 0;
}

/* ---- pw_query operations ------------------------------------------------------------ */

/* A copy of a text value (NULL for NULL); *oom set when malloc fails. */
static char *dup_text(const PGresult *r, int row, int col, int *oom)
{
    const char *t = g_text(r, row, col);
    if (!t)
        return NULL;
    char *s = strdup(t);
    if (!s)
        *oom = 1;
    return s;
}

/* Never NULL: NULL becomes "". */
static char *dup_text_nn(const PGresult *r, int row, int col, int *oom)
{
    const char *t = g_text(r, row, col);
    char *s = strdup(t ? t : "");
    if (!s)
        *oom = 1;
    return s;
}

/* How the rows of one query become an array (pw_query.c's row_type). */
typedef struct row_type {
    const char *what;                                                     /* in messages */
    size_t size;                                                          /* bytes per element */
    int (*read)(const PGresult *r, int row, void *elem, const void *ctx); /* non-zero: no memory */
    void (*free)(void *arr, size_t n);                                    /* the public _free */
} row_type;

static int read_rows(pg *p, const char *sql, const pgp *a, const row_type *t, const void *ctx,
                     pw_query_progress_fn progress, void *pctx, void **out, size_t *n, pw_err *err)
{
    char what[64];
    snprintf(what, sizeof what, "reading %s", t->what);
    PGresult *r = read_all(p, sql, a, what, err);
    if (!r)
        return pw_err_prefix(err, "%s", p->name);
    size_t cnt = (size_t)PQntuples(r);
    unsigned char *arr = calloc(cnt ? cnt : 1, t->size);
    if (!arr) {
        PQclear(r);
        return pw_err_set(err, "out of memory reading the database (%zu rows)", cnt);
    }
    for (size_t i = 0; i < cnt; i++) {
        if (t->read(r, (int)i, arr + i * t->size, ctx) != 0) {
            PQclear(r);
            t->free(arr, i + 1);
            return pw_err_set(err, "out of memory reading %s", t->what);
        }
        if (progress && (i + 1) % PG_PROGRESS == 0)
            progress(pctx, i + 1);
    }
    if (progress)
        progress(pctx, cnt);
    PQclear(r);
    *out = arr;
    *n = cnt;
    return 0;
}

static void q_close(void *impl)
{
    pg_free(impl);
}

#define MEASURED                                                                                   \
    "EXISTS (SELECT 1 FROM scores m WHERE m.run_id = l.run_id AND m.layer = l.name AND"            \
    " m.ref = 'previous' AND m.status = 'ok' AND m.distance IS NOT NULL)"

static int read_run(const PGresult *r, int i, void *elem, const void *ctx)
{
    pw_run_info *ri = elem;
    int oom = 0;
    (void)ctx;
    ri->id = g_int(r, i, 0);
    ri->name = dup_text_nn(r, i, 1, &oom);
    ri->path = dup_text_nn(r, i, 2, &oom);
    ri->final_step = g_step(r, i, 3);
    ri->final_source = dup_text(r, i, 4, &oom);
    ri->converged_step = g_step(r, i, 5);
    ri->checkpoints = g_int(r, i, 6);
    ri->last_step = g_step(r, i, 7);
    ri->layers = g_int(r, i, 8);
    ri->stable_layers = g_int(r, i, 9);
    ri->measured_layers = g_int(r, i, 10);
    ri->probe = dup_text(r, i, 11, &oom);
    return oom;
}

static void runs_free(void *arr, size_t n)
{
    pw_query_runs_free(arr, n);
}

static const row_type run_rows_t = {"runs", sizeof(pw_run_info), read_run, runs_free};

static int q_select_runs(void *impl, pw_runs_where where, const char *arg, pw_run_info **out,
                         size_t *n, pw_err *err)
{
    char sql[2048];
    snprintf(sql, sizeof sql,
             "SELECT r.id, r.name, r.path, r.final_step, r.final_source, r.converged_step,"
             " (SELECT COUNT(*) FROM checkpoints c WHERE c.run_id = r.id),"
             " (SELECT MAX(step) FROM checkpoints c WHERE c.run_id = r.id),"
             " (SELECT COUNT(*) FROM layers l WHERE l.run_id = r.id),"
             " (SELECT COUNT(*) FROM layers l WHERE l.run_id = r.id AND l.stable_step IS NOT NULL),"
             " (SELECT COUNT(*) FROM layers l WHERE l.run_id = r.id AND " MEASURED "),"
             " (SELECT c.probe_fingerprint FROM checkpoints c WHERE c.run_id = r.id"
             " AND c.probe_fingerprint IS NOT NULL ORDER BY c.step DESC LIMIT 1)"
             " FROM runs r %s ORDER BY r.name COLLATE \"C\", r.path COLLATE \"C\"",
             where == PW_RUNS_BY_PATH   ? "WHERE r.path = $1"
             : where == PW_RUNS_BY_NAME ? "WHERE r.name = $1"
                                        : "");
    pgp a = {0};
    if (where != PW_RUNS_ALL)
        p_text(&a, arg);
    void *runs = NULL;
    if (read_rows(impl, sql, &a, &run_rows_t, NULL, NULL, NULL, &runs, n, err))
        return -1;
    *out = runs;
    return 0;
}

static int read_layer(const PGresult *r, int i, void *elem, const void *ctx)
{
    pw_layer_info *l = elem;
    int oom = 0;
    (void)ctx;
    l->name = dup_text_nn(r, i, 0, &oom);
    l->depth = (int)g_int(r, i, 1);
    l->dtype = dup_text_nn(r, i, 2, &oom);
    l->shape = dup_text_nn(r, i, 3, &oom);
    l->rows = g_int(r, i, 4);
    l->cols = g_int(r, i, 5);
    l->stable_step = g_step(r, i, 6);
    l->last_status = dup_text(r, i, 7, &oom);
    l->last_step = g_step(r, i, 8);
    l->last_distance = g_real(r, i, 9);
    l->measured = g_bool(r, i, 10);
    l->prev_status = dup_text(r, i, 11, &oom);
    return oom;
}

static void layers_free(void *arr, size_t n)
{
    pw_query_layers_free(arr, n);
}

static const row_type layer_rows_t = {"layers", sizeof(pw_layer_info), read_layer, layers_free};

static int q_layers(void *impl, const pw_run_info *run, pw_layer_info **out, size_t *n, pw_err *err)
{
    /* The newest score of each layer; at equal steps the previous-checkpoint one. */
    static const char sql[] =
        "SELECT l.name, l.depth, l.dtype, l.shape, l.rows, l.cols, l.stable_step,"
        " s.status, s.step, s.distance, " MEASURED ","
        " (SELECT p.status FROM scores p WHERE p.run_id = l.run_id AND p.layer = l.name"
        "  AND p.ref = 'previous' ORDER BY p.step DESC LIMIT 1)"
        " FROM layers l LEFT JOIN scores s ON (s.run_id, s.layer, s.step, s.ref) ="
        "  (SELECT x.run_id, x.layer, x.step, x.ref FROM scores x"
        "   WHERE x.run_id = l.run_id AND x.layer = l.name"
        "   ORDER BY x.step DESC, x.ref = 'previous' DESC LIMIT 1)"
        " WHERE l.run_id = $1 ORDER BY l.depth, l.name COLLATE \"C\"";
    pgp a = {0};
    p_int(&a, run->id);
    void *ls = NULL;
    if (read_rows(impl, sql, &a, &layer_rows_t, NULL, NULL, NULL, &ls, n, err))
        return -1;
    *out = ls;
    return 0;
}

static int read_curve_row(const PGresult *r, int i, void *elem, const void *ctx)
{
    pw_curve_row *c = elem;
    const pw_run_info *run = ctx;
    int oom = 0;
    c->run = run->name;
    c->layer = dup_text_nn(r, i, 0, &oom);
    c->depth = g_null(r, i, 1) ? -1 : (int)g_int(r, i, 1);
    c->step = g_int(r, i, 2);
    snprintf(c->ref, sizeof c->ref, "%s", PQgetvalue(r, i, 3));
    c->ref_step = g_int(r, i, 4);
    c->n = g_opt_int(r, i, 5);
    c->p_kept = g_opt_int(r, i, 6);
    c->q_kept = g_opt_int(r, i, 7);
    int col = 8;
#define PG_METRIC_READ(sym, id, bitno, sel, tpos, label, doc) c->id = g_real(r, i, col++);
    PW_METRIC_LIST(PG_METRIC_READ)
#undef PG_METRIC_READ
    c->status = dup_text_nn(r, i, col++, &oom);
    c->message = dup_text(r, i, col++, &oom);
    const char *reduce = g_text(r, i, col++);
    snprintf(c->reduce, sizeof c->reduce, "%s", reduce ? reduce : "none");
    c->k_x = g_opt_int(r, i, col++);
    c->k_y = g_opt_int(r, i, col++);
    for (unsigned m = 0; m < PW_METRIC_COUNT; m++)
        c->se[m] = NAN;
#define PG_NOISE_READ(sym, id, since) c->se[PW_METRIC_##sym] = g_real(r, i, col++);
    PW_NOISE_SE_COLUMNS(PG_NOISE_READ)
#undef PG_NOISE_READ
    c->noise_blocks = g_opt_int(r, i, col);
    return oom;
}

static void curve_free(void *arr, size_t n)
{
    pw_query_curve_free(arr, n);
}

static const row_type curve_rows_t = {"scores", sizeof(pw_curve_row), read_curve_row, curve_free};

static int q_curve(void *impl, const pw_run_info *run, const char *ref, const char *filter,
                   pw_query_progress_fn progress, void *ctx, pw_curve_row **out, size_t *n,
                   pw_err *err)
{
    char cols[1024] = "";
    size_t used = 0;
    for (unsigned i = 0; i < PW_METRIC_COUNT; i++)
        used += (size_t)snprintf(cols + used, sizeof cols - used, " s.%s,", pw_metric_name(i));
    assert(used < sizeof cols);
#define SE_COL(sym, id, since) ", s." #id "_se"
    static const char se_cols[] = PW_NOISE_SE_COLUMNS(SE_COL) ", s.noise_blocks";
#undef SE_COL
    char sql[2048];
    int w = snprintf(sql, sizeof sql,
                     "SELECT s.layer, l.depth, s.step, s.ref, s.ref_step, s.n, s.p_kept, "
                     "s.q_kept,%s s.status, s.message, s.reduce, s.k_x, s.k_y%s"
                     " FROM scores s LEFT JOIN layers l ON l.run_id = s.run_id AND l.name = s.layer"
                     " WHERE s.run_id = $1 AND s.ref = $2"
                     "  AND ($3 IS NULL OR s.layer IN (SELECT json_array_elements_text($3)))"
                     " ORDER BY l.depth IS NULL, l.depth, s.layer COLLATE \"C\", s.step",
                     cols, se_cols);
    assert(w > 0 && (size_t)w < sizeof sql);
    (void)w;
    pgp a = {0};
    p_int(&a, run->id);
    p_text(&a, ref);
    p_text(&a, filter);
    a.t[2] = OID_JSON;
    void *rows = NULL;
    if (read_rows(impl, sql, &a, &curve_rows_t, run, progress, ctx, &rows, n, err))
        return -1;
    *out = rows;
    return 0;
}

static int read_alert(const PGresult *r, int i, void *elem, const void *ctx)
{
    pw_alert *a = elem;
    int oom = 0;
    (void)ctx;
    a->id = g_int(r, i, 0);
    a->run = dup_text_nn(r, i, 1, &oom);
    a->kind = dup_text_nn(r, i, 2, &oom);
    a->layer = dup_text_nn(r, i, 3, &oom);
    a->step = g_int(r, i, 4);
    a->value = g_real(r, i, 5);
    a->detail = dup_text(r, i, 6, &oom);
    a->created_at = g_real(r, i, 7);
    return oom;
}

static void alerts_free(void *arr, size_t n)
{
    pw_query_alerts_free(arr, n);
}

static const row_type alert_rows_t = {"alerts", sizeof(pw_alert), read_alert, alerts_free};

static int q_alerts(void *impl, const pw_run_info *run, int64_t after_id, pw_alert **out, size_t *n,
                    pw_err *err)
{
    static const char sql[] =
        "SELECT a.id, r.name, a.kind, a.layer, a.step, a.value, a.detail, a.created_at"
        " FROM alerts a JOIN runs r ON r.id = a.run_id"
        " WHERE a.id > $1 AND ($2 IS NULL OR a.run_id = $2) ORDER BY a.id";
    pgp a = {0};
    p_int(&a, after_id);
    if (run)
        p_int(&a, run->id);
    else
        p_null(&a, OID_INT8);
    void *as = NULL;
    if (read_rows(impl, sql, &a, &alert_rows_t, NULL, NULL, NULL, &as, n, err))
        return -1;
    *out = as;
    return 0;
}

static int q_runs_stamp(void *impl, pw_runs_stamp *out, pw_err *err)
{
    pg *p = impl;
    memset(out, 0, sizeof *out);
    PGresult *r =
        read_all(p, "SELECT COUNT(*), COALESCE(MAX(id), 0), COALESCE(SUM(id), 0) FROM runs", NULL,
                 "cannot count the runs", err);
    if (!r)
        return pw_err_prefix(err, "%s", p->name);
    out->count = g_int(r, 0, 0);
    out->max_id = g_int(r, 0, 1);
    out->sum_id = g_int(r, 0, 2);
    PQclear(r);
    return 0;
}

static int read_ckpt(const PGresult *r, int i, void *elem, const void *ctx)
{
    pw_ckpt_info *c = elem;
    int oom = 0;
    (void)ctx;
    c->step = g_int(r, i, 0);
    c->path = dup_text_nn(r, i, 1, &oom);
    c->present = (int)g_int(r, i, 2);
    c->status = dup_text_nn(r, i, 3, &oom);
    c->probe = dup_text(r, i, 4, &oom);
    return oom;
}

static void ckpts_free(void *arr, size_t n)
{
    pw_query_checkpoints_free(arr, n);
}

static const row_type ckpt_rows_t = {"checkpoints", sizeof(pw_ckpt_info), read_ckpt, ckpts_free};

static int q_checkpoint(void *impl, const pw_run_info *run, int64_t step, pw_ckpt_info *out,
                        pw_err *err)
{
    pgp a = {0};
    p_int(&a, run->id);
    p_int(&a, step);
    pw_ckpt_info *list = NULL;
    size_t n = 0;
    if (read_rows(impl,
                  "SELECT step, path, present, status, probe_fingerprint FROM checkpoints "
                  "WHERE run_id = $1 AND step = $2",
                  &a, &ckpt_rows_t, NULL, NULL, NULL, (void **)&list, &n, err))
        return -1;
    if (n == 0) {
        free(list);
        return 1;
    }
    *out = list[0];
    free(list);
    return 0;
}

static int q_checkpoints(void *impl, const pw_run_info *run, pw_ckpt_info **out, size_t *n,
                         pw_err *err)
{
    pgp a = {0};
    p_int(&a, run->id);
    void *rows = NULL;
    if (read_rows(impl,
                  "SELECT step, path, present, status, probe_fingerprint FROM checkpoints "
                  "WHERE run_id = $1 ORDER BY step",
                  &a, &ckpt_rows_t, NULL, NULL, NULL, &rows, n, err))
        return -1;
    *out = rows;
    return 0;
}

static int read_chance(const PGresult *r, int i, void *elem, const void *ctx)
{
    pw_chance_info *c = elem;
    int oom = 0;
    (void)ctx;
    c->layer = dup_text_nn(r, i, 0, &oom);
    c->depth = g_null(r, i, 1) ? -1 : (int)g_int(r, i, 1);
    c->step_a = g_int(r, i, 2);
    c->step_b = g_int(r, i, 3);
    c->seed = g_int(r, i, 4);
    c->status = dup_text_nn(r, i, 5, &oom);
    c->message = dup_text(r, i, 6, &oom);
#define PG_CHANCE_NAN(sym, id, bitno, sel, tpos, label, doc) c->id = NAN;
    PW_METRIC_LIST(PG_CHANCE_NAN)
#undef PG_CHANCE_NAN
    int col = 7;
#define PG_CHANCE_GET(sym, id) c->id = g_real(r, i, col++);
    PW_CHANCE_COLUMNS(PG_CHANCE_GET)
#undef PG_CHANCE_GET
    return oom;
}

static void chance_free(void *arr, size_t n)
{
    pw_query_chance_free(arr, n);
}

static const row_type chance_rows_t = {"chance levels", sizeof(pw_chance_info), read_chance,
                                       chance_free};

static int q_chance(void *impl, const pw_run_info *run, pw_chance_info **out, size_t *n,
                    pw_err *err)
{
    pg *p = impl;
    if (p->version < PW_CHANCE_SCHEMA_VERSION) /* written by a daemon before 007_chance.sql */
        return 0;
#define CHANCE_COL(sym, id) ", c." #id
    static const char sql[] =
        "SELECT c.layer, l.depth, c.step_a, c.step_b, c.seed, c.status, "
        "c.message" PW_CHANCE_COLUMNS(
            CHANCE_COL) " FROM chance c LEFT JOIN layers l ON l.run_id = c.run_id AND l.name = "
                        "c.layer WHERE c.run_id = $1 ORDER BY l.depth IS NULL, l.depth, c.layer "
                        "COLLATE \"C\"";
#undef CHANCE_COL
    pgp a = {0};
    p_int(&a, run->id);
    void *rows = NULL;
    if (read_rows(p, sql, &a, &chance_rows_t, NULL, NULL, NULL, &rows, n, err))
        return -1;
    *out = rows;
    return 0;
}

#define PG_GROUPS_VERSION 6 /* schema version that added group_scores */

static int read_cross(const PGresult *r, int i, void *elem, const void *ctx)
{
    pw_cross_row *x = elem;
    int oom = 0, c = 0;
    (void)ctx;
    x->run_a = dup_text_nn(r, i, c++, &oom);
    x->run_b = dup_text_nn(r, i, c++, &oom);
    x->id_a = g_int(r, i, c++);
    x->id_b = g_int(r, i, c++);
    x->layer_a = dup_text_nn(r, i, c++, &oom);
    x->layer_b = dup_text_nn(r, i, c++, &oom);
    x->depth = g_null(r, i, c) ? -1 : (int)g_int(r, i, c);
    c++;
    x->step_a = g_int(r, i, c++);
    x->step_b = g_int(r, i, c++);
    x->final = g_bool(r, i, c++);
    x->n = g_opt_int(r, i, c++);
    x->p_kept = g_opt_int(r, i, c++);
    x->q_kept = g_opt_int(r, i, c++);
#define PG_CROSS_READ(sym, id, bitno, sel, tpos, label, doc) x->id = g_real(r, i, c++);
    PW_METRIC_LIST(PG_CROSS_READ)
#undef PG_CROSS_READ
    x->status = dup_text_nn(r, i, c++, &oom);
    x->message = dup_text(r, i, c++, &oom);
    return oom;
}

static void cross_free(void *arr, size_t n)
{
    pw_query_cross_free(arr, n);
}

static const row_type cross_rows_t = {"cross-run scores", sizeof(pw_cross_row), read_cross,
                                      cross_free};

static int q_cross(void *impl, const char *group, pw_cross_row **out, size_t *n, pw_err *err)
{
    pg *p = impl;
    if (p->version < PG_GROUPS_VERSION)
        return 0;
    char cols[1024] = "";
    size_t used = 0;
    for (unsigned i = 0; i < PW_METRIC_COUNT; i++)
        used += (size_t)snprintf(cols + used, sizeof cols - used, " g.%s,", pw_metric_name(i));
    assert(used < sizeof cols);
    /* SQLite's order: a NULL depth (a layer not in run A's table) first. */
    char sql[2048];
    int w = snprintf(
        sql, sizeof sql,
        "SELECT ra.name, rb.name, g.run_a, g.run_b, g.layer_a, g.layer_b, l.depth, g.step_a, "
        "g.step_b, (ra.final_step IS NOT NULL AND g.step_a = ra.final_step AND "
        "rb.final_step IS NOT NULL AND g.step_b = rb.final_step), g.n, g.p_kept, g.q_kept,%s "
        "g.status, g.message FROM group_scores g JOIN runs ra ON ra.id = g.run_a JOIN runs rb "
        "ON rb.id = g.run_b LEFT JOIN layers l ON l.run_id = g.run_a AND l.name = g.layer_a "
        "WHERE g.group_name = $1 ORDER BY g.run_a, g.run_b, l.depth NULLS FIRST, "
        "g.layer_a COLLATE \"C\", g.step_a, g.step_b",
        cols);
    assert(w > 0 && (size_t)w < sizeof sql);
    (void)w;
    pgp a = {0};
    p_text(&a, group);
    void *rows = NULL;
    if (read_rows(p, sql, &a, &cross_rows_t, NULL, NULL, NULL, &rows, n, err))
        return -1;
    *out = rows;
    return 0;
}

#define PG_SHARE_VERSION 9 /* schema version that added daemons and claims */

static int read_daemon(const PGresult *r, int i, void *elem, const void *ctx)
{
    pw_daemon_info *d = elem;
    int oom = 0;
    (void)ctx;
    d->id = g_int(r, i, 0);
    d->host = dup_text_nn(r, i, 1, &oom);
    d->pid = g_int(r, i, 2);
    d->started_at = g_real(r, i, 3);
    d->heartbeat_at = g_real(r, i, 4);
    d->lease_s = g_real(r, i, 5);
    d->job = dup_text(r, i, 6, &oom);
    d->stopped_at = g_real(r, i, 7);
    return oom;
}

static void daemons_free(void *arr, size_t n)
{
    pw_query_daemons_free(arr, n);
}

static const row_type daemon_rows_t = {"daemons", sizeof(pw_daemon_info), read_daemon,
                                       daemons_free};

/* The claims of list's daemons (sorted by id) from r (daemon_id, unit; by daemon_id, unit):
 * each daemon's run of rows becomes its units.  A claim whose daemon is not in the list
 * (registered between the two reads) is left out.  0, or -1 when out of memory. */
static int attach_units(pw_daemon_info *list, size_t n, const PGresult *r)
{
    int rows = PQntuples(r), i = 0;
    assert(list || n == 0);
    for (size_t k = 0; k < n; k++) {
        while (i < rows && g_int(r, i, 0) < list[k].id)
            i++;
        int first = i;
        while (i < rows && g_int(r, i, 0) == list[k].id)
            i++;
        if (i == first)
            continue;
        if (!(list[k].units = calloc((size_t)(i - first), sizeof *list[k].units)))
            return -1;
        for (int j = first; j < i; j++) {
            int oom = 0;
            list[k].units[list[k].nunits] = dup_text_nn(r, j, 1, &oom);
            if (oom)
                return -1;
            list[k].nunits++;
        }
    }
    return 0;
}

static int q_daemons(void *impl, pw_daemon_info **out, size_t *n, double *now, pw_err *err)
{
    pg *p = impl;
    PGresult *r = read_all(p, "SELECT extract(epoch FROM clock_timestamp())::float8", NULL,
                           "reading the database's clock", err);
    if (!r)
        return pw_err_prefix(err, "%s", p->name);
    *now = g_real(r, 0, 0);
    PQclear(r);
    if (p->version < PG_SHARE_VERSION)
        return 0;
    void *rows = NULL;
    if (read_rows(p,
                  "SELECT id, host, pid, started_at, heartbeat_at, lease_s, job, stopped_at "
                  "FROM daemons ORDER BY id",
                  NULL, &daemon_rows_t, NULL, NULL, NULL, &rows, n, err))
        return -1;
    pw_daemon_info *list = rows;
    r = read_all(p, "SELECT daemon_id, unit FROM claims ORDER BY daemon_id, unit COLLATE \"C\"",
                 NULL, "reading claims", err);
    if (!r) {
        pw_query_daemons_free(list, *n);
        *n = 0;
        return pw_err_prefix(err, "%s", p->name);
    }
    int oom = attach_units(list, *n, r);
    PQclear(r);
    if (oom) {
        pw_query_daemons_free(list, *n);
        *n = 0;
        return pw_err_set(err, "out of memory reading claims");
    }
    *out = list;
    return 0;
}

static const pw_query_ops query_ops = {
    .close = q_close,
    .select_runs = q_select_runs,
    .layers = q_layers,
    .curve = q_curve,
    .alerts = q_alerts,
    .runs_stamp = q_runs_stamp,
    .checkpoint = q_checkpoint,
    .checkpoints = q_checkpoints,
    .chance = q_chance,
    .cross = q_cross,
    .daemons = q_daemons,
};

int pw_pg_query_open(const char *url, void **impl, const pw_query_ops **ops, pw_err *err)
{
    pg *p = calloc(1, sizeof *p);
    if (!p)
        return pw_err_set(err, "out of memory opening %s", url);
    /* A query waits out a lock as the client's SQLite reads do; two retries
     * ride out a short server restart. */
    if (pg_connect(p, url, PW_DB_BUSY_MS, 2, 1, err)) {
        pg_free(p);
        return -1;
    }
    int version = read_version(p, err);
    int known = pw_schema_nmigrations ? pw_schema_migrations[pw_schema_nmigrations - 1].version : 0;
    if (version == -2) {
        pw_err_prefix(err, "%s", p->name);
    } else if (version <= 0) {
        pw_err_set(err,
                   "%s is not a pwccad database (it has no pwccad_schema table%s: pwccad has "
                   "not written there yet)",
                   p->name, version == 0 ? " row" : "");
    } else if (version > known) {
        pw_err_set(err,
                   "%s has schema version %d but this pwcca reads versions 1 to %d: "
                   "upgrade pwcca",
                   p->name, version, known);
    } else {
        p->version = version;
        *impl = p;
        *ops = &query_ops;
        return 0;
    }
    pg_free(p);
    return -1;
}
