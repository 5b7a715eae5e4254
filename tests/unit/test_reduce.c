/* test_reduce.c -- the reduce modes as users write them: parsed, printed and
 * parsed back; auto's rule for K; and the engine's reduced path against
 * independent evaluations of its definition.
 *
 * The main oracle builds X = A diag(s) B^T + 1 mu^T from orthonormal A
 * (columns of zero mean) and B and distinct s, so that the centred X's top-K
 * reduction Xc V_k = A_k diag(s_k) is known without any eigensolver: the
 * reduced metrics must equal the exact engine's on those known matrices.
 * A second, numpy, oracle (tests/integration/gen_reduce_expect.py) covers
 * both routes of one pair with embedded values. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* malloc_trim */
#endif
#include <jansson.h>
#include <lapacke.h>
#include <malloc.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>

#include "pw_engine.h"
#include "pw_keep.h"
#include "pw_reduce.h"
#include "pw_side.h"
#include "pw_test.h"
#include "refcase.h"

START_TEST(modes_round_trip)
{
    const char *texts[] = {"none", "auto", "dims:512", "dims:1", "var:0.99", "var:1", "var:0.5"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        pw_reduce r, back;
        pw_err e;
        char buf[PW_REDUCE_TEXT_MAX];
        ck_assert_int_eq(pw_reduce_parse(texts[i], &r, &e), 0);
        pw_reduce_format(&r, buf, sizeof buf);
        ck_assert_str_eq(buf, texts[i]);
        ck_assert_int_eq(pw_reduce_parse(buf, &back, &e), 0);
        ck_assert(pw_reduce_equal(&r, &back));
    }
    pw_reduce r;
    pw_err e;
    ck_assert_int_eq(pw_reduce_parse("  dims:64\t", &r, &e), 0);
    ck_assert_int_eq(r.kind, PW_REDUCE_DIMS);
    ck_assert_uint_eq(r.dims, 64);
    /* A share printed in full still round-trips. */
    r = (pw_reduce){.kind = PW_REDUCE_VAR, .var = 0.1 + 0.2};
    char buf[PW_REDUCE_TEXT_MAX];
    pw_reduce_format(&r, buf, sizeof buf);
    pw_reduce back;
    ck_assert_int_eq(pw_reduce_parse(buf, &back, &e), 0);
    ck_assert(back.var == r.var);
}
END_TEST

START_TEST(bad_modes_say_what_is_accepted)
{
    const char *bad[] = {"",        "dims:",   "dims:0",  "dims:-3", "dims:12x", "dims:99999999",
                         "var:0",   "var:1.5", "var:x",   "var:",    "var:nan",  "Dims:4",
                         "reduced", "dims 4",  "var:-0.5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pw_reduce r = {.kind = PW_REDUCE_AUTO};
        pw_err e;
        ck_assert_msg(pw_reduce_parse(bad[i], &r, &e) == -1, "accepted '%s'", bad[i]);
        ck_assert_int_eq(r.kind, PW_REDUCE_AUTO); /* untouched */
        ck_assert_msg(strstr(e.msg, "dims:K") != NULL, "%s", e.msg);
    }
}
END_TEST

START_TEST(auto_keeps_ten_datapoints_per_direction)
{
    ck_assert_uint_eq(pw_reduce_auto_dims(1024, 512), 102); /* ResNet-18 layer4 at 1024 images */
    ck_assert_uint_eq(pw_reduce_auto_dims(8192, 4096), 819);
    ck_assert_uint_eq(pw_reduce_auto_dims(100000, 512), 512); /* never more than it has */
    ck_assert_uint_eq(pw_reduce_auto_dims(5, 3), 1);          /* always at least one */
}
END_TEST

/* ---- the engine's reduced path ------------------------------------------------ */

typedef struct rng {
    uint64_t s; /* splitmix64 state */
} rng;

static double rng_normal(rng *r)
{
    double u[2];
    for (int i = 0; i < 2; i++) {
        uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        u[i] = ((double)((z ^ (z >> 31)) >> 11) + 0.5) * 0x1p-53;
    }
    return sqrt(-2 * log(u[0])) * cos(2 * M_PI * u[1]);
}

/* n x r column-major with orthonormal columns; centred first when asked
 * (then every column has mean 0: orthogonal to the ones vector). */
static double *orthonormal(rng *g, size_t n, size_t r, int centred)
{
    double *a = malloc(n * r * sizeof(double)), *tau = malloc(r * sizeof(double));
    for (size_t i = 0; i < n * r; i++)
        a[i] = rng_normal(g);
    for (size_t j = 0; centred && j < r; j++) {
        double m = 0;
        for (size_t i = 0; i < n; i++)
            m += a[j * n + i];
        for (size_t i = 0; i < n; i++)
            a[j * n + i] -= m / (double)n;
    }
    ck_assert_int_eq(LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (int)n, (int)r, a, (int)n, tau), 0);
    ck_assert_int_eq(LAPACKE_dorgqr(LAPACK_COL_MAJOR, (int)n, (int)r, (int)r, a, (int)n, tau), 0);
    free(tau);
    return a;
}

