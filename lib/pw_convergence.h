/* pw_convergence.h -- when did each layer settle, and did the network settle bottom-up?
 *
 * Pure functions over the distance-to-final time series (Raghu et al. 2017
 * and Morcos et al. 2018 report that lower layers converge first).  A layer's
 * settle step is the first step from which its distance to the final
 * checkpoint stays <= tau for every later checkpoint: scanning backwards from
 * the newest checkpoint, the run of points with a distance <= tau; a NULL
 * distance (NAN) breaks the run because nothing is known there.  The default
 * tau is PW_CONV_DEFAULT_TAU (0.05: the layer's PWCCA with its final state is
 * at least 0.95).
 *
 * Only real distances count: the caller passes NAN for a point whose score
 * has no distance or a status other than ok.  A layer without any real
 * distance is unmeasured.  A settle step right after a point without a
 * distance is only a bound (the layer settled there or earlier: nothing is
 * known of the step before), and a layer whose newest point has no distance
 * may or may not have settled; neither is a settle time one can rank.
 *
 * Whether convergence was bottom-up is measured by Spearman's rank
 * correlation rho between depth and settle step (ties get average ranks).
 * A layer with distances but no settle step has not settled by the newest
 * checkpoint; it ranks after every settled layer (tied with the other
 * unsettled ones), since it settles, if at all, later.  Unmeasured layers,
 * bounded settle steps and unknown newest points are left out of rho (and
 * counted in nleft_out), so no verdict rests on a step nothing was measured
 * at.  rho >= PW_CONV_BOTTOM_UP_RHO is called bottom-up,
 * rho <= -PW_CONV_BOTTOM_UP_RHO top-down, anything between mixed; with fewer
 * than two ranked layers, or all of them tied, rho is undefined (NAN). */
#ifndef PW_CONVERGENCE_H
#define PW_CONVERGENCE_H

#include <stddef.h>
#include <stdint.h>

#include "pw_error.h"

typedef struct pw_conv_point {
    int64_t step;    /* checkpoint step */
    double distance; /* distance to the final checkpoint, NAN when unknown */
} pw_conv_point;

typedef struct pw_conv_layer {
    const char *name;         /* layer name, borrowed */
    int depth;                /* 0 = bottom */
    const pw_conv_point *pts; /* its series, ascending steps, borrowed */
    size_t npts;              /* points in pts */
} pw_conv_layer;

typedef enum pw_conv_verdict {
    PW_CONV_UNDETERMINED, /* rho undefined */
    PW_CONV_BOTTOM_UP,    /* rho >= PW_CONV_BOTTOM_UP_RHO */
    PW_CONV_TOP_DOWN,     /* rho <= -PW_CONV_BOTTOM_UP_RHO */
    PW_CONV_MIXED         /* anything between */
} pw_conv_verdict;

typedef struct pw_conv_layer_result {
    int has_data;         /* at least one known distance: the layer is measured */
    int settled;          /* a settle step exists */
    int64_t settle_step;  /* first step from which distance stays <= tau; valid when settled */
    double last_distance; /* distance at the newest checkpoint, NAN when unknown */
    size_t npoints;       /* points with a known distance */
    int bounded;          /* settled, but the point before settle_step has no distance: the
                             layer settled there or earlier, when is not known */
    int unknown_now;      /* measured, but the newest point has no distance */
    int64_t gap_step;     /* the point without a distance that makes it bounded or
                             unknown_now; valid when either is set */
    int ranked;           /* counted in rho: measured, neither bounded nor unknown_now */
} pw_conv_layer_result;

typedef struct pw_conv_summary {
    pw_conv_layer_result *layers; /* one per input layer, same order */
    size_t *order;   /* indices of ranked layers: by settle step, unsettled last, ties by depth */
    size_t norder;   /* entries in order */
    size_t nsettled; /* layers with a settle step, bounded ones included */
    size_t nunmeasured;      /* layers without any known distance */
    size_t nleft_out;        /* measured layers left out of rho (bounded or unknown_now) */
    double rho;              /* Spearman rho(depth, settle step) over order, NAN when undefined */
    pw_conv_verdict verdict; /* reading of rho */
    int monotone;            /* settle steps never decrease with depth (unsettled = last) */
    double tau;              /* threshold used */
} pw_conv_summary;

/* Settle step of one series: returns 1 and sets *step, or 0 when the newest
 * point is above tau or unknown (or there is none). */
int pw_conv_settle_step(const pw_conv_point *pts, size_t n, double tau, int64_t *step);
/* 1-based average ranks of v[0..n) into ranks (ties share the mean rank). */
int pw_conv_ranks(const double *v, size_t n, double *ranks, pw_err *err);
/* Spearman's rho of x and y (Pearson of average ranks); NAN when n < 2 or a
 * side is constant.  Returns -1 only when out of memory. */
int pw_conv_spearman(const double *x, const double *y, size_t n, double *rho, pw_err *err);
/* Full analysis; tau must be finite and >= 0.  Free with pw_conv_summary_free. */
int pw_conv_analyze(const pw_conv_layer *layers, size_t n, double tau, pw_conv_summary *out,
                    pw_err *err);
void pw_conv_summary_free(pw_conv_summary *s);
/* "bottom-up", "top-down", "mixed", "undetermined". */
const char *pw_conv_verdict_name(pw_conv_verdict v);

#endif
