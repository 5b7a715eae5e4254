/* pw_gram.h -- one streaming pass over the rows of X and Y that accumulates
 * their centred Gram matrices.
 *
 * Rows arrive a chunk at a time.  One sweep per chunk converts each value to
 * double, subtracts a shift (the running mean of the rows seen so far) into
 * the stacked chunk [X Y], and keeps the column sums s of what it wrote and
 * each column's raw minimum and maximum.  BLAS-3 then adds z z^T (one syrk
 * over the stacked chunk when both sides are fresh, otherwise a syrk for the
 * fresh side and a gemm for the cross block) and the rank-1 term -s s^T / n
 * makes that exactly Chan et al.'s pairwise merge (see pw_gram.c).  Nothing
 * is ever centred about a far-away point, so a neuron whose mean is 1e6
 * times its spread loses no digits.  A neuron is dead exactly when its raw
 * minimum and maximum are equal; the pass stops at the first NaN or Inf.
 *
 * The work is split into lanes: lane t takes chunks t, t + L, t + 2L, ...
 * into its own Gram, and the lanes' Grams are merged pairwise at the end.
 * Each lane runs on its own thread with single-threaded BLAS, which keeps
 * both cores busy through the sweeps and beats OpenBLAS's own threading of
 * syrk at a few hundred columns.  Memory is L Grams of (p+q)^2 plus L chunk
 * buffers, whatever n is. */
#ifndef PW_GRAM_H
#define PW_GRAM_H

#include <stddef.h>
#include <stdint.h>

#include "pw_engine.h"

/* One side of the pass. */
typedef struct pw_gram_side {
    const pw_rows *rows; /* where the rows come from */
    int fresh;           /* 1: accumulate its Gram, extremes and finiteness; 0: cached side */
    double *mean;        /* out, ncols: column means */
    double *min, *max;   /* out, ncols: raw extremes (fresh sides only, else NULL) */
} pw_gram_side;

/* Why the pass stopped short. */
typedef enum pw_gram_bad_kind {
    PW_GRAM_GOOD = 0,  /* every value finite, every sum representable */
    PW_GRAM_NONFINITE, /* a NaN or Inf value at (row, col) */
    PW_GRAM_OVERFLOW   /* finite values whose sums or squares overflow double (col) */
} pw_gram_bad_kind;

typedef struct pw_gram_bad {
    pw_gram_bad_kind kind; /* PW_GRAM_GOOD when the pass completed */
    char side;             /* 'X' or 'Y' */
    uint64_t row;          /* first bad row (PW_GRAM_NONFINITE) */
    uint64_t col;          /* its column (or the overflowing column) */
    double value;          /* the bad value (PW_GRAM_NONFINITE) */
} pw_gram_bad;

/* Stream both sides once with at most `lanes` lanes (>= 1; more than one
 * only pays when BLAS is single-threaded meanwhile -- pw_engine.c arranges
 * that).  g is (p+q) x (p+q), column-major, ld p+q, and is zeroed here; on
 * return the upper triangles of the diagonal blocks hold Sxx and Syy (for
 * fresh sides) and the block at rows 0..p-1, columns p.. holds Sxy.  Returns
 * 0 (check bad->kind), or -1 when reading rows or allocating buffers failed
 * (err says why). */
int pw_gram_pass(pw_gram_side *x, pw_gram_side *y, unsigned lanes, double *g, pw_gram_bad *bad,
                 pw_err *err);

/* The sums debiased CKA needs besides the Grams (docs/ENGINE.md, "Debiased
 * CKA"): with a_i = ||x_i - mean_x||^2 and b_i = ||y_i - mean_y||^2 the
 * centred row norms over all the side's columns (a constant column adds
 * nothing), a1 = sum a_i, a2 = sum a_i^2 (fresh sides only: re-centring it
 * needs the side's Gram) and ab = sum a_i b_i.  Each lane keeps them about a
 * fixed centre near its data, with the p-vectors sum a_i x_i and sum b_i x_i
 * that re-centring needs, and converts them to its own mean at its end; the
 * lanes then merge as the Grams do (pw_gram.c, "Debiased sums"). */
typedef struct pw_gram_deb {
    double a1[2]; /* out: sum of the centred row norms, X and Y */
    double a2[2]; /* out: sum of their squares (NAN for a side that is not fresh) */
    double ab;    /* out: sum of the products of X's and Y's */
} pw_gram_deb;

/* pw_gram_pass that also fills *deb (when not NULL). */
int pw_gram_pass_deb(pw_gram_side *x, pw_gram_side *y, unsigned lanes, double *g, pw_gram_deb *deb,
                     pw_gram_bad *bad, pw_err *err);

/* Heap bytes the debiased sums add to pw_gram_pass_bytes. */
uint64_t pw_gram_deb_bytes(const pw_rows *x, const pw_rows *y, unsigned lanes);

/* A (p+q)^2 Gram for pw_gram_pass, and its release: buffers are kept for
 * the next pass (pw_keep.h) to spare page faults. */
double *pw_gram_alloc(size_t ld);
void pw_gram_free(double *g, size_t ld);

/* How many lanes the pass would use for this pair given `threads` (1 when the
 * data are too small for a second thread to pay). */
unsigned pw_gram_lanes(const pw_rows *x, const pw_rows *y, unsigned threads);

/* Heap bytes pw_gram_pass takes for its lanes (not counting g), saturating
 * at UINT64_MAX: for pw_engine_estimate.  lanes as given to the pass. */
uint64_t pw_gram_pass_bytes(const pw_rows *x, const pw_rows *y, unsigned lanes);

/* When r's rows lie in memory, row-major and contiguous, as native F64 or
 * F32 (pw_rows.mem, or pw_rows_from_tensor of such a tensor, read and ctx
 * untouched): their first byte and type, so the pass converts them itself
 * while centring.  Otherwise NULL: rows come through r->read. */
const unsigned char *pw_rows_direct(const pw_rows *r, pw_dtype *dtype);

#endif
