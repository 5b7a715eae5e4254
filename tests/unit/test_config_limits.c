/* test_config_limits.c -- the config file as hostile input: lines longer than
 * libinih's buffer, cut section names, NUL bytes, huge files, numbers out of
 * range.  Each is an error naming file, line and key, and none changes a
 * value behind the user's back. */
#include <stdio.h>
#include <string.h>

#include "pw_config.h"
#include "pw_test.h"
#include "pw_testfile.h"

/* A config with defaults; ~800 KB, so static, one per test process. */
static pw_config *fresh(void)
{
    static pw_config c;
    pw_config_free(&c);
    pw_config_defaults(&c);
    return &c;
}

/* name's bytes written to a file in the suite's temporary directory. */
static const char *write_file(const char *name, const char *data, size_t len)
{
    const char *path = tf_path(name);
    tf_write(path, data, len);
    return path;
}

START_TEST(a_long_line_cannot_smuggle_in_a_key)
{
    /* libinih would cut this after 198 bytes and read "db = /tmp/evil" as a line. */
    char text[400];
    int n = snprintf(text, sizeof text, "settle_time = 1\nwatch = /");
    memset(text + n, 'a', 189);
    snprintf(text + n + 189, sizeof text - (size_t)n - 189, "db = /tmp/evil\n");
    pw_config *c = fresh();
    pw_err e;
    PW_ASSERT_FAILS_WITH(pw_config_load_string(c, "t.conf", text, &e), &e,
                         "t.conf:2: line is 212 bytes, more than 197");
    ck_assert_str_eq(c->db, "");
    ck_assert_uint_eq(c->nwatch, 0);
}
END_TEST

START_TEST(a_line_of_the_longest_length_is_read_whole)
{
    char text[400], want[200];
    int n = snprintf(text, sizeof text, "watch = /");
    memset(text + n, 'b', PW_CFG_MAX_LINE - (size_t)n);
    snprintf(text + PW_CFG_MAX_LINE, sizeof text - PW_CFG_MAX_LINE, "\r\nworkers = 3\r\n");
    memcpy(want, text + 8, PW_CFG_MAX_LINE - 8);
    want[PW_CFG_MAX_LINE - 8] = '\0';
    pw_config *c = fresh();
    pw_err e;
    PW_ASSERT_OK(pw_config_load_string(c, "t.conf", text, &e), &e);
    ck_assert_uint_eq(c->nwatch, 1);
    ck_assert_str_eq(c->watch[0], want);
    ck_assert_int_eq(c->workers, 3);
}
END_TEST

START_TEST(a_long_section_name_is_refused_not_cut)
{
    pw_config *c = fresh();
    pw_err e;
    PW_ASSERT_FAILS_WITH(
        pw_config_load_string(
            c, "t.conf",
            "# runs\n[run /data/experiments/2024/a-rather-long-run-directory-name-1]\n", &e),
        &e, "t.conf:2: section name is 61 bytes, more than 49");
    /* 49 bytes are kept exactly and find their run. */
    c = fresh();
    const char *name = "run-name-of-exactly-forty-five-bytes-long-xyz";
    char text[200];
    ck_assert_uint_eq(strlen(name), 45);
    snprintf(text, sizeof text, "[run %s]\nsettle_time = 9\n", name);
    PW_ASSERT_OK(pw_config_load_string(c, "t.conf", text, &e), &e);
    PW_ASSERT_NEAR(pw_config_for_run(c, name, "/x")->settle_s, 9, 0);
}
END_TEST

