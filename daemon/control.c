/* control.c -- the control socket: newline-delimited JSON (docs/protocol.md).
 *
 * Each line, of at most PW_SOCK_MAX_REQUEST bytes, is read into the client's
 * fixed buffer and parsed and validated by lib/pw_request.c; anything
 * malformed gets an error response and the connection goes on (an oversized
 * line closes it after the error, since the rest of that line cannot be
 * resynchronised, and a client never costs more than its buffer).
 * Everything runs on the loop thread and no request does heavy work, so
 * the socket answers promptly while compute threads are busy.
 *
 * The socket is shared by every local user allowed to connect, so no
 * connection may cost the daemon more than a bounded share (docs/DAEMON.md,
 * "Security model"):
 *   - answers a client does not read queue in libuv; once more than
 *     PW_SOCK_PAUSE_PENDING bytes wait, its further requests are left unread
 *     (in its line buffer and the kernel's socket buffer) until the queue
 *     drains to half of that: backpressure, so a client that writes requests
 *     and never reads costs a fixed amount, not one answer per request;
 *   - a connection with more than PW_SOCK_MAX_PENDING bytes queued (a
 *     subscriber that stopped reading its events) is closed and logged;
 *   - a connection that sent no complete request and took none of its
 *     output for socket_idle_timeout seconds is closed: idle ones quietly,
 *     ones whose output waits unread with a warning.  A subscriber with
 *     nothing queued is waiting for events, not idle, and stays;
 *   - at PW_SOCK_MAX_CLIENTS a new connection closes the connection idle
 *     the longest (no output queued, not a subscriber) instead of being
 *     refused, and at most PW_SOCK_MAX_SUBSCRIBERS may subscribe, so idle
 *     or subscribed connections can never lock a fresh client out. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "pw_limits.h"
#include "pw_name.h"
#include "pw_paths.h"
#include "pw_request.h"

#define SWEEP_MIN_MS 100  /* the idle sweep runs at most this often */
#define SWEEP_MAX_MS 1000 /* and at least this often */

typedef struct client {
    uv_pipe_t pipe;                    /* the connection */
    struct pwd_control *ctl;           /* owner */
    struct client *next;               /* list link */
    char buf[PW_SOCK_MAX_REQUEST + 1]; /* unhandled request bytes */
    size_t len;                        /* bytes in buf */
    size_t scanned;                    /* leading bytes of buf known to hold no newline */
    double last_active;                /* last complete request or output taken by the peer */
    long uid;                          /* peer's uid (SO_PEERCRED), -1 unknown: for log lines */
    long pid;                          /* peer's pid, -1 unknown */
    int subscribed;                    /* receives events */
    int paused;                        /* reading stopped: output over PW_SOCK_PAUSE_PENDING */
    int closing;                       /* uv_close was called */
    int shutting;                      /* uv_shutdown was called: no more writes */
} client;

typedef struct pwd_control {
    pwd_daemon *d;      /* owner */
    uv_pipe_t server;   /* listening socket */
    uv_timer_t sweep;   /* closes idle and stalled connections */
    client *clients;    /* connected, including those closing */
    size_t nclients;    /* entries in clients */
    size_t nsubscribed; /* entries with subscribed set */
    int stopped;        /* pwd_control_stop was called */
} pwd_control;

typedef struct write_req {
    uv_write_t req; /* libuv request */
    client *cl;     /* the connection written to (valid until this callback) */
    char *data;     /* owned bytes */
} write_req;

static void process_lines(client *cl);
static void client_close(client *cl);

