/* test_convergence.c -- settle steps, ranks, Spearman's rho and the bottom-up
 * verdict against values worked out by hand (the arithmetic is in the comments). */
#include <check.h>
#include <math.h>
#include <string.h>

#include "pw_convergence.h"
#include "pw_test.h"

#define NPTS(a) (sizeof(a) / sizeof((a)[0]))

START_TEST(settle_step_is_where_the_tail_stays_below_tau)
{
    /* 0.06 at step 300 breaks the tail, so the layer settles at 400. */
    const pw_conv_point pts[] = {{0, 0.5},    {100, 0.2},  {200, 0.04},
                                 {300, 0.06}, {400, 0.03}, {500, 0.01}};
    int64_t step = -1;
    ck_assert_int_eq(pw_conv_settle_step(pts, NPTS(pts), 0.05, &step), 1);
    ck_assert_int_eq(step, 400);
    /* With tau 0.06 the 0.06 itself is within (<=), back to 200. */
    ck_assert_int_eq(pw_conv_settle_step(pts, NPTS(pts), 0.06, &step), 1);
    ck_assert_int_eq(step, 200);
    /* tau 1: settled from the first checkpoint. */
    ck_assert_int_eq(pw_conv_settle_step(pts, NPTS(pts), 1.0, &step), 1);
    ck_assert_int_eq(step, 0);
    /* Above tau at the newest checkpoint: not settled. */
    ck_assert_int_eq(pw_conv_settle_step(pts, NPTS(pts), 0.005, &step), 0);
    ck_assert_int_eq(pw_conv_settle_step(pts, 0, 0.05, &step), 0);
}
END_TEST

START_TEST(an_unknown_distance_breaks_the_tail)
{
    const pw_conv_point pts[] = {{0, 0.01}, {100, 0.01}, {200, NAN}, {300, 0.01}, {400, 0.0}};
    int64_t step = -1;
    ck_assert_int_eq(pw_conv_settle_step(pts, NPTS(pts), 0.05, &step), 1);
    ck_assert_int_eq(step, 300);
    const pw_conv_point last_unknown[] = {{0, 0.01}, {100, NAN}};
    ck_assert_int_eq(pw_conv_settle_step(last_unknown, 2, 0.05, &step), 0);
}
END_TEST

START_TEST(ties_share_the_average_rank)
{
    pw_err err = {""};
    const double v[] = {10, 20, 20, 30};
    double r[4];
    PW_ASSERT_OK(pw_conv_ranks(v, 4, r, &err), &err);
    PW_ASSERT_NEAR(r[0], 1, 0);
    PW_ASSERT_NEAR(r[1], 2.5, 0);
    PW_ASSERT_NEAR(r[2], 2.5, 0);
    PW_ASSERT_NEAR(r[3], 4, 0);
    /* Unsorted, with a triple tie: 5 5 5 take ranks 2..4, mean 3. */
    const double w[] = {5, 9, 5, 1, 5};
    double s[5];
    PW_ASSERT_OK(pw_conv_ranks(w, 5, s, &err), &err);
    const double want[] = {3, 5, 3, 1, 3};
    for (int i = 0; i < 5; i++)
        PW_ASSERT_NEAR(s[i], want[i], 0);
}
END_TEST

START_TEST(spearman_matches_hand_values)
{
    pw_err err = {""};
    double rho;
    const double x[] = {0, 1, 2, 3, 4};
    /* Ranks of y: 2 1 4 3 5; d = -1 1 -1 1 0; sum d^2 = 4; rho = 1 - 6*4/(5*24) = 0.8. */
    const double y[] = {20, 10, 40, 30, 50};
    PW_ASSERT_OK(pw_conv_spearman(x, y, 5, &rho, &err), &err);
    PW_ASSERT_NEAR(rho, 0.8, 1e-15);
    /* Monotone but not linear: rank correlation is exactly 1, and -1 reversed. */
    const double up[] = {1, 10, 100, 1000, 10000}, down[] = {5, 4, 3, 2, 1};
    PW_ASSERT_OK(pw_conv_spearman(x, up, 5, &rho, &err), &err);
    PW_ASSERT_NEAR(rho, 1, 1e-15);
    PW_ASSERT_OK(pw_conv_spearman(x, down, 5, &rho, &err), &err);
    PW_ASSERT_NEAR(rho, -1, 1e-15);
    /* Ties: ranks 1 2.5 2.5 4 against 1 2 3 4; deviations -1.5 0 0 1.5 and
     * -1.5 -.5 .5 1.5: rho = 4.5 / sqrt(4.5 * 5) = 3 / sqrt(10). */
    const double a[] = {1, 2, 3, 4}, b[] = {1, 2, 2, 3};
    PW_ASSERT_OK(pw_conv_spearman(a, b, 4, &rho, &err), &err);
    PW_ASSERT_NEAR(rho, 3 / sqrt(10), 1e-15);
}
END_TEST

