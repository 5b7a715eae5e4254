/* test_db.c -- the database: migrations, one-transaction commits, exactly-once keys. */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pw_db.h"
#include "pw_paths.h"
#include "pw_query.h"
#include "pw_schema.h"
#include "pw_test.h"

static void db_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s/sub/%s.db", pw_test_tmpdir(), name, name);
}

/* A result as the engine would give it. */
static void fake_result(pw_result *r, double pwcca)
{
    memset(r, 0, sizeof *r);
    r->status = PW_OK;
    r->n = 1000;
    r->p = r->q = r->p_kept = r->q_kept = 10;
    r->pwcca = pwcca;
    r->distance = 1 - pwcca;
    r->mean_cca = pwcca - 0.01;
    r->svcca = pwcca - 0.02;
    r->cka = pwcca - 0.03;
    r->cka_debiased = -0.25; /* negative: stored as given, never clamped */
    r->procrustes = 1.5;
}

static int64_t count(const char *path, const char *sql)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    int64_t n = -1;
    ck_assert_int_eq(sqlite3_open(path, &h), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

START_TEST(open_creates_and_migrates)
{
    char path[512];
    pw_db *db;
    pw_err e;
    db_path(path, sizeof path, "migrate");
    PW_ASSERT_OK(pw_db_open(&db, path, 1000, 0, &e), &e);
    ck_assert_int_eq(pw_db_schema_version(db),
                     pw_schema_migrations[pw_schema_nmigrations - 1].version);
    pw_db_close(db);
    /* Reopening applies nothing twice. */
    PW_ASSERT_OK(pw_db_open(&db, path, 1000, 0, &e), &e);
    pw_db_close(db);
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'scores'"), 1);
    char mode[16] = "";
    sqlite3 *h;
    sqlite3_stmt *st;
    sqlite3_open(path, &h);
    sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, NULL);
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(mode, sizeof mode, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(h);
    ck_assert_str_eq(mode, "wal");
}
END_TEST

START_TEST(newer_schema_is_refused)
{
    char path[512];
    pw_db *db;
    pw_err e;
    db_path(path, sizeof path, "newer");
    PW_ASSERT_OK(pw_db_open(&db, path, 1000, 0, &e), &e);
    pw_db_close(db);
    sqlite3 *h;
    sqlite3_open(path, &h);
    sqlite3_exec(h, "PRAGMA user_version = 999", NULL, NULL, NULL);
    sqlite3_close(h);
    PW_ASSERT_FAILS_WITH(pw_db_open(&db, path, 1000, 0, &e), &e, "newer than this pwccad");
    ck_assert_int_eq(pw_db_open(&db, path, 1000, 0, &e), PW_DB_TOO_NEW);
    ck_assert_ptr_null(db);
}
END_TEST

/* Commit checkpoint `step` of a run with two layers scored against ref_step. */
static void commit_step(pw_db *db, int64_t run, int64_t step, int64_t ref_step, double pw)
{
    pw_err e;
    pw_db_ckpt ck = {0};
    ck.step = step;
    snprintf(ck.path, sizeof ck.path, "/r/step-%lld.safetensors", (long long)step);
    ck.size = 10;
    ck.inode = step;
    ck.status = PW_OK;
    ck.present = 1;
    pw_db_layer layers[2] = {0};
    snprintf(layers[0].name, sizeof layers[0].name, "conv1");
    snprintf(layers[1].name, sizeof layers[1].name, "fc");
    layers[1].depth = 1;
    snprintf(layers[0].shape, sizeof layers[0].shape, "[4, 8]");
    snprintf(layers[1].shape, sizeof layers[1].shape, "[4, 2]");
    pw_db_score sc[2];
    for (int i = 0; i < 2; i++) {
        memset(&sc[i], 0, sizeof sc[i]);
        memcpy(sc[i].layer, layers[i].name, sizeof sc[i].layer);
        sc[i].step = step;
        sc[i].ref = PW_REF_PREVIOUS;
        sc[i].ref_step = ref_step;
        fake_result(&sc[i].r, pw);
    }
    pw_db_group g = {step, PW_REF_PREVIOUS};
    pw_db_batch b = {&ck, layers, 2, &g, 1, sc, ref_step >= 0 ? 2 : 0, NULL, 0, 0};
    PW_ASSERT_OK(pw_db_commit(db, run, &b, &e), &e);
}

static int collect_done(void *ctx, int64_t step, pw_ref ref, int64_t ref_step, int64_t n)
{
    char *out = ctx;
    size_t len = strlen(out);
    snprintf(out + len, 256 - len, "%lld/%s/%lld/%lld ", (long long)step, pw_ref_name(ref),
             (long long)ref_step, (long long)n);
    return 0;
}

START_TEST(recomputing_replaces_never_duplicates)
{
    char path[512];
    pw_db *db;
    pw_err e;
    pw_db_run run;
    db_path(path, sizeof path, "exactly_once");
    PW_ASSERT_OK(pw_db_open(&db, path, 1000, 0, &e), &e);
    PW_ASSERT_OK(pw_db_run_upsert(db, "/r", "r", &run, &e), &e);
    ck_assert_int_eq(run.final_step, -1);
    pw_db_run again;
    PW_ASSERT_OK(pw_db_run_upsert(db, "/r", "r", &again, &e), &e);
    ck_assert_int_eq(again.id, run.id);
    commit_step(db, run.id, 100, -1, 0);
    commit_step(db, run.id, 300, 100, 0.9);
    /* Step 200 arrives late: 300's previous is now 200 and is recomputed. */
    commit_step(db, run.id, 200, 100, 0.95);
    commit_step(db, run.id, 300, 200, 0.97);
    commit_step(db, run.id, 300, 200, 0.97);
    char done[256] = "";
    PW_ASSERT_OK(pw_db_scores_done(db, run.id, collect_done, done, &e), &e);
    ck_assert_str_eq(done, "200/previous/100/2 300/previous/200/2 ");
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM scores"), 4);
    ck_assert_int_eq(
        count(path, "SELECT COUNT(*) FROM scores WHERE cka_debiased = -0.25 AND procrustes = 1.5"),
        4);
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM checkpoints"), 3);
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM layers"), 2);
    pw_db_close(db);
}
END_TEST

static int collect_series(void *ctx, const char *layer, int64_t step, double d)
{
    char *out = ctx;
    size_t len = strlen(out);
    snprintf(out + len, 256 - len, "%s@%lld=%.2f ", layer, (long long)step, d);
    return 0;
}

START_TEST(final_moves_drop_later_final_scores)
{
    char path[512];
    pw_db *db;
    pw_err e;
    pw_db_run run;
    db_path(path, sizeof path, "final");
    PW_ASSERT_OK(pw_db_open(&db, path, 1000, 0, &e), &e);
    PW_ASSERT_OK(pw_db_run_upsert(db, "/r", "r", &run, &e), &e);
    pw_db_score sc[3];
    pw_db_group g[3];
    for (int i = 0; i < 3; i++) {
        memset(&sc[i], 0, sizeof sc[i]);
        snprintf(sc[i].layer, sizeof sc[i].layer, "fc");
        sc[i].step = g[i].step = 100 * (i + 1);
        sc[i].ref = g[i].ref = PW_REF_FINAL;
        sc[i].ref_step = 300;
        fake_result(&sc[i].r, 0.5);
    }
    pw_db_batch b = {NULL, NULL, 0, g, 3, sc, 3, NULL, 0, 0};
    PW_ASSERT_OK(pw_db_commit(db, run.id, &b, &e), &e);
    PW_ASSERT_OK(pw_db_run_set_final(db, run.id, 200, "socket", &e), &e);
    PW_ASSERT_OK(pw_db_run_upsert(db, "/r", "r", &run, &e), &e);
    ck_assert_int_eq(run.final_step, 200);
    ck_assert_str_eq(run.final_source, "socket");
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM scores WHERE ref = 'final'"), 2);
    /* The distance series only has previous-reference scores. */
    char series[256] = "";
    commit_step(db, run.id, 400, 300, 0.75);
    PW_ASSERT_OK(pw_db_series(db, run.id, collect_series, series, &e), &e);
    ck_assert_str_eq(series, "conv1@400=0.25 fc@400=0.25 ");
    pw_db_close(db);
}
END_TEST

static int collect_latest(void *ctx, const pw_db_latest_row *l)
{
    char *out = ctx;
    size_t len = strlen(out);
    snprintf(out + len, 512 - len, "%s stable=%lld", l->layer, (long long)l->stable_step);
    for (int r = 0; r < 2; r++) {
        len = strlen(out);
        if (l->has[r])
            snprintf(out + len, 512 - len, " %s@%lld=%.2f", pw_ref_name((pw_ref)r),
                     (long long)l->step[r], l->distance[r]);
    }
    len = strlen(out);
    snprintf(out + len, 512 - len, "; ");
    return 0;
}

START_TEST(latest_scores_per_layer_and_reference)
{
    char path[512];
    pw_db *db;
    pw_err e;
    pw_db_run run;
    db_path(path, sizeof path, "latest");
    PW_ASSERT_OK(pw_db_open(&db, path, 1000, 0, &e), &e);
    PW_ASSERT_OK(pw_db_run_upsert(db, "/r", "r", &run, &e), &e);
    char got[512] = "";
    commit_step(db, run.id, 100, -1, 0);
    PW_ASSERT_OK(pw_db_latest(db, run.id, collect_latest, got, &e), &e);
    ck_assert_str_eq(got, "conv1 stable=-1; fc stable=-1; "); /* layers known, nothing scored */
    /* The newest step wins whatever the order of commits. */
    commit_step(db, run.id, 300, 100, 0.75);
    commit_step(db, run.id, 200, 100, 0.5);
    PW_ASSERT_OK(pw_db_layer_set_stable(db, run.id, "fc", 300, &e), &e);
    /* A final score whose status is not ok has no distance. */
    pw_db_score sc[2];
    pw_db_group g = {300, PW_REF_FINAL};
    memset(sc, 0, sizeof sc);
    for (int i = 0; i < 2; i++) {
        snprintf(sc[i].layer, sizeof sc[i].layer, "%s", i ? "fc" : "conv1");
        sc[i].step = 300;
        sc[i].ref = PW_REF_FINAL;
        sc[i].ref_step = 300;
        fake_result(&sc[i].r, 1);
    }
    sc[1].r.status = PW_N_MISMATCH;
    pw_db_batch b = {NULL, NULL, 0, &g, 1, sc, 2, NULL, 0, 0};
    PW_ASSERT_OK(pw_db_commit(db, run.id, &b, &e), &e);
    got[0] = '\0';
    PW_ASSERT_OK(pw_db_latest(db, run.id, collect_latest, got, &e), &e);
    ck_assert_str_eq(got, "conv1 stable=-1 previous@300=0.25 final@300=0.00; "
                          "fc stable=300 previous@300=0.25 final@300=nan; ");
    pw_db_close(db);
}
END_TEST

START_TEST(alerts_are_stored_once)
{
    char path[512];
    pw_db *db;
    pw_err e;
    pw_db_run run;
    int ins;
    db_path(path, sizeof path, "alerts");
    PW_ASSERT_OK(pw_db_open(&db, path, 1000, 0, &e), &e);
    PW_ASSERT_OK(pw_db_run_upsert(db, "/r", "r", &run, &e), &e);
    PW_ASSERT_OK(pw_db_alert_add(db, run.id, "layer_stable", "fc", 400, 0.001, NULL, &ins, &e), &e);
    ck_assert_int_eq(ins, 1);
    PW_ASSERT_OK(pw_db_alert_add(db, run.id, "layer_stable", "fc", 400, 0.001, NULL, &ins, &e), &e);
    ck_assert_int_eq(ins, 0);
    PW_ASSERT_OK(
        pw_db_alert_add(db, run.id, "run_converged", "", 400, NAN, "no distance: x", &ins, &e), &e);
    ck_assert_int_eq(ins, 1);
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM alerts"), 2);
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM alerts WHERE value IS NULL"), 1);
    pw_db_close(db);
}
END_TEST

START_TEST(locked_database_fails_cleanly_then_recovers)
{
    char path[512];
    pw_db *db;
    pw_err e;
    pw_db_run run;
    db_path(path, sizeof path, "locked");
    PW_ASSERT_OK(pw_db_open(&db, path, 10, 1, &e), &e);
    PW_ASSERT_OK(pw_db_run_upsert(db, "/r", "r", &run, &e), &e);
    commit_step(db, run.id, 100, -1, 0);
    sqlite3 *other;
    ck_assert_int_eq(sqlite3_open(path, &other), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    int ins = 7;
    PW_ASSERT_FAILS_WITH(pw_db_alert_add(db, run.id, "layer_stable", "fc", 1, 0, NULL, &ins, &e),
                         &e, "after 2 attempts");
    ck_assert_int_eq(ins, 0);
    sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(other);
    PW_ASSERT_OK(pw_db_alert_add(db, run.id, "layer_stable", "fc", 1, 0, NULL, &ins, &e), &e);
    ck_assert_int_eq(ins, 1);
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM checkpoints"), 1);
    pw_db_close(db);
}
END_TEST

static int collect_ckpt(void *ctx, const pw_db_ckpt *c)
{
    char *out = ctx;
    size_t len = strlen(out);
    snprintf(out + len, 256 - len, "%lld:%s:%d:%s ", (long long)c->step, pw_status_name(c->status),
             c->present, c->error);
    return 0;
}

START_TEST(checkpoint_errors_and_deletion_are_kept)
{
    char path[512];
    pw_db *db;
    pw_err e;
    pw_db_run run;
    db_path(path, sizeof path, "errors");
    PW_ASSERT_OK(pw_db_open(&db, path, 1000, 0, &e), &e);
    PW_ASSERT_OK(pw_db_run_upsert(db, "/r", "r", &run, &e), &e);
    commit_step(db, run.id, 100, -1, 0);
    pw_db_ckpt bad = {0};
    bad.step = 200;
    snprintf(bad.path, sizeof bad.path, "/r/step-200.npz");
    bad.status = PW_READ_ERROR;
    snprintf(bad.error, sizeof bad.error, "/r/step-200.npz: not a zip archive");
    bad.present = 1;
    pw_db_batch b = {&bad, NULL, 0, NULL, 0, NULL, 0, NULL, 0, 0};
    PW_ASSERT_OK(pw_db_commit(db, run.id, &b, &e), &e);
    PW_ASSERT_OK(pw_db_checkpoint_set_present(db, run.id, 100, 0, &e), &e);
    char out[256] = "";
    PW_ASSERT_OK(pw_db_checkpoints(db, run.id, collect_ckpt, out, &e), &e);
    ck_assert_str_eq(out, "100:ok:0: 200:read_error:1:/r/step-200.npz: not a zip archive ");
    pw_db_close(db);
}
END_TEST

/* A failed write's message says what failed, once: it neither keeps the
 * caller's old text nor grows by a prefix on every retry of the same write. */
START_TEST(failed_write_message_does_not_grow)
{
    char path[512];
    pw_db *db;
    pw_err e;
    db_path(path, sizeof path, "nogrow");
    PW_ASSERT_OK(pw_db_open(&db, path, 1000, 0, &e), &e);
    pw_db_ckpt ck = {0};
    ck.step = 1;
    snprintf(ck.path, sizeof ck.path, "/r/step-1.npz");
    ck.present = 1;
    pw_db_batch b = {&ck, NULL, 0, NULL, 0, NULL, 0, NULL, 0, 0};
    snprintf(e.msg, sizeof e.msg, "stale text");
    /* No run 999: the foreign key refuses the row, a failure that is not retried. */
    ck_assert_int_ne(pw_db_commit(db, 999, &b, &e), 0);
    char first[PW_ERR_MAX];
    memcpy(first, e.msg, sizeof first);
    ck_assert_msg(!strstr(first, "stale"), "old text kept: %s", first);
    ck_assert_msg(strstr(first, "FOREIGN KEY"), "no cause: %s", first);
    ck_assert_int_ne(pw_db_commit(db, 999, &b, &e), 0);
    ck_assert_str_eq(e.msg, first);
    /* A write that succeeds leaves the caller's message alone (a job stores
     * its read error with the row that records it). */
    pw_db_run run;
    PW_ASSERT_OK(pw_db_run_upsert(db, "/r", "r", &run, &e), &e);
    snprintf(e.msg, sizeof e.msg, "r/step-1.npz: not a zip archive");
    PW_ASSERT_OK(pw_db_commit(db, run.id, &b, &e), &e);
    ck_assert_str_eq(e.msg, "r/step-1.npz: not a zip archive");
    pw_db_close(db);
}
END_TEST

/* One writer per database: a second lock is refused with the holder's pid. */
START_TEST(second_writer_is_refused)
{
    char path[512], want[64];
    int fd, fd2;
    pw_err e;
    db_path(path, sizeof path, "lock");
    PW_ASSERT_OK(pw_db_lock(path, &fd, &e), &e);
    ck_assert_int_ge(fd, 0);
    snprintf(want, sizeof want, "in use by another pwccad (pid %ld", (long)getpid());
    PW_ASSERT_FAILS_WITH(pw_db_lock(path, &fd2, &e), &e, want);
    ck_assert_int_eq(fd2, -1);
    /* Readers take no lock: a plain connection still reads. */
    pw_db *db;
    PW_ASSERT_OK(pw_db_open(&db, path, 1000, 0, &e), &e);
    pw_db_close(db);
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM runs"), 0);
    pw_db_unlock(fd);
    PW_ASSERT_OK(pw_db_lock(path, &fd2, &e), &e);
    pw_db_unlock(fd2);
}
END_TEST

/* SQLite has one daemon per file (the lock above): nothing to share.  Every claim is
 * the daemon's, a commit with a lease unit is not refused, and the tables of the shared
 * store stay empty; the run's row reads back as stored. */
START_TEST(an_sqlite_store_is_not_shared)
{
    char path[512];
    pw_db *db;
    pw_err e;
    pw_db_run run, got;
    db_path(path, sizeof path, "share");
    PW_ASSERT_OK(pw_db_open(&db, path, 1000, 0, &e), &e);
    ck_assert_int_eq(pw_db_shared(db), 0);
    int64_t id = -1;
    int held = 0, live = 0;
    PW_ASSERT_OK(pw_db_daemon_register(db, "host", 42, 30, &id, &e), &e);
    ck_assert_int_eq(id, 0);
    double since = -1;
    PW_ASSERT_OK(pw_db_claim(db, "run:1", id, 30, &held, &since, &e), &e);
    ck_assert(since == 0);
    ck_assert_int_eq(held, 1);
    PW_ASSERT_OK(pw_db_daemon_beat(db, id, "r step 1", 30, NULL, NULL, &live, &e), &e);
    ck_assert_int_eq(live, 1);
    PW_ASSERT_OK(pw_db_run_upsert(db, "/r", "r", &run, &e), &e);
    PW_ASSERT_OK(pw_db_run_set_final(db, run.id, 700, "socket", &e), &e);
    pw_db_score sc;
    memset(&sc, 0, sizeof sc);
    snprintf(sc.layer, sizeof sc.layer, "fc");
    sc.step = 100;
    sc.ref = PW_REF_FINAL;
    sc.ref_step = 700;
    pw_result_init(&sc.r);
    pw_db_batch b = {NULL, NULL, 0, NULL, 0, &sc, 1, "run:1", 7, 0};
    PW_ASSERT_OK(pw_db_commit(db, run.id, &b, &e), &e);
    PW_ASSERT_OK(pw_db_run_get(db, run.id, &got, &e), &e);
    ck_assert_int_eq(got.id, run.id);
    ck_assert_int_eq(got.final_step, 700);
    ck_assert_str_eq(got.final_source, "socket");
    ck_assert_str_eq(got.path, "/r");
    ck_assert_int_eq(got.converged_step, -1);
    PW_ASSERT_FAILS_WITH(pw_db_run_get(db, run.id + 5, &got, &e), &e, "is not in the database");
    PW_ASSERT_OK(pw_db_release(db, "run:1", id, &e), &e);
    PW_ASSERT_OK(pw_db_daemon_stop(db, id, &e), &e);
    pw_db_close(db);
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM scores"), 1);
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM daemons"), 0);
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM claims"), 0);
}
END_TEST

/* A database deleted or replaced under its handle is noticed. */
START_TEST(deleted_or_replaced_database_is_noticed)
{
    char path[512], other[520];
    pw_db *db;
    pw_err e;
    db_path(path, sizeof path, "moved");
    PW_ASSERT_OK(pw_db_open(&db, path, 1000, 0, &e), &e);
    ck_assert_int_eq(pw_db_moved(db), 0);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(pw_db_moved(db), 1);
    pw_db_close(db);
    PW_ASSERT_OK(pw_db_open(&db, path, 1000, 0, &e), &e);
    ck_assert_int_eq(pw_db_moved(db), 0);
    snprintf(other, sizeof other, "%s.new", path);
    FILE *f = fopen(other, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_assert_int_eq(rename(other, path), 0);
    ck_assert_int_eq(pw_db_moved(db), 1);
    pw_db_close(db);
}
END_TEST

static int count_runs(void *ctx, int64_t run_id, const char *path)
{
    (void)run_id, (void)path;
    (*(int *)ctx)++;
    return 0;
}

START_TEST(a_gone_run_keeps_its_rows_until_forgotten)
{
    char path[512];
    pw_db *db;
    pw_err e;
    pw_db_run run, other;
    db_path(path, sizeof path, "forget");
    PW_ASSERT_OK(pw_db_open(&db, path, 1000, 0, &e), &e);
    PW_ASSERT_OK(pw_db_run_upsert(db, "/r", "r", &run, &e), &e);
    PW_ASSERT_OK(pw_db_run_upsert(db, "/o", "o", &other, &e), &e);
    commit_step(db, run.id, 100, -1, 0);
    commit_step(db, run.id, 200, 100, 0.9);
    commit_step(db, other.id, 100, -1, 0);
    int64_t changed = -1;
    PW_ASSERT_OK(pw_db_run_set_absent(db, run.id, &changed, &e), &e);
    ck_assert_int_eq(changed, 2);
    PW_ASSERT_OK(pw_db_run_set_absent(db, run.id, &changed, &e), &e);
    ck_assert_int_eq(changed, 0);
    char out[256] = "";
    PW_ASSERT_OK(pw_db_checkpoints(db, run.id, collect_ckpt, out, &e), &e);
    ck_assert_str_eq(out, "100:ok:0: 200:ok:0: ");
    pw_db_forgotten f;
    PW_ASSERT_OK(pw_db_run_forget(db, run.id, &f, &e), &e);
    ck_assert_int_eq(f.checkpoints, 2);
    ck_assert_int_eq(f.scores, 2);
    ck_assert_int_eq(f.alerts, 0);
    int nruns = 0;
    PW_ASSERT_OK(pw_db_runs_each(db, count_runs, &nruns, &e), &e);
    ck_assert_int_eq(nruns, 1);
    out[0] = '\0';
    PW_ASSERT_OK(pw_db_checkpoints(db, run.id, collect_ckpt, out, &e), &e);
    ck_assert_str_eq(out, "");
    PW_ASSERT_OK(pw_db_checkpoints(db, other.id, collect_ckpt, out, &e), &e);
    ck_assert_str_eq(out, "100:ok:1: ");
    pw_db_close(db);
}
END_TEST

/* The plain writes (write_stmts): each value binds in its place, an unset
 * step (-1) or a missing text as NULL, and a checkpoint's presence flips. */
START_TEST(plain_writes_store_values_and_nulls)
{
    char path[512];
    pw_db *db;
    pw_err e;
    pw_db_run run;
    db_path(path, sizeof path, "plain");
    PW_ASSERT_OK(pw_db_open(&db, path, 1000, 0, &e), &e);
    PW_ASSERT_OK(pw_db_run_upsert(db, "/r", "r", &run, &e), &e);
    commit_step(db, run.id, 100, -1, 0);
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM runs WHERE name = 'r' AND path = '/r' AND "
                                 "created_at > 0"),
                     1);

    PW_ASSERT_OK(pw_db_run_set_final(db, run.id, 100, "FINAL file", &e), &e);
    PW_ASSERT_OK(pw_db_run_set_converged(db, run.id, 100, &e), &e);
    PW_ASSERT_OK(pw_db_layer_set_stable(db, run.id, "fc", 100, &e), &e);
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM runs WHERE final_step = 100 AND "
                                 "final_source = 'FINAL file' AND converged_step = 100"),
                     1);
    ck_assert_int_eq(count(path, "SELECT stable_step FROM layers WHERE name = 'fc'"), 100);
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM layers WHERE stable_step IS NULL"), 1);

    PW_ASSERT_OK(pw_db_run_set_final(db, run.id, -1, "ignored", &e), &e);
    PW_ASSERT_OK(pw_db_run_set_converged(db, run.id, -1, &e), &e);
    PW_ASSERT_OK(pw_db_layer_set_stable(db, run.id, "fc", -1, &e), &e);
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM runs WHERE final_step IS NULL AND "
                                 "final_source IS NULL AND converged_step IS NULL"),
                     1);
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM layers WHERE stable_step IS NULL"), 2);

    PW_ASSERT_OK(pw_db_checkpoint_set_present(db, run.id, 100, 0, &e), &e);
    ck_assert_int_eq(count(path, "SELECT present FROM checkpoints WHERE step = 100"), 0);
    PW_ASSERT_OK(pw_db_checkpoint_set_present(db, run.id, 100, 1, &e), &e);
    ck_assert_int_eq(count(path, "SELECT present FROM checkpoints WHERE step = 100"), 1);
    pw_db_close(db);
}
END_TEST

