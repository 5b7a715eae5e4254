/* test_web.c -- the dashboard's requests (pw_web_handle) on a database shaped
 * like the daemon's: the pages and JSON endpoints answer, the curve rows carry
 * the fields of `pwcca curve --format json`, and a table of hostile requests
 * (odd bytes in names, huge steps, unknown layers and parameters, bad
 * percent-encoding, foreign Hosts, missing or wrong tokens) each gets its
 * 4xx status and a message saying why, never a crash.
 *
 * Rows are inserted by column name, so later migrations that add columns
 * leave this fixture valid. */
#include <check.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pw_config.h"
#include "pw_query.h"
#include "pw_schema.h"
#include "pw_test.h"
#include "pw_web.h"

static char db_path[512]; /* the database of the current test */

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg ? msg : "?");
    sqlite3_free(msg);
}

static void execf(sqlite3 *db, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    exec(db, sql);
    sqlite3_free(sql);
}

static void score(sqlite3 *db, int run, const char *layer, int step, const char *ref, int ref_step,
                  double distance, const char *status, const char *message)
{
    execf(db,
          "INSERT INTO scores (run_id, layer, step, ref, ref_step, n, p_kept, q_kept, pwcca, "
          "distance, mean_cca, svcca, cka, status, message, computed_at) VALUES (%d, %Q, %d, %Q, "
          "%d, 64, 8, 8, %.17g, %.17g, 0.5, 0.6, 0.7, %Q, %Q, 1.0)",
          run, layer, step, ref, ref_step, 1 - distance, distance, status, message);
}

/* Runs: "mlp" (final at 300, layers a, b and c, c never scorable), "live"
 * (running, one layer), two runs named "dup", and one whose name is not UTF-8. */
static void build(const char *name)
{
    sqlite3 *db;
    snprintf(db_path, sizeof db_path, "%s/%s.db", pw_test_tmpdir(), name);
    remove(db_path);
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    exec(db, "PRAGMA journal_mode = WAL");
    for (unsigned i = 0; i < pw_schema_nmigrations; i++) {
        exec(db, pw_schema_migrations[i].sql);
        execf(db, "PRAGMA user_version = %d", pw_schema_migrations[i].version);
    }
    exec(db, "BEGIN");
    exec(db, "INSERT INTO runs (id, name, path, final_step, final_source, created_at) VALUES"
             " (1, 'mlp', '/r/mlp', 300, 'FINAL file', 1.0),"
             " (2, 'live', '/r/live', NULL, NULL, 1.0),"
             " (3, 'dup', '/a/dup', NULL, NULL, 1.0),"
             " (4, 'dup', '/b/dup', NULL, NULL, 1.0),"
             " (5, CAST(X'77ff78' AS TEXT), '/r/w', NULL, NULL, 1.0)");
    for (int s = 0; s <= 300; s += 100)
        execf(db,
              "INSERT INTO checkpoints (run_id, step, path, size, mtime_ns, inode, status,"
              " processed_at) VALUES (1, %d, 'ck', 1, 1, 1, 'ok', 1.0)",
              s);
    const char *layers[] = {"a", "b"};
    for (int d = 0; d < 2; d++) {
        execf(db,
              "INSERT INTO layers (run_id, name, depth, dtype, shape, rows, cols, stable_step)"
              " VALUES (1, %Q, %d, 'F32', '[64, 8]', 64, 8, %s)",
              layers[d], d, d == 0 ? "200" : "NULL");
        for (int s = 0; s <= 300; s += 100) {
            if (s > 0)
                score(db, 1, layers[d], s, "previous", s - 100, 0.1 / s * (d + 1), "ok", NULL);
            score(db, 1, layers[d], s, "final", 300, 0.01 * (3 - s / 100) * (3 - s / 100) * (d + 1),
                  "ok", NULL); /* a settles (<= 0.05) at 100, b at 200 */
        }
    }
    exec(db, "INSERT INTO layers (run_id, name, depth, dtype, shape, rows, cols) VALUES"
             " (1, 'c', 2, 'F16', '[4, 16]', 4, 16)");
    score(db, 1, "c", 100, "previous", 0, 0, "insufficient_datapoints", "n = 4 <= p + q");
    exec(db, "INSERT INTO layers (run_id, name, depth, dtype, shape, rows, cols) VALUES"
             " (2, 'dense', 0, 'F32', '[8, 2]', 8, 2)");
    score(db, 2, "dense", 50, "previous", 0, 0.2, "ok", NULL);
    exec(db, "INSERT INTO alerts (run_id, kind, layer, step, value, created_at) VALUES"
             " (1, 'layer_stable', 'a', 200, 0.001, 10.0),"
             " (2, 'layer_stable', 'dense', 50, 0.2, 11.0)");
    exec(db, "COMMIT");
    sqlite3_close(db);
}

