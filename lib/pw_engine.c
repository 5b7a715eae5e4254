/* pw_engine.c -- the public entry of the similarity engine: results, BLAS
 * threads, and the order in which pw_engine_compare checks, streams and
 * computes.
 *
 * A comparison is: refuse different n; one streaming pass (pw_gram.c) that
 * yields the centred Grams, means and dead-neuron extremes, stopping at the
 * first NaN or Inf; per-side state (pw_side.c), taken from the caller's cache
 * when given; then only the work the requested metrics need (pw_cca.c):
 * CKA from the Grams alone, PWCCA and mean CCA from the whitenings and one
 * SVD, SVCCA from the raw eigenbases and one more SVD. */
#include "pw_engine.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pw_array.h"
#include "pw_cca.h"
#include "pw_gram.h"
#include "pw_keep.h"
#include "pw_limits.h"
#include "pw_side.h"

/* Every metric of the list back to NAN (not computed). */
static void unset_metrics(pw_result *r)
{
#define PW_METRIC_UNSET(sym, id, bitno, sel, tpos, label, doc) r->id = NAN;
    PW_METRIC_LIST(PW_METRIC_UNSET)
#undef PW_METRIC_UNSET
}

void pw_result_init(pw_result *r)
{
    memset(r, 0, sizeof *r);
    r->status = PW_OK;
    unset_metrics(r);
}

void pw_result_free(pw_result *r)
{
    free(r->rho);
    r->rho = NULL;
    r->nrho = 0;
    r->ntied = 0;
}

/* Statuses other than ok carry a message: set_status(r, PW_..., "fmt", ...). */
#define set_status(r, st, ...)                                                                     \
    do {                                                                                           \
        (r)->status = (st);                                                                        \
        snprintf((r)->message, sizeof(r)->message, __VA_ARGS__);                                   \
    } while (0)

/* The CCA metrics are all-or-nothing: a status other than ok voids them.
 * CKA needs the Grams only, so it survives; a metric added to the list is
 * voided too unless it is kept here likewise. */
static void drop_cca(pw_result *r)
{
    double cka = r->cka;
    pw_result_free(r);
    unset_metrics(r);
    r->cka = cka;
    r->rank_x = r->rank_y = 0;
}

/* Everything one comparison allocates, released in one place. */
typedef struct compare_ctx {
    double *g;               /* (p+q)^2 stacked Gram from the pass (pw_gram_alloc) */
    size_t ld;               /* p + q */
    double *mean[2];         /* column means per side */
    double *min[2], *max[2]; /* raw extremes per fresh side */
    double *sxy;             /* p_kept x q_kept cross Gram of the kept columns (pw_keep_alloc) */
    size_t nsxy;             /* its elements */
    pw_side *side[2];        /* X and Y state (possibly the caller's cached sides) */
    int owned[2];            /* 1 when side[i] was built by this call */
} compare_ctx;

static void ctx_release(compare_ctx *c)
{
    if (c->g)
        pw_gram_free(c->g, c->ld);
    pw_keep_free(c->sxy, c->nsxy, sizeof(double));
    for (int i = 0; i < 2; i++) {
        free(c->mean[i]);
        free(c->min[i]);
        free(c->max[i]);
        if (c->owned[i])
            pw_side_free(c->side[i]);
    }
}

static int check_cache(const pw_side *s, const pw_rows *r, char name, pw_err *err)
{
    if (s && (s->n != r->nrows || s->p != r->ncols))
        return pw_err_set(err,
                          "cached state of %c is for %llu x %llu rows, not the %llu x %llu given",
                          name, (unsigned long long)s->n, (unsigned long long)s->p,
                          (unsigned long long)r->nrows, (unsigned long long)r->ncols);
    return 0;
}

static void report_bad(pw_result *out, const pw_gram_bad *bad)
{
    if (bad->kind == PW_GRAM_NONFINITE)
        set_status(out, PW_NONFINITE, "%c has a non-finite value (%g) at row %llu, column %llu",
                   bad->side, bad->value, (unsigned long long)bad->row,
                   (unsigned long long)bad->col);
    else
        set_status(out, PW_NONFINITE,
                   "%c column %llu has values too large for double arithmetic "
                   "(its sums of squares overflow)",
                   bad->side, (unsigned long long)bad->col);
}

