/* test_groups.c -- run groups: the [group NAME] sections and their globs, and the
 * group_scores table (006_groups.sql) through the store seam: its columns are
 * the scores table's, a cross pair is stored once, and it reads back. */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "pw_config.h"
#include "pw_db.h"
#include "pw_metric.h"
#include "pw_noise.h"
#include "pw_query.h"
#include "pw_test.h"

START_TEST(group_sections_parse)
{
    const char *text = "[pwccad]\n"
                       "watch = /runs\n"
                       "[group widths]\n"
                       "runs = narrow-* wide-*\n"
                       "runs =\tbaseline\n"
                       "[run narrow-1]\n"
                       "settle_time = 1\n"
                       "[group all]\n"
                       "runs = *\n";
    pw_config c;
    pw_err e;
    pw_config_defaults(&c);
    ck_assert_uint_eq(c.ngroups, 0);
    PW_ASSERT_OK(pw_config_load_string(&c, "g.conf", text, &e), &e);
    ck_assert_uint_eq(c.ngroups, 2);
    const pw_group_config *w = pw_config_group(&c, "widths");
    ck_assert_ptr_nonnull(w);
    ck_assert_uint_eq(w->nglobs, 3); /* two runs lines add up */
    ck_assert_str_eq(w->globs[0], "narrow-*");
    ck_assert_str_eq(w->globs[2], "baseline");
    ck_assert_ptr_null(pw_config_group(&c, "nope"));
    /* Globs match the whole run name. */
    ck_assert_int_eq(pw_group_has_run(w, "narrow-3"), 1);
    ck_assert_int_eq(pw_group_has_run(w, "wide-seed2"), 1);
    ck_assert_int_eq(pw_group_has_run(w, "baseline"), 1);
    ck_assert_int_eq(pw_group_has_run(w, "baseline2"), 0);
    ck_assert_int_eq(pw_group_has_run(w, "xnarrow-3"), 0);
    ck_assert_int_eq(pw_group_has_run(w, "medium-1"), 0);
    const pw_group_config *all = pw_config_group(&c, "all");
    ck_assert_int_eq(pw_group_has_run(all, "anything at all"), 1);
    /* A [run] section between them is still a run's. */
    ck_assert_uint_eq(c.noverrides, 1);
    /* Brackets are fnmatch's. */
    pw_config_free(&c);
    pw_config_defaults(&c);
    PW_ASSERT_OK(pw_config_load_string(&c, "g.conf", "[group s]\nruns = seed[0-2]\n", &e), &e);
    ck_assert_int_eq(pw_group_has_run(&c.groups[0], "seed1"), 1);
    ck_assert_int_eq(pw_group_has_run(&c.groups[0], "seed3"), 0);
    pw_config_free(&c);
}
END_TEST

