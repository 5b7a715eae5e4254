/* test_beneath.c -- pw_open_beneath: files below the base open, symlinks
 * anywhere below it and paths outside it do not, with openat2 and with the
 * component walk old kernels get; and pw_ckpt_*_beneath never reads through
 * a symlink nor quotes a refused file's bytes. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pw_beneath.h"
#include "pw_checkpoint.h"
#include "pw_testfile.h"

/* root/run/a.npy, root/link -> outside dir, root/run/secret.npy -> outside file. */
static void make_tree(void)
{
    mkdir(tf_path("root"), 0755);
    mkdir(tf_path("root/run"), 0755);
    mkdir(tf_path("outside"), 0755);
    tf_write(tf_path("root/run/a.npy"), "inside", 6);
    tf_write(tf_path("outside/secret.npy"), "SECRET-BYTES", 12);
    unlink(tf_path("root/link"));
    unlink(tf_path("root/run/secret.npy"));
    ck_assert_int_eq(symlink(tf_path("outside"), tf_path("root/link")), 0);
    ck_assert_int_eq(symlink(tf_path("outside/secret.npy"), tf_path("root/run/secret.npy")), 0);
}

static int opens(const char *base, const char *path, int flags)
{
    int fd = pw_open_beneath(base, path, flags);
    if (fd >= 0)
        close(fd);
    return fd >= 0 ? 0 : errno;
}

static void check_rules(void)
{
    make_tree();
    char root[512];
    snprintf(root, sizeof root, "%s", tf_path("root"));
    ck_assert_int_eq(opens(root, tf_path("root/run/a.npy"), O_RDONLY), 0);
    ck_assert_int_eq(opens(root, "run/a.npy", O_RDONLY), 0);
    ck_assert_int_eq(opens(root, tf_path("root/run"), O_RDONLY | O_DIRECTORY), 0);
    ck_assert_int_eq(opens(root, root, O_RDONLY | O_DIRECTORY), 0);
    /* A symlink as the last component, in the middle, and with O_PATH. */
    ck_assert_int_eq(opens(root, tf_path("root/run/secret.npy"), O_RDONLY), ELOOP);
    ck_assert_int_eq(opens(root, tf_path("root/run/secret.npy"), O_PATH), ELOOP);
    ck_assert_int_eq(opens(root, tf_path("root/link/secret.npy"), O_RDONLY), ELOOP);
    int e = opens(root, tf_path("root/link"), O_RDONLY | O_DIRECTORY);
    ck_assert(e == ELOOP || e == ENOTDIR); /* O_DIRECTORY | O_NOFOLLOW on a link: either */
    /* Outside the base, by prefix or by "..". */
    ck_assert_int_eq(opens(root, tf_path("outside/secret.npy"), O_RDONLY), EXDEV);
    ck_assert_int_eq(opens(root, tf_path("rootx/a.npy"), O_RDONLY), EXDEV);
    ck_assert_int_eq(opens(root, "run/../../outside/secret.npy", O_RDONLY), EXDEV);
    /* No base: plain open, the symlink followed. */
    ck_assert_int_eq(opens(NULL, tf_path("root/run/secret.npy"), O_RDONLY), 0);
}

START_TEST(openat2_refuses_symlinks_and_escapes)
{
    pw_beneath_walk_only(0);
    check_rules();
}
END_TEST

START_TEST(component_walk_refuses_the_same)
{
    pw_beneath_walk_only(1);
    check_rules();
    pw_beneath_walk_only(0);
}
END_TEST

START_TEST(checkpoint_open_beneath_never_reads_through_a_symlink)
{
    make_tree();
    char root[512];
    snprintf(root, sizeof root, "%s", tf_path("root"));
    pw_ckpt *c = NULL;
    pw_err e;
    const char *link = tf_path("root/run/secret.npy");
    ck_assert_int_eq(pw_ckpt_open_beneath(&c, link, root, NULL, &e), -1);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(e.msg, "symbolic link") && !strstr(e.msg, "SECRET"), "%s", e.msg);
    ck_assert_int_eq(pw_ckpt_is_complete_beneath(link, root, &e), -1);
    ck_assert_msg(strstr(e.msg, "symbolic link") && !strstr(e.msg, "SECRET"), "%s", e.msg);
    /* A directory checkpoint whose member is a symlink. */
    mkdir(tf_path("root/run/step-1"), 0755);
    unlink(tf_path("root/run/step-1/l.npy"));
    ck_assert_int_eq(symlink(tf_path("outside/secret.npy"), tf_path("root/run/step-1/l.npy")), 0);
    ck_assert_int_eq(pw_ckpt_open_beneath(&c, tf_path("root/run/step-1"), root, NULL, &e), -1);
    ck_assert_msg(strstr(e.msg, "symbolic link"), "%s", e.msg);
    ck_assert_int_eq(pw_ckpt_is_complete_beneath(tf_path("root/run/step-1"), root, &e), -1);
    ck_assert_msg(strstr(e.msg, "symbolic link"), "%s", e.msg);
}
END_TEST

/* A file named like a checkpoint that holds something else: the message
 * describes it and never carries its bytes, whatever the extension claims. */
START_TEST(refused_files_are_described_not_quoted)
{
    static const char *const names[] = {"x.safetensors", "x.npy", "x.npz", "x.bin"};
    /* The first 8 bytes as a little-endian length, in decimal: "A_SECRET". */
    static const char secret[] = "A_SECRET-PASSWORD:root:$6$salt";
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *p = tf_path(names[i]);
        tf_write(p, secret, sizeof secret - 1);
        pw_ckpt *c = NULL;
        pw_err e;
        ck_assert_int_eq(pw_ckpt_open(&c, p, NULL, &e), -1);
        ck_assert_msg(!strstr(e.msg, "SECRET") && !strstr(e.msg, "6072350121458360129") &&
                          !strstr(e.msg, "root:"),
                      "%s", e.msg);
        pw_ckpt_is_complete(p, &e);
        ck_assert_msg(!strstr(e.msg, "SECRET") && !strstr(e.msg, "6072350121458360129"), "%s",
                      e.msg);
    }
    /* A plausible length but a header that is no JSON: jansson's "near '...'" is not shown. */
    tf_buf b = {0};
    tf_le(&b, 12, 8);
    tf_str(&b, "{SECRETBYTES");
    tf_write(tf_path("y.safetensors"), b.p, b.n);
    tf_free(&b);
    pw_ckpt *c = NULL;
    pw_err e;
    ck_assert_int_eq(pw_ckpt_open(&c, tf_path("y.safetensors"), NULL, &e), -1);
    ck_assert_msg(strstr(e.msg, "not valid JSON") && !strstr(e.msg, "SECRET"), "%s", e.msg);
}
END_TEST

Suite *beneath_suite(void)
{
    Suite *s = suite_create("beneath");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, openat2_refuses_symlinks_and_escapes);
    tcase_add_test(tc, component_walk_refuses_the_same);
    tcase_add_test(tc, checkpoint_open_beneath_never_reads_through_a_symlink);
    tcase_add_test(tc, refused_files_are_described_not_quoted);
    suite_add_tcase(s, tc);
    return s;
}
