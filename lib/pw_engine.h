/* pw_engine.h -- the similarity engine: PWCCA, mean CCA, SVCCA and linear CKA.
 *
 * Definitions are exactly those of shared/reference/README.md (summarised in
 * docs/ARCHITECTURE.md).  The engine makes one streaming pass over the rows of
 * X (n x p) and Y (n x q), accumulating centred Gram matrices in double with
 * pairwise (Chan) merges of per-chunk BLAS-3 products, so memory is
 * O((p+q)^2) whatever n is.  Everything else is O(p^3) LAPACK work on the
 * Grams.
 *
 * Caching for the daemon: the per-(checkpoint, layer) part -- Gram, means,
 * dead-neuron mask and whitening factorization -- is a pw_side.  Passing a
 * filled pw_side for X or Y skips that side's Gram and factorization, so a
 * monitored run pays one syrk for the new checkpoint plus one cross gemm per
 * pair, plus the per-pair p^3 work. */
#ifndef PW_ENGINE_H
#define PW_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "pw_error.h"
#include "pw_metric.h"
#include "pw_reduce.h"
#include "pw_status.h"
#include "pw_tensor.h"

typedef struct pw_result {
    pw_status status;         /* PW_OK or why the CCA metrics are missing */
    char message[PW_ERR_MAX]; /* human explanation when status != PW_OK, else "" */
    unsigned metrics;         /* bits requested */
    uint64_t n;               /* datapoints (rows) */
    uint64_t p, q;            /* neurons of X and Y as given */
    uint64_t p_kept, q_kept;  /* neurons left after dropping constant ones */
    uint64_t rank_x, rank_y;  /* numerical ranks (README definition 2) */
    pw_reduce reduce;         /* the reduction the CCA metrics used: NONE (exact), DIMS or VAR
                                 (never AUTO: what it resolved to) */
    uint64_t k_x, k_y;        /* directions X and Y kept when reduced (0 when exact) */
    /* One double per PW_METRIC_LIST entry (pwcca, distance, ...), NAN when not
     * requested or not applicable; cka is given even for insufficient_datapoints. */
    PW_METRIC_LIST(PW_METRIC_FIELD)
    size_t nrho;  /* length of rho = min(rank_x, rank_y), 0 when absent */
    size_t ntied; /* entries of rho in groups of >= 2 tied values (0: all distinct) */
    double *rho;  /* canonical correlations, descending; owned, free with pw_result_free */
} pw_result;

void pw_result_init(pw_result *r);
void pw_result_free(pw_result *r);

/* A source of rows: read(ctx, row0, nrows, out) writes nrows x ncols doubles,
 * row-major, and returns 0, or -1 with err set.  The engine asks for the rows
 * in order, one chunk at a time and never two calls at once, though not
 * always from the calling thread (the Gram pass's lanes take turns).  Rows
 * of pw_rows_from_tensor on contiguous F32/F64 data, and mem, are read by
 * the pass directly, without read.  Fields after ctx are optional: zero them
 * (designated initializers do) to get the defaults. */
typedef struct pw_rows {
    uint64_t nrows; /* n */
    uint64_t ncols; /* p */
    int (*read)(void *ctx, uint64_t row0, size_t nrows, double *out, pw_err *err);
    void *ctx;                          /* passed to read */
    const double *mem;                  /* or: rows in memory, row-major n x ncols, used in place */
    size_t chunk_rows;                  /* most rows per read call; 0 = PW_CHUNK_ROWS */
    int (*cancelled)(void *cancel_ctx); /* optional: asked before each chunk; non-zero
                                         * ends the pass with an error (a daemon stopping) */
    void *cancel_ctx;                   /* passed to cancelled */
    const struct pw_gram_given *given;  /* optional, on X only: the pass's result already
                                         * computed (pw_noise.c's merged blocks); the engine
                                         * takes Grams, means and extremes from it and reads
                                         * no rows of either side */
} pw_rows;

