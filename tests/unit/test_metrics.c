/* test_metrics.c -- the metric names, labels and values a dashboard reads,
 * rendered from a snapshot as the daemon fills it. */
#include <math.h>
#include <string.h>

#include "pw_metrics.h"
#include "pw_test.h"

/* 1 when text has the line (exactly, from its start to its newline). */
static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
            return 1;
    return 0;
}

#define ASSERT_LINE(text, line)    ck_assert_msg(has_line(text, line), "missing line: %s", line)
#define ASSERT_NO_LINE(text, line) ck_assert_msg(!has_line(text, line), "unexpected line: %s", line)

START_TEST(snapshot_renders_every_documented_metric)
{
    pw_metrics_layer layers[2] = {
        {"run-a", "conv1", 0.004, 0.125, 1, 1200, 1, 0, 0.0005, NAN, 1, 0.75},
        {"run-a", "fc\"2\"", 0.5, NAN, 0, -1, 0, 102, NAN, NAN, 0, NAN},
    };
    pw_metrics_snapshot s;
    memset(&s, 0, sizeof s);
    s.layers = layers;
    s.nlayers = 2;
    s.checkpoints_processed = 40;
    s.checkpoints_failed = 1;
    s.alerts[PW_METRICS_ALERT_LAYER_STABLE] = 3;
    s.alerts[PW_METRICS_ALERT_RUN_CONVERGED] = 1;
    s.queue_length = 7;
    s.retained_bytes = 3435973837; /* 3.2 GiB: above 2^31, printed as an integer */
    s.retained_copies = 812;
    s.retain_budget_bytes = 4294967296;
    s.retain_evictions = 14;
    pw_metrics_hist_observe(&s.compute, 0.02);
    pw_metrics_hist_observe(&s.compute, 0.02);
    pw_metrics_hist_observe(&s.compute, 3);
    pw_metrics_hist_observe(&s.compute, 1000); /* above every bound: only +Inf and count */

    pw_promtext t;
    pw_err e;
    pw_promtext_init(&t);
    PW_ASSERT_OK(pw_metrics_render(&s, &t, &e), &e);
    const char *x = t.buf;
    ASSERT_LINE(x, "# TYPE pwccad_layer_distance gauge");
    ASSERT_LINE(x, "pwccad_layer_distance{run=\"run-a\",layer=\"conv1\",ref=\"previous\"} 0.004");
    ASSERT_LINE(x, "pwccad_layer_distance{run=\"run-a\",layer=\"conv1\",ref=\"final\"} 0.125");
    ASSERT_LINE(x,
                "pwccad_layer_distance{run=\"run-a\",layer=\"fc\\\"2\\\"\",ref=\"previous\"} 0.5");
    /* no final reference yet: no sample rather than NaN */
    ck_assert_ptr_null(strstr(x, "layer=\"fc\\\"2\\\"\",ref=\"final\""));
    ASSERT_LINE(x, "# TYPE pwccad_layer_stable gauge");
    ASSERT_LINE(x, "pwccad_layer_stable{run=\"run-a\",layer=\"conv1\"} 1");
    ASSERT_LINE(x, "pwccad_layer_stable{run=\"run-a\",layer=\"fc\\\"2\\\"\"} 0");
    ASSERT_LINE(x, "# TYPE pwccad_layer_stable_step gauge");
    ASSERT_LINE(x, "pwccad_layer_stable_step{run=\"run-a\",layer=\"conv1\"} 1200");
    ASSERT_NO_LINE(x, "pwccad_layer_stable_step{run=\"run-a\",layer=\"fc\\\"2\\\"\"} -1");
    ASSERT_LINE(x, "# TYPE pwccad_layer_measured gauge");
    ASSERT_LINE(x, "pwccad_layer_measured{run=\"run-a\",layer=\"conv1\"} 1");
    ASSERT_LINE(x, "pwccad_layer_measured{run=\"run-a\",layer=\"fc\\\"2\\\"\"} 0");
    ASSERT_LINE(x, "# TYPE pwccad_layer_reduced_dims gauge");
    ASSERT_LINE(x, "pwccad_layer_reduced_dims{run=\"run-a\",layer=\"fc\\\"2\\\"\"} 102");
    /* exact: no sample */
    ck_assert_ptr_null(strstr(x, "pwccad_layer_reduced_dims{run=\"run-a\",layer=\"conv1\"}"));
    ASSERT_LINE(x, "# TYPE pwccad_layer_distance_se gauge");
    ASSERT_LINE(x,
                "pwccad_layer_distance_se{run=\"run-a\",layer=\"conv1\",ref=\"previous\"} 0.0005");
    /* no SE for that score: no sample */
    ck_assert_ptr_null(
        strstr(x, "pwccad_layer_distance_se{run=\"run-a\",layer=\"conv1\",ref=\"final\"}"));
    ck_assert_ptr_null(strstr(x, "pwccad_layer_distance_se{run=\"run-a\",layer=\"fc"));
    ASSERT_LINE(x, "# TYPE pwccad_layer_chance_distance gauge");
    ASSERT_LINE(x, "pwccad_layer_chance_distance{run=\"run-a\",layer=\"conv1\"} 0.75");
    /* no chance level yet: no sample */
    ck_assert_ptr_null(strstr(x, "pwccad_layer_chance_distance{run=\"run-a\",layer=\"fc"));
    ASSERT_LINE(x, "# TYPE pwccad_checkpoints_processed_total counter");
    ASSERT_LINE(x, "pwccad_checkpoints_processed_total 40");
    ASSERT_LINE(x, "pwccad_checkpoints_failed_total 1");
    ASSERT_LINE(x, "# TYPE pwccad_alerts_total counter");
    ASSERT_LINE(x, "pwccad_alerts_total{kind=\"layer_stable\"} 3");
    ASSERT_LINE(x, "pwccad_alerts_total{kind=\"layer_unstable\"} 0");
    ASSERT_LINE(x, "pwccad_alerts_total{kind=\"run_converged\"} 1");
    ASSERT_LINE(x, "# TYPE pwccad_compute_seconds histogram");
    ASSERT_LINE(x, "pwccad_compute_seconds_bucket{le=\"0.01\"} 0");
    ASSERT_LINE(x, "pwccad_compute_seconds_bucket{le=\"0.05\"} 2");
    ASSERT_LINE(x, "pwccad_compute_seconds_bucket{le=\"2.5\"} 2");
    ASSERT_LINE(x, "pwccad_compute_seconds_bucket{le=\"5\"} 3");
    ASSERT_LINE(x, "pwccad_compute_seconds_bucket{le=\"300\"} 3");
    ASSERT_LINE(x, "pwccad_compute_seconds_bucket{le=\"+Inf\"} 4");
    ASSERT_LINE(x, "pwccad_compute_seconds_sum 1003.04");
    ASSERT_LINE(x, "pwccad_compute_seconds_count 4");
    ASSERT_LINE(x, "# TYPE pwccad_queue_length gauge");
    ASSERT_LINE(x, "pwccad_queue_length 7");
    ASSERT_LINE(x, "# TYPE pwccad_retained_bytes gauge");
    ASSERT_LINE(x, "pwccad_retained_bytes 3435973837");
    ASSERT_LINE(x, "# TYPE pwccad_retained_copies gauge");
    ASSERT_LINE(x, "pwccad_retained_copies 812");
    ASSERT_LINE(x, "# TYPE pwccad_retain_budget_bytes gauge");
    ASSERT_LINE(x, "pwccad_retain_budget_bytes 4294967296");
    ASSERT_LINE(x, "# TYPE pwccad_retain_evictions_total counter");
    ASSERT_LINE(x, "pwccad_retain_evictions_total 14");
    ck_assert_ptr_nonnull(strstr(x, "# HELP pwccad_retain_evictions_total "));
    pw_promtext_free(&t);
}
END_TEST