/* ---- threads ----------------------------------------------------------------
 *
 * The process grants the engine a number of BLAS threads (by default the
 * cores divided among the workers).  The p^3 work on one matrix uses them
 * inside OpenBLAS.  Work that splits into independent parts runs the parts
 * on threads of its own instead, each with single-threaded BLAS: the Gram
 * pass's lanes (pw_gram.h says why) and the factorizations of X and Y
 * (dsyevd at 1024 columns is no faster on two OpenBLAS threads than on one,
 * but two of them run side by side in the time of one).  OpenBLAS is
 * switched to one thread while any such work runs (reference-counted), so
 * no more threads compute than were granted. */

static pthread_mutex_t blas_mu = PTHREAD_MUTEX_INITIALIZER;
static int single_users; /* callers running parts on own threads (BLAS switched to one thread) */
static int granted = 0;  /* BLAS threads granted while single_users > 0 */

static int granted_threads(void)
{
    return single_users > 0 ? granted : openblas_get_num_threads();
}

/* Up to `want` threads of our own (1 when fewer than 2 were granted or
 * wanted); BLAS is single-threaded until the matching single_end. */
static unsigned single_begin(unsigned want)
{
    pthread_mutex_lock(&blas_mu);
    int t = granted_threads();
    unsigned n = t > 0 && (unsigned)t < want ? (unsigned)t : want;
    if (n > 1 && single_users++ == 0) {
        granted = t;
        openblas_set_num_threads(1);
    }
    pthread_mutex_unlock(&blas_mu);
    return n > 1 ? n : 1;
}

static void single_end(unsigned n)
{
    if (n <= 1)
        return;
    pthread_mutex_lock(&blas_mu);
    if (--single_users == 0)
        openblas_set_num_threads(granted);
    pthread_mutex_unlock(&blas_mu);
}

/* The lanes of a Gram pass: as many as were granted, if the data are big enough. */
static unsigned lanes_begin(const pw_rows *x, const pw_rows *y)
{
    pthread_mutex_lock(&blas_mu);
    int t = granted_threads();
    pthread_mutex_unlock(&blas_mu);
    return single_begin(pw_gram_lanes(x, y, t > 0 ? (unsigned)t : 1u));
}

/* One side's factorization, for factor_pair. */
typedef struct factor_job {
    pw_side *side; /* the side */
    char name;     /* 'X' or 'Y' */
    int svcca;     /* 0: whitening, 1: SVCCA basis */
    int rc;        /* out: 0, 1 (LAPACK failed) or -1 */
    pw_err err;    /* out: why */
} factor_job;

static void *factor_run(void *arg)
{
    factor_job *j = arg;
    pw_err_clear(&j->err);
    j->rc = j->svcca ? pw_side_svcca_basis(j->side, j->name, &j->err)
                     : pw_side_whiten(j->side, j->name, &j->err);
    return NULL;
}

/* Whitening (or SVCCA basis) of both sides, on two threads when both need
 * it and two were granted.  Results do not depend on it. */
static void factor_pair(pw_side *sx, pw_side *sy, int svcca, factor_job j[2])
{
    j[0] = (factor_job){.side = sx, .name = 'X', .svcca = svcca};
    j[1] = (factor_job){.side = sy, .name = 'Y', .svcca = svcca};
    int both = svcca ? !sx->svcca_ready && !sy->svcca_ready : !sx->whitened && !sy->whitened;
    unsigned n = both ? single_begin(2) : 1;
    pthread_t t;
    int threaded = n > 1 && pthread_create(&t, NULL, factor_run, &j[1]) == 0;
    factor_run(&j[0]);
    if (threaded)
        pthread_join(t, NULL);
    else
        factor_run(&j[1]);
    single_end(n);
}

/* Streams the rows and builds the sides not taken from a cache.  Returns 0
 * (out->status says whether the pass met a non-finite value), -1 on failure. */
