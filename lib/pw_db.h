/* pw_db.h -- pwccad's storage (schema/NNN_*.sql, documented in docs/SCHEMA.md): an
 * SQLite file, or a PostgreSQL database when the path is a postgresql:// URI
 * (lib/pw_store.h; the PostgreSQL specifics are in lib/pw_store_pg.c).
 *
 * Each thread that touches the database owns its own pw_db handle (SQLite
 * connections are not shared across threads here).  Opening creates the
 * parent directory, switches to WAL (readers never block the writer), sets a
 * busy timeout and foreign keys, and applies the embedded migrations the
 * file has not seen (PRAGMA user_version), each in its own transaction.
 *
 * Writes that matter -- a checkpoint's row, its layers and all its scores --
 * go in one transaction (pw_db_commit), so a crash at any moment leaves
 * either all of it or none of it.  A locked database, a full disk or an I/O
 * error rolls the transaction back and is retried with backoff up to the
 * handle's retry budget; after that the call fails with a message and the
 * caller keeps the work to try again later.  Nothing committed is lost. */
#ifndef PW_DB_H
#define PW_DB_H

#include <stddef.h>
#include <stdint.h>

#include "pw_engine.h"
#include "pw_error.h"
#include "pw_noise.h"
#include "pw_status.h"
#include "pw_tensor.h"

#define PW_DB_MAX_PATH 4096 /* bytes in a stored path, NUL included */

typedef struct pw_db pw_db;

/* Reference kinds (scores.ref). */
typedef enum pw_ref {
    PW_REF_PREVIOUS, /* "previous": the checkpoint before by step */
    PW_REF_FINAL     /* "final": the run's final checkpoint */
} pw_ref;

const char *pw_ref_name(pw_ref r);

/* Open (creating and migrating as needed).  busy_ms: how long one statement
 * waits for a lock; retries: extra attempts, with doubling backoff from 50 ms,
 * after a locked / full / I/O failure of a whole write.  Returns 0, -1, or
 * PW_DB_TOO_NEW when the file's schema is newer than this build knows: retrying
 * cannot help, so pwccad exits with its own status for it (docs/DAEMON.md). */
#define PW_DB_TOO_NEW (-2)
int pw_db_open(pw_db **out, const char *path, int busy_ms, int retries, pw_err *err);
void pw_db_close(pw_db *db);
/* PRAGMA user_version after migrations. */
int pw_db_schema_version(pw_db *db);
/* 1 when the file the handle writes to is no longer the one at its path
 * (deleted, or replaced by another file): its writes reach nobody. */
int pw_db_moved(pw_db *db);
/* One writer per database: an exclusive flock on "<path>.lock" (created, with
 * the holder's pid written in it when the file is writable), held until
 * pw_db_unlock.  Fails, naming the holder's pid when known, while another
 * open of the file holds it -- in this process too.  Readers never take it.
 * A PostgreSQL database takes none (*fd -1): several daemons share it and
 * split the work through claims (pw_db_claim). */
int pw_db_lock(const char *path, int *fd, pw_err *err);
void pw_db_unlock(int fd);

/* Runs ------------------------------------------------------------------------------ */
typedef struct pw_db_run {
    int64_t id;                /* runs.id */
    int64_t final_step;        /* -1 while running */
    char final_source[64];     /* "FINAL file", "final checkpoint", "socket" or "" */
    int64_t converged_step;    /* -1 when not converged */
    char path[PW_DB_MAX_PATH]; /* runs.path: where the run was first seen, maybe by another
                                  node (its checkpoints' stored paths start with it) */
} pw_db_run;

/* The run found under the watch root named root as rel (docs/SCHEMA.md, runs), at
 * path on this machine; inserted if new; *run gets its row.  SQLite finds it by
 * path (one machine) and fills root and rel, also on an older row that has none;
 * PostgreSQL finds it by (root, rel), else adopts the row of this path that has
 * no root (written before schema 9), else inserts it, so two daemons mounting
 * one share at different paths find one run.  A run watched by itself (`run =
 * DIR`) has root "" and rel its absolute path. */
int pw_db_run_upsert_root(pw_db *db, const char *root, const char *rel, const char *path,
                          const char *name, pw_db_run *run, pw_err *err);
/* pw_db_run_upsert_root for a run watched by itself: root "", rel = path. */
int pw_db_run_upsert(pw_db *db, const char *path, const char *name, pw_db_run *run, pw_err *err);
/* Set (step >= 0) or clear (step -1) the final checkpoint, and drop final-reference
 * scores of later steps, which no longer have a final to compare with. */
