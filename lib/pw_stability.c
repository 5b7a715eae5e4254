/* pw_stability.c -- the stable / unstable / converged rules (see pw_stability.h). */
#include "pw_stability.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pw_array.h"

int pw_stab_params_valid(const pw_stab_params *p)
{
    if (p->k < 1 || !(p->theta >= 0) || !(p->hysteresis >= p->theta) || !isfinite(p->hysteresis))
        return -1;
    if ((p->rule != PW_STAB_RULE_THRESHOLD && p->rule != PW_STAB_RULE_NOISE) || !(p->z >= 0) ||
        !isfinite(p->z))
        return -1;
    return 0;
}

/* The initial state: unstable, nothing seen. */
static const pw_stab_state START = {0, -1, 0, NAN};

/* Apply one point to st and *streak (the distances <= theta in a row so far);
 * 1 with *ev filled when it made a transition.  Under the noise rule the
 * distance is compared through its confidence bound: upper (d + z*SE) for
 * stability, lower (d - z*SE) for instability, the SE being the point's or
 * else the last one seen; with none the threshold rule decides. */
static int advance(const pw_stab_params *p, pw_stab_state *st, int *streak, const pw_stab_point *pt,
                   pw_stab_event *ev)
{
    double d = pt->distance;
    int finite = isfinite(d);
    /* A distance's SE is only worth carrying when the distance itself is. */
    if (finite && isfinite(pt->se) && pt->se >= 0)
        st->last_se = pt->se;
    int noise = p->rule == PW_STAB_RULE_NOISE && isfinite(st->last_se);
    double margin = noise ? p->z * st->last_se : 0;
    *ev = (pw_stab_event){PW_STAB_STABLE, pt->step, d,
                          noise ? PW_STAB_RULE_NOISE : PW_STAB_RULE_THRESHOLD,
                          noise ? st->last_se : NAN};
    st->has_distance |= finite;
    if (!st->stable) {
        *streak = finite && d + margin <= p->theta ? *streak + 1 : 0;
        if (*streak >= p->k) {
            st->stable = 1;
            st->stable_step = pt->step;
            return 1;
        }
    } else if (finite && d - margin > p->hysteresis) {
        st->stable = 0;
        st->stable_step = -1;
        *streak = 0;
        ev->kind = PW_STAB_UNSTABLE;
        return 1;
    }
    return 0;
}

size_t pw_stability_replay(const pw_stab_params *p, const pw_stab_point *points, size_t n,
                           pw_stab_event *events, size_t max_events, pw_stab_state *end)
{
    assert(pw_stab_params_valid(p) == 0);
    size_t nev = 0;
    pw_stab_state st = START;
    int streak = 0;
    for (size_t i = 0; i < n; i++) {
        pw_stab_event ev;
        if (advance(p, &st, &streak, &points[i], &ev)) {
            if (nev < max_events)
                events[nev] = ev;
            nev++;
        }
    }
    *end = st;
    return nev;
}

/* Series -------------------------------------------------------------------------------- */

void pw_stab_series_init(pw_stab_series *s)
{
    *s = (pw_stab_series){.end = START, .report_from = INT64_MIN};
}

void pw_stab_series_free(pw_stab_series *s)
{
    free(s->pts);
    pw_stab_series_init(s);
}

void pw_stab_series_reset(pw_stab_series *s)
{
    s->done = 0;
    s->end = START;
    s->streak = 0;
    s->report_from = INT64_MIN;
}

/* The first index whose step is >= step. */
static size_t lower_bound(const pw_stab_series *s, int64_t step)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->pts[mid].step < step)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The point at index i changed: what was replayed from it on is stale. */
static void changed_at(pw_stab_series *s, size_t i, int64_t step)
{
    if (i < s->done) {
        s->done = 0; /* no state is kept per point: replay the layer from its start */
        s->end = START;
        s->streak = 0;
    }
    if (step < s->report_from)
        s->report_from = step;
}

int pw_stab_series_set(pw_stab_series *s, int64_t step, double distance)
{
    return pw_stab_series_set_se(s, step, distance, NAN);
}

/* Equal, NAN equal to NAN (which never equals itself). */
static int same(double a, double b)
{
    return a == b || (isnan(a) && isnan(b));
}

int pw_stab_series_set_se(pw_stab_series *s, int64_t step, double distance, double se)
{
    size_t i = lower_bound(s, step);
    if (i < s->n && s->pts[i].step == step) {
        /* The same value twice (a seeded point the batch repeats) changes nothing. */
        if (same(s->pts[i].distance, distance) && same(s->pts[i].se, se))
            return 0;
        s->pts[i].distance = distance;
        s->pts[i].se = se;
        changed_at(s, i, step);
        return 0;
    }
    pw_stab_point *g = pw_grow(s->pts, &s->cap, s->n + 1, sizeof *g, 16);
    if (!g)
        return -1;
    s->pts = g;
    memmove(&g[i + 1], &g[i], (s->n - i) * sizeof *g);
    g[i] = (pw_stab_point){step, distance, se};
    s->n++;
    changed_at(s, i, step);
    return 0;
}

void pw_stab_series_remove(pw_stab_series *s, int64_t step)
{
    size_t i = lower_bound(s, step);
    if (i >= s->n || s->pts[i].step != step)
        return;
    memmove(&s->pts[i], &s->pts[i + 1], (s->n - i - 1) * sizeof *s->pts);
    s->n--;
    changed_at(s, i, step);
}

size_t pw_stab_series_update_until(const pw_stab_params *p, pw_stab_series *s, int64_t horizon,
                                   pw_stab_report_fn report, void *ctx)
{
    assert(pw_stab_params_valid(p) == 0);
    assert(s->done <= s->n);
    size_t failed = 0;
    for (; s->done < s->n && s->pts[s->done].step < horizon; s->done++) {
        pw_stab_event ev;
        if (advance(p, &s->end, &s->streak, &s->pts[s->done], &ev) && ev.step >= s->report_from)
            failed += report(ctx, &ev) != 0;
    }
    /* Points held back by the horizon have never been replayed: their
     * transitions are reported when they are (unless already reported). */
    if (s->done < s->n)
        s->report_from =
            s->report_from > s->pts[s->done].step ? s->report_from : s->pts[s->done].step;
    else
        s->report_from = INT64_MAX;
    return failed;
}

size_t pw_stab_series_update(const pw_stab_params *p, pw_stab_series *s, pw_stab_report_fn report,
                             void *ctx)
{
    return pw_stab_series_update_until(p, s, INT64_MAX, report, ctx);
}

int pw_stability_converged(const pw_stab_state *layers, size_t n, int64_t *step)
{
    int any = 0;
    int64_t last = -1;
    for (size_t i = 0; i < n; i++) {
        if (!layers[i].has_distance)
            continue;
        if (!layers[i].stable) {
            *step = -1;
            return 0;
        }
        any = 1;
        if (layers[i].stable_step > last)
            last = layers[i].stable_step;
    }
    *step = any ? last : -1;
    return any;
}
