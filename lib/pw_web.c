/* pw_web.c -- the dashboard's routes, validation and rendering (see pw_web.h).
 *
 * Every request goes the same way: bound the target, check the method, the
 * Host and the token, split the path into percent-decoded segments and the
 * query string into parameters (each validated against the route's list:
 * an unknown, repeated, empty-keyed or over-long one is a 400 naming it),
 * then render.  Nothing reaches SQLite that was not validated, and names
 * only ever reach it as bound parameters (pw_query).
 *
 * JSON is written with jansson; strings that are not UTF-8 (run and layer
 * names are whatever bytes a directory or tensor was called) have their bad
 * bytes replaced by U+FFFD instead of being dropped.  The curve rows carry
 * the fields of `pwcca curve --format json`, in its order, so a script can
 * read either.  SVG comes from pw_svg, the renderer of `pwcca plot`, which
 * escapes every name. */
#include "pw_web.h"

#include <assert.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "pw_convergence.h"
#include "pw_json.h"
#include "pw_plot.h"
#include "pw_svg.h"

#define CACHE_SLOTS 16 /* rendered answers kept; a few pages' worth of URLs */

/* A rendered answer kept for the version it was rendered at. */
typedef struct cache_slot {
    char *target;     /* the request target without its token, heap; NULL when free */
    uint64_t version; /* the change counter it was rendered at */
    int status;       /* its status */
    const char *type; /* its Content-Type */
    char *body;       /* its bytes, heap */
    size_t len;       /* bytes in body */
    double at;        /* monotonic seconds it was rendered at */
    char etag[40];    /* its ETag */
} cache_slot;

/* The newest alert of a run, kept across requests. */
typedef struct last_alert {
    char *run;  /* run name, heap */
    pw_alert a; /* the alert (its strings heap) */
} last_alert;

struct pw_web {
    pw_query *q;                      /* read-only database, borrowed */
    char token[PW_WEB_MAX_TOKEN + 1]; /* access token, "" when none */
    size_t token_len;                 /* bytes in token */
    int check_host;                   /* Host must be loopback */
    pw_web_live_fn live;              /* the daemon's view of a run, may be NULL */
    pw_web_version_fn version;        /* the global change counter, may be NULL */
    void *ctx;                        /* their argument */
    cache_slot cache[CACHE_SLOTS];    /* rendered answers */
    unsigned cache_next;              /* the slot the next miss replaces */
    last_alert *alerts;               /* newest alert per run name */
    size_t nalerts;                   /* entries in alerts */
    int64_t alert_id;                 /* alerts up to this id are in alerts */
    struct {
        int64_t run_id;     /* the run */
        int ref;            /* index in refs */
        uint64_t version;   /* the run's change counter when read, 0: empty */
        pw_curve_row *rows; /* every layer's rows */
        size_t n;           /* entries in rows */
    } memo; /* the last whole curve a plot read: a page's heatmap and lines read the same rows */
    struct {
        pw_run_info *runs;     /* every run, as read */
        size_t n;              /* entries in runs */
        struct run_order *ord; /* runs in the order of the page, with their live view */
        uint64_t version;      /* the global change counter when read */
        double at;             /* monotonic seconds it was read whole, 0: never */
        pw_runs_stamp stamp;   /* the set of runs it holds */
    } snap;         /* the list of runs /api/runs answers from: the runs whose counter moved
                       are read again, all of them when runs came or went (at most every
                       PW_WEB_RUNS_REUSE_MS) */
    char epoch[24]; /* tells this pw_web's change counters from another's (a restart) */
};

/* One query-string parameter, decoded. */
typedef struct param {
    char key[32];                  /* its name */
    char val[PW_WEB_MAX_NAME + 1]; /* its value */
    size_t val_len;                /* bytes in val (a NUL inside is refused earlier) */
} param;

/* A parsed request: the route's pieces. */
typedef struct route {
    char seg[4][PW_WEB_MAX_NAME + 1];  /* the first path segments, decoded */
    size_t nseg;                       /* segments in the path */
    param *params;                     /* decoded parameters */
    size_t nparams;                    /* entries in params */
    char clean[PW_WEB_MAX_TARGET + 1]; /* the target without its token and v parameters */
} route;

/* ---- responses ---------------------------------------------------------------------------- */

static int res_set(pw_web_res *res, int status, const char *type, const char *body, size_t len)
{
    res->status = status;
    res->type = type;
    res->len = 0;
    if (len > PW_WEB_MAX_RESPONSE) {
        static const char big[] = "response too large\n";
        res->status = 500;
        res->type = "text/plain; charset=utf-8";
        body = big;
        len = sizeof big - 1;
    }
    if (len + 1 > res->cap) {
        char *b = realloc(res->body, len + 1);
        if (!b) {
            res->status = 500;
            res->type = "text/plain; charset=utf-8";
            return -1;
        }
        res->body = b;
        res->cap = len + 1;
    }
    if (len)
        memcpy(res->body, body, len);
    res->body[len] = '\0';
    res->len = len;
    return 0;
}

