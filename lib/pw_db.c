/* pw_db.c -- SQLite storage for pwccad (see pw_db.h and docs/SCHEMA.md). */
#include "pw_db.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "pw_chance.h"
#include "pw_paths.h"
#include "pw_schema.h"
#include "pw_store_impl.h"

struct pw_db {
    const pw_db_ops *ops; /* another backend's operations (pw_store_impl.h); NULL: SQLite */
    void *impl;           /* that backend's handle */
    sqlite3 *h;           /* the connection, owned by one thread */
    int retries;          /* extra attempts for a failed write */
};

/* A handle of another backend goes there (pw_store_impl.h): op is the
 * function's name without its pw_db_ prefix. */
#define DISPATCH(db, op, ...)                                                                      \
    do {                                                                                           \
        if ((db)->ops)                                                                             \
            return (db)->ops->op((db)->impl, __VA_ARGS__);                                         \
    } while (0)

const char *pw_ref_name(pw_ref r)
{
    return r == PW_REF_FINAL ? "final" : "previous";
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int db_fail(pw_db *db, pw_err *err, const char *what)
{
    return pw_err_set(err, "database: %s: %s", what, sqlite3_errmsg(db->h));
}

/* Failures worth waiting out: someone else holds the lock, or the disk is
 * full or failing for now. */
static int transient(int rc)
{
    int prim = rc & 0xff;
    return prim == SQLITE_BUSY || prim == SQLITE_LOCKED || prim == SQLITE_FULL ||
           prim == SQLITE_IOERR;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int exec(pw_db *db, const char *sql, pw_err *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db->h, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        pw_err_set(err, "database: %s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
    }
    return rc;
}

static int user_version(pw_db *db)
{
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

int pw_db_schema_version(pw_db *db)
{
    if (db->ops)
        return db->ops->schema_version(db->impl);
    return user_version(db);
}

static int migrate(pw_db *db, const char *path, pw_err *err)
{
    for (unsigned i = 0; i < pw_schema_nmigrations; i++) {
        const pw_schema_migration *m = &pw_schema_migrations[i];
        /* BEGIN IMMEDIATE so two daemons opening at once do not both migrate. */
        if (exec(db, "BEGIN IMMEDIATE", err) != SQLITE_OK)
            return pw_err_prefix(err, "%s: migration %s", path, m->name);
        int have = user_version(db);
        if (have < m->version) {
            char pragma[64];
            snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", m->version);
            if (exec(db, m->sql, err) != SQLITE_OK || exec(db, pragma, err) != SQLITE_OK) {
                exec(db, "ROLLBACK", NULL);
                return pw_err_prefix(err, "%s: migration %s", path, m->name);
            }
        }
        if (exec(db, "COMMIT", err) != SQLITE_OK) {
            exec(db, "ROLLBACK", NULL);
            return pw_err_prefix(err, "%s: migration %s", path, m->name);
        }
    }
    int v = user_version(db);
    int newest =
        pw_schema_nmigrations ? pw_schema_migrations[pw_schema_nmigrations - 1].version : 0;
    if (v > newest) {
        pw_err_set(err,
                   "database %s has schema version %d, newer than this pwccad's %d: upgrade "
                   "pwccad or use another --db",
                   path, v, newest);
        return PW_DB_TOO_NEW;
    }
    return 0;
}

/* A database SQLite could only open for reading (the file's mode, a
 * read-only mount) would otherwise fail every write later, one rescan at a
 * time, while the daemon looks healthy: say so at open.  The probe rewrites
 * user_version with its own value, which also proves the WAL writable. */
static int check_writable(pw_db *db, const char *path, pw_err *err)
{
    if (sqlite3_db_readonly(db->h, "main") == 1)
        return pw_err_set(err, "database %s is read-only: %s", path,
                          sqlite3_errstr(SQLITE_READONLY));
    char probe[64];
    snprintf(probe, sizeof probe, "PRAGMA user_version = %d", user_version(db));
    if (exec(db, "BEGIN IMMEDIATE", err) != SQLITE_OK || exec(db, probe, err) != SQLITE_OK ||
        exec(db, "COMMIT", err) != SQLITE_OK) {
        if (!sqlite3_get_autocommit(db->h))
            exec(db, "ROLLBACK", NULL);
        return pw_err_prefix(err, "database %s is not writable", path);
    }
    return 0;
}

int pw_db_open(pw_db **out, const char *path, int busy_ms, int retries, pw_err *err)
{
    *out = NULL;
    if (pw_paths_is_pg(path)) {
        pw_db *db = calloc(1, sizeof *db);
        if (!db)
            return pw_err_set(err, "%s: out of memory", path);
        int rc = pw_pg_db_open(path, busy_ms, retries, &db->impl, &db->ops, err);
        if (rc != 0) {
            free(db);
            return rc;
        }
        *out = db;
        return 0;
    }
    if (pw_paths_make_parent(path, 0750, err))
        return -1;
    pw_db *db = calloc(1, sizeof *db);
    if (!db)
        return pw_err_set(err, "%s: out of memory", path);
    db->retries = retries;
    int rc = sqlite3_open_v2(
        path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        pw_err_set(err, "%s: cannot open database: %s", path,
                   db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
        pw_db_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db->h, busy_ms);
    if (exec(db, "PRAGMA journal_mode = WAL", err) != SQLITE_OK ||
        exec(db, "PRAGMA synchronous = NORMAL", err) != SQLITE_OK ||
        exec(db, "PRAGMA foreign_keys = ON", err) != SQLITE_OK) {
        pw_err_prefix(err, "%s", path);
        pw_db_close(db);
        return -1;
    }
    /* Their messages name the path. */
    if (check_writable(db, path, err)) {
        pw_db_close(db);
        return -1;
    }
    int mrc = migrate(db, path, err);
    if (mrc != 0) {
        pw_db_close(db);
        return mrc;
    }
    *out = db;
    return 0;
}

int pw_db_moved(pw_db *db)
{
    int moved = 0;
    if (db->ops) /* a server's database is not a file that can be replaced */
        return 0;
    if (sqlite3_file_control(db->h, "main", SQLITE_FCNTL_HAS_MOVED, &moved) != SQLITE_OK)
        return 0;
    return moved != 0;
}

int pw_db_lock(const char *path, int *fd, pw_err *err)
{
    char lock[PW_DB_MAX_PATH + 8];
    *fd = -1;
    /* A server's database is shared by as many daemons as watch its runs: they
     * split the work through claims (pw_db_claim), not a lock. */
    if (pw_paths_is_pg(path))
        return 0;
    if (snprintf(lock, sizeof lock, "%s.lock", path) >= (int)sizeof lock)
        return pw_err_set(err, "%s: path too long for its lock file", path);
    if (pw_paths_make_parent(path, 0750, err))
        return -1;
    /* Read-only will do when another user made the file (root, once): flock
     * needs no write access, only the pid goes unrecorded. */
    int flags = O_CLOEXEC | O_NOFOLLOW | O_NOCTTY;
    int f = open(lock, O_RDWR | O_CREAT | flags, 0644);
    if (f < 0 && errno == EACCES)
        f = open(lock, O_RDONLY | flags);
    if (f < 0)
        return pw_err_set(err, "%s: cannot open the lock file %s: %s", path, lock, strerror(errno));
    /* flock, not fcntl: it belongs to this open file description, so it is
     * neither dropped when SQLite closes another descriptor of some file nor
     * shared with a process that inherits nothing (the fd is close-on-exec). */
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char held[32] = "";
        ssize_t n = e == EWOULDBLOCK ? pread(f, held, sizeof held - 1, 0) : -1;
        close(f);
        if (e != EWOULDBLOCK)
            return pw_err_set(err, "%s: cannot lock %s: %s", path, lock, strerror(e));
        held[n > 0 ? n : 0] = '\0';
        long pid = strtol(held, NULL, 10);
        /* A pid left by an earlier holder that could not be overwritten is not named. */
        if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM))
            return pw_err_set(err,
                              "database %s is in use by another pwccad (pid %ld, see %s); "
                              "one daemon per database",
                              path, pid, lock);
        return pw_err_set(err,
                          "database %s is in use by another pwccad (see %s); one daemon "
                          "per database",
                          path, lock);
    }
    /* The holder's pid, for the message above.  Not fatal when it cannot be
     * written: the lock is held all the same, a second daemon only names no pid. */
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    int wrote = ftruncate(f, 0) == 0 && pwrite(f, pid, (size_t)n, 0) == n;
    (void)wrote;
    *fd = f;
    return 0;
}

void pw_db_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}