static int stream(compare_ctx *c, const pw_rows *x, const pw_rows *y, pw_result *out, pw_err *err)
{
    const pw_rows *rows[2] = {x, y};
    size_t p = x->ncols, q = y->ncols, ld = p + q;
    pw_gram_side gs[2];
    c->g = pw_gram_alloc(ld);
    c->ld = ld;
    if (!c->g) {
        pw_err_set(err, "out of memory for the Gram of %zu + %zu neurons", p, q);
        return -1; /* pw_err_set returns -1; said here for the analyzer */
    }
    for (int i = 0; i < 2; i++) {
        size_t nc = rows[i]->ncols ? rows[i]->ncols : 1;
        int fresh = c->side[i] == NULL;
        c->mean[i] = pw_array_alloc(nc, sizeof(double));
        if (fresh) {
            c->min[i] = pw_array_alloc(nc, sizeof(double));
            c->max[i] = pw_array_alloc(nc, sizeof(double));
        }
        if (!c->mean[i] || (fresh && (!c->min[i] || !c->max[i]))) {
            pw_err_set(err, "out of memory for %zu column statistics", nc);
            return -1;
        }
        gs[i] = (pw_gram_side){.rows = rows[i],
                               .fresh = fresh,
                               .mean = c->mean[i],
                               .min = c->min[i],
                               .max = c->max[i]};
    }
    pw_gram_bad bad;
    unsigned lanes = lanes_begin(x, y);
    int rc = pw_gram_pass(&gs[0], &gs[1], lanes, c->g, &bad, err);
    single_end(lanes);
    if (rc != 0)
        return -1;
    if (bad.kind != PW_GRAM_GOOD) {
        report_bad(out, &bad);
        return 0;
    }
    for (int i = 0; i < 2; i++) {
        if (c->side[i])
            continue;
        size_t off = i ? p : 0;
        c->side[i] = pw_side_build(x->nrows, rows[i]->ncols, c->mean[i], c->min[i], c->max[i],
                                   c->g + off * ld + off, ld, err);
        if (!c->side[i])
            return -1;
        c->owned[i] = 1;
    }
    /* The cross Gram of the kept columns, contiguous for BLAS. */
    const pw_side *sx = c->side[0], *sy = c->side[1];
    size_t px = sx->p_kept, qy = sy->p_kept;
    c->nsxy = px * qy;
    c->sxy = pw_keep_alloc(c->nsxy, sizeof(double));
    if (!c->sxy) {
        pw_err_set(err, "out of memory for a %zu x %zu cross Gram", px, qy);
        return -1;
    }
    for (size_t b = 0; b < qy; b++)
        for (size_t a = 0; a < px; a++)
            c->sxy[b * px + a] = c->g[(p + sy->kept[b]) * ld + sx->kept[a]];
    pw_gram_free(c->g, ld);
    c->g = NULL;
    return 0;
}

/* Runs a side computation returning 0 / 1 (LAPACK failure) / -1. */
static int lapack_step(int rc, pw_result *out, const pw_err *msg)
{
    if (rc == 1) {
        drop_cca(out);
        set_status(out, PW_NUMERICAL_ERROR, "%s", msg->msg);
    }
    return rc;
}