/* Copy s into out (size cap), control bytes as '?', cut with "..." when longer. */
static void printable(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < cap; i++)
        out[o++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    if (o + 4 >= cap && n > o) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

static int fail(pw_web_res *res, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(pw_web_res *res, int status, const char *fmt, ...)
{
    char msg[PW_ERR_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    msg[0] = '\0';
    vsnprintf(msg, sizeof msg - 1, fmt, ap);
    va_end(ap);
    size_t len = strlen(msg);
    msg[len++] = '\n';
    res_set(res, status, "text/plain; charset=utf-8", msg, len);
    return -1; /* the request is answered: callers stop */
}

/* ---- JSON helpers ------------------------------------------------------------------------- */

/* Send o (stolen) as the answer. */
static int send_json(pw_web_res *res, json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(o);
    if (!s) {
        fail(res, 500, "out of memory writing JSON");
        return -1;
    }
    int rc = res_set(res, 200, "application/json", s, strlen(s));
    free(s);
    return rc;
}

/* ---- entity tags ----------------------------------------------------------------------------- */

/* The ETag of a body: FNV-1a of its bytes and its length, quoted.  Equal
 * tags mean equal bytes for any practical purpose, whichever daemon (or
 * restart of it) rendered them, so no change counter has to be in it. */
static void etag_of(const char *body, size_t len, char out[40])
{
    uint64_t h = 14695981039346656037u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)body[i];
        h *= 1099511628211u;
    }
    snprintf(out, 40, "\"%016" PRIx64 "-%zx\"", h, len);
}

/* If-None-Match names etag: one of its comma-separated tags (weak or
 * strong: the comparison is the weak one, RFC 9110 13.1.2) or "*". */
static int etag_matches(const pw_web_req *req, const char *etag)
{
    const char *p = req->if_none_match;
    size_t n = p ? req->if_none_match_len : 0, el = strlen(etag);
    while (n > 0) {
        /* One element: up to the next comma, without blanks around it. */
        size_t len = 0;
        while (len < n && p[len] != ',')
            len++;
        size_t next = len < n ? len + 1 : len;
        const char *e = p + len;
        while (p < e && (*p == ' ' || *p == '\t'))
            p++;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        size_t tl = (size_t)(e - p);
        if (tl >= 2 && p[0] == 'W' && p[1] == '/')
            p += 2, tl -= 2;
        if ((tl == 1 && *p == '*') || (tl == el && memcmp(p, etag, el) == 0))
            return 1;
        p = req->if_none_match + (req->if_none_match_len - n) + next;
        n -= next;
    }
    return 0;
}

/* ---- request parsing ---------------------------------------------------------------------------
 */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode s[0..n) into out (PW_WEB_MAX_NAME + 1 bytes); plus is a
 * space in a query string.  NUL and other control bytes are refused: no run
 * or layer name has them that the dashboard could show. */
static int decode(const char *s, size_t n, int plus, char *out, size_t *outlen, const char *what,
                  pw_web_res *res)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return fail(res, 400, "bad percent-encoding in the %s", what);
            int a = hexval(s[i + 1]), b = hexval(s[i + 2]);
            if (a < 0 || b < 0)
                return fail(res, 400, "bad percent-encoding in the %s", what);
            c = a * 16 + b;
            i += 2;
        } else if (c == '+' && plus) {
            c = ' ';
        }
        if (c < 0x20 || c == 0x7f)
            return fail(res, 400, "the %s contains a control byte (0x%02x)", what, c);
        if (o >= PW_WEB_MAX_NAME)
            return fail(res, 400, "the %s is longer than %d bytes", what, PW_WEB_MAX_NAME);
        out[o++] = (char)c;
    }
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    return 0;
}

/* Split the path into decoded segments and the query into parameters. */
static int parse_target(const pw_web_req *req, route *rt, pw_web_res *res)
{
    const char *t = req->target;
    size_t n = req->target_len;
    if (n == 0 || t[0] != '/')
        return fail(res, 400, "the request target must be a path starting with '/'");
    const char *q = memchr(t, '?', n);
    size_t plen = q ? (size_t)(q - t) : n;
    /* Segments: "/" alone has none; "/a/b/" has a, b (a trailing slash is ignored). */
    size_t i = 1;
    rt->nseg = 0;
    while (i < plen) {
        const char *e = memchr(t + i, '/', plen - i);
        size_t sl = e ? (size_t)(e - (t + i)) : plen - i;
        if (sl == 0 && e)
            return fail(res, 404, "not found: the path has an empty segment ('//')");
        if (sl > 0) {
            if (rt->nseg == 4)
                return fail(res, 404, "not found: the path has too many segments");
            if (decode(t + i, sl, 0, rt->seg[rt->nseg], NULL, "path", res))
                return -1;
            rt->nseg++;
        }
        i += sl + 1;
    }
    /* The clean target: the path, then every parameter but the token. */
    memcpy(rt->clean, t, plen);
    size_t cl = plen;
    rt->nparams = 0;
    if (!q)
        return rt->clean[cl] = '\0', 0;
    const char *p = q + 1, *end = t + n;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        if (pe > p) {
            if (rt->nparams == PW_WEB_MAX_PARAMS)
                return fail(res, 400, "more than %d query parameters", PW_WEB_MAX_PARAMS);
            param *pm = &rt->params[rt->nparams];
            const char *eq = memchr(p, '=', (size_t)(pe - p));
            const char *ke = eq ? eq : pe;
            size_t klen = 0;
            char key[PW_WEB_MAX_NAME + 1];
            if (decode(p, (size_t)(ke - p), 1, key, &klen, "parameter name", res))
                return -1;
            if (klen == 0 || klen >= sizeof pm->key) {
                char shown[48];
                printable(shown, sizeof shown, key, klen);
                return fail(res, 400, "bad query parameter name '%s'", shown);
            }
            memcpy(pm->key, key, klen + 1);
            if (decode(eq ? eq + 1 : pe, eq ? (size_t)(pe - eq - 1) : 0, 1, pm->val, &pm->val_len,
                       "parameter value", res))
                return -1;
            rt->nparams++;
            /* The cache's key: neither the token nor v (which only makes the
             * browser fetch a picture again) tells answers apart. */
            if (strcmp(pm->key, "token") != 0 && strcmp(pm->key, "v") != 0) {
                char sep = cl == plen ? '?' : '&';
                rt->clean[cl++] = sep;
                memcpy(rt->clean + cl, p, (size_t)(pe - p));
                cl += (size_t)(pe - p);
            }
        }
        p = pe + 1;
    }
    rt->clean[cl] = '\0';
    return 0;
}

static const param *find_param(const route *rt, const char *key)
{
    for (size_t i = 0; i < rt->nparams; i++)
        if (strcmp(rt->params[i].key, key) == 0)
            return &rt->params[i];
    return NULL;
}

/* Every parameter must be one of allowed (NULL-terminated; "token" always is);
 * only those in repeatable may come more than once. */
static int check_params(const route *rt, const char *const *allowed, const char *repeatable,
                        pw_web_res *res)
{
    for (size_t i = 0; i < rt->nparams; i++) {
        const char *k = rt->params[i].key;
        int ok = strcmp(k, "token") == 0;
        for (size_t a = 0; !ok && allowed && allowed[a]; a++)
            ok = strcmp(k, allowed[a]) == 0;
        if (!ok) {
            char shown[48];
            printable(shown, sizeof shown, k, strlen(k));
            char list[256] = "";
            for (size_t a = 0; allowed && allowed[a]; a++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", a ? ", " : "",
                         allowed[a]);
            return fail(res, 400, "unknown query parameter '%s' (this endpoint takes: %s)", shown,
                        list[0] ? list : "none");
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(rt->params[j].key, k) == 0 && !(repeatable && strcmp(repeatable, k) == 0))
                return fail(res, 400, "query parameter '%s' given twice", k);
    }
    return 0;
}

/* A choice parameter: *out is the index in choices of its value, or dflt when absent. */
static int choice_param(const route *rt, const char *key, const char *const *choices, int dflt,
                        int *out, pw_web_res *res)
{
    const param *p = find_param(rt, key);
    *out = dflt;
    if (!p)
        return 0;
    for (int i = 0; choices[i]; i++)
        if (strcmp(p->val, choices[i]) == 0)
            return *out = i, 0;
    char shown[48], list[128] = "";
    printable(shown, sizeof shown, p->val, p->val_len);
    for (int i = 0; choices[i]; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                 choices[i]);
    return fail(res, 400, "%s must be one of %s, not '%s'", key, list, shown);
}

