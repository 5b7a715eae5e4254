/* test_svg.c -- the plot grid and its SVG pictures: cells and series counted,
 * layers stacked bottom-up, hostile names escaped, colour scale and ticks.
 * (Well-formedness is checked by a real XML parser in tests/integration.) */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pw_plot.h"
#include "pw_svg.h"
#include "pw_test.h"

/* Occurrences of needle in hay. */
static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* Curve rows for layers x steps, distance = 0.8 / (1 + layer) at step 0,
 * shrinking with the step; layer 1 misses step 200. */
static pw_curve_row *rows_for(const char *const *names, size_t nl, size_t ns, size_t *n)
{
    pw_curve_row *rows = calloc(nl * ns, sizeof *rows);
    size_t k = 0;
    for (size_t l = 0; l < nl; l++)
        for (size_t s = 0; s < ns; s++) {
            if (l == 1 && s == 2)
                continue;
            pw_curve_row *r = &rows[k++];
            r->run = "run";
            r->layer = strdup(names[l]);
            r->depth = (int)l;
            r->step = (int64_t)s * 100;
            snprintf(r->ref, sizeof r->ref, "final");
            r->distance = l == 2 && s == 1 ? NAN : 0.8 / (1.0 + (double)s) / (1.0 + (double)l);
            r->status = strdup("ok");
            for (unsigned m = 0; m < PW_METRIC_COUNT; m++)
                r->se[m] = NAN; /* no standard errors, as a run without noise */
        }
    *n = k;
    return rows;
}

static char *render(const pw_plot *p, int lines)
{
    pw_err err = {""};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    if (lines)
        PW_ASSERT_OK(pw_svg_lines(f, p, &err), &err);
    else
        PW_ASSERT_OK(pw_svg_heatmap(f, p, &err), &err);
    fclose(f);
    return buf;
}

START_TEST(grid_from_curve_rows)
{
    pw_err err = {""};
    const char *names[] = {"conv1", "conv2", "fc"};
    size_t n;
    pw_curve_row *rows = rows_for(names, 3, 5, &n);
    pw_plot p;
    PW_ASSERT_OK(pw_plot_from_curve(rows, n, &p, &err), &err);
    ck_assert_uint_eq(p.nlayers, 3);
    ck_assert_uint_eq(p.nsteps, 5);
    ck_assert_str_eq(p.layers[0], "conv1");
    ck_assert_int_eq(p.steps[4], 400);
    PW_ASSERT_NEAR(p.values[0], 0.8, 0);
    ck_assert(isnan(p.values[1 * 5 + 2])); /* the row that was never written */
    ck_assert(isnan(p.values[2 * 5 + 1])); /* the NULL distance */
    PW_ASSERT_NEAR(p.vmax, 0.8, 1e-15);
    ck_assert(p.marks[0] == PW_PLOT_NO_MARK);
    pw_plot_free(&p);
    pw_query_curve_free(rows, n);

    PW_ASSERT_FAILS_WITH(pw_plot_from_curve(NULL, 0, &p, &err), &err, "nothing to plot");
}
END_TEST

