/* test_array.c -- pw_grow, the one growable-array helper (lib/pw_array.h).
 *
 * Lists across the library, the daemon and the client grow through pw_grow:
 * it must keep what was appended, double rather than creep, and refuse a
 * size that would overflow instead of wrapping to a small buffer. */
#include <stdint.h>
#include <string.h>

#include "pw_array.h"
#include "pw_test.h"

START_TEST(appends_keep_their_values_and_grow_by_doubling)
{
    int *a = NULL;
    size_t cap = 0, reallocs = 0;
    for (int i = 0; i < 1000; i++) {
        size_t before = cap;
        int *g = pw_grow(a, &cap, (size_t)i + 1, sizeof *a, 16);
        ck_assert_ptr_nonnull(g);
        a = g;
        reallocs += cap != before;
        a[i] = i * 7;
    }
    ck_assert_uint_eq(cap, 1024); /* 16 doubled six times */
    ck_assert_uint_eq(reallocs, 7);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(a[i], i * 7);
    free(a);
}
END_TEST

START_TEST(room_enough_returns_the_same_array)
{
    size_t cap = 0;
    char *a = pw_grow(NULL, &cap, 1, 1, 64);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(cap, 64);
    ck_assert_ptr_eq(pw_grow(a, &cap, 64, 1, 64), a);
    ck_assert_uint_eq(cap, 64);
    /* A jump past twice the capacity doubles as often as it takes. */
    char *g = pw_grow(a, &cap, 1000, 1, 64);
    ck_assert_ptr_nonnull(g);
    ck_assert_uint_eq(cap, 1024);
    free(g);
}
END_TEST

START_TEST(an_overflowing_size_is_refused_and_the_array_kept)
{
    size_t cap = 0;
    double *a = pw_grow(NULL, &cap, 4, sizeof *a, 4);
    ck_assert_ptr_nonnull(a);
    a[3] = 1.5;
    /* need * elem overflows size_t: out of memory, nothing moved or freed. */
    ck_assert_ptr_null(pw_grow(a, &cap, SIZE_MAX / 4, sizeof *a, 4));
    ck_assert_uint_eq(cap, 4);
    /* Doubling past SIZE_MAX / 2 takes need itself, larger than any object. */
    ck_assert_ptr_null(pw_grow(a, &cap, SIZE_MAX, 1, 4));
    ck_assert_uint_eq(cap, 4);
    ck_assert(a[3] == 1.5);
    free(a);
}
END_TEST

Suite *array_suite(void)
{
    Suite *s = suite_create("array");
    TCase *tc = tcase_create("grow");
    tcase_add_test(tc, appends_keep_their_values_and_grow_by_doubling);
    tcase_add_test(tc, room_enough_returns_the_same_array);
    tcase_add_test(tc, an_overflowing_size_is_refused_and_the_array_kept);
    suite_add_tcase(s, tc);
    return s;
}
