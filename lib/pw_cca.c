/* pw_cca.c -- canonical correlations, PWCCA weights, SVCCA and CKA of a pair
 * of sides (see pw_cca.h for why the weights come straight from the
 * whitening).  All O(p^3) work is BLAS-3 or one LAPACK SVD. */
#include "pw_cca.h"

#include <assert.h>
#include <cblas.h>
#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pw_array.h"
#include "pw_keep.h"

/* The plain sum of squares, four partial sums so that it vectorizes. */
static double sum_squares(const double *a, size_t rows, size_t cols, size_t ld)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t c = 0; c < cols; c++) {
        const double *col = a + c * ld;
        size_t r = 0;
        for (; r + 4 <= rows; r += 4) {
            s0 += col[r] * col[r];
            s1 += col[r + 1] * col[r + 1];
            s2 += col[r + 2] * col[r + 2];
            s3 += col[r + 3] * col[r + 3];
        }
        for (; r < rows; r++)
            s0 += col[r] * col[r];
    }
    return (s0 + s1) + (s2 + s3);
}

double pw_frobenius(const double *a, size_t rows, size_t cols, size_t ld)
{
    /* One pass when the sum is comfortably inside double's range (squares
     * lost to underflow are then below its last bit); the scaled two passes
     * when it overflowed, underflowed or met a NaN. */
    double fast = sum_squares(a, rows, cols, ld);
    if (fast >= 0x1p-900 && fast <= DBL_MAX)
        return sqrt(fast);
    double big = 0;
    for (size_t c = 0; c < cols; c++)
        for (size_t r = 0; r < rows; r++)
            big = fabs(a[c * ld + r]) > big ? fabs(a[c * ld + r]) : big;
    if (big == 0 || !isfinite(big))
        return big;
    /* Scale by a power of two (exact) so that the squares can neither
     * overflow nor underflow; ldexp because 2^-e itself overflows when big
     * is subnormal. */
    int e;
    frexp(big, &e);
    double sum = 0;
    for (size_t c = 0; c < cols; c++)
        for (size_t r = 0; r < rows; r++) {
            double v = ldexp(a[c * ld + r], -e);
            sum += v * v;
        }
    return ldexp(sqrt(sum), e);
}

/* Cosines cannot exceed 1; rounding can put a perfect correlation a few ulps above. */
static double clamp01(double v)
{
    return v > 1 ? 1 : v < 0 ? 0 : v;
}

double pw_cca_tie_tolerance(size_t pa, size_t pb)
{
    size_t wide = pa > pb ? pa : pb;
    return PW_TIE_EPS_FACTOR * (double)(wide > 0 ? wide : 1) * DBL_EPSILON;
}

/* The groups of pw_cca_tie_groups; with squares, values whose squares are
 * within tol join too (see weight groups in pw_cca_canonical). */
static size_t groups(const double *rho, size_t k, double tol, int squares, size_t *start)
{
    size_t ng = 0;
    for (size_t i = 0; i < k;) {
        size_t j = i + 1;
        /* Anchored at the group's first value, so a slow slope never chains. */
        while (j < k &&
               (rho[i] - rho[j] <= tol || (squares && rho[i] * rho[i] - rho[j] * rho[j] <= tol)))
            j++;
        start[ng++] = i;
        i = j;
    }
    start[ng] = k;
    return ng;
}

size_t pw_cca_tie_groups(const double *rho, size_t k, double tol, size_t *start)
{
    return groups(rho, k, tol, 0, start);
}

/* E|u_1| for u uniform on the unit sphere of R^g: Gamma(g/2) / (sqrt(pi) Gamma((g+1)/2)). */
static double sphere_mean_abs(size_t g)
{
    double h = (double)g / 2.0;
    return exp(lgamma(h) - lgamma(h + 0.5)) / sqrt(M_PI);
}

