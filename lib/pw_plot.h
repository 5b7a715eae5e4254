/* pw_plot.h -- the layer x step grid both plot renderers draw, and what they share.
 *
 * A plot is one value per (layer, checkpoint): the distance of the layer at
 * that step to its reference.  Rows are layers, bottom (depth 0) first;
 * columns are steps, ascending.  pw_svg draws it as a heatmap or as one line
 * per layer, pw_termplot as coloured characters; both use the same colour
 * scale, defined here: distance 0 at the dark end of viridis, vmax at the
 * bright end, on a square-root scale so the small distances where layers
 * settle (around tau) stay distinguishable from 0. */
#ifndef PW_PLOT_H
#define PW_PLOT_H

#include <stddef.h>
#include <stdint.h>

#include "pw_error.h"
#include "pw_query.h"

#define PW_PLOT_NO_MARK INT64_MIN /* a layer without a marked step */

typedef struct pw_plot {
    const char *title;       /* first heading line, borrowed (may be NULL) */
    const char *subtitle;    /* second heading line, borrowed (may be NULL) */
    const char *value_label; /* what the values are, e.g. "distance to final", borrowed */
    const char *mark_label;  /* what a layer's marked step means, borrowed; NULL: no marks drawn */
    double threshold;        /* drawn as a reference line/tick (tau), NAN for none */
    size_t nlayers;          /* rows */
    char **layers;           /* row names, bottom layer first */
    int *depths;             /* their depths (-1 unknown) */
    size_t nsteps;           /* columns */
    int64_t *steps;          /* ascending checkpoint steps */
    double *values;          /* values[layer * nsteps + step], NAN where there is none */
    int64_t *marks;          /* per layer a step to mark, or PW_PLOT_NO_MARK */
    int64_t *range_lo;       /* per layer the earliest step it could have settled at given the
                                noise (pw_convergence.h), PW_PLOT_NO_MARK for none; NULL: no
                                layer has a settle range (no SEs, or not against the final) */
    int64_t *range_hi;       /* the latest such step, PW_PLOT_NO_MARK when the range runs past
                                the newest checkpoint */
    double range_z;          /* standard errors each side the ranges were taken at */
    double band_z;           /* half-width of the SE band in standard errors; 0 means 1 */
    int threshold_theta;     /* 1: threshold is the stability threshold theta (previous),
                                drawn as such; 0: the settle threshold tau */
    char **reduce;           /* per layer the reductions its values used ("dims:6", "dims:6,
                                none" when they changed), "" when all were exact */
    double vmax;             /* value at the bright end of the colour scale (> 0) */
    double *se;              /* se[layer * nsteps + step]: the standard error of that value
                                (noise), NAN where none; NULL when no value has one */
    double *chance;          /* chance[layer]: its chance distance (pw_chance.h), NAN where
                                none; NULL when no layer has one (the lines plot's band) */
} pw_plot;

/* Build the grid of distances from curve rows ordered by depth then step
 * (as pw_query_curve returns them).  Labels are left NULL, marks unset. */
int pw_plot_from_curve(const pw_curve_row *rows, size_t n, pw_plot *out, pw_err *err);
void pw_plot_free(pw_plot *p);
/* Name each layer whose values were reduced with its reduction, "layer4 (dims:102)",
 * so neither the heatmap's rows nor the lines' legend passes them off as exact.
 * Call once layers are no longer matched by name. */
int pw_plot_label_reduced(pw_plot *p, pw_err *err);

/* The headings of a run's distance plot, owned by the caller: p borrows them. */
typedef struct pw_plot_texts {
    char title[PW_ERR_MAX];    /* "RUN: PWCCA distance to the final checkpoint (step S)" */
    char subtitle[PW_ERR_MAX]; /* layers, checkpoints, and the caller's note */
    char mark[128];            /* what a marked step means */
} pw_plot_texts;

/* Headings, value label, threshold and marks of a run's distance plot, as
 * `pwcca plot` and the dashboard draw it: against the final checkpoint at
 * final_step (final != 0) each layer is marked where its distance settles
 * within tau for good, with its settle range at PW_CONV_DEFAULT_Z standard
 * errors when its values have SEs; against the previous one, at its
 * layer_stable step from ls.  note is appended to the subtitle ("" for none).  p must have
 * columns (pw_plot_from_curve with rows). */
void pw_plot_distance_setup(pw_plot *p, pw_plot_texts *t, const char *run, int final,
                            int64_t final_step, const pw_layer_info *ls, size_t nls, double tau,
                            const char *note);

/* Headings and value label of `pwcca plot A --vs B` (rows from pw_vs.h):
 * the distance of A's layers to B's at the steps both have; no marks and
 * no threshold, since no settling is defined across runs. */
void pw_plot_vs_setup(pw_plot *p, pw_plot_texts *t, const char *a, const char *b);

/* Position of value v on the colour scale, in [0, 1] (square root of v/vmax, clamped). */
double pw_plot_scale(const pw_plot *p, double v);
/* The value at scale position t, inverse of pw_plot_scale. */
double pw_plot_unscale(const pw_plot *p, double t);
/* Colour of scale position t in [0, 1] (viridis), as 0..255 components. */
void pw_plot_color(double t, unsigned char rgb[3]);
/* Line colour of layer row i of n, ordered dark (bottom) to light (top) and
 * kept readable on white. */
void pw_plot_layer_color(size_t i, size_t n, unsigned char rgb[3]);

/* Decode the code point at s (s[0] != 0): returns the bytes it takes and sets
 * *cp; a malformed or overlong sequence or a surrogate gives U+FFFD for one
 * byte.  Both renderers print names from the database through this, so
 * neither broken UTF-8 nor escape sequences pass through. */
size_t pw_plot_utf8_next(const char *s, uint32_t *cp);
/* Code points in s, as pw_plot_utf8_next counts them. */
size_t pw_plot_utf8_len(const char *s);

/* "Nice" tick values (1, 2, 5 x 10^k) covering [lo, hi] with about target
 * ticks; writes at most max into ticks and returns how many. */
size_t pw_plot_ticks(double lo, double hi, int target, double *ticks, size_t max);
/* A round upper bound >= v for an axis from 0 (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k). */
double pw_plot_nice_max(double v);

#endif