START_TEST(spearman_is_undefined_without_variation)
{
    pw_err err = {""};
    double rho = 0;
    const double x[] = {0, 1, 2}, same[] = {7, 7, 7};
    PW_ASSERT_OK(pw_conv_spearman(x, same, 3, &rho, &err), &err);
    ck_assert(isnan(rho));
    PW_ASSERT_OK(pw_conv_spearman(x, x, 1, &rho, &err), &err);
    ck_assert(isnan(rho));
}
END_TEST

/* Four layers; settle steps come from one distance profile shifted per layer. */
static void profile(pw_conv_point *pts, int64_t settle)
{
    for (int i = 0; i < 10; i++) {
        pts[i].step = 100 * i;
        pts[i].distance = pts[i].step >= settle ? 0.01 : 0.5;
    }
}

START_TEST(bottom_up_run_is_recognised)
{
    pw_err err = {""};
    pw_conv_point p0[10], p1[10], p2[10], p3[10];
    profile(p0, 200);
    profile(p1, 400);
    profile(p2, 10000); /* never settles */
    for (int i = 0; i < 10; i++)
        p3[i] = (pw_conv_point){100 * i, NAN}; /* no distance at all */
    const pw_conv_layer in[] = {{"a", 0, p0, 10, NULL},
                                {"b", 1, p1, 10, NULL},
                                {"c", 2, p2, 10, NULL},
                                {"d", 3, p3, 10, NULL}};
    pw_conv_summary s;
    PW_ASSERT_OK(pw_conv_analyze(in, 4, 0.05, &s, &err), &err);
    ck_assert_int_eq(s.layers[0].settle_step, 200);
    ck_assert_int_eq(s.layers[1].settle_step, 400);
    ck_assert(!s.layers[2].settled && s.layers[2].has_data);
    ck_assert(!s.layers[3].has_data);
    ck_assert_uint_eq(s.nsettled, 2);
    /* d has no data and is left out; c ranks last: x = 0 1 2, y = 200 400 401. */
    ck_assert_uint_eq(s.norder, 3);
    ck_assert_uint_eq(s.order[0], 0);
    ck_assert_uint_eq(s.order[1], 1);
    ck_assert_uint_eq(s.order[2], 2);
    PW_ASSERT_NEAR(s.rho, 1, 1e-15);
    ck_assert_int_eq(s.verdict, PW_CONV_BOTTOM_UP);
    ck_assert_str_eq(pw_conv_verdict_name(s.verdict), "bottom-up");
    ck_assert(s.monotone);
    PW_ASSERT_NEAR(s.layers[0].last_distance, 0.01, 0);
    ck_assert(isnan(s.layers[3].last_distance));
    pw_conv_summary_free(&s);
}
END_TEST

