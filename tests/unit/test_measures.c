/* test_measures.c -- debiased CKA and the Procrustes distance (issue #20)
 * against independent computations.
 *
 * The oracles here never use the engine's route.  Debiased CKA is taken in
 * its n x n form (Kornblith et al. 2019's `cka(..., debiased=True)`: the
 * centred data's Gram matrices K = Xc Xc^T, unbiasedly centred -- diagonal
 * zeroed, row means over n - 2 corrected -- and HSIC their elementwise
 * product), where the engine streams feature-space sums; Procrustes from an
 * explicit Xc^T Yc and dgesvd (the engine uses the streamed cross Gram and
 * dgesdd).  Data shifted by 1e4 must give the same values: the streaming
 * sums are re-centred, never taken about zero. */
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pw_engine.h"
#include "pw_test.h"
#include "refcase.h"

/* ---- data -------------------------------------------------------------------- */

typedef struct rng {
    uint64_t s; /* splitmix64 state */
} rng;

static uint64_t rng_u64(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_normal(rng *r)
{
    double u = ((double)(rng_u64(r) >> 11) + 0.5) * 0x1p-53;
    double v = ((double)(rng_u64(r) >> 11) + 0.5) * 0x1p-53;
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

static double *normals(rng *r, size_t n, size_t p)
{
    double *a = malloc(n * p * sizeof(double));
    for (size_t i = 0; i < n * p; i++)
        a[i] = rng_normal(r);
    return a;
}

/* Column-centred copy of a row-major n x p matrix (two-pass mean). */
static double *centred(const double *a, size_t n, size_t p)
{
    double *c = malloc(n * p * sizeof(double));
    for (size_t j = 0; j < p; j++) {
        double m = 0, m2 = 0;
        for (size_t i = 0; i < n; i++)
            m += a[i * p + j];
        m /= (double)n;
        for (size_t i = 0; i < n; i++)
            m2 += a[i * p + j] - m;
        m += m2 / (double)n;
        for (size_t i = 0; i < n; i++)
            c[i * p + j] = a[i * p + j] - m;
    }
    return c;
}

/* ---- oracles ------------------------------------------------------------------- */

/* Kornblith's center_gram(unbiased=True) of the n x n linear Gram of the
 * centred rows, into k (row-major n x n). */
static double *unbiased_gram(const double *ac, size_t n, size_t p)
{
    double *k = calloc(n * n, sizeof(double)), *means = calloc(n, sizeof(double));
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double t = 0;
            for (size_t l = 0; l < p; l++)
                t += ac[i * p + l] * ac[j * p + l];
            k[i * n + j] = i == j ? 0 : t;
        }
    double total = 0;
    for (size_t j = 0; j < n; j++) {
        for (size_t i = 0; i < n; i++)
            means[j] += k[i * n + j];
        means[j] /= (double)n - 2;
        total += means[j];
    }
    for (size_t j = 0; j < n; j++)
        means[j] -= total / (2 * ((double)n - 1));
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            k[i * n + j] = i == j ? 0 : k[i * n + j] - means[i] - means[j];
    free(means);
    return k;
}

static double dot(const double *a, const double *b, size_t len)
{
    double t = 0;
    for (size_t i = 0; i < len; i++)
        t += a[i] * b[i];
    return t;
}

static double oracle_cka_debiased(const double *x, const double *y, size_t n, size_t p, size_t q)
{
    double *xc = centred(x, n, p), *yc = centred(y, n, q);
    double *k = unbiased_gram(xc, n, p), *l = unbiased_gram(yc, n, q);
    double c = dot(k, l, n * n) / sqrt(dot(k, k, n * n) * dot(l, l, n * n));
    free(xc);
    free(yc);
    free(k);
    free(l);
    return c;
}

/* cos theta = ||Xc^T Yc||_* / (||Xc||_F ||Yc||_F), by dgesvd of the explicit product. */
static double oracle_procrustes_cos(const double *x, const double *y, size_t n, size_t p, size_t q)
{
    double *xc = centred(x, n, p), *yc = centred(y, n, q), *m = calloc(p * q, sizeof(double));
    size_t k = p < q ? p : q;
    double *s = malloc(k * sizeof(double)), *sup = malloc(k * sizeof(double)), dummy = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t a = 0; a < p; a++)
            for (size_t b = 0; b < q; b++)
                m[a * q + b] += xc[i * p + a] * yc[i * q + b];
    ck_assert_int_eq(LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'N', 'N', (lapack_int)p, (lapack_int)q, m,
                                    (lapack_int)q, s, &dummy, 1, &dummy, 1, sup),
                     0);
    double nuc = 0;
    for (size_t i = 0; i < k; i++)
        nuc += s[i];
    double c = nuc / sqrt(dot(xc, xc, n * p)) / sqrt(dot(yc, yc, n * q));
    free(xc);
    free(yc);
    free(m);
    free(s);
    free(sup);
    return c;
}

