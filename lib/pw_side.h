/* pw_side.h -- everything about one layer of one checkpoint that the engine
 * can compute without looking at the other side, and may cache.
 *
 * Built from a streaming pass (pw_gram.h): the kept (non-constant) columns
 * and their centred Gram S.  Two factorizations of S are made on demand:
 *
 *   whitening (PWCCA, mean CCA): D = diag(S)^-1/2 and C = D S D, the
 *     equilibrated Gram (equilibrating makes the rank cut independent of the
 *     neurons' scales and removes the part of the condition number that is
 *     only column scaling).  Any W with W^T S W = I_r gives the same canonical
 *     correlations and variates (two such W differ by a rotation), so the
 *     cheapest one that is provably right is taken:
 *     - Cholesky, C = R^T R, W = D R^-1 (upper triangular), whenever the
 *       eigenvalue route would keep every eigenvalue (above PW_RANK_REL_EIG
 *       of the largest): proven by cheap bounds for most layers, else by the
 *       eigenvalues alone (pw_side.c).  It costs a third to a tenth of an
 *       eigendecomposition with vectors, and is the more accurate of the two.
 *     - otherwise (a direction is cut) eigenvalues, C = V L V^T: keep those
 *       above PW_RANK_REL_EIG of the largest (the numerical rank r),
 *       W = D V_r L_r^-1/2.
 *   SVCCA basis: S / max(diag S) = U G U^T without equilibration (the 99 %
 *     rule is about raw variance); the top k directions that reach
 *     PW_SVCCA_KEEP of the trace. */
#ifndef PW_SIDE_H
#define PW_SIDE_H

#include <stddef.h>
#include <stdint.h>

#include "pw_engine.h"

struct pw_side {
    uint64_t n;      /* rows it was computed from */
    uint64_t p;      /* columns as given */
    uint64_t p_kept; /* non-constant columns */
    uint32_t *kept;  /* p_kept indices of the kept columns, ascending */
    double *mean;    /* p column means */
    double *gram;    /* p_kept x p_kept centred Gram of the kept columns, column-major, full */

    int whitened;   /* 1 once d, w and lambda or rdiag are filled */
    int chol;       /* 1: the Cholesky whitening, 0: the eigenvalue one */
    uint64_t rank;  /* numerical rank r (p_kept when chol) */
    double *d;      /* p_kept: diag(gram)^-1/2, 0 for a column whose squares underflowed */
    double *lambda; /* eigenvalue route: the r eigenvalues of C kept, descending */
    double *rdiag;  /* Cholesky route: the diagonal of R */
    double *w;      /* p_kept x r, column-major: D V_r L_r^-1/2, or D R^-1 in the upper
                       triangle with R^T's strictly lower part below it (the weights'
                       S W = D^-1 R^T, pw_cca.c) */

    int svcca_ready;    /* 1 once the SVCCA basis is filled */
    uint64_t svcca_k;   /* directions reaching PW_SVCCA_KEEP of the variance */
    double raw_scale;   /* max(diag gram): raw_lambda is relative to it */
    double *raw_lambda; /* svcca_k top eigenvalues of gram / raw_scale, descending */
    double *raw_v;      /* p_kept x svcca_k their eigenvectors, column-major */

    /* Reduced mode (pw_reduced.h): a side built for a reduction has no Gram
     * (gram is NULL, nor the factorizations above); it holds the reduced
     * data and, as its own cache, the engine's side of that data. */
    pw_reduce reduce; /* the resolved mode it was built with; PW_REDUCE_NONE: an exact side */
    uint64_t k;       /* directions kept (the mode's K, capped at the numerical rank) */
    double *phi;      /* n x k, row-major: Xc V_k = U_k S_k */
    pw_side *inner;   /* the engine's side of phi, filled by the first comparison */
    double gram_norm; /* ||Xc^T Xc||_F = ||Xc Xc^T||_F over the kept columns, for CKA */
    double gram_tr;   /* tr Xc^T Xc over the kept columns, for Procrustes */
    double *nn;       /* wide route: the n x n Gram Xc Xc^T (column-major, upper), else NULL */

    /* Debiased CKA's per-side sums (pw_gram_deb), a_i the centred row norms. */
    int deb_ready; /* 1 once deb_a1 and deb_a2 are filled (a pass that asked for them) */
    double deb_a1; /* sum a_i = tr of the centred Gram over all columns */
    double deb_a2; /* sum a_i^2 */
};

/* Build a side from a finished pass: mean, min, max have p entries; g is the
 * side's upper-triangular Gram block inside a matrix of leading dimension ld.
 * Returns NULL with err set when memory ran out. */
pw_side *pw_side_build(uint64_t n, size_t p, const double *mean, const double *min,
                       const double *max, const double *g, size_t ld, pw_err *err);

/* Fill the whitening.  Returns 0; 1 when LAPACK failed (err names the routine
 * and info, the caller reports numerical_error); -1 when memory ran out. */
int pw_side_whiten(pw_side *s, char name, pw_err *err);

/* Fill the SVCCA basis; return values as pw_side_whiten. */
int pw_side_svcca_basis(pw_side *s, char name, pw_err *err);

/* Process-wide counts of the per-side work done so far: sides built (one
 * Gram each) and factorizations made (whitenings, SVCCA bases).  A caller
 * that promises to factor each layer once (pw_matrix.h) is held to it by
 * tests reading these before and after; relaxed atomics, so concurrent
 * compute threads only add. */
typedef struct pw_side_counts {
    uint64_t built;    /* pw_side_build calls that returned a side */
    uint64_t whitened; /* whitenings computed (cached ones not counted) */
    uint64_t svcca;    /* SVCCA bases computed (cached ones not counted) */
} pw_side_counts;
void pw_side_counts_get(pw_side_counts *out);

#endif
