/* test_engine.c -- the similarity engine against shared/reference and against
 * an independent SVD-based computation of the README definitions.
 *
 * The oracle below never forms a Gram matrix: it takes orthonormal bases of
 * the centred (column-scaled) data by SVD, gets rho as the singular values of
 * Qx^T Qy, builds the canonical variates h_i explicitly as n-vectors and sums
 * |<h_i, x_j>|.  Agreement with it on ill-conditioned, nearly rank-deficient
 * and partly dead layers is what says the Gram route is accurate. */
#include <jansson.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pw_cca.h"
#include "pw_engine.h"
#include "pw_side.h"
#include "pw_test.h"
#include "refcase.h"

/* ---- deterministic data ---------------------------------------------------- */

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

static double rng_unif(rng *r)
{
    return ((double)(rng_u64(r) >> 11) + 0.5) * 0x1p-53;
}

static double rng_normal(rng *r)
{
    return sqrt(-2 * log(rng_unif(r))) * cos(2 * M_PI * rng_unif(r));
}

/* Row-major n x p matrix of standard normals. */
static double *normals(rng *r, size_t n, size_t p)
{
    double *a = malloc(n * p * sizeof(double));
    for (size_t i = 0; i < n * p; i++)
        a[i] = rng_normal(r);
    return a;
}

/* A random p x p orthogonal matrix (row-major), from the QR of a Gaussian one. */
static double *orthogonal(rng *r, size_t p)
{
    double *a = normals(r, p, p), *tau = malloc(p * sizeof(double));
    ck_assert_int_eq(LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (int)p, (int)p, a, (int)p, tau), 0);
    ck_assert_int_eq(LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (int)p, (int)p, (int)p, a, (int)p, tau), 0);
    free(tau);
    return a;
}

/* c (n x q) = a (n x p) b (p x q), all row-major. */
static double *matmul(const double *a, const double *b, size_t n, size_t p, size_t q)
{
    double *c = calloc(n * q, sizeof(double));
    for (size_t i = 0; i < n; i++)
        for (size_t l = 0; l < p; l++)
            for (size_t j = 0; j < q; j++)
                c[i * q + j] += a[i * p + l] * b[l * q + j];
    return c;
}

/* ---- the independent computation ------------------------------------------- */

typedef struct oracle {
    size_t p_kept, q_kept, rank_x, rank_y, k; /* as the README defines them */
    double rho[512];                          /* canonical correlations, descending */
    double mean_cca, pwcca, svcca, cka;       /* the metrics */
} oracle;

/* Centred kept columns of a row-major n x p matrix, column-major n x kept. */
static double *centred_kept(const double *a, size_t n, size_t p, size_t *kept)
{
    double *c = malloc(n * p * sizeof(double));
    *kept = 0;
    for (size_t j = 0; j < p; j++) {
        double mn = a[j], mx = a[j], mean = 0, fix = 0;
        for (size_t i = 0; i < n; i++) {
            double v = a[i * p + j];
            mn = v < mn ? v : mn;
            mx = v > mx ? v : mx;
            mean += v;
        }
        if (mn == mx)
            continue;
        mean /= (double)n;
        for (size_t i = 0; i < n; i++)
            fix += a[i * p + j] - mean;
        mean += fix / (double)n;
        double *col = c + *kept * n;
        for (size_t i = 0; i < n; i++)
            col[i] = a[i * p + j] - mean;
        (*kept)++;
    }
    return c;
}

/* Orthonormal basis (n x *r, column-major) of the column span of c after
 * scaling each column to unit norm, dropping singular values below 1e-6 of
 * the largest (README definition 2). */
static double *basis(const double *c, size_t n, size_t k, size_t *r)
{
    double *a = malloc(n * k * sizeof(double)), *s = malloc(k * sizeof(double));
    double *u = malloc(n * k * sizeof(double)), vt, sup[512];
    for (size_t j = 0; j < k; j++) {
        double nn = 0;
        for (size_t i = 0; i < n; i++)
            nn += c[j * n + i] * c[j * n + i];
        for (size_t i = 0; i < n; i++)
            a[j * n + i] = c[j * n + i] / sqrt(nn);
    }
    ck_assert_int_eq(LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'S', 'N', (int)n, (int)k, a, (int)n, s, u,
                                    (int)n, &vt, 1, sup),
                     0);
    *r = 0;
    while (*r < k && s[*r] > 1e-6 * s[0])
        (*r)++;
    free(a);
    free(s);
    return u;
}

/* Singular values (and left/right vectors) of the col-major m x n matrix a. */
static void svd(double *a, size_t m, size_t n, double *s, double *u, double *vt)
{
    double sup[512];
    ck_assert_int_eq(LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'S', 'S', (int)m, (int)n, a, (int)m, s, u,
                                    (int)m, vt, (int)(m < n ? m : n), sup),
                     0);
}

/* Top singular directions U_k of c reaching 99 % of sum s^2 (README definition 6). */
static double *svcca_basis(const double *c, size_t n, size_t k, size_t *kk)
{
    double *a = malloc(n * k * sizeof(double)), *s = malloc(k * sizeof(double));
    double *u = malloc(n * k * sizeof(double)), vt, sup[512], tot = 0, cum = 0;
    memcpy(a, c, n * k * sizeof(double));
    ck_assert_int_eq(LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'S', 'N', (int)n, (int)k, a, (int)n, s, u,
                                    (int)n, &vt, 1, sup),
                     0);
    for (size_t i = 0; i < k; i++)
        tot += s[i] * s[i];
    *kk = 0;
    while (*kk < k && cum < 0.99 * tot) {
        cum += s[*kk] * s[*kk];
        (*kk)++;
    }
    free(a);
    free(s);
    return u;
}

/* Mean of the singular values of qa^T qb (n x ka, n x kb orthonormal). */
static double mean_cos(const double *qa, size_t ka, const double *qb, size_t kb, size_t n,
                       double *rho, double *ua)
{
    size_t k = ka < kb ? ka : kb;
    double *m = calloc(ka * kb, sizeof(double)), *vt = malloc(k * kb * sizeof(double));
    double *u = ua ? ua : malloc(ka * k * sizeof(double)), sum = 0;
    for (size_t j = 0; j < kb; j++)
        for (size_t i = 0; i < ka; i++)
            for (size_t t = 0; t < n; t++)
                m[j * ka + i] += qa[i * n + t] * qb[j * n + t];
    svd(m, ka, kb, rho, u, vt);
    for (size_t i = 0; i < k; i++)
        sum += rho[i];
    free(m);
    free(vt);
    if (!ua)
        free(u);
    return sum / (double)k;
}

static double frob2(const double *a, const double *b, size_t n, size_t ka, size_t kb)
{
    double s = 0;
    for (size_t i = 0; i < ka; i++)
        for (size_t j = 0; j < kb; j++) {
            double d = 0;
            for (size_t t = 0; t < n; t++)
                d += a[i * n + t] * b[j * n + t];
            s += d * d;
        }
    return s;
}

