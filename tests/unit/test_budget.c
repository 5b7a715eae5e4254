/* test_budget.c -- the engine's memory estimate and the over_budget status.
 *
 * pw_engine_estimate decides, before anything is allocated, whether a pair
 * may be compared within memory_mb; a daemon that trusts a wrong estimate
 * is killed by the kernel instead.  So: the estimate grows with the shapes
 * and the metrics, never wraps on absurd shapes, and bounds the resident
 * memory a real comparison takes without overstating it wildly. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* malloc_trim */
#endif
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "pw_config.h"
#include "pw_engine.h"
#include "pw_keep.h"
#include "pw_test.h"

/* Rows with only a shape: the estimate never reads them. */
static pw_rows shape(uint64_t n, uint64_t p)
{
    static const double one = 0;
    return pw_rows_from_matrix(&one, n, p);
}

START_TEST(estimate_grows_with_shapes_metrics_and_lanes)
{
    static const uint64_t widths[] = {0, 1, 2, 7, 64, 100, 511, 512, 1000, 4096, 12000, 65536};
    const size_t nw = sizeof widths / sizeof widths[0];
    const unsigned metric_sets[] = {PW_M_CKA, PW_M_MEAN_CCA, PW_M_PWCCA, PW_M_SVCCA, PW_M_ALL};
    for (size_t mi = 0; mi < 5; mi++)
        for (size_t i = 0; i < nw; i++)
            for (size_t j = 0; j < nw; j++) {
                pw_rows x = shape(5000, widths[i]), y = shape(5000, widths[j]);
                unsigned m = metric_sets[mi];
                uint64_t e = pw_engine_estimate(&x, &y, m, 1);
                ck_assert_uint_gt(e, 0);
                /* At least the stacked Gram of the pass. */
                uint64_t ld = widths[i] + widths[j];
                ck_assert_uint_ge(e, ld * ld * sizeof(double));
                if (i + 1 < nw) {
                    pw_rows x2 = shape(5000, widths[i + 1]);
                    ck_assert_uint_ge(pw_engine_estimate(&x2, &y, m, 1), e);
                }
                if (j + 1 < nw) {
                    pw_rows y2 = shape(5000, widths[j + 1]);
                    ck_assert_uint_ge(pw_engine_estimate(&x, &y2, m, 1), e);
                }
                ck_assert_uint_ge(pw_engine_estimate(&x, &y, PW_M_ALL, 1), e);
                ck_assert_uint_ge(pw_engine_estimate(&x, &y, m, 4), e);
                /* Symmetric in the shapes: X and Y differ only in which carries weights. */
                ck_assert_uint_eq(pw_engine_estimate(&y, &x, m, 1), e);
            }
}
END_TEST

START_TEST(estimate_saturates_instead_of_wrapping)
{
    static const uint64_t huge[] = {
        65536,      1u << 20,   (uint64_t)UINT32_MAX, (uint64_t)UINT32_MAX + 1,
        1ull << 40, 1ull << 62, UINT64_MAX / 2,       UINT64_MAX};
    uint64_t last = 0;
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        pw_rows x = shape(UINT64_MAX, huge[i]), y = shape(UINT64_MAX, huge[i]);
        uint64_t e = pw_engine_estimate(&x, &y, PW_M_ALL, 64);
        ck_assert_uint_ge(e, last);
        last = e;
        if (huge[i] >= (1u << 20)) /* (2^21)^2 doubles of Gram alone are 32 TiB */
            ck_assert_uint_ge(e, 1ull << 45);
        pw_rows small = shape(10, 3);
        ck_assert_uint_ge(pw_engine_estimate(&x, &small, PW_M_ALL, 1), huge[i]);
        ck_assert_uint_ge(pw_engine_estimate(&small, &y, PW_M_ALL, 1), huge[i]);
    }
    ck_assert_uint_eq(last, UINT64_MAX);
    /* The brief's crash: two 30000 x 12000 layers need several GiB. */
    pw_rows a = shape(30000, 12000);
    ck_assert_uint_gt(pw_engine_estimate(&a, &a, PW_M_ALL, 1), 4ull << 30);
}
END_TEST

START_TEST(over_budget_result_names_shapes_estimate_and_budget)
{
    pw_rows x = shape(30000, 12000), y = shape(30000, 11000);
    pw_result r;
    uint64_t est = 0;
    ck_assert_int_eq(pw_engine_check_budget(&x, &y, PW_M_ALL, 4096ull << 20, "memory_mb", &est, &r),
                     1);
    ck_assert_uint_eq(est, pw_engine_estimate(&x, &y, PW_M_ALL, 0));
    ck_assert_int_eq(r.status, PW_OVER_BUDGET);
    ck_assert_str_eq(pw_status_name(r.status), "over_budget");
    ck_assert_msg(strstr(r.message, "30000 x 12000") && strstr(r.message, "30000 x 11000") &&
                      strstr(r.message, "GiB") && strstr(r.message, "4.0 GiB") &&
                      strstr(r.message, "memory_mb"),
                  "message: %s", r.message);
    ck_assert(isnan(r.pwcca) && isnan(r.cka) && r.nrho == 0 && r.p == 12000 && r.q == 11000);
    pw_result_free(&r);
    /* No budget, or one that holds: nothing is said and the result is untouched. */
    pw_rows s = shape(100, 10);
    r.status = PW_MISSING;
    ck_assert_int_eq(pw_engine_check_budget(&x, &y, PW_M_ALL, 0, "memory_mb", NULL, &r), 0);
    ck_assert_int_eq(pw_engine_check_budget(&s, &s, PW_M_ALL, 1u << 30, "memory_mb", &est, &r), 0);
    ck_assert_int_eq(r.status, PW_MISSING);
    ck_assert_uint_lt(est, 1u << 30);
}
END_TEST