START_TEST(durations_are_bounded)
{
    static const struct {
        const char *text;   /* config */
        const char *needle; /* expected message */
    } cases[] = {
        {"settle_time = 1e300\n", "t.conf:1: settle_time must be seconds from 0 to 31622400, "
                                  "not '1e300'"},
        {"\n[run r]\nincomplete_timeout = 31622401\n", "t.conf:3: incomplete_timeout must be"},
        {"rescan_interval = 1e400\n", "t.conf:1: rescan_interval must be seconds from 0.05"},
        {"rescan_interval = 0.01\n", "rescan_interval must be"},
        {"hook_timeout = inf\n", "t.conf:1: hook_timeout must be seconds from 0.1 to 31622400"},
        {"socket_idle_timeout = 0\n", "t.conf:1: socket_idle_timeout must be seconds from 0.1"},
        {"settle_time = nan\n", "settle_time must be"},
        {"settle_time = -1\n", "settle_time must be"},
        {"settle_time = 5s\n", "settle_time must be"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pw_config *c = fresh();
        pw_err e;
        PW_ASSERT_FAILS_WITH(pw_config_load_string(c, "t.conf", cases[i].text, &e), &e,
                             cases[i].needle);
    }
    pw_config *c = fresh();
    pw_err e;
    PW_ASSERT_OK(
        pw_config_load_string(c, "t.conf", "rescan_interval = 31622400\nsettle_time = 0\n", &e),
        &e);
    PW_ASSERT_NEAR(c->rescan_s, 31622400, 0);
}
END_TEST

START_TEST(integers_are_bounded)
{
    pw_config *c = fresh();
    pw_err e;
    PW_ASSERT_FAILS_WITH(
        pw_config_load_string(c, "t.conf", "workers = 99999999999999999999999\n", &e), &e,
        "t.conf:1: workers must be an integer 0..256");
    PW_ASSERT_FAILS_WITH(pw_config_load_string(fresh(), "t.conf", "cache_mb = 1073741825\n", &e),
                         &e, "t.conf:1: cache_mb must be");
    PW_ASSERT_FAILS_WITH(pw_config_load_string(fresh(), "t.conf", "stable_count = 0x10\n", &e), &e,
                         "t.conf:1: stable_count must be an integer >= 1");
    c = fresh();
    PW_ASSERT_OK(pw_config_load_string(c, "t.conf", "cache_mb = 1073741824\n", &e), &e);
    ck_assert(c->cache_bytes == (uint64_t)1 << 50);
}
END_TEST

START_TEST(repeated_sections_merge_and_lists_are_capped)
{
    pw_config *c = fresh();
    pw_err e;
    PW_ASSERT_OK(pw_config_load_string(c, "t.conf",
                                       "[run a]\nsettle_time = 7\n[pwccad]\nworkers = 1\n"
                                       "[run a]\nstable_count = 5\n",
                                       &e),
                 &e);
    ck_assert_uint_eq(c->noverrides, 1);
    const pw_run_config *r = pw_config_for_run(c, "a", "/runs/a");
    PW_ASSERT_NEAR(r->settle_s, 7, 0);
    ck_assert_int_eq(r->stab.k, 5);

    static char text[PW_CFG_MAX_RUNS * 40];
    size_t n = 0;
    for (int i = 0; i <= PW_CFG_MAX_RUNS; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "[run r%d]\nsettle_time = 1\n", i);
    PW_ASSERT_FAILS_WITH(pw_config_load_string(fresh(), "t.conf", text, &e), &e,
                         "t.conf:514: too many [run] sections");
    n = 0;
    for (int i = 0; i <= PW_CFG_MAX_LIST; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "watch = /r%d\n", i);
    PW_ASSERT_FAILS_WITH(pw_config_load_string(fresh(), "t.conf", text, &e), &e,
                         "t.conf:65: more than 64 watch entries");
}
END_TEST

START_TEST(files_get_the_same_checks_and_more)
{
    pw_err e;
    /* A NUL would end the text libinih sees: the rest of the file would vanish. */
    const char *p = write_file("nul.conf", "workers = 2\nwatch = /a\0db = /evil\n", 34);
    PW_ASSERT_FAILS_WITH(pw_config_load(fresh(), p, &e), &e, "nul.conf:2: NUL byte");
    char text[300];
    memset(text, '#', sizeof text);
    text[sizeof text - 1] = '\n';
    p = write_file("long.conf", text, sizeof text);
    PW_ASSERT_FAILS_WITH(pw_config_load(fresh(), p, &e), &e, "long.conf:1: line is 299 bytes");
    PW_ASSERT_FAILS_WITH(pw_config_load(fresh(), pw_test_tmpdir(), &e), &e,
                         "cannot read: Is a directory");

    /* Bigger than the buffer's first size, and past the limit. */
    static char big[PW_CFG_MAX_FILE + 100];
    memset(big, '\n', sizeof big);
    for (size_t i = 0; i + 50 <= sizeof big; i += 50)
        memcpy(big + i, "# a comment line of fifty bytes, padded out to 50\n", 50);
    size_t last = (PW_CFG_MAX_FILE / 50 - 1) * 50; /* a line start near the limit */
    memcpy(big + last, "workers = 4\n", 12);
    p = write_file("big.conf", big, last + 12);
    pw_config *c = fresh();
    PW_ASSERT_OK(pw_config_load(c, p, &e), &e);
    ck_assert_int_eq(c->workers, 4);
    p = write_file("huge.conf", big, sizeof big);
    PW_ASSERT_FAILS_WITH(pw_config_load(fresh(), p, &e), &e, "huge.conf: more than 1048576 bytes");
}
END_TEST

Suite *config_limits_suite(void)
{
    Suite *s = suite_create("config_limits");
    TCase *tc = tcase_create("config_limits");
    tcase_add_test(tc, a_long_line_cannot_smuggle_in_a_key);
    tcase_add_test(tc, a_line_of_the_longest_length_is_read_whole);
    tcase_add_test(tc, a_long_section_name_is_refused_not_cut);
    tcase_add_test(tc, durations_are_bounded);
    tcase_add_test(tc, integers_are_bounded);
    tcase_add_test(tc, repeated_sections_merge_and_lists_are_capped);
    tcase_add_test(tc, files_get_the_same_checks_and_more);
    suite_add_tcase(s, tc);
    return s;
}
