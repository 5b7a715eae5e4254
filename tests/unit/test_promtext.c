/* test_promtext.c -- the exposition text Prometheus will parse: exact lines,
 * escaping, names it would reject, numbers, histograms and the size limit. */
#include <math.h>
#include <string.h>

#include "pw_promtext.h"
#include "pw_test.h"

START_TEST(gauge_and_counter_lines_are_exact)
{
    pw_promtext t;
    pw_err e;
    pw_promtext_init(&t);
    pw_prom_label lab[2] = {{"run", "r1"}, {"layer", "conv1"}};
    PW_ASSERT_OK(pw_promtext_family(&t, "pw_gauge", PW_PROM_GAUGE, "A gauge.", &e), &e);
    PW_ASSERT_OK(pw_promtext_sample(&t, lab, 2, 0.25, &e), &e);
    PW_ASSERT_OK(pw_promtext_family(&t, "pw_things_total", PW_PROM_COUNTER, "", &e), &e);
    PW_ASSERT_OK(pw_promtext_sample(&t, NULL, 0, 42, &e), &e);
    ck_assert_str_eq(t.buf, "# HELP pw_gauge A gauge.\n"
                            "# TYPE pw_gauge gauge\n"
                            "pw_gauge{run=\"r1\",layer=\"conv1\"} 0.25\n"
                            "# HELP pw_things_total \n"
                            "# TYPE pw_things_total counter\n"
                            "pw_things_total 42\n");
    ck_assert_uint_eq(t.len, strlen(t.buf));
    pw_promtext_free(&t);
}
END_TEST

START_TEST(label_values_and_help_are_escaped)
{
    pw_promtext t;
    pw_err e;
    pw_promtext_init(&t);
    PW_ASSERT_OK(pw_promtext_family(&t, "m", PW_PROM_GAUGE, "back\\slash \"q\"\nline2", &e), &e);
    pw_prom_label lab = {"layer", "a\\b\"c\nd"};
    PW_ASSERT_OK(pw_promtext_sample(&t, &lab, 1, 1, &e), &e);
    /* HELP escapes backslash and newline only; label values also the double quote. */
    ck_assert_str_eq(t.buf, "# HELP m back\\\\slash \"q\"\\nline2\n"
                            "# TYPE m gauge\n"
                            "m{layer=\"a\\\\b\\\"c\\nd\"} 1\n");
    pw_promtext_free(&t);
}
END_TEST

START_TEST(bytes_that_are_not_utf8_become_replacement_characters)
{
    pw_promtext t;
    pw_err e;
    pw_promtext_init(&t);
    PW_ASSERT_OK(pw_promtext_family(&t, "m", PW_PROM_GAUGE, "", &e), &e);
    /* valid: e-acute, CJK, an emoji; invalid: a lone continuation byte, an
     * overlong slash, a UTF-16 surrogate, a truncated sequence at the end. */
    pw_prom_label ok = {"layer", "caf\xC3\xA9 \xE6\x97\xA5 \xF0\x9F\x98\x80"};
    pw_prom_label bad = {"layer", "a\x80"
                                  "b\xC0\xAF"
                                  "c\xED\xA0\x80"
                                  "d\xE6\x97"};
    PW_ASSERT_OK(pw_promtext_sample(&t, &ok, 1, 1, &e), &e);
    PW_ASSERT_OK(pw_promtext_sample(&t, &bad, 1, 2, &e), &e);
#define R "\xEF\xBF\xBD"
    ck_assert_str_eq(t.buf, "# HELP m \n# TYPE m gauge\n"
                            "m{layer=\"caf\xC3\xA9 \xE6\x97\xA5 \xF0\x9F\x98\x80\"} 1\n"
                            "m{layer=\"a" R "b" R R "c" R R R "d" R R "\"} 2\n");
#undef R
    pw_promtext_free(&t);
}
END_TEST

