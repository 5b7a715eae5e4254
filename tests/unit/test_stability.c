/* test_stability.c -- the stable / unstable / converged rules. */
#include <math.h>
#include <stdint.h>

#include "pw_stability.h"
#include "pw_test.h"

static const pw_stab_params P = {0.01, 3, 0.02, PW_STAB_RULE_THRESHOLD, 0};

START_TEST(stable_after_k_consecutive)
{
    pw_stab_point pts[] = {
        {100, 0.5, NAN}, {200, 0.005, NAN}, {300, 0.009, NAN}, {400, 0.01, NAN}, {500, 0.001, NAN}};
    pw_stab_event ev[4];
    pw_stab_state st;
    size_t n = pw_stability_replay(&P, pts, 5, ev, 4, &st);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(ev[0].kind, PW_STAB_STABLE);
    ck_assert_int_eq(ev[0].step, 400); /* theta itself counts (<=) */
    PW_ASSERT_NEAR(ev[0].value, 0.01, 0);
    ck_assert(st.stable);
    ck_assert_int_eq(st.stable_step, 400);
}
END_TEST

START_TEST(a_break_restarts_the_streak)
{
    pw_stab_point pts[] = {
        {1, 0.001, NAN}, {2, 0.001, NAN}, {3, 0.5, NAN}, {4, 0.001, NAN}, {5, 0.001, NAN}};
    pw_stab_state st;
    ck_assert_uint_eq(pw_stability_replay(&P, pts, 5, NULL, 0, &st), 0);
    ck_assert(!st.stable);
    /* A missing distance also breaks a streak. */
    pw_stab_point gap[] = {{1, 0.001, NAN}, {2, NAN, NAN}, {3, 0.001, NAN}, {4, 0.001, NAN}};
    ck_assert_uint_eq(pw_stability_replay(&P, gap, 4, NULL, 0, &st), 0);
}
END_TEST

START_TEST(hysteresis_keeps_small_wobbles_stable)
{
    pw_stab_point pts[] = {{1, 0.001, NAN}, {2, 0.001, NAN}, {3, 0.001, NAN},
                           {4, 0.015, NAN}, {5, NAN, NAN},   {6, 0.03, NAN},
                           {7, 0.001, NAN}, {8, 0.001, NAN}, {9, 0.001, NAN}};
    pw_stab_event ev[4];
    pw_stab_state st;
    size_t n = pw_stability_replay(&P, pts, 9, ev, 4, &st);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(ev[0].kind, PW_STAB_STABLE);
    ck_assert_int_eq(ev[0].step, 3);
    ck_assert_int_eq(ev[1].kind, PW_STAB_UNSTABLE); /* 0.015 <= 0.02 did not flip it; 0.03 did */
    ck_assert_int_eq(ev[1].step, 6);
    PW_ASSERT_NEAR(ev[1].value, 0.03, 0);
    ck_assert_int_eq(ev[2].kind, PW_STAB_STABLE);
    ck_assert_int_eq(ev[2].step, 9);
    /* More transitions than room: the count is still right. */
    ck_assert_uint_eq(pw_stability_replay(&P, pts, 9, ev, 1, &st), 3);
}
END_TEST

START_TEST(convergence_ignores_layers_without_distance)
{
    pw_stab_state layers[3] = {{1, 400, 1, NAN}, {1, 700, 1, NAN}, {0, -1, 0, NAN}};
    int64_t step;
    ck_assert(pw_stability_converged(layers, 3, &step));
    ck_assert_int_eq(step, 700);
    layers[1].stable = 0;
    ck_assert(!pw_stability_converged(layers, 3, &step));
    ck_assert_int_eq(step, -1);
    pw_stab_state none[1] = {{0, -1, 0, NAN}};
    ck_assert(!pw_stability_converged(none, 1, &step)); /* nothing measured: not converged */
}
END_TEST

START_TEST(parameters_validated)
{
    pw_stab_params bad = {0.02, 3, 0.01, PW_STAB_RULE_THRESHOLD, 0};
    ck_assert_int_eq(pw_stab_params_valid(&P), 0);
    ck_assert_int_eq(pw_stab_params_valid(&bad), -1);
    bad = (pw_stab_params){0.01, 0, 0.02, PW_STAB_RULE_THRESHOLD, 0};
    ck_assert_int_eq(pw_stab_params_valid(&bad), -1);
}
END_TEST

