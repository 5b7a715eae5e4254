/* control.c -- the control socket: newline-delimited JSON (docs/protocol.md).
 *
 * Each line, of at most PW_SOCK_MAX_REQUEST bytes, is read into the client's
 * fixed buffer and parsed and validated by lib/pw_request.c; anything
 * malformed gets an error response and the connection goes on (an oversized
 * line closes it after the error, since the rest of that line cannot be
 * resynchronised, and a client never costs more than its buffer).
 * Everything runs on the loop thread and no request does heavy work, so
 * the socket answers promptly while compute threads are busy.  A
 * subscriber that stops reading is dropped once its backlog passes
 * CONTROL_MAX_BACKLOG, so it cannot make the daemon hoard memory. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "pw_limits.h"
#include "pw_name.h"
#include "pw_paths.h"
#include "pw_request.h"

#define CONTROL_MAX_BACKLOG (4u << 20) /* bytes queued to one slow subscriber */

typedef struct client {
    uv_pipe_t pipe;                    /* the connection */
    struct pwd_control *ctl;           /* owner */
    struct client *next;               /* list link */
    char buf[PW_SOCK_MAX_REQUEST + 1]; /* partial request line */
    size_t len;                        /* bytes in buf */
    int subscribed;                    /* receives events */
    int closing;                       /* uv_close was called */
    int shutting;                      /* uv_shutdown was called: no more writes */
} client;

typedef struct pwd_control {
    pwd_daemon *d;    /* owner */
    uv_pipe_t server; /* listening socket */
    client *clients;  /* connected */
    size_t nclients;  /* entries in clients */
    int stopped;      /* pwd_control_stop was called */
} pwd_control;

typedef struct write_req {
    uv_write_t req; /* libuv request */
    char *data;     /* owned bytes */
} write_req;

static void on_written(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    (void)status;
    free(w->data);
    free(w);
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

/* Queue line + '\n' to a client. */
static void send_line(client *cl, const char *line)
{
    if (cl->closing || cl->shutting)
        return;
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
        if (uv_stream_get_write_queue_size((uv_stream_t *)&cl->pipe) > CONTROL_MAX_BACKLOG) {
            pwd_log(PWD_WARNING, "dropping a subscriber that stopped reading");
            client_close(cl);
            continue;
        }
        send_line(cl, line);
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
        json_array_append_new(runs, run_json(d, d->runs[i]));
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
    if (!r)
        return send_error(cl, "%s", why);
    int64_t step;
    if (req->has_step) {
        step = req->step;
    } else {
        step = pwd_run_last_step(r);
        if (step < 0)
            return send_error(cl, "run '%s' has no readable checkpoint yet", r->name);
    }
    pwd_run_set_final(d, r, step, "socket");
    if (r->final_step != step)
        return send_error(cl, "could not store the final step: %s", d->last_error);
    send_json(cl, json_pack("{s:b, s:o, s:I}", "ok", 1, "run", pwd_json_text(r->name), "final_step",
                            (json_int_t)step));
}

static void handle_line(client *cl, const char *line, size_t len)
{
    pwd_daemon *d = cl->ctl->d;
    pw_request req;
    pw_err err;
    if (pw_request_parse(line, len, &req, &err) != 0)
        return send_error(cl, "%s", err.msg);
    switch (req.cmd) {
    case PW_REQ_STATUS:
        send_json(cl, status_json(d));
        break;
    case PW_REQ_FINALIZE:
        cmd_finalize(cl, d, &req);
        break;
    case PW_REQ_RESCAN:
        for (size_t i = 0; i < d->nruns; i++)
            d->runs[i]->scan_wanted = 1;
        uv_timer_start(&d->kick_timer, d->kick_timer.timer_cb, 0, 0);
        send_json(cl, json_pack("{s:b}", "ok", 1));
        break;
    case PW_REQ_SUBSCRIBE:
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

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    client *cl = s->data;
    (void)buf;
    if (nread < 0) {
        client_close(cl);
        return;
    }
    /* Only the new bytes can hold a newline: earlier reads searched the rest,
     * so a line dribbled in a byte at a time costs linear time, not quadratic. */
    char *start = cl->buf, *from = cl->buf + cl->len, *nl;
    cl->len += (size_t)nread;
    while (!cl->closing && !cl->shutting &&
           (nl = memchr(from, '\n', cl->len - (size_t)(from - cl->buf)))) {
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
    if (cl->len > PW_SOCK_MAX_REQUEST) {
        send_error(cl, "request line longer than %d bytes", PW_SOCK_MAX_REQUEST);
        uv_read_stop(s);
        client_close_after_flush(cl);
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
    uv_pipe_init(ctl->d->loop, &cl->pipe, 0);
    cl->pipe.data = cl;
    cl->next = ctl->clients;
    ctl->clients = cl;
    ctl->nclients++;
    if (uv_accept(server, (uv_stream_t *)&cl->pipe) != 0) {
        client_close(cl);
        return;
    }
    if (ctl->nclients > PW_SOCK_MAX_CLIENTS) {
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
    if (pw_paths_make_parent(d->sock_path, 0755, &err)) {
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
    uv_close((uv_handle_t *)&ctl->server, NULL);
    unlink(d->sock_path);
}

void pwd_control_free(pwd_daemon *d)
{
    free(d->control);
    d->control = NULL;
}
