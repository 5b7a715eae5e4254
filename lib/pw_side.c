/* pw_side.c -- per-layer state: kept columns, centred Gram, whitening and
 * SVCCA basis (see pw_side.h for the mathematics). */
#include "pw_side.h"

#include <assert.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pw_array.h"
#include "pw_cca.h"
#include "pw_keep.h"
#include "pw_limits.h"

static uint64_t count_built, count_whitened, count_svcca; /* pw_side_counts, atomically */

void pw_side_counts_get(pw_side_counts *out)
{
    out->built = __atomic_load_n(&count_built, __ATOMIC_RELAXED);
    out->whitened = __atomic_load_n(&count_whitened, __ATOMIC_RELAXED);
    out->svcca = __atomic_load_n(&count_svcca, __ATOMIC_RELAXED);
}

pw_side *pw_side_build(uint64_t n, size_t p, const double *mean, const double *min,
                       const double *max, const double *g, size_t ld, pw_err *err)
{
    pw_side *s = calloc(1, sizeof *s);
    if (!s)
        return pw_err_set(err, "out of memory for a layer's state"), NULL;
    s->n = n;
    s->p = p;
    s->mean = pw_array_alloc(p, sizeof(double));
    s->kept = pw_array_alloc(p, sizeof(uint32_t));
    if (!s->mean || !s->kept)
        goto oom;
    memcpy(s->mean, mean, p * sizeof(double));
    /* Dead exactly when the raw values never differ: min < max is false for a
     * constant column, and for no rows at all (min = +inf, max = -inf). */
    for (size_t j = 0; j < p; j++)
        if (min[j] < max[j])
            s->kept[s->p_kept++] = (uint32_t)j;
    size_t k = s->p_kept;
    s->gram = pw_keep_alloc(k * k, sizeof(double));
    if (!s->gram)
        goto oom;
    for (size_t b = 0; b < k; b++)
        for (size_t a = 0; a <= b; a++) {
            double v = g[(size_t)s->kept[b] * ld + s->kept[a]];
            s->gram[b * k + a] = v;
            s->gram[a * k + b] = v;
        }
    __atomic_fetch_add(&count_built, 1, __ATOMIC_RELAXED);
    return s;
oom:
    pw_side_free(s);
    pw_err_set(err, "out of memory for the Gram of %zu neurons", p);
    return NULL;
}

void pw_side_free(pw_side *s)
{
    if (!s)
        return;
    free(s->kept);
    free(s->mean);
    pw_keep_free(s->gram, s->p_kept * s->p_kept, sizeof(double));
    free(s->d);
    free(s->lambda);
    free(s->rdiag);
    free(s->w);
    free(s->raw_lambda);
    free(s->raw_v);
    free(s->phi);
    pw_side_free(s->inner);
    pw_keep_free(s->nn, s->nn ? s->n * s->n : 0, sizeof(double));
    free(s);
}

size_t pw_side_bytes(const pw_side *s)
{
    if (!s)
        return 0;
    size_t k = s->p_kept;
    size_t b = sizeof *s + s->p * (sizeof(double) + sizeof(uint32_t));
    if (s->gram)
        b += k * k * sizeof(double);
    if (s->phi)
        b += s->n * s->k * sizeof(double) + pw_side_bytes(s->inner);
    if (s->nn)
        b += s->n * s->n * sizeof(double);
    if (s->whitened)
        b += (k + s->rank + k * s->rank) * sizeof(double);
    if (s->svcca_ready)
        b += (s->svcca_k + k * s->svcca_k) * sizeof(double);
    return b;
}

/* Does the eigenvalue route keep every direction of c (k x k)?  Its own
 * criterion on eigenvalues alone (dsyevd without vectors, a third of the cost
 * with them).  Returns 1 or 0, -1 when memory ran out. */
static int all_above_cut(const double *c, size_t k)
{
    double *e = pw_keep_alloc(k * k, sizeof(double)), *ev = pw_array_alloc(k, sizeof(double));
    int rc = -1;
    if (e && ev) {
        memcpy(e, c, k * k * sizeof(double));
        rc = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'N', 'U', (lapack_int)k, e, (lapack_int)k, ev) == 0 &&
             ev[k - 1] > 0 && ev[0] > PW_RANK_REL_EIG * ev[k - 1];
    }
    pw_keep_free(e, k * k, sizeof(double));
    free(ev);
    return rc;
}

