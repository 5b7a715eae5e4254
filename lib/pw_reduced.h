/* pw_reduced.h -- the numerical pieces of the reduced mode (pw_reduce.h,
 * docs/ENGINE.md "Reduced mode"); pw_engine.c puts them together.
 *
 * A reduced side is X's top-K principal directions, Phi = Xc V_k = U_k S_k
 * (n x K).  It is reached by one of two routes, chosen from the shape alone
 * (so that the memory estimate and the cache never depend on the data):
 *
 *   narrow (p <= n): the p x p centred Gram from the ordinary streaming
 *     pass, its top K eigenpairs V_k, then a second pass over the rows that
 *     projects them, Phi = (X - 1 mu^T) V_k, a chunk at a time with dgemm.
 *   wide (p > n): never the p x p Gram.  The n x n Gram Xc Xc^T is summed
 *     over blocks of columns (each block read for all n rows, centred
 *     exactly with its own two-pass column means, one dsyrk), and its top K
 *     eigenpairs give Phi = U_k S_k directly.
 *
 * Either way K is chosen from the eigenvalues of the Gram (pw_reduced_eig):
 * `dims:K` keeps the top K but never more than the numerical rank (the
 * eigenvalues above PW_RANK_REL_EIG of the largest), `var:F` the fewest
 * holding a share F of the variance. */
#ifndef PW_REDUCED_H
#define PW_REDUCED_H

#include <stddef.h>
#include <stdint.h>

#include "pw_engine.h"
#include "pw_gram.h"
#include "pw_reduce.h"

/* 1 when a side of p columns over n rows takes the wide route. */
int pw_reduced_wide(uint64_t n, uint64_t p);

/* The top directions of the symmetric k x k matrix a (column-major, upper
 * triangle read, destroyed) that `mode` (DIMS or VAR) keeps: *kk of them,
 * their eigenvalues *lam (descending) and eigenvectors *v (k x kk,
 * column-major), both malloc'd (NULL when *kk = 0).  One tridiagonal
 * reduction (dsytrd), all eigenvalues of the tridiagonal (dsterf, O(k^2))
 * to choose kk, then only those kk vectors (dstemr) carried back (dormtr).
 * Returns 0, 1 when LAPACK failed (err names the routine), -1 when memory
 * ran out. */
int pw_reduced_eig(double *a, size_t k, const pw_reduce *mode, char name, size_t *kk, double **lam,
                   double **v, pw_err *err);

/* The narrow route's second pass: phi (n x kk, row-major) = the rows of r,
 * their kept columns (kept, p_kept of them) less mean, times v (p_kept x kk,
 * column-major).  Honours r->cancelled.  Returns 0, or -1 (err). */
int pw_reduced_project(const pw_rows *r, char name, const uint32_t *kept, size_t p_kept,
                       const double *mean, const double *v, size_t kk, double *phi, pw_err *err);

/* The wide route's Gram: kn (n x n, column-major, upper triangle filled) =
 * Xc Xc^T over the non-constant columns.  Fills mean (p), kept (p entries;
 * *p_kept of them used, ascending).  A NaN or Inf, or a column whose squares
 * overflow, sets *bad and stops (return 0).  Honours r->cancelled.  Returns
 * 0, or -1 (err) when reading or allocating failed. */
int pw_reduced_nn_gram(const pw_rows *r, char name, double *kn, double *mean, uint32_t *kept,
                       size_t *p_kept, pw_gram_bad *bad, pw_err *err);

/* The number of non-constant columns of r (raw minimum < maximum), from one
 * cheap pass (for auto's decision).  Returns 0, or -1 (err). */
int pw_reduced_count_kept(const pw_rows *r, char name, uint64_t *p_kept, pw_err *err);

/* Heap doubles, at their peak, of pw_reduced_project, pw_reduced_nn_gram and
 * pw_reduced_eig, for pw_engine_estimate_reduced (saturating). */
uint64_t pw_reduced_project_doubles(const pw_rows *r, uint64_t kk);
uint64_t pw_reduced_nn_gram_doubles(const pw_rows *r);
uint64_t pw_reduced_eig_doubles(uint64_t k, uint64_t kk);

#endif