int pw_db_run_set_final(pw_db *db, int64_t run_id, int64_t step, const char *source, pw_err *err);
int pw_db_run_set_converged(pw_db *db, int64_t run_id, int64_t step, pw_err *err);
/* Every stored run's id and directory, by id.  The callback returns 0 to go on. */
typedef int (*pw_db_run_cb)(void *ctx, int64_t run_id, const char *path);
int pw_db_runs_each(pw_db *db, pw_db_run_cb cb, void *ctx, pw_err *err);
/* checkpoints.present = 0 for every checkpoint of the run (its directory is gone);
 * *changed gets how many were still marked present. */
int pw_db_run_set_absent(pw_db *db, int64_t run_id, int64_t *changed, pw_err *err);
/* What pw_db_run_forget removed. */
typedef struct pw_db_forgotten {
    int64_t checkpoints, scores, alerts; /* rows deleted with the run */
} pw_db_forgotten;
/* Delete the run and everything stored for it, in one transaction (`pwcca forget`:
 * the only way history is removed; deleting files never does). */
int pw_db_run_forget(pw_db *db, int64_t run_id, pw_db_forgotten *out, pw_err *err);

/* Checkpoints ------------------------------------------------------------------------- */
typedef struct pw_db_ckpt {
    int64_t step;                /* training step */
    char path[PW_DB_MAX_PATH];   /* file or directory */
    int64_t size;                /* bytes when processed */
    int64_t mtime_ns;            /* modification time when processed */
    int64_t inode;               /* inode when processed */
    pw_status status;            /* PW_OK or PW_READ_ERROR */
    char error[PW_ERR_MAX];      /* message when status != PW_OK */
    int present;                 /* 0 once deleted */
    char probe[PW_PROBE_FP_MAX]; /* the file's probe_fingerprint (hex), "" when it has none */
} pw_db_ckpt;

typedef int (*pw_db_ckpt_cb)(void *ctx, const pw_db_ckpt *c);
/* Every checkpoint row of a run, by step. The callback returns 0 to go on. */
int pw_db_checkpoints(pw_db *db, int64_t run_id, pw_db_ckpt_cb cb, void *ctx, pw_err *err);
int pw_db_checkpoint_set_present(pw_db *db, int64_t run_id, int64_t step, int present, pw_err *err);

/* Layers ------------------------------------------------------------------------------- */
typedef struct pw_db_layer {
    char name[PW_MAX_NAME]; /* layer name */
    int depth;              /* 0 = bottom */
    pw_dtype dtype;         /* element type */
    char shape[256];        /* JSON array */
    uint64_t rows, cols;    /* matrix view */
} pw_db_layer;

/* Fill a pw_db_layer from a tensor. */
void pw_db_layer_from_tensor(pw_db_layer *l, const pw_tensor *t, int depth);
typedef int (*pw_db_layer_cb)(void *ctx, const char *name, int depth);
int pw_db_layers(pw_db *db, int64_t run_id, pw_db_layer_cb cb, void *ctx, pw_err *err);
/* layers.stable_step (-1 = NULL). */
int pw_db_layer_set_stable(pw_db *db, int64_t run_id, const char *layer, int64_t step, pw_err *err);

/* Scores ------------------------------------------------------------------------------- */
typedef struct pw_db_score {
    char layer[PW_MAX_NAME]; /* layer name */
    int64_t step;            /* checkpoint scored (X) */
    pw_ref ref;              /* reference kind */
    int64_t ref_step;        /* reference checkpoint (Y) */
    pw_result r;             /* the engine's result (rho is not stored); r.reduce, k_x and k_y
                                are stored as scores.reduce, k_x, k_y */
    int sticky;              /* 1: computed under reduce = auto, so r.reduce is the layer's
                                decision: stored in reduce_choices unless one is there */
    pw_noise_result noise;   /* standard errors: stored as scores.*_se and noise_blocks when
                                noise.blocks > 0, else NULL (a zeroed score has none) */
} pw_db_score;

/* A (step, ref) group whose old rows a commit replaces wholesale. */
typedef struct pw_db_group {
    int64_t step; /* checkpoint scored */
    pw_ref ref;   /* reference kind */
} pw_db_group;

/* Everything one checkpoint's processing produced. */
typedef struct pw_db_batch {
    const pw_db_ckpt *ckpt;    /* row to upsert, or NULL */
    const pw_db_layer *layers; /* rows to upsert */
    size_t nlayers;
    const pw_db_group *groups; /* (step, ref) groups cleared before the scores go in */
    size_t ngroups;
    const pw_db_score *scores; /* INSERT OR REPLACE on (run, layer, step, ref) */
    size_t nscores;
    const char *lease_unit; /* shared store: commit only while this claim is lease_daemon's */
    int64_t lease_daemon;   /* daemons.id (unused when lease_unit is NULL) */
    double lease_since;     /* and still the claim taken then (claims.claimed_at) */
} pw_db_batch;

