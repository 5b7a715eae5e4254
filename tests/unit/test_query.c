/* test_query.c -- pw_query against databases shaped like the daemon's.
 *
 * Each test builds its database in pw_test_tmpdir() from the embedded schema
 * migrations (as pwccad does) and inserts rows the way the daemon writes
 * them: two runs, layers with depths, scores against the previous and the
 * final checkpoint, a layer with too few datapoints (NULL CCA metrics) and
 * alerts.  Run directories exist on disk so paths can be resolved. */
#include <check.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "pw_query.h"
#include "pw_schema.h"
#include "pw_test.h"

/* The columns of 001_init.sql, so later migrations' columns take their defaults. */
#define CK_COLS                                                                                    \
    " (id, run_id, step, path, size, mtime_ns, inode, status, error, present, processed_at) "

static char db_path[512]; /* the database the current test built */
static char run_dir[512]; /* the "deep" run's directory (exists) */

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg ? msg : "?");
    sqlite3_free(msg);
}

/* exec of an sqlite3_mprintf format (%Q quotes a string). */
static void execf(sqlite3 *db, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    exec(db, sql);
    sqlite3_free(sql);
}

/* The columns of 001_init.sql's scores table: later migrations append more. */
#define SCORE_COLS                                                                                 \
    "(run_id, layer, step, ref, ref_step, n, p_kept, q_kept, pwcca, distance, mean_cca, svcca, "   \
    "cka, status, message, computed_at)"

/* One ok score, bound rather than printed so the double is stored exactly. */
static void insert_score(sqlite3 *db, const char *layer, int step, const char *ref, int ref_step,
                         double distance)
{
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "INSERT INTO scores " SCORE_COLS
                                        " VALUES (1, ?1, ?2, ?3, ?4, 64, 7, 7, "
                                        "1 - ?5, ?5, 0.5, 0.6, 0.7, 'ok', NULL, 1.0)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, layer, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, step);
    sqlite3_bind_text(st, 3, ref, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, ref_step);
    sqlite3_bind_double(st, 5, distance);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
}

/* Distance to final of layer at depth d and step s: lower layers settle sooner. */
static double final_distance(int d, int s)
{
    return 0.8 * exp(-s / (100.0 + 100.0 * d)) - 0.8 * exp(-1000 / (100.0 + 100.0 * d));
}

/* A fresh database named name: run "deep" (final at 1000, 3 layers + a probe
 * with NULL metrics, steps 0..1000 by 100), run "live" (running, 1 layer),
 * and alerts. */