/* A layer with a known SVD: x (row-major n x p) = A diag(s) B^T + 1 mu^T,
 * and red (row-major n x r) = A diag(s), its reduction to any top k being
 * the first k columns. */
typedef struct known {
    size_t n, p, r; /* rows, columns, rank */
    double *x;      /* the layer */
    double *red;    /* A diag(s) */
    double *s;      /* singular values, descending */
} known;

/* a: n x r orthonormal centred (column-major); s_i = 10 * 0.9^i, 10 % gaps. */
static known known_layer(rng *g, const double *a, size_t n, size_t p, size_t r)
{
    known k = {n,
               p,
               r,
               calloc(n * p, sizeof(double)),
               malloc(n * r * sizeof(double)),
               malloc(r * sizeof(double))};
    double *b = orthonormal(g, p, r, 0);
    for (size_t c = 0; c < r; c++)
        k.s[c] = 10.0 * pow(0.9, (double)c);
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < r; c++)
            k.red[i * r + c] = a[c * n + i] * k.s[c];
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < r; c++)
            for (size_t j = 0; j < p; j++)
                k.x[i * p + j] += k.red[i * r + c] * b[c * p + j];
    for (size_t j = 0; j < p; j++) {
        double mu = 100.0 * (double)j - 7.0;
        for (size_t i = 0; i < n; i++)
            k.x[i * p + j] += mu;
    }
    free(b);
    return k;
}

static void known_free(known *k)
{
    free(k->x);
    free(k->red);
    free(k->s);
}

/* The first kk columns of k->red, row-major n x kk. */
static double *top(const known *k, size_t kk)
{
    double *t = malloc(k->n * kk * sizeof(double));
    for (size_t i = 0; i < k->n; i++)
        memcpy(t + i * kk, k->red + i * k->r, kk * sizeof(double));
    return t;
}

/* A correlated pair of known layers: Y's left vectors mix X's with noise. */
static void known_pair(uint64_t seed, size_t n, size_t p, size_t q, size_t r, known *x, known *y)
{
    rng g = {seed};
    double *ax = orthonormal(&g, n, r, 1), *mix = malloc(n * r * sizeof(double));
    for (size_t j = 0; j < r; j++)
        for (size_t i = 0; i < n; i++)
            mix[j * n + i] = ax[((j + 3) % r) * n + i] + 0.05 * rng_normal(&g);
    /* Re-orthonormalize the centred mix: QR of a centred matrix stays centred. */
    double *tau = malloc(r * sizeof(double));
    for (size_t j = 0; j < r; j++) {
        double m = 0;
        for (size_t i = 0; i < n; i++)
            m += mix[j * n + i];
        for (size_t i = 0; i < n; i++)
            mix[j * n + i] -= m / (double)n;
    }
    ck_assert_int_eq(LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (int)n, (int)r, mix, (int)n, tau), 0);
    ck_assert_int_eq(LAPACKE_dorgqr(LAPACK_COL_MAJOR, (int)n, (int)r, (int)r, mix, (int)n, tau), 0);
    *x = known_layer(&g, ax, n, p, r);
    *y = known_layer(&g, mix, n, q, r);
    free(ax);
    free(mix);
    free(tau);
}

static pw_reduce mode_of(const char *text)
{
    pw_reduce r;
    pw_err e;
    ck_assert_int_eq(pw_reduce_parse(text, &r, &e), 0);
    return r;
}

static pw_result reduced(const pw_rows *x, const pw_rows *y, unsigned metrics, const char *mode,
                         pw_side **cx, pw_side **cy)
{
    pw_result r;
    pw_err e;
    pw_err_clear(&e);
    pw_reduce m = mode_of(mode);
    PW_ASSERT_OK(pw_engine_compare_reduced(x, y, metrics, &m, cx, cy, &r, &e), &e);
    return r;
}

static pw_result exact(const double *x, const double *y, size_t n, size_t p, size_t q,
                       unsigned metrics)
{
    pw_rows rx = pw_rows_from_matrix(x, n, p), ry = pw_rows_from_matrix(y, n, q);
    pw_result r;
    pw_err e;
    PW_ASSERT_OK(pw_engine_compare(&rx, &ry, metrics, NULL, NULL, &r, &e), &e);
    return r;
}