static pw_query *q;
static pw_web *w;
static pw_web_res res;

static void open_web(const char *token, int check_host)
{
    pw_err err = {""};
    PW_ASSERT_OK(pw_query_open(db_path, &q, &err), &err);
    PW_ASSERT_OK(pw_web_new(q, token, check_host, NULL, NULL, NULL, &w, &err), &err);
    memset(&res, 0, sizeof res);
}

static void close_web(void)
{
    pw_web_free(w);
    pw_query_close(q);
    pw_web_res_free(&res);
}

/* GET target (with optional Host and Cookie) and return the status. */
static int req(const char *method, const char *target, size_t target_len, const char *host,
               const char *cookie)
{
    pw_web_req r = {method, strlen(method),
                    target, target_len,
                    host,   host ? strlen(host) : 0,
                    cookie, cookie ? strlen(cookie) : 0,
                    NULL,   0};
    ck_assert_int_eq(pw_web_handle(w, &r, &res), 0);
    return res.status;
}

static int get(const char *target)
{
    return req("GET", target, strlen(target), "127.0.0.1:8080", NULL);
}

START_TEST(pages_and_endpoints)
{
    build("pages");
    open_web(NULL, 1);
    ck_assert_int_eq(get("/"), 200);
    ck_assert_str_eq(res.type, "text/html; charset=utf-8");
    ck_assert_ptr_nonnull(strstr(res.body, "dashboard.js"));
    ck_assert_int_eq(get("/run/mlp"), 200);
    ck_assert_int_eq(get("/run/%2Fr%2Fmlp"), 200); /* by path */
    ck_assert_int_eq(get("/assets/dashboard.js"), 200);
    ck_assert_int_eq(res.cacheable, 1);
    ck_assert_int_eq(req("HEAD", "/api/runs", 9, "localhost", NULL), 200);

    ck_assert_int_eq(get("/api/runs"), 200);
    json_error_t je;
    json_t *o = json_loads(res.body, 0, &je);
    ck_assert_msg(o != NULL, "%s", je.text);
    json_t *runs = json_object_get(o, "runs");
    ck_assert_int_eq(json_array_size(runs), 5);
    int dups = 0, weird = 0;
    for (size_t i = 0; i < json_array_size(runs); i++) {
        json_t *r = json_array_get(runs, i);
        const char *name = json_string_value(json_object_get(r, "name"));
        const char *key = json_string_value(json_object_get(r, "key"));
        if (strcmp(name, "dup") == 0) {
            dups++;
            ck_assert_str_eq(key, json_string_value(json_object_get(r, "path")));
        }
        weird += strcmp(name, "w\xef\xbf\xbdx") == 0; /* the bad byte is U+FFFD */
        if (strcmp(name, "mlp") == 0) {
            ck_assert_str_eq(json_string_value(json_object_get(r, "state")), "final");
            json_t *la = json_object_get(r, "last_alert");
            ck_assert_str_eq(json_string_value(json_object_get(la, "layer")), "a");
        }
    }
    ck_assert_int_eq(dups, 2);
    ck_assert_int_eq(weird, 1);
    json_decref(o);

    ck_assert_int_eq(get("/api/run/mlp"), 200);
    o = json_loads(res.body, 0, &je);
    ck_assert_msg(o != NULL, "%s", je.text);
    json_t *ls = json_object_get(o, "layers");
    ck_assert_int_eq(json_array_size(ls), 3);
    json_t *c = json_array_get(ls, 2);
    ck_assert_str_eq(json_string_value(json_object_get(c, "status")), "insufficient_datapoints");
    ck_assert_str_eq(json_string_value(json_object_get(c, "message")), "n = 4 <= p + q");
    json_t *conv = json_object_get(o, "convergence");
    ck_assert_str_eq(json_string_value(json_object_get(conv, "verdict")), "bottom-up");
    ck_assert_int_eq(json_array_size(json_object_get(o, "alerts")), 1);
    json_decref(o);

    ck_assert_int_eq(get("/api/run/mlp/plot.svg?ref=final&kind=heatmap"), 200);
    ck_assert_str_eq(res.type, "image/svg+xml");
    ck_assert_int_eq(strncmp(res.body, "<?xml", 5), 0);
    ck_assert_int_eq(get("/api/run/mlp/plot.svg?kind=lines&layer=b&ref=previous&v=9"), 200);
    ck_assert_int_eq(get("/api/version?run=live"), 200);
    close_web();
}
END_TEST

