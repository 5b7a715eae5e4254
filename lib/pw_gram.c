/* pw_gram.c -- the streaming pass: chunked, centred, BLAS-3 Gram products
 * merged with Chan et al.'s pairwise update (see pw_gram.h).
 *
 * Per chunk of m rows and per side: one sweep takes column sums (and, for a
 * fresh side, the raw minimum and maximum); a second writes the chunk,
 * centred about its own mean, into the stacked buffer z (column r of z is
 * datapoint r: X's p values then Y's q values) while summing what is left of
 * each centred column, which refines the chunk mean to working precision.
 * BLAS then adds z z^T into the running Gram, and a rank-1 update with the
 * difference of the means merges the chunk (Chan et al. 1979).  A cached
 * side still needs its chunk means, because the cross block is merged with
 * both sides' mean differences, but not its Gram.  While BLAS has more than
 * one thread, Y's share of the per-chunk sweeps runs on a helper thread
 * beside X's (rows are read on the calling thread only). */
#include "pw_gram.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pw_array.h"

/* Per-side working state of the pass. */
typedef struct side_state {
    pw_gram_side *s;   /* the caller's side */
    char name;         /* 'X' or 'Y', for messages */
    size_t p;          /* columns */
    size_t off;        /* first row of this side inside z and the stacked Gram */
    double *buf;       /* one chunk converted by rows->read (NULL for in-memory rows) */
    double *sum;       /* p: chunk column sums, then chunk means */
    double *corr;      /* p: column sums of the centred chunk (mean refinement) */
    const double *raw; /* this chunk's rows, row-major m x p */
} side_state;

size_t pw_gram_chunk_rows(const pw_rows *x, const pw_rows *y)
{
    size_t m = PW_CHUNK_ROWS;
    if (x->chunk_rows && x->chunk_rows < m)
        m = x->chunk_rows;
    if (y->chunk_rows && y->chunk_rows < m)
        m = y->chunk_rows;
    return m;
}

static int side_init(side_state *st, pw_gram_side *s, char name, size_t off, size_t m, pw_err *err)
{
    memset(st, 0, sizeof *st);
    st->s = s;
    st->name = name;
    st->p = s->rows->ncols;
    st->off = off;
    size_t p = st->p ? st->p : 1;
    st->sum = pw_array_alloc(p, sizeof(double));
    st->corr = pw_array_alloc(p, sizeof(double));
    if (!s->rows->mem)
        st->buf = pw_array_alloc(m * p, sizeof(double));
    if (!st->sum || !st->corr || (!s->rows->mem && !st->buf))
        return pw_err_set(err, "out of memory for the %c chunk buffers (%zu rows x %zu columns)",
                          name, m, st->p);
    for (size_t j = 0; j < st->p; j++) {
        s->mean[j] = 0;
        if (s->fresh) {
            s->min[j] = INFINITY;
            s->max[j] = -INFINITY;
        }
    }
    return 0;
}

static void side_release(side_state *st)
{
    free(st->buf);
    free(st->sum);
    free(st->corr);
}

/* Point st->raw at rows [row0, row0+m), reading them if they are not in memory. */
static int side_load(side_state *st, uint64_t row0, size_t m, pw_err *err)
{
    const pw_rows *r = st->s->rows;
    if (r->mem) {
        st->raw = r->mem + row0 * st->p;
        return 0;
    }
    if (r->read(r->ctx, row0, m, st->buf, err) != 0)
        return pw_err_prefix(err, "reading %c rows %llu..%llu", st->name, (unsigned long long)row0,
                             (unsigned long long)row0 + m);
    st->raw = st->buf;
    return 0;
}

/* Column sums of the chunk; for a fresh side also the running raw extremes.
 * NaN compares false and so never enters min/max, but it poisons the sum,
 * which is what the finiteness check looks at. */
static void side_scan(side_state *st, size_t m)
{
    size_t p = st->p;
    double *restrict sum = st->sum;
    memset(sum, 0, p * sizeof(double));
    if (st->s->fresh) {
        double *restrict mn = st->s->min, *restrict mx = st->s->max;
        for (size_t r = 0; r < m; r++) {
            const double *restrict row = st->raw + r * p;
            for (size_t j = 0; j < p; j++) {
                double v = row[j];
                sum[j] += v;
                mn[j] = v < mn[j] ? v : mn[j];
                mx[j] = v > mx[j] ? v : mx[j];
            }
        }
    } else {
        for (size_t r = 0; r < m; r++) {
            const double *restrict row = st->raw + r * p;
            for (size_t j = 0; j < p; j++)
                sum[j] += row[j];
        }
    }
}

/* After side_scan: is every column sum finite?  If not, find the first
 * non-finite value in row order; a chunk of finite values whose sum still
 * overflowed is reported as overflow of that column. */