/* The CCA metrics, once the data are known to determine them. */
static int cca_metrics(compare_ctx *c, unsigned metrics, pw_result *out, pw_err *err)
{
    pw_side *sx = c->side[0], *sy = c->side[1];
    pw_err lerr;
    pw_err_clear(&lerr);
    factor_job fj[2];
    int rc;
    if (metrics & (PW_M_PWCCA | PW_M_MEAN_CCA)) {
        factor_pair(sx, sy, 0, fj);
        lerr = fj[0].rc ? fj[0].err : fj[1].err; /* X's failure first */
        if ((rc = lapack_step(fj[0].rc ? fj[0].rc : fj[1].rc, out, &lerr)) != 0)
            goto failed;
        out->rank_x = sx->rank;
        out->rank_y = sy->rank;
        if (sx->rank == 0 || sy->rank == 0) {
            drop_cca(out);
            set_status(out, PW_DEAD_LAYER,
                       "%s no variance representable in double (every neuron's sum of squares "
                       "underflows)",
                       sx->rank == 0 ? "X has" : "Y has");
            return 0;
        }
        /* Weights on the side with fewer kept neurons; on a tie, X. */
        char weights = !(metrics & PW_M_PWCCA) ? 0 : sy->p_kept < sx->p_kept ? 'Y' : 'X';
        double pw = NAN;
        unsigned th = weights ? single_begin(2) : 1;
        rc = pw_cca_canonical(sx, sy, c->sxy, weights, th, &out->rho, &out->nrho, &out->ntied, &pw,
                              &lerr);
        single_end(th);
        rc = lapack_step(rc, out, &lerr);
        if (rc != 0)
            goto failed;
        if (metrics & PW_M_PWCCA) {
            out->pwcca = pw;
            out->distance = 1.0 - pw;
        }
        if (metrics & PW_M_MEAN_CCA) {
            double sum = 0;
            for (size_t i = 0; i < out->nrho; i++)
                sum += out->rho[i];
            out->mean_cca = sum / (double)out->nrho;
        }
    }
    if (metrics & PW_M_SVCCA) {
        factor_pair(sx, sy, 1, fj);
        lerr = fj[0].rc ? fj[0].err : fj[1].err;
        if ((rc = lapack_step(fj[0].rc ? fj[0].rc : fj[1].rc, out, &lerr)) != 0 ||
            (rc = lapack_step(pw_cca_svcca(sx, sy, c->sxy, &out->svcca, &lerr), out, &lerr)) != 0)
            goto failed;
    }
    return 0;
failed:
    if (rc < 0) {
        *err = lerr;
        return -1;
    }
    return 0;
}

int pw_engine_compare(const pw_rows *x, const pw_rows *y, unsigned metrics, pw_side **x_cache,
                      pw_side **y_cache, pw_result *out, pw_err *err)
{
    pw_result_init(out);
    out->metrics = metrics;
    out->n = x->nrows;
    out->p = x->ncols;
    out->q = y->ncols;
    if (x->nrows != y->nrows) {
        set_status(out, PW_N_MISMATCH,
                   "X has %llu datapoints but Y has %llu: rows must be the same probe inputs, "
                   "in the same order",
                   (unsigned long long)x->nrows, (unsigned long long)y->nrows);
        return 0;
    }
    if (x->ncols > PW_MAX_NEURONS || y->ncols > PW_MAX_NEURONS)
        return pw_err_set(err, "%c has %llu neurons, more than the %d the engine accepts",
                          x->ncols > PW_MAX_NEURONS ? 'X' : 'Y',
                          (unsigned long long)(x->ncols > PW_MAX_NEURONS ? x->ncols : y->ncols),
                          PW_MAX_NEURONS);
    if (x_cache && x_cache == y_cache)
        return pw_err_set(err, "X and Y cannot share one cache slot");

    compare_ctx c;
    memset(&c, 0, sizeof c);
    c.side[0] = x_cache ? *x_cache : NULL;
    c.side[1] = y_cache ? *y_cache : NULL;
    int rc = -1;
    if (check_cache(c.side[0], x, 'X', err) != 0 || check_cache(c.side[1], y, 'Y', err) != 0)
        goto done;
    if (stream(&c, x, y, out, err) != 0)
        goto done;
    rc = 0;
    if (out->status != PW_OK)
        goto done; /* non-finite: nothing is kept from rows that hold NaN or Inf */

    assert(c.side[0] && c.side[1]); /* stream() built or was given both */
    const pw_side *sx = c.side[0], *sy = c.side[1];
    uint64_t n = x->nrows, pk = sx->p_kept, qk = sy->p_kept;
    out->p_kept = pk;
    out->q_kept = qk;
    if (n < 2) {
        set_status(out, PW_INSUFFICIENT_DATAPOINTS,
                   "n = %llu datapoints (p_kept = %llu, q_kept = %llu): canonical correlations "
                   "need at least 2 datapoints and more than p_kept + q_kept; use 5-10x more "
                   "datapoints than neurons",
                   (unsigned long long)n, (unsigned long long)pk, (unsigned long long)qk);
    } else if (pk == 0 || qk == 0) {
        set_status(out, PW_DEAD_LAYER,
                   "every neuron of %s is constant over the n = %llu datapoints "
                   "(p = %llu, q = %llu)",
                   pk == 0 && qk == 0 ? "X and of Y"
                   : pk == 0          ? "X"
                                      : "Y",
                   (unsigned long long)n, (unsigned long long)x->ncols,
                   (unsigned long long)y->ncols);
    } else {
        if (metrics & PW_M_CKA)
            out->cka = pw_cca_cka(sx, sy, c.sxy);
        uint64_t most = pk > qk ? pk : qk;
        if (n <= pk + qk)
            set_status(out, PW_INSUFFICIENT_DATAPOINTS,
                       "n = %llu datapoints is not more than p_kept + q_kept = %llu + %llu: the "
                       "canonical correlations are not determined; use 5-10x more datapoints "
                       "than neurons (%llu-%llu here)",
                       (unsigned long long)n, (unsigned long long)pk, (unsigned long long)qk,
                       5 * (unsigned long long)most, 10 * (unsigned long long)most);
        else
            rc = cca_metrics(&c, metrics, out, err);
    }
    /* Hand fresh sides to the caller's cache slots. */
    if (rc == 0) {
        pw_side **slot[2] = {x_cache, y_cache};
        for (int i = 0; i < 2; i++)
            if (slot[i] && c.owned[i]) {
                *slot[i] = c.side[i];
                c.owned[i] = 0;
            }
    }
done:
    ctx_release(&c);
    if (rc != 0)
        pw_result_free(out);
    return rc;
}