/* ---- engine calls -------------------------------------------------------------- */

/* Rows served through the read callback, `chunk` at a time: many chunks and
 * thus many re-centrings of the streamed sums. */
typedef struct chunked {
    const double *a; /* row-major */
    size_t p;        /* columns */
} chunked;

static int chunked_read(void *ctx, uint64_t row0, size_t nrows, double *out, pw_err *err)
{
    const chunked *c = ctx;
    (void)err;
    memcpy(out, c->a + row0 * c->p, nrows * c->p * sizeof(double));
    return 0;
}

static pw_result compare_rows(const pw_rows *rx, const pw_rows *ry, unsigned metrics,
                              const pw_reduce *mode)
{
    pw_result r;
    pw_err e;
    pw_err_clear(&e);
    PW_ASSERT_OK(pw_engine_compare_reduced(rx, ry, metrics, mode, NULL, NULL, &r, &e), &e);
    return r;
}

static pw_result run(const double *x, const double *y, size_t n, size_t p, size_t q,
                     unsigned metrics, size_t chunk, const pw_reduce *mode)
{
    if (!chunk) {
        pw_rows rx = pw_rows_from_matrix(x, n, p), ry = pw_rows_from_matrix(y, n, q);
        return compare_rows(&rx, &ry, metrics, mode);
    }
    chunked cx = {x, p}, cy = {y, q};
    pw_rows rx = {.nrows = n, .ncols = p, .read = chunked_read, .ctx = &cx, .chunk_rows = chunk};
    pw_rows ry = {.nrows = n, .ncols = q, .read = chunked_read, .ctx = &cy, .chunk_rows = chunk};
    return compare_rows(&rx, &ry, metrics, mode);
}

static double *shifted(const double *a, size_t len, double by)
{
    double *b = malloc(len * sizeof(double));
    for (size_t i = 0; i < len; i++)
        b[i] = a[i] + by;
    return b;
}

/* The engine's two values for (x, y), plain and shifted by +1e4 / -1e4, in
 * one pass and in chunks of 7 rows, against the oracles. */
static void check_pair(const char *name, const double *x, const double *y, size_t n, size_t p,
                       size_t q, const pw_reduce *mode, int want_procrustes)
{
    double deb = oracle_cka_debiased(x, y, n, p, q), cosp = oracle_procrustes_cos(x, y, n, p, q);
    double *xs = shifted(x, n * p, 1e4), *ys = shifted(y, n * q, -1e4);
    const double *xx[2] = {x, xs}, *yy[2] = {y, ys};
    for (int sh = 0; sh < 2; sh++)
        for (size_t chunk = 0; chunk <= 7; chunk += 7) {
            pw_result r = run(xx[sh], yy[sh], n, p, q, PW_M_ALL, chunk, mode);
            ck_assert_msg(fabs(r.cka_debiased - deb) <= 1e-10,
                          "%s (shift %d, chunk %zu): cka_debiased %.17g, oracle %.17g", name, sh,
                          chunk, r.cka_debiased, deb);
            if (want_procrustes)
                ck_assert_msg(fabs(cos(r.procrustes) - cosp) <= 1e-10,
                              "%s (shift %d, chunk %zu): cos procrustes %.17g, oracle %.17g", name,
                              sh, chunk, cos(r.procrustes), cosp);
            else
                ck_assert_msg(isnan(r.procrustes), "%s: procrustes %g on the wide route", name,
                              r.procrustes);
            pw_result_free(&r);
        }
    free(xs);
    free(ys);
}

/* ---- tests ----------------------------------------------------------------------- */