void pw_db_close(pw_db *db)
{
    if (!db)
        return;
    if (db->ops)
        db->ops->close(db->impl);
    sqlite3_close(db->h);
    free(db);
}

/* Prepare, or fail with the statement named. */
static sqlite3_stmt *prep(pw_db *db, const char *sql, pw_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK) {
        db_fail(db, err, "prepare");
        return NULL;
    }
    return st;
}

/* Step a statement that returns no rows; the rc for the retry logic. */
static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void bind_opt_int(sqlite3_stmt *st, int i, int64_t v)
{
    if (v < 0)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_int64(st, i, v);
}

static void bind_opt_double(sqlite3_stmt *st, int i, double v)
{
    if (isfinite(v))
        sqlite3_bind_double(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

/* A write made of one function body, run in a transaction and retried. */
typedef int (*write_fn)(pw_db *db, void *ctx, pw_err *err); /* returns a SQLite rc */

static int with_retry(pw_db *db, write_fn fn, void *ctx, const char *what, pw_err *err)
{
    long backoff = 50;
    for (int attempt = 0;; attempt++) {
        /* The attempt's own message, empty at first: a failure without one
         * gets SQLite's, and the caller's err is written only on failure --
         * its old text (or an uninitialized pw_err) must neither be taken for
         * the cause and prefixed again on every call, nor be wiped by a
         * success (a job keeps its read error there while it stores it). */
        pw_err e = {""};
        int rc = exec(db, "BEGIN IMMEDIATE", &e);
        if (rc == SQLITE_OK) {
            rc = fn(db, ctx, &e);
            if (rc == SQLITE_OK)
                rc = exec(db, "COMMIT", &e);
            if (rc != SQLITE_OK) {
                if (!e.msg[0])
                    db_fail(db, &e, what);
                if (!sqlite3_get_autocommit(db->h))
                    exec(db, "ROLLBACK", NULL);
            }
        }
        if (rc == SQLITE_OK)
            return 0;
        if (!transient(rc) || attempt >= db->retries) {
            if (err)
                *err = e;
            return pw_err_prefix(err, "%s (after %d attempt%s)", what, attempt + 1,
                                 attempt ? "s" : "");
        }
        sleep_ms(backoff);
        if (backoff < 2000)
            backoff *= 2;
    }
}

/* Plain writes: statements with bound values, run in one transaction and
 * retried.  A write that must read or loop (forget, commit) keeps its own
 * write_fn for with_retry. */

/* How one value binds. */
typedef enum arg_kind {
    ARG_INT,      /* i */
    ARG_OPT_INT,  /* i, NULL when negative */
    ARG_TEXT,     /* s, NULL when NULL */
    ARG_OPT_REAL, /* d, NULL when not finite */
    ARG_NOW       /* the time of the attempt, in Unix seconds */
} arg_kind;

typedef struct db_arg {
    arg_kind kind; /* which of the fields below binds */
    int64_t i;     /* ARG_INT, ARG_OPT_INT */
    const char *s; /* ARG_TEXT */
    double d;      /* ARG_OPT_REAL */
} db_arg;

#define A_INT(v)      ((db_arg){.kind = ARG_INT, .i = (v)})
#define A_OPT_INT(v)  ((db_arg){.kind = ARG_OPT_INT, .i = (v)})
#define A_TEXT(v)     ((db_arg){.kind = ARG_TEXT, .s = (v)})
#define A_OPT_REAL(v) ((db_arg){.kind = ARG_OPT_REAL, .d = (v)})
#define A_NOW         ((db_arg){.kind = ARG_NOW})

/* A statement and its values, one per ?, in order. */
typedef struct db_stmt {
    const char *sql;    /* one statement */
    const db_arg *args; /* its values */
    size_t nargs;       /* how many */
} db_stmt;

/* A db_stmt of sql and an array of db_arg. */
#define STMT(sql, args) ((db_stmt){(sql), (args), sizeof(args) / sizeof *(args)})

typedef struct stmts_ctx {
    const db_stmt *stmts; /* in order */
    size_t n;             /* how many */
    int64_t changes;      /* out: rows the last statement changed */
} stmts_ctx;

static void bind_arg(sqlite3_stmt *st, int i, const db_arg *a)
{
    switch (a->kind) {
    case ARG_INT:
        sqlite3_bind_int64(st, i, a->i);
        break;
    case ARG_OPT_INT:
        bind_opt_int(st, i, a->i);
        break;
    case ARG_TEXT:
        if (a->s)
            sqlite3_bind_text(st, i, a->s, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, i);
        break;
    case ARG_OPT_REAL:
        bind_opt_double(st, i, a->d);
        break;
    case ARG_NOW:
        sqlite3_bind_double(st, i, now_s());
        break;
    }
}

static int stmts_fn(pw_db *db, void *ctx, pw_err *err)
{
    stmts_ctx *c = ctx;
    int rc = SQLITE_OK;
    for (size_t k = 0; k < c->n && rc == SQLITE_OK; k++) {
        const db_stmt *d = &c->stmts[k];
        sqlite3_stmt *st = prep(db, d->sql, err);
        if (!st)
            return SQLITE_ERROR;
        for (size_t i = 0; i < d->nargs; i++)
            bind_arg(st, (int)i + 1, &d->args[i]);
        rc = step_done(st);
        c->changes = rc == SQLITE_OK ? sqlite3_changes(db->h) : 0;
        sqlite3_finalize(st);
    }
    return rc;
}

/* Run n statements as one write ("what" names it in the error); changes (may
 * be NULL) gets the rows the last one changed, 0 on failure. */
static int write_stmts(pw_db *db, const char *what, const db_stmt *stmts, size_t n,
                       int64_t *changes, pw_err *err)
{
    stmts_ctx c = {stmts, n, 0};
    int rc = with_retry(db, stmts_fn, &c, what, err);
    if (changes)
        *changes = rc == 0 ? c.changes : 0;
    return rc;
}

/* Runs ------------------------------------------------------------------------------- */

/* A runs row's columns id, final_step, final_source, converged_step, path (in this
 * order, from the statement's first column) into *run. */
static void run_columns(sqlite3_stmt *st, pw_db_run *run)
{
    run->id = sqlite3_column_int64(st, 0);
    run->final_step = sqlite3_column_type(st, 1) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 1);
    const unsigned char *src = sqlite3_column_text(st, 2);
    snprintf(run->final_source, sizeof run->final_source, "%s", src ? (const char *)src : "");
    run->converged_step =
        sqlite3_column_type(st, 3) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 3);
    const unsigned char *path = sqlite3_column_text(st, 4);
    snprintf(run->path, sizeof run->path, "%s", path ? (const char *)path : "");
}

