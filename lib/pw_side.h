/* pw_side.h -- everything about one layer of one checkpoint that the engine
 * can compute without looking at the other side, and may cache.
 *
 * Built from a streaming pass (pw_gram.h): the kept (non-constant) columns
 * and their centred Gram S.  Two factorizations of S are made on demand:
 *
 *   whitening (PWCCA, mean CCA): D = diag(S)^-1/2, D S D = V L V^T, keep the
 *     eigenvalues above PW_RANK_REL_EIG of the largest (the numerical rank r),
 *     W = D V_r L_r^-1/2, so W^T S W = I_r.  Equilibrating first makes the
 *     rank cut independent of the neurons' scales and removes the part of the
 *     condition number that is only column scaling.
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

    int whitened;   /* 1 once d, lambda, w are filled */
    uint64_t rank;  /* numerical rank r */
    double *d;      /* p_kept: diag(gram)^-1/2, 0 for a column whose squares underflowed */
    double *lambda; /* r eigenvalues of D S D kept, descending */
    double *w;      /* p_kept x r whitening matrix D V_r L_r^-1/2, column-major */

    int svcca_ready;    /* 1 once the SVCCA basis is filled */
    uint64_t svcca_k;   /* directions reaching PW_SVCCA_KEEP of the variance */
    double raw_scale;   /* max(diag gram): raw_lambda is relative to it */
    double *raw_lambda; /* svcca_k top eigenvalues of gram / raw_scale, descending */
    double *raw_v;      /* p_kept x svcca_k their eigenvectors, column-major */
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

#endif