static void compute_oracle(const double *x, const double *y, size_t n, size_t p, size_t q,
                           oracle *o)
{
    memset(o, 0, sizeof *o);
    double *xc = centred_kept(x, n, p, &o->p_kept), *yc = centred_kept(y, n, q, &o->q_kept);
    double *qx = basis(xc, n, o->p_kept, &o->rank_x), *qy = basis(yc, n, o->q_kept, &o->rank_y);
    o->k = o->rank_x < o->rank_y ? o->rank_x : o->rank_y;
    ck_assert(o->k <= 512);
    /* Weights on the side with fewer kept neurons (tie: X): orient that side first. */
    int wy = o->q_kept < o->p_kept;
    const double *qa = wy ? qy : qx, *qb = wy ? qx : qy, *ca = wy ? yc : xc;
    size_t ra = wy ? o->rank_y : o->rank_x, rb = wy ? o->rank_x : o->rank_y;
    size_t pa = wy ? o->q_kept : o->p_kept;
    double *ua = malloc(ra * o->k * sizeof(double)), *h = malloc(n * sizeof(double));
    o->mean_cca = mean_cos(qa, ra, qb, rb, n, o->rho, ua);
    double num = 0, den = 0;
    for (size_t i = 0; i < o->k; i++) {
        for (size_t t = 0; t < n; t++) {
            h[t] = 0;
            for (size_t l = 0; l < ra; l++)
                h[t] += qa[l * n + t] * ua[i * ra + l];
        }
        double alpha = 0;
        for (size_t j = 0; j < pa; j++) {
            double dot = 0;
            for (size_t t = 0; t < n; t++)
                dot += h[t] * ca[j * n + t];
            alpha += fabs(dot);
        }
        num += alpha * o->rho[i];
        den += alpha;
    }
    o->pwcca = num / den;
    size_t kx, ky;
    double *sx = svcca_basis(xc, n, o->p_kept, &kx), *sy = svcca_basis(yc, n, o->q_kept, &ky);
    double rho2[512];
    o->svcca = mean_cos(sx, kx, sy, ky, n, rho2, NULL);
    o->cka = frob2(xc, yc, n, o->p_kept, o->q_kept) /
             sqrt(frob2(xc, xc, n, o->p_kept, o->p_kept) * frob2(yc, yc, n, o->q_kept, o->q_kept));
    free(xc);
    free(yc);
    free(qx);
    free(qy);
    free(ua);
    free(h);
    free(sx);
    free(sy);
}

/* ---- running the engine ------------------------------------------------------ */

/* pw_engine_compare, which must not fail (a status in the result is not a failure). */
static pw_result compare(const pw_rows *x, const pw_rows *y, unsigned metrics, pw_side **x_cache,
                         pw_side **y_cache)
{
    pw_result r;
    pw_err e;
    pw_err_clear(&e);
    PW_ASSERT_OK(pw_engine_compare(x, y, metrics, x_cache, y_cache, &r, &e), &e);
    return r;
}

static pw_result run(const double *x, const double *y, size_t n, size_t p, size_t q,
                     unsigned metrics)
{
    pw_rows rx = pw_rows_from_matrix(x, n, p), ry = pw_rows_from_matrix(y, n, q);
    return compare(&rx, &ry, metrics, NULL, NULL);
}

static void assert_matches_oracle(const pw_result *r, const oracle *o, double tol)
{
    ck_assert_msg(r->status == PW_OK, "status %s: %s", pw_status_name(r->status), r->message);
    ck_assert_uint_eq(r->p_kept, o->p_kept);
    ck_assert_uint_eq(r->q_kept, o->q_kept);
    ck_assert_uint_eq(r->rank_x, o->rank_x);
    ck_assert_uint_eq(r->rank_y, o->rank_y);
    ck_assert_uint_eq(r->nrho, o->k);
    for (size_t i = 0; i < o->k; i++)
        PW_ASSERT_NEAR(r->rho[i], o->rho[i], tol);
    PW_ASSERT_NEAR(r->pwcca, o->pwcca, tol);
    PW_ASSERT_NEAR(r->distance, 1 - o->pwcca, tol);
    PW_ASSERT_NEAR(r->mean_cca, o->mean_cca, tol);
    PW_ASSERT_NEAR(r->svcca, o->svcca, tol);
    PW_ASSERT_NEAR(r->cka, o->cka, tol);
}

static void assert_same(const pw_result *a, const pw_result *b, double tol)
{
    ck_assert_int_eq(a->status, b->status);
    ck_assert_uint_eq(a->nrho, b->nrho);
    for (size_t i = 0; i < a->nrho; i++)
        PW_ASSERT_NEAR(a->rho[i], b->rho[i], tol);
    PW_ASSERT_NEAR(a->pwcca, b->pwcca, tol);
    PW_ASSERT_NEAR(a->mean_cca, b->mean_cca, tol);
    PW_ASSERT_NEAR(a->svcca, b->svcca, tol);
    PW_ASSERT_NEAR(a->cka, b->cka, tol);
    /* Null together or equal (debiased CKA is null below n = 4). */
    ck_assert_int_eq(isnan(a->cka_debiased), isnan(b->cka_debiased));
    if (!isnan(a->cka_debiased))
        PW_ASSERT_NEAR(a->cka_debiased, b->cka_debiased, tol);
    ck_assert_int_eq(isnan(a->procrustes), isnan(b->procrustes));
    if (!isnan(a->procrustes))
        PW_ASSERT_NEAR(a->procrustes, b->procrustes, tol);
}

/* A pair whose canonical correlations are spread out: Y sees a noisy mix of
 * some of X's latent directions. */
static void correlated_pair(rng *r, size_t n, size_t p, size_t q, double **x, double **y)
{
    double *lat = normals(r, n, p), *mix = normals(r, p, q), *noise = normals(r, n, q);
    double *rot = orthogonal(r, p);
    *x = matmul(lat, rot, n, p, p);
    *y = matmul(lat, mix, n, p, q);
    for (size_t i = 0; i < n * q; i++)
        (*y)[i] += 2.0 * noise[i];
    free(lat);
    free(mix);
    free(noise);
    free(rot);
}

/* The fixture most tests start from: a seeded correlated pair and row sources
 * over it.  Tests change the data in place (the row sources see it) and draw
 * more from r, which continues where the pair's draws ended. */
typedef struct pair {
    rng r;          /* the generator, past the pair's draws */
    size_t n, p, q; /* datapoints, X's neurons, Y's neurons */
    double *x, *y;  /* row-major n x p and n x q, owned */
    pw_rows rx, ry; /* row sources over x and y */
} pair;

static pair pair_make(uint64_t seed, size_t n, size_t p, size_t q)
{
    pair f = {.r = {seed}, .n = n, .p = p, .q = q};
    correlated_pair(&f.r, n, p, q, &f.x, &f.y);
    f.rx = pw_rows_from_matrix(f.x, n, p);
    f.ry = pw_rows_from_matrix(f.y, n, q);
    return f;
}

static void pair_free(pair *f)
{
    free(f->x);
    free(f->y);
}

/* ---- reference cases --------------------------------------------------------- */

static double jnum(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ck_assert_msg(v && (json_is_number(v) || json_is_null(v)), "expected.json: no number '%s'",
                  key);
    return json_is_null(v) ? NAN : json_number_value(v);
}

