/* test_matrix.c -- the layer x layer matrix (lib/pw_matrix.h): each layer
 * factored once, the same numbers as one comparison at a time, PWCCA 1 on
 * the diagonal of a network against itself, and n checked up front. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pw_matrix.h"
#include "pw_side.h"
#include "pw_test.h"

/* A layer of n x p doubles: a shared signal seen through layer-specific
 * mixing plus noise, so layers are related but not equal. */
static double *layer_data(size_t n, size_t p, unsigned seed)
{
    double *a = malloc(n * p * sizeof(double));
    ck_assert_ptr_nonnull(a);
    uint64_t s = 0x9e3779b97f4a7c15ull * (seed + 1);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            double noise = (double)(s >> 11) * 0x1p-53 - 0.5;
            a[i * p + j] = sin((double)i * 0.37 * (double)(j + 1) + seed) + 0.3 * noise;
        }
    return a;
}

static pw_tensor view(const char *name, const double *d, size_t n, size_t p)
{
    pw_tensor t;
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "%s", name);
    t.dtype = PW_DT_F64;
    t.ndim = 2;
    t.shape[0] = n;
    t.shape[1] = p;
    t.data = (const unsigned char *)d;
    t.nbytes = n * p * sizeof(double);
    t.rows = n;
    t.cols = p;
    return t;
}

#define L 3
#define N 240

START_TEST(self_matrix_factors_each_layer_once)
{
    static const size_t widths[L] = {5, 9, 4};
    static const char *const names[L] = {"conv1", "conv2", "fc"};
    double *data[L];
    pw_tensor ta[L], tb[L];
    const pw_tensor *a[L], *b[L];
    for (size_t i = 0; i < L; i++) {
        data[i] = layer_data(N, widths[i], (unsigned)i);
        ta[i] = view(names[i], data[i], N, widths[i]);
        tb[i] = ta[i]; /* the same network at the same step, as a second file */
        a[i] = &ta[i];
        b[i] = &tb[i];
    }
    pw_side_counts before, after;
    pw_side_counts_get(&before);
    pw_matrix m;
    pw_err err = {""};
    PW_ASSERT_OK(pw_matrix_compute(&m, a, L, b, L, PW_M_PWCCA | PW_M_CKA | PW_M_SVCCA, &err), &err);
    pw_side_counts_get(&after);
    /* L + L sides, each whitened once and given one SVCCA basis: not one per pair. */
    ck_assert_uint_eq(after.built - before.built, 2 * L);
    ck_assert_uint_eq(after.whitened - before.whitened, 2 * L);
    ck_assert_uint_eq(after.svcca - before.svcca, 2 * L);
    ck_assert_uint_eq(m.na, L);
    ck_assert_uint_eq(m.nb, L);
    for (size_t i = 0; i < L; i++) {
        const pw_result *d = &m.cell[i * L + i];
        ck_assert_int_eq(d->status, PW_OK);
        PW_ASSERT_NEAR(d->pwcca, 1.0, 1e-10);
        PW_ASSERT_NEAR(d->cka, 1.0, 1e-10);
    }
    /* Every cell is what one comparison without any cache gives. */
    for (size_t i = 0; i < L; i++)
        for (size_t j = 0; j < L; j++) {
            pw_rows x = pw_rows_from_tensor(a[i]), y = pw_rows_from_tensor(b[j]);
            pw_result r;
            PW_ASSERT_OK(pw_engine_compare(&x, &y, m.metrics, NULL, NULL, &r, &err), &err);
            const pw_result *c = &m.cell[i * L + j];
            ck_assert_int_eq(c->status, r.status);
            PW_ASSERT_NEAR(c->pwcca, r.pwcca, 1e-12);
            PW_ASSERT_NEAR(c->cka, r.cka, 1e-12);
            PW_ASSERT_NEAR(c->svcca, r.svcca, 1e-12);
            if (i != j)
                ck_assert(c->pwcca < 0.999);
            pw_result_free(&r);
        }
    pw_matrix_free(&m);
    for (size_t i = 0; i < L; i++)
        free(data[i]);
}
END_TEST

START_TEST(different_architectures_and_outputs)
{
    double *d1 = layer_data(N, 6, 1), *d2 = layer_data(N, 3, 2), *e1 = layer_data(N, 7, 3);
    pw_tensor t1 = view("block.0", d1, N, 6), t2 = view("head", d2, N, 3),
              u1 = view("enc<1>&", e1, N, 7);
    const pw_tensor *a[2] = {&t1, &t2}, *b[1] = {&u1};
    pw_matrix m;
    pw_err err = {""};
    PW_ASSERT_OK(pw_matrix_compute(&m, a, 2, b, 1, PW_M_PWCCA | PW_M_CKA, &err), &err);
    ck_assert_uint_eq(m.na, 2);
    ck_assert_uint_eq(m.nb, 1);
    ck_assert(isnan(m.cell[0].svcca)); /* not asked */
    json_t *j = pw_matrix_json(&m, "A:100", "B:200");
    ck_assert_ptr_nonnull(j);
    json_t *grid = json_object_get(json_object_get(j, "matrix"), "pwcca");
    ck_assert_uint_eq(json_array_size(grid), 2);
    ck_assert_uint_eq(json_array_size(json_array_get(grid, 0)), 1);
    PW_ASSERT_NEAR(json_real_value(json_array_get(json_array_get(grid, 1), 0)), m.cell[1].pwcca, 0);
    ck_assert_ptr_null(json_object_get(json_object_get(j, "matrix"), "svcca"));
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(j, "cells"), 1), "layer_a")),
                     "head");
    json_decref(j);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    PW_ASSERT_OK(pw_matrix_svg(f, &m, PW_METRIC_PWCCA, "A:100", "B:200", &err), &err);
    fclose(f);
    size_t cells = 0;
    for (const char *s = buf; (s = strstr(s, "class=\"cell\"")); s++)
        cells++;
    ck_assert_uint_eq(cells, 2);
    ck_assert_ptr_nonnull(strstr(buf, "enc&lt;1&gt;&amp;")); /* names escaped */
    ck_assert_ptr_null(strstr(buf, "enc<1>"));
    free(buf);
    pw_matrix_free(&m);
    free(d1);
    free(d2);
    free(e1);
}
END_TEST

START_TEST(n_must_match)
{
    double *d1 = layer_data(N, 4, 1), *d2 = layer_data(N - 10, 4, 2);
    pw_tensor t1 = view("conv1", d1, N, 4), t2 = view("other", d2, N - 10, 4);
    const pw_tensor *a[1] = {&t1}, *b[1] = {&t2};
    pw_matrix m;
    pw_err err = {""};
    PW_ASSERT_FAILS_WITH(pw_matrix_compute(&m, a, 1, b, 1, PW_M_PWCCA, &err), &err,
                         "layer 'other' of B has n = 230");
    pw_matrix_free(&m);
    free(d1);
    free(d2);
}
END_TEST

Suite *matrix_suite(void)
{
    Suite *s = suite_create("matrix");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, self_matrix_factors_each_layer_once);
    tcase_add_test(tc, different_architectures_and_outputs);
    tcase_add_test(tc, n_must_match);
    suite_add_tcase(s, tc);
    return s;
}
