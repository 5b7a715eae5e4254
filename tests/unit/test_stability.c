/* test_stability.c -- the stable / unstable / converged rules. */
#include <math.h>

#include "pw_stability.h"
#include "pw_test.h"

static const pw_stab_params P = {0.01, 3, 0.02};

START_TEST(stable_after_k_consecutive)
{
    pw_stab_point pts[] = {{100, 0.5}, {200, 0.005}, {300, 0.009}, {400, 0.01}, {500, 0.001}};
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
    pw_stab_point pts[] = {{1, 0.001}, {2, 0.001}, {3, 0.5}, {4, 0.001}, {5, 0.001}};
    pw_stab_state st;
    ck_assert_uint_eq(pw_stability_replay(&P, pts, 5, NULL, 0, &st), 0);
    ck_assert(!st.stable);
    /* A missing distance also breaks a streak. */
    pw_stab_point gap[] = {{1, 0.001}, {2, NAN}, {3, 0.001}, {4, 0.001}};
    ck_assert_uint_eq(pw_stability_replay(&P, gap, 4, NULL, 0, &st), 0);
}
END_TEST

START_TEST(hysteresis_keeps_small_wobbles_stable)
{
    pw_stab_point pts[] = {{1, 0.001}, {2, 0.001}, {3, 0.001}, {4, 0.015}, {5, NAN},
                           {6, 0.03},  {7, 0.001}, {8, 0.001}, {9, 0.001}};
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
    pw_stab_state layers[3] = {{1, 400, 1}, {1, 700, 1}, {0, -1, 0}};
    int64_t step;
    ck_assert(pw_stability_converged(layers, 3, &step));
    ck_assert_int_eq(step, 700);
    layers[1].stable = 0;
    ck_assert(!pw_stability_converged(layers, 3, &step));
    ck_assert_int_eq(step, -1);
    pw_stab_state none[1] = {{0, -1, 0}};
    ck_assert(!pw_stability_converged(none, 1, &step)); /* nothing measured: not converged */
}
END_TEST

START_TEST(parameters_validated)
{
    pw_stab_params bad = {0.02, 3, 0.01};
    ck_assert_int_eq(pw_stab_params_valid(&P), 0);
    ck_assert_int_eq(pw_stab_params_valid(&bad), -1);
    bad = (pw_stab_params){0.01, 0, 0.02};
    ck_assert_int_eq(pw_stab_params_valid(&bad), -1);
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
    return s;
}
