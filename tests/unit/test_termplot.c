/* test_termplot.c -- the terminal heatmap: top layer printed first, the ASCII
 * ramp and its ends, width respected, colour codes only in colour mode, and
 * nothing from a layer name reaching the terminal raw. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pw_plot.h"
#include "pw_termplot.h"
#include "pw_test.h"

/* A plot of nl layers x ns steps owning its arrays; value(l, s) fills it. */
static void make_plot(pw_plot *p, const char *const *names, size_t nl, size_t ns,
                      double (*value)(size_t, size_t))
{
    memset(p, 0, sizeof *p);
    p->threshold = NAN;
    p->nlayers = nl;
    p->nsteps = ns;
    p->layers = calloc(nl, sizeof *p->layers);
    p->depths = calloc(nl, sizeof *p->depths);
    p->marks = calloc(nl, sizeof *p->marks);
    p->steps = calloc(ns, sizeof *p->steps);
    p->values = calloc(nl * ns, sizeof *p->values);
    for (size_t l = 0; l < nl; l++) {
        p->layers[l] = strdup(names[l]);
        p->depths[l] = (int)l;
        p->marks[l] = PW_PLOT_NO_MARK;
        for (size_t s = 0; s < ns; s++)
            p->values[l * ns + s] = value(l, s);
    }
    for (size_t s = 0; s < ns; s++)
        p->steps[s] = (int64_t)s * 10;
    p->vmax = 1;
}

static char *draw(const pw_plot *p, int colour, int width)
{
    pw_err err = {""};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    PW_ASSERT_OK(pw_termplot_heatmap(f, p, colour, width, &err), &err);
    fclose(f);
    return buf;
}

/* The text of the line holding needle, up to its newline, in a static buffer. */
static const char *line_with(const char *text, const char *needle)
{
    static char line[4096];
    const char *hit = strstr(text, needle);
    ck_assert_msg(hit != NULL, "no line with '%s' in:\n%s", needle, text);
    const char *start = hit;
    while (start > text && start[-1] != '\n')
        start--;
    size_t n = strcspn(start, "\n");
    snprintf(line, sizeof line, "%.*s", (int)n, start);
    return line;
}

/* Layer 0 settles (0 from step 2 on), layer 1 stays at 1, layer 2 has no values. */
static double three_kinds(size_t l, size_t s)
{
    return l == 0 ? (s < 2 ? 1.0 : 0.0) : l == 1 ? 1.0 : NAN;
}

START_TEST(plain_rows_stack_top_first_with_the_ramp)
{
    const char *names[] = {"bottom", "middle", "top"};
    pw_plot p;
    make_plot(&p, names, 3, 4, three_kinds);
    p.title = "run: distance";
    p.mark_label = "settled";
    p.marks[0] = 20;
    char *out = draw(&p, 0, 80);
    const char *top = strstr(out, "   top |"), *mid = strstr(out, "middle |"),
               *bot = strstr(out, "bottom |");
    ck_assert_msg(top && mid && bot && top < mid && mid < bot, "rows out of order:\n%s", out);
    /* Four checkpoints in 80 columns: 4 characters each. */
    ck_assert_str_eq(line_with(out, "bottom |"), "bottom |@@@@@@@@        |  20");
    ck_assert_str_eq(line_with(out, "middle |"), "middle |@@@@@@@@@@@@@@@@|   -");
    ck_assert_str_eq(line_with(out, "   top |"), "   top |????????????????|   -");
    ck_assert_ptr_nonnull(strstr(out, "run: distance\n"));
    ck_assert_ptr_nonnull(strstr(out, "right column: settled"));
    ck_assert_ptr_null(strchr(out, '\x1b'));
    free(out);
    pw_plot_free(&p);
}
END_TEST

/* 0, 1/9 of the scale, ..., 1 across ten checkpoints. */
static double ramp(size_t l, size_t s)
{
    (void)l;
    double t = (double)s / 9.0;
    return t * t; /* the scale is sqrt(v / vmax), so v = t^2 lands on level t */
}

START_TEST(ramp_covers_every_level)
{
    const char *names[] = {"x"};
    pw_plot p;
    make_plot(&p, names, 1, 10, ramp);
    char *out = draw(&p, 0, 40);
    /* 10 checkpoints, 40 - 1 - 3 = 36 columns: 3 characters each. */
    ck_assert_str_eq(line_with(out, "x |"), "x |   ...:::---===+++***###%%%@@@|");
    free(out);
    pw_plot_free(&p);
}
END_TEST

