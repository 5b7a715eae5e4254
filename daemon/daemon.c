/* daemon.c -- pwccad's lifecycle: start the parts, run the loop, stop cleanly.
 *
 * Start: open the database (migrating it), bind the control socket, start
 * the compute threads, load each run's stored state, scan, then tell
 * systemd READY=1.  SIGTERM / SIGINT: STOPPING=1, compute threads abandon
 * their current pair (nothing half-done is committed; the next start
 * computes it), handles close, threads are joined and the database closed;
 * a thread still inside LAPACK after PW_STOP_GRACE_S is not joined
 * (exit_leaving_threads), so a stop takes under 2 s on any layer.  SIGHUP:
 * reload the configuration file (flags still win), apply it -- roots,
 * thread counts (the pool is rebuilt between jobs) and the cache budget
 * included -- and rescan; the paths and the metrics address keep their
 * start-up values.  The /metrics endpoint (metrics.c), when configured, listens
 * before READY=1 (a port it cannot bind is fatal) and stops first on SIGTERM.
 *
 * Signals are caught by a plain sigaction handler installed before anything
 * else and never removed: it records the signal and wakes the loop through
 * an async handle (uv_async_send is async-signal-safe).  libuv's own signal
 * handles restore the default action when closed, so a second SIGTERM during
 * the stop -- systemd's and a user's, or two of a user's -- used to kill the
 * daemon mid-shutdown; here any number of them are one stop, and a signal that
 * arrives while the database is still opening stops the daemon as soon as the
 * loop runs.
 *
 * One daemon per database: before opening it, start takes pw_db_lock's lock
 * and refuses to run when another process holds it, naming its pid.  While
 * running, a timer checks that the database file is still the one at its
 * path: deleted (or replaced), everything stored would go to a file nobody
 * can read.  Then the daemon says so, stops cleanly (RELOADING=1, not
 * STOPPING=1, for systemd) and execs itself with the same arguments: the
 * new process opens -- creating and migrating -- the database at the path
 * and scores again every checkpoint still on disk, with the reason as its
 * last error.  Same pid, so systemd and pid files keep following it. */
#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"
#include "pw_paths.h"

#define STATUS_INTERVAL_MS 5000 /* how often systemd's STATUS= line is refreshed */
#define DB_CHECK_MS        1000 /* how often the database file is checked to be at its path */
#define DB_REOPEN_MIN_S    10.0 /* a reopened database gone again sooner is fatal, not a loop */

double pwd_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void pwd_set_error(pwd_daemon *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->last_error, sizeof d->last_error, fmt, ap);
    va_end(ap);
}

pwd_run *pwd_find_run(pwd_daemon *d, const char *name_or_path)
{
    char abs[PW_PATH_MAX];
    const char *p = realpath(name_or_path, abs) ? abs : name_or_path;
    for (size_t i = 0; i < d->nruns; i++)
        if (strcmp(d->runs[i]->path, p) == 0 || strcmp(d->runs[i]->name, name_or_path) == 0)
            return d->runs[i];
    return NULL;
}

pwd_run *pwd_find_run_unique(pwd_daemon *d, const char *name_or_path, char *why, size_t whylen)
{
    char abs[PW_PATH_MAX];
    const char *p = realpath(name_or_path, abs) ? abs : name_or_path;
    /* A path names one run; a bare name may be shared by runs of two roots. */
    for (size_t i = 0; i < d->nruns; i++)
        if (strcmp(d->runs[i]->path, p) == 0)
            return d->runs[i];
    pwd_run *found = NULL;
    size_t n = 0, off = 0;
    for (size_t i = 0; i < d->nruns; i++) {
        if (strcmp(d->runs[i]->name, name_or_path) != 0)
            continue;
        found = d->runs[i];
        if (n++ == 0)
            off = (size_t)snprintf(why, whylen, "run name '%.256s' is ambiguous: name it by path (",
                                   name_or_path);
        if (off < whylen)
            off += (size_t)snprintf(why + off, whylen - off, "%s%s", n > 1 ? ", " : "",
                                    d->runs[i]->path);
    }
    if (n == 1)
        return found;
    if (n == 0)
        snprintf(why, whylen, "no run named '%.256s'", name_or_path);
    else if (off < whylen)
        snprintf(why + off, whylen - off, ")");
    return NULL;
}

