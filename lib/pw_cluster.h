/* pw_cluster.h -- runs against runs: a distance matrix and its average-linkage
 * hierarchical clustering.
 *
 * The paper clusters networks by their representations (§3: networks that
 * generalize converge to more similar solutions).  For k runs and one layer,
 * d(i, j) is the PWCCA distance 1 - PWCCA between run i's and run j's
 * activations.  PWCCA weights one side's neurons, so the distance is not
 * symmetric; clustering needs a symmetric matrix and uses the mean of both
 * directions, (d(i, j) + d(j, i)) / 2, with 0 on the diagonal.  The angular
 * Procrustes distance (pw_cca.h) is the alternative: symmetric, a true
 * metric (so average linkage groups by a geometry), one comparison per pair,
 * and defined for layers wider than the probe, where PWCCA is not.  Each run's
 * side is built and factored once (k of them) and serves as X and as Y;
 * each of the k (k - 1) ordered pairs streams both layers for its cross
 * Gram.
 *
 * Clustering is UPGMA (average linkage): merge the two closest clusters,
 * the distance of the union to any other cluster being the size-weighted
 * mean of its parts' distances, until one is left.  The merges are given
 * as scipy.cluster.hierarchy.linkage gives them, so a script can feed them
 * to scipy's dendrogram: row k is (a, b, height, size), a < b, leaves
 * numbered 0..k-1 and the cluster made by row m numbered k + m, rows in
 * non-decreasing height (average linkage has no inversions). */
#ifndef PW_CLUSTER_H
#define PW_CLUSTER_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "pw_engine.h"
#include "pw_error.h"
#include "pw_tensor.h"

/* The distance a clustering is made on. */
typedef enum pw_cluster_measure {
    PW_CLUSTER_PWCCA,     /* 1 - PWCCA, the mean of both directions (needs n > p + q) */
    PW_CLUSTER_PROCRUSTES /* the angular Procrustes distance: symmetric, a true metric, and
                           * defined for layers wider than the probe */
} pw_cluster_measure;

/* "pwcca" or "procrustes" into *m; -1 with err naming both otherwise. */
int pw_cluster_measure_parse(const char *s, pw_cluster_measure *m, pw_err *err);
/* Its name as parsed and as the JSON's "distance" gives it. */
const char *pw_cluster_measure_name(pw_cluster_measure m);
/* A heading for tables and pictures ("PWCCA distance (mean of both directions)"). */
const char *pw_cluster_measure_text(pw_cluster_measure m);

/* The symmetric distance matrix (k x k, row-major, into d) of the layers
 * t[0..k-1], one per run, by measure m.  Returns 0, or -1 with err set when
 * the n differ, a pair has no such distance (its status and message, naming
 * both labels), reading failed or memory ran out. */
int pw_cluster_distances(const pw_tensor *const *t, const char *const *labels, size_t k,
                         pw_cluster_measure m, double *d, pw_err *err);

/* Average linkage of the k x k symmetric matrix d (k >= 2; the diagonal is
 * ignored): k - 1 rows (a, b, height, size) into z, as above.  Returns 0, or
 * -1 when memory ran out or d holds a NaN or a negative distance. */
int pw_cluster_average(const double *d, size_t k, double (*z)[4], pw_err *err);

/* The dendrogram's leaves left to right (scipy's leaves_list): each merge's
 * a drawn left of its b.  order gets k leaf indices. */
void pw_cluster_leaves(const double (*z)[4], size_t k, size_t *order);

/* The clustering as `pwcca cluster --json` prints it (docs/CLIENT.md): the
 * layer, the runs' labels, the matrix, scipy's linkage rows, the merges
 * with the runs each one joins, and the leaf order.  A new reference, or
 * NULL when out of memory. */
json_t *pw_cluster_json(const char *layer, pw_cluster_measure m, const char *const *labels,
                        size_t k, const double *d, const double (*z)[4]);

/* The matrix in leaf order with the dendrogram above it, as SVG; title names
 * the layer and step.  Fails only when writing fails or memory ran out. */
int pw_cluster_svg(FILE *f, const char *title, pw_cluster_measure m, const char *const *labels,
                   size_t k, const double *d, const double (*z)[4], pw_err *err);

#endif