/* The Cholesky whitening of the equilibrated Gram c (k x k, full), when C is
 * full rank in the sense of PW_RANK_REL_EIG (see pw_side.h).  Most layers
 * are proven so by bounds that cost O(k^2) once R^-1 is known:
 * lambda_min >= 1 / trace(C^-1) = 1 / ||R^-1||_F^2 and lambda_max <= ||C||_F
 * and <= ||C||_1; the rest ask the eigenvalues (all_above_cut).
 * r is k x k scratch.  Returns 1 when taken, 0 when the eigenvalue route is
 * needed (a failed factorization or a cut direction is not an error: that
 * route decides the rank, and reports LAPACK's complaints), -1 when memory
 * ran out. */
static int whiten_cholesky(pw_side *s, const double *c, double *r)
{
    size_t k = s->p_kept;
    memcpy(r, c, k * k * sizeof(double));
    if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', (lapack_int)k, r, (lapack_int)k) != 0)
        return 0;
    s->w = pw_array_alloc(k * k, sizeof(double));
    s->rdiag = pw_array_alloc(k, sizeof(double));
    if (!s->w || !s->rdiag)
        return -1;
    /* R^T's strictly lower part goes below w's diagonal, R's diagonal apart. */
    for (size_t b = 0; b < k; b++) {
        s->rdiag[b] = r[b * k + b];
        for (size_t a = 0; a < b; a++)
            s->w[a * k + b] = r[b * k + a];
    }
    if (LAPACKE_dtrtri(LAPACK_COL_MAJOR, 'U', 'N', (lapack_int)k, r, (lapack_int)k) != 0)
        return 0;
    /* An overflowing sum makes the bound 0 and a NaN fails the test: both
     * leave the decision to the eigenvalue route. */
    double inv_sq = 0;
    for (size_t b = 0; b < k; b++)
        for (size_t a = 0; a <= b; a++)
            inv_sq += r[b * k + a] * r[b * k + a];
    double top = pw_frobenius(c, k, k, k);
    for (size_t b = 0; b < k; b++) { /* ||C||_1 bounds lambda_max too; take the tighter */
        double col = 0;
        for (size_t a = 0; a < k; a++)
            col += fabs(c[b * k + a]);
        top = col < top ? col : top;
    }
    double bound = 1.0 / (inv_sq * top);
    if (!(bound > PW_RANK_REL_EIG * PW_CHOL_MARGIN)) {
        int full = all_above_cut(c, k);
        if (full != 1)
            return full;
    }
    for (size_t b = 0; b < k; b++)
        for (size_t a = 0; a <= b; a++)
            s->w[b * k + a] = s->d[a] * r[b * k + a];
    s->rank = k;
    s->chol = 1;
    return 1;
}

/* The eigenvalue whitening of c (destroyed).  Returns 0, 1 when LAPACK
 * failed, -1 when memory ran out. */
static int whiten_eigen(pw_side *s, char name, double *c, pw_err *err)
{
    size_t k = s->p_kept;
    double *ev = pw_array_alloc(k, sizeof(double));
    if (!ev)
        return -1;
    lapack_int info =
        LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'U', (lapack_int)k, c, (lapack_int)k, ev);
    if (info != 0) {
        free(ev);
        pw_err_set(err, "LAPACK dsyevd failed with info = %d while whitening %c (p_kept = %zu)",
                   (int)info, name, k);
        return 1;
    }
    /* ev is ascending: the rank is the number of eigenvalues above the cut. */
    double top = ev[k - 1], cut = PW_RANK_REL_EIG * top;
    size_t r = 0;
    while (r < k && top > 0 && ev[k - 1 - r] > cut)
        r++;
    s->lambda = pw_array_alloc(r, sizeof(double));
    s->w = pw_array_alloc(k * r, sizeof(double));
    if (!s->lambda || !s->w) {
        free(ev);
        return -1;
    }
    for (size_t col = 0; col < r; col++) {
        size_t src = k - 1 - col;
        double l = ev[src], sc = 1.0 / sqrt(l);
        s->lambda[col] = l;
        for (size_t i = 0; i < k; i++)
            s->w[col * k + i] = s->d[i] * c[src * k + i] * sc;
    }
    s->rank = r;
    free(ev);
    return 0;
}

static void drop_whitening(pw_side *s)
{
    free(s->d);
    free(s->lambda);
    free(s->rdiag);
    free(s->w);
    s->d = s->lambda = s->rdiag = s->w = NULL;
    s->chol = 0;
    s->rank = 0;
}