static void notify_status(pwd_daemon *d)
{
    pwd_notify("STATUS=%zu run%s, %llu checkpoint%s stored, %llu failed, queue %zu", d->nruns,
               d->nruns == 1 ? "" : "s", (unsigned long long)d->done, d->done == 1 ? "" : "s",
               (unsigned long long)d->failed, pwd_sched_queue_length(d));
}

static void on_watchdog(uv_timer_t *t)
{
    pwd_daemon *d = t->data;
    pwd_notify("WATCHDOG=1");
    (void)d;
}

static void on_status(uv_timer_t *t)
{
    notify_status(t->data);
}

/* What the handler caught, as a bit per signal, and where to wake the loop
 * (NULL before the async handle exists and once it is closing). */
#define SIG_BIT_STOP   1u /* SIGTERM or SIGINT */
#define SIG_BIT_RELOAD 2u /* SIGHUP */
static atomic_uint caught_signals;
static _Atomic(uv_async_t *) signal_wakeup;

static void on_signal_caught(int signum)
{
    int saved_errno = errno;
    atomic_fetch_or(&caught_signals, signum == SIGHUP ? SIG_BIT_RELOAD : SIG_BIT_STOP);
    uv_async_t *wake = atomic_load(&signal_wakeup);
    if (wake)
        uv_async_send(wake);
    errno = saved_errno;
}

static int catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal_caught;
    sa.sa_flags = SA_RESTART;
    sigfillset(&sa.sa_mask);
    return sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL) ||
           sigaction(SIGHUP, &sa, NULL);
}

static void stop(pwd_daemon *d)
{
    if (d->stopping)
        return;
    d->stopping = 1;
    if (d->reopen) {
        /* Not STOPPING=1: systemd would take the exec that follows for a stop. */
        pwd_log(PWD_INFO, "stopping to reopen the database");
        pwd_notify("RELOADING=1");
    } else {
        pwd_log(PWD_INFO, "stopping");
        pwd_notify("STOPPING=1");
    }
    pwd_metrics_stop(d); /* closes its own handles, h2o's included, in the right order */
    pwd_sched_stop(d);
    pwd_watch_stop(d);
    pwd_control_stop(d);
    pwd_alerts_stop(d);
    pwd_share_stop(d);
    /* The handler stays: later signals only set a bit nobody reads. */
    atomic_store(&signal_wakeup, NULL);
    uv_close((uv_handle_t *)&d->sig_async, NULL);
    uv_close((uv_handle_t *)&d->watchdog_timer, NULL);
    uv_close((uv_handle_t *)&d->status_timer, NULL);
    uv_close((uv_handle_t *)&d->db_timer, NULL);
}

/* The database file was deleted or replaced under us (see the top of the file). */
static void on_db_check(uv_timer_t *t)
{
    pwd_daemon *d = t->data;
    if (d->stopping || !pw_db_moved(d->db))
        return;
    pwd_log(PWD_ERROR,
            "database %s was deleted or replaced while pwccad was running: what was stored "
            "since went to the old file, which nobody can read",
            d->db_path);
    if (d->db_reopened && pwd_now() - d->started < DB_REOPEN_MIN_S) {
        pwd_log(PWD_ERROR, "database %s vanished again right after it was reopened; stopping",
                d->db_path);
        pwd_daemon_fail(d);
        return;
    }
    d->reopen = 1;
    stop(d);
}

/* After the loop ended: exec ourselves to open the database at its path again.
 * Returns only on failure. */