/* ---- memory estimate ----------------------------------------------------------
 *
 * An upper bound of the heap one pw_engine_compare takes at its peak,
 * phase by phase, following what the code above (and pw_gram.c, pw_side.c,
 * pw_cca.c) allocates, with every neuron counted as kept (the kept count is
 * known only after the pass) and with fresh sides on both sides (so the
 * verdict does not depend on what a cache happens to hold).  LAPACKE
 * allocates its workspaces on the heap too: they are counted from LAPACK's
 * documented sizes, with room for blocked versions (WORK_NB columns).  All
 * sums saturate, so a shape too large for 64 bits reads as UINT64_MAX. */

#define WORK_NB 64 /* block size allowed for in LAPACK's optimal workspaces */

static uint64_t sq(uint64_t k)
{
    return pw_sat_mul(k, k);
}

/* dsyevd with vectors, n x n: work 1 + 6n + 2n^2, iwork 3 + 5n (ints, counted as doubles). */
static uint64_t syevd_work(uint64_t n)
{
    return pw_sat_add(pw_sat_mul(sq(n), 2), pw_sat_add(pw_sat_mul(n, 11), 4));
}

/* dgesdd of an m x n matrix: values only ('N') or thin vectors ('S'). */
static uint64_t gesdd_work(uint64_t m, uint64_t n, int vectors)
{
    uint64_t mn = m < n ? m : n, mx = m < n ? n : m;
    uint64_t w = pw_sat_add(pw_sat_mul(mn, 3), mx > 7 * mn ? mx : pw_sat_mul(mn, 7));
    w = pw_sat_add(w, pw_sat_mul(pw_sat_add(mx, mn), WORK_NB));
    if (vectors)
        w = pw_sat_add(w, pw_sat_add(pw_sat_mul(sq(mn), 4), pw_sat_mul(mn, 7)));
    return pw_sat_add(w, pw_sat_mul(mn, 4)); /* iwork: 8 mn ints */
}

/* A side's state without its factorizations: mean, kept indices, Gram. */
static uint64_t side_base(uint64_t k)
{
    return pw_sat_add(sq(k), pw_sat_mul(k, 2));
}