START_TEST(bounds_and_unknowns_are_left_out_of_rho)
{
    pw_err err = {""};
    /* a: settles at 300 for real (200 is above tau).  b: a step without a
     * distance at 200, so 300 is only a bound.  c: its newest point has no
     * distance.  d: never measured.  e: settles at 400 for real. */
    const pw_conv_point a[] = {{100, 0.5}, {200, 0.5}, {300, 0.01}, {400, 0.01}};
    const pw_conv_point b[] = {{100, 0.5}, {200, NAN}, {300, 0.01}, {400, 0.01}};
    const pw_conv_point c[] = {{100, 0.5}, {200, 0.01}, {300, 0.01}, {400, NAN}};
    const pw_conv_point d[] = {{100, NAN}, {200, NAN}, {300, NAN}, {400, NAN}};
    const pw_conv_point e[] = {{100, 0.5}, {200, 0.5}, {300, 0.5}, {400, 0.01}};
    const pw_conv_layer in[] = {{"a", 0, a, 4, NULL},
                                {"b", 1, b, 4, NULL},
                                {"c", 2, c, 4, NULL},
                                {"d", 3, d, 4, NULL},
                                {"e", 4, e, 4, NULL}};
    pw_conv_summary s;
    PW_ASSERT_OK(pw_conv_analyze(in, 5, 0.05, &s, &err), &err);
    ck_assert(s.layers[0].settled && !s.layers[0].bounded && s.layers[0].ranked);
    ck_assert(s.layers[1].settled && s.layers[1].bounded && !s.layers[1].ranked);
    ck_assert_int_eq(s.layers[1].settle_step, 300);
    ck_assert_int_eq(s.layers[1].gap_step, 200);
    ck_assert_uint_eq(s.layers[1].npoints, 3);
    ck_assert(!s.layers[2].settled && s.layers[2].unknown_now && !s.layers[2].ranked);
    ck_assert_int_eq(s.layers[2].gap_step, 400);
    ck_assert(!s.layers[3].has_data && !s.layers[3].ranked);
    ck_assert_uint_eq(s.layers[3].npoints, 0);
    ck_assert(s.layers[4].ranked && s.layers[4].settle_step == 400);
    ck_assert_uint_eq(s.nunmeasured, 1);
    ck_assert_uint_eq(s.nleft_out, 2);
    ck_assert_uint_eq(s.nsettled, 3);
    /* Only a (300) and e (400) are ranked: rho = 1 over two layers. */
    ck_assert_uint_eq(s.norder, 2);
    ck_assert_uint_eq(s.order[0], 0);
    ck_assert_uint_eq(s.order[1], 4);
    PW_ASSERT_NEAR(s.rho, 1, 1e-15);
    pw_conv_summary_free(&s);

    /* Every layer bounded by the same gap (the probe set changed): no verdict. */
    const pw_conv_layer gap[] = {
        {"b", 0, b, 4, NULL}, {"b2", 1, b, 4, NULL}, {"b3", 2, b, 4, NULL}};
    PW_ASSERT_OK(pw_conv_analyze(gap, 3, 0.05, &s, &err), &err);
    ck_assert_uint_eq(s.norder, 0);
    ck_assert_uint_eq(s.nleft_out, 3);
    ck_assert(isnan(s.rho));
    ck_assert_int_eq(s.verdict, PW_CONV_UNDETERMINED);
    pw_conv_summary_free(&s);
}
END_TEST

/* Analyse four layers at depths 0..3 that settle at the given steps. */
static void analyse4(const int64_t settle[4], pw_conv_summary *s)
{
    pw_err err = {""};
    static pw_conv_point pts[4][10];
    pw_conv_layer in[4];
    for (int l = 0; l < 4; l++) {
        profile(pts[l], settle[l]);
        in[l] = (pw_conv_layer){"layer", l, pts[l], 10, NULL};
    }
    PW_ASSERT_OK(pw_conv_analyze(in, 4, 0.05, s, &err), &err);
}