/* Series ---------------------------------------------------------------------------------- */

/* The transitions a series reported, in order. */
typedef struct reported {
    pw_stab_event ev[64]; /* the reports */
    size_t n;             /* how many */
    int fail;             /* report failure while non-zero */
} reported;

static int collect(void *ctx, const pw_stab_event *ev)
{
    reported *r = ctx;
    ck_assert_uint_lt(r->n, 64);
    if (r->fail)
        return -1;
    r->ev[r->n++] = *ev;
    return 0;
}

/* 1 when r reported a transition of this kind at step. */
static int has_report(const reported *r, pw_stab_kind kind, int64_t step)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->ev[i].kind == kind && r->ev[i].step == step)
            return 1;
    return 0;
}

/* s's points replayed from scratch must give s's state. */
static void assert_matches_replay(const pw_stab_series *s)
{
    pw_stab_state want;
    pw_stability_replay(&P, s->pts, s->n, NULL, 0, &want);
    ck_assert_int_eq(s->end.stable, want.stable);
    ck_assert_int_eq(s->end.stable_step, want.stable_step);
    ck_assert_int_eq(s->end.has_distance, want.has_distance);
    ck_assert_uint_eq(s->done, s->n);
}

START_TEST(series_in_order_reports_each_transition_once)
{
    pw_stab_point pts[] = {
        {1, 0.001, NAN}, {2, 0.001, NAN}, {3, 0.001, NAN}, {4, 0.5, NAN}, {5, 0.001, NAN}};
    pw_stab_series s;
    reported r = {0};
    pw_stab_series_init(&s);
    for (size_t i = 0; i < 5; i++) {
        ck_assert_int_eq(pw_stab_series_set(&s, pts[i].step, pts[i].distance), 0);
        ck_assert_uint_eq(pw_stab_series_update(&P, &s, collect, &r), 0);
        assert_matches_replay(&s);
    }
    ck_assert_uint_eq(r.n, 2); /* stable at 3, unstable at 4: each once */
    ck_assert(has_report(&r, PW_STAB_STABLE, 3));
    ck_assert(has_report(&r, PW_STAB_UNSTABLE, 4));
    /* A score written again with its value changes nothing and reports nothing. */
    pw_stab_series_set(&s, 2, 0.001);
    ck_assert_uint_eq(pw_stab_series_update(&P, &s, collect, &r), 0);
    ck_assert_uint_eq(r.n, 2);
    pw_stab_series_free(&s);
}
END_TEST

START_TEST(series_late_checkpoint_moves_the_transition)
{
    /* 100, 200, 400 arrive; then 300 (late) with a small distance, and 400's
     * distance, now to 300, is small too: stable at 400 -- once. */
    pw_stab_series s;
    reported r = {0};
    pw_stab_series_init(&s);
    pw_stab_series_set(&s, 100, NAN);
    pw_stab_series_set(&s, 200, 0.001);
    pw_stab_series_set(&s, 400, 0.5);
    pw_stab_series_update(&P, &s, collect, &r);
    ck_assert_uint_eq(r.n, 0);
    pw_stab_series_set(&s, 300, 0.002);
    pw_stab_series_set(&s, 400, 0.003);
    pw_stab_series_update(&P, &s, collect, &r);
    assert_matches_replay(&s);
    ck_assert_uint_eq(r.n, 1);
    ck_assert(has_report(&r, PW_STAB_STABLE, 400));
    /* A later arrival after the transition does not report it again. */
    pw_stab_series_set(&s, 500, 0.001);
    pw_stab_series_update(&P, &s, collect, &r);
    ck_assert_uint_eq(r.n, 1);
    /* One before it (a rescored 300 that breaks the streak) replays the layer:
     * the transition is gone from the state, and nothing is reported. */
    pw_stab_series_set(&s, 300, 0.5);
    pw_stab_series_update(&P, &s, collect, &r);
    assert_matches_replay(&s);
    ck_assert(!s.end.stable);
    ck_assert_uint_eq(r.n, 1);
    /* A point removed (a checkpoint that turned unreadable) is replayed away too. */
    pw_stab_series_remove(&s, 300);
    pw_stab_series_update(&P, &s, collect, &r);
    assert_matches_replay(&s);
    pw_stab_series_free(&s);
}
END_TEST