/* The canonical problem with side a (pa neurons) carrying the weights. */
static uint64_t canonical_doubles(uint64_t pa, uint64_t pb, int weights)
{
    uint64_t kk = pa < pb ? pa : pb, ab = pw_sat_mul(pa, pb);
    /* t and m (both pa x pb at most), rho and the tie groups. */
    uint64_t base = pw_sat_add(pw_sat_mul(ab, 2), pw_sat_mul(kk, 2));
    if (!weights)
        return pw_sat_add(base, gesdd_work(pa, pb, 0));
    /* t is freed; m, u and rho stay while left_vectors holds a copy of m and
     * M M^T, runs dsyevd beside a values-only dgesdd, then resolves tied
     * clusters (a block of kk (2 pb + kk + 1 + pa) and a dgesdd with vectors
     * on at most kk x pb); then the weights' g and la. */
    uint64_t held = pw_sat_add(ab, pw_sat_add(pw_sat_mul(pa, kk), pw_sat_mul(kk, 2)));
    uint64_t lv = pw_sat_add(ab, pw_sat_add(sq(pa), pa));
    uint64_t eig = pw_sat_add(syevd_work(pa), gesdd_work(pa, pb, 0));
    uint64_t clusters =
        pw_sat_add(pw_sat_mul(kk, pw_sat_add(pw_sat_add(pw_sat_mul(pb, 2), kk), pa + 1)),
                   gesdd_work(kk, pb, 1));
    uint64_t during = pw_sat_add(held, pw_sat_add(lv, eig > clusters ? eig : clusters));
    uint64_t after = pw_sat_add(held, pw_sat_mul(pw_sat_mul(pa, kk), 2));
    return pw_sat_add(base, during > after ? during : after);
}

uint64_t pw_engine_estimate(const pw_rows *x, const pw_rows *y, unsigned metrics, unsigned lanes)
{
    uint64_t p = x->ncols, q = y->ncols;
    if (p > UINT32_MAX || q > UINT32_MAX)
        return UINT64_MAX; /* the squares alone leave 64 bits */
    if (lanes == 0) {
        int t = pw_engine_blas_threads();
        lanes = pw_gram_lanes(x, y, t > 0 ? (unsigned)t : 1u);
    }
    uint64_t ld = p + q, kmin = p < q ? p : q;
    /* In doubles: the stacked Gram, the column statistics, both sides, Sxy. */
    uint64_t g = sq(ld), stats = pw_sat_mul(ld, 3);
    uint64_t sides = pw_sat_add(side_base(p), side_base(q)), sxy = pw_sat_mul(p, q);
    uint64_t pass = pw_gram_pass_bytes(x, y, lanes) / sizeof(double) + 1;
    uint64_t peak = pw_sat_add(pw_sat_add(g, stats),
                               pass > pw_sat_add(sides, sxy) ? pass : pw_sat_add(sides, sxy));
    /* From here on the stacked Gram is gone and this is held. */
    uint64_t held = pw_sat_add(pw_sat_add(stats, sides), pw_sat_add(sxy, kmin));
    uint64_t now = 0;
    if (metrics & (PW_M_PWCCA | PW_M_MEAN_CCA)) {
        /* Both whitenings at once: c, r, w and dsyevd's or all_above_cut's
         * k x k beside the Gram; then w, d and lambda or rdiag stay. */
        uint64_t wx = pw_sat_add(pw_sat_mul(sq(p), 4), pw_sat_add(pw_sat_mul(p, 8), 1));
        uint64_t wy = pw_sat_add(pw_sat_mul(sq(q), 4), pw_sat_add(pw_sat_mul(q, 8), 1));
        now = pw_sat_add(held, pw_sat_add(wx, wy));
        peak = now > peak ? now : peak;
        held = pw_sat_add(held, pw_sat_add(pw_sat_add(sq(p), sq(q)), pw_sat_mul(ld, 3)));
        int w = (metrics & PW_M_PWCCA) != 0;
        uint64_t cx = canonical_doubles(p, q, w), cy = canonical_doubles(q, p, w);
        now = pw_sat_add(held, cx > cy ? cx : cy);
        peak = now > peak ? now : peak;
    }
    if (metrics & PW_M_SVCCA) {
        /* Both bases at once: a scaled copy of the Gram, dsyevd's workspace,
         * then the kept eigenvectors; then pw_cca_svcca's four products. */
        uint64_t bx = pw_sat_add(sq(p), pw_sat_add(syevd_work(p), p));
        uint64_t by = pw_sat_add(sq(q), pw_sat_add(syevd_work(q), q));
        now = pw_sat_add(held, pw_sat_add(bx, by));
        peak = now > peak ? now : peak;
        held = pw_sat_add(held, pw_sat_add(pw_sat_add(sq(p), sq(q)), ld));
        uint64_t prod = pw_sat_add(pw_sat_add(sq(p), sq(q)), pw_sat_mul(sxy, 2));
        now = pw_sat_add(held, pw_sat_add(prod, gesdd_work(p, q, 0)));
        peak = now > peak ? now : peak;
    }
    /* Buffers the comparison gives back to pw_keep stay resident until a
     * later request reuses them: up to PW_KEEP_BYTES, and no more than the
     * comparison itself allocated. */
    uint64_t bytes = pw_sat_add(pw_sat_mul(peak, sizeof(double)), 2 * sizeof(pw_side));
    return pw_sat_add(bytes, bytes < PW_KEEP_BYTES ? bytes : PW_KEEP_BYTES);
}