START_TEST(empty_snapshot_still_has_counters_and_families)
{
    pw_metrics_snapshot s;
    memset(&s, 0, sizeof s);
    pw_promtext t;
    pw_err e;
    pw_promtext_init(&t);
    PW_ASSERT_OK(pw_metrics_render(&s, &t, &e), &e);
    ASSERT_LINE(t.buf, "# TYPE pwccad_layer_distance gauge");
    ASSERT_LINE(t.buf, "pwccad_checkpoints_processed_total 0");
    ASSERT_LINE(t.buf, "pwccad_alerts_total{kind=\"layer_unstable\"} 0");
    ASSERT_LINE(t.buf, "pwccad_compute_seconds_count 0");
    ASSERT_LINE(t.buf, "pwccad_queue_length 0");
    /* retention off: its families are there all the same, at zero */
    ASSERT_LINE(t.buf, "pwccad_retained_bytes 0");
    ASSERT_LINE(t.buf, "pwccad_retained_copies 0");
    ASSERT_LINE(t.buf, "pwccad_retain_budget_bytes 0");
    ASSERT_LINE(t.buf, "pwccad_retain_evictions_total 0");
    pw_promtext_free(&t);
}
END_TEST

START_TEST(bad_snapshots_are_refused)
{
    pw_metrics_layer nameless = {"run", NULL, 0.1, NAN, 0, 0, 1, 0, NAN, NAN, 0, NAN};
    pw_metrics_snapshot s;
    memset(&s, 0, sizeof s);
    s.layers = &nameless;
    s.nlayers = 1;
    pw_promtext t;
    pw_err e;
    pw_promtext_init(&t);
    PW_ASSERT_FAILS_WITH(pw_metrics_render(&s, &t, &e), &e, "entry 0");
    /* rendering twice into one exposition would repeat every family */
    s.nlayers = 0;
    PW_ASSERT_OK(pw_metrics_render(&s, &t, &e), &e);
    PW_ASSERT_FAILS_WITH(pw_metrics_render(&s, &t, &e), &e, "already written");
    pw_promtext_free(&t);
}
END_TEST

