/* test_plan.c -- the scheduler's planner: which pairs of a run are missing after
 * out-of-order arrivals, a final checkpoint that comes first, deleted and
 * unreadable references, retained (deleted but stored) checkpoints, a final
 * that moves, and a backlog. */
#include <string.h>

#include "pw_plan.h"
#include "pw_test.h"

#define NO PW_PLAN_NO_STEP

/* A checkpoint that is on disk and not stored yet. */
static pw_plan_ckpt fresh(int64_t step)
{
    return (pw_plan_ckpt){.step = step, .present = 1, .prev_ref = NO, .final_ref = NO};
}

/* A checkpoint stored with the given references. */
static pw_plan_ckpt stored(int64_t step, int64_t prev_ref, int64_t final_ref)
{
    return (pw_plan_ckpt){
        .step = step, .present = 1, .processed = 1, .prev_ref = prev_ref, .final_ref = final_ref};
}

/* What a job leaves behind, as finish_job records it: the run as if every job ran. */
static void apply(pw_plan_ckpt *ck, size_t n, int64_t final_step, const pw_plan_job *out)
{
    for (size_t i = 0; i < n; i++) {
        if (!pw_plan_wanted(&out[i]))
            continue;
        if (out[i].need_x)
            ck[i].processed = 1;
        if (out[i].prev == PW_WANT_COMPUTE)
            ck[i].prev_ref = ck[out[i].prev_index].step;
        else if (out[i].prev == PW_WANT_CLEAR)
            ck[i].prev_ref = NO;
        if (out[i].fin == PW_WANT_COMPUTE)
            ck[i].final_ref = final_step;
        ck[i].dirty_prev = ck[i].dirty_final = 0;
    }
}

/* out is exactly this work (X: no index). */
#define X PW_PLAN_NONE
static void expect_at(int line, const pw_plan_job *out, int need_x, pw_plan_want prev,
                      size_t prev_index, pw_plan_want fin, size_t final_index)
{
    ck_assert_msg(out->need_x == need_x && out->prev == prev && out->prev_index == prev_index &&
                      out->fin == fin && out->final_index == final_index,
                  "line %d: need_x %d prev %d (index %zu) fin %d (index %zu), expected need_x %d "
                  "prev %d (index %zu) fin %d (index %zu)",
                  line, out->need_x, (int)out->prev, out->prev_index, (int)out->fin,
                  out->final_index, need_x, (int)prev, prev_index, (int)fin, final_index);
}
#define expect(...) expect_at(__LINE__, __VA_ARGS__)

/* Short names for the table-like expectations below. */
#define NONE    PW_WANT_NONE
#define COMPUTE PW_WANT_COMPUTE
#define CLEAR   PW_WANT_CLEAR

START_TEST(a_new_run_pairs_each_checkpoint_with_the_one_before)
{
    pw_plan_ckpt ck[] = {fresh(100), fresh(200), fresh(300)};
    pw_plan_job out[3];
    ck_assert_uint_eq(pw_plan_run(ck, 3, NO, out), 3);
    expect(&out[0], 1, NONE, X, NONE, X); /* the first has no predecessor */
    expect(&out[1], 1, COMPUTE, 0, NONE, X);
    expect(&out[2], 1, COMPUTE, 1, NONE, X);
    /* Once done, nothing is missing. */
    apply(ck, 3, NO, out);
    ck_assert_uint_eq(pw_plan_run(ck, 3, NO, out), 0);
}
END_TEST

START_TEST(an_out_of_order_arrival_splits_the_pair_it_lands_in)
{
    /* 100 and 300 stored as a pair; then 200 arrives. */
    pw_plan_ckpt ck[] = {stored(100, NO, NO), fresh(200), stored(300, 100, NO)};
    pw_plan_job out[3];
    ck_assert_uint_eq(pw_plan_run(ck, 3, NO, out), 2);
    expect(&out[0], 0, NONE, X, NONE, X);
    expect(&out[1], 1, COMPUTE, 0, NONE, X);
    /* 300 is not read again for its own row, only re-paired with 200. */
    expect(&out[2], 0, COMPUTE, 1, NONE, X);
    apply(ck, 3, NO, out);
    ck_assert_uint_eq(pw_plan_run(ck, 3, NO, out), 0);
}
END_TEST