/* The same columns, in the same order, as `pwcca curve --format json` documents. */
START_TEST(curve_fields_match_pwcca_curve)
{
    build("curve");
    open_web(NULL, 0);
    ck_assert_int_eq(get("/api/run/mlp/curve?ref=previous&layer=a&since=100"), 200);
    json_error_t je;
    json_t *arr = json_loads(res.body, 0, &je);
    ck_assert_msg(arr != NULL, "%s", je.text);
    ck_assert_int_eq(json_array_size(arr), 2); /* steps 200 and 300 of layer a */
    const char *want[32] = {"run",      "layer", "depth",  "step",  "ref",
                            "ref_step", "n",     "p_kept", "q_kept"};
    size_t nw = 9;
#define PW_METRIC_NAME(sym, id, bitno, sel, tpos, label, doc) want[nw++] = #id;
    PW_METRIC_LIST(PW_METRIC_NAME)
#undef PW_METRIC_NAME
    want[nw++] = "status";
    want[nw++] = "message";
    want[nw++] = "reduce";
    want[nw++] = "k_x";
    want[nw++] = "k_y";
#define NOISE_NAME(sym, id, since) want[nw++] = #id "_se";
    PW_NOISE_SE_COLUMNS(NOISE_NAME)
#undef NOISE_NAME
    want[nw++] = "noise_blocks";
    want[nw++] = "chance_distance";
    json_t *row = json_array_get(arr, 0);
    ck_assert_int_eq(json_object_size(row), nw);
    size_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach(row, key, v)
    {
        (void)v;
        ck_assert_str_eq(key, want[k]);
        k++;
    }
    ck_assert_int_eq(json_integer_value(json_object_get(row, "step")), 200);
    ck_assert_str_eq(json_string_value(json_object_get(row, "layer")), "a");
    json_decref(arr);
    close_web();
}
END_TEST

