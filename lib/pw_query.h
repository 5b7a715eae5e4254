/* pw_query.h -- read-only access to pwccad's database for the client.
 *
 * What follows describes the SQLite file; a postgresql:// URI opens the
 * PostgreSQL backend (lib/pw_store_pg.c) in a read-only session instead,
 * with the same results.
 *
 * The daemon owns the database and writes it in WAL mode; the client opens it
 * read-only (SQLITE_OPEN_READONLY) so a query can never block or damage the
 * daemon, and works the same whether the daemon runs or not.  A user who
 * may only read the file (not create its -shm beside it) can still read it
 * while the daemon runs, and, when no write-ahead log is pending, while it
 * does not (the file is then opened immutable).  Everything here
 * reads the tables of schema/001_init.sql, the public contract, and nothing
 * else.
 *
 * Runs are named by their display name (the directory's basename) or by their
 * path; a name or layer that does not exist fails with a message listing the
 * known ones.  Every list this module returns is owned by the caller and
 * freed with the matching _free function.  Metrics that are NULL in the
 * database come back as NAN, counts that are NULL as -1, steps that are
 * NULL as PW_QUERY_NO_STEP. */
#ifndef PW_QUERY_H
#define PW_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "pw_error.h"
#include "pw_limits.h"
#include "pw_metric.h"

#define PW_QUERY_NO_STEP INT64_MIN /* a step column that is NULL */

typedef struct pw_query pw_query; /* an open read-only database */

typedef struct pw_run_info {
    int64_t id;              /* runs.id */
    char *name;              /* display name (directory basename) */
    char *path;              /* absolute directory path */
    int64_t checkpoints;     /* checkpoints processed, deleted ones included */
    int64_t layers;          /* layers known */
    int64_t stable_layers;   /* layers whose stable_step is set */
    int64_t measured_layers; /* layers with a real distance to the previous checkpoint (status
                                ok, distance not NULL): the ones convergence is decided on */
    int64_t last_step;       /* newest checkpoint's step, or PW_QUERY_NO_STEP */
    int64_t final_step;      /* final checkpoint's step, or PW_QUERY_NO_STEP while running */
    int64_t converged_step;  /* step every layer was stable at, or PW_QUERY_NO_STEP */
    char *final_source;      /* how it became final, NULL while running */
    char *probe;             /* newest checkpoint's probe_fingerprint, NULL when none has one */
} pw_run_info;

typedef struct pw_layer_info {
    char *name;           /* tensor name as stored */
    int depth;            /* 0 = bottom */
    char *dtype;          /* F16, BF16, F32, F64 */
    char *shape;          /* JSON array as stored */
    int64_t rows;         /* datapoints n */
    int64_t cols;         /* neurons */
    int64_t stable_step;  /* step it became stable at, or PW_QUERY_NO_STEP */
    char *last_status;    /* status of its newest score (previous ref first), NULL if unscored */
    int64_t last_step;    /* step of that score, or PW_QUERY_NO_STEP */
    double last_distance; /* distance of that score, NAN when NULL */
    int measured;         /* 1 when it has a real distance to the previous checkpoint */
    char *prev_status;    /* status of its newest previous-reference score, NULL if none */
} pw_layer_info;

typedef struct pw_curve_row {
    const char *run;  /* the run's name (points into the pw_run_info given) */
    char *layer;      /* layer name */
    int depth;        /* layer depth, -1 when the layer is not in the layers table */
    int64_t step;     /* checkpoint scored */
    char ref[12];     /* "previous" or "final" */
    int64_t ref_step; /* reference checkpoint */
    int64_t n;        /* datapoints, -1 when NULL */
    int64_t p_kept;   /* neurons of X kept, -1 when NULL */
    int64_t q_kept;   /* neurons of Y kept, -1 when NULL */
    /* One double per metric of pw_metric.h (pwcca, distance, ...), NAN when NULL. */
    PW_METRIC_LIST(PW_METRIC_FIELD)
    char *status;                    /* a name from pw_status.h */
    char *message;                   /* NULL when none */
    char reduce[PW_REDUCE_TEXT_MAX]; /* reduction applied: "none" (exact), "dims:K", "var:F" */
    int64_t k_x, k_y;                /* directions X and Y kept when reduced, -1 when exact */
    double se[PW_METRIC_COUNT];      /* standard error per metric (pw_noise.h), NAN when NULL,
                                        when the metric has no *_se column or the database
                                        predates 005_noise.sql */
    int64_t noise_blocks;            /* B the SEs came from, -1 when none */
    int has_chance;                  /* 1: chance_distance is the layer's chance level
                                        (pw_query_curve_chance; 0 from pw_query_curve) */
    double chance_distance;          /* that chance distance, NAN when not determined */
} pw_curve_row;

