/* pw_reduced.c -- the reduced mode's eigensolver, projection pass and wide
 * (n x n) Gram (pw_reduced.h says what each is for).
 *
 * The eigensolver.  K is chosen from eigenvalues (the rank cap for dims:K,
 * the variance share for var:F), so all eigenvalues are needed but only K
 * vectors.  dsyevr with range 'I' would need K before it starts, so var:F
 * would pay two tridiagonal reductions (values, then vectors); instead one
 * dsytrd (4/3 k^3, the dominant cost), dsterf on a copy of the tridiagonal
 * for every eigenvalue (O(k^2)), dstemr for the K vectors wanted (O(k K),
 * the MRRR algorithm dsyevr itself uses) and dormtr to carry them back
 * (2 k^2 K): what dsyevr does, with the choice of K in the middle.
 *
 * Reading rows.  Both passes take rows in chunks from the start, in order,
 * one read call at a time (pw_rows' contract), straight from memory when
 * pw_rows_direct allows it (F32 converted on the fly), and ask `cancelled`
 * before each chunk. */
#include "pw_reduced.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pw_array.h"
#include "pw_keep.h"
#include "pw_limits.h"

#define READ_DOUBLES  (1u << 20) /* doubles per chunk read through pw_rows.read (8 MiB) */
#define MIN_ROWS      64         /* fewer rows per dgemm lose BLAS-3 efficiency */
#define BLOCK_DOUBLES (1u << 18) /* a wide block holds at least this many doubles (n x B) */
#define LAPACK_NB     64         /* block size allowed for in LAPACK's workspaces */

int pw_reduced_wide(uint64_t n, uint64_t p)
{
    return p > n;
}

/* ---- rows -------------------------------------------------------------------- */

/* A row source as the passes read it. */
typedef struct src {
    const pw_rows *r;            /* the rows */
    char name;                   /* 'X' or 'Y' */
    const unsigned char *direct; /* rows in memory (pw_rows_direct), or NULL */
    pw_dtype dt;                 /* their type (F64 when read) */
    size_t m;                    /* rows per chunk */
    double *buf;                 /* m x p doubles for pw_rows.read, else NULL */
} src;

/* Rows per chunk: about READ_DOUBLES, at least MIN_ROWS (within n and the
 * caller's chunk_rows). */
static size_t chunk_rows(const pw_rows *r)
{
    uint64_t p = r->ncols ? r->ncols : 1, m = READ_DOUBLES / p;
    if (m < MIN_ROWS)
        m = MIN_ROWS;
    if (m > PW_CHUNK_ROWS)
        m = PW_CHUNK_ROWS;
    if (r->chunk_rows && r->chunk_rows < m)
        m = r->chunk_rows;
    if (m > r->nrows)
        m = r->nrows;
    return m ? (size_t)m : 1;
}

static int src_open(src *s, const pw_rows *r, char name, pw_err *err)
{
    memset(s, 0, sizeof *s);
    s->r = r;
    s->name = name;
    s->m = chunk_rows(r);
    s->direct = pw_rows_direct(r, &s->dt);
    if (s->direct)
        return 0;
    s->dt = PW_DT_F64;
    s->buf = pw_keep_alloc(s->m * r->ncols, sizeof(double));
    if (!s->buf)
        return pw_err_set(err, "out of memory for %zu rows of %c (%llu columns)", s->m, name,
                          (unsigned long long)r->ncols);
    return 0;
}

static void src_close(src *s)
{
    pw_keep_free(s->buf, s->m * s->r->ncols, sizeof(double));
    s->buf = NULL;
}

/* Rows row0 .. row0 + mr of s, as raw bytes of type s->dt. */
static int src_fetch(src *s, uint64_t row0, size_t mr, const unsigned char **out, pw_err *err)
{
    const pw_rows *r = s->r;
    *out = NULL;
    if (r->cancelled && r->cancelled(r->cancel_ctx)) {
        pw_err_set(err, "the reduced pass was cancelled at %c row %llu", s->name,
                   (unsigned long long)row0);
        return -1; /* pw_err_set returns -1; said here for the analyzer */
    }
    if (s->direct) {
        *out = s->direct + row0 * r->ncols * pw_dtype_size(s->dt);
        return 0;
    }
    if (r->read(r->ctx, row0, mr, s->buf, err) != 0) {
        pw_err_prefix(err, "reading %c rows %llu..%llu", s->name, (unsigned long long)row0,
                      (unsigned long long)row0 + mr);
        return -1;
    }
    *out = (const unsigned char *)s->buf;
    return 0;
}