static sqlite3 *build(const char *name)
{
    sqlite3 *db;
    snprintf(db_path, sizeof db_path, "%s/%s.db", pw_test_tmpdir(), name);
    snprintf(run_dir, sizeof run_dir, "%s/runs-%s/deep", pw_test_tmpdir(), name);
    char parent[600];
    snprintf(parent, sizeof parent, "%s/runs-%s", pw_test_tmpdir(), name);
    mkdir(parent, 0755);
    mkdir(run_dir, 0755);
    remove(db_path);
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    exec(db, "PRAGMA journal_mode = WAL");
    for (unsigned i = 0; i < pw_schema_nmigrations; i++) {
        exec(db, pw_schema_migrations[i].sql);
        execf(db, "PRAGMA user_version = %d", pw_schema_migrations[i].version);
    }
    exec(db, "BEGIN");
    execf(db,
          "INSERT INTO runs (id, name, path, final_step, final_source, converged_step, created_at) "
          "VALUES (1, 'deep', %Q, 1000, 'FINAL file', 700, 1.0);"
          "INSERT INTO runs (id, name, path, final_step, final_source, converged_step, created_at) "
          "VALUES (2, 'live', '/data/live', NULL, NULL, NULL, 2.0);",
          run_dir);
    static const char *const names[] = {"conv1", "conv2", "fc"};
    for (int s = 0; s <= 1000; s += 100)
        execf(db,
              "INSERT INTO checkpoints" CK_COLS
              "VALUES (NULL, 1, %d, 'ck%d', 10, 1, 1, 'ok', NULL, 1, 1.0)",
              s, s);
    exec(db,
         "INSERT INTO checkpoints" CK_COLS "VALUES (NULL, 2, 0, 'a', 10, 1, 1, 'ok', NULL, 1, 1.0);"
         "INSERT INTO checkpoints" CK_COLS
         "VALUES (NULL, 2, 50, 'b', 10, 1, 1, 'ok', NULL, 1, 1.0);");
    for (int d = 0; d < 3; d++) {
        execf(db, "INSERT INTO layers VALUES (1, %Q, %d, 'F32', '[64, 8]', 64, 8, %s)", names[d], d,
              d < 2 ? (d == 0 ? "300" : "500") : "NULL");
        for (int s = 0; s <= 1000; s += 100) {
            double fd = final_distance(d, s);
            if (s < 1000)
                insert_score(db, names[d], s, "final", 1000, fd);
            if (s > 0)
                insert_score(db, names[d], s, "previous", s - 100, fd / 4);
        }
    }
    /* The probe sits at depth 3 and never has CCA metrics. */
    exec(db, "INSERT INTO layers VALUES (1, 'probe', 3, 'F16', '[4, 16]', 4, 16, NULL)");
    for (int s = 100; s <= 1000; s += 100)
        execf(db,
              "INSERT INTO scores " SCORE_COLS
              " VALUES (1, 'probe', %d, 'previous', %d, 4, NULL, NULL, NULL, "
              "NULL, NULL, NULL, 0.25, 'insufficient_datapoints', 'n = 4 <= p + q', 1.0)",
              s, s - 100);
    exec(db, "INSERT INTO layers VALUES (2, 'dense', 0, 'BF16', '[8, 2]', 8, 2, NULL);"
             "INSERT INTO scores " SCORE_COLS
             " VALUES (2, 'dense', 50, 'previous', 0, 8, 2, 2, 0.9, 0.1, 0.8,"
             " 0.85, 0.95, 'ok', NULL, 2.0);"
             "INSERT INTO alerts VALUES (1, 1, 'layer_stable', 'conv1', 300, 0.004, NULL, 10.0);"
             "INSERT INTO alerts VALUES (2, 2, 'layer_stable', 'dense', 50, 0.1, NULL, 11.0);"
             "INSERT INTO alerts VALUES (3, 1, 'layer_stable', 'conv2', 500, 0.003, NULL, 12.0);"
             "INSERT INTO alerts VALUES (4, 1, 'run_converged', '', 700, NULL, 'without a "
             "distance: probe', 13.0);");
    exec(db, "COMMIT");
    return db;
}

static pw_query *open_built(const char *name)
{
    pw_err err = {""};
    pw_query *q = NULL;
    sqlite3_close(build(name));
    PW_ASSERT_OK(pw_query_open(db_path, &q, &err), &err);
    return q;
}

START_TEST(missing_file_is_named)
{
    pw_err err = {""};
    pw_query *q = NULL;
    char path[512];
    snprintf(path, sizeof path, "%s/nothing-here.db", pw_test_tmpdir());
    PW_ASSERT_FAILS_WITH(pw_query_open(path, &q, &err), &err, "does not exist");
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    ck_assert_ptr_null(q);
}
END_TEST

START_TEST(foreign_databases_are_refused)
{
    pw_err err = {""};
    pw_query *q = NULL;
    sqlite3 *db;
    char path[512];

    snprintf(path, sizeof path, "%s/plain.db", pw_test_tmpdir());
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    exec(db, "CREATE TABLE t (x)");
    sqlite3_close(db);
    PW_ASSERT_FAILS_WITH(pw_query_open(path, &q, &err), &err, "user_version is 0");

    snprintf(path, sizeof path, "%s/future.db", pw_test_tmpdir());
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    exec(db, "PRAGMA user_version = 999");
    sqlite3_close(db);
    PW_ASSERT_FAILS_WITH(pw_query_open(path, &q, &err), &err, "upgrade pwcca");

    snprintf(path, sizeof path, "%s/text.db", pw_test_tmpdir());
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("this is not a database, it is a text file long enough to have a header\n", f);
    fclose(f);
    PW_ASSERT_FAILS_WITH(pw_query_open(path, &q, &err), &err, "not a readable SQLite database");
}
END_TEST