typedef struct pw_alert {
    int64_t id;        /* alerts.id, increasing */
    char *run;         /* run name */
    char *kind;        /* layer_stable, layer_unstable, run_converged */
    char *layer;       /* "" for run_converged */
    int64_t step;      /* step that raised it */
    double value;      /* distance that triggered it, NAN when NULL */
    char *detail;      /* NULL when none */
    double created_at; /* Unix seconds */
} pw_alert;

/* Called every few thousand rows while a long query runs; rows read so far. */
typedef void (*pw_query_progress_fn)(void *ctx, size_t rows);

/* Open path read-only.  Fails with a clear message when the file is missing,
 * is not an SQLite database, or is not a pwccad database of a schema version
 * this build knows (PRAGMA user_version). */
int pw_query_open(const char *path, pw_query **out, pw_err *err);
void pw_query_close(pw_query *q);
/* The database as messages show it: its path, or its URI with any password hidden. */
const char *pw_query_name(const pw_query *q);

/* Every run, ordered by name then path. */
int pw_query_runs(pw_query *q, pw_run_info **out, size_t *n, pw_err *err);
void pw_query_runs_free(pw_run_info *runs, size_t n);
/* The run named by name_or_path (its path, a path resolving to it, or its
 * unique display name).  out is filled; free it with pw_query_run_clear. */
int pw_query_find_run(pw_query *q, const char *name_or_path, pw_run_info *out, pw_err *err);
void pw_query_run_clear(pw_run_info *run);

/* The run's layers, bottom (depth 0) first. */
int pw_query_layers(pw_query *q, const pw_run_info *run, pw_layer_info **out, size_t *n,
                    pw_err *err);
void pw_query_layers_free(pw_layer_info *layers, size_t n);

/* Score rows of run for reference kind ref ("previous" or "final"), ordered by
 * depth then step.  With nlayers > 0 only those layers, each of which must
 * exist (the error lists the known ones).  progress may be NULL. */
int pw_query_curve(pw_query *q, const pw_run_info *run, const char *ref, const char *const *layers,
                   size_t nlayers, pw_query_progress_fn progress, void *ctx, pw_curve_row **out,
                   size_t *n, pw_err *err);
void pw_query_curve_free(pw_curve_row *rows, size_t n);

/* Alerts with id > after_id, oldest first; run NULL for every run. */
int pw_query_alerts(pw_query *q, const pw_run_info *run, int64_t after_id, pw_alert **out,
                    size_t *n, pw_err *err);
void pw_query_alerts_free(pw_alert *alerts, size_t n);

/* What tells one set of runs from another without reading them: how many
 * there are, and the sum and largest of their ids (a run added or removed
 * changes at least one).  For a reader that keeps the list of runs. */
typedef struct pw_runs_stamp {
    int64_t count;  /* runs */
    int64_t max_id; /* largest id, 0 when none */
    int64_t sum_id; /* sum of the ids */
} pw_runs_stamp;
int pw_query_runs_stamp(pw_query *q, pw_runs_stamp *out, pw_err *err);

/* One checkpoint of a run, as stored. */
typedef struct pw_ckpt_info {
    int64_t step; /* its step */
    char *path;   /* file or directory as the daemon found it */
    int present;  /* 0 once the file was deleted */
    char *status; /* ok, read_error, ... */
    char *probe;  /* its probe_fingerprint, NULL when none (or a database before 003) */
} pw_ckpt_info;

/* The checkpoint of run at step; step PW_QUERY_NO_STEP asks for the final
 * checkpoint, else the newest.  A step the run does not have fails naming
 * the run's first and last steps.  Free out with pw_query_checkpoint_clear. */
int pw_query_checkpoint(pw_query *q, const pw_run_info *run, int64_t step, pw_ckpt_info *out,
                        pw_err *err);
void pw_query_checkpoint_clear(pw_ckpt_info *c);