START_TEST(heatmap_has_a_cell_per_layer_and_step)
{
    pw_err err = {""};
    const char *names[] = {"bottom", "middle", "top"};
    size_t n;
    pw_curve_row *rows = rows_for(names, 3, 5, &n);
    pw_plot p;
    PW_ASSERT_OK(pw_plot_from_curve(rows, n, &p, &err), &err);
    p.title = "run: distance";
    p.mark_label = "settled";
    p.marks[0] = 200;
    p.marks[2] = 400;
    p.threshold = 0.05;
    char *svg = render(&p, 0);
    ck_assert_uint_eq(count(svg, "<rect class=\"cell"), 15);
    ck_assert_uint_eq(count(svg, "class=\"cell nodata\""), 2);
    ck_assert_uint_eq(count(svg, "class=\"mark\""), 2 + 1); /* two rows and the key */
    ck_assert_ptr_nonnull(strstr(svg, "<title>run: distance</title>"));
    ck_assert_ptr_nonnull(strstr(svg, "class=\"threshold\""));
    ck_assert(strncmp(svg, "<?xml", 5) == 0);
    ck_assert_ptr_nonnull(strstr(svg, "</svg>\n"));

    /* The bottom layer's label sits lower on the page (larger y) than the top one's. */
    const char *lb = strstr(svg, ">bottom</text>"), *lt = strstr(svg, ">top</text>");
    ck_assert_ptr_nonnull(lb);
    ck_assert_ptr_nonnull(lt);
    double yb = 0, yt = 0;
    const char *q = lb;
    while (q > svg && strncmp(q, " y=\"", 4) != 0)
        q--;
    yb = atof(q + 4);
    q = lt;
    while (q > svg && strncmp(q, " y=\"", 4) != 0)
        q--;
    yt = atof(q + 4);
    ck_assert_msg(yb > yt, "bottom label at y=%g, top at y=%g", yb, yt);
    free(svg);
    pw_plot_free(&p);
    pw_query_curve_free(rows, n);
}
END_TEST

START_TEST(lines_have_a_series_per_layer)
{
    pw_err err = {""};
    const char *names[] = {"a", "b", "c", "d"};
    size_t n;
    pw_curve_row *rows = rows_for(names, 4, 6, &n);
    pw_plot p;
    PW_ASSERT_OK(pw_plot_from_curve(rows, n, &p, &err), &err);
    char *svg = render(&p, 1);
    ck_assert_uint_eq(count(svg, "<g class=\"series\""), 4);
    ck_assert_uint_eq(count(svg, "<path d=\"M"), 4);
    /* Layer b misses step 200 and c has a NULL at 100: their lines break, so
     * a and d move the pen once, b and c twice. */
    size_t moves = 0;
    for (const char *c = svg; *c; c++)
        moves += c[0] == 'M' && c[1] >= '0' && c[1] <= '9';
    ck_assert_uint_eq(moves, 6);
    /* The legend lists the top layer first. */
    const char *ld = strstr(svg, ">d</text>"), *la = strstr(svg, ">a</text>");
    ck_assert(ld && la && ld < la);
    free(svg);
    pw_plot_free(&p);
    pw_query_curve_free(rows, n);
}
END_TEST

START_TEST(many_layers_get_a_depth_bar_instead_of_a_legend)
{
    pw_err err = {""};
    char names[20][48];
    const char *ptrs[20];
    for (int i = 0; i < 20; i++) {
        snprintf(names[i], sizeof names[i], "model.layers.%d.mlp.down_proj_long", i);
        ptrs[i] = names[i];
    }
    size_t n;
    pw_curve_row *rows = rows_for(ptrs, 20, 3, &n);
    pw_plot p;
    PW_ASSERT_OK(pw_plot_from_curve(rows, n, &p, &err), &err);
    char *svg = render(&p, 1);
    ck_assert_uint_eq(count(svg, "<g class=\"series\""), 20);
    ck_assert_uint_eq(count(svg, "class=\"legend\""), 0);
    ck_assert_uint_eq(count(svg, "class=\"depth-bar\""), 1);
    ck_assert_ptr_nonnull(strstr(svg, "bottom: model.layers.0.m"));
    ck_assert_ptr_nonnull(strstr(svg, "top: model.layers.19"));
    free(svg);
    /* Heatmap labels longer than 32 characters lose their middle, not their end. */
    svg = render(&p, 0);
    ck_assert_ptr_nonnull(strstr(svg, ">model.layers.1.m&#x2026;.down_proj_long</text>"));
    free(svg);
    pw_plot_free(&p);
    pw_query_curve_free(rows, n);
}
END_TEST