/* One transaction, retried as the handle allows. */
int pw_db_commit(pw_db *db, int64_t run_id, const pw_db_batch *b, pw_err *err);

/* What is already stored, grouped: one call per (step, ref, ref_step). */
typedef int (*pw_db_done_cb)(void *ctx, int64_t step, pw_ref ref, int64_t ref_step,
                             int64_t nlayers);
int pw_db_scores_done(pw_db *db, int64_t run_id, pw_db_done_cb cb, void *ctx, pw_err *err);

/* The previous-reference distance series, by layer then step (NAN when NULL, and
 * when its ref_step is not the step of the layer's previous point: a hole). */
typedef int (*pw_db_series_cb)(void *ctx, const char *layer, int64_t step, double distance);
int pw_db_series(pw_db *db, int64_t run_id, pw_db_series_cb cb, void *ctx, pw_err *err);
/* The same with each distance's distance_se (NAN when NULL, or when the distance is). */
typedef int (*pw_db_series_se_cb)(void *ctx, const char *layer, int64_t step, double distance,
                                  double se);
int pw_db_series_se(pw_db *db, int64_t run_id, pw_db_series_se_cb cb, void *ctx, pw_err *err);

/* The run's unmeasured layers: those of the layers table without one real
 * distance to the previous checkpoint (status ok, distance not NULL), by
 * depth, each with the status of its newest previous-reference score (NULL
 * when it has none). */
typedef int (*pw_db_unmeasured_cb)(void *ctx, const char *layer, const char *status);
int pw_db_unmeasured(pw_db *db, int64_t run_id, pw_db_unmeasured_cb cb, void *ctx, pw_err *err);

/* A layer as the metrics endpoint shows it after a restart. */
typedef struct pw_db_latest_row {
    const char *layer;     /* layer name */
    int64_t stable_step;   /* layers.stable_step, -1 when NULL */
    int has[2];            /* 1 when the layer has a score for this pw_ref */
    int64_t step[2];       /* step of its newest score per pw_ref (read only when has) */
    double distance[2];    /* that score's distance, NAN when NULL or its status is not ok */
    int64_t k_x[2];        /* that score's k_x (directions X kept when reduced), -1 when exact */
    double distance_se[2]; /* that score's distance_se (005_noise.sql), NAN when none */
} pw_db_latest_row;
typedef int (*pw_db_latest_cb)(void *ctx, const pw_db_latest_row *l);
/* Every layer of the layers table, by depth, with its newest score per reference. */
int pw_db_latest(pw_db *db, int64_t run_id, pw_db_latest_cb cb, void *ctx, pw_err *err);

/* Reduce = auto's decisions (reduce_choices) ------------------------------------------- */
/* Every decision of the run: the layer, what auto resolved to ("none", "dims:K") and
 * the step of the pair that decided.  The callback returns 0 to go on. */
typedef int (*pw_db_choice_cb)(void *ctx, const char *layer, const char *reduce, int64_t step);
int pw_db_reduce_choices(pw_db *db, int64_t run_id, pw_db_choice_cb cb, void *ctx, pw_err *err);
/* Forget the run's decisions taken at a step >= from_step (a rescore decides them
 * again); *removed (may be NULL) gets how many. */
int pw_db_reduce_forget(pw_db *db, int64_t run_id, int64_t from_step, int64_t *removed,
                        pw_err *err);

/* Alerts ------------------------------------------------------------------------------- */
/* INSERT OR IGNORE; *inserted is 1 when this call stored it (0: it existed). */
int pw_db_alert_add(pw_db *db, int64_t run_id, const char *kind, const char *layer, int64_t step,
                    double value, const char *detail, int *inserted, pw_err *err);

/* Chance levels (chance, 007_chance.sql; lib/pw_chance.h) ------------------------------ */
typedef struct pw_db_chance {
    char layer[PW_MAX_NAME]; /* layer name */
    int64_t step_a, step_b;  /* the pair: X, and Y whose inputs were shuffled */
    uint64_t seed;           /* of the permutation */
    pw_result r;             /* the metrics, status, message, n, kept counts, reduce */
} pw_db_chance;
/* Store chance levels, one per (run, layer): the first stored stays (INSERT OR
 * IGNORE), so two compute threads meeting a layer's first pair at once store
 * one.  *inserted (may be NULL) gets the rows this call stored. */
