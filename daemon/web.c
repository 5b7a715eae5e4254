/* web.c -- the daemon's dashboard (--http ADDR:PORT, http_listen).
 *
 * The dashboard shares the /metrics endpoint's listener and its libh2o
 * server (lib/pw_metrics_http.c): one HTTP stack, one set of connection
 * caps and deadlines.  --http alone serves both the dashboard and /metrics;
 * --metrics alone serves /metrics only, as before; both must then name the
 * same address, since the daemon has one listener.  metrics.c starts it
 * (pwd_web_start) just before the listener, and keeps the change counters
 * the pages poll (pwd_metrics_version).
 *
 * What this file adds to lib/pw_web.c is the daemon's view: a read-only
 * connection to the daemon's own database (WAL: the reads never block the
 * compute threads' commits), the access token read once at start, and per
 * run whether it is watched and how many checkpoints wait (settling, or
 * found and not stored yet) -- the live lag the runs page shows.
 *
 * The token file must belong to the daemon's user and be unreadable by
 * others (like an ssh key): a token anyone on the machine can read protects
 * nothing.  Its contents are never logged. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "pw_metrics_http.h"
#include "pw_web.h"

/* The dashboard's state, owned by metrics.c's endpoint. */
typedef struct pwd_web {
    pwd_daemon *d; /* owner */
    pw_query *q;   /* read-only connection to the daemon's database */
    pw_web *web;   /* routes and rendering */
} pwd_web;

static void live(void *ctx, const char *path, pw_web_live *out)
{
    pwd_web *w = ctx;
    int64_t i;
    if (!pw_strmap_get(&w->d->run_index, path, &i) || i < 0 || (size_t)i >= w->d->nruns) {
        out->version = 1; /* not watched: its data does not change while this daemon runs */
        return;
    }
    pwd_run *r = w->d->runs[i];
    out->watched = 1;
    int64_t waiting = (int64_t)r->npend - (int64_t)r->nignored;
    for (size_t k = 0; k < r->nck; k++)
        waiting += r->ck[k].present && !r->ck[k].processed && !r->ck[k].bad;
    out->pending = waiting > 0 ? waiting : 0;
    out->version = pwd_metrics_version(w->d, r);
}

static int handle(void *ctx, const pw_web_req *req, pw_web_res *res)
{
    return pw_web_handle(ctx, req, res);
}

static uint64_t version(void *ctx)
{
    pwd_web *w = ctx;
    return pwd_metrics_version(w->d, NULL);
}

/* The token: the file's first line, which must be the daemon user's alone. */
static int read_token(const char *path, char *tok, size_t cap)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        pwd_log(PWD_ERROR, "http_token_file %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & 077) || st.st_uid != geteuid()) {
        pwd_log(PWD_ERROR,
                "http_token_file %s: must be a regular file of this user that nobody else may "
                "read or write (chmod 600)",
                path);
        close(fd);
        return -1;
    }
    ssize_t n = read(fd, tok, cap - 1);
    close(fd);
    if (n < 0) {
        pwd_log(PWD_ERROR, "http_token_file %s: %s", path, strerror(errno));
        return -1;
    }
    tok[n] = '\0';
    tok[strcspn(tok, "\r\n")] = '\0';
    if (!tok[0]) {
        pwd_log(PWD_ERROR, "http_token_file %s: the first line is empty", path);
        return -1;
    }
    return 0;
}

/* Loopback: 127.0.0.0/8, ::1, or a bare port (127.0.0.1). */
static int loopback(const char *addr)
{
    return strncmp(addr, "127.", 4) == 0 || strncmp(addr, "[::1]", 5) == 0 ||
           strncmp(addr, "localhost:", 10) == 0 || strchr(addr, ':') == NULL;
}

struct pwd_web *pwd_web_start(pwd_daemon *d, int *failed)
{
    *failed = 0;
    const char *addr = d->cfg.http_listen;
    if (!addr[0])
        return NULL;
    if (d->cfg.metrics_listen[0] && strcmp(d->cfg.metrics_listen, addr) != 0) {
        pwd_log(PWD_ERROR,
                "metrics_listen (%s) and http_listen (%s) differ: the daemon has one HTTP "
                "listener, and --http serves /metrics too; drop --metrics or give both the "
                "same address",
                d->cfg.metrics_listen, addr);
        *failed = 1;
        return NULL;
    }
    char tok[PW_WEB_MAX_TOKEN + 2] = "";
    if (d->cfg.http_token_file[0] && read_token(d->cfg.http_token_file, tok, sizeof tok) != 0) {
        *failed = 1;
        return NULL;
    }
    pwd_web *w = calloc(1, sizeof *w);
    pw_err err = {""};
    if (!w) {
        pwd_log(PWD_ERROR, "out of memory starting the dashboard");
        *failed = 1;
        return NULL;
    }
    w->d = d;
    if (pw_query_open(d->db_path, &w->q, &err) != 0 ||
        pw_web_new(w->q, tok, loopback(addr), live, version, w, &w->web, &err) != 0) {
        pwd_log(PWD_ERROR, "dashboard: %s", err.msg);
        memset(tok, 0, sizeof tok);
        pwd_web_free(w);
        *failed = 1;
        return NULL;
    }
    if (!loopback(addr))
        pwd_log(PWD_WARNING,
                "the dashboard listens on %s, beyond this machine: anyone who can reach it "
                "reads every run's names, paths and scores%s (docs/DASHBOARD.md)",
                addr, tok[0] ? " unless they lack the token" : "; consider http_token_file");
    memset(tok, 0, sizeof tok);
    pw_metrics_http_set_web(handle, w->web);
    return w;
}

void pwd_web_started(const pwd_daemon *d)
{
    /* The address a browser on this machine opens: the one listened on, or
     * loopback for a bare port and for the any-address. */
    char host[PW_CFG_MAX_LISTEN] = "127.0.0.1";
    const char *a = d->cfg.http_listen, *colon = strrchr(a, ':');
    if (colon && (size_t)(colon - a) < sizeof host) {
        memcpy(host, a, (size_t)(colon - a));
        host[colon - a] = '\0';
    }
    if (strcmp(host, "0.0.0.0") == 0)
        strcpy(host, "127.0.0.1");
    else if (strcmp(host, "[::]") == 0)
        strcpy(host, "[::1]");
    pwd_log(PWD_INFO, "dashboard at http://%s:%d/%s", host, pw_metrics_http_port(),
            d->cfg.http_token_file[0] ? " (add ?token= with the token file's first line)" : "");
}

void pwd_web_free(struct pwd_web *w)
{
    if (!w)
        return;
    pw_metrics_http_set_web(NULL, NULL);
    pw_web_free(w->web);
    pw_query_close(w->q);
    free(w);
}