/* A counting parameter: a decimal integer 0..INT64_MAX; *out is dflt when
 * absent.  what says what it counts, for the message. */
static int count_param(const route *rt, const char *key, const char *what, int64_t dflt,
                       int64_t *out, pw_web_res *res)
{
    const param *p = find_param(rt, key);
    *out = dflt;
    if (!p)
        return 0;
    int64_t v = 0;
    size_t i = 0;
    for (; i < p->val_len && p->val[i] >= '0' && p->val[i] <= '9'; i++) {
        int d = p->val[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            break;
        v = v * 10 + d;
    }
    if (i == 0 || i != p->val_len) {
        char shown[48];
        printable(shown, sizeof shown, p->val, p->val_len);
        return fail(res, 400, "%s must be %s, an integer from 0 to %" PRId64 ", not '%s'", key,
                    what, INT64_MAX, shown);
    }
    *out = v;
    return 0;
}

static int step_param(const route *rt, const char *key, int64_t dflt, int64_t *out, pw_web_res *res)
{
    return count_param(rt, key, "a step", dflt, out, res);
}

/* ---- access ---------------------------------------------------------------------------------- */

static int token_eq(const pw_web *w, const char *s, size_t n)
{
    /* Constant time in the token's length: the difference of every byte is ORed. */
    unsigned char d = n != w->token_len;
    for (size_t i = 0; i < w->token_len; i++)
        d |= (unsigned char)(w->token[i] ^ (i < n ? s[i] : 0));
    return d == 0;
}

/* The token cookie's value, if the Cookie header has one equal to the token. */
static int cookie_ok(const pw_web *w, const pw_web_req *req)
{
    const char *c = req->cookie, *end = c ? c + req->cookie_len : NULL;
    size_t kl = strlen(PW_WEB_COOKIE);
    while (c && c < end) {
        while (c < end && (*c == ' ' || *c == ';'))
            c++;
        const char *semi = memchr(c, ';', (size_t)(end - c));
        const char *e = semi ? semi : end;
        if ((size_t)(e - c) > kl && memcmp(c, PW_WEB_COOKIE, kl) == 0 && c[kl] == '=' &&
            token_eq(w, c + kl + 1, (size_t)(e - c - kl - 1)))
            return 1;
        c = e;
    }
    return 0;
}

/* Host names a loopback address or localhost (any port). */
static int host_ok(const pw_web_req *req)
{
    if (!req->host || req->host_len == 0)
        return 1; /* HTTP/1.0 without Host: not a browser, which always sends one */
    char h[300];
    size_t n = req->host_len < sizeof h - 1 ? req->host_len : sizeof h - 1;
    memcpy(h, req->host, n);
    h[n] = '\0';
    /* Cut the port: after the last ':' unless inside brackets. */
    char *close = strrchr(h, ']');
    char *colon = strrchr(h, ':');
    if (colon && (!close || colon > close) && h[0] != '[')
        *colon = '\0';
    else if (h[0] == '[' && close)
        close[1] = '\0';
    if (strcasecmp(h, "localhost") == 0 || strcmp(h, "[::1]") == 0)
        return 1;
    /* 127.B.C.D: four decimal octets, the first 127. */
    const char *s = h;
    for (int k = 0; k < 4; k++) {
        unsigned v = 0;
        size_t nd = 0;
        for (; *s >= '0' && *s <= '9' && nd < 4; s++, nd++)
            v = v * 10 + (unsigned)(*s - '0');
        if (nd == 0 || nd > 3 || v > 255 || (k == 0 && v != 127) || *s != (k < 3 ? '.' : '\0'))
            return 0;
        if (k < 3)
            s++;
    }
    return 1;
}

/* ---- data -------------------------------------------------------------------------------- */

/* Read alerts newer than the ones seen, keeping the newest per run. */
static int refresh_alerts(pw_web *w, pw_err *err)
{
    pw_alert *al = NULL;
    size_t n = 0;
    if (pw_query_alerts(w->q, NULL, w->alert_id, &al, &n, err) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        last_alert *slot = NULL;
        for (size_t j = 0; j < w->nalerts && !slot; j++)
            if (strcmp(w->alerts[j].run, al[i].run) == 0)
                slot = &w->alerts[j];
        if (!slot) {
            last_alert *g = realloc(w->alerts, (w->nalerts + 1) * sizeof *g);
            char *name = strdup(al[i].run);
            if (!g || !name) {
                free(name);
                if (g)
                    w->alerts = g;
                pw_query_alerts_free(al, n);
                return pw_err_set(err, "out of memory");
            }
            w->alerts = g;
            slot = &w->alerts[w->nalerts++];
            memset(slot, 0, sizeof *slot);
            slot->run = name;
        } else {
            free(slot->a.run);
            free(slot->a.kind);
            free(slot->a.layer);
            free(slot->a.detail);
        }
        slot->a = al[i];
        memset(&al[i], 0, sizeof al[i]); /* moved */
        w->alert_id = slot->a.id > w->alert_id ? slot->a.id : w->alert_id;
    }
    pw_query_alerts_free(al, n);
    return 0;
}

static json_t *alert_json(const pw_alert *a)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(a->id));
    json_object_set_new(o, "kind", pw_json_str(a->kind));
    json_object_set_new(o, "layer", pw_json_str(a->layer));
    json_object_set_new(o, "step", json_integer(a->step));
    json_object_set_new(o, "value", pw_json_real(a->value));
    json_object_set_new(o, "detail", pw_json_str(a->detail));
    json_object_set_new(o, "created_at", pw_json_real(a->created_at));
    return o;
}

static const char *run_state(const pw_run_info *r)
{
    if (r->final_step != PW_QUERY_NO_STEP)
        return "final";
    return r->converged_step != PW_QUERY_NO_STEP ? "converged" : "running";
}

/* key: how /run/ names it (its display name, or its path when another run has that name). */
static json_t *run_json(const pw_web *w, const pw_run_info *r, const char *key,
                        const pw_web_live *lv)
{
    json_t *o = json_object();
    json_object_set_new(o, "key", pw_json_str(key));
    json_object_set_new(o, "name", pw_json_str(r->name));
    json_object_set_new(o, "path", pw_json_str(r->path));
    json_object_set_new(o, "state", json_string(run_state(r)));
    json_object_set_new(o, "last_step", pw_json_step(r->last_step));
    json_object_set_new(o, "final_step", pw_json_step(r->final_step));
    json_object_set_new(o, "final_source", pw_json_str(r->final_source));
    json_object_set_new(o, "converged_step", pw_json_step(r->converged_step));
    json_object_set_new(o, "checkpoints", json_integer(r->checkpoints));
    json_object_set_new(o, "layers", json_integer(r->layers));
    json_object_set_new(o, "stable_layers", json_integer(r->stable_layers));
    json_object_set_new(o, "measured_layers", json_integer(r->measured_layers));
    json_object_set_new(o, "watched", json_boolean(lv->watched));
    json_object_set_new(o, "pending", json_integer(lv->pending));
    json_object_set_new(o, "version", json_integer((json_int_t)lv->version));
    const pw_alert *last = NULL;
    for (size_t j = 0; j < w->nalerts && !last; j++)
        if (strcmp(w->alerts[j].run, r->name) == 0)
            last = &w->alerts[j].a;
    json_object_set_new(o, "last_alert", last ? alert_json(last) : json_null());
    return o;
}