START_TEST(verdicts_follow_rho)
{
    pw_conv_summary s;
    /* Top layers first: rho = -1. */
    analyse4((const int64_t[]){400, 300, 200, 100}, &s);
    PW_ASSERT_NEAR(s.rho, -1, 1e-15);
    ck_assert_int_eq(s.verdict, PW_CONV_TOP_DOWN);
    ck_assert(!s.monotone);
    ck_assert_uint_eq(s.order[0], 3);
    pw_conv_summary_free(&s);
    /* Ranks 2 1 3 4: sum d^2 = 2, rho = 1 - 12/60 = 0.8, bottom-up but not monotone. */
    analyse4((const int64_t[]){200, 100, 300, 400}, &s);
    PW_ASSERT_NEAR(s.rho, 0.8, 1e-15);
    ck_assert_int_eq(s.verdict, PW_CONV_BOTTOM_UP);
    ck_assert(!s.monotone);
    pw_conv_summary_free(&s);
    /* Ranks 3 1 4 2: d = -2 1 -1 2, sum d^2 = 10, rho = 1 - 60/60 = 0: mixed. */
    analyse4((const int64_t[]){300, 100, 400, 200}, &s);
    PW_ASSERT_NEAR(s.rho, 0, 1e-15);
    ck_assert_int_eq(s.verdict, PW_CONV_MIXED);
    pw_conv_summary_free(&s);
    /* All at once: no ordering to speak of. */
    analyse4((const int64_t[]){300, 300, 300, 300}, &s);
    ck_assert(isnan(s.rho));
    ck_assert_int_eq(s.verdict, PW_CONV_UNDETERMINED);
    ck_assert(s.monotone);
    pw_conv_summary_free(&s);
}
END_TEST

START_TEST(equal_steps_order_by_depth)
{
    pw_conv_summary s;
    /* Depths 2 and 3 settle together at 100; ties in the order go bottom first. */
    analyse4((const int64_t[]){500, 300, 100, 100}, &s);
    ck_assert_uint_eq(s.order[0], 2);
    ck_assert_uint_eq(s.order[1], 3);
    ck_assert_uint_eq(s.order[2], 1);
    ck_assert_uint_eq(s.order[3], 0);
    /* x ranks 1 2 3 4, y ranks 4 3 1.5 1.5: rho = -4.5 / sqrt(5 * 4.5) = -3/sqrt(10). */
    PW_ASSERT_NEAR(s.rho, -3 / sqrt(10), 1e-15);
    pw_conv_summary_free(&s);
}
END_TEST

START_TEST(bad_tau_is_refused)
{
    pw_err err = {""};
    pw_conv_summary s;
    PW_ASSERT_FAILS_WITH(pw_conv_analyze(NULL, 0, -0.1, &s, &err), &err, "tau");
    PW_ASSERT_FAILS_WITH(pw_conv_analyze(NULL, 0, NAN, &s, &err), &err, "tau");
    PW_ASSERT_OK(pw_conv_analyze(NULL, 0, 0.05, &s, &err), &err);
    ck_assert_uint_eq(s.norder, 0);
    ck_assert_int_eq(s.verdict, PW_CONV_UNDETERMINED);
    pw_conv_summary_free(&s);
}
END_TEST

/* Noise: settle ranges and the verdict on the pairs they tell apart --------------------- */

