/* test_config.c -- the INI file: every key, per-run overrides, errors at file:line. */
#include <string.h>

#include "pw_config.h"
#include "pw_engine.h"
#include "pw_metric.h"
#include "pw_plan.h"
#include "pw_test.h"

START_TEST(defaults_are_documented_values)
{
    pw_config c;
    pw_config_defaults(&c);
    PW_ASSERT_NEAR(c.defaults.settle_s, 2.0, 0);
    PW_ASSERT_NEAR(c.rescan_s, 5.0, 0);
    ck_assert_uint_eq(c.defaults.metrics, PW_M_ALL);
    ck_assert_int_eq(c.defaults.stab.k, 3);
    ck_assert_uint_eq(c.nhook, 0);
    ck_assert_str_eq(c.metrics_listen, ""); /* no endpoint unless asked for */
    pw_config_free(&c);
}
END_TEST

START_TEST(every_key_is_read)
{
    const char *text = "# comment\n"
                       "[pwccad]\n"
                       "db = /tmp/x.db\n"
                       "socket = /tmp/x.sock\n"
                       "metrics_listen = [::1]:9464\n"
                       "watch = /runs\n"
                       "watch = /more\n"
                       "run = /one\n"
                       "pattern = step-*\n"
                       "settle_time = 0.5\n"
                       "incomplete_timeout = 3\n"
                       "rescan_interval = 1.5\n"
                       "workers = 2\n"
                       "blas_threads = 1\n"
                       "cache_mb = 64\n"
                       "stable_threshold = 0.05\n"
                       "stable_count = 4\n"
                       "unstable_threshold = 0.1\n"
                       "hook = /usr/bin/logger -t pwccad\n"
                       "hook_timeout = 7\n"
                       "metrics = pwcca, cka\n"
                       "log_level = debug\n";
    pw_config c;
    pw_err e;
    pw_config_defaults(&c);
    PW_ASSERT_OK(pw_config_load_string(&c, "t.conf", text, &e), &e);
    ck_assert_str_eq(c.db, "/tmp/x.db");
    ck_assert_str_eq(c.socket, "/tmp/x.sock");
    ck_assert_str_eq(c.metrics_listen, "[::1]:9464");
    ck_assert_uint_eq(c.nwatch, 2);
    ck_assert_str_eq(c.watch[1], "/more");
    ck_assert_uint_eq(c.nruns, 1);
    ck_assert_str_eq(c.defaults.pattern, "step-*");
    PW_ASSERT_NEAR(c.defaults.settle_s, 0.5, 0);
    PW_ASSERT_NEAR(c.defaults.incomplete_s, 3, 0);
    PW_ASSERT_NEAR(c.rescan_s, 1.5, 0);
    ck_assert_int_eq(c.workers, 2);
    ck_assert_int_eq(c.blas_threads, 1);
    ck_assert_uint_eq(c.cache_bytes, 64u << 20);
    PW_ASSERT_NEAR(c.defaults.stab.theta, 0.05, 0);
    ck_assert_int_eq(c.defaults.stab.k, 4);
    PW_ASSERT_NEAR(c.defaults.stab.hysteresis, 0.1, 0);
    ck_assert_uint_eq(c.nhook, 3);
    ck_assert_str_eq(c.hook[0], "/usr/bin/logger");
    ck_assert_str_eq(c.hook[2], "pwccad");
    PW_ASSERT_NEAR(c.hook_timeout_s, 7, 0);
    ck_assert_uint_eq(c.defaults.metrics, PW_M_PWCCA | PW_M_CKA);
    ck_assert_int_eq(c.log_level, 3);
    pw_config_free(&c);
}
END_TEST

