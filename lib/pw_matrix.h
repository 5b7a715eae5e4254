/* pw_matrix.h -- every layer of one network against every layer of another.
 *
 * The paper's layer x layer picture (which layer of A corresponds to which
 * of B): for layers a_0..a_{L-1} of A and b_0..b_{M-1} of B, cell (i, j)
 * compares a_i as X with b_j as Y (PWCCA is not symmetric).  The two lists
 * may come from different architectures: names need not match, only the
 * datapoints n, which must be the same probe rows.
 *
 * Each layer is factored once: a layer's side (pw_side.h: its Gram and its
 * whitening) depends on its own rows only, so side[a_i] is built by the
 * first pair of row i and reused by the other M - 1, side[b_j] likewise
 * down column j: L + M side Grams and factorizations in all, where pairwise
 * comparisons would make 2 L M.  Each of the L M pairs still streams both
 * layers once for its cross Gram Sxy (one gemm per chunk), plus its own
 * canonical problem.  Exact scores only (no reduce): a pair with n <=
 * p_kept + q_kept is insufficient_datapoints, with CKA still given. */
#ifndef PW_MATRIX_H
#define PW_MATRIX_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "pw_engine.h"
#include "pw_error.h"
#include "pw_tensor.h"

typedef struct pw_matrix {
    size_t na, nb;            /* layers of A (rows) and of B (columns) */
    const pw_tensor **a, **b; /* their views, borrowed from the caller's checkpoints */
    unsigned metrics;         /* PW_M_* bits computed */
    uint64_t n;               /* datapoints, the same for every layer */
    pw_result *cell;          /* na x nb row-major: cell[i * nb + j] is a[i] (X) against b[j] (Y) */
} pw_matrix;

/* Fill m with every layer of a against every layer of b (na, nb >= 1).
 * Returns 0 whenever m holds a matrix -- a pair whose layer could not be read
 * has status read_error and its message -- and -1 with err set when the
 * layers' n differ (naming both layers and their n), or memory ran out.
 * Free m with pw_matrix_free either way. */
int pw_matrix_compute(pw_matrix *m, const pw_tensor *const *a, size_t na, const pw_tensor *const *b,
                      size_t nb, unsigned metrics, pw_err *err);
void pw_matrix_free(pw_matrix *m);

/* Cell (i, j)'s value of metric (its index in PW_METRIC_LIST), NAN when none. */
double pw_matrix_value(const pw_matrix *m, size_t i, size_t j, unsigned metric);

/* The matrix as `pwcca layers-matrix --json` prints it (docs/CLIENT.md): the
 * labels of A and B, n, both layer lists, one nested array (rows: A's
 * layers) per metric computed, and the cells with their statuses.  A new
 * reference, or NULL when out of memory. */
json_t *pw_matrix_json(const pw_matrix *m, const char *a_label, const char *b_label);

/* The heatmap of one metric (its index in PW_METRIC_LIST) as SVG: A's layers
 * as rows, the bottom layer at the bottom, B's as columns, left to right;
 * values on a linear colour scale from 0 to 1.  Fails only when writing
 * fails. */
int pw_matrix_svg(FILE *f, const pw_matrix *m, unsigned metric, const char *a_label,
                  const char *b_label, pw_err *err);

#endif