START_TEST(runs_summarise_progress)
{
    pw_err err = {""};
    pw_query *q = open_built("runs");
    pw_run_info *runs = NULL;
    size_t n = 0;
    PW_ASSERT_OK(pw_query_runs(q, &runs, &n, &err), &err);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(runs[0].name, "deep");
    ck_assert_int_eq(runs[0].checkpoints, 11);
    ck_assert_int_eq(runs[0].layers, 4);
    ck_assert_int_eq(runs[0].stable_layers, 2);
    ck_assert_int_eq(runs[0].last_step, 1000);
    ck_assert_int_eq(runs[0].final_step, 1000);
    ck_assert_int_eq(runs[0].converged_step, 700);
    ck_assert_str_eq(runs[0].final_source, "FINAL file");
    ck_assert_str_eq(runs[1].name, "live");
    ck_assert(runs[1].final_step == PW_QUERY_NO_STEP);
    ck_assert(runs[1].converged_step == PW_QUERY_NO_STEP);
    ck_assert_int_eq(runs[1].last_step, 50);
    ck_assert_ptr_null(runs[1].final_source);
    pw_query_runs_free(runs, n);
    pw_query_close(q);
}
END_TEST

START_TEST(runs_are_found_by_name_or_path)
{
    pw_err err = {""};
    pw_query *q = open_built("find");
    pw_run_info r;
    PW_ASSERT_OK(pw_query_find_run(q, "live", &r, &err), &err);
    ck_assert_int_eq(r.id, 2);
    pw_query_run_clear(&r);
    PW_ASSERT_OK(pw_query_find_run(q, run_dir, &r, &err), &err);
    ck_assert_int_eq(r.id, 1);
    pw_query_run_clear(&r);

    /* A path that resolves to the run's directory names it too. */
    char twisted[1100];
    snprintf(twisted, sizeof twisted, "%s/../deep/", run_dir);
    PW_ASSERT_OK(pw_query_find_run(q, twisted, &r, &err), &err);
    ck_assert_str_eq(r.name, "deep");
    pw_query_run_clear(&r);

    PW_ASSERT_FAILS_WITH(pw_query_find_run(q, "shallow", &r, &err), &err, "known runs: deep, live");
    pw_query_close(q);
}
END_TEST

START_TEST(ambiguous_names_ask_for_a_path)
{
    pw_err err = {""};
    sqlite3 *db = build("twins");
    exec(db, "INSERT INTO runs (id, name, path, final_step, final_source, converged_step, "
             "created_at) VALUES (3, 'live', '/elsewhere/live', NULL, NULL, NULL, 3.0)");
    sqlite3_close(db);
    pw_query *q = NULL;
    PW_ASSERT_OK(pw_query_open(db_path, &q, &err), &err);
    pw_run_info r;
    PW_ASSERT_FAILS_WITH(pw_query_find_run(q, "live", &r, &err), &err, "ambiguous");
    ck_assert_ptr_nonnull(strstr(err.msg, "/data/live"));
    ck_assert_ptr_nonnull(strstr(err.msg, "/elsewhere/live"));
    PW_ASSERT_OK(pw_query_find_run(q, "/elsewhere/live", &r, &err), &err);
    ck_assert_int_eq(r.id, 3);
    pw_query_run_clear(&r);
    pw_query_close(q);
}
END_TEST

START_TEST(layers_come_bottom_first_with_status)
{
    pw_err err = {""};
    pw_query *q = open_built("layers");
    pw_run_info r;
    pw_layer_info *ls = NULL;
    size_t n = 0;
    PW_ASSERT_OK(pw_query_find_run(q, "deep", &r, &err), &err);
    PW_ASSERT_OK(pw_query_layers(q, &r, &ls, &n, &err), &err);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(ls[0].name, "conv1");
    ck_assert_str_eq(ls[3].name, "probe");
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(ls[i].depth, (int)i);
    ck_assert_int_eq(ls[0].stable_step, 300);
    ck_assert(ls[2].stable_step == PW_QUERY_NO_STEP);
    ck_assert_str_eq(ls[0].shape, "[64, 8]");
    ck_assert_int_eq(ls[0].rows, 64);
    ck_assert_int_eq(ls[0].cols, 8);
    /* Newest score: step 1000 exists only against the previous checkpoint. */
    ck_assert_str_eq(ls[0].last_status, "ok");
    ck_assert_int_eq(ls[0].last_step, 1000);
    PW_ASSERT_NEAR(ls[0].last_distance, final_distance(0, 1000) / 4, 1e-15);
    ck_assert_str_eq(ls[3].last_status, "insufficient_datapoints");
    ck_assert(isnan(ls[3].last_distance));
    pw_query_layers_free(ls, n);
    pw_query_run_clear(&r);
    pw_query_close(q);
}
END_TEST

