/* pw_config.h -- pwccad's configuration: defaults, the INI file, per-run overrides.
 *
 * The file is INI (parsed by Debian's libinih); every key, its default and
 * its meaning are in docs/CONFIG.md, and examples/pwccad.conf shows them all.
 * Keys live in a [pwccad] section (or before any section); a [run NAME]
 * section overrides the per-run keys for the run whose directory basename or
 * absolute path is NAME.  An unknown key or section, or a bad value, is an
 * error naming file:line.  Command-line flags are applied after the file. */
#ifndef PW_CONFIG_H
#define PW_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "pw_error.h"
#include "pw_limits.h"
#include "pw_noise.h"
#include "pw_reduce.h"
#include "pw_stability.h"

#define PW_CFG_MAX_PATH 4096 /* bytes in a path value, NUL included */
#define PW_CFG_MAX_LIST 64   /* watch roots / runs / hook argv entries */
#define PW_CFG_MAX_RUNS 256  /* [run NAME] sections */

#define PW_CFG_MAX_LISTEN 64 /* bytes in metrics_listen, NUL included ("[IPV6]:PORT" fits) */

/* What a [run NAME] section may override. */
typedef struct pw_run_config {
    char name[PW_CFG_MAX_PATH]; /* run basename or absolute path ("" for the defaults) */
    char pattern[256];          /* fnmatch glob checkpoint names must match ("" = any) */
    double settle_s;            /* seconds size and mtime must stay unchanged */
    double incomplete_s;        /* seconds an unchanging, still incomplete file waits before it is
                                   recorded as a read error */
    unsigned metrics;           /* PW_M_* bits computed */
    pw_stab_params stab;        /* alert thresholds */
    int retain;                 /* pw_retain_mode of copies kept (-1: an override leaves it) */
    pw_reduce reduce;           /* reduced mode for wide layers (pw_reduce.h; default auto) */
    int reduce_set;             /* an override: 1 when its section set reduce */
    int backlog; /* pw_plan_backlog: fill or skip what the live series passes over (-1: unset) */
    pw_noise_mode noise; /* standard errors (pw_noise.h; default off) */
    int noise_set;       /* an override: 1 when its section set noise */
    int chance;          /* 1: a chance level per layer (pw_chance.h; default on), 0: none
                            (-1: an override leaves it) */
} pw_run_config;

/* A [group NAME] section: runs whose cross-run scores the daemon stores
 * (docs/DAEMON.md, "Run groups"). */
typedef struct pw_group_config {
    char name[PW_GROUP_NAME_MAX];                      /* the section's NAME */
    char globs[PW_GROUP_MAX_GLOBS][PW_GROUP_GLOB_MAX]; /* fnmatch globs on run names ("*": all) */
    size_t nglobs;                                     /* entries in globs */
} pw_group_config;

typedef struct pw_config {
    char db[PW_CFG_MAX_PATH];                     /* database path ("" = default resolution) */
    char socket[PW_CFG_MAX_PATH];                 /* socket path ("" = default resolution) */
    char metrics_listen[PW_CFG_MAX_LISTEN];       /* /metrics ADDR:PORT ("" = not served) */
    char watch[PW_CFG_MAX_LIST][PW_CFG_MAX_PATH]; /* roots whose subdirectories are runs */
    size_t nwatch;                                /* entries in watch */
    char runs[PW_CFG_MAX_LIST][PW_CFG_MAX_PATH];  /* directories that are runs */
    size_t nruns;                                 /* entries in runs */
    double rescan_s;                              /* periodic rescan interval */
    double lease_s;        /* shared store: claims' lease, seconds (0: PW_CFG_DEFAULT_LEASE_S) */
    int workers;           /* compute threads (0 = auto) */
    int blas_threads;      /* BLAS threads per worker (0 = cores / workers) */
    uint64_t cache_bytes;  /* budget of cached per-layer factorizations */
    uint64_t memory_bytes; /* one comparison's memory budget (0 = none) */
    char retain_dir[PW_CFG_MAX_PATH];            /* retained copies ("" = beside the database) */
    uint64_t retain_budget_bytes;                /* disk budget of all retained copies */
    char hook[PW_CFG_MAX_LIST][PW_CFG_MAX_PATH]; /* alert hook argv ("" = none) */
    size_t nhook;                                /* entries in hook */
    double hook_timeout_s;                       /* the hook is killed after this */
    double socket_idle_s;                        /* idle socket connections close after this */
    int log_level;                               /* 0 error .. 3 debug */
    pw_run_config defaults;                      /* per-run values unless overridden */
    pw_run_config *overrides;                    /* [run NAME] sections, heap */
    size_t noverrides;                           /* entries in overrides */
    /* each watch root's name, runs.root of its runs: NAME= or the directory's basename */
    char watch_name[PW_CFG_MAX_LIST][PW_ROOT_NAME_MAX];
    int follow_symlinks; /* 1: follow symlinks found in watch roots (default 0: never) */
    char http_listen[PW_CFG_MAX_LISTEN];   /* dashboard ADDR:PORT ("" = not served) */
    char http_token_file[PW_CFG_MAX_PATH]; /* the dashboard's access token ("" = none) */
    pw_group_config groups[PW_MAX_GROUPS]; /* [group NAME] sections, in file order */
    size_t ngroups;                        /* entries in groups */
} pw_config;