/* The curve rows of run 1 (previous reference) of the database at path. */
static void read_curve(const char *path, pw_curve_row **rows, size_t *n)
{
    pw_query *q;
    pw_run_info run;
    pw_err e;
    PW_ASSERT_OK(pw_query_open(path, &q, &e), &e);
    PW_ASSERT_OK(pw_query_find_run(q, "r", &run, &e), &e);
    PW_ASSERT_OK(pw_query_curve(q, &run, "previous", NULL, 0, NULL, NULL, rows, n, &e), &e);
    pw_query_run_clear(&run);
    pw_query_close(q);
}

/* A database written before 002_reduce: only the first migration applied. */
static void make_v1(const char *path)
{
    pw_err e;
    PW_ASSERT_OK(pw_paths_make_parent(path, 0755, &e), &e);
    sqlite3 *h;
    ck_assert_int_eq(sqlite3_open(path, &h), SQLITE_OK);
    ck_assert_int_eq(pw_schema_migrations[0].version, 1);
    ck_assert_int_eq(sqlite3_exec(h, pw_schema_migrations[0].sql, NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_eq(
        sqlite3_exec(h,
                     "PRAGMA user_version = 1;"
                     "INSERT INTO runs (id, name, path, final_step, final_source, converged_step, "
                     "created_at) VALUES (1, 'r', '/r', NULL, NULL, NULL, 1.0);"
                     "INSERT INTO scores VALUES (1, 'fc', 200, 'previous', 100, 64, 4,"
                     " 4, 0.9, 0.1, 0.8, 0.85, 0.95, 'ok', NULL, 1.0);",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(h);
}

/* An old database reads as exact scores, before and after the daemon migrates it. */
START_TEST(old_scores_migrate_as_exact)
{
    char path[512];
    pw_db *db;
    pw_err e;
    pw_curve_row *rows;
    size_t n;
    db_path(path, sizeof path, "v1");
    make_v1(path);
    /* pwcca reads a database the daemon has not opened yet. */
    read_curve(path, &rows, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(rows[0].reduce, "none");
    ck_assert_int_eq(rows[0].k_x, -1);
    ck_assert_int_eq(rows[0].k_y, -1);
    pw_query_curve_free(rows, n);
    PW_ASSERT_OK(pw_db_open(&db, path, 1000, 0, &e), &e);
    ck_assert_int_eq(pw_db_schema_version(db),
                     pw_schema_migrations[pw_schema_nmigrations - 1].version);
    pw_db_close(db);
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM scores WHERE reduce = 'none' AND k_x IS "
                                 "NULL AND k_y IS NULL AND pwcca = 0.9"),
                     1);
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM reduce_choices"), 0);
    read_curve(path, &rows, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(rows[0].reduce, "none");
    ck_assert_int_eq(rows[0].k_x, -1);
    pw_query_curve_free(rows, n);
}
END_TEST

/* One score of layer at step against step - 100 with reduction r (k when reduced). */
static void commit_reduced(pw_db *db, int64_t run, const char *layer, int64_t step,
                           const char *mode, uint64_t kx, uint64_t ky, int sticky, pw_status st)
{
    pw_err e;
    pw_db_score sc;
    memset(&sc, 0, sizeof sc);
    snprintf(sc.layer, sizeof sc.layer, "%s", layer);
    sc.step = step;
    sc.ref = PW_REF_PREVIOUS;
    sc.ref_step = step - 100;
    fake_result(&sc.r, 0.9);
    sc.r.status = st;
    PW_ASSERT_OK(pw_reduce_parse(mode, &sc.r.reduce, &e), &e);
    sc.r.k_x = kx;
    sc.r.k_y = ky;
    sc.sticky = sticky;
    pw_db_batch b = {NULL, NULL, 0, NULL, 0, &sc, 1, NULL, 0, 0};
    PW_ASSERT_OK(pw_db_commit(db, run, &b, &e), &e);
}

START_TEST(reduced_scores_store_the_mode_and_directions)
{
    char path[512];
    pw_db *db;
    pw_err e;
    pw_db_run run;
    db_path(path, sizeof path, "reduced");
    PW_ASSERT_OK(pw_db_open(&db, path, 1000, 0, &e), &e);
    PW_ASSERT_OK(pw_db_run_upsert(db, "/r", "r", &run, &e), &e);
    commit_reduced(db, run.id, "wide", 200, "dims:6", 6, 5, 0, PW_OK);
    commit_reduced(db, run.id, "share", 200, "var:0.99", 3, 4, 0, PW_OK);
    commit_reduced(db, run.id, "narrow", 200, "none", 0, 0, 0, PW_OK);
    pw_db_close(db);
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM scores WHERE layer = 'wide' AND reduce = "
                                 "'dims:6' AND k_x = 6 AND k_y = 5"),
                     1);
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM scores WHERE layer = 'narrow' AND reduce = "
                                 "'none' AND k_x IS NULL AND k_y IS NULL"),
                     1);
    pw_curve_row *rows;
    size_t n;
    read_curve(path, &rows, &n);
    ck_assert_uint_eq(n, 3);
    /* No layers rows: by name. */
    ck_assert_str_eq(rows[0].layer, "narrow");
    ck_assert_str_eq(rows[0].reduce, "none");
    ck_assert_int_eq(rows[0].k_x, -1);
    ck_assert_str_eq(rows[1].layer, "share");
    ck_assert_str_eq(rows[1].reduce, "var:0.99");
    ck_assert_int_eq(rows[1].k_x, 3);
    ck_assert_int_eq(rows[1].k_y, 4);
    ck_assert_str_eq(rows[2].reduce, "dims:6");
    ck_assert_int_eq(rows[2].k_x, 6);
    ck_assert_int_eq(rows[2].k_y, 5);
    pw_query_curve_free(rows, n);
}
END_TEST