START_TEST(run_sections_override)
{
    const char *text = "stable_threshold = 0.02\nunstable_threshold = 0.05\n"
                       "[run big]\nstable_count = 7\nsettle_time = 10\n"
                       "[run /abs/path]\npattern = ckpt*\n[run fast]\nbacklog = skip\n";
    pw_config c;
    pw_err e;
    pw_config_defaults(&c);
    PW_ASSERT_OK(pw_config_load_string(&c, "t.conf", text, &e), &e);
    const pw_run_config *r = pw_config_for_run(&c, "big", "/x/big");
    ck_assert_int_eq(r->stab.k, 7);
    PW_ASSERT_NEAR(r->stab.theta, 0.02, 0); /* not overridden: the global value */
    PW_ASSERT_NEAR(r->settle_s, 10, 0);
    ck_assert_str_eq(r->pattern, "");
    r = pw_config_for_run(&c, "path", "/abs/path");
    ck_assert_str_eq(r->pattern, "ckpt*");
    ck_assert_int_eq(r->stab.k, 3);
    r = pw_config_for_run(&c, "other", "/x/other");
    ck_assert_int_eq(r->stab.k, 3);
    ck_assert_int_eq(r->backlog, PW_BACKLOG_FILL); /* the default */
    ck_assert_int_eq(pw_config_for_run(&c, "fast", "/x/fast")->backlog, PW_BACKLOG_SKIP);
    ck_assert_int_eq(pw_config_for_run(&c, "big", "/x/big")->backlog, PW_BACKLOG_FILL);
    pw_config_free(&c);
}
END_TEST

START_TEST(stable_rule_per_run)
{
    const char *text = "stable_z = 3\n[run noisy]\nstable_rule = noise\n"
                       "[run z1]\nstable_rule = noise\nstable_z = 1\n";
    pw_config c;
    pw_err e;
    pw_config_defaults(&c);
    ck_assert_int_eq(c.defaults.stab.rule, PW_STAB_RULE_THRESHOLD); /* the default */
    PW_ASSERT_NEAR(c.defaults.stab.z, 2, 0);
    PW_ASSERT_OK(pw_config_load_string(&c, "t.conf", text, &e), &e);
    const pw_run_config *r = pw_config_for_run(&c, "noisy", "/x/noisy");
    ck_assert_int_eq(r->stab.rule, PW_STAB_RULE_NOISE);
    PW_ASSERT_NEAR(r->stab.z, 3, 0); /* the global value */
    r = pw_config_for_run(&c, "z1", "/x/z1");
    PW_ASSERT_NEAR(r->stab.z, 1, 0);
    ck_assert_int_eq(pw_config_for_run(&c, "other", "/x/other")->stab.rule, PW_STAB_RULE_THRESHOLD);
    pw_config_free(&c);
}
END_TEST

/* chance: on by default, off per run or globally, an override of another key leaves it. */
START_TEST(chance_is_a_per_run_key)
{
    pw_config c;
    pw_err e;
    pw_config_defaults(&c);
    ck_assert_int_eq(c.defaults.chance, 1);
    PW_ASSERT_OK(pw_config_load_string(&c, "t.conf",
                                       "[run quiet]\nchance = off\n"
                                       "[run other]\nsettle_time = 1\n",
                                       &e),
                 &e);
    ck_assert_int_eq(pw_config_for_run(&c, "quiet", "/x/quiet")->chance, 0);
    ck_assert_int_eq(pw_config_for_run(&c, "other", "/x/other")->chance, 1);
    ck_assert_int_eq(pw_config_for_run(&c, "new", "/x/new")->chance, 1);
    pw_config_free(&c);
    pw_config_defaults(&c);
    PW_ASSERT_OK(pw_config_load_string(&c, "t.conf", "chance = off\n[run on]\nchance = on\n", &e),
                 &e);
    ck_assert_int_eq(pw_config_for_run(&c, "x", "/x/x")->chance, 0);
    ck_assert_int_eq(pw_config_for_run(&c, "on", "/x/on")->chance, 1);
    pw_config_free(&c);
}
END_TEST

static void expect_error(const char *text, const char *needle)
{
    pw_config c;
    pw_err e;
    pw_config_defaults(&c);
    PW_ASSERT_FAILS_WITH(pw_config_load_string(&c, "bad.conf", text, &e), &e, needle);
    pw_config_free(&c);
}

