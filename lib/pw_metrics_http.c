/* pw_metrics_http.c -- /metrics over HTTP/1.1 with libh2o on a libuv loop
 * (see pw_metrics_http.h).
 *
 * libh2o owns the HTTP parsing; this file owns the lifecycle around it,
 * which is where a daemon gets hurt: every TCP handle is tracked so the
 * connection limit holds and stop can reset stragglers, and stop tears the
 * h2o context down only after the last connection closed.  h2o's context
 * keeps timers on the loop, so the endpoint counts as stopped only after
 * the loop has run the close callbacks of those timers too (two turns of an
 * idle handle, see maybe_finish); until then start refuses to reuse the
 * state.
 *
 * Anyone who can reach the port can connect, so a connection is a shared
 * resource: h2o drops one that has not sent a whole request (head and body)
 * within PW_HTTP_REQ_TIMEOUT_MS, and when all PW_HTTP_MAX_CONNS are taken a
 * new connection makes h2o drop the one that has waited longest since it was
 * accepted or last asked something, rather than being turned away -- a
 * scrape is answered at once, so slow or idle clients that reconnect cannot
 * starve it (they would have to open the whole pool again within the few
 * milliseconds a scrape takes). */
#include "pw_metrics_http.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define H2O_USE_LIBUV 1
#include <h2o.h>

#include "pw_limits.h"

typedef enum srv_state {
    SRV_OFF,      /* nothing allocated, no handle on any loop */
    SRV_RUNNING,  /* listening and serving */
    SRV_STOPPING, /* closing handles; start must wait */
} srv_state;

/* One accepted TCP connection; tcp comes first so a uv_handle_t * is a conn *. */
typedef struct http_conn {
    uv_tcp_t tcp;                 /* the connection's handle */
    struct sockaddr_storage peer; /* its peer, to find it from an h2o request */
    uint64_t since;               /* loop ms of the accept or of the latest request */
    int evicted;                  /* 1 once shut down to make room (h2o closes it soon) */
    int served;                   /* 1 when handed to h2o, 0 when refused at the limit */
    struct http_conn *prev;       /* neighbours in srv.conns */
    struct http_conn *next;
} http_conn;

static struct {
    srv_state state;         /* see srv_state */
    uv_loop_t *loop;         /* the loop served on */
    uv_tcp_t listener;       /* the listening socket */
    int listener_open;       /* 1 until the listener's close callback ran */
    uv_timer_t grace;        /* resets connections still open PW_HTTP_STOP_GRACE_MS after stop */
    int grace_open;          /* 1 until the grace timer's close callback ran */
    uv_idle_t reaper;        /* lets h2o's own handles finish closing before SRV_OFF */
    int reaping;             /* 1 once the reaper was started */
    int reaper_turns;        /* idle callbacks seen since the reaper started */
    int config_inited;       /* 1 while config must be disposed */
    int ctx_inited;          /* 1 while ctx must be disposed */
    h2o_globalconf_t config; /* h2o's configuration: one host, one path, one handler */
    h2o_context_t ctx;       /* h2o's per-loop context */
    h2o_accept_ctx_t accept_ctx; /* what h2o_accept needs */
    pw_metrics_render_fn render; /* fills the exposition */
    void *render_ctx;            /* its argument */
    pw_promtext text;            /* exposition buffer, reused by every scrape */
    pw_metrics_http_web_fn web;  /* answers the dashboard's paths, NULL when not served */
    void *web_ctx;               /* its argument */
    pw_web_res web_res;          /* its response buffer, reused by every request */
    http_conn *conns;            /* every open connection, served or refused */
    int nserved;                 /* connections handed to h2o and not closed yet */
    int nevicted;                /* of those, shut down to make room and not closed yet */
    int nopen;                   /* entries in conns */
    int port;                    /* port listened on */
} srv;