static int collect_choices(void *ctx, const char *layer, const char *reduce, int64_t step)
{
    char *out = ctx;
    size_t len = strlen(out);
    snprintf(out + len, 256 - len, "%s=%s@%lld ", layer, reduce, (long long)step);
    return 0;
}

/* auto's decision: the first scored pair's is kept, a later one does not replace
 * it, a pair that did not score decides nothing; a rescore forgets from a step. */
START_TEST(auto_decisions_are_kept_once_and_forgotten_from_a_step)
{
    char path[512];
    pw_db *db;
    pw_err e;
    pw_db_run run;
    db_path(path, sizeof path, "choices");
    PW_ASSERT_OK(pw_db_open(&db, path, 1000, 0, &e), &e);
    PW_ASSERT_OK(pw_db_run_upsert(db, "/r", "r", &run, &e), &e);
    commit_reduced(db, run.id, "dead", 200, "none", 0, 0, 1, PW_DEAD_LAYER);
    commit_reduced(db, run.id, "wide", 200, "dims:6", 6, 6, 1, PW_OK);
    commit_reduced(db, run.id, "narrow", 300, "none", 0, 0, 1, PW_OK);
    commit_reduced(db, run.id, "wide", 300, "none", 0, 0, 1, PW_OK);
    commit_reduced(db, run.id, "fixed", 300, "dims:9", 9, 9, 0, PW_OK); /* not auto's */
    char got[256] = "";
    PW_ASSERT_OK(pw_db_reduce_choices(db, run.id, collect_choices, got, &e), &e);
    ck_assert_str_eq(got, "narrow=none@300 wide=dims:6@200 ");
    int64_t removed = -1;
    PW_ASSERT_OK(pw_db_reduce_forget(db, run.id, 250, &removed, &e), &e);
    ck_assert_int_eq(removed, 1);
    got[0] = '\0';
    PW_ASSERT_OK(pw_db_reduce_choices(db, run.id, collect_choices, got, &e), &e);
    ck_assert_str_eq(got, "wide=dims:6@200 ");
    PW_ASSERT_OK(pw_db_reduce_forget(db, run.id, 0, &removed, &e), &e);
    ck_assert_int_eq(removed, 1);
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM reduce_choices"), 0);
    /* Forgetting the run takes its decisions with it. */
    commit_reduced(db, run.id, "wide", 400, "dims:6", 6, 6, 1, PW_OK);
    pw_db_forgotten f;
    PW_ASSERT_OK(pw_db_run_forget(db, run.id, &f, &e), &e);
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM reduce_choices"), 0);
    pw_db_close(db);
}
END_TEST