/* Value j of a row of F32 or F64. */
static inline double val(const unsigned char *row, int f32, size_t j)
{
    if (f32) {
        float f;
        memcpy(&f, row + j * sizeof f, sizeof f);
        return (double)f;
    }
    double d;
    memcpy(&d, row + j * sizeof d, sizeof d);
    return d;
}

/* ---- eigenvectors -------------------------------------------------------------- */

/* How many of the eigenvalues w (ascending, k) the mode keeps. */
static size_t choose_k(const double *w, size_t k, const pw_reduce *mode)
{
    if (k == 0)
        return 0;
    double top = w[k - 1], cut = PW_RANK_REL_EIG * top;
    size_t rank = 0;
    while (rank < k && top > 0 && w[k - 1 - rank] > cut)
        rank++;
    if (mode->kind == PW_REDUCE_DIMS)
        return mode->dims < rank ? (size_t)mode->dims : rank;
    /* var:F: the total is the trace (the sum of squared singular values);
     * rounding leaves null eigenvalues slightly negative, which hold none. */
    double total = 0, cum = 0;
    for (size_t i = 0; i < k; i++)
        total += w[i] > 0 ? w[i] : 0;
    size_t kk = 0;
    while (kk < rank) {
        cum += w[k - 1 - kk];
        kk++;
        if (cum >= mode->var * total)
            break;
    }
    return kk;
}

int pw_reduced_eig(double *a, size_t k, const pw_reduce *mode, char name, size_t *kk, double **lam,
                   double **v, pw_err *err)
{
    *kk = 0;
    *lam = *v = NULL;
    if (k == 0)
        return 0;
    size_t k1 = k + 1;
    double *d = pw_array_alloc(k1, sizeof(double)), *e = pw_array_alloc(k1, sizeof(double));
    double *tau = pw_array_alloc(k1, sizeof(double)), *w = pw_array_alloc(k1, sizeof(double));
    double *e2 = pw_array_alloc(k1, sizeof(double)), *z = NULL, *wz = NULL;
    lapack_int *isuppz = NULL;
    int rc = -1;
    if (!d || !e || !tau || !w || !e2)
        goto out;
    lapack_int n = (lapack_int)k, info = LAPACKE_dsytrd(LAPACK_COL_MAJOR, 'U', n, a, n, d, e, tau);
    if (info != 0) {
        pw_err_set(err, "LAPACK dsytrd failed with info = %d reducing %c (%zu directions)",
                   (int)info, name, k);
        rc = 1;
        goto out;
    }
    e[k - 1] = 0;
    memcpy(w, d, k * sizeof(double));
    memcpy(e2, e, k * sizeof(double));
    if ((info = LAPACKE_dsterf(n, w, e2)) != 0) {
        pw_err_set(err, "LAPACK dsterf failed with info = %d reducing %c (%zu directions)",
                   (int)info, name, k);
        rc = 1;
        goto out;
    }
    size_t want = choose_k(w, k, mode);
    if (want == 0) {
        rc = 0;
        goto out;
    }
    z = pw_array_alloc(k * want, sizeof(double));
    wz = pw_array_alloc(k, sizeof(double)); /* dstemr's W has room for all k */
    isuppz = pw_array_alloc(2 * want, sizeof(lapack_int));
    if (!z || !wz || !isuppz)
        goto out;
    lapack_int got = 0, tryrac = 1;
    info = LAPACKE_dstemr(LAPACK_COL_MAJOR, 'V', 'I', n, d, e, 0, 0, (lapack_int)(k - want + 1), n,
                          &got, wz, z, n, (lapack_int)want, isuppz, &tryrac);
    if (info == 0 && (size_t)got != want)
        info = -1000;
    if (info == 0)
        info =
            LAPACKE_dormtr(LAPACK_COL_MAJOR, 'L', 'U', 'N', n, (lapack_int)want, a, n, tau, z, n);
    if (info != 0) {
        pw_err_set(err,
                   "LAPACK dstemr/dormtr failed with info = %d for the top %zu directions of %c",
                   (int)info, want, name);
        rc = 1;
        goto out;
    }
    /* Ascending from LAPACK; descending here, largest first. */
    for (size_t c = 0; c < want / 2; c++) {
        size_t o = want - 1 - c;
        double t = wz[c];
        wz[c] = wz[o];
        wz[o] = t;
        for (size_t i = 0; i < k; i++) {
            t = z[c * k + i];
            z[c * k + i] = z[o * k + i];
            z[o * k + i] = t;
        }
    }
    *kk = want;
    *lam = wz;
    *v = z;
    wz = z = NULL;
    rc = 0;
out:
    if (rc == -1)
        pw_err_set(err, "out of memory for the top directions of %c (%zu columns)", name, k);
    free(d);
    free(e);
    free(tau);
    free(w);
    free(e2);
    free(z);
    free(wz);
    free(isuppz);
    return rc;
}

