/* pw_convergence.c -- settle steps and the bottom-up test (see pw_convergence.h). */
#include "pw_convergence.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int pw_conv_settle_step(const pw_conv_point *pts, size_t n, double tau, int64_t *step)
{
    size_t i = n;
    while (i > 0 && !isnan(pts[i - 1].distance) && pts[i - 1].distance <= tau)
        i--;
    if (i == n)
        return 0;
    *step = pts[i].step;
    return 1;
}

typedef struct rank_ctx {
    const double *v; /* values being ranked */
} rank_ctx;

/* qsort_r comparator: indices ordered by the values they point at. */
static int by_value(const void *a, const void *b, void *ctx)
{
    const double *v = ((const rank_ctx *)ctx)->v;
    double x = v[*(const size_t *)a], y = v[*(const size_t *)b];
    return (x > y) - (x < y);
}

int pw_conv_ranks(const double *v, size_t n, double *ranks, pw_err *err)
{
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    if (!idx)
        return pw_err_set(err, "out of memory ranking %zu values", n);
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    rank_ctx rc = {v};
    qsort_r(idx, n, sizeof *idx, by_value, &rc);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && v[idx[j + 1]] == v[idx[i]])
            j++;
        /* positions i..j (0-based) share the mean of ranks i+1..j+1 */
        double r = (double)(i + j + 2) / 2.0;
        for (size_t k = i; k <= j; k++)
            ranks[idx[k]] = r;
        i = j + 1;
    }
    free(idx);
    return 0;
}

int pw_conv_spearman(const double *x, const double *y, size_t n, double *rho, pw_err *err)
{
    *rho = NAN;
    if (n < 2)
        return 0;
    double *rx = calloc(2 * n, sizeof *rx);
    if (!rx)
        return pw_err_set(err, "out of memory ranking %zu values", n);
    double *ry = rx + n;
    if (pw_conv_ranks(x, n, rx, err) != 0 || pw_conv_ranks(y, n, ry, err) != 0) {
        free(rx);
        return -1;
    }
    /* Both rank vectors have mean (n+1)/2. */
    double mean = (double)(n + 1) / 2.0, sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < n; i++) {
        double dx = rx[i] - mean, dy = ry[i] - mean;
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    free(rx);
    if (sxx > 0 && syy > 0)
        *rho = sxy / sqrt(sxx * syy);
    return 0;
}

typedef struct order_ctx {
    const pw_conv_layer *layers;         /* input layers */
    const pw_conv_layer_result *results; /* their results */
} order_ctx;

/* qsort_r comparator for the order: settled first by step, then unsettled; ties by depth. */
static int by_settle(const void *a, const void *b, void *ctx)
{
    const order_ctx *c = ctx;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    const pw_conv_layer_result *ri = &c->results[i], *rj = &c->results[j];
    if (ri->settled != rj->settled)
        return rj->settled - ri->settled;
    if (ri->settled && ri->settle_step != rj->settle_step)
        return (ri->settle_step > rj->settle_step) - (ri->settle_step < rj->settle_step);
    int di = c->layers[i].depth, dj = c->layers[j].depth;
    return (di > dj) - (di < dj);
}

const char *pw_conv_verdict_name(pw_conv_verdict v)
{
    switch (v) {
    case PW_CONV_BOTTOM_UP:
        return "bottom-up";
    case PW_CONV_TOP_DOWN:
        return "top-down";
    case PW_CONV_MIXED:
        return "mixed";
    case PW_CONV_UNDETERMINED:
        break;
    }
    return "undetermined";
}

void pw_conv_summary_free(pw_conv_summary *s)
{
    if (!s)
        return;
    free(s->layers);
    free(s->order);
    free(s->within);
    memset(s, 0, sizeof *s);
}

/* The settle step of the bounds d + sign*z*SE: the scan of pw_conv_settle_step
 * over them.  The SE of a point without one is the last earlier one's (0 before
 * the first), so it has to be carried forward from the start. */
