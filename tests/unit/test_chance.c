/* test_chance.c -- the chance level: the seeded permutation (a permutation,
 * the same for a seed on every run, whole inputs moved together), X against
 * a shuffled copy of itself far from X against itself, and the value equal
 * to the plain comparison against Y with its rows shuffled by hand -- with
 * and without cached sides, on the exact and on the reduced route. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pw_chance.h"
#include "pw_engine.h"
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

Suite *chance_suite(void)
{
    Suite *s = suite_create("chance");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, the_permutation_is_seeded_and_whole);
    tcase_add_test(tc, shuffled_self_is_far_and_equals_the_shuffle_by_hand);
    tcase_add_test(tc, the_reduced_route_shuffles_too);
    suite_add_tcase(s, tc);
    return s;
}