START_TEST(reference_cases_match_the_oracles)
{
    static const char *cases[] = {"a_rotation", "b_independent", "c_mixed_subset", "e_small_n",
                                  "f_small_n_degenerate"};
    char path[1024], why[512];
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        refcase_matrix x, y;
        snprintf(path, sizeof path, "%s/%s.X.npy", pw_test_reference_dir(), cases[c]);
        ck_assert_msg(refcase_load(path, &x, why, sizeof why) == 0, "%s", why);
        snprintf(path, sizeof path, "%s/%s.Y.npy", pw_test_reference_dir(), cases[c]);
        ck_assert_msg(refcase_load(path, &y, why, sizeof why) == 0, "%s", why);
        check_pair(cases[c], x.data, y.data, x.rows, x.cols, y.cols, NULL, 1);
        /* The reduced mode gives the unreduced data's values (both sides narrow here). */
        pw_reduce dims = {.kind = PW_REDUCE_DIMS, .dims = 3};
        check_pair(cases[c], x.data, y.data, x.rows, x.cols, y.cols, &dims, 1);
        refcase_free(&x);
        refcase_free(&y);
    }
}
END_TEST

START_TEST(wide_layers_in_the_reduced_mode)
{
    /* p and q above n: the n x n route.  One side narrow, then both wide. */
    rng r = {7};
    size_t n = 40, p = 70, q = 55, pn = 12;
    double *x = normals(&r, n, p), *y = normals(&r, n, q), *z = normals(&r, n, pn);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < pn; j++)
            y[i * q + j] += 2 * x[i * p + j], z[i * pn + j] += x[i * p + j];
    pw_reduce dims = {.kind = PW_REDUCE_DIMS, .dims = 5};
    check_pair("wide x wide", x, y, n, p, q, &dims, 0);
    check_pair("wide x narrow", x, z, n, p, pn, &dims, 0);
    check_pair("narrow x wide", z, y, n, pn, q, &dims, 0);
    free(x);
    free(y);
    free(z);
}
END_TEST

/* Feature-space debiased CKA with explicit centring (an O(n p^2) oracle for
 * n too large for the n x n one). */
static double feature_cka_debiased(const double *x, const double *y, size_t n, size_t p, size_t q)
{
    double *xc = centred(x, n, p), *yc = centred(y, n, q);
    double *sxx = calloc(p * p, sizeof(double)), *syy = calloc(q * q, sizeof(double)),
           *sxy = calloc(p * q, sizeof(double));
    double a1 = 0, b1 = 0, a2 = 0, b2 = 0, ab = 0;
    for (size_t i = 0; i < n; i++) {
        const double *u = xc + i * p, *v = yc + i * q;
        double a = dot(u, u, p), b = dot(v, v, q);
        a1 += a, b1 += b, a2 += a * a, b2 += b * b, ab += a * b;
        for (size_t j = 0; j < p; j++) {
            for (size_t l = 0; l < p; l++)
                sxx[j * p + l] += u[j] * u[l];
            for (size_t l = 0; l < q; l++)
                sxy[j * q + l] += u[j] * v[l];
        }
        for (size_t j = 0; j < q; j++)
            for (size_t l = 0; l < q; l++)
                syy[j * q + l] += v[j] * v[l];
    }
    double dn = (double)n, c1 = dn / (dn - 2), c2 = 1 / ((dn - 1) * (dn - 2));
    double hxy = dot(sxy, sxy, p * q) - c1 * ab + c2 * a1 * b1;
    double hxx = dot(sxx, sxx, p * p) - c1 * a2 + c2 * a1 * a1;
    double hyy = dot(syy, syy, q * q) - c1 * b2 + c2 * b1 * b1;
    free(xc);
    free(yc);
    free(sxx);
    free(syy);
    free(sxy);
    return hxy / sqrt(hxx * hyy);
}

START_TEST(lanes_and_chunks_keep_the_debiased_sums)
{
    /* Large enough for two lanes (their merge re-centres the sums), data
     * at 1e4 with a drifting mean, served whole and in chunks of 333. */
    rng r = {11};
    size_t n = 40000, p = 12, q = 9;
    double *x = normals(&r, n, p), *y = normals(&r, n, q);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < q; j++)
            y[i * q + j] += 0.3 * x[i * p + j] + 1e4;
        for (size_t j = 0; j < p; j++)
            x[i * p + j] += 1e4 + 1e-4 * (double)i;
    }
    double want = feature_cka_debiased(x, y, n, p, q);
    for (int threads = 1; threads <= 2; threads++) {
        pw_engine_set_blas_threads(threads);
        for (size_t chunk = 0; chunk <= 333; chunk += 333) {
            pw_result res = run(x, y, n, p, q, PW_M_CKA_DEBIASED, chunk, NULL);
            ck_assert_msg(fabs(res.cka_debiased - want) <= 1e-10,
                          "threads %d chunk %zu: %.17g, oracle %.17g", threads, chunk,
                          res.cka_debiased, want);
            ck_assert(isnan(res.pwcca) && isnan(res.procrustes) && isnan(res.cka));
            pw_result_free(&res);
        }
    }
    pw_engine_set_blas_threads(0);
    free(x);
    free(y);
}
END_TEST