static int side_check(const side_state *st, uint64_t row0, size_t m, pw_gram_bad *bad)
{
    size_t p = st->p, badcol = p;
    for (size_t j = 0; j < p && badcol == p; j++)
        if (!isfinite(st->sum[j]))
            badcol = j;
    if (badcol == p)
        return 0;
    bad->side = st->name;
    for (size_t r = 0; r < m; r++)
        for (size_t j = 0; j < p; j++)
            if (!isfinite(st->raw[r * p + j])) {
                bad->kind = PW_GRAM_NONFINITE;
                bad->row = row0 + r;
                bad->col = j;
                bad->value = st->raw[r * p + j];
                return 1;
            }
    bad->kind = PW_GRAM_OVERFLOW;
    bad->row = row0;
    bad->col = badcol;
    return 1;
}

/* Centre the chunk about its provisional means into z (ld = stacked width)
 * and keep the column sums of the centred values for refining the means. */
static void side_centre(side_state *st, size_t m, double *z, size_t ld)
{
    size_t p = st->p;
    double *restrict mu = st->sum, *restrict corr = st->corr;
    for (size_t j = 0; j < p; j++) {
        mu[j] /= (double)m;
        corr[j] = 0;
    }
    for (size_t r = 0; r < m; r++) {
        const double *restrict row = st->raw + r * p;
        double *restrict dst = z + r * ld + st->off;
        size_t j = 0;
        /* Four columns per step: gcc -O2 vectorizes this form, not the plain loop. */
        for (; j + 4 <= p; j += 4) {
            double c0 = row[j] - mu[j], c1 = row[j + 1] - mu[j + 1];
            double c2 = row[j + 2] - mu[j + 2], c3 = row[j + 3] - mu[j + 3];
            dst[j] = c0;
            dst[j + 1] = c1;
            dst[j + 2] = c2;
            dst[j + 3] = c3;
            corr[j] += c0;
            corr[j + 1] += c1;
            corr[j + 2] += c2;
            corr[j + 3] += c3;
        }
        for (; j < p; j++) {
            double c = row[j] - mu[j];
            dst[j] = c;
            corr[j] += c;
        }
    }
}

/* Merge the chunk's mean into the running mean; delta gets mu_chunk - mu_running.
 * The centred values were taken about mu, which is off the true chunk mean by
 * corr/m; the Gram's error from that is m (corr/m)^2, below rounding, but the
 * mean itself gains the digits the plain sum lost. */
static void side_merge_mean(side_state *st, size_t m, uint64_t before, double *delta)
{
    double frac = (double)m / ((double)before + (double)m);
    double *mean = st->s->mean;
    for (size_t j = 0; j < st->p; j++) {
        double mb = st->sum[j] + st->corr[j] / (double)m;
        if (before == 0) {
            delta[j] = 0;
            mean[j] = mb;
        } else {
            delta[j] = mb - mean[j];
            mean[j] += delta[j] * frac;
        }
    }
}

/* z z^T into the Gram, then the Chan correction w delta delta^T.  A side
 * with no columns simply has empty blocks. */
static void accumulate(const side_state *sx, const side_state *sy, size_t m, const double *z,
                       double *g, const double *delta, double w)
{
    size_t p = sx->p, q = sy->p, ld = p + q;
    int xf = sx->s->fresh && p > 0, yf = sy->s->fresh && q > 0, cross = p > 0 && q > 0;
    if (ld == 0)
        return;
    if (sx->s->fresh && sy->s->fresh) {
        /* One syrk over the stacked chunk is faster than syrk + syrk + gemm. */
        cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, (int)ld, (int)m, 1.0, z, (int)ld, 1.0,
                    g, (int)ld);
        if (w > 0)
            cblas_dsyr(CblasColMajor, CblasUpper, (int)ld, w, delta, 1, g, (int)ld);
        return;
    }
    if (xf)
        cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, (int)p, (int)m, 1.0, z, (int)ld, 1.0,
                    g, (int)ld);
    if (yf)
        cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, (int)q, (int)m, 1.0, z + p, (int)ld,
                    1.0, g + p + p * ld, (int)ld);
    if (cross)
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)p, (int)q, (int)m, 1.0, z,
                    (int)ld, z + p, (int)ld, 1.0, g + p * ld, (int)ld);
    if (w > 0) {
        if (xf)
            cblas_dsyr(CblasColMajor, CblasUpper, (int)p, w, delta, 1, g, (int)ld);
        if (yf)
            cblas_dsyr(CblasColMajor, CblasUpper, (int)q, w, delta + p, 1, g + p + p * ld, (int)ld);
        if (cross)
            cblas_dger(CblasColMajor, (int)p, (int)q, w, delta, 1, delta + p, 1, g + p * ld,
                       (int)ld);
    }
}