START_TEST(settle_interval_brackets_the_settle_step)
{
    /* tau 0.05, z 2, SE 0.01 (margin 0.02).  Lower bounds 0.48 0.18 0.04 0.02
     * 0.005 -0.01: <= tau from 200.  Points: 0.06 at 200 is above, so 300.
     * Upper bounds 0.52 0.22 0.08 0.06 0.045 0.03: <= tau from 400. */
    const pw_conv_point pts[] = {{0, 0.5},    {100, 0.2},   {200, 0.06},
                                 {300, 0.04}, {400, 0.025}, {500, 0.01}};
    const double se[] = {0.01, 0.01, 0.01, 0.01, 0.01, 0.01};
    int has_lo, has_hi;
    int64_t lo = -1, hi = -1, step = -1;
    ck_assert_int_eq(pw_conv_settle_step(pts, NPTS(pts), 0.05, &step), 1);
    ck_assert_int_eq(step, 300);
    pw_conv_settle_interval(pts, se, NPTS(pts), 0.05, 2, &has_lo, &lo, &has_hi, &hi);
    ck_assert(has_lo && has_hi);
    ck_assert_int_eq(lo, 200);
    ck_assert_int_eq(hi, 400);
    /* z = 0 and no SEs at all: the interval is the point. */
    pw_conv_settle_interval(pts, se, NPTS(pts), 0.05, 0, &has_lo, &lo, &has_hi, &hi);
    ck_assert(has_lo && has_hi && lo == 300 && hi == 300);
    pw_conv_settle_interval(pts, NULL, NPTS(pts), 0.05, 2, &has_lo, &lo, &has_hi, &hi);
    ck_assert(has_lo && has_hi && lo == 300 && hi == 300);

    /* One SE at step 100 is carried to every later checkpoint: as above. */
    const double once[] = {NAN, 0.01, NAN, NAN, NAN, NAN};
    pw_conv_settle_interval(pts, once, NPTS(pts), 0.05, 2, &has_lo, &lo, &has_hi, &hi);
    ck_assert(has_lo && has_hi && lo == 200 && hi == 400);
    /* The last SE is carried, not the first: margins 0.02 0.02 0.02 0.002 0.002
     * 0.002; upper bounds 0.52 0.22 0.08 0.042 0.027 0.012 settle from 300. */
    const double shrink[] = {0.01, NAN, NAN, 0.001, NAN, NAN};
    pw_conv_settle_interval(pts, shrink, NPTS(pts), 0.05, 2, &has_lo, &lo, &has_hi, &hi);
    ck_assert(has_lo && has_hi && lo == 200 && hi == 300);
    /* Before the layer's first SE the margin is 0: SE only from 400 gives lower
     * bounds 0.06 0.04 0.005 -0.01 (from 300) and upper 0.06 0.04 0.045 0.03 (from 300). */
    const double late[] = {NAN, NAN, NAN, NAN, 0.01, NAN};
    pw_conv_settle_interval(pts, late, NPTS(pts), 0.05, 2, &has_lo, &lo, &has_hi, &hi);
    ck_assert(has_lo && has_hi && lo == 300 && hi == 300);
    /* An SE beside an unknown distance is not carried (the stability rule's carry). */
    const pw_conv_point gap[] = {{0, 0.5}, {100, NAN}, {200, 0.04}, {300, 0.03}};
    const double gse[] = {NAN, 0.5, NAN, NAN};
    pw_conv_settle_interval(gap, gse, NPTS(gap), 0.05, 2, &has_lo, &lo, &has_hi, &hi);
    ck_assert(has_lo && has_hi && lo == 200 && hi == 200);

    /* Newest upper bound 0.04 + 0.02 above tau: could have settled from 200
     * (lower 0.04 0.02), may not have yet. */
    const pw_conv_point open[] = {{100, 0.5}, {200, 0.06}, {300, 0.04}};
    const double ose[] = {0.01, 0.01, 0.01};
    pw_conv_settle_interval(open, ose, NPTS(open), 0.05, 2, &has_lo, &lo, &has_hi, &hi);
    ck_assert(has_lo && !has_hi && lo == 200);
    /* Even the newest lower bound above tau: not settled within the noise either. */
    pw_conv_settle_interval(open, ose, NPTS(open), 0.01, 2, &has_lo, &lo, &has_hi, &hi);
    ck_assert(!has_lo && !has_hi);
}
END_TEST

/* A layer over steps 0..900 whose distance is 0.5 before lo, 0.06 from lo
 * and 0.01 from hi, SE 0.01: at tau 0.05 and z 2 its range is lo..hi and its
 * point settle step hi (0.06 > tau).  hi > 900: its upper bounds never settle. */
static void ranged(pw_conv_point pts[10], double se[10], int64_t lo, int64_t hi)
{
    for (int i = 0; i < 10; i++) {
        pts[i].step = 100 * i;
        pts[i].distance = pts[i].step >= hi ? 0.01 : pts[i].step >= lo ? 0.06 : 0.5;
        se[i] = 0.01;
    }
}

