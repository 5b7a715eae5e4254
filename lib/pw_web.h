/* pw_web.h -- the dashboard's requests and responses (pwccad --http ADDR:PORT).
 *
 * The daemon's HTTP endpoint (lib/pw_metrics_http.c, libh2o on the loop)
 * hands every request that is not /metrics to pw_web_handle, as its method,
 * raw target (path and query string, still percent-encoded), Host and Cookie
 * headers.  This file routes it, validates every path segment and query
 * parameter, reads the database through pw_query (read-only, WAL: never
 * blocks the daemon's writers) and renders the answer: the two pages and
 * their script and style sheet (embedded at build time from web/), the JSON
 * endpoints, and the server-side SVG of pw_svg.  It has no HTTP parsing and
 * no sockets, so unit tests and the fuzz target call it directly.
 *
 *   GET /                          the runs page
 *   GET /run/NAME                  one run's page (NAME: display name or path)
 *   GET /assets/FILE               the pages' script and style sheet
 *   GET /api/version[?run=NAME]    change counters, polled by the pages
 *   GET /api/runs[?after=V]        every run, most recently active first; with
 *                                  after, only those changed since version V
 *   GET /api/run/NAME              the run, its layers, alerts, verdict
 *   GET /api/run/NAME/curve        the rows of `pwcca curve --format json`
 *   GET /api/run/NAME/plot.svg     heatmap or lines, as `pwcca plot -o`
 *
 * Bad input never crashes and always says why: 400 for a malformed target,
 * parameter or value, 404 for an unknown route, run or layer, 405 for a
 * method other than GET and HEAD, 401 without the access token, 414 for a
 * target longer than PW_WEB_MAX_TARGET.  Everything echoed back is cut and
 * stripped of control bytes.  Responses are bounded by PW_WEB_MAX_RESPONSE.
 *
 * Access: with a token set, a request must carry it, as ?token=T (a page
 * then answers 303 to the same path without it, setting an HttpOnly,
 * SameSite=Strict cookie) or as that cookie.  The token is compared in
 * constant time and never logged or echoed.  With check_host set (the
 * listener is on loopback) the Host header must name a loopback address or
 * localhost, so a web page on another origin cannot read the dashboard by
 * DNS rebinding.
 *
 * Unchanged answers: every 200 carries an ETag made of its body's hash and
 * length; a request whose If-None-Match names it gets 304 and no body, so a
 * page that polls with conditional requests transfers and parses only what
 * changed (the HTTP layer sends Cache-Control: no-cache with the tag, so a
 * browser keeps the body and revalidates it every time).
 *
 * Repeated renders: when the daemon reports change counters (live), the
 * answer of a run endpoint is kept with the run's counter in a small cache,
 * and the list of runs /api/runs answers from with the global one: five
 * browsers polling one run cost one render per change, and at most one per
 * PW_WEB_REUSE_MS (PW_WEB_RUNS_REUSE_MS for the list) however often the run
 * changes (the answer is then up to that much older).  One pw_web per
 * endpoint, used from one thread. */
#ifndef PW_WEB_H
#define PW_WEB_H

#include <stddef.h>
#include <stdint.h>

#include "pw_error.h"
#include "pw_limits.h"
#include "pw_query.h"

/* One request as the HTTP layer received it; strings are not NUL-terminated. */
typedef struct pw_web_req {
    const char *method;        /* "GET", "HEAD", ... */
    size_t method_len;         /* bytes in method */
    const char *target;        /* path and query string as sent, percent-encoded */
    size_t target_len;         /* bytes in target */
    const char *host;          /* Host header, NULL when absent */
    size_t host_len;           /* bytes in host */
    const char *cookie;        /* Cookie header, NULL when absent */
    size_t cookie_len;         /* bytes in cookie */
    const char *if_none_match; /* If-None-Match header, NULL when absent */
    size_t if_none_match_len;  /* bytes in if_none_match */
} pw_web_req;

/* The answer; body is owned by the response and reused by the next one. */
typedef struct pw_web_res {
    int status;                           /* HTTP status */
    const char *type;                     /* Content-Type (a static string) */
    char *body;                           /* bytes to send (NULL when len is 0) */
    size_t len;                           /* bytes in body */
    size_t cap;                           /* bytes allocated for body */
    char location[PW_WEB_MAX_TARGET + 1]; /* Location of a redirect, "" when none */
    char cookie[PW_WEB_MAX_TOKEN + 96];   /* Set-Cookie value carrying the token, "" none */
    int cacheable; /* 1: an asset, may be cached; else Cache-Control: no-store */
    char etag[40]; /* ETag of a 200 or 304 answer ("" none): its body's hash and length */
} pw_web_res;

/* What the daemon knows of a run beyond the database. */
typedef struct pw_web_live {
    int watched;      /* 1 when the daemon watches it now */
    int64_t pending;  /* checkpoints seen and not stored yet (settling or queued) */
    uint64_t version; /* bumped whenever something of the run changed, 0 when unknown */
} pw_web_live;

/* Fill out for the run at path (zeroed by the caller). */
typedef void (*pw_web_live_fn)(void *ctx, const char *path, pw_web_live *out);
/* The global change counter (bumped on every change of any run). */
typedef uint64_t (*pw_web_version_fn)(void *ctx);

typedef struct pw_web pw_web;

/* q is borrowed and must outlive w.  token NULL or "" means none.  live and
 * version may be NULL (no live fields, no cache). */
int pw_web_new(pw_query *q, const char *token, int check_host, pw_web_live_fn live,
               pw_web_version_fn version, void *ctx, pw_web **out, pw_err *err);
void pw_web_free(pw_web *w);

/* Answer req into res (whose body buffer is reused).  Always fills a
 * status; returns 0, or -1 only when out of memory (res is then a 500). */
int pw_web_handle(pw_web *w, const pw_web_req *req, pw_web_res *res);
void pw_web_res_free(pw_web_res *res);
/* The Set-Cookie value carrying the token into buf; its length, or -1 when
 * there is no token or buf is too small. */
int pw_web_cookie(const pw_web *w, char *buf, size_t cap);

/* Name of the token cookie. */
#define PW_WEB_COOKIE "pwccad_token"

/* The embedded assets (generated from web/ by the Makefile). */
typedef struct pw_web_asset {
    const char *name;          /* file name under web/ */
    const unsigned char *data; /* its bytes */
    size_t len;                /* bytes in data */
} pw_web_asset;
extern const pw_web_asset pw_web_assets[];
extern const unsigned pw_web_nassets;

#endif
