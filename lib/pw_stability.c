/* pw_stability.c -- the stable / unstable / converged rules (see pw_stability.h). */
#include "pw_stability.h"

#include <assert.h>
#include <math.h>

int pw_stab_params_valid(const pw_stab_params *p)
{
    if (p->k < 1 || !(p->theta >= 0) || !(p->hysteresis >= p->theta) || !isfinite(p->hysteresis))
        return -1;
    return 0;
}

size_t pw_stability_replay(const pw_stab_params *p, const pw_stab_point *points, size_t n,
                           pw_stab_event *events, size_t max_events, pw_stab_state *end)
{
    assert(pw_stab_params_valid(p) == 0);
    size_t nev = 0;
    int streak = 0;
    pw_stab_state st = {0, -1, 0};
    for (size_t i = 0; i < n; i++) {
        double d = points[i].distance;
        int finite = isfinite(d);
        pw_stab_event ev = {PW_STAB_STABLE, points[i].step, d};
        int fired = 0;
        st.has_distance |= finite;
        if (!st.stable) {
            streak = finite && d <= p->theta ? streak + 1 : 0;
            if (streak >= p->k) {
                st.stable = 1;
                st.stable_step = points[i].step;
                fired = 1;
            }
        } else if (finite && d > p->hysteresis) {
            st.stable = 0;
            st.stable_step = -1;
            streak = 0;
            ev.kind = PW_STAB_UNSTABLE;
            fired = 1;
        }
        if (fired) {
            if (nev < max_events)
                events[nev] = ev;
            nev++;
        }
    }
    *end = st;
    return nev;
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