START_TEST(reference_cases)
{
    char path[1024], why[512];
    snprintf(path, sizeof path, "%s/expected.json", pw_test_reference_dir());
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    ck_assert_msg(root != NULL, "%s: %s", path, jerr.text);
    json_t *tol = json_object_get(root, "tolerance"), *cases = json_object_get(root, "cases");
    ck_assert(tol && cases && json_object_size(cases) >= 5);
    const char *name;
    json_t *c;
    json_object_foreach(cases, name, c)
    {
        refcase_matrix x, y;
        snprintf(path, sizeof path, "%s/%s.X.npy", pw_test_reference_dir(), name);
        ck_assert_msg(refcase_load(path, &x, why, sizeof why) == 0, "%s", why);
        snprintf(path, sizeof path, "%s/%s.Y.npy", pw_test_reference_dir(), name);
        ck_assert_msg(refcase_load(path, &y, why, sizeof why) == 0, "%s", why);
        pw_result r = run(x.data, y.data, x.rows, x.cols, y.cols, PW_M_ALL);
        const char *want = json_string_value(json_object_get(c, "status"));
        ck_assert_msg(strcmp(pw_status_name(r.status), want) == 0, "%s: status %s, want %s (%s)",
                      name, pw_status_name(r.status), want, r.message);
        ck_assert_uint_eq(r.n, (uint64_t)jnum(c, "n"));
        ck_assert_uint_eq(r.p, (uint64_t)jnum(c, "p"));
        ck_assert_uint_eq(r.q, (uint64_t)jnum(c, "q"));
        ck_assert_uint_eq(r.p_kept, (uint64_t)jnum(c, "p_kept"));
        ck_assert_uint_eq(r.q_kept, (uint64_t)jnum(c, "q_kept"));
        PW_ASSERT_NEAR(r.cka, jnum(c, "cka"), jnum(tol, "cka"));
        if (r.status == PW_OK) {
            PW_ASSERT_NEAR(r.pwcca, jnum(c, "pwcca"), jnum(tol, "pwcca"));
            PW_ASSERT_NEAR(r.distance, 1 - jnum(c, "pwcca"), jnum(tol, "pwcca"));
            PW_ASSERT_NEAR(r.mean_cca, jnum(c, "mean_cca"), jnum(tol, "mean_cca"));
            PW_ASSERT_NEAR(r.svcca, jnum(c, "svcca"), jnum(tol, "svcca"));
            json_t *rho = json_object_get(c, "rho");
            ck_assert_uint_eq(r.nrho, json_array_size(rho));
            for (size_t i = 0; i < r.nrho; i++)
                PW_ASSERT_NEAR(r.rho[i], json_number_value(json_array_get(rho, i)),
                               jnum(tol, "rho"));
        } else {
            /* insufficient_datapoints: no CCA numbers, an explanation naming the sizes. */
            ck_assert(isnan(r.pwcca) && isnan(r.mean_cca) && isnan(r.svcca) && r.nrho == 0);
            ck_assert(isnan(jnum(c, "pwcca")));
            char need[128];
            snprintf(need, sizeof need, "n = %llu", (unsigned long long)r.n);
            ck_assert_msg(strstr(r.message, need), "message: %s", r.message);
            snprintf(need, sizeof need, "p_kept + q_kept = %llu + %llu",
                     (unsigned long long)r.p_kept, (unsigned long long)r.q_kept);
            ck_assert_msg(strstr(r.message, need), "message: %s", r.message);
            ck_assert_msg(strstr(r.message, "5-10x more datapoints"), "message: %s", r.message);
        }
        pw_result_free(&r);
        refcase_free(&x);
        refcase_free(&y);
    }
    json_decref(root);
}
END_TEST

/* ---- accuracy beyond the reference -------------------------------------------- */

/* X's covariance has condition number 10^(2 decades) from correlated
 * directions (singular values 1 .. 10^-decades) times column scales over 4
 * decades; Y depends on every latent direction, the weakest included. */
static void ill_conditioned_pair(rng *r, size_t n, size_t p, size_t q, double decades, double **x,
                                 double **y)
{
    double *lat = normals(r, n, p), *rot = orthogonal(r, p), *mix = normals(r, p, q);
    double *noise = normals(r, n, q);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p; j++)
            lat[i * p + j] *= pow(10.0, -decades * (double)j / (double)(p - 1));
    *x = matmul(lat, rot, n, p, p);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p; j++) {
            lat[i * p + j] /= pow(10.0, -decades * (double)j / (double)(p - 1));
            (*x)[i * p + j] = (*x)[i * p + j] * pow(10.0, (double)(j % 5) - 2.0) + 1e3 * (double)j;
        }
    *y = matmul(lat, mix, n, p, q);
    for (size_t i = 0; i < n * q; i++)
        (*y)[i] += 3.0 * noise[i];
    free(lat);
    free(rot);
    free(mix);
    free(noise);
}

START_TEST(ill_conditioned_layers_match_the_svd_route)
{
    /* Condition number 1e8 (the bar) and 1e12, the edge of the
     * numerical rank: both full rank, both whitened by Cholesky -- the first
     * proven by the bounds, the second by its eigenvalues (pw_side.c). */
    const double decades[] = {4, 6};
    for (size_t t = 0; t < 2; t++) {
        rng r = {42};
        size_t n = 3000, p = 40, q = 30;
        double *x, *y;
        ill_conditioned_pair(&r, n, p, q, decades[t], &x, &y);
        oracle o;
        compute_oracle(x, y, n, p, q, &o);
        ck_assert_uint_eq(o.rank_x, p);
        pw_rows rx = pw_rows_from_matrix(x, n, p), ry = pw_rows_from_matrix(y, n, q);
        pw_side *sx = NULL, *sy = NULL;
        pw_result res = compare(&rx, &ry, PW_M_ALL, &sx, &sy);
        ck_assert_int_eq(sx->chol, 1);
        assert_matches_oracle(&res, &o, 1e-6);
        /* X/Y swapped: the same correlations and mean; weights on Y (fewer neurons) either way. */
        pw_result sw = run(y, x, n, q, p, PW_M_ALL);
        assert_same(&res, &sw, t == 0 ? 1e-9 : 1e-7);
        pw_result_free(&res);
        pw_result_free(&sw);
        pw_side_free(sx);
        pw_side_free(sy);
        free(x);
        free(y);
    }
}
END_TEST

START_TEST(near_rank_deficient_and_dead_neurons)
{
    /* X: 30 neurons, 4 of them combinations of others up to 1e-11 noise (numerical
     * rank 26), 3 constant (one of them 0.1, which does not sum exactly).  Y: an
     * exact duplicate column and a constant one. */
    pair f = pair_make(7, 2500, 30, 20);
    for (size_t i = 0; i < f.n; i++) {
        double *row = f.x + i * f.p;
        for (size_t j = 22; j < 26; j++)
            row[j] =
                0.5 * row[j - 20] - 1.5 * row[j - 10] + 2.0 * row[j - 5] + 1e-11 * rng_normal(&f.r);
        row[26] = 0.1;
        row[27] = -3;
        row[29] = 0;
        f.y[i * f.q + 19] = f.y[i * f.q + 3];
        f.y[i * f.q + 11] = 1e6;
    }
    oracle o;
    compute_oracle(f.x, f.y, f.n, f.p, f.q, &o);
    ck_assert_uint_eq(o.p_kept, 27);
    ck_assert_uint_eq(o.rank_x, 23);
    ck_assert_uint_eq(o.q_kept, 19);
    ck_assert_uint_eq(o.rank_y, 18);
    pw_result res = run(f.x, f.y, f.n, f.p, f.q, PW_M_ALL);
    assert_matches_oracle(&res, &o, 1e-6);
    pw_result_free(&res);
    pair_free(&f);
}
END_TEST

START_TEST(cholesky_and_eigenvalue_whitenings_mix)
{
    /* A full-rank side is whitened by Cholesky, a side with an exactly
     * repeated neuron by eigenvalues (pw_side.h).  Every mix -- the weights
     * on either kind, the other kind opposite -- must give the definitions'
     * values, which the oracle computes without either whitening. */
    pair f = pair_make(53, 1500, 12, 9);
    for (size_t i = 0; i < f.n; i++)
        f.x[i * f.p + 7] = f.x[i * f.p + 2]; /* X: 12 kept, rank 11 */
    struct {
        const double *a, *b; /* X and Y of the comparison */
        size_t pa, pb;       /* their neurons */
        int chol_a, chol_b;  /* the whitening each side must get */
    } mix[] = {{f.x, f.y, f.p, f.q, 0, 1}, {f.y, f.x, f.q, f.p, 1, 0}};
    for (size_t m = 0; m < 2; m++) {
        oracle o;
        compute_oracle(mix[m].a, mix[m].b, f.n, mix[m].pa, mix[m].pb, &o);
        pw_rows ra = pw_rows_from_matrix(mix[m].a, f.n, mix[m].pa);
        pw_rows rb = pw_rows_from_matrix(mix[m].b, f.n, mix[m].pb);
        pw_side *sa = NULL, *sb = NULL;
        pw_result res = compare(&ra, &rb, PW_M_ALL, &sa, &sb);
        ck_assert_int_eq(sa->chol, mix[m].chol_a);
        ck_assert_int_eq(sb->chol, mix[m].chol_b);
        assert_matches_oracle(&res, &o, 1e-9);
        pw_result_free(&res);
        pw_side_free(sa);
        pw_side_free(sb);
    }
    /* Both sides full rank: Cholesky on both, weights on the smaller (Y). */
    double *x2, *y2;
    correlated_pair(&f.r, f.n, f.p, f.q, &x2, &y2);
    oracle o;
    compute_oracle(x2, y2, f.n, f.p, f.q, &o);
    pw_result res = run(x2, y2, f.n, f.p, f.q, PW_M_ALL);
    assert_matches_oracle(&res, &o, 1e-9);
    pw_result_free(&res);
    pair_free(&f);
    free(x2);
    free(y2);
}
END_TEST

