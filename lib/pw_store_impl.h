/* pw_store_impl.h -- what a store backend other than SQLite implements (lib/ only).
 *
 * The handles of pw_db.h and pw_query.h are { ops, impl } pairs chosen at
 * open time by the database name: a postgresql:// or postgres:// URI
 * (pw_paths_is_pg) opens
 * the PostgreSQL backend (lib/pw_store_pg.c), anything else is an SQLite
 * file (lib/pw_db.c, lib/pw_query.c).  SQLite is the default and keeps its
 * state in the handle itself (ops NULL), so its code did not move; every
 * public function of those files first hands a handle with ops on to them.
 *
 * Each entry is the public function of the same name without its prefix,
 * with the backend's own handle (impl) in place of the public one.  A new
 * operation of pw_db.h or pw_query.h adds an entry here, a one-line
 * dispatch at the top of its SQLite function, and the backend's version. */
#ifndef PW_STORE_IMPL_H
#define PW_STORE_IMPL_H

#include "pw_db.h"
#include "pw_query.h"

typedef struct pw_db_ops {
    void (*close)(void *impl);
    int (*schema_version)(void *impl);
    int (*run_upsert)(void *impl, const char *root, const char *rel, const char *path,
                      const char *name, pw_db_run *run, pw_err *err);
    int (*run_set_final)(void *impl, int64_t run_id, int64_t step, const char *source, pw_err *err);
    int (*run_set_converged)(void *impl, int64_t run_id, int64_t step, pw_err *err);
    int (*runs_each)(void *impl, pw_db_run_cb cb, void *ctx, pw_err *err);
    int (*run_set_absent)(void *impl, int64_t run_id, int64_t *changed, pw_err *err);
    int (*run_forget)(void *impl, int64_t run_id, pw_db_forgotten *out, pw_err *err);
    int (*checkpoints)(void *impl, int64_t run_id, pw_db_ckpt_cb cb, void *ctx, pw_err *err);
    int (*checkpoint_set_present)(void *impl, int64_t run_id, int64_t step, int present,
                                  pw_err *err);
    int (*layers)(void *impl, int64_t run_id, pw_db_layer_cb cb, void *ctx, pw_err *err);
    int (*layer_set_stable)(void *impl, int64_t run_id, const char *layer, int64_t step,
                            pw_err *err);
    int (*commit)(void *impl, int64_t run_id, const pw_db_batch *b, pw_err *err);
    int (*scores_done)(void *impl, int64_t run_id, pw_db_done_cb cb, void *ctx, pw_err *err);
    int (*series)(void *impl, int64_t run_id, pw_db_series_cb cb, void *ctx, pw_err *err);
    int (*series_se)(void *impl, int64_t run_id, pw_db_series_se_cb cb, void *ctx, pw_err *err);
    int (*unmeasured)(void *impl, int64_t run_id, pw_db_unmeasured_cb cb, void *ctx, pw_err *err);
    int (*latest)(void *impl, int64_t run_id, pw_db_latest_cb cb, void *ctx, pw_err *err);
    int (*reduce_choices)(void *impl, int64_t run_id, pw_db_choice_cb cb, void *ctx, pw_err *err);
    int (*reduce_forget)(void *impl, int64_t run_id, int64_t from_step, int64_t *removed,
                         pw_err *err);
    int (*alert_add)(void *impl, int64_t run_id, const char *kind, const char *layer, int64_t step,
                     double value, const char *detail, int *inserted, pw_err *err);
    int (*chance_add)(void *impl, int64_t run_id, const pw_db_chance *c, size_t n,
                      int64_t *inserted, pw_err *err);
    int (*chance_each)(void *impl, int64_t run_id, pw_db_chance_cb cb, void *ctx, pw_err *err);
    int (*chance_forget)(void *impl, int64_t run_id, int64_t from_step, int64_t *removed,
                         pw_err *err);
    int (*cross_commit)(void *impl, const pw_db_cross *c, pw_err *err);
    int (*cross_done)(void *impl, pw_db_cross_done_cb cb, void *ctx, pw_err *err);
    /* Sharing the work: a backend that cannot be shared (SQLite) leaves these NULL. */
    int (*daemon_register)(void *impl, const char *host, int64_t pid, double lease_s, int64_t *id,
                           pw_err *err);
    int (*daemon_beat)(void *impl, int64_t id, const char *job, double lease_s, pw_db_held_cb cb,
                       void *ctx, int *live, pw_err *err);
    int (*daemon_stop)(void *impl, int64_t id, pw_err *err);
    int (*claim)(void *impl, const char *unit, int64_t daemon_id, double lease_s, int *held,
                 double *since, pw_err *err);
    int (*release)(void *impl, const char *unit, int64_t daemon_id, pw_err *err);
    int (*run_get)(void *impl, int64_t run_id, pw_db_run *run, pw_err *err);
} pw_db_ops;

