/* daemon.h -- pwccad's state, shared by the daemon's modules.
 *
 * Threads: the libuv loop thread owns everything in this file except what
 * is marked otherwise -- runs, checkpoints, the socket, alerts, its own
 * database connection.  Compute threads (scheduler.c) see only the jobs
 * handed to them and their own database connections.
 *
 * Flow: watch.c finds candidate checkpoints and settles them; scheduler.c
 * plans which pairs are missing, computes and stores them on compute
 * threads, and reports back to the loop; alerts.c replays the stability
 * rules and raises alerts; control.c serves the socket. */
#ifndef PWD_DAEMON_H
#define PWD_DAEMON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "pw_ckname.h"
#include "pw_config.h"
#include "pw_limits.h"
#include "pw_retain.h"
#include "pw_stability.h"
#include "pw_store.h"
#include "pw_strmap.h"

#define PWD_UNIT_MAX (PW_GROUP_NAME_MAX + 24) /* a claim's unit: 'run:ID' or 'group:NAME' */

/* The claim a commit is made under (share.c): checked by the store at COMMIT. */
typedef struct pwd_lease {
    char unit[PWD_UNIT_MAX]; /* 'run:ID' or 'group:NAME'; "" when the store is not shared */
    int64_t daemon;          /* daemons.id of this daemon */
    double since;            /* claims.claimed_at when it was taken: which claim it is */
} pwd_lease;

/* One accepted checkpoint of a run. */
typedef struct pwd_ckpt {
    int64_t step;      /* training step */
    char *path;        /* file or directory (heap) */
    int64_t size;      /* identity: bytes (sum of files for a directory) */
    int64_t mtime_ns;  /* identity: modification time (latest for a directory) */
    int64_t inode;     /* identity: inode */
    unsigned gen;      /* bumped whenever the checkpoint is replaced */
    int present;       /* 0 once deleted */
    int processed;     /* 1 when the database holds this identity's row */
    int bad;           /* 1 when processing found it unreadable */
    int64_t prev_ref;  /* ref_step of its stored previous-reference scores, PW_PLAN_NO_STEP none */
    int64_t final_ref; /* ref_step of its stored final-reference scores, PW_PLAN_NO_STEP none */
    int dirty_prev;    /* recompute the previous pair even if ref_step matches */
    int dirty_final;   /* recompute the final pair even if ref_step matches */
    int rescore;       /* the dirty pairs are a rescore's: rows replaced only by computed ones */
    int busy;          /* a job for it is queued or running */
    int64_t out_ref;   /* scheduler.c: while busy, its job's previous reference (PW_PLAN_NO_STEP) */
    double retry_at;   /* after a failed store, not before this time */
    unsigned seen_gen; /* scan_gen of the last scan that listed it */
} pwd_ckpt;

/* A directory entry waiting to settle. */
typedef struct pwd_pending {
    char *path;        /* heap */
    pw_ckname nm;      /* name-derived step / final */
    int64_t size;      /* identity last seen */
    int64_t mtime_ns;  /* identity last seen */
    int64_t inode;     /* identity last seen */
    double since;      /* when this identity was first seen */
    double next_probe; /* earliest time of the next completeness probe */
    int probing;       /* a probe is running on the thread pool */
    unsigned seen_gen; /* scan_gen of the last scan that listed it */
    int ignored;       /* its step is another file's (first in byte order) */
    int64_t claim;     /* the step it claims when ignored */
} pwd_pending;

/* What pwd_layer_state.stable_step holds when it is not a step. */
typedef enum pwd_stable_mark {
    PWD_NOT_STABLE = -1,     /* the layer is not stable (as stored: NULL) */
    PWD_STABLE_UNKNOWN = -2, /* not known yet: the first replay writes whatever it finds */
} pwd_stable_mark;