static int reexec(pwd_daemon *d)
{
    struct stat st;
    if (stat(d->db_path, &st) != 0 && errno == ENOENT) {
        /* A WAL or shm left beside a deleted database is the old file's; SQLite
         * would replay it into the new one. */
        char side[sizeof d->db_path + 8];
        snprintf(side, sizeof side, "%s-wal", d->db_path);
        unlink(side);
        snprintf(side, sizeof side, "%s-shm", d->db_path);
        unlink(side);
    }
    char when[64] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm))
        strftime(when, sizeof when, " at %Y-%m-%dT%H:%M:%SZ", &tm);
    char why[sizeof d->db_path + 256];
    snprintf(why, sizeof why,
             "database %s was deleted or replaced%s; pwccad reopened it at that path: "
             "history stored before is gone, checkpoints still on disk are scored again",
             d->db_path, when);
    if (setenv(PWD_REOPEN_ENV, why, 1) == 0) /* the new process logs it */
        execv("/proc/self/exe", d->argv);
    pwd_log(PWD_ERROR, "cannot restart to reopen the database: %s", strerror(errno));
    return 1;
}

/* Flags beat the file: re-apply what the command line said. */
void pwd_apply_flags(pw_config *cfg, const pw_config *flags)
{
    if (flags->db[0])
        memcpy(cfg->db, flags->db, sizeof cfg->db);
    if (flags->socket[0])
        memcpy(cfg->socket, flags->socket, sizeof cfg->socket);
    if (flags->metrics_listen[0])
        memcpy(cfg->metrics_listen, flags->metrics_listen, sizeof cfg->metrics_listen);
    if (flags->http_listen[0])
        memcpy(cfg->http_listen, flags->http_listen, sizeof cfg->http_listen);
    if (flags->lease_s > 0)
        cfg->lease_s = flags->lease_s;
    if (flags->nwatch || flags->nruns) {
        memcpy(cfg->watch, flags->watch, sizeof cfg->watch);
        memcpy(cfg->watch_name, flags->watch_name, sizeof cfg->watch_name);
        memcpy(cfg->runs, flags->runs, sizeof cfg->runs);
        cfg->nwatch = flags->nwatch;
        cfg->nruns = flags->nruns;
    }
}

/* Keep what a reload cannot change in the running process, saying so once. */
static void keep_fixed(const pwd_daemon *d, pw_config *fresh)
{
    static const struct {
        const char *key;    /* as in the file */
        size_t offset, len; /* of the char array in pw_config */
    } fixed[] = {
        {"db", offsetof(pw_config, db), sizeof((pw_config *)0)->db},
        {"socket", offsetof(pw_config, socket), sizeof((pw_config *)0)->socket},
        {"metrics_listen", offsetof(pw_config, metrics_listen),
         sizeof((pw_config *)0)->metrics_listen},
        {"retain_dir", offsetof(pw_config, retain_dir), sizeof((pw_config *)0)->retain_dir},
        {"http_listen", offsetof(pw_config, http_listen), sizeof((pw_config *)0)->http_listen},
        {"http_token_file", offsetof(pw_config, http_token_file),
         sizeof((pw_config *)0)->http_token_file},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        char *now = (char *)fresh + fixed[i].offset;
        const char *was = (const char *)&d->cfg + fixed[i].offset;
        if (strcmp(now, was) != 0)
            pwd_log(PWD_WARNING, "reload: %s changes take effect at the next start", fixed[i].key);
        memcpy(now, was, fixed[i].len);
    }
}

void pwd_daemon_fail(pwd_daemon *d)
{
    d->exit_code = 1;
    stop(d);
}

