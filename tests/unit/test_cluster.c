/* test_cluster.c -- runs against runs (lib/pw_cluster.h): average linkage on
 * a matrix worked by hand, the leaf order, and the distance matrix with one
 * side per run. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pw_cluster.h"
#include "pw_side.h"
#include "pw_test.h"

START_TEST(average_linkage_by_hand)
{
    /* Points on a line at 0, 1, 5, 6.5, 20, |x - y| apart. */
    static const double x[5] = {0, 1, 5, 6.5, 20};
    double d[25], z[4][4];
    for (size_t i = 0; i < 5; i++)
        for (size_t j = 0; j < 5; j++)
            d[i * 5 + j] = fabs(x[i] - x[j]);
    pw_err err = {""};
    PW_ASSERT_OK(pw_cluster_average(d, 5, z, &err), &err);
    /* (0, 1) at 1 is cluster 5; (2, 3) at 1.5 is 6; their union at the mean of
     * the four leaf distances, (5 + 6.5 + 4 + 5.5) / 4; then 4 joins at the
     * mean of 20, 19, 15, 13.5. */
    static const double want[4][4] = {
        {0, 1, 1, 2}, {2, 3, 1.5, 2}, {5, 6, 5.25, 4}, {4, 7, 16.875, 5}};
    for (size_t m = 0; m < 4; m++)
        for (size_t c = 0; c < 4; c++)
            PW_ASSERT_NEAR(z[m][c], want[m][c], 1e-12);
    size_t order[5];
    pw_cluster_leaves((const double(*)[4])z, 5, order);
    static const size_t leaves[5] = {4, 0, 1, 2, 3};
    for (size_t i = 0; i < 5; i++)
        ck_assert_uint_eq(order[i], leaves[i]);
    d[1] = NAN;
    PW_ASSERT_FAILS_WITH(pw_cluster_average(d, 5, z, &err), &err, "not a distance");
}
END_TEST

static double *run_data(size_t n, size_t p, unsigned seed, double mix)
{
    double *a = malloc(n * p * sizeof(double));
    uint64_t s = 0x9e3779b97f4a7c15ull * (seed + 1);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            double noise = (double)(s >> 11) * 0x1p-53 - 0.5;
            a[i * p + j] = cos((double)i * 0.21 * (double)(j + 1)) + mix * noise;
        }
    return a;
}

/* Run i's layer `name`: an n x p F64 tensor over fresh data (returned, for
 * the caller to free), noisier for later runs. */
static double *run_tensor(pw_tensor *t, const pw_tensor **tp, const char *name, size_t n, size_t p,
                          unsigned i)
{
    double *data = run_data(n, p, i, 0.2 + 0.3 * (double)i);
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->dtype = PW_DT_F64;
    t->ndim = 2;
    t->shape[0] = t->rows = n;
    t->shape[1] = t->cols = p;
    t->data = (const unsigned char *)data;
    t->nbytes = n * p * sizeof(double);
    *tp = t;
    return data;
}

