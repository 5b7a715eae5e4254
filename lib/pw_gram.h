/* pw_gram.h -- one streaming pass over the rows of X and Y that accumulates
 * their centred Gram matrices.
 *
 * Rows arrive a chunk at a time.  Each chunk is centred about its own column
 * means and multiplied with BLAS-3 (one syrk over the stacked chunk [X Y]
 * when both sides are fresh, otherwise a syrk for the fresh side and a gemm
 * for the cross block), then merged into the running Gram with Chan et al.'s
 * pairwise update, S = Sa + Sb + (na nb / n) d d^T with d the difference of
 * the means.  Nothing is ever centred about a far-away point, so a neuron
 * whose mean is 1e6 times its spread loses no digits.  The pass also keeps
 * each column's raw minimum and maximum (a neuron is dead exactly when they
 * are equal) and stops at the first NaN or Inf.  Memory is the (p+q)^2 Gram
 * plus three chunk buffers, whatever n is. */
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

/* Stream both sides once.  g is (p+q) x (p+q), column-major, ld p+q, and is
 * zeroed here; on return the upper triangles of the diagonal blocks hold Sxx
 * and Syy (for fresh sides) and the block at rows 0..p-1, columns p.. holds
 * Sxy.  Returns 0 (check bad->kind), or -1 when reading rows or allocating
 * chunk buffers failed (err says why). */
int pw_gram_pass(pw_gram_side *x, pw_gram_side *y, double *g, pw_gram_bad *bad, pw_err *err);

/* The chunk height the pass uses for this pair (pw_rows.chunk_rows or PW_CHUNK_ROWS). */
size_t pw_gram_chunk_rows(const pw_rows *x, const pw_rows *y);

#endif
