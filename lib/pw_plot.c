/* pw_plot.c -- the plot grid, its colour scale and axis ticks (see pw_plot.h). */
#include "pw_plot.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pw_convergence.h"
#include "pw_limits.h"

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Column of step in the ascending steps array (it must be there). */
static size_t step_index(const int64_t *steps, size_t n, int64_t step)
{
    const int64_t *hit = bsearch(&step, steps, n, sizeof *steps, cmp_i64);
    assert(hit);
    return (size_t)(hit - steps);
}

void pw_plot_free(pw_plot *p)
{
    if (!p)
        return;
    for (size_t i = 0; p->layers && i < p->nlayers; i++)
        free(p->layers[i]);
    for (size_t i = 0; p->reduce && i < p->nlayers; i++)
        free(p->reduce[i]);
    free(p->reduce);
    free(p->layers);
    free(p->depths);
    free(p->steps);
    free(p->values);
    free(p->marks);
    free(p->range_lo);
    free(p->range_hi);
    free(p->se);
    free(p->chance);
    memset(p, 0, sizeof *p);
}

/* Add reduction r ("" counts as "none": rows read before it was stored) to the
 * comma list *acc unless it is there; -1 when out of memory. */
static int note_reduce(char **acc, const char *r)
{
    if (!r[0])
        r = "none";
    size_t have = *acc ? strlen(*acc) : 0, k = strlen(r);
    for (const char *s = *acc; s && *s;) {
        size_t w = strcspn(s, ",");
        if (w == k && memcmp(s, r, k) == 0)
            return 0;
        s += w;
        if (*s)
            s += 2; /* ", " */
    }
    char *g = realloc(*acc, have + k + 3);
    if (!g)
        return -1;
    snprintf(g + have, k + 3, "%s%s", have ? ", " : "", r);
    *acc = g;
    return 0;
}

int pw_plot_label_reduced(pw_plot *p, pw_err *err)
{
    for (size_t l = 0; p->reduce && l < p->nlayers; l++) {
        if (!p->reduce[l] || !p->reduce[l][0])
            continue;
        size_t len = strlen(p->layers[l]) + strlen(p->reduce[l]) + 4;
        char *name = malloc(len);
        if (!name)
            return pw_err_set(err, "out of memory naming the plot's layers");
        snprintf(name, len, "%s (%s)", p->layers[l], p->reduce[l]);
        free(p->layers[l]);
        p->layers[l] = name;
    }
    return 0;
}

int pw_plot_from_curve(const pw_curve_row *rows, size_t n, pw_plot *out, pw_err *err)
{
    memset(out, 0, sizeof *out);
    out->threshold = NAN;
    if (n == 0)
        return pw_err_set(err, "nothing to plot: no scores");

    /* Layers in row order: rows of one layer are contiguous. */
    size_t nl = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(rows[i].layer, rows[i - 1].layer) != 0)
            nl++;
    int64_t *steps = out->steps = malloc(n * sizeof *steps);
    out->layers = calloc(nl, sizeof *out->layers);
    out->depths = calloc(nl, sizeof *out->depths);
    out->marks = malloc(nl * sizeof *out->marks);
    out->reduce = calloc(nl, sizeof *out->reduce);
    if (!steps || !out->layers || !out->depths || !out->marks || !out->reduce)
        goto oom;
    out->nlayers = nl;

    size_t ns = 0;
    for (size_t i = 0; i < n; i++)
        steps[i] = rows[i].step;
    qsort(steps, n, sizeof *steps, cmp_i64);
    for (size_t i = 0; i < n; i++)
        if (ns == 0 || steps[i] != steps[ns - 1])
            steps[ns++] = steps[i];
    if (ns > PW_PLOT_MAX_STEPS) {
        pw_plot_free(out);
        return pw_err_set(err, "%zu checkpoints are more than a plot draws (%d)", ns,
                          PW_PLOT_MAX_STEPS);
    }
    out->nsteps = ns;
    out->values = malloc(nl * ns * sizeof *out->values);
    if (!out->values)
        goto oom;
    for (size_t i = 0; i < nl * ns; i++)
        out->values[i] = NAN;

    double vmax = 0;
    size_t l = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(rows[i].layer, rows[i - 1].layer) != 0)
            l++;
        if (!out->layers[l]) {
            out->layers[l] = strdup(rows[i].layer);
            if (!out->layers[l])
                goto oom;
            out->depths[l] = rows[i].depth;
            out->marks[l] = PW_PLOT_NO_MARK;
        }
        double d = rows[i].distance;
        size_t cell = l * ns + step_index(out->steps, ns, rows[i].step);
        out->values[cell] = d;
        double se = rows[i].se[PW_METRIC_DISTANCE];
        if (isfinite(d) && isfinite(se)) {
            if (!out->se) {
                if (!(out->se = malloc(nl * ns * sizeof *out->se)))
                    goto oom;
                for (size_t k = 0; k < nl * ns; k++)
                    out->se[k] = NAN;
            }
            out->se[cell] = se;
        }
        if (rows[i].has_chance && isfinite(rows[i].chance_distance)) {
            if (!out->chance) {
                if (!(out->chance = malloc(nl * sizeof *out->chance)))
                    goto oom;
                for (size_t k = 0; k < nl; k++)
                    out->chance[k] = NAN;
            }
            out->chance[l] = rows[i].chance_distance;
        }
        if (isfinite(d) && d > vmax)
            vmax = d;
        if (isfinite(d) && note_reduce(&out->reduce[l], rows[i].reduce) != 0)
            goto oom;
    }
    for (size_t k = 0; k < nl; k++)
        if (out->reduce[k] && strcmp(out->reduce[k], "none") == 0)
            out->reduce[k][0] = '\0';
    for (size_t k = 0; k < nl; k++)
        if (!out->reduce[k] && !(out->reduce[k] = strdup("")))
            goto oom;
    out->vmax = pw_plot_nice_max(vmax);
    return 0;
