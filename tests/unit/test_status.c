/* test_status.c -- the status list is a public contract: names round-trip and never change. */
#include <string.h>

#include "pw_error.h"
#include "pw_status.h"
#include "pw_test.h"

START_TEST(names_round_trip)
{
    for (unsigned i = 0; i < PW_STATUS_COUNT; i++) {
        pw_status s;
        ck_assert_int_eq(pw_status_parse(pw_status_name((pw_status)i), &s), 0);
        ck_assert_int_eq(s, i);
        ck_assert(strlen(pw_status_doc((pw_status)i)) > 10);
    }
}
END_TEST

START_TEST(published_names_are_stable)
{
    /* These strings are stored in users' databases and parsed by their scripts. */
    ck_assert_str_eq(pw_status_name(PW_OK), "ok");
    ck_assert_str_eq(pw_status_name(PW_INSUFFICIENT_DATAPOINTS), "insufficient_datapoints");
    ck_assert_str_eq(pw_status_name(PW_DEAD_LAYER), "dead_layer");
    ck_assert_str_eq(pw_status_name(PW_NONFINITE), "nonfinite");
    ck_assert_str_eq(pw_status_name(PW_N_MISMATCH), "n_mismatch");
    ck_assert_str_eq(pw_status_name(PW_NUMERICAL_ERROR), "numerical_error");
    ck_assert_str_eq(pw_status_name(PW_MISSING), "missing");
    ck_assert_str_eq(pw_status_name(PW_REFERENCE_UNAVAILABLE), "reference_unavailable");
    ck_assert_str_eq(pw_status_name(PW_OVER_BUDGET), "over_budget");
    ck_assert_str_eq(pw_status_name(PW_SHAPE_CHANGED), "shape_changed");
    ck_assert_str_eq(pw_status_name((pw_status)999), "unknown");
    pw_status s;
    ck_assert_int_eq(pw_status_parse("fine", &s), -1);
}
END_TEST

START_TEST(error_prefix_keeps_cause)
{
    pw_err e;
    pw_err_clear(&e);
    ck_assert_int_eq(pw_err_set(&e, "bad dtype '%s'", "I8"), -1);
    pw_err_prefix(&e, "%s: layer %s", "a.safetensors", "fc1");
    ck_assert_str_eq(e.msg, "a.safetensors: layer fc1: bad dtype 'I8'");
}
END_TEST

Suite *status_suite(void)
{
    Suite *s = suite_create("status");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, names_round_trip);
    tcase_add_test(tc, published_names_are_stable);
    tcase_add_test(tc, error_prefix_keeps_cause);
    suite_add_tcase(s, tc);
    return s;
}