static void live_of(const pw_web *w, const char *path, pw_web_live *lv)
{
    memset(lv, 0, sizeof *lv);
    if (w->live)
        w->live(w->ctx, path, lv);
}

/* Sort order of the runs page: most recently changed first, then newest step, then name. */
typedef struct run_order {
    const pw_run_info *r; /* the run */
    pw_web_live lv;       /* the daemon's view of it */
} run_order;

static int by_activity(const void *a, const void *b)
{
    const run_order *x = a, *y = b;
    if (x->lv.version != y->lv.version)
        return x->lv.version > y->lv.version ? -1 : 1;
    if (x->r->last_step != y->r->last_step)
        return x->r->last_step > y->r->last_step ? -1 : 1;
    int c = strcmp(x->r->name, y->r->name);
    return c ? c : strcmp(x->r->path, y->r->path);
}

static double now_s(void);

static void snap_clear(pw_web *w)
{
    pw_query_runs_free(w->snap.runs, w->snap.n);
    free(w->snap.ord);
    memset(&w->snap, 0, sizeof w->snap);
}

/* Read again the runs of the list whose change counter moved.  0, or -1
 * when the list must be read whole (a run read by its path is gone). */
static int snap_update(pw_web *w, pw_err *err)
{
    int moved = 0;
    for (size_t i = 0; i < w->snap.n; i++) {
        run_order *o = &w->snap.ord[i];
        pw_web_live lv;
        live_of(w, o->r->path, &lv);
        if (lv.version == o->lv.version)
            continue;
        pw_run_info *r = &w->snap.runs[o->r - w->snap.runs], fresh;
        if (pw_query_find_run(w->q, r->path, &fresh, err) != 0 || fresh.id != r->id) {
            if (fresh.id)
                pw_query_run_clear(&fresh);
            return -1;
        }
        pw_query_run_clear(r);
        *r = fresh;
        o->lv = lv;
        moved = 1;
    }
    if (moved)
        qsort(w->snap.ord, w->snap.n, sizeof *w->snap.ord, by_activity);
    return 0;
}

/* Bring the list of runs up to date: as kept when nothing changed; only the
 * runs whose counter moved read again when the same runs are there (a run
 * being scored costs one run's read, not every run's); read whole when runs
 * came or went, at most every PW_WEB_RUNS_REUSE_MS.  Without change
 * counters (no daemon) every call reads whole. */