/* The run stored at path; *rooted gets 1 when its root is set (not NULL). */
static int read_run(pw_db *db, const char *path, pw_db_run *run, int *rooted, pw_err *err)
{
    sqlite3_stmt *st = prep(db,
                            "SELECT id, final_step, final_source, converged_step, path, "
                            "root IS NOT NULL FROM runs WHERE path = ?",
                            err);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        run_columns(st, run);
        *rooted = sqlite3_column_int(st, 5);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return db_fail(db, err, "reading runs");
}

int pw_db_run_upsert_root(pw_db *db, const char *root, const char *rel, const char *path,
                          const char *name, pw_db_run *run, pw_err *err)
{
    DISPATCH(db, run_upsert, root, rel, path, name, run, err);
    int rooted = 0;
    int found = read_run(db, path, run, &rooted, err);
    if (found < 0)
        return -1;
    if (found && rooted)
        return 0;
    /* One machine: the path is the identity.  (root, rel) is unique too, and a
     * pair another path already holds (a root renamed onto another one's
     * name) stays with that run: this one keeps root NULL, as before schema 9. */
    const db_arg adopt[] = {A_TEXT(root), A_TEXT(rel), A_INT(run->id)};
    const db_arg ins[] = {A_TEXT(name), A_TEXT(path), A_NOW, A_TEXT(root), A_TEXT(rel)};
    const db_arg bare[] = {A_TEXT(name), A_TEXT(path), A_NOW};
    const db_stmt add[] = {
        STMT("INSERT OR IGNORE INTO runs (name, path, created_at, root, rel) VALUES (?, ?, ?, ?, "
             "?)",
             ins),
        STMT("INSERT OR IGNORE INTO runs (name, path, created_at) VALUES (?, ?, ?)", bare)};
    const db_stmt set = STMT("UPDATE OR IGNORE runs SET root = ?, rel = ? WHERE id = ?", adopt);
    if (found)
        return write_stmts(db, "naming the run's root", &set, 1, NULL, err);
    if (write_stmts(db, "adding run", add, 2, NULL, err))
        return -1;
    found = read_run(db, path, run, &rooted, err);
    if (found <= 0)
        return found < 0 ? -1 : pw_err_set(err, "database: run %s vanished after insert", path);
    return 0;
}

int pw_db_run_upsert(pw_db *db, const char *path, const char *name, pw_db_run *run, pw_err *err)
{
    return pw_db_run_upsert_root(db, "", path, path, name, run, err);
}

int pw_db_run_set_final(pw_db *db, int64_t run_id, int64_t step, const char *source, pw_err *err)
{
    DISPATCH(db, run_set_final, run_id, step, source, err);
    const db_arg set[] = {A_OPT_INT(step), A_TEXT(step >= 0 ? source : NULL), A_INT(run_id)};
    const db_arg drop[] = {A_INT(run_id), A_INT(step), A_INT(step)};
    const db_stmt stmts[] = {
        STMT("UPDATE runs SET final_step = ?, final_source = ? WHERE id = ?", set),
        STMT("DELETE FROM scores WHERE run_id = ? AND ref = 'final' AND (? < 0 OR step > ?)",
             drop)};
    return write_stmts(db, "setting the final checkpoint", stmts, 2, NULL, err);
}

int pw_db_run_set_converged(pw_db *db, int64_t run_id, int64_t step, pw_err *err)
{
    DISPATCH(db, run_set_converged, run_id, step, err);
    const db_arg args[] = {A_OPT_INT(step), A_INT(run_id)};
    const db_stmt st = STMT("UPDATE runs SET converged_step = ? WHERE id = ?", args);
    return write_stmts(db, "setting convergence", &st, 1, NULL, err);
}

int pw_db_run_set_absent(pw_db *db, int64_t run_id, int64_t *changed, pw_err *err)
{
    DISPATCH(db, run_set_absent, run_id, changed, err);
    const db_arg args[] = {A_INT(run_id)};
    const db_stmt st =
        STMT("UPDATE checkpoints SET present = 0 WHERE run_id = ? AND present != 0", args);
    return write_stmts(db, "marking a deleted run's checkpoints", &st, 1, changed, err);
}

typedef struct forget_ctx {
    int64_t run_id;      /* which run */
    pw_db_forgotten out; /* counted before the delete */
} forget_ctx;

static int forget_fn(pw_db *db, void *ctx, pw_err *err)
{
    forget_ctx *f = ctx;
    static const char *const counts[] = {"SELECT COUNT(*) FROM checkpoints WHERE run_id = ?",
                                         "SELECT COUNT(*) FROM scores WHERE run_id = ?",
                                         "SELECT COUNT(*) FROM alerts WHERE run_id = ?"};
    int64_t *dst[] = {&f->out.checkpoints, &f->out.scores, &f->out.alerts};
    for (size_t i = 0; i < 3; i++) {
        sqlite3_stmt *st = prep(db, counts[i], err);
        if (!st)
            return SQLITE_ERROR;
        sqlite3_bind_int64(st, 1, f->run_id);
        int rc = sqlite3_step(st);
        *dst[i] = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_finalize(st);
        if (rc != SQLITE_ROW)
            return rc;
    }
    /* The schema's ON DELETE CASCADE (foreign_keys is on) takes the rest. */
    sqlite3_stmt *st = prep(db, "DELETE FROM runs WHERE id = ?", err);
    if (!st)
        return SQLITE_ERROR;
    sqlite3_bind_int64(st, 1, f->run_id);
    int rc = step_done(st);
    sqlite3_finalize(st);
    return rc;
}

int pw_db_run_forget(pw_db *db, int64_t run_id, pw_db_forgotten *out, pw_err *err)
{
    DISPATCH(db, run_forget, run_id, out, err);
    forget_ctx f = {run_id, {0, 0, 0}};
    if (with_retry(db, forget_fn, &f, "forgetting a run", err))
        return -1;
    *out = f.out;
    return 0;
}

/* Reading rows ------------------------------------------------------------------------- */

/* Called for each row of a query; non-zero stops the reading. */
typedef int (*row_fn)(sqlite3_stmt *st, void *ctx);

/* Run sql (one ? for the run id) and hand every row to fn; "what" names the
 * reading in the error.  A callback that stops is not an error. */