START_TEST(errors_name_file_and_line)
{
    expect_error("settle_time = 1\n\nfrobnicate = 3\n", "bad.conf:3: unknown key 'frobnicate'");
    expect_error("[daemon]\nworkers = 1\n", "bad.conf:2: unknown section [daemon]");
    expect_error("workers = many\n", "bad.conf:1: workers must be an integer");
    expect_error("metrics = pwcca,nope\n", "bad.conf:1: metrics must list");
    expect_error("[run x]\nhook = /bin/true\n", "bad.conf:2: key 'hook' cannot be set per run");
    expect_error("[run x]\nbacklog = drop\n", "bad.conf:2: backlog must be fill or skip");
    expect_error("stable_threshold = 0.5\n", "unstable_threshold (0.02) must be >=");
    expect_error("[run x]\nunstable_threshold = 0.001\n", "[run x]");
    expect_error("stable_rule = bands\n", "bad.conf:1: stable_rule must be threshold or noise");
    expect_error("[run x]\nchance = yes\n", "bad.conf:2: chance must be on or off");
    expect_error("[run x]\nstable_z = -1\n", "bad.conf:2: stable_z must be a number");
    expect_error("stable_z = 11\n", "bad.conf:1: stable_z must be a number from 0 to 10");
    expect_error("settle_time = -1\n", "bad.conf:1: settle_time");
    expect_error("metrics_listen = 127.0.0.1:99999\n", "bad.conf:1: metrics_listen: metrics "
                                                       "address '127.0.0.1:99999': port must be");
    expect_error("metrics_listen = prometheus.lan:9464\n", "names are not resolved");
    expect_error("metrics_listen = ::1:9464\n", "in brackets");
}
END_TEST

/* The config key and `pwcca compare --metrics` share one parser, so both take
 * "all" and blanks after the commas (issue #16: the config refused "all", compare
 * refused the blank). */
START_TEST(metrics_lists_parse_alike_in_config_and_compare)
{
    static const struct {
        const char *list; /* as written */
        unsigned bits;    /* what it selects */
    } ok[] = {{"all", PW_M_ALL},
              {"pwcca, cka", PW_M_PWCCA | PW_M_CKA},
              {"svcca ,\tmean_cca", PW_M_SVCCA | PW_M_MEAN_CCA},
              {"cka, all", PW_M_ALL}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        unsigned m = 0;
        pw_err e;
        PW_ASSERT_OK(pw_metric_set_parse(ok[i].list, &m, &e), &e);
        ck_assert_uint_eq(m, ok[i].bits);

        char text[128];
        snprintf(text, sizeof text, "metrics = %s\n[run r]\nmetrics = %s\n", ok[i].list,
                 ok[i].list);
        pw_config c;
        pw_config_defaults(&c);
        PW_ASSERT_OK(pw_config_load_string(&c, "t.conf", text, &e), &e);
        ck_assert_uint_eq(c.defaults.metrics, ok[i].bits);
        ck_assert_uint_eq(pw_config_for_run(&c, "r", "/x/r")->metrics, ok[i].bits);
        pw_config_free(&c);
    }
    /* distance is reported, not selected (it comes with pwcca); an empty item is a typo. */
    static const char *const bad[] = {"distance", "pwcca,,cka", "", "pwcca, nope"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned m = 0;
        pw_err e;
        PW_ASSERT_FAILS_WITH(pw_metric_set_parse(bad[i], &m, &e), &e, "unknown metric");
        PW_ASSERT_FAILS_WITH(pw_metric_set_parse(bad[i], &m, &e), &e, "known: pwcca, mean_cca");
        char text[64];
        snprintf(text, sizeof text, "metrics = %s\n", bad[i]);
        expect_error(text, "bad.conf:1: metrics must list");
    }
}
END_TEST