/* The PWCCA weight of the group of canonical variates in columns [i0, i1)
 * of gm (pa x k; <h_i, x_j> = gm_ji / d_j^2).  One variate: the paper's
 * alpha_i = sum_j |<h_i, x_j>|.  A tied group of g: its subspace is
 * determined but its basis is not, so the group weighs what g paper weights
 * weigh on average over a uniformly random orthonormal basis of it,
 *     g E|u_1| sum_j ||P_G x_j||,
 * which depends on the subspace alone (P_G the projection onto it). */
static double group_weight(const double *gm, const double *d, size_t pa, size_t i0, size_t i1)
{
    double alpha = 0;
    for (size_t j = 0; j < pa; j++) {
        if (!(d[j] > 0))
            continue;
        double dd = d[j] * d[j];
        if (i1 - i0 == 1) {
            alpha += fabs(gm[i0 * pa + j]) / dd;
            continue;
        }
        double big = 0, sum = 0;
        for (size_t i = i0; i < i1; i++)
            big = fabs(gm[i * pa + j]) > big ? fabs(gm[i * pa + j]) : big;
        if (big == 0)
            continue;
        for (size_t i = i0; i < i1; i++) {
            double v = gm[i * pa + j] / big;
            sum += v * v;
        }
        alpha += big * sqrt(sum) / dd;
    }
    if (i1 - i0 > 1)
        alpha *= (double)(i1 - i0) * sphere_mean_abs(i1 - i0);
    return alpha;
}

/* The singular values of the ra x rb matrix m (destroyed). */
typedef struct svd_job {
    double *m;       /* the matrix, column-major, ld ra */
    size_t ra, rb;   /* its shape */
    double *s;       /* out: min(ra, rb) singular values, descending */
    lapack_int info; /* out: dgesdd's info */
} svd_job;

static void *svd_values(void *arg)
{
    svd_job *j = arg;
    double dummy = 0;
    j->info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', (lapack_int)j->ra, (lapack_int)j->rb, j->m,
                             (lapack_int)j->ra, j->s, &dummy, 1, &dummy, 1);
    return NULL;
}

/* rho and the left singular vectors u (ra x kk) of M (ra x rb).  The values
 * come from a values-only SVD, as without weights; the vectors from the
 * eigendecomposition of M M^T, whose eigenvectors they are.  The two run
 * side by side when threads > 1, and together take about 40 % of one
 * dgesdd with vectors.  Returns 0, or -1 with *rc set (1: LAPACK failed, -1:
 * memory) and err filled. */
/* An eigenvector of M M^T is off by about eps / gap in angle, gap the
 * distance of its rho^2 to the others', where the SVD's is eps / gap(rho):
 * values whose squares are within rounding (rho = 1e-8 and 2e-8, say) are
 * not separated at all.  So every cluster of values whose squares lie within
 * CLUSTER_SQ of each other is re-resolved: its eigenvectors U_G span the
 * right subspace (the rest is at least CLUSTER_SQ away), and the SVD of the
 * small C = U_G^T M (g x rb, values ~ rho, resolved like the SVD of M) gives
 * the vectors, U_G <- U_G P with C = P S Q^T.  Every vector is then within
 * ~eps / CLUSTER_SQ = 1.5e-8 of the SVD's, and usually much closer.
 * Returns 0, or -1 with *rc and err. */
#define CLUSTER_SQ 1.4901161193847656e-08 /* sqrt(DBL_EPSILON) */