/* Defaults (docs/CONFIG.md). */
#define PW_CFG_DEFAULT_SETTLE_S     2.0
#define PW_CFG_DEFAULT_INCOMPLETE_S 60.0
#define PW_CFG_DEFAULT_RESCAN_S     5.0
#define PW_CFG_DEFAULT_LEASE_S      30.0 /* a silent daemon's claims are free after this */
#define PW_CFG_MIN_LEASE_S          2.0  /* heartbeats every lease/3: not faster than this */
#define PW_CFG_MAX_LEASE_S          3600.0
#define PW_CFG_DEFAULT_CACHE_MB     1024
#define PW_CFG_DEFAULT_HOOK_TIMEOUT 30.0
#define PW_CFG_DEFAULT_SOCK_IDLE_S  30.0
#define PW_CFG_DEFAULT_RETAIN_MB    4096
/* Per compute thread: a pair whose estimate (pw_engine_estimate) is larger is
 * stored as over_budget.  4 GiB admits two layers of ~5000 neurons each with
 * every metric, and fits a worker beside a training job on common machines. */
#define PW_CFG_DEFAULT_MEMORY_MB 4096
/* One BLAS thread: pwccad shares the machine with training jobs, and OpenBLAS
 * threads that spin-yield against busy cores made a checkpoint 3x slower in
 * bench/bench_daemon.sh on a loaded 2-core box.  0 = cores / workers. */
#define PW_CFG_DEFAULT_BLAS_THREADS 1

/* Fill every field with its default. */
void pw_config_defaults(pw_config *c);
/* Read an INI file over the current values.  On error the message names file:line. */
int pw_config_load(pw_config *c, const char *path, pw_err *err);
/* Read INI text (name is used in messages).  Same rules as pw_config_load. */
int pw_config_load_string(pw_config *c, const char *name, const char *text, pw_err *err);
/* Set one key as the file would ([pwccad] section); used by tests and flags. */
int pw_config_set(pw_config *c, const char *key, const char *value, pw_err *err);
/* The effective per-run values for a run (basename and absolute path). */
const pw_run_config *pw_config_for_run(const pw_config *c, const char *name, const char *path);
/* Free the overrides. */
void pw_config_free(pw_config *c);
/* 0 when name is an acceptable group name: 1 to PW_GROUP_NAME_MAX - 1 bytes of
 * letters, digits, '.', '_' and '-', not starting with '.' or '-'; else -1 with err. */
int pw_group_name_check(const char *name, pw_err *err);
/* 0 when name is an acceptable explicit watch root name (`watch = NAME=DIR`): the
 * same rule as a group name's, up to PW_ROOT_NAME_MAX - 1 bytes; else -1 with err. */
int pw_root_name_check(const char *name, pw_err *err);
/* 1 when the run named run_name (a directory's basename) belongs to group g:
 * one of its globs matches the whole name (fnmatch, no flags). */
int pw_group_has_run(const pw_group_config *g, const char *run_name);
/* The configured group called name, NULL when none. */
const pw_group_config *pw_config_group(const pw_config *c, const char *name);
/* Parse "log level" names: error, warning, info, debug. -1 when unknown. */
int pw_config_log_level(const char *name);

#endif