START_TEST(names_are_escaped_and_sanitised)
{
    pw_err err = {""};
    /* Markup, quotes, a control character and a lone continuation byte. */
    const char *names[] = {"<script>&\"x\"", "bad\x01\x80name", "caf\xc3\xa9"};
    size_t n;
    pw_curve_row *rows = rows_for(names, 3, 3, &n);
    pw_plot p;
    PW_ASSERT_OK(pw_plot_from_curve(rows, n, &p, &err), &err);
    p.title = "a < b & c";
    for (int lines = 0; lines < 2; lines++) {
        char *svg = render(&p, lines);
        ck_assert_ptr_null(strstr(svg, "<script"));
        ck_assert_ptr_nonnull(strstr(svg, "&lt;script&gt;&amp;&quot;x&quot;"));
        ck_assert_ptr_nonnull(strstr(svg, "bad&#xFFFD;&#xFFFD;name"));
        ck_assert_ptr_nonnull(strstr(svg, "caf&#xE9;"));
        ck_assert_ptr_nonnull(strstr(svg, "a &lt; b &amp; c"));
        for (const char *c = svg; *c; c++)
            ck_assert_msg((unsigned char)*c < 0x80 && ((unsigned char)*c >= 0x20 || *c == '\n'),
                          "raw byte 0x%02x in the SVG", (unsigned char)*c);
        free(svg);
    }
    pw_plot_free(&p);
    pw_query_curve_free(rows, n);
}
END_TEST

START_TEST(long_names_are_cut_with_an_ellipsis)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    pw_svg_escape(f, "abcdefghij", 5);
    fputc('|', f);
    pw_svg_escape(f, "abcde", 5);
    fclose(f);
    ck_assert_str_eq(buf, "abcd&#x2026;|abcde");
    free(buf);
}
END_TEST

START_TEST(utf8_decoding_rejects_malformed_input)
{
    uint32_t c;
    ck_assert_uint_eq(pw_plot_utf8_next("A", &c), 1);
    ck_assert_uint_eq(c, 'A');
    ck_assert_uint_eq(pw_plot_utf8_next("\xc3\xa9", &c), 2);
    ck_assert_uint_eq(c, 0xE9);
    ck_assert_uint_eq(pw_plot_utf8_next("\xe2\x89\xa4", &c), 3);
    ck_assert_uint_eq(c, 0x2264);
    ck_assert_uint_eq(pw_plot_utf8_next("\xf0\x9f\x99\x82", &c), 4);
    ck_assert_uint_eq(c, 0x1F642);
    /* Overlong, surrogate, truncated, stray continuation: one byte, U+FFFD. */
    const char *bad[] = {"\xc0\x80", "\xed\xa0\x80", "\xe2\x89", "\x80", "\xf5\x80\x80\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_uint_eq(pw_plot_utf8_next(bad[i], &c), 1);
        ck_assert_uint_eq(c, 0xFFFD);
    }
    ck_assert_uint_eq(pw_plot_utf8_len("caf\xc3\xa9\x80"), 5);
}
END_TEST

START_TEST(colour_scale_and_ticks)
{
    pw_plot p;
    memset(&p, 0, sizeof p);
    p.vmax = 0.8;
    PW_ASSERT_NEAR(pw_plot_scale(&p, 0), 0, 0);
    PW_ASSERT_NEAR(pw_plot_scale(&p, 0.2), 0.5, 1e-15); /* sqrt(0.2 / 0.8) */
    PW_ASSERT_NEAR(pw_plot_scale(&p, 5), 1, 0);
    PW_ASSERT_NEAR(pw_plot_scale(&p, NAN), 0, 0);
    PW_ASSERT_NEAR(pw_plot_unscale(&p, 0.5), 0.2, 1e-15);
    unsigned char lo[3], hi[3];
    pw_plot_color(0, lo);
    pw_plot_color(1, hi);
    ck_assert(lo[0] == 0x44 && lo[1] == 0x01 && lo[2] == 0x54); /* viridis ends */
    ck_assert(hi[0] == 0xfd && hi[1] == 0xe7 && hi[2] == 0x25);

    double t[16];
    ck_assert_uint_eq(pw_plot_ticks(0, 1900, 8, t, 16), 4); /* step 500: 0 500 1000 1500 */
    PW_ASSERT_NEAR(t[3], 1500, 0);
    ck_assert_uint_eq(pw_plot_ticks(0, 1, 6, t, 16), 6); /* step 0.2 */
    PW_ASSERT_NEAR(t[5], 1, 1e-12);
    PW_ASSERT_NEAR(pw_plot_nice_max(0.83), 1, 0);
    PW_ASSERT_NEAR(pw_plot_nice_max(0.8), 0.8, 0);
    PW_ASSERT_NEAR(pw_plot_nice_max(0.031), 0.04, 1e-15);
    PW_ASSERT_NEAR(pw_plot_nice_max(0), 1, 0);
}
END_TEST