static int resolve_clusters(const double *m, size_t ra, size_t rb, size_t kk, const double *s,
                            double *u, pw_err *err, int *rc)
{
    size_t *start = pw_array_alloc(kk + 1, sizeof(size_t));
    if (!start) {
        *rc = -1;
        return pw_err_set(err, "out of memory for the %zu x %zu canonical problem", ra, rb);
    }
    size_t ng = groups(s, kk, CLUSTER_SQ, 1, start);
    int ret = 0;
    for (size_t gi = 0; gi < ng && ret == 0; gi++) {
        size_t i0 = start[gi], g = start[gi + 1] - i0;
        if (g < 2)
            continue;
        /* C (g x rb), P (g x g), its values (g), U_G P (ra x g), Q^T (g x rb). */
        double *c = pw_array_alloc(g * (rb + g + 1 + ra + rb), sizeof(double));
        if (!c) {
            *rc = -1;
            ret = pw_err_set(err, "out of memory for the %zu x %zu canonical problem", ra, rb);
            break;
        }
        double *pm = c + g * rb, *sv = pm + g * g;
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)g, (int)rb, (int)ra, 1.0,
                    u + i0 * ra, (int)ra, m, (int)ra, 0.0, c, (int)g);
        double *ug = sv + g, *qt = ug + ra * g;
        lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'S', (lapack_int)g, (lapack_int)rb, c,
                                         (lapack_int)g, sv, pm, (lapack_int)g, qt, (lapack_int)g);
        if (info != 0) {
            pw_err_set(err,
                       "LAPACK dgesdd failed with info = %d on a cluster of %zu canonical "
                       "correlations",
                       (int)info, g);
            *rc = 1;
            ret = -1;
            free(c);
            break;
        }
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)ra, (int)g, (int)g, 1.0,
                    u + i0 * ra, (int)ra, pm, (int)g, 0.0, ug, (int)ra);
        memcpy(u + i0 * ra, ug, ra * g * sizeof(double));
        free(c);
    }
    free(start);
    return ret;
}

static int left_vectors(const double *m, size_t ra, size_t rb, size_t kk, unsigned threads,
                        double *s, double *u, pw_err *err, int *rc)
{
    double *mc = pw_keep_alloc(ra * rb, sizeof(double));
    double *e = pw_keep_alloc(ra * ra, sizeof(double)), *ev = pw_array_alloc(ra, sizeof(double));
    int ret = -1;
    *rc = -1;
    if (!mc || !e || !ev) {
        pw_err_set(err, "out of memory for the %zu x %zu canonical problem", ra, rb);
        goto out;
    }
    memcpy(mc, m, ra * rb * sizeof(double));
    svd_job job = {mc, ra, rb, s, 0};
    pthread_t th;
    int threaded = threads > 1 && pthread_create(&th, NULL, svd_values, &job) == 0;
    cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, (int)ra, (int)rb, 1.0, m, (int)ra, 0.0, e,
                (int)ra);
    lapack_int info =
        LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'U', (lapack_int)ra, e, (lapack_int)ra, ev);
    if (threaded)
        pthread_join(th, NULL);
    else
        svd_values(&job);
    if (job.info != 0 || info != 0) {
        pw_err_set(err, "LAPACK %s failed with info = %d on the %zu x %zu canonical problem",
                   job.info ? "dgesdd" : "dsyevd", (int)(job.info ? job.info : info), ra, rb);
        *rc = 1;
        goto out;
    }
    /* dsyevd's eigenvalues ascend: the largest rho^2 is the last column. */
    for (size_t i = 0; i < kk; i++)
        memcpy(u + i * ra, e + (ra - 1 - i) * ra, ra * sizeof(double));
    if (resolve_clusters(m, ra, rb, kk, s, u, err, rc) != 0)
        goto out;
    ret = 0;
    *rc = 0;
out:
    pw_keep_free(mc, ra * rb, sizeof(double));
    pw_keep_free(e, ra * ra, sizeof(double));
    free(ev);
    return ret;
}