START_TEST(distances_one_side_per_run)
{
    enum { K = 4, N = 200, P = 6 };
    double *data[K];
    pw_tensor t[K];
    const pw_tensor *tp[K];
    static const char *const labels[K] = {"a:1", "b:1", "c:1", "d:1"};
    for (size_t i = 0; i < K; i++)
        data[i] = run_tensor(&t[i], &tp[i], "fc", N, P, (unsigned)i);
    double d[K * K];
    pw_side_counts before, after;
    pw_side_counts_get(&before);
    pw_err err = {""};
    PW_ASSERT_OK(pw_cluster_distances(tp, labels, K, PW_CLUSTER_PWCCA, d, &err), &err);
    pw_side_counts_get(&after);
    ck_assert_uint_eq(after.built - before.built, K); /* one side per run, X and Y alike */
    for (size_t i = 0; i < K; i++) {
        ck_assert(d[i * K + i] == 0);
        for (size_t j = 0; j < K; j++) {
            ck_assert(d[i * K + j] == d[j * K + i]);
            if (i != j) {
                /* The mean of both directions, as one comparison each gives. */
                pw_rows x = pw_rows_from_tensor(tp[i]), y = pw_rows_from_tensor(tp[j]);
                pw_result r1, r2;
                PW_ASSERT_OK(pw_engine_compare(&x, &y, PW_M_PWCCA, NULL, NULL, &r1, &err), &err);
                PW_ASSERT_OK(pw_engine_compare(&y, &x, PW_M_PWCCA, NULL, NULL, &r2, &err), &err);
                PW_ASSERT_NEAR(d[i * K + j], (r1.distance + r2.distance) / 2, 1e-12);
                ck_assert(d[i * K + j] > 0);
                pw_result_free(&r1);
                pw_result_free(&r2);
            }
        }
    }
    t[2].rows = t[2].shape[0] = N - 1;
    PW_ASSERT_FAILS_WITH(pw_cluster_distances(tp, labels, K, PW_CLUSTER_PWCCA, d, &err), &err,
                         "c:1 has n = 199");
    for (size_t i = 0; i < K; i++)
        free(data[i]);
}
END_TEST

/* The Procrustes distance: one comparison per pair, symmetric as it comes,
 * and defined for layers wider than the probe, where PWCCA refuses. */
START_TEST(procrustes_clusters_wide_layers)
{
    enum { K = 3, N = 40, P = 60 };
    double *data[K];
    pw_tensor t[K];
    const pw_tensor *tp[K];
    static const char *const labels[K] = {"a:1", "b:1", "c:1"};
    for (size_t i = 0; i < K; i++)
        data[i] = run_tensor(&t[i], &tp[i], "wide", N, P, (unsigned)i);
    double d[K * K];
    pw_err err = {""};
    PW_ASSERT_FAILS_WITH(pw_cluster_distances(tp, labels, K, PW_CLUSTER_PWCCA, d, &err), &err,
                         "no PWCCA distance");
    PW_ASSERT_OK(pw_cluster_distances(tp, labels, K, PW_CLUSTER_PROCRUSTES, d, &err), &err);
    for (size_t i = 0; i < K; i++)
        for (size_t j = 0; j < K; j++) {
            pw_rows x = pw_rows_from_tensor(tp[i]), y = pw_rows_from_tensor(tp[j]);
            pw_result r;
            PW_ASSERT_OK(pw_engine_compare(&x, &y, PW_M_PROCRUSTES, NULL, NULL, &r, &err), &err);
            if (i == j)
                ck_assert(d[i * K + j] == 0);
            else
                PW_ASSERT_NEAR(d[i * K + j], r.procrustes, 1e-12);
            pw_result_free(&r);
        }
    double z[K - 1][4];
    PW_ASSERT_OK(pw_cluster_average(d, K, z, &err), &err);
    json_t *v = pw_cluster_json("wide", PW_CLUSTER_PROCRUSTES, labels, K, d, (const double(*)[4])z);
    ck_assert_ptr_nonnull(v);
    ck_assert_str_eq(json_string_value(json_object_get(v, "distance")), "procrustes");
    json_decref(v);
    pw_cluster_measure m;
    ck_assert_int_eq(pw_cluster_measure_parse("procrustes", &m, &err), 0);
    ck_assert_int_eq(m, PW_CLUSTER_PROCRUSTES);
    PW_ASSERT_FAILS_WITH(pw_cluster_measure_parse("cka", &m, &err), &err,
                         "known: pwcca, procrustes");
    for (size_t i = 0; i < K; i++)
        free(data[i]);
}
END_TEST

Suite *cluster_suite(void)
{
    Suite *s = suite_create("cluster");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, average_linkage_by_hand);
    tcase_add_test(tc, distances_one_side_per_run);
    tcase_add_test(tc, procrustes_clusters_wide_layers);
    suite_add_tcase(s, tc);
    return s;
}