START_TEST(overlapping_ranges_are_within_the_noise)
{
    pw_err err = {""};
    pw_conv_point p[4][10];
    double se[4][10];
    /* a 100..200, b 200..400, c 500..600, d 300..300 at depths 0..3. */
    ranged(p[0], se[0], 100, 200);
    ranged(p[1], se[1], 200, 400);
    ranged(p[2], se[2], 500, 600);
    ranged(p[3], se[3], 300, 300);
    const pw_conv_layer in[] = {{"a", 0, p[0], 10, se[0]},
                                {"b", 1, p[1], 10, se[1]},
                                {"c", 2, p[2], 10, se[2]},
                                {"d", 3, p[3], 10, se[3]}};
    pw_conv_summary s;
    PW_ASSERT_OK(pw_conv_analyze_noise(in, 4, 0.05, 2, &s, &err), &err);
    ck_assert(s.noise);
    for (int i = 0; i < 4; i++)
        ck_assert(s.layers[i].has_se && s.layers[i].settled_lo && s.layers[i].settled_hi);
    ck_assert_int_eq(s.layers[1].settle_lo, 200);
    ck_assert_int_eq(s.layers[1].settle_hi, 400);
    ck_assert_int_eq(s.layers[1].settle_step, 400);
    /* a~b touch at 200 and b~d overlap: within the noise.  a<c, a<d, b<c in
     * bottom-up order, d before c against it: C = 3, D = 1, kappa = 0.5. */
    ck_assert_uint_eq(s.npairs, 6);
    ck_assert_uint_eq(s.nwithin, 2);
    ck_assert_uint_eq(s.within[0].a, 0);
    ck_assert_uint_eq(s.within[0].b, 1);
    ck_assert_uint_eq(s.within[1].a, 1);
    ck_assert_uint_eq(s.within[1].b, 3);
    ck_assert_uint_eq(s.ndistinct, 4);
    ck_assert_uint_eq(s.nconcordant, 3);
    PW_ASSERT_NEAR(s.kappa, 0.5, 1e-15);
    ck_assert_int_eq(s.verdict, PW_CONV_BOTTOM_UP);
    /* The point steps 200 400 600 300 alone (ranks 1 3 4 2) give rho = 0.4: mixed.
     * b's lead over d is within the noise, so it does not count. */
    PW_ASSERT_NEAR(s.rho, 0.4, 1e-15);
    pw_conv_summary_free(&s);

    /* Every range overlapping every other: nothing told apart, no verdict. */
    ranged(p[0], se[0], 100, 400);
    ranged(p[1], se[1], 200, 500);
    PW_ASSERT_OK(pw_conv_analyze_noise(in, 2, 0.05, 2, &s, &err), &err);
    ck_assert_uint_eq(s.npairs, 1);
    ck_assert_uint_eq(s.ndistinct, 0);
    ck_assert_uint_eq(s.nwithin, 1);
    ck_assert(isnan(s.kappa));
    ck_assert_int_eq(s.verdict, PW_CONV_UNDETERMINED);
    pw_conv_summary_free(&s);
    /* Without the noise the same points (400, 500) are a bottom-up order. */
    PW_ASSERT_OK(pw_conv_analyze(in, 2, 0.05, &s, &err), &err);
    ck_assert_int_eq(s.verdict, PW_CONV_BOTTOM_UP);
    pw_conv_summary_free(&s);
}
END_TEST

START_TEST(unsettled_ranges_run_past_the_newest_checkpoint)
{
    pw_err err = {""};
    pw_conv_point p[4][10];
    double se[4][10];
    /* a settles 100..200; b could have from 800 but its upper bound never
     * does (800..not yet); c and d never settle at all (0.5 throughout). */
    ranged(p[0], se[0], 100, 200);
    ranged(p[1], se[1], 800, 10000);
    ranged(p[2], se[2], 10000, 10000);
    ranged(p[3], se[3], 10000, 10000);
    const pw_conv_layer in[] = {{"a", 0, p[0], 10, se[0]},
                                {"b", 1, p[1], 10, se[1]},
                                {"c", 2, p[2], 10, se[2]},
                                {"d", 3, p[3], 10, se[3]}};
    pw_conv_summary s;
    PW_ASSERT_OK(pw_conv_analyze_noise(in, 4, 0.05, 2, &s, &err), &err);
    ck_assert(s.layers[1].settled_lo && !s.layers[1].settled_hi && !s.layers[1].settled);
    ck_assert_int_eq(s.layers[1].settle_lo, 800);
    ck_assert(!s.layers[2].settled_lo && !s.layers[2].settled_hi);
    /* a before b, c, d; b (800..) overlaps c and d (after 900); c~d both open. */
    ck_assert_uint_eq(s.npairs, 6);
    ck_assert_uint_eq(s.nconcordant, 3);
    ck_assert_uint_eq(s.ndistinct, 3);
    ck_assert_uint_eq(s.nwithin, 3);
    ck_assert(s.within[0].a == 1 && s.within[0].b == 2);
    ck_assert(s.within[1].a == 1 && s.within[1].b == 3);
    ck_assert(s.within[2].a == 2 && s.within[2].b == 3);
    PW_ASSERT_NEAR(s.kappa, 1, 1e-15);
    ck_assert_int_eq(s.verdict, PW_CONV_BOTTOM_UP);
    pw_conv_summary_free(&s);
}
END_TEST