uint64_t pw_reduced_eig_doubles(uint64_t k, uint64_t kk)
{
    /* d, e, tau, w, e2 (k + 1 each), the vectors and values, isuppz; then
     * LAPACKE's workspaces: dsytrd's k x NB, dstemr's 18 k + 10 k ints,
     * dormtr's kk x NB. */
    uint64_t own =
        pw_sat_add(pw_sat_mul(k + 1, 5), pw_sat_add(pw_sat_mul(k, kk), pw_sat_mul(kk, 3)));
    uint64_t lap = pw_sat_add(pw_sat_mul(k, LAPACK_NB + 28), pw_sat_mul(kk, LAPACK_NB));
    return pw_sat_add(own, lap);
}

/* ---- the narrow route's projection ------------------------------------------------ */

int pw_reduced_project(const pw_rows *r, char name, const uint32_t *kept, size_t p_kept,
                       const double *mean, const double *v, size_t kk, double *phi, pw_err *err)
{
    uint64_t n = r->nrows;
    if (kk == 0 || n == 0)
        return 0;
    src s;
    if (src_open(&s, r, name, err) != 0)
        return -1;
    size_t m = s.m, p = r->ncols;
    double *zc = pw_keep_alloc(m * p_kept, sizeof(double)), *km = pw_array_alloc(p_kept, 8);
    int rc = -1, f32 = s.dt == PW_DT_F32;
    size_t isz = pw_dtype_size(s.dt);
    if (!zc || !km) {
        pw_err_set(err, "out of memory projecting %c (%zu rows x %zu columns)", name, m, p_kept);
        goto out;
    }
    for (size_t c = 0; c < p_kept; c++)
        km[c] = mean[kept[c]];
    for (uint64_t row0 = 0; row0 < n; row0 += m) {
        size_t mr = n - row0 < m ? (size_t)(n - row0) : m;
        const unsigned char *raw = NULL;
        if (src_fetch(&s, row0, mr, &raw, err) != 0)
            goto out;
        for (size_t i = 0; i < mr; i++) {
            const unsigned char *row = raw + i * p * isz;
            double *dst = zc + i * p_kept;
            for (size_t c = 0; c < p_kept; c++)
                dst[c] = val(row, f32, kept[c]) - km[c];
        }
        /* phi rows = Zc (mr x p_kept) V (p_kept x kk); V column-major is
         * V^T row-major with leading dimension p_kept. */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)mr, (int)kk, (int)p_kept, 1.0, zc,
                    (int)p_kept, v, (int)p_kept, 0.0, phi + row0 * kk, (int)kk);
    }
    rc = 0;
out:
    pw_keep_free(zc, m * p_kept, sizeof(double));
    free(km);
    src_close(&s);
    return rc;
}