/* Live work goes before the backlog, so the series can have holes for a while: a
 * distance against a checkpoint that is not the previous point reads as missing. */
START_TEST(a_hole_in_the_series_reads_as_a_missing_distance)
{
    char path[512];
    pw_db *db;
    pw_err e;
    pw_db_run run;
    db_path(path, sizeof path, "hole");
    PW_ASSERT_OK(pw_db_open(&db, path, 1000, 0, &e), &e);
    PW_ASSERT_OK(pw_db_run_upsert(db, "/r", "r", &run, &e), &e);
    commit_step(db, run.id, 200, 100, 0.75);
    commit_step(db, run.id, 500, 400, 0.5); /* 300 and 400 not scored yet */
    char series[256] = "";
    PW_ASSERT_OK(pw_db_series(db, run.id, collect_series, series, &e), &e);
    ck_assert_str_eq(series, "conv1@200=0.25 conv1@500=nan fc@200=0.25 fc@500=nan ");
    /* A live pair against the last scored one is no hole. */
    commit_step(db, run.id, 600, 500, 0.5);
    series[0] = '\0';
    PW_ASSERT_OK(pw_db_series(db, run.id, collect_series, series, &e), &e);
    ck_assert_str_eq(series, "conv1@200=0.25 conv1@500=nan conv1@600=0.50 fc@200=0.25 "
                             "fc@500=nan fc@600=0.50 ");
    pw_db_close(db);
}
END_TEST