/* A reduced layer says so in the legend and row labels; an exact one does not. */
START_TEST(reduced_layers_are_named_with_their_reduction)
{
    pw_err err = {""};
    const char *names[] = {"conv1", "wide", "mixed"};
    size_t n;
    pw_curve_row *rows = rows_for(names, 3, 4, &n);
    for (size_t i = 0; i < n; i++) {
        const char *r = "none";
        if (strcmp(rows[i].layer, "wide") == 0)
            r = "dims:102";
        else if (strcmp(rows[i].layer, "mixed") == 0)
            r = rows[i].step < 200 ? "dims:6" : "var:0.99";
        snprintf(rows[i].reduce, sizeof rows[i].reduce, "%s", r);
    }
    rows[0].reduce[0] = '\0'; /* read before the column existed: exact */
    pw_plot p;
    PW_ASSERT_OK(pw_plot_from_curve(rows, n, &p, &err), &err);
    ck_assert_str_eq(p.reduce[0], "");
    ck_assert_str_eq(p.reduce[1], "dims:102");
    /* Step 100 of "mixed" has no distance: its reduction is not one its values used. */
    ck_assert_str_eq(p.reduce[2], "dims:6, var:0.99");
    ck_assert_str_eq(p.layers[1], "wide"); /* still matched by name until relabelled */
    PW_ASSERT_OK(pw_plot_label_reduced(&p, &err), &err);
    ck_assert_str_eq(p.layers[0], "conv1");
    ck_assert_str_eq(p.layers[1], "wide (dims:102)");
    ck_assert_str_eq(p.layers[2], "mixed (dims:6, var:0.99)");
    char *svg = render(&p, 1);
    ck_assert_uint_ge(count(svg, "wide (dims:102)"), 1);
    ck_assert_uint_eq(count(svg, "conv1 ("), 0);
    free(svg);
    pw_plot_free(&p);
    pw_query_curve_free(rows, n);
}
END_TEST

START_TEST(standard_errors_are_drawn_as_bands_and_bars)
{
    pw_err err = {""};
    const char *names[] = {"conv1", "conv2"};
    size_t n;
    pw_curve_row *rows = rows_for(names, 2, 5, &n);
    pw_plot p;
    /* Without SEs: no band, no key. */
    PW_ASSERT_OK(pw_plot_from_curve(rows, n, &p, &err), &err);
    ck_assert_ptr_null(p.se);
    char *svg = render(&p, 1);
    ck_assert_uint_eq(count(svg, "se-band"), 0);
    ck_assert_uint_eq(count(svg, "standard error"), 0);
    free(svg);
    pw_plot_free(&p);
    /* conv1 has SEs at steps 0-200 (a band) and 400 (alone: a bar); conv2 none. */
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].layer, "conv1") == 0 && rows[i].step != 300)
            rows[i].se[PW_METRIC_DISTANCE] = 0.01;
    PW_ASSERT_OK(pw_plot_from_curve(rows, n, &p, &err), &err);
    ck_assert_ptr_nonnull(p.se);
    PW_ASSERT_NEAR(p.se[0 * 5 + 1], 0.01, 0);
    ck_assert(isnan(p.se[0 * 5 + 3]) && isnan(p.se[1 * 5 + 0]));
    svg = render(&p, 1);
    ck_assert_uint_eq(count(svg, "class=\"se-band\""), 2);      /* a group per layer */
    ck_assert_uint_eq(count(svg, "Z\"/>"), 1);                  /* one closed band */
    ck_assert_uint_eq(count(svg, "stroke-opacity=\"0.8\""), 1); /* one bar */
    ck_assert_uint_eq(count(svg, "1 standard error (jackknife)"), 1);
    free(svg);
    pw_plot_free(&p);
    pw_query_curve_free(rows, n);
}
END_TEST