uint64_t pw_reduced_project_doubles(const pw_rows *r, uint64_t kk)
{
    (void)kk; /* phi and V are the caller's */
    pw_dtype dt;
    uint64_t m = chunk_rows(r), p = r->ncols;
    uint64_t b = pw_sat_add(pw_sat_mul(m, p), p);
    if (!pw_rows_direct(r, &dt))
        b = pw_sat_add(b, pw_sat_mul(m, p));
    return b;
}

/* ---- the wide route's n x n Gram ----------------------------------------------- */

/* Columns per block: all n rows of B columns are held at once; n x n (the
 * size of the Gram itself) unless n is so small that BLOCK_DOUBLES is more. */
static size_t block_cols(uint64_t n, uint64_t p)
{
    uint64_t b = n > 0 ? BLOCK_DOUBLES / n : p;
    if (b < n)
        b = n;
    if (b > p)
        b = p;
    return b ? (size_t)b : 1;
}

uint64_t pw_reduced_nn_gram_doubles(const pw_rows *r)
{
    pw_dtype dt;
    uint64_t n = r->nrows, p = r->ncols, b = block_cols(n, p);
    uint64_t d = pw_sat_add(pw_sat_mul(n, b), pw_sat_mul(b, 4));
    if (!pw_rows_direct(r, &dt))
        d = pw_sat_add(d, pw_sat_mul(chunk_rows(r), p));
    return d;
}

/* The first non-finite value of block z (n x bw, row-major) in row order,
 * else an overflow of column j. */
static void block_bad(const double *z, uint64_t n, size_t bw, size_t c0, size_t j, char name,
                      pw_gram_bad *bad)
{
    bad->side = name;
    for (uint64_t i = 0; i < n; i++)
        for (size_t c = 0; c < bw; c++)
            if (!isfinite(z[i * bw + c])) {
                bad->kind = PW_GRAM_NONFINITE;
                bad->row = i;
                bad->col = c0 + c;
                bad->value = z[i * bw + c];
                return;
            }
    bad->kind = PW_GRAM_OVERFLOW;
    bad->col = c0 + j;
}

