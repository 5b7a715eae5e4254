/* test_keep.c -- the pool of large engine buffers hands a freed buffer back
 * to a request of about its size, never to a much smaller or larger one,
 * and keeps no more than PW_KEEP_BYTES. */
#include <stdint.h>
#include <string.h>

#include "pw_keep.h"
#include "pw_limits.h"
#include "pw_test.h"

START_TEST(a_freed_buffer_serves_the_next_request_of_its_size)
{
    pw_keep_drain(); /* whatever earlier tests in this process left */
    double *a = pw_keep_alloc(100000, sizeof(double));
    ck_assert(a != NULL);
    a[99999] = 1.0; /* the whole size is usable */
    pw_keep_free(a, 100000, sizeof(double));
    double *b = pw_keep_alloc(100000, sizeof(double));
    ck_assert_ptr_eq(b, a);
    pw_keep_free(b, 100000, sizeof(double));
    /* A request of at least half its size may take it too. */
    double *c = pw_keep_alloc(60000, sizeof(double));
    ck_assert_ptr_eq(c, a);
    pw_keep_free(c, 100000, sizeof(double)); /* given back with its true size */
}
END_TEST

START_TEST(sizes_far_apart_do_not_share)
{
    pw_keep_drain();
    char *big = pw_keep_alloc(1u << 20, 1);
    ck_assert(big != NULL);
    pw_keep_free(big, 1u << 20, 1);
    /* Too small: it would hold a megabyte a later large request needs. */
    char *small = pw_keep_alloc(1000, 1);
    ck_assert(small != NULL && small != big);
    /* Too large: the kept one does not fit. */
    char *larger = pw_keep_alloc(2u << 20, 1);
    ck_assert(larger != NULL && larger != big);
    memset(larger, 0, 2u << 20);
    pw_keep_free(small, 1000, 1);
    pw_keep_free(larger, 2u << 20, 1);
    /* The megabyte is still there for its own size. */
    char *again = pw_keep_alloc(1u << 20, 1);
    ck_assert_ptr_eq(again, big);
    pw_keep_free(again, 1u << 20, 1);
}
END_TEST

START_TEST(no_more_than_the_budget_is_kept)
{
    /* Two buffers of 60 % of the budget: the second does not fit beside the
     * first and is freed, so asking twice gets the first back once only. */
    pw_keep_drain();
    size_t share = (size_t)PW_KEEP_BYTES / 10 * 6;
    char *a = pw_keep_alloc(share, 1), *b = pw_keep_alloc(share, 1);
    ck_assert(a != NULL && b != NULL);
    pw_keep_free(a, share, 1);
    pw_keep_free(b, share, 1);
    char *c = pw_keep_alloc(share, 1), *d = pw_keep_alloc(share, 1);
    ck_assert(c != NULL && d != NULL);
    ck_assert_ptr_eq(c, a);
    pw_keep_free(c, share, 1);
    pw_keep_free(d, share, 1);
    pw_keep_drain(); /* a drained pool hands out fresh buffers again */
    char *e = pw_keep_alloc(share, 1);
    ck_assert(e != NULL);
    pw_keep_free(e, share, 1);
}
END_TEST

START_TEST(empty_and_impossible_requests)
{
    /* Zero elements still give one, like pw_array_alloc: never NULL for "none". */
    double *z = pw_keep_alloc(0, sizeof(double));
    ck_assert(z != NULL);
    pw_keep_free(z, 0, sizeof(double));
    ck_assert(pw_keep_alloc(SIZE_MAX / 4, 8) == NULL); /* the byte size overflows */
    pw_keep_free(NULL, 10, 8);                         /* ignored */
}
END_TEST

Suite *keep_suite(void)
{
    Suite *s = suite_create("keep");
    TCase *tc = tcase_create("keep");
    tcase_add_test(tc, a_freed_buffer_serves_the_next_request_of_its_size);
    tcase_add_test(tc, sizes_far_apart_do_not_share);
    tcase_add_test(tc, no_more_than_the_budget_is_kept);
    tcase_add_test(tc, empty_and_impossible_requests);
    suite_add_tcase(s, tc);
    return s;
}