oom:
    pw_plot_free(out);
    return pw_err_set(err, "out of memory building a plot of %zu scores", n);
}

double pw_plot_scale(const pw_plot *p, double v)
{
    if (!(v > 0) || !(p->vmax > 0))
        return 0;
    double t = sqrt(v / p->vmax);
    return t > 1 ? 1 : t;
}

double pw_plot_unscale(const pw_plot *p, double t)
{
    return t * t * p->vmax;
}

/* viridis (matplotlib) at t = 0, 0.1, ..., 1. */
static const unsigned char viridis[11][3] = {
    {0x44, 0x01, 0x54}, {0x48, 0x24, 0x75}, {0x41, 0x44, 0x87}, {0x35, 0x5f, 0x8d},
    {0x2a, 0x78, 0x8e}, {0x21, 0x91, 0x8c}, {0x22, 0xa8, 0x84}, {0x44, 0xbf, 0x70},
    {0x7a, 0xd1, 0x51}, {0xbd, 0xdf, 0x26}, {0xfd, 0xe7, 0x25},
};

void pw_plot_color(double t, unsigned char rgb[3])
{
    if (!(t > 0))
        t = 0;
    if (t > 1)
        t = 1;
    double x = t * 10;
    int i = (int)x;
    if (i >= 10)
        i = 9;
    double f = x - i;
    for (int c = 0; c < 3; c++)
        rgb[c] = (unsigned char)lround(viridis[i][c] + f * (viridis[i + 1][c] - viridis[i][c]));
}

void pw_plot_layer_color(size_t i, size_t n, unsigned char rgb[3])
{
    /* Stop before viridis' yellow end, which vanishes on white. */
    double t = n > 1 ? 0.85 * (double)i / (double)(n - 1) : 0.4;
    pw_plot_color(t, rgb);
}

static double nice_step(double span, int target)
{
    double raw = span / (target > 1 ? target : 1);
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    double nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nice * mag;
}

size_t pw_plot_ticks(double lo, double hi, int target, double *ticks, size_t max)
{
    if (!isfinite(lo) || !isfinite(hi) || max == 0)
        return 0;
    if (hi <= lo) {
        ticks[0] = lo;
        return 1;
    }
    double step = nice_step(hi - lo, target);
    size_t n = 0;
    double first = ceil(lo / step - 1e-9);
    for (int k = 0; n < max; k++) {
        double v = (first + k) * step;
        if (v > hi + step * 1e-9)
            break;
        ticks[n++] = fabs(v) < step * 1e-9 ? 0 : v;
    }
    return n;
}