/* Hostile requests: each gets its status and a message naming the problem. */
START_TEST(hostile_requests)
{
    build("hostile");
    open_web(NULL, 1);
    static const struct {
        const char *target; /* NULL-free targets; those with NUL are below */
        int status;         /* expected */
        const char *says;   /* in the message */
    } table[] = {
        {"/run/nope", 404, "no run"},
        {"/api/run/nope/curve", 404, "no run"},
        {"/run/%ff%fe", 404, "no run"},
        {"/run/a%00b", 400, "control byte"},
        {"/run/%0a", 400, "control byte"},
        {"/run/a%2", 400, "percent-encoding"},
        {"/run/a%zz", 400, "percent-encoding"},
        {"/api/run/mlp/curve?since=99999999999999999999", 400, "since must be a step"},
        {"/api/run/mlp/curve?since=-1", 400, "since must be a step"},
        {"/api/run/mlp/curve?since=1e3", 400, "since must be a step"},
        {"/api/run/mlp/curve?since=", 400, "since must be a step"},
        {"/api/run/mlp/curve?layer=zz", 404, "no layer 'zz'"},
        {"/api/run/mlp/curve?ref=sideways", 400, "ref must be one of"},
        {"/api/run/mlp/curve?ref=final&ref=previous", 400, "given twice"},
        {"/api/run/mlp/curve?bogus=1", 400, "unknown query parameter 'bogus'"},
        {"/api/run/mlp/curve?=1", 400, "bad query parameter name"},
        {"/api/run/mlp/plot.svg?kind=pie", 400, "kind must be one of"},
        {"/api/run/live/plot.svg?ref=final", 404, "not final"},
        {"/api/runs?x=1", 400, "unknown query parameter"},
        {"/api/run/mlp/other", 404, "not found"},
        {"/api/run/mlp/curve/extra/more", 404, "not found"},
        {"/assets/../../etc/passwd", 404, "not found"},
        {"/assets/%2e%2e%2fetc%2fpasswd", 404, "no asset"},
        {"//", 404, "empty segment"},
        {"/nothing", 404, "not found"},
        {"nopath", 400, "must be a path"},
        {"/api/version?run=%ff", 404, "no run"},
        {"/api/runs?after=abc", 400, "after must be a change counter"},
        {"/api/runs?after=-1", 400, "after must be a change counter"},
        {"/api/runs?after=99999999999999999999", 400, "after must be a change counter"},
        {"/api/runs?after=", 400, "after must be a change counter"},
        {"/api/runs?after=1&after=2", 400, "given twice"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        int st = get(table[i].target);
        ck_assert_msg(st == table[i].status, "%s: status %d, expected %d (%s)", table[i].target, st,
                      table[i].status, res.body);
        ck_assert_msg(strstr(res.body, table[i].says), "%s: '%s' lacks '%s'", table[i].target,
                      res.body, table[i].says);
        for (size_t b = 0; b < res.len; b++) /* nothing echoed raw */
            ck_assert_msg((unsigned char)res.body[b] >= 0x20 || res.body[b] == '\n',
                          "%s: control byte in the answer", table[i].target);
    }
    /* A NUL inside the target, a target over the limit, too many parameters. */
    ck_assert_int_eq(req("GET", "/run/a\0b", 8, "localhost", NULL), 400);
    static char big[PW_WEB_MAX_TARGET + 16];
    memset(big, 'a', sizeof big - 1);
    big[0] = '/';
    ck_assert_int_eq(get(big), 414);
    char many[1024] = "/api/runs?";
    for (int i = 0; i <= PW_WEB_MAX_PARAMS; i++)
        strcat(many, "a=1&");
    ck_assert_int_eq(get(many), 400);
    ck_assert_ptr_nonnull(strstr(res.body, "more than"));
    char longname[PW_WEB_MAX_NAME + 64] = "/run/";
    memset(longname + 5, 'x', PW_WEB_MAX_NAME + 1);
    ck_assert_int_eq(get(longname), 400);
    ck_assert_ptr_nonnull(strstr(res.body, "longer than"));
    /* Methods, and Hosts other than loopback (DNS rebinding). */
    ck_assert_int_eq(req("POST", "/", 1, "localhost", NULL), 405);
    ck_assert_int_eq(req("DELETE", "/api/runs", 9, "localhost", NULL), 405);
    ck_assert_int_eq(req("GET", "/api/runs", 9, "evil.example:8080", NULL), 421);
    ck_assert_int_eq(req("GET", "/api/runs", 9, "127.0.0.1.evil.example", NULL), 421);
    ck_assert_int_eq(req("GET", "/api/runs", 9, "[::1]:9464", NULL), 200);
    ck_assert_int_eq(req("GET", "/api/runs", 9, "LOCALHOST", NULL), 200);
    close_web();
}
END_TEST

START_TEST(token)
{
    build("token");
    open_web("s3cret-T0ken", 0);
    ck_assert_int_eq(get("/"), 401);
    ck_assert_ptr_null(strstr(res.body, "s3cret"));
    ck_assert_int_eq(get("/api/runs?token=wrong"), 401);
    ck_assert_int_eq(get("/api/runs?token=s3cret-T0ke"), 401);
    /* A page with the token: a redirect to the address without it, and the cookie. */
    ck_assert_int_eq(get("/run/mlp?token=s3cret-T0ken"), 303);
    ck_assert_str_eq(res.location, "/run/mlp");
    ck_assert_int_eq(strncmp(res.cookie, "pwccad_token=s3cret-T0ken;", 26), 0);
    ck_assert_ptr_nonnull(strstr(res.cookie, "HttpOnly"));
    ck_assert_ptr_nonnull(strstr(res.cookie, "SameSite=Strict"));
    /* The cookie opens every endpoint, among other cookies. */
    ck_assert_int_eq(req("GET", "/api/runs", 9, NULL, "a=b; pwccad_token=s3cret-T0ken; c=d"), 200);
    ck_assert_int_eq(req("GET", "/api/runs", 9, NULL, "pwccad_token=s3cret-T0kenX"), 401);
    /* An endpoint with the token answers at once, other parameters kept. */
    ck_assert_int_eq(get("/api/run/mlp/curve?token=s3cret-T0ken&layer=a"), 200);
    /* A token that cannot travel in a URL and a cookie is refused up front. */
    pw_web *bad = NULL;
    pw_err err = {""};
    PW_ASSERT_FAILS_WITH(pw_web_new(q, "a b", 0, NULL, NULL, NULL, &bad, &err), &err, "printable");
    close_web();
}
END_TEST

/* A request with an If-None-Match header. */
static int get_if(const char *target, const char *inm)
{
    pw_web_req r = {"GET", 3, target, strlen(target), "localhost", 9, NULL, 0, inm, strlen(inm)};
    ck_assert_int_eq(pw_web_handle(w, &r, &res), 0);
    return res.status;
}

/* Every 200 carries an ETag; asking again with it gets 304 and no body, and
 * an answer that changed gets 200 with another tag. */
START_TEST(etag_not_modified)
{
    build("etag");
    open_web(NULL, 1);
    static const char *const targets[] = {"/api/runs", "/api/run/mlp",
                                          "/api/run/mlp/plot.svg?kind=heatmap",
                                          "/api/run/mlp/curve?layer=a", "/assets/dashboard.js"};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        ck_assert_int_eq(get(targets[i]), 200);
        char tag[sizeof res.etag];
        memcpy(tag, res.etag, sizeof tag);
        ck_assert_msg(tag[0] == '"' && strlen(tag) > 2, "%s: etag '%s'", targets[i], tag);
        ck_assert_int_eq(get_if(targets[i], tag), 304);
        ck_assert_int_eq(res.len, 0);
        ck_assert_str_eq(res.etag, tag);
        char list[128];
        snprintf(list, sizeof list, "\"x\", W/%s", tag); /* a list, a weak tag */
        ck_assert_int_eq(get_if(targets[i], list), 304);
        ck_assert_int_eq(get_if(targets[i], "\"0000000000000000-0\""), 200);
        ck_assert_str_eq(res.etag, tag);
        ck_assert_uint_gt(res.len, 0);
    }
    /* Different answers have different tags; errors have none. */
    ck_assert_int_eq(get("/api/run/mlp/curve?layer=a"), 200);
    char a[sizeof res.etag];
    memcpy(a, res.etag, sizeof a);
    ck_assert_int_eq(get("/api/run/mlp/curve?layer=b"), 200);
    ck_assert_str_ne(res.etag, a);
    ck_assert_int_eq(get_if("/api/run/mlp/curve?layer=b", a), 200);
    ck_assert_int_eq(get("/api/run/nope"), 404);
    ck_assert_str_eq(res.etag, "");
    close_web();
}
END_TEST

