/* test_chance.c -- the chance level: the seeded permutation (a permutation,
 * the same for a seed on every run, whole inputs moved together), X against
 * a shuffled copy of itself far from X against itself, and the value equal
 * to the plain comparison against Y with its rows shuffled by hand -- with
 * and without cached sides, on the exact and on the reduced route; and the
 * chance table: one row per (run, layer), the first stored stays, a rescore
 * forgets the ones at or after its step, and the client reads them back. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pw_chance.h"
#include "pw_db.h"
#include "pw_engine.h"
#include "pw_query.h"
#include "pw_test.h"

/* xorshift64* and Box-Muller, as test_noise.c. */
static uint64_t rng_state;

static double uniform(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static double normal(void)
{
    double u = uniform(), v = uniform();
    return sqrt(-2.0 * log(u > 0 ? u : 1e-300)) * cos(6.283185307179586 * v);
}

/* Every value of a result's metric list, indexed as PW_METRIC_LIST. */
static void values(const pw_result *r, double *v)
{
#define GET(sym, id, bitno, sel, tpos, label, doc) v[PW_METRIC_##sym] = r->id;
    PW_METRIC_LIST(GET)
#undef GET
}

/* Metric by metric within 1e-12, a value missing (NAN) in both alike. */
static void same_values(const double *a, const double *b)
{
    for (unsigned m = 0; m < PW_METRIC_COUNT; m++) {
        if (isnan(a[m]) && isnan(b[m]))
            continue;
        ck_assert_msg(fabs(a[m] - b[m]) <= 1e-12, "%s: %.17g vs %.17g", pw_metric_name(m), a[m],
                      b[m]);
    }
}

/* y's rows with its inputs (r rows each) placed as the permutation says. */
static void shuffle_by_hand(const double *y, double *out, uint64_t inputs, uint64_t r, size_t q,
                            const uint64_t *perm)
{
    for (uint64_t i = 0; i < inputs; i++)
        memcpy(out + i * r * q, y + perm[i] * r * q, r * q * sizeof(double));
}

START_TEST(the_permutation_is_seeded_and_whole)
{
    enum { N = 257 };
    uint64_t a[N], b[N], c[N];
    pw_chance_perm(a, N, PW_CHANCE_SEED);
    pw_chance_perm(b, N, PW_CHANCE_SEED);
    pw_chance_perm(c, N, PW_CHANCE_SEED + 1);
    ck_assert(memcmp(a, b, sizeof a) == 0);
    ck_assert(memcmp(a, c, sizeof a) != 0);
    int seen[N] = {0};
    size_t fixed = 0;
    for (size_t i = 0; i < N; i++) {
        ck_assert_uint_lt(a[i], N);
        ck_assert_int_eq(seen[a[i]]++, 0);
        fixed += a[i] == i;
    }
    ck_assert_uint_lt(fixed, 10); /* a shuffle, not the identity */
    /* The values any machine draws for this seed: the generator is part of
     * the contract (stored chance levels are recomputed from it). */
    uint64_t small[5];
    pw_chance_perm(small, 5, PW_CHANCE_SEED);
    uint64_t again[5];
    pw_chance_perm(again, 5, PW_CHANCE_SEED);
    ck_assert(memcmp(small, again, sizeof small) == 0);
    uint64_t one = 7;
    pw_chance_perm(&one, 1, PW_CHANCE_SEED);
    ck_assert_uint_eq(one, 0);
}
END_TEST

START_TEST(shuffled_self_is_far_and_equals_the_shuffle_by_hand)
{
    enum { N = 150, R = 4, P = 6, Q = 5 }; /* 150 inputs of 4 rows each (a tiny "conv map") */
    static double x[N * R * P], y[N * R * Q], ys[N * R * Q], xs[N * R * P];
    rng_state = 11;
    /* Y a noisy linear map of X: truly related, so the pair is near and chance is not. */
    for (size_t i = 0; i < N * R * P; i++)
        x[i] = normal();
    for (size_t i = 0; i < N * R; i++)
        for (size_t c = 0; c < Q; c++) {
            double s = 0;
            for (size_t k = 0; k < P; k++)
                s += x[i * P + k] * (double)((k + 2 * c) % 5 + 1) / 5.0;
            y[i * Q + c] = s + 0.1 * normal();
        }
    pw_rows rx = pw_rows_from_matrix(x, N * R, P), ry = pw_rows_from_matrix(y, N * R, Q);
    pw_result self, chance_self, pair, chance, direct;
    pw_err e;
    /* X against X is 0; X against its own shuffle is far from it. */
    PW_ASSERT_OK(pw_engine_compare(&rx, &rx, PW_M_ALL, NULL, NULL, &self, &e), &e);
    PW_ASSERT_OK(pw_chance_compare(&rx, &rx, N, PW_CHANCE_SEED, PW_M_ALL, NULL, NULL, NULL,
                                   &chance_self, &e),
                 &e);
    ck_assert_int_eq(chance_self.status, PW_OK);
    PW_ASSERT_NEAR(self.distance, 0, 1e-12);
    ck_assert_msg(chance_self.distance > 0.5, "chance distance of X to itself %g",
                  chance_self.distance);
    /* ... and equals the plain comparison against the shuffle made by hand. */
    uint64_t perm[N];
    pw_chance_perm(perm, N, PW_CHANCE_SEED);
    shuffle_by_hand(x, xs, N, R, P, perm);
    pw_rows rxs = pw_rows_from_matrix(xs, N * R, P);
    PW_ASSERT_OK(pw_engine_compare(&rx, &rxs, PW_M_ALL, NULL, NULL, &direct, &e), &e);
    double a[PW_METRIC_COUNT], b[PW_METRIC_COUNT];
    values(&chance_self, a);
    values(&direct, b);
    same_values(a, b);
    pw_result_free(&direct);

    /* A related pair: the chance level from the pair's cached sides is the
     * plain comparison against Y shuffled by hand, metric by metric. */
    pw_side *sx = NULL, *sy = NULL;
    PW_ASSERT_OK(pw_engine_compare(&rx, &ry, PW_M_ALL, &sx, &sy, &pair, &e), &e);
    ck_assert_ptr_nonnull(sx);
    ck_assert_ptr_nonnull(sy);
    PW_ASSERT_OK(
        pw_chance_compare(&rx, &ry, N, PW_CHANCE_SEED, PW_M_ALL, NULL, &sx, &sy, &chance, &e), &e);
    shuffle_by_hand(y, ys, N, R, Q, perm);
    pw_rows rys = pw_rows_from_matrix(ys, N * R, Q);
    PW_ASSERT_OK(pw_engine_compare(&rx, &rys, PW_M_ALL, NULL, NULL, &direct, &e), &e);
    ck_assert_int_eq(chance.status, PW_OK);
    values(&chance, a);
    values(&direct, b);
    same_values(a, b);
    ck_assert_msg(pair.distance < 0.2 && chance.distance > pair.distance + 0.3, "pair %g chance %g",
                  pair.distance, chance.distance);
    pw_result_free(&direct);
    /* The same seed gives the same value, through a row callback too. */
    pw_result again;
    PW_ASSERT_OK(
        pw_chance_compare(&rx, &ry, N, PW_CHANCE_SEED, PW_M_ALL, NULL, NULL, NULL, &again, &e), &e);
    values(&again, b);
    same_values(a, b);
    pw_result_free(&again);
    /* Rows of one input go together: with one input the shuffle is the
     * identity, and a whole-input shuffle of R rows is not a row shuffle. */
    pw_result whole;
    PW_ASSERT_OK(
        pw_chance_compare(&rx, &ry, 1, PW_CHANCE_SEED, PW_M_ALL, NULL, NULL, NULL, &whole, &e), &e);
    PW_ASSERT_NEAR(whole.distance, pair.distance, 1e-12);
    pw_result_free(&whole);
    /* Not a whole number of rows per input: refused. */
    pw_result bad;
    PW_ASSERT_FAILS_WITH(
        pw_chance_compare(&rx, &ry, 7, PW_CHANCE_SEED, PW_M_ALL, NULL, NULL, NULL, &bad, &e), &e,
        "whole number of rows");
    pw_result_free(&bad);
    pw_side_free(sx);
    pw_side_free(sy);
    pw_result_free(&self);
    pw_result_free(&chance_self);
    pw_result_free(&pair);
    pw_result_free(&chance);
}
END_TEST

START_TEST(the_reduced_route_shuffles_too)
{
    enum { N = 40, P = 60, Q = 50 }; /* wider than the probe: only the reduced route scores */
    static double x[N * P], y[N * Q], ys[N * Q];
    rng_state = 23;
    for (size_t i = 0; i < N * P; i++)
        x[i] = normal();
    for (size_t i = 0; i < N; i++)
        for (size_t c = 0; c < Q; c++)
            y[i * Q + c] = x[i * P + c] + 0.3 * normal();
    pw_rows rx = pw_rows_from_matrix(x, N, P), ry = pw_rows_from_matrix(y, N, Q);
    pw_reduce mode = {.kind = PW_REDUCE_DIMS, .dims = 8};
    pw_side *sx = NULL, *sy = NULL;
    pw_result pair, chance, direct;
    pw_err e;
    PW_ASSERT_OK(pw_engine_compare_reduced(&rx, &ry, PW_M_ALL, &mode, &sx, &sy, &pair, &e), &e);
    ck_assert_int_eq(pair.status, PW_OK);
    PW_ASSERT_OK(
        pw_chance_compare(&rx, &ry, N, PW_CHANCE_SEED, PW_M_ALL, &mode, &sx, &sy, &chance, &e), &e);
    uint64_t perm[N];
    pw_chance_perm(perm, N, PW_CHANCE_SEED);
    shuffle_by_hand(y, ys, N, 1, Q, perm);
    pw_rows rys = pw_rows_from_matrix(ys, N, Q);
    PW_ASSERT_OK(pw_engine_compare_reduced(&rx, &rys, PW_M_ALL, &mode, NULL, NULL, &direct, &e),
                 &e);
    ck_assert_int_eq(chance.status, PW_OK);
    double a[PW_METRIC_COUNT], b[PW_METRIC_COUNT];
    values(&chance, a);
    values(&direct, b);
    same_values(a, b);
    ck_assert_msg(chance.distance > pair.distance + 0.2, "pair %g chance %g", pair.distance,
                  chance.distance);
    pw_side_free(sx);
    pw_side_free(sy);
    pw_result_free(&pair);
    pw_result_free(&chance);
    pw_result_free(&direct);
}
END_TEST

static int collect(void *ctx, const pw_db_chance *c)
{
    pw_db_chance *out = ctx;
    out[c->layer[0] == 'f'] = *c; /* conv1 at 0, fc at 1 */
    return 0;
}

START_TEST(one_stored_row_per_run_and_layer)
{
    char path[512];
    snprintf(path, sizeof path, "%s/chance/sub/c.db", pw_test_tmpdir());
    pw_db *db;
    pw_db_run run;
    pw_err e;
    PW_ASSERT_OK(pw_db_open(&db, path, 1000, 0, &e), &e);
    PW_ASSERT_OK(pw_db_run_upsert(db, "/runs/r", "r", &run, &e), &e);
    /* Layers and a score each, so the curve has rows to carry the chance level. */
    pw_db_layer layers[2];
    memset(layers, 0, sizeof layers);
    snprintf(layers[0].name, sizeof layers[0].name, "conv1");
    snprintf(layers[1].name, sizeof layers[1].name, "fc");
    layers[1].depth = 1;
    snprintf(layers[0].shape, sizeof layers[0].shape, "[4, 8]");
    snprintf(layers[1].shape, sizeof layers[1].shape, "[4, 2]");
    pw_db_score sc[2];
    memset(sc, 0, sizeof sc);
    for (int i = 0; i < 2; i++) {
        memcpy(sc[i].layer, layers[i].name, sizeof sc[i].layer);
        sc[i].step = 200;
        sc[i].ref = PW_REF_PREVIOUS;
        sc[i].ref_step = 100;
        pw_result_init(&sc[i].r);
        sc[i].r.distance = 0.05;
    }
    pw_db_group g = {200, PW_REF_PREVIOUS};
    pw_db_batch b = {NULL, layers, 2, &g, 1, sc, 2, NULL, 0, 0};
    PW_ASSERT_OK(pw_db_commit(db, run.id, &b, &e), &e);

    pw_db_chance c[3];
    memset(c, 0, sizeof c);
    for (int i = 0; i < 3; i++) {
        pw_result_init(&c[i].r);
        snprintf(c[i].layer, sizeof c[i].layer, "%s", i == 1 ? "fc" : "conv1");
        c[i].step_a = 200;
        c[i].step_b = 100;
        c[i].seed = PW_CHANCE_SEED;
        c[i].r.n = 64;
        c[i].r.distance = 0.8 + 0.01 * i;
        c[i].r.pwcca = 1 - c[i].r.distance;
        c[i].r.cka_debiased = -0.02; /* stored as given */
    }
    c[1].r.reduce = (pw_reduce){.kind = PW_REDUCE_DIMS, .dims = 6};
    int64_t added = -1;
    /* conv1 twice: the first stays. */
    PW_ASSERT_OK(pw_db_chance_add(db, run.id, c, 3, &added, &e), &e);
    ck_assert_int_eq(added, 2);
    pw_db_chance got[2];
    memset(got, 0, sizeof got);
    PW_ASSERT_OK(pw_db_chance_each(db, run.id, collect, got, &e), &e);
    ck_assert_str_eq(got[0].layer, "conv1");
    PW_ASSERT_NEAR(got[0].r.distance, 0.8, 0);
    PW_ASSERT_NEAR(got[0].r.cka_debiased, -0.02, 0);
    ck_assert(isnan(got[0].r.svcca)); /* not computed: NULL */
    ck_assert_uint_eq(got[0].seed, PW_CHANCE_SEED);
    ck_assert_int_eq(got[0].step_a, 200);
    ck_assert_int_eq(got[0].step_b, 100);
    ck_assert_int_eq(got[0].r.status, PW_OK);
    ck_assert_int_eq(got[1].r.reduce.kind, PW_REDUCE_DIMS);
    ck_assert_uint_eq(got[1].r.reduce.dims, 6);

    /* The client reads them, and the curve rows carry their layer's. */
    pw_query *q;
    pw_run_info ri;
    PW_ASSERT_OK(pw_query_open(path, &q, &e), &e);
    PW_ASSERT_OK(pw_query_find_run(q, "r", &ri, &e), &e);
    pw_chance_info *ci;
    size_t nci;
    PW_ASSERT_OK(pw_query_chance(q, &ri, &ci, &nci, &e), &e);
    ck_assert_uint_eq(nci, 2);
    ck_assert_str_eq(ci[0].layer, "conv1"); /* bottom first */
    ck_assert_int_eq(ci[1].depth, 1);
    PW_ASSERT_NEAR(ci[1].distance, c[1].r.distance, 0);
    ck_assert_str_eq(ci[1].status, "ok");
    pw_query_chance_free(ci, nci);
    pw_curve_row *rows;
    size_t nrows;
    PW_ASSERT_OK(pw_query_curve(q, &ri, "previous", NULL, 0, NULL, NULL, &rows, &nrows, &e), &e);
    ck_assert_uint_eq(nrows, 2);
    ck_assert_int_eq(rows[0].has_chance, 0); /* pw_query_curve alone leaves it */
    PW_ASSERT_OK(pw_query_curve_chance(q, &ri, rows, nrows, &e), &e);
    ck_assert_int_eq(rows[0].has_chance, 1);
    PW_ASSERT_NEAR(rows[0].chance_distance, 0.8, 0);
    PW_ASSERT_NEAR(rows[1].chance_distance, c[1].r.distance, 0);
    pw_query_curve_free(rows, nrows);
    pw_query_run_clear(&ri);
    pw_query_close(q);

    /* A rescore from a later step keeps them; from their step forgets them. */
    int64_t removed = -1;
    PW_ASSERT_OK(pw_db_chance_forget(db, run.id, 300, &removed, &e), &e);
    ck_assert_int_eq(removed, 0);
    PW_ASSERT_OK(pw_db_chance_forget(db, run.id, 200, &removed, &e), &e);
    ck_assert_int_eq(removed, 2);
    /* Then the next first pair stores again. */
    PW_ASSERT_OK(pw_db_chance_add(db, run.id, c + 2, 1, &added, &e), &e);
    ck_assert_int_eq(added, 1);
    memset(got, 0, sizeof got);
    PW_ASSERT_OK(pw_db_chance_each(db, run.id, collect, got, &e), &e);
    PW_ASSERT_NEAR(got[0].r.distance, c[2].r.distance, 0);
    ck_assert_str_eq(got[1].layer, "");
    pw_db_close(db);
}
END_TEST

Suite *chance_suite(void)
{
    Suite *s = suite_create("chance");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, the_permutation_is_seeded_and_whole);
    tcase_add_test(tc, shuffled_self_is_far_and_equals_the_shuffle_by_hand);
    tcase_add_test(tc, the_reduced_route_shuffles_too);
    tcase_add_test(tc, one_stored_row_per_run_and_layer);
    suite_add_tcase(s, tc);
    return s;
}
