/* pw_metrics_http.h -- the daemon's optional /metrics endpoint (--metrics ADDR:PORT).
 *
 * Serves GET and HEAD /metrics over HTTP/1.1 on the daemon's own libuv loop,
 * with libh2o (Debian's build uses libuv), so a scrape never needs a thread.
 * Every request calls the render callback, which fills the exposition text
 * (normally: take a pw_metrics_snapshot and call pw_metrics_render).  Other
 * paths get 404, other methods 405, a failed render 500 with its message.
 *
 * Bounds (lib/pw_limits.h): at most PW_HTTP_MAX_CONNS connections (a new one
 * beyond makes the one waiting longest since its accept or its last request
 * go, so slow clients cannot starve a scrape), PW_HTTP_REQ_TIMEOUT_MS for a
 * request (head and body) or an idle keep-alive, request heads bounded by
 * libh2o (H2O_MAX_REQLEN), bodies by PW_HTTP_MAX_BODY (413 beyond), and the
 * text by PW_PROM_MAX_BYTES.  HTTP/2 upgrades are off.
 *
 * One endpoint per process, driven from the loop's thread only.  Writing to
 * a peer that went away raises SIGPIPE, so start ignores SIGPIPE when its
 * disposition is still the default (the control socket needs that too). */
#ifndef PW_METRICS_HTTP_H
#define PW_METRICS_HTTP_H

#include <sys/socket.h>
#include <uv.h>

#include "pw_error.h"
#include "pw_promtext.h"
#include "pw_web.h"

/* Fill out (already reset) with the exposition; return 0, or -1 with err set. */
typedef int (*pw_metrics_render_fn)(void *ctx, pw_promtext *out, pw_err *err);

/* Parse ADDR:PORT.  ADDR is an IPv4 literal, a bracketed IPv6 literal
 * ("[::1]:9464") or "localhost" (127.0.0.1); a bare PORT means 127.0.0.1, so
 * the endpoint is loopback-only unless an address is named.  PORT 0 asks the
 * kernel for a free port (tests).  No name resolution is done. */
int pw_metrics_http_parse_addr(const char *addr_port, struct sockaddr_storage *sa, pw_err *err);

/* Listen on addr_port and serve /metrics on loop until pw_metrics_http_stop. */
int pw_metrics_http_start(uv_loop_t *loop, const char *addr_port, pw_metrics_render_fn render,
                          void *ctx, pw_err *err);
/* Answer a request of a path other than /metrics (the daemon passes
 * pw_web_handle); fills res, whose body buffer the endpoint keeps. */
typedef int (*pw_metrics_http_web_fn)(void *ctx, const pw_web_req *req, pw_web_res *res);
/* Serve web on every other path than /metrics, from the next start on;
 * NULL stops that (other paths get 404 again).  A function pointer, so the
 * endpoint alone links without the dashboard's code. */
void pw_metrics_http_set_web(pw_metrics_http_web_fn web, void *ctx);
/* The port listened on (useful after asking for port 0), 0 when not serving. */
int pw_metrics_http_port(void);
/* Stop listening; open connections finish their response, and those still
 * open after PW_HTTP_STOP_GRACE_MS are reset.  Returns at once; the
 * endpoint's handles are all closed a few loop iterations later (so
 * uv_run returns once nothing else is active).  No-op when not serving. */
void pw_metrics_http_stop(void);
/* 1 from start until the last handle is closed after stop, else 0; start
 * again only once this is 0. */
int pw_metrics_http_active(void);

#endif