START_TEST(frobenius_norms_survive_extreme_scales)
{
    /* CKA's norms: a 5 x 3 block (ld 7) of 3s and 4s scaled to where the
     * squares overflow or underflow double, and in between. */
    double a[7 * 3];
    const double scales[] = {1.0, 1e200, 1e-200, 0x1p-1074 * 8};
    for (size_t t = 0; t < 4; t++) {
        for (size_t i = 0; i < 7 * 3; i++)
            a[i] = (i % 7) >= 5 ? NAN : ((i % 2) ? 4.0 : 3.0) * scales[t];
        /* Eight 3s and seven 4s: sqrt(8*9 + 7*16) = sqrt(184). */
        double want = sqrt(184.0) * scales[t], got = pw_frobenius(a, 5, 3, 7);
        ck_assert_msg(fabs(got - want) <= 1e-14 * want, "scale %g: %.17g, want %.17g", scales[t],
                      got, want);
    }
    double zero[4] = {0};
    ck_assert(pw_frobenius(zero, 2, 2, 2) == 0);
}
END_TEST

START_TEST(large_means_cost_no_accuracy)
{
    /* Values k / 1024 with |k| < 2^14, so adding 2^20 (about 1e6) to every
     * neuron is exact: the data differ only by the constant, and any loss is
     * the engine's.  Plain sums of squares would lose about 12 digits here. */
    pair f = pair_make(11, 9000, 24, 16);
    double *xs = malloc(f.n * f.p * sizeof(double)), *ys = malloc(f.n * f.q * sizeof(double));
    for (size_t i = 0; i < f.n * f.p; i++) {
        f.x[i] = round(f.x[i] * 1024) / 1024;
        xs[i] = f.x[i] + 1048576.0;
    }
    for (size_t i = 0; i < f.n * f.q; i++) {
        f.y[i] = round(f.y[i] * 1024) / 1024;
        ys[i] = f.y[i] + 1048576.0;
    }
    pw_result a = run(f.x, f.y, f.n, f.p, f.q, PW_M_ALL), b = run(xs, ys, f.n, f.p, f.q, PW_M_ALL);
    ck_assert_int_eq(b.status, PW_OK);
    assert_same(&a, &b, 1e-10);
    oracle o;
    compute_oracle(f.x, f.y, f.n, f.p, f.q, &o);
    assert_matches_oracle(&b, &o, 1e-8);
    pw_result_free(&a);
    pw_result_free(&b);
    pair_free(&f);
    free(xs);
    free(ys);
}
END_TEST

/* A row source over a matrix that hands out at most `chunk` rows per call. */
typedef struct chunky {
    const double *a;  /* row-major matrix */
    size_t p;         /* its columns */
    size_t calls;     /* read calls made */
    uint64_t next;    /* the row the next call must start at (rows come in order) */
    int out_of_order; /* 1 once a call broke the order */
} chunky;

static int chunky_read(void *ctx, uint64_t row0, size_t nrows, double *out, pw_err *err)
{
    (void)err;
    chunky *c = ctx;
    c->calls++;
    c->out_of_order |= row0 != c->next;
    c->next = row0 + nrows;
    memcpy(out, c->a + row0 * c->p, nrows * c->p * sizeof(double));
    return 0;
}

static pw_rows chunky_rows(chunky *c, size_t n, size_t chunk)
{
    pw_rows r = {.nrows = n, .ncols = c->p, .read = chunky_read, .ctx = c, .chunk_rows = chunk};
    return r;
}

START_TEST(chunking_does_not_change_results)
{
    pair f = pair_make(5, 700, 12, 9);
    for (size_t i = 0; i < f.n * f.p; i++)
        f.x[i] += 50.0;
    pw_result whole = run(f.x, f.y, f.n, f.p, f.q, PW_M_ALL);
    size_t chunks[] = {97, 1};
    for (size_t c = 0; c < 2; c++) {
        chunky cx = {.a = f.x, .p = f.p}, cy = {.a = f.y, .p = f.q};
        pw_rows rx = chunky_rows(&cx, f.n, chunks[c]), ry = chunky_rows(&cy, f.n, chunks[c]);
        pw_result res = compare(&rx, &ry, PW_M_ALL, NULL, NULL);
        ck_assert_uint_eq(cx.calls, (f.n + chunks[c] - 1) / chunks[c]);
        ck_assert_int_eq(cx.out_of_order | cy.out_of_order, 0);
        assert_same(&whole, &res, 1e-12);
        pw_result_free(&res);
    }
    pw_result_free(&whole);
    pair_free(&f);
}
END_TEST

START_TEST(lanes_give_the_one_thread_results)
{
    /* Large enough for the pass to split into lanes when it has two threads;
     * a mean of 1e3 so that the lanes' shifts and their merge matter. */
    pair f = pair_make(41, 40000, 12, 9);
    for (size_t i = 0; i < f.n * f.p; i++)
        f.x[i] += 1e3;
    pw_engine_set_blas_threads(1);
    pw_result one = run(f.x, f.y, f.n, f.p, f.q, PW_M_ALL);
    pw_engine_set_blas_threads(2);
    pw_result two = run(f.x, f.y, f.n, f.p, f.q, PW_M_ALL);
    ck_assert_int_eq(pw_engine_blas_threads(), 2); /* restored after the pass */
    assert_same(&one, &two, 1e-12);

    /* The same through a read callback: still in order, one call at a time. */
    chunky ox = {.a = f.x, .p = f.p}, oy = {.a = f.y, .p = f.q};
    pw_rows rx = chunky_rows(&ox, f.n, 1000), ry = chunky_rows(&oy, f.n, 1000);
    pw_result viaread = compare(&rx, &ry, PW_M_ALL, NULL, NULL);
    ck_assert_int_eq(ox.out_of_order | oy.out_of_order, 0);
    ck_assert_uint_eq(ox.next, f.n);
    assert_same(&one, &viaread, 1e-12);

    /* Non-finite values in two lanes: the earlier row is the one named. */
    f.y[31000 * f.q + 2] = INFINITY;
    f.x[23456 * f.p + 5] = NAN;
    ox.next = oy.next = 0;
    pw_result bad;
    bad = compare(&rx, &ry, PW_M_ALL, NULL, NULL);
    ck_assert_int_eq(bad.status, PW_NONFINITE);
    ck_assert_msg(strstr(bad.message, "X has a non-finite value (nan) at row 23456, column 5"),
                  "%s", bad.message);
    pw_engine_set_blas_threads(0);
    pw_result_free(&one);
    pw_result_free(&two);
    pw_result_free(&viaread);
    pw_result_free(&bad);
    pair_free(&f);
}
END_TEST

/* X and Y (n > p + q) whose first t neurons each fire on one probe input,
 * the same input in X and in Y: t canonical correlations are exactly 1 and
 * tied, so the paper's weights alone would depend on the SVD's basis. */
