/* test_noise.c -- jackknife standard errors: the mode text, the blocks of
 * inputs, the leave-one-block-out sums against Grams recomputed without the
 * block, the SE of a mean against the textbook formula, and the calibration
 * the issue asks for: over many independent probes of one synthetic process,
 * the RMS of the jackknife SEs is within a factor 1.5 of the metric's actual
 * spread. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "pw_engine.h"
#include "pw_noise.h"
#include "pw_test.h"

/* A small deterministic generator: xorshift64* and Box-Muller. */
static uint64_t rng_state;

static double uniform(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static double normal(void)
{
    double u = uniform(), v = uniform();
    return sqrt(-2.0 * log(u > 0 ? u : 1e-300)) * cos(6.283185307179586 * v);
}

START_TEST(modes_round_trip_and_bad_ones_say_the_forms)
{
    const char *texts[] = {"off", "jackknife:10", "jackknife:2 every 4", "jackknife:1000 every 1",
                           "jackknife:10 every 20"};
    const char *canon[] = {"off", "jackknife:10", "jackknife:2 every 4", "jackknife:1000 every 1",
                           "jackknife:10"};
    for (size_t i = 0; i < 5; i++) {
        pw_noise_mode m, back;
        pw_err e;
        char buf[PW_NOISE_TEXT_MAX];
        PW_ASSERT_OK(pw_noise_parse(texts[i], &m, &e), &e);
        pw_noise_format(&m, buf, sizeof buf);
        ck_assert_str_eq(buf, canon[i]);
        PW_ASSERT_OK(pw_noise_parse(buf, &back, &e), &e);
        ck_assert_uint_eq(back.blocks, m.blocks);
        ck_assert_uint_eq(back.every, m.every);
    }
    pw_noise_mode m;
    pw_err e;
    PW_ASSERT_OK(pw_noise_parse("  jackknife:10   every  3 ", &m, &e), &e);
    ck_assert_uint_eq(m.blocks, 10);
    ck_assert_uint_eq(m.every, 3);
    PW_ASSERT_OK(pw_noise_parse("jackknife:10", &m, &e), &e);
    ck_assert_uint_eq(m.every, PW_NOISE_DEFAULT_EVERY);
    PW_ASSERT_OK(pw_noise_parse("jackknife:10 every 3", &m, &e), &e);
    ck_assert(pw_noise_due(&m, 0) && !pw_noise_due(&m, 1) && !pw_noise_due(&m, 2));
    ck_assert(pw_noise_due(&m, 3) && pw_noise_due(&m, 6));
    const char *bad[] = {"",
                         "on",
                         "jackknife",
                         "jackknife:",
                         "jackknife:1",
                         "jackknife:1001",
                         "jackknife:-3",
                         "jackknife:10x",
                         "jackknife:10 every",
                         "jackknife:10 every 0",
                         "jackknife:10 each 2",
                         "jackknife:10 every 2 more",
                         "off every 2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(pw_noise_parse(bad[i], &m, &e) != 0, "'%s' was accepted", bad[i]);
        ck_assert_msg(strstr(e.msg, "jackknife:B") != NULL, "'%s': %s", bad[i], e.msg);
    }
}
END_TEST

START_TEST(every_row_of_an_input_lies_in_one_block)
{
    /* Uneven N, several rows per input (a conv map's H*W, a sequence's T). */
    const uint64_t inputs[] = {10, 11, 37, 100, 7};
    const uint64_t rpi[] = {1, 4, 9, 3, 16};
    const unsigned counts[] = {10, 3, 10, 7, 7};
    for (size_t c = 0; c < 5; c++) {
        pw_blocks b;
        pw_err e;
        PW_ASSERT_OK(pw_blocks_init(&b, inputs[c] * rpi[c], inputs[c], counts[c], &e), &e);
        ck_assert_uint_eq(pw_blocks_first_row(&b, 0), 0);
        ck_assert_uint_eq(pw_blocks_first_row(&b, b.count), inputs[c] * rpi[c]);
        uint64_t smallest = UINT64_MAX, largest = 0;
        for (unsigned k = 0; k < b.count; k++) {
            uint64_t i0 = pw_blocks_first_input(&b, k), i1 = pw_blocks_first_input(&b, k + 1);
            ck_assert_uint_lt(i0, i1); /* no empty block */
            smallest = i1 - i0 < smallest ? i1 - i0 : smallest;
            largest = i1 - i0 > largest ? i1 - i0 : largest;
        }
        ck_assert_uint_le(largest - smallest, 1); /* as even as N allows */
        for (uint64_t row = 0; row < b.nrows; row++) {
            unsigned k = pw_blocks_of_row(&b, row);
            ck_assert_uint_ge(row, pw_blocks_first_row(&b, k));
            ck_assert_uint_lt(row, pw_blocks_first_row(&b, k + 1));
            /* Rows of one input share the block of its first row. */
            ck_assert_uint_eq(k, pw_blocks_of_row(&b, row / rpi[c] * rpi[c]));
        }
    }
    pw_blocks b;
    pw_err e;
    PW_ASSERT_FAILS_WITH(pw_blocks_init(&b, 9 * 4, 9, 10, &e), &e, "at least 10 probe inputs");
    PW_ASSERT_FAILS_WITH(pw_blocks_init(&b, 40, 9, 3, &e), &e, "whole number of rows");
    PW_ASSERT_FAILS_WITH(pw_blocks_init(&b, 40, 40, 1, &e), &e, "at least 2 blocks");
}
END_TEST

START_TEST(the_se_of_a_mean_is_the_textbook_one)
{
    /* One block per input: the jackknife SE of the mean is s / sqrt(n)
     * exactly; the leave-one-out means come from the block sums. */
    enum { N = 23 };
    double x[N], y[N];
    rng_state = 7;
    double mean = 0;
    for (int i = 0; i < N; i++) {
        x[i] = 1e6 + normal(); /* a large mean: the sums must not lose it */
        y[i] = normal();
        mean += x[i];
    }
    mean /= N;
    double ss = 0;
    for (int i = 0; i < N; i++)
        ss += (x[i] - mean) * (x[i] - mean);
    double textbook = sqrt(ss / (N - 1)) / sqrt((double)N);
    pw_rows rx = pw_rows_from_matrix(x, N, 1), ry = pw_rows_from_matrix(y, N, 1);
    pw_blocks b;
    pw_err e;
    PW_ASSERT_OK(pw_blocks_init(&b, N, N, N, &e), &e);
    pw_noise_sums s;
    pw_gram_bad bad;
    PW_ASSERT_OK(pw_noise_sums_pass(&s, &rx, &ry, &b, &bad, &e), &e);
    ck_assert_int_eq(bad.kind, PW_GRAM_GOOD);
    double theta[N], g[4], st[6];
    for (unsigned k = 0; k < N; k++) {
        ck_assert_uint_eq(pw_noise_sums_without(&s, k, g, st), N - 1);
        theta[k] = st[0];
    }
    double se = pw_jackknife_se(theta, N);
    ck_assert_msg(fabs(se - textbook) <= 1e-9 * textbook, "se %.17g textbook %.17g", se, textbook);
    pw_noise_sums_free(&s);
}
END_TEST

/* The centred stacked Gram of rows outside [r0, r1), upper triangle. */
static void direct_gram(const double *x, const double *y, size_t n, size_t p, size_t q, size_t r0,
                        size_t r1, double *g, double *mean)
{
    size_t ld = p + q, m = 0;
    memset(mean, 0, ld * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        if (i >= r0 && i < r1)
            continue;
        m++;
        for (size_t j = 0; j < ld; j++)
            mean[j] += j < p ? x[i * p + j] : y[i * q + j - p];
    }
    for (size_t j = 0; j < ld; j++)
        mean[j] /= (double)m;
    memset(g, 0, ld * ld * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        if (i >= r0 && i < r1)
            continue;
        for (size_t b = 0; b < ld; b++)
            for (size_t a = 0; a <= b; a++) {
                double va = a < p ? x[i * p + a] : y[i * q + a - p];
                double vb = b < p ? x[i * p + b] : y[i * q + b - p];
                g[b * ld + a] += (va - mean[a]) * (vb - mean[b]);
            }
    }
}

START_TEST(leaving_a_block_out_is_recomputing_without_it)
{
    enum { INPUTS = 43, RPI = 3, N = INPUTS * RPI, P = 4, Q = 3, LD = P + Q, B = 6 };
    static double x[N * P], y[N * Q];
    rng_state = 11;
    for (size_t i = 0; i < N; i++) {
        for (size_t j = 0; j < P; j++)
            x[i * P + j] = 1e4 * (double)j + normal();
        for (size_t j = 0; j < Q; j++)
            y[i * Q + j] = normal() + 0.5 * x[i * P + j];
    }
    /* Column 1 of Y varies only inside block 2 (the guard's case); column 3
     * of X is constant (dead everywhere). */
    pw_blocks b;
    pw_err e;
    PW_ASSERT_OK(pw_blocks_init(&b, N, INPUTS, B, &e), &e);
    for (size_t i = 0; i < N; i++) {
        unsigned k = pw_blocks_of_row(&b, i);
        y[i * Q + 1] = k == 2 ? normal() : 3.0;
        x[i * P + 3] = 5.0;
    }
    pw_rows rx = pw_rows_from_matrix(x, N, P), ry = pw_rows_from_matrix(y, N, Q);
    pw_noise_sums s;
    pw_gram_bad bad;
    PW_ASSERT_OK(pw_noise_sums_pass(&s, &rx, &ry, &b, &bad, &e), &e);
    double g[LD * LD], st[3 * LD], want[LD * LD], mean[LD];
    /* The merge of every block is the whole Gram. */
    direct_gram(x, y, N, P, Q, 0, 0, want, mean);
    for (size_t j = 0; j < LD; j++)
        for (size_t i = 0; i <= j; i++)
            ck_assert_msg(fabs(s.full_g[j * LD + i] - want[j * LD + i]) <=
                              1e-12 * (sqrt(want[i * LD + i] * want[j * LD + j]) + 1e-300),
                          "full (%zu,%zu) %.17g vs %.17g", i, j, s.full_g[j * LD + i],
                          want[j * LD + i]);
    for (unsigned k = 0; k < B; k++) {
        size_t r0 = pw_blocks_first_row(&b, k), r1 = pw_blocks_first_row(&b, k + 1);
        ck_assert_uint_eq(pw_noise_sums_without(&s, k, g, st), N - (r1 - r0));
        direct_gram(x, y, N, P, Q, r0, r1, want, mean);
        for (size_t j = 0; j < LD; j++) {
            PW_ASSERT_NEAR(st[j], mean[j], 1e-12 * (fabs(mean[j]) + 1));
            /* Extremes: exact, and so the dead column is decided exactly. */
            double lo = INFINITY, hi = -INFINITY;
            for (size_t i = 0; i < N; i++) {
                if (i >= r0 && i < r1)
                    continue;
                double v = j < P ? x[i * P + j] : y[i * Q + j - P];
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
            }
            ck_assert(st[LD + j] == lo && st[2 * LD + j] == hi);
            for (size_t i = 0; i <= j; i++) {
                double scale = sqrt(want[i * LD + i] * want[j * LD + j]);
                if (scale == 0) /* a column constant here: its sums are only rounding */
                    continue;
                ck_assert_msg(fabs(g[j * LD + i] - want[j * LD + i]) <= 1e-12 * scale,
                              "block %u (%zu,%zu): %.17g vs %.17g", k, i, j, g[j * LD + i],
                              want[j * LD + i]);
            }
        }
    }
    pw_noise_sums_free(&s);
}
END_TEST

/* A read callback over a row-major matrix (the non-direct path). */
typedef struct mat {
    const double *a;
    size_t p;
} mat;

static int mat_read(void *ctx, uint64_t row0, size_t nrows, double *out, pw_err *err)
{
    (void)err;
    const mat *m = ctx;
    memcpy(out, m->a + row0 * m->p, nrows * m->p * sizeof(double));
    return 0;
}

/* n rows of X (p) and Y (q) sharing a k-dimensional latent signal. */
static void draw(double *x, double *y, size_t n, size_t p, size_t q, const double *ax,
                 const double *ay, size_t k, double noise)
{
    for (size_t i = 0; i < n; i++) {
        double z[8];
        for (size_t c = 0; c < k; c++)
            z[c] = normal();
        for (size_t j = 0; j < p; j++) {
            double v = noise * normal();
            for (size_t c = 0; c < k; c++)
                v += ax[c * p + j] * z[c];
            x[i * p + j] = v;
        }
        for (size_t j = 0; j < q; j++) {
            double v = noise * normal();
            for (size_t c = 0; c < k; c++)
                v += ay[c * q + j] * z[c];
            y[i * q + j] = v;
        }
    }
}

START_TEST(scores_with_noise_are_the_plain_scores)
{
    enum { N = 120, P = 6, Q = 5, K = 3 };
    static double x[N * P], y[N * Q], ax[K * P], ay[K * Q];
    rng_state = 5;
    for (size_t i = 0; i < K * P; i++)
        ax[i] = normal();
    for (size_t i = 0; i < K * Q; i++)
        ay[i] = normal();
    draw(x, y, N, P, Q, ax, ay, K, 0.7);
    pw_rows rx = pw_rows_from_matrix(x, N, P), ry = pw_rows_from_matrix(y, N, Q);
    pw_result plain, r, r2;
    pw_noise_result nr, nr2;
    pw_err e;
    pw_noise_mode m = {.blocks = 10, .every = 1};
    PW_ASSERT_OK(pw_engine_compare(&rx, &ry, PW_M_ALL, NULL, NULL, &plain, &e), &e);
    PW_ASSERT_OK(pw_noise_compare(&rx, &ry, N, PW_M_ALL, &m, 0, NULL, NULL, NULL, &r, &nr, &e), &e);
    ck_assert_int_eq(r.status, PW_OK);
    ck_assert_uint_eq(nr.blocks, 10);
    ck_assert_str_eq(nr.message, "");
    double pv[PW_METRIC_COUNT], nv[PW_METRIC_COUNT];
#define GET(sym, id, bitno, sel, tpos, label, doc)                                                 \
    pv[PW_METRIC_##sym] = plain.id, nv[PW_METRIC_##sym] = r.id;
    PW_METRIC_LIST(GET)
#undef GET
    for (unsigned i = 0; i < PW_METRIC_COUNT; i++) {
        PW_ASSERT_NEAR(nv[i], pv[i], 1e-12);
        if (i == PW_METRIC_CKA_DEBIASED) /* its sums are not kept per block: no SE */
            ck_assert_msg(isnan(nr.se[i]), "cka_debiased se %g", nr.se[i]);
        else
            ck_assert_msg(nr.se[i] > 0 && nr.se[i] < 0.5, "%s se %g", pw_metric_name(i),
                          nr.se[i]);
    }
    PW_ASSERT_NEAR(nr.se[PW_METRIC_DISTANCE], nr.se[PW_METRIC_PWCCA], 1e-15);
    /* Rows through a callback (no direct path) give the same SEs. */
    mat mx = {x, P}, my = {y, Q};
    pw_rows cx = {.nrows = N, .ncols = P, .read = mat_read, .ctx = &mx, .chunk_rows = 7};
    pw_rows cy = {.nrows = N, .ncols = Q, .read = mat_read, .ctx = &my, .chunk_rows = 7};
    PW_ASSERT_OK(pw_noise_compare(&cx, &cy, N, PW_M_ALL, &m, 0, NULL, NULL, NULL, &r2, &nr2, &e),
                 &e);
    for (unsigned i = 0; i < PW_METRIC_COUNT; i++)
        if (i != PW_METRIC_CKA_DEBIASED)
            PW_ASSERT_NEAR(nr2.se[i], nr.se[i], 1e-12);
    pw_result_free(&r2);
    /* More blocks than inputs: scored, with no SE and a message saying why. */
    pw_noise_mode big = {.blocks = 200, .every = 1};
    PW_ASSERT_OK(pw_noise_compare(&rx, &ry, N, PW_M_ALL, &big, 0, NULL, NULL, NULL, &r2, &nr2, &e),
                 &e);
    ck_assert_int_eq(r2.status, PW_OK);
    ck_assert_uint_eq(nr2.blocks, 0);
    ck_assert(isnan(nr2.se[PW_METRIC_PWCCA]));
    ck_assert_msg(strstr(nr2.message, "200 blocks need at least 200 probe inputs"), "%s",
                  nr2.message);
    pw_result_free(&r2);
    /* A budget that holds the score but not the block Grams. */
    uint64_t budget = pw_engine_estimate(&rx, &ry, PW_M_ALL, 0) + 1000;
    PW_ASSERT_OK(
        pw_noise_compare(&rx, &ry, N, PW_M_ALL, &m, budget, "memory_mb", NULL, NULL, &r2, &nr2, &e),
        &e);
    ck_assert_int_eq(r2.status, PW_OK);
    ck_assert(isnan(nr2.se[PW_METRIC_CKA]));
    ck_assert_msg(strstr(nr2.message, "memory_mb"), "%s", nr2.message);
    pw_result_free(&r2);
    pw_result_free(&r);
    pw_result_free(&plain);
}
END_TEST

START_TEST(too_few_rows_left_leaves_the_cca_se_missing)
{
    /* n = 12 > p + q = 10, but without a block of 6 rows only 6 are left. */
    enum { N = 12, P = 5, Q = 5 };
    static double x[N * P], y[N * Q];
    rng_state = 3;
    for (size_t i = 0; i < N * P; i++)
        x[i] = normal(), y[i] = normal();
    pw_rows rx = pw_rows_from_matrix(x, N, P), ry = pw_rows_from_matrix(y, N, Q);
    pw_result r;
    pw_noise_result nr;
    pw_err e;
    pw_noise_mode m = {.blocks = 2, .every = 1};
    PW_ASSERT_OK(pw_noise_compare(&rx, &ry, N, PW_M_ALL, &m, 0, NULL, NULL, NULL, &r, &nr, &e), &e);
    ck_assert_int_eq(r.status, PW_OK);
    ck_assert(isnan(nr.se[PW_METRIC_PWCCA]));
    ck_assert(!isnan(nr.se[PW_METRIC_CKA]));
    ck_assert_msg(strstr(nr.message, "without block 1 of 2"), "%s", nr.message);
    pw_result_free(&r);
}
END_TEST

START_TEST(jackknife_ses_match_the_spread_over_independent_probes)
{
    /* One process, 60 independent probes of n = 10 p inputs each, B = 10.  The
     * jackknife estimates the standard deviation of the metric over probes;
     * docs/ENGINE.md says what bias to expect at finite n. */
    enum { DRAWS = 60, P = 4, Q = 4, K = 2, N = 10 * P, B = 10 };
    static double x[N * P], y[N * Q], ax[K * P], ay[K * Q];
    static const unsigned want[] = {PW_METRIC_PWCCA, PW_METRIC_MEAN_CCA, PW_METRIC_CKA};
    double sum[PW_METRIC_COUNT] = {0}, sum2[PW_METRIC_COUNT] = {0}, se2[PW_METRIC_COUNT] = {0};
    rng_state = 99;
    for (size_t i = 0; i < K * P; i++)
        ax[i] = normal();
    for (size_t i = 0; i < K * Q; i++)
        ay[i] = normal();
    pw_noise_mode m = {.blocks = B, .every = 1};
    for (int d = 0; d < DRAWS; d++) {
        draw(x, y, N, P, Q, ax, ay, K, 1.5);
        pw_rows rx = pw_rows_from_matrix(x, N, P), ry = pw_rows_from_matrix(y, N, Q);
        pw_result r;
        pw_noise_result nr;
        pw_err e;
        PW_ASSERT_OK(pw_noise_compare(&rx, &ry, N, PW_M_ALL, &m, 0, NULL, NULL, NULL, &r, &nr, &e),
                     &e);
        ck_assert_int_eq(r.status, PW_OK);
        double v[PW_METRIC_COUNT];
#define GET(sym, id, bitno, sel, tpos, label, doc) v[PW_METRIC_##sym] = r.id;
        PW_METRIC_LIST(GET)
#undef GET
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            unsigned j = want[i];
            sum[j] += v[j];
            sum2[j] += v[j] * v[j];
            se2[j] += nr.se[j] * nr.se[j];
        }
        pw_result_free(&r);
    }
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        unsigned j = want[i];
        double mean = sum[j] / DRAWS;
        double spread = sqrt((sum2[j] - DRAWS * mean * mean) / (DRAWS - 1));
        double rms = sqrt(se2[j] / DRAWS);
        printf("calibration %s: mean %.4f spread %.5f rms se %.5f ratio %.3f\n", pw_metric_name(j),
               mean, spread, rms, rms / spread);
        ck_assert_msg(rms <= 1.5 * spread && rms >= spread / 1.5,
                      "%s: RMS of the SEs %g against a spread of %g over %d probes",
                      pw_metric_name(j), rms, spread, DRAWS);
    }
}
END_TEST

Suite *noise_suite(void)
{
    Suite *s = suite_create("noise");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, modes_round_trip_and_bad_ones_say_the_forms);
    tcase_add_test(tc, every_row_of_an_input_lies_in_one_block);
    tcase_add_test(tc, the_se_of_a_mean_is_the_textbook_one);
    tcase_add_test(tc, leaving_a_block_out_is_recomputing_without_it);
    tcase_add_test(tc, scores_with_noise_are_the_plain_scores);
    tcase_add_test(tc, too_few_rows_left_leaves_the_cca_se_missing);
    tcase_add_test(tc, jackknife_ses_match_the_spread_over_independent_probes);
    suite_add_tcase(s, tc);
    return s;
}