START_TEST(group_errors_name_file_and_line)
{
    static const struct {
        const char *text, *needle;
    } bad[] = {
        {"[group .hidden]\nruns = *\n", "g.conf:2: group name '.hidden' may hold only"},
        {"[group a/b]\nruns = *\n", "group name 'a/b' may hold only"},
        {"[group -x]\nruns = *\n", "group name '-x'"},
        {"[group ok]\nmetrics = all\n", "g.conf:2: key 'metrics' cannot be set in a [group]"},
        {"[group ok]\nruns =\n", "runs needs at least one glob"},
        {"[group ok]\nruns = a b c d e f g h i\nruns = j k l m n o p q\n",
         "g.conf:3: [group ok]: more than 16 globs"},
        {"[group 0123456789012345678901234567890123456789]\nruns = *\n",
         "group name must be 1 to 39 bytes"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pw_config c;
        pw_err e;
        pw_config_defaults(&c);
        PW_ASSERT_FAILS_WITH(pw_config_load_string(&c, "g.conf", bad[i].text, &e), &e,
                             bad[i].needle);
        pw_config_free(&c);
    }
    /* At most PW_MAX_GROUPS sections. */
    char text[4096];
    size_t off = 0;
    for (int i = 0; i <= PW_MAX_GROUPS; i++)
        off += (size_t)snprintf(text + off, sizeof text - off, "[group g%d]\nruns = *\n", i);
    pw_config c;
    pw_err e;
    pw_config_defaults(&c);
    PW_ASSERT_FAILS_WITH(pw_config_load_string(&c, "g.conf", text, &e), &e,
                         "too many [group] sections (at most 16)");
    pw_config_free(&c);
}
END_TEST

/* The columns of table t, one "name," after another. */
static void columns(const char *path, const char *t, char *out, size_t len)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT name FROM pragma_table_info('%s')", t);
    ck_assert_int_eq(sqlite3_open(path, &h), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    size_t off = 0;
    out[0] = ',';
    out[1] = '\0';
    off = 1;
    while (sqlite3_step(st) == SQLITE_ROW && off < len)
        off += (size_t)snprintf(out + off, len - off, "%s,", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(h);
}

START_TEST(group_scores_have_the_scores_columns)
{
    char path[512], scores[4096], cross[4096];
    pw_db *db;
    pw_err e;
    snprintf(path, sizeof path, "%s/gcols/g.db", pw_test_tmpdir());
    PW_ASSERT_OK(pw_db_open(&db, path, 1000, 0, &e), &e);
    pw_db_close(db);
    columns(path, "scores", scores, sizeof scores);
    columns(path, "group_scores", cross, sizeof cross);
    /* Every metric of PW_METRIC_LIST and every SE column, by the same lists. */
#define HAS_METRIC(sym, id, bitno, sel, tpos, label, doc)                                          \
    ck_assert_ptr_nonnull(strstr(cross, "," #id ","));
    PW_METRIC_LIST(HAS_METRIC)
#undef HAS_METRIC
#define HAS_SE(sym, id, since) ck_assert_ptr_nonnull(strstr(cross, "," #id "_se,"));
    PW_NOISE_SE_COLUMNS(HAS_SE)
#undef HAS_SE
    /* And every column of scores but its key is there, by name. */
    for (char *save = NULL, *c = strtok_r(scores, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
        if (!strcmp(c, "run_id") || !strcmp(c, "layer") || !strcmp(c, "step") ||
            !strcmp(c, "ref") || !strcmp(c, "ref_step"))
            continue;
        char want[128];
        snprintf(want, sizeof want, ",%s,", c);
        ck_assert_msg(strstr(cross, want) != NULL, "group_scores lacks scores.%s", c);
    }
}
END_TEST

static int count_done(void *ctx, const char *group, int64_t a, int64_t b, int64_t sa, int64_t sb)
{
    int *n = ctx;
    ck_assert_str_eq(group, "g");
    ck_assert_int_lt(a, b);
    ck_assert_int_eq(sa, 100);
    ck_assert_int_eq(sb, 100);
    (*n)++;
    return 0;
}

START_TEST(cross_pair_stored_once_and_read_back)
{
    char path[512];
    pw_db *db;
    pw_err e;
    snprintf(path, sizeof path, "%s/gonce/g.db", pw_test_tmpdir());
    PW_ASSERT_OK(pw_db_open(&db, path, 1000, 0, &e), &e);
    pw_db_run ra, rb;
    PW_ASSERT_OK(pw_db_run_upsert(db, "/r/a", "a", &ra, &e), &e);
    PW_ASSERT_OK(pw_db_run_upsert(db, "/r/b", "b", &rb, &e), &e);
    pw_db_score rows[2];
    memset(rows, 0, sizeof rows);
    for (int i = 0; i < 2; i++) {
        pw_result_init(&rows[i].r);
        pw_noise_result_init(&rows[i].noise);
    }
    snprintf(rows[0].layer, sizeof rows[0].layer, "fc");
    rows[0].r.status = PW_OK;
    rows[0].r.n = 500;
    rows[0].r.p_kept = 8;
    rows[0].r.q_kept = 16;
    rows[0].r.pwcca = 0.75;
    rows[0].r.distance = 0.25;
    rows[0].r.procrustes = 0.5;
    snprintf(rows[1].layer, sizeof rows[1].layer, "head");
    rows[1].r.status = PW_PROBE_MISMATCH;
    rows[1].r.n = 500; /* never read: not stored for a pair refused */
    snprintf(rows[1].r.message, sizeof rows[1].r.message, "different probes");
    pw_db_cross c = {"g", ra.id, rb.id, 100, 100, rows, 2, NULL, 0, 0};
    PW_ASSERT_OK(pw_db_cross_commit(db, &c, &e), &e);
    rows[0].r.pwcca = 0.5; /* stored again: replaced, never a second row */
    PW_ASSERT_OK(pw_db_cross_commit(db, &c, &e), &e);
    int n = 0;
    PW_ASSERT_OK(pw_db_cross_done(db, count_done, &n, &e), &e);
    ck_assert_int_eq(n, 1);
    PW_ASSERT_OK(pw_db_run_set_final(db, ra.id, 100, "socket", &e), &e);
    PW_ASSERT_OK(pw_db_run_set_final(db, rb.id, 100, "socket", &e), &e);
    pw_db_close(db);

    pw_query *q;
    PW_ASSERT_OK(pw_query_open(path, &q, &e), &e);
    pw_cross_row *got;
    size_t ng;
    PW_ASSERT_OK(pw_query_cross(q, "g", &got, &ng, &e), &e);
    ck_assert_uint_eq(ng, 2);
    ck_assert_str_eq(got[0].run_a, "a");
    ck_assert_str_eq(got[0].run_b, "b");
    ck_assert_str_eq(got[0].layer_a, "fc");
    ck_assert_str_eq(got[0].layer_b, "fc");
    ck_assert_int_eq(got[0].final, 1);
    ck_assert_int_eq(got[0].n, 500);
    ck_assert_int_eq(got[0].q_kept, 16);
    PW_ASSERT_NEAR(got[0].pwcca, 0.5, 0);
    PW_ASSERT_NEAR(got[0].procrustes, 0.5, 0);
    ck_assert(isnan(got[0].svcca));
    ck_assert_str_eq(got[0].status, "ok");
    ck_assert_ptr_null(got[0].message);
    ck_assert_str_eq(got[1].status, "probe_mismatch");
    ck_assert_int_eq(got[1].n, -1);
    ck_assert_str_eq(got[1].message, "different probes");
    pw_query_cross_free(got, ng);
    /* Another group's name reads nothing. */
    PW_ASSERT_OK(pw_query_cross(q, "other", &got, &ng, &e), &e);
    ck_assert_uint_eq(ng, 0);
    pw_query_cross_free(got, ng);
    pw_query_close(q);
}
END_TEST

Suite *groups_suite(void)
{
    Suite *s = suite_create("groups");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, group_sections_parse);
    tcase_add_test(tc, group_errors_name_file_and_line);
    tcase_add_test(tc, group_scores_have_the_scores_columns);
    tcase_add_test(tc, cross_pair_stored_once_and_read_back);
    suite_add_tcase(s, tc);
    return s;
}