/* "1.5 GiB", "12.0 MiB", "800 KiB" for messages. */
static void human_bytes(uint64_t b, char *out, size_t len)
{
    if (b == UINT64_MAX)
        snprintf(out, len, "more than 16 EiB");
    else if (b >= (1ull << 30))
        snprintf(out, len, "%.1f GiB", (double)b / (double)(1ull << 30));
    else if (b >= (1ull << 20))
        snprintf(out, len, "%.1f MiB", (double)b / (double)(1ull << 20));
    else
        snprintf(out, len, "%llu KiB", (unsigned long long)((b + 1023) >> 10));
}

int pw_engine_check_budget(const pw_rows *x, const pw_rows *y, unsigned metrics,
                           uint64_t budget_bytes, const char *knob, uint64_t *estimate,
                           pw_result *out)
{
    uint64_t est = pw_engine_estimate(x, y, metrics, 0);
    if (estimate)
        *estimate = est;
    if (budget_bytes == 0 || est <= budget_bytes)
        return 0;
    char need[32], have[32];
    human_bytes(est, need, sizeof need);
    human_bytes(budget_bytes, have, sizeof have);
    pw_result_init(out);
    out->metrics = metrics;
    out->n = x->nrows;
    out->p = x->ncols;
    out->q = y->ncols;
    set_status(out, PW_OVER_BUDGET,
               "comparing X (%llu x %llu) with Y (%llu x %llu) needs an estimated %s, more "
               "than the memory budget of %s (%s); not computed",
               (unsigned long long)x->nrows, (unsigned long long)x->ncols,
               (unsigned long long)y->nrows, (unsigned long long)y->ncols, need, have,
               knob ? knob : "memory budget");
    return 1;
}

static int engine_workers = 1; /* threads calling pw_engine_compare concurrently */

void pw_engine_set_workers(int workers)
{
    engine_workers = workers > 0 ? workers : 1;
}

void pw_engine_set_blas_threads(int n)
{
    if (n <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores > 0 ? (int)(cores / engine_workers) : 1;
        if (n < 1)
            n = 1;
    }
    pthread_mutex_lock(&blas_mu);
    if (single_users > 0)
        granted = n; /* applied when the running work ends */
    else
        openblas_set_num_threads(n);
    pthread_mutex_unlock(&blas_mu);
}

int pw_engine_blas_threads(void)
{
    pthread_mutex_lock(&blas_mu);
    int n = granted_threads();
    pthread_mutex_unlock(&blas_mu);
    return n;
}

int pw_engine_compare_reduced(const pw_rows *x, const pw_rows *y, unsigned metrics,
                              const pw_reduce *reduce, pw_side **x_cache, pw_side **y_cache,
                              pw_result *out, pw_err *err)
{
    if (!reduce || reduce->kind == PW_REDUCE_NONE)
        return pw_engine_compare(x, y, metrics, x_cache, y_cache, out, err);
    char text[PW_REDUCE_TEXT_MAX];
    pw_reduce_format(reduce, text, sizeof text);
    pw_result_init(out);
    return pw_err_set(err, "reduce mode %s is not implemented yet", text);
}