int pw_reduced_nn_gram(const pw_rows *r, char name, double *kn, double *mean, uint32_t *kept,
                       size_t *p_kept, pw_gram_bad *bad, pw_err *err)
{
    uint64_t n = r->nrows;
    size_t p = r->ncols, bcols = block_cols(n, p);
    memset(bad, 0, sizeof *bad);
    *p_kept = 0;
    memset(kn, 0, n * n * sizeof(double));
    if (p == 0 || n == 0)
        return 0;
    src s;
    if (src_open(&s, r, name, err) != 0)
        return -1;
    double *z = pw_keep_alloc(n * bcols, sizeof(double));
    double *st = pw_array_alloc(bcols * 3, sizeof(double));
    uint32_t *live = pw_array_alloc(bcols, sizeof(uint32_t));
    int rc = -1, f32 = s.dt == PW_DT_F32;
    size_t isz = pw_dtype_size(s.dt);
    if (!z || !st || !live) {
        pw_err_set(err, "out of memory for a block of %zu columns of %c over %llu rows", bcols,
                   name, (unsigned long long)n);
        goto out;
    }
    double *mn = st, *mx = st + bcols, *sum = st + 2 * bcols;
    for (size_t c0 = 0; c0 < p; c0 += bcols) {
        size_t bw = p - c0 < bcols ? p - c0 : bcols;
        for (size_t j = 0; j < bw; j++) {
            mn[j] = INFINITY;
            mx[j] = -INFINITY;
            sum[j] = 0;
        }
        /* Every row of the block's columns, raw, with their extremes and sums
         * (NaN enters no extreme but poisons the sum). */
        for (uint64_t row0 = 0; row0 < n; row0 += s.m) {
            size_t mr = n - row0 < s.m ? (size_t)(n - row0) : s.m;
            const unsigned char *raw = NULL;
            if (src_fetch(&s, row0, mr, &raw, err) != 0)
                goto out;
            for (size_t i = 0; i < mr; i++) {
                const unsigned char *row = raw + i * p * isz;
                double *dst = z + (row0 + i) * bw;
                for (size_t j = 0; j < bw; j++) {
                    double v = val(row, f32, c0 + j);
                    dst[j] = v;
                    sum[j] += v;
                    mn[j] = v < mn[j] ? v : mn[j];
                    mx[j] = v > mx[j] ? v : mx[j];
                }
            }
        }
        for (size_t j = 0; j < bw; j++)
            if (!isfinite(sum[j])) {
                block_bad(z, n, bw, c0, j, name, bad);
                rc = 0;
                goto out;
            }
        /* Exact two-pass means: the block holds every row of its columns. */
        for (size_t j = 0; j < bw; j++) {
            mean[c0 + j] = sum[j] / (double)n;
            sum[j] = 0;
        }
        for (uint64_t i = 0; i < n; i++)
            for (size_t j = 0; j < bw; j++)
                sum[j] += z[i * bw + j] - mean[c0 + j];
        size_t nl = 0;
        for (size_t j = 0; j < bw; j++) {
            mean[c0 + j] += sum[j] / (double)n;
            if (mn[j] < mx[j])
                live[nl++] = (uint32_t)j;
        }
        /* Centre the live columns into rows of width nl, in place: element
         * (i, c) moves to i nl + c <= i bw + live[c], never past what is
         * still to be read. */
        for (size_t c = 0; c < nl; c++)
            sum[c] = 0;
        for (uint64_t i = 0; i < n; i++)
            for (size_t c = 0; c < nl; c++) {
                double v = z[i * bw + live[c]] - mean[c0 + live[c]];
                z[i * nl + c] = v;
                sum[c] += v * v;
            }
        for (size_t c = 0; c < nl; c++)
            if (!isfinite(sum[c])) {
                bad->kind = PW_GRAM_OVERFLOW;
                bad->side = name;
                bad->col = c0 + live[c];
                rc = 0;
                goto out;
            }
        for (size_t c = 0; c < nl; c++)
            kept[*p_kept + c] = (uint32_t)(c0 + live[c]);
        *p_kept += nl;
        /* kn += Zb Zb^T; the row-major n x nl block is column-major nl x n. */
        if (nl > 0)
            cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, (int)n, (int)nl, 1.0, z, (int)nl,
                        1.0, kn, (int)n);
    }
    rc = 0;
out:
    pw_keep_free(z, n * bcols, sizeof(double));
    free(st);
    free(live);
    src_close(&s);
    return rc;
}

int pw_reduced_count_kept(const pw_rows *r, char name, uint64_t *p_kept, pw_err *err)
{
    uint64_t n = r->nrows;
    size_t p = r->ncols;
    *p_kept = 0;
    if (p == 0 || n == 0)
        return 0;
    src s;
    if (src_open(&s, r, name, err) != 0)
        return -1;
    double *mn = pw_array_alloc(2 * p, sizeof(double)), *mx = mn ? mn + p : NULL;
    int rc = -1, f32 = s.dt == PW_DT_F32;
    size_t isz = pw_dtype_size(s.dt);
    if (!mn) {
        pw_err_set(err, "out of memory for the extremes of %c (%zu columns)", name, p);
        goto out;
    }
    for (size_t j = 0; j < p; j++) {
        mn[j] = INFINITY;
        mx[j] = -INFINITY;
    }
    for (uint64_t row0 = 0; row0 < n; row0 += s.m) {
        size_t mr = n - row0 < s.m ? (size_t)(n - row0) : s.m;
        const unsigned char *raw = NULL;
        if (src_fetch(&s, row0, mr, &raw, err) != 0)
            goto out;
        for (size_t i = 0; i < mr; i++) {
            const unsigned char *row = raw + i * p * isz;
            for (size_t j = 0; j < p; j++) {
                double v = val(row, f32, j);
                mn[j] = v < mn[j] ? v : mn[j];
                mx[j] = v > mx[j] ? v : mx[j];
            }
        }
    }
    for (size_t j = 0; j < p; j++)
        *p_kept += mn[j] < mx[j];
    rc = 0;
out:
    free(mn);
    src_close(&s);
    return rc;
}