/* Which runs pw_query's select_runs reads. */
typedef enum pw_runs_where {
    PW_RUNS_ALL,     /* every run */
    PW_RUNS_BY_PATH, /* runs.path = arg */
    PW_RUNS_BY_NAME  /* runs.name = arg */
} pw_runs_where;

typedef struct pw_query_ops {
    void (*close)(void *impl);
    /* Runs as pw_query_runs orders them, filtered by where. */
    int (*select_runs)(void *impl, pw_runs_where where, const char *arg, pw_run_info **out,
                       size_t *n, pw_err *err);
    int (*layers)(void *impl, const pw_run_info *run, pw_layer_info **out, size_t *n, pw_err *err);
    /* After pw_query_curve checked ref and the layers: filter is the asked
     * layers as a JSON array of strings, NULL for all. */
    int (*curve)(void *impl, const pw_run_info *run, const char *ref, const char *filter,
                 pw_query_progress_fn progress, void *ctx, pw_curve_row **out, size_t *n,
                 pw_err *err);
    int (*alerts)(void *impl, const pw_run_info *run, int64_t after_id, pw_alert **out, size_t *n,
                  pw_err *err);
    int (*runs_stamp)(void *impl, pw_runs_stamp *out, pw_err *err);
    /* step is already resolved (never PW_QUERY_NO_STEP); 1 when the run has no such step. */
    int (*checkpoint)(void *impl, const pw_run_info *run, int64_t step, pw_ckpt_info *out,
                      pw_err *err);
    int (*checkpoints)(void *impl, const pw_run_info *run, pw_ckpt_info **out, size_t *n,
                       pw_err *err);
    /* pw_query_curve_chance needs no entry: it reads through chance. */
    int (*chance)(void *impl, const pw_run_info *run, pw_chance_info **out, size_t *n, pw_err *err);
    int (*cross)(void *impl, const char *group, pw_cross_row **out, size_t *n, pw_err *err);
    /* The daemons of the store with their claims (units sorted), and the database's clock. */
    int (*daemons)(void *impl, pw_daemon_info **out, size_t *n, double *now, pw_err *err);
} pw_query_ops;

/* The PostgreSQL backend's open functions (lib/pw_store_pg.c): *impl and
 * *ops on success.  pw_pg_db_open returns 0, -1 or PW_DB_TOO_NEW as
 * pw_db_open does. */
int pw_pg_db_open(const char *url, int busy_ms, int retries, void **impl, const pw_db_ops **ops,
                  pw_err *err);
int pw_pg_query_open(const char *url, void **impl, const pw_query_ops **ops, pw_err *err);

/* url as messages may show it: a password in it replaced by "***". */
void pw_pg_display(const char *url, char *buf, size_t len);

/* PostgreSQL's text of SQLite migration sql (the words that differ
 * translated, pragmas dropped), malloc'd; NULL when out of memory.  Exposed
 * for the unit test that checks every schema/NNN_*.sql translates. */
char *pw_pg_translate(const char *sql);

#endif