/* A layer's distance series and last known stability (alerts.c). */
typedef struct pwd_layer_state {
    char *name;            /* heap */
    int64_t stable_step;   /* as written to layers.stable_step: a step, or a pwd_stable_mark */
    pw_stab_series series; /* its previous-reference distances, while the run's series_loaded */
} pwd_layer_state;

/* What the scheduler measured of a run's jobs since start (`status`, /metrics). */
typedef struct pwd_run_stats {
    double last_s;    /* compute seconds of its last committed job that scored pairs */
    double sum_s;     /* of all its committed jobs that scored pairs */
    uint64_t jobs;    /* committed jobs */
    uint64_t timed;   /* committed jobs that scored pairs: what last_s and sum_s measure */
    uint64_t failed;  /* jobs that found the checkpoint unreadable or could not commit */
    double lag_s;     /* live lag: the newest live checkpoint's mtime to its commit, seconds */
    int64_t lag_step; /* that checkpoint's step */
    int has_lag;      /* lag_s and lag_step are set */
} pwd_run_stats;

typedef struct pwd_run {
    char *path;               /* absolute path (heap) */
    char *name;               /* basename (heap) */
    int64_t id;               /* runs.id */
    pwd_ckpt *ck;             /* accepted checkpoints, ascending step */
    size_t nck, capck;        /* used / allocated */
    pwd_pending *pend;        /* candidates settling */
    size_t npend, cappend;    /* used / allocated */
    int64_t final_step;       /* -1 while running */
    char final_source[64];    /* how it became final */
    int64_t final_file_mtime; /* identity of the FINAL file last acted on, -1 none */
    int64_t final_file_size;  /* likewise */
    int64_t converged_step;   /* -1 when not converged */
    pwd_layer_state *layers;  /* stability per layer, by name (strcmp order) */
    size_t nlayers;           /* entries in layers */
    int series_loaded;        /* alerts.c: layers[].series were seeded from the database */
    uv_fs_event_t ev;         /* inotify on the run directory */
    int watching;             /* ev is started */
    int scan_wanted;          /* an event asked for a scan */
    int scanned;              /* scanned at least once since start */
    struct pwd_mrun *metrics; /* metrics.c: what /metrics shows of it, NULL when not served */
    char *base;               /* below it files are opened without symlinks: root or itself */
    pw_strmap ck_index;       /* path -> step of every entry of ck */
    pw_strmap pend_index;     /* path -> index in pend */
    size_t nprobing;          /* entries of pend with a probe out */
    size_t nignored;          /* entries of pend that are ignored */
    void *scan_dir;           /* DIR * of the scan in progress, NULL when none */
    unsigned scan_gen;        /* bumped as each scan starts */
    int scan_again;           /* a scan was asked for while one was in progress */
    int scan_final;           /* the scan in progress saw a FINAL file */
    int plan_wanted;          /* scheduler.c: plan it once the batch of results is handled */
    size_t settle_cursor;     /* the entry of pend the next settle tick starts with */
    uint64_t served;          /* scheduler.c: when a job of it last started (round robin) */
    size_t queued;            /* scheduler.c: jobs it wants that are not started yet */
    size_t inflight;          /* scheduler.c: its jobs handed to compute threads, not handled */
    pwd_run_stats stats;      /* scheduler.c: compute seconds and live lag */
    int held;                 /* share.c: this daemon holds the run's claim (shared store only) */
    int want_claim;           /* share.c: it has work, but its claim is not this daemon's */
    double claim_next;        /* share.c: no claim attempt before this time */
    double claim_since;       /* share.c: claims.claimed_at of the claim held */
    double idle_since;        /* share.c: when its held work ran out (0: it has work) */
} pwd_run;

/* A watched root: every subdirectory is a run. */
typedef struct pwd_root {
    char *path;       /* heap */
    uv_fs_event_t ev; /* inotify on the root */
    int watching;     /* ev is started */
    /* its configured name (cfg.watch_name): runs.root of the runs found in it */
    char name[PW_ROOT_NAME_MAX];
} pwd_root;