/* Rows of a tensor view (pw_tensor_read_rows). */
pw_rows pw_rows_from_tensor(const pw_tensor *t);
/* Rows of a row-major n x p matrix of doubles in memory. */
pw_rows pw_rows_from_matrix(const double *a, uint64_t n, uint64_t p);

/* Cached per-(checkpoint, layer) state: n, column means, the kept (non-constant)
 * columns, their centred Gram, and -- computed when a metric first needs them --
 * the equilibrated eigen-whitening (PWCCA, mean CCA) and the raw eigenbasis
 * (SVCCA).  A side depends only on its own rows, never on the other side.
 *
 * How the daemon uses it: for checkpoint t it keeps side[t] per layer and
 * scores the pair (t, t-1) with
 *     pw_engine_compare(rows_t, rows_t1, m, &side[t], &side[t-1], &r, &err);
 * (side[t] is NULL the first time, so the call fills it), then the pair
 * (t+1, t) with &side[t+1] (NULL, filled) and &side[t] (filled, reused): the
 * Gram and factorization of t are computed once, and each pair costs one
 * syrk for the new checkpoint, one cross gemm and the O(p^3) per-pair work.
 * side[t-1] can be freed once (t, t-1) is scored.  Calls sharing a side must
 * not run concurrently (a call may complete the side's lazy factorizations).
 * A side is not stored when the rows held a NaN or Inf. */
typedef struct pw_side pw_side;
/* Heap bytes held, for the daemon's cache budget. */
size_t pw_side_bytes(const pw_side *s);
void pw_side_free(pw_side *s);

/* Compare X against Y (X is the first argument: PWCCA is not symmetric).
 * metrics: PW_M_* bits.  x_cache / y_cache may be NULL; if *x_cache is non-NULL
 * it must come from an earlier call on the same rows and X's Gram is not
 * recomputed; if it is NULL and the pointer is not, the side is stored there
 * for the caller to keep (and free).  Returns 0 whenever *out holds a result --
 * including statuses such as insufficient_datapoints, nonfinite or n_mismatch,
 * whose message says what and where -- and -1 only when reading rows failed,
 * memory ran out, a layer is wider than PW_MAX_NEURONS or a cached side does
 * not match its rows (err says why).  *out is initialised by the call; free it
 * with pw_result_free.  rank_x, rank_y and rho are filled when PWCCA or mean
 * CCA was computed (0 / empty otherwise). */
int pw_engine_compare(const pw_rows *x, const pw_rows *y, unsigned metrics, pw_side **x_cache,
                      pw_side **y_cache, pw_result *out, pw_err *err);

/* The same with a reduction (pw_reduce.h; NULL or PW_REDUCE_NONE is exactly
 * pw_engine_compare).  out->reduce, k_x and k_y say what was applied; with
 * PW_REDUCE_AUTO, out->reduce is what auto resolved to for this pair, which
 * a caller that wants a series never to switch mode passes explicitly for
 * later pairs.  A cached side remembers the reduction it was built with: it
 * must be passed only with the same (resolved) reduction, else -1. */
int pw_engine_compare_reduced(const pw_rows *x, const pw_rows *y, unsigned metrics,
                              const pw_reduce *reduce, pw_side **x_cache, pw_side **y_cache,
                              pw_result *out, pw_err *err);

/* Memory ---------------------------------------------------------------------
 *
 * An upper bound, in bytes, of the heap pw_engine_compare takes at its peak
 * for this pair and these metrics: the stacked Gram and the pass's lanes,
 * both sides' Grams, the cross Gram, the whitening and SVCCA temporaries
 * (two sides at once, as they run), the canonical problem and LAPACK's
 * workspaces (docs/ENGINE.md, "Memory").  It depends on the shapes, the
 * metrics and the lanes only -- not on the data or on cached sides -- so a
 * pair gets the same verdict every time.  lanes: as the pass would use
 * (0: what pw_engine_compare would use now).  Saturates at UINT64_MAX. */
uint64_t pw_engine_estimate(const pw_rows *x, const pw_rows *y, unsigned metrics, unsigned lanes);