START_TEST(missing_file_is_an_error)
{
    pw_config c;
    pw_err e;
    pw_config_defaults(&c);
    PW_ASSERT_FAILS_WITH(pw_config_load(&c, "/nonexistent/pwccad.conf", &e), &e,
                         "/nonexistent/pwccad.conf: cannot open");
    PW_ASSERT_FAILS_WITH(pw_config_set(&c, "nope", "1", &e), &e, "unknown key 'nope'");
    PW_ASSERT_OK(pw_config_set(&c, "rescan_interval", "0.2", &e), &e);
    PW_ASSERT_NEAR(c.rescan_s, 0.2, 0);
    PW_ASSERT_OK(pw_config_set(&c, "metrics_listen", "9464", &e), &e);
    ck_assert_str_eq(c.metrics_listen, "9464");
    PW_ASSERT_OK(pw_config_set(&c, "metrics_listen", "", &e), &e); /* empty: off again */
    ck_assert_str_eq(c.metrics_listen, "");
    pw_config_free(&c);
}
END_TEST

START_TEST(lease_is_seconds_within_its_range)
{
    pw_config c;
    pw_err e;
    pw_config_defaults(&c);
    ck_assert(c.lease_s == 0); /* unset: the daemon uses PW_CFG_DEFAULT_LEASE_S */
    PW_ASSERT_OK(pw_config_set(&c, "lease", "5", &e), &e);
    PW_ASSERT_NEAR(c.lease_s, 5, 0);
    /* Heartbeats come every lease/3: below 2 s a busy server would drop claims. */
    PW_ASSERT_FAILS_WITH(pw_config_set(&c, "lease", "1", &e), &e, "lease must be seconds from 2");
    PW_ASSERT_FAILS_WITH(pw_config_set(&c, "lease", "7200", &e), &e, "to 3600");
    PW_ASSERT_FAILS_WITH(pw_config_set(&c, "lease", "soon", &e), &e, "not 'soon'");
    PW_ASSERT_NEAR(c.lease_s, 5, 0); /* a refused value changes nothing */
    pw_config_free(&c);
}
END_TEST

START_TEST(shipped_example_is_valid_and_says_the_defaults)
{
    pw_config c, def;
    pw_err e;
    pw_config_defaults(&c);
    pw_config_defaults(&def);
    PW_ASSERT_OK(pw_config_load(&c, "examples/pwccad.conf", &e), &e);
    PW_ASSERT_NEAR(c.defaults.settle_s, def.defaults.settle_s, 0);
    PW_ASSERT_NEAR(c.defaults.incomplete_s, def.defaults.incomplete_s, 0);
    PW_ASSERT_NEAR(c.rescan_s, def.rescan_s, 0);
    ck_assert_uint_eq(c.cache_bytes, def.cache_bytes);
    ck_assert_uint_eq(c.defaults.metrics, def.defaults.metrics);
    PW_ASSERT_NEAR(c.defaults.stab.theta, def.defaults.stab.theta, 0);
    ck_assert_int_eq(c.defaults.stab.k, def.defaults.stab.k);
    PW_ASSERT_NEAR(c.defaults.stab.hysteresis, def.defaults.stab.hysteresis, 0);
    PW_ASSERT_NEAR(c.hook_timeout_s, def.hook_timeout_s, 0);
    PW_ASSERT_NEAR(c.socket_idle_s, def.socket_idle_s, 0);
    ck_assert_int_eq(c.workers, def.workers);
    ck_assert_int_eq(c.blas_threads, def.blas_threads);
    ck_assert_int_eq(c.log_level, def.log_level);
    ck_assert_str_eq(c.metrics_listen, def.metrics_listen);
    ck_assert(pw_reduce_equal(&c.defaults.reduce, &def.defaults.reduce));
    ck_assert_int_eq(c.defaults.backlog, def.defaults.backlog);
    ck_assert_int_eq(c.defaults.chance, def.defaults.chance);
    pw_config_free(&c);
}
END_TEST