START_TEST(debiased_cka_removes_the_bias_on_independent_data)
{
    /* 50 draws of independent Gaussian X (n x 8) and Y (n x 8) at each n:
     * biased CKA's mean sits far above 0 (about q / n), the debiased one's
     * within a few standard errors of it. */
    rng r = {2019};
    size_t p = 8, q = 8, draws = 50;
    for (size_t n = 32; n <= 4096; n *= 2) {
        double sb = 0, sb2 = 0, sd = 0, sd2 = 0;
        for (size_t k = 0; k < draws; k++) {
            double *x = normals(&r, n, p), *y = normals(&r, n, q);
            pw_result res = run(x, y, n, p, q, PW_M_CKA | PW_M_CKA_DEBIASED, 0, NULL);
            sb += res.cka, sb2 += res.cka * res.cka;
            sd += res.cka_debiased, sd2 += res.cka_debiased * res.cka_debiased;
            pw_result_free(&res);
            free(x);
            free(y);
        }
        double d = (double)draws, mb = sb / d, md = sd / d;
        double seb = sqrt((sb2 / d - mb * mb) / (d - 1)), sed = sqrt((sd2 / d - md * md) / (d - 1));
        fprintf(stderr, "n = %5zu: biased %.5f +- %.5f, debiased %+.5f +- %.5f (%+.2f SE)\n", n, mb,
                seb, md, sed, md / sed);
        ck_assert_msg(mb > 10 * seb, "n = %zu: biased mean %g, SE %g", n, mb, seb);
        ck_assert_msg(fabs(md) < 3 * sed, "n = %zu: debiased mean %g, SE %g", n, md, sed);
        ck_assert_msg(fabs(md) < mb / 5, "n = %zu: debiased %g against biased %g", n, md, mb);
    }
}
END_TEST

/* Row-major p x p orthogonal matrix. */
static double *orthogonal(rng *r, size_t p)
{
    double *a = normals(r, p, p), *tau = malloc(p * sizeof(double));
    ck_assert_int_eq(LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (int)p, (int)p, a, (int)p, tau), 0);
    ck_assert_int_eq(LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (int)p, (int)p, (int)p, a, (int)p, tau), 0);
    free(tau);
    return a;
}

static double procrustes(const double *x, const double *y, size_t n, size_t p, size_t q)
{
    pw_result res = run(x, y, n, p, q, PW_M_PROCRUSTES, 0, NULL);
    double t = res.procrustes;
    ck_assert(isnan(res.cka) && isnan(res.cka_debiased));
    pw_result_free(&res);
    return t;
}

START_TEST(procrustes_is_a_distance)
{
    rng r = {1998};
    size_t n = 300, p = 10;
    double *x = normals(&r, n, p), *q = orthogonal(&r, p), *y = calloc(n * p, sizeof(double));
    /* A rotated, scaled and translated copy is at distance 0. */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p; j++) {
            for (size_t l = 0; l < p; l++)
                y[i * p + j] += 3 * x[i * p + l] * q[l * p + j];
            y[i * p + j] += 1e3;
        }
    double t = procrustes(x, y, n, p, p);
    ck_assert_msg(t < 1e-7, "rotated copy: theta = %g", t);
    ck_assert_msg(procrustes(y, x, n, p, p) < 1e-7, "rotated copy, swapped");
    /* Triangle inequality on random triples of related layers, and symmetry. */
    for (int k = 0; k < 20; k++) {
        size_t w[3] = {4 + rng_u64(&r) % 8, 4 + rng_u64(&r) % 8, 4 + rng_u64(&r) % 8};
        double *a[3];
        double *base = normals(&r, n, 12);
        for (int m = 0; m < 3; m++) {
            a[m] = normals(&r, n, w[m]);
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < w[m]; j++)
                    a[m][i * w[m] + j] = a[m][i * w[m] + j] * (0.2 + 0.4 * m) + base[i * 12 + j];
        }
        double d01 = procrustes(a[0], a[1], n, w[0], w[1]);
        double d12 = procrustes(a[1], a[2], n, w[1], w[2]);
        double d02 = procrustes(a[0], a[2], n, w[0], w[2]);
        ck_assert_msg(d02 <= d01 + d12 + 1e-12 && d01 <= d02 + d12 + 1e-12 &&
                          d12 <= d01 + d02 + 1e-12,
                      "triple %d: %g %g %g", k, d01, d12, d02);
        PW_ASSERT_NEAR(procrustes(a[1], a[0], n, w[1], w[0]), d01, 1e-12);
        ck_assert(d01 > 0.05 && d01 < M_PI / 2);
        for (int m = 0; m < 3; m++)
            free(a[m]);
        free(base);
    }
    free(x);
    free(q);
    free(y);
}
END_TEST

