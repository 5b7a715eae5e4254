/* pw_cca.h -- the per-pair mathematics: canonical correlations, PWCCA
 * weights, SVCCA and linear CKA, all from two pw_sides and the cross Gram.
 *
 * With whitenings Wx, Wy (Wx^T Sxx Wx = I), the canonical correlations are
 * the singular values of M = Wx^T Sxy Wy = A diag(rho) B^T, and the canonical
 * variates of X are h_i = Xc Wx a_i.  Their inner products with X's centred
 * neurons are <h_i, x_j> = (Sxx Wx a_i)_j, and Sxx Wx is known in closed form
 * for both whitenings of pw_side.h: D^-1 V L^1/2 (eigenvalues, Wx = D V L^-1/2)
 * or D^-1 R^T (Cholesky, Wx = D R^-1).  So the PWCCA weights
 * alpha_i = sum_j |<h_i, x_j>| need no pass over the data and no product with
 * Sxx (see shared/reference/MATH.md). */
#ifndef PW_CCA_H
#define PW_CCA_H

#include <stddef.h>

#include "pw_side.h"

/* Canonical correlations of two whitened sides.  sxy is the p_kept x q_kept
 * cross Gram of the kept columns (column-major, ld x->p_kept).  weights: 0 for
 * none, 'X' or 'Y' for the side whose canonical variates carry the PWCCA
 * weights.  On success *rho (malloc'd, descending, clamped to [0, 1]) holds
 * *k = min(rank_x, rank_y) values, *ntied counts those in tied groups (see
 * pw_cca_tie_groups) and, with weights, *pwcca is set, each tied group
 * weighted independently of the basis its SVD happened to pick (pw_cca.c).
 * threads: 2 lets the weights' two LAPACK parts run side by side (the
 * caller has made BLAS single-threaded), 1 runs them in turn.
 * Returns 0, 1 when LAPACK failed (err says which routine and info), -1 when
 * memory ran out. */
int pw_cca_canonical(const pw_side *x, const pw_side *y, const double *sxy, char weights,
                     unsigned threads, double **rho, size_t *k, size_t *ntied, double *pwcca,
                     pw_err *err);

/* Canonical correlations closer than this are tied: PW_TIE_EPS_FACTOR x the
 * wider side's kept neurons x DBL_EPSILON, the size of the rounding error of
 * forming M (dot products of that length) and taking its SVD when the
 * whitened sides are well conditioned.  pa, pb: kept neurons of the sides. */
double pw_cca_tie_tolerance(size_t pa, size_t pb);

/* Split rho (k values, descending) into groups of tied values: a group
 * starts at a value and takes every following value within tol of it.
 * start (k + 1 entries) receives the groups' first indices and then k.
 * Returns the number of groups. */
size_t pw_cca_tie_groups(const double *rho, size_t k, double tol, size_t *start);

/* SVCCA: mean canonical correlation of the sides reduced to their SVCCA
 * bases.  Return values as pw_cca_canonical. */
int pw_cca_svcca(const pw_side *x, const pw_side *y, const double *sxy, double *svcca, pw_err *err);

/* Linear CKA, ||Sxy||_F^2 / (||Sxx||_F ||Syy||_F) clamped to [0, 1]; NAN when
 * a side has no variance.  No LAPACK. */
double pw_cca_cka(const pw_side *x, const pw_side *y, const double *sxy);

/* Debiased linear CKA (Kornblith et al. 2019's feature-space form with the
 * unbiased HSIC estimator of Song et al. 2012): with a_i, b_i the centred row
 * norms (the sides' deb_a1 = sum a, deb_a2 = sum a^2, and ab = sum a_i b_i
 * from the pass),
 *   h(X, Y) = ||Sxy||_F^2 - n/(n-2) sum a_i b_i + sum a sum b / ((n-1)(n-2))
 * and cka_debiased = h(X, Y) / sqrt(h(X, X) h(Y, Y)), not clamped (it is
 * negative when the estimate is).  NAN when n < 4 or a side's h is not
 * positive.  No LAPACK. */
double pw_cca_cka_debiased(const pw_side *x, const pw_side *y, const double *sxy, double ab,
                           uint64_t n);

/* The same from its parts, for the reduced mode's routes: rxy =
 * ||Sxy||_F^2 / (nx ny), nx = ||Sxx||_F, ny = ||Syy||_F, and the sums. */
double pw_cca_debiased_from(double rxy, double nx, double ny, double a1x, double a2x, double a1y,
                            double a2y, double ab, uint64_t n);

/* The angular orthogonal Procrustes distance: theta = arccos(min(1,
 * ||Sxy||_* / (||Xc||_F ||Yc||_F))) in radians, ||.||_* the nuclear norm
 * (sum of singular values, by dgesdd without vectors: Sxy itself, not a
 * Gram product, whose eigenvalues would lose half the digits of the small
 * ones) and ||Xc||_F^2 = tr Sxx.  *theta is NAN when a side has no variance.
 * Return values as pw_cca_canonical. */
int pw_cca_procrustes(const pw_side *x, const pw_side *y, const double *sxy, double *theta,
                      pw_err *err);

/* The same from the traces tx = tr Sxx, ty = tr Syy and the px x qy sxy. */
int pw_cca_procrustes_from(double tx, double ty, const double *sxy, size_t px, size_t qy,
                           double *theta, pw_err *err);

/* Frobenius norm of a column-major rows x cols matrix, safe from overflow. */
double pw_frobenius(const double *a, size_t rows, size_t cols, size_t ld);

#endif