static void assert_cca_same(const pw_result *a, const pw_result *b, double tol)
{
    ck_assert_msg(a->status == PW_OK, "status %s: %s", pw_status_name(a->status), a->message);
    ck_assert_int_eq(b->status, PW_OK);
    ck_assert_uint_eq(a->nrho, b->nrho);
    ck_assert_uint_eq(a->rank_x, b->rank_x);
    ck_assert_uint_eq(a->rank_y, b->rank_y);
    for (size_t i = 0; i < a->nrho; i++)
        PW_ASSERT_NEAR(a->rho[i], b->rho[i], tol);
    PW_ASSERT_NEAR(a->pwcca, b->pwcca, tol);
    PW_ASSERT_NEAR(a->distance, b->distance, tol);
    PW_ASSERT_NEAR(a->mean_cca, b->mean_cca, tol);
    PW_ASSERT_NEAR(a->svcca, b->svcca, tol);
}

/* The reduced metrics of a known pair against the exact engine on the known
 * reductions, and CKA against the exact engine's on the layers. */
static void check_known(size_t n, size_t p, size_t q, size_t r, size_t kk, uint64_t seed)
{
    known x, y;
    known_pair(seed, n, p, q, r, &x, &y);
    pw_rows rx = pw_rows_from_matrix(x.x, n, p), ry = pw_rows_from_matrix(y.x, n, q);
    char mode[32];
    snprintf(mode, sizeof mode, "dims:%zu", kk);
    pw_result got = reduced(&rx, &ry, PW_M_ALL, mode, NULL, NULL);
    double *tx = top(&x, kk), *ty = top(&y, kk);
    pw_result want = exact(tx, ty, n, kk, kk, PW_M_ALL);
    assert_cca_same(&got, &want, 1e-9);
    ck_assert_int_eq(got.reduce.kind, PW_REDUCE_DIMS);
    ck_assert_uint_eq(got.reduce.dims, kk);
    ck_assert_uint_eq(got.k_x, kk);
    ck_assert_uint_eq(got.k_y, kk);
    ck_assert_uint_eq(got.p_kept, p);
    ck_assert_uint_eq(got.q_kept, q);
    pw_result cka = exact(x.x, y.x, n, p, q, PW_M_CKA);
    ck_assert(isfinite(cka.cka) && cka.cka > 0);
    ck_assert_msg(fabs(got.cka - cka.cka) <= 1e-12 * cka.cka, "cka %.17g, exact %.17g", got.cka,
                  cka.cka);
    pw_result_free(&got);
    pw_result_free(&want);
    pw_result_free(&cka);
    free(tx);
    free(ty);
    known_free(&x);
    known_free(&y);
}

START_TEST(narrow_route_is_the_definition)
{
    /* p, q < n: the p x p Gram, its top eigenvectors, the projection pass. */
    check_known(400, 60, 45, 40, 10, 1);
}
END_TEST

START_TEST(wide_route_is_the_definition)
{
    /* p, q > n (and n <= p + q: the exact path cannot score these): the
     * n x n Gram; CKA from the two n x n Grams. */
    check_known(120, 300, 200, 50, 10, 2);
}
END_TEST

START_TEST(mixed_routes_are_the_definition)
{
    /* X wide, Y narrow: CKA through Y's n x n Gram made for the purpose. */
    check_known(150, 400, 100, 60, 12, 3);
}
END_TEST

START_TEST(var_picks_the_fewest_directions_and_dims_caps_at_the_rank)
{
    known x, y;
    size_t n = 300, r = 30;
    known_pair(4, n, 50, 400, r, &x, &y);
    pw_rows rx = pw_rows_from_matrix(x.x, n, 50), ry = pw_rows_from_matrix(y.x, n, 400);
    /* The fewest K with sum_{i<K} s_i^2 >= F sum s_i^2 (s_i = 10 * 0.9^i). */
    const double shares[] = {0.5, 0.8, 0.95};
    for (size_t t = 0; t < 3; t++) {
        double total = 0, cum = 0;
        for (size_t c = 0; c < r; c++)
            total += x.s[c] * x.s[c];
        size_t want = 0;
        while (cum < shares[t] * total)
            cum += x.s[want] * x.s[want], want++;
        char mode[32];
        snprintf(mode, sizeof mode, "var:%g", shares[t]);
        pw_result got = reduced(&rx, &ry, PW_M_PWCCA, mode, NULL, NULL);
        ck_assert_uint_eq(got.k_x, want); /* both layers have the same s */
        ck_assert_uint_eq(got.k_y, want);
        ck_assert_int_eq(got.reduce.kind, PW_REDUCE_VAR);
        ck_assert(got.reduce.var == shares[t]);
        double *tx = top(&x, want), *ty = top(&y, want);
        pw_result ref = exact(tx, ty, n, want, want, PW_M_PWCCA);
        PW_ASSERT_NEAR(got.pwcca, ref.pwcca, 1e-9);
        pw_result_free(&got);
        pw_result_free(&ref);
        free(tx);
        free(ty);
    }
    /* dims beyond the rank (30) keeps the rank, on both routes. */
    pw_result got = reduced(&rx, &ry, PW_M_MEAN_CCA, "dims:100", NULL, NULL);
    ck_assert_uint_eq(got.k_x, r);
    ck_assert_uint_eq(got.k_y, r);
    ck_assert_uint_eq(got.reduce.dims, 100); /* the mode as asked */
    pw_result_free(&got);
    known_free(&x);
    known_free(&y);
}
END_TEST