/* Resident memory figure of this process from /proc/self/status, in KiB (-1 unknown). */
static long status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t k = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, k) == 0)
            v = atol(line + k);
    if (f)
        fclose(f);
    return v;
}

/* Peak resident growth over one comparison, in bytes, or -1 when the kernel
 * does not let us reset the high-water mark. */
static long long measured_peak(const pw_rows *x, const pw_rows *y, unsigned metrics)
{
    pw_result r;
    pw_err err;
    pw_keep_drain();
    malloc_trim(0);
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f || fputs("5", f) < 0 || fclose(f) != 0)
        return -1; /* "5" resets VmHWM to the current RSS */
    long rss0 = status_kib("VmRSS:");
    PW_ASSERT_OK(pw_engine_compare(x, y, metrics, NULL, NULL, &r, &err), &err);
    ck_assert_int_eq(r.status, PW_OK);
    pw_result_free(&r);
    long hwm = status_kib("VmHWM:");
    return rss0 < 0 || hwm < 0 ? -1 : (long long)(hwm - rss0) * 1024;
}

START_TEST(estimate_bounds_the_measured_peak)
{
#if defined(__SANITIZE_ADDRESS__)
    return; /* ASan's quarantine and shadow make resident memory no measure of the engine */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return;
#endif
#endif
    pw_engine_set_blas_threads(1);
    /* Whole 2 MiB pages for a touched corner would make the measure depend
     * on the host's transparent huge page setting. */
    prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
    const size_t n = 3000, p = 600, q = 400;
    double *a = malloc(n * p * sizeof *a), *b = malloc(n * p * sizeof *b);
    ck_assert(a && b);
    uint64_t s = 12345;
    for (size_t i = 0; i < n * p; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        a[i] = (double)(s >> 11) / 9007199254740992.0;
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        b[i] = (double)(s >> 11) / 9007199254740992.0;
    }
    /* Warm up: OpenBLAS allocates its own buffers once, on first use. */
    pw_rows wx = pw_rows_from_matrix(a, n, 8), wy = pw_rows_from_matrix(b, n, 8);
    ck_assert_int_ge(measured_peak(&wx, &wy, PW_M_ALL), -1);
    /* Distinct layers, and a layer against itself (every correlation tied: the
     * largest canonical problem). */
    pw_rows x = pw_rows_from_matrix(a, n, p), y = pw_rows_from_matrix(b, n, q);
    pw_rows xs = pw_rows_from_matrix(a, n, p);
    const pw_rows *pairs[][2] = {{&x, &y}, {&x, &xs}};
    for (size_t i = 0; i < 2; i++) {
        long long got = measured_peak(pairs[i][0], pairs[i][1], PW_M_ALL);
        if (got < 0)
            break; /* no clear_refs here: the other tests still hold */
        uint64_t est = pw_engine_estimate(pairs[i][0], pairs[i][1], PW_M_ALL, 0);
        ck_assert_msg((uint64_t)got <= est && est <= 3 * (uint64_t)got + (8u << 20),
                      "pair %zu: measured %lld bytes, estimated %llu", i, got,
                      (unsigned long long)est);
    }
    free(a);
    free(b);
}
END_TEST

START_TEST(memory_mb_key_defaults_parses_and_refuses)
{
    pw_config c;
    pw_err e;
    pw_config_defaults(&c);
    ck_assert_uint_eq(c.memory_bytes, (uint64_t)PW_CFG_DEFAULT_MEMORY_MB << 20);
    ck_assert_uint_eq(c.memory_bytes, 4096ull << 20);
    PW_ASSERT_OK(pw_config_load_string(&c, "t.conf", "memory_mb = 1\n", &e), &e);
    ck_assert_uint_eq(c.memory_bytes, 1u << 20);
    PW_ASSERT_OK(pw_config_load_string(&c, "t.conf", "[pwccad]\nmemory_mb = 0\n", &e), &e);
    ck_assert_uint_eq(c.memory_bytes, 0); /* no limit */
    PW_ASSERT_FAILS_WITH(pw_config_load_string(&c, "t.conf", "memory_mb = -1\n", &e), &e,
                         "t.conf:1: memory_mb must be");
    PW_ASSERT_FAILS_WITH(pw_config_load_string(&c, "t.conf", "\nmemory_mb = 2G\n", &e), &e,
                         "t.conf:2: memory_mb must be");
    PW_ASSERT_FAILS_WITH(pw_config_load_string(&c, "t.conf", "memory_mb = 1073741825\n", &e), &e,
                         "memory_mb must be");
    /* Not a per-run key: one budget per compute thread. */
    PW_ASSERT_FAILS_WITH(pw_config_load_string(&c, "t.conf", "[run a]\nmemory_mb = 5\n", &e), &e,
                         "t.conf:2");
    pw_config_free(&c);
}
END_TEST

Suite *budget_suite(void)
{
    Suite *s = suite_create("budget");
    TCase *tc = tcase_create("estimate");
    tcase_add_test(tc, estimate_grows_with_shapes_metrics_and_lanes);
    tcase_add_test(tc, estimate_saturates_instead_of_wrapping);
    tcase_add_test(tc, over_budget_result_names_shapes_estimate_and_budget);
    tcase_add_test(tc, estimate_bounds_the_measured_peak);
    tcase_add_test(tc, memory_mb_key_defaults_parses_and_refuses);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