static int each_row(pw_db *db, const char *sql, int64_t run_id, row_fn fn, void *ctx,
                    const char *what, pw_err *err)
{
    sqlite3_stmt *st = prep(db, sql, err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    int rc, stop = 0;
    while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW)
        stop = fn(st, ctx);
    sqlite3_finalize(st);
    if (!stop && rc != SQLITE_DONE)
        return db_fail(db, err, what);
    return 0;
}

/* A REAL column that may be NULL (NULL becomes NAN). */
static double column_real(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

/* The caller's callback and its context, as each reading's row adapter
 * below hands them on: one union rather than a struct per reading. */
typedef struct user_cb {
    union {
        pw_db_run_cb run;
        pw_db_ckpt_cb ckpt;
        pw_db_layer_cb layer;
        pw_db_done_cb done;
        pw_db_series_cb series;
        pw_db_series_se_cb series_se;
        pw_db_unmeasured_cb unmeasured;
        pw_db_latest_cb latest;
        pw_db_choice_cb choice;
    } fn;      /* the member the reading's adapter calls */
    void *ctx; /* its context */
} user_cb;

static int run_row(sqlite3_stmt *st, void *ctx)
{
    const user_cb *u = ctx;
    const unsigned char *p = sqlite3_column_text(st, 1);
    return u->fn.run(u->ctx, sqlite3_column_int64(st, 0), p ? (const char *)p : "");
}

int pw_db_runs_each(pw_db *db, pw_db_run_cb cb, void *ctx, pw_err *err)
{
    DISPATCH(db, runs_each, cb, ctx, err);
    user_cb u = {.fn.run = cb, .ctx = ctx};
    /* each_row binds a run id this query has no place for: that bind is a no-op. */
    return each_row(db, "SELECT id, path FROM runs ORDER BY id", 0, run_row, &u, "reading runs",
                    err);
}

/* Checkpoints ------------------------------------------------------------------------ */

typedef struct ckpt_rows {
    user_cb u;    /* the caller's */
    pw_db_ckpt c; /* one row, reused (large: it holds the path and the error) */
} ckpt_rows;

static int ckpt_row(sqlite3_stmt *st, void *ctx)
{
    ckpt_rows *cr = ctx;
    pw_db_ckpt *c = &cr->c;
    const unsigned char *p = sqlite3_column_text(st, 1);
    const unsigned char *s = sqlite3_column_text(st, 5);
    const unsigned char *e = sqlite3_column_text(st, 6);
    c->step = sqlite3_column_int64(st, 0);
    snprintf(c->path, sizeof c->path, "%s", p ? (const char *)p : "");
    c->size = sqlite3_column_int64(st, 2);
    c->mtime_ns = sqlite3_column_int64(st, 3);
    c->inode = sqlite3_column_int64(st, 4);
    if (!s || pw_status_parse((const char *)s, &c->status))
        c->status = PW_READ_ERROR;
    snprintf(c->error, sizeof c->error, "%s", e ? (const char *)e : "");
    c->present = sqlite3_column_int(st, 7);
    return cr->u.fn.ckpt(cr->u.ctx, c);
}

int pw_db_checkpoints(pw_db *db, int64_t run_id, pw_db_ckpt_cb cb, void *ctx, pw_err *err)
{
    DISPATCH(db, checkpoints, run_id, cb, ctx, err);
    ckpt_rows *cr = malloc(sizeof *cr);
    if (!cr)
        return pw_err_set(err, "database: out of memory");
    cr->u.fn.ckpt = cb;
    cr->u.ctx = ctx;
    int rc = each_row(db,
                      "SELECT step, path, size, mtime_ns, inode, status, error, present "
                      "FROM checkpoints WHERE run_id = ? ORDER BY step",
                      run_id, ckpt_row, cr, "reading checkpoints", err);
    free(cr);
    return rc;
}

int pw_db_checkpoint_set_present(pw_db *db, int64_t run_id, int64_t step, int present, pw_err *err)
{
    DISPATCH(db, checkpoint_set_present, run_id, step, present, err);
    const db_arg args[] = {A_INT(present), A_INT(run_id), A_INT(step)};
    const db_stmt st =
        STMT("UPDATE checkpoints SET present = ? WHERE run_id = ? AND step = ?", args);
    return write_stmts(db, "marking a checkpoint deleted", &st, 1, NULL, err);
}

/* Layers ----------------------------------------------------------------------------- */

void pw_db_layer_from_tensor(pw_db_layer *l, const pw_tensor *t, int depth)
{
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s", t->name);
    l->depth = depth;
    l->dtype = t->dtype;
    l->rows = t->rows;
    l->cols = t->cols;
    size_t off = 0;
    l->shape[off++] = '[';
    for (int i = 0; i < t->ndim && off < sizeof l->shape - 24; i++)
        off += (size_t)snprintf(l->shape + off, sizeof l->shape - off, "%s%llu", i ? ", " : "",
                                (unsigned long long)t->shape[i]);
    snprintf(l->shape + off, sizeof l->shape - off, "]");
}

static int layer_row(sqlite3_stmt *st, void *ctx)
{
    const user_cb *u = ctx;
    return u->fn.layer(u->ctx, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int(st, 1));
}

int pw_db_layers(pw_db *db, int64_t run_id, pw_db_layer_cb cb, void *ctx, pw_err *err)
{
    DISPATCH(db, layers, run_id, cb, ctx, err);
    user_cb u = {.fn.layer = cb, .ctx = ctx};
    return each_row(db, "SELECT name, depth FROM layers WHERE run_id = ? ORDER BY depth, name",
                    run_id, layer_row, &u, "reading layers", err);
}

int pw_db_layer_set_stable(pw_db *db, int64_t run_id, const char *layer, int64_t step, pw_err *err)
{
    DISPATCH(db, layer_set_stable, run_id, layer, step, err);
    const db_arg args[] = {A_OPT_INT(step), A_INT(run_id), A_TEXT(layer)};
    const db_stmt st =
        STMT("UPDATE layers SET stable_step = ? WHERE run_id = ? AND name = ?", args);
    return write_stmts(db, "setting a layer's stable step", &st, 1, NULL, err);
}

/* Commit ------------------------------------------------------------------------------ */

typedef struct commit_ctx {
    int64_t run_id;       /* run */
    const pw_db_batch *b; /* what to write */
} commit_ctx;

static int commit_ckpt(pw_db *db, int64_t run_id, const pw_db_ckpt *c, pw_err *err)
{
    sqlite3_stmt *st = prep(
        db,
        "INSERT INTO checkpoints (run_id, step, path, size, mtime_ns, inode, status, error, "
        "present, processed_at, probe_fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (run_id, step) DO UPDATE SET path = excluded.path, size = excluded.size, "
        "mtime_ns = excluded.mtime_ns, inode = excluded.inode, status = excluded.status, "
        "error = excluded.error, present = excluded.present, processed_at = excluded.processed_at, "
        "probe_fingerprint = excluded.probe_fingerprint",
        err);
    if (!st)
        return SQLITE_ERROR;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int64(st, 2, c->step);
    sqlite3_bind_text(st, 3, c->path, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, c->size);
    sqlite3_bind_int64(st, 5, c->mtime_ns);
    sqlite3_bind_int64(st, 6, c->inode);
    sqlite3_bind_text(st, 7, pw_status_name(c->status), -1, SQLITE_STATIC);
    if (!c->error[0]) /* an ok checkpoint may carry a warning (looks like weights) */
        sqlite3_bind_null(st, 8);
    else
        sqlite3_bind_text(st, 8, c->error, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 9, c->present);
    sqlite3_bind_double(st, 10, now_s());
    if (c->probe[0])
        sqlite3_bind_text(st, 11, c->probe, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 11);
    int rc = step_done(st);
    sqlite3_finalize(st);
    return rc;
}

static int commit_layers(pw_db *db, int64_t run_id, const pw_db_batch *b, pw_err *err)
{
    if (!b->nlayers)
        return SQLITE_OK;
    sqlite3_stmt *st =
        prep(db,
             "INSERT INTO layers (run_id, name, depth, dtype, shape, rows, cols) "
             "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, name) DO UPDATE SET "
             "depth = excluded.depth, dtype = excluded.dtype, shape = excluded.shape, "
             "rows = excluded.rows, cols = excluded.cols",
             err);
    if (!st)
        return SQLITE_ERROR;
    int rc = SQLITE_OK;
    for (size_t i = 0; i < b->nlayers && rc == SQLITE_OK; i++) {
        const pw_db_layer *l = &b->layers[i];
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_text(st, 2, l->name, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, l->depth);
        sqlite3_bind_text(st, 4, pw_dtype_name(l->dtype), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, l->shape, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, (int64_t)l->rows);
        sqlite3_bind_int64(st, 7, (int64_t)l->cols);
        rc = step_done(st);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Reduce = auto's decisions the batch's scores carry: the first stored for a layer
 * stays (INSERT OR IGNORE), so a series keeps the mode it started with. */
static int commit_choices(pw_db *db, int64_t run_id, const pw_db_batch *b, double t, pw_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_OK;
    for (size_t i = 0; i < b->nscores && rc == SQLITE_OK; i++) {
        const pw_db_score *s = &b->scores[i];
        if (!s->sticky || s->r.status != PW_OK)
            continue;
        if (!st && !(st = prep(db,
                               "INSERT OR IGNORE INTO reduce_choices (run_id, layer, reduce, "
                               "step, decided_at) VALUES (?, ?, ?, ?, ?)",
                               err)))
            return SQLITE_ERROR;
        char reduce[PW_REDUCE_TEXT_MAX];
        pw_reduce_format(&s->r.reduce, reduce, sizeof reduce);
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_text(st, 2, s->layer, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, reduce, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, s->step);
        sqlite3_bind_double(st, 5, t);
        rc = step_done(st);
    }
    sqlite3_finalize(st);
    return rc;
}

static int commit_scores(pw_db *db, int64_t run_id, const pw_db_batch *b, pw_err *err)
{
    sqlite3_stmt *del =
        prep(db, "DELETE FROM scores WHERE run_id = ? AND step = ? AND ref = ?", err);
    if (!del)
        return SQLITE_ERROR;
    int rc = SQLITE_OK;
    for (size_t i = 0; i < b->ngroups && rc == SQLITE_OK; i++) {
        sqlite3_bind_int64(del, 1, run_id);
        sqlite3_bind_int64(del, 2, b->groups[i].step);
        sqlite3_bind_text(del, 3, pw_ref_name(b->groups[i].ref), -1, SQLITE_STATIC);
        rc = step_done(del);
    }
    sqlite3_finalize(del);
    if (rc != SQLITE_OK || !b->nscores)
        return rc;
/* The SE columns (005_noise.sql, 008_procrustes_se.sql) and noise_blocks, and their placeholders.
 */
#define NOISE_COL(sym, id, since)   ", " #id "_se"
#define NOISE_QMARK(sym, id, since) ",?"
#define NOISE_SQL_COLS              PW_NOISE_SE_COLUMNS(NOISE_COL) ", noise_blocks"
#define NOISE_SQL_QMARKS            PW_NOISE_SE_COLUMNS(NOISE_QMARK) ",?"
    sqlite3_stmt *st =
        prep(db,
#define PW_METRIC_SQL_PREFIX " "
             "INSERT OR REPLACE INTO scores (run_id, layer, step, ref, ref_step, "
             "n, p_kept, q_kept," PW_METRIC_SQL_COLS " status, message, "
             "computed_at, reduce, k_x, k_y" NOISE_SQL_COLS
             ") VALUES (?,?,?,?,?,?,?,?," PW_METRIC_SQL_QMARKS "?,?,?,?,?,?" NOISE_SQL_QMARKS ")",
#undef PW_METRIC_SQL_PREFIX
             err);
    if (!st)
        return SQLITE_ERROR;
    double t = now_s();
    for (size_t i = 0; i < b->nscores && rc == SQLITE_OK; i++) {
        const pw_db_score *s = &b->scores[i];
        const pw_result *r = &s->r;
        /* Counts mean nothing for a pair that was never read. */
        int counted = r->status != PW_READ_ERROR && r->status != PW_MISSING &&
                      r->status != PW_REFERENCE_UNAVAILABLE && r->status != PW_SHAPE_CHANGED &&
                      r->status != PW_PROBE_CHANGED;
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_text(st, 2, s->layer, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, s->step);
        sqlite3_bind_text(st, 4, pw_ref_name(s->ref), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, s->ref_step);
        bind_opt_int(st, 6, counted ? (int64_t)r->n : -1);
        bind_opt_int(st, 7, counted ? (int64_t)r->p_kept : -1);
        bind_opt_int(st, 8, counted ? (int64_t)r->q_kept : -1);
        int col = 9;
#define PW_METRIC_BIND(sym, id, bitno, sel, tpos, label, doc) bind_opt_double(st, col++, r->id);
        PW_METRIC_LIST(PW_METRIC_BIND)
#undef PW_METRIC_BIND
        sqlite3_bind_text(st, col++, pw_status_name(r->status), -1, SQLITE_STATIC);
        if (r->message[0])
            sqlite3_bind_text(st, col, r->message, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, col);
        sqlite3_bind_double(st, ++col, t);
        /* What was applied: never auto (the engine reports what it resolved to). */
        char reduce[PW_REDUCE_TEXT_MAX];
        int reduced = r->reduce.kind != PW_REDUCE_NONE;
        assert(r->reduce.kind != PW_REDUCE_AUTO);
        pw_reduce_format(&r->reduce, reduce, sizeof reduce);
        sqlite3_bind_text(st, ++col, reduce, -1, SQLITE_TRANSIENT);
        bind_opt_int(st, ++col, reduced ? (int64_t)r->k_x : -1);
        bind_opt_int(st, ++col, reduced ? (int64_t)r->k_y : -1);
        /* Standard errors (005_noise.sql): only from a comparison that made them. */
        const pw_noise_result *nr = &s->noise;
#define NOISE_BIND(sym, id, since)                                                                 \
    bind_opt_double(st, ++col, nr->blocks ? nr->se[PW_METRIC_##sym] : NAN);
        PW_NOISE_SE_COLUMNS(NOISE_BIND)
#undef NOISE_BIND
        bind_opt_int(st, ++col, nr->blocks ? (int64_t)nr->blocks : -1);
        rc = step_done(st);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? commit_choices(db, run_id, b, t, err) : rc;
}

static int commit_fn(pw_db *db, void *ctx, pw_err *err)
{
    const commit_ctx *cc = ctx;
    int rc = SQLITE_OK;
    if (cc->b->ckpt)
        rc = commit_ckpt(db, cc->run_id, cc->b->ckpt, err);
    if (rc == SQLITE_OK)
        rc = commit_layers(db, cc->run_id, cc->b, err);
    if (rc == SQLITE_OK)
        rc = commit_scores(db, cc->run_id, cc->b, err);
    return rc;
}

int pw_db_commit(pw_db *db, int64_t run_id, const pw_db_batch *b, pw_err *err)
{
    DISPATCH(db, commit, run_id, b, err);
    commit_ctx cc = {run_id, b};
    return with_retry(db, commit_fn, &cc, "storing results", err);
}

/* Queries ------------------------------------------------------------------------------ */

static int done_row(sqlite3_stmt *st, void *ctx)
{
    const user_cb *u = ctx;
    const char *ref = (const char *)sqlite3_column_text(st, 1);
    return u->fn.done(u->ctx, sqlite3_column_int64(st, 0),
                      ref && strcmp(ref, "final") == 0 ? PW_REF_FINAL : PW_REF_PREVIOUS,
                      sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3));
}

int pw_db_scores_done(pw_db *db, int64_t run_id, pw_db_done_cb cb, void *ctx, pw_err *err)
{
    DISPATCH(db, scores_done, run_id, cb, ctx, err);
    user_cb u = {.fn.done = cb, .ctx = ctx};
    return each_row(db,
                    "SELECT step, ref, ref_step, COUNT(*) FROM scores WHERE run_id = ? "
                    "GROUP BY step, ref, ref_step ORDER BY step, ref",
                    run_id, done_row, &u, "reading scores", err);
}

static int series_row(sqlite3_stmt *st, void *ctx)
{
    const user_cb *u = ctx;
    return u->fn.series(u->ctx, (const char *)sqlite3_column_text(st, 0),
                        sqlite3_column_int64(st, 1), column_real(st, 2));
}

int pw_db_series(pw_db *db, int64_t run_id, pw_db_series_cb cb, void *ctx, pw_err *err)
{
    DISPATCH(db, series, run_id, cb, ctx, err);
    user_cb u = {.fn.series = cb, .ctx = ctx};
    /* A distance whose reference is not the series' previous point (the checkpoints
     * between are not scored yet: live work goes before the backlog) reads as
     * missing, so a hole never makes two distances look consecutive to the
     * stability rules; once the hole is filled the pair is recomputed and counts. */
    return each_row(db,
                    "SELECT layer, step, CASE WHEN before IS NULL OR ref_step = before "
                    "THEN distance END FROM (SELECT layer, step, ref_step, distance, "
                    "LAG(step) OVER (PARTITION BY layer ORDER BY step) AS before FROM scores "
                    "WHERE run_id = ? AND ref = 'previous') ORDER BY layer, step",
                    run_id, series_row, &u, "reading the distance series", err);
}

static int series_se_row(sqlite3_stmt *st, void *ctx)
{
    const user_cb *u = ctx;
    return u->fn.series_se(u->ctx, (const char *)sqlite3_column_text(st, 0),
                           sqlite3_column_int64(st, 1), column_real(st, 2), column_real(st, 3));
}

int pw_db_series_se(pw_db *db, int64_t run_id, pw_db_series_se_cb cb, void *ctx, pw_err *err)
{
    DISPATCH(db, series_se, run_id, cb, ctx, err);
    user_cb u = {.fn.series_se = cb, .ctx = ctx};
    /* pw_db_series's reading, with the SE of each distance it keeps. */
    return each_row(db,
                    "SELECT layer, step, CASE WHEN before IS NULL OR ref_step = before "
                    "THEN distance END, CASE WHEN before IS NULL OR ref_step = before "
                    "THEN distance_se END FROM (SELECT layer, step, ref_step, distance, "
                    "distance_se, LAG(step) OVER (PARTITION BY layer ORDER BY step) AS before "
                    "FROM scores WHERE run_id = ? AND ref = 'previous') ORDER BY layer, step",
                    run_id, series_se_row, &u, "reading the distance series", err);
}

static int unmeasured_row(sqlite3_stmt *st, void *ctx)
{
    const user_cb *u = ctx;
    return u->fn.unmeasured(u->ctx, (const char *)sqlite3_column_text(st, 0),
                            (const char *)sqlite3_column_text(st, 1));
}

int pw_db_unmeasured(pw_db *db, int64_t run_id, pw_db_unmeasured_cb cb, void *ctx, pw_err *err)
{
    DISPATCH(db, unmeasured, run_id, cb, ctx, err);
    user_cb u = {.fn.unmeasured = cb, .ctx = ctx};
    return each_row(db,
                    "SELECT l.name, (SELECT s.status FROM scores s WHERE s.run_id = l.run_id AND "
                    "s.layer = l.name AND s.ref = 'previous' ORDER BY s.step DESC LIMIT 1) "
                    "FROM layers l WHERE l.run_id = ? AND NOT EXISTS (SELECT 1 FROM scores s "
                    "WHERE s.run_id = l.run_id AND s.layer = l.name AND s.ref = 'previous' AND "
                    "s.status = 'ok' AND s.distance IS NOT NULL) ORDER BY l.depth, l.name",
                    run_id, unmeasured_row, &u, "reading the unmeasured layers", err);
}

static int latest_row(sqlite3_stmt *st, void *ctx)
{
    const user_cb *u = ctx;
    pw_db_latest_row l;
    l.layer = (const char *)sqlite3_column_text(st, 0);
    l.stable_step = sqlite3_column_type(st, 1) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 1);
    for (int r = 0; r < 2; r++) {
        l.has[r] = sqlite3_column_type(st, 2 + 2 * r) != SQLITE_NULL;
        l.step[r] = l.has[r] ? sqlite3_column_int64(st, 2 + 2 * r) : -1;
        l.distance[r] = column_real(st, 3 + 2 * r);
        l.k_x[r] =
            sqlite3_column_type(st, 6 + r) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 6 + r);
        l.distance_se[r] = column_real(st, 8 + r);
    }
    return u->fn.latest(u->ctx, &l);
}

int pw_db_latest(pw_db *db, int64_t run_id, pw_db_latest_cb cb, void *ctx, pw_err *err)
{
    DISPATCH(db, latest, run_id, cb, ctx, err);
    /* The newest score per (layer, ref) is the one with the highest step: the
     * primary key makes each (run, layer, step, ref) unique. */
    user_cb u = {.fn.latest = cb, .ctx = ctx};
    return each_row(
        db,
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
        "WHERE l.run_id = ? ORDER BY l.depth, l.name",
        run_id, latest_row, &u, "reading the latest scores", err);
}

/* Reduce = auto's decisions ------------------------------------------------------------ */

static int choice_row(sqlite3_stmt *st, void *ctx)
{
    const user_cb *u = ctx;
    return u->fn.choice(u->ctx, (const char *)sqlite3_column_text(st, 0),
                        (const char *)sqlite3_column_text(st, 1), sqlite3_column_int64(st, 2));
}

int pw_db_reduce_choices(pw_db *db, int64_t run_id, pw_db_choice_cb cb, void *ctx, pw_err *err)
{
    DISPATCH(db, reduce_choices, run_id, cb, ctx, err);
    user_cb u = {.fn.choice = cb, .ctx = ctx};
    return each_row(db,
                    "SELECT layer, reduce, step FROM reduce_choices WHERE run_id = ? "
                    "ORDER BY layer",
                    run_id, choice_row, &u, "reading the reduce decisions", err);
}

int pw_db_reduce_forget(pw_db *db, int64_t run_id, int64_t from_step, int64_t *removed, pw_err *err)
{
    DISPATCH(db, reduce_forget, run_id, from_step, removed, err);
    const db_arg args[] = {A_INT(run_id), A_INT(from_step)};
    const db_stmt st = STMT("DELETE FROM reduce_choices WHERE run_id = ? AND step >= ?", args);
    return write_stmts(db, "forgetting reduce decisions", &st, 1, removed, err);
}

/* Alerts ------------------------------------------------------------------------------- */

int pw_db_alert_add(pw_db *db, int64_t run_id, const char *kind, const char *layer, int64_t step,
                    double value, const char *detail, int *inserted, pw_err *err)
{
    DISPATCH(db, alert_add, run_id, kind, layer, step, value, detail, inserted, err);
    const db_arg args[] = {A_INT(run_id), A_TEXT(kind),      A_TEXT(layer ? layer : ""),
                           A_INT(step),   A_OPT_REAL(value), A_TEXT(detail),
                           A_NOW};
    const db_stmt st = STMT("INSERT OR IGNORE INTO alerts (run_id, kind, layer, step, value, "
                            "detail, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                            args);
    int64_t added = 0;
    int rc = write_stmts(db, "storing an alert", &st, 1, &added, err);
    *inserted = rc == 0 && added > 0;
    return rc;
}

/* Chance levels ------------------------------------------------------------------------ */

#define CHANCE_COL(sym, id)   ", " #id
#define CHANCE_QMARK(sym, id) ", ?"
#define CHANCE_NAME(sym, id)  #id,

int pw_db_chance_add(pw_db *db, int64_t run_id, const pw_db_chance *c, size_t n, int64_t *inserted,
                     pw_err *err)
{
    DISPATCH(db, chance_add, run_id, c, n, inserted, err);
    static const char *const metric_cols[] = {PW_CHANCE_COLUMNS(CHANCE_NAME)};
    enum { FIXED = 11, NCOLS = FIXED + sizeof metric_cols / sizeof *metric_cols };
    static const char sql[] =
        "INSERT OR IGNORE INTO chance (run_id, layer, step_a, step_b, seed, n, p_kept, q_kept, "
        "reduce, status, message" PW_CHANCE_COLUMNS(
            CHANCE_COL) ", computed_at) VALUES "
                        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?" PW_CHANCE_COLUMNS(CHANCE_QMARK) ", ?)";
    int64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const pw_result *r = &c[i].r;
        char reduce[PW_REDUCE_TEXT_MAX];
        pw_reduce_format(&r->reduce, reduce, sizeof reduce);
        db_arg args[NCOLS + 1] = {A_INT(run_id),
                                  A_TEXT(c[i].layer),
                                  A_INT(c[i].step_a),
                                  A_INT(c[i].step_b),
                                  A_INT((int64_t)c[i].seed),
                                  A_INT((int64_t)r->n),
                                  A_INT((int64_t)r->p_kept),
                                  A_INT((int64_t)r->q_kept),
                                  A_TEXT(reduce),
                                  A_TEXT(pw_status_name(r->status)),
                                  A_TEXT(r->message[0] ? r->message : NULL)};
        size_t k = FIXED;
#define CHANCE_ARG(sym, id) args[k++] = A_OPT_REAL(r->id);
        PW_CHANCE_COLUMNS(CHANCE_ARG)
#undef CHANCE_ARG
        args[k++] = A_NOW;
        assert(k == NCOLS + 1);
        const db_stmt st = STMT(sql, args);
        int64_t added = 0;
        if (write_stmts(db, "storing a chance level", &st, 1, &added, err) != 0)
            return -1;
        total += added;
    }
    if (inserted)
        *inserted = total;
    return 0;
}

typedef struct chance_read {
    pw_db_chance_cb cb; /* the caller's */
    void *ctx;          /* its context */
} chance_read;

static int chance_row(sqlite3_stmt *st, void *ctx)
{
    const chance_read *u = ctx;
    pw_db_chance c;
    memset(&c, 0, sizeof c);
    pw_result_init(&c.r);
    snprintf(c.layer, sizeof c.layer, "%s", (const char *)sqlite3_column_text(st, 0));
    c.step_a = sqlite3_column_int64(st, 1);
    c.step_b = sqlite3_column_int64(st, 2);
    c.seed = (uint64_t)sqlite3_column_int64(st, 3);
    c.r.n = (uint64_t)sqlite3_column_int64(st, 4);
    c.r.p_kept = (uint64_t)sqlite3_column_int64(st, 5);
    c.r.q_kept = (uint64_t)sqlite3_column_int64(st, 6);
    const char *reduce = (const char *)sqlite3_column_text(st, 7);
    pw_err e;
    if (!reduce || pw_reduce_parse(reduce, &c.r.reduce, &e) != 0)
        c.r.reduce = (pw_reduce){.kind = PW_REDUCE_NONE};
    const char *status = (const char *)sqlite3_column_text(st, 8);
    if (!status || pw_status_parse(status, &c.r.status) != 0)
        c.r.status = PW_READ_ERROR;
    const unsigned char *msg = sqlite3_column_text(st, 9);
    snprintf(c.r.message, sizeof c.r.message, "%s", msg ? (const char *)msg : "");
    int col = 10;
#define CHANCE_GET(sym, id) c.r.id = column_real(st, col++);
    PW_CHANCE_COLUMNS(CHANCE_GET)
#undef CHANCE_GET
    return u->cb(u->ctx, &c);
}

int pw_db_chance_each(pw_db *db, int64_t run_id, pw_db_chance_cb cb, void *ctx, pw_err *err)
{
    DISPATCH(db, chance_each, run_id, cb, ctx, err);
    chance_read u = {cb, ctx};
    return each_row(db,
                    "SELECT layer, step_a, step_b, seed, n, p_kept, q_kept, reduce, status, "
                    "message" PW_CHANCE_COLUMNS(CHANCE_COL) " FROM chance WHERE run_id = ? "
                                                            "ORDER BY layer",
                    run_id, chance_row, &u, "reading the chance levels", err);
}

int pw_db_chance_forget(pw_db *db, int64_t run_id, int64_t from_step, int64_t *removed, pw_err *err)
{
    DISPATCH(db, chance_forget, run_id, from_step, removed, err);
    const db_arg args[] = {A_INT(run_id), A_INT(from_step)};
    const db_stmt st = STMT("DELETE FROM chance WHERE run_id = ? AND step_a >= ?", args);
    return write_stmts(db, "forgetting chance levels", &st, 1, removed, err);
}

#undef CHANCE_COL
#undef CHANCE_QMARK
#undef CHANCE_NAME

/* Run groups' cross-run scores (006_groups.sql) ------------------------------------------ */

typedef struct cross_ctx {
    const pw_db_cross *c; /* what to store */
} cross_ctx;

static int cross_fn(pw_db *db, void *ctx, pw_err *err)
{
    const pw_db_cross *c = ((const cross_ctx *)ctx)->c;
    /* The columns scores has, by the same lists (pw_metric.h, pw_noise.h). */
#define CROSS_NOISE_COL(sym, id, since)   ", " #id "_se"
#define CROSS_NOISE_QMARK(sym, id, since) ",?"
#define PW_METRIC_SQL_PREFIX              " "
    sqlite3_stmt *st = prep(
        db,
        "INSERT OR REPLACE INTO group_scores (group_name, run_a, run_b, layer_a, layer_b, "
        "step_a, step_b, n, p_kept, q_kept," PW_METRIC_SQL_COLS " status, message, computed_at, "
        "reduce, k_x, k_y" PW_NOISE_SE_COLUMNS(
            CROSS_NOISE_COL) ", noise_blocks) VALUES "
                             "(?,?,?,?,?,?,?,?,?,?," PW_METRIC_SQL_QMARKS
                             "?,?,?,?,?,?" PW_NOISE_SE_COLUMNS(CROSS_NOISE_QMARK) ",?)",
        err);
#undef PW_METRIC_SQL_PREFIX
    if (!st)
        return SQLITE_ERROR;
    double t = now_s();
    int rc = SQLITE_OK;
    for (size_t i = 0; i < c->nrows && rc == SQLITE_OK; i++) {
        const pw_db_score *s = &c->rows[i];
        const pw_result *r = &s->r;
        /* Counts mean nothing for a pair that was never read. */
        int counted = r->status != PW_READ_ERROR && r->status != PW_MISSING &&
                      r->status != PW_REFERENCE_UNAVAILABLE && r->status != PW_PROBE_MISMATCH;
        int col = 1;
        sqlite3_bind_text(st, col++, c->group, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, col++, c->run_a);
        sqlite3_bind_int64(st, col++, c->run_b);
        sqlite3_bind_text(st, col++, s->layer, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, col++, s->layer, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, col++, c->step_a);
        sqlite3_bind_int64(st, col++, c->step_b);
        bind_opt_int(st, col++, counted ? (int64_t)r->n : -1);
        bind_opt_int(st, col++, counted ? (int64_t)r->p_kept : -1);
        bind_opt_int(st, col++, counted ? (int64_t)r->q_kept : -1);
#define PW_METRIC_BIND(sym, id, bitno, sel, tpos, label, doc) bind_opt_double(st, col++, r->id);
        PW_METRIC_LIST(PW_METRIC_BIND)
#undef PW_METRIC_BIND
        sqlite3_bind_text(st, col++, pw_status_name(r->status), -1, SQLITE_STATIC);
        if (r->message[0])
            sqlite3_bind_text(st, col++, r->message, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, col++);
        sqlite3_bind_double(st, col++, t);
        char reduce[PW_REDUCE_TEXT_MAX];
        int reduced = r->reduce.kind != PW_REDUCE_NONE;
        assert(r->reduce.kind != PW_REDUCE_AUTO);
        pw_reduce_format(&r->reduce, reduce, sizeof reduce);
        sqlite3_bind_text(st, col++, reduce, -1, SQLITE_TRANSIENT);
        bind_opt_int(st, col++, reduced ? (int64_t)r->k_x : -1);
        bind_opt_int(st, col++, reduced ? (int64_t)r->k_y : -1);
        const pw_noise_result *nr = &s->noise;
#define CROSS_NOISE_BIND(sym, id, since)                                                           \
    bind_opt_double(st, col++, nr->blocks ? nr->se[PW_METRIC_##sym] : NAN);
        PW_NOISE_SE_COLUMNS(CROSS_NOISE_BIND)
#undef CROSS_NOISE_BIND
        bind_opt_int(st, col++, nr->blocks ? (int64_t)nr->blocks : -1);
        rc = step_done(st);
    }
#undef CROSS_NOISE_COL
#undef CROSS_NOISE_QMARK
    sqlite3_finalize(st);
    return rc;
}

int pw_db_cross_commit(pw_db *db, const pw_db_cross *c, pw_err *err)
{
    assert(c->run_a < c->run_b);
    DISPATCH(db, cross_commit, c, err);
    cross_ctx cc = {c};
    return with_retry(db, cross_fn, &cc, "storing cross-run scores", err);
}

int pw_db_cross_done(pw_db *db, pw_db_cross_done_cb cb, void *ctx, pw_err *err)
{
    DISPATCH(db, cross_done, cb, ctx, err);
    sqlite3_stmt *st = prep(db,
                            "SELECT DISTINCT group_name, run_a, run_b, step_a, step_b FROM "
                            "group_scores ORDER BY group_name, run_a, run_b, step_a, step_b",
                            err);
    if (!st)
        return -1;
    int rc, stop = 0;
    while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW)
        stop = cb(ctx, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1),
                  sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3),
                  sqlite3_column_int64(st, 4));
    sqlite3_finalize(st);
    if (!stop && rc != SQLITE_DONE)
        return db_fail(db, err, "reading cross-run scores");
    return 0;
}

/* Sharing the work ------------------------------------------------------------------ */

/* One daemon owns an SQLite file (pw_db_lock): nothing to share, every claim held. */

int pw_db_shared(const pw_db *db)
{
    return db->ops && db->ops->claim;
}

int pw_db_daemon_register(pw_db *db, const char *host, int64_t pid, double lease_s, int64_t *id,
                          pw_err *err)
{
    if (pw_db_shared(db))
        return db->ops->daemon_register(db->impl, host, pid, lease_s, id, err);
    *id = 0;
    return 0;
}

int pw_db_daemon_beat(pw_db *db, int64_t id, const char *job, double lease_s, pw_db_held_cb cb,
                      void *ctx, int *live, pw_err *err)
{
    if (pw_db_shared(db))
        return db->ops->daemon_beat(db->impl, id, job, lease_s, cb, ctx, live, err);
    *live = 1;
    return 0;
}

int pw_db_daemon_stop(pw_db *db, int64_t id, pw_err *err)
{
    if (pw_db_shared(db))
        return db->ops->daemon_stop(db->impl, id, err);
    return 0;
}

int pw_db_claim(pw_db *db, const char *unit, int64_t daemon_id, double lease_s, int *held,
                double *since, pw_err *err)
{
    if (pw_db_shared(db))
        return db->ops->claim(db->impl, unit, daemon_id, lease_s, held, since, err);
    *held = 1;
    *since = 0;
    return 0;
}

int pw_db_release(pw_db *db, const char *unit, int64_t daemon_id, pw_err *err)
{
    if (pw_db_shared(db))
        return db->ops->release(db->impl, unit, daemon_id, err);
    return 0;
}

int pw_db_run_get(pw_db *db, int64_t run_id, pw_db_run *run, pw_err *err)
{
    DISPATCH(db, run_get, run_id, run, err);
    sqlite3_stmt *st = prep(db,
                            "SELECT id, final_step, final_source, converged_step, path FROM "
                            "runs WHERE id = ?",
                            err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        run_columns(st, run);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return pw_err_set(err, "run %" PRId64 " is not in the database", run_id);
    return db_fail(db, err, "reading runs");
}