/* A fresh side whose squares overflowed shows it on the diagonal first
 * (|S_ij| <= sqrt(S_ii S_jj)). */
static int diag_check(const side_state *st, const double *g, size_t ld, pw_gram_bad *bad)
{
    if (!st->s->fresh)
        return 0;
    for (size_t j = 0; j < st->p; j++) {
        double v = g[(st->off + j) * ld + st->off + j];
        if (!isfinite(v)) {
            bad->kind = PW_GRAM_OVERFLOW;
            bad->side = st->name;
            bad->col = j;
            return 1;
        }
    }
    return 0;
}

/* One side's share of a chunk: scan, check, centre.  The two sides touch
 * disjoint state (and disjoint rows of z), so they can run on two threads. */
typedef struct side_job {
    side_state *st;    /* the side */
    uint64_t row0;     /* first row of the chunk */
    size_t m;          /* rows in the chunk */
    double *z;         /* stacked centred chunk */
    size_t ld;         /* its leading dimension */
    int bad;           /* out: 1 when the chunk holds a NaN/Inf or overflows */
    pw_gram_bad where; /* out: what and where, when bad */
} side_job;

static void side_work(side_job *j)
{
    side_scan(j->st, j->m);
    j->bad = j->st->s->fresh && side_check(j->st, j->row0, j->m, &j->where);
    if (!j->bad)
        side_centre(j->st, j->m, j->z, j->ld);
}

static void *side_work_thread(void *arg)
{
    side_work(arg);
    return NULL;
}

/* Below this many values per chunk a helper thread costs more than it saves. */
#define PARALLEL_MIN_VALUES (1u << 16)

int pw_gram_pass(pw_gram_side *x, pw_gram_side *y, double *g, pw_gram_bad *bad, pw_err *err)
{
    uint64_t n = x->rows->nrows;
    size_t p = x->rows->ncols, q = y->rows->ncols, ld = p + q;
    assert(n == y->rows->nrows);
    assert(!x->fresh || (x->min && x->max));
    assert(!y->fresh || (y->min && y->max));
    memset(bad, 0, sizeof *bad);
    memset(g, 0, ld * ld * sizeof(double));

    size_t m = pw_gram_chunk_rows(x->rows, y->rows);
    if (n < m)
        m = n ? (size_t)n : 1;
    /* The sides' O(m(p+q)) work runs on the main thread and a helper when
     * BLAS has more than one thread -- then a core would otherwise idle while
     * it runs.  Rows are still read on this thread only.  Results do not
     * depend on it: each side's arithmetic is the same either way. */
    int parallel = openblas_get_num_threads() > 1 && m * ld >= PARALLEL_MIN_VALUES;
    side_state sx = {0}, sy = {0};
    double *z = pw_array_alloc(m * ld, sizeof(double));
    double *delta = pw_array_alloc(ld, sizeof(double));
    int rc = -1;
    if (side_init(&sx, x, 'X', 0, m, err) != 0 || side_init(&sy, y, 'Y', p, m, err) != 0)
        goto out;
    if (!z || !delta) {
        pw_err_set(err, "out of memory for a %zu x %zu chunk", m, ld);
        goto out;
    }

    for (uint64_t row0 = 0; row0 < n;) {
        size_t mr = n - row0 < m ? (size_t)(n - row0) : m;
        if (side_load(&sx, row0, mr, err) != 0 || side_load(&sy, row0, mr, err) != 0)
            goto out;
        side_job jx = {&sx, row0, mr, z, ld, 0, {0}}, jy = {&sy, row0, mr, z, ld, 0, {0}};
        pthread_t helper;
        int threaded = parallel && pthread_create(&helper, NULL, side_work_thread, &jy) == 0;
        side_work(&jx);
        if (threaded)
            pthread_join(helper, NULL);
        else
            side_work(&jy);
        if (jx.bad || jy.bad) {
            /* Report the earlier row; on the same row, X. */
            *bad = jx.bad && (!jy.bad || jx.where.row <= jy.where.row) ? jx.where : jy.where;
            rc = 0;
            goto out;
        }
        side_merge_mean(&sx, mr, row0, delta);
        side_merge_mean(&sy, mr, row0, delta + p);
        double w = (double)row0 * (double)mr / ((double)row0 + (double)mr);
        accumulate(&sx, &sy, mr, z, g, delta, w);
        row0 += mr;
    }
    if (!diag_check(&sx, g, ld, bad))
        diag_check(&sy, g, ld, bad);
    rc = 0;
out:
    side_release(&sx);
    side_release(&sy);
    free(z);
    free(delta);
    return rc;
}