/* A reference case's X and Y. */
static void load_case(const char *name, refcase_matrix *x, refcase_matrix *y)
{
    char path[1024], why[512];
    snprintf(path, sizeof path, "%s/%s.X.npy", pw_test_reference_dir(), name);
    ck_assert_msg(refcase_load(path, x, why, sizeof why) == 0, "%s", why);
    snprintf(path, sizeof path, "%s/%s.Y.npy", pw_test_reference_dir(), name);
    ck_assert_msg(refcase_load(path, y, why, sizeof why) == 0, "%s", why);
}

START_TEST(auto_is_exact_where_exact_scores_and_reduces_where_it_cannot)
{
    refcase_matrix x, y;
    load_case("c_mixed_subset", &x, &y);
    pw_rows rx = pw_rows_from_matrix(x.data, x.rows, x.cols);
    pw_rows ry = pw_rows_from_matrix(y.data, y.rows, y.cols);
    pw_result a = reduced(&rx, &ry, PW_M_ALL, "auto", NULL, NULL);
    pw_result e = exact(x.data, y.data, x.rows, x.cols, y.cols, PW_M_ALL);
    ck_assert_int_eq(a.status, PW_OK);
    ck_assert_int_eq(a.reduce.kind, PW_REDUCE_NONE);
    ck_assert_uint_eq(a.k_x, 0);
    ck_assert_uint_eq(a.k_y, 0);
    /* Bit for bit: the same computation. */
    ck_assert(a.pwcca == e.pwcca && a.mean_cca == e.mean_cca && a.svcca == e.svcca &&
              a.cka == e.cka && a.nrho == e.nrho);
    for (size_t i = 0; i < a.nrho; i++)
        ck_assert(a.rho[i] == e.rho[i]);
    pw_result_free(&a);
    pw_result_free(&e);
    refcase_free(&x);
    refcase_free(&y);

    /* n = 72 <= 64 + 64: insufficient exactly, dims:7 (n/10) under auto. */
    load_case("f_small_n_degenerate", &x, &y);
    rx = pw_rows_from_matrix(x.data, x.rows, x.cols);
    ry = pw_rows_from_matrix(y.data, y.rows, y.cols);
    e = exact(x.data, y.data, x.rows, x.cols, y.cols, PW_M_ALL);
    ck_assert_int_eq(e.status, PW_INSUFFICIENT_DATAPOINTS);
    a = reduced(&rx, &ry, PW_M_ALL, "auto", NULL, NULL);
    ck_assert_msg(a.status == PW_OK, "%s", a.message);
    ck_assert_int_eq(a.reduce.kind, PW_REDUCE_DIMS);
    ck_assert_uint_eq(a.reduce.dims, x.rows / 10);
    ck_assert_uint_eq(a.k_x, x.rows / 10);
    pw_result d = reduced(&rx, &ry, PW_M_ALL, "dims:7", NULL, NULL);
    ck_assert(a.pwcca == d.pwcca && a.svcca == d.svcca && a.cka == d.cka);
    ck_assert(a.cka == e.cka); /* CKA stays exact */
    /* The resolver says the same before anything is computed. */
    pw_reduce au = mode_of("auto"), res;
    pw_err err;
    PW_ASSERT_OK(pw_engine_resolve_reduce(&rx, &ry, PW_M_ALL, &au, 0, &res, &err), &err);
    ck_assert(pw_reduce_equal(&res, &a.reduce));
    /* auto with its own cached sides: resolved alike (from their p_kept), reused. */
    pw_side *sx = NULL, *sy = NULL;
    pw_result c1 = reduced(&rx, &ry, PW_M_ALL, "auto", &sx, &sy);
    ck_assert(sx && sy && pw_reduce_equal(&sx->reduce, &a.reduce));
    pw_result c2 = reduced(&rx, &ry, PW_M_ALL, "auto", &sx, &sy);
    ck_assert(c1.pwcca == a.pwcca && c2.pwcca == a.pwcca && c2.cka == a.cka);
    pw_result_free(&c1);
    pw_result_free(&c2);
    pw_side_free(sx);
    pw_side_free(sy);
    /* A mode no parser gives is refused, not scored. */
    pw_reduce bad = {.kind = PW_REDUCE_DIMS, .dims = 0};
    pw_result br;
    PW_ASSERT_FAILS_WITH(pw_engine_compare_reduced(&rx, &ry, PW_M_ALL, &bad, NULL, NULL, &br, &err),
                         &err, "invalid reduce mode");
    pw_result_free(&a);
    pw_result_free(&d);
    pw_result_free(&e);
    refcase_free(&x);
    refcase_free(&y);
}
END_TEST

