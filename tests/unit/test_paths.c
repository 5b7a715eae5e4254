/* test_paths.c -- daemon and client find the same database and socket. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pw_paths.h"
#include "pw_test.h"

static void clear_env(void)
{
    const char *vars[] = {"PWCCAD_DB", "PWCCAD_SOCKET", "STATE_DIRECTORY", "RUNTIME_DIRECTORY",
                          "XDG_STATE_HOME", "XDG_RUNTIME_DIR"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
}

START_TEST(database_resolution_order)
{
    char buf[4096];
    pw_err e;
    clear_env();
    setenv("HOME", "/home/ada", 1);
    PW_ASSERT_OK(pw_paths_db(NULL, buf, sizeof buf, &e), &e);
    ck_assert_str_eq(buf, "/home/ada/.local/state/pwccad/pwccad.db");
    setenv("STATE_DIRECTORY", "/var/lib/pwccad:/var/lib/other", 1);
    PW_ASSERT_OK(pw_paths_db(NULL, buf, sizeof buf, &e), &e);
    ck_assert_str_eq(buf, "/var/lib/pwccad/pwccad.db");
    setenv("PWCCAD_DB", "/data/x.db", 1);
    PW_ASSERT_OK(pw_paths_db(NULL, buf, sizeof buf, &e), &e);
    ck_assert_str_eq(buf, "/data/x.db");
    PW_ASSERT_OK(pw_paths_db("flag.db", buf, sizeof buf, &e), &e);
    ck_assert_str_eq(buf, "flag.db");
}
END_TEST

START_TEST(socket_resolution_order_and_length)
{
    char buf[4096];
    pw_err e;
    clear_env();
    PW_ASSERT_OK(pw_paths_socket(NULL, buf, sizeof buf, &e), &e);
    ck_assert(strncmp(buf, "/tmp/pwccad-", 12) == 0);
    setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
    PW_ASSERT_OK(pw_paths_socket(NULL, buf, sizeof buf, &e), &e);
    ck_assert_str_eq(buf, "/run/user/1000/pwccad.sock");
    setenv("RUNTIME_DIRECTORY", "/run/pwccad", 1);
    PW_ASSERT_OK(pw_paths_socket(NULL, buf, sizeof buf, &e), &e);
    ck_assert_str_eq(buf, "/run/pwccad/pwccad.sock");
    char longp[300];
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    PW_ASSERT_FAILS_WITH(pw_paths_socket(longp, buf, sizeof buf, &e), &e, "too long");
}
END_TEST

START_TEST(make_parent_creates_nested_directories)
{
    char path[512];
    pw_err e;
    snprintf(path, sizeof path, "%s/a/b/c/pwccad.db", pw_test_tmpdir());
    PW_ASSERT_OK(pw_paths_make_parent(path, 0750, &e), &e);
    struct stat st;
    *strrchr(path, '/') = '\0';
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
}
END_TEST

Suite *paths_suite(void)
{
    Suite *s = suite_create("paths");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, database_resolution_order);
    tcase_add_test(tc, socket_resolution_order_and_length);
    tcase_add_test(tc, make_parent_creates_nested_directories);
    suite_add_tcase(s, tc);
    return s;
}