static int settle_bound(const pw_conv_point *pts, const double *se, size_t n, double tau,
                        double sign_z, int64_t *step)
{
    size_t i = n; /* first point of the trailing run of bounds <= tau */
    double last = 0;
    for (size_t k = 0; k < n; k++) {
        double d = pts[k].distance;
        if (se && !isnan(d) && isfinite(se[k]) && se[k] >= 0)
            last = se[k];
        if (isnan(d) || d + sign_z * last > tau)
            i = n; /* the run restarts after k */
        else if (i == n)
            i = k;
    }
    if (i == n)
        return 0;
    *step = pts[i].step;
    return 1;
}

void pw_conv_settle_interval(const pw_conv_point *pts, const double *se, size_t n, double tau,
                             double z, int *has_lo, int64_t *lo, int *has_hi, int64_t *hi)
{
    *has_lo = settle_bound(pts, se, n, tau, -z, lo);
    *has_hi = settle_bound(pts, se, n, tau, z, hi);
}

int pw_conv_analyze(const pw_conv_layer *layers, size_t n, double tau, pw_conv_summary *out,
                    pw_err *err)
{
    memset(out, 0, sizeof *out);
    if (!isfinite(tau) || tau < 0)
        return pw_err_set(err, "tau must be a finite distance >= 0, not %g", tau);
    out->tau = tau;
    out->rho = NAN;
    out->kappa = NAN;
    out->layers = calloc(n ? n : 1, sizeof *out->layers);
    out->order = calloc(n ? n : 1, sizeof *out->order);
    double *xy = calloc(n ? 2 * n : 1, sizeof *xy);
    if (!out->layers || !out->order || !xy) {
        free(xy);
        pw_conv_summary_free(out);
        return pw_err_set(err, "out of memory analysing %zu layers", n);
    }

    int64_t latest = INT64_MIN; /* newest settle step, for ranking the unsettled after it */
    for (size_t i = 0; i < n; i++) {
        pw_conv_layer_result *r = &out->layers[i];
        const pw_conv_layer *l = &layers[i];
        r->last_distance = l->npts ? l->pts[l->npts - 1].distance : NAN;
        for (size_t k = 0; k < l->npts; k++)
            r->npoints += !isnan(l->pts[k].distance);
        r->has_data = r->npoints > 0;
        if (!r->has_data) {
            out->nunmeasured++;
            continue;
        }
        r->settled = pw_conv_settle_step(l->pts, l->npts, tau, &r->settle_step);
        if (r->settled) {
            /* The run of points <= tau ends at the settle step; what stopped it
             * going further back is a distance > tau (a real settle time), the
             * first checkpoint, or a point with no distance (only a bound). */
            size_t k = l->npts;
            while (k > 0 && !isnan(l->pts[k - 1].distance) && l->pts[k - 1].distance <= tau)
                k--;
            assert(k < l->npts && l->pts[k].step == r->settle_step);
            if (k > 0 && isnan(l->pts[k - 1].distance)) {
                r->bounded = 1;
                r->gap_step = l->pts[k - 1].step;
            }
            out->nsettled++;
        } else if (isnan(l->pts[l->npts - 1].distance)) {
            r->unknown_now = 1;
            r->gap_step = l->pts[l->npts - 1].step;
        }
        r->ranked = !r->bounded && !r->unknown_now;
        if (!r->ranked) {
            out->nleft_out++;
            continue;
        }
        if (r->settled && r->settle_step > latest)
            latest = r->settle_step;
        out->order[out->norder++] = i;
    }

    order_ctx oc = {layers, out->layers};
    qsort_r(out->order, out->norder, sizeof *out->order, by_settle, &oc);

    /* Depth and settle step of every ranked layer; the unsettled share one value
     * past every real step, so they tie for last place. */
    double *x = xy, *y = xy + n;
    for (size_t k = 0; k < out->norder; k++) {
        size_t i = out->order[k];
        x[k] = layers[i].depth;
        y[k] = out->layers[i].settled ? (double)out->layers[i].settle_step
                                      : (latest == INT64_MIN ? 0.0 : (double)latest) + 1.0;
    }
    if (pw_conv_spearman(x, y, out->norder, &out->rho, err) != 0) {
        free(xy);
        pw_conv_summary_free(out);
        return -1;
    }

    /* Monotone: walking up in depth, settle "times" never go back. */
    out->monotone = out->norder > 0;
    for (size_t a = 0; a < out->norder; a++)
        for (size_t b = 0; b < out->norder; b++)
            if (x[a] < x[b] && y[a] > y[b])
                out->monotone = 0;
    free(xy);

    if (isnan(out->rho))
        out->verdict = PW_CONV_UNDETERMINED;
    else if (out->rho >= PW_CONV_BOTTOM_UP_RHO)
        out->verdict = PW_CONV_BOTTOM_UP;
    else if (out->rho <= -PW_CONV_BOTTOM_UP_RHO)
        out->verdict = PW_CONV_TOP_DOWN;
    else
        out->verdict = PW_CONV_MIXED;
    return 0;
}

