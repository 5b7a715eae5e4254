/* test_ckname.c -- which names are checkpoints, and which step they carry. */
#include <string.h>

#include "pw_ckname.h"
#include "pw_test.h"

static int64_t step_of(const char *name, int is_dir)
{
    pw_ckname c;
    return pw_ckname_parse(name, is_dir, NULL, &c) && !c.is_final ? c.step : -2;
}

START_TEST(step_is_the_last_integer)
{
    ck_assert_int_eq(step_of("step-000100.safetensors", 0), 100);
    ck_assert_int_eq(step_of("ckpt_100.npz", 0), 100);
    ck_assert_int_eq(step_of("epoch12", 1), 12);
    ck_assert_int_eq(step_of("run3-step-42.npy", 0), 42);
    ck_assert_int_eq(step_of("step-0.safetensors", 0), 0);
    ck_assert_int_eq(step_of("v2_step7_done.safetensors", 0), 7);
}
END_TEST

START_TEST(non_checkpoints_are_refused)
{
    ck_assert_int_eq(step_of("notes.txt", 0), -2);
    ck_assert_int_eq(step_of("step-100.json", 0), -2);
    ck_assert_int_eq(step_of("FINAL", 0), -2);
    ck_assert_int_eq(step_of("nodigits.safetensors", 0), -2);
    ck_assert_int_eq(step_of("logs", 1), -2);
    ck_assert_int_eq(step_of(".safetensors", 0), -2);
    /* 19 significant digits would overflow: not a step. */
    ck_assert_int_eq(step_of("s1234567890123456789.npz", 0), -2);
    ck_assert_int_eq(step_of("s000000000000000000000042.npz", 0), 42);
}
END_TEST

START_TEST(temporaries_are_refused)
{
    const char *tmp[] = {".step-1.safetensors",   "step-1.safetensors.tmp",
                         "step-1.npz.part",       "step-1.npz.partial",
                         "step-1.npz~",           "step-1.npz.swp",
                         "step-1.tmp.safetensors"};
    for (size_t i = 0; i < sizeof tmp / sizeof tmp[0]; i++) {
        ck_assert_msg(pw_ckname_is_temporary(tmp[i]), "%s should be temporary", tmp[i]);
        ck_assert_int_eq(step_of(tmp[i], 0), -2);
    }
    ck_assert(!pw_ckname_is_temporary("step-1.safetensors"));
}
END_TEST

START_TEST(final_names)
{
    pw_ckname c;
    ck_assert(pw_ckname_parse("final.safetensors", 0, NULL, &c));
    ck_assert(c.is_final);
    ck_assert(pw_ckname_parse("final", 1, NULL, &c));
    ck_assert(c.is_final);
    ck_assert(!pw_ckname_parse("final", 0, NULL, &c)); /* a file needs an extension */
    ck_assert(pw_ckname_parse("final-200.npz", 0, NULL, &c));
    ck_assert(!c.is_final);
    ck_assert_int_eq(c.step, 200);
}
END_TEST

START_TEST(pattern_filters)
{
    pw_ckname c;
    ck_assert(pw_ckname_parse("step-5.safetensors", 0, "step-*", &c));
    ck_assert(!pw_ckname_parse("ckpt-5.safetensors", 0, "step-*", &c));
    ck_assert(pw_ckname_parse("ckpt-5.safetensors", 0, "", &c));
}
END_TEST

/* A newline in a name would let a writer forge lines in the daemon's log. */
START_TEST(control_characters_are_refused)
{
    pw_ckname nm;
    ck_assert_int_eq(pw_ckname_parse("x\npwccad: error: forged step-1.npy", 0, NULL, &nm), 0);
    ck_assert_int_eq(pw_ckname_parse("step-1\x1b[2J.npy", 0, NULL, &nm), 0);
    ck_assert_int_eq(pw_ckname_parse("step\x7f-1", 1, NULL, &nm), 0);
    ck_assert_int_eq(pw_ckname_parse("step-1.npy", 0, NULL, &nm), 1);
    ck_assert_int_eq(pw_ckname_parse("schritt-\xc3\xa4"
                                     "1.npy",
                                     0, NULL, &nm),
                     1); /* UTF-8 */
    ck_assert_int_eq(pw_ckname_has_control("run\tname"), 1);
    ck_assert_int_eq(pw_ckname_has_control("run name"), 0);
}
END_TEST

/* `pwcca compare` reads step-000100.NPZ (pw_ckpt_open matches suffixes in any
 * case), so the watcher must take it as a checkpoint too. */
START_TEST(suffixes_in_any_case)
{
    pw_ckname c;
    ck_assert_int_eq(step_of("step-000100.NPZ", 0), 100);
    ck_assert_int_eq(step_of("step-000100.SAFETENSORS", 0), 100);
    ck_assert_int_eq(step_of("step-000100.NPY", 0), 100);
    ck_assert_int_eq(step_of("ckpt_7.SafeTensors", 0), 7);
    ck_assert(pw_ckname_parse("final.Npz", 0, NULL, &c));
    ck_assert(c.is_final);
    ck_assert_int_eq(step_of("step-100.JSON", 0), -2);
    ck_assert_int_eq(step_of(".NPZ", 0), -2);
    ck_assert_int_eq(step_of("step-1.NPZ.tmp", 0), -2);
}
END_TEST

Suite *ckname_suite(void)
{
    Suite *s = suite_create("ckname");
    TCase *tc = tcase_create("names");
    tcase_add_test(tc, step_is_the_last_integer);
    tcase_add_test(tc, non_checkpoints_are_refused);
    tcase_add_test(tc, temporaries_are_refused);
    tcase_add_test(tc, final_names);
    tcase_add_test(tc, pattern_filters);
    tcase_add_test(tc, control_characters_are_refused);
    tcase_add_test(tc, suffixes_in_any_case);
    suite_add_tcase(s, tc);
    return s;
}