START_TEST(alert_kinds_and_histogram_observations)
{
    ck_assert_int_eq(pw_metrics_alert_index("layer_stable"), PW_METRICS_ALERT_LAYER_STABLE);
    ck_assert_int_eq(pw_metrics_alert_index("layer_unstable"), PW_METRICS_ALERT_LAYER_UNSTABLE);
    ck_assert_int_eq(pw_metrics_alert_index("run_converged"), PW_METRICS_ALERT_RUN_CONVERGED);
    ck_assert_int_eq(pw_metrics_alert_index("nope"), -1);
    pw_metrics_hist h;
    memset(&h, 0, sizeof h);
    pw_metrics_hist_observe(&h, 0.01); /* on a bound: that bucket (le is <=) */
    pw_metrics_hist_observe(&h, -5);   /* clock went backwards: counted as 0 */
    pw_metrics_hist_observe(&h, NAN);
    ck_assert_uint_eq(h.buckets[0], 3);
    ck_assert_uint_eq(h.count, 3);
    PW_ASSERT_NEAR(h.sum, 0.01, 0);
}
END_TEST

START_TEST(where_each_run_stands)
{
    pw_metrics_run runs[2] = {
        {"run-a", 3, 2.5, 2, 4.25, 6, 1.5},
        {"run-b", 0, NAN, NAN, NAN, 0, NAN}, /* nothing computed yet, nothing running */
    };
    pw_metrics_snapshot s;
    memset(&s, 0, sizeof s);
    s.runs = runs;
    s.nruns = 2;
    pw_promtext t;
    pw_err e;
    pw_promtext_init(&t);
    PW_ASSERT_OK(pw_metrics_render(&s, &t, &e), &e);
    const char *x = t.buf;
    ASSERT_LINE(x, "# TYPE pwccad_run_queue_length gauge");
    ASSERT_LINE(x, "pwccad_run_queue_length{run=\"run-a\"} 3");
    ASSERT_LINE(x, "pwccad_run_queue_length{run=\"run-b\"} 0");
    ASSERT_LINE(x, "pwccad_run_compute_seconds_last{run=\"run-a\"} 2.5");
    ASSERT_NO_LINE(x, "pwccad_run_compute_seconds_last{run=\"run-b\"} NaN");
    ASSERT_LINE(x, "pwccad_run_compute_seconds_mean{run=\"run-a\"} 2");
    ASSERT_LINE(x, "pwccad_run_live_lag_seconds{run=\"run-a\"} 4.25");
    ASSERT_LINE(x, "pwccad_run_eta_seconds{run=\"run-a\"} 6");
    ASSERT_LINE(x, "pwccad_run_eta_seconds{run=\"run-b\"} 0");
    ASSERT_LINE(x, "pwccad_run_job_elapsed_seconds{run=\"run-a\"} 1.5");
    ASSERT_LINE(x, "# TYPE pwccad_run_job_elapsed_seconds gauge");
    ck_assert_ptr_null(strstr(x, "pwccad_run_job_elapsed_seconds{run=\"run-b\"}"));
    pw_promtext_free(&t);
    runs[1].run = NULL;
    pw_promtext_init(&t);
    ck_assert_int_ne(pw_metrics_render(&s, &t, &e), 0);
    pw_promtext_free(&t);
}
END_TEST

Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, snapshot_renders_every_documented_metric);
    tcase_add_test(tc, empty_snapshot_still_has_counters_and_families);
    tcase_add_test(tc, bad_snapshots_are_refused);
    tcase_add_test(tc, alert_kinds_and_histogram_observations);
    tcase_add_test(tc, where_each_run_stands);
    suite_add_tcase(s, tc);
    return s;
}