START_TEST(auto_reduces_a_pair_over_budget_that_fits_reduced)
{
    /* n = 4000 > 1500 + 1500 (the exact path scores, and no data need be
     * read to know it), but its estimate is over a budget the reduced path
     * (K = n/10 = 400 per side) fits in. */
    size_t n = 4000, p = 1500;
    double *zero = calloc(n * p, sizeof(double));
    pw_rows rx = pw_rows_from_matrix(zero, n, p), ry = pw_rows_from_matrix(zero, n, p);
    pw_reduce au = mode_of("auto"), res;
    pw_reduce red = {.kind = PW_REDUCE_DIMS, .dims = 400};
    uint64_t ex = pw_engine_estimate(&rx, &ry, PW_M_ALL, 0);
    uint64_t rd = pw_engine_estimate_reduced(&rx, &ry, PW_M_ALL, &red, 0);
    ck_assert_msg(rd < ex, "reduced %llu, exact %llu", (unsigned long long)rd,
                  (unsigned long long)ex);
    ck_assert_uint_eq(pw_engine_estimate_reduced(&rx, &ry, PW_M_ALL, NULL, 0), ex);
    pw_err err;
    PW_ASSERT_OK(pw_engine_resolve_reduce(&rx, &ry, PW_M_ALL, &au, 0, &res, &err), &err);
    ck_assert_int_eq(res.kind, PW_REDUCE_NONE);
    PW_ASSERT_OK(pw_engine_resolve_reduce(&rx, &ry, PW_M_ALL, &au, (rd + ex) / 2, &res, &err),
                 &err);
    ck_assert(pw_reduce_equal(&res, &red));
    pw_result out;
    ck_assert_int_eq(pw_engine_check_budget_reduced(&rx, &ry, PW_M_ALL, &res, (rd + ex) / 2,
                                                    "memory_mb", NULL, &out),
                     0);
    ck_assert_int_eq(
        pw_engine_check_budget_reduced(&rx, &ry, PW_M_ALL, &res, rd - 1, "memory_mb", NULL, &out),
        1);
    ck_assert_int_eq(out.status, PW_OVER_BUDGET);
    ck_assert(pw_reduce_equal(&out.reduce, &red));
    ck_assert_msg(strstr(out.message, "memory_mb"), "%s", out.message);
    /* Neither fits: exact (which check_budget then refuses). */
    PW_ASSERT_OK(pw_engine_resolve_reduce(&rx, &ry, PW_M_ALL, &au, rd - 1, &res, &err), &err);
    ck_assert_int_eq(res.kind, PW_REDUCE_NONE);
    free(zero);
}
END_TEST

START_TEST(a_cached_reduced_side_is_reused_and_a_mismatched_one_refused)
{
    known x, y;
    size_t n = 150;
    known_pair(6, n, 400, 100, 60, &x, &y);
    pw_rows rx = pw_rows_from_matrix(x.x, n, 400), ry = pw_rows_from_matrix(y.x, n, 100);
    pw_side *sx = NULL, *sy = NULL;
    pw_result first = reduced(&rx, &ry, PW_M_ALL, "dims:12", &sx, &sy);
    ck_assert(sx && sy);
    ck_assert(sx->inner && sy->inner); /* the reduced data's own state, cached inside */
    /* n x n Gram, 150 x 12 reduced data, its inner side: all counted. */
    ck_assert_uint_ge(pw_side_bytes(sx), (n * n + n * 12) * sizeof(double));
    pw_result again = reduced(&rx, &ry, PW_M_ALL, "dims:12", &sx, &sy);
    ck_assert(first.pwcca == again.pwcca && first.mean_cca == again.mean_cca &&
              first.svcca == again.svcca && first.cka == again.cka);
    /* Reused as either side of a later pair (the daemon's t, t-1 pattern). */
    pw_side *sx2 = NULL;
    pw_result later = reduced(&rx, &ry, PW_M_ALL, "dims:12", &sx2, &sy);
    ck_assert(later.pwcca == first.pwcca);
    pw_side_free(sx2);
    pw_reduce other = mode_of("dims:13"), none = {.kind = PW_REDUCE_NONE};
    pw_result r;
    pw_err e;
    PW_ASSERT_FAILS_WITH(pw_engine_compare_reduced(&rx, &ry, PW_M_ALL, &other, &sx, NULL, &r, &e),
                         &e, "built for reduce dims:12, not the dims:13");
    PW_ASSERT_FAILS_WITH(pw_engine_compare_reduced(&rx, &ry, PW_M_ALL, &none, &sx, NULL, &r, &e),
                         &e, "built for reduce dims:12, not the none");
    PW_ASSERT_FAILS_WITH(pw_engine_compare(&rx, &ry, PW_M_ALL, NULL, &sy, &r, &e), &e,
                         "built for reduce dims:12");
    /* An exact side is no reduced one either. */
    pw_side *ex = NULL;
    pw_result ok = exact(x.x, x.x, n, 400, 400, PW_M_CKA);
    pw_result_free(&ok);
    PW_ASSERT_OK(pw_engine_compare(&ry, &ry, PW_M_CKA, &ex, NULL, &ok, &e), &e);
    pw_result_free(&ok);
    PW_ASSERT_FAILS_WITH(pw_engine_compare_reduced(&ry, &rx, PW_M_ALL, &other, &ex, NULL, &r, &e),
                         &e, "built for reduce none");
    pw_side_free(ex);
    pw_result_free(&first);
    pw_result_free(&again);
    pw_result_free(&later);
    pw_side_free(sx);
    pw_side_free(sy);
    known_free(&x);
    known_free(&y);
}
END_TEST