int pw_metrics_http_parse_addr(const char *spec, struct sockaddr_storage *sa, pw_err *err)
{
    char host[64];
    const char *port_s;
    memset(sa, 0, sizeof *sa);
    if (!spec || !*spec)
        return pw_err_set(err, "metrics address is empty: give PORT or ADDR:PORT");
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close || close[1] != ':')
            return pw_err_set(err, "metrics address '%s': expected [IPV6]:PORT", spec);
        size_t n = (size_t)(close - spec - 1);
        if (n == 0 || n >= sizeof host)
            return pw_err_set(err, "metrics address '%s': bad IPv6 address", spec);
        memcpy(host, spec + 1, n);
        host[n] = '\0';
        port_s = close + 2;
    } else {
        const char *colon = strrchr(spec, ':');
        if (!colon) {
            snprintf(host, sizeof host, "127.0.0.1");
            port_s = spec;
        } else {
            size_t n = (size_t)(colon - spec);
            if (memchr(spec, ':', n))
                return pw_err_set(err,
                                  "metrics address '%s': write IPv6 addresses in brackets, "
                                  "e.g. [::1]:9464",
                                  spec);
            if (n == 0)
                return pw_err_set(err,
                                  "metrics address '%s': name the address to listen on "
                                  "(127.0.0.1, [::1], or 0.0.0.0 for every interface)",
                                  spec);
            if (n >= sizeof host)
                return pw_err_set(err, "metrics address '%s': address too long", spec);
            memcpy(host, spec, n);
            host[n] = '\0';
            port_s = colon + 1;
        }
    }
    unsigned long port = 0;
    size_t digits = strspn(port_s, "0123456789");
    if (digits == 0 || digits > 5 || port_s[digits] != '\0' ||
        (port = strtoul(port_s, NULL, 10)) > 65535)
        return pw_err_set(err, "metrics address '%s': port must be a number from 0 to 65535", spec);
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    if (spec[0] == '[') {
        if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)sa) != 0)
            return pw_err_set(err, "metrics address '%s': '%s' is not an IPv6 address", spec, host);
    } else if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)sa) != 0) {
        return pw_err_set(err,
                          "metrics address '%s': '%s' is not an IPv4 address (names are "
                          "not resolved; use 127.0.0.1 or [::1])",
                          spec, host);
    }
    return 0;
}

/* ---- requests -------------------------------------------------------------------------- */

static int same_peer(const struct sockaddr_storage *a, const struct sockaddr *b)
{
    if (a->ss_family != b->sa_family)
        return 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *)a,
                                 *y = (const struct sockaddr_in *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a,
                              *y = (const struct sockaddr_in6 *)b;
    return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

/* A request arrived: its connection is busy, the last to make room. */
static void mark_active(h2o_req_t *req)
{
    struct sockaddr_storage sa;
    memset(&sa, 0, sizeof sa);
    if (!req->conn->callbacks->get_peername ||
        req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&sa) == 0)
        return;
    for (http_conn *c = srv.conns; c; c = c->next)
        if (c->served && same_peer(&c->peer, (struct sockaddr *)&sa)) {
            c->since = uv_now(srv.loop);
            return;
        }
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 414:
        return "URI Too Long";
    case 421:
        return "Misdirected Request";
    default:
        return "Internal Server Error";
    }
}

/* A dashboard request: pw_web answers it from memory and the database, and
 * h2o sends the answer from its own copy, so a slow reader holds only its
 * connection's buffer, never the loop. */
static int on_web(h2o_req_t *req)
{
    pw_web_req wr;
    memset(&wr, 0, sizeof wr);
    wr.method = req->method.base;
    wr.method_len = req->method.len;
    wr.target = req->path.base;
    wr.target_len = req->path.len;
    wr.host = req->authority.base;
    wr.host_len = req->authority.len;
    ssize_t ci = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, -1);
    if (ci >= 0) {
        wr.cookie = req->headers.entries[ci].value.base;
        wr.cookie_len = req->headers.entries[ci].value.len;
    }
    ssize_t ei = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, -1);
    if (ei >= 0) {
        wr.if_none_match = req->headers.entries[ei].value.base;
        wr.if_none_match_len = req->headers.entries[ei].value.len;
    }
    pw_web_res *res = &srv.web_res;
    srv.web(srv.web_ctx, &wr, res);
    req->res.status = res->status;
    req->res.reason = reason(res->status);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, res->type,
                   strlen(res->type));
    /* An answer with an ETag may be kept if it is revalidated every time
     * (no-cache): the next request then costs a 304 when nothing changed. */
    const char *cc = res->cacheable ? "max-age=60" : res->etag[0] ? "no-cache" : "no-store";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, cc, strlen(cc));
    if (res->etag[0])
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, NULL,
                       h2o_strdup(&req->pool, res->etag, SIZE_MAX).base, strlen(res->etag));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0,
                          NULL, H2O_STRLIT("nosniff"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("referrer-policy"), 0, NULL,
                          H2O_STRLIT("no-referrer"));
    if (strncmp(res->type, "text/html", 9) == 0) {
        /* The pages load only their own script and style; nothing may frame them.
         * blob: images are the SVG the page fetched from here itself. */
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("content-security-policy"),
                              0, NULL,
                              H2O_STRLIT("default-src 'self'; img-src 'self' data: blob:; "
                                         "frame-ancestors 'none'; base-uri 'none'; "
                                         "form-action 'none'"));
    }
    if (res->location[0])
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL,
                       h2o_strdup(&req->pool, res->location, SIZE_MAX).base, strlen(res->location));
    if (res->cookie[0]) /* the request carried the token in ?token= */
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_SET_COOKIE, NULL,
                       h2o_strdup(&req->pool, res->cookie, SIZE_MAX).base, strlen(res->cookie));
    if (res->status == 304) {
        /* No body, and no Content-Length: a 304's would have to be the 200's. */
        h2o_send_inline(req, "", 0);
        return 0;
    }
    req->res.content_length = res->len;
    h2o_send_inline(req, res->body ? res->body : "", res->len);
    return 0;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    mark_active(req);
    if (srv.web &&
        !h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/metrics")))
        return on_web(req);
    if (!h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/metrics"))) {
        h2o_send_error_404(req, "Not Found", "not found: the metrics are at /metrics\n", 0);
        return 0;
    }
    int head = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
    if (!head && !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL,
                       H2O_STRLIT("GET, HEAD"));
        h2o_send_error_405(req, "Method Not Allowed", "only GET and HEAD are served here\n",
                           H2O_SEND_ERROR_KEEP_HEADERS);
        return 0;
    }
    pw_err e;
    pw_err_clear(&e);
    pw_promtext_reset(&srv.text);
    if (srv.render(srv.render_ctx, &srv.text, &e) != 0) {
        char body[PW_ERR_MAX + 32];
        snprintf(body, sizeof body, "metrics unavailable: %s\n", e.msg[0] ? e.msg : "error");
        h2o_send_error_500(req, "Internal Server Error", body, 0);
        return 0;
    }
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = srv.text.len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain; version=0.0.4; charset=utf-8"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    /* h2o_send_inline copies the text into the request's pool and sends no body for HEAD. */
    h2o_send_inline(req, srv.text.buf ? srv.text.buf : "", srv.text.len);
    return 0;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static void on_reaper_closed(uv_handle_t *h)
{
    (void)h;
    srv.state = SRV_OFF;
}