START_TEST(names_prometheus_would_reject_are_refused)
{
    pw_promtext t;
    pw_err e;
    pw_promtext_init(&t);
    PW_ASSERT_FAILS_WITH(pw_promtext_family(&t, "pwccad-x", PW_PROM_GAUGE, "", &e), &e, "byte 6");
    PW_ASSERT_FAILS_WITH(pw_promtext_family(&t, "1abc", PW_PROM_GAUGE, "", &e), &e, "byte 0");
    PW_ASSERT_FAILS_WITH(pw_promtext_family(&t, "", PW_PROM_GAUGE, "", &e), &e, "empty");
    char longname[PW_PROM_MAX_NAME + 10];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    PW_ASSERT_FAILS_WITH(pw_promtext_family(&t, longname, PW_PROM_GAUGE, "", &e), &e, "longer");
    PW_ASSERT_FAILS_WITH(pw_promtext_family(&t, "x", PW_PROM_COUNTER, "", &e), &e, "_total");
    PW_ASSERT_FAILS_WITH(pw_promtext_family(&t, "x_total", PW_PROM_GAUGE, "", &e), &e,
                         "only counters");
    ck_assert_uint_eq(t.len, 0);

    PW_ASSERT_OK(pw_promtext_family(&t, "ns:sub_metric", PW_PROM_GAUGE, "", &e), &e);
    size_t len = t.len;
    pw_prom_label colon = {"a:b", "v"}, reserved = {"__name__", "v"}, digit = {"9x", "v"};
    PW_ASSERT_FAILS_WITH(pw_promtext_sample(&t, &colon, 1, 1, &e), &e, "label name 'a:b'");
    PW_ASSERT_FAILS_WITH(pw_promtext_sample(&t, &reserved, 1, 1, &e), &e, "reserved");
    PW_ASSERT_FAILS_WITH(pw_promtext_sample(&t, &digit, 1, 1, &e), &e, "byte 0");
    pw_prom_label twice[2] = {{"run", "a"}, {"run", "b"}};
    PW_ASSERT_FAILS_WITH(pw_promtext_sample(&t, twice, 2, 1, &e), &e, "given twice");
    /* A refused sample leaves no half line behind. */
    ck_assert_uint_eq(t.len, len);
    ck_assert_uint_eq(strlen(t.buf), len);
    PW_ASSERT_FAILS_WITH(pw_promtext_family(&t, "ns:sub_metric", PW_PROM_GAUGE, "", &e), &e,
                         "already written");
    pw_promtext_free(&t);
}
END_TEST

START_TEST(samples_must_fit_their_family)
{
    pw_promtext t;
    pw_err e;
    pw_promtext_init(&t);
    PW_ASSERT_FAILS_WITH(pw_promtext_sample(&t, NULL, 0, 1, &e), &e, "before any metric family");
    PW_ASSERT_OK(pw_promtext_family(&t, "c_total", PW_PROM_COUNTER, "", &e), &e);
    PW_ASSERT_FAILS_WITH(pw_promtext_sample(&t, NULL, 0, -1, &e), &e, "cannot be -1");
    PW_ASSERT_FAILS_WITH(pw_promtext_sample(&t, NULL, 0, NAN, &e), &e, "cannot be nan");
    double b[1] = {1};
    uint64_t c[1] = {0};
    PW_ASSERT_FAILS_WITH(pw_promtext_histogram(&t, NULL, 0, b, c, 1, 0, 0, &e), &e,
                         "outside a histogram family");
    PW_ASSERT_OK(pw_promtext_family(&t, "h_seconds", PW_PROM_HISTOGRAM, "", &e), &e);
    PW_ASSERT_FAILS_WITH(pw_promtext_sample(&t, NULL, 0, 1, &e), &e, "pw_promtext_histogram");
    pw_promtext_free(&t);
}
END_TEST

START_TEST(values_print_as_the_format_spells_them)
{
    char buf[32];
    struct {
        double v;
        const char *text;
    } cases[] = {{NAN, "NaN"},      {INFINITY, "+Inf"}, {-INFINITY, "-Inf"},
                 {0.1, "0.1"},      {42, "42"},         {-3.5, "-3.5"},
                 {1e300, "1e+300"}, {0, "0"},           {1e-9, "1e-09"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pw_promtext_format_value(cases[i].v, buf, sizeof buf);
        ck_assert_str_eq(buf, cases[i].text);
    }
    /* Every finite value reads back exactly. */
    double vals[] = {
        1.0 / 3, 2.0 / 3, 0.1 + 0.2, 123456789.123456789, 5e-324, 1.7976931348623157e308};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        pw_promtext_format_value(vals[i], buf, sizeof buf);
        ck_assert_msg(strtod(buf, NULL) == vals[i], "%s does not read back as %.17g", buf, vals[i]);
    }
}
END_TEST