static int snap_read(pw_web *w, pw_err *err)
{
    uint64_t v = w->version ? w->version(w->ctx) : 0;
    int live = w->live && v != 0 && w->snap.at > 0;
    if (live && w->snap.version == v)
        return 0;
    pw_runs_stamp st;
    if (pw_query_runs_stamp(w->q, &st, err) != 0)
        return -1;
    if (live && st.count == w->snap.stamp.count && st.max_id == w->snap.stamp.max_id &&
        st.sum_id == w->snap.stamp.sum_id) {
        if (refresh_alerts(w, err) != 0)
            return -1;
        if (snap_update(w, err) == 0) {
            w->snap.version = v;
            return 0;
        }
        pw_err_clear(err); /* a run went between the two reads: read them all */
    } else if (live && now_s() - w->snap.at < PW_WEB_RUNS_REUSE_MS / 1e3) {
        return 0;
    }
    pw_run_info *runs = NULL;
    size_t n = 0;
    if (refresh_alerts(w, err) != 0 || pw_query_runs(w->q, &runs, &n, err) != 0)
        return -1;
    run_order *ord = calloc(n ? n : 1, sizeof *ord);
    if (!ord) {
        pw_query_runs_free(runs, n);
        return pw_err_set(err, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        ord[i].r = &runs[i];
        live_of(w, runs[i].path, &ord[i].lv);
    }
    qsort(ord, n, sizeof *ord, by_activity);
    snap_clear(w);
    w->snap.runs = runs;
    w->snap.n = n;
    w->snap.ord = ord;
    w->snap.version = v;
    w->snap.at = now_s();
    w->snap.stamp = st;
    return 0;
}

/* How /run/ names the i-th run of the list: its name, or its path when
 * another run has that name (runs come ordered by name: a neighbour). */
static const char *snap_key(const pw_web *w, size_t i)
{
    const pw_run_info *runs = w->snap.runs, *r = w->snap.ord[i].r;
    size_t k = (size_t)(r - runs), n = w->snap.n;
    int dup = (k > 0 && strcmp(runs[k - 1].name, r->name) == 0) ||
              (k + 1 < n && strcmp(runs[k + 1].name, r->name) == 0);
    return dup ? r->path : r->name;
}

/* Every run, or with after=V only those changed since the change counter
 * was V, plus the order of all (so a page can place them and drop the runs
 * that went).  A V beyond the counter (a restarted daemon's) gets them all. */
static int api_runs(pw_web *w, const route *rt, pw_web_res *res)
{
    static const char *const allowed[] = {"after", NULL};
    int64_t after;
    pw_err err = {""};
    if (check_params(rt, allowed, NULL, res) ||
        count_param(rt, "after", "a change counter (the \"version\" of an earlier answer)", -1,
                    &after, res))
        return -1;
    if (snap_read(w, &err) != 0)
        return fail(res, 500, "reading the database: %s", err.msg);
    int part = after >= 0 && (uint64_t)after <= w->snap.version && w->snap.version != 0;
    json_t *arr = json_array(), *order = part ? json_array() : NULL;
    for (size_t i = 0; i < w->snap.n; i++) {
        const run_order *o = &w->snap.ord[i];
        const char *key = snap_key(w, i);
        if (!part || o->lv.version > (uint64_t)after)
            json_array_append_new(arr, run_json(w, o->r, key, &o->lv));
        if (order)
            json_array_append_new(order, pw_json_str(key));
    }
    json_t *o = json_object();
    json_object_set_new(o, "version", json_integer((json_int_t)w->snap.version));
    json_object_set_new(o, "epoch", json_string(w->epoch));
    json_object_set_new(o, "runs", arr);
    if (order) {
        json_object_set_new(o, "after", json_integer(after));
        json_object_set_new(o, "order", order);
    }
    return send_json(res, o);
}

/* Find the run named by a decoded path segment; 404 naming it when there is none. */
static int find_run(pw_web *w, const char *name, pw_run_info *run, pw_web_res *res)
{
    pw_err err = {""};
    if (pw_query_find_run(w->q, name, run, &err) == 0)
        return 0;
    char shown[PW_ERR_MAX];
    printable(shown, sizeof shown, err.msg, strlen(err.msg));
    return fail(res, 404, "%s", shown);
}

/* The final checkpoint's bottom-up verdict, from the curve against it. */
static json_t *verdict_json(const pw_curve_row *rows, size_t n, int64_t final_step)
{
    /* Group rows (ordered by depth, layer, step) into one series per layer,
     * leaving out the final checkpoint against itself. */
    pw_conv_point *pts = malloc((n ? n : 1) * sizeof *pts);
    pw_conv_layer *ls = calloc(n ? n : 1, sizeof *ls);
    double *se = malloc((n ? n : 1) * sizeof *se);
    size_t nl = 0, np = 0;
    json_t *o = NULL;
    if (!pts || !ls || !se)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || strcmp(rows[i].layer, rows[i - 1].layer) != 0) {
            ls[nl].name = rows[i].layer;
            ls[nl].depth = rows[i].depth < 0 ? 0 : rows[i].depth;
            ls[nl].pts = pts + np;
            ls[nl].se = se + np;
            ls[nl].npts = 0;
            nl++;
        }
        if (rows[i].step >= final_step)
            continue;
        pts[np].step = rows[i].step;
        pts[np].distance = rows[i].distance;
        se[np] = rows[i].se[PW_METRIC_DISTANCE];
        np++;
        ls[nl - 1].npts++;
    }
    pw_conv_summary s;
    pw_err err = {""};
    if (pw_conv_analyze_noise(ls, nl, PW_CONV_DEFAULT_TAU, PW_CONV_DEFAULT_Z, &s, &err) != 0)
        goto out;
    o = json_object();
    json_object_set_new(o, "verdict", json_string(pw_conv_verdict_name(s.verdict)));
    json_object_set_new(o, "rho", pw_json_real(s.rho));
    json_object_set_new(o, "tau", json_real(s.tau));
    json_object_set_new(o, "settled", json_integer((json_int_t)s.nsettled));
    /* With SEs the verdict counts only the pairs of layers the noise tells apart. */
    json_object_set_new(o, "noise", json_boolean(s.noise));
    json_object_set_new(o, "z", json_real(s.z));
    json_object_set_new(o, "pairs", json_integer((json_int_t)s.npairs));
    json_object_set_new(o, "distinguishable_pairs", json_integer((json_int_t)s.ndistinct));
    json_object_set_new(o, "kappa", pw_json_real(s.kappa));
    json_t *within = json_array();
    for (size_t k = 0; k < s.nwithin; k++)
        json_array_append_new(within, json_pack("[o o]", pw_json_str(ls[s.within[k].a].name),
                                                pw_json_str(ls[s.within[k].b].name)));
    json_object_set_new(o, "within_noise", within);
    json_t *arr = json_array();
    for (size_t i = 0; i < nl; i++) {
        json_t *l = json_object();
        json_object_set_new(l, "layer", pw_json_str(ls[i].name));
        json_object_set_new(l, "settled_step",
                            s.layers[i].settled ? json_integer(s.layers[i].settle_step)
                                                : json_null());
        json_object_set_new(l, "settled_earliest",
                            s.noise && s.layers[i].settled_lo ? json_integer(s.layers[i].settle_lo)
                                                              : json_null());
        json_object_set_new(l, "settled_latest",
                            s.noise && s.layers[i].settled_hi ? json_integer(s.layers[i].settle_hi)
                                                              : json_null());
        json_array_append_new(arr, l);
    }
    json_object_set_new(o, "layers", arr);
    pw_conv_summary_free(&s);
out:
    free(pts);
    free(ls);
    free(se);
    return o;
}

static int api_run(pw_web *w, const pw_run_info *run, const pw_web_live *lv, pw_web_res *res)
{
    pw_err err = {""};
    pw_layer_info *ls = NULL;
    pw_curve_row *rows = NULL, *frows = NULL;
    pw_alert *al = NULL;
    size_t nls = 0, nrows = 0, nfrows = 0, nal = 0;
    int final = run->final_step != PW_QUERY_NO_STEP;
    /* Messages: only of the layers whose newest score to the previous
     * checkpoint is not ok, so a run of healthy layers reads no curve here. */
    const char **bad = NULL;
    size_t nbad = 0;
    int rc = refresh_alerts(w, &err) != 0 || pw_query_layers(w->q, run, &ls, &nls, &err) != 0;
    if (!rc) {
        bad = malloc((nls ? nls : 1) * sizeof *bad);
        if (!bad)
            rc = pw_err_set(&err, "out of memory");
    }
    int has_previous = 0;
    for (size_t i = 0; bad && i < nls; i++) {
        has_previous |= ls[i].prev_status != NULL;
        if (ls[i].prev_status && strcmp(ls[i].prev_status, "ok") != 0)
            bad[nbad++] = ls[i].name;
    }
    if (rc ||
        (nbad &&
         pw_query_curve(w->q, run, "previous", bad, nbad, NULL, NULL, &rows, &nrows, &err) != 0) ||
        (final &&
         pw_query_curve(w->q, run, "final", NULL, 0, NULL, NULL, &frows, &nfrows, &err) != 0) ||
        pw_query_alerts(w->q, run, 0, &al, &nal, &err) != 0) {
        pw_query_layers_free(ls, nls);
        pw_query_curve_free(rows, nrows);
        pw_query_curve_free(frows, nfrows);
        free(bad);
        return fail(res, 500, "reading the database: %s", err.msg);
    }
    free(bad);
    json_t *layers = json_array();
    for (size_t i = 0; i < nls; i++) {
        const pw_layer_info *l = &ls[i];
        /* The layer's newest score to the previous checkpoint, for its message. */
        const pw_curve_row *last = NULL;
        for (size_t k = 0; k < nrows; k++)
            if (strcmp(rows[k].layer, l->name) == 0 && (!last || rows[k].step >= last->step))
                last = &rows[k];
        json_t *o = json_object();
        json_object_set_new(o, "name", pw_json_str(l->name));
        json_object_set_new(o, "depth", json_integer(l->depth));
        json_object_set_new(o, "dtype", pw_json_str(l->dtype));
        json_object_set_new(o, "shape", pw_json_str(l->shape));
        json_object_set_new(o, "n", json_integer(l->rows));
        json_object_set_new(o, "p", json_integer(l->cols));
        json_object_set_new(o, "stable_step", pw_json_step(l->stable_step));
        json_object_set_new(o, "measured", json_boolean(l->measured));
        json_object_set_new(o, "last_step", pw_json_step(l->last_step));
        json_object_set_new(o, "last_distance", pw_json_real(l->last_distance));
        json_object_set_new(o, "status",
                            pw_json_str(last             ? last->status
                                        : l->prev_status ? l->prev_status
                                                         : l->last_status));
        json_object_set_new(o, "message", pw_json_str(last ? last->message : NULL));
        json_array_append_new(layers, o);
    }
    json_t *alerts = json_array();
    size_t first = nal > PW_WEB_MAX_ALERTS ? nal - PW_WEB_MAX_ALERTS : 0;
    for (size_t i = nal; i-- > first;) /* newest first */
        json_array_append_new(alerts, alert_json(&al[i]));
    json_t *o = json_object();
    json_object_set_new(o, "version", json_integer((json_int_t)lv->version));
    json_object_set_new(o, "run", run_json(w, run, run->name, lv));
    json_object_set_new(o, "layers", layers);
    json_object_set_new(o, "alerts", alerts);
    json_object_set_new(o, "alerts_total", json_integer((json_int_t)nal));
    json_object_set_new(o, "convergence",
                        final ? verdict_json(frows, nfrows, run->final_step) : json_null());
    json_object_set_new(o, "has_previous", json_boolean(has_previous));
    pw_query_layers_free(ls, nls);
    pw_query_curve_free(rows, nrows);
    pw_query_curve_free(frows, nfrows);
    pw_query_alerts_free(al, nal);
    return send_json(res, o);
}