/* When the estimate exceeds budget_bytes (0: no budget), fill *out (as
 * pw_engine_compare would, initialised) with status over_budget and a
 * message naming both shapes, the estimate, the budget and `knob` (the
 * setting that holds it, e.g. "memory_mb"), and return 1; else 0 with *out
 * untouched.  *estimate, when not NULL, receives the estimate either way. */
int pw_engine_check_budget(const pw_rows *x, const pw_rows *y, unsigned metrics,
                           uint64_t budget_bytes, const char *knob, uint64_t *estimate,
                           pw_result *out);

/* The reduced mode's memory and auto's decision --------------------------------
 *
 * auto's rule (pw_reduce.h) depends on the data (dead columns), so a caller
 * that budgets memory or keys a cache by the mode resolves it first:
 *     pw_engine_resolve_reduce(x, y, m, &auto, budget, &mode, &err);
 *     if (!pw_engine_check_budget_reduced(x, y, m, &mode, budget, "memory_mb", NULL, &r))
 *         pw_engine_compare_reduced(x, y, m, &mode, &side_x, &side_y, &r, &err);
 * with the sides cached under `mode`.  A resolved mode is never AUTO. */

/* What `reduce` comes to for this pair: itself unless AUTO (NULL reads as
 * NONE).  AUTO gives NONE wherever the exact path scores (n > p_kept +
 * q_kept, counted from the data by one cheap read of both sides when
 * n <= p + q) and fits the budget; DIMS with K = pw_reduce_auto_dims(n,
 * max(p_kept, q_kept)) when the exact path cannot score, or when its
 * estimate exceeds budget_bytes (0: no budget) and the reduced one fits;
 * NONE for dead layers, n < 2, mismatched n (the exact path reports them).
 * Returns 0, or -1 when reading rows failed (err). */
int pw_engine_resolve_reduce(const pw_rows *x, const pw_rows *y, unsigned metrics,
                             const pw_reduce *reduce, uint64_t budget_bytes, pw_reduce *resolved,
                             pw_err *err);

/* pw_engine_estimate for pw_engine_compare_reduced with this mode: NONE
 * (or NULL) is pw_engine_estimate; DIMS and VAR bound the reduced path (K
 * at most what the mode asks, var:F counted as keeping min(p, n)); AUTO
 * the larger of the exact and the reduced estimate (resolve first to get
 * the one that applies).  Shapes, metrics and lanes only, as
 * pw_engine_estimate. */
uint64_t pw_engine_estimate_reduced(const pw_rows *x, const pw_rows *y, unsigned metrics,
                                    const pw_reduce *reduce, unsigned lanes);

/* pw_engine_check_budget with pw_engine_estimate_reduced; a refused pair's
 * out->reduce is the mode (NONE for AUTO). */
int pw_engine_check_budget_reduced(const pw_rows *x, const pw_rows *y, unsigned metrics,
                                   const pw_reduce *reduce, uint64_t budget_bytes, const char *knob,
                                   uint64_t *estimate, pw_result *out);

/* The lanes a Gram pass over x and y takes (at least 1), with BLAS held
 * single-threaded meanwhile, and their release: for passes run outside
 * pw_engine_compare (pw_noise.c's per-block passes). */
unsigned pw_engine_lanes_begin(const pw_rows *x, const pw_rows *y);
void pw_engine_lanes_end(unsigned lanes);

/* BLAS threads for this process (0 = default: cores / worker threads, >= 1).
 * The Gram pass uses them as lanes of its own, each with single-threaded
 * BLAS, and switches OpenBLAS to one thread meanwhile (docs/ENGINE.md). */
void pw_engine_set_blas_threads(int n);
/* Threads that call pw_engine_compare concurrently (default 1); the default
 * BLAS thread count divides the cores among them.  Call before
 * pw_engine_set_blas_threads(0). */
void pw_engine_set_workers(int workers);
/* BLAS threads now in effect. */
int pw_engine_blas_threads(void);

#endif