static void single_fire_pair(rng *r, size_t n, size_t p, size_t q, size_t t, double **x, double **y)
{
    correlated_pair(r, n, p, q, x, y);
    for (size_t k = 0; k < t; k++) {
        size_t row = (k * 7919 + 13) % n;
        for (size_t i = 0; i < n; i++) {
            (*x)[i * p + k] = i == row ? 1.0 + (double)k : 0.0;
            (*y)[i * q + k] = i == row ? 3.5 - 0.25 * (double)k : 0.0;
        }
    }
}

START_TEST(tied_correlations_are_counted_and_weighted_reproducibly)
{
    rng r = {77};
    size_t n = 3000, p = 40, q = 30, t = 6;
    double *x, *y;
    single_fire_pair(&r, n, p, q, t, &x, &y);
    pw_result whole = run(x, y, n, p, q, PW_M_ALL);
    ck_assert_int_eq(whole.status, PW_OK);
    ck_assert_uint_eq(whole.ntied, t);
    for (size_t i = 0; i < t; i++)
        PW_ASSERT_NEAR(whole.rho[i], 1.0, 1e-13);

    /* Other chunkings: other rounding, which used to move pwcca by ~1e-5. */
    size_t chunks[] = {97, 1000};
    for (size_t c = 0; c < 2; c++) {
        chunky cx = {.a = x, .p = p}, cy = {.a = y, .p = q};
        pw_rows rx = chunky_rows(&cx, n, chunks[c]), ry = chunky_rows(&cy, n, chunks[c]);
        pw_result res = compare(&rx, &ry, PW_M_ALL, NULL, NULL);
        ck_assert_uint_eq(res.ntied, t);
        PW_ASSERT_NEAR(res.pwcca, whole.pwcca, 1e-12);
        pw_result_free(&res);
    }
    /* The rows in another order (the same datapoints). */
    double *xr = malloc(n * p * sizeof(double)), *yr = malloc(n * q * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        size_t src = (i * 1237 + 5) % n; /* 1237 is prime to 3000: a permutation */
        memcpy(xr + i * p, x + src * p, p * sizeof(double));
        memcpy(yr + i * q, y + src * q, q * sizeof(double));
    }
    pw_result perm = run(xr, yr, n, p, q, PW_M_ALL);
    ck_assert_uint_eq(perm.ntied, t);
    PW_ASSERT_NEAR(perm.pwcca, whole.pwcca, 1e-12);

    /* Ordinary data have no ties, and the weights are the paper's. */
    double *x2, *y2;
    correlated_pair(&r, n, p, q, &x2, &y2);
    pw_result plain = run(x2, y2, n, p, q, PW_M_ALL);
    ck_assert_uint_eq(plain.ntied, 0);
    oracle o;
    compute_oracle(x2, y2, n, p, q, &o);
    assert_matches_oracle(&plain, &o, 1e-10);

    pw_result_free(&whole);
    pw_result_free(&perm);
    pw_result_free(&plain);
    free(x);
    free(y);
    free(xr);
    free(yr);
    free(x2);
    free(y2);
}
END_TEST

START_TEST(zero_and_tiny_correlations_are_weighted_right)
{
    /* X's last two neurons are exactly uncorrelated with Y (projected off the
     * span of 1 and Y's columns): two canonical correlations are 0 up to
     * rounding, and their variates span a plane with no preferred basis. */
    rng r = {83};
    size_t n = 2000, p = 5, q = 6, b = q + 1;
    double *y = normals(&r, n, q), *x = normals(&r, n, p), *qm = malloc(n * b * sizeof(double));
    double tau[8];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < 3; j++)
            x[i * p + j] = y[i * q + j] + 0.5 * x[i * p + j];
        qm[i * b] = 1.0;
        memcpy(qm + i * b + 1, y + i * q, q * sizeof(double));
    }
    ck_assert_int_eq(LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (int)n, (int)b, qm, (int)b, tau), 0);
    ck_assert_int_eq(LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (int)n, (int)b, (int)b, qm, (int)b, tau), 0);
    for (size_t j = 3; j < p; j++)
        for (size_t c = 0; c < b; c++) {
            double dot = 0;
            for (size_t i = 0; i < n; i++)
                dot += qm[i * b + c] * x[i * p + j];
            for (size_t i = 0; i < n; i++)
                x[i * p + j] -= dot * qm[i * b + c];
        }
    pw_result whole = run(x, y, n, p, q, PW_M_ALL);
    ck_assert_int_eq(whole.status, PW_OK);
    ck_assert_uint_eq(whole.nrho, 5);
    ck_assert(whole.rho[3] < 1e-12 && whole.rho[4] < 1e-12);
    ck_assert_uint_eq(whole.ntied, 2); /* the two zeros are tied */
    pw_result_free(&whole);

    /* Correlations of 1e-8 and 2e-8 are distinct, but their squares (what
     * the weights' eigenvectors of M M^T resolve) are within rounding: the
     * engine must still separate them, reproducibly and as the SVD would. */
    for (size_t i = 0; i < n; i++) {
        x[i * p + 3] += 1e-8 * y[i * q + 4];
        x[i * p + 4] += 2e-8 * y[i * q + 5];
    }
    whole = run(x, y, n, p, q, PW_M_ALL);
    ck_assert_uint_eq(whole.ntied, 0);
    ck_assert(whole.rho[3] > 1e-9 && whole.rho[3] < 1e-7);
    oracle o; /* resolved like the SVD route, so the paper's weights */
    compute_oracle(x, y, n, p, q, &o);
    PW_ASSERT_NEAR(whole.pwcca, o.pwcca, 1e-7);
    size_t chunks[] = {97, 1000};
    for (size_t c = 0; c < 2; c++) {
        chunky cx = {.a = x, .p = p}, cy = {.a = y, .p = q};
        pw_rows rx = chunky_rows(&cx, n, chunks[c]), ry = chunky_rows(&cy, n, chunks[c]);
        pw_result res = compare(&rx, &ry, PW_M_ALL, NULL, NULL);
        PW_ASSERT_NEAR(res.pwcca, whole.pwcca, 1e-12);
        pw_result_free(&res);
    }
    pw_result_free(&whole);
    free(x);
    free(y);
    free(qm);
}
END_TEST

START_TEST(tie_groups_are_anchored_at_their_first_value)
{
    /* 1, 1 - 1e-15 tie; a slope of steps just under tol does not chain. */
    double rho[] = {1.0, 1.0 - 1e-15, 0.9, 0.9 - 0.6e-12, 0.9 - 1.2e-12, 0.5};
    size_t start[7];
    size_t ng = pw_cca_tie_groups(rho, 6, 1e-12, start);
    ck_assert_uint_eq(ng, 4);
    ck_assert_uint_eq(start[0], 0);
    ck_assert_uint_eq(start[1], 2);
    ck_assert_uint_eq(start[2], 4);
    ck_assert_uint_eq(start[3], 5);
    ck_assert_uint_eq(start[4], 6);
    /* The tolerance grows with the width of the problem, from rounding up. */
    ck_assert(pw_cca_tie_tolerance(10, 1000) > pw_cca_tie_tolerance(10, 10));
    ck_assert(pw_cca_tie_tolerance(1024, 1024) < 1e-11);
}
END_TEST

START_TEST(neuron_order_and_signs_do_not_matter)
{
    pair f = pair_make(9, 1500, 20, 14);
    double *xp = malloc(f.n * f.p * sizeof(double));
    for (size_t i = 0; i < f.n; i++)
        for (size_t j = 0; j < f.p; j++)
            xp[i * f.p + j] = f.x[i * f.p + (j * 7) % f.p] * ((j % 3) ? 1 : -1);
    pw_result a = run(f.x, f.y, f.n, f.p, f.q, PW_M_ALL), b = run(xp, f.y, f.n, f.p, f.q, PW_M_ALL);
    assert_same(&a, &b, 1e-12);
    pw_result_free(&a);
    pw_result_free(&b);
    pair_free(&f);
    free(xp);
}
END_TEST