int pw_cca_canonical(const pw_side *x, const pw_side *y, const double *sxy, char weights,
                     unsigned threads, double **rho, size_t *k, size_t *ntied, double *pwcca,
                     pw_err *err)
{
    assert(x->whitened && y->whitened);
    /* Side a carries the weights (X when none are wanted); M is oriented a x b. */
    int a_is_y = weights == 'Y';
    const pw_side *a = a_is_y ? y : x, *b = a_is_y ? x : y;
    size_t pa = a->p_kept, pb = b->p_kept, ra = a->rank, rb = b->rank;
    size_t kk = ra < rb ? ra : rb;
    *rho = NULL;
    *k = 0;
    /* The large temporaries come from pw_keep: fresh pages cost more than
     * the products at a few hundred neurons.  t and m swap below only when
     * pa == ra, so each is given back with its own size. */
    double *t = pw_keep_alloc(pa * rb, sizeof(double));
    double *m = pw_keep_alloc(ra * rb, sizeof(double));
    double *s = pw_array_alloc(kk, sizeof(double));
    double *u = NULL, *g = NULL, *la = NULL;
    size_t *start = pw_array_alloc(kk + 1, sizeof(size_t));
    int rc = -1;
    *ntied = 0;
    if (!t || !m || !s || !start)
        goto oom;
    if (kk == 0)
        goto done;
    /* T = S_ab W_b, M = W_a^T T: a triangular W (pw_side.h) is applied in
     * place with half the flops of a product. */
    if (b->chol) {
        for (size_t c = 0; c < pb; c++)
            for (size_t r = 0; r < pa; r++)
                t[c * pa + r] = a_is_y ? sxy[r * pb + c] : sxy[c * pa + r];
        cblas_dtrmm(CblasColMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, (int)pa,
                    (int)rb, 1.0, b->w, (int)pb, t, (int)pa);
    } else if (!a_is_y) {
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)pa, (int)rb, (int)pb, 1.0, sxy,
                    (int)pa, b->w, (int)pb, 0.0, t, (int)pa);
    } else {
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)pa, (int)rb, (int)pb, 1.0, sxy,
                    (int)pb, b->w, (int)pb, 0.0, t, (int)pa);
    }
    if (a->chol) {
        cblas_dtrmm(CblasColMajor, CblasLeft, CblasUpper, CblasTrans, CblasNonUnit, (int)ra,
                    (int)rb, 1.0, a->w, (int)pa, t, (int)pa);
        double *swap = m;
        m = t;
        t = swap;
    } else {
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)ra, (int)rb, (int)pa, 1.0, a->w,
                    (int)pa, t, (int)pa, 0.0, m, (int)ra);
    }
    pw_keep_free(t, pa * rb, sizeof(double));
    t = NULL;

    if (weights) {
        u = pw_keep_alloc(ra * kk, sizeof(double));
        if (!u)
            goto oom;
        if (left_vectors(m, ra, rb, kk, threads, s, u, err, &rc) != 0)
            goto out;
    } else {
        svd_job job = {m, ra, rb, s, 0};
        svd_values(&job);
        if (job.info != 0) {
            pw_err_set(err,
                       "LAPACK dgesdd failed with info = %d on the %zu x %zu canonical problem",
                       (int)job.info, ra, rb);
            rc = 1;
            goto out;
        }
    }
    for (size_t i = 0; i < kk; i++)
        s[i] = clamp01(s[i]);
    double tol = pw_cca_tie_tolerance(pa, pb);
    size_t ng = pw_cca_tie_groups(s, kk, tol, start);
    for (size_t gi = 0; gi < ng; gi++)
        if (start[gi + 1] - start[gi] > 1)
            *ntied += start[gi + 1] - start[gi];

    if (weights) {
        /* <h_i, x_j> = (S W a_i)_j, kept as G_ji = d_j^2 <h_i, x_j> so that
         * both whitenings need no product with S: S W = D^-1 V L^1/2 for the
         * eigenvalue one, G = W (L A); S W = D^-1 R^T for the Cholesky one,
         * G = D R^T A. */
        g = pw_keep_alloc(pa * kk, sizeof(double));
        if (!g)
            goto oom;
        if (a->chol) {
            /* R^T = (its strictly lower part stored in w) + diag(rdiag). */
            memcpy(g, u, pa * kk * sizeof(double));
            cblas_dtrmm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasUnit, (int)pa,
                        (int)kk, 1.0, a->w, (int)pa, g, (int)pa);
            for (size_t i = 0; i < kk; i++)
                for (size_t l = 0; l < pa; l++)
                    g[i * pa + l] = a->d[l] * (g[i * pa + l] + (a->rdiag[l] - 1.0) * u[i * ra + l]);
        } else {
            if (!(la = pw_array_alloc(ra * kk, sizeof(double))))
                goto oom;
            for (size_t i = 0; i < kk; i++)
                for (size_t l = 0; l < ra; l++)
                    la[i * ra + l] = a->lambda[l] * u[i * ra + l];
            cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)pa, (int)kk, (int)ra, 1.0,
                        a->w, (int)pa, la, (int)ra, 0.0, g, (int)pa);
        }
        double num = 0, den = 0;
        for (size_t gi = 0; gi < ng; gi++) {
            size_t i0 = start[gi], i1 = start[gi + 1];
            double alpha = group_weight(g, a->d, pa, i0, i1), r = 0;
            for (size_t i = i0; i < i1; i++)
                r += s[i];
            num += alpha * (r / (double)(i1 - i0));
            den += alpha;
        }
        *pwcca = num / den;
    }