/* Every checkpoint of run, deleted ones included (present 0), by step.
 * Free out with pw_query_checkpoints_free. */
int pw_query_checkpoints(pw_query *q, const pw_run_info *run, pw_ckpt_info **out, size_t *n,
                         pw_err *err);
void pw_query_checkpoints_free(pw_ckpt_info *list, size_t n);

/* A layer's chance level as stored (007_chance.sql; lib/pw_chance.h). */
typedef struct pw_chance_info {
    char *layer;    /* layer name */
    int depth;      /* layer depth, -1 when the layer is not in the layers table */
    int64_t step_a; /* the pair it was computed on: X */
    int64_t step_b; /* and Y, whose inputs were shuffled */
    int64_t seed;   /* of the permutation */
    /* One double per metric of pw_metric.h, NAN when NULL or without a column. */
    PW_METRIC_LIST(PW_METRIC_FIELD)
    char *status;  /* a name from pw_status.h */
    char *message; /* NULL when none */
} pw_chance_info;

/* The run's chance levels, one per layer that has one, bottom first (as
 * pw_query_curve orders layers).  None (n = 0) from a database before
 * 007_chance.sql.  Free out with pw_query_chance_free. */
int pw_query_chance(pw_query *q, const pw_run_info *run, pw_chance_info **out, size_t *n,
                    pw_err *err);
void pw_query_chance_free(pw_chance_info *list, size_t n);

/* Set has_chance and chance_distance of every row of pw_query_curve's whose
 * layer has a chance level stored (the others keep has_chance 0). */
int pw_query_curve_chance(pw_query *q, const pw_run_info *run, pw_curve_row *rows, size_t n,
                          pw_err *err);

/* Run groups' cross-run scores (group_scores, 006_groups.sql) ------------------------ */
typedef struct pw_cross_row {
    char *run_a, *run_b;       /* run names: A (the engine's X, lower runs.id) and B */
    int64_t id_a, id_b;        /* runs.id */
    char *layer_a, *layer_b;   /* the layers (same-named) */
    int depth;                 /* layer_a's depth in run A (0 = bottom), -1 when unknown */
    int64_t step_a, step_b;    /* the two checkpoints */
    int final;                 /* 1 when both are their runs' final checkpoints */
    int64_t n, p_kept, q_kept; /* -1 when NULL */
    PW_METRIC_LIST(PW_METRIC_FIELD)
    char *status;  /* ok, probe_mismatch, ... */
    char *message; /* NULL when none */
} pw_cross_row;
/* Every stored row of group `group`, by run_a, run_b, layer depth, step_a.  A
 * database without the table (before 006_groups.sql) or without rows of the
 * group gives *n = 0. */
int pw_query_cross(pw_query *q, const char *group, pw_cross_row **out, size_t *n, pw_err *err);
void pw_query_cross_free(pw_cross_row *rows, size_t n);

/* Daemons sharing the store (009_share.sql) ------------------------------------------ */
typedef struct pw_daemon_info {
    int64_t id;          /* daemons.id */
    char *host;          /* its machine (gethostname) */
    int64_t pid;         /* its process id on that host */
    double started_at;   /* Unix seconds, the database's clock */
    double heartbeat_at; /* its last heartbeat, the database's clock */
    double lease_s;      /* silent this long, its claims are free for others */
    char *job;           /* what it computes now, NULL when idle */
    double stopped_at;   /* when it stopped cleanly, NAN while it runs */
    char **units;        /* the claims it holds ('run:ID', 'group:NAME'), in byte order */
    size_t nunits;       /* how many */
} pw_daemon_info;

/* Every daemon registered in the store, by id, each with its claims, and
 * the database's clock (*now, Unix seconds): heartbeats are the database's
 * time, so their age is measured against it, not the client's clock.  An
 * SQLite file keeps the table empty (one daemon owns it), and a database
 * before 009_share.sql has none: *n = 0.  Free with pw_query_daemons_free. */
int pw_query_daemons(pw_query *q, pw_daemon_info **out, size_t *n, double *now, pw_err *err);
void pw_query_daemons_free(pw_daemon_info *list, size_t n);

/* A daemon's state at the database's time now: "stopped" (stopped_at set),
 * "stale" (no heartbeat for longer than its lease: dead or cut off, its
 * claims free for others), else "running". */
const char *pw_query_daemon_state(const pw_daemon_info *d, double now);

#endif
