/* fuzz_web.c -- libFuzzer target: any bytes as one dashboard request.
 *
 * The input is split at its first two NUL bytes into the request target,
 * the Host header and the Cookie header (any of them may hold any other
 * byte), and goes to pw_web_handle against a small database built once
 * (a run "mlp" with two layers and scores, like tests/unit/test_web.c),
 * with a token set so the cookie and ?token= paths are reached, and the
 * Host check on.  Every answer must have a status the dashboard documents,
 * a Content-Type, a body within PW_WEB_MAX_RESPONSE, and an error body
 * without control bytes other than newline. */
#include <assert.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pw_query.h"
#include "pw_schema.h"
#include "pw_web.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static pw_web *web;
static pw_query *query;
static pw_web_res res;

static void exec(sqlite3 *db, const char *sql)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        abort();
}

static char path[64]; /* the database, removed at exit */

static void cleanup(void)
{
    char f[80];
    const char *const sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(f, sizeof f, "%s%s", path, sfx[i]);
        unlink(f);
    }
}

static void setup(void)
{
    snprintf(path, sizeof path, "/tmp/fuzz_web.%d.db", (int)getpid());
    atexit(cleanup);
    unlink(path);
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        abort();
    for (unsigned i = 0; i < pw_schema_nmigrations; i++) {
        exec(db, pw_schema_migrations[i].sql);
        char *v = sqlite3_mprintf("PRAGMA user_version = %d", pw_schema_migrations[i].version);
        exec(db, v);
        sqlite3_free(v);
    }
    exec(db, "INSERT INTO runs (id, name, path, final_step, created_at) VALUES"
             " (1, 'mlp', '/r/mlp', 200, 1.0), (2, 'live', '/r/live', NULL, 1.0);"
             "INSERT INTO layers (run_id, name, depth, dtype, shape, rows, cols) VALUES"
             " (1, 'a', 0, 'F32', '[8, 2]', 8, 2), (1, 'b', 1, 'F32', '[8, 2]', 8, 2);");
    for (int s = 0; s <= 200; s += 100)
        for (int l = 0; l < 2; l++) {
            char *q = sqlite3_mprintf(
                "INSERT INTO scores (run_id, layer, step, ref, ref_step, n, pwcca, distance, "
                "status, computed_at) VALUES (1, %Q, %d, 'final', 200, 8, 0.9, 0.1, 'ok', 1.0);"
                "INSERT INTO scores (run_id, layer, step, ref, ref_step, n, pwcca, distance, "
                "status, computed_at) VALUES (1, %Q, %d, 'previous', %d, 8, 0.9, 0.1, 'ok', 1.0);",
                l ? "b" : "a", s, l ? "b" : "a", s + 1, s);
            exec(db, q);
            sqlite3_free(q);
        }
    exec(db, "INSERT INTO alerts (run_id, kind, layer, step, created_at) VALUES"
             " (1, 'layer_stable', 'a', 100, 1.0)");
    sqlite3_close(db);
    pw_err err;
    if (pw_query_open(path, &query, &err) != 0 ||
        pw_web_new(query, "tok", 1, NULL, NULL, NULL, &web, &err) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!web)
        setup();
    const char *p = (const char *)data, *end = p + size;
    const char *z1 = memchr(p, 0, size);
    const char *host = z1 ? z1 + 1 : NULL;
    const char *z2 = host ? memchr(host, 0, (size_t)(end - host)) : NULL;
    const char *cookie = z2 ? z2 + 1 : NULL;
    pw_web_req r;
    memset(&r, 0, sizeof r);
    r.method = size % 7 == 0 ? "HEAD" : "GET";
    r.method_len = strlen(r.method);
    r.target = p;
    r.target_len = z1 ? (size_t)(z1 - p) : size;
    r.host = host;
    r.host_len = host ? (size_t)((z2 ? z2 : end) - host) : 0;
    r.cookie = cookie;
    r.cookie_len = cookie ? (size_t)(end - cookie) : 0;
    if (pw_web_handle(web, &r, &res) != 0)
        return 0; /* out of memory: a 500 */
    int s = res.status;
    assert(s == 200 || s == 303 || s == 400 || s == 401 || s == 404 || s == 405 || s == 414 ||
           s == 421 || s == 500);
    assert(res.type && res.len <= PW_WEB_MAX_RESPONSE);
    if (strncmp(res.type, "text/plain", 10) == 0)
        for (size_t i = 0; i < res.len; i++)
            assert((unsigned char)res.body[i] >= 0x20 || res.body[i] == '\n');
    return 0;
}
