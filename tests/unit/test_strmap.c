/* test_strmap.c -- pw_strmap against a plain array as the model: puts,
 * replaces, deletes (backward shift keeps every other key findable)
 * and growth. */
#include <stdio.h>
#include <string.h>

#include "pw_strmap.h"
#include "pw_test.h"

START_TEST(matches_a_model_through_puts_and_deletes)
{
    enum { N = 5000 };
    static int64_t model[N]; /* -1 absent */
    pw_strmap m;
    pw_strmap_init(&m);
    char key[32];
    uint64_t x = 12345;
    for (int i = 0; i < N; i++)
        model[i] = -1;
    for (int round = 0; round < 60000; round++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        int i = (int)((x >> 33) % N);
        snprintf(key, sizeof key, "step-%06d.npy", i);
        if ((x >> 20) % 3 == 0) {
            ck_assert_int_eq(pw_strmap_del(&m, key), model[i] >= 0);
            model[i] = -1;
        } else {
            ck_assert_int_eq(pw_strmap_put(&m, key, round), 0);
            model[i] = round;
        }
    }
    size_t n = 0;
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "step-%06d.npy", i);
        int64_t v = -7;
        ck_assert_int_eq(pw_strmap_get(&m, key, &v), model[i] >= 0);
        if (model[i] >= 0)
            ck_assert_int_eq(v, model[i]);
        n += model[i] >= 0;
    }
    ck_assert_uint_eq(m.n, n);
    ck_assert_int_eq(pw_strmap_get(&m, "absent", NULL), 0);
    pw_strmap_free(&m);
    ck_assert_int_eq(pw_strmap_get(&m, "step-000001.npy", NULL), 0);
    ck_assert_int_eq(pw_strmap_del(&m, "step-000001.npy"), 0);
}
END_TEST

Suite *strmap_suite(void)
{
    Suite *s = suite_create("strmap");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, matches_a_model_through_puts_and_deletes);
    suite_add_tcase(s, tc);
    return s;
}