/* The layer parameters, for pw_query_curve (which 404s an unknown one through us). */
static const char **layer_params(const route *rt, size_t *n)
{
    const char **v = malloc((rt->nparams ? rt->nparams : 1) * sizeof *v);
    *n = 0;
    for (size_t i = 0; v && i < rt->nparams; i++)
        if (strcmp(rt->params[i].key, "layer") == 0)
            v[(*n)++] = rt->params[i].val;
    return v;
}

/* pw_query_curve, its failure sorted into 404 (unknown layer) and 500 (the database). */
static int curve_of(pw_web *w, const pw_run_info *run, const char *ref, const route *rt,
                    pw_curve_row **rows, size_t *n, pw_web_res *res)
{
    size_t nl;
    const char **layers = layer_params(rt, &nl);
    if (!layers)
        return fail(res, 500, "out of memory");
    pw_err err = {""};
    int rc = pw_query_curve(w->q, run, ref, layers, nl, NULL, NULL, rows, n, &err);
    free(layers);
    if (rc == 0)
        return 0;
    char shown[PW_ERR_MAX];
    printable(shown, sizeof shown, err.msg, strlen(err.msg));
    return fail(res, strstr(err.msg, "layer") ? 404 : 500, "%s", shown);
}

static const char *const refs[] = {"previous", "final", NULL};

static int api_curve(pw_web *w, const pw_run_info *run, const route *rt, pw_web_res *res)
{
    static const char *const allowed[] = {"ref", "layer", "since", NULL};
    int ref;
    int64_t since;
    if (check_params(rt, allowed, "layer", res) ||
        choice_param(rt, "ref", refs, run->final_step == PW_QUERY_NO_STEP ? 0 : 1, &ref, res) ||
        step_param(rt, "since", -1, &since, res))
        return -1;
    pw_curve_row *rows = NULL;
    size_t n = 0;
    if (curve_of(w, run, refs[ref], rt, &rows, &n, res))
        return -1;
    pw_err cerr;
    if (pw_query_curve_chance(w->q, run, rows, n, &cerr) != 0) {
        pw_query_curve_free(rows, n);
        return fail(res, 500, "reading the chance levels");
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        if (rows[i].step > since)
            json_array_append_new(arr, pw_json_curve_row(&rows[i]));
    pw_query_curve_free(rows, n);
    return send_json(res, arr);
}

/* Keep every stride-th column (and the newest) when there are more than
 * PW_WEB_MAX_COLUMNS: a page is some 900 pixels wide, and a 50 x 500 grid
 * is 25 000 cells a browser must draw.  In place; marks were set before on
 * every column.  Returns the stride (1: nothing dropped). */
static size_t thin_columns(pw_plot *p)
{
    if (p->nsteps <= PW_WEB_MAX_COLUMNS)
        return 1;
    size_t stride = (p->nsteps + PW_WEB_MAX_COLUMNS - 2) / (PW_WEB_MAX_COLUMNS - 1);
    size_t keep = 0, old = p->nsteps;
    for (size_t s = 0; s < old; s++)
        if (s % stride == 0 || s == old - 1)
            p->steps[keep++] = p->steps[s];
    for (size_t l = 0; l < p->nlayers; l++) {
        size_t j = 0;
        for (size_t s = 0; s < old; s++)
            if (s % stride == 0 || s == old - 1) {
                if (p->se) /* the standard errors go with their values */
                    p->se[l * keep + j] = p->se[l * old + s];
                p->values[l * keep + j++] = p->values[l * old + s];
            }
        assert(j == keep);
    }
    p->nsteps = keep;
    return stride;
}

static void memo_clear(pw_web *w)
{
    pw_query_curve_free(w->memo.rows, w->memo.n);
    memset(&w->memo, 0, sizeof w->memo);
}

static int api_plot(pw_web *w, const pw_run_info *run, const pw_web_live *lv, const route *rt,
                    pw_web_res *res)
{
    static const char *const allowed[] = {"ref", "kind", "layer", "v", NULL};
    static const char *const kinds[] = {"heatmap", "lines", NULL};
    int ref, kind;
    int64_t v;
    if (check_params(rt, allowed, "layer", res) ||
        choice_param(rt, "ref", refs, run->final_step == PW_QUERY_NO_STEP ? 0 : 1, &ref, res) ||
        choice_param(rt, "kind", kinds, 0, &kind, res) || step_param(rt, "v", 0, &v, res))
        return -1;
    if (ref == 1 && run->final_step == PW_QUERY_NO_STEP)
        return fail(res, 404, "run %s is not final yet: no scores against a final checkpoint",
                    run->name);
    pw_curve_row *rows = NULL;
    size_t n = 0;
    /* Every layer: the rows may be those the other picture of the page just read. */
    int whole = !find_param(rt, "layer") && lv->version != 0;
    int memo =
        whole && w->memo.version == lv->version && w->memo.run_id == run->id && w->memo.ref == ref;
    if (memo) {
        rows = w->memo.rows;
        n = w->memo.n;
    } else if (curve_of(w, run, refs[ref], rt, &rows, &n, res)) {
        return -1;
    } else if (whole) {
        memo_clear(w);
        w->memo.run_id = run->id;
        w->memo.ref = ref;
        w->memo.version = lv->version;
        w->memo.rows = rows;
        w->memo.n = n;
        memo = 1;
    }
    pw_err err = {""};
    pw_layer_info *ls = NULL;
    size_t nls = 0;
    pw_plot p;
    memset(&p, 0, sizeof p);
    int rc = 0;
    if (n == 0)
        rc = fail(res, 404, "run %s has no scores against the %s checkpoint yet", run->name,
                  refs[ref]);
    else if (pw_query_layers(w->q, run, &ls, &nls, &err) != 0 ||
             pw_plot_from_curve(rows, n, &p, &err) != 0)
        rc = fail(res, 500, "%s", err.msg);
    if (!memo)
        pw_query_curve_free(rows, n);
    if (rc) {
        pw_query_layers_free(ls, nls);
        pw_plot_free(&p);
        return -1;
    }
    assert(p.nsteps > 0 && p.steps); /* n > 0 rows made at least one column */
    pw_plot_texts texts;
    pw_plot_distance_setup(&p, &texts, run->name, ref == 1, run->final_step, ls, nls,
                           PW_CONV_DEFAULT_TAU, "");
    pw_query_layers_free(ls, nls);
    size_t all = p.nsteps, stride = thin_columns(&p);
    if (stride > 1)
        snprintf(texts.subtitle + strlen(texts.subtitle),
                 sizeof texts.subtitle - strlen(texts.subtitle),
                 " (%zu of %zu drawn: every %zuth and the newest)", p.nsteps, all, stride);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    rc = f ? (kind == 1 ? pw_svg_lines(f, &p, &err) : pw_svg_heatmap(f, &p, &err)) : -1;
    if (f && fclose(f) != 0)
        rc = -1;
    pw_plot_free(&p);
    if (rc != 0) {
        free(buf);
        return fail(res, 500, "drawing the plot: %s", err.msg[0] ? err.msg : "out of memory");
    }
    rc = res_set(res, 200, "image/svg+xml", buf, len);
    free(buf);
    return rc;
}

/* ---- pages and assets
 * ----------------------------------------------------------------------------- */

static const pw_web_asset *asset(const char *name)
{
    for (unsigned i = 0; i < pw_web_nassets; i++)
        if (strcmp(pw_web_assets[i].name, name) == 0)
            return &pw_web_assets[i];
    return NULL;
}

static const char *type_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot && strcmp(dot, ".js") == 0)
        return "text/javascript; charset=utf-8";
    if (dot && strcmp(dot, ".css") == 0)
        return "text/css; charset=utf-8";
    if (dot && strcmp(dot, ".html") == 0)
        return "text/html; charset=utf-8";
    return "application/octet-stream";
}