static void on_reap(uv_idle_t *h)
{
    /* The first turn may come before the closing phase that finishes h2o's
     * timers; the second comes after it. */
    if (++srv.reaper_turns < 2)
        return;
    uv_idle_stop(h);
    uv_close((uv_handle_t *)h, on_reaper_closed);
}

/* Once our own handles are all closed, dispose of h2o and let its handles close. */
static void maybe_finish(void)
{
    if (srv.state != SRV_STOPPING || srv.listener_open || srv.grace_open || srv.nopen > 0 ||
        srv.reaping)
        return;
    assert(srv.nserved == 0 && srv.conns == NULL);
    if (srv.ctx_inited)
        h2o_context_dispose(&srv.ctx);
    if (srv.config_inited)
        h2o_config_dispose(&srv.config);
    srv.ctx_inited = srv.config_inited = 0;
    pw_promtext_free(&srv.text);
    free(srv.web_res.body); /* not pw_web_res_free: the endpoint links without pw_web.c */
    memset(&srv.web_res, 0, sizeof srv.web_res);
    srv.port = 0;
    srv.reaping = 1;
    srv.reaper_turns = 0;
    uv_idle_init(srv.loop, &srv.reaper);
    uv_idle_start(&srv.reaper, on_reap);
}

static void on_listener_closed(uv_handle_t *h)
{
    (void)h;
    srv.listener_open = 0;
    maybe_finish();
}

static void on_grace_closed(uv_handle_t *h)
{
    (void)h;
    srv.grace_open = 0;
    maybe_finish();
}

static void unlink_conn(http_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        srv.conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv.nopen--;
    if (c->served)
        srv.nserved--;
    if (c->evicted)
        srv.nevicted--;
    assert(srv.nopen >= 0 && srv.nserved >= 0 && srv.nevicted >= 0);
}

static void on_conn_closed(uv_handle_t *h)
{
    http_conn *c = (http_conn *)h;
    unlink_conn(c);
    free(c);
    maybe_finish();
}

/* Shut a connection down so h2o's read or write fails and h2o closes it on
 * its usual path (closing the handle behind its back would leave it a
 * dangling one). */
static void shut(http_conn *c)
{
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
        shutdown(fd, SHUT_RDWR);
}

/* Connections still open after the grace period are shut down. */
static void on_grace(uv_timer_t *t)
{
    for (http_conn *c = srv.conns; c; c = c->next)
        if (c->served)
            shut(c);
    uv_close((uv_handle_t *)t, on_grace_closed);
}

/* All connections are taken: shut down the one that has waited longest since
 * it was accepted or last asked something.  0 when there is room now, -1
 * when too many are still closing (the new one is refused then). */
static int make_room(void)
{
    if (srv.nserved - srv.nevicted < PW_HTTP_MAX_CONNS)
        return 0;
    if (srv.nevicted >= PW_HTTP_MAX_CONNS)
        return -1;
    http_conn *old = NULL;
    for (http_conn *c = srv.conns; c; c = c->next)
        if (c->served && !c->evicted && (!old || c->since <= old->since)) /* newest first */
            old = c;
    assert(old);
    old->evicted = 1;
    srv.nevicted++;
    shut(old);
    return 0;
}