START_TEST(curve_rows_are_ordered_and_exact)
{
    pw_err err = {""};
    pw_query *q = open_built("curve");
    pw_run_info r;
    pw_curve_row *rows = NULL;
    size_t n = 0;
    PW_ASSERT_OK(pw_query_find_run(q, "deep", &r, &err), &err);
    PW_ASSERT_OK(pw_query_curve(q, &r, "final", NULL, 0, NULL, NULL, &rows, &n, &err), &err);
    ck_assert_uint_eq(n, 30); /* 3 layers x steps 0..900 */
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(rows[i].depth, (int)(i / 10));
        ck_assert_int_eq(rows[i].step, (int64_t)(i % 10) * 100);
        ck_assert_str_eq(rows[i].ref, "final");
        ck_assert_int_eq(rows[i].ref_step, 1000);
        ck_assert_str_eq(rows[i].run, "deep");
        /* Read back bit for bit. */
        ck_assert(rows[i].distance == final_distance(rows[i].depth, (int)rows[i].step));
    }
    pw_query_curve_free(rows, n);

    PW_ASSERT_OK(pw_query_curve(q, &r, "previous", NULL, 0, NULL, NULL, &rows, &n, &err), &err);
    ck_assert_uint_eq(n, 40); /* 4 layers x steps 100..1000 */
    const pw_curve_row *probe = &rows[39];
    ck_assert_str_eq(probe->layer, "probe");
    ck_assert_str_eq(probe->status, "insufficient_datapoints");
    ck_assert(isnan(probe->pwcca) && isnan(probe->distance) && isnan(probe->svcca) &&
              isnan(probe->mean_cca));
    PW_ASSERT_NEAR(probe->cka, 0.25, 0);
    ck_assert_int_eq(probe->p_kept, -1);
    ck_assert_int_eq(probe->q_kept, -1);
    ck_assert_int_eq(probe->n, 4);
    ck_assert_str_eq(probe->message, "n = 4 <= p + q");
    ck_assert_ptr_null(rows[0].message);
    pw_query_curve_free(rows, n);
    pw_query_run_clear(&r);
    pw_query_close(q);
}
END_TEST

static size_t progress_calls;
static void count_progress(void *ctx, size_t rows)
{
    (void)ctx;
    (void)rows;
    progress_calls++;
}

START_TEST(curve_filters_layers_and_names_unknown_ones)
{
    pw_err err = {""};
    pw_query *q = open_built("filter");
    pw_run_info r;
    pw_curve_row *rows = NULL;
    size_t n = 0;
    const char *want[] = {"fc", "conv1"};
    PW_ASSERT_OK(pw_query_find_run(q, "deep", &r, &err), &err);
    progress_calls = 0;
    PW_ASSERT_OK(pw_query_curve(q, &r, "previous", want, 2, count_progress, NULL, &rows, &n, &err),
                 &err);
    ck_assert_uint_eq(n, 20);
    ck_assert_str_eq(rows[0].layer, "conv1"); /* depth order, not the order asked */
    ck_assert_str_eq(rows[19].layer, "fc");
    ck_assert_uint_ge(progress_calls, 1);
    pw_query_curve_free(rows, n);

    const char *bad[] = {"conv1", "conv9"};
    PW_ASSERT_FAILS_WITH(pw_query_curve(q, &r, "previous", bad, 2, NULL, NULL, &rows, &n, &err),
                         &err, "no layer 'conv9'; its layers: conv1, conv2, fc, probe");
    PW_ASSERT_FAILS_WITH(pw_query_curve(q, &r, "first", NULL, 0, NULL, NULL, &rows, &n, &err), &err,
                         "'previous' or 'final'");
    pw_query_run_clear(&r);
    pw_query_close(q);
}
END_TEST

START_TEST(alerts_by_run_and_since)
{
    pw_err err = {""};
    pw_query *q = open_built("alerts");
    pw_run_info r;
    pw_alert *a = NULL;
    size_t n = 0;
    PW_ASSERT_OK(pw_query_alerts(q, NULL, 0, &a, &n, &err), &err);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(a[1].run, "live");
    ck_assert_str_eq(a[3].kind, "run_converged");
    ck_assert_str_eq(a[3].layer, "");
    ck_assert(isnan(a[3].value));
    ck_assert_str_eq(a[3].detail, "without a distance: probe");
    PW_ASSERT_NEAR(a[0].created_at, 10.0, 0);
    pw_query_alerts_free(a, n);

    PW_ASSERT_OK(pw_query_find_run(q, "deep", &r, &err), &err);
    PW_ASSERT_OK(pw_query_alerts(q, &r, 1, &a, &n, &err), &err);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(a[0].id, 3);
    PW_ASSERT_NEAR(a[0].value, 0.003, 0);
    pw_query_alerts_free(a, n);
    pw_query_run_clear(&r);
    pw_query_close(q);
}
END_TEST