static void reload(pwd_daemon *d)
{
    pwd_log(PWD_INFO, "SIGHUP: reloading configuration and rescanning");
    if (d->config_path[0]) {
        pw_config fresh;
        pw_err err;
        pw_config_defaults(&fresh);
        if (pw_config_load(&fresh, d->config_path, &err)) {
            pwd_log(PWD_ERROR, "%s; keeping the previous configuration", err.msg);
            pwd_set_error(d, "%s", err.msg);
            pw_config_free(&fresh);
        } else {
            pwd_apply_flags(&fresh, &d->flags);
            /* Paths and the listening address are fixed for the process
             * lifetime: the sandbox, the clients and Prometheus know them. */
            keep_fixed(d, &fresh);
            pw_config_free(&d->cfg);
            d->cfg = fresh;
            pwd_log_set_level(d->cfg.log_level);
            pwd_sched_reconfigure(d, d->cfg.workers, d->cfg.blas_threads, d->cfg.cache_bytes);
            pwd_watch_reload(d);
        }
    }
    pwd_watch_rescan(d);
    for (size_t i = 0; i < d->nruns; i++)
        pwd_alerts_evaluate(d, d->runs[i]);
}

static void on_signal(uv_async_t *h)
{
    pwd_daemon *d = h->data;
    unsigned got = atomic_exchange(&caught_signals, 0);
    if (got & SIG_BIT_STOP)
        stop(d);
    else if ((got & SIG_BIT_RELOAD) && !d->stopping)
        reload(d);
}

/* Before anything but the wakeup handle is open: close it and give up. */
static int fail_early(pwd_daemon *d)
{
    atomic_store(&signal_wakeup, NULL);
    uv_close((uv_handle_t *)&d->sig_async, NULL);
    uv_run(d->loop, UV_RUN_DEFAULT);
    uv_loop_close(d->loop);
    return 1;
}

/* The stop, when compute threads are still inside a call nothing interrupts (LAPACK on
 * a big layer) after PW_STOP_GRACE_S: they are not joined.  Nothing of theirs is
 * committed -- they commit only a whole checkpoint, after checking the stop flag, and
 * SQLite's transaction covers a process that ends mid-commit -- so the pair is computed
 * again at the next start.  The loop's own connection is closed and the lock released
 * as on a normal stop; what the threads may still touch (cache, retained copies, runs)
 * is left to the process's end, which _exit makes immediate: exit()'s handlers (the BLAS
 * library's among them) must not run under a thread that is inside that library. */
static int exit_leaving_threads(pwd_daemon *d, int stuck, int rc)
{
    pwd_log(PWD_INFO,
            "not waiting for %d compute thread%s inside a long computation: its pair is not "
            "stored and is computed again at the next start",
            stuck, stuck == 1 ? "" : "s");
    pwd_control_free(d);
    pwd_share_free(d);
    pw_db_close(d->db);
    d->db = NULL;
    pw_db_unlock(d->db_lock_fd);
    d->db_lock_fd = -1;
    if (d->reopen && !rc && !(atomic_load(&caught_signals) & SIG_BIT_STOP))
        return reexec(d); /* exec ends the other threads as well */
    pwd_log(PWD_INFO, "stopped");
    fflush(stdout);
    fflush(stderr);
    _exit(rc);
}

