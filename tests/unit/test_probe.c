/* test_probe.c -- probe identity of two checkpoints (lib/pw_probe.h): equal
 * fingerprints pass, different ones are refused naming both, a missing one
 * is a warning. */
#include <string.h>

#include "pw_error.h"
#include "pw_probe.h"
#include "pw_status.h"
#include "pw_test.h"

START_TEST(verdicts_and_messages)
{
    char msg[PW_ERR_MAX];
    ck_assert_int_eq(pw_probe_check("0123abcd", "r1:100", "0123abcd", "r2:100", msg, sizeof msg),
                     PW_PROBE_SAME);
    ck_assert_str_eq(msg, "");
    ck_assert_int_eq(pw_probe_check("0123abcd", "r1:100", "4567ef01", "r2:200", msg, sizeof msg),
                     PW_PROBE_DIFFERENT);
    ck_assert_ptr_nonnull(strstr(msg, "probe_mismatch: r1:100 was taken on probe_fingerprint "
                                      "0123abcd but r2:200 on 4567ef01"));
    ck_assert_int_eq(pw_probe_check("", "a.npz", "4567ef01", "b.st", msg, sizeof msg),
                     PW_PROBE_UNKNOWN);
    ck_assert_ptr_nonnull(strstr(msg, "a.npz has no probe_fingerprint (b.st has 4567ef01)"));
    ck_assert_int_eq(pw_probe_check("", "a.npz", "", "b.npz", msg, sizeof msg), PW_PROBE_UNKNOWN);
    ck_assert_ptr_nonnull(strstr(msg, "neither a.npz nor b.npz"));
    /* The status the refusal is reported as, appended to the public list. */
    pw_status s;
    ck_assert_int_eq(pw_status_parse("probe_mismatch", &s), 0);
    ck_assert_int_eq(s, PW_PROBE_MISMATCH);
    ck_assert_str_eq(pw_status_name(PW_PROBE_CHANGED), "probe_changed");
}
END_TEST

Suite *probe_suite(void)
{
    Suite *s = suite_create("probe");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, verdicts_and_messages);
    suite_add_tcase(s, tc);
    return s;
}
