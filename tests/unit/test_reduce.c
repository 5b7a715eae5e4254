/* test_reduce.c -- the reduce modes as users write them: parsed, printed and
 * parsed back; auto's rule for K. */
#include <string.h>

#include "pw_reduce.h"
#include "pw_test.h"

START_TEST(modes_round_trip)
{
    const char *texts[] = {"none", "auto", "dims:512", "dims:1", "var:0.99", "var:1", "var:0.5"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        pw_reduce r, back;
        pw_err e;
        char buf[PW_REDUCE_TEXT_MAX];
        ck_assert_int_eq(pw_reduce_parse(texts[i], &r, &e), 0);
        pw_reduce_format(&r, buf, sizeof buf);
        ck_assert_str_eq(buf, texts[i]);
        ck_assert_int_eq(pw_reduce_parse(buf, &back, &e), 0);
        ck_assert(pw_reduce_equal(&r, &back));
    }
    pw_reduce r;
    pw_err e;
    ck_assert_int_eq(pw_reduce_parse("  dims:64\t", &r, &e), 0);
    ck_assert_int_eq(r.kind, PW_REDUCE_DIMS);
    ck_assert_uint_eq(r.dims, 64);
    /* A share printed in full still round-trips. */
    r = (pw_reduce){.kind = PW_REDUCE_VAR, .var = 0.1 + 0.2};
    char buf[PW_REDUCE_TEXT_MAX];
    pw_reduce_format(&r, buf, sizeof buf);
    pw_reduce back;
    ck_assert_int_eq(pw_reduce_parse(buf, &back, &e), 0);
    ck_assert(back.var == r.var);
}
END_TEST

START_TEST(bad_modes_say_what_is_accepted)
{
    const char *bad[] = {"",        "dims:",   "dims:0",  "dims:-3", "dims:12x", "dims:99999999",
                         "var:0",   "var:1.5", "var:x",   "var:",    "var:nan",  "Dims:4",
                         "reduced", "dims 4",  "var:-0.5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pw_reduce r = {.kind = PW_REDUCE_AUTO};
        pw_err e;
        ck_assert_msg(pw_reduce_parse(bad[i], &r, &e) == -1, "accepted '%s'", bad[i]);
        ck_assert_int_eq(r.kind, PW_REDUCE_AUTO); /* untouched */
        ck_assert_msg(strstr(e.msg, "dims:K") != NULL, "%s", e.msg);
    }
}
END_TEST

START_TEST(auto_keeps_ten_datapoints_per_direction)
{
    ck_assert_uint_eq(pw_reduce_auto_dims(1024, 512), 102); /* ResNet-18 layer4 at 1024 images */
    ck_assert_uint_eq(pw_reduce_auto_dims(8192, 4096), 819);
    ck_assert_uint_eq(pw_reduce_auto_dims(100000, 512), 512); /* never more than it has */
    ck_assert_uint_eq(pw_reduce_auto_dims(5, 3), 1);          /* always at least one */
}
END_TEST

Suite *reduce_suite(void)
{
    Suite *s = suite_create("reduce");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, modes_round_trip);
    tcase_add_test(tc, bad_modes_say_what_is_accepted);
    tcase_add_test(tc, auto_keeps_ten_datapoints_per_direction);
    suite_add_tcase(s, tc);
    return s;
}