done:
    *rho = s;
    *k = kk;
    s = NULL;
    rc = 0;
    goto out;
oom:
    pw_err_set(err, "out of memory for the %zu x %zu canonical problem", ra, rb);
out:
    pw_keep_free(t, pa * rb, sizeof(double));
    pw_keep_free(m, ra * rb, sizeof(double));
    free(s);
    pw_keep_free(u, ra * kk, sizeof(double));
    free(la);
    pw_keep_free(g, pa * kk, sizeof(double));
    free(start);
    return rc;
}

/* Columns of v (rows x kcols) divided by sqrt(scale * lam_c): the whitening of
 * a reduced SVCCA side, whose Gram is diagonal. */
static double *scaled_basis(const pw_side *sd)
{
    size_t rows = sd->p_kept, kc = sd->svcca_k;
    double *out = pw_array_alloc(rows * kc, sizeof(double));
    if (!out)
        return NULL;
    for (size_t c = 0; c < kc; c++) {
        double f = 1.0 / (sqrt(sd->raw_scale) * sqrt(sd->raw_lambda[c]));
        for (size_t r = 0; r < rows; r++)
            out[c * rows + r] = sd->raw_v[c * rows + r] * f;
    }
    return out;
}

int pw_cca_svcca(const pw_side *x, const pw_side *y, const double *sxy, double *svcca, pw_err *err)
{
    assert(x->svcca_ready && y->svcca_ready);
    size_t px = x->p_kept, qy = y->p_kept, kx = x->svcca_k, ky = y->svcca_k;
    size_t kk = kx < ky ? kx : ky;
    *svcca = NAN;
    if (kk == 0)
        return 0;
    double *bx = scaled_basis(x), *by = scaled_basis(y);
    double *c1 = pw_array_alloc(px * ky, sizeof(double)),
           *m = pw_array_alloc(kx * ky, sizeof(double));
    double *s = pw_array_alloc(kk, sizeof(double));
    int rc = -1;
    if (!bx || !by || !c1 || !m || !s) {
        pw_err_set(err, "out of memory for the %zu x %zu SVCCA problem", kx, ky);
        goto out;
    }
    /* The reduced sides have Grams L_x, L_y and cross Gram V_x^T Sxy V_y;
     * whitened, that is bx^T Sxy by. */
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)px, (int)ky, (int)qy, 1.0, sxy,
                (int)px, by, (int)qy, 0.0, c1, (int)px);
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)kx, (int)ky, (int)px, 1.0, bx,
                (int)px, c1, (int)px, 0.0, m, (int)kx);
    double dummy = 0;
    lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', (lapack_int)kx, (lapack_int)ky, m,
                                     (lapack_int)kx, s, &dummy, 1, &dummy, 1);
    if (info != 0) {
        pw_err_set(err, "LAPACK dgesdd failed with info = %d on the %zu x %zu SVCCA problem",
                   (int)info, kx, ky);
        rc = 1;
        goto out;
    }
    double sum = 0;
    for (size_t i = 0; i < kk; i++)
        sum += clamp01(s[i]);
    *svcca = sum / (double)kk;
    rc = 0;
out:
    free(bx);
    free(by);
    free(c1);
    free(m);
    free(s);
    return rc;
}

