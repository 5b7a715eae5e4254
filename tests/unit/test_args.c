/* test_args.c -- the option parser pwccad and pwcca share (lib/pw_args.h). */
#include <string.h>

#include "pw_args.h"
#include "pw_test.h"

static const pw_arg_spec SPECS[] = {
    {"layer", 0, 1, 0, NULL},  {"format", 0, 1, 0, NULL}, {"output", 'o', 1, 0, NULL},
    {"json", 'j', 0, 0, NULL}, {"final", 0, 0, 0, NULL},  {"foreground", 0, 0, 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

/* Parse argv (NULL-terminated, argv[0] the program) to the end or an error;
 * "name=value;name;" into seen.  Returns the last pw_args_next result. */
static pw_args_rc parse(char **argv, pw_args *p, char *seen, size_t len, int stop)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    pw_args_init(p, argc, argv, 1, SPECS);
    p->stop_at_operand = stop;
    seen[0] = '\0';
    pw_args_rc rc;
    while ((rc = pw_args_next(p)) == PW_ARGS_OPTION) {
        size_t used = strlen(seen);
        snprintf(seen + used, len - used, "%s%s%s;", SPECS[p->opt].name, p->value ? "=" : "",
                 p->value ? p->value : "");
    }
    return rc;
}

START_TEST(every_spelling_of_a_value)
{
    char *argv[] = {"prog",    "--layer=fc", "--format", "csv", "-o",
                    "out.svg", "-ofile.svg", "--json",   "-j",  NULL};
    pw_args p;
    char seen[256];
    ck_assert_int_eq(parse(argv, &p, seen, sizeof seen, 0), PW_ARGS_END);
    ck_assert_str_eq(seen, "layer=fc;format=csv;output=out.svg;output=file.svg;json;json;");
    ck_assert_int_eq(p.first_pos, 9);
}
END_TEST

START_TEST(operands_anywhere_end_up_last_in_order)
{
    char *argv[] = {"prog", "run1", "--layer", "fc", "run2", "--json", "-", "--", "--final", NULL};
    pw_args p;
    char seen[256];
    ck_assert_int_eq(parse(argv, &p, seen, sizeof seen, 0), PW_ARGS_END);
    ck_assert_str_eq(seen, "layer=fc;json;");
    ck_assert_int_eq(p.first_pos, 5); /* prog --layer fc --json -- | run1 run2 - --final */
    ck_assert_str_eq(argv[5], "run1");
    ck_assert_str_eq(argv[6], "run2");
    ck_assert_str_eq(argv[7], "-");
    ck_assert_str_eq(argv[8], "--final"); /* after "--", an operand */
}
END_TEST

START_TEST(stop_at_the_first_operand)
{
    char *argv[] = {"pwcca", "--json", "curve", "--layer", "fc", NULL};
    pw_args p;
    char seen[256];
    ck_assert_int_eq(parse(argv, &p, seen, sizeof seen, 1), PW_ARGS_END);
    ck_assert_str_eq(seen, "json;");
    ck_assert_int_eq(p.first_pos, 2);
    ck_assert_str_eq(argv[2], "curve"); /* the command's own options stay after it */
    ck_assert_str_eq(argv[3], "--layer");
}
END_TEST

START_TEST(an_unambiguous_prefix_names_an_option)
{
    char *ok_argv[] = {"prog", "--lay", "fc", "--fore", NULL};
    char *amb_argv[] = {"prog", "--f", NULL}; /* format, final, foreground */
    pw_args p;
    char seen[256];
    ck_assert_int_eq(parse(ok_argv, &p, seen, sizeof seen, 0), PW_ARGS_END);
    ck_assert_str_eq(seen, "layer=fc;foreground;");
    ck_assert_int_eq(parse(amb_argv, &p, seen, sizeof seen, 0), PW_ARGS_ERROR);
    ck_assert_str_eq(p.msg, "unknown option '--f'");
    char *final_argv[] = {"prog", "--final", NULL}; /* exact beats a longer name */
    ck_assert_int_eq(parse(final_argv, &p, seen, sizeof seen, 0), PW_ARGS_END);
    ck_assert_str_eq(seen, "final;");
}
END_TEST

/* The complaint for argv. */
static const char *complaint(char **argv)
{
    static pw_args p;
    char seen[256];
    ck_assert_int_eq(parse(argv, &p, seen, sizeof seen, 0), PW_ARGS_ERROR);
    return p.msg;
}

START_TEST(the_messages_the_programs_print)
{
    ck_assert_str_eq(complaint((char *[]){"p", "--bogus", NULL}), "unknown option '--bogus'");
    ck_assert_str_eq(complaint((char *[]){"p", "--bogus=3", NULL}), "unknown option '--bogus=3'");
    ck_assert_str_eq(complaint((char *[]){"p", "-x", NULL}), "unknown option '-x'");
    ck_assert_str_eq(complaint((char *[]){"p", "r", "--layer", NULL}), "--layer needs a value");
    ck_assert_str_eq(complaint((char *[]){"p", "--layer=", NULL}), "--layer needs a value");
    ck_assert_str_eq(complaint((char *[]){"p", "--layer", "", NULL}), "--layer needs a value");
    ck_assert_str_eq(complaint((char *[]){"p", "-o", NULL}), "-o (--output) needs a value");
    ck_assert_str_eq(complaint((char *[]){"p", "--layer", "--format", "csv", NULL}),
                     "--layer needs a value, not the option '--format'");
    ck_assert_str_eq(complaint((char *[]){"p", "--json=yes", NULL}), "--json takes no value");
    ck_assert_str_eq(complaint((char *[]){"p", "-jx", NULL}), "unknown option '-jx'");
}
END_TEST

START_TEST(nothing_after_an_error)
{
    char *argv[] = {"p", "--bogus", "--json", NULL};
    pw_args p;
    char seen[256];
    ck_assert_int_eq(parse(argv, &p, seen, sizeof seen, 0), PW_ARGS_ERROR);
    ck_assert_int_eq(pw_args_next(&p), PW_ARGS_END);
    ck_assert_str_eq(seen, "");
}
END_TEST

Suite *args_suite(void)
{
    Suite *s = suite_create("args");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, every_spelling_of_a_value);
    tcase_add_test(tc, operands_anywhere_end_up_last_in_order);
    tcase_add_test(tc, stop_at_the_first_operand);
    tcase_add_test(tc, an_unambiguous_prefix_names_an_option);
    tcase_add_test(tc, the_messages_the_programs_print);
    tcase_add_test(tc, nothing_after_an_error);
    suite_add_tcase(s, tc);
    return s;
}