static int send_asset(const char *name, pw_web_res *res)
{
    const pw_web_asset *a = asset(name);
    if (!a)
        return fail(res, 404, "not found: no asset of that name");
    int rc = res_set(res, 200, type_of(name), (const char *)a->data, a->len);
    res->cacheable = strcmp(type_of(name), "text/html; charset=utf-8") != 0;
    return rc;
}

/* ---- the cache
 * --------------------------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The kept answer for target: rendered at this version, or less than
 * reuse_ms ago (PW_WEB_REUSE_MS, PW_WEB_RUNS_REUSE_MS) -- a run scored several times a second would
 * otherwise be rendered again for every poll of every page. */
static cache_slot *cache_find(pw_web *w, const char *target, uint64_t version, int reuse_ms)
{
    if (!w->live || version == 0)
        return NULL;
    double now = now_s();
    for (unsigned i = 0; i < CACHE_SLOTS; i++)
        if (w->cache[i].target && strcmp(w->cache[i].target, target) == 0 &&
            (w->cache[i].version == version || now - w->cache[i].at < reuse_ms / 1e3))
            return &w->cache[i];
    return NULL;
}

static void cache_put(pw_web *w, const char *target, uint64_t version, pw_web_res *res)
{
    if (!w->live || version == 0 || res->status != 200)
        return;
    etag_of(res->body, res->len, res->etag); /* once: every hit sends it */
    cache_slot *s = NULL;
    for (unsigned i = 0; i < CACHE_SLOTS && !s; i++)
        if (w->cache[i].target && strcmp(w->cache[i].target, target) == 0)
            s = &w->cache[i];
    if (!s)
        s = &w->cache[w->cache_next++ % CACHE_SLOTS];
    char *t = strdup(target), *b = malloc(res->len ? res->len : 1);
    if (!t || !b) {
        free(t);
        free(b);
        return;
    }
    free(s->target);
    free(s->body);
    memcpy(b, res->body, res->len);
    *s = (cache_slot){t, version, res->status, res->type, b, res->len, now_s(), ""};
    memcpy(s->etag, res->etag, sizeof s->etag);
}

/* ---- the router
 * ------------------------------------------------------------------------------------ */

static int handle_run(pw_web *w, route *rt, pw_web_res *res)
{
    pw_run_info run;
    if (find_run(w, rt->seg[2], &run, res))
        return -1;
    pw_web_live lv;
    live_of(w, run.path, &lv);
    cache_slot *hit = cache_find(w, rt->clean, lv.version, PW_WEB_REUSE_MS);
    int rc;
    if (hit) {
        rc = res_set(res, hit->status, hit->type, hit->body, hit->len);
        memcpy(res->etag, hit->etag, sizeof res->etag);
    } else if (rt->nseg == 3) {
        rc = check_params(rt, NULL, NULL, res) || api_run(w, &run, &lv, res);
    } else if (strcmp(rt->seg[3], "curve") == 0) {
        rc = api_curve(w, &run, rt, res);
    } else if (strcmp(rt->seg[3], "plot.svg") == 0) {
        rc = api_plot(w, &run, &lv, rt, res);
    } else {
        rc = fail(res, 404, "not found: /api/run/NAME has curve and plot.svg below it");
    }
    if (!hit)
        cache_put(w, rt->clean, lv.version, res);
    pw_query_run_clear(&run);
    return rc;
}

static int api_version(pw_web *w, route *rt, pw_web_res *res)
{
    static const char *const allowed[] = {"run", NULL};
    if (check_params(rt, allowed, NULL, res))
        return -1;
    json_t *o = json_object();
    json_object_set_new(o, "version",
                        json_integer((json_int_t)(w->version ? w->version(w->ctx) : 0)));
    const param *p = find_param(rt, "run");
    if (p) {
        pw_run_info run;
        if (find_run(w, p->val, &run, res)) {
            json_decref(o);
            return -1;
        }
        pw_web_live lv;
        live_of(w, run.path, &lv);
        json_object_set_new(o, "run_version", json_integer((json_int_t)lv.version));
        json_object_set_new(o, "last_step", pw_json_step(run.last_step));
        json_object_set_new(o, "pending", json_integer(lv.pending));
        pw_query_run_clear(&run);
    }
    return send_json(res, o);
}