double pw_cca_cka(const pw_side *x, const pw_side *y, const double *sxy)
{
    size_t px = x->p_kept, qy = y->p_kept;
    double nx = pw_frobenius(x->gram, px, px, px), ny = pw_frobenius(y->gram, qy, qy, qy);
    double nxy = pw_frobenius(sxy, px, qy, px);
    if (!(nx > 0) || !(ny > 0))
        return NAN;
    /* Two ratios rather than nxy^2 / (nx ny): nothing here can overflow. */
    double c = (nxy / nx) * (nxy / ny);
    return clamp01(c);
}

double pw_cca_cka_debiased(const pw_side *x, const pw_side *y, const double *sxy, double ab,
                           uint64_t n)
{
    size_t px = x->p_kept, qy = y->p_kept;
    if (!x->deb_ready || !y->deb_ready)
        return NAN;
    double nx = pw_frobenius(x->gram, px, px, px), ny = pw_frobenius(y->gram, qy, qy, qy);
    double nxy = pw_frobenius(sxy, px, qy, px);
    if (!(nx > 0) || !(ny > 0))
        return NAN;
    return pw_cca_debiased_from((nxy / nx) * (nxy / ny), nx, ny, x->deb_a1, x->deb_a2, y->deb_a1,
                                y->deb_a2, ab, n);
}

double pw_cca_debiased_from(double rxy, double nx, double ny, double a1x, double a2x, double a1y,
                            double a2y, double ab, uint64_t n)
{
    if (n < 4 || !(nx > 0) || !(ny > 0))
        return NAN;
    /* Every term divided by ||Sxx||_F ||Syy||_F (or its square), as pw_cca_cka
     * does, so that no product overflows. */
    double dn = (double)n, c1 = dn / (dn - 2), c2 = 1 / ((dn - 1) * (dn - 2));
    double ax = a1x / nx, ay = a1y / ny;
    double hxy = rxy - c1 * (ab / nx) / ny + c2 * ax * ay;
    double hxx = 1 - c1 * (a2x / nx) / nx + c2 * ax * ax;
    double hyy = 1 - c1 * (a2y / ny) / ny + c2 * ay * ay;
    if (!(hxx > 0) || !(hyy > 0))
        return NAN;
    return hxy / sqrt(hxx * hyy);
}

/* Trace of a side's kept Gram. */
static double gram_trace(const pw_side *s)
{
    double t = 0;
    for (size_t j = 0; j < s->p_kept; j++)
        t += s->gram[j * s->p_kept + j];
    return t;
}

int pw_cca_procrustes(const pw_side *x, const pw_side *y, const double *sxy, double *theta,
                      pw_err *err)
{
    return pw_cca_procrustes_from(gram_trace(x), gram_trace(y), sxy, x->p_kept, y->p_kept, theta,
                                  err);
}

int pw_cca_procrustes_from(double tx, double ty, const double *sxy, size_t px, size_t qy,
                           double *theta, pw_err *err)
{
    size_t k = px < qy ? px : qy;
    *theta = NAN;
    if (!(tx > 0) || !(ty > 0) || k == 0)
        return 0;
    double *m = pw_array_alloc(px * qy, sizeof(double)), *s = pw_array_alloc(k, sizeof(double));
    int rc = -1;
    if (!m || !s) {
        pw_err_set(err, "out of memory for the %zu x %zu Procrustes problem", px, qy);
        goto out;
    }
    memcpy(m, sxy, px * qy * sizeof(double));
    double dummy = 0;
    lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', (lapack_int)px, (lapack_int)qy, m,
                                     (lapack_int)px, s, &dummy, 1, &dummy, 1);
    if (info != 0) {
        pw_err_set(err, "LAPACK dgesdd failed with info = %d on the %zu x %zu Procrustes problem",
                   (int)info, px, qy);
        rc = 1;
        goto out;
    }
    /* Smallest first: the sum loses least. */
    double nuc = 0;
    for (size_t i = k; i-- > 0;)
        nuc += s[i];
    double c = (nuc / sqrt(tx)) / sqrt(ty);
    *theta = acos(c < 1 ? c : 1);
    rc = 0;
out:
    free(m);
    free(s);
    return rc;
}