static void on_accept(uv_stream_t *listener, int status)
{
    if (status != 0 || srv.state != SRV_RUNNING)
        return;
    http_conn *c = calloc(1, sizeof *c);
    if (!c)
        return; /* out of memory: libuv holds the connection and pauses this listener */
    uv_tcp_init(srv.loop, &c->tcp);
    c->next = srv.conns;
    if (srv.conns)
        srv.conns->prev = c;
    srv.conns = c;
    srv.nopen++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 || make_room() != 0) {
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
        return;
    }
    int plen = sizeof c->peer;
    uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer, &plen);
    c->since = uv_now(srv.loop);
    c->served = 1;
    srv.nserved++;
    uv_tcp_nodelay(&c->tcp, 1);
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_conn_closed);
    h2o_accept(&srv.accept_ctx, sock);
}

static void ignore_sigpipe(void)
{
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
    }
}

int pw_metrics_http_start(uv_loop_t *loop, const char *addr_port, pw_metrics_render_fn render,
                          void *ctx, pw_err *err)
{
    assert(loop && render);
    if (srv.state != SRV_OFF)
        return pw_err_set(err, "the metrics endpoint is %s",
                          srv.state == SRV_RUNNING ? "already serving" : "still stopping");
    struct sockaddr_storage sa;
    if (pw_metrics_http_parse_addr(addr_port, &sa, err) != 0)
        return -1;
    pw_metrics_http_web_fn web = srv.web; /* set before start */
    void *web_ctx = srv.web_ctx;
    memset(&srv, 0, sizeof srv);
    srv.web = web;
    srv.web_ctx = web_ctx;
    srv.loop = loop;
    srv.render = render;
    srv.render_ctx = ctx;
    pw_promtext_init(&srv.text);

    uv_tcp_init(loop, &srv.listener);
    srv.listener_open = 1;
    /* An IPv6 address means that address only, not the IPv4 side of a dual stack. */
    unsigned flags = sa.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
    int rc = uv_tcp_bind(&srv.listener, (const struct sockaddr *)&sa, flags);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&srv.listener, 64, on_accept);
    if (rc != 0) {
        pw_err_set(err, "cannot listen for metrics on %s: %s", addr_port, uv_strerror(rc));
        srv.state = SRV_STOPPING;
        uv_close((uv_handle_t *)&srv.listener, on_listener_closed);
        return -1;
    }
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    if (uv_tcp_getsockname(&srv.listener, (struct sockaddr *)&bound, &blen) == 0)
        srv.port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                     : ((struct sockaddr_in *)&bound)->sin_port);

    h2o_config_init(&srv.config);
    srv.config_inited = 1;
    srv.config.http1.req_timeout = PW_HTTP_REQ_TIMEOUT_MS;
    /* Only GET and HEAD are served: a body is never needed, and h2o would
     * otherwise buffer up to 1 GiB of one before answering 405. */
    srv.config.max_request_entity_size = PW_HTTP_MAX_BODY;
    srv.config.http1.upgrade_to_http2 = 0;
    h2o_hostconf_t *host =
        h2o_config_register_host(&srv.config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    /* "/" catches every path, so unknown ones get our 404 rather than h2o's. */
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(path, sizeof *handler);
    handler->on_req = on_req;
    h2o_context_init(&srv.ctx, loop, &srv.config);
    srv.ctx_inited = 1;
    srv.accept_ctx.ctx = &srv.ctx;
    srv.accept_ctx.hosts = srv.config.hosts;

    ignore_sigpipe();
    srv.state = SRV_RUNNING;
    return 0;
}

void pw_metrics_http_set_web(pw_metrics_http_web_fn web, void *ctx)
{
    srv.web = web;
    srv.web_ctx = ctx;
}

int pw_metrics_http_port(void)
{
    return srv.state == SRV_RUNNING ? srv.port : 0;
}

void pw_metrics_http_stop(void)
{
    if (srv.state != SRV_RUNNING)
        return;
    srv.state = SRV_STOPPING;
    uv_close((uv_handle_t *)&srv.listener, on_listener_closed);
    if (srv.nserved > 0) {
        h2o_context_request_shutdown(&srv.ctx); /* idle keep-alives close now */
        uv_timer_init(srv.loop, &srv.grace);
        srv.grace_open = 1;
        uv_timer_start(&srv.grace, on_grace, PW_HTTP_STOP_GRACE_MS, 0);
    }
}

int pw_metrics_http_active(void)
{
    return srv.state != SRV_OFF;
}