START_TEST(a_final_before_its_predecessors_is_compared_with_itself_then_backfilled)
{
    /* The final checkpoint 300 is the first file of the run. */
    pw_plan_ckpt ck[3] = {fresh(300)};
    pw_plan_job out[3];
    ck_assert_uint_eq(pw_plan_run(ck, 1, 300, out), 1);
    expect(&out[0], 1, NONE, X, COMPUTE, 0);
    apply(ck, 1, 300, out);
    /* Then 100 and 200 arrive. */
    ck[2] = ck[0];
    ck[0] = fresh(100);
    ck[1] = fresh(200);
    ck_assert_uint_eq(pw_plan_run(ck, 3, 300, out), 3);
    expect(&out[0], 1, NONE, X, COMPUTE, 2);
    expect(&out[1], 1, COMPUTE, 0, COMPUTE, 2);
    expect(&out[2], 0, COMPUTE, 1, NONE, X); /* its final pair is already right */
    apply(ck, 3, 300, out);
    ck_assert_uint_eq(pw_plan_run(ck, 3, 300, out), 0);
}
END_TEST

START_TEST(a_reference_deleted_before_it_was_stored_is_skipped_or_cleared)
{
    /* 200 was deleted before it was ever read: 300 pairs with 100 instead. */
    pw_plan_ckpt ck[] = {stored(100, NO, NO), fresh(200), fresh(300)};
    ck[1].present = 0;
    pw_plan_job out[3];
    ck_assert_uint_eq(pw_plan_run(ck, 3, 300, out), 2);
    expect(&out[0], 0, NONE, X, COMPUTE, 2);
    expect(&out[1], 0, NONE, X, NONE, X); /* nothing to store, nothing to backfill */
    expect(&out[2], 1, COMPUTE, 0, COMPUTE, 2);
    /* With no usable predecessor left at all, the stale previous rows go. */
    pw_plan_ckpt lone[] = {fresh(100), stored(200, 100, NO)};
    lone[0].present = 0;
    ck_assert_uint_eq(pw_plan_run(lone, 2, NO, out), 1);
    expect(&out[1], 0, CLEAR, X, NONE, X);
    apply(lone, 2, NO, out);
    ck_assert_uint_eq(pw_plan_run(lone, 2, NO, out), 0);
}
END_TEST

START_TEST(an_unreadable_checkpoint_is_neither_scored_nor_a_reference)
{
    pw_plan_ckpt ck[] = {stored(100, NO, 300), stored(200, NO, NO), fresh(300)};
    ck[1].bad = 1;
    pw_plan_job out[3];
    ck_assert_uint_eq(pw_plan_run(ck, 3, 300, out), 1);
    expect(&out[1], 0, NONE, X, NONE, X);
    expect(&out[2], 1, COMPUTE, 0, COMPUTE, 2);
}
END_TEST

START_TEST(a_stored_checkpoint_deleted_since_stays_a_reference_and_gets_its_final_pair)
{
    /* Retention: 100 and 200 were stored, then deleted (their copies serve). */
    pw_plan_ckpt ck[] = {stored(100, NO, NO), stored(200, 100, NO), fresh(300)};
    ck[0].present = ck[1].present = 0;
    pw_plan_job out[3];
    ck_assert_uint_eq(pw_plan_run(ck, 3, NO, out), 1);
    expect(&out[2], 1, COMPUTE, 1, NONE, X);
    /* 300 becomes final: the deleted ones are backfilled, without their previous pair. */
    apply(ck, 3, NO, out);
    ck_assert_uint_eq(pw_plan_run(ck, 3, 300, out), 3);
    expect(&out[0], 0, NONE, X, COMPUTE, 2);
    expect(&out[1], 0, NONE, X, COMPUTE, 2);
    expect(&out[2], 0, NONE, X, COMPUTE, 2);
    apply(ck, 3, 300, out);
    ck_assert_uint_eq(pw_plan_run(ck, 3, 300, out), 0);
}
END_TEST

START_TEST(a_final_that_moves_redoes_every_final_pair)
{
    pw_plan_ckpt ck[] = {stored(100, NO, 200), stored(200, 100, 200), stored(300, 200, NO)};
    pw_plan_job out[3];
    ck_assert_uint_eq(pw_plan_run(ck, 3, 200, out), 0);
    /* Finalized a second time, at 300. */
    ck_assert_uint_eq(pw_plan_run(ck, 3, 300, out), 3);
    for (size_t i = 0; i < 3; i++)
        expect(&out[i], 0, NONE, X, COMPUTE, 2);
    apply(ck, 3, 300, out);
    ck_assert_uint_eq(pw_plan_run(ck, 3, 300, out), 0);
    /* Back to 200: the pair of 300 is not wanted (it is after the final). */
    ck_assert_uint_eq(pw_plan_run(ck, 3, 200, out), 2);
    expect(&out[2], 0, NONE, X, NONE, X);
}
END_TEST

