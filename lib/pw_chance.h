/* pw_chance.h -- a chance level per layer: the metrics of X against Y with
 * Y's probe inputs shuffled.
 *
 * "Unrelated looks like this at this n and p": the distance between X and Y
 * is read against the distance between X and a Y whose rows no longer
 * belong to the same inputs.  The shuffle moves whole inputs -- every row
 * of an input (the H*W positions of a conv map, the T tokens of a sequence)
 * goes together, in order, to the new position -- so the rows within an
 * input stay correlated as they were, and only the pairing between X's and
 * Y's inputs is broken (the same rows-per-input mapping as pw_noise.h's
 * blocks: input i holds rows i*R .. i*R + R - 1, R = nrows / N).
 *
 * The permutation is fixed by a seed (PW_CHANCE_SEED unless a caller says
 * otherwise): splitmix64 (Steele, Lea, Flood 2014) seeded with it draws, for
 * i = N-1 down to 1, j uniform in [0, i] by rejection of the top remainder
 * (no modulo bias), and swaps perm[i] and perm[j] (Fisher-Yates).  Integer
 * arithmetic only, so every machine draws the same permutation.
 *
 * Cost: the side Grams, means, dead columns and factorizations of X and Y
 * do not depend on the order of the rows, so a caller that passes the
 * pair's cached sides pays one more pass that computes only the cross Gram
 * (one gemm per chunk, over the mapped rows in shuffled order) and the
 * per-pair canonical work.  On the reduced route (pw_reduce.h) Y's side
 * holds its reduced rows, which the shuffle reorders: Y's reduced side is
 * built afresh from the shuffled rows (X's cached side is reused). */
#ifndef PW_CHANCE_H
#define PW_CHANCE_H

#include <stdint.h>

#include "pw_engine.h"
#include "pw_reduce.h"

/* The metrics the chance table has columns for (007_chance.sql), X(sym, id).
 * Explicit, not PW_METRIC_LIST: a metric added to the list later adds its
 * own column in its own migration, then an entry here. */
#define PW_CHANCE_COLUMNS(X)                                                                       \
    X(PWCCA, pwcca)                                                                                \
    X(DISTANCE, distance)                                                                          \
    X(MEAN_CCA, mean_cca)                                                                          \
    X(SVCCA, svcca) X(CKA, cka) X(CKA_DEBIASED, cka_debiased) X(PROCRUSTES, procrustes)

/* The schema version that added the chance table. */
#define PW_CHANCE_SCHEMA_VERSION 7

/* The seed of the daemon's and `pwcca compare --chance`'s permutation. */
#define PW_CHANCE_SEED 20261206u

/* The permutation of n inputs under seed: perm[i] is the input of Y placed
 * at position i.  Deterministic across machines (see above). */
void pw_chance_perm(uint64_t *perm, uint64_t n, uint64_t seed);

/* A view of y whose input i is y's input perm[i] (rows_per_input rows each). */
typedef struct pw_chance_view {
    const pw_rows *y;        /* the rows shuffled */
    const uint64_t *perm;    /* N entries */
    uint64_t rows_per_input; /* R */
} pw_chance_view;

/* Rows of the view (read through v, which must outlive them). */
pw_rows pw_chance_rows(pw_chance_view *v, const pw_rows *y, const uint64_t *perm, uint64_t inputs);

/* pw_engine_compare_reduced of x against y with y's inputs shuffled under
 * seed: inputs is N of both (pw_noise_inputs); mode NULL or a resolved mode
 * (not AUTO).  x_cache and y_cache may hold the pair's sides (or NULL): on
 * the exact route both are used and neither is filled; on the reduced route
 * only x_cache.  Returns as pw_engine_compare; -1 also when the rows are not
 * a whole number of rows per input or memory for the permutation ran out. */
int pw_chance_compare(const pw_rows *x, const pw_rows *y, uint64_t inputs, uint64_t seed,
                      unsigned metrics, const pw_reduce *mode, pw_side **x_cache, pw_side **y_cache,
                      pw_result *out, pw_err *err);

#endif