/* Rows through pw_rows.read (not in place), counting the calls. */
typedef struct via {
    const double *a; /* row-major */
    size_t p;        /* columns */
    int calls;       /* read calls so far */
} via;

static int via_read(void *ctx, uint64_t row0, size_t nrows, double *out, pw_err *err)
{
    (void)err;
    via *v = ctx;
    memcpy(out, v->a + row0 * v->p, nrows * v->p * sizeof(double));
    v->calls++;
    return 0;
}

START_TEST(rows_read_through_a_callback_give_the_same_result)
{
    known x, y;
    size_t n = 150;
    known_pair(7, n, 400, 100, 60, &x, &y);
    pw_rows rx = pw_rows_from_matrix(x.x, n, 400), ry = pw_rows_from_matrix(y.x, n, 100);
    pw_result mem = reduced(&rx, &ry, PW_M_ALL, "dims:9", NULL, NULL);
    via vx = {x.x, 400, 0}, vy = {y.x, 100, 0};
    pw_rows cx = {.nrows = n, .ncols = 400, .read = via_read, .ctx = &vx, .chunk_rows = 32};
    pw_rows cy = {.nrows = n, .ncols = 100, .read = via_read, .ctx = &vy, .chunk_rows = 32};
    pw_result cb = reduced(&cx, &cy, PW_M_ALL, "dims:9", NULL, NULL);
    ck_assert(vx.calls > 0 && vy.calls > 0);
    assert_cca_same(&cb, &mem, 1e-12);
    PW_ASSERT_NEAR(cb.cka, mem.cka, 1e-12);
    pw_result_free(&mem);
    pw_result_free(&cb);
    known_free(&x);
    known_free(&y);
}
END_TEST

START_TEST(nonfinite_input_is_still_reported)
{
    const size_t shapes[2][2] = {{400, 60}, {120, 300}}; /* narrow, wide */
    for (size_t t = 0; t < 2; t++) {
        known x, y;
        size_t n = shapes[t][0], p = shapes[t][1];
        known_pair(8, n, p, 50, 30, &x, &y);
        x.x[37 * p + 5] = NAN;
        pw_rows rx = pw_rows_from_matrix(x.x, n, p), ry = pw_rows_from_matrix(y.x, n, 50);
        pw_side *sx = NULL;
        pw_result r = reduced(&rx, &ry, PW_M_ALL, "dims:5", &sx, NULL);
        ck_assert_int_eq(r.status, PW_NONFINITE);
        ck_assert_msg(strstr(r.message, "row 37, column 5"), "%s", r.message);
        ck_assert(isnan(r.pwcca) && isnan(r.cka));
        ck_assert(!sx); /* nothing cached from such rows */
        pw_result_free(&r);
        known_free(&x);
        known_free(&y);
    }
}
END_TEST

typedef struct stopper {
    int asked; /* chunks asked about */
    int after; /* cancel from this many on */
} stopper;

static int stop_after(void *ctx)
{
    stopper *s = ctx;
    return ++s->asked > s->after;
}