static int route_req(pw_web *w, route *rt, pw_web_res *res)
{
    const char *s0 = rt->nseg > 0 ? rt->seg[0] : "";
    if (rt->nseg == 0)
        return check_params(rt, NULL, NULL, res) || send_asset("index.html", res);
    if (strcmp(s0, "run") == 0 && rt->nseg == 2) {
        pw_run_info run;
        if (check_params(rt, NULL, NULL, res) || find_run(w, rt->seg[1], &run, res))
            return -1;
        pw_query_run_clear(&run);
        return send_asset("run.html", res);
    }
    if (strcmp(s0, "assets") == 0 && rt->nseg == 2)
        return check_params(rt, NULL, NULL, res) || send_asset(rt->seg[1], res);
    if (strcmp(s0, "api") == 0 && rt->nseg >= 2) {
        if (strcmp(rt->seg[1], "version") == 0 && rt->nseg == 2)
            return api_version(w, rt, res);
        if (strcmp(rt->seg[1], "runs") == 0 && rt->nseg == 2)
            return api_runs(w, rt, res);
        if (strcmp(rt->seg[1], "run") == 0 && rt->nseg >= 3)
            return handle_run(w, rt, res);
    }
    return fail(res, 404,
                "not found: the dashboard is at /, a run at /run/NAME, the JSON endpoints below "
                "/api (docs/DASHBOARD.md)");
}

int pw_web_handle(pw_web *w, const pw_web_req *req, pw_web_res *res)
{
    res->status = 500;
    res->location[0] = '\0';
    res->cookie[0] = '\0';
    res->cacheable = 0;
    res->etag[0] = '\0';
    int head = req->method_len == 4 && memcmp(req->method, "HEAD", 4) == 0;
    if (!head && !(req->method_len == 3 && memcmp(req->method, "GET", 3) == 0))
        return fail(res, 405, "the dashboard is read-only: only GET and HEAD are served"), 0;
    if (req->target_len > PW_WEB_MAX_TARGET)
        return fail(res, 414, "the request target is longer than %d bytes", PW_WEB_MAX_TARGET), 0;
    if (w->check_host && !host_ok(req))
        return fail(res, 421,
                    "this dashboard listens on loopback and answers only requests for "
                    "localhost, 127.0.0.1 or [::1]"),
               0;
    route *rt = calloc(1, sizeof *rt);
    param *params = calloc(PW_WEB_MAX_PARAMS, sizeof *params);
    if (!rt || !params) {
        free(rt);
        free(params);
        return fail(res, 500, "out of memory"), -1;
    }
    rt->params = params;
    int rc;
    if (parse_target(req, rt, res) != 0)
        goto out;
    if (w->token_len) {
        const param *t = find_param(rt, "token");
        int by_param = t && token_eq(w, t->val, t->val_len);
        if (!by_param && !cookie_ok(w, req)) {
            fail(res, 401,
                 "this dashboard needs its access token: open the address with ?token=... "
                 "(the contents of the daemon's http_token_file)");
            goto out;
        }
        if (by_param) {
            pw_web_cookie(w, res->cookie, sizeof res->cookie);
            /* A page: send the browser to the same address without the token, so it
             * does not stay in the address bar, history or a Referer. */
            if (!(rt->nseg > 0 && strcmp(rt->seg[0], "api") == 0) &&
                !(rt->nseg > 0 && strcmp(rt->seg[0], "assets") == 0)) {
                snprintf(res->location, sizeof res->location, "%s", rt->clean);
                res_set(res, 303, "text/plain; charset=utf-8", "see other\n", 10);
                goto out;
            }
        }
    }
    route_req(w, rt, res);
    if (res->status == 200) {
        if (!res->etag[0])
            etag_of(res->body, res->len, res->etag);
        if (etag_matches(req, res->etag)) {
            res->status = 304; /* the client has these bytes: send none */
            res->len = 0;
        }
    } else {
        res->etag[0] = '\0';
    }
out:
    rc = res->status == 500 && res->len == 0 ? -1 : 0; /* res_set could not allocate */
    free(params);
    free(rt);
    return rc;
}

/* ---- lifecycle
 * ------------------------------------------------------------------------------------ */

int pw_web_new(pw_query *q, const char *token, int check_host, pw_web_live_fn live,
               pw_web_version_fn version, void *ctx, pw_web **out, pw_err *err)
{
    *out = NULL;
    size_t tl = token ? strlen(token) : 0;
    if (tl > PW_WEB_MAX_TOKEN)
        return pw_err_set(err, "the access token is longer than %d bytes", PW_WEB_MAX_TOKEN);
    for (size_t i = 0; i < tl; i++)
        if ((unsigned char)token[i] <= 0x20 || token[i] == 0x7f || token[i] == ';' ||
            token[i] == '&' || token[i] == '%' || token[i] == '+' || token[i] == '"' ||
            token[i] == ',' || token[i] == '\\' || (unsigned char)token[i] >= 0x80)
            return pw_err_set(err,
                              "the access token may hold only printable ASCII without blanks "
                              "and without ; & %% + \" , \\ (it travels in a URL and a cookie)");
    pw_web *w = calloc(1, sizeof *w);
    if (!w)
        return pw_err_set(err, "out of memory");
    w->q = q;
    if (tl)
        memcpy(w->token, token, tl + 1);
    w->token_len = tl;
    w->check_host = check_host;
    w->live = live;
    w->version = version;
    w->ctx = ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(w->epoch, sizeof w->epoch, "%" PRIx64,
             (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
    *out = w;
    return 0;
}

void pw_web_free(pw_web *w)
{
    if (!w)
        return;
    for (unsigned i = 0; i < CACHE_SLOTS; i++) {
        free(w->cache[i].target);
        free(w->cache[i].body);
    }
    for (size_t i = 0; i < w->nalerts; i++) {
        free(w->alerts[i].run);
        free(w->alerts[i].a.run);
        free(w->alerts[i].a.kind);
        free(w->alerts[i].a.layer);
        free(w->alerts[i].a.detail);
    }
    free(w->alerts);
    memo_clear(w);
    snap_clear(w);
    memset(w->token, 0, sizeof w->token);
    free(w);
}

void pw_web_res_free(pw_web_res *res)
{
    free(res->body);
    res->body = NULL;
    res->len = res->cap = 0;
}

int pw_web_cookie(const pw_web *w, char *buf, size_t cap)
{
    if (!w->token_len)
        return -1;
    int n = snprintf(buf, cap, "%s=%s; Path=/; HttpOnly; SameSite=Strict", PW_WEB_COOKIE, w->token);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}