/* One score of layer "fc" at step 200 against 100 whose noise gave every
 * metric its own SE: se[m] = (m + 1) / 64, so each column is told apart. */
static void commit_with_ses(pw_db *db, int64_t run)
{
    pw_err e;
    pw_db_score sc;
    memset(&sc, 0, sizeof sc);
    snprintf(sc.layer, sizeof sc.layer, "fc");
    sc.step = 200;
    sc.ref = PW_REF_PREVIOUS;
    sc.ref_step = 100;
    fake_result(&sc.r, 0.9);
    sc.noise.blocks = 10;
    for (unsigned m = 0; m < PW_METRIC_COUNT; m++)
        sc.noise.se[m] = (m + 1) / 64.0;
    pw_db_batch b = {NULL, NULL, 0, NULL, 0, &sc, 1, NULL, 0, 0};
    PW_ASSERT_OK(pw_db_commit(db, run, &b, &e), &e);
}

/* Every SE the jackknife makes is stored and read back bit for bit,
 * procrustes' too (008_procrustes_se.sql); cka_debiased has no column. */
START_TEST(every_stored_se_reads_back_procrustes_too)
{
    char path[512];
    pw_db *db;
    pw_err e;
    pw_db_run run;
    db_path(path, sizeof path, "ses");
    PW_ASSERT_OK(pw_db_open(&db, path, 1000, 0, &e), &e);
    PW_ASSERT_OK(pw_db_run_upsert(db, "/r", "r", &run, &e), &e);
    commit_with_ses(db, run.id);
    pw_db_close(db);
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM scores WHERE procrustes_se = 7 / 64.0"), 1);
    pw_curve_row *rows;
    size_t n;
    read_curve(path, &rows, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(rows[0].noise_blocks, 10);
    for (unsigned m = 0; m < PW_METRIC_COUNT; m++) {
        if (m == PW_METRIC_CKA_DEBIASED)
            ck_assert_msg(isnan(rows[0].se[m]), "cka_debiased has an SE");
        else
            ck_assert_msg(rows[0].se[m] == (m + 1) / 64.0, "%s_se reads %g", pw_metric_name(m),
                          rows[0].se[m]);
    }
    pw_query_curve_free(rows, n);
}
END_TEST

/* A database at schema version 7 (before 008_procrustes_se.sql, as a daemon
 * that has not been upgraded leaves it) reads: its other SEs as stored,
 * procrustes' as missing rather than an error about the column. */
START_TEST(a_version_7_database_reads_procrustes_se_as_missing)
{
    char path[512];
    pw_err e;
    db_path(path, sizeof path, "v7");
    PW_ASSERT_OK(pw_paths_make_parent(path, 0755, &e), &e);
    sqlite3 *h;
    ck_assert_int_eq(sqlite3_open(path, &h), SQLITE_OK);
    for (unsigned i = 0; i < pw_schema_nmigrations && pw_schema_migrations[i].version <= 7; i++) {
        ck_assert_int_eq(sqlite3_exec(h, pw_schema_migrations[i].sql, NULL, NULL, NULL), SQLITE_OK);
        char *v = sqlite3_mprintf("PRAGMA user_version = %d", pw_schema_migrations[i].version);
        ck_assert_int_eq(sqlite3_exec(h, v, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_free(v);
    }
    ck_assert_int_eq(sqlite3_exec(h,
                                  "INSERT INTO runs (id, name, path, created_at) "
                                  "VALUES (1, 'r', '/r', 1.0);"
                                  "INSERT INTO scores (run_id, layer, step, ref, ref_step, n, "
                                  "pwcca, distance, procrustes, status, computed_at, pwcca_se, "
                                  "cka_se, noise_blocks) VALUES (1, 'fc', 200, 'previous', 100, "
                                  "64, 0.9, 0.1, 1.5, 'ok', 1.0, 0.125, 0.25, 10);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
    ck_assert_int_eq(count(path, "PRAGMA user_version"), 7);
    pw_curve_row *rows;
    size_t n;
    read_curve(path, &rows, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert(rows[0].procrustes == 1.5);
    ck_assert(rows[0].se[PW_METRIC_PWCCA] == 0.125);
    ck_assert(rows[0].se[PW_METRIC_CKA] == 0.25);
    ck_assert(isnan(rows[0].se[PW_METRIC_PROCRUSTES]));
    ck_assert_int_eq(rows[0].noise_blocks, 10);
    pw_query_curve_free(rows, n);
}
END_TEST

/* SQLite finds a run by path (one machine), and fills root and rel: on a new
 * row, on a row written before schema 9 (root NULL), never on one whose pair
 * another path holds (a root renamed onto another's name), and a run of its
 * own gets root "" and its path.  *run carries the stored path. */
START_TEST(runs_carry_their_root_and_rel)
{
    char path[512];
    pw_db *db;
    pw_err e;
    pw_db_run a, again, old, clash, one;
    db_path(path, sizeof path, "roots");
    PW_ASSERT_OK(pw_db_open(&db, path, 1000, 0, &e), &e);
    PW_ASSERT_OK(pw_db_run_upsert_root(db, "share", "a", "/mnt/x/share/a", "a", &a, &e), &e);
    ck_assert_str_eq(a.path, "/mnt/x/share/a");
    PW_ASSERT_OK(pw_db_run_upsert_root(db, "share", "a", "/mnt/x/share/a", "a", &again, &e), &e);
    ck_assert_int_eq(again.id, a.id);
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM runs WHERE root = 'share' AND rel = 'a' "
                                 "AND path = '/mnt/x/share/a'"),
                     1);

    /* A stage-1 row (no root) is adopted, keeping its id. */
    PW_ASSERT_OK(pw_db_run_upsert_root(db, "share", "b", "/mnt/x/share/b", "b", &old, &e), &e);
    count(path, "UPDATE runs SET root = NULL, rel = NULL WHERE name = 'b'");
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM runs WHERE root IS NULL"), 1);
    PW_ASSERT_OK(pw_db_run_upsert_root(db, "share", "b", "/mnt/x/share/b", "b", &again, &e), &e);
    ck_assert_int_eq(again.id, old.id);
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM runs WHERE root = 'share' AND rel = 'b'"),
                     1);

    /* Another path with a pair already held: its own run, root NULL, no error. */
    PW_ASSERT_OK(pw_db_run_upsert_root(db, "share", "a", "/mnt/y/share/a", "a", &clash, &e), &e);
    ck_assert_int_ne(clash.id, a.id);
    ck_assert_str_eq(clash.path, "/mnt/y/share/a");
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM runs WHERE path = '/mnt/y/share/a' AND "
                                 "root IS NULL"),
                     1);
    PW_ASSERT_OK(pw_db_run_upsert_root(db, "share", "a", "/mnt/y/share/a", "a", &again, &e), &e);
    ck_assert_int_eq(again.id, clash.id);

    PW_ASSERT_OK(pw_db_run_upsert(db, "/one", "one", &one, &e), &e);
    ck_assert_int_eq(
        count(path, "SELECT COUNT(*) FROM runs WHERE root = '' AND rel = '/one' AND path = '/one'"),
        1);
    ck_assert_int_eq(count(path, "SELECT COUNT(*) FROM runs"), 4);
    pw_db_close(db);
}
END_TEST

Suite *db_suite(void)
{
    Suite *s = suite_create("db");
    TCase *tc = tcase_create("storage");
    tcase_add_test(tc, open_creates_and_migrates);
    tcase_add_test(tc, newer_schema_is_refused);
    tcase_add_test(tc, recomputing_replaces_never_duplicates);
    tcase_add_test(tc, final_moves_drop_later_final_scores);
    tcase_add_test(tc, latest_scores_per_layer_and_reference);
    tcase_add_test(tc, alerts_are_stored_once);
    tcase_add_test(tc, locked_database_fails_cleanly_then_recovers);
    tcase_add_test(tc, checkpoint_errors_and_deletion_are_kept);
    tcase_add_test(tc, failed_write_message_does_not_grow);
    tcase_add_test(tc, second_writer_is_refused);
    tcase_add_test(tc, an_sqlite_store_is_not_shared);
    tcase_add_test(tc, deleted_or_replaced_database_is_noticed);
    tcase_add_test(tc, a_gone_run_keeps_its_rows_until_forgotten);
    tcase_add_test(tc, plain_writes_store_values_and_nulls);
    tcase_add_test(tc, old_scores_migrate_as_exact);
    tcase_add_test(tc, reduced_scores_store_the_mode_and_directions);
    tcase_add_test(tc, auto_decisions_are_kept_once_and_forgotten_from_a_step);
    tcase_add_test(tc, a_hole_in_the_series_reads_as_a_missing_distance);
    tcase_add_test(tc, every_stored_se_reads_back_procrustes_too);
    tcase_add_test(tc, a_version_7_database_reads_procrustes_se_as_missing);
    tcase_add_test(tc, runs_carry_their_root_and_rel);
    suite_add_tcase(s, tc);
    return s;
}