START_TEST(settle_ranges_are_bars_around_the_marks)
{
    pw_err err = {""};
    const char *names[] = {"conv1", "conv2"};
    size_t n;
    pw_curve_row *rows = rows_for(names, 2, 5, &n);
    pw_plot p;
    pw_plot_texts texts;
    /* Without SEs: marks, no ranges. */
    PW_ASSERT_OK(pw_plot_from_curve(rows, n, &p, &err), &err);
    pw_plot_distance_setup(&p, &texts, "run", 1, 400, NULL, 0, 0.32, "");
    ck_assert_ptr_null(p.range_lo);
    char *svg = render(&p, 1);
    ck_assert_uint_eq(count(svg, "settle-range"), 0);
    free(svg);
    pw_plot_free(&p);
    /* conv1 (0.8 0.4 0.267 0.2 before the final at 400) with SE 0.05, at 2 SE:
     * lower bounds 0.7 0.3 0.167 0.1 settle (<= 0.32) from 100, the points from
     * 200, upper bounds 0.9 0.5 0.367 0.3 from 300.  conv2 (0.4 0.2 - 0.1) has
     * no SE: its range is its point, 300 (after the gap at 200). */
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].layer, "conv1") == 0)
            rows[i].se[PW_METRIC_DISTANCE] = 0.05;
    PW_ASSERT_OK(pw_plot_from_curve(rows, n, &p, &err), &err);
    pw_plot_distance_setup(&p, &texts, "run", 1, 400, NULL, 0, 0.32, "");
    ck_assert_ptr_nonnull(p.range_lo);
    ck_assert_int_eq(p.marks[0], 200);
    ck_assert_int_eq(p.range_lo[0], 100);
    ck_assert_int_eq(p.range_hi[0], 300);
    ck_assert_int_eq(p.marks[1], 300);
    ck_assert(p.range_lo[1] == 300 && p.range_hi[1] == 300);
    svg = render(&p, 1);
    ck_assert_uint_eq(count(svg, "class=\"settle-range\""), 2);
    ck_assert_uint_eq(count(svg, "bar: settle range, &#xB1;2 SE"), 1);
    free(svg);
    svg = render(&p, 0);
    ck_assert_uint_eq(count(svg, "class=\"settle-range\""), 2);
    ck_assert_uint_eq(count(svg, "range-key"), 1);
    free(svg);
    /* Against the previous checkpoint there is no settling, so no range. */
    pw_plot_free(&p);
    PW_ASSERT_OK(pw_plot_from_curve(rows, n, &p, &err), &err);
    pw_plot_distance_setup(&p, &texts, "run", 0, 400, NULL, 0, 0.32, "");
    ck_assert_ptr_null(p.range_lo);
    pw_plot_free(&p);
    pw_query_curve_free(rows, n);
}
END_TEST

Suite *svg_suite(void)
{
    Suite *s = suite_create("svg");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, grid_from_curve_rows);
    tcase_add_test(tc, settle_ranges_are_bars_around_the_marks);
    tcase_add_test(tc, heatmap_has_a_cell_per_layer_and_step);
    tcase_add_test(tc, lines_have_a_series_per_layer);
    tcase_add_test(tc, many_layers_get_a_depth_bar_instead_of_a_legend);
    tcase_add_test(tc, names_are_escaped_and_sanitised);
    tcase_add_test(tc, long_names_are_cut_with_an_ellipsis);
    tcase_add_test(tc, utf8_decoding_rejects_malformed_input);
    tcase_add_test(tc, colour_scale_and_ticks);
    tcase_add_test(tc, reduced_layers_are_named_with_their_reduction);
    tcase_add_test(tc, standard_errors_are_drawn_as_bands_and_bars);
    suite_add_tcase(s, tc);
    return s;
}
