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
#include "pw_noise.h"
#include "pw_reduced.h"
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
 * CKA, debiased CKA and Procrustes need the Grams only, so they survive; a metric added to the list
 * is voided too unless it is kept here likewise. */
static void drop_cca(pw_result *r)
{
    double cka = r->cka, deb = r->cka_debiased, proc = r->procrustes;
    pw_result_free(r);
    unset_metrics(r);
    r->cka = cka;
    r->cka_debiased = deb;
    r->procrustes = proc;
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
    int deb;                 /* in: the pass keeps debiased CKA's sums */
    double ab;               /* out: their pair sum, sum a_i b_i (pw_gram_deb) */
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

/* A cached side must be for these rows and for this (resolved) reduction:
 * an exact side has a Gram and no reduced data, a reduced one the reverse,
 * and two reductions keep different directions. */
static int check_cache_mode(const pw_side *s, const pw_rows *r, const pw_reduce *mode, char name,
                            pw_err *err)
{
    if (s && (s->n != r->nrows || s->p != r->ncols))
        return pw_err_set(err,
                          "cached state of %c is for %llu x %llu rows, not the %llu x %llu given",
                          name, (unsigned long long)s->n, (unsigned long long)s->p,
                          (unsigned long long)r->nrows, (unsigned long long)r->ncols);
    if (s && !pw_reduce_equal(&s->reduce, mode)) {
        char had[PW_REDUCE_TEXT_MAX], want[PW_REDUCE_TEXT_MAX];
        pw_reduce_format(&s->reduce, had, sizeof had);
        pw_reduce_format(mode, want, sizeof want);
        return pw_err_set(err,
                          "cached state of %c was built for reduce %s, not the %s asked for: a "
                          "cached side serves only the reduction it was built with",
                          name, had, want);
    }
    return 0;
}

static int check_cache(const pw_side *s, const pw_rows *r, char name, pw_err *err)
{
    static const pw_reduce exact = {.kind = PW_REDUCE_NONE};
    return check_cache_mode(s, r, &exact, name, err);
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

unsigned pw_engine_lanes_begin(const pw_rows *x, const pw_rows *y)
{
    return lanes_begin(x, y);
}

void pw_engine_lanes_end(unsigned lanes)
{
    single_end(lanes);
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
        /* A cached side from a pass without debiased CKA lacks its sums,
         * which need its Gram: the pass recomputes that side (and keeps
         * the cached side's Gram and factorizations). */
        int fresh = c->side[i] == NULL || (c->deb && !c->side[i]->deb_ready);
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
    pw_gram_deb deb;
    int rc;
    if (x->given) {      /* the pass was made by pw_noise.c, block by block */
        assert(!c->deb); /* its block sums carry no debiased CKA sums */
        rc = pw_noise_take(x->given, &gs[0], &gs[1], c->g, ld, &bad);
    } else {
        unsigned lanes = lanes_begin(x, y);
        rc = pw_gram_pass_deb(&gs[0], &gs[1], lanes, c->g, c->deb ? &deb : NULL, &bad, err);
        single_end(lanes);
    }
    if (rc != 0)
        return -1;
    if (bad.kind != PW_GRAM_GOOD) {
        report_bad(out, &bad);
        return 0;
    }
    if (c->deb)
        c->ab = deb.ab;
    for (int i = 0; i < 2; i++) {
        if (c->side[i] && gs[i].fresh && !c->side[i]->deb_ready) {
            c->side[i]->deb_a1 = deb.a1[i];
            c->side[i]->deb_a2 = deb.a2[i];
            c->side[i]->deb_ready = 1;
        }
        if (c->side[i])
            continue;
        size_t off = i ? p : 0;
        c->side[i] = pw_side_build(x->nrows, rows[i]->ncols, c->mean[i], c->min[i], c->max[i],
                                   c->g + off * ld + off, ld, err);
        if (!c->side[i])
            return -1;
        c->owned[i] = 1;
        if (c->deb) {
            c->side[i]->deb_a1 = deb.a1[i];
            c->side[i]->deb_a2 = deb.a2[i];
            c->side[i]->deb_ready = 1;
        }
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

/* What every comparison checks first, with out initialised for the pair:
 * 1 to go on; 0 when out holds the answer (n_mismatch); -1 with err set
 * (a layer too wide, one cache slot for both sides). */
static int compare_begin(const pw_rows *x, const pw_rows *y, unsigned metrics, pw_side **x_cache,
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
    return 1;
}

/* Too few datapoints or a dead side: the status that says so (1), else 0.
 * Both the exact and the reduced path ask it first. */
static int degenerate(pw_result *out, const pw_rows *x, const pw_rows *y, uint64_t pk, uint64_t qk)
{
    uint64_t n = x->nrows;
    if (n < 2) {
        set_status(out, PW_INSUFFICIENT_DATAPOINTS,
                   "n = %llu datapoints (p_kept = %llu, q_kept = %llu): canonical correlations "
                   "need at least 2 datapoints and more than p_kept + q_kept; use 5-10x more "
                   "datapoints than neurons",
                   (unsigned long long)n, (unsigned long long)pk, (unsigned long long)qk);
        return 1;
    }
    if (pk == 0 || qk == 0) {
        set_status(out, PW_DEAD_LAYER,
                   "every neuron of %s is constant over the n = %llu datapoints "
                   "(p = %llu, q = %llu)",
                   pk == 0 && qk == 0 ? "X and of Y"
                   : pk == 0          ? "X"
                                      : "Y",
                   (unsigned long long)n, (unsigned long long)x->ncols,
                   (unsigned long long)y->ncols);
        return 1;
    }
    return 0;
}

int pw_engine_compare(const pw_rows *x, const pw_rows *y, unsigned metrics, pw_side **x_cache,
                      pw_side **y_cache, pw_result *out, pw_err *err)
{
    int begun = compare_begin(x, y, metrics, x_cache, y_cache, out, err);
    if (begun <= 0)
        return begun;

    compare_ctx c;
    memset(&c, 0, sizeof c);
    c.side[0] = x_cache ? *x_cache : NULL;
    c.side[1] = y_cache ? *y_cache : NULL;
    /* Sums handed over by pw_noise.c carry no debiased CKA sums: that
     * caller asks for it in a pass of its own. */
    c.deb = (metrics & PW_M_CKA_DEBIASED) != 0 && !x->given;
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
    if (!degenerate(out, x, y, pk, qk)) {
        if (metrics & PW_M_CKA)
            out->cka = pw_cca_cka(sx, sy, c.sxy);
        if (c.deb)
            out->cka_debiased = pw_cca_cka_debiased(sx, sy, c.sxy, c.ab, n);
        if (metrics & PW_M_PROCRUSTES) {
            pw_err lerr;
            pw_err_clear(&lerr);
            int prc = pw_cca_procrustes(sx, sy, c.sxy, &out->procrustes, &lerr);
            if (prc < 0) {
                *err = lerr;
                rc = -1;
                goto done;
            }
            if (prc > 0) {
                set_status(out, PW_NUMERICAL_ERROR, "%s", lerr.msg);
                drop_cca(out);
                goto keep;
            }
        }
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
keep:
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
    if (metrics & PW_M_CKA_DEBIASED)
        pass = pw_sat_add(pass, pw_gram_deb_bytes(x, y, lanes) / sizeof(double));
    uint64_t peak = pw_sat_add(pw_sat_add(g, stats),
                               pass > pw_sat_add(sides, sxy) ? pass : pw_sat_add(sides, sxy));
    /* From here on the stacked Gram is gone and this is held. */
    uint64_t held = pw_sat_add(pw_sat_add(stats, sides), pw_sat_add(sxy, kmin));
    uint64_t now = 0;
    if (metrics & PW_M_PROCRUSTES) {
        /* A copy of Sxy, its singular values and dgesdd's workspace. */
        now = pw_sat_add(held, pw_sat_add(pw_sat_add(sxy, kmin), gesdd_work(p, q, 0)));
        peak = now > peak ? now : peak;
    }
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

/* pw_engine_check_budget's verdict on an estimate already made. */
static int budget_verdict(const pw_rows *x, const pw_rows *y, unsigned metrics, uint64_t est,
                          uint64_t budget_bytes, const char *knob, uint64_t *estimate,
                          pw_result *out)
{
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

int pw_engine_check_budget(const pw_rows *x, const pw_rows *y, unsigned metrics,
                           uint64_t budget_bytes, const char *knob, uint64_t *estimate,
                           pw_result *out)
{
    return budget_verdict(x, y, metrics, pw_engine_estimate(x, y, metrics, 0), budget_bytes, knob,
                          estimate, out);
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

/* ---- reduced mode --------------------------------------------------------------
 *
 * pw_reduced.h has the two routes to a reduced side.  The CCA metrics are
 * then the exact engine's on the reduced data (pw_engine_compare on Phi_x,
 * Phi_y, whose sides are cached inside the reduced sides), so every
 * definition -- constant columns, rank cut, where the weights go, SVCCA's
 * own 99 % cut -- is literally today's.  CKA is the exact CKA of the
 * unreduced data: from the two n x n Grams when both sides took the wide
 * route (tr(Kx Ky) = ||Sxy||_F^2), else from a pass for the cross Gram.
 * Debiased CKA too (its row norms are the n x n Grams' diagonals), and
 * Procrustes when both sides are narrow (reduced_gram_metrics). */

/* Directions a mode asks of a side of p columns over n rows, at most (the
 * memory estimate's K; the side itself may keep fewer). */
static uint64_t mode_k(const pw_reduce *mode, uint64_t n, uint64_t p)
{
    uint64_t k = p < n ? p : n;
    if (mode->kind == PW_REDUCE_DIMS && mode->dims < k)
        k = mode->dims;
    return k;
}

/* Build the reduced side of r.  Returns 0 (*out set, or *bad set when the
 * rows held a NaN or Inf), 1 when LAPACK failed (err), -1 on failure. */
static int reduced_side(const pw_rows *r, char name, const pw_reduce *mode, pw_side **out,
                        pw_gram_bad *bad, pw_err *err)
{
    uint64_t n = r->nrows;
    size_t p = r->ncols, k;
    double *a = NULL, *stats = NULL, *lam = NULL, *v = NULL;
    int rc = -1;
    pw_side *s = NULL;
    *out = NULL;
    memset(bad, 0, sizeof *bad);
    if (!pw_reduced_wide(n, p)) {
        /* Narrow: the side's own streaming pass (the other side of the pass
         * empty), its kept Gram, then the Gram goes once its norm is taken. */
        pw_rows none = {.nrows = n, .ncols = 0};
        double dummy = 0;
        double *g = pw_gram_alloc(p);
        stats = pw_array_alloc(3 * (p ? p : 1), sizeof(double));
        if (!g || !stats) {
            pw_gram_free(g, p);
            pw_err_set(err, "out of memory for the Gram of %c (%zu neurons)", name, p);
            goto out;
        }
        pw_gram_side gs = {
            .rows = r, .fresh = 1, .mean = stats, .min = stats + p, .max = stats + 2 * p};
        pw_gram_side ge = {.rows = &none, .fresh = 0, .mean = &dummy};
        unsigned lanes = lanes_begin(r, &none);
        pw_gram_deb deb;
        int prc = name == 'X' ? pw_gram_pass_deb(&gs, &ge, lanes, g, &deb, bad, err)
                              : pw_gram_pass_deb(&ge, &gs, lanes, g, &deb, bad, err);
        single_end(lanes);
        if (prc == 0 && bad->kind == PW_GRAM_GOOD)
            s = pw_side_build(n, p, gs.mean, gs.min, gs.max, g, p, err);
        if (s) {
            /* Debiased CKA's per-side sums, for the unreduced data's value. */
            s->deb_a1 = deb.a1[name == 'X' ? 0 : 1];
            s->deb_a2 = deb.a2[name == 'X' ? 0 : 1];
            s->deb_ready = 1;
        }
        pw_gram_free(g, p);
        if (prc != 0 || (bad->kind == PW_GRAM_GOOD && !s))
            goto out;
        if (bad->kind != PW_GRAM_GOOD) {
            bad->side = name;
            rc = 0;
            goto out;
        }
        k = s->p_kept;
        s->gram_norm = pw_frobenius(s->gram, k, k, k);
        s->gram_tr = 0;
        for (size_t j = 0; j < k; j++)
            s->gram_tr += s->gram[j * k + j];
        a = s->gram; /* destroyed by the eigensolver, freed below */
    } else {
        /* Wide: the n x n Gram, kept with the side (CKA's trace); the
         * eigensolver works on a full copy. */
        s = calloc(1, sizeof *s);
        if (!s || !(s->mean = pw_array_alloc(p, sizeof(double))) ||
            !(s->kept = pw_array_alloc(p, sizeof(uint32_t))) ||
            !(s->nn = pw_keep_alloc(n * n, sizeof(double))) ||
            !(a = pw_keep_alloc(n * n, sizeof(double)))) {
            pw_err_set(err, "out of memory for the %llu x %llu Gram of %c", (unsigned long long)n,
                       (unsigned long long)n, name);
            goto out;
        }
        s->n = n;
        s->p = p;
        size_t pk;
        if (pw_reduced_nn_gram(r, name, s->nn, s->mean, s->kept, &pk, bad, err) != 0)
            goto out;
        if (bad->kind != PW_GRAM_GOOD) {
            rc = 0;
            goto out;
        }
        s->p_kept = pk;
        k = n;
        for (size_t j = 0; j < k; j++)
            for (size_t i = 0; i <= j; i++)
                a[j * k + i] = a[i * k + j] = s->nn[j * k + i];
        s->gram_norm = pw_frobenius(a, k, k, k);
    }
    s->reduce = *mode;
    size_t kk = 0;
    rc = pw_reduced_eig(a, k, mode, name, &kk, &lam, &v, err);
    if (rc != 0)
        goto out;
    rc = -1;
    s->phi = pw_array_alloc(n * kk, sizeof(double));
    if (!s->phi) {
        pw_err_set(err, "out of memory for the %llu x %zu reduced %c", (unsigned long long)n, kk,
                   name);
        goto out;
    }
    s->k = kk;
    if (s->nn) {
        /* Phi = U_k S_k, S the square roots of the n x n Gram's eigenvalues. */
        for (size_t c = 0; c < kk; c++) {
            double sc = sqrt(lam[c] > 0 ? lam[c] : 0);
            for (uint64_t i = 0; i < n; i++)
                s->phi[i * kk + c] = v[c * n + i] * sc;
        }
    } else {
        pw_keep_free(s->gram, k * k, sizeof(double));
        s->gram = a = NULL;
        if (pw_reduced_project(r, name, s->kept, s->p_kept, s->mean, v, kk, s->phi, err) != 0)
            goto out;
    }
    rc = 0;
out:
    if (s && s->nn && a)
        pw_keep_free(a, n * n, sizeof(double));
    free(stats);
    free(lam);
    free(v);
    if (rc == 0 && bad->kind == PW_GRAM_GOOD)
        *out = s;
    else
        pw_side_free(s);
    return rc;
}

static double clamp_unit(double c)
{
    return c < 0 ? 0 : c > 1 ? 1 : c;
}

/* sum_ij (a_ij / na)(b_ij / nb) over two symmetric n x n matrices given by
 * their upper triangles: tr(A B) / (na nb), which no scale can overflow. */
static double trace_ratio(const double *a, double na, const double *b, double nb, uint64_t n)
{
    double diag = 0, off = 0;
    for (uint64_t j = 0; j < n; j++) {
        const double *aj = a + j * n, *bj = b + j * n;
        for (uint64_t i = 0; i < j; i++)
            off += (aj[i] / na) * (bj[i] / nb);
        diag += (aj[j] / na) * (bj[j] / nb);
    }
    return diag + 2 * off;
}

/* Debiased CKA's sums from two centred n x n Grams (upper triangles): the
 * centred row norms are their diagonals, and ||Sxy||_F^2 = tr(Kx Ky). */
static double nn_debiased(const double *kx, double nx, const double *ky, double ny, uint64_t n)
{
    double a1x = 0, a2x = 0, a1y = 0, a2y = 0, ab = 0;
    for (uint64_t j = 0; j < n; j++) {
        double a = kx[j * n + j], b = ky[j * n + j];
        a1x += a;
        a2x += a * a;
        a1y += b;
        a2y += b * b;
        ab += a * b;
    }
    return pw_cca_debiased_from(trace_ratio(kx, nx, ky, ny, n), nx, ny, a1x, a2x, a1y, a2y, ab, n);
}

/* The Gram-only metrics of the unreduced rows: exact linear CKA, debiased
 * CKA and (narrow sides only) Procrustes, into out.  Returns 0 (a metric
 * NAN when a side has no variance or its route cannot give it), 1 when
 * LAPACK failed (err), -1 on failure. */
static int reduced_gram_metrics(const pw_rows *x, const pw_rows *y, unsigned metrics,
                                const pw_side *sx, const pw_side *sy, pw_result *out, pw_err *err)
{
    double nx = sx->gram_norm, ny = sy->gram_norm;
    if (!(nx > 0) || !(ny > 0))
        return 0;
    uint64_t n = x->nrows;
    size_t p = x->ncols, q = y->ncols;
    if (sx->nn || sy->nn) {
        /* One side wide: the other's n x n Gram too (n^2 p, cheaper than
         * the cross Gram's n p q when q > n), and the trace.  Procrustes'
         * nuclear norm would come from the eigenvalues of Kx Ky, the squares
         * of the singular values it sums, which lose half their digits: it
         * is not given on this route (ENGINE.md, "Reduced mode"). */
        const double *kx = sx->nn, *ky = sy->nn;
        const pw_rows *other = kx ? y : x;
        size_t po = other->ncols, pk;
        double *tmp = NULL, *mean = NULL;
        uint32_t *kept = NULL;
        pw_gram_bad bad;
        int rc = -1;
        if (!kx || !ky) {
            tmp = pw_keep_alloc(n * n, sizeof(double));
            mean = pw_array_alloc(po, sizeof(double));
            kept = pw_array_alloc(po, sizeof(uint32_t));
            if (!tmp || !mean || !kept) {
                pw_err_set(err, "out of memory for a %llu x %llu Gram for CKA",
                           (unsigned long long)n, (unsigned long long)n);
                goto wide_out;
            }
            if (pw_reduced_nn_gram(other, kx ? 'Y' : 'X', tmp, mean, kept, &pk, &bad, err) != 0)
                goto wide_out;
            kx = kx ? kx : tmp;
            ky = ky ? ky : tmp;
        }
        if (metrics & PW_M_CKA)
            out->cka = clamp_unit(trace_ratio(kx, nx, ky, ny, n));
        if (metrics & PW_M_CKA_DEBIASED)
            out->cka_debiased = nn_debiased(kx, nx, ky, ny, n);
        rc = 0;
    wide_out:
        pw_keep_free(tmp, n * n, sizeof(double));
        free(mean);
        free(kept);
        return rc;
    }
    /* Both narrow: a pass for the cross Gram alone (both sides "cached":
     * no syrk, one gemm per chunk), as the exact engine gets it, with the
     * pair's debiased sum. */
    size_t ld = p + q, px = sx->p_kept, qy = sy->p_kept;
    double *g = pw_gram_alloc(ld), *means = pw_array_alloc(ld ? ld : 1, sizeof(double));
    double *sxy = pw_keep_alloc(px * qy, sizeof(double));
    int rc = -1;
    if (!g || !means || !sxy) {
        pw_err_set(err, "out of memory for the cross Gram of %zu + %zu neurons", p, q);
        goto out;
    }
    pw_gram_side gx = {.rows = x, .fresh = 0, .mean = means};
    pw_gram_side gy = {.rows = y, .fresh = 0, .mean = means + p};
    pw_gram_bad bad;
    pw_gram_deb deb;
    int want_deb = (metrics & PW_M_CKA_DEBIASED) != 0;
    unsigned lanes = lanes_begin(x, y);
    rc = pw_gram_pass_deb(&gx, &gy, lanes, g, want_deb ? &deb : NULL, &bad, err);
    single_end(lanes);
    if (rc != 0)
        goto out;
    for (size_t b = 0; b < qy; b++)
        for (size_t a = 0; a < px; a++)
            sxy[b * px + a] = g[(p + sy->kept[b]) * ld + sx->kept[a]];
    double nxy = pw_frobenius(sxy, px, qy, px), rxy = (nxy / nx) * (nxy / ny);
    if (metrics & PW_M_CKA)
        out->cka = clamp_unit(rxy);
    if (want_deb)
        out->cka_debiased = pw_cca_debiased_from(rxy, nx, ny, sx->deb_a1, sx->deb_a2, sy->deb_a1,
                                                 sy->deb_a2, deb.ab, n);
    if (metrics & PW_M_PROCRUSTES)
        rc = pw_cca_procrustes_from(sx->gram_tr, sy->gram_tr, sxy, px, qy, &out->procrustes, err);
out:
    if (g)
        pw_gram_free(g, ld);
    free(means);
    pw_keep_free(sxy, px * qy, sizeof(double));
    return rc;
}

/* The CCA metrics of the reduced data, into out. */
static int reduced_cca(const pw_rows *x, const pw_rows *y, unsigned metrics, pw_side *sx,
                       pw_side *sy, const pw_reduce *mode, pw_result *out, pw_err *err)
{
    uint64_t n = x->nrows;
    char text[PW_REDUCE_TEXT_MAX];
    pw_reduce_format(mode, text, sizeof text);
    if (sx->k == 0 || sy->k == 0) {
        set_status(out, PW_DEAD_LAYER,
                   "%s no variance representable in double (every direction's variance "
                   "underflows)",
                   sx->k == 0 ? "X has" : "Y has");
        return 0;
    }
    pw_rows px = pw_rows_from_matrix(sx->phi, n, sx->k),
            py = pw_rows_from_matrix(sy->phi, n, sy->k);
    px.cancelled = x->cancelled;
    px.cancel_ctx = x->cancel_ctx;
    py.cancelled = y->cancelled;
    py.cancel_ctx = y->cancel_ctx;
    pw_result in;
    /* The Gram-only metrics are not asked of the reduced data: CKA is the
     * unreduced data's, as are debiased CKA and Procrustes
     * (reduced_gram_metrics). */
    unsigned inner = metrics & ~(unsigned)(PW_M_CKA | PW_M_CKA_DEBIASED | PW_M_PROCRUSTES);
    if (pw_engine_compare(&px, &py, inner, &sx->inner, &sy->inner, &in, err) != 0)
        return -1;
    if (in.status == PW_OK) {
        out->rank_x = in.rank_x;
        out->rank_y = in.rank_y;
        out->rho = in.rho;
        out->nrho = in.nrho;
        out->ntied = in.ntied;
        in.rho = NULL;
        out->pwcca = in.pwcca;
        out->distance = in.distance;
        out->mean_cca = in.mean_cca;
        out->svcca = in.svcca;
    } else if (in.status == PW_INSUFFICIENT_DATAPOINTS) {
        set_status(out, PW_INSUFFICIENT_DATAPOINTS,
                   "n = %llu datapoints is not more than k_x + k_y = %llu + %llu, the directions "
                   "reduce %s keeps: the canonical correlations are not determined; use a smaller "
                   "K (auto keeps n/%d per side)",
                   (unsigned long long)n, (unsigned long long)sx->k, (unsigned long long)sy->k,
                   text, PW_REDUCE_AUTO_RATIO);
    } else {
        set_status(out, in.status, "reduced by %s: %.900s", text, in.message);
    }
    pw_result_free(&in);
    return 0;
}

/* auto's decision (pw_engine_resolve_reduce); cached sides, when given and
 * matching their rows, spare counting their kept columns. */
static int resolve_auto(const pw_rows *x, const pw_rows *y, unsigned metrics, uint64_t budget,
                        const pw_side *cx, const pw_side *cy, pw_reduce *mode, pw_err *err)
{
    *mode = (pw_reduce){.kind = PW_REDUCE_NONE};
    uint64_t n = x->nrows, pk = x->ncols, qk = y->ncols;
    if (n != y->nrows || n < 2 || pk > PW_MAX_NEURONS || qk > PW_MAX_NEURONS)
        return 0; /* the exact path reports it */
    if (n <= pk + qk) {
        /* Only then can dead columns decide: count them (one cheap read). */
        if (cx && cx->n == n && cx->p == x->ncols)
            pk = cx->p_kept;
        else if (pw_reduced_count_kept(x, 'X', &pk, err) != 0)
            return -1;
        if (cy && cy->n == n && cy->p == y->ncols)
            qk = cy->p_kept;
        else if (pw_reduced_count_kept(y, 'Y', &qk, err) != 0)
            return -1;
    }
    if (pk == 0 || qk == 0)
        return 0; /* a dead layer: reducing it changes nothing */
    pw_reduce red = {.kind = PW_REDUCE_DIMS, .dims = pw_reduce_auto_dims(n, pk > qk ? pk : qk)};
    if (n <= pk + qk || (budget && pw_engine_estimate(x, y, metrics, 0) > budget &&
                         pw_engine_estimate_reduced(x, y, metrics, &red, 0) <= budget))
        *mode = red;
    return 0;
}

int pw_engine_resolve_reduce(const pw_rows *x, const pw_rows *y, unsigned metrics,
                             const pw_reduce *reduce, uint64_t budget_bytes, pw_reduce *resolved,
                             pw_err *err)
{
    if (!reduce || reduce->kind != PW_REDUCE_AUTO) {
        *resolved = reduce ? *reduce : (pw_reduce){.kind = PW_REDUCE_NONE};
        return 0;
    }
    return resolve_auto(x, y, metrics, budget_bytes, NULL, NULL, resolved, err);
}

/* The reduced comparison for a resolved DIMS or VAR mode. */
static int compare_resolved(const pw_rows *x, const pw_rows *y, unsigned metrics,
                            const pw_reduce *mode, pw_side **x_cache, pw_side **y_cache,
                            pw_result *out, pw_err *err)
{
    assert(mode->kind == PW_REDUCE_DIMS || mode->kind == PW_REDUCE_VAR);
    int begun = compare_begin(x, y, metrics, x_cache, y_cache, out, err);
    if (begun <= 0)
        return begun;
    out->reduce = *mode;
    if ((mode->kind == PW_REDUCE_DIMS && mode->dims == 0) ||
        (mode->kind == PW_REDUCE_VAR && !(mode->var > 0 && mode->var <= 1)))
        return pw_err_set(err, "invalid reduce mode: dims:K needs K >= 1, var:F 0 < F <= 1");
    const pw_rows *rows[2] = {x, y};
    pw_side **slot[2] = {x_cache, y_cache};
    pw_side *side[2] = {x_cache ? *x_cache : NULL, y_cache ? *y_cache : NULL};
    int owned[2] = {0, 0}, rc = -1;
    if (check_cache_mode(side[0], x, mode, 'X', err) != 0 ||
        check_cache_mode(side[1], y, mode, 'Y', err) != 0)
        goto done;
    for (int i = 0; i < 2; i++) {
        if (side[i])
            continue;
        pw_gram_bad bad;
        pw_err lerr;
        pw_err_clear(&lerr);
        int brc = reduced_side(rows[i], i ? 'Y' : 'X', mode, &side[i], &bad, &lerr);
        if (brc < 0) {
            *err = lerr;
            goto done;
        }
        rc = 0;
        if (brc == 1) {
            set_status(out, PW_NUMERICAL_ERROR, "%s", lerr.msg);
            goto done;
        }
        if (bad.kind != PW_GRAM_GOOD) {
            report_bad(out, &bad);
            goto done; /* nothing is kept from rows that hold NaN or Inf */
        }
        owned[i] = 1;
        rc = -1;
    }
    assert(side[0] && side[1]); /* built or given */
    pw_side *sx = side[0], *sy = side[1];
    uint64_t pk = sx->p_kept, qk = sy->p_kept;
    out->p_kept = pk;
    out->q_kept = qk;
    out->k_x = sx->k;
    out->k_y = sy->k;
    rc = 0;
    if (!degenerate(out, x, y, pk, qk)) {
        if (metrics & (PW_M_CKA | PW_M_CKA_DEBIASED | PW_M_PROCRUSTES)) {
            pw_err lerr;
            pw_err_clear(&lerr);
            rc = reduced_gram_metrics(x, y, metrics, sx, sy, out, &lerr);
            if (rc < 0)
                *err = lerr;
            if (rc > 0) {
                set_status(out, PW_NUMERICAL_ERROR, "%s", lerr.msg);
                rc = 0;
                metrics = 0; /* nothing more is computed */
            }
        }
        if (rc == 0 && (metrics & (PW_M_PWCCA | PW_M_MEAN_CCA | PW_M_SVCCA)))
            rc = reduced_cca(x, y, metrics, sx, sy, mode, out, err);
    }
    if (rc == 0)
        for (int i = 0; i < 2; i++)
            if (slot[i] && owned[i]) {
                *slot[i] = side[i];
                owned[i] = 0;
            }
done:
    for (int i = 0; i < 2; i++)
        if (owned[i])
            pw_side_free(side[i]);
    if (rc != 0)
        pw_result_free(out);
    return rc;
}

int pw_engine_compare_reduced(const pw_rows *x, const pw_rows *y, unsigned metrics,
                              const pw_reduce *reduce, pw_side **x_cache, pw_side **y_cache,
                              pw_result *out, pw_err *err)
{
    pw_reduce mode = reduce ? *reduce : (pw_reduce){.kind = PW_REDUCE_NONE};
    if (mode.kind == PW_REDUCE_AUTO && resolve_auto(x, y, metrics, 0, x_cache ? *x_cache : NULL,
                                                    y_cache ? *y_cache : NULL, &mode, err) != 0) {
        pw_result_init(out);
        return -1;
    }
    if (mode.kind == PW_REDUCE_NONE)
        return pw_engine_compare(x, y, metrics, x_cache, y_cache, out, err);
    return compare_resolved(x, y, metrics, &mode, x_cache, y_cache, out, err);
}

/* ---- the reduced path's memory ---------------------------------------------------
 *
 * As pw_engine_estimate: from the shapes, metrics and lanes alone, every
 * neuron counted as kept, both sides fresh, K at most what the mode asks
 * (var:F counted as keeping everything), following reduced_side's phases. */

/* One side's peak while it is built, and what it holds afterwards (doubles). */
static uint64_t side_reduced_doubles(const pw_rows *r, uint64_t kk, unsigned lanes, uint64_t *held)
{
    uint64_t n = r->nrows, p = r->ncols, pp = sq(p), nk = pw_sat_mul(n, kk);
    uint64_t small = pw_sat_mul(p, 5);
    if (!pw_reduced_wide(n, p)) {
        pw_rows none = {.nrows = n, .ncols = 0};
        uint64_t pass = pw_sat_add(pp, pw_gram_pass_bytes(r, &none, lanes) / sizeof(double) + 1);
        pass = pw_sat_add(pass, pw_gram_deb_bytes(r, &none, lanes) / sizeof(double));
        uint64_t build = pw_sat_mul(pp, 2);
        uint64_t eig = pw_sat_add(pp, pw_reduced_eig_doubles(p, kk));
        uint64_t proj =
            pw_sat_add(pw_sat_add(pw_sat_mul(p, kk), nk), pw_reduced_project_doubles(r, kk));
        uint64_t peak = pass > build ? pass : build;
        peak = eig > peak ? eig : peak;
        peak = proj > peak ? proj : peak;
        *held = pw_sat_add(nk, small);
        return pw_sat_add(peak, small);
    }
    uint64_t nn = sq(n);
    uint64_t gram = pw_sat_add(nn, pw_reduced_nn_gram_doubles(r));
    uint64_t eig = pw_sat_add(pw_sat_mul(nn, 2), pw_reduced_eig_doubles(n, kk));
    uint64_t phi = pw_sat_add(pw_sat_mul(nn, 2), pw_sat_mul(nk, 2));
    uint64_t peak = gram > eig ? gram : eig;
    peak = phi > peak ? phi : peak;
    *held = pw_sat_add(pw_sat_add(nk, nn), small);
    return pw_sat_add(peak, small);
}

static uint64_t estimate_resolved(const pw_rows *x, const pw_rows *y, unsigned metrics,
                                  const pw_reduce *mode, unsigned lanes)
{
    uint64_t n = x->nrows, p = x->ncols, q = y->ncols;
    if (p > UINT32_MAX || q > UINT32_MAX || n > UINT32_MAX)
        return UINT64_MAX;
    if (lanes == 0) {
        int t = pw_engine_blas_threads();
        lanes = pw_gram_lanes(x, y, t > 0 ? (unsigned)t : 1u);
    }
    uint64_t kx = mode_k(mode, n, p), ky = mode_k(mode, n, q), hx, hy;
    uint64_t px = side_reduced_doubles(x, kx, lanes, &hx),
             py = side_reduced_doubles(y, ky, lanes, &hy);
    uint64_t cka = 0, inner = 0;
    unsigned gram_only = PW_M_CKA | PW_M_CKA_DEBIASED | PW_M_PROCRUSTES;
    if (metrics & gram_only) {
        int wx = pw_reduced_wide(n, p), wy = pw_reduced_wide(n, q);
        if (wx != wy) {
            const pw_rows *narrow = wx ? y : x;
            cka = pw_sat_add(sq(n), pw_sat_add(pw_reduced_nn_gram_doubles(narrow),
                                               pw_sat_mul(narrow->ncols, 2)));
        } else if (!wx) {
            uint64_t ld = p + q;
            cka = pw_sat_add(pw_sat_add(sq(ld), pw_gram_pass_bytes(x, y, lanes) / sizeof(double)),
                             pw_sat_add(pw_sat_mul(p, q), ld));
            if (metrics & PW_M_CKA_DEBIASED)
                cka = pw_sat_add(cka, pw_gram_deb_bytes(x, y, lanes) / sizeof(double));
            if (metrics & PW_M_PROCRUSTES) /* beside Sxy: its copy, values, workspace */
                cka = pw_sat_add(cka, pw_sat_add(pw_sat_add(pw_sat_mul(p, q), p < q ? p : q),
                                                 gesdd_work(p, q, 0)));
        }
    }
    unsigned cca = metrics & ~gram_only;
    if (cca) {
        static const double in_memory = 0; /* Phi is in memory: no read buffers */
        pw_rows ix = pw_rows_from_matrix(&in_memory, n, kx);
        pw_rows iy = pw_rows_from_matrix(&in_memory, n, ky);
        inner = pw_engine_estimate(&ix, &iy, cca, 0) / sizeof(double) + 1;
    }
    /* Phases: building X; building Y with X's Phi held; then both Phi
     * with CKA's pass or the reduced CCA, whichever is larger. */
    uint64_t peak = pw_sat_add(hx, py);
    peak = px > peak ? px : peak;
    uint64_t after = pw_sat_add(pw_sat_add(hx, hy), cka > inner ? cka : inner);
    peak = after > peak ? after : peak;
    uint64_t bytes = pw_sat_add(pw_sat_mul(peak, sizeof(double)), 4 * sizeof(pw_side));
    /* Heap one phase frees can stay resident into the next: pw_keep's pool
     * (up to PW_KEEP_BYTES, as pw_engine_estimate counts) and, more than on
     * the exact path, whose buffers come in few sizes, glibc's heap, which
     * serves and keeps blocks up to its dynamic mmap threshold (32 MiB at
     * most).  Measured at 3000 x 600 / 400 (dims:100) the peak was 1.8x the
     * largest phase; tests/unit/test_reduce.c checks the bound. */
    uint64_t retained = pw_sat_add(bytes < PW_KEEP_BYTES ? bytes : PW_KEEP_BYTES,
                                   bytes < (32u << 20) ? bytes : (32u << 20));
    return pw_sat_add(bytes, retained);
}

uint64_t pw_engine_estimate_reduced(const pw_rows *x, const pw_rows *y, unsigned metrics,
                                    const pw_reduce *reduce, unsigned lanes)
{
    if (!reduce || reduce->kind == PW_REDUCE_NONE)
        return pw_engine_estimate(x, y, metrics, lanes);
    if (reduce->kind != PW_REDUCE_AUTO)
        return estimate_resolved(x, y, metrics, reduce, lanes);
    /* Either outcome of auto, shape-based K. */
    uint64_t w = x->ncols > y->ncols ? x->ncols : y->ncols;
    pw_reduce red = {.kind = PW_REDUCE_DIMS, .dims = pw_reduce_auto_dims(x->nrows, w)};
    uint64_t a = pw_engine_estimate(x, y, metrics, lanes),
             b = estimate_resolved(x, y, metrics, &red, lanes);
    return a > b ? a : b;
}

int pw_engine_check_budget_reduced(const pw_rows *x, const pw_rows *y, unsigned metrics,
                                   const pw_reduce *reduce, uint64_t budget_bytes, const char *knob,
                                   uint64_t *estimate, pw_result *out)
{
    uint64_t est = pw_engine_estimate_reduced(x, y, metrics, reduce, 0);
    int over = budget_verdict(x, y, metrics, est, budget_bytes, knob, estimate, out);
    if (over && reduce && reduce->kind != PW_REDUCE_AUTO)
        out->reduce = *reduce;
    return over;
}