START_TEST(series_waits_for_a_missing_checkpoint_below_the_horizon)
{
    /* 100, 200 and 400 are scored while 300 is still being computed (live
     * first, or two workers): nothing at or after 300 is decided, so the
     * streak 200-400 never raises a transition at 400 that 300 would move. */
    pw_stab_series s;
    reported r = {0};
    pw_stab_series_init(&s);
    pw_stab_series_set(&s, 100, NAN);
    pw_stab_series_set(&s, 200, 0.001);
    pw_stab_series_set(&s, 400, 0.002);
    pw_stab_series_set(&s, 500, 0.001);
    pw_stab_series_update_until(&P, &s, 300, collect, &r);
    ck_assert_uint_eq(r.n, 0);
    ck_assert(!s.end.stable);
    /* 300 arrives: stable at 400 (k = 3: 200, 300, 400), reported once --
     * without the horizon 500 would have been reported too (200, 400, 500). */
    pw_stab_series_set(&s, 300, 0.001);
    pw_stab_series_update_until(&P, &s, INT64_MAX, collect, &r);
    assert_matches_replay(&s);
    ck_assert_uint_eq(r.n, 1);
    ck_assert(has_report(&r, PW_STAB_STABLE, 400));
    /* Transitions held back and then released are reported when released. */
    pw_stab_series_set(&s, 600, 0.9);
    pw_stab_series_set(&s, 800, 0.9);
    pw_stab_series_update_until(&P, &s, 700, collect, &r);
    ck_assert_uint_eq(r.n, 2);
    ck_assert(has_report(&r, PW_STAB_UNSTABLE, 600));
    pw_stab_series_set(&s, 700, 0.001);
    pw_stab_series_update_until(&P, &s, INT64_MAX, collect, &r);
    assert_matches_replay(&s);
    ck_assert_uint_eq(r.n, 2); /* 700 and 800 change nothing: unstable throughout */
    pw_stab_series_free(&s);
}
END_TEST

START_TEST(series_failed_report_is_offered_again_after_reset)
{
    pw_stab_series s;
    reported r = {0};
    pw_stab_series_init(&s);
    for (int64_t k = 1; k <= 3; k++)
        pw_stab_series_set(&s, k, 0.001);
    r.fail = 1;
    ck_assert_uint_eq(pw_stab_series_update(&P, &s, collect, &r), 1);
    pw_stab_series_set(&s, 4, 0.001);
    r.fail = 0;
    pw_stab_series_update(&P, &s, collect, &r);
    ck_assert_uint_eq(r.n, 0); /* lost unless the caller resets, as the daemon does */
    pw_stab_series_reset(&s);
    ck_assert_uint_eq(pw_stab_series_update(&P, &s, collect, &r), 0);
    ck_assert_uint_eq(r.n, 1);
    ck_assert(has_report(&r, PW_STAB_STABLE, 3));
    assert_matches_replay(&s);
    pw_stab_series_free(&s);
}
END_TEST

