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
 * than two ranked layers, or all of them tied, rho is undefined (NAN).
 *
 * With standard errors (pw_noise.h; pw_conv_analyze_noise) a settle step
 * gets an interval.  Each point's margin is z*SE, the SE being the point's
 * own or else the last one of an earlier point of that layer (the stability
 * rule's carry, pw_stability.h); before the layer's first SE the margin is
 * 0.  The earliest settle step (settle_lo) is the settle step of the lower
 * bounds d - z*SE, the latest (settle_hi) that of the upper bounds d + z*SE:
 * the first step from which d - z*SE <= tau (resp. d + z*SE <= tau) at every
 * later checkpoint.  Since d - z*SE <= d <= d + z*SE, settle_lo <= settle
 * step <= settle_hi whenever they exist.  A layer with no settle_hi may not
 * have settled yet (its interval runs past the newest checkpoint); one with
 * no settle_lo has not settled even by its lower bounds (its interval lies
 * after the newest checkpoint).  Two ranked layers at different depths are
 * told apart when their intervals do not overlap (one's latest step is before
 * the other's earliest); otherwise their order is within the noise.  The
 * verdict then rests on the pairs told apart only: with C of them in
 * bottom-up order (the lower layer settled first) and D against it,
 * kappa = (C - D) / (C + D) is called bottom-up when >= PW_CONV_BOTTOM_UP_RHO,
 * top-down when <= -PW_CONV_BOTTOM_UP_RHO, mixed between, and undetermined
 * when no pair is told apart.  Spearman's rho of the point settle steps is
 * still reported beside it.  Without any SE the noise analysis is the point
 * analysis above (noise = 0 in the summary). */
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
    const double *se; /* per point the standard error of its distance, NAN when none; NULL when
                         the layer has none (pw_conv_analyze_noise only) */
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
    int has_se;           /* some point of the layer has an SE (pw_conv_analyze_noise) */
    int settled_lo;       /* settle_lo exists: d - z*SE <= tau at the newest point */
    int64_t settle_lo;    /* earliest settle step within the noise; valid when settled_lo */
    int settled_hi;       /* settle_hi exists: d + z*SE <= tau at the newest point */
    int64_t settle_hi;    /* latest settle step within the noise; valid when settled_hi */
} pw_conv_layer_result;

/* Two ranked layers (indices into the input) whose settle intervals overlap. */
typedef struct pw_conv_pair {
    size_t a, b; /* a below b (depth of a < depth of b) */
} pw_conv_pair;

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
    int noise;               /* 1: intervals from SEs decided the verdict (some layer has one) */
    double z;                /* standard errors on each side (noise) */
    size_t npairs;           /* pairs of ranked layers at different depths (noise) */
    size_t ndistinct;        /* of those, pairs whose intervals do not overlap (noise) */
    size_t nconcordant;      /* distinct pairs where the lower layer settled first (noise) */
    double kappa;            /* (concordant - discordant) / ndistinct, NAN when none (noise) */
    pw_conv_pair *within;    /* the npairs - ndistinct pairs within the noise, by a then b */
    size_t nwithin;          /* entries in within */
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
/* The same with settle intervals from the layers' SEs at z standard errors
 * (finite, >= 0); without any SE it is pw_conv_analyze. */
int pw_conv_analyze_noise(const pw_conv_layer *layers, size_t n, double tau, double z,
                          pw_conv_summary *out, pw_err *err);
/* Settle interval of one series at margin z*SE (SE carried forward; NULL se: none):
 * has_lo, lo, has_hi and hi as settled_lo, settle_lo, settled_hi and settle_hi. */
void pw_conv_settle_interval(const pw_conv_point *pts, const double *se, size_t n, double tau,
                             double z, int *has_lo, int64_t *lo, int *has_hi, int64_t *hi);
void pw_conv_summary_free(pw_conv_summary *s);
/* "bottom-up", "top-down", "mixed", "undetermined". */
const char *pw_conv_verdict_name(pw_conv_verdict v);

#endif