static double constant(size_t l, size_t s)
{
    (void)s;
    return l ? 0.25 : 1.0;
}

START_TEST(many_checkpoints_fit_the_width)
{
    const char *names[] = {"a", "b"};
    pw_plot p;
    make_plot(&p, names, 2, 1000, constant);
    char *out = draw(&p, 0, 60);
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
        ck_assert_msg(strlen(line) <= 60, "line of %zu columns: %s", strlen(line), line);
    free(out);
    out = draw(&p, 0, 60);
    ck_assert_ptr_nonnull(strstr(out, "averaged"));
    ck_assert_ptr_nonnull(strstr(out, "9990")); /* the last step is labelled */
    free(out);
    pw_plot_free(&p);
}
END_TEST

START_TEST(colour_mode_uses_256_colours)
{
    const char *names[] = {"bottom", "middle", "top"};
    pw_plot p;
    make_plot(&p, names, 3, 4, three_kinds);
    char *out = draw(&p, 1, 80);
    ck_assert_ptr_nonnull(strstr(out, "\x1b[38;5;"));
    ck_assert_ptr_nonnull(strstr(out, "\xe2\x96\x88")); /* full block */
    ck_assert_ptr_nonnull(strstr(out, "\xe2\x96\x91")); /* light shade: no value */
    ck_assert_ptr_nonnull(strstr(out, "\x1b[0m"));
    ck_assert_ptr_null(strstr(out, "\x1b[38;2;"));
    free(out);
    /* 24-bit mode: the exact viridis ends (value 1 is yellow #fde725). */
    out = draw(&p, PW_TERMPLOT_TRUECOLOR, 80);
    ck_assert_ptr_nonnull(strstr(out, "\x1b[38;2;253;231;37m"));
    free(out);
    pw_plot_free(&p);

    unsigned char black[3] = {0, 0, 0}, white[3] = {255, 255, 255}, grey[3] = {128, 128, 128},
                  red[3] = {255, 0, 0};
    ck_assert_int_eq(pw_termplot_ansi256(black), 16);
    ck_assert_int_eq(pw_termplot_ansi256(white), 231);
    ck_assert_int_eq(pw_termplot_ansi256(grey), 244);
    ck_assert_int_eq(pw_termplot_ansi256(red), 196);
}
END_TEST

START_TEST(names_cannot_drive_the_terminal)
{
    const char *names[] = {"evil\x1b[2Jname", "caf\xc3\xa9", "a-very-long-layer-name-that-goes-on"};
    pw_plot p;
    make_plot(&p, names, 3, 2, constant);
    p.title = "title with \x1b]0;x\x07 escape";
    for (int colour = 0; colour < 2; colour++) {
        char *out = draw(&p, colour, 80);
        ck_assert_ptr_null(strstr(out, "\x1b[2J"));
        ck_assert_ptr_null(strstr(out, "\x1b]"));
        ck_assert_ptr_nonnull(strstr(out, "evil?[2Jname"));
        if (colour) {
            ck_assert_ptr_nonnull(strstr(out, "caf\xc3\xa9"));
            ck_assert_ptr_nonnull(strstr(out, "a-very-long-layer-name-\xe2\x80\xa6"));
        } else {
            ck_assert_ptr_nonnull(strstr(out, "caf?"));
            ck_assert_ptr_nonnull(strstr(out, "a-very-long-layer-name-~"));
            for (const char *c = out; *c; c++)
                ck_assert_msg((unsigned char)*c < 0x80, "non-ASCII byte in plain output");
        }
        free(out);
    }
    pw_plot_free(&p);
}
END_TEST

Suite *termplot_suite(void)
{
    Suite *s = suite_create("termplot");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, plain_rows_stack_top_first_with_the_ramp);
    tcase_add_test(tc, ramp_covers_every_level);
    tcase_add_test(tc, many_checkpoints_fit_the_width);
    tcase_add_test(tc, colour_mode_uses_256_colours);
    tcase_add_test(tc, names_cannot_drive_the_terminal);
    suite_add_tcase(s, tc);
    return s;
}