START_TEST(swap_changes_pwcca_only_through_the_weights)
{
    /* Equal widths: compare(X, Y) weighs X's variates, compare(Y, X) weighs Y's. */
    pair f = pair_make(13, 2000, 16, 16);
    pw_result a = run(f.x, f.y, f.n, f.p, f.p, PW_M_ALL),
              b = run(f.y, f.x, f.n, f.p, f.p, PW_M_ALL);
    oracle oa, ob;
    compute_oracle(f.x, f.y, f.n, f.p, f.p, &oa);
    compute_oracle(f.y, f.x, f.n, f.p, f.p, &ob);
    assert_matches_oracle(&a, &oa, 1e-9);
    assert_matches_oracle(&b, &ob, 1e-9);
    for (size_t i = 0; i < a.nrho; i++)
        PW_ASSERT_NEAR(a.rho[i], b.rho[i], 1e-12);
    PW_ASSERT_NEAR(a.mean_cca, b.mean_cca, 1e-12);
    PW_ASSERT_NEAR(a.svcca, b.svcca, 1e-12);
    PW_ASSERT_NEAR(a.cka, b.cka, 1e-12);
    ck_assert_msg(fabs(a.pwcca - b.pwcca) > 1e-4, "weights on X and on Y gave %.17g and %.17g",
                  a.pwcca, b.pwcca);
    pw_result_free(&a);
    pw_result_free(&b);
    pair_free(&f);
}
END_TEST

/* ---- statuses ------------------------------------------------------------------ */

START_TEST(nonfinite_values_are_located)
{
    pair f = pair_make(17, 6000, 10, 8);
    f.x[5000 * f.p + 7] = NAN;
    pw_side *cx = NULL, *cy = NULL;
    pw_result res = compare(&f.rx, &f.ry, PW_M_ALL, &cx, &cy);
    ck_assert_int_eq(res.status, PW_NONFINITE);
    ck_assert_msg(strstr(res.message, "X") && strstr(res.message, "row 5000") &&
                      strstr(res.message, "column 7") && strstr(res.message, "nan"),
                  "message: %s", res.message);
    ck_assert(isnan(res.pwcca) && isnan(res.cka));
    ck_assert(cx == NULL && cy == NULL); /* nothing cached from bad rows */
    pw_result_free(&res);

    /* An earlier Inf in Y wins over the NaN in X. */
    f.y[4100 * f.q + 2] = -INFINITY;
    res = compare(&f.rx, &f.ry, PW_M_ALL, NULL, NULL);
    ck_assert_int_eq(res.status, PW_NONFINITE);
    ck_assert_msg(strstr(res.message, "Y") && strstr(res.message, "row 4100") &&
                      strstr(res.message, "column 2") && strstr(res.message, "-inf"),
                  "message: %s", res.message);
    pw_result_free(&res);

    /* Finite values too large for double sums of squares. */
    f.x[5000 * f.p + 7] = 0;
    f.y[4100 * f.q + 2] = 0;
    f.x[3 * f.p + 1] = 1e300;
    res = compare(&f.rx, &f.ry, PW_M_ALL, NULL, NULL);
    ck_assert_int_eq(res.status, PW_NONFINITE);
    ck_assert_msg(strstr(res.message, "X column 1") && strstr(res.message, "too large"),
                  "message: %s", res.message);
    pw_result_free(&res);
    pair_free(&f);
}
END_TEST

/* Counts the chunks it was asked about and cancels from the third on. */
static int cancel_after_two(void *ctx)
{
    int *asked = ctx;
    return ++*asked > 2;
}

START_TEST(a_cancelled_pass_stops_early_with_an_error)
{
    pair f = pair_make(23, 40000, 12, 9);
    int asked = 0;
    f.rx.chunk_rows = f.ry.chunk_rows = 1000;
    f.rx.cancelled = cancel_after_two;
    f.rx.cancel_ctx = &asked;
    pw_result res;
    pw_err e;
    pw_side *sx = NULL, *sy = NULL;
    PW_ASSERT_FAILS_WITH(pw_engine_compare(&f.rx, &f.ry, PW_M_ALL, &sx, &sy, &res, &e), &e,
                         "cancelled");
    ck_assert_msg(asked < 10, "the pass went on for %d chunks after the cancel", asked);
    ck_assert_msg(!sx, "a cancelled pass must not leave a side to cache");
    pw_side_free(sx);
    pw_side_free(sy);
    /* The same rows without the cancel give a result. */
    f.rx.cancelled = NULL;
    res = compare(&f.rx, &f.ry, PW_M_ALL, NULL, NULL);
    ck_assert_int_eq(res.status, PW_OK);
    pw_result_free(&res);
    pair_free(&f);
}
END_TEST

START_TEST(n_mismatch_dead_layer_and_insufficient)
{
    pair f = pair_make(19, 400, 10, 8);
    pw_rows rx = pw_rows_from_matrix(f.x, f.n, f.p), ry = pw_rows_from_matrix(f.y, f.n - 1, f.q);
    pw_result res = compare(&rx, &ry, PW_M_ALL, NULL, NULL);
    ck_assert_int_eq(res.status, PW_N_MISMATCH);
    ck_assert_msg(strstr(res.message, "400") && strstr(res.message, "399"), "%s", res.message);
    pw_result_free(&res);

    /* n = p_kept + q_kept exactly is not enough; one more datapoint is. */
    pw_result lo = run(f.x, f.y, f.p + f.q, f.p, f.q, PW_M_ALL),
              hi = run(f.x, f.y, f.p + f.q + 1, f.p, f.q, PW_M_ALL);
    ck_assert_int_eq(lo.status, PW_INSUFFICIENT_DATAPOINTS);
    ck_assert(isnan(lo.pwcca) && isnan(lo.mean_cca) && isnan(lo.svcca) && !isnan(lo.cka));
    ck_assert_msg(strstr(lo.message, "n = 18") && strstr(lo.message, "10 + 8") &&
                      strstr(lo.message, "5-10x"),
                  "%s", lo.message);
    ck_assert_int_eq(hi.status, PW_OK);
    pw_result_free(&lo);
    pw_result_free(&hi);
    pw_result one = run(f.x, f.y, 1, f.p, f.q, PW_M_ALL);
    ck_assert_int_eq(one.status, PW_INSUFFICIENT_DATAPOINTS);
    pw_result_free(&one);

    for (size_t i = 0; i < f.n; i++)
        for (size_t j = 0; j < f.q; j++)
            f.y[i * f.q + j] = (double)j;
    pw_result dead = run(f.x, f.y, f.n, f.p, f.q, PW_M_ALL);
    ck_assert_int_eq(dead.status, PW_DEAD_LAYER);
    ck_assert_uint_eq(dead.q_kept, 0);
    ck_assert_msg(strstr(dead.message, "every neuron of Y"), "%s", dead.message);
    ck_assert(isnan(dead.pwcca) && isnan(dead.cka));
    pw_result_free(&dead);
    pair_free(&f);
}
END_TEST

/* ---- caching --------------------------------------------------------------------- */