typedef struct pwd_daemon {
    uv_loop_t *loop;               /* the loop */
    pw_config cfg;                 /* effective configuration */
    char config_path[PW_PATH_MAX]; /* --config, "" when none */
    pw_config flags;               /* what the command line set, re-applied on reload */
    char db_path[PW_PATH_MAX];     /* resolved database */
    char sock_path[108];           /* resolved socket */
    pw_db *db;                     /* the loop's connection */
    pwd_root **roots;              /* --watch */
    size_t nroots;
    pwd_run **runs; /* every run */
    size_t nruns;
    pw_strmap run_index;         /* path -> index in runs */
    struct pwd_retain *retain;   /* retain.c: index of retained copies */
    int exit_code;               /* 1 after a fatal error while running (pwd_daemon_fail) */
    uv_timer_t rescan_timer;     /* periodic rescan */
    uv_timer_t kick_timer;       /* coalesces fs events into one scan */
    uv_timer_t settle_timer;     /* re-stats settling candidates */
    uv_timer_t watchdog_timer;   /* WATCHDOG=1 pings */
    uv_timer_t status_timer;     /* STATUS= refresh */
    uv_idle_t scan_idle;         /* continues scans in progress, a slice per loop turn */
    size_t scan_cursor;          /* the run whose scan goes first in the next slice */
    uv_async_t sig_async;        /* wakes the loop for a signal daemon.c's handler caught */
    int db_reopened;             /* this process was exec'd to reopen a vanished database */
    double started;              /* uptime origin, seconds */
    uint64_t done, failed;       /* checkpoints processed / recorded as errors */
    char last_error[1024];       /* most recent error, "" when none */
    int stopping;                /* a stop signal arrived */
    struct pwd_sched *sched;     /* scheduler.c */
    struct pwd_control *control; /* control.c */
    struct pwd_alerts *alerts;   /* alerts.c */
    struct pwd_metrics *metrics; /* metrics.c, NULL when /metrics is not served */
    char **argv;                 /* main's, to start over after the database vanished */
    int db_lock_fd;              /* pw_db_lock's descriptor while running, else -1 */
    int reopen;                  /* the database vanished: stop, then exec ourselves again */
    uv_timer_t db_timer;         /* checks that the database file is still at its path */
    struct pwd_groups *groups;   /* groups.c: cross-run pairs stored and handed out */
    struct pwd_share *share; /* share.c: claims and heartbeats; NULL unless the store is shared */
} pwd_daemon;

/* Set by a daemon that execs itself after its database was deleted or
 * replaced: the message the new process reports as its last error. */
#define PWD_REOPEN_ENV "PWCCAD_REOPENED"

/* Exit status when the database's schema is newer than this pwccad knows (EX_CONFIG):
 * restarting cannot fix it, so the systemd units list it in RestartPreventExitStatus=. */
#define PWD_EXIT_DB_TOO_NEW 78