START_TEST(cached_sides_get_their_sums_when_first_asked)
{
    /* A side cached by a pass that did not ask for debiased CKA lacks its
     * sums: the next pass that asks computes them, with the same value as
     * fresh sides give. */
    rng r = {5};
    size_t n = 900, p = 7, q = 6;
    double *x = normals(&r, n, p), *y = normals(&r, n, q);
    for (size_t i = 0; i < n; i++)
        y[i * q] += x[i * p];
    pw_rows rx = pw_rows_from_matrix(x, n, p), ry = pw_rows_from_matrix(y, n, q);
    pw_side *sx = NULL, *sy = NULL;
    pw_result a, b, fresh;
    pw_err e;
    PW_ASSERT_OK(pw_engine_compare(&rx, &ry, PW_M_CKA, &sx, &sy, &a, &e), &e);
    ck_assert(isnan(a.cka_debiased));
    PW_ASSERT_OK(pw_engine_compare(&rx, &ry, PW_M_ALL, &sx, &sy, &b, &e), &e);
    PW_ASSERT_OK(pw_engine_compare(&rx, &ry, PW_M_ALL, NULL, NULL, &fresh, &e), &e);
    PW_ASSERT_NEAR(b.cka_debiased, fresh.cka_debiased, 1e-14);
    PW_ASSERT_NEAR(b.procrustes, fresh.procrustes, 1e-14);
    PW_ASSERT_NEAR(b.cka, a.cka, 1e-14);
    pw_result_free(&a);
    pw_result_free(&b);
    pw_result_free(&fresh);
    pw_side_free(sx);
    pw_side_free(sy);
    free(x);
    free(y);
}
END_TEST

START_TEST(few_datapoints_and_dead_layers)
{
    /* n = 3: debiased CKA needs 4 (null), Procrustes is given; the CCA
     * metrics' insufficient_datapoints keeps both, as it keeps CKA. */
    double x[] = {1, 2, 0, 3, 5, 1}, y[] = {2, 1, 4, 0, 1, 1};
    pw_result r3 = run(x, y, 3, 2, 2, PW_M_ALL, 0, NULL);
    ck_assert_int_eq(r3.status, PW_INSUFFICIENT_DATAPOINTS);
    ck_assert(isnan(r3.cka_debiased) && !isnan(r3.procrustes) && !isnan(r3.cka));
    PW_ASSERT_NEAR(cos(r3.procrustes), oracle_procrustes_cos(x, y, 3, 2, 2), 1e-12);
    pw_result_free(&r3);
    double d[] = {1, 1, 1, 1, 1, 1};
    pw_result dead = run(x, d, 3, 2, 2, PW_M_ALL, 0, NULL);
    ck_assert_int_eq(dead.status, PW_DEAD_LAYER);
    ck_assert(isnan(dead.cka_debiased) && isnan(dead.procrustes));
    pw_result_free(&dead);
}
END_TEST

Suite *measures_suite(void)
{
    Suite *s = suite_create("measures");
    TCase *t = tcase_create("oracles");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, reference_cases_match_the_oracles);
    tcase_add_test(t, wide_layers_in_the_reduced_mode);
    tcase_add_test(t, lanes_and_chunks_keep_the_debiased_sums);
    tcase_add_test(t, debiased_cka_removes_the_bias_on_independent_data);
    tcase_add_test(t, procrustes_is_a_distance);
    tcase_add_test(t, cached_sides_get_their_sums_when_first_asked);
    tcase_add_test(t, few_datapoints_and_dead_layers);
    suite_add_tcase(s, t);
    return s;
}