START_TEST(reads_while_the_daemon_writes)
{
    pw_err err = {""};
    sqlite3 *writer = build("wal");
    pw_query *q = NULL;
    pw_run_info *runs = NULL;
    size_t n = 0;
    /* The writer holds an open write transaction, as the daemon does mid-batch. */
    exec(writer, "BEGIN IMMEDIATE");
    exec(writer, "INSERT INTO runs (id, name, path, final_step, final_source, converged_step, "
                 "created_at) VALUES (9, 'new', '/data/new', NULL, NULL, NULL, 9.0)");
    PW_ASSERT_OK(pw_query_open(db_path, &q, &err), &err);
    PW_ASSERT_OK(pw_query_runs(q, &runs, &n, &err), &err);
    ck_assert_uint_eq(n, 2); /* the uncommitted run is not visible */
    pw_query_runs_free(runs, n);
    exec(writer, "COMMIT");
    PW_ASSERT_OK(pw_query_runs(q, &runs, &n, &err), &err);
    ck_assert_uint_eq(n, 3);
    pw_query_runs_free(runs, n);
    pw_query_close(q);
    sqlite3_close(writer);
}
END_TEST

/* A long curve: read_rows grows its array far past its first 16 rows and
 * reports progress every 4096 rows and once at the end. */
static size_t progress_last;
static void note_progress(void *ctx, size_t rows)
{
    (void)ctx;
    progress_calls++;
    ck_assert_uint_gt(rows, progress_last);
    progress_last = rows;
}

START_TEST(a_long_curve_is_read_whole_with_progress)
{
    pw_err err = {""};
    sqlite3 *db = build("long");
    exec(db, "BEGIN");
    exec(db, "INSERT INTO layers VALUES (1, 'wide', 9, 'F32', '[64, 8]', 64, 8, NULL)");
    for (int s = 1; s <= 8200; s++)
        insert_score(db, "wide", s, "previous", s - 1, s * 1e-6);
    exec(db, "COMMIT");
    sqlite3_close(db);
    pw_query *q = NULL;
    PW_ASSERT_OK(pw_query_open(db_path, &q, &err), &err);
    pw_run_info r;
    pw_curve_row *rows = NULL;
    size_t n = 0;
    const char *want[] = {"wide"};
    PW_ASSERT_OK(pw_query_find_run(q, "deep", &r, &err), &err);
    progress_calls = progress_last = 0;
    PW_ASSERT_OK(pw_query_curve(q, &r, "previous", want, 1, note_progress, NULL, &rows, &n, &err),
                 &err);
    ck_assert_uint_eq(n, 8200);
    ck_assert_uint_eq(progress_calls, 3); /* 4096, 8192, and the end */
    ck_assert_uint_eq(progress_last, 8200);
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_eq(rows[i].layer, "wide");
        ck_assert_int_eq(rows[i].step, (int64_t)i + 1);
        ck_assert(rows[i].distance == (double)(i + 1) * 1e-6);
        ck_assert_ptr_eq(rows[i].run, r.name);
    }
    pw_query_curve_free(rows, n);
    pw_query_run_clear(&r);
    pw_query_close(q);
}
END_TEST

