/* test_metric.c -- the metric list's accessors (lib/pw_metric.h): each entry's
 * selection bit is the PW_M_* of its own name, so a loop over the entries that
 * asks "is this one selected?" skips exactly the ones a metrics list left out. */
#include "pw_metric.h"
#include "pw_test.h"

START_TEST(each_entry_has_its_own_selection_bit)
{
    unsigned all = 0;
#define CHECK_BIT(sym, id, bitno, sel, tpos, label, doc)                                           \
    ck_assert_uint_eq(pw_metric_bit(PW_METRIC_##sym), PW_M_##sym);
    PW_METRIC_LIST(CHECK_BIT)
#undef CHECK_BIT
    for (unsigned k = 0; k < PW_METRIC_COUNT; k++) {
        unsigned bit = pw_metric_bit(k);
        ck_assert_uint_ne(bit, 0);
        ck_assert_uint_eq(bit & (bit - 1), 0); /* one bit */
        all |= bit;
    }
    ck_assert_uint_eq(all, PW_M_ALL);
    /* distance is 1 - pwcca: computed, hence selected, with pwcca. */
    ck_assert_uint_eq(pw_metric_bit(PW_METRIC_DISTANCE), PW_M_PWCCA);
    /* What a parsed list selects is what the bits say, entry by entry. */
    unsigned m = 0;
    pw_err e;
    PW_ASSERT_OK(pw_metric_set_parse("cka, procrustes", &m, &e), &e);
    for (unsigned k = 0; k < PW_METRIC_COUNT; k++)
        ck_assert_int_eq((m & pw_metric_bit(k)) != 0,
                         k == PW_METRIC_CKA || k == PW_METRIC_PROCRUSTES);
}
END_TEST

Suite *metric_suite(void)
{
    Suite *s = suite_create("metric");
    TCase *t = tcase_create("core");
    tcase_add_test(t, each_entry_has_its_own_selection_bit);
    suite_add_tcase(s, t);
    return s;
}