/* daemon.c */
int pwd_daemon_run(pwd_daemon *d);
double pwd_now(void);
/* A fatal error while running: stop cleanly and exit 1 (systemd restarts us). */
void pwd_daemon_fail(pwd_daemon *d);
/* Flags beat the file: re-apply what the command line said (main.c, and daemon.c on reload). */
void pwd_apply_flags(pw_config *cfg, const pw_config *flags);
void pwd_set_error(pwd_daemon *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
pwd_run *pwd_find_run(pwd_daemon *d, const char *name_or_path);
/* Like pwd_find_run, but NULL with the reason in why when no run or more than one
 * run (of different roots) has that name: a path always names one run. */
pwd_run *pwd_find_run_unique(pwd_daemon *d, const char *name_or_path, char *why, size_t whylen);

/* watch.c */
int pwd_watch_start(pwd_daemon *d);
void pwd_watch_rescan(pwd_daemon *d);
/* Scan the runs that want it (and look for new ones) in ms; see watch.c. */
void pwd_watch_kick(pwd_daemon *d, uint64_t ms);
/* After a reload: watch new roots, stop watching dropped ones (their runs stay
 * until the next start), apply new rescan and settle intervals. */
void pwd_watch_reload(pwd_daemon *d);
void pwd_watch_stop(pwd_daemon *d); /* close handles (loop thread) */
void pwd_watch_free(pwd_daemon *d); /* free runs and roots (after the loop ended) */
/* The directory below which the run's files are opened without following
 * symlinks (pw_beneath.h), or NULL when follow_symlinks = yes. */
const char *pwd_run_beneath(const pwd_daemon *d, const pwd_run *r);

/* run.c -- the run model: a run's checkpoints in step order and its final step. */
/* The run whose directory is the absolute path abs, or NULL. */
pwd_run *pwd_run_by_path(pwd_daemon *d, const char *abs);
/* Add the run at absolute path abs (not known yet) with what the database
 * stored for it; base_dir: the root it was found in, NULL for its own; root
 * and rel: its identity in the store (pw_db_run_upsert_root), the root's name
 * and the run's directory entry in it, or "" and abs for a run of its own.
 * NULL when out of memory or the database refused. */
pwd_run *pwd_run_add(pwd_daemon *d, const char *abs, const char *base_dir, const char *root,
                     const char *rel);
void pwd_run_free(pwd_run *r); /* after the loop ended */
/* Make step the run's final checkpoint (source: "FINAL file", "final checkpoint", "socket"). */
void pwd_run_set_final(pwd_daemon *d, pwd_run *r, int64_t step, const char *source);
/* The highest step of a present checkpoint, -1 when none. */
int64_t pwd_run_last_step(const pwd_run *r);
/* The first index of ck whose step is >= step (binary search: ck is in step order). */
size_t pwd_run_step_index(const pwd_run *r, int64_t step);
/* The run's entry for step, NULL when none. */
pwd_ckpt *pwd_run_find_step(pwd_run *r, int64_t step);
/* The checkpoint whose file is path (ck_index names the live one when a
 * deleted entry kept the same path), NULL when none. */
pwd_ckpt *pwd_run_find_path(pwd_run *r, const char *path);
/* Insert a fresh entry for step (none yet) in step order; NULL when out of memory. */
pwd_ckpt *pwd_run_insert_ckpt(pwd_run *r, int64_t step, const char *path);
/* A shared store's claim was just taken: read what the store holds of the run (its
 * final step, checkpoints, stored pairs; the series at the next use), so work another
 * daemon stored is not done again.  -1 (logged) when the database cannot be read. */
int pwd_run_sync(pwd_daemon *d, pwd_run *r);

/* retain.c -- compact copies of checkpoints (docs/DAEMON.md, "Retention"). */
typedef struct pwd_retain pwd_retain;
/* What a compute thread retains: one checkpoint just read. */
typedef struct pwd_retain_req {
    int64_t run_id;       /* runs.id: the copy's directory */
    const char *run_name; /* for messages */
    int64_t step;         /* the checkpoint's step */
    const char *ident;    /* its identity, recorded in the copy */
    int mode;             /* pw_retain_mode of the run */
    uint64_t budget;      /* retain_budget_mb in bytes */
    int64_t final_step;   /* the run's final step (-1 none): its copy is never evicted */
} pwd_retain_req;
/* Resolve the directory, remove unfinished copies, index the rest (before compute threads). */
int pwd_retain_start(pwd_daemon *d);
void pwd_retain_free(pwd_daemon *d); /* after the compute threads are joined */
/* A run's stored state was loaded: drop copies of steps without a readable stored row. */
void pwd_retain_run_loaded(pwd_daemon *d, const pwd_run *r);
/* Compute thread: write x's copy as q says, evicting within the budget; any older copy of
 * the step is dropped, also when x is NULL (unreadable) or the mode is off.  Never fails
 * the caller: problems are logged. */
void pwd_retain_store(pwd_retain *rt, const pwd_retain_req *q, const pw_ckpt *x,
                      pw_retain_cancel_fn cancel, void *cancel_ctx);
/* Compute thread: open the copy of (run, step) made from the checkpoint identity ident.
 * *cache_ident gets the key its cached factorizations go under (heap).  -1 when none. */
int pwd_retain_open(pwd_retain *rt, int64_t run, int64_t step, const char *ident, pw_ckpt **out,
                    char **cache_ident);

/* What is retained (`status`, /metrics). */
typedef struct pwd_retain_stats {
    uint64_t copies;             /* complete copies on disk */
    uint64_t bytes;              /* their size */
    uint64_t evictions;          /* copies evicted for the budget since start (all runs) */
    char last_error[PW_ERR_MAX]; /* latest copy not made or unreadable since start, "" none */
} pwd_retain_stats;
/* Bit 1 << mode for every mode other than off that cfg gives the defaults or a [run]. */
unsigned pwd_retain_modes(const pw_config *cfg);
/* The retain directory ("" before pwd_retain_start). */
const char *pwd_retain_dir(const pwd_retain *rt);
/* Copies and bytes of one run (run >= 0) or of all (run -1), with the daemon-wide
 * evictions and last error; any thread.  Zero when rt is NULL. */
void pwd_retain_usage(pwd_retain *rt, int64_t run, pwd_retain_stats *out);

/* scheduler.c */
int pwd_sched_start(pwd_daemon *d);
/* Queue every missing pair of a run. */
void pwd_sched_plan(pwd_daemon *d, pwd_run *r);
size_t pwd_sched_queue_length(pwd_daemon *d);
/* Hand out work now if a thread is free (share.c, after a heartbeat). */
void pwd_sched_kick(pwd_daemon *d);
/* What the compute threads do now, one line ("" when idle), for the daemons table. */
void pwd_sched_job_text(pwd_daemon *d, char *buf, size_t len);
/* pwcca rescore: recompute the run's stored pairs (both references) of steps >= from
 * with its current settings, deciding reduce = auto again from there.  Returns the
 * pairs queued, or -1 with why filled when the database refused. */
int64_t pwd_sched_rescore(pwd_daemon *d, pwd_run *r, int64_t from, char *why, size_t whylen);
/* Jobs planned whose result the loop has not handled yet (loop thread, no lock). */
size_t pwd_sched_outstanding(const pwd_daemon *d);
void pwd_sched_stop(pwd_daemon *d); /* ask threads to stop (loop thread, any time) */
/* After a reload: the cache budget applies at once; a new thread count or
 * BLAS thread count once the running jobs finish (loop thread). */
void pwd_sched_reconfigure(pwd_daemon *d, int workers, int blas_threads, uint64_t cache_bytes);
void pwd_sched_join(pwd_daemon *d); /* wait for them and free (after the loop ended) */
/* Where a run stands now (loop thread). */
typedef struct pwd_run_figures {
    size_t queue;     /* its jobs not finished: wanted, queued or running */
    double last_s;    /* compute seconds of its last job, NAN before the first */
    double mean_s;    /* mean compute seconds per job, NAN before the first */
    double lag_s;     /* live lag of its newest live checkpoint, NAN none yet */
    int64_t lag_step; /* that checkpoint's step (when lag_s is a number) */
    double eta_s;     /* queue x mean_s: 0 with nothing queued, NAN without a mean */
    double job_s;     /* seconds its job on a compute thread has run, NAN when none runs */
} pwd_run_figures;
void pwd_sched_figures(pwd_daemon *d, const pwd_run *r, pwd_run_figures *out);
/* `status`: the run's figures as JSON members, to merge into its object. */
json_t *pwd_sched_run_json(pwd_daemon *d, const pwd_run *r);
/* `status`: {"working": [{run, path, step, ref, ref_step, layer, elapsed_s}...], "eta_s"}. */
json_t *pwd_sched_status_json(pwd_daemon *d);
/* After pwd_sched_stop: wait at most grace_s for the compute threads to return; how
 * many still run (inside a call nothing interrupts, such as LAPACK's). */
int pwd_sched_wait(pwd_daemon *d, double grace_s);

/* alerts.c */
int pwd_alerts_start(pwd_daemon *d);
/* A job's batch was committed (loop thread): update the run's series from
 * its previous-reference scores (seeding them from the database the first
 * time) and raise the alerts they cause. */
void pwd_alerts_commit(pwd_daemon *d, pwd_run *r, const pw_db_batch *b);
/* Replay the stability rules over the whole series (after a reload: the
 * parameters may have changed); raise new alerts. */
void pwd_alerts_evaluate(pwd_daemon *d, pwd_run *r);
/* Another daemon may have scored the run: its series is read again at the next use. */
void pwd_alerts_reload(pwd_run *r);
void pwd_alerts_stop(pwd_daemon *d);

/* control.c */
int pwd_control_start(pwd_daemon *d);
/* Send one JSON line (without the newline) to every subscriber. */
void pwd_control_broadcast(pwd_daemon *d, const char *line);
/* A JSON string of s; bytes that are not UTF-8 become '?' (names come from
 * directories and files, and jansson refuses to build anything else). */
json_t *pwd_json_text(const char *s);
void pwd_control_stop(pwd_daemon *d); /* close the socket (loop thread) */
void pwd_control_free(pwd_daemon *d); /* after the loop ended */

/* metrics.c -- every hook is a no-op when /metrics is not served. */
/* Listen on cfg.metrics_listen (when set); -1 with the reason logged. */
int pwd_metrics_start(pwd_daemon *d);
void pwd_metrics_stop(pwd_daemon *d); /* stop listening (loop thread) */
void pwd_metrics_free(pwd_daemon *d); /* after the loop ended */
/* (Re)read the run's newest scores and stable steps from the database. */
void pwd_metrics_run_load(pwd_daemon *d, pwd_run *r);
/* A job's batch was committed (loop thread), after seconds of computation. */
void pwd_metrics_commit(pwd_daemon *d, pwd_run *r, const pw_db_batch *b, double seconds);
/* The alert replay found the layer stable since step (-1: not stable). */
void pwd_metrics_stable(pwd_daemon *d, pwd_run *r, const char *layer, int64_t step);
/* An alert of this kind was raised (stored for the first time). */
void pwd_metrics_alert(pwd_daemon *d, const char *kind);
/* The run's stored chance levels, all of them, after a job stored some (loop thread). */
void pwd_metrics_chance(pwd_daemon *d, pwd_run *r, const pw_db_chance *c, size_t n);
/* Change counter of run r (NULL: of every run), polled by the dashboard; 0 when not served. */
uint64_t pwd_metrics_version(const pwd_daemon *d, const pwd_run *r);

/* web.c -- the dashboard (--http), on the metrics endpoint's listener. */
struct pwd_web;
/* Prepare the dashboard when cfg.http_listen is set (NULL when not, or on a
 * failure, which sets *failed and is logged). */
struct pwd_web *pwd_web_start(pwd_daemon *d, int *failed);
/* Log its address once the listener is up. */
void pwd_web_started(const pwd_daemon *d);
void pwd_web_free(struct pwd_web *w); /* after the loop ended */

/* groups.c -- run groups: cross-run scores (docs/DAEMON.md, "Run groups"). */
/* One cross pair: every layer of run a's checkpoint step_a against the same-named
 * layer of run b's step_b, stored in group_scores.  groups.c chooses it (loop),
 * scheduler.c fills in the files and computes it (a compute thread). */
typedef struct pwd_cross {
    char group[PW_GROUP_NAME_MAX];     /* the group */
    pwd_run *a, *b;                    /* loop-owned; a->id < b->id; workers do not touch them */
    int64_t run_a, run_b;              /* runs.id */
    int64_t step_a, step_b;            /* the two checkpoints (equal, or the two finals) */
    char *label;                       /* "GROUP: A:STEP vs B:STEP", for logs and status (heap) */
    char *name_a, *name_b;             /* run names (heap) */
    char *path_a, *path_b;             /* checkpoint files (heap) */
    char *ident_a, *ident_b;           /* cache identities (heap) */
    const char *beneath_a, *beneath_b; /* pwd_run_beneath of each run */
    unsigned metrics;                  /* PW_M_*: run a's setting */
    pw_reduce reduce;                  /* run a's reduce (auto resolved per layer pair) */
    uint64_t memory_bytes;             /* memory_mb when planned (0 = no limit) */
    /* Results, written by the worker. */
    int committed;        /* its rows are stored */
    int stopped;          /* abandoned because the daemon is stopping */
    int mismatch;         /* stored as probe_mismatch */
    int unchecked;        /* a side has no probe_fingerprint: compared on n alone */
    size_t nrows;         /* rows stored */
    char why[PW_ERR_MAX]; /* the probe_mismatch message, or the unchecked warning */
    pw_err err;           /* why it was not stored */
    int lease_lost;       /* the group's claim was no longer this daemon's: nothing stored */
    pwd_lease lease;      /* the group's claim it was handed out under */
} pwd_cross;
/* The next cross pair to compute (loop thread): after the run jobs, round robin
 * over the groups' run pairs; NULL when none is due.  Marked as handed out. */
pwd_cross *pwd_groups_next(pwd_daemon *d);
/* Its job came back (loop thread): stored, or tried again later; logs a probe
 * mismatch once per run pair.  Does not free it. */
void pwd_groups_finish(pwd_daemon *d, pwd_cross *x);
void pwd_cross_free(pwd_cross *x);
void pwd_groups_free(pwd_daemon *d); /* after the compute threads are joined */
/* Another daemon may have stored cross pairs: read the stored set again. */
void pwd_groups_reload(pwd_daemon *d);

/* share.c -- several daemons sharing one store (docs/DAEMON.md "Sharing the work").
 * Everything here is a no-op returning "held" unless pw_db_shared(d->db). */
/* Register in `daemons` and start the heartbeat (after the database opened). */
int pwd_share_start(pwd_daemon *d);
/* Stop the heartbeat (loop thread, with the other handles). */
void pwd_share_stop(pwd_daemon *d);
/* After the compute threads are joined: claims dropped, stopped_at written. */
void pwd_share_free(pwd_daemon *d);
/* Before feed hands out run jobs: claim runs that have work (r->want_claim) up to this
 * daemon's fair share, reading each newly claimed run's stored state first; release
 * runs beyond the share that have nothing in flight.  1 when anything changed (plan again). */
int pwd_share_balance(pwd_daemon *d);
/* The claim of r's unit is no longer ours (a commit was refused). */
void pwd_share_run_lost(pwd_daemon *d, pwd_run *r);
/* The claim r's jobs commit under; unit "" when the store is not shared. */
void pwd_share_lease(const pwd_daemon *d, const pwd_run *r, pwd_lease *out);
/* A group's cross pairs: 1 when this daemon holds (or just took) the group's claim,
 * *fresh 1 when just taken (the stored set must be read again); 0 when another has it. */
int pwd_share_group(pwd_daemon *d, const char *group, int *fresh, pwd_lease *out);
/* No cross pair is due or in flight: release the groups' claims. */
void pwd_share_groups_idle(pwd_daemon *d);
void pwd_share_group_lost(pwd_daemon *d, const char *group);
/* The daemon's rows of the store for `status` (NULL when unshared). */
json_t *pwd_share_status_json(pwd_daemon *d);

#endif