/* reduce: auto by default, per run like metrics, and a bad mode names file:line. */
START_TEST(reduce_is_a_per_run_key)
{
    pw_config c;
    pw_err e;
    pw_config_defaults(&c);
    ck_assert_int_eq(c.defaults.reduce.kind, PW_REDUCE_AUTO);
    PW_ASSERT_OK(pw_config_load_string(&c, "t.conf",
                                       "reduce = dims:64\n"
                                       "[run exact]\nreduce = none\n"
                                       "[run share]\nreduce = var:0.99\n"
                                       "[run other]\nsettle_time = 1\n",
                                       &e),
                 &e);
    ck_assert_int_eq(c.defaults.reduce.kind, PW_REDUCE_DIMS);
    ck_assert_uint_eq(c.defaults.reduce.dims, 64);
    ck_assert_int_eq(pw_config_for_run(&c, "exact", "/x/exact")->reduce.kind, PW_REDUCE_NONE);
    const pw_run_config *r = pw_config_for_run(&c, "share", "/x/share");
    ck_assert_int_eq(r->reduce.kind, PW_REDUCE_VAR);
    PW_ASSERT_NEAR(r->reduce.var, 0.99, 0);
    /* A section that does not set it takes the global value. */
    r = pw_config_for_run(&c, "other", "/x/other");
    ck_assert_int_eq(r->reduce.kind, PW_REDUCE_DIMS);
    ck_assert_uint_eq(r->reduce.dims, 64);
    PW_ASSERT_OK(pw_config_set(&c, "reduce", " auto ", &e), &e);
    ck_assert_int_eq(c.defaults.reduce.kind, PW_REDUCE_AUTO);
    pw_config_free(&c);
    expect_error("workers = 1\nreduce = dims:0\n", "bad.conf:2: reduce: reduce mode 'dims:0'");
    expect_error("[run a]\nreduce = var:1.5\n", "bad.conf:2: reduce: reduce mode 'var:1.5'");
    expect_error("reduce = fast\n", "bad.conf:1: reduce: unknown reduce mode 'fast'");
}
END_TEST

/* libinih cuts a value at " ;": in a hook that would run a shorter command
 * than the line reads, so such a line is refused with its place. */
START_TEST(hook_with_inline_semicolon_is_refused)
{
    expect_error("workers = 1\nhook = /usr/bin/notify me ; /usr/bin/logger x\n",
                 "bad.conf:2: hook: ' ;' would start a comment");
    expect_error("hook: /bin/a\t;b\n", "bad.conf:1: hook: ' ;'");
    expect_error("  hook=/bin/a ;\n", "bad.conf:1: hook: ' ;'");
    pw_config c;
    pw_err e;
    pw_config_defaults(&c);
    /* A ';' inside a word is no comment and stays the hook's; other keys keep
     * their comments; a commented-out hook line is a comment. */
    PW_ASSERT_OK(pw_config_load_string(&c, "ok.conf",
                                       "; hook = x ; y\nhook = /bin/a;b c\n"
                                       "workers = 2 ; two threads\n",
                                       &e),
                 &e);
    ck_assert_uint_eq(c.nhook, 2);
    ck_assert_str_eq(c.hook[0], "/bin/a;b");
    ck_assert_str_eq(c.hook[1], "c");
    ck_assert_int_eq(c.workers, 2);
    pw_config_free(&c);
}
END_TEST

/* `watch = NAME=DIR` names a root; a plain DIR is named by its basename.  The
 * prefix is a name only when it is a valid one and DIR is absolute, so a path
 * holding '=' is still one directory.  Two roots of one name are an error at
 * the second one's line: in a shared store their runs would be one. */