START_TEST(cancellation_stops_the_reduced_passes)
{
    known x, y;
    size_t n = 400;
    known_pair(9, n, 60, 700, 30, &x, &y);
    /* Narrow X: its Gram pass asks once per chunk (400 / 50 = 8); the 9th
     * question comes from the projection pass.  Wide Y: the first. */
    stopper sx = {0, 8}, sy = {0, 0};
    pw_rows rx = pw_rows_from_matrix(x.x, n, 60), ry = pw_rows_from_matrix(y.x, n, 700);
    rx.chunk_rows = 50;
    rx.cancelled = stop_after;
    rx.cancel_ctx = &sx;
    pw_reduce m = mode_of("dims:5");
    pw_result r;
    pw_err e;
    pw_side *cx = NULL;
    PW_ASSERT_FAILS_WITH(pw_engine_compare_reduced(&rx, &ry, PW_M_ALL, &m, &cx, NULL, &r, &e), &e,
                         "reduced pass was cancelled at X");
    ck_assert(!cx);
    ck_assert_int_eq(sx.asked, 9);
    rx.cancelled = NULL;
    ry.cancelled = stop_after;
    ry.cancel_ctx = &sy;
    PW_ASSERT_FAILS_WITH(pw_engine_compare_reduced(&rx, &ry, PW_M_ALL, &m, NULL, NULL, &r, &e), &e,
                         "reduced pass was cancelled at Y row 0");
    ck_assert_int_eq(sy.asked, 1);
    known_free(&x);
    known_free(&y);
}
END_TEST

/* The data of tests/integration/gen_reduce_expect.py, bit for bit. */
typedef struct lcg {
    uint64_t s; /* state */
} lcg;

static double lcg_next(lcg *g)
{
    g->s = g->s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(g->s >> 11) * 0x1p-53 - 0.5;
}

static double *lcg_matrix(lcg *g, size_t rows, size_t cols)
{
    double *a = malloc(rows * cols * sizeof(double));
    for (size_t i = 0; i < rows * cols; i++)
        a[i] = lcg_next(g);
    return a;
}

START_TEST(numpy_cross_check)
{
    /* Generated by tests/integration/gen_reduce_expect.py (pwref.py's
     * reduced_metrics: numpy SVD of the centred data, top K, pwref's
     * metrics; CKA exact). */
    static const struct {
        const char *mode;
        size_t k_x, k_y;
        double pwcca, mean_cca, svcca, cka;
    } want[] = {
        {"dims:6", 6, 6, 0.94872324233343153, 0.93791610800558456, 0.937916108005585,
         0.90866817410721368},
        {"var:0.9", 5, 19, 0.97185259680913894, 0.96581031568961806, 0.96505930981960064,
         0.90866817410721368},
    };
    lcg g = {12345};
    size_t n = 80, r = 30, p = 120, q = 50;
    double *lat = lcg_matrix(&g, n, r);
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < r; c++)
            lat[i * r + c] *= pow(0.8, (double)c);
    double *mx = lcg_matrix(&g, r, p), *my = lcg_matrix(&g, 20, q);
    double *x = calloc(n * p, sizeof(double)), *y = calloc(n * q, sizeof(double));
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < p; j++) {
            for (size_t c = 0; c < r; c++)
                x[i * p + j] += lat[i * r + c] * mx[c * p + j];
            x[i * p + j] += 3.0;
        }
        for (size_t j = 0; j < q; j++)
            for (size_t c = 0; c < 20; c++)
                y[i * q + j] += lat[i * r + c] * my[c * q + j];
    }
    double *noise = lcg_matrix(&g, n, q);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < q; j++)
            y[i * q + j] += 0.3 * noise[i * q + j];
        x[i * p + 7] = 1.5;
        y[i * q + 11] = -2.0;
    }
    pw_rows rx = pw_rows_from_matrix(x, n, p), ry = pw_rows_from_matrix(y, n, q);
    for (size_t t = 0; t < sizeof want / sizeof want[0]; t++) {
        pw_result got = reduced(&rx, &ry, PW_M_ALL, want[t].mode, NULL, NULL);
        ck_assert_msg(got.status == PW_OK, "%s: %s", want[t].mode, got.message);
        ck_assert_uint_eq(got.p_kept, p - 1);
        ck_assert_uint_eq(got.q_kept, q - 1);
        ck_assert_uint_eq(got.k_x, want[t].k_x);
        ck_assert_uint_eq(got.k_y, want[t].k_y);
        PW_ASSERT_NEAR(got.pwcca, want[t].pwcca, 1e-9);
        PW_ASSERT_NEAR(got.mean_cca, want[t].mean_cca, 1e-9);
        PW_ASSERT_NEAR(got.svcca, want[t].svcca, 1e-9);
        PW_ASSERT_NEAR(got.cka, want[t].cka, 1e-12);
        pw_result_free(&got);
    }
    free(lat);
    free(mx);
    free(my);
    free(noise);
    free(x);
    free(y);
}
END_TEST