double pw_plot_nice_max(double v)
{
    if (!(v > 0) || !isfinite(v))
        return 1;
    double mag = pow(10, floor(log10(v)));
    double f = v / mag;
    static const double steps[] = {1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (f <= steps[i] * (1 + 1e-12))
            return steps[i] * mag;
    return 10 * mag;
}

size_t pw_plot_utf8_next(const char *s, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    assert(u[0]);
    if (u[0] < 0x80) {
        *cp = u[0];
        return 1;
    }
    size_t len = u[0] >= 0xF0 && u[0] <= 0xF4 ? 4 : u[0] >= 0xE0 ? 3 : u[0] >= 0xC2 ? 2 : 0;
    if (u[0] >= 0xF5)
        len = 0;
    uint32_t c = len == 2 ? u[0] & 0x1Fu : len == 3 ? u[0] & 0x0Fu : u[0] & 0x07u;
    for (size_t i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80) {
            len = 0;
            break;
        }
        c = (c << 6) | (u[i] & 0x3Fu);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (len == 0 || c < min[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
        *cp = 0xFFFD;
        return 1;
    }
    *cp = c;
    return len;
}

size_t pw_plot_utf8_len(const char *s)
{
    size_t n = 0;
    uint32_t cp;
    while (*s) {
        s += pw_plot_utf8_next(s, &cp);
        n++;
    }
    return n;
}

void pw_plot_distance_setup(pw_plot *p, pw_plot_texts *t, const char *run, int final,
                            int64_t final_step, const pw_layer_info *ls, size_t nls, double tau,
                            const char *note)
{
    assert(p->nsteps > 0 && p->steps);
    if (final)
        snprintf(t->title, sizeof t->title,
                 "%s: PWCCA distance to the final checkpoint (step %" PRId64 ")", run, final_step);
    else
        snprintf(t->title, sizeof t->title, "%s: PWCCA distance to the previous checkpoint", run);
    snprintf(t->subtitle, sizeof t->subtitle,
             "%zu layers, bottom layer at the bottom; %zu checkpoints from step %" PRId64
             " to %" PRId64 "%s",
             p->nlayers, p->nsteps, p->steps[0], p->steps[p->nsteps - 1], note);
    if (final)
        snprintf(t->mark, sizeof t->mark, "settled: distance stays \xe2\x89\xa4 %g from here on",
                 tau);
    else
        snprintf(t->mark, sizeof t->mark, "stable since (the daemon's layer_stable alert)");
    p->title = t->title;
    p->subtitle = t->subtitle;
    p->value_label = final ? "distance to final (1 \xe2\x88\x92 PWCCA)"
                           : "distance to previous (1 \xe2\x88\x92 PWCCA)";
    p->mark_label = t->mark;
    p->threshold = final ? tau : NAN;
    /* Marks: where each layer settled (final) or the daemon's stable step
     * (previous).  The final checkpoint against itself does not count. */
    pw_conv_point *pts = malloc(p->nsteps * sizeof *pts);
    if (final && p->se && !p->range_lo) {
        /* Settle ranges need their own arrays; without memory the plot just has none. */
        p->range_lo = malloc(p->nlayers * sizeof *p->range_lo);
        p->range_hi = malloc(p->nlayers * sizeof *p->range_hi);
        if (!p->range_lo || !p->range_hi) {
            free(p->range_lo);
            free(p->range_hi);
            p->range_lo = p->range_hi = NULL;
        }
        p->range_z = PW_CONV_DEFAULT_Z;
    }
    for (size_t l = 0; l < p->nlayers; l++) {
        p->marks[l] = PW_PLOT_NO_MARK;
        if (final) {
            size_t n = 0;
            for (size_t s = 0; pts && s < p->nsteps && p->steps[s] < final_step; s++) {
                pts[n].step = p->steps[s];
                pts[n++].distance = p->values[l * p->nsteps + s];
            }
            int64_t step;
            if (pts && pw_conv_settle_step(pts, n, tau, &step))
                p->marks[l] = step;
            if (pts && p->range_lo) {
                /* pts are the layer's first n columns, so its SEs line up. */
                int has_lo, has_hi;
                int64_t lo, hi;
                pw_conv_settle_interval(pts, p->se + l * p->nsteps, n, tau, p->range_z, &has_lo,
                                        &lo, &has_hi, &hi);
                p->range_lo[l] = has_lo ? lo : PW_PLOT_NO_MARK;
                p->range_hi[l] = has_lo && has_hi ? hi : PW_PLOT_NO_MARK;
            }
            continue;
        }
        for (size_t i = 0; i < nls; i++)
            if (strcmp(ls[i].name, p->layers[l]) == 0 && ls[i].stable_step != PW_QUERY_NO_STEP)
                p->marks[l] = ls[i].stable_step;
    }
    free(pts);
}

void pw_plot_vs_setup(pw_plot *p, pw_plot_texts *t, const char *a, const char *b)
{
    assert(p->nsteps > 0 && p->steps);
    snprintf(t->title, sizeof t->title, "%s vs %s: PWCCA distance per layer over training", a, b);
    snprintf(t->subtitle, sizeof t->subtitle,
             "%zu layers both runs have; %zu steps both have a checkpoint at, from %" PRId64
             " to %" PRId64 "; X = %s, Y = %s",
             p->nlayers, p->nsteps, p->steps[0], p->steps[p->nsteps - 1], a, b);
    t->mark[0] = '\0';
    p->title = t->title;
    p->subtitle = t->subtitle;
    p->value_label = "distance A vs B (1 \xe2\x88\x92 PWCCA)";
    p->mark_label = NULL;
    p->threshold = NAN;
    for (size_t l = 0; l < p->nlayers; l++)
        p->marks[l] = PW_PLOT_NO_MARK;
}