START_TEST(a_replaced_checkpoint_is_read_again_with_both_pairs)
{
    /* 200's file was replaced: a new identity, the stored references unchanged. */
    pw_plan_ckpt ck[] = {stored(100, NO, 300), stored(200, 100, 300), stored(300, 200, 300)};
    ck[1].processed = 0;
    pw_plan_job out[3];
    ck_assert_uint_eq(pw_plan_run(ck, 3, 300, out), 1);
    expect(&out[1], 1, COMPUTE, 0, COMPUTE, 2);
}
END_TEST

START_TEST(a_final_step_without_its_checkpoint_wants_no_final_pair)
{
    pw_plan_ckpt ck[] = {stored(100, NO, NO), stored(200, 100, NO)};
    pw_plan_job out[2];
    ck_assert_uint_eq(pw_plan_run(ck, 2, 500, out), 0);
}
END_TEST

START_TEST(dirty_and_held_checkpoints)
{
    pw_plan_ckpt ck[] = {stored(100, NO, 200), stored(200, 100, 200)};
    pw_plan_job out[2];
    ck[1].dirty_prev = 1;
    ck_assert_uint_eq(pw_plan_run(ck, 2, 200, out), 1);
    expect(&out[1], 0, COMPUTE, 0, NONE, X);
    ck[1].dirty_prev = 0;
    ck[0].dirty_final = 1;
    ck_assert_uint_eq(pw_plan_run(ck, 2, 200, out), 1);
    expect(&out[0], 0, NONE, X, COMPUTE, 1);
    /* A held checkpoint (job out, or retry not due) is not planned, but still a reference. */
    ck[0] = fresh(100);
    ck[0].hold = 1;
    ck[1] = fresh(200);
    ck_assert_uint_eq(pw_plan_run(ck, 2, NO, out), 1);
    expect(&out[0], 0, NONE, X, NONE, X);
    expect(&out[1], 1, COMPUTE, 0, NONE, X);
}
END_TEST

START_TEST(a_backlog_is_planned_at_once_in_one_walk)
{
    enum { N = 5000 };
    pw_plan_ckpt *ck = calloc(N, sizeof *ck);
    pw_plan_job *out = calloc(N, sizeof *out);
    ck_assert(ck && out);
    for (size_t i = 0; i < N; i++)
        ck[i] = fresh((int64_t)(i + 1) * 10);
    ck_assert_uint_eq(pw_plan_run(ck, N, (int64_t)N * 10, out), N);
    for (size_t i = 1; i < N; i++)
        expect(&out[i], 1, COMPUTE, i - 1, COMPUTE, N - 1);
    apply(ck, N, (int64_t)N * 10, out);
    ck_assert_uint_eq(pw_plan_run(ck, N, (int64_t)N * 10, out), 0);
    free(ck);
    free(out);
}
END_TEST

Suite *plan_suite(void)
{
    Suite *s = suite_create("plan");
    TCase *tc = tcase_create("plan");
    tcase_add_test(tc, a_new_run_pairs_each_checkpoint_with_the_one_before);
    tcase_add_test(tc, an_out_of_order_arrival_splits_the_pair_it_lands_in);
    tcase_add_test(tc, a_final_before_its_predecessors_is_compared_with_itself_then_backfilled);
    tcase_add_test(tc, a_reference_deleted_before_it_was_stored_is_skipped_or_cleared);
    tcase_add_test(tc, an_unreadable_checkpoint_is_neither_scored_nor_a_reference);
    tcase_add_test(tc, a_stored_checkpoint_deleted_since_stays_a_reference_and_gets_its_final_pair);
    tcase_add_test(tc, a_final_that_moves_redoes_every_final_pair);
    tcase_add_test(tc, a_replaced_checkpoint_is_read_again_with_both_pairs);
    tcase_add_test(tc, a_final_step_without_its_checkpoint_wants_no_final_pair);
    tcase_add_test(tc, dirty_and_held_checkpoints);
    tcase_add_test(tc, a_backlog_is_planned_at_once_in_one_walk);
    suite_add_tcase(s, tc);
    return s;
}