int pw_side_whiten(pw_side *s, char name, pw_err *err)
{
    if (s->whitened)
        return 0;
    size_t k = s->p_kept;
    assert(k > 0);
    double *c = pw_keep_alloc(k * k, sizeof(double)), *r = pw_keep_alloc(k * k, sizeof(double));
    s->d = pw_array_alloc(k, sizeof(double));
    int rc = -1;
    if (!c || !r || !s->d)
        goto out;
    for (size_t j = 0; j < k; j++) {
        double sjj = s->gram[j * k + j];
        s->d[j] = sjj > 0 ? 1.0 / sqrt(sjj) : 0.0;
    }
    for (size_t b = 0; b < k; b++)
        for (size_t a = 0; a < k; a++)
            c[b * k + a] = s->d[a] * s->gram[b * k + a] * s->d[b];
    rc = whiten_cholesky(s, c, r);
    if (rc == 0) {
        free(s->w);
        free(s->rdiag);
        s->w = s->rdiag = NULL;
        rc = whiten_eigen(s, name, c, err);
    } else if (rc == 1) {
        rc = 0;
    }
out:
    pw_keep_free(c, k * k, sizeof(double));
    pw_keep_free(r, k * k, sizeof(double));
    if (rc == -1)
        pw_err_set(err, "out of memory whitening %c (p_kept = %zu)", name, k);
    if (rc != 0)
        drop_whitening(s);
    else
        s->whitened = 1;
    __atomic_fetch_add(&count_whitened, 1, __ATOMIC_RELAXED);
    return rc;
}

int pw_side_svcca_basis(pw_side *s, char name, pw_err *err)
{
    if (s->svcca_ready)
        return 0;
    size_t k = s->p_kept;
    assert(k > 0);
    double scale = 0;
    for (size_t j = 0; j < k; j++)
        scale = s->gram[j * k + j] > scale ? s->gram[j * k + j] : scale;
    double *e = pw_array_alloc(k * k, sizeof(double)), *ev = pw_array_alloc(k, sizeof(double));
    int rc = -1;
    if (!e || !ev) {
        pw_err_set(err, "out of memory for the SVCCA basis of %c (p_kept = %zu)", name, k);
        goto out;
    }
    /* Scaled by the largest variance so that no sum below can overflow. */
    double inv = scale > 0 ? 1.0 / scale : 0.0;
    for (size_t i = 0; i < k * k; i++)
        e[i] = s->gram[i] * inv;
    lapack_int info =
        LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'U', (lapack_int)k, e, (lapack_int)k, ev);
    if (info != 0) {
        pw_err_set(err, "LAPACK dsyevd failed with info = %d in SVCCA for %c (p_kept = %zu)",
                   (int)info, name, k);
        rc = 1;
        goto out;
    }
    /* s_i^2 of the centred matrix are the eigenvalues; rounding can leave the
     * null ones slightly negative, which carry no variance. */
    double total = 0;
    for (size_t i = 0; i < k; i++)
        total += ev[i] > 0 ? ev[i] : 0;
    size_t nk = 0;
    double cum = 0;
    while (nk < k && ev[k - 1 - nk] > 0) {
        cum += ev[k - 1 - nk];
        nk++;
        if (cum >= PW_SVCCA_KEEP * total)
            break;
    }
    s->raw_lambda = pw_array_alloc(nk, sizeof(double));
    s->raw_v = pw_array_alloc(nk * k, sizeof(double));
    if (!s->raw_lambda || !s->raw_v) {
        pw_err_set(err, "out of memory for the SVCCA basis of %c (p_kept = %zu)", name, k);
        goto out;
    }
    for (size_t c = 0; c < nk; c++) {
        s->raw_lambda[c] = ev[k - 1 - c];
        memcpy(s->raw_v + c * k, e + (k - 1 - c) * k, k * sizeof(double));
    }
    s->svcca_k = nk;
    s->raw_scale = scale;
    s->svcca_ready = 1;
    __atomic_fetch_add(&count_svcca, 1, __ATOMIC_RELAXED);
    rc = 0;
out:
    free(e);
    free(ev);
    if (rc != 0) {
        free(s->raw_lambda);
        free(s->raw_v);
        s->raw_lambda = s->raw_v = NULL;
    }
    return rc;
}