int pwd_daemon_run(pwd_daemon *d)
{
    pw_err err;
    uv_loop_t *loop = uv_default_loop();
    d->loop = loop;
    loop->data = d;
    d->started = pwd_now();
    pwd_log_set_level(d->cfg.log_level);
    signal(SIGPIPE, SIG_IGN);
    uv_async_init(loop, &d->sig_async, on_signal);
    d->sig_async.data = d;
    atomic_store(&signal_wakeup, &d->sig_async);
    if (catch_signals() != 0) {
        pwd_log(PWD_ERROR, "cannot install the signal handlers: %s", strerror(errno));
        return fail_early(d);
    }
    /* Before the database is opened, so a second daemon does not even migrate it. */
    if (pw_db_lock(d->db_path, &d->db_lock_fd, &err)) {
        pwd_log(PWD_ERROR, "%s", err.msg);
        return fail_early(d);
    }
    int dbrc = pw_db_open(&d->db, d->db_path, PW_DB_LOOP_BUSY_MS, PW_DB_LOOP_RETRIES, &err);
    if (dbrc != 0) {
        pwd_log(PWD_ERROR, "%s", err.msg);
        pw_db_unlock(d->db_lock_fd);
        fail_early(d);
        /* A newer schema stays newer: a distinct status the units do not restart on. */
        return dbrc == PW_DB_TOO_NEW ? PWD_EXIT_DB_TOO_NEW : 1;
    }
    char shown[PW_PATH_MAX];
    pw_paths_display(d->db_path, shown, sizeof shown); /* a URI's password stays out of logs */
    pwd_log(PWD_INFO, "pwccad %s, database %s", PW_VERSION, shown);
    const char *why = getenv(PWD_REOPEN_ENV);
    if (why) {
        d->db_reopened = 1;
        pwd_set_error(d, "%s", why);
        pwd_log(PWD_WARNING, "%s", why);
        unsetenv(PWD_REOPEN_ENV); /* not the hook's business */
    }
    int rc = 0;
    /* The retain store before the compute threads, which read and write it. */
    if (pwd_control_start(d) || pwd_retain_start(d) || pwd_sched_start(d) || pwd_alerts_start(d) ||
        pwd_metrics_start(d) || pwd_share_start(d)) {
        rc = 1;
        d->stopping = 1;
        pwd_metrics_stop(d);
        pwd_sched_stop(d);
        pwd_control_stop(d);
        pwd_alerts_stop(d);
        atomic_store(&signal_wakeup, NULL);
        uv_close((uv_handle_t *)&d->sig_async, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
        goto out;
    }
    uv_timer_init(loop, &d->watchdog_timer);
    d->watchdog_timer.data = d;
    uint64_t wd = pwd_notify_watchdog_ms();
    if (wd)
        uv_timer_start(&d->watchdog_timer, on_watchdog, wd, wd);
    uv_timer_init(loop, &d->status_timer);
    d->status_timer.data = d;
    uv_timer_start(&d->status_timer, on_status, STATUS_INTERVAL_MS, STATUS_INTERVAL_MS);
    uv_timer_init(loop, &d->db_timer);
    d->db_timer.data = d;
    uv_timer_start(&d->db_timer, on_db_check, DB_CHECK_MS, DB_CHECK_MS);
    if (pwd_watch_start(d)) {
        pwd_log(PWD_ERROR, "out of memory starting the watchers");
        rc = 1;
        stop(d);
    } else {
        pwd_notify("READY=1");
        notify_status(d);
        pwd_log(PWD_INFO, "ready: %zu run%s", d->nruns, d->nruns == 1 ? "" : "s");
    }
    uv_run(loop, UV_RUN_DEFAULT);
out:;
    int stuck = pwd_sched_wait(d, PW_STOP_GRACE_S);
    if (stuck > 0)
        return exit_leaving_threads(d, stuck, rc ? rc : d->exit_code);
    pwd_sched_join(d);
    pwd_retain_free(d); /* after the compute threads are joined */
    pwd_metrics_free(d);
    pwd_watch_free(d);
    pwd_control_free(d);
    pwd_share_free(d);
    pw_db_close(d->db);
    d->db = NULL;
    pw_db_unlock(d->db_lock_fd);
    d->db_lock_fd = -1;
    if (uv_loop_close(loop) != 0)
        pwd_log(PWD_DEBUG, "loop closed with handles still open");
    /* A stop signal that came during the reopen's stop wins: no exec. */
    if (d->reopen && !rc && !d->exit_code && !(atomic_load(&caught_signals) & SIG_BIT_STOP))
        return reexec(d);
    pwd_log(PWD_INFO, "stopped");
    return rc ? rc : d->exit_code;
}