/* Layer i's settle interval as [lo, hi] on a line of steps: past the newest
 * step when not even its lower bounds settle, open to the right (INFINITY)
 * when its upper bounds do not. */
static void interval_of(const pw_conv_layer *l, const pw_conv_layer_result *r, double *lo,
                        double *hi)
{
    double after = (double)l->pts[l->npts - 1].step + 0.5;
    *lo = r->settled_lo ? (double)r->settle_lo : after;
    *hi = r->settled_hi ? (double)r->settle_hi : INFINITY;
}

int pw_conv_analyze_noise(const pw_conv_layer *layers, size_t n, double tau, double z,
                          pw_conv_summary *out, pw_err *err)
{
    if (!isfinite(z) || z < 0) {
        memset(out, 0, sizeof *out);
        return pw_err_set(err, "z must be a finite number of standard errors >= 0, not %g", z);
    }
    if (pw_conv_analyze(layers, n, tau, out, err) != 0)
        return -1;
    out->z = z;
    out->kappa = NAN;
    for (size_t i = 0; i < n; i++) {
        pw_conv_layer_result *r = &out->layers[i];
        const pw_conv_layer *l = &layers[i];
        for (size_t k = 0; l->se && k < l->npts; k++)
            r->has_se |= !isnan(l->pts[k].distance) && isfinite(l->se[k]) && l->se[k] >= 0;
        out->noise |= r->has_se;
        if (r->has_data)
            pw_conv_settle_interval(l->pts, l->se, l->npts, tau, z, &r->settled_lo, &r->settle_lo,
                                    &r->settled_hi, &r->settle_hi);
        assert(!r->settled || !r->settled_lo || r->settle_lo <= r->settle_step);
        assert(!r->settled || !r->settled_hi || r->settle_hi >= r->settle_step);
    }
    if (!out->noise)
        return 0;

    /* Every pair of ranked layers at different depths, lower one first. */
    size_t cap = out->norder * (out->norder > 0 ? out->norder - 1 : 0) / 2;
    out->within = malloc((cap ? cap : 1) * sizeof *out->within);
    if (!out->within) {
        pw_conv_summary_free(out);
        return pw_err_set(err, "out of memory comparing %zu layers", n);
    }
    size_t discordant = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            if (!out->layers[i].ranked || !out->layers[j].ranked ||
                layers[i].depth >= layers[j].depth)
                continue;
            double ilo, ihi, jlo, jhi;
            interval_of(&layers[i], &out->layers[i], &ilo, &ihi);
            interval_of(&layers[j], &out->layers[j], &jlo, &jhi);
            out->npairs++;
            if (ihi < jlo) {
                out->nconcordant++;
            } else if (jhi < ilo) {
                discordant++;
            } else {
                assert(out->nwithin < cap);
                out->within[out->nwithin++] = (pw_conv_pair){i, j};
            }
        }
    out->ndistinct = out->nconcordant + discordant;
    assert(out->ndistinct + out->nwithin == out->npairs);
    if (out->ndistinct > 0)
        out->kappa = ((double)out->nconcordant - (double)discordant) / (double)out->ndistinct;
    if (isnan(out->kappa))
        out->verdict = PW_CONV_UNDETERMINED;
    else if (out->kappa >= PW_CONV_BOTTOM_UP_RHO)
        out->verdict = PW_CONV_BOTTOM_UP;
    else if (out->kappa <= -PW_CONV_BOTTOM_UP_RHO)
        out->verdict = PW_CONV_TOP_DOWN;
    else
        out->verdict = PW_CONV_MIXED;
    return 0;
}