START_TEST(lapack_failures_are_numerical_errors)
{
    /* A cached side whose Gram was damaged in memory (a NaN where a sum of
     * products belongs) reaches LAPACK, whose input check refuses it
     * (LAPACKE's NaN check: info = -6 for dsyevd's matrix).  The engine must
     * say numerical_error, name the routine, its info and the side, drop the
     * CCA metrics -- and not hand the damage to the SVD as a number. */
    pair f = pair_make(29, 2000, 7, 5);
    pw_side *sx = NULL, *sy = NULL;
    pw_result res = compare(&f.rx, &f.ry, PW_M_CKA, &sx, &sy);
    pw_result_free(&res);
    ck_assert(sx && sy && !sx->whitened && !sy->svcca_ready);
    sy->gram[1 * sy->p_kept + 2] = NAN;
    sy->gram[2 * sy->p_kept + 1] = NAN;

    res = compare(&f.rx, &f.ry, PW_M_PWCCA | PW_M_MEAN_CCA, &sx, &sy);
    ck_assert_int_eq(res.status, PW_NUMERICAL_ERROR);
    ck_assert_msg(strstr(res.message, "LAPACK dsyevd failed with info = -") &&
                      strstr(res.message, "while whitening Y (p_kept = 5)"),
                  "%s", res.message);
    ck_assert(isnan(res.pwcca) && isnan(res.distance) && isnan(res.mean_cca));
    ck_assert(res.nrho == 0 && res.rho == NULL && res.ntied == 0);
    pw_result_free(&res);

    res = compare(&f.rx, &f.ry, PW_M_SVCCA, &sx, &sy);
    ck_assert_int_eq(res.status, PW_NUMERICAL_ERROR);
    ck_assert_msg(strstr(res.message, "in SVCCA for Y (p_kept = 5)"), "%s", res.message);
    ck_assert(isnan(res.svcca));
    ck_assert_str_eq(pw_status_name(res.status), "numerical_error");
    pw_result_free(&res);

    /* X's side is intact and is still usable against an intact Y. */
    pw_side *sy2 = NULL;
    res = compare(&f.rx, &f.ry, PW_M_PWCCA, &sx, &sy2);
    ck_assert_int_eq(res.status, PW_OK);
    pw_result_free(&res);
    pw_side_free(sx);
    pw_side_free(sy);
    pw_side_free(sy2);
    pair_free(&f);
}
END_TEST

START_TEST(cached_sides_give_the_uncached_results)
{
    /* Three checkpoints of one layer, scored as the daemon does: (t1, t0), then
     * (t2, t1) reusing t1's side from the first call in the Y position. */
    rng r = {23};
    size_t n = 5000, p = 18;
    double *t0, *t1, *t2, *tmp;
    correlated_pair(&r, n, p, p, &t0, &t1);
    correlated_pair(&r, n, p, p, &tmp, &t2);
    for (size_t i = 0; i < n * p; i++)
        t2[i] = 0.5 * t2[i] + t1[i];
    pw_rows r0 = pw_rows_from_matrix(t0, n, p), r1 = pw_rows_from_matrix(t1, n, p),
            r2 = pw_rows_from_matrix(t2, n, p);
    pw_side *s0 = NULL, *s1 = NULL, *s2 = NULL;
    pw_result a, b, c;
    pw_err e;
    /* First call asks for CKA only: the sides hold no factorization yet. */
    a = compare(&r1, &r0, PW_M_CKA, &s1, &s0);
    ck_assert(s0 && s1);
    ck_assert(a.nrho == 0 && a.rank_x == 0 && isnan(a.pwcca) && !isnan(a.cka));
    size_t before = pw_side_bytes(s1);
    pw_result_free(&a);
    a = compare(&r1, &r0, PW_M_ALL, &s1, &s0);
    ck_assert_uint_gt(pw_side_bytes(s1), before);
    pw_result fresh = run(t1, t0, n, p, p, PW_M_ALL);
    assert_same(&a, &fresh, 1e-14);
    b = compare(&r2, &r1, PW_M_ALL, &s2, &s1);
    ck_assert(s2 != NULL);
    pw_result fresh2 = run(t2, t1, n, p, p, PW_M_ALL);
    assert_same(&b, &fresh2, 1e-14);
    /* Both sides cached. */
    c = compare(&r2, &r1, PW_M_ALL, &s2, &s1);
    assert_same(&c, &fresh2, 1e-14);
    pw_result_free(&c);
    /* A cached side must match its rows. */
    pw_rows short1 = pw_rows_from_matrix(t1, n - 1, p), short2 = pw_rows_from_matrix(t2, n - 1, p);
    PW_ASSERT_FAILS_WITH(pw_engine_compare(&short2, &short1, PW_M_ALL, NULL, &s1, &c, &e), &e,
                         "cached state of Y");
    pw_result_free(&a);
    pw_result_free(&b);
    pw_result_free(&c);
    pw_result_free(&fresh);
    pw_result_free(&fresh2);
    pw_side_free(s0);
    pw_side_free(s1);
    pw_side_free(s2);
    free(t0);
    free(t1);
    free(t2);
    free(tmp);
}
END_TEST

/* ---- API odds and ends -------------------------------------------------------------- */

START_TEST(metric_lists_parse)
{
    unsigned m = 0;
    pw_err e;
    PW_ASSERT_OK(pw_metric_set_parse("pwcca,mean_cca,svcca,cka", &m, &e), &e);
    ck_assert_uint_eq(m, PW_M_ALL & ~(unsigned)(PW_M_CKA_DEBIASED | PW_M_PROCRUSTES));
    PW_ASSERT_OK(pw_metric_set_parse("pwcca,mean_cca,svcca,cka, cka_debiased ,procrustes", &m, &e),
                 &e);
    ck_assert_uint_eq(m, PW_M_ALL);
    PW_ASSERT_OK(pw_metric_set_parse("cka", &m, &e), &e);
    ck_assert_uint_eq(m, PW_M_CKA);
    PW_ASSERT_OK(pw_metric_set_parse("svcca,pwcca", &m, &e), &e);
    ck_assert_uint_eq(m, PW_M_SVCCA | PW_M_PWCCA);
    PW_ASSERT_OK(pw_metric_set_parse("all", &m, &e), &e);
    ck_assert_uint_eq(m, PW_M_ALL);
    PW_ASSERT_FAILS_WITH(pw_metric_set_parse("pwcca,bogus", &m, &e), &e, "'bogus'");
    PW_ASSERT_FAILS_WITH(pw_metric_set_parse("", &m, &e), &e, "unknown metric");
    PW_ASSERT_FAILS_WITH(pw_metric_set_parse("pwcca,", &m, &e), &e, "unknown metric");
}
END_TEST

START_TEST(only_requested_metrics_are_computed)
{
    pair f = pair_make(29, 800, 12, 10);
    pw_result all = run(f.x, f.y, f.n, f.p, f.q, PW_M_ALL),
              pw = run(f.x, f.y, f.n, f.p, f.q, PW_M_PWCCA);
    pw_result sv = run(f.x, f.y, f.n, f.p, f.q, PW_M_SVCCA);
    PW_ASSERT_NEAR(pw.pwcca, all.pwcca, 0);
    ck_assert(isnan(pw.mean_cca) && isnan(pw.svcca) && isnan(pw.cka));
    ck_assert(isnan(sv.pwcca) && sv.nrho == 0);
    PW_ASSERT_NEAR(sv.svcca, all.svcca, 0);
    pw_result_free(&all);
    pw_result_free(&pw);
    pw_result_free(&sv);
    pair_free(&f);
}
END_TEST

/* Binary16 bits of v = k / 64, |k| < 2048 (exactly representable). */
static uint16_t f16_bits(double v)
{
    if (v == 0)
        return 0;
    int e;
    double m = frexp(fabs(v), &e); /* v = m 2^e, m in [0.5, 1) */
    uint16_t bits = (uint16_t)((e + 14) << 10 | (uint16_t)((m * 2 - 1) * 1024));
    return v < 0 ? (uint16_t)(bits | 0x8000) : bits;
}

/* Bfloat16 bits of v = k / 16, |k| < 256 (exactly representable). */
static uint16_t bf16_bits(double v)
{
    float f = (float)v;
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (uint16_t)(u >> 16);
}