/* The daemons sharing a store (009_share.sql), written here as PostgreSQL's daemons would. */
START_TEST(daemons_come_by_id_with_their_claims)
{
    pw_err err = {""};
    sqlite3 *db = build("daemons");
    exec(db, "INSERT INTO daemons VALUES (2, 'node-b', 42, 100.0, 190.0, 30.0, NULL, NULL);"
             "INSERT INTO daemons VALUES (1, 'node-a', 7, 50.0, 195.5, 30.0, 'run deep step 300', "
             "NULL);"
             "INSERT INTO daemons VALUES (3, 'node-c', 9, 60.0, 120.0, 30.0, NULL, 125.0);"
             "INSERT INTO claims VALUES ('run:2', 1, 225.0, 150.0);"
             "INSERT INTO claims VALUES ('run:10', 1, 225.0, 150.0);"
             "INSERT INTO claims VALUES ('group:g', 1, 225.0, 150.0);"
             "INSERT INTO claims VALUES ('run:1', 2, 220.0, 101.0);");
    sqlite3_close(db);
    pw_query *q = NULL;
    PW_ASSERT_OK(pw_query_open(db_path, &q, &err), &err);
    pw_daemon_info *d = NULL;
    size_t n = 0;
    double now = 0;
    PW_ASSERT_OK(pw_query_daemons(q, &d, &n, &now, &err), &err);
    ck_assert_uint_eq(n, 3);
    /* The database's clock, in Unix seconds. */
    ck_assert(fabs(now - (double)time(NULL)) < 5);
    ck_assert_int_eq(d[0].id, 1);
    ck_assert_str_eq(d[0].host, "node-a");
    ck_assert_int_eq(d[0].pid, 7);
    ck_assert(d[0].started_at == 50.0 && d[0].heartbeat_at == 195.5 && d[0].lease_s == 30.0);
    ck_assert_str_eq(d[0].job, "run deep step 300");
    ck_assert(isnan(d[0].stopped_at));
    /* Units in byte order, each daemon its own. */
    ck_assert_uint_eq(d[0].nunits, 3);
    ck_assert_str_eq(d[0].units[0], "group:g");
    ck_assert_str_eq(d[0].units[1], "run:10");
    ck_assert_str_eq(d[0].units[2], "run:2");
    ck_assert_int_eq(d[1].id, 2);
    ck_assert_ptr_null(d[1].job); /* idle */
    ck_assert_uint_eq(d[1].nunits, 1);
    ck_assert_str_eq(d[1].units[0], "run:1");
    ck_assert_int_eq(d[2].id, 3);
    ck_assert_uint_eq(d[2].nunits, 0);
    ck_assert(d[2].stopped_at == 125.0);
    /* State at the database's time 200: a heartbeat older than the lease is stale. */
    ck_assert_str_eq(pw_query_daemon_state(&d[0], 200.0), "running");
    ck_assert_str_eq(pw_query_daemon_state(&d[1], 200.0), "running");
    ck_assert_str_eq(pw_query_daemon_state(&d[1], 220.5), "stale");
    ck_assert_str_eq(pw_query_daemon_state(&d[2], 200.0), "stopped");
    pw_query_daemons_free(d, n);
    pw_query_close(q);
}
END_TEST

/* SQLite keeps the table empty, and a database older than 009_share.sql has none. */
START_TEST(no_daemons_on_sqlite_or_before_009)
{
    pw_err err = {""};
    pw_query *q = open_built("nodaemons");
    pw_daemon_info *d = NULL;
    size_t n = 1;
    double now = NAN;
    PW_ASSERT_OK(pw_query_daemons(q, &d, &n, &now, &err), &err);
    ck_assert_uint_eq(n, 0);
    ck_assert(isfinite(now));
    pw_query_daemons_free(d, n);
    pw_query_close(q);

    char path[512];
    sqlite3 *db;
    snprintf(path, sizeof path, "%s/v8.db", pw_test_tmpdir());
    remove(path);
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    for (unsigned i = 0; i < pw_schema_nmigrations && pw_schema_migrations[i].version < 9; i++) {
        exec(db, pw_schema_migrations[i].sql);
        execf(db, "PRAGMA user_version = %d", pw_schema_migrations[i].version);
    }
    sqlite3_close(db);
    PW_ASSERT_OK(pw_query_open(path, &q, &err), &err);
    n = 1;
    PW_ASSERT_OK(pw_query_daemons(q, &d, &n, &now, &err), &err);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(d);
    pw_query_close(q);
}
END_TEST

Suite *query_suite(void)
{
    Suite *s = suite_create("query");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, missing_file_is_named);
    tcase_add_test(tc, foreign_databases_are_refused);
    tcase_add_test(tc, runs_summarise_progress);
    tcase_add_test(tc, runs_are_found_by_name_or_path);
    tcase_add_test(tc, ambiguous_names_ask_for_a_path);
    tcase_add_test(tc, layers_come_bottom_first_with_status);
    tcase_add_test(tc, curve_rows_are_ordered_and_exact);
    tcase_add_test(tc, curve_filters_layers_and_names_unknown_ones);
    tcase_add_test(tc, alerts_by_run_and_since);
    tcase_add_test(tc, reads_while_the_daemon_writes);
    tcase_add_test(tc, a_long_curve_is_read_whole_with_progress);
    tcase_add_test(tc, daemons_come_by_id_with_their_claims);
    tcase_add_test(tc, no_daemons_on_sqlite_or_before_009);
    suite_add_tcase(s, tc);
    return s;
}