/* The daemon's view for runs_after: "mlp" changed last (counter 7), "live" at
 * 4, the others not watched (1); the global counter is 7.  A test may move them. */
static uint64_t fake_mlp = 7, fake_live_run = 4, fake_global = 7;

static void fake_live(void *ctx, const char *path, pw_web_live *out)
{
    (void)ctx;
    out->watched = strcmp(path, "/r/mlp") == 0 || strcmp(path, "/r/live") == 0;
    out->version = strcmp(path, "/r/mlp") == 0    ? fake_mlp
                   : strcmp(path, "/r/live") == 0 ? fake_live_run
                                                  : 1;
}

static uint64_t fake_version(void *ctx)
{
    (void)ctx;
    return fake_global;
}

/* Names of the runs in the answer's "runs", and the length of its "order". */
static void runs_of(char *names, size_t cap, size_t *norder)
{
    json_error_t je;
    json_t *o = json_loads(res.body, 0, &je);
    ck_assert_msg(o != NULL, "%s", je.text);
    json_t *runs = json_object_get(o, "runs"), *order = json_object_get(o, "order");
    names[0] = '\0';
    for (size_t i = 0; i < json_array_size(runs); i++)
        snprintf(names + strlen(names), cap - strlen(names), "%s%s", i ? "," : "",
                 json_string_value(json_object_get(json_array_get(runs, i), "key")));
    *norder = order ? json_array_size(order) : 0;
    ck_assert_int_eq(json_integer_value(json_object_get(o, "version")), (json_int_t)fake_global);
    json_decref(o);
}