/* Resident memory figure of this process from /proc/self/status, in KiB (-1 unknown). */
static long status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t k = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, k) == 0)
            v = atol(line + k);
    if (f)
        fclose(f);
    return v;
}

/* Peak resident growth over one reduced comparison (both sides fresh), in
 * bytes, or -1 when the kernel does not let us reset the high-water mark. */
static long long reduced_peak(const pw_rows *x, const pw_rows *y, const pw_reduce *m)
{
    pw_result r;
    pw_err err;
    pw_keep_drain();
    malloc_trim(0);
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f || fputs("5", f) < 0 || fclose(f) != 0)
        return -1; /* "5" resets VmHWM to the current RSS */
    long rss0 = status_kib("VmRSS:");
    PW_ASSERT_OK(pw_engine_compare_reduced(x, y, PW_M_ALL, m, NULL, NULL, &r, &err), &err);
    ck_assert_msg(r.status == PW_OK, "%s", r.message);
    pw_result_free(&r);
    long hwm = status_kib("VmHWM:");
    return rss0 < 0 || hwm < 0 ? -1 : (long long)(hwm - rss0) * 1024;
}

START_TEST(reduced_estimate_bounds_the_measured_peak)
{
#if defined(__SANITIZE_ADDRESS__)
    return; /* ASan's quarantine and shadow make resident memory no measure of the engine */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return;
#endif
#endif
    /* As test_budget.c's check of the exact estimate: one BLAS thread, no
     * transparent huge pages, OpenBLAS's own buffers allocated first. */
    pw_engine_set_blas_threads(1);
    prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
    const size_t shapes[][4] = {{3000, 600, 400, 100}, {500, 1500, 1200, 50}}; /* narrow, wide */
    for (size_t t = 0; t < 2; t++) {
        size_t n = shapes[t][0], p = shapes[t][1], q = shapes[t][2];
        double *a = malloc(n * p * sizeof *a), *b = malloc(n * q * sizeof *b);
        rng g = {t + 11};
        for (size_t i = 0; i < n * p; i++)
            a[i] = rng_normal(&g);
        for (size_t i = 0; i < n * q; i++)
            b[i] = rng_normal(&g) + (i % q < p ? 0.5 * a[(i / q) * p + i % q] : 0);
        pw_reduce m = {.kind = PW_REDUCE_DIMS, .dims = shapes[t][3]};
        pw_rows wx = pw_rows_from_matrix(a, n, 8), wy = pw_rows_from_matrix(b, n, 8);
        pw_reduce wm = {.kind = PW_REDUCE_DIMS, .dims = 2};
        ck_assert_int_ge(reduced_peak(&wx, &wy, &wm), -1);
        pw_rows x = pw_rows_from_matrix(a, n, p), y = pw_rows_from_matrix(b, n, q);
        long long got = reduced_peak(&x, &y, &m);
        uint64_t est = pw_engine_estimate_reduced(&x, &y, PW_M_ALL, &m, 0);
        free(a);
        free(b);
        if (got < 0)
            break; /* no clear_refs here: the other tests still hold */
        ck_assert_msg((uint64_t)got <= est && est <= 3 * (uint64_t)got + (8u << 20),
                      "shape %zu: measured %lld bytes, estimated %llu", t, got,
                      (unsigned long long)est);
    }
    pw_engine_set_blas_threads(0);
}
END_TEST

Suite *reduce_suite(void)
{
    Suite *s = suite_create("reduce");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, modes_round_trip);
    tcase_add_test(tc, bad_modes_say_what_is_accepted);
    tcase_add_test(tc, auto_keeps_ten_datapoints_per_direction);
    suite_add_tcase(s, tc);
    TCase *te = tcase_create("engine");
    tcase_set_timeout(te, 60);
    tcase_add_test(te, narrow_route_is_the_definition);
    tcase_add_test(te, wide_route_is_the_definition);
    tcase_add_test(te, mixed_routes_are_the_definition);
    tcase_add_test(te, var_picks_the_fewest_directions_and_dims_caps_at_the_rank);
    tcase_add_test(te, auto_is_exact_where_exact_scores_and_reduces_where_it_cannot);
    tcase_add_test(te, auto_reduces_a_pair_over_budget_that_fits_reduced);
    tcase_add_test(te, a_cached_reduced_side_is_reused_and_a_mismatched_one_refused);
    tcase_add_test(te, rows_read_through_a_callback_give_the_same_result);
    tcase_add_test(te, nonfinite_input_is_still_reported);
    tcase_add_test(te, cancellation_stops_the_reduced_passes);
    tcase_add_test(te, numpy_cross_check);
    tcase_add_test(te, reduced_estimate_bounds_the_measured_peak);
    suite_add_tcase(s, te);
    return s;
}