START_TEST(missing_ses_carry_and_none_means_points)
{
    pw_err err = {""};
    pw_conv_point p[2][10];
    double se[2][10];
    /* a 100..200 and b 300..400 with an SE at step 0 only (noise every 20th):
     * the carried SE gives the same ranges, told apart. */
    ranged(p[0], se[0], 100, 200);
    ranged(p[1], se[1], 300, 400);
    for (int i = 1; i < 10; i++)
        se[0][i] = se[1][i] = NAN;
    const pw_conv_layer in[] = {{"a", 0, p[0], 10, se[0]}, {"b", 1, p[1], 10, se[1]}};
    pw_conv_summary s;
    PW_ASSERT_OK(pw_conv_analyze_noise(in, 2, 0.05, 2, &s, &err), &err);
    ck_assert(s.noise && s.layers[0].has_se);
    ck_assert(s.layers[0].settle_lo == 100 && s.layers[0].settle_hi == 200);
    ck_assert(s.layers[1].settle_lo == 300 && s.layers[1].settle_hi == 400);
    ck_assert_uint_eq(s.ndistinct, 1);
    ck_assert_uint_eq(s.nwithin, 0);
    ck_assert_int_eq(s.verdict, PW_CONV_BOTTOM_UP);
    pw_conv_summary_free(&s);

    /* No SE anywhere (noise = off): the point analysis, rho decides. */
    se[0][0] = se[1][0] = NAN;
    PW_ASSERT_OK(pw_conv_analyze_noise(in, 2, 0.05, 2, &s, &err), &err);
    ck_assert(!s.noise && !s.layers[0].has_se);
    ck_assert_uint_eq(s.npairs, 0);
    ck_assert_ptr_null(s.within);
    ck_assert(isnan(s.kappa));
    PW_ASSERT_NEAR(s.rho, 1, 1e-15);
    ck_assert_int_eq(s.verdict, PW_CONV_BOTTOM_UP);
    pw_conv_summary_free(&s);

    PW_ASSERT_FAILS_WITH(pw_conv_analyze_noise(in, 2, 0.05, -1, &s, &err), &err, "z");
    PW_ASSERT_FAILS_WITH(pw_conv_analyze_noise(in, 2, 0.05, NAN, &s, &err), &err, "z");
}
END_TEST

Suite *convergence_suite(void)
{
    Suite *s = suite_create("convergence");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, settle_step_is_where_the_tail_stays_below_tau);
    tcase_add_test(tc, an_unknown_distance_breaks_the_tail);
    tcase_add_test(tc, ties_share_the_average_rank);
    tcase_add_test(tc, spearman_matches_hand_values);
    tcase_add_test(tc, spearman_is_undefined_without_variation);
    tcase_add_test(tc, bottom_up_run_is_recognised);
    tcase_add_test(tc, bounds_and_unknowns_are_left_out_of_rho);
    tcase_add_test(tc, verdicts_follow_rho);
    tcase_add_test(tc, equal_steps_order_by_depth);
    tcase_add_test(tc, bad_tau_is_refused);
    tcase_add_test(tc, settle_interval_brackets_the_settle_step);
    tcase_add_test(tc, overlapping_ranges_are_within_the_noise);
    tcase_add_test(tc, unsettled_ranges_run_past_the_newest_checkpoint);
    tcase_add_test(tc, missing_ses_carry_and_none_means_points);
    suite_add_tcase(s, tc);
    return s;
}