START_TEST(series_any_arrival_order_ends_as_the_replay)
{
    /* Every transition of the final series is reported at some update, whatever the
     * order the points came in, and the state always equals a replay from scratch. */
    const double dist[] = {NAN,   0.001, 0.004, 0.5,   0.001, 0.002,
                           0.009, 0.015, 0.03,  0.001, 0.001, 0.001};
    enum { N = sizeof dist / sizeof dist[0] };
    uint32_t seed = 12345;
    for (int round = 0; round < 200; round++) {
        int order[N];
        for (int i = 0; i < N; i++)
            order[i] = i;
        for (int i = N - 1; i > 0; i--) {
            seed = seed * 1103515245u + 12345u;
            int j = (int)((seed >> 16) % (uint32_t)(i + 1));
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        pw_stab_series s;
        reported r = {0};
        pw_stab_series_init(&s);
        for (int i = 0; i < N; i++) {
            pw_stab_series_set(&s, 100 * (order[i] + 1), dist[order[i]]);
            pw_stab_series_update(&P, &s, collect, &r);
            assert_matches_replay(&s);
            ck_assert_uint_lt(r.n, 64);
        }
        pw_stab_point all[N];
        pw_stab_event ev[N];
        for (int i = 0; i < N; i++)
            all[i] = (pw_stab_point){100 * (i + 1), dist[i], NAN};
        pw_stab_state end;
        size_t nev = pw_stability_replay(&P, all, N, ev, N, &end);
        for (size_t k = 0; k < nev; k++)
            ck_assert_msg(has_report(&r, ev[k].kind, ev[k].step),
                          "round %d: transition at %lld never reported", round,
                          (long long)ev[k].step);
        pw_stab_series_free(&s);
    }
}
END_TEST

/* stable_rule = noise: theta 0.01, k 3, hysteresis 0.02, z 2. */
static const pw_stab_params PN = {0.01, 3, 0.02, PW_STAB_RULE_NOISE, 2};

START_TEST(noise_rule_needs_the_upper_bound_under_theta)
{
    /* Distances just under theta, with SEs putting d + 2*SE above it: the
     * threshold rule calls the layer stable, the noise rule does not. */
    pw_stab_point pts[] = {
        {1, 0.009, 0.002}, {2, 0.008, 0.002}, {3, 0.009, 0.001}, {4, 0.007, 0.001}};
    pw_stab_event ev[4];
    pw_stab_state st;
    ck_assert_uint_eq(pw_stability_replay(&P, pts, 4, ev, 4, &st), 1);
    ck_assert_int_eq(ev[0].step, 3);
    ck_assert_int_eq(ev[0].rule, PW_STAB_RULE_THRESHOLD);
    ck_assert(isnan(ev[0].se));
    ck_assert_uint_eq(pw_stability_replay(&PN, pts, 4, ev, 4, &st), 0);
    ck_assert(!st.stable);
    /* The same distances with small SEs: stable under noise too, and it says so. */
    for (int i = 0; i < 4; i++)
        pts[i].se = 0.0001;
    ck_assert_uint_eq(pw_stability_replay(&PN, pts, 4, ev, 4, &st), 1);
    ck_assert_int_eq(ev[0].step, 3);
    ck_assert_int_eq(ev[0].rule, PW_STAB_RULE_NOISE);
    PW_ASSERT_NEAR(ev[0].se, 0.0001, 0);
}
END_TEST

START_TEST(noise_rule_needs_the_lower_bound_over_hysteresis)
{
    /* Stable at 3; 0.025 is above the hysteresis bound but within 2 SEs of it,
     * so only the threshold rule turns the layer unstable there; 0.05 is
     * above it beyond the noise. */
    pw_stab_point pts[] = {{1, 0.001, 0.0001},
                           {2, 0.001, 0.0001},
                           {3, 0.001, 0.0001},
                           {4, 0.025, 0.005},
                           {5, 0.05, 0.005}};
    pw_stab_event ev[4];
    pw_stab_state st;
    ck_assert_uint_eq(pw_stability_replay(&P, pts, 5, ev, 4, &st), 2);
    ck_assert_int_eq(ev[1].kind, PW_STAB_UNSTABLE);
    ck_assert_int_eq(ev[1].step, 4);
    ck_assert_uint_eq(pw_stability_replay(&PN, pts, 5, ev, 4, &st), 2);
    ck_assert_int_eq(ev[1].kind, PW_STAB_UNSTABLE);
    ck_assert_int_eq(ev[1].step, 5);
    ck_assert_int_eq(ev[1].rule, PW_STAB_RULE_NOISE);
    PW_ASSERT_NEAR(ev[1].se, 0.005, 0);
}
END_TEST

START_TEST(noise_rule_carries_the_last_se_forward)
{
    /* Checkpoints 2 and 3 have no SE (the noise schedule skipped them): the SE
     * of 1 still applies, so they do not count; with it forgotten they would. */
    pw_stab_point pts[] = {{1, 0.009, 0.002},  {2, 0.008, NAN}, {3, 0.009, NAN},
                           {4, 0.001, 0.0001}, {5, 0.002, NAN}, {6, 0.001, NAN}};
    pw_stab_event ev[4];
    pw_stab_state st;
    ck_assert_uint_eq(pw_stability_replay(&PN, pts, 3, ev, 4, &st), 0);
    PW_ASSERT_NEAR(st.last_se, 0.002, 0);
    /* A small SE at 4 is carried to 5 and 6: stable at 6, by the noise rule with it. */
    ck_assert_uint_eq(pw_stability_replay(&PN, pts, 6, ev, 4, &st), 1);
    ck_assert_int_eq(ev[0].step, 6);
    ck_assert_int_eq(ev[0].rule, PW_STAB_RULE_NOISE);
    PW_ASSERT_NEAR(ev[0].se, 0.0001, 0);
    /* The series carries it the same way, whatever the arrival order. */
    pw_stab_series s;
    pw_stab_series_init(&s);
    for (int i = 5; i >= 0; i--)
        ck_assert_int_eq(pw_stab_series_set_se(&s, pts[i].step, pts[i].distance, pts[i].se), 0);
    reported r = {0};
    ck_assert_uint_eq(pw_stab_series_update(&PN, &s, collect, &r), 0);
    ck_assert(s.end.stable);
    ck_assert_int_eq(s.end.stable_step, 6);
    ck_assert_uint_eq(r.n, 1);
    ck_assert_int_eq(r.ev[0].rule, PW_STAB_RULE_NOISE);
    /* A small SE arriving later for 2 (a rescore) is a change: it is carried to 3
     * on the replay, so 2, 3 and 4 count and the layer is stable from 4. */
    ck_assert_int_eq(pw_stab_series_set_se(&s, 2, 0.008, 0.0001), 0);
    ck_assert_uint_eq(pw_stab_series_update(&PN, &s, collect, &r), 0);
    ck_assert_int_eq(s.end.stable_step, 4);
    ck_assert(has_report(&r, PW_STAB_STABLE, 4));
    pw_stab_series_free(&s);
}
END_TEST

START_TEST(noise_rule_without_se_falls_back_to_threshold)
{
    /* No SE at all for the layer: the threshold rule decides, and the event says so. */
    pw_stab_point pts[] = {{1, 0.009, NAN}, {2, 0.008, NAN}, {3, 0.009, NAN}};
    pw_stab_event ev[2];
    pw_stab_state st;
    ck_assert_uint_eq(pw_stability_replay(&PN, pts, 3, ev, 2, &st), 1);
    ck_assert_int_eq(ev[0].step, 3);
    ck_assert_int_eq(ev[0].rule, PW_STAB_RULE_THRESHOLD);
    ck_assert(isnan(ev[0].se));
    ck_assert(isnan(st.last_se));
    /* An SE beside a missing distance is not one: nothing to carry. */
    pw_stab_point gap[] = {{1, NAN, 0.5}, {2, 0.001, NAN}, {3, 0.001, NAN}, {4, 0.001, NAN}};
    ck_assert_uint_eq(pw_stability_replay(&PN, gap, 4, ev, 2, &st), 1);
    ck_assert_int_eq(ev[0].step, 4);
    ck_assert_int_eq(ev[0].rule, PW_STAB_RULE_THRESHOLD);
    /* Parameters: z finite and >= 0, a known rule. */
    pw_stab_params bad = PN;
    bad.z = -1;
    ck_assert_int_eq(pw_stab_params_valid(&bad), -1);
    bad.z = INFINITY;
    ck_assert_int_eq(pw_stab_params_valid(&bad), -1);
    bad = PN;
    bad.rule = 7;
    ck_assert_int_eq(pw_stab_params_valid(&bad), -1);
    ck_assert_int_eq(pw_stab_params_valid(&PN), 0);
}
END_TEST

Suite *stability_suite(void)
{
    Suite *s = suite_create("stability");
    TCase *tc = tcase_create("rules");
    tcase_add_test(tc, stable_after_k_consecutive);
    tcase_add_test(tc, a_break_restarts_the_streak);
    tcase_add_test(tc, hysteresis_keeps_small_wobbles_stable);
    tcase_add_test(tc, convergence_ignores_layers_without_distance);
    tcase_add_test(tc, parameters_validated);
    suite_add_tcase(s, tc);
    TCase *ts = tcase_create("series");
    tcase_add_test(ts, series_in_order_reports_each_transition_once);
    tcase_add_test(ts, series_late_checkpoint_moves_the_transition);
    tcase_add_test(ts, series_waits_for_a_missing_checkpoint_below_the_horizon);
    tcase_add_test(ts, series_failed_report_is_offered_again_after_reset);
    tcase_add_test(ts, series_any_arrival_order_ends_as_the_replay);
    suite_add_tcase(s, ts);
    TCase *tn = tcase_create("noise_rule");
    tcase_add_test(tn, noise_rule_needs_the_upper_bound_under_theta);
    tcase_add_test(tn, noise_rule_needs_the_lower_bound_over_hysteresis);
    tcase_add_test(tn, noise_rule_carries_the_last_se_forward);
    tcase_add_test(tn, noise_rule_without_se_falls_back_to_threshold);
    suite_add_tcase(s, tn);
    return s;
}
