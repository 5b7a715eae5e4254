/* test_paths.c -- daemon and client find the same database and socket, and
 * neither uses a fallback socket directory or trusts a daemon that another
 * local user could have put there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "pw_paths.h"
#include "pw_test.h"

static void clear_env(void)
{
    const char *vars[] = {"PWCCAD_DB",         "PWCCAD_SOCKET",  "STATE_DIRECTORY",
                          "RUNTIME_DIRECTORY", "XDG_STATE_HOME", "XDG_RUNTIME_DIR"};
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
    char want[64];
    snprintf(want, sizeof want, "/tmp/pwccad-%lu/pwccad.sock", (unsigned long)getuid());
    ck_assert_str_eq(buf, want); /* in a private directory, not a name anyone can bind first */
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

START_TEST(private_directory_is_created_0700_and_anything_else_refused)
{
    char dir[256], other[256], link[256];
    pw_err e;
    unsigned long me = (unsigned long)getuid();
    snprintf(dir, sizeof dir, "%s/priv", pw_test_tmpdir());
    /* a client does not create it; a missing one is left to connect() to report */
    PW_ASSERT_OK(pw_paths_check_private(dir, me, 0, &e), &e);
    ck_assert_int_ne(access(dir, F_OK), 0);
    mode_t old_mask = umask(0); /* the mode must not depend on the umask */
    PW_ASSERT_OK(pw_paths_check_private(dir, me, 1, &e), &e);
    struct stat st;
    ck_assert_int_eq(lstat(dir, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0700);
    umask(old_mask);
    PW_ASSERT_OK(pw_paths_check_private(dir, me, 1, &e), &e); /* again: it is ours */
    PW_ASSERT_FAILS_WITH(pw_paths_check_private(dir, me + 1, 0, &e), &e, "impersonating");
    ck_assert_int_eq(chmod(dir, 0755), 0);
    PW_ASSERT_FAILS_WITH(pw_paths_check_private(dir, me, 1, &e), &e, "mode 0755, not 0700");
    ck_assert_int_eq(chmod(dir, 0700), 0);
    snprintf(link, sizeof link, "%s/link", pw_test_tmpdir());
    ck_assert_int_eq(symlink(dir, link), 0);
    PW_ASSERT_FAILS_WITH(pw_paths_check_private(link, me, 1, &e), &e, "symbolic link");
    snprintf(other, sizeof other, "%s/file", pw_test_tmpdir());
    FILE *f = fopen(other, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    PW_ASSERT_FAILS_WITH(pw_paths_check_private(other, me, 1, &e), &e, "not a directory");
    if (me == 0) { /* a directory another user made first, mode and all */
        ck_assert_int_eq(chown(dir, 65534, 65534), 0);
        PW_ASSERT_FAILS_WITH(pw_paths_check_private(dir, me, 1, &e), &e, "belongs to uid 65534");
    } else {
        fprintf(stderr, "private_directory...: not root, a foreign owner is not tried\n");
    }
}
END_TEST

START_TEST(fallback_socket_directory_is_checked_other_paths_only_made)
{
    char dir[64], sock[128], path[256];
    pw_err e;
    PW_ASSERT_OK(pw_paths_private_dir(getuid(), dir, sizeof dir, &e), &e);
    snprintf(sock, sizeof sock, "%s/pwccad.sock", dir);
    /* The client never creates it (the daemon's creating it is checked by
     * tests/integration/test_sockowner.sh, as another uid: this test leaves
     * the real /tmp/pwccad-UID alone). */
    struct stat st;
    if (lstat(dir, &st) != 0) {
        PW_ASSERT_OK(pw_paths_socket_dir(sock, 0, &e), &e);
        ck_assert_int_ne(lstat(dir, &st), 0);
    }
    /* any other socket gets its parents made, as before */
    snprintf(path, sizeof path, "%s/x/y/d.sock", pw_test_tmpdir());
    PW_ASSERT_OK(pw_paths_socket_dir(path, 1, &e), &e);
    *strrchr(path, '/') = '\0';
    ck_assert_int_eq(stat(path, &st), 0);
}
END_TEST

/* A socket file bound at path (closed again: only the file matters). */
static void make_socket_file(const char *path)
{
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
    close(fd);
}

START_TEST(a_daemon_is_trusted_only_as_self_root_or_owner_of_a_closed_directory)
{
    char shared[256], svc[256], sock[300];
    pw_err e;
    PW_ASSERT_OK(pw_paths_trust_peer("/anywhere/s.sock", 1000, 1000, &e), &e);
    PW_ASSERT_OK(pw_paths_trust_peer("/anywhere/s.sock", 0, 1000, &e), &e);
    PW_ASSERT_FAILS_WITH(pw_paths_trust_peer("/nowhere/s.sock", 1001, 1000, &e), &e,
                         "runs as uid 1001, which is neither you (uid 1000)");
    if (getuid() != 0) {
        fprintf(stderr, "a_daemon_is_trusted...: not root, foreign owners are not tried\n");
        return;
    }
    /* a socket another user bound in a directory everyone may write (/tmp) */
    snprintf(shared, sizeof shared, "%s/shared", pw_test_tmpdir());
    ck_assert_int_eq(mkdir(shared, 0777), 0);
    ck_assert_int_eq(chmod(shared, 01777), 0);
    snprintf(sock, sizeof sock, "%s/s.sock", shared);
    make_socket_file(sock);
    ck_assert_int_eq(chown(sock, 54322, 54322), 0);
    PW_ASSERT_FAILS_WITH(pw_paths_trust_peer(sock, 54322, 54321, &e), &e, "impersonating");
    /* the system service: /run/pwccad, 0750, owned by the daemon's user */
    snprintf(svc, sizeof svc, "%s/svc", pw_test_tmpdir());
    ck_assert_int_eq(mkdir(svc, 0750), 0);
    snprintf(sock, sizeof sock, "%s/s.sock", svc);
    make_socket_file(sock);
    ck_assert_int_eq(chown(sock, 54322, 54322), 0);
    ck_assert_int_eq(chown(svc, 54322, 54322), 0);
    PW_ASSERT_OK(pw_paths_trust_peer(sock, 54322, 54321, &e), &e);
    /* ... but not when its group may write there too, nor when another uid answers */
    ck_assert_int_eq(chmod(svc, 0770), 0);
    PW_ASSERT_FAILS_WITH(pw_paths_trust_peer(sock, 54322, 54321, &e), &e, "impersonating");
    ck_assert_int_eq(chmod(svc, 0750), 0);
    PW_ASSERT_FAILS_WITH(pw_paths_trust_peer(sock, 54323, 54321, &e), &e, "impersonating");
}
END_TEST

Suite *paths_suite(void)
{
    Suite *s = suite_create("paths");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, database_resolution_order);
    tcase_add_test(tc, socket_resolution_order_and_length);
    tcase_add_test(tc, make_parent_creates_nested_directories);
    tcase_add_test(tc, private_directory_is_created_0700_and_anything_else_refused);
    tcase_add_test(tc, fallback_socket_directory_is_checked_other_paths_only_made);
    tcase_add_test(tc, a_daemon_is_trusted_only_as_self_root_or_owner_of_a_closed_directory);
    suite_add_tcase(s, tc);
    return s;
}