/* Output bytes libuv holds for the connection (the kernel would not take them yet). */
static size_t pending(client *cl)
{
    return uv_stream_get_write_queue_size((uv_stream_t *)&cl->pipe);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

static void on_written(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    client *cl = w->cl;
    free(w->data);
    free(w);
    /* libuv calls back (with UV_ECANCELED) before the close callback, so cl is valid. */
    if (cl->closing)
        return;
    if (status != 0) { /* the peer went away (EPIPE): a paused reader would not notice */
        client_close(cl);
        return;
    }
    cl->last_active = pwd_now();
    /* Resume a paused connection once half of the threshold has drained, so
     * it does not flip between reading and not reading on every line. */
    if (cl->paused && !cl->shutting && pending(cl) <= PW_SOCK_PAUSE_PENDING / 2) {
        cl->paused = 0;
        process_lines(cl);
        if (!cl->paused && !cl->closing && !cl->shutting)
            uv_read_start((uv_stream_t *)&cl->pipe, alloc_cb, on_read);
    }
}

static void on_client_closed(uv_handle_t *h)
{
    client *cl = h->data;
    pwd_control *ctl = cl->ctl;
    for (client **pp = &ctl->clients; *pp; pp = &(*pp)->next)
        if (*pp == cl) {
            *pp = cl->next;
            break;
        }
    ctl->nclients--;
    if (cl->subscribed)
        ctl->nsubscribed--;
    free(cl);
}

static void client_close(client *cl)
{
    if (cl->closing)
        return;
    cl->closing = 1;
    uv_close((uv_handle_t *)&cl->pipe, on_client_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    client *cl = req->handle->data;
    (void)status;
    free(req);
    client_close(cl); /* no-op when stopping already closed it */
}

/* Close after what was queued reached the peer (uv_close would drop it). */
static void client_close_after_flush(client *cl)
{
    if (cl->closing || cl->shutting)
        return;
    uv_shutdown_t *req = malloc(sizeof *req);
    if (!req || uv_shutdown(req, (uv_stream_t *)&cl->pipe, on_shutdown) != 0) {
        free(req);
        client_close(cl);
        return;
    }
    cl->shutting = 1;
}

/* Queue line + '\n' to a client; a client with more than PW_SOCK_MAX_PENDING
 * bytes already waiting is closed instead. */
static void send_line(client *cl, const char *line)
{
    if (cl->closing || cl->shutting)
        return;
    size_t queued = pending(cl);
    if (queued > PW_SOCK_MAX_PENDING) {
        pwd_log(PWD_WARNING,
                "control socket: closing the connection of uid %ld pid %ld: %zu bytes of "
                "output wait unread (limit %u)",
                cl->uid, cl->pid, queued, (unsigned)PW_SOCK_MAX_PENDING);
        client_close(cl);
        return;
    }
    size_t n = strlen(line);
    write_req *w = malloc(sizeof *w);
    char *data = malloc(n + 2);
    if (!w || !data) {
        free(w);
        free(data);
        client_close(cl);
        return;
    }
    snprintf(data, n + 2, "%s\n", line);
    w->cl = cl;
    w->data = data;
    uv_buf_t b = uv_buf_init(data, (unsigned)(n + 1));
    if (uv_write(&w->req, (uv_stream_t *)&cl->pipe, &b, 1, on_written) != 0) {
        free(data);
        free(w);
        client_close(cl);
    }
}

static void send_json(client *cl, json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    send_line(cl, s ? s : "{\"ok\":false,\"error\":\"out of memory\"}");
    free(s);
    json_decref(o);
}

/* The message may quote run names and paths from disk, which need not be
 * UTF-8; a JSON string must be, so such bytes are shown as '?'. */
static void send_error(client *cl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void send_error(client *cl, const char *fmt, ...)
{
    char msg[PW_ERR_MAX], shown[PW_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pw_name_printable_utf8(shown, sizeof shown, msg, strlen(msg));
    send_json(cl, json_pack("{s:b, s:s}", "ok", 0, "error", shown));
}

/* A JSON string for s; bytes that are not UTF-8 (a directory name can hold
 * any) become '?' instead of failing the whole response. */
json_t *pwd_json_text(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    size_t n = strlen(s);
    char *shown = malloc(n + 4);
    if (!shown)
        return NULL;
    pw_name_printable_utf8(shown, n + 4, s, n);
    j = json_string(shown);
    free(shown);
    return j;
}

void pwd_control_broadcast(pwd_daemon *d, const char *line)
{
    pwd_control *ctl = d->control;
    if (!ctl || ctl->stopped)
        return;
    for (client *cl = ctl->clients; cl; cl = cl->next) {
        if (!cl->subscribed || cl->closing || cl->shutting)
            continue;
        send_line(cl, line); /* closes a subscriber that stopped reading */
    }
}

/* The `retention` object: what is configured and what is held (docs/protocol.md). */
static json_t *retention_json(pwd_daemon *d)
{
    pwd_retain_stats st;
    pwd_retain_usage(d->retain, -1, &st);
    unsigned on = pwd_retain_modes(&d->cfg);
    json_t *modes = json_array();
    for (int m = PW_RETAIN_EXACT; m <= PW_RETAIN_BF16 && modes; m++)
        if (on & (1u << m))
            json_array_append_new(modes, json_string(pw_retain_mode_name((pw_retain_mode)m)));
    return json_pack("{s:o, s:o, s:I, s:I, s:I, s:I, s:o}", "modes", modes ? modes : json_array(),
                     "dir", pwd_json_text(pwd_retain_dir(d->retain)), "budget_bytes",
                     (json_int_t)d->cfg.retain_budget_bytes, "bytes", (json_int_t)st.bytes,
                     "copies", (json_int_t)st.copies, "evictions", (json_int_t)st.evictions,
                     "last_error", st.last_error[0] ? pwd_json_text(st.last_error) : json_null());
}

/* o with the members of more added (more is consumed); NULL when o is. */
static json_t *merge_new(json_t *o, json_t *more)
{
    if (o && more)
        json_object_update(o, more);
    json_decref(more);
    return o;
}

static json_t *run_json(pwd_daemon *d, const pwd_run *r)
{
    size_t n = 0;
    for (size_t k = 0; k < r->nck; k++)
        n += r->ck[k].present;
    int64_t last = pwd_run_last_step(r);
    pwd_retain_stats st;
    pwd_retain_usage(d->retain, r->id, &st);
    int mode = pw_config_for_run(&d->cfg, r->name, r->path)->retain;
    return json_pack("{s:o, s:o, s:I, s:o, s:s, s:o, s:o, s:s, s:I, s:I}", "name",
                     pwd_json_text(r->name), "path", pwd_json_text(r->path), "checkpoints",
                     (json_int_t)n, "last_step", last >= 0 ? json_integer(last) : json_null(),
                     "state", r->final_step >= 0 ? "final" : "running", "final_step",
                     r->final_step >= 0 ? json_integer(r->final_step) : json_null(),
                     "converged_step",
                     r->converged_step >= 0 ? json_integer(r->converged_step) : json_null(),
                     "retain", pw_retain_mode_name((pw_retain_mode)mode), "retained_copies",
                     (json_int_t)st.copies, "retained_bytes", (json_int_t)st.bytes);
}

static json_t *status_json(pwd_daemon *d)
{
    json_t *runs = json_array();
    for (size_t i = 0; i < d->nruns && runs; i++)
        json_array_append_new(
            runs, merge_new(run_json(d, d->runs[i]), pwd_sched_run_json(d, d->runs[i])));
    return json_pack("{s:b, s:s, s:I, s:f, s:I, s:I, s:I, s:o, s:o, s:o}", "ok", 1, "version",
                     PW_VERSION, "pid", (json_int_t)getpid(), "uptime_s", pwd_now() - d->started,
                     "queue", (json_int_t)pwd_sched_queue_length(d), "checkpoints_done",
                     (json_int_t)d->done, "checkpoints_failed", (json_int_t)d->failed, "last_error",
                     d->last_error[0] ? pwd_json_text(d->last_error) : json_null(), "retention",
                     retention_json(d), "runs", runs ? runs : json_array());
}

static void cmd_finalize(client *cl, pwd_daemon *d, const pw_request *req)
{
    char why[1024];
    pwd_run *r = pwd_find_run_unique(d, req->run, why, sizeof why);
    if (!r) {
        send_error(cl, "%s", why);
        return;
    }
    int64_t step;
    if (req->has_step) {
        step = req->step;
    } else {
        step = pwd_run_last_step(r);
        if (step < 0) {
            send_error(cl, "run '%s' has no readable checkpoint yet", r->name);
            return;
        }
    }
    pwd_run_set_final(d, r, step, "socket");
    if (r->final_step != step) {
        send_error(cl, "could not store the final step: %s", d->last_error);
        return;
    }
    send_json(cl, json_pack("{s:b, s:o, s:I}", "ok", 1, "run", pwd_json_text(r->name), "final_step",
                            (json_int_t)step));
}

static void cmd_rescore(client *cl, pwd_daemon *d, const pw_request *req)
{
    char why[1024];
    pwd_run *r = pwd_find_run_unique(d, req->run, why, sizeof why);
    if (!r) {
        send_error(cl, "%s", why);
        return;
    }
    int64_t from = req->has_step ? req->step : 0;
    int64_t queued = pwd_sched_rescore(d, r, from, why, sizeof why);
    if (queued < 0) {
        send_error(cl, "could not rescore run '%s': %s", r->name, why);
        return;
    }
    send_json(cl, json_pack("{s:b, s:o, s:I, s:I}", "ok", 1, "run", pwd_json_text(r->name), "from",
                            (json_int_t)from, "queued", (json_int_t)queued));
}

static void handle_line(client *cl, const char *line, size_t len)
{
    pwd_daemon *d = cl->ctl->d;
    pw_request req;
    pw_err err;
    cl->last_active = pwd_now();
    if (pw_request_parse(line, len, &req, &err) != 0) {
        send_error(cl, "%s", err.msg);
        return;
    }
    switch (req.cmd) {
    case PW_REQ_STATUS: {
        json_t *st = merge_new(status_json(d), pwd_sched_status_json(d));
        json_t *share = pwd_share_status_json(d); /* NULL unless the store is shared */
        if (st && share)
            json_object_set_new(st, "share", share);
        else
            json_decref(share);
        send_json(cl, st);
        break;
    }
    case PW_REQ_FINALIZE:
        cmd_finalize(cl, d, &req);
        break;
    case PW_REQ_RESCAN:
        for (size_t i = 0; i < d->nruns; i++)
            d->runs[i]->scan_wanted = 1;
        pwd_watch_kick(d, 0);
        send_json(cl, json_pack("{s:b}", "ok", 1));
        break;
    case PW_REQ_RESCORE:
        cmd_rescore(cl, d, &req);
        break;
    case PW_REQ_SUBSCRIBE:
        if (!cl->subscribed && cl->ctl->nsubscribed >= PW_SOCK_MAX_SUBSCRIBERS) {
            send_error(cl, "too many subscribers (%d); try again later", PW_SOCK_MAX_SUBSCRIBERS);
            break;
        }
        if (!cl->subscribed)
            cl->ctl->nsubscribed++;
        cl->subscribed = 1;
        send_json(cl, json_pack("{s:b, s:b}", "ok", 1, "subscribed", 1));
        break;
    }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    client *cl = h->data;
    (void)suggested;
    /* Read straight into the line buffer; one spare byte past the limit tells
     * an oversized line from one that just fits. */
    *buf = uv_buf_init(cl->buf + cl->len, (unsigned)(sizeof cl->buf - cl->len));
}

/* Handle the complete lines in buf, in order, until none is left or the
 * client's unread output passes PW_SOCK_PAUSE_PENDING; then the rest waits in
 * buf and reading stops until on_written resumes it. */
static void process_lines(client *cl)
{
    /* Only bytes not searched before can hold a newline, so a line dribbled in
     * a byte at a time costs linear time, not quadratic. */
    char *start = cl->buf, *from = cl->buf + cl->scanned, *nl;
    while (!cl->closing && !cl->shutting &&
           (nl = memchr(from, '\n', cl->len - (size_t)(from - cl->buf)))) {
        if (pending(cl) > PW_SOCK_PAUSE_PENDING) {
            cl->paused = 1;
            uv_read_stop((uv_stream_t *)&cl->pipe);
            break;
        }
        size_t n = (size_t)(nl - start);
        if (n && start[n - 1] == '\r')
            n--;
        if (n)
            handle_line(cl, start, n);
        start = from = nl + 1;
    }
    size_t rest = cl->len - (size_t)(start - cl->buf);
    memmove(cl->buf, start, rest);
    cl->len = rest;
    cl->scanned = cl->paused ? 0 : rest;
    if (!cl->paused && cl->len > PW_SOCK_MAX_REQUEST) {
        send_error(cl, "request line longer than %d bytes", PW_SOCK_MAX_REQUEST);
        uv_read_stop((uv_stream_t *)&cl->pipe);
        client_close_after_flush(cl);
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    client *cl = s->data;
    (void)buf;
    if (nread < 0) {
        client_close(cl);
        return;
    }
    cl->len += (size_t)nread;
    assert(cl->len <= sizeof cl->buf);
    process_lines(cl);
}

/* The connection that has been idle the longest: no output queued, not a
 * subscriber, not closing; NULL when there is none. */
static client *oldest_idle(pwd_control *ctl, const client *except)
{
    client *best = NULL;
    for (client *cl = ctl->clients; cl; cl = cl->next) {
        if (cl == except || cl->closing || cl->shutting || cl->subscribed || cl->paused ||
            pending(cl) > 0)
            continue;
        if (!best || cl->last_active < best->last_active)
            best = cl;
    }
    return best;
}

static size_t open_clients(const pwd_control *ctl)
{
    size_t n = 0;
    for (const client *cl = ctl->clients; cl; cl = cl->next)
        n += !cl->closing;
    return n;
}

/* Close connections idle for socket_idle_timeout: quietly when nothing waits
 * for them, with a warning when their output waits unread. */
static void on_sweep(uv_timer_t *t)
{
    pwd_control *ctl = t->data;
    double idle = ctl->d->cfg.socket_idle_s, now = pwd_now();
    for (client *cl = ctl->clients; cl; cl = cl->next) {
        if (cl->closing || now - cl->last_active < idle)
            continue;
        size_t queued = pending(cl);
        if (queued > 0) {
            pwd_log(PWD_WARNING,
                    "control socket: closing the connection of uid %ld pid %ld: %zu bytes of "
                    "output unread for %.0f s",
                    cl->uid, cl->pid, queued, now - cl->last_active);
            client_close(cl);
        } else if (!cl->subscribed) {
            pwd_log(PWD_DEBUG, "control socket: closing the idle connection of uid %ld pid %ld",
                    cl->uid, cl->pid);
            client_close(cl);
        }
    }
    /* A reload may have changed the timeout: sweep at a quarter of it. */
    double ms = idle * 250;
    uv_timer_set_repeat(t, ms < SWEEP_MIN_MS   ? SWEEP_MIN_MS
                           : ms > SWEEP_MAX_MS ? SWEEP_MAX_MS
                                               : (uint64_t)ms);
}

static void peer_credentials(client *cl)
{
    uv_os_fd_t fd;
    struct ucred cr;
    socklen_t len = sizeof cr;
    cl->uid = cl->pid = -1;
    if (uv_fileno((uv_handle_t *)&cl->pipe, &fd) == 0 &&
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0) {
        cl->uid = (long)cr.uid;
        cl->pid = (long)cr.pid;
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    pwd_control *ctl = server->data;
    if (status < 0)
        return;
    client *cl = calloc(1, sizeof *cl);
    if (!cl)
        return;
    cl->ctl = ctl;
    cl->last_active = pwd_now();
    cl->uid = cl->pid = -1;
    uv_pipe_init(ctl->d->loop, &cl->pipe, 0);
    cl->pipe.data = cl;
    cl->next = ctl->clients;
    ctl->clients = cl;
    ctl->nclients++;
    if (uv_accept(server, (uv_stream_t *)&cl->pipe) != 0) {
        client_close(cl);
        return;
    }
    peer_credentials(cl);
    if (open_clients(ctl) > PW_SOCK_MAX_CLIENTS) {
        client *old = oldest_idle(ctl, cl);
        if (old) {
            pwd_log(PWD_INFO,
                    "control socket: %d connections: closing the one idle longest (uid %ld "
                    "pid %ld, %.0f s) for a new one",
                    PW_SOCK_MAX_CLIENTS, old->uid, old->pid, pwd_now() - old->last_active);
            client_close(old);
        }
    }
    if (open_clients(ctl) > PW_SOCK_MAX_CLIENTS) {
        pwd_log(PWD_WARNING, "control socket: refusing uid %ld pid %ld: %d busy connections",
                cl->uid, cl->pid, PW_SOCK_MAX_CLIENTS);
        send_error(cl, "too many connections (%d)", PW_SOCK_MAX_CLIENTS);
        client_close_after_flush(cl);
        return;
    }
    uv_read_start((uv_stream_t *)&cl->pipe, alloc_cb, on_read);
}

/* A socket file left by a crashed daemon is removed; a live one is an error. */
static int clear_stale(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    if (!S_ISSOCK(st.st_mode)) {
        pwd_log(PWD_ERROR, "%s exists and is not a socket", path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int live = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (fd >= 0)
        close(fd);
    if (live) {
        pwd_log(PWD_ERROR, "%s: another pwccad is already listening there", path);
        return -1;
    }
    unlink(path);
    return 0;
}

int pwd_control_start(pwd_daemon *d)
{
    pw_err err;
    if (pw_paths_socket_dir(d->sock_path, 1, &err)) {
        pwd_log(PWD_ERROR, "%s", err.msg);
        return -1;
    }
    if (clear_stale(d->sock_path))
        return -1;
    pwd_control *ctl = calloc(1, sizeof *ctl);
    if (!ctl)
        return -1;
    ctl->d = d;
    uv_pipe_init(d->loop, &ctl->server, 0);
    ctl->server.data = ctl;
    uv_timer_init(d->loop, &ctl->sweep);
    ctl->sweep.data = ctl;
    uv_timer_start(&ctl->sweep, on_sweep, SWEEP_MIN_MS, SWEEP_MIN_MS);
    uv_unref((uv_handle_t *)&ctl->sweep); /* never what keeps the loop alive */
    d->control = ctl;
    int rc = uv_pipe_bind(&ctl->server, d->sock_path);
    if (rc == 0 && chmod(d->sock_path, 0660) != 0)
        rc = uv_translate_sys_error(errno);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&ctl->server, 64, on_connection);
    if (rc != 0) {
        pwd_log(PWD_ERROR, "%s: cannot listen: %s", d->sock_path, uv_strerror(rc));
        return -1;
    }
    pwd_log(PWD_INFO, "control socket %s", d->sock_path);
    return 0;
}

void pwd_control_stop(pwd_daemon *d)
{
    pwd_control *ctl = d->control;
    if (!ctl || ctl->stopped)
        return;
    ctl->stopped = 1;
    for (client *cl = ctl->clients; cl; cl = cl->next)
        client_close(cl);
    uv_close((uv_handle_t *)&ctl->sweep, NULL);
    uv_close((uv_handle_t *)&ctl->server, NULL);
    unlink(d->sock_path);
}

void pwd_control_free(pwd_daemon *d)
{
    free(d->control);
    d->control = NULL;
}