START_TEST(watch_roots_are_named)
{
    pw_config c;
    pw_err e;
    pw_config_defaults(&c);
    PW_ASSERT_OK(pw_config_load_string(&c, "t.conf",
                                       "watch = share=/mnt/a/runs\n"
                                       "watch = /data/lr=0.1\n"
                                       "watch = runs=old/x\n"
                                       "watch = /srv/exp//\n"
                                       "watch = my share=/y\n"
                                       "watch = /\n",
                                       &e),
                 &e);
    ck_assert_uint_eq(c.nwatch, 6);
    ck_assert_str_eq(c.watch[0], "/mnt/a/runs");
    ck_assert_str_eq(c.watch_name[0], "share");
    ck_assert_str_eq(c.watch[1], "/data/lr=0.1");
    ck_assert_str_eq(c.watch_name[1], "lr=0.1");
    ck_assert_str_eq(c.watch[2], "runs=old/x"); /* relative: no name prefix */
    ck_assert_str_eq(c.watch_name[2], "x");
    ck_assert_str_eq(c.watch[3], "/srv/exp//");
    ck_assert_str_eq(c.watch_name[3], "exp");
    ck_assert_str_eq(c.watch[4], "my share=/y"); /* not a valid name: all of it is DIR */
    ck_assert_str_eq(c.watch_name[4], "y");
    ck_assert_str_eq(c.watch_name[5], "/");
    pw_config_free(&c);

    /* The command line's --watch takes the same value. */
    pw_config_defaults(&c);
    PW_ASSERT_OK(pw_config_set(&c, "watch", "share=/mnt/b/runs", &e), &e);
    PW_ASSERT_OK(pw_config_set(&c, "watch", "/mnt/b/other", &e), &e);
    ck_assert_str_eq(c.watch[0], "/mnt/b/runs");
    ck_assert_str_eq(c.watch_name[0], "share");
    ck_assert_str_eq(c.watch_name[1], "other");
    PW_ASSERT_FAILS_WITH(pw_config_set(&c, "watch", "other=/elsewhere", &e), &e,
                         "two roots named 'other'");
    ck_assert_uint_eq(c.nwatch, 2);
    pw_config_free(&c);

    expect_error("watch = /a/runs\nworkers = 1\nwatch = /b/runs/\n",
                 "bad.conf:3: watch: two roots named 'runs' (/a/runs and /b/runs/); name them "
                 "apart: watch = NAME=DIR");
    expect_error("watch = s=/a\nwatch = s=/b\n", "bad.conf:2: watch: two roots named 's'");
    expect_error("watch = /a/s\nwatch = s=/b\n", "bad.conf:2: watch: two roots named 's'");
    pw_config_defaults(&c);
    PW_ASSERT_OK(pw_config_load_string(&c, "t.conf", "watch = a=/x/runs\nwatch = /y/runs\n", &e),
                 &e);
    ck_assert_str_eq(c.watch_name[1], "runs");
    pw_config_free(&c);
    ck_assert_int_eq(pw_root_name_check("ok.name_1-x", &e), 0);
    PW_ASSERT_FAILS_WITH(pw_root_name_check("-x", &e), &e, "root name '-x' may hold only");
    PW_ASSERT_FAILS_WITH(pw_root_name_check("", &e), &e, "root name must be 1 to 255 bytes");
}
END_TEST

Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("ini");
    tcase_add_test(tc, defaults_are_documented_values);
    tcase_add_test(tc, every_key_is_read);
    tcase_add_test(tc, run_sections_override);
    tcase_add_test(tc, stable_rule_per_run);
    tcase_add_test(tc, errors_name_file_and_line);
    tcase_add_test(tc, metrics_lists_parse_alike_in_config_and_compare);
    tcase_add_test(tc, missing_file_is_an_error);
    tcase_add_test(tc, lease_is_seconds_within_its_range);
    tcase_add_test(tc, shipped_example_is_valid_and_says_the_defaults);
    tcase_add_test(tc, hook_with_inline_semicolon_is_refused);
    tcase_add_test(tc, reduce_is_a_per_run_key);
    tcase_add_test(tc, chance_is_a_per_run_key);
    tcase_add_test(tc, watch_roots_are_named);
    suite_add_tcase(s, tc);
    return s;
}