START_TEST(histogram_lines_are_cumulative)
{
    pw_promtext t;
    pw_err e;
    pw_promtext_init(&t);
    double bounds[3] = {0.1, 1, 10};
    uint64_t counts[3] = {2, 0, 3};
    pw_prom_label lab = {"run", "r"};
    PW_ASSERT_OK(pw_promtext_family(&t, "d_seconds", PW_PROM_HISTOGRAM, "Durations.", &e), &e);
    PW_ASSERT_OK(pw_promtext_histogram(&t, &lab, 1, bounds, counts, 3, 6, 40.5, &e), &e);
    PW_ASSERT_OK(pw_promtext_histogram(&t, NULL, 0, bounds, counts, 3, 5, 12, &e), &e);
    ck_assert_str_eq(t.buf, "# HELP d_seconds Durations.\n"
                            "# TYPE d_seconds histogram\n"
                            "d_seconds_bucket{run=\"r\",le=\"0.1\"} 2\n"
                            "d_seconds_bucket{run=\"r\",le=\"1\"} 2\n"
                            "d_seconds_bucket{run=\"r\",le=\"10\"} 5\n"
                            "d_seconds_bucket{run=\"r\",le=\"+Inf\"} 6\n"
                            "d_seconds_sum{run=\"r\"} 40.5\n"
                            "d_seconds_count{run=\"r\"} 6\n"
                            "d_seconds_bucket{le=\"0.1\"} 2\n"
                            "d_seconds_bucket{le=\"1\"} 2\n"
                            "d_seconds_bucket{le=\"10\"} 5\n"
                            "d_seconds_bucket{le=\"+Inf\"} 5\n"
                            "d_seconds_sum 12\n"
                            "d_seconds_count 5\n");
    size_t len = t.len;
    pw_prom_label le = {"le", "x"};
    PW_ASSERT_FAILS_WITH(pw_promtext_histogram(&t, &le, 1, bounds, counts, 3, 6, 0, &e), &e,
                         "'le'");
    PW_ASSERT_FAILS_WITH(pw_promtext_histogram(&t, NULL, 0, bounds, counts, 3, 4, 0, &e), &e,
                         "more than count=4");
    double unordered[3] = {1, 1, 2};
    PW_ASSERT_FAILS_WITH(pw_promtext_histogram(&t, NULL, 0, unordered, counts, 3, 6, 0, &e), &e,
                         "bound 1");
    double inf[1] = {INFINITY};
    PW_ASSERT_FAILS_WITH(pw_promtext_histogram(&t, NULL, 0, inf, counts, 1, 6, 0, &e), &e,
                         "bound 0");
    ck_assert_uint_eq(t.len, len);
    pw_promtext_free(&t);
}
END_TEST

START_TEST(the_size_limit_holds_and_leaves_whole_lines)
{
    pw_promtext t;
    pw_err e;
    pw_promtext_init(&t);
    t.max = 120;
    PW_ASSERT_OK(pw_promtext_family(&t, "m", PW_PROM_GAUGE, "", &e), &e);
    int rc = 0;
    for (int i = 0; i < 100 && rc == 0; i++)
        rc = pw_promtext_sample(&t, NULL, 0, i, &e);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(e.msg, "exceed 120 bytes") != NULL, "message: %s", e.msg);
    ck_assert_uint_le(t.len, 120);
    ck_assert_uint_gt(t.len, 0);
    ck_assert_int_eq(t.buf[t.len - 1], '\n');
    /* reset starts a new exposition in which the same family may appear again */
    pw_promtext_reset(&t);
    ck_assert_uint_eq(t.len, 0);
    PW_ASSERT_OK(pw_promtext_family(&t, "m", PW_PROM_GAUGE, "", &e), &e);
    pw_promtext_free(&t);
    ck_assert_ptr_null(t.buf);
}
END_TEST

Suite *promtext_suite(void)
{
    Suite *s = suite_create("promtext");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, gauge_and_counter_lines_are_exact);
    tcase_add_test(tc, label_values_and_help_are_escaped);
    tcase_add_test(tc, bytes_that_are_not_utf8_become_replacement_characters);
    tcase_add_test(tc, names_prometheus_would_reject_are_refused);
    tcase_add_test(tc, samples_must_fit_their_family);
    tcase_add_test(tc, values_print_as_the_format_spells_them);
    tcase_add_test(tc, histogram_lines_are_cumulative);
    tcase_add_test(tc, the_size_limit_holds_and_leaves_whole_lines);
    suite_add_tcase(s, tc);
    return s;
}