START_TEST(conv_and_sequence_tensors_in_half_precision)
{
    /* X: f16 [N=40, C=6, H=3, W=4] -> 480 datapoints x 6 neurons; Y: bf16
     * [N=40, T=12, D=5] -> 480 x 5.  The engine on the tensors must give what it
     * gives on the same values as double matrices. */
    enum { N = 40, C = 6, H = 3, W = 4, T = 12, D = 5, ROWS = N * H * W };
    rng r = {37};
    uint16_t *xh = malloc(N * C * H * W * sizeof(uint16_t)),
             *yh = malloc(ROWS * D * sizeof(uint16_t));
    double *x = malloc(ROWS * C * sizeof(double)), *y = malloc(ROWS * D * sizeof(double));
    for (size_t n = 0; n < N; n++)
        for (size_t c = 0; c < C; c++)
            for (size_t h = 0; h < H; h++)
                for (size_t w = 0; w < W; w++) {
                    double v = round(fmax(-1000, fmin(1000, 64 * rng_normal(&r)))) / 64;
                    xh[((n * C + c) * H + h) * W + w] = f16_bits(v);
                    x[((n * H + h) * W + w) * C + c] = v;
                }
    for (size_t row = 0; row < ROWS; row++)
        for (size_t d = 0; d < D; d++) {
            double v = round(16 * (0.5 * x[row * C + d] + 0.5 * rng_normal(&r))) / 16;
            v = fmax(-15, fmin(15, v));
            yh[row * D + d] = bf16_bits(v);
            y[row * D + d] = v;
        }
    pw_tensor tx, ty;
    memset(&tx, 0, sizeof tx);
    memset(&ty, 0, sizeof ty);
    strcpy(tx.name, "conv");
    strcpy(ty.name, "seq");
    tx.dtype = PW_DT_F16;
    tx.ndim = 4;
    tx.shape[0] = N, tx.shape[1] = C, tx.shape[2] = H, tx.shape[3] = W;
    tx.data = (const unsigned char *)xh;
    tx.nbytes = N * C * H * W * sizeof(uint16_t);
    ty.dtype = PW_DT_BF16;
    ty.ndim = 3;
    ty.shape[0] = N, ty.shape[1] = T, ty.shape[2] = D;
    ty.data = (const unsigned char *)yh;
    ty.nbytes = ROWS * D * sizeof(uint16_t);
    pw_err e;
    PW_ASSERT_OK(pw_tensor_finish(&tx, &e), &e);
    PW_ASSERT_OK(pw_tensor_finish(&ty, &e), &e);
    ck_assert_uint_eq(tx.rows, ROWS);
    ck_assert_uint_eq(ty.rows, ROWS);
    pw_rows rx = pw_rows_from_tensor(&tx), ry = pw_rows_from_tensor(&ty);
    pw_result a, b = run(x, y, ROWS, C, D, PW_M_ALL);
    a = compare(&rx, &ry, PW_M_ALL, NULL, NULL);
    ck_assert_int_eq(a.status, PW_OK);
    assert_same(&a, &b, 0);
    oracle o;
    compute_oracle(x, y, ROWS, C, D, &o);
    assert_matches_oracle(&a, &o, 1e-9);
    pw_result_free(&a);
    pw_result_free(&b);
    free(xh);
    free(yh);
    free(x);
    free(y);
}
END_TEST

START_TEST(blas_threads_default_divides_the_cores)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    pw_engine_set_blas_threads(1);
    ck_assert_int_eq(pw_engine_blas_threads(), 1);
    pw_engine_set_workers(2);
    pw_engine_set_blas_threads(0);
    ck_assert_int_eq(pw_engine_blas_threads(), cores / 2 > 1 ? (int)(cores / 2) : 1);
    pw_engine_set_workers(1);
    pw_engine_set_blas_threads(0);
    ck_assert_int_eq(pw_engine_blas_threads(), (int)cores);
}
END_TEST

static int failing_read(void *ctx, uint64_t row0, size_t nrows, double *out, pw_err *err)
{
    (void)ctx, (void)row0, (void)nrows, (void)out;
    return pw_err_set(err, "disk on fire");
}

START_TEST(tensor_rows_and_read_failures)
{
    /* An f32 tensor gives the results of the same values as doubles. */
    pair f = pair_make(31, 600, 8, 6);
    float *xf = malloc(f.n * f.p * sizeof(float));
    for (size_t i = 0; i < f.n * f.p; i++) {
        xf[i] = (float)f.x[i];
        f.x[i] = xf[i];
    }
    pw_tensor t;
    memset(&t, 0, sizeof t);
    strcpy(t.name, "layer");
    t.dtype = PW_DT_F32;
    t.ndim = 2;
    t.shape[0] = f.n;
    t.shape[1] = f.p;
    t.data = (const unsigned char *)xf;
    t.nbytes = f.n * f.p * sizeof(float);
    pw_err e;
    PW_ASSERT_OK(pw_tensor_finish(&t, &e), &e);
    pw_rows rx = pw_rows_from_tensor(&t), ry = pw_rows_from_matrix(f.y, f.n, f.q);
    pw_result a, b = run(f.x, f.y, f.n, f.p, f.q, PW_M_ALL);
    a = compare(&rx, &ry, PW_M_ALL, NULL, NULL);
    assert_same(&a, &b, 0);
    pw_result_free(&a);
    pw_result_free(&b);

    pw_rows bad = {.nrows = f.n, .ncols = f.p, .read = failing_read};
    PW_ASSERT_FAILS_WITH(pw_engine_compare(&bad, &ry, PW_M_ALL, NULL, NULL, &a, &e), &e,
                         "disk on fire");
    ck_assert_msg(strstr(e.msg, "reading X rows 0.."), "%s", e.msg);
    free(xf);
    pair_free(&f);
}
END_TEST

Suite *engine_suite(void)
{
    Suite *s = suite_create("engine");
    TCase *ref = tcase_create("reference");
    tcase_add_test(ref, reference_cases);
    suite_add_tcase(s, ref);
    TCase *acc = tcase_create("accuracy");
    tcase_add_test(acc, ill_conditioned_layers_match_the_svd_route);
    tcase_add_test(acc, near_rank_deficient_and_dead_neurons);
    tcase_add_test(acc, cholesky_and_eigenvalue_whitenings_mix);
    tcase_add_test(acc, large_means_cost_no_accuracy);
    tcase_add_test(acc, frobenius_norms_survive_extreme_scales);
    tcase_add_test(acc, chunking_does_not_change_results);
    tcase_add_test(acc, lanes_give_the_one_thread_results);
    tcase_add_test(acc, tied_correlations_are_counted_and_weighted_reproducibly);
    tcase_add_test(acc, tie_groups_are_anchored_at_their_first_value);
    tcase_add_test(acc, zero_and_tiny_correlations_are_weighted_right);
    tcase_add_test(acc, neuron_order_and_signs_do_not_matter);
    tcase_add_test(acc, swap_changes_pwcca_only_through_the_weights);
    suite_add_tcase(s, acc);
    TCase *st = tcase_create("status");
    tcase_add_test(st, nonfinite_values_are_located);
    tcase_add_test(st, n_mismatch_dead_layer_and_insufficient);
    tcase_add_test(st, lapack_failures_are_numerical_errors);
    suite_add_tcase(s, st);
    TCase *cache = tcase_create("cache");
    tcase_add_test(cache, cached_sides_give_the_uncached_results);
    suite_add_tcase(s, cache);
    TCase *api = tcase_create("api");
    tcase_add_test(api, metric_lists_parse);
    tcase_add_test(api, only_requested_metrics_are_computed);
    tcase_add_test(api, tensor_rows_and_read_failures);
    tcase_add_test(api, a_cancelled_pass_stops_early_with_an_error);
    tcase_add_test(api, conv_and_sequence_tensors_in_half_precision);
    tcase_add_test(api, blas_threads_default_divides_the_cores);
    suite_add_tcase(s, api);
    return s;
}