int pw_db_chance_add(pw_db *db, int64_t run_id, const pw_db_chance *c, size_t n, int64_t *inserted,
                     pw_err *err);
/* Every chance level of the run, by layer (c->r.rho empty).  The callback
 * returns 0 to go on. */
typedef int (*pw_db_chance_cb)(void *ctx, const pw_db_chance *c);
int pw_db_chance_each(pw_db *db, int64_t run_id, pw_db_chance_cb cb, void *ctx, pw_err *err);
/* Forget the run's chance levels whose pair is at a step >= from_step (a
 * rescore computes them again); *removed (may be NULL) gets how many. */
int pw_db_chance_forget(pw_db *db, int64_t run_id, int64_t from_step, int64_t *removed,
                        pw_err *err);

/* Run groups' cross-run scores (006_groups.sql, daemon/groups.c) ---------------------- */
/* One cross pair: every layer row of run_a's checkpoint step_a against run_b's
 * step_b.  A row's layer is both layer_a and layer_b (same-named layers); its r
 * and noise are stored as in scores, its step, ref and ref_step are not read. */
typedef struct pw_db_cross {
    const char *group;       /* group_scores.group_name */
    int64_t run_a, run_b;    /* runs.id, run_a < run_b: A is the engine's X */
    int64_t step_a, step_b;  /* the two checkpoints */
    const pw_db_score *rows; /* INSERT OR REPLACE on the table's key */
    size_t nrows;            /* entries in rows */
    const char *lease_unit;  /* shared store: commit only while this claim is lease_daemon's */
    int64_t lease_daemon;    /* daemons.id (unused when lease_unit is NULL) */
    double lease_since;      /* and still the claim taken then (claims.claimed_at) */
} pw_db_cross;
/* Store one cross pair's rows in one transaction, retried as the handle allows. */
int pw_db_cross_commit(pw_db *db, const pw_db_cross *c, pw_err *err);
/* Every stored cross pair, once: (group, run_a, run_b, step_a, step_b).  The
 * callback returns 0 to go on. */
typedef int (*pw_db_cross_done_cb)(void *ctx, const char *group, int64_t run_a, int64_t run_b,
                                   int64_t step_a, int64_t step_b);
int pw_db_cross_done(pw_db *db, pw_db_cross_done_cb cb, void *ctx, pw_err *err);

/* Sharing the work (docs/DAEMON.md "Sharing the work").  On a store several
 * daemons share (PostgreSQL), each registers, renews its heartbeat and its
 * claims' leases, and computes a unit ('run:ID', 'group:NAME') only while it
 * holds its claim; pw_db_commit and pw_db_cross_commit with a lease_unit
 * write nothing and return PW_DB_LEASE_LOST when the claim is no longer the
 * daemon's.  SQLite has one daemon per file (pw_db_lock): not shared, every
 * claim is held and the rest does nothing.  Times are the database's clock. */
#define PW_DB_LEASE_LOST (-2)
/* 1 when several daemons may share this store. */
int pw_db_shared(const pw_db *db);
/* Add this daemon to `daemons` (and drop rows silent for a day); *id its key. */
int pw_db_daemon_register(pw_db *db, const char *host, int64_t pid, double lease_s, int64_t *id,
                          pw_err *err);
/* The heartbeat: heartbeat_at and job (NULL: idle) written, every unexpired claim of
 * the daemon renewed to now + lease_s; cb (may be NULL) hears each unit it still holds; *live gets
 * how many daemons of the store beat within their lease (itself included).  An error
 * when its row is gone. */
typedef int (*pw_db_held_cb)(void *ctx, const char *unit);
int pw_db_daemon_beat(pw_db *db, int64_t id, const char *job, double lease_s, pw_db_held_cb cb,
                      void *ctx, int *live, pw_err *err);
/* A clean stop: its claims dropped, stopped_at set. */
int pw_db_daemon_stop(pw_db *db, int64_t id, pw_err *err);
/* Take unit for lease_s seconds when it is free, expired or already ours: *held 1 and
 * *since the claim's claimed_at, the token a commit's lease_since names (a claim lost
 * and taken again is another claim: a job planned under the first does not commit);
 * *held 0 when another daemon holds it. */
int pw_db_claim(pw_db *db, const char *unit, int64_t daemon_id, double lease_s, int *held,
                double *since, pw_err *err);
int pw_db_release(pw_db *db, const char *unit, int64_t daemon_id, pw_err *err);
/* The run's row as stored now (another daemon may have made it final). */
int pw_db_run_get(pw_db *db, int64_t run_id, pw_db_run *run, pw_err *err);

#endif
