/* test_plan.c -- the scheduler's planner: which pairs of a run are missing after
 * out-of-order arrivals, a final checkpoint that comes first, deleted and
 * unreadable references, retained (deleted but stored) checkpoints, a final
 * that moves, and a backlog. */
#include <math.h>
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

/* The order (pw_plan_next, pw_plan_pick) ----------------------------------------- */

/* Do the one job out[i] asks, as finish_job records it. */
static void apply_one(pw_plan_ckpt *ck, size_t i, int64_t final_step, const pw_plan_job *out)
{
    if (out[i].need_x)
        ck[i].processed = 1;
    if (out[i].prev == PW_WANT_COMPUTE)
        ck[i].prev_ref = ck[out[i].prev_index].step;
    else if (out[i].prev == PW_WANT_CLEAR)
        ck[i].prev_ref = NO;
    if (out[i].fin == PW_WANT_COMPUTE)
        ck[i].final_ref = final_step;
}

/* Run the policy's jobs one by one to the end; order[] gets the steps in the order
 * they were taken (at most max), and the count is returned. */
static size_t drain(pw_plan_ckpt *ck, size_t n, int64_t final_step, const pw_plan_policy *pol,
                    int64_t *order, size_t max)
{
    pw_plan_job out[16];
    ck_assert_uint_le(n, 16);
    size_t k = 0, wanted;
    pw_plan_class cls;
    for (size_t i;
         (i = pw_plan_next(ck, n, final_step, pol, out, &cls, &wanted)) != PW_PLAN_NONE;) {
        ck_assert_uint_lt(k, max);
        order[k++] = ck[i].step;
        apply_one(ck, i, final_step, out);
    }
    ck_assert_uint_eq(wanted, 0);
    return k;
}

START_TEST(the_newest_checkpoint_goes_before_the_backlog)
{
    pw_plan_policy fill = {PW_BACKLOG_FILL, 8};
    pw_plan_ckpt ck[] = {stored(100, NO, NO), fresh(200), fresh(300), fresh(400)};
    pw_plan_job out[4];
    pw_plan_class cls;
    size_t wanted;
    ck_assert_uint_eq(pw_plan_next(ck, 4, NO, &fill, out, &cls, &wanted), 3);
    ck_assert_int_eq(cls, PW_CLASS_LIVE);
    ck_assert_uint_eq(wanted, 3);
    expect(&out[3], 1, COMPUTE, 2, NONE, X); /* within the bound: against its predecessor */
    /* Then the backlog, oldest first. */
    int64_t order[8];
    ck_assert_uint_eq(drain(ck, 4, NO, &fill, order, 8), 3);
    ck_assert_int_eq(order[0], 400);
    ck_assert_int_eq(order[1], 200);
    ck_assert_int_eq(order[2], 300);
}
END_TEST

START_TEST(a_long_backlog_makes_the_live_pair_skip_to_the_last_scored_then_fill_redoes_it)
{
    pw_plan_policy fill = {PW_BACKLOG_FILL, 2};
    pw_plan_ckpt ck[] = {stored(100, NO, NO), fresh(200), fresh(300), fresh(400), fresh(500)};
    pw_plan_job out[6];
    pw_plan_class cls;
    size_t wanted;
    /* Three older checkpoints wait, more than the bound of 2: 500 against 100. */
    ck_assert_uint_eq(pw_plan_next(ck, 5, NO, &fill, out, &cls, &wanted), 4);
    ck_assert_int_eq(cls, PW_CLASS_LIVE);
    expect(&out[4], 1, COMPUTE, 0, NONE, X);
    apply_one(ck, 4, NO, out);
    /* A new checkpoint meanwhile: against 500, the last scored. */
    pw_plan_ckpt ck2[6];
    memcpy(ck2, ck, sizeof ck);
    ck2[5] = fresh(600);
    ck_assert_uint_eq(pw_plan_next(ck2, 6, NO, &fill, out, &cls, &wanted), 5);
    expect(&out[5], 1, COMPUTE, 4, NONE, X);
    /* While nothing live waits the gap is filled in, and 500 is redone against 400. */
    int64_t order[8];
    ck_assert_uint_eq(drain(ck, 5, NO, &fill, order, 8), 4);
    ck_assert_int_eq(order[0], 200);
    ck_assert_int_eq(order[3], 500);
    for (size_t i = 1; i < 5; i++)
        ck_assert_int_eq(ck[i].prev_ref, ck[i - 1].step);
    /* Within the bound nothing is skipped. */
    pw_plan_ckpt few[] = {stored(100, NO, NO), fresh(200), fresh(300), fresh(400)};
    ck_assert_uint_eq(pw_plan_next(few, 4, NO, &fill, out, &cls, &wanted), 3);
    expect(&out[3], 1, COMPUTE, 2, NONE, X);
}
END_TEST