/* /api/runs?after=V: only the runs changed since V, with the order of all. */
START_TEST(runs_after)
{
    build("after");
    fake_mlp = 7, fake_live_run = 4, fake_global = 7;
    pw_err err = {""};
    PW_ASSERT_OK(pw_query_open(db_path, &q, &err), &err);
    PW_ASSERT_OK(pw_web_new(q, NULL, 1, fake_live, fake_version, NULL, &w, &err), &err);
    memset(&res, 0, sizeof res);
    char names[256];
    size_t norder;
    ck_assert_int_eq(get("/api/runs"), 200);
    runs_of(names, sizeof names, &norder);
    ck_assert_int_eq(norder, 0); /* the whole list, most recently active first */
    ck_assert_int_eq(strncmp(names, "mlp,live,", 9), 0);
    ck_assert_int_eq(get("/api/runs?after=5"), 200);
    runs_of(names, sizeof names, &norder);
    ck_assert_str_eq(names, "mlp");
    ck_assert_int_eq(norder, 5);
    ck_assert_int_eq(get("/api/runs?after=3"), 200);
    runs_of(names, sizeof names, &norder);
    ck_assert_str_eq(names, "mlp,live");
    ck_assert_int_eq(get("/api/runs?after=7"), 200); /* nothing changed */
    runs_of(names, sizeof names, &norder);
    ck_assert_str_eq(names, "");
    ck_assert_int_eq(norder, 5);
    ck_assert_int_eq(get("/api/runs?after=8"), 200); /* a counter of another daemon: all */
    runs_of(names, sizeof names, &norder);
    ck_assert_int_eq(norder, 0);
    ck_assert_int_eq(strncmp(names, "mlp,live,", 9), 0);

    /* "live" stores a checkpoint: at once (no reuse window) it is read again,
     * with its new step, and comes first. */
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    exec(db, "INSERT INTO checkpoints (run_id, step, path, size, mtime_ns, inode, status,"
             " processed_at) VALUES (2, 500, 'ck', 1, 1, 1, 'ok', 1.0)");
    sqlite3_close(db);
    fake_live_run = fake_global = 8;
    ck_assert_int_eq(get("/api/runs?after=7"), 200);
    runs_of(names, sizeof names, &norder);
    ck_assert_str_eq(names, "live");
    ck_assert_ptr_nonnull(strstr(res.body, "\"last_step\":500"));
    ck_assert_ptr_nonnull(strstr(res.body, "\"order\":[\"live\",\"mlp\","));
    close_web();
}
END_TEST

/* The two configuration keys (here rather than in test_config.c, with the rest of the dashboard).
 */
START_TEST(config_keys)
{
    pw_config c;
    pw_config_defaults(&c);
    pw_err e = {""};
    ck_assert_str_eq(c.http_listen, ""); /* no dashboard unless asked for */
    PW_ASSERT_OK(pw_config_set(&c, "http_listen", "8765", &e), &e);
    ck_assert_str_eq(c.http_listen, "8765");
    PW_ASSERT_OK(pw_config_set(&c, "http_listen", "[::1]:8765", &e), &e);
    PW_ASSERT_FAILS_WITH(pw_config_set(&c, "http_listen", "dash.lan:80", &e), &e,
                         "names are not resolved");
    PW_ASSERT_FAILS_WITH(pw_config_set(&c, "http_listen", "127.0.0.1:70000", &e), &e, "port");
    PW_ASSERT_OK(pw_config_set(&c, "http_token_file", "/etc/pwccad/token", &e), &e);
    ck_assert_str_eq(c.http_token_file, "/etc/pwccad/token");
    pw_config_free(&c);
}
END_TEST

Suite *web_suite(void)
{
    Suite *s = suite_create("web");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, pages_and_endpoints);
    tcase_add_test(tc, curve_fields_match_pwcca_curve);
    tcase_add_test(tc, hostile_requests);
    tcase_add_test(tc, token);
    tcase_add_test(tc, config_keys);
    tcase_add_test(tc, etag_not_modified);
    tcase_add_test(tc, runs_after);
    suite_add_tcase(s, tc);
    return s;
}