START_TEST(skip_drops_what_the_live_pair_passed_over)
{
    pw_plan_policy skip = {PW_BACKLOG_SKIP, 2};
    pw_plan_ckpt ck[] = {stored(100, NO, NO), fresh(200), fresh(300), fresh(400), fresh(500)};
    pw_plan_job out[6];
    pw_plan_class cls;
    size_t wanted;
    ck_assert_uint_eq(pw_plan_next(ck, 5, NO, &skip, out, &cls, &wanted), 4);
    expect(&out[4], 1, COMPUTE, 0, NONE, X);
    /* While its job is out, the checkpoints it passes over are not started. */
    ck[4].hold = ck[4].out = 1;
    ck[4].out_ref = 100;
    ck_assert_uint_eq(pw_plan_next(ck, 5, NO, &skip, out, &cls, &wanted), X);
    ck_assert_uint_eq(wanted, 0);
    /* Stored: the same, also after a restart (the stored ref_step says it). */
    ck[4] = stored(500, 100, NO);
    ck_assert_uint_eq(pw_plan_next(ck, 5, NO, &skip, out, &cls, &wanted), X);
    ck_assert_uint_eq(wanted, 0);
    /* The next checkpoint is compared with 500, and a final gives the skipped nothing. */
    pw_plan_ckpt ck2[6];
    memcpy(ck2, ck, sizeof ck);
    ck2[5] = fresh(600);
    ck_assert_uint_eq(pw_plan_next(ck2, 6, NO, &skip, out, &cls, &wanted), 5);
    expect(&out[5], 1, COMPUTE, 4, NONE, X);
    apply_one(ck2, 5, NO, out);
    int64_t order[8];
    ck_assert_uint_eq(drain(ck2, 6, 600, &skip, order, 8), 3); /* 100, 500, 600 vs the final */
    ck_assert_int_eq(order[0], 100);
    ck_assert_int_eq(order[1], 500);
    ck_assert_int_eq(order[2], 600);
    for (size_t i = 1; i < 4; i++)
        ck_assert(!ck2[i].processed);
    /* fill would have redone all of it. */
    pw_plan_policy fill = {PW_BACKLOG_FILL, 2};
    ck_assert_uint_eq(pw_plan_next(ck, 5, NO, &fill, out, &cls, &wanted), 1);
    ck_assert_int_eq(cls, PW_CLASS_BACKLOG);
    ck_assert_uint_eq(wanted, 4);
}
END_TEST

START_TEST(the_backfill_against_the_final_comes_last)
{
    pw_plan_policy fill = {PW_BACKLOG_FILL, 8};
    pw_plan_ckpt ck[] = {stored(100, NO, NO), stored(200, 100, NO), stored(300, 200, NO),
                         fresh(400)};
    int64_t order[8];
    ck_assert_uint_eq(drain(ck, 4, 400, &fill, order, 8), 4);
    ck_assert_int_eq(order[0], 400); /* the new one, with both of its pairs */
    ck_assert_int_eq(order[1], 100);
    ck_assert_int_eq(order[3], 300);
}
END_TEST

START_TEST(live_work_goes_round_robin_between_runs)
{
    /* A run's backlog never goes before another run's live checkpoint... */
    pw_plan_head h[] = {{PW_CLASS_BACKLOG, 1}, {PW_CLASS_LIVE, 9}, {PW_CLASS_NONE, 0}};
    ck_assert_uint_eq(pw_plan_pick(h, 3), 1);
    /* ...and between live checkpoints, the run served longest ago goes first. */
    pw_plan_head l[] = {{PW_CLASS_LIVE, 7}, {PW_CLASS_LIVE, 3}, {PW_CLASS_FINAL, 0}};
    ck_assert_uint_eq(pw_plan_pick(l, 3), 1);
    l[1].served = 8;
    ck_assert_uint_eq(pw_plan_pick(l, 3), 0);
    pw_plan_head f[] = {{PW_CLASS_FINAL, 0}, {PW_CLASS_BACKLOG, 5}};
    ck_assert_uint_eq(pw_plan_pick(f, 2), 1);
    pw_plan_head none[] = {{PW_CLASS_NONE, 0}};
    ck_assert_uint_eq(pw_plan_pick(none, 1), X);
    ck_assert_uint_eq(pw_plan_pick(none, 0), X);
}
END_TEST

START_TEST(the_eta_counts_only_what_is_left_of_the_running_job)
{
    ck_assert(pw_plan_eta(0, NAN, NAN) == 0);
    ck_assert(pw_plan_eta(3, 10, NAN) == 30); /* nothing running: whole jobs */
    ck_assert(pw_plan_eta(3, 10, 4) == 26);   /* 2 waiting + 6 s left of the running one */
    ck_assert(pw_plan_eta(1, 10, 25) == 0);   /* running longer than the mean: none left */
    ck_assert(isnan(pw_plan_eta(2, NAN, 1))); /* no mean yet: unknown */
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
    tcase_add_test(tc, the_newest_checkpoint_goes_before_the_backlog);
    tcase_add_test(tc,
                   a_long_backlog_makes_the_live_pair_skip_to_the_last_scored_then_fill_redoes_it);
    tcase_add_test(tc, skip_drops_what_the_live_pair_passed_over);
    tcase_add_test(tc, the_backfill_against_the_final_comes_last);
    tcase_add_test(tc, live_work_goes_round_robin_between_runs);
    tcase_add_test(tc, the_eta_counts_only_what_is_left_of_the_running_job);
    suite_add_tcase(s, tc);
    return s;
}
